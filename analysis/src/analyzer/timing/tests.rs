//! Lags on tiny signals: impulses and pure phase slopes with known delays.

use super::*;

const N: usize = 64;

/// The spectrum of `signal` (length [`N`], no window).
fn spectrum(fft: &mut Fft, signal: &[f32]) -> Vec<Cf> {
    let mut out = vec![Cf::new(0.0, 0.0); fft.bins()];
    fft.forward_with(|_, time| time.copy_from_slice(signal), &mut out);
    out
}

fn impulse(at: usize, value: f32) -> Vec<f32> {
    let mut x = vec![0.0; N];
    x[at] = value;
    x
}

/// The cross-spectrum of a master and a stem (master times conjugate stem) and their
/// auto-spectra, one frame of [`N`] samples.
fn spectra(fft: &mut Fft, master: &[f32], stem: &[f32]) -> (Vec<Cd>, Vec<f64>, Vec<f64>) {
    let (m, k) = (spectrum(fft, master), spectrum(fft, stem));
    let cross: Vec<Cd> = m
        .iter()
        .zip(&k)
        .map(|(m, k)| {
            let c = m * k.conj();
            Cd::new(c.re.into(), c.im.into())
        })
        .collect();
    let auto = |s: &[Cf]| s.iter().map(|x| f64::from(x.norm_sqr())).collect();
    (cross, auto(&m), auto(&k))
}

/// GCC-SCOT of a master against a stem, over bins 1 to 31 (DC and Nyquist left out).
fn gcc(master: &[f32], stem: &[f32]) -> LagPeak {
    let mut fft = Fft::new(N);
    let (cross, auto_m, auto_k) = spectra(&mut fft, master, stem);
    let (mut scratch, mut corr) = (vec![Cf::new(0.0, 0.0); fft.bins()], vec![0.0; N]);
    gcc_peak(
        &mut fft,
        &cross,
        &auto_m,
        &auto_k,
        (1, N / 2),
        20,
        (&mut scratch, &mut corr),
    )
    .unwrap()
}

#[test]
fn an_impulse_7_samples_late_in_the_master_gives_a_lag_of_7() {
    // Stem: impulse at 10; master: at 17. The whitened cross-spectrum is e^(-i w 7) in every
    // bin, whose inverse transform peaks at 7 and is near zero elsewhere (DC and Nyquist are
    // left out). A lone peak among the 41 lags of +/-20 stands sqrt(41) = 6.4 over their RMS.
    let peak = gcc(&impulse(17, 1.0), &impulse(10, 1.0));
    assert_eq!(peak.lag_samples, 7);
    assert!(!peak.inverted);
    assert!(peak.peak_to_rms > 6.3, "{peak:?}");
    assert!(peak.zero_over_peak < 0.1, "{peak:?}");
}

#[test]
fn an_early_inverted_impulse_gives_a_negative_inverted_lag() {
    // Master: -0.5 at 7, stem at 10: 3 samples early, and negative.
    let peak = gcc(&impulse(7, -0.5), &impulse(10, 1.0));
    assert_eq!(peak.lag_samples, -3);
    assert!(peak.inverted);
}

#[test]
fn aligned_signals_peak_at_zero() {
    let peak = gcc(&impulse(20, 0.25), &impulse(20, 1.0));
    assert_eq!(peak.lag_samples, 0);
    assert_eq!(peak.zero_over_peak, 1.0);
}

/// A cross-spectrum of unit magnitude with the phase of a delay of `delay` samples: bin i is
/// `e^(-i w_i delay)` with `w_i = 2 pi i / N`.
fn delayed(delay: f64) -> Vec<Cd> {
    (0..=N / 2)
        .map(|i| {
            Cd::from_polar(
                1.0,
                -2.0 * std::f64::consts::PI * i as f64 / N as f64 * delay,
            )
        })
        .collect()
}

#[test]
fn a_phase_slope_of_0_3_samples_gives_a_fraction_of_0_3() {
    // Phase -w 0.3 in every bin; the least-squares slope through the origin is exactly -0.3,
    // and the delay its negative. Bins 1 to 19 keep |phase| below pi (w_19 0.3 = 0.56).
    let ones = vec![1.0; N / 2 + 1];
    let d = fractional_delay(&delayed(0.3), &ones, &ones, (1, 20), N, false).unwrap();
    assert!((d - 0.3).abs() < 1e-12, "{d}");
    // Inverted: the phase is flipped by pi first, so a negated cross-spectrum reads the same.
    let negated: Vec<Cd> = delayed(0.3).iter().map(|c| -c).collect();
    let d = fractional_delay(&negated, &ones, &ones, (1, 20), N, true).unwrap();
    assert!((d - 0.3).abs() < 1e-12, "{d}");
}

#[test]
fn plain_correlation_is_largest_at_the_true_lag() {
    // At lag 5 every bin of e^(-i w 5) is rotated back to 1: the 31 bins of (1, 32) sum to 31.
    let cross = delayed(5.0);
    let at = |lag| plain_correlation(&cross, (1, N / 2), N, lag);
    assert!((at(5) - 31.0).abs() < 1e-9, "{}", at(5));
    assert!(at(0).abs() < at(5) && at(4) < at(5) && at(6) < at(5));
}

/// Seeded white noise of length [`N`] (a small LCG: the test needs no distribution, only a
/// signal that correlates with itself at lag 0 alone).
fn noise(seed: u32) -> Vec<f32> {
    let mut state = seed;
    (0..N)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect()
}

/// `signal` delayed by `lag` samples, circularly (as one FFT frame sees it).
fn circularly_delayed(signal: &[f32], lag: usize) -> Vec<f32> {
    (0..N).map(|i| signal[(i + N - lag) % N]).collect()
}

/// Whether the stem stays at lag 0 against an isolated master, judged at `lag`.
fn stays(master: &[f32], stem: &[f32], lag: i64) -> bool {
    let mut fft = Fft::new(N);
    let (cross, _, auto) = spectra(&mut fft, master, stem);
    let band = (1, N / 2);
    let (at_zero, at_lag) = (
        plain_correlation(&cross, band, N, 0),
        plain_correlation(&cross, band, N, lag),
    );
    stays_at_its_lag(at_zero, at_lag, &auto, band, N, lag)
}

#[test]
fn a_stem_in_place_beside_something_louder_that_resembles_it_elsewhere_stays() {
    // The master holds the stem itself at 0 and, twice as loud, a copy 9 samples late (a
    // missing return fed by the same source): the plain correlation is higher at 9, but the
    // stem fitted at 0 and 9 together keeps its whole gain at 0.
    let stem = noise(7);
    let echo = circularly_delayed(&stem, 9);
    let master: Vec<f32> = stem.iter().zip(&echo).map(|(s, e)| s + 2.0 * e).collect();
    assert!(stays(&master, &stem, 9));
    // A stem truly 9 samples late keeps nothing at 0, even with another source in the master.
    let other = noise(11);
    let late: Vec<f32> = echo.iter().zip(&other).map(|(e, o)| e + o).collect();
    assert!(!stays(&late, &stem, 9));
    // Half of it at 0 and the rest late: under the -6 dB it takes to stay, it moves.
    let split: Vec<f32> = stem.iter().zip(&echo).map(|(s, e)| 0.4 * s + e).collect();
    assert!(!stays(&split, &stem, 9));
}

/// Whether the stem moves from lag 0 to `lag` against an isolated master.
fn moves(master: &[f32], stem: &[f32], lag: i64) -> bool {
    let mut fft = Fft::new(N);
    let (cross, auto_master, auto_stem) = spectra(&mut fft, master, stem);
    moves_to(&cross, &auto_master, &auto_stem, (1, N / 2), N, lag)
}

/// `a * x + b * y`, sample by sample.
fn mix(a: f32, x: &[f32], b: f32, y: &[f32]) -> Vec<f32> {
    x.iter().zip(y).map(|(x, y)| a * x + b * y).collect()
}

#[test]
fn a_stem_buried_under_something_that_resembles_it_elsewhere_is_not_moved_until_heard() {
    // A return that has barely begun (a trace, -40 dB) beside a louder missing reverb fed by
    // the same sources: the reverb holds something like the stem 9 samples late, and, being
    // diffuse, a little of it at the stem's own lag with the other sign. The plain correlation
    // is higher at 9 and the stem keeps under half its gain at 0 when fitted at both: heard
    // alone, that would move it. But it is 33 dB under the isolated master.
    let source = noise(7);
    let stem: Vec<f32> = source.iter().map(|x| 0.01 * x).collect();
    let reverb = mix(0.3, &circularly_delayed(&source, 9), -0.006, &source);
    let reverb = mix(1.0, &reverb, 0.3, &noise(13));
    let master = mix(1.0, &stem, 1.0, &reverb);
    assert!(!stays(&master, &stem, 9));
    assert!(!moves(&master, &stem, 9));
    // A stem truly 9 samples late beside another source 10 dB louder is heard, and moves...
    let late = circularly_delayed(&source, 9);
    assert!(moves(&mix(1.0, &late, 3.0, &noise(13)), &source, 9));
    // ... but not under one 32 dB louder: it waits until it is heard.
    assert!(!moves(&mix(1.0, &late, 40.0, &noise(13)), &source, 9));
}

#[test]
fn a_lag_matched_nearly_as_well_in_place_moves_only_where_the_phase_agrees() {
    // Measured on a brass stem one sample late (44.1 kHz, 16 bits): the peak one sample away,
    // 0.73 as high at the current lag, the phase slope -1.000 samples.
    let peak = |zero_over_peak: f32| LagPeak {
        lag_samples: -1,
        peak_to_rms: 45.8,
        inverted: false,
        zero_over_peak,
    };
    assert!(lag_moves(&peak(0.73), Some(-1.00002), true));
    // A tonal stem a period away: the slope reads it where it is.
    assert!(!lag_moves(&peak(0.73), Some(-0.02), true));
    assert!(!lag_moves(&peak(0.73), None, true));
    // A clear peak moves on its own; nothing moves that explains no more, or to where it is.
    assert!(lag_moves(&peak(0.3), None, true));
    assert!(!lag_moves(&peak(0.3), Some(-1.0), false));
    let here = LagPeak {
        lag_samples: 0,
        ..peak(1.0)
    };
    assert!(!lag_moves(&here, Some(0.0), true));
}
