//! The master's phase against the stems that every stem in a band shares: the master-bus EQ's.
//!
//! An EQ on the master bus turns the phase of every stem alike (a high pass at 40 Hz by 90
//! degrees at 40 Hz, more below). The gain fit reads each stem's gain as the real part of its
//! correlation with the master, so a band turned by 90 degrees fits a gain of nearly nothing
//! (-30 dB for a 40 Hz high pass that takes 3 dB there), and what the turn leaves looks like
//! content no stem carries. Read against the band's common phase instead, each stem's gain is
//! its magnitude there, with its polarity: the common phase is taken modulo half a turn
//! (doubled angles, so an inverted stem agrees with the others), and followed from band to band
//! where it is large (a high pass turns the lowest bands past 90 degrees).

use crate::config::{
    COMMON_PHASE_DEAD_BAND_DEG, COMMON_PHASE_MIN_AGREEMENT, COMMON_PHASE_MIN_COHERENCE,
    COMMON_PHASE_SUM_MIN_COHERENCE,
};
use crate::spectra::Cd;

/// A band's phase this far from zero (45 degrees) is followed into the next band past 90
/// degrees; smaller ones are taken as they are (a band of noise must not flip its neighbours).
const FOLLOW_MIN_RAD: f64 = std::f64::consts::FRAC_PI_4;

/// Per band, the phase (radians) that turns the master's correlations with the stems
/// (`correlations[band]`: each stem's master-to-stem cross-spectrum summed over the band) onto
/// the real axis for the stems together, polarity aside; 0 where the band has none or where the
/// stems disagree on it (their doubled angles agree less than [`COMMON_PHASE_MIN_AGREEMENT`]);
/// [`COMMON_PHASE_DEAD_BAND_DEG`] nearer zero than measured, and 0 where no neighbouring band
/// is turned the same way.
///
/// Only bands where the master is the stems' sum through a filter have such a phase: a band
/// whose `coherence` (the master's with the sum, 0 to 1) is under
/// [`COMMON_PHASE_MIN_COHERENCE`] is mostly a part no stem carries (a missing kick's lows),
/// whose chance correlations with the stems have a phase of their own: it is left unturned.
///
/// Where the master is the sum through a filter and nothing else (`coherence` at least
/// [`COMMON_PHASE_SUM_MIN_COHERENCE`]), the filter's phase is read from the master's
/// correlation with the sum itself (`sum_correlations[band]`), polarity aside: a stem's own
/// correlation carries its cross terms with the others, and two stems that cancel each other
/// (a sub inverted against the bass) correlate with the master nearly in quadrature, by far
/// more than the band's sum does (real case: a 56 Hz band turned by 18 degrees where the
/// master was the sum bit for bit, read as 1.7 dB of master EQ).
pub(super) fn common_phases(
    correlations: &[Vec<Cd>],
    sum_correlations: &[Cd],
    coherence: &[f64],
) -> Vec<f64> {
    // Each band's doubled-angle mean (weighted by each correlation's magnitude) and how much
    // of the total magnitude it keeps (1: every stem at one phase, polarity aside).
    let doubled: Vec<(Cd, f64)> = correlations
        .iter()
        .map(|band| {
            let mut z = Cd::new(0.0, 0.0);
            let mut total = 0.0;
            for c in band.iter().filter(|c| c.re.is_finite() && c.im.is_finite()) {
                let norm = c.norm();
                if norm > 0.0 {
                    z += c * c / norm;
                    total += norm;
                }
            }
            (z, total)
        })
        .collect();
    let principal: Vec<Option<f64>> = doubled
        .iter()
        .zip(coherence)
        .enumerate()
        .map(|(b, (&(z, total), &coherence))| {
            let sum = sum_correlations.get(b).copied().unwrap_or_default();
            if total > 0.0 && coherence >= COMMON_PHASE_SUM_MIN_COHERENCE && sum.norm() > 0.0 {
                // The doubled angle halved: the phase modulo half a turn, as below.
                return Some(0.5 * (sum * sum).arg());
            }
            (total > 0.0
                && z.norm() >= COMMON_PHASE_MIN_AGREEMENT * total
                && coherence >= COMMON_PHASE_MIN_COHERENCE)
                .then(|| 0.5 * z.arg())
        })
        .collect();
    let mut phases = vec![0.0; correlations.len()];
    // Follow from the band where the stems' correlations are largest, both ways.
    let Some(start) = (0..doubled.len())
        .filter(|&b| principal[b].is_some())
        .max_by(|&a, &b| doubled[a].1.total_cmp(&doubled[b].1))
    else {
        return phases;
    };
    phases[start] = principal[start].unwrap_or(0.0);
    for order in [
        Box::new(start + 1..doubled.len()) as Box<dyn Iterator<Item = usize>>,
        Box::new((0..start).rev()),
    ] {
        let mut previous = phases[start];
        for b in order {
            let Some(phase) = principal[b] else {
                continue;
            };
            phases[b] = if previous.abs() > FOLLOW_MIN_RAD {
                let turns = ((previous - phase) / std::f64::consts::PI).round();
                phase + turns * std::f64::consts::PI
            } else {
                phase
            };
            previous = phases[b];
        }
    }
    // Within a few degrees of zero, the phase is the estimate's own noise (a clean mix reads
    // up to 2 degrees): a quiet stem that follows a loud one (a reverb return) has a
    // correlation with the master mostly from the loud one, turned a little, which moves its
    // fitted gain by tenths of a dB and what the stems explain by far more than a null's
    // residual. The dead band is taken off every phase, so the phase used stays continuous.
    let dead_band = COMMON_PHASE_DEAD_BAND_DEG.to_radians();
    for phase in &mut phases {
        *phase = phase.signum() * (phase.abs() - dead_band).max(0.0);
    }
    // An EQ turns neighbouring bands alike (its phase is smooth in frequency): a band turned
    // alone, or against both its neighbours, is turned by something else (a missing kick's
    // chance correlation with the bass in the lowest band) and is left unturned.
    let alike = |a: f64, b: f64| a * b > 0.0;
    let isolated: Vec<bool> = (0..phases.len())
        .map(|b| {
            let below = b.checked_sub(1).map(|i| phases[i]);
            let above = phases.get(b + 1).copied();
            phases[b] != 0.0
                && !below.is_some_and(|p| alike(p, phases[b]))
                && !above.is_some_and(|p| alike(p, phases[b]))
        })
        .collect();
    for (phase, isolated) in phases.iter_mut().zip(isolated) {
        if isolated {
            *phase = 0.0;
        }
    }
    phases
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The phases with no correlation with the sum given (the stems' own agreement alone).
    fn phases_of_stems(correlations: &[Vec<Cd>], coherence: &[f64]) -> Vec<f64> {
        common_phases(correlations, &[], coherence)
    }

    fn at(deg: f64, norm: f64) -> Cd {
        Cd::from_polar(norm, deg.to_radians())
    }

    #[test]
    fn an_inverted_stem_agrees_with_the_others_on_the_band_s_phase() {
        let band = vec![at(30.0, 1.0), at(210.0, 2.0), at(30.0, 0.5)];
        let phases = phases_of_stems(&[band.clone(), band], &[1.0; 2]);
        let dead_band = COMMON_PHASE_DEAD_BAND_DEG;
        assert!(
            (phases[0].to_degrees() - (30.0 - dead_band)).abs() < 1e-9,
            "{phases:?}"
        );
    }

    #[test]
    fn a_band_mostly_of_a_part_no_stem_carries_is_left_unturned() {
        let bands = vec![vec![at(40.0, 1.0)]; 2];
        assert!(phases_of_stems(&bands, &[0.95; 2])[0] > 0.5);
        assert_eq!(phases_of_stems(&bands, &[0.5, 0.95]), vec![0.0; 2]);
    }

    #[test]
    fn stems_that_disagree_leave_the_band_unturned() {
        let phases = phases_of_stems(&[vec![at(0.0, 1.0), at(90.0, 1.0)]], &[1.0]);
        assert_eq!(phases, vec![0.0]);
    }

    #[test]
    fn a_high_pass_is_followed_past_ninety_degrees_into_the_low_bands() {
        // The bands from low to high, as a 40 Hz high pass turns them: 124, 109, 90, 66, 40,
        // 10 degrees (the loudest band last). Taken alone, 124 and 109 read as -56 and -71.
        let turned = [124.0, 109.0, 90.0, 66.0, 40.0, 10.0];
        let bands: Vec<Vec<Cd>> = turned
            .iter()
            .enumerate()
            .map(|(b, &deg)| vec![at(deg, 1.0 + b as f64), at(deg + 180.0, 0.1)])
            .collect();
        let phases = phases_of_stems(&bands, &[1.0; 6]);
        for (phase, want) in phases.iter().zip(turned) {
            let want = want - COMMON_PHASE_DEAD_BAND_DEG;
            assert!((phase.to_degrees() - want).abs() < 1e-6, "{phases:?}");
        }
        // Small phases are not followed: -100 beside 10 degrees is -100 + 180.
        let phases = phases_of_stems(&[vec![at(-100.0, 1.0)], vec![at(10.0, 5.0)]], &[1.0; 2]);
        let want = 80.0 - COMMON_PHASE_DEAD_BAND_DEG;
        assert!((phases[0].to_degrees() - want).abs() < 1e-6, "{phases:?}");
        // A band turned alone is not an EQ's.
        let alone = [vec![at(0.0, 1.0)], vec![at(20.0, 1.0)], vec![at(0.0, 5.0)]];
        assert_eq!(phases_of_stems(&alone, &[1.0; 3]), vec![0.0; 3]);
        // A clean mix's few degrees are none.
        assert_eq!(phases_of_stems(&[vec![at(2.0, 1.0)]], &[1.0]), vec![0.0]);
    }

    #[test]
    fn where_the_master_is_the_sum_its_phase_is_the_sum_s_not_the_stems() {
        // Two stems that cancel each other correlate with the master in quadrature (the
        // neighbouring bands alike, so no band is turned alone); the band's sum correlates at
        // 0 degrees, the master being the sum.
        let band = vec![at(117.0, 10.0), at(-44.0, 10.0), at(-3.0, 3.0)];
        let bands = vec![band.clone(), band.clone(), band];
        let turned = phases_of_stems(&bands, &[1.0; 3]);
        assert!(
            turned.iter().all(|p| p.to_degrees().abs() > 10.0),
            "{turned:?}"
        );
        let sums = [at(0.5, 1.0); 3];
        assert_eq!(common_phases(&bands, &sums, &[1.0; 3]), vec![0.0; 3]);
        // A filter's own turn is still read, from the sum, polarity aside.
        let sums = [at(40.0, 1.0), at(220.0, 1.0), at(40.0, 1.0)];
        let phases = common_phases(&bands, &sums, &[0.995; 3]);
        for phase in phases {
            assert!((phase.to_degrees() - (40.0 - COMMON_PHASE_DEAD_BAND_DEG)).abs() < 1e-9);
        }
        // Under the coherence, the stems' agreement decides as before.
        assert_eq!(common_phases(&bands, &sums, &[0.95; 3]), turned);
    }
}
