//! Channel layouts as data: which speaker each channel of a file feeds (mono, stereo, LCR, quad,
//! 5.0, 5.1, 7.1 and any other layout a WAVE_FORMAT_EXTENSIBLE channel mask spells with the
//! eleven ear-level positions). The mask is read from the file's own `fmt ` chunk when it has
//! one (symphonia silently "fixes" a mask that does not match the channel count; the checker
//! refuses it instead); without one, the usual WAV/SMPTE order by count is assumed:
//!
//! | channels | layout | order                        |
//! |----------|--------|------------------------------|
//! | 1        | mono   | M                            |
//! | 2        | stereo | L R                          |
//! | 3        | LCR    | L R C                        |
//! | 4        | quad   | L R Ls Rs                    |
//! | 5        | 5.0    | L R C Ls Rs                  |
//! | 6        | 5.1    | L R C LFE Ls Rs              |
//! | 7        | 6.1    | L R C LFE Ls Rs Cs           |
//! | 8        | 7.1    | L R C LFE Lrs Rrs Ls Rs (WAV order, mask 0x63F: rears before sides) |
//!
//! Channels of different files are matched by their short name (a 5.1 with back surrounds and
//! one with side surrounds both read L R C LFE Ls Rs).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The most channels the checker reads (7.1).
pub const MAX_CHANNELS: u32 = 8;

/// WAVE_FORMAT_EXTENSIBLE speaker bits the checker can name, in bit order: (bit, short name,
/// long name). The surround pair is called Ls/Rs whether it is the back (bits 4-5) or the side
/// (bits 9-10) pair; with both pairs present (7.1) the back pair is the rear surrounds Lrs/Rrs.
const SPEAKERS: [(u32, &str, &str); 11] = [
    (0, "L", "left"),
    (1, "R", "right"),
    (2, "C", "centre"),
    (3, "LFE", "LFE"),
    (4, "Ls", "left surround"),
    (5, "Rs", "right surround"),
    (6, "Lc", "left centre"),
    (7, "Rc", "right centre"),
    (8, "Cs", "centre surround"),
    (9, "Ls", "left surround"),
    (10, "Rs", "right surround"),
];

/// Bits of the side surrounds (SL, SR) and of the back surrounds (BL, BR).
const SIDE_BITS: u32 = (1 << 9) | (1 << 10);
const BACK_BITS: u32 = (1 << 4) | (1 << 5);

/// One channel of a layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Speaker {
    /// Short name, as in tables ("C", "LFE", "Ls").
    pub short: &'static str,
    /// Long name, as in sentences ("centre", "left surround").
    pub long: &'static str,
}

/// A file's channel layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Its usual name ("5.1", "stereo"; "6 channels (mask 0x...)" for an unusual one).
    pub name: String,
    /// Its channels, in the file's order.
    pub speakers: Vec<Speaker>,
    /// Its WAVE_FORMAT_EXTENSIBLE channel mask (0 for mono: no position).
    pub mask: u32,
}

/// Masks with a usual name.
const NAMED_MASKS: [(u32, &str); 11] = [
    (0x3, "stereo"),
    (0x7, "LCR"),
    (0x33, "quad"),
    (0x603, "quad"),
    (0x37, "5.0"),
    (0x607, "5.0"),
    (0x3F, "5.1"),
    (0x60F, "5.1"),
    (0x13F, "6.1"),
    (0x70F, "6.1"),
    (0x63F, "7.1"),
];

impl Layout {
    /// A mono file.
    pub fn mono() -> Self {
        Self {
            name: "mono".into(),
            speakers: vec![Speaker {
                short: "M",
                long: "mono",
            }],
            mask: 0,
        }
    }

    /// A stereo file.
    pub fn stereo() -> Self {
        Self::from_mask(0x3, 2).unwrap_or_else(|_| Self::mono())
    }

    /// Number of channels.
    pub fn count(&self) -> usize {
        self.speakers.len()
    }

    /// Where the channel named `short` is, if the layout has it.
    pub fn index_of(&self, short: &str) -> Option<usize> {
        self.speakers.iter().position(|s| s.short == short)
    }

    /// The usual layout of `count` channels without a mask (see the module's table).
    pub fn by_count(count: u32) -> Result<Self, String> {
        let mask = match count {
            1 => return Ok(Self::mono()),
            2 => 0x3,
            3 => 0x7,
            4 => 0x33,
            5 => 0x37,
            6 => 0x3F,
            7 => 0x13F,
            8 => 0x63F,
            _ => return Err(too_many(count)),
        };
        Self::from_mask(mask, count)
    }

    /// The layout a WAVE_FORMAT_EXTENSIBLE channel mask spells for `count` channels. A zero mask
    /// (no positions given) is the usual order by count.
    pub fn from_mask(mask: u32, count: u32) -> Result<Self, String> {
        if count > MAX_CHANNELS || count == 0 {
            return Err(too_many(count));
        }
        if mask == 0 {
            return Self::by_count(count);
        }
        if count == 1 {
            return Ok(Self::mono());
        }
        if mask.count_ones() != count {
            return Err(format!(
                "has {count} channels but its channel mask 0x{mask:X} names {} speaker(s): the channels cannot be mapped",
                mask.count_ones()
            ));
        }
        let known = SPEAKERS.iter().fold(0u32, |m, (bit, _, _)| m | (1 << bit));
        if mask & !known != 0 {
            return Err(format!(
                "has {count} channels with speaker positions the checker cannot map (channel mask 0x{mask:X}; it reads ear-level layouts up to 7.1)"
            ));
        }
        let both_pairs = mask & SIDE_BITS == SIDE_BITS && mask & BACK_BITS != 0;
        let speakers: Vec<Speaker> = SPEAKERS
            .iter()
            .filter(|(bit, _, _)| mask & (1 << bit) != 0)
            .map(|&(bit, short, long)| match bit {
                4 if both_pairs => Speaker {
                    short: "Lrs",
                    long: "left rear surround",
                },
                5 if both_pairs => Speaker {
                    short: "Rrs",
                    long: "right rear surround",
                },
                _ => Speaker { short, long },
            })
            .collect();
        let name = NAMED_MASKS
            .iter()
            .find(|(m, _)| *m == mask)
            .map(|(_, n)| (*n).to_string())
            .unwrap_or_else(|| {
                let shorts: Vec<&str> = speakers.iter().map(|s| s.short).collect();
                format!("{count} channels ({})", shorts.join(" "))
            });
        Ok(Self {
            name,
            speakers,
            mask,
        })
    }

    /// The layout of the file at `path` with `count` channels: from its own channel mask when it
    /// is a WAVE_FORMAT_EXTENSIBLE file, else the usual order by count.
    pub fn of_file(path: &Path, count: u32) -> Result<Self, String> {
        if count > MAX_CHANNELS {
            return Err(too_many(count));
        }
        match wav_channel_mask(path) {
            Some(mask) => Self::from_mask(mask, count),
            None => Self::by_count(count),
        }
    }

    /// The channels' short names joined ("L R C LFE Ls Rs").
    pub fn describe(&self) -> String {
        let shorts: Vec<&str> = self.speakers.iter().map(|s| s.short).collect();
        format!("{} ({})", self.name, shorts.join(" "))
    }
}

fn too_many(count: u32) -> String {
    format!(
        "has {count} channels; the checker reads up to {MAX_CHANNELS} (mono, stereo, LCR, quad, 5.0, 5.1, 6.1, 7.1)"
    )
}

/// Sets the channel mask of the WAVE_FORMAT_EXTENSIBLE file at `path` (hound always writes
/// the first-N-speakers mask). A file of another format is left alone.
pub fn set_wav_channel_mask(path: &Path, mask: u32) -> std::io::Result<()> {
    let Some((offset, _)) = find_channel_mask(path) else {
        return Ok(());
    };
    let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    std::io::Write::write_all(&mut file, &mask.to_le_bytes())
}

/// Chunks walked before giving up on finding `fmt `.
const MAX_CHUNKS: usize = 64;
/// WAVE_FORMAT_EXTENSIBLE.
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// The channel mask of a RIFF/WAVE file's WAVE_FORMAT_EXTENSIBLE `fmt ` chunk; `None` for any
/// other file (or one that cannot be read: the decoder names that).
pub fn wav_channel_mask(path: &Path) -> Option<u32> {
    find_channel_mask(path).map(|(_, mask)| mask)
}

/// Where the channel mask of a WAVE_FORMAT_EXTENSIBLE file is (byte offset), and its value.
fn find_channel_mask(path: &Path) -> Option<(u64, u32)> {
    let mut file = File::open(path).ok()?;
    let mut header = [0u8; 12];
    file.read_exact(&mut header).ok()?;
    if (&header[0..4] != b"RIFF" && &header[0..4] != b"RF64") || &header[8..12] != b"WAVE" {
        return None;
    }
    for _ in 0..MAX_CHUNKS {
        let mut chunk = [0u8; 8];
        file.read_exact(&mut chunk).ok()?;
        let size = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
        if &chunk[0..4] == b"fmt " {
            if size < 24 {
                return None;
            }
            let mut fmt = [0u8; 24];
            file.read_exact(&mut fmt).ok()?;
            let tag = u16::from_le_bytes([fmt[0], fmt[1]]);
            if tag != FORMAT_EXTENSIBLE {
                return None;
            }
            let offset = file.stream_position().ok()? - 4;
            return Some((
                offset,
                u32::from_le_bytes([fmt[20], fmt[21], fmt[22], fmt[23]]),
            ));
        }
        let padded = i64::from(size) + i64::from(size & 1);
        file.seek(SeekFrom::Current(padded)).ok()?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shorts(l: &Layout) -> Vec<&'static str> {
        l.speakers.iter().map(|s| s.short).collect()
    }

    #[test]
    fn counts_without_a_mask_take_the_usual_order() {
        assert_eq!(Layout::by_count(1).map(|l| l.name), Ok("mono".into()));
        let l = Layout::by_count(6).unwrap_or_else(|_| Layout::mono());
        assert_eq!(l.name, "5.1");
        assert_eq!(shorts(&l), ["L", "R", "C", "LFE", "Ls", "Rs"]);
        let l = Layout::by_count(8).unwrap_or_else(|_| Layout::mono());
        assert_eq!(l.name, "7.1");
        assert_eq!(shorts(&l), ["L", "R", "C", "LFE", "Lrs", "Rrs", "Ls", "Rs"]);
        assert_eq!(
            Layout::by_count(4).map(|l| shorts(&l)),
            Ok(vec!["L", "R", "Ls", "Rs"])
        );
        assert!(
            Layout::by_count(10)
                .err()
                .is_some_and(|e| e.contains("has 10 channels"))
        );
    }

    #[test]
    fn masks_name_the_speakers_in_bit_order() {
        // 5.1 with side surrounds: the same names as with back surrounds.
        let side = Layout::from_mask(0x60F, 6).unwrap_or_else(|_| Layout::mono());
        let back = Layout::from_mask(0x3F, 6).unwrap_or_else(|_| Layout::mono());
        assert_eq!((&side.name, &side.speakers), (&back.name, &back.speakers));
        // 7.1 wide (front centre pair): hound's default mask for 8 channels.
        let wide = Layout::from_mask(0xFF, 8).unwrap_or_else(|_| Layout::mono());
        assert_eq!(
            shorts(&wide),
            ["L", "R", "C", "LFE", "Ls", "Rs", "Lc", "Rc"]
        );
        assert!(wide.name.starts_with("8 channels"));
        // A mask naming fewer speakers than channels, or top speakers: refused.
        assert!(Layout::from_mask(0x7, 6).is_err());
        assert!(Layout::from_mask(0x3F | (1 << 12), 7).is_err());
        // No positions given: by count.
        assert_eq!(Layout::from_mask(0, 6).map(|l| l.name), Ok("5.1".into()));
    }
}
