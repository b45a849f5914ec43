//! The per-user registry: one segment (`/stemcheck-<uid>-registry`) with a fixed number of
//! slots, one per live process entry (an analysis core or a plugin instance), and the election
//! of exactly one leader (the analysis core) among them.
//!
//! A process joins by claiming a free slot with a compare-and-swap, writes its pid, binary
//! format, version, ring count and an id that names its ring segments
//! ([`Namespace::ring_name`]), and keeps a heartbeat in it (nanoseconds of a clock every
//! process reads alike: `CLOCK_MONOTONIC` on Unix, `QueryPerformanceCounter` on Windows;
//! [`crate::monotonic_ns`]). The leader is one word holding the leader's pid and slot, claimed by
//! CAS; a leader whose process is gone, whose slot is no longer its own, or whose heartbeat is
//! older than [`LEADER_TIMEOUT_NS`] is replaced by the next claimant. Every claim that wins
//! takes a new leadership term (one counter, so a later leader always has a higher term than
//! any before it): the leader's core claims the rings it reads with it, which fences off a
//! former leader that resumes while reading (see `ring.rs`, "Fencing").
//! [`Registry::reap_stale`] frees the slots of dead (or long-hung) processes and unlinks the
//! rings of the dead ones, and also unlinks ring segments of dead processes that never made
//! it into a slot. A hung process that resumes after losing its slot rejoins under the same
//! id ([`Member::rejoin`]), so its rings, kept under their names, are found again.
//!
//! # Layout (after the 64-byte [`crate::header::SegmentHeader`])
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 64 | 8 | leader: `pid << 32 \| (slot + 1)`, 0 = none |
//! | 72 | 8 | ring announcements: rings made ready by any member, counted ([`Member::announce_ring`]) |
//! | 80 | 4 | leadership terms issued so far ([`Member::leader_term`]) |
//! | 128 + 64 * i | 64 | slot `i` (see below) |
//!
//! Slot: `state` u64 at +0 (`generation << 40 \| tag << 32 \| pid`; tag 0 free, 1 joining,
//! 2 live; the generation counts claims of the slot, so that a slot freed and claimed again by
//! the same process is not taken for the old claim),
//! `heartbeat_ns` u64 at +8, `id` u64 at +16, `version` u32 at +24, `format` u32 at +28,
//! `ring_count` u32 at +32, the rest reserved. One slot per cache line.

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::ShmError;
use crate::header::{LAYOUT_VERSION, SegmentHeader, SegmentKind};
use crate::os;
use crate::segment::{Namespace, Segment};

/// Slots in a registry this build creates.
pub const DEFAULT_NUM_SLOTS: usize = 64;

/// Bytes per slot (one cache line).
pub const SLOT_BYTES: usize = 64;

/// Offset of the leader word.
const LEADER_OFFSET: usize = 64;

/// Offset of the ring announcements counter. Zero in a registry made by a build that did not
/// count (bytes reserved then): such members' rings are found by the leader's periodic scan.
const RING_ANNOUNCEMENTS_OFFSET: usize = 72;

/// Offset of the leadership term counter (u32): the number of terms issued so far, the last
/// one being the current leader's (or a former leader's, until the next claim).
const TERMS_OFFSET: usize = 80;

/// Offset of slot 0.
pub const REGISTRY_SLOTS_OFFSET: usize = 128;

const SLOT_STATE: usize = 0;
const SLOT_HEARTBEAT: usize = 8;
const SLOT_ID: usize = 16;
const SLOT_VERSION: usize = 24;
const SLOT_FORMAT: usize = 28;
const SLOT_RING_COUNT: usize = 32;

/// `state` tag of a free slot.
const TAG_FREE: u64 = 0;
/// `state` tag of a slot whose fields are being written.
const TAG_JOINING: u64 = 1;
/// `state` tag of a slot whose fields are complete.
const TAG_LIVE: u64 = 2;
/// Where the tag starts in `state`.
const TAG_SHIFT: u32 = 32;
/// Where the generation starts in `state`.
const GENERATION_SHIFT: u32 = 40;
/// The generation's bits (24): it wraps after 16 million claims of one slot.
const GENERATION_MASK: u64 = (1 << 24) - 1;

/// A slot's state word.
fn make_state(generation: u64, tag: u64, pid: u32) -> u64 {
    ((generation & GENERATION_MASK) << GENERATION_SHIFT)
        | ((tag & 0xff) << TAG_SHIFT)
        | u64::from(pid)
}

/// The tag of a state word.
fn state_tag(state: u64) -> u64 {
    (state >> TAG_SHIFT) & 0xff
}

/// The generation of a state word.
fn state_generation(state: u64) -> u64 {
    state >> GENERATION_SHIFT
}

/// The state word that frees a slot held as `state` (same generation, no tag, no pid).
fn freed(state: u64) -> u64 {
    make_state(state_generation(state), TAG_FREE, 0)
}

/// A leader whose heartbeat is older than this (500 ms) is replaced. Members beat every
/// [`BEAT_PERIOD`]; with claimants trying at that period too, a hung leader is replaced within
/// about 600 ms, a dead one within one period.
pub const LEADER_TIMEOUT_NS: u64 = 500_000_000;

/// How often a member is expected to call [`Member::beat`] and [`Member::try_lead`].
pub const BEAT_PERIOD: Duration = Duration::from_millis(100);

/// A live process whose heartbeat is older than this (5 s) is taken for hung: its slot is
/// freed by [`Registry::reap_stale`] (its rings keep their names, for when it resumes and
/// rejoins). A process that no longer exists is reaped at once, its rings unlinked. The
/// default: a registry says its own ([`Registry::reap_after`]), set by its creator
/// ([`Registry::open_or_create_with`]; tests shorten it).
pub const REAP_AFTER_NS: u64 = 5_000_000_000;

/// The shortest reap timeout a registry may declare, in milliseconds: well above
/// [`LEADER_TIMEOUT_NS`], so that a hung leader is replaced before it is reaped.
pub const MIN_REAP_AFTER_MS: u64 = 1_000;

/// The longest reap timeout a registry may declare, in milliseconds (an hour).
pub const MAX_REAP_AFTER_MS: u64 = 3_600_000;

/// Most rings one entry may name; bounds what a garbage `ring_count` makes the reaper unlink.
pub const MAX_RINGS_PER_ENTRY: u32 = 64;

/// How long [`Registry::open_or_create`] waits for another process to finish creating the
/// registry before taking a half-made one for the leftover of a crash.
const CREATOR_WAIT: Duration = Duration::from_millis(200);

/// How long to sleep between looks while waiting for a creator.
const CREATOR_POLL: Duration = Duration::from_millis(1);

/// Which build of the plugin (or which program) an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum BinaryFormat {
    /// The CLAP build.
    Clap = 1,
    /// The VST3 build.
    Vst3 = 2,
    /// Anything else (the command-line tool, a test helper).
    Other = 3,
}

impl BinaryFormat {
    fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            1 => Some(Self::Clap),
            2 => Some(Self::Vst3),
            3 => Some(Self::Other),
            _ => None,
        }
    }
}

/// What an entry is, as seen now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryStatus {
    /// Its fields are still being written.
    Joining,
    /// Alive and beating, of our version.
    Live,
    /// Alive and beating, but of another version: reported, never used.
    OtherVersion,
    /// Alive, but its heartbeat is older than [`LEADER_TIMEOUT_NS`].
    Stale,
    /// Its process no longer exists.
    Dead,
}

impl fmt::Display for EntryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Joining => "joining",
            Self::Live => "live",
            Self::OtherVersion => "cannot join: other version",
            Self::Stale => "stale heartbeat",
            Self::Dead => "process gone",
        })
    }
}

/// One registry slot, as read now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The slot index.
    pub slot: usize,
    /// The process id.
    pub pid: u32,
    /// Its binary format (`None` if the slot holds an unknown value).
    pub format: Option<BinaryFormat>,
    /// The layout version it speaks.
    pub version: u32,
    /// Its last heartbeat, [`crate::monotonic_ns`] nanoseconds.
    pub heartbeat_ns: u64,
    /// Nanoseconds since that heartbeat (0 if it is in the future).
    pub heartbeat_age_ns: u64,
    /// The id that names its rings.
    pub id: u64,
    /// How many rings it names (`ring_name(id, 0..ring_count)`).
    pub ring_count: u32,
    /// What it is now.
    pub status: EntryStatus,
}

impl Entry {
    /// Whether this entry can be used by this build: live and of our version.
    pub fn is_usable(&self) -> bool {
        self.status == EntryStatus::Live
    }
}

/// What [`Registry::reap_stale`] cleaned up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReapReport {
    /// Slots freed, with the pid that held each.
    pub freed: Vec<(usize, u32)>,
    /// Ring segments unlinked.
    pub unlinked: Vec<String>,
}

/// The registry segment of a namespace, mapped.
#[derive(Debug)]
pub struct Registry {
    /// The mapped registry segment (header validated as a registry).
    segment: Segment,
    /// The names this registry and its members' rings live under.
    namespace: Namespace,
    /// Slots in the segment, from the validated header.
    num_slots: usize,
    /// After how long without a heartbeat a live member is reaped, in nanoseconds, from the
    /// validated header (the creator's choice).
    reap_after_ns: u64,
}

impl Registry {
    /// Opens the namespace's registry, creating it if there is none. A registry of another
    /// layout version is [`ShmError::OtherVersion`] ("cannot join: other version"). Waits up
    /// to 200 ms for a process that is creating it right now; a registry still
    /// without a header after that is the leftover of a crash mid-creation and is replaced.
    /// Not for the audio thread (it may sleep).
    pub fn open_or_create(namespace: &Namespace) -> Result<Self, ShmError> {
        Self::open_or_create_with(namespace, Duration::from_nanos(REAP_AFTER_NS))
    }

    /// [`Self::open_or_create`], creating the registry (if there is none) with `reap_after`
    /// as its reap timeout, clamped to [`MIN_REAP_AFTER_MS`]..=[`MAX_REAP_AFTER_MS`]. A
    /// registry that exists keeps its own: every member reaps with the same timeout.
    pub fn open_or_create_with(
        namespace: &Namespace,
        reap_after: Duration,
    ) -> Result<Self, ShmError> {
        let reap_after_ms =
            (reap_after.as_millis() as u64).clamp(MIN_REAP_AFTER_MS, MAX_REAP_AFTER_MS);
        let name = namespace.registry_name();
        let started = Instant::now();
        let mut replaced_leftover = false;
        loop {
            match Segment::create(
                &name,
                SegmentKind::Registry,
                SegmentHeader::registry_params(DEFAULT_NUM_SLOTS as u64, reap_after_ms),
            ) {
                Ok(segment) => return Ok(Self::from_segment(segment, namespace)),
                Err(e) if e.is_already_exists() => {}
                Err(e) => return Err(e),
            }
            match Segment::open(&name, SegmentKind::Registry) {
                Ok(segment) => return Ok(Self::from_segment(segment, namespace)),
                // Unlinked between our create and open: try again.
                Err(e) if e.is_not_found() => {}
                // No header yet: its creator is between `ftruncate` and the magic.
                Err(ShmError::BadMagic { found: 0, .. } | ShmError::TooSmall { .. }) => {
                    if started.elapsed() < CREATOR_WAIT {
                        std::thread::sleep(CREATOR_POLL);
                    } else if !replaced_leftover {
                        replaced_leftover = true;
                        let _ = Segment::unlink(&name);
                    } else {
                        return Segment::open(&name, SegmentKind::Registry)
                            .map(|segment| Self::from_segment(segment, namespace));
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn from_segment(segment: Segment, namespace: &Namespace) -> Self {
        let num_slots = segment.header().params[0] as usize;
        // Validated: from MIN_REAP_AFTER_MS to MAX_REAP_AFTER_MS, so no overflow.
        let reap_after_ns = segment.header().params[2] * 1_000_000;
        Self {
            segment,
            namespace: namespace.clone(),
            num_slots,
            reap_after_ns,
        }
    }

    /// After how long without a heartbeat a live member is reaped (this registry's own).
    pub fn reap_after(&self) -> Duration {
        Duration::from_nanos(self.reap_after_ns)
    }

    /// The namespace this registry belongs to.
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// The segment's name.
    pub fn name(&self) -> &str {
        self.segment.name()
    }

    /// Slots in this registry.
    pub fn num_slots(&self) -> usize {
        self.num_slots
    }

    fn slot_u64(&self, slot: usize, field: usize) -> &AtomicU64 {
        self.segment
            .atomic_u64(REGISTRY_SLOTS_OFFSET + slot * SLOT_BYTES + field)
    }

    fn slot_u32(&self, slot: usize, field: usize) -> &AtomicU32 {
        self.segment
            .atomic_u32(REGISTRY_SLOTS_OFFSET + slot * SLOT_BYTES + field)
    }

    fn leader_word(&self) -> &AtomicU64 {
        self.segment.atomic_u64(LEADER_OFFSET)
    }

    fn terms(&self) -> &AtomicU32 {
        self.segment.atomic_u32(TERMS_OFFSET)
    }

    /// How many rings members announced so far ([`Member::announce_ring`]): a leader that sees
    /// it change looks for new rings at once. One load, no allocation.
    pub fn ring_announcements(&self) -> u64 {
        // Acquire: pairs with the announcer's Release increment, so the ring segment it created
        // and the metadata it wrote before are there for whoever saw the new count.
        self.segment
            .atomic_u64(RING_ANNOUNCEMENTS_OFFSET)
            .load(Ordering::Acquire)
    }

    /// Reads slot `slot`; `None` if it is free.
    fn read_entry(&self, slot: usize, now_ns: u64) -> Option<Entry> {
        self.read_slot(slot, now_ns).map(|(entry, _)| entry)
    }

    /// Reads slot `slot` and the state word it was read under; `None` if it is free.
    fn read_slot(&self, slot: usize, now_ns: u64) -> Option<(Entry, u64)> {
        // Acquire: pairs with the joiner's Release store of the live state, so the fields it
        // wrote before are the ones read below.
        let state = self.slot_u64(slot, SLOT_STATE).load(Ordering::Acquire);
        let tag = state_tag(state);
        if tag == TAG_FREE {
            return None;
        }
        let pid = state as u32;
        // Relaxed: the fields were published by the Acquire load above; the heartbeat is a
        // value read on its own.
        let heartbeat_ns = self.slot_u64(slot, SLOT_HEARTBEAT).load(Ordering::Relaxed);
        let version = self.slot_u32(slot, SLOT_VERSION).load(Ordering::Relaxed);
        let heartbeat_age_ns = now_ns.saturating_sub(heartbeat_ns);
        let status = if !os::pid_alive(pid) {
            EntryStatus::Dead
        } else if tag != TAG_LIVE {
            EntryStatus::Joining
        } else if heartbeat_age_ns > LEADER_TIMEOUT_NS {
            EntryStatus::Stale
        } else if version != LAYOUT_VERSION {
            EntryStatus::OtherVersion
        } else {
            EntryStatus::Live
        };
        let entry = Entry {
            slot,
            pid,
            format: BinaryFormat::from_raw(
                self.slot_u32(slot, SLOT_FORMAT).load(Ordering::Relaxed),
            ),
            version,
            heartbeat_ns,
            heartbeat_age_ns,
            id: self.slot_u64(slot, SLOT_ID).load(Ordering::Relaxed),
            ring_count: self.slot_u32(slot, SLOT_RING_COUNT).load(Ordering::Relaxed),
            status,
        };
        Some((entry, state))
    }

    /// Every taken slot, whatever its status.
    pub fn entries(&self) -> Vec<Entry> {
        let now_ns = os::monotonic_ns();
        (0..self.num_slots)
            .filter_map(|slot| self.read_entry(slot, now_ns))
            .collect()
    }

    /// The entries of processes that are alive and beating: [`EntryStatus::Live`], and
    /// [`EntryStatus::OtherVersion`] (listed so that they can be reported, never used).
    pub fn live_entries(&self) -> Vec<Entry> {
        self.entries()
            .into_iter()
            .filter(|e| matches!(e.status, EntryStatus::Live | EntryStatus::OtherVersion))
            .collect()
    }

    /// The current leader, if the leader word names a slot that is still its own and live.
    pub fn leader(&self) -> Option<Entry> {
        let word = self.leader_word().load(Ordering::Relaxed);
        self.valid_leader(word, os::monotonic_ns())
    }

    /// The entry a leader word names, if it is still a valid leader: its slot holds the same
    /// pid, live, alive, with a heartbeat no older than [`LEADER_TIMEOUT_NS`].
    fn valid_leader(&self, word: u64, now_ns: u64) -> Option<Entry> {
        let slot_plus_one = (word & u64::from(u32::MAX)) as usize;
        let pid = (word >> 32) as u32;
        if slot_plus_one == 0 || slot_plus_one > self.num_slots {
            return None;
        }
        let entry = self.read_entry(slot_plus_one - 1, now_ns)?;
        (entry.pid == pid && matches!(entry.status, EntryStatus::Live | EntryStatus::OtherVersion))
            .then_some(entry)
    }

    /// Claims a slot for this process and returns the membership. Cleans up after crashed
    /// processes first ([`Self::reap_stale`]). `ring_count` rings may then be created under
    /// [`Member::ring_name`].
    pub fn join(self, format: BinaryFormat, ring_count: u32) -> Result<Member, ShmError> {
        self.join_as(format, LAYOUT_VERSION, ring_count)
    }

    /// [`Self::join`] announcing another `version`: for tests of mixed installs.
    #[doc(hidden)]
    pub fn join_as(
        self,
        format: BinaryFormat,
        version: u32,
        ring_count: u32,
    ) -> Result<Member, ShmError> {
        let id = new_id(os::current_pid());
        self.join_entry(format, version, ring_count, id)
    }

    /// Claims a slot for an entry `id` of this process (see [`Self::join`]).
    fn join_entry(
        self,
        format: BinaryFormat,
        version: u32,
        ring_count: u32,
        id: u64,
    ) -> Result<Member, ShmError> {
        self.reap_stale();
        let pid = os::current_pid();
        let ring_count = ring_count.min(MAX_RINGS_PER_ENTRY);
        for slot in 0..self.num_slots {
            let state = self.slot_u64(slot, SLOT_STATE);
            // Relaxed: only a candidate for the CAS below, which decides.
            let free = state.load(Ordering::Relaxed);
            if state_tag(free) != TAG_FREE {
                continue;
            }
            let generation = state_generation(free) + 1;
            // Acquire on success: pairs with the Release store that freed the slot, so the
            // previous holder's writes to the fields come before ours.
            if state
                .compare_exchange(
                    free,
                    make_state(generation, TAG_JOINING, pid),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_err()
            {
                continue;
            }
            // Relaxed: published by the Release store of the live state below.
            self.slot_u64(slot, SLOT_HEARTBEAT)
                .store(os::monotonic_ns(), Ordering::Relaxed);
            self.slot_u64(slot, SLOT_ID).store(id, Ordering::Relaxed);
            self.slot_u32(slot, SLOT_VERSION)
                .store(version, Ordering::Relaxed);
            self.slot_u32(slot, SLOT_FORMAT)
                .store(format as u32, Ordering::Relaxed);
            self.slot_u32(slot, SLOT_RING_COUNT)
                .store(ring_count, Ordering::Relaxed);
            let live = make_state(generation, TAG_LIVE, pid);
            // Release: the fields above are visible to whoever sees the live state (Acquire).
            state.store(live, Ordering::Release);
            return Ok(Member {
                registry: self,
                slot,
                state_word: live,
                pid,
                id,
                format,
                version,
                ring_count,
                term: AtomicU32::new(0),
                has_left: false,
            });
        }
        Err(ShmError::RegistryFull {
            num_slots: self.num_slots,
        })
    }

    /// Frees the slots of processes that no longer exist, unlinking the rings they named, and
    /// of processes whose heartbeat is older than [`Self::reap_after`], whose rings keep their
    /// names (their memory stays mapped by the hung process all the same; if it resumes, it
    /// rejoins under the same id and its rings are found again, see [`Member::rejoin`]; if it
    /// dies, they are orphans); then unlinks ring segments of this namespace whose id names a
    /// dead process and no slot (a crash between creating a ring and joining, after leaving, or
    /// while hung). Safe to run from several processes at once: each slot is freed by one CAS.
    pub fn reap_stale(&self) -> ReapReport {
        let mut report = ReapReport::default();
        let now_ns = os::monotonic_ns();
        for slot in 0..self.num_slots {
            let Some((entry, current)) = self.read_slot(slot, now_ns) else {
                continue;
            };
            let hung = entry.heartbeat_age_ns > self.reap_after_ns
                && matches!(entry.status, EntryStatus::Stale);
            if entry.status != EntryStatus::Dead && !hung {
                continue;
            }
            let state = self.slot_u64(slot, SLOT_STATE);
            // Release: our reads of the holder's fields above come before a later joiner's
            // writes to them (it claims the freed slot with Acquire). The CAS itself makes sure
            // that the slot still holds the state we judged, and that one reaper frees it.
            if state
                .compare_exchange(
                    current,
                    freed(current),
                    Ordering::Release,
                    Ordering::Relaxed,
                )
                .is_err()
            {
                continue;
            }
            let leader_of_slot = (u64::from(entry.pid) << 32) | (slot as u64 + 1);
            // Relaxed: the leader word publishes no memory; it only names a slot.
            let _ = self.leader_word().compare_exchange(
                leader_of_slot,
                0,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            report.freed.push((slot, entry.pid));
            if hung {
                continue;
            }
            for index in 0..entry.ring_count.min(MAX_RINGS_PER_ENTRY) {
                let name = self.namespace.ring_name(entry.id, index);
                if Segment::unlink(&name).is_ok() {
                    report.unlinked.push(name);
                }
            }
        }
        self.reap_orphan_rings(&mut report);
        report
    }

    fn reap_orphan_rings(&self, report: &mut ReapReport) {
        let names = match os::list_segments(&self.namespace.ring_prefix()) {
            Ok(names) => names,
            // No listing of shared-memory objects (macOS): the rings of freed slots' last
            // holders instead.
            Err(e)
                if e.kind() == std::io::ErrorKind::Unsupported && os::NAMES_OUTLIVE_PROCESSES =>
            {
                self.reap_left_slots_into(report);
                return;
            }
            // Windows (a dead process's rings went with its handles), or a listing that failed.
            Err(_) => return,
        };
        let ids_in_use: Vec<u64> = self.entries().iter().map(|e| e.id).collect();
        for name in names {
            let Some((id, _)) = self.namespace.parse_ring_name(&name) else {
                continue;
            };
            let pid = (id >> 32) as u32;
            if ids_in_use.contains(&id) || os::pid_alive(pid) {
                continue;
            }
            if Segment::unlink(&name).is_ok() {
                report.unlinked.push(name);
            }
        }
    }
}

impl Registry {
    /// Unlinks the rings of freed slots' last holders that are dead: how leftover rings are
    /// found where shared-memory objects cannot be listed (macOS; [`Self::reap_stale`] does it
    /// there). A slot freed by its holder (leaving) or by a reaper (a hung holder) keeps the
    /// holder's id and ring count until it is claimed again, and ring names are derived from
    /// them; once the holder's pid is gone, its rings are unlinked and the id cleared (so this
    /// is done once per slot). Public for tests, which run it on Linux.
    ///
    /// What this misses, and what then stays until reboot on macOS: rings of a process that
    /// died after its slot was freed and claimed again by another process before any reap
    /// saw it dead, and rings made under ids that never were in a slot.
    #[doc(hidden)]
    pub fn reap_left_slots(&self) -> ReapReport {
        let mut report = ReapReport::default();
        self.reap_left_slots_into(&mut report);
        report
    }

    fn reap_left_slots_into(&self, report: &mut ReapReport) {
        let ids_in_use: Vec<u64> = self.entries().iter().map(|e| e.id).collect();
        for slot in 0..self.num_slots {
            // Acquire: pairs with the Release store that freed the slot (`leave`, or a
            // reaper's CAS), so that the id and ring count read below are its last holder's.
            let state = self.slot_u64(slot, SLOT_STATE).load(Ordering::Acquire);
            if state_tag(state) != TAG_FREE {
                continue;
            }
            let id_word = self.slot_u64(slot, SLOT_ID);
            // Relaxed: published by the Acquire load above. A joiner that claims the slot
            // meanwhile writes the id of a live process, which is skipped.
            let id = id_word.load(Ordering::Relaxed);
            if id == 0 || ids_in_use.contains(&id) || os::pid_alive((id >> 32) as u32) {
                continue;
            }
            // Relaxed: as the id. A joiner's count read here names rings of the dead id all
            // the same (at most `MAX_RINGS_PER_ENTRY` tries).
            let ring_count = self
                .slot_u32(slot, SLOT_RING_COUNT)
                .load(Ordering::Relaxed)
                .min(MAX_RINGS_PER_ENTRY);
            for index in 0..ring_count {
                let name = self.namespace.ring_name(id, index);
                if Segment::unlink(&name).is_ok() {
                    report.unlinked.push(name);
                }
            }
            // Relaxed: the id publishes nothing. Cleared only if it is still the dead holder's
            // (a joiner may have written its own since: then the exchange fails, rightly; one
            // that writes after us overwrites the zero). Ids are never 0 (the pid is not).
            let _ = id_word.compare_exchange(id, 0, Ordering::Relaxed, Ordering::Relaxed);
        }
    }
}

/// A fresh entry id: the pid in the high 32 bits (so that leftovers of a dead process can be
/// recognised by name), and the low 32 bits of the clock and a counter in the low bits (so that
/// a later process with the same pid does not collide).
fn new_id(pid: u32) -> u64 {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    // Relaxed: only uniqueness of the value matters.
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let low = (os::monotonic_ns() as u32).wrapping_add(count.wrapping_mul(0x9e37_79b9));
    (u64::from(pid) << 32) | u64::from(low)
}

/// A claimed slot. Leaves (frees the slot, gives up the leadership) on drop.
#[derive(Debug)]
pub struct Member {
    /// The registry we joined (our own mapping of it).
    registry: Registry,
    /// Our slot index.
    slot: usize,
    /// The slot's state word while we hold it (generation, live tag, our pid).
    state_word: u64,
    /// Our process id, as written in the slot and the leader word.
    pid: u32,
    /// The id that names our rings.
    id: u64,
    /// The binary format we joined as.
    format: BinaryFormat,
    /// The layout version we announced.
    version: u32,
    /// How many rings our id names.
    ring_count: u32,
    /// The leadership term of our last claim that won (0: none yet). Written by
    /// [`Self::try_lead`]; read by [`Self::leader_term`], possibly on another thread.
    term: AtomicU32,
    /// `leave` ran (explicitly or on drop): do not free the slot twice.
    has_left: bool,
}

impl Member {
    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Our slot index.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// Our id, which names our rings.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The name of our ring `index`.
    pub fn ring_name(&self, index: u32) -> String {
        self.registry.namespace.ring_name(self.id, index)
    }

    /// Announces that one of our rings is ready to be read (created, its metadata written):
    /// the leader's core looks for it at once instead of at its next periodic scan, so that it
    /// waits for the ring's audio before analysing the positions it covers.
    pub fn announce_ring(&self) {
        // Release: the ring's creation and metadata, done before, are visible to whoever sees
        // the new count (Acquire in `ring_announcements`).
        self.registry
            .segment
            .atomic_u64(RING_ANNOUNCEMENTS_OFFSET)
            .fetch_add(1, Ordering::Release);
    }

    fn leader_value(&self) -> u64 {
        (u64::from(self.pid) << 32) | (self.slot as u64 + 1)
    }

    /// Joins again after our slot was taken from us ([`Self::beat`] returned `false`: we were
    /// hung for longer than the registry's reap timeout), with the same id, format, version
    /// and ring count, through a new mapping of the registry (recreated if it is gone). The
    /// same id keeps our rings' names: the reaper left them (their memory was ours all along),
    /// so the leader finds them again under the new slot. Announce them then
    /// ([`Self::announce_ring`]). Not for the audio thread.
    pub fn rejoin(&self) -> Result<Member, ShmError> {
        let registry =
            Registry::open_or_create_with(&self.registry.namespace, self.registry.reap_after())?;
        registry.join_entry(self.format, self.version, self.ring_count, self.id)
    }

    /// Whether we still hold our slot (a reaper may have taken it while we were hung).
    pub fn holds_slot(&self) -> bool {
        self.registry
            .slot_u64(self.slot, SLOT_STATE)
            .load(Ordering::Relaxed)
            == self.state_word
    }

    /// Updates our heartbeat. Returns `false` if our slot was taken from us (we were taken for
    /// hung); then this member should leave and join again. No allocation, one clock read.
    pub fn beat(&self) -> bool {
        if !self.holds_slot() {
            return false;
        }
        // Relaxed: the heartbeat is a value read on its own.
        self.registry
            .slot_u64(self.slot, SLOT_HEARTBEAT)
            .store(os::monotonic_ns(), Ordering::Relaxed);
        true
    }

    /// Claims the leadership if nobody holds it validly (no leader, or a leader whose process is
    /// gone, whose slot is not its own any more, or whose heartbeat is older than
    /// [`LEADER_TIMEOUT_NS`]). Returns whether we are the leader now. Call it every
    /// [`BEAT_PERIOD`], after [`Self::beat`], from one thread at a time.
    ///
    /// A claim that wins takes a new term ([`Self::leader_term`]).
    pub fn try_lead(&self) -> bool {
        if !self.holds_slot() {
            return false;
        }
        let leader = self.registry.leader_word();
        let mine = self.leader_value();
        // Relaxed (here and in the CAS): the leader word publishes no other memory; it only names
        // a slot, whose fields are read with their own Acquire. The CAS alone makes the claim
        // exclusive: of two claimants replacing the same stale word, one wins.
        let current = leader.load(Ordering::Relaxed);
        if current == mine {
            // Relaxed: our own value. None yet: the word names our pid and slot from before we
            // rejoined in the same slot (the reaper clears it right after freeing the slot):
            // take a term for it below.
            if self.term.load(Ordering::Relaxed) != 0 {
                return true;
            }
        } else {
            let is_valid = current != 0
                && self
                    .registry
                    .valid_leader(current, os::monotonic_ns())
                    .is_some();
            if is_valid
                || leader
                    .compare_exchange(current, mine, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                return false;
            }
        }
        // The term is taken after the claim and kept only if the claim still holds after it.
        // AcqRel: makes the terms' order follow the claims' order. Whoever replaces us claims
        // the leader word first and takes its term after (Release, sequenced after its claim);
        // if its increment comes before ours in the counter's order, ours reads from it
        // (Acquire), so its claim happens before our look at the leader word below, which then
        // cannot see our own value any more (only we set the word to it: our process, through
        // its one current membership of this slot): we drop the term. So a term we keep is lower than that of every later leader, and a
        // former leader's claims on rings lose to the current leader's (see `ring.rs`, "Fencing").
        let term = self
            .registry
            .terms()
            .fetch_add(1, Ordering::AcqRel)
            .wrapping_add(1);
        // Relaxed: the happens-before above is what matters; a later value is all we can see.
        if leader.load(Ordering::Relaxed) != mine {
            return false;
        }
        // Relaxed: read with the leader word's own check (`leader_term`); an older term read
        // there instead is one of ours that a newer leader's outranks, never the reverse.
        self.term.store(term, Ordering::Relaxed);
        true
    }

    /// Our leadership term, if we lead now: the term of our claim that won, which orders us
    /// after every leader before us. The core claims the rings it reads with it
    /// ([`crate::RingConsumer::open_claiming`]). Terms count from 1; 2^32 elections wrap.
    pub fn leader_term(&self) -> Option<u32> {
        // Relaxed: see `try_lead`.
        let term = self.term.load(Ordering::Relaxed);
        (term != 0 && self.is_leader()).then_some(term)
    }

    /// Whether the leader word names us. A leader that was hung may find it does not any more:
    /// it must then stop acting as the core.
    pub fn is_leader(&self) -> bool {
        self.registry.leader_word().load(Ordering::Relaxed) == self.leader_value()
    }

    /// Gives up the leadership (if ours) and frees our slot.
    pub fn leave(mut self) {
        self.do_leave();
    }

    fn do_leave(&mut self) {
        if self.has_left {
            return;
        }
        self.has_left = true;
        if !self.holds_slot() {
            // Reaped while hung: the leader word may name a member that rejoined in the same
            // slot (the same pid and slot, so the same value); it is not ours to clear.
            return;
        }
        // Relaxed: the leader word publishes no memory.
        let _ = self.registry.leader_word().compare_exchange(
            self.leader_value(),
            0,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        // Release: our earlier writes to the slot's fields come before a later joiner's (it
        // claims with Acquire). Only if the slot is still ours.
        let _ = self
            .registry
            .slot_u64(self.slot, SLOT_STATE)
            .compare_exchange(
                self.state_word,
                freed(self.state_word),
                Ordering::Release,
                Ordering::Relaxed,
            );
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.do_leave();
    }
}
