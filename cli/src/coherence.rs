//! Does a stem belong to the mix at all? Its coherence with the mix in its own band, against
//! what chance gives.
//!
//! The model: a stem that is in the mix (at its place, whatever the master bus does with it:
//! gain, EQ, a compressor's slow gain, or a reverb return fed from it) is a linear part of the
//! mix in the bins it has energy in, so its magnitude-squared coherence with the mix there is
//! about its share of the mix's power in those bins, and stays so frame after frame. A stem from
//! another song is independent of the mix: with K averaged frames its coherence per bin is
//! Beta(1, K - 1) distributed, mean 1/K, whatever its band or level. The stem's coherence is
//! averaged over its bins weighted by its own power (its band), and compared with that chance
//! level. A pad or a reverb return under a compressed master stays far above it; so does any
//! stem that carries a real share of the mix where it plays.
//!
//! Streamed while the first pass reads the files: per file one frame of its mid at a time, per
//! stem the cross-spectrum with the mix and both auto-spectra. Memory is fixed (a frame and
//! three spectra per file), whatever the length.

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// Frame length, in samples (about 170 ms at 48 kHz: a stem offset within the analysis' lag
/// range, up to 55 ms, keeps most of its coherence).
const FRAME_SAMPLES: usize = 8192;
/// A stem is at chance when its coherence is at most this many times the chance level 1/K
/// (the power-weighted mean over hundreds of bins of Beta(1, K - 1) values stays well within
/// 3/K; a stem carrying 10% of the mix in its band sits at 0.1).
pub const CHANCE_MULTIPLE: f32 = 3.0;
/// Fewer frames than this decide nothing (about 3.4 s at 48 kHz): chance is too high.
pub const MIN_FRAMES: usize = 20;

/// The coherence of every stem with the mix, accumulated frame by frame (the mix is file 0).
pub struct Coherence {
    fft: Arc<dyn RealToComplex<f32>>,
    /// Per file: the current frame's mid samples.
    frames: Vec<Vec<f32>>,
    /// The Hann window.
    window: Vec<f32>,
    /// Per file: the last frame's spectrum (scratch).
    spectra: Vec<Vec<Complex<f32>>>,
    /// Per file: the sum of |X|^2 per bin over the frames.
    auto: Vec<Vec<f64>>,
    /// Per stem (index as files; 0 unused): the sum of mix x conj(stem) per bin.
    cross: Vec<Vec<Complex<f64>>>,
    /// Frames accumulated.
    count: usize,
    /// Scratch for the transform's input.
    input: Vec<f32>,
}

impl Coherence {
    /// For `files` files, the mix first.
    pub fn new(files: usize) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(FRAME_SAMPLES);
        let bins = FRAME_SAMPLES / 2 + 1;
        let window = (0..FRAME_SAMPLES)
            .map(|i| {
                let x = std::f32::consts::TAU * i as f32 / FRAME_SAMPLES as f32;
                0.5 - 0.5 * x.cos()
            })
            .collect();
        Self {
            fft,
            frames: (0..files)
                .map(|_| Vec::with_capacity(FRAME_SAMPLES))
                .collect(),
            window,
            spectra: (0..files)
                .map(|_| vec![Complex::new(0.0, 0.0); bins])
                .collect(),
            auto: (0..files).map(|_| vec![0.0; bins]).collect(),
            cross: (0..files)
                .map(|_| vec![Complex::new(0.0, 0.0); bins])
                .collect(),
            count: 0,
            input: vec![0.0; FRAME_SAMPLES],
        }
    }

    /// Takes in one block of every file (left, right; all of one length, the mix first).
    pub fn push(&mut self, files: &[[Vec<f32>; 2]]) {
        let len = files.first().map_or(0, |f| f[0].len());
        let mut start = 0;
        while start < len {
            let take = (FRAME_SAMPLES - self.frames[0].len()).min(len - start);
            for (frame, file) in self.frames.iter_mut().zip(files) {
                let (l, r) = (&file[0][start..start + take], &file[1][start..start + take]);
                frame.extend(l.iter().zip(r).map(|(l, r)| {
                    let mid = (l + r) * 0.5;
                    // NaN and infinity are the analysis' business: silence here.
                    if mid.is_finite() { mid } else { 0.0 }
                }));
            }
            start += take;
            if self.frames[0].len() == FRAME_SAMPLES {
                self.end_frame();
            }
        }
    }

    fn end_frame(&mut self) {
        for (i, frame) in self.frames.iter_mut().enumerate() {
            for ((x, &s), &w) in self.input.iter_mut().zip(frame.iter()).zip(&self.window) {
                *x = s * w;
            }
            // The lengths match by construction: the transform cannot fail.
            let _ = self.fft.process(&mut self.input, &mut self.spectra[i]);
            frame.clear();
        }
        let (mix, stems) = self.spectra.split_at(1);
        for (k, m) in mix[0].iter().enumerate() {
            self.auto[0][k] += f64::from(m.norm_sqr());
        }
        for (i, s) in stems.iter().enumerate() {
            let i = i + 1;
            for (k, (m, s)) in mix[0].iter().zip(s).enumerate() {
                self.auto[i][k] += f64::from(s.norm_sqr());
                let c = m * s.conj();
                self.cross[i][k] += Complex::new(f64::from(c.re), f64::from(c.im));
            }
        }
        self.count += 1;
    }

    /// Frames accumulated.
    #[cfg(test)]
    pub fn frames(&self) -> usize {
        self.count
    }

    /// The chance level of a stem's coherence: 1/K for K frames.
    pub fn chance(&self) -> f32 {
        1.0 / self.count.max(1) as f32
    }

    /// The stem's (file `index`) coherence with the mix, averaged over the bins weighted by the
    /// stem's power (its own band); `None` for the mix, a silent stem, a silent mix, or too few
    /// frames ([`MIN_FRAMES`]).
    pub fn of_stem(&self, index: usize) -> Option<f32> {
        if index == 0 || index >= self.auto.len() || self.count < MIN_FRAMES {
            return None;
        }
        let (mut weighted, mut total) = (0.0f64, 0.0f64);
        for k in 0..self.auto[0].len() {
            let (pm, ps) = (self.auto[0][k], self.auto[index][k]);
            if pm > 0.0 && ps > 0.0 {
                weighted += self.cross[index][k].norm_sqr() / pm;
                total += ps;
            }
        }
        // sum_k ps * |Sxy|^2 / (pm ps) / sum_k ps = sum_k |Sxy|^2 / pm / sum_k ps.
        (total > 0.0).then(|| (weighted / total) as f32)
    }

    /// Whether the stem's coherence with the mix is at chance ([`CHANCE_MULTIPLE`]).
    pub fn at_chance(&self, index: usize) -> bool {
        self.of_stem(index)
            .is_some_and(|c| c <= CHANCE_MULTIPLE * self.chance())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seeded white noise.
    fn noise(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    fn stereo(x: &[f32]) -> [Vec<f32>; 2] {
        [x.to_vec(), x.to_vec()]
    }

    #[test]
    fn a_stem_in_the_mix_is_coherent_and_a_stranger_is_at_chance() {
        // 60 frames. The mix is A + 0.3 B (B 10.5 dB down, under a 0.5 gain: a bus change)
        // ; A's coherence is its share of the mix's power, 1 / 1.09 = 0.92, B's 0.09 / 1.09 =
        // 0.083; C (another song) is at chance, 1/60 = 0.017.
        let len = FRAME_SAMPLES * 60;
        let (a, b, c) = (noise(len, 1), noise(len, 2), noise(len, 3));
        let mix: Vec<f32> = a.iter().zip(&b).map(|(a, b)| 0.5 * (a + 0.3 * b)).collect();
        let files = [stereo(&mix), stereo(&a), stereo(&b), stereo(&c)];
        let mut coherence = Coherence::new(4);
        // In uneven blocks: the frames are cut the same whatever the blocks.
        let mut start = 0;
        for step in [1000usize, 5000, 20_000].iter().cycle() {
            if start >= len {
                break;
            }
            let end = (start + step).min(len);
            let block: Vec<[Vec<f32>; 2]> = files
                .iter()
                .map(|f| [f[0][start..end].to_vec(), f[1][start..end].to_vec()])
                .collect();
            coherence.push(&block);
            start = end;
        }
        assert_eq!(coherence.frames(), 60);
        let of = |i| coherence.of_stem(i).unwrap();
        assert!((of(1) - 0.92).abs() < 0.03, "{}", of(1));
        assert!((of(2) - 0.083).abs() < 0.03, "{}", of(2));
        assert!(of(3) < 2.0 / 60.0, "{}", of(3));
        assert!(!coherence.at_chance(1) && !coherence.at_chance(2));
        assert!(coherence.at_chance(3));
        assert_eq!(coherence.of_stem(0), None);
    }

    #[test]
    fn too_few_frames_decide_nothing() {
        let x = noise(FRAME_SAMPLES * 5, 4);
        let mut coherence = Coherence::new(2);
        coherence.push(&[stereo(&x), stereo(&noise(x.len(), 5))]);
        assert_eq!(coherence.of_stem(1), None);
        assert!(!coherence.at_chance(1));
    }
}
