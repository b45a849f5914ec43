//! The master EQ's phase, and the stem offset it fakes.
//!
//! An EQ on the master bus is (like every analogue-style EQ) minimum-phase: its phase follows
//! from its magnitude, and its group delay is large where the magnitude bends. That delay is
//! the same for every stem (the EQ is on the master), but each stem sees it weighted by where
//! its own energy lies: a bass under a 120 Hz bell looks a few samples late, the cymbals do not.
//! So the offset a stem shows against the master is, in part, the EQ's: [`eq_apparent_delay`]
//! predicts that part from the fitted bus EQ ([`minimum_phase`]), and only what is left is the
//! stem's own offset. A real stem offset is a constant delay at every frequency, which no
//! magnitude curve predicts.

use wide::f64x4;

use crate::bands::Band;
use crate::spectra::{Cd, Cf, Fft};

/// Beyond the first or the last band with a gain, a magnitude that falls towards the edge by
/// at least this slope (natural log of gain per natural log of frequency: 3 dB per octave) goes
/// on falling: a high pass's (or a low pass's) skirt, whose fall beyond the bands turns the
/// phase inside them. Flatter edges are held flat (a shelf, or a bell's flank).
const EDGE_MIN_FALL: f32 = 0.5;
/// ... at most at a second-order filter's slope (12 dB per octave) ...
const EDGE_MAX_FALL: f32 = 2.0;
/// ... down to -60 dB ...
const EDGE_FLOOR_LN: f32 = -6.907_755;
/// ... and only when the three outermost bands fall steadily towards the edge by at least this
/// much in all (natural log of gain: 2 dB), so that a wiggle of a dB at the edge (a missing
/// return's coherent part) is not a filter's skirt.
const EDGE_MIN_DEPTH_LN: f32 = 0.230_258_5;

/// The natural log of the EQ's magnitude per FFT bin, from its per-band linear gains (bands
/// whose gain is not positive and finite have none): linear in log-frequency between band
/// centres; beyond the first and the last band held flat, or falling on where the edge falls
/// ([`EDGE_MIN_FALL`]).
pub fn log_magnitude(bands: &[Band], band_gain: &[f32], bin_hz: f32, out: &mut [f32]) {
    let points: Vec<(f32, f32)> = bands
        .iter()
        .zip(band_gain)
        .filter(|(_, g)| **g > 0.0 && g.is_finite())
        .map(|(b, g)| (b.centre_hz.ln(), g.ln()))
        .collect();
    if points.is_empty() {
        out.fill(0.0);
        return;
    }
    // How each edge goes on (the slope per log-frequency away from the bands, if it falls on),
    // taken once.
    let last = points.len() - 1;
    let low = edge_fall(&points[..points.len().min(3)]);
    let high = (points.len() >= 3)
        .then(|| [points[last], points[last - 1], points[last - 2]])
        .and_then(|outermost| edge_fall(&outermost));
    let beyond = |(f0, g0): (f32, f32), fall: Option<f32>, f: f32| {
        fall.map_or(g0, |fall| (g0 - fall * (f - f0).abs()).max(EDGE_FLOOR_LN))
    };
    let mut next = 0;
    for (i, o) in out.iter_mut().enumerate() {
        let f = (i.max(1) as f32 * bin_hz).ln();
        while next < points.len() && points[next].0 < f {
            next += 1;
        }
        *o = if next == 0 {
            beyond(points[0], low, f)
        } else if next == points.len() {
            beyond(points[last], high, f)
        } else {
            let (f0, g0) = points[next - 1];
            let (f1, g1) = points[next];
            g0 + (g1 - g0) * (f - f0) / (f1 - f0)
        };
    }
}

/// The slope (natural log of gain per natural log of frequency) at which the magnitude falls
/// on beyond an edge, `points` the edge's three outermost `(ln f, ln gain)`, the edge first:
/// the edge's own fall when the three fall steadily towards it ([`EDGE_MIN_FALL`] at least,
/// [`EDGE_MIN_DEPTH_LN`] in all), at most [`EDGE_MAX_FALL`]; `None` (held flat) otherwise, or
/// with fewer than three points, or at [`EDGE_FLOOR_LN`] already.
fn edge_fall(points: &[(f32, f32)]) -> Option<f32> {
    let &[at, near, far] = points else {
        return None;
    };
    // The fall per log-frequency away from the band (positive: falling towards the edge).
    let fall = (near.1 - at.1) / (near.0 - at.0).abs();
    let steady = far.1 >= near.1 && far.1 - at.1 >= EDGE_MIN_DEPTH_LN;
    (fall >= EDGE_MIN_FALL && steady && at.1 > EDGE_FLOOR_LN).then(|| fall.min(EDGE_MAX_FALL))
}

/// The phase, in radians per bin, of the minimum-phase filter with log-magnitude `log_mag`
/// (`fft.bins()` bins), by the folded real cepstrum. `spectrum` and `time` are scratch
/// (`fft.bins()` bins, `fft.len` samples); the phase is written into `phase`.
pub fn minimum_phase(
    fft: &mut Fft,
    log_mag: &[f32],
    (spectrum, time): (&mut [Cf], &mut [f32]),
    phase: &mut [f32],
) {
    let n = time.len();
    for (s, &l) in spectrum.iter_mut().zip(log_mag) {
        *s = Cf::new(l, 0.0);
    }
    // The real cepstrum (the inverse transform is unnormalised: 1/n).
    fft.inverse(spectrum, time);
    let scale = 1.0 / n as f32;
    // Folded: the anticausal half onto the causal one.
    for (i, t) in time.iter_mut().enumerate() {
        *t *= if i == 0 || i == n / 2 {
            scale
        } else if i < n / 2 {
            2.0 * scale
        } else {
            0.0
        };
    }
    fft.forward_with(|_, buffer| buffer.copy_from_slice(time), spectrum);
    for (p, s) in phase.iter_mut().zip(spectrum.iter()) {
        *p = s.im;
    }
}

/// The delay, in samples (positive: master later), that a phase-slope fit over a stem's
/// cross-spectrum with the master finds when the master carries `phase` (per bin) on top of
/// the stem: the fit of [`super::timing::fractional_delay`] with its weights (coherence times
/// magnitude of `cross`), applied to the EQ's phase alone.
///
/// Each bin's terms are computed four bins to a vector (the divisions and square roots are
/// most of the cost), each lane with the scalar operations in their order, then added one bin
/// after another as [`eq_apparent_delay_plain`] does: the same bits. A bin the plain loop skips
/// adds +0.0 instead, which changes no sum: both start at +0.0, and a sum that starts at +0.0
/// is never -0.0 (x + 0.0 is x for every other x).
pub fn eq_apparent_delay(
    phase: &[f32],
    cross: &[Cd],
    auto_master: &[f64],
    auto_stem: &[f64],
    band_bins: (usize, usize),
    fft_len: usize,
) -> f64 {
    let (lo, hi) = band_bins;
    let hi = hi.min(cross.len()).min(phase.len());
    let lo = lo.min(hi);
    let (phase, cross) = (&phase[lo..hi], &cross[lo..hi]);
    let (auto_master, auto_stem) = (&auto_master[lo..hi], &auto_stem[lo..hi]);
    let (mut num, mut den) = (0.0f64, 0.0f64);
    let (two_pi, len) = (
        f64x4::splat(2.0 * std::f64::consts::PI),
        f64x4::splat(fft_len as f64),
    );
    let (floor, zero) = (f64x4::splat(EQ_DELAY_MIN_NORM), f64x4::ZERO);
    let quads = phase.len() / 4;
    for q in 0..quads {
        let at = 4 * q;
        let norm = four(at, |i| auto_master[i]) * four(at, |i| auto_stem[i]);
        let (re, im) = (four(at, |i| cross[i].re), four(at, |i| cross[i].im));
        let magnitude_sq = re * re + im * im;
        let weight = magnitude_sq / norm * magnitude_sq.sqrt();
        let omega = two_pi * four(at, |i| (lo + i) as f64) / len;
        let kept = !norm.simd_le(floor);
        let to_num = kept.select(weight * four(at, |i| f64::from(phase[i])) * omega, zero);
        let to_den = kept.select(weight * omega * omega, zero);
        for (n, d) in to_num.to_array().into_iter().zip(to_den.to_array()) {
            num += n;
            den += d;
        }
    }
    for i in 4 * quads..phase.len() {
        let norm = auto_master[i] * auto_stem[i];
        if norm <= EQ_DELAY_MIN_NORM {
            continue;
        }
        let magnitude_sq = cross[i].norm_sqr();
        let weight = magnitude_sq / norm * magnitude_sq.sqrt();
        let omega = 2.0 * std::f64::consts::PI * (lo + i) as f64 / fft_len as f64;
        num += weight * f64::from(phase[i]) * omega;
        den += weight * omega * omega;
    }
    if den > 0.0 { -num / den } else { 0.0 }
}

/// `value` of four consecutive indices from `at`, as a vector.
#[inline(always)]
fn four(at: usize, value: impl Fn(usize) -> f64) -> f64x4 {
    f64x4::new(std::array::from_fn(|j| value(at + j)))
}

/// Below this product of the two auto-spectra a bin has no say in [`eq_apparent_delay`].
const EQ_DELAY_MIN_NORM: f64 = 1e-30;

/// [`eq_apparent_delay`] one bin at a time: the reference its bits are tested against.
#[cfg(test)]
fn eq_apparent_delay_plain(
    phase: &[f32],
    cross: &[Cd],
    auto_master: &[f64],
    auto_stem: &[f64],
    band_bins: (usize, usize),
    fft_len: usize,
) -> f64 {
    let (lo, hi) = band_bins;
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for i in lo..hi.min(cross.len()).min(phase.len()) {
        let norm = auto_master[i] * auto_stem[i];
        if norm <= EQ_DELAY_MIN_NORM {
            continue;
        }
        let magnitude_sq = cross[i].norm_sqr();
        let weight = magnitude_sq / norm * magnitude_sq.sqrt();
        let omega = 2.0 * std::f64::consts::PI * i as f64 / fft_len as f64;
        num += weight * f64::from(phase[i]) * omega;
        den += weight * omega * omega;
    }
    if den > 0.0 { -num / den } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bands::third_octave_bands;

    const RATE_HZ: f32 = 48_000.0;
    const LEN: usize = 8192;

    /// The phase of the minimum-phase filter with the given per-band gains.
    fn phase_of(band_gain: impl Fn(f32) -> f32) -> (Vec<f32>, Vec<Band>) {
        let bands = third_octave_bands(RATE_HZ, LEN, RATE_HZ / 2.0 * 0.95);
        let gains: Vec<f32> = bands.iter().map(|b| band_gain(b.centre_hz)).collect();
        let mut fft = Fft::new(LEN);
        let bins = fft.bins();
        let mut log_mag = vec![0.0; bins];
        log_magnitude(&bands, &gains, RATE_HZ / LEN as f32, &mut log_mag);
        let (mut spectrum, mut time, mut phase) = (
            vec![Cf::new(0.0, 0.0); bins],
            vec![0.0; LEN],
            vec![0.0; bins],
        );
        minimum_phase(&mut fft, &log_mag, (&mut spectrum, &mut time), &mut phase);
        (phase, bands)
    }

    /// A second-order high pass (Butterworth) at `corner_hz`: its magnitude and phase (radians)
    /// at `hz`.
    fn high_pass(corner_hz: f32, hz: f32) -> (f32, f32) {
        let w = hz / corner_hz;
        let h = Cf::new(-w * w, 0.0) / Cf::new(1.0 - w * w, w * std::f32::consts::SQRT_2);
        (h.norm(), h.arg())
    }

    #[test]
    fn a_high_pass_below_the_bands_turns_the_phase_inside_them() {
        // A 40 Hz high pass on the master, its bands read from 31.5 Hz up (none below: the
        // stems hold nothing there). At 80 Hz it turns the phase by 42 degrees; held flat below
        // 31.5 Hz, the model gave 15.7, falling on it gives 31.0.
        let (phase, _) = phase_of(|hz| {
            if hz < 30.0 {
                f32::NAN
            } else {
                high_pass(40.0, hz).0
            }
        });
        let bin = (80.0 / (RATE_HZ / LEN as f32)).round() as usize;
        let (_, truth) = high_pass(40.0, bin as f32 * RATE_HZ / LEN as f32);
        let error_deg = (phase[bin] - truth).to_degrees();
        assert!(
            error_deg.abs() < 12.0,
            "model {:.1} deg, true {:.1} deg",
            phase[bin].to_degrees(),
            truth.to_degrees()
        );
    }

    #[test]
    fn a_wiggle_at_the_edge_is_no_filter_s_skirt() {
        // The lowest bands at -0.2, +1.0, -0.6 dB (a missing return's coherent part in a jazz
        // trio's lows): held flat below, the model turns 80 Hz by a degree or two; taken as a
        // skirt falling on from +1.0 to -0.2 dB, it turned it by 7.4 degrees.
        let wiggle = |hz: f32| {
            let db = if hz < 30.0 {
                return f32::NAN;
            } else if hz < 35.0 {
                -0.2
            } else if hz < 45.0 {
                1.0
            } else if hz < 56.0 {
                -0.6
            } else {
                0.0
            };
            10f32.powf(db / 20.0)
        };
        let (phase, _) = phase_of(wiggle);
        let bin = (80.0 / (RATE_HZ / LEN as f32)).round() as usize;
        assert!(
            phase[bin].to_degrees().abs() < 2.0,
            "{:.2} deg",
            phase[bin].to_degrees()
        );
    }

    #[test]
    fn a_flat_gain_has_no_phase() {
        // -6 dB everywhere: a constant log-magnitude is all in the cepstrum's first sample.
        let (phase, _) = phase_of(|_| 0.5);
        assert!(phase.iter().all(|p| p.abs() < 1e-4));
    }

    #[test]
    fn a_low_boost_delays_what_lives_in_the_lows_only() {
        // +6 dB below 120 Hz, 0 dB above 250 Hz: a low shelf. A stem with energy only in
        // 60-150 Hz (a bass) sees a delay of some samples; one with energy only above 2 kHz
        // sees almost none (under a tenth of a sample).
        let (phase, _) = phase_of(|hz| {
            if hz <= 125.0 {
                2.0
            } else if hz < 250.0 {
                1.4
            } else {
                1.0
            }
        });
        let bins = LEN / 2 + 1;
        let bin_hz = RATE_HZ / LEN as f32;
        let stem_in = |lo_hz: f32, hi_hz: f32| -> Vec<f64> {
            (0..bins)
                .map(|i| {
                    let f = i as f32 * bin_hz;
                    if f >= lo_hz && f <= hi_hz { 1.0 } else { 0.0 }
                })
                .collect()
        };
        let delay = |auto: &[f64]| {
            let cross: Vec<Cd> = auto.iter().map(|&a| Cd::new(a, 0.0)).collect();
            eq_apparent_delay(&phase, &cross, auto, auto, (1, bins), LEN)
        };
        let bass = delay(&stem_in(60.0, 150.0));
        let cymbals = delay(&stem_in(2000.0, 16000.0));
        assert!(bass > 1.0, "bass {bass}");
        assert!(cymbals.abs() < 0.1, "cymbals {cymbals}");
    }

    #[test]
    fn the_phase_of_a_known_minimum_phase_filter() {
        // A one-pole low-pass y[n] = x[n] + 0.5 y[n-1] is minimum-phase: magnitude
        // 1/|1 - 0.5 e^{-jw}|, phase -atan(0.5 sin w / (1 - 0.5 cos w)).
        let mut fft = Fft::new(LEN);
        let bins = fft.bins();
        let log_mag: Vec<f32> = (0..bins)
            .map(|i| {
                let w = 2.0 * std::f32::consts::PI * i as f32 / LEN as f32;
                -(Cf::new(1.0 - 0.5 * w.cos(), 0.5 * w.sin()).norm()).ln()
            })
            .collect();
        let (mut spectrum, mut time, mut phase) = (
            vec![Cf::new(0.0, 0.0); bins],
            vec![0.0; LEN],
            vec![0.0; bins],
        );
        minimum_phase(&mut fft, &log_mag, (&mut spectrum, &mut time), &mut phase);
        for i in [100, 1000, 3000] {
            let w = 2.0 * std::f32::consts::PI * i as f32 / LEN as f32;
            let expected = -(0.5 * w.sin()).atan2(1.0 - 0.5 * w.cos());
            assert!(
                (phase[i] - expected).abs() < 1e-3,
                "bin {i}: {} vs {expected}",
                phase[i]
            );
        }
    }

    /// The vector form gives the bits of the plain loop: random spectra with some bins under
    /// the norm floor (skipped), any band (whole vectors and a remainder).
    #[test]
    fn the_apparent_delay_matches_the_plain_loop_to_the_bit() {
        let mut seed = 11u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f64 / (1u32 << 24) as f64 * 2.0 - 1.0
        };
        let bins = 301;
        let phase: Vec<f32> = (0..bins).map(|_| next() as f32).collect();
        let cross: Vec<Cd> = (0..bins).map(|_| Cd::new(next(), next())).collect();
        let auto_master: Vec<f64> = (0..bins)
            .map(|i| {
                if i % 7 == 3 {
                    1e-40
                } else {
                    next().abs() + 0.01
                }
            })
            .collect();
        let auto_stem: Vec<f64> = (0..bins).map(|_| next().abs() + 0.01).collect();
        for band in [(0, bins), (1, 2), (3, 8), (5, 300), (13, 1000), (20, 10)] {
            let ours = eq_apparent_delay(&phase, &cross, &auto_master, &auto_stem, band, LEN);
            let plain =
                eq_apparent_delay_plain(&phase, &cross, &auto_master, &auto_stem, band, LEN);
            assert_eq!(ours.to_bits(), plain.to_bits(), "{band:?}");
        }
    }
}
