//! Merging the findings of a surround delivery's channels, each compared on its own, into one
//! list: the same kind on the same stems in several channels is one finding listing them; a
//! stem silent in some channels is normal in surround (only a stem silent in every channel it
//! was compared on is named); the delivery nulls only if every channel nulls; content the mix
//! has in its LFE that no stem carries reads "LFE missing from the stems".

use stemcheck_analysis::{Finding, FindingKind, Severity, Unit, Verdict};

use crate::layout::Speaker;

/// Values of one merged finding closer than this (in its unit) are the same value; further
/// apart, the message lists each channel's.
const SAME_VALUE_TOLERANCE: f64 = 0.05;

/// What one channel's comparison left.
pub struct ChannelFindings {
    /// The channel.
    pub speaker: Speaker,
    /// Its audio findings (the stems named by display name).
    pub findings: Vec<Finding>,
    /// The stems compared on it.
    pub stems: Vec<String>,
    /// Whether any stem compared on it has signal there.
    pub carried: bool,
}

/// The merged findings, each with the channels it concerns (short names), and each channel's
/// verdict (of the merged findings that concern it), in `channels`' order.
pub struct Merged {
    /// The findings with their channels, in first-seen order.
    pub findings: Vec<(Finding, Vec<String>)>,
    /// Per channel: its verdict.
    pub verdicts: Vec<Verdict>,
}

/// Merges the channels' findings.
pub fn merge(channels: &[ChannelFindings]) -> Merged {
    // Groups by (kind, stems), in first-seen order: (channel index, finding).
    let mut groups: Vec<Vec<(usize, &Finding)>> = Vec::new();
    for (k, channel) in channels.iter().enumerate() {
        for f in &channel.findings {
            if f.kind == FindingKind::Nulls {
                continue;
            }
            match groups
                .iter_mut()
                .find(|g| g[0].1.kind == f.kind && g[0].1.stems == f.stems)
            {
                Some(group) => group.push((k, f)),
                None => groups.push(vec![(k, f)]),
            }
        }
    }
    let mut findings: Vec<(Finding, Vec<usize>)> = Vec::new();
    for group in groups {
        let kind = group[0].1.kind;
        if kind == FindingKind::SilentStem {
            // Normal in surround unless the stem is silent everywhere it was compared.
            let stems = &group[0].1.stems;
            let compared = channels
                .iter()
                .filter(|c| stems.iter().all(|s| c.stems.contains(s)))
                .count();
            if group.len() < compared {
                continue;
            }
        }
        findings.push(combine(channels, &group));
    }
    // Every channel nulls: one `nulls` for the delivery (the worst channel's words).
    let nulls: Vec<(usize, &Finding)> = channels
        .iter()
        .enumerate()
        .filter_map(|(k, c)| {
            c.findings
                .iter()
                .find(|f| f.kind == FindingKind::Nulls)
                .map(|f| (k, f))
        })
        .collect();
    if nulls.len() == channels.len() && !channels.is_empty() {
        findings.push(combine(channels, &nulls));
    }
    let verdicts = (0..channels.len())
        .map(|k| {
            let own: Vec<Finding> = findings
                .iter()
                .filter(|(_, ks)| ks.contains(&k))
                .map(|(f, _)| f.clone())
                .collect();
            Verdict::of(&own)
        })
        .collect();
    Merged {
        findings: findings
            .into_iter()
            .map(|(f, ks)| {
                let names = ks
                    .iter()
                    .map(|&k| channels[k].speaker.short.to_string())
                    .collect();
                (f, names)
            })
            .collect(),
        verdicts,
    }
}

/// One finding from a group of the same kind on the same stems in several channels: the most
/// severe (then the largest) one's, its message saying which channels.
fn combine(channels: &[ChannelFindings], group: &[(usize, &Finding)]) -> (Finding, Vec<usize>) {
    let mut best = group[0];
    for &(k, f) in group {
        if (f.severity, f.value.abs()) > (best.1.severity, best.1.value.abs()) {
            best = (k, f);
        }
    }
    let mut finding = best.1.clone();
    let ks: Vec<usize> = group.iter().map(|(k, _)| *k).collect();
    let speakers: Vec<Speaker> = ks.iter().map(|&k| channels[k].speaker).collect();
    let mut message = finding.message.clone();
    let spread = group
        .iter()
        .any(|(_, f)| (f.value - finding.value).abs() > SAME_VALUE_TOLERANCE);
    if group.len() > 1 && spread && finding.value.is_finite() {
        let values: Vec<String> = group
            .iter()
            .map(|(k, f)| {
                format!(
                    "{} {}",
                    channels[*k].speaker.short,
                    value_text(f.value, f.unit)
                )
            })
            .collect();
        message = format!("{message} Per channel: {}.", values.join(", "));
    }
    let lfe_uncarried = (finding.kind == FindingKind::MissingContent
        || finding.kind == FindingKind::MissingStem)
        && ks.len() == 1
        && channels[ks[0]].speaker.short == "LFE"
        && !channels[ks[0]].carried;
    finding.message = if lfe_uncarried {
        format!(
            "LFE missing from the stems: the mix's LFE channel has content no stem carries. {message}"
        )
    } else {
        format!("{}: {message}", channel_phrase(&speakers, channels.len()))
    };
    if lfe_uncarried && finding.severity < Severity::Error {
        finding.severity = Severity::Error;
    }
    (finding, ks)
}

/// "Centre (C) channel", "Channels L, R", "Every channel (L R C LFE Ls Rs)".
fn channel_phrase(speakers: &[Speaker], total: usize) -> String {
    let shorts: Vec<&str> = speakers.iter().map(|s| s.short).collect();
    match speakers {
        [one] => {
            let mut long = one.long.to_string();
            if let Some(first) = long.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            if one.long == one.short {
                format!("{long} channel")
            } else {
                format!("{long} ({}) channel", one.short)
            }
        }
        _ if speakers.len() == total && total > 1 => {
            format!("Every channel ({})", shorts.join(" "))
        }
        _ => format!("Channels {}", shorts.join(", ")),
    }
}

/// A value for people, with its unit.
fn value_text(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Db => format!("{value:+.2} dB"),
        Unit::Dbfs => format!("{value:.1} dBFS"),
        Unit::Dbtp => format!("{value:.1} dBTP"),
        Unit::Samples => format!("{value:.0} samples"),
        Unit::Ms => format!("{value:.2} ms"),
        Unit::Hz => format!("{value:.0} Hz"),
        Unit::Count | Unit::None => format!("{value}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speaker(short: &'static str, long: &'static str) -> Speaker {
        Speaker { short, long }
    }

    fn finding(kind: FindingKind, stem: &str, value: f64) -> Finding {
        Finding::new(
            kind,
            Severity::Error,
            vec![stem.to_string()],
            value,
            Unit::Db,
            1.0,
            format!("{stem} is off by {value} dB."),
            "Fix it.".into(),
        )
    }

    fn channel(short: &'static str, long: &'static str, findings: Vec<Finding>) -> ChannelFindings {
        ChannelFindings {
            speaker: speaker(short, long),
            findings,
            stems: vec!["Bass".into(), "Keys".into()],
            carried: true,
        }
    }

    #[test]
    fn one_kind_on_one_stem_in_several_channels_is_one_finding() {
        let merged = merge(&[
            channel(
                "L",
                "left",
                vec![finding(FindingKind::StemGain, "Bass", 3.0)],
            ),
            channel(
                "C",
                "centre",
                vec![finding(FindingKind::StemGain, "Bass", 1.0)],
            ),
            channel("R", "right", vec![]),
        ]);
        assert_eq!(merged.findings.len(), 1);
        let (f, channels) = &merged.findings[0];
        assert_eq!(channels, &["L".to_string(), "C".to_string()]);
        assert_eq!(f.value, 3.0);
        assert!(f.message.starts_with("Channels L, C: "), "{}", f.message);
        assert!(
            f.message.contains("L +3.00 dB, C +1.00 dB"),
            "{}",
            f.message
        );
        assert_eq!(
            merged.verdicts,
            [Verdict::Fails, Verdict::Fails, Verdict::Nulls]
        );
    }

    #[test]
    fn a_stem_silent_in_some_channels_only_is_no_finding() {
        let silent = |s| finding(FindingKind::SilentStem, s, 0.0);
        let merged = merge(&[
            channel("L", "left", vec![silent("Keys")]),
            channel("C", "centre", vec![]),
        ]);
        assert!(merged.findings.is_empty());
        let merged = merge(&[
            channel("L", "left", vec![silent("Keys")]),
            channel("C", "centre", vec![silent("Keys")]),
        ]);
        assert_eq!(merged.findings.len(), 1);
        assert!(
            merged.findings[0]
                .0
                .message
                .starts_with("Every channel (L C)")
        );
    }
}
