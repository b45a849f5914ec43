//! `--write-residual`: the difference stem. The lined-up stems plus the file it writes must
//! rebuild the mix within the bit depth's noise: exactly (0 LSB) when every file is 24-bit
//! integer, and at the TPDF dither's level (LSB/2 RMS, -144.5 dBFS at 24 bits) when a float stem
//! makes the difference finer than the output. Measured for a delivery with a master-bus defect
//! (a compressor the stems lack) and one with a stem 10 ms late.

use std::path::Path;
use std::process::Command;

use stemcheck_testkit::process::{Compressor, delay_samples};
use stemcheck_testkit::wav::WavFormat as Format;
use stemcheck_testkit::{Song, Stereo, render_song};

const RATE: u32 = 48_000;
/// One LSB of a 24-bit file, relative to full scale.
const LSB_24: f64 = 1.0 / 8_388_608.0;
/// TPDF dither of +/-1 LSB plus rounding leaves LSB^2/6 + LSB^2/12 = LSB^2/4 of noise: LSB/2
/// RMS, 20 log10(2^-24) = -144.5 dBFS at 24 bits.
const DITHERED_ERROR_RMS_DB: f64 = -144.5;
/// How far the measured rebuild error may sit from that, in dB (a few seconds of noise measure
/// it to within a fraction of a dB).
const DITHERED_ERROR_TOLERANCE_DB: f64 = 1.5;

fn song() -> Song {
    render_song(11, RATE as f32, 6.0).with_ending(1.0, 0.3)
}

/// A WAV file as planar f64 at full scale 1.0 (integers over 2^(bits-1), as the decoder reads
/// them), with its spec.
fn read(path: &Path) -> (Vec<Vec<f64>>, hound::WavSpec) {
    let mut reader = hound::WavReader::open(path).unwrap();
    let spec = reader.spec();
    let channels = usize::from(spec.channels);
    let samples: Vec<f64> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .map(|s| f64::from(s.unwrap()))
            .collect(),
        hound::SampleFormat::Int => {
            let scale = f64::from(1u32 << (spec.bits_per_sample - 1));
            reader
                .samples::<i32>()
                .map(|s| f64::from(s.unwrap()) / scale)
                .collect()
        }
    };
    let mut planar = vec![Vec::new(); channels];
    for frame in samples.chunks(channels) {
        for (c, &x) in frame.iter().enumerate() {
            planar[c].push(x);
        }
    }
    (planar, spec)
}

struct Rebuild {
    /// The check's report.
    json: serde_json::Value,
    /// The rebuild's error (mix minus stems lined up plus the difference stem), RMS, in LSB of
    /// 24 bits.
    error_rms_lsb: f64,
    /// Its largest sample, in LSB of 24 bits.
    error_peak_lsb: f64,
    /// The difference stem's spec.
    spec: hound::WavSpec,
}

/// Writes the delivery, runs the check with `--write-residual`, and rebuilds the mix from the
/// files: each stem shifted by the delay the report gives it, plus the difference stem.
fn rebuild(dir: &Path, stems: &[(&str, &Stereo, Format)], mix: &Stereo) -> Rebuild {
    for (name, audio, format) in stems {
        stemcheck_testkit::wav::write_wav(
            &dir.join(format!("Song_{name}.wav")),
            audio,
            RATE,
            *format,
        )
        .unwrap();
    }
    let mix_path = dir.join("Song_Mix.wav");
    stemcheck_testkit::wav::write_wav(&mix_path, mix, RATE, Format::Int24).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let residual_path = out_dir.path().join("Song_Difference.wav");
    let out = Command::new(env!("CARGO_BIN_EXE_stemcheck"))
        .args(["check", dir.to_str().unwrap(), "--json", "-", "--quiet"])
        .arg("--write-residual")
        .arg(&residual_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
    });
    // Written atomically: the file and nothing else in its folder.
    let names: Vec<String> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(names, ["Song_Difference.wav"]);

    let (mix, _) = read(&mix_path);
    let (residual, spec) = read(&residual_path);
    let mut rebuilt = residual;
    assert_eq!(rebuilt[0].len(), mix[0].len(), "the mix's length");
    for (name, _, _) in stems {
        let delay = json["residual_file"]["stem_delays_samples"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d[0] == *name)
            .map(|d| d[1].as_i64().unwrap())
            .unwrap();
        let (stem, _) = read(&dir.join(format!("Song_{name}.wav")));
        for c in 0..2 {
            for (t, r) in rebuilt[c].iter_mut().enumerate() {
                let from = t as i64 - delay;
                if from >= 0 && (from as usize) < stem[c].len() {
                    *r += stem[c][from as usize];
                }
            }
        }
    }
    let mut squares = 0.0;
    let mut peak = 0.0f64;
    let mut count = 0;
    for c in 0..2 {
        for (r, m) in rebuilt[c].iter().zip(&mix[c]) {
            let e = (r - m) / LSB_24;
            squares += e * e;
            peak = peak.max(e.abs());
            count += 1;
        }
    }
    Rebuild {
        json,
        error_rms_lsb: (squares / f64::from(count)).sqrt(),
        error_peak_lsb: peak,
        spec,
    }
}

fn stems_of(song: &Song, format: Format) -> Vec<(&'static str, &Stereo, Format)> {
    song.stems
        .iter()
        .map(|s| (s.name, &s.audio, format))
        .collect()
}

#[test]
fn a_master_bus_compressor_is_handed_over_and_the_stems_rebuild_the_mix_to_the_bit() {
    let song = song();
    let comp = Compressor {
        threshold_db: -14.0,
        ratio: 3.0,
        attack_ms: 5.0,
        release_ms: 80.0,
    };
    let (compressed, _) = comp.process(&song.master(), RATE as f32);
    let dir = tempfile::tempdir().unwrap();
    let r = rebuild(dir.path(), &stems_of(&song, Format::Int24), &compressed);
    // 24-bit integers throughout: the difference lies on the grid, written exactly.
    assert_eq!(
        (
            r.spec.bits_per_sample,
            r.spec.sample_format,
            r.spec.channels
        ),
        (24, hound::SampleFormat::Int, 2)
    );
    assert_eq!(r.json["residual_file"]["dithered"], false);
    assert_eq!(r.error_peak_lsb, 0.0, "rms {} LSB", r.error_rms_lsb);
    // It holds the compressor, loud enough to matter, and says so.
    let file = &r.json["residual_file"];
    let holds: Vec<&str> = file["holds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert!(
        holds.iter().any(|h| h.starts_with("master-bus-dynamics")),
        "{holds:?}"
    );
    let rms = file["rms_dbfs"].as_f64().unwrap();
    let peak = file["peak_dbfs"].as_f64().unwrap();
    assert!(rms > -60.0 && rms < peak && peak < 0.0, "{rms} {peak}");
    for (_, delay) in file["stem_delays_samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d[0].clone(), d[1].as_i64().unwrap()))
    {
        assert_eq!(delay, 0);
    }
}

#[test]
fn a_late_stem_is_lined_up_and_the_rest_is_silence() {
    let song = song();
    // Bass 10 ms (480 samples) late in its file; the mix is the clean sum.
    let late = delay_samples(&song.stem("Bass").audio, 480);
    let mut stems = stems_of(&song, Format::Int24);
    for s in &mut stems {
        if s.0 == "Bass" {
            s.1 = &late;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let r = rebuild(dir.path(), &stems, &song.master());
    let file = &r.json["residual_file"];
    let bass = file["stem_delays_samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d[0] == "Bass")
        .unwrap()[1]
        .as_i64()
        .unwrap();
    assert_eq!(bass, -480, "Bass is advanced by the 480 samples it is late");
    assert_eq!(r.error_peak_lsb, 0.0, "rms {} LSB", r.error_rms_lsb);
    // Lined up, the stems are the mix: what is left is the bits of the song's end the late
    // file cut off (silence there) at most.
    let peak = file["peak_dbfs"].as_f64().unwrap();
    assert!(peak < -120.0, "{peak} dBFS, {file}");
    assert!(
        file["holds"].as_array().unwrap().is_empty(),
        "{}",
        file["holds"]
    );
}

#[test]
fn a_finer_difference_is_dithered_to_the_delivery_depth() {
    let song = song();
    let comp = Compressor {
        threshold_db: -14.0,
        ratio: 3.0,
        attack_ms: 5.0,
        release_ms: 80.0,
    };
    let (compressed, _) = comp.process(&song.master(), RATE as f32);
    // One stem delivered as 32-bit float: its samples lie between the 24-bit steps.
    let mut stems = stems_of(&song, Format::Int24);
    stems[0].2 = Format::Float32;
    let dir = tempfile::tempdir().unwrap();
    let r = rebuild(dir.path(), &stems, &compressed);
    assert_eq!(r.spec.bits_per_sample, 24, "the stems' majority");
    assert_eq!(r.json["residual_file"]["dithered"], true);
    let error_db = 20.0 * (r.error_rms_lsb * LSB_24).log10();
    eprintln!(
        "dithered rebuild error: {error_db:.2} dBFS RMS ({:.3} LSB), peak {} LSB",
        r.error_rms_lsb, r.error_peak_lsb
    );
    assert!(
        (error_db - DITHERED_ERROR_RMS_DB).abs() < DITHERED_ERROR_TOLERANCE_DB,
        "rebuild error {error_db:.1} dBFS RMS ({:.3} LSB, peak {} LSB)",
        r.error_rms_lsb,
        r.error_peak_lsb
    );
    // TPDF of +/-1 LSB plus rounding never errs by more than 1.5 LSB.
    assert!(r.error_peak_lsb <= 1.5, "{}", r.error_peak_lsb);
}

#[test]
fn a_mix_later_than_every_stem_lines_every_stem_up_by_its_latency() {
    let song = song();
    // The mix 240 samples (5 ms) late: an uncompensated master insert.
    let late_mix = delay_samples(&song.master(), 240);
    let dir = tempfile::tempdir().unwrap();
    let r = rebuild(dir.path(), &stems_of(&song, Format::Int24), &late_mix);
    let delays: Vec<i64> = r.json["residual_file"]["stem_delays_samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d[1].as_i64().unwrap())
        .collect();
    assert_eq!(
        delays,
        vec![240; song.stems.len()],
        "{}",
        r.json["findings"]
    );
    assert_eq!(r.error_peak_lsb, 0.0);
    let peak = r.json["residual_file"]["peak_dbfs"].as_f64().unwrap();
    assert!(peak < -120.0, "{peak} dBFS");
}
