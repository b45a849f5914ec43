//! Format and sample-rate rules. The stems agree with each other: what most stems are is right,
//! and the odd file (the mix, or a minority of stems) is the one named.

use stemcheck_analysis::{Finding, Severity, Unit};

use super::{Delivery, Rule, file_finding};
use crate::decode::Format;

/// What the stems agree on (their majority; on a tie, the mix's value if it is among the tied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reference {
    /// The stems' sample rate, in Hz.
    pub sample_rate_hz: u32,
    /// The stems' bit depth, in bits.
    pub bits_per_sample: u32,
    /// The stems' sample format: "int" or "float".
    pub sample_format: &'static str,
}

/// The most common value among the stems; on a tie the mix's, else the first seen.
fn majority<T: PartialEq + Copy>(stems: &[T], mix: T) -> T {
    let count = |v: T| stems.iter().filter(|&&x| x == v).count();
    let best = stems.iter().map(|&v| count(v)).max().unwrap_or(0);
    if best == 0 || count(mix) == best {
        return mix;
    }
    stems
        .iter()
        .copied()
        .find(|&v| count(v) == best)
        .unwrap_or(mix)
}

/// The reference format of a delivery whose files have `formats` (the mix first).
pub fn reference_format(formats: &[Format]) -> Reference {
    let mix = &formats[0];
    let stems = &formats[1..];
    let rates: Vec<u32> = stems.iter().map(|f| f.sample_rate_hz).collect();
    let depths: Vec<(u32, &'static str)> = stems
        .iter()
        .map(|f| (f.bits_per_sample, f.sample_format))
        .collect();
    let (bits_per_sample, sample_format) =
        majority(&depths, (mix.bits_per_sample, mix.sample_format));
    Reference {
        sample_rate_hz: majority(&rates, mix.sample_rate_hz),
        bits_per_sample,
        sample_format,
    }
}

/// Bit depth, sample format, channels and container: against the stems' majority and the profile.
pub(super) fn format_findings(d: &Delivery<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mix = &d.files[0].format;
    let r = d.reference;
    let spec = d.spec;
    for t in d.files {
        let f = &t.format;
        let mut problems = Vec::new();
        let odd_depth =
            f.bits_per_sample != r.bits_per_sample || f.sample_format != r.sample_format;
        if odd_depth {
            problems.push(format!(
                "{}-bit {} while the stems are {}-bit {}",
                f.bits_per_sample, f.sample_format, r.bits_per_sample, r.sample_format
            ));
        }
        if !t.is_mix() && f.channels != mix.channels {
            problems.push(format!(
                "{} channel(s) while the mix has {}",
                f.channels, mix.channels
            ));
        }
        if let Some(formats) = spec.formats
            && !formats
                .iter()
                .any(|(b, s)| *b == f.bits_per_sample && *s == f.sample_format)
        {
            let wanted: Vec<String> = formats
                .iter()
                .map(|(b, s)| format!("{b}-bit {s}"))
                .collect();
            problems.push(format!(
                "{}-bit {} where the {} profile asks for {}",
                f.bits_per_sample,
                f.sample_format,
                spec.name,
                wanted.join(" or ")
            ));
        }
        if spec.require_wav
            && !t
                .path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
        {
            problems.push(format!(
                "not a .wav file (the {} profile asks for WAV)",
                spec.name
            ));
        }
        if !problems.is_empty() {
            let (bits, format) = spec
                .formats
                .and_then(|f| f.first().copied())
                .unwrap_or((r.bits_per_sample, r.sample_format));
            // The value is the file's bit depth, in bits (the message says so): never a rate.
            out.push(file_finding(
                Rule::Format,
                Severity::Error,
                vec![t.name()],
                f64::from(f.bits_per_sample),
                Unit::None,
                format!("{}: {}.", t.file_name(), problems.join("; ")),
                format!(
                    "Re-export {} to match the delivery ({bits}-bit {format}).",
                    t.name()
                ),
            ));
        }
    }
    out
}

/// Files at another rate than the stems' majority (or the profile's), each named with its rate.
pub(super) fn sample_rate_findings(d: &Delivery<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let r = d.reference.sample_rate_hz;
    let wanted = d.spec.sample_rate_hz.unwrap_or(r);
    for t in d.files {
        let rate = t.format.sample_rate_hz;
        if rate == r && rate == wanted {
            continue;
        }
        let message = if rate != r {
            let who = if t.is_mix() {
                "the stems"
            } else {
                "the other stems"
            };
            let at = d.analysis_rate_hz;
            let how = if rate == at {
                format!("the stems were resampled to {at} Hz to compare")
            } else {
                format!("resampled to {at} Hz to compare")
            };
            format!(
                "{} is at {rate} Hz while {who} are at {r} Hz: {how} (the null is then limited by the resampler).",
                t.file_name()
            )
        } else {
            format!(
                "{} is at {rate} Hz where the {} profile asks for {wanted} Hz.",
                t.file_name(),
                d.spec.name
            )
        };
        out.push(file_finding(
            Rule::SampleRate,
            Severity::Error,
            vec![t.name()],
            f64::from(rate),
            Unit::Hz,
            message,
            format!("Re-export {} at {wanted} Hz.", t.name()),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_majority_wins_and_a_tie_goes_to_the_mix() {
        assert_eq!(majority(&[48_000, 48_000, 44_100], 44_100), 48_000);
        assert_eq!(majority(&[48_000, 44_100], 44_100), 44_100);
        assert_eq!(majority(&[96_000], 48_000), 96_000);
        assert_eq!(majority::<u32>(&[], 48_000), 48_000);
    }
}
