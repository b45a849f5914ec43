//! Registration of plugin instances with the process-wide core.
//!
//! Registration happens on a non-audio thread (the plugin's `activate()`): it allocates the
//! instance's lane and starts the core thread if this is the first instance. Dropping the
//! [`Registration`] (in `deactivate()` or when the instance is destroyed) abandons the lane; the
//! core drains what is left and forgets the instance, and the last instance to go stops the
//! core thread.

use std::sync::atomic::{AtomicU8, Ordering};
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
    lane: std::sync::atomic::AtomicU32,
    /// The number in this instance's generated name ("Stem 3"), used when neither the user nor
    /// the host names it; 0 until the core gives one. Written by the core when the instance
    /// joins a group (the smallest number free in it), read by the core and the editor, which
    /// shows it so that the user can find and rename the stem.
    fallback_number: std::sync::atomic::AtomicU32,
    /// Channels of the bus the instance sits on, as the host set it up (0: not told). The
    /// lanes carry the first [`stemcheck_bus::lane::MAX_CHANNELS`]; a wider bus (5.1, 7.1) passes
    /// the rest through unchecked, and the group says so.
    bus_channels: std::sync::atomic::AtomicU32,
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
