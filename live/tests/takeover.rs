//! The process holding the core dies (issue 14): a helper process registers first and holds
//! the core (the drums, an in-process lane there); this process registers the master, the bass
//! and the keys while the helper leads, so they stream through shared-memory rings, and reads
//! the group from the shared board. The helper is killed: this process must take the core over
//! within a second, its core must read its own instances' rings (nothing switched on their
//! audio threads), and the run must go on; drums registered again in a new helper process join
//! the new core and the group nulls again.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Helper, InstanceSpec, LEAD_IN, Pusher, instance, wait_for};
use stemcheck_live::{Role, latest_snapshot};
use stemcheck_shm::{Namespace, Registry};

/// The group's null must be at least this deep (bit-identical sums).
const NULL_DB: f32 = -80.0;
/// The core must move within this after its process is killed (the "within a second").
const TAKEOVER_LIMIT: Duration = Duration::from_secs(1);
/// Audio the new core must take in after the takeover, in frames (one second).
const AFTER_TAKEOVER_FRAMES: u64 = 48_000;

const GROUP: usize = 2;

#[test]
fn helper() {
    common::helper_main();
}

#[test]
fn when_the_core_process_dies_another_takes_over_and_the_run_goes_on() {
    let tag = common::isolate("takeover");
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: before the first registration starts any thread of ours.
    unsafe { std::env::set_var("STEMCHECK_REPORT_DIR", dir.path()) };
    let t0_ns = stemcheck_shm::monotonic_ns() + LEAD_IN.as_nanos() as u64;

    let drums_spec = [InstanceSpec::new("Drums", GROUP, Role::Stem, 1.0)];
    let first = Helper::spawn("helper", &drums_spec, t0_ns);
    assert!(first.leader_at_start, "the first process leads");
    let mine = Pusher::register(
        &[
            InstanceSpec::new("Mix", GROUP, Role::Master, 1.0),
            InstanceSpec::new("Bass", GROUP, Role::Stem, 1.0),
            InstanceSpec::new("Keys", GROUP, Role::Stem, 1.0),
        ],
        t0_ns,
    );
    assert!(!stemcheck_live::federation::is_leader());
    assert!(
        mine.instances
            .iter()
            .all(|(_, _, r)| r.producer.is_shared_memory())
    );
    let stop = Arc::new(AtomicBool::new(false));
    let pushing = common::push_in_background(mine, stop.clone());

    // Read from the board: the helper's core has all four and nulls.
    let before = wait_for("the helper's core to null over two seconds", || {
        latest_snapshot(GROUP).filter(|s| {
            s.instances.len() == 4
                && s.complete_frames >= 2 * 48_000
                && s.null_residual_db.is_some_and(|db| db < NULL_DB)
        })
    });
    eprintln!(
        "before: null {:?} dB, {} complete frames",
        before.null_residual_db, before.complete_frames
    );
    let drums = instance(&before, "Drums").unwrap();
    assert_eq!(
        (drums.location.pid, drums.location.shared_memory),
        (first.pid, false)
    );
    let me = std::process::id();
    assert!(
        before
            .instances
            .iter()
            .filter(|i| i.name != "Drums")
            .all(|i| i.location.pid == me && i.location.shared_memory)
    );

    // Kill the core's process: this one must lead within the limit.
    let registry = Registry::open_or_create(&Namespace::with_tag(&tag).unwrap()).unwrap();
    let first_pid = first.pid;
    let killed_at = Instant::now();
    first.kill();
    let leader = loop {
        if let Some(leader) = registry.leader().filter(|l| l.pid != first_pid) {
            break leader;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(10),
            "nobody took over"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    let takeover = killed_at.elapsed();
    eprintln!("takeover after {takeover:?} by process {}", leader.pid);
    assert_eq!(leader.pid, me);
    assert!(takeover < TAKEOVER_LIMIT, "{takeover:?}");
    wait_for("this process's agent to see it leads", || {
        stemcheck_live::federation::is_leader().then_some(())
    });

    // The new core reads this process's own rings: the run goes on without the drums.
    let after = wait_for("the new core to take in a second", || {
        latest_snapshot(GROUP).filter(|s| {
            s.total_frames >= AFTER_TAKEOVER_FRAMES
                && ["Mix", "Bass", "Keys"]
                    .iter()
                    .all(|n| instance(s, n).is_some_and(|i| i.present_frames > 0))
        })
    });
    assert!(instance(&after, "Drums").is_none());
    assert!(
        after
            .instances
            .iter()
            .all(|i| i.location.pid == me && i.location.shared_memory)
    );

    // Drums again, in a new process: they join the new core and the group nulls again.
    let second = Helper::spawn("helper", &drums_spec, t0_ns);
    assert!(!second.leader_at_start);
    let again = wait_for("the group to null again with the new drums", || {
        latest_snapshot(GROUP).filter(|s| {
            s.instances.len() == 4
                && instance(s, "Drums").is_some_and(|d| d.location.pid == second.pid)
                && s.null_residual_db.is_some_and(|db| db < NULL_DB)
                && s.complete_frames >= 48_000
        })
    });
    eprintln!(
        "after takeover: null {:?} dB over {} complete frames",
        again.null_residual_db, again.complete_frames
    );
    second.stop();
    stop.store(true, Ordering::Relaxed);
    drop(pushing.join().unwrap());
    common::clean_namespace(&tag);
}
