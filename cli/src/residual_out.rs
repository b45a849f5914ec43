//! `--write-residual FILE`: the difference stem. What the mix has that the delivered stems do
//! not: the mix minus the stems' sum, each stem lined up by the offsets the check found (its
//! `stem-offset`/`stem-start-offset` and the mix's `master-latency`), at unity gain, on the mix's
//! timeline and length. Written at the delivery's format (the stems' bit depth and sample
//! format, the rate the check compared at, the mix's channels), streamed block by block into a
//! temporary file renamed over FILE once complete. When every file is integer PCM no deeper than
//! the output and none was resampled, the difference lies on the output's grid and is written
//! exactly (the lined-up stems plus this file rebuild the mix to the bit); otherwise it is
//! TPDF-dithered to the output's depth.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use stemcheck_analysis::{FindingKind, Severity, Unit, amplitude_to_db};
use stemcheck_report::{Report, ResidualFile};

use crate::decode::{AudioReader, Format, InputError};
use crate::delivery::reference_format;
use crate::inputs::Inputs;
use crate::stream::TrackStream;

/// Frames read and written per step.
const BLOCK_FRAMES: usize = 8192;
/// The dither's seed: the same delivery always gives the same file.
const DITHER_SEED: u64 = 0x5354_454d_4348_4b31;

/// The kinds a difference stem never holds: the files' own rules, and the timing it was lined
/// up by.
const NOT_HELD: &[FindingKind] = &[
    FindingKind::Nulls,
    FindingKind::StemOffset,
    FindingKind::StemStartOffset,
    FindingKind::MasterLatency,
    FindingKind::LengthMismatch,
    FindingKind::FormatMismatch,
    FindingKind::SampleRateMismatch,
    FindingKind::Naming,
    FindingKind::TailCut,
    FindingKind::FakeStereo,
    FindingKind::StemCount,
    FindingKind::TruePeak,
    FindingKind::Clipping,
];

/// How the difference is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Storage {
    /// Integer PCM of this many bits.
    Int(u32),
    /// 32-bit float.
    Float,
}

impl Storage {
    /// The delivery's format as a WAV file can hold it: 16/24/32-bit int (8-bit becomes 16),
    /// or 32-bit float (64-bit float too).
    fn of(bits: u32, sample_format: &str) -> Self {
        if sample_format == "float" {
            Storage::Float
        } else {
            Storage::Int(bits.clamp(16, 32).div_ceil(8) * 8)
        }
    }
}

/// Per file (the mix first): the delay that lines it up with the mix, in samples at the rate the
/// check compared at. Read from the report's timing findings: `master-latency` (the mix later
/// than every stem: every stem is delayed by it) plus each stem's own `stem-offset` or
/// `stem-start-offset` (early +: delayed by it).
pub fn stem_delays(report: &Report) -> Vec<i64> {
    let mut common = 0i64;
    let mut own: HashMap<&str, i64> = HashMap::new();
    for f in &report.findings {
        if f.unit != Unit::Samples || !f.value.is_finite() {
            continue;
        }
        let samples = f.value.round() as i64;
        match f.kind {
            FindingKind::MasterLatency => common += samples,
            FindingKind::StemOffset | FindingKind::StemStartOffset if f.stems.len() == 1 => {
                *own.entry(f.stems[0].as_str()).or_default() += samples;
            }
            _ => {}
        }
    }
    report
        .files
        .iter()
        .enumerate()
        .map(|(i, file)| {
            if i == 0 {
                0
            } else {
                common
                    + file
                        .stem
                        .as_deref()
                        .and_then(|s| own.get(s))
                        .copied()
                        .unwrap_or(0)
            }
        })
        .collect()
}

/// Writes the difference stem of the checked delivery (`inputs`, whose `report` the check made)
/// to `path`, atomically, and says what it is.
pub fn write_residual(
    inputs: &Inputs,
    report: &Report,
    path: &Path,
) -> Result<ResidualFile, InputError> {
    let paths: Vec<PathBuf> = std::iter::once(inputs.mix.clone())
        .chain(inputs.stems.iter().cloned())
        .collect();
    let probed = paths
        .iter()
        .map(|p| AudioReader::open(p))
        .collect::<Result<Vec<_>, _>>()?;
    let formats: Vec<Format> = probed.iter().map(|r| r.format.clone()).collect();
    let reference = reference_format(&formats);
    let rate_hz = report.sample_rate_hz.round() as u32;
    let storage = Storage::of(reference.bits_per_sample, reference.sample_format);
    // On the grid: every sample of every file is a multiple of the output's LSB, and so is
    // their difference.
    let exact = match storage {
        Storage::Float => true,
        Storage::Int(bits) => formats.iter().all(|f| {
            f.sample_format == "int" && f.bits_per_sample <= bits && f.sample_rate_hz == rate_hz
        }),
    };
    let dithered = !exact;
    let layout = &formats[0].layout;
    let surround = formats.iter().any(|f| f.channels > 2);
    let channels = if surround {
        layout.count() as u32
    } else {
        formats[0].channels.clamp(1, 2)
    };
    let delays = stem_delays(report);
    // The lanes: files streamed together, the mix first, and which of their planes go to which
    // output channel. Mono and stereo: one lane of whole files. Surround: one lane per channel
    // of the mix, of that channel of the mix and of every stem that has it (by speaker name).
    let mut lanes: Vec<Lane> = Vec::new();
    if surround {
        drop(probed);
        for (k, speaker) in layout.speakers.iter().enumerate() {
            let mut streams = Vec::new();
            for (i, (p, f)) in paths.iter().zip(&formats).enumerate() {
                let channel = if i == 0 {
                    Some(k)
                } else {
                    f.layout.index_of(speaker.short)
                };
                if let Some(c) = channel {
                    let mut reader = AudioReader::open(p)?;
                    reader.select_channel(c)?;
                    streams.push(TrackStream::new(reader, rate_hz, delays[i])?);
                }
            }
            lanes.push(Lane {
                streams,
                outputs: vec![(0, k)],
            });
        }
    } else {
        let streams = probed
            .into_iter()
            .zip(&delays)
            .map(|(r, &d)| TrackStream::new(r, rate_hz, d))
            .collect::<Result<Vec<_>, _>>()?;
        lanes.push(Lane {
            streams,
            outputs: (0..channels as usize).map(|c| (c, c)).collect(),
        });
    }

    let write_error = |e: &dyn std::fmt::Display| InputError {
        path: path.to_path_buf(),
        message: format!("cannot write the difference stem ({e})"),
    };
    let spec = hound::WavSpec {
        channels: channels as u16,
        sample_rate: rate_hz,
        bits_per_sample: match storage {
            Storage::Int(bits) => bits as u16,
            Storage::Float => 32,
        },
        sample_format: match storage {
            Storage::Int(_) => hound::SampleFormat::Int,
            Storage::Float => hound::SampleFormat::Float,
        },
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));

    let mut levels = Levels::default();
    let result = (|| -> Result<(), InputError> {
        let mut writer = hound::WavWriter::create(&temp, spec).map_err(|e| write_error(&e))?;
        let mut rng = SmallRng::seed_from_u64(DITHER_SEED);
        let mut mix = [Vec::new(), Vec::new()];
        let mut stem = [Vec::new(), Vec::new()];
        let mut difference = vec![Vec::<f64>::new(); channels as usize];
        loop {
            // The mix's length rules: every lane reads as many frames as the first lane's mix.
            let mut frames = BLOCK_FRAMES;
            for (index, lane) in lanes.iter_mut().enumerate() {
                let (first, rest) = lane.streams.split_at_mut(1);
                let got = first[0].read(&mut mix, frames)?;
                if index == 0 {
                    frames = got;
                }
                for &(plane, c) in &lane.outputs {
                    difference[c].clear();
                    difference[c].extend(mix[plane].iter().map(|&x| f64::from(x)));
                    difference[c].resize(frames, 0.0);
                }
                if frames == 0 {
                    break;
                }
                for s in rest.iter_mut() {
                    let got = s.read(&mut stem, frames)?;
                    for &(plane, c) in &lane.outputs {
                        for (d, &x) in difference[c].iter_mut().zip(&stem[plane][..got]) {
                            *d -= f64::from(x);
                        }
                    }
                }
            }
            if frames == 0 {
                break;
            }
            for i in 0..frames {
                for d in difference.iter().take(channels as usize) {
                    let value = d[i];
                    match storage {
                        Storage::Float => {
                            let x = value as f32;
                            levels.observe(f64::from(x));
                            writer.write_sample(x).map_err(|e| write_error(&e))?;
                        }
                        Storage::Int(bits) => {
                            let scale = f64::from(1u32 << (bits - 1));
                            let tpdf = if dithered {
                                rng.r#gen::<f64>() - rng.r#gen::<f64>()
                            } else {
                                0.0
                            };
                            let q = (value * scale + tpdf).round();
                            let clamped = q.clamp(-scale, scale - 1.0);
                            if clamped != q {
                                levels.clipped += 1;
                            }
                            levels.observe(clamped / scale);
                            writer
                                .write_sample(clamped as i32)
                                .map_err(|e| write_error(&e))?;
                        }
                    }
                }
            }
        }
        writer.finalize().map_err(|e| write_error(&e))?;
        if surround {
            crate::layout::set_wav_channel_mask(&temp, layout.mask).map_err(|e| write_error(&e))?;
        }
        std::fs::File::open(&temp)
            .and_then(|f| f.sync_all())
            .map_err(|e| write_error(&e))?;
        std::fs::rename(&temp, path).map_err(|e| write_error(&e))
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }

    let holds = report
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning && !NOT_HELD.contains(&f.kind))
        .map(|f| {
            if f.stems.is_empty() {
                f.kind.name().to_string()
            } else {
                format!("{} ({})", f.kind.name(), f.stems.join(", "))
            }
        })
        .collect();
    Ok(ResidualFile {
        path: path.display().to_string(),
        sample_rate_hz: rate_hz,
        channels,
        bit_depth: u32::from(spec.bits_per_sample),
        sample_format: match storage {
            Storage::Int(_) => "int".into(),
            Storage::Float => "float".into(),
        },
        dithered,
        peak_dbfs: amplitude_to_db(levels.peak),
        rms_dbfs: amplitude_to_db(levels.rms()),
        clipped_samples: levels.clipped,
        stem_delays_samples: report
            .files
            .iter()
            .zip(&delays)
            .skip(1)
            .map(|(f, &d)| (f.stem.clone().unwrap_or_default(), d))
            .collect(),
        holds,
    })
}

/// Files streamed together for the difference, the mix first, and which plane of their blocks
/// goes to which output channel: (plane, output channel).
struct Lane {
    streams: Vec<TrackStream>,
    outputs: Vec<(usize, usize)>,
}

/// Peak and RMS of what was written.
#[derive(Debug, Default)]
struct Levels {
    peak: f64,
    sum_of_squares: f64,
    samples: u64,
    clipped: u64,
}

impl Levels {
    fn observe(&mut self, x: f64) {
        self.peak = self.peak.max(x.abs());
        self.sum_of_squares += x * x;
        self.samples += 1;
    }

    fn rms(&self) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            (self.sum_of_squares / self.samples as f64).sqrt()
        }
    }
}

/// One line for the terminal: where the difference stem went, how loud it is, what it holds.
pub fn describe(r: &ResidualFile) -> String {
    format!(
        "Difference stem: {} ({} Hz, {} ch, {}-bit {}{}), peak {:.1} dBFS, RMS {:.1} dBFS{}; holds: {}.",
        r.path,
        r.sample_rate_hz,
        r.channels,
        r.bit_depth,
        r.sample_format,
        if r.dithered { ", TPDF dither" } else { "" },
        r.peak_dbfs,
        r.rms_dbfs,
        if r.clipped_samples > 0 {
            format!(", {} samples clipped", r.clipped_samples)
        } else {
            String::new()
        },
        if r.holds.is_empty() {
            "nothing the analysis names".to_string()
        } else {
            r.holds.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_keeps_the_delivery_depth_a_wav_can_hold() {
        assert_eq!(Storage::of(24, "int"), Storage::Int(24));
        assert_eq!(Storage::of(16, "int"), Storage::Int(16));
        assert_eq!(Storage::of(8, "int"), Storage::Int(16));
        assert_eq!(Storage::of(20, "int"), Storage::Int(24));
        assert_eq!(Storage::of(64, "float"), Storage::Float);
    }

    #[test]
    fn levels_are_peak_and_rms_over_every_sample() {
        let mut l = Levels::default();
        for x in [0.5, -0.5, 0.5, -0.5] {
            l.observe(x);
        }
        assert_eq!(l.peak, 0.5);
        assert!((l.rms() - 0.5).abs() < 1e-12);
    }
}
