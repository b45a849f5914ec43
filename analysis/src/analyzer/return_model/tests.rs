//! The return model on synthetic band envelopes with a known relation in time: a residual
//! that is the sum's envelope smeared forward (a return), smeared backward (the mirror image,
//! impossible for a return), and a part that moves with the sum at the same time plus a life
//! of its own (a dry source).

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::ReturnModel;
use crate::measurements::ReturnFit;
use crate::spectra::Cf;

const BIN_HZ: f32 = 48_000.0 / 8192.0;
const BINS: usize = 4097;
/// Steps (every other frame) fed to the model.
const STEPS: usize = 160;

/// A spectrum whose octave bands from 62.5 Hz hold `energy` (spread over the bins, random
/// phases).
fn spectrum(energy: f64, rng: &mut SmallRng, out: &mut [Cf]) {
    let first = (62.5 / BIN_HZ) as usize;
    let per_bin = (energy / (BINS - first) as f64).sqrt() as f32;
    for (i, bin) in out.iter_mut().enumerate() {
        if i < first {
            *bin = Cf::new(0.0, 0.0);
            continue;
        }
        let phase = rng.gen_range(0.0..std::f32::consts::TAU);
        *bin = Cf::from_polar(per_bin, phase);
    }
}

/// Feeds the model a sum with a random envelope and a residual whose envelope is
/// `residual(sum_envelope, step)`; returns the fit.
fn fit_with(residual: impl Fn(&[f64], usize, &mut SmallRng) -> f64) -> ReturnFit {
    let mut rng = SmallRng::seed_from_u64(7);
    // A bursty envelope: notes and rests, 30 dB of range.
    let envelope: Vec<f64> = (0..STEPS)
        .map(|_| 10f64.powf(rng.gen_range(-3.0..0.0)))
        .collect();
    let mut model = ReturnModel::new(BIN_HZ, 20_000.0);
    let (mut sum, mut res) = (vec![Cf::new(0.0, 0.0); BINS], vec![Cf::new(0.0, 0.0); BINS]);
    for step in 0..STEPS {
        spectrum(envelope[step], &mut rng, &mut sum);
        let r = residual(&envelope, step, &mut rng);
        spectrum(r, &mut rng, &mut res);
        let master: Vec<Cf> = sum.iter().zip(&res).map(|(s, r)| s + r).collect();
        // Only even frames are steps; odd ones are ignored.
        model.push(2 * step as u64, &master, &sum, std::iter::empty(), true);
        model.push(2 * step as u64 + 1, &res, &sum, std::iter::empty(), true);
    }
    model.refit(true);
    model.fit().expect("enough steps")
}

/// A decaying kernel over 7 steps (a reverb's energy decaying 1 dB a step: about 20 dB in
/// 2 s), applied forward (`+1`) or backward (`-1`) in time.
fn smeared(envelope: &[f64], step: usize, direction: i64) -> f64 {
    (0..7i64)
        .map(|k| {
            let at = step as i64 - direction * k;
            if (0..envelope.len() as i64).contains(&at) {
                0.1 * 0.8f64.powi(k as i32) * envelope[at as usize]
            } else {
                0.0
            }
        })
        .sum()
}

#[test]
fn a_return_is_explained_by_the_past_of_the_sum() {
    let fit = fit_with(|e, step, _| smeared(e, step, 1));
    assert!(fit.causal_explained > 0.9, "{fit:?}");
    assert!(fit.causality() > 0.2, "{fit:?}");
}

#[test]
fn the_mirror_image_of_a_return_is_not_one() {
    let fit = fit_with(|e, step, _| smeared(e, step, -1));
    assert!(fit.anticausal_explained > 0.9, "{fit:?}");
    assert!(fit.causality() < -0.2, "{fit:?}");
}

#[test]
fn a_source_moving_with_the_song_is_no_more_causal_than_anticausal() {
    // Half co-moving with the sum at the same step, half a life of its own.
    let fit = fit_with(|e, step, rng| 0.05 * e[step] + 0.05 * 10f64.powf(rng.gen_range(-3.0..0.0)));
    assert!(fit.causality().abs() < 0.05, "{fit:?}");
}

#[test]
fn a_gap_restarts_the_lag_history_and_too_few_rows_give_no_fit() {
    let mut model = ReturnModel::new(BIN_HZ, 20_000.0);
    let mut rng = SmallRng::seed_from_u64(1);
    let mut sum = vec![Cf::new(0.0, 0.0); BINS];
    spectrum(1.0, &mut rng, &mut sum);
    // 12 steps, a gap, 12 steps: never 13 in a row, so no row.
    for step in (0..12).chain(20..32) {
        model.push(2 * step, &sum, &sum, std::iter::empty(), true);
    }
    assert_eq!(model.rows, 0);
    model.refit(true);
    assert!(model.fit().is_none());
    // Steps that are no rows (a dropout) still carry the lag history.
    for step in 32..80 {
        model.push(2 * step, &sum, &sum, std::iter::empty(), step % 2 == 0);
    }
    assert!(model.rows > 0 && model.rows < 48, "{}", model.rows);
}

#[test]
fn a_return_fed_by_one_stem_is_found_through_that_stem() {
    // Two stems with envelopes of their own; the residual trails only the second (a vocal
    // reverb), so the sum's past explains it poorly and the second stem's well.
    let mut rng = SmallRng::seed_from_u64(3);
    let envelopes: [Vec<f64>; 2] = std::array::from_fn(|_| {
        (0..STEPS)
            .map(|_| 10f64.powf(rng.gen_range(-3.0..0.0)))
            .collect()
    });
    let mut model = ReturnModel::new(BIN_HZ, 20_000.0);
    let mut stems = [vec![Cf::new(0.0, 0.0); BINS], vec![Cf::new(0.0, 0.0); BINS]];
    let mut res = vec![Cf::new(0.0, 0.0); BINS];
    for step in 0..STEPS {
        for (stem, envelope) in stems.iter_mut().zip(&envelopes) {
            spectrum(envelope[step], &mut rng, stem);
        }
        let sum: Vec<Cf> = stems[0].iter().zip(&stems[1]).map(|(a, b)| a + b).collect();
        spectrum(smeared(&envelopes[1], step, 1), &mut rng, &mut res);
        let master: Vec<Cf> = sum.iter().zip(&res).map(|(s, r)| s + r).collect();
        model.push(
            2 * step as u64,
            &master,
            &sum,
            stems.iter().map(|s| s.as_slice()),
            true,
        );
    }
    model.refit(true);
    let fit = model.fit().unwrap();
    assert!(fit.causal_explained > 0.9, "{fit:?}");
    assert!(fit.causality() > 0.2, "{fit:?}");
}
