//! The check of a delivery with more than two channels (LCR, quad, 5.0, 5.1, 7.1): every
//! channel of the mix's layout is compared on its own, as a mono delivery of that channel of
//! the mix and of every stem that has it (matched by speaker name), through the same analysis
//! and alignment as a stereo delivery, the channels in parallel on the machine's cores. The
//! channels' findings are merged (see `groups`), the file-level delivery rules run once, and the
//! report carries every channel's residual and verdict; its measurements are the worst
//! channel's. Each channel reads the files it needs once more (twice when a stem is offset).

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use stemcheck_analysis::{Finding, Measurements};
use stemcheck_report::{ChannelResult, Report};

use crate::check::{Analysed, analyse, file_info, files_report, levels_in};
use crate::decode::{AudioReader, Format, InputError};
use crate::delivery::{self, Delivery, FileFacts, FileWatch, TailLevels};
use crate::groups::{self, ChannelFindings};
use crate::inputs::Inputs;
use crate::layout::Speaker;
use crate::offsets;
use crate::profile::Spec;
use crate::timeline::ResidualTimeline;

/// A stem whose peak on a channel is below this carries nothing there, in dBFS.
const SILENT_PEAK_DBFS: f32 = -120.0;
/// How often the progress spinner turns, in ms.
const PROGRESS_TICK_MS: u64 = 120;
/// Frames read per step when a file takes part in no channel's comparison.
const WATCH_BLOCK_FRAMES: usize = 8192;

/// One channel of the mix and the files compared on it.
struct ChannelPlan {
    speaker: Speaker,
    /// (file index, the mix first; channel index in that file), the mix first.
    members: Vec<(usize, usize)>,
}

/// What one channel's comparison left.
struct ChannelRun {
    findings: Vec<Finding>,
    measurements: Measurements,
    /// Per member: its watch.
    watches: Vec<FileWatch>,
    /// Where the null residual was band-limited: a file was resampled (see
    /// `check::compare_below_hz`).
    compared_below_hz: Option<f32>,
    timeline: ResidualTimeline,
    rate: u32,
    reference: delivery::Reference,
}

/// Checks a delivery whose files (`paths`, the mix first, with their `names` and `formats`)
/// have more than two channels. `progress` shows the channels done on stderr.
pub(crate) fn check(
    inputs: &Inputs,
    spec: &Spec,
    input_names: Vec<String>,
    paths: &[PathBuf],
    names: &[Option<String>],
    formats: &[Format],
    progress: bool,
) -> Result<(Report, ResidualTimeline), InputError> {
    let layout = formats[0].layout.clone();
    let plans: Vec<ChannelPlan> = layout
        .speakers
        .iter()
        .enumerate()
        .map(|(k, &speaker)| {
            let mut members = vec![(0, k)];
            for (i, f) in formats.iter().enumerate().skip(1) {
                if let Some(j) = f.layout.index_of(speaker.short) {
                    members.push((i, j));
                }
            }
            ChannelPlan { speaker, members }
        })
        .collect();
    let bar = progress.then(|| {
        let bar = ProgressBar::new(plans.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} channels {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(format!("of {} files ({})", paths.len(), layout.name));
        bar.enable_steady_tick(std::time::Duration::from_millis(PROGRESS_TICK_MS));
        bar
    });
    let runs = crate::pool::in_parallel(
        &plans,
        |plan| analyse_channel(plan, paths, names, spec),
        |_| {
            if let Some(bar) = &bar {
                bar.inc(1);
            }
        },
    )
    .into_iter()
    .collect::<Result<Vec<ChannelRun>, InputError>>()?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let rate = runs.first().map_or(formats[0].sample_rate_hz, |r| r.rate);
    let reference = runs
        .first()
        .map_or_else(|| delivery::reference_format(formats), |r| r.reference);

    // The files' facts: lengths from any channel, the worst channel's tail (see `TailLevels::worse`).
    let mut watches: Vec<Option<FileWatch>> = vec![None; paths.len()];
    let mut tails = vec![TailLevels::NONE; paths.len()];
    for (plan, run) in plans.iter().zip(&runs) {
        for (&(i, _), watch) in plan.members.iter().zip(&run.watches) {
            tails[i] = tails[i].worse(watch.tail_levels().unwrap_or(TailLevels::NONE));
            watches[i].get_or_insert_with(|| watch.clone());
        }
    }
    for (i, watch) in watches.iter_mut().enumerate() {
        if watch.is_none() {
            // A file no channel compared (a mono stem in a surround delivery): read for its
            // facts only.
            let w = watch_only(&paths[i])?;
            tails[i] = w.tail_levels().unwrap_or(TailLevels::NONE);
            *watch = Some(w);
        }
    }
    let facts: Vec<FileFacts> = paths
        .iter()
        .zip(formats)
        .zip(&watches)
        .zip(names)
        .zip(&tails)
        .map(|((((path, format), watch), name), tail)| FileFacts {
            path: path.clone(),
            stem: name.clone(),
            format: format.clone(),
            frames_read: watch.as_ref().map_or(0, |w| w.frames_read),
            tail: *tail,
            identical_channels: false,
        })
        .collect();
    let file_findings = delivery::findings(&Delivery {
        files: &facts,
        inputs,
        spec,
        reference,
        analysis_rate_hz: rate,
    });

    let channel_findings: Vec<ChannelFindings> = plans
        .iter()
        .zip(&runs)
        .map(|(plan, run)| ChannelFindings {
            speaker: plan.speaker,
            findings: run.findings.clone(),
            stems: plan.members[1..]
                .iter()
                .map(|&(i, _)| facts[i].name())
                .collect(),
            carried: run
                .measurements
                .stems
                .iter()
                .any(|s| s.levels.peak_dbfs > SILENT_PEAK_DBFS),
        })
        .collect();
    let merged = groups::merge(&channel_findings);
    // Channel findings first: the timecode reconciliation only removes file-level findings, so
    // the channel findings keep their places (and their channels).
    let channel_count = merged.findings.len();
    let (mut findings, mut channels_of): (Vec<Finding>, Vec<Vec<String>>) =
        merged.findings.into_iter().unzip();
    findings.extend(file_findings);
    if let Some(hz) = runs.iter().find_map(|r| r.compared_below_hz) {
        offsets::allow_for_resampling(&mut findings, hz);
    }
    delivery::reconcile_timecode(&mut findings, rate);
    debug_assert!(findings.len() >= channel_count);
    channels_of.resize(findings.len(), Vec::new());
    let mut paired: Vec<(Finding, Vec<String>)> = findings.into_iter().zip(channels_of).collect();
    paired.sort_by_key(|(f, _)| std::cmp::Reverse(f.importance()));
    let (findings, finding_channels): (Vec<Finding>, Vec<Vec<String>>) = paired.into_iter().unzip();

    let worst = runs
        .iter()
        .enumerate()
        .max_by(|a, b| {
            a.1.measurements
                .null_residual_db
                .total_cmp(&b.1.measurements.null_residual_db)
        })
        .map_or(0, |(k, _)| k);
    let files = facts
        .iter()
        .enumerate()
        .map(|(index, t)| file_info(index, t, levels_of(&plans, &runs, index)))
        .collect();
    let mut report = files_report(input_names, spec, &findings, &facts[0], rate);
    report.files = files;
    report.findings = findings;
    report.finding_channels = finding_channels;
    report.layout = Some(layout.name.clone());
    report.channels = plans
        .iter()
        .zip(&runs)
        .zip(&merged.verdicts)
        .zip(&channel_findings)
        .map(|(((plan, run), &verdict), c)| ChannelResult {
            name: plan.speaker.short.to_string(),
            speaker: plan.speaker.long.to_string(),
            residual_db: run.measurements.null_residual_db,
            verdict,
            stems: c.stems.clone(),
        })
        .collect();
    report.worst_channel = plans.get(worst).map(|p| p.speaker.short.to_string());
    let mut runs = runs;
    let worst_run = runs.swap_remove(worst.min(runs.len().saturating_sub(1)));
    report.measurements = Some(worst_run.measurements);
    Ok((report, worst_run.timeline))
}

/// A file's highest peak and true peak over the channels it was compared on, in dBFS and dBTP.
fn levels_of(plans: &[ChannelPlan], runs: &[ChannelRun], file: usize) -> Option<(f32, f32)> {
    let mut out: Option<(f32, f32)> = None;
    for (plan, run) in plans.iter().zip(runs) {
        let Some(member) = plan.members.iter().position(|&(i, _)| i == file) else {
            continue;
        };
        if let Some((peak, true_peak)) = levels_in(&run.measurements, member) {
            out = Some(out.map_or((peak, true_peak), |(p, t)| (p.max(peak), t.max(true_peak))));
        }
    }
    out
}

/// Compares one channel: the mix's and every member stem's, each read as a mono file.
fn analyse_channel(
    plan: &ChannelPlan,
    paths: &[PathBuf],
    names: &[Option<String>],
    spec: &Spec,
) -> Result<ChannelRun, InputError> {
    let sub_paths: Vec<PathBuf> = plan
        .members
        .iter()
        .map(|&(i, _)| paths[i].clone())
        .collect();
    let sub_names: Vec<Option<String>> = plan
        .members
        .iter()
        .map(|&(i, _)| names[i].clone())
        .collect();
    let readers = plan
        .members
        .iter()
        .map(|&(i, c)| {
            let mut reader = AudioReader::open(&paths[i])?;
            reader.select_channel(c)?;
            Ok(reader)
        })
        .collect::<Result<Vec<_>, InputError>>()?;
    let analysed = analyse(readers, &sub_paths, &sub_names, spec, false)?;
    let display: Vec<String> = sub_names
        .iter()
        .map(|n| n.clone().unwrap_or_else(|| "Mix".to_string()))
        .collect();
    let findings = analysed.findings(&display);
    let Analysed {
        pass,
        rate,
        reference,
        ..
    } = analysed;
    let measurements = pass.analyzer.last_measurements().clone();
    Ok(ChannelRun {
        findings,
        measurements,
        watches: pass.watches,
        compared_below_hz: pass.analyzer.config().compare_below_hz,
        timeline: pass.timeline,
        rate,
        reference,
    })
}

/// Reads a file through for its facts only (length, tail).
fn watch_only(path: &std::path::Path) -> Result<FileWatch, InputError> {
    let mut reader = AudioReader::open(path)?;
    let mut watch = FileWatch::new(reader.format.sample_rate_hz, reader.format.channels);
    let mut buffer = [Vec::new(), Vec::new()];
    while reader.read(&mut buffer, WATCH_BLOCK_FRAMES)? > 0 {
        watch.observe(&buffer[0], &buffer[1]);
    }
    Ok(watch)
}
