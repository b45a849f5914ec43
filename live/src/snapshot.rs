//! What the core publishes for each group: a self-describing snapshot that editors and tests read
//! at any time without waiting for the core (it is swapped in whole; readers keep the one they
//! loaded).

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use serde::{Deserialize, Serialize};

use stemcheck_analysis::{Finding, Measurements, Verdict};

use crate::NUM_GROUPS;
use crate::instance::PluginFormat;

/// What an instance's audio is in the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum Role {
    /// One of the stems whose sum should rebuild the master.
    Stem = 0,
    /// The master (mix) bus.
    Master = 1,
}

impl Role {
    /// The role stored as `role as u8`; anything unknown is a stem.
    pub fn from_u8(value: u8) -> Self {
        if value == Role::Master as u8 {
            Role::Master
        } else {
            Role::Stem
        }
    }

    /// The role a track name suggests: "Master", "Mix bus", "Main out", "2-Bus" and the like are
    /// the master; everything else is a stem.
    pub fn guess_from_track_name(name: &str) -> Self {
        let lower = name.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let is_master = words.iter().any(|w| {
            matches!(
                *w,
                "master" | "mastering" | "mix" | "mixbus" | "main" | "stereo" | "2bus" | "mixdown"
            )
        }) || lower.contains("2-bus")
            || lower.contains("2 bus");
        if is_master { Role::Master } else { Role::Stem }
    }
}

/// Where an instance's lane stands in the current transport run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LaneActivity {
    /// Its audio is being aligned.
    Playing,
    /// It jumped (locate or loop) and waits for the others.
    Waiting,
    /// Its transport is stopped.
    Stopped,
}

/// One instance in a group snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceSnapshot {
    /// The core's id for the instance's lane.
    pub lane_id: u32,
    /// Stem or master.
    pub role: Role,
    /// The user's name, else the host's track name, else its generated one ("Stem 3", shown
    /// in the instance's own window).
    pub name: String,
    /// Whether `name` is the generated one (neither the user nor the host named it).
    #[serde(default)]
    pub generated_name: bool,
    /// Channels it sends (1 or 2).
    pub num_channels: usize,
    /// Channels of its bus as the host set it up (0: not told). More than it sends (a 5.1
    /// bus) means the other channels were not compared.
    #[serde(default)]
    pub bus_channels: u32,
    /// Sample rate of its last block, in Hz.
    pub sample_rate_hz: f32,
    /// Where it stands.
    pub activity: LaneActivity,
    /// RMS level over roughly the last 300 ms, in dBFS (-inf as -200).
    pub level_dbfs: f32,
    /// Highest sample peak seen since it registered, in dBFS.
    pub peak_dbfs: f32,
    /// Frames of this run in which it was present, out of `GroupSnapshot::run_frames`.
    pub present_frames: u64,
    /// Frames it pushed in total.
    pub pushed_frames: u64,
    /// Frames it dropped because its lane was full (the core fell behind).
    pub dropped_frames: u64,
    /// Frames that arrived after their stretch was analysed without them.
    pub late_frames: u64,
    /// Pre-jump frames discarded after a locate or loop.
    pub stale_frames: u64,
    /// Frames at a sample rate other than the group's.
    pub rate_mismatch_frames: u64,
    /// NaN or infinite samples replaced by silence.
    pub non_finite_samples: u64,
    /// Whether its timeline comes from the host's transport (`false`: the fallback clock).
    pub host_transport: bool,
    /// Where it runs: plugin format and process.
    #[serde(default)]
    pub location: InstanceLocation,
}

/// Where an instance runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InstanceLocation {
    /// The plugin format of its binary.
    pub format: PluginFormat,
    /// Its host process's id (0: not known).
    pub pid: u32,
    /// Whether it streams to the core through shared memory (another process or binary).
    pub shared_memory: bool,
    /// Its ring's key (`stemcheck_live::instance::ring_key`; 0: an in-process lane).
    #[serde(default)]
    pub ring_key: u64,
}

impl std::fmt::Display for InstanceLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}, process {}", self.format.label(), self.pid)
    }
}

/// An instance of another process or binary that went away without unregistering: its process
/// died, hangs, or its stream was corrupt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoneInstance {
    /// Its name when it went.
    pub name: String,
    /// Stem or master.
    pub role: Role,
    /// The plugin format of its binary.
    pub format: PluginFormat,
    /// Its process's id.
    pub pid: u32,
    /// Why it is gone, in plain words ("its process ended").
    pub reason: String,
}

/// The state of one group, published by the core.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSnapshot {
    /// The analysis's answer for the current (or last) run.
    pub verdict: Verdict,
    /// What the analysis found, most important first.
    pub findings: Vec<Finding>,
    /// The measurements behind them (spectra, stems' gains and offsets, levels).
    pub measurements: Option<Measurements>,
    /// Group label ("A" to "H").
    pub group: String,
    /// Increases with every publish.
    pub generation: u64,
    /// Sample rate of the current (or last) run, in Hz; 0 before any.
    pub sample_rate_hz: f32,
    /// Number of the current or last transport run (epoch), from 1; 0 before any.
    pub run: u64,
    /// Whether a run is in progress.
    pub playing: bool,
    /// Timeline position of the run's first frame, in samples.
    pub run_start_samples: i64,
    /// Frames of the current (or last) run analysed so far.
    pub run_frames: u64,
    /// Frames of the run in which the master and every stem were present.
    pub complete_frames: u64,
    /// Level of master minus the sum of the stems, relative to the master, over the run's
    /// complete frames, in dB (`None` before any). About -300 dB when they null exactly.
    pub null_residual_db: Option<f32>,
    /// Frames aligned over all runs since the core started.
    pub total_frames: u64,
    /// Frames from the run's first frame to its last one so far (its span on the timeline,
    /// compared or not).
    #[serde(default)]
    pub run_span_frames: u64,
    /// Frames the instances dropped in this run (their lanes were full).
    #[serde(default)]
    pub run_dropped_frames: u64,
    /// The instances, masters first, then stems by name.
    pub instances: Vec<InstanceSnapshot>,
    /// Instances whose sample rate differs from the group's.
    pub sample_rate_mismatch: bool,
    /// Sum of all instances' dropped frames.
    pub dropped_frames: u64,
    /// Plain-language problems with the setup (no master, dropped audio, ...).
    pub warnings: Vec<String>,
    /// The null residual of the run over time, one point per half second of audio, at most
    /// the last minute, in dB re master.
    pub residual_history_db: Vec<f32>,
    /// The run's frame count at the history's last point (its right edge), so findings' time
    /// ranges (in seconds of the run) can be marked on it.
    #[serde(default)]
    pub residual_history_end_frames: u64,
    /// The last report written for this group, if any.
    pub last_report: Option<String>,
    /// Instances of other processes or binaries that went away without unregistering, most
    /// recent last (at most [`crate::group::MAX_GONE`]).
    #[serde(default)]
    pub gone: Vec<GoneInstance>,
}

impl GroupSnapshot {
    /// How much of the current (or last) run was compared: seconds and percent of its span.
    pub fn coverage(&self) -> stemcheck_report::Coverage {
        stemcheck_report::Coverage::new(
            self.run_span_frames,
            self.complete_frames,
            self.run_dropped_frames,
            self.sample_rate_hz,
        )
    }

    /// Masters in the group.
    pub fn masters(&self) -> impl Iterator<Item = &InstanceSnapshot> {
        self.instances.iter().filter(|i| i.role == Role::Master)
    }

    /// Stems in the group.
    pub fn stems(&self) -> impl Iterator<Item = &InstanceSnapshot> {
        self.instances.iter().filter(|i| i.role == Role::Stem)
    }
}

static SNAPSHOTS: [ArcSwapOption<GroupSnapshot>; NUM_GROUPS] =
    [const { ArcSwapOption::const_empty() }; NUM_GROUPS];

/// The latest snapshot of group `group` (0 = "A"), if the core has published one. In a
/// process that does not hold the shared core, it is the one the core's process published in
/// shared memory (read and parsed when it changed; not for the audio thread). Never waits for
/// the core.
pub fn latest_snapshot(group: usize) -> Option<Arc<GroupSnapshot>> {
    if let Some(snapshot) = crate::federation::remote_snapshot(group) {
        return Some(snapshot);
    }
    SNAPSHOTS.get(group)?.load_full()
}

pub(crate) fn publish(group: usize, snapshot: GroupSnapshot) {
    if let Some(slot) = SNAPSHOTS.get(group) {
        slot.store(Some(Arc::new(snapshot)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_names_that_mean_master() {
        for name in [
            "Master",
            "MASTER BUS",
            "Mix Bus",
            "Main Out",
            "2-Bus",
            "Stereo Out",
        ] {
            assert_eq!(Role::guess_from_track_name(name), Role::Master, "{name}");
        }
        for name in [
            "Drums",
            "Bass",
            "Mixolydian Lead",
            "Remaster FX",
            "Audio 3",
            "",
        ] {
            assert_eq!(Role::guess_from_track_name(name), Role::Stem, "{name}");
        }
    }
}
