//! The gain fit on tiny signals, and its linear-algebra helpers.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::config::AnalyzerConfig;
use crate::input::{Block, SignalAudio, StemInput};

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
fn most_agreed_median_takes_the_largest_group_not_the_heaviest() {
    // A bass with half the energy 0.23 samples off three stems that agree: the three.
    let values = [
        (0.0, 0.5),
        (-0.227, 0.25),
        (-0.226, 0.15),
        (-0.229, 0.07),
        (-0.34, 0.003),
    ];
    assert_eq!(most_agreed_median(&values, 0.2), Some(-0.227));
    // No majority: two groups of one, or five values scattered over two samples (a master
    // EQ's phase, seen through each stem's spectrum), the largest group two.
    assert_eq!(most_agreed_median(&[(0.0, 2.0), (0.5, 1.0)], 0.2), None);
    let scattered = [
        (-0.87, 0.1),
        (1.22, 0.03),
        (0.05, 0.03),
        (0.0, 0.19),
        (0.79, 0.68),
    ];
    assert_eq!(most_agreed_median(&scattered, 0.2), None);
    // Two of three agree: their median (halfway between two equal weights).
    let two_of_three = most_agreed_median(&[(0.0, 5.0), (0.3, 1.0), (0.31, 1.0)], 0.2);
    assert!(
        two_of_three.is_some_and(|m| (m - 0.305).abs() < 1e-12),
        "{two_of_three:?}"
    );
    // Non-finite values and empty weights take no part.
    assert_eq!(
        most_agreed_median(&[(f64::NAN, 1.0), (0.1, 0.0), (0.3, 1.0)], 0.2),
        Some(0.3)
    );
    assert_eq!(most_agreed_median(&[], 0.2), None);
}

#[test]
fn solve_solves() {
    // 2x + y = 5, x + 3y = 10 -> x = 1, y = 3
    let mut a = vec![2.0, 1.0, 1.0, 3.0];
    let mut b = vec![5.0, 10.0];
    let x = solve(&mut a, &mut b, 2).unwrap();
    assert!((x[0] - 1.0).abs() < 1e-12 && (x[1] - 3.0).abs() < 1e-12);
}

/// Three stems of independent seeded noise at 8 kHz (frames of 2048 samples), and a master
/// that holds them at `gains`; the fit after two seconds.
fn fit_of(gains: [f32; 3]) -> GainFit {
    fit_of_levels([0.3; 3], gains)
}

/// As [`fit_of`], with stem `k`'s noise uniform in +/-`peaks[k]`.
fn fit_of_levels(peaks: [f32; 3], gains: [f32; 3]) -> GainFit {
    const RATE: f32 = 8_000.0;
    let len = 2 * RATE as usize;
    let mut rng = SmallRng::seed_from_u64(5);
    let stems: Vec<Vec<f32>> = peaks
        .iter()
        .map(|&p| (0..len).map(|_| rng.gen_range(-p..p)).collect())
        .collect();
    let master: Vec<f32> = (0..len)
        .map(|i| (0..3).map(|k| gains[k] * stems[k][i]).sum())
        .collect();
    fit_of_master(&stems, &master)
}

/// The fit after two seconds of `stems` at 8 kHz (frames of 2048 samples) against `master`.
fn fit_of_master(stems: &[Vec<f32>], master: &[f32]) -> GainFit {
    analyzer_of(stems, master).fit_gains()
}

/// The analyzer after `stems` at 8 kHz (frames of 2048 samples) against `master`.
fn analyzer_of(stems: &[Vec<f32>], master: &[f32]) -> Analyzer {
    const RATE: f32 = 8_000.0;
    let len = master.len();
    let mut analyzer = Analyzer::new(RATE, AnalyzerConfig::default());
    let inputs: Vec<StemInput<'_>> = stems
        .iter()
        .enumerate()
        .map(|(k, s)| StemInput {
            id: k as u32,
            audio: Some(SignalAudio::mono(s)),
        })
        .collect();
    analyzer.process(&Block {
        num_frames: len,
        master: Some(SignalAudio::mono(master)),
        stems: &inputs,
    });
    assert!(
        analyzer.welch.frames >= 3,
        "{} frames",
        analyzer.welch.frames
    );
    analyzer
}

/// Three stems of seeded noise, uniform in +/-0.3, `len` samples each.
fn noise_stems(rng: &mut SmallRng, len: usize) -> Vec<Vec<f32>> {
    (0..3)
        .map(|_| (0..len).map(|_| rng.gen_range(-0.3f32..0.3)).collect())
        .collect()
}

#[test]
fn a_band_a_master_high_pass_turns_fits_its_magnitude() {
    // Three stems of noise at unity, the master through a second-order high pass at 200 Hz
    // (8 kHz, 4 s). At the corner the filter takes 3 dB and turns the phase by 90 degrees:
    // the real part of each stem's correlation with the master is nearly nothing there: read
    // unturned, the 160 Hz band fitted -15.9 dB where the filter takes 5.4.
    const RATE: f64 = 8_000.0;
    const CORNER_HZ: f64 = 200.0;
    let len = 4 * RATE as usize;
    let mut rng = SmallRng::seed_from_u64(11);
    let stems = noise_stems(&mut rng, len);
    // RBJ's high pass, Q = 1/sqrt 2.
    let w0 = 2.0 * std::f64::consts::PI * CORNER_HZ / RATE;
    let alpha = w0.sin() / std::f64::consts::SQRT_2;
    let (b0, b1, a0, a1, a2) = (
        (1.0 + w0.cos()) / 2.0,
        -(1.0 + w0.cos()),
        1.0 + alpha,
        -2.0 * w0.cos(),
        1.0 - alpha,
    );
    let (mut x1, mut x2, mut y1, mut y2) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let master: Vec<f32> = (0..len)
        .map(|i| {
            let x: f64 = stems.iter().map(|s| f64::from(s[i])).sum();
            let y = (b0 * x + b1 * x1 + b0 * x2 - a1 * y1 - a2 * y2) / a0;
            (x2, x1, y2, y1) = (x1, x, y1, y);
            y as f32
        })
        .collect();
    let analyzer = analyzer_of(&stems, &master);
    let fit = analyzer.fit_gains();
    let magnitude_db = |hz: f64| {
        let w = hz / CORNER_HZ;
        10.0 * (w.powi(4) / ((1.0 - w * w).powi(2) + 2.0 * w * w)).log10()
    };
    let mut checked = 0;
    for (band, (&db, &weight)) in analyzer
        .layout
        .bands
        .iter()
        .zip(fit.band_db.iter().zip(&fit.band_weight))
    {
        let hz = f64::from(band.centre_hz);
        if weight > 0.0 && (150.0..=400.0).contains(&hz) {
            let want = magnitude_db(hz);
            assert!(
                (f64::from(db) - want).abs() < 1.5,
                "{hz:.0} Hz: fitted {db:.1} dB, the filter {want:.1} dB"
            );
            checked += 1;
        }
    }
    assert!(checked >= 3, "{checked} bands checked");
    assert!(
        fit.stem_db.iter().all(|g| g.abs() < 0.5),
        "{:?}",
        fit.stem_db
    );
    assert_eq!(fit.stem_inverted, vec![false; 3]);
}

#[test]
fn a_band_mostly_of_a_part_no_stem_carries_speaks_little_for_a_stem_s_gain() {
    // Three stems of white noise at unity in the master (8 s at 8 kHz), plus a part no stem
    // carries that holds some of stem 1 (+0.6 of it: a chance correlation, exaggerated) under
    // twice as much of its own, both through a first difference (a high-tilted part: nothing
    // at DC, +6 dB at Nyquist). In the top bands stem 1 fits well above unity, but there the
    // stems explain a small share of the master: stem 1's gain is mostly its other bands'.
    // Measured: +0.62 dB; weighted by the stems' shares alone, +1.21 dB.
    const RATE: f32 = 8_000.0;
    let len = 8 * RATE as usize;
    let mut rng = SmallRng::seed_from_u64(7);
    let stems = noise_stems(&mut rng, len);
    let own: Vec<f32> = (0..len).map(|_| rng.gen_range(-0.6f32..0.6)).collect();
    let part: Vec<f32> = (0..len).map(|i| 0.6 * stems[1][i] + own[i]).collect();
    let master: Vec<f32> = (0..len)
        .map(|i| {
            let high = part[i] - if i > 0 { part[i - 1] } else { 0.0 };
            stems.iter().map(|s| s[i]).sum::<f32>() + high
        })
        .collect();
    let fit = fit_of_master(&stems, &master);
    assert!(fit.stem_db[1].abs() < 0.8, "{:?}", fit.stem_db);
}

#[test]
fn a_stem_at_half_gain_fits_half_gain() {
    // Stem 0 at 0.5 (20 log10 0.5 = -6.02 dB), the others at 1: the stem effects are centred
    // on their weighted median (0 dB, the two stems at unity), so stem 0 reads -6.02 dB, the
    // others 0 dB, and the bus 0 dB.
    let fit = fit_of([0.5, 1.0, 1.0]);
    assert!((fit.stem_db[0] + 6.0206).abs() < 0.01, "{:?}", fit.stem_db);
    assert!(fit.stem_db[1].abs() < 0.01 && fit.stem_db[2].abs() < 0.01);
    assert!(fit.bus_gain_db.abs() < 0.01, "{}", fit.bus_gain_db);
    assert_eq!(fit.stem_inverted, vec![false; 3]);
    assert_eq!(fit.stem_fitted, vec![true; 3]);
}

#[test]
fn a_master_at_half_gain_is_the_bus_not_the_stems() {
    // Every stem at 0.5 in the master: stem effects 0 dB (the median takes it all), the bus
    // -6.02 dB in every band and broadband.
    let fit = fit_of([0.5, 0.5, 0.5]);
    assert!(
        fit.stem_db.iter().all(|g| g.abs() < 0.01),
        "{:?}",
        fit.stem_db
    );
    assert!(
        (fit.bus_gain_db + 6.0206).abs() < 0.01,
        "{}",
        fit.bus_gain_db
    );
    assert!(fit.band_db.iter().all(|g| (g + 6.0206).abs() < 0.05));
}

#[test]
fn an_inverted_stem_fits_negative() {
    // -1 in the master: 0 dB of gain, polarity inverted.
    let fit = fit_of([1.0, -1.0, 1.0]);
    assert_eq!(fit.stem_inverted, vec![false, true, false]);
    assert!(
        fit.stem_db.iter().all(|g| g.abs() < 0.01),
        "{:?}",
        fit.stem_db
    );
}

#[test]
fn the_split_takes_what_most_stems_agree_on() {
    // Three stems agree on 0 dB, one is 6 dB hot: that one is off, not the bus.
    let offset = parsimonious_offset(&[1.0, 1.02, 0.98, -5.0], 0.0, false).unwrap();
    assert!((offset - 1.0).abs() < 1e-9, "{offset}");
    // Counted per stem: two agree against one, whatever their levels.
    let offset = parsimonious_offset(&[-6.0, 0.03, -0.03], 2.0, false).unwrap();
    assert!(offset.abs() < 1e-9, "{offset}");
    // Two stems that disagree: the split that leaves the bus nearest 0 dB (bus before the
    // split -3 dB: offset +3 dB makes it 0 and blames the other stem).
    let offset = parsimonious_offset(&[3.0, -3.0], -3.0, false).unwrap();
    assert!((offset - 3.0).abs() < 1e-9, "{offset}");
    let offset = parsimonious_offset(&[3.0, -3.0], 3.0, false).unwrap();
    assert!((offset + 3.0).abs() < 1e-9, "{offset}");
    assert_eq!(parsimonious_offset(&[], 0.0, false), None);
}

#[test]
fn a_hot_loud_stem_is_the_stem_not_the_bus_and_the_others() {
    // The loudest stem (16 dB above the others) sits at 0.5 (-6.02 dB) in the master, the two
    // quiet ones at unity: one defect (the loud stem at -6.02 dB), not a bus at -6.02 dB and
    // two stems at +6.02 dB (what centring on the energy-weighted median said).
    let fit = fit_of_levels([0.6, 0.1, 0.1], [0.5, 1.0, 1.0]);
    assert!((fit.stem_db[0] + 6.0206).abs() < 0.02, "{:?}", fit.stem_db);
    assert!(fit.stem_db[1].abs() < 0.02 && fit.stem_db[2].abs() < 0.02);
    assert!(fit.bus_gain_db.abs() < 0.02, "{}", fit.bus_gain_db);
}

#[test]
fn a_gain_that_explains_nothing_is_unity() {
    // -1.52 dB (0.839) on a stem 60 dB under the master: the deviation explains
    // -60 + 20 log10(0.161) = -75.9 dB of the master, under the -70 dB null: shown as unity.
    let explains = -60.0 + 20.0 * (1.0f32 - 0.839).log10();
    assert!(explains < -75.0 && explains > -77.0);
    assert_eq!(gain_that_matters(0.839, explains), 1.0);
    // The same gain on a stem 20 dB under the master explains -35.9 dB: shown.
    assert_eq!(gain_that_matters(0.839, explains + 40.0), 0.839);
    // An inversion of a near-silent stem is no polarity either.
    assert_eq!(gain_that_matters(-1.0, -90.0), 1.0);
}

/// The side-by-side Gram entries give each lane the bits of a plain sum in bin order, for any
/// length (whole vectors and a remainder).
#[test]
fn side_by_side_dot_products_match_the_plain_sums_to_the_bit() {
    let mut rng = SmallRng::seed_from_u64(7);
    let mut spectrum = |len: usize| -> Vec<Cf> {
        (0..len)
            .map(|_| Cf::new(rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)))
            .collect()
    };
    let x = spectrum(131);
    let ys: Vec<Vec<Cf>> = (0..GRAM_LANES).map(|_| spectrum(131)).collect();
    for len in [0, 1, 3, 4, 5, 64, 131] {
        let acc = dot_lanes(&x[..len], std::array::from_fn(|l| &ys[l][..len]));
        for (l, y) in ys.iter().enumerate() {
            let plain: f32 = x[..len]
                .iter()
                .zip(y)
                .map(|(a, b)| a.re * b.re + a.im * b.im)
                .sum();
            assert_eq!(acc[l].to_bits(), plain.to_bits(), "lane {l}, {len} bins");
        }
    }
}

#[test]
fn a_compressor_s_spread_is_agreement_when_the_fit_holds_the_master() {
    // The lantern held-out case, under a master limiter driven 2 dB: four stems spread over
    // 1.3 dB (each by how much it plays in the loud passages), the Piano 3 dB hot 1.8 dB under
    // the lowest of them. No two agree within 0.1 dB.
    let stems = [6.27, 7.38, 4.51, 7.53, 7.05];
    // The fit holds the master (99.7% of it): the four agree, the Piano is the stem that is off.
    let offset = parsimonious_offset(&stems, 1.19, true).unwrap();
    assert!((offset - 7.215).abs() < 1e-9, "{offset}");
    assert!(stems[2] - offset < -2.5);
    // A fit that does not (stems misaligned: 13% of it) reads no spread: the stem nearest a
    // bus at 0 dB, as with two stems that disagree.
    let offset = parsimonious_offset(&stems, 1.19, false).unwrap();
    assert!((offset - 4.51).abs() < 1e-9, "{offset}");
    // Two stems of three that agree within 0.1 dB decide, spread or not.
    let offset = parsimonious_offset(&[1.0, 1.05, 1.9], 0.0, true).unwrap();
    assert!((offset - 1.025).abs() < 1e-9, "{offset}");
}
