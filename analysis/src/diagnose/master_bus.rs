//! Rules for `master-*` findings: the master offset against all stems alike
//! (`master-latency`, info), and processing on the master bus the stems lack: compression
//! (`master-bus-dynamics`), EQ (`master-bus-eq`), gain (`master-bus-gain`).

use crate::config::{
    BUS_EQ_THRESHOLD_DB, BUS_GAIN_BESIDE_EQ_MIN_RATIO, BUS_GAIN_ERROR_DB, BUS_GAIN_THRESHOLD_DB,
    CAUSE_MIN_SHARE, DYNAMICS_CLEAR_OVER_ONE_GAIN_DB, DYNAMICS_CLEAR_THRESHOLD_DB,
    DYNAMICS_FOLD_MAX_UNEXPLAINED_SHARE, DYNAMICS_MIN_CORRELATION, DYNAMICS_OVER_ONE_GAIN_MIN_DB,
    DYNAMICS_THRESHOLD_DB, MISSING_MIN_NON_COLLINEAR_SHARE, STEM_ABSENT_DB,
    STEM_GAINS_OVER_DYNAMICS_MIN_DB,
};
use crate::decibels::{db_to_power, energy_ratio_db};
use crate::dynamics::{DynamicsEstimate, stem_gain_beyond_dynamics_db};
use crate::finding::{Finding, FindingKind, Severity, Unit};
use crate::measurements::Measurements;

use super::{Causes, Diagnosis, format_hz};

/// The measurements recast when the stems' fitted gains are a master-bus compressor's gain
/// reduction (one cause per effect), else `None`. A compressor turns every stem down alike
/// where the mix is loud; when one stem plays mostly in the loud passages, the whole-run gain
/// fit hands it the gain reduction. Then a gain per level on the stems at unity leaves about
/// what it leaves on the stems at their fitted gains ([`STEM_GAINS_OVER_DYNAMICS_MIN_DB`]),
/// and explains more than one gain for the run ([`DYNAMICS_OVER_ONE_GAIN_MIN_DB`]): the
/// stems' gains go back to unity (their polarity, a gain no compressor gives, and a stem the
/// master barely holds, stay),
/// and the compressor is the one read against the stems at unity, explaining what they did.
pub(super) fn compressor_took_stem_gains(m: &Measurements) -> Option<Measurements> {
    let r = m.level_residuals?;
    let fit = m.dynamics_unit_fit?;
    // A gain no compressor gives (`stem_gain_beyond_dynamics_db`) is the stem's own: the
    // compressor was read with it in the prediction (`analyzer/frame_gain.rs`), and it stays.
    // As deep as either view reads it (a 4:1 compressor read 3.3 dB against the stems at
    // unity and 8.9 dB against their fitted gains gave a piano +3.4 dB).
    let depth_db = fit
        .depth_db
        .max(m.dynamics.map_or(0.0, |d| d.gain_reduction_db));
    let beyond_db = stem_gain_beyond_dynamics_db(depth_db);
    let taken = |s: &crate::measurements::StemMeasurements| {
        !s.inverted && s.gain_db > STEM_ABSENT_DB && s.gain_db != 0.0 && s.gain_db.abs() < beyond_db
    };
    let compressor = r.unit_one_gain_db - r.unit_per_level_db >= DYNAMICS_OVER_ONE_GAIN_MIN_DB
        && r.unit_per_level_db - r.fitted_per_level_db < STEM_GAINS_OVER_DYNAMICS_MIN_DB
        && -fit.agreement <= DYNAMICS_MIN_CORRELATION
        && fit.depth_db >= DYNAMICS_THRESHOLD_DB;
    if !compressor || !m.stems.iter().any(taken) {
        return None;
    }
    let mut recast = m.clone();
    let mut explained =
        db_to_power(f64::from(r.unit_one_gain_db)) - db_to_power(f64::from(r.unit_per_level_db));
    for s in recast.stems.iter_mut().filter(|s| taken(s)) {
        explained += db_to_power(f64::from(s.gain_explains_db));
        s.gain_db = 0.0;
        s.gain_explains_db = energy_ratio_db(0.0, 1.0);
    }
    recast.dynamics = Some(DynamicsEstimate {
        gain_reduction_db: fit.depth_db,
        correlation: -fit.agreement,
        level_span_db: fit.level_span_db,
        frames: fit.blocks,
    });
    recast.dynamics_fit = Some(fit);
    recast.dynamics_explains_db = energy_ratio_db(explained.max(0.0), 1.0);
    Some(recast)
}

/// `master-latency`: the lag all stems share, compensated before the null test.
pub(super) fn master_latency(m: &Measurements, confidence: f32, out: &mut Vec<Finding>) {
    if m.common_lag_samples != 0 {
        let ms = m.common_lag_samples as f64 * 1000.0 / f64::from(m.sample_rate_hz);
        out.push(Finding::new(
            FindingKind::MasterLatency,
            Severity::Info,
            vec![],
            m.common_lag_samples as f64,
            Unit::Samples,
            confidence,
            format!(
                "The master is {} samples ({ms:.2} ms) {} all stems alike; compensated before the null test.",
                m.common_lag_samples.abs(),
                if m.common_lag_samples > 0 { "later than" } else { "earlier than" }
            ),
            "Nothing to fix if Stemcheck sits after a look-ahead limiter; otherwise check the master bus's delay compensation.".into(),
        ));
    }
}

impl Diagnosis {
    /// `master-bus-dynamics`, `master-bus-eq`, `master-bus-gain`, in that order, each against
    /// what is left. None of them when the residual responds over tens of milliseconds
    /// (`long_response`: a reverb or delay return, not processing); no broadband gain next to
    /// compression (which changes the average level too), and EQ next to compression only
    /// beyond the compression's own depth.
    pub(super) fn master_bus(
        &mut self,
        m: &Measurements,
        causes: &mut Causes,
        long_response: bool,
        out: &mut Vec<Finding>,
    ) {
        let mut dynamic = false;
        // A compressor or limiter is modelled as a gain that falls with level above a knee
        // (`analyzer/level_gain.rs`); its consequences are its own: the gain into it or its
        // make-up moves the average level (a broadband master gain), so what the two explain
        // together is the compressor's share.
        // The block gains are read against the predicted master: when most of what is left is
        // content no stem carries, that prediction is wrong, and the block gains measure what
        // is playing, not the bus: no compressor is read from them then.
        // After a stem's own cause, what is left is at least what no stem explains and what the
        // bus's gain and dynamics explain: a stem's cause that took nearly all of the residual
        // (drums inverted, 4 dB under the mix) leaves the coherence estimate a bias 15 dB under
        // it, which against the floored remainder read as most of what was left, and the
        // compressor went unread. (With no stem's cause named, a missing part's residual
        // modulates the block gains too: what they explain is no measure of what is left.)
        let explains_db = power_sum_db(m.dynamics_explains_db, m.bus_gain_explains_db);
        let unexplained = db_to_power(f64::from(m.unexplained_db));
        let left = if causes.explained {
            unexplained + db_to_power(f64::from(explains_db))
        } else {
            0.0
        };
        // A residual that responds over tens of milliseconds is a return's, unless a gain that
        // depends on level explains it: a return adds the same at every level (measured: 0.1
        // dB at most over one gain for the run), a compressor whose release is slow smears its
        // residual too (1.3 dB and more).
        let level_dependent = m.level_residuals.is_some_and(|r| {
            r.unit_one_gain_db - r.unit_per_level_db >= DYNAMICS_OVER_ONE_GAIN_MIN_DB
        });
        // What no stem explains may also be the compressor's own: a compressor driven hard
        // moves its gain within each frame, which no frame's fit finds, but the residual stays
        // the sum under a gain (collinear with it block by block, as for the missing-content
        // rule) and that gain depends on level. A part no stem carries is neither (real case:
        // 10 dB of gain reduction on a piano trio left 52% of the residual unexplained, 92% of
        // it collinear with the sum, a gain per level 1.5 dB over one gain; it read as EQ).
        let gain_shaped =
            level_dependent && 1.0 - m.residual_collinear_share < MISSING_MIN_NON_COLLINEAR_SHARE;
        let predicted = gain_shaped
            || unexplained
                < f64::from(DYNAMICS_FOLD_MAX_UNEXPLAINED_SHARE) * causes.left().max(left);
        // A shallower reduction counts when the gain depends on level beyond doubt.
        let clearly_level_dependent = m.level_residuals.is_some_and(|r| {
            r.unit_one_gain_db - r.unit_per_level_db >= DYNAMICS_CLEAR_OVER_ONE_GAIN_DB
        });
        let threshold = match m.dynamics {
            Some(d) if clearly_level_dependent && d.correlation <= -1.0 => {
                DYNAMICS_CLEAR_THRESHOLD_DB
            }
            _ => DYNAMICS_THRESHOLD_DB,
        };
        if let Some(d) = m.dynamics
            && predicted
            && (!long_response || level_dependent)
            && d.correlation <= DYNAMICS_MIN_CORRELATION
            && causes.share(explains_db) >= CAUSE_MIN_SHARE
            && self.over(
                FindingKind::MasterBusDynamics,
                "",
                d.gain_reduction_db,
                threshold,
            )
        {
            causes.explained = true;
            causes.take(explains_db);
            dynamic = true;
            let message = match m.ceiling {
                // A limiter's ceiling: where it holds the peaks, and the drive into it (the
                // broadband gain it brings, folded into this finding).
                Some(c) => {
                    let drive = if m.bus_gain_db >= BUS_GAIN_THRESHOLD_DB {
                        format!(" after {:+.1} dB of gain into it", m.bus_gain_db)
                    } else {
                        String::new()
                    };
                    format!(
                        "The master bus limits: it holds the peaks at {:.1} dBFS{drive}, up to {:.1} dB down, a limiter the stems lack.",
                        c.ceiling_dbfs, c.most_db
                    )
                }
                None => {
                    let knee = m
                        .dynamics_fit
                        .map(|fit| format!(" above about {:.0} dBFS", fit.knee_dbfs))
                        .unwrap_or_default();
                    format!(
                        "The master bus compresses: it turns the loudest passages down by about {:.1} dB{knee}, a compressor or limiter the stems lack.",
                        d.gain_reduction_db
                    )
                }
            };
            out.push(Finding::new(
                FindingKind::MasterBusDynamics,
                Severity::Error,
                vec![],
                f64::from(d.gain_reduction_db),
                Unit::Db,
                causes.confidence,
                message,
                "Print the master-bus compressor/limiter into the stems, or bypass it for both."
                    .into(),
            ));
        }
        let mut equalised = false;
        // Beside a compressor, the EQ is what is left once each band's share of the
        // compressor's gain is taken out (a compressor turns the bands that are loud in the
        // loud passages down more often: alone it reads as a cut there), and it must exceed the
        // compressor's own depth.
        let (eq_db, eq_threshold) = if dynamic {
            (
                m.bus_eq_beyond_dynamics_db,
                BUS_EQ_THRESHOLD_DB.max(m.dynamics.map_or(0.0, |d| d.gain_reduction_db)),
            )
        } else {
            (m.bus_eq_max_db, BUS_EQ_THRESHOLD_DB)
        };
        // Beside content no stem carries, an EQ is judged on its own: what no stem explains is
        // no part of what the bus's fitted response explains (the one is what the other leaves),
        // so the EQ's share is taken of the rest, if the EQ stands where the stems explain the
        // master, beyond what the missing part could move the fit by (`bus_eq_credible_db`).
        // Not beside a compressor, whose gain moving within frames leaves both.
        let credible_beside_missing = !dynamic
            && m.bus_eq_credible_db.abs() >= eq_threshold
            && causes.share_beside(m.bus_eq_explains_db, m.unexplained_db) >= CAUSE_MIN_SHARE;
        if !long_response
            && (causes.share(m.bus_eq_explains_db) >= CAUSE_MIN_SHARE || credible_beside_missing)
            && self.over(FindingKind::MasterBusEq, "", eq_db.abs(), eq_threshold)
        {
            causes.explained = true;
            causes.take(m.bus_eq_explains_db);
            equalised = true;
            let (lo, hi) = m.bus_eq_band_hz;
            let centre = (lo * hi).sqrt();
            let mut f = Finding::new(
                FindingKind::MasterBusEq,
                Severity::Error,
                vec![],
                f64::from(m.bus_eq_max_db),
                Unit::Db,
                causes.confidence,
                format!(
                    "The master bus has EQ the stems lack: {:+.1} dB around {} against the stems.",
                    m.bus_eq_max_db,
                    format_hz(centre)
                ),
                "Print the master-bus EQ into the stems, or bypass it for both.".into(),
            );
            f.band_hz = Some((lo, hi));
            out.push(f);
        }
        // Beside an EQ, a broadband gain must explain a real share of the whole residual, not
        // only of the crumbs the EQ left, and be more than a wide bell drags the broadband level
        // along by: an EQ's bell moves the broadband level a little too.
        let beside_eq_ok = !equalised
            || (causes.aligned_share(m.bus_gain_explains_db) >= CAUSE_MIN_SHARE
                && m.bus_gain_db.abs() > BUS_GAIN_BESIDE_EQ_MIN_RATIO * m.bus_eq_max_db.abs());
        if !dynamic
            && !long_response
            && beside_eq_ok
            && causes.share(m.bus_gain_explains_db) >= CAUSE_MIN_SHARE
            && self.over(
                FindingKind::MasterBusGain,
                "",
                m.bus_gain_db.abs(),
                BUS_GAIN_THRESHOLD_DB,
            )
        {
            causes.explained = true;
            causes.take(m.bus_gain_explains_db);
            out.push(Finding::new(
                FindingKind::MasterBusGain,
                if m.bus_gain_db.abs() >= BUS_GAIN_ERROR_DB { Severity::Error } else { Severity::Warning },
                vec![],
                f64::from(m.bus_gain_db),
                Unit::Db,
                causes.confidence,
                format!("The master is {:+.2} dB against the stems' sum (a master fader or gain plugin).", m.bus_gain_db),
                "Set the master-bus gain to 0 dB for the stem export, or apply the same gain to every stem.".into(),
            ));
        }
    }
}

/// Drops a `master-bus-eq` beside a named `missing-*` when no band the stems explain deviates
/// beyond what that missing part could move the fit by (`bus_eq_credible_db` under the EQ
/// threshold): one cause per effect. A missing reverb's part coherent with its sources read as
/// 0.7 dB of EQ at 500 Hz on the orchestral piece, where 0.0 dB of it was beyond the bias. Not
/// beside a compressor (whose EQ is read beyond the compression's depth).
pub(super) fn eq_of_the_missing_part(
    diagnosis: &mut Diagnosis,
    m: &Measurements,
    out: &mut Vec<Finding>,
) {
    let missing = out.iter().any(|f| {
        matches!(
            f.kind,
            FindingKind::MissingContent | FindingKind::MissingFxReturn
        )
    });
    let dynamic = out.iter().any(|f| f.kind == FindingKind::MasterBusDynamics);
    if missing && !dynamic && m.bus_eq_credible_db.abs() < BUS_EQ_THRESHOLD_DB {
        out.retain(|f| f.kind != FindingKind::MasterBusEq);
        diagnosis
            .next
            .remove(&(FindingKind::MasterBusEq, String::new()));
    }
}

impl Causes {
    /// The share a cause explaining `explains_db` re master explains of what is left beside
    /// what no stem explains (`unexplained_db`), floored as [`Causes::share`]'s.
    pub(super) fn share_beside(&self, explains_db: f32, unexplained_db: f32) -> f32 {
        let db_to_power = crate::decibels::db_to_power;
        let beside = (self.remaining - db_to_power(f64::from(unexplained_db)))
            .max(crate::config::REMAINING_FLOOR_SHARE * self.aligned_power);
        (db_to_power(f64::from(explains_db)) / beside) as f32
    }

    /// The share of the whole aligned residual a cause explaining `explains_db` re master
    /// explains (whatever earlier causes took).
    pub(super) fn aligned_share(&self, explains_db: f32) -> f32 {
        (crate::decibels::db_to_power(f64::from(explains_db)) / self.aligned_power) as f32
    }
}

/// Two energies given in dB (re the same reference), added, in dB.
fn power_sum_db(a_db: f32, b_db: f32) -> f32 {
    let sum = 10f64.powf(f64::from(a_db) / 10.0) + 10f64.powf(f64::from(b_db) / 10.0);
    (10.0 * sum.max(1e-30).log10()) as f32
}

#[cfg(test)]
mod tests;
