//! Whether the residual follows the stems in time (a reverb or delay return fed by them) or has
//! a life of its own (a dry source no stem carries): an explicit model of a return.
//!
//! A return is the stems' sends convolved with a long, causal response, so in each octave band
//! its energy envelope is its sources' envelope smeared *forward* in time: a non-negative
//! kernel on their energy now and up to [`RETURN_MODEL_LAGS`] steps earlier predicts it. The
//! sends are unknown (a vocal reverb is fed by one stem, a hall by several), so each stem gets
//! a non-negative weight of its own (up to [`RETURN_MODEL_MAX_STEMS`] stems; above that, the
//! sum stands for them), and the kernel is a decay (`r^k` at lag `k`, `r` from
//! [`RETURN_MODEL_DECAYS`], the best per band): a fixed shape keeps chance relations between
//! parts at some lag (a stab two beats before a fill) out. A dry
//! part moves with the song's sections and beats too, but that relation is as good backwards as
//! forwards. So the model fits the residual's band energy twice by non-negative least squares,
//! on the sources' energy smeared forward over lags `0..=K` (causal) and backward over
//! `-K..=0` (anticausal), each with a constant, and reports both shares of the residual's variance explained
//! ([`ReturnFit`]): a return explains much more causally than anticausally (a Granger-style
//! test); a source does not.
//!
//! Steps are every other analysis frame (the frames the settled analysis always takes, about
//! 0.34 s at 48 kHz); a missing step restarts the lag history. Memory is fixed by the number of
//! stems: per band, a ring of `2K + 1` steps per source, and per decay and direction a Gram
//! matrix of the smeared sources. The fit is redone every [`RETURN_MODEL_REFIT_ROWS`] rows,
//! not at every refresh.

use crate::config::{
    RETURN_MODEL_DECAYS, RETURN_MODEL_HIGH_HZ, RETURN_MODEL_LAGS, RETURN_MODEL_LOW_HZ,
    RETURN_MODEL_MAX_STEMS, RETURN_MODEL_MIN_STEPS, RETURN_MODEL_NNLS_SWEEPS,
    RETURN_MODEL_REFIT_ROWS,
};
use crate::measurements::ReturnFit;
use crate::spectra::Cf;

/// Lags `-K..=K`: the steps a row looks at.
const SPAN: usize = 2 * RETURN_MODEL_LAGS + 1;
/// Kernels per band: each decay, forward (causal) then backward (anticausal).
const KERNELS: usize = 2 * RETURN_MODEL_DECAYS.len();

/// Entries of the upper triangle of a square matrix of side `n`.
fn triangle(n: usize) -> usize {
    n * (n + 1) / 2
}

/// Index of `(i, j)` in the upper triangle of a square matrix of side `n`.
fn at(n: usize, i: usize, j: usize) -> usize {
    let (i, j) = (i.min(j), i.max(j));
    i * n - i * (i + 1) / 2 + j
}

/// One octave band: the residual's and the sources' histories, and per kernel the normal
/// equations of the residual on the smeared sources and a constant.
struct BandModel {
    /// Bins `[first, end)`.
    bins: (usize, usize),
    /// The residual's energy over the last `SPAN` steps (ring, oldest overwritten).
    residual_history: [f64; SPAN],
    /// Each source's energy over the last `SPAN` steps.
    sources: Vec<[f64; SPAN]>,
    /// `sum y^2` over the rows, `y` the residual's energy at the row's centre step.
    yy: f64,
    /// `sum y`.
    y: f64,
    /// Per kernel, the upper triangle of `sum z z^T`, `z` the smeared sources and 1.
    gram: Vec<f64>,
    /// Per kernel, `sum z y`.
    cross: Vec<f64>,
}

impl BandModel {
    fn new(bins: (usize, usize), sources: usize) -> Self {
        let n = sources + 1;
        Self {
            bins,
            residual_history: [0.0; SPAN],
            sources: vec![[0.0; SPAN]; sources],
            yy: 0.0,
            y: 0.0,
            gram: vec![0.0; KERNELS * triangle(n)],
            cross: vec![0.0; KERNELS * n],
        }
    }

    fn clear(&mut self) {
        self.residual_history = [0.0; SPAN];
        self.sources.fill([0.0; SPAN]);
        self.yy = 0.0;
        self.y = 0.0;
        self.gram.fill(0.0);
        self.cross.fill(0.0);
    }

    /// The share of the residual's variance that kernel `kernel` explains with non-negative
    /// weights: `1 - SSE / SST`.
    fn explained(&self, kernel: usize, rows: f64) -> f64 {
        let sst = self.yy - self.y * self.y / rows;
        if sst <= 0.0 {
            return 0.0;
        }
        let n = self.sources.len() + 1;
        let tri = triangle(n);
        let gram = &self.gram[kernel * tri..(kernel + 1) * tri];
        let cross = &self.cross[kernel * n..(kernel + 1) * n];
        // The full matrix, looked up directly in the sweeps below (the same values, so the same
        // bits as through the triangle's index arithmetic, at a fraction of the cost).
        let mut full = [[0.0f64; RETURN_MODEL_MAX_STEMS + 1]; RETURN_MODEL_MAX_STEMS + 1];
        for (i, row) in full.iter_mut().enumerate().take(n) {
            for (j, entry) in row.iter_mut().enumerate().take(n) {
                *entry = gram[at(n, i, j)];
            }
        }
        let g = |i: usize, j: usize| full[i][j];
        // Non-negative least squares by cyclic coordinate descent on the normal equations:
        // each weight set to its exact minimiser given the others, clamped at zero.
        let mut h = [0.0f64; RETURN_MODEL_MAX_STEMS + 1];
        let h = &mut h[..n];
        for _ in 0..RETURN_MODEL_NNLS_SWEEPS {
            for i in 0..n {
                let diagonal = g(i, i);
                if diagonal <= 0.0 {
                    continue;
                }
                let gradient = (0..n).map(|j| g(i, j) * h[j]).sum::<f64>() - cross[i];
                h[i] = (h[i] - gradient / diagonal).max(0.0);
            }
        }
        let fitted: f64 = (0..n).map(|i| h[i] * cross[i]).sum();
        let quadratic: f64 = (0..n)
            .map(|i| (0..n).map(|j| h[i] * g(i, j) * h[j]).sum::<f64>())
            .sum();
        let sse = (self.yy - 2.0 * fitted + quadratic).max(0.0);
        1.0 - sse / sst
    }
}

/// The return model over octave bands (writer: [`ReturnModel::push`], [`ReturnModel::refit`];
/// emptied with the other accumulators when a lag or the stem set changes).
pub(super) struct ReturnModel {
    bands: Vec<BandModel>,
    /// Steps in the lag history since the last gap (saturates at `SPAN`).
    filled: usize,
    /// Whether each step of the ring may be a row's centre (a frame kept out of the whole-run
    /// estimates, a stem's dropout, still gives the sources' envelopes but is no row).
    row_ok: [bool; SPAN],
    /// Ring position of the next step.
    next: usize,
    /// Rows accumulated (centre steps with a full history).
    rows: u64,
    /// The frame index of the last step taken, for spotting gaps.
    last_frame: Option<u64>,
    /// The last fit, and the rows it was made from.
    fit: Option<(ReturnFit, u64)>,
}

impl ReturnModel {
    /// Octave bands from [`RETURN_MODEL_LOW_HZ`] up to [`RETURN_MODEL_HIGH_HZ`] (or `max_hz`),
    /// for bins of `bin_hz`.
    pub fn new(bin_hz: f32, max_hz: f32) -> Self {
        let top = RETURN_MODEL_HIGH_HZ.min(max_hz);
        let mut bands = Vec::new();
        let mut low = RETURN_MODEL_LOW_HZ;
        while low * 2.0 <= top {
            let first = (low / bin_hz).ceil() as usize;
            let end = ((low * 2.0) / bin_hz).ceil() as usize;
            if end > first {
                bands.push(BandModel::new((first.max(1), end), 1));
            }
            low *= 2.0;
        }
        Self {
            bands,
            filled: 0,
            row_ok: [false; SPAN],
            next: 0,
            rows: 0,
            last_frame: None,
            fit: None,
        }
    }

    /// Empties the model (a lag changed: what came before was misaligned).
    pub fn clear(&mut self) {
        for band in &mut self.bands {
            band.clear();
        }
        self.filled = 0;
        self.row_ok = [false; SPAN];
        self.next = 0;
        self.rows = 0;
        self.last_frame = None;
        self.fit = None;
    }

    /// Adds the transformed frame `frame` (an index in frames): the master, the sum at the
    /// stems' fitted gains, and each stem's spectrum; `row` is false for a frame kept out of
    /// the whole-run estimates. Only even frames are steps; a step after a gap restarts the lag
    /// history (the rows so far stay). Allocates only when the number of stems changes.
    pub fn push<'a>(
        &mut self,
        frame: u64,
        master: &[Cf],
        corrected: &'a [Cf],
        stems: impl ExactSizeIterator<Item = &'a [Cf]> + Clone,
        row: bool,
    ) {
        if frame % 2 == 1 {
            return;
        }
        // The stems are the sources; without stems, or too many, the sum stands for them.
        let per_stem = (1..=RETURN_MODEL_MAX_STEMS).contains(&stems.len());
        let sources = if per_stem { stems.len() } else { 1 };
        if self
            .bands
            .first()
            .is_some_and(|b| b.sources.len() != sources)
        {
            for band in &mut self.bands {
                *band = BandModel::new(band.bins, sources);
            }
            self.clear();
        }
        if self.last_frame.is_some_and(|last| frame != last + 2) {
            self.filled = 0;
        }
        self.last_frame = Some(frame);
        let slot = self.next;
        self.next = (self.next + 1) % SPAN;
        self.filled = (self.filled + 1).min(SPAN);
        self.row_ok[slot] = row;
        let full = self.filled == SPAN && self.row_ok[(slot + SPAN - RETURN_MODEL_LAGS) % SPAN];
        // The newest step is `slot`; a row's centre is `K` steps older, and `back` steps
        // before the newest is `step(back)`.
        let step = |back: usize| (slot + SPAN - back) % SPAN;
        let energy = |spectrum: &[Cf], (first, end): (usize, usize)| {
            let end = end.min(spectrum.len());
            spectrum[first.min(end)..end]
                .iter()
                .map(|c| f64::from(c.norm_sqr()))
                .sum::<f64>()
        };
        let k = RETURN_MODEL_LAGS;
        for band in &mut self.bands {
            band.residual_history[slot] = {
                let (first, end) = band.bins;
                let end = end.min(master.len()).min(corrected.len());
                master[first.min(end)..end]
                    .iter()
                    .zip(&corrected[first.min(end)..end])
                    .map(|(m, c)| f64::from((m - c).norm_sqr()))
                    .sum()
            };
            if per_stem {
                for (history, stem) in band.sources.iter_mut().zip(stems.clone()) {
                    history[slot] = energy(stem, band.bins);
                }
            } else {
                band.sources[0][slot] = energy(corrected, band.bins);
            }
            if !full {
                continue;
            }
            let y = band.residual_history[step(k)];
            let n = sources + 1;
            let tri = triangle(n);
            let mut z = [1.0f64; RETURN_MODEL_MAX_STEMS + 1];
            for (d, &decay) in RETURN_MODEL_DECAYS.iter().enumerate() {
                for (direction, causal) in [true, false].into_iter().enumerate() {
                    // Causal: the source `lag` steps before the centre; anticausal: after.
                    for (zs, history) in z.iter_mut().zip(&band.sources) {
                        let mut weight = 1.0;
                        *zs = 0.0;
                        for lag in 0..=k {
                            *zs += weight * history[step(if causal { k + lag } else { k - lag })];
                            weight *= decay;
                        }
                    }
                    z[sources] = 1.0;
                    let kernel = 2 * d + direction;
                    let gram = &mut band.gram[kernel * tri..(kernel + 1) * tri];
                    let cross = &mut band.cross[kernel * n..(kernel + 1) * n];
                    for i in 0..n {
                        for j in i..n {
                            gram[at(n, i, j)] += z[i] * z[j];
                        }
                        cross[i] += z[i] * y;
                    }
                }
            }
            band.yy += y * y;
            band.y += y;
        }
        if full {
            self.rows += 1;
        }
    }

    /// Fits again if [`RETURN_MODEL_REFIT_ROWS`] rows came in since the last fit (or at all,
    /// with `force`, at the end of a pass), once there are enough.
    pub fn refit(&mut self, force: bool) {
        if self.rows < RETURN_MODEL_MIN_STEPS {
            self.fit = None;
            return;
        }
        let due = match self.fit {
            None => true,
            Some((_, rows)) => {
                self.rows >= rows + RETURN_MODEL_REFIT_ROWS || (force && self.rows > rows)
            }
        };
        if due {
            self.fit = self.fit_now().map(|fit| (fit, self.rows));
        }
    }

    /// The last fit.
    pub fn fit(&self) -> Option<ReturnFit> {
        self.fit.map(|(fit, _)| fit)
    }

    /// The shares explained causally and anticausally, each band at its best decay and
    /// weighted by its share of the residual's energy.
    fn fit_now(&self) -> Option<ReturnFit> {
        let rows = self.rows as f64;
        let total: f64 = self.bands.iter().map(|b| b.y).sum();
        if total <= 0.0 {
            return None;
        }
        let (mut causal, mut anticausal) = (0.0, 0.0);
        for band in self.bands.iter().filter(|b| b.y > 0.0) {
            let weight = band.y / total;
            let best = |direction: usize| {
                (0..RETURN_MODEL_DECAYS.len())
                    .map(|d| band.explained(2 * d + direction, rows))
                    .fold(0.0, f64::max)
            };
            causal += weight * best(0);
            anticausal += weight * best(1);
        }
        Some(ReturnFit {
            causal_explained: causal as f32,
            anticausal_explained: anticausal as f32,
        })
    }
}

#[cfg(test)]
mod tests;
