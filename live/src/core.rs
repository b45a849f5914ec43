//! The process-wide core: one thread, started by the first registration and stopped when the
//! last instance unregisters. Main threads talk to it through a channel; audio threads never
//! do (they only push into their lanes).

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use stemcheck_bus::timeline::EpochSummary;
use stemcheck_bus::{LaneConsumer, LaneId};

use crate::group::{Group, Member};
use crate::instance::{InstanceShared, MAX_INSTANCES, RegisterError, lock_or_recover};
use crate::{NUM_GROUPS, report, snapshot};

/// How long the core sleeps when no lane had audio. Lanes buffer a second, so this is far from
/// causing drops at any real-time rate.
const IDLE_POLL: Duration = Duration::from_millis(2);
/// Registrations and removals waiting for the core, at most.
const COMMAND_QUEUE: usize = 256;
/// Commands taken in between two passes over the groups.
const COMMANDS_PER_STEP: usize = 32;
/// A group whose lanes have been silent this long has its run ended (the tail of a run is not
/// held back by an instance the host stopped processing).
const STALL_TIMEOUT: Duration = Duration::from_millis(300);
/// How often snapshots are republished while audio flows.
const PUBLISH_INTERVAL: Duration = Duration::from_millis(50);

enum Command {
    Add {
        lane_id: LaneId,
        shared: Arc<InstanceShared>,
        consumer: LaneConsumer,
    },
    Remove {
        lane_id: LaneId,
    },
    Shutdown,
}

struct Handle {
    sender: Option<Sender<Command>>,
    thread: Option<JoinHandle<()>>,
    live_instances: usize,
    next_lane_id: LaneId,
}

static HANDLE: Mutex<Handle> = Mutex::new(Handle {
    sender: None,
    thread: None,
    live_instances: 0,
    next_lane_id: 0,
});

pub(crate) fn register(
    shared: Arc<InstanceShared>,
    consumer: LaneConsumer,
) -> Result<LaneId, RegisterError> {
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
            .spawn(move || run(receiver))
            .map_err(|e| RegisterError::CoreUnavailable(e.to_string()))?;
        handle.sender = Some(sender);
        handle.thread = Some(thread);
    }
    let lane_id = handle.next_lane_id;
    handle.next_lane_id = handle.next_lane_id.wrapping_add(1);
    let command = Command::Add {
        lane_id,
        shared,
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
    Ok(lane_id)
}

pub(crate) fn unregister(lane_id: LaneId) {
    let mut handle = lock_or_recover(&HANDLE);
    handle.live_instances = handle.live_instances.saturating_sub(1);
    if let Some(sender) = &handle.sender {
        let _ = sender.send(Command::Remove { lane_id });
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

/// The core thread's state.
struct Core {
    groups: Vec<Group>,
    last_publish: Instant,
}

fn run(commands: Receiver<Command>) {
    let mut core = Core {
        groups: (0..NUM_GROUPS).map(Group::new).collect(),
        last_publish: Instant::now(),
    };
    let mut busy = false;
    loop {
        let first = if busy {
            commands.try_recv().map_err(|_| RecvTimeoutError::Timeout)
        } else {
            commands.recv_timeout(IDLE_POLL)
        };
        let mut shutdown = matches!(first, Err(RecvTimeoutError::Disconnected));
        // A few commands at a time: a host creating and destroying instances in a tight loop
        // must not keep the core from draining the lanes (it did: the lanes of destroyed
        // instances piled up unreleased).
        for command in first
            .into_iter()
            .chain(commands.try_iter().take(COMMANDS_PER_STEP))
        {
            shutdown |= core.handle(command);
        }
        if shutdown {
            core.shutdown();
            return;
        }
        // A bug in the core must not take the host down: note it and keep going.
        let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| core.step()));
        busy = match step {
            Ok(busy) => busy,
            Err(_) => {
                tracing::error!("Stemcheck core step panicked; continuing");
                false
            }
        };
    }
}

impl Core {
    /// Returns whether to shut down.
    fn handle(&mut self, command: Command) -> bool {
        match command {
            Command::Add {
                lane_id,
                shared,
                consumer,
            } => {
                let group = shared.group().min(NUM_GROUPS - 1);
                self.groups[group].add(Member::new(lane_id, shared), consumer);
                false
            }
            Command::Remove { lane_id } => {
                for group in &mut self.groups {
                    group.mark_leaving(lane_id);
                }
                false
            }
            Command::Shutdown => true,
        }
    }

    /// One pass over every group. Returns whether any audio arrived.
    fn step(&mut self) -> bool {
        self.move_strays();
        let now = Instant::now();
        let mut busy = false;
        let mut ended = Vec::new();
        for group in &mut self.groups {
            if group.poll() {
                group.last_activity = now;
                busy = true;
            }
            if group.has_finished_runs() {
                // An epoch just ended: come straight back for the next one.
                busy = true;
            } else if now.duration_since(group.last_activity) > STALL_TIMEOUT {
                group.end_run_if_stalled();
            }
            ended.push(group.take_finished_runs());
        }
        let publish_now = now.duration_since(self.last_publish) >= PUBLISH_INTERVAL;
        for (index, runs) in ended.into_iter().enumerate() {
            let group = &mut self.groups[index];
            let save = report::take_save_request(index);
            if runs.is_empty() && !publish_now && !save {
                continue;
            }
            publish(index, group, &runs, save);
        }
        if publish_now {
            self.last_publish = now;
        }
        busy
    }

    /// Moves instances whose group parameter changed.
    fn move_strays(&mut self) {
        for from in 0..self.groups.len() {
            for (lane_id, to) in self.groups[from].strays() {
                if let Some((member, consumer)) = self.groups[from].take(lane_id) {
                    self.groups[to.min(NUM_GROUPS - 1)].add(member, consumer);
                }
            }
        }
    }

    fn shutdown(&mut self) {
        for (index, group) in self.groups.iter_mut().enumerate() {
            group.finish();
            let runs = group.take_finished_runs();
            publish(index, group, &runs, false);
        }
    }
}

/// Builds the group's snapshot, writes the reports of the runs that ended (and the one asked
/// for with "Save report"), and publishes the snapshot.
fn publish(index: usize, group: &mut Group, runs: &[EpochSummary], save: bool) {
    if group.is_empty() && runs.is_empty() {
        return;
    }
    let mut snapshot = group.snapshot();
    for run in runs {
        if let Some(path) = report::write_run_report(&snapshot, run) {
            group.last_report = Some(path.display().to_string());
        }
    }
    if save {
        match report::write_saved_report(&snapshot) {
            Ok(path) => group.last_report = Some(path.display().to_string()),
            Err(e) => tracing::error!("Stemcheck: could not save the report: {e}"),
        }
    }
    snapshot.last_report = group.last_report.clone();
    snapshot::publish(index, snapshot);
}
