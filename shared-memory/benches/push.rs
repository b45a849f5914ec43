//! Benchmark of the audio thread's work across processes: pushing a 512-frame stereo block
//! into a shared-memory ring, side by side with the in-process `stemcheck_bus` lane push and a
//! plain copy of the same bytes into a preallocated buffer.
//!
//! Run with `cargo bench -p stemcheck-shm --bench push`. Prints nanoseconds per block for each
//! and their ratios to the plain copy (target: the shared-memory push <= 3x copy). All three are
//! timed in interleaved rounds in the same run, and the median round is reported, so machine
//! noise hits them alike. The consumer drains between batches, outside the timing, in the same
//! process (the ring's memory is the same shared mapping it would be across processes).

use std::hint::black_box;
use std::time::Instant;

use stemcheck_bus::{BlockInfo, LaneConfig, PositionSource, lane_pair};
use stemcheck_shm::{Namespace, RingConsumer, RingProducer};

const FRAMES: usize = 512;
/// Blocks per timed batch; the rings are drained between batches, outside the timing.
const BATCH: usize = 32;
const BATCHES_PER_ROUND: usize = 200;
const ROUNDS: usize = 31;
/// Ring capacity: a batch of 32 records of 4160 bytes (133,120) fits.
const RING_CAPACITY_BYTES: u64 = 1 << 18;

fn main() {
    let left: Vec<f32> = (0..FRAMES).map(|i| (i as f32 * 0.01).sin()).collect();
    let right: Vec<f32> = (0..FRAMES).map(|i| (i as f32 * 0.013).cos()).collect();
    let ns = Namespace::with_tag(&format!("bench{}", std::process::id())).unwrap();
    let name = ns.ring_name(u64::from(std::process::id()) << 32, 0);
    let mut shm_tx = RingProducer::create(&name, RING_CAPACITY_BYTES).unwrap();
    let mut shm_rx = RingConsumer::open(&name).unwrap();
    let (mut lane_tx, mut lane_rx) = lane_pair(LaneConfig::for_sample_rate(48_000.0));
    let mut scratch = vec![vec![0.0f32; 4096], vec![0.0f32; 4096]];
    let mut lane_scratch = [vec![0.0f32; 4096], vec![0.0f32; 4096]];
    // The plain copy writes into a buffer as large as a batch, at advancing offsets.
    let mut plain = vec![0.0f32; BATCH * FRAMES * 2];

    let mut shm_ns = Vec::with_capacity(ROUNDS);
    let mut lane_ns = Vec::with_capacity(ROUNDS);
    let mut copy_ns = Vec::with_capacity(ROUNDS);
    let mut pos = 0i64;
    let info = |pos| BlockInfo {
        pos_samples: pos,
        source: PositionSource::HostTransport,
        playing: true,
        sample_rate_hz: 48_000.0,
    };
    for _ in 0..ROUNDS {
        let (mut shm_total, mut lane_total, mut copy_total) = (0u128, 0u128, 0u128);
        for _ in 0..BATCHES_PER_ROUND {
            let start = Instant::now();
            for _ in 0..BATCH {
                black_box(shm_tx.push_block(black_box(&info(pos)), black_box(&[&left, &right])));
                pos += FRAMES as i64;
            }
            shm_total += start.elapsed().as_nanos();
            while shm_rx.pop_block(&mut scratch).unwrap().is_some() {}

            let start = Instant::now();
            for _ in 0..BATCH {
                black_box(lane_tx.push_block(black_box(&info(pos)), black_box(&[&left, &right])));
                pos += FRAMES as i64;
            }
            lane_total += start.elapsed().as_nanos();
            while lane_rx.pop_into(&mut lane_scratch).is_some() {}

            let start = Instant::now();
            for block in 0..BATCH {
                let offset = block * FRAMES * 2;
                plain[offset..offset + FRAMES].copy_from_slice(black_box(&left));
                plain[offset + FRAMES..offset + 2 * FRAMES].copy_from_slice(black_box(&right));
                black_box(&mut plain);
            }
            copy_total += start.elapsed().as_nanos();
        }
        let blocks = (BATCHES_PER_ROUND * BATCH) as f64;
        shm_ns.push(shm_total as f64 / blocks);
        lane_ns.push(lane_total as f64 / blocks);
        copy_ns.push(copy_total as f64 / blocks);
    }
    assert_eq!(
        shm_tx.stats().dropped_frames,
        0,
        "the benchmark must not measure drops"
    );
    assert_eq!(
        lane_tx.stats().load().1,
        0,
        "the benchmark must not measure drops"
    );

    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let shm = median(&mut shm_ns);
    let lane = median(&mut lane_ns);
    let copy = median(&mut copy_ns);
    println!("512-frame stereo block, median of {ROUNDS} rounds:");
    println!("  shared-memory ring push : {shm:8.1} ns/block");
    println!("  in-process lane push    : {lane:8.1} ns/block");
    println!("  plain copy              : {copy:8.1} ns/block");
    println!(
        "  shm push / copy         : {:8.2}x (target <= 3x)",
        shm / copy
    );
    println!("  lane push / copy        : {:8.2}x", lane / copy);
    println!("  shm push / lane push    : {:8.2}x", shm / lane);
    // `shm_tx` unlinks the segment's name when dropped here.
}
