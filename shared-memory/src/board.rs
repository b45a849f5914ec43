//! The snapshot board: one segment per namespace (`<prefix>-board`) where the elected analysis
//! core publishes each group's snapshot as bytes, for editors in other processes and binaries.
//! Each slot is a `crate::seqlock` region with the writer's id and the time of publication
//! in front, so that a reader can tell a snapshot of the current leader from one a dead leader
//! left behind.
//!
//! # Layout (after the 64-byte [`crate::header::SegmentHeader`])
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 64 + slot_bytes * i | 8 | writer: the registry id of the process that wrote slot `i` |
//! | +8 | 8 | published at, [`crate::monotonic_ns`] ns |
//! | +16 | slot_bytes - 16 | seqlock: sequence, length, value |
//!
//! Writers and published times are plain values read on their own (Relaxed): a reader checks
//! them against the registry's leader, and a stale or mismatching one only hides a snapshot.

use std::sync::atomic::Ordering;

use crate::error::ShmError;
use crate::header::{SegmentHeader, SegmentKind};
use crate::os;
use crate::segment::{Namespace, Segment};
use crate::seqlock::{SEQLOCK_HEADER_BYTES, SeqlockRegion};

/// Offset of slot 0.
pub const BOARD_SLOTS_OFFSET: usize = 64;
/// Bytes in front of a slot's seqlock (writer id, published time).
const SLOT_PREFIX_BYTES: usize = 16;
/// Most slots a board header may declare.
pub const MAX_BOARD_SLOTS: u64 = 64;
/// Smallest slot a board header may declare, in bytes.
pub const MIN_BOARD_SLOT_BYTES: u64 = 128;
/// Largest slot a board header may declare, in bytes (8 MiB; with 64 slots the board stays
/// under the largest segment any open maps).
pub const MAX_BOARD_SLOT_BYTES: u64 = 8 << 20;
/// A slot whose write has been under way (odd sequence) this long is taken for the leftover of
/// a writer that died mid-write, and may be overwritten.
const STUCK_WRITE_NS: u64 = 1_000_000_000;

/// What [`Board::read`] found besides the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoardValue {
    /// The registry id of the writer.
    pub writer_id: u64,
    /// When it was published, [`crate::monotonic_ns`] nanoseconds.
    pub published_ns: u64,
    /// The seqlock sequence it was read at (changes with every publication).
    pub sequence: u64,
}

/// A namespace's snapshot board, mapped.
#[derive(Debug)]
pub struct Board {
    /// The mapped segment (header validated as a board).
    segment: Segment,
    /// Slots, from the validated header.
    num_slots: usize,
    /// Bytes per slot, from the validated header (a multiple of 64).
    slot_bytes: usize,
}

impl Board {
    /// Opens the namespace's board, creating it with `num_slots` slots of `slot_bytes` if there
    /// is none. An existing board keeps its sizes (whoever created it chose them); a board of
    /// another layout version is [`ShmError::OtherVersion`]. Not for the audio thread.
    pub fn open_or_create(
        namespace: &Namespace,
        num_slots: usize,
        slot_bytes: usize,
    ) -> Result<Self, ShmError> {
        let name = namespace.board_name();
        for _ in 0..3 {
            match Segment::create(
                &name,
                SegmentKind::Board,
                SegmentHeader::board_params(num_slots as u64, slot_bytes as u64),
            ) {
                Ok(segment) => return Ok(Self::from_segment(segment)),
                Err(e) if e.is_already_exists() => {}
                Err(e) => return Err(e),
            }
            match Self::open(namespace) {
                Err(e) if e.is_not_found() => continue,
                // A creator between `ftruncate` and its header: give it a moment.
                Err(ShmError::BadMagic { found: 0, .. }) => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                other => return other,
            }
        }
        Self::open(namespace)
    }

    /// Opens the namespace's existing board.
    pub fn open(namespace: &Namespace) -> Result<Self, ShmError> {
        Segment::open(&namespace.board_name(), SegmentKind::Board).map(Self::from_segment)
    }

    fn from_segment(segment: Segment) -> Self {
        let params = segment.header().params;
        Self {
            num_slots: params[0] as usize,
            slot_bytes: params[1] as usize,
            segment,
        }
    }

    /// Slots on this board.
    pub fn num_slots(&self) -> usize {
        self.num_slots
    }

    /// The largest value one slot holds, in bytes.
    pub fn capacity_bytes(&self) -> usize {
        self.slot_bytes - SLOT_PREFIX_BYTES - SEQLOCK_HEADER_BYTES
    }

    fn slot_offset(&self, slot: usize) -> usize {
        BOARD_SLOTS_OFFSET + slot * self.slot_bytes
    }

    fn region(&self, slot: usize) -> SeqlockRegion {
        SeqlockRegion {
            offset: self.slot_offset(slot) + SLOT_PREFIX_BYTES,
            capacity_bytes: self.capacity_bytes(),
        }
    }

    /// Publishes `value` in `slot` as `writer_id`. Returns `false` if the slot does not exist,
    /// the value is larger than [`Self::capacity_bytes`], or another writer is in the middle
    /// of a write (then this publication is skipped; the next one goes through). Never waits.
    pub fn write(&self, slot: usize, writer_id: u64, value: &[u8]) -> bool {
        if slot >= self.num_slots {
            return false;
        }
        let at = self.slot_offset(slot);
        let now_ns = os::monotonic_ns();
        // Relaxed: a value read on its own (see the module docs).
        let published_ns = self.segment.atomic_u64(at + 8).load(Ordering::Relaxed);
        let stuck = now_ns.saturating_sub(published_ns) > STUCK_WRITE_NS;
        // After the value: a reader may see the new value under the old writer for a moment
        // (it then hides it until the next read), never another writer's value under ours.
        if !self.region(slot).write(&self.segment, value, stuck) {
            return false;
        }
        self.segment
            .atomic_u64(at)
            .store(writer_id, Ordering::Relaxed);
        self.segment
            .atomic_u64(at + 8)
            .store(now_ns, Ordering::Relaxed);
        true
    }

    /// Copies slot `slot`'s value into `out`; `None` if the slot does not exist, was never
    /// written, or is being written over and over.
    pub fn read(&self, slot: usize, out: &mut Vec<u8>) -> Option<BoardValue> {
        if slot >= self.num_slots {
            return None;
        }
        let at = self.slot_offset(slot);
        let sequence = self.region(slot).read(&self.segment, out)?;
        // Relaxed: values read on their own.
        Some(BoardValue {
            writer_id: self.segment.atomic_u64(at).load(Ordering::Relaxed),
            published_ns: self.segment.atomic_u64(at + 8).load(Ordering::Relaxed),
            sequence,
        })
    }

    /// The slot's sequence now (changes with every publication; 0 never written), to skip
    /// copying a value already read.
    pub fn sequence(&self, slot: usize) -> u64 {
        if slot >= self.num_slots {
            return 0;
        }
        self.region(slot).sequence(&self.segment)
    }
}
