//! Cross-spectra: each frame's spectra of the master, of every stem (at its lag), of their sum
//! and of the sum at the stems' fitted gains; and the Welch accumulators of the master and the
//! sum (auto- and cross-spectra) and of every stem against them.

use crate::spectra::{Cd, Cf};

use super::Analyzer;

/// The current frame's spectra, `fft.bins()` bins each (writer:
/// [`Analyzer::transform_frame`]).
pub(super) struct FrameSpectra {
    /// The master's mid.
    pub master: Vec<Cf>,
    /// The stems' sum (each stem's mid at its lag).
    pub sum: Vec<Cf>,
    /// The sum with every stem at its fitted gain.
    pub corrected: Vec<Cf>,
}

impl FrameSpectra {
    pub fn new(bins: usize) -> Self {
        Self {
            master: vec![Cf::new(0.0, 0.0); bins],
            sum: vec![Cf::new(0.0, 0.0); bins],
            corrected: vec![Cf::new(0.0, 0.0); bins],
        }
    }
}

/// Welch accumulators since the last restart, per bin, in the analysis band only (writer:
/// [`Analyzer::accumulate_cross_spectra`]; emptied by `restart_accumulators`).
pub(super) struct Welch {
    /// Master auto-spectrum `sum |M|^2`.
    pub pmm: Vec<f64>,
    /// Sum auto-spectrum `sum |S|^2`.
    pub pss: Vec<f64>,
    /// Master-sum cross-spectrum `sum M S*`.
    pub pms: Vec<Cd>,
    /// `pmm` with each frame's master divided by its broadband gain (for what no stem explains
    /// when the master bus has dynamics).
    pub pmm_norm: Vec<f64>,
    /// `pms` likewise.
    pub pms_norm: Vec<Cd>,
    /// `pss` with each frame weighted by the master's broadband gain in it (`sum g |S|^2`):
    /// over `pss`, what a master-bus compressor's gain averages to in each bin, weighted by
    /// where the bin's energy lies in time (bass-heavy loud passages are turned down more
    /// often, so a compressor alone reads as a bass cut in the band fit).
    pub pss_gain: Vec<f64>,
    /// Per band, the stems' Gram matrix (upper triangle, row-major: `Re sum Si Sj*`), for the
    /// joint per-band gain fit; empty above [`crate::config::MAX_GRAM_STEMS`] stems (writer:
    /// [`Analyzer::accumulate_gram`]; sized when the stem set changes).
    pub gram: Vec<f64>,
    /// Frames accumulated, in frames (writer: `process_frame`).
    pub frames: u64,
}

impl Welch {
    pub fn new(bins: usize) -> Self {
        Self {
            pmm: vec![0.0; bins],
            pss: vec![0.0; bins],
            pms: vec![Cd::new(0.0, 0.0); bins],
            pmm_norm: vec![0.0; bins],
            pms_norm: vec![Cd::new(0.0, 0.0); bins],
            pss_gain: vec![0.0; bins],
            gram: Vec::new(),
            frames: 0,
        }
    }

    /// Empties the accumulators (sizes stay; `frames` is the caller's).
    pub fn clear(&mut self) {
        self.pmm.fill(0.0);
        self.pss.fill(0.0);
        self.pms.fill(Cd::new(0.0, 0.0));
        self.pmm_norm.fill(0.0);
        self.pms_norm.fill(Cd::new(0.0, 0.0));
        self.pss_gain.fill(0.0);
        self.gram.fill(0.0);
    }
}

/// Stems whose frame energies are summed side by side (see
/// [`Analyzer::accumulate_cross_spectra`]).
const ENERGY_LANES: usize = 4;

impl Analyzer {
    /// The spectra of the frame starting at `start`: the master's, each stem's at its lag, the
    /// sum's and the gain-corrected sum's.
    pub(super) fn transform_frame(&mut self, start: i64) {
        let master_mid = &self.master.mid;
        self.fft.forward_with(
            |window, time| master_mid.read_windowed(start, window, time),
            &mut self.spectra.master,
        );
        self.spectra.sum.fill(Cf::new(0.0, 0.0));
        self.spectra.corrected.fill(Cf::new(0.0, 0.0));
        for stem in &mut self.stems {
            let (ring, from) = (&stem.ring, start - stem.lag);
            self.fft.forward_with(
                |window, time| ring.read_windowed(from, window, time),
                &mut stem.spectrum,
            );
            let g = stem.fitted_gain;
            for ((s, c), x) in self
                .spectra
                .sum
                .iter_mut()
                .zip(self.spectra.corrected.iter_mut())
                .zip(&stem.spectrum)
            {
                *s += x;
                *c += x * g;
            }
        }
    }

    /// Adds the frame to the Welch accumulators; `norm` divides the master by the frame's
    /// broadband gain for the normalised ones.
    pub(super) fn accumulate_cross_spectra(&mut self, norm: f32) {
        // Welch accumulators (the analysis band only: nothing outside it is read).
        let (lo, hi) = self.layout.analysis_bins;
        let frame_gain = 1.0 / f64::from(norm);
        for i in lo..hi {
            let m = self.spectra.master[i];
            let s = self.spectra.sum[i];
            let (m, s) = (
                Cd::new(m.re.into(), m.im.into()),
                Cd::new(s.re.into(), s.im.into()),
            );
            self.welch.pmm[i] += m.norm_sqr();
            self.welch.pss[i] += s.norm_sqr();
            self.welch.pss_gain[i] += s.norm_sqr() * frame_gain;
            self.welch.pms[i] += m * s.conj();
            let mn = m * f64::from(norm);
            self.welch.pmm_norm[i] += mn.norm_sqr();
            self.welch.pms_norm[i] += mn * s.conj();
        }
        // Per stem: products in single precision (one frame's worth), sums in double. Taken
        // [`ENERGY_LANES`] stems at a time, so that their spectra are still in cache for their
        // frame energies below (each stem's sums are its own: the order of stems changes no bit).
        let (master, sum) = (&self.spectra.master[lo..hi], &self.spectra.sum[lo..hi]);
        for stems in self.stems.chunks_mut(ENERGY_LANES) {
            for stem in stems.iter_mut() {
                let bins = stem.spectrum[lo..hi]
                    .iter()
                    .zip(master)
                    .zip(sum)
                    .zip(stem.pmk[lo..hi].iter_mut())
                    .zip(stem.psk[lo..hi].iter_mut())
                    .zip(stem.pkk[lo..hi].iter_mut());
                for (((((k, m), s), pmk), psk), pkk) in bins {
                    let mk = m * k.conj();
                    let sk = s * k.conj();
                    *pmk += Cd::new(mk.re.into(), mk.im.into());
                    *psk += Cd::new(sk.re.into(), sk.im.into());
                    *pkk += f64::from(k.norm_sqr());
                }
            }
            // Each stem's frame energy is a sum in double precision, bin after bin: a chain of
            // dependent additions, apart from the loop above (which then vectorises) and
            // [`ENERGY_LANES`] stems side by side (each in its own order: the same bits).
            let count = stems.len();
            let spectra: [&[Cf]; ENERGY_LANES] =
                std::array::from_fn(|l| &stems[l.min(count - 1)].spectrum[lo..hi]);
            let mut energy = [0.0f64; ENERGY_LANES];
            for i in 0..hi - lo {
                for (e, spectrum) in energy.iter_mut().zip(&spectra) {
                    *e += f64::from(spectrum[i].norm_sqr());
                }
            }
            for (stem, e) in stems.iter_mut().zip(energy) {
                stem.energy += e;
            }
        }
    }
}
