//! The file-level delivery rules: what the files of a delivery must be as files (format,
//! length, names, tails, fake stereo), apart from whether their audio rebuilds the mix. Each
//! rule is a [`Rule`] (a name, a description, the finding kind it raises) and a function over
//! [`FileFacts`], gathered while the files stream through the check.

mod format;
mod length;
mod naming;
mod tails;
mod timecode;

use std::path::PathBuf;

use stemcheck_analysis::{Finding, FindingKind, Severity, Unit};

use crate::decode::Format;
use crate::inputs::Inputs;
use crate::profile::Spec;

pub use format::{Reference, reference_format};
pub use tails::{FileWatch, TAIL_FLOOR_DBFS, TailLevels};
pub use timecode::reconcile_with_audio as reconcile_timecode;

/// A delivery rule, as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Sample rate, bit depth, sample format and channels agree across the delivery and meet
    /// the profile (one finding per odd file, whatever is odd about it).
    Format,
    /// Every file is as long as the mix, to the sample.
    Length,
    /// `TrackName_Stem` names, one track name, no working names, no duplicate stems.
    Naming,
    /// No file ends while still sounding.
    Tail,
    /// No stereo file whose channels are identical.
    FakeStereo,
    /// Every stem's BWF time reference is the mix's.
    Timecode,
    /// Every file carries a BWF time reference, or none does.
    TimeReference,
}

impl Rule {
    /// Every rule, in the order the check applies them.
    pub const ALL: &'static [Rule] = &[
        Rule::Format,
        Rule::Length,
        Rule::Naming,
        Rule::Tail,
        Rule::FakeStereo,
        Rule::Timecode,
        Rule::TimeReference,
    ];

    /// The stable kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Format => "format",
            Rule::Length => "length",
            Rule::Naming => "naming",
            Rule::Tail => "tail",
            Rule::FakeStereo => "fake-stereo",
            Rule::Timecode => "timecode",
            Rule::TimeReference => "time-reference",
        }
    }

    /// One line saying what the rule demands.
    pub fn description(self) -> &'static str {
        match self {
            Rule::Format => {
                "Sample rate, bit depth, sample format and channels agree across the files (the stems' majority is right) and meet the profile; the odd file is named once."
            }
            Rule::Length => "Every file is as long as the mix, to the sample.",
            Rule::Naming => {
                "TrackName_Stem names with one track name, no working names, no two files for one stem."
            }
            Rule::Tail => "No file ends while still sounding (a cut reverb tail or note).",
            Rule::FakeStereo => "No stereo file whose two channels are identical.",
            Rule::Timecode => {
                "Every stem starts where the mix starts by its BWF time reference (named in timecode and samples)."
            }
            Rule::TimeReference => {
                "Every file carries a BWF time reference, or none does (a conform by timecode cannot place a file without one)."
            }
        }
    }

    /// The finding kind the rule raises.
    pub fn kind(self) -> FindingKind {
        match self {
            Rule::Format => FindingKind::FormatMismatch,
            Rule::Length => FindingKind::LengthMismatch,
            Rule::Naming => FindingKind::Naming,
            Rule::Tail => FindingKind::TailCut,
            Rule::FakeStereo => FindingKind::FakeStereo,
            Rule::Timecode => FindingKind::StemStartOffset,
            Rule::TimeReference => FindingKind::FormatMismatch,
        }
    }
}

/// What the check learnt about one file, for the rules.
#[derive(Debug, Clone)]
pub struct FileFacts {
    /// The file's path.
    pub path: PathBuf,
    /// The stem's name, `None` for the mix.
    pub stem: Option<String>,
    /// Its format, as probed.
    pub format: Format,
    /// Frames the file turned out to hold, at its own rate (the decode is the truth).
    pub frames_read: u64,
    /// Its last moments (the loudest channel's, or the cut one's).
    pub tail: TailLevels,
    /// Whether the file is stereo with identical channels.
    pub identical_channels: bool,
}

impl FileFacts {
    /// Whether this file is the mix (it has no stem name).
    pub fn is_mix(&self) -> bool {
        self.stem.is_none()
    }

    /// The name findings use: the stem's, or "Mix".
    pub fn name(&self) -> String {
        self.stem.clone().unwrap_or_else(|| "Mix".to_string())
    }

    /// The file's name without its folder (empty if it has none).
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    }
}

/// Everything the rules look at: the files (the mix first), how they were named, the profile.
pub struct Delivery<'a> {
    /// Facts about each file, the mix first.
    pub files: &'a [FileFacts],
    /// The files as discovered, and how the mix was chosen.
    pub inputs: &'a Inputs,
    /// What the chosen profile demands.
    pub spec: &'a Spec,
    /// What the stems agree on.
    pub reference: Reference,
    /// The rate the audio was compared at (the stems', or a lower mix's), in Hz.
    pub analysis_rate_hz: u32,
}

/// Runs one rule.
pub fn apply(rule: Rule, delivery: &Delivery<'_>) -> Vec<Finding> {
    match rule {
        Rule::Format => format::format_findings(delivery),
        Rule::Length => length::length_findings(delivery),
        Rule::Naming => naming::naming_findings(delivery),
        Rule::Tail => tails::tail_findings(delivery),
        Rule::FakeStereo => tails::fake_stereo_findings(delivery),
        Rule::Timecode => timecode::timecode_findings(delivery),
        Rule::TimeReference => timecode::time_reference_presence_findings(delivery),
    }
}

/// Runs every rule.
pub fn findings(delivery: &Delivery<'_>) -> Vec<Finding> {
    Rule::ALL.iter().flat_map(|&r| apply(r, delivery)).collect()
}

/// A file-level finding: always certain.
fn file_finding(
    rule: Rule,
    severity: Severity,
    stems: Vec<String>,
    value: f64,
    unit: Unit,
    message: String,
    fix: String,
) -> Finding {
    Finding::new(rule.kind(), severity, stems, value, unit, 1.0, message, fix)
}
