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

/// A file decimated, built block by block: per hop, the mean of its mid (its content below
/// about 0.4 / hop, linear), and the energy of its mid and of its mid's first difference (a
/// +6 dB/octave tilt: its content in the mids and highs), whose onsets time tonal parts above the
/// low band too.
#[derive(Debug, Clone)]
pub struct Envelope {
    hop_frames: usize,
    sum: f64,
    sum_squares: f64,
    diff_squares: f64,
    /// The last mid sample taken in (for the first difference across blocks).
    last_mid: f32,
    count: usize,
    /// One mean per hop.
    pub points: Vec<f32>,
    /// Per hop: the mean square of the mid (broadband energy).
    pub energy: Vec<f32>,
    /// Per hop: the mean square of the mid's first difference (energy tilted to the highs).
    pub high_energy: Vec<f32>,
    /// The same file decimated with its hops started later by a fraction of a hop (the delay,
    /// in frames, and its envelope), for the mix and the residual only (see
    /// [`Envelope::with_phases`]).
    phases: Vec<(usize, Envelope)>,
}

/// Sub-hop phases the mix's envelope is also kept at (see [`Envelope::with_phases`]).
const PHASES: usize = 4;
/// The mix's sub-hop phases are searched only when its plain envelope's best peak is under this
/// prominence (the offset search's threshold for moving a stem on its own).
const PHASES_BELOW_PROMINENCE: f32 = 16.0;
/// ... and a phase's peak is taken only this near the plain envelope's, in seconds (the
/// analysis' own lag range, which refines what the coarse pass finds).
const PHASES_WITHIN_SECONDS: f64 = LIVE_LAG_RANGE_SECONDS;
/// ... or anywhere, when it is clear of any other peak by this ratio (runner-up over best): the
/// plain envelope may have lost the peak altogether (a sax 1.5 s early at 44.1 kHz in a short
/// session: found at another lag, 9.9, runner-up 0.87; at the nearest phase exact, 20.5, 0.41),
/// but a delay return's echo outdid its place at 21.6 with a runner-up of 0.57.
const PHASES_ELSEWHERE_MAX_RUNNER_UP_RATIO: f32 = 0.5;

impl Envelope {
    pub fn new(hop_frames: usize) -> Self {
        Self {
            hop_frames,
            sum: 0.0,
            sum_squares: 0.0,
            diff_squares: 0.0,
            last_mid: 0.0,
            count: 0,
            points: Vec::new(),
            energy: Vec::new(),
            high_energy: Vec::new(),
            phases: Vec::new(),
        }
    }

    /// An envelope that is also kept at [`PHASES`] - 1 sub-hop phases: its hops started a
    /// quarter, a half and three quarters of a hop later. A stem whose offset is not a whole
    /// number of hops (most are not: 4.25 s at 44.1 kHz is 4259.66 hops of 44 frames) is
    /// decimated over other stretches of its part than the mix is; what the boxcar aliases
    /// into the envelope's band then differs between the two, and the whitened correlation,
    /// which weighs that band like any other, lost its peak (prominence 162 at a whole number
    /// of hops, 9 half a hop off). Against the mix at the nearest phase the stem is at most an
    /// eighth of a hop off. Kept for the mix only (see [`match_envelopes`] for when the
    /// phases are searched).
    pub fn with_phases(hop_frames: usize) -> Self {
        let mut out = Self::new(hop_frames);
        out.phases = (1..PHASES)
            .map(|k| (k * hop_frames).div_ceil(PHASES))
            .filter(|&delay| delay > 0 && delay < hop_frames)
            .map(|delay| {
                let mut phase = Self::new(hop_frames);
                // Its first hop closes after `delay` frames: every later hop starts `delay`
                // frames after the plain envelope's.
                phase.count = hop_frames - delay;
                (delay, phase)
            })
            .collect();
        out
    }

    /// The hop, in frames.
    pub fn hop_frames(&self) -> usize {
        self.hop_frames
    }

    /// What the mix holds of one stem, from the envelope of the residual (the mix minus every
    /// stem, as delivered) and the stem's own: the mix minus every *other* stem. The points
    /// (means) add exactly; the energies are the residual's less the stem's, a stem misplaced
    /// by more than a hop being uncorrelated with its place in the mix hop by hop (its copy in
    /// the residual, with the sign flipped, is its own energy). The other stems' parts are
    /// gone: a part in a song of repeated bars matches its own place, not every bar where the
    /// band plays alike.
    pub fn isolated(residual: &Envelope, stem: &Envelope) -> Envelope {
        let add = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x + y).collect();
        let less = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).max(0.0)).collect();
        Envelope {
            points: add(&residual.points, &stem.points),
            energy: less(&residual.energy, &stem.energy),
            high_energy: less(&residual.high_energy, &stem.high_energy),
            ..Envelope::new(residual.hop_frames)
        }
    }

    /// Takes in a block (left, right).
    pub fn push(&mut self, left: &[f32], right: &[f32]) {
        for (_, phase) in &mut self.phases {
            phase.push(left, right);
        }
        let right = &right[..left.len()];
        let mut start = 0;
        while start < left.len() {
            let take = (self.hop_frames - self.count).min(left.len() - start);
            let end = start + take;
            let piece = piece_sums(&left[start..end], &right[start..end]);
            self.take_piece(piece, take);
            start = end;
        }
    }

    /// Adds a piece of `take` frames (within a hop) whose sums are `piece`; closes the hop
    /// when it is full.
    fn take_piece(&mut self, piece: PieceSums, take: usize) {
        let first = piece.first_mid - self.last_mid;
        let diffs = piece.inner * 0.25 + first * first;
        if piece.sum.is_finite() && piece.squares.is_finite() && diffs.is_finite() {
            self.sum += f64::from(piece.sum) * 0.5;
            self.sum_squares += f64::from(piece.squares) * 0.25;
            self.diff_squares += f64::from(diffs);
            self.last_mid = piece.last_mid;
        } else {
            self.last_mid = 0.0;
        }
        self.count += take;
        self.close_hop_if_full();
    }

    /// Ends the hop once it holds `hop_frames` frames: its three points, and fresh sums.
    fn close_hop_if_full(&mut self) {
        if self.count == self.hop_frames {
            let hop = self.hop_frames as f64;
            self.points.push((self.sum / hop) as f32);
            self.energy.push((self.sum_squares / hop) as f32);
            self.high_energy.push((self.diff_squares / hop) as f32);
            self.sum = 0.0;
            self.sum_squares = 0.0;
            self.diff_squares = 0.0;
            self.count = 0;
        }
    }
}

/// Frames an [`Envelope`] sums side by side within a piece: each of its three sums is a chain
/// of dependent additions, so [`SUM_LANES`] partial sums run in parallel (vector lanes) and are
/// added at the end.
const SUM_LANES: usize = 8;

/// What a piece of a hop adds to an [`Envelope`], summed in f32 over at most a hop.
#[derive(Debug, Clone, Copy)]
struct PieceSums {
    /// `sum (l + r)`.
    sum: f32,
    /// `sum (l + r)^2`.
    squares: f32,
    /// `sum ((l + r)[n] - (l + r)[n - 1])^2` within the piece.
    inner: f32,
    /// The mid of the piece's first frame, `(l + r) / 2`.
    first_mid: f32,
    /// The mid of its last frame.
    last_mid: f32,
}

/// The sums of one piece (left, right; at least a frame), [`SUM_LANES`] frames at a time: the
/// bits depend on the piece's length only, so the same pieces always give the same sums. A
/// non-finite piece gives non-finite sums: it counts as silence (NaN and infinity are the
/// analysis' business, not the timing's).
fn piece_sums(left: &[f32], right: &[f32]) -> PieceSums {
    let len = left.len();
    let right = &right[..len];
    let first = left[0] + right[0];
    let mut sum = [0.0f32; SUM_LANES];
    let mut squares = [0.0f32; SUM_LANES];
    let mut inner = [0.0f32; SUM_LANES];
    sum[0] = first;
    squares[0] = first * first;
    // Frames 1.. beside the frames before them, in runs of lanes.
    let (now_l, now_r) = (&left[1..], &right[1..]);
    let (before_l, before_r) = (&left[..len - 1], &right[..len - 1]);
    let runs = now_l
        .chunks_exact(SUM_LANES)
        .zip(now_r.chunks_exact(SUM_LANES))
        .zip(before_l.chunks_exact(SUM_LANES))
        .zip(before_r.chunks_exact(SUM_LANES));
    for (((now_l, now_r), before_l), before_r) in runs {
        for k in 0..SUM_LANES {
            let x = now_l[k] + now_r[k];
            let d = x - (before_l[k] + before_r[k]);
            sum[k] += x;
            squares[k] += x * x;
            inner[k] += d * d;
        }
    }
    // The frames after the last whole run, in scalars (indexing the lanes by a variable would
    // keep them in memory).
    let done = (len - 1) / SUM_LANES * SUM_LANES;
    let (mut tail_sum, mut tail_squares, mut tail_inner) = (0.0f32, 0.0f32, 0.0f32);
    for k in done..len - 1 {
        let x = now_l[k] + now_r[k];
        let d = x - (before_l[k] + before_r[k]);
        tail_sum += x;
        tail_squares += x * x;
        tail_inner += d * d;
    }
    let last = left[len - 1] + right[len - 1];
    PieceSums {
        sum: sum.iter().sum::<f32>() + tail_sum,
        squares: squares.iter().sum::<f32>() + tail_squares,
        inner: inner.iter().sum::<f32>() + tail_inner,
        first_mid: first * 0.5,
        last_mid: last * 0.5,
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
    /// How late the stem is against the mix, in samples (a multiple of the hop, plus the
    /// sub-hop phase of the mix's envelope it was found against; negative: early).
    pub late_samples: i64,
    /// The correlation peak over the correlation's RMS (see [`MATCH_MIN_PROMINENCE`]).
    pub prominence: f32,
    /// The best peak at least [`RUNNER_UP_MIN_SEPARATION_SECONDS`] from it, over the best (0 to
    /// 1): near 1 on looped material, where the part also matches a bar or more off.
    pub runner_up_ratio: f32,
    /// Whether the lag is the one the files' lengths imply (the stem's end lines up with the
    /// mix's), chosen among near-equal peaks: independent evidence that breaks a loop's tie.
    pub by_lengths: bool,
}

impl CoarseMatch {
    /// The stem is found at `late_samples`: by a peak that stands out over every lag, or at
    /// the lag its length implies (see [`match_envelopes`]).
    pub fn matches(&self) -> bool {
        self.prominence >= MATCH_MIN_PROMINENCE
            || (self.by_lengths && self.prominence >= LENGTH_PRIOR_MIN_PROMINENCE)
    }

    /// The stem is found nowhere.
    pub fn matches_nothing(&self) -> bool {
        !self.matches()
    }
}

/// The lag the lengths imply is taken when it stands [`LENGTH_PRIOR_MIN_PROMINENCE`] above the
/// correlation's RMS and the best peak is not clear ([`CLEAR_MAX_RUNNER_UP_RATIO`]), or, when
/// it is, reaches at least this share of it (a looped part's bar-off peaks reach 0.98 of the
/// true one, or pass it by chance).
pub const LENGTH_PRIOR_MIN_SHARE: f32 = 0.8;
/// A match is clear when no peak at least 0.1 s away reaches this share of it (a looped part's
/// bar-off peaks reach 0.98).
pub const CLEAR_MAX_RUNNER_UP_RATIO: f32 = 0.7;
/// The prominence a peak at the lag the lengths imply needs, over the correlation's RMS. Lower
/// than [`MATCH_MIN_PROMINENCE`], which is the maximum over every lag: this is one lag named in
/// advance (within a few hops), where noise exceeds 4 RMS with a probability of about 3e-5.
pub const LENGTH_PRIOR_MIN_PROMINENCE: f32 = 4.0;
/// The lag the lengths imply is looked for this far either way, in seconds, and at least
/// [`LENGTH_PRIOR_MIN_SLACK_HOPS`] hops: the lengths are exact to the sample, but an envelope
/// correlation's peak sits a few milliseconds off where a part's attack is slow (seen: 3.4 ms
/// on a lead exported from its first region, 3 hops of 1 ms). Well inside the analysis' +/-55
/// ms, which refines it.
const LENGTH_PRIOR_SLACK_SECONDS: f64 = 0.01;
/// See [`LENGTH_PRIOR_SLACK_SECONDS`]: at least this many hops (a long file's hop is longer).
const LENGTH_PRIOR_MIN_SLACK_HOPS: i64 = 2;

/// A runner-up peak counts only this far from the best, in seconds (the analysis refines
/// within its +/-55 ms anyway).
pub const RUNNER_UP_MIN_SEPARATION_SECONDS: f64 = 0.1;
/// The energy envelopes' floor below their loudest hop: 1e-8 in power, -80 dB (silence and
/// dither do not make onsets).
const ENERGY_FLOOR_RE_PEAK: f32 = 1e-8;

/// The onsets of an energy envelope: the rise of its level per hop in dB-like units (the
/// positive part of the log's first difference), so a tonal part's note starts weigh alike
/// whatever its level, and a band the file has nothing in gives nothing.
fn onsets(energy: &[f32]) -> Vec<f32> {
    let peak = energy
        .iter()
        .copied()
        .filter(|e| e.is_finite())
        .fold(0.0f32, f32::max);
    if peak <= 0.0 {
        return vec![0.0; energy.len()];
    }
    let floor = peak * ENERGY_FLOOR_RE_PEAK;
    let level: Vec<f32> = energy.iter().map(|&e| (e.max(0.0) + floor).ln()).collect();
    let mut out = Vec::with_capacity(level.len());
    out.push(0.0);
    out.extend(level.windows(2).map(|w| (w[1] - w[0]).max(0.0)));
    out
}

/// One band's whitened cross-correlation of `stem` against `mix` (GCC-PHAT over the share of
/// the band the decimation keeps clean), indexed circularly over `n` lags, divided by its RMS
/// over the lags the lengths allow; `None` when either is silent or constant.
fn correlation(
    stem: &[f32],
    mix: &[f32],
    n: usize,
    planner: &mut RealFftPlanner<f32>,
) -> Option<Vec<f32>> {
    let s = centred(stem);
    let m = centred(mix);
    let energy = |x: &[f32]| x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>();
    if !(energy(&s) > 0.0 && energy(&m) > 0.0) {
        return None;
    }
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
    // peak is as sharp as the content allows, whatever its colour.
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
    let lags = lag_range(stem.len(), mix.len());
    let count = (lags.end - lags.start) as f64;
    let rms = (lags
        .map(|k| f64::from(r[k.rem_euclid(n as i64) as usize]).powi(2))
        .sum::<f64>()
        / count)
        .sqrt() as f32;
    if !(rms > 0.0 && rms.is_finite()) {
        return None;
    }
    r.iter_mut().for_each(|v| *v /= rms);
    Some(r)
}

/// The lags a stem of `stem` points can sit at against a mix of `mix` points (in hops; the
/// correlation at lag k is sum_n mix[n + k] stem[n]).
fn lag_range(stem: usize, mix: usize) -> std::ops::Range<i64> {
    (-(stem as i64 - 1))..(mix as i64)
}

/// The best lag of a correlation normalised to unit RMS (`r`, circular over its length), its
/// prominence, and the best peak at least `separation` lags from it over the best.
fn best_lag(r: &[f32], lags: std::ops::Range<i64>, separation: i64) -> CoarseMatch {
    let n = r.len() as i64;
    let at = |k: i64| r[k.rem_euclid(n) as usize];
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
    let runner_up = lags
        .clone()
        .filter(|k| (k - best_k).abs() >= separation)
        .map(at)
        .fold(0.0f32, f32::max);
    let rms = (sum_squares / (lags.end - lags.start) as f64).sqrt() as f32;
    CoarseMatch {
        late_samples: -best_k,
        prominence: if rms > 0.0 { best / rms } else { 0.0 },
        runner_up_ratio: if best > 0.0 {
            (runner_up / best).clamp(0.0, 1.0)
        } else {
            1.0
        },
        by_lengths: false,
    }
}

/// `found` moved to the lag the lengths imply (`prior_k`, in hops, as in [`best_lag`]) when the
/// correlation `r` has a peak there within `slack` hops that stands out at that
/// lag and the best is no clear match elsewhere (see [`LENGTH_PRIOR_MIN_SHARE`]); else `found`
/// unchanged.
fn prefer_length_prior(
    r: &[f32],
    lags: std::ops::Range<i64>,
    found: CoarseMatch,
    prior_k: i64,
    slack: i64,
) -> CoarseMatch {
    let n = r.len() as i64;
    let at = |k: i64| r[k.rem_euclid(n) as usize];
    let best_value = at(-found.late_samples);
    let rms = if found.prominence > 0.0 {
        best_value / found.prominence
    } else {
        return found;
    };
    let Some((k, v)) = (prior_k - slack..=prior_k + slack)
        .filter(|k| lags.contains(k))
        .map(|k| (k, at(k)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
    else {
        return found;
    };
    if v / rms < LENGTH_PRIOR_MIN_PROMINENCE {
        return found;
    }
    if -k == found.late_samples {
        return CoarseMatch {
            by_lengths: true,
            ..found
        };
    }
    let clear = found.prominence >= MATCH_MIN_PROMINENCE
        && found.runner_up_ratio <= CLEAR_MAX_RUNNER_UP_RATIO;
    if !clear || v >= LENGTH_PRIOR_MIN_SHARE * best_value {
        CoarseMatch {
            late_samples: -k,
            prominence: v / rms,
            runner_up_ratio: (best_value / v).min(1.0),
            by_lengths: true,
        }
    } else {
        found
    }
}

/// How many hops either way of the lag the lengths imply its peak is looked for (see
/// [`LENGTH_PRIOR_SLACK_SECONDS`]).
fn length_prior_slack_hops(rate_hz: u32, hop_frames: usize) -> i64 {
    ((LENGTH_PRIOR_SLACK_SECONDS * f64::from(rate_hz) / hop_frames as f64).ceil() as i64)
        .max(LENGTH_PRIOR_MIN_SLACK_HOPS)
}

/// The stem's best lag against the mix over every lag the lengths allow, from one decimated
/// signal each, or `None` when the stem (or the mix) is silent or constant.
#[cfg(test)]
fn coarse_match(stem: &[f32], mix: &[f32], hop_frames: usize, rate_hz: u32) -> Option<CoarseMatch> {
    combined_match(
        &[(stem.to_vec(), mix.to_vec())],
        hop_frames,
        0,
        rate_hz,
        None,
    )
}

/// The stem's best lag from all of its bands at once: the mean of the files in the low band
/// (linear: the decimated mix is the sum of the decimated stems), and the onsets of their
/// broadband and high-tilted energy (a tonal part above the low band has note starts there).
/// Each band's whitened correlation, normalised to unit RMS, is weighted by its own
/// prominence (maximal-ratio combining: a band the stem has nothing in adds little noise, and
/// any band it has content in finds it).
///
/// `length_late_samples`: how late the stem would be if its end lined up with the mix's (its
/// length minus the mix's), when that is an offset at all. A stem exported from its first
/// region is short by exactly its offset, one with a pre-roll long by it: where a looped part
/// matches a bar off almost as well as in place, the lag the lengths imply is taken when it
/// stands out at that one lag ([`LENGTH_PRIOR_MIN_PROMINENCE`]) and the best is no clear match
/// elsewhere ([`LENGTH_PRIOR_MIN_SHARE`]).
pub fn match_envelopes(
    stem: &Envelope,
    mix: &Envelope,
    rate_hz: u32,
    length_late_samples: Option<i64>,
) -> Option<CoarseMatch> {
    let stem_onsets = (onsets(&stem.energy), onsets(&stem.high_energy));
    let against = |delay: usize, mix: &Envelope| {
        let bands = vec![
            (stem.points.clone(), mix.points.clone()),
            (stem_onsets.0.clone(), onsets(&mix.energy)),
            (stem_onsets.1.clone(), onsets(&mix.high_energy)),
        ];
        // The phase's point `j` starts `delay` frames after the plain envelope's point
        // `j - 1` (its first hop is `delay` frames long).
        let shift = if delay > 0 {
            stem.hop_frames - delay
        } else {
            0
        };
        combined_match(
            &bands,
            stem.hop_frames,
            shift as i64,
            rate_hz,
            length_late_samples,
        )
    };
    // The mix as kept first; at its sub-hop phases only if that found no peak the search acts
    // on, and then near that peak or clear of any other: a stem a whole number of hops off is found as before,
    // and one a fraction off, whose peak the plain envelope blurs (a sax 4.25 s early at
    // 44.1 kHz: 11 ms off, prominence 10), at the phase nearest it. (The clearest of all four
    // anywhere let a delay return's echo, a fraction of a hop off, outdo its own place a whole
    // number of hops off: the mix 1 s late read as the FX 0.57 s early.)
    let plain = against(0, mix)?;
    if plain.prominence >= PHASES_BELOW_PROMINENCE || mix.phases.is_empty() {
        return Some(plain);
    }
    let near = (PHASES_WITHIN_SECONDS * f64::from(rate_hz)).round() as i64;
    mix.phases
        .iter()
        .filter_map(|(delay, phase)| against(*delay, phase))
        .filter(|m| {
            (m.late_samples - plain.late_samples).abs() <= near
                || m.runner_up_ratio <= PHASES_ELSEWHERE_MAX_RUNNER_UP_RATIO
        })
        .chain(std::iter::once(plain))
        .max_by(|a, b| a.prominence.total_cmp(&b.prominence))
}

/// See [`match_envelopes`]: `bands` holds (stem, mix) pairs of one length each.
///
/// `shift_frames`: what a lag of whole hops misses of the lag in frames (the mix decimated
/// from a sub-hop phase): the stem is `-k * hop_frames + shift_frames` late at a peak at `k`.
fn combined_match(
    bands: &[(Vec<f32>, Vec<f32>)],
    hop_frames: usize,
    shift_frames: i64,
    rate_hz: u32,
    length_late_samples: Option<i64>,
) -> Option<CoarseMatch> {
    let (stem_len, mix_len) = bands.first().map(|(s, m)| (s.len(), m.len()))?;
    if stem_len < 2 || mix_len < 2 {
        return None;
    }
    let n = (stem_len + mix_len).next_power_of_two();
    let lags = lag_range(stem_len, mix_len);
    let separation = ((RUNNER_UP_MIN_SEPARATION_SECONDS * f64::from(rate_hz) / hop_frames as f64)
        .ceil() as i64)
        .max(2);
    let mut planner = RealFftPlanner::<f32>::new();
    let mut combined: Option<Vec<f32>> = None;
    for (stem, mix) in bands {
        let Some(r) = correlation(stem, mix, n, &mut planner) else {
            continue;
        };
        let weight = best_lag(&r, lags.clone(), separation).prominence.max(0.0);
        let sum = combined.get_or_insert_with(|| vec![0.0; n]);
        sum.iter_mut().zip(&r).for_each(|(c, v)| *c += weight * v);
    }
    let combined = combined?;
    let mut m = best_lag(&combined, lags.clone(), separation);
    if let Some(late) = length_late_samples {
        let prior_k = -((late - shift_frames) as f64 / hop_frames as f64).round() as i64;
        let slack = length_prior_slack_hops(rate_hz, hop_frames);
        m = prefer_length_prior(&combined, lags, m, prior_k, slack);
    }
    m.late_samples = m.late_samples * hop_frames as i64 + shift_frames;
    Some(m)
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
        let m = coarse_match(&stem, &mix, 48, 48_000).unwrap();
        assert_eq!(m.late_samples, 700 * 48);
        assert!(m.matches(), "prominence {}", m.prominence);
        // Early: the stem lacks the part's first 300 hops.
        let early = &part[300..];
        let m = coarse_match(early, &mix, 48, 48_000).unwrap();
        assert_eq!(m.late_samples, -300 * 48);
    }

    #[test]
    fn an_unrelated_stem_matches_nothing_and_silence_is_no_match() {
        let mix = clicks(5000, 3);
        let stranger = clicks(5000, 4);
        let m = coarse_match(&stranger, &mix, 48, 48_000).unwrap();
        assert!(m.matches_nothing(), "prominence {}", m.prominence);
        assert_eq!(coarse_match(&[0.0; 100], &mix, 48, 48_000), None);
    }

    /// A tonal part at `hz` (no content in the low band): notes of 40 to 200 ms at seeded
    /// places, each with a 5 ms attack and a decay, `frames` long at 48 kHz.
    fn notes(frames: usize, hz: f32, seed: u64) -> Vec<f32> {
        let mut state = seed;
        let mut out = vec![0.0f32; frames];
        let mut start = 0usize;
        loop {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            start += 2400 + (state >> 51) as usize % 9600;
            let length = 1920 + (state >> 40) as usize % 7680;
            if start + length >= frames {
                return out;
            }
            for i in 0..length {
                let attack = (i as f32 / 240.0).min(1.0);
                let decay = (-(i as f32) / length as f32 * 3.0).exp();
                let phase = std::f32::consts::TAU * hz * i as f32 / 48_000.0;
                out[start + i] += 0.3 * attack * decay * phase.sin();
            }
        }
    }

    fn envelope_of(x: &[f32]) -> Envelope {
        let mut e = Envelope::new(48);
        for block in x.chunks(1000) {
            e.push(block, block);
        }
        e
    }

    #[test]
    fn a_tonal_part_above_the_low_band_is_found_by_its_onsets() {
        // A lead at 1.5 kHz, 1.25 s (60,000 samples = 1250 hops) late; the mix has it with a
        // bass line at 80 Hz (another rhythm) and a 3 kHz part of its own.
        let frames = 48_000 * 20;
        let lead = notes(frames, 1500.0, 5);
        let bass = notes(frames, 80.0, 6);
        let other = notes(frames, 3000.0, 7);
        let mix: Vec<f32> = (0..frames).map(|i| lead[i] + bass[i] + other[i]).collect();
        let mut late = vec![0.0f32; 60_000];
        late.extend_from_slice(&lead[..frames - 60_000]);
        let (stem, mix) = (envelope_of(&late), envelope_of(&mix));
        let m = match_envelopes(&stem, &mix, 48_000, None).unwrap();
        // Exact to a hop (48 samples): onsets fall on hop boundaries; the analysis refines.
        assert!((m.late_samples - 60_000).abs() <= 48, "{m:?}");
        assert!(m.matches(), "{m:?}");
        // The low band alone (the mean per hop) holds nothing of a 1.5 kHz part to go by.
        let low = coarse_match(&stem.points, &mix.points, 48, 48_000);
        assert!(low.is_none_or(|l| l.late_samples != 60_000 || l.matches_nothing()));
        // A part from another song (other places, same pitch) matches nothing.
        let stranger = envelope_of(&notes(frames, 1500.0, 8));
        let m = match_envelopes(&stranger, &mix, 48_000, None).unwrap();
        assert!(m.matches_nothing(), "{m:?}");
    }

    /// A broadband part: bursts of seeded noise (5 to 60 ms, decaying) at seeded places,
    /// `frames` long.
    fn bursts(frames: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state >> 33
        };
        let mut out = vec![0.0f32; frames];
        let mut start = 0usize;
        loop {
            start += 3000 + next() as usize % 12_000;
            let length = 240 + next() as usize % 2640;
            if start + length >= frames {
                return out;
            }
            for (i, v) in out[start..start + length].iter_mut().enumerate() {
                let noise = (next() % 2001) as f32 / 1000.0 - 1.0;
                *v += 0.3 * noise * (-(i as f32) / length as f32 * 4.0).exp();
            }
        }
    }

    #[test]
    fn a_stem_off_by_a_fraction_of_a_hop_is_found_against_the_mix_at_the_nearest_phase() {
        // A quiet part in a busy mix, where the plain envelope's peak falls under the
        // threshold at which the phases are searched.
        const PART_LEVEL: f32 = 0.3;
        // A broadband part 60,024 samples late: 1250.5 hops of 48. The mix (the part on time
        // and another of its own) is decimated over other stretches of the part than the stem,
        // and what the boxcar aliases into the envelope differs between the two.
        let frames = 48_000 * 20;
        let part: Vec<f32> = notes(frames, 700.0, 11)
            .iter()
            .zip(notes(frames, 1130.0, 12))
            .map(|(a, b)| PART_LEVEL * (a + b))
            .collect();
        let others = [
            bursts(frames, 13),
            notes(frames, 220.0, 14),
            notes(frames, 1760.0, 15),
        ];
        let mix: Vec<f32> = (0..frames)
            .map(|i| part[i] + others.iter().map(|o| o[i]).sum::<f32>())
            .collect();
        let late_samples = 60_024i64;
        let mut late = vec![0.0f32; late_samples as usize];
        late.extend_from_slice(&part[..frames - late_samples as usize]);
        let stem = envelope_of(&late);
        let mut phased = Envelope::with_phases(48);
        for block in mix.chunks(1000) {
            phased.push(block, block);
        }
        let found = match_envelopes(&stem, &phased, 48_000, None).unwrap();
        // At the nearest phase the stem is a quarter of a hop off at most.
        assert!((found.late_samples - late_samples).abs() <= 12, "{found:?}");
        // The plain envelope alone (the checker's before) finds a weaker peak, hops off
        // (measured: 12.1 against 19.2, 168 samples early; on a real delivery, a sax 4.25 s
        // early at 44.1 kHz, 10 against 21, and missed).
        let plain = match_envelopes(&stem, &envelope_of(&mix), 48_000, None).unwrap();
        assert!(
            found.prominence >= 1.5 * plain.prominence,
            "{found:?} against {plain:?}"
        );
        // A whole number of hops off, the plain envelope is among those compared: as found
        // before.
        let whole = &late[24..];
        let m = match_envelopes(&envelope_of(whole), &phased, 48_000, None).unwrap();
        let before =
            match_envelopes(&envelope_of(whole), &envelope_of(&mix), 48_000, None).unwrap();
        assert_eq!(m.late_samples, 60_000);
        assert!(
            m.prominence >= before.prominence,
            "{m:?} against {before:?}"
        );
    }

    #[test]
    fn a_looped_part_is_placed_at_its_lag_not_a_bar_off() {
        // A two-second pattern at 1 kHz repeated ten times, 3.5 s late (three bars and a
        // quarter); the mix has it on time plus a 300 Hz part of its own. Whitening makes every
        // period's peak share one phase only at the true lag: the bar-off matches stay well
        // below it (0.82 here).
        let bar = notes(96_000, 1000.0, 9);
        let part: Vec<f32> = bar.iter().copied().cycle().take(96_000 * 10).collect();
        let other = notes(part.len(), 300.0, 10);
        let mix: Vec<f32> = part.iter().zip(&other).map(|(a, b)| a + b).collect();
        let mut late = vec![0.0f32; 168_000];
        late.extend_from_slice(&part[..part.len() - 168_000]);
        let m = match_envelopes(&envelope_of(&late), &envelope_of(&mix), 48_000, None).unwrap();
        assert!((m.late_samples - 168_000).abs() <= 48, "{m:?}");
        assert!(m.matches(), "{m:?}");
        assert!(m.runner_up_ratio < 0.95, "{m:?}");
    }

    #[test]
    fn a_looped_part_exported_from_its_first_region_is_placed_by_the_lengths() {
        // A two-second pattern at 1 kHz repeated twelve times (every bar the same: the bar-off
        // lags match as well as the true one, but for the edges), with a 300 Hz part of its
        // own in the mix. The stem is exported from 5.5 s on (its first region): 264,000
        // samples early and as much shorter than the mix, so its end lines up with the mix's.
        let bar = notes(96_000, 1000.0, 11);
        let part: Vec<f32> = bar.iter().copied().cycle().take(96_000 * 12).collect();
        let other = notes(part.len(), 300.0, 12);
        let mix: Vec<f32> = part.iter().zip(&other).map(|(a, b)| a + b).collect();
        let early = &part[264_000..];
        let (stem, mix) = (envelope_of(early), envelope_of(&mix));
        let by_lengths = early.len() as i64 - part.len() as i64;
        assert_eq!(by_lengths, -264_000);
        let m = match_envelopes(&stem, &mix, 48_000, Some(by_lengths)).unwrap();
        assert!((m.late_samples + 264_000).abs() <= 48, "{m:?}");
        assert!(m.by_lengths && m.matches(), "{m:?}");
        // A prior where the correlation has no peak changes nothing: a stranger still matches
        // nothing, whatever its length.
        let stranger = envelope_of(&notes(part.len() - 264_000, 1000.0, 13));
        let m = match_envelopes(&stranger, &mix, 48_000, Some(by_lengths)).unwrap();
        assert!(m.matches_nothing() && !m.by_lengths, "{m:?}");
    }

    #[test]
    fn a_part_under_a_looped_band_is_placed_clearer_by_what_the_mix_holds_of_it() {
        // A quiet lead at 1.5 kHz that never repeats, 1 s (48,000 samples) late in its file,
        // under a band 12 dB louder whose two-second bar at 1.2 kHz and 100 Hz repeats ten
        // times, delivered as a stem in place. In the mix the band's onsets outweigh the
        // lead's; in the mix less the band (the residual plus the lead's own file) the lead
        // is alone.
        let frames = 96_000 * 10;
        let lead = notes(frames, 1500.0, 14);
        let bar: Vec<f32> = notes(96_000, 1200.0, 15)
            .iter()
            .zip(notes(96_000, 100.0, 16))
            .map(|(a, b)| 4.0 * (a + b))
            .collect();
        let band: Vec<f32> = bar.iter().copied().cycle().take(frames).collect();
        let mix: Vec<f32> = lead.iter().zip(&band).map(|(a, b)| a + b).collect();
        let mut late = vec![0.0f32; 48_000];
        late.extend_from_slice(&lead[..frames - 48_000]);
        let residual: Vec<f32> = (0..frames).map(|i| mix[i] - band[i] - late[i]).collect();
        let stem = envelope_of(&late);
        let in_mix = match_envelopes(&stem, &envelope_of(&mix), 48_000, None).unwrap();
        let alone = Envelope::isolated(&envelope_of(&residual), &stem);
        let isolated = match_envelopes(&stem, &alone, 48_000, None).unwrap();
        assert!((isolated.late_samples - 48_000).abs() <= 48, "{isolated:?}");
        assert!(isolated.matches(), "{isolated:?}");
        assert!(
            isolated.prominence > 2.0 * in_mix.prominence,
            "isolated {isolated:?}, in the mix {in_mix:?}"
        );
        // The means add exactly: the lead in place, to rounding.
        let in_place = envelope_of(&lead);
        for (a, b) in alone.points.iter().zip(&in_place.points) {
            assert!((a - b).abs() <= 1e-4, "{a} against {b}");
        }
    }

    #[test]
    fn the_lengths_prior_finds_a_peak_a_few_milliseconds_off() {
        // 10 ms either way: 10 hops of 1 ms at 48 kHz, never under 2 hops of a long file.
        assert_eq!(length_prior_slack_hops(48_000, 48), 10);
        assert_eq!(length_prior_slack_hops(48_000, 4_800), 2);
        // A looped part's correlation: seeded noise of 0.05 RMS-ish, its bar-off peaks (1.0 at
        // lag 100, 0.99 at 300) and its true peak, 0.97, 3 hops (3 ms) from the lag the lengths
        // imply (200): a slow attack's envelope peaks late.
        let mut state = 17u64;
        let mut r: Vec<f32> = (0..1024)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                0.1 * ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
            })
            .collect();
        for (k, v) in [(100, 1.0), (300, 0.99), (203, 0.97)] {
            r[k] = v;
        }
        let lags = 0..1024;
        let found = best_lag(&r, lags.clone(), 20);
        assert_eq!(found.late_samples, -100);
        let placed = prefer_length_prior(&r, lags.clone(), found, 200, 10);
        assert_eq!(placed.late_samples, -203, "{placed:?}");
        assert!(placed.by_lengths && placed.matches(), "{placed:?}");
        // Looked for only 2 hops either way, the peak is missed and the bar-off lag stays.
        assert_eq!(prefer_length_prior(&r, lags, found, 200, 2), found);
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

    /// The envelope as it was first written (one piece at a time, three `Iterator::sum`s):
    /// the reference the side-by-side sums must match to the bit.
    /// An envelope's three points per hop in double precision, frame after frame, from the
    /// whole signal (`None` for a hop with a non-finite frame in it or in the hop before),
    /// and the scale of each
    /// point's rounding.
    fn reference(left: &[f32], right: &[f32], hop: usize) -> Vec<Option<([f64; 3], [f64; 3])>> {
        let mid: Vec<f64> = left
            .iter()
            .zip(right)
            .map(|(l, r)| (f64::from(*l) + f64::from(*r)) * 0.5)
            .collect();
        (0..mid.len() / hop)
            .map(|h| {
                let range = h * hop..(h + 1) * hop;
                let before = if h == 0 { 0.0 } else { mid[h * hop - 1] };
                // After a non-finite piece the first difference starts from silence.
                let touched = (h * hop).saturating_sub(hop)..(h + 1) * hop;
                if !mid[touched].iter().all(|x| x.is_finite()) {
                    return None;
                }
                let x = &mid[range];
                let n = hop as f64;
                let mean = x.iter().sum::<f64>() / n;
                let energy = x.iter().map(|v| v * v).sum::<f64>() / n;
                let mut previous = before;
                let high = x
                    .iter()
                    .map(|&v| {
                        let d = v - previous;
                        previous = v;
                        d * d
                    })
                    .sum::<f64>()
                    / n;
                let scale = x.iter().map(|v| v.abs()).sum::<f64>() / n;
                // A difference of two large frames loses digits to cancellation: its scale is
                // theirs.
                let high_scale = high.max((scale + before.abs()).powi(2));
                Some(([mean, energy, high], [scale, energy, high_scale]))
            })
            .collect()
    }

    #[test]
    fn hops_summed_in_lanes_agree_with_double_precision_whatever_the_blocks() {
        // Seeded noise at several levels (so that f32 rounding matters), a NaN and an infinity,
        // in uneven blocks, for hops of 1, 4, 48 and 110 frames.
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
        let frames = 40_000;
        let mut left: Vec<f32> = (0..frames)
            .map(|i| next() * (1.0 + (i % 977) as f32))
            .collect();
        let right: Vec<f32> = (0..frames).map(|_| next() * 1e-3).collect();
        left[12_345] = f32::NAN;
        left[23_456] = f32::INFINITY;
        // f32 sums over at most a hop, in eight lanes: well within this of the exact value,
        // relative to the hop's scale (f32's 6e-8 times the terms in a lane).
        const MAX_RELATIVE_ERROR: f64 = 1e-5;
        for hop in [1, 4, 48, 110] {
            let mut ours = Envelope::new(hop);
            let mut pos = 0;
            for size in [8192usize, 1, 500, 3, 4097, 960].iter().cycle() {
                if pos >= frames {
                    break;
                }
                let end = (pos + size).min(frames);
                ours.push(&left[pos..end], &right[pos..end]);
                pos = end;
            }
            let expected = reference(&left, &right, hop);
            assert_eq!(ours.points.len(), expected.len(), "hop {hop}");
            let mut skipped = 0;
            for (h, want) in expected.iter().enumerate() {
                let Some(([mean, energy, high], scales)) = *want else {
                    skipped += 1;
                    continue;
                };
                let got = [ours.points[h], ours.energy[h], ours.high_energy[h]];
                for ((g, w), s) in got.iter().zip([mean, energy, high]).zip(scales) {
                    let error = (f64::from(*g) - w).abs();
                    assert!(
                        error <= MAX_RELATIVE_ERROR * s.max(f64::MIN_POSITIVE),
                        "hop {hop}, point {h}: {g} against {w} (scale {s})"
                    );
                }
            }
            // The two non-finite frames each spoil their hop and the next one's first
            // difference (the reference skips both), and nothing else.
            assert!(
                (2..=4).contains(&skipped),
                "hop {hop}: {skipped} hops skipped"
            );
        }
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
