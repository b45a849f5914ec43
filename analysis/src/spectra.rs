//! FFT plumbing: one planned real FFT size per analyzer, a Hann window, and scratch buffers,
//! all allocated when the analyzer is created.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

pub type Cf = Complex<f32>;
/// Accumulators are kept in double precision: they sum thousands of frames.
pub type Cd = Complex<f64>;

/// Forward and inverse real FFTs of one size, with their scratch space.
pub struct Fft {
    pub len: usize,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
    /// The analysis window (periodic Hann).
    pub window: Vec<f32>,
    scratch_forward: Vec<Cf>,
    scratch_inverse: Vec<Cf>,
    time: Vec<f32>,
    spectrum: Vec<Cf>,
}

impl Fft {
    pub fn new(len: usize) -> Self {
        let mut planner = RealFftPlanner::<f32>::new();
        let forward = planner.plan_fft_forward(len);
        let inverse = planner.plan_fft_inverse(len);
        let window = (0..len)
            .map(|i| {
                (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / len as f64).cos()) as f32
            })
            .collect();
        Self {
            len,
            scratch_forward: forward.make_scratch_vec(),
            scratch_inverse: inverse.make_scratch_vec(),
            time: vec![0.0; len],
            spectrum: vec![Cf::new(0.0, 0.0); len / 2 + 1],
            forward,
            inverse,
            window,
        }
    }

    /// Number of bins of a spectrum (`len / 2 + 1`).
    pub fn bins(&self) -> usize {
        self.len / 2 + 1
    }

    /// Transforms a frame that `fill(window, time)` writes into `time` already windowed (so
    /// that a frame read from elsewhere is copied once, not twice), into `out`.
    pub fn forward_with(&mut self, fill: impl FnOnce(&[f32], &mut [f32]), out: &mut [Cf]) {
        fill(&self.window, &mut self.time);
        // Lengths are fixed at construction, so this cannot fail.
        let _ = self
            .forward
            .process_with_scratch(&mut self.time, out, &mut self.scratch_forward);
    }

    /// Inverse transform of `spectrum` (its DC and Nyquist imaginary parts are ignored) into
    /// `out` (length `len`), unnormalised.
    pub fn inverse(&mut self, spectrum: &[Cf], out: &mut [f32]) {
        self.spectrum.copy_from_slice(spectrum);
        let last = self.spectrum.len() - 1;
        self.spectrum[0].im = 0.0;
        self.spectrum[last].im = 0.0;
        let _ =
            self.inverse
                .process_with_scratch(&mut self.spectrum, out, &mut self.scratch_inverse);
    }
}
