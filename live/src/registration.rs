//! Registration of plugin instances with the process-wide core: the handle to the core thread,
//! [`register`] and its [`Registration`] (whose drop unregisters), and [`RegisterError`].
//!
//! Registration happens on a non-audio thread (the plugin's `activate()`): it allocates the
//! instance's lane and starts the core thread if this is the first instance. A re-activation at
//! the same sample rate keeps its registration (one lane per live instance, see
//! [`Registration::reuse_for`]); dropping the [`Registration`] (when the instance is destroyed,
//! or re-registered at another rate) abandons the lane: the core forgets the instance, and the
//! last instance to go stops the core thread.
//!
//! This file is the only one that knows both the instance side ([`InstanceShared`]) and the core
//! thread ([`crate::core`]); the core and the groups never call back into it.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;
use stemcheck_bus::{BlockInfo, LaneConfig, LaneId, LaneProducer, PushOutcome, lane_pair};

use crate::core::{self, Command};
use crate::instance::{InstanceShared, lock_or_recover};

/// Most instances one process can register at once.
pub const MAX_INSTANCES: usize = 256;

/// Registrations and removals waiting for the core, at most.
const COMMAND_QUEUE: usize = 256;

/// Longest an offline render's `process()` waits for room in a full lane, per block. The core
/// drains a lane's whole buffer ([`LaneConfig::BUFFERED_SECONDS`] of audio) in a few
/// milliseconds when it keeps up; a wait this long means it is stuck or starved, and the block
/// is then a counted drop (and the instance stops waiting until its lane has room again, so a
/// stuck core delays a render by this much once, not once per block).
pub const OFFLINE_WAIT_LIMIT: Duration = Duration::from_millis(1000);

struct Handle {
    sender: Option<Sender<Command>>,
    thread: Option<JoinHandle<()>>,
    live_instances: usize,
    next_lane_id: LaneId,
    /// Numbers every registration, so that the removal of an instance's previous lane is never
    /// taken for the removal of its current one (they share the lane id).
    next_serial: u64,
}

static HANDLE: Mutex<Handle> = Mutex::new(Handle {
    sender: None,
    thread: None,
    live_instances: 0,
    next_lane_id: 0,
    next_serial: 0,
});

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
    /// The lane's id in the core (an instance keeps it when it registers again).
    pub lane_id: LaneId,
    /// This registration's number (see `Handle::next_serial`).
    serial: u64,
    /// The audio thread's end of the lane.
    pub producer: LaneProducer,
    /// The sample rate the lane was sized for, in Hz.
    sample_rate_hz: f32,
    /// Whether the host renders offline: a full lane then waits (bounded) instead of dropping.
    offline: bool,
}

impl Registration {
    /// Whether a re-activation at `sample_rate_hz` can keep this registration (and its lane):
    /// the lane was sized for that rate. Keeping it is what makes a re-activation invisible to
    /// the core (no second lane for one instance, no ghost of the previous activation).
    pub fn reuse_for(&self, sample_rate_hz: f32) -> bool {
        self.sample_rate_hz == sample_rate_hz
    }

    /// Sets how a full lane is handled: `true` for a host's offline render (wait, bounded by
    /// [`OFFLINE_WAIT_LIMIT`] per block), `false` for real time (a counted drop).
    pub fn set_offline(&mut self, offline: bool) {
        self.offline = offline;
    }

    /// Whether the registration is in offline mode.
    pub fn is_offline(&self) -> bool {
        self.offline
    }

    /// Sends one block to the core. Real time: wait-free, a full lane is a counted drop. Offline:
    /// waits for room, at most [`OFFLINE_WAIT_LIMIT`]; no allocation or lock either way.
    pub fn push_block<C: AsRef<[f32]>>(&mut self, info: &BlockInfo, channels: &[C]) -> PushOutcome {
        if self.offline {
            self.producer
                .push_block_waiting(info, channels, OFFLINE_WAIT_LIMIT)
        } else {
            self.producer.push_block(info, channels)
        }
    }

    /// [`Self::push_block`] for the plugin's own buffers: also flushes subnormal samples to zero
    /// in `channels`, in place, on the copy into the lane (see
    /// [`stemcheck_bus::LaneProducer::push_block_flushing`]).
    pub fn push_block_flushing<C: AsMut<[f32]>>(
        &mut self,
        info: &BlockInfo,
        channels: &mut [C],
    ) -> PushOutcome {
        if self.offline {
            self.producer
                .push_block_flushing_waiting(info, channels, OFFLINE_WAIT_LIMIT)
        } else {
            self.producer.push_block_flushing(info, channels)
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        unregister(self.lane_id, self.serial);
    }
}

/// Registers an instance at `sample_rate_hz`. Allocates; call from a non-audio thread.
pub fn register(
    shared: Arc<InstanceShared>,
    sample_rate_hz: f32,
) -> Result<Registration, RegisterError> {
    let (producer, consumer) = lane_pair(LaneConfig::for_sample_rate(sample_rate_hz));
    let mut handle = lock_or_recover(&HANDLE);
    if handle.live_instances >= MAX_INSTANCES {
        return Err(RegisterError::TooManyInstances);
    }
    if handle.sender.is_none() {
        // Bounded: a host creating instances faster than the core takes them in waits here (on
        // its main thread, in `activate()`), instead of queueing lanes without limit.
        let (sender, receiver) = crossbeam_channel::bounded(COMMAND_QUEUE);
        let thread = std::thread::Builder::new()
            .name("stemcheck-core".into())
            .spawn(move || core::run(receiver))
            .map_err(|e| RegisterError::CoreUnavailable(e.to_string()))?;
        handle.sender = Some(sender);
        handle.thread = Some(thread);
    }
    // An instance that registers again (a re-activation at another rate) keeps its lane id: the
    // core hands the new consumer to its existing lane, so the instance never has two.
    let lane_id = match shared.lane_id() {
        Some(id) => id,
        None => {
            let id = handle.next_lane_id;
            handle.next_lane_id = handle.next_lane_id.wrapping_add(1);
            id
        }
    };
    let serial = handle.next_serial;
    handle.next_serial += 1;
    let command = Command::Add {
        lane_id,
        serial,
        shared: shared.clone(),
        consumer,
    };
    if let Some(sender) = &handle.sender
        && sender.send(command).is_err()
    {
        return Err(RegisterError::CoreUnavailable(
            "the core thread has exited".into(),
        ));
    }
    handle.live_instances += 1;
    drop(handle);
    shared.set_lane_id(lane_id);
    Ok(Registration {
        lane_id,
        serial,
        producer,
        sample_rate_hz,
        offline: false,
    })
}

fn unregister(lane_id: LaneId, serial: u64) {
    let mut handle = lock_or_recover(&HANDLE);
    handle.live_instances = handle.live_instances.saturating_sub(1);
    if let Some(sender) = &handle.sender {
        let _ = sender.send(Command::Remove { lane_id, serial });
    }
    if handle.live_instances == 0 {
        if let Some(sender) = handle.sender.take() {
            let _ = sender.send(Command::Shutdown);
        }
        if let Some(thread) = handle.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the Stemcheck core thread panicked");
        }
    }
}
