//! The engine. Audio comes in as blocks of any size; internally everything runs on fixed frames
//! (so block boundaries never change a result):
//!
//! 1. Each signal's mid channel goes into a history ring; the master's and the stems' sum's left
//!    and right channels too (for the time-domain null residual).
//! 2. Every hop (half a frame), a Hann-windowed frame of the master and of every stem (each read
//!    at its own lag) is transformed, and cross-spectra are accumulated (Welch averaging).
//! 3. Every few frames the lags are re-estimated (GCC-SCOT); a changed lag restarts the
//!    accumulators, so every estimate uses aligned frames only.
//! 4. From the accumulators come the stems' gains and polarities, the master bus's gain, EQ and
//!    dynamics, what no stem explains, and the inter-stem cancellations
//!    ([`Analyzer::measurements`]); [`crate::diagnose`] turns them into findings.
//!
//! Memory is fixed by the sample rate and the number of stems, never by the song's length.

use crate::bands::{Band, third_octave_bands};
use crate::config::{
    AnalyzerConfig, CANCELLATION_MAX_HZ, CANCELLATION_MIN_BAND_DB, FRAME_SECONDS, MAX_LAG_SECONDS,
};
use crate::diagnose::Diagnosis;
use crate::dynamics::GainByLevel;
use crate::finding::{Finding, Verdict};
use crate::headroom::{LANES, LANES_FOLD_SAMPLES, Lanes, SignalStats, db};
use crate::input::{Block, SignalAudio, StemId};
use crate::lag::{
    MAX_ZERO_OVER_PEAK, MIN_PEAK_TO_RMS, STRONG_PEAK_TO_RMS, fractional_delay, gcc_peak,
    plain_correlation,
};
use crate::loudness::LoudnessMeter;
use crate::measurements::{BandMeasurement, Cancellation, Measurements, StemMeasurements};
use crate::ring::Ring;
use crate::spectra::{Cd, Cf, Fft};
use wide::f32x4;

/// Up to this many stems, per-band gains are fitted jointly (exact with correlated stems and
/// several defects at once); above, each stem is fitted with the others assumed right.
pub const MAX_GRAM_STEMS: usize = 16;
/// Frames between lag and finding updates while stems are still being placed, and after.
const UPDATE_EVERY_FRAMES: u64 = 1;
const UPDATE_EVERY_FRAMES_SETTLED: u64 = 3;
/// Up to this many stems, every pair is checked for low-end cancellation (more stems are
/// multitracks, and pairs grow with the square).
pub const MAX_PAIR_STEMS: usize = 24;
/// Frames after which the analysis may skip every other frame (see `process_frame`).
const SETTLED_FRAMES: u64 = 12;
/// Frames accumulated before anything cross-spectral is trusted.
pub const MIN_FRAMES: u64 = 3;
/// Time constant of the "recent" null residual, in seconds.
const RECENT_SECONDS: f64 = 3.0;
/// The residual's impulse response counts as short (EQ, gain) within this time, in seconds.
const SHORT_RESPONSE_SECONDS: f32 = 0.01;
/// Envelope blocks for the reverb-tail test, in seconds.
const ENVELOPE_BLOCK_SECONDS: f64 = 0.02;
/// Envelope history: the tail test looks 100 to 300 ms back.
const ENVELOPE_HISTORY: usize = 16;
const TAIL_FROM_BLOCKS: usize = 5;
const TAIL_TO_BLOCKS: usize = 15;
/// Cross-spectral analysis stays within this band: below, frames are too short to say
/// anything; above, many exports are band-limited.
const ANALYSIS_LOW_HZ: f32 = 30.0;
const ANALYSIS_HIGH_HZ: f32 = 16_000.0;

struct Stem {
    id: StemId,
    name: String,
    ring: Ring,
    stats: SignalStats,
    /// Whole-sample lag: the master carries this stem's audio this many samples later.
    lag: i64,
    locked: bool,
    inverted: bool,
    /// A new lag seen once, waiting to be confirmed.
    pending_lag: Option<i64>,
    /// The fraction of a sample left after the whole-sample lag, as last estimated.
    fraction: Option<f64>,
    /// Frames of this stem read at `lag`, since the accumulators restarted.
    spectrum: Vec<Cf>,
    pms: Vec<Cd>,
    pss: Vec<Cd>,
    pkk: Vec<f64>,
    /// The sum of `pkk`, kept as it accumulates (read every update, for every stem).
    energy: f64,
    present_frames: u64,
    frames_seen: u64,
    /// The stem's gain in the master as last fitted (signed, linear), for the per-frame gain.
    fitted_gain: f32,
}

/// Per-channel scratch for one block of input.
struct Scratch {
    left: Vec<f32>,
    right: Vec<f32>,
    sum_left: Vec<f32>,
    sum_right: Vec<f32>,
    mid: Vec<f32>,
    gcc: Vec<Cf>,
    corr: Vec<f32>,
    /// Master left/right and sum left/right over one hop.
    td: [Vec<f32>; 4],
}

/// Stems' sum and master over the time domain.
#[derive(Default)]
struct TimeDomain {
    master_energy: [f64; 2],
    residual_energy: [f64; 2],
    recent_master: f64,
    recent_residual: f64,
    residual_lr: f64,
    residual_mid_energy: f64,
    master_mid_energy: f64,
    envelope_residual: f64,
    envelope_sum: f64,
    envelope_fill: usize,
    envelope_history: [f64; ENVELOPE_HISTORY],
    envelope_count: usize,
    follow_now: f64,
    follow_tail: f64,
}

/// The analysis of one comparison: a master and any number of stems at one sample rate.
pub struct Analyzer {
    config: AnalyzerConfig,
    sample_rate_hz: f32,
    frame_len: usize,
    hop: usize,
    max_lag: usize,
    fft: Fft,
    bands: Vec<Band>,
    /// Bins of the cross-spectral analysis band.
    analysis_bins: (usize, usize),
    low_bands: Vec<Band>,

    master_mid: Ring,
    master_left: Ring,
    master_right: Ring,
    sum_left: Ring,
    sum_right: Ring,
    master_stats: SignalStats,
    sum_stats: SignalStats,
    master_loudness: LoudnessMeter,
    sum_loudness: LoudnessMeter,
    master_seen: bool,
    master_channels: usize,

    stems: Vec<Stem>,
    /// Frames received so far (absolute position of the next sample).
    position: u64,
    next_frame: u64,
    non_finite_samples: u64,

    master_spectrum: Vec<Cf>,
    sum_spectrum: Vec<Cf>,
    /// The sum with every stem at its fitted gain.
    corrected_spectrum: Vec<Cf>,
    pmm: Vec<f64>,
    pss: Vec<f64>,
    pms: Vec<Cd>,
    /// The same, with each frame's master divided by its broadband gain (for what no stem
    /// explains when the master bus has dynamics).
    pmm_norm: Vec<f64>,
    pms_norm: Vec<Cd>,
    frames: u64,
    frames_since_update: u64,
    update_count: u64,
    analysed_frames_total: u64,
    /// Per band, the master's running gain against the sum (for the per-frame gain).
    band_gain: Vec<f32>,
    dynamics: GainByLevel,
    /// Per band, the stems' Gram matrix (upper triangle, row-major: `Re sum Si Sj*`), for the
    /// joint per-band gain fit. Kept for up to [`MAX_GRAM_STEMS`] stems.
    gram: Vec<f64>,
    /// Pairwise low-band energies: `[pair][band]` of |Sj + Sk|^2, and each stem's own.
    pair_energy: Vec<f64>,
    stem_low_energy: Vec<f64>,

    time: TimeDomain,
    /// See [`Self::residual_impulse_spread`].
    residual_ir_spread: f32,
    /// The common lag `time` was measured at.
    time_lag: Option<i64>,
    scratch: Scratch,
    isolated_cross: Vec<Cd>,
    isolated_auto: Vec<f64>,
    diagnosis: Diagnosis,
    findings: Vec<Finding>,
    last_measurements: Measurements,
}

impl Analyzer {
    /// An analyzer for audio at `sample_rate_hz`. Allocates everything it needs for up to a
    /// few stems; more stems allocate as they appear.
    pub fn new(sample_rate_hz: f32, config: AnalyzerConfig) -> Self {
        let sample_rate_hz = if sample_rate_hz.is_finite() && sample_rate_hz >= 8_000.0 {
            sample_rate_hz.min(768_000.0)
        } else {
            48_000.0
        };
        let frame_len = ((FRAME_SECONDS * sample_rate_hz) as usize).next_power_of_two();
        // Frames do not overlap: half the work of 50% overlap, and the Welch averages still
        // converge within a second (the time-domain residual covers every sample).
        let hop = frame_len;
        let max_lag = ((MAX_LAG_SECONDS * sample_rate_hz) as usize).min(frame_len / 2 - 1);
        let ring_len = frame_len + 2 * max_lag + 2 * hop;
        let fft = Fft::new(frame_len);
        let bins = fft.bins();
        let nyquist = sample_rate_hz / 2.0;
        let bands = third_octave_bands(sample_rate_hz, frame_len, nyquist * 0.95);
        let bin_hz = sample_rate_hz / frame_len as f32;
        let analysis_bins = (
            (ANALYSIS_LOW_HZ / bin_hz) as usize,
            ((ANALYSIS_HIGH_HZ.min(nyquist * 0.9)) / bin_hz) as usize,
        );
        let low_bands: Vec<Band> = bands
            .iter()
            .filter(|b| b.high_hz <= CANCELLATION_MAX_HZ * 1.13 && b.centre_hz >= 31.5)
            .cloned()
            .collect();
        let num_bands = bands.len();
        Self {
            config,
            sample_rate_hz,
            frame_len,
            hop,
            max_lag,
            fft,
            bands,
            analysis_bins,
            low_bands,
            master_mid: Ring::new(ring_len),
            master_left: Ring::new(ring_len),
            master_right: Ring::new(ring_len),
            sum_left: Ring::new(ring_len),
            sum_right: Ring::new(ring_len),
            master_stats: SignalStats::default(),
            sum_stats: SignalStats::default(),
            master_loudness: LoudnessMeter::new(sample_rate_hz),
            sum_loudness: LoudnessMeter::new(sample_rate_hz),
            master_seen: false,
            master_channels: 1,
            stems: Vec::new(),
            position: 0,
            next_frame: max_lag as u64,
            non_finite_samples: 0,
            master_spectrum: vec![Cf::new(0.0, 0.0); bins],
            sum_spectrum: vec![Cf::new(0.0, 0.0); bins],
            corrected_spectrum: vec![Cf::new(0.0, 0.0); bins],
            pmm: vec![0.0; bins],
            pss: vec![0.0; bins],
            pms: vec![Cd::new(0.0, 0.0); bins],
            pmm_norm: vec![0.0; bins],
            pms_norm: vec![Cd::new(0.0, 0.0); bins],
            frames: 0,
            frames_since_update: 0,
            update_count: 0,
            analysed_frames_total: 0,
            band_gain: vec![1.0; num_bands],
            dynamics: GainByLevel::default(),
            pair_energy: Vec::new(),
            stem_low_energy: Vec::new(),
            gram: Vec::new(),
            time: TimeDomain::default(),
            time_lag: None,
            residual_ir_spread: 0.0,
            isolated_cross: vec![Cd::new(0.0, 0.0); bins],
            isolated_auto: vec![0.0; bins],
            scratch: Scratch {
                left: vec![0.0; hop],
                right: vec![0.0; hop],
                sum_left: vec![0.0; hop],
                sum_right: vec![0.0; hop],
                mid: vec![0.0; hop],
                gcc: vec![Cf::new(0.0, 0.0); bins],
                corr: vec![0.0; frame_len],
                td: [
                    vec![0.0; hop],
                    vec![0.0; hop],
                    vec![0.0; hop],
                    vec![0.0; hop],
                ],
            },
            diagnosis: Diagnosis::default(),
            findings: Vec::new(),
            last_measurements: Measurements::default(),
        }
    }

    /// The sample rate the analyzer runs at.
    pub fn sample_rate_hz(&self) -> f32 {
        self.sample_rate_hz
    }

    /// The settings.
    pub fn config(&self) -> &AnalyzerConfig {
        &self.config
    }

    /// Names a stem (adding it if unknown). Stems appearing in blocks are added automatically
    /// with a generated name.
    pub fn set_stem_name(&mut self, id: StemId, name: &str) {
        let index = self.stem_index(id);
        self.stems[index].name = name.to_string();
    }

    /// Names a stem the analysis already has; returns whether it had it. (Unlike
    /// [`Self::set_stem_name`], never adds one: for callers that name stems as they come and go,
    /// so that a stem that never reaches the analysis is not added to it.)
    pub fn rename_stem(&mut self, id: StemId, name: &str) -> bool {
        match self.stems.iter_mut().find(|s| s.id == id) {
            Some(stem) => {
                if stem.name != name {
                    stem.name = name.to_string();
                }
                true
            }
            None => false,
        }
    }

    /// Forgets a stem. The comparison restarts (the sum changed meaning).
    pub fn remove_stem(&mut self, id: StemId) {
        if let Some(index) = self.stems.iter().position(|s| s.id == id) {
            self.stems.remove(index);
            self.stem_set_changed();
        }
    }

    fn stem_index(&mut self, id: StemId) -> usize {
        if let Some(index) = self.stems.iter().position(|s| s.id == id) {
            return index;
        }
        self.add_stem(id);
        self.stem_set_changed();
        self.stems.len() - 1
    }

    /// Adds a stem without restarting the comparison: the caller calls
    /// [`Self::stem_set_changed`] once it has added all it had to (once per block, not once
    /// per stem: restarting sizes every pair's accumulators, quadratic in the stem count).
    fn add_stem(&mut self, id: StemId) {
        let bins = self.fft.bins();
        let ring_len = self.frame_len + 2 * self.max_lag + 2 * self.hop;
        let mut ring = Ring::new(ring_len);
        // A stem that appears late was missing until now.
        ring.push_missing(self.position as usize);
        self.stems.push(Stem {
            id,
            name: format!("Stem {}", self.stems.len() + 1),
            ring,
            stats: SignalStats::default(),
            lag: 0,
            locked: false,
            inverted: false,
            pending_lag: None,
            fraction: None,
            spectrum: vec![Cf::new(0.0, 0.0); bins],
            pms: vec![Cd::new(0.0, 0.0); bins],
            pss: vec![Cd::new(0.0, 0.0); bins],
            pkk: vec![0.0; bins],
            energy: 0.0,
            present_frames: 0,
            frames_seen: 0,
            fitted_gain: 1.0,
        });
    }

    fn stem_set_changed(&mut self) {
        let pairs = self.stems.len() * self.stems.len().saturating_sub(1) / 2;
        self.pair_energy = vec![0.0; pairs * self.low_bands.len()];
        self.stem_low_energy = vec![0.0; self.stems.len() * self.low_bands.len()];
        let k = self.stems.len();
        self.gram = if k <= MAX_GRAM_STEMS {
            vec![0.0; self.bands.len() * k * (k + 1) / 2]
        } else {
            Vec::new()
        };
        self.restart_accumulators();
    }

    fn restart_accumulators(&mut self) {
        self.pmm.fill(0.0);
        self.pss.fill(0.0);
        self.pms.fill(Cd::new(0.0, 0.0));
        self.pmm_norm.fill(0.0);
        self.pms_norm.fill(Cd::new(0.0, 0.0));
        for stem in &mut self.stems {
            stem.pms.fill(Cd::new(0.0, 0.0));
            stem.pss.fill(Cd::new(0.0, 0.0));
            stem.pkk.fill(0.0);
            stem.energy = 0.0;
        }
        self.pair_energy.fill(0.0);
        self.stem_low_energy.fill(0.0);
        self.gram.fill(0.0);
        self.dynamics.clear();
        self.frames = 0;
    }

    /// Feeds a block of aligned audio.
    pub fn process(&mut self, block: &Block<'_>) {
        // Callers normally pass the same stems in the same order each block: then there is
        // nothing to look up (a search per stem is quadratic with hundreds of stems).
        let same_order = block.stems.len() == self.stems.len()
            && block
                .stems
                .iter()
                .zip(&self.stems)
                .all(|(b, s)| b.id == s.id);
        if !same_order {
            let known = self.stems.len();
            for stem in block.stems {
                if !self.stems.iter().any(|s| s.id == stem.id) {
                    self.add_stem(stem.id);
                }
            }
            if self.stems.len() != known {
                self.stem_set_changed();
            }
        }
        let mut offset = 0;
        while offset < block.num_frames {
            let frames = (block.num_frames - offset).min(self.hop);
            self.ingest(block, offset, frames);
            offset += frames;
            while self.next_frame + (self.frame_len + self.max_lag) as u64 <= self.position {
                let start = self.next_frame as i64;
                self.process_frame(start);
                self.next_frame += self.hop as u64;
            }
        }
    }

    /// Copies `[offset, offset + frames)` of every signal into the rings, sanitised.
    fn ingest(&mut self, block: &Block<'_>, offset: usize, frames: usize) {
        let Scratch {
            left,
            right,
            sum_left,
            sum_right,
            mid,
            ..
        } = &mut self.scratch;
        let mut non_finite = 0u64;
        // The block's part of a signal, sanitised: the input itself when clean (the normal
        // case, no copy), else a cleaned copy in scratch.
        let range = offset..offset + frames;
        fn view<'b>(
            audio: &SignalAudio<'b>,
            range: std::ops::Range<usize>,
        ) -> Option<(&'b [f32], &'b [f32])> {
            Some((
                audio.channels[0].get(range.clone())?,
                audio.channels[1].get(range)?,
            ))
        }

        // Master.
        let master_ok = match block
            .master
            .as_ref()
            .and_then(|a| Some((a, view(a, range.clone())?)))
        {
            Some((audio, (l, r))) => {
                let l = sanitised(l, &mut left[..frames], &mut non_finite);
                let r = sanitised(r, &mut right[..frames], &mut non_finite);
                self.master_seen = true;
                self.master_channels = audio.num_channels.clamp(1, 2);
                self.master_left.push(l);
                self.master_right.push(r);
                for ((m, a), b) in mid[..frames].iter_mut().zip(l).zip(r) {
                    *m = 0.5 * (a + b);
                }
                self.master_mid.push(&mid[..frames]);
                self.master_stats.add([l, r], audio.num_channels);
                // Both channels, as the sum's (a mono master is heard on both sides).
                self.master_loudness.add([l, r], 2);
                true
            }
            None => false,
        };
        if !master_ok {
            self.master_left.push_missing(frames);
            self.master_right.push_missing(frames);
            self.master_mid.push_missing(frames);
        }

        // Stems, and their sum.
        sum_left[..frames].fill(0.0);
        sum_right[..frames].fill(0.0);
        let mut all_present = !self.stems.is_empty();
        for (index, stem) in self.stems.iter_mut().enumerate() {
            let audio = block
                .stems
                .get(index)
                .filter(|s| s.id == stem.id)
                .or_else(|| block.stems.iter().find(|s| s.id == stem.id))
                .and_then(|s| s.audio.as_ref());
            match audio.and_then(|a| Some((a, view(a, range.clone())?))) {
                Some((audio, (l, r))) => {
                    // With hundreds of stems this is the analysis's hottest loop: one pass per
                    // piece cleans the samples and does the sum, the levels and the mid (written
                    // straight into the stem's ring).
                    let mut start = 0;
                    while start < frames {
                        let mid = stem
                            .ring
                            .next_slots((frames - start).min(LANES_FOLD_SAMPLES));
                        let end = start + mid.len();
                        let piece = start..end;
                        let (l, r) = (&l[piece.clone()], &r[piece.clone()]);
                        let gathered = gather_stem(
                            [l, r],
                            [&mut sum_left[piece.clone()], &mut sum_right[piece.clone()]],
                            mid,
                        );
                        stem.ring.commit(end - start);
                        non_finite += gathered.non_finite;
                        if gathered.cleaned {
                            // Rare: the level extremes need the cleaned samples too.
                            let mut uncounted = 0;
                            let l = sanitised(l, &mut left[piece.clone()], &mut uncounted);
                            let r = sanitised(r, &mut right[piece], &mut uncounted);
                            stem.stats
                                .add_gathered(&gathered.lanes, [l, r], audio.num_channels);
                        } else {
                            stem.stats
                                .add_gathered(&gathered.lanes, [l, r], audio.num_channels);
                        }
                        start = end;
                    }
                }
                None => {
                    all_present = false;
                    stem.ring.push_missing(frames);
                }
            }
        }
        if all_present {
            self.sum_left.push(&sum_left[..frames]);
            self.sum_right.push(&sum_right[..frames]);
            self.sum_stats
                .add([&sum_left[..frames], &sum_right[..frames]], 2);
            self.sum_loudness
                .add([&sum_left[..frames], &sum_right[..frames]], 2);
        } else {
            self.sum_left.push_missing(frames);
            self.sum_right.push_missing(frames);
        }
        self.non_finite_samples += non_finite;
        self.position += frames as u64;
    }

    /// The lag common to most stems (ties: the one carrying more energy).
    fn common_lag(&self) -> i64 {
        let mut best = (0i64, 0usize, 0.0f64);
        for stem in self.stems.iter().filter(|s| s.locked) {
            let count = self
                .stems
                .iter()
                .filter(|s| s.locked && s.lag == stem.lag)
                .count();
            let energy: f64 = self
                .stems
                .iter()
                .filter(|s| s.locked && s.lag == stem.lag)
                .map(|s| s.stats.channels[0].sum_squares)
                .sum();
            if count > best.1 || (count == best.1 && energy > best.2) {
                best = (stem.lag, count, energy);
            }
        }
        best.0
    }

    fn process_frame(&mut self, start: i64) {
        let n = self.frame_len as i64;
        let hop = self.hop as i64;
        let common_lag = self.common_lag();
        self.time_domain_hop(start, common_lag);

        let master_valid = self.master_seen && self.master_mid.present(start, start + n);
        let stems_valid = !self.stems.is_empty()
            && self
                .stems
                .iter()
                .all(|s| s.ring.present(start - s.lag, start - s.lag + n));
        for stem in &mut self.stems {
            stem.frames_seen += 1;
            if stem.ring.present(start - stem.lag, start - stem.lag + n) {
                stem.present_frames += 1;
            }
        }
        let prune_before = start + hop - self.max_lag as i64 - 1;
        self.master_mid.prune_gaps(prune_before);
        self.master_left.prune_gaps(prune_before);
        self.sum_left.prune_gaps(prune_before - self.max_lag as i64);
        for stem in &mut self.stems {
            stem.ring.prune_gaps(prune_before - self.max_lag as i64);
        }
        if !(master_valid && stems_valid) {
            return;
        }
        // Once the lags are found and the estimates have settled, the spectral analysis takes
        // every other frame: the averages still converge over a song, at half the cost. The
        // time-domain residual and the levels still see every sample; the choice depends on
        // the position only, so block sizes never change a result.
        let settled = self.frames >= SETTLED_FRAMES && self.stems.iter().all(|s| s.locked);
        if settled && (start as u64 / self.hop as u64) % 2 == 1 {
            self.analysed_frames_total += 1;
            return;
        }

        // Spectra.
        let master_mid = &self.master_mid;
        self.fft.forward_with(
            |window, time| master_mid.read_windowed(start, window, time),
            &mut self.master_spectrum,
        );
        self.sum_spectrum.fill(Cf::new(0.0, 0.0));
        self.corrected_spectrum.fill(Cf::new(0.0, 0.0));
        for stem in &mut self.stems {
            let (ring, from) = (&stem.ring, start - stem.lag);
            self.fft.forward_with(
                |window, time| ring.read_windowed(from, window, time),
                &mut stem.spectrum,
            );
            let g = stem.fitted_gain;
            for ((s, c), x) in self
                .sum_spectrum
                .iter_mut()
                .zip(self.corrected_spectrum.iter_mut())
                .zip(&stem.spectrum)
            {
                *s += x;
                *c += x * g;
            }
        }

        // The frame's broadband gain against the sum (each stem at its fitted gain, so that a
        // stem's own defect does not look like bus dynamics), after the bus's static EQ.
        let (mut cross, mut power, mut sum_power) = (0.0f64, 0.0f64, 0.0f64);
        for (band, &gain) in self.bands.iter().zip(&self.band_gain) {
            for i in band.first_bin..band.end_bin.min(self.master_spectrum.len()) {
                let m = self.master_spectrum[i];
                let s = self.corrected_spectrum[i] * gain;
                cross += f64::from(m.re * s.re + m.im * s.im);
                power += f64::from(s.norm_sqr());
                sum_power += f64::from(self.sum_spectrum[i].norm_sqr());
            }
        }
        let frame_gain = if power > 0.0 {
            (cross / power) as f32
        } else {
            1.0
        };
        let window_power: f64 = self.fft.window.iter().map(|w| f64::from(w * w)).sum();
        let level_dbfs = 10.0
            * (2.0 * sum_power / (n as f64 * window_power))
                .max(1e-30)
                .log10();
        if self.frames >= MIN_FRAMES {
            self.dynamics.add(level_dbfs as f32, frame_gain, sum_power);
        }
        let norm = if frame_gain > 0.05 && frame_gain.is_finite() {
            1.0 / frame_gain
        } else {
            1.0
        };

        // Welch accumulators (the analysis band only: nothing outside it is read).
        let (lo, hi) = self.analysis_bins;
        for i in lo..hi {
            let m = self.master_spectrum[i];
            let s = self.sum_spectrum[i];
            let (m, s) = (
                Cd::new(m.re.into(), m.im.into()),
                Cd::new(s.re.into(), s.im.into()),
            );
            self.pmm[i] += m.norm_sqr();
            self.pss[i] += s.norm_sqr();
            self.pms[i] += m * s.conj();
            let mn = m * f64::from(norm);
            self.pmm_norm[i] += mn.norm_sqr();
            self.pms_norm[i] += mn * s.conj();
        }
        // Per stem: products in single precision (one frame's worth), sums in double.
        let (master, sum) = (&self.master_spectrum[lo..hi], &self.sum_spectrum[lo..hi]);
        for stem in &mut self.stems {
            let bins = stem.spectrum[lo..hi]
                .iter()
                .zip(master)
                .zip(sum)
                .zip(stem.pms[lo..hi].iter_mut())
                .zip(stem.pss[lo..hi].iter_mut())
                .zip(stem.pkk[lo..hi].iter_mut());
            let mut energy = 0.0f64;
            for (((((k, m), s), pms), pss), pkk) in bins {
                let mk = m * k.conj();
                let sk = s * k.conj();
                let kk = f64::from(k.norm_sqr());
                *pms += Cd::new(mk.re.into(), mk.im.into());
                *pss += Cd::new(sk.re.into(), sk.im.into());
                *pkk += kk;
                energy += kk;
            }
            stem.energy += energy;
        }
        self.accumulate_pairs();
        self.accumulate_gram();
        self.frames += 1;
        self.analysed_frames_total += 1;
        self.frames_since_update += 1;
        // Lags are checked often until every stem is placed, then now and then; findings are
        // refreshed about twice a second of audio.
        let settled = self.stems.iter().all(|s| s.locked);
        let every = if settled {
            UPDATE_EVERY_FRAMES_SETTLED
        } else {
            UPDATE_EVERY_FRAMES
        };
        if self.frames_since_update >= every {
            self.frames_since_update = 0;
            self.update();
        }
    }

    /// The stems' per-band Gram matrices.
    fn accumulate_gram(&mut self) {
        if self.gram.is_empty() {
            return;
        }
        let k = self.stems.len();
        let per_band = k * (k + 1) / 2;
        for (b, band) in self.bands.iter().enumerate() {
            if band.first_bin < self.analysis_bins.0 || band.end_bin > self.analysis_bins.1 {
                continue;
            }
            let mut index = b * per_band;
            for i in 0..k {
                for j in i..k {
                    let range = band.first_bin..band.end_bin;
                    let (x, y) = (
                        &self.stems[i].spectrum[range.clone()],
                        &self.stems[j].spectrum[range],
                    );
                    let acc: f32 = x
                        .iter()
                        .zip(y)
                        .map(|(a, b)| a.re * b.re + a.im * b.im)
                        .sum();
                    self.gram[index] += f64::from(acc);
                    index += 1;
                }
            }
        }
    }

    /// Low-band energies of every stem and every pair's sum.
    fn accumulate_pairs(&mut self) {
        if self.stems.len() > MAX_PAIR_STEMS {
            return;
        }
        let nb = self.low_bands.len();
        let mut pair = 0;
        for j in 0..self.stems.len() {
            for (b, band) in self.low_bands.iter().enumerate() {
                let e: f32 = self.stems[j].spectrum[band.first_bin..band.end_bin]
                    .iter()
                    .map(|x| x.norm_sqr())
                    .sum();
                self.stem_low_energy[j * nb + b] += f64::from(e);
            }
            for k in (j + 1)..self.stems.len() {
                for (b, band) in self.low_bands.iter().enumerate() {
                    let e: f32 = self.stems[j].spectrum[band.first_bin..band.end_bin]
                        .iter()
                        .zip(&self.stems[k].spectrum[band.first_bin..band.end_bin])
                        .map(|(x, y)| (x + y).norm_sqr())
                        .sum();
                    self.pair_energy[pair * nb + b] += f64::from(e);
                }
                pair += 1;
            }
        }
    }

    /// The null residual in the time domain over one hop, with only the common lag
    /// compensated, and the residual's stereo and envelope character.
    fn time_domain_hop(&mut self, start: i64, common_lag: i64) {
        let hop = self.hop as i64;
        // The residual is measured at the common lag: when that lag changes, so does what
        // is measured, and the pass so far no longer counts.
        if self.time_lag != Some(common_lag) {
            self.time_lag = Some(common_lag);
            self.time = TimeDomain::default();
        }
        let sum_start = start - common_lag;
        if !(self.master_seen
            && self.master_left.present(start, start + hop)
            && self.sum_left.present(sum_start, sum_start + hop))
        {
            return;
        }
        let envelope_block =
            ((ENVELOPE_BLOCK_SECONDS * f64::from(self.sample_rate_hz)) as usize).max(1);
        let decay = (-(hop as f64) / (RECENT_SECONDS * f64::from(self.sample_rate_hz))).exp();
        // Copy the hop out of the rings (two memcpys each), then work on plain slices.
        let n = self.hop;
        let Scratch { td, .. } = &mut self.scratch;
        for (buffer, (ring, from)) in td.iter_mut().zip([
            (&self.master_left, start),
            (&self.master_right, start),
            (&self.sum_left, sum_start),
            (&self.sum_right, sum_start),
        ]) {
            buffer.resize(n, 0.0);
            ring.read(from, &mut buffer[..n]);
        }
        let [ml, mr, sl, sr] = &*td;
        let t = &mut self.time;
        let (mut hop_master, mut hop_residual) = (0.0f64, 0.0f64);
        let mut offset = 0;
        while offset < n {
            // Up to the end of the current envelope block.
            let len = (envelope_block - t.envelope_fill).min(n - offset);
            let range = offset..offset + len;
            let mut sums = [0.0f32; 8];
            for (((&a, &b), &c), &d) in ml[range.clone()]
                .iter()
                .zip(&mr[range.clone()])
                .zip(&sl[range.clone()])
                .zip(&sr[range])
            {
                let (rl, rr) = (a - c, b - d);
                let (rm, mm, sm) = (0.5 * (rl + rr), 0.5 * (a + b), 0.5 * (c + d));
                sums[0] += a * a;
                sums[1] += b * b;
                sums[2] += rl * rl;
                sums[3] += rr * rr;
                sums[4] += rl * rr;
                sums[5] += rm * rm;
                sums[6] += mm * mm;
                sums[7] += sm * sm;
            }
            let sums = sums.map(f64::from);
            t.master_energy[0] += sums[0];
            t.master_energy[1] += sums[1];
            t.residual_energy[0] += sums[2];
            t.residual_energy[1] += sums[3];
            t.residual_lr += sums[4];
            t.residual_mid_energy += sums[5];
            t.master_mid_energy += sums[6];
            hop_master += sums[0] + sums[1];
            hop_residual += sums[2] + sums[3];
            t.envelope_residual += sums[5];
            t.envelope_sum += sums[7];
            t.envelope_fill += len;
            offset += len;
            if t.envelope_fill == envelope_block {
                let (er, es) = (t.envelope_residual.sqrt(), t.envelope_sum.sqrt());
                if t.envelope_count >= TAIL_TO_BLOCKS {
                    let tail: f64 = (TAIL_FROM_BLOCKS..TAIL_TO_BLOCKS)
                        .map(|back| {
                            t.envelope_history[(t.envelope_count - back) % ENVELOPE_HISTORY]
                        })
                        .sum::<f64>()
                        / (TAIL_TO_BLOCKS - TAIL_FROM_BLOCKS) as f64;
                    t.follow_now += er * es;
                    t.follow_tail += er * tail;
                }
                t.envelope_history[t.envelope_count % ENVELOPE_HISTORY] = es;
                t.envelope_count += 1;
                t.envelope_residual = 0.0;
                t.envelope_sum = 0.0;
                t.envelope_fill = 0;
            }
        }
        t.recent_master = t.recent_master * decay + hop_master;
        t.recent_residual = t.recent_residual * decay + hop_residual;
    }

    /// What the master holds of stem `k` once the other stems are taken out: the cross-spectrum
    /// of (master - sum + stem k) with stem k, and the auto-spectrum of (master - sum + stem k).
    /// With the other stems removed, stem k's own timing and polarity stand out sharply even
    /// when it is a small part of the mix.
    fn isolate(&self, k: usize, cross: &mut [Cd], auto: &mut [f64]) {
        let stem = &self.stems[k];
        for i in 0..cross.len() {
            cross[i] = stem.pms[i] - stem.pss[i] + stem.pkk[i];
            auto[i] = (self.pmm[i] + self.pss[i] + stem.pkk[i] - 2.0 * self.pms[i].re
                + 2.0 * stem.pms[i].re
                - 2.0 * stem.pss[i].re)
                .max(0.0);
        }
    }

    /// Lag tracking and the running per-band bus gain; then the findings.
    fn update(&mut self) {
        let bins = self.analysis_bins;
        let mut changed = false;
        let total_energy: f64 = self.stems.iter().map(|s| s.energy).sum();
        let mut cross = std::mem::take(&mut self.isolated_cross);
        let mut auto = std::mem::take(&mut self.isolated_auto);
        cross.resize(self.pmm.len(), Cd::new(0.0, 0.0));
        auto.resize(self.pmm.len(), 0.0);
        // Until every stem is placed, all are checked each time; after, one stem per update
        // in turn (a stem's lag rarely changes mid-song, and the checks cost an IFFT each).
        let count = self.stems.len();
        let settled = self.stems.iter().all(|s| s.locked);
        self.update_count = self.update_count.wrapping_add(1);
        let checked: Vec<usize> = if settled && count > 0 {
            vec![(self.update_count as usize) % count]
        } else {
            (0..count).collect()
        };
        for index in checked {
            let energy = self.stems[index].energy;
            // Stems with almost nothing in them cannot be timed (yet).
            if energy <= 1e-9 * total_energy.max(1e-30) || energy <= 1e-12 {
                continue;
            }
            // Two views of the stem's timing: the master against the stem, and the master with
            // the other stems taken out against the stem. The second is sharp when only this
            // stem is off; the first when another stem's defect pollutes the second. Take the
            // clearer one.
            let Scratch { gcc, corr, .. } = &mut self.scratch;
            // Once a stem is placed, the isolated view alone keeps watch.
            let direct = if self.stems[index].locked {
                None
            } else {
                gcc_peak(
                    &mut self.fft,
                    &self.stems[index].pms,
                    &self.pmm,
                    &self.stems[index].pkk,
                    bins,
                    self.max_lag,
                    (gcc, corr),
                )
            };
            self.isolate(index, &mut cross, &mut auto);
            let Scratch { gcc, corr, .. } = &mut self.scratch;
            let isolated = gcc_peak(
                &mut self.fft,
                &cross,
                &auto,
                &self.stems[index].pkk,
                bins,
                self.max_lag,
                (gcc, corr),
            );
            let peak = match (direct, isolated) {
                (Some(d), Some(i)) => {
                    if i.peak_to_rms >= d.peak_to_rms {
                        i
                    } else {
                        d
                    }
                }
                (Some(p), None) | (None, Some(p)) => p,
                (None, None) => continue,
            };
            if peak.peak_to_rms < MIN_PEAK_TO_RMS {
                continue;
            }
            let explains_more = {
                let at = |lag| plain_correlation(&cross, bins, self.frame_len, lag).abs();
                at(peak.lag_samples) > at(0)
            };
            // The fraction of a sample left, from the same isolated cross-spectrum.
            let fraction = fractional_delay(
                &cross,
                &auto,
                &self.stems[index].pkk,
                bins,
                self.frame_len,
                self.stems[index].inverted,
            );
            let stem = &mut self.stems[index];
            stem.fraction = fraction;
            if peak.lag_samples == 0 || peak.zero_over_peak > MAX_ZERO_OVER_PEAK || !explains_more {
                stem.locked = true;
                stem.inverted = if peak.lag_samples == 0 {
                    peak.inverted
                } else {
                    stem.inverted
                };
                stem.pending_lag = None;
                continue;
            }
            // A new lag is taken at once if unmistakable, else when seen twice in a row.
            let confirmed = peak.peak_to_rms >= STRONG_PEAK_TO_RMS
                || stem.pending_lag == Some(peak.lag_samples);
            if confirmed {
                stem.lag = (stem.lag + peak.lag_samples)
                    .clamp(-(self.max_lag as i64), self.max_lag as i64);
                stem.locked = false;
                stem.pending_lag = None;
                changed = true;
            } else {
                stem.pending_lag = Some(peak.lag_samples);
            }
        }
        self.isolated_cross = cross;
        self.isolated_auto = auto;
        if changed {
            self.restart_accumulators();
            return;
        }
        self.residual_ir_spread = self.residual_impulse_spread();
        self.refresh_findings();
        // The bus's EQ and the stems' own gains, as fitted, correct the per-frame gain from
        // here on.
        let m = &self.last_measurements;
        if m.cross_ready {
            for (gain, &db) in self.band_gain.iter_mut().zip(&m.bus_band_gain_db) {
                *gain = 10f32.powf(db / 20.0);
            }
            for stem in &mut self.stems {
                if let Some(fit) = m.stems.iter().find(|s| s.id == stem.id) {
                    let g = 10f32.powf(fit.gain_db / 20.0);
                    stem.fitted_gain = if fit.inverted { -g } else { g };
                }
            }
        }
    }

    /// How spread out in time the residual's impulse response is: the share of the energy of
    /// `IFFT((Pms - Pss) / Pss)` (what turns the sum into master minus sum) further than
    /// [`SHORT_RESPONSE_SECONDS`] from 0. EQ and gain respond within a few milliseconds; a
    /// reverb or delay return spreads over the whole frame.
    fn residual_impulse_spread(&mut self) -> f32 {
        let (lo, hi) = self.analysis_bins;
        let mean_pss = self.pss[lo..hi].iter().sum::<f64>() / (hi - lo).max(1) as f64;
        let Scratch { gcc, corr, .. } = &mut self.scratch;
        for (i, g) in gcc.iter_mut().enumerate() {
            *g = if i >= lo && i < hi {
                let r = (self.pms[i] - self.pss[i]) / (self.pss[i] + 1e-3 * mean_pss);
                Cf::new(r.re as f32, r.im as f32)
            } else {
                Cf::new(0.0, 0.0)
            };
        }
        self.fft.inverse(gcc, corr);
        let n = corr.len();
        let short = ((SHORT_RESPONSE_SECONDS * self.sample_rate_hz) as usize).min(n / 2);
        let (mut near, mut total) = (0.0f64, 0.0f64);
        for (t, &v) in corr.iter().enumerate() {
            let e = f64::from(v) * f64::from(v);
            total += e;
            if t <= short || t >= n - short {
                near += e;
            }
        }
        if total > 0.0 {
            (1.0 - near / total) as f32
        } else {
            0.0
        }
    }

    fn refresh_findings(&mut self) {
        let measurements = self.measurements();
        self.findings = self.diagnosis.update(&measurements, &self.config);
        self.last_measurements = measurements;
    }

    /// The measurements as of the last findings update (cheap: no recomputation).
    pub fn last_measurements(&self) -> &Measurements {
        &self.last_measurements
    }

    /// Call at the end of a pass: runs a last update so that short passes get findings.
    pub fn finish(&mut self) {
        if self.frames_since_update > 0 {
            self.frames_since_update = 0;
            self.update();
        } else {
            self.refresh_findings();
        }
    }

    /// The findings, most important first (updated every few frames).
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// The overall verdict.
    pub fn verdict(&self) -> Verdict {
        if self.analysed_frames_total < MIN_FRAMES && self.findings.is_empty() {
            Verdict::Pending
        } else {
            Verdict::of(&self.findings)
        }
    }

    /// Samples that were NaN or infinite (replaced by silence).
    pub fn non_finite_samples(&self) -> u64 {
        self.non_finite_samples
    }

    /// Everything measured so far.
    pub fn measurements(&self) -> Measurements {
        let sr = f64::from(self.sample_rate_hz);
        let common_lag = self.common_lag();
        let t = &self.time;
        let rel = |num: f64, den: f64| {
            if den > 0.0 {
                db((num / den).sqrt())
            } else {
                -200.0
            }
        };
        let total_master: f64 = t.master_energy.iter().sum();
        let total_residual: f64 = t.residual_energy.iter().sum();
        let sum_pmm: f64 = self.pmm[self.analysis_bins.0..self.analysis_bins.1]
            .iter()
            .sum();

        let mut m = Measurements {
            sample_rate_hz: self.sample_rate_hz,
            seconds_received: self.position as f64 / sr,
            seconds_analysed: self.analysed_frames_total as f64 * self.hop as f64 / sr,
            has_master: self.master_seen,
            num_stems: self.stems.len(),
            null_residual_db: rel(total_residual, total_master),
            null_residual_recent_db: rel(t.recent_residual, t.recent_master),
            null_residual_channels_db: [
                rel(t.residual_energy[0], t.master_energy[0]),
                rel(t.residual_energy[1], t.master_energy[1]),
            ],
            common_lag_samples: common_lag,
            residual_lr_correlation: {
                let d = (t.residual_energy[0] * t.residual_energy[1]).sqrt();
                if d > 0.0 && self.master_channels == 2 {
                    (t.residual_lr / d) as f32
                } else {
                    1.0
                }
            },
            residual_ir_spread: self.residual_ir_spread,
            residual_tail_follow: if t.follow_now > 0.0 {
                (t.follow_tail / t.follow_now) as f32
            } else {
                0.0
            },
            master_levels: self.master_seen.then(|| self.master_stats.summary()),
            sum_levels: (self.sum_stats.samples() > 0).then(|| self.sum_stats.summary()),
            master_lufs: self
                .master_loudness
                .integrated_lufs()
                .filter(|_| self.master_seen),
            sum_lufs: self.sum_loudness.integrated_lufs(),
            ..Measurements::default()
        };
        if self.frames < MIN_FRAMES || sum_pmm <= 0.0 {
            m.stems = self
                .stems
                .iter()
                .map(|s| self.basic_stem(s, common_lag))
                .collect();
            return m;
        }
        m.cross_ready = true;

        // Per band, master-bus gain and what the stems do in it.
        let fit = self.fit_gains();
        let bus_gain_db = fit.bus_gain_db;
        let bus_gain = 10f64.powf(f64::from(bus_gain_db) / 20.0);
        // Each bin's bus gain: its band's, or the broadband gain outside every band.
        let mut betas = vec![bus_gain; self.pmm.len()];
        for (band, &g) in self.bands.iter().zip(&fit.band_db) {
            let end = band.end_bin.min(betas.len());
            let start = band.first_bin.min(end);
            betas[start..end].fill(10f64.powf(f64::from(g) / 20.0));
        }
        let (lo, hi) = self.analysis_bins;

        // EQ: the largest band deviation, and the residual it explains.
        let mut eq = (0.0f32, (0.0f32, 0.0f32));
        for (band, (&g, &w)) in self
            .bands
            .iter()
            .zip(fit.band_db.iter().zip(&fit.band_weight))
        {
            if w > 0.0 && (g - bus_gain_db).abs() > eq.0.abs() {
                eq = (g - bus_gain_db, (band.low_hz, band.high_hz));
            }
        }
        let eq_energy: f64 = (lo..hi)
            .map(|i| (betas[i] - bus_gain).powi(2) * self.pss[i])
            .sum();
        let gain_energy: f64 = (lo..hi)
            .map(|i| (bus_gain - 1.0).powi(2) * self.pss[i])
            .sum();
        m.bus_gain_db = bus_gain_db;
        m.bus_band_gain_db = fit.band_db.clone();
        m.bus_eq_max_db = eq.0;
        m.bus_eq_band_hz = eq.1;
        m.bus_eq_explains_db = rel(eq_energy, sum_pmm);
        m.bus_gain_explains_db = rel(gain_energy, sum_pmm);

        // Dynamics.
        let dynamics = self.dynamics.estimate();
        m.dynamics = Some(dynamics);
        m.dynamics_explains_db = rel(self.dynamics.deviation_energy, self.dynamics.total_energy);

        // What no stem explains (per bin linear fit, frame gains normalised).
        let mut unexplained = vec![0.0f64; self.pmm.len()];
        for i in lo..hi {
            if self.pss[i] > 0.0 {
                unexplained[i] =
                    (self.pmm_norm[i] - self.pms_norm[i].norm_sqr() / self.pss[i]).max(0.0);
            } else {
                unexplained[i] = self.pmm_norm[i];
            }
        }
        // Per band, keep what neither model explains: the per-bin linear fit (which absorbs
        // EQ and, normalised, dynamics) nor the joint per-stem fit (which absorbs each stem's
        // gain and polarity).
        for (b, band) in self.bands.iter().enumerate() {
            let explained = fit.band_explained[b];
            if !explained.is_finite() {
                continue;
            }
            let r = band.first_bin..band.end_bin.min(unexplained.len());
            let per_bin: f64 = unexplained[r.clone()].iter().sum();
            let pmm: f64 = self.pmm[r.clone()].iter().sum();
            let joint = (pmm - explained).max(0.0);
            if joint < per_bin && per_bin > 0.0 {
                let scale = joint / per_bin;
                unexplained[r].iter_mut().for_each(|u| *u *= scale);
            }
        }
        let sum_pmm_norm: f64 = self.pmm_norm[lo..hi].iter().sum();
        let total_unexplained: f64 = unexplained.iter().sum();
        m.unexplained_db = rel(total_unexplained, sum_pmm_norm);
        let spectral_residual: f64 = (lo..hi)
            .map(|i| (self.pmm[i] + self.pss[i] - 2.0 * self.pms[i].re).max(0.0))
            .sum();
        m.residual_spectral_db = rel(spectral_residual, sum_pmm);
        let mut running = 0.0;
        for band in &self.bands {
            running += unexplained[band.first_bin..band.end_bin.min(unexplained.len())]
                .iter()
                .sum::<f64>();
            if running >= total_unexplained / 2.0 {
                m.unexplained_band_hz = (band.low_hz, band.high_hz);
                break;
            }
        }

        // Bands for the spectrum view.
        let window_power: f64 = self.fft.window.iter().map(|w| f64::from(w * w)).sum();
        let scale = 2.0 / (self.frame_len as f64 * window_power * self.frames as f64);
        m.bands = self
            .bands
            .iter()
            .map(|band| {
                let r = band.first_bin..band.end_bin.min(self.pmm.len());
                let pmm: f64 = self.pmm[r.clone()].iter().sum();
                let pss: f64 = self.pss[r.clone()].iter().sum();
                let pms: Cd = self.pms[r.clone()].iter().sum();
                let prr = (pmm + pss - 2.0 * pms.re).max(0.0);
                let coherence: f64 = if pmm > 0.0 && pss > 0.0 {
                    self.pms[r.clone()]
                        .iter()
                        .map(|c| c.norm_sqr())
                        .sum::<f64>()
                        / self.pss[r.clone()]
                            .iter()
                            .zip(&self.pmm[r.clone()])
                            .map(|(s, m)| s * m)
                            .sum::<f64>()
                            .max(1e-300)
                } else {
                    0.0
                };
                let unexp: f64 = unexplained[r.clone()].iter().sum();
                let to_db = |p: f64| db((p * scale).sqrt());
                BandMeasurement {
                    centre_hz: band.centre_hz,
                    master_db: to_db(pmm),
                    sum_db: to_db(pss),
                    residual_db: to_db(prr),
                    transfer_db: if pss > 0.0 { db(pms.norm() / pss) } else { 0.0 },
                    coherence: coherence.clamp(0.0, 1.0) as f32,
                    unexplained_db: rel(unexp, pmm),
                }
            })
            .collect();

        // Stems: offsets, gains, polarity.
        let fractions: Vec<Option<f64>> = self
            .stems
            .iter()
            .map(|s| s.locked.then_some(s.fraction).flatten())
            .collect();
        let common_fraction = weighted_median(
            &self
                .stems
                .iter()
                .zip(&fractions)
                .filter_map(|(s, f)| f.map(|f| (f, s.energy)))
                .collect::<Vec<_>>(),
        )
        .unwrap_or(0.0);
        m.stems = self
            .stems
            .iter()
            .enumerate()
            .map(|(k, stem)| {
                let mut out = self.basic_stem(stem, common_lag);
                let fraction = fractions[k].unwrap_or(0.0);
                let offset = (stem.lag - common_lag) as f64 + fraction - common_fraction;
                out.offset_samples = offset;
                let delta = fractions[k].unwrap_or(0.0);
                // Others at the bus's gain; this stem's own gain is what is left. One pass over
                // the stem's spectra (with hundreds of stems they come from memory, not cache):
                // the least-squares gain at the stem's fractional delay, its energy in the
                // master, and what its offset costs.
                let bin_omega = 2.0 * std::f64::consts::PI / self.frame_len as f64;
                let (mut rot, step) = rotation(bin_omega * delta, lo);
                let (mut off_rot, off_step) = rotation(bin_omega * offset, lo);
                let (mut num, mut den, mut stem_energy, mut offset_energy) =
                    (0.0f64, 0.0f64, 0.0f64, 0.0f64);
                for (((pms, pss), &pkk), &beta) in stem.pms[lo..hi]
                    .iter()
                    .zip(&stem.pss[lo..hi])
                    .zip(&stem.pkk[lo..hi])
                    .zip(&betas[lo..hi])
                {
                    let weighted = beta * beta * pkk;
                    num += pms.re * rot.re - pms.im * rot.im - (pss.re - pkk) * beta;
                    den += beta * pkk;
                    stem_energy += weighted;
                    offset_energy += (1.0 - off_rot.re) * weighted;
                    rot *= step;
                    off_rot *= off_step;
                }
                let offset_energy = 2.0 * offset_energy;
                let mut gain = if den > 0.0 { num / den } else { 1.0 };
                // With the joint per-band fit, its stem effect is the better estimate.
                if !self.gram.is_empty() && fit.stem_fitted[k] {
                    gain = 10f64.powf(f64::from(fit.stem_db[k]) / 20.0);
                    if fit.stem_inverted[k] {
                        gain = -gain;
                    }
                }
                out.gain_db = db(gain.abs());
                out.inverted = gain < 0.0;
                out.energy_share_db = rel(stem_energy, sum_pmm);
                out.gain_explains_db = rel((gain - 1.0).powi(2) * stem_energy, sum_pmm);
                out.offset_explains_db = rel(offset_energy, sum_pmm);
                out
            })
            .collect();

        // Low-band cancellations between stems.
        let nb = self.low_bands.len();
        let band_totals: Vec<f64> = (0..nb)
            .map(|b| {
                (0..self.stems.len())
                    .map(|s| self.stem_low_energy[s * nb + b])
                    .sum()
            })
            .collect();
        let strongest_band = band_totals.iter().copied().fold(0.0, f64::max);
        let min_pair_energy =
            strongest_band * 10f64.powf(f64::from(CANCELLATION_MIN_BAND_DB) / 10.0);
        let mut pair = 0;
        for j in 0..self.stems.len() {
            for k in (j + 1)..self.stems.len() {
                let mut worst: Option<(f32, usize)> = None;
                for b in 0..nb {
                    let ej = self.stem_low_energy[j * nb + b];
                    let ek = self.stem_low_energy[k * nb + b];
                    let ejk = self.pair_energy[pair * nb + b];
                    // Both must matter in the band: within 10 dB of each other.
                    if ej <= 0.0 || ek <= 0.0 || ej.min(ek) < 0.1 * ej.max(ek) {
                        continue;
                    }
                    // The pair must carry the band, and the band must matter.
                    if ej + ek < 0.2 * band_totals[b] || ej + ek < min_pair_energy {
                        continue;
                    }
                    let loss = (10.0 * (ejk / (ej + ek)).max(1e-12).log10()) as f32;
                    // Window leakage spreads one cancellation over neighbouring bands with the
                    // same loss: name the band where the pair has the most energy.
                    let better = match worst {
                        None => true,
                        Some((w, wb)) => {
                            loss < w - 1.0
                                || ((loss - w).abs() <= 1.0
                                    && ej + ek
                                        > self.stem_low_energy[j * nb + wb]
                                            + self.stem_low_energy[k * nb + wb])
                        }
                    };
                    if better {
                        worst = Some((loss, b));
                    }
                }
                if let Some((loss, b)) = worst {
                    m.cancellations.push(Cancellation {
                        stems: [self.stems[j].name.clone(), self.stems[k].name.clone()],
                        band_hz: (self.low_bands[b].low_hz, self.low_bands[b].high_hz),
                        loss_db: loss,
                    });
                }
                pair += 1;
            }
        }
        m
    }

    fn basic_stem(&self, stem: &Stem, common_lag: i64) -> StemMeasurements {
        StemMeasurements {
            id: stem.id,
            name: stem.name.clone(),
            levels: stem.stats.summary(),
            lag_locked: stem.locked,
            offset_samples: (stem.lag - common_lag) as f64,
            gain_db: 0.0,
            inverted: stem.inverted,
            energy_share_db: -200.0,
            gain_explains_db: -200.0,
            offset_explains_db: -200.0,
            present_fraction: if stem.frames_seen > 0 {
                stem.present_frames as f32 / stem.frames_seen as f32
            } else {
                0.0
            },
        }
    }

    /// Two-way fit of the master's gain per stem and per band: log gain(stem, band) = stem
    /// effect + band effect, weighted by the stem's share of the band. The band effects are the
    /// bus's EQ; the stem effects (centred on their weighted median) the stems' own gains.
    fn fit_gains(&self) -> GainFit {
        let k_count = self.stems.len();
        let b_count = self.bands.len();
        let mut eqs: Vec<(usize, usize, f64, f64)> = Vec::new();
        let mut band_weight = vec![0.0f64; b_count];
        let mut sign_weight = vec![0.0f64; k_count];
        let mut band_explained = vec![f64::NAN; b_count];
        for (b, band) in self.bands.iter().enumerate() {
            let r = band.first_bin..band.end_bin.min(self.pmm.len());
            if r.start < self.analysis_bins.0 || r.end > self.analysis_bins.1 {
                continue;
            }
            let band_energy: f64 = self
                .stems
                .iter()
                .map(|s| s.pkk[r.clone()].iter().sum::<f64>())
                .sum();
            if band_energy <= 0.0 {
                continue;
            }
            // Per-stem gains in this band: jointly from the Gram matrix when there is one,
            // else each stem's ratio of master-to-stem over sum-to-stem correlation.
            // Every stem with any energy takes part in the band's joint fit (leaving one out
            // would push its share of the master onto the others); only stems that matter in
            // the band speak for the stem and band effects below.
            let active: Vec<usize> = (0..k_count)
                .filter(|&k| {
                    let e = self.stems[k].pkk[r.clone()].iter().sum::<f64>();
                    if self.gram.is_empty() {
                        e >= 1e-3 * band_energy
                    } else {
                        e >= 1e-9 * band_energy
                    }
                })
                .collect();
            let gains: Vec<Option<f64>> = if self.gram.is_empty() {
                active
                    .iter()
                    .map(|&k| {
                        let stem = &self.stems[k];
                        let num: f64 = stem.pms[r.clone()].iter().map(|c| c.re).sum();
                        let den: f64 = stem.pss[r.clone()].iter().map(|c| c.re).sum();
                        (den > 0.0 && num != 0.0).then(|| num / den)
                    })
                    .collect()
            } else {
                let per_band = k_count * (k_count + 1) / 2;
                let tri = |i: usize, j: usize| {
                    let (i, j) = if i <= j { (i, j) } else { (j, i) };
                    // Index of (i, j) in the row-major upper triangle.
                    b * per_band + i * k_count - i * (i + 1) / 2 + j
                };
                let n = active.len();
                let mut g = vec![0.0f64; n * n];
                let mut c = vec![0.0f64; n];
                for (x, &i) in active.iter().enumerate() {
                    for (y, &j) in active.iter().enumerate() {
                        g[x * n + y] = self.gram[tri(i, j)];
                    }
                    c[x] = self.stems[i].pms[r.clone()].iter().map(|v| v.re).sum();
                }
                let trace: f64 = (0..n).map(|x| g[x * n + x]).sum();
                for x in 0..n {
                    g[x * n + x] += 1e-9 * trace;
                }
                let rhs = c.clone();
                match solve(&mut g, &mut c, n) {
                    Some(x) => {
                        // Master energy in the band that the stems (at their fitted gains)
                        // explain: gains . correlations.
                        band_explained[b] = x.iter().zip(&rhs).map(|(g, c)| g * c).sum::<f64>();
                        x.into_iter().map(Some).collect()
                    }
                    None => vec![None; n],
                }
            };
            for (&k, gain) in active.iter().zip(gains) {
                let Some(gain) = gain.filter(|g| g.is_finite() && *g != 0.0) else {
                    continue;
                };
                let share = self.stems[k].pkk[r.clone()].iter().sum::<f64>() / band_energy;
                if share < 1e-3 {
                    continue;
                }
                eqs.push((k, b, 20.0 * gain.abs().log10(), share));
                sign_weight[k] += share * gain.signum();
                band_weight[b] += share;
            }
        }
        let n = k_count + b_count;
        let mut a = vec![0.0f64; n * n];
        let mut rhs = vec![0.0f64; n];
        for &(k, b, y, w) in &eqs {
            let (i, j) = (k, k_count + b);
            a[i * n + i] += w;
            a[j * n + j] += w;
            a[i * n + j] += w;
            a[j * n + i] += w;
            rhs[i] += w * y;
            rhs[j] += w * y;
        }
        // A faint pull of every unknown towards 0 makes the system well posed (the split
        // between stem and band effects is fixed by the median below).
        for i in 0..n {
            a[i * n + i] += 1e-6;
        }
        let x = solve(&mut a, &mut rhs, n).unwrap_or_else(|| vec![0.0; n]);
        let mut stem_db: Vec<f64> = x[..k_count].to_vec();
        let mut band_db: Vec<f64> = x[k_count..].to_vec();
        let stem_weights: Vec<(f64, f64)> = (0..k_count)
            .map(|k| {
                let w: f64 = eqs.iter().filter(|e| e.0 == k).map(|e| e.3).sum();
                (stem_db[k], w)
            })
            .filter(|(_, w)| *w > 0.0)
            .collect();
        if let Some(median) = weighted_median(&stem_weights) {
            for s in &mut stem_db {
                *s -= median;
            }
            for (b, g) in band_db.iter_mut().enumerate() {
                if band_weight[b] > 0.0 {
                    *g += median;
                }
            }
        }
        // Broadband bus gain: bands weighted by the sum's energy in them.
        let (mut num, mut den) = (0.0, 0.0);
        let mut band_energy = vec![0.0f64; b_count];
        for (b, band) in self.bands.iter().enumerate() {
            if band_weight[b] <= 0.0 {
                continue;
            }
            let e: f64 = self.pss[band.first_bin..band.end_bin.min(self.pss.len())]
                .iter()
                .sum();
            band_energy[b] = e;
            num += e * band_db[b];
            den += e;
        }
        let bus_gain_db = if den > 0.0 { num / den } else { 0.0 };
        let total_energy: f64 = band_energy.iter().sum();
        GainFit {
            stem_db: stem_db.iter().map(|&g| g as f32).collect(),
            stem_inverted: sign_weight.iter().map(|&w| w < 0.0).collect(),
            stem_fitted: (0..k_count).map(|k| eqs.iter().any(|e| e.0 == k)).collect(),
            band_explained,
            bus_gain_db: bus_gain_db as f32,
            band_db: band_db
                .iter()
                .enumerate()
                .map(|(b, &g)| {
                    if band_weight[b] > 0.0 {
                        g as f32
                    } else {
                        bus_gain_db as f32
                    }
                })
                .collect(),
            // A band speaks for the EQ only if it holds real energy (-40 dB of the total).
            band_weight: band_energy
                .iter()
                .map(|&e| if e > 1e-4 * total_energy { e } else { 0.0 })
                .collect(),
        }
    }
}

struct GainFit {
    /// Each stem's gain in the master against its stem file, in dB (centred on the median).
    stem_db: Vec<f32>,
    stem_inverted: Vec<bool>,
    stem_fitted: Vec<bool>,
    /// Per band, master energy the joint fit explains (NaN without a joint fit).
    band_explained: Vec<f64>,
    bus_gain_db: f32,
    band_db: Vec<f32>,
    band_weight: Vec<f64>,
}

/// Samples beyond this magnitude (+80 dBFS) are garbage, not audio: clamped so that no
/// accumulator can overflow.
const MAX_SAMPLE_MAGNITUDE: f32 = 1e4;

/// NaN and infinity become silence (counted); subnormals become zero; absurd magnitudes are
/// clamped.
#[inline]
fn clean(x: f32, non_finite: &mut u64) -> f32 {
    if x.is_finite() {
        if x.abs() < f32::MIN_POSITIVE {
            0.0
        } else {
            x.clamp(-MAX_SAMPLE_MAGNITUDE, MAX_SAMPLE_MAGNITUDE)
        }
    } else {
        *non_finite += 1;
        0.0
    }
}

/// What [`gather_stem`] learnt of a piece.
struct Gathered {
    lanes: [Lanes; 2],
    /// NaN and infinite samples met (made silent).
    non_finite: u64,
    /// Whether cleaning may have changed more than subnormals (which cannot matter to peaks).
    cleaned: bool,
}

/// A piece of a stem: adds it into the stems' sum, writes the stem's mid (the mean of its
/// channels) and gathers its level moments per channel, each sample cleaned like [`clean`].
/// All slices have the same length.
///
/// Audio almost never needs cleaning, so a first pass measures without cleaning and checks
/// that nothing needed it (then adding into the sum is a plain vector add); only a piece that
/// did goes through [`gather_stem_cleaning`]. Both give the same bits on clean audio.
#[inline]
fn gather_stem(stem: [&[f32]; 2], sum: [&mut [f32]; 2], mid: &mut [f32]) -> Gathered {
    let Some(lanes) = gather_clean_stem(stem, mid) else {
        return gather_stem_cleaning(stem, sum, mid);
    };
    for (total, channel) in sum.into_iter().zip(stem) {
        for (t, &x) in total.iter_mut().zip(channel) {
            *t += x;
        }
    }
    Gathered {
        lanes,
        non_finite: 0,
        cleaned: false,
    }
}

/// The moments and the mid of a piece that needs no cleaning, or `None` (mid then partly
/// written) if any sample does: NaN, infinite, subnormal, or at [`MAX_SAMPLE_MAGNITUDE`] or
/// beyond. Each lane accumulates exactly as in [`gather_stem_cleaning`].
#[inline]
fn gather_clean_stem(stem: [&[f32]; 2], mid: &mut [f32]) -> Option<[Lanes; 2]> {
    let smallest = f32x4::splat(f32::MIN_POSITIVE);
    let (zero, half) = (f32x4::ZERO, f32x4::HALF);
    let mut peak = [zero; 2];
    let mut total = [zero; 2];
    let mut squares = [zero; 2];
    // Lanes that met a subnormal. NaN and infinity show in the squares, loud samples in the
    // peak: both are checked once at the end.
    let mut subnormal = f32x4::ZERO.simd_ne(zero);

    let [l, r] = stem;
    let (l4, l_rest) = l.as_chunks::<LANES>();
    let (r4, r_rest) = r.as_chunks::<LANES>();
    let (m4, m_rest) = mid.as_chunks_mut::<LANES>();
    for ((a, b), m) in l4.iter().zip(r4).zip(m4) {
        let (a, b) = (f32x4::from(*a), f32x4::from(*b));
        *m = ((a + b) * half).to_array();
        for (c, x) in [a, b].into_iter().enumerate() {
            let magnitude = x.abs();
            subnormal |= magnitude.simd_lt(smallest) & magnitude.simd_gt(zero);
            peak[c] = peak[c].fast_max(magnitude);
            total[c] += x;
            squares[c] += x * x;
        }
    }
    if subnormal.any() {
        return None;
    }
    let mut lanes = [0, 1].map(|c| Lanes {
        peak: peak[c].to_array(),
        sum: total[c].to_array(),
        squares: squares[c].to_array(),
    });
    for ((&a, &b), m) in l_rest.iter().zip(r_rest).zip(m_rest) {
        if !(is_clean(a) && is_clean(b)) {
            return None;
        }
        *m = 0.5 * (a + b);
        lanes[0].add_one(a);
        lanes[1].add_one(b);
    }
    let clean = lanes.iter().all(|l| {
        l.squares.iter().all(|s| s.is_finite()) && l.peak.iter().all(|&p| p < MAX_SAMPLE_MAGNITUDE)
    });
    clean.then_some(lanes)
}

/// Whether [`clean`] leaves `x` as it is and counts nothing.
#[inline]
fn is_clean(x: f32) -> bool {
    x == 0.0 || (x.abs() >= f32::MIN_POSITIVE && x.abs() < MAX_SAMPLE_MAGNITUDE)
}

/// [`gather_stem`] for a piece with samples to clean: one pass cleans each sample like
/// [`clean`], adds it into the sum, writes the mid and gathers the moments.
#[inline]
fn gather_stem_cleaning(stem: [&[f32]; 2], sum: [&mut [f32]; 2], mid: &mut [f32]) -> Gathered {
    let limit = f32x4::splat(MAX_SAMPLE_MAGNITUDE);
    let smallest = f32x4::splat(f32::MIN_POSITIVE);
    let (zero, one, half) = (f32x4::ZERO, f32x4::ONE, f32x4::HALF);
    // [`clean`] as masks; non-finite samples counted per lane (exact in f32 up to 2^24).
    let clean4 = |x: f32x4, non_finite: &mut f32x4| {
        let finite = x.is_finite();
        *non_finite += (!finite).select(one, zero);
        let normal = finite & x.abs().simd_ge(smallest);
        normal.select(x.fast_clamp(-limit, limit), zero)
    };
    let mut peak = [zero; 2];
    let mut total = [zero; 2];
    let mut squares = [zero; 2];
    let mut non_finite = zero;

    let [l, r] = stem;
    let [sum_l, sum_r] = sum;
    let (l4, l_rest) = l.as_chunks::<LANES>();
    let (r4, r_rest) = r.as_chunks::<LANES>();
    let (sl4, sl_rest) = sum_l.as_chunks_mut::<LANES>();
    let (sr4, sr_rest) = sum_r.as_chunks_mut::<LANES>();
    let (m4, m_rest) = mid.as_chunks_mut::<LANES>();
    for ((((a, b), sl), sr), m) in l4.iter().zip(r4).zip(sl4).zip(sr4).zip(m4) {
        let a = clean4(f32x4::from(*a), &mut non_finite);
        let b = clean4(f32x4::from(*b), &mut non_finite);
        *sl = (f32x4::from(*sl) + a).to_array();
        *sr = (f32x4::from(*sr) + b).to_array();
        *m = ((a + b) * half).to_array();
        for (c, x) in [a, b].into_iter().enumerate() {
            peak[c] = peak[c].fast_max(x.abs());
            total[c] += x;
            squares[c] += x * x;
        }
    }
    let mut lanes = [0, 1].map(|c| Lanes {
        peak: peak[c].to_array(),
        sum: total[c].to_array(),
        squares: squares[c].to_array(),
    });
    let mut non_finite = non_finite.reduce_add() as u64;
    for ((((&a, &b), sl), sr), m) in l_rest
        .iter()
        .zip(r_rest)
        .zip(sl_rest)
        .zip(sr_rest)
        .zip(m_rest)
    {
        let a = clean(a, &mut non_finite);
        let b = clean(b, &mut non_finite);
        *sl += a;
        *sr += b;
        *m = 0.5 * (a + b);
        lanes[0].add_one(a);
        lanes[1].add_one(b);
    }
    let clamped = lanes
        .iter()
        .any(|l| l.peak.iter().any(|&p| p >= MAX_SAMPLE_MAGNITUDE));
    Gathered {
        lanes,
        non_finite,
        cleaned: non_finite > 0 || clamped,
    }
}

/// `from` itself when it is clean audio (the normal case: one vectorisable check, no copy),
/// else a copy in `scratch` sanitised like [`clean`].
fn sanitised<'a>(from: &'a [f32], scratch: &'a mut [f32], non_finite: &mut u64) -> &'a [f32] {
    let suspicious = from.iter().fold(false, |bad, &x| {
        let a = x.abs();
        // NaN is neither finite nor small; subnormals are below MIN_POSITIVE but not zero.
        bad | !a.is_finite() | (a > MAX_SAMPLE_MAGNITUDE) | (a < f32::MIN_POSITIVE && a != 0.0)
    });
    if !suspicious {
        return from;
    }
    for (o, &x) in scratch.iter_mut().zip(from) {
        *o = clean(x, non_finite);
    }
    &scratch[..from.len().min(scratch.len())]
}

/// The phase rotation `e^(i * omega * first)` of a first bin and the step `e^(i * omega)` to
/// the next.
fn rotation(omega: f64, first: usize) -> (Cd, Cd) {
    (
        Cd::from_polar(1.0, omega * first as f64),
        Cd::from_polar(1.0, omega),
    )
}

/// The weighted median of `(value, weight)` pairs.
fn weighted_median(values: &[(f64, f64)]) -> Option<f64> {
    let mut v: Vec<(f64, f64)> = values
        .iter()
        .copied()
        .filter(|(x, w)| x.is_finite() && *w > 0.0)
        .collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = v.iter().map(|x| x.1).sum();
    let mut seen = 0.0;
    for (i, &(x, w)) in v.iter().enumerate() {
        seen += w;
        if seen >= total / 2.0 {
            // Exactly half: average with the next value.
            if (seen - total / 2.0).abs() < 1e-12 * total && i + 1 < v.len() {
                return Some(0.5 * (x + v[i + 1].0));
            }
            return Some(x);
        }
    }
    v.last().map(|x| x.0)
}

/// Solves `a x = rhs` (dense, `n` by `n`) by Gaussian elimination with partial pivoting.
fn solve(a: &mut [f64], rhs: &mut [f64], n: usize) -> Option<Vec<f64>> {
    for col in 0..n {
        let pivot =
            (col..n).max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))?;
        if a[pivot * n + col].abs() < 1e-300 {
            return None;
        }
        if pivot != col {
            for k in 0..n {
                a.swap(col * n + k, pivot * n + k);
            }
            rhs.swap(col, pivot);
        }
        for row in (col + 1)..n {
            let f = a[row * n + col] / a[col * n + col];
            if f == 0.0 {
                continue;
            }
            for k in col..n {
                a[row * n + k] -= f * a[col * n + k];
            }
            rhs[row] -= f * rhs[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = ((row + 1)..n).map(|k| a[row * n + k] * x[k]).sum();
        x[row] = (rhs[row] - s) / a[row * n + row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_median_picks_the_middle_by_weight() {
        assert_eq!(
            weighted_median(&[(1.0, 1.0), (5.0, 1.0), (2.0, 1.0)]),
            Some(2.0)
        );
        assert_eq!(
            weighted_median(&[(1.0, 10.0), (5.0, 1.0), (2.0, 1.0)]),
            Some(1.0)
        );
        assert_eq!(weighted_median(&[(1.0, 1.0), (3.0, 1.0)]), Some(2.0));
        assert_eq!(weighted_median(&[]), None);
    }

    #[test]
    fn the_wide_ingest_pass_cleans_sums_and_measures_like_the_scalar_definition() {
        // Odd length (a remainder after the four-wide part) with every kind of bad sample.
        let specials = [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e-42, // subnormal
            -1e-40,
            3e6, // absurdly loud: clamped
            -0.0,
            0.0,
        ];
        let len = 203;
        let mut seed = 12345u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
        };
        let mut l: Vec<f32> = (0..len).map(|_| next()).collect();
        let mut r: Vec<f32> = (0..len).map(|_| next()).collect();
        for (i, &x) in specials.iter().enumerate() {
            l[i * 23] = x;
            r[len - 1 - i * 7] = x;
        }
        let mut sum = [vec![0.25f32; len], vec![-0.25f32; len]];
        let mut mid = vec![0.0f32; len];
        let [sum_l, sum_r] = &mut sum;
        let got = gather_stem([&l, &r], [sum_l, sum_r], &mut mid);

        let mut expected_non_finite = 0;
        let cl: Vec<f32> = l
            .iter()
            .map(|&x| clean(x, &mut expected_non_finite))
            .collect();
        let cr: Vec<f32> = r
            .iter()
            .map(|&x| clean(x, &mut expected_non_finite))
            .collect();
        assert_eq!(got.non_finite, expected_non_finite);
        assert_eq!(expected_non_finite, 6);
        assert!(got.cleaned);
        for i in 0..len {
            assert_eq!(sum[0][i], 0.25 + cl[i], "left sum at {i}");
            assert_eq!(sum[1][i], -0.25 + cr[i], "right sum at {i}");
            assert_eq!(mid[i], 0.5 * (cl[i] + cr[i]), "mid at {i}");
        }
        for (lanes, clean) in got.lanes.iter().zip([&cl, &cr]) {
            let peak = lanes.peak.iter().fold(0.0f32, |a, &b| a.max(b));
            let expected_peak = clean.iter().fold(0.0f32, |a, &b| a.max(b.abs()));
            assert_eq!(peak, expected_peak);
            assert_eq!(peak, MAX_SAMPLE_MAGNITUDE);
            let total: f64 = lanes.sum.iter().map(|&v| f64::from(v)).sum();
            let expected: f64 = clean.iter().map(|&v| f64::from(v)).sum();
            // Single-precision partial sums: relative to the magnitudes added.
            let scale: f64 = clean.iter().map(|&v| f64::from(v.abs())).sum();
            assert!(
                (total - expected).abs() < 1e-6 * scale,
                "{total} vs {expected}"
            );
            let squares: f64 = lanes.squares.iter().map(|&v| f64::from(v)).sum();
            let expected: f64 = clean.iter().map(|&v| f64::from(v * v)).sum();
            assert!(
                (squares - expected).abs() < 1e-6 * expected,
                "{squares} vs {expected}"
            );
        }

        // Clean input: nothing to report.
        let quiet: Vec<f32> = (0..len).map(|_| next() * 0.5).collect();
        let mut sum = [vec![0.0f32; len], vec![0.0f32; len]];
        let [sum_l, sum_r] = &mut sum;
        let got = gather_stem([&quiet, &quiet], [sum_l, sum_r], &mut mid);
        assert!(!got.cleaned);
        assert_eq!(got.non_finite, 0);
        assert_eq!(sum[0], quiet);
    }

    #[test]
    fn the_fast_ingest_pass_gives_the_cleaning_pass_bits_and_hands_over_every_bad_sample() {
        let len = 203; // a remainder after the four-wide part
        let mut seed = 777u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
        };
        let base: [Vec<f32>; 2] = [0, 1].map(|_| (0..len).map(|_| next()).collect());
        // Each bad kind alone, in the four-wide part and in the remainder, either channel.
        let bad = [
            f32::NAN,
            f32::INFINITY,
            -f32::INFINITY,
            1e-42,
            -1e-39,
            MAX_SAMPLE_MAGNITUDE,
            -3e6,
            f32::MAX,
        ];
        let mut cases = vec![None];
        for &x in &bad {
            for at in [0, 101, len - 1] {
                for channel in 0..2 {
                    cases.push(Some((x, at, channel)));
                }
            }
        }
        for case in cases {
            let mut audio = base.clone();
            if let Some((x, at, channel)) = case {
                audio[channel][at] = x;
                // Silence beside it, so that a subnormal let through would show in the mid.
                audio[1 - channel][at] = 0.0;
            }
            type Gather = fn([&[f32]; 2], [&mut [f32]; 2], &mut [f32]) -> Gathered;
            let run = |gather: Gather| {
                let mut sum = [vec![0.0f32; len], vec![0.0f32; len]];
                let mut mid = vec![0.0f32; len];
                let [sl, sr] = &mut sum;
                let got = gather([&audio[0], &audio[1]], [sl, sr], &mut mid);
                (got, sum, mid)
            };
            let (fast, fast_sum, fast_mid) = run(gather_stem);
            let (slow, slow_sum, slow_mid) = run(gather_stem_cleaning);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fast_sum[0]), bits(&slow_sum[0]), "{case:?}");
            assert_eq!(bits(&fast_sum[1]), bits(&slow_sum[1]), "{case:?}");
            assert_eq!(bits(&fast_mid), bits(&slow_mid), "{case:?}");
            assert_eq!(fast.non_finite, slow.non_finite, "{case:?}");
            assert_eq!(fast.cleaned, slow.cleaned, "{case:?}");
            assert_eq!(
                fast.cleaned,
                case.is_some_and(|(x, ..)| x.abs() >= 1.0 || !x.is_finite())
            );
            for (f, s) in fast.lanes.iter().zip(&slow.lanes) {
                assert_eq!(bits(&f.peak), bits(&s.peak), "{case:?}");
                assert_eq!(bits(&f.sum), bits(&s.sum), "{case:?}");
                assert_eq!(bits(&f.squares), bits(&s.squares), "{case:?}");
            }
        }
    }

    #[test]
    fn renaming_names_known_stems_and_never_adds_one() {
        let mut analyzer = Analyzer::new(48_000.0, AnalyzerConfig::default());
        analyzer.set_stem_name(3, "Drums");
        assert!(analyzer.rename_stem(3, "Kit"));
        assert!(!analyzer.rename_stem(4, "Bass"));
        let names: Vec<_> = analyzer
            .stems
            .iter()
            .map(|s| (s.id, s.name.clone()))
            .collect();
        assert_eq!(names, vec![(3, "Kit".to_string())]);
    }

    #[test]
    fn solve_solves() {
        // 2x + y = 5, x + 3y = 10 -> x = 1, y = 3
        let mut a = vec![2.0, 1.0, 1.0, 3.0];
        let mut b = vec![5.0, 10.0];
        let x = solve(&mut a, &mut b, 2).unwrap();
        assert!((x[0] - 1.0).abs() < 1e-12 && (x[1] - 3.0).abs() < 1e-12);
    }
}
