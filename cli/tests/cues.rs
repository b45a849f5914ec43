//! Many cues at once: a folder of ten generated cues, one with a truncated file and one with a
//! stem inverted in its mix, checked with `--each` and as several folders (`Album/*/`). The
//! lines (one per cue, in order), the summary counts, the exit code (the worst: 2) and the JSON
//! lines (one per cue, each parsing) must be right.

use std::path::{Path, PathBuf};
use std::process::Command;

use stemcheck_testkit::wav::WavFormat as Format;
use stemcheck_testkit::{Stereo, render_song};

const RATE: u32 = 48_000;
const CUES: usize = 10;
/// The cue whose mix file is cut in half.
const BROKEN: usize = 3;
/// The cue whose Bass is inverted in the mix.
const DEFECT: usize = 6;

fn cue_name(i: usize) -> String {
    format!("Cue{:02}", i + 1)
}

/// Writes the ten cues under `album`.
fn write_album(album: &Path) {
    let song = render_song(11, RATE as f32, 4.0).with_ending(1.0, 0.3);
    let clean = song.master();
    let inverted_bass: Stereo = {
        let mut m = clean.clone();
        let bass = &song.stem("Bass").audio;
        for c in 0..2 {
            for (x, b) in m[c].iter_mut().zip(&bass[c]) {
                *x -= 2.0 * b;
            }
        }
        m
    };
    for i in 0..CUES {
        let name = cue_name(i);
        let dir = album.join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        for stem in &song.stems {
            let path = dir.join(format!("{name}_{}.wav", stem.name));
            stemcheck_testkit::wav::write_wav(&path, &stem.audio, RATE, Format::Int24).unwrap();
        }
        let mix_path = dir.join(format!("{name}_Mix.wav"));
        let mix = if i == DEFECT { &inverted_bass } else { &clean };
        stemcheck_testkit::wav::write_wav(&mix_path, mix, RATE, Format::Int24).unwrap();
        if i == BROKEN {
            let bytes = std::fs::read(&mix_path).unwrap();
            std::fs::write(&mix_path, &bytes[..bytes.len() / 2]).unwrap();
        }
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn stemcheck(args: &[String]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_stemcheck"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

/// The summary's counts by column name.
fn summary(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim_start().starts_with("cues"))
        .unwrap_or_else(|| panic!("no summary in:\n{text}"));
    lines[at]
        .split_whitespace()
        .zip(lines[at + 1].split_whitespace())
        .map(|(name, n)| (name.to_string(), n.parse().unwrap()))
        .collect()
}

#[test]
fn every_cue_of_an_album_is_checked_and_summed_up() {
    let album = tempfile::tempdir().unwrap();
    write_album(album.path());
    let run = stemcheck(&[
        "check".into(),
        "--each".into(),
        album.path().display().to_string(),
    ]);
    assert_eq!(run.code, 2, "the worst: an unreadable cue\n{}", run.stdout);

    // One line per cue, in order, each saying what it came to.
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("Cue"))
        .collect();
    assert_eq!(lines.len(), CUES, "{}", run.stdout);
    for (i, line) in lines.iter().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[0], cue_name(i), "{line}");
        let expected = match i {
            BROKEN => "UNREADABLE",
            DEFECT => "FAILS",
            _ => "DELIVERABLE",
        };
        assert_eq!(words[1], expected, "{line}");
    }
    assert!(
        lines[BROKEN].contains("Cue04_Mix.wav") && lines[BROKEN].contains("truncated"),
        "{}",
        lines[BROKEN]
    );
    assert!(
        lines[DEFECT].contains("stem-polarity (Bass)"),
        "{}",
        lines[DEFECT]
    );

    let counts = summary(&run.stdout);
    assert_eq!(
        counts,
        [
            ("cues".to_string(), CUES),
            ("deliverable".into(), CUES - 2),
            ("check".into(), 0),
            ("fails".into(), 1),
            ("not-enough-audio".into(), 0),
            ("unreadable".into(), 1),
        ]
    );
}

#[test]
fn several_folders_give_json_lines_one_report_per_cue() {
    let album = tempfile::tempdir().unwrap();
    write_album(album.path());
    let folders: Vec<PathBuf> = (0..CUES).map(|i| album.path().join(cue_name(i))).collect();
    let mut args: Vec<String> = vec!["check".into(), "--json".into(), "-".into()];
    args.extend(folders.iter().map(|f| f.display().to_string()));
    let run = stemcheck(&args);
    assert_eq!(run.code, 2, "{}", run.stderr);

    // Standard output holds the JSON lines only (the text went to standard error).
    let lines: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), CUES);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["cue"], folders[i].display().to_string());
        match i {
            BROKEN => assert!(
                line["error"].as_str().unwrap().contains("truncated"),
                "{line}"
            ),
            DEFECT => {
                assert_eq!(line["verdict"], "fails");
                assert!(
                    line["findings"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|f| f["kind"] == "stem-polarity" && f["stems"][0] == "Bass"),
                    "{line}"
                );
            }
            _ => assert_eq!(line["verdict"], "nulls", "{}", line["findings"]),
        }
    }
    assert_eq!(summary(&run.stderr)[0], ("cues".to_string(), CUES));
}

#[test]
fn only_findings_exit_with_one_and_a_clean_album_with_zero() {
    let album = tempfile::tempdir().unwrap();
    write_album(album.path());
    std::fs::remove_dir_all(album.path().join(cue_name(BROKEN))).unwrap();
    let each = |extra: &[&str]| {
        let mut args: Vec<String> = vec![
            "check".into(),
            "--quiet".into(),
            "--each".into(),
            album.path().display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        stemcheck(&args).code
    };
    assert_eq!(each(&[]), 1);
    std::fs::remove_dir_all(album.path().join(cue_name(DEFECT))).unwrap();
    assert_eq!(each(&[]), 0);
    // A folder with no subfolders is a usage error.
    let empty = tempfile::tempdir().unwrap();
    let run = stemcheck(&[
        "check".into(),
        "--each".into(),
        empty.path().display().to_string(),
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no subfolders"), "{}", run.stderr);
}
