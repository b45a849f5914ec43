//! Runs the checker on a delivery exactly as the `stemcheck` binary does, reads its JSON report
//! (the interface: only kind, severity, stems, value and time range are read), scores it against
//! the ground truth, and prints the confusion table per family.

use std::collections::BTreeMap;
use std::path::Path;

use clap::Parser;
use serde_json::Value;

use crate::cases::Case;
use crate::cases::Family;
use crate::delivery::{Delivery, deliver};
use crate::truth::{RANGE_TOLERANCE_S, Truth};

/// One finding as the report states it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reported {
    /// The finding kind's stable name.
    pub kind: String,
    /// "info", "warning" or "error".
    pub severity: String,
    /// The stems named (empty: the bus; "Mix" for the mix file).
    pub stems: Vec<String>,
    /// The measured value, in the finding's unit (dB, samples...).
    pub value: f64,
    /// Where in time it holds, in seconds, if the report says.
    pub time_range_s: Option<(f64, f64)>,
}

impl Reported {
    /// Warnings and errors: what an engineer acts on.
    pub fn is_problem(&self) -> bool {
        self.severity == "warning" || self.severity == "error"
    }

    /// One line: severity, kind, stems, value, range.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} {} [{}] {:.3}",
            self.severity,
            self.kind,
            self.stems.join(","),
            self.value
        );
        if let Some((a, b)) = self.time_range_s {
            s.push_str(&format!(" @{a:.3}-{b:.3}s"));
        }
        s
    }
}

/// Writes the delivery into a temporary folder, runs `stemcheck check DIR --json OUT --quiet`
/// through the library, and returns the report's findings.
pub fn run_checker(delivery: &Delivery) -> Result<Vec<Reported>, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let files = dir.path().join("delivery");
    std::fs::create_dir(&files).map_err(|e| e.to_string())?;
    delivery.write(&files).map_err(|e| e.to_string())?;
    let json = dir.path().join("report.json");
    let cli = stemcheck_cli::Cli::parse_from([
        "stemcheck".as_ref(),
        "check".as_ref(),
        files.as_os_str(),
        "--json".as_ref(),
        json.as_os_str(),
        "--quiet".as_ref(),
        "--fail-on".as_ref(),
        "never".as_ref(),
    ]);
    let _ = stemcheck_cli::run(cli);
    let text = std::fs::read_to_string(&json)
        .map_err(|e| format!("no report ({e}): the checker refused the delivery"))?;
    parse_report(&text)
}

/// The findings of a JSON report.
pub fn parse_report(text: &str) -> Result<Vec<Reported>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let findings = v["findings"].as_array().ok_or("report without findings")?;
    Ok(findings
        .iter()
        .map(|f| Reported {
            kind: f["kind"].as_str().unwrap_or("").to_string(),
            severity: f["severity"].as_str().unwrap_or("").to_string(),
            stems: f["stems"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            value: f["value"].as_f64().unwrap_or(f64::NAN),
            time_range_s: f["time_range_s"]
                .as_array()
                .and_then(|a| Some((a.first()?.as_f64()?, a.get(1)?.as_f64()?))),
        })
        .collect())
}

/// How a case came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// Every expected finding with the right kind, stem, value and range; nothing else.
    Right,
    /// The right kinds, but a wrong stem, value or range.
    WrongStemOrValue,
    /// A warning or error of a kind that is not a cause of this case (or a forbidden kind).
    WrongCause,
    /// An expected finding absent, and no wrong cause.
    Missed,
    /// A clean case with a warning or error.
    FalseAlarm,
    /// The checker wrote no report.
    CheckerFailed,
}

impl Outcome {
    /// The column name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Self::Right => "right",
            Self::WrongStemOrValue => "wrong stem/value",
            Self::WrongCause => "wrong cause",
            Self::Missed => "missed",
            Self::FalseAlarm => "false alarm",
            Self::CheckerFailed => "checker failed",
        }
    }
}

/// Scores a report against the truth: the outcome and, when not right, what went wrong.
pub fn score(truth: &Truth, reported: &[Reported]) -> (Outcome, Vec<String>) {
    let mut notes = Vec::new();
    let mut any_missed = false;
    let mut any_wrong_value = false;
    for e in &truth.expected {
        let of_kind: Vec<&Reported> = reported
            .iter()
            .filter(|r| e.kinds.contains(&r.kind.as_str()))
            .collect();
        let right = of_kind.iter().any(|r| {
            e.target.matches(&r.stems)
                && e.value.is_none_or(|(v, tol)| (r.value - v).abs() <= tol)
                && e.range_s.is_none_or(|(a, b)| {
                    r.time_range_s.is_some_and(|(ra, rb)| {
                        (ra - a).abs() <= RANGE_TOLERANCE_S
                            && b.is_none_or(|b| (rb - b).abs() <= RANGE_TOLERANCE_S)
                    })
                })
        });
        if right {
            continue;
        }
        if of_kind.is_empty() {
            any_missed = true;
            notes.push(format!("missed: {}", e.describe()));
        } else {
            any_wrong_value = true;
            notes.push(format!("wrong stem/value/range: expected {}", e.describe()));
        }
    }
    // A warning or error is accounted for by an expected finding of its kind on its target, or
    // by a tolerated consequence.
    let accounted = |r: &Reported| {
        truth
            .expected
            .iter()
            .any(|e| e.kinds.contains(&r.kind.as_str()) && e.target.matches(&r.stems))
            || truth
                .tolerated
                .iter()
                .any(|(k, t)| *k == r.kind && t.matches(&r.stems))
    };
    let expected_kind = |r: &Reported| {
        truth
            .expected
            .iter()
            .any(|e| e.kinds.contains(&r.kind.as_str()))
    };
    let mut wrong_cause = false;
    for r in reported {
        if truth.forbidden.contains(&r.kind.as_str()) {
            wrong_cause = true;
            notes.push(format!("forbidden: {}", r.describe()));
        } else if r.is_problem() && !accounted(r) {
            if expected_kind(r) {
                any_wrong_value = true;
                notes.push(format!("extra on another target: {}", r.describe()));
            } else {
                wrong_cause = true;
                notes.push(format!("unexpected: {}", r.describe()));
            }
        }
    }
    let outcome = if truth.expected.is_empty() {
        if wrong_cause || any_wrong_value {
            Outcome::FalseAlarm
        } else {
            Outcome::Right
        }
    } else if wrong_cause {
        Outcome::WrongCause
    } else if any_missed {
        Outcome::Missed
    } else if any_wrong_value {
        Outcome::WrongStemOrValue
    } else {
        Outcome::Right
    };
    (outcome, notes)
}

/// A scored case.
#[derive(Debug, Clone)]
pub struct Scored {
    /// The case's name.
    pub case: String,
    /// Its family (the table's row).
    pub family: Family,
    /// How it came out (the table's column).
    pub outcome: Outcome,
    /// What went wrong (empty when right).
    pub notes: Vec<String>,
    /// Every finding the report had (for the failure list).
    pub reported: Vec<Reported>,
}

/// Renders, checks and scores one case.
pub fn run_case(case: &Case) -> Scored {
    let delivery = deliver(case);
    match run_checker(&delivery) {
        Ok(reported) => {
            let (outcome, mut notes) = score(&delivery.truth, &reported);
            if outcome != Outcome::Right {
                notes.extend(delivery.truth.notes.iter().map(|n| format!("truth: {n}")));
            }
            Scored {
                case: case.name.clone(),
                family: case.family,
                outcome,
                notes,
                reported,
            }
        }
        Err(e) => Scored {
            case: case.name.clone(),
            family: case.family,
            outcome: Outcome::CheckerFailed,
            notes: vec![e],
            reported: vec![],
        },
    }
}

/// The confusion table per family (Markdown), with a total row.
pub fn table(scored: &[Scored]) -> String {
    let mut rows: BTreeMap<Family, [usize; 7]> = BTreeMap::new();
    for s in scored {
        let row = rows.entry(s.family).or_default();
        row[0] += 1;
        let col = match s.outcome {
            Outcome::Right => 1,
            Outcome::WrongStemOrValue => 2,
            Outcome::WrongCause => 3,
            Outcome::Missed => 4,
            Outcome::FalseAlarm => 5,
            Outcome::CheckerFailed => 6,
        };
        row[col] += 1;
    }
    let mut out = String::from(
        "| family | cases | found right | right kind, wrong stem/value | wrong cause | missed | false alarms | no report |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut total = [0usize; 7];
    for (family, row) in &rows {
        out.push_str(&format!("| {} |", family.name()));
        for (i, v) in row.iter().enumerate() {
            total[i] += v;
            out.push_str(&format!(" {v} |"));
        }
        out.push('\n');
    }
    out.push_str("| **all** |");
    for v in total {
        out.push_str(&format!(" **{v}** |"));
    }
    out.push('\n');
    out
}

/// The failing cases with what was reported.
pub fn failures(scored: &[Scored]) -> String {
    let mut out = String::new();
    for s in scored.iter().filter(|s| s.outcome != Outcome::Right) {
        out.push_str(&format!("{} -> {}\n", s.case, s.outcome.name()));
        for n in &s.notes {
            out.push_str(&format!("    {n}\n"));
        }
        let problems: Vec<String> = s
            .reported
            .iter()
            .filter(|r| r.is_problem())
            .map(Reported::describe)
            .collect();
        if !problems.is_empty() {
            out.push_str(&format!("    reported: {}\n", problems.join("; ")));
        }
    }
    out
}

/// Writes a case's files into `dir` (for a person to listen to) with its ground truth as text.
pub fn write_case(case: &Case, dir: &Path) -> std::io::Result<Delivery> {
    std::fs::create_dir_all(dir)?;
    let d = deliver(case);
    d.write(dir)?;
    let mut truth = format!("{}\n\nexpected:\n", case.name);
    for e in &d.truth.expected {
        truth.push_str(&format!("  {}\n", e.describe()));
    }
    truth.push_str("tolerated:\n");
    for (k, t) in &d.truth.tolerated {
        truth.push_str(&format!("  {k} on {}\n", t.label()));
    }
    truth.push_str(&format!("forbidden: {}\n", d.truth.forbidden.join(", ")));
    for n in &d.truth.notes {
        truth.push_str(&format!("note: {n}\n"));
    }
    std::fs::write(dir.join("TRUTH.txt"), truth)?;
    Ok(d)
}
