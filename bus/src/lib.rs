//! The Stemcheck bus: moves audio blocks from many producers (plugin instances on audio
//! threads) to one consumer (the analysis core's thread), then lines them up on the host
//! timeline.
//!
//! It knows nothing of DSP, plugins or files. Two halves:
//!
//! - [`lane`]: one wait-free single-producer/single-consumer lane per instance. The audio thread
//!   copies its block plus a small [`BlockHeader`] into preallocated rings; a full ring is a
//!   counted drop, never a wait. [`LaneProducer::push_block_flushing`] also flushes subnormal
//!   samples to zero in the host's buffer in the same pass ([`subnormal`]).
//! - [`timeline`]: the consumer side. An [`Aligner`] per group drains its lanes and emits
//!   [`AlignedChunk`]s: stretches of the timeline where, for every lane, it either has the
//!   samples or knows that they are missing. Transport jumps and loops start a new epoch, so
//!   audio from before a jump is never mixed into the audio after it.

#![deny(unsafe_code)]

pub mod block;
pub mod lane;
pub mod subnormal;
pub mod timeline;

pub use block::{BlockHeader, BlockInfo, PositionSource};
pub use lane::{LaneConfig, LaneConsumer, LaneProducer, LaneStats, PushOutcome, lane_pair};
pub use timeline::{AlignSink, AlignedChunk, Aligner, AlignerConfig, LaneId, LaneSlice};
