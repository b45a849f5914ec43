//! Same engine, same verdicts: one stem set with a known defect goes through the plugin in a
//! real CLAP host (live) and through the file checker (exported WAVs); both must name the same
//! problems on the same stems.

use std::time::Duration;

use stemcheck_analysis::Severity;
use stemcheck_host_tests::*;
use stemcheck_testkit::process::delay_samples;
use stemcheck_testkit::{Stereo, quantize_24bit, render_song, sum};

const RATE: u32 = 48_000;

fn write_wav(path: &std::path::Path, audio: &Stereo) {
    stemcheck_testkit::wav::write_wav(path, audio, RATE, stemcheck_testkit::wav::WavFormat::Int24)
        .unwrap();
}

#[test]
fn the_plugin_and_the_checker_name_the_same_problems() {
    let song = render_song(21, RATE as f32, 6.0).with_ending(1.0, 0.3);
    // The defect: the Harmony stem exported 120 samples late, and the Lead 2 dB hot in the mix.
    let master = {
        let lead = stemcheck_testkit::gain_db(&song.stem("Lead").audio, 2.0);
        let others: Vec<&Stereo> = song
            .stems
            .iter()
            .filter(|s| s.name != "Lead")
            .map(|s| &s.audio)
            .collect();
        quantize_24bit(&sum(&[others, vec![&lead]].concat()))
    };
    let stems: Vec<(&str, Stereo)> = song
        .stems
        .iter()
        .map(|s| {
            let audio = if s.name == "Harmony" {
                delay_samples(&s.audio, 120)
            } else {
                s.audio.clone()
            };
            (s.name, quantize_24bit(&audio))
        })
        .collect();

    // The checker, on exported files.
    let dir = std::env::temp_dir().join(format!("stemcheck-same-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, audio) in &stems {
        write_wav(&dir.join(format!("Song_{name}.wav")), audio);
    }
    write_wav(&dir.join("Song_Mix.wav"), &master);
    let inputs = stemcheck_cli::inputs::discover(std::slice::from_ref(&dir), None).unwrap();
    let spec = stemcheck_cli::profile::Profile::Default.spec();
    let offline = stemcheck_cli::check::check(&inputs, &spec, vec![], false).unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    // The plugin, live: one instance per stem and one on the master, group D.
    let mut instances: Vec<Instance> = std::iter::once("Master")
        .chain(stems.iter().map(|(n, _)| *n))
        .map(|n| Instance::new(n, 2))
        .collect();
    let _ = report_dir();
    for instance in instances.iter_mut() {
        instance.configure("e", "auto", "");
        instance.activate(f64::from(RATE), 512);
    }
    let total = song.len();
    let mut refs: Vec<&mut Instance> = instances.iter_mut().collect();
    run_audio(&mut refs, |sides| {
        let mut pos = 0;
        while pos < total {
            let n = 512.min(total - pos);
            for (index, side) in sides.iter_mut().enumerate() {
                let audio = if index == 0 {
                    &master
                } else {
                    &stems[index - 1].1
                };
                side.process(
                    &[&audio[0][pos..pos + n], &audio[1][pos..pos + n]],
                    Transport::Playing(pos as i64),
                );
            }
            pos += n;
            // About 4x real time.
            std::thread::sleep(Duration::from_secs_f64(n as f64 / f64::from(RATE) / 4.0));
        }
        stemcheck_host_tests::support::stop(sides, total as i64, 64);
    });
    let live = stemcheck_host_tests::support::wait_for_report("E", 1);

    let problems = |findings: &[stemcheck_analysis::Finding]| {
        let mut p: Vec<(String, Vec<String>)> = findings
            .iter()
            .filter(|f| f.severity >= Severity::Warning)
            // File-level checks have no live counterpart.
            .filter(|f| {
                !matches!(
                    f.kind.name(),
                    "length-mismatch" | "format-mismatch" | "naming" | "tail-cut" | "fake-stereo"
                )
            })
            .map(|f| (f.kind.name().to_string(), f.stems.clone()))
            .collect();
        p.sort();
        p
    };
    let offline_problems = problems(&offline.findings);
    let live_problems = problems(&live.report.findings);
    assert_eq!(
        live_problems, offline_problems,
        "live {:#?}\noffline {:#?}",
        live.report.findings, offline.findings
    );
    assert!(
        offline_problems.contains(&("stem-offset".into(), vec!["Harmony".into()])),
        "{offline_problems:?}"
    );
    assert!(
        offline_problems.contains(&("stem-gain".into(), vec!["Lead".into()])),
        "{offline_problems:?}"
    );
    // And the measured values agree.
    let value = |findings: &[stemcheck_analysis::Finding], kind: &str| {
        findings
            .iter()
            .find(|f| f.kind.name() == kind)
            .map(|f| f.value)
            .unwrap()
    };
    assert!(
        (value(&live.report.findings, "stem-gain") - value(&offline.findings, "stem-gain")).abs()
            < 0.05
    );
    assert_eq!(
        value(&live.report.findings, "stem-offset").round(),
        value(&offline.findings, "stem-offset").round()
    );
}
