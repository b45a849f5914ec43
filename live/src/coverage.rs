//! How much of a run was compared, and the `incomplete-analysis` finding that caps the verdict
//! when part of it was not: a run with dropped frames or stretches where an instance was
//! missing is never said to null on the strength of the part that was compared.

use stemcheck_analysis::{Finding, FindingKind, Severity, Unit};
use stemcheck_bus::lane::MAX_CHANNELS;
use stemcheck_report::Coverage;

use crate::snapshot::InstanceSnapshot;

/// A run may leave this share of its span uncompared, in percent, before it is called
/// incomplete (instances starting within a host block of each other, a host that gives no
/// transport). Any dropped frame makes a run incomplete whatever this says.
pub const MAX_UNANALYSED_PERCENT: f64 = 1.0;

/// Runs shorter than this, in seconds, are too young to be judged incomplete (the first
/// instants of a run, before every instance has delivered its first block).
pub const MIN_JUDGED_SECONDS: f64 = 1.0;

/// The `incomplete-analysis` finding for `coverage`, if the run was not compared in full. A
/// warning: the verdict is at best "warnings", never "nulls".
pub fn incomplete_analysis(coverage: &Coverage) -> Option<Finding> {
    if coverage.run_seconds < MIN_JUDGED_SECONDS {
        return None;
    }
    let unanalysed_percent = (100.0 - coverage.analysed_percent).clamp(0.0, 100.0);
    if coverage.dropped_frames == 0 && unanalysed_percent <= MAX_UNANALYSED_PERCENT {
        return None;
    }
    let cause = if coverage.dropped_frames > 0 {
        format!(
            " ({} frames dropped: the analysis fell behind the render)",
            coverage.dropped_frames
        )
    } else {
        " (an instance was missing for part of it)".to_string()
    };
    let mut finding = Finding::new(
        FindingKind::IncompleteAnalysis,
        Severity::Warning,
        Vec::new(),
        unanalysed_percent,
        Unit::None,
        1.0,
        format!(
            "Incomplete: {unanalysed_percent:.0}% of the run was not analysed ({:.1} s of {:.1} s compared){cause}; the verdict covers only the rest.",
            coverage.analysed_seconds, coverage.run_seconds
        ),
        "Re-run at a slower render speed (or in real time), and keep every instance active for the whole run."
            .to_string(),
    );
    finding.time_range_s = Some((0.0, coverage.run_seconds));
    Some(finding)
}

/// In a run not compared in full: drops `no-master` (`no-stems`) when the group has a master
/// (stem) instance. The analysis saw none because that audio was dropped or missing, not because
/// the group lacks it: the `incomplete-analysis` finding says so, and "put Stemcheck on the
/// master bus" would be wrong advice (seen with a render far faster than real time on a
/// loaded machine: every master block dropped).
pub fn keep_roles_present(findings: &mut Vec<Finding>, has_master: bool, has_stems: bool) {
    findings.retain(|f| match f.kind {
        FindingKind::NoMaster => !has_master,
        FindingKind::NoStems => !has_stems,
        _ => true,
    });
}

/// The instances on a bus wider than the lanes carry (a 5.1 or 7.1 bus): their channels past
/// the first [`MAX_CHANNELS`] pass through unchecked.
pub fn wider_than_compared(instances: &[InstanceSnapshot]) -> Vec<&InstanceSnapshot> {
    instances
        .iter()
        .filter(|i| i.bus_channels as usize > MAX_CHANNELS)
        .collect()
}

/// The names of `wide` with their channel counts: "Drums (6 channels), Master (6 channels)".
fn wide_list(wide: &[&InstanceSnapshot]) -> String {
    wide.iter()
        .map(|i| format!("{} ({} channels)", i.name, i.bus_channels))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The dashboard's warning for instances on buses wider than what is compared.
pub fn channels_message(wide: &[&InstanceSnapshot]) -> String {
    format!(
        "Only channels 1-{MAX_CHANNELS} (L, R) are compared live; the other channels of {} pass through unchecked. Check surround deliveries with the stemcheck checker, which compares every channel.",
        wide_list(wide)
    )
}

/// The `incomplete-analysis` finding for instances on buses wider than what is compared: a
/// warning, so that the verdict is never "nulls" for channels that were not compared.
pub fn channels_not_compared(wide: &[&InstanceSnapshot]) -> Finding {
    let widest = wide.iter().map(|i| i.bus_channels).max().unwrap_or(0);
    Finding::new(
        FindingKind::IncompleteAnalysis,
        Severity::Warning,
        wide.iter().map(|i| i.name.clone()).collect(),
        f64::from(widest),
        Unit::None,
        1.0,
        format!(
            "Incomplete: only channels 1-{MAX_CHANNELS} (L, R) of {} were compared; the verdict says nothing about the others.",
            wide_list(wide)
        ),
        "Check the exported surround stems and mix with `stemcheck check`, which compares every channel."
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incomplete_run_does_not_ask_for_instances_the_group_has() {
        let finding = |kind| {
            Finding::new(
                kind,
                Severity::Warning,
                Vec::new(),
                0.0,
                Unit::None,
                1.0,
                String::new(),
                String::new(),
            )
        };
        let all = || {
            vec![
                finding(FindingKind::NoMaster),
                finding(FindingKind::NoStems),
                finding(FindingKind::TruePeak),
            ]
        };
        let kinds = |f: &[Finding]| f.iter().map(|f| f.kind).collect::<Vec<_>>();
        let mut f = all();
        keep_roles_present(&mut f, true, true);
        assert_eq!(kinds(&f), vec![FindingKind::TruePeak]);
        let mut f = all();
        keep_roles_present(&mut f, false, true);
        assert_eq!(
            kinds(&f),
            vec![FindingKind::NoMaster, FindingKind::TruePeak]
        );
        let mut f = all();
        keep_roles_present(&mut f, true, false);
        assert_eq!(kinds(&f), vec![FindingKind::NoStems, FindingKind::TruePeak]);
    }

    #[test]
    fn a_complete_run_has_no_finding() {
        // 10 s at 48 kHz, all of it compared, nothing dropped.
        let c = Coverage::new(480_000, 480_000, 0, 48_000.0);
        assert_eq!(c.analysed_percent, 100.0);
        assert!(incomplete_analysis(&c).is_none());
        // 0.5% missing at the start: within the tolerance.
        let c = Coverage::new(480_000, 477_600, 0, 48_000.0);
        assert!(incomplete_analysis(&c).is_none());
    }

    #[test]
    fn drops_or_gaps_make_a_warning_with_the_share_not_analysed() {
        // 31% of 10 s missing: 148_800 of 480_000 frames.
        let c = Coverage::new(480_000, 331_200, 148_800, 48_000.0);
        let f = incomplete_analysis(&c).expect("incomplete");
        assert_eq!(f.kind, FindingKind::IncompleteAnalysis);
        assert_eq!(f.severity, Severity::Warning);
        assert!((f.value - 31.0).abs() < 1e-9, "{}", f.value);
        assert!(
            f.message.starts_with("Incomplete: 31% of the run"),
            "{}",
            f.message
        );
        assert!(f.message.contains("148800 frames dropped"), "{}", f.message);
        // One dropped frame is enough, even if the run is otherwise covered.
        let c = Coverage::new(480_000, 480_000, 1, 48_000.0);
        assert!(incomplete_analysis(&c).is_some());
        // A gap with no drop (an instance missing for 5%).
        let c = Coverage::new(480_000, 456_000, 0, 48_000.0);
        let f = incomplete_analysis(&c).expect("incomplete");
        assert!((f.value - 5.0).abs() < 1e-9);
    }

    #[test]
    fn a_run_too_young_is_not_judged() {
        let c = Coverage::new(24_000, 0, 0, 48_000.0);
        assert!(incomplete_analysis(&c).is_none());
    }
}
