//! Thresholds and settings of the analysis, each a named constant with its meaning.

use serde::{Deserialize, Serialize};

/// Longest lag searched between the master and a stem: +/-50 ms covers plugin latencies and
/// look-ahead limiters.
pub const MAX_LAG_SECONDS: f32 = 0.055;
/// Analysis frames last about this long (rounded up to a power of two in samples): long enough
/// to resolve the lag range and 1/3-octave bands down to 25 Hz.
pub const FRAME_SECONDS: f32 = 0.17;
/// Residual below this, relative to the master, means the stems null (about a 16-bit noise
/// floor; 24-bit exports null far deeper).
pub const NULLS_BELOW_DB: f32 = -70.0;
/// Master-bus gain reported from this deviation, in dB.
pub const BUS_GAIN_THRESHOLD_DB: f32 = 0.1;
/// Master-bus EQ reported when a band deviates from the broadband gain by this much, in dB.
pub const BUS_EQ_THRESHOLD_DB: f32 = 0.5;
/// Master-bus compression reported from this much level-dependent gain reduction, in dB.
pub const DYNAMICS_THRESHOLD_DB: f32 = 0.5;
/// ... when the frame gain falls with level at least this consistently (correlation of gain
/// with level; -1 is perfectly steady compression).
pub const DYNAMICS_MIN_CORRELATION: f32 = -0.3;
/// Stem gain reported from this deviation, in dB.
pub const STEM_GAIN_THRESHOLD_DB: f32 = 0.1;
/// Stem offsets reported from this many samples (fractional offsets comb-filter the top end).
pub const STEM_OFFSET_MIN_SAMPLES: f32 = 0.2;
/// Content in the master that no stem explains, reported from this level re master, in dB.
pub const MISSING_CONTENT_THRESHOLD_DB: f32 = -50.0;
/// A cause is reported only if it explains at least this share of the residual energy (so a
/// missing reverb is not also blamed on a stem's gain).
pub const CAUSE_MIN_SHARE: f32 = 0.1;
/// A coherent residual whose impulse response has more than this share of its energy beyond
/// 10 ms is a reverb or delay return, not EQ.
pub const LONG_RESPONSE_SPREAD: f32 = 0.5;
/// ... and when at least this share of the residual is coherent with the stems (a reverb fed
/// by the stems is; an independent missing source is not).
pub const LONG_RESPONSE_MIN_COHERENT: f32 = 0.35;
/// Two stems summing this far below the sum of their energies in a band cancel, in dB.
pub const CANCELLATION_THRESHOLD_DB: f32 = -3.0;
/// A cancellation matters only in a band that carries part of the low end: the pair's energy
/// there within this many dB of the stems' strongest low band (-20 dB). Below that it is
/// window leakage or rumble nobody hears.
pub const CANCELLATION_MIN_BAND_DB: f32 = -20.0;
/// Upper edge of the inter-stem cancellation analysis, in Hz.
pub const CANCELLATION_MAX_HZ: f32 = 250.0;
/// A stem quieter than this over a whole pass is silent, in dBFS.
pub const SILENCE_DBFS: f32 = -90.0;
/// A mean (DC) above this is reported, in dBFS.
pub const DC_OFFSET_DBFS: f32 = -50.0;
/// Samples at or over this magnitude count as clipped (0 dBFS minus 0.0009 dB), in runs of at
/// least [`CLIP_RUN_SAMPLES`]; any sample over 1.0 (a float over) counts on its own.
pub const CLIP_LEVEL: f32 = 0.9999;
pub const CLIP_RUN_SAMPLES: usize = 3;
/// Hysteresis for findings, in dB: a finding reported at threshold T goes away only below T
/// minus this (it never flickers around its threshold).
pub const HYSTERESIS_DB: f32 = 0.05;
/// Seconds of complete audio before anything but headroom is reported.
pub const MIN_ANALYSIS_SECONDS: f32 = 0.3;

/// Settings of one analysis.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AnalyzerConfig {
    /// True peaks above this are reported, in dBTP (delivery specs often say -1).
    pub true_peak_limit_dbtp: f32,
    /// Fewer stems than this is unusual (info).
    pub usual_min_stems: usize,
    /// More stems than this is unusual (info).
    pub usual_max_stems: usize,
    /// From this many stems on the set looks like multitracks (warning).
    pub multitrack_stems: usize,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        Self {
            true_peak_limit_dbtp: -1.0,
            usual_min_stems: 2,
            usual_max_stems: 12,
            multitrack_stems: 20,
        }
    }
}
