//! Tries to break the built CLAP plugin in a real CLAP host (clack-host): random block sizes
//! from 1 to 8192 frames, every sample rate from 44.1 to 192 kHz, mono and stereo, hostile
//! signals, and every transport pattern a host produces (pre-roll, stop and start, jumps, loops,
//! none at all). `many_instances.rs` has 256 instances and churn, `clap_host.rs` the render far
//! faster than real time.
//!
//! Every test checks: no panic (the plugin library is built with `assert_process_allocs`, so an
//! allocation in `process()` aborts the whole run), output bit-identical to input (subnormals
//! flushed to zero), bounded memory, and sane findings read back from the reports the plugin
//! writes.
//!
//! This file is its own process, so its instances get an analysis core of their own; each test
//! uses its own groups. Slow soak variants are `#[ignore]`d; run them in release with
//! `cargo xtask test --release -- --ignored soak` (see README).

use std::time::Instant;

use stemcheck_analysis::{FindingKind, Verdict};
use stemcheck_host_tests::host::passes_through;
use stemcheck_host_tests::signals::{block_sizes, noise};
use stemcheck_host_tests::support::{flagged, pace, stop, wait_for_report};
use stemcheck_host_tests::*;

/// A broadband null deeper than this means every lane was placed to the sample.
const ALIGNED_NULL_DB: f32 = -100.0;

#[test]
fn random_block_sizes_every_sample_rate_mono_and_stereo() {
    const MAX_BLOCK: usize = 8192;
    let _ = report_dir();
    let mut master = Instance::new("Master", 2);
    let mut mono = Instance::new("Bass", 1);
    let mut stereo = Instance::new("Keys", 2);
    master.configure("a", "master", "");
    mono.configure("a", "stem", "");
    stereo.configure("a", "stem", "");

    for (run, rate) in [44_100.0, 48_000.0, 96_000.0, 192_000.0]
        .into_iter()
        .enumerate()
    {
        for instance in [&mut master, &mut mono, &mut stereo] {
            instance.activate(rate, MAX_BLOCK);
        }
        let total = (3.5 * rate) as usize;
        let bass = noise(run as u64, total, 0.3);
        let keys = [
            noise(10 + run as u64, total, 0.2),
            noise(20 + run as u64, total, 0.2),
        ];
        let mix: Vec<Vec<f32>> = keys
            .iter()
            .map(|k| k.iter().zip(&bass).map(|(a, b)| a + b).collect())
            .collect();
        let sizes = block_sizes(run as u64, total, MAX_BLOCK);
        assert!(sizes.iter().any(|&s| s < 16) && sizes.contains(&MAX_BLOCK));
        run_audio(&mut [&mut master, &mut mono, &mut stereo], |sides| {
            let started = Instant::now();
            let mut pos = 0;
            for &size in &sizes {
                let range = pos..pos + size;
                let inputs: [Vec<&[f32]>; 3] = [
                    vec![&mix[0][range.clone()], &mix[1][range.clone()]],
                    vec![&bass[range.clone()]],
                    vec![&keys[0][range.clone()], &keys[1][range.clone()]],
                ];
                for (side, input) in sides.iter_mut().zip(&inputs) {
                    let out = side.process(input, Transport::Playing(pos as i64));
                    assert!(passes_through(&out, input), "{rate} Hz, block of {size}");
                }
                pos += size;
                pace(started, pos, rate, 4.0);
            }
            stop(sides, total as i64, 32);
        });
        let report = wait_for_report("A", run + 1);
        assert_eq!(report.group.sample_rate_hz, rate as f32);
        assert_eq!(
            report.report.verdict,
            Verdict::Nulls,
            "{rate} Hz: {:#?}",
            flagged(&report)
        );
        assert!(
            report.group.null_residual_db.unwrap() < ALIGNED_NULL_DB,
            "{rate} Hz"
        );
        assert!(!report.group.sample_rate_mismatch);
        let channels: Vec<(String, usize)> = report
            .group
            .instances
            .iter()
            .map(|i| (i.name.clone(), i.num_channels))
            .collect();
        assert!(channels.contains(&("Bass".into(), 1)), "{channels:?}");
        assert!(channels.contains(&("Keys".into(), 2)), "{channels:?}");
    }
}

#[test]
fn hostile_signals_pass_through_untouched_and_are_named() {
    const RATE: f64 = 48_000.0;
    const BLOCK: usize = 1024;
    let _ = report_dir();
    let total = (4 * RATE as usize) / BLOCK * BLOCK;
    // A full-scale square wave, a DC offset, silence, and noise riddled with NaN, infinities
    // and subnormals; the master is their sum as the host computes it.
    let square: Vec<f32> = (0..total)
        .map(|i| if (i / 240) % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let dc: Vec<f32> = noise(1, total, 0.05).iter().map(|x| x + 0.1).collect();
    let silence = vec![0.0f32; total];
    let mut poison = noise(2, total, 0.2);
    let specials = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MIN_POSITIVE / 4.0,
        -f32::MIN_POSITIVE / 1024.0,
    ];
    for i in (0..total).step_by(1499) {
        poison[i] = specials[(i / 1499) % specials.len()];
    }
    // The host's master carries the poison too; the analysis silences those samples in every
    // signal, so the test's master is the sum with them silenced (else the null test would
    // measure the poison, not the alignment).
    let poison_silenced: Vec<f32> = poison
        .iter()
        .map(|&x| if x.is_normal() { x } else { 0.0 })
        .collect();
    let stems = [
        ("Square", &square),
        ("Offset", &dc),
        ("Silent", &silence),
        ("Poison", &poison),
    ];
    let master: Vec<f32> = (0..total)
        .map(|i| square[i] + dc[i] + silence[i] + poison_silenced[i])
        .collect();

    let mut master_instance = Instance::new("Master", 2);
    master_instance.configure("b", "master", "");
    let mut instances = vec![master_instance];
    for (name, _) in &stems {
        let mut instance = Instance::new(name, 2);
        instance.configure("b", "stem", "");
        instances.push(instance);
    }
    for instance in instances.iter_mut() {
        instance.activate(RATE, BLOCK);
    }
    let mut refs: Vec<&mut Instance> = instances.iter_mut().collect();
    run_audio(&mut refs, |sides| {
        let started = Instant::now();
        let mut pos = 0;
        while pos < total {
            let range = pos..pos + BLOCK;
            let signals = std::iter::once(&master).chain(stems.iter().map(|(_, s)| *s));
            for (side, signal) in sides.iter_mut().zip(signals) {
                let input = [&signal[range.clone()], &signal[range.clone()]];
                let out = side.process(&input, Transport::Playing(pos as i64));
                assert!(passes_through(&out, &input));
            }
            pos += BLOCK;
            pace(started, pos, RATE, 4.0);
        }
        stop(sides, total as i64, 64);
    });
    let report = wait_for_report("B", 1);
    let has = |kind: FindingKind, stem: &str| {
        report
            .report
            .findings
            .iter()
            .any(|f| f.kind == kind && f.stems.iter().any(|s| s == stem))
    };
    let all = flagged(&report);
    assert!(has(FindingKind::Clipping, "Square"), "{all:#?}");
    assert!(has(FindingKind::DcOffset, "Offset"), "{all:#?}");
    assert!(has(FindingKind::SilentStem, "Silent"), "{all:#?}");
    // Nothing is blamed on the clean-but-poisoned stem, and no finding carries a non-finite
    // value.
    assert!(
        report
            .report
            .findings
            .iter()
            .all(|f| f.value.is_finite() && !f.stems.iter().any(|s| s == "Poison")),
        "{all:#?}"
    );
    let poisoned = report
        .group
        .instances
        .iter()
        .find(|i| i.name == "Poison")
        .unwrap();
    let non_finite_per_channel = (0..total)
        .step_by(1499)
        .filter(|i| !poison[*i].is_finite())
        .count() as u64;
    assert_eq!(poisoned.non_finite_samples, 2 * non_finite_per_channel);
    assert!(
        report
            .group
            .instances
            .iter()
            .all(|i| i.peak_dbfs.is_finite())
    );
    assert!(
        report.group.null_residual_db.unwrap() < -90.0,
        "{:?}",
        report.group.null_residual_db
    );
}

#[test]
fn pre_roll_stop_start_jumps_and_loops() {
    const RATE: f64 = 48_000.0;
    const BLOCK: usize = 480;
    let _ = report_dir();
    let mut master = Instance::new("Master", 2);
    let mut drums = Instance::new("Drums", 2);
    let mut bass = Instance::new("Bass", 2);
    master.configure("c", "master", "");
    drums.configure("c", "stem", "");
    bass.configure("c", "stem", "");
    for instance in [&mut master, &mut drums, &mut bass] {
        instance.activate(RATE, BLOCK);
    }
    // The song, indexed by timeline position; positions before 0 (pre-roll) are silence in
    // the host, here the same material so that they count.
    let song_frames = 40 * RATE as usize;
    let pre_roll = RATE as i64;
    let d = noise(31, song_frames, 0.2);
    let b = noise(32, song_frames, 0.2);
    let at = |signal: &Vec<f32>, pos: i64| signal[(pos + pre_roll) as usize];

    // The host's timeline: (position of the first frame, frames, playing) stretches.
    let second = RATE as i64;
    let mut script: Vec<(i64, i64, Transport)> = Vec::new();
    let mut push_play = |from: i64, frames: i64| {
        let mut p = from;
        while p < from + frames {
            let n = (BLOCK as i64).min(from + frames - p);
            script.push((p, n, Transport::Playing(p)));
            p += n;
        }
    };
    // Run 1: a pre-roll from -1 s, then 3 s of song.
    push_play(-second, 4 * second);
    // A stop, then play on from where it stopped (run 2), with a jump forward mid-way
    // (run 3 starts at the jump).
    let stop_at = 3 * second;
    push_play(stop_at, 4 * second);
    push_play(20 * second, 4 * second);
    // A one-second loop played four times (each wrap starts a new run), then on: the last
    // wrap's run goes on to 35 s.
    for _ in 0..4 {
        push_play(30 * second, second);
    }
    push_play(31 * second, 4 * second);

    let mut refs = [&mut master, &mut drums, &mut bass];
    let started = Instant::now();
    run_audio(&mut refs, |sides| {
        let mut frames_done = 0usize;
        let mut previous_end: Option<i64> = None;
        for &(pos, frames, transport) in &script {
            // A stop between the pre-roll run and the next: the host sends stopped blocks.
            if previous_end == Some(stop_at) && pos == stop_at {
                stop(sides, stop_at, 64);
            }
            let range: Vec<i64> = (pos..pos + frames).collect();
            let dl: Vec<f32> = range.iter().map(|&p| at(&d, p)).collect();
            let bl: Vec<f32> = range.iter().map(|&p| at(&b, p)).collect();
            let ml: Vec<f32> = dl.iter().zip(&bl).map(|(x, y)| x + y).collect();
            for (side, signal) in sides.iter_mut().zip([&ml, &dl, &bl]) {
                let input = [signal.as_slice(), signal.as_slice()];
                let out = side.process(&input, transport);
                assert!(passes_through(&out, &input));
            }
            previous_end = Some(pos + frames);
            frames_done += frames as usize;
            pace(started, frames_done, RATE, 4.0);
        }
        stop(sides, previous_end.unwrap(), 64);
        // Then a host that sends no transport at all for 3.5 s.
        for i in 0..(3.5 * RATE) as usize / BLOCK {
            let pos = (i * BLOCK) as i64;
            let dl: Vec<f32> = (pos..pos + BLOCK as i64).map(|p| at(&d, p)).collect();
            let bl: Vec<f32> = (pos..pos + BLOCK as i64).map(|p| at(&b, p)).collect();
            let ml: Vec<f32> = dl.iter().zip(&bl).map(|(x, y)| x + y).collect();
            for (side, signal) in sides.iter_mut().zip([&ml, &dl, &bl]) {
                let input = [signal.as_slice(), signal.as_slice()];
                let out = side.process(&input, Transport::None);
                assert!(passes_through(&out, &input));
            }
            frames_done += BLOCK;
            pace(started, frames_done, RATE, 4.0);
        }
    });

    // Runs longer than 3 s are reported: the pre-roll run, the run after the stop, the run
    // after the jump, the run from the last loop wrap, and the transport-less run (which ends
    // when its audio stalls).
    let report_count = 5;
    let report = wait_for_report("C", report_count);
    assert_eq!(report.run.ended_by, "stalled", "{:?}", report.run);
    let reports = reports_for_group("C");
    let starts: Vec<i64> = reports.iter().map(|r| r.run.start_samples).collect();
    assert_eq!(
        &starts[..4],
        &[-second, stop_at, 20 * second, 30 * second],
        "{:?}",
        reports.iter().map(|r| &r.run).collect::<Vec<_>>()
    );
    for report in &reports {
        // Pre-jump audio never mixes into a run: every run nulls to the sample.
        assert!(
            report.group.null_residual_db.unwrap() < ALIGNED_NULL_DB,
            "run {:?}: {:?}",
            report.run,
            report.group.null_residual_db
        );
        assert_eq!(
            report.report.verdict,
            Verdict::Nulls,
            "{:#?}",
            flagged(report)
        );
    }
}
