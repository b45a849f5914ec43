//! Stemcheck's analysis core: given aligned audio of N stems and the master, measure how far the
//! stems' sum is from the master and say why, in an engineer's words, naming the stem and the
//! fix.
//!
//! Pure Rust: no plugin framework, host or file format. The live plugin and the offline checker
//! feed the very same [`Analyzer`] and get the same [`Finding`]s.
//!
//! - [`input`]: what goes in (a block of aligned audio, each signal present or missing).
//! - [`analyzer`]: the engine; framing, lag tracking, spectra, accumulators.
//! - [`diagnose`]: turns measurements into findings (with hysteresis).
//! - [`finding`]: findings as data (stable kinds with descriptions, severities, units).

// DSP over parallel arrays (bins of several spectra) reads clearest with index loops.
#![allow(clippy::needless_range_loop)]

pub mod analyzer;
pub mod bands;
pub mod config;
pub mod diagnose;
pub mod dynamics;
pub mod finding;
pub mod headroom;
pub mod input;
pub mod lag;
pub mod loudness;
pub mod measurements;
mod ring;
pub mod spectra;

pub use analyzer::Analyzer;
pub use config::AnalyzerConfig;
pub use finding::{Finding, FindingKind, Severity, Unit, Verdict};
pub use input::{Block, SignalAudio, StemId};
pub use measurements::Measurements;
