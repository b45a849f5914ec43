//! Delivery profiles: what a delivery spec demands, as data. Documented in the README.

use clap::ValueEnum;

/// A delivery spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// No format demands: files must only agree with each other. True peak limit -1 dBTP.
    Default,
    /// Sync licensing: 48 kHz / 24-bit WAV, 5 to 12 stems, true peak <= -1 dBTP,
    /// `TrackName_Stem.wav` naming.
    Sync,
    /// Film/TV post: 48 kHz / 24-bit (or 32-bit float) WAV, true peak <= -2 dBTP,
    /// `TrackName_Stem.wav` naming.
    Post,
}

/// What a profile demands.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The profile's name, as given to `--profile`.
    pub name: &'static str,
    /// The sample rate every file must have, in Hz (`None`: any, as long as they agree).
    pub sample_rate_hz: Option<u32>,
    /// Accepted (bits, format) pairs.
    pub formats: Option<&'static [(u32, &'static str)]>,
    /// The highest true peak allowed, in dBTP.
    pub true_peak_limit_dbtp: f32,
    /// The fewest stems a delivery may have.
    pub min_stems: usize,
    /// The most stems a delivery may have.
    pub max_stems: usize,
    /// Whether every file must be a .wav file.
    pub require_wav: bool,
    /// Whether files must be named `TrackName_Stem`.
    pub require_naming: bool,
}

impl Profile {
    /// What this profile demands.
    pub fn spec(self) -> Spec {
        match self {
            Profile::Default => Spec {
                name: "default",
                sample_rate_hz: None,
                formats: None,
                true_peak_limit_dbtp: -1.0,
                min_stems: 2,
                max_stems: 12,
                require_wav: false,
                require_naming: false,
            },
            Profile::Sync => Spec {
                name: "sync",
                sample_rate_hz: Some(48_000),
                formats: Some(&[(24, "int")]),
                true_peak_limit_dbtp: -1.0,
                min_stems: 5,
                max_stems: 12,
                require_wav: true,
                require_naming: true,
            },
            Profile::Post => Spec {
                name: "post",
                sample_rate_hz: Some(48_000),
                formats: Some(&[(24, "int"), (32, "float")]),
                true_peak_limit_dbtp: -2.0,
                min_stems: 2,
                max_stems: 12,
                require_wav: true,
                require_naming: true,
            },
        }
    }
}
