//! Hand-made measurements for the rule tests, and the tests of what this file decides: nulls,
//! the hysteresis, and findings held while a new estimate builds up.

use crate::config::AnalyzerConfig;
use crate::finding::{Finding, FindingKind, Severity};
use crate::headroom::LevelSummary;
use crate::measurements::{Measurements, StemMeasurements};

use super::Diagnosis;

/// Levels with nothing to report.
pub(super) fn quiet_levels() -> LevelSummary {
    LevelSummary {
        peak_dbfs: -6.0,
        true_peak_dbtp: -5.5,
        clipped_samples: 0,
        rms_dbfs: -20.0,
        dc_dbfs: -120.0,
    }
}

/// A placed stem at unity gain that explains nothing.
pub(super) fn stem(name: &str) -> StemMeasurements {
    StemMeasurements {
        id: 0,
        name: name.to_string(),
        levels: quiet_levels(),
        lag_locked: true,
        offset_samples: 0.0,
        lag_offset_samples: 0,
        gain_db: 0.0,
        inverted: false,
        energy_share_db: -5.0,
        gain_explains_db: -200.0,
        offset_explains_db: -200.0,
        present_fraction: 1.0,
    }
}

/// Ten seconds of a master and three stems (Drums, Bass, Keys) that null at -120 dB.
pub(super) fn nulling() -> Measurements {
    Measurements {
        sample_rate_hz: 48_000.0,
        seconds_received: 10.0,
        seconds_analysed: 10.0,
        has_master: true,
        cross_ready: true,
        num_stems: 3,
        null_residual_db: -120.0,
        null_residual_recent_db: -120.0,
        null_residual_channels_db: [-120.0; 2],
        common_lag_samples: 0,
        bus_eq_band_hz: (891.0, 1122.0),
        bus_eq_explains_db: -200.0,
        bus_gain_explains_db: -200.0,
        dynamics_explains_db: -200.0,
        unexplained_db: -200.0,
        residual_spectral_db: -120.0,
        unexplained_band_hz: (891.0, 1122.0),
        residual_lr_correlation: 1.0,
        master_levels: Some(quiet_levels()),
        sum_levels: Some(quiet_levels()),
        stems: vec![stem("Drums"), stem("Bass"), stem("Keys")],
        ..Measurements::default()
    }
}

/// [`nulling`] with a residual of `residual_db` re master (also once the stems are aligned).
pub(super) fn residual_at(residual_db: f32) -> Measurements {
    Measurements {
        null_residual_db: residual_db,
        residual_spectral_db: residual_db,
        ..nulling()
    }
}

/// The findings of a fresh diagnosis.
pub(super) fn diagnose(m: &Measurements) -> Vec<Finding> {
    Diagnosis::default().update(m, &AnalyzerConfig::default())
}

/// Each finding's kind, stems and severity.
pub(super) fn summary(findings: &[Finding]) -> Vec<(FindingKind, Vec<String>, Severity)> {
    findings
        .iter()
        .map(|f| (f.kind, f.stems.clone(), f.severity))
        .collect()
}

/// The one finding of `kind`.
pub(super) fn only(findings: &[Finding], kind: FindingKind) -> Finding {
    let of_kind: Vec<&Finding> = findings.iter().filter(|f| f.kind == kind).collect();
    assert_eq!(of_kind.len(), 1, "{kind}: {findings:#?}");
    of_kind[0].clone()
}

#[test]
fn a_residual_below_the_floor_nulls_and_nothing_else() {
    let findings = diagnose(&nulling());
    assert_eq!(
        summary(&findings),
        vec![(FindingKind::Nulls, vec![], Severity::Info)]
    );
    assert_eq!(findings[0].value, -120.0);
}

#[test]
fn a_small_residual_nobody_explains_nearly_nulls() {
    // -60 dB: above the -70 dB floor, below the -50 dB of missing content.
    let findings = diagnose(&residual_at(-60.0));
    assert_eq!(
        summary(&findings),
        vec![(FindingKind::Nulls, vec![], Severity::Info)]
    );
    assert!(findings[0].message.starts_with("Nearly nulls"));
    // One definition of "nulls" (issue 11 item 7): the message states the threshold.
    assert!(
        findings[0].message.contains("nulls is below -70 dB"),
        "{}",
        findings[0].message
    );
}

#[test]
fn nulls_has_hysteresis_in_db() {
    let mut diagnosis = Diagnosis::default();
    let config = AnalyzerConfig::default();
    // On at -70 dB; still on at -69.96 (within 0.05 dB); a fresh diagnosis says nearly.
    let on = diagnosis.update(&residual_at(-70.0), &config);
    assert!(on[0].message.starts_with("Nulls"));
    let held = diagnosis.update(&residual_at(-69.96), &config);
    assert!(held[0].message.starts_with("Nulls"), "{held:#?}");
    assert!(
        diagnose(&residual_at(-69.96))[0]
            .message
            .starts_with("Nearly")
    );
    // Off below the margin.
    let off = diagnosis.update(&residual_at(-69.9), &config);
    assert!(off[0].message.starts_with("Nearly"));
}

#[test]
fn findings_are_held_while_a_new_estimate_builds_up() {
    let mut diagnosis = Diagnosis::default();
    let config = AnalyzerConfig::default();
    let mut inverted = residual_at(-20.0);
    inverted.stems[1].inverted = true;
    inverted.stems[1].gain_explains_db = -20.5;
    let first = diagnosis.update(&inverted, &config);
    let polarity = only(&first, FindingKind::StemPolarity);
    // A lag moved: no cross-spectral estimate, the last findings stay.
    let rebuilding = Measurements {
        cross_ready: false,
        ..residual_at(-20.0)
    };
    let held = diagnosis.update(&rebuilding, &config);
    assert_eq!(only(&held, FindingKind::StemPolarity), polarity);
}

#[test]
fn nothing_but_levels_before_enough_audio() {
    let mut m = residual_at(-10.0);
    m.seconds_analysed = 0.2;
    m.stems[0].levels.clipped_samples = 3;
    let findings = diagnose(&m);
    assert_eq!(
        summary(&findings),
        vec![(FindingKind::Clipping, vec!["Drums".into()], Severity::Error)]
    );
}

#[test]
fn what_a_clipping_master_leaves_is_no_residual_for_no_clear_reason() {
    // A mix 3 dB over full scale (MuseScore's orchestral piece): 1889 clipped samples, and
    // -49.0 dB left beside the hops kept out, which no cause explains.
    let mut m = residual_at(-49.0);
    m.unexplained_db = -50.1;
    m.master_levels.as_mut().unwrap().clipped_samples = 1889;
    // The clipping is the reason: it stands alone (no null, no residual "for no clear
    // reason").
    assert_eq!(
        summary(&diagnose(&m)),
        vec![(FindingKind::Clipping, vec![], Severity::Error)]
    );
    // A master that does not clip: the residual is reported, for no clear reason.
    m.master_levels.as_mut().unwrap().clipped_samples = 0;
    assert_eq!(
        summary(&diagnose(&m)),
        vec![(FindingKind::MissingContent, vec![], Severity::Warning)]
    );
}
