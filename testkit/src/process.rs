//! Master-bus processing with known parameters: the defects the analysis must find.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::Stereo;

/// A stereo algorithmic reverb (parallel combs into series all-passes, with different delays
/// per channel so the tail is decorrelated, as a real return is).
pub struct Reverb {
    combs: [Vec<(Vec<f32>, usize, f32)>; 2],
    allpasses: [Vec<(Vec<f32>, usize)>; 2],
}

impl Reverb {
    /// Delay lengths scale with `sample_rate_hz` so the tail sounds the same at any rate;
    /// `seed` jitters them, so two reverbs on one master stay decorrelated.
    pub fn new(sample_rate_hz: f32, seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
        let scale = sample_rate_hz / 44_100.0;
        let comb_base = [1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617];
        let allpass_base = [556, 441, 341, 225];
        let make = |spread: usize, rng: &mut SmallRng| {
            let combs = comb_base
                .iter()
                .map(|&d| {
                    let len = ((d + spread + rng.gen_range(0..7)) as f32 * scale) as usize;
                    (vec![0.0; len], 0, 0.0)
                })
                .collect();
            let allpasses = allpass_base
                .iter()
                .map(|&d| (vec![0.0; ((d + spread) as f32 * scale) as usize], 0))
                .collect();
            (combs, allpasses)
        };
        let (cl, al) = make(0, &mut rng);
        let (cr, ar) = make(23, &mut rng);
        Self {
            combs: [cl, cr],
            allpasses: [al, ar],
        }
    }

    /// The wet signal for a mono send, at `level`.
    pub fn process(&mut self, send: &[f32], level: f32) -> Stereo {
        const FEEDBACK: f32 = 0.84;
        const DAMP: f32 = 0.2;
        let mut out = [vec![0.0; send.len()], vec![0.0; send.len()]];
        for c in 0..2 {
            for (i, &x) in send.iter().enumerate() {
                let input = x * 0.015;
                let mut acc = 0.0;
                for (buffer, pos, filter) in &mut self.combs[c] {
                    let y = buffer[*pos];
                    *filter = y * (1.0 - DAMP) + *filter * DAMP;
                    buffer[*pos] = input + *filter * FEEDBACK;
                    *pos = (*pos + 1) % buffer.len();
                    acc += y;
                }
                for (buffer, pos) in &mut self.allpasses[c] {
                    let delayed = buffer[*pos];
                    let y = -acc + delayed;
                    buffer[*pos] = acc + delayed * 0.5;
                    *pos = (*pos + 1) % buffer.len();
                    acc = y;
                }
                out[c][i] = acc * level;
            }
        }
        out
    }
}

/// A biquad filter (RBJ cookbook), applied to both channels.
#[derive(Debug, Clone, Copy)]
pub struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
}

impl Biquad {
    /// A peaking EQ at `hz` with `gain_db` and quality `q`.
    pub fn peaking(sample_rate_hz: f32, hz: f32, gain_db: f32, q: f32) -> Self {
        let a = 10f64.powf(f64::from(gain_db) / 40.0);
        let w = 2.0 * std::f64::consts::PI * f64::from(hz) / f64::from(sample_rate_hz);
        let alpha = w.sin() / (2.0 * f64::from(q));
        let a0 = 1.0 + alpha / a;
        Self {
            b: [
                (1.0 + alpha * a) / a0,
                -2.0 * w.cos() / a0,
                (1.0 - alpha * a) / a0,
            ],
            a: [-2.0 * w.cos() / a0, (1.0 - alpha / a) / a0],
        }
    }

    /// A high shelf at `hz` with `gain_db` (slope 1).
    pub fn high_shelf(sample_rate_hz: f32, hz: f32, gain_db: f32) -> Self {
        let a = 10f64.powf(f64::from(gain_db) / 40.0);
        let w = 2.0 * std::f64::consts::PI * f64::from(hz) / f64::from(sample_rate_hz);
        let (sin, cos) = (w.sin(), w.cos());
        let alpha = sin / 2.0 * 2f64.sqrt();
        let sq = 2.0 * a.sqrt() * alpha;
        let a0 = (a + 1.0) - (a - 1.0) * cos + sq;
        Self {
            b: [
                a * ((a + 1.0) + (a - 1.0) * cos + sq) / a0,
                -2.0 * a * ((a - 1.0) + (a + 1.0) * cos) / a0,
                a * ((a + 1.0) + (a - 1.0) * cos - sq) / a0,
            ],
            a: [
                2.0 * ((a - 1.0) - (a + 1.0) * cos) / a0,
                ((a + 1.0) - (a - 1.0) * cos - sq) / a0,
            ],
        }
    }

    /// Filters both channels from a silent state (a fresh filter per call, so it is pure).
    pub fn process(&self, signal: &Stereo) -> Stereo {
        let run = |x: &[f32]| {
            let (mut x1, mut x2, mut y1, mut y2) = (0.0f64, 0.0, 0.0, 0.0);
            x.iter()
                .map(|&v| {
                    let v = f64::from(v);
                    let y = self.b[0] * v + self.b[1] * x1 + self.b[2] * x2
                        - self.a[0] * y1
                        - self.a[1] * y2;
                    (x2, x1, y2, y1) = (x1, v, y1, y);
                    y as f32
                })
                .collect()
        };
        [run(&signal[0]), run(&signal[1])]
    }
}

/// A stereo-linked feed-forward compressor with a peak envelope.
#[derive(Debug, Clone, Copy)]
pub struct Compressor {
    /// Level above which gain is reduced, in dBFS.
    pub threshold_db: f32,
    /// Input dB over the threshold per output dB (4.0 means 4:1).
    pub ratio: f32,
    /// Envelope rise time, in milliseconds.
    pub attack_ms: f32,
    /// Envelope fall time, in milliseconds.
    pub release_ms: f32,
}

impl Compressor {
    /// Returns the compressed signal and the largest gain reduction applied, in dB.
    pub fn process(&self, signal: &Stereo, sample_rate_hz: f32) -> (Stereo, f32) {
        let attack = (-1.0 / (self.attack_ms * 0.001 * sample_rate_hz)).exp();
        let release = (-1.0 / (self.release_ms * 0.001 * sample_rate_hz)).exp();
        let mut env_db = -120.0f32;
        let mut max_gr = 0.0f32;
        let mut out = [
            Vec::with_capacity(signal[0].len()),
            Vec::with_capacity(signal[0].len()),
        ];
        for i in 0..signal[0].len() {
            let peak = signal[0][i].abs().max(signal[1][i].abs());
            let level_db = 20.0 * peak.max(1e-9).log10();
            let coeff = if level_db > env_db { attack } else { release };
            env_db = level_db + coeff * (env_db - level_db);
            let over = env_db - self.threshold_db;
            let gr = if over > 0.0 {
                over * (1.0 - 1.0 / self.ratio)
            } else {
                0.0
            };
            max_gr = max_gr.max(gr);
            let g = 10f32.powf(-gr / 20.0);
            out[0].push(signal[0][i] * g);
            out[1].push(signal[1][i] * g);
        }
        (out, max_gr)
    }
}

/// A stereo-linked look-ahead brickwall limiter: the gain at each sample is the least any
/// sample in the next `lookahead_ms` requires to stay under the ceiling, and recovers with a
/// one-pole release. Its output is aligned with its input (latency compensated, as on export).
#[derive(Debug, Clone, Copy)]
pub struct Limiter {
    /// The most any output sample reaches, in dBFS.
    pub ceiling_db: f32,
    /// How far ahead the gain looks, in milliseconds.
    pub lookahead_ms: f32,
    /// Gain recovery time constant, in milliseconds.
    pub release_ms: f32,
}

impl Limiter {
    /// Returns the limited signal and the largest gain reduction applied, in dB.
    pub fn process(&self, signal: &Stereo, sample_rate_hz: f32) -> (Stereo, f32) {
        let n = signal[0].len();
        let ceiling = 10f32.powf(self.ceiling_db / 20.0);
        let look = ((self.lookahead_ms * 0.001 * sample_rate_hz) as usize).max(1);
        let release = (-1.0 / (self.release_ms * 0.001 * sample_rate_hz)).exp();
        let required: Vec<f32> = (0..n)
            .map(|i| {
                let peak = signal[0][i].abs().max(signal[1][i].abs());
                if peak > ceiling { ceiling / peak } else { 1.0 }
            })
            .collect();
        let mut gain = 1.0f32;
        let mut least = 1.0f32;
        let mut out = [Vec::with_capacity(n), Vec::with_capacity(n)];
        for i in 0..n {
            let ahead = required[i..(i + look).min(n)]
                .iter()
                .fold(1.0f32, |m, &g| m.min(g));
            // Down at once to what is ahead, up slowly.
            gain = ahead.min(1.0 - release * (1.0 - gain));
            least = least.min(gain);
            out[0].push(signal[0][i] * gain);
            out[1].push(signal[1][i] * gain);
        }
        (out, -20.0 * least.log10())
    }
}

/// Delays by a whole number of samples (negative: advances), keeping the length.
pub fn delay_samples(signal: &Stereo, delay: i64) -> Stereo {
    let shift = |x: &[f32]| {
        (0..x.len() as i64)
            .map(|i| {
                let j = i - delay;
                if j >= 0 && (j as usize) < x.len() {
                    x[j as usize]
                } else {
                    0.0
                }
            })
            .collect()
    };
    [shift(&signal[0]), shift(&signal[1])]
}

/// Delays by a fraction of a sample with a long windowed-sinc interpolator (accurate to well
/// under 0.01 sample in the audio band).
pub fn delay_fractional(signal: &Stereo, delay: f64) -> Stereo {
    const HALF_TAPS: i64 = 64;
    let whole = delay.floor() as i64;
    let frac = delay - whole as f64;
    let taps: Vec<f64> = (-HALF_TAPS..=HALF_TAPS)
        .map(|k| {
            let x = k as f64 - frac;
            let sinc = if x.abs() < 1e-12 {
                1.0
            } else {
                (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
            };
            let w = 0.5 + 0.5 * (std::f64::consts::PI * x / (HALF_TAPS as f64 + 1.0)).cos();
            sinc * w
        })
        .collect();
    let run = |x: &[f32]| {
        (0..x.len() as i64)
            .map(|i| {
                let mut acc = 0.0f64;
                for (t, k) in taps.iter().zip(-HALF_TAPS..=HALF_TAPS) {
                    let j = i - whole - k;
                    if j >= 0 && (j as usize) < x.len() {
                        acc += t * f64::from(x[j as usize]);
                    }
                }
                acc as f32
            })
            .collect()
    };
    [run(&signal[0]), run(&signal[1])]
}
