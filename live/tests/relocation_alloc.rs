//! A lane moves to a ring while it plays, with nothing allocated or freed on the audio thread
//! (issue 14): an instance registers while this process leads (an in-process lane); then the
//! registry's leader word is made to name another live member of our version, as a takeover
//! while this process was stopped leaves it. The core must make a ring for the instance and
//! hand it over; the pushing thread (the audio thread here) takes it at a block, and from then
//! on its blocks are in the ring, where the new leader reads them, positions in order. Every
//! push, the one that takes the ring included, must count zero allocations and deallocations.

use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use stemcheck_bus::{BlockInfo, PositionSource};
use stemcheck_live::{InstanceShared, Producer, Role, register};
use stemcheck_shm::registry::BEAT_PERIOD;
use stemcheck_shm::{BinaryFormat, Namespace, Registry, RingConsumer};
use stemcheck_testkit::alloc_count::{CountingAlloc, allocations, deallocations};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const BLOCK_FRAMES: usize = 512;
/// Blocks pushed after the switch, then read back from the ring.
const AFTER_SWITCH_BLOCKS: usize = 40;
/// Longest wait for the core to hand the ring over.
const SWITCH_LIMIT: Duration = Duration::from_secs(10);
/// Offset of the registry's leader word (`pid << 32 | slot + 1`).
const LEADER_WORD_OFFSET: u64 = 64;

#[test]
fn a_lane_moves_to_a_ring_without_allocating_on_the_audio_thread() {
    let tag = format!("fedreloc{}", std::process::id());
    // SAFETY: first thing in the only test of this binary, before any other thread starts.
    unsafe { std::env::set_var(stemcheck_live::federation::SHM_TAG_ENV, &tag) };
    let namespace = Namespace::with_tag(&tag).unwrap();

    let shared = Arc::new(InstanceShared::default());
    shared.set_role(Role::Stem);
    shared.set_track_name("Bass");
    let mut registration = register(shared.clone(), 48_000.0).unwrap();
    assert!(stemcheck_live::federation::is_leader());
    assert!(matches!(registration.producer, Producer::Lane(_)));

    // Another member of our version, beating; the leader word is made to name it.
    let other = Registry::open_or_create(&namespace)
        .unwrap()
        .join(BinaryFormat::Vst3, 0)
        .unwrap();
    let other_id = other.id();
    let leader_word = (u64::from(std::process::id()) << 32) | (other.slot() as u64 + 1);
    let stop = Arc::new(AtomicBool::new(false));
    let beating = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                other.beat();
                std::thread::sleep(BEAT_PERIOD / 4);
            }
            other
        })
    };
    let registry_file = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm{}", namespace.registry_name()))
        .unwrap();
    registry_file
        .write_all_at(&leader_word.to_le_bytes(), LEADER_WORD_OFFSET)
        .unwrap();
    assert!(!stemcheck_live::federation::is_leader());

    let mut left = vec![0.25f32; BLOCK_FRAMES];
    let mut right = vec![-0.25f32; BLOCK_FRAMES];
    let mut push = |registration: &mut stemcheck_live::Registration, block: usize| {
        for (i, sample) in left.iter_mut().enumerate() {
            *sample = (block * BLOCK_FRAMES + i) as f32;
        }
        let info = BlockInfo {
            pos_samples: (block * BLOCK_FRAMES) as i64,
            source: PositionSource::HostTransport,
            playing: true,
            sample_rate_hz: 48_000.0,
        };
        let mut channels = [left.as_mut_slice(), right.as_mut_slice()];
        registration.push_block_flushing(&info, &mut channels);
    };

    let probe = (allocations(), deallocations());
    drop(std::hint::black_box(Box::new(0u64)));
    assert_eq!(
        (allocations() - probe.0, deallocations() - probe.1),
        (1, 1),
        "the counting allocator counts"
    );
    let before = (allocations(), deallocations());
    let started = Instant::now();
    let mut block = 0;
    // Real time, as a host's audio thread, until the core hands the ring over.
    while !registration.producer.is_shared_memory() {
        assert!(started.elapsed() < SWITCH_LIMIT, "no ring handed over");
        push(&mut registration, block);
        block += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    let switched_at = block;
    for _ in 0..AFTER_SWITCH_BLOCKS {
        push(&mut registration, block);
        block += 1;
    }
    let counted = (allocations() - before.0, deallocations() - before.1);
    eprintln!(
        "handed over after {:?}, at block {switched_at}",
        started.elapsed()
    );
    assert_eq!(
        counted,
        (0, 0),
        "allocations and deallocations on the audio thread"
    );
    assert_ne!(shared.ring_key(), 0, "the instance knows its ring");

    // The new leader reads the ring: the blocks from the switch on, in order.
    let ours = Registry::open_or_create(&namespace)
        .unwrap()
        .live_entries()
        .into_iter()
        .find(|e| e.id != other_id)
        .expect("our entry");
    let mut consumer = RingConsumer::open(&namespace.ring_name(ours.id, 0)).unwrap();
    let mut buffers = vec![vec![0.0f32; BLOCK_FRAMES]; 2];
    let mut positions = Vec::new();
    while let Some(header) = consumer.pop_block(&mut buffers).unwrap() {
        assert_eq!(
            buffers[0][0], header.pos_samples as f32,
            "the block's own audio"
        );
        positions.push(header.pos_samples);
    }
    // The push that took the ring went into it: from `switched_at - 1` on.
    let expected: Vec<i64> = (switched_at - 1..block)
        .map(|b| (b * BLOCK_FRAMES) as i64)
        .collect();
    assert_eq!(positions, expected);

    stop.store(true, Ordering::Relaxed);
    drop(registration);
    drop(beating.join().unwrap());
    for entry in std::fs::read_dir("/dev/shm").unwrap().flatten() {
        if entry.file_name().to_string_lossy().contains(&tag) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
