//! Segments: findings with a place in time. Every hop is cut into segments of about 10 ms; per
//! segment, each stem's level and the residual's (master minus sum, at the common lag).
//!
//! The model of a dropout (a stem whose export ended early, or a mute left on): the stem is
//! (near-)digitally silent while the residual rises to about the level the stem had around the
//! stretch (the missing energy is the stem's part, still in the mix). A stem resting in the mix
//! too leaves the residual where it was; a reverb tail is far below the stem's own level.
//!
//! A silent stretch whose residual has risen (a suspect) is kept out of every whole-run
//! accumulator (the time-domain residual here; the frame's spectra in `analyzer/mod.rs`), so a
//! dropout is not also told as missing content, a missing return or a stem gain: one cause per
//! effect. Memory is fixed: per stem the open stretch and the few stretches with the most
//! residual energy ([`DROPOUT_EVENTS_PER_STEM`]), never a history growing with the song.

use wide::f32x4;

use crate::config::{
    ANALYSIS_LOW_HZ, CLIPPED_HOPS_MAX_SHARE, DROPOUT_AROUND_SECONDS, DROPOUT_BASELINE_FLOOR,
    DROPOUT_EVENTS_PER_STEM, DROPOUT_FALL_SECONDS, DROPOUT_MIN_GAIN_FREE_SHARE,
    DROPOUT_MIN_LEVEL_DB, DROPOUT_MIN_SECONDS, DROPOUT_RISE_DB, DROPOUT_SILENCE_AMPLITUDE,
    DROPOUT_SILENCE_MEAN_SQUARE, SEGMENTS_PER_HOP, THROUGH_BUS_MIN_FRAMES,
};
use crate::decibels::{db_to_power, energy_ratio_db};
use crate::ring::Ring;
use crate::spectra::Cf;

use super::Analyzer;
use super::stems::Stem;

/// Segments remembered for taking a stretch out of the whole-run residual once it turns
/// suspect (about 5.5 s at 48 kHz; 45 kB): what came before stays. A stretch is suspect once
/// its mean residual reaches about the stem's level, which a mute that begins over a rest the
/// mix shares reaches late: a drum mute over 0.3 s of cymbal decay turned suspect 0.7 s in,
/// and with 32 segments (0.35 s) remembered its first half stayed in the residual outside the
/// dropouts (-46 dB re master, read as missing content).
const HISTORY_SEGMENTS: usize = 512;
/// A stretch whose residual is at least this share of the whole run's so far was compared with
/// itself, not with a clean elsewhere: it is judged at the end, against the run without it.
const OWN_BASELINE_MIN_SHARE: f64 = 0.5;
/// Octave bands of the spectra compared when stems are silent at once (from
/// [`ANALYSIS_LOW_HZ`]: 30 Hz to 15 kHz).
const OCTAVES: usize = 10;

/// What one segment adds to the whole-run time-domain residual (sums of squares and products):
/// master left, master right, residual left, residual right, residual left times right,
/// residual mid, master mid, sum mid, residual mid times sum mid. The sum's mid (and so the
/// residual's) has a stem locked at a lag of its own read there while the fit finds it whole
/// there: an offset is its own finding, and its residual no other stem's (see
/// `Analyzer::time_domain_hop`).
pub(super) type SegmentSums = [f64; 9];
/// Index of the residual's mid energy in [`SegmentSums`].
const RESIDUAL_MID: usize = 5;
/// Index of the master's mid energy in [`SegmentSums`].
const MASTER_MID: usize = 6;
/// Index of the sum's mid energy in [`SegmentSums`].
const SUM_MID: usize = 7;
/// Index of the residual's mid times the sum's in [`SegmentSums`].
const RESIDUAL_SUM_CROSS: usize = 8;

/// The residual's mid energy in `sums` once the sum is taken at the bus's broadband gain
/// `bus_gain` (linear): `sum (rm + (1 - g) sm)^2`, from the sums (exactly the residual's mid
/// energy at `g = 1`). The dropouts are read from it: a master gain the stems lack leaves a
/// residual everywhere, under which a mute's rise would not show.
pub(super) fn corrected_residual_mid(sums: &SegmentSums, bus_gain: f32) -> f64 {
    let c = 1.0 - f64::from(bus_gain);
    (sums[RESIDUAL_MID] + 2.0 * c * sums[RESIDUAL_SUM_CROSS] + c * c * sums[SUM_MID]).max(0.0)
}

/// The residual's mid energy in `sums` that no gain on the sum explains: what is left once the
/// part collinear with the sum's mid is taken out (`rm^2 - (rm . sm)^2 / sm^2`), whatever the
/// bus gain. Summed segment by segment, it is what a compressor's gain, changing from one
/// segment to the next, leaves: nothing of its own; a missing part leaves itself.
pub(super) fn gain_free_residual_mid(sums: &SegmentSums) -> f64 {
    let (residual, cross, sum) = (sums[RESIDUAL_MID], sums[RESIDUAL_SUM_CROSS], sums[SUM_MID]);
    if sum > 0.0 {
        (residual - cross * cross / sum).max(0.0)
    } else {
        residual
    }
}

/// A silent stretch of one stem (open, or kept as an event).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stretch {
    /// First silent sample, on the sum's timeline (refined to the sample), in samples.
    start: i64,
    /// First sample sounding again (refined), or the end of the last segment seen while open.
    end: i64,
    /// Whether the stem has not sounded again yet.
    open: bool,
    /// Segments in the stretch.
    segments: u32,
    /// The master's mid energy in the stretch (sum of squares).
    master: f64,
    /// The residual's mid energy in the stretch, its product with the sum's mid and the sum's
    /// mid energy (sums over its segments): its residual at any bus gain (see
    /// [`corrected_residual_mid`]).
    residual_sums: [f64; 3],
    /// The residual's left-plus-right energy in the same segments (with the sum at unity): how
    /// its mid energy relates to its whole energy (see [`Stretch::residual_both`]).
    residual_both_unity: f64,
    /// The residual's mid energy in the stretch that no gain on the sum changing segment by
    /// segment explains (see [`gain_free_residual_mid`]).
    gain_free: f64,
    /// What its segments added to the whole-run residual (those not kept out already).
    sums: SegmentSums,
    /// Kept at its end without having risen: the stem was silent since before it first
    /// sounded, or the run so far was mostly the stretch, so the stretch was never judged
    /// against a clean elsewhere (see
    /// [`Segments::late_judged`]).
    judged_late: bool,
    /// First sample of the first segment in which the residual had risen, if any.
    raised_from: Option<i64>,
    /// End of the last segment in which the residual had risen, in samples.
    raised_until: i64,
    /// The stem's mean square around the stretch, before it (0: never sounded before).
    before: f64,
    /// The stem's energy after the stretch (sum of segment mean squares), ...
    after: f64,
    /// ... over this many sounding segments.
    after_segments: u32,
    /// The residual's and the master's mid energy in the first [`DROPOUT_FALL_SECONDS`] after
    /// the segment the stem sounds again in (sums of squares): whether the residual fell back
    /// when the stem sounded again.
    after_sums: [f64; 2],
    /// Whether the residual rose enough for the stretch to be kept out of the whole-run
    /// accumulators.
    suspect: bool,
    /// ... only through the bus's fitted response ([`risen_through_bus`]): its segments'
    /// rises, measured as delivered, say nothing of where it began.
    suspect_through_bus: bool,
    /// The residual's energy per octave band over the stretch's frames (while suspect).
    bands: [f64; OCTAVES],
    /// The residual through the bus's fitted response and the master, over the stretch's
    /// frames (spectral energies; see [`Segments::through_run`]) ...
    through: [f64; 2],
    /// ... and the part of it also in [`Segments::through_run`].
    through_in_run: [f64; 2],
    /// The frames `through` holds.
    through_frames: u32,
    /// The residual's share of the master just before the stretch (see
    /// [`Segments::recent`]).
    share_before: f64,
}

/// One stem's segment tracking (writer: [`Analyzer::end_segment`]).
pub(super) struct StemTrack {
    /// Mean square of the stem's mid in each segment of the current hop (writer:
    /// [`Analyzer::begin_segments`]).
    level: [f64; SEGMENTS_PER_HOP],
    /// The stem's mean square while sounding, decaying with [`DROPOUT_AROUND_SECONDS`].
    around: f64,
    /// The open silent stretch, if the stem is silent now.
    run: Option<Stretch>,
    /// Closed stretches with a raised residual, at most [`DROPOUT_EVENTS_PER_STEM`] (those with
    /// the most residual energy).
    events: Vec<Stretch>,
    /// The event still measuring the stem's level after it, if any (index into `events`).
    after_for: Option<usize>,
}

impl StemTrack {
    fn new() -> Self {
        Self {
            level: [0.0; SEGMENTS_PER_HOP],
            around: 0.0,
            run: None,
            events: Vec::with_capacity(DROPOUT_EVENTS_PER_STEM),
            after_for: None,
        }
    }

    /// Keeps `stretch` if it is among the [`DROPOUT_EVENTS_PER_STEM`] with the most residual
    /// energy (at the bus gain `bus_gain`); returns its index.
    fn keep(&mut self, stretch: Stretch, bus_gain: f32) -> Option<usize> {
        if self.events.len() < DROPOUT_EVENTS_PER_STEM {
            self.events.push(stretch);
            return Some(self.events.len() - 1);
        }
        let (weakest, least) = self
            .events
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.residual(bus_gain).total_cmp(&b.1.residual(bus_gain)))?;
        if least.residual(bus_gain) < stretch.residual(bus_gain) {
            self.events[weakest] = stretch;
            Some(weakest)
        } else {
            None
        }
    }
}

/// The segment stage's state (writers: [`Analyzer::begin_segments`], [`Analyzer::end_segment`]).
pub(super) struct Segments {
    /// Samples per segment.
    pub seg_len: usize,
    /// Per stem, in the stems' order.
    stems: Vec<StemTrack>,
    /// One hop of a stem's mid (scratch).
    buffer: Vec<f32>,
    /// Whether a segment of the current hop was kept out of the whole-run accumulators (the
    /// frame is too).
    pub hop_excluded: bool,
    /// Whether the current hop holds a clip and is kept out of the whole run altogether
    /// (`clips.rs`).
    hop_clipped: bool,
    /// The residual's mid floor per sample: what the files' own dither and rounding leave
    /// (`analyzer/floor.rs`; writer: [`Analyzer::begin_segments`]). A residual at it has not
    /// risen, however quiet the master (a 16-bit stem resting through a quiet intro).
    floor_mid: f64,
    /// Hops seen, and hops that held a clip: clipped hops are kept out only while they are at
    /// most [`CLIPPED_HOPS_MAX_SHARE`] of all (a stem clipping all through is fitted anyway).
    hops: [u64; 2],
    /// The master's and the residual's energy (left plus right) kept out of the whole-run
    /// residual: [master, residual].
    pub excluded: [f64; 2],
    /// What the last segments added to the whole-run residual, and whether they were taken
    /// out since, by segment number modulo [`HISTORY_SEGMENTS`].
    history: Box<[(i64, SegmentSums, bool)]>,
    /// The first bin of each octave band, and the end of the last (`OCTAVES + 1` bins).
    octave_bins: [usize; OCTAVES + 1],
    /// The residual's and the master's mid energy over every segment, decaying with
    /// [`DROPOUT_AROUND_SECONDS`]: what the residual was just before a stretch.
    recent: [f64; 2],
    /// The residual against the sum through the bus's fitted response (per band gain and the
    /// EQ's phase), and the master, summed over the frames' spectra outside suspect stretches
    /// (writer: [`Analyzer::add_frame_to_stretches`]): what the bus's model leaves elsewhere.
    through_run: [f64; 2],
}

impl Segments {
    /// The stage for hops of `hop` samples; `analysis_bins` and `bin_hz` place the octave
    /// bands.
    pub fn new(hop: usize, analysis_bins: (usize, usize), bin_hz: f32) -> Self {
        let seg_len = (hop / SEGMENTS_PER_HOP).max(1);
        let (lo, hi) = analysis_bins;
        let octave_bins = std::array::from_fn(|k| {
            ((ANALYSIS_LOW_HZ * (1u32 << k) as f32 / bin_hz) as usize).clamp(lo, hi.max(lo))
        });
        Self {
            seg_len,
            stems: Vec::new(),
            buffer: vec![0.0; hop],
            hop_excluded: false,
            hop_clipped: false,
            floor_mid: 0.0,
            hops: [0; 2],
            excluded: [0.0; 2],
            history: vec![(-1, [0.0; 9], false); HISTORY_SEGMENTS].into_boxed_slice(),
            octave_bins,
            recent: [0.0; 2],
            through_run: [0.0; 2],
        }
    }

    /// Octave-band energies of a spectrum given as its power per bin.
    fn octaves(&self, power: impl Fn(usize) -> f64) -> [f64; OCTAVES] {
        std::array::from_fn(|k| {
            (self.octave_bins[k]..self.octave_bins[k + 1])
                .map(&power)
                .sum()
        })
    }

    /// Forgets every stretch (the residual is now measured at another common lag: what was
    /// measured at the old one says nothing of dropouts). The stems' levels stay.
    pub fn restart(&mut self) {
        for track in &mut self.stems {
            track.run = None;
            track.events.clear();
            track.after_for = None;
        }
        self.excluded = [0.0; 2];
        self.recent = [0.0; 2];
        self.through_run = [0.0; 2];
        self.history.fill((-1, [0.0; 9], false));
    }

    /// A stem's lag moved (or the stems changed): what the open stretches measured of the
    /// residual was measured against another sum (a misplaced stem's residual is not this
    /// stem's), so their evidence starts again from here; where and since when each stem is
    /// silent stays. What was kept out of the whole run stays out, and what each stretch added
    /// to it stays counted (`sums`: a stretch judged late is judged against the whole run less
    /// it, and the whole run is not restarted).
    pub fn realign(&mut self) {
        for run in self.stems.iter_mut().filter_map(|t| t.run.as_mut()) {
            run.segments = 0;
            run.master = 0.0;
            run.residual_sums = [0.0; 3];
            run.residual_both_unity = 0.0;
            run.gain_free = 0.0;
            run.suspect = false;
            run.suspect_through_bus = false;
            run.bands = [0.0; OCTAVES];
            run.through = [0.0; 2];
            run.through_in_run = [0.0; 2];
            run.through_frames = 0;
        }
    }

    /// See [`rise_through_bus_db`].
    fn rise_through_bus_db(&self, stretch: &Stretch) -> f32 {
        rise_through_bus_db(self.through_run, stretch)
    }

    /// Whether `stretch`'s residual rose through the bus's fitted response by
    /// [`DROPOUT_RISE_DB`] ([`rise_through_bus_db`]) and its residual as delivered over the
    /// files' floors.
    fn risen_through_bus(&self, stretch: &Stretch, bus_gain: f32) -> bool {
        risen_through_bus(self.through_run, self.floor_of(stretch), stretch, bus_gain)
    }

    /// Whether segment `j` of the current hop is kept out of the whole-run accumulators: some
    /// stem is silent in it, in a stretch already suspect.
    pub fn excluding(&self, j: usize) -> bool {
        self.hop_clipped
            || self.stems.iter().any(|s| {
                s.level[j] < DROPOUT_SILENCE_MEAN_SQUARE && s.run.is_some_and(|r| r.suspect)
            })
    }

    /// Records what an excluded segment held (a clipped one is left out altogether: the
    /// clipping explains it).
    pub fn exclude(&mut self, sums: &SegmentSums) {
        if !self.hop_clipped {
            self.excluded[0] += sums[0] + sums[1];
            self.excluded[1] += sums[2] + sums[3];
        }
        self.hop_excluded = true;
    }
}

impl Segments {
    /// The master's and the residual's energy (left plus right) of the stretches kept to be
    /// judged late (see [`Stretch::judged_late`]) that are dropouts against the run without
    /// them (`whole`: the whole-run sums; the sum at `bus_gain`): they are out of the residual
    /// outside the dropouts too.
    pub(super) fn late_dropouts_energy(&self, whole: &SegmentSums, bus_gain: f32) -> (f64, f64) {
        self.stems
            .iter()
            .flat_map(|track| track.events.iter())
            .filter(|s| late_share(s, whole, bus_gain, self.floor_of(s)).is_some())
            .fold((0.0, 0.0), |(m, r), s| {
                (m + s.sums[0] + s.sums[1], r + s.sums[2] + s.sums[3])
            })
    }
}

/// For a stretch judged late (see [`Stretch::judged_late`]): the residual's share of the master
/// in the run without it, if the stretch's residual rose over it (it is a dropout then).
fn late_share(s: &Stretch, whole: &SegmentSums, bus_gain: f32, floor: f64) -> Option<f64> {
    if !s.judged_late {
        return None;
    }
    let mut outside = *whole;
    for (o, r) in outside.iter_mut().zip(&s.sums) {
        *o -= r;
    }
    let share = baseline_share(
        corrected_residual_mid(&outside, bus_gain),
        outside[MASTER_MID],
    );
    risen(s.residual(bus_gain), s.master, share, floor).then_some(share)
}

impl Stretch {
    /// The stretch's residual mid energy with the sum at the bus gain `bus_gain` (linear): the
    /// bus's latest fit, so that a stretch that began before the fit is read as one that began
    /// after it.
    fn residual(&self, bus_gain: f32) -> f64 {
        let [residual, cross, sum] = self.residual_sums;
        let mut sums = [0.0; 9];
        sums[RESIDUAL_MID] = residual;
        sums[RESIDUAL_SUM_CROSS] = cross;
        sums[SUM_MID] = sum;
        corrected_residual_mid(&sums, bus_gain)
    }

    /// The stretch's residual energy in both channels (left plus right) with the sum at the bus
    /// gain `bus_gain`: its mid energy at that gain, scaled by what both channels hold against
    /// the mid at unity. Twice the mid only where the channels are alike: a wide part (a string
    /// ensemble sampled in stereo) leaves a residual whose mid holds half its energy, and a
    /// 0.5 s mute of it that held the whole run's residual read as holding 47% of it.
    fn residual_both(&self, bus_gain: f32) -> f64 {
        let mid = self.residual(bus_gain);
        let unity_mid = self.residual_sums[0];
        if unity_mid > 0.0 {
            mid * self.residual_both_unity / unity_mid
        } else {
            2.0 * mid
        }
    }

    /// Whether the stretch's residual at the bus gain `bus_gain` is mostly a gain on the sum
    /// changing segment by segment (less than [`DROPOUT_MIN_GAIN_FREE_SHARE`] of it is not):
    /// a master limiter turning a quiet intro up, not a part the stem lacks.
    fn is_a_gain(&self, bus_gain: f32) -> bool {
        self.gain_free < DROPOUT_MIN_GAIN_FREE_SHARE * self.residual(bus_gain)
    }
}

/// The residual's share of the master elsewhere (outside suspect stretches), floored at
/// [`DROPOUT_BASELINE_FLOOR`].
fn baseline_share(residual_mid: f64, master_mid: f64) -> f64 {
    if master_mid > 0.0 {
        (residual_mid / master_mid).max(DROPOUT_BASELINE_FLOOR)
    } else {
        DROPOUT_BASELINE_FLOOR
    }
}

/// Whether `residual` energy over `master` energy rose over `baseline` by [`DROPOUT_RISE_DB`],
/// and over `floor`, the energy the files' own floors leave there.
fn risen(residual: f64, master: f64, baseline: f64, floor: f64) -> bool {
    residual > 0.0
        && residual >= db_to_power(f64::from(DROPOUT_RISE_DB)) * (baseline * master).max(floor)
}

/// How far `stretch`'s residual through the bus's fitted response rose over what that response
/// leaves elsewhere (`through_run`, less the stretch's part of it), each re the master, in dB;
/// minus infinity before [`THROUGH_BUS_MIN_FRAMES`] of its own, and until the run elsewhere
/// holds at least as much of the master as the stretch (against less, a stretch after a quiet
/// intro would rise by the intro's quiet alone, turn suspect and leave the run, which would
/// stay the intro).
fn rise_through_bus_db(through_run: [f64; 2], stretch: &Stretch) -> f32 {
    let [residual, master] = stretch.through;
    let elsewhere = [0, 1].map(|k| (through_run[k] - stretch.through_in_run[k]).max(0.0));
    if residual <= 0.0
        || master <= 0.0
        || elsewhere[1] < master
        || stretch.through_frames < THROUGH_BUS_MIN_FRAMES
    {
        return f32::NEG_INFINITY;
    }
    let baseline = baseline_share(elsewhere[0], elsewhere[1]);
    energy_ratio_db(residual, master * baseline)
}

/// Whether `stretch` rose by [`DROPOUT_RISE_DB`] through the bus's fitted response, with its
/// residual as delivered over `floor` (what the files' floors leave in it) by as much.
fn risen_through_bus(through_run: [f64; 2], floor: f64, stretch: &Stretch, bus_gain: f32) -> bool {
    rise_through_bus_db(through_run, stretch) >= DROPOUT_RISE_DB
        && risen(stretch.residual(bus_gain), stretch.master, 0.0, floor)
}

impl Segments {
    /// The energy the files' own floors leave in `stretch`'s residual.
    fn floor_of(&self, stretch: &Stretch) -> f64 {
        self.floor_mid * f64::from(stretch.segments) * self.seg_len as f64
    }
}

/// Stems whose segment levels are summed side by side (see [`Analyzer::begin_segments`]).
const LEVEL_LANES: usize = 8;

/// Adds each lane's squared samples to its energy, in order: `energy[k] += x * x` for every
/// `x` of `lanes[k]` (all the same length).
///
/// Four samples of each lane are squared as one vector; a transpose turns four lanes' squares
/// into one vector per sample, added in the samples' order: each lane's additions are the
/// scalar loop's, in its order (the same bits), four lanes to an instruction.
#[inline]
fn sum_squares(energy: &mut [f32; LEVEL_LANES], lanes: [&[f32]; LEVEL_LANES]) {
    let len = lanes[0].len();
    let lanes = lanes.map(|l| &l[..len]);
    let quads = lanes.map(|l| l.as_chunks::<4>().0);
    let count = quads[0].len();
    let quads = quads.map(|q| &q[..count]);
    let mut halves = [0, 1].map(|h| f32x4::from(std::array::from_fn(|k| energy[4 * h + k])));
    for i in 0..count {
        for (h, total) in halves.iter_mut().enumerate() {
            let squares: [f32x4; 4] = std::array::from_fn(|k| {
                let x = f32x4::from(quads[4 * h + k][i]);
                x * x
            });
            // by_sample[j][k]: lane k's sample j of the four.
            for by_sample in f32x4::transpose(squares) {
                *total += by_sample;
            }
        }
    }
    for (h, total) in halves.iter().enumerate() {
        energy[4 * h..4 * h + 4].copy_from_slice(&total.to_array());
    }
    for i in 4 * count..len {
        for (e, lane) in energy.iter_mut().zip(&lanes) {
            *e += lane[i] * lane[i];
        }
    }
}

/// Last sample above [`DROPOUT_SILENCE_AMPLITUDE`] in `[from, to)` of `ring`, if any.
fn last_sound(ring: &Ring, from: i64, to: i64, buffer: &mut [f32]) -> Option<i64> {
    let n = ((to - from).max(0) as usize).min(buffer.len());
    ring.read(from, &mut buffer[..n]);
    buffer[..n]
        .iter()
        .rposition(|x| x.abs() > DROPOUT_SILENCE_AMPLITUDE)
        .map(|i| from + i as i64)
}

/// First sample above [`DROPOUT_SILENCE_AMPLITUDE`] in `[from, to)` of `ring`, if any.
fn first_sound(ring: &Ring, from: i64, to: i64, buffer: &mut [f32]) -> Option<i64> {
    let n = ((to - from).max(0) as usize).min(buffer.len());
    ring.read(from, &mut buffer[..n]);
    buffer[..n]
        .iter()
        .position(|x| x.abs() > DROPOUT_SILENCE_AMPLITUDE)
        .map(|i| from + i as i64)
}

impl Analyzer {
    /// Each stem's level per segment of the hop starting at `sum_start` (on the sum's
    /// timeline): one pass over the stem's history.
    pub(super) fn begin_segments(&mut self, sum_start: i64) {
        let clipped = self.hop_clipped(sum_start);
        let floor_mid = self.master_floor_power() + self.sum_floor_power();
        let seg = &mut self.segments;
        seg.floor_mid = floor_mid;
        while seg.stems.len() < self.stems.len() {
            seg.stems.push(StemTrack::new());
        }
        seg.hop_excluded = false;
        seg.hops[0] += 1;
        seg.hops[1] += u64::from(clipped);
        seg.hop_clipped =
            clipped && seg.hops[1] as f64 <= CLIPPED_HOPS_MAX_SHARE * seg.hops[0] as f64;
        let n = self.layout.hop;
        let len = seg.seg_len;
        // Each segment's energy is a sum in single precision, sample after sample: a chain of
        // dependent additions, so [`LEVEL_LANES`] stems are summed side by side (each lane in
        // its own order, the same bits as one stem at a time), read in place from the rings.
        for (stems, tracks) in self
            .stems
            .chunks(LEVEL_LANES)
            .zip(seg.stems.chunks_mut(LEVEL_LANES))
        {
            // Every stem's ring has the same capacity, so all split at the same places; lanes
            // past the last stem repeat it (their sums are dropped).
            let views: [(usize, &[f32], &[f32]); LEVEL_LANES] =
                std::array::from_fn(|k| stems[k.min(stems.len() - 1)].ring.slices(sum_start, n));
            let (silent, first) = (views[0].0, views[0].1.len());
            for j in 0..SEGMENTS_PER_HOP {
                let (lo, hi) = ((j * len).min(n), ((j + 1) * len).min(n));
                // `Iterator::sum` starts from -0.0.
                let mut energy = [-0.0f32; LEVEL_LANES];
                // Silence before position 0, then the ring's two pieces.
                let silent_in = hi.min(silent).saturating_sub(lo);
                for _ in 0..silent_in {
                    for e in &mut energy {
                        *e += 0.0 * 0.0;
                    }
                }
                let clip = |from: usize, piece: usize| {
                    let a = lo.max(from).min(from + piece) - from;
                    let b = hi.max(from).min(from + piece) - from;
                    a..b
                };
                let in_first = clip(silent, first);
                sum_squares(
                    &mut energy,
                    std::array::from_fn(|k| &views[k].1[in_first.clone()]),
                );
                let in_second = clip(silent + first, n - silent - first);
                sum_squares(
                    &mut energy,
                    std::array::from_fn(|k| &views[k].2[in_second.clone()]),
                );
                for (track, e) in tracks.iter_mut().zip(energy) {
                    track.level[j] = f64::from(e) / len as f64;
                }
            }
        }
    }

    /// Ends segment `j` of the hop starting at `sum_start`, which added `sums` to the whole-run
    /// residual (unless `excluded`): updates every stem's silent stretch. Returns what must be
    /// taken out of the whole-run residual because a stretch just turned suspect.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn end_segment(
        seg: &mut Segments,
        stems: &[Stem],
        sample_rate_hz: f32,
        j: usize,
        sum_start: i64,
        sums: &SegmentSums,
        excluded: bool,
        whole: &SegmentSums,
        bus_gain: f32,
    ) -> SegmentSums {
        let sr = f64::from(sample_rate_hz);
        let len = seg.seg_len as i64;
        let p0 = sum_start + j as i64 * len;
        let number = p0.div_euclid(len);
        seg.history[number as usize % HISTORY_SEGMENTS] = (number, *sums, excluded);
        let baseline = baseline_share(corrected_residual_mid(whole, bus_gain), whole[MASTER_MID]);
        let decay = (-(len as f64) / (DROPOUT_AROUND_SECONDS * sr)).exp();
        let around_segments = ((DROPOUT_AROUND_SECONDS * sr) as i64 / len).max(1) as u32;
        let fall_segments = ((DROPOUT_FALL_SECONDS * sr) as i64 / len).max(1) as u32;
        let min_level = db_to_power(f64::from(DROPOUT_MIN_LEVEL_DB));
        // A hop holding a clip is the clip's (kept out of the whole run too): its residual
        // raises no stem's silent stretch.
        let residual = if seg.hop_clipped {
            0.0
        } else {
            corrected_residual_mid(sums, bus_gain)
        };
        let master = sums[MASTER_MID];
        let floor_mid = seg.floor_mid;
        let through_run = seg.through_run;
        let raised = risen(residual, master, baseline, floor_mid * len as f64);
        let mut take_out_from: Option<i64> = None;
        let recent_before = seg.recent;
        seg.recent = [
            seg.recent[0] * decay + residual,
            seg.recent[1] * decay + master,
        ];
        for (stem, track) in stems.iter().zip(seg.stems.iter_mut()) {
            let level = track.level[j];
            if level < DROPOUT_SILENCE_MEAN_SQUARE {
                let run = track.run.get_or_insert_with(|| {
                    let start = last_sound(&stem.ring, p0 - len, p0 + len, &mut seg.buffer)
                        .map_or(p0, |i| (i + 1).min(p0 + len));
                    Stretch {
                        start,
                        end: p0 + len,
                        open: true,
                        segments: 0,
                        master: 0.0,
                        residual_sums: [0.0; 3],
                        residual_both_unity: 0.0,
                        gain_free: 0.0,
                        sums: [0.0; 9],
                        judged_late: false,
                        raised_from: None,
                        raised_until: start,
                        before: track.around,
                        after: 0.0,
                        after_segments: 0,
                        after_sums: [0.0; 2],
                        suspect: false,
                        suspect_through_bus: false,
                        bands: [0.0; OCTAVES],
                        through: [0.0; 2],
                        through_in_run: [0.0; 2],
                        through_frames: 0,
                        share_before: baseline_share(recent_before[0], recent_before[1]),
                    }
                });
                run.segments += 1;
                run.master += master;
                if !seg.hop_clipped && !excluded {
                    for (r, s) in run.sums.iter_mut().zip(sums) {
                        *r += s;
                    }
                }
                if !seg.hop_clipped {
                    for (r, k) in run.residual_sums.iter_mut().zip([
                        RESIDUAL_MID,
                        RESIDUAL_SUM_CROSS,
                        SUM_MID,
                    ]) {
                        *r += sums[k];
                    }
                    run.residual_both_unity += sums[2] + sums[3];
                    run.gain_free += gain_free_residual_mid(sums);
                }
                run.end = p0 + len;
                if raised {
                    run.raised_from.get_or_insert(p0);
                    run.raised_until = p0 + len;
                }
                // Suspect once the stretch's residual rose and reaches about the stem's level.
                let run_residual = run.residual(bus_gain);
                let mean_residual = run_residual / (f64::from(run.segments) * len as f64);
                let floor = floor_mid * f64::from(run.segments) * len as f64;
                let as_delivered = risen(run_residual, run.master, baseline, floor);
                if !run.suspect
                    && run.before > 0.0
                    && (as_delivered || risen_through_bus(through_run, floor, run, bus_gain))
                    && mean_residual >= min_level * run.before
                {
                    run.suspect = true;
                    run.suspect_through_bus = !as_delivered;
                    // From the segment the stem went silent in (partly silent, not counted
                    // in the stretch).
                    let from = run.start.div_euclid(len) - 1;
                    take_out_from = Some(take_out_from.map_or(from, |f: i64| f.min(from)));
                }
            } else {
                if let Some(mut run) = track.run.take() {
                    run.open = false;
                    if run.suspect {
                        // The segment it sounds again in still holds part of the dropout.
                        take_out_from = Some(take_out_from.map_or(number, |f: i64| f.min(number)));
                    }
                    run.end = first_sound(&stem.ring, run.end - len, p0 + len, &mut seg.buffer)
                        .unwrap_or(p0)
                        .max(run.start);
                    let long = (run.end - run.start) as f64 >= DROPOUT_MIN_SECONDS * sr;
                    let floor = floor_mid * f64::from(run.segments) * len as f64;
                    let risen_now = risen(run.residual(bus_gain), run.master, baseline, floor);
                    // Silent since before it first sounded (a stem muted from before its first
                    // note): with no level around to compare with, the stretch never turned
                    // suspect and stayed in the whole-run residual, which may be mostly its
                    // own; it is kept and judged later, against the run without it. So is one
                    // whose residual is most of the run's so far (a mute over the song's first
                    // bar, after a pickup): it was compared with itself.
                    let own_baseline = run.residual(bus_gain)
                        >= OWN_BASELINE_MIN_SHARE * corrected_residual_mid(whole, bus_gain);
                    run.judged_late =
                        !risen_now && !run.suspect && (run.before <= 0.0 || own_baseline);
                    if run.judged_late && !excluded && !seg.hop_clipped {
                        // The segment it sounds again in still holds part of it.
                        for (r, s) in run.sums.iter_mut().zip(sums) {
                            *r += s;
                        }
                    }
                    let kept = long
                        && (risen_now
                            || run.judged_late
                            || risen_through_bus(through_run, floor, &run, bus_gain));
                    if kept {
                        track.after_for = track.keep(run, bus_gain);
                    } else {
                        track.after_for = None;
                    }
                }
                if let Some(e) = track.after_for {
                    let event = &mut track.events[e];
                    // From the first segment wholly after the stretch: the one the stem sounds
                    // again in still holds part of the dropout's residual (at 44.1 kHz, where
                    // a mute's end falls elsewhere in its segment, that part hid a 9 dB fall
                    // under 6 dB).
                    if (1..=fall_segments).contains(&event.after_segments) {
                        event.after_sums[0] += residual;
                        event.after_sums[1] += master;
                    }
                    event.after += level;
                    event.after_segments += 1;
                    if event.after_segments >= around_segments {
                        track.after_for = None;
                    }
                }
                track.around = if track.around > 0.0 {
                    track.around * decay + level * (1.0 - decay)
                } else {
                    level
                };
            }
        }
        // Take the suspect stretch's segments out of the whole-run residual (those still
        // remembered and not taken out yet).
        let mut out = [0.0; 9];
        if let Some(from) = take_out_from {
            for (number, sums, taken) in seg.history.iter_mut() {
                if *number >= from && *number <= number_max(p0, len) && !*taken {
                    *taken = true;
                    for (o, s) in out.iter_mut().zip(sums.iter()) {
                        *o += s;
                    }
                }
            }
            seg.excluded[0] += out[0] + out[1];
            seg.excluded[1] += out[2] + out[3];
            seg.hop_excluded = true;
        }
        out
    }

    /// Adds the current frame's residual spectrum (master minus sum at the bus's fitted gain,
    /// per octave band) to every
    /// stem's suspect stretch: what is missing, to compare with the stems' usual spectra.
    pub(super) fn add_frame_to_stretches(&mut self) {
        // The residual through the bus's fitted response: each band's gain with the EQ's phase
        // (`frame_gain.rs`), as the master is predicted. Into the run's (outside suspect
        // stretches, as the whole-run estimates) and every open stretch's.
        let (master, sum) = (&self.spectra.master, &self.spectra.sum);
        let response = &self.bus.response;
        let mut through = [0.0f64; 2];
        for band in &self.layout.bands {
            for i in band.first_bin..band.end_bin.min(master.len()) {
                let predicted = sum[i] * response.get(i).copied().unwrap_or(Cf::new(1.0, 0.0));
                through[0] += f64::from((master[i] - predicted).norm_sqr());
                through[1] += f64::from(master[i].norm_sqr());
            }
        }
        let in_run = !self.segments.hop_excluded;
        if in_run {
            for (r, t) in self.segments.through_run.iter_mut().zip(through) {
                *r += t;
            }
        }
        for run in self
            .segments
            .stems
            .iter_mut()
            .filter_map(|t| t.run.as_mut())
        {
            run.through_frames += 1;
            for k in 0..2 {
                run.through[k] += through[k];
                if in_run {
                    run.through_in_run[k] += through[k];
                }
            }
        }
        // Also a stretch silent since before the stem first sounded: it may be judged a
        // dropout at its end (`Stretch::judged_late`), on its spectrum too.
        let takes = |r: &Stretch| r.suspect || r.before <= 0.0;
        if !self
            .segments
            .stems
            .iter()
            .any(|t| t.run.as_ref().is_some_and(takes))
        {
            return;
        }
        let (master, sum) = (&self.spectra.master, &self.spectra.sum);
        // Against the sum at the bus's fitted gain, as the stretches' residual.
        let g = self.fitted_bus_gain();
        let bands = self
            .segments
            .octaves(|i| f64::from((master[i] - sum[i] * g).norm_sqr()));
        for track in &mut self.segments.stems {
            if let Some(run) = track.run.as_mut().filter(|r| takes(r)) {
                for (b, e) in run.bands.iter_mut().zip(&bands) {
                    *b += e;
                }
            }
        }
    }
}

/// The number of the segment starting at `p0`.
fn number_max(p0: i64, len: i64) -> i64 {
    p0.div_euclid(len)
}

mod dropouts;

#[cfg(test)]
mod tests;
