//! A single-producer/single-consumer ring of audio blocks in a shared-memory segment, for a
//! producer (a plugin instance's audio thread) and a consumer (the analysis core) in different
//! processes. The shared-memory counterpart of `stemcheck_bus::lane`.
//!
//! The producer's [`RingProducer::push_block`] never allocates, locks, makes a syscall or waits:
//! it checks for room, copies, and otherwise counts the block as dropped (in shared memory); the
//! next block that gets through carries the number of frames dropped before it.
//!
//! The consumer trusts nothing it reads: the producer's index and every record header are
//! checked against the capacity and the destination before a byte of samples is copied. A value
//! that cannot be right ends the read with [`ShmError::CorruptRing`] and marks the ring broken;
//! it never panics or reads out of bounds.
//!
//! # Layout (after the 64-byte [`crate::header::SegmentHeader`])
//!
//! | offset | size | field | written by |
//! |-------:|-----:|-------|------------|
//! | 128 | 8 | `head`: bytes ever written (monotonic) | producer (Release) |
//! | 136 | 8 | blocks pushed | producer |
//! | 144 | 8 | frames pushed | producer |
//! | 152 | 8 | blocks dropped (ring full) | producer |
//! | 160 | 8 | frames dropped (ring full) | producer |
//! | 168 | 4 | closed flag (1 = the producer is gone for good) | producer |
//! | 256 | 8 | consumer word: owner term (high 32 bits), `tail` = bytes ever read, modulo 2^32 (low 32 bits) | consumer (CAS, Release) |
//! | 264 | 4 | broken flag (1 = a corrupt read was seen) | consumer |
//! | 384 | 256 | metadata: a seqlock of up to [`RING_META_MAX_BYTES`] opaque bytes | the producer's non-audio side |
//! | 640 | capacity | records | producer, then consumer |
//!
//! `head` and `tail` are on separate 128-byte lines (two cache lines, against adjacent-line
//! prefetch), so the two processes never write the same line. A record is a 64-byte
//! [`RecordHeader`] followed by the block's samples, planar (all of channel 0, then channel 1),
//! padded to a multiple of 64 bytes. The capacity is a power of two of at least 64 bytes, so a
//! record header never straddles the end of the data area; samples may wrap around.
//!
//! # Fencing
//!
//! Only one consumer may read a ring. The consumer word holds the term of the consumer that
//! owns the ring (the leadership term the registry gave the core that reads it, see
//! [`crate::Member::leader_term`]) beside the tail, in one atomic word: a consumer claims the
//! ring with a compare-exchange that puts its term there, only if no higher term owns it
//! ([`RingConsumer::open_claiming`]), and it publishes every new tail with a compare-exchange
//! that expects its own term. A consumer whose claim was superseded (a core that was stopped
//! and replaced while it read) therefore never moves the tail again, nor returns a record it
//! copied before it saw the newer claim: its pop ends with [`ShmError::Fenced`]. A separate
//! owner word could not do this: the owner could change between its check and the tail's
//! store, and a double-word compare-exchange is not portable. The tail keeps 32 bits: the
//! distance from tail to head is at most the capacity (at most 2^30), so modulo 2^32 it is
//! exact; the consumer keeps the full 64-bit tail in its own memory.

use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use stemcheck_bus::{BlockHeader, BlockInfo, PositionSource, PushOutcome};

use crate::error::ShmError;
use crate::header::{SegmentHeader, SegmentKind};
use crate::segment::Segment;
use crate::seqlock::{SEQLOCK_HEADER_BYTES, SeqlockRegion};

/// The metadata region of a ring.
const META_REGION: SeqlockRegion = SeqlockRegion {
    offset: META_OFFSET,
    capacity_bytes: RING_META_MAX_BYTES,
};

/// Channels carried per block (as `stemcheck_bus::lane::MAX_CHANNELS`); extra channels are not
/// sent. Part of the layout: a ring of another value is refused.
pub const MAX_CHANNELS: usize = 2;

/// Blocks longer than this are split into records of at most this many frames (as
/// `stemcheck_bus::lane::MAX_PIECE_FRAMES`). Part of the layout.
pub const MAX_BLOCK_FRAMES: usize = 4096;

/// Records start at multiples of this many bytes; it is also a record header's size.
pub const RECORD_ALIGN_BYTES: usize = 64;

/// Largest data capacity a ring header may declare (1 GiB).
pub const MAX_RING_CAPACITY_BYTES: u64 = 1 << 30;

/// Offset of the producer's line (`head` and the counters).
const PRODUCER_LINE_OFFSET: usize = 128;
/// Offset of the consumer's line (`tail` and the broken flag).
const CONSUMER_LINE_OFFSET: usize = 256;
/// Offset of the metadata seqlock.
const META_OFFSET: usize = 384;
/// Bytes of the metadata area (seqlock header and value).
const META_AREA_BYTES: usize = 256;
/// Most bytes of metadata a ring carries (what the instance is: its name, role, group...; the
/// bytes are the user's to define, this crate only moves them).
pub const RING_META_MAX_BYTES: usize = META_AREA_BYTES - SEQLOCK_HEADER_BYTES;
/// Offset of the records.
pub const RING_DATA_OFFSET: usize = META_OFFSET + META_AREA_BYTES;

const HEAD_OFFSET: usize = PRODUCER_LINE_OFFSET;
const PUSHED_BLOCKS_OFFSET: usize = PRODUCER_LINE_OFFSET + 8;
const PUSHED_FRAMES_OFFSET: usize = PRODUCER_LINE_OFFSET + 16;
const DROPPED_BLOCKS_OFFSET: usize = PRODUCER_LINE_OFFSET + 24;
const DROPPED_FRAMES_OFFSET: usize = PRODUCER_LINE_OFFSET + 32;
const CLOSED_OFFSET: usize = PRODUCER_LINE_OFFSET + 40;
const CONSUMER_WORD_OFFSET: usize = CONSUMER_LINE_OFFSET;
const BROKEN_OFFSET: usize = CONSUMER_LINE_OFFSET + 8;

/// The owner term in a consumer word (0: no claim, a consumer outside any election).
fn owner_of(word: u64) -> u32 {
    (word >> 32) as u32
}

/// The tail, modulo 2^32, in a consumer word.
fn tail_of(word: u64) -> u32 {
    word as u32
}

/// The consumer word of `owner` at `tail` (taken modulo 2^32).
fn make_consumer_word(owner: u32, tail: u64) -> u64 {
    (u64::from(owner) << 32) | u64::from(tail as u32)
}

/// Bytes per sample.
const SAMPLE_BYTES: usize = std::mem::size_of::<f32>();

/// `RecordHeader::source` for [`PositionSource::HostTransport`].
const SOURCE_HOST_TRANSPORT: u8 = 0;
/// `RecordHeader::source` for [`PositionSource::FreeRunning`].
const SOURCE_FREE_RUNNING: u8 = 1;

/// The header of one record in the data area, as stored. Integers only, so any bytes are a
/// valid value; the consumer checks each field before use.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RecordHeader {
    /// Sequence number, counting dropped blocks too.
    pub seq: u64,
    /// Timeline position of the first frame, in samples.
    pub pos_samples: i64,
    /// Frames dropped between the previous record and this one.
    pub dropped_frames_before: u64,
    /// Size of the whole record (header, samples, padding) in bytes.
    pub record_bytes: u64,
    /// Frames in the block (1 to [`MAX_BLOCK_FRAMES`]).
    pub num_frames: u32,
    /// Sample rate in Hz, as `f32::to_bits`.
    pub sample_rate_bits: u32,
    /// Channels (1 to [`MAX_CHANNELS`]).
    pub num_channels: u16,
    /// 1 if the transport was rolling, else 0.
    pub playing: u8,
    /// Where `pos_samples` came from (0 host transport, 1 free-running).
    pub source: u8,
    /// Zero.
    pub reserved: [u8; 20],
}

const _: () = assert!(std::mem::size_of::<RecordHeader>() == RECORD_ALIGN_BYTES);

/// Bytes a record of `num_frames` x `num_channels` takes, padding included.
pub fn record_bytes(num_frames: usize, num_channels: usize) -> usize {
    let raw = RECORD_ALIGN_BYTES + num_frames * num_channels * SAMPLE_BYTES;
    raw.div_ceil(RECORD_ALIGN_BYTES) * RECORD_ALIGN_BYTES
}

/// A capacity (power of two, in bytes) that holds at least `seconds` of stereo audio at
/// `sample_rate_hz` in 512-frame blocks, and at least one largest record.
pub fn capacity_bytes_for(sample_rate_hz: f32, seconds: f32) -> u64 {
    let rate = if sample_rate_hz.is_finite() && sample_rate_hz > 0.0 {
        sample_rate_hz.min(768_000.0)
    } else {
        48_000.0
    };
    let seconds = if seconds.is_finite() && seconds > 0.0 {
        seconds.min(60.0)
    } else {
        1.0
    };
    let blocks = ((rate * seconds) as usize).div_ceil(512);
    let needed = (blocks * record_bytes(512, MAX_CHANNELS))
        .max(record_bytes(MAX_BLOCK_FRAMES, MAX_CHANNELS));
    (needed.next_power_of_two() as u64).min(MAX_RING_CAPACITY_BYTES)
}

/// Counters of a ring, as written by its producer into shared memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RingStats {
    /// Records pushed.
    pub pushed_blocks: u64,
    /// Frames pushed.
    pub pushed_frames: u64,
    /// Records dropped because the ring was full.
    pub dropped_blocks: u64,
    /// Frames dropped because the ring was full.
    pub dropped_frames: u64,
}

/// What both halves share: the segment and where its parts are.
#[derive(Debug)]
struct RingShared {
    /// The mapped ring segment (header validated as a ring); shared with the producer's
    /// [`RingMetaWriter`], so that the mapping outlives whichever of the two goes last.
    segment: Arc<Segment>,
    /// Start of the data area.
    data: NonNull<u8>,
    /// Data capacity in bytes (a validated power of two).
    capacity_bytes: u64,
}

impl RingShared {
    fn new(segment: Arc<Segment>) -> Self {
        let capacity_bytes = segment.header().params[0];
        // SAFETY: the header was validated: total size = RING_DATA_OFFSET + capacity, and the
        // mapping is at least the total size, so the data area is inside the mapping.
        let data = unsafe { segment.base_ptr().add(RING_DATA_OFFSET) };
        Self {
            segment,
            data,
            capacity_bytes,
        }
    }

    fn head(&self) -> &AtomicU64 {
        self.segment.atomic_u64(HEAD_OFFSET)
    }

    /// The consumer word: owner term << 32 | tail modulo 2^32 (see "Fencing").
    fn consumer_word(&self) -> &AtomicU64 {
        self.segment.atomic_u64(CONSUMER_WORD_OFFSET)
    }

    fn broken(&self) -> &AtomicU32 {
        self.segment.atomic_u32(BROKEN_OFFSET)
    }

    fn mask(&self) -> u64 {
        self.capacity_bytes - 1
    }

    fn stats(&self) -> RingStats {
        // Relaxed: each counter is a statistic read on its own; nothing is published through it.
        let load = |offset| self.segment.atomic_u64(offset).load(Ordering::Relaxed);
        RingStats {
            pushed_blocks: load(PUSHED_BLOCKS_OFFSET),
            pushed_frames: load(PUSHED_FRAMES_OFFSET),
            dropped_blocks: load(DROPPED_BLOCKS_OFFSET),
            dropped_frames: load(DROPPED_FRAMES_OFFSET),
        }
    }

    /// Copies `src` into the data area at byte position `pos` (taken modulo the capacity),
    /// wrapping around the end.
    ///
    /// # Safety
    /// The `src.len() * 4` bytes from `pos` must be free for the producer (not readable by the
    /// consumer until `head` is published), and no more than the capacity.
    unsafe fn write_wrapped(&self, pos: u64, src: &[f32]) {
        let start = (pos & self.mask()) as usize;
        let len_bytes = std::mem::size_of_val(src);
        let first_bytes = len_bytes.min(self.capacity_bytes as usize - start);
        let first = first_bytes / SAMPLE_BYTES;
        // SAFETY: `start + first_bytes <= capacity`, inside the data area; `start` is a multiple
        // of 4 (records are 64-aligned, headers 64 bytes, samples 4), so the f32 writes are
        // aligned; `src` is process memory, not overlapping the mapping; the caller guarantees
        // that the consumer does not read these bytes now.
        unsafe {
            std::ptr::copy_nonoverlapping(
                src.as_ptr(),
                self.data.as_ptr().add(start).cast::<f32>(),
                first,
            );
            std::ptr::copy_nonoverlapping(
                src.as_ptr().add(first),
                self.data.as_ptr().cast::<f32>(),
                src.len() - first,
            );
        }
    }

    /// Copies from the data area at byte position `pos` (modulo the capacity) into `dst`,
    /// wrapping around the end.
    ///
    /// # Safety
    /// `dst.len() * 4` must be at most the capacity, and the bytes must have been published by
    /// the producer (before `head`).
    unsafe fn read_wrapped(&self, pos: u64, dst: &mut [f32]) {
        let start = (pos & self.mask()) as usize;
        let len_bytes = std::mem::size_of_val(dst);
        let first_bytes = len_bytes.min(self.capacity_bytes as usize - start);
        let first = first_bytes / SAMPLE_BYTES;
        // SAFETY: as in `write_wrapped`, with the roles swapped; `dst` is our own buffer and
        // `len_bytes <= capacity` (caller), so the second part fits before `start` too.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.data.as_ptr().add(start).cast::<f32>(),
                dst.as_mut_ptr(),
                first,
            );
            std::ptr::copy_nonoverlapping(
                self.data.as_ptr().cast::<f32>(),
                dst.as_mut_ptr().add(first),
                dst.len() - first,
            );
        }
    }
}

// SAFETY: `data` points into `segment`'s mapping, which moves with it; see `Segment`'s impls.
unsafe impl Send for RingShared {}

/// The producer's half: the audio thread of a plugin instance. Creates the segment and owns its
/// name (unlinked on drop; a consumer that has it mapped keeps reading).
#[derive(Debug)]
pub struct RingProducer {
    /// The segment and where its parts are.
    shared: RingShared,
    /// Our copy of `head` (only we write it).
    head: u64,
    /// Sequence number of the next block, dropped or not.
    next_seq: u64,
    /// Frames dropped since the last record that got through.
    pending_dropped_frames: u64,
    /// Local copies of the counters, so that the audio thread only stores to shared memory.
    stats: RingStats,
    /// The one [`RingMetaWriter`] was handed out.
    meta_writer_taken: bool,
}

impl RingProducer {
    /// Creates ring segment `name` with `capacity_bytes` of data area (a power of two from 64
    /// bytes; see [`capacity_bytes_for`]). All memory is mapped here, none later.
    pub fn create(name: &str, capacity_bytes: u64) -> Result<Self, ShmError> {
        let segment = Segment::create(
            name,
            SegmentKind::Ring,
            SegmentHeader::ring_params(capacity_bytes),
        )?;
        Ok(Self {
            shared: RingShared::new(Arc::new(segment)),
            head: 0,
            next_seq: 0,
            pending_dropped_frames: 0,
            stats: RingStats::default(),
            meta_writer_taken: false,
        })
    }

    /// Whether a block of `num_frames` x `num_channels` fits now (each record at most
    /// [`MAX_BLOCK_FRAMES`]). For producers that may wait (offline renders, tests); the audio
    /// thread just pushes.
    pub fn has_room_for(&self, num_frames: usize, num_channels: usize) -> bool {
        let num_channels = num_channels.min(MAX_CHANNELS);
        let full = num_frames / MAX_BLOCK_FRAMES;
        let rest = num_frames % MAX_BLOCK_FRAMES;
        let mut needed = full as u64 * record_bytes(MAX_BLOCK_FRAMES, num_channels) as u64;
        if rest > 0 {
            needed += record_bytes(rest, num_channels) as u64;
        }
        needed <= self.free_bytes()
    }

    /// Bytes free for records now. A `tail` that cannot be right (ahead of `head`, more than
    /// the capacity behind, or off a record boundary) leaves no room: the producer never writes
    /// on a word it cannot trust.
    fn free_bytes(&self) -> u64 {
        // Acquire: pairs with the consumer's Release compare-exchange that published this tail,
        // so its reads of the records before the tail are finished before we overwrite those
        // bytes. A claim by a newer consumer is a read-modify-write of the same word: it
        // continues that release sequence, so reading the claim's value synchronises with the
        // tail's publisher all the same.
        let word = self.shared.consumer_word().load(Ordering::Acquire);
        // Modulo 2^32 (see "Fencing"): for a tail we can trust, head - tail is at most the
        // capacity (< 2^31); a tail ahead of head wraps to a huge distance.
        let used = u64::from((self.head as u32).wrapping_sub(tail_of(word)));
        if used > self.shared.capacity_bytes || !used.is_multiple_of(RECORD_ALIGN_BYTES as u64) {
            return 0;
        }
        self.shared.capacity_bytes - used
    }

    /// Copies one block into the ring. Real-time safe: no allocation, lock, syscall or wait.
    /// Channels beyond [`MAX_CHANNELS`] are ignored; channels of unequal length are cut to the
    /// shortest; a block longer than [`MAX_BLOCK_FRAMES`] goes as several records. A record the
    /// ring has no room for is a counted drop, reported by the next record that gets through.
    pub fn push_block<C: AsRef<[f32]>>(&mut self, info: &BlockInfo, channels: &[C]) -> PushOutcome {
        let (num_channels, num_frames) = stemcheck_bus::lane::block_shape(channels, MAX_CHANNELS);
        if num_frames == 0 {
            return PushOutcome::Empty;
        }
        let mut outcome = PushOutcome::Pushed;
        let mut offset = 0;
        while offset < num_frames {
            let piece_frames = (num_frames - offset).min(MAX_BLOCK_FRAMES);
            let rec_bytes = record_bytes(piece_frames, num_channels) as u64;
            let seq = self.next_seq;
            self.next_seq += 1;
            if rec_bytes > self.free_bytes() {
                outcome = PushOutcome::Dropped;
                self.stats.dropped_blocks += 1;
                self.stats.dropped_frames += piece_frames as u64;
                self.pending_dropped_frames += piece_frames as u64;
                offset += piece_frames;
                continue;
            }
            let header = RecordHeader {
                seq,
                pos_samples: info.pos_samples.saturating_add(offset as i64),
                dropped_frames_before: self.pending_dropped_frames,
                record_bytes: rec_bytes,
                num_frames: piece_frames as u32,
                sample_rate_bits: info.sample_rate_hz.to_bits(),
                num_channels: num_channels as u16,
                playing: u8::from(info.playing),
                source: match info.source {
                    PositionSource::HostTransport => SOURCE_HOST_TRANSPORT,
                    PositionSource::FreeRunning => SOURCE_FREE_RUNNING,
                },
                reserved: [0; 20],
            };
            let start = (self.head & self.shared.mask()) as usize;
            // SAFETY: `start` is a multiple of 64 and the capacity a power of two >= 64, so the
            // 64-byte header lies inside the data area, 64-aligned; the record's bytes are free
            // (`rec_bytes <= free_bytes()`: the consumer has finished with them and will not
            // read them before we publish `head`).
            unsafe {
                std::ptr::write_volatile(
                    self.shared.data.as_ptr().add(start).cast::<RecordHeader>(),
                    header,
                );
            }
            let mut pos = self.head + RECORD_ALIGN_BYTES as u64;
            for channel in channels.iter().take(num_channels) {
                let part = &channel.as_ref()[offset..offset + piece_frames];
                // SAFETY: inside the record we just found room for (header + samples <=
                // rec_bytes <= free bytes <= capacity).
                unsafe { self.shared.write_wrapped(pos, part) };
                pos += (piece_frames * SAMPLE_BYTES) as u64;
            }
            self.head += rec_bytes;
            // Release: the record's header and samples written above are visible to the
            // consumer before it can see the new `head` (it loads `head` with Acquire).
            self.shared.head().store(self.head, Ordering::Release);
            self.pending_dropped_frames = 0;
            self.stats.pushed_blocks += 1;
            self.stats.pushed_frames += piece_frames as u64;
            offset += piece_frames;
        }
        self.publish_stats();
        outcome
    }

    fn publish_stats(&self) {
        // Relaxed: statistics, each read on its own; no memory is published through them.
        let store = |offset, value| {
            self.shared
                .segment
                .atomic_u64(offset)
                .store(value, Ordering::Relaxed)
        };
        store(PUSHED_BLOCKS_OFFSET, self.stats.pushed_blocks);
        store(PUSHED_FRAMES_OFFSET, self.stats.pushed_frames);
        store(DROPPED_BLOCKS_OFFSET, self.stats.dropped_blocks);
        store(DROPPED_FRAMES_OFFSET, self.stats.dropped_frames);
    }

    /// The counters, as this producer keeps them.
    pub fn stats(&self) -> RingStats {
        self.stats
    }

    /// The segment's name.
    pub fn name(&self) -> &str {
        self.shared.segment.name()
    }

    /// The data capacity in bytes.
    pub fn capacity_bytes(&self) -> u64 {
        self.shared.capacity_bytes
    }

    /// The writer of this ring's metadata, for the instance's non-audio side (the audio thread
    /// keeps the producer). Only one: the metadata is a single-writer seqlock. Allocation-free
    /// to use; `None` once taken.
    pub fn take_meta_writer(&mut self) -> Option<RingMetaWriter> {
        if std::mem::replace(&mut self.meta_writer_taken, true) {
            return None;
        }
        Some(RingMetaWriter {
            segment: self.shared.segment.clone(),
        })
    }

    /// Bytes pushed and not yet taken by the consumer (as far as its `tail` says).
    pub fn pending_bytes(&self) -> u64 {
        self.shared.capacity_bytes - self.free_bytes()
    }
}

impl Drop for RingProducer {
    fn drop(&mut self) {
        // Relaxed: a flag read on its own; the records before it were published with `head`.
        self.shared
            .segment
            .atomic_u32(CLOSED_OFFSET)
            .store(1, Ordering::Relaxed);
        // The producer owns the name; a consumer that has the segment mapped keeps reading.
        let _ = Segment::unlink(self.shared.segment.name());
    }
}

/// Writes a ring's metadata (what the instance is) from the instance's non-audio side. Keeps
/// the mapping alive on its own; writing after the producer is gone is harmless.
#[derive(Debug)]
pub struct RingMetaWriter {
    /// The ring's segment (header validated as a ring).
    segment: Arc<Segment>,
}

impl RingMetaWriter {
    /// Publishes `value` (at most [`RING_META_MAX_BYTES`]) for the consumer. Returns `false`
    /// if it is too long. Never waits (a single writer finds the lock free).
    pub fn publish(&self, value: &[u8]) -> bool {
        META_REGION.write(&self.segment, value, true)
    }
}

/// The consumer's half: the analysis core. Opens an existing ring segment and claims it with
/// a term (see "Fencing" in the module docs): a consumer with a newer term makes every later
/// pop of this one end with [`ShmError::Fenced`], without touching the tail.
#[derive(Debug)]
pub struct RingConsumer {
    /// The segment and where its parts are.
    shared: RingShared,
    /// Our copy of `tail`, in full (the consumer word holds it modulo 2^32; only the owner
    /// writes it).
    tail: u64,
    /// The term we claimed the ring with (0: outside any election).
    term: u32,
    /// A corrupt read was seen; every later read fails.
    is_broken: bool,
    /// A newer consumer claimed the ring; every later read fails.
    is_fenced: bool,
}

impl RingConsumer {
    /// Opens ring segment `name` (ours, mode 0600, valid header; see [`Segment::open`]) as a
    /// consumer outside any election: term 0, refused with [`ShmError::Fenced`] once an
    /// elected consumer ([`Self::open_claiming`]) has claimed the ring. For tools and tests
    /// with one consumer by construction.
    pub fn open(name: &str) -> Result<Self, ShmError> {
        Self::open_claiming(name, 0)
    }

    /// Opens ring segment `name` and claims it for `term` (the reading core's leadership
    /// term, [`crate::Member::leader_term`]): refused with [`ShmError::Fenced`] if a higher
    /// term owns it. A consumer of a lower term that still reads it is fenced off from its
    /// next pop on (or from the end of the pop it is in). Not for the audio thread.
    pub fn open_claiming(name: &str, term: u32) -> Result<Self, ShmError> {
        let segment = Segment::open(name, SegmentKind::Ring)?;
        let shared = RingShared::new(Arc::new(segment));
        let word = shared.consumer_word();
        // Relaxed: only a candidate for the compare-exchange below, which decides.
        let mut current = word.load(Ordering::Relaxed);
        loop {
            let owner = owner_of(current);
            if owner > term {
                return Err(ShmError::Fenced {
                    name: name.to_owned(),
                    owner_term: owner,
                    term,
                });
            }
            if owner == term {
                break;
            }
            // Relaxed (success and failure): the claim publishes nothing and we read nothing
            // through it but the word itself (the records we read later are published by
            // `head`, loaded with Acquire at every pop). Being a read-modify-write, it
            // continues the release sequence of the tail the previous owner published, so the
            // producer's Acquire load of our claim still synchronises with that owner's reads.
            // The compare-exchange makes the claim exclusive: of two claimants, the one whose
            // value was overwritten sees it at its next look.
            match word.compare_exchange(
                current,
                make_consumer_word(term, u64::from(tail_of(current))),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    current = make_consumer_word(term, u64::from(tail_of(current)));
                    break;
                }
                Err(now) => current = now,
            }
        }
        // Relaxed: `head` only gives the high bits of the full tail here (head - tail is at
        // most the capacity for a ring we can trust, and every pop checks it again against a
        // `head` loaded with Acquire).
        let head = shared.head().load(Ordering::Relaxed);
        let distance = u64::from((head as u32).wrapping_sub(tail_of(current)));
        let tail = head.wrapping_sub(distance);
        // Relaxed: the flag is read on its own.
        let is_broken = shared.broken().load(Ordering::Relaxed) != 0;
        Ok(Self {
            shared,
            tail,
            term,
            is_broken,
            is_fenced: false,
        })
    }

    /// The term this consumer claimed the ring with.
    pub fn term(&self) -> u32 {
        self.term
    }

    /// Whether a consumer of a newer term claimed the ring: this one reads nothing more.
    pub fn is_fenced(&self) -> bool {
        self.is_fenced
    }

    fn fenced(&mut self, owner_term: u32) -> ShmError {
        self.is_fenced = true;
        ShmError::Fenced {
            name: self.shared.segment.name().to_owned(),
            owner_term,
            term: self.term,
        }
    }

    /// The owner term in the consumer word now.
    fn owner_now(&self) -> u32 {
        // Relaxed: a look at the owner only; the compare-exchange that publishes a tail is what
        // decides whether a pop counts.
        owner_of(self.shared.consumer_word().load(Ordering::Relaxed))
    }

    fn corrupt(&mut self, head: u64, what: String) -> ShmError {
        // A fenced consumer may read bytes the producer is overwriting already (the new owner
        // let it): that is not a corrupt ring, and must not mark it broken for its owner. While
        // the word still names us, nobody else moved the tail, so what we read was published.
        let owner = self.owner_now();
        if owner != self.term {
            return self.fenced(owner);
        }
        self.is_broken = true;
        // Relaxed: a flag read on its own, by a later consumer or a diagnostic.
        self.shared.broken().store(1, Ordering::Relaxed);
        ShmError::CorruptRing {
            name: self.shared.segment.name().to_owned(),
            what,
            head,
            tail: self.tail,
            capacity_bytes: self.shared.capacity_bytes,
        }
    }

    /// Pops the next block into `out` (one buffer per channel; a buffer shorter than the block
    /// is grown, at most to [`MAX_BLOCK_FRAMES`]). `Ok(None)` if the ring is empty.
    ///
    /// Every value read from shared memory is checked first: the producer's index against our
    /// own and the capacity, the record's frames, channels, size and flags against the layout,
    /// the bytes available and `out`. A value that cannot be right marks the ring broken and
    /// returns [`ShmError::CorruptRing`]; fewer buffers than channels is
    /// [`ShmError::DestinationTooSmall`] (nothing consumed). Once a consumer of a newer term
    /// claimed the ring, [`ShmError::Fenced`]: nothing returned, the tail untouched, and so on
    /// every later call.
    pub fn pop_block(&mut self, out: &mut [Vec<f32>]) -> Result<Option<BlockHeader>, ShmError> {
        self.pop_block_with(out, || {})
    }

    /// [`Self::pop_block`], calling `mid_pop` once a record was copied into `out` and before
    /// the tail is published: for tests of a consumer that stops (or is stopped) mid-pop.
    #[doc(hidden)]
    pub fn pop_block_with(
        &mut self,
        out: &mut [Vec<f32>],
        mid_pop: impl FnOnce(),
    ) -> Result<Option<BlockHeader>, ShmError> {
        if self.is_broken {
            return Err(ShmError::Broken {
                name: self.shared.segment.name().to_owned(),
            });
        }
        if self.is_fenced {
            let owner = self.owner_now();
            return Err(self.fenced(owner));
        }
        // Relaxed: a look at the owner, to stop at once once a newer consumer claimed the ring,
        // and the value the publishing compare-exchange below expects; that compare-exchange
        // decides.
        let word = self.shared.consumer_word().load(Ordering::Relaxed);
        if owner_of(word) != self.term {
            return Err(self.fenced(owner_of(word)));
        }
        // Acquire: pairs with the producer's Release store of `head`, so the record bytes
        // before `head` are visible before we read them.
        let head = self.shared.head().load(Ordering::Acquire);
        if tail_of(word) != self.tail as u32 {
            return Err(self.corrupt(head, "the tail was moved by another consumer".to_owned()));
        }
        let capacity = self.shared.capacity_bytes;
        // The byte counters never wrap (2^64 bytes is centuries of audio).
        let Some(available) = head.checked_sub(self.tail) else {
            return Err(self.corrupt(head, "head is behind tail".to_owned()));
        };
        if available == 0 {
            return Ok(None);
        }
        if available > capacity {
            return Err(self.corrupt(
                head,
                format!("head is {available} bytes past tail, beyond the capacity"),
            ));
        }
        if !available.is_multiple_of(RECORD_ALIGN_BYTES as u64) {
            return Err(self.corrupt(head, "head is not on a record boundary".to_owned()));
        }
        // Our tail came from shared memory when we opened the ring (a consumer before us may
        // have left it): off a record boundary, a record header could straddle the end.
        if !self.tail.is_multiple_of(RECORD_ALIGN_BYTES as u64) {
            return Err(self.corrupt(head, "tail is not on a record boundary".to_owned()));
        }
        let start = (self.tail & self.shared.mask()) as usize;
        // SAFETY: `start` is a multiple of 64 (checked just above) below the capacity, a power
        // of two >= 64: the 64-byte header is inside the data area and aligned. `RecordHeader`
        // is plain integers, valid for any bytes.
        let record = unsafe {
            std::ptr::read_volatile(self.shared.data.as_ptr().add(start).cast::<RecordHeader>())
        };
        let frames = record.num_frames as usize;
        let channels = record.num_channels as usize;
        if frames == 0 || frames > MAX_BLOCK_FRAMES {
            return Err(self.corrupt(
                head,
                format!("record of {frames} frames (1 to {MAX_BLOCK_FRAMES})"),
            ));
        }
        if channels == 0 || channels > MAX_CHANNELS {
            return Err(self.corrupt(
                head,
                format!("record of {channels} channels (1 to {MAX_CHANNELS})"),
            ));
        }
        let expected_bytes = record_bytes(frames, channels) as u64;
        if record.record_bytes != expected_bytes || expected_bytes > available {
            return Err(self.corrupt(
                head,
                format!(
                    "record says {} bytes, {frames}x{channels} needs {expected_bytes}, {available} available",
                    record.record_bytes
                ),
            ));
        }
        let source = match record.source {
            SOURCE_HOST_TRANSPORT => PositionSource::HostTransport,
            SOURCE_FREE_RUNNING => PositionSource::FreeRunning,
            other => return Err(self.corrupt(head, format!("record source {other}"))),
        };
        if record.playing > 1 {
            return Err(self.corrupt(head, format!("record playing flag {}", record.playing)));
        }
        if out.len() < channels {
            return Err(ShmError::DestinationTooSmall {
                needed: channels,
                given: out.len(),
            });
        }
        let mut pos = self.tail + RECORD_ALIGN_BYTES as u64;
        for channel in out.iter_mut().take(channels) {
            if channel.len() < frames {
                channel.resize(frames, 0.0);
            }
            // SAFETY: `frames * 4 <= expected_bytes <= available <= capacity`, and these bytes
            // are inside the record the producer published before `head`. (A consumer fenced
            // off since its look at the owner may copy bytes the producer is rewriting: values
            // of no meaning, never out of bounds, and never returned: see below.)
            unsafe { self.shared.read_wrapped(pos, &mut channel[..frames]) };
            pos += (frames * SAMPLE_BYTES) as u64;
        }
        mid_pop();
        let new_tail = self.tail + expected_bytes;
        // Release on success: our reads of the record above are finished before the producer
        // can see the new tail and overwrite those bytes (it loads the word with Acquire).
        // Relaxed on failure: the word is then only looked at, to say why. Expecting `word`
        // (our term, our tail) is the fence: once a newer consumer claimed the ring, this fails,
        // the tail stays where the owner has it, and the record is not returned.
        if let Err(now) = self.shared.consumer_word().compare_exchange(
            word,
            make_consumer_word(self.term, new_tail),
            Ordering::Release,
            Ordering::Relaxed,
        ) {
            if owner_of(now) != self.term {
                return Err(self.fenced(owner_of(now)));
            }
            return Err(self.corrupt(head, "the tail was moved by another consumer".to_owned()));
        }
        self.tail = new_tail;
        Ok(Some(BlockHeader {
            seq: record.seq,
            pos_samples: record.pos_samples,
            dropped_frames_before: record.dropped_frames_before,
            num_frames: record.num_frames,
            num_channels: record.num_channels,
            playing: record.playing == 1,
            source,
            sample_rate_hz: f32::from_bits(record.sample_rate_bits),
        }))
    }

    /// Copies the producer's metadata into `out`; returns the sequence it was read at (it
    /// changes with every publication), or `None` if none was published yet or it could not
    /// be read consistently now. The bytes are the producer's: check them before use.
    pub fn read_meta(&self, out: &mut Vec<u8>) -> Option<u64> {
        META_REGION.read(&self.shared.segment, out)
    }

    /// The metadata's sequence now, to skip reading it when it did not change.
    pub fn meta_sequence(&self) -> u64 {
        META_REGION.sequence(&self.shared.segment)
    }

    /// Whether the producer is gone for good (its [`RingProducer`] was dropped): what is left
    /// in the ring is the last of its audio.
    pub fn is_producer_closed(&self) -> bool {
        // Relaxed: a flag read on its own.
        self.shared
            .segment
            .atomic_u32(CLOSED_OFFSET)
            .load(Ordering::Relaxed)
            != 0
    }

    /// Whether a corrupt read was seen (by us, or by a consumer before us).
    pub fn is_broken(&self) -> bool {
        self.is_broken
    }

    /// The producer's counters, as it last published them.
    pub fn stats(&self) -> RingStats {
        self.shared.stats()
    }

    /// The segment's name.
    pub fn name(&self) -> &str {
        self.shared.segment.name()
    }

    /// The data capacity in bytes.
    pub fn capacity_bytes(&self) -> u64 {
        self.shared.capacity_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_matches_the_bus_lane() {
        assert_eq!(MAX_CHANNELS, stemcheck_bus::lane::MAX_CHANNELS);
        assert_eq!(MAX_BLOCK_FRAMES, stemcheck_bus::lane::MAX_PIECE_FRAMES);
    }

    #[test]
    fn records_are_padded_to_64_bytes() {
        // 64 header + 1 * 1 * 4 = 68 -> 128; 64 + 512 * 2 * 4 = 4160 = 65 * 64.
        assert_eq!(record_bytes(1, 1), 128);
        assert_eq!(record_bytes(512, 2), 4160);
        assert_eq!(record_bytes(15, 1), 128);
        assert_eq!(record_bytes(16, 1), 128);
        assert_eq!(record_bytes(17, 1), 192);
    }

    #[test]
    fn capacity_for_a_second_at_48k_is_a_power_of_two_that_holds_it() {
        let cap = capacity_bytes_for(48_000.0, 1.0);
        assert!(cap.is_power_of_two());
        // 94 blocks of 4160 bytes = 391_040 -> 524_288.
        assert_eq!(cap, 524_288);
        assert!(capacity_bytes_for(f32::NAN, f32::INFINITY).is_power_of_two());
    }
}
