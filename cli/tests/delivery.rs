//! The checker on deliveries with the mistakes of issue 11 that only files have: a stem that
//! starts seconds late or early, a mix at another rate and bit depth, a mix offset against every
//! stem, names that are not what they seem, a true peak at the limit. Each against its known
//! ground truth: exact samples, names, kinds.

use std::path::Path;
use std::process::Command;

use rubato::{FftFixedIn, Resampler};
use stemcheck_testkit::wav::WavFormat as Format;
use stemcheck_testkit::{Song, Stereo, render_song};

const RATE: u32 = 48_000;

fn song(seconds: f32) -> Song {
    render_song(11, RATE as f32, seconds).with_ending(1.0, 0.3)
}

fn write_wav(path: &Path, audio: &Stereo, rate: u32, format: Format) {
    stemcheck_testkit::wav::write_wav(path, audio, rate, format).unwrap();
}

/// A finding as (kind, severity, stems, value, message).
type Row = (String, String, Vec<String>, f64, String);

struct Run {
    code: i32,
    json: serde_json::Value,
    stderr: String,
}

impl Run {
    fn rows(&self) -> Vec<Row> {
        self.json["findings"]
            .as_array()
            .unwrap_or(&Vec::new())
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
            .collect()
    }

    fn of_kind(&self, kind: &str) -> Vec<Row> {
        self.rows().into_iter().filter(|r| r.0 == kind).collect()
    }

    fn kinds(&self) -> Vec<(String, String, Vec<String>)> {
        self.rows().into_iter().map(|r| (r.0, r.1, r.2)).collect()
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

/// `audio` with `n` samples of silence in front (late), or its first `-n` samples dropped (early).
fn shifted(audio: &Stereo, n: i64) -> Stereo {
    let shift = |x: &[f32]| -> Vec<f32> {
        if n >= 0 {
            std::iter::repeat_n(0.0, n as usize)
                .chain(x.iter().copied())
                .collect()
        } else {
            x[(-n) as usize..].to_vec()
        }
    };
    [shift(&audio[0]), shift(&audio[1])]
}

fn write_song(dir: &Path, song: &Song, replace: Option<(&str, &Stereo)>, mix: &Stereo) {
    for s in &song.stems {
        let audio = match replace {
            Some((name, audio)) if name == s.name => audio,
            _ => &s.audio,
        };
        write_wav(
            &dir.join(format!("Song_{}.wav", s.name)),
            audio,
            RATE,
            Format::Int24,
        );
    }
    write_wav(&dir.join("Song_Mix.wav"), mix, RATE, Format::Int24);
}

/// Causes that must never be named from a misaligned stem.
const INVENTED: &[&str] = &[
    "stem-polarity",
    "stem-gain",
    "master-bus-eq",
    "master-bus-gain",
    "missing-content",
    "missing-fx-return",
];

#[test]
fn a_stem_seconds_late_or_early_is_found_to_the_sample_and_the_rest_is_analysed_aligned() {
    let song = song(10.0);
    let master = song.master();
    for (late, message) in [
        (
            204_000i64,
            "Drums starts 4.250 s (204,000 samples) late: export every stem from the session start.",
        ),
        (
            -150_001,
            "Drums starts 3.125 s (150,001 samples) early: export every stem from the session start.",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let drums = shifted(&song.stem("Drums").audio, late);
        write_song(dir.path(), &song, Some(("Drums", &drums)), &master);
        let run = check(dir.path());
        assert_eq!(run.code, 1, "{}", run.stderr);
        let start = run.of_kind("stem-start-offset");
        assert_eq!(start.len(), 1, "{late}: {:?}", run.kinds());
        assert_eq!(start[0].2, vec!["Drums".to_string()]);
        // Signed like stem-offset: early (+), late (-).
        assert_eq!(start[0].3, -late as f64, "{late}: {}", start[0].4);
        assert_eq!(start[0].4, message);
        for kind in INVENTED.iter().chain(&["stem-offset"]) {
            assert!(
                run.of_kind(kind).is_empty(),
                "{late}: {kind} invented: {:?}",
                run.kinds()
            );
        }
    }
}

#[test]
fn a_stem_exported_from_its_first_region_or_with_a_pre_roll_is_placed_to_the_sample() {
    // Exported from its first region (its first 2.5 s dropped: 120,000 samples early, and as
    // much shorter, its end still the mix's), or with 1.5 s of pre-roll (72,000 samples late,
    // and as much longer): the lengths and the envelopes agree on the offset.
    let song = song(10.0);
    let master = song.master();
    for stem in ["Bass", "Harmony"] {
        for late in [-120_000i64, 72_000] {
            let dir = tempfile::tempdir().unwrap();
            let audio = shifted(&song.stem(stem).audio, late);
            write_song(dir.path(), &song, Some((stem, &audio)), &master);
            let run = check(dir.path());
            assert_eq!(run.code, 1, "{}", run.stderr);
            let start = run.of_kind("stem-start-offset");
            assert_eq!(start.len(), 1, "{stem} {late}: {:?}", run.kinds());
            assert_eq!(start[0].2, vec![stem.to_string()]);
            assert_eq!(start[0].3, -late as f64, "{stem} {late}: {}", start[0].4);
            for kind in INVENTED.iter().chain(&["stem-offset"]) {
                assert!(
                    run.of_kind(kind).is_empty(),
                    "{stem} {late}: {kind} invented: {:?}",
                    run.kinds()
                );
            }
        }
    }
}

#[test]
fn a_mix_converted_by_another_resampler_nulls_in_the_band_every_rate_holds() {
    // Stems with content up to 24 kHz (air on the drums: seeded white noise at -30 dBFS), the
    // mix converted to 44.1 kHz by another converter than the checker's: the two cut
    // differently between about 19 and 22 kHz. Compared over the whole band, that difference
    // read as missing content (-28 dB re master here, -47 dB on the development corpus); below
    // 16.5 kHz (0.75 of 22.05 kHz) the stems rebuild the mix (-84 dB).
    use rand::{Rng, SeedableRng};
    let mut song = song(6.0);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    let air = 10f32.powf(-30.0 / 20.0) * 3f32.sqrt();
    // Over the first 4 s (the song ends on its reverb's tail).
    for channel in &mut song.stems[0].audio {
        for x in channel.iter_mut().take(4 * RATE as usize) {
            *x += air * rng.gen_range(-1.0f32..1.0);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    write_song(dir.path(), &song, None, &song.master());
    let mix = resample_other_converter(&song.master(), RATE, 44_100);
    write_wav(
        &dir.path().join("Song_Mix.wav"),
        &mix,
        44_100,
        Format::Int24,
    );
    let run = check(dir.path());
    assert_eq!(run.of_kind("format-mismatch").len(), 1, "{:?}", run.kinds());
    for kind in INVENTED
        .iter()
        .chain(&["missing-content", "missing-fx-return"])
    {
        assert!(run.of_kind(kind).is_empty(), "{kind}: {:?}", run.kinds());
    }
    let nulls = run.of_kind("nulls");
    assert_eq!(nulls.len(), 1, "{:?}", run.kinds());
    assert!(nulls[0].4.contains("below 16.5 kHz"), "{}", nulls[0].4);
    let residual = run.json["measurements"]["null_residual_db"]
        .as_f64()
        .unwrap();
    assert!(residual < -70.0, "residual {residual:.1} dB re master");
}

/// `audio` resampled from `from` to `to` Hz (a DAW's export at another rate), by the checker's
/// own converter (rubato's FFT resampler, as the checker sets it up).
fn resample(audio: &Stereo, from: u32, to: u32) -> Stereo {
    resample_with(audio, from, to, 1024, 2)
}

/// `audio` brought down from `from` to `to` Hz by another converter than the checker's (a
/// DAW's): a Blackman-windowed sinc, 64 taps each side at the input rate, its pass band cut at
/// 0.95 of the new Nyquist (so its transition band, about 19.6 to 22 kHz for 44.1 kHz, is not
/// rubato's). Exact timing: the output instant `m` is the input instant `m * from / to`.
fn resample_other_converter(audio: &Stereo, from: u32, to: u32) -> Stereo {
    const HALF_TAPS: f64 = 64.0;
    let ratio = f64::from(to) / f64::from(from);
    let cutoff = 0.5 * 0.95 * ratio.min(1.0);
    let out_len = (audio[0].len() as f64 * ratio).round() as usize;
    audio.clone().map(|input| {
        (0..out_len)
            .map(|m| {
                let t = m as f64 / ratio;
                let first = (t - HALF_TAPS).ceil().max(0.0) as usize;
                let last = ((t + HALF_TAPS).floor() as usize).min(input.len() - 1);
                (first..=last)
                    .map(|j| {
                        let d = t - j as f64;
                        let x = std::f64::consts::PI * 2.0 * cutoff * d;
                        let sinc = if x.abs() < 1e-12 { 1.0 } else { x.sin() / x };
                        let u = std::f64::consts::PI * d / HALF_TAPS;
                        let window = 0.42 + 0.5 * u.cos() + 0.08 * (2.0 * u).cos();
                        2.0 * cutoff * sinc * window * f64::from(input[j])
                    })
                    .sum::<f64>() as f32
            })
            .collect()
    })
}

/// `audio` resampled from `from` to `to` Hz by rubato's FFT resampler.
fn resample_with(
    audio: &Stereo,
    from: u32,
    to: u32,
    chunk_frames: usize,
    sub_chunks: usize,
) -> Stereo {
    let mut r =
        FftFixedIn::<f32>::new(from as usize, to as usize, chunk_frames, sub_chunks, 2).unwrap();
    let delay = r.output_delay();
    let mut out: [Vec<f32>; 2] = [Vec::new(), Vec::new()];
    let len = audio[0].len();
    let mut pos = 0;
    let expected = (len as f64 * f64::from(to) / f64::from(from)).round() as usize;
    while out[0].len() < expected + delay {
        let need = r.input_frames_next();
        let chunk: Vec<Vec<f32>> = (0..2)
            .map(|c| {
                (pos..pos + need)
                    .map(|i| audio[c].get(i).copied().unwrap_or(0.0))
                    .collect()
            })
            .collect();
        pos += need;
        let produced = r.process(&chunk, None).unwrap();
        for c in 0..2 {
            out[c].extend_from_slice(&produced[c]);
        }
    }
    [
        out[0][delay..delay + expected].to_vec(),
        out[1][delay..delay + expected].to_vec(),
    ]
}

#[test]
fn a_mix_at_another_rate_and_depth_is_the_odd_file_and_is_compared_anyway() {
    let song = song(6.0);
    let dir = tempfile::tempdir().unwrap();
    write_song(dir.path(), &song, None, &song.master());
    // The mix as a 16-bit 44.1 kHz master next to 24-bit 48 kHz stems.
    let mix = resample(&song.master(), RATE, 44_100);
    write_wav(
        &dir.path().join("Song_Mix.wav"),
        &mix,
        44_100,
        Format::Int16,
    );
    let run = check(dir.path());
    assert_eq!(run.code, 1, "{}", run.stderr);
    // One file at the wrong format: one finding naming its rate and its depth (issue 11 item
    // 5: the odd file is the one named), not a rate and a format defect beside each other.
    let format = run.of_kind("format-mismatch");
    assert_eq!(format.len(), 1, "{:?}", run.kinds());
    assert_eq!(format[0].2, vec!["Mix".to_string()]);
    assert_eq!(format[0].3, 16.0, "bits, not Hz");
    assert!(
        format[0]
            .4
            .contains("16-bit int while the stems are 24-bit int")
    );
    assert!(
        format[0]
            .4
            .contains("at 44100 Hz while the stems are at 48000 Hz"),
        "{}",
        format[0].4
    );
    assert!(format[0].4.contains("resampled"), "{}", format[0].4);
    for kind in ["no-stems", "length-mismatch", "sample-rate-mismatch"] {
        assert!(run.of_kind(kind).is_empty(), "{kind}: {:?}", run.kinds());
    }
    // Compared anyway: the analysis ran on all five stems, brought down to the mix's rate (the
    // mix holds nothing above 22.05 kHz), and they rebuild it: no cause is invented.
    assert_eq!(
        run.json["measurements"]["stems"].as_array().unwrap().len(),
        5
    );
    assert_eq!(run.json["sample_rate_hz"], 44_100.0);
    assert_eq!(
        run.json["verdict"], "fails",
        "the format findings are errors"
    );
    for kind in INVENTED {
        assert!(run.of_kind(kind).is_empty(), "{kind}: {:?}", run.kinds());
    }
    let nulls = run.of_kind("nulls");
    assert_eq!(nulls.len(), 1, "{:?}", run.kinds());
    assert!(nulls[0].4.contains("resampled"), "{}", nulls[0].4);
}

#[test]
fn a_minority_stem_at_another_rate_is_named_and_resampled() {
    let song = song(6.0);
    let dir = tempfile::tempdir().unwrap();
    write_song(dir.path(), &song, None, &song.master());
    let bass = resample(&song.stem("Bass").audio, RATE, 96_000);
    write_wav(
        &dir.path().join("Song_Bass.wav"),
        &bass,
        96_000,
        Format::Int24,
    );
    let run = check(dir.path());
    let rate = run.of_kind("format-mismatch");
    assert_eq!(rate.len(), 1, "{:?}", run.kinds());
    assert_eq!(rate[0].2, vec!["Bass".to_string()]);
    assert_eq!(
        rate[0].3, 96_000.0,
        "only its rate is odd: the value is the rate"
    );
    assert!(
        run.of_kind("length-mismatch").is_empty(),
        "{:?}",
        run.kinds()
    );
    // Upsampled and back, the Bass still rebuilds the mix: no cause is named for it.
    for kind in INVENTED.iter().chain(&["stem-offset", "stem-start-offset"]) {
        assert!(run.of_kind(kind).is_empty(), "{kind}: {:?}", run.kinds());
    }
}

#[test]
fn a_mix_offset_against_every_stem_is_a_warning_with_samples_and_ms() {
    let song = song(6.0);
    let dir = tempfile::tempdir().unwrap();
    // An uncompensated 96-sample look-ahead on the master insert: the mix is 2 ms late.
    let mix = shifted(&song.master(), 96);
    write_song(dir.path(), &song, None, &mix);
    let run = check(dir.path());
    let latency = run.of_kind("master-latency");
    assert_eq!(latency.len(), 1, "{:?}", run.kinds());
    assert_eq!(latency[0].1, "warning");
    assert_eq!(latency[0].3, 96.0);
    assert!(
        latency[0].4.contains("96 samples (2.00 ms) later"),
        "{}",
        latency[0].4
    );
    // Seconds late: shifted by the checker, still a warning with the exact offset.
    let dir = tempfile::tempdir().unwrap();
    let mix = shifted(&song.master(), -72_000);
    write_song(dir.path(), &song, None, &mix);
    let run = check(dir.path());
    let latency = run.of_kind("master-latency");
    assert_eq!(latency.len(), 1, "{:?}", run.kinds());
    assert_eq!(latency[0].1, "warning");
    assert_eq!(latency[0].3, -72_000.0, "{}", latency[0].4);
    assert!(
        run.of_kind("stem-start-offset").is_empty(),
        "{:?}",
        run.kinds()
    );
}

#[test]
fn names_are_read_as_engineers_write_them() {
    let song = song(4.0);
    // A mix called mix.wav next to Cue12 stems: a note, and the suggestion uses Cue12.
    let dir = tempfile::tempdir().unwrap();
    for s in &song.stems {
        write_wav(
            &dir.path().join(format!("Cue12_{}.wav", s.name)),
            &s.audio,
            RATE,
            Format::Int24,
        );
    }
    write_wav(
        &dir.path().join("mix.wav"),
        &song.master(),
        RATE,
        Format::Int24,
    );
    let run = check(dir.path());
    let naming = run.of_kind("naming");
    assert_eq!(naming.len(), 1, "{:?}", run.kinds());
    assert_eq!(naming[0].1, "info");
    let fix = run.json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "naming")
        .unwrap()["fix"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(fix.contains("Cue12_Mix.wav"), "{fix}");

    // A numbered multitrack: "01_Kick_In" is the stem "Kick In"; Bass_Amp and Gtr_Amp differ.
    let dir = tempfile::tempdir().unwrap();
    let names = [
        "01_Kick_In",
        "02_Kick_Sub",
        "03_Bass_Amp",
        "04_Gtr_Amp",
        "05_Lead_Vox",
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
        &dir.path().join("06_Mix.wav"),
        &song.master(),
        RATE,
        Format::Int24,
    );
    let run = check(dir.path());
    let stems: Vec<String> = run.json["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["stem"].as_str().map(String::from))
        .collect();
    assert_eq!(
        stems,
        vec!["Kick In", "Kick Sub", "Bass Amp", "Gtr Amp", "Lead Vox"]
    );
    assert!(
        run.rows()
            .iter()
            .all(|r| !(r.0 == "naming" && r.1 == "error")),
        "no duplicates: {:?}",
        run.kinds()
    );
}

#[test]
fn a_true_peak_at_the_limit_shown_is_not_over_it() {
    let song = song(4.0);
    let dir = tempfile::tempdir().unwrap();
    write_song(dir.path(), &song, None, &song.master());
    let run = check(dir.path());
    let measured = run.json["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["role"] == "mix")
        .unwrap()["true_peak_dbtp"]
        .as_f64()
        .unwrap();
    // The true peak scales with the gain: aim the mix (and the stems, so it still nulls) at
    // -0.97 dBTP, shown as -1.0 (the limit): no warning; at -0.90 it is over.
    for (target, warns) in [(-0.97, false), (-0.90, true)] {
        let gain = 10f64.powf((target - measured) / 20.0) as f32;
        let scale = |a: &Stereo| -> Stereo {
            [
                a[0].iter().map(|x| x * gain).collect(),
                a[1].iter().map(|x| x * gain).collect(),
            ]
        };
        let dir = tempfile::tempdir().unwrap();
        for s in &song.stems {
            write_wav(
                &dir.path().join(format!("Song_{}.wav", s.name)),
                &scale(&s.audio),
                RATE,
                Format::Float32,
            );
        }
        write_wav(
            &dir.path().join("Song_Mix.wav"),
            &scale(&song.master()),
            RATE,
            Format::Float32,
        );
        let run = check(dir.path());
        let peaks: Vec<Row> = run
            .of_kind("true-peak")
            .into_iter()
            .filter(|r| r.2.is_empty())
            .collect();
        assert_eq!(!peaks.is_empty(), warns, "{target}: {:?}", run.kinds());
    }
}

/// The stranger's onsets meet the mix's by chance (the same generator, tempo and key): its
/// envelopes place it 0.55 s early, and only the shifted pass shows that it explains next to
/// nothing there (fitted at -21 dB).
#[test]
fn a_stem_from_another_song_matches_nothing_and_is_left_out() {
    // The Lead of another song (another seed) in place of this one's.
    let song = song(10.0);
    let other = render_song(12, RATE as f32, 10.0).with_ending(1.0, 0.3);
    let dir = tempfile::tempdir().unwrap();
    write_song(
        dir.path(),
        &song,
        Some(("Lead", &other.stem("Lead").audio)),
        &song.master(),
    );
    let run = check(dir.path());
    assert_eq!(run.code, 1, "{}", run.stderr);
    let start = run.of_kind("stem-start-offset");
    assert_eq!(start.len(), 1, "{:?}", run.kinds());
    assert_eq!(start[0].2, vec!["Lead".to_string()]);
    assert!(
        start[0]
            .4
            .starts_with("Lead matches nothing in the mix within +/-"),
        "{}",
        start[0].4
    );
    assert!(
        start[0].4.contains("another version of the song"),
        "{}",
        start[0].4
    );
    // Nothing read from the stranger: no gain, polarity or offset named on it.
    for row in run.rows() {
        if row.0 != "stem-start-offset" {
            assert!(!row.2.contains(&"Lead".to_string()), "{row:?}");
        }
    }
    for kind in ["stem-polarity", "stem-gain", "stem-offset"] {
        assert!(run.of_kind(kind).is_empty(), "{kind}: {:?}", run.kinds());
    }
}

#[test]
fn a_quiet_16_bit_delivery_nulls_to_its_files_floor() {
    // A quiet cue (the song 40 dB down) exported in 16 bits, every file with its own dither:
    // the residual is that dither, over the null's -70 dB, and the checker knows it from the
    // files' bit depths.
    let song = song(6.0);
    let dir = tempfile::tempdir().unwrap();
    let quiet: Vec<Stereo> = song
        .stems
        .iter()
        .map(|s| stemcheck_testkit::gain_db(&s.audio, -40.0))
        .collect();
    let refs: Vec<&Stereo> = quiet.iter().collect();
    let mix = stemcheck_testkit::sum(&refs);
    for (k, (s, audio)) in song.stems.iter().zip(&quiet).enumerate() {
        let stored = stemcheck_testkit::quantize_16bit_dithered(audio, k as u64);
        let path = dir.path().join(format!("Song_{}.wav", s.name));
        write_wav(&path, &stored, RATE, Format::Int16);
    }
    let stored = stemcheck_testkit::quantize_16bit_dithered(&mix, 99);
    write_wav(
        &dir.path().join("Song_Mix.wav"),
        &stored,
        RATE,
        Format::Int16,
    );
    let run = check(dir.path());
    assert_eq!(run.code, 0, "{:?}\n{}", run.kinds(), run.stderr);
    let residual = run.json["measurements"]["null_residual_db"]
        .as_f64()
        .unwrap();
    let floor = run.json["measurements"]["null_floor_db"].as_f64().unwrap();
    assert!(
        residual > -70.0,
        "quiet enough to be over the null: {residual}"
    );
    // TPDF dither of one LSB either way, every file's: the floor the checker expects.
    assert!(
        (residual - floor).abs() < 1.0,
        "residual {residual}, floor {floor}"
    );
    let nulls = run.of_kind("nulls");
    assert_eq!(nulls.len(), 1, "{:?}", run.kinds());
    assert!(nulls[0].4.contains("own floor"), "{}", nulls[0].4);
    for kind in INVENTED {
        assert!(run.of_kind(kind).is_empty(), "{kind}: {:?}", run.kinds());
    }
}
