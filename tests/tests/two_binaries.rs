//! Two copies of the CLAP build loaded from two paths in one process (issue 14): each copy has
//! its own statics, as the CLAP and the VST3 build have in a host that loads both, so each has
//! its own core and federation agent. The stems run in the first copy, which holds the shared
//! core; the master runs in the second, which streams to it through a shared-memory ring. They
//! must form one group that nulls, with the master shown in shared memory in this process, and
//! a bass 6 dB hot must be named. Play starts right after activation (no wait for the master
//! to show in the group): every frame must be compared, the master's first block included,
//! with no `incomplete-analysis`. The library is the one `cargo xtask test` builds (allocation
//! checks on in `process()`, so the push into the ring is checked too).
//!
//! A minimal CLAP host of its own (clack-host): the suite's `host` module loads one copy only.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use clack_extensions::track_info::{HostTrackInfo, HostTrackInfoImpl, TrackInfo, TrackInfoWriter};
use clack_host::prelude::*;
use stemcheck_analysis::FindingKind;
use stemcheck_host_tests::host::{parse_live_report, plugin_path, transport_event};
use stemcheck_host_tests::signals::noise;

const PLUGIN_ID: &str = "com.stemcheck.stemcheck";
const RATE_HZ: f64 = 48_000.0;
const BLOCK_FRAMES: usize = 512;
/// Seconds of audio played; the run ends when the transport stops after it.
const PLAY_SECONDS: usize = 6;
/// Longest wait for the run reports.
const WAIT_LIMIT: Duration = Duration::from_secs(60);
/// Time between the stems' activation and the master's, as a host loading a session plugin by
/// plugin takes: longer than the core's periodic registry scan (100 ms), so that the master's
/// ring appears after the core has looked once and must be found when it is announced.
const SESSION_LOAD_GAP: Duration = Duration::from_millis(250);

struct Host;
struct HostShared;
struct HostMainThread {
    track_name: CString,
}

impl HostHandlers for Host {
    type Shared<'a> = HostShared;
    type MainThread<'a> = HostMainThread;
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder.register::<HostTrackInfo>();
    }
}

impl SharedHandler<'_> for HostShared {
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {}
}

impl MainThreadHandler<'_> for HostMainThread {}

impl HostTrackInfoImpl for HostMainThread {
    fn get<'a>(&'a self, writer: &mut TrackInfoWriter<'_, 'a>) {
        writer.set(&TrackInfo::new().with_name(Some(self.track_name.as_bytes())));
    }
}

/// One instance, started, with its buffers.
struct Instance {
    plugin: PluginInstance<Host>,
    processor: StartedPluginAudioProcessor<Host>,
    inputs: Vec<Vec<f32>>,
    outputs: Vec<Vec<f32>>,
    input_ports: AudioPorts,
    output_ports: AudioPorts,
    events: EventBuffer,
    out_events: EventBuffer,
}

impl Instance {
    /// Creates, activates and starts an instance of `entry` on a track named `track`.
    fn new(entry: &PluginEntry, track: &str) -> Self {
        let host_info =
            HostInfo::new("two binaries", "Stemcheck", "https://x.invalid", "1.0").unwrap();
        let name = CString::new(track).unwrap();
        let mut plugin = PluginInstance::<Host>::new(
            |_| HostShared,
            move |_| HostMainThread { track_name: name },
            entry,
            &CString::new(PLUGIN_ID).unwrap(),
            &host_info,
        )
        .expect("the plugin instantiates");
        let config = PluginAudioConfiguration {
            sample_rate: RATE_HZ,
            min_frames_count: 1,
            max_frames_count: BLOCK_FRAMES as u32,
        };
        let processor = plugin
            .activate(|_, _| (), config)
            .expect("activates")
            .start_processing()
            .expect("starts processing");
        Self {
            plugin,
            processor,
            inputs: vec![vec![0.0; BLOCK_FRAMES]; 2],
            outputs: vec![vec![0.0; BLOCK_FRAMES]; 2],
            input_ports: AudioPorts::with_capacity(2, 1),
            output_ports: AudioPorts::with_capacity(2, 1),
            events: EventBuffer::with_capacity(4),
            out_events: EventBuffer::with_capacity(4),
        }
    }

    /// Stops processing and deactivates (the registration goes with the instance).
    fn finish(self) {
        let Self {
            mut plugin,
            processor,
            ..
        } = self;
        plugin.deactivate(processor.stop_processing());
    }

    /// Processes one block of `input` at song position `pos` (rolling or not).
    fn process(&mut self, input: [&[f32]; 2], pos: i64, playing: bool) {
        for (buffer, data) in self.inputs.iter_mut().zip(input) {
            buffer.copy_from_slice(data);
        }
        let transport = transport_event(pos, RATE_HZ, playing);
        let input_audio = self.input_ports.with_input_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_input_only(
                self.inputs
                    .iter_mut()
                    .map(|b| InputChannel::variable(&mut b[..])),
            ),
        }]);
        let mut output_audio = self.output_ports.with_output_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_output_only(
                self.outputs.iter_mut().map(|b| &mut b[..]),
            ),
        }]);
        self.processor
            .process(
                &input_audio,
                &mut output_audio,
                &InputEvents::from_buffer(&self.events),
                &mut OutputEvents::from_buffer(&mut self.out_events),
                None,
                Some(&transport),
            )
            .expect("process succeeds");
    }
}

/// The plugin library copied to `dir/<name>`: a second path is a second copy of its statics.
fn copy_of(library: &Path, dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::copy(library, &path).unwrap();
    path
}

fn report_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("stemcheck-two-binaries-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

#[test]
fn stems_in_one_copy_and_the_master_in_another_form_one_group() {
    let tag = format!("twobin{}", std::process::id());
    // SAFETY: before any plugin is loaded, so no plugin thread reads the environment yet; the
    // test's own threads do not read it.
    unsafe {
        std::env::set_var("STEMCHECK_SHM_TAG", &tag);
        std::env::set_var("STEMCHECK_REPORT_DIR", report_dir());
    }
    let dir = std::env::temp_dir().join(format!("stemcheck-two-copies-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let library = plugin_path();
    let first_path = copy_of(&library, &dir, "first.clap");
    let second_path = copy_of(&library, &dir, "second.clap");
    // SAFETY: loading a shared library runs its initialisers; these are copies of the library
    // we built.
    let first = unsafe { PluginEntry::load(&first_path) }.expect("first copy loads");
    // SAFETY: as above.
    let second = unsafe { PluginEntry::load(&second_path) }.expect("second copy loads");

    // Stems first: the first copy then holds the core. Bass 6 dB hot in group A.
    let mut drums = Instance::new(&first, "Drums");
    let mut bass = Instance::new(&first, "Bass");
    std::thread::sleep(SESSION_LOAD_GAP);
    let mut master = Instance::new(&second, "Master");
    // Play at once, as a host rendering the session it just loaded.

    let seeds = [(11u64, 12u64), (21, 22)];
    let started = Instant::now();
    let num_blocks = PLAY_SECONDS * RATE_HZ as usize / BLOCK_FRAMES;
    let mut signal = vec![[vec![0.0f32; BLOCK_FRAMES], vec![0.0f32; BLOCK_FRAMES]]; 2];
    let mut sum = [vec![0.0f32; BLOCK_FRAMES], vec![0.0f32; BLOCK_FRAMES]];
    let mut hot = [vec![0.0f32; BLOCK_FRAMES], vec![0.0f32; BLOCK_FRAMES]];
    for b in 0..=num_blocks {
        let pos = (b * BLOCK_FRAMES) as i64;
        let playing = b < num_blocks;
        for (stem, (left, right)) in signal.iter_mut().zip(seeds) {
            stem[0] = noise(left ^ b as u64, BLOCK_FRAMES, 0.1);
            stem[1] = noise(right ^ b as u64, BLOCK_FRAMES, 0.1);
        }
        for c in 0..2 {
            for i in 0..BLOCK_FRAMES {
                sum[c][i] = signal[0][c][i] + signal[1][c][i];
                hot[c][i] = 2.0 * signal[1][c][i];
            }
        }
        drums.process([&signal[0][0], &signal[0][1]], pos, playing);
        bass.process([&hot[0], &hot[1]], pos, playing);
        master.process([&sum[0], &sum[1]], pos, playing);
        // Real time, so that the lanes and the ring never fill.
        let due = started + Duration::from_secs_f64((b + 1) as f64 * BLOCK_FRAMES as f64 / RATE_HZ);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }

    // The first copy's core writes the run's report when the transport stops.
    let deadline = Instant::now() + WAIT_LIMIT;
    let report = loop {
        let found = std::fs::read_dir(report_dir())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                name.starts_with("stemcheck-A-") && name.ends_with(".json")
            });
        if let Some(path) = found {
            break parse_live_report(&std::fs::read(path).unwrap());
        }
        assert!(Instant::now() < deadline, "no report for group A");
        std::thread::sleep(Duration::from_millis(50));
    };
    let group = &report.group;
    eprintln!(
        "instances: {:?}",
        group
            .instances
            .iter()
            .map(|i| (&i.name, i.location))
            .collect::<Vec<_>>()
    );
    eprintln!(
        "findings: {:?}",
        group
            .findings
            .iter()
            .map(|f| &f.message)
            .collect::<Vec<_>>()
    );
    assert_eq!(group.instances.len(), 3, "one group across two binaries");
    let me = std::process::id();
    let mix = group.instances.iter().find(|i| i.name == "Master").unwrap();
    assert!(mix.location.shared_memory && mix.location.pid == me);
    assert!(
        group
            .instances
            .iter()
            .filter(|i| i.name != "Master")
            .all(|i| !i.location.shared_memory && i.location.pid == me)
    );
    assert!(
        group
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::StemGain && f.stems == ["Bass"]),
        "{:?}",
        group.findings
    );
    // Every frame played compared, the master's first block included.
    let played_frames = (num_blocks * BLOCK_FRAMES) as u64;
    eprintln!(
        "{} of {played_frames} frames compared; master: {} late, {} dropped",
        group.complete_frames, mix.late_frames, mix.dropped_frames
    );
    assert_eq!(group.complete_frames, played_frames);
    assert!(
        group
            .findings
            .iter()
            .all(|f| f.kind != FindingKind::IncompleteAnalysis),
        "{:?}",
        group.findings
    );
    master.finish();
    bass.finish();
    drums.finish();
    let _ = std::fs::remove_dir_all(&dir);
    for entry in std::fs::read_dir("/dev/shm").unwrap().flatten() {
        if entry.file_name().to_string_lossy().contains(&tag) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
