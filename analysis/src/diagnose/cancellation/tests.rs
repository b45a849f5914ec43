//! The cancellation rule on hand-made measurements.

use crate::config::AnalyzerConfig;
use crate::diagnose::Diagnosis;
use crate::diagnose::tests::{diagnose, nulling, only};
use crate::finding::{Finding, FindingKind, Severity};
use crate::measurements::{Cancellation, Measurements};

fn pair_losing(loss_db: f32) -> Measurements {
    Measurements {
        cancellations: vec![Cancellation {
            stems: ["Bass".into(), "Keys".into()],
            band_hz: (89.1, 112.2),
            loss_db,
        }],
        ..nulling()
    }
}

fn cancels(findings: &[Finding]) -> bool {
    findings
        .iter()
        .any(|f| f.kind == FindingKind::StemPhaseCancellation)
}

#[test]
fn a_pair_losing_6_db_cancels() {
    let f = only(
        &diagnose(&pair_losing(-6.0)),
        FindingKind::StemPhaseCancellation,
    );
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.stems, vec!["Bass".to_string(), "Keys".to_string()]);
    assert_eq!(f.band_hz, Some((89.1, 112.2)));
    // Centre sqrt(89.1 * 112.2) = 100 Hz.
    assert!(
        f.message.contains("cancel around 100 Hz: 6.0 dB lost"),
        "{}",
        f.message
    );
}

#[test]
fn a_pair_losing_less_than_3_db_does_not_and_the_threshold_has_hysteresis() {
    assert!(!cancels(&diagnose(&pair_losing(-2.0))));
    // On at -3 dB; -2.97 dB stays on (3 - 0.05 = 2.95), off for a fresh diagnosis.
    let mut diagnosis = Diagnosis::default();
    let config = AnalyzerConfig::default();
    assert!(cancels(&diagnosis.update(&pair_losing(-3.0), &config)));
    assert!(cancels(&diagnosis.update(&pair_losing(-2.97), &config)));
    assert!(!cancels(&diagnose(&pair_losing(-2.97))));
}
