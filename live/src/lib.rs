//! Stemcheck's live core: every plugin instance in a host process registers here and streams its
//! audio through a bus lane; one core thread per process aligns the instances of each group,
//! meters them, and publishes a snapshot per group that editors and tests read without waiting.
//!
//! Sharing crosses binaries and processes through shared memory ([`federation`]): the CLAP and
//! the VST3 build in one host, and hosts that run plugins in separate processes, elect one core
//! per user; the other processes' instances stream to it through shared-memory rings and read
//! its snapshots from shared memory. Without shared memory (switched off, another version's
//! registry) each process keeps its own core, and the snapshots say why.
//!
//! This crate knows nothing of plugin frameworks: the plugin glue hands it transport facts and
//! sample slices.

pub mod clock;
mod core;
pub mod coverage;
pub mod federation;
pub mod group;
mod handover;
pub mod instance;
pub mod registration;
pub mod report;
pub mod snapshot;

pub use clock::FallbackClock;
pub use instance::{InstanceShared, PluginFormat};
pub use registration::{MAX_INSTANCES, Producer, RegisterError, Registration, register};
pub use snapshot::{
    GoneInstance, GroupSnapshot, InstanceLocation, InstanceSnapshot, Role, latest_snapshot,
};

/// Groups an instance can join ("A" to "H"): separate comparisons in one host process.
pub const NUM_GROUPS: usize = 8;

/// The label of group `index` ("A" for 0).
pub fn group_label(index: usize) -> char {
    (b'A' + (index.min(NUM_GROUPS - 1)) as u8) as char
}
