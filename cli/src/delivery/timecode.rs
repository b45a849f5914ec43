//! The BWF timecode rules: every stem starts where the mix starts on the timeline (their `bext`
//! time references agree), and a delivery stamps either every file or none (a conform by
//! timecode cannot place a file without one). Time references are compared in seconds, so
//! files at different rates are compared correctly; offsets are named in timecode (at the
//! iXML rate of the mix, else [`FrameRate::DEFAULT`], stated in the message) and in samples.

use stemcheck_analysis::{Finding, FindingKind, Severity, Unit};

use super::{Delivery, Rule, file_finding};
use crate::bwf::{self, BwfInfo, FrameRate};

/// Each file's BWF metadata (a file that cannot be read has none: the decoder names it).
fn infos(d: &Delivery<'_>) -> Vec<BwfInfo> {
    d.files
        .iter()
        .map(|f| bwf::read(&f.path).unwrap_or_default())
        .collect()
}

/// `1234567` as "1,234,567".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Stems whose time reference differs from the mix's: a start mismatch, in timecode and
/// samples. The value is the offset in ms, signed like `stem-start-offset`'s (early +, late -);
/// in ms, not samples, because this is the files' stamp, not the audio: the difference stem
/// never lines stems up by it.
pub(super) fn timecode_findings(d: &Delivery<'_>) -> Vec<Finding> {
    let infos = infos(d);
    let mix = &infos[0];
    let (Some(mix_reference), mix_rate_hz) = (
        mix.time_reference_samples,
        mix.sample_rate_hz
            .unwrap_or(d.files[0].format.sample_rate_hz),
    ) else {
        return Vec::new();
    };
    let frame_rate = mix.frame_rate.unwrap_or(FrameRate::DEFAULT);
    let rate_note = if mix.frame_rate.is_some() {
        format!("timecode at {} from the mix's iXML", frame_rate.describe())
    } else {
        format!(
            "timecode at {}, the files state no rate",
            frame_rate.describe()
        )
    };
    let mix_tc = bwf::timecode(mix_reference, mix_rate_hz, frame_rate);
    let mut out = Vec::new();
    for (file, info) in d.files.iter().zip(&infos).skip(1) {
        let Some(reference) = info.time_reference_samples else {
            continue;
        };
        let rate_hz = info.sample_rate_hz.unwrap_or(file.format.sample_rate_hz);
        // The mix's start in this file's samples.
        let mix_here =
            (mix_reference as f64 * f64::from(rate_hz) / f64::from(mix_rate_hz)).round() as i64;
        let late_samples = reference as i64 - mix_here;
        if late_samples == 0 {
            continue;
        }
        let n = late_samples.unsigned_abs();
        let seconds = n as f64 / f64::from(rate_hz);
        let state = if late_samples > 0 { "late" } else { "early" };
        let name = file.name();
        let tracks = if info.track_names.is_empty() {
            String::new()
        } else {
            format!(" (iXML tracks: {})", info.track_names.join(", "))
        };
        out.push(file_finding(
            Rule::Timecode,
            Severity::Error,
            vec![name.clone()],
            -(late_samples as f64) * 1000.0 / f64::from(rate_hz),
            Unit::Ms,
            format!(
                "{name}{tracks} starts at {} by its BWF time reference, the mix at {mix_tc}: {seconds:.3} s ({} samples) {state} ({rate_note}).",
                bwf::timecode(reference, rate_hz, frame_rate),
                thousands(n),
            ),
            format!(
                "Export {name} from the mix's start ({mix_tc}), or restamp its time reference to {} samples, so a conform by timecode places it under the mix.",
                thousands(mix_here.max(0) as u64)
            ),
        ));
    }
    out
}

/// A delivery where some files carry a time reference and others do not.
pub(super) fn time_reference_presence_findings(d: &Delivery<'_>) -> Vec<Finding> {
    let infos = infos(d);
    let with = infos
        .iter()
        .filter(|i| i.time_reference_samples.is_some())
        .count();
    if with == 0 || with == infos.len() {
        return Vec::new();
    }
    let without: Vec<String> = d
        .files
        .iter()
        .zip(&infos)
        .filter(|(_, i)| i.time_reference_samples.is_none())
        .map(|(f, _)| f.name())
        .collect();
    vec![file_finding(
        Rule::TimeReference,
        Severity::Warning,
        without.clone(),
        without.len() as f64,
        Unit::Count,
        format!(
            "{} {} no BWF time reference while the other {with} {} one: a conform by timecode cannot place {}.",
            without.join(", "),
            if without.len() == 1 { "carries" } else { "carry" },
            if with == 1 { "file carries" } else { "files carry" },
            if without.len() == 1 { "it" } else { "them" },
        ),
        "Export every file of the delivery as Broadcast Wave (bext chunk) from the same session start."
            .into(),
    )]
}

/// A stem's audio offset and its time reference agree when they differ by at most this, in ms
/// (one sample at 48 kHz is 0.02 ms; a time reference is exact to the sample).
const AGREE_TOLERANCE_MS: f64 = 0.1;

/// Reconciles the timecode rule with the audio: a stem whose file starts on the timeline exactly
/// where its audio says it should (stamped 3.125 s after the mix, and its audio 3.125 s early in
/// its file: exported from its first region, stamped right) is placed correctly by a conform by
/// timecode. Its `stem-start-offset` (from the audio, in samples) becomes information saying so,
/// and the timecode finding goes. `rate_hz`: the rate the audio offsets are in.
pub fn reconcile_with_audio(findings: &mut Vec<Finding>, rate_hz: u32) {
    let is_timecode =
        |f: &Finding| f.kind == Rule::Timecode.kind() && f.unit == Unit::Ms && f.stems.len() == 1;
    let stamped: Vec<Finding> = findings
        .iter()
        .filter(|f| is_timecode(f))
        .cloned()
        .collect();
    for t in stamped {
        // The audio early by v samples (v > 0) means the file starts v samples late on the
        // timeline: the time reference, late by -t.value ms, agrees when -t.value = v in ms.
        let agrees = |f: &Finding| {
            f.kind == FindingKind::StemStartOffset
                && f.unit == Unit::Samples
                && f.stems == t.stems
                && (f.value * 1000.0 / f64::from(rate_hz) + t.value).abs() <= AGREE_TOLERANCE_MS
        };
        let Some(audio) = findings.iter_mut().find(|f| agrees(f)) else {
            continue;
        };
        let name = &t.stems[0];
        audio.severity = Severity::Info;
        audio.message = format!(
            "{} Its audio agrees: placed by its timecode, {name} lines up with the mix.",
            t.message
        );
        audio.fix = format!(
            "None for a conform by timecode; tools that line files up at their start need {name} exported from the session start."
        );
        findings.retain(|f| !(is_timecode(f) && f.stems == t.stems));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_numbers_get_separators() {
        assert_eq!(thousands(172_800_000), "172,800,000");
        assert_eq!(thousands(96_000), "96,000");
    }
}
