//! One group's state in the core: its aligner, the instances' meters, and the counters of the
//! current transport run, kept up to date from the aligner's output.

use std::sync::Arc;
use std::time::Instant;

use stemcheck_bus::timeline::{EpochSummary, LaneState};
use stemcheck_bus::{
    AlignSink, AlignedChunk, Aligner, AlignerConfig, BlockHeader, LaneConsumer, LaneId,
    PositionSource,
};

use stemcheck_analysis::{
    Analyzer, AnalyzerConfig, Block, Finding, Measurements, SignalAudio, StemInput, Verdict,
};

use crate::federation::relocation::LocalTransport;
use crate::instance::InstanceShared;
pub use crate::snapshot::GoneInstance;
use crate::snapshot::{GroupSnapshot, InstanceLocation, InstanceSnapshot, LaneActivity, Role};

/// The residual history keeps one point per this much audio, in seconds...
const HISTORY_STEP_SECONDS: f64 = 0.5;
/// ... and this many points (a minute).
const HISTORY_POINTS: usize = 120;
/// Time constant of the level meter, in seconds.
const LEVEL_TIME_CONSTANT_S: f64 = 0.3;
/// Gone instances a group remembers (the oldest is forgotten first).
pub const MAX_GONE: usize = 16;
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
    /// The registration currently feeding the lane (see `registration.rs`).
    serial: u64,
    pub shared: Arc<InstanceShared>,
    /// Mean square, exponentially averaged.
    mean_square: f64,
    /// Highest absolute sample since registration.
    peak: f32,
    num_channels: usize,
    host_transport: bool,
    /// Frames present in the current run.
    present_frames: u64,
    /// Frames its producer dropped in the current run (from the headers' drop counts).
    run_dropped_frames: u64,
    /// The instance was unregistered, or its audio moved to a ring; forget it once its lane
    /// is gone.
    pub leaving: bool,
    /// A local instance's registration, through which its audio can move to a ring (`None`
    /// for a stand-in of a remote instance).
    pub transport: Option<LocalTransport>,
}

impl Member {
    pub fn new(id: LaneId, serial: u64, shared: Arc<InstanceShared>) -> Self {
        Self {
            id,
            serial,
            shared,
            mean_square: 0.0,
            peak: 0.0,
            num_channels: 0,
            host_transport: true,
            present_frames: 0,
            run_dropped_frames: 0,
            leaving: false,
            transport: None,
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
    /// Timeline position just past the run's last emitted frame.
    end_pos_samples: i64,
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
    /// The lane the analysis takes as the master.
    analyzer_master: Option<LaneId>,
    /// The name the analysis knows each stem by, and the names stems had before a rename in
    /// this analysis (to correct findings computed before it).
    stem_names: Vec<(LaneId, String)>,
    old_names: Vec<(LaneId, String)>,
    /// A run ended: its per-run drop counts are reset before the next poll (after its report).
    reset_run_drops: bool,
}

impl Sink {
    fn member(&mut self, id: LaneId) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    /// Feeds a chunk to the run's analysis: the first master is the master, every stem a
    /// stem. Only lanes whose producer is still there take part: a lane whose instance is gone
    /// (destroyed, or re-registered) never becomes the master or a stem. A new run, a new lane,
    /// a changed role or another master starts a fresh analysis; a lane leaving does not (its
    /// stem is then missing, and the run's coverage says so).
    fn analyse(&mut self, chunk: &AlignedChunk<'_>) {
        let roles: Vec<(LaneId, Role)> = chunk
            .lanes()
            .filter_map(|l| {
                self.members
                    .iter()
                    .find(|m| m.id == l.id && !m.leaving)
                    .map(|m| (l.id, m.shared.role()))
            })
            .collect();
        let master_id = roles
            .iter()
            .find(|(_, r)| *r == Role::Master)
            .map(|(id, _)| *id);
        let grew = roles.iter().any(|r| !self.analyzer_roles.contains(r));
        // Another master restarts; the master's producer going does not (it is missing).
        let new_master = master_id.is_some() && master_id != self.analyzer_master;
        let fresh =
            self.analyzer.is_none() || self.analyzer_run != chunk.epoch || grew || new_master;
        if fresh {
            self.analyzer = Some(Analyzer::new(
                chunk.sample_rate_hz,
                AnalyzerConfig::default(),
            ));
            self.analyzer_run = chunk.epoch;
            self.analyzer_roles = roles.clone();
            self.analyzer_master = master_id;
            self.old_names.clear();
            // Names at birth: every stem's name as its instance shows it (the user's, the
            // host's track name, or its generated "Stem N"), looked up once per analysis.
            self.stem_names = roles
                .iter()
                .filter(|(_, r)| *r == Role::Stem)
                .filter_map(|(id, _)| {
                    let member = self.members.iter().find(|m| m.id == *id)?;
                    Some((*id, member.shared.name()))
                })
                .collect();
        }
        let Some(analyzer) = self.analyzer.as_mut() else {
            return;
        };
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
        if fresh {
            // The analysis adds the stems of its first block (in one go) under generated
            // names; it computes nothing from one chunk, so naming them right after is naming
            // them before any finding or measurement exists.
            for (id, name) in &self.stem_names {
                analyzer.rename_stem(*id, name);
            }
        }
    }

    /// Renames the stems of the running analysis whose instance's name changed, remembering
    /// the old names so that findings computed before the rename can be corrected.
    fn rename_stems(&mut self, instances: &[InstanceSnapshot]) {
        let Some(analyzer) = self.analyzer.as_mut() else {
            return;
        };
        for (id, name) in &mut self.stem_names {
            let Some(instance) = instances.iter().find(|i| i.lane_id == *id) else {
                continue;
            };
            if instance.name != *name && analyzer.rename_stem(*id, &instance.name) {
                let old = std::mem::replace(name, instance.name.clone());
                self.old_names.push((*id, old));
            }
        }
    }

    /// Findings and measurements with every stem under its current name: the analysis names
    /// a stem in a finding when it computes it, so a finding from before a rename carries the
    /// old name until the next update.
    fn with_current_names(
        &self,
        findings: &mut [Finding],
        measurements: Option<&mut Measurements>,
    ) {
        if let Some(m) = measurements {
            for stem in &mut m.stems {
                if let Some((_, name)) = self.stem_names.iter().find(|(id, _)| *id == stem.id) {
                    stem.name.clone_from(name);
                }
            }
        }
        if self.old_names.is_empty() {
            return;
        }
        // Newest rename first, so that a chain of renames ends at the current name.
        for (id, old) in self.old_names.iter().rev() {
            let Some((_, current)) = self.stem_names.iter().find(|(i, _)| i == id) else {
                continue;
            };
            // A name another stem now has is not stale.
            if self.stem_names.iter().any(|(_, n)| n == old) {
                continue;
            }
            for finding in findings.iter_mut() {
                let mut renamed = false;
                for stem in &mut finding.stems {
                    if stem == old {
                        stem.clone_from(current);
                        renamed = true;
                    }
                }
                if renamed {
                    finding.message = replace_name(&finding.message, old, current);
                    finding.fix = replace_name(&finding.fix, old, current);
                }
            }
        }
    }
}

/// `text` with every whole-word occurrence of `old` replaced by `new` ("Stem 1" is not the start
/// of "Stem 10").
fn replace_name(text: &str, old: &str, new: &str) -> String {
    if old.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(old) {
        let before_ok = rest[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let after = &rest[at + old.len()..];
        let after_ok = after.chars().next().is_none_or(|c| !c.is_alphanumeric());
        out.push_str(&rest[..at]);
        out.push_str(if before_ok && after_ok { new } else { old });
        rest = after;
    }
    out.push_str(rest);
    out
}

impl AlignSink for Sink {
    fn piece(&mut self, lane: LaneId, header: &BlockHeader, channels: &[&[f32]]) {
        let Some(member) = self.member(lane) else {
            return;
        };
        member.run_dropped_frames += header.dropped_frames_before;
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
        counters.end_pos_samples = chunk.start_pos_samples + chunk.num_frames as i64;
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
        // The run's span is the aligner's: stretches in which no lane had audio (every
        // instance dropped them) are part of the run but make no chunk.
        if self.counters.run == summary.epoch {
            self.counters.start_pos_samples = summary.start_pos_samples;
            self.counters.end_pos_samples = summary.end_pos_samples;
        }
        if let Some(analyzer) = self.analyzer.as_mut() {
            analyzer.finish();
        }
        self.finished_runs.push(*summary);
        self.reset_run_drops = true;
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
    /// Instances of other processes that went away without unregistering (federation intake).
    gone: Vec<GoneInstance>,
}

impl Group {
    pub fn new(index: usize) -> Self {
        Self {
            index,
            last_report: None,
            history: std::collections::VecDeque::new(),
            history_run: (0, 0),
            aligner: {
                // Lanes go when the instance's registration says so (`mark_leaving`), not when
                // their producer is seen gone: a re-registration hands the lane a new consumer
                // first, and the lane must still be there for it.
                let mut aligner = Aligner::new(AlignerConfig::default());
                aligner.keep_abandoned_lanes();
                // Instances of other processes and binaries are found between two polls (the
                // federation intake; local ones are added between polls too): audio waits one
                // poll, so that they take part from their first block.
                aligner.hold_audio_one_poll();
                aligner
            },
            sink: Sink {
                members: Vec::new(),
                counters: RunCounters::default(),
                finished_runs: Vec::new(),
                analyzer: None,
                analyzer_run: 0,
                analyzer_roles: Vec::new(),
                analyzer_master: None,
                stem_names: Vec::new(),
                old_names: Vec::new(),
                reset_run_drops: false,
            },
            last_activity: Instant::now(),
            generation: 0,
            gone: Vec::new(),
        }
    }

    /// Whether lane `id` is a member here.
    pub fn has_member(&self, id: LaneId) -> bool {
        self.sink.members.iter().any(|m| m.id == id)
    }

    /// Remembers an instance that went away without unregistering, for the snapshot.
    pub fn note_gone(&mut self, gone: GoneInstance) {
        if self.gone.len() >= MAX_GONE {
            self.gone.remove(0);
        }
        self.gone.push(gone);
    }

    /// Adds an instance's lane. An instance without a generated number yet, or whose number
    /// another member here has, gets the smallest number free in the group ("Stem 3").
    pub fn add(&mut self, member: Member, consumer: LaneConsumer) {
        let taken = |n: u32| {
            self.sink
                .members
                .iter()
                .any(|m| m.shared.fallback_number() == n)
        };
        let number = member.shared.fallback_number();
        if number == 0 || taken(number) {
            let free = (1..).find(|n| !taken(*n)).unwrap_or(1);
            member.shared.set_fallback_number(free);
        }
        self.aligner.add_lane(member.id, consumer);
        self.sink.members.push(member);
    }

    /// Hands lane `id` of this instance a new consumer and the new registration's transport
    /// (the instance registered again): the lane keeps its place in the run and its role, so
    /// the analysis goes on; the old producer's unread pieces are dropped with its consumer at
    /// once. Gives both back if the lane is not this instance's lane in this group.
    pub fn replace_consumer(
        &mut self,
        id: LaneId,
        serial: u64,
        shared: &Arc<InstanceShared>,
        consumer: LaneConsumer,
        transport: LocalTransport,
    ) -> Result<(), (LaneConsumer, LocalTransport)> {
        let Some(index) = self
            .sink
            .members
            .iter()
            .position(|m| m.id == id && Arc::ptr_eq(&m.shared, shared))
        else {
            return Err((consumer, transport));
        };
        match self.aligner.replace_consumer(id, consumer) {
            Ok(old) => drop(old),
            Err(consumer) => return Err((consumer, transport)),
        }
        let member = &mut self.sink.members[index];
        member.serial = serial;
        member.leaving = false;
        member.transport = Some(transport);
        Ok(())
    }

    /// The members of this group, for the federation's relocation of local instances.
    pub fn members_mut(&mut self) -> impl Iterator<Item = &mut Member> {
        self.sink.members.iter_mut()
    }

    /// Takes a lane out (to move it to another group).
    pub fn take(&mut self, id: LaneId) -> Option<(Member, LaneConsumer)> {
        let consumer = self.aligner.remove_lane(id)?;
        let index = self.sink.members.iter().position(|m| m.id == id)?;
        Some((self.sink.members.remove(index), consumer))
    }

    /// Registration `serial` of lane `id` is gone. (A later registration of the same
    /// instance, already feeding the lane, is not.)
    pub fn mark_leaving(&mut self, id: LaneId, serial: u64) {
        if let Some(member) = self.sink.member(id)
            && member.serial == serial
        {
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
        if std::mem::take(&mut self.sink.reset_run_drops) {
            for member in &mut self.sink.members {
                member.run_dropped_frames = 0;
            }
        }
        let consumed = self.aligner.poll(&mut self.sink);
        // Lanes whose registration is gone leave once they are drained.
        let leaving: Vec<LaneId> = self
            .sink
            .members
            .iter()
            .filter(|m| m.leaving)
            .map(|m| m.id)
            .collect();
        for id in leaving {
            self.aligner.remove_drained_lane(id, &mut self.sink);
        }
        // Forget members whose lanes are gone.
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
        let mut instances: Vec<InstanceSnapshot> = Vec::new();
        let mut dropped_frames = 0;
        let mut run_dropped_frames = 0;
        for status in self.aligner.lane_statuses() {
            let Some(member) = self.sink.members.iter().find(|m| m.id == status.id) else {
                continue;
            };
            let role = member.shared.role();
            let c = status.counters;
            // A remote instance's lane reports the frames its ring dropped as its own.
            dropped_frames += c.dropped_frames;
            run_dropped_frames += member.run_dropped_frames;
            instances.push(InstanceSnapshot {
                lane_id: status.id,
                role,
                name: member.shared.name(),
                generated_name: member.shared.has_generated_name(),
                num_channels: member.num_channels.max(status.num_channels),
                bus_channels: member.shared.bus_channels(),
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
                location: InstanceLocation {
                    format: member.shared.format(),
                    pid: member.shared.pid(),
                    shared_memory: member.shared.is_remote(),
                    ring_key: member.shared.ring_key(),
                },
            });
        }
        // Only the stems it analyses: instances that joined since it started belong to the next
        // analysis (adding them here piled up stems while instances came and went during one
        // run).
        self.sink.rename_stems(&instances);
        let counters = &self.sink.counters;
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
        let wide = crate::coverage::wider_than_compared(&instances);
        if !wide.is_empty() {
            warnings.push(crate::coverage::channels_message(&wide));
        }
        for gone in &self.gone {
            warnings.push(format!(
                "{} ({}, process {}) is gone: {}. Its audio is missing from the comparison since then.",
                gone.name,
                gone.format.label(),
                gone.pid,
                gone.reason
            ));
        }
        if instances.iter().any(|i| !i.host_transport) {
            warnings.push(
                "The host gives no transport position: instances are lined up by sample count."
                    .to_string(),
            );
        }

        let mut measurements = self
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
        self.sink
            .with_current_names(&mut findings, measurements.as_mut());
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
        // Coverage caps the verdict: a run not compared in full is never said to null.
        let run_span_frames = if counters.run > 0 {
            (counters.end_pos_samples - counters.start_pos_samples).max(0) as u64
        } else {
            0
        };
        let coverage = stemcheck_report::Coverage::new(
            run_span_frames,
            counters.complete_frames,
            run_dropped_frames,
            counters.sample_rate_hz,
        );
        if !wide.is_empty() {
            findings.insert(0, crate::coverage::channels_not_compared(&wide));
        }
        if let Some(finding) = crate::coverage::incomplete_analysis(&coverage) {
            crate::coverage::keep_roles_present(
                &mut findings,
                instances.iter().any(|i| i.role == Role::Master),
                instances.iter().any(|i| i.role == Role::Stem),
            );
            let at = findings
                .iter()
                .position(|f| f.severity < finding.severity)
                .unwrap_or(findings.len());
            findings.insert(at, finding);
        }
        let verdict = match self.sink.analyzer.as_ref() {
            Some(a) if a.verdict() != Verdict::Pending || !findings.is_empty() => {
                Verdict::of(&findings)
            }
            _ => Verdict::Pending,
        };
        GroupSnapshot {
            residual_history_db: self.history.iter().copied().collect(),
            residual_history_end_frames: self.history_run.1,
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
            run_span_frames,
            run_dropped_frames,
            instances,
            sample_rate_mismatch,
            dropped_frames,
            warnings,
            gone: self.gone.clone(),
        }
    }
}
