//! The process-wide core: one thread, started by the first registration and stopped when the
//! last instance unregisters (both in `registration.rs`). Main threads talk to it through a
//! channel of [`Command`]s; audio threads never do (they only push into their lanes).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use stemcheck_bus::timeline::EpochSummary;
use stemcheck_bus::{LaneConsumer, LaneId};

use crate::federation::relocation::LocalTransport;
use crate::federation::{self, intake::Intake};
use crate::group::{Group, Member};
use crate::instance::InstanceShared;
use crate::{NUM_GROUPS, report};

/// How long the core sleeps when no lane had audio. Lanes buffer a second, so this is far from
/// causing drops at any real-time rate.
const IDLE_POLL: Duration = Duration::from_millis(2);
/// Commands taken in between two passes over the groups.
const COMMANDS_PER_STEP: usize = 32;
/// A group whose lanes have been silent this long has its run ended (the tail of a run is not
/// held back by an instance the host stopped processing).
const STALL_TIMEOUT: Duration = Duration::from_millis(300);
/// How often snapshots are republished while audio flows.
const PUBLISH_INTERVAL: Duration = Duration::from_millis(50);

/// What main threads ask of the core thread.
pub(crate) enum Command {
    /// A new lane for an instance.
    Add {
        lane_id: LaneId,
        serial: u64,
        shared: Arc<InstanceShared>,
        consumer: LaneConsumer,
        /// How the core can move the instance's audio to a ring later.
        transport: LocalTransport,
    },
    /// The producer of registration `serial` is gone (its registration was dropped).
    Remove { lane_id: LaneId, serial: u64 },
    /// The last instance went: flush and exit.
    Shutdown,
}

/// The core thread's state.
struct Core {
    groups: Vec<Group>,
    last_publish: Instant,
    /// Reads the instances of other processes and binaries while this process leads (`None`
    /// without shared memory).
    intake: Option<Intake>,
}

/// The core thread's body, until [`Command::Shutdown`] or the channel closes.
pub(crate) fn run(commands: Receiver<Command>, intake: Option<Intake>) {
    let mut core = Core {
        groups: (0..NUM_GROUPS).map(Group::new).collect(),
        last_publish: Instant::now(),
        intake,
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
                serial,
                shared,
                consumer,
                transport,
            } => {
                // One lane per live instance: an instance registering again (same lane id)
                // gets its new consumer on its existing lane, which keeps its place in the run;
                // the old producer's lane never exists beside it as a ghost.
                let mut given = Some((consumer, transport));
                for group in &mut self.groups {
                    if let Some((c, t)) = given.take() {
                        given = group.replace_consumer(lane_id, serial, &shared, c, t).err();
                    }
                }
                if let Some((consumer, transport)) = given {
                    let group = shared.group().min(NUM_GROUPS - 1);
                    let mut member = Member::new(lane_id, serial, shared);
                    member.transport = Some(transport);
                    self.groups[group].add(member, consumer);
                }
                false
            }
            Command::Remove { lane_id, serial } => {
                for group in &mut self.groups {
                    group.mark_leaving(lane_id, serial);
                }
                false
            }
            Command::Shutdown => true,
        }
    }

    /// One pass over every group. Returns whether any audio arrived.
    fn step(&mut self) -> bool {
        let mut busy = self
            .intake
            .as_mut()
            .is_some_and(|intake| intake.step(&mut self.groups));
        self.move_strays();
        let now = Instant::now();
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
    snapshot.warnings.extend(federation::join_problem_warning());
    snapshot
        .warnings
        .extend(federation::other_version_warnings());
    federation::publish(index, snapshot);
}
