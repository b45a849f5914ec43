//! Inter-stem cancellation: every pair's energy in the low bands against the sum of their
//! energies (up to [`MAX_PAIR_STEMS`] stems).

use crate::config::{
    CANCELLATION_MIN_BALANCE, CANCELLATION_MIN_BAND_DB, CANCELLATION_MIN_PAIR_SHARE,
    CANCELLATION_SAME_LOSS_DB, MAX_PAIR_STEMS,
};
use crate::decibels::{db_to_power, power_to_db};
use crate::measurements::Cancellation;

use super::Analyzer;

/// Low-band energies since the accumulators restarted, in spectral power units (writer:
/// [`Analyzer::accumulate_pairs`]; sized when the stem set changes).
#[derive(Default)]
pub(super) struct PairEnergies {
    /// `[pair][band]`: the energy of stem j plus stem k, pairs in order (0, 1), (0, 2) ...
    pub pair: Vec<f64>,
    /// `[stem][band]`: each stem's own energy.
    pub stem: Vec<f64>,
}

impl PairEnergies {
    /// Sizes the accumulators for `stems` stems and `bands` low bands (zeroed).
    pub fn resize(&mut self, stems: usize, bands: usize) {
        let pairs = stems * stems.saturating_sub(1) / 2;
        self.pair = vec![0.0; pairs * bands];
        self.stem = vec![0.0; stems * bands];
    }

    /// Empties the accumulators.
    pub fn clear(&mut self) {
        self.pair.fill(0.0);
        self.stem.fill(0.0);
    }
}

impl Analyzer {
    /// Low-band energies of every stem and every pair's sum.
    pub(super) fn accumulate_pairs(&mut self) {
        if self.stems.len() > MAX_PAIR_STEMS {
            return;
        }
        let nb = self.layout.low_bands.len();
        let mut pair = 0;
        for j in 0..self.stems.len() {
            for (b, band) in self.layout.low_bands.iter().enumerate() {
                let e: f32 = self.stems[j].spectrum[band.first_bin..band.end_bin]
                    .iter()
                    .map(|x| x.norm_sqr())
                    .sum();
                self.pairs.stem[j * nb + b] += f64::from(e);
            }
            for k in (j + 1)..self.stems.len() {
                for (b, band) in self.layout.low_bands.iter().enumerate() {
                    let e: f32 = self.stems[j].spectrum[band.first_bin..band.end_bin]
                        .iter()
                        .zip(&self.stems[k].spectrum[band.first_bin..band.end_bin])
                        .map(|(x, y)| (x + y).norm_sqr())
                        .sum();
                    self.pairs.pair[pair * nb + b] += f64::from(e);
                }
                pair += 1;
            }
        }
    }

    /// Every pair's worst low-band cancellation that matters.
    pub(super) fn cancellations(&self) -> Vec<Cancellation> {
        let mut cancellations = Vec::new();
        let nb = self.layout.low_bands.len();
        let band_totals: Vec<f64> = (0..nb)
            .map(|b| {
                (0..self.stems.len())
                    .map(|s| self.pairs.stem[s * nb + b])
                    .sum()
            })
            .collect();
        let strongest_band = band_totals.iter().copied().fold(0.0, f64::max);
        let min_pair_energy = strongest_band * db_to_power(f64::from(CANCELLATION_MIN_BAND_DB));
        let mut pair = 0;
        for j in 0..self.stems.len() {
            for k in (j + 1)..self.stems.len() {
                let mut worst: Option<(f32, usize)> = None;
                for b in 0..nb {
                    let ej = self.pairs.stem[j * nb + b];
                    let ek = self.pairs.stem[k * nb + b];
                    let ejk = self.pairs.pair[pair * nb + b];
                    // Both must matter in the band: within 10 dB of each other.
                    if ej <= 0.0 || ek <= 0.0 || ej.min(ek) < CANCELLATION_MIN_BALANCE * ej.max(ek)
                    {
                        continue;
                    }
                    // The pair must carry the band, and the band must matter.
                    if ej + ek < CANCELLATION_MIN_PAIR_SHARE * band_totals[b]
                        || ej + ek < min_pair_energy
                    {
                        continue;
                    }
                    let loss = power_to_db(ejk / (ej + ek), 1e-12) as f32;
                    // Window leakage spreads one cancellation over neighbouring bands with the
                    // same loss: name the band where the pair has the most energy.
                    let better = match worst {
                        None => true,
                        Some((w, wb)) => {
                            loss < w - CANCELLATION_SAME_LOSS_DB
                                || ((loss - w).abs() <= CANCELLATION_SAME_LOSS_DB
                                    && ej + ek
                                        > self.pairs.stem[j * nb + wb]
                                            + self.pairs.stem[k * nb + wb])
                        }
                    };
                    if better {
                        worst = Some((loss, b));
                    }
                }
                if let Some((loss, b)) = worst {
                    let (ej, ek) = (self.pairs.stem[j * nb + b], self.pairs.stem[k * nb + b]);
                    let ejk = self.pairs.pair[pair * nb + b];
                    let correlation = ((ejk - ej - ek) / (2.0 * (ej * ek).sqrt())) as f32;
                    cancellations.push(Cancellation {
                        stems: [self.stems[j].name.clone(), self.stems[k].name.clone()],
                        band_hz: (
                            self.layout.low_bands[b].low_hz,
                            self.layout.low_bands[b].high_hz,
                        ),
                        loss_db: loss,
                        correlation,
                    });
                }
                pair += 1;
            }
        }
        cancellations
    }
}
