//! Offsets of any size, offline. The analysis times stems only within the live lag range
//! (+/-55 ms); a stem exported from its first region, or with seconds of pre-roll, is far
//! outside it. While the files stream through the first analysis pass, each one is kept
//! decimated (the mean of its mid over each hop of about 1 ms: a crude low-pass, and linear, so
//! the decimated mix is still the sum of the decimated stems); afterwards every stem's is
//! cross-correlated with the mix's over the whole length by FFT (GCC-PHAT over the band the
//! decimation keeps: whitening makes the peak as sharp as the stem's content allows, whatever
//! its colour). A stem whose best lag is outside the live range is shifted by it in a second
//! pass, where the analysis' own lag search refines it to the sample. Memory: one float per hop
//! and file.

use realfft::RealFftPlanner;
use realfft::num_complex::Complex;

/// The decimation's hop, in seconds (the coarse pass is exact to about one hop; the analysis
/// refines within its +/-55 ms).
const HOP_SECONDS: f64 = 0.001;
/// At most this many envelope points per file: longer files get a longer hop (a 10-minute
/// file at 48 kHz about 2.3 ms), so memory stays bounded (1 MB per file).
const MAX_ENVELOPE_POINTS: u64 = 1 << 18;
/// The longest hop, in seconds: the analysis refines a coarse lag within its +/-55 ms, so the
/// coarse pass must land well inside that.
const MAX_HOP_SECONDS: f64 = 0.020;
/// The share of the decimated band the correlation uses: the boxcar's aliasing fills the top.
const USED_BAND: f32 = 0.4;
/// A stem matches the mix at its best lag only if that correlation peak stands this far above
/// the correlation's RMS over all lags (a random pair reaches about 5 over 10^5 lags: the
/// maximum of Gaussian noise).
pub const MATCH_MIN_PROMINENCE: f32 = 8.0;
/// The analysis' own lag range (`MAX_LAG_SECONDS` in the analysis' config), in seconds: offsets
/// inside it are left to the analysis.
pub const LIVE_LAG_RANGE_SECONDS: f64 = 0.055;

/// The hop for files of about `frames` frames at `rate_hz`, in frames.
pub fn hop_frames(rate_hz: u32, frames: Option<u64>) -> usize {
    let base = (HOP_SECONDS * f64::from(rate_hz)).round().max(1.0) as u64;
    let longest = (MAX_HOP_SECONDS * f64::from(rate_hz)).round().max(1.0) as u64;
    let for_length = frames.map_or(base, |f| f.div_ceil(MAX_ENVELOPE_POINTS));
    base.max(for_length).min(longest) as usize
}

/// A file decimated (the mean of its mid over each hop), built block by block.
#[derive(Debug, Clone)]
pub struct Envelope {
    hop_frames: usize,
    sum: f64,
    count: usize,
    /// One mean per hop.
    pub points: Vec<f32>,
}

impl Envelope {
    pub fn new(hop_frames: usize) -> Self {
        Self {
            hop_frames,
            sum: 0.0,
            count: 0,
            points: Vec::new(),
        }
    }

    /// Takes in a block (left, right).
    pub fn push(&mut self, left: &[f32], right: &[f32]) {
        let mut start = 0;
        while start < left.len() {
            let take = (self.hop_frames - self.count).min(left.len() - start);
            let end = start + take;
            // Summed in f32 over at most a hop (vectorised); a non-finite piece counts as
            // silence: NaN and infinity are the analysis' business, not the timing's.
            let piece: f32 = left[start..end]
                .iter()
                .zip(&right[start..end])
                .map(|(l, r)| l + r)
                .sum();
            if piece.is_finite() {
                self.sum += f64::from(piece) * 0.5;
            }
            self.count += take;
            start = end;
            if self.count == self.hop_frames {
                self.points.push((self.sum / self.hop_frames as f64) as f32);
                self.sum = 0.0;
                self.count = 0;
            }
        }
    }
}

/// The signal with its mean removed.
fn centred(x: &[f32]) -> Vec<f32> {
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / x.len().max(1) as f64;
    x.iter().map(|&v| v - mean as f32).collect()
}

/// Where a stem's envelope best matches the mix's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoarseMatch {
    /// How late the stem is against the mix, in samples (a multiple of the hop; negative:
    /// early).
    pub late_samples: i64,
    /// The correlation peak over the correlation's RMS (see [`MATCH_MIN_PROMINENCE`]).
    pub prominence: f32,
}

impl CoarseMatch {
    /// The stem is found at `late_samples`.
    pub fn matches(&self) -> bool {
        self.prominence >= MATCH_MIN_PROMINENCE
    }

    /// The stem is found nowhere.
    pub fn matches_nothing(&self) -> bool {
        !self.matches()
    }
}

/// The stem's best lag against the mix over every lag the lengths allow, or `None` when the
/// stem (or the mix) is silent or constant.
pub fn coarse_match(stem: &[f32], mix: &[f32], hop_frames: usize) -> Option<CoarseMatch> {
    if stem.len() < 2 || mix.len() < 2 {
        return None;
    }
    let s = centred(stem);
    let m = centred(mix);
    let energy = |x: &[f32]| x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>();
    if energy(&s) <= 0.0 || energy(&m) <= 0.0 {
        return None;
    }
    let n = (s.len() + m.len()).next_power_of_two();
    let mut planner = RealFftPlanner::<f32>::new();
    let forward = planner.plan_fft_forward(n);
    let inverse = planner.plan_fft_inverse(n);
    let spectrum = |x: &[f32]| {
        let mut buffer = vec![0.0f32; n];
        buffer[..x.len()].copy_from_slice(x);
        let mut out = forward.make_output_vec();
        // The lengths match by construction: the transform cannot fail.
        forward.process(&mut buffer, &mut out).ok()?;
        Some(out)
    };
    let sm = spectrum(&s)?;
    let mm = spectrum(&m)?;
    // Cross-spectrum mix x conj(stem), whitened (PHAT): each frequency weighs alike, so the
    // peak is as sharp as the content allows, whatever its colour. Only the band the boxcar
    // decimation keeps clean is used.
    let mut cross: Vec<Complex<f32>> = mm.iter().zip(&sm).map(|(a, b)| a * b.conj()).collect();
    let largest = cross.iter().map(|c| c.norm()).fold(0.0f32, f32::max);
    let regularisation = largest * 1e-6 + f32::MIN_POSITIVE;
    let used = (USED_BAND * cross.len() as f32) as usize;
    for (i, c) in cross.iter_mut().enumerate() {
        if i < used {
            *c /= c.norm() + regularisation;
        } else {
            *c = Complex::new(0.0, 0.0);
        }
    }
    // The imaginary parts of the DC and Nyquist bins must be zero for a real inverse.
    cross[0].im = 0.0;
    if let Some(last) = cross.last_mut() {
        last.im = 0.0;
    }
    let mut r = inverse.make_output_vec();
    inverse.process(&mut cross, &mut r).ok()?;
    // r[k] = sum_n m[n + k] s[n]: a stem late by L hops peaks at k = -L (index n - L).
    let lags = (-(s.len() as i64 - 1))..(m.len() as i64);
    let at = |k: i64| r[k.rem_euclid(n as i64) as usize];
    let (mut best_k, mut best) = (0i64, f32::MIN);
    let mut sum_squares = 0.0f64;
    for k in lags.clone() {
        let v = at(k);
        sum_squares += f64::from(v) * f64::from(v);
        // Ties go to the smaller offset.
        if v > best || (v == best && k.abs() < best_k.abs()) {
            best = v;
            best_k = k;
        }
    }
    let rms = (sum_squares / (lags.end - lags.start) as f64).sqrt() as f32;
    Some(CoarseMatch {
        late_samples: -best_k * hop_frames as i64,
        prominence: if rms > 0.0 { best / rms } else { 0.0 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An envelope of clicks at seeded places: bursts of 3 hops at 0.5, else 0.001.
    fn clicks(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        let mut out = vec![0.001f32; len];
        let mut i = 0;
        while i + 3 < len {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            i += 20 + (state >> 58) as usize;
            let end = (i + 3).min(len);
            if i < end {
                out[i..end].fill(0.5);
            }
        }
        out
    }

    #[test]
    fn a_late_stem_is_found_at_its_lag_in_hops() {
        // The stem's clicks, 700 hops late; the mix has them plus another part's.
        let part = clicks(4000, 1);
        let other = clicks(4700, 2);
        let mut stem = vec![0.001f32; 700];
        stem.extend_from_slice(&part);
        let mix: Vec<f32> = (0..4700)
            .map(|i| part.get(i).copied().unwrap_or(0.001) + other[i])
            .collect();
        let m = coarse_match(&stem, &mix, 48).unwrap();
        assert_eq!(m.late_samples, 700 * 48);
        assert!(m.matches(), "prominence {}", m.prominence);
        // Early: the stem lacks the part's first 300 hops.
        let early = &part[300..];
        let m = coarse_match(early, &mix, 48).unwrap();
        assert_eq!(m.late_samples, -300 * 48);
    }

    #[test]
    fn an_unrelated_stem_matches_nothing_and_silence_is_no_match() {
        let mix = clicks(5000, 3);
        let stranger = clicks(5000, 4);
        let m = coarse_match(&stranger, &mix, 48).unwrap();
        assert!(m.matches_nothing(), "prominence {}", m.prominence);
        assert_eq!(coarse_match(&[0.0; 100], &mix, 48), None);
    }

    #[test]
    fn the_envelope_is_the_mean_of_the_mid_per_hop_whatever_the_blocks() {
        // Hop 4: mids 1, 1, 1, 1 | 0, 0, 2, 2 -> means 1.0 and 1.0; a NaN hop counts as silence.
        let left = [
            1.0,
            1.0,
            1.0,
            1.0,
            0.0,
            0.0,
            2.0,
            2.0,
            f32::NAN,
            0.0,
            0.0,
            0.0,
        ];
        let right = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 2.0, 2.0, 0.0, 0.0, 0.0, 0.0];
        let mut whole = Envelope::new(4);
        whole.push(&left, &right);
        let mut pieces = Envelope::new(4);
        for (l, r) in [(0, 3), (3, 9), (9, 12)] {
            pieces.push(&left[l..r], &right[l..r]);
        }
        assert_eq!(whole.points, vec![1.0, 1.0, 0.0]);
        assert_eq!(pieces.points, whole.points);
    }

    #[test]
    fn the_hop_grows_with_the_length_within_bounds() {
        assert_eq!(hop_frames(48_000, None), 48);
        assert_eq!(hop_frames(48_000, Some(48_000 * 60)), 48);
        // Ten minutes: 28.8 M frames / 262144 points.
        assert_eq!(hop_frames(48_000, Some(48_000 * 600)), 110);
        assert_eq!(hop_frames(48_000, Some(48_000 * 36_000)), 960);
    }
}
