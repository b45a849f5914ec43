//! The master bus's gain by level, block by block: an explicit model of a compressor or limiter.
//!
//! Every ~20 ms block (a slice of an analysed frame) gives the gain the master applies to the
//! *predicted* master (the stems at their fitted gains through the bus's fitted EQ), and the
//! predicted master's level there. A plain gain or an EQ is the same at every level; a
//! compressor or limiter turns the loud blocks down. The history is a fixed 2-D histogram
//! (level in 1 dB bins by gain in 0.1 dB bins), so memory never grows with the song.
//!
//! The model ([`LevelGain::fit`]): per level bin, the median gain; a hinge (flat below a knee,
//! falling linearly above it) fitted to those medians by weighted least squares over every
//! candidate knee; the gain below the knee is the reference. The depth is the reference minus
//! the median gain of the loudest 1% of blocks (a look-ahead limiter touching a few peaks shows
//! there even when no level bin above the knee holds enough blocks for a median), and the
//! agreement is the net share of those loudest blocks below the reference (a sign test, ties
//! left out: a missing source scatters gains both ways, compression never turns one up).

use crate::dynamics::LevelGainFit;

use crate::config::{
    COMPRESSION_AGREEMENT_MARGIN_DB, COMPRESSION_LOUDEST_SHARE, COMPRESSION_MIN_BIN_BLOCKS,
    COMPRESSION_MIN_LOUDEST_BLOCKS, MIN_FRAME_LEVEL_DBFS,
};

/// Lowest level binned, in dBFS.
const LEVEL_MIN_DBFS: f32 = -80.0;
/// Highest level binned, in dBFS (louder blocks go to the last bin).
const LEVEL_MAX_DBFS: f32 = 12.0;
/// Level bins, 1 dB each.
const LEVEL_BINS: usize = (LEVEL_MAX_DBFS - LEVEL_MIN_DBFS) as usize;
/// Lowest gain binned, in dB.
const GAIN_MIN_DB: f32 = -30.0;
/// Highest gain binned, in dB.
const GAIN_MAX_DB: f32 = 12.0;
/// Gain bin width, in dB.
const GAIN_STEP_DB: f32 = 0.1;
/// Gain bins.
const GAIN_BINS: usize = ((GAIN_MAX_DB - GAIN_MIN_DB) / GAIN_STEP_DB) as usize;

/// The histogram of blocks by level and gain.
pub struct LevelGain {
    /// Blocks per (level bin, gain bin), level-major.
    counts: Vec<u32>,
    /// Blocks per level bin.
    level_counts: Vec<u64>,
    /// Energy of the predicted master per level bin (sum of squared samples, any scale).
    level_energy: Vec<f64>,
    /// Blocks recorded.
    blocks: u64,
}

impl Default for LevelGain {
    fn default() -> Self {
        Self {
            counts: vec![0; LEVEL_BINS * GAIN_BINS],
            level_counts: vec![0; LEVEL_BINS],
            level_energy: vec![0.0; LEVEL_BINS],
            blocks: 0,
        }
    }
}

/// A level bin's centre, in dBFS.
fn level_centre(bin: usize) -> f32 {
    LEVEL_MIN_DBFS + bin as f32 + 0.5
}

/// A gain bin's centre, in dB.
fn gain_centre(bin: usize) -> f32 {
    GAIN_MIN_DB + (bin as f32 + 0.5) * GAIN_STEP_DB
}

/// The gain bin of `gain_db` (clamped to the range).
fn gain_bin(gain_db: f32) -> usize {
    (((gain_db - GAIN_MIN_DB) / GAIN_STEP_DB).max(0.0) as usize).min(GAIN_BINS - 1)
}

impl LevelGain {
    /// Records one block: the predicted master's level in dBFS, the master's gain against it
    /// in dB, and the predicted master's energy in the block.
    pub fn add(&mut self, level_dbfs: f32, gain_db: f32, energy: f64) {
        if !(level_dbfs.is_finite() && gain_db.is_finite() && energy.is_finite())
            || level_dbfs < MIN_FRAME_LEVEL_DBFS
        {
            return;
        }
        let level = (((level_dbfs - LEVEL_MIN_DBFS).max(0.0)) as usize).min(LEVEL_BINS - 1);
        let cell = &mut self.counts[level * GAIN_BINS + gain_bin(gain_db)];
        *cell = cell.saturating_add(1);
        self.level_counts[level] += 1;
        self.level_energy[level] += energy;
        self.blocks += 1;
    }

    /// Forgets every block (sizes stay).
    pub fn clear(&mut self) {
        self.counts.fill(0);
        self.level_counts.fill(0);
        self.level_energy.fill(0.0);
        self.blocks = 0;
    }

    /// The gain histogram of level bins `range`, summed, into `out` (`GAIN_BINS` long).
    fn gains_over(&self, range: std::ops::Range<usize>, out: &mut [u64]) {
        out.fill(0);
        for level in range {
            let row = &self.counts[level * GAIN_BINS..(level + 1) * GAIN_BINS];
            for (o, &c) in out.iter_mut().zip(row) {
                *o += u64::from(c);
            }
        }
    }

    /// The model, once enough blocks are in (None before).
    pub fn fit(&self) -> Option<LevelGainFit> {
        if self.blocks < COMPRESSION_MIN_LOUDEST_BLOCKS * 4 {
            return None;
        }
        // Per level bin with enough blocks, the median gain.
        let mut gains = vec![0u64; GAIN_BINS];
        let mut points: Vec<(f64, f64, f64)> = Vec::new();
        for level in 0..LEVEL_BINS {
            if self.level_counts[level] >= COMPRESSION_MIN_BIN_BLOCKS {
                self.gains_over(level..level + 1, &mut gains);
                let median = quantile_db(&gains, 0.5);
                points.push((
                    f64::from(level_centre(level)),
                    f64::from(median),
                    self.level_counts[level] as f64,
                ));
            }
        }
        let first = self.level_counts.iter().position(|&c| c > 0)?;
        let last = self.level_counts.iter().rposition(|&c| c > 0)?;
        let (reference_db, knee_dbfs, slope) = fit_hinge(&points)?;

        // The loudest 1% of blocks (at least a few): their median gain against the reference,
        // and how many of them agree on being turned down.
        let wanted = ((self.blocks as f64 * COMPRESSION_LOUDEST_SHARE).ceil() as u64)
            .max(COMPRESSION_MIN_LOUDEST_BLOCKS);
        let mut from = last;
        let mut taken = self.level_counts[last];
        while taken < wanted && from > first {
            from -= 1;
            taken += self.level_counts[from];
        }
        self.gains_over(from..last + 1, &mut gains);
        let loudest_db = quantile_db(&gains, 0.5);
        let below = count_gains(
            &gains,
            f32::MIN,
            reference_db - COMPRESSION_AGREEMENT_MARGIN_DB,
        );
        let above = count_gains(
            &gains,
            reference_db + COMPRESSION_AGREEMENT_MARGIN_DB,
            f32::MAX,
        );
        // A sign test: blocks within the margin of the reference are ties and count for
        // neither side (a compressor that touches only the peaks leaves some of the loudest
        // blocks untouched; it never turns one up).
        let agreement = if below + above > 0 {
            (below as f64 - above as f64) / (below + above) as f64
        } else {
            0.0
        };

        // Above the knee: blocks turned down, and the energy the modelled reduction removes.
        let knee_bin = (((knee_dbfs - LEVEL_MIN_DBFS).max(0.0)) as usize).min(LEVEL_BINS - 1);
        self.gains_over(knee_bin..LEVEL_BINS, &mut gains);
        let blocks_reduced = count_gains(
            &gains,
            f32::MIN,
            reference_db - COMPRESSION_AGREEMENT_MARGIN_DB,
        );
        let depth_db = reference_db - loudest_db;
        let total_energy: f64 = self.level_energy.iter().sum();
        let mut removed = 0.0;
        for level in 0..LEVEL_BINS {
            let above_knee = (level_centre(level) - knee_dbfs).max(0.0);
            // The hinge's reduction, capped at the depth measured at the loudest blocks; those
            // blocks themselves are turned down by that depth (a compressor that acts on a few
            // peaks removes their energy even where no level bin has enough blocks for the
            // hinge to bend).
            let mut reduction_db = (slope * above_knee).min(depth_db.max(0.0));
            if level >= from {
                reduction_db = depth_db.max(0.0);
            }
            let lost = 1.0 - 10f64.powf(-f64::from(reduction_db) / 20.0);
            removed += lost * lost * self.level_energy[level];
        }
        Some(LevelGainFit {
            reference_db,
            knee_dbfs,
            slope,
            depth_db,
            agreement: agreement as f32,
            blocks_reduced,
            blocks: self.blocks,
            level_span_db: (last - first) as f32 + 1.0,
            explained_share: if total_energy > 0.0 {
                removed / total_energy
            } else {
                0.0
            },
        })
    }
}

/// The `q` quantile of a gain histogram, in dB (0 when empty).
fn quantile_db(gains: &[u64], q: f64) -> f32 {
    let total: u64 = gains.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let target = q * total as f64;
    let mut seen = 0.0;
    for (bin, &c) in gains.iter().enumerate() {
        if c > 0 && seen + c as f64 >= target {
            // Interpolate within the bin, its blocks spread evenly over its width.
            let within = ((target - seen) / c as f64).clamp(0.0, 1.0) as f32;
            return GAIN_MIN_DB + (bin as f32 + within) * GAIN_STEP_DB;
        }
        seen += c as f64;
    }
    gain_centre(GAIN_BINS - 1)
}

/// Blocks of a gain histogram whose bin centre lies in `[from_db, to_db]`.
fn count_gains(gains: &[u64], from_db: f32, to_db: f32) -> u64 {
    gains
        .iter()
        .enumerate()
        .filter(|&(bin, _)| (from_db..=to_db).contains(&gain_centre(bin)))
        .map(|(_, &c)| c)
        .sum()
}

/// A hinge fitted to `(level, gain, weight)` points by weighted least squares: gain `a` below
/// the knee `k`, `a - s (level - k)` above, `s >= 0`; every point's level is a candidate knee
/// (the highest meaning flat). Returns `(a, k, s)`.
fn fit_hinge(points: &[(f64, f64, f64)]) -> Option<(f32, f32, f32)> {
    if points.is_empty() {
        return None;
    }
    let mut best: Option<(f64, f64, f64, f64)> = None;
    for &(knee, _, _) in points {
        // Regress gain on x = max(level - knee, 0): gain = a - s x.
        let (mut sw, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for &(l, g, w) in points {
            let x = (l - knee).max(0.0);
            sw += w;
            sx += w * x;
            sy += w * g;
            sxx += w * x * x;
            sxy += w * x * g;
        }
        let det = sw * sxx - sx * sx;
        // Gain = a + b x; a gain rising with level is no compression: flat then.
        let b = if det > 1e-12 {
            ((sw * sxy - sx * sy) / det).min(0.0)
        } else {
            0.0
        };
        let a = (sy - b * sx) / sw;
        let sse: f64 = points
            .iter()
            .map(|&(l, g, w)| {
                let x = (l - knee).max(0.0);
                w * (g - (a + b * x)).powi(2)
            })
            .sum();
        if best.is_none_or(|b| sse < b.0 - 1e-12) {
            best = Some((sse, a, knee, -b));
        }
    }
    best.map(|(_, a, k, s)| (a as f32, k as f32, s as f32))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks at levels -40..-10 dBFS (30 levels, `per_level` blocks each) with gain
    /// `gain_db(level)`.
    fn history(per_level: usize, gain_db: impl Fn(f32) -> f32) -> LevelGain {
        let mut g = LevelGain::default();
        for level in -40..-10 {
            for _ in 0..per_level {
                let l = level as f32 + 0.5;
                g.add(l, gain_db(l), 10f64.powf(f64::from(l) / 10.0));
            }
        }
        g
    }

    #[test]
    fn a_static_gain_is_flat() {
        // -3 dB at every level: reference -3, no depth, no agreement.
        let f = history(10, |_| -3.0).fit().unwrap();
        assert!((f.reference_db + 3.0).abs() < 0.06, "{f:?}");
        assert!(f.depth_db.abs() < 0.06 && f.slope.abs() < 1e-3, "{f:?}");
        assert_eq!(f.blocks_reduced, 0);
        assert!(f.explained_share < 1e-6, "{f:?}");
    }

    #[test]
    fn a_two_to_one_compressor_shows_its_knee_and_depth() {
        // 2:1 above -20 dBFS: 0.5 dB of reduction per dB above the knee; the loudest level
        // (-10.5) is 9.5 dB above it: 4.75 dB down.
        let f = history(10, |l| -((l + 20.0) / 2.0).max(0.0)).fit().unwrap();
        assert!(f.reference_db.abs() < 0.1, "{f:?}");
        assert!((f.knee_dbfs + 20.0).abs() <= 1.0, "{f:?}");
        assert!((f.slope - 0.5).abs() < 0.05, "{f:?}");
        assert!((f.depth_db - 4.75).abs() < 0.2, "{f:?}");
        assert!(f.agreement > 0.99, "{f:?}");
        // Levels -19.5 .. -10.5 lose more than 0.2 dB: 10 blocks each but the first.
        assert!(f.blocks_reduced >= 90, "{f:?}");
        assert!(f.explained_share > 0.01, "{f:?}");
    }

    #[test]
    fn a_limiter_on_a_few_peaks_is_seen_at_the_loudest_blocks() {
        // Flat except 8 blocks at the top, 4 dB down: too few above the knee to move a bin's
        // median much, but they are the loudest 1% (308 blocks: 4, at least 8).
        let mut g = history(10, |_| 0.0);
        for _ in 0..8 {
            g.add(-2.0, -4.0, 0.6);
        }
        let f = g.fit().unwrap();
        assert!((f.depth_db - 4.0).abs() < 0.2, "{f:?}");
        assert!(f.agreement > 0.99, "{f:?}");
    }

    #[test]
    fn a_compressor_on_a_few_peaks_agrees_though_it_leaves_some_untouched() {
        // Flat below; the 8 loudest blocks: 5 turned down 1.6 dB, 3 barely touched (ties,
        // within the margin). None is turned up: the sign test agrees fully, and the energy
        // the 1.6 dB takes from those blocks is what the model explains (the hinge alone,
        // flat for want of blocks above the knee, would explain none of it).
        let mut g = history(10, |_| 0.0);
        for i in 0..8 {
            g.add(-2.0, if i < 5 { -1.6 } else { -0.05 }, 0.63);
        }
        let f = g.fit().unwrap();
        assert!(f.agreement > 0.99, "{f:?}");
        assert!((f.depth_db - 1.6).abs() < 0.1, "{f:?}");
        let lost = 1.0 - 10f64.powf(-f64::from(f.depth_db) / 20.0);
        let total: f64 = g.level_energy.iter().sum();
        let expected = 8.0 * 0.63 * lost * lost / total;
        assert!(
            (f.explained_share - expected).abs() < 0.1 * expected,
            "{} vs {expected}",
            f.explained_share
        );
    }

    #[test]
    fn gains_scattered_both_ways_do_not_agree() {
        // A source the stems lack: gains spread evenly from -1.8 to +1.8 dB at every level.
        let mut g = LevelGain::default();
        for level in -40..-10 {
            for i in 0..10 {
                g.add(level as f32 + 0.5, -1.8 + 0.4 * i as f32, 1.0);
            }
        }
        let f = g.fit().unwrap();
        assert!(f.agreement.abs() < 0.2, "{f:?}");
        assert!(f.depth_db.abs() < 0.2, "{f:?}");
    }

    #[test]
    fn memory_is_fixed_and_clear_forgets() {
        let mut g = history(10, |_| 0.0);
        let cells = g.counts.len();
        g.clear();
        assert!(g.fit().is_none());
        assert_eq!(g.counts.len(), cells);
    }

    #[test]
    fn the_median_of_a_histogram_interpolates_within_its_bin() {
        let mut gains = vec![0u64; GAIN_BINS];
        gains[gain_bin(-1.05)] = 4;
        // Half of four blocks spread over [-1.1, -1.0): -1.05.
        assert!((quantile_db(&gains, 0.5) + 1.05).abs() < 1e-4);
    }
}
