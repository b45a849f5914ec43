//! The engine. Audio comes in as blocks of any size; internally everything runs on fixed,
//! non-overlapping frames (so block boundaries never change a result). One file per stage:
//!
//! 1. [`ingest`]: each signal's mid channel goes into a history ring; the master's and the
//!    stems' sum's left and right channels too (for the time-domain null residual). Samples are
//!    cleaned, levels and loudness measured on the way.
//! 2. [`residual`]: every hop, the null residual in the time domain (master minus sum at the
//!    common lag) and its envelope; [`segments`] tracks it and every stem's level per ~10 ms
//!    segment (a stem silent where the mix still has its part is a dropout, kept out of the
//!    whole-run estimates).
//! 3. [`cross_spectra`]: every frame, a Hann-windowed frame of the master and of every stem
//!    (each read at its own lag) is transformed, and cross-spectra are accumulated (Welch
//!    averaging); [`frame_gain`] records the frame's master-bus gain against the sum's level,
//!    [`fit`] the stems' Gram matrices, [`cancellation`] the stems' low-band pair energies.
//! 4. [`timing`]: every few frames the lags are re-estimated (GCC-SCOT); a changed lag restarts
//!    the accumulators, so every estimate uses aligned frames only.
//! 5. [`fit`], [`estimate`], [`residual`], [`cancellation`]: from the accumulators come the
//!    stems' gains and polarities, the master bus's gain, EQ and dynamics, what no stem
//!    explains, and the inter-stem cancellations ([`Analyzer::measurements`]);
//!    [`crate::diagnose`] turns them into findings.
//!
//! Memory is fixed by the sample rate and the number of stems, never by the song's length.

mod cancellation;
mod ceiling;
mod clips;
mod cross_spectra;
mod eq_phase;
mod estimate;
mod fit;
mod floor;
mod frame_gain;
mod ingest;
mod level_gain;
mod level_residual;
mod residual;
mod return_model;
mod segments;
mod stems;
mod timing;

use crate::bands::{Band, third_octave_bands};
use crate::config::{
    ANALYSIS_HIGH_HZ, ANALYSIS_HIGH_NYQUIST_SHARE, ANALYSIS_LOW_HZ, AnalyzerConfig,
    BANDS_NYQUIST_SHARE, CANCELLATION_EDGE_MARGIN, CANCELLATION_MAX_HZ, CANCELLATION_MIN_CENTRE_HZ,
    FALLBACK_SAMPLE_RATE_HZ, FRAME_SECONDS, MAX_LAG_SECONDS, MAX_SAMPLE_RATE_HZ, MIN_FRAMES,
    MIN_SAMPLE_RATE_HZ, SETTLED_FRAMES, UPDATE_EVERY_FRAMES, UPDATE_EVERY_FRAMES_SETTLED,
};
use crate::diagnose::Diagnosis;
use crate::finding::{Finding, Verdict};
use crate::input::Block;
use crate::measurements::Measurements;
use crate::spectra::{Cd, Cf, Fft};

use cancellation::PairEnergies;
use clips::ClipMarks;
use cross_spectra::{FrameSpectra, Welch};
use frame_gain::BusTracking;
use ingest::{MasterInput, SumInput};
use residual::ResidualState;
use return_model::ReturnModel;
use segments::Segments;
use stems::Stem;

/// The geometry of the analysis: fixed when the analyzer is created (writer: [`Analyzer::new`]).
struct Layout {
    /// The sample rate, in Hz.
    sample_rate_hz: f32,
    /// Frame (and FFT) length, in samples: a power of two.
    frame_len: usize,
    /// Samples from one frame's start to the next's (equal to `frame_len`: frames do not
    /// overlap, half the work of 50% overlap; the time-domain residual covers every sample).
    hop: usize,
    /// Largest lag searched either way, in samples.
    max_lag: usize,
    /// Capacity of every history ring, in samples.
    ring_len: usize,
    /// The 1/3-octave bands, in FFT bins.
    bands: Vec<Band>,
    /// Bins `[first, end)` of the cross-spectral analysis band.
    analysis_bins: (usize, usize),
    /// The bands of the inter-stem cancellation analysis (the low end).
    low_bands: Vec<Band>,
}

/// Where the analysis has got to.
struct Progress {
    /// Samples received so far: the absolute position of the next sample (writer: ingest).
    position: u64,
    /// Absolute position of the next frame's first sample, in samples (writer:
    /// [`Analyzer::process`]).
    next_frame: u64,
    /// NaN and infinite samples met in any signal (made silent), in samples (writer: ingest).
    non_finite_samples: u64,
    /// Frames analysed or skipped while complete, since the start, in frames (writer:
    /// [`Analyzer::process_frame`]).
    analysed_frames_total: u64,
    /// Frames accumulated since the last update, in frames (writer: `process_frame`, `update`).
    frames_since_update: u64,
    /// Updates so far (wrapping), for taking the stems' lag checks in turn (writer: timing).
    update_count: u64,
}

/// Per-call scratch space, allocated once (writers: the stage that uses it, for the call only).
struct Scratch {
    /// One hop of the master's (or a stem's) left channel, cleaned (ingest).
    left: Vec<f32>,
    /// One hop of the right channel, cleaned (ingest).
    right: Vec<f32>,
    /// One hop of the stems' sum, left (ingest).
    sum_left: Vec<f32>,
    /// One hop of the stems' sum, right (ingest).
    sum_right: Vec<f32>,
    /// The sum with one more stem added, left and right: written from `sum_left` and
    /// `sum_right` in the pass that reads the stem, then swapped with them (ingest).
    sum_next: [Vec<f32>; 2],
    /// One hop of the master's mid (ingest).
    mid: Vec<f32>,
    /// A weighted cross-spectrum, `fft.bins()` bins (timing, residual).
    gcc: Vec<Cf>,
    /// Its inverse transform, `frame_len` samples (timing, residual).
    corr: Vec<f32>,
    /// Master left/right, sum left/right and the residual left/right over one hop (residual).
    td: [Vec<f32>; 6],
    /// What reading each stem locked at a lag of its own there, not at the common lag, adds
    /// to the sum's mid over one hop (residual).
    offset_fix: Vec<f32>,
    /// `offset_fix` and what reading each stem found inverted with its sign turned adds to the
    /// sum's mid over one hop: the residual's character is read from it (residual).
    character_fix: Vec<f32>,
    /// One hop of one stem's mid (residual).
    offset_read: Vec<f32>,
    /// What the master holds of one stem once the others are taken out: cross-spectrum
    /// (timing).
    isolated_cross: Vec<Cd>,
    /// ... and auto-spectrum (timing).
    isolated_auto: Vec<f64>,
}

/// What the analysis says (writer: [`Analyzer::refresh_findings`]).
struct Results {
    /// Hysteresis state of the findings.
    diagnosis: Diagnosis,
    /// The findings, most important first.
    findings: Vec<Finding>,
    /// The measurements the findings were made from.
    last_measurements: Measurements,
}

/// The analysis of one comparison: a master and any number of stems at one sample rate.
pub struct Analyzer {
    /// The settings (writer: [`Analyzer::new`]).
    config: AnalyzerConfig,
    /// Frame geometry and bands.
    layout: Layout,
    /// The planned FFT of one frame, with its window.
    fft: Fft,
    /// The master's history and levels.
    master: MasterInput,
    /// The stems' sum's history and levels.
    sum: SumInput,
    /// The stems, in the order they appeared.
    stems: Vec<Stem>,
    /// Positions and counters.
    progress: Progress,
    /// The current frame's spectra.
    spectra: FrameSpectra,
    /// Welch accumulators of master and sum, and the stems' Gram matrices.
    welch: Welch,
    /// The master bus's per-band gain and gain-by-level history.
    bus: BusTracking,
    /// Low-band energies of every stem and every pair.
    pairs: PairEnergies,
    /// The time-domain null residual and the residual's response spread.
    residual: ResidualState,
    /// Whether the residual's envelope trails the sum's (a return) or not (a source).
    return_model: ReturnModel,
    /// The residual and the stems' levels per ~10 ms segment: the dropouts.
    segments: Segments,
    /// The hops in which the master clipped (`clips.rs`).
    master_clips: ClipMarks,
    /// Scratch space.
    scratch: Scratch,
    /// Findings and the measurements they came from.
    results: Results,
}

impl Analyzer {
    /// An analyzer for audio at `sample_rate_hz`. Allocates everything it needs for up to a
    /// few stems; more stems allocate as they appear.
    pub fn new(sample_rate_hz: f32, config: AnalyzerConfig) -> Self {
        let sample_rate_hz = if sample_rate_hz.is_finite() && sample_rate_hz >= MIN_SAMPLE_RATE_HZ {
            sample_rate_hz.min(MAX_SAMPLE_RATE_HZ)
        } else {
            FALLBACK_SAMPLE_RATE_HZ
        };
        let frame_len = ((FRAME_SECONDS * sample_rate_hz) as usize).next_power_of_two();
        let hop = frame_len;
        let max_lag = ((MAX_LAG_SECONDS * sample_rate_hz) as usize).min(frame_len / 2 - 1);
        let ring_len = frame_len + 2 * max_lag + 2 * hop;
        let fft = Fft::new(frame_len);
        let bins = fft.bins();
        let nyquist = sample_rate_hz / 2.0;
        let bands = third_octave_bands(sample_rate_hz, frame_len, nyquist * BANDS_NYQUIST_SHARE);
        let bin_hz = sample_rate_hz / frame_len as f32;
        let analysis_bins = (
            (ANALYSIS_LOW_HZ / bin_hz) as usize,
            ((ANALYSIS_HIGH_HZ.min(nyquist * ANALYSIS_HIGH_NYQUIST_SHARE)) / bin_hz) as usize,
        );
        let low_bands: Vec<Band> = bands
            .iter()
            .filter(|b| {
                b.high_hz <= CANCELLATION_MAX_HZ * CANCELLATION_EDGE_MARGIN
                    && b.centre_hz >= CANCELLATION_MIN_CENTRE_HZ
            })
            .cloned()
            .collect();
        let num_bands = bands.len();
        Self {
            config,
            layout: Layout {
                sample_rate_hz,
                frame_len,
                hop,
                max_lag,
                ring_len,
                bands,
                analysis_bins,
                low_bands,
            },
            fft,
            master: MasterInput::new(ring_len, sample_rate_hz),
            sum: SumInput::new(ring_len, sample_rate_hz),
            stems: Vec::new(),
            progress: Progress {
                position: 0,
                next_frame: max_lag as u64,
                non_finite_samples: 0,
                analysed_frames_total: 0,
                frames_since_update: 0,
                update_count: 0,
            },
            spectra: FrameSpectra::new(bins),
            welch: Welch::new(bins),
            bus: BusTracking::new(num_bands),
            pairs: PairEnergies::default(),
            residual: ResidualState::new(config.compare_below_hz, sample_rate_hz),
            return_model: ReturnModel::new(bin_hz, nyquist * ANALYSIS_HIGH_NYQUIST_SHARE),
            segments: Segments::new(hop, analysis_bins, bin_hz),
            master_clips: ClipMarks::default(),
            scratch: Scratch {
                left: vec![0.0; hop],
                right: vec![0.0; hop],
                sum_left: vec![0.0; hop],
                sum_right: vec![0.0; hop],
                sum_next: [vec![0.0; hop], vec![0.0; hop]],
                mid: vec![0.0; hop],
                gcc: vec![Cf::new(0.0, 0.0); bins],
                corr: vec![0.0; frame_len],
                td: std::array::from_fn(|_| vec![0.0; hop]),
                offset_fix: vec![0.0; hop],
                character_fix: vec![0.0; hop],
                offset_read: vec![0.0; hop],
                isolated_cross: vec![Cd::new(0.0, 0.0); bins],
                isolated_auto: vec![0.0; bins],
            },
            results: Results {
                diagnosis: Diagnosis::default(),
                findings: Vec::new(),
                last_measurements: Measurements::default(),
            },
        }
    }

    /// The sample rate the analyzer runs at.
    pub fn sample_rate_hz(&self) -> f32 {
        self.layout.sample_rate_hz
    }

    /// The settings.
    pub fn config(&self) -> &AnalyzerConfig {
        &self.config
    }

    /// Feeds a block of aligned audio.
    pub fn process(&mut self, block: &Block<'_>) {
        self.add_new_stems(block);
        let mut offset = 0;
        while offset < block.num_frames {
            let frames = (block.num_frames - offset).min(self.layout.hop);
            self.ingest(block, offset, frames);
            self.mark_clips(frames);
            offset += frames;
            while self.progress.next_frame + (self.layout.frame_len + self.layout.max_lag) as u64
                <= self.progress.position
            {
                let start = self.progress.next_frame as i64;
                self.process_frame(start);
                self.progress.next_frame += self.layout.hop as u64;
            }
        }
    }

    /// One frame starting at sample `start` of the master: the pipeline.
    fn process_frame(&mut self, start: i64) {
        let common_lag = self.common_lag();
        self.time_domain_hop(start, common_lag);
        if !self.frame_is_complete(start) {
            return;
        }
        // A stem's dropout is its own finding (`segments.rs`), and so is a clip (`clips.rs`):
        // their frames stay out of the whole-run estimates, which still refresh on schedule.
        if self.segments.hop_excluded {
            self.transform_frame(start);
            self.return_model.push(
                start as u64 / self.layout.hop as u64,
                &self.spectra.master,
                &self.spectra.corrected,
                self.stems.iter().map(|s| s.spectrum.as_slice()),
                false,
            );
            self.add_frame_to_stretches();
            self.progress.analysed_frames_total += 1;
            self.progress.frames_since_update += 1;
            if self.progress.frames_since_update >= UPDATE_EVERY_FRAMES_SETTLED {
                self.progress.frames_since_update = 0;
                self.update();
            }
            return;
        }
        // Once the lags are found and the estimates have settled, the spectral analysis takes
        // every other frame: the averages still converge over a song, at half the cost. The
        // time-domain residual and the levels still see every sample; the choice depends on
        // the position only, so block sizes never change a result.
        let settled = self.welch.frames >= SETTLED_FRAMES && self.stems.iter().all(|s| s.locked);
        if settled && (start as u64 / self.layout.hop as u64) % 2 == 1 {
            self.progress.analysed_frames_total += 1;
            return;
        }

        self.transform_frame(start);
        // A stem silent since before it first sounded: its stretch's spectrum (judged later).
        self.add_frame_to_stretches();
        let norm = self.record_frame_gain(start);
        self.accumulate_cross_spectra(norm);
        self.return_model.push(
            start as u64 / self.layout.hop as u64,
            &self.spectra.master,
            &self.spectra.corrected,
            self.stems.iter().map(|s| s.spectrum.as_slice()),
            true,
        );
        self.accumulate_pairs();
        self.accumulate_gram();
        self.welch.frames += 1;
        self.progress.analysed_frames_total += 1;
        self.progress.frames_since_update += 1;
        // Lags are checked often until every stem is placed, then now and then; findings are
        // refreshed about twice a second of audio.
        let settled = self.stems.iter().all(|s| s.locked);
        let every = if settled {
            UPDATE_EVERY_FRAMES_SETTLED
        } else {
            UPDATE_EVERY_FRAMES
        };
        if self.progress.frames_since_update >= every {
            self.progress.frames_since_update = 0;
            self.update();
        }
    }

    /// Lag tracking; then, if no lag moved, the residual's response, the findings, and the
    /// fitted gains fed back into the per-frame gain.
    fn update(&mut self) {
        if self.track_lags() {
            self.restart_accumulators();
            return;
        }
        self.residual.ir_spread = self.residual_impulse_spread();
        self.residual.turned_ir_spread = self.turned_impulse_spread();
        self.return_model.refit(false);
        self.refresh_findings();
        self.apply_fitted_gains();
    }

    /// Empties every accumulator of aligned frames (after a lag or the stem set changed).
    fn restart_accumulators(&mut self) {
        self.welch.clear();
        for stem in &mut self.stems {
            stem.clear_accumulators();
        }
        self.pairs.clear();
        self.bus.dynamics.clear();
        self.bus.peaks.clear();
        self.bus.unit_dynamics.clear();
        self.bus.fitted_residual.clear();
        self.bus.unit_residual.clear();
        self.bus.ceiling.clear();
        self.return_model.clear();
        self.segments.realign();
        self.welch.frames = 0;
    }

    fn refresh_findings(&mut self) {
        let measurements = self.measurements();
        self.results.findings = self.results.diagnosis.update(&measurements, &self.config);
        self.results.last_measurements = measurements;
    }

    /// The measurements as of the last findings update (cheap: no recomputation).
    pub fn last_measurements(&self) -> &Measurements {
        &self.results.last_measurements
    }

    /// Call at the end of a pass: runs a last update so that short passes get findings.
    pub fn finish(&mut self) {
        self.return_model.refit(true);
        if self.progress.frames_since_update > 0 {
            self.progress.frames_since_update = 0;
            self.update();
        } else {
            self.refresh_findings();
        }
    }

    /// The findings, most important first (updated every few frames).
    pub fn findings(&self) -> &[Finding] {
        &self.results.findings
    }

    /// The overall verdict.
    pub fn verdict(&self) -> Verdict {
        if self.progress.analysed_frames_total < MIN_FRAMES && self.results.findings.is_empty() {
            Verdict::Pending
        } else {
            Verdict::of(&self.results.findings)
        }
    }

    /// Samples that were NaN or infinite (replaced by silence).
    pub fn non_finite_samples(&self) -> u64 {
        self.progress.non_finite_samples
    }

    /// Everything measured so far: each stage adds its part.
    pub fn measurements(&self) -> Measurements {
        let common_lag = self.common_lag();
        let mut m = self.time_domain_measurements(common_lag);
        let (lo, hi) = self.layout.analysis_bins;
        let sum_pmm: f64 = self.welch.pmm[lo..hi].iter().sum();
        if self.welch.frames < MIN_FRAMES || sum_pmm <= 0.0 {
            m.stems = self
                .stems
                .iter()
                .map(|s| s.basic_measurements(common_lag))
                .collect();
            return m;
        }
        m.cross_ready = true;

        let fit = self.fit_gains();
        let bin_gains = self.bin_bus_gains(&fit);
        self.measure_bus(&fit, &bin_gains, sum_pmm, &mut m);
        let unexplained = self.unexplained(&fit);
        self.measure_unexplained(&unexplained, sum_pmm, &mut m);
        self.measure_credible_eq(&fit, &unexplained, &mut m);
        // After what no stem explains: a limiter's one clamped event is weighed against it.
        self.measure_dynamics(&mut m);
        m.bands = self.band_view(&unexplained);
        m.stems = self.measure_stems(&fit, &bin_gains, common_lag, sum_pmm);
        m.cancellations = self.cancellations();
        m.residual_return_fit = self.return_model.fit();
        m
    }
}
