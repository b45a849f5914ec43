//! Rules for findings with a place in time: `stem-dropout`, a stem that goes (near-)digitally
//! silent where the mix still has its part (its export ended early, or a mute was left on).
//! Decided first among the null-test causes: a dropout's residual is its own, and the
//! whole-run causes are decided on the residual outside the dropouts.

use crate::config::{
    DROPOUT_BESIDE_MAX_SHORTFALL_DB, DROPOUT_FALL_DB, DROPOUT_LATE_MIN_LEVEL_VS_RESIDUAL_DB,
    DROPOUT_LATE_MIN_MATCH, DROPOUT_LOCAL_RISE_DB, DROPOUT_MATCH_MARGIN, DROPOUT_MAX_RESIDUAL_DB,
    DROPOUT_MIN_LEVEL_DB, DROPOUT_MIN_LEVEL_VS_RESIDUAL_DB, DROPOUT_MIN_NAMED_SECONDS,
    DROPOUT_MIN_RESIDUAL_DB, DROPOUT_NESTED_MATCH_MARGIN, DROPOUT_RISE_DB, DROPOUT_SHORT_MIN_SHARE,
};
use crate::decibels::db_to_power_f32;
use crate::finding::{Finding, FindingKind, Severity, Unit};
use crate::measurements::{DropoutMeasurement, Measurements};

use super::Diagnosis;

/// A time for a message: `m:ss.sss` (`1:02.500`).
pub(super) fn format_time(seconds: f64) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!("{}:{:02}.{:03}", ms / 60_000, (ms / 1000) % 60, ms % 1000)
}

/// Whether a candidate is a dropout: the residual rose in the stretch, to about the stem's
/// level around it, audibly, and the stem explains it at least as well as any other stem
/// silent at the same time; a short gap only if it holds most of the whole residual
/// (`null_residual_db`, re master, over the whole run).
fn is_dropout(d: &DropoutMeasurement, null_residual_db: f32) -> bool {
    let long = d.open || d.end_s - d.start_s >= DROPOUT_MIN_NAMED_SECONDS;
    let most = db_to_power_f32(d.explains_db - null_residual_db) >= DROPOUT_SHORT_MIN_SHARE;
    (long || most) && explains_residual(d)
}

/// Whether a candidate's silence explains the residual in its stretch, whatever its length:
/// the residual rose, to about the stem's level around it and over the residual's level
/// elsewhere, audibly but no louder than the mix
/// (what a missing part can leave), and the stem explains it at least as well as any other stem
/// silent at the same time, and clearly better than one whose dropout was already open when it
/// went silent (that dropout's residual goes on in the stretch: one cause per effect); a stretch
/// judged late, with no level before it, only if the residual has the stem's own shape and
/// stands well over the residual elsewhere.
fn explains_residual(d: &DropoutMeasurement) -> bool {
    d.rise_db.max(d.rise_through_bus_db) >= DROPOUT_RISE_DB
        && d.local_rise_db >= DROPOUT_LOCAL_RISE_DB
        && d.level_vs_stem_db >= DROPOUT_MIN_LEVEL_DB
        && d.level_vs_residual_db >= DROPOUT_MIN_LEVEL_VS_RESIDUAL_DB
        && d.residual_db >= DROPOUT_MIN_RESIDUAL_DB
        && d.residual_db <= DROPOUT_MAX_RESIDUAL_DB
        && d.spectral_match >= d.rival_match - DROPOUT_MATCH_MARGIN
        && d.spectral_match >= d.earlier_rival_match + DROPOUT_NESTED_MATCH_MARGIN
        && (!d.judged_late
            || (d.spectral_match >= DROPOUT_LATE_MIN_MATCH
                && d.level_vs_residual_db >= DROPOUT_LATE_MIN_LEVEL_VS_RESIDUAL_DB))
        && d.fall_after_db >= DROPOUT_FALL_DB
}

impl Diagnosis {
    /// `stem-dropout` findings; if any, the measurements the other causes decide on (the
    /// residual outside the dropouts).
    pub(super) fn dropouts(
        &mut self,
        m: &Measurements,
        confidence: f32,
        out: &mut Vec<Finding>,
    ) -> Option<Measurements> {
        let mut named = false;
        // A stem that rested first beside a stem that went silent where the residual rose (and
        // explains it, even if too briefly to be named, but holds about as much of it) is
        // resting: the residual is that stem's (one cause per effect).
        let coincident: Vec<&DropoutMeasurement> = m
            .dropouts
            .iter()
            .filter(|d| !d.rested_first && explains_residual(d))
            .collect();
        let resting_beside = |d: &DropoutMeasurement| {
            d.rested_first
                && coincident.iter().any(|o| {
                    o.stem != d.stem
                        && o.start_s < d.end_s
                        && o.end_s > d.start_s
                        && o.explains_db >= d.explains_db - DROPOUT_BESIDE_MAX_SHORTFALL_DB
                })
        };
        // A stem that sounded again inside another's silence that explains the residual, the
        // residual going on until the other sounded again, is resting too.
        let outlived = |d: &DropoutMeasurement| {
            coincident
                .iter()
                .any(|o| o.stem != d.stem && d.outlived_by(o))
        };
        for d in m
            .dropouts
            .iter()
            .filter(|d| is_dropout(d, m.null_residual_db) && !resting_beside(d) && !outlived(d))
        {
            let key = format!("{}@{:.1}", d.stem, d.start_s);
            let rise_db = d.rise_db.max(d.rise_through_bus_db);
            if !self.over(FindingKind::StemDropout, &key, rise_db, DROPOUT_RISE_DB) {
                continue;
            }
            named = true;
            let name = &d.stem;
            let (message, fix) = if d.open {
                (
                    format!(
                        "{name} goes to digital silence at {} while the mix still sounds until {} (residual {:.1} dB re master there).",
                        format_time(d.start_s),
                        format_time(d.sounds_until_s),
                        d.residual_db
                    ),
                    format!("Re-export {name} over the whole song."),
                )
            } else {
                (
                    format!(
                        "{name} is silent from {} to {} in its stem but not in the mix (residual {:.1} dB re master there).",
                        format_time(d.start_s),
                        format_time(d.end_s),
                        d.residual_db
                    ),
                    format!("Check the mute automation on {name}, then re-export it."),
                )
            };
            let mut f = Finding::new(
                FindingKind::StemDropout,
                Severity::Error,
                vec![name.clone()],
                f64::from(d.residual_db),
                Unit::Db,
                confidence,
                message,
                fix,
            );
            f.time_range_s = Some((d.start_s, if d.open { d.sounds_until_s } else { d.end_s }));
            out.push(f);
        }
        // The spectral residuals are whole-run frame averages, and a frame over a dropout's
        // edge still holds part of it; but what lining the stems up and fitting them leaves
        // is never more than the residual itself: outside the dropouts, neither exceeds the
        // time-domain residual there.
        let outside = m.null_residual_outside_dropouts_db;
        named.then(|| Measurements {
            null_residual_db: outside,
            residual_spectral_db: m.residual_spectral_db.min(outside),
            unexplained_db: m.unexplained_db.min(outside),
            ..m.clone()
        })
    }
}

#[cfg(test)]
mod tests;
