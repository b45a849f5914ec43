//! The `stemcheck` binary on generated stem sets written as real WAV files: exit codes and JSON
//! findings against known, injected defects.

use std::path::{Path, PathBuf};
use std::process::Command;

use stemcheck_testkit::process::{Compressor, delay_samples};
use stemcheck_testkit::{Song, Stereo, render_song, sum};

const RATE: u32 = 48_000;

/// A 6-second song that ends properly (faded, then silent), as a finished export does.
fn song() -> Song {
    render_song(11, RATE as f32, 6.0).with_ending(1.0, 0.3)
}

use stemcheck_testkit::wav::WavFormat as Format;

fn write_wav(path: &Path, audio: &Stereo, rate: u32, format: Format) {
    stemcheck_testkit::wav::write_wav(path, audio, rate, format).unwrap();
}

/// Writes `Song_<Stem>.wav` for each stem and `Song_Mix.wav`.
fn write_set(dir: &Path, stems: &[(&str, &Stereo)], mix: &Stereo) {
    for (name, audio) in stems {
        write_wav(
            &dir.join(format!("Song_{name}.wav")),
            audio,
            RATE,
            Format::Int24,
        );
    }
    write_wav(&dir.join("Song_Mix.wav"), mix, RATE, Format::Int24);
}

struct Run {
    code: i32,
    json: serde_json::Value,
    stderr: String,
    stdout: String,
}

impl Run {
    fn kinds(&self) -> Vec<(String, String, Vec<String>)> {
        self.json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["kind"].as_str().unwrap().to_string(),
                    f["severity"].as_str().unwrap().to_string(),
                    f["stems"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s.as_str().unwrap().to_string())
                        .collect(),
                )
            })
            .collect()
    }

    fn problems(&self) -> Vec<(String, Vec<String>)> {
        self.kinds()
            .into_iter()
            .filter(|k| k.1 != "info")
            .map(|k| (k.0, k.2))
            .collect()
    }

    fn has(&self, kind: &str, stem: Option<&str>) -> bool {
        self.kinds()
            .iter()
            .any(|k| k.0 == kind && stem.is_none_or(|s| k.2.iter().any(|x| x == s)))
    }
}

fn stemcheck(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_stemcheck"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    Run {
        code: out.status.code().unwrap_or(-1),
        json,
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        stdout,
    }
}

fn check_dir(dir: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["check", dir.to_str().unwrap(), "--json", "-", "--quiet"];
    args.extend_from_slice(extra);
    stemcheck(&args)
}

fn stems_of(song: &Song) -> Vec<(&'static str, &Stereo)> {
    song.stems.iter().map(|s| (s.name, &s.audio)).collect()
}

#[test]
fn a_clean_delivery_is_deliverable() {
    let dir = tempfile::tempdir().unwrap();
    let song = song();
    write_set(dir.path(), &stems_of(&song), &song.master());
    let run = check_dir(dir.path(), &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, run.stdout);
    assert_eq!(run.json["verdict"], "nulls");
    assert_eq!(run.json["schema"], 1);
    assert!(run.problems().is_empty(), "{:?}", run.kinds());
    let files = run.json["files"].as_array().unwrap();
    assert_eq!(files.len(), 6);
    let drums = files.iter().find(|f| f["stem"] == "Drums").unwrap();
    assert_eq!(drums["role"], "stem");
    assert_eq!(drums["sample_rate_hz"], 48_000);
    assert_eq!(drums["bit_depth"], 24);
    assert_eq!(drums["channels"], 2);
    assert_eq!(drums["length_samples"], song.len() as u64);
    assert!(drums["peak_dbfs"].as_f64().unwrap() < 0.0);
    let mix = files.iter().find(|f| f["role"] == "mix").unwrap();
    assert!(mix["path"].as_str().unwrap().ends_with("Song_Mix.wav"));
}

#[test]
fn injected_defects_are_found_and_attributed() {
    let song = song();
    let master = song.master();
    let inverted: Stereo = [
        song.stem("Bass").audio[0].iter().map(|x| -x).collect(),
        song.stem("Bass").audio[1].iter().map(|x| -x).collect(),
    ];
    let late = delay_samples(&song.stem("Lead").audio, 240);
    // (label, stems, expected kind, expected stem)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a Stereo)>, &'a str, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            "polarity",
            stems_of(&song)
                .into_iter()
                .map(|(n, a)| if n == "Bass" { (n, &inverted) } else { (n, a) })
                .collect(),
            "stem-polarity",
            "Bass",
        ),
        (
            "offset",
            stems_of(&song)
                .into_iter()
                .map(|(n, a)| if n == "Lead" { (n, &late) } else { (n, a) })
                .collect(),
            "stem-offset",
            "Lead",
        ),
    ];
    for (label, stems, kind, stem) in cases {
        let dir = tempfile::tempdir().unwrap();
        write_set(dir.path(), &stems, &master);
        let run = check_dir(dir.path(), &[]);
        assert_eq!(run.code, 1, "{label}: {}", run.stderr);
        assert!(run.has(kind, Some(stem)), "{label}: {:?}", run.kinds());
        assert_eq!(run.json["verdict"], "fails");
    }
}

#[test]
fn a_missing_reverb_return_and_a_compressed_master_are_named() {
    let song = song();
    // The FX return is in the mix but not delivered.
    let dir = tempfile::tempdir().unwrap();
    let stems: Vec<(&str, &Stereo)> = stems_of(&song)
        .into_iter()
        .filter(|(n, _)| *n != "FX")
        .collect();
    write_set(dir.path(), &stems, &song.master());
    let run = check_dir(dir.path(), &[]);
    assert_eq!(run.code, 1);
    assert!(run.has("missing-fx-return", None), "{:?}", run.kinds());

    // The mix went through a compressor the stems did not.
    let dir = tempfile::tempdir().unwrap();
    let comp = Compressor {
        threshold_db: -14.0,
        ratio: 3.0,
        attack_ms: 5.0,
        release_ms: 80.0,
    };
    let (compressed, _) = comp.process(&song.master(), RATE as f32);
    write_set(dir.path(), &stems_of(&song), &compressed);
    let run = check_dir(dir.path(), &[]);
    assert_eq!(run.code, 1);
    assert!(run.has("master-bus-dynamics", None), "{:?}", run.kinds());
}

#[test]
fn a_cut_tail_and_a_short_stem_are_reported_in_samples() {
    let song = song();
    let dir = tempfile::tempdir().unwrap();
    // Cut inside the sounding part (the song fades over its last 1.3 s).
    let cut = 96_000;
    let fx = &song.stem("FX").audio;
    let short: Stereo = [
        fx[0][..fx[0].len() - cut].to_vec(),
        fx[1][..fx[1].len() - cut].to_vec(),
    ];
    let stems: Vec<(&str, &Stereo)> = stems_of(&song)
        .into_iter()
        .map(|(n, a)| if n == "FX" { (n, &short) } else { (n, a) })
        .collect();
    write_set(dir.path(), &stems, &song.master());
    let run = check_dir(dir.path(), &[]);
    let length = run.json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "length-mismatch")
        .unwrap();
    assert_eq!(length["value"], -(cut as f64));
    assert_eq!(length["stems"][0], "FX");
    assert!(run.has("tail-cut", Some("FX")), "{:?}", run.kinds());
}

#[test]
fn a_stem_at_another_sample_rate_is_a_mismatch_not_a_crash() {
    let song = song();
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), &stems_of(&song), &song.master());
    write_wav(
        &dir.path().join("Song_Bass.wav"),
        &song.stem("Bass").audio,
        44_100,
        Format::Int24,
    );
    let run = check_dir(dir.path(), &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.has("format-mismatch", Some("Bass")),
        "{:?}",
        run.kinds()
    );
}

#[test]
fn formats_are_compared_and_profiles_enforced() {
    let song = song();
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), &stems_of(&song), &song.master());
    write_wav(
        &dir.path().join("Song_Drums.wav"),
        &song.stem("Drums").audio,
        RATE,
        Format::Float32,
    );
    let run = check_dir(dir.path(), &["--profile", "sync"]);
    assert!(
        run.has("format-mismatch", Some("Drums")),
        "{:?}",
        run.kinds()
    );
    assert_eq!(run.code, 1);
    // 16-bit everything: consistent, but not what the sync profile asks for.
    let dir = tempfile::tempdir().unwrap();
    for s in &song.stems {
        write_wav(
            &dir.path().join(format!("Song_{}.wav", s.name)),
            &s.audio,
            RATE,
            Format::Int16,
        );
    }
    write_wav(
        &dir.path().join("Song_Mix.wav"),
        &song.master(),
        RATE,
        Format::Int16,
    );
    assert!(!check_dir(dir.path(), &[]).has("format-mismatch", None));
    assert!(check_dir(dir.path(), &["--profile", "sync"]).has("format-mismatch", None));
}

#[test]
fn bad_names_are_reported() {
    let song = song();
    let dir = tempfile::tempdir().unwrap();
    let names = [
        "Song_Drums_FINAL",
        "Audio_27",
        "Song_Harmony",
        "Song_Lead v2",
        "Other_FX",
    ];
    for (s, name) in song.stems.iter().zip(names) {
        write_wav(
            &dir.path().join(format!("{name}.wav")),
            &s.audio,
            RATE,
            Format::Int24,
        );
    }
    write_wav(
        &dir.path().join("Song_Mix.wav"),
        &song.master(),
        RATE,
        Format::Int24,
    );
    let run = check_dir(dir.path(), &["--fail-on", "warning"]);
    let naming = run.kinds().into_iter().filter(|k| k.0 == "naming").count();
    assert!(naming >= 4, "{:?}", run.kinds());
    assert_eq!(run.code, 1);
}

#[test]
fn twenty_five_multitracks_are_not_stems() {
    let song = song();
    let dir = tempfile::tempdir().unwrap();
    let mut parts = Vec::new();
    for i in 0..25 {
        let s = &song.stems[i % 5].audio;
        let part: Stereo = [
            s[0].iter().map(|x| x / 5.0).collect(),
            s[1].iter().map(|x| x / 5.0).collect(),
        ];
        parts.push(part);
    }
    for (i, part) in parts.iter().enumerate() {
        write_wav(
            &dir.path().join(format!("Song_Track{i:02}.wav")),
            part,
            RATE,
            Format::Float32,
        );
    }
    let refs: Vec<&Stereo> = parts.iter().collect();
    write_wav(
        &dir.path().join("Song_Mix.wav"),
        &sum(&refs),
        RATE,
        Format::Float32,
    );
    let run = check_dir(dir.path(), &[]);
    let count = run.json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "stem-count")
        .unwrap();
    assert_eq!(count["value"], 25.0);
    assert_eq!(count["severity"], "warning");
}

#[test]
fn corrupt_and_missing_input_exit_2_naming_the_file_and_leave_no_output() {
    let song = song();
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), &stems_of(&song), &song.master());
    let bad = dir.path().join("Song_Keys.wav");
    std::fs::write(&bad, b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk").unwrap();
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("report.json");
    let run = stemcheck(&[
        "check",
        dir.path().to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("Song_Keys.wav"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    assert!(!json.exists());
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "no temporary file left"
    );

    let run = stemcheck(&["check", "/nonexistent/folder"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("/nonexistent/folder"));

    let no_mix = tempfile::tempdir().unwrap();
    write_wav(
        &no_mix.path().join("Song_Drums.wav"),
        &song.stems[0].audio,
        RATE,
        Format::Int24,
    );
    write_wav(
        &no_mix.path().join("Song_Bass.wav"),
        &song.stems[1].audio,
        RATE,
        Format::Int24,
    );
    let run = stemcheck(&["check", no_mix.path().to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no mix"), "{}", run.stderr);
}

#[test]
fn help_usage_and_outputs() {
    let help = stemcheck(&["--help"]);
    assert_eq!(help.code, 0);
    let check_help = stemcheck(&["check", "--help"]);
    assert_eq!(check_help.code, 0);
    assert!(check_help.stdout.contains("--fail-on"));
    assert_eq!(stemcheck(&["check"]).code, 2);
    assert_eq!(stemcheck(&["bogus"]).code, 2);

    let song = song();
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), &stems_of(&song), &song.master());
    let out = tempfile::tempdir().unwrap();
    let md = out.path().join("report.md");
    let png = out.path().join("spectra.png");
    let json = out.path().join("report.json");
    let mix = dir.path().join("Song_Mix.wav");
    let stems: Vec<PathBuf> = song
        .stems
        .iter()
        .map(|s| dir.path().join(format!("Song_{}.wav", s.name)))
        .collect();
    let mut args: Vec<String> = vec!["check".into()];
    args.extend(stems.iter().map(|p| p.display().to_string()));
    args.extend([
        "--mix".into(),
        mix.display().to_string(),
        "--markdown".into(),
        md.display().to_string(),
        "--json".into(),
        json.display().to_string(),
        "--plot".into(),
        png.display().to_string(),
    ]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = stemcheck(&refs);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("DELIVERABLE"), "{}", run.stdout);
    assert!(
        !run.stdout.contains('\x1b'),
        "no colours when not a terminal"
    );
    assert!(
        std::fs::read_to_string(&md)
            .unwrap()
            .contains("Verdict: nulls")
    );
    let parsed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(parsed["verdict"], "nulls");
}

#[test]
fn the_plot_has_the_residual_over_time_with_the_reports_time_ranges() {
    // A 10-second song whose Keys stem is muted from 4.0 s to 6.5 s (the mix still has it): the
    // report places a finding there, and the plot marks what the report says.
    let song = render_song(11, RATE as f32, 10.0).with_ending(1.0, 0.3);
    let (from, to) = (4 * RATE as usize, 13 * RATE as usize / 2);
    let mut stems: Vec<(&str, Stereo)> = song
        .stems
        .iter()
        .map(|s| (s.name, s.audio.clone()))
        .collect();
    let muted = stems
        .iter_mut()
        .max_by(|a, b| {
            let energy = |x: &Stereo| x[0][from..to].iter().map(|v| v * v).sum::<f32>();
            energy(&a.1).total_cmp(&energy(&b.1))
        })
        .unwrap();
    for channel in muted.1.iter_mut() {
        channel[from..to].fill(0.0);
    }
    let muted_name = muted.0.to_string();
    let dir = tempfile::tempdir().unwrap();
    let refs: Vec<(&str, &Stereo)> = stems.iter().map(|(n, a)| (*n, a)).collect();
    write_set(dir.path(), &refs, &song.master());
    let out = tempfile::tempdir().unwrap();
    let png = out.path().join("plot.png");
    let run = check_dir(dir.path(), &["--plot", png.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report: stemcheck_report::Report = serde_json::from_value(run.json.clone()).unwrap();
    let ranges = stemcheck_cli::plot::marked_ranges(&report);
    assert!(!ranges.is_empty(), "{:?}", run.kinds());
    // The ranges drawn are the report's: the mute, on the muted stem, within 50 ms.
    let mute = ranges
        .iter()
        .find(|r| r.label.contains(&muted_name))
        .unwrap_or_else(|| panic!("{ranges:?}"));
    assert!((mute.start_s - 4.0).abs() < 0.05, "{mute:?}");
    assert!((mute.end_s - 6.5).abs() < 0.05, "{mute:?}");
    // Three panels: the spectra, the transfer function and the residual over time.
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    let at = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    assert_eq!(
        (at(16), at(20)),
        (
            stemcheck_cli::plot::WIDTH_PX,
            stemcheck_cli::plot::HEIGHT_WITH_TIME_PX
        )
    );
}
