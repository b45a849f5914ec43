//! The residual over time, for `--plot`: per segment of the analysed audio, the level of the mix
//! and of the null residual (the mix minus the stems' sum, at the lag common to every stem, as
//! the analysis' `null_residual_db` is defined), both of the mid. Kept while the files stream
//! through the analysis; memory is fixed: at most [`MAX_SEGMENTS`] segments, whose length
//! doubles (neighbours merged) when a long song fills them.

/// The shortest segment, in seconds.
const SEGMENT_SECONDS: f64 = 0.1;
/// At most this many segments (a 10-minute song keeps 0.2 s segments).
pub const MAX_SEGMENTS: usize = 4096;
/// The common lag is compensated within this range, in seconds (the analysis' own lag range).
const MAX_LAG_SECONDS: f64 = crate::align::LIVE_LAG_RANGE_SECONDS;

/// One segment's energies (sums of squares of the mid) and length.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Segment {
    mix: f64,
    residual: f64,
    frames: usize,
}

/// One segment as drawn: its place in the analysed audio and the two levels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentLevel {
    /// Start, in seconds from the start of the analysed audio.
    pub start_s: f64,
    /// End, in seconds.
    pub end_s: f64,
    /// The mix's mid level, in dBFS (RMS; -200 for digital silence).
    pub mix_db: f32,
    /// The residual's mid level, in dBFS.
    pub residual_db: f32,
}

/// The residual and the mix's level over the analysed audio.
#[derive(Debug, Clone)]
pub struct ResidualTimeline {
    rate_hz: u32,
    /// Frames per segment now.
    segment_frames: usize,
    segments: Vec<Segment>,
    current: Segment,
    /// The lag compensation's reach, in samples.
    max_lag: usize,
    /// The mix's mid: the last `max_lag` samples, then the block.
    mix: Vec<f32>,
    /// The stems' sum's mid, likewise.
    sum: Vec<f32>,
}

/// Mean square to dBFS (-200 for silence).
fn db(energy: f64, frames: usize) -> f32 {
    if frames == 0 || energy <= 0.0 {
        return -200.0;
    }
    (10.0 * (energy / frames as f64).log10()) as f32
}

impl ResidualTimeline {
    /// An empty timeline for audio at `rate_hz`.
    pub fn new(rate_hz: u32) -> Self {
        let max_lag = (MAX_LAG_SECONDS * f64::from(rate_hz)).round() as usize;
        Self {
            rate_hz,
            segment_frames: ((SEGMENT_SECONDS * f64::from(rate_hz)).round() as usize).max(1),
            segments: Vec::new(),
            current: Segment::default(),
            max_lag,
            mix: vec![0.0; max_lag],
            sum: vec![0.0; max_lag],
        }
    }

    /// Takes in one analysed block: the mix and the stems analysed (left, right; all of one
    /// length), with the master `lag_samples` later than the stems (the analysis' common lag;
    /// clamped to the analysis' range).
    pub fn push(&mut self, mix: [&[f32]; 2], stems: &[[&[f32]; 2]], lag_samples: i64) {
        let len = mix[0].len();
        let d = self.max_lag;
        self.mix.truncate(d);
        self.sum.truncate(d);
        self.mix.extend(
            mix[0]
                .iter()
                .zip(mix[1])
                .map(|(l, r)| finite((l + r) * 0.5)),
        );
        self.sum.resize(d + len, 0.0);
        for stem in stems {
            for ((s, l), r) in self.sum[d..].iter_mut().zip(stem[0]).zip(stem[1]) {
                *s += finite((l + r) * 0.5);
            }
        }
        // The master later by `lag`: mix[n] against sum[n - lag].
        let lag = lag_samples.clamp(-(d as i64), d as i64);
        let (mix_back, sum_back) = (lag.min(0).unsigned_abs() as usize, lag.max(0) as usize);
        let mut start = 0;
        while start < len {
            let take = (self.segment_frames - self.current.frames).min(len - start);
            for n in start..start + take {
                let m = self.mix[d + n - mix_back];
                let r = m - self.sum[d + n - sum_back];
                self.current.mix += f64::from(m) * f64::from(m);
                self.current.residual += f64::from(r) * f64::from(r);
            }
            self.current.frames += take;
            start += take;
            if self.current.frames == self.segment_frames {
                self.end_segment();
            }
        }
        // Keep the last `d` samples for the next block's lag.
        let keep = self.mix.len() - d;
        self.mix.drain(..keep);
        self.sum.drain(..keep);
    }

    fn end_segment(&mut self) {
        self.segments.push(std::mem::take(&mut self.current));
        if self.segments.len() == MAX_SEGMENTS {
            // Full: neighbours merged, segments twice as long from here on.
            let merged: Vec<Segment> = self
                .segments
                .chunks(2)
                .map(|p| Segment {
                    mix: p.iter().map(|s| s.mix).sum(),
                    residual: p.iter().map(|s| s.residual).sum(),
                    frames: p.iter().map(|s| s.frames).sum(),
                })
                .collect();
            self.segments = merged;
            self.segment_frames *= 2;
        }
    }

    /// The segments so far (the last one partial), in time order.
    pub fn levels(&self) -> Vec<SegmentLevel> {
        let rate = f64::from(self.rate_hz);
        let mut at = 0usize;
        self.segments
            .iter()
            .chain((self.current.frames > 0).then_some(&self.current))
            .map(|s| {
                let start = at;
                at += s.frames;
                SegmentLevel {
                    start_s: start as f64 / rate,
                    end_s: at as f64 / rate,
                    mix_db: db(s.mix, s.frames),
                    residual_db: db(s.residual, s.frames),
                }
            })
            .collect()
    }
}

/// NaN and infinity count as silence (the analysis replaces them so too).
fn finite(x: f32) -> f32 {
    if x.is_finite() { x } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stereo(x: &[f32]) -> [&[f32]; 2] {
        [x, x]
    }

    #[test]
    fn the_residual_per_segment_is_the_mix_minus_the_sum_at_the_common_lag() {
        // 1 kHz rate: 100-frame segments. Mix: 0.5 everywhere (-6.02 dBFS). Stems: 0.25 + 0.25
        // for the first 200 frames (residual 0: silence), then 0.25 alone (residual 0.25,
        // -12.04 dBFS).
        let mut t = ResidualTimeline::new(1000);
        let mix = vec![0.5; 400];
        let a = vec![0.25; 400];
        let b: Vec<f32> = (0..400).map(|n| if n < 200 { 0.25 } else { 0.0 }).collect();
        // In two blocks of 250 and 150: the segments are cut the same.
        for r in [0..250, 250..400] {
            t.push(
                stereo(&mix[r.clone()]),
                &[stereo(&a[r.clone()]), stereo(&b[r])],
                0,
            );
        }
        let levels = t.levels();
        assert_eq!(levels.len(), 4);
        assert_eq!((levels[2].start_s, levels[2].end_s), (0.2, 0.3));
        for (i, l) in levels.iter().enumerate() {
            assert!((l.mix_db + 6.02).abs() < 0.01, "{l:?}");
            let want = if i < 2 { -200.0 } else { -12.04 };
            assert!((l.residual_db - want).abs() < 0.01, "{i}: {l:?}");
        }
    }

    #[test]
    fn a_master_later_than_the_stems_nulls_once_its_lag_is_compensated() {
        // An impulse train every 7 frames; the mix has it 3 frames later.
        let pulses: Vec<f32> = (0..1000)
            .map(|n| if n % 7 == 0 { 1.0 } else { 0.0 })
            .collect();
        let late: Vec<f32> = (0..1000)
            .map(|n| if n >= 3 { pulses[n - 3] } else { 0.0 })
            .collect();
        let mut t = ResidualTimeline::new(1000);
        t.push(stereo(&late), &[stereo(&pulses)], 3);
        // After the first segment (where the history starts at zero), silence.
        assert!(t.levels()[1..].iter().all(|l| l.residual_db == -200.0));
        let mut wrong = ResidualTimeline::new(1000);
        wrong.push(stereo(&late), &[stereo(&pulses)], 0);
        assert!(wrong.levels()[1..].iter().all(|l| l.residual_db > -10.0));
    }

    #[test]
    fn a_long_song_keeps_at_most_the_segment_bound() {
        // 1 kHz, 100-frame segments: 3 * MAX_SEGMENTS segments' worth of audio is merged twice
        // (200 then 400 frames), the whole length kept.
        let mut t = ResidualTimeline::new(1000);
        let block = vec![0.1; 10_000];
        for _ in 0..(3 * MAX_SEGMENTS * 100 / 10_000 + 1) {
            t.push(stereo(&block), &[], 0);
        }
        let levels = t.levels();
        assert!(levels.len() <= MAX_SEGMENTS, "{}", levels.len());
        let end = levels.last().unwrap().end_s;
        let frames = (3 * MAX_SEGMENTS * 100 / 10_000 + 1) * 10_000;
        assert!((end - frames as f64 / 1000.0).abs() < 1e-9, "{end}");
        assert!((levels[5].end_s - levels[5].start_s - 0.4).abs() < 1e-9);
    }
}
