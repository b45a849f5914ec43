//! Everything the analysis measured, as plain data: what the dashboard draws, what reports
//! contain, and what [`crate::diagnose`] turns into findings.

use serde::{Deserialize, Serialize};

use crate::dynamics::DynamicsEstimate;
use crate::headroom::LevelSummary;
use crate::input::StemId;

/// One stem's measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StemMeasurements {
    pub id: StemId,
    pub name: String,
    /// Levels of the stem itself.
    pub levels: LevelSummary,
    /// Whether the stem's lag against the master has been found.
    pub lag_locked: bool,
    /// Offset against the other stems in the master, in samples (positive: the master has
    /// this stem's audio later than the stem file, i.e. the stem is early).
    pub offset_samples: f64,
    /// The stem's gain in the master relative to the stem, in dB.
    pub gain_db: f32,
    /// Whether the stem is polarity-inverted against the master.
    pub inverted: bool,
    /// Share of the master's energy this stem carries, in dB.
    pub energy_share_db: f32,
    /// Residual energy re master that this stem's gain/polarity explains, in dB.
    pub gain_explains_db: f32,
    /// Residual energy re master that this stem's offset explains, in dB.
    pub offset_explains_db: f32,
    /// Fraction of the analysed time in which the stem was present.
    pub present_fraction: f32,
}

/// One band of the spectrum view.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BandMeasurement {
    pub centre_hz: f32,
    /// Master level in the band, in dB (a full-scale sine reads 0).
    pub master_db: f32,
    /// Stems' sum level in the band.
    pub sum_db: f32,
    /// Residual (master minus aligned sum) level in the band.
    pub residual_db: f32,
    /// Master-bus gain in the band against the stems (transfer function), in dB.
    pub transfer_db: f32,
    /// Coherence of master and sum in the band (0 to 1).
    pub coherence: f32,
    /// Energy in the master no stem explains, re the master's band energy, in dB.
    pub unexplained_db: f32,
}

/// Two stems cancelling in a low band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cancellation {
    pub stems: [String; 2],
    pub band_hz: (f32, f32),
    /// Energy of their sum minus the sum of their energies, in dB (negative: cancellation).
    pub loss_db: f32,
}

/// Everything measured so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Measurements {
    pub sample_rate_hz: f32,
    /// Seconds of audio received.
    pub seconds_received: f64,
    /// Seconds in which the master and every stem were present and analysed.
    pub seconds_analysed: f64,
    pub has_master: bool,
    /// Whether enough aligned audio was analysed since the lags settled for the cross-spectral
    /// measurements (gains, EQ, dynamics, what no stem explains) to mean anything.
    pub cross_ready: bool,
    pub num_stems: usize,
    /// Master minus the stems' sum (only the common lag compensated), re master, over the
    /// whole pass, in dB.
    pub null_residual_db: f32,
    /// The same over roughly the last 3 seconds.
    pub null_residual_recent_db: f32,
    /// Left and right separately.
    pub null_residual_channels_db: [f32; 2],
    /// Lag common to all stems (master later: positive), in samples.
    pub common_lag_samples: i64,
    /// Broadband master-bus gain against the stems, in dB.
    pub bus_gain_db: f32,
    /// The master bus's gain per 1/3-octave band (the fitted EQ curve), in dB.
    pub bus_band_gain_db: Vec<f32>,
    /// Largest band deviation from the broadband gain, in dB, and its band.
    pub bus_eq_max_db: f32,
    pub bus_eq_band_hz: (f32, f32),
    /// Residual energy re master explained by the EQ and by the broadband gain, in dB.
    pub bus_eq_explains_db: f32,
    pub bus_gain_explains_db: f32,
    pub dynamics: Option<DynamicsEstimate>,
    /// Residual energy re master explained by the time-varying gain, in dB.
    pub dynamics_explains_db: f32,
    /// Master energy no stem explains, re master, in dB.
    pub unexplained_db: f32,
    /// Master minus the aligned sum in the analysis band (spectral, stems' own offsets
    /// compensated), re master, in dB: the reference for what share is unexplained.
    pub residual_spectral_db: f32,
    /// Band holding the median of the unexplained energy.
    pub unexplained_band_hz: (f32, f32),
    /// Left/right correlation of the residual (reverb returns are wide: low values).
    pub residual_lr_correlation: f32,
    /// Share of the residual's impulse response (against the sum) beyond 10 ms: EQ and gain
    /// are near 0; a reverb or delay return spreads out.
    pub residual_ir_spread: f32,
    /// How much the residual's envelope follows the sum's envelope 100-300 ms earlier rather
    /// than at the same time (reverb and delay tails: above 1).
    pub residual_tail_follow: f32,
    pub master_levels: Option<LevelSummary>,
    pub sum_levels: Option<LevelSummary>,
    /// Integrated loudness (BS.1770), in LUFS.
    pub master_lufs: Option<f32>,
    pub sum_lufs: Option<f32>,
    pub stems: Vec<StemMeasurements>,
    pub bands: Vec<BandMeasurement>,
    pub cancellations: Vec<Cancellation>,
}
