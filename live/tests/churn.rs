//! A host creating and destroying instances in a tight loop must not starve the core: between
//! batches of registrations it keeps draining lanes and publishing. (It did starve: the core
//! handled commands for as long as any were waiting, so under a storm it never stepped, and the
//! lanes of destroyed instances piled up unreleased.) Its own test binary, because the core is
//! a process-wide singleton.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stemcheck_live::{InstanceShared, Role, latest_snapshot, register};

/// Publications of the steady group the core must make while the storm goes on (it publishes
/// every 50 ms while it steps).
const PUBLICATIONS_DURING_STORM: u64 = 5;
/// Instances registered and dropped at the least, so the storm is a storm however fast the core
/// publishes.
const MIN_STORM_INSTANCES: usize = 2_000;
/// Longest the storm may go on before the core counts as starved. The storm stops as soon as the
/// core has published enough, so a loaded machine makes it longer, not a failure.
const STARVED_AFTER: Duration = Duration::from_secs(60);

#[test]
fn a_storm_of_instances_coming_and_going_does_not_starve_the_core() {
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: set before the core thread starts; no other thread of this binary reads it.
    unsafe { std::env::set_var("STEMCHECK_REPORT_DIR", dir.path()) };

    // One steady instance in group A keeps the core alive.
    let steady = Arc::new(InstanceShared::default());
    steady.set_role(Role::Master);
    let _steady = register(steady, 48_000.0).unwrap();
    let first = wait_for_generation(0, 0);

    // Instances of group H registered and dropped back to back until the core has published
    // group A several more times (a starved core never does) and the storm had its size.
    let started = Instant::now();
    let mut instances = 0;
    let mut during = first;
    while during < first + PUBLICATIONS_DURING_STORM || instances < MIN_STORM_INSTANCES {
        assert!(
            started.elapsed() < STARVED_AFTER,
            "the core stopped publishing during the storm ({first} -> {during} after \
             {instances} instances)"
        );
        let wave: Vec<_> = (0..8)
            .map(|_| {
                let shared = Arc::new(InstanceShared::default());
                shared.set_group(7);
                register(shared, 48_000.0).unwrap()
            })
            .collect();
        instances += wave.len();
        drop(wave);
        during = latest_snapshot(0).map_or(first, |s| s.generation);
    }
    eprintln!(
        "{instances} instances in {:?}; group A published {first} -> {during}",
        started.elapsed()
    );
}

/// Waits until group `group` has a snapshot newer than `after`; returns its generation.
fn wait_for_generation(group: usize, after: u64) -> u64 {
    let deadline = Instant::now() + STARVED_AFTER;
    loop {
        if let Some(s) = latest_snapshot(group)
            && s.generation > after
        {
            return s.generation;
        }
        assert!(Instant::now() < deadline, "no snapshot of group {group}");
        std::thread::sleep(Duration::from_millis(5));
    }
}
