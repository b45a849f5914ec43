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
//! thread (`crate::core`); the core and the groups never call back into it. The transport is
//! chosen at registration; the core may hand the audio thread another one later through the
//! registration's `Handover` (an in-process lane moving to a ring when this process stops
//! leading, `federation/relocation.rs`), taken at the start of a push.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;
use stemcheck_bus::subnormal::flush_subnormals;
use stemcheck_bus::{BlockInfo, LaneConfig, LaneId, LaneProducer, PushOutcome, lane_pair};

use crate::core::{self, Command};
use crate::federation::relocation::LocalTransport;
use crate::federation::{self, RingSender, intake::Intake};
use crate::handover::Handover;
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

/// The audio thread's end of an instance's transport to the core, chosen at registration. The
/// core may hand over another one while the instance plays ([`Registration::push_block`] takes
/// it); nothing is allocated, freed or locked on the audio thread for that.
pub enum Producer {
    /// An in-process lane: this process (and binary) holds the shared core, or no shared
    /// memory is available.
    Lane(LaneProducer),
    /// A shared-memory ring, read by the core of another process or binary.
    Ring(RingSender),
}

impl Producer {
    /// Sends one block: wait-free, a full lane or ring is a counted drop. No allocation, lock,
    /// syscall or wait. The bare transport: [`Registration::push_block`] also takes a transport
    /// the core handed over.
    pub fn push_block<C: AsRef<[f32]>>(&mut self, info: &BlockInfo, channels: &[C]) -> PushOutcome {
        match self {
            Self::Lane(lane) => lane.push_block(info, channels),
            Self::Ring(ring) => ring.push_block(info, channels, None),
        }
    }

    /// Whether the core has taken in everything pushed: 0 when drained (for a lane, the
    /// pieces still in it; for a ring, 1 while any byte is).
    pub fn pending_pieces(&self) -> usize {
        match self {
            Self::Lane(lane) => lane.pending_pieces(),
            Self::Ring(ring) => usize::from(ring.pending_bytes() > 0),
        }
    }

    /// Whether the audio goes to another process's or binary's core through shared memory.
    pub fn is_shared_memory(&self) -> bool {
        matches!(self, Self::Ring(_))
    }
}

/// An instance's place in the core. Holds the transport's producer for the audio thread.
pub struct Registration {
    /// The lane's id in the core (an instance keeps it when it registers again). Unused by an
    /// instance that streams through shared memory (the leader's core numbers its stand-in).
    pub lane_id: LaneId,
    /// This registration's number (see `Handle::next_serial`).
    serial: u64,
    /// The audio thread's end of the lane or ring.
    pub producer: Producer,
    /// Another transport the core hands over while the instance plays (shared with the core).
    handover: Arc<Handover<Producer>>,
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

    /// Takes the transport the core handed over, if any (one atomic load when there is none;
    /// the replaced producer goes back to the core in the same allocation).
    fn maybe_take_handover(&mut self) {
        self.handover.take(&mut self.producer);
    }

    /// Sends one block to the core. Real time: wait-free, a full lane is a counted drop. Offline:
    /// waits for room, at most [`OFFLINE_WAIT_LIMIT`]; no allocation or lock either way. Takes
    /// a transport the core handed over first.
    pub fn push_block<C: AsRef<[f32]>>(&mut self, info: &BlockInfo, channels: &[C]) -> PushOutcome {
        self.maybe_take_handover();
        match (&mut self.producer, self.offline) {
            (Producer::Lane(lane), true) => {
                lane.push_block_waiting(info, channels, OFFLINE_WAIT_LIMIT)
            }
            (Producer::Lane(lane), false) => lane.push_block(info, channels),
            (Producer::Ring(ring), offline) => {
                ring.push_block(info, channels, offline.then_some(OFFLINE_WAIT_LIMIT))
            }
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
        self.maybe_take_handover();
        match (&mut self.producer, self.offline) {
            (Producer::Lane(lane), true) => {
                lane.push_block_flushing_waiting(info, channels, OFFLINE_WAIT_LIMIT)
            }
            (Producer::Lane(lane), false) => lane.push_block_flushing(info, channels),
            (Producer::Ring(ring), offline) => {
                // The ring's copy does not flush: flush in place first (what the host gets
                // back), then copy. No allocation: at most `MAX_CHANNELS` borrowed views.
                for channel in channels.iter_mut() {
                    flush_subnormals(channel.as_mut());
                }
                let mut views: [&[f32]; stemcheck_bus::lane::MAX_CHANNELS] =
                    [&[]; stemcheck_bus::lane::MAX_CHANNELS];
                let mut num_channels = 0;
                for (view, channel) in views.iter_mut().zip(channels.iter_mut()) {
                    *view = channel.as_mut();
                    num_channels += 1;
                }
                ring.push_block(
                    info,
                    &views[..num_channels],
                    offline.then_some(OFFLINE_WAIT_LIMIT),
                )
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        unregister(self.lane_id, self.serial);
    }
}

/// Registers an instance at `sample_rate_hz`. Allocates; call from a non-audio thread.
///
/// The first registration of the process also starts its federation agent (see
/// [`crate::federation`]), which joins the per-user registry as the format the instance says
/// ([`InstanceShared::set_format`]). If this process then holds the shared core, the instance
/// streams through an in-process lane; otherwise through a shared-memory ring to the process
/// that does. The choice holds for the registration's life.
pub fn register(
    shared: Arc<InstanceShared>,
    sample_rate_hz: f32,
) -> Result<Registration, RegisterError> {
    let mut handle = lock_or_recover(&HANDLE);
    if handle.live_instances >= MAX_INSTANCES {
        return Err(RegisterError::TooManyInstances);
    }
    if handle.sender.is_none() {
        let agent = federation::start(shared.format());
        // Bounded: a host creating instances faster than the core takes them in waits here (on
        // its main thread, in `activate()`), instead of queueing lanes without limit.
        let (sender, receiver) = crossbeam_channel::bounded(COMMAND_QUEUE);
        let intake = agent.map(Intake::new);
        let thread = std::thread::Builder::new()
            .name("stemcheck-core".into())
            .spawn(move || core::run(receiver, intake))
            .map_err(|e| {
                federation::stop();
                RegisterError::CoreUnavailable(e.to_string())
            })?;
        handle.sender = Some(sender);
        handle.thread = Some(thread);
    }
    // A leader of another version could not read our ring: stay in our own core (the
    // snapshots then say that the other version cannot join).
    if let Some(agent) =
        federation::current().filter(|a| !a.is_leader() && !a.leader_speaks_other_version())
        && let Some(ring) = RingSender::create(&agent, &shared, sample_rate_hz)
    {
        let serial = handle.next_serial;
        handle.next_serial += 1;
        handle.live_instances += 1;
        return Ok(Registration {
            lane_id: LaneId::MAX,
            serial,
            producer: Producer::Ring(ring),
            handover: Arc::new(Handover::new()),
            sample_rate_hz,
            offline: false,
        });
    }
    let (producer, consumer) = lane_pair(LaneConfig::for_sample_rate(sample_rate_hz));
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
    let handover = Arc::new(Handover::new());
    let command = Command::Add {
        lane_id,
        serial,
        shared: shared.clone(),
        consumer,
        transport: LocalTransport::new(handover.clone(), sample_rate_hz),
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
        producer: Producer::Lane(producer),
        handover,
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
        federation::stop();
    }
}
