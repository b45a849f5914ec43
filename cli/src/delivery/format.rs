//! The format rule: sample rate, bit depth, sample format, channels and container. The stems
//! agree with each other: what most stems are is right, and the odd file (the mix, or a minority
//! of stems) is the one named, once, with everything that is odd about it (a 16-bit 44.1 kHz mix
//! is one file at the wrong format, not two defects). Offline a file at another rate is still
//! compared (resampled), so it is a `format-mismatch` like any other format defect; the live
//! `sample-rate-mismatch` (signals that cannot be compared) is not the checker's.

use stemcheck_analysis::{Finding, Severity, Unit};

use super::{Delivery, Rule, file_finding};
use crate::decode::Format;
use crate::layout::Layout;

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

/// What is odd about one file's rate: against the stems' majority (it was resampled to compare)
/// or against the profile. `None` when its rate is right.
fn rate_problem(d: &Delivery<'_>, t: &super::FileFacts) -> Option<String> {
    let r = d.reference.sample_rate_hz;
    let wanted = d.spec.sample_rate_hz.unwrap_or(r);
    let rate = t.format.sample_rate_hz;
    if rate == r && rate == wanted {
        return None;
    }
    Some(if rate != r {
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
            "at {rate} Hz while {who} are at {r} Hz ({how}; the null is then measured in the band both rates hold)"
        )
    } else {
        format!(
            "at {rate} Hz where the {} profile asks for {wanted} Hz",
            d.spec.name
        )
    })
}

/// What differs between a stem's channel `layout` and the mix's (more than two channels on one
/// side): both layouts, and the channels that were therefore not compared. Channels are matched
/// by speaker name (a surround check compares each of the mix's channels with the stems that
/// have it).
fn layout_problem(layout: &Layout, mix: &Layout, name: &str) -> String {
    let absent = |from: &Layout, within: &Layout| -> Vec<&'static str> {
        from.speakers
            .iter()
            .filter(|s| within.index_of(s.short).is_none())
            .map(|s| s.short)
            .collect()
    };
    let lacking = absent(mix, layout);
    let extra = absent(layout, mix);
    let mut text = format!("{} while the mix is {}", layout.describe(), mix.describe());
    if lacking.len() == mix.count() {
        text.push_str(&format!(": no channel of the mix was compared with {name}"));
    } else if !lacking.is_empty() {
        text.push_str(&format!(
            ": the mix's {} channel(s) were compared without {name} (not a null test of {name} there)",
            lacking.join(" ")
        ));
    }
    if !extra.is_empty() {
        text.push_str(&format!(
            "; its {} channel(s) were not compared (the mix has none)",
            extra.join(" ")
        ));
    }
    text
}

/// Sample rate, bit depth, sample format, channels and container: against the stems' majority
/// and the profile. One finding per odd file; its value is the file's bit depth in bits when
/// that is odd (never a rate), else its rate in Hz.
pub(super) fn format_findings(d: &Delivery<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mix = &d.files[0].format;
    let r = d.reference;
    let spec = d.spec;
    let wanted_rate = spec.sample_rate_hz.unwrap_or(r.sample_rate_hz);
    for t in d.files {
        let f = &t.format;
        let mut problems = Vec::new();
        let odd_rate = rate_problem(d, t);
        if let Some(p) = &odd_rate {
            problems.push(p.clone());
        }
        let odd_depth =
            f.bits_per_sample != r.bits_per_sample || f.sample_format != r.sample_format;
        if odd_depth {
            problems.push(format!(
                "{}-bit {} while the stems are {}-bit {}",
                f.bits_per_sample, f.sample_format, r.bits_per_sample, r.sample_format
            ));
        }
        if !t.is_mix() && f.channels <= 2 && mix.channels <= 2 && f.channels != mix.channels {
            problems.push(format!(
                "{} channel(s) while the mix has {}",
                f.channels, mix.channels
            ));
        } else if !t.is_mix() && f.layout != mix.layout {
            problems.push(layout_problem(&f.layout, &mix.layout, &t.name()));
        }
        let off_profile = spec.formats.is_some_and(|formats| {
            !formats
                .iter()
                .any(|(b, s)| *b == f.bits_per_sample && *s == f.sample_format)
        });
        if let Some(formats) = spec.formats
            && off_profile
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
            // The value: the file's bit depth in bits when that is odd (the message says so),
            // its rate in Hz when only the rate is.
            let (value, unit) = if odd_rate.is_some() && !odd_depth && !off_profile {
                (f64::from(f.sample_rate_hz), Unit::Hz)
            } else {
                (f64::from(f.bits_per_sample), Unit::None)
            };
            let fix = if odd_rate.is_some() {
                format!(
                    "Re-export {} to match the delivery ({wanted_rate} Hz, {bits}-bit {format}).",
                    t.name()
                )
            } else {
                format!(
                    "Re-export {} to match the delivery ({bits}-bit {format}).",
                    t.name()
                )
            };
            out.push(file_finding(
                Rule::Format,
                Severity::Error,
                vec![t.name()],
                value,
                unit,
                format!("{}: {}.", t.file_name(), problems.join("; ")),
                fix,
            ));
        }
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

    fn facts(name: Option<&str>, rate: u32, bits: u32) -> super::super::FileFacts {
        super::super::FileFacts {
            path: format!("Song_{}.wav", name.unwrap_or("Mix")).into(),
            stem: name.map(String::from),
            format: Format {
                sample_rate_hz: rate,
                channels: 2,
                layout: Layout::stereo(),
                bits_per_sample: bits,
                sample_format: "int",
                declared_frames: None,
            },
            frames_read: 0,
            tail: super::super::TailLevels::NONE,
            identical_channels: false,
        }
    }

    /// The format findings of a mix at (`rate`, `bits`) next to three 24-bit 48 kHz stems.
    fn mix_at(rate: u32, bits: u32) -> Vec<Finding> {
        let files = vec![
            facts(None, rate, bits),
            facts(Some("Drums"), 48_000, 24),
            facts(Some("Bass"), 48_000, 24),
            facts(Some("Keys"), 48_000, 24),
        ];
        let inputs = crate::inputs::Inputs {
            mix: files[0].path.clone(),
            mix_chosen_by: "mix".into(),
            stems: files[1..].iter().map(|f| f.path.clone()).collect(),
        };
        let spec = crate::profile::Profile::Default.spec();
        let formats: Vec<Format> = files.iter().map(|f| f.format.clone()).collect();
        let reference = reference_format(&formats);
        format_findings(&Delivery {
            files: &files,
            inputs: &inputs,
            spec: &spec,
            reference,
            analysis_rate_hz: rate.min(48_000),
        })
    }

    #[test]
    fn the_odd_mix_is_one_format_mismatch_whatever_is_odd_about_it() {
        // 16-bit 44.1 kHz: one finding on the mix, both problems said, its value the bits.
        let f = mix_at(44_100, 16);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].kind, stemcheck_analysis::FindingKind::FormatMismatch);
        assert_eq!(f[0].stems, vec!["Mix".to_string()]);
        assert_eq!((f[0].value, f[0].unit), (16.0, Unit::None));
        assert!(
            f[0].message
                .contains("at 44100 Hz while the stems are at 48000 Hz")
        );
        assert!(
            f[0].message
                .contains("16-bit int while the stems are 24-bit int")
        );
        // Only the rate odd: the value is the rate, in Hz.
        let f = mix_at(96_000, 24);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].value, f[0].unit), (96_000.0, Unit::Hz));
        assert!(f[0].message.contains("resampled to 48000 Hz to compare"));
        // Right: nothing.
        assert!(mix_at(48_000, 24).is_empty());
    }
}
