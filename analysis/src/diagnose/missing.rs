//! Rules for `missing-*` findings: content in the master no stem carries, a dry source
//! (`missing-content`) or a reverb or delay return (`missing-fx-return`); and a residual no
//! single cause explains.

use crate::config::{
    CAUSE_MIN_SHARE, LONG_RESPONSE_MIN_COHERENT, LONG_RESPONSE_SPREAD,
    MISSING_AFTER_OTHER_CAUSE_SHARE, MISSING_CONTENT_ERROR_DB, MISSING_CONTENT_THRESHOLD_DB,
    MISSING_MIN_NON_COLLINEAR_SHARE, OWN_ONSETS_MIN_RATIO, RETURN_MIN_CAUSAL_EXPLAINED,
    RETURN_MIN_CAUSALITY, RETURN_SURE_CAUSAL_EXPLAINED, SOURCE_MIN_CORRELATION, TAIL_FOLLOW_RATIO,
    TAIL_MAX_CORRELATION, UNEXPLAINED_CONFIDENCE_FACTOR, WIDE_RESIDUAL_CORRELATION,
};
use crate::decibels::db_to_power_f32;
use crate::finding::{Finding, FindingKind, Severity, Unit};
use crate::measurements::Measurements;

use super::{Causes, Diagnosis, format_hz};

/// Whether the residual is mostly coherent with the sum but responds over tens of
/// milliseconds: a reverb or delay fed by the stems, not EQ or gain (the master-bus rules must
/// not explain it away as those).
pub(super) fn long_response(m: &Measurements) -> bool {
    let coherent_share =
        1.0 - (db_to_power_f32(m.unexplained_db - m.residual_spectral_db)).min(1.0);
    m.residual_ir_spread > LONG_RESPONSE_SPREAD
        && coherent_share > LONG_RESPONSE_MIN_COHERENT
        && m.null_residual_db > MISSING_CONTENT_THRESHOLD_DB
}

/// A `missing-content` warning for an audible residual that no cause explains; whether there
/// was one.
pub(super) fn unexplained_residual(
    m: &Measurements,
    confidence: f32,
    out: &mut Vec<Finding>,
) -> bool {
    let residual = m.null_residual_db;
    if residual <= MISSING_CONTENT_THRESHOLD_DB {
        return false;
    }
    out.push(Finding::new(
        FindingKind::MissingContent,
        Severity::Warning,
        vec![],
        f64::from(residual),
        Unit::Db,
        confidence * UNEXPLAINED_CONFIDENCE_FACTOR,
        format!("The stems do not rebuild the master (residual {residual:.1} dB re master), for no single clear reason."),
        "Compare the stem routing with the mix: sends, master-bus plugins, automation.".into(),
    ));
    true
}

impl Diagnosis {
    /// `missing-content` or `missing-fx-return`: what no stem explains, when it holds a real
    /// share of what is left (a larger one if another cause was named), or when the residual
    /// responds like a return and nothing else was named. An effect return is told from a
    /// source by its response, its width or its tail.
    pub(super) fn missing(
        &mut self,
        m: &Measurements,
        causes: &mut Causes,
        long_response: bool,
        out: &mut Vec<Finding>,
    ) {
        let residual = m.null_residual_db;
        let unexplained_share = causes.share(m.unexplained_db);
        let other_cause = causes.explained;
        let long_response = long_response && !other_cause;
        let missing_db = if long_response {
            residual
        } else {
            m.unexplained_db
        };
        // Beside a gain or dynamics on the bus (or a stem's gain), what that cause leaves is the
        // sum under a gain changing within a frame: collinear with the sum block by block. A
        // source or return no stem carries is not, so only the part that is not collinear can
        // be one; a residual mostly collinear with the sum is the named cause's own.
        if other_cause && 1.0 - m.residual_collinear_share < MISSING_MIN_NON_COLLINEAR_SHARE {
            return;
        }
        let min_share = CAUSE_MIN_SHARE.max(if causes.explained {
            MISSING_AFTER_OTHER_CAUSE_SHARE
        } else {
            0.0
        });
        // After another cause, what no stem explains is also a cause only if it holds a share
        // of the whole aligned residual, as every cause must: a share of what a cause that
        // explains nearly all left is the model's leftovers (a bus EQ read band by band).
        let holds_its_share =
            !other_cause || causes.aligned_share(m.unexplained_db) >= CAUSE_MIN_SHARE;
        if (long_response || (unexplained_share >= min_share && holds_its_share))
            && self.over(
                FindingKind::MissingContent,
                "",
                missing_db,
                MISSING_CONTENT_THRESHOLD_DB,
            )
        {
            causes.explained = true;
            let (lo, hi) = m.unexplained_band_hz;
            let wide = m.residual_lr_correlation < WIDE_RESIDUAL_CORRELATION;
            let tail = m.residual_tail_follow > TAIL_FOLLOW_RATIO;
            // A dry source has onsets of its own (a return's envelope is its sources' smeared)
            // and, mixed narrow, its direct sound in both channels: such a residual is a source
            // no stem carries even where it responds like a return to the stems (a missing
            // kick locked to the bass).
            let own_onsets = m.residual_onset_ratio >= OWN_ONSETS_MIN_RATIO;
            let source_like = own_onsets && m.residual_lr_correlation >= SOURCE_MIN_CORRELATION;
            // Otherwise the return model decides once it has enough of the run: a return's
            // envelope is the stems' smeared forward in time, a source's is not (a wide
            // stereo piano or string section is as wide as a reverb). Before that, the
            // residual's response, width and tail.
            let trails_the_sum = m.residual_return_fit.map(|fit| {
                fit.causal_explained >= RETURN_MIN_CAUSAL_EXPLAINED
                    && (fit.causality() >= RETURN_MIN_CAUSALITY
                        || (wide && fit.causal_explained >= RETURN_SURE_CAUSAL_EXPLAINED))
            });
            // Beside a stem named inverted, the residual's width and response are mostly the
            // inverted stem's: what is left once its sign is turned responds over tens of
            // milliseconds if it is a return (`residual_turned_ir_spread`). Where the return
            // model then explains little either way (a delay fed by sustained synths), that
            // response decides. (Alone, a wide residual the model explains little of is a
            // source: a synth pad no stem carries, 0.27 and 0.19.)
            let turned_long = causes.inverted && m.residual_turned_ir_spread > LONG_RESPONSE_SPREAD;
            let trails_the_sum = trails_the_sum.filter(|_| {
                !turned_long
                    || m.residual_return_fit.is_some_and(|fit| {
                        fit.causal_explained.max(fit.anticausal_explained)
                            >= RETURN_MIN_CAUSAL_EXPLAINED
                    })
            });
            let is_fx = !source_like
                && trails_the_sum.unwrap_or(
                    long_response
                        || turned_long
                        || wide
                        || (tail && m.residual_lr_correlation < TAIL_MAX_CORRELATION),
                );
            // Alone, the missing content is the whole residual (part of a reverb tail is
            // coherent with its dry source within a frame, so "unexplained" undercounts it).
            let level = if other_cause {
                m.unexplained_db
            } else {
                m.null_residual_db.max(m.unexplained_db)
            };
            let severity = if level >= MISSING_CONTENT_ERROR_DB {
                Severity::Error
            } else {
                Severity::Warning
            };
            let mut f = if is_fx {
                Finding::new(
                    FindingKind::MissingFxReturn,
                    severity,
                    vec![],
                    f64::from(level),
                    Unit::Db,
                    causes.confidence,
                    format!(
                        "The master has reverb or delay no stem carries ({level:.1} dB re master, diffuse{}).",
                        if tail { ", trailing the transients" } else { "" }
                    ),
                    "Route the reverb/delay return to the FX stem (or print it into the stems it belongs to).".into(),
                )
            } else {
                Finding::new(
                    FindingKind::MissingContent,
                    severity,
                    vec![],
                    f64::from(level),
                    Unit::Db,
                    causes.confidence,
                    format!(
                        "The master has a source no stem carries ({level:.1} dB re master, mostly around {}).",
                        format_hz((lo * hi).sqrt())
                    ),
                    "Find the track routed straight to the master (or to no stem) and route it to a stem.".into(),
                )
            };
            f.band_hz = Some((lo, hi));
            out.push(f);
        }
    }
}

#[cfg(test)]
mod tests;
