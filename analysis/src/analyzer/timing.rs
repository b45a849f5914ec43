//! Timing: every stem's lag against the master, and the master's latency.
//!
//! The whole number of samples comes from generalised cross-correlation with coherence
//! weighting (GCC-SCOT) of the accumulated cross-spectra, both on the master and on the master
//! with the other stems taken out, confirmed by plain correlation (tonal stems correlate almost
//! as well a period away); the fraction of a sample from the slope of the cross-spectrum's
//! phase. The lag shared by most stems is the master's latency ([`Analyzer::common_lag`]); a
//! stem off that lag is the defect ([`Analyzer::stem_offsets`]).

use crate::config::{
    FRACTION_CONFIRMS_LAG_SAMPLES, MAX_ZERO_OVER_PEAK, MIN_PEAK_TO_RMS, STEM_OFFSET_MIN_SAMPLES,
    STEM_STAYS_MIN_GAIN, STRONG_PEAK_TO_RMS, TIMING_MIN_ENERGY, TIMING_MIN_ENERGY_SHARE,
    TIMING_MIN_STEM_OVER_ISOLATED,
};
use crate::spectra::{Cd, Cf, Fft};

use super::eq_phase::eq_apparent_delay;
use super::fit::{most_agreed_median, weighted_median};
use super::{Analyzer, Scratch};

impl Analyzer {
    /// The lag common to most stems (ties: the one carrying more energy).
    pub(super) fn common_lag(&self) -> i64 {
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

    /// What the master holds of stem `k` once the other stems are taken out: the cross-spectrum
    /// of (master - sum + stem k) with stem k, and the auto-spectrum of (master - sum + stem k).
    /// With the other stems removed, stem k's own timing and polarity stand out sharply even
    /// when it is a small part of the mix.
    fn isolate(&self, k: usize, cross: &mut [Cd], auto: &mut [f64]) {
        let stem = &self.stems[k];
        for i in 0..cross.len() {
            cross[i] = stem.pmk[i] - stem.psk[i] + stem.pkk[i];
            auto[i] = (self.welch.pmm[i] + self.welch.pss[i] + stem.pkk[i]
                - 2.0 * self.welch.pms[i].re
                + 2.0 * stem.pmk[i].re
                - 2.0 * stem.psk[i].re)
                .max(0.0);
        }
    }

    /// Lag tracking: re-estimates the lags of the stems due for a check; whether any lag
    /// moved (the accumulators must then restart).
    pub(super) fn track_lags(&mut self) -> bool {
        let bins = self.layout.analysis_bins;
        let mut changed = false;
        let total_energy: f64 = self.stems.iter().map(|s| s.energy).sum();
        let mut cross = std::mem::take(&mut self.scratch.isolated_cross);
        let mut auto = std::mem::take(&mut self.scratch.isolated_auto);
        cross.resize(self.welch.pmm.len(), Cd::new(0.0, 0.0));
        auto.resize(self.welch.pmm.len(), 0.0);
        // Until every stem is placed, all are checked each time; after, one stem per update
        // in turn (a stem's lag rarely changes mid-song, and the checks cost an IFFT each).
        let count = self.stems.len();
        let settled = self.stems.iter().all(|s| s.locked);
        self.progress.update_count = self.progress.update_count.wrapping_add(1);
        let checked: Vec<usize> = if settled && count > 0 {
            vec![(self.progress.update_count as usize) % count]
        } else {
            (0..count).collect()
        };
        for index in checked {
            let energy = self.stems[index].energy;
            // Stems with almost nothing in them cannot be timed (yet).
            if energy <= TIMING_MIN_ENERGY_SHARE * total_energy.max(1e-30)
                || energy <= TIMING_MIN_ENERGY
            {
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
                    &self.stems[index].pmk,
                    &self.welch.pmm,
                    &self.stems[index].pkk,
                    bins,
                    self.layout.max_lag,
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
                self.layout.max_lag,
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
            let explains_more = moves_to(
                &cross,
                &auto,
                &self.stems[index].pkk,
                bins,
                self.layout.frame_len,
                peak.lag_samples,
            );
            // The fraction of a sample left, from the same isolated cross-spectrum.
            let fraction = fractional_delay(
                &cross,
                &auto,
                &self.stems[index].pkk,
                bins,
                self.layout.frame_len,
                self.stems[index].inverted,
            );
            let stem = &mut self.stems[index];
            stem.fraction = fraction;
            if !lag_moves(&peak, fraction, explains_more) {
                stem.locked = true;
                stem.placed = true;
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
                    .clamp(-(self.layout.max_lag as i64), self.layout.max_lag as i64);
                stem.locked = false;
                stem.placed = true;
                stem.fitted_at_lag = false;
                stem.pending_lag = None;
                changed = true;
            } else {
                stem.pending_lag = Some(peak.lag_samples);
            }
        }
        self.scratch.isolated_cross = cross;
        self.scratch.isolated_auto = auto;
        changed
    }

    /// Each stem's offset against the others in the master (whole lag off the common lag, plus
    /// its fraction off the common fraction), and the fraction of a sample its own lag leaves
    /// (0 until the stem is locked), in samples. What the master EQ's phase makes the stem
    /// look like (`eq_phase.rs`: the same EQ for every stem, seen where each stem's energy
    /// lies) is not the stem's offset, and is taken off it.
    pub(super) fn stem_offsets(&self, common_lag: i64) -> Vec<(f64, f64)> {
        let fractions: Vec<Option<f64>> = self
            .stems
            .iter()
            .map(|s| s.locked.then_some(s.fraction).flatten())
            .collect();
        // The fraction left once the EQ's share of the delay is taken off. The EQ's phase
        // explains an apparent offset away; it never makes one (a fit that absorbed content no
        // stem carries has a shape, and so a phase, no EQ on the bus has).
        let own: Vec<Option<f64>> = self
            .stems
            .iter()
            .zip(&fractions)
            .map(|(s, f)| {
                f.map(|f| {
                    let whole = (s.lag - common_lag) as f64;
                    let less_eq = f - self.eq_delay(s);
                    if (whole + less_eq).abs() < (whole + f).abs() {
                        less_eq
                    } else {
                        f
                    }
                })
            })
            .collect();
        // The fraction common to the stems, as the common lag: the one most stems at the common
        // lag agree on (within the offset reported), not the one weighted by energy. Measured:
        // with the guitar missing from a jazz quartet's stems, the bass (half the energy) read
        // 0.23 samples off the drums, sax and vibes, and the energy-weighted median put the
        // drums late. Without a majority (a master EQ's phase scatters the stems' apparent
        // fractions over two samples, by their spectra), the energy-weighted median.
        let placed: Vec<(bool, (f64, f64))> = self
            .stems
            .iter()
            .zip(&own)
            .filter_map(|(s, f)| f.map(|f| (s.lag == common_lag, (f, s.energy))))
            .collect();
        let of = |at_common_only: bool| -> Vec<(f64, f64)> {
            placed
                .iter()
                .filter(|(at_common, _)| *at_common || !at_common_only)
                .map(|p| p.1)
                .collect()
        };
        let common_fraction = most_agreed_median(&of(true), f64::from(STEM_OFFSET_MIN_SAMPLES))
            .or_else(|| weighted_median(&of(false)))
            .unwrap_or(0.0);
        self.stems
            .iter()
            .zip(fractions.iter().zip(&own))
            .map(|(stem, (fraction, own))| {
                let offset = (stem.lag - common_lag) as f64 + own.unwrap_or(0.0) - common_fraction;
                (offset, fraction.unwrap_or(0.0))
            })
            .collect()
    }
}

impl Analyzer {
    /// The delay the master EQ's phase alone gives `stem` against the master, in samples
    /// (positive: master later); 0 before the bus EQ is fitted.
    fn eq_delay(&self, stem: &super::stems::Stem) -> f64 {
        if self.bus.eq_phase.is_empty() {
            return 0.0;
        }
        eq_apparent_delay(
            &self.bus.eq_phase,
            &stem.pmk,
            &self.welch.pmm,
            &stem.pkk,
            self.layout.analysis_bins,
            self.layout.frame_len,
        )
    }
}

/// Whether a stem's lag moves by `peak.lag_samples`: a lag other than the current one that
/// explains more, and that the correlation at the current one does not nearly match
/// ([`MAX_ZERO_OVER_PEAK`]: a tonal stem correlates almost as well a period away), unless the
/// cross-spectrum's phase slope (`fraction`, samples) points to it as well: two estimates
/// agree (a brass stem one sample late, its highs 16-bit dither, correlated 0.73 as well at
/// its old lag, and its phase read -1.000 samples; left in place, its offset's residual read
/// as missing content).
fn lag_moves(peak: &LagPeak, fraction: Option<f64>, explains_more: bool) -> bool {
    let phase_agrees = fraction
        .is_some_and(|f| (f - peak.lag_samples as f64).abs() < FRACTION_CONFIRMS_LAG_SAMPLES);
    peak.lag_samples != 0
        && (peak.zero_over_peak <= MAX_ZERO_OVER_PEAK || phase_agrees)
        && explains_more
}

/// The integer lag found in an accumulated cross-spectrum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LagPeak {
    /// Lag in samples: positive when the master carries the stem's content later.
    pub lag_samples: i64,
    /// Peak height over the correlation's RMS.
    pub peak_to_rms: f32,
    /// Whether the peak is negative (polarity inverted).
    pub inverted: bool,
    /// The correlation at lag 0 over the peak's height (1 when the peak is at 0).
    pub zero_over_peak: f32,
}

/// GCC-SCOT: the cross-spectrum `cross` (master times conjugate stem) weighted by
/// `1 / sqrt(auto_master * auto_stem)`, transformed back; the strongest peak within
/// `+/-max_lag` samples. The scratch pair holds `fft.bins()` bins and `fft.len` samples.
pub fn gcc_peak(
    fft: &mut Fft,
    cross: &[Cd],
    auto_master: &[f64],
    auto_stem: &[f64],
    band_bins: (usize, usize),
    max_lag: usize,
    (scratch, corr): (&mut [Cf], &mut [f32]),
) -> Option<LagPeak> {
    let (lo, hi) = band_bins;
    for (i, s) in scratch.iter_mut().enumerate() {
        *s = if i >= lo && i < hi {
            let norm = (auto_master[i] * auto_stem[i]).sqrt();
            if norm > 1e-30 {
                let c = cross[i] / norm;
                Cf::new(c.re as f32, c.im as f32)
            } else {
                Cf::new(0.0, 0.0)
            }
        } else {
            Cf::new(0.0, 0.0)
        };
    }
    fft.inverse(scratch, corr);
    let n = corr.len();
    let max_lag = max_lag.min(n / 2 - 1);
    let mut best = (0i64, 0.0f32);
    let mut sum_sq = 0.0f64;
    let mut count = 0usize;
    let positive = corr[..=max_lag]
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as i64, v));
    let negative = corr[n - max_lag..]
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as i64 - max_lag as i64, v));
    for (lag, value) in positive.chain(negative) {
        sum_sq += f64::from(value) * f64::from(value);
        count += 1;
        if value.abs() > best.1.abs() {
            best = (lag, value);
        }
    }
    let rms = (sum_sq / count.max(1) as f64).sqrt() as f32;
    if rms <= 0.0 || !best.1.is_finite() {
        return None;
    }
    Some(LagPeak {
        lag_samples: best.0,
        peak_to_rms: best.1.abs() / rms,
        inverted: best.1 < 0.0,
        zero_over_peak: corr[0].abs() / best.1.abs(),
    })
}

/// The fractional delay left in an (integer-aligned) cross-spectrum, in samples, from a
/// coherence-weighted least-squares fit of its phase against frequency through the origin.
/// Positive when the master is later. `inverted` flips the phase by pi first.
pub fn fractional_delay(
    cross: &[Cd],
    auto_master: &[f64],
    auto_stem: &[f64],
    band_bins: (usize, usize),
    fft_len: usize,
    inverted: bool,
) -> Option<f64> {
    let (lo, hi) = band_bins;
    let mut num = 0.0f64;
    let mut den = 0.0f64;
    for i in lo..hi.min(cross.len()) {
        let norm = auto_master[i] * auto_stem[i];
        if norm <= 1e-30 {
            continue;
        }
        let c = if inverted { -cross[i] } else { cross[i] };
        let (re, im) = (c.re, c.im);
        let coherence = (re * re + im * im) / norm;
        let phase = im.atan2(re);
        let omega = 2.0 * std::f64::consts::PI * i as f64 / fft_len as f64;
        // Weight by coherence and by energy share, so bins that carry the stem dominate.
        let weight = coherence * (re * re + im * im).sqrt();
        num += weight * phase * omega;
        den += weight * omega * omega;
    }
    (den > 0.0).then(|| -num / den)
}

/// Whether a stem whose whitened correlation with the master peaks at `lag` (off its current
/// lag) is better placed there: it is heard (its energy, `stem_auto`, at least
/// [`TIMING_MIN_STEM_OVER_ISOLATED`] of the isolated master's, `auto`: a stem buried deeper
/// correlates best with whatever resembles it, such as a louder missing reverb fed by the same
/// sources), the plain correlation there beats the one at its lag, and it keeps too little at
/// its lag when fitted at both (see [`stays_at_its_lag`]). `cross`: the isolated master times
/// the conjugate stem.
fn moves_to(
    cross: &[Cd],
    auto: &[f64],
    stem_auto: &[f64],
    band_bins: (usize, usize),
    fft_len: usize,
    lag: i64,
) -> bool {
    let (lo, hi) = band_bins;
    let hi = hi.min(auto.len()).min(stem_auto.len());
    let stem: f64 = stem_auto[lo..hi].iter().sum();
    let isolated: f64 = auto[lo..hi].iter().sum();
    if stem < TIMING_MIN_STEM_OVER_ISOLATED * isolated {
        return false;
    }
    let at = |lag| plain_correlation(cross, band_bins, fft_len, lag);
    let (at_lag, at_zero) = (at(lag), at(0));
    at_lag.abs() > at_zero.abs()
        && !stays_at_its_lag(at_zero, at_lag, stem_auto, band_bins, fft_len, lag)
}

/// Whether a stem keeps its own copy at its current lag when it is fitted at that lag and at
/// `lag` together (two least-squares gains; `at_zero`, `at_lag`: the plain correlations of the
/// isolated master with the stem at both, `auto`: the stem's auto-spectrum, whose correlation at
/// `lag` is the two copies' overlap): the gain kept at the current lag is at least
/// [`STEM_STAYS_MIN_GAIN`] (either polarity).
fn stays_at_its_lag(
    at_zero: f64,
    at_lag: f64,
    auto: &[f64],
    band_bins: (usize, usize),
    fft_len: usize,
    lag: i64,
) -> bool {
    let (lo, hi) = band_bins;
    let hi = hi.min(auto.len());
    let bin_omega = 2.0 * std::f64::consts::PI / fft_len as f64 * lag as f64;
    let energy: f64 = auto[lo..hi].iter().sum();
    let overlap: f64 = auto[lo..hi]
        .iter()
        .enumerate()
        .map(|(i, p)| p * (bin_omega * (lo + i) as f64).cos())
        .sum();
    let det = energy * energy - overlap * overlap;
    if det <= f64::EPSILON * energy * energy {
        // The two copies are the same signal (a constant tone): nothing tells them apart.
        return false;
    }
    let gain_here = (at_zero * energy - at_lag * overlap) / det;
    gain_here.abs() >= STEM_STAYS_MIN_GAIN
}

/// The plain (unweighted) cross-correlation at `lag` from a cross-spectrum: how much of the
/// stem's energy lines up with the master at that lag. A candidate lag must beat the current
/// one on this measure too, so that a whitened correlation's side peak never moves a stem to
/// a lag that explains less of the master.
pub fn plain_correlation(cross: &[Cd], band_bins: (usize, usize), fft_len: usize, lag: i64) -> f64 {
    let (lo, hi) = band_bins;
    let bin_omega = 2.0 * std::f64::consts::PI / fft_len as f64 * lag as f64;
    let step = Cd::from_polar(1.0, bin_omega);
    let mut rot = Cd::from_polar(1.0, bin_omega * lo as f64);
    let mut total = 0.0;
    for c in &cross[lo..hi.min(cross.len())] {
        total += (c * rot).re;
        rot *= step;
    }
    total
}

#[cfg(test)]
mod tests;
