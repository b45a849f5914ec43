//! One group's state in the core: its aligner, the instances' meters, and the counters of the
//! current transport run, kept up to date from the aligner's output.

use std::sync::Arc;
use std::time::Instant;

use stemcheck_bus::timeline::{EpochSummary, LaneState};
use stemcheck_bus::{
    AlignSink, AlignedChunk, Aligner, AlignerConfig, BlockHeader, LaneConsumer, LaneId,
    PositionSource,
};

use stemcheck_analysis::StemInput;
use stemcheck_analysis::{Analyzer, AnalyzerConfig, Block, Finding, SignalAudio, Verdict};

use crate::instance::InstanceShared;
use crate::snapshot::{GroupSnapshot, InstanceSnapshot, LaneActivity, Role};

/// The residual history keeps one point per this much audio, in seconds...
const HISTORY_STEP_SECONDS: f64 = 0.5;
/// ... and this many points (a minute).
const HISTORY_POINTS: usize = 120;
/// Time constant of the level meter, in seconds.
const LEVEL_TIME_CONSTANT_S: f64 = 0.3;
/// Floor for levels shown in dBFS (digital silence).
pub const SILENCE_DBFS: f32 = -200.0;

/// Converts a linear amplitude (or the square root of a power) to dBFS, floored.
pub fn to_dbfs(amplitude: f64) -> f32 {
    if amplitude > 0.0 {
        ((20.0 * amplitude.log10()) as f32).max(SILENCE_DBFS)
    } else {
        SILENCE_DBFS
    }
}

/// What the core keeps per instance besides its lane.
pub(crate) struct Member {
    pub id: LaneId,
    pub shared: Arc<InstanceShared>,
    /// Mean square, exponentially averaged.
    mean_square: f64,
    /// Highest absolute sample since registration.
    peak: f32,
    num_channels: usize,
    host_transport: bool,
    /// Frames present in the current run.
    present_frames: u64,
    /// The instance was unregistered; forget it once its lane is gone.
    pub leaving: bool,
}

impl Member {
    pub fn new(id: LaneId, shared: Arc<InstanceShared>) -> Self {
        Self {
            id,
            shared,
            mean_square: 0.0,
            peak: 0.0,
            num_channels: 0,
            host_transport: true,
            present_frames: 0,
            leaving: false,
        }
    }
}

/// Facts the sink collects while the aligner runs.
#[derive(Default)]
struct RunCounters {
    run: u64,
    sample_rate_hz: f32,
    start_pos_samples: i64,
    frames: u64,
    complete_frames: u64,
    total_frames: u64,
    playing: bool,
}

/// The aligner's sink: meters and counters.
struct Sink {
    members: Vec<Member>,
    counters: RunCounters,
    finished_runs: Vec<EpochSummary>,
    /// The analysis of the current run, and the roles it was started with.
    analyzer: Option<Analyzer>,
    analyzer_run: u64,
    analyzer_roles: Vec<(LaneId, Role)>,
}

impl Sink {
    fn member(&mut self, id: LaneId) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    /// Feeds a chunk to the run's analysis: the first master is the master, every stem a
    /// stem. A new run, or a change of roles, starts a fresh analysis.
    fn analyse(&mut self, chunk: &AlignedChunk<'_>) {
        let roles: Vec<(LaneId, Role)> = chunk
            .lanes()
            .filter_map(|l| {
                self.members
                    .iter()
                    .find(|m| m.id == l.id)
                    .map(|m| (l.id, m.shared.role()))
            })
            .collect();
        if self.analyzer.is_none()
            || self.analyzer_run != chunk.epoch
            || self.analyzer_roles != roles
        {
            self.analyzer = Some(Analyzer::new(
                chunk.sample_rate_hz,
                AnalyzerConfig::default(),
            ));
            self.analyzer_run = chunk.epoch;
            self.analyzer_roles = roles.clone();
        }
        let Some(analyzer) = self.analyzer.as_mut() else {
            return;
        };
        let master_id = roles
            .iter()
            .find(|(_, r)| *r == Role::Master)
            .map(|(id, _)| *id);
        let mut master = None;
        let mut stems = Vec::with_capacity(roles.len());
        for lane in chunk.lanes() {
            let audio = lane.present.then_some(SignalAudio {
                channels: lane.channels,
                num_channels: lane.num_channels,
            });
            if Some(lane.id) == master_id {
                master = audio;
            } else if roles
                .iter()
                .any(|(id, r)| *id == lane.id && *r == Role::Stem)
            {
                stems.push(StemInput { id: lane.id, audio });
            }
        }
        analyzer.process(&Block {
            num_frames: chunk.num_frames,
            master,
            stems: &stems,
        });
    }
}

impl AlignSink for Sink {
    fn piece(&mut self, lane: LaneId, header: &BlockHeader, channels: &[&[f32]]) {
        let Some(member) = self.member(lane) else {
            return;
        };
        let frames = header.num_frames as usize;
        if frames == 0 || channels.is_empty() {
            return;
        }
        let mut sum_squares = 0.0f64;
        let mut peak = member.peak;
        for channel in channels {
            for &sample in channel.iter() {
                sum_squares += f64::from(sample) * f64::from(sample);
                peak = peak.max(sample.abs());
            }
        }
        let mean_square = sum_squares / (frames * channels.len()) as f64;
        let rate = f64::from(header.sample_rate_hz.max(1.0));
        let keep = (-(frames as f64) / (LEVEL_TIME_CONSTANT_S * rate)).exp();
        member.mean_square = member.mean_square * keep + mean_square * (1.0 - keep);
        // Decaying averages of silence would go subnormal; clamp them to zero.
        if member.mean_square < 1e-30 {
            member.mean_square = 0.0;
        }
        member.peak = peak;
        member.num_channels = channels.len();
        member.host_transport = header.source == PositionSource::HostTransport;
    }

    fn chunk(&mut self, chunk: &AlignedChunk<'_>) {
        let counters = &mut self.counters;
        if chunk.epoch != counters.run {
            *counters = RunCounters {
                run: chunk.epoch,
                sample_rate_hz: chunk.sample_rate_hz,
                start_pos_samples: chunk.start_pos_samples,
                total_frames: counters.total_frames,
                ..RunCounters::default()
            };
            for member in &mut self.members {
                member.present_frames = 0;
            }
        }
        let frames = chunk.num_frames as u64;
        counters.frames += frames;
        counters.total_frames += frames;
        counters.playing = true;
        let mut has_master = false;
        let mut has_stem = false;
        let mut all_present = true;
        for lane in chunk.lanes() {
            let Some(member) = self.members.iter_mut().find(|m| m.id == lane.id) else {
                continue;
            };
            match member.shared.role() {
                Role::Master => has_master |= lane.present,
                Role::Stem => has_stem |= lane.present,
            }
            all_present &= lane.present;
            if lane.present {
                member.present_frames += frames;
            }
        }
        if has_master && has_stem && all_present {
            counters.complete_frames += frames;
        }
        self.analyse(chunk);
    }

    fn epoch_end(&mut self, summary: &EpochSummary) {
        self.counters.playing = false;
        if let Some(analyzer) = self.analyzer.as_mut() {
            analyzer.finish();
        }
        self.finished_runs.push(*summary);
    }
}

/// A group in the core.
pub(crate) struct Group {
    index: usize,
    /// The last report written for this group.
    pub last_report: Option<String>,
    /// Residual history of the current run (see `GroupSnapshot::residual_history_db`), and the
    /// run frame count of its last point.
    history: std::collections::VecDeque<f32>,
    history_run: (u64, u64),
    aligner: Aligner,
    sink: Sink,
    pub last_activity: Instant,
    generation: u64,
}

impl Group {
    pub fn new(index: usize) -> Self {
        Self {
            index,
            last_report: None,
            history: std::collections::VecDeque::new(),
            history_run: (0, 0),
            aligner: Aligner::new(AlignerConfig::default()),
            sink: Sink {
                members: Vec::new(),
                counters: RunCounters::default(),
                finished_runs: Vec::new(),
                analyzer: None,
                analyzer_run: 0,
                analyzer_roles: Vec::new(),
            },
            last_activity: Instant::now(),
            generation: 0,
        }
    }

    pub fn add(&mut self, member: Member, consumer: LaneConsumer) {
        self.aligner.add_lane(member.id, consumer);
        self.sink.members.push(member);
    }

    /// Takes a lane out (to move it to another group).
    pub fn take(&mut self, id: LaneId) -> Option<(Member, LaneConsumer)> {
        let consumer = self.aligner.remove_lane(id)?;
        let index = self.sink.members.iter().position(|m| m.id == id)?;
        Some((self.sink.members.remove(index), consumer))
    }

    pub fn mark_leaving(&mut self, id: LaneId) {
        if let Some(member) = self.sink.member(id) {
            member.leaving = true;
        }
    }

    /// Members whose group setting no longer matches this group.
    pub fn strays(&self) -> Vec<(LaneId, usize)> {
        self.sink
            .members
            .iter()
            .filter(|m| !m.leaving && m.shared.group() != self.index)
            .map(|m| (m.id, m.shared.group()))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.sink.members.is_empty()
    }

    /// Drains the lanes. Returns whether any audio arrived.
    pub fn poll(&mut self) -> bool {
        let consumed = self.aligner.poll(&mut self.sink);
        // Forget members whose lanes the aligner dropped (their producers are gone).
        let live: Vec<LaneId> = self.aligner.lane_statuses().map(|s| s.id).collect();
        self.sink.members.retain(|m| live.contains(&m.id));
        consumed
    }

    pub fn end_run_if_stalled(&mut self) {
        self.aligner.end_epoch_if_stalled(&mut self.sink);
    }

    pub fn finish(&mut self) {
        self.aligner.finish(&mut self.sink);
    }

    /// Whether a run ended and has not been collected.
    pub fn has_finished_runs(&self) -> bool {
        !self.sink.finished_runs.is_empty()
    }

    /// Runs that ended since the last call.
    pub fn take_finished_runs(&mut self) -> Vec<EpochSummary> {
        std::mem::take(&mut self.sink.finished_runs)
    }

    /// Builds the group's snapshot.
    pub fn snapshot(&mut self) -> GroupSnapshot {
        self.generation += 1;
        let counters = &self.sink.counters;
        let mut instances: Vec<InstanceSnapshot> = Vec::new();
        let mut stem_number = 0;
        let mut dropped_frames = 0;
        for status in self.aligner.lane_statuses() {
            let Some(member) = self.sink.members.iter().find(|m| m.id == status.id) else {
                continue;
            };
            let role = member.shared.role();
            let fallback = match role {
                Role::Master => "Master".to_string(),
                Role::Stem => {
                    stem_number += 1;
                    format!("Stem {stem_number}")
                }
            };
            let c = status.counters;
            dropped_frames += c.dropped_frames;
            instances.push(InstanceSnapshot {
                lane_id: status.id,
                role,
                name: member.shared.display_name(&fallback),
                num_channels: member.num_channels.max(status.num_channels),
                sample_rate_hz: status.sample_rate_hz,
                activity: match status.state {
                    LaneState::Open => LaneActivity::Playing,
                    LaneState::Parked => LaneActivity::Waiting,
                    LaneState::Stopped => LaneActivity::Stopped,
                },
                level_dbfs: to_dbfs(member.mean_square.sqrt()),
                peak_dbfs: to_dbfs(f64::from(member.peak)),
                present_frames: member.present_frames,
                pushed_frames: c.placed_frames
                    + c.late_frames
                    + c.stale_frames
                    + c.rate_mismatch_frames
                    + c.stopped_frames,
                dropped_frames: c.dropped_frames,
                late_frames: c.late_frames,
                stale_frames: c.stale_frames,
                rate_mismatch_frames: c.rate_mismatch_frames,
                non_finite_samples: c.non_finite_samples,
                host_transport: member.host_transport,
            });
        }
        if let Some(analyzer) = self.sink.analyzer.as_mut() {
            for instance in instances.iter().filter(|i| i.role == Role::Stem) {
                // Only the stems it analyses: instances that joined since it started belong to
                // the next analysis (adding them here piled up stems while instances came and
                // went during one run).
                analyzer.rename_stem(instance.lane_id, &instance.name);
            }
        }
        instances.sort_by(|a, b| {
            (b.role == Role::Master)
                .cmp(&(a.role == Role::Master))
                .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
        });

        let group_rate = counters.sample_rate_hz;
        let sample_rate_mismatch = instances.iter().any(|i| {
            i.rate_mismatch_frames > 0
                || (group_rate > 0.0 && i.sample_rate_hz > 0.0 && i.sample_rate_hz != group_rate)
        });
        let mut warnings = Vec::new();
        let masters = instances.iter().filter(|i| i.role == Role::Master).count();
        let stems = instances.len() - masters;
        if masters == 0 {
            warnings
                .push("No master in this group: set one instance's role to Master.".to_string());
        }
        if masters > 1 {
            warnings.push(format!(
                "{masters} masters in this group: only one instance should be the master."
            ));
        }
        if stems == 0 {
            warnings.push("No stems in this group: put Stemcheck on each stem bus.".to_string());
        }
        if sample_rate_mismatch {
            warnings.push(
                "Instances run at different sample rates; they cannot be compared.".to_string(),
            );
        }
        if dropped_frames > 0 {
            warnings.push(format!(
                "{dropped_frames} frames were dropped because the analysis fell behind; those stretches are left out."
            ));
        }
        if instances.iter().any(|i| !i.host_transport) {
            warnings.push(
                "The host gives no transport position: instances are lined up by sample count."
                    .to_string(),
            );
        }

        let measurements = self
            .sink
            .analyzer
            .as_ref()
            .map(|a| a.last_measurements().clone());
        let mut findings: Vec<Finding> = self
            .sink
            .analyzer
            .as_ref()
            .map(|a| a.findings().to_vec())
            .unwrap_or_default();
        if sample_rate_mismatch {
            let odd: Vec<&InstanceSnapshot> = instances
                .iter()
                .filter(|i| i.sample_rate_hz > 0.0 && i.sample_rate_hz != group_rate)
                .collect();
            findings.insert(
                0,
                stemcheck_analysis::sample_rate_mismatch(
                    odd.iter().map(|i| i.name.clone()).collect(),
                    group_rate,
                    &odd.iter().map(|i| i.sample_rate_hz).collect::<Vec<_>>(),
                ),
            );
        }
        let null_residual_db = measurements
            .as_ref()
            .filter(|m| m.seconds_analysed > 0.0)
            .map(|m| m.null_residual_db);
        // One history point per half second of the run's audio.
        if self.history_run.0 != counters.run {
            self.history.clear();
            self.history_run = (counters.run, 0);
        }
        let half_second =
            (f64::from(counters.sample_rate_hz.max(1.0)) * HISTORY_STEP_SECONDS) as u64;
        if let Some(db) = measurements
            .as_ref()
            .filter(|m| m.cross_ready)
            .map(|m| m.null_residual_recent_db)
            && counters.frames >= self.history_run.1 + half_second
        {
            self.history.push_back(db);
            self.history_run.1 = counters.frames;
            while self.history.len() > HISTORY_POINTS {
                self.history.pop_front();
            }
        }
        let verdict = match self.sink.analyzer.as_ref() {
            Some(a) if a.verdict() != Verdict::Pending || !findings.is_empty() => {
                Verdict::of(&findings)
            }
            _ => Verdict::Pending,
        };
        GroupSnapshot {
            residual_history_db: self.history.iter().copied().collect(),
            last_report: self.last_report.clone(),
            verdict,
            findings,
            measurements,
            group: crate::group_label(self.index).to_string(),
            generation: self.generation,
            sample_rate_hz: counters.sample_rate_hz,
            run: counters.run,
            playing: counters.playing,
            run_start_samples: counters.start_pos_samples,
            run_frames: counters.frames,
            complete_frames: counters.complete_frames,
            null_residual_db,
            total_frames: counters.total_frames,
            instances,
            sample_rate_mismatch,
            dropped_frames,
            warnings,
        }
    }
}
