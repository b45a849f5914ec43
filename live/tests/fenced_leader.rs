//! A leader stopped in the middle of reading a ring is fenced off it (issue 14): a helper
//! process registers first and holds the core (the master and the drums on in-process lanes);
//! this process registers the bass and the keys, which stream to it through rings. The helper's
//! core is made to hold its first pop that copied a record, before the ring's tail is
//! published (`STEMCHECK_TEST_HOLD_MID_POP`), and the helper is stopped there (SIGSTOP): this
//! process takes the core over and claims its rings with a newer term, reading on from where
//! the helper's tail really is (the record the helper holds included). When the helper resumes,
//! its held pop must end fenced off: no record returned to its core, the tail not moved; then
//! its lanes move to this core as after any takeover, and the group of four nulls.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{Helper, InstanceSpec, LEAD_IN, field, instance, signal, wait_for};
use stemcheck_live::federation::HOLD_MID_POP_ENV;
use stemcheck_live::{Role, latest_snapshot};
use stemcheck_shm::{Namespace, Registry};

/// The group's null must be at least this deep (bit-identical sums).
const NULL_DB: f32 = -80.0;
/// Frames of each of this process's instances its own core must have read before the helper
/// resumes (a quarter of a second): it has claimed both rings by then.
const ALONE_FRAMES: u64 = 12_000;
/// Audio of the reunited group that must null, in frames (one second).
const REUNITED_FRAMES: u64 = 48_000;

const GROUP: usize = 2;

#[test]
fn helper() {
    common::helper_main();
}

#[test]
fn a_leader_stopped_mid_pop_is_fenced_off_the_rings_the_new_leader_claimed() {
    let tag = common::isolate("fence");
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: before the first registration starts any thread of ours.
    unsafe { std::env::set_var("STEMCHECK_REPORT_DIR", dir.path()) };
    let marker = dir.path().join("holding");
    let t0_ns = stemcheck_shm::monotonic_ns() + LEAD_IN.as_nanos() as u64;

    let helper = Helper::spawn_with_env(
        "helper",
        &[
            InstanceSpec::new("Mix", GROUP, Role::Master, 1.0),
            InstanceSpec::new("Drums", GROUP, Role::Stem, 1.0),
        ],
        t0_ns,
        &[(HOLD_MID_POP_ENV, marker.to_str().unwrap())],
    );
    assert!(helper.leader_at_start, "the helper leads");
    let (stop, pushing) = common::push_shared_in_background(
        &[
            InstanceSpec::new("Bass", GROUP, Role::Stem, 1.0),
            InstanceSpec::new("Keys", GROUP, Role::Stem, 1.0),
        ],
        t0_ns,
    );

    // The helper's core holds a pop of one of our rings: stop it there.
    wait_for("the helper's core to hold a pop", || {
        marker.exists().then_some(())
    });
    let registry = Registry::open_or_create(&Namespace::with_tag(&tag).unwrap()).unwrap();
    let me = std::process::id();
    let stopped_at = Instant::now();
    signal(helper.pid, "STOP");
    let leader = loop {
        if let Some(leader) = registry.leader().filter(|l| l.pid != helper.pid) {
            break leader;
        }
        assert!(
            stopped_at.elapsed() < Duration::from_secs(10),
            "nobody took over"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    assert_eq!(leader.pid, me);
    // This core claimed and read both rings, from the helper's tail on.
    wait_for("this core to read both rings", || {
        latest_snapshot(GROUP).filter(|s| {
            ["Bass", "Keys"]
                .iter()
                .all(|n| instance(s, n).is_some_and(|i| i.present_frames >= ALONE_FRAMES))
        })
    });

    // The helper resumes in its held pop: fenced off. Then its lanes move here.
    let resumed_at = Instant::now();
    signal(helper.pid, "CONT");
    let after = wait_for("the reunited group to null", || {
        latest_snapshot(GROUP).filter(|s| {
            s.instances.len() == 4
                && ["Mix", "Drums"].iter().all(|n| {
                    instance(s, n).is_some_and(|i| {
                        i.location.pid == helper.pid
                            && i.location.shared_memory
                            && i.present_frames >= REUNITED_FRAMES
                    })
                })
                && s.null_residual_db.is_some_and(|db| db < NULL_DB)
        })
    });
    eprintln!(
        "the group of {} nulled at {:?} dB {:?} after the helper resumed",
        after.instances.len(),
        after.null_residual_db,
        resumed_at.elapsed()
    );
    assert_eq!(registry.leader().map(|l| l.pid), Some(me));

    let lines = helper.stop();
    eprintln!("helper: {lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let fenced_pops: u64 = field(&lines[0], "fenced_pops").unwrap().parse().unwrap();
    let stale_records: u64 = field(&lines[0], "stale_records").unwrap().parse().unwrap();
    assert!(fenced_pops >= 1, "the held pop was fenced off: {lines:?}");
    assert_eq!(
        stale_records, 0,
        "the helper's core read no record after it lost the lead: {lines:?}"
    );
    stop.store(true, Ordering::Relaxed);
    drop(pushing.join().unwrap());
    common::clean_namespace(&tag);
}
