//! End to end in a real DAW: Ardour 7, headless, with Stemcheck's VST3 build on six stem tracks
//! and the master. The tracks play generated instruments; one session injects a stem
//! polarity-inverted after its Stemcheck instance, one sends three tracks to a bus with
//! Ardour's own reverb whose return goes straight to the master (in no stem), one is clean. The test reads the
//! report Stemcheck wrote when the transport stopped and checks every instance was seen in one
//! group, the defect is found and attributed to the right stem, and nothing else is flagged.
//!
//! Needs Ardour (`cargo xtask test` installs the Debian package) and the VST3 bundle that
//! `cargo xtask test` builds with allocation checks (an allocation in `process()` aborts Ardour,
//! which fails the test).

use stemcheck_analysis::{FindingKind, Severity, Verdict};
use stemcheck_host_tests::ardour::{ArdourRun, Session, run_session};
use stemcheck_host_tests::host::LiveReport;
use stemcheck_host_tests::support::flagged;

const STEMS: [&str; 6] = ["Drums", "Bass", "Harmony", "Lead", "FX", "Vox"];
/// Seconds played: enough for settled per-stem fits (findings appear within about a second).
const PLAY_SECONDS: f32 = 8.0;
/// A stem with no defect must sit at unity in the master: within 0.1 dB.
const UNITY_TOLERANCE_DB: f32 = 0.1;
/// Three stems sent at -6 dB to a fully wet reverb put its return somewhere in this range, in
/// dB re master (-14.4 dB measured).
const RETURN_MIN_DB: f64 = -30.0;
const RETURN_MAX_DB: f64 = -5.0;

fn scratch(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// The one report of the run that played: every instance of the session in group A.
fn played_report(run: &ArdourRun) -> &LiveReport {
    let names: Vec<&str> = run.reports.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        run.reports
            .iter()
            .all(|(n, _)| n.starts_with("stemcheck-A-")),
        "reports for a group other than A: {names:?}"
    );
    let played: Vec<&LiveReport> = run
        .reports
        .iter()
        .map(|(_, r)| r)
        .filter(|r| r.report.seconds > f64::from(PLAY_SECONDS) * 0.8)
        .collect();
    assert_eq!(
        played.len(),
        1,
        "expected one report of the played stretch, got {names:?} (log: {:?})",
        run.log
    );
    let report = played[0];
    assert_eq!(report.run.ended_by, "transport", "{:?}", report.run);

    // Every instance, in one group, named from Ardour's track names, with its role.
    let mut seen: Vec<(String, String)> = report
        .report
        .instances
        .iter()
        .map(|i| (i.name.clone(), i.role.name().to_string()))
        .collect();
    seen.sort();
    let mut expected: Vec<(String, String)> = STEMS
        .iter()
        .map(|s| (s.to_string(), "stem".to_string()))
        .chain([("Master".to_string(), "master".to_string())])
        .collect();
    expected.sort();
    assert_eq!(seen, expected);
    for instance in &report.report.instances {
        assert_eq!(instance.sample_rate_hz, 48_000.0);
        assert_eq!(instance.channels, 2);
        assert_eq!(instance.dropped_frames, 0, "{instance:?}");
        assert!(
            instance.present_frames as f64 > f64::from(PLAY_SECONDS) * 0.8 * 48_000.0,
            "{instance:?}"
        );
    }
    report
}

#[test]
fn ardour_session_with_a_polarity_inverted_stem_names_that_stem_and_nothing_else() {
    let run = run_session(
        &scratch("ardour-inverted"),
        &Session {
            seconds: PLAY_SECONDS,
            invert: Some("Bass"),
            reverb_sends: &[],
        },
    );
    assert!(
        run.log.iter().any(|l| l == "inverted Bass"),
        "{:?}",
        run.log
    );
    let report = played_report(&run);

    assert_eq!(report.report.verdict, Verdict::Fails);
    let flagged = flagged(report);
    assert_eq!(flagged.len(), 1, "{flagged:#?}");
    let finding = &report.report.findings[report
        .report
        .findings
        .iter()
        .position(|f| f.severity >= Severity::Warning)
        .unwrap()];
    assert_eq!(finding.kind, FindingKind::StemPolarity, "{finding:?}");
    assert_eq!(finding.severity, Severity::Error);
    assert_eq!(finding.stems, vec!["Bass".to_string()]);

    let measurements = report.report.measurements.as_ref().unwrap();
    for stem in &measurements.stems {
        assert_eq!(stem.inverted, stem.name == "Bass", "{}", stem.name);
        assert!(
            stem.gain_db.abs() < UNITY_TOLERANCE_DB,
            "{}: {} dB",
            stem.name,
            stem.gain_db
        );
    }
}

#[test]
fn ardour_session_with_stems_that_sum_to_the_master_nulls() {
    let run = run_session(
        &scratch("ardour-clean"),
        &Session {
            seconds: PLAY_SECONDS,
            invert: None,
            reverb_sends: &[],
        },
    );
    let report = played_report(&run);
    assert_eq!(
        report.report.verdict,
        Verdict::Nulls,
        "{:#?}",
        flagged(report)
    );
    let measurements = report.report.measurements.as_ref().unwrap();
    // Ardour sums the tracks in floating point: far below any delivery format's floor.
    assert!(
        measurements.null_residual_db < -90.0,
        "residual {} dB",
        measurements.null_residual_db
    );
    for stem in &measurements.stems {
        assert!(!stem.inverted, "{}", stem.name);
        assert!(stem.gain_db.abs() < UNITY_TOLERANCE_DB, "{}", stem.name);
    }
}

#[test]
fn ardour_session_with_a_reverb_return_straight_to_the_master_names_the_missing_return() {
    let run = run_session(
        &scratch("ardour-reverb"),
        &Session {
            seconds: PLAY_SECONDS,
            invert: None,
            reverb_sends: &["Harmony", "Lead", "Vox"],
        },
    );
    assert!(
        run.log.iter().any(|l| l == "sent Vox to the reverb"),
        "{:?}",
        run.log
    );
    let report = played_report(&run);
    // The return is named as a missing effect return, at its level, and nothing else is
    // flagged: no stem is blamed for it.
    let flagged = flagged(report);
    assert_eq!(flagged.len(), 1, "{flagged:#?}");
    let finding = report
        .report
        .findings
        .iter()
        .find(|f| f.severity >= Severity::Warning)
        .unwrap();
    assert_eq!(finding.kind, FindingKind::MissingFxReturn, "{finding:?}");
    assert!(finding.stems.is_empty(), "{finding:?}");
    assert!(
        (RETURN_MIN_DB..RETURN_MAX_DB).contains(&finding.value),
        "return at {} dB re master",
        finding.value
    );
}
