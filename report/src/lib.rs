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
        /// Why the run ended.
        ended_by: RunEnd,
    },
    /// Exported files, checked by the `stemcheck` command.
    Files {
        /// The folder or files given on the command line.
        inputs: Vec<String>,
        /// The delivery profile used.
        profile: String,
    },
}

/// Why a live run's report was written. Serialised as its kebab-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunEnd {
    /// The transport stopped, located or looped (or every instance left).
    Transport,
    /// No audio arrived for a while (a host that stopped processing).
    Stalled,
    /// The core shut down (the last instance went).
    Finished,
    /// Written on request ("Save report"), while the run may still go on.
    Saved,
}

impl RunEnd {
    /// The name in reports ("transport", ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Transport => "transport",
            Self::Stalled => "stalled",
            Self::Finished => "finished",
            Self::Saved => "saved",
        }
    }
}

/// What a file is in a delivery. Serialised as its kebab-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileRole {
    /// A stem.
    Stem,
    /// The mix the stems should rebuild.
    Mix,
}

impl FileRole {
    /// The name in reports ("stem" or "mix").
    pub fn name(self) -> &'static str {
        match self {
            Self::Stem => "stem",
            Self::Mix => "mix",
        }
    }
}

/// What a live instance is in the comparison. Serialised as its kebab-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceRole {
    /// One of the stems.
    Stem,
    /// The master bus.
    Master,
}

impl InstanceRole {
    /// The name in reports ("stem" or "master").
    pub fn name(self) -> &'static str {
        match self {
            Self::Stem => "stem",
            Self::Master => "master",
        }
    }
}

/// How much of a live run was compared: the verdict speaks only for this part.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// Length of the run (its timeline span), in seconds.
    pub run_seconds: f64,
    /// Seconds in which the master and every stem were present and compared.
    pub analysed_seconds: f64,
    /// `analysed_seconds` as a percentage of `run_seconds` (100 for an empty run).
    pub analysed_percent: f64,
    /// Frames dropped by instances whose lane was full (the analysis fell behind), summed over
    /// the instances.
    pub dropped_frames: u64,
}

impl Coverage {
    /// Coverage of a run of `run_frames` of which `analysed_frames` were compared.
    pub fn new(run_frames: u64, analysed_frames: u64, dropped_frames: u64, rate_hz: f32) -> Self {
        let rate = f64::from(rate_hz.max(1.0));
        let analysed = analysed_frames.min(run_frames);
        Self {
            run_seconds: run_frames as f64 / rate,
            analysed_seconds: analysed as f64 / rate,
            analysed_percent: if run_frames == 0 {
                100.0
            } else {
                100.0 * analysed as f64 / run_frames as f64
            },
            dropped_frames,
        }
    }
}

/// One file the checker read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileInfo {
    /// The path as given on the command line, so the user recognises it.
    pub path: String,
    /// Stem or mix.
    pub role: FileRole,
    /// The stem's name as derived from the file name ("Drums" for `Song_Drums.wav`).
    pub stem: Option<String>,
    /// The file's sample rate, in Hz; a delivery check compares it across files.
    pub sample_rate_hz: u32,
    /// Bits per sample (32 for float files).
    pub bit_depth: u32,
    /// "int" or "float".
    pub sample_format: String,
    /// Channels in the file (1 mono, 2 stereo).
    pub channels: u32,
    /// Length in frames (samples per channel); stems and mix must agree.
    pub length_samples: u64,
    /// Highest sample magnitude, in dBFS.
    pub peak_dbfs: f32,
    /// Highest inter-sample peak (oversampled), in dBTP; what a clip check reads.
    pub true_peak_dbtp: f32,
}

/// One instance the plugin saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceInfo {
    /// The stem name the instance reported (typed by the user or the host's track name).
    pub name: String,
    /// Stem or master.
    pub role: InstanceRole,
    /// The host's sample rate for this instance, in Hz.
    pub sample_rate_hz: f32,
    /// Channels of the instance's main input.
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
    /// `"stemcheck <version>"`.
    pub generator: String,
    /// When it was written (RFC 3339, UTC).
    pub created: String,
    /// Where the audio came from: a live run in a host or files checked offline.
    pub source: Source,
    /// The overall answer.
    pub verdict: Verdict,
    /// Seconds of audio analysed.
    pub seconds: f64,
    /// The sample rate the analysis ran at, in Hz.
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
    /// Plugin only: how much of the run was compared (absent in checker reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
    /// Plugin only: the core's snapshot of the group at the end of the run (instances, coverage,
    /// drops), as documented in `docs/report-schema.md`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_group: Option<serde_json::Value>,
    /// Checker only, with `--write-residual`: the difference stem written (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residual_file: Option<ResidualFile>,
    /// Checker only: the mix's channel layout ("stereo", "5.1", "7.1").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
    /// Checker only, deliveries of more than two channels: each channel of the mix's layout
    /// compared on its own, in the file's order (empty for mono and stereo).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<ChannelResult>,
    /// With `channels`: the channel whose residual is the worst, the one `measurements` are of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worst_channel: Option<String>,
    /// With `channels`, one entry per finding (same order as `findings`): the channels it
    /// concerns by short name (`["C"]`); empty for a finding about whole files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finding_channels: Vec<Vec<String>>,
}

/// One channel of a surround delivery, compared on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelResult {
    /// Its short name ("L", "C", "LFE", "Ls").
    pub name: String,
    /// Its long name ("centre", "left surround").
    pub speaker: String,
    /// The residual (mix minus stems) of this channel, in dB re the mix's channel.
    pub residual_db: f32,
    /// This channel's answer.
    pub verdict: Verdict,
    /// The stems compared on this channel (the stems that have it).
    pub stems: Vec<String>,
}

/// The difference stem the checker wrote: the mix minus the stems' sum, the stems lined up by
/// the offsets found, so that the lined-up stems plus this file rebuild the mix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResidualFile {
    /// Where it was written.
    pub path: String,
    /// Its sample rate, in Hz (the rate the delivery was compared at).
    pub sample_rate_hz: u32,
    /// Its channels (the mix's).
    pub channels: u32,
    /// Bits per sample (32 for float).
    pub bit_depth: u32,
    /// "int" or "float".
    pub sample_format: String,
    /// Whether TPDF dither was added (the difference had more resolution than the file keeps).
    pub dithered: bool,
    /// Its highest sample magnitude, in dBFS (-200 for silence).
    pub peak_dbfs: f32,
    /// Its RMS over all channels, in dBFS (-200 for silence).
    pub rms_dbfs: f32,
    /// Samples clipped at full scale (an integer file cannot hold more).
    pub clipped_samples: u64,
    /// Per stem: the delay it was lined up with before subtracting, in samples (positive:
    /// delayed, i.e. the stem was early).
    pub stem_delays_samples: Vec<(String, i64)>,
    /// What it holds: the kinds of the warnings and errors about the audio, by name.
    pub holds: Vec<String>,
}

impl Report {
    /// A report with its header filled in (schema, generator, creation time now) and nothing
    /// found yet: callers add files or instances, findings and measurements.
    pub fn new(source: Source, verdict: Verdict, seconds: f64, sample_rate_hz: f32) -> Self {
        Self {
            schema: SCHEMA_VERSION,
            generator: format!("stemcheck {}", env!("CARGO_PKG_VERSION")),
            created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            source,
            verdict,
            seconds,
            sample_rate_hz,
            files: Vec::new(),
            instances: Vec::new(),
            findings: Vec::new(),
            measurements: None,
            coverage: None,
            live_group: None,
            residual_file: None,
            layout: None,
            channels: Vec::new(),
            worst_channel: None,
            finding_channels: Vec::new(),
        }
    }

    /// The channels finding `index` concerns (empty: whole files, or a mono/stereo delivery).
    pub fn channels_of(&self, index: usize) -> &[String] {
        self.finding_channels.get(index).map_or(&[], Vec::as_slice)
    }

    /// The most severe finding's severity, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// JSON, pretty-printed.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_without_the_surround_fields_still_reads() {
        let mut report = Report::new(
            Source::Files {
                inputs: vec!["Stems/".into()],
                profile: "default".into(),
            },
            Verdict::Nulls,
            1.0,
            48_000.0,
        );
        let old = report.to_json();
        assert!(!old.contains("finding_channels") && !old.contains("\"channels\": ["));
        let read: Report = serde_json::from_str(&old).expect("an old report reads");
        assert_eq!(read, report);
        // And a surround report round-trips.
        report.layout = Some("5.1".into());
        report.worst_channel = Some("C".into());
        report.channels = vec![ChannelResult {
            name: "C".into(),
            speaker: "centre".into(),
            residual_db: -12.5,
            verdict: Verdict::Fails,
            stems: vec!["Bass".into()],
        }];
        let read: Report = serde_json::from_str(&report.to_json()).expect("it reads back");
        assert_eq!(read, report);
    }
}
