//! An instance's metadata in its ring, the ring's closed flag, and the snapshot board: what is
//! published is read back byte for byte, a torn or garbage length reads as nothing, and a board
//! of garbage or another version is refused.

mod common;

use common::{TestNamespace, info, poke};
use stemcheck_shm::ring::{RING_META_MAX_BYTES, capacity_bytes_for};
use stemcheck_shm::{Board, LAYOUT_VERSION, RingConsumer, RingProducer, ShmError};

/// Offset of the ring's metadata seqlock (sequence, then length, then the bytes).
const META_AT: u64 = 384;
/// Offset of the layout version in every header.
const VERSION_AT: u64 = 8;
/// Offset of the first layout parameter (a board's slot count).
const PARAM0_AT: u64 = 24;

#[test]
fn metadata_is_read_back_as_published_and_garbage_reads_as_nothing() {
    let t = TestNamespace::new("meta");
    let name = t.name("ring-m");
    let mut tx = RingProducer::create(&name, capacity_bytes_for(48_000.0, 0.1)).unwrap();
    let writer = tx.take_meta_writer().unwrap();
    assert!(tx.take_meta_writer().is_none(), "one writer only");
    let rx = RingConsumer::open(&name).unwrap();
    let mut out = Vec::new();
    assert_eq!(rx.read_meta(&mut out), None, "nothing published yet");

    // 13 bytes: a length that is not a multiple of the 8-byte words.
    assert!(writer.publish(b"Drums|stem|A|"));
    let first = rx.read_meta(&mut out).unwrap();
    assert_eq!(out, b"Drums|stem|A|");
    let long: Vec<u8> = (0..RING_META_MAX_BYTES).map(|i| i as u8).collect();
    assert!(writer.publish(&long));
    let second = rx.read_meta(&mut out).unwrap();
    assert!(second > first);
    assert_eq!(out, long);
    assert!(
        !writer.publish(&vec![0; RING_META_MAX_BYTES + 1]),
        "too long"
    );
    assert_eq!(rx.meta_sequence(), second);

    // A length beyond the area, under an even sequence: garbage, read as nothing.
    poke(&name, META_AT + 8, &10_000u64.to_le_bytes());
    assert_eq!(rx.read_meta(&mut out), None);
    // A write that never finished (odd sequence): nothing, without waiting.
    poke(&name, META_AT, &(second + 1).to_le_bytes());
    assert_eq!(rx.read_meta(&mut out), None);
    // The writer takes it back (it is the only writer).
    assert!(writer.publish(b"Bass"));
    rx.read_meta(&mut out).unwrap();
    assert_eq!(out, b"Bass");

    // Closed: the producer is dropped, its last block still reads.
    assert!(!rx.is_producer_closed());
    tx.push_block(&info(0), &[&[0.5f32; 64][..]]);
    drop(tx);
    let mut rx = rx;
    assert!(rx.is_producer_closed());
    let mut buffers = vec![Vec::new(), Vec::new()];
    assert_eq!(rx.pop_block(&mut buffers).unwrap().unwrap().num_frames, 64);
    // The writer outlives the producer harmlessly.
    assert!(writer.publish(b"gone"));
}

#[test]
fn the_board_keeps_each_slot_with_its_writer() {
    let t = TestNamespace::new("board");
    let board = Board::open_or_create(&t.ns, 8, 4096).unwrap();
    // 4096 bytes less 16 of writer and time, less 16 of sequence and length.
    assert_eq!(board.capacity_bytes(), 4064);
    let reader = Board::open_or_create(&t.ns, 2, 128).unwrap();
    assert_eq!(reader.num_slots(), 8, "an existing board keeps its sizes");

    let mut out = Vec::new();
    assert_eq!(reader.read(3, &mut out), None);
    assert!(board.write(3, 0xabc, b"{\"group\":\"D\"}"));
    let value = reader.read(3, &mut out).unwrap();
    assert_eq!(out, b"{\"group\":\"D\"}");
    assert_eq!(value.writer_id, 0xabc);
    assert_eq!(reader.sequence(3), value.sequence);
    assert!(!board.write(3, 0xabc, &vec![1; 4065]), "too large");
    assert!(!board.write(8, 0xabc, b"x"), "no such slot");
    assert_eq!(reader.read(8, &mut out), None);
    let big = vec![7u8; 4064];
    assert!(board.write(3, 0xdef, &big));
    let value = reader.read(3, &mut out).unwrap();
    assert_eq!((out.len(), value.writer_id), (4064, 0xdef));
}

#[test]
fn a_board_of_garbage_or_another_version_is_refused() {
    let t = TestNamespace::new("boardbad");
    let board = Board::open_or_create(&t.ns, 8, 4096).unwrap();
    // Windows: a segment goes with its last handle; keep this one while it is poked.
    #[cfg(windows)]
    let _board = board;
    #[cfg(unix)]
    drop(board);
    let name = t.ns.board_name();
    poke(&name, VERSION_AT, &(LAYOUT_VERSION + 1).to_le_bytes());
    assert!(matches!(
        Board::open(&t.ns),
        Err(ShmError::OtherVersion { .. })
    ));
    poke(&name, VERSION_AT, &LAYOUT_VERSION.to_le_bytes());
    poke(&name, PARAM0_AT, &1000u64.to_le_bytes());
    assert!(matches!(
        Board::open(&t.ns),
        Err(ShmError::BadParameter { value: 1000, .. })
    ));
    poke(&name, PARAM0_AT, &8u64.to_le_bytes());
    assert!(Board::open(&t.ns).is_ok());
}
