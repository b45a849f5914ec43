//! The CLAP build and the VST3 build in one host process (issue 14): the stems of a generated
//! song (Drums, Bass, Harmony) on CLAP instances (clack-host, the suite's `host` module), the
//! master on a VST3 instance (the suite's own VST3 host, `vst3_host`), all fed block by block
//! with one transport. The two builds are two libraries with their own statics, so they meet
//! only through the shared-memory federation: the stems register first and their binary holds
//! the core; the VST3 master streams to it through a ring.
//!
//! Two runs of the same instances: a clean one must form one group of four (the master shown
//! as VST3 in shared memory, the stems as CLAP in the core's binary) and null; then the bass
//! stem 6 dB hot must be named on Bass, with its measured gain. The first run starts right
//! after activation, as a host rendering a session it just loaded does: every frame must be
//! compared from the first block (the core waits for the master's ring, announced at its
//! activation), with no `incomplete-analysis`. Both libraries are the ones
//! `cargo xtask test` builds, `process()` under `assert_process_allocs` (the ring push too).

use std::time::Instant;

use stemcheck_analysis::FindingKind::IncompleteAnalysis;
use stemcheck_analysis::{FindingKind, Severity, Verdict};
use stemcheck_host_tests::ardour::vst3_bundle;
use stemcheck_host_tests::host::{LiveReport, passes_through};
use stemcheck_host_tests::support::{flagged, isolated_shm_tag, pace, stop, wait_for_report};
use stemcheck_host_tests::vst3_host::{Vst3Instance, Vst3Module};
use stemcheck_host_tests::{Instance, Transport, report_dir, run_audio};
use stemcheck_live::PluginFormat;
use stemcheck_testkit::{Stereo, gain_db, render_song, sum};

const RATE_HZ: f64 = 48_000.0;
const BLOCK_FRAMES: usize = 512;
/// Seconds of the song each run plays (in real time, so that no lane or ring fills).
const RUN_SECONDS: f32 = 6.0;
/// The stems, on CLAP instances on tracks of these names.
const STEMS: [&str; 3] = ["Drums", "Bass", "Harmony"];
/// The master's name, typed into the VST3 instance (VST3 hosts pass track names to the
/// editor only).
const MASTER: &str = "Master";
/// The defect of the second run: the bass stem this much hotter than in the master, in dB.
const HOT_DB: f32 = 6.0;
/// The clean run's residual (master minus the stems' sum, re master) must be below this: the
/// master is the stems' float sum, so anything above rounding means audio was lost or
/// misaligned between the two binaries (about -140 dB would be 24-bit rounding).
const NULL_RESIDUAL_MAX_DB: f32 = -120.0;
/// A stem's measured gain in the master may miss the truth by this much, in dB (the analysis
/// is accurate to 0.05 dB on clean material).
const GAIN_TOLERANCE_DB: f32 = 0.1;
/// A stem's measured offset against the master may be this far from zero, in samples: the
/// two hosts' transports put every block at the same position, so the stems line up to the
/// sample (the fractional estimate wanders by a fraction of one).
const MAX_OFFSET_SAMPLES: f64 = 0.5;

#[test]
fn stems_on_clap_and_the_master_on_vst3_form_one_group_and_name_the_hot_bass() {
    let tag = isolated_shm_tag("clapvst3");
    // SAFETY: before either library is loaded, so no plugin thread reads the environment yet;
    // the test's own threads do not read it.
    unsafe { std::env::set_var(stemcheck_live::federation::SHM_TAG_ENV, &tag) };
    let _ = report_dir();
    let song = render_song(5, RATE_HZ as f32, RUN_SECONDS);
    let clean: Vec<&Stereo> = STEMS.iter().map(|n| &song.stem(n).audio).collect();
    let master = sum(&clean);

    // Stems first: the CLAP library then holds the core.
    let mut stems: Vec<Instance> = STEMS.iter().map(|n| Instance::new(n, 2)).collect();
    for stem in stems.iter_mut() {
        stem.configure("a", "auto", "");
        stem.activate(RATE_HZ, BLOCK_FRAMES);
    }
    let module = Vst3Module::load(&vst3_bundle());
    let mut mix = Vst3Instance::new(&module);
    mix.configure("a", "master", MASTER);
    assert_eq!(mix.param_text("Role").as_deref(), Some("Master"));
    assert_eq!(mix.param_text("Group").as_deref(), Some("A"));
    mix.activate(RATE_HZ, BLOCK_FRAMES);

    // Run 1: clean, right after activation (no wait for the master to show in the group).
    let started = Instant::now();
    play(&mut stems, &mut mix, &clean, &master);
    let report = wait_for_report("A", 1);
    eprintln!("clean run: {:.1} s", started.elapsed().as_secs_f64());
    describe(&report);
    check_one_group(&report);
    let group = &report.group;
    let residual_db = group.null_residual_db.expect("a residual");
    assert!(
        residual_db < NULL_RESIDUAL_MAX_DB,
        "residual {residual_db} dB"
    );
    assert_eq!(
        report.report.verdict,
        Verdict::Nulls,
        "{:?}",
        flagged(&report)
    );
    assert!(flagged(&report).is_empty(), "{:?}", flagged(&report));

    // Run 2: the bass stem 6 dB hot against the master.
    let hot_bass = gain_db(&song.stem("Bass").audio, HOT_DB);
    let defect: Vec<&Stereo> = STEMS
        .iter()
        .map(|n| {
            if *n == "Bass" {
                &hot_bass
            } else {
                &song.stem(n).audio
            }
        })
        .collect();
    let started = Instant::now();
    play(&mut stems, &mut mix, &defect, &master);
    let report = wait_for_report("A", 2);
    eprintln!("defect run: {:.1} s", started.elapsed().as_secs_f64());
    describe(&report);
    check_one_group(&report);
    let problems: Vec<_> = report
        .report
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .map(|f| (f.kind, f.stems.clone()))
        .collect();
    assert_eq!(
        problems,
        vec![(FindingKind::StemGain, vec!["Bass".to_string()])],
        "{:?}",
        flagged(&report)
    );
    let finding = report
        .report
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::StemGain)
        .unwrap();
    assert!(
        (finding.value as f32 + HOT_DB).abs() < GAIN_TOLERANCE_DB,
        "{}",
        finding.message
    );
    let measurements = report.group.measurements.as_ref().expect("measurements");
    for stem in &measurements.stems {
        // The master holds the hot stem at -6 dB; the others as they are.
        let expected_db = if stem.name == "Bass" { -HOT_DB } else { 0.0 };
        assert!(
            (stem.gain_db - expected_db).abs() < GAIN_TOLERANCE_DB,
            "{}: gain {} dB in the master, expected {expected_db}",
            stem.name,
            stem.gain_db
        );
        assert!(!stem.inverted, "{} inverted", stem.name);
    }
    assert_eq!(measurements.stems.len(), STEMS.len());

    drop(mix);
    drop(module);
    drop(stems);
    for entry in std::fs::read_dir("/dev/shm").unwrap().flatten() {
        if entry.file_name().to_string_lossy().contains(&tag) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Plays one run from position 0 in real time: each stem into its CLAP instance and the master
/// into the VST3 one, block by block with one transport, then stops. Every instance's output
/// must be its input, bit for bit.
fn play(stems: &mut [Instance], mix: &mut Vst3Instance, stem_audio: &[&Stereo], master: &Stereo) {
    let total = master[0].len();
    let mut refs: Vec<&mut Instance> = stems.iter_mut().collect();
    run_audio(&mut refs, |sides| {
        let started = Instant::now();
        let mut pos = 0;
        while pos < total {
            let n = BLOCK_FRAMES.min(total - pos);
            let transport = Transport::Playing(pos as i64);
            for (side, audio) in sides.iter_mut().zip(stem_audio) {
                let input = [&audio[0][pos..pos + n], &audio[1][pos..pos + n]];
                let output = side.process(&input, transport);
                assert!(passes_through(&output, &input), "a CLAP stem's output");
            }
            let input = [&master[0][pos..pos + n], &master[1][pos..pos + n]];
            let output = mix.process(&input, transport);
            assert!(passes_through(&output, &input), "the VST3 master's output");
            pos += n;
            pace(started, pos, RATE_HZ, 1.0);
        }
        stop(sides, total as i64, BLOCK_FRAMES);
        let silence = vec![0.0f32; BLOCK_FRAMES];
        mix.process(&[&silence, &silence], Transport::Stopped(total as i64));
    });
}

/// One group of the three CLAP stems and the VST3 master, all in this process, the master
/// streaming through shared memory; every frame of the run compared, nothing dropped.
fn check_one_group(report: &LiveReport) {
    let group = &report.group;
    let me = std::process::id();
    assert_eq!(
        group.instances.len(),
        STEMS.len() + 1,
        "one group across two formats"
    );
    let mix = group
        .instances
        .iter()
        .find(|i| i.name == MASTER)
        .expect("the master in the group");
    assert_eq!(mix.role, stemcheck_live::Role::Master);
    assert_eq!(mix.location.format, PluginFormat::Vst3);
    assert!(mix.location.shared_memory && mix.location.pid == me);
    for name in STEMS {
        let stem = group
            .instances
            .iter()
            .find(|i| i.name == name)
            .unwrap_or_else(|| panic!("{name} in the group"));
        assert_eq!(stem.role, stemcheck_live::Role::Stem);
        assert_eq!(stem.location.format, PluginFormat::Clap);
        assert!(!stem.location.shared_memory && stem.location.pid == me);
    }
    let run_frames = (RUN_SECONDS as f64 * RATE_HZ) as u64;
    assert_eq!(
        group.complete_frames, run_frames,
        "{} of {run_frames} frames compared",
        group.complete_frames
    );
    assert_eq!(group.dropped_frames, 0);
    for instance in &group.instances {
        assert_eq!(
            (instance.late_frames, instance.dropped_frames),
            (0, 0),
            "{}: late or dropped frames",
            instance.name
        );
    }
    assert!(
        report
            .report
            .findings
            .iter()
            .all(|f| f.kind != IncompleteAnalysis),
        "{:?}",
        flagged(report)
    );
    // Aligned by transport position across the two formats: no lag between the VST3 master
    // and the CLAP stems, none between the stems.
    let measurements = group.measurements.as_ref().expect("measurements");
    assert_eq!(measurements.common_lag_samples, 0);
    for stem in &measurements.stems {
        assert!(
            stem.lag_locked && stem.offset_samples.abs() < MAX_OFFSET_SAMPLES,
            "{}: offset {} samples",
            stem.name,
            stem.offset_samples
        );
    }
}

/// What the run's report says, for the log.
fn describe(report: &LiveReport) {
    let group = &report.group;
    eprintln!(
        "run {}: verdict {:?}, residual {:?} dB, {} of {} frames complete, instances {:?}",
        report.run.number,
        report.report.verdict,
        group.null_residual_db,
        group.complete_frames,
        group.run_frames,
        group
            .instances
            .iter()
            .map(|i| format!("{} ({})", i.name, i.location))
            .collect::<Vec<_>>()
    );
    for i in &group.instances {
        eprintln!(
            "  {}: {} frames present, {} late, {} dropped",
            i.name, i.present_frames, i.late_frames, i.dropped_frames
        );
    }
    if let Some(m) = &group.measurements {
        eprintln!(
            "stem gains: {:?}",
            m.stems
                .iter()
                .map(|s| (&s.name, s.gain_db, s.offset_samples))
                .collect::<Vec<_>>()
        );
    }
    eprintln!(
        "findings: {:?}",
        report
            .report
            .findings
            .iter()
            .map(|f| (f.kind.name(), &f.stems, f.value, &f.message))
            .collect::<Vec<_>>()
    );
}
