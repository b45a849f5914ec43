//! One lane per plugin instance: a wait-free single-producer/single-consumer pair of rings
//! (samples and headers) created together, the audio side holding only the producer and the
//! core side only the consumer.
//!
//! The producer runs on the audio thread. [`LaneProducer::push_block`] never allocates, locks,
//! makes a syscall or waits: it checks that both rings have room, copies, and otherwise counts
//! the block as dropped. The next header that does get through carries the number of frames
//! dropped before it, so the consumer knows the exact size of the gap.
//!
//! A host's offline render (a bounce far faster than real time) may instead use
//! [`LaneProducer::push_block_waiting`]: a full lane then waits for the consumer to make room,
//! spinning and yielding until a deadline, so that nothing is lost when the render outruns the
//! analysis. That wait is only for offline renders: no real-time thread may call it.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use rtrb::{Consumer, Producer, RingBuffer};

use crate::block::{BlockHeader, BlockInfo};
use crate::subnormal::{copy_flushed, flush_subnormals};

/// Channels carried per block. Hosts that give a plugin more channels than this have the extra
/// channels passed through untouched but not analysed.
pub const MAX_CHANNELS: usize = 2;

/// What of a block a transport carries: its first `max_channels` channels, cut to the
/// shortest of them. Returns `(channels, frames)`.
pub fn block_shape<C: AsRef<[f32]>>(channels: &[C], max_channels: usize) -> (usize, usize) {
    let num_channels = channels.len().min(max_channels);
    let num_frames = channels
        .iter()
        .take(num_channels)
        .map(|c| c.as_ref().len())
        .min()
        .unwrap_or(0);
    (num_channels, num_frames)
}

/// Blocks longer than this are split into pieces of at most this many frames, each with its own
/// header. This bounds the consumer's scratch memory and lets a lane carry any host block size.
pub const MAX_PIECE_FRAMES: usize = 4096;

/// Busy-wait iterations before an offline wait starts yielding the thread (and reading the
/// clock): the consumer usually makes room within microseconds.
const SPINS_BEFORE_YIELD: u32 = 64;

/// How big a lane's rings are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneConfig {
    /// Capacity of the sample ring, in frames (the ring holds `capacity_frames * MAX_CHANNELS`
    /// samples).
    pub capacity_frames: usize,
    /// Capacity of the header ring, in pieces.
    pub capacity_headers: usize,
}

impl LaneConfig {
    /// Seconds of audio a lane buffers before it starts dropping (real time) or waiting
    /// (offline). The core drains every lane every few milliseconds, so this only fills when the
    /// core falls behind (a render far faster than real time). It is longer than the consumer's
    /// alignment window (32768 frames, 0.68 s at 48 kHz), so that in an offline render a host
    /// that runs every instance in turn on one thread never waits on a lane the core cannot
    /// drain: the core takes a whole host block (up to that window) of one instance into its
    /// window before the next instance has delivered it.
    pub const BUFFERED_SECONDS: f32 = 1.0;

    /// A lane holding [`Self::BUFFERED_SECONDS`] of audio at `sample_rate_hz`.
    pub fn for_sample_rate(sample_rate_hz: f32) -> Self {
        let rate = if sample_rate_hz.is_finite() && sample_rate_hz > 0.0 {
            sample_rate_hz.min(768_000.0)
        } else {
            48_000.0
        };
        let capacity_frames = ((rate * Self::BUFFERED_SECONDS) as usize).max(4 * MAX_PIECE_FRAMES);
        Self {
            capacity_frames,
            // Enough for 64-frame blocks over the whole buffer (tinier blocks can drop earlier),
            // with room left for the no-frame headers that mark drops while the sample ring is
            // full (a render far faster than real time keeps dropping for seconds).
            capacity_headers: (capacity_frames / 16).max(1024),
        }
    }
}

/// Counters of one lane, written by the producer (audio thread) and read by anyone.
///
/// All accesses are `Relaxed`: each counter is a statistic read on its own; no other memory is
/// published through them.
#[derive(Debug, Default)]
pub struct LaneStats {
    /// Pieces pushed into the rings.
    pub pushed_pieces: CachePadded<AtomicU64>,
    /// Frames pushed into the rings.
    pub pushed_frames: CachePadded<AtomicU64>,
    /// Pieces dropped because a ring was full.
    pub dropped_pieces: CachePadded<AtomicU64>,
    /// Frames dropped because a ring was full.
    pub dropped_frames: CachePadded<AtomicU64>,
}

impl LaneStats {
    /// `(pushed_frames, dropped_frames, dropped_pieces)` as seen now.
    pub fn load(&self) -> (u64, u64, u64) {
        (
            self.pushed_frames.load(Ordering::Relaxed),
            self.dropped_frames.load(Ordering::Relaxed),
            self.dropped_pieces.load(Ordering::Relaxed),
        )
    }
}

/// What happened to a pushed block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Every piece of the block is in the lane.
    Pushed,
    /// At least one piece was dropped because the lane was full; the drop is counted.
    Dropped,
    /// The block had no channels or no frames; nothing was sent.
    Empty,
}

/// The audio thread's half of a lane.
pub struct LaneProducer {
    samples: Producer<f32>,
    headers: Producer<BlockHeader>,
    stats: Arc<LaneStats>,
    /// Sequence number of the next piece, dropped or not.
    next_seq: u64,
    /// Frames dropped since the last piece that got through.
    pending_dropped_frames: u64,
    /// An offline wait timed out: do not wait again until a piece gets through (a stuck
    /// consumer then delays the producer once, not once per block).
    wait_timed_out: bool,
    /// Local copies of the counters, so that the audio thread only ever stores to the shared
    /// atomics (no read-modify-write).
    pushed_pieces: u64,
    pushed_frames: u64,
    dropped_pieces: u64,
    dropped_frames: u64,
}

/// The core's half of a lane.
pub struct LaneConsumer {
    samples: Consumer<f32>,
    headers: Consumer<BlockHeader>,
    stats: Arc<LaneStats>,
}

/// Creates a lane: all memory is allocated here, none later.
pub fn lane_pair(config: LaneConfig) -> (LaneProducer, LaneConsumer) {
    let (sample_tx, sample_rx) = RingBuffer::new(config.capacity_frames * MAX_CHANNELS);
    let (header_tx, header_rx) = RingBuffer::new(config.capacity_headers.max(1));
    let stats = Arc::new(LaneStats::default());
    (
        LaneProducer {
            samples: sample_tx,
            headers: header_tx,
            stats: stats.clone(),
            next_seq: 0,
            pending_dropped_frames: 0,
            wait_timed_out: false,
            pushed_pieces: 0,
            pushed_frames: 0,
            dropped_pieces: 0,
            dropped_frames: 0,
        },
        LaneConsumer {
            samples: sample_rx,
            headers: header_rx,
            stats,
        },
    )
}

impl LaneProducer {
    /// Copies one block into the lane. Real-time safe: no allocation, lock, syscall or wait; the
    /// loop runs once per [`MAX_PIECE_FRAMES`] of the block. Channels beyond [`MAX_CHANNELS`]
    /// are ignored; if channels differ in length the shortest length is used.
    pub fn push_block<C: AsRef<[f32]>>(&mut self, info: &BlockInfo, channels: &[C]) -> PushOutcome {
        self.push(info, channels, None)
    }

    /// Counts `frames` lost before they reached this lane (upstream: a shared-memory ring that
    /// was full): the next piece that gets through reports them with this lane's own drops,
    /// so that the consumer counts them as dropped and leaves their stretch missing. Does not
    /// change this lane's own drop counters. Real-time safe.
    pub fn add_dropped_frames(&mut self, frames: u64) {
        self.pending_dropped_frames += frames;
    }

    /// Like [`Self::push_block`], but a full lane waits for room, at most `max_wait` for the
    /// whole block, instead of dropping at once: for a host's offline render only (it spins,
    /// yields the thread and reads the clock, so it is not wait-free). No allocation or lock.
    /// What is still not in the lane at the deadline is a counted drop, as in real time.
    pub fn push_block_waiting<C: AsRef<[f32]>>(
        &mut self,
        info: &BlockInfo,
        channels: &[C],
        max_wait: Duration,
    ) -> PushOutcome {
        self.push(info, channels, Some(max_wait))
    }

    fn push<C: AsRef<[f32]>>(
        &mut self,
        info: &BlockInfo,
        channels: &[C],
        max_wait: Option<Duration>,
    ) -> PushOutcome {
        let (num_channels, num_frames) = block_shape(channels, MAX_CHANNELS);
        self.push_pieces(info, num_channels, num_frames, max_wait, |ring, frames| {
            let Some(samples) = ring else {
                return false;
            };
            for channel in channels.iter().take(num_channels) {
                let Some(part) = channel.as_ref().get(frames.clone()) else {
                    return false;
                };
                if samples.push_entire_slice(part).is_err() {
                    return false;
                }
            }
            true
        })
    }

    /// [`Self::push_block`] for the plugin's own buffers: flushes subnormal samples to zero in
    /// `channels` (in place, every channel and frame, whether the lane has room or not), so the
    /// lane carries what the host gets back. The flush rides on the copy into the lane (which
    /// writes flushed samples and notes whether any sample changed); only a piece that held a
    /// subnormal, or that the lane had no room for, is flushed in `channels` in a pass of its
    /// own. Real-time safe like [`Self::push_block`].
    pub fn push_block_flushing<C: AsMut<[f32]>>(
        &mut self,
        info: &BlockInfo,
        channels: &mut [C],
    ) -> PushOutcome {
        self.push_flushing(info, channels, None)
    }

    /// [`Self::push_block_flushing`] for a host's offline render: a full lane waits for room,
    /// at most `max_wait` for the whole block, like [`Self::push_block_waiting`].
    pub fn push_block_flushing_waiting<C: AsMut<[f32]>>(
        &mut self,
        info: &BlockInfo,
        channels: &mut [C],
        max_wait: Duration,
    ) -> PushOutcome {
        self.push_flushing(info, channels, Some(max_wait))
    }

    fn push_flushing<C: AsMut<[f32]>>(
        &mut self,
        info: &BlockInfo,
        channels: &mut [C],
        max_wait: Option<Duration>,
    ) -> PushOutcome {
        let num_channels = channels.len().min(MAX_CHANNELS);
        let num_frames = channels
            .iter_mut()
            .take(num_channels)
            .map(|c| c.as_mut().len())
            .min()
            .unwrap_or(0);
        // What the lane does not carry is flushed on its own: channels beyond the lane's, and
        // frames past the shortest channel.
        for (index, channel) in channels.iter_mut().enumerate() {
            let samples = channel.as_mut();
            let carried = if index < num_channels { num_frames } else { 0 };
            flush_subnormals(&mut samples[carried..]);
        }
        self.push_pieces(
            info,
            num_channels,
            num_frames,
            max_wait,
            |mut ring, frames| {
                let mut copied = ring.is_some();
                for channel in channels.iter_mut().take(num_channels) {
                    let part = &mut channel.as_mut()[frames.clone()];
                    let had_subnormals = match ring.as_deref_mut() {
                        Some(samples) if copied => match copy_flushed_into(samples, part) {
                            Some(had_subnormals) => had_subnormals,
                            None => {
                                copied = false;
                                true
                            }
                        },
                        _ => true,
                    };
                    if had_subnormals {
                        flush_subnormals(part);
                    }
                }
                copied
            },
        )
    }

    /// Splits a block of `num_frames` into pieces and sends each with its header, or counts it
    /// dropped. `copy_piece(ring, frames)` copies the piece's `frames` of every channel into
    /// `ring` and says whether it did; it gets no ring (`None`) for a piece the lane has no room
    /// for, so that it can still finish its own work on those frames.
    fn push_pieces(
        &mut self,
        info: &BlockInfo,
        num_channels: usize,
        num_frames: usize,
        max_wait: Option<Duration>,
        mut copy_piece: impl FnMut(Option<&mut Producer<f32>>, Range<usize>) -> bool,
    ) -> PushOutcome {
        if num_frames == 0 {
            return PushOutcome::Empty;
        }

        let mut outcome = PushOutcome::Pushed;
        let mut offset = 0;
        // Set at the first wait of this block: the limit is for the whole block.
        let mut deadline: Option<Instant> = None;
        while offset < num_frames {
            let piece_frames = (num_frames - offset).min(MAX_PIECE_FRAMES);
            let header = BlockHeader {
                seq: self.next_seq,
                pos_samples: info.pos_samples.saturating_add(offset as i64),
                dropped_frames_before: self.pending_dropped_frames,
                num_frames: piece_frames as u32,
                num_channels: num_channels as u16,
                playing: info.playing,
                source: info.source,
                sample_rate_hz: info.sample_rate_hz,
            };
            self.next_seq = self.next_seq.wrapping_add(1);

            if let Some(limit) = max_wait
                && !self.wait_timed_out
            {
                let room = self.wait_for_room(piece_frames * num_channels, &mut deadline, limit);
                self.wait_timed_out = !room;
            }
            // Only this thread writes to either ring, so free space can only grow between this
            // check and the writes: every write after it succeeds.
            let has_room =
                self.samples.slots() >= piece_frames * num_channels && self.headers.slots() >= 1;
            let frames = offset..offset + piece_frames;
            // The header goes in last. rtrb publishes each commit with a release store, so a
            // consumer that sees the header also sees every sample written before it.
            let pushed = if has_room {
                copy_piece(Some(&mut self.samples), frames) && self.headers.push(header).is_ok()
            } else {
                copy_piece(None, frames)
            };
            if pushed {
                self.pending_dropped_frames = 0;
                self.wait_timed_out = false;
                self.pushed_pieces += 1;
                self.pushed_frames += piece_frames as u64;
            } else {
                self.pending_dropped_frames += piece_frames as u64;
                self.dropped_pieces += 1;
                self.dropped_frames += piece_frames as u64;
                outcome = PushOutcome::Dropped;
                // Tell the consumer at once how far the lane got, with a header of no frames
                // (when the header ring has room: it is the sample ring that fills): a drop at
                // the end of a run is then still known, and the run's length with it.
                let marker = BlockHeader {
                    pos_samples: header.end_pos_samples(),
                    dropped_frames_before: self.pending_dropped_frames,
                    num_frames: 0,
                    ..header
                };
                if self.headers.push(marker).is_ok() {
                    self.pending_dropped_frames = 0;
                }
            }
            offset += piece_frames;
        }

        self.stats
            .pushed_pieces
            .store(self.pushed_pieces, Ordering::Relaxed);
        self.stats
            .pushed_frames
            .store(self.pushed_frames, Ordering::Relaxed);
        self.stats
            .dropped_pieces
            .store(self.dropped_pieces, Ordering::Relaxed);
        self.stats
            .dropped_frames
            .store(self.dropped_frames, Ordering::Relaxed);
        outcome
    }

    /// Waits until both rings have room for a piece of `samples` samples, or the block's
    /// deadline passes. Returns whether there is room. Bounded: by the deadline, set on the first
    /// wait of the block to `limit` from then.
    fn wait_for_room(
        &self,
        samples: usize,
        deadline: &mut Option<Instant>,
        limit: Duration,
    ) -> bool {
        // A piece larger than the ring never fits: waiting would only burn the deadline.
        if samples > self.samples.buffer().capacity() {
            return false;
        }
        let mut spins = 0u32;
        loop {
            if self.samples.slots() >= samples && self.headers.slots() >= 1 {
                return true;
            }
            if spins < SPINS_BEFORE_YIELD {
                spins += 1;
                std::hint::spin_loop();
                continue;
            }
            let now = Instant::now();
            let until = *deadline.get_or_insert(now + limit);
            if now >= until {
                return false;
            }
            std::thread::yield_now();
        }
    }

    /// Pieces pushed and not yet taken by the consumer.
    pub fn pending_pieces(&self) -> usize {
        self.headers.buffer().capacity() - self.headers.slots()
    }

    /// The lane's counters, shared with the consumer.
    pub fn stats(&self) -> &Arc<LaneStats> {
        &self.stats
    }
}

impl LaneConsumer {
    /// The next piece's header, without consuming it.
    pub fn peek(&self) -> Option<&BlockHeader> {
        self.headers.peek().ok()
    }

    /// Pops the next piece, copying its channels into `out` (each at least
    /// [`MAX_PIECE_FRAMES`] long). Returns `None` if the lane is empty.
    pub fn pop_into(&mut self, out: &mut [Vec<f32>; MAX_CHANNELS]) -> Option<BlockHeader> {
        let header = self.headers.pop().ok()?;
        let frames = header.num_frames as usize;
        for channel in out.iter_mut().take(header.num_channels as usize) {
            if channel.len() < frames {
                channel.resize(frames, 0.0);
            }
            // The producer committed these samples before the header, so they are all here.
            if self
                .samples
                .pop_entire_slice(&mut channel[..frames])
                .is_err()
            {
                // Cannot happen with a well-behaved producer; recover by emptying the ring.
                let stale = self.samples.slots();
                if let Ok(chunk) = self.samples.read_chunk(stale) {
                    chunk.commit_all();
                }
                return None;
            }
        }
        Some(header)
    }

    /// Whether the producer is gone (its instance deactivated or was destroyed).
    pub fn is_abandoned(&self) -> bool {
        self.headers.is_abandoned()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// The lane's counters.
    pub fn stats(&self) -> &Arc<LaneStats> {
        &self.stats
    }
}

/// Appends `samples` to `ring` with subnormals flushed, in one pass (the copy the lane makes
/// anyway). Returns whether `samples` held a subnormal, or `None` if the ring has no room.
#[allow(unsafe_code)]
fn copy_flushed_into(ring: &mut Producer<f32>, samples: &[f32]) -> Option<bool> {
    let mut chunk = ring.write_chunk_uninit(samples.len()).ok()?;
    let (first, second) = chunk.as_mut_slices();
    let (samples_first, samples_second) = samples.split_at(first.len());
    let had_subnormals = copy_flushed(samples_first, first) | copy_flushed(samples_second, second);
    // SAFETY: the chunk's two slices together are `samples.len()` slots long, and
    // `copy_flushed` wrote every one of them (`first` from the first `first.len()` samples,
    // `second` from the rest), so all the slots committed are initialised. rtrb's safe
    // `write_chunk` would fill them with zeros first: a second pass this one avoids.
    unsafe { chunk.commit_all() };
    Some(had_subnormals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::PositionSource;

    fn info(pos: i64) -> BlockInfo {
        BlockInfo {
            pos_samples: pos,
            source: PositionSource::HostTransport,
            playing: true,
            sample_rate_hz: 48_000.0,
        }
    }

    fn scratch() -> [Vec<f32>; MAX_CHANNELS] {
        [vec![0.0; MAX_PIECE_FRAMES], vec![0.0; MAX_PIECE_FRAMES]]
    }

    #[test]
    fn pieces_arrive_in_order_with_their_samples() {
        let (mut tx, mut rx) = lane_pair(LaneConfig::for_sample_rate(48_000.0));
        let left: Vec<f32> = (0..300).map(|i| i as f32).collect();
        let right: Vec<f32> = (0..300).map(|i| -(i as f32)).collect();
        assert_eq!(
            tx.push_block(&info(1000), &[&left[..100], &right[..100]]),
            PushOutcome::Pushed
        );
        assert_eq!(
            tx.push_block(&info(1100), &[&left[100..], &right[100..]]),
            PushOutcome::Pushed
        );

        let mut out = scratch();
        let h0 = rx.pop_into(&mut out).unwrap();
        assert_eq!(
            (h0.seq, h0.pos_samples, h0.num_frames, h0.num_channels),
            (0, 1000, 100, 2)
        );
        assert_eq!(&out[0][..100], &left[..100]);
        assert_eq!(&out[1][..100], &right[..100]);
        let h1 = rx.pop_into(&mut out).unwrap();
        assert_eq!((h1.seq, h1.pos_samples, h1.num_frames), (1, 1100, 200));
        assert_eq!(&out[1][..200], &right[100..]);
        assert!(rx.pop_into(&mut out).is_none());
    }

    #[test]
    fn frames_dropped_upstream_are_reported_by_the_next_piece() {
        let (mut tx, mut rx) = lane_pair(LaneConfig::for_sample_rate(48_000.0));
        let block = [0.5f32; 100];
        tx.push_block(&info(0), &[&block[..]]);
        // 512 frames lost in a ring before this lane: the next piece starts after them.
        tx.add_dropped_frames(512);
        tx.push_block(&info(612), &[&block[..]]);
        tx.push_block(&info(712), &[&block[..]]);
        let mut out = scratch();
        let dropped: Vec<(i64, u64)> = std::iter::from_fn(|| rx.pop_into(&mut out))
            .map(|h| (h.pos_samples, h.dropped_frames_before))
            .collect();
        assert_eq!(dropped, [(0, 0), (612, 512), (712, 0)]);
        // Not this lane's own drops.
        assert_eq!(tx.stats().load(), (300, 0, 0));
    }

    #[test]
    fn long_blocks_are_split_into_pieces() {
        let (mut tx, mut rx) = lane_pair(LaneConfig::for_sample_rate(48_000.0));
        let mono: Vec<f32> = (0..10_000).map(|i| i as f32).collect();
        assert_eq!(tx.push_block(&info(0), &[&mono[..]]), PushOutcome::Pushed);
        let mut out = scratch();
        let mut next = 0;
        while let Some(h) = rx.pop_into(&mut out) {
            assert_eq!(h.pos_samples, next);
            assert!(h.num_frames as usize <= MAX_PIECE_FRAMES);
            assert_eq!(out[0][0], next as f32);
            next += i64::from(h.num_frames);
        }
        assert_eq!(next, 10_000);
    }

    #[test]
    fn a_full_lane_drops_and_the_next_header_says_how_much() {
        let config = LaneConfig {
            capacity_frames: 1024,
            capacity_headers: 64,
        };
        let (mut tx, mut rx) = lane_pair(config);
        let block = vec![0.5f32; 512];
        // 1024 frames of stereo room: two blocks fit, the third and fourth are dropped.
        for i in 0..4 {
            let outcome = tx.push_block(&info(i * 512), &[&block, &block]);
            assert_eq!(
                outcome,
                if i < 2 {
                    PushOutcome::Pushed
                } else {
                    PushOutcome::Dropped
                }
            );
        }
        assert_eq!(tx.stats().load(), (1024, 1024, 2));
        let mut out = scratch();
        rx.pop_into(&mut out).unwrap();
        rx.pop_into(&mut out).unwrap();
        // Each drop left a header of no frames saying where the lane got to.
        for (seq, end) in [(2, 1536), (3, 2048)] {
            let m = rx.pop_into(&mut out).unwrap();
            assert_eq!(
                (m.seq, m.num_frames, m.pos_samples, m.dropped_frames_before),
                (seq, 0, end, 512)
            );
        }
        tx.push_block(&info(4 * 512), &[&block, &block]);
        let h = rx.pop_into(&mut out).unwrap();
        assert_eq!(h.seq, 4, "seq counts the dropped pieces");
        assert_eq!(h.dropped_frames_before, 0, "already reported");
        assert_eq!(h.pos_samples, 2048);

        // With the header ring full too, the next header that gets through carries the count.
        let (mut tx, mut rx) = lane_pair(LaneConfig {
            capacity_frames: 1024,
            capacity_headers: 2,
        });
        for i in 0..4 {
            tx.push_block(&info(i * 512), &[&block, &block]);
        }
        rx.pop_into(&mut out).unwrap();
        rx.pop_into(&mut out).unwrap();
        tx.push_block(&info(4 * 512), &[&block, &block]);
        let h = rx.pop_into(&mut out).unwrap();
        assert_eq!(
            (h.seq, h.dropped_frames_before, h.pos_samples),
            (4, 1024, 2048)
        );
    }

    #[test]
    fn empty_blocks_send_nothing() {
        let (mut tx, rx) = lane_pair(LaneConfig::for_sample_rate(44_100.0));
        let none: [&[f32]; 0] = [];
        assert_eq!(tx.push_block(&info(0), &none), PushOutcome::Empty);
        assert_eq!(
            tx.push_block(&info(0), &[&[] as &[f32]]),
            PushOutcome::Empty
        );
        assert!(rx.is_empty());
    }

    #[test]
    fn the_flushing_push_zeroes_subnormals_in_the_block_and_the_lane_alike() {
        let config = LaneConfig {
            capacity_frames: 1024,
            capacity_headers: 64,
        };
        let (mut tx, mut rx) = lane_pair(config);
        let tiny = f32::MIN_POSITIVE / 4.0;
        let input: Vec<f32> = (0..600)
            .map(|i| match i % 4 {
                0 => tiny,
                1 => -tiny,
                2 => f32::NAN,
                _ => i as f32,
            })
            .collect();
        let expected: Vec<u32> = input
            .iter()
            .map(|x| crate::subnormal::flush_subnormal(*x).to_bits())
            .collect();
        let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
        // Three channels: the third is not carried but flushed all the same. The second block
        // finds the lane full (600 + 600 > 1024 frames) and is dropped, but still flushed.
        for (block, outcome) in [(0, PushOutcome::Pushed), (1, PushOutcome::Dropped)] {
            let mut channels = [input.clone(), input.clone(), input.clone()];
            assert_eq!(
                tx.push_block_flushing(&info(block * 600), &mut channels),
                outcome
            );
            for channel in &channels {
                assert_eq!(bits(channel), expected, "block {block}");
            }
        }
        let mut out = scratch();
        let header = rx.pop_into(&mut out).unwrap();
        assert_eq!((header.num_frames, header.num_channels), (600, 2));
        assert_eq!(bits(&out[0][..600]), expected);
        assert_eq!(bits(&out[1][..600]), expected);
        // The dropped block leaves a header of no frames that says so.
        let marker = rx.pop_into(&mut out).unwrap();
        assert_eq!((marker.num_frames, marker.dropped_frames_before), (0, 600));
        assert!(rx.pop_into(&mut out).is_none());
        assert_eq!(tx.stats().load(), (600, 600, 1));
        // Channels of unequal length: the frames past the shortest are flushed too.
        let mut ragged = [vec![tiny; 10], vec![tiny; 20]];
        tx.push_block_flushing(&info(1200), &mut ragged);
        assert!(ragged.iter().flatten().all(|x| x.to_bits() == 0));
    }

    #[test]
    fn dropping_the_producer_abandons_the_lane() {
        let (tx, rx) = lane_pair(LaneConfig::for_sample_rate(48_000.0));
        assert!(!rx.is_abandoned());
        drop(tx);
        assert!(rx.is_abandoned());
    }

    #[test]
    fn an_offline_push_waits_for_the_consumer_instead_of_dropping() {
        let config = LaneConfig {
            capacity_frames: 1024,
            capacity_headers: 64,
        };
        let (mut tx, mut rx) = lane_pair(config);
        let consumer = std::thread::spawn(move || {
            let mut out = scratch();
            let mut next = 0i64;
            // 64 blocks of 512 frames: 32 times what the lane holds.
            while next < 64 * 512 {
                match rx.pop_into(&mut out) {
                    Some(h) => {
                        assert_eq!(h.pos_samples, next, "in order, nothing skipped");
                        assert_eq!(out[0][0], next as f32);
                        next += i64::from(h.num_frames);
                    }
                    None => std::thread::yield_now(),
                }
            }
            next
        });
        for i in 0..64 {
            let block: Vec<f32> = (0..512).map(|k| (i * 512 + k) as f32).collect();
            let outcome =
                tx.push_block_waiting(&info(i * 512), &[&block, &block], Duration::from_secs(10));
            assert_eq!(outcome, PushOutcome::Pushed);
        }
        assert_eq!(consumer.join().unwrap(), 64 * 512);
        assert_eq!(tx.stats().load(), (64 * 512, 0, 0));
    }

    #[test]
    fn an_offline_push_gives_up_at_its_limit_and_then_drops_without_waiting() {
        let config = LaneConfig {
            capacity_frames: 1024,
            capacity_headers: 64,
        };
        let (mut tx, _rx) = lane_pair(config);
        let block = vec![0.25f32; 512];
        let limit = Duration::from_millis(5);
        for i in 0..2 {
            assert_eq!(
                tx.push_block_waiting(&info(i * 512), &[&block, &block], limit),
                PushOutcome::Pushed
            );
        }
        // Nobody drains: the third block waits out its limit and is a counted drop; later ones
        // drop at once (the consumer is stuck), and are counted too.
        for i in 2..6 {
            assert_eq!(
                tx.push_block_waiting(&info(i * 512), &[&block, &block], limit),
                PushOutcome::Dropped
            );
        }
        assert_eq!(tx.stats().load(), (1024, 4 * 512, 4));
        assert!(tx.wait_timed_out);
    }
}
