//! The process-wide core end to end, without a plugin framework: instances register, push
//! blocks, change group; the snapshot and the run report must account for every one of them.
//! One test function, because the core is a process-wide singleton.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stemcheck_bus::{BlockInfo, PositionSource};
use stemcheck_live::GroupSnapshot;
use stemcheck_live::{InstanceShared, Role, latest_snapshot, register};
use stemcheck_report::{Report, Source};

/// How long any one wait for the core may take before the test fails. Generous: the waits are on
/// the condition asserted, so a loaded machine only makes them slower, never wrong.
const WAIT_LIMIT: Duration = Duration::from_secs(60);
/// How far the test's pushes may run ahead of what the core has taken in, in frames: a quarter
/// of a lane's second at 48 kHz, so that no lane fills and drops however slowly the core runs.
const MAX_AHEAD_FRAMES: u64 = 12_000;

/// Waits (up to [`WAIT_LIMIT`]) until `f` returns something.
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

#[test]
fn the_core_sees_every_instance_and_reports_each_run() {
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: set before the core thread starts, and no other thread of this test binary reads
    // the environment.
    unsafe { std::env::set_var("STEMCHECK_REPORT_DIR", dir.path()) };

    let names = ["Mix", "Drums", "Bass", "Keys"];
    let mut instances = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let shared = Arc::new(InstanceShared::default());
        shared.set_role(if i == 0 { Role::Master } else { Role::Stem });
        shared.set_group(2);
        shared.set_track_name(name);
        let registration = register(shared.clone(), 48_000.0).unwrap();
        instances.push((shared, registration));
    }

    // Four seconds of audio in 480-frame blocks; stems are 0.1 each, the master their sum.
    let block = 480;
    let mut pos = 0i64;
    while pos < 4 * 48_000 {
        for (i, (_, registration)) in instances.iter_mut().enumerate() {
            let value = if i == 0 { 0.3f32 } else { 0.1 };
            let samples = vec![value; block];
            let info = BlockInfo {
                pos_samples: pos,
                source: PositionSource::HostTransport,
                playing: true,
                sample_rate_hz: 48_000.0,
            };
            registration
                .producer
                .push_block(&info, &[&samples, &samples]);
        }
        pos += block as i64;
        // As fast as the core takes the audio in, never so far ahead that a lane fills: the
        // test asserts that no frame was dropped, whatever the machine's load.
        wait_for("the core to take in the audio", || {
            let taken = latest_snapshot(2).map_or(0, |s| s.run_frames);
            (taken + MAX_AHEAD_FRAMES >= pos as u64).then_some(())
        });
    }
    for (_, registration) in instances.iter_mut() {
        let info = BlockInfo {
            pos_samples: pos,
            source: PositionSource::HostTransport,
            playing: false,
            sample_rate_hz: 48_000.0,
        };
        registration.producer.push_block(&info, &[&[0.0f32; 64]]);
    }

    let report_path = wait_for("a run report", || {
        std::fs::read_dir(dir.path())
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "json"))
    });
    let full: Report = serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    let Source::Live {
        start_samples,
        end_samples,
        ..
    } = full.source.clone()
    else {
        panic!("a live report");
    };
    assert_eq!(start_samples, 0);
    assert_eq!(end_samples, 4 * 48_000);
    // The core publishes the Markdown before the JSON: once the JSON is there, so is its twin.
    assert!(
        report_path.with_extension("md").exists(),
        "Markdown next to the JSON"
    );
    struct Unpacked {
        group: GroupSnapshot,
    }
    let report = Unpacked {
        group: serde_json::from_value(full.live_group.clone().unwrap()).unwrap(),
    };
    assert_eq!(report.group.group, "C");
    assert_eq!(report.group.run_frames, 4 * 48_000);
    assert_eq!(
        report.group.complete_frames,
        4 * 48_000,
        "every frame had all four"
    );
    let listed: Vec<&str> = report
        .group
        .instances
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(
        listed,
        ["Mix", "Bass", "Drums", "Keys"],
        "master first, then stems by name"
    );
    for instance in &report.group.instances {
        assert_eq!(instance.present_frames, 4 * 48_000, "{}", instance.name);
        assert_eq!(instance.dropped_frames, 0);
    }
    let master = &report.group.instances[0];
    assert!((master.peak_dbfs - 20.0 * 0.3f32.log10()).abs() < 0.01);
    assert!(
        report.group.warnings.is_empty(),
        "{:?}",
        report.group.warnings
    );
    // 0.3 - 3 x 0.1 is not exactly 0 in f32, but far below any audible residual.
    assert!(report.group.null_residual_db.unwrap() < -120.0);

    // Moving an instance to another group shows up in both snapshots.
    instances[3].0.set_group(5);
    let moved = wait_for("the move", || {
        let f = latest_snapshot(5)?;
        (f.instances.len() == 1).then_some(f)
    });
    assert_eq!(moved.instances[0].name, "Keys");
    assert!(moved.warnings.iter().any(|w| w.contains("No master")));
    wait_for("the old group to shrink", || {
        (latest_snapshot(2)?.instances.len() == 3).then_some(())
    });

    // "Save report" from an editor: the core writes the group's report as it stands.
    stemcheck_live::report::request_report(2);
    let saved = wait_for("a saved report", || {
        std::fs::read_dir(dir.path())
            .ok()?
            .filter_map(|e| e.ok())
            .find(|e| {
                e.file_name().to_string_lossy().contains("-saved")
                    && e.file_name().to_string_lossy().ends_with(".json")
            })
            .map(|e| e.path())
    });
    assert!(
        saved.with_extension("md").exists(),
        "Markdown next to the saved JSON"
    );
    wait_for("the report's path in the snapshot", || {
        latest_snapshot(2)?
            .last_report
            .as_ref()
            .filter(|p| p.contains("-saved"))
            .map(|_| ())
    });

    // Unregistering everything stops the core; registering again starts a fresh one.
    drop(instances);

    // An unwritable report folder: the report is logged as failed, nothing crashes, the core
    // keeps working.
    let not_a_folder = dir.path().join("file");
    std::fs::write(&not_a_folder, b"x").unwrap();
    // SAFETY: no core thread runs now (every instance unregistered above).
    unsafe { std::env::set_var("STEMCHECK_REPORT_DIR", &not_a_folder) };
    let shared = Arc::new(InstanceShared::default());
    shared.set_group(6);
    let mut again = register(shared, 44_100.0).unwrap();
    let info = BlockInfo {
        pos_samples: 0,
        source: PositionSource::HostTransport,
        playing: true,
        sample_rate_hz: 44_100.0,
    };
    again.producer.push_block(&info, &[&[0.1f32; 512]]);
    let seen = wait_for("the instance in its group", || {
        let snapshot = latest_snapshot(6)?;
        (snapshot.instances.len() == 1).then_some(snapshot.generation)
    });
    // The request is taken by the core's next step that starts after it: the one publishing
    // `seen + 2` at the latest (the step publishing `seen + 1` may have begun before it).
    stemcheck_live::report::request_report(6);
    let after = wait_for("the core to keep publishing after the failed save", || {
        let snapshot = latest_snapshot(6)?;
        (snapshot.generation >= seen + 2).then_some(snapshot)
    });
    assert_eq!(after.instances.len(), 1);
    assert!(after.last_report.is_none());
}
