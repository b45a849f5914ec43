//! Level rules on hand-made measurements.

use crate::config::AnalyzerConfig;
use crate::diagnose::Diagnosis;
use crate::diagnose::tests::{diagnose, nulling, only, summary};
use crate::finding::{FindingKind, Severity};
use crate::measurements::Measurements;

/// The level findings only (the null test's `nulls` left out).
fn levels_of(m: &Measurements) -> Vec<(FindingKind, Vec<String>, Severity)> {
    summary(&diagnose(m))
        .into_iter()
        .filter(|s| s.0 != FindingKind::Nulls)
        .collect()
}

#[test]
fn clipping_names_the_stem_and_not_the_master() {
    let mut m = nulling();
    m.stems[0].levels.clipped_samples = 12;
    assert_eq!(
        levels_of(&m),
        vec![(FindingKind::Clipping, vec!["Drums".into()], Severity::Error)]
    );
    let mut m = nulling();
    m.master_levels.as_mut().unwrap().clipped_samples = 3;
    let f = only(&diagnose(&m), FindingKind::Clipping);
    assert!(f.stems.is_empty() && f.message.starts_with("Master clips: 3 samples"));
}

#[test]
fn a_master_held_at_full_scale_where_the_stems_pass_it_clips_without_a_clipped_run() {
    use crate::dynamics::CeilingFit;
    let mut m = nulling();
    m.master_full_scale_hold = Some(CeilingFit {
        ceiling_dbfs: 0.0,
        clamped_blocks: 3,
        held_blocks: 3,
        agreement: 1.0,
        depth_db: 0.4,
        most_db: 0.5,
    });
    let f = only(&diagnose(&m), FindingKind::Clipping);
    assert!(f.stems.is_empty(), "{f:?}");
    assert_eq!(f.value, 3.0);
    assert!(
        f.message
            .starts_with("Master clips: 3 of its peaks are held at full scale where the stems reach up to +0.5 dBFS"),
        "{}",
        f.message
    );
    // A run of clipped samples says it already, once.
    m.master_levels.as_mut().unwrap().clipped_samples = 3;
    let clips: Vec<_> = diagnose(&m)
        .into_iter()
        .filter(|f| f.kind == FindingKind::Clipping)
        .collect();
    assert_eq!(clips.len(), 1);
    assert!(clips[0].message.starts_with("Master clips: 3 samples"));
}

#[test]
fn true_peak_over_the_limit_and_not_at_it() {
    let mut m = nulling();
    m.master_levels.as_mut().unwrap().true_peak_dbtp = -0.5;
    assert_eq!(
        levels_of(&m),
        vec![(FindingKind::TruePeak, vec![], Severity::Warning)]
    );
    // Exactly at the -1 dBTP limit passes.
    m.master_levels.as_mut().unwrap().true_peak_dbtp = -1.0;
    assert_eq!(levels_of(&m), vec![]);
    // Decided at the precision shown: -0.96 dBTP reads -1.0 and meets the limit; -0.94 reads
    // -0.9 and does not.
    m.master_levels.as_mut().unwrap().true_peak_dbtp = -0.96;
    assert_eq!(levels_of(&m), vec![]);
    m.master_levels.as_mut().unwrap().true_peak_dbtp = -0.94;
    let f = only(&diagnose(&m), FindingKind::TruePeak);
    assert!(
        f.message.contains("-0.9 dBTP (limit -1.0 dBTP)"),
        "{}",
        f.message
    );
    m.master_levels.as_mut().unwrap().true_peak_dbtp = -1.0;
    // The limit is the caller's.
    let strict = AnalyzerConfig {
        true_peak_limit_dbtp: -2.0,
        ..AnalyzerConfig::default()
    };
    let findings = Diagnosis::default().update(&m, &strict);
    only(&findings, FindingKind::TruePeak);
}

#[test]
fn dc_offset_from_minus_50_dbfs() {
    let mut m = nulling();
    m.stems[2].levels.dc_dbfs = -40.0;
    m.stems[1].levels.dc_dbfs = -55.0;
    assert_eq!(
        levels_of(&m),
        vec![(
            FindingKind::DcOffset,
            vec!["Keys".into()],
            Severity::Warning
        )]
    );
}

#[test]
fn a_sum_over_full_scale_is_a_warning() {
    let mut m = nulling();
    m.sum_levels.as_mut().unwrap().peak_dbfs = 0.5;
    assert_eq!(
        levels_of(&m),
        vec![(FindingKind::SumOverFullScale, vec![], Severity::Warning)]
    );
    m.sum_levels.as_mut().unwrap().peak_dbfs = 0.0;
    assert_eq!(levels_of(&m), vec![]);
}

#[test]
fn a_silent_stem_after_two_seconds_of_presence() {
    let mut m = nulling();
    m.stems[1].levels.peak_dbfs = -100.0;
    assert_eq!(
        levels_of(&m),
        vec![(
            FindingKind::SilentStem,
            vec!["Bass".into()],
            Severity::Warning
        )]
    );
    // Too early, or absent most of the time: nothing.
    let early = Measurements {
        seconds_received: 1.5,
        ..m.clone()
    };
    assert_eq!(levels_of(&early), vec![]);
    m.stems[1].present_fraction = 0.4;
    assert_eq!(levels_of(&m), vec![]);
}

/// A stem exported 12 dB hot carries its DC 12 dB hot: the DC is judged at the level the mix
/// takes the stem at (the real case's numbers: -49.6 dBFS in the file, -61.6 in the mix).
#[test]
fn a_hot_stems_dc_is_judged_at_its_level_in_the_mix() {
    let hot = |gain_db: f32| {
        let mut m = nulling();
        m.stems[0].levels.dc_dbfs = -49.6;
        m.stems[0].gain_db = gain_db;
        levels_of(&m)
            .into_iter()
            .filter(|s| s.0 == FindingKind::DcOffset)
            .count()
    };
    assert_eq!(hot(-12.0), 0);
    assert_eq!(hot(0.0), 1);
    // A stem the mix takes louder than delivered: its DC as delivered.
    assert_eq!(hot(6.0), 1);
}
