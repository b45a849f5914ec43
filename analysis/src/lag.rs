//! Time offsets between the master and a stem from their accumulated cross-spectrum: the whole
//! number of samples by generalised cross-correlation with coherence weighting (GCC-SCOT), the
//! fraction from the slope of the cross-spectrum's phase.

use crate::spectra::{Cd, Cf, Fft};

/// A GCC peak must stand this many times above the correlation's RMS to count.
pub const MIN_PEAK_TO_RMS: f32 = 8.0;
/// A lag other than the current one must beat the correlation at the current one by this
/// factor: tonal stems correlate almost as well one period away, and staying put is the safe
/// choice (the fractional estimate still catches small offsets).
pub const MAX_ZERO_OVER_PEAK: f32 = 0.67;
/// A peak this clear is believed at once; weaker ones must repeat.
pub const STRONG_PEAK_TO_RMS: f32 = 25.0;

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
