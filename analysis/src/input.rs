//! What the analysis is fed: blocks of aligned audio in which every signal is either present
//! throughout or missing.

/// Identifies a stem; chosen by the caller, stable for the stem's life.
pub type StemId = u32;

/// One signal's audio in a block.
#[derive(Debug, Clone, Copy)]
pub struct SignalAudio<'a> {
    /// `[left, right]`; for a mono signal both are the same slice.
    pub channels: [&'a [f32]; 2],
    /// 1 or 2.
    pub num_channels: usize,
}

impl<'a> SignalAudio<'a> {
    /// A mono signal.
    pub fn mono(samples: &'a [f32]) -> Self {
        Self {
            channels: [samples, samples],
            num_channels: 1,
        }
    }

    /// A stereo signal.
    pub fn stereo(left: &'a [f32], right: &'a [f32]) -> Self {
        Self {
            channels: [left, right],
            num_channels: 2,
        }
    }
}

/// One stem in a block.
#[derive(Debug, Clone, Copy)]
pub struct StemInput<'a> {
    /// The stem's id, stable for its life.
    pub id: StemId,
    /// `None` when the stem's audio is missing for this block (dropped, late, not yet there).
    pub audio: Option<SignalAudio<'a>>,
}

/// A block of aligned audio.
#[derive(Debug, Clone, Copy)]
pub struct Block<'a> {
    /// Frames in the block; every present signal has at least this many samples per channel.
    pub num_frames: usize,
    /// The master, or `None` if missing for this block.
    pub master: Option<SignalAudio<'a>>,
    /// The stems known to the caller, present or missing.
    pub stems: &'a [StemInput<'a>],
}
