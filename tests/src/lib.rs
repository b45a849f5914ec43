//! A small CLAP host for tests: loads the Stemcheck plugin library built by `cargo xtask test`,
//! creates instances with host track names, activates them and runs their audio processors on a
//! separate audio thread with transport information, as a DAW would.
//!
//! [`ardour`] drives Ardour headless as a real VST3 host for the end-to-end test;
//! [`vst3_host`] hosts the VST3 build in the test process itself, next to the CLAP build.
//!
//! Every instance in one test process shares the plugin's statics, hence one analysis core:
//! tests that run in parallel each use their own group.

pub mod ardour;
pub mod host;
pub mod signals;
pub mod support;
pub mod vst3_host;

pub use host::{Instance, Transport, plugin_path, report_dir, reports_for_group, run_audio};
