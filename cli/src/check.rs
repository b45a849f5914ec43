//! The check itself: open every file, compare their formats, stream them in lock step through
//! the analysis core (the same one the plugin runs), then add the file-level findings.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use stemcheck_analysis::input::StemInput;
use stemcheck_analysis::{
    Analyzer, AnalyzerConfig, Block, Finding, FindingKind, Severity, SignalAudio, Unit, Verdict,
};
use stemcheck_report::{FileInfo, FileRole, Report, Source};

use crate::decode::{AudioReader, Format, InputError};
use crate::inputs::{Inputs, stem_name, version_soup};
use crate::profile::Spec;

/// Blocks the decoding thread may run ahead of the analysis.
const READ_AHEAD_BLOCKS: usize = 4;
/// Frames decoded and analysed per step.
const BLOCK_FRAMES: usize = 8192;
/// A file whose last 10 ms are louder than this was cut off while sounding, in dBFS.
pub const TAIL_FLOOR_DBFS: f32 = -60.0;
/// The stretch at the end of a file that must be quiet, in seconds.
const TAIL_SECONDS: f64 = 0.010;
/// Channels this close (every sample within 2^-23, the 24-bit step) are the same channel.
const SAME_CHANNEL_TOLERANCE: f32 = 1.0 / 8_388_608.0;

/// One file during the check.
struct Track {
    path: PathBuf,
    format: Format,
    /// Frames the file turned out to hold (the decode is the truth, not the header).
    frames_read: u64,
    role: &'static str,
    stem: Option<String>,
    /// The last [`TAIL_SECONDS`] of audio (mid), as a ring.
    tail: Vec<f32>,
    tail_pos: usize,
    identical_channels: bool,
    analysed: bool,
}

/// Runs the check. `progress` shows a bar on stderr.
pub fn check(
    inputs: &Inputs,
    spec: &Spec,
    input_names: Vec<String>,
    progress: bool,
) -> Result<Report, InputError> {
    let mut tracks = Vec::new();
    let mut readers = Vec::new();
    let (mix, reader) = open(&inputs.mix, "mix", None)?;
    tracks.push(mix);
    readers.push(reader);
    for path in &inputs.stems {
        let name = stem_name(path).stem;
        let (track, reader) = open(path, "stem", Some(name))?;
        tracks.push(track);
        readers.push(reader);
    }
    let mut findings = format_findings(&tracks, spec);
    findings.extend(naming_findings(inputs, spec));

    let rate = tracks[0].format.sample_rate_hz;
    let config = AnalyzerConfig {
        true_peak_limit_dbtp: spec.true_peak_limit_dbtp,
        usual_min_stems: spec.min_stems,
        usual_max_stems: spec.max_stems,
        ..AnalyzerConfig::default()
    };
    let mut analyzer = Analyzer::new(rate as f32, config);
    for (index, track) in tracks.iter_mut().enumerate().skip(1) {
        track.analysed = track.format.sample_rate_hz == rate;
        if track.analysed {
            analyzer.set_stem_name(index as u32, track.stem.as_deref().unwrap_or("?"));
        }
    }
    let mismatched: Vec<&Track> = tracks
        .iter()
        .filter(|t| t.role == "stem" && !t.analysed)
        .collect();
    if !mismatched.is_empty() {
        findings.push(stemcheck_analysis::diagnose::sample_rate_mismatch(
            mismatched
                .iter()
                .map(|t| t.stem.clone().unwrap_or_default())
                .collect(),
            rate as f32,
            &mismatched
                .iter()
                .map(|t| t.format.sample_rate_hz as f32)
                .collect::<Vec<_>>(),
        ));
    }

    let total_frames = tracks[0].format.declared_frames.unwrap_or(0);
    let bar = if progress && total_frames > 0 {
        let bar = ProgressBar::new(total_frames);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {bar:40} {percent:>3}% {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(format!("checking {} files", tracks.len()));
        Some(bar)
    } else {
        None
    };

    // Decoding runs on its own thread, a few blocks ahead of the analysis: on two cores the
    // check then costs about what the slower of the two costs, not their sum.
    let (sender, receiver) =
        std::sync::mpsc::sync_channel::<Result<Vec<[Vec<f32>; 2]>, InputError>>(READ_AHEAD_BLOCKS);
    let decoder = std::thread::spawn(move || {
        let mut readers = readers;
        loop {
            let mut buffers = Vec::with_capacity(readers.len());
            let mut longest = 0;
            for reader in &mut readers {
                let mut buffer = [Vec::new(), Vec::new()];
                match reader.read(&mut buffer, BLOCK_FRAMES) {
                    Ok(frames) => longest = longest.max(frames),
                    Err(e) => {
                        let _ = sender.send(Err(e));
                        return;
                    }
                }
                buffers.push(buffer);
            }
            // The end of every file (dropping the sender ends the stream), or the checker gave
            // up (the receiver is gone).
            if longest == 0 || sender.send(Ok(buffers)).is_err() {
                return;
            }
        }
    });
    let mut padded: Vec<[Vec<f32>; 2]> = tracks.iter().map(|_| [Vec::new(), Vec::new()]).collect();
    for message in receiver {
        let buffers = message?;
        let mut longest = 0;
        for (track, buffer) in tracks.iter_mut().zip(&buffers) {
            longest = longest.max(buffer[0].len());
            track.frames_read += buffer[0].len() as u64;
            track.observe(buffer);
        }
        // Files that already ended are silent from there on (their length is checked apart).
        for (buffer, out) in buffers.iter().zip(padded.iter_mut()) {
            for c in 0..2 {
                out[c].clear();
                out[c].extend_from_slice(&buffer[c]);
                out[c].resize(longest, 0.0);
            }
        }
        let stems: Vec<StemInput<'_>> = tracks
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(_, t)| t.analysed)
            .map(|(i, t)| StemInput {
                id: i as u32,
                audio: Some(signal(&padded[i], t.format.channels)),
            })
            .collect();
        analyzer.process(&Block {
            num_frames: longest,
            master: Some(signal(&padded[0], tracks[0].format.channels)),
            stems: &stems,
        });
        if let Some(bar) = &bar {
            bar.inc(longest as u64);
        }
    }
    if decoder.join().is_err() {
        return Err(InputError {
            path: inputs.mix.clone(),
            message: "the decoder failed unexpectedly".into(),
        });
    }
    analyzer.finish();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    findings.extend(analyzer.findings().iter().cloned());
    findings.extend(length_findings(&tracks));
    findings.extend(tail_and_stereo_findings(&tracks));
    findings.sort_by_key(|f| std::cmp::Reverse(f.importance()));

    let measurements = analyzer.last_measurements().clone();
    let files = tracks
        .iter()
        .enumerate()
        .map(|(index, t)| {
            let levels = if index == 0 {
                measurements.master_levels
            } else {
                measurements
                    .stems
                    .iter()
                    .find(|s| s.id == index as u32)
                    .map(|s| s.levels)
            };
            FileInfo {
                path: t.path.display().to_string(),
                role: if t.role == "stem" {
                    FileRole::Stem
                } else {
                    FileRole::Mix
                },
                stem: t.stem.clone(),
                sample_rate_hz: t.format.sample_rate_hz,
                bit_depth: t.format.bits_per_sample,
                sample_format: t.format.sample_format.to_string(),
                channels: t.format.channels,
                length_samples: t.frames_read,
                peak_dbfs: levels.map_or(f32::NAN, |l| l.peak_dbfs),
                true_peak_dbtp: levels.map_or(f32::NAN, |l| l.true_peak_dbtp),
            }
        })
        .collect();
    let mut report = Report::new(
        Source::Files {
            inputs: input_names,
            profile: spec.name.to_string(),
        },
        Verdict::of(&findings),
        tracks[0].frames_read as f64 / f64::from(rate),
        rate as f32,
    );
    report.files = files;
    report.findings = findings;
    report.measurements = Some(measurements);
    Ok(report)
}

fn open(
    path: &Path,
    role: &'static str,
    stem: Option<String>,
) -> Result<(Track, AudioReader), InputError> {
    let reader = AudioReader::open(path)?;
    let tail_len = ((TAIL_SECONDS * f64::from(reader.format.sample_rate_hz)) as usize).max(1);
    let track = Track {
        identical_channels: reader.format.channels == 2,
        path: reader.path.clone(),
        format: reader.format.clone(),
        frames_read: 0,
        role,
        stem,
        tail: vec![0.0; tail_len],
        tail_pos: 0,
        analysed: true,
    };
    Ok((track, reader))
}

fn signal(buffer: &[Vec<f32>; 2], channels: u32) -> SignalAudio<'_> {
    if channels == 1 {
        SignalAudio::mono(&buffer[0])
    } else {
        SignalAudio::stereo(&buffer[0], &buffer[1])
    }
}

impl Track {
    /// Keeps the tail and whether the channels are identical.
    fn observe(&mut self, buffer: &[Vec<f32>; 2]) {
        if self.identical_channels {
            self.identical_channels = buffer[0]
                .iter()
                .zip(&buffer[1])
                .all(|(l, r)| (l - r).abs() <= SAME_CHANNEL_TOLERANCE);
        }
        for (l, r) in buffer[0].iter().zip(&buffer[1]) {
            self.tail[self.tail_pos] = 0.5 * (l + r);
            self.tail_pos = (self.tail_pos + 1) % self.tail.len();
        }
    }

    fn name(&self) -> String {
        match &self.stem {
            Some(stem) => stem.clone(),
            None => "Mix".to_string(),
        }
    }

    fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    }
}

/// A file-level finding: always certain.
fn file_finding(
    kind: FindingKind,
    severity: Severity,
    stems: Vec<String>,
    value: f64,
    unit: Unit,
    message: String,
    fix: String,
) -> Finding {
    Finding::new(kind, severity, stems, value, unit, 1.0, message, fix)
}

/// Sample rate, bit depth, format and channels: against the mix, and against the profile.
fn format_findings(tracks: &[Track], spec: &Spec) -> Vec<Finding> {
    let mut out = Vec::new();
    let mix = &tracks[0].format;
    for t in tracks {
        let f = &t.format;
        let mut problems = Vec::new();
        if t.role == "stem" {
            if f.bits_per_sample != mix.bits_per_sample || f.sample_format != mix.sample_format {
                problems.push(format!(
                    "{}-bit {} while the mix is {}-bit {}",
                    f.bits_per_sample, f.sample_format, mix.bits_per_sample, mix.sample_format
                ));
            }
            if f.channels != mix.channels {
                problems.push(format!(
                    "{} channel(s) while the mix has {}",
                    f.channels, mix.channels
                ));
            }
        }
        if let Some(rate) = spec.sample_rate_hz
            && f.sample_rate_hz != rate
        {
            problems.push(format!(
                "{} Hz where the {} profile asks for {rate} Hz",
                f.sample_rate_hz, spec.name
            ));
        }
        if let Some(formats) = spec.formats
            && !formats
                .iter()
                .any(|(b, s)| *b == f.bits_per_sample && *s == f.sample_format)
        {
            let wanted: Vec<String> = formats
                .iter()
                .map(|(b, s)| format!("{b}-bit {s}"))
                .collect();
            problems.push(format!(
                "{}-bit {} where the {} profile asks for {}",
                f.bits_per_sample,
                f.sample_format,
                spec.name,
                wanted.join(" or ")
            ));
        }
        if spec.require_wav
            && !t
                .path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
        {
            problems.push(format!(
                "not a .wav file (the {} profile asks for WAV)",
                spec.name
            ));
        }
        if !problems.is_empty() {
            out.push(file_finding(
                FindingKind::FormatMismatch,
                Severity::Error,
                vec![t.name()],
                f64::from(f.sample_rate_hz),
                Unit::Hz,
                format!("{}: {}.", t.file_name(), problems.join("; ")),
                format!(
                    "Re-export {} to match the delivery ({} Hz, {}-bit {}).",
                    t.name(),
                    spec.sample_rate_hz.unwrap_or(mix.sample_rate_hz),
                    mix.bits_per_sample,
                    mix.sample_format
                ),
            ));
        }
    }
    out
}

/// TrackName_Stem naming, one track name, no version soup, no duplicate stems.
fn naming_findings(inputs: &Inputs, spec: &Spec) -> Vec<Finding> {
    let mut out = Vec::new();
    let all: Vec<&PathBuf> = std::iter::once(&inputs.mix)
        .chain(inputs.stems.iter())
        .collect();
    let mut tracks: Vec<String> = Vec::new();
    for path in &all {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let base = path
            .file_stem()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let name = stem_name(path);
        match &name.track {
            Some(track) => tracks.push(track.clone()),
            None if spec.require_naming || inputs.stems.len() > 1 => out.push(file_finding(
                FindingKind::Naming,
                Severity::Warning,
                vec![name.stem.clone()],
                0.0,
                Unit::None,
                format!("{file} is not named TrackName_Stem."),
                format!(
                    "Rename it, e.g. Song_{}.{}",
                    name.stem,
                    path.extension().and_then(|e| e.to_str()).unwrap_or("wav")
                ),
            )),
            None => {}
        }
        if let Some(what) = version_soup(&base) {
            out.push(file_finding(
                FindingKind::Naming,
                Severity::Warning,
                vec![name.stem.clone()],
                0.0,
                Unit::None,
                format!("{file} carries a working name ({what})."),
                "Give delivery files clean names: TrackName_Stem, no FINAL, v2, copy or Audio_27."
                    .into(),
            ));
        }
    }
    tracks.sort();
    tracks.dedup();
    if tracks.len() > 1 {
        out.push(file_finding(
            FindingKind::Naming,
            Severity::Warning,
            vec![],
            tracks.len() as f64,
            Unit::Count,
            format!(
                "The files carry {} different track names: {}.",
                tracks.len(),
                tracks.join(", ")
            ),
            "Use one track name for every file of the delivery.".into(),
        ));
    }
    let mut stems: Vec<String> = inputs
        .stems
        .iter()
        .map(|p| stem_name(p).stem.to_lowercase())
        .collect();
    stems.sort();
    let mut duplicates: Vec<String> = stems
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0].clone())
        .collect();
    duplicates.dedup();
    for dup in duplicates {
        out.push(file_finding(
            FindingKind::Naming,
            Severity::Error,
            vec![dup.clone()],
            0.0,
            Unit::None,
            format!("Two files claim the same stem \"{dup}\"."),
            "Give every stem a distinct role (Drums, Bass, ...), or merge them.".into(),
        ));
    }
    out
}

/// Every file must be as long as the mix, to the sample.
fn length_findings(tracks: &[Track]) -> Vec<Finding> {
    let mix_len = tracks[0].frames_read as i64;
    let rate = f64::from(tracks[0].format.sample_rate_hz);
    tracks
        .iter()
        .skip(1)
        .filter(|t| t.frames_read as i64 != mix_len)
        .map(|t| {
            let diff = t.frames_read as i64 - mix_len;
            let ms = diff as f64 * 1000.0 / rate;
            file_finding(
                FindingKind::LengthMismatch,
                if diff.unsigned_abs() as f64 > rate * 0.5 {
                    Severity::Error
                } else {
                    Severity::Warning
                },
                vec![t.name()],
                diff as f64,
                Unit::Samples,
                format!(
                    "{} is {} samples ({:.1} ms) {} than the mix.",
                    t.file_name(),
                    diff.abs(),
                    ms.abs(),
                    if diff < 0 { "shorter" } else { "longer" }
                ),
                "Export every stem over exactly the same range as the mix (same start and end)."
                    .into(),
            )
        })
        .collect()
}

/// Signal still sounding in the last 10 ms; stereo files that are mono.
fn tail_and_stereo_findings(tracks: &[Track]) -> Vec<Finding> {
    let mut out = Vec::new();
    for t in tracks {
        let rms = (t.tail.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / t.tail.len() as f64)
            .sqrt();
        let tail_db = stemcheck_analysis::headroom::db(rms);
        if t.frames_read as usize >= t.tail.len() && tail_db > TAIL_FLOOR_DBFS {
            out.push(file_finding(
                FindingKind::TailCut,
                Severity::Warning,
                if t.role == "stem" { vec![t.name()] } else { vec![] },
                f64::from(tail_db),
                Unit::Dbfs,
                format!("{} ends while still sounding ({tail_db:.1} dBFS in its last 10 ms): a tail was cut off.", t.file_name()),
                "Extend the export range until the reverb and release have died away.".into(),
            ));
        }
        if t.identical_channels && t.frames_read > 0 {
            out.push(file_finding(
                FindingKind::FakeStereo,
                Severity::Info,
                if t.role == "stem" {
                    vec![t.name()]
                } else {
                    vec![]
                },
                0.0,
                Unit::None,
                format!(
                    "{} is stereo but both channels are identical.",
                    t.file_name()
                ),
                "Deliver it as mono if the spec allows (or check the panning).".into(),
            ));
        }
    }
    out
}
