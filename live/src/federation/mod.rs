//! Federation: one analysis core for every instance of this user on this machine, across plugin
//! formats (the CLAP and the VST3 build are two binaries with their own statics) and host
//! processes (sandboxed or bridged plugins). Built on `stemcheck-shm`:
//!
//! 1. `agent`: each process (per binary) joins the per-user registry with the first
//!    registration, beats, and runs for leader; the leader's core is the one core.
//! 2. `registration.rs` decides an instance's transport once, when it registers: the leader's
//!    instances use in-process lanes as before; the others get a shared-memory ring
//!    ([`RingSender`]) whose metadata (role, group, name, format) the agent keeps current
//!    (`meta`), announced in the registry before the instance's first block.
//! 3. `intake`: the leader's core reads every other instance's ring into a stand-in's lane,
//!    so groups align and analyse them like local instances; instances of a process that died
//!    or hangs are shown as gone. An announced ring is opened at the core's next step, and the
//!    groups hold each poll's audio until the next one, so a ring's backlog is aligned from
//!    its first block (a host that renders right after loading a session loses nothing).
//! 4. This file: the leader publishes each group's snapshot on the board; editors in other
//!    processes read it there (`remote_snapshot`). Why an instance cannot join (another
//!    version's registry, shared memory unavailable) is kept for the snapshots' warnings.
//!
//! 5. `relocation`: when another process took the core over while this one hung (a
//!    debugger, a stop signal), this process's lanes move to rings as soon as it resumes: the
//!    core thread makes each ring and hands it to the audio thread through the registration's
//!    handover (one atomic swap on the audio thread), so the group is one again without
//!    re-activation.
//!
//! Takeover: when the leader's process dies, another agent's `try_lead` succeeds within a
//! beat period or two (half a second for a hung one); its intake then reads every ring, its
//! own process's included, and nothing changes on any audio thread. Each ring is claimed with
//! the new leader's term, which fences off a former leader that resumes in the middle of a
//! read (it neither returns that record nor moves the ring's tail).
//!
//! A process stopped for longer than the registry's reap timeout loses its slot; its agent
//! rejoins when it resumes, under the same entry id (so the same ring names) and announces its
//! rings, and `relocation` then moves its lanes as for a leader that was replaced.

pub(crate) mod agent;
pub(crate) mod intake;
pub(crate) mod meta;
pub(crate) mod relocation;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use stemcheck_bus::{BlockInfo, PushOutcome};
use stemcheck_shm::RingProducer;
use stemcheck_shm::ring::MAX_CHANNELS;

use crate::instance::{PluginFormat, lock_or_recover};
use crate::snapshot::GroupSnapshot;
use crate::{NUM_GROUPS, snapshot};
use agent::Agent;

pub use agent::{SHM_ENV, SHM_REAP_MS_ENV, SHM_TAG_ENV};
#[doc(hidden)]
pub use intake::{HOLD_MID_POP_ENV, fence_counts};

/// Spins before an offline wait for ring room starts yielding (and reading the clock).
const SPINS_BEFORE_YIELD: u32 = 64;

/// The agent of this process (per binary), while instances are registered.
static AGENT: Mutex<Option<Arc<Agent>>> = Mutex::new(None);

/// Why this process could not join the others, if it could not (for the snapshots).
static JOIN_PROBLEM: Mutex<Option<String>> = Mutex::new(None);

/// The last snapshot read from the board per group, with the board sequence it was read at.
type BoardCache = [Option<(u64, Arc<GroupSnapshot>)>; NUM_GROUPS];
static BOARD_CACHE: Mutex<BoardCache> = Mutex::new([const { None }; NUM_GROUPS]);

/// Starts the agent (first registration). Logs and remembers why not, if it cannot.
pub(crate) fn start(format: PluginFormat) -> Option<Arc<Agent>> {
    let mut slot = lock_or_recover(&AGENT);
    if let Some(agent) = slot.as_ref() {
        return Some(agent.clone());
    }
    match Agent::start(format) {
        Ok(agent) => {
            *lock_or_recover(&JOIN_PROBLEM) = None;
            slot.clone_from(&agent);
            agent
        }
        Err(why) => {
            tracing::warn!("Stemcheck: this process cannot join the other instances: {why}");
            *lock_or_recover(&JOIN_PROBLEM) = Some(why);
            None
        }
    }
}

/// Stops the agent (last unregistration): leaves the registry, gives up the leadership.
pub(crate) fn stop() {
    let agent = lock_or_recover(&AGENT).take();
    if let Some(agent) = agent {
        agent.stop();
    }
    *lock_or_recover(&BOARD_CACHE) = [const { None }; NUM_GROUPS];
}

/// The running agent, if any.
pub(crate) fn current() -> Option<Arc<Agent>> {
    lock_or_recover(&AGENT).clone()
}

/// Whether this process holds the shared core (true without federation: its core is the
/// only one it can see).
pub fn is_leader() -> bool {
    current().is_none_or(|agent| agent.is_leader())
}

/// A plain-language note for the snapshots when this process could not join the others.
pub(crate) fn join_problem_warning() -> Option<String> {
    let why = lock_or_recover(&JOIN_PROBLEM).clone()?;
    let what_to_do = if why.contains("other version") {
        "Install the same Stemcheck version for every plugin format, then restart the host."
    } else {
        "Instances in other plugin formats or host processes are not compared with these."
    };
    Some(format!(
        "This Stemcheck cannot join the instances of other formats or processes ({why}). {what_to_do}"
    ))
}

/// One plain-language note per Stemcheck of another version that runs beside us (its
/// instances cannot join this comparison).
pub(crate) fn other_version_warnings() -> Vec<String> {
    let Some(agent) = current() else {
        return Vec::new();
    };
    agent
        .other_versions()
        .iter()
        .map(|entry| {
            format!(
                "A Stemcheck of another version ({}, process {}, shared-memory layout {}) cannot \
                 join this comparison: install the same Stemcheck version for every plugin format \
                 and host, then restart the host.",
                match entry.format {
                    Some(stemcheck_shm::BinaryFormat::Clap) => "CLAP",
                    Some(stemcheck_shm::BinaryFormat::Vst3) => "VST3",
                    _ => "other",
                },
                entry.pid,
                entry.version
            )
        })
        .collect()
}

/// Publishes `snapshot` of group `index` on the board, if this process leads. Core thread.
pub(crate) fn publish_snapshot(index: usize, snapshot: &GroupSnapshot) {
    let Some(agent) = current() else {
        return;
    };
    let Some(board) = agent.board.as_ref().filter(|_| agent.is_leader()) else {
        return;
    };
    match serde_json::to_vec(snapshot) {
        Ok(bytes) if bytes.len() > board.capacity_bytes() => tracing::warn!(
            "Stemcheck: group {}'s snapshot ({} bytes) is larger than the board's slot",
            snapshot.group,
            bytes.len()
        ),
        Ok(bytes) => {
            board.write(index, agent.member().id(), &bytes);
        }
        Err(e) => tracing::error!("Stemcheck: could not serialise a snapshot: {e}"),
    }
}

/// The snapshot of group `group` as the leader in another process or binary published it, if
/// this process does not lead; `None` otherwise or if there is none. Not for the audio thread.
pub(crate) fn remote_snapshot(group: usize) -> Option<Arc<GroupSnapshot>> {
    let agent = current()?;
    if agent.is_leader() || group >= NUM_GROUPS {
        return None;
    }
    let board = agent.board.as_ref()?;
    let leader = agent.member().registry().leader()?;
    let sequence = board.sequence(group);
    let mut cache = lock_or_recover(&BOARD_CACHE);
    if let Some((at, snapshot)) = &cache[group]
        && *at == sequence
    {
        return Some(snapshot.clone());
    }
    let mut bytes = Vec::new();
    let value = board.read(group, &mut bytes)?;
    // A snapshot a dead or former leader left is not the group's state.
    if value.writer_id != leader.id {
        return None;
    }
    let snapshot: GroupSnapshot = serde_json::from_slice(&bytes).ok()?;
    let snapshot = Arc::new(snapshot);
    cache[group] = Some((value.sequence, snapshot.clone()));
    Some(snapshot)
}

/// The audio thread's end of an instance that streams to another process's core: a
/// shared-memory ring. Its metadata is the agent's to keep current; dropping it closes the
/// ring (the core lets the instance leave once drained).
pub struct RingSender {
    /// The ring.
    ring: RingProducer,
    /// The agent that made it (to forget the ring on drop; never touched on the audio thread).
    agent: Arc<Agent>,
    /// The ring's index under our registry entry.
    index: u32,
    /// An offline wait timed out: do not wait again until a block gets through.
    wait_timed_out: bool,
}

impl RingSender {
    /// Creates the ring of `shared` through `agent`. Registration only (allocates, syscalls).
    pub(crate) fn create(
        agent: &Arc<Agent>,
        shared: &Arc<crate::InstanceShared>,
        sample_rate_hz: f32,
    ) -> Option<Self> {
        let (ring, index) = agent.create_ring(shared, sample_rate_hz)?;
        shared.set_ring_key(crate::instance::ring_key(agent.member().id(), index));
        Some(Self {
            ring,
            agent: agent.clone(),
            index,
            wait_timed_out: false,
        })
    }

    /// Copies one block into the ring: wait-free, a full ring is a counted drop; or, with
    /// `max_wait`, waits for room (offline renders only), at most that long.
    pub fn push_block<C: AsRef<[f32]>>(
        &mut self,
        info: &BlockInfo,
        channels: &[C],
        max_wait: Option<Duration>,
    ) -> PushOutcome {
        if let Some(max_wait) = max_wait
            && !self.wait_timed_out
        {
            let (num_channels, num_frames) =
                stemcheck_bus::lane::block_shape(channels, MAX_CHANNELS);
            if !self.wait_for_room(num_frames, num_channels, max_wait) {
                self.wait_timed_out = true;
            }
        }
        let outcome = self.ring.push_block(info, channels);
        if outcome == PushOutcome::Pushed {
            self.wait_timed_out = false;
        }
        outcome
    }

    /// Spins, then yields, until the ring has room for the block or `max_wait` passed.
    fn wait_for_room(&self, num_frames: usize, num_channels: usize, max_wait: Duration) -> bool {
        let mut spins = 0;
        let mut deadline = None;
        loop {
            if self.ring.has_room_for(num_frames, num_channels) {
                return true;
            }
            if spins < SPINS_BEFORE_YIELD {
                spins += 1;
                std::hint::spin_loop();
                continue;
            }
            let now = std::time::Instant::now();
            let end = *deadline.get_or_insert(now + max_wait);
            if now >= end {
                return false;
            }
            std::thread::yield_now();
        }
    }

    /// Bytes pushed that the core has not taken yet (0: drained).
    pub fn pending_bytes(&self) -> u64 {
        self.ring.pending_bytes()
    }

    /// The ring's drop counters.
    pub fn stats(&self) -> stemcheck_shm::RingStats {
        self.ring.stats()
    }
}

impl Drop for RingSender {
    fn drop(&mut self) {
        self.agent.forget_ring(self.index);
    }
}

/// Publishes a snapshot locally (for this process's editors) and on the board.
pub(crate) fn publish(index: usize, snapshot: GroupSnapshot) {
    publish_snapshot(index, &snapshot);
    snapshot::publish(index, snapshot);
}
