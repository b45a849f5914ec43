//! Stemcheck in DawDreamer (PyPI `dawdreamer`), a second real VST3 host: a scriptable JUCE host
//! that renders unthrottled and re-activates every plugin at every render, as a fast offline
//! bounce does. `tests/dawdreamer/render.py` builds one engine with four generated stems and
//! their master (Bass polarity-inverted in it), one Stemcheck VST3 instance on each, names set
//! through the plugin state and roles through the Role parameter, and renders it three times.
//!
//! Asserts, for every render: one report covering the whole render; every instance once, by its
//! real name (no ghost of a previous activation); no `no-master`; the inversion named on Bass
//! (and no finding on another stem's name); and no frame lost, or the loss reported as
//! `incomplete-analysis`, capping the verdict. DawDreamer 0.9 runs its plugins in real-time mode
//! (only its graph is marked non-realtime), so at hundreds of times real time they drop, and the
//! second branch is the one taken: the test then wants the loss said, and the defect named
//! whenever enough was compared.
//!
//! Needs Python 3 with `dawdreamer` (`cargo xtask test` installs it) and the VST3 bundle
//! `cargo xtask test` builds (`STEMCHECK_TEST_VST3`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stemcheck_analysis::{FindingKind, Verdict};
use stemcheck_host_tests::host::{LiveReport, parse_live_report};

/// Renders in one engine.
const RENDERS: usize = 3;
/// Seconds per render: long enough for settled findings, short enough for the whole test to
/// take well under a minute.
const RENDER_SECONDS: f64 = 6.0;
const SAMPLE_RATE_HZ: f64 = 48_000.0;
/// The script normally needs a few seconds; this only catches a hang.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);
/// DawDreamer's block size, in frames.
const BLOCK_FRAMES: i64 = 512;
/// A report's run may differ from the render's length by a block at either end (the render
/// rounds up to whole blocks; a first block dropped leaves the run starting at the second).
const LENGTH_TOLERANCE_SECONDS: f64 = 2.0 * BLOCK_FRAMES as f64 / SAMPLE_RATE_HZ;
/// A render with at least this much compared must name the defect, in seconds (findings come
/// within a second of audio).
const MIN_ANALYSED_FOR_DEFECT_S: f64 = 1.5;

const STEMS: [&str; 4] = ["Bass", "Drums", "Keys", "Vox"];

fn python() -> &'static str {
    "python3"
}

/// Runs the DawDreamer script and returns the reports it left, by run number.
fn render(scratch: &Path) -> (String, Vec<LiveReport>) {
    let _ = std::fs::remove_dir_all(scratch);
    let reports = scratch.join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    let bundle = match std::env::var_os("STEMCHECK_TEST_VST3") {
        Some(path) => PathBuf::from(path),
        None => panic!(
            "STEMCHECK_TEST_VST3 is not set: run the suite with `cargo xtask test`, which builds \
             the VST3 bundle and installs DawDreamer"
        ),
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("dawdreamer/render.py");
    let log = scratch.join("render.log");
    let mut child = Command::new(python())
        .arg(&script)
        .arg(&bundle)
        .args(["--renders", &RENDERS.to_string()])
        .args(["--seconds", &RENDER_SECONDS.to_string()])
        .arg("--scratch")
        .arg(scratch)
        .env(
            "STEMCHECK_SHM_TAG",
            stemcheck_host_tests::support::isolated_shm_tag("dawdreamer"),
        )
        .env("STEMCHECK_REPORT_DIR", &reports)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("could not run {}: {e}", python()));
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "DawDreamer did not finish in {SCRIPT_TIMEOUT:?}:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert!(
        status.success(),
        "the DawDreamer script failed ({status}):\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let mut found: Vec<LiveReport> = std::fs::read_dir(&reports)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| parse_live_report(&std::fs::read(&p).unwrap()))
        .collect();
    found.sort_by_key(|r| r.run.number);
    (stdout, found)
}

#[test]
fn dawdreamer_renders_unthrottled_and_again_lose_nothing_silently() {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dawdreamer");
    let (stdout, reports) = render(&scratch);
    let summary: Vec<String> = reports
        .iter()
        .map(|r| {
            format!(
                "run {} {:?}..{} ended by {}: {:?}, coverage {:?}",
                r.run.number,
                r.run.start_samples,
                r.run.end_samples,
                r.run.ended_by,
                r.report.verdict,
                r.report.coverage
            )
        })
        .collect();
    assert_eq!(
        reports.len(),
        RENDERS,
        "one report per render; script said {stdout}\n{summary:#?}"
    );
    for report in &reports {
        let r = &report.report;
        let context = format!("{summary:#?}\n{:#?}", r.findings);

        // The whole render, from its first block.
        assert!(
            (0..=BLOCK_FRAMES).contains(&report.run.start_samples),
            "{context}"
        );
        let coverage = r.coverage.expect("a live report has its coverage");
        assert!(
            (coverage.run_seconds - RENDER_SECONDS).abs() <= LENGTH_TOLERANCE_SECONDS,
            "the report covers the whole render: {coverage:?}\n{context}"
        );

        // Every instance once, by its real name, with its role.
        let mut names: Vec<(String, &str)> = r
            .instances
            .iter()
            .map(|i| (i.name.clone(), i.role.name()))
            .collect();
        names.sort();
        let mut expected: Vec<(String, &str)> = STEMS
            .iter()
            .map(|s| (s.to_string(), "stem"))
            .chain([("Mix".to_string(), "master")])
            .collect();
        expected.sort();
        assert_eq!(names, expected, "{context}");

        let kinds: Vec<FindingKind> = r.findings.iter().map(|f| f.kind).collect();
        assert!(!kinds.contains(&FindingKind::NoMaster), "{context}");
        assert!(!kinds.contains(&FindingKind::NoStems), "{context}");
        // Findings name stems by their real names, and the inversion is Bass's.
        for finding in &r.findings {
            for stem in &finding.stems {
                assert!(STEMS.contains(&stem.as_str()), "{stem}: {context}");
            }
            if finding.kind == FindingKind::StemPolarity {
                assert_eq!(finding.stems, vec!["Bass".to_string()], "{context}");
            }
        }
        if coverage.analysed_seconds >= MIN_ANALYSED_FOR_DEFECT_S {
            assert!(
                kinds.contains(&FindingKind::StemPolarity),
                "the inverted stem is found: {context}"
            );
        }
        assert_ne!(r.verdict, Verdict::Nulls, "{context}");

        // Nothing lost, or the loss said and capping the verdict.
        let complete = coverage.dropped_frames == 0 && coverage.analysed_percent > 99.0;
        let said = kinds.contains(&FindingKind::IncompleteAnalysis);
        assert!(
            complete != said,
            "a loss is reported exactly when there is one: {coverage:?}\n{context}"
        );
    }
    // However little a render compared, one of them named the defect.
    assert!(
        reports.iter().any(|r| r
            .report
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::StemPolarity)),
        "{summary:#?}"
    );
}
