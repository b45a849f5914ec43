//! Setup rules on hand-made measurements.

use crate::diagnose::tests::{diagnose, nulling, summary};
use crate::finding::{FindingKind, Severity, Unit};
use crate::measurements::Measurements;

use super::sample_rate_mismatch;

#[test]
fn stems_without_a_master_after_a_second() {
    let m = Measurements {
        has_master: false,
        master_levels: None,
        ..nulling()
    };
    assert_eq!(
        summary(&diagnose(&m)),
        vec![(FindingKind::NoMaster, vec![], Severity::Warning)]
    );
    let early = Measurements {
        seconds_received: 0.5,
        ..m
    };
    assert_eq!(summary(&diagnose(&early)), vec![]);
}

#[test]
fn a_master_without_stems() {
    let m = Measurements {
        num_stems: 0,
        stems: vec![],
        ..nulling()
    };
    assert_eq!(
        summary(&diagnose(&m)),
        vec![(FindingKind::NoStems, vec![], Severity::Warning)]
    );
}

#[test]
fn stem_counts_outside_2_to_12_are_info_and_20_or_more_a_warning() {
    let count = |n: usize| {
        let m = Measurements {
            num_stems: n,
            ..nulling()
        };
        diagnose(&m)
            .into_iter()
            .find(|f| f.kind == FindingKind::StemCount)
            .map(|f| (f.severity, f.value, f.unit))
    };
    assert_eq!(count(1), Some((Severity::Info, 1.0, Unit::Count)));
    assert_eq!(count(2), None);
    assert_eq!(count(12), None);
    assert_eq!(count(13), Some((Severity::Info, 13.0, Unit::Count)));
    assert_eq!(count(20), Some((Severity::Warning, 20.0, Unit::Count)));
}

#[test]
fn a_sample_rate_mismatch_names_the_stems_and_rates() {
    let f = sample_rate_mismatch(vec!["Vox".into()], 48_000.0, &[44_100.0]);
    assert_eq!(
        (f.kind, f.severity, f.value),
        (FindingKind::SampleRateMismatch, Severity::Error, 44_100.0)
    );
    assert_eq!(f.stems, vec!["Vox".to_string()]);
    assert!(
        f.message
            .contains("Vox at 44100 Hz while the master runs at 48000 Hz"),
        "{}",
        f.message
    );
}
