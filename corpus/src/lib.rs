//! Stemcheck's development corpus (issue 11): stem deliveries rendered from real instruments
//! (the FluidR3 General MIDI SoundFont and the AVL drum kits, through `rustysynth`), mixed on a
//! small console with real processing, broken in every way a delivery guide lists, each case
//! with its ground truth; and the scoring that runs the checker on them (the accuracy benchmark
//! `benches/accuracy.rs`, the fast ratchet `tests/fast.rs`).
//!
//! Pipeline: `pieces` (arrangements) -> `instruments` (SoundFont rendering) -> `mixing`
//! (console, stems, mix) -> `delivery` (a case's defects, files, ground truth in `truth`) ->
//! `score` (checker, outcome, confusion table). `cases` lists the full sweep and the fast subset.

pub mod cases;
pub mod delivery;
pub mod dsp;
pub mod instruments;
pub mod mixing;
pub mod pieces;
pub mod score;
pub mod truth;

pub use cases::{Case, Family, fast, find, full};
pub use delivery::{Delivery, deliver};
pub use score::{Outcome, Scored, failures, run_case, table, write_case};
