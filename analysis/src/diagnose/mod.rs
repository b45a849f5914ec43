//! From measurements to findings: which causes explain the residual, in words an engineer uses.
//! One rule file per finding family, so that a kind's prefix names its file:
//!
//! | file | kinds |
//! |---|---|
//! | [`setup`] | `no-master`, `no-stems`, `stem-count`, `sample-rate-mismatch` |
//! | [`levels`] | `clipping`, `true-peak`, `dc-offset`, `sum-over-full-scale`, `silent-stem` |
//! | [`stems`] | `stem-offset`, `stem-polarity`, `stem-gain` |
//! | [`master_bus`] | `master-latency`, `master-bus-dynamics`, `master-bus-eq`, `master-bus-gain` |
//! | [`missing`] | `missing-content`, `missing-fx-return` |
//! | [`cancellation`] | `stem-phase-cancellation` |
//! | [`timeline`] | `stem-dropout` |
//! | this file | `nulls`, the order of the causes, hysteresis |
//!
//! A cause is named only if it clears its threshold *and* explains a real share of the
//! residual ([`crate::config::CAUSE_MIN_SHARE`]): a missing reverb return leaves a little coherent energy that
//! looks like a small gain change on the stem that feeds it, and that must not be reported as a
//! second problem. Thresholds have hysteresis ([`HYSTERESIS_DB`], [`HYSTERESIS_SAMPLES`]), so
//! findings do not flicker.

mod cancellation;
mod levels;
mod master_bus;
mod missing;
mod setup;
mod stems;
mod timeline;

use std::collections::HashSet;

use crate::config::{
    AnalyzerConfig, DYNAMICS_MIN_CORRELATION, FULL_CONFIDENCE_SECONDS, HYSTERESIS_DB,
    HYSTERESIS_SAMPLES, LONG_RESPONSE_SPREAD, MIN_ANALYSIS_SECONDS, MIN_CONFIDENCE,
    NULL_FLOOR_MARGIN_DB, NULLS_BELOW_DB, OFFSET_BESIDE_GAIN_MIN_SAMPLES,
    OFFSET_BESIDE_GAIN_MIN_SHARE, OFFSET_BESIDE_GAIN_MIN_WHOLE_SHARE, REMAINING_FLOOR_SHARE,
};
use crate::decibels::db_to_power;
use crate::finding::{Finding, FindingKind, Severity, Unit};
use crate::measurements::Measurements;

pub use setup::sample_rate_mismatch;

/// Hysteresis state: which findings are currently on.
#[derive(Debug, Default, Clone)]
pub struct Diagnosis {
    /// The findings (kind and key: a stem's name, a pair, or empty) on after the last update.
    active: HashSet<(FindingKind, String)>,
    /// The findings on in the update being made.
    next: HashSet<(FindingKind, String)>,
    /// The null-test findings of the last complete estimate, shown while a new one builds up.
    held: Vec<Finding>,
}

/// Findings from level statistics, which never need the cross-spectral estimate.
fn is_headroom(kind: FindingKind) -> bool {
    matches!(
        kind,
        FindingKind::Clipping
            | FindingKind::TruePeak
            | FindingKind::DcOffset
            | FindingKind::SilentStem
            | FindingKind::SumOverFullScale
            | FindingKind::StemCount
            | FindingKind::NoMaster
            | FindingKind::NoStems
    )
}

/// Which share of the residual each cause explains, and what is left once earlier causes took
/// theirs: a second, smaller defect is not drowned by a large one.
struct Causes {
    /// The null residual's power re master (linear).
    residual_power: f64,
    /// The residual's power as delivered with the sum at the master bus's broadband gain
    /// (linear): the aligned residual at that gain plus what every stem's offset explains.
    at_bus_gain_power: f64,
    /// The residual's power once the stems are aligned (spectral, linear), floored.
    aligned_power: f64,
    /// What of `aligned_power` no cause named so far explains.
    remaining: f64,
    /// What the master bus's broadband gain explains (linear), and the depth of the master's
    /// compression in dB (0 without): fitted jointly with the stems' gains
    /// (`analyzer/fit.rs`), a fader is not what a stem's gain leaks from; a compressor's
    /// make-up is part of the compressor, which a stem playing in the loud passages takes up to
    /// its depth of as a gain.
    bus_gain: (f64, f32),
    /// What the master bus's EQ explains (linear), and its largest band deviation in dB: a
    /// stem whose energy lies in the EQ's band can take up to that much of it as a gain.
    bus_eq: (f64, f32),
    /// Whether any cause was named.
    explained: bool,
    /// Whether a stem's polarity was named.
    inverted: bool,
    /// The confidence of the findings, from 0 to 1.
    confidence: f32,
}

impl Causes {
    fn new(m: &Measurements, confidence: f32) -> Self {
        let aligned_power = db_to_power(f64::from(m.residual_spectral_db)).max(1e-30);
        Self {
            residual_power: db_to_power(f64::from(m.null_residual_db)),
            at_bus_gain_power: db_to_power(f64::from(m.residual_at_bus_gain_db))
                + m.stems
                    .iter()
                    .filter(|s| s.lag_locked)
                    .map(|s| db_to_power(f64::from(s.offset_explains_db)))
                    .sum::<f64>(),
            aligned_power,
            remaining: aligned_power,
            bus_gain: (
                db_to_power(f64::from(m.bus_gain_explains_db)),
                m.dynamics
                    .filter(|d| d.correlation <= DYNAMICS_MIN_CORRELATION)
                    .map_or(0.0, |d| d.gain_reduction_db.max(0.0)),
            ),
            bus_eq: (
                db_to_power(f64::from(m.bus_eq_explains_db)),
                m.bus_eq_max_db,
            ),
            explained: false,
            inverted: false,
            confidence,
        }
    }

    /// The share of the residual a stem's offset explaining `explains_db` re master explains:
    /// of the residual as delivered (the aligned one does not hold the offset), or, where that
    /// is a master gain's (a fader does not hide a stem's timing), of the residual as
    /// delivered at the bus's gain, for a stem read at a lag of its own
    /// ([`OFFSET_BESIDE_GAIN_MIN_SAMPLES`] off) whose offset is most of it
    /// ([`OFFSET_BESIDE_GAIN_MIN_SHARE`]) and a share of the whole
    /// ([`OFFSET_BESIDE_GAIN_MIN_WHOLE_SHARE`]). A limiter's 8.7 dB of make-up left a brass
    /// stem 48 samples late 9.5% of the first and 73% of the second. A phase's reading at the
    /// common lag would be in the aligned residual if it were real (a reverb return read 2.5
    /// samples "early" beside a master gain that nulls at that gain is not).
    fn offset_share(&self, explains_db: f32, lag_offset_samples: i64) -> f32 {
        let explains = db_to_power(f64::from(explains_db));
        let of_whole = explains / self.residual_power;
        let at_gain = explains / self.at_bus_gain_power;
        (if lag_offset_samples.unsigned_abs() >= OFFSET_BESIDE_GAIN_MIN_SAMPLES
            && at_gain >= f64::from(OFFSET_BESIDE_GAIN_MIN_SHARE)
            && of_whole >= OFFSET_BESIDE_GAIN_MIN_WHOLE_SHARE
        {
            of_whole.max(at_gain)
        } else {
            of_whole
        }) as f32
    }

    /// The share of what is left of the aligned residual a cause explaining `explains_db` re
    /// master explains.
    fn share(&self, explains_db: f32) -> f32 {
        (db_to_power(f64::from(explains_db)) / self.left()) as f32
    }

    /// What is left of the aligned residual, floored at [`REMAINING_FLOOR_SHARE`] of it.
    fn left(&self) -> f64 {
        self.remaining
            .max(REMAINING_FLOOR_SHARE * self.aligned_power)
    }

    /// The share a stem's gain of `gain_db` explaining `explains_db` re master explains of what
    /// is left beside the master bus's gain and EQ. Those are fitted jointly with the stems'
    /// gains, one effect per band and one per stem, so they are not what a stem's gain leaks
    /// from (a missing return is, and stays in the denominator), unless they are as deep as the
    /// stem's gain: a stem wholly inside an EQ's band takes up to the EQ's depth as a gain, and
    /// a stem playing only in the loud passages up to a compressor's (whose make-up is the bus
    /// gain). Beside a 3 dB bell cut, a quiet stem 3 dB hot explains 7% of the residual, and
    /// 80% of what the EQ leaves.
    fn stem_share(&self, explains_db: f32, gain_db: f32) -> f32 {
        let deeper = |depth_db: f32| gain_db.abs() > depth_db.abs();
        let (gain_power, compression_db) = self.bus_gain;
        let (eq_power, eq_db) = self.bus_eq;
        let beside_gain = if deeper(compression_db) {
            gain_power
        } else {
            0.0
        };
        let beside_eq = if deeper(eq_db) { eq_power } else { 0.0 };
        let beside = beside_gain + beside_eq;
        (db_to_power(f64::from(explains_db))
            / (self.remaining - beside).max(REMAINING_FLOOR_SHARE * self.aligned_power))
            as f32
    }

    /// Once a stem's polarity is named, what is left is measured: the time-domain residual with
    /// each inverted stem's sign turned (`turned_db` re master). The polarity is exact (a gain of
    /// -1), so what it leaves is what the later causes share, floored at a share of it, not of
    /// the residual it took: an inverted bass 2 dB over the master hid a missing reverb 32 dB
    /// under it, under the floor of what it left by the coherence estimate's bias.
    fn turn_signs(&mut self, turned_db: f32) {
        let turned = db_to_power(f64::from(turned_db));
        if self.inverted && turned < self.aligned_power {
            self.aligned_power = turned.max(1e-30);
            self.remaining = self.remaining.min(self.aligned_power);
        }
    }

    /// Names a cause explaining `explains_db`: what is left shrinks by it.
    fn take(&mut self, explains_db: f32) {
        self.remaining = (self.remaining - db_to_power(f64::from(explains_db))).max(0.0);
    }
}

impl Diagnosis {
    /// Whether `value` clears `threshold` (lower by [`HYSTERESIS_DB`] if already on).
    fn over(&mut self, kind: FindingKind, key: &str, value: f32, threshold: f32) -> bool {
        self.over_with_margin(kind, key, value, threshold, HYSTERESIS_DB)
    }

    /// Whether `value`, in samples, clears `threshold` (lower by [`HYSTERESIS_SAMPLES`] if
    /// already on).
    fn over_samples(&mut self, kind: FindingKind, key: &str, value: f32, threshold: f32) -> bool {
        self.over_with_margin(kind, key, value, threshold, HYSTERESIS_SAMPLES)
    }

    /// Whether `value` clears `threshold` (lower by `margin` if already on); records it as on.
    fn over_with_margin(
        &mut self,
        kind: FindingKind,
        key: &str,
        value: f32,
        threshold: f32,
        margin: f32,
    ) -> bool {
        let k = (kind, key.to_string());
        let margin = if self.active.contains(&k) {
            margin
        } else {
            0.0
        };
        let on = value.is_finite() && value >= threshold - margin;
        if on {
            self.next.insert(k);
        }
        on
    }

    /// The findings for `m`, most important first.
    pub fn update(&mut self, m: &Measurements, config: &AnalyzerConfig) -> Vec<Finding> {
        self.next.clear();
        let mut out = Vec::new();
        let confidence =
            (m.seconds_analysed / FULL_CONFIDENCE_SECONDS).clamp(MIN_CONFIDENCE, 1.0) as f32;

        setup::setup(m, config, &mut out);
        self.levels(m, config, &mut out);
        if m.has_master && m.num_stems > 0 && m.seconds_analysed >= MIN_ANALYSIS_SECONDS as f64 {
            if m.cross_ready {
                self.null_test(m, confidence, &mut out);
                self.cancellations(m, confidence, &mut out);
            } else {
                // Between a lag change and enough new frames, keep what was on (no flicker).
                self.next.extend(
                    self.active
                        .iter()
                        .filter(|(k, _)| !is_headroom(*k))
                        .cloned(),
                );
                out.extend(self.held.iter().cloned());
            }
        }
        if m.cross_ready {
            self.held = out
                .iter()
                .filter(|f| !is_headroom(f.kind))
                .cloned()
                .collect();
        }
        self.active = std::mem::take(&mut self.next);
        out.sort_by_key(|f| std::cmp::Reverse(f.importance()));
        out
    }

    /// The null test: does the sum rebuild the master, and if not, why. Causes are named in
    /// order (stems' offsets, stems' polarity and gain, the master bus, missing content), each
    /// against what the earlier ones left.
    fn null_test(&mut self, m: &Measurements, confidence: f32, out: &mut Vec<Finding>) {
        master_bus::master_latency(m, confidence, out);
        // Dropouts first: the other causes decide on the residual outside them.
        let outside = self.dropouts(m, confidence, out);
        let dropped = outside.is_some();
        let m = outside.as_ref().unwrap_or(m);
        let residual = m.null_residual_db;
        // A residual no louder than the files' own floors leave (their dither and rounding,
        // known from their bit depths) is a null at those bit depths: no cause is read from it.
        let at_floor = m
            .null_floor_db
            .filter(|&floor| residual <= floor + NULL_FLOOR_MARGIN_DB);
        if self.over(FindingKind::Nulls, "", -residual, -NULLS_BELOW_DB) || at_floor.is_some() {
            if dropped {
                return;
            }
            let message = match at_floor {
                Some(floor) if residual > NULLS_BELOW_DB => format!(
                    "Nulls: the stems rebuild the master to the files' own floor (residual {residual:.1} dB re master, {floor:.1} dB from their dither and rounding at their bit depths)."
                ),
                _ => format!(
                    "Nulls: the stems rebuild the master (residual {residual:.1} dB re master)."
                ),
            };
            out.push(Finding::new(
                FindingKind::Nulls,
                Severity::Info,
                vec![],
                f64::from(residual),
                Unit::Db,
                confidence,
                message,
                "Nothing to fix.".into(),
            ));
            return;
        }
        let recast = master_bus::compressor_took_stem_gains(m);
        let m = recast.as_ref().unwrap_or(m);
        let mut causes = Causes::new(m, confidence);
        self.stem_offsets(m, &mut causes, out);
        self.stem_gains(m, &mut causes, out);
        // What an inverted stem leaves once turned is judged on its own only where it responds
        // over tens of milliseconds (a return): the other stems' fits, disturbed by the
        // inverted one, leave an instant response as loud (MuseScore's folk piece, its drums
        // inverted: the bass placed 0.9 samples off left -33.9 dB, spread 0.41).
        if m.residual_turned_ir_spread > LONG_RESPONSE_SPREAD {
            causes.turn_signs(m.residual_turned_db);
        }
        let long_response = missing::long_response(m);
        self.master_bus(m, &mut causes, long_response, out);
        self.missing(m, &mut causes, long_response, out);
        master_bus::eq_of_the_missing_part(self, m, out);
        // A master that clips is a reason named already: what its clips leave beside the hops
        // kept out (the samples next to a clip, a soft knee) is no "residual for no clear
        // reason" (a mix 3 dB over full scale left -49.0 dB), and no null either: the clipping
        // finding stands alone.
        let master_clips = out
            .iter()
            .any(|f| f.kind == FindingKind::Clipping && f.stems.is_empty());
        if !causes.explained
            && !dropped
            && !master_clips
            && !missing::unexplained_residual(m, confidence, out)
        {
            out.push(Finding::new(
                FindingKind::Nulls,
                Severity::Info,
                vec![],
                f64::from(residual),
                Unit::Db,
                confidence,
                format!(
                    "Nearly nulls: residual {residual:.1} dB re master (nulls is below {NULLS_BELOW_DB:.0} dB); no cause found, and under the {:.0} dB from which unexplained content is reported.",
                    crate::config::MISSING_CONTENT_THRESHOLD_DB
                ),
                "Nothing to fix.".into(),
            ));
        }
    }
}

/// A frequency for a message: Hz below 1 kHz, else kHz.
fn format_hz(hz: f32) -> String {
    if hz >= 1000.0 {
        format!("{:.1} kHz", hz / 1000.0)
    } else {
        format!("{hz:.0} Hz")
    }
}

#[cfg(test)]
mod tests;
