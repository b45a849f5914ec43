//! The checker on surround deliveries (issue 13): every channel of a 5.1 or 7.1 delivery is
//! compared, and a defect on one channel is named on that channel. The material is generated
//! here (seeded): each channel of each stem different music from the test kit's song, the LFE
//! a low-passed bass carried by the Bass stem only; 24-bit WAVE_FORMAT_EXTENSIBLE files written
//! with hound (channel mask 0x3F for 5.1; the 7.1 files get the WAV 7.1 mask 0x63F patched in).

use std::path::Path;
use std::process::Command;

use stemcheck_testkit::render_song;

const RATE: u32 = 48_000;
const SECONDS: f32 = 4.0;
const STEMS: [&str; 4] = ["Drums", "Bass", "Harmony", "Lead"];
/// The LFE's low-pass corner, in Hz.
const LFE_CORNER_HZ: f32 = 120.0;
/// A gain finding this close to the truth is right, in dB.
const GAIN_TOLERANCE_DB: f64 = 0.1;
/// An offset this close to the truth is the exact sample count, in samples.
const OFFSET_TOLERANCE_SAMPLES: f64 = 0.01;
/// The mix and each stem rounded to 24 bits apart: their difference is within this of the
/// truth, in 24-bit steps (half a step per file, five files).
const ROUNDING_LSB: i32 = 3;
/// The WAV 7.1 channel mask (L R C LFE, back pair, side pair).
const MASK_7_1: u32 = 0x63F;

/// One file's channels, planar.
type Planes = Vec<Vec<f32>>;

/// A one-pole low-pass at `corner_hz`.
fn low_pass(x: &[f32], corner_hz: f32) -> Vec<f32> {
    let a = 1.0 - (-2.0 * std::f32::consts::PI * corner_hz / RATE as f32).exp();
    let mut y = 0.0f32;
    x.iter()
        .map(|&v| {
            y += a * (v - y);
            y
        })
        .collect()
}

/// The stems of a delivery with `channels` (6: 5.1 L R C LFE Ls Rs; 8: 7.1 L R C LFE Lrs Rrs
/// Ls Rs), each channel pair from its own seeded song.
fn stems(channels: usize) -> Vec<(&'static str, Planes)> {
    let fronts = render_song(31, RATE as f32, SECONDS).with_ending(0.5, 0.2);
    let centres = render_song(32, RATE as f32, SECONDS).with_ending(0.5, 0.2);
    let surrounds = render_song(33, RATE as f32, SECONDS).with_ending(0.5, 0.2);
    let rears = render_song(34, RATE as f32, SECONDS).with_ending(0.5, 0.2);
    STEMS
        .iter()
        .map(|&name| {
            let front = &fronts.stem(name).audio;
            let centre = &centres.stem(name).audio;
            let surround = &surrounds.stem(name).audio;
            let rear = &rears.stem(name).audio;
            let lfe = if name == "Bass" {
                low_pass(&front[0], LFE_CORNER_HZ)
                    .iter()
                    .map(|x| 2.0 * x)
                    .collect()
            } else {
                vec![0.0; front[0].len()]
            };
            let mut planes = vec![front[0].clone(), front[1].clone(), centre[0].clone(), lfe];
            if channels == 8 {
                planes.extend([rear[0].clone(), rear[1].clone()]);
            }
            planes.extend([surround[0].clone(), surround[1].clone()]);
            (name, planes)
        })
        .collect()
}

/// The channel-wise sum.
fn mix_of(stems: &[(&str, Planes)]) -> Planes {
    let mut mix = stems[0].1.clone();
    for (_, planes) in &stems[1..] {
        for (m, p) in mix.iter_mut().zip(planes) {
            for (a, b) in m.iter_mut().zip(p) {
                *a += b;
            }
        }
    }
    mix
}

/// Writes `planes` as a 24-bit WAV file (WAVE_FORMAT_EXTENSIBLE for more than 2 channels).
fn write(path: &Path, planes: &Planes) {
    let spec = hound::WavSpec {
        channels: planes.len() as u16,
        sample_rate: RATE,
        bits_per_sample: 24,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..planes[0].len() {
        for p in planes {
            let x = (p[i].clamp(-1.0, 1.0) * 8_388_607.0).round() as i32;
            writer.write_sample(x).unwrap();
        }
    }
    writer.finalize().unwrap();
}

/// Replaces the channel mask of the WAVE_FORMAT_EXTENSIBLE file at `path`.
fn patch_mask(path: &Path, mask: u32) {
    let mut bytes = std::fs::read(path).unwrap();
    let fmt = bytes.windows(4).position(|w| w == b"fmt ").unwrap();
    let tag = u16::from_le_bytes([bytes[fmt + 8], bytes[fmt + 9]]);
    assert_eq!(tag, 0xFFFE, "hound wrote no extensible header");
    bytes[fmt + 8 + 20..fmt + 8 + 24].copy_from_slice(&mask.to_le_bytes());
    std::fs::write(path, bytes).unwrap();
}

/// Writes a delivery: the stems and the mix (`Song_Mix.wav`).
fn write_delivery(dir: &Path, stems: &[(&str, Planes)], mix: &Planes, mask: Option<u32>) {
    for (name, planes) in stems {
        let path = dir.join(format!("Song_{name}.wav"));
        write(&path, planes);
        if let Some(mask) = mask.filter(|_| planes.len() > 2) {
            patch_mask(&path, mask);
        }
    }
    let path = dir.join("Song_Mix.wav");
    write(&path, mix);
    if let Some(mask) = mask {
        patch_mask(&path, mask);
    }
}

/// A finding of the report.
#[derive(Debug)]
struct Row {
    kind: String,
    severity: String,
    stems: Vec<String>,
    channels: Vec<String>,
    value: f64,
    message: String,
}

struct Run {
    code: i32,
    json: serde_json::Value,
    stderr: String,
}

impl Run {
    fn rows(&self) -> Vec<Row> {
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let empty = Vec::new();
        let channels = self.json["finding_channels"]
            .as_array()
            .unwrap_or(&empty)
            .clone();
        self.json["findings"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .enumerate()
            .map(|(i, f)| Row {
                kind: f["kind"].as_str().unwrap_or_default().to_string(),
                severity: f["severity"].as_str().unwrap_or_default().to_string(),
                stems: strings(&f["stems"]),
                channels: channels.get(i).map(strings).unwrap_or_default(),
                value: f["value"].as_f64().unwrap_or(f64::NAN),
                message: f["message"].as_str().unwrap_or_default().to_string(),
            })
            .collect()
    }

    /// The findings of `kind`.
    fn of_kind(&self, kind: &str) -> Vec<Row> {
        self.rows().into_iter().filter(|r| r.kind == kind).collect()
    }

    /// Findings at warning or above.
    fn problems(&self) -> Vec<Row> {
        self.rows()
            .into_iter()
            .filter(|r| r.severity != "info")
            .collect()
    }

    /// (channel, residual dB, verdict) per channel.
    fn channels(&self) -> Vec<(String, f64, String)> {
        self.json["channels"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| {
                        (
                            c["name"].as_str().unwrap_or_default().to_string(),
                            c["residual_db"].as_f64().unwrap_or(f64::NAN),
                            c["verdict"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn check(dir: &Path) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_stemcheck"))
        .args(["check", dir.to_str().unwrap(), "--json", "-", "--quiet"])
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        json: serde_json::from_str(&String::from_utf8_lossy(&out.stdout))
            .unwrap_or(serde_json::Value::Null),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

const NAMES_5_1: [&str; 6] = ["L", "R", "C", "LFE", "Ls", "Rs"];
const CENTRE: usize = 2;
const LFE: usize = 3;

fn index_of(name: &str) -> usize {
    STEMS.iter().position(|s| *s == name).unwrap()
}

/// Inverts channel `channel` of the stem `name`.
fn invert(stems: &mut [(&str, Planes)], name: &str, channel: usize) {
    for x in &mut stems[index_of(name)].1[channel] {
        *x = -*x;
    }
}

#[test]
fn a_clean_5_1_delivery_nulls_on_every_channel() {
    let dir = tempfile::tempdir().unwrap();
    let stems = stems(6);
    write_delivery(dir.path(), &stems, &mix_of(&stems), None);
    let run = check(dir.path());
    assert_eq!(run.code, 0, "{} {:?}", run.stderr, run.rows());
    assert_eq!(run.json["verdict"], "nulls", "{:?}", run.rows());
    assert_eq!(run.json["layout"], "5.1");
    let channels = run.channels();
    let names: Vec<&str> = channels.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(names, NAMES_5_1);
    eprintln!("clean 5.1 residuals: {channels:?}");
    for (name, residual_db, verdict) in &channels {
        assert_eq!(verdict, "nulls", "{name}");
        // Stems and mix quantised to 24 bits apart: the residual is the 24-bit floor.
        assert!(*residual_db < -100.0, "{name}: {residual_db} dB");
    }
    assert!(run.problems().is_empty(), "{:?}", run.problems());
}

#[test]
fn the_inverted_centre_of_one_stem_is_named_on_the_centre_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut stems = stems(6);
    let mix = mix_of(&stems);
    invert(&mut stems, "Bass", CENTRE);
    write_delivery(dir.path(), &stems, &mix, None);
    let run = check(dir.path());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_ne!(run.json["verdict"], "nulls");
    let problems = run.problems();
    let polarity: Vec<&Row> = problems
        .iter()
        .filter(|r| r.kind == "stem-polarity")
        .collect();
    assert_eq!(polarity.len(), 1, "{problems:?}");
    assert_eq!(polarity[0].stems, ["Bass"]);
    assert_eq!(polarity[0].channels, ["C"]);
    assert!(polarity[0].message.contains("Centre (C) channel"));
    // Nothing on another channel or another stem.
    for r in &problems {
        assert_eq!(r.channels, ["C"], "{r:?}");
        assert!(r.stems.is_empty() || r.stems == ["Bass"], "{r:?}");
    }
    for (name, _, verdict) in run.channels() {
        assert_eq!(verdict == "nulls", name != "C", "{name}: {verdict}");
    }
}

#[test]
fn a_gain_on_one_channel_of_one_stem_is_measured_on_that_channel() {
    let dir = tempfile::tempdir().unwrap();
    let stems = stems(6);
    let truth_db = 3.0f64;
    // The mix has the Harmony's left surround 3 dB louder than the Harmony stem.
    let mut louder = stems.clone();
    let harmony = index_of("Harmony");
    let ls = 4;
    let g = 10f32.powf(truth_db as f32 / 20.0);
    for x in &mut louder[harmony].1[ls] {
        *x *= g;
    }
    write_delivery(dir.path(), &stems, &mix_of(&louder), None);
    let run = check(dir.path());
    assert_eq!(run.code, 1, "{}", run.stderr);
    let problems = run.problems();
    let gain: Vec<&Row> = problems.iter().filter(|r| r.kind == "stem-gain").collect();
    assert_eq!(gain.len(), 1, "{problems:?}");
    assert_eq!(gain[0].stems, ["Harmony"]);
    assert_eq!(gain[0].channels, ["Ls"]);
    eprintln!(
        "measured gain: {:+.3} dB (truth {truth_db:+.1})",
        gain[0].value
    );
    assert!(
        (gain[0].value - truth_db).abs() <= GAIN_TOLERANCE_DB,
        "{} dB: {}",
        gain[0].value,
        gain[0].message
    );
    for r in &problems {
        assert_eq!(r.channels, ["Ls"], "{r:?}");
    }
}

/// `x` delayed by `n` samples, as long as before.
fn delayed(x: &[f32], n: usize) -> Vec<f32> {
    std::iter::repeat_n(0.0, n)
        .chain(x.iter().copied())
        .take(x.len())
        .collect()
}

#[test]
fn an_offset_stem_is_named_to_the_sample_on_every_channel_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let mut stems = stems(6);
    let mix = mix_of(&stems);
    let late_samples = 37usize;
    let lead = index_of("Lead");
    for p in &mut stems[lead].1 {
        *p = delayed(p, late_samples);
    }
    write_delivery(dir.path(), &stems, &mix, None);
    let run = check(dir.path());
    assert_eq!(run.code, 1, "{}", run.stderr);
    let problems = run.problems();
    let offset: Vec<&Row> = problems
        .iter()
        .filter(|r| r.kind == "stem-offset")
        .collect();
    assert_eq!(offset.len(), 1, "{problems:?}");
    assert_eq!(offset[0].stems, ["Lead"]);
    eprintln!(
        "measured offset: {} samples (truth -{late_samples})",
        offset[0].value
    );
    // Late: negative, to the sample (the analysis measures it to a fraction of one).
    assert!(
        (offset[0].value + late_samples as f64).abs() < OFFSET_TOLERANCE_SAMPLES,
        "{}",
        offset[0].message
    );
    assert!(
        offset[0]
            .message
            .contains(&format!("{late_samples} samples"))
    );
    // Every channel the Lead sounds on (it has no LFE).
    assert_eq!(offset[0].channels, ["L", "R", "C", "Ls", "Rs"]);
}

#[test]
fn an_lfe_no_stem_carries_is_named_on_the_lfe() {
    let dir = tempfile::tempdir().unwrap();
    let mut stems = stems(6);
    let mix = mix_of(&stems);
    let bass = index_of("Bass");
    stems[bass].1[LFE].iter_mut().for_each(|x| *x = 0.0);
    write_delivery(dir.path(), &stems, &mix, None);
    let run = check(dir.path());
    assert_eq!(run.code, 1, "{}", run.stderr);
    let problems = run.problems();
    assert!(!problems.is_empty());
    for r in &problems {
        assert_eq!(r.channels, ["LFE"], "{r:?}");
    }
    assert!(
        problems
            .iter()
            .any(|r| r.message.contains("LFE missing from the stems")),
        "{problems:?}"
    );
    for (name, _, verdict) in run.channels() {
        assert_eq!(verdict == "nulls", name != "LFE", "{name}: {verdict}");
    }
}

#[test]
fn a_7_1_delivery_names_the_defect_on_its_channel() {
    let dir = tempfile::tempdir().unwrap();
    let mut stems = stems(8);
    let mix = mix_of(&stems);
    // The Drums' right rear surround (WAV 7.1 order: L R C LFE Lrs Rrs Ls Rs) inverted.
    let rrs = 5;
    invert(&mut stems, "Drums", rrs);
    write_delivery(dir.path(), &stems, &mix, Some(MASK_7_1));
    let run = check(dir.path());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.json["layout"], "7.1");
    let names: Vec<String> = run.channels().into_iter().map(|c| c.0).collect();
    assert_eq!(names, ["L", "R", "C", "LFE", "Lrs", "Rrs", "Ls", "Rs"]);
    let problems = run.problems();
    let polarity: Vec<&Row> = problems
        .iter()
        .filter(|r| r.kind == "stem-polarity")
        .collect();
    assert_eq!(polarity.len(), 1, "{problems:?}");
    assert_eq!(polarity[0].stems, ["Drums"]);
    assert_eq!(polarity[0].channels, ["Rrs"]);
    for r in &problems {
        assert_eq!(r.channels, ["Rrs"], "{r:?}");
    }
}

#[test]
fn a_stereo_stem_in_a_5_1_delivery_is_named_and_never_nulls() {
    let dir = tempfile::tempdir().unwrap();
    let mut stems = stems(6);
    let mix = mix_of(&stems);
    let lead = index_of("Lead");
    stems[lead].1.truncate(2);
    write_delivery(dir.path(), &stems, &mix, None);
    let run = check(dir.path());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_ne!(run.json["verdict"], "nulls");
    let format = run.of_kind("format-mismatch");
    assert_eq!(format.len(), 1, "{:?}", run.rows());
    assert_eq!(format[0].severity, "error");
    assert!(
        format[0].message.contains("Song_Lead.wav"),
        "{}",
        format[0].message
    );
    assert!(
        format[0].message.contains("stereo"),
        "{}",
        format[0].message
    );
    assert!(format[0].message.contains("5.1"), "{}", format[0].message);
    // The channels the Lead lacks are not said to null.
    for (name, _, verdict) in run.channels() {
        if ["C", "Ls", "Rs"].contains(&name.as_str()) {
            assert_ne!(verdict, "nulls", "{name}");
        }
    }
}

#[test]
fn a_10_channel_file_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut stems = stems(6);
    let mix = mix_of(&stems);
    let drums = index_of("Drums");
    let extra = stems[drums].1[0].clone();
    stems[drums]
        .1
        .extend([extra.clone(), extra.clone(), extra.clone(), extra]);
    write_delivery(dir.path(), &stems, &mix, None);
    let run = check(dir.path());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("Song_Drums.wav"), "{}", run.stderr);
    assert!(run.stderr.contains("10 channels"), "{}", run.stderr);
}

#[test]
fn a_channel_mask_naming_too_few_speakers_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let stems = stems(6);
    write_delivery(dir.path(), &stems, &mix_of(&stems), None);
    patch_mask(&dir.path().join("Song_Mix.wav"), 0x7);
    let run = check(dir.path());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("Song_Mix.wav"), "{}", run.stderr);
    assert!(run.stderr.contains("channel mask 0x7"), "{}", run.stderr);
}

#[test]
fn the_difference_stem_of_a_5_1_delivery_has_every_channel() {
    let dir = tempfile::tempdir().unwrap();
    let mut stems = stems(6);
    let mix = mix_of(&stems);
    invert(&mut stems, "Bass", CENTRE);
    write_delivery(dir.path(), &stems, &mix, None);
    let out = tempfile::tempdir().unwrap();
    let residual = out.path().join("Difference.wav");
    let status = Command::new(env!("CARGO_BIN_EXE_stemcheck"))
        .args([
            "check",
            dir.path().to_str().unwrap(),
            "--quiet",
            "--write-residual",
        ])
        .arg(&residual)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    let mut reader = hound::WavReader::open(&residual).unwrap();
    assert_eq!(reader.spec().channels, 6);
    let samples: Vec<i32> = reader.samples::<i32>().map(|s| s.unwrap()).collect();
    // Integer files at one rate: the difference is exact, up to the rounding of the mix and
    // of each stem to 24 bits apart. The centre holds twice the Bass's centre (the mix has it,
    // the stem has it inverted); every other channel is silent.
    for (c, name) in NAMES_5_1.iter().enumerate() {
        let written: Vec<i32> = samples.iter().skip(c).step_by(6).copied().collect();
        if c == CENTRE {
            let truth: Vec<i32> = stems[index_of("Bass")].1[CENTRE]
                .iter()
                .map(|x| -2 * (x.clamp(-1.0, 1.0) * 8_388_607.0).round() as i32)
                .collect();
            assert_eq!(written.len(), truth.len());
            let worst = written.iter().zip(&truth).map(|(a, b)| (a - b).abs()).max();
            assert!(worst <= Some(ROUNDING_LSB), "{name}: {worst:?} LSB");
        } else {
            let worst = written.iter().map(|x| x.abs()).max();
            assert!(worst <= Some(ROUNDING_LSB), "{name}: {worst:?} LSB");
        }
    }
    assert_eq!(
        stemcheck_cli::layout::wav_channel_mask(&residual),
        Some(0x3F)
    );
}

#[test]
fn a_mono_stem_in_a_5_1_delivery_is_compared_on_no_channel_and_said_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut stems = stems(6);
    let mix = mix_of(&stems);
    let lead = index_of("Lead");
    stems[lead].1.truncate(1);
    let frames = stems[lead].1[0].len() as u64;
    write_delivery(dir.path(), &stems, &mix, None);
    let run = check(dir.path());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_ne!(run.json["verdict"], "nulls");
    let format = run.of_kind("format-mismatch");
    assert_eq!(format.len(), 1, "{:?}", run.rows());
    assert!(
        format[0].message.contains("Song_Lead.wav")
            && format[0]
                .message
                .contains("no channel of the mix was compared with Lead"),
        "{}",
        format[0].message
    );
    // Its facts still come from reading it: its length, to the sample.
    let files = run.json["files"].as_array().unwrap();
    let lead_file = files
        .iter()
        .find(|f| f["stem"] == "Lead")
        .expect("the Lead is listed");
    assert_eq!(lead_file["length_samples"].as_u64(), Some(frames));
    // The Lead has content on every channel but the LFE: missing there, so no null.
    for (name, _, verdict) in run.channels() {
        assert_eq!(verdict == "nulls", name == "LFE", "{name}: {verdict}");
    }
}
