//! Stemcheck's shared-memory transport: the foundation for moving audio blocks from plugin
//! instances to one analysis core across binary boundaries (the CLAP and the VST3 build in one
//! host) and process boundaries (hosts that sandbox plugins in separate processes).
//!
//! It knows nothing of DSP, plugins or files other than its own segments. Five parts:
//!
//! - [`segment`]: a named shared-memory segment, per user (`/stemcheck-<uid>-...`), private to
//!   its creator (mode 0600; a DACL for the user alone on Windows), refused on open if it belongs
//!   to another user, lets anyone else in, or is smaller than its header says.
//! - [`header`]: the fixed, versioned header at the start of every segment, validated before
//!   anything else is read.
//! - [`ring`]: a wait-free SPSC ring of audio blocks in a segment, the cross-process twin of
//!   `stemcheck_bus::lane`: the producer never allocates, locks, makes a syscall or waits; the
//!   consumer trusts no index or header it reads, and claims the ring with its leadership term
//!   (a consumer whose claim was superseded reads nothing more and never moves the tail).
//! - [`registry`]: a per-user registry of live processes with heartbeats, and the election of
//!   exactly one leader (the analysis core), with takeover when it dies or hangs, a rising term
//!   per leadership, and a rejoin under the same id for a member reaped while it was hung.
//! - [`board`]: where the elected core publishes each group's snapshot for editors in other
//!   processes (a sequence lock per slot: readers never block the writer).
//!
//! All operating-system calls are in one private module (`os`): POSIX shared memory on Linux
//! and macOS (compile-checked only), named file mappings on Windows.
//! See the crate's README for the layouts, the fault model and what is left for the plugin.

// The crate maps memory shared with other processes: it cannot be free of `unsafe`, but every
// block says why it is sound, and no unsafe operation hides in an unsafe fn's body.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[cfg(not(any(unix, windows)))]
compile_error!("stemcheck-shm supports Unix (Linux, macOS) and Windows; see src/os/mod.rs");

#[cfg(not(target_has_atomic = "64"))]
compile_error!("stemcheck-shm needs lock-free 64-bit atomics shared between processes");

pub mod board;
pub mod error;
pub mod header;
mod os;
pub mod registry;
pub mod ring;
pub mod segment;
mod seqlock;

pub use board::{Board, BoardValue};
pub use error::ShmError;
pub use header::{LAYOUT_VERSION, SegmentHeader, SegmentKind, ValidHeader};
pub use registry::{BinaryFormat, Entry, EntryStatus, Member, ReapReport, Registry};
pub use ring::{RingConsumer, RingMetaWriter, RingProducer, RingStats, capacity_bytes_for};
pub use segment::{Namespace, Segment};

/// The system-wide monotonic clock in nanoseconds, as heartbeats use it (`CLOCK_MONOTONIC` on
/// Unix, `QueryPerformanceCounter` on Windows).
pub fn monotonic_ns() -> u64 {
    os::monotonic_ns()
}

/// Whether a process with this id exists (`kill(pid, 0)`, a zombie counts as existing; on
/// Windows a process that has not exited, or that we may not even query).
pub fn pid_alive(pid: u32) -> bool {
    os::pid_alive(pid)
}

/// The current user as segment names contain it and as owners are compared: the effective uid
/// in decimal (Unix) or the user's SID, `S-1-5-21-...` (Windows).
pub fn current_user() -> String {
    os::current_user().text
}
