-- Stemcheck's Ardour test source: replaces a track's input with one of six generated, seeded
-- instruments (Drums, Bass, Harmony, Lead, FX, Vox), so that a headless session has distinct,
-- realistic stems without importing audio. Installed into Ardour's user script folder by the
-- end-to-end test (tests/tests/ardour.rs); not part of the product.
ardour {
	["type"]    = "dsp",
	name        = "Stemcheck Test Source",
	category    = "Utility",
	license     = "GPL-3.0-or-later",
	author      = "Stemcheck",
	description = [[Generated test instruments for Stemcheck's end-to-end test.]]
}

function dsp_ioconfig ()
	return { { audio_in = 2, audio_out = 2 } }
end

function dsp_params ()
	return {
		{ ["type"] = "input", name = "Voice", min = 0, max = 5, default = 0, integer = true },
	}
end

local rate = 48000
local n = 0          -- samples since the start
local seed = 1       -- linear congruential generator state
local state = {}     -- per-voice filter and oscillator state

local function noise ()
	seed = (seed * 1103515245 + 12345) % 2147483648
	return seed / 1073741824 - 1
end

function dsp_init (r)
	rate = r
	n = 0
	state = { lp = 0, lp2 = 0, ph = { 0, 0, 0, 0, 0, 0, 0, 0 }, last = 0 }
end

local two_pi = 2 * math.pi
local bass_notes = { 55.0, 65.41, 73.42, 49.0, 55.0, 82.41, 73.42, 61.74 }
local chords = { { 220.0, 277.18, 329.63 }, { 196.0, 246.94, 293.66 }, { 174.61, 220.0, 261.63 }, { 196.0, 246.94, 311.13 } }
local scale = { 440.0, 493.88, 554.37, 587.33, 659.26, 739.99, 830.61, 880.0 }

-- One stereo sample of voice `v` at time `t` seconds.
local function voice (v, t)
	local s = state
	if v == 0 then
		-- Drums: a kick on every beat (120 bpm), a snare on 2 and 4, hats on eighths.
		local beat = t % 0.5
		local kick = math.sin(two_pi * (50 * beat + 70 * (1 - math.exp(-beat * 30)) / 30)) * math.exp(-beat * 12)
		local bar = t % 2.0
		local sn = (bar >= 0.5 and bar < 1.0) and (bar - 0.5) or ((bar >= 1.5) and (bar - 1.5) or 1)
		local snare = noise() * math.exp(-sn * 25)
		local eighth = t % 0.25
		local hn = noise()
		local hat = (hn - s.last) * 0.5 * math.exp(-eighth * 60)
		s.last = hn
		return 0.35 * kick + 0.12 * snare + 0.1 * hat, 0.35 * kick + 0.1 * snare + 0.12 * hat
	elseif v == 1 then
		-- Bass: a four-harmonic note every half second.
		local f = bass_notes[math.floor(t * 2) % 8 + 1]
		local env = math.exp(-(t % 0.5) * 3)
		local x = 0
		for h = 1, 4 do x = x + math.sin(two_pi * f * h * t) / h end
		return 0.2 * env * x, 0.2 * env * x
	elseif v == 2 then
		-- Harmony: three-note chords, slightly detuned between the channels.
		local c = chords[math.floor(t / 2) % 4 + 1]
		local l, r = 0, 0
		for i = 1, 3 do
			l = l + math.sin(two_pi * c[i] * t)
			r = r + math.sin(two_pi * c[i] * 1.003 * t)
		end
		return 0.06 * l, 0.06 * r
	elseif v == 3 then
		-- Lead: a seeded melody of quarter-second notes with vibrato and a second harmonic.
		local step = math.floor(t * 4)
		local f = scale[(step * 5 + math.floor(step / 3)) % 8 + 1]
		s.ph[1] = s.ph[1] + two_pi * f * (1 + 0.004 * math.sin(two_pi * 5.5 * t)) / rate
		local env = math.min(1, (t % 0.25) * 40) * math.exp(-(t % 0.25) * 4)
		local x = env * (math.sin(s.ph[1]) + 0.3 * math.sin(2 * s.ph[1]))
		return 0.12 * x, 0.09 * x
	elseif v == 4 then
		-- FX: low-passed noise swelling over four seconds, different in each channel.
		s.lp = s.lp + 0.05 * (noise() - s.lp)
		s.lp2 = s.lp2 + 0.05 * (noise() - s.lp2)
		local swell = 0.5 - 0.5 * math.cos(two_pi * t / 4)
		return 0.5 * swell * s.lp, 0.5 * swell * s.lp2
	else
		-- Vox: a 180 Hz voice with two formants, in syllables of a quarter second.
		local f0 = 180 * (1 + 0.05 * math.sin(two_pi * 0.7 * t))
		s.ph[2] = s.ph[2] + two_pi * f0 / rate
		local x = 0
		for h = 1, 12 do
			local fh = f0 * h
			local w = math.exp(-((fh - 700) / 250) ^ 2) + 0.5 * math.exp(-((fh - 1200) / 300) ^ 2)
			x = x + w * math.sin(h * s.ph[2])
		end
		local syl = math.sin(math.pi * ((t * 4) % 1)) ^ 2
		return 0.1 * syl * x, 0.1 * syl * x
	end
end

function dsp_run (ins, outs, n_samples)
	local v = math.floor(CtrlPorts:array()[1] + 0.5)
	if n == 0 then seed = 12345 + 7919 * v end
	local l = outs[1]:array()
	local r = outs[2]:array()
	for i = 1, n_samples do
		local a, b = voice(v, n / rate)
		-- At -6 dB the six together stay well under -1 dBTP on the master, whichever stretch
		-- of the song (and whichever polarity of the bass) the test plays.
		l[i] = 0.5 * a
		r[i] = 0.5 * b
		n = n + 1
	end
end
