//! The leader's intake, run by the core thread before each pass over the groups: it finds the
//! rings of instances in other processes and binaries (every live registry entry, this
//! process's own included: after a takeover, our own instances that registered while another
//! process led keep streaming through their rings), opens them (validated, never trusted),
//! and feeds each into an in-process lane of a stand-in member in its group. From the lane on,
//! a remote instance is aligned and analysed exactly as a local one: same `BlockHeader`s,
//! same transport positions.
//!
//! A ring whose producer closed leaves once drained; one whose process died, hangs or whose
//! ring turned out corrupt is dropped at once and shown as gone in its group. A process that
//! loses the leadership lets go of every ring (the new leader takes them over from where we
//! stopped reading: the ring's tail is in shared memory).
//!
//! Rings are claimed with this process's leadership term (`stemcheck_shm`'s fencing): once a
//! newer leader claimed a ring, a pop of ours ends with `Fenced`, without a record and without
//! moving the tail, even if this process was stopped in the middle of that pop and resumed
//! later; the ring then leaves this core quietly (it is not gone: another core reads it).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use stemcheck_bus::{BlockInfo, LaneConfig, LaneId, LaneProducer, lane_pair};
use stemcheck_shm::registry::MAX_RINGS_PER_ENTRY;
use stemcheck_shm::ring::MAX_BLOCK_FRAMES;
use stemcheck_shm::{EntryStatus, RingConsumer, ShmError};

use super::agent::Agent;
use super::meta::InstanceMeta;
use super::relocation;
use crate::NUM_GROUPS;
use crate::group::{GoneInstance, Group, Member};
use crate::instance::ring_key;
use crate::instance::{InstanceShared, store_name};

/// How often the registry is scanned for dead processes and metadata changes (and for new
/// rings of members that do not announce them); an announced ring is looked for at once.
const SCAN_PERIOD: Duration = Duration::from_millis(100);
/// Most frames moved from one ring into its lane per core step: well under a lane's second
/// and the aligner's window, so that one step never overfills a lane the core drains next.
const PUMP_FRAMES_PER_STEP: usize = 16_384;
/// Stand-ins' lane ids start here, far above the local instances' (counted from 0).
const REMOTE_LANE_BASE: LaneId = 1 << 31;
/// Stand-ins' registration serials start here, far above the local ones (counted from 0).
const REMOTE_SERIAL_BASE: u64 = 1 << 63;
/// Tests only: a file path. The first pop that copies a record then creates the file and
/// holds, before publishing the ring's tail, until this process no longer leads (at most
/// `HOLD_LIMIT`): a core stopped mid-pop while another takes over.
pub const HOLD_MID_POP_ENV: &str = "STEMCHECK_TEST_HOLD_MID_POP";
/// Longest a pop is held for [`HOLD_MID_POP_ENV`].
const HOLD_LIMIT: Duration = Duration::from_secs(60);

/// Pops that ended fenced off (a newer leader claimed the ring), in this process.
static FENCED_POPS: AtomicU64 = AtomicU64::new(0);
/// Records a pop returned while this process no longer led (zero with fencing, unless a ring
/// the new leader has not claimed yet is read in the moment before we learn it leads).
static RECORDS_READ_WHILE_NOT_LEADING: AtomicU64 = AtomicU64::new(0);

/// How many pops of this process's core ended fenced off, and how many records a pop returned
/// while this process no longer led (diagnostics, for the tests).
pub fn fence_counts() -> (u64, u64) {
    // Relaxed: counters read on their own.
    (
        FENCED_POPS.load(Ordering::Relaxed),
        RECORDS_READ_WHILE_NOT_LEADING.load(Ordering::Relaxed),
    )
}

/// One remote instance being read.
struct Remote {
    /// The registry id of its process entry and its ring index there.
    entry_id: u64,
    index: u32,
    /// Its process.
    pid: u32,
    /// The ring.
    consumer: RingConsumer,
    /// The stand-in's lane (the core's group holds its consumer); `None` until the first
    /// metadata was read and the stand-in joined its group.
    lane: Option<LaneProducer>,
    /// The stand-in's lane id and serial in the core.
    lane_id: LaneId,
    serial: u64,
    /// The stand-in: role, group, names, location as the metadata says.
    shared: Arc<InstanceShared>,
    /// The metadata sequence last read.
    meta_sequence: u64,
    /// The sample rate the metadata gives, in Hz.
    sample_rate_hz: f32,
}

/// The intake's state in the core thread.
pub(crate) struct Intake {
    agent: Arc<Agent>,
    remotes: Vec<Remote>,
    /// The leadership term the remotes' rings were claimed with.
    term: Option<u32>,
    /// [`HOLD_MID_POP_ENV`]'s file, until the pop it holds has happened.
    hold_mid_pop: Option<PathBuf>,
    /// Rings that could not be opened (named once in the log, not tried again).
    refused: Vec<String>,
    last_scan: Option<Instant>,
    /// The registry's ring announcements as of the last scan.
    seen_announcements: u64,
    next_lane_id: LaneId,
    next_serial: u64,
    /// Scratch buffers for one record (two channels of [`MAX_BLOCK_FRAMES`]).
    buffers: Vec<Vec<f32>>,
    /// Scratch for metadata bytes.
    meta_bytes: Vec<u8>,
}

impl Intake {
    pub fn new(agent: Arc<Agent>) -> Self {
        Self {
            agent,
            remotes: Vec::new(),
            term: None,
            hold_mid_pop: std::env::var_os(HOLD_MID_POP_ENV).map(PathBuf::from),
            refused: Vec::new(),
            last_scan: None,
            seen_announcements: 0,
            next_lane_id: REMOTE_LANE_BASE,
            next_serial: REMOTE_SERIAL_BASE,
            buffers: vec![vec![0.0; MAX_BLOCK_FRAMES]; 2],
            meta_bytes: Vec::new(),
        }
    }

    /// One step: scans now and then and whenever a ring was announced, then moves what the
    /// rings hold into the stand-ins' lanes. Returns whether any audio moved.
    ///
    /// The core's groups hold the audio of one poll until the next
    /// ([`stemcheck_bus::Aligner::hold_audio_one_poll`]), and this step runs between two
    /// polls: a ring announced before another instance pushed a block joins its group before
    /// that block's positions are analysed, and its backlog (everything since its first block)
    /// is aligned by position like any other audio.
    pub fn step(&mut self, groups: &mut [Group]) -> bool {
        let leads = self.agent.is_leader();
        // This process's own lanes move to rings while another process leads.
        relocation::step(&self.agent, leads, groups);
        let member = self.agent.member();
        // No term yet: the claim that won has not taken it yet; next step.
        let term = if leads { member.leader_term() } else { None };
        if term != self.term {
            if !self.remotes.is_empty() {
                tracing::info!(
                    "Stemcheck: {}; letting go of the rings read so far",
                    if leads {
                        "this process leads again, under a new term"
                    } else {
                        "another process leads"
                    }
                );
                for remote in std::mem::take(&mut self.remotes) {
                    leave(groups, &remote);
                }
            }
            self.term = term;
            self.last_scan = None;
        }
        let Some(term) = term else {
            return false;
        };
        let now = Instant::now();
        // Read before the scan: a ring announced during it is looked for at the next step.
        let announcements = member.registry().ring_announcements();
        if announcements != self.seen_announcements
            || self
                .last_scan
                .is_none_or(|at| now.duration_since(at) >= SCAN_PERIOD)
        {
            self.seen_announcements = announcements;
            self.last_scan = Some(now);
            self.scan(groups, term);
        }
        self.pump(groups)
    }

    /// Drops remotes whose process is gone, reads changed metadata, opens new rings (claimed
    /// with `term`).
    fn scan(&mut self, groups: &mut [Group], term: u32) {
        let member = self.agent.member();
        let entries = member.registry().entries();
        let mut index = 0;
        while index < self.remotes.len() {
            let remote = &self.remotes[index];
            let status = entries
                .iter()
                .find(|e| e.id == remote.entry_id)
                .map(|e| e.status);
            let gone = match status {
                Some(EntryStatus::Live | EntryStatus::Joining) => None,
                Some(EntryStatus::Stale) => Some("its process stopped responding".to_owned()),
                Some(EntryStatus::Dead) | None => Some("its process ended".to_owned()),
                Some(EntryStatus::OtherVersion) => Some("it is of another version".to_owned()),
            };
            if let Some(reason) = gone {
                let remote = self.remotes.swap_remove(index);
                mark_gone(groups, &remote, reason);
                continue;
            }
            index += 1;
        }
        for remote in &mut self.remotes {
            refresh_meta(remote, &mut self.meta_bytes, groups);
        }
        for entry in entries.iter().filter(|e| e.is_usable()) {
            for ring_index in 0..entry.ring_count.min(MAX_RINGS_PER_ENTRY) {
                if self
                    .remotes
                    .iter()
                    .any(|r| r.entry_id == entry.id && r.index == ring_index)
                {
                    continue;
                }
                let name = member
                    .registry()
                    .namespace()
                    .ring_name(entry.id, ring_index);
                if self.refused.contains(&name) {
                    continue;
                }
                let consumer = match RingConsumer::open_claiming(&name, term) {
                    Ok(consumer) => consumer,
                    // Gone, or claimed by a newer leader (we learn that we lost at our next
                    // step).
                    Err(e) if e.is_not_found() || e.is_fenced() => continue,
                    Err(e) => {
                        refuse(&name, &e);
                        self.refused.push(name);
                        continue;
                    }
                };
                if consumer.is_broken() || consumer.is_producer_closed() {
                    continue;
                }
                let shared = Arc::new(InstanceShared::default());
                shared.set_remote(entry.pid);
                shared.set_ring_key(ring_key(entry.id, ring_index));
                let mut remote = Remote {
                    entry_id: entry.id,
                    index: ring_index,
                    pid: entry.pid,
                    consumer,
                    lane: None,
                    lane_id: self.next_lane_id,
                    serial: self.next_serial,
                    shared,
                    meta_sequence: 0,
                    sample_rate_hz: 0.0,
                };
                self.next_lane_id = self.next_lane_id.wrapping_add(1).max(REMOTE_LANE_BASE);
                self.next_serial += 1;
                refresh_meta(&mut remote, &mut self.meta_bytes, groups);
                self.remotes.push(remote);
            }
        }
        // Names of rings that are gone need not be remembered.
        if self.refused.len() > 256 {
            self.refused.clear();
        }
    }

    /// Moves records from the rings into the lanes.
    fn pump(&mut self, groups: &mut [Group]) -> bool {
        let mut moved = false;
        let mut index = 0;
        while index < self.remotes.len() {
            // A leader that was stopped may resume here: another core reads these rings now.
            if !self.agent.is_leader() {
                break;
            }
            let remote = &mut self.remotes[index];
            let Some(lane) = remote.lane.as_mut() else {
                index += 1;
                continue;
            };
            let mut frames = 0;
            let mut outcome = Ok(());
            let mut drained = false;
            while frames < PUMP_FRAMES_PER_STEP {
                // Read no further once we learn that another core leads (the fence stops us
                // on rings it claimed already; this, on those it has not claimed yet).
                if !self.agent.is_leader() {
                    break;
                }
                match pop(
                    &mut remote.consumer,
                    &mut self.buffers,
                    &mut self.hold_mid_pop,
                    &self.agent,
                ) {
                    Ok(Some(header)) => {
                        if !self.agent.is_leader() {
                            // Relaxed: a counter read on its own.
                            RECORDS_READ_WHILE_NOT_LEADING.fetch_add(1, Ordering::Relaxed);
                        }
                        // Frames the ring dropped (full: the core fell behind, or read it
                        // late) are the lane's next piece's drops: the run counts them and
                        // is reported incomplete.
                        lane.add_dropped_frames(header.dropped_frames_before);
                        let n = header.num_frames as usize;
                        let channels = [&self.buffers[0][..n], &self.buffers[1][..n]];
                        let info = BlockInfo {
                            pos_samples: header.pos_samples,
                            source: header.source,
                            playing: header.playing,
                            sample_rate_hz: header.sample_rate_hz,
                        };
                        lane.push_block(&info, &channels[..usize::from(header.num_channels)]);
                        frames += n;
                        moved = true;
                    }
                    Ok(None) => {
                        drained = true;
                        break;
                    }
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
            }
            match outcome {
                // A newer leader claimed the ring: it is read there now, not gone.
                Err(e) if e.is_fenced() => {
                    // Relaxed: a counter read on its own.
                    FENCED_POPS.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("Stemcheck: letting go of a remote instance: {e}");
                    let remote = self.remotes.swap_remove(index);
                    leave(groups, &remote);
                }
                Err(e) => {
                    tracing::warn!("Stemcheck: dropping a remote instance: {e}");
                    let remote = self.remotes.swap_remove(index);
                    mark_gone(
                        groups,
                        &remote,
                        format!("its audio stream was corrupt ({e})"),
                    );
                }
                // Closed and drained: the instance unregistered; its stand-in leaves as a
                // local instance does (no "gone" note).
                Ok(()) if drained && remote.consumer.is_producer_closed() => {
                    let remote = self.remotes.swap_remove(index);
                    leave(groups, &remote);
                }
                Ok(()) => index += 1,
            }
        }
        moved
    }
}

/// Pops a record from `consumer` into `buffers`; the first pop that copies one holds mid-pop
/// if `hold` names a file (tests: see [`HOLD_MID_POP_ENV`]).
fn pop(
    consumer: &mut RingConsumer,
    buffers: &mut [Vec<f32>],
    hold: &mut Option<PathBuf>,
    agent: &Agent,
) -> Result<Option<stemcheck_bus::BlockHeader>, ShmError> {
    let Some(marker) = hold.as_deref() else {
        return consumer.pop_block(buffers);
    };
    let mut held = false;
    let popped = consumer.pop_block_with(buffers, || {
        held = true;
        hold_until_not_leading(agent, marker);
    });
    if held {
        *hold = None;
    }
    popped
}

/// Says that a pop is held (creates `marker`), then waits until this process no longer leads.
fn hold_until_not_leading(agent: &Agent, marker: &Path) {
    if let Err(e) = std::fs::write(marker, b"holding a pop\n") {
        tracing::warn!("Stemcheck: cannot write {}: {e}", marker.display());
    }
    let deadline = Instant::now() + HOLD_LIMIT;
    while agent.is_leader() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Logs once why a ring cannot be read.
fn refuse(name: &str, error: &ShmError) {
    tracing::warn!("Stemcheck: refused shared-memory ring {name}: {error}");
}

/// Reads the ring's metadata if it changed and applies it to the stand-in; the first time,
/// the stand-in joins its group.
fn refresh_meta(remote: &mut Remote, scratch: &mut Vec<u8>, groups: &mut [Group]) {
    let sequence = remote.consumer.meta_sequence();
    if sequence == remote.meta_sequence {
        return;
    }
    let Some(read_at) = remote.consumer.read_meta(scratch) else {
        return;
    };
    remote.meta_sequence = read_at;
    let Some(meta) = InstanceMeta::decode(scratch) else {
        tracing::warn!(
            "Stemcheck: unreadable metadata in ring {}",
            remote.consumer.name()
        );
        return;
    };
    let shared = &remote.shared;
    shared.set_role(meta.role);
    shared.set_group(meta.group);
    shared.set_format(meta.format);
    shared.set_bus_channels(meta.bus_channels);
    store_name(&shared.name_override, &meta.name);
    if remote.lane.is_none() {
        remote.sample_rate_hz = meta.sample_rate_hz;
        let (producer, consumer) = lane_pair(LaneConfig::for_sample_rate(meta.sample_rate_hz));
        let group = meta.group.min(NUM_GROUPS - 1);
        groups[group].add(
            Member::new(remote.lane_id, remote.serial, shared.clone()),
            consumer,
        );
        remote.lane = Some(producer);
        tracing::info!(
            "Stemcheck: {} ({}, process {}) joined group {}",
            shared.name(),
            meta.format.label(),
            remote.pid,
            crate::group_label(group)
        );
    }
}

/// The stand-in leaves its group once its lane is drained (its lane producer goes with
/// `remote`).
fn leave(groups: &mut [Group], remote: &Remote) {
    for group in groups.iter_mut() {
        group.mark_leaving(remote.lane_id, remote.serial);
    }
}

/// The stand-in leaves and its group notes it as gone, with `reason`.
fn mark_gone(groups: &mut [Group], remote: &Remote, reason: String) {
    tracing::warn!(
        "Stemcheck: {} (process {}) is gone: {reason}",
        remote.shared.name(),
        remote.pid
    );
    if remote.lane.is_some() {
        for group in groups.iter_mut() {
            if group.has_member(remote.lane_id) {
                group.note_gone(GoneInstance {
                    name: remote.shared.name(),
                    role: remote.shared.role(),
                    format: remote.shared.format(),
                    pid: remote.pid,
                    reason: reason.clone(),
                });
            }
        }
    }
    leave(groups, remote);
}
