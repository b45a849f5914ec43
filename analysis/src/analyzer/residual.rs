//! The residual: master minus the stems' sum, and what it is made of.
//!
//! - In the time domain, every hop, with only the common lag compensated: the null residual
//!   (whole pass, recent, per channel), its left/right correlation, and whether its envelope
//!   trails the sum's (a reverb or delay tail).
//! - From the accumulated spectra: how spread out in time the residual's response to the sum
//!   is (EQ and gain respond at once; a reverb return spreads), and what no stem explains per
//!   bin and band (a missing source or return).

use wide::f32x4;

use crate::config::{
    ENVELOPE_BLOCK_SECONDS, ENVELOPE_HISTORY, OWN_LAG_MAX_FITTED_GAIN_DB,
    PLACEMENT_RESTART_MAX_SECONDS, RECENT_SECONDS, RESPONSE_FLOOR_SHARE, SEGMENTS_PER_HOP,
    SHORT_RESPONSE_SECONDS, TAIL_FROM_BLOCKS, TAIL_TO_BLOCKS,
};
use crate::decibels::{db_to_gain_f32, energy_ratio_db};
use crate::low_pass::LowPass;
use crate::measurements::Measurements;
use crate::spectra::Cf;

use super::fit::GainFit;
use super::segments::SegmentSums;
use super::{Analyzer, Scratch};

/// Stems' sum and master over the time domain, since the common lag last changed (writer:
/// [`Analyzer::time_domain_hop`]). Energies are sums of squared samples.
#[derive(Default)]
pub(super) struct TimeDomain {
    /// The master's energy, left and right.
    master_energy: [f64; 2],
    /// The residual's energy, left and right.
    residual_energy: [f64; 2],
    /// The master's energy, decaying with [`RECENT_SECONDS`].
    recent_master: f64,
    /// The residual's energy, decaying with [`RECENT_SECONDS`].
    recent_residual: f64,
    /// Sum of the residual's left times right.
    residual_lr: f64,
    /// The residual's mid energy.
    residual_mid_energy: f64,
    /// The residual's mid energy with each stem found inverted read with its sign turned, and
    /// each at a gain of its own read at it ([`own_gained`]; outside dropouts): the share
    /// collinear with the sum is of it.
    character_mid_energy: f64,
    /// The master's mid energy over the stretch `character_mid_energy` covers.
    character_master_mid: f64,
    /// The stems read turned or at their own gain in `character_mid_energy` (how many, and a hash of
    /// their indices, see [`turned_signature`]): when it changes, the residual's character is
    /// measured afresh.
    character_turned: (usize, u64),
    /// The sum's mid energy, and the residual's mid times the sum's (see
    /// `segments::corrected_residual_mid`).
    sum_mid_energy: f64,
    residual_sum_cross: f64,
    /// The master's mid energy.
    master_mid_energy: f64,
    /// The residual's mid energy in the current envelope block.
    envelope_residual: f64,
    /// The sum's mid energy in the current envelope block.
    envelope_sum: f64,
    /// Samples in the current envelope block.
    envelope_fill: usize,
    /// The sum's envelope (RMS per block, unnormalised) over the last blocks.
    envelope_history: [f64; ENVELOPE_HISTORY],
    /// Envelope blocks completed.
    envelope_count: usize,
    /// Sum over blocks of the residual's envelope times the sum's at the same time.
    follow_now: f64,
    /// ... times the sum's mean envelope 100 to 300 ms earlier.
    follow_tail: f64,
    /// The residual's mid times the sum's mid in the current envelope block.
    envelope_cross: f64,
    /// Sum over envelope blocks of the residual's mid energy collinear with the sum's mid in
    /// that block (`cross^2 / sum energy`): what a gain changing block by block explains.
    collinear_energy: f64,
    /// The residual's and the sum's envelope in the previous envelope block.
    onset_previous: [f64; 2],
    /// Sum over envelope blocks of the residual's and the sum's envelope rises (onsets).
    onset_rise: [f64; 2],
    /// Sum over envelope blocks of the residual's and the sum's envelopes.
    onset_level: [f64; 2],
}

/// Whether a stem locked at a lag of its own, fitted there at `fitted_gain` (linear, either
/// sign), is whole there: within [`OWN_LAG_MAX_FITTED_GAIN_DB`] of unity.
fn whole_there(fitted_gain: f32) -> bool {
    let g = fitted_gain.abs();
    g >= db_to_gain_f32(-OWN_LAG_MAX_FITTED_GAIN_DB)
        && g <= db_to_gain_f32(OWN_LAG_MAX_FITTED_GAIN_DB)
}

/// Whether the residual's character is read with `stem`'s sign turned: the fit finds it whole
/// and inverted (until a fit at its lag, the lag check found it inverted).
fn flipped(stem: &super::stems::Stem) -> bool {
    if stem.fitted_at_lag {
        stem.fitted_gain < 0.0 && whole_there(stem.fitted_gain)
    } else {
        stem.locked && stem.inverted
    }
}

/// Whether the residual's character is read with `stem` at its own gain (not inverted; see
/// [`super::stems::Stem::own_gain`]): a gain no compressor gives is its own finding, and the
/// residual it leaves, the stem, is not collinear with the sum (beside a compressor, a drum
/// stem 3 dB quiet left 36% of the residual off the sum, and read as content no stem carries).
fn own_gained(stem: &super::stems::Stem) -> bool {
    !flipped(stem) && stem.own_gain > 0.0 && stem.own_gain != 1.0
}

/// Which stems are turned (`turned`, in the stems' order), as their number and the XOR of a
/// mix of each one's index (SplitMix64's finaliser): two different sets of turned stems give
/// the same signature only by a 64-bit chance.
fn turned_signature(turned: impl Iterator<Item = bool>) -> (usize, u64) {
    turned
        .enumerate()
        .filter(|&(_, t)| t)
        .fold((0, 0), |(n, hash), (k, _)| {
            let mut z = (k as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (n + 1, hash ^ (z ^ (z >> 31)))
        })
}

/// The residual's energy in a block that a gain on the sum explains: `cross^2 / sum_energy`
/// One stretch's sums (see [`SegmentSums`]), in single precision, each summed sample after
/// sample from 0, and the sample peaks of master and sum over both channels, from the master's
/// left and right, the sum's left and right, the residual's left and right, and what reading
/// the stems locked at lags of their own there adds to the sum's mid (all the same length; the
/// mids are taken with it, left and right without).
///
/// Four samples of each product are one vector; a transpose turns four sums' products into one
/// vector per sample, added in the samples' order: each sum's additions are the scalar loop's,
/// in its order (the same bits), four sums to an instruction.
#[inline]
fn stretch_sums(signals: [&[f32]; 7]) -> ([f32; 9], [f32; 2]) {
    let len = signals[0].len();
    let [ml, mr, sl, sr, rl, rr, fix] = signals.map(|x| &x[..len]);
    let quads = [ml, mr, sl, sr, rl, rr, fix].map(|x| x.as_chunks::<4>().0);
    let count = quads[0].len();
    let [a4, b4, c4, d4, rl4, rr4, f4] = quads.map(|q| &q[..count]);
    let half = f32x4::HALF;
    let (mut first, mut second, mut last) = (f32x4::ZERO, f32x4::ZERO, 0.0f32);
    let (mut peak_m, mut peak_s) = (f32x4::ZERO, f32x4::ZERO);
    for i in 0..count {
        let [a, b, c, d, rl, rr] = [a4, b4, c4, d4, rl4, rr4].map(|q| f32x4::from(q[i]));
        let f = f32x4::from(f4[i]);
        let (rm, mm, sm) = (half * (rl + rr) - f, half * (a + b), half * (c + d) + f);
        for by_sample in f32x4::transpose([a * a, b * b, rl * rl, rr * rr]) {
            first += by_sample;
        }
        for by_sample in f32x4::transpose([rl * rr, rm * rm, mm * mm, sm * sm]) {
            second += by_sample;
        }
        for product in (rm * sm).to_array() {
            last += product;
        }
        peak_m = peak_m.fast_max(a.abs()).fast_max(b.abs());
        peak_s = peak_s.fast_max(c.abs()).fast_max(d.abs());
    }
    let (first, second) = (first.to_array(), second.to_array());
    let mut sums = [
        first[0], first[1], first[2], first[3], second[0], second[1], second[2], second[3], last,
    ];
    let reduce = |p: f32x4| p.to_array().into_iter().fold(0.0f32, f32::max);
    let (mut peak_m, mut peak_s) = (reduce(peak_m), reduce(peak_s));
    for i in 4 * count..len {
        let (a, b, c, d, rl, rr, f) = (ml[i], mr[i], sl[i], sr[i], rl[i], rr[i], fix[i]);
        let (rm, mm, sm) = (0.5 * (rl + rr) - f, 0.5 * (a + b), 0.5 * (c + d) + f);
        sums[0] += a * a;
        sums[1] += b * b;
        sums[2] += rl * rl;
        sums[3] += rr * rr;
        sums[4] += rl * rr;
        sums[5] += rm * rm;
        sums[6] += mm * mm;
        sums[7] += sm * sm;
        sums[8] += rm * sm;
        peak_m = peak_m.max(a.abs()).max(b.abs());
        peak_s = peak_s.max(c.abs()).max(d.abs());
    }
    (sums, [peak_m, peak_s])
}

/// (the projection of the residual on the sum), 0 for a silent sum.
fn collinear_energy(cross: f64, sum_energy: f64) -> f64 {
    if sum_energy > 0.0 {
        cross * cross / sum_energy
    } else {
        0.0
    }
}

/// How much the residual's envelope rises in onsets of its own, per unit of its level, against
/// the sum's (see [`crate::measurements::Measurements::residual_onset_ratio`]); 0 without a
/// residual or without onsets in the sum.
fn onset_ratio(rise: [f64; 2], level: [f64; 2]) -> f32 {
    if rise[1] <= 0.0 || level[0] <= 0.0 || level[1] <= 0.0 {
        return 0.0;
    }
    ((rise[0] / level[0]) / (rise[1] / level[1])) as f32
}

impl TimeDomain {
    /// Adds `sign` times a stretch's sums (see [`SegmentSums`]) to the whole-run residual.
    fn add(&mut self, sums: &SegmentSums, sign: f64) {
        self.master_energy[0] += sign * sums[0];
        self.master_energy[1] += sign * sums[1];
        self.residual_energy[0] += sign * sums[2];
        self.residual_energy[1] += sign * sums[3];
        self.residual_lr += sign * sums[4];
        self.residual_mid_energy += sign * sums[5];
        self.master_mid_energy += sign * sums[6];
        self.sum_mid_energy += sign * sums[7];
        self.residual_sum_cross += sign * sums[8];
    }

    /// The whole-run sums, as [`SegmentSums`].
    fn sums(&self) -> SegmentSums {
        [
            self.master_energy[0],
            self.master_energy[1],
            self.residual_energy[0],
            self.residual_energy[1],
            self.residual_lr,
            self.residual_mid_energy,
            self.master_mid_energy,
            self.sum_mid_energy,
            self.residual_sum_cross,
        ]
    }
}

/// The residual's state.
#[derive(Default)]
pub(super) struct ResidualState {
    /// The time-domain accumulators.
    pub time: TimeDomain,
    /// The common lag `time` was measured at, in samples (writer: `time_domain_hop`).
    pub lag: Option<i64>,
    /// See [`Analyzer::residual_impulse_spread`] (writer: `update`).
    pub ir_spread: f32,
    /// ... with the stems read inverted turned ([`Analyzer::turned_impulse_spread`]).
    pub turned_ir_spread: f32,
    /// The low pass on the residual, left and right, when the comparison is band-limited
    /// ([`crate::AnalyzerConfig::compare_below_hz`]; writer: [`ResidualState::new`]).
    pub band_limit: Option<[LowPass; 2]>,
}

impl ResidualState {
    /// The residual's state, band-limited below `compare_below_hz` when given (and below
    /// Nyquist).
    pub fn new(compare_below_hz: Option<f32>, sample_rate_hz: f32) -> Self {
        let band_limit = compare_below_hz
            .and_then(|hz| LowPass::new(hz, sample_rate_hz))
            .map(|f| [f.clone(), f]);
        Self {
            band_limit,
            ..Self::default()
        }
    }
}

impl Analyzer {
    /// The null residual in the time domain over one hop, with only the common lag
    /// compensated, and the residual's stereo and envelope character.
    pub(super) fn time_domain_hop(&mut self, start: i64, common_lag: i64) {
        let hop = self.layout.hop as i64;
        // The residual is measured at the common lag, with each stem placed at a lag of its own
        // read there: when the common lag changes, or a stem is first placed at a lag of its
        // own, so does what is measured, and the pass so far no longer counts. (A bass 96
        // samples early left the first second's residual at the master's level, which held the
        // whole-run baseline 13 dB up for the next ten: a keys mute at 8 s never rose over it.)
        // Once per stem, and only while the pass has measured less than
        // [`PLACEMENT_RESTART_MAX_SECONDS`]: one far out of the lag range moves on and on, and
        // a restart at every move, or at a placement in the last hop, left nothing measured (a
        // brass or a vibraphone a second late read as a null).
        let measured_s = self.residual.time.envelope_count as f64 * ENVELOPE_BLOCK_SECONDS;
        let early = measured_s < PLACEMENT_RESTART_MAX_SECONDS;
        let mut first_placed = false;
        for stem in &mut self.stems {
            if stem.placed && stem.lag != common_lag && !stem.placed_own_restarted {
                stem.placed_own_restarted = true;
                first_placed |= early;
            }
        }
        if self.residual.lag != Some(common_lag) || first_placed {
            self.residual.lag = Some(common_lag);
            self.residual.time = TimeDomain::default();
            self.segments.restart();
            for f in self.residual.band_limit.iter_mut().flatten() {
                f.reset();
            }
        }
        let sum_start = start - common_lag;
        if !(self.master.seen
            && self.master.left.present(start, start + hop)
            && self.sum.left.present(sum_start, sum_start + hop))
        {
            return;
        }
        // Each stem's level per segment of the hop, for the dropouts (`segments.rs`).
        self.begin_segments(sum_start);
        let envelope_block =
            ((ENVELOPE_BLOCK_SECONDS * f64::from(self.layout.sample_rate_hz)) as usize).max(1);
        let decay =
            (-(hop as f64) / (RECENT_SECONDS * f64::from(self.layout.sample_rate_hz))).exp();
        // The dropouts read the residual against the sum at the bus's fitted gain.
        let bus_gain = self.fitted_bus_gain();
        // Copy the hop out of the rings (two memcpys each), then work on plain slices.
        let n = self.layout.hop;
        let Scratch {
            td,
            offset_fix: fix,
            character_fix: character,
            offset_read,
            ..
        } = &mut self.scratch;
        for (buffer, (ring, from)) in td.iter_mut().zip([
            (&self.master.left, start),
            (&self.master.right, start),
            (&self.sum.left, sum_start),
            (&self.sum.right, sum_start),
        ]) {
            buffer.resize(n, 0.0);
            ring.read(from, &mut buffer[..n]);
        }
        // The residual, left and right, band-limited if asked (the rest of the hop reads the
        // master and the sum as they are: peaks and levels).
        let [ml, mr, sl, sr, res_l, res_r] = &mut *td;
        for (res, (m, s)) in [(&mut *res_l, (&*ml, &*sl)), (&mut *res_r, (&*mr, &*sr))] {
            res.resize(n, 0.0);
            for ((r, &a), &c) in res.iter_mut().zip(m.iter()).zip(s.iter()) {
                *r = a - c;
            }
        }
        if let Some([fl, fr]) = &mut self.residual.band_limit {
            fl.process(&mut res_l[..n]);
            fr.process(&mut res_r[..n]);
        }
        // A stem at a lag of its own (not the common lag) is read there for the mids, as in the
        // frames' spectra: `fix` is what moving it adds to the sum's mid. Its offset is its own
        // finding (one cause per effect): the residual it leaves must not raise another stem's
        // silent stretch into a dropout, nor colour the residual's character (tails, onsets).
        // The left and right residual stay the delivered files' null test. Only a stem the fit
        // finds whole and alone at its lag (see [`OWN_LAG_MAX_FITTED_GAIN_DB`]; until a fit at
        // that lag, it is taken to be): a reverb return dragged off by a missing reverb it
        // correlates with fits hot there, and reading it there would hide that reverb. And only
        // a stem a search placed: one that starts late sits at the default lag 0 until its
        // first notes are searched, and is read where the others are, not where it was never
        // found (read at 0 beside a mix 480 samples late, a synth's first 1.7 s left a residual
        // 15 dB under the mix, and the keys' rest there read as a dropout). A stem just moved
        // to a new lag, not yet confirmed there, is placed (read with the others until confirmed,
        // a strings stem 480 samples late left a residual in which the brass's rest read as a
        // dropout).
        let at_own_lag = |s: &super::stems::Stem| {
            s.placed && s.lag != common_lag && (!s.fitted_at_lag || whole_there(s.fitted_gain))
        };
        fix.resize(n, 0.0);
        fix[..n].fill(0.0);
        for stem in self.stems.iter().filter(|s| at_own_lag(s)) {
            let (own, delivered) = (start - stem.lag, sum_start);
            offset_read.resize(n, 0.0);
            stem.ring.read(own, &mut offset_read[..n]);
            for (f, x) in fix.iter_mut().zip(&offset_read[..n]) {
                *f += x;
            }
            stem.ring.read(delivered, &mut offset_read[..n]);
            for (f, x) in fix.iter_mut().zip(&offset_read[..n]) {
                *f -= x;
            }
        }
        // The residual's character (its collinear share, tail and onsets) is read with each stem
        // the fit finds whole and inverted (until a fit at its lag, one the lag check found
        // inverted) at its sign turned: its polarity is its own finding, and the residual it
        // leaves, twice the stem, is not collinear with the sum, so beside a master compressor
        // it would pass for content no stem carries (a compressor or an EQ never turns a
        // sign); likewise a stem at a gain of its own at that gain ([`own_gained`]). The
        // dropouts keep reading the residual as delivered: a stem found inverted
        // only after the first seconds would otherwise leave them a residual that falls.
        // The residual's character is read from when the stems turned last changed: before
        // the first fit, an inverted bass left twice itself for a second, which held what was
        // left of the residual 12 dB over the missing reverb under it for the whole run.
        let turned = turned_signature(self.stems.iter().map(|s| flipped(s) || own_gained(s)));
        let t = &mut self.residual.time;
        if t.character_turned != turned {
            t.character_turned = turned;
            t.character_mid_energy = 0.0;
            t.character_master_mid = 0.0;
            t.collinear_energy = 0.0;
            t.follow_now = 0.0;
            t.follow_tail = 0.0;
            t.onset_rise = [0.0; 2];
            t.onset_level = [0.0; 2];
        }
        let mut flips = false;
        for stem in self.stems.iter().filter(|s| flipped(s) || own_gained(s)) {
            if !flips {
                character.resize(n, 0.0);
                character[..n].copy_from_slice(&fix[..n]);
                flips = true;
            }
            let own = if at_own_lag(stem) {
                start - stem.lag
            } else {
                sum_start
            };
            offset_read.resize(n, 0.0);
            stem.ring.read(own, &mut offset_read[..n]);
            // The sum with the stem turned, or at its own gain.
            let change = if flipped(stem) {
                -2.0
            } else {
                stem.own_gain - 1.0
            };
            for (c, x) in character.iter_mut().zip(&offset_read[..n]) {
                *c += change * x;
            }
        }
        let (ml, mr, sl, sr, res_l, res_r, fix) = (&*ml, &*mr, &*sl, &*sr, &*res_l, &*res_r, &*fix);
        let character = &*character;
        let seg_len = self.segments.seg_len;
        let (mut hop_master, mut hop_residual) = (0.0f64, 0.0f64);
        let mut segment: SegmentSums = [0.0; 9];
        // The segment's sample peaks, master and sum, over both channels (a limiter's ceiling
        // is on the louder channel's samples).
        let mut segment_peaks = [0.0f32; 2];
        let mut offset = 0;
        while offset < n {
            let t = &mut self.residual.time;
            // Up to the end of the current envelope block, and of the current segment.
            let len = (envelope_block - t.envelope_fill)
                .min(n - offset)
                .min(seg_len - offset % seg_len);
            let excluded = self
                .segments
                .excluding((offset / seg_len).min(SEGMENTS_PER_HOP - 1));
            let range = offset..offset + len;
            let (sums, [peak_m, peak_s]) =
                stretch_sums([ml, mr, sl, sr, res_l, res_r, fix].map(|x| &x[range.clone()]));
            segment_peaks = [segment_peaks[0].max(peak_m), segment_peaks[1].max(peak_s)];
            let sums = sums.map(f64::from);
            let character_sums = if flips {
                stretch_sums([ml, mr, sl, sr, res_l, res_r, character].map(|x| &x[range.clone()]))
                    .0
                    .map(f64::from)
            } else {
                sums
            };
            let chunk: SegmentSums = sums;
            if excluded {
                // A stem's dropout: not part of the whole-run residual (`segments.rs`).
                self.segments.exclude(&chunk);
            } else {
                t.add(&chunk, 1.0);
                t.envelope_residual += character_sums[5];
                t.character_mid_energy += character_sums[5];
                t.character_master_mid += sums[6];
            }
            for (s, c) in segment.iter_mut().zip(&chunk) {
                *s += c;
            }
            hop_master += sums[0] + sums[1];
            hop_residual += sums[2] + sums[3];
            t.envelope_sum += character_sums[7];
            t.envelope_cross += character_sums[8];
            t.envelope_fill += len;
            offset += len;
            if t.envelope_fill == envelope_block {
                let (er, es) = (t.envelope_residual.sqrt(), t.envelope_sum.sqrt());
                if t.envelope_count >= TAIL_TO_BLOCKS {
                    let tail: f64 = (TAIL_FROM_BLOCKS..TAIL_TO_BLOCKS)
                        .map(|back| {
                            t.envelope_history[(t.envelope_count - back) % ENVELOPE_HISTORY]
                        })
                        .sum::<f64>()
                        / (TAIL_TO_BLOCKS - TAIL_FROM_BLOCKS) as f64;
                    t.follow_now += er * es;
                    t.follow_tail += er * tail;
                }
                t.collinear_energy += collinear_energy(t.envelope_cross, t.envelope_sum);
                for (k, e) in [er, es].into_iter().enumerate() {
                    t.onset_rise[k] += (e - t.onset_previous[k]).max(0.0);
                    t.onset_level[k] += e;
                    t.onset_previous[k] = e;
                }
                t.envelope_cross = 0.0;
                t.envelope_history[t.envelope_count % ENVELOPE_HISTORY] = es;
                t.envelope_count += 1;
                t.envelope_residual = 0.0;
                t.envelope_sum = 0.0;
                t.envelope_fill = 0;
            }
            if offset % seg_len == 0 || offset == n {
                let j = ((offset - 1) / seg_len).min(SEGMENTS_PER_HOP - 1);
                let whole = t.sums();
                let taken = Analyzer::end_segment(
                    &mut self.segments,
                    &self.stems,
                    self.layout.sample_rate_hz,
                    j,
                    sum_start,
                    &segment,
                    excluded,
                    &whole,
                    bus_gain,
                );
                self.residual.time.add(&taken, -1.0);
                // As delivered: the same as read with a stem's sign turned unless one is.
                self.residual.time.character_mid_energy -= taken[5];
                self.residual.time.character_master_mid -= taken[6];
                if !excluded && segment_peaks[0] > 0.0 && segment_peaks[1] > 0.0 {
                    self.bus.ceiling.add(
                        20.0 * segment_peaks[1].log10(),
                        20.0 * segment_peaks[0].log10(),
                    );
                }
                segment = [0.0; 9];
                segment_peaks = [0.0; 2];
            }
        }
        let t = &mut self.residual.time;
        t.recent_master = t.recent_master * decay + hop_master;
        t.recent_residual = t.recent_residual * decay + hop_residual;
    }

    /// The bus's broadband gain as last fitted (linear; 1 before any fit, or when it makes no
    /// sense).
    pub(super) fn fitted_bus_gain(&self) -> f32 {
        let m = &self.results.last_measurements;
        let g = crate::decibels::db_to_gain_f32(m.bus_gain_db);
        if m.cross_ready && g.is_finite() && g > 0.0 {
            g
        } else {
            1.0
        }
    }

    /// How spread out in time the residual's impulse response is: the share of the energy of
    /// `IFFT((Pms - Pss) / Pss)` (what turns the sum into master minus sum) further than
    /// [`SHORT_RESPONSE_SECONDS`] from 0. EQ and gain respond within a few milliseconds; a
    /// reverb or delay return spreads over the whole frame.
    pub(super) fn residual_impulse_spread(&mut self) -> f32 {
        self.impulse_spread(false)
    }

    /// [`Analyzer::residual_impulse_spread`] of the residual with each stem read inverted (see
    /// [`flipped`]) turned: what is left once the stems' polarity is put right (twice an
    /// inverted bass responds at once, and hid a missing reverb's long response). The plain
    /// spread when no stem is turned.
    pub(super) fn turned_impulse_spread(&mut self) -> f32 {
        if self.stems.iter().any(flipped) {
            self.impulse_spread(true)
        } else {
            self.residual.ir_spread
        }
    }

    fn impulse_spread(&mut self, turned: bool) -> f32 {
        let (lo, hi) = self.layout.analysis_bins;
        let mean_pss = self.welch.pss[lo..hi].iter().sum::<f64>() / (hi - lo).max(1) as f64;
        let Scratch { gcc, corr, .. } = &mut self.scratch;
        for (i, g) in gcc.iter_mut().enumerate() {
            *g = if i >= lo && i < hi {
                // The residual's cross-spectrum with the sum; turning stem k adds twice its
                // (`sum K S*`, the conjugate of its `psk`).
                let mut cross = self.welch.pms[i] - self.welch.pss[i];
                if turned {
                    for stem in self.stems.iter().filter(|s| flipped(s)) {
                        cross += 2.0 * stem.psk[i].conj();
                    }
                }
                let r = cross / (self.welch.pss[i] + RESPONSE_FLOOR_SHARE * mean_pss);
                Cf::new(r.re as f32, r.im as f32)
            } else {
                Cf::new(0.0, 0.0)
            };
        }
        self.fft.inverse(gcc, corr);
        let n = corr.len();
        let short = ((SHORT_RESPONSE_SECONDS * self.layout.sample_rate_hz) as usize).min(n / 2);
        let (mut near, mut total) = (0.0f64, 0.0f64);
        for (t, &v) in corr.iter().enumerate() {
            let e = f64::from(v) * f64::from(v);
            total += e;
            if t <= short || t >= n - short {
                near += e;
            }
        }
        if total > 0.0 {
            (1.0 - near / total) as f32
        } else {
            0.0
        }
    }

    /// The measurements that need no cross-spectral estimate: progress, the time-domain null
    /// residual and its character, levels and loudness.
    pub(super) fn time_domain_measurements(&self, common_lag: i64) -> Measurements {
        let sr = f64::from(self.layout.sample_rate_hz);
        let t = &self.residual.time;
        let rel = energy_ratio_db;
        // Outside the dropouts (`segments.rs`), and with them: the whole pass.
        // Stretches found dropouts only once the run without them was known (a stem muted from
        // before its first note) are out of the residual outside the dropouts too.
        let whole = t.sums();
        let (late_master, late_residual) = self
            .segments
            .late_dropouts_energy(&whole, self.fitted_bus_gain());
        let outside_master: f64 = t.master_energy.iter().sum::<f64>() - late_master;
        let outside_residual: f64 = t.residual_energy.iter().sum::<f64>() - late_residual;
        let [excluded_master, excluded_residual] = self.segments.excluded;
        let (excluded_master, excluded_residual) = (
            excluded_master + late_master,
            excluded_residual + late_residual,
        );
        let total_master = outside_master + excluded_master;
        let total_residual = outside_residual + excluded_residual;
        Measurements {
            sample_rate_hz: self.layout.sample_rate_hz,
            seconds_received: self.progress.position as f64 / sr,
            seconds_analysed: self.progress.analysed_frames_total as f64 * self.layout.hop as f64
                / sr,
            has_master: self.master.seen,
            num_stems: self.stems.len(),
            null_residual_db: rel(total_residual, total_master),
            null_residual_recent_db: rel(t.recent_residual, t.recent_master),
            null_residual_channels_db: [
                rel(t.residual_energy[0], t.master_energy[0]),
                rel(t.residual_energy[1], t.master_energy[1]),
            ],
            common_lag_samples: common_lag,
            residual_lr_correlation: {
                let d = (t.residual_energy[0] * t.residual_energy[1]).sqrt();
                if d > 0.0 && self.master.channels == 2 {
                    (t.residual_lr / d) as f32
                } else {
                    1.0
                }
            },
            residual_ir_spread: self.residual.ir_spread,
            residual_turned_ir_spread: self.residual.turned_ir_spread,
            residual_tail_follow: if t.follow_now > 0.0 {
                (t.follow_tail / t.follow_now) as f32
            } else {
                0.0
            },
            residual_collinear_share: if t.character_mid_energy > 0.0 {
                (t.collinear_energy / t.character_mid_energy).min(1.0) as f32
            } else {
                0.0
            },
            residual_onset_ratio: onset_ratio(t.onset_rise, t.onset_level),
            residual_turned_db: rel(t.character_mid_energy.max(0.0), t.character_master_mid),
            master_levels: self.master.seen.then(|| self.master.stats.summary()),
            sum_levels: (self.sum.stats.samples() > 0).then(|| self.sum.stats.summary()),
            master_lufs: self
                .master
                .loudness
                .integrated_lufs()
                .filter(|_| self.master.seen),
            sum_lufs: self.sum.loudness.integrated_lufs(),
            null_residual_outside_dropouts_db: rel(outside_residual, outside_master),
            null_floor_db: self
                .master
                .seen
                .then(|| {
                    let rms_dbfs = self.master.stats.summary().rms_dbfs;
                    self.residual_floor_db(crate::decibels::db_to_power(f64::from(rms_dbfs)))
                })
                .flatten(),
            dropouts: self.dropout_measurements(common_lag, &whole, total_master),
            ..Measurements::default()
        }
    }

    /// Per bin, the master's energy that no stem explains: the per-bin linear fit of the
    /// master on the sum (which absorbs EQ and, with frame gains normalised, dynamics), cut
    /// per band to what the joint per-stem fit leaves (which absorbs each stem's gain and
    /// polarity).
    pub(super) fn unexplained(&self, fit: &GainFit) -> Vec<f64> {
        let (lo, hi) = self.layout.analysis_bins;
        let mut unexplained = vec![0.0f64; self.welch.pmm.len()];
        // The files' own floors (`floor.rs`) are no part of anything: the master's is all
        // unexplained; the sum's takes its share of the sum's power off what the fit explains.
        let master_floor = self.floor_per_bin(self.master_floor_power());
        let sum_floor = self.floor_per_bin(self.sum_floor_power());
        for i in lo..hi {
            let pss = self.welch.pss[i];
            let floor = if pss > 0.0 {
                master_floor + sum_floor * ((pss - sum_floor).max(0.0) / pss)
            } else {
                master_floor
            };
            // The normalised fit is there to take a compressor's gain out; it never leaves more
            // than the plain one (a frame gain misread where a 16-bit bass stem held only
            // dither at 16 kHz left 1% of that band unexplained, 25 dB over the whole
            // residual, and read as missing content).
            let u = if pss > 0.0 {
                let normalised = self.welch.pmm_norm[i] - self.welch.pms_norm[i].norm_sqr() / pss;
                let plain = self.welch.pmm[i] - self.welch.pms[i].norm_sqr() / pss;
                normalised.min(plain)
            } else {
                self.welch.pmm_norm[i]
            };
            unexplained[i] = (u - floor).max(0.0);
        }
        // Per band, keep what neither model explains: the per-bin linear fit (which absorbs
        // EQ and, normalised, dynamics) nor the joint per-stem fit (which absorbs each stem's
        // gain and polarity).
        for (b, band) in self.layout.bands.iter().enumerate() {
            let explained = fit.band_explained[b];
            if !explained.is_finite() {
                continue;
            }
            let r = band.first_bin..band.end_bin.min(unexplained.len());
            let per_bin: f64 = unexplained[r.clone()].iter().sum();
            let pmm: f64 = self.welch.pmm[r.clone()].iter().sum();
            // The master's floor is in the joint fit's remainder too (the sum's, a sliver of
            // it, is left: it only lowers what the stems explain).
            let floor = master_floor * r.len() as f64;
            let joint = (pmm - explained - floor).max(0.0);
            if joint < per_bin && per_bin > 0.0 {
                let scale = joint / per_bin;
                unexplained[r].iter_mut().for_each(|u| *u *= scale);
            }
        }
        unexplained
    }

    /// What no stem explains, overall and where, and the residual once the stems are aligned.
    pub(super) fn measure_unexplained(
        &self,
        unexplained: &[f64],
        sum_pmm: f64,
        m: &mut Measurements,
    ) {
        let (lo, hi) = self.layout.analysis_bins;
        let rel = energy_ratio_db;
        let sum_pmm_norm: f64 = self.welch.pmm_norm[lo..hi].iter().sum();
        let total_unexplained: f64 = unexplained.iter().sum();
        m.unexplained_db = rel(total_unexplained, sum_pmm_norm);
        let spectral_residual: f64 = (lo..hi)
            .map(|i| (self.welch.pmm[i] + self.welch.pss[i] - 2.0 * self.welch.pms[i].re).max(0.0))
            .sum();
        m.residual_spectral_db = rel(spectral_residual, sum_pmm);
        let mut running = 0.0;
        for band in &self.layout.bands {
            running += unexplained[band.first_bin..band.end_bin.min(unexplained.len())]
                .iter()
                .sum::<f64>();
            if running >= total_unexplained / 2.0 {
                m.unexplained_band_hz = (band.low_hz, band.high_hz);
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{collinear_energy, onset_ratio, stretch_sums, turned_signature, whole_there};

    #[test]
    fn sets_of_turned_stems_of_equal_count_and_index_sum_differ() {
        let of = |set: &[bool]| turned_signature(set.iter().copied());
        // {0, 3} and {1, 2}: two stems each, indices summing to 3.
        assert_ne!(
            of(&[true, false, false, true]),
            of(&[false, true, true, false])
        );
        assert_eq!(of(&[false, false]), (0, 0));
        assert_eq!(of(&[true, false, true]), of(&[true, false, true]));
    }

    #[test]
    fn a_placed_stem_ducked_by_a_compressor_is_whole_there_and_a_dragged_return_is_not() {
        // Held-out (pedalboard compressor, 2:1 from -20 dB, a drum stem 48 samples late): the
        // drums, which drive the compressor, fit 0.8 to 1.2 dB down at their lag from one fit
        // to the next; read as delivered whenever they fell under 1 dB, their misplaced copy
        // raised missing content beside the compressor.
        for db in [-1.2f32, -0.8, 0.0, 1.2] {
            let g = 10f32.powf(db / 20.0);
            assert!(whole_there(g) && whole_there(-g), "{db} dB");
        }
        // A return dragged off its lag by a missing reverb fits 2.3 dB hot there; a stem whose
        // lag is wrong fits dB down.
        for db in [2.3f32, -3.0, -20.0] {
            assert!(!whole_there(10f32.powf(db / 20.0)), "{db} dB");
        }
    }

    /// The side-by-side stretch sums give the bits of the plain loop, for any length (whole
    /// vectors and a remainder).
    #[test]
    fn side_by_side_stretch_sums_match_the_plain_loop_to_the_bit() {
        let mut seed = 5u32;
        let mut signal = |gain: f32| -> Vec<f32> {
            (0..203)
                .map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    gain * ((seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0)
                })
                .collect()
        };
        let x: [Vec<f32>; 7] = std::array::from_fn(|k| signal(0.1 + 0.15 * k as f32));
        for len in [0, 1, 3, 4, 7, 64, 203] {
            let [ml, mr, sl, sr, rl, rr, fix] = std::array::from_fn(|k| &x[k][..len]);
            let mut sums = [0.0f32; 9];
            let (mut peak_m, mut peak_s) = (0.0f32, 0.0f32);
            for i in 0..len {
                let (a, b, c, d, rl, rr, f) = (ml[i], mr[i], sl[i], sr[i], rl[i], rr[i], fix[i]);
                let (rm, mm, sm) = (0.5 * (rl + rr) - f, 0.5 * (a + b), 0.5 * (c + d) + f);
                let products = [
                    a * a,
                    b * b,
                    rl * rl,
                    rr * rr,
                    rl * rr,
                    rm * rm,
                    mm * mm,
                    sm * sm,
                    rm * sm,
                ];
                for (s, p) in sums.iter_mut().zip(products) {
                    *s += p;
                }
                peak_m = peak_m.max(a.abs()).max(b.abs());
                peak_s = peak_s.max(c.abs()).max(d.abs());
            }
            let (got, peaks) = stretch_sums([ml, mr, sl, sr, rl, rr, fix]);
            assert_eq!(
                got.map(f32::to_bits),
                sums.map(f32::to_bits),
                "{len} samples"
            );
            assert_eq!(peaks, [peak_m, peak_s], "{len} samples");
        }
    }

    #[test]
    fn a_smeared_envelope_has_fewer_onsets_than_its_source() {
        // The sum: notes every 4 blocks (envelope 1, 0, 0, 0, ...): rises 1 per 1 of level.
        // A return: the same notes smeared (0.25 each block): no rises after the first block.
        // A dry source with notes of its own (0, 0, 1, 0, ...): as many rises as the sum.
        let blocks = 40;
        let envelope = |f: &dyn Fn(usize) -> f64| {
            let mut previous = 0.0;
            let (mut rise, mut level) = (0.0, 0.0);
            for n in 0..blocks {
                let e = f(n);
                rise += (e - previous).max(0.0);
                level += e;
                previous = e;
            }
            (rise, level)
        };
        let sum = envelope(&|n| if n % 4 == 0 { 1.0 } else { 0.0 });
        let smeared = envelope(&|_| 0.25);
        let own = envelope(&|n| if n % 4 == 2 { 1.0 } else { 0.0 });
        assert!(onset_ratio([smeared.0, sum.0], [smeared.1, sum.1]) < 0.05);
        assert!((onset_ratio([own.0, sum.0], [own.1, sum.1]) - 1.0).abs() < 1e-9);
        // No residual, or no onsets in the sum: 0 (nothing to say).
        assert_eq!(onset_ratio([0.0, sum.0], [0.0, sum.1]), 0.0);
        assert_eq!(onset_ratio([own.0, 0.0], [own.1, 1.0]), 0.0);
    }

    #[test]
    fn a_gain_on_the_sum_is_collinear_and_an_independent_source_is_not() {
        // A 20 ms block at 48 kHz: the sum a sine, the residual the sum at -0.3 (a gain of
        // 0.7) or a sine at another frequency.
        let n = 960;
        let sum: Vec<f64> = (0..n).map(|i| (i as f64 * 0.05).sin()).collect();
        let energy = |x: &[f64]| x.iter().map(|v| v * v).sum::<f64>();
        let cross = |x: &[f64]| x.iter().zip(&sum).map(|(a, b)| a * b).sum::<f64>();
        let gained: Vec<f64> = sum.iter().map(|s| -0.3 * s).collect();
        let share = collinear_energy(cross(&gained), energy(&sum)) / energy(&gained);
        assert!((share - 1.0).abs() < 1e-9, "{share}");
        let other: Vec<f64> = (0..n).map(|i| (i as f64 * 0.173).sin()).collect();
        let share = collinear_energy(cross(&other), energy(&sum)) / energy(&other);
        assert!(share < 0.01, "{share}");
        assert_eq!(collinear_energy(1.0, 0.0), 0.0);
    }
}
