//! A history of one signal, addressed by absolute sample position, with the stretches in which
//! it was missing.

use std::collections::VecDeque;

pub(crate) struct Ring {
    data: Vec<f32>,
    mask: usize,
    /// Absolute position of the next sample written.
    end: u64,
    /// Missing stretches `[start, end)`, oldest first.
    gaps: VecDeque<(u64, u64)>,
}

impl Ring {
    /// A ring holding at least `capacity` samples.
    pub fn new(capacity: usize) -> Self {
        let size = capacity.next_power_of_two();
        Self {
            data: vec![0.0; size],
            mask: size - 1,
            end: 0,
            gaps: VecDeque::new(),
        }
    }

    /// Appends samples.
    pub fn push(&mut self, samples: &[f32]) {
        self.extend(samples);
    }

    /// Appends `frames` of silence marked missing.
    pub fn push_missing(&mut self, frames: usize) {
        let start = self.end;
        for _ in 0..frames {
            self.data[(self.end as usize) & self.mask] = 0.0;
            self.end += 1;
        }
        match self.gaps.back_mut() {
            Some(last) if last.1 == start => last.1 = self.end,
            _ => self.gaps.push_back((start, self.end)),
        }
    }

    /// Copies `[start, start + out.len())` into `out`. Positions before 0 read as silence.
    pub fn read(&self, start: i64, out: &mut [f32]) {
        let mut written = 0;
        if start < 0 {
            let silent = ((-start) as usize).min(out.len());
            out[..silent].fill(0.0);
            written = silent;
        }
        // At most two contiguous pieces of the ring.
        while written < out.len() {
            let pos = (start + written as i64) as usize & self.mask;
            let len = (out.len() - written).min(self.data.len() - pos);
            out[written..written + len].copy_from_slice(&self.data[pos..pos + len]);
            written += len;
        }
    }

    /// `[start, start + out.len())` times `window`, sample by sample, into `out`: a read and
    /// the analysis window in one pass. Positions before 0 read as silence.
    pub fn read_windowed(&self, start: i64, window: &[f32], out: &mut [f32]) {
        let mut written = 0;
        if start < 0 {
            let silent = ((-start) as usize).min(out.len());
            out[..silent].fill(0.0);
            written = silent;
        }
        while written < out.len() {
            let pos = (start + written as i64) as usize & self.mask;
            let len = (out.len() - written).min(self.data.len() - pos);
            for ((o, &x), &w) in out[written..written + len]
                .iter_mut()
                .zip(&self.data[pos..pos + len])
                .zip(&window[written..written + len])
            {
                *o = x * w;
            }
            written += len;
        }
    }

    /// Appends samples with a bulk copy.
    pub fn extend(&mut self, samples: &[f32]) {
        let mut done = 0;
        while done < samples.len() {
            let pos = (self.end as usize) & self.mask;
            let len = (samples.len() - done).min(self.data.len() - pos);
            self.data[pos..pos + len].copy_from_slice(&samples[done..done + len]);
            done += len;
            self.end += len as u64;
        }
    }

    /// The contiguous space for the next samples, at most `max` of them (fewer where the ring
    /// wraps), to write in place; [`Ring::commit`] then appends what was written.
    pub fn next_slots(&mut self, max: usize) -> &mut [f32] {
        let pos = (self.end as usize) & self.mask;
        let len = max.min(self.data.len() - pos);
        &mut self.data[pos..pos + len]
    }

    /// Appends the first `frames` samples written into [`Ring::next_slots`].
    pub fn commit(&mut self, frames: usize) {
        self.end += frames as u64;
    }

    /// Whether `[start, end)` has no missing sample (positions before 0 count as present).
    pub fn present(&self, start: i64, end: i64) -> bool {
        !self
            .gaps
            .iter()
            .any(|&(a, b)| (a as i64) < end && (b as i64) > start)
    }

    /// Forgets gaps that end before `pos`.
    pub fn prune_gaps(&mut self, pos: i64) {
        while self.gaps.front().is_some_and(|&(_, b)| (b as i64) <= pos) {
            self.gaps.pop_front();
        }
    }
}
