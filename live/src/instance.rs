//! Registration of plugin instances with the process-wide core.
//!
//! Registration happens on a non-audio thread (the plugin's `activate()`): it allocates the
//! instance's lane and starts the core thread if this is the first instance. Dropping the
//! `Registration` (in `deactivate()` or when the instance is destroyed) abandons the lane; the
//! core drains what is left and forgets the instance, and the last instance to go stops the
//! core thread.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::snapshot::Role;

/// What an instance shares with the core. The audio thread only stores to the atomics; the
/// strings are read and written on non-audio threads only.
#[derive(Debug, Default)]
pub struct InstanceShared {
    /// [`Role`] as `u8`, written by the plugin glue whenever the parameter is read.
    role: AtomicU8,
    /// Group index (0 = "A"), written by the plugin glue.
    group: AtomicU8,
    /// The [`Role`] the host's track name suggests, as `u8`.
    guessed_role: AtomicU8,
    /// The name the user typed; empty to use the host's track name. An `Arc` so the plugin can
    /// persist it with its state.
    pub name_override: Arc<Mutex<String>>,
    /// The host's track name, when the host tells us.
    pub track_name: Mutex<String>,
    /// The core's lane id plus one (0: not registered), for editors to find their own row.
    lane: AtomicU32,
    /// The number in this instance's generated name ("Stem 3"), used when neither the user nor
    /// the host names it; 0 until the core gives one. Written by the core when the instance
    /// joins a group (the smallest number free in it), read by the core and the editor, which
    /// shows it so that the user can find and rename the stem.
    fallback_number: AtomicU32,
    /// Channels of the bus the instance sits on, as the host set it up (0: not told). The
    /// lanes carry the first [`stemcheck_bus::lane::MAX_CHANNELS`]; a wider bus (5.1, 7.1) passes
    /// the rest through unchecked, and the group says so.
    bus_channels: AtomicU32,
    /// The plugin format of the binary the instance runs in, as [`PluginFormat`] `as u8`;
    /// written by the plugin glue before it registers (its host's API).
    format: AtomicU8,
    /// The process the instance runs in: 0 for this one. Non-zero only on the core's stand-ins
    /// for instances of other processes or binaries (written by the federation intake).
    pid: AtomicU32,
    /// Whether this is the core's stand-in for an instance that streams through shared memory
    /// (written once by the federation intake).
    remote: AtomicBool,
    /// Which shared-memory ring the instance streams through ([`ring_key`]; 0: none): set on
    /// the instance when its ring is made and on the core's stand-in when it opens the ring,
    /// so that an editor finds its own row in a snapshot from another process.
    ring_key: AtomicU64,
}

/// The key of ring `index` of registry entry `entry_id` (never 0): what an instance and the
/// core's stand-in for it share.
pub fn ring_key(entry_id: u64, index: u32) -> u64 {
    (entry_id.rotate_left(8) ^ u64::from(index)).max(1)
}

/// Which build of the plugin an instance runs in, as its host loaded it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum PluginFormat {
    /// Not told (a test, the command-line tool, the standalone).
    #[default]
    Other = 0,
    /// The CLAP build.
    Clap = 1,
    /// The VST3 build.
    Vst3 = 2,
}

impl PluginFormat {
    /// The format stored as `format as u8`; anything unknown is [`PluginFormat::Other`].
    pub fn from_u8(value: u8) -> Self {
        match value {
            1 => Self::Clap,
            2 => Self::Vst3,
            _ => Self::Other,
        }
    }

    /// How reports and editors name it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Other => "other",
            Self::Clap => "CLAP",
            Self::Vst3 => "VST3",
        }
    }
}

impl InstanceShared {
    /// Sets the role (wait-free; safe on the audio thread).
    pub fn set_role(&self, role: Role) {
        self.role.store(role as u8, Ordering::Relaxed);
    }

    /// This instance's lane in the core, while registered.
    pub fn lane_id(&self) -> Option<u32> {
        self.lane.load(Ordering::Relaxed).checked_sub(1)
    }

    /// Records the lane the core gave this instance (registration only).
    pub(crate) fn set_lane_id(&self, lane_id: u32) {
        self.lane.store(lane_id.wrapping_add(1), Ordering::Relaxed);
    }

    /// The role last set.
    pub fn role(&self) -> Role {
        Role::from_u8(self.role.load(Ordering::Relaxed))
    }

    /// Records the host's track name and the role it suggests. Not for the audio thread.
    pub fn set_track_name(&self, name: &str) {
        *lock_or_recover(&self.track_name) = name.to_string();
        self.guessed_role
            .store(Role::guess_from_track_name(name) as u8, Ordering::Relaxed);
    }

    /// The role the track name suggests ([`Role::Stem`] until the host names the track).
    pub fn guessed_role(&self) -> Role {
        Role::from_u8(self.guessed_role.load(Ordering::Relaxed))
    }

    /// Sets the group index (wait-free; safe on the audio thread).
    pub fn set_group(&self, group: usize) {
        self.group
            .store(group.min(crate::NUM_GROUPS - 1) as u8, Ordering::Relaxed);
    }

    /// The group index last set.
    pub fn group(&self) -> usize {
        usize::from(self.group.load(Ordering::Relaxed))
    }

    /// Records the channel count of the bus the host set up (the plugin's `activate()`).
    pub fn set_bus_channels(&self, channels: u32) {
        self.bus_channels.store(channels, Ordering::Relaxed);
    }

    /// Records the plugin format the instance runs in (the plugin's `activate()`, before it
    /// registers).
    pub fn set_format(&self, format: PluginFormat) {
        self.format.store(format as u8, Ordering::Relaxed);
    }

    /// The plugin format the instance runs in.
    pub fn format(&self) -> PluginFormat {
        PluginFormat::from_u8(self.format.load(Ordering::Relaxed))
    }

    /// The process the instance runs in (this one's id for a local instance).
    pub fn pid(&self) -> u32 {
        match self.pid.load(Ordering::Relaxed) {
            0 => std::process::id(),
            pid => pid,
        }
    }

    /// Whether this is the core's stand-in for an instance streaming through shared memory.
    pub fn is_remote(&self) -> bool {
        self.remote.load(Ordering::Relaxed)
    }

    /// Makes this the stand-in of an instance of process `pid` (the federation intake).
    pub(crate) fn set_remote(&self, pid: u32) {
        self.pid.store(pid, Ordering::Relaxed);
        self.remote.store(true, Ordering::Relaxed);
    }

    /// The key of the shared-memory ring the instance streams through (0: none).
    pub fn ring_key(&self) -> u64 {
        self.ring_key.load(Ordering::Relaxed)
    }

    /// Records the instance's ring ([`ring_key`]; the federation).
    pub(crate) fn set_ring_key(&self, key: u64) {
        self.ring_key.store(key, Ordering::Relaxed);
    }

    /// Channels of the instance's bus (0: not told).
    pub fn bus_channels(&self) -> u32 {
        self.bus_channels.load(Ordering::Relaxed)
    }

    /// The generated number of this instance's name (0: none yet).
    pub fn fallback_number(&self) -> u32 {
        self.fallback_number.load(Ordering::Relaxed)
    }

    /// Sets the generated number (the core, when the instance joins a group).
    pub(crate) fn set_fallback_number(&self, number: u32) {
        self.fallback_number.store(number, Ordering::Relaxed);
    }

    /// The generated name used when neither the user nor the host names the instance: "Master"
    /// for the master, else "Stem N" with the number the core gave it. Shown in the instance's
    /// own window.
    pub fn fallback_name(&self) -> String {
        match self.role() {
            Role::Master => "Master".to_string(),
            Role::Stem => format!("Stem {}", self.fallback_number().max(1)),
        }
    }

    /// Whether the name comes from neither the user nor the host (the generated one is used).
    pub fn has_generated_name(&self) -> bool {
        lock_or_recover(&self.name_override).trim().is_empty()
            && lock_or_recover(&self.track_name).trim().is_empty()
    }

    /// The name shown for this instance: the user's name, else the host's track name, else its
    /// generated name. Not for the audio thread (it locks).
    pub fn name(&self) -> String {
        self.display_name(&self.fallback_name())
    }

    /// The name shown for this instance: the user's name, else the host's track name, else
    /// `fallback`. Not for the audio thread (it locks).
    pub fn display_name(&self, fallback: &str) -> String {
        let typed = lock_or_recover(&self.name_override).trim().to_string();
        if !typed.is_empty() {
            return typed;
        }
        let track = lock_or_recover(&self.track_name).trim().to_string();
        if !track.is_empty() {
            return track;
        }
        fallback.to_string()
    }
}

/// A copy of a name shared with the core (for editors; not for the audio thread).
pub fn lock_name(name: &Mutex<String>) -> String {
    lock_or_recover(name).clone()
}

/// Replaces a name shared with the core (for editors; not for the audio thread).
pub fn store_name(name: &Mutex<String>, value: &str) {
    *lock_or_recover(name) = value.to_string();
}

/// Locks a mutex even if a panicking thread poisoned it: the strings inside stay valid.
pub(crate) fn lock_or_recover<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
