//! The consumer side of the bus: lines up the lanes of one group on the host timeline.
//!
//! An [`Aligner`] owns the [`LaneConsumer`]s of one group and a window of `window_frames`
//! frames per lane, indexed by timeline position. Each call to [`Aligner::poll`] drains the
//! lanes in lock step (no lane may run more than a window ahead of the slowest one that still
//! has data), places every piece at its timeline position, and emits [`AlignedChunk`]s: stretches
//! of the timeline in which every lane is either fully present or fully missing.
//!
//! # Epochs
//!
//! An epoch is one uninterrupted transport run. A lane leaves the current epoch when its
//! transport stops, or when its position jumps backwards or further forwards than the window
//! (a locate, a loop wrap): it is *parked* at the first piece after the jump, which stays in
//! its ring. When no lane is left in the epoch, the remaining window is flushed, the epoch
//! ends, and the next one starts at the earliest parked position. Audio from before a jump is
//! therefore never mixed with audio from after it, even when a loop wraps to a position the
//! previous pass already covered. A lane still delivering pre-jump audio after the epoch changed
//! has that audio discarded as stale until it, too, jumps.
//!
//! A lane whose position moves forward by less than the window (dropped pieces, a small
//! locate) stays in the epoch: the skipped frames are missing.
//!
//! # Missing audio
//!
//! Frames are emitted once every lane in the epoch has delivered past them. A lane that falls a
//! whole window behind the others (a host that suspended it, a lane that never processes) is
//! reported missing for the frames it did not deliver in time; its late audio is counted and
//! discarded. The owner calls [`Aligner::end_epoch_if_stalled`] when no audio has arrived for a
//! while, so that the tail of a run is not held back by a lane that went quiet.
//!
//! # Lanes the owner learns of late
//!
//! Emission waits only for the lanes the aligner has. An owner that learns of an instance some
//! time after the instance announced itself (another process's ring, found between two polls)
//! calls [`Aligner::hold_audio_one_poll`]: audio placed in one poll is then emitted no earlier
//! than the next poll, so a lane the owner adds in between takes part in every frame the other
//! lanes delivered after the owner last looked for new instances.

use crate::block::BlockHeader;
use crate::lane::{LaneConsumer, MAX_CHANNELS, MAX_PIECE_FRAMES};

/// Identifies a lane; chosen by the owner, unique among the lanes it has registered.
pub type LaneId = u32;

/// Positions within this many samples of the expected one count as continuous. Hosts that give
/// the position in seconds or beats have it rounded to samples, which can be off by one.
pub const CONTINUITY_TOLERANCE_SAMPLES: i64 = 1;

/// How large the alignment window is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlignerConfig {
    /// Frames per lane the window holds: how far lanes may drift apart before the slowest one is
    /// reported missing. At least two pieces ([`MAX_PIECE_FRAMES`]) long.
    pub window_frames: usize,
    /// Longest chunk handed to the sink, in frames.
    pub max_chunk_frames: usize,
}

impl Default for AlignerConfig {
    fn default() -> Self {
        Self {
            window_frames: 8 * MAX_PIECE_FRAMES,
            max_chunk_frames: 1024,
        }
    }
}

/// Receives what the aligner produces.
pub trait AlignSink {
    /// Every piece consumed from a lane, aligned or not (metering sees stopped-transport audio
    /// too). `channels` holds `header.num_channels` slices of `header.num_frames` samples,
    /// already sanitised (no NaN, infinity or subnormal values).
    fn piece(&mut self, lane: LaneId, header: &BlockHeader, channels: &[&[f32]]) {
        let _ = (lane, header, channels);
    }

    /// One aligned stretch of the timeline.
    fn chunk(&mut self, chunk: &AlignedChunk<'_>);

    /// The epoch ended: after this no chunk of it follows.
    fn epoch_end(&mut self, summary: &EpochSummary) {
        let _ = summary;
    }
}

/// Why an epoch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochEnd {
    /// Every lane stopped, jumped, or left.
    Transport,
    /// No audio arrived for a while ([`Aligner::end_epoch_if_stalled`]).
    Stalled,
    /// The aligner was flushed by its owner ([`Aligner::finish`]).
    Finished,
}

/// Facts about an epoch, given to [`AlignSink::epoch_end`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochSummary {
    /// The epoch's number, counting from 1.
    pub epoch: u64,
    /// Timeline position the epoch started at, in samples.
    pub start_pos_samples: i64,
    /// Timeline position just past the last emitted frame.
    pub end_pos_samples: i64,
    /// Sample rate of the epoch, in Hz.
    pub sample_rate_hz: f32,
    /// Why it ended.
    pub reason: EpochEnd,
}

/// One lane's view of an [`AlignedChunk`].
#[derive(Debug, Clone, Copy)]
pub struct LaneSlice<'a> {
    /// The lane.
    pub id: LaneId,
    /// Whether the lane has audio for this stretch. When `false`, `channels` are empty.
    pub present: bool,
    /// Channel count the lane delivered in this epoch (1 or 2).
    pub num_channels: usize,
    /// The samples: `channels[1]` is `channels[0]` for a mono lane.
    pub channels: [&'a [f32]; MAX_CHANNELS],
}

/// A stretch of the timeline with every lane of the group either present or missing throughout.
pub struct AlignedChunk<'a> {
    /// Epoch number (see [`EpochSummary::epoch`]).
    pub epoch: u64,
    /// Timeline position of the first frame, in samples.
    pub start_pos_samples: i64,
    /// Frames in the chunk.
    pub num_frames: usize,
    /// Sample rate of the epoch, in Hz.
    pub sample_rate_hz: f32,
    lanes: &'a [Lane],
    offset: usize,
}

impl<'a> AlignedChunk<'a> {
    /// Every lane of the group, present or not, in registration order.
    pub fn lanes(&self) -> impl Iterator<Item = LaneSlice<'a>> + '_ {
        self.lanes.iter().map(move |lane| {
            let present = lane.in_epoch && lane.covered[self.offset];
            if !present {
                return LaneSlice {
                    id: lane.id,
                    present,
                    num_channels: lane.num_channels.max(1),
                    channels: [&[], &[]],
                };
            }
            let range = self.offset..self.offset + self.num_frames;
            let left = &lane.data[0][range.clone()];
            let right = if lane.num_channels >= 2 {
                &lane.data[1][range]
            } else {
                left
            };
            LaneSlice {
                id: lane.id,
                present,
                num_channels: lane.num_channels.max(1),
                channels: [left, right],
            }
        })
    }

    /// The slice of one lane, if the lane belongs to this group.
    pub fn lane(&self, id: LaneId) -> Option<LaneSlice<'a>> {
        self.lanes().find(|l| l.id == id)
    }
}

/// Where a lane stands in the current epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneState {
    /// Taking part: its pieces are placed as they come.
    Open,
    /// Its next piece comes after a jump; it waits in the ring for the next epoch.
    Parked,
    /// Its transport is stopped.
    Stopped,
}

/// Counters of one lane as the aligner saw it (all in frames unless named otherwise).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LaneCounters {
    /// Frames placed on the timeline.
    pub placed_frames: u64,
    /// Frames that arrived after their stretch had been emitted (the lane lagged a whole window).
    pub late_frames: u64,
    /// Pre-jump frames that arrived after the epoch changed, discarded.
    pub stale_frames: u64,
    /// Frames skipped inside an epoch (drops, small forward jumps).
    pub gap_frames: u64,
    /// Frames at a sample rate other than the epoch's, not aligned.
    pub rate_mismatch_frames: u64,
    /// Frames received while the transport was stopped.
    pub stopped_frames: u64,
    /// Samples that were NaN or infinite, replaced with 0.
    pub non_finite_samples: u64,
    /// Pieces the producer dropped, as seen from sequence gaps.
    pub dropped_pieces: u64,
    /// Frames the producer dropped, as reported in headers.
    pub dropped_frames: u64,
}

/// A public, copyable description of a lane, for snapshots.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LaneStatus {
    /// The lane.
    pub id: LaneId,
    /// Where it stands in the epoch.
    pub state: LaneState,
    /// Channels it delivers.
    pub num_channels: usize,
    /// Sample rate of its last piece, in Hz (0 before any).
    pub sample_rate_hz: f32,
    /// Its counters.
    pub counters: LaneCounters,
}

struct Lane {
    id: LaneId,
    consumer: LaneConsumer,
    /// Window storage, planar, indexed by `timeline position mod window_frames`.
    data: [Vec<f32>; MAX_CHANNELS],
    /// Whether the frame at each window index holds this epoch's audio.
    covered: Vec<bool>,
    num_channels: usize,
    state: LaneState,
    /// Whether this lane takes part in the current epoch's chunks.
    in_epoch: bool,
    /// Timeline position just past the last frame placed in this epoch.
    frontier: Option<i64>,
    /// Raw position just past the last playing piece consumed (any epoch), for continuity.
    last_end: Option<i64>,
    /// Pre-jump audio may still arrive: discard continuous pieces until a discontinuity.
    must_break: bool,
    /// Whether any piece was ever consumed from this lane.
    ever_delivered: bool,
    next_seq: Option<u64>,
    last_sample_rate_hz: f32,
    counters: LaneCounters,
}

struct Epoch {
    id: u64,
    start_pos_samples: i64,
    /// First frame not yet emitted.
    cursor: i64,
    sample_rate_hz: f32,
}

/// Aligns the lanes of one group. See the module documentation.
pub struct Aligner {
    config: AlignerConfig,
    lanes: Vec<Lane>,
    epoch: Option<Epoch>,
    epochs_started: u64,
    scratch: [Vec<f32>; MAX_CHANNELS],
    /// Whether [`Self::poll`] removes lanes whose producer is gone once they are empty (else
    /// the owner does, with [`Self::remove_drained_lane`]).
    remove_abandoned: bool,
    /// Whether audio placed in one poll waits for the next ([`Self::hold_audio_one_poll`]).
    hold_one_poll: bool,
    /// With `hold_one_poll`: the earliest timeline position placed since the current poll
    /// began (`None`: nothing yet). Emission stops short of it until the next poll; everything
    /// before it was placed in earlier polls, or by no lane (a gap may be passed).
    placed_this_poll_from: Option<i64>,
}

/// What the piece at the head of a lane may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Transport stopped: consume it for metering only.
    Stopped,
    /// Audio from before a jump arriving after the epoch changed: consume and discard.
    Stale,
    /// At a sample rate other than the epoch's: consume, count, do not align.
    RateMismatch,
    /// Place it with its first frame at this timeline position.
    At(i64),
    /// It would end at this position, past the window: the window must move first.
    Blocked(i64),
    /// It starts a new segment (or no epoch runs): park the lane.
    Park,
}

impl Aligner {
    /// An aligner with no lanes.
    pub fn new(config: AlignerConfig) -> Self {
        let config = AlignerConfig {
            window_frames: config.window_frames.max(2 * MAX_PIECE_FRAMES),
            max_chunk_frames: config.max_chunk_frames.clamp(1, config.window_frames),
        };
        Self {
            config,
            lanes: Vec::new(),
            epoch: None,
            epochs_started: 0,
            scratch: [vec![0.0; MAX_PIECE_FRAMES], vec![0.0; MAX_PIECE_FRAMES]],
            remove_abandoned: true,
            hold_one_poll: false,
            placed_this_poll_from: None,
        }
    }

    /// Holds the audio placed in one [`Self::poll`] until the next one: between two polls the
    /// owner looks for new instances and adds their lanes, and a lane added then is waited for
    /// at every position the other lanes delivered after that look (it is not left out of
    /// frames already emitted). Costs one poll of latency; epoch ends, stalls and
    /// [`Self::finish`] still emit everything placed.
    pub fn hold_audio_one_poll(&mut self) {
        self.hold_one_poll = true;
    }

    /// Keeps lanes whose producer is gone until the owner removes them with
    /// [`Self::remove_drained_lane`]: for owners that may hand such a lane a new consumer
    /// ([`Self::replace_consumer`]) when its producer is re-created.
    pub fn keep_abandoned_lanes(&mut self) {
        self.remove_abandoned = false;
    }

    /// Removes lane `id` if its producer is gone and everything it sent was consumed, and
    /// emits what that releases. Returns whether it was removed.
    pub fn remove_drained_lane(&mut self, id: LaneId, sink: &mut impl AlignSink) -> bool {
        let Some(index) = self.lanes.iter().position(|l| l.id == id) else {
            return false;
        };
        let consumer = &self.lanes[index].consumer;
        if !(consumer.is_abandoned() && consumer.is_empty()) {
            return false;
        }
        self.lanes.remove(index);
        self.emit_ready(sink);
        true
    }

    /// Adds a lane. It joins the running epoch from its first piece on.
    pub fn add_lane(&mut self, id: LaneId, consumer: LaneConsumer) {
        let window = self.config.window_frames;
        self.lanes.push(Lane {
            id,
            consumer,
            data: [vec![0.0; window], vec![0.0; window]],
            covered: vec![false; window],
            num_channels: 1,
            state: LaneState::Open,
            in_epoch: self.epoch.is_some(),
            frontier: None,
            last_end: None,
            must_break: false,
            ever_delivered: false,
            next_seq: None,
            last_sample_rate_hz: 0.0,
            counters: LaneCounters::default(),
        });
    }

    /// Removes a lane at once, returning its consumer (to move it to another group). Its
    /// frames already in the window are forgotten.
    pub fn remove_lane(&mut self, id: LaneId) -> Option<LaneConsumer> {
        let index = self.lanes.iter().position(|l| l.id == id)?;
        Some(self.lanes.remove(index).consumer)
    }

    /// Gives lane `id` a new consumer (its producer was re-created: a plugin re-registered),
    /// keeping its place on the timeline: window, frontier and counters stay, so a producer
    /// that goes on where the old one stopped continues the lane without a gap, and the lane
    /// never exists twice. Pieces left unread in the old consumer are discarded with it (their
    /// frames become a counted gap if the new producer goes on after them). Returns the old
    /// consumer, or gives `consumer` back if there is no such lane.
    pub fn replace_consumer(
        &mut self,
        id: LaneId,
        consumer: LaneConsumer,
    ) -> Result<LaneConsumer, LaneConsumer> {
        let Some(lane) = self.lanes.iter_mut().find(|l| l.id == id) else {
            return Err(consumer);
        };
        // The new producer numbers its pieces from 0.
        lane.next_seq = None;
        Ok(std::mem::replace(&mut lane.consumer, consumer))
    }

    /// Number of lanes.
    pub fn num_lanes(&self) -> usize {
        self.lanes.len()
    }

    /// The lanes' ids, states and counters.
    pub fn lane_statuses(&self) -> impl Iterator<Item = LaneStatus> + '_ {
        self.lanes.iter().map(|l| LaneStatus {
            id: l.id,
            state: l.state,
            num_channels: l.num_channels,
            sample_rate_hz: l.last_sample_rate_hz,
            counters: l.counters,
        })
    }

    /// The current epoch's number and sample rate, if one is running.
    pub fn current_epoch(&self) -> Option<(u64, f32)> {
        self.epoch.as_ref().map(|e| (e.id, e.sample_rate_hz))
    }

    /// Drains every lane as far as possible, emitting chunks and epoch ends into `sink`, and
    /// returns right after an epoch ends (call again to go on). Returns whether any piece was
    /// consumed. Lanes whose producer is gone are removed once
    /// their last piece has been consumed.
    pub fn poll(&mut self, sink: &mut impl AlignSink) -> bool {
        // Everything placed so far was placed before the owner's last look for new lanes.
        self.placed_this_poll_from = None;
        let mut consumed_any = false;
        loop {
            let mut consumed = false;
            for index in 0..self.lanes.len() {
                consumed |= self.drain_lane(index, sink);
            }
            // Emitting makes room in the window: drain again (audio held from the previous
            // poll is emitted here, before any is drained).
            let moved = self.emit_ready(sink);

            if self.epoch.is_some() && !self.lanes.iter().any(Self::holds_epoch_open) {
                self.end_epoch(EpochEnd::Transport, sink);
                // Return before the next epoch starts, so that the owner sees the finished
                // epoch's state (counters, analysis) as it ended.
                consumed_any |= consumed;
                break;
            }
            if self.epoch.is_none() && self.try_start_epoch() {
                consumed = true;
            }
            if !consumed && self.epoch.is_some() && self.force_advance(sink) {
                consumed = true;
            }
            consumed_any |= consumed;
            if !consumed && !moved {
                break;
            }
        }
        if self.remove_abandoned {
            self.remove_abandoned(sink);
        }
        consumed_any
    }

    /// Ends the running epoch as if its transport stopped: emits everything placed, then lets
    /// the lanes start the next epoch without a jump. For the owner to call when no audio
    /// arrived for a while.
    pub fn end_epoch_if_stalled(&mut self, sink: &mut impl AlignSink) {
        if self.epoch.is_some() {
            self.end_epoch(EpochEnd::Stalled, sink);
        }
    }

    /// Drains what is left and ends the epoch (for the owner's shutdown).
    pub fn finish(&mut self, sink: &mut impl AlignSink) {
        self.poll(sink);
        if self.epoch.is_some() {
            self.end_epoch(EpochEnd::Finished, sink);
        }
    }

    /// Whether this lane may still deliver audio for the current epoch, so that emission and
    /// the epoch's end wait for it (until the window is full, or the owner declares a stall). A
    /// lane that has never delivered anything and has nothing queued does not hold it open.
    fn holds_epoch_open(lane: &Lane) -> bool {
        Self::blocks_emission(lane) && (lane.ever_delivered || !lane.consumer.is_empty())
    }

    /// Whether emission waits for this lane. Every open lane counts, even one that has not
    /// delivered yet (its host may simply process it later in the cycle); the window's size
    /// bounds the wait.
    fn blocks_emission(lane: &Lane) -> bool {
        lane.in_epoch && lane.state == LaneState::Open && !lane.must_break
    }

    /// Decides what the head piece of a lane may do, without consuming it.
    fn plan(&self, lane: &Lane, header: &BlockHeader) -> Plan {
        if !header.playing {
            return Plan::Stopped;
        }
        let expected = lane
            .last_end
            .map(|end| end.saturating_add(header.dropped_frames_before as i64));
        let continuous = lane.state != LaneState::Stopped
            && expected
                .is_some_and(|e| (header.pos_samples - e).abs() <= CONTINUITY_TOLERANCE_SAMPLES);
        if lane.must_break && continuous {
            return Plan::Stale;
        }
        let Some(epoch) = self.epoch.as_ref().filter(|_| lane.in_epoch) else {
            return Plan::Park;
        };
        if header.sample_rate_hz != epoch.sample_rate_hz {
            return Plan::RateMismatch;
        }
        let window_end = epoch.cursor + self.config.window_frames as i64;
        let target = match lane.frontier {
            None => header.pos_samples,
            // Continuous, possibly after dropped pieces: those frames stay missing.
            Some(frontier) if continuous && !lane.must_break => {
                frontier.saturating_add(header.dropped_frames_before as i64)
            }
            // A forward skip inside the window (drops, a small locate): a gap, same epoch.
            Some(frontier) if header.pos_samples > frontier && header.pos_samples < window_end => {
                header.pos_samples
            }
            Some(_) => return Plan::Park,
        };
        let end = target + i64::from(header.num_frames);
        if end > window_end {
            Plan::Blocked(end)
        } else {
            Plan::At(target)
        }
    }

    fn drain_lane(&mut self, index: usize, sink: &mut impl AlignSink) -> bool {
        let mut consumed = false;
        // Bounded: every iteration consumes a piece or breaks.
        while let Some(header) = self.lanes[index].consumer.peek().copied() {
            let plan = self.plan(&self.lanes[index], &header);
            let frames = u64::from(header.num_frames);
            match plan {
                Plan::Park => {
                    self.lanes[index].state = LaneState::Parked;
                    break;
                }
                Plan::Blocked(_) => break,
                Plan::Stopped | Plan::Stale | Plan::RateMismatch | Plan::At(_) => {
                    self.consume(index, &header, sink);
                    consumed = true;
                }
            }
            let lane = &mut self.lanes[index];
            lane.ever_delivered = true;
            lane.last_sample_rate_hz = header.sample_rate_hz;
            match plan {
                Plan::Stopped => {
                    lane.counters.stopped_frames += frames;
                    lane.state = LaneState::Stopped;
                    lane.last_end = None;
                    lane.must_break = false;
                }
                Plan::Stale => {
                    lane.counters.stale_frames += frames;
                    lane.last_end = Some(header.end_pos_samples());
                }
                Plan::RateMismatch => {
                    lane.counters.rate_mismatch_frames += frames;
                    lane.last_end = Some(header.end_pos_samples());
                }
                Plan::At(pos) => {
                    lane.must_break = false;
                    self.place(index, pos, &header);
                }
                Plan::Park | Plan::Blocked(_) => {}
            }
        }
        consumed
    }

    /// Pops the head piece into scratch (sanitised), tells the sink, and keeps the counters.
    fn consume(&mut self, index: usize, header: &BlockHeader, sink: &mut impl AlignSink) {
        let lane = &mut self.lanes[index];
        let Some(popped) = lane.consumer.pop_into(&mut self.scratch) else {
            return;
        };
        if let Some(seq) = lane.next_seq
            && popped.seq != seq
        {
            lane.counters.dropped_pieces += popped.seq.wrapping_sub(seq);
        }
        // A header of no frames stands for the piece the producer dropped, with its number.
        if popped.num_frames == 0 {
            lane.counters.dropped_pieces += 1;
        }
        lane.next_seq = Some(popped.seq.wrapping_add(1));
        lane.counters.dropped_frames += popped.dropped_frames_before;

        let frames = header.num_frames as usize;
        let channels = (header.num_channels as usize).clamp(1, MAX_CHANNELS);
        for channel in self.scratch.iter_mut().take(channels) {
            for sample in &mut channel[..frames] {
                if !sample.is_finite() {
                    lane.counters.non_finite_samples += 1;
                    *sample = 0.0;
                } else if sample.is_subnormal() {
                    *sample = 0.0;
                }
            }
        }
        let views: [&[f32]; MAX_CHANNELS] =
            [&self.scratch[0][..frames], &self.scratch[1][..frames]];
        sink.piece(lane.id, header, &views[..channels]);
    }

    /// Writes the piece now in scratch into the lane's window at `pos`.
    fn place(&mut self, index: usize, pos: i64, header: &BlockHeader) {
        let Some(epoch) = self.epoch.as_ref() else {
            return;
        };
        let window = self.config.window_frames;
        let frames = header.num_frames as usize;
        let channels = (header.num_channels as usize).clamp(1, MAX_CHANNELS);
        let lane = &mut self.lanes[index];

        if let Some(frontier) = lane.frontier
            && pos > frontier
        {
            lane.counters.gap_frames += (pos - frontier) as u64;
        }
        // Frames before the cursor were already emitted without this lane.
        let skip = (epoch.cursor - pos).clamp(0, frames as i64) as usize;
        lane.counters.late_frames += skip as u64;
        if lane.frontier.is_none() || channels > lane.num_channels {
            lane.num_channels = channels;
        }
        if skip < frames {
            let from = pos + skip as i64;
            self.placed_this_poll_from =
                Some(self.placed_this_poll_from.map_or(from, |f| f.min(from)));
        }
        let lane = &mut self.lanes[index];
        for i in skip..frames {
            let slot = (pos + i as i64).rem_euclid(window as i64) as usize;
            for c in 0..MAX_CHANNELS {
                // A mono piece in a lane that was stereo fills both channels.
                lane.data[c][slot] = self.scratch[c.min(channels - 1)][i];
            }
            lane.covered[slot] = true;
        }
        lane.counters.placed_frames += (frames - skip) as u64;
        lane.state = LaneState::Open;
        lane.frontier = Some(pos + frames as i64);
        lane.last_end = Some(header.end_pos_samples());
    }

    /// Emits every frame that all lanes in the epoch have delivered. Returns whether the
    /// cursor moved.
    fn emit_ready(&mut self, sink: &mut impl AlignSink) -> bool {
        let Some(epoch) = self.epoch.as_ref() else {
            return false;
        };
        let ready_end = self
            .lanes
            .iter()
            .filter(|l| Self::blocks_emission(l))
            .map(|l| l.frontier.unwrap_or(epoch.cursor))
            .min();
        let end = match ready_end {
            Some(end) => end,
            // Nobody holds the epoch open: everything placed is final.
            None => self.max_frontier(),
        };
        self.emit_until(end.min(self.release_end()), sink)
    }

    /// How far emission may go in this poll (see [`Self::hold_audio_one_poll`]).
    fn release_end(&self) -> i64 {
        match self.placed_this_poll_from {
            Some(from) if self.hold_one_poll => from,
            _ => i64::MAX,
        }
    }

    /// When no lane can make progress because the window is full while a lagging lane has not
    /// delivered, moves the window on: the lagging lane is missing for those frames.
    fn force_advance(&mut self, sink: &mut impl AlignSink) -> bool {
        let Some(epoch) = self.epoch.as_ref() else {
            return false;
        };
        let window = self.config.window_frames as i64;
        let needed_end = self
            .lanes
            .iter()
            .filter_map(|l| match self.plan(l, l.consumer.peek()?) {
                Plan::Blocked(end) => Some(end),
                _ => None,
            })
            .min();
        match needed_end {
            Some(end) if end > epoch.cursor + window => {
                let to = (end - window).min(self.release_end());
                self.emit_until(to, sink)
            }
            _ => false,
        }
    }

    fn max_frontier(&self) -> i64 {
        let cursor = self.epoch.as_ref().map_or(0, |e| e.cursor);
        self.lanes
            .iter()
            .filter(|l| l.in_epoch)
            .filter_map(|l| l.frontier)
            .fold(cursor, i64::max)
    }

    /// Emits `[cursor, end)` as chunks, splitting wherever any lane's presence changes, at the
    /// window's wrap-around, and at `max_chunk_frames`. Stretches where no lane is present are
    /// skipped. Returns whether the cursor moved.
    fn emit_until(&mut self, end: i64, sink: &mut impl AlignSink) -> bool {
        let window = self.config.window_frames;
        let Some(epoch) = self.epoch.as_mut() else {
            return false;
        };
        let end = end.min(epoch.cursor + window as i64);
        let moved = epoch.cursor < end;
        while epoch.cursor < end {
            let offset = epoch.cursor.rem_euclid(window as i64) as usize;
            let max_len = ((end - epoch.cursor) as usize)
                .min(window - offset)
                .min(self.config.max_chunk_frames);
            let mut len = max_len;
            let mut any_present = false;
            for lane in self.lanes.iter().filter(|l| l.in_epoch) {
                let first = lane.covered[offset];
                any_present |= first;
                let run = lane.covered[offset..offset + len]
                    .iter()
                    .position(|&c| c != first)
                    .unwrap_or(len);
                len = len.min(run);
            }
            if any_present {
                sink.chunk(&AlignedChunk {
                    epoch: epoch.id,
                    start_pos_samples: epoch.cursor,
                    num_frames: len,
                    sample_rate_hz: epoch.sample_rate_hz,
                    lanes: &self.lanes,
                    offset,
                });
            }
            for lane in &mut self.lanes {
                lane.covered[offset..offset + len].fill(false);
            }
            epoch.cursor += len as i64;
        }
        moved
    }

    fn end_epoch(&mut self, reason: EpochEnd, sink: &mut impl AlignSink) {
        let end = self.max_frontier();
        self.emit_until(end, sink);
        let Some(epoch) = self.epoch.take() else {
            return;
        };
        sink.epoch_end(&EpochSummary {
            epoch: epoch.id,
            start_pos_samples: epoch.start_pos_samples,
            end_pos_samples: epoch.cursor,
            sample_rate_hz: epoch.sample_rate_hz,
            reason,
        });
        // If some lane jumped, a lane that was still open may yet deliver audio from before the
        // jump: it must show a jump of its own before its audio counts again.
        let jumped = self.lanes.iter().any(|l| l.state == LaneState::Parked);
        for lane in &mut self.lanes {
            lane.covered.fill(false);
            lane.must_break = lane.must_break
                || (jumped && lane.state == LaneState::Open && lane.last_end.is_some());
            lane.frontier = None;
            lane.in_epoch = false;
        }
    }

    /// Starts an epoch at the earliest playing piece waiting at the head of a lane.
    fn try_start_epoch(&mut self) -> bool {
        let start = self
            .lanes
            .iter()
            .filter_map(|l| {
                let head = l.consumer.peek()?;
                (head.playing && self.plan(l, head) != Plan::Stale).then_some(head)
            })
            .min_by_key(|h| h.pos_samples)
            .map(|h| (h.pos_samples, h.sample_rate_hz));
        let Some((start_pos, sample_rate_hz)) = start else {
            return false;
        };
        self.epochs_started += 1;
        self.epoch = Some(Epoch {
            id: self.epochs_started,
            start_pos_samples: start_pos,
            cursor: start_pos,
            sample_rate_hz,
        });
        for lane in &mut self.lanes {
            lane.in_epoch = true;
            lane.frontier = None;
            if lane.state != LaneState::Stopped {
                lane.state = LaneState::Open;
            }
            // A parked lane's head starts a new segment; make sure it is not taken as a
            // continuation of the previous epoch's audio. Lanes that may still send pre-jump
            // audio keep their end, to recognise it.
            if !lane.must_break {
                lane.last_end = None;
            }
        }
        true
    }

    fn remove_abandoned(&mut self, sink: &mut impl AlignSink) {
        let before = self.lanes.len();
        self.lanes
            .retain(|l| !(l.consumer.is_abandoned() && l.consumer.is_empty()));
        if self.lanes.len() != before {
            self.emit_ready(sink);
        }
    }
}

#[cfg(test)]
mod tests;
