//! Rules for level findings, which need no cross-spectral estimate: `clipping`, `true-peak`,
//! `dc-offset` (master and stems), `sum-over-full-scale`, `silent-stem`.

use crate::config::{
    AnalyzerConfig, DC_OFFSET_DBFS, SILENCE_DBFS, SILENT_STEM_MIN_PRESENT, SILENT_STEM_MIN_SECONDS,
    SUM_FULL_SCALE_DBFS, TRUE_PEAK_MARGIN_DB, TRUE_PEAK_SHOWN_STEP_DB,
};
use crate::finding::{Finding, FindingKind, Severity, Unit};
use crate::headroom::LevelSummary;
use crate::measurements::Measurements;

use super::Diagnosis;

/// A level as the message shows it (to [`TRUE_PEAK_SHOWN_STEP_DB`]): what is decided on.
fn shown_db(value_db: f32) -> f32 {
    (value_db / TRUE_PEAK_SHOWN_STEP_DB).round() * TRUE_PEAK_SHOWN_STEP_DB
}

impl Diagnosis {
    /// Every level finding of the master, the stems and their sum.
    pub(super) fn levels(
        &mut self,
        m: &Measurements,
        config: &AnalyzerConfig,
        out: &mut Vec<Finding>,
    ) {
        // Each signal with the gain the mix takes it at (a stem's fitted gain, in dB).
        let mut signals: Vec<(String, LevelSummary, bool, f32)> = Vec::new();
        if let Some(levels) = m.master_levels {
            signals.push(("Master".to_string(), levels, false, 0.0));
        }
        for stem in &m.stems {
            signals.push((stem.name.clone(), stem.levels, true, stem.gain_db));
        }
        for (name, levels, is_stem, mix_gain_db) in &signals {
            let stems = if *is_stem { vec![name.clone()] } else { vec![] };
            // The master held at full scale where the stems' sum passes it: overs of a sample
            // or two (0.5 dB over) leave no run of clipped samples, but flatten every peak
            // the stems take over.
            let held = m.master_full_scale_hold.filter(|_| !*is_stem);
            if levels.clipped_samples == 0
                && let Some(hold) = held
            {
                out.push(Finding::new(
                    FindingKind::Clipping,
                    Severity::Error,
                    stems.clone(),
                    hold.clamped_blocks as f64,
                    Unit::Count,
                    1.0,
                    format!(
                        "{name} clips: {} held at full scale where the stems reach up to {:+.1} dBFS (clipped at export, or a limiter at 0 dBFS the stems lack).",
                        match hold.clamped_blocks {
                            1 => "one of its peaks is".to_string(),
                            n => format!("{n} of its peaks are"),
                        },
                        hold.ceiling_dbfs + hold.most_db
                    ),
                    format!("Lower {name}'s level before export (or export as 32-bit float)."),
                ));
            }
            if levels.clipped_samples > 0 {
                out.push(Finding::new(
                    FindingKind::Clipping,
                    Severity::Error,
                    stems.clone(),
                    levels.clipped_samples as f64,
                    Unit::Count,
                    1.0,
                    format!(
                        "{name} clips: {} samples at or over full scale.",
                        levels.clipped_samples
                    ),
                    format!("Lower {name}'s level before export (or export as 32-bit float)."),
                ));
            }
            // Decided at the precision shown (0.1 dB): a peak shown as the limit meets it.
            if self.over(
                FindingKind::TruePeak,
                name,
                shown_db(levels.true_peak_dbtp),
                config.true_peak_limit_dbtp + TRUE_PEAK_MARGIN_DB,
            ) {
                out.push(Finding::new(
                    FindingKind::TruePeak,
                    Severity::Warning,
                    stems.clone(),
                    f64::from(levels.true_peak_dbtp),
                    Unit::Dbtp,
                    1.0,
                    format!(
                        "{name} reaches {:.1} dBTP (limit {:.1} dBTP).",
                        levels.true_peak_dbtp, config.true_peak_limit_dbtp
                    ),
                    format!(
                        "Lower {name} or use a true-peak limiter at {:.1} dBTP.",
                        config.true_peak_limit_dbtp
                    ),
                ));
            }
            // A stem exported hot carries its DC hot too: the DC is judged at the level the mix
            // takes the stem at, so one gain error is one finding (measured: a drum kit's DC at
            // -61.6 dBFS, exported 12 dB hot, read -49.6 dBFS beside its stem-gain finding).
            let dc_in_mix_dbfs = levels.dc_dbfs + mix_gain_db.min(0.0);
            if self.over(FindingKind::DcOffset, name, dc_in_mix_dbfs, DC_OFFSET_DBFS) {
                out.push(Finding::new(
                    FindingKind::DcOffset,
                    Severity::Warning,
                    stems.clone(),
                    f64::from(levels.dc_dbfs),
                    Unit::Dbfs,
                    1.0,
                    format!("{name} has a DC offset of {:.1} dBFS.", levels.dc_dbfs),
                    format!("High-pass {name} (a DC filter) before export."),
                ));
            }
        }
        if let Some(sum) = m.sum_levels
            && sum.peak_dbfs > SUM_FULL_SCALE_DBFS
        {
            out.push(Finding::new(
                FindingKind::SumOverFullScale,
                Severity::Warning,
                vec![],
                f64::from(sum.peak_dbfs),
                Unit::Dbfs,
                1.0,
                format!(
                    "The stems sum to {:.1} dBFS: over full scale when summed at unity.",
                    sum.peak_dbfs
                ),
                "Leave headroom on the stems (or deliver 32-bit float).".into(),
            ));
        }
        for stem in &m.stems {
            if m.seconds_received >= SILENT_STEM_MIN_SECONDS
                && stem.present_fraction > SILENT_STEM_MIN_PRESENT
                && stem.levels.peak_dbfs < SILENCE_DBFS
            {
                out.push(Finding::new(
                    FindingKind::SilentStem,
                    Severity::Warning,
                    vec![stem.name.clone()],
                    f64::from(stem.levels.peak_dbfs),
                    Unit::Dbfs,
                    1.0,
                    format!("{} is silent while the song plays.", stem.name),
                    format!(
                        "Check {}'s routing and mutes, or leave it out of the delivery.",
                        stem.name
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests;
