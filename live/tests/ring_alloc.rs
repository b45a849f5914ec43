//! The audio thread's push into a shared-memory ring never allocates (issue 14): an instance
//! registered while another registry member leads streams through a ring, and thousands of
//! `push_block_flushing` calls (the plugin's call), full-ring drops and an offline render's
//! bounded wait included, must count zero allocations on the pushing thread. A counting global
//! allocator (per thread) wraps the system one, as `stemcheck-shm`'s own alloc test does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use stemcheck_bus::{BlockInfo, PositionSource, PushOutcome};
use stemcheck_live::{InstanceShared, Producer, Role, register};
use stemcheck_shm::registry::BEAT_PERIOD;
use stemcheck_shm::{BinaryFormat, Namespace, Registry};
use stemcheck_testkit::alloc_count::{CountingAlloc, allocations};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Blocks pushed: about 11 s of audio at 48 kHz, ten times what the ring holds, so most of
/// them are drops (the leader here never reads).
const NUM_BLOCKS: usize = 1000;
const BLOCK_FRAMES: usize = 512;

#[test]
fn pushing_into_a_shared_memory_ring_never_allocates() {
    let tag = format!("fedalloc{}", std::process::id());
    // SAFETY: first thing in the only test of this binary, before any other thread starts.
    unsafe { std::env::set_var(stemcheck_live::federation::SHM_TAG_ENV, &tag) };
    let namespace = Namespace::with_tag(&tag).unwrap();

    // Another member leads (it never reads): the instance registered below gets a ring.
    let leader = Registry::open_or_create(&namespace)
        .unwrap()
        .join(BinaryFormat::Vst3, 0)
        .unwrap();
    assert!(leader.try_lead());
    let stop = Arc::new(AtomicBool::new(false));
    let beating = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                leader.beat();
                std::thread::sleep(BEAT_PERIOD / 4);
            }
            leader
        })
    };

    let shared = Arc::new(InstanceShared::default());
    shared.set_role(Role::Stem);
    shared.set_track_name("Bass");
    let mut registration = register(shared, 48_000.0).unwrap();
    assert!(matches!(registration.producer, Producer::Ring(_)));

    // Buffers as the host's: with subnormals to flush.
    let mut left = vec![0.25f32; BLOCK_FRAMES];
    let mut right = vec![-0.25f32; BLOCK_FRAMES];
    left[7] = f32::from_bits(1);
    let mut outcomes = [0usize; 3];
    let probe = allocations();
    std::hint::black_box(Box::new(0u64));
    assert_eq!(allocations() - probe, 1, "the counting allocator counts");
    let before = allocations();
    for b in 0..NUM_BLOCKS {
        let info = BlockInfo {
            pos_samples: (b * BLOCK_FRAMES) as i64,
            source: PositionSource::HostTransport,
            playing: true,
            sample_rate_hz: 48_000.0,
        };
        let mut channels = [left.as_mut_slice(), right.as_mut_slice()];
        let outcome = registration.push_block_flushing(&info, &mut channels);
        outcomes[outcome as usize] += 1;
    }
    // An offline render: the full ring makes it wait (bounded), then drop; no allocation.
    registration.set_offline(true);
    let waited_from = Instant::now();
    let info = BlockInfo {
        pos_samples: (NUM_BLOCKS * BLOCK_FRAMES) as i64,
        source: PositionSource::HostTransport,
        playing: true,
        sample_rate_hz: 48_000.0,
    };
    let offline = registration.push_block_flushing(&info, &mut [&mut left, &mut right]);
    let waited = waited_from.elapsed();
    let allocated = allocations() - before;

    assert_eq!(allocated, 0, "allocations on the audio thread");
    assert_eq!(left[7], 0.0, "subnormal flushed in place");
    assert_eq!(offline, PushOutcome::Dropped);
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    let Producer::Ring(ring) = &registration.producer else {
        unreachable!()
    };
    let stats = ring.stats();
    eprintln!("{outcomes:?} pushed/dropped/empty, {stats:?}");
    // The ring (512 KiB) holds 126 records of 4160 bytes; the rest were counted drops.
    assert_eq!(stats.pushed_blocks, 126);
    assert_eq!(stats.dropped_blocks, (NUM_BLOCKS + 1 - 126) as u64);
    assert_eq!(outcomes[PushOutcome::Pushed as usize], 126);

    stop.store(true, Ordering::Relaxed);
    drop(registration);
    drop(beating.join().unwrap());
    for entry in std::fs::read_dir("/dev/shm").unwrap().flatten() {
        if entry.file_name().to_string_lossy().contains(&tag) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
