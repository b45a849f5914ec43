//! Per-signal level statistics: sample peak, true peak, clipping, DC and activity, updated
//! sample by sample.
//!
//! True peak follows BS.1770-4's method (4x oversampling with a windowed-sinc interpolator,
//! 12 taps per phase). To stay cheap with hundreds of stems, inter-sample values are computed
//! only where a neighbouring sample exceeds [`TRUE_PEAK_GATE`] (-8 dBFS): quieter stretches
//! cannot reach any true-peak limit in use. A block that cannot raise the highest true peak
//! so far (its loudest sample times the interpolator's gain stays below it) is not
//! interpolated at all; in the others the same bound is taken again for each run of
//! [`TRUE_PEAK_RUN_GAPS`] gaps, and only the runs that could are interpolated, a phase at a
//! time, tap by tap, which vectorises. The maximum is the same to the bit as interpolating
//! every point: a point skipped cannot exceed the maximum as it stood.

use serde::{Deserialize, Serialize};

use crate::config::{CLIP_LEVEL, CLIP_RUN_SAMPLES, TRUE_PEAK_GATE};
use crate::decibels::amplitude_to_db as db;

const TAPS: usize = 12;
const OVERSAMPLING: usize = 4;
/// Inter-sample gaps whose reach is bounded together (a block's loud stretch is usually a few
/// of these runs, not the whole block).
const TRUE_PEAK_RUN_GAPS: usize = 32;

/// The interpolator: `phases[p][k]` weighs `x[n - 11 + k]` for the point `(p + 1) / 4` of a
/// sample after `x[n - 6]`.
#[derive(Debug, Clone)]
struct Interpolator {
    phases: [[f32; TAPS]; OVERSAMPLING - 1],
    /// The most any phase can make of samples within +/-1: its largest sum of |taps|. No
    /// interpolated value exceeds this times the largest sample it is made of.
    gain: f32,
}

impl Interpolator {
    fn new() -> Self {
        let mut phases = [[0.0f32; TAPS]; OVERSAMPLING - 1];
        for (p, phase) in phases.iter_mut().enumerate() {
            let frac = (p + 1) as f64 / OVERSAMPLING as f64;
            for (k, tap) in phase.iter_mut().enumerate() {
                // Distance from the interpolated point to sample n - 11 + k.
                let t = (k as f64 - 5.0) - frac;
                let sinc = if t.abs() < 1e-12 {
                    1.0
                } else {
                    (std::f64::consts::PI * t).sin() / (std::f64::consts::PI * t)
                };
                let window =
                    0.5 + 0.5 * (std::f64::consts::PI * t / (TAPS as f64 / 2.0 + 0.5)).cos();
                *tap = (sinc * window) as f32;
            }
        }
        let gain = phases
            .iter()
            .map(|phase| phase.iter().map(|h| h.abs()).sum::<f32>())
            .fold(0.0f32, f32::max);
        // Rounding in the sums above and in each interpolation: a little margin.
        Self {
            phases,
            gain: gain * 1.001,
        }
    }
}

/// Level statistics of one channel.
#[derive(Debug, Clone)]
pub struct ChannelStats {
    pub peak: f32,
    pub true_peak: f32,
    pub clipped_samples: u64,
    pub sum: f64,
    pub sum_squares: f64,
    pub samples: u64,
    history: [f32; TAPS],
    run: usize,
    /// Scratch: history followed by the current block.
    extended: Vec<f32>,
}

/// Plain moments of a run of one channel's samples, four lanes wide: the analyzer's ingest pass
/// gathers them with SIMD in the same pass that sums the stems, and hands them over with
/// [`SignalStats::add_gathered`]. Lanes hold single-precision partial sums: callers fold them
/// into [`ChannelStats`] at most every [`LANES_FOLD_SAMPLES`] samples.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lanes {
    pub peak: [f32; LANES],
    pub sum: [f32; LANES],
    pub squares: [f32; LANES],
}

/// Width of [`Lanes`]: one 128-bit vector of `f32`. (Eight lanes for two channels plus the
/// ingest pass's own work ran out of registers on x86-64's baseline and spilled.)
pub const LANES: usize = 4;

/// Samples per fold of [`Lanes`] into double precision.
pub const LANES_FOLD_SAMPLES: usize = 512;

impl Lanes {
    #[inline(always)]
    fn add4(&mut self, x: &[f32; LANES]) {
        for i in 0..LANES {
            let a = x[i].abs();
            self.peak[i] = if a > self.peak[i] { a } else { self.peak[i] };
            self.sum[i] += x[i];
            self.squares[i] += x[i] * x[i];
        }
    }

    #[inline]
    pub fn add_one(&mut self, x: f32) {
        let a = x.abs();
        self.peak[0] = if a > self.peak[0] { a } else { self.peak[0] };
        self.sum[0] += x;
        self.squares[0] += x * x;
    }

    fn of(samples: &[f32]) -> Self {
        let mut lanes = Self::default();
        let (chunks, rest) = samples.as_chunks::<LANES>();
        for chunk in chunks {
            lanes.add4(chunk);
        }
        for &x in rest {
            lanes.add_one(x);
        }
        lanes
    }
}

impl ChannelStats {
    fn add(&mut self, samples: &[f32], interpolator: &Interpolator) {
        for block in samples.chunks(LANES_FOLD_SAMPLES) {
            self.add_gathered(&Lanes::of(block), block, interpolator);
        }
    }

    /// Adds `samples`, whose moments were gathered into `lanes` (at most
    /// [`LANES_FOLD_SAMPLES`] of them).
    fn add_gathered(&mut self, lanes: &Lanes, samples: &[f32], interpolator: &Interpolator) {
        let peak = lanes
            .peak
            .iter()
            .fold(0.0f32, |p, &v| if v > p { v } else { p });
        self.peak = self.peak.max(peak);
        self.sum += lanes.sum.iter().map(|&v| f64::from(v)).sum::<f64>();
        self.sum_squares += lanes.squares.iter().map(|&v| f64::from(v)).sum::<f64>();
        self.samples += samples.len() as u64;

        // Clipping: only blocks that reach the clip level need the sample-by-sample look.
        if peak >= CLIP_LEVEL {
            for &x in samples {
                let a = x.abs();
                if a > 1.0 {
                    self.clipped_samples += 1;
                    self.run = 0;
                } else if a >= CLIP_LEVEL {
                    self.run += 1;
                    if self.run == CLIP_RUN_SAMPLES {
                        self.clipped_samples += CLIP_RUN_SAMPLES as u64;
                    } else if self.run > CLIP_RUN_SAMPLES {
                        self.clipped_samples += 1;
                    }
                } else {
                    self.run = 0;
                }
            }
        } else {
            self.run = 0;
        }

        // True peak: interpolate only next to loud samples, and only where the result could
        // be a new maximum. `extended` is the last TAPS samples of earlier blocks followed by
        // this block; the point between extended[j] and extended[j + 1] needs
        // extended[j - 5 ..= j + 6]. Gaps too close to the end are evaluated on the next call
        // (some twice, which does no harm to a maximum).
        let history = self.history;
        let history_peak = history.iter().fold(0.0f32, |p, x| p.max(x.abs()));
        let reach = interpolator.gain * peak.max(history_peak);
        if (peak > TRUE_PEAK_GATE || history_peak > TRUE_PEAK_GATE) && reach > self.true_peak {
            self.extended.clear();
            self.extended.extend_from_slice(&history);
            self.extended.extend_from_slice(samples);
            let ext = &self.extended;
            let first = TAPS / 2 - 1;
            let count = ext.len().saturating_sub(TAPS / 2 + 1).saturating_sub(first);
            let loud = |x: f32| x.abs() > TRUE_PEAK_GATE;
            let magnitude = |window: &[f32]| window.iter().fold(0.0f32, |p, x| p.max(x.abs()));
            // The same bound a run of gaps at a time: a run whose samples cannot make a new
            // maximum, or that has no loud sample beside any of its gaps, is skipped (the
            // maximum only rises, so what a skipped point could reach is already reached).
            let mut start = 0;
            while start < count {
                let len = (count - start).min(TRUE_PEAK_RUN_GAPS);
                // The points after ext[first + start ..][..len] read ext[start ..][..len + 11].
                let window = &ext[start..start + len + TAPS - 1];
                let beside = &ext[first + start..first + start + len + 1];
                if magnitude(beside) <= TRUE_PEAK_GATE
                    || interpolator.gain * magnitude(window) <= self.true_peak
                {
                    start += len;
                    continue;
                }
                for phase in &interpolator.phases {
                    // values[i]: the point after ext[first + start + i], summed tap by tap.
                    let mut values = [0.0f32; TRUE_PEAK_RUN_GAPS];
                    let values = &mut values[..len];
                    for (k, &h) in phase.iter().enumerate() {
                        for (y, &x) in values.iter_mut().zip(&window[k..k + len]) {
                            *y += h * x;
                        }
                    }
                    for (&y, pair) in values.iter().zip(beside.windows(2)) {
                        if loud(pair[0]) || loud(pair[1]) {
                            self.true_peak = self.true_peak.max(y.abs());
                        }
                    }
                }
                start += len;
            }
        }
        // Keep the last TAPS samples (or shift in what there is).
        if samples.len() >= TAPS {
            self.history
                .copy_from_slice(&samples[samples.len() - TAPS..]);
        } else {
            self.history.copy_within(samples.len().., 0);
            self.history[TAPS - samples.len()..].copy_from_slice(samples);
        }
        self.true_peak = self.true_peak.max(self.peak);
    }
}

impl Default for ChannelStats {
    fn default() -> Self {
        Self {
            peak: 0.0,
            true_peak: 0.0,
            clipped_samples: 0,
            sum: 0.0,
            sum_squares: 0.0,
            samples: 0,
            history: [0.0; TAPS],
            run: 0,
            extended: Vec::new(),
        }
    }
}

/// Level statistics of a signal (one or two channels).
#[derive(Debug, Clone, Default)]
pub struct SignalStats {
    pub channels: [ChannelStats; 2],
    pub num_channels: usize,
    interpolator: Option<Box<Interpolator>>,
}

/// A summary for reports.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LevelSummary {
    /// Highest sample, in dBFS.
    pub peak_dbfs: f32,
    /// Highest true (inter-sample) peak, in dBTP.
    pub true_peak_dbtp: f32,
    /// Clipped samples (all channels).
    pub clipped_samples: u64,
    /// RMS level over the whole pass, in dBFS.
    pub rms_dbfs: f32,
    /// Largest channel mean, in dBFS (DC offset).
    pub dc_dbfs: f32,
}

impl SignalStats {
    /// Adds a block; `channels[1]` is ignored for mono signals.
    pub fn add(&mut self, channels: [&[f32]; 2], num_channels: usize) {
        let interpolator = self
            .interpolator
            .get_or_insert_with(|| Box::new(Interpolator::new()));
        self.num_channels = self.num_channels.max(num_channels.clamp(1, 2));
        for (stats, samples) in self
            .channels
            .iter_mut()
            .zip(channels)
            .take(num_channels.clamp(1, 2))
        {
            stats.add(samples, interpolator);
        }
    }

    /// Adds a block of at most [`LANES_FOLD_SAMPLES`] frames whose moments the caller gathered
    /// in its own pass (`lanes[c]` for `channels[c]`).
    pub fn add_gathered(&mut self, lanes: &[Lanes; 2], channels: [&[f32]; 2], num_channels: usize) {
        debug_assert!(channels[0].len() <= LANES_FOLD_SAMPLES);
        let interpolator = self
            .interpolator
            .get_or_insert_with(|| Box::new(Interpolator::new()));
        self.num_channels = self.num_channels.max(num_channels.clamp(1, 2));
        for ((stats, samples), lanes) in self
            .channels
            .iter_mut()
            .zip(channels)
            .zip(lanes)
            .take(num_channels.clamp(1, 2))
        {
            stats.add_gathered(lanes, samples, interpolator);
        }
    }

    /// Samples per channel seen.
    pub fn samples(&self) -> u64 {
        self.channels[0].samples
    }

    /// Clipped samples (all channels): [`Self::summary`]'s count, without its level
    /// conversions (read after every block, for every signal).
    pub fn clipped_samples(&self) -> u64 {
        self.used().iter().map(|c| c.clipped_samples).sum()
    }

    /// The channels in use.
    fn used(&self) -> &[ChannelStats] {
        &self.channels[..self.num_channels.max(1)]
    }

    pub fn summary(&self) -> LevelSummary {
        let used = self.used();
        let peak = used.iter().map(|c| c.peak).fold(0.0, f32::max);
        let true_peak = used.iter().map(|c| c.true_peak).fold(0.0, f32::max);
        let samples: u64 = used.iter().map(|c| c.samples).sum();
        let sum_squares: f64 = used.iter().map(|c| c.sum_squares).sum();
        let dc = used
            .iter()
            .map(|c| {
                if c.samples > 0 {
                    (c.sum / c.samples as f64).abs()
                } else {
                    0.0
                }
            })
            .fold(0.0, f64::max);
        LevelSummary {
            peak_dbfs: db(f64::from(peak)),
            true_peak_dbtp: db(f64::from(true_peak)),
            clipped_samples: self.clipped_samples(),
            rms_dbfs: db(if samples > 0 {
                (sum_squares / samples as f64).sqrt()
            } else {
                0.0
            }),
            dc_dbfs: db(dc),
        }
    }
}

#[cfg(test)]
mod tests;
