//! Stemcheck's live core: every plugin instance in a host process registers here and streams its
//! audio through a bus lane; one core thread per process aligns the instances of each group,
//! meters them, and publishes a snapshot per group that editors and tests read without waiting.
//!
//! Sharing works within one host process and one binary: the CLAP and the VST3 build are two
//! libraries with two cores, and a host that runs plugins in separate processes gives each
//! process its own core. Instances that cannot see each other say so in their snapshot (a group
//! with no master, or no stems).
//!
//! This crate knows nothing of plugin frameworks: the plugin glue hands it transport facts and
//! sample slices.

pub mod clock;
mod core;
pub mod coverage;
pub mod group;
pub mod instance;
pub mod registration;
pub mod report;
pub mod snapshot;

pub use clock::FallbackClock;
pub use instance::InstanceShared;
pub use registration::{MAX_INSTANCES, RegisterError, Registration, register};
pub use snapshot::{GroupSnapshot, InstanceSnapshot, Role, latest_snapshot};

/// Groups an instance can join ("A" to "H"): separate comparisons in one host process.
pub const NUM_GROUPS: usize = 8;

/// The label of group `index` ("A" for 0).
pub fn group_label(index: usize) -> char {
    (b'A' + (index.min(NUM_GROUPS - 1)) as u8) as char
}
