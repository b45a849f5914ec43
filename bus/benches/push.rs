//! Benchmark of the audio thread's only work: pushing a 512-frame stereo block into a lane,
//! measured side by side with a plain copy of the same bytes into a preallocated buffer. Both
//! pushes are timed: the plain one, and the one the plugin makes, which also flushes subnormal
//! samples to zero in the host's buffer in the same pass.
//!
//! Run with `cargo bench -p stemcheck-bus --bench push`. Prints nanoseconds per block for each
//! and their ratios to the copy (target: the plugin's push <= 3x copy). Both are timed in interleaved rounds in the same
//! run, and the median round is reported, so machine noise hits both alike.

use std::hint::black_box;
use std::time::Instant;

use stemcheck_bus::{BlockInfo, LaneConfig, PositionSource, lane_pair};

const FRAMES: usize = 512;
/// Blocks per timed batch; the lane is drained between batches, outside the timing.
const BATCH: usize = 32;
const BATCHES_PER_ROUND: usize = 200;
const ROUNDS: usize = 31;

fn main() {
    let left: Vec<f32> = (0..FRAMES).map(|i| (i as f32 * 0.01).sin()).collect();
    let right: Vec<f32> = (0..FRAMES).map(|i| (i as f32 * 0.013).cos()).collect();
    // The host's buffers the flushing push works in, with a few subnormals (flushed on the first
    // pass; the flush costs the same whether a sample changes or not: it is branch-free).
    let mut host_left = left.clone();
    let mut host_right = right.clone();
    host_left[7] = f32::MIN_POSITIVE / 8.0;
    host_right[300] = -f32::MIN_POSITIVE / 2.0;
    let (mut producer, mut consumer) = lane_pair(LaneConfig::for_sample_rate(48_000.0));
    let mut scratch = [vec![0.0f32; 4096], vec![0.0f32; 4096]];
    // The plain copy writes into a buffer as large as the lane's ring, at advancing offsets.
    let mut plain = vec![0.0f32; BATCH * FRAMES * 2];

    let mut push_ns = Vec::with_capacity(ROUNDS);
    let mut flush_ns = Vec::with_capacity(ROUNDS);
    let mut copy_ns = Vec::with_capacity(ROUNDS);
    let mut pos = 0i64;
    for _ in 0..ROUNDS {
        let mut push_total = 0u128;
        let mut flush_total = 0u128;
        let mut copy_total = 0u128;
        for _ in 0..BATCHES_PER_ROUND {
            let start = Instant::now();
            for _ in 0..BATCH {
                let info = BlockInfo {
                    pos_samples: pos,
                    source: PositionSource::HostTransport,
                    playing: true,
                    sample_rate_hz: 48_000.0,
                };
                black_box(producer.push_block(black_box(&info), black_box(&[&left, &right])));
                pos += FRAMES as i64;
            }
            push_total += start.elapsed().as_nanos();
            while consumer.pop_into(&mut scratch).is_some() {}

            let start = Instant::now();
            for _ in 0..BATCH {
                let info = BlockInfo {
                    pos_samples: pos,
                    source: PositionSource::HostTransport,
                    playing: true,
                    sample_rate_hz: 48_000.0,
                };
                let mut host = [&mut host_left[..], &mut host_right[..]];
                black_box(producer.push_block_flushing(black_box(&info), black_box(&mut host)));
                pos += FRAMES as i64;
            }
            flush_total += start.elapsed().as_nanos();
            while consumer.pop_into(&mut scratch).is_some() {}

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
        push_ns.push(push_total as f64 / blocks);
        flush_ns.push(flush_total as f64 / blocks);
        copy_ns.push(copy_total as f64 / blocks);
    }
    assert_eq!(
        producer.stats().load().1,
        0,
        "the benchmark must not measure drops"
    );

    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let push = median(&mut push_ns);
    let flush = median(&mut flush_ns);
    let copy = median(&mut copy_ns);
    println!("512-frame stereo block, median of {ROUNDS} rounds:");
    println!("  lane push                 : {push:8.1} ns/block");
    println!("  lane push, flushing (plug): {flush:8.1} ns/block");
    println!("  plain copy                : {copy:8.1} ns/block");
    println!("  push / copy               : {:8.2}x", push / copy);
    println!(
        "  flushing push / copy      : {:8.2}x (target <= 3x)",
        flush / copy
    );
}
