//! The delivery's own noise floor: the dither and rounding of files stored as integers (a
//! 16-bit file's is -96 dBFS, a 24-bit file's -144), known from their bit depths
//! ([`crate::AnalyzerConfig::stem_floor_dbfs`], [`crate::AnalyzerConfig::master_floor_dbfs`]).
//! No stem's gain, no master-bus processing and no missing part explains it, and none of them
//! may be read from it: in a 16-bit delivery of a quiet orchestral cue, the sections resting
//! through the intro are dither alone, whose chance correlation with the master fitted gains of
//! either sign (a 20 dB bus EQ for one frame, read as a compressor with its knee at -58 dBFS),
//! and the files' dither together is white noise no stem carries (read as missing content
//! around 16 kHz where the music is quiet).

use crate::decibels::{db_to_power, energy_ratio_db};

use super::Analyzer;

impl Analyzer {
    /// The share of one channel's floor power a mid channel (the mean of left and right)
    /// carries: a half for two channels dithered independently.
    fn mid_floor_share(&self) -> f64 {
        if self.master.channels == 2 { 0.5 } else { 1.0 }
    }

    /// Per sample, the floor power of the master's mid channel (linear, against a full-scale
    /// square; 0 when none is known).
    pub(super) fn master_floor_power(&self) -> f64 {
        self.config
            .master_floor_dbfs
            .map_or(0.0, |db| db_to_power(f64::from(db)))
            * self.mid_floor_share()
    }

    /// Per sample, the floor power of one stem's mid channel.
    pub(super) fn stem_floor_power(&self) -> f64 {
        self.config
            .stem_floor_dbfs
            .map_or(0.0, |db| db_to_power(f64::from(db)))
            * self.mid_floor_share()
    }

    /// Per sample, the floor power of the stems' sum's mid channel: every stem's adds.
    pub(super) fn sum_floor_power(&self) -> f64 {
        self.stem_floor_power() * self.stems.len() as f64
    }

    /// Per bin of the Welch sums, what a floor of `power` per sample adds: white, through the
    /// window, over every frame (the transform is unnormalised).
    pub(super) fn floor_per_bin(&self, power: f64) -> f64 {
        let window_power: f64 = self.fft.window.iter().map(|w| f64::from(w * w)).sum();
        power * window_power * self.welch.frames as f64
    }

    /// The time-domain null residual the files' floors leave, in dB re the master's level
    /// (`master_power`: its mean power per sample and channel), or `None` when no floor is
    /// known. Every file's floor adds, in both channels alike.
    pub(super) fn residual_floor_db(&self, master_power: f64) -> Option<f32> {
        let channel = |db: Option<f32>| db.map_or(0.0, |db| db_to_power(f64::from(db)));
        let floor = channel(self.config.master_floor_dbfs)
            + channel(self.config.stem_floor_dbfs) * self.stems.len() as f64;
        (floor > 0.0 && master_power > 0.0).then(|| energy_ratio_db(floor, master_power))
    }
}
