//! Registration of plugin instances with the process-wide core.
//!
//! Registration happens on a non-audio thread (the plugin's `activate()`): it allocates the
//! instance's lane and starts the core thread if this is the first instance. Dropping the
//! [`Registration`] (in `deactivate()` or when the instance is destroyed) abandons the lane; the
//! core drains what is left and forgets the instance, and the last instance to go stops the
//! core thread.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use stemcheck_bus::{LaneConfig, LaneId, LaneProducer, lane_pair};

use crate::core;
use crate::snapshot::Role;

/// Most instances one process can register at once.
pub const MAX_INSTANCES: usize = 256;

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

/// Why an instance could not register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterError {
    /// [`MAX_INSTANCES`] are already registered in this process.
    TooManyInstances,
    /// The core thread could not be started.
    CoreUnavailable(String),
}

impl std::fmt::Display for RegisterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooManyInstances => write!(
                f,
                "{MAX_INSTANCES} Stemcheck instances are already running in this process"
            ),
            Self::CoreUnavailable(why) => write!(f, "the analysis core could not start: {why}"),
        }
    }
}

impl std::error::Error for RegisterError {}

/// An instance's place in the core. Holds the lane's producer for the audio thread.
pub struct Registration {
    /// The lane's id in the core.
    pub lane_id: LaneId,
    /// The audio thread's end of the lane.
    pub producer: LaneProducer,
}

impl Drop for Registration {
    fn drop(&mut self) {
        core::unregister(self.lane_id);
    }
}

/// Registers an instance at `sample_rate_hz`. Allocates; call from a non-audio thread.
pub fn register(
    shared: Arc<InstanceShared>,
    sample_rate_hz: f32,
) -> Result<Registration, RegisterError> {
    let (producer, consumer) = lane_pair(LaneConfig::for_sample_rate(sample_rate_hz));
    let lane_id = core::register(shared.clone(), consumer)?;
    shared
        .lane
        .store(lane_id.wrapping_add(1), Ordering::Relaxed);
    Ok(Registration { lane_id, producer })
}
