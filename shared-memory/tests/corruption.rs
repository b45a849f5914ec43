//! Garbage in a segment is refused with the right error: never a panic, never a read out of
//! bounds. Headers (magic, version, kind, size, capacity), truncated files, the ring's shared
//! indices, record headers, and seeded random bytes over all of it.

mod common;

#[cfg(unix)]
use common::truncate;
use common::{TestNamespace, info, peek, poke, signal};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use stemcheck_bus::PushOutcome;
use stemcheck_shm::ring::{MAX_BLOCK_FRAMES, RING_DATA_OFFSET};
use stemcheck_shm::{
    LAYOUT_VERSION, Namespace, Registry, RingConsumer, RingProducer, Segment, SegmentKind, ShmError,
};

const CAPACITY_BYTES: u64 = 1 << 14;
/// Byte offsets of the header fields and the ring's indices (see the module docs).
const MAGIC_AT: u64 = 0;
const VERSION_AT: u64 = 8;
const KIND_AT: u64 = 12;
const TOTAL_AT: u64 = 16;
const CAPACITY_AT: u64 = 24;
const MAX_CHANNELS_AT: u64 = 32;
const HEAD_AT: u64 = 128;
/// The consumer word: owner term in the high 32 bits, the tail (mod 2^32) in the low ones.
const TAIL_AT: u64 = 256;
/// The registry's third parameter: its reap timeout in milliseconds.
const REAP_AFTER_AT: u64 = 40;
const DATA_AT: u64 = RING_DATA_OFFSET as u64;
/// Offsets inside a record header.
const REC_BYTES_AT: u64 = 24;
const REC_FRAMES_AT: u64 = 32;
const REC_CHANNELS_AT: u64 = 40;
const REC_SOURCE_AT: u64 = 43;

/// A ring segment with one 256-frame stereo record in it, its producer and its name.
fn ring_with_one_record(t: &TestNamespace) -> (RingProducer, String) {
    let name = t.name("ring");
    let mut tx = RingProducer::create(&name, CAPACITY_BYTES).unwrap();
    let a = signal(9, 0, 0, 256);
    assert_eq!(tx.push_block(&info(0), &[&a, &a]), PushOutcome::Pushed);
    (tx, name)
}

fn open_err(name: &str) -> ShmError {
    RingConsumer::open(name).expect_err("a corrupt segment must be refused")
}

#[test]
fn wrong_magic_version_and_kind_are_refused() {
    let t = TestNamespace::new("hdr");
    let (_tx, name) = ring_with_one_record(&t);
    assert!(RingConsumer::open(&name).is_ok());

    poke(&name, KIND_AT, &2u32.to_le_bytes());
    assert!(matches!(
        open_err(&name),
        ShmError::WrongKind {
            found: 2,
            expected: SegmentKind::Ring,
            ..
        }
    ));
    // A ring is not a registry either.
    poke(&name, KIND_AT, &1u32.to_le_bytes());
    assert!(matches!(
        Segment::open(&name, SegmentKind::Registry),
        Err(ShmError::WrongKind { found: 1, .. })
    ));

    poke(&name, VERSION_AT, &99u32.to_le_bytes());
    let err = open_err(&name);
    assert!(
        matches!(
            err,
            ShmError::OtherVersion {
                found: 99,
                expected: LAYOUT_VERSION,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("cannot join: other version"),
        "{err}"
    );
    poke(&name, VERSION_AT, &LAYOUT_VERSION.to_le_bytes());

    poke(&name, MAGIC_AT, b"NOTSTEM!");
    assert!(
        matches!(open_err(&name), ShmError::BadMagic { found, .. } if found == u64::from_le_bytes(*b"NOTSTEM!"))
    );
}

#[cfg(unix)]
#[test]
fn truncated_segments_are_refused() {
    let t = TestNamespace::new("trunc");
    let (tx, name) = ring_with_one_record(&t);
    // The producer's own mapping is cut short too: dropping it would store its closed flag
    // past the new end of the file (SIGBUS, the README's "not covered" case of a same-user
    // process shrinking a segment). Its name is unlinked with the namespace.
    let tx = std::mem::ManuallyDrop::new(tx);
    let full = RING_DATA_OFFSET as u64 + CAPACITY_BYTES;
    // Cut inside the data area: the header says more than the file holds.
    truncate(&name, full - 64);
    assert!(matches!(
        open_err(&name),
        ShmError::TooSmall { actual_bytes, needed_bytes, .. } if actual_bytes == full - 64 && needed_bytes == full
    ));
    // Cut inside the header.
    truncate(&name, 10);
    assert!(matches!(
        open_err(&name),
        ShmError::TooSmall {
            actual_bytes: 10,
            needed_bytes: 64,
            ..
        }
    ));
    truncate(&name, 0);
    assert!(matches!(
        open_err(&name),
        ShmError::TooSmall {
            actual_bytes: 0,
            ..
        }
    ));
    assert_eq!(tx.name(), name);
}

/// Windows: a mapping's size is fixed, so a short segment is one made short: a one-page
/// mapping whose header (a real ring's) says it is longer. The view's size, whole pages
/// (`VirtualQuery`), is what the header must fit in.
#[cfg(windows)]
#[test]
fn a_mapping_smaller_than_its_header_says_is_refused() {
    use common::{create_raw, private_sddl};

    /// One page: less than the ring's fixed part and data.
    const SHORT_BYTES: u32 = 4096;
    let t = TestNamespace::new("short");
    let (_tx, name) = ring_with_one_record(&t);
    let full = RING_DATA_OFFSET as u64 + CAPACITY_BYTES;
    let header = peek(&name, 0, 64);
    let short = t.name("short");
    let _handle = create_raw(&short, SHORT_BYTES, &private_sddl()).unwrap();
    poke(&short, 0, &header);
    let err = open_err(&short);
    assert!(
        matches!(
            err,
            ShmError::TooSmall { actual_bytes, needed_bytes, .. }
                if actual_bytes == u64::from(SHORT_BYTES) && needed_bytes == full
        ),
        "{err}"
    );
}

#[test]
fn garbage_capacity_and_size_are_refused() {
    let t = TestNamespace::new("cap");
    let (_tx, name) = ring_with_one_record(&t);
    for bad in [0u64, 3, 1000, 32, 1 << 40, u64::MAX, CAPACITY_BYTES * 2] {
        poke(&name, CAPACITY_AT, &bad.to_le_bytes());
        assert!(
            matches!(open_err(&name), ShmError::BadParameter { value, .. } if value == bad
                || value == RING_DATA_OFFSET as u64 + CAPACITY_BYTES),
            "capacity {bad}"
        );
    }
    poke(&name, CAPACITY_AT, &CAPACITY_BYTES.to_le_bytes());
    // A total size larger than the file: refused before anything is read past the header.
    poke(&name, TOTAL_AT, &(1u64 << 50).to_le_bytes());
    assert!(
        matches!(open_err(&name), ShmError::TooSmall { needed_bytes, .. } if needed_bytes == 1 << 50)
    );
    // A total size smaller than the layout needs for the capacity.
    poke(&name, TOTAL_AT, &100u64.to_le_bytes());
    assert!(matches!(
        open_err(&name),
        ShmError::BadParameter { value: 100, .. }
    ));
    poke(
        &name,
        TOTAL_AT,
        &(RING_DATA_OFFSET as u64 + CAPACITY_BYTES).to_le_bytes(),
    );
    poke(&name, MAX_CHANNELS_AT, &8u64.to_le_bytes());
    assert!(matches!(
        open_err(&name),
        ShmError::BadParameter { value: 8, .. }
    ));
    poke(&name, MAX_CHANNELS_AT, &2u64.to_le_bytes());
    assert!(RingConsumer::open(&name).is_ok());
}

/// Opens a consumer, applies `corrupt`, and checks that the next pop is a `CorruptRing`
/// saying `what`, and that the ring then stays broken.
fn pop_is_corrupt(what: &str, corrupt: impl FnOnce(&str)) {
    let t = TestNamespace::new("idx");
    let (_tx, name) = ring_with_one_record(&t);
    let mut rx = RingConsumer::open(&name).unwrap();
    corrupt(&name);
    let mut out = vec![Vec::new(), Vec::new()];
    match rx.pop_block(&mut out) {
        Err(ShmError::CorruptRing { what: found, .. }) => {
            assert!(found.contains(what), "{what}: got {found:?}")
        }
        other => panic!("{what}: expected CorruptRing, got {other:?}"),
    }
    assert!(rx.is_broken());
    assert!(matches!(
        rx.pop_block(&mut out),
        Err(ShmError::Broken { .. })
    ));
    // The flag is in shared memory: a consumer that opens the ring later sees it too.
    assert!(RingConsumer::open(&name).unwrap().is_broken());
    // Nothing was written past the buffers' own length (the pop grew them at most to the
    // block, and these pops stopped before any copy).
    assert!(out.iter().all(|c| c.len() <= MAX_BLOCK_FRAMES));
}

#[test]
fn garbage_indices_and_record_headers_end_the_read_with_an_error() {
    // Head far beyond tail.
    pop_is_corrupt("beyond the capacity", |name| {
        poke(name, HEAD_AT, &(1u64 << 60).to_le_bytes())
    });
    pop_is_corrupt("beyond the capacity", |name| {
        poke(name, HEAD_AT, &u64::MAX.to_le_bytes())
    });
    // A tail off a record boundary, as a consumer before us might have left it.
    let t = TestNamespace::new("tailalign");
    let (_tx, name) = ring_with_one_record(&t);
    poke(&name, TAIL_AT, &8u64.to_le_bytes());
    poke(&name, HEAD_AT, &(8u64 + 2112).to_le_bytes());
    let mut rx = RingConsumer::open(&name).unwrap();
    let mut out = vec![Vec::new(), Vec::new()];
    assert!(matches!(
        rx.pop_block(&mut out),
        Err(ShmError::CorruptRing { what, tail: 8, .. }) if what.contains("tail is not on a record boundary")
    ));
    // Head behind tail: the consumer has read the record (tail 2112), then head goes back.
    let t = TestNamespace::new("behind");
    let (_tx, name) = ring_with_one_record(&t);
    let mut rx = RingConsumer::open(&name).unwrap();
    assert!(rx.pop_block(&mut out).unwrap().is_some());
    poke(&name, HEAD_AT, &64u64.to_le_bytes());
    assert!(matches!(
        rx.pop_block(&mut out),
        Err(ShmError::CorruptRing { what, tail: 2112, .. }) if what.contains("behind tail")
    ));
    // Head not on a record boundary.
    pop_is_corrupt("record boundary", |name| {
        poke(name, HEAD_AT, &100u64.to_le_bytes())
    });
    // A record header with more frames than any record may have.
    pop_is_corrupt("frames", |name| {
        poke(
            name,
            DATA_AT + REC_FRAMES_AT,
            &((MAX_BLOCK_FRAMES as u32) + 1).to_le_bytes(),
        )
    });
    pop_is_corrupt("frames", |name| {
        poke(name, DATA_AT + REC_FRAMES_AT, &u32::MAX.to_le_bytes())
    });
    pop_is_corrupt("frames", |name| {
        poke(name, DATA_AT + REC_FRAMES_AT, &0u32.to_le_bytes())
    });
    // More frames than were pushed, still a legal record size, but past head.
    pop_is_corrupt("available", |name| {
        poke(name, DATA_AT + REC_FRAMES_AT, &4000u32.to_le_bytes());
        poke(
            name,
            DATA_AT + REC_BYTES_AT,
            &(64u64 + 4000 * 8).to_le_bytes(),
        );
    });
    pop_is_corrupt("record says", |name| {
        poke(name, DATA_AT + REC_BYTES_AT, &12345u64.to_le_bytes())
    });
    pop_is_corrupt("channels", |name| {
        poke(name, DATA_AT + REC_CHANNELS_AT, &3u16.to_le_bytes())
    });
    pop_is_corrupt("channels", |name| {
        poke(name, DATA_AT + REC_CHANNELS_AT, &0u16.to_le_bytes())
    });
    pop_is_corrupt("source", |name| poke(name, DATA_AT + REC_SOURCE_AT, &[7]));
}

#[test]
fn a_garbage_tail_makes_the_producer_drop_never_write() {
    let t = TestNamespace::new("tail");
    let (mut tx, name) = ring_with_one_record(&t);
    let before = peek(&name, DATA_AT, CAPACITY_BYTES as usize);
    let a = signal(10, 0, 0, 64);
    // Head is 2112 (one record). Tails ahead of it (a huge distance modulo 2^32), off a
    // record boundary, or both; one under an owner term.
    let tails = [
        1u64 << 30,
        u64::from(u32::MAX) - 5,
        12_345_678,
        (7 << 32) | (1 << 30),
    ];
    for tail in tails {
        poke(&name, TAIL_AT, &tail.to_le_bytes());
        assert_eq!(
            tx.push_block(&info(0), &[&a]),
            PushOutcome::Dropped,
            "tail {tail}"
        );
    }
    assert_eq!(
        peek(&name, DATA_AT, CAPACITY_BYTES as usize),
        before,
        "data untouched"
    );
    assert_eq!(tx.stats().dropped_frames, tails.len() as u64 * 64);
}

#[test]
fn seeded_random_bytes_never_panic_or_read_out_of_bounds() {
    let t = TestNamespace::new("fuzz");
    let mut rng = SmallRng::seed_from_u64(0x5eed);
    let (mut refused_header, mut corrupt_reads, mut ok_reads) = (0, 0, 0);
    for round in 0..300 {
        let name = t.name(&format!("f{round}"));
        let tx = RingProducer::create(&name, CAPACITY_BYTES).unwrap();
        let total = RING_DATA_OFFSET + CAPACITY_BYTES as usize;
        match round % 3 {
            // Random bytes over everything: the header is refused.
            0 => {
                let garbage: Vec<u8> = (0..total).map(|_| rng.r#gen()).collect();
                poke(&name, 0, &garbage);
            }
            // Random bytes after a valid header: indices and records are garbage.
            1 => {
                let garbage: Vec<u8> = (0..total - 64).map(|_| rng.r#gen()).collect();
                poke(&name, 64, &garbage);
            }
            // Plausible indices (small, aligned), random records.
            _ => {
                let garbage: Vec<u8> = (0..CAPACITY_BYTES as usize).map(|_| rng.r#gen()).collect();
                poke(&name, DATA_AT, &garbage);
                let head = rng.gen_range(0..=CAPACITY_BYTES / 64) * 64;
                poke(&name, HEAD_AT, &head.to_le_bytes());
            }
        }
        // The highest term: whatever owner term the garbage holds, the claim wins, and the
        // indices and records are what is tested.
        match RingConsumer::open_claiming(&name, u32::MAX) {
            Err(ShmError::BadMagic { .. }) => refused_header += 1,
            Err(e) => panic!("round {round}: unexpected open error {e}"),
            Ok(mut rx) => {
                let mut out = vec![Vec::new(), Vec::new()];
                for _ in 0..64 {
                    match rx.pop_block(&mut out) {
                        Ok(Some(h)) => {
                            ok_reads += 1;
                            assert!(h.num_frames as usize <= MAX_BLOCK_FRAMES);
                        }
                        Ok(None) => break,
                        Err(ShmError::CorruptRing { .. } | ShmError::Broken { .. }) => {
                            corrupt_reads += 1;
                            break;
                        }
                        Err(e) => panic!("round {round}: unexpected pop error {e}"),
                    }
                }
                assert!(out.iter().all(|c| c.len() <= MAX_BLOCK_FRAMES));
            }
        }
        drop(tx);
    }
    assert_eq!(refused_header, 100, "every random header refused");
    assert!(
        corrupt_reads >= 150,
        "{corrupt_reads} corrupt reads, {ok_reads} ok"
    );
}

#[test]
fn a_registry_of_garbage_or_another_version_is_refused() {
    let t = TestNamespace::new("reg");
    let ns: &Namespace = &t.ns;
    let registry = Registry::open_or_create(ns).unwrap();
    let name = registry.name().to_owned();
    // Windows: a segment goes with its last handle; keep this one while it is poked.
    #[cfg(windows)]
    let _registry = registry;
    #[cfg(unix)]
    drop(registry);
    let other = LAYOUT_VERSION + 1;
    poke(&name, VERSION_AT, &other.to_le_bytes());
    let err = Registry::open_or_create(ns).unwrap_err();
    assert!(
        matches!(err, ShmError::OtherVersion { found, .. } if found == other),
        "{err}"
    );
    assert!(
        err.to_string().starts_with("cannot join: other version"),
        "{err}"
    );
    poke(&name, VERSION_AT, &LAYOUT_VERSION.to_le_bytes());
    // num_slots garbage.
    poke(&name, CAPACITY_AT, &1_000_000u64.to_le_bytes());
    assert!(matches!(
        Registry::open_or_create(ns),
        Err(ShmError::BadParameter {
            value: 1_000_000,
            ..
        })
    ));
    poke(&name, CAPACITY_AT, &64u64.to_le_bytes());
    assert!(Registry::open_or_create(ns).is_ok());
    // A reap timeout below the leader timeout's margin, or none.
    for reap_after_ms in [0u64, 999, 3_600_001] {
        poke(&name, REAP_AFTER_AT, &reap_after_ms.to_le_bytes());
        assert!(
            matches!(
                Registry::open_or_create(ns),
                Err(ShmError::BadParameter { value, .. }) if value == reap_after_ms
            ),
            "{reap_after_ms}"
        );
    }
    poke(&name, REAP_AFTER_AT, &5_000u64.to_le_bytes());
    assert!(Registry::open_or_create(ns).is_ok());
}
