//! What travels with every block: the header the audio thread writes next to the samples.

/// Where a block's timeline position came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PositionSource {
    /// The host's transport gave a song position (in samples, or derived from seconds/beats).
    HostTransport,
    /// The host gave no position at all. The position is a free-running count of the samples
    /// processed since activation, offset so that instances activated later line up with the
    /// ones already running (see `stemcheck-live`'s fallback clock). Accurate to about one
    /// block between instances.
    FreeRunning,
}

/// What the audio thread knows about the block it is about to push.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockInfo {
    /// Timeline position of the block's first sample, in samples at `sample_rate_hz`.
    pub pos_samples: i64,
    /// Where `pos_samples` came from.
    pub source: PositionSource,
    /// Whether the transport is rolling. Blocks pushed while stopped are metered but not aligned.
    pub playing: bool,
    /// The sample rate the instance is activated at, in Hz.
    pub sample_rate_hz: f32,
}

/// The fixed-size header stored in a lane's header ring, one per pushed piece of a block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockHeader {
    /// Per-lane sequence number, incremented for every piece the producer was asked to push,
    /// including the ones it had to drop. A gap in `seq` is how the consumer learns of drops.
    pub seq: u64,
    /// Timeline position of the first frame, in samples.
    pub pos_samples: i64,
    /// Frames the producer dropped between the previous header it pushed and this one.
    pub dropped_frames_before: u64,
    /// Frames in this piece. The samples follow in the sample ring, planar, channel by channel.
    pub num_frames: u32,
    /// Channels in this piece (1 or 2; wider hosts' extra channels are not sent).
    pub num_channels: u16,
    /// Whether the transport was rolling.
    pub playing: bool,
    /// Where `pos_samples` came from.
    pub source: PositionSource,
    /// Sample rate in Hz.
    pub sample_rate_hz: f32,
}

impl BlockHeader {
    /// Samples this piece occupies in the sample ring.
    pub fn num_samples(&self) -> usize {
        self.num_frames as usize * self.num_channels as usize
    }

    /// The timeline position just past this piece's last frame.
    pub fn end_pos_samples(&self) -> i64 {
        self.pos_samples + i64::from(self.num_frames)
    }
}
