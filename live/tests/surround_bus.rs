//! Instances on a bus wider than the lanes carry (issue 13: a 5.1 stem bus): the live core
//! compares channels 1-2 only, and must say so. A session whose L/R null but whose centre
//! channel differs is never reported as "nulls"; the dashboard warns and a finding names the
//! wide instances. One test function, because the core is a process-wide singleton.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stemcheck_analysis::{FindingKind, Verdict};
use stemcheck_bus::{BlockInfo, PositionSource};
use stemcheck_live::{GroupSnapshot, InstanceShared, Role, latest_snapshot, register};

/// How long any one wait for the core may take before the test fails (the waits are on the
/// condition asserted, so a loaded machine only makes them slower).
const WAIT_LIMIT: Duration = Duration::from_secs(60);
/// How far pushes may run ahead of what the core took in, in frames (a quarter of a lane).
const MAX_AHEAD_FRAMES: u64 = 12_000;
/// Channels of the 5.1 bus: L R C LFE Ls Rs.
const SURROUND_CHANNELS: usize = 6;

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Seeded white noise in [-0.25, 0.25).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.5
    }
}

#[test]
fn a_surround_bus_is_compared_on_l_and_r_only_and_never_said_to_null() {
    let group = 3;
    let names = ["Mix", "Dialogue", "Music"];
    let mut instances = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let shared = Arc::new(InstanceShared::default());
        shared.set_role(if i == 0 { Role::Master } else { Role::Stem });
        shared.set_group(group);
        shared.set_track_name(name);
        // The master and the music stem sit on 5.1 buses; the dialogue on a stereo one.
        shared.set_bus_channels(if i == 1 { 2 } else { SURROUND_CHANNELS as u32 });
        let registration = register(shared.clone(), 48_000.0).unwrap();
        instances.push((shared, registration));
    }

    // Six seconds in 480-frame blocks. L/R: the master is the stems' sum, so they null. The
    // music stem's centre channel is inverted against the master's: not compared live.
    let block = 480;
    let mut noise = [Noise(1), Noise(2)];
    let mut pos = 0i64;
    while pos < 6 * 48_000 {
        let dialogue: Vec<f32> = (0..block).map(|_| noise[0].next()).collect();
        let music: Vec<f32> = (0..block).map(|_| noise[1].next()).collect();
        let mix: Vec<f32> = dialogue.iter().zip(&music).map(|(a, b)| a + b).collect();
        let inverted: Vec<f32> = music.iter().map(|x| -x).collect();
        let info = BlockInfo {
            pos_samples: pos,
            source: PositionSource::HostTransport,
            playing: true,
            sample_rate_hz: 48_000.0,
        };
        let silent = vec![0.0f32; block];
        let mut mix_bus = vec![mix.clone(), mix.clone(), music.clone()];
        mix_bus.resize(SURROUND_CHANNELS, silent.clone());
        let mut music_bus = vec![music.clone(), music.clone(), inverted];
        music_bus.resize(SURROUND_CHANNELS, silent.clone());
        let mut dialogue_bus = vec![dialogue.clone(), dialogue];
        for (i, (_, registration)) in instances.iter_mut().enumerate() {
            let channels = match i {
                0 => &mut mix_bus,
                1 => &mut dialogue_bus,
                _ => &mut music_bus,
            };
            registration.push_block_flushing(&info, channels.as_mut_slice());
        }
        pos += block as i64;
        wait_for("the core to take in the audio", || {
            let taken = latest_snapshot(group).map_or(0, |s| s.run_frames);
            (taken + MAX_AHEAD_FRAMES >= pos as u64).then_some(())
        });
    }

    let snapshot: Arc<GroupSnapshot> = wait_for("a verdict", || {
        latest_snapshot(group)
            .filter(|s| s.verdict != Verdict::Pending && s.run_frames >= 6 * 48_000)
    });
    // L and R do null...
    assert!(
        snapshot.null_residual_db.unwrap() < -100.0,
        "{:?}",
        snapshot.null_residual_db
    );
    // ...but the verdict does not speak for the other channels.
    assert_eq!(
        snapshot.verdict,
        Verdict::Warnings,
        "{:?}",
        snapshot.findings
    );
    let finding = snapshot
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::IncompleteAnalysis)
        .expect("an incomplete-analysis finding");
    let mut named = finding.stems.clone();
    named.sort();
    assert_eq!(named, ["Mix", "Music"], "{}", finding.message);
    assert_eq!(finding.value, SURROUND_CHANNELS as f64);
    assert!(
        finding.message.contains("Music (6 channels)"),
        "{}",
        finding.message
    );
    assert!(
        snapshot
            .warnings
            .iter()
            .any(|w| w.contains("pass through unchecked") && w.contains("Mix (6 channels)")),
        "{:?}",
        snapshot.warnings
    );
    let bus_channels: Vec<(String, u32)> = snapshot
        .instances
        .iter()
        .map(|i| (i.name.clone(), i.bus_channels))
        .collect();
    assert_eq!(
        bus_channels,
        [
            ("Mix".to_string(), 6),
            ("Dialogue".to_string(), 2),
            ("Music".to_string(), 6)
        ]
    );
}
