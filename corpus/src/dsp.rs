//! The mixing console's processing, small and correct: RBJ-cookbook biquads, a Linkwitz-Riley
//! crossover, a feed-forward compressor, a look-ahead brickwall limiter (with its latency), a
//! Freeverb-style stereo reverb, a tempo delay, mid/side width and constant-power panning.
//! Offline, on whole buffers (the corpus renders files, it is not a plugin), in `f64` state.

use std::f64::consts::PI;

/// A stereo signal: left and right, equal lengths.
pub type Stereo = [Vec<f32>; 2];

/// A silent stereo buffer of `len` frames.
pub fn silence(len: usize) -> Stereo {
    [vec![0.0; len], vec![0.0; len]]
}

/// Decibels to a linear gain.
pub fn db_to_gain(db: f64) -> f64 {
    10f64.powf(db / 20.0)
}

/// Linear gain to decibels (floor -400 dB).
pub fn gain_to_db(gain: f64) -> f64 {
    20.0 * gain.abs().max(1e-20).log10()
}

/// Adds `src * gain` into `dst` (lengths may differ: the shorter wins).
pub fn add_into(dst: &mut Stereo, src: &Stereo, gain: f64) {
    for (d, s) in dst.iter_mut().zip(src) {
        for (a, b) in d.iter_mut().zip(s) {
            *a = (f64::from(*a) + f64::from(*b) * gain) as f32;
        }
    }
}

/// Scales a stereo signal in place.
pub fn scale(x: &mut Stereo, gain: f64) {
    for ch in x.iter_mut() {
        for v in ch.iter_mut() {
            *v = (f64::from(*v) * gain) as f32;
        }
    }
}

/// Sample peak over both channels (linear).
pub fn peak(x: &Stereo) -> f64 {
    x.iter()
        .flat_map(|c| c.iter())
        .fold(0.0f64, |m, v| m.max(f64::from(v.abs())))
}

/// RMS over both channels in a frame range (linear).
pub fn rms(x: &Stereo, from: usize, to: usize) -> f64 {
    let to = to.min(x[0].len());
    if to <= from {
        return 0.0;
    }
    let sum: f64 = x
        .iter()
        .flat_map(|c| c[from..to].iter())
        .map(|v| f64::from(*v).powi(2))
        .sum();
    (sum / (2 * (to - from)) as f64).sqrt()
}

/// Constant-power pan of a mono-ish stereo source: `pan` from -1 (left) to +1 (right).
pub fn pan(x: &mut Stereo, pan: f64) {
    let angle = (pan.clamp(-1.0, 1.0) + 1.0) * PI / 4.0;
    // Unity at the centre: both sides at -3 dB there, times sqrt(2).
    let (l, r) = (angle.cos() * 2f64.sqrt(), angle.sin() * 2f64.sqrt());
    for v in x[0].iter_mut() {
        *v = (f64::from(*v) * l) as f32;
    }
    for v in x[1].iter_mut() {
        *v = (f64::from(*v) * r) as f32;
    }
}

/// Stereo width by mid/side scaling: 0 folds to mono, 1 leaves the signal as it is, above 1
/// widens (the side grows, the mid stays). A console's width knob before the pan.
pub fn width(x: &mut Stereo, width: f64) {
    let [l, r] = x;
    for (a, b) in l.iter_mut().zip(r.iter_mut()) {
        let (left, right) = (f64::from(*a), f64::from(*b));
        let mid = 0.5 * (left + right);
        let side = 0.5 * (left - right) * width;
        *a = (mid + side) as f32;
        *b = (mid - side) as f32;
    }
}

/// Which RBJ cookbook response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// 12 dB/octave low-pass (Q 0.707: Butterworth).
    LowPass,
    /// 12 dB/octave high-pass.
    HighPass,
    /// Bell with a gain in dB.
    Peak {
        /// Gain at the centre, in dB.
        gain_db: f64,
    },
    /// Shelf below the frequency.
    LowShelf {
        /// Gain of the shelf, in dB.
        gain_db: f64,
    },
    /// Shelf above the frequency.
    HighShelf {
        /// Gain of the shelf, in dB.
        gain_db: f64,
    },
}

/// One biquad section's coefficients (normalised, a0 = 1).
#[derive(Debug, Clone, Copy)]
pub struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
}

impl Biquad {
    /// RBJ Audio EQ Cookbook coefficients.
    pub fn new(shape: Shape, freq_hz: f64, q: f64, sample_rate_hz: f64) -> Self {
        let w0 = 2.0 * PI * freq_hz.min(sample_rate_hz * 0.49) / sample_rate_hz;
        let (sin, cos) = w0.sin_cos();
        let alpha = sin / (2.0 * q);
        let (b, a0, a) = match shape {
            Shape::LowPass => (
                [(1.0 - cos) / 2.0, 1.0 - cos, (1.0 - cos) / 2.0],
                1.0 + alpha,
                [-2.0 * cos, 1.0 - alpha],
            ),
            Shape::HighPass => (
                [(1.0 + cos) / 2.0, -(1.0 + cos), (1.0 + cos) / 2.0],
                1.0 + alpha,
                [-2.0 * cos, 1.0 - alpha],
            ),
            Shape::Peak { gain_db } => {
                let g = 10f64.powf(gain_db / 40.0);
                (
                    [1.0 + alpha * g, -2.0 * cos, 1.0 - alpha * g],
                    1.0 + alpha / g,
                    [-2.0 * cos, 1.0 - alpha / g],
                )
            }
            Shape::LowShelf { gain_db } => {
                let g = 10f64.powf(gain_db / 40.0);
                let k = 2.0 * g.sqrt() * alpha;
                (
                    [
                        g * ((g + 1.0) - (g - 1.0) * cos + k),
                        2.0 * g * ((g - 1.0) - (g + 1.0) * cos),
                        g * ((g + 1.0) - (g - 1.0) * cos - k),
                    ],
                    (g + 1.0) + (g - 1.0) * cos + k,
                    [
                        -2.0 * ((g - 1.0) + (g + 1.0) * cos),
                        (g + 1.0) + (g - 1.0) * cos - k,
                    ],
                )
            }
            Shape::HighShelf { gain_db } => {
                let g = 10f64.powf(gain_db / 40.0);
                let k = 2.0 * g.sqrt() * alpha;
                (
                    [
                        g * ((g + 1.0) + (g - 1.0) * cos + k),
                        -2.0 * g * ((g - 1.0) + (g + 1.0) * cos),
                        g * ((g + 1.0) + (g - 1.0) * cos - k),
                    ],
                    (g + 1.0) - (g - 1.0) * cos + k,
                    [
                        2.0 * ((g - 1.0) - (g + 1.0) * cos),
                        (g + 1.0) - (g - 1.0) * cos - k,
                    ],
                )
            }
        };
        Self {
            b: [b[0] / a0, b[1] / a0, b[2] / a0],
            a: [a[0] / a0, a[1] / a0],
        }
    }

    /// Filters one channel in place (transposed direct form II).
    pub fn run(&self, x: &mut [f32]) {
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for v in x.iter_mut() {
            let input = f64::from(*v);
            let out = self.b[0] * input + s1;
            s1 = self.b[1] * input - self.a[0] * out + s2;
            s2 = self.b[2] * input - self.a[1] * out;
            *v = out as f32;
        }
    }

    /// Filters both channels in place.
    pub fn run_stereo(&self, x: &mut Stereo) {
        for ch in x.iter_mut() {
            self.run(ch);
        }
    }
}

/// Applies a chain of EQ bands `(shape, freq_hz, q)` to both channels.
pub fn eq(x: &mut Stereo, bands: &[(Shape, f64, f64)], sample_rate_hz: f64) {
    for &(shape, f, q) in bands {
        Biquad::new(shape, f, q, sample_rate_hz).run_stereo(x);
    }
}

/// Butterworth Q: two of these in cascade make a 4th-order Linkwitz-Riley section.
const BUTTERWORTH_Q: f64 = std::f64::consts::FRAC_1_SQRT_2;

/// Splits a signal at `freq_hz` with a 4th-order Linkwitz-Riley crossover: (low, high). The two
/// outputs are in phase at every frequency and sum to an all-pass (flat magnitude).
pub fn linkwitz_riley_split(x: &Stereo, freq_hz: f64, sample_rate_hz: f64) -> (Stereo, Stereo) {
    let mut low = x.clone();
    let mut high = x.clone();
    let lp = Biquad::new(Shape::LowPass, freq_hz, BUTTERWORTH_Q, sample_rate_hz);
    let hp = Biquad::new(Shape::HighPass, freq_hz, BUTTERWORTH_Q, sample_rate_hz);
    lp.run_stereo(&mut low);
    lp.run_stereo(&mut low);
    hp.run_stereo(&mut high);
    hp.run_stereo(&mut high);
    (low, high)
}

/// A feed-forward stereo-linked compressor (peak detector in dB, soft knee).
#[derive(Debug, Clone, Copy)]
pub struct Compressor {
    /// Level where compression starts, in dBFS (peak detector).
    pub threshold_db: f64,
    /// Input dB over the threshold per output dB (4.0: 4:1).
    pub ratio: f64,
    /// Width of the soft knee, in dB.
    pub knee_db: f64,
    /// Time constant of the gain going down, in ms.
    pub attack_ms: f64,
    /// Time constant of the gain recovering, in ms.
    pub release_ms: f64,
    /// Gain after compression, in dB.
    pub makeup_db: f64,
}

impl Compressor {
    /// Static curve: gain reduction in dB (<= 0) for a level in dB.
    fn reduction_db(&self, level_db: f64) -> f64 {
        let over = level_db - self.threshold_db;
        let slope = 1.0 / self.ratio - 1.0;
        if 2.0 * over <= -self.knee_db {
            0.0
        } else if 2.0 * over >= self.knee_db {
            slope * over
        } else {
            slope * (over + self.knee_db / 2.0).powi(2) / (2.0 * self.knee_db)
        }
    }

    /// Compresses in place; returns the largest gain reduction applied, in dB (>= 0).
    pub fn run(&self, x: &mut Stereo, sample_rate_hz: f64) -> f64 {
        let coef = |ms: f64| (-1.0 / (ms * 0.001 * sample_rate_hz)).exp();
        let (att, rel) = (coef(self.attack_ms), coef(self.release_ms));
        let makeup = db_to_gain(self.makeup_db);
        let mut smoothed_db = 0.0f64;
        let mut most_db = 0.0f64;
        for i in 0..x[0].len() {
            let level = f64::from(x[0][i].abs().max(x[1][i].abs()));
            let target_db = self.reduction_db(gain_to_db(level));
            // Reduction deepens at the attack rate, recovers at the release rate.
            let c = if target_db < smoothed_db { att } else { rel };
            smoothed_db = target_db + c * (smoothed_db - target_db);
            most_db = most_db.max(-smoothed_db);
            let g = db_to_gain(smoothed_db) * makeup;
            x[0][i] = (f64::from(x[0][i]) * g) as f32;
            x[1][i] = (f64::from(x[1][i]) * g) as f32;
        }
        most_db
    }
}

/// A look-ahead brickwall limiter: the gain reaches its floor before the peak (within the
/// look-ahead), so no sample leaves above the ceiling. Returns the output aligned with the input
/// (latency compensated, as a host does on export) and the latency in samples the plugin reports.
pub fn limit(
    x: &mut Stereo,
    ceiling_db: f64,
    lookahead_ms: f64,
    release_ms: f64,
    sample_rate_hz: f64,
) -> usize {
    let n = x[0].len();
    let look = ((lookahead_ms * 0.001 * sample_rate_hz).round() as usize).max(1);
    let ceiling = db_to_gain(ceiling_db);
    let required: Vec<f64> = (0..n)
        .map(|i| {
            let p = f64::from(x[0][i].abs().max(x[1][i].abs()));
            if p > ceiling { ceiling / p } else { 1.0 }
        })
        .collect();
    // The smallest required gain over the next `look` samples...
    let ahead: Vec<f64> = (0..n)
        .map(|i| {
            required[i..(i + look).min(n)]
                .iter()
                .fold(1.0f64, |m, &g| m.min(g))
        })
        .collect();
    // ...averaged over the last `look` samples: every term's window covers sample i, so the
    // smooth gain never exceeds what sample i requires.
    let mut sum = 0.0f64;
    let rel = (-1.0 / (release_ms * 0.001 * sample_rate_hz)).exp();
    let mut env = 1.0f64;
    for i in 0..n {
        sum += ahead[i];
        if i >= look {
            sum -= ahead[i - look];
        }
        // Before a full window, the average is padded with unity gain (nothing before the start).
        let smooth = (sum + look.saturating_sub(i + 1) as f64) / look as f64;
        // Release: the gain recovers smoothly, never above what the look-ahead allows.
        env = smooth.min(1.0 - rel * (1.0 - env));
        let g = env.min(required[i]);
        x[0][i] = (f64::from(x[0][i]) * g) as f32;
        x[1][i] = (f64::from(x[1][i]) * g) as f32;
    }
    look
}

/// Delays a signal by `samples` (positive: later, zeros in front; negative: earlier, the start
/// dropped), keeping its length.
pub fn shift(x: &Stereo, samples: i64) -> Stereo {
    let n = x[0].len();
    let mut out = silence(n);
    for (o, c) in out.iter_mut().zip(x) {
        for (i, v) in o.iter_mut().enumerate() {
            let j = i as i64 - samples;
            if j >= 0 && (j as usize) < n {
                *v = c[j as usize];
            }
        }
    }
    out
}

/// Freeverb's comb and all-pass tunings at 44.1 kHz, and its stereo spread.
const COMB_TUNING: [usize; 8] = [1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617];
const ALLPASS_TUNING: [usize; 4] = [556, 441, 341, 225];
const STEREO_SPREAD: usize = 23;

/// A Freeverb-style stereo reverb (8 damped feedback combs, 4 all-passes per side) with a
/// pre-delay: returns the 100% wet return of a send.
pub fn reverb(
    send: &Stereo,
    room: f64,
    damp: f64,
    predelay_ms: f64,
    sample_rate_hz: f64,
) -> Stereo {
    let n = send[0].len();
    let scale = sample_rate_hz / 44_100.0;
    let pre = (predelay_ms * 0.001 * sample_rate_hz) as usize;
    // Freeverb's mapping of room size to comb feedback (0.7 to 0.98).
    let feedback = 0.7 + 0.28 * room.clamp(0.0, 1.0);
    let mut out = silence(n);
    for (side, o) in out.iter_mut().enumerate() {
        let spread = side * STEREO_SPREAD;
        let mut combs: Vec<(Vec<f64>, usize, f64)> = COMB_TUNING
            .iter()
            .map(|&t| (vec![0.0; ((t + spread) as f64 * scale) as usize], 0, 0.0))
            .collect();
        let mut allpasses: Vec<(Vec<f64>, usize)> = ALLPASS_TUNING
            .iter()
            .map(|&t| (vec![0.0; ((t + spread) as f64 * scale) as usize], 0))
            .collect();
        for i in 0..n {
            // Freeverb's fixed input gain (0.015) keeps 8 summed combs near unity.
            let input = if i >= pre {
                0.5 * (f64::from(send[0][i - pre]) + f64::from(send[1][i - pre])) * 0.015
            } else {
                0.0
            };
            let mut acc = 0.0;
            for (buf, pos, store) in combs.iter_mut() {
                let y = buf[*pos];
                *store = y * (1.0 - damp) + *store * damp;
                buf[*pos] = input + *store * feedback;
                *pos = (*pos + 1) % buf.len();
                acc += y;
            }
            for (buf, pos) in allpasses.iter_mut() {
                let b = buf[*pos];
                buf[*pos] = acc + b * 0.5;
                acc = b - acc;
                *pos = (*pos + 1) % buf.len();
            }
            o[i] = acc as f32;
        }
    }
    out
}

/// A ping-pong tempo delay with a low-passed feedback path: the wet return of a send.
pub fn tempo_delay(send: &Stereo, delay_s: f64, feedback: f64, sample_rate_hz: f64) -> Stereo {
    let n = send[0].len();
    let d = (delay_s * sample_rate_hz).round() as usize;
    let mut out = silence(n);
    let lp = Biquad::new(Shape::LowPass, 4_500.0, BUTTERWORTH_Q, sample_rate_hz);
    let hp = Biquad::new(Shape::HighPass, 250.0, BUTTERWORTH_Q, sample_rate_hz);
    let mut mono: Vec<f32> = (0..n).map(|i| 0.5 * (send[0][i] + send[1][i])).collect();
    hp.run(&mut mono);
    lp.run(&mut mono);
    // Ping-pong: echo k lands on the left for odd k, the right for even k.
    let mut gain = 1.0f64;
    for k in 1..=12 {
        let offset = k * d;
        if offset >= n {
            break;
        }
        let side = (k + 1) % 2;
        for i in offset..n {
            out[side][i] = (f64::from(out[side][i]) + f64::from(mono[i - offset]) * gain) as f32;
        }
        gain *= feedback;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossover_outputs_sum_to_flat_magnitude() {
        // An LR4 split sums to an all-pass: the energy of an impulse's sum equals the input's (1).
        let mut x = silence(4096);
        x[0][0] = 1.0;
        x[1][0] = 1.0;
        let (low, high) = linkwitz_riley_split(&x, 90.0, 48_000.0);
        let mut sum = low.clone();
        add_into(&mut sum, &high, 1.0);
        let energy: f64 = sum[0].iter().map(|v| f64::from(*v).powi(2)).sum();
        assert!((energy - 1.0).abs() < 1e-3, "energy {energy}");
    }

    #[test]
    fn limiter_never_exceeds_its_ceiling() {
        let mut x: Stereo = [
            (0..48_000)
                .map(|i| ((i as f32) * 0.05).sin() * 1.8)
                .collect(),
            (0..48_000)
                .map(|i| ((i as f32) * 0.031).sin() * 0.5)
                .collect(),
        ];
        limit(&mut x, -1.0, 1.5, 50.0, 48_000.0);
        assert!(
            gain_to_db(peak(&x)) <= -1.0 + 1e-6,
            "{}",
            gain_to_db(peak(&x))
        );
    }

    #[test]
    fn width_folds_to_mono_and_widens_the_side_only() {
        // (l, r) = (1.0, 0.5): mid 0.75, side 0.25. Width 0: both 0.75; width 2: side 0.5, so
        // (1.25, 0.25).
        let mut x: Stereo = [vec![1.0], vec![0.5]];
        width(&mut x, 0.0);
        assert_eq!((x[0][0], x[1][0]), (0.75, 0.75));
        let mut y: Stereo = [vec![1.0], vec![0.5]];
        width(&mut y, 2.0);
        assert_eq!((y[0][0], y[1][0]), (1.25, 0.25));
    }

    #[test]
    fn peak_eq_gain_at_centre() {
        // A +6 dB bell at 1 kHz lifts a 1 kHz sine by 6 dB.
        let sr = 48_000.0;
        let mut x: Vec<f32> = (0..48_000)
            .map(|i| (2.0 * PI * 1000.0 * i as f64 / sr).sin() as f32)
            .collect();
        Biquad::new(Shape::Peak { gain_db: 6.0 }, 1000.0, 1.0, sr).run(&mut x);
        let p = x[24_000..].iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!((gain_to_db(f64::from(p)) - 6.0).abs() < 0.05);
    }
}
