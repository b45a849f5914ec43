//! Many cues at once: `stemcheck check Album/*/` (several folders) or `--each DIR` (every
//! subfolder) checks one delivery per folder. The checks run on a bounded pool (at most the
//! core count at once, so memory stays that of a few checks however many cues there are); one
//! line per cue is printed in the cues' order as soon as it and those before it are done, then a
//! summary table. `--json` writes JSON lines, one report per cue (a cue that cannot be read is a
//! line with its error). The exit code is the worst of the cues'.

use std::fmt::Write as _;
use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use stemcheck_analysis::{Severity, Verdict};
use stemcheck_report::Report;

use crate::inputs::discover;
use crate::{CheckArgs, EXIT_BAD_INPUT, EXIT_FINDINGS, check};

/// What one cue came to, as a line and a summary column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CueStatus {
    /// The stems rebuild the mix and nothing needs a look.
    Deliverable,
    /// Warnings to look at.
    Check,
    /// Errors: the stems do not rebuild the mix, or files are damaged.
    Fails,
    /// Too little audio to decide.
    NotEnoughAudio,
    /// The folder or one of its files cannot be read: no check ran.
    Unreadable,
}

impl CueStatus {
    /// Every status, in the summary table's order.
    pub const ALL: &'static [CueStatus] = &[
        CueStatus::Deliverable,
        CueStatus::Check,
        CueStatus::Fails,
        CueStatus::NotEnoughAudio,
        CueStatus::Unreadable,
    ];

    /// The word on the cue's line and the summary's column.
    pub fn name(self) -> &'static str {
        match self {
            CueStatus::Deliverable => "deliverable",
            CueStatus::Check => "check",
            CueStatus::Fails => "fails",
            CueStatus::NotEnoughAudio => "not-enough-audio",
            CueStatus::Unreadable => "unreadable",
        }
    }

    /// One line saying what the status means.
    pub fn description(self) -> &'static str {
        match self {
            CueStatus::Deliverable => "The stems rebuild the mix; no warning or error.",
            CueStatus::Check => "Warnings to look at, no error.",
            CueStatus::Fails => "Errors: the stems do not rebuild the mix, or files are damaged.",
            CueStatus::NotEnoughAudio => "Too little audio to decide.",
            CueStatus::Unreadable => "The folder or one of its files cannot be read.",
        }
    }

    fn of(verdict: Verdict) -> Self {
        match verdict {
            Verdict::Nulls => CueStatus::Deliverable,
            Verdict::Warnings => CueStatus::Check,
            Verdict::Fails => CueStatus::Fails,
            Verdict::Pending => CueStatus::NotEnoughAudio,
        }
    }
}

/// One cue, checked: its line, its JSON line and its exit code.
struct CueResult {
    status: CueStatus,
    /// What follows the cue's name and status on its line.
    detail: String,
    /// The report (or the error) as one line of JSON.
    json_line: String,
    exit_code: u8,
}

/// The cues the command line names, if it names several: `--each DIR`'s subfolders, or the
/// inputs when there are at least two and every one is a folder (and no `--mix` makes them one
/// delivery). `None`: one delivery, as before. `Some(Err)`: a usage error.
pub(crate) fn cues_of(args: &CheckArgs) -> Option<Result<Vec<PathBuf>, String>> {
    if let Some(dir) = &args.each {
        return Some(subfolders(dir));
    }
    let several_folders = args.mix.is_none()
        && args.inputs.len() >= 2
        && args.inputs.iter().all(|p| p.is_dir() && !is_audio_name(p));
    if !several_folders {
        return None;
    }
    if args.markdown.is_some() || args.plot.is_some() || args.write_residual.is_some() {
        return Some(Err(
            "--markdown, --plot and --write-residual take one delivery; several folders are checked as one cue each (use --json for their reports)".into(),
        ));
    }
    Some(Ok(args.inputs.clone()))
}

fn is_audio_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| crate::inputs::AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The subfolders of `dir`, sorted, hidden ones left out.
fn subfolders(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(format!(
            "{}: holds no subfolders (--each checks one delivery per subfolder)",
            dir.display()
        ));
    }
    Ok(found)
}

/// The name a cue goes by on its line: its folder's name.
fn cue_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| dir.display().to_string())
}

/// Checks one cue; never panics (a panic in the check is that cue's error).
fn check_cue(dir: &Path, args: &CheckArgs) -> CueResult {
    let outcome = catch_unwind(AssertUnwindSafe(|| -> Result<Report, String> {
        let inputs = discover(&[dir.to_path_buf()], None).map_err(|e| e.to_string())?;
        let spec = args.profile.spec();
        check::check(&inputs, &spec, vec![dir.display().to_string()], false)
            .map_err(|e| e.to_string())
    }))
    .unwrap_or_else(|_| Err(format!("{}: the check failed unexpectedly", dir.display())));
    let cue = dir.display().to_string();
    match outcome {
        Ok(report) => {
            let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
            let mut detail = format!(
                "{} errors, {} warnings, {} notes",
                count(Severity::Error),
                count(Severity::Warning),
                count(Severity::Info)
            );
            let problems: Vec<String> = report
                .findings
                .iter()
                .filter(|f| f.severity > Severity::Info)
                .map(|f| {
                    if f.stems.is_empty() {
                        f.kind.name().to_string()
                    } else {
                        format!("{} ({})", f.kind.name(), f.stems.join(", "))
                    }
                })
                .collect();
            if !problems.is_empty() {
                let _ = write!(detail, ": {}", problems.join("; "));
            }
            let exit_code = match (args.fail_on.threshold(), report.worst()) {
                (Some(threshold), Some(worst)) if worst >= threshold => EXIT_FINDINGS,
                _ => 0,
            };
            let mut value = serde_json::to_value(&report).unwrap_or(serde_json::Value::Null);
            if let Some(map) = value.as_object_mut() {
                map.insert("cue".into(), cue.into());
            }
            CueResult {
                status: CueStatus::of(report.verdict),
                detail,
                json_line: value.to_string(),
                exit_code,
            }
        }
        Err(message) => CueResult {
            status: CueStatus::Unreadable,
            json_line: serde_json::json!({ "cue": cue, "error": message }).to_string(),
            detail: message,
            exit_code: EXIT_BAD_INPUT,
        },
    }
}

/// Checks every cue on a bounded pool, prints a line per cue in order, the summary, and the
/// JSON lines; returns the worst exit code.
pub(crate) fn run_each(cues: &[PathBuf], args: &CheckArgs) -> ExitCode {
    let json_to_stdout = args.json.as_ref().is_some_and(|p| p.as_os_str() == "-");
    let names: Vec<String> = cues.iter().map(|c| cue_name(c)).collect();
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    // Text goes to standard output, or to standard error when that carries the JSON lines.
    let say = |text: &str, is_error: bool| {
        if args.quiet && !is_error {
            return;
        }
        if json_to_stdout || (args.quiet && is_error) {
            eprint!("{text}");
        } else {
            print!("{text}");
            let _ = std::io::stdout().flush();
        }
    };
    let line = |name: &str, r: &CueResult| {
        format!(
            "{name:<width$}  {:<16}  {}\n",
            r.status.name().to_uppercase(),
            r.detail
        )
    };

    let mut printed = 0;
    let results = crate::pool::in_parallel(
        cues,
        |dir| check_cue(dir, args),
        |results| {
            // Each cue's line once it and those before it are done.
            while let Some(Some(r)) = results.get(printed) {
                say(&line(&names[printed], r), r.status == CueStatus::Unreadable);
                printed += 1;
            }
        },
    );

    say(&summary(&results), false);
    if let Some(path) = &args.json {
        let mut lines = String::new();
        for r in &results {
            lines.push_str(&r.json_line);
            lines.push('\n');
        }
        if json_to_stdout {
            print!("{lines}");
        } else if let Err(e) = stemcheck_report::write_file_atomically(path, lines.as_bytes()) {
            eprintln!(
                "stemcheck: {}: cannot write the JSON lines ({e})",
                path.display()
            );
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    }
    ExitCode::from(results.iter().map(|r| r.exit_code).max().unwrap_or(0))
}

/// The summary table: how many cues of each status.
fn summary(results: &[CueResult]) -> String {
    let mut header = format!("\n{:>5}", "cues");
    let mut counts = format!("{:>5}", results.len());
    for &status in CueStatus::ALL {
        let name = status.name();
        let n = results.iter().filter(|r| r.status == status).count();
        let _ = write!(header, "  {name}");
        let _ = write!(counts, "  {n:>w$}", w = name.len());
    }
    format!("{header}\n{counts}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn result(status: CueStatus) -> CueResult {
        CueResult {
            status,
            detail: String::new(),
            json_line: String::new(),
            exit_code: 0,
        }
    }

    fn args(line: &[&str]) -> CheckArgs {
        let cli =
            crate::Cli::try_parse_from(std::iter::once("stemcheck").chain(line.iter().copied()))
                .unwrap();
        match cli.command {
            crate::Command::Check(args) => args,
        }
    }

    #[test]
    fn several_folders_are_cues_and_anything_else_one_delivery() {
        let album = tempfile::tempdir().unwrap();
        let a = album.path().join("A");
        let b = album.path().join("B");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(album.path().join("Song_Mix.wav"), b"x").unwrap();
        let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
        let file = album.path().join("Song_Mix.wav");
        let file = file.to_str().unwrap();
        let cues = |line: &[&str]| cues_of(&args(line)).map(|r| r.map(|c| c.len()));
        assert_eq!(cues(&["check", a, b]), Some(Ok(2)));
        assert_eq!(cues(&["check", a]), None);
        assert_eq!(cues(&["check", a, file]), None);
        assert_eq!(cues(&["check", a, b, "--mix", file]), None);
        assert!(matches!(
            cues(&["check", a, b, "--write-residual", "d.wav"]),
            Some(Err(_))
        ));
        let album = album.path().to_str().unwrap();
        assert_eq!(cues(&["check", "--each", album]), Some(Ok(2)));
    }

    #[test]
    fn the_summary_counts_each_status_under_its_name() {
        let results = [
            result(CueStatus::Deliverable),
            result(CueStatus::Deliverable),
            result(CueStatus::Fails),
            result(CueStatus::Unreadable),
        ];
        let table = summary(&results);
        let lines: Vec<&str> = table.trim().lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            [
                "cues",
                "deliverable",
                "check",
                "fails",
                "not-enough-audio",
                "unreadable"
            ]
        );
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["4", "2", "0", "1", "0", "1"]
        );
    }
}
