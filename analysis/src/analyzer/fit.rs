//! The gain fit: per 1/3-octave band, the master as a weighted sum of the stems (jointly, from
//! the stems' Gram matrices, for up to [`crate::config::MAX_GRAM_STEMS`] stems; else each stem alone), then a
//! two-way fit of those gains that splits each stem's own gain and polarity from the master
//! bus's gain and EQ.

use wide::f32x4;

use crate::config::{
    EQ_FAINT_BAND_MIN_COHERENCE, EQ_MIN_BAND_SHARE, EQ_MIN_FAINT_BAND_SHARE, FIT_MIN_SHARE_JOINT,
    FIT_MIN_SHARE_SINGLE, FIT_MIN_VOTE_SHARE, FLOOR_MARGIN_DB, GRAM_LOADING, SPREAD_MIN_EXPLAINED,
    STEM_AGREEMENT_DB, STEM_AGREEMENT_SPREAD_DB, STEM_GAIN_MIN_EXPLAINS_DB, TWO_WAY_FIT_LOADING,
};
use crate::decibels::{db_to_gain, db_to_power, gain_to_db};
use crate::spectra::{Cd, Cf};

use super::Analyzer;

/// The gain fit's result.
pub(super) struct GainFit {
    /// Each stem's gain in the master against its stem file, in dB (offset so that most stems
    /// agree on 0 dB).
    pub stem_db: Vec<f32>,
    /// Whether each stem is mostly negative in the master (polarity-inverted).
    pub stem_inverted: Vec<bool>,
    /// Whether each stem took part in any band's fit.
    pub stem_fitted: Vec<bool>,
    /// Per band, master energy the joint fit explains, in spectral power units (NaN without a
    /// joint fit).
    pub band_explained: Vec<f64>,
    /// The master bus's broadband gain, in dB.
    pub bus_gain_db: f32,
    /// The master bus's gain per band, in dB (the broadband gain where a band has no say).
    pub band_db: Vec<f32>,
    /// Per band, the sum's energy where the band speaks for the EQ, else 0 (spectral power).
    pub band_weight: Vec<f64>,
}

/// Entries of a Gram row summed side by side (see [`Analyzer::accumulate_gram`]).
const GRAM_LANES: usize = 4;

/// `sum Re x y*` of `x` with each of `ys` (all the same length), each summed bin after bin
/// from -0.0 as `Iterator::sum` does.
///
/// Four bins of a lane's terms are one vector (each term `x.re * y.re + x.im * y.im`, as in
/// the scalar loop); a transpose turns the four lanes' terms into one vector per bin, added in
/// the bins' order: each lane's additions are the scalar loop's, in its order (the same bits).
#[inline]
fn dot_lanes(x: &[Cf], ys: [&[Cf]; GRAM_LANES]) -> [f32; GRAM_LANES] {
    let len = x.len();
    let ys = ys.map(|y| &y[..len]);
    let (x4, x_rest) = x.as_chunks::<4>();
    let y4 = ys.map(|y| &y.as_chunks::<4>().0[..x4.len()]);
    let parts = |c: &[Cf; 4]| {
        (
            f32x4::new([c[0].re, c[1].re, c[2].re, c[3].re]),
            f32x4::new([c[0].im, c[1].im, c[2].im, c[3].im]),
        )
    };
    let mut acc = f32x4::splat(-0.0);
    for (i, a) in x4.iter().enumerate() {
        let (a_re, a_im) = parts(a);
        let terms: [f32x4; GRAM_LANES] = std::array::from_fn(|l| {
            let (y_re, y_im) = parts(&y4[l][i]);
            a_re * y_re + a_im * y_im
        });
        // by_bin[j][l]: lane l's term for bin j of the four.
        for by_bin in f32x4::transpose(terms) {
            acc += by_bin;
        }
    }
    let mut acc = acc.to_array();
    let done = len - x_rest.len();
    for (i, a) in x_rest.iter().enumerate() {
        for (s, y) in acc.iter_mut().zip(&ys) {
            *s += a.re * y[done + i].re + a.im * y[done + i].im;
        }
    }
    acc
}

impl Analyzer {
    /// The stems' per-band Gram matrices.
    pub(super) fn accumulate_gram(&mut self) {
        if self.welch.gram.is_empty() {
            return;
        }
        let k = self.stems.len();
        let per_band = k * (k + 1) / 2;
        for (b, band) in self.layout.bands.iter().enumerate() {
            if band.first_bin < self.layout.analysis_bins.0
                || band.end_bin > self.layout.analysis_bins.1
            {
                continue;
            }
            let mut index = b * per_band;
            let range = band.first_bin..band.end_bin;
            for i in 0..k {
                let x = &self.stems[i].spectrum[range.clone()];
                // Each entry is a sum in single precision, bin after bin: a chain of dependent
                // additions, so [`GRAM_LANES`] entries of the row are summed side by side (each
                // in its own order: the same bits as one at a time).
                for j in (i..k).step_by(GRAM_LANES) {
                    let lanes = (k - j).min(GRAM_LANES);
                    // Lanes past the row's end repeat its last stem (their sums are dropped).
                    let ys: [&[Cf]; GRAM_LANES] = std::array::from_fn(|l| {
                        &self.stems[j + l.min(lanes - 1)].spectrum[range.clone()]
                    });
                    let acc = dot_lanes(x, ys);
                    for (g, a) in self.welch.gram[index..index + lanes].iter_mut().zip(acc) {
                        *g += f64::from(a);
                    }
                    index += lanes;
                }
            }
        }
    }

    /// The master's magnitude-squared coherence with the sum over the bins `r`:
    /// `|sum P_ms|^2 / (sum P_mm sum P_ss)` (1: the master there is the sum through a filter).
    fn band_coherence(&self, r: std::ops::Range<usize>) -> f64 {
        let r = r.start.min(self.welch.pmm.len())..r.end.min(self.welch.pmm.len());
        let pms: crate::spectra::Cd = self.welch.pms[r.clone()].iter().sum();
        let pmm: f64 = self.welch.pmm[r.clone()].iter().sum();
        let pss: f64 = self.welch.pss[r].iter().sum();
        if pmm > 0.0 && pss > 0.0 {
            pms.norm_sqr() / (pmm * pss)
        } else {
            0.0
        }
    }

    /// Per band (empty outside the analysed bins), each stem's master-to-stem cross-spectrum
    /// summed over the band's bins.
    fn band_correlations(&self) -> Vec<Vec<Cd>> {
        let (lo, hi) = self.layout.analysis_bins;
        self.layout
            .bands
            .iter()
            .map(|band| {
                let r = band.first_bin..band.end_bin.min(self.welch.pmm.len());
                if r.start < lo || r.end > hi {
                    return Vec::new();
                }
                self.stems
                    .iter()
                    .map(|s| s.pmk[r.clone()].iter().sum())
                    .collect()
            })
            .collect()
    }

    /// Each bin's bus gain (linear): its band's, or the broadband gain outside every band.
    pub(super) fn bin_bus_gains(&self, fit: &GainFit) -> Vec<f64> {
        let bus_gain = db_to_gain(f64::from(fit.bus_gain_db));
        let mut betas = vec![bus_gain; self.welch.pmm.len()];
        for (band, &g) in self.layout.bands.iter().zip(&fit.band_db) {
            let end = band.end_bin.min(betas.len());
            let start = band.first_bin.min(end);
            betas[start..end].fill(db_to_gain(f64::from(g)));
        }
        betas
    }

    /// Two-way fit of the master's gain per stem and per band: log gain(stem, band) = stem
    /// effect + band effect, weighted by the stem's share of the band. The band effects are the
    /// bus's EQ; the stem effects (offset by [`parsimonious_offset`]) the stems' own gains.
    pub(super) fn fit_gains(&self) -> GainFit {
        // Each stem's correlation with the master per band, read against the band's common
        // phase (the bus EQ's, `fit/phase.rs`): its real part is the stem's gain there.
        let correlations = self.band_correlations();
        let coherence: Vec<f64> = self
            .layout
            .bands
            .iter()
            .map(|band| self.band_coherence(band.first_bin..band.end_bin))
            .collect();
        let sum_correlations: Vec<Cd> = self
            .layout
            .bands
            .iter()
            .map(|band| {
                let r = band.first_bin.min(self.welch.pms.len())
                    ..band.end_bin.min(self.welch.pms.len());
                self.welch.pms[r].iter().sum()
            })
            .collect();
        let phases = phase::common_phases(&correlations, &sum_correlations, &coherence);
        let k_count = self.stems.len();
        let b_count = self.layout.bands.len();
        let mut eqs: Vec<(usize, usize, f64, f64)> = Vec::new();
        let mut band_weight = vec![0.0f64; b_count];
        let mut sign_weight = vec![0.0f64; k_count];
        let mut band_explained = vec![f64::NAN; b_count];
        let mut stem_energy: Vec<f64> = Vec::with_capacity(k_count);
        // A stem speaks for a band only well above its own noise floor there (`floor.rs`): a
        // stem of dither alone (a section not yet playing, in a 16-bit file) fits a gain of
        // nearly nothing, which against the bands it shares read as 20 dB of bus EQ.
        let stem_floor =
            self.floor_per_bin(self.stem_floor_power()) * db_to_power(f64::from(FLOOR_MARGIN_DB));
        for (b, band) in self.layout.bands.iter().enumerate() {
            let turn = Cd::from_polar(1.0, -phases[b]);
            let master_real = |k: usize| (correlations[b][k] * turn).re;
            let r = band.first_bin..band.end_bin.min(self.welch.pmm.len());
            if r.start < self.layout.analysis_bins.0 || r.end > self.layout.analysis_bins.1 {
                continue;
            }
            // Each stem's energy in the band, summed once (read three times below).
            stem_energy.clear();
            stem_energy.extend(
                self.stems
                    .iter()
                    .map(|s| s.pkk[r.clone()].iter().sum::<f64>()),
            );
            let band_energy: f64 = stem_energy.iter().sum();
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
                    let e = stem_energy[k];
                    if self.welch.gram.is_empty() {
                        e >= FIT_MIN_SHARE_SINGLE * band_energy
                    } else {
                        e >= FIT_MIN_SHARE_JOINT * band_energy
                    }
                })
                .collect();
            let gains: Vec<Option<f64>> = if self.welch.gram.is_empty() {
                active
                    .iter()
                    .map(|&k| {
                        let stem = &self.stems[k];
                        let num = master_real(k);
                        let den: f64 = stem.psk[r.clone()].iter().map(|c| c.re).sum();
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
                        g[x * n + y] = self.welch.gram[tri(i, j)];
                    }
                    c[x] = master_real(i);
                }
                let trace: f64 = (0..n).map(|x| g[x * n + x]).sum();
                for x in 0..n {
                    g[x * n + x] += GRAM_LOADING * trace;
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
            // The share of the band's master the stems explain at their fitted gains (a
            // coherence, 0 to 1): the precision of the band's gains. Where most of the master
            // is something no stem carries (a missing drum stem's cymbals), a gain fitted there
            // is mostly its chance correlation with a stem, and speaks little for that stem's
            // gain or the bus's EQ.
            let pmm: f64 = self.welch.pmm[r.clone()].iter().sum();
            let precision = if band_explained[b].is_finite() && pmm > 0.0 {
                (band_explained[b] / pmm).clamp(0.0, 1.0)
            } else {
                1.0
            };
            for (&k, gain) in active.iter().zip(gains) {
                let Some(gain) = gain.filter(|g| g.is_finite() && *g != 0.0) else {
                    continue;
                };
                let share = stem_energy[k] / band_energy;
                if share < FIT_MIN_VOTE_SHARE || stem_energy[k] <= stem_floor * r.len() as f64 {
                    continue;
                }
                eqs.push((k, b, gain_to_db(gain.abs()), share * precision));
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
            a[i * n + i] += TWO_WAY_FIT_LOADING;
        }
        let x = solve(&mut a, &mut rhs, n).unwrap_or_else(|| vec![0.0; n]);
        let mut stem_db: Vec<f64> = x[..k_count].to_vec();
        let mut band_db: Vec<f64> = x[k_count..].to_vec();
        // Broadband bus gain: bands weighted by the sum's energy in them. The split between
        // stem and band effects shifts every speaking band by the same offset, so the bus gain
        // before the split fixes the bus gain after it.
        let mut band_energy = vec![0.0f64; b_count];
        for (b, band) in self.layout.bands.iter().enumerate() {
            if band_weight[b] <= 0.0 {
                continue;
            }
            band_energy[b] = self.welch.pss[band.first_bin..band.end_bin.min(self.welch.pss.len())]
                .iter()
                .sum();
        }
        let energy_mean = |db: &[f64]| {
            let den: f64 = band_energy.iter().sum();
            let num: f64 = band_energy.iter().zip(db).map(|(e, g)| e * g).sum();
            if den > 0.0 { num / den } else { 0.0 }
        };
        // The split that needs the fewest defects: what most stems agree on is right.
        let fitted: Vec<f64> = (0..k_count)
            .filter(|&k| eqs.iter().any(|e| e.0 == k))
            .map(|k| stem_db[k])
            .collect();
        // How much of the master the stems at their fitted gains explain, over the bands that
        // speak: a fit that holds it reads the stems' spread (a compressor's), one that does
        // not (stems misaligned, a part missing) has gains scattered by chance.
        let (mut held, mut master) = (0.0f64, 0.0f64);
        for (b, band) in self.layout.bands.iter().enumerate() {
            if band_explained[b].is_finite() && band_weight[b] > 0.0 {
                held += band_explained[b];
                master += self.welch.pmm[band.first_bin..band.end_bin.min(self.welch.pmm.len())]
                    .iter()
                    .sum::<f64>();
            }
        }
        let holds_master = master > 0.0 && held >= SPREAD_MIN_EXPLAINED * master;
        if let Some(offset) = parsimonious_offset(&fitted, energy_mean(&band_db), holds_master) {
            for s in &mut stem_db {
                *s -= offset;
            }
            for (b, g) in band_db.iter_mut().enumerate() {
                if band_weight[b] > 0.0 {
                    *g += offset;
                }
            }
        }
        let bus_gain_db = energy_mean(&band_db);
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
            // A band speaks for the EQ only if it holds real energy (-40 dB of the total), or,
            // fainter, if the master there is the sum through a filter and nothing else (a
            // high shelf on a dark orchestral mix moves bands 40 dB under its loudest).
            band_weight: band_energy
                .iter()
                .zip(&self.layout.bands)
                .map(|(&e, band)| {
                    let clean = e > EQ_MIN_FAINT_BAND_SHARE * total_energy
                        && self.band_coherence(band.first_bin..band.end_bin)
                            >= EQ_FAINT_BAND_MIN_COHERENCE;
                    if e > EQ_MIN_BAND_SHARE * total_energy || clean {
                        e
                    } else {
                        0.0
                    }
                })
                .collect(),
        }
    }
}

/// The offset of the stem effects (in dB) that takes the fewest defects to explain the
/// master: the one that puts the most stems within [`STEM_AGREEMENT_DB`] of 0 dB, counted per
/// stem (a loud stem has no more say than a quiet one), refined to the plain median of the
/// stems that agree on it; among offsets that as many stems agree on, the one that leaves the
/// master bus's gain (`bus_before_db` plus the offset) nearest 0 dB. With two stems that
/// disagree, that blames one stem, not the bus. When no two of three or more stems agree that
/// closely and the fit holds the master (`holds_master`: the stems at their fitted gains
/// explain at least [`SPREAD_MIN_EXPLAINED`] of it), agreement is read within
/// [`STEM_AGREEMENT_SPREAD_DB`]: a master compressor or limiter spreads the stems' whole-run
/// gains by tenths of a dB, each by how much it plays in the loud passages. `None` without a
/// stem.
pub(super) fn parsimonious_offset(
    stem_db: &[f64],
    bus_before_db: f64,
    holds_master: bool,
) -> Option<f64> {
    let values: Vec<f64> = stem_db.iter().copied().filter(|x| x.is_finite()).collect();
    let (count, offset) = agreed_offset(&values, bus_before_db, STEM_AGREEMENT_DB)?;
    if holds_master && count < 2 && values.len() >= 3 {
        let (spread_count, spread_offset) =
            agreed_offset(&values, bus_before_db, STEM_AGREEMENT_SPREAD_DB)?;
        if spread_count >= 2 {
            return Some(spread_offset);
        }
    }
    Some(offset)
}

/// [`parsimonious_offset`] at one agreement tolerance: how many stems agree, and on what.
fn agreed_offset(values: &[f64], bus_before_db: f64, tolerance_db: f64) -> Option<(usize, f64)> {
    let mut best: Option<(usize, f64)> = None;
    for &candidate in values {
        let mut agreeing: Vec<f64> = values
            .iter()
            .copied()
            .filter(|x| (x - candidate).abs() <= tolerance_db)
            .collect();
        agreeing.sort_by(f64::total_cmp);
        let n = agreeing.len();
        let median = if n % 2 == 1 {
            agreeing[n / 2]
        } else {
            0.5 * (agreeing[n / 2 - 1] + agreeing[n / 2])
        };
        let better = match best {
            None => true,
            Some((count, offset)) => {
                n > count
                    || (n == count
                        && (bus_before_db + median).abs() < (bus_before_db + offset).abs())
            }
        };
        if better {
            best = Some((n, median));
        }
    }
    best
}

/// A stem's linear gain as shown: `gain`, unless its deviation from unity explains less of the
/// master than [`STEM_GAIN_MIN_EXPLAINS_DB`] (`explains_db`: the residual energy the deviation
/// accounts for, re master), i.e. it was fitted to what is below the null itself: then unity (0
/// dB, not inverted). A value that explains nothing of the residual is no deviation.
pub(super) fn gain_that_matters(gain: f64, explains_db: f32) -> f64 {
    if explains_db < STEM_GAIN_MIN_EXPLAINS_DB {
        1.0
    } else {
        gain
    }
}

/// The weighted median of `(value, weight)` pairs.
pub(super) fn weighted_median(values: &[(f64, f64)]) -> Option<f64> {
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

/// The weighted median of the largest group of `(value, weight)` pairs lying within
/// `tolerance` of one of them (ties: the group of more weight), if it holds more than half of
/// them: the value most of them agree on, however loud the few that do not. Parsimony, as for
/// the common lag: the reference is the explanation that leaves the fewest values off it. With
/// no majority (values scattered, as a master EQ's phase scatters the stems' apparent
/// fractions by their spectra), `None`.
pub(super) fn most_agreed_median(values: &[(f64, f64)], tolerance: f64) -> Option<f64> {
    let valid: Vec<(f64, f64)> = values
        .iter()
        .copied()
        .filter(|(x, w)| x.is_finite() && *w > 0.0)
        .collect();
    let group_of = |centre: f64| {
        valid
            .iter()
            .filter(move |(x, _)| (x - centre).abs() < tolerance)
    };
    let mut best: Option<(usize, f64, f64)> = None;
    for &(centre, _) in &valid {
        let count = group_of(centre).count();
        let weight: f64 = group_of(centre).map(|v| v.1).sum();
        if best.is_none_or(|(n, w, _)| count > n || (count == n && weight > w)) {
            best = Some((count, weight, centre));
        }
    }
    let (count, _, centre) = best?;
    if 2 * count <= valid.len() {
        return None;
    }
    weighted_median(&group_of(centre).copied().collect::<Vec<_>>())
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

mod phase;

#[cfg(test)]
mod tests;
