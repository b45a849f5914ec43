//! Re-activation storms while the core is busy: instances register again and again during one
//! run (as hosts do at every render and on setting changes) while every instance streams
//! unthrottled audio in offline mode. The run must keep one lane per instance: the master is
//! never a ghost (no `no-master`), the analysis never restarts (it covers the whole run), no
//! frame is lost, and the defect is named on the right stem. One test function: the core is a
//! process-wide singleton.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stemcheck_analysis::FindingKind;
use stemcheck_bus::{BlockInfo, PositionSource, PushOutcome};
use stemcheck_live::{InstanceShared, Registration, Role, register};
use stemcheck_report::Report;

const RATE_HZ: f32 = 48_000.0;
const BLOCK_FRAMES: usize = 512;
/// Six seconds of audio.
const NUM_BLOCKS: usize = 6 * 48_000 / BLOCK_FRAMES;
/// An instance registers again every this many blocks (about a quarter of a second of audio).
const REREGISTER_EVERY_BLOCKS: usize = 24;
/// A stem at -14 dBFS RMS, roughly.
const STEM_AMPLITUDE: f32 = 0.2;

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Seeded white noise (xorshift), one stream per stem.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * STEM_AMPLITUDE
    }
}

fn register_offline(shared: &Arc<InstanceShared>) -> Registration {
    let mut registration = register(shared.clone(), RATE_HZ).expect("registered");
    registration.set_offline(true);
    registration
}

#[test]
fn reactivation_storms_never_make_a_ghost_master_or_restart_the_analysis() {
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: set before the core thread starts; no other thread of this test binary reads the
    // environment.
    unsafe { std::env::set_var("STEMCHECK_REPORT_DIR", dir.path()) };

    // The master is the sum of the stems with Bass inverted: the defect to find.
    let names = ["Mix", "Drums", "Bass", "Keys"];
    let shared: Vec<Arc<InstanceShared>> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let s = Arc::new(InstanceShared::default());
            s.set_role(if i == 0 { Role::Master } else { Role::Stem });
            s.set_group(4);
            s.set_track_name(name);
            s
        })
        .collect();
    let mut registrations: Vec<Option<Registration>> =
        shared.iter().map(|s| Some(register_offline(s))).collect();
    let lane_ids: Vec<u32> = registrations
        .iter()
        .map(|r| r.as_ref().unwrap().lane_id)
        .collect();

    let mut noise = [Noise(1), Noise(2), Noise(3)];
    let mut stems = vec![vec![0.0f32; BLOCK_FRAMES]; 3];
    let mut master = vec![0.0f32; BLOCK_FRAMES];
    let mut reregistrations = 0;
    let mut just_registered = None;
    for b in 0..NUM_BLOCKS {
        if b > 0 && b % REREGISTER_EVERY_BLOCKS == 0 {
            let k = (b / REREGISTER_EVERY_BLOCKS) % names.len();
            let old = registrations[k].take().unwrap();
            // Let the core take in what the old producer sent (a host re-activates between
            // its blocks, after the last one was delivered): a lane replaced with audio still
            // unread loses that audio, which would be a gap, not a ghost.
            wait_for("the old lane drained", || {
                (old.producer.pending_pieces() == 0).then_some(())
            });
            // The new registration first, then the old one goes (as the plugin does).
            registrations[k] = Some(register_offline(&shared[k]));
            drop(old);
            reregistrations += 1;
            just_registered = Some(k);
            assert_eq!(
                registrations[k].as_ref().unwrap().lane_id,
                lane_ids[k],
                "an instance keeps its lane id"
            );
        }
        master.fill(0.0);
        for (s, stem) in stems.iter_mut().enumerate() {
            for (m, x) in master.iter_mut().zip(stem.iter_mut()) {
                *x = noise[s].next();
                *m += if s == 1 { -*x } else { *x };
            }
        }
        let info = BlockInfo {
            pos_samples: (b * BLOCK_FRAMES) as i64,
            source: PositionSource::HostTransport,
            playing: true,
            sample_rate_hz: RATE_HZ,
        };
        for (k, registration) in registrations.iter_mut().enumerate() {
            let audio = if k == 0 { &master } else { &stems[k - 1] };
            let outcome = registration
                .as_mut()
                .unwrap()
                .push_block(&info, &[audio, audio]);
            assert_eq!(outcome, PushOutcome::Pushed, "offline: nothing dropped");
        }
        // A host processes a re-activated instance's first block along with its peers' and
        // then goes on; the core must have taken the new lane in before the peers are a whole
        // alignment window (0.68 s) ahead, or the lane counts as missing there. Waiting for its
        // first block to be read stands for a host that is not that far ahead.
        if let Some(k) = just_registered.take() {
            let registration = registrations[k].as_ref().unwrap();
            wait_for("the new lane taken in", || {
                (registration.producer.pending_pieces() == 0).then_some(())
            });
        }
    }
    assert!(reregistrations >= 20, "{reregistrations}");
    let stop = BlockInfo {
        pos_samples: (NUM_BLOCKS * BLOCK_FRAMES) as i64,
        source: PositionSource::HostTransport,
        playing: false,
        sample_rate_hz: RATE_HZ,
    };
    for registration in registrations.iter_mut().flatten() {
        registration.push_block(&stop, &[&[0.0f32; 64]]);
    }

    let reports = wait_for("the run's report", || {
        let paths: Vec<_> = std::fs::read_dir(dir.path())
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        (!paths.is_empty()).then_some(paths)
    });
    // Give a second report (a restart would not make one, but a split run would) a chance.
    std::thread::sleep(Duration::from_millis(400));
    let count = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))
        })
        .count();
    assert_eq!(count, 1, "one report for one run: {reports:?}");
    let report: Report = serde_json::from_slice(&std::fs::read(&reports[0]).unwrap()).unwrap();

    let kinds: Vec<FindingKind> = report.findings.iter().map(|f| f.kind).collect();
    for absent in [
        FindingKind::NoMaster,
        FindingKind::NoStems,
        FindingKind::IncompleteAnalysis,
    ] {
        assert!(!kinds.contains(&absent), "{absent}: {:#?}", report.findings);
    }
    let polarity = report
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::StemPolarity)
        .unwrap_or_else(|| panic!("the inverted stem is found: {:#?}", report.findings));
    assert_eq!(polarity.stems, vec!["Bass".to_string()]);

    // One entry per instance, no ghost.
    let mut seen: Vec<&str> = report.instances.iter().map(|i| i.name.as_str()).collect();
    seen.sort();
    assert_eq!(seen, ["Bass", "Drums", "Keys", "Mix"]);
    let coverage = report.coverage.expect("a live report says its coverage");
    assert_eq!(coverage.dropped_frames, 0);
    assert!(
        coverage.analysed_percent > 99.9,
        "the whole run compared: {coverage:?}"
    );
    // Never restarted: the analysis behind the findings saw the whole run (less the first
    // frame's length of start-up).
    let measurements = report.measurements.expect("measurements");
    assert!(
        measurements.seconds_analysed > coverage.run_seconds - 0.5,
        "analysed {} s of {} s: the analysis restarted",
        measurements.seconds_analysed,
        coverage.run_seconds
    );
}
