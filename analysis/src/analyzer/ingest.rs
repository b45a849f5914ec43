//! Ingest: every signal's part of a block into the history rings, cleaned (NaN and infinity
//! made silent and counted, subnormals flushed, absurd values clamped), with the stems' sum,
//! each signal's levels and the master's and sum's loudness measured on the way.

use wide::f32x4;

use crate::config::MAX_SAMPLE_MAGNITUDE;
use crate::headroom::{LANES, LANES_FOLD_SAMPLES, Lanes, SignalStats};
use crate::input::{Block, SignalAudio};
use crate::loudness::LoudnessMeter;
use crate::ring::Ring;

use super::{Analyzer, Scratch};

/// The master's history and levels (writer: [`Analyzer::ingest`]).
pub(super) struct MasterInput {
    /// The master's mid channel (the mean of left and right), one sample per sample.
    pub mid: Ring,
    /// The master's left channel.
    pub left: Ring,
    /// The master's right channel (the left again for a mono master).
    pub right: Ring,
    /// The master's levels.
    pub stats: SignalStats,
    /// The master's integrated loudness.
    pub loudness: LoudnessMeter,
    /// Whether any master audio arrived.
    pub seen: bool,
    /// The master's channel count as last seen: 1 or 2.
    pub channels: usize,
}

impl MasterInput {
    pub fn new(ring_len: usize, sample_rate_hz: f32) -> Self {
        Self {
            mid: Ring::new(ring_len),
            left: Ring::new(ring_len),
            right: Ring::new(ring_len),
            stats: SignalStats::default(),
            loudness: LoudnessMeter::new(sample_rate_hz),
            seen: false,
            channels: 1,
        }
    }
}

/// The stems' sum's history and levels, where every stem was present (writer:
/// [`Analyzer::ingest`]).
pub(super) struct SumInput {
    /// The sum's left channel.
    pub left: Ring,
    /// The sum's right channel.
    pub right: Ring,
    /// The sum's levels.
    pub stats: SignalStats,
    /// The sum's integrated loudness.
    pub loudness: LoudnessMeter,
}

impl SumInput {
    pub fn new(ring_len: usize, sample_rate_hz: f32) -> Self {
        Self {
            left: Ring::new(ring_len),
            right: Ring::new(ring_len),
            stats: SignalStats::default(),
            loudness: LoudnessMeter::new(sample_rate_hz),
        }
    }
}

impl Analyzer {
    /// Copies `[offset, offset + frames)` of every signal into the rings, sanitised.
    pub(super) fn ingest(&mut self, block: &Block<'_>, offset: usize, frames: usize) {
        let Scratch {
            left,
            right,
            sum_left,
            sum_right,
            sum_next: [next_left, next_right],
            mid,
            ..
        } = &mut self.scratch;
        let mut non_finite = 0u64;
        // The block's part of a signal, sanitised: the input itself when clean (the normal
        // case, no copy), else a cleaned copy in scratch.
        let range = offset..offset + frames;
        fn view<'b>(
            audio: &SignalAudio<'b>,
            range: std::ops::Range<usize>,
        ) -> Option<(&'b [f32], &'b [f32])> {
            Some((
                audio.channels[0].get(range.clone())?,
                audio.channels[1].get(range)?,
            ))
        }

        // Master. Its loudness is measured with the sum's, when its samples need no cleaning
        // (then they are the block's own, `deferred`).
        let mut deferred: Option<[&[f32]; 2]> = None;
        let master_ok = match block
            .master
            .as_ref()
            .and_then(|a| Some((a, view(a, range.clone())?)))
        {
            Some((audio, (input_l, input_r))) => {
                let l = sanitised(input_l, &mut left[..frames], &mut non_finite);
                let r = sanitised(input_r, &mut right[..frames], &mut non_finite);
                self.master.seen = true;
                self.master.channels = audio.num_channels.clamp(1, 2);
                self.master.left.push(l);
                self.master.right.push(r);
                for ((m, a), b) in mid[..frames].iter_mut().zip(l).zip(r) {
                    *m = 0.5 * (a + b);
                }
                self.master.mid.push(&mid[..frames]);
                self.master.stats.add([l, r], audio.num_channels);
                // Both channels, as the sum's (a mono master is heard on both sides).
                if std::ptr::eq(l, input_l) && std::ptr::eq(r, input_r) {
                    deferred = Some([input_l, input_r]);
                } else {
                    self.master.loudness.add([l, r], 2);
                }
                true
            }
            None => false,
        };
        if !master_ok {
            self.master.left.push_missing(frames);
            self.master.right.push_missing(frames);
            self.master.mid.push_missing(frames);
        }

        // Stems, and their sum.
        sum_left[..frames].fill(0.0);
        sum_right[..frames].fill(0.0);
        let mut all_present = !self.stems.is_empty();
        for (index, stem) in self.stems.iter_mut().enumerate() {
            let audio = block
                .stems
                .get(index)
                .filter(|s| s.id == stem.id)
                .or_else(|| block.stems.iter().find(|s| s.id == stem.id))
                .and_then(|s| s.audio.as_ref());
            match audio.and_then(|a| Some((a, view(a, range.clone())?))) {
                Some((audio, (l, r))) => {
                    // With hundreds of stems this is the analysis's hottest loop: one pass per
                    // piece cleans the samples and does the sum, the levels and the mid (written
                    // straight into the stem's ring).
                    let mut start = 0;
                    while start < frames {
                        let mid = stem
                            .ring
                            .next_slots((frames - start).min(LANES_FOLD_SAMPLES));
                        let end = start + mid.len();
                        let piece = start..end;
                        let (l, r) = (&l[piece.clone()], &r[piece.clone()]);
                        let gathered = gather_stem(
                            [l, r],
                            [&sum_left[piece.clone()], &sum_right[piece.clone()]],
                            [
                                &mut next_left[piece.clone()],
                                &mut next_right[piece.clone()],
                            ],
                            mid,
                        );
                        stem.ring.commit(end - start);
                        non_finite += gathered.non_finite;
                        if gathered.cleaned {
                            // Rare: the level extremes need the cleaned samples too.
                            let mut uncounted = 0;
                            let l = sanitised(l, &mut left[piece.clone()], &mut uncounted);
                            let r = sanitised(r, &mut right[piece], &mut uncounted);
                            stem.stats
                                .add_gathered(&gathered.lanes, [l, r], audio.num_channels);
                        } else {
                            stem.stats
                                .add_gathered(&gathered.lanes, [l, r], audio.num_channels);
                        }
                        start = end;
                    }
                    // The sum with this stem is the one to add the next stem to.
                    std::mem::swap(sum_left, next_left);
                    std::mem::swap(sum_right, next_right);
                }
                None => {
                    all_present = false;
                    stem.ring.push_missing(frames);
                }
            }
        }
        if all_present {
            self.sum.left.push(&sum_left[..frames]);
            self.sum.right.push(&sum_right[..frames]);
            self.sum
                .stats
                .add([&sum_left[..frames], &sum_right[..frames]], 2);
            let sum = [&sum_left[..frames], &sum_right[..frames]];
            match deferred.take() {
                Some(master) => LoudnessMeter::add_stereo_pair(
                    &mut self.master.loudness,
                    master,
                    &mut self.sum.loudness,
                    sum,
                ),
                None => self.sum.loudness.add(sum, 2),
            }
        } else {
            self.sum.left.push_missing(frames);
            self.sum.right.push_missing(frames);
        }
        if let Some(master) = deferred {
            self.master.loudness.add(master, 2);
        }
        self.progress.non_finite_samples += non_finite;
        self.progress.position += frames as u64;
    }
}

/// NaN and infinity become silence (counted); subnormals become zero; absurd magnitudes are
/// clamped.
#[inline]
fn clean(x: f32, non_finite: &mut u64) -> f32 {
    if x.is_finite() {
        if x.abs() < f32::MIN_POSITIVE {
            0.0
        } else {
            x.clamp(-MAX_SAMPLE_MAGNITUDE, MAX_SAMPLE_MAGNITUDE)
        }
    } else {
        *non_finite += 1;
        0.0
    }
}

/// What [`gather_stem`] learnt of a piece.
struct Gathered {
    lanes: [Lanes; 2],
    /// NaN and infinite samples met (made silent).
    non_finite: u64,
    /// Whether cleaning may have changed more than subnormals (which cannot matter to peaks).
    cleaned: bool,
}

/// A piece of a stem: adds it to the stems' sum so far (`sum`, into `next`), writes the stem's
/// mid (the mean of its channels) and gathers its level moments per channel, each sample
/// cleaned like [`clean`]. All slices have the same length.
///
/// Audio almost never needs cleaning, so one pass measures, sums and writes without cleaning
/// and checks that nothing needed it; only a piece that did goes through
/// [`gather_stem_cleaning`], which writes `next` and `mid` again from the same inputs (`sum` is
/// only read). Both give the same bits on clean audio.
#[inline]
fn gather_stem(
    stem: [&[f32]; 2],
    sum: [&[f32]; 2],
    next: [&mut [f32]; 2],
    mid: &mut [f32],
) -> Gathered {
    let [next_l, next_r] = next;
    match gather_clean_stem(stem, sum, [&mut *next_l, &mut *next_r], mid) {
        Some(lanes) => Gathered {
            lanes,
            non_finite: 0,
            cleaned: false,
        },
        None => gather_stem_cleaning(stem, sum, [next_l, next_r], mid),
    }
}

/// The moments, the mid and the sum (`next = sum + stem`) of a piece that needs no cleaning, or
/// `None` (mid and next then partly written) if any sample does: NaN, infinite, subnormal, or
/// at [`MAX_SAMPLE_MAGNITUDE`] or beyond. Each lane accumulates exactly as in
/// [`gather_stem_cleaning`].
#[inline]
fn gather_clean_stem(
    stem: [&[f32]; 2],
    sum: [&[f32]; 2],
    next: [&mut [f32]; 2],
    mid: &mut [f32],
) -> Option<[Lanes; 2]> {
    let smallest = f32x4::splat(f32::MIN_POSITIVE);
    let (zero, half) = (f32x4::ZERO, f32x4::HALF);
    let mut peak = [zero; 2];
    let mut total = [zero; 2];
    let mut squares = [zero; 2];
    // Lanes that met a subnormal. NaN and infinity show in the squares, loud samples in the
    // peak: both are checked once at the end.
    let mut subnormal = f32x4::ZERO.simd_ne(zero);

    let [l, r] = stem;
    let [sum_l, sum_r] = sum;
    let [next_l, next_r] = next;
    let (l4, l_rest) = l.as_chunks::<LANES>();
    let (r4, r_rest) = r.as_chunks::<LANES>();
    let (sl4, sl_rest) = sum_l.as_chunks::<LANES>();
    let (sr4, sr_rest) = sum_r.as_chunks::<LANES>();
    let (nl4, nl_rest) = next_l.as_chunks_mut::<LANES>();
    let (nr4, nr_rest) = next_r.as_chunks_mut::<LANES>();
    let (m4, m_rest) = mid.as_chunks_mut::<LANES>();
    let sums = sl4.iter().zip(sr4).zip(nl4.iter_mut().zip(nr4));
    for (((a, b), m), ((sl, sr), (nl, nr))) in l4.iter().zip(r4).zip(m4).zip(sums) {
        let (a, b) = (f32x4::from(*a), f32x4::from(*b));
        *m = ((a + b) * half).to_array();
        *nl = (f32x4::from(*sl) + a).to_array();
        *nr = (f32x4::from(*sr) + b).to_array();
        for (c, x) in [a, b].into_iter().enumerate() {
            let magnitude = x.abs();
            subnormal |= magnitude.simd_lt(smallest) & magnitude.simd_gt(zero);
            peak[c] = peak[c].fast_max(magnitude);
            total[c] += x;
            squares[c] += x * x;
        }
    }
    if subnormal.any() {
        return None;
    }
    let mut lanes = [0, 1].map(|c| Lanes {
        peak: peak[c].to_array(),
        sum: total[c].to_array(),
        squares: squares[c].to_array(),
    });
    let sums = sl_rest
        .iter()
        .zip(sr_rest)
        .zip(nl_rest.iter_mut().zip(nr_rest));
    for (((&a, &b), m), ((sl, sr), (nl, nr))) in l_rest.iter().zip(r_rest).zip(m_rest).zip(sums) {
        if !(is_clean(a) && is_clean(b)) {
            return None;
        }
        *m = 0.5 * (a + b);
        *nl = sl + a;
        *nr = sr + b;
        lanes[0].add_one(a);
        lanes[1].add_one(b);
    }
    let clean = lanes.iter().all(|l| {
        l.squares.iter().all(|s| s.is_finite()) && l.peak.iter().all(|&p| p < MAX_SAMPLE_MAGNITUDE)
    });
    clean.then_some(lanes)
}

/// Whether [`clean`] leaves `x` as it is and counts nothing.
#[inline]
fn is_clean(x: f32) -> bool {
    x == 0.0 || (x.abs() >= f32::MIN_POSITIVE && x.abs() < MAX_SAMPLE_MAGNITUDE)
}

/// [`gather_stem`] for a piece with samples to clean: one pass cleans each sample like
/// [`clean`], adds it to the sum (`next = sum + cleaned`), writes the mid and gathers the
/// moments.
#[inline]
fn gather_stem_cleaning(
    stem: [&[f32]; 2],
    sum: [&[f32]; 2],
    next: [&mut [f32]; 2],
    mid: &mut [f32],
) -> Gathered {
    let limit = f32x4::splat(MAX_SAMPLE_MAGNITUDE);
    let smallest = f32x4::splat(f32::MIN_POSITIVE);
    let (zero, one, half) = (f32x4::ZERO, f32x4::ONE, f32x4::HALF);
    // [`clean`] as masks; non-finite samples counted per lane (exact in f32 up to 2^24).
    let clean4 = |x: f32x4, non_finite: &mut f32x4| {
        let finite = x.is_finite();
        *non_finite += (!finite).select(one, zero);
        let normal = finite & x.abs().simd_ge(smallest);
        normal.select(x.fast_clamp(-limit, limit), zero)
    };
    let mut peak = [zero; 2];
    let mut total = [zero; 2];
    let mut squares = [zero; 2];
    let mut non_finite = zero;

    let [l, r] = stem;
    let [sum_l, sum_r] = sum;
    let [next_l, next_r] = next;
    let (l4, l_rest) = l.as_chunks::<LANES>();
    let (r4, r_rest) = r.as_chunks::<LANES>();
    let (sl4, sl_rest) = sum_l.as_chunks::<LANES>();
    let (sr4, sr_rest) = sum_r.as_chunks::<LANES>();
    let (nl4, nl_rest) = next_l.as_chunks_mut::<LANES>();
    let (nr4, nr_rest) = next_r.as_chunks_mut::<LANES>();
    let (m4, m_rest) = mid.as_chunks_mut::<LANES>();
    let sums = sl4.iter().zip(sr4).zip(nl4.iter_mut().zip(nr4));
    for (((a, b), m), ((sl, sr), (nl, nr))) in l4.iter().zip(r4).zip(m4).zip(sums) {
        let a = clean4(f32x4::from(*a), &mut non_finite);
        let b = clean4(f32x4::from(*b), &mut non_finite);
        *nl = (f32x4::from(*sl) + a).to_array();
        *nr = (f32x4::from(*sr) + b).to_array();
        *m = ((a + b) * half).to_array();
        for (c, x) in [a, b].into_iter().enumerate() {
            peak[c] = peak[c].fast_max(x.abs());
            total[c] += x;
            squares[c] += x * x;
        }
    }
    let mut lanes = [0, 1].map(|c| Lanes {
        peak: peak[c].to_array(),
        sum: total[c].to_array(),
        squares: squares[c].to_array(),
    });
    let mut non_finite = non_finite.reduce_add() as u64;
    let sums = sl_rest
        .iter()
        .zip(sr_rest)
        .zip(nl_rest.iter_mut().zip(nr_rest));
    for (((&a, &b), m), ((sl, sr), (nl, nr))) in l_rest.iter().zip(r_rest).zip(m_rest).zip(sums) {
        let a = clean(a, &mut non_finite);
        let b = clean(b, &mut non_finite);
        *nl = sl + a;
        *nr = sr + b;
        *m = 0.5 * (a + b);
        lanes[0].add_one(a);
        lanes[1].add_one(b);
    }
    let clamped = lanes
        .iter()
        .any(|l| l.peak.iter().any(|&p| p >= MAX_SAMPLE_MAGNITUDE));
    Gathered {
        lanes,
        non_finite,
        cleaned: non_finite > 0 || clamped,
    }
}

/// `from` itself when it is clean audio (the normal case: one vectorisable check, no copy),
/// else a copy in `scratch` sanitised like [`clean`].
fn sanitised<'a>(from: &'a [f32], scratch: &'a mut [f32], non_finite: &mut u64) -> &'a [f32] {
    let suspicious = from.iter().fold(false, |bad, &x| {
        let a = x.abs();
        // NaN is neither finite nor small; subnormals are below MIN_POSITIVE but not zero.
        bad | !a.is_finite() | (a > MAX_SAMPLE_MAGNITUDE) | (a < f32::MIN_POSITIVE && a != 0.0)
    });
    if !suspicious {
        return from;
    }
    for (o, &x) in scratch.iter_mut().zip(from) {
        *o = clean(x, non_finite);
    }
    &scratch[..from.len().min(scratch.len())]
}

#[cfg(test)]
mod tests;
