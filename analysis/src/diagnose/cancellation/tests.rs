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
            correlation: -0.9,
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

#[test]
fn parts_doubling_a_line_that_cancel_by_chance_do_not() {
    // 3.7 dB lost at a correlation of -0.57 (equal levels): two instruments on one line whose
    // phases happen to oppose in a band, not one signal in antiphase.
    let mut m = pair_losing(-3.7);
    m.cancellations[0].correlation = -0.57;
    assert!(!cancels(&diagnose(&m)));
    m.cancellations[0].correlation = -0.75;
    assert!(cancels(&diagnose(&m)));
}
