//! Reports the core writes at the end of every transport run long enough to matter, so that every
//! export or playback pass leaves an audit trail. Written on the core's thread, never an audio
//! thread; atomically (a temporary file renamed into place); never over an earlier report.

use std::path::PathBuf;

use std::sync::atomic::{AtomicBool, Ordering};

use stemcheck_bus::timeline::{EpochEnd, EpochSummary};
use stemcheck_report::{
    InstanceInfo, InstanceRole, Report, RunEnd, Source, to_markdown, write_set_atomically,
};

use crate::NUM_GROUPS;
use crate::snapshot::{GroupSnapshot, Role};

/// Environment variable naming the folder reports go to.
pub const REPORT_DIR_ENV: &str = "STEMCHECK_REPORT_DIR";
/// Runs shorter than this, in seconds, leave no report (a click on play and stop).
pub const MIN_REPORT_SECONDS: f64 = 3.0;

/// The folder reports are written to: `$STEMCHECK_REPORT_DIR`, else the platform's per-user
/// data folder (`~/.local/share/Stemcheck/reports` on Linux, `~/Library/Application
/// Support/Stemcheck/reports` on macOS, `%APPDATA%\Stemcheck\reports` on Windows).
pub fn report_dir() -> Option<PathBuf> {
    match std::env::var_os(REPORT_DIR_ENV) {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => dirs::data_dir().map(|d| d.join("Stemcheck").join("reports")),
    }
}

/// Builds the report of `run` from the group's snapshot at its end.
pub fn run_report(snapshot: &GroupSnapshot, run: &EpochSummary) -> Report {
    let rate = f64::from(run.sample_rate_hz.max(1.0));
    let seconds = (run.end_pos_samples - run.start_pos_samples) as f64 / rate;
    let source = Source::Live {
        group: snapshot.group.clone(),
        run: run.epoch,
        start_samples: run.start_pos_samples,
        end_samples: run.end_pos_samples,
        ended_by: match run.reason {
            EpochEnd::Transport => RunEnd::Transport,
            EpochEnd::Stalled => RunEnd::Stalled,
            EpochEnd::Finished => RunEnd::Finished,
        },
    };
    let mut report = Report::new(source, snapshot.verdict, seconds, run.sample_rate_hz);
    report.instances = snapshot
        .instances
        .iter()
        .map(|i| InstanceInfo {
            name: i.name.clone(),
            role: match i.role {
                Role::Master => InstanceRole::Master,
                Role::Stem => InstanceRole::Stem,
            },
            sample_rate_hz: i.sample_rate_hz,
            channels: i.num_channels as u32,
            present_frames: i.present_frames,
            dropped_frames: i.dropped_frames,
        })
        .collect();
    report.findings = snapshot.findings.clone();
    report.measurements = snapshot.measurements.clone();
    // Over the run's whole span as the aligner saw it.
    let span_frames = (run.end_pos_samples - run.start_pos_samples).max(0) as u64;
    report.coverage = Some(stemcheck_report::Coverage::new(
        span_frames,
        snapshot.complete_frames,
        snapshot.run_dropped_frames,
        run.sample_rate_hz,
    ));
    report.live_group = serde_json::to_value(snapshot).ok();
    report
}

/// One "Save report" request per group, set by editors (any thread), taken by the core.
/// `Relaxed` suffices: the flag carries no other data; the core reads the snapshot itself.
static SAVE_REQUESTS: [AtomicBool; NUM_GROUPS] = [const { AtomicBool::new(false) }; NUM_GROUPS];

/// Asks the core to write the report of group `group` now (the editor's "Save report").
pub fn request_report(group: usize) {
    if let Some(flag) = SAVE_REQUESTS.get(group) {
        flag.store(true, Ordering::Relaxed);
    }
}

pub(crate) fn take_save_request(group: usize) -> bool {
    SAVE_REQUESTS
        .get(group)
        .is_some_and(|f| f.swap(false, Ordering::Relaxed))
}

/// Writes the group's report as it stands (for "Save report"). Returns the JSON's path.
pub fn write_saved_report(snapshot: &GroupSnapshot) -> std::io::Result<PathBuf> {
    let dir = report_dir().ok_or_else(|| {
        std::io::Error::other(format!("no folder for reports (set {REPORT_DIR_ENV})"))
    })?;
    let run = EpochSummary {
        epoch: snapshot.run,
        start_pos_samples: snapshot.run_start_samples,
        end_pos_samples: snapshot
            .run_start_samples
            .saturating_add(snapshot.run_frames as i64),
        sample_rate_hz: snapshot.sample_rate_hz,
        reason: EpochEnd::Finished,
    };
    let mut report = run_report(snapshot, &run);
    if let Source::Live { ended_by, .. } = &mut report.source {
        *ended_by = RunEnd::Saved;
    }
    write_pair(
        &dir,
        &report,
        &format!(
            "stemcheck-{}-{}-saved",
            snapshot.group,
            report.created.replace(':', "-")
        ),
    )
}

/// Writes `report` as `stem.md` and `stem.json`, the JSON last: whoever watches the folder for
/// reports (the tests, a script, a sync tool) finds the Markdown complete once the JSON is there.
/// Returns the JSON's path.
fn write_pair(dir: &std::path::Path, report: &Report, stem: &str) -> std::io::Result<PathBuf> {
    let markdown = to_markdown(report);
    let json = report.to_json();
    let mut paths = write_set_atomically(
        dir,
        stem,
        &[("md", markdown.as_bytes()), ("json", json.as_bytes())],
    )?;
    Ok(paths.remove(1))
}

/// Writes the report of `run` (JSON and Markdown) if it is long enough. Errors are logged,
/// never raised: a report that cannot be written must not disturb the session.
pub fn write_run_report(snapshot: &GroupSnapshot, run: &EpochSummary) -> Option<PathBuf> {
    let rate = f64::from(run.sample_rate_hz.max(1.0));
    let seconds = (run.end_pos_samples - run.start_pos_samples) as f64 / rate;
    if seconds < MIN_REPORT_SECONDS {
        return None;
    }
    let Some(dir) = report_dir() else {
        tracing::warn!("Stemcheck: no folder for reports (set {REPORT_DIR_ENV})");
        return None;
    };
    let report = run_report(snapshot, run);
    let stem = format!(
        "stemcheck-{}-{}-run{}",
        snapshot.group,
        report.created.replace(':', "-"),
        run.epoch
    );
    match write_pair(&dir, &report, &stem) {
        Ok(json) => Some(json),
        Err(e) => {
            tracing::error!(
                "Stemcheck: could not write a report to {}: {e}",
                dir.display()
            );
            None
        }
    }
}
