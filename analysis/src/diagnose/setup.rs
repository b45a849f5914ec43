//! Rules for the setup: nothing to compare with (`no-master`, `no-stems`), an unusual number of
//! stems (`stem-count`), and signals at other sample rates (`sample-rate-mismatch`, raised by
//! the callers that see the rates).

use crate::config::{AnalyzerConfig, SETUP_MIN_SECONDS};
use crate::finding::{Finding, FindingKind, Severity, Unit};
use crate::measurements::Measurements;

/// `no-master`, `no-stems`, `stem-count`.
pub(super) fn setup(m: &Measurements, config: &AnalyzerConfig, out: &mut Vec<Finding>) {
    if m.seconds_received >= SETUP_MIN_SECONDS && !m.has_master && m.num_stems > 0 {
        out.push(Finding::new(
            FindingKind::NoMaster,
            Severity::Warning,
            vec![],
            0.0,
            Unit::None,
            1.0,
            "No master: the stems have nothing to be compared with.".into(),
            "Put Stemcheck on the master bus (or give the checker the mixdown).".into(),
        ));
    }
    if m.seconds_received >= SETUP_MIN_SECONDS && m.has_master && m.num_stems == 0 {
        out.push(Finding::new(
            FindingKind::NoStems,
            Severity::Warning,
            vec![],
            0.0,
            Unit::None,
            1.0,
            "No stems: the master has nothing to be compared with.".into(),
            "Put Stemcheck on every stem bus (or give the checker the stem files).".into(),
        ));
    }
    let n = m.num_stems;
    if n >= config.multitrack_stems {
        out.push(Finding::new(
            FindingKind::StemCount,
            Severity::Warning,
            vec![],
            n as f64,
            Unit::Count,
            1.0,
            format!("{n} stems: this looks like raw multitracks, not stems (usually 5 to 8, at most about 12)."),
            "Group the tracks into musical stems (drums, bass, harmony, leads, FX).".into(),
        ));
    } else if n > config.usual_max_stems || (n > 0 && n < config.usual_min_stems) {
        out.push(Finding::new(
            FindingKind::StemCount,
            Severity::Info,
            vec![],
            n as f64,
            Unit::Count,
            1.0,
            format!("{n} stems: a stem set usually has 5 to 8 (at most about 12)."),
            "Check the delivery spec for the expected stems.".into(),
        ));
    }
}

/// A finding about instances at different sample rates, for callers that see the rates (the
/// live core and the file checker): the analysis itself runs at one rate.
pub fn sample_rate_mismatch(stems: Vec<String>, expected_hz: f32, found_hz: &[f32]) -> Finding {
    let rates: Vec<String> = found_hz.iter().map(|r| format!("{r} Hz")).collect();
    Finding::new(
        FindingKind::SampleRateMismatch,
        Severity::Error,
        stems.clone(),
        f64::from(found_hz.first().copied().unwrap_or(0.0)),
        Unit::Hz,
        1.0,
        format!(
            "{} at {} while the master runs at {expected_hz} Hz: they cannot be compared.",
            stems.join(", "),
            rates.join(", ")
        ),
        format!("Export or run everything at {expected_hz} Hz."),
    )
}

#[cfg(test)]
mod tests;
