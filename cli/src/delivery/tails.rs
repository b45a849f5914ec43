//! The tail and fake-stereo rules, and what they watch while a file streams: its last 300 ms
//! and whether its two channels ever differ.

use stemcheck_analysis::{Finding, Severity, Unit};

use super::{Delivery, Rule, file_finding};

/// A file whose last 10 ms are louder than this was cut off while sounding, in dBFS.
pub const TAIL_FLOOR_DBFS: f32 = -60.0;
/// ... and one whose last 10 ms are louder than this (-75 dBFS) was too, if its tail was still
/// decaying there ([`TAIL_DECAY_MIN_DB`]): a quiet delivery (a -23 LUFS broadcast mix, a GM
/// rendering 4 dB down) cuts its reverb under -60 dBFS, where a steady floor (dither, room
/// noise) does not decay.
pub const TAIL_DECAYING_FLOOR_DBFS: f32 = -75.0;
/// The last 10 ms at least this far (6 dB) under the 100 ms that ended 200 ms before the end:
/// the tail was still decaying (a 2 s reverb falls about 8 dB over that quarter second; a
/// dither or noise floor, none).
pub const TAIL_DECAY_MIN_DB: f32 = 6.0;
/// The stretch at the end of a file that must be quiet, in seconds.
pub(super) const TAIL_SECONDS: f64 = 0.010;
/// How far before the end the earlier stretch starts, in seconds (the watch keeps this much).
const TAIL_DECAY_FROM_SECONDS: f64 = 0.3;
/// The earlier stretch's length, in seconds.
const TAIL_DECAY_WINDOW_SECONDS: f64 = 0.1;
/// Channels this close (every sample within 2^-23, the 24-bit step: -138 dBFS) are the same
/// channel.
const SAME_CHANNEL_TOLERANCE: f32 = 1.0 / 8_388_608.0;

/// A file's last moments, as the tail rule reads them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TailLevels {
    /// RMS of its last `TAIL_SECONDS`, in dBFS (-200 for digital silence).
    pub end_dbfs: f32,
    /// RMS of the 100 ms that ended 200 ms before its end, in dBFS (-infinity when the file is
    /// shorter than 300 ms).
    pub before_dbfs: f32,
}

impl TailLevels {
    /// No tail (a file shorter than `TAIL_SECONDS`, or not read).
    pub const NONE: Self = Self {
        end_dbfs: f32::NEG_INFINITY,
        before_dbfs: f32::NEG_INFINITY,
    };

    /// How far the tail fell over its last quarter second, in dB (-infinity when unknown).
    pub fn decay_db(&self) -> f32 {
        if self.before_dbfs.is_finite() {
            self.before_dbfs - self.end_dbfs
        } else {
            f32::NEG_INFINITY
        }
    }

    /// Whether the file ends while still sounding: loud at its end, or still decaying there
    /// above `TAIL_DECAYING_FLOOR_DBFS`.
    pub fn is_cut(&self) -> bool {
        self.end_dbfs > TAIL_FLOOR_DBFS
            || (self.end_dbfs > TAIL_DECAYING_FLOOR_DBFS && self.decay_db() >= TAIL_DECAY_MIN_DB)
    }

    /// Of two channels' tails, the one to report: a cut one over one that is not, else the
    /// louder end.
    pub fn worse(self, other: Self) -> Self {
        match (self.is_cut(), other.is_cut()) {
            (false, true) => other,
            (true, false) => self,
            _ if other.end_dbfs > self.end_dbfs => other,
            _ => self,
        }
    }
}

/// Watches one file's raw samples as they are decoded.
#[derive(Debug, Clone)]
pub struct FileWatch {
    /// Frames seen, at the file's own rate.
    pub frames_read: u64,
    /// The last [`TAIL_DECAY_FROM_SECONDS`] of audio (mid), as a ring.
    tail: Vec<f32>,
    tail_pos: usize,
    /// [`TAIL_SECONDS`] and [`TAIL_DECAY_WINDOW_SECONDS`] in frames.
    end_frames: usize,
    window_frames: usize,
    /// Whether every frame so far had identical channels (stereo files only).
    identical_channels: bool,
}

impl FileWatch {
    /// A watch for a file at `sample_rate_hz` (in Hz) with `channels` channels, before any audio.
    pub fn new(sample_rate_hz: u32, channels: u32) -> Self {
        let frames = |seconds: f64| ((seconds * f64::from(sample_rate_hz)) as usize).max(1);
        let tail_len = frames(TAIL_DECAY_FROM_SECONDS);
        Self {
            frames_read: 0,
            tail: vec![0.0; tail_len],
            tail_pos: 0,
            end_frames: frames(TAIL_SECONDS).min(tail_len),
            window_frames: frames(TAIL_DECAY_WINDOW_SECONDS).min(tail_len),
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

    /// RMS in dBFS of `frames` frames of the ring starting `from` frames after its oldest.
    fn rms_dbfs(&self, from: usize, frames: usize) -> f32 {
        let len = self.tail.len();
        let sum: f64 = (from..from + frames)
            .map(|i| f64::from(self.tail[(self.tail_pos + i) % len]).powi(2))
            .sum();
        let mean_square = sum / frames as f64;
        if mean_square > 0.0 {
            (10.0 * mean_square.log10()).max(-200.0) as f32
        } else {
            -200.0
        }
    }

    /// The tail's levels, or `None` when the file is shorter than `TAIL_SECONDS`.
    pub fn tail_levels(&self) -> Option<TailLevels> {
        let len = self.tail.len();
        if (self.frames_read as usize) < self.end_frames {
            return None;
        }
        Some(TailLevels {
            end_dbfs: self.rms_dbfs(len - self.end_frames, self.end_frames),
            before_dbfs: if self.frames_read as usize >= len {
                self.rms_dbfs(0, self.window_frames)
            } else {
                f32::NEG_INFINITY
            },
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
        .filter(|t| t.tail.is_cut())
        .map(|t| {
            let (end_db, decay_db) = (t.tail.end_dbfs, t.tail.decay_db());
            let how = if end_db > TAIL_FLOOR_DBFS {
                format!("{end_db:.1} dBFS in its last 10 ms")
            } else {
                format!(
                    "{end_db:.1} dBFS in its last 10 ms, still falling: {decay_db:.1} dB down \
                     from 0.2 s before"
                )
            };
            file_finding(
                Rule::Tail,
                Severity::Warning,
                if t.is_mix() { vec![] } else { vec![t.name()] },
                f64::from(end_db),
                Unit::Dbfs,
                format!(
                    "{} ends while still sounding ({how}): a tail was cut off.",
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
        assert_eq!(w.tail_levels(), None);
        w.observe(&[0.5; 20], &[0.5; 20]);
        w.observe(&[0.0; 10], &[0.0; 10]);
        let end = |w: &FileWatch| w.tail_levels().unwrap().end_dbfs;
        assert_eq!(end(&w), -200.0);
        // One more loud sample: mean square 0.25 / 10 -> -16.0 dBFS.
        w.observe(&[0.5], &[0.5]);
        assert!((end(&w) + 16.02).abs() < 0.01);
        // Shorter than 300 ms: no earlier stretch to compare with.
        assert_eq!(w.tail_levels().unwrap().before_dbfs, f32::NEG_INFINITY);
        assert!(w.identical_channels());
        w.observe(&[0.5], &[0.4]);
        assert!(!w.identical_channels());
    }

    #[test]
    fn the_ring_is_the_one_a_sample_at_a_time_would_fill_whatever_the_blocks() {
        // 1 kHz rate: a ring of 300. Blocks of 0 to 370 frames of a ramp; the ring (its
        // content and position) must be what writing one sample at a time leaves.
        let mut w = FileWatch::new(1000, 2);
        let mut reference = vec![0.0f32; 300];
        let mut position = 0;
        let mut next = 0.0f32;
        for block in (0..40).map(|i| (i * 70) % 371) {
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

    /// A reverb tail at `end_dbfs` in the last 10 ms, decaying `db_per_second` (0: a steady
    /// floor), 1 s of it at 48 kHz, through a watch.
    fn tail_of(end_dbfs: f32, db_per_second: f32) -> TailLevels {
        let rate = 48_000;
        let frames = rate as usize;
        let mut state = 3u32;
        let samples: Vec<f32> = (0..frames)
            .map(|i| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (state >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0;
                // Uniform noise of peak a has an RMS of a / sqrt(3).
                let seconds_to_end = (frames - i) as f32 / rate as f32;
                let db = end_dbfs + db_per_second * seconds_to_end;
                3f32.sqrt() * 10f32.powf(db / 20.0) * noise
            })
            .collect();
        let mut w = FileWatch::new(rate, 2);
        for block in samples.chunks(4096) {
            w.observe(block, block);
        }
        w.tail_levels().unwrap()
    }

    #[test]
    fn a_tail_cut_while_decaying_is_cut_even_under_minus_60_dbfs_and_a_floor_is_not() {
        // A 2 s reverb (30 dB/s) cut at -65 dBFS: 7.5 dB down over the quarter second before.
        let reverb = tail_of(-65.0, 30.0);
        assert!((reverb.end_dbfs + 65.0).abs() < 1.0, "{reverb:?}");
        assert!((reverb.decay_db() - 7.5).abs() < 1.5, "{reverb:?}");
        assert!(reverb.is_cut());
        // Room noise at -65 dBFS: steady, not a tail.
        let room = tail_of(-65.0, 0.0);
        assert!(room.decay_db().abs() < 1.5, "{room:?}");
        assert!(!room.is_cut());
        // Loud at the end: cut whether or not it decays.
        assert!(tail_of(-50.0, 0.0).is_cut());
        // Decaying, but under -75 dBFS: gone.
        assert!(!tail_of(-80.0, 30.0).is_cut());
        // A surround file: a cut channel is reported over a louder steady one.
        assert_eq!(room.worse(reverb), reverb);
        assert_eq!(reverb.worse(room), reverb);
    }
}
