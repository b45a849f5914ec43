//! Thresholds and settings of the analysis, each a named constant with its unit and meaning,
//! under a heading per stage and per finding family. Every tuning number of the crate lives
//! here; the code that uses one names it.

use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------------
// Framing and scheduling (analyzer/mod.rs)
// ---------------------------------------------------------------------------------------------

/// Analysis frames last about this long, in seconds (rounded up to a power of two in samples):
/// long enough to resolve the lag range and 1/3-octave bands down to 25 Hz. Frames do not
/// overlap.
pub const FRAME_SECONDS: f32 = 0.17;
/// Lowest sample rate the analyzer runs at, in Hz (anything lower, or not finite, is taken as
/// [`FALLBACK_SAMPLE_RATE_HZ`]).
pub const MIN_SAMPLE_RATE_HZ: f32 = 8_000.0;
/// Highest sample rate the analyzer runs at, in Hz (higher rates are clamped).
pub const MAX_SAMPLE_RATE_HZ: f32 = 768_000.0;
/// The sample rate assumed when the caller's makes no sense, in Hz.
pub const FALLBACK_SAMPLE_RATE_HZ: f32 = 48_000.0;
/// Frames accumulated before anything cross-spectral is trusted.
pub const MIN_FRAMES: u64 = 3;
/// Frames between lag and finding updates while stems are still being placed.
pub const UPDATE_EVERY_FRAMES: u64 = 1;
/// Frames between lag and finding updates once every stem is placed.
pub const UPDATE_EVERY_FRAMES_SETTLED: u64 = 3;
/// Frames after which the spectral analysis may skip every other frame (once every stem is
/// placed).
pub const SETTLED_FRAMES: u64 = 12;
/// Cross-spectral analysis starts at this frequency, in Hz: below, frames are too short to say
/// anything.
pub const ANALYSIS_LOW_HZ: f32 = 30.0;
/// ... and ends at this frequency, in Hz (or [`ANALYSIS_HIGH_NYQUIST_SHARE`] of Nyquist if
/// lower): above, many exports are band-limited.
pub const ANALYSIS_HIGH_HZ: f32 = 16_000.0;
/// Share of the Nyquist frequency the cross-spectral analysis band may reach.
pub const ANALYSIS_HIGH_NYQUIST_SHARE: f32 = 0.9;
/// Share of the Nyquist frequency the 1/3-octave bands may reach.
pub const BANDS_NYQUIST_SHARE: f32 = 0.95;
/// Second-order sections of the low pass that band-limits the null residual when the caller
/// asks (`AnalyzerConfig::compare_below_hz`): a Butterworth of order 10, -3 dB at the cut-off,
/// under -30 dB a quarter of an octave above it and -50 dB a third of an octave above (a
/// 16.5 kHz cut-off at 48 kHz; `low_pass.rs`).
pub const LOW_PASS_SECTIONS: usize = 5;

// ---------------------------------------------------------------------------------------------
// Ingest (analyzer/ingest.rs)
// ---------------------------------------------------------------------------------------------

/// Samples beyond this magnitude (+80 dBFS) are garbage, not audio: clamped so that no
/// accumulator can overflow.
pub const MAX_SAMPLE_MAGNITUDE: f32 = 1e4;

// ---------------------------------------------------------------------------------------------
// Timing: stem-offset, master-latency (analyzer/timing.rs; decided in diagnose/stems.rs and
// diagnose/master_bus.rs)
// ---------------------------------------------------------------------------------------------

/// Longest lag searched between the master and a stem, in seconds: +/-55 ms covers plugin
/// latencies and look-ahead limiters.
pub const MAX_LAG_SECONDS: f32 = 0.055;
/// A GCC peak must stand this many times above the correlation's RMS to count (18 dB).
pub const MIN_PEAK_TO_RMS: f32 = 8.0;
/// A lag other than the current one must beat the correlation at the current one by this
/// factor (the correlation at 0 at most 0.67 of the peak, -3.5 dB): tonal stems correlate
/// almost as well one period away, and staying put is the safe choice (the fractional estimate
/// still catches small offsets).
pub const MAX_ZERO_OVER_PEAK: f32 = 0.67;
/// ... unless the phase slope's delay lies within this of that lag, in samples (a quarter):
/// a stem's period away, the slope reads the stem where it is.
pub const FRACTION_CONFIRMS_LAG_SAMPLES: f64 = 0.25;
/// A stem stays at its lag when, fitted at its lag and at the new one together, it keeps at
/// least this gain at its lag (0.5, -6 dB): its own copy is there, and what matches it
/// elsewhere is something else that resembles it (a missing reverb fed by the same sources as
/// the delivered FX return correlates with it tens of milliseconds away, more strongly than
/// the return itself when louder: the return keeps 1.3 at its lag). A stem truly misplaced
/// keeps little there (a looped part a second off: at most 0.3).
pub const STEM_STAYS_MIN_GAIN: f64 = 0.5;
/// A peak this clear (28 dB over the RMS) is believed at once; weaker ones must repeat.
pub const STRONG_PEAK_TO_RMS: f32 = 25.0;
/// A stem with less than this share of all stems' energy (-90 dB) cannot be timed (yet).
pub const TIMING_MIN_ENERGY_SHARE: f64 = 1e-9;
/// ... nor one with less than this accumulated energy at all (spectral power units).
pub const TIMING_MIN_ENERGY: f64 = 1e-12;
/// A stem is moved to another lag only if its energy is at least this share of what the master
/// holds of it with the other stems taken out (-30 dB): a stem buried deeper (it has barely
/// begun, under a louder missing reverb fed by the same sources) correlates best with whatever
/// resembles it, tens of milliseconds away; it stays put until it is heard.
pub const TIMING_MIN_STEM_OVER_ISOLATED: f64 = 1e-3;
/// Stem offsets reported from this many samples (fractional offsets comb-filter the top end).
pub const STEM_OFFSET_MIN_SAMPLES: f32 = 0.2;
/// A stem offset of at least this many samples is an error (below, a warning).
pub const STEM_OFFSET_ERROR_SAMPLES: f64 = 1.0;

// ---------------------------------------------------------------------------------------------
// Gains: stem-gain, stem-polarity, master-bus-gain, master-bus-eq (analyzer/fit.rs and
// analyzer/estimate.rs; decided in diagnose/stems.rs and diagnose/master_bus.rs)
// ---------------------------------------------------------------------------------------------

/// Up to this many stems, per-band gains are fitted jointly (exact with correlated stems and
/// several defects at once); above, each stem is fitted with the others assumed right.
pub const MAX_GRAM_STEMS: usize = 16;
/// Without a joint fit, a stem takes part in a band's fit from this share of the band's stem
/// energy (-30 dB).
pub const FIT_MIN_SHARE_SINGLE: f64 = 1e-3;
/// With the joint fit, every stem from this share of the band's stem energy (-90 dB) takes
/// part (leaving one out would push its share of the master onto the others).
pub const FIT_MIN_SHARE_JOINT: f64 = 1e-9;
/// A stem speaks for the stem and band effects of the two-way fit from this share of the
/// band's stem energy (-30 dB).
pub const FIT_MIN_VOTE_SHARE: f64 = 1e-3;
/// A band's stems are read against their common phase (the master-bus EQ's, `fit/phase.rs`)
/// only when their correlations with the master agree on it, polarity aside: their
/// magnitude-weighted doubled angles keep at least this share of their magnitude (1: one phase;
/// two equal stems 60 degrees apart keep 0.5).
pub const COMMON_PHASE_MIN_AGREEMENT: f64 = 0.5;
/// A band's common phase is taken this much nearer zero than measured (degrees): a clean mix
/// reads up to 2 degrees, which would move a quiet return's fitted gain by tenths of a dB.
pub const COMMON_PHASE_DEAD_BAND_DEG: f64 = 5.0;
/// ... and only where the master's coherence with the stems' sum reaches this (1: the master
/// is the sum through a filter; a 40 Hz high pass keeps 0.98 in its turned bands, a missing
/// kick's lows fall far under).
pub const COMMON_PHASE_MIN_COHERENCE: f64 = 0.9;
/// A block of the stems' prediction speaks for the master bus's gain by level only this far
/// above the stems' summed noise floor (20 dB: the floor, in the prediction and not in the
/// master, pulls its gain down by 0.04 dB there; `analyzer/floor.rs`).
pub const FLOOR_MARGIN_DB: f32 = 20.0;
/// ... read from the master's correlation with the sum itself where their coherence reaches
/// this (the sum explains 99% of the band's master, -20 dB left): the master is the sum
/// through a filter, whose phase that correlation is.
pub const COMMON_PHASE_SUM_MIN_COHERENCE: f64 = 0.99;
/// A band shapes the bus EQ's phase model only where the stems explain at least this share of
/// its master (-3 dB): a band mostly of a part no stem carries fits a gain by chance.
pub const EQ_SHAPE_MIN_EXPLAINED: f64 = 0.5;
/// Diagonal loading of the joint fit's Gram matrix, relative to its trace (-90 dB).
pub const GRAM_LOADING: f64 = 1e-9;
/// A faint pull of every unknown of the two-way fit towards 0 dB (the split between stem and
/// band effects is fixed by the stems' agreement).
pub const TWO_WAY_FIT_LOADING: f64 = 1e-6;
/// Stems whose fitted gains lie within this of each other agree on what is right when the
/// stem gains are split from the master bus's (the finding threshold: a stem within it of the
/// others is not a defect), in dB.
pub const STEM_AGREEMENT_DB: f64 = STEM_GAIN_THRESHOLD_DB as f64;
/// When no two stems agree within [`STEM_AGREEMENT_DB`], stems whose fitted gains lie within
/// this agree (dB): a master limiter driven 2 dB spread four stems' whole-run gains over 0.6
/// dB, while the one stem 3 dB hot stood 2.4 dB away from the nearest.
pub const STEM_AGREEMENT_SPREAD_DB: f64 = 1.0;
/// Stems' gains are read within [`STEM_AGREEMENT_SPREAD_DB`] only when the stems at their
/// fitted gains explain this share of the master (-0.5 dB): under a limiter they held 99.7%
/// of it; stems misaligned by a second, 13 to 19%, their gains scattered by chance.
pub const SPREAD_MIN_EXPLAINED: f64 = 0.9;
/// A band speaks for the master-bus EQ only with this share of the sum's energy (-40 dB).
pub const EQ_MIN_BAND_SHARE: f64 = 1e-4;
/// ... or with this share (-80 dB) when the master there is the sum through a filter and
/// nothing else: coherence at least [`EQ_FAINT_BAND_MIN_COHERENCE`].
pub const EQ_MIN_FAINT_BAND_SHARE: f64 = 1e-8;
/// See [`EQ_MIN_FAINT_BAND_SHARE`] (0.99: content no stem carries, or noise, at -20 dB of the
/// band would bring it to 0.99).
pub const EQ_FAINT_BAND_MIN_COHERENCE: f64 = 0.99;
/// Stem gain reported from this deviation, in dB.
pub const STEM_GAIN_THRESHOLD_DB: f32 = 0.1;
/// A stem's gain is named only if what it explains (the energy of its deviation, re master) is
/// at most this much over the aligned residual itself, in dB (3 dB: twice): a gain error leaves
/// its energy in the residual (on the corpus the two agree to 0.01 dB), less what another cause
/// offsets (a master compressor's make-up beside a brass 3 dB hot: 1.2 dB over); a fitted gain
/// that would leave several times what there is was fitted to something else (a clipped
/// master: a piano 0.44 dB down "explained" -42.5 dB of a -49.9 dB residual, 7.4 dB over).
pub const STEM_GAIN_MAX_OVER_RESIDUAL_DB: f32 = 3.0;
/// A stem's fitted gain is shown only if its deviation from unity explains at least this much
/// of the master (re master, in dB: the null threshold [`NULLS_BELOW_DB`], -70 dB); below, it
/// was fitted to what is under the null and is shown as 0 dB.
pub const STEM_GAIN_MIN_EXPLAINS_DB: f32 = NULLS_BELOW_DB;
/// A stem whose fitted gain in the master is this low or lower is absent from the master (not
/// polarity-inverted, whatever the sign of what little is fitted), in dB.
pub const STEM_ABSENT_DB: f32 = -30.0;
/// A stem gain off by at least this much is an error (below, a warning), in dB.
pub const STEM_GAIN_ERROR_DB: f32 = 0.5;
/// Master-bus gain reported from this deviation, in dB.
pub const BUS_GAIN_THRESHOLD_DB: f32 = 0.1;
/// A master-bus gain off by at least this much is an error (below, a warning), in dB.
pub const BUS_GAIN_ERROR_DB: f32 = 1.0;
/// Beside a master-bus EQ, a broadband gain is named only above this share of the EQ's depth
/// (a tenth: a wide bell of -3.7 dB at 2.5 kHz moved the median band by -0.23 dB).
pub const BUS_GAIN_BESIDE_EQ_MIN_RATIO: f32 = 0.1;
/// Master-bus EQ reported when a band deviates from the broadband gain by this much, in dB.
pub const BUS_EQ_THRESHOLD_DB: f32 = 0.5;

// ---------------------------------------------------------------------------------------------
// Dynamics: master-bus-dynamics (analyzer/frame_gain.rs, dynamics.rs; decided in
// diagnose/master_bus.rs)
// ---------------------------------------------------------------------------------------------

/// Master-bus compression reported from this much level-dependent gain reduction at the
/// loudest blocks, in dB (0.35 dB: a residual near -28 dB re master where it acts; the loudest
/// blocks' agreement, below, keeps noise out).
pub const DYNAMICS_THRESHOLD_DB: f32 = 0.35;
/// ... or from this much (0.2 dB) when the gain depends on level beyond doubt: a gain per
/// level explains [`DYNAMICS_CLEAR_OVER_ONE_GAIN_DB`] more than one gain for the run, and
/// every one of the loudest blocks is turned down. A gentle compressor (1.5:1, up to 0.8 dB)
/// read 0.38 dB at 48 kHz and 0.29 dB at 44.1 kHz, 16 bits, and its make-up was reported as a
/// master gain; a gain per level explained 3.1 dB more there.
pub const DYNAMICS_CLEAR_THRESHOLD_DB: f32 = 0.2;
/// See [`DYNAMICS_CLEAR_THRESHOLD_DB`] (2 dB: twice what says a compressor may have taken the
/// stems' gains, [`DYNAMICS_OVER_ONE_GAIN_MIN_DB`]; a plain gain or EQ leaves 0.1 dB at most).
pub const DYNAMICS_CLEAR_OVER_ONE_GAIN_DB: f32 = 2.0;
/// ... when the loudest blocks agree on it: the net share of them turned down (see
/// `DynamicsEstimate::correlation`) at least 0.6 (80% down against 20% up; a source the stems
/// lack scatters them both ways).
pub const DYNAMICS_MIN_CORRELATION: f32 = -0.6;
/// A compressor is read from the block gains (against the predicted master) only while what
/// no stem explains is under half of what is left.
pub const DYNAMICS_FOLD_MAX_UNEXPLAINED_SHARE: f32 = 0.5;
/// The stems' fitted gains are a compressor's gain reduction when, with one gain per level of
/// the prediction (`analyzer/level_residual.rs`), the stems at unity leave at most this much
/// more of the master than the stems at their fitted gains (2 dB): the gains buy nothing a
/// compressor does not. Measured: a stem exported 0.5 to 3 dB off leaves 3.4 to 44 dB less at
/// its fitted gain; compressors (the corpus's and JUCE's) whose gain reduction the loud
/// passages' stems took leave 0.6 dB less at most, and mostly more.
pub const STEM_GAINS_OVER_DYNAMICS_MIN_DB: f32 = 2.0;
/// A stem's whole-run gain this far from 0 dB is its own, not a master compressor's, in dB
/// (2 dB): the compressor is read against the stems at unity but for such gains (and
/// polarities), and it takes no such gain. Measured: compressors spread the stems' whole-run
/// gains by up to 1.4 dB (3:1 from -20 dBFS, up to 6.6 dB of gain reduction: the winds of an
/// orchestral piece), and a limiter gave the drums it drove -1.5 dB in one early fit; a brass
/// stem 3 dB quiet read -2.98 dB beside a limiter, whose block gains against the brass at
/// unity showed no limiter.
pub const STEM_GAIN_BEYOND_DYNAMICS_DB: f32 = 2.0;
/// ... or this share of the compressor's depth (as the block gains read it) when more (1: a
/// compressor read 8.8 dB deep gave a piano +2.9 dB over the run, one read 4.3 dB deep (4:1
/// from -26 dBFS, up to 11 dB) +3.2 dB; see [`crate::dynamics::stem_gain_beyond_dynamics_db`]).
pub const STEM_GAIN_BEYOND_DYNAMICS_DEPTH_SHARE: f32 = 1.0;
/// ... and a stem taken at its own gain stays so until it is this much within the bound (0.3
/// dB), so that a gain near the bound is not taken and left at every fit.
pub const STEM_GAIN_BEYOND_DYNAMICS_HYSTERESIS_DB: f32 = 0.3;
/// ... and a gain per level explains at least this much more than one gain for the whole run,
/// stems at unity (1 dB): there is a compressor to take them (measured 1.3 to 4.8 dB).
pub const DYNAMICS_OVER_ONE_GAIN_MIN_DB: f32 = 1.0;
/// Blocks quieter than this are left out of the gain-by-level history (their gain estimate is
/// noise), in dBFS.
pub const MIN_FRAME_LEVEL_DBFS: f32 = -60.0;
/// Each analysed frame is cut into this many blocks (about 21 ms at any rate) for the
/// gain-by-level history: a look-ahead limiter's dips are tens of ms long.
pub const COMPRESSION_BLOCKS_PER_FRAME: usize = 8;
/// The depth is measured at the loudest 1% of blocks ...
pub const COMPRESSION_LOUDEST_SHARE: f64 = 0.01;
/// ... but at least this many blocks (the sign test needs a few).
pub const COMPRESSION_MIN_LOUDEST_BLOCKS: u64 = 8;
/// A level bin's median gain enters the hinge fit from this many blocks.
pub const COMPRESSION_MIN_BIN_BLOCKS: u64 = 5;
/// A block is turned down (or up) when its gain is this far from the reference, in dB.
pub const COMPRESSION_AGREEMENT_MARGIN_DB: f32 = 0.2;
/// The peak-ceiling model of a limiter (analyzer/ceiling.rs) keeps this many segments with
/// the highest peaks of the stems' sum (a few seconds of the loudest passages).
pub const CEILING_TOP_BLOCKS: usize = 256;
/// A segment is clamped when its predicted peak (the sum's, with the bus's fitted gain) passes
/// the master's highest peak by this much, in dB (0.3 dB: a prediction error of 3.5% of the
/// peak, far above a master that nulls within -30 dB).
pub const CEILING_MARGIN_DB: f32 = 0.3;
/// ... and it is held at the ceiling when its master peak is within this much of it, in dB (a
/// sample-peak limiter holds its peaks to the ceiling exactly; 0.1 dB leaves room for dither).
pub const CEILING_HOLD_DB: f32 = 0.1;
/// A ceiling is read from this many segments held at it (a drive that touches only a few
/// peaks holds them all at one level, to a hundredth of a dB) ...
pub const CEILING_MIN_HELD_BLOCKS: usize = 4;
/// ... this many of them clamped (a song's loudest hit repeated at one velocity reaches one
/// level several times too, but a plain gain never holds a peak 0.3 dB below its prediction) ...
pub const CEILING_MIN_CLAMPED_HELD_BLOCKS: usize = 2;
/// ... or this many segments held at it exactly, within [`CEILING_EXACT_HOLD_DB`], and one of
/// them clamped (3): a limiter driven 3 dB into a 44.1 kHz mix touched one hit by 1 dB and two
/// more barely, all three at -2.000 dBFS; a plain gain puts three of a song's peaks within a
/// hundredth of a dB of each other only by chance, and never holds one 0.3 dB under its
/// prediction.
pub const CEILING_MIN_EXACT_HELD_BLOCKS: usize = 3;
/// Held exactly: within this of the ceiling, in dB (0.01 dB, 0.1%: 30 steps of 16 bits at
/// -2 dBFS; a sample-peak limiter holds to the step).
pub const CEILING_EXACT_HOLD_DB: f32 = 0.01;
/// ... when at least this share of the clamped segments is held (a limiter's release, pulling
/// a segment after a bigger peak below the ceiling, leaves some out); the other views' sign
/// test asks as much (`DYNAMICS_MIN_CORRELATION`).
pub const CEILING_MIN_AGREEMENT: f32 = 0.6;
/// A ceiling touched by one event only is read when what the clamp removes there passes the
/// residual's RMS (what no stem explains, in dBFS) by this much, in dB (30 dB: far above the
/// crest of noise or of a transient residual; a limiter taking 1 dB off a -1 dBFS peak removes
/// -20 dBFS, against a residual near -70 dBFS when the rest nulls).
pub const CEILING_SINGLE_EVENT_RESIDUAL_CREST_DB: f32 = 30.0;
/// A ceiling at or above this (-0.05 dBFS) is full scale: clipping, not a limiter.
pub const CEILING_FULL_SCALE_DBFS: f32 = -0.05;
/// A stem's fitted gain that moves this much (6 dB) or flips its sign empties the block-gain
/// histories: they were read against a prediction now known to be wrong (a compressor makes
/// fitted gains wander by a few dB as the fit learns; that history is still worth keeping).
pub const FITTED_GAIN_MOVED_DB: f32 = 6.0;
/// ... if the stem holds at least this share of the master's energy (-20 dB: a faint stem's
/// fit wanders, and moves the prediction by little).
pub const FITTED_GAIN_MOVED_MIN_SHARE_DB: f32 = -20.0;
/// A stem that so far holds less than this share of the master's energy (-60 dB: it has not
/// started yet, or holds a fade's last crumbs) has no gain to fit: the prediction keeps it at
/// unity. (Measured: a guitar that had not started, -188 dB, fitted +121 dB, and its first
/// notes then predicted the master 80 dB too loud: 30 dB of "compression".)
pub const PREDICTION_MIN_STEM_SHARE_DB: f32 = -60.0;
/// A frame's master is divided by its broadband gain (for what no stem explains) only above
/// this gain (-26 dB); below, the frame is taken as it is.
pub const MIN_NORMALISED_FRAME_GAIN: f32 = 0.05;
/// ... and only where the frame's master and sum are coherent at least this much (the squared
/// broadband correlation of their spectra, 0 to 1; 0.5: the sum holds half the master's
/// energy): where they are not, the frame's gain is noise. In a 16-bit delivery's quiet frames
/// (a song's tail), each file's dither is most of the master, the fitted gain anything, and
/// dividing by it read the dither as a source no stem carries at -45 dB re master.
pub const FRAME_GAIN_MIN_COHERENCE: f64 = 0.5;

// ---------------------------------------------------------------------------------------------
// The residual: nulls, missing-content, missing-fx-return (analyzer/residual.rs; decided in
// diagnose/missing.rs)
// ---------------------------------------------------------------------------------------------

/// Residual below this, relative to the master, means the stems null (about a 16-bit noise
/// floor; 24-bit exports null far deeper), in dB.
pub const NULLS_BELOW_DB: f32 = -70.0;
/// ... or at most this far above the residual the files' own noise floors leave (3 dB: a
/// residual twice their dither and rounding; `analyzer/floor.rs`).
pub const NULL_FLOOR_MARGIN_DB: f32 = 3.0;
/// The time-domain pass restarts at a stem's first placement at a lag of its own only while it
/// has measured less than this, in seconds: a placement in the first seconds leaves the residual
/// of the misplaced stem behind (kept, it holds the dropouts' baseline up; a bass 96 samples
/// early was placed 4.1 s in), and a restart drops at most this much of what was measured; a
/// stem out of the lag range moves much later (9 s, and 34.6 s in the last hop of a run, which
/// left nothing measured).
pub const PLACEMENT_RESTART_MAX_SECONDS: f64 = 6.0;
/// Time constant of the "recent" null residual, in seconds.
pub const RECENT_SECONDS: f64 = 3.0;
/// The residual's impulse response counts as short (EQ, gain) within this time, in seconds.
pub const SHORT_RESPONSE_SECONDS: f32 = 0.01;
/// Regularisation of the residual's transfer function: the sum's power is floored at this share
/// of its mean over the analysis band (-30 dB).
pub const RESPONSE_FLOOR_SHARE: f64 = 1e-3;
/// Envelope blocks for the reverb-tail test, in seconds.
pub const ENVELOPE_BLOCK_SECONDS: f64 = 0.02;
/// Envelope history, in blocks: the tail test looks [`TAIL_FROM_BLOCKS`] to
/// [`TAIL_TO_BLOCKS`] blocks (100 to 300 ms) back.
pub const ENVELOPE_HISTORY: usize = 16;
/// First envelope block of the tail window, counted back (5 blocks: 100 ms).
pub const TAIL_FROM_BLOCKS: usize = 5;
/// End (exclusive) of the tail window, counted back (15 blocks: 300 ms).
pub const TAIL_TO_BLOCKS: usize = 15;
/// The return model (`analyzer/return_model.rs`) looks this many steps (every other frame,
/// about 0.34 s) before and after: about 2 s, a long reverb's decay.
pub const RETURN_MODEL_LAGS: usize = 6;
/// Its octave bands start here, in Hz.
pub const RETURN_MODEL_LOW_HZ: f32 = 62.5;
/// ... and end at or below here, in Hz.
pub const RETURN_MODEL_HIGH_HZ: f32 = 16_000.0;
/// Rows (steps with a full lag history) before it reports: about 8 s.
pub const RETURN_MODEL_MIN_STEPS: u64 = 24;
/// The decays per step (about 0.34 s) its kernel may take: from a short room (0.2: 24 dB a
/// step) to a long hall or a delay with feedback (0.9: 1 dB a step).
pub const RETURN_MODEL_DECAYS: [f64; 5] = [0.2, 0.4, 0.6, 0.75, 0.9];
/// Coordinate-descent sweeps of its non-negative least squares (a weight per stem).
pub const RETURN_MODEL_NNLS_SWEEPS: usize = 40;
/// It weighs each stem as a possible send up to this many stems (above, the sum only).
pub const RETURN_MODEL_MAX_STEMS: usize = 16;
/// It fits again after this many new rows (about 3 s).
pub const RETURN_MODEL_REFIT_ROWS: u64 = 8;
/// A residual is a return only if the stems' past explains at least this share of its
/// band-energy envelope (the corpus's returns: 0.38 to 0.58 over five pieces and four sound
/// sets, one orchestral hall at 0.28 undecided either way; its missing dry stems: 0.03 to 0.56,
/// those whose past explains them 0.05 more than their future at most 0.27: the cinematic
/// piece's wide synth pad with FluidR3, named a return at the former 0.24) ...
pub const RETURN_MIN_CAUSAL_EXPLAINED: f32 = 0.32;
/// ... and this much more than the stems' future does (returns: 0.07 to 0.19; a dry part
/// co-moving with the song explains about as much either way: -0.14 to 0.08, and at most
/// 0.04 where the past explains 0.24 or more).
pub const RETURN_MIN_CAUSALITY: f32 = 0.05;
/// A wide residual (see [`WIDE_RESIDUAL_CORRELATION`]) whose envelope the stems' past explains
/// at least this well (0.5) is a return even when their future explains it as well: more than
/// any wide dry part has been explained (0.43 at most over five pieces and four sound sets;
/// narrow ones up to 0.56), and a delay locked to the tempo of a repetitive arrangement is
/// foretold by the next bars as much as by the last (measured: 0.63 from the past, 0.62 from
/// the future, 0.04 left/right, on the electronic piece's missing delay with MuseScore General;
/// 0.545 and 0.500 on the cinematic piece's long hall and eighth-note delay with csound's bank,
/// read as a dry source at the former 0.55).
pub const RETURN_SURE_CAUSAL_EXPLAINED: f32 = 0.5;
/// Content in the master that no stem explains, reported from this level re master, in dB.
pub const MISSING_CONTENT_THRESHOLD_DB: f32 = -50.0;
/// A residual no single cause explains is reported with this factor on the confidence.
pub const UNEXPLAINED_CONFIDENCE_FACTOR: f32 = 0.5;
/// Missing content at or above this level re master is an error (below, a warning), in dB.
pub const MISSING_CONTENT_ERROR_DB: f32 = -30.0;
/// When another cause was named, what no stem explains must hold at least this share of what
/// is left to be named too.
pub const MISSING_AFTER_OTHER_CAUSE_SHARE: f32 = 0.3;
/// ... and only if at least this share of the residual is not collinear with the sum in 20 ms
/// blocks (-5 dB): beside a gain or compression, a residual that a gain on the sum changing
/// every 20 ms explains is that cause's own (a compressor's gain moves within a frame), not a
/// source no stem carries.
pub const MISSING_MIN_NON_COLLINEAR_SHARE: f32 = 0.3;
/// A residual with a left/right correlation below this is wide: a reverb or delay return.
pub const WIDE_RESIDUAL_CORRELATION: f32 = 0.5;
/// A residual whose envelope follows the sum's 100-300 ms earlier by more than this (over
/// following it at the same time) trails the transients: a tail.
pub const TAIL_FOLLOW_RATIO: f32 = 1.1;
/// A residual whose envelope rises in onsets at least this much, per unit of its level, against
/// the sum's has onsets of its own (a return's envelope is its sources' smeared and delayed,
/// with fewer onsets) ...
pub const OWN_ONSETS_MIN_RATIO: f32 = 0.7;
/// ... and, correlated left/right at least this much (narrow), is a dry source no stem
/// carries, whatever its response to the stems. (Wide, it may be a reverb fed by a percussive
/// source: the development corpus has one with twice the sum's onsets.)
pub const SOURCE_MIN_CORRELATION: f32 = 0.8;
/// ... which is an effect return if also at most this correlated left/right.
pub const TAIL_MAX_CORRELATION: f32 = 0.8;
/// A coherent residual whose impulse response has more than this share of its energy beyond
/// [`SHORT_RESPONSE_SECONDS`] is a reverb or delay return, not EQ.
pub const LONG_RESPONSE_SPREAD: f32 = 0.5;
/// ... and when at least this share of the residual is coherent with the stems (a reverb fed
/// by the stems is; an independent missing source is not).
pub const LONG_RESPONSE_MIN_COHERENT: f32 = 0.35;

// ---------------------------------------------------------------------------------------------
// Causes, shared by the rules (diagnose/mod.rs)
// ---------------------------------------------------------------------------------------------

/// A cause is reported only if it explains at least this share of the residual energy (so a
/// missing reverb is not also blamed on a stem's gain).
pub const CAUSE_MIN_SHARE: f32 = 0.1;
/// A stem's offset is judged against the residual as delivered at the master bus's gain (a
/// limiter's make-up) when it holds at least this share of it (0.5: most; measured 0.73 for a
/// brass stem 48 samples late beside an 8.7 dB make-up, 0.18 for the apparent 0.94 samples a
/// compressor taking 17 dB gave a drum stem) ...
pub const OFFSET_BESIDE_GAIN_MIN_SHARE: f32 = 0.5;
/// ... and the stem is read at a lag at least this many whole samples off the common lag (2):
/// an offset read from a phase at the common lag (a reverb return 0.3 to 8 samples "early"
/// beside a plain master gain or a limiter's drive, whose residual at that gain nulls to
/// -124 dB) is never judged against what a gain leaves.
pub const OFFSET_BESIDE_GAIN_MIN_SAMPLES: u64 = 2;
/// ... and holds at least this share of the residual as delivered (0.03: the brass 48 samples
/// late held 0.095; a reverb return read 2 samples early beside a plain 3 dB master gain, 0.008
/// of a residual that nulls at that gain).
pub const OFFSET_BESIDE_GAIN_MIN_WHOLE_SHARE: f64 = 0.03;
/// The residual a cause's share is taken of never falls below this share of the aligned
/// residual (-13 dB), however much earlier causes explained.
pub const REMAINING_FLOOR_SHARE: f64 = 0.05;
/// Hysteresis for findings measured in dB, in dB: a finding reported at threshold T goes away
/// only below T minus this (it never flickers around its threshold).
pub const HYSTERESIS_DB: f32 = 0.05;
/// Hysteresis for findings measured in samples (stem offsets), in samples: the same margin as
/// [`HYSTERESIS_DB`], in the finding's own unit.
pub const HYSTERESIS_SAMPLES: f32 = 0.05;
/// Seconds of complete audio before anything but headroom is reported.
pub const MIN_ANALYSIS_SECONDS: f32 = 0.3;
/// Seconds of analysed audio after which a finding has full confidence (it grows linearly).
pub const FULL_CONFIDENCE_SECONDS: f64 = 2.0;
/// The confidence of a finding never falls below this.
pub const MIN_CONFIDENCE: f64 = 0.2;

// ---------------------------------------------------------------------------------------------
// Inter-stem cancellation: stem-phase-cancellation (analyzer/cancellation.rs; decided in
// diagnose/cancellation.rs)
// ---------------------------------------------------------------------------------------------

/// Up to this many stems, every pair is checked for low-end cancellation (more stems are
/// multitracks, and pairs grow with the square).
pub const MAX_PAIR_STEMS: usize = 24;
/// Two stems summing this far below the sum of their energies in a band cancel, in dB.
pub const CANCELLATION_THRESHOLD_DB: f32 = -3.0;
/// ... and correlate in that band at this or lower (-0.7: one signal in antiphase, 5.2 dB lost
/// at equal levels; parts doubling a line cancel by chance at -0.5 to -0.6, measured on the
/// corpus's orchestral piece: 3.7 dB).
pub const CANCELLATION_MAX_CORRELATION: f32 = -0.7;
/// A cancellation matters only in a band that carries part of the low end: the pair's energy
/// there within this many dB of the stems' strongest low band (-20 dB). Below that it is
/// window leakage or rumble nobody hears.
pub const CANCELLATION_MIN_BAND_DB: f32 = -20.0;
/// Upper edge of the inter-stem cancellation analysis, in Hz.
pub const CANCELLATION_MAX_HZ: f32 = 250.0;
/// A band is in the cancellation analysis if its upper edge is below [`CANCELLATION_MAX_HZ`]
/// times this (so that the 250 Hz band, whose edge is at 281 Hz, is in).
pub const CANCELLATION_EDGE_MARGIN: f32 = 1.13;
/// ... and its centre at or above this, in Hz (the 25 Hz band holds too few bins).
pub const CANCELLATION_MIN_CENTRE_HZ: f32 = 31.5;
/// Both stems of a pair must matter in the band: the weaker's energy at least this share of
/// the stronger's (-10 dB).
pub const CANCELLATION_MIN_BALANCE: f64 = 0.1;
/// The pair must carry at least this share of all stems' energy in the band (-7 dB).
pub const CANCELLATION_MIN_PAIR_SHARE: f64 = 0.2;
/// Losses within this many dB of each other are one cancellation smeared over neighbouring
/// bands by window leakage: the band with the most energy is named.
pub const CANCELLATION_SAME_LOSS_DB: f32 = 1.0;

// ---------------------------------------------------------------------------------------------
// Levels: clipping, true-peak, dc-offset, sum-over-full-scale, silent-stem (headroom.rs;
// decided in diagnose/levels.rs)
// ---------------------------------------------------------------------------------------------

/// Samples at or over this magnitude count as clipped (0 dBFS minus 0.0009 dB), in runs of at
/// least [`CLIP_RUN_SAMPLES`]; any sample over 1.0 (a float over) counts on its own.
pub const CLIP_LEVEL: f32 = 0.9999;
/// Shortest run of samples at [`CLIP_LEVEL`] that counts as clipping, in samples.
pub const CLIP_RUN_SAMPLES: usize = 3;
/// Hops holding a clip (of the master or a stem) are kept out of the whole-run estimates while
/// they are at most this share of the hops seen: a clipped stem is fitted on its unclipped part,
/// a clipped master's distortion is the clipping's own. A signal clipping in most hops is
/// fitted on everything (there is too little else to fit on).
pub const CLIPPED_HOPS_MAX_SHARE: f64 = 0.5;
/// Inter-sample peaks are evaluated next to samples above this magnitude (-8 dBFS).
pub const TRUE_PEAK_GATE: f32 = 0.398;
/// A true peak is reported from the limit plus this much, in dB (a peak exactly at the limit
/// passes).
pub const TRUE_PEAK_MARGIN_DB: f32 = 0.001;
/// True peaks are shown, and decided against the limit, rounded to this step (0.1 dB): a peak
/// of -0.96 dBTP is shown as -1.0 and meets a -1 dBTP limit (issue 11, item 7).
pub const TRUE_PEAK_SHOWN_STEP_DB: f32 = 0.1;
/// A stem quieter than this over a whole pass is silent, in dBFS.
pub const SILENCE_DBFS: f32 = -90.0;
/// A stem is called silent only after this many seconds of audio.
pub const SILENT_STEM_MIN_SECONDS: f64 = 2.0;
/// ... and only if it was present at least this share of the time.
pub const SILENT_STEM_MIN_PRESENT: f32 = 0.5;
/// A mean (DC) above this is reported, in dBFS.
pub const DC_OFFSET_DBFS: f32 = -50.0;
/// The stems' sum is over full scale above this sample peak, in dBFS.
pub const SUM_FULL_SCALE_DBFS: f32 = 0.0;

// ---------------------------------------------------------------------------------------------
// Setup: no-master, no-stems, stem-count (diagnose/setup.rs)
// ---------------------------------------------------------------------------------------------

/// A missing master or missing stems are reported after this many seconds of audio.
pub const SETUP_MIN_SECONDS: f64 = 1.0;

// ---------------------------------------------------------------------------------------------
// Time: stem-dropout (analyzer/segments.rs; decided in diagnose/timeline.rs)
// ---------------------------------------------------------------------------------------------

/// Segments per hop: the residual and every stem's level are tracked per segment of about 10 ms
/// (a hop of 8192 samples at 48 kHz gives 512-sample segments, 10.7 ms).
pub const SEGMENTS_PER_HOP: usize = 16;
/// A stem segment with a mean square below this is (near-)digital silence (-80 dBFS RMS; a
/// dithered 16-bit silence is near -100 dBFS).
pub const DROPOUT_SILENCE_MEAN_SQUARE: f64 = 1e-8;
/// ... and a sample above this magnitude (-80 dBFS) is sound, where an edge is refined.
pub const DROPOUT_SILENCE_AMPLITUDE: f32 = 1e-4;
/// Time constant of a stem's level "around" a silent stretch (before it, and after it), in
/// seconds.
pub const DROPOUT_AROUND_SECONDS: f64 = 1.0;
/// A stretch a stem is silent in while the mix is not, shorter than this (and with the stem
/// sounding again after it), is named as a dropout only when it holds most of the whole
/// residual ([`DROPOUT_SHORT_MIN_SHARE`]): rests of a beat or two are everywhere in real parts,
/// and beside another defect (a source no stem carries playing in a rest) a short gap cannot
/// be told from a rest by its energy alone. A mute left on or a cut region lasts bars; an export
/// that ends early stays silent and is named at any length.
pub const DROPOUT_MIN_NAMED_SECONDS: f64 = 1.0;
/// ... the share of the whole run's residual energy a shorter stretch must hold to be named
/// (0.5, -3 dB): then it is *the* effect, and no other cause is left to take it.
pub const DROPOUT_SHORT_MIN_SHARE: f32 = 0.5;
/// The moments after a silent stretch in which the residual must fall back when the stem
/// sounds again, in seconds (0.1 s: a few notes' onsets).
pub const DROPOUT_FALL_SECONDS: f64 = 0.1;
/// ... by at least this much re its level in the stretch (6 dB): a stem resting while another
/// stem's mute goes on leaves the residual raised after it; the muted stem takes it away.
/// The level, not the share of the master: a bass resting 0.2 s inside a drum mute left the
/// share 13 dB lower when it returned (the master louder), the residual's level no lower.
pub const DROPOUT_FALL_DB: f32 = 6.0;
/// In a dropout the residual rises over its level elsewhere (re master) by at least this much
/// (10 dB): a stem resting in the mix too leaves the residual where it was.
pub const DROPOUT_RISE_DB: f32 = 10.0;
/// A silent stretch is a dropout only if at least this share of its residual (-6 dB) is not a
/// gain on the sum changing segment by segment. Under a master limiter, stretches over quiet
/// intros, turned up more than the song, left 0.3% to 17% that was not (pedalboard's limiter on
/// three pieces); muted stems in the corpus, 91 to 98%; drums stopped beside a master low shelf
/// (whose residual on a bass-heavy sum is largely a gain's too), 36%.
pub const DROPOUT_MIN_GAIN_FREE_SHARE: f64 = 0.25;
/// ... and over its share in the second before the stretch by at least this much (6 dB): a
/// stem that rests while another stem's dropout already raised the residual is not a dropout.
pub const DROPOUT_LOCAL_RISE_DB: f32 = 6.0;
/// The residual below this share of the master (-70 dB) counts as the null floor when its
/// level elsewhere is lower still (the rise is measured from here).
pub const DROPOUT_BASELINE_FLOOR: f64 = 1e-7;
/// ... and the residual in the stretch must reach about the level the stem had around it: at
/// least this much re the stem's level (-15 dB; a quieter passage varies, a reverb tail of the
/// stem's part, at -20 dB and decaying, does not count).
pub const DROPOUT_MIN_LEVEL_DB: f32 = -15.0;
/// ... and at least this level re the residual's level over the rest of the run (-6 dB): when
/// the music ends, the mix's tail is all residual if a return is missing, so the residual's
/// share of the master rises everywhere there, but its level falls away (a delay with feedback
/// or a room decays by 15 dB and more over a few seconds) instead of standing over the run's.
pub const DROPOUT_MIN_LEVEL_VS_RESIDUAL_DB: f32 = -6.0;
/// A stretch judged late (the stem silent since before it first sounded, judged against the run
/// without it) must stand this far over the residual's level over the run (6 dB): another
/// stem's defect that lasts the whole run (an inverted piano) leaves as much residual there as
/// elsewhere (measured 0.6 dB, with TimGM6mb's brass resting through the intro).
pub const DROPOUT_LATE_MIN_LEVEL_VS_RESIDUAL_DB: f32 = 6.0;
/// ... and at least this share of the master in the stretch, in dB (what is audible).
pub const DROPOUT_MIN_RESIDUAL_DB: f32 = -40.0;
/// ... and at most this much re the master (+1 dB): a stem's missing part is part of the
/// master, so the residual of a dropout is at most the master itself. A residual louder than
/// the master holds what the stems add and the mix lacks: another stem's defect (inverted, or
/// too hot) sounding while this one rests.
pub const DROPOUT_MAX_RESIDUAL_DB: f32 = 1.0;
/// A silent stretch shorter than this is not reported as a dropout, in seconds.
pub const DROPOUT_MIN_SECONDS: f64 = 0.2;
/// A stretch's rise through the bus's fitted response is read from the frames' spectra taken
/// while it is silent: only from this many frames on (2: a frame's hop is 0.17 s at 48 kHz, 0.34
/// s once settled, so a stretch of a beat holds one at most, and that frame's edges hold the
/// stem sounding: a drum rest of 0.11 s, in a first pass with the drums 2 s late, read a 13 dB
/// rise, turned suspect, and the lags locked wrong; a 1 s mute holds two).
pub const THROUGH_BUS_MIN_FRAMES: u32 = 2;
/// Where the residual rose only this long after the stem went silent, the dropout starts where
/// it rose (the stem rested first), in seconds.
pub const DROPOUT_RISE_LATE_SECONDS: f64 = 0.05;
/// Silent stretches kept per stem (the ones with the most residual energy): memory stays fixed
/// however long the song.
pub const DROPOUT_EVENTS_PER_STEM: usize = 8;
/// When stems are silent at once, a stem is named only if the residual's spectrum matches its
/// usual spectrum nearly as well as any other's (Bhattacharyya coefficient of the octave-band
/// shapes, 0 to 1, within this margin).
pub const DROPOUT_MATCH_MARGIN: f32 = 0.05;
/// A stem silent inside another stem's dropout that was already open when it went silent is
/// named only if the residual's spectrum matches its own shape better than that stem's by this
/// much (Bhattacharyya coefficients): else the residual is the open dropout's going on (a brass
/// part ending before the song's last chord, inside a strings stem cut 7 s earlier: 0.951
/// against 0.939).
pub const DROPOUT_NESTED_MATCH_MARGIN: f32 = 0.05;
/// A stem locked at a lag of its own is read there for the segment stage's mids only while the
/// fit finds it there whole and alone: its gain in the master within this of unity, in dB
/// (+/-1.5 dB). A stem truly late fits at its full gain at its lag, or down by what a master
/// compressor it drives takes (a drum stem 0.8 to 1.2 dB from one fit to the next: read as
/// delivered whenever it fell under 1 dB, its misplaced copy raised missing content); a reverb
/// return dragged 10 ms off by a missing reverb it correlates with fits up to 2.3 dB hot there
/// (the reverb's coherent share added), or dB down once the lag is wrong, and the residual is
/// that reverb's.
pub const OWN_LAG_MAX_FITTED_GAIN_DB: f32 = 1.5;
/// A stem that rested first is resting beside a stem that went silent where the residual rose
/// only if that stem's stretch holds at least this much less of the residual than its own, in
/// dB (-3 dB: half): a rest of a beat inside a mute of bars explains a tenth of it (a bass
/// resting 0.2 s inside keys muted for 4 s: -30.1 against -20.9 dB), and the mute is named.
pub const DROPOUT_BESIDE_MAX_SHORTFALL_DB: f32 = 3.0;
/// A stretch silent since before the stem first sounded, judged at its end against the run
/// without it (no level before it to compare with), is a dropout only if the residual in it has
/// the stem's own spectral shape at least this well (Bhattacharyya coefficient of octave
/// bands): a strings stem muted from before its first note 0.994; a bass resting through an
/// intro where an inverted keys part leaves the residual 0.777.
pub const DROPOUT_LATE_MIN_MATCH: f32 = 0.9;
/// A stem's silence inside another's is not the residual's cause when the stem sounded again
/// at least this long before the other (in seconds) ...
pub const DROPOUT_OUTLIVED_SECONDS: f64 = 0.1;
/// ... and the residual fell at least this much more (in dB) when the other sounded again: the
/// residual outlived its silence and ended with the other's.
pub const DROPOUT_OUTLIVED_FALL_DB: f32 = 6.0;

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
    /// The time-domain null residual is measured below this frequency only, in Hz (`None`:
    /// the whole band). For a comparison where a file was resampled: above the pass band of
    /// the lowest rate, the resampler that made the file and the one that brought it to the
    /// analysis rate cut differently, and that difference is no defect of the delivery.
    #[serde(default)]
    pub compare_below_hz: Option<f32>,
    /// The noise floor of one stem file, per sample and channel, in dBFS (its mean square
    /// against a full-scale square): the dither and rounding of integer samples (16-bit -96,
    /// 24-bit -144); the loudest of the stems'. `None`: none known (floating point, or a live
    /// bus). See `analyzer/floor.rs`.
    #[serde(default)]
    pub stem_floor_dbfs: Option<f32>,
    /// ... of the master file.
    #[serde(default)]
    pub master_floor_dbfs: Option<f32>,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        Self {
            true_peak_limit_dbtp: -1.0,
            usual_min_stems: 2,
            usual_max_stems: 12,
            multitrack_stems: 20,
            compare_below_hz: None,
            stem_floor_dbfs: None,
            master_floor_dbfs: None,
        }
    }
}
