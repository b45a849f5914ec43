//! Clipped hops: which recent hops each signal clipped in (a run of samples at full scale, as
//! `headroom.rs` counts it). A hop that holds a clip is left out of the whole-run estimates (the
//! time-domain residual and the spectra, through `segments.rs`) while most hops do not clip: a clipped stem is fitted on its unclipped frames (its gain error is still named),
//! and a clipped master's distortion is the clipping's own consequence, not content no stem
//! carries (one cause per effect). Memory is fixed: [`CLIP_MARK_SLOTS`] hop numbers per signal.

use crate::headroom::SignalStats;

use super::Analyzer;

/// Hops remembered per signal; more than the history rings hold (a frame plus twice the lag
/// range plus two hops, under five hops), so a frame is never checked against a forgotten hop.
const CLIP_MARK_SLOTS: usize = 8;

/// One signal's clipped hops (writer: [`Analyzer::mark_clips`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct ClipMarks {
    /// The clipped-sample count last seen (the signal's [`SignalStats`]).
    counted: u64,
    /// Hop numbers that clipped, by hop number modulo [`CLIP_MARK_SLOTS`] (-1: none).
    hops: [i64; CLIP_MARK_SLOTS],
}

impl Default for ClipMarks {
    fn default() -> Self {
        Self {
            counted: 0,
            hops: [-1; CLIP_MARK_SLOTS],
        }
    }
}

impl ClipMarks {
    /// Marks every hop of `[from, to)` (samples) if `stats` counted a clip since last time.
    fn update(&mut self, stats: &SignalStats, from: i64, to: i64, hop: i64) {
        let counted = stats.clipped_samples();
        if counted > self.counted {
            self.mark(from, to, hop);
        }
        self.counted = counted;
    }

    /// Marks every hop touched by `[from, to)`, in samples.
    fn mark(&mut self, from: i64, to: i64, hop: i64) {
        for h in from.div_euclid(hop)..=(to - 1).max(from).div_euclid(hop) {
            self.hops[h.rem_euclid(CLIP_MARK_SLOTS as i64) as usize] = h;
        }
    }

    /// Whether any hop touched by `[from, to)` clipped.
    fn any_in(&self, from: i64, to: i64, hop: i64) -> bool {
        (from.div_euclid(hop)..=(to - 1).max(from).div_euclid(hop))
            .any(|h| self.hops[h.rem_euclid(CLIP_MARK_SLOTS as i64) as usize] == h)
    }
}

impl Analyzer {
    /// After ingesting `frames` samples ending at the current position: marks the hops in which
    /// the master or a stem clipped.
    pub(super) fn mark_clips(&mut self, frames: usize) {
        let hop = self.layout.hop as i64;
        let to = self.progress.position as i64;
        let from = to - frames as i64;
        self.master_clips.update(&self.master.stats, from, to, hop);
        for stem in &mut self.stems {
            stem.clips.update(&stem.stats, from, to, hop);
        }
    }

    /// Whether the hop starting at `sum_start` on the sum's timeline holds a clip of the master
    /// or of a stem (within the lag range either way, so every reading of the hop is covered).
    pub(super) fn hop_clipped(&self, sum_start: i64) -> bool {
        let hop = self.layout.hop as i64;
        let lag = self.layout.max_lag as i64;
        let (from, to) = (sum_start - lag, sum_start + hop + lag);
        self.master_clips.any_in(from, to, hop)
            || self.stems.iter().any(|s| s.clips.any_in(from, to, hop))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marked_hop_is_found_by_the_frames_over_it_only() {
        let hop = 100;
        let mut marks = ClipMarks::default();
        marks.mark(250, 260, hop);
        assert!(marks.any_in(200, 300, hop));
        assert!(marks.any_in(150, 251, hop));
        assert!(!marks.any_in(300, 400, hop));
        assert!(!marks.any_in(0, 200, hop));
        // A piece over a hop boundary marks both hops.
        marks.mark(390, 410, hop);
        assert!(marks.any_in(300, 400, hop) && marks.any_in(400, 500, hop));
        // Slots are reused: a hop eight hops later forgets the old one.
        marks.mark(250 + 8 * hop, 251 + 8 * hop, hop);
        assert!(!marks.any_in(200, 300, hop));
        assert!(marks.any_in(200 + 8 * hop, 300 + 8 * hop, hop));
    }

    #[test]
    fn only_a_new_clip_marks() {
        let hop = 100;
        let mut stats = SignalStats::default();
        let mut marks = ClipMarks::default();
        let quiet = [0.5f32; 100];
        stats.add([&quiet, &quiet], 2);
        marks.update(&stats, 0, 100, hop);
        assert!(!marks.any_in(0, 100, hop));
        let mut hot = [0.5f32; 100];
        hot[40..50].fill(1.0);
        stats.add([&hot, &hot], 2);
        marks.update(&stats, 100, 200, hop);
        assert!(marks.any_in(100, 200, hop));
        stats.add([&quiet, &quiet], 2);
        marks.update(&stats, 200, 300, hop);
        assert!(!marks.any_in(200, 300, hop));
    }
}
