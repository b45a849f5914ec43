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
        self.read_pieces(start, out, |o, x| o.copy_from_slice(x));
    }

    /// `[start, start + out.len())` times `window`, sample by sample, into `out`: a read and
    /// the analysis window in one pass. Positions before 0 read as silence.
    pub fn read_windowed(&self, start: i64, window: &[f32], out: &mut [f32]) {
        let mut offset = 0;
        self.read_pieces(start, out, |o, x| {
            let w = &window[offset..offset + o.len()];
            for ((o, &x), &w) in o.iter_mut().zip(x).zip(w) {
                *o = x * w;
            }
            offset += o.len();
        });
    }

    /// `[start, start + len)` without a copy: the samples before position 0 (silence, as
    /// [`Ring::read`] gives them), then the stored samples in at most two contiguous slices, in
    /// order (the second is empty unless the ring wraps). Rings of one capacity read at one
    /// `start` split at the same places.
    pub fn slices(&self, start: i64, len: usize) -> (usize, &[f32], &[f32]) {
        let silent = if start < 0 {
            ((-start) as usize).min(len)
        } else {
            0
        };
        let stored = len - silent;
        let pos = (start + silent as i64) as usize & self.mask;
        let first = stored.min(self.data.len() - pos);
        (
            silent,
            &self.data[pos..pos + first],
            &self.data[..stored - first],
        )
    }

    /// Fills `out` with `[start, start + out.len())`: silence before position 0, then each
    /// contiguous piece of the ring (at most two) handed to `fill(out_piece, ring_piece)`.
    /// Pieces come in order; a silent lead-in counts towards `fill`'s offsets as well.
    fn read_pieces(&self, start: i64, out: &mut [f32], mut fill: impl FnMut(&mut [f32], &[f32])) {
        let mut written = 0;
        if start < 0 {
            let silent = ((-start) as usize).min(out.len());
            // Silence goes through `fill` too (times a window is still silence), so that its
            // offsets stay those of `out`.
            let zeros = [0.0f32; 256];
            while written < silent {
                let len = (silent - written).min(zeros.len());
                fill(&mut out[written..written + len], &zeros[..len]);
                written += len;
            }
        }
        while written < out.len() {
            let pos = (start + written as i64) as usize & self.mask;
            let len = (out.len() - written).min(self.data.len() - pos);
            fill(&mut out[written..written + len], &self.data[pos..pos + len]);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrap_around_and_start_before_zero_as_silence() {
        let samples: Vec<f32> = (1..=40).map(|i| i as f32).collect();
        let window: Vec<f32> = (0..600).map(|i| 0.5 + i as f32 * 0.01).collect();
        // A ring of 32 holds positions 8..40 (wrapping at 32); one of 64 holds them all.
        for (capacity, reads) in [
            (32, vec![(8, 32), (24, 16), (30, 10), (39, 1)]),
            (64, vec![(-5, 12), (-600, 600), (0, 40)]),
        ] {
            let mut ring = Ring::new(capacity);
            ring.push(&samples);
            for (start, len) in reads {
                let expected: Vec<f32> = (start..start + len as i64)
                    .map(|p| if p < 0 { 0.0 } else { (p + 1) as f32 })
                    .collect();
                let mut out = vec![f32::NAN; len];
                ring.read(start, &mut out);
                assert_eq!(out, expected, "read at {start}");
                let (silent, a, b) = ring.slices(start, len);
                let joined: Vec<f32> = std::iter::repeat_n(0.0, silent)
                    .chain(a.iter().copied())
                    .chain(b.iter().copied())
                    .collect();
                assert_eq!(joined, expected, "slices at {start}");
                ring.read_windowed(start, &window, &mut out);
                let windowed: Vec<f32> = expected.iter().zip(&window).map(|(x, w)| x * w).collect();
                assert_eq!(out, windowed, "windowed read at {start}");
            }
        }
    }
}
