//! Stemcheck's analysis core: given aligned audio of N stems and the master, measure how far the
//! stems' sum is from the master and say why, in an engineer's words, naming the stem and the
//! fix.
//!
//! Pure Rust: no plugin framework, host or file format. The live plugin and the offline checker
//! feed the very same [`Analyzer`] and get the same [`Finding`]s.
//!
//! - `input.rs`: what goes in (a block of aligned audio, each signal present or missing).
//! - `analyzer/`: the engine, one file per stage; `analyzer/mod.rs` reads as the pipeline.
//! - `measurements.rs`: what the engine measured, as data.
//! - `diagnose/`: measurements to findings (with hysteresis), one rule file per finding family.
//! - `finding.rs`: findings as data (stable kinds with descriptions, severities, units).
//! - `config.rs`: every threshold and tuning number, under a heading per family.
//!
//! Where each finding kind is measured and where it is decided (all paths under
//! `analysis/src/`; the measurement is the [`Measurements`] field the rule reads):
//!
//! | kind | measured in | decided in |
//! |---|---|---|
//! | `nulls` | `analyzer/residual.rs` (`time_domain_measurements`) | `diagnose/mod.rs` (`null_test`) |
//! | `stem-offset` | `analyzer/timing.rs` (`track_lags`, `stem_offsets`, less the master EQ's phase from `analyzer/eq_phase.rs`), `analyzer/estimate.rs` (`offset_explains_db`) | `diagnose/stems.rs` |
//! | `stem-polarity`, `stem-gain` | `analyzer/fit.rs` (`fit_gains`), `analyzer/estimate.rs` (`measure_stems`) | `diagnose/stems.rs` |
//! | `stem-phase-cancellation` | `analyzer/cancellation.rs` | `diagnose/cancellation.rs` |
//! | `master-latency` | `analyzer/timing.rs` (`common_lag`) | `diagnose/master_bus.rs` |
//! | `master-bus-gain`, `master-bus-eq` | `analyzer/fit.rs` (`fit_gains`), `analyzer/estimate.rs` (`measure_bus`) | `diagnose/master_bus.rs` |
//! | `master-bus-dynamics` | `analyzer/frame_gain.rs` (`record_block_gains`), `analyzer/level_gain.rs` (`LevelGain::fit`), `analyzer/level_residual.rs` (stem gains or a compressor?) | `diagnose/master_bus.rs` (`compressor_took_stem_gains`) |
//! | `missing-content`, `missing-fx-return` | `analyzer/residual.rs` (`unexplained`, `time_domain_hop` with the onset ratio, `residual_impulse_spread`) | `diagnose/missing.rs` |
//! | `clipping`, `true-peak`, `dc-offset` | `headroom.rs` (fed by `analyzer/ingest.rs`; clipped hops kept out of the whole-run estimates by `analyzer/clips.rs`) | `diagnose/levels.rs` |
//! | `sum-over-full-scale`, `silent-stem` | `headroom.rs` (fed by `analyzer/ingest.rs`) | `diagnose/levels.rs` |
//! | `no-master`, `no-stems`, `stem-count` | `analyzer/residual.rs` (`time_domain_measurements`) | `diagnose/setup.rs` |
//! | `stem-dropout` | `analyzer/segments.rs` (`end_segment`), `analyzer/segments/dropouts.rs` (`dropout_measurements`) | `diagnose/timeline.rs` |
//! | `sample-rate-mismatch` | the caller (live core, checker) | `diagnose/setup.rs` (`sample_rate_mismatch`) |
//!
//! The file checker's own kinds (`length-mismatch`, `format-mismatch`, `naming`, `tail-cut`,
//! `fake-stereo`) are measured and decided in `cli/`.

#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]
// DSP over parallel arrays (bins of several spectra) reads clearest with index loops.
#![allow(clippy::needless_range_loop)]

mod analyzer;
mod bands;
mod config;
mod decibels;
mod diagnose;
mod dynamics;
mod finding;
mod headroom;
mod input;
mod loudness;
mod low_pass;
mod measurements;
mod ring;
mod spectra;

pub use analyzer::Analyzer;
pub use config::{AnalyzerConfig, NULLS_BELOW_DB};
pub use decibels::amplitude_to_db;
pub use diagnose::sample_rate_mismatch;
pub use dynamics::{DynamicsEstimate, LevelGainFit};
pub use finding::{Finding, FindingKind, Severity, Unit, Verdict};
pub use headroom::LevelSummary;
pub use input::{Block, SignalAudio, StemId, StemInput};
pub use measurements::{
    BandMeasurement, Cancellation, DropoutMeasurement, Measurements, StemMeasurements,
};
