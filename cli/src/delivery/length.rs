//! The length rule: every file as long as the mix, to the sample (compared at the stems' rate
//! when a file had to be resampled).

use stemcheck_analysis::{Finding, Severity, Unit};

use super::{Delivery, FileFacts, Rule, file_finding};

/// A length difference longer than this is an error rather than a warning, in seconds.
const LENGTH_ERROR_SECONDS: f64 = 0.5;

/// A file's length in samples at `rate_hz`, and how many samples its rounding may be off by
/// (0 at its own rate; about one output period when converted).
fn length_at(file: &FileFacts, rate_hz: u32) -> (f64, f64) {
    let own = file.format.sample_rate_hz;
    if own == rate_hz {
        (file.frames_read as f64, 0.0)
    } else {
        let ratio = f64::from(rate_hz) / f64::from(own);
        (file.frames_read as f64 * ratio, ratio.ceil())
    }
}

pub(super) fn length_findings(d: &Delivery<'_>) -> Vec<Finding> {
    let rate = d.reference.sample_rate_hz;
    let (mix_len, mix_slack) = length_at(&d.files[0], rate);
    d.files
        .iter()
        .skip(1)
        .filter_map(|t| {
            let (len, slack) = length_at(t, rate);
            let diff = (len - mix_len).round();
            if diff.abs() <= slack.max(mix_slack) {
                return None;
            }
            let ms = diff * 1000.0 / f64::from(rate);
            Some(file_finding(
                Rule::Length,
                if diff.abs() > f64::from(rate) * LENGTH_ERROR_SECONDS {
                    Severity::Error
                } else {
                    Severity::Warning
                },
                vec![t.name()],
                diff,
                Unit::Samples,
                format!(
                    "{} is {} samples ({:.1} ms) {} than the mix.",
                    t.file_name(),
                    diff.abs(),
                    ms.abs(),
                    if diff < 0.0 { "shorter" } else { "longer" }
                ),
                "Export every stem over exactly the same range as the mix (same start and end)."
                    .into(),
            ))
        })
        .collect()
}
