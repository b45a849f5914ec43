//! The test host itself.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use clack_extensions::audio_ports_config::PluginAudioPortsConfig;
use clack_extensions::latency::PluginLatency;
use clack_extensions::params::{ParamInfoBuffer, ParamInfoFlags, PluginParams};
use clack_extensions::state::PluginState;
use clack_extensions::track_info::{HostTrackInfo, HostTrackInfoImpl, TrackInfo, TrackInfoWriter};
use clack_host::events::Pckn;
use clack_host::events::event_types::{ParamValueEvent, TransportEvent, TransportFlags};
use clack_host::prelude::*;
use clack_host::utils::{BeatTime, SecondsTime};
use stemcheck_live::GroupSnapshot;
use stemcheck_report::{Report, Source};

/// Environment variable with the plugin library to load (set by `cargo xtask test`).
pub const PLUGIN_ENV: &str = "STEMCHECK_TEST_PLUGIN";
const PLUGIN_ID: &str = "com.stemcheck.stemcheck";

/// The plugin library under test.
pub fn plugin_path() -> PathBuf {
    built_by_xtask(PLUGIN_ENV, "plugin")
}

/// The path `cargo xtask test` put in environment variable `var` for the `what` it built.
pub(crate) fn built_by_xtask(var: &str, what: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(path) => PathBuf::from(path),
        None => panic!(
            "{var} is not set: run the suite with `cargo xtask test`, which builds the {what} \
             with allocation checks and points the host tests at it"
        ),
    }
}

fn entry() -> &'static PluginEntry {
    static ENTRY: OnceLock<PluginEntry> = OnceLock::new();
    ENTRY.get_or_init(|| {
        let path = plugin_path();
        // SAFETY: loading a shared library runs its initialisers; this is the library we built.
        unsafe { PluginEntry::load(&path) }
            .unwrap_or_else(|e| panic!("could not load {}: {e:?}", path.display()))
    })
}

/// The folder the plugin writes its reports to during the tests (one per test process).
pub fn report_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("stemcheck-host-tests-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // SAFETY: runs once, before any instance exists, so no plugin thread reads the
        // environment concurrently; the test threads do not read it.
        unsafe { std::env::set_var("STEMCHECK_REPORT_DIR", &dir) };
        dir
    })
}

/// One run report as the tests read it: the shared report, with the live details unpacked.
#[derive(Debug, Clone)]
pub struct LiveReport {
    pub run: RunInfo,
    pub group: GroupSnapshot,
    pub report: Report,
}

/// The run a live report is about.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub number: u64,
    pub start_samples: i64,
    pub end_samples: i64,
    pub ended_by: String,
}

/// Parses a report file the plugin wrote.
pub fn parse_live_report(bytes: &[u8]) -> LiveReport {
    let report: Report = serde_json::from_slice(bytes).expect("a valid report");
    let Source::Live {
        run,
        start_samples,
        end_samples,
        ended_by,
        ..
    } = report.source.clone()
    else {
        panic!("not a live report");
    };
    let group: GroupSnapshot =
        serde_json::from_value(report.live_group.clone().expect("live details")).unwrap();
    LiveReport {
        run: RunInfo {
            number: run,
            start_samples,
            end_samples,
            ended_by: ended_by.name().to_string(),
        },
        group,
        report,
    }
}

/// The run reports written so far for group `label` ("A" ...), oldest first.
pub fn reports_for_group(label: &str) -> Vec<LiveReport> {
    let prefix = format!("stemcheck-{label}-");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(report_dir())
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.retain(|p| {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        name.starts_with(&prefix) && name.ends_with(".json")
    });
    let mut reports: Vec<LiveReport> = paths
        .iter()
        .map(|p| parse_live_report(&std::fs::read(p).unwrap()))
        .collect();
    reports.sort_by_key(|r| r.run.number);
    reports
}

pub struct TestHost;

pub struct TestHostShared {
    state: OnceLock<Option<PluginState>>,
    ports_config: OnceLock<Option<PluginAudioPortsConfig>>,
    params: OnceLock<Option<PluginParams>>,
    latency: OnceLock<Option<PluginLatency>>,
}

pub struct TestHostMainThread {
    track_name: CString,
}

impl HostHandlers for TestHost {
    type Shared<'a> = TestHostShared;
    type MainThread<'a> = TestHostMainThread;
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder.register::<HostTrackInfo>();
    }
}

impl<'a> SharedHandler<'a> for TestHostShared {
    fn initializing(&self, instance: InitializingPluginHandle<'a>) {
        let _ = self.state.set(instance.get_extension());
        let _ = self.ports_config.set(instance.get_extension());
        let _ = self.params.set(instance.get_extension());
        let _ = self.latency.set(instance.get_extension());
    }
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {}
}

impl<'a> MainThreadHandler<'a> for TestHostMainThread {}

impl HostTrackInfoImpl for TestHostMainThread {
    fn get<'a>(&'a self, writer: &mut TrackInfoWriter<'_, 'a>) {
        if !self.track_name.is_empty() {
            writer.set(&TrackInfo::new().with_name(Some(self.track_name.as_bytes())));
        }
    }
}

/// One parameter, as the host sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamDescription {
    pub id: u32,
    pub name: String,
    pub min: f64,
    pub max: f64,
    pub default: f64,
    pub stepped: bool,
}

/// The plugin's descriptor in the library's factory: id, name, vendor, version, features.
pub fn descriptor() -> (String, String, String, String, Vec<String>) {
    let factory = entry()
        .get_plugin_factory()
        .expect("the library has a plugin factory");
    let descriptor = factory
        .plugin_descriptors()
        .find(|d| {
            d.id()
                .is_some_and(|id| id.to_bytes() == PLUGIN_ID.as_bytes())
        })
        .expect("the factory lists Stemcheck");
    let text = |s: Option<&std::ffi::CStr>| {
        s.map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    (
        text(descriptor.id()),
        text(descriptor.name()),
        text(descriptor.vendor()),
        text(descriptor.version()),
        descriptor
            .features()
            .map(|f| f.to_string_lossy().into_owned())
            .collect(),
    )
}

/// Transport facts for one process call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transport {
    /// Rolling at this song position, in samples.
    Playing(i64),
    /// Stopped at this position.
    Stopped(i64),
    /// The host sends no transport at all.
    None,
}

/// One plugin instance, with its audio buffers.
pub struct Instance {
    pub plugin: PluginInstance<TestHost>,
    processor: Option<StoppedPluginAudioProcessor<TestHost>>,
    pub num_channels: usize,
    pub sample_rate_hz: f64,
    inputs: Vec<Vec<f32>>,
    outputs: Vec<Vec<f32>>,
    input_ports: AudioPorts,
    output_ports: AudioPorts,
}

impl Instance {
    /// Creates an instance on a track named `track_name` ("" for a host without track names).
    pub fn new(track_name: &str, num_channels: usize) -> Self {
        let host_info = HostInfo::new(
            "Stemcheck test host",
            "Stemcheck",
            "https://stemcheck.invalid",
            "1.0",
        )
        .unwrap();
        let name = CString::new(track_name).unwrap();
        let plugin = PluginInstance::<TestHost>::new(
            |_| TestHostShared {
                state: OnceLock::new(),
                ports_config: OnceLock::new(),
                params: OnceLock::new(),
                latency: OnceLock::new(),
            },
            move |_| TestHostMainThread { track_name: name },
            entry(),
            &CString::new(PLUGIN_ID).unwrap(),
            &host_info,
        )
        .expect("the plugin instantiates");
        let mut plugin = plugin;
        // Stemcheck's layouts: 0 is stereo, 1 is mono. Pick the one matching the track.
        let ports = plugin
            .access_shared_handler(|h| *h.ports_config.get().unwrap())
            .expect("the plugin offers audio port configurations");
        let layout = if num_channels == 1 { 1 } else { 0 };
        ports
            .select(&plugin.plugin_handle(), ClapId::new(layout))
            .expect("the plugin accepts the layout");
        Self {
            plugin,
            processor: None,
            num_channels,
            sample_rate_hz: 0.0,
            inputs: Vec::new(),
            outputs: Vec::new(),
            input_ports: AudioPorts::with_capacity(num_channels, 1),
            output_ports: AudioPorts::with_capacity(num_channels, 1),
        }
    }

    /// Activates at `sample_rate_hz` for blocks of up to `max_frames`.
    pub fn activate(&mut self, sample_rate_hz: f64, max_frames: usize) {
        self.deactivate();
        let config = PluginAudioConfiguration {
            sample_rate: sample_rate_hz,
            min_frames_count: 1,
            max_frames_count: max_frames as u32,
        };
        self.processor = Some(self.plugin.activate(|_, _| (), config).expect("activates"));
        self.sample_rate_hz = sample_rate_hz;
        self.inputs = vec![vec![0.0; max_frames]; self.num_channels];
        self.outputs = vec![vec![0.0; max_frames]; self.num_channels];
    }

    pub fn deactivate(&mut self) {
        if let Some(processor) = self.processor.take() {
            self.plugin.deactivate(processor);
        }
    }

    /// The plugin's saved state.
    pub fn save_state(&mut self) -> Vec<u8> {
        let ext = self.state_ext();
        let mut bytes = Vec::new();
        ext.save(&self.plugin.plugin_handle(), &mut bytes)
            .expect("state saves");
        bytes
    }

    /// Loads a state into the plugin.
    pub fn load_state(&mut self, bytes: &[u8]) -> bool {
        let ext = self.state_ext();
        ext.load(
            &self.plugin.plugin_handle(),
            &mut std::io::Cursor::new(bytes),
        )
        .is_ok()
    }

    /// Sets group ("a" to "h"), role ("auto", "stem", "master") and typed name through the
    /// plugin's own state: saved, edited, loaded back.
    pub fn configure(&mut self, group: &str, role: &str, name: &str) {
        let state = self.save_state();
        // nice-plug's CLAP state: an 8-byte little-endian length, then JSON.
        let mut json: serde_json::Value = serde_json::from_slice(&state[8..]).unwrap();
        json["params"]["group"] = serde_json::json!({ "string": group });
        json["params"]["role"] = serde_json::json!({ "string": role });
        json["fields"]["stem-name"] =
            serde_json::Value::String(serde_json::to_string(name).unwrap());
        let body = serde_json::to_vec(&json).unwrap();
        let mut bytes = (body.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(&body);
        assert!(
            self.load_state(&bytes),
            "the plugin accepts its own edited state"
        );
    }

    /// The plugin's parameters, as its params extension describes them.
    pub fn params(&mut self) -> Vec<ParamDescription> {
        let ext = self.params_ext();
        let handle = self.plugin.plugin_handle();
        let mut buffer = ParamInfoBuffer::new();
        (0..ext.count(&handle))
            .filter_map(|index| {
                let info = ext.get_info(&handle, index, &mut buffer)?;
                Some(ParamDescription {
                    id: info.id.get(),
                    name: String::from_utf8_lossy(info.name).into_owned(),
                    min: info.min_value,
                    max: info.max_value,
                    default: info.default_value,
                    stepped: info.flags.contains(ParamInfoFlags::IS_STEPPED),
                })
            })
            .collect()
    }

    /// The current value of parameter `id`.
    pub fn param_value(&mut self, id: u32) -> Option<f64> {
        let ext = self.params_ext();
        ext.get_value(&self.plugin.plugin_handle(), ClapId::new(id))
    }

    /// The plugin's text for `value` of parameter `id`.
    pub fn param_to_text(&mut self, id: u32, value: f64) -> Option<String> {
        let ext = self.params_ext();
        let mut buffer = [0u8; 256];
        let text = ext
            .value_to_text(
                &self.plugin.plugin_handle(),
                ClapId::new(id),
                value,
                &mut buffer,
            )
            .ok()?;
        Some(String::from_utf8_lossy(text).into_owned())
    }

    /// The value the plugin reads from `text` for parameter `id`.
    pub fn param_from_text(&mut self, id: u32, text: &str) -> Option<f64> {
        let ext = self.params_ext();
        let text = CString::new(text).ok()?;
        ext.text_to_value(&self.plugin.plugin_handle(), ClapId::new(id), &text)
    }

    /// The latency the plugin reports, in samples (`None` without the latency extension).
    pub fn latency_samples(&mut self) -> Option<u32> {
        let ext = self
            .plugin
            .access_shared_handler(|h| *h.latency.get().unwrap())?;
        Some(ext.get(&self.plugin.plugin_handle()))
    }

    fn params_ext(&self) -> PluginParams {
        self.plugin
            .access_shared_handler(|h| *h.params.get().unwrap())
            .expect("the plugin has the params extension")
    }

    fn state_ext(&self) -> PluginState {
        self.plugin
            .access_shared_handler(|h| *h.state.get().unwrap())
            .expect("the plugin has the state extension")
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.deactivate();
    }
}

/// The audio thread's view of one instance.
pub struct AudioSide<'a> {
    processor: StartedPluginAudioProcessor<TestHost>,
    instance_inputs: &'a mut Vec<Vec<f32>>,
    instance_outputs: &'a mut Vec<Vec<f32>>,
    input_ports: &'a mut AudioPorts,
    output_ports: &'a mut AudioPorts,
    sample_rate_hz: f64,
    events: EventBuffer,
    out_events: EventBuffer,
}

impl AudioSide<'_> {
    /// Channels of the instance's layout.
    pub fn num_channels(&self) -> usize {
        self.instance_inputs.len()
    }

    /// Processes one block: `input` holds one slice per channel. Returns the output channels.
    pub fn process(&mut self, input: &[&[f32]], transport: Transport) -> Vec<Vec<f32>> {
        self.process_with_params(input, transport, &[])
    }

    /// [`Self::process`] with parameter changes `(frame, param id, plain value)` in the block.
    pub fn process_with_params(
        &mut self,
        input: &[&[f32]],
        transport: Transport,
        params: &[(u32, u32, f64)],
    ) -> Vec<Vec<f32>> {
        self.process_block(input, transport, params, Placement::OutOfPlace)
    }

    /// Processes one block with the given parameter changes, the plugin writing its output into
    /// separate buffers or into the input's own (`placement`), as hosts do either way.
    pub fn process_block(
        &mut self,
        input: &[&[f32]],
        transport: Transport,
        params: &[(u32, u32, f64)],
        placement: Placement,
    ) -> Vec<Vec<f32>> {
        let frames = input[0].len();
        for (buffer, data) in self.instance_inputs.iter_mut().zip(input) {
            buffer[..frames].copy_from_slice(data);
        }
        let transport_event = match transport {
            Transport::Playing(pos) | Transport::Stopped(pos) => Some(transport_event(
                pos,
                self.sample_rate_hz,
                matches!(transport, Transport::Playing(_)),
            )),
            Transport::None => None,
        };
        self.events.clear();
        self.out_events.clear();
        for &(frame, id, value) in params {
            self.events.push(&ParamValueEvent::new(
                frame,
                ClapId::new(id),
                Pckn::match_all(),
                value,
            ));
        }
        let input_audio = self.input_ports.with_input_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_input_only(
                self.instance_inputs
                    .iter_mut()
                    .map(|b| InputChannel::variable(&mut b[..frames])),
            ),
        }]);
        match placement {
            Placement::OutOfPlace => {
                let mut output_audio = self.output_ports.with_output_buffers([AudioPortBuffer {
                    latency: 0,
                    channels: AudioPortBufferType::f32_output_only(
                        self.instance_outputs.iter_mut().map(|b| &mut b[..frames]),
                    ),
                }]);
                self.processor
                    .process(
                        &input_audio,
                        &mut output_audio,
                        &InputEvents::from_buffer(&self.events),
                        &mut OutputEvents::from_buffer(&mut self.out_events),
                        None,
                        transport_event.as_ref(),
                    )
                    .expect("process succeeds");
                self.instance_outputs
                    .iter()
                    .map(|b| b[..frames].to_vec())
                    .collect()
            }
            Placement::InPlace => {
                // The output port points at the input's own channels, as a host processing in
                // place passes them: the same channel pointers in both port descriptions.
                let mut raw_outputs = input_audio.as_raw_buffers().to_vec();
                // SAFETY: `raw_outputs` describes the channels `input_audio` borrows mutably
                // (`InputChannel::variable` over `instance_inputs`), each `frames` long, and both
                // live until `process` returns; the plugin may write through them, which is what
                // in-place processing means.
                let mut output_audio = unsafe {
                    OutputAudioBuffers::from_raw_buffers(&mut raw_outputs, frames as u32)
                };
                self.processor
                    .process(
                        &input_audio,
                        &mut output_audio,
                        &InputEvents::from_buffer(&self.events),
                        &mut OutputEvents::from_buffer(&mut self.out_events),
                        None,
                        transport_event.as_ref(),
                    )
                    .expect("process succeeds");
                // The port descriptions are not used past here: the channels are ours again.
                self.instance_inputs
                    .iter()
                    .map(|b| b[..frames].to_vec())
                    .collect()
            }
        }
    }
}

/// Where the plugin writes its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Into output buffers of their own (the host keeps its input).
    OutOfPlace,
    /// Into the input buffers themselves (the same channel pointers for input and output).
    InPlace,
}

/// Runs `f` on a separate audio thread with every instance's processor started, then stops
/// them again. Instances must be activated.
pub fn run_audio<R: Send>(
    instances: &mut [&mut Instance],
    f: impl FnOnce(&mut [AudioSide<'_>]) -> R + Send,
) -> R {
    let mut sides: Vec<AudioSide<'_>> = Vec::new();
    let mut stopped = Vec::new();
    for instance in instances.iter_mut() {
        stopped.push(instance.processor.take().expect("activated"));
    }
    let result;
    {
        let mut pending = stopped.into_iter();
        for instance in instances.iter_mut() {
            let processor = pending.next().unwrap();
            let Instance {
                inputs,
                outputs,
                input_ports,
                output_ports,
                sample_rate_hz,
                ..
            } = &mut **instance;
            sides.push(AudioSide {
                processor: processor.start_processing().expect("starts processing"),
                instance_inputs: inputs,
                instance_outputs: outputs,
                input_ports,
                output_ports,
                sample_rate_hz: *sample_rate_hz,
                events: EventBuffer::with_capacity(16),
                out_events: EventBuffer::with_capacity(16),
            });
        }
        let (r, sides) = std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    let mut sides = sides;
                    let r = f(&mut sides);
                    (r, sides)
                })
                .join()
                .expect("the audio thread did not panic")
        });
        result = r;
        let returned: Vec<_> = sides
            .into_iter()
            .map(|s| s.processor.stop_processing())
            .collect();
        for (instance, processor) in instances.iter_mut().zip(returned) {
            instance.processor = Some(processor);
        }
    }
    result
}

/// Bytes the allocator has handed out and not had back, over all its arenas and mmapped
/// chunks: what a leak grows, and what the allocator's own caching (arenas kept per thread,
/// freed pages not yet returned) does not. `None` where glibc is not the allocator.
pub fn heap_in_use_bytes() -> Option<u64> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallinfo2` takes no arguments and only reads glibc's own arena statistics
        // (under each arena's lock); it is safe to call from any thread at any time.
        let info = unsafe { libc::mallinfo2() };
        Some((info.uordblks + info.hblkhd) as u64)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

/// This process's resident memory, in bytes (Linux; `None` elsewhere).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// What Stemcheck's output must be for an input sample: the sample itself, bit for bit, except a
/// subnormal one, which becomes the zero of its sign (flush to zero). NaN and infinity pass
/// unchanged. Written from the definition, independently of the plugin's own flush.
pub fn expected_output(input: f32) -> f32 {
    if input.is_subnormal() {
        0.0f32.copysign(input)
    } else {
        input
    }
}

/// Whether `output` is `input` as Stemcheck passes it through ([`expected_output`]), bit for bit,
/// on every channel.
pub fn passes_through(output: &[Vec<f32>], input: &[&[f32]]) -> bool {
    output.len() == input.len()
        && output.iter().zip(input).all(|(o, i)| {
            o.len() == i.len()
                && o.iter()
                    .zip(*i)
                    .all(|(a, b)| a.to_bits() == expected_output(*b).to_bits())
        })
}

/// The CLAP transport of a host at sample `pos` (at `sample_rate_hz`), 120 BPM in 4/4, playing
/// or stopped: nice-plug derives the plugin's `pos_samples` from `song_pos_seconds`.
pub fn transport_event(pos: i64, sample_rate_hz: f64, playing: bool) -> TransportEvent {
    let seconds = pos as f64 / sample_rate_hz;
    let mut flags = TransportFlags::HAS_SECONDS_TIMELINE
        | TransportFlags::HAS_TEMPO
        | TransportFlags::HAS_BEATS_TIMELINE;
    if playing {
        flags |= TransportFlags::IS_PLAYING;
    }
    TransportEvent {
        header: EventHeader::new_core(0, clack_host::events::EventFlags::empty()),
        flags,
        song_pos_beats: BeatTime::from_float(seconds * 2.0),
        song_pos_seconds: SecondsTime::from_float(seconds),
        tempo: 120.0,
        tempo_inc: 0.0,
        loop_start_beats: BeatTime::from_float(0.0),
        loop_end_beats: BeatTime::from_float(0.0),
        loop_start_seconds: SecondsTime::from_float(0.0),
        loop_end_seconds: SecondsTime::from_float(0.0),
        bar_start: BeatTime::from_float(0.0),
        bar_number: 0,
        time_signature_numerator: 4,
        time_signature_denominator: 4,
    }
}
