//! Instances in three processes form one group (issue 14): this process registers first and
//! holds the core (the master and the drums, in-process lanes); two helper processes register
//! the bass and the keys, which stream through shared-memory rings. Group A is clean and must
//! null; in group B the bass of a helper process is polarity-inverted and must be named. Then
//! the keys' process is killed: its instances must show as gone, and the run must go on. The
//! helper that survives reads the group's snapshot from the shared board.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Helper, InstanceSpec, LEAD_IN, Pusher, instance, wait_for};
use stemcheck_analysis::FindingKind;
use stemcheck_live::{Role, latest_snapshot};

/// The clean group's null must be at least this deep (the signals are bit-identical sums, so
/// anything short of the analysis's floor means an instance was misaligned or missing).
const NULL_DB: f32 = -80.0;
/// How long after its process is killed an instance must show as gone: a dead process is seen
/// at the intake's next registry scan (100 ms), a hung one after the 500 ms leader timeout.
const GONE_LIMIT: Duration = Duration::from_secs(2);
/// Audio the run must keep taking in after the kill, in frames (one second).
const AFTER_KILL_FRAMES: u64 = 48_000;

const CLEAN: usize = 0;
const DEFECT: usize = 1;

#[test]
fn helper() {
    common::helper_main();
}

#[test]
fn three_processes_form_one_group_a_defect_is_named_and_a_killed_process_is_gone() {
    let tag = common::isolate("three");
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: before the first registration starts any thread of ours.
    unsafe { std::env::set_var("STEMCHECK_REPORT_DIR", dir.path()) };
    let t0_ns = stemcheck_shm::monotonic_ns() + LEAD_IN.as_nanos() as u64;

    // This process first: it holds the core.
    let mine = Pusher::register(
        &[
            InstanceSpec::new("Mix", CLEAN, Role::Master, 1.0),
            InstanceSpec::new("Drums", CLEAN, Role::Stem, 1.0),
            InstanceSpec::new("Mix", DEFECT, Role::Master, 1.0),
            InstanceSpec::new("Drums", DEFECT, Role::Stem, 1.0),
        ],
        t0_ns,
    );
    assert!(stemcheck_live::federation::is_leader());
    assert!(
        mine.instances
            .iter()
            .all(|(_, _, r)| !r.producer.is_shared_memory())
    );
    let bass = Helper::spawn(
        "helper",
        &[
            InstanceSpec::new("Bass", CLEAN, Role::Stem, 1.0),
            InstanceSpec::new("Bass", DEFECT, Role::Stem, -1.0),
        ],
        t0_ns,
    );
    let keys = Helper::spawn(
        "helper",
        &[
            InstanceSpec::new("Keys", CLEAN, Role::Stem, 1.0),
            InstanceSpec::new("Keys", DEFECT, Role::Stem, 1.0),
        ],
        t0_ns,
    );
    assert!(!bass.leader_at_start && !keys.leader_at_start);
    let stop = Arc::new(AtomicBool::new(false));
    let pushing = common::push_in_background(mine, stop.clone());

    // One group across three processes: every instance, each where it runs.
    let clean = wait_for("four instances in the clean group", || {
        latest_snapshot(CLEAN).filter(|s| s.instances.len() == 4 && s.run_frames > 48_000)
    });
    let me = std::process::id();
    for (name, pid, shared_memory) in [
        ("Mix", me, false),
        ("Drums", me, false),
        ("Bass", bass.pid, true),
        ("Keys", keys.pid, true),
    ] {
        let i = instance(&clean, name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(
            (i.location.pid, i.location.shared_memory),
            (pid, shared_memory),
            "{name}"
        );
    }

    // The clean group nulls over the whole span the three processes share.
    let clean = wait_for("the clean group to null over three seconds", || {
        latest_snapshot(CLEAN).filter(|s| {
            s.complete_frames >= 3 * 48_000 && s.null_residual_db.is_some_and(|db| db < NULL_DB)
        })
    });
    eprintln!(
        "clean: null {:?} dB over {} complete frames, {} dropped",
        clean.null_residual_db, clean.complete_frames, clean.dropped_frames
    );
    assert!(
        clean
            .findings
            .iter()
            .all(|f| f.stems.is_empty() || f.kind != FindingKind::StemPolarity),
        "{:?}",
        clean.findings
    );

    // The inverted bass of another process is named.
    let defect = wait_for("the inverted bass to be named", || {
        latest_snapshot(DEFECT).filter(|s| {
            s.findings
                .iter()
                .any(|f| f.kind == FindingKind::StemPolarity && f.stems == ["Bass"])
        })
    });
    let finding = defect
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::StemPolarity)
        .unwrap();
    eprintln!("defect: {}", finding.message);
    assert!(
        !defect
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::StemPolarity && f.stems != ["Bass"]),
        "{:?}",
        defect.findings
    );

    // Kill the keys' process: gone within the limit, named with its process; the run goes on.
    let keys_pid = keys.pid;
    let killed_at = Instant::now();
    keys.kill();
    let gone = wait_for("the keys to show as gone", || {
        latest_snapshot(CLEAN).filter(|s| s.gone.iter().any(|g| g.pid == keys_pid))
    });
    let gone_after = killed_at.elapsed();
    eprintln!("keys gone after {gone_after:?}: {:?}", gone.warnings);
    assert!(gone_after < GONE_LIMIT, "{gone_after:?}");
    let note = gone.gone.iter().find(|g| g.pid == keys_pid).unwrap();
    assert_eq!((note.name.as_str(), note.role), ("Keys", Role::Stem));
    assert!(
        gone.warnings
            .iter()
            .any(|w| w.contains("Keys") && w.contains("gone"))
    );
    let frames_at_kill = gone.total_frames;
    let after = wait_for("the run to go on without the keys", || {
        latest_snapshot(CLEAN).filter(|s| {
            s.total_frames >= frames_at_kill + AFTER_KILL_FRAMES && instance(s, "Keys").is_none()
        })
    });
    assert!(instance(&after, "Bass").is_some());
    assert!(
        latest_snapshot(DEFECT)
            .unwrap()
            .gone
            .iter()
            .any(|g| g.pid == keys_pid)
    );

    // The surviving helper read the group from the shared board (it does not hold the core).
    let lines = bass.stop();
    eprintln!("bass helper: {lines:?}");
    let line = lines
        .iter()
        .find(|l| l.starts_with("SNAPSHOT group=A"))
        .expect("a snapshot line for group A");
    assert!(
        line.contains("instances=3")
            && line.contains("leader=false")
            && line.contains("own_rows=1"),
        "{line}"
    );
    stop.store(true, Ordering::Relaxed);
    drop(pushing.join().unwrap());
    common::clean_namespace(&tag);
}
