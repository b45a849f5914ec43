//! The stems: each one's history, levels, timing state and accumulators; adding and naming
//! stems, and which frames they are present in.

use crate::config::MAX_GRAM_STEMS;
use crate::decibels::FLOOR_DB;
use crate::headroom::SignalStats;
use crate::input::{Block, StemId};
use crate::measurements::StemMeasurements;
use crate::ring::Ring;
use crate::spectra::{Cd, Cf};

use super::Analyzer;
use super::clips::ClipMarks;

/// One stem.
pub(super) struct Stem {
    /// The caller's id (writer: [`Analyzer::add_stem`]).
    pub id: StemId,
    /// Its name, as shown in findings (writer: `add_stem`, `set_stem_name`, `rename_stem`).
    pub name: String,
    /// The stem's mid channel, one sample per sample (writer: ingest).
    pub ring: Ring,
    /// Its levels (writer: ingest).
    pub stats: SignalStats,
    /// Whole-sample lag, in samples: the master carries this stem's audio this many samples
    /// later (writer: timing).
    pub lag: i64,
    /// Whether the lag is confirmed (writer: timing).
    pub locked: bool,
    /// Whether a lag search ever placed the stem (locked it where it was, or moved it): until
    /// then its lag is the default 0, not a lag found (a stem that starts late, before its
    /// first notes are searched) (writer: timing).
    pub placed: bool,
    /// Whether the time-domain pass restarted for this stem's first placement at a lag of its
    /// own (at most once per stem: a stem far out of the lag range moves on, and a restart at
    /// every move would leave nothing measured; writer: `Analyzer::time_domain_hop`).
    pub placed_own_restarted: bool,
    /// Whether the stem correlated negatively at lag 0 when last locked (writer: timing).
    pub inverted: bool,
    /// A new lag seen once, in samples relative to `lag`, waiting to be confirmed (writer:
    /// timing).
    pub pending_lag: Option<i64>,
    /// The fraction of a sample left after the whole-sample lag, as last estimated, in samples
    /// (writer: timing).
    pub fraction: Option<f64>,
    /// The current frame's spectrum, read at `lag` (writer: cross_spectra).
    pub spectrum: Vec<Cf>,
    /// Welch sum of master times conjugate stem, per bin, since the accumulators restarted
    /// (writer: cross_spectra).
    pub pmk: Vec<Cd>,
    /// Welch sum of stems' sum times conjugate stem, per bin (writer: cross_spectra).
    pub psk: Vec<Cd>,
    /// Welch sum of the stem's power, per bin (writer: cross_spectra).
    pub pkk: Vec<f64>,
    /// The sum of `pkk`, kept as it accumulates (read every update, for every stem) (writer:
    /// cross_spectra).
    pub energy: f64,
    /// Frames in which the stem was present at its lag, in frames (writer:
    /// [`Analyzer::frame_is_complete`]).
    pub present_frames: u64,
    /// Frames since the stem appeared, in frames (writer: `frame_is_complete`).
    pub frames_seen: u64,
    /// The stem's gain in the master as last fitted (signed, linear), for the per-frame gain
    /// (writer: frame_gain, from the fit).
    pub fitted_gain: f32,
    /// Whether `fitted_gain` was fitted at the current lag (false until the first fit, and
    /// again when the lag moves; writers: frame_gain, timing).
    pub fitted_at_lag: bool,
    /// The stem's gain in the prediction the compressor is read against (signed, linear): 1,
    /// or `fitted_gain` where the fit is the stem's own, not a compressor's (inverted, or
    /// [`crate::config::STEM_GAIN_BEYOND_DYNAMICS_DB`] off; writer: frame_gain, from the fit).
    pub own_gain: f32,
    /// The hops in which the stem clipped (writer: [`Analyzer::mark_clips`]).
    pub clips: ClipMarks,
}

impl Stem {
    /// Empties the stem's Welch accumulators.
    pub fn clear_accumulators(&mut self) {
        self.pmk.fill(Cd::new(0.0, 0.0));
        self.psk.fill(Cd::new(0.0, 0.0));
        self.pkk.fill(0.0);
        self.energy = 0.0;
    }

    /// What is known of the stem without the cross-spectral estimate: levels, lag, presence.
    pub fn basic_measurements(&self, common_lag: i64) -> StemMeasurements {
        StemMeasurements {
            id: self.id,
            name: self.name.clone(),
            levels: self.stats.summary(),
            lag_locked: self.locked,
            offset_samples: (self.lag - common_lag) as f64,
            lag_offset_samples: self.lag - common_lag,
            gain_db: 0.0,
            inverted: self.inverted,
            energy_share_db: FLOOR_DB,
            gain_explains_db: FLOOR_DB,
            offset_explains_db: FLOOR_DB,
            present_fraction: if self.frames_seen > 0 {
                self.present_frames as f32 / self.frames_seen as f32
            } else {
                0.0
            },
        }
    }
}

impl Analyzer {
    /// Names a stem (adding it if unknown). Stems appearing in blocks are added automatically
    /// with a generated name.
    pub fn set_stem_name(&mut self, id: StemId, name: &str) {
        let index = self.stem_index(id);
        self.stems[index].name = name.to_string();
    }

    /// Names a stem the analysis already has; returns whether it had it. (Unlike
    /// [`Self::set_stem_name`], never adds one: for callers that name stems as they come and go,
    /// so that a stem that never reaches the analysis is not added to it.)
    pub fn rename_stem(&mut self, id: StemId, name: &str) -> bool {
        match self.stems.iter_mut().find(|s| s.id == id) {
            Some(stem) => {
                if stem.name != name {
                    stem.name = name.to_string();
                }
                true
            }
            None => false,
        }
    }

    fn stem_index(&mut self, id: StemId) -> usize {
        if let Some(index) = self.stems.iter().position(|s| s.id == id) {
            return index;
        }
        self.add_stem(id);
        self.stem_set_changed();
        self.stems.len() - 1
    }

    /// Adds the stems of `block` the analysis does not know yet.
    pub(super) fn add_new_stems(&mut self, block: &Block<'_>) {
        // Callers normally pass the same stems in the same order each block: then there is
        // nothing to look up (a search per stem is quadratic with hundreds of stems).
        let same_order = block.stems.len() == self.stems.len()
            && block
                .stems
                .iter()
                .zip(&self.stems)
                .all(|(b, s)| b.id == s.id);
        if !same_order {
            let known = self.stems.len();
            for stem in block.stems {
                if !self.stems.iter().any(|s| s.id == stem.id) {
                    self.add_stem(stem.id);
                }
            }
            if self.stems.len() != known {
                self.stem_set_changed();
            }
        }
    }

    /// Adds a stem without restarting the comparison: the caller calls
    /// [`Self::stem_set_changed`] once it has added all it had to (once per block, not once
    /// per stem: restarting sizes every pair's accumulators, quadratic in the stem count).
    fn add_stem(&mut self, id: StemId) {
        let bins = self.fft.bins();
        let mut ring = Ring::new(self.layout.ring_len);
        // A stem that appears late was missing until now.
        ring.push_missing(self.progress.position as usize);
        self.stems.push(Stem {
            id,
            name: format!("Stem {}", self.stems.len() + 1),
            ring,
            stats: SignalStats::default(),
            lag: 0,
            locked: false,
            placed: false,
            placed_own_restarted: false,
            inverted: false,
            pending_lag: None,
            fraction: None,
            spectrum: vec![Cf::new(0.0, 0.0); bins],
            pmk: vec![Cd::new(0.0, 0.0); bins],
            psk: vec![Cd::new(0.0, 0.0); bins],
            pkk: vec![0.0; bins],
            energy: 0.0,
            present_frames: 0,
            frames_seen: 0,
            fitted_gain: 1.0,
            fitted_at_lag: false,
            own_gain: 1.0,
            clips: ClipMarks::default(),
        });
    }

    /// Sizes the accumulators that depend on the stem count, and restarts the comparison (the
    /// sum changed meaning).
    fn stem_set_changed(&mut self) {
        let k = self.stems.len();
        self.pairs.resize(k, self.layout.low_bands.len());
        self.welch.gram = if k <= MAX_GRAM_STEMS {
            vec![0.0; self.layout.bands.len() * k * (k + 1) / 2]
        } else {
            Vec::new()
        };
        self.restart_accumulators();
    }

    /// Counts the frame starting at `start` towards each stem's presence and forgets gaps that
    /// no frame can reach any more; whether the master and every stem (at its lag) are present
    /// throughout the frame.
    pub(super) fn frame_is_complete(&mut self, start: i64) -> bool {
        let n = self.layout.frame_len as i64;
        let hop = self.layout.hop as i64;
        let master_valid = self.master.seen && self.master.mid.present(start, start + n);
        let stems_valid = !self.stems.is_empty()
            && self
                .stems
                .iter()
                .all(|s| s.ring.present(start - s.lag, start - s.lag + n));
        for stem in &mut self.stems {
            stem.frames_seen += 1;
            if stem.ring.present(start - stem.lag, start - stem.lag + n) {
                stem.present_frames += 1;
            }
        }
        let prune_before = start + hop - self.layout.max_lag as i64 - 1;
        self.master.mid.prune_gaps(prune_before);
        self.master.left.prune_gaps(prune_before);
        self.sum
            .left
            .prune_gaps(prune_before - self.layout.max_lag as i64);
        for stem in &mut self.stems {
            stem.ring
                .prune_gaps(prune_before - self.layout.max_lag as i64);
        }
        master_valid && stems_valid
    }
}

#[cfg(test)]
mod tests {
    use crate::config::AnalyzerConfig;

    use super::*;

    #[test]
    fn renaming_names_known_stems_and_never_adds_one() {
        let mut analyzer = Analyzer::new(48_000.0, AnalyzerConfig::default());
        analyzer.set_stem_name(3, "Drums");
        assert!(analyzer.rename_stem(3, "Kit"));
        assert!(!analyzer.rename_stem(4, "Bass"));
        let names: Vec<_> = analyzer
            .stems
            .iter()
            .map(|s| (s.id, s.name.clone()))
            .collect();
        assert_eq!(names, vec![(3, "Kit".to_string())]);
    }
}
