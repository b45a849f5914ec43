//! Findings as data: a stable kind (kebab-case name, one-line description), a severity, the stems
//! concerned, the measured value with its unit, a confidence, and a message and fix in the words
//! an engineer uses.

use serde::{Deserialize, Serialize};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Worth knowing; the stems are still deliverable.
    Info,
    /// Probably wrong; check before delivery.
    Warning,
    /// The stems do not rebuild the master, or the audio is damaged.
    Error,
}

impl Severity {
    /// The stable lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

macro_rules! kinds {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal : $description:literal, )*) => {
        /// What a finding is about. The names are stable: reports, scripts and the plugin's
        /// dashboard rely on them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum FindingKind {
            $( $(#[$doc])* #[doc = $description] $variant, )*
        }

        impl FindingKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [FindingKind] = &[$(FindingKind::$variant,)*];

            /// The stable kebab-case name.
            pub fn name(self) -> &'static str {
                match self { $(FindingKind::$variant => $name,)* }
            }

            /// One line saying what the kind means.
            pub fn description(self) -> &'static str {
                match self { $(FindingKind::$variant => $description,)* }
            }

            /// The kind with this name.
            pub fn from_name(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|k| k.name() == name)
            }
        }
    };
}

kinds! {
    Nulls = "nulls": "The stems' sum equals the master down to the noise floor.",
    MasterBusGain = "master-bus-gain": "The master is louder or quieter than the stems' sum by a constant gain.",
    MasterBusEq = "master-bus-eq": "The master has EQ or filtering the stems lack.",
    MasterBusDynamics = "master-bus-dynamics": "The master has compression or limiting the stems lack.",
    MissingContent = "missing-content": "The master has a source no stem carries.",
    MissingFxReturn = "missing-fx-return": "The master has reverb or delay that no stem carries.",
    MasterLatency = "master-latency": "The master is offset against all stems alike (e.g. a look-ahead limiter); compensated.",
    StemOffset = "stem-offset": "A stem is early or late against the others.",
    StemPolarity = "stem-polarity": "A stem is polarity-inverted against the master.",
    StemGain = "stem-gain": "A stem is louder or quieter in the master than in its stem.",
    StemPhaseCancellation = "stem-phase-cancellation": "Two stems cancel each other in a frequency band when summed.",
    Clipping = "clipping": "Samples at or over full scale.",
    TruePeak = "true-peak": "The true (inter-sample) peak is above the limit.",
    SumOverFullScale = "sum-over-full-scale": "The stems' sum goes over 0 dBFS.",
    SilentStem = "silent-stem": "A stem is silent while the transport plays.",
    DcOffset = "dc-offset": "A signal has a DC offset.",
    SampleRateMismatch = "sample-rate-mismatch": "Signals at different sample rates cannot be compared.",
    StemCount = "stem-count": "Unusual number of stems for a delivery.",
    NoMaster = "no-master": "There is no master to compare the stems with.",
    NoStems = "no-stems": "There are no stems to compare with the master.",
    LengthMismatch = "length-mismatch": "Files of one delivery differ in length (raised by the file checker).",
    FormatMismatch = "format-mismatch": "Files differ in sample rate, bit depth or channels, or miss the delivery spec (file checker).",
    Naming = "naming": "File names do not follow the delivery's naming (file checker).",
    TailCut = "tail-cut": "A file ends with signal still sounding: a reverb tail or note was cut off (file checker).",
    FakeStereo = "fake-stereo": "A stereo file whose two channels are identical (file checker).",
    StemStartOffset = "stem-start-offset": "A stem starts seconds early or late against the mix (exported from its first region, or with a pre-roll): beyond any plugin latency.",
    StemDropout = "stem-dropout": "A stem goes silent (ends early, or is muted for a while) where the mix still has its part.",
    MissingStem = "missing-stem": "A whole dry instrument is in the mix but in no stem: a stem is missing from the delivery.",
    IncompleteAnalysis = "incomplete-analysis": "Part of the run was not compared (frames dropped or missing): the verdict covers only the rest.",
}

impl std::fmt::Display for FindingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The unit of a finding's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    /// Decibels (a ratio).
    Db,
    /// Decibels relative to full scale.
    Dbfs,
    /// Decibels true peak.
    Dbtp,
    /// Samples at the analysis sample rate.
    Samples,
    /// Milliseconds.
    Ms,
    /// A count.
    Count,
    /// Hertz.
    Hz,
    /// No unit.
    None,
}

/// One thing the analysis found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// What it is about.
    pub kind: FindingKind,
    /// How serious it is.
    pub severity: Severity,
    /// The stems concerned, by name (empty for the master bus as a whole).
    pub stems: Vec<String>,
    /// The measured value, in `unit`.
    pub value: f64,
    /// The unit of `value`.
    pub unit: Unit,
    /// How sure the analysis is, from 0 to 1.
    pub confidence: f32,
    /// One line: what is wrong, with the numbers.
    pub message: String,
    /// One line: what to do about it.
    pub fix: String,
    /// The frequency band concerned, in Hz, if the finding is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub band_hz: Option<(f32, f32)>,
    /// Where in time the finding holds, in seconds from the start of the analysed audio (start,
    /// end), if it concerns a stretch rather than the whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_range_s: Option<(f64, f64)>,
}

impl Finding {
    /// A finding with no band (set `band_hz` afterwards if it concerns one).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kind: FindingKind,
        severity: Severity,
        stems: Vec<String>,
        value: f64,
        unit: Unit,
        confidence: f32,
        message: String,
        fix: String,
    ) -> Self {
        Self {
            kind,
            severity,
            stems,
            value,
            unit,
            confidence,
            message,
            fix,
            band_hz: None,
            time_range_s: None,
        }
    }

    /// A sort key: most important first (severity, then confidence).
    pub fn importance(&self) -> (Severity, i32) {
        (self.severity, (self.confidence * 1000.0) as i32)
    }
}

/// The overall answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Not enough audio yet.
    Pending,
    /// The stems rebuild the master; nothing at warning or above.
    Nulls,
    /// Warnings but no errors.
    Warnings,
    /// At least one error.
    Fails,
}

impl Verdict {
    /// The verdict for a list of findings, once enough audio was seen.
    pub fn of(findings: &[Finding]) -> Self {
        match findings.iter().map(|f| f.severity).max() {
            Some(Severity::Error) => Self::Fails,
            Some(Severity::Warning) => Self::Warnings,
            _ => Self::Nulls,
        }
    }

    /// The stable kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Nulls => "nulls",
            Self::Warnings => "warnings",
            Self::Fails => "fails",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_are_unique_kebab_case_and_round_trip() {
        let mut names: Vec<&str> = FindingKind::ALL.iter().map(|k| k.name()).collect();
        for (kind, name) in FindingKind::ALL.iter().zip(&names) {
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
            assert_eq!(FindingKind::from_name(name), Some(*kind));
            let json = serde_json_name(*kind);
            assert_eq!(json, *name, "serde uses the same name");
            assert!(!kind.description().is_empty());
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), FindingKind::ALL.len());
    }

    fn serde_json_name(kind: FindingKind) -> String {
        serde_json::to_string(&kind)
            .unwrap()
            .trim_matches('"')
            .to_string()
    }
}
