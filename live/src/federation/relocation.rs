//! Moving this process's in-process lanes to shared-memory rings when another process leads.
//! An instance streams through a lane when its process held the core at registration; if the
//! process then stops leading (it hung, a debugger or a stop signal, and another process took
//! the core over; the README's known limits), its lanes feed a core nobody reads and the group
//! is split. The core thread (never the audio thread) then makes a ring for each such instance
//! (announced, so the new leader's core waits for it) and offers it through the registration's
//! [`Handover`]; the audio thread swaps it in at its next block, and the core drops the lane's
//! producer it gets back and lets the lane leave once drained. From that block on the instance
//! is in the new leader's group.
//!
//! Nothing moves while this process leads, while no leader of our version is there (the
//! election is still going on: this process may lead again at its next beat), or while this
//! process has lost its registry slot (no leader would find its rings; a process stopped for
//! longer than the reap timeout resumes so, and its agent rejoins at its next beat, after which
//! the lanes move as here). An offer not yet taken when this process leads again is withdrawn.

use std::sync::Arc;

use super::RingSender;
use super::agent::Agent;
use crate::group::Group;
use crate::handover::Handover;
use crate::registration::Producer;

/// What the core keeps of a local instance's registration, to move its audio to a ring.
pub(crate) struct LocalTransport {
    /// Where the instance's audio thread takes a new producer from (shared with its
    /// registration).
    handover: Arc<Handover<Producer>>,
    /// The registration's sample rate in Hz (a ring is sized for it).
    sample_rate_hz: f32,
    /// A ring was offered and not yet taken.
    offered: bool,
    /// Making a ring failed: not tried again for this registration (logged once).
    failed: bool,
}

impl LocalTransport {
    /// The transport of a registration at `sample_rate_hz` handing over through `handover`.
    pub fn new(handover: Arc<Handover<Producer>>, sample_rate_hz: f32) -> Self {
        Self {
            handover,
            sample_rate_hz,
            offered: false,
            failed: false,
        }
    }
}

/// Whether this process's lanes should move to rings now: another live process of our version
/// leads, and we still hold our registry slot.
fn another_leader_of_ours(agent: &Agent) -> bool {
    let member = agent.member();
    member.holds_slot()
        && member
            .registry()
            .leader()
            .is_some_and(|leader| leader.is_usable() && leader.id != member.id())
}

/// One step (core thread, between two polls): offers rings to the local lanes when another
/// process leads, withdraws offers not taken when we lead again, and lets go of the lanes whose
/// audio thread took its ring.
pub(crate) fn step(agent: &Arc<Agent>, leads: bool, groups: &mut [Group]) {
    // Looked up at most once per step (a syscall), and only when some lane could move.
    let mut cached = None;
    let mut should_move = || *cached.get_or_insert_with(|| !leads && another_leader_of_ours(agent));
    for group in groups.iter_mut() {
        for member in group.members_mut() {
            let Some(transport) = member.transport.as_mut() else {
                continue;
            };
            if transport.offered {
                if let Some(lane) = transport.handover.take_returned() {
                    // The audio thread now pushes into the ring; the lane keeps what it had
                    // and leaves once drained.
                    transport.offered = false;
                    drop(lane);
                    member.leaving = true;
                    tracing::info!(
                        "Stemcheck: {} now streams to the core of process {}",
                        member.shared.name(),
                        agent
                            .member()
                            .registry()
                            .leader()
                            .map_or(0, |leader| leader.pid)
                    );
                } else if member.leaving || !should_move() {
                    // Not taken, and no longer wanted (this process leads again, or the
                    // instance unregistered): the ring goes (closed, unlinked).
                    if transport.handover.withdraw().is_some() {
                        transport.offered = false;
                    }
                }
                continue;
            }
            if leads || member.leaving || transport.failed {
                continue;
            }
            if !should_move() {
                continue;
            }
            // Resumed before our agent thread's next beat, our entry still looks hung: beat
            // first, so that the leader opens the ring when it is announced.
            agent.member().beat();
            match RingSender::create(agent, &member.shared, transport.sample_rate_hz) {
                Some(ring) => match transport.handover.offer(Producer::Ring(ring)) {
                    Ok(()) => transport.offered = true,
                    // Cannot happen (an offer is out only while `offered`); the ring goes.
                    Err(ring) => drop(ring),
                },
                None => {
                    transport.failed = true;
                    tracing::warn!(
                        "Stemcheck: {} cannot move to the core of the process that now leads \
                         (no shared-memory ring); it stays in this process's core until it is \
                         re-activated",
                        member.shared.name()
                    );
                }
            }
        }
    }
}
