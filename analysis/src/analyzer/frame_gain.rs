//! The master bus's gain frame by frame and block by block, against the *predicted* master
//! (the stems at their fitted gains through the bus's fitted EQ; both fed back here after every
//! update):
//!
//! - each frame's broadband gain normalises the master for what no stem explains;
//! - each ~20 ms block of the frame (the predicted master brought back to the time domain)
//!   gives the gain the master applies there against the predicted master's level, into the
//!   gain-by-level model ([`LevelGain`]): gain that falls as level rises is a compressor or a
//!   limiter; a plain gain or an EQ is the same at every level.

use crate::config::{
    CEILING_MIN_AGREEMENT, CEILING_SINGLE_EVENT_RESIDUAL_CREST_DB, COMPRESSION_BLOCKS_PER_FRAME,
    DYNAMICS_MIN_CORRELATION, FITTED_GAIN_MOVED_DB, FITTED_GAIN_MOVED_MIN_SHARE_DB,
    FLOOR_MARGIN_DB, FRAME_GAIN_MIN_COHERENCE, MIN_FRAMES, MIN_NORMALISED_FRAME_GAIN,
    PREDICTION_MIN_STEM_SHARE_DB, STEM_GAIN_BEYOND_DYNAMICS_HYSTERESIS_DB,
};
use crate::decibels::{db_to_gain_f32, db_to_power, energy_ratio_db, power_to_db};
use crate::dynamics::{DynamicsEstimate, LevelGainFit, stem_gain_beyond_dynamics_db};
use crate::measurements::{LevelResiduals, Measurements};
use crate::spectra::Cf;

use super::Analyzer;
use super::ceiling::PeakCeiling;
use super::eq_phase::{log_magnitude, minimum_phase};
use super::level_gain::LevelGain;
use super::level_residual::LevelResidual;

/// What the frame gain is measured against, and its history.
pub(super) struct BusTracking {
    /// Per band, the master's gain against the sum as last fitted, linear (writer:
    /// [`Analyzer::apply_fitted_gains`]).
    pub band_gain: Vec<f32>,
    /// Per band, whether it spoke for the EQ in that fit (same writer; all until the first).
    pub band_speaks: Vec<bool>,
    /// Block gains binned by the predicted master's level (writer:
    /// [`Analyzer::record_frame_gain`]; emptied by `restart_accumulators`).
    pub dynamics: LevelGain,
    /// Block peak gains binned by the predicted master's block peak (a limiter acts on peaks;
    /// same writer).
    pub peaks: LevelGain,
    /// Block gains against the stems at unity through the bus's EQ (but for their own gains,
    /// [`super::stems::Stem::own_gain`]), binned by that prediction's level: the compressor
    /// read without the stems' fitted gains, which may have taken its gain reduction (same
    /// writer and clearing; also cleared when a stem's own gain changes).
    pub unit_dynamics: LevelGain,
    /// What one gain per level leaves of the master against the predicted master (same writer
    /// and clearing; see `level_residual.rs`).
    pub fitted_residual: LevelResidual,
    /// ... and against the stems at unity through the bus's EQ.
    pub unit_residual: LevelResidual,
    /// Segment sample peaks, master against the stems' sum: a limiter's ceiling (writer:
    /// [`Analyzer::time_domain_hop`]; emptied by `restart_accumulators`).
    pub ceiling: PeakCeiling,
    /// The frame's predicted master spectrum, `fft.bins()` bins (scratch of
    /// `record_block_gains`, sized at the first frame).
    predicted_spectrum: Vec<Cf>,
    /// The frame's predicted master, windowed, `frame_len` samples (scratch, likewise).
    predicted: Vec<f32>,
    /// The frame's stems at unity through the bus's EQ, windowed, `frame_len` samples
    /// (scratch, likewise): at unity but for the gains that are the stems' own
    /// ([`super::stems::Stem::own_gain`]).
    predicted_unit: Vec<f32>,
    /// The frame's sum with each stem at its own gain, `fft.bins()` bins (scratch, likewise;
    /// used only while some stem's own gain is not 1).
    own_sum: Vec<Cf>,
    /// The frame's master, windowed, `frame_len` samples (scratch, likewise).
    master: Vec<f32>,
    /// The phase of the bus's fitted EQ taken as minimum-phase, per bin, in radians (writer:
    /// [`Analyzer::apply_fitted_gains`]; empty until the first fit).
    pub eq_phase: Vec<f32>,
    /// The bus's fitted response per bin: its band's gain with `eq_phase` (same writer; empty
    /// until the first fit, then unity outside the bands).
    pub response: Vec<Cf>,
}

impl BusTracking {
    pub fn new(num_bands: usize) -> Self {
        Self {
            band_gain: vec![1.0; num_bands],
            band_speaks: vec![true; num_bands],
            dynamics: LevelGain::default(),
            peaks: LevelGain::default(),
            unit_dynamics: LevelGain::default(),
            fitted_residual: LevelResidual::default(),
            unit_residual: LevelResidual::default(),
            ceiling: PeakCeiling::default(),
            predicted_spectrum: Vec::new(),
            predicted: Vec::new(),
            predicted_unit: Vec::new(),
            own_sum: Vec::new(),
            master: Vec::new(),
            eq_phase: Vec::new(),
            response: Vec::new(),
        }
    }
}

/// Whether a stem's gain in a prediction moved from `before` to `after` (signed, linear) by
/// enough to have predicted every block so far wrong: a flipped sign, or
/// [`FITTED_GAIN_MOVED_DB`] or more.
fn gain_moved(before: f32, after: f32) -> bool {
    let ratio = after / before;
    !(ratio > 0.0 && 20.0 * ratio.log10().abs() < FITTED_GAIN_MOVED_DB)
}

impl Analyzer {
    /// Records the gains of the current frame (starting at sample `start` of the master) against
    /// the predicted master's level, block by block; returns the factor that normalises the
    /// frame's master by its broadband gain (1 when the gain is unusable).
    pub(super) fn record_frame_gain(&mut self, start: i64) -> f32 {
        // The frame's broadband gain against the sum (each stem at its fitted gain, so that a
        // stem's own defect does not look like bus dynamics), after the bus's static EQ.
        let (mut cross, mut power, mut master_power) = (0.0f64, 0.0f64, 0.0f64);
        for (band, &gain) in self.layout.bands.iter().zip(&self.bus.band_gain) {
            for i in band.first_bin..band.end_bin.min(self.spectra.master.len()) {
                let m = self.spectra.master[i];
                let s = self.spectra.corrected[i] * gain;
                cross += f64::from(m.re * s.re + m.im * s.im);
                power += f64::from(s.norm_sqr());
                master_power += f64::from(m.norm_sqr());
            }
        }
        // The gain is the frame's only where the sum holds the master: in a frame of dither
        // and a reverb's last crumbs it is noise, and dividing by it would blow the dither up.
        let determined = power > 0.0
            && master_power > 0.0
            && cross * cross >= FRAME_GAIN_MIN_COHERENCE * power * master_power;
        let frame_gain = if power > 0.0 {
            (cross / power) as f32
        } else {
            1.0
        };
        if self.welch.frames >= MIN_FRAMES {
            self.record_block_gains(start);
        }
        if determined && frame_gain > MIN_NORMALISED_FRAME_GAIN && frame_gain.is_finite() {
            1.0 / frame_gain
        } else {
            1.0
        }
    }

    /// The predicted master of the frame in the time domain (one inverse FFT), then per block
    /// the master's gain against it (`sum m p / sum p^2`, both windowed alike) and its level.
    /// The first and last block, where the window nearly closes, are left out.
    fn record_block_gains(&mut self, start: i64) {
        // A block whose prediction is near the stems' summed floor (`floor.rs`) reads a gain
        // pulled down by it (their dither is in the prediction, not in the master): it is left
        // out (at the margin the pull is 0.04 dB).
        let floor = self.sum_floor_power() * db_to_power(f64::from(FLOOR_MARGIN_DB));
        let bins = self.spectra.master.len();
        let len = self.layout.frame_len;
        let bus = &mut self.bus;
        bus.predicted_spectrum.resize(bins, Cf::new(0.0, 0.0));
        bus.predicted.resize(len, 0.0);
        bus.predicted_unit.resize(len, 0.0);
        bus.master.resize(len, 0.0);
        // The sum at unity but for the stems' own gains (polarities, gains no compressor gives).
        let own = self.stems.iter().any(|s| s.own_gain != 1.0);
        if own {
            bus.own_sum.clear();
            bus.own_sum.extend_from_slice(&self.spectra.sum);
            for stem in self.stems.iter().filter(|s| s.own_gain != 1.0) {
                let extra = stem.own_gain - 1.0;
                for (o, x) in bus.own_sum.iter_mut().zip(&stem.spectrum) {
                    *o += x * extra;
                }
            }
        }
        // A sum of the stems through the bus's fitted EQ, in the time domain, the whole band:
        // below the lowest band its gain, above the highest up to Nyquist the highest band's.
        // Left out, what the stems hold there is all residual: a bright mix's air above 17.8
        // kHz (where the bands end at 44.1 kHz) read 8 dB over the same mix at 48 kHz and hid a
        // limiter; the lowest bins of the test song's kick (a windowed block's DC bin included)
        // left a plain gain -29 dB.
        let bottom = self
            .layout
            .bands
            .first()
            .map_or(0, |b| b.first_bin.min(bins));
        let bottom_gain = bus.band_gain.first().copied().unwrap_or(1.0);
        let top = self
            .layout
            .bands
            .last()
            .map_or(bins, |b| b.end_bin.min(bins));
        let top_gain = bus.band_gain.last().copied().unwrap_or(1.0);
        let mut through_eq = |sum: &[Cf], out: &mut Vec<f32>| {
            bus.predicted_spectrum.fill(Cf::new(0.0, 0.0));
            for (band, &gain) in self.layout.bands.iter().zip(&bus.band_gain) {
                for i in band.first_bin..band.end_bin.min(bins) {
                    bus.predicted_spectrum[i] = sum[i] * gain;
                }
            }
            for i in top..bins {
                bus.predicted_spectrum[i] = sum[i] * top_gain;
            }
            for i in 0..bottom {
                bus.predicted_spectrum[i] = sum[i] * bottom_gain;
            }
            self.fft.inverse(&bus.predicted_spectrum, out);
        };
        // Every stem at unity (but for their own gains), and the stems at their fitted gains.
        if own {
            through_eq(&bus.own_sum, &mut bus.predicted_unit);
        } else {
            through_eq(&self.spectra.sum, &mut bus.predicted_unit);
        }
        through_eq(&self.spectra.corrected, &mut bus.predicted);
        self.master
            .mid
            .read_windowed(start, &self.fft.window, &mut bus.master);
        // The inverse transform is unnormalised: 1/len brings it to the master's scale.
        let scale = 1.0 / len as f32;
        let block = len / COMPRESSION_BLOCKS_PER_FRAME;
        for b in 1..COMPRESSION_BLOCKS_PER_FRAME - 1 {
            let range = b * block..(b + 1) * block;
            let (mut mp, mut pp, mut ww) = (0.0f64, 0.0f64, 0.0f64);
            let (mut mm, mut mu, mut uu) = (0.0f64, 0.0f64, 0.0f64);
            for (&m, &u) in bus.master[range.clone()]
                .iter()
                .zip(&bus.predicted_unit[range.clone()])
            {
                let u = u * scale;
                mm += f64::from(m * m);
                mu += f64::from(m * u);
                uu += f64::from(u * u);
            }
            // The block's peaks (windowed alike, so their ratio is the master's peak gain; the
            // predicted one's level unwindowed at its sample).
            let (mut peak_m, mut peak_p, mut peak_level) = (0.0f32, 0.0f32, 0.0f32);
            for ((&m, &p), &w) in bus.master[range.clone()]
                .iter()
                .zip(&bus.predicted[range.clone()])
                .zip(&self.fft.window[range])
            {
                let p = p * scale;
                mp += f64::from(m * p);
                pp += f64::from(p * p);
                ww += f64::from(w * w);
                peak_m = peak_m.max(m.abs());
                if p.abs() > peak_p {
                    peak_p = p.abs();
                    peak_level = p.abs() / w.max(f32::MIN_POSITIVE);
                }
            }
            if ww <= 0.0 {
                continue;
            }
            if uu > floor * ww {
                let level_dbfs = power_to_db(2.0 * uu / ww, 1e-30) as f32;
                bus.unit_residual.add(level_dbfs, mm, mu, uu);
                if mu > 0.0 {
                    let gain_db = power_to_db(mu / uu, 1e-30) as f32 * 2.0;
                    bus.unit_dynamics.add(level_dbfs, gain_db, uu / ww);
                }
            }
            if pp > floor * ww {
                bus.fitted_residual
                    .add(power_to_db(2.0 * pp / ww, 1e-30) as f32, mm, mp, pp);
            }
            if pp <= floor * ww || mp <= 0.0 {
                continue;
            }
            // A full-scale sine (mean square 1/2) is 0 dBFS.
            let level_dbfs = power_to_db(2.0 * pp / ww, 1e-30) as f32;
            let gain_db = power_to_db(mp / pp, 1e-30) as f32 * 2.0;
            if peak_m > 0.0 && peak_p > 0.0 {
                bus.peaks.add(
                    20.0 * peak_level.log10(),
                    20.0 * (peak_m / peak_p).log10(),
                    pp / ww,
                );
            }
            bus.dynamics.add(level_dbfs, gain_db, pp / ww);
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
            if m.bus_band_speaks.len() == self.bus.band_speaks.len() {
                self.bus.band_speaks.copy_from_slice(&m.bus_band_speaks);
            }
            let mut moved = false;
            let mut own_moved = false;
            // What a compressor as deep as either view reads can give a stem.
            let depth_db = m
                .dynamics
                .map_or(0.0, |d| d.gain_reduction_db)
                .max(m.dynamics_unit_fit.map_or(0.0, |f| f.depth_db));
            let beyond_db = stem_gain_beyond_dynamics_db(depth_db);
            for stem in &mut self.stems {
                if let Some(fit) = m.stems.iter().find(|s| s.id == stem.id) {
                    let g = if fit.energy_share_db < PREDICTION_MIN_STEM_SHARE_DB {
                        1.0
                    } else {
                        db_to_gain_f32(fit.gain_db)
                    };
                    let g = if fit.inverted { -g } else { g };
                    // A stem that matters whose sign flipped, or whose gain moved by 6 dB
                    // or more, was predicted wrong in every block so far.
                    let matters = fit.energy_share_db >= FITTED_GAIN_MOVED_MIN_SHARE_DB;
                    moved |= matters && gain_moved(stem.fitted_gain, g);
                    stem.fitted_gain = g;
                    stem.fitted_at_lag = true;
                    // The stem's own gain, for the prediction the compressor is read against.
                    let was_own = stem.own_gain != 1.0;
                    let bound = if was_own {
                        beyond_db - STEM_GAIN_BEYOND_DYNAMICS_HYSTERESIS_DB
                    } else {
                        beyond_db
                    };
                    let is_own = g != 1.0 && (g < 0.0 || fit.gain_db.abs() >= bound);
                    let own = if is_own { g } else { 1.0 };
                    // (Moved as above only: a stem's own gain near the bound, taken and left, is a
                    // tenth of what a sign or 6 dB is; a limiter gave the drums -1.5 dB in one
                    // early fit, and restarting there lost a third of the run.)
                    own_moved |= matters && gain_moved(stem.own_gain, own);
                    stem.own_gain = own;
                }
            }
            if own_moved {
                // Likewise the block gains against the stems at their own gains.
                self.bus.unit_dynamics.clear();
                self.bus.unit_residual.clear();
            }
            if moved {
                // The block gains so far were read against a prediction the fit has just
                // corrected (the first fit, typically: an inverted stem predicted upright
                // reads as tens of dB of compression): they go.
                self.bus.dynamics.clear();
                self.bus.peaks.clear();
                self.bus.fitted_residual.clear();
                // So were the return model's rows: an inverted bass leaves twice itself, which
                // trails nothing, and held a missing reverb's causal share under a source's.
                self.return_model.clear();
            }
            self.update_eq_phase();
        }
    }

    /// The phase of the bus's fitted EQ, taken as minimum-phase (see `eq_phase.rs`): what it
    /// makes each stem's offset look like.
    fn update_eq_phase(&mut self) {
        let bins = self.spectra.master.len();
        let len = self.layout.frame_len;
        let bin_hz = self.layout.sample_rate_hz / len as f32;
        let bus = &mut self.bus;
        bus.eq_phase.resize(bins, 0.0);
        bus.predicted.resize(len, 0.0);
        bus.predicted_spectrum.resize(bins, Cf::new(0.0, 0.0));
        // The log-magnitude goes through `master` (as scratch: `bins` <= `len` samples). Only
        // the bands that spoke for the EQ shape it (the others show the broadband gain: a high
        // pass's faint lowest band back at 0 dB would read as a notch, and turn the phase the
        // wrong way above it); beyond them it is held flat, or falls on where the outermost
        // bands fall steadily (`eq_phase::log_magnitude`).
        bus.master.resize(len, 0.0);
        let speaking: Vec<f32> = bus
            .band_gain
            .iter()
            .zip(&bus.band_speaks)
            .map(|(&g, &speaks)| if speaks { g } else { f32::NAN })
            .collect();
        log_magnitude(
            &self.layout.bands,
            &speaking,
            bin_hz,
            &mut bus.master[..bins],
        );
        minimum_phase(
            &mut self.fft,
            &bus.master[..bins],
            (&mut bus.predicted_spectrum, &mut bus.predicted),
            &mut bus.eq_phase,
        );
        bus.response.clear();
        bus.response.resize(bins, Cf::new(1.0, 0.0));
        for (band, &gain) in self.layout.bands.iter().zip(&bus.band_gain) {
            for i in band.first_bin..band.end_bin.min(bins) {
                bus.response[i] = Cf::from_polar(gain, bus.eq_phase[i]);
            }
        }
    }

    /// The gain-by-level model, and the residual energy the level-dependent gain explains.
    pub(super) fn measure_dynamics(&self, m: &mut Measurements) {
        // The compressor read against the stems at unity, and what one gain per level leaves
        // against either prediction: whether the stems' fitted gains are the compressor's.
        m.dynamics_unit_fit = self.bus.unit_dynamics.fit();
        m.level_residuals = match (
            self.bus.unit_residual.residuals(),
            self.bus.fitted_residual.residuals(),
        ) {
            (Some(unit), Some(fitted)) => Some(LevelResiduals {
                unit_one_gain_db: unit.one_gain_db,
                unit_per_level_db: unit.per_level_db,
                fitted_per_level_db: fitted.per_level_db,
            }),
            _ => None,
        };
        // Two views of one model: the gain of the blocks' energy against their level (a
        // compressor), and of their peaks against the peaks' level (a limiter). The one that
        // shows the deeper reduction its loudest blocks agree on is taken.
        let agreed = |f: &LevelGainFit| {
            if -f.agreement <= DYNAMICS_MIN_CORRELATION {
                f.depth_db
            } else {
                f32::MIN
            }
        };
        let fit = match (self.bus.dynamics.fit(), self.bus.peaks.fit()) {
            (Some(level), Some(peak)) => Some(if agreed(&peak) > agreed(&level) {
                peak
            } else {
                level
            }),
            (level, peak) => level.or(peak),
        };
        // The third view, a limiter's peak ceiling (`ceiling.rs`): a drive that touches only
        // millisecond peaks moves no block's energy, but holds every peak it touches at one
        // level. It is the estimate when the energy and peak views agree on nothing deeper.
        // One loud event may be all a driven limiter touches (see `PeakCeiling::single_event`):
        // bounded by the residual's level (re the master's level) and a crest allowance. The
        // residual is the one the peaks are predicted with: the master against the stems through
        // the bus's fitted EQ, one gain per level (what no stem explains is less when the bus
        // EQ is a bell the third-octave bands only approximate: a 2.5 kHz bell's fit missed the
        // loudest hit's peak by 0.4 dB, and read as a limiter).
        let residual_db = prediction_residual_db(m);
        let residual_peak_dbfs = m.master_levels.map_or(f32::INFINITY, |l| {
            l.rms_dbfs + residual_db + CEILING_SINGLE_EVENT_RESIDUAL_CREST_DB
        });
        let ceiling = self
            .bus
            .ceiling
            .fit(m.bus_gain_db)
            .or_else(|| {
                self.bus
                    .ceiling
                    .single_event(m.bus_gain_db, residual_peak_dbfs)
            })
            .filter(|c| c.agreement >= CEILING_MIN_AGREEMENT);
        m.ceiling = ceiling;
        m.master_full_scale_hold = self
            .bus
            .ceiling
            .full_scale_hold(m.bus_gain_db)
            .filter(|c| c.agreement >= CEILING_MIN_AGREEMENT);
        if let Some(c) = ceiling
            && fit.is_none_or(|f| agreed(&f) < c.depth_db)
        {
            m.dynamics = Some(DynamicsEstimate {
                gain_reduction_db: c.depth_db,
                correlation: -c.agreement,
                level_span_db: fit.map_or(0.0, |f| f.level_span_db),
                frames: c.clamped_blocks as u64,
            });
            // What the clamped peaks lose is a few milliseconds' energy: nothing next to the
            // drive, which the bus gain measures (and the finding folds in).
            m.dynamics_explains_db = energy_ratio_db(0.0, 1.0);
            m.dynamics_fit = fit;
            return;
        }
        let Some(fit) = fit else {
            m.dynamics = None;
            m.dynamics_explains_db = energy_ratio_db(0.0, 1.0);
            return;
        };
        m.dynamics = Some(DynamicsEstimate {
            gain_reduction_db: fit.depth_db,
            correlation: -fit.agreement,
            level_span_db: fit.level_span_db,
            frames: fit.blocks,
        });
        m.dynamics_explains_db = energy_ratio_db(fit.explained_share, 1.0);
        m.dynamics_fit = Some(fit);
    }
}

/// What the peaks' prediction leaves of the master, in dB re master: one gain per level of the
/// stems at their fitted gains through the bus's fitted EQ (`level_residual.rs`), or what no
/// stem explains when that is larger or not measured yet.
fn prediction_residual_db(m: &Measurements) -> f32 {
    m.level_residuals.map_or(m.unexplained_db, |r| {
        r.fitted_per_level_db.max(m.unexplained_db)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzer::ceiling::PeakCeiling;

    #[test]
    fn one_peak_a_bell_s_fit_misses_is_no_limiter() {
        // The electronic piece through a 2.5 kHz bell (TimGM6mb): master RMS -23.5 dBFS, its
        // loudest peak -4.62 dBFS where the prediction through the fitted third-octave EQ said
        // -4.21. What no stem explains is -56.7 dB (the per-bin fit takes the bell whole); what
        // the prediction leaves is -26.1 dB. Bounded by the first, the 0.4 dB the fit missed
        // read as a limiter's one clamp; by the second, it is within the prediction's error.
        let mut ceiling = PeakCeiling::default();
        for i in 0..500 {
            let p = -40.0 + 30.0 * (i as f32 / 500.0);
            ceiling.add(p, p);
        }
        ceiling.add(-4.21, -4.62);
        let m = Measurements {
            unexplained_db: -56.7,
            level_residuals: Some(LevelResiduals {
                unit_one_gain_db: -26.1,
                unit_per_level_db: -26.1,
                fitted_per_level_db: -26.1,
            }),
            ..Measurements::default()
        };
        let bound = |residual_db: f32| -23.5 + residual_db + CEILING_SINGLE_EVENT_RESIDUAL_CREST_DB;
        assert!(ceiling.single_event(0.0, bound(m.unexplained_db)).is_some());
        assert!(
            ceiling
                .single_event(0.0, bound(prediction_residual_db(&m)))
                .is_none()
        );
    }
}
