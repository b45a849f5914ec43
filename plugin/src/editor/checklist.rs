//! The export checklist: the delivery checks, each pass, warn or fail, derived from the group's
//! findings and setup.

use stemcheck_analysis::{Finding, FindingKind, Severity};
use stemcheck_live::GroupSnapshot;

/// A checklist line's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Ready to export.
    Pass,
    /// Worth a look; the delivery may still be fine.
    Warn,
    /// Fix before export.
    Fail,
    /// Not enough audio yet.
    Pending,
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// What is checked, as the dashboard prints it.
    pub label: &'static str,
    /// The check's result for the current snapshot.
    pub state: Check,
}

/// The checks, in the order an engineer goes through them before export.
pub fn items(snapshot: &GroupSnapshot) -> Vec<Item> {
    let analysed = snapshot
        .measurements
        .as_ref()
        .is_some_and(|m| m.cross_ready);
    let worst = |kinds: &[FindingKind]| -> Check {
        let severity = snapshot
            .findings
            .iter()
            .filter(|f: &&Finding| kinds.contains(&f.kind))
            .map(|f| f.severity)
            .max();
        match severity {
            Some(Severity::Error) => Check::Fail,
            Some(Severity::Warning) => Check::Warn,
            _ if !analysed => Check::Pending,
            _ => Check::Pass,
        }
    };
    let stems = snapshot.stems().count();
    vec![
        Item {
            label: "Master and stems present",
            state: if snapshot.masters().count() == 1 && stems > 0 {
                Check::Pass
            } else {
                Check::Fail
            },
        },
        Item {
            label: "Stem count (2 to 12)",
            state: worst(&[FindingKind::StemCount]),
        },
        Item {
            label: "One sample rate",
            state: if snapshot.sample_rate_mismatch {
                Check::Fail
            } else {
                Check::Pass
            },
        },
        Item {
            label: "Headroom (no clipping, true peak)",
            state: worst(&[
                FindingKind::Clipping,
                FindingKind::TruePeak,
                FindingKind::SumOverFullScale,
            ]),
        },
        Item {
            label: "Common start (no stem offset)",
            state: worst(&[FindingKind::StemOffset]),
        },
        Item {
            label: "Polarity and stem levels",
            state: worst(&[FindingKind::StemPolarity, FindingKind::StemGain]),
        },
        Item {
            label: "No master-bus processing",
            state: worst(&[
                FindingKind::MasterBusGain,
                FindingKind::MasterBusEq,
                FindingKind::MasterBusDynamics,
            ]),
        },
        Item {
            label: "FX and every source captured",
            state: worst(&[
                FindingKind::MissingFxReturn,
                FindingKind::MissingContent,
                FindingKind::SilentStem,
            ]),
        },
        Item {
            label: "No dropped audio",
            state: if snapshot.dropped_frames > 0 {
                Check::Warn
            } else {
                Check::Pass
            },
        },
    ]
}
