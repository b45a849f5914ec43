-- Stemcheck's Ardour end-to-end session, run headless by `ardour7-lua` from
-- tests/tests/ardour.rs. It creates a session on the dummy audio backend with six stem tracks
-- and the master, puts Stemcheck (VST3) on each (roles and names come from the host's track
-- names), feeds the tracks generated instruments, injects one defect and plays. Settings come
-- from the environment:
--   STEMCHECK_E2E_SESSION   folder for the new session (must not exist)
--   STEMCHECK_E2E_SECONDS   how long to play
--   STEMCHECK_E2E_INVERT    the track whose output is polarity-inverted after Stemcheck
--   STEMCHECK_E2E_REVERB    tracks (comma-separated) sent to a reverb bus (Ardour's ACE Reverb,
--                           fully wet) whose return goes straight to the master, in no stem
-- Lines starting with "e2e:" tell the test what happened.

local function fail (what)
	print("e2e: error: " .. what)
	os.exit(3)
end

local folder = os.getenv("STEMCHECK_E2E_SESSION") or fail("STEMCHECK_E2E_SESSION not set")
local seconds = tonumber(os.getenv("STEMCHECK_E2E_SECONDS") or "8")
local invert = os.getenv("STEMCHECK_E2E_INVERT") or ""
local reverb_sends = {}
for name in string.gmatch(os.getenv("STEMCHECK_E2E_REVERB") or "", "[^,]+") do
	reverb_sends[name] = true
end

local backend = AudioEngine:set_backend("None (Dummy)", "", "")
if not backend then fail("no dummy backend") end
backend:set_device_name("Silence")
AudioEngine:set_sample_rate(48000)
AudioEngine:start(false)

local s = create_session(folder, "stemcheck-e2e", 48000)
if not s then fail("could not create the session") end

local function new_stemcheck ()
	local p = ARDOUR.LuaAPI.new_plugin(s, "Stemcheck", ARDOUR.PluginType.VST3, "")
	if p:isnil() then fail("Stemcheck VST3 not found (scan failed or blacklisted)") end
	return p
end

-- The reverb return: a bus with Ardour's own reverb, fed by sends, routed to the master.
local reverb = nil
if next(reverb_sends) then
	reverb = s:new_audio_route(2, 2, nil, 1, "Reverb Return", ARDOUR.PresentationInfo.Flag.AudioBus,
		ARDOUR.PresentationInfo.max_order):front()
	local verb = ARDOUR.LuaAPI.new_plugin(s, "ACE Reverb", ARDOUR.PluginType.LV2, "")
	if verb:isnil() then fail("ACE Reverb not found") end
	ARDOUR.LuaAPI.set_processor_param(verb, 0, 1.0) -- blend: fully wet
	reverb:add_processor_by_index(verb, 0, nil, true)
end

local names = { "Drums", "Bass", "Harmony", "Lead", "FX", "Vox" }
for i, name in ipairs(names) do
	local tracks = s:new_audio_track(2, 2, nil, 1, name, ARDOUR.PresentationInfo.max_order,
		ARDOUR.TrackMode.Normal, true)
	local t = tracks:front()
	local source = ARDOUR.LuaAPI.new_luaproc(s, "Stemcheck Test Source")
	if source:isnil() then fail("test source script not found") end
	ARDOUR.LuaAPI.set_processor_param(source, 0, i - 1)
	t:add_processor_by_index(source, 0, nil, true)
	t:add_processor_by_index(new_stemcheck(), 1, nil, true)
	if name == invert then
		local inv = ARDOUR.LuaAPI.new_luaproc(s, "Stemcheck Test Invert")
		if inv:isnil() then fail("invert script not found") end
		t:add_processor_by_index(inv, 2, nil, true)
		print("e2e: inverted " .. name)
	end
	if reverb_sends[name] then
		-- A post-fader send at -6 dB (new sends start silent).
		t:add_aux_send(reverb, t:main_outs())
		t:nth_send(0):to_send():gain_control():set_value(0.5, PBD.GroupControlDisposition.NoGroup)
		print("e2e: sent " .. name .. " to the reverb")
	end
	local chain = {}
	local k = 0
	while not t:nth_processor(k):isnil() do
		chain[#chain + 1] = t:nth_processor(k):display_name()
		k = k + 1
	end
	print("e2e: track " .. name .. ": " .. table.concat(chain, " > "))
end
s:master_out():add_processor_by_index(new_stemcheck(), 0, nil, true)

s:request_roll(ARDOUR.TransportRequestSource.TRS_UI)
-- Play until the transport has covered `seconds` of audio (48 kHz, set above), not for that
-- long by the wall clock: on a loaded machine the dummy backend runs slower than real time.
-- Bounded at four times the wall-clock time.
local target = math.floor(seconds * 48000)
local waited_us = 0
while s:transport_sample() < target and waited_us < seconds * 4000000 do
	ARDOUR.LuaAPI.usleep(50000)
	waited_us = waited_us + 50000
end
print("e2e: played " .. s:transport_sample() .. " samples")
s:request_stop(false, false, ARDOUR.TransportRequestSource.TRS_UI)
-- Let the stop reach the plugins and Stemcheck's core write its report.
ARDOUR.LuaAPI.usleep(1500000)
print("e2e: stopped")
close_session()
print("e2e: closed")
