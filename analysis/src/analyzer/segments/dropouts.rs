//! The candidate dropouts the segment stage hands to the rules: every kept or open silent
//! stretch whose residual rose, with its place in time, how far the residual rose, and how well
//! the residual's spectrum matches the stem's own against the other stems silent at once.

use crate::config::{
    DROPOUT_FALL_DB, DROPOUT_FALL_SECONDS, DROPOUT_MIN_SECONDS, DROPOUT_RISE_LATE_SECONDS,
};
use crate::decibels::energy_ratio_db;
use crate::measurements::DropoutMeasurement;

use super::super::Analyzer;
use super::{OCTAVES, SegmentSums, baseline_share, corrected_residual_mid, late_share, risen};

impl Analyzer {
    /// The candidate dropouts: every kept or open stretch whose residual rose, with what the
    /// rules need. `baseline` is the residual's and the master's mid energy outside suspect
    /// stretches; `total_master` the master's whole energy (left plus right).
    pub(in crate::analyzer) fn dropout_measurements(
        &self,
        common_lag: i64,
        whole: &SegmentSums,
        total_master: f64,
    ) -> Vec<DropoutMeasurement> {
        let sr = f64::from(self.layout.sample_rate_hz);
        let len = self.segments.seg_len as f64;
        // Segments the fall after a stretch is measured over (as `Segments::end_segment`).
        let fall_segments = ((DROPOUT_FALL_SECONDS * sr) as i64 / len as i64).max(1) as u32;
        let bus_gain = self.fitted_bus_gain();
        let whole_residual = corrected_residual_mid(whole, bus_gain);
        let share = baseline_share(whole_residual, whole[super::MASTER_MID]);
        // The residual's mean square over the run (the suspect stretches are out of `whole` but
        // in the count: a slight underestimate, in the stretches' favour).
        let analysed = self.progress.analysed_frames_total as f64 * self.layout.hop as f64;
        let run_residual = whole_residual / analysed.max(1.0);
        let mut out = Vec::new();
        // Each stem's usual spectrum, and each candidate's stem and place in time, to tell
        // which of the stems silent at once the residual belongs to.
        let usual: Vec<[f64; OCTAVES]> = self
            .stems
            .iter()
            .map(|s| self.segments.octaves(|i| s.pkk[i]))
            .collect();
        let mut placed: Vec<(usize, i64, i64, [f64; OCTAVES], bool, f32)> = Vec::new();
        for (k, (stem, track)) in self.stems.iter().zip(&self.segments.stems).enumerate() {
            let stretches = track.events.iter().chain(track.run.iter().filter(|r| {
                (r.end - r.start) as f64 >= DROPOUT_MIN_SECONDS * sr
                    && (risen(
                        r.residual(bus_gain),
                        r.master,
                        share,
                        self.segments.floor_of(r),
                    ) || self.segments.risen_through_bus(r, bus_gain))
            }));
            for s in stretches {
                // A stretch judged late counts if it rose over the run without it.
                let share = match (
                    s.judged_late,
                    late_share(s, whole, bus_gain, self.segments.floor_of(s)),
                ) {
                    (false, _) => share,
                    (true, Some(late)) => late,
                    (true, None) => continue,
                };
                let residual = s.residual(bus_gain);
                // A residual that is mostly a gain on the sum (a limiter turning a quiet intro
                // up) is no part the stem lacks. The stretch still turned suspect as any other
                // (kept out of the whole-run residual): gating that too cost a drum stem 12 s
                // late on TimGM6mb its start offset, a second pass reading the bus 130 dB down.
                if s.is_a_gain(bus_gain) {
                    continue;
                }
                // The stem rested first: the dropout starts where the residual rose. Where the
                // residual as delivered never rose over the run's (a bus EQ's residual holds
                // it up: only through the bus's fitted response did it), where its segments
                // rose is no measure of where the stem's part went missing.
                let risen_as_delivered = !s.suspect_through_bus
                    && (s.judged_late
                        || risen(residual, s.master, share, self.segments.floor_of(s)));
                let (start, rested_first) = match s.raised_from {
                    Some(r)
                        if risen_as_delivered
                            && (r - s.start) as f64 > DROPOUT_RISE_LATE_SECONDS * sr =>
                    {
                        (r, true)
                    }
                    _ => (s.start, false),
                };
                let around = if s.after_segments > 0 {
                    s.before.max(s.after / f64::from(s.after_segments))
                } else {
                    s.before
                };
                let mean_residual = residual / (f64::from(s.segments.max(1)) * len);
                let seconds = |p: i64| (p + common_lag).max(0) as f64 / sr;
                out.push(DropoutMeasurement {
                    stem: stem.name.clone(),
                    start_s: seconds(start),
                    end_s: seconds(s.end),
                    sounds_until_s: seconds(s.raised_until.max(start)),
                    open: s.open,
                    residual_db: energy_ratio_db(residual, s.master),
                    rise_db: energy_ratio_db(residual, s.master * share),
                    rise_through_bus_db: self.segments.rise_through_bus_db(s),
                    local_rise_db: energy_ratio_db(residual, s.master * s.share_before),
                    level_vs_stem_db: energy_ratio_db(mean_residual, around),
                    level_vs_residual_db: {
                        // A stretch judged late is in the run's residual (it was never kept
                        // out): it is judged against the run without it.
                        let run_residual = if s.judged_late {
                            let mut outside = *whole;
                            for (o, r) in outside.iter_mut().zip(&s.sums) {
                                *o -= r;
                            }
                            let samples = analysed - f64::from(s.segments) * len;
                            corrected_residual_mid(&outside, bus_gain) / samples.max(1.0)
                        } else {
                            run_residual
                        };
                        if run_residual > 0.0 {
                            energy_ratio_db(mean_residual, run_residual)
                        } else {
                            f32::INFINITY
                        }
                    },
                    spectral_match: 1.0,
                    rival_match: 0.0,
                    earlier_rival_match: 0.0,
                    judged_late: s.judged_late,
                    // Both channels' energy to both channels' energy, as the whole run's
                    // residual is measured.
                    explains_db: energy_ratio_db(s.residual_both(bus_gain), total_master),
                    rested_first,
                    // The residual's level (mean square), not its share of the master: a
                    // resting stem's return raises the master, and with it lowers the share of
                    // another stem's mute going on. Not measured (still open, or the pass
                    // ended first): taken as fallen.
                    fall_after_db: if s.after_segments > 1 && s.after_sums[0] > 0.0 {
                        let after = f64::from((s.after_segments - 1).min(fall_segments)) * len;
                        energy_ratio_db(mean_residual, s.after_sums[0] / after)
                    } else {
                        f32::INFINITY
                    },
                });
                let fall_db = out.last().map_or(f32::NEG_INFINITY, |d| d.fall_after_db);
                placed.push((k, start, s.end, s.bands, rested_first, fall_db));
            }
        }
        let candidates = out.clone();
        for (i, d) in out.iter_mut().enumerate() {
            let (k, start, end, bands, rested_first, _) = placed[i];
            if bands.iter().sum::<f64>() <= 0.0 {
                continue;
            }
            d.spectral_match = bhattacharyya(&bands, &usual[k]);
            // Other stems silent at the same time; those that rested first are no rivals of
            // one that went silent where the residual rose, nor those that left the residual
            // raised when they sounded again, nor those that sounded again while this one was
            // still silent, the residual falling less then than at this one's end (see
            // [`DropoutMeasurement::outlived_by`]).
            let this = &candidates[i];
            d.rival_match = placed
                .iter()
                .zip(&candidates)
                .filter(|(o, c)| !c.outlived_by(this) && o.0 != k && o.1 < end && o.2 > start)
                .map(|(o, _)| o)
                .filter(|o| (!o.4 || rested_first) && o.5 >= DROPOUT_FALL_DB)
                .map(|o| bhattacharyya(&bands, &usual[o.0]))
                .fold(0.0, f32::max);
            // Those already silent (by a stretch of their own) before this one began, and
            // still at its end.
            let before = (DROPOUT_MIN_SECONDS * sr) as i64;
            d.earlier_rival_match = placed
                .iter()
                .filter(|o| o.0 != k && o.1 + before <= start && o.2 >= end)
                .map(|o| bhattacharyya(&bands, &usual[o.0]))
                .fold(0.0, f32::max);
        }
        out
    }
}

/// How alike two spectra's shapes are: the Bhattacharyya coefficient of their band energies,
/// each normalised to a sum of 1 (1: the same shape; 0: no band in common, or one is empty).
pub(super) fn bhattacharyya(a: &[f64], b: &[f64]) -> f32 {
    let (sa, sb) = (a.iter().sum::<f64>(), b.iter().sum::<f64>());
    if sa <= 0.0 || sb <= 0.0 {
        return 0.0;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| (x.max(0.0) / sa * y.max(0.0) / sb).sqrt())
        .sum::<f64>() as f32
}
