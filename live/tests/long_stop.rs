//! Processes stopped for longer than the registry's reap timeout lose their slots, and rejoin
//! when they resume (issue 14). A helper process registers first and holds the core (the master
//! and the drums on in-process lanes); a second helper streams the keys to it through a ring,
//! and this process the bass. Both helpers are stopped (SIGSTOP) until this process has taken
//! the core over and reaped their slots (the registry's reap timeout is shortened to 1.5 s
//! through `STEMCHECK_SHM_REAP_MS`, which an isolated namespace allows, instead of waiting the
//! 5 s of a real one). When they resume (SIGCONT), each must notice that its slot was taken,
//! join again under the same entry id and announce its rings; the first helper's lanes then
//! move to rings to this core, the second helper's ring is read again, and the group is one
//! again, four instances, and nulls, with no re-activation.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{Helper, InstanceSpec, LEAD_IN, instance, signal, wait_for};
use stemcheck_live::federation::SHM_REAP_MS_ENV;
use stemcheck_live::{Role, latest_snapshot};
use stemcheck_shm::registry::BEAT_PERIOD;
use stemcheck_shm::{Namespace, Registry};

/// The registry's reap timeout in this test, in milliseconds (a real one's is 5000).
const REAP_MS: u64 = 1_500;
/// The group's null must be at least this deep (bit-identical sums).
const NULL_DB: f32 = -80.0;
/// Audio of the reunited group that must null, in frames (one second).
const REUNITED_FRAMES: u64 = 48_000;
/// The helpers' instances must be back in the group, and the group must have nulled over
/// [`REUNITED_FRAMES`] with them, within this after the helpers resume.
const REJOIN_LIMIT: Duration = Duration::from_secs(5);

const GROUP: usize = 5;

#[test]
fn helper() {
    common::helper_main();
}

#[test]
fn processes_stopped_past_the_reap_timeout_rejoin_and_their_instances_return_to_the_group() {
    let tag = common::isolate("long");
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: before the first registration starts any thread of ours (the helpers inherit
    // both).
    unsafe {
        std::env::set_var("STEMCHECK_REPORT_DIR", dir.path());
        std::env::set_var(SHM_REAP_MS_ENV, REAP_MS.to_string());
    }
    let t0_ns = stemcheck_shm::monotonic_ns() + LEAD_IN.as_nanos() as u64;

    let leader_helper = Helper::spawn(
        "helper",
        &[
            InstanceSpec::new("Mix", GROUP, Role::Master, 1.0),
            InstanceSpec::new("Drums", GROUP, Role::Stem, 1.0),
        ],
        t0_ns,
    );
    assert!(leader_helper.leader_at_start, "the first helper leads");
    let ring_helper = Helper::spawn(
        "helper",
        &[InstanceSpec::new("Keys", GROUP, Role::Stem, 1.0)],
        t0_ns,
    );
    assert!(!ring_helper.leader_at_start);
    let (stop, pushing) = common::push_shared_in_background(
        &[InstanceSpec::new("Bass", GROUP, Role::Stem, 1.0)],
        t0_ns,
    );

    // The first helper's core has all four and nulls (read from the board).
    wait_for("the first helper's core to null", || {
        latest_snapshot(GROUP).filter(|s| {
            s.instances.len() == 4
                && s.complete_frames >= REUNITED_FRAMES
                && s.null_residual_db.is_some_and(|db| db < NULL_DB)
        })
    });
    let registry = Registry::open_or_create(&Namespace::with_tag(&tag).unwrap()).unwrap();
    assert_eq!(registry.reap_after(), Duration::from_millis(REAP_MS));
    let helpers = [leader_helper.pid, ring_helper.pid];
    let ids_before: Vec<u64> = helpers
        .iter()
        .map(|pid| {
            registry
                .entries()
                .iter()
                .find(|e| e.pid == *pid)
                .unwrap()
                .id
        })
        .collect();

    // Stop both until this process leads and has reaped their slots.
    let me = std::process::id();
    let stopped_at = Instant::now();
    for pid in helpers {
        signal(pid, "STOP");
    }
    wait_for("this process to take over", || {
        registry.leader().filter(|l| l.pid == me)
    });
    wait_for("the stopped helpers' slots to be reaped", || {
        registry
            .entries()
            .iter()
            .all(|e| !helpers.contains(&e.pid))
            .then_some(())
    });
    let stopped_for = stopped_at.elapsed();
    // Not before the timeout (their last beat may have been a beat period before the stop).
    assert!(stopped_for > Duration::from_millis(REAP_MS) - 2 * BEAT_PERIOD);

    // Resume both: they rejoin, and their instances come back to this core while they play.
    let resumed_at = Instant::now();
    for pid in helpers {
        signal(pid, "CONT");
    }
    let location = |s: &stemcheck_live::GroupSnapshot, name: &str, pid: u32| {
        instance(s, name).is_some_and(|i| i.location.pid == pid && i.location.shared_memory)
    };
    wait_for("the helpers' instances in this core", || {
        latest_snapshot(GROUP).filter(|s| {
            location(s, "Mix", helpers[0])
                && location(s, "Drums", helpers[0])
                && location(s, "Keys", helpers[1])
        })
    });
    let appeared = resumed_at.elapsed();
    let after = wait_for("the reunited group to null", || {
        latest_snapshot(GROUP).filter(|s| {
            s.instances.len() == 4
                && [("Mix", 0), ("Drums", 0), ("Keys", 1)]
                    .iter()
                    .all(|(n, h)| {
                        location(s, n, helpers[*h])
                            && instance(s, n).unwrap().present_frames >= REUNITED_FRAMES
                    })
                && s.null_residual_db.is_some_and(|db| db < NULL_DB)
        })
    });
    let rejoin = resumed_at.elapsed();
    eprintln!(
        "helpers stopped for {stopped_for:?} (reap timeout {REAP_MS} ms); after they resumed \
         their instances were in this core after {appeared:?}, and {} instances nulled at \
         {:?} dB over {} complete frames after {rejoin:?}",
        after.instances.len(),
        after.null_residual_db,
        after.complete_frames
    );
    assert!(
        rejoin < REJOIN_LIMIT,
        "{rejoin:?} until the group nulled again"
    );
    assert_eq!(registry.leader().map(|l| l.pid), Some(me));
    // Each helper holds a slot again, under the id it had (its rings' names).
    for (pid, id) in helpers.iter().zip(&ids_before) {
        let entry = registry.live_entries().into_iter().find(|e| e.pid == *pid);
        assert_eq!(entry.map(|e| e.id), Some(*id), "process {pid}");
    }

    // Nothing hangs, and the helpers' instances found their own rows in the group they read
    // from the board.
    let leader_lines = leader_helper.stop();
    let ring_lines = ring_helper.stop();
    eprintln!("helpers: {leader_lines:?} {ring_lines:?}");
    assert!(
        leader_lines.len() == 1
            && leader_lines[0].contains("instances=4")
            && leader_lines[0].contains("leader=false")
            && leader_lines[0].contains("own_rows=2"),
        "{leader_lines:?}"
    );
    assert!(
        ring_lines.len() == 1
            && ring_lines[0].contains("instances=4")
            && ring_lines[0].contains("own_rows=1"),
        "{ring_lines:?}"
    );
    stop.store(true, Ordering::Relaxed);
    drop(pushing.join().unwrap());
    common::clean_namespace(&tag);
}
