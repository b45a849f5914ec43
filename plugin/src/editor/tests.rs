//! The dashboard rendered headless (an egui context with no window): fed a snapshot with known
//! findings, the text it lays out must say the right things.

use egui::epaint::Shape;
use stemcheck_analysis::{BandMeasurement, Measurements, StemMeasurements};
use stemcheck_analysis::{Finding, FindingKind, Severity, Unit, Verdict};
use stemcheck_live::snapshot::{InstanceSnapshot, LaneActivity};
use stemcheck_live::{GroupSnapshot, Role};

use super::checklist::{self, Check};
use super::view;

fn instance(lane_id: u32, name: &str, role: Role) -> InstanceSnapshot {
    InstanceSnapshot {
        lane_id,
        role,
        name: name.into(),
        generated_name: false,
        num_channels: 2,
        bus_channels: 2,
        sample_rate_hz: 48_000.0,
        activity: LaneActivity::Playing,
        level_dbfs: -18.0,
        peak_dbfs: -6.0,
        present_frames: 480_000,
        pushed_frames: 480_000,
        dropped_frames: 0,
        late_frames: 0,
        stale_frames: 0,
        rate_mismatch_frames: 0,
        non_finite_samples: 0,
        host_transport: true,
        location: Default::default(),
    }
}

fn finding(
    kind: FindingKind,
    severity: Severity,
    stems: &[&str],
    message: &str,
    fix: &str,
) -> Finding {
    Finding {
        kind,
        severity,
        stems: stems.iter().map(|s| s.to_string()).collect(),
        value: 0.0,
        unit: Unit::Db,
        confidence: 1.0,
        message: message.into(),
        fix: fix.into(),
        band_hz: Some((44.0, 56.0)),
        time_range_s: None,
    }
}

/// A realistic session: six stems, one late, master compression missing.
pub fn session() -> GroupSnapshot {
    let names = ["Drums", "Bass", "Harmony", "Lead", "Vox", "FX"];
    let mut instances = vec![instance(0, "Master", Role::Master)];
    instances.extend(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| instance(i as u32 + 1, n, Role::Stem)),
    );
    let stems = names
        .iter()
        .enumerate()
        .map(|(i, n)| StemMeasurements {
            id: i as u32 + 1,
            name: n.to_string(),
            levels: stemcheck_analysis::LevelSummary {
                peak_dbfs: -6.0,
                true_peak_dbtp: -5.5,
                clipped_samples: 0,
                rms_dbfs: -20.0,
                dc_dbfs: -120.0,
            },
            lag_locked: true,
            offset_samples: if *n == "Vox" { -480.0 } else { 0.0 },
            lag_offset_samples: 0,
            gain_db: 0.0,
            inverted: false,
            energy_share_db: -8.0,
            gain_explains_db: -90.0,
            offset_explains_db: -20.0,
            present_fraction: 1.0,
        })
        .collect();
    let bands = [
        31.5f32, 63.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0,
    ]
    .iter()
    .map(|&hz| BandMeasurement {
        centre_hz: hz,
        master_db: -30.0,
        sum_db: -29.0,
        residual_db: -45.0,
        transfer_db: -1.0,
        coherence: 0.98,
        unexplained_db: -60.0,
    })
    .collect();
    GroupSnapshot {
        verdict: Verdict::Fails,
        findings: vec![
            finding(
                FindingKind::StemOffset,
                Severity::Error,
                &["Vox"],
                "Vox is 480 samples (10.00 ms) late against the other stems.",
                "Advance Vox by 480 samples: check plugin delay compensation on its bus (or re-export it).",
            ),
            finding(
                FindingKind::MasterBusDynamics,
                Severity::Error,
                &[],
                "The master bus compresses: about 2.5 dB more gain reduction on loud passages than on quiet ones, which the stems lack.",
                "Print the master-bus compressor/limiter into the stems, or bypass it for both.",
            ),
        ],
        measurements: Some(Measurements {
            sample_rate_hz: 48_000.0,
            cross_ready: true,
            null_residual_db: -18.5,
            stems,
            bands,
            ..Measurements::default()
        }),
        group: "A".into(),
        generation: 1,
        sample_rate_hz: 48_000.0,
        run: 1,
        playing: true,
        run_start_samples: 0,
        run_frames: 480_000,
        complete_frames: 480_000,
        null_residual_db: Some(-18.5),
        total_frames: 480_000,
        run_span_frames: 480_000,
        run_dropped_frames: 0,
        instances,
        sample_rate_mismatch: false,
        dropped_frames: 0,
        warnings: vec![],
        residual_history_db: (0..40).map(|i| -18.0 - (i % 5) as f32).collect(),
        residual_history_end_frames: 480_000,
        last_report: None,
        gone: vec![],
    }
}

/// Renders the dashboard at `scale` and returns all the text it laid out.
fn rendered_text(snapshot: &GroupSnapshot, scale: f32) -> String {
    let ctx = egui::Context::default();
    ctx.set_pixels_per_point(scale);
    let input = egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(1100.0, 1400.0),
        )),
        ..Default::default()
    };
    let mut text = String::new();
    // Two passes: egui sizes some things on the first.
    for _ in 0..2 {
        let mut output = ctx.run_ui(input.clone(), |ui| {
            view::draw(
                ui,
                snapshot,
                view::OwnRow {
                    lane_id: Some(5),
                    ring_key: 0,
                },
            )
        });
        // No renderer here: the font texture is not uploaded anywhere.
        output.textures_delta.clear();
        text.clear();
        for clipped in &output.shapes {
            collect(&clipped.shape, &mut text);
        }
    }
    text
}

fn collect(shape: &Shape, out: &mut String) {
    match shape {
        Shape::Text(t) => {
            out.push_str(t.galley.text());
            out.push('\n');
        }
        Shape::Vec(shapes) => shapes.iter().for_each(|s| collect(s, out)),
        _ => {}
    }
}

#[test]
fn the_dashboard_shows_the_findings_stems_and_checklist() {
    let snapshot = session();
    for scale in [1.0, 2.0] {
        let text = rendered_text(&snapshot, scale);
        for expected in [
            "-18.5 dB",
            "Stems do not rebuild the master",
            "Vox is 480 samples (10.00 ms) late",
            "Advance Vox by 480 samples",
            "The master bus compresses",
            "Print the master-bus compressor",
            "> Vox",
            "-480.0 smp / -10.00 ms",
            "Drums",
            "FX",
            "Export checklist",
            "Common start (no stem offset)",
            "No master-bus processing",
            "master/sum (+/-6 dB)",
        ] {
            assert!(
                text.contains(expected),
                "scale {scale}: missing {expected:?} in\n{text}"
            );
        }
    }
}

#[test]
fn a_clean_session_says_it_nulls() {
    let mut snapshot = session();
    snapshot.verdict = Verdict::Nulls;
    snapshot.null_residual_db = Some(-120.0);
    snapshot.findings = vec![finding(
        FindingKind::Nulls,
        Severity::Info,
        &[],
        "Nulls: the stems rebuild the master (residual -120.0 dB re master).",
        "Nothing to fix.",
    )];
    let text = rendered_text(&snapshot, 1.0);
    assert!(text.contains("Nulls: stems rebuild the master"), "{text}");
    assert!(
        !text.contains("Nothing to fix."),
        "no fix line when all is well"
    );
    let states: Vec<Check> = checklist::items(&snapshot)
        .iter()
        .map(|i| i.state)
        .collect();
    assert!(states.iter().all(|s| *s == Check::Pass), "{states:?}");
}

#[test]
fn setup_problems_are_shown() {
    let mut snapshot = session();
    snapshot.instances.retain(|i| i.role == Role::Stem);
    snapshot.warnings = vec!["No master in this group: set one instance's role to Master.".into()];
    snapshot.dropped_frames = 1200;
    let text = rendered_text(&snapshot, 1.0);
    assert!(text.contains("No master in this group"), "{text}");
    let items = checklist::items(&snapshot);
    assert_eq!(items[0].state, Check::Fail);
    assert_eq!(items.last().unwrap().state, Check::Warn);
}

#[test]
fn coverage_is_shown_with_the_verdict() {
    let text = rendered_text(&session(), 1.0);
    assert!(text.contains("Analysed 10.0 s of 10.0 s (100%)"), "{text}");
    // 31% of the run lost to drops: 148_800 of 480_000 frames.
    let mut snapshot = session();
    snapshot.complete_frames = 331_200;
    snapshot.run_dropped_frames = 148_800;
    let text = rendered_text(&snapshot, 1.0);
    assert!(
        text.contains("Analysed 6.9 s of 10.0 s (69%), 148800 frames dropped"),
        "{text}"
    );
}

#[test]
fn residual_colours_follow_the_thresholds() {
    assert_eq!(view::residual_color(-90.0), view::GREEN);
    assert_eq!(view::residual_color(-55.0), view::AMBER);
    assert_eq!(view::residual_color(-10.0), view::RED);
}

#[test]
fn finding_time_ranges_are_marked_on_the_history() {
    let mut snapshot = session();
    // The history ends 10 s into the run (480,000 frames at 48 kHz).
    let mut silent = finding(
        FindingKind::StemDropout,
        Severity::Warning,
        &["Choir"],
        "Silent from 0:04.0 to 0:06.5 in its stem but not in the mix.",
        "Unmute the track and export it again.",
    );
    silent.time_range_s = Some((4.0, 6.5));
    let mut old = silent.clone();
    old.stems = vec!["Drums".into()];
    old.time_range_s = Some((-80.0, -70.0));
    snapshot.findings.push(silent);
    snapshot.findings.push(old);
    let marks = view::history_marks(&snapshot);
    assert_eq!(
        marks.len(),
        1,
        "only the range within the last minute: {marks:?}"
    );
    let ((ended_ago_s, began_ago_s), label, colour) = &marks[0];
    assert!((ended_ago_s - 3.5).abs() < 1e-4, "{ended_ago_s}");
    assert!((began_ago_s - 6.0).abs() < 1e-4, "{began_ago_s}");
    assert_eq!(label, "Choir");
    assert_eq!(*colour, view::AMBER);
    // And it is drawn: its label is on the history as well as in the findings list.
    let text = rendered_text(&snapshot, 1.0);
    assert_eq!(text.matches("Choir").count(), 2, "{text}");
}

#[test]
fn the_own_row_is_found_by_lane_here_and_by_ring_from_another_process() {
    let mut local = instance(5, "Bass", Role::Stem);
    let mut remote = instance(5, "Keys", Role::Stem);
    remote.location.ring_key = 0xBEEF;
    remote.location.shared_memory = true;
    let here = view::OwnRow {
        lane_id: Some(5),
        ring_key: 0,
    };
    // The leader's core numbers its stand-ins on its own: a stand-in may share a local lane id.
    assert!(here.is(&local) && !here.is(&remote));
    let streaming = view::OwnRow {
        lane_id: None,
        ring_key: 0xBEEF,
    };
    assert!(streaming.is(&remote) && !streaming.is(&local));
    local.location.ring_key = 0xF00D;
    assert!(!streaming.is(&local));
}
