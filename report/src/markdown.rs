//! The report as Markdown, for people: verdict, findings with fixes, then the numbers.

use std::fmt::Write;

use stemcheck_analysis::Severity;

use crate::{Report, Source};

/// A time in the song for people: `m:ss.sss` (`1:02.500`).
fn clock(seconds: f64) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!("{}:{:02}.{:03}", ms / 60_000, (ms / 1000) % 60, ms % 1000)
}

/// Renders `report` as a Markdown document.
pub fn to_markdown(report: &Report) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Stemcheck report\n");
    match &report.source {
        Source::Live {
            group,
            run,
            ended_by,
            ..
        } => {
            let _ = writeln!(
                md,
                "Live run {run} of group {group} ({:.1} s at {} Hz, ended by {}).\n",
                report.seconds,
                report.sample_rate_hz,
                ended_by.name()
            );
        }
        Source::Files { inputs, profile } => {
            let _ = writeln!(
                md,
                "Files: {} (profile `{profile}`, {:.1} s at {} Hz).\n",
                inputs.join(", "),
                report.seconds,
                report.sample_rate_hz
            );
        }
    }
    let _ = writeln!(
        md,
        "**Verdict: {}**  \n_{} · {}_\n",
        report.verdict.name(),
        report.generator,
        report.created
    );

    if let Some(c) = &report.coverage {
        let _ = writeln!(
            md,
            "Analysed: {:.1} s of {:.1} s ({:.0}%){}.\n",
            c.analysed_seconds,
            c.run_seconds,
            c.analysed_percent,
            if c.dropped_frames > 0 {
                format!("; {} frames dropped", c.dropped_frames)
            } else {
                String::new()
            }
        );
    }

    let _ = writeln!(md, "## Findings\n");
    if report.findings.is_empty() {
        let _ = writeln!(md, "None.\n");
    }
    for (index, f) in report.findings.iter().enumerate() {
        let icon = match f.severity {
            Severity::Error => "❌",
            Severity::Warning => "⚠️",
            Severity::Info => "ℹ️",
        };
        let stems = if f.stems.is_empty() {
            String::new()
        } else {
            format!(" — {}", f.stems.join(", "))
        };
        let channels = report.channels_of(index);
        let stems = if channels.is_empty() {
            stems
        } else {
            format!("{stems} [{}]", channels.join(", "))
        };
        let when = f
            .time_range_s
            .map(|(a, b)| format!(" ({} to {})", clock(a), clock(b)))
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "- {icon} **{}** `{}`{stems}{when}: {}  \n  Fix: {}",
            f.severity.name(),
            f.kind.name(),
            escape(&f.message),
            escape(&f.fix)
        );
    }
    md.push('\n');

    if !report.files.is_empty() {
        let _ = writeln!(
            md,
            "## Files\n\n| File | Role | Stem | Rate | Bits | Ch | Length | Peak | True peak |\n|---|---|---|---|---|---|---|---|---|"
        );
        for file in &report.files {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} {} | {} | {} | {:.1} dBFS | {:.1} dBTP |",
                escape(&file.path),
                file.role.name(),
                file.stem.as_deref().unwrap_or("-"),
                file.sample_rate_hz,
                file.bit_depth,
                file.sample_format,
                file.channels,
                file.length_samples,
                file.peak_dbfs,
                file.true_peak_dbtp
            );
        }
        md.push('\n');
    }
    if !report.channels.is_empty() {
        let _ = writeln!(
            md,
            "## Channels\n\nLayout: {}; every channel compared on its own.\n\n| Channel | Residual | Verdict | Stems compared |\n|---|---|---|---|",
            report.layout.as_deref().unwrap_or("-")
        );
        for c in &report.channels {
            let worst = if report.worst_channel.as_deref() == Some(c.name.as_str()) {
                " (worst)"
            } else {
                ""
            };
            let name = if c.speaker == c.name {
                escape(&c.name)
            } else {
                format!("{} ({})", escape(&c.name), escape(&c.speaker))
            };
            let _ = writeln!(
                md,
                "| {name} | {:.1} dB{worst} | {} | {} |",
                c.residual_db,
                c.verdict.name(),
                escape(&c.stems.join(", "))
            );
        }
        md.push('\n');
    }
    if let Some(r) = &report.residual_file {
        let _ = writeln!(
            md,
            "## Difference stem\n\n{}: {} Hz, {} ch, {}-bit {}{}; peak {:.1} dBFS, RMS {:.1} dBFS{}. Holds: {}.\n",
            escape(&r.path),
            r.sample_rate_hz,
            r.channels,
            r.bit_depth,
            r.sample_format,
            if r.dithered { ", TPDF-dithered" } else { "" },
            r.peak_dbfs,
            r.rms_dbfs,
            if r.clipped_samples > 0 {
                format!(", {} samples clipped", r.clipped_samples)
            } else {
                String::new()
            },
            if r.holds.is_empty() {
                "nothing the analysis names (the noise floor)".to_string()
            } else {
                r.holds.join(", ")
            }
        );
    }
    if !report.instances.is_empty() {
        let _ = writeln!(
            md,
            "## Instances\n\n| Name | Role | Rate | Ch | Present | Dropped |\n|---|---|---|---|---|---|"
        );
        for i in &report.instances {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                escape(&i.name),
                i.role.name(),
                i.sample_rate_hz,
                i.channels,
                i.present_frames,
                i.dropped_frames
            );
        }
        md.push('\n');
    }
    if let Some(m) = &report.measurements {
        let _ = writeln!(md, "## Null test\n");
        let _ = writeln!(
            md,
            "- Residual (master minus stems): {:.1} dB re master{}",
            m.null_residual_db,
            report
                .worst_channel
                .as_ref()
                .map(|c| format!(" (the worst channel, {}; these numbers are its)", escape(c)))
                .unwrap_or_default()
        );
        let _ = writeln!(md, "- Common lag: {} samples", m.common_lag_samples);
        let _ = writeln!(
            md,
            "- Master-bus gain: {:+.2} dB; largest band deviation {:+.2} dB",
            m.bus_gain_db, m.bus_eq_max_db
        );
        if let Some(l) = m.master_lufs {
            let _ = writeln!(
                md,
                "- Loudness: master {l:.1} LUFS, sum {}",
                m.sum_lufs.map_or("-".into(), |s| format!("{s:.1} LUFS"))
            );
        }
        if !m.stems.is_empty() {
            let _ = writeln!(
                md,
                "\n| Stem | Gain in master | Polarity | Offset (samples) | Peak | True peak | Clipped |\n|---|---|---|---|---|---|---|"
            );
            for s in &m.stems {
                let _ = writeln!(
                    md,
                    "| {} | {:+.2} dB | {} | {:.2} | {:.1} dBFS | {:.1} dBTP | {} |",
                    escape(&s.name),
                    s.gain_db,
                    if s.inverted { "inverted" } else { "ok" },
                    s.offset_samples,
                    s.levels.peak_dbfs,
                    s.levels.true_peak_dbtp,
                    s.levels.clipped_samples
                );
            }
        }
    }
    md
}

/// Keeps table and list syntax intact whatever a name contains.
fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_shows_minutes_seconds_and_milliseconds() {
        // 62.5 s is 1 minute, 2 seconds and 500 ms; 5.8 s is 0:05.800.
        assert_eq!(clock(62.5), "1:02.500");
        assert_eq!(clock(5.8), "0:05.800");
        assert_eq!(clock(-1.0), "0:00.000");
    }
}
