//! Everything the analysis measured, as plain data: what the dashboard draws, what reports
//! contain, and what [`crate::diagnose`] turns into findings.

use serde::{Deserialize, Serialize};

use crate::config::{DROPOUT_OUTLIVED_FALL_DB, DROPOUT_OUTLIVED_SECONDS};
use crate::dynamics::{CeilingFit, DynamicsEstimate, LevelGainFit};
use crate::headroom::LevelSummary;
use crate::input::StemId;

/// What one gain per level (1 dB bins of the prediction's block level) leaves of the master,
/// in dB re the master's energy over the same ~20 ms blocks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LevelResiduals {
    /// Every stem at unity through the bus's EQ, one gain for every block (a plain bus gain).
    pub unit_one_gain_db: f32,
    /// Every stem at unity through the bus's EQ, one gain per level (a compressor).
    pub unit_per_level_db: f32,
    /// The stems at their fitted gains through the bus's EQ, one gain per level.
    pub fitted_per_level_db: f32,
}

/// One stem's measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StemMeasurements {
    /// The caller's id of the stem.
    pub id: StemId,
    /// The stem's name.
    pub name: String,
    /// Levels of the stem itself.
    pub levels: LevelSummary,
    /// Whether the stem's lag against the master has been found.
    pub lag_locked: bool,
    /// Offset against the other stems in the master, in samples (positive: the master has
    /// this stem's audio later than the stem file, i.e. the stem is early).
    pub offset_samples: f64,
    /// The whole samples of it the stem is read at (its lag off the common lag): the part the
    /// aligned residual does not hold (0 for a stem at the common lag, whose offset, if real,
    /// is in the aligned residual).
    #[serde(default)]
    pub lag_offset_samples: i64,
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
    /// The band's nominal centre frequency, in Hz.
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
    /// The two stems, by name.
    pub stems: [String; 2],
    /// The band where they cancel most, its edges in Hz.
    pub band_hz: (f32, f32),
    /// Energy of their sum minus the sum of their energies, in dB (negative: cancellation).
    pub loss_db: f32,
    /// Their normalised correlation in that band (`Re sum xj xk*` over the geometric mean of
    /// their energies): -1 for one signal in antiphase, near 0 for independent parts.
    #[serde(default)]
    pub correlation: f32,
}

/// A stretch in which a stem was (near-)digitally silent while the residual rose: a candidate
/// dropout (the stem ended early, or was muted), before thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DropoutMeasurement {
    /// The stem, by name.
    pub stem: String,
    /// Where the stem went silent, in seconds from the start of the analysed audio (on the
    /// master's timeline).
    pub start_s: f64,
    /// Where it sounded again, in seconds; the end of the pass if it never did (`open`).
    pub end_s: f64,
    /// The last moment in the stretch at which the residual still carried the stem's part (the
    /// mix still sounds), in seconds.
    pub sounds_until_s: f64,
    /// Whether the stem was still silent at the end of the pass (it stops early).
    pub open: bool,
    /// The residual in the stretch, re the master in the stretch, in dB.
    pub residual_db: f32,
    /// How far the residual's share of the master rose in the stretch over its share
    /// elsewhere (floored at the null floor), in dB.
    pub rise_db: f32,
    /// The same rise with the residual read against the sum through the master bus's fitted
    /// response (its EQ and gain, from the frames' spectra), in dB: a bus EQ's residual,
    /// there all along, is no part of what the stretch adds.
    #[serde(default)]
    pub rise_through_bus_db: f32,
    /// How far the residual's share of the master rose in the stretch over its share in the
    /// second before it, in dB: a stem resting while another stem's dropout raised the
    /// residual already leaves it where it was.
    pub local_rise_db: f32,
    /// The residual's level in the stretch re the stem's level around it (before, and after if
    /// it sounded again), in dB: near 0 when the residual is the stem's missing part.
    pub level_vs_stem_db: f32,
    /// The residual's level in the stretch re the residual's level over the whole run outside
    /// the suspect stretches, in dB: a stem's missing part stands over what the run leaves
    /// anyway; the decaying tail of a missing return after the music ends does not (serde
    /// default: reports written before it was measured).
    #[serde(default)]
    pub level_vs_residual_db: f32,
    /// How well the residual's spectrum in the stretch matches the stem's usual spectrum
    /// (Bhattacharyya coefficient of octave-band shapes, 0 to 1; 1 if not measured).
    pub spectral_match: f32,
    /// The best match of the residual's spectrum among the other stems silent in the same
    /// stretch (0 if none).
    pub rival_match: f32,
    /// The same among the other stems whose own stretch began earlier and covers this one
    /// (0 if none): a dropout already open when this stem went silent, whose residual this
    /// stretch inherits.
    #[serde(default)]
    pub earlier_rival_match: f32,
    /// Whether the stem was silent since before it first sounded, so that the stretch was
    /// judged at its end against the run without it (no level before it to compare with).
    #[serde(default)]
    pub judged_late: bool,
    /// Share of the master's whole energy that the residual in this stretch carries, in dB
    /// (what folding the dropout takes out of the whole-run residual).
    pub explains_db: f32,
    /// Whether the stem was silent a while before the residual rose (it rested first: its
    /// silence alone left no residual).
    #[serde(default)]
    pub rested_first: bool,
    /// How far the residual's level (mean square) fell in the moments after the stem sounded
    /// again (`DROPOUT_FALL_SECONDS`), re its level in the stretch, in dB
    /// (infinite if not measured: still silent, or the pass ended): a stem whose silence is the
    /// residual takes it away when it returns; a resting stem's return leaves another stem's
    /// mute going on (only the residual's share of the master falls, the master being louder).
    pub fall_after_db: f32,
}

/// The residual's envelope against the stems' (see `analyzer/return_model.rs`): the share of
/// its variance, per octave band and weighted by the band's residual energy, that the stems'
/// energy smeared by a decay explains from before (causal) and from after (anticausal). A return fed by the stems explains far more causally; a source no stem
/// carries about as much either way.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReturnFit {
    /// Explained from the sum up to about 2 s before (1 = all of it).
    pub causal_explained: f32,
    /// Explained from the sum up to about 2 s after.
    pub anticausal_explained: f32,
}

impl DropoutMeasurement {
    /// Whether the residual outlived this stem's silence inside `other`'s: this stem sounded
    /// again at least `DROPOUT_OUTLIVED_SECONDS` before the other did, and the residual fell
    /// at least `DROPOUT_OUTLIVED_FALL_DB` more when the other sounded again. The residual is
    /// then the other's missing part (one cause per effect): a drum mute over a downbeat is not
    /// the bass resting for the first half of it.
    pub fn outlived_by(&self, other: &DropoutMeasurement) -> bool {
        !other.open
            && other.start_s < self.end_s
            && self.end_s + DROPOUT_OUTLIVED_SECONDS <= other.end_s
            && other.fall_after_db.is_finite()
            && other.fall_after_db >= self.fall_after_db + DROPOUT_OUTLIVED_FALL_DB
    }
}

impl ReturnFit {
    /// How much more the past explains than the future.
    pub fn causality(&self) -> f32 {
        self.causal_explained - self.anticausal_explained
    }
}

/// Everything measured so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Measurements {
    /// The sample rate the analysis runs at, in Hz.
    pub sample_rate_hz: f32,
    /// Seconds of audio received.
    pub seconds_received: f64,
    /// Seconds in which the master and every stem were present and analysed.
    pub seconds_analysed: f64,
    /// Whether any master audio arrived.
    pub has_master: bool,
    /// Whether enough aligned audio was analysed since the lags settled for the cross-spectral
    /// measurements (gains, EQ, dynamics, what no stem explains) to mean anything.
    pub cross_ready: bool,
    /// Stems known to the analysis.
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
    /// Whether each band shapes the EQ's phase model: it holds real energy (the others show
    /// the broadband gain in `bus_band_gain_db`) and the stems explain at least half its
    /// master.
    #[serde(default)]
    pub bus_band_speaks: Vec<bool>,
    /// Largest band deviation from the broadband gain, in dB, and its band.
    pub bus_eq_max_db: f32,
    /// The band of `bus_eq_max_db`, its edges in Hz.
    pub bus_eq_band_hz: (f32, f32),
    /// The largest band deviation from the broadband gain once what the master's gain changing
    /// from frame to frame (a compressor) makes of each band is taken out, in dB: the EQ beside
    /// a compressor.
    #[serde(default)]
    pub bus_eq_beyond_dynamics_db: f32,
    /// The largest band deviation from the broadband gain beyond what content no stem explains
    /// could move the band's fit by (see `analyzer::estimate::unexplained_bias_db`), in dB,
    /// sign kept: an EQ a missing part cannot account for.
    #[serde(default)]
    pub bus_eq_credible_db: f32,
    /// Residual energy re master explained by the EQ, in dB.
    pub bus_eq_explains_db: f32,
    /// Residual energy re master explained by the broadband gain, in dB.
    pub bus_gain_explains_db: f32,
    /// The master bus's gain against the sum's level (compression).
    pub dynamics: Option<DynamicsEstimate>,
    /// Residual energy re master explained by the time-varying gain, in dB.
    pub dynamics_explains_db: f32,
    /// The fitted level-dependent gain (knee, slope, depth at the loudest blocks), once
    /// enough blocks are in.
    #[serde(default)]
    pub dynamics_fit: Option<LevelGainFit>,
    /// The same model read against every stem at unity (through the bus's EQ) instead of at
    /// its fitted gain: the compressor as it is when the stems' fitted gains took its gain
    /// reduction (one stem playing mostly in the loud passages).
    #[serde(default)]
    pub dynamics_unit_fit: Option<LevelGainFit>,
    /// What a gain that depends on level alone leaves of the master, against both
    /// predictions (`analyzer/level_residual.rs`): which of "the stems' fitted gains" and "a
    /// compressor on stems at unity" explains the master.
    #[serde(default)]
    pub level_residuals: Option<LevelResiduals>,
    /// The master's peak ceiling against the predicted master's peaks (a limiter), once
    /// enough blocks pass it.
    #[serde(default)]
    pub ceiling: Option<CeilingFit>,
    /// The same at full scale: the master held flat at 0 dBFS where the predicted master
    /// passes it (clipped in overs too short for a run of clipped samples).
    #[serde(default)]
    pub master_full_scale_hold: Option<CeilingFit>,
    /// Master energy no stem explains, re master, in dB.
    pub unexplained_db: f32,
    /// Master minus the aligned sum in the analysis band (spectral, stems' own offsets
    /// compensated), re master, in dB: the reference for what share is unexplained.
    pub residual_spectral_db: f32,
    /// The same with the sum at the master bus's fitted broadband gain, in dB re master: what a
    /// fader leaves of it (0 dB, no say, until measured).
    #[serde(default)]
    pub residual_at_bus_gain_db: f32,
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
    /// Share of the residual (mid) that a gain on the sum changing every 20 ms explains: near
    /// 1 when the master is the sum under a time-varying gain (compression, limiting), near 0
    /// for a source or a return no stem carries.
    pub residual_collinear_share: f32,
    /// The residual's mid energy re the master's (outside dropouts), in dB, with each stem the
    /// fit finds whole and inverted read with its sign turned, and each stem at a gain of its
    /// own (one no master compressor gives) read at it: what is left once the stems' polarity
    /// and own gains are put right (the residual's mid as delivered when there are none).
    #[serde(default)]
    pub residual_turned_db: f32,
    /// `residual_ir_spread` of the residual with each stem the fit finds inverted turned.
    #[serde(default)]
    pub residual_turned_ir_spread: f32,
    /// The residual's onsets against the sum's: the residual envelope's rises per unit of its
    /// level (20 ms blocks), over the sum's. A reverb or delay return is a smeared, delayed
    /// copy of the sources' envelope (well below 1); a dry source no stem carries has onsets of
    /// its own (about 1 or more).
    #[serde(default)]
    pub residual_onset_ratio: f32,
    /// How much of the residual's band-energy envelope the stems' envelopes explain before it
    /// (a return trails its sources) and after it (see `analyzer/return_model.rs`), once
    /// enough of the run is in.
    #[serde(default)]
    pub residual_return_fit: Option<ReturnFit>,
    /// Levels of the master, once it arrived.
    pub master_levels: Option<LevelSummary>,
    /// Levels of the stems' sum, once every stem was present.
    pub sum_levels: Option<LevelSummary>,
    /// Integrated loudness (BS.1770), in LUFS.
    pub master_lufs: Option<f32>,
    /// Integrated loudness of the stems' sum (BS.1770), in LUFS.
    pub sum_lufs: Option<f32>,
    /// Each stem's measurements, in the order the stems appeared.
    pub stems: Vec<StemMeasurements>,
    /// The spectrum view, per 1/3-octave band.
    pub bands: Vec<BandMeasurement>,
    /// Pairs of stems cancelling in a low band (before thresholds).
    pub cancellations: Vec<Cancellation>,
    /// The null residual outside the stretches where a stem dropped out (what the whole-run
    /// causes are decided on once the dropouts are named), re master, in dB.
    #[serde(default)]
    pub null_residual_outside_dropouts_db: f32,
    /// The null residual the files' own noise floors leave (their dither and rounding, known
    /// from their bit depths), re master, in dB; `None` when no floor is known.
    #[serde(default)]
    pub null_floor_db: Option<f32>,
    /// Silent stretches of stems with a raised residual (candidate dropouts), before
    /// thresholds.
    #[serde(default)]
    pub dropouts: Vec<DropoutMeasurement>,
}
