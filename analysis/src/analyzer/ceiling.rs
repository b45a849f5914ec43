//! The master bus's peak ceiling: an explicit model of a look-ahead limiter.
//!
//! A limiter driven a few dB touches only millisecond peaks: block energies (the gain-by-level
//! model in `level_gain.rs`) barely move, and what is left looks like a plain master gain (the
//! drive). What does show is a flat ceiling: the master's sample peaks never pass one level,
//! while the predicted master (the stems at their fitted gains through the bus's fitted gain and
//! EQ, drive included) passes it in every loud block, by different amounts. A plain gain has no
//! such ceiling: where the predicted master peaks above the master's highest peak, the master
//! peaks there too (the prediction only errs by the residual).
//!
//! Per ~10 ms segment, the master's sample peak and the predicted master's are recorded; the
//! blocks with the highest predicted peaks are kept ([`CEILING_TOP_BLOCKS`], fixed memory), and
//! the master's highest peak is the candidate ceiling. The model ([`PeakCeiling::fit`]): the
//! blocks whose predicted peak passes that ceiling by [`CEILING_MARGIN_DB`] are the clamped
//! ones; the share of the deeper half of them whose master peak sits at the ceiling (within
//! [`CEILING_HOLD_DB`]: a shallower clamp may fall in the release of a deeper one, under the
//! ceiling) is the agreement, and how far their predicted peaks pass it is the depth.

use crate::config::{
    CEILING_EXACT_HOLD_DB, CEILING_FULL_SCALE_DBFS, CEILING_HOLD_DB, CEILING_MARGIN_DB,
    CEILING_MIN_CLAMPED_HELD_BLOCKS, CEILING_MIN_EXACT_HELD_BLOCKS, CEILING_MIN_HELD_BLOCKS,
    CEILING_TOP_BLOCKS,
};
use crate::decibels::db_to_gain_f32;
use crate::dynamics::CeilingFit;

/// Segment peaks, the loudest predicted ones kept (writer: `Analyzer::time_domain_hop`).
pub struct PeakCeiling {
    /// `(predicted peak, master peak)` in dBFS of the blocks with the highest predicted peaks,
    /// at most [`CEILING_TOP_BLOCKS`] (unordered).
    top: Vec<(f32, f32)>,
    /// Index in `top` of its lowest predicted peak (valid while `top` is full).
    lowest: usize,
    /// The master's highest block peak so far, in dBFS.
    master_max_dbfs: f32,
}

impl Default for PeakCeiling {
    fn default() -> Self {
        Self {
            top: Vec::with_capacity(CEILING_TOP_BLOCKS),
            lowest: 0,
            master_max_dbfs: f32::NEG_INFINITY,
        }
    }
}

impl PeakCeiling {
    /// Records one block's sample peaks, in dBFS: the stems' sum's and the master's. Never
    /// allocates (the kept blocks are preallocated).
    pub fn add(&mut self, predicted_dbfs: f32, master_dbfs: f32) {
        if !(predicted_dbfs.is_finite() && master_dbfs.is_finite()) {
            return;
        }
        self.master_max_dbfs = self.master_max_dbfs.max(master_dbfs);
        if self.top.len() < CEILING_TOP_BLOCKS {
            self.top.push((predicted_dbfs, master_dbfs));
            if self.top.len() == CEILING_TOP_BLOCKS {
                self.find_lowest();
            }
            return;
        }
        if predicted_dbfs > self.top[self.lowest].0 {
            self.top[self.lowest] = (predicted_dbfs, master_dbfs);
            self.find_lowest();
        }
    }

    fn find_lowest(&mut self) {
        self.lowest = self
            .top
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.0.total_cmp(&b.1.0))
            .map_or(0, |(i, _)| i);
    }

    /// Forgets every block (the capacity stays).
    pub fn clear(&mut self) {
        self.top.clear();
        self.lowest = 0;
        self.master_max_dbfs = f32::NEG_INFINITY;
    }

    /// The model, when enough blocks pass the candidate ceiling and are held at it, or fewer
    /// are held at it exactly (None otherwise, and when the ceiling is full scale: that is
    /// clipping, see [`Self::full_scale_hold`], not a limiter).
    /// `gain_db` is the master bus's fitted broadband gain: the predicted master is the sum
    /// that much louder (a limiter's drive).
    pub fn fit(&self, gain_db: f32) -> Option<CeilingFit> {
        let ceiling = self.master_max_dbfs;
        if !ceiling.is_finite() || ceiling >= CEILING_FULL_SCALE_DBFS {
            return None;
        }
        self.held_at(
            ceiling,
            gain_db,
            (CEILING_MIN_HELD_BLOCKS, CEILING_MIN_CLAMPED_HELD_BLOCKS),
        )
        .or_else(|| {
            let exact = self
                .top
                .iter()
                .filter(|b| b.1 >= ceiling - CEILING_EXACT_HOLD_DB)
                .count();
            (exact >= CEILING_MIN_EXACT_HELD_BLOCKS)
                .then(|| self.held_at(ceiling, gain_db, (1, 1)))
                .flatten()
        })
    }

    /// The same model when the master's ceiling is full scale: peaks the stems' sum takes over
    /// full scale, held flat at it in the master (an export that clipped in overs of a sample
    /// or two, which no run of clipped samples shows; or a limiter at 0 dBFS). One such block
    /// is enough: a master cannot stay under full scale where its sources pass it by the
    /// margin unless something clamps it.
    pub fn full_scale_hold(&self, gain_db: f32) -> Option<CeilingFit> {
        let ceiling = self.master_max_dbfs;
        if !ceiling.is_finite() || ceiling < CEILING_FULL_SCALE_DBFS {
            return None;
        }
        self.held_at(ceiling, gain_db, (1, 1))
    }

    /// A ceiling below full scale touched by one loud event only (a limiter driven into by
    /// the song's one loudest hit, which a dynamic piece may have): the rule of [`Self::fit`]
    /// asks for several held blocks, but one is enough when what the clamp removes at that
    /// block is far more than the residual could account for anywhere: `residual_peak_dbfs`,
    /// the residual's level plus a crest allowance, bounds any error of the prediction. A
    /// plain gain is corrected by the fitted gain, and a missing source makes the prediction
    /// lower than the master, not higher.
    pub fn single_event(&self, gain_db: f32, residual_peak_dbfs: f32) -> Option<CeilingFit> {
        let ceiling = self.master_max_dbfs;
        if !ceiling.is_finite() || ceiling >= CEILING_FULL_SCALE_DBFS {
            return None;
        }
        let fit = self.held_at(ceiling, gain_db, (1, 1))?;
        let removed = db_to_gain_f32(ceiling + fit.depth_db) - db_to_gain_f32(ceiling);
        (removed >= db_to_gain_f32(residual_peak_dbfs)).then_some(fit)
    }

    /// The blocks held at `ceiling` against those the prediction takes over it, if at least
    /// `min_held.0` blocks sit at it and `min_held.1` of them are clamped.
    fn held_at(&self, ceiling: f32, gain_db: f32, min_held: (usize, usize)) -> Option<CeilingFit> {
        // Each clamped block's excess over the ceiling, and whether its master sits at it.
        let mut clamped: Vec<(f32, bool)> = Vec::new();
        let mut held = 0usize;
        for &(sum, master) in &self.top {
            let predicted = sum + gain_db;
            let at_ceiling = master >= ceiling - CEILING_HOLD_DB;
            held += usize::from(at_ceiling);
            if predicted > ceiling + CEILING_MARGIN_DB {
                clamped.push((predicted - ceiling, at_ceiling));
            }
        }
        let clamped_held = clamped.iter().filter(|c| c.1).count();
        if held < min_held.0 || clamped_held < min_held.1 {
            return None;
        }
        clamped.sort_by(|a, b| a.0.total_cmp(&b.0));
        // The agreement is read on the deeper half of the clamps: a look-ahead limiter holds
        // its deepest at the ceiling exactly, while a shallower one may fall inside the release
        // of a deeper one just before, under the ceiling (the gain is still coming back).
        let deeper = &clamped[clamped.len() / 2..];
        let deeper_held = deeper.iter().filter(|c| c.1).count();
        Some(CeilingFit {
            ceiling_dbfs: ceiling,
            clamped_blocks: clamped.len(),
            held_blocks: held,
            agreement: deeper_held as f32 / deeper.len() as f32,
            depth_db: clamped[clamped.len() / 2].0,
            most_db: clamped[clamped.len() - 1].0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seeded pseudo-random block peaks, -30 to 0 dBFS (a simple LCG: no dependency).
    fn peaks(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                -30.0 + 30.0 * ((state >> 40) as f32 / (1u64 << 24) as f32)
            })
            .collect()
    }

    #[test]
    fn three_peaks_held_exactly_with_one_clamped_are_a_ceiling() {
        // A limiter driven 3 dB (the drive is the fitted gain): one hit predicted 1 dB over
        // -2 dBFS, two more 0.26 and 0.06 dB over, all three at -2.000 dBFS in the master
        // (measured on a 44.1 kHz, 16-bit delivery); the rest as predicted, under it.
        let held = |spread_db: f32| {
            let mut c = PeakCeiling::default();
            for p in peaks(2000, 9) {
                let p = p - 3.0;
                c.add(p - 3.0, p);
            }
            c.add(-4.0, -2.0);
            c.add(-4.74, -2.0 - spread_db);
            c.add(-4.94, -2.0 - 2.0 * spread_db);
            c
        };
        let f = held(0.0002).fit(3.0).unwrap();
        assert!((f.ceiling_dbfs + 2.0).abs() < 1e-6 && (f.most_db - 1.0).abs() < 1e-4);
        // Too few held for the four-block rule: the exactness is what reads it ...
        assert!(held(0.0002).held_at(-2.0, 3.0, (4, 2)).is_none());
        // ... three peaks 0.05 dB apart are a song's near-ties, no ceiling.
        assert!(held(0.05).fit(3.0).is_none());
    }

    #[test]
    fn one_loud_hit_clamped_below_full_scale_is_a_limiter_when_the_rest_nulls() {
        // A dynamic piece: every block as predicted, under -3 dBFS, but its one loudest hit,
        // predicted at -1 dBFS, held at -2 dBFS (a limiter driven into by that hit alone).
        let mut c = PeakCeiling::default();
        for p in peaks(2000, 5) {
            let p = p - 3.0;
            c.add(p, p);
        }
        c.add(-1.0, -2.0);
        // Too few held blocks for the usual rule ...
        assert!(c.fit(0.0).is_none());
        // ... but the clamp removes -20.3 dBFS at that hit: read when the residual is far
        // below that (-70 dBFS RMS plus the crest allowance) ...
        let f = c.single_event(0.0, -40.0).unwrap();
        assert_eq!((f.clamped_blocks, f.held_blocks), (1, 1));
        assert!((f.ceiling_dbfs + 2.0).abs() < 1e-6 && (f.most_db - 1.0).abs() < 1e-6);
        // ... not when the residual could account for it ...
        assert!(c.single_event(0.0, -15.0).is_none());
        // ... nor when the fitted gain already explains the hit (a plain gain), nor at full
        // scale (clipping, `full_scale_hold`).
        assert!(c.single_event(-1.0, -40.0).is_none());
        let mut c = PeakCeiling::default();
        c.add(0.5, 0.0);
        assert!(c.single_event(0.0, -40.0).is_none());
    }

    #[test]
    fn one_over_held_at_full_scale_is_a_full_scale_hold_and_no_limiter() {
        // A mix 0.5 dB too hot, clipped at full scale: one block's peak passes it.
        let mut c = PeakCeiling::default();
        for p in peaks(2000, 3) {
            let p = p - 1.0;
            c.add(p, p);
        }
        c.add(0.5, 0.0);
        assert!(c.fit(0.0).is_none());
        let f = c.full_scale_hold(0.0).unwrap();
        assert_eq!((f.clamped_blocks, f.held_blocks), (1, 1));
        assert!((f.most_db - 0.5).abs() < 1e-6, "{f:?}");
        // Peaks that reach full scale as predicted are held by nothing.
        let mut c = PeakCeiling::default();
        for p in peaks(2000, 3) {
            c.add(p, p);
        }
        c.add(0.0, 0.0);
        assert!(c.full_scale_hold(0.0).is_none());
    }

    #[test]
    fn a_limiter_holds_the_peaks_at_its_ceiling() {
        // Drive +3 dB into a -2 dBFS ceiling: every block whose peak passes -2 comes out at -2.
        let mut c = PeakCeiling::default();
        for p in peaks(2000, 1) {
            let driven = p + 3.0 - 4.0; // peaks up to -1 dBFS
            c.add(driven, driven.min(-2.0));
        }
        let f = c.fit(0.0).unwrap();
        assert!((f.ceiling_dbfs + 2.0).abs() < 1e-4, "{f:?}");
        assert!(f.agreement > 0.99, "{f:?}");
        // Predicted peaks spread evenly from -2 to -1: clamped from -1.7, median excess ~0.65.
        assert!((f.depth_db - 0.65).abs() < 0.1, "{f:?}");
        assert!((f.most_db - 1.0).abs() < 0.05, "{f:?}");
    }

    #[test]
    fn a_limiter_s_release_pulls_shallow_clamps_under_its_ceiling() {
        // Peaks up to 0 dBFS into a -2 dBFS ceiling; the deeper clamps come out at -2, but
        // every clamp of under 1.2 dB falls in the release of a deeper one just before, 3 to
        // 5.5 dB under the ceiling. Read on every clamp, the share held was 0.51 (under the
        // 0.6 the model asks); read on the deeper half, as a look-ahead limiter holds them,
        // over 0.9.
        let mut c = PeakCeiling::default();
        for p in peaks(2000, 1) {
            let driven = p; // peaks up to 0 dBFS
            let excess = driven + 2.0;
            let master = if excess > 0.0 && excess < 1.2 {
                -2.5 - 2.5 * excess
            } else {
                driven.min(-2.0)
            };
            c.add(driven, master);
        }
        let f = c.fit(0.0).unwrap();
        assert!((f.ceiling_dbfs + 2.0).abs() < 1e-4, "{f:?}");
        assert!(f.agreement > 0.9, "{f:?}");
    }

    #[test]
    fn a_plain_gain_has_no_ceiling() {
        // The master is the prediction give or take 0.1 dB of residual: nothing passes the
        // master's highest peak by the margin.
        let mut c = PeakCeiling::default();
        let noise = peaks(2000, 2);
        for (p, n) in peaks(2000, 1).into_iter().zip(noise) {
            let p = p - 3.0;
            c.add(p, p + 0.1 * (n + 15.0) / 15.0);
        }
        assert!(c.fit(0.0).is_none(), "{:?}", c.fit(0.0));
    }

    #[test]
    fn a_poor_prediction_passes_the_ceiling_without_holding_at_it() {
        // Errors of up to 3 dB either way (a source the stems lack): some predicted peaks pass
        // the master's highest, but the master's peaks there scatter below it.
        let mut c = PeakCeiling::default();
        let noise = peaks(4000, 3);
        for (p, n) in peaks(4000, 4).into_iter().zip(noise) {
            let p = p - 3.0;
            c.add(p, p + 3.0 * n / 15.0 + 3.0);
        }
        if let Some(f) = c.fit(0.0) {
            assert!(f.agreement < 0.5, "{f:?}");
        }
    }

    #[test]
    fn a_clipped_master_at_full_scale_is_not_a_limiter() {
        let mut c = PeakCeiling::default();
        for p in peaks(2000, 5) {
            let driven = p + 6.0;
            c.add(driven, driven.min(0.0));
        }
        assert!(c.fit(0.0).is_none());
    }

    #[test]
    fn memory_is_fixed_and_the_loudest_blocks_are_kept() {
        let mut c = PeakCeiling::default();
        for (i, p) in peaks(10 * CEILING_TOP_BLOCKS, 6).into_iter().enumerate() {
            c.add(p, p);
            assert!(c.top.len() <= CEILING_TOP_BLOCKS, "{i}");
        }
        let mut all = peaks(10 * CEILING_TOP_BLOCKS, 6);
        all.sort_by(|a, b| b.total_cmp(a));
        let kept_lowest = c.top.iter().map(|t| t.0).fold(f32::INFINITY, f32::min);
        assert_eq!(kept_lowest, all[CEILING_TOP_BLOCKS - 1]);
        c.clear();
        assert!(c.fit(0.0).is_none());
    }
}
