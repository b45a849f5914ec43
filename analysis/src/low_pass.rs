//! A steep Butterworth low pass (a cascade of biquads, double-precision state), used to
//! band-limit the null residual when a file was resampled to compare: above the pass band of
//! the lowest rate, two resamplers (the one that made the file and the checker's) cut
//! differently, and what they leave is not a defect of the delivery. Filtering the residual is
//! filtering master and sum alike (the filter is linear), so it changes no relation between
//! them below the cut-off.

use crate::config::LOW_PASS_SECTIONS;

/// Filter states below this are flushed to zero after each block: decaying through silence
/// they would otherwise become subnormal, and slow.
const FLUSH_BELOW: f64 = 1e-30;

/// One second-order section's coefficients, normalised (`a0 = 1`).
#[derive(Debug, Clone, Copy)]
struct Section {
    b: [f64; 3],
    a: [f64; 2],
}

/// A Butterworth low pass of order `2 * LOW_PASS_SECTIONS` for one channel.
#[derive(Debug, Clone)]
pub(crate) struct LowPass {
    sections: [Section; LOW_PASS_SECTIONS],
    /// Per section: the transposed direct form II state.
    state: [[f64; 2]; LOW_PASS_SECTIONS],
}

impl LowPass {
    /// A low pass at `cutoff_hz` (-3 dB) for audio at `sample_rate_hz`; `None` if the cut-off
    /// is not below Nyquist (nothing to cut) or not positive.
    pub(crate) fn new(cutoff_hz: f32, sample_rate_hz: f32) -> Option<Self> {
        let (fc, fs) = (f64::from(cutoff_hz), f64::from(sample_rate_hz));
        if !(fc > 0.0 && fc < 0.5 * fs) {
            return None;
        }
        // Bilinear transform with the cut-off pre-warped; the analog poles of a Butterworth of
        // order n lie on the unit circle at pi (2k + 1) / (2n) from the negative real axis, a
        // conjugate pair per section with Q = 1 / (2 cos angle).
        let k = (std::f64::consts::PI * fc / fs).tan();
        let order = 2 * LOW_PASS_SECTIONS;
        let sections = std::array::from_fn(|i| {
            let angle = std::f64::consts::PI * (2 * i + 1) as f64 / (2 * order) as f64;
            let q = 1.0 / (2.0 * angle.cos());
            let a0 = 1.0 + k / q + k * k;
            let b0 = k * k / a0;
            Section {
                b: [b0, 2.0 * b0, b0],
                a: [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0],
            }
        });
        Some(Self {
            sections,
            state: [[0.0; 2]; LOW_PASS_SECTIONS],
        })
    }

    /// Filters `samples` in place, going on from the last call.
    pub(crate) fn process(&mut self, samples: &mut [f32]) {
        let mut s = self.state;
        for x in samples.iter_mut() {
            let mut v = f64::from(*x);
            for (c, st) in self.sections.iter().zip(s.iter_mut()) {
                let y = c.b[0] * v + st[0];
                st[0] = c.b[1] * v - c.a[0] * y + st[1];
                st[1] = c.b[2] * v - c.a[1] * y;
                v = y;
            }
            *x = v as f32;
        }
        for st in s.iter_mut().flatten() {
            if st.abs() < FLUSH_BELOW {
                *st = 0.0;
            }
        }
        self.state = s;
    }

    /// Forgets the past (a new stretch of audio that does not continue the last).
    pub(crate) fn reset(&mut self) {
        self.state = [[0.0; 2]; LOW_PASS_SECTIONS];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gain of the filter on a sine at `hz`, in dB, measured after the transient.
    fn gain_db(filter: &mut LowPass, rate: f32, hz: f32) -> f64 {
        filter.reset();
        let n = rate as usize;
        let mut x: Vec<f32> = (0..n)
            .map(|i| (std::f32::consts::TAU * hz * i as f32 / rate).sin())
            .collect();
        filter.process(&mut x);
        let steady = &x[n / 2..];
        let energy: f64 = steady.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        10.0 * (energy / (steady.len() as f64 * 0.5)).log10()
    }

    #[test]
    fn passes_the_band_and_cuts_steeply_above_it() {
        let rate = 48_000.0;
        let mut f = LowPass::new(16_500.0, rate).unwrap();
        // Flat in the pass band (a Butterworth is maximally flat) ...
        for hz in [100.0, 1_000.0, 8_000.0, 12_000.0] {
            let g = gain_db(&mut f, rate, hz);
            assert!(g.abs() < 0.05, "{hz} Hz: {g:.3} dB");
        }
        // ... -3 dB at the cut-off ...
        let g = gain_db(&mut f, rate, 16_500.0);
        assert!((g + 3.01).abs() < 0.1, "cut-off: {g:.2} dB");
        // ... and steep above (order 10 after the bilinear transform's warp).
        let g = gain_db(&mut f, rate, 19_500.0);
        assert!(g < -30.0, "19.5 kHz: {g:.1} dB");
        let g = gain_db(&mut f, rate, 21_000.0);
        assert!(g < -48.0, "21 kHz: {g:.1} dB");
    }

    #[test]
    fn a_cut_off_at_or_above_nyquist_is_no_filter() {
        assert!(LowPass::new(24_000.0, 48_000.0).is_none());
        assert!(LowPass::new(0.0, 48_000.0).is_none());
        assert!(LowPass::new(f32::NAN, 48_000.0).is_none());
    }
}
