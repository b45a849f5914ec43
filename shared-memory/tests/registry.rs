//! The registry in one process: slots claimed by CAS under contention, a full registry, exactly
//! one leader among racing claimants, each winning claim with a higher term, a hung leader
//! replaced, a hung member reaped and rejoining under its id, the creator's reap timeout, and
//! a registry left half-made by a crash replaced; ring announcements counted across mappings.

mod common;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

#[cfg(unix)]
use common::{SHM_DIR, truncate};
use common::{TestNamespace, poke};
use stemcheck_shm::registry::{DEFAULT_NUM_SLOTS, REGISTRY_SLOTS_OFFSET, SLOT_BYTES};
use stemcheck_shm::{
    BinaryFormat, EntryStatus, Member, Registry, RingConsumer, RingProducer, ShmError,
};

/// Offset of the heartbeat in a slot.
const HEARTBEAT_IN_SLOT: usize = 8;
/// Threads racing in the contention tests.
const THREADS: usize = 8;

fn join(t: &TestNamespace, format: BinaryFormat, rings: u32) -> Member {
    Registry::open_or_create(&t.ns)
        .unwrap()
        .join(format, rings)
        .unwrap()
}

/// Makes `member`'s heartbeat `age_ns` old, as if it had hung.
fn age_heartbeat(member: &Member, age_ns: u64) {
    let offset = REGISTRY_SLOTS_OFFSET + member.slot() * SLOT_BYTES + HEARTBEAT_IN_SLOT;
    let heartbeat = stemcheck_shm::monotonic_ns().saturating_sub(age_ns);
    poke(
        member.registry().name(),
        offset as u64,
        &heartbeat.to_le_bytes(),
    );
}

#[test]
fn racing_joins_take_distinct_slots_and_a_full_registry_is_an_error() {
    let t = Arc::new(TestNamespace::new("full"));
    let barrier = Arc::new(Barrier::new(THREADS));
    let per_thread = DEFAULT_NUM_SLOTS / THREADS;
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (t, barrier) = (t.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                (0..per_thread)
                    .map(|_| join(&t, BinaryFormat::Vst3, 0))
                    .collect::<Vec<Member>>()
            })
        })
        .collect();
    let members: Vec<Member> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let mut slots: Vec<usize> = members.iter().map(|m| m.slot()).collect();
    slots.sort();
    slots.dedup();
    assert_eq!(
        slots.len(),
        DEFAULT_NUM_SLOTS,
        "every join got its own slot"
    );
    let mut ids: Vec<u64> = members.iter().map(|m| m.id()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), DEFAULT_NUM_SLOTS, "every id is unique");
    assert!(matches!(
        Registry::open_or_create(&t.ns)
            .unwrap()
            .join(BinaryFormat::Clap, 0),
        Err(ShmError::RegistryFull { num_slots: 64 })
    ));
    let registry = Registry::open_or_create(&t.ns).unwrap();
    assert_eq!(registry.live_entries().len(), DEFAULT_NUM_SLOTS);
    drop(members);
    assert!(
        registry.entries().is_empty(),
        "dropping a member frees its slot"
    );
}

#[test]
fn exactly_one_of_many_racing_claimants_leads() {
    let t = Arc::new(TestNamespace::new("race"));
    // Windows: the registry (and its term counter) goes when no process has it open, here at
    // the end of every round; keep it across rounds.
    #[cfg(windows)]
    let _registry = Registry::open_or_create(&t.ns).unwrap();
    let mut last_term = 0;
    for round in 0..20 {
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let (t, barrier) = (t.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let member = join(&t, BinaryFormat::Clap, 0);
                    barrier.wait();
                    let leads = member.try_lead();
                    (member, leads)
                })
            })
            .collect();
        let results: Vec<(Member, bool)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let leaders: Vec<&Member> = results.iter().filter(|(_, l)| *l).map(|(m, _)| m).collect();
        assert_eq!(leaders.len(), 1, "round {round}");
        let registry = Registry::open_or_create(&t.ns).unwrap();
        assert_eq!(registry.leader().unwrap().slot, leaders[0].slot());
        assert_eq!(results.iter().filter(|(m, _)| m.is_leader()).count(), 1);
        // The winner's term is above every earlier round's.
        let term = leaders[0].leader_term().unwrap();
        assert!(
            term > last_term,
            "round {round}: term {term} after {last_term}"
        );
        last_term = term;
    }
}

#[test]
fn a_leader_with_a_stale_heartbeat_is_replaced_and_knows_it() {
    let t = TestNamespace::new("stale");
    let first = join(&t, BinaryFormat::Clap, 0);
    let second = join(&t, BinaryFormat::Vst3, 0);
    assert!(first.try_lead());
    assert!(!second.try_lead(), "a beating leader keeps the role");
    // 400 ms without a beat: still the leader (timeout 500 ms).
    age_heartbeat(&first, 400_000_000);
    assert!(!second.try_lead());
    age_heartbeat(&first, 600_000_000);
    assert_eq!(
        first
            .registry()
            .entries()
            .iter()
            .find(|e| e.slot == first.slot())
            .unwrap()
            .status,
        EntryStatus::Stale
    );
    assert!(second.try_lead(), "a stale leader is replaced");
    assert!(!first.is_leader() && second.is_leader());
    // The former leader beats again: it does not get the role back while the new one beats.
    assert!(first.beat());
    assert!(!first.try_lead());
}

#[test]
fn a_member_hung_for_longer_than_the_reap_timeout_loses_its_slot_and_rejoins_under_its_id() {
    let t = TestNamespace::new("hung");
    let member = join(&t, BinaryFormat::Clap, 2);
    assert!(member.try_lead());
    let rings = [
        RingProducer::create(&member.ring_name(0), 4096).unwrap(),
        RingProducer::create(&member.ring_name(1), 4096).unwrap(),
    ];
    let registry = Registry::open_or_create(&t.ns).unwrap();
    assert_eq!(registry.reap_after(), Duration::from_secs(5));
    // Hung for 4 s: stale, but not reaped yet (5 s).
    age_heartbeat(&member, 4_000_000_000);
    assert_eq!(registry.reap_stale().freed, vec![]);
    age_heartbeat(&member, 6_000_000_000);
    let report = registry.reap_stale();
    assert_eq!(report.freed, vec![(member.slot(), std::process::id())]);
    // Its rings keep their names (the hung process maps them anyway), for when it resumes.
    assert_eq!(report.unlinked, Vec::<String>::new());
    for ring in &rings {
        assert!(RingConsumer::open(ring.name()).is_ok());
    }
    assert_eq!(registry.leader(), None);
    // When it wakes up, it learns that it lost its slot.
    assert!(!member.holds_slot());
    assert!(!member.beat());
    assert!(!member.try_lead());
    assert_eq!(member.leader_term(), None);

    // It rejoins under the same id: its rings are found again under their names.
    let rejoined = member.rejoin().unwrap();
    assert_eq!(rejoined.id(), member.id());
    assert!(rejoined.holds_slot() && rejoined.beat());
    let entries = registry.live_entries();
    assert_eq!(entries.len(), 1);
    assert_eq!((entries[0].id, entries[0].ring_count), (member.id(), 2));
    assert_eq!(
        rejoined.ring_name(1),
        rings[1].name(),
        "the same names for the same id"
    );
    // It may lead again; the old membership's leaving (it may share the slot, pid and leader
    // word value) does not take the leadership or the slot from it.
    assert!(rejoined.try_lead());
    drop(member);
    assert!(rejoined.is_leader() && rejoined.holds_slot());
    assert_eq!(registry.live_entries().len(), 1);

    // Its leaving does not free a slot that someone else has claimed since.
    age_heartbeat(&rejoined, 6_000_000_000);
    assert_eq!(registry.reap_stale().freed.len(), 1);
    let other = join(&t, BinaryFormat::Vst3, 0);
    assert_eq!(other.slot(), rejoined.slot());
    drop(rejoined);
    assert_eq!(registry.live_entries().len(), 1);
    drop(other);
}

#[test]
fn the_reap_timeout_is_the_creators_and_every_member_reaps_with_it() {
    let t = TestNamespace::new("reapafter");
    let first = Registry::open_or_create_with(&t.ns, Duration::from_millis(1500)).unwrap();
    assert_eq!(first.reap_after(), Duration::from_millis(1500));
    // Another process asking for another value gets the registry's.
    let second = Registry::open_or_create_with(&t.ns, Duration::from_secs(30)).unwrap();
    assert_eq!(second.reap_after(), Duration::from_millis(1500));
    assert_eq!(
        Registry::open_or_create(&t.ns).unwrap().reap_after(),
        Duration::from_millis(1500)
    );
    let member = second.join(BinaryFormat::Clap, 0).unwrap();
    age_heartbeat(&member, 1_200_000_000);
    assert_eq!(first.reap_stale().freed, vec![]);
    age_heartbeat(&member, 1_600_000_000);
    assert_eq!(first.reap_stale().freed.len(), 1);
    // Rejoining keeps the registry's timeout.
    let rejoined = member.rejoin().unwrap();
    assert_eq!(
        rejoined.registry().reap_after(),
        Duration::from_millis(1500)
    );
    // Out of range: clamped (never below the leader timeout's margin).
    let u = TestNamespace::new("reapclamp");
    let clamped = Registry::open_or_create_with(&u.ns, Duration::from_millis(10)).unwrap();
    assert_eq!(clamped.reap_after(), Duration::from_secs(1));
}

#[test]
fn every_claim_that_wins_takes_a_higher_term() {
    let t = TestNamespace::new("terms");
    let first = join(&t, BinaryFormat::Clap, 0);
    let second = join(&t, BinaryFormat::Vst3, 0);
    assert_eq!(first.leader_term(), None);
    assert!(first.try_lead());
    let t1 = first.leader_term().unwrap();
    assert!(!second.try_lead());
    assert_eq!(second.leader_term(), None);
    // Claiming again while leading keeps the term.
    assert!(first.try_lead());
    assert_eq!(first.leader_term(), Some(t1));
    // A hung leader is replaced: the new one's term is higher, the former one has none.
    age_heartbeat(&first, 1_000_000_000);
    assert!(second.try_lead());
    let t2 = second.leader_term().unwrap();
    assert!(t2 > t1);
    assert_eq!(first.leader_term(), None);
    // The former leader gets the role back only once the other leaves: higher again.
    first.beat();
    assert!(!first.try_lead());
    second.leave();
    assert!(first.try_lead());
    assert!(first.leader_term().unwrap() > t2);
}

#[cfg(unix)]
#[test]
fn a_registry_left_without_a_header_by_a_crash_is_replaced() {
    let t = TestNamespace::new("halfmade");
    let name = t.ns.registry_name();
    // What a creator that died between shm_open and writing the header leaves: a zero-filled
    // file, 0600.
    {
        let _registry = Registry::open_or_create(&t.ns).unwrap();
    }
    truncate(&name, 0);
    truncate(&name, 4096);
    assert!(std::path::Path::new(&format!("{SHM_DIR}{name}")).exists());
    let started = Instant::now();
    let member = join(&t, BinaryFormat::Clap, 0);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(200),
        "waited {waited:?} for a creator"
    );
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    assert_eq!(member.registry().live_entries().len(), 1);
}

/// Windows: a crashed creator's mapping goes with its handles, so a registry without a header
/// exists only while its creator is alive (hung before writing the header). It cannot be
/// replaced (there is no unlink): after waiting for its creator, joining fails.
#[cfg(windows)]
#[test]
fn a_registry_without_a_header_whose_creator_hangs_is_an_error_after_the_wait() {
    use common::{create_raw, private_sddl};

    let t = TestNamespace::new("halfmade");
    let _hung_creator = create_raw(&t.ns.registry_name(), 4096, &private_sddl()).unwrap();
    let started = Instant::now();
    let result = Registry::open_or_create(&t.ns);
    let waited = started.elapsed();
    assert!(
        matches!(result, Err(ShmError::BadMagic { found: 0, .. })),
        "{result:?}"
    );
    assert!(
        waited >= Duration::from_millis(200),
        "waited {waited:?} for a creator"
    );
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
}

#[test]
fn a_ring_announced_by_one_member_is_counted_for_all() {
    let t = TestNamespace::new("announce");
    let leader = join(&t, BinaryFormat::Clap, 1);
    let other = join(&t, BinaryFormat::Vst3, 1);
    let seen = leader.registry().ring_announcements();
    let _ring = RingProducer::create(&other.ring_name(0), 4096).unwrap();
    other.announce_ring();
    // Another mapping of the same registry counts the same announcements.
    assert_eq!(leader.registry().ring_announcements(), seen + 1);
    assert_eq!(other.registry().ring_announcements(), seen + 1);
}

/// Offset of the id in a slot.
#[cfg(unix)]
const ID_IN_SLOT: usize = 16;

/// What `reap_stale` does where shared-memory objects cannot be listed (macOS), run here on
/// Linux: a freed slot still names its last holder's rings, which go once the holder is dead,
/// and only once.
#[cfg(unix)]
#[test]
fn a_freed_slot_leads_the_reaper_to_its_dead_holders_rings() {
    let t = TestNamespace::new("leftslot");
    let registry = Registry::open_or_create(&t.ns).unwrap();
    let member = join(&t, BinaryFormat::Other, 2);
    let slot = member.slot();
    let live_ring = RingProducer::create(&member.ring_name(0), 4096).unwrap();
    drop(member);
    // Its holder is alive (this process): its ring is left alone.
    assert!(registry.reap_left_slots().unlinked.is_empty());
    assert!(RingConsumer::open(live_ring.name()).is_ok());
    // As if the holder had been a process that is gone now: an id with a pid that cannot
    // exist (above Linux's pid_max of 2^22), whose two rings it left behind.
    let dead_id = (0x7fff_fff0u64 << 32) | 7;
    let offset = REGISTRY_SLOTS_OFFSET + slot * SLOT_BYTES + ID_IN_SLOT;
    poke(registry.name(), offset as u64, &dead_id.to_le_bytes());
    let dead_rings: Vec<String> = (0..2)
        .map(|index| {
            let name = t.ns.ring_name(dead_id, index);
            // Its name stays, like a crashed process's.
            std::mem::forget(RingProducer::create(&name, 4096).unwrap());
            name
        })
        .collect();
    assert_eq!(registry.reap_left_slots().unlinked, dead_rings);
    for name in &dead_rings {
        assert!(RingConsumer::open(name).unwrap_err().is_not_found());
    }
    // Done once: the slot no longer names them.
    assert!(registry.reap_left_slots().unlinked.is_empty());
    // A slot claimed again is not a leftover.
    let again = join(&t, BinaryFormat::Other, 2);
    assert_eq!(again.slot(), slot);
    assert!(registry.reap_left_slots().unlinked.is_empty());
}
