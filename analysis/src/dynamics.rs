//! Level-dependent gain: the master's gain against the stems' sum, frame by frame, binned by the
//! sum's level. A master-bus compressor or limiter shows as gain that falls as level rises.
//! Memory is fixed (one bin per dB), whatever the song's length.

use serde::{Deserialize, Serialize};

use crate::config::{
    DYNAMICS_LOUD_FROM, DYNAMICS_MIN_FRAMES, DYNAMICS_MIN_LEVELS, DYNAMICS_QUIET_TO,
    MIN_FRAME_LEVEL_DBFS,
};

const MIN_LEVEL_DBFS: f32 = -80.0;
const MAX_LEVEL_DBFS: f32 = 12.0;
const NUM_BINS: usize = (MAX_LEVEL_DBFS - MIN_LEVEL_DBFS) as usize;

#[derive(Debug, Clone, Default)]
struct Bin {
    count: u64,
    sum_gain_db: f64,
}

/// The binned gain history.
#[derive(Debug, Clone)]
pub struct GainByLevel {
    bins: Vec<Bin>,
    frames: u64,
    /// Energy-weighted squared deviation of the frame gain from 1, for the explained share.
    pub deviation_energy: f64,
    pub total_energy: f64,
}

impl Default for GainByLevel {
    fn default() -> Self {
        Self {
            bins: vec![Bin::default(); NUM_BINS],
            frames: 0,
            deviation_energy: 0.0,
            total_energy: 0.0,
        }
    }
}

/// What the history says.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DynamicsEstimate {
    /// Gain at the quiet end minus gain at the loud end, in dB (positive: compression).
    pub gain_reduction_db: f32,
    /// Correlation of gain with level (-1: gain falls steadily as level rises).
    pub correlation: f32,
    /// Level span the estimate covers, in dB.
    pub level_span_db: f32,
    /// Frames used.
    pub frames: u64,
}

impl GainByLevel {
    /// Records one frame: the sum's level and the master's gain against it (after static EQ).
    pub fn add(&mut self, level_dbfs: f32, gain: f32, frame_energy: f64) {
        if !(level_dbfs.is_finite() && gain.is_finite() && gain > 0.0)
            || level_dbfs < MIN_FRAME_LEVEL_DBFS
        {
            return;
        }
        let index = ((level_dbfs - MIN_LEVEL_DBFS) as usize).min(NUM_BINS - 1);
        let bin = &mut self.bins[index];
        bin.count += 1;
        bin.sum_gain_db += f64::from(20.0 * gain.log10());
        self.frames += 1;
        self.deviation_energy += f64::from((gain - 1.0) * (gain - 1.0)) * frame_energy;
        self.total_energy += frame_energy;
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    pub fn estimate(&self) -> DynamicsEstimate {
        let occupied: Vec<(f64, f64, f64)> = self
            .bins
            .iter()
            .enumerate()
            .filter(|(_, b)| b.count > 0)
            .map(|(i, b)| {
                let level = f64::from(MIN_LEVEL_DBFS) + i as f64 + 0.5;
                (level, b.sum_gain_db / b.count as f64, b.count as f64)
            })
            .collect();
        let total: f64 = occupied.iter().map(|o| o.2).sum();
        if occupied.len() < DYNAMICS_MIN_LEVELS || total < DYNAMICS_MIN_FRAMES {
            return DynamicsEstimate {
                gain_reduction_db: 0.0,
                correlation: 0.0,
                level_span_db: 0.0,
                frames: self.frames,
            };
        }
        // Weighted correlation of gain with level.
        let mean_l = occupied.iter().map(|o| o.0 * o.2).sum::<f64>() / total;
        let mean_g = occupied.iter().map(|o| o.1 * o.2).sum::<f64>() / total;
        let (mut cov, mut var_l, mut var_g) = (0.0, 0.0, 0.0);
        for &(l, g, w) in &occupied {
            cov += w * (l - mean_l) * (g - mean_g);
            var_l += w * (l - mean_l) * (l - mean_l);
            var_g += w * (g - mean_g) * (g - mean_g);
        }
        let correlation = if var_l > 0.0 && var_g > 1e-12 {
            cov / (var_l * var_g).sqrt()
        } else {
            0.0
        };
        // Gain of the quietest 30% of frames minus the loudest 10%.
        let mean_over = |from: f64, to: f64| {
            let mut seen = 0.0;
            let (mut sum, mut weight) = (0.0, 0.0);
            for &(_, g, w) in &occupied {
                let (start, end) = (seen, seen + w);
                let overlap = (end.min(to * total) - start.max(from * total)).max(0.0);
                sum += g * overlap;
                weight += overlap;
                seen = end;
            }
            if weight > 0.0 { sum / weight } else { 0.0 }
        };
        let quiet = mean_over(0.0, DYNAMICS_QUIET_TO);
        let loud = mean_over(DYNAMICS_LOUD_FROM, 1.0);
        DynamicsEstimate {
            gain_reduction_db: (quiet - loud) as f32,
            correlation: correlation as f32,
            level_span_db: (occupied.last().unwrap().0 - occupied[0].0) as f32,
            frames: self.frames,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_static_gain_is_not_dynamics() {
        let mut g = GainByLevel::default();
        for i in 0..200 {
            g.add(-40.0 + (i % 30) as f32, 0.9, 1.0);
        }
        let e = g.estimate();
        assert!(e.gain_reduction_db.abs() < 1e-3, "{e:?}");
    }

    #[test]
    fn gain_falling_with_level_is_compression() {
        let mut g = GainByLevel::default();
        for i in 0..300 {
            let level = -40.0 + (i % 30) as f32;
            // 2:1 above -20 dBFS.
            let gr_db = ((level + 20.0) / 2.0).max(0.0);
            g.add(level, 10f32.powf(-gr_db / 20.0), 1.0);
        }
        let e = g.estimate();
        assert!(e.gain_reduction_db > 3.0 && e.correlation < -0.7, "{e:?}");
    }
}
