//! The check itself: open every file, agree on the analysis rate (the stems' majority; an odd
//! file is resampled), stream them in lock step through the analysis core (the same one the
//! plugin runs) while keeping their envelopes, and, when a stem turns out to start seconds early
//! or late (or to match nothing), stream them once more with that stem shifted. Then add the
//! file-level delivery findings. Files are read at most twice. A delivery with more than two
//! channels is compared one channel at a time through the same passes (see `surround`).

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use stemcheck_analysis::StemInput;
use stemcheck_analysis::{
    Analyzer, AnalyzerConfig, Block, Finding, FindingKind, SignalAudio, Verdict,
};
use stemcheck_report::{FileInfo, FileRole, Report, Source};

use crate::align::{self, Envelope};
use crate::beside::{Beside, Handed, Measured};
use crate::coherence::Coherence;
use crate::decode::{AudioReader, Format, InputError};
use crate::delivery::{self, Delivery, FileFacts, FileWatch, TailLevels, reference_format};
use crate::inputs::Inputs;
use crate::offsets::{self, Alignment};
use crate::profile::Spec;
use crate::read_ahead::ReadAhead;
use crate::timeline::ResidualTimeline;

/// Frames decoded and analysed per step.
const BLOCK_FRAMES: usize = 8192;
/// When a file is resampled to compare, the null residual is measured below this share of the
/// lowest file rate's Nyquist frequency (16.5 kHz for 44.1 kHz, 18 kHz for 48 kHz): resamplers
/// are flat to about 0.85 of Nyquist and cut differently above (a file rendered at 48 kHz and
/// converted to 44.1 kHz by the DAW, set against stems converted by the checker, leaves -47 dB
/// of residual between 19.5 and 22 kHz that is no defect of the delivery).
const RESAMPLED_COMPARE_NYQUIST_SHARE: f32 = 0.75;

/// What one pass over the files leaves.
pub(crate) struct Pass {
    pub(crate) analyzer: Analyzer,
    /// Per file (the mix first).
    pub(crate) watches: Vec<FileWatch>,
    /// Per file, when asked for.
    envelopes: Option<Vec<Envelope>>,
    /// The residual's (the mix minus every stem, as placed in the pass), with the files'.
    residual_envelope: Option<Envelope>,
    /// Every stem's coherence with the mix, as placed in the pass (the shifted pass only).
    coherence: Option<Coherence>,
    /// The residual over the analysed audio (for `--plot`).
    pub(crate) timeline: ResidualTimeline,
}

/// Runs the check. `progress` shows a bar on stderr.
pub fn check(
    inputs: &Inputs,
    spec: &Spec,
    input_names: Vec<String>,
    progress: bool,
) -> Result<Report, InputError> {
    check_with_timeline(inputs, spec, input_names, progress).map(|(report, _)| report)
}

/// [`check`], with the residual over the analysed audio (what `--plot` draws over time).
pub fn check_with_timeline(
    inputs: &Inputs,
    spec: &Spec,
    input_names: Vec<String>,
    progress: bool,
) -> Result<(Report, ResidualTimeline), InputError> {
    let paths: Vec<PathBuf> = std::iter::once(inputs.mix.clone())
        .chain(inputs.stems.iter().cloned())
        .collect();
    let names: Vec<Option<String>> = inputs
        .names()
        .into_iter()
        .enumerate()
        .map(|(i, n)| (i > 0).then_some(n.stem))
        .collect();
    let readers = open_all(&paths)?;
    let formats: Vec<Format> = readers.iter().map(|r| r.format.clone()).collect();
    if formats.iter().any(|f| f.channels > 2) {
        // Surround: every channel compared on its own (see `surround`).
        drop(readers);
        return crate::surround::check(
            inputs,
            spec,
            input_names,
            &paths,
            &names,
            &formats,
            progress,
        );
    }
    let analysed = analyse(readers, &paths, &names, spec, progress)?;
    let (rate, reference) = (analysed.rate, analysed.reference);

    let facts: Vec<FileFacts> = paths
        .iter()
        .zip(&formats)
        .zip(&analysed.pass.watches)
        .zip(&names)
        .map(|(((path, format), watch), name)| FileFacts {
            path: path.clone(),
            stem: name.clone(),
            format: format.clone(),
            frames_read: watch.frames_read,
            tail: watch.tail_levels().unwrap_or(TailLevels::NONE),
            identical_channels: watch.identical_channels(),
        })
        .collect();
    let mut findings = delivery::findings(&Delivery {
        files: &facts,
        inputs,
        spec,
        reference,
        analysis_rate_hz: rate,
    });
    let display: Vec<String> = facts.iter().map(FileFacts::name).collect();
    findings.extend(analysed.findings(&display));
    let Analysed { pass, .. } = analysed;
    let measurements = pass.analyzer.last_measurements().clone();
    if let Some(hz) = pass.analyzer.config().compare_below_hz {
        offsets::allow_for_resampling(&mut findings, hz);
    }
    delivery::reconcile_timecode(&mut findings, rate);
    findings.sort_by_key(|f| std::cmp::Reverse(f.importance()));

    let files = facts
        .iter()
        .enumerate()
        .map(|(index, t)| file_info(index, t, levels_in(&measurements, index)))
        .collect();
    let mut report = files_report(input_names, spec, &findings, &facts[0], rate);
    report.files = files;
    report.layout = Some(facts[0].format.layout.name.clone());
    report.findings = findings;
    report.measurements = Some(measurements);
    Ok((report, pass.timeline))
}

/// A file's peak and true peak as the analysis measured them (`index`: the mix first), in
/// dBFS and dBTP.
pub(crate) fn levels_in(m: &stemcheck_analysis::Measurements, index: usize) -> Option<(f32, f32)> {
    let levels = if index == 0 {
        m.master_levels
    } else {
        m.stems
            .iter()
            .find(|s| s.id == index as u32)
            .map(|s| s.levels)
    };
    levels.map(|l| (l.peak_dbfs, l.true_peak_dbtp))
}

/// The report's entry for file `index` (the mix first), with its peak and true peak.
pub(crate) fn file_info(index: usize, t: &FileFacts, levels: Option<(f32, f32)>) -> FileInfo {
    FileInfo {
        path: t.path.display().to_string(),
        role: if index == 0 {
            FileRole::Mix
        } else {
            FileRole::Stem
        },
        stem: t.stem.clone(),
        sample_rate_hz: t.format.sample_rate_hz,
        bit_depth: t.format.bits_per_sample,
        sample_format: t.format.sample_format.to_string(),
        channels: t.format.channels,
        length_samples: t.frames_read,
        peak_dbfs: levels.map_or(f32::NAN, |l| l.0),
        true_peak_dbtp: levels.map_or(f32::NAN, |l| l.1),
    }
}

/// A report on files with `findings`, its length that of the `mix`.
pub(crate) fn files_report(
    input_names: Vec<String>,
    spec: &Spec,
    findings: &[Finding],
    mix: &FileFacts,
    rate: u32,
) -> Report {
    Report::new(
        Source::Files {
            inputs: input_names,
            profile: spec.name.to_string(),
        },
        Verdict::of(findings),
        mix.frames_read as f64 / f64::from(mix.format.sample_rate_hz),
        rate as f32,
    )
}

/// What the audio comparison of one set of files leaves (the mix first).
pub(crate) struct Analysed {
    pub(crate) pass: Pass,
    pub(crate) alignment: Alignment,
    /// The analysis rate, in Hz.
    pub(crate) rate: u32,
    pub(crate) config: AnalyzerConfig,
    pub(crate) reference: delivery::Reference,
}

impl Analysed {
    /// The audio findings: the shifted and unmatched files', then the analysis', adjusted for
    /// the shifts (`display`: per file its name, the mix first).
    pub(crate) fn findings(&self, display: &[String]) -> Vec<Finding> {
        let m = self.pass.analyzer.last_measurements();
        let mut out = self.alignment.findings(m, display, self.rate);
        out.extend(offsets::adjust_analysis_findings(
            self.pass.analyzer.findings(),
            &self.alignment,
            display,
            self.config.true_peak_limit_dbtp,
            m.sample_rate_hz,
        ));
        out
    }
}

/// Streams `readers` (opened on `paths`, the mix first; each maybe on one selected channel)
/// through the analysis: a first pass, and a second with the offset files shifted if the first
/// found any. Files are read at most twice.
pub(crate) fn analyse(
    readers: Vec<AudioReader>,
    paths: &[PathBuf],
    names: &[Option<String>],
    spec: &Spec,
    progress: bool,
) -> Result<Analysed, InputError> {
    let readers_channels: Vec<Option<usize>> = readers.iter().map(|r| r.selected()).collect();
    let formats: Vec<Format> = readers.iter().map(|r| r.format.clone()).collect();
    let reference = reference_format(&formats);
    // The stems' rate; but a mix at a lower rate holds nothing above its Nyquist, so the stems
    // are brought down to it rather than the mix up (which would leave the stems' top band as
    // a residual no delivery defect explains).
    let rate = reference.sample_rate_hz.min(formats[0].sample_rate_hz);
    let config = AnalyzerConfig {
        true_peak_limit_dbtp: spec.true_peak_limit_dbtp,
        usual_min_stems: spec.min_stems,
        usual_max_stems: spec.max_stems,
        compare_below_hz: compare_below_hz(&formats, rate),
        master_floor_dbfs: quantisation_floor_dbfs(&formats[0]),
        stem_floor_dbfs: formats[1..]
            .iter()
            .filter_map(quantisation_floor_dbfs)
            .reduce(f32::max),
        ..AnalyzerConfig::default()
    };
    // The mix's length at the analysis rate, as declared (for the progress bar and the hop).
    let total_frames = formats[0].declared_frames.map(|f| {
        (f as f64 * f64::from(rate) / f64::from(formats[0].sample_rate_hz)).round() as u64
    });
    let hop = align::hop_frames(rate, total_frames);
    let bar = match total_frames {
        Some(total) if progress && total > 0 => {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("{spinner} {bar:40} {percent:>3}% {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_message(format!("checking {} files", paths.len()));
            Some(bar)
        }
        _ => None,
    };

    let mut alignment = Alignment::unchanged(paths.len());
    let first = run_pass(
        readers,
        &alignment,
        None,
        rate,
        &config,
        names,
        Some(hop),
        bar.as_ref(),
    )?;
    let nulls = first
        .analyzer
        .findings()
        .iter()
        .any(|f| f.kind == FindingKind::Nulls);
    let pass = match &first.envelopes {
        // A delivery that nulls is aligned: nothing to search.
        Some(envelopes) if !nulls => {
            let frames: Vec<u64> = first
                .watches
                .iter()
                .zip(&formats)
                .map(|(w, f)| {
                    (w.frames_read as f64 * f64::from(rate) / f64::from(f.sample_rate_hz)).round()
                        as u64
                })
                .collect();
            alignment = Alignment::find(
                envelopes,
                first.residual_envelope.as_ref(),
                &frames,
                first.analyzer.last_measurements(),
                rate,
            );
            if alignment.shifts_anything() {
                let span = alignment.covered_span(&frames);
                if let Some(bar) = &bar {
                    bar.reset();
                    bar.set_message("aligning the offset files and checking again");
                }
                let readers = reopen(paths, &readers_channels)?;
                let second = run_pass(
                    readers,
                    &alignment,
                    span,
                    rate,
                    &config,
                    names,
                    None,
                    bar.as_ref(),
                )?;
                if let Some(coherence) = &second.coherence {
                    alignment.confirm(coherence, second.analyzer.last_measurements());
                }
                second
            } else {
                first
            }
        }
        _ => first,
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }

    Ok(Analysed {
        pass,
        alignment,
        rate,
        config,
        reference,
    })
}

/// Opens `paths` again, each on the channel it was read on.
fn reopen(paths: &[PathBuf], channels: &[Option<usize>]) -> Result<Vec<AudioReader>, InputError> {
    paths
        .iter()
        .zip(channels)
        .map(|(p, c)| {
            let mut reader = AudioReader::open(p)?;
            if let Some(c) = c {
                reader.select_channel(*c)?;
            }
            Ok(reader)
        })
        .collect()
}

fn open_all(paths: &[PathBuf]) -> Result<Vec<AudioReader>, InputError> {
    paths.iter().map(|p| AudioReader::open(p)).collect()
}

/// The noise floor of a file stored as integers, per sample, in dBFS: TPDF dither of one LSB
/// either way plus the rounding, a mean square of a quarter LSB squared (-6.02 dB per bit: a
/// 16-bit file's is -96.3 dBFS); `None` for floating point.
fn quantisation_floor_dbfs(format: &Format) -> Option<f32> {
    (format.sample_format == "int" && (8..=32).contains(&format.bits_per_sample))
        .then(|| -20.0 * 2.0f32.log10() * format.bits_per_sample as f32)
}

/// Where the null residual is measured when some file is not at the analysis rate `rate_hz`
/// (it is resampled): below the band every file holds (see
/// [`RESAMPLED_COMPARE_NYQUIST_SHARE`]); `None` when no file is resampled.
fn compare_below_hz(formats: &[Format], rate_hz: u32) -> Option<f32> {
    let lowest = formats.iter().map(|f| f.sample_rate_hz).min()?;
    let resampled = formats.iter().any(|f| f.sample_rate_hz != rate_hz);
    resampled.then(|| RESAMPLED_COMPARE_NYQUIST_SHARE * 0.5 * lowest.min(rate_hz) as f32)
}

/// Streams every file once through a fresh analyzer, shifted as `alignment` says; keeps the
/// envelopes (hop `envelope_hop`) if asked. Only the frames in `span` (timeline frames at the
/// analysis rate, end excluded) go into the analysis, when given; every frame is still read.
#[allow(clippy::too_many_arguments)]
fn run_pass(
    readers: Vec<AudioReader>,
    alignment: &Alignment,
    span: Option<(u64, u64)>,
    rate: u32,
    config: &AnalyzerConfig,
    names: &[Option<String>],
    envelope_hop: Option<usize>,
    bar: Option<&ProgressBar>,
) -> Result<Pass, InputError> {
    let mix_path = readers[0].path.clone();
    let channels: Vec<u32> = readers.iter().map(AudioReader::analysed_channels).collect();
    let streams = readers
        .into_iter()
        .enumerate()
        .map(|(i, r)| crate::stream::TrackStream::new(r, rate, alignment.delay_samples[i]))
        .collect::<Result<Vec<_>, _>>()?;
    let mut analyzer = Analyzer::new(rate as f32, *config);
    for (index, name) in names.iter().enumerate().skip(1) {
        if alignment.analysed[index] {
            analyzer.set_stem_name(index as u32, name.as_deref().unwrap_or("?"));
        }
    }
    // The residual's envelope (see `Envelope::isolated`) with the files', the stems' coherence
    // in the shifted pass (see `Alignment::confirm`) and the residual over time are measured
    // beside the analysis, on their own thread (see `beside`).
    let beside = Beside::start(
        Measured {
            residual_envelope: envelope_hop.map(Envelope::new),
            coherence: envelope_hop
                .is_none()
                .then(|| Coherence::new(streams.len())),
            timeline: ResidualTimeline::new(rate),
        },
        channels.clone(),
        alignment.analysed.clone(),
    )
    .map_err(|e| InputError {
        path: mix_path.clone(),
        message: format!("cannot start a thread ({e})"),
    })?;

    // Decoding runs on worker threads, a few blocks ahead of the analysis (see `read_ahead`):
    // the check then costs about what the slowest stage costs, not their sum.
    let mut ahead = ReadAhead::start(streams, BLOCK_FRAMES, envelope_hop);
    let mut failure = None;
    // The timeline frame the next block starts at.
    let mut position = 0u64;
    while let Some(block) = ahead.next_block() {
        let padded = match block {
            Ok(padded) => padded,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        let longest = padded.first().map_or(0, |b| b[0].len());
        let (start, end) = span.unwrap_or((0, u64::MAX));
        let lo = (start.max(position) - position).min(longest as u64) as usize;
        let hi = (end.max(position) - position).min(longest as u64) as usize;
        position += longest as u64;
        if lo < hi {
            let stems: Vec<StemInput<'_>> = padded
                .iter()
                .enumerate()
                .skip(1)
                .filter(|(i, _)| alignment.analysed[*i])
                .map(|(i, buffer)| StemInput {
                    id: i as u32,
                    audio: Some(signal(buffer, channels[i], lo..hi)),
                })
                .collect();
            analyzer.process(&Block {
                num_frames: hi - lo,
                master: Some(signal(&padded[0], channels[0], lo..hi)),
                stems: &stems,
            });
        }
        beside.hand(Handed {
            padded,
            analysed_frames: lo..hi.max(lo),
            common_lag_samples: analyzer.last_measurements().common_lag_samples,
        });
        if let Some(bar) = bar {
            bar.inc(longest as u64);
        }
    }
    let measured = beside.finish();
    let (streams, envelopes) = ahead.finish().ok_or_else(|| InputError {
        path: mix_path,
        message: "the decoder failed unexpectedly".into(),
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    analyzer.finish();
    Ok(Pass {
        analyzer,
        watches: streams.into_iter().map(|s| s.watch).collect(),
        envelopes,
        residual_envelope: measured.residual_envelope,
        coherence: measured.coherence,
        timeline: measured.timeline,
    })
}

/// The frames `range` of a block as the analysis takes them.
fn signal(buffer: &[Vec<f32>; 2], channels: u32, range: std::ops::Range<usize>) -> SignalAudio<'_> {
    if channels == 1 {
        SignalAudio::mono(&buffer[0][range])
    } else {
        SignalAudio::stereo(&buffer[0][range.clone()], &buffer[1][range])
    }
}
