//! The master bus's gain frame by frame: each frame's broadband gain of the master against the
//! stems (at their fitted gains, after the bus's fitted EQ), recorded against the sum's level
//! ([`GainByLevel`]): gain that falls as level rises is compression. The fitted gains are fed
//! back here after every update.

use crate::config::{MIN_FRAMES, MIN_NORMALISED_FRAME_GAIN};
use crate::decibels::{db_to_gain_f32, energy_ratio_db, power_to_db};
use crate::dynamics::GainByLevel;
use crate::measurements::Measurements;

use super::Analyzer;

/// What the frame gain is measured against, and its history.
pub(super) struct BusTracking {
    /// Per band, the master's gain against the sum as last fitted, linear (writer:
    /// [`Analyzer::apply_fitted_gains`]).
    pub band_gain: Vec<f32>,
    /// Frame gains binned by the sum's level (writer: [`Analyzer::record_frame_gain`]; emptied
    /// by `restart_accumulators`).
    pub dynamics: GainByLevel,
}

impl BusTracking {
    pub fn new(num_bands: usize) -> Self {
        Self {
            band_gain: vec![1.0; num_bands],
            dynamics: GainByLevel::default(),
        }
    }
}

impl Analyzer {
    /// Records the current frame's broadband gain against the sum's level; returns the factor
    /// that normalises the frame's master by that gain (1 when the gain is unusable).
    pub(super) fn record_frame_gain(&mut self) -> f32 {
        let n = self.layout.frame_len as i64;
        // The frame's broadband gain against the sum (each stem at its fitted gain, so that a
        // stem's own defect does not look like bus dynamics), after the bus's static EQ.
        let (mut cross, mut power, mut sum_power) = (0.0f64, 0.0f64, 0.0f64);
        for (band, &gain) in self.layout.bands.iter().zip(&self.bus.band_gain) {
            for i in band.first_bin..band.end_bin.min(self.spectra.master.len()) {
                let m = self.spectra.master[i];
                let s = self.spectra.corrected[i] * gain;
                cross += f64::from(m.re * s.re + m.im * s.im);
                power += f64::from(s.norm_sqr());
                sum_power += f64::from(self.spectra.sum[i].norm_sqr());
            }
        }
        let frame_gain = if power > 0.0 {
            (cross / power) as f32
        } else {
            1.0
        };
        let window_power: f64 = self.fft.window.iter().map(|w| f64::from(w * w)).sum();
        let level_dbfs = power_to_db(2.0 * sum_power / (n as f64 * window_power), 1e-30);
        if self.welch.frames >= MIN_FRAMES {
            self.bus
                .dynamics
                .add(level_dbfs as f32, frame_gain, sum_power);
        }
        if frame_gain > MIN_NORMALISED_FRAME_GAIN && frame_gain.is_finite() {
            1.0 / frame_gain
        } else {
            1.0
        }
    }

    /// The bus's EQ and the stems' own gains, as last fitted, correct the per-frame gain from
    /// here on.
    pub(super) fn apply_fitted_gains(&mut self) {
        let m = &self.results.last_measurements;
        if m.cross_ready {
            for (gain, &db) in self.bus.band_gain.iter_mut().zip(&m.bus_band_gain_db) {
                *gain = db_to_gain_f32(db);
            }
            for stem in &mut self.stems {
                if let Some(fit) = m.stems.iter().find(|s| s.id == stem.id) {
                    let g = db_to_gain_f32(fit.gain_db);
                    stem.fitted_gain = if fit.inverted { -g } else { g };
                }
            }
        }
    }

    /// The gain-by-level estimate, and the residual energy the time-varying gain explains.
    pub(super) fn measure_dynamics(&self, m: &mut Measurements) {
        let dynamics = self.bus.dynamics.estimate();
        m.dynamics = Some(dynamics);
        m.dynamics_explains_db = energy_ratio_db(
            self.bus.dynamics.deviation_energy,
            self.bus.dynamics.total_energy,
        );
    }
}
