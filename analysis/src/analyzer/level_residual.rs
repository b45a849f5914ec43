//! What a gain that depends on level alone leaves of the master, against two predictions: the
//! stems at their fitted gains, and every stem at unity (both through the bus's fitted EQ).
//!
//! A master-bus compressor turns every stem down alike where the mix is loud; a stem exported
//! at the wrong level is off by the same gain everywhere, loud or quiet. When one stem plays
//! mostly in the loud passages (the winds of an orchestral piece), the whole-run gain fit
//! hands it the compressor's gain reduction, and the report names a stem gain. Which of the two
//! explains the master is a question of residuals: with one gain per level (1 dB bins of the
//! prediction's block level), the unity prediction leaves no more than the fitted one when
//! the fitted stem gains are the compressor's; when a stem's gain is really off, the fitted
//! prediction leaves far less (tens of dB).
//!
//! Per level bin the blocks' sums `m.m`, `m.p`, `p.p` are kept (fixed memory); the residual
//! with the bin's best gain is `m.m - (m.p)^2 / p.p`.

use crate::decibels::energy_ratio_db;

/// Level bins: 1 dB from [`LEVEL_MIN_DBFS`] (quieter blocks join the lowest bin).
const LEVEL_MIN_DBFS: f32 = -100.0;
/// ... up to this level (louder blocks join the highest bin).
const LEVEL_MAX_DBFS: f32 = 12.0;
/// Number of level bins.
const LEVEL_BINS: usize = (LEVEL_MAX_DBFS - LEVEL_MIN_DBFS) as usize;

/// Block sums per level bin of one prediction (writer: `Analyzer::record_block_gains`).
pub struct LevelResidual {
    /// Per level bin: the master's energy, its product with the prediction, the prediction's
    /// energy.
    sums: Vec<[f64; 3]>,
}

impl Default for LevelResidual {
    fn default() -> Self {
        Self {
            sums: vec![[0.0; 3]; LEVEL_BINS],
        }
    }
}

/// The residuals, each in dB re the master's energy over the same blocks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelResidualDb {
    /// With one gain for every block.
    pub one_gain_db: f32,
    /// With one gain per level bin.
    pub per_level_db: f32,
}

impl LevelResidual {
    /// Records one block: the prediction's level in dBFS, and the block's sums.
    pub fn add(&mut self, level_dbfs: f32, mm: f64, mp: f64, pp: f64) {
        if !(level_dbfs.is_finite() && mm.is_finite() && mp.is_finite() && pp.is_finite()) {
            return;
        }
        let bin = ((level_dbfs - LEVEL_MIN_DBFS).max(0.0) as usize).min(LEVEL_BINS - 1);
        let s = &mut self.sums[bin];
        s[0] += mm;
        s[1] += mp;
        s[2] += pp;
    }

    /// Forgets every block.
    pub fn clear(&mut self) {
        self.sums.fill([0.0; 3]);
    }

    /// The residuals, once any block with a prediction is in.
    pub fn residuals(&self) -> Option<LevelResidualDb> {
        let (mut mm, mut mp, mut pp, mut per_level) = (0.0, 0.0, 0.0, 0.0);
        for s in &self.sums {
            mm += s[0];
            mp += s[1];
            pp += s[2];
            per_level += if s[2] > 0.0 {
                (s[0] - s[1] * s[1] / s[2]).max(0.0)
            } else {
                s[0]
            };
        }
        (mm > 0.0 && pp > 0.0).then(|| LevelResidualDb {
            one_gain_db: energy_ratio_db((mm - mp * mp / pp).max(0.0), mm),
            per_level_db: energy_ratio_db(per_level, mm),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gain_that_falls_with_level_is_explained_per_level_and_not_by_one_gain() {
        let mut r = LevelResidual::default();
        // Quiet blocks at unity, loud ones 6 dB down: the master is p * g(level).
        for i in 0..100 {
            let (level, p2, g) = if i % 2 == 0 {
                (-30.0, 0.001, 1.0)
            } else {
                (-6.0, 0.25, 0.5)
            };
            r.add(level, g * g * p2, g * p2, p2);
        }
        let d = r.residuals().unwrap();
        assert!(d.per_level_db < -100.0, "{d:?}");
        // One gain for both: about 0.5 everywhere, the quiet blocks 6 dB off (a small share).
        assert!(d.one_gain_db > -60.0 && d.one_gain_db < -20.0, "{d:?}");
    }

    #[test]
    fn a_part_the_prediction_lacks_is_left_at_every_level() {
        let mut r = LevelResidual::default();
        // The master holds the prediction plus an uncorrelated part of a tenth of its energy.
        for i in 0..50 {
            let level = -40.0 + i as f32;
            let p2 = 10f64.powf(f64::from(level) / 10.0);
            r.add(level, 1.1 * p2, p2, p2);
        }
        let d = r.residuals().unwrap();
        let expected = energy_ratio_db(0.1, 1.1);
        assert!((d.per_level_db - expected).abs() < 0.01, "{d:?}");
        assert!((d.one_gain_db - expected).abs() < 0.01, "{d:?}");
    }
}
