//! Reports the core writes at the end of every transport run long enough to matter, so that every
//! export or playback pass leaves an audit trail. Written on the core's thread, never an audio
//! thread; atomically (a temporary file renamed into place); never over an earlier report.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use stemcheck_bus::timeline::{EpochEnd, EpochSummary};

use crate::snapshot::GroupSnapshot;

/// Environment variable naming the folder reports go to.
pub const REPORT_DIR_ENV: &str = "STEMCHECK_REPORT_DIR";
/// Runs shorter than this, in seconds, leave no report (a click on play and stop).
pub const MIN_REPORT_SECONDS: f64 = 3.0;
/// Version of the live report's JSON layout.
pub const LIVE_REPORT_SCHEMA: u32 = 1;

/// The folder reports are written to: `$STEMCHECK_REPORT_DIR`, else the platform's per-user
/// data folder (`~/.local/share/Stemcheck/reports` on Linux, `~/Library/Application
/// Support/Stemcheck/reports` on macOS, `%APPDATA%\Stemcheck\reports` on Windows).
pub fn report_dir() -> Option<PathBuf> {
    match std::env::var_os(REPORT_DIR_ENV) {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => dirs::data_dir().map(|d| d.join("Stemcheck").join("reports")),
    }
}

/// One transport run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Run number in this core's life.
    pub number: u64,
    /// Timeline position of its first frame, in samples.
    pub start_samples: i64,
    /// Timeline position just past its last frame, in samples.
    pub end_samples: i64,
    /// Its length in seconds.
    pub seconds: f64,
    /// Why it ended: "transport", "stalled" or "finished".
    pub ended_by: String,
}

/// The report of one run, as written to disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveReport {
    /// [`LIVE_REPORT_SCHEMA`].
    pub schema: u32,
    /// When the report was written (RFC 3339, UTC).
    pub written_at: String,
    /// The run.
    pub run: RunInfo,
    /// The group at the end of the run.
    pub group: GroupSnapshot,
}

/// Writes the report of `run` if it is long enough. Errors are logged, never raised: a report
/// that cannot be written must not disturb the session.
pub fn write_run_report(snapshot: &GroupSnapshot, run: &EpochSummary) {
    let rate = f64::from(run.sample_rate_hz.max(1.0));
    let seconds = (run.end_pos_samples - run.start_pos_samples) as f64 / rate;
    if seconds < MIN_REPORT_SECONDS {
        return;
    }
    let Some(dir) = report_dir() else {
        tracing::warn!("Stemcheck: no folder for reports (set {REPORT_DIR_ENV})");
        return;
    };
    let now = SystemTime::now();
    let report = LiveReport {
        schema: LIVE_REPORT_SCHEMA,
        written_at: humantime::format_rfc3339_seconds(now).to_string(),
        run: RunInfo {
            number: run.epoch,
            start_samples: run.start_pos_samples,
            end_samples: run.end_pos_samples,
            seconds,
            ended_by: match run.reason {
                EpochEnd::Transport => "transport",
                EpochEnd::Stalled => "stalled",
                EpochEnd::Finished => "finished",
            }
            .to_string(),
        },
        group: snapshot.clone(),
    };
    let stem = format!(
        "stemcheck-{}-{}-run{}",
        snapshot.group,
        report.written_at.replace(':', "-"),
        run.epoch
    );
    match serde_json::to_vec_pretty(&report) {
        Ok(json) => {
            if let Err(e) = write_atomically(&dir, &stem, "json", &json) {
                tracing::error!(
                    "Stemcheck: could not write a report to {}: {e}",
                    dir.display()
                );
            }
        }
        Err(e) => tracing::error!("Stemcheck: could not encode a report: {e}"),
    }
}

/// Writes `bytes` to `dir/stem.ext` (or `stem-2.ext`, ... if taken) through a temporary file in
/// the same folder, renamed into place once complete. Returns the final path.
pub fn write_atomically(
    dir: &Path,
    stem: &str,
    ext: &str,
    bytes: &[u8],
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let temp = dir.join(format!(".{stem}.{}.tmp", std::process::id()));
    {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    for attempt in 1..1000 {
        let name = if attempt == 1 {
            format!("{stem}.{ext}")
        } else {
            format!("{stem}-{attempt}.{ext}")
        };
        let target = dir.join(name);
        if target.exists() {
            continue;
        }
        // `hard_link` fails if the target exists, so a report written between the check and
        // here is never replaced.
        match std::fs::hard_link(&temp, &target) {
            Ok(()) => {
                let _ = std::fs::remove_file(&temp);
                return Ok(target);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(_) => {
                // Some file systems have no hard links: fall back to rename.
                std::fs::rename(&temp, &target)?;
                return Ok(target);
            }
        }
    }
    let _ = std::fs::remove_file(&temp);
    Err(std::io::Error::other("too many reports with the same name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_never_replace_an_earlier_report() {
        let dir = tempfile::tempdir().unwrap();
        let first = write_atomically(dir.path(), "r", "json", b"one").unwrap();
        let second = write_atomically(dir.path(), "r", "json", b"two").unwrap();
        assert_ne!(first, second);
        assert_eq!(std::fs::read(&first).unwrap(), b"one");
        assert_eq!(std::fs::read(&second).unwrap(), b"two");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn an_unwritable_folder_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-folder");
        std::fs::write(&file, b"x").unwrap();
        assert!(write_atomically(&file, "r", "json", b"one").is_err());
    }
}
