//! Level-dependent gain, as data: the master's gain against the predicted master (the stems at
//! their fitted gains through the bus's EQ), block by block, against the predicted master's
//! level. A master-bus compressor or limiter shows as gain that falls as level rises; a limiter
//! also as a flat peak ceiling the predicted master passes. Measured in `analyzer/level_gain.rs`
//! and `analyzer/ceiling.rs` (the models) and `analyzer/frame_gain.rs` (the blocks).

use serde::{Deserialize, Serialize};

use crate::config::{STEM_GAIN_BEYOND_DYNAMICS_DB, STEM_GAIN_BEYOND_DYNAMICS_DEPTH_SHARE};

/// The most of a stem's whole-run gain, in dB, that a master compressor `depth_db` deep gives
/// it (a stem playing mostly in the loud passages takes part of the reduction as a gain):
/// [`STEM_GAIN_BEYOND_DYNAMICS_DB`], or [`STEM_GAIN_BEYOND_DYNAMICS_DEPTH_SHARE`] of the depth
/// when more. A gain beyond it is the stem's own.
pub fn stem_gain_beyond_dynamics_db(depth_db: f32) -> f32 {
    let scaled = if depth_db.is_finite() {
        depth_db * STEM_GAIN_BEYOND_DYNAMICS_DEPTH_SHARE
    } else {
        0.0
    };
    STEM_GAIN_BEYOND_DYNAMICS_DB.max(scaled)
}

/// What the history says.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DynamicsEstimate {
    /// Gain below the knee minus the gain of the loudest 1% of blocks, in dB (positive:
    /// compression).
    pub gain_reduction_db: f32,
    /// How consistently gain falls with level: minus the net share of the loudest blocks turned
    /// down against the gain below the knee (-1: every one of them; near 0: scattered both
    /// ways, as a source the stems lack scatters them).
    pub correlation: f32,
    /// Level span the estimate covers, in dB.
    pub level_span_db: f32,
    /// Frames used.
    pub frames: u64,
}

/// The fitted model of a level-dependent gain (see `analyzer/level_gain.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct LevelGainFit {
    /// The gain below the knee (the bus's static gain as the blocks see it), in dB.
    pub reference_db: f32,
    /// Where the gain starts to fall, in dBFS of the predicted master (blocks' RMS, a
    /// full-scale sine at 0 dBFS).
    pub knee_dbfs: f32,
    /// How fast the gain falls above the knee, in dB of gain per dB of level (0: flat).
    pub slope: f32,
    /// Reference minus the median gain of the loudest 1% of blocks, in dB (positive: the
    /// loudest passages are turned down).
    pub depth_db: f32,
    /// Net share of the loudest blocks whose gain is below the reference by more than
    /// `COMPRESSION_AGREEMENT_MARGIN_DB`, a sign test (those below minus those
    /// above, over both; blocks within the margin are ties and count for neither): 1 when no
    /// loud block is turned up, near 0 for gains scattered both ways.
    pub agreement: f32,
    /// Blocks above the knee whose gain is below the reference by that margin.
    pub blocks_reduced: u64,
    /// Blocks used.
    pub blocks: u64,
    /// The level span covered, in dB.
    pub level_span_db: f32,
    /// Energy of the predicted master the modelled gain reduction removes, over the blocks'
    /// total energy (linear): what the level-dependent gain explains of the residual, re
    /// master.
    pub explained_share: f64,
}

/// The fitted peak ceiling of a limiter (see `analyzer/ceiling.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CeilingFit {
    /// The master's highest block peak, in dBFS (sample peak; a full-scale sample is 0 dBFS).
    pub ceiling_dbfs: f32,
    /// Blocks whose predicted peak passes the ceiling by [`crate::config::CEILING_MARGIN_DB`].
    pub clamped_blocks: usize,
    /// Blocks (of those kept, clamped or not) whose master peak sits at the ceiling (within
    /// [`crate::config::CEILING_HOLD_DB`]).
    pub held_blocks: usize,
    /// The share of the deeper half of the clamped blocks held at the ceiling (a shallower
    /// clamp may fall in the release of a deeper one).
    pub agreement: f32,
    /// The median of how far the clamped blocks' predicted peaks pass the ceiling, in dB.
    pub depth_db: f32,
    /// The most any block's predicted peak passes the ceiling, in dB.
    pub most_db: f32,
}
