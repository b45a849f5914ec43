//! The producer's push never allocates: a counting global allocator (per thread) wraps the
//! system one, and thousands of pushes, full-ring drops included, must count zero.

mod common;

use common::{TestNamespace, info, signal};
use stemcheck_bus::PushOutcome;
use stemcheck_shm::{RingConsumer, RingProducer};
use stemcheck_testkit::alloc_count::{CountingAlloc, allocations};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

#[test]
fn pushing_never_allocates_even_when_the_ring_is_full() {
    let t = TestNamespace::new("alloc");
    let name = t.name("ring");
    let mut tx = RingProducer::create(&name, 1 << 16).unwrap();
    let mut rx = RingConsumer::open(&name).unwrap();
    let left = signal(5, 0, 0, 8192);
    let right = signal(5, 1, 0, 8192);
    let mut out = vec![vec![0.0f32; 4096], vec![0.0f32; 4096]];
    // The counter works: this Vec is counted.
    let before = allocations();
    drop(std::hint::black_box(vec![0u8; 16]));
    assert_eq!(allocations() - before, 1, "the counting allocator counts");

    let mut counted = 0u64;
    let (mut pushed, mut dropped) = (0u32, 0u32);
    for i in 0..4000usize {
        // Sizes from 1 to 8192 frames (over MAX_BLOCK_FRAMES: split into two records).
        let frames = 1 + (i * 389) % 8192;
        let block = [&left[..frames], &right[..frames]];
        let start = allocations();
        let outcome = tx.push_block(&info(i as i64), &block);
        counted += allocations() - start;
        match outcome {
            PushOutcome::Pushed => pushed += 1,
            PushOutcome::Dropped => dropped += 1,
            PushOutcome::Empty => unreachable!(),
        }
        // Drain only now and then, so that the ring is full most of the time.
        if i % 16 == 0 {
            while rx.pop_block(&mut out).unwrap().is_some() {}
        }
    }
    assert_eq!(counted, 0, "allocations during pushes");
    assert!(
        pushed > 100 && dropped > 1000,
        "pushed {pushed}, dropped {dropped}"
    );
    assert!(tx.stats().dropped_frames > 0);
}
