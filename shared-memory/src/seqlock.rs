//! A sequence lock over a region of a segment: one writer publishes a byte string of up to the
//! region's capacity, any number of readers (in any process) copy a consistent version of it
//! without ever blocking the writer. Used for an instance's metadata in its ring
//! ([`crate::ring::RingMetaWriter`]) and for the group snapshots on the board
//! ([`crate::board`]).
//!
//! # Layout (at the region's offset, 8-aligned)
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0 | 8 | sequence: odd while a write is under way, +2 per write |
//! | 8 | 8 | length of the value in bytes |
//! | 16 | capacity | the value, as little-endian `u64` words |
//!
//! Every byte is read and written through atomics, so a reader racing a writer (or a hostile
//! process) is no data race in the language's sense; it may see torn words, which the sequence
//! check then throws away. A length above the capacity is garbage and reads as nothing.

use std::sync::atomic::{Ordering, fence};

use crate::segment::Segment;

/// Bytes of the sequence and length words before the value.
pub const SEQLOCK_HEADER_BYTES: usize = 16;

/// Reads that found a write under way are tried again this many times before giving up (the
/// reader then keeps its previous value; a writer's update takes well under a microsecond for
/// metadata, a few for a snapshot).
const READ_ATTEMPTS: usize = 64;

/// The region of `capacity_bytes` (a multiple of 8) of value at `offset` in `segment`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeqlockRegion {
    /// Offset of the sequence word in the segment (8-aligned).
    pub offset: usize,
    /// Bytes the value may take (a multiple of 8).
    pub capacity_bytes: usize,
}

impl SeqlockRegion {
    fn word_offset(&self, index: usize) -> usize {
        self.offset + SEQLOCK_HEADER_BYTES + index * 8
    }

    /// Publishes `value` if the region is free: returns `false` (and writes nothing) if
    /// `value` is longer than the capacity, or if another write is under way and younger than
    /// the caller allows (`may_break_odd` says whether an odd sequence is taken for a writer
    /// that died mid-write and overwritten). Never waits.
    pub fn write(&self, segment: &Segment, value: &[u8], may_break_odd: bool) -> bool {
        if value.len() > self.capacity_bytes {
            return false;
        }
        let seq = segment.atomic_u64(self.offset);
        // Relaxed: the CAS below decides; its success ordering is what matters.
        let current = seq.load(Ordering::Relaxed);
        if current % 2 == 1 && !may_break_odd {
            return false;
        }
        let writing = (current | 1).wrapping_add(if current % 2 == 1 { 2 } else { 0 });
        // Acquire on success: a previous writer's words (published with its Release store
        // below) are ordered before ours. The CAS also keeps two writers (a former leader and
        // the new one, for a moment) from interleaving: one wins, the other skips this round.
        if seq
            .compare_exchange(current, writing, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        // Release fence: readers that see any word below also see the odd sequence (they load
        // the sequence again after an Acquire fence and compare), so a torn read is detected.
        fence(Ordering::Release);
        // Relaxed: published by the Release store of the even sequence below.
        segment
            .atomic_u64(self.offset + 8)
            .store(value.len() as u64, Ordering::Relaxed);
        for (index, chunk) in value.chunks(8).enumerate() {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            segment
                .atomic_u64(self.word_offset(index))
                .store(u64::from_le_bytes(word), Ordering::Relaxed);
        }
        // Release: every word above is visible to a reader whose Acquire load sees this even
        // sequence.
        seq.store(writing.wrapping_add(1), Ordering::Release);
        true
    }

    /// Copies the current value into `out` (cleared first). Returns the sequence it was read
    /// at (even, never 0: 0 means never written, and reads as `None`), or `None` if nothing
    /// was published, a write stayed under way over every attempt, or the length is garbage.
    /// Allocates only to grow `out`.
    pub fn read(&self, segment: &Segment, out: &mut Vec<u8>) -> Option<u64> {
        let seq = segment.atomic_u64(self.offset);
        for _ in 0..READ_ATTEMPTS {
            // Acquire: pairs with the writer's Release store of the even sequence.
            let before = seq.load(Ordering::Acquire);
            if before == 0 {
                return None;
            }
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            // Relaxed: ordered after `before` by its Acquire.
            let len = segment.atomic_u64(self.offset + 8).load(Ordering::Relaxed);
            if len > self.capacity_bytes as u64 {
                // A torn read or garbage: check the sequence to tell which.
                fence(Ordering::Acquire);
                if seq.load(Ordering::Relaxed) == before {
                    return None;
                }
                continue;
            }
            let len = len as usize;
            out.clear();
            for index in 0..len.div_ceil(8) {
                let word = segment
                    .atomic_u64(self.word_offset(index))
                    .load(Ordering::Relaxed)
                    .to_le_bytes();
                let take = (len - index * 8).min(8);
                out.extend_from_slice(&word[..take]);
            }
            // Acquire fence: the word loads above happen before the check below, so a write
            // that started while we copied shows as a changed sequence.
            fence(Ordering::Acquire);
            if seq.load(Ordering::Relaxed) == before {
                return Some(before);
            }
        }
        None
    }

    /// The sequence now (even: a complete value; odd: a write under way; 0: never written),
    /// for a reader that only wants to know whether anything changed.
    pub fn sequence(&self, segment: &Segment) -> u64 {
        // Acquire: pairs with the writer's Release store, as in `read`.
        segment.atomic_u64(self.offset).load(Ordering::Acquire)
    }
}
