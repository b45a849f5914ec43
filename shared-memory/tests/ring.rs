//! The ring in one process: bit-identical round trips in random block sizes with wraparound,
//! and exact accounting of drops when it is full.

mod common;

use common::{BlockSizes, TestNamespace, bits, info, signal};
use stemcheck_bus::PushOutcome;
use stemcheck_shm::ring::{MAX_BLOCK_FRAMES, record_bytes};
use stemcheck_shm::{RingConsumer, RingProducer, ShmError};

/// A small ring, so that the data area wraps around many times.
const SMALL_CAPACITY_BYTES: u64 = 1 << 16;

#[test]
fn random_block_sizes_round_trip_bit_identical_through_many_wraparounds() {
    let t = TestNamespace::new("roundtrip");
    let name = t.name("ring");
    let mut tx = RingProducer::create(&name, SMALL_CAPACITY_BYTES).unwrap();
    let mut rx = RingConsumer::open(&name).unwrap();
    const SEED: u64 = 7;
    const TOTAL_FRAMES: u64 = 400_000;
    // Up to 5000 frames: blocks beyond MAX_BLOCK_FRAMES go as two records.
    let mut sizes = BlockSizes::new(11, 5000);
    let mut out = vec![vec![0.0f32; MAX_BLOCK_FRAMES]; 2];
    let (mut pushed, mut popped, mut next_seq, mut records) = (0u64, 0u64, 0u64, 0u64);
    let mut record_bytes_total = 0u64;
    while popped < TOTAL_FRAMES {
        // Push while there is room; the consumer then drains a little.
        while pushed < TOTAL_FRAMES {
            let frames = sizes.next_size().min((TOTAL_FRAMES - pushed) as usize);
            if !tx.has_room_for(frames, 2) {
                break;
            }
            let left = signal(SEED, 0, pushed, frames);
            let right = signal(SEED, 1, pushed, frames);
            assert_eq!(
                tx.push_block(&info(pushed as i64), &[&left, &right]),
                PushOutcome::Pushed
            );
            pushed += frames as u64;
        }
        for _ in 0..3 {
            let Some(h) = rx.pop_block(&mut out).unwrap() else {
                break;
            };
            let frames = h.num_frames as usize;
            assert_eq!(h.seq, next_seq, "no record lost or repeated");
            assert_eq!(h.pos_samples, popped as i64);
            assert_eq!((h.num_channels, h.dropped_frames_before), (2, 0));
            assert!(h.playing);
            assert_eq!(h.sample_rate_hz, 48_000.0);
            for (channel, samples) in out.iter().enumerate() {
                assert_eq!(
                    bits(&samples[..frames]),
                    bits(&signal(SEED, channel, popped, frames)),
                    "record {next_seq} channel {channel}"
                );
            }
            next_seq += 1;
            records += 1;
            record_bytes_total += record_bytes(frames, 2) as u64;
            popped += frames as u64;
        }
    }
    assert_eq!(rx.pop_block(&mut out).unwrap(), None);
    let stats = rx.stats();
    assert_eq!(stats.pushed_frames, TOTAL_FRAMES);
    assert_eq!(stats.pushed_blocks, records);
    assert_eq!((stats.dropped_blocks, stats.dropped_frames), (0, 0));
    // 400k stereo frames are 3.2 MB of samples through a 64 KiB ring: ~49 wraparounds.
    assert!(
        record_bytes_total > 40 * SMALL_CAPACITY_BYTES,
        "{record_bytes_total} bytes through the ring"
    );
    assert!(records > 100, "{records} records");
}

#[test]
fn mono_and_wide_blocks_carry_their_channels_and_uneven_channels_are_cut() {
    let t = TestNamespace::new("channels");
    let name = t.name("ring");
    let mut tx = RingProducer::create(&name, SMALL_CAPACITY_BYTES).unwrap();
    let mut rx = RingConsumer::open(&name).unwrap();
    let a = signal(1, 0, 0, 100);
    let b = signal(1, 1, 0, 80);
    let c = signal(1, 2, 0, 100);
    tx.push_block(&info(0), &[&a]);
    // Three channels: the third is not carried; the second is shorter: 80 frames go.
    tx.push_block(&info(100), &[&a, &b, &c]);
    let mut out = vec![Vec::new(), Vec::new()];
    let h = rx.pop_block(&mut out).unwrap().unwrap();
    assert_eq!((h.num_frames, h.num_channels), (100, 1));
    assert_eq!(bits(&out[0][..100]), bits(&a));
    let h = rx.pop_block(&mut out).unwrap().unwrap();
    assert_eq!((h.num_frames, h.num_channels), (80, 2));
    assert_eq!(bits(&out[0][..80]), bits(&a[..80]));
    assert_eq!(bits(&out[1][..80]), bits(&b));
    let none: [&[f32]; 0] = [];
    assert_eq!(tx.push_block(&info(0), &none), PushOutcome::Empty);
    assert_eq!(rx.pop_block(&mut out).unwrap(), None);
}

#[test]
fn too_few_output_buffers_is_an_error_that_consumes_nothing() {
    let t = TestNamespace::new("dest");
    let name = t.name("ring");
    let mut tx = RingProducer::create(&name, SMALL_CAPACITY_BYTES).unwrap();
    let mut rx = RingConsumer::open(&name).unwrap();
    let a = signal(2, 0, 0, 64);
    tx.push_block(&info(0), &[&a, &a]);
    let mut one = vec![Vec::new()];
    assert!(matches!(
        rx.pop_block(&mut one),
        Err(ShmError::DestinationTooSmall {
            needed: 2,
            given: 1
        })
    ));
    assert!(!rx.is_broken());
    let mut two = vec![Vec::new(), Vec::new()];
    let h = rx.pop_block(&mut two).unwrap().unwrap();
    assert_eq!(h.seq, 0);
    assert_eq!(bits(&two[1][..64]), bits(&a));
}

#[test]
fn a_full_ring_counts_the_exact_dropped_frames_and_the_next_block_reports_them() {
    let t = TestNamespace::new("full");
    let name = t.name("ring");
    // 16384 bytes hold three 512-frame stereo records (3 * 4160 = 12480), not four (16640).
    let capacity = 16_384;
    assert_eq!(record_bytes(512, 2), 4160);
    let mut tx = RingProducer::create(&name, capacity).unwrap();
    let mut rx = RingConsumer::open(&name).unwrap();
    let block = |k: u64| [signal(3, 0, k * 512, 512), signal(3, 1, k * 512, 512)];
    for k in 0..6u64 {
        let expected = if k < 3 {
            PushOutcome::Pushed
        } else {
            PushOutcome::Dropped
        };
        assert_eq!(
            tx.push_block(&info(k as i64 * 512), &block(k)),
            expected,
            "block {k}"
        );
    }
    // A 100-frame mono block still fits in the 3904 bytes left (64 + 400 -> 512 bytes).
    let mono = signal(3, 0, 0, 100);
    assert_eq!(tx.push_block(&info(3072), &[&mono]), PushOutcome::Pushed);
    let stats = rx.stats();
    assert_eq!(
        (
            stats.dropped_blocks,
            stats.dropped_frames,
            stats.pushed_blocks
        ),
        (3, 1536, 4)
    );
    let mut out = vec![Vec::new(), Vec::new()];
    for k in 0..3u64 {
        let h = rx.pop_block(&mut out).unwrap().unwrap();
        assert_eq!((h.seq, h.dropped_frames_before), (k, 0));
        assert_eq!(bits(&out[1][..512]), bits(&block(k)[1]));
    }
    // The mono block got through after three drops: it says so, and its seq counts them.
    let h = rx.pop_block(&mut out).unwrap().unwrap();
    assert_eq!(
        (h.seq, h.dropped_frames_before, h.pos_samples),
        (6, 1536, 3072)
    );
    assert_eq!(bits(&out[0][..100]), bits(&mono));
    // Reported once: the next block says nothing was dropped before it.
    assert_eq!(tx.push_block(&info(3172), &block(7)), PushOutcome::Pushed);
    let h = rx.pop_block(&mut out).unwrap().unwrap();
    assert_eq!((h.seq, h.dropped_frames_before), (7, 0));
    // A record larger than the whole ring is always a counted drop, never a wait or a split.
    let huge = signal(3, 0, 0, MAX_BLOCK_FRAMES);
    let small_name = t.name("small");
    let mut small = RingProducer::create(&small_name, 4096).unwrap();
    assert_eq!(
        small.push_block(&info(0), &[&huge, &huge]),
        PushOutcome::Dropped
    );
    assert_eq!(small.stats().dropped_frames, MAX_BLOCK_FRAMES as u64);
}

#[test]
fn the_producer_unlinks_its_name_on_drop_and_the_consumer_keeps_reading() {
    let t = TestNamespace::new("unlink");
    let name = t.name("ring");
    let mut tx = RingProducer::create(&name, SMALL_CAPACITY_BYTES).unwrap();
    let mut rx = RingConsumer::open(&name).unwrap();
    let a = signal(4, 0, 0, 32);
    tx.push_block(&info(0), &[&a]);
    drop(tx);
    // Unix: the name is gone at once. Windows: it goes with the last handle, the consumer's.
    #[cfg(unix)]
    assert!(RingConsumer::open(&name).unwrap_err().is_not_found());
    let mut out = vec![Vec::new()];
    let h = rx.pop_block(&mut out).unwrap().unwrap();
    assert_eq!(bits(&out[0][..h.num_frames as usize]), bits(&a));
    #[cfg(windows)]
    {
        drop(rx);
        assert!(RingConsumer::open(&name).unwrap_err().is_not_found());
    }
    // Creating over an existing name is refused (O_EXCL).
    let _first = RingProducer::create(&t.name("twice"), 4096).unwrap();
    assert!(
        RingProducer::create(&t.name("twice"), 4096)
            .unwrap_err()
            .is_already_exists()
    );
}

#[test]
fn a_producer_thread_and_a_consumer_thread_stream_concurrently_bit_identical() {
    let t = TestNamespace::new("threads");
    let name = t.name("ring");
    // Small: the two threads meet at the boundary all the time.
    let mut tx = RingProducer::create(&name, 1 << 13).unwrap();
    let mut rx = RingConsumer::open(&name).unwrap();
    const SEED: u64 = 21;
    const TOTAL_FRAMES: u64 = 1_000_000;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let consumer = std::thread::spawn(move || {
        let mut out = vec![Vec::new(), Vec::new()];
        let (mut next, mut seq) = (0u64, 0u64);
        while next < TOTAL_FRAMES {
            assert!(std::time::Instant::now() < deadline, "consumer timed out");
            let Some(h) = rx.pop_block(&mut out).unwrap() else {
                std::hint::spin_loop();
                continue;
            };
            let frames = h.num_frames as usize;
            assert_eq!((h.seq, h.pos_samples), (seq, next as i64));
            for (channel, samples) in out.iter().enumerate() {
                assert_eq!(
                    bits(&samples[..frames]),
                    bits(&signal(SEED, channel, next, frames))
                );
            }
            seq += 1;
            next += frames as u64;
        }
        next
    });
    let mut sizes = BlockSizes::new(5, 700);
    let mut pos = 0u64;
    while pos < TOTAL_FRAMES {
        let frames = sizes.next_size().min((TOTAL_FRAMES - pos) as usize);
        let left = signal(SEED, 0, pos, frames);
        let right = signal(SEED, 1, pos, frames);
        while !tx.has_room_for(frames, 2) {
            assert!(std::time::Instant::now() < deadline, "producer timed out");
            std::thread::yield_now();
        }
        assert_eq!(
            tx.push_block(&info(pos as i64), &[&left, &right]),
            PushOutcome::Pushed
        );
        pos += frames as u64;
    }
    assert_eq!(consumer.join().unwrap(), TOTAL_FRAMES);
    assert_eq!(tx.stats().dropped_frames, 0);
}
