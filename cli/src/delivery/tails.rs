//! The tail and fake-stereo rules, and what they watch while a file streams: its last 10 ms and
//! whether its two channels ever differ.

use stemcheck_analysis::{Finding, Severity, Unit};

use super::{Delivery, Rule, file_finding};

/// A file whose last 10 ms are louder than this was cut off while sounding, in dBFS.
pub const TAIL_FLOOR_DBFS: f32 = -60.0;
/// The stretch at the end of a file that must be quiet, in seconds.
pub(super) const TAIL_SECONDS: f64 = 0.010;
/// Channels this close (every sample within 2^-23, the 24-bit step: -138 dBFS) are the same
/// channel.
const SAME_CHANNEL_TOLERANCE: f32 = 1.0 / 8_388_608.0;

/// Watches one file's raw samples as they are decoded.
#[derive(Debug, Clone)]
pub struct FileWatch {
    /// Frames seen, at the file's own rate.
    pub frames_read: u64,
    /// The last [`TAIL_SECONDS`] of audio (mid), as a ring.
    tail: Vec<f32>,
    tail_pos: usize,
    /// Whether every frame so far had identical channels (stereo files only).
    identical_channels: bool,
}

impl FileWatch {
    /// A watch for a file at `sample_rate_hz` (in Hz) with `channels` channels, before any audio.
    pub fn new(sample_rate_hz: u32, channels: u32) -> Self {
        let tail_len = ((TAIL_SECONDS * f64::from(sample_rate_hz)) as usize).max(1);
        Self {
            frames_read: 0,
            tail: vec![0.0; tail_len],
            tail_pos: 0,
            identical_channels: channels == 2,
        }
    }

    /// Takes in a decoded block (left, right).
    pub fn observe(&mut self, left: &[f32], right: &[f32]) {
        self.frames_read += left.len() as u64;
        if self.identical_channels {
            self.identical_channels = left
                .iter()
                .zip(right)
                .all(|(l, r)| (l - r).abs() <= SAME_CHANNEL_TOLERANCE);
        }
        // Only the block's last `tail.len()` frames can stay in the ring: the earlier ones are
        // skipped (the ring position moves on as if they had been written), and the rest is
        // written in at most two runs, up to the ring's end and from its start.
        let len = self.tail.len();
        let frames = left.len().min(right.len());
        let skip = frames.saturating_sub(len);
        self.tail_pos = (self.tail_pos + skip) % len;
        let mut mids = left[skip..frames]
            .iter()
            .zip(&right[skip..frames])
            .map(|(l, r)| 0.5 * (l + r));
        while mids.len() > 0 {
            let run = (len - self.tail_pos).min(mids.len());
            for (slot, mid) in self.tail[self.tail_pos..self.tail_pos + run]
                .iter_mut()
                .zip(&mut mids)
            {
                *slot = mid;
            }
            self.tail_pos = (self.tail_pos + run) % len;
        }
    }

    /// RMS of the tail in dBFS, or `None` when the file is shorter than the tail.
    pub fn tail_dbfs(&self) -> Option<f32> {
        if (self.frames_read as usize) < self.tail.len() {
            return None;
        }
        let mean_square =
            self.tail.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / self.tail.len() as f64;
        Some(if mean_square > 0.0 {
            (10.0 * mean_square.log10()).max(-200.0) as f32
        } else {
            -200.0
        })
    }

    /// Whether the file is stereo and every frame seen so far had identical channels.
    pub fn identical_channels(&self) -> bool {
        self.identical_channels && self.frames_read > 0
    }
}

pub(super) fn tail_findings(d: &Delivery<'_>) -> Vec<Finding> {
    d.files
        .iter()
        .filter(|t| t.tail_dbfs > TAIL_FLOOR_DBFS)
        .map(|t| {
            let tail_db = t.tail_dbfs;
            file_finding(
                Rule::Tail,
                Severity::Warning,
                if t.is_mix() { vec![] } else { vec![t.name()] },
                f64::from(tail_db),
                Unit::Dbfs,
                format!(
                    "{} ends while still sounding ({tail_db:.1} dBFS in its last 10 ms): a tail was cut off.",
                    t.file_name()
                ),
                "Extend the export range until the reverb and release have died away.".into(),
            )
        })
        .collect()
}

pub(super) fn fake_stereo_findings(d: &Delivery<'_>) -> Vec<Finding> {
    d.files
        .iter()
        .filter(|t| t.identical_channels)
        .map(|t| {
            file_finding(
                Rule::FakeStereo,
                Severity::Info,
                if t.is_mix() { vec![] } else { vec![t.name()] },
                0.0,
                Unit::None,
                format!(
                    "{} is stereo but both channels are identical.",
                    t.file_name()
                ),
                "Deliver it as mono if the spec allows (or check the panning).".into(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_is_the_last_ten_ms() {
        // 1 kHz rate: the tail is 10 samples. 20 loud then 10 silent: quiet tail.
        let mut w = FileWatch::new(1000, 2);
        w.observe(&[0.5; 20], &[0.5; 20]);
        w.observe(&[0.0; 10], &[0.0; 10]);
        assert_eq!(w.tail_dbfs(), Some(-200.0));
        // One more loud sample: mean square 0.25 / 10 -> -16.0 dBFS.
        w.observe(&[0.5], &[0.5]);
        assert!((w.tail_dbfs().unwrap() + 16.02).abs() < 0.01);
        assert!(w.identical_channels());
        w.observe(&[0.5], &[0.4]);
        assert!(!w.identical_channels());
    }

    #[test]
    fn the_ring_is_the_one_a_sample_at_a_time_would_fill_whatever_the_blocks() {
        // 1 kHz rate: a ring of 10. Blocks of 0 to 37 frames of a ramp; the ring (its content
        // and position, which the tail's sum order follows) must be what writing one sample at
        // a time leaves.
        let mut w = FileWatch::new(1000, 2);
        let mut reference = vec![0.0f32; 10];
        let mut position = 0;
        let mut next = 0.0f32;
        for block in (0..40).map(|i| (i * 7) % 38) {
            let left: Vec<f32> = (0..block).map(|i| next + i as f32).collect();
            let right: Vec<f32> = left.iter().map(|x| x * 0.5).collect();
            next += block as f32;
            w.observe(&left, &right);
            for (l, r) in left.iter().zip(&right) {
                reference[position] = 0.5 * (l + r);
                position = (position + 1) % reference.len();
            }
            assert_eq!(w.tail, reference);
            assert_eq!(w.tail_pos, position);
        }
    }
}
