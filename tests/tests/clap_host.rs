//! The built CLAP plugin in a real CLAP host (clack-host): several instances in one process,
//! processing with transport information on an audio thread, exactly as a DAW would run them.
//! What the shared core saw is read back from the run reports the plugin writes.
//!
//! Each test uses its own group, because all instances of this process share one core.

use std::time::{Duration, Instant};

use stemcheck_analysis::{FindingKind, Severity, Verdict};
use stemcheck_host_tests::host::AudioSide;
use stemcheck_host_tests::host::passes_through;
use stemcheck_host_tests::signals::{block_sizes, noise};
use stemcheck_host_tests::support::{self, pace, wait_for_report};
use stemcheck_host_tests::*;
use stemcheck_live::Role;

const RATE_HZ: f64 = 48_000.0;
/// A broadband null deeper than this means every lane was placed to the sample (a one-sample
/// slip of noise leaves a residual around 0 dB).
const ALIGNED_NULL_DB: f32 = -100.0;

fn configure(instance: &mut Instance, group: &str, role: &str, name: &str) {
    instance.configure(group, role, name);
}

/// A quarter of the duration of `frames` at `rate_hz`: tests run at about 4x real time, fast
/// yet within what the core (which also runs the analysis) drains on a loaded 2-core machine.
/// Faster pushing makes the core drop, which these tests do not test (the render test does).
fn real_time_over_4(frames: usize, rate_hz: f64) -> Duration {
    Duration::from_secs_f64(frames as f64 / rate_hz / 4.0)
}

/// Plays `stems` (one signal per stem instance, mono material on both channels) and their sum
/// on the master, in the given block sizes, from timeline position `start`. Every instance
/// sees the same block size per cycle, as in a host. Asserts bit-identical pass-through
/// (subnormals flushed to zero).
/// `pace` sleeps after each cycle to keep the run near real time factors a core drains.
fn play(
    sides: &mut [AudioSide<'_>],
    master_index: usize,
    stems: &[Vec<f32>],
    sizes: &[usize],
    start: i64,
    pace: Duration,
) {
    let total: usize = sizes.iter().sum();
    let master: Vec<f32> = (0..total)
        .map(|i| stems.iter().map(|s| s[i]).sum())
        .collect();
    let mut offset = 0;
    for &size in sizes {
        let mut stem_iter = stems.iter();
        for (index, side) in sides.iter_mut().enumerate() {
            let source = if index == master_index {
                &master
            } else {
                stem_iter.next().unwrap()
            };
            let block = &source[offset..offset + size];
            let output = side.process(&[block, block], Transport::Playing(start + offset as i64));
            assert!(
                passes_through(&output, &[block, block]),
                "output differs from input"
            );
        }
        offset += size;
        // About 4x real time unless told otherwise: fast, yet within what the core (which
        // also runs the analysis) drains on a loaded CI machine.
        let pace = if pace.is_zero() {
            Duration::from_secs_f64(size as f64 / RATE_HZ / 4.0)
        } else {
            pace
        };
        std::thread::sleep(pace);
    }
}

/// The stop block's length: every instance pushes this much past the audio it played.
const STOP_FRAMES: usize = 256;

fn stop(sides: &mut [AudioSide<'_>], at: i64) {
    support::stop(sides, at, STOP_FRAMES);
}

#[test]
fn the_core_sees_every_instance_and_aligns_them_to_the_sample() {
    let names = ["Master", "Drums", "Bass", "Keys", "Vox"];
    let mut instances: Vec<Instance> = names.iter().map(|n| Instance::new(n, 2)).collect();
    // Four of them keep the defaults (role from the track name); the vocal's name is typed.
    for instance in instances.iter_mut() {
        configure(instance, "a", "auto", "");
    }
    configure(&mut instances[4], "a", "auto", "Lead Vocal");
    let _ = report_dir();
    for instance in instances.iter_mut() {
        instance.activate(RATE_HZ, 8192);
    }

    let total = 5 * RATE_HZ as usize;
    // Quiet enough that the master stays under -1 dBTP (else a true-peak warning is right).
    let stems: Vec<Vec<f32>> = (0..4).map(|s| noise(100 + s, total, 0.05)).collect();
    let sizes = block_sizes(1, total, 8192);
    let mut refs: Vec<&mut Instance> = instances.iter_mut().collect();
    run_audio(&mut refs, |sides| {
        play(sides, 0, &stems, &sizes, 0, Duration::ZERO);
        stop(sides, total as i64);
    });

    let report = wait_for_report("A", 1);
    let group = &report.group;
    assert_eq!(report.run.start_samples, 0);
    assert_eq!(report.run.end_samples, total as i64);
    assert_eq!(group.instances.len(), 5, "{:#?}", group.instances);
    let listed: Vec<(&str, Role)> = group
        .instances
        .iter()
        .map(|i| (i.name.as_str(), i.role))
        .collect();
    assert_eq!(
        listed,
        [
            ("Master", Role::Master),
            ("Bass", Role::Stem),
            ("Drums", Role::Stem),
            ("Keys", Role::Stem),
            ("Lead Vocal", Role::Stem),
        ]
    );
    for instance in &group.instances {
        assert_eq!(instance.dropped_frames, 0, "{}", instance.name);
        assert_eq!(instance.present_frames, total as u64, "{}", instance.name);
        assert!(instance.host_transport);
        assert_eq!(instance.num_channels, 2);
    }
    assert_eq!(group.run_frames, total as u64);
    assert_eq!(group.complete_frames, total as u64);
    let null_db = group.null_residual_db.unwrap();
    assert!(
        null_db < ALIGNED_NULL_DB,
        "null residual {null_db} dB: lanes misaligned"
    );
    assert!(group.warnings.is_empty(), "{:?}", group.warnings);
    assert_eq!(group.sample_rate_hz, RATE_HZ as f32);
    // The analysis core ran on the aligned audio: the stems rebuild the master.
    assert_eq!(
        report.report.verdict,
        Verdict::Nulls,
        "{:#?}",
        report.report.findings
    );
    assert!(
        report
            .report
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::Nulls)
    );
}

#[test]
fn a_defect_in_one_stem_is_found_live_and_attributed() {
    let names = ["Mix Bus", "Drums", "Bass", "Keys"];
    let mut instances: Vec<Instance> = names.iter().map(|n| Instance::new(n, 2)).collect();
    for instance in instances.iter_mut() {
        configure(instance, "b", "auto", "");
    }
    let _ = report_dir();
    for instance in instances.iter_mut() {
        instance.activate(RATE_HZ, 1024);
    }
    let total = 5 * RATE_HZ as usize;
    let song = stemcheck_testkit::render_song(3, RATE_HZ as f32, 5.0);
    // Mono material per stem (left channel of three of the song's stems).
    let mut stems: Vec<Vec<f32>> = song.stems[..3]
        .iter()
        .map(|s| s.audio[0][..total].to_vec())
        .collect();
    let master: Vec<f32> = (0..total)
        .map(|i| stems.iter().map(|s| s[i]).sum())
        .collect();
    // The bass stem is exported polarity-inverted.
    stems[1].iter_mut().for_each(|x| *x = -*x);
    let mut refs: Vec<&mut Instance> = instances.iter_mut().collect();
    run_audio(&mut refs, |sides| {
        let mut pos = 0;
        while pos < total {
            let n = 1024.min(total - pos);
            for (index, side) in sides.iter_mut().enumerate() {
                let source = if index == 0 {
                    &master
                } else {
                    &stems[index - 1]
                };
                let block = &source[pos..pos + n];
                side.process(&[block, block], Transport::Playing(pos as i64));
            }
            pos += n;
            std::thread::sleep(real_time_over_4(1024, RATE_HZ));
        }
        stop(sides, total as i64);
    });
    let report = wait_for_report("B", 1);
    // The core is shared with the other tests of this process, one of which renders
    // unthrottled: if it fell behind here too, the drops must be said (and nothing else).
    let coverage = report.report.coverage.expect("coverage");
    let problems: Vec<_> = report
        .report
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .filter(|f| !(f.kind == FindingKind::IncompleteAnalysis && coverage.dropped_frames > 0))
        .map(|f| (f.kind, f.stems.clone()))
        .collect();
    assert_eq!(
        problems,
        vec![(FindingKind::StemPolarity, vec!["Bass".to_string()])],
        "{coverage:?} {:#?}",
        report
            .report
            .findings
            .iter()
            .map(|f| &f.message)
            .collect::<Vec<_>>()
    );
    assert_eq!(report.report.verdict, Verdict::Fails);
}

#[test]
fn state_round_trips_through_save_and_load() {
    let mut original = Instance::new("Drums", 2);
    configure(&mut original, "f", "master", "Kick & Snare");
    let saved = original.save_state();
    let mut restored = Instance::new("Other track", 2);
    assert!(restored.load_state(&saved));
    let a: serde_json::Value = serde_json::from_slice(&saved[8..]).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&restored.save_state()[8..]).unwrap();
    assert_eq!(a["params"], b["params"]);
    assert_eq!(a["fields"], b["fields"]);
    assert_eq!(b["params"]["role"]["string"], "master");
    assert_eq!(b["fields"]["stem-name"], "\"Kick & Snare\"");
    // Garbage is refused without a crash, and the instance keeps working.
    assert!(!restored.load_state(b"\x05\0\0\0\0\0\0\0{nope"));
    restored.activate(RATE_HZ, 64);
}

#[test]
fn nan_inf_and_subnormal_input_pass_through_bit_exact_flushed_and_are_counted() {
    let mut master = Instance::new("Master", 2);
    let mut stem = Instance::new("Drums", 2);
    configure(&mut master, "c", "master", "");
    configure(&mut stem, "c", "stem", "");
    let _ = report_dir();
    master.activate(RATE_HZ, 1024);
    stem.activate(RATE_HZ, 1024);

    let total = 4 * RATE_HZ as usize;
    let mut poison = noise(7, total, 0.5);
    let specials = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MIN_POSITIVE / 8.0,
    ];
    let mut non_finite = 0;
    for i in (0..total).step_by(997) {
        poison[i] = specials[(i / 997) % 4];
        if !poison[i].is_finite() {
            non_finite += 1;
        }
    }
    run_audio(&mut [&mut master, &mut stem], |sides| {
        let mut pos = 0;
        while pos < total {
            let block = &poison[pos..(pos + 1024).min(total)];
            for side in sides.iter_mut() {
                let out = side.process(&[block, block], Transport::Playing(pos as i64));
                // Bit for bit, NaN and infinity included; the subnormals flushed to zero.
                assert!(passes_through(&out, &[block, block]));
            }
            pos += 1024;
            std::thread::sleep(real_time_over_4(1024, RATE_HZ));
        }
        stop(sides, total as i64);
    });
    let report = wait_for_report("C", 1);
    for instance in &report.group.instances {
        // Both channels carry the poison.
        assert_eq!(
            instance.non_finite_samples,
            2 * non_finite,
            "{}",
            instance.name
        );
        assert!(instance.peak_dbfs.is_finite() && instance.level_dbfs.is_finite());
    }
    // Master and stem carry identical (sanitised) audio: they null.
    assert!(report.group.null_residual_db.unwrap() < ALIGNED_NULL_DB);
}

/// Renders `minutes` of audio back to back (no pause: as fast as the host can call), stops,
/// then plays 3.5 s more at 4x real time once the core has caught up, and checks both runs.
fn render_then_play(group: &str, minutes: usize) {
    const BLOCK: usize = 512;
    let mut instances: Vec<Instance> = ["Master", "Drums", "Bass"]
        .iter()
        .map(|n| Instance::new(n, 2))
        .collect();
    for (i, instance) in instances.iter_mut().enumerate() {
        configure(
            instance,
            &group.to_lowercase(),
            if i == 0 { "master" } else { "stem" },
            "",
        );
        instance.activate(RATE_HZ, BLOCK);
    }
    let _ = report_dir();
    // One second of distinct noise per stem, looped (a period far beyond any lag searched).
    let loop_frames = RATE_HZ as usize;
    let drums = noise(3, loop_frames, 0.3);
    let bass = noise(4, loop_frames, 0.3);
    let master: Vec<f32> = drums.iter().zip(&bass).map(|(a, b)| a + b).collect();
    let signals = [&master, &drums, &bass];
    let total = minutes * 60 * RATE_HZ as usize;
    let play_frames = (3.5 * RATE_HZ) as usize;
    let mut refs: Vec<&mut Instance> = instances.iter_mut().collect();
    let (wall, first) = run_audio(&mut refs, |sides| {
        let mut scratch = vec![0.0f32; BLOCK];
        let mut feed = |sides: &mut [AudioSide<'_>], pos: usize| {
            for (side, signal) in sides.iter_mut().zip(signals) {
                for (i, x) in scratch.iter_mut().enumerate() {
                    *x = signal[(pos + i) % loop_frames];
                }
                let input = [scratch.as_slice(), scratch.as_slice()];
                let out = side.process(&input, Transport::Playing(pos as i64));
                assert!(passes_through(&out, &input));
            }
        };
        let started = Instant::now();
        let mut pos = 0;
        while pos < total {
            feed(sides, pos);
            pos += BLOCK;
        }
        let wall = started.elapsed();
        stop(sides, total as i64);
        // The core has caught up when it has written the render's report.
        let first = wait_for_report(group, 1);
        let resumed = Instant::now();
        let mut played = 0;
        while played < play_frames {
            feed(sides, total + played);
            played += BLOCK;
            pace(resumed, played, RATE_HZ, 4.0);
        }
        stop(sides, (total + played) as i64);
        (wall, first)
    });
    eprintln!(
        "rendered {minutes} min of audio x3 in {:.2} s ({:.0}x real time)",
        wall.as_secs_f64(),
        total as f64 / RATE_HZ / wall.as_secs_f64()
    );

    // The render: every frame reached the core or was counted as dropped, and the drops are
    // reported; whatever was analysed is aligned (the master is exactly the stems' sum).
    for instance in &first.group.instances {
        assert_eq!(
            instance.pushed_frames + instance.dropped_frames,
            total as u64 + 256,
            "{}",
            instance.name
        );
        assert!(instance.present_frames <= total as u64 - instance.dropped_frames);
    }
    let dropped = first.group.dropped_frames;
    eprintln!("the core dropped {dropped} frames of {}", 3 * total);
    if dropped > 0 {
        assert!(first.group.warnings.iter().any(|w| w.contains("dropped")));
    }
    assert!(first.group.null_residual_db.unwrap_or(-300.0) < ALIGNED_NULL_DB);
    // What was compared nulls; a render with drops says it was incomplete (never "nulls").
    let incomplete = first
        .report
        .findings
        .iter()
        .any(|f| f.kind == stemcheck_analysis::FindingKind::IncompleteAnalysis);
    if dropped > 0 {
        assert!(incomplete, "{:#?}", first.report.findings);
        assert_eq!(first.report.verdict, Verdict::Warnings);
    } else {
        assert_eq!(first.report.verdict, Verdict::Nulls);
    }

    // Once the core has caught up, the next run is right from its first second: no new drops,
    // and the null residual's first points (one per half second) are at the floor.
    let second = wait_for_report(group, 2);
    assert_eq!(
        second.group.dropped_frames, dropped,
        "no drops at 4x real time"
    );
    let history = &second.group.residual_history_db;
    assert!(history.len() >= 4, "{history:?}");
    assert!(
        history[..2].iter().all(|&db| db < ALIGNED_NULL_DB),
        "residual over the first second: {history:?}"
    );
    assert_eq!(second.report.verdict, Verdict::Nulls);
}

#[test]
fn a_ten_minute_render_counts_every_drop_and_the_findings_recover_within_a_second() {
    render_then_play("D", 10);
}

/// The same for an hour of audio. `cargo xtask test --release -- --ignored soak`.
#[test]
#[ignore = "soak: an hour of audio; run in release"]
fn soak_an_hour_long_render() {
    render_then_play("F", 60);
}

#[test]
fn without_transport_the_fallback_clock_still_lines_instances_up() {
    let mut master = Instance::new("Mix", 1);
    let mut stem = Instance::new("Bass", 1);
    configure(&mut master, "e", "auto", "");
    configure(&mut stem, "e", "auto", "");
    let _ = report_dir();
    master.activate(44_100.0, 700);
    stem.activate(44_100.0, 700);
    let total = 4 * 44_100;
    let signal = noise(9, total, 0.4);
    let sizes = block_sizes(4, total, 700);
    run_audio(&mut [&mut master, &mut stem], |sides| {
        let mut pos = 0;
        for &size in &sizes {
            let block = &signal[pos..pos + size];
            for side in sides.iter_mut() {
                let out = side.process(&[block], Transport::None);
                assert_eq!(out[0], block);
            }
            pos += size;
            std::thread::sleep(real_time_over_4(size, 44_100.0));
        }
    });
    // No stop ever comes: the run ends when the audio stalls.
    let report = wait_for_report("E", 1);
    assert_eq!(report.run.ended_by, "stalled");
    assert_eq!(report.group.sample_rate_hz, 44_100.0);
    assert!(
        report
            .group
            .instances
            .iter()
            .all(|i| !i.host_transport && i.num_channels == 1)
    );
    assert!(
        report
            .group
            .warnings
            .iter()
            .any(|w| w.contains("no transport"))
    );
    assert!(
        report.group.null_residual_db.unwrap() < ALIGNED_NULL_DB,
        "mono master = mono stem"
    );
}

#[test]
fn loops_and_sample_rate_changes_start_new_runs_without_mixing_audio() {
    let mut master = Instance::new("Master", 2);
    let mut stem = Instance::new("FX", 2);
    configure(&mut master, "g", "master", "");
    configure(&mut stem, "g", "stem", "");
    let _ = report_dir();

    // A 4-second loop played twice, with different audio each pass (a live input, say):
    // if the passes were mixed, master and stem would not null.
    master.activate(RATE_HZ, 480);
    stem.activate(RATE_HZ, 480);
    let loop_frames = 4 * RATE_HZ as usize;
    let sizes = vec![480; loop_frames / 480];
    run_audio(&mut [&mut master, &mut stem], |sides| {
        for pass in 0..2 {
            let stems = vec![noise(20 + pass, loop_frames, 0.3)];
            play(sides, 0, &stems, &sizes, 0, Duration::ZERO);
        }
        stop(sides, loop_frames as i64);
    });
    let first = wait_for_report("G", 1);
    let second = wait_for_report("G", 2);
    for report in [&first, &second] {
        assert_eq!(report.run.start_samples, 0);
        assert_eq!(report.run.end_samples, loop_frames as i64);
        assert!(report.group.null_residual_db.unwrap() < ALIGNED_NULL_DB);
    }
    assert_eq!(second.run.number, first.run.number + 1);

    // Re-activated at 96 kHz: a new run at the new rate.
    master.activate(96_000.0, 2048);
    stem.activate(96_000.0, 2048);
    let frames = 4 * 96_000;
    let sizes = vec![2048; frames / 2048];
    run_audio(&mut [&mut master, &mut stem], |sides| {
        let stems = vec![noise(30, frames, 0.3)];
        play(
            sides,
            0,
            &stems,
            &sizes,
            96_000,
            real_time_over_4(2048, 96_000.0),
        );
        stop(sides, 96_000 + frames as i64);
    });
    let third = wait_for_report("G", 3);
    assert_eq!(third.group.sample_rate_hz, 96_000.0);
    assert_eq!(third.run.start_samples, 96_000);
    assert!(third.group.null_residual_db.unwrap() < ALIGNED_NULL_DB);
    assert!(!third.group.sample_rate_mismatch);
}

#[test]
fn instances_at_different_sample_rates_are_flagged_not_mixed() {
    let mut master = Instance::new("Master", 2);
    let mut stem = Instance::new("Drums", 2);
    configure(&mut master, "h", "master", "");
    configure(&mut stem, "h", "stem", "");
    let _ = report_dir();
    master.activate(48_000.0, 512);
    stem.activate(44_100.0, 512);
    let block = noise(5, 512, 0.3);
    run_audio(&mut [&mut master, &mut stem], |sides| {
        for i in 0..400 {
            for side in sides.iter_mut() {
                side.process(&[&block, &block], Transport::Playing(i * 512));
            }
            std::thread::sleep(real_time_over_4(512, 48_000.0));
        }
        stop(sides, 400 * 512);
    });
    let report = wait_for_report("H", 1);
    assert!(report.group.sample_rate_mismatch);
    assert!(
        report
            .group
            .warnings
            .iter()
            .any(|w| w.contains("sample rates"))
    );
    let drums = report
        .group
        .instances
        .iter()
        .find(|i| i.name == "Drums")
        .unwrap();
    assert_eq!(drums.present_frames, 0);
    assert!(drums.rate_mismatch_frames > 0);
}
