//! The fixed header at offset 0 of every segment, and its validation.
//!
//! Nothing else in a segment is read before [`SegmentHeader::validate`] has accepted the header
//! against the size actually mapped: a segment's bytes come from another process and may be
//! garbage, so every size and parameter is checked here, with checked arithmetic, before any
//! offset is derived from it.
//!
//! | offset | size | field                                        |
//! |-------:|-----:|----------------------------------------------|
//! |      0 |    8 | magic `b"STEMSHM\x01"`, written last at creation |
//! |      8 |    4 | layout version ([`LAYOUT_VERSION`])           |
//! |     12 |    4 | segment kind ([`SegmentKind`])                |
//! |     16 |    8 | total size in bytes                           |
//! |     24 |   32 | four layout parameters, per kind              |
//! |     56 |    8 | reserved (zero)                               |
//!
//! Every field is an atomic, so that a reader racing the creator (or a hostile writer) is never a
//! data race in Rust's sense: it only ever sees some value, which validation then judges.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::board::{
    BOARD_SLOTS_OFFSET, MAX_BOARD_SLOT_BYTES, MAX_BOARD_SLOTS, MIN_BOARD_SLOT_BYTES,
};
use crate::error::ShmError;
use crate::registry::{MAX_REAP_AFTER_MS, MIN_REAP_AFTER_MS, REGISTRY_SLOTS_OFFSET, SLOT_BYTES};
use crate::ring::{
    MAX_BLOCK_FRAMES, MAX_CHANNELS, MAX_RING_CAPACITY_BYTES, RECORD_ALIGN_BYTES, RING_DATA_OFFSET,
};

/// The first eight bytes of every Stemcheck segment, read as a little-endian u64.
pub const MAGIC: u64 = u64::from_le_bytes(*b"STEMSHM\x01");

/// Version of the whole layout (this header, the ring's and the registry's). Bumped on any
/// change of an offset, a size or a meaning; a segment of another version is refused with
/// [`ShmError::OtherVersion`]. Version 2: rings carry a closed flag and their instance's
/// metadata (a seqlock before the records); the snapshot board ([`SegmentKind::Board`]).
/// Version 3: a ring's consumer word holds its owner's term beside the tail (fencing, see
/// [`crate::ring`]); the registry counts leadership terms and says after how long a hung
/// member is reaped (its third parameter).
pub const LAYOUT_VERSION: u32 = 3;

/// Size of [`SegmentHeader`] in bytes.
pub const HEADER_BYTES: usize = 64;

/// Layout parameters per header.
pub const NUM_PARAMS: usize = 4;

/// Most registry slots a registry header may declare (the default registry has
/// [`crate::registry::DEFAULT_NUM_SLOTS`]); bounds what garbage can make us iterate over.
pub const MAX_REGISTRY_SLOTS: u64 = 4096;

/// What a segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum SegmentKind {
    /// One SPSC ring of audio blocks ([`crate::ring`]).
    Ring = 1,
    /// The per-user registry of live processes ([`crate::registry`]).
    Registry = 2,
    /// The snapshot board the elected core publishes to ([`crate::board`]).
    Board = 3,
}

/// The header at offset 0 of every segment. See the module docs for the layout.
#[repr(C)]
#[derive(Debug)]
pub struct SegmentHeader {
    /// [`MAGIC`]; stored last (Release) by the creator, so a reader that sees it sees the rest.
    magic: AtomicU64,
    /// [`LAYOUT_VERSION`] of the creator.
    layout_version: AtomicU32,
    /// [`SegmentKind`] as a raw u32.
    kind: AtomicU32,
    /// Size of the whole segment in bytes, header included.
    total_size_bytes: AtomicU64,
    /// Per-kind parameters. Ring: `[capacity_bytes, MAX_CHANNELS, MAX_BLOCK_FRAMES, 0]`.
    /// Registry: `[num_slots, SLOT_BYTES, reap_after_ms, 0]`. Board:
    /// `[num_slots, slot_bytes, 0, 0]`.
    params: [AtomicU64; NUM_PARAMS],
    /// Zero; room for a later field without moving the others.
    reserved: AtomicU64,
}

const _: () = assert!(std::mem::size_of::<SegmentHeader>() == HEADER_BYTES);

/// The parameters of a header that [`SegmentHeader::validate`] accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidHeader {
    /// The segment's kind.
    pub kind: SegmentKind,
    /// Its size in bytes, at most the mapped size.
    pub total_size_bytes: u64,
    /// Its layout parameters, checked for its kind.
    pub params: [u64; NUM_PARAMS],
}

impl SegmentHeader {
    /// Writes a fresh header into a zero-filled segment that nobody else has validated yet.
    pub(crate) fn init(&self, kind: SegmentKind, total_size_bytes: u64, params: [u64; NUM_PARAMS]) {
        self.layout_version.store(LAYOUT_VERSION, Ordering::Relaxed);
        self.kind.store(kind as u32, Ordering::Relaxed);
        self.total_size_bytes
            .store(total_size_bytes, Ordering::Relaxed);
        for (slot, value) in self.params.iter().zip(params) {
            slot.store(value, Ordering::Relaxed);
        }
        self.reserved.store(0, Ordering::Relaxed);
        // Release: every field above (and whatever the creator initialised before calling this)
        // is visible to a reader whose Acquire load of the magic sees it.
        self.magic.store(MAGIC, Ordering::Release);
    }

    /// The layout parameters a ring of `capacity_bytes` is created with.
    pub fn ring_params(capacity_bytes: u64) -> [u64; NUM_PARAMS] {
        [
            capacity_bytes,
            MAX_CHANNELS as u64,
            MAX_BLOCK_FRAMES as u64,
            0,
        ]
    }

    /// The layout parameters a registry of `num_slots` is created with, whose hung members
    /// are reaped after `reap_after_ms`.
    pub fn registry_params(num_slots: u64, reap_after_ms: u64) -> [u64; NUM_PARAMS] {
        [num_slots, SLOT_BYTES as u64, reap_after_ms, 0]
    }

    /// The layout parameters a board of `num_slots` slots of `slot_bytes` is created with.
    pub fn board_params(num_slots: u64, slot_bytes: u64) -> [u64; NUM_PARAMS] {
        [num_slots, slot_bytes, 0, 0]
    }

    /// Total segment size in bytes for a kind's parameters (`None` on overflow).
    pub fn total_size_for(kind: SegmentKind, params: &[u64; NUM_PARAMS]) -> Option<u64> {
        match kind {
            SegmentKind::Ring => (RING_DATA_OFFSET as u64).checked_add(params[0]),
            SegmentKind::Registry => params[0]
                .checked_mul(SLOT_BYTES as u64)?
                .checked_add(REGISTRY_SLOTS_OFFSET as u64),
            SegmentKind::Board => params[0]
                .checked_mul(params[1])?
                .checked_add(BOARD_SLOTS_OFFSET as u64),
        }
    }

    /// Checks everything in the header against `expected` and the `mapped_bytes` actually
    /// mapped, before anything else in the segment is read: magic, version, kind, total size
    /// (not more than mapped, not less than the kind's fixed layout) and the kind's parameters
    /// (capacity a power of two within the mapping, slot count and size as this build has them).
    pub fn validate(
        &self,
        name: &str,
        expected: SegmentKind,
        mapped_bytes: u64,
    ) -> Result<ValidHeader, ShmError> {
        // Acquire: pairs with the creator's Release store in `init`, so the fields below are the
        // creator's (or, for garbage, whatever is there: every value is checked).
        let magic = self.magic.load(Ordering::Acquire);
        if magic != MAGIC {
            return Err(ShmError::BadMagic {
                name: name.to_owned(),
                found: magic,
            });
        }
        let version = self.layout_version.load(Ordering::Relaxed);
        if version != LAYOUT_VERSION {
            return Err(ShmError::OtherVersion {
                name: name.to_owned(),
                found: version,
                expected: LAYOUT_VERSION,
            });
        }
        let kind = self.kind.load(Ordering::Relaxed);
        if kind != expected as u32 {
            return Err(ShmError::WrongKind {
                name: name.to_owned(),
                found: kind,
                expected,
            });
        }
        let total_size_bytes = self.total_size_bytes.load(Ordering::Relaxed);
        if total_size_bytes > mapped_bytes {
            return Err(ShmError::TooSmall {
                name: name.to_owned(),
                actual_bytes: mapped_bytes,
                needed_bytes: total_size_bytes,
            });
        }
        let params: [u64; NUM_PARAMS] =
            std::array::from_fn(|i| self.params[i].load(Ordering::Relaxed));
        let bad = |what: &'static str, value: u64| ShmError::BadParameter {
            name: name.to_owned(),
            what,
            value,
        };
        match expected {
            SegmentKind::Ring => {
                let capacity = params[0];
                if capacity == 0
                    || !capacity.is_power_of_two()
                    || capacity < RECORD_ALIGN_BYTES as u64
                    || capacity > MAX_RING_CAPACITY_BYTES
                {
                    return Err(bad(
                        "capacity_bytes (a power of two from 64 bytes to 1 GiB)",
                        capacity,
                    ));
                }
                if params[1] != MAX_CHANNELS as u64 {
                    return Err(bad("max_channels (must be this build's)", params[1]));
                }
                if params[2] != MAX_BLOCK_FRAMES as u64 {
                    return Err(bad("max_block_frames (must be this build's)", params[2]));
                }
            }
            SegmentKind::Registry => {
                if params[0] == 0 || params[0] > MAX_REGISTRY_SLOTS {
                    return Err(bad("num_slots (1 to 4096)", params[0]));
                }
                if params[1] != SLOT_BYTES as u64 {
                    return Err(bad("slot_bytes (must be this build's)", params[1]));
                }
                if !(MIN_REAP_AFTER_MS..=MAX_REAP_AFTER_MS).contains(&params[2]) {
                    return Err(bad("reap_after_ms (1000 to 3600000)", params[2]));
                }
            }
            SegmentKind::Board => {
                if params[0] == 0 || params[0] > MAX_BOARD_SLOTS {
                    return Err(bad("num_slots (1 to 64)", params[0]));
                }
                if params[1] < MIN_BOARD_SLOT_BYTES
                    || params[1] > MAX_BOARD_SLOT_BYTES
                    || !params[1].is_multiple_of(64)
                {
                    return Err(bad(
                        "slot_bytes (a multiple of 64 from 128 bytes to 8 MiB)",
                        params[1],
                    ));
                }
            }
        }
        // The parameters fix the size: a header whose size disagrees is refused, so that no
        // offset derived from the parameters can reach past `total_size_bytes`, and so past the
        // mapping.
        match Self::total_size_for(expected, &params) {
            Some(needed) if needed == total_size_bytes => {}
            Some(_) => {
                return Err(bad(
                    "total_size_bytes (disagrees with the layout parameters)",
                    total_size_bytes,
                ));
            }
            None => return Err(bad("layout parameters (size overflows)", params[0])),
        }
        Ok(ValidHeader {
            kind: expected,
            total_size_bytes,
            params,
        })
    }
}
