//! The report on the terminal: verdict first, then each finding with its fix, coloured unless
//! `NO_COLOR` is set or the output is not a terminal.

use std::fmt::Write;
use std::io::IsTerminal;

use stemcheck_analysis::{Severity, Verdict};
use stemcheck_report::Report;

use crate::inputs::Inputs;

/// Whether to colour standard output.
pub fn use_color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

fn paint(text: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// The terminal report.
pub fn render(report: &Report, inputs: &Inputs, color: bool) -> String {
    let mut out = String::new();
    let mix = inputs
        .mix
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{} files, {:.1} s at {} Hz. Mix: {mix} ({}).",
        report.files.len(),
        report.seconds,
        report.sample_rate_hz,
        inputs.mix_chosen_by
    );
    let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    let (verdict, code) = match report.verdict {
        Verdict::Nulls => ("DELIVERABLE: the stems rebuild the mix", "1;32"),
        Verdict::Warnings => ("CHECK: warnings to look at", "1;33"),
        Verdict::Fails => (
            "FAILS: the stems do not rebuild the mix, or files are damaged",
            "1;31",
        ),
        Verdict::Pending => ("NOT ENOUGH AUDIO to decide", "1;33"),
    };
    let _ = writeln!(
        out,
        "{}  ({} errors, {} warnings, {} notes)\n",
        paint(verdict, code, color),
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info)
    );
    for f in &report.findings {
        let (label, code) = match f.severity {
            Severity::Error => ("error  ", "31"),
            Severity::Warning => ("warning", "33"),
            Severity::Info => ("info   ", "36"),
        };
        let _ = writeln!(
            out,
            "{} {:<24} {}",
            paint(label, code, color),
            f.kind.name(),
            f.message
        );
        if f.severity > Severity::Info || f.kind != stemcheck_analysis::FindingKind::Nulls {
            let _ = writeln!(out, "        {:<24} fix: {}", "", f.fix);
        }
    }
    out
}
