//! The report both sides of Stemcheck write: the plugin at the end of every transport run, the
//! `stemcheck` command for a folder of stems. One schema ([`SCHEMA_VERSION`], documented in
//! `docs/report-schema.md`), rendered as JSON or Markdown, written atomically.

mod markdown;
mod write;

use serde::{Deserialize, Serialize};
use stemcheck_analysis::{Finding, Measurements, Severity, Verdict};

pub use markdown::to_markdown;
pub use write::{write_atomically, write_file_atomically, write_set_atomically};

/// Version of the report layout. Bumped on any change that could break a reader.
pub const SCHEMA_VERSION: u32 = 1;

/// Where the audio came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Source {
    /// A transport run in a host, analysed live by the plugin.
    Live {
        /// Group label ("A" to "H").
        group: String,
        /// Run number in the core's life.
        run: u64,
        /// Timeline position of the run's first frame, in samples.
        start_samples: i64,
        /// Timeline position just past its last frame.
        end_samples: i64,
        /// Why the run ended: "transport", "stalled" or "finished".
        ended_by: String,
    },
    /// Exported files, checked by the `stemcheck` command.
    Files {
        /// The folder or files given on the command line.
        inputs: Vec<String>,
        /// The delivery profile used.
        profile: String,
    },
}

/// One file the checker read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileInfo {
    pub path: String,
    /// "stem" or "mix".
    pub role: String,
    /// The stem's name as derived from the file name ("Drums" for `Song_Drums.wav`).
    pub stem: Option<String>,
    pub sample_rate_hz: u32,
    /// Bits per sample (32 for float files).
    pub bit_depth: u32,
    /// "int" or "float".
    pub sample_format: String,
    pub channels: u32,
    pub length_samples: u64,
    pub peak_dbfs: f32,
    pub true_peak_dbtp: f32,
}

/// One instance the plugin saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceInfo {
    pub name: String,
    /// "stem" or "master".
    pub role: String,
    pub sample_rate_hz: f32,
    pub channels: u32,
    /// Frames of the run in which it was present.
    pub present_frames: u64,
    /// Frames it dropped (the analysis fell behind).
    pub dropped_frames: u64,
}

/// A whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema: u32,
    /// "stemcheck <version>".
    pub generator: String,
    /// When it was written (RFC 3339, UTC).
    pub created: String,
    pub source: Source,
    /// The overall answer.
    pub verdict: Verdict,
    /// Seconds of audio analysed.
    pub seconds: f64,
    pub sample_rate_hz: f32,
    /// Files read (checker only).
    #[serde(default)]
    pub files: Vec<FileInfo>,
    /// Instances seen (plugin only).
    #[serde(default)]
    pub instances: Vec<InstanceInfo>,
    /// What was found, most important first.
    pub findings: Vec<Finding>,
    /// The measurements behind the findings.
    pub measurements: Option<Measurements>,
    /// Plugin only: the core's snapshot of the group at the end of the run (instances, coverage,
    /// drops), as documented in `docs/report-schema.md`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_group: Option<serde_json::Value>,
}

impl Report {
    /// The most severe finding's severity, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// JSON, pretty-printed.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}
