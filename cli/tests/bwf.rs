//! BWF timecode: the checker reads every file's `bext` time reference (and iXML timecode rate
//! and track names). Written by the test (hound cannot write `bext`: the chunk is inserted before
//! the audio): equal references pass, a stem stamped 2 s after the mix is named in timecode and
//! samples, a delivery where one file has no reference is named.

use std::path::Path;
use std::process::Command;

use stemcheck_testkit::wav::WavFormat as Format;
use stemcheck_testkit::{Song, render_song};

const RATE: u32 = 48_000;
/// 01:00:00:00 in samples at 48 kHz: 3600 s * 48,000.
const ONE_HOUR_SAMPLES: u64 = 172_800_000;
/// Where the time reference sits in a `bext` chunk, in bytes (EBU Tech 3285).
const TIME_REFERENCE_OFFSET: usize = 338;

fn song() -> Song {
    render_song(5, RATE as f32, 4.0).with_ending(1.0, 0.3)
}

/// Inserts a `bext` chunk stamped `time_reference` (and an iXML chunk when given) before the
/// `data` chunk of the WAV file at `path`.
fn stamp(path: &Path, time_reference: u64, ixml: Option<&str>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[0..4], b"RIFF");
    let mut pos = 12;
    while &bytes[pos..pos + 4] != b"data" {
        let size = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        pos += 8 + size + (size & 1);
    }
    let mut chunks = Vec::new();
    let mut bext = vec![0u8; 602];
    bext[..10].copy_from_slice(b"stemcheck ");
    bext[TIME_REFERENCE_OFFSET..TIME_REFERENCE_OFFSET + 8]
        .copy_from_slice(&time_reference.to_le_bytes());
    for (id, body) in [
        (b"bext", bext),
        (b"iXML", ixml.unwrap_or("").as_bytes().to_vec()),
    ] {
        if id == b"iXML" && ixml.is_none() {
            continue;
        }
        chunks.extend_from_slice(id);
        chunks.extend_from_slice(&(body.len() as u32).to_le_bytes());
        chunks.extend_from_slice(&body);
        if body.len() % 2 == 1 {
            chunks.push(0);
        }
    }
    let mut out = bytes[..pos].to_vec();
    out.extend_from_slice(&chunks);
    out.extend_from_slice(&bytes[pos..]);
    let riff_size = (out.len() - 8) as u32;
    out[4..8].copy_from_slice(&riff_size.to_le_bytes());
    std::fs::write(path, out).unwrap();
}

/// Writes the song's stems and mix, each stamped as `reference` says (`None`: no `bext`).
fn write(dir: &Path, song: &Song, reference: impl Fn(&str) -> Option<u64>, ixml: Option<&str>) {
    let mut files: Vec<(String, &stemcheck_testkit::Stereo)> = song
        .stems
        .iter()
        .map(|s| (s.name.to_string(), &s.audio))
        .collect();
    let master = song.master();
    files.push(("Mix".into(), &master));
    for (name, audio) in files {
        let path = dir.join(format!("Cue_{name}.wav"));
        stemcheck_testkit::wav::write_wav(&path, audio, RATE, Format::Int24).unwrap();
        if let Some(r) = reference(&name) {
            stamp(&path, r, ixml);
        }
    }
}

/// A finding as (kind, severity, stems, value, message).
type Found = (String, String, Vec<String>, f64, String);

/// Runs the check; the exit code and the findings.
fn check(dir: &Path) -> (i32, Vec<Found>) {
    let out = Command::new(env!("CARGO_BIN_EXE_stemcheck"))
        .args(["check", dir.to_str().unwrap(), "--json", "-", "--quiet"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let findings = json["findings"]
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
                f["value"].as_f64().unwrap_or(f64::NAN),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (out.status.code().unwrap_or(-1), findings)
}

#[test]
fn equal_time_references_pass() {
    let song = song();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &song, |_| Some(ONE_HOUR_SAMPLES), None);
    let (code, findings) = check(dir.path());
    assert_eq!(code, 0, "{findings:?}");
    assert!(
        findings
            .iter()
            .all(|f| f.0 != "stem-start-offset" && f.0 != "format-mismatch"),
        "{findings:?}"
    );
}

#[test]
fn a_stem_stamped_later_than_the_mix_is_named_in_timecode_and_samples() {
    let song = song();
    let dir = tempfile::tempdir().unwrap();
    // Bass stamped 2 s (96,000 samples) after the mix; the audio itself is in place. The iXML
    // says 25 fps.
    let ixml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><BWFXML><IXML_VERSION>1.5</IXML_VERSION><SPEED><TIMECODE_RATE>25/1</TIMECODE_RATE><TIMECODE_FLAG>NDF</TIMECODE_FLAG></SPEED><TRACK_LIST><TRACK_COUNT>1</TRACK_COUNT><TRACK><CHANNEL_INDEX>1</CHANNEL_INDEX><NAME>STEREO</NAME></TRACK></TRACK_LIST></BWFXML>";
    write(
        dir.path(),
        &song,
        |name| Some(ONE_HOUR_SAMPLES + if name == "Bass" { 96_000 } else { 0 }),
        Some(ixml),
    );
    let (code, findings) = check(dir.path());
    assert_eq!(code, 1, "{findings:?}");
    let offsets: Vec<_> = findings
        .iter()
        .filter(|f| f.0 == "stem-start-offset")
        .collect();
    assert_eq!(offsets.len(), 1, "{findings:?}");
    let (_, severity, stems, value, message) = offsets[0];
    assert_eq!(
        (severity.as_str(), stems.as_slice()),
        ("error", &["Bass".to_string()][..])
    );
    // Late: negative, in ms (2 s).
    assert_eq!(*value, -2000.0);
    assert!(
        message.contains("01:00:02:00")
            && message.contains("01:00:00:00")
            && message.contains("96,000 samples")
            && message.contains("late")
            && message.contains("25 fps")
            && message.contains("STEREO"),
        "{message}"
    );
    // The audio nulls: nothing else is wrong.
    assert!(
        findings
            .iter()
            .all(|f| f.1 == "info" || f.0 == "stem-start-offset"),
        "{findings:?}"
    );
}

#[test]
fn a_file_without_a_time_reference_in_a_stamped_delivery_is_named() {
    let song = song();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &song,
        |name| (name != "Drums").then_some(ONE_HOUR_SAMPLES),
        None,
    );
    let (code, findings) = check(dir.path());
    assert_eq!(code, 0, "a warning: {findings:?}");
    let named: Vec<_> = findings
        .iter()
        .filter(|f| f.0 == "format-mismatch")
        .collect();
    assert_eq!(named.len(), 1, "{findings:?}");
    assert_eq!(named[0].2, ["Drums"]);
    assert!(
        named[0].4.contains("no BWF time reference") && named[0].4.contains("other 5 files"),
        "{}",
        named[0].4
    );
    // Without the time references' rate, the default is stated.
    assert!(findings.iter().all(|f| f.0 != "stem-start-offset"));
}

#[test]
fn a_stem_stamped_where_its_audio_starts_lines_up_by_timecode() {
    // Drums exported from its first region: its file lacks the song's first 150,001 samples
    // (3.125 s) and is stamped that much after the mix, as a DAW does. By its audio it starts
    // early in its file; by timecode it is placed right: information, not an error.
    let song = render_song(11, RATE as f32, 10.0).with_ending(1.0, 0.3);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &song, |_| Some(ONE_HOUR_SAMPLES), None);
    let drums = &song.stem("Drums").audio;
    let cut: stemcheck_testkit::Stereo =
        [drums[0][150_001..].to_vec(), drums[1][150_001..].to_vec()];
    let path = dir.path().join("Cue_Drums.wav");
    stemcheck_testkit::wav::write_wav(&path, &cut, RATE, Format::Int24).unwrap();
    stamp(&path, ONE_HOUR_SAMPLES + 150_001, None);
    let (_, findings) = check(dir.path());
    let start: Vec<_> = findings
        .iter()
        .filter(|f| f.0 == "stem-start-offset")
        .collect();
    assert_eq!(start.len(), 1, "{findings:?}");
    let (_, severity, stems, value, message) = start[0];
    assert_eq!(
        (severity.as_str(), stems.as_slice()),
        ("info", &["Drums".to_string()][..])
    );
    // The audio's offset, to the sample, is kept (the difference stem lines Drums up by it).
    assert_eq!(*value, 150_001.0);
    assert!(
        message.contains("01:00:03:03")
            && message.contains("150,001 samples")
            && message.contains("lines up with the mix"),
        "{message}"
    );
}
