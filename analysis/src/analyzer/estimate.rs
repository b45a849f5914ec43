//! Estimates from the accumulators and the fit: the master bus's gain and EQ and the residual
//! they explain, each stem's gain, polarity and the residual its gain and offset explain, and
//! the bands of the spectrum view.

use wide::f64x2;

use crate::config::{EQ_SHAPE_MIN_EXPLAINED, FLOOR_MARGIN_DB};
use crate::decibels::{amplitude_to_db, db_to_gain, db_to_power, energy_ratio_db};
use crate::measurements::{BandMeasurement, Measurements, StemMeasurements};
use crate::spectra::Cd;

use super::Analyzer;
use super::fit::{GainFit, gain_that_matters, weighted_median};
use super::stems::Stem;

impl Analyzer {
    /// The master bus's broadband gain, its EQ (the largest band deviation) and the residual
    /// each explains; `betas` are the bins' bus gains ([`Analyzer::bin_bus_gains`]).
    pub(super) fn measure_bus(
        &self,
        fit: &GainFit,
        betas: &[f64],
        sum_pmm: f64,
        m: &mut Measurements,
    ) {
        let rel = energy_ratio_db;
        let bus_gain_db =
            broadband_gain_db(&fit.band_db, &fit.band_weight).unwrap_or(fit.bus_gain_db);
        let bus_gain = db_to_gain(f64::from(bus_gain_db));
        let (lo, hi) = self.layout.analysis_bins;

        // A band shapes the EQ's phase model (`frame_gain.rs`) where it holds real energy and
        // the stems explain most of its master (a band mostly of a missing kick fits a gain by
        // chance).
        let speaks: Vec<bool> = self
            .layout
            .bands
            .iter()
            .zip(fit.band_weight.iter().zip(&fit.band_explained))
            .map(|(band, (&w, &explained))| {
                let r = band.first_bin..band.end_bin.min(self.welch.pmm.len());
                let pmm: f64 = self.welch.pmm[r].iter().sum();
                w > 0.0 && (explained.is_nan() || explained >= EQ_SHAPE_MIN_EXPLAINED * pmm)
            })
            .collect();
        // EQ: the largest band deviation, and the residual it explains.
        let mut eq = (0.0f32, (0.0f32, 0.0f32));
        for (band, (&g, &w)) in self
            .layout
            .bands
            .iter()
            .zip(fit.band_db.iter().zip(&fit.band_weight))
        {
            if w > 0.0 && (g - bus_gain_db).abs() > eq.0.abs() {
                eq = (g - bus_gain_db, (band.low_hz, band.high_hz));
            }
        }
        // The EQ's magnitude, and its phase as a minimum-phase filter of that magnitude
        // (`eq_phase.rs`: what a bus EQ of bell, shelf and pass filters does): it turns the
        // phase of the loud bands too (a high shelf at 5 kHz by a degree or two at 500 Hz),
        // which on a dark mix leaves more than its magnitude does where it boosts or cuts. A
        // return's coherent part has a phase too, but no magnitude deviation to go with it.
        let eq_energy: f64 = (lo..hi)
            .map(|i| {
                let phase = f64::from(self.bus.eq_phase.get(i).copied().unwrap_or(0.0));
                (Cd::from_polar(betas[i], phase) - bus_gain).norm_sqr() * self.welch.pss[i]
            })
            .sum();
        let gain_energy: f64 = (lo..hi)
            .map(|i| (bus_gain - 1.0).powi(2) * self.welch.pss[i])
            .sum();
        let at_gain: f64 = (lo..hi)
            .map(|i| {
                let w = &self.welch;
                (w.pmm[i] - 2.0 * bus_gain * w.pms[i].re + bus_gain * bus_gain * w.pss[i]).max(0.0)
            })
            .sum();
        m.bus_gain_db = bus_gain_db;
        m.bus_band_gain_db = fit.band_db.clone();
        m.bus_band_speaks = speaks;
        m.bus_eq_max_db = eq.0;
        m.bus_eq_beyond_dynamics_db = self.eq_beyond_dynamics_db(fit);
        m.bus_eq_band_hz = eq.1;
        m.bus_eq_explains_db = rel(eq_energy, sum_pmm);
        m.bus_gain_explains_db = rel(gain_energy, sum_pmm);
        m.residual_at_bus_gain_db = rel(at_gain, sum_pmm);
    }

    /// The largest band deviation from the broadband gain beyond the bias what no stem explains
    /// in that band could give its fit ([`unexplained_bias_db`]), sign kept: the EQ where the
    /// stems explain the master (a 2 dB high shelf at 6 kHz beside a missing guitar, whose
    /// residual was 16 dB over the shelf's), in the bands that speak for the EQ. A missing
    /// part that plays with the others (the same chords, the same onsets) correlates with the
    /// sum a little in its own bands and moves their fit: 0.7 dB at 400 Hz where 36% of the
    /// master was a missing guitar's.
    pub(super) fn measure_credible_eq(
        &self,
        fit: &GainFit,
        unexplained: &[f64],
        m: &mut Measurements,
    ) {
        let mut credible = 0.0f32;
        for ((band, (&g, &w)), &speaks) in self
            .layout
            .bands
            .iter()
            .zip(fit.band_db.iter().zip(&fit.band_weight))
            .zip(&m.bus_band_speaks)
        {
            let r = band.first_bin..band.end_bin.min(self.welch.pmm.len());
            let pmm: f64 = self.welch.pmm[r.clone()].iter().sum();
            // Only where the stems explain most of the master (`bus_band_speaks`): a missing
            // part locked to a stem (a kick to the bass) is coherent with the sum, so it is not
            // in what no stem explains, and moved the fit at 40 Hz by 7.5 dB.
            if w <= 0.0 || pmm <= 0.0 || !speaks {
                continue;
            }
            let share = unexplained[r].iter().sum::<f64>() / pmm;
            let deviation = g - m.bus_gain_db;
            let beyond = (deviation.abs() - unexplained_bias_db(share)).max(0.0);
            if beyond > credible.abs() {
                credible = beyond.copysign(deviation);
            }
        }
        m.bus_eq_credible_db = credible;
    }

    /// The largest deviation from the broadband gain of a band that holds real energy, once
    /// each band's share of the frame-to-frame gain is taken out: per band, the frame gain
    /// averaged over where the band's energy lies in time (`Welch::pss_gain` over `pss`), in
    /// dB, off the band's fitted gain; the broadband gain of what is left is their median, as
    /// for the bus gain.
    fn eq_beyond_dynamics_db(&self, fit: &GainFit) -> f32 {
        let static_db: Vec<f32> = self
            .layout
            .bands
            .iter()
            .zip(&fit.band_db)
            .map(|(band, &g)| {
                let r = band.first_bin..band.end_bin.min(self.welch.pss.len());
                let pss: f64 = self.welch.pss[r.clone()].iter().sum();
                let weighted: f64 = self.welch.pss_gain[r].iter().sum();
                if pss > 0.0 && weighted > 0.0 {
                    g - amplitude_to_db(weighted / pss)
                } else {
                    g
                }
            })
            .collect();
        let Some(broadband) = broadband_gain_db(&static_db, &fit.band_weight) else {
            return 0.0;
        };
        static_db
            .iter()
            .zip(&fit.band_weight)
            .filter(|(_, w)| **w > 0.0)
            .map(|(&g, _)| g - broadband)
            .fold(
                0.0f32,
                |most, d| if d.abs() > most.abs() { d } else { most },
            )
    }

    /// The bands of the spectrum view: master, sum, residual, transfer function, coherence and
    /// what no stem explains, per 1/3-octave band.
    pub(super) fn band_view(&self, unexplained: &[f64]) -> Vec<BandMeasurement> {
        let rel = energy_ratio_db;
        let db = amplitude_to_db;
        let window_power: f64 = self.fft.window.iter().map(|w| f64::from(w * w)).sum();
        let scale = 2.0 / (self.layout.frame_len as f64 * window_power * self.welch.frames as f64);
        self.layout
            .bands
            .iter()
            .map(|band| {
                let r = band.first_bin..band.end_bin.min(self.welch.pmm.len());
                let pmm: f64 = self.welch.pmm[r.clone()].iter().sum();
                let pss: f64 = self.welch.pss[r.clone()].iter().sum();
                let pms: Cd = self.welch.pms[r.clone()].iter().sum();
                let prr = (pmm + pss - 2.0 * pms.re).max(0.0);
                let coherence: f64 = if pmm > 0.0 && pss > 0.0 {
                    self.welch.pms[r.clone()]
                        .iter()
                        .map(|c| c.norm_sqr())
                        .sum::<f64>()
                        / self.welch.pss[r.clone()]
                            .iter()
                            .zip(&self.welch.pmm[r.clone()])
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
            .collect()
    }

    /// Each stem's offset, gain, polarity, its energy in the master, and the residual its gain
    /// and its offset explain.
    pub(super) fn measure_stems(
        &self,
        fit: &GainFit,
        betas: &[f64],
        common_lag: i64,
        sum_pmm: f64,
    ) -> Vec<StemMeasurements> {
        let rel = energy_ratio_db;
        let (lo, hi) = self.layout.analysis_bins;
        let offsets = self.stem_offsets(common_lag);
        // One pass over each stem's spectra (with hundreds of stems they come from memory, not
        // cache): the least-squares gain at the stem's fractional delay, its energy in the
        // master, and what its offset costs. Two stems side by side: each pass waits on its
        // phase rotation, bin after bin.
        let bin_omega = 2.0 * std::f64::consts::PI / self.layout.frame_len as f64;
        let turns: Vec<Turns> = offsets
            .iter()
            .map(|&(offset, delta)| Turns {
                delay: rotation(bin_omega * delta, lo),
                offset: rotation(bin_omega * offset, lo),
            })
            .collect();
        let mut sums = Vec::with_capacity(self.stems.len());
        for (stems, turns) in self.stems.chunks(2).zip(turns.chunks(2)) {
            match (stems, turns) {
                ([a, b], [ta, tb]) => {
                    sums.extend(stem_sums_pair([a, b], [*ta, *tb], betas, (lo, hi)));
                }
                _ => {
                    for (stem, t) in stems.iter().zip(turns) {
                        sums.push(stem_sums(stem, *t, betas, (lo, hi)));
                    }
                }
            }
        }
        let stem_floor = self.floor_per_bin(self.stem_floor_power())
            * (hi - lo) as f64
            * db_to_power(f64::from(FLOOR_MARGIN_DB));
        self.stems
            .iter()
            .enumerate()
            .map(|(k, stem)| {
                let mut out = stem.basic_measurements(common_lag);
                let (offset, _) = offsets[k];
                out.offset_samples = offset;
                // Others at the bus's gain; this stem's own gain is what is left.
                let StemSums {
                    num,
                    den,
                    stem_energy,
                    offset_energy,
                } = sums[k];
                let offset_energy = 2.0 * offset_energy;
                // A stem at its own noise floor (a 16-bit stem before its part comes in) has
                // no gain to measure: its dither's chance correlation with the master fitted
                // any gain, of either sign, and a sign turned the residual's character.
                let measurable = stem_energy > stem_floor;
                let mut gain = if den > 0.0 && measurable {
                    num / den
                } else {
                    1.0
                };
                // With the joint per-band fit, its stem effect is the better estimate.
                if !self.welch.gram.is_empty() && fit.stem_fitted[k] {
                    gain = db_to_gain(f64::from(fit.stem_db[k]));
                    if fit.stem_inverted[k] {
                        gain = -gain;
                    }
                }
                let gain =
                    gain_that_matters(gain, rel((gain - 1.0).powi(2) * stem_energy, sum_pmm));
                out.gain_db = amplitude_to_db(gain.abs());
                out.inverted = gain < 0.0;
                out.energy_share_db = rel(stem_energy, sum_pmm);
                out.gain_explains_db = rel((gain - 1.0).powi(2) * stem_energy, sum_pmm);
                out.offset_explains_db = rel(offset_energy, sum_pmm);
                out
            })
            .collect()
    }
}

/// A stem's phase rotations for [`Analyzer::measure_stems`]: at its fractional delay and at its
/// offset, each as the first bin's rotation and the step to the next ([`rotation`]).
#[derive(Clone, Copy)]
struct Turns {
    delay: (Cd, Cd),
    offset: (Cd, Cd),
}

/// What one pass over a stem's accumulators gives [`Analyzer::measure_stems`].
#[derive(Clone, Copy, Debug, PartialEq)]
struct StemSums {
    /// The least-squares gain's numerator and denominator at the stem's fractional delay.
    num: f64,
    den: f64,
    /// The stem's energy in the master, at the bus's gains.
    stem_energy: f64,
    /// What the stem's offset costs, before doubling.
    offset_energy: f64,
}

/// [`StemSums`] of one stem over bins `[lo, hi)`, `betas` the bins' bus gains.
fn stem_sums(stem: &Stem, turns: Turns, betas: &[f64], (lo, hi): (usize, usize)) -> StemSums {
    let ((mut rot, step), (mut off_rot, off_step)) = (turns.delay, turns.offset);
    let (mut num, mut den, mut stem_energy, mut offset_energy) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for (((pmk, psk), &pkk), &beta) in stem.pmk[lo..hi]
        .iter()
        .zip(&stem.psk[lo..hi])
        .zip(&stem.pkk[lo..hi])
        .zip(&betas[lo..hi])
    {
        let weighted = beta * beta * pkk;
        num += pmk.re * rot.re - pmk.im * rot.im - (psk.re - pkk) * beta;
        den += beta * pkk;
        stem_energy += weighted;
        offset_energy += (1.0 - off_rot.re) * weighted;
        rot *= step;
        off_rot *= off_step;
    }
    StemSums {
        num,
        den,
        stem_energy,
        offset_energy,
    }
}

/// [`stem_sums`] of two stems at once, one to a vector lane: each lane does the scalar pass's
/// operations in its order (the rotations as `num_complex`'s `*=`), so the same bits.
fn stem_sums_pair(
    stems: [&Stem; 2],
    turns: [Turns; 2],
    betas: &[f64],
    (lo, hi): (usize, usize),
) -> [StemSums; 2] {
    let n = hi.saturating_sub(lo);
    let betas = &betas[lo..lo + n];
    let pmk = stems.map(|s| &s.pmk[lo..lo + n]);
    let psk = stems.map(|s| &s.psk[lo..lo + n]);
    let pkk = stems.map(|s| &s.pkk[lo..lo + n]);
    let [a, b] = turns;
    let (mut rot_re, mut rot_im) = (
        f64x2::new([a.delay.0.re, b.delay.0.re]),
        f64x2::new([a.delay.0.im, b.delay.0.im]),
    );
    let (step_re, step_im) = (
        f64x2::new([a.delay.1.re, b.delay.1.re]),
        f64x2::new([a.delay.1.im, b.delay.1.im]),
    );
    let (mut off_re, mut off_im) = (
        f64x2::new([a.offset.0.re, b.offset.0.re]),
        f64x2::new([a.offset.0.im, b.offset.0.im]),
    );
    let (off_step_re, off_step_im) = (
        f64x2::new([a.offset.1.re, b.offset.1.re]),
        f64x2::new([a.offset.1.im, b.offset.1.im]),
    );
    let one = f64x2::splat(1.0);
    let [mut num, mut den, mut stem_energy, mut offset_energy] = [f64x2::ZERO; 4];
    for i in 0..n {
        let beta = f64x2::splat(betas[i]);
        let k = f64x2::new([pkk[0][i], pkk[1][i]]);
        let (m_re, m_im) = (
            f64x2::new([pmk[0][i].re, pmk[1][i].re]),
            f64x2::new([pmk[0][i].im, pmk[1][i].im]),
        );
        let s_re = f64x2::new([psk[0][i].re, psk[1][i].re]);
        let weighted = beta * beta * k;
        num += m_re * rot_re - m_im * rot_im - (s_re - k) * beta;
        den += beta * k;
        stem_energy += weighted;
        offset_energy += (one - off_re) * weighted;
        // `rot *= step`: re = re c - im d, im = im c + re d.
        let was = rot_re;
        rot_re = rot_re * step_re - rot_im * step_im;
        rot_im = rot_im * step_re + was * step_im;
        let was = off_re;
        off_re = off_re * off_step_re - off_im * off_step_im;
        off_im = off_im * off_step_re + was * off_step_im;
    }
    let [num, den, stem_energy, offset_energy] =
        [num, den, stem_energy, offset_energy].map(|v| v.to_array());
    [0, 1].map(|l| StemSums {
        num: num[l],
        den: den[l],
        stem_energy: stem_energy[l],
        offset_energy: offset_energy[l],
    })
}

/// The master bus's broadband gain from its per-band gains, in dB: the median over the bands
/// that hold real energy (`band_weight > 0`), each band one vote. A gain moves every band
/// alike; an EQ (a bell, a shelf) moves some, and the bands it leaves alone are the broadband
/// gain, however loud the band it moves (an energy-weighted mean would turn a bass shelf into
/// a broadband gain beside the EQ). `None` without such a band.
fn broadband_gain_db(band_db: &[f32], band_weight: &[f64]) -> Option<f32> {
    let votes: Vec<(f64, f64)> = band_db
        .iter()
        .zip(band_weight)
        .filter(|(_, w)| **w > 0.0)
        .map(|(&g, _)| (f64::from(g), 1.0))
        .collect();
    weighted_median(&votes).map(|g| g as f32)
}

/// The phase rotation `e^(i * omega * first)` of a first bin and the step `e^(i * omega)` to
/// the next.
fn rotation(omega: f64, first: usize) -> (Cd, Cd) {
    (
        Cd::from_polar(1.0, omega * first as f64),
        Cd::from_polar(1.0, omega),
    )
}

/// The most a part of the master that no stem explains, holding `share` (0 to 1) of a band's
/// energy, can move the band's fitted gain by, in dB: wholly in phase with the sum, its
/// amplitude `sqrt(share / (1 - share))` of the explained part's adds to the fitted gain
/// (`20 log10(1 + that)`; 0.27 dB at a share of -30 dB, 6 dB at half). Infinite at a share of 1.
pub(super) fn unexplained_bias_db(share: f64) -> f32 {
    let share = share.clamp(0.0, 1.0);
    if share >= 1.0 {
        return f32::INFINITY;
    }
    (20.0 * (1.0 + (share / (1.0 - share)).sqrt()).log10()) as f32
}

#[cfg(test)]
mod tests {
    use super::{
        StemSums, Turns, broadband_gain_db, rotation, stem_sums, stem_sums_pair,
        unexplained_bias_db,
    };
    use crate::Analyzer;
    use crate::config::AnalyzerConfig;
    use crate::spectra::Cd;

    /// The bias bound against its closed form: a part holding `share` of a band adds
    /// `sqrt(share / (1 - share))` of the rest's amplitude at most.
    #[test]
    fn what_no_stem_explains_bounds_the_bias_of_a_band_fit() {
        // -30 dB: 1 + 0.0316 -> 0.271 dB; half: 1 + 1 -> 6.02 dB; all: no bound.
        assert!((unexplained_bias_db(0.001) - 0.2706).abs() < 1e-3);
        assert!((unexplained_bias_db(0.5) - 6.0206).abs() < 1e-3);
        assert_eq!(unexplained_bias_db(0.0), 0.0);
        assert_eq!(unexplained_bias_db(1.0), f32::INFINITY);
        // A missing guitar's 36% at 400 Hz bounds the band's fit at 4.9 dB: its 0.7 dB there
        // is within it.
        assert!(unexplained_bias_db(0.36) > 4.8 && unexplained_bias_db(0.36) < 5.0);
    }

    /// Two stems side by side give each the bits of its own pass, whatever the band.
    #[test]
    fn two_stems_at_once_sum_as_each_alone() {
        let mut analyzer = Analyzer::new(48_000.0, AnalyzerConfig::default());
        analyzer.set_stem_name(1, "One");
        analyzer.set_stem_name(2, "Two");
        let mut seed = 3u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f64 / (1u32 << 24) as f64 * 2.0 - 1.0
        };
        for stem in &mut analyzer.stems {
            for ((m, s), k) in stem.pmk.iter_mut().zip(&mut stem.psk).zip(&mut stem.pkk) {
                *m = Cd::new(next(), next());
                *s = Cd::new(next(), next());
                *k = next().abs();
            }
        }
        let bins = analyzer.stems[0].pkk.len();
        let betas: Vec<f64> = (0..bins).map(|_| 1.0 + 0.1 * next()).collect();
        let omega = 2.0 * std::f64::consts::PI / 8192.0;
        for band in [(5, 2730), (5, 6), (100, 100), (0, bins)] {
            let turns = [(0.3, -2.0), (-0.45, 7.0)].map(|(delta, offset): (f64, f64)| Turns {
                delay: rotation(omega * delta, band.0),
                offset: rotation(omega * offset, band.0),
            });
            let [a, b] = [&analyzer.stems[0], &analyzer.stems[1]];
            let pair = stem_sums_pair([a, b], turns, &betas, band);
            let alone: [StemSums; 2] = [
                stem_sums(a, turns[0], &betas, band),
                stem_sums(b, turns[1], &betas, band),
            ];
            let bits =
                |s: &StemSums| [s.num, s.den, s.stem_energy, s.offset_energy].map(f64::to_bits);
            assert_eq!(pair.map(|s| bits(&s)), alone.map(|s| bits(&s)), "{band:?}");
        }
    }

    #[test]
    fn the_broadband_gain_is_what_most_bands_agree_on() {
        // A +1 dB gain: every band at +1 dB.
        assert_eq!(broadband_gain_db(&[1.0; 20], &[1.0; 20]), Some(1.0));
        // A +3 dB bass shelf over 4 of 20 bands holding most of the energy: no broadband gain.
        let mut db = [0.0f32; 20];
        let mut weight = [1.0f64; 20];
        for b in 0..4 {
            db[b] = 3.0;
            weight[b] = 1000.0;
        }
        assert_eq!(broadband_gain_db(&db, &weight), Some(0.0));
        // Bands without real energy have no vote; none at all: no estimate.
        weight[4..].iter_mut().for_each(|w| *w = 0.0);
        assert_eq!(broadband_gain_db(&db, &weight), Some(3.0));
        assert_eq!(broadband_gain_db(&db, &[0.0; 20]), None);
    }
}
