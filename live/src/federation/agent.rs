//! The agent: this process's (and this binary's) member of the per-user registry. Started by
//! the first registration and stopped with the last one (`registration.rs`), it joins the
//! registry, runs for leader at once and then on its own thread every
//! [`BEAT_PERIOD`], beating; it creates the shared-memory rings of the instances that stream
//! to another process's core and keeps their metadata up to date.
//!
//! Whether this process leads decides how instances registered from now on send their audio
//! (see `registration.rs`); an instance that streams through an in-process lane while another
//! process leads is moved to a ring by the core thread (`relocation.rs`), which hands it to
//! the audio thread without allocation, lock or wait there.
//!
//! A process stopped for longer than the registry's reap timeout (5 s; a debugger, a stop
//! signal) finds its slot taken when it resumes: the agent rejoins at its next beat under the
//! same entry id, so its rings (which the reaper leaves under their names) are found again,
//! and announces them; from then on the new membership is used everywhere, and the core's
//! relocation moves the lanes as for any leader that was replaced.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use stemcheck_shm::registry::{BEAT_PERIOD, MAX_RINGS_PER_ENTRY, REAP_AFTER_NS};
use stemcheck_shm::{
    BinaryFormat, Board, Entry, EntryStatus, Member, Namespace, Registry, RingMetaWriter,
    RingProducer, capacity_bytes_for,
};

use super::meta::InstanceMeta;
use crate::NUM_GROUPS;
use crate::instance::{InstanceShared, PluginFormat, lock_or_recover};

/// Selects an isolated namespace (tests, a second product side by side): segments are named
/// `/stemcheck-<uid>-<tag>-...` instead of `/stemcheck-<uid>-...`.
pub const SHM_TAG_ENV: &str = "STEMCHECK_SHM_TAG";
/// `off` keeps every instance in its own process's core (no shared memory at all).
pub const SHM_ENV: &str = "STEMCHECK_SHM";
/// In an isolated namespace ([`SHM_TAG_ENV`]) only: the reap timeout, in milliseconds, of a
/// registry this process creates (tests shorten the 5 s of a real one; see
/// `stemcheck_shm::Registry::open_or_create_with`). Every member uses the registry's own.
pub const SHM_REAP_MS_ENV: &str = "STEMCHECK_SHM_REAP_MS";

/// Seconds of audio a ring holds before it drops (as an in-process lane).
const RING_SECONDS: f32 = 1.0;
/// How often the leader cleans up after crashed processes.
const REAP_PERIOD: Duration = Duration::from_secs(1);
/// Bytes per group on the snapshot board: a snapshot with a run's measurements is tens of kB;
/// this leaves room for many stems. Pages are only touched as far as snapshots reach.
pub const BOARD_SLOT_BYTES: usize = 1 << 20;

/// An instance of this process streaming through a ring, as the agent keeps it.
struct RingInstance {
    /// The ring's index under our registry entry.
    index: u32,
    /// The instance (for its settings and names).
    shared: Arc<InstanceShared>,
    /// Writes its metadata.
    writer: RingMetaWriter,
    /// Its sample rate in Hz.
    sample_rate_hz: f32,
    /// The metadata last published.
    last: Vec<u8>,
}

/// This process's membership, shared by the registrations, the agent thread and the core.
pub(crate) struct Agent {
    /// Our registry slot (also our registry mapping). Replaced by the agent thread when we
    /// rejoin after losing the slot; read from any thread (one atomic load).
    member: ArcSwap<Member>,
    /// The board snapshots are published to and read from (`None` if it could not be opened).
    pub board: Option<Board>,
    /// Whether we held the leadership at the last look (written by [`Self::try_lead`], to log
    /// changes).
    is_leader: AtomicBool,
    /// Instances of this process streaming through rings.
    rings: Mutex<Vec<RingInstance>>,
    /// Live registry entries of another layout version, as of the last beat (they cannot
    /// join; the snapshots say so).
    other_versions: Mutex<Vec<Entry>>,
    /// Set to end the agent thread.
    stop: AtomicBool,
    /// The agent thread.
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// The namespace to join and the reap timeout of a registry we create, from the environment;
/// `None` when shared memory is switched off.
fn namespace() -> Result<Option<(Namespace, Duration)>, String> {
    if std::env::var(SHM_ENV).is_ok_and(|v| v.eq_ignore_ascii_case("off")) {
        return Ok(None);
    }
    let default_reap_after = Duration::from_nanos(REAP_AFTER_NS);
    match std::env::var(SHM_TAG_ENV) {
        Ok(tag) if !tag.is_empty() => {
            let namespace = Namespace::with_tag(&tag).map_err(|e| e.to_string())?;
            let reap_after = std::env::var(SHM_REAP_MS_ENV)
                .ok()
                .and_then(|ms| ms.parse().ok())
                .map_or(default_reap_after, Duration::from_millis);
            Ok(Some((namespace, reap_after)))
        }
        _ => Ok(Some((Namespace::for_current_user(), default_reap_after))),
    }
}

fn binary_format(format: PluginFormat) -> BinaryFormat {
    match format {
        PluginFormat::Clap => BinaryFormat::Clap,
        PluginFormat::Vst3 => BinaryFormat::Vst3,
        PluginFormat::Other => BinaryFormat::Other,
    }
}

impl Agent {
    /// Joins the registry as `format`, runs for leader and starts the agent thread. `Ok(None)`
    /// if shared memory is switched off; an error says why this process cannot join (another
    /// version's registry, no shared memory).
    pub fn start(format: PluginFormat) -> Result<Option<Arc<Self>>, String> {
        let Some((namespace, reap_after)) = namespace()? else {
            return Ok(None);
        };
        let registry =
            Registry::open_or_create_with(&namespace, reap_after).map_err(|e| e.to_string())?;
        let member = registry
            .join(binary_format(format), MAX_RINGS_PER_ENTRY)
            .map_err(|e| e.to_string())?;
        let board = match Board::open_or_create(&namespace, NUM_GROUPS, BOARD_SLOT_BYTES) {
            Ok(board) => Some(board),
            Err(e) => {
                tracing::warn!("Stemcheck: no snapshot board, editors elsewhere stay empty: {e}");
                None
            }
        };
        let agent = Arc::new(Self {
            member: ArcSwap::from_pointee(member),
            board,
            is_leader: AtomicBool::new(false),
            rings: Mutex::new(Vec::new()),
            other_versions: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            thread: Mutex::new(None),
        });
        agent.try_lead();
        let for_thread = agent.clone();
        let thread = std::thread::Builder::new()
            .name("stemcheck-agent".into())
            .spawn(move || for_thread.run())
            .map_err(|e| e.to_string())?;
        *lock_or_recover(&agent.thread) = Some(thread);
        Ok(Some(agent))
    }

    /// Ends the agent thread and waits for it (at most one beat period). The slot is left when
    /// the last reference goes.
    pub fn stop(&self) {
        // Relaxed: a flag read on its own; the join below orders everything after it.
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = lock_or_recover(&self.thread).take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }

    /// The registry membership (the current one: it changes when we rejoin after losing our
    /// slot).
    pub fn member(&self) -> Arc<Member> {
        self.member.load_full()
    }

    /// Whether this process holds the leadership now: the registry's leader word names our
    /// slot (one load; a leader that hung and was replaced knows at once when it resumes).
    pub fn is_leader(&self) -> bool {
        self.member.load().is_leader()
    }

    /// Whether the registry's leader speaks another layout version: its core cannot read our
    /// rings, so instances registering now stay in this process's own core.
    pub fn leader_speaks_other_version(&self) -> bool {
        self.member
            .load()
            .registry()
            .leader()
            .is_some_and(|leader| leader.status == EntryStatus::OtherVersion)
    }

    /// Live entries of another layout version, as of the last beat.
    pub fn other_versions(&self) -> Vec<Entry> {
        lock_or_recover(&self.other_versions).clone()
    }

    /// Runs for leader; returns and remembers whether we lead.
    fn try_lead(&self) -> bool {
        let was = self.is_leader.load(Ordering::Relaxed);
        let now = self.member.load().try_lead();
        if now != was {
            tracing::info!(
                "Stemcheck: process {} {} the analysis core",
                std::process::id(),
                if now { "now holds" } else { "no longer holds" }
            );
        }
        self.is_leader.store(now, Ordering::Relaxed);
        now
    }

    /// Creates a ring for `shared` at `sample_rate_hz` and publishes its metadata; `None` if
    /// every ring index of this process is taken or the segment cannot be created. Allocates
    /// and makes syscalls: registration only.
    pub fn create_ring(
        &self,
        shared: &Arc<InstanceShared>,
        sample_rate_hz: f32,
    ) -> Option<(RingProducer, u32)> {
        let mut rings = lock_or_recover(&self.rings);
        let index = (0..MAX_RINGS_PER_ENTRY).find(|i| rings.iter().all(|r| r.index != *i))?;
        let capacity = capacity_bytes_for(sample_rate_hz, RING_SECONDS);
        let member = self.member.load();
        let mut ring = match RingProducer::create(&member.ring_name(index), capacity) {
            Ok(ring) => ring,
            Err(e) => {
                tracing::warn!("Stemcheck: could not create a shared-memory ring: {e}");
                return None;
            }
        };
        let writer = ring.take_meta_writer()?;
        let last = InstanceMeta::of(shared, sample_rate_hz).encode();
        writer.publish(&last);
        // Before the instance's first block: the leader's core then waits for this ring at
        // every position the other instances deliver from now on.
        member.announce_ring();
        rings.push(RingInstance {
            index,
            shared: shared.clone(),
            writer,
            sample_rate_hz,
            last,
        });
        Some((ring, index))
    }

    /// Forgets ring `index` (its instance unregistered; the producer marks it closed).
    pub fn forget_ring(&self, index: u32) {
        lock_or_recover(&self.rings).retain(|r| r.index != index);
    }

    /// Rejoins the registry after our slot was taken (we were taken for hung: no beat for
    /// longer than the reap timeout, a debugger or a stopped process), under the same id, and
    /// announces our rings (kept under their names by the reaper) so that the leader reads
    /// them at once. Returns whether we hold a slot again; logs a failure if `log_failure`.
    fn rejoin(&self, log_failure: bool) -> bool {
        let old = self.member.load_full();
        match old.rejoin() {
            Ok(member) => {
                let has_rings = !lock_or_recover(&self.rings).is_empty();
                tracing::info!(
                    "Stemcheck: this process lost its registry slot (it was stopped for longer \
                     than {:?}) and joined again",
                    old.registry().reap_after()
                );
                self.member.store(Arc::new(member));
                if has_rings {
                    self.member.load().announce_ring();
                }
                true
            }
            Err(e) => {
                if log_failure {
                    tracing::warn!(
                        "Stemcheck: this process lost its registry slot and cannot join again \
                         yet: {e}"
                    );
                }
                false
            }
        }
    }

    /// The agent thread: beat (rejoining if our slot was taken), run for leader, refresh the
    /// rings' metadata, and (as leader) clean up after crashed processes, every beat period
    /// until stopped.
    fn run(self: Arc<Self>) {
        let mut last_reap = Instant::now();
        let mut failed_rejoin = false;
        // Relaxed: see `stop`.
        while !self.stop.load(Ordering::Relaxed) {
            // A failed rejoin (a full registry) is tried again at every beat, logged once.
            if !self.member.load().beat() {
                failed_rejoin = !self.rejoin(!failed_rejoin);
            }
            let leads = self.try_lead();
            let others: Vec<Entry> = self
                .member
                .load()
                .registry()
                .live_entries()
                .into_iter()
                .filter(|e| e.status == EntryStatus::OtherVersion)
                .collect();
            *lock_or_recover(&self.other_versions) = others;
            for ring in lock_or_recover(&self.rings).iter_mut() {
                let meta = InstanceMeta::of(&ring.shared, ring.sample_rate_hz).encode();
                if meta != ring.last && ring.writer.publish(&meta) {
                    ring.last = meta;
                }
            }
            if leads && last_reap.elapsed() >= REAP_PERIOD {
                last_reap = Instant::now();
                let report = self.member.load().registry().reap_stale();
                for (slot, pid) in &report.freed {
                    tracing::info!("Stemcheck: cleaned up after process {pid} (slot {slot})");
                }
            }
            std::thread::park_timeout(BEAT_PERIOD);
        }
    }
}
