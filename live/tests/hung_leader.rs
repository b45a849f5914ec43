//! A leader that hangs and resumes after a takeover (issue 14): a helper process registers
//! first and holds the core, with the master and the drums on in-process lanes there; this
//! process registers the bass and the keys, which stream to it through rings. The helper is
//! stopped (SIGSTOP, as a debugger or a stuck host would): this process must take the core
//! over and go on with its own instances. Then the helper resumes (SIGCONT): it must find it no
//! longer leads and move its two lanes to rings to this process's core while they play (no
//! re-activation), so that the group is one again, four instances, and nulls; nothing hangs,
//! and the helper's instances find their rows in the snapshot it reads from the board.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{Helper, InstanceSpec, LEAD_IN, instance, signal, wait_for};
use stemcheck_live::{Role, latest_snapshot};
use stemcheck_shm::{Namespace, Registry};

/// The group's null must be at least this deep (bit-identical sums).
const NULL_DB: f32 = -80.0;
/// How long this process must go on as the core before the helper resumes, in frames of its
/// own instances' audio (half a second).
const ALONE_FRAMES: u64 = 24_000;
/// Audio of the reunited group that must null, in frames (one second).
const REUNITED_FRAMES: u64 = 48_000;
/// The helper's instances must be back in the group, and the group must have nulled over
/// [`REUNITED_FRAMES`] with them, within this after the helper resumes.
const REJOIN_LIMIT: Duration = Duration::from_secs(5);

const GROUP: usize = 4;

#[test]
fn helper() {
    common::helper_main();
}

#[test]
fn a_hung_leader_that_resumes_after_a_takeover_moves_its_lanes_to_the_new_core() {
    let tag = common::isolate("hung");
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: before the first registration starts any thread of ours.
    unsafe { std::env::set_var("STEMCHECK_REPORT_DIR", dir.path()) };
    let t0_ns = stemcheck_shm::monotonic_ns() + LEAD_IN.as_nanos() as u64;

    let helper = Helper::spawn(
        "helper",
        &[
            InstanceSpec::new("Mix", GROUP, Role::Master, 1.0),
            InstanceSpec::new("Drums", GROUP, Role::Stem, 1.0),
        ],
        t0_ns,
    );
    assert!(helper.leader_at_start, "the helper leads");
    let (stop, pushing) = common::push_shared_in_background(
        &[
            InstanceSpec::new("Bass", GROUP, Role::Stem, 1.0),
            InstanceSpec::new("Keys", GROUP, Role::Stem, 1.0),
        ],
        t0_ns,
    );

    // The helper's core has all four and nulls (read from the board).
    let before = wait_for("the helper's core to null", || {
        latest_snapshot(GROUP).filter(|s| {
            s.instances.len() == 4
                && s.complete_frames >= REUNITED_FRAMES
                && s.null_residual_db.is_some_and(|db| db < NULL_DB)
        })
    });
    let mix = instance(&before, "Mix").unwrap();
    assert_eq!(
        (mix.location.pid, mix.location.shared_memory),
        (helper.pid, false)
    );

    // Stop the helper: this process takes over and goes on with its own two instances.
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
    eprintln!("takeover after {:?}", stopped_at.elapsed());
    let alone = wait_for("this core to go on alone", || {
        latest_snapshot(GROUP).filter(|s| {
            s.instances.len() == 2
                && ["Bass", "Keys"]
                    .iter()
                    .all(|n| instance(s, n).is_some_and(|i| i.present_frames >= ALONE_FRAMES))
        })
    });
    assert!(instance(&alone, "Mix").is_none() && instance(&alone, "Drums").is_none());
    let stopped_for = stopped_at.elapsed();

    // Resume the helper: its master and drums move to this core while they play.
    let resumed_at = Instant::now();
    signal(helper.pid, "CONT");
    wait_for("the helper's instances in this core", || {
        latest_snapshot(GROUP).filter(|s| {
            ["Mix", "Drums"].iter().all(|n| {
                instance(s, n)
                    .is_some_and(|i| i.location.pid == helper.pid && i.location.shared_memory)
            })
        })
    });
    let appeared = resumed_at.elapsed();
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
    let rejoin = resumed_at.elapsed();
    eprintln!(
        "helper stopped for {stopped_for:?}; after it resumed its instances were in this core \
         after {appeared:?}, and {} instances nulled at {:?} dB over {} complete frames after \
         {rejoin:?}",
        after.instances.len(),
        after.null_residual_db,
        after.complete_frames
    );
    assert!(
        rejoin < REJOIN_LIMIT,
        "{rejoin:?} until the group nulled again"
    );
    assert_eq!(
        registry.leader().map(|l| l.pid),
        Some(me),
        "this core still leads"
    );
    assert!(
        after.instances.iter().all(|i| i.location.shared_memory),
        "every instance streams to this core through a ring"
    );

    // Nothing hangs: the helper stops on request, and its instances found their own rows in
    // the group it reads from the board.
    let lines = helper.stop();
    eprintln!("helper: {lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("instances=4") && lines[0].contains("leader=false"),
        "{lines:?}"
    );
    assert!(lines[0].contains("own_rows=2"), "{lines:?}");
    stop.store(true, Ordering::Relaxed);
    drop(pushing.join().unwrap());
    common::clean_namespace(&tag);
}
