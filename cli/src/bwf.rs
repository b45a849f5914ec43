//! Broadcast Wave metadata: the `bext` chunk's time reference (where the file starts on the
//! timeline, in samples since midnight, 64-bit; EBU Tech 3285) and the iXML chunk's track names
//! and timecode rate, read by walking the RIFF chunk headers (a few seeks, never the audio).
//! Timecode is shown as `HH:MM:SS:FF` (`;` before the frames when drop-frame).
//!
//! The iXML is read by a careful tag scan: only a handful of flat, upper-case elements are
//! wanted (`TIMECODE_RATE`, `TIMECODE_FLAG`, and `NAME` inside each `TRACK`), which does not
//! justify an XML parser.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Most chunks walked before the file is taken for garbage.
const MAX_CHUNKS: usize = 10_000;
/// The largest iXML chunk read, in bytes (real ones are a few kB).
const MAX_IXML_BYTES: u64 = 1 << 20;
/// Where the time reference sits in the `bext` chunk, in bytes: after Description (256),
/// Originator (32), OriginatorReference (32), OriginationDate (10) and OriginationTime (8).
const TIME_REFERENCE_OFFSET: usize = 338;

/// A timecode frame rate: `num / den` frames per second, drop-frame or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRate {
    /// Numerator (30000 for 29.97).
    pub num: u32,
    /// Denominator (1001 for 29.97).
    pub den: u32,
    /// Whether frame numbers are dropped to keep up with the clock (29.97 and 59.94 only).
    pub drop_frame: bool,
}

impl FrameRate {
    /// The rate assumed when a file does not state one (no iXML `TIMECODE_RATE`): 24 fps, the
    /// rate of film and trailer deliveries. Messages say which rate they use.
    pub const DEFAULT: FrameRate = FrameRate {
        num: 24,
        den: 1,
        drop_frame: false,
    };

    /// Whole frames per second as the frame counter counts them (30 for 29.97).
    pub fn nominal_fps(self) -> u64 {
        u64::from(self.num).div_ceil(u64::from(self.den.max(1)))
    }

    /// "24 fps", "29.97 fps drop-frame".
    pub fn describe(self) -> String {
        let fps = f64::from(self.num) / f64::from(self.den.max(1));
        // Three decimals, trailing zeros dropped: 24, 25, 23.976, 29.97, 59.94.
        let digits = format!("{fps:.3}");
        let text = format!("{} fps", digits.trim_end_matches('0').trim_end_matches('.'));
        if self.drop_frame {
            format!("{text} drop-frame")
        } else {
            text
        }
    }
}

/// What a file's BWF/iXML metadata says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BwfInfo {
    /// The `bext` time reference: the first sample's position on the timeline, in samples
    /// since midnight at the file's rate. `None` when the file has no (complete) `bext` chunk.
    pub time_reference_samples: Option<u64>,
    /// The file's sample rate from its format chunk, in Hz.
    pub sample_rate_hz: Option<u32>,
    /// iXML `TRACK_LIST` track names, in order (empty without iXML).
    pub track_names: Vec<String>,
    /// iXML `TIMECODE_RATE` (with `TIMECODE_FLAG`), when stated.
    pub frame_rate: Option<FrameRate>,
}

/// Reads the BWF/iXML metadata of the file at `path`. A file that is not RIFF/WAVE, or whose
/// chunks end early, yields what was found before (the decoder names broken files).
pub fn read(path: &Path) -> std::io::Result<BwfInfo> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    parse(&mut file, len)
}

/// Reads the BWF/iXML metadata from a RIFF/WAVE stream of `len` bytes.
pub fn parse(file: &mut (impl Read + Seek), len: u64) -> std::io::Result<BwfInfo> {
    let mut info = BwfInfo::default();
    let mut header = [0u8; 12];
    if len < 12 {
        return Ok(info);
    }
    file.seek(SeekFrom::Start(0))?;
    file.read_exact(&mut header)?;
    if &header[0..4] != b"RIFF" || &header[8..12] != b"WAVE" {
        return Ok(info);
    }
    let end = len.min(8 + u64::from(u32_at(&header, 4)));
    let mut pos = 12u64;
    for _ in 0..MAX_CHUNKS {
        if pos + 8 > end {
            break;
        }
        let mut chunk = [0u8; 8];
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut chunk)?;
        let size = u64::from(u32_at(&chunk, 4));
        let body = pos + 8;
        let available = end.saturating_sub(body).min(size);
        match &chunk[0..4] {
            b"fmt " if available >= 8 => {
                let mut fmt = [0u8; 8];
                file.read_exact(&mut fmt)?;
                info.sample_rate_hz = Some(u32_at(&fmt, 4));
            }
            b"bext" if available >= (TIME_REFERENCE_OFFSET + 8) as u64 => {
                let mut bext = vec![0u8; TIME_REFERENCE_OFFSET + 8];
                file.read_exact(&mut bext)?;
                let low = u64::from(u32_at(&bext, TIME_REFERENCE_OFFSET));
                let high = u64::from(u32_at(&bext, TIME_REFERENCE_OFFSET + 4));
                info.time_reference_samples = Some(high << 32 | low);
            }
            b"iXML" if available <= MAX_IXML_BYTES => {
                let mut xml = vec![0u8; available as usize];
                file.read_exact(&mut xml)?;
                let text = String::from_utf8_lossy(&xml);
                info.track_names = ixml_track_names(&text);
                info.frame_rate = ixml_frame_rate(&text);
            }
            _ => {}
        }
        // Chunks are padded to an even size.
        pos = body + size + (size & 1);
    }
    Ok(info)
}

/// The text of every `<tag>...</tag>` element in `xml`, in order.
fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(stop) = after.find(&close) else {
            break;
        };
        out.push(&after[..stop]);
        rest = &after[stop + close.len()..];
    }
    out
}

/// XML's five predefined entities, decoded.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The iXML track names (`TRACK_LIST/TRACK/NAME`).
pub fn ixml_track_names(xml: &str) -> Vec<String> {
    elements(xml, "TRACK_LIST")
        .into_iter()
        .flat_map(|list| elements(list, "TRACK"))
        .filter_map(|track| elements(track, "NAME").first().map(|n| unescape(n.trim())))
        .filter(|n| !n.is_empty())
        .collect()
}

/// The iXML timecode rate (`TIMECODE_RATE` "30000/1001", with `TIMECODE_FLAG` "DF"/"NDF").
pub fn ixml_frame_rate(xml: &str) -> Option<FrameRate> {
    let rate = *elements(xml, "TIMECODE_RATE").first()?;
    let (num, den) = rate.trim().split_once('/').unwrap_or((rate.trim(), "1"));
    let num: u32 = num.trim().parse().ok()?;
    let den: u32 = den.trim().parse().ok()?;
    if num == 0 || den == 0 {
        return None;
    }
    let drop_frame = elements(xml, "TIMECODE_FLAG")
        .first()
        .is_some_and(|f| f.trim().eq_ignore_ascii_case("DF"));
    Some(FrameRate {
        num,
        den,
        drop_frame,
    })
}

/// `samples` since midnight at `rate_hz` as timecode at `rate`: `HH:MM:SS:FF` (`HH:MM:SS;FF`
/// drop-frame), the frame the sample falls in (rounded down), hours past 24 wrapped.
pub fn timecode(samples: u64, rate_hz: u32, rate: FrameRate) -> String {
    let fps = rate.nominal_fps().max(1);
    let mut frames = (u128::from(samples) * u128::from(rate.num)
        / (u128::from(rate.den.max(1)) * u128::from(rate_hz.max(1)))) as u64;
    // Drop-frame: frame numbers 0 and 1 (0-3 at 59.94) are skipped at the start of every
    // minute except each tenth; counting them back in turns the frame count into the label.
    let drop_frame = rate.drop_frame && fps.is_multiple_of(30);
    if drop_frame {
        let dropped = fps / 15;
        let per_ten_minutes = fps * 600 - dropped * 9;
        let per_minute = fps * 60 - dropped;
        let tens = frames / per_ten_minutes;
        let rest = frames % per_ten_minutes;
        frames += dropped * 9 * tens;
        if rest > dropped {
            frames += dropped * ((rest - dropped) / per_minute);
        }
    }
    let ff = frames % fps;
    let seconds = frames / fps;
    format!(
        "{:02}:{:02}:{:02}{}{:02}",
        (seconds / 3600) % 24,
        (seconds / 60) % 60,
        seconds % 60,
        if drop_frame { ';' } else { ':' },
        ff
    )
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A stereo 16-bit 48 kHz WAV of `frames` silent frames with a `bext` chunk stamped
    /// `time_reference` and an iXML chunk holding `ixml`.
    fn bwf(frames: u32, time_reference: u64, ixml: &str) -> Vec<u8> {
        let mut bext = vec![0u8; 602];
        bext[TIME_REFERENCE_OFFSET..TIME_REFERENCE_OFFSET + 8]
            .copy_from_slice(&time_reference.to_le_bytes());
        let mut chunks = Vec::new();
        let mut push = |id: &[u8], body: &[u8]| {
            chunks.extend_from_slice(id);
            chunks.extend_from_slice(&(body.len() as u32).to_le_bytes());
            chunks.extend_from_slice(body);
            if body.len() % 2 == 1 {
                chunks.push(0);
            }
        };
        let mut fmt = Vec::new();
        fmt.extend_from_slice(&1u16.to_le_bytes());
        fmt.extend_from_slice(&2u16.to_le_bytes());
        fmt.extend_from_slice(&48_000u32.to_le_bytes());
        fmt.extend_from_slice(&(48_000u32 * 4).to_le_bytes());
        fmt.extend_from_slice(&4u16.to_le_bytes());
        fmt.extend_from_slice(&16u16.to_le_bytes());
        push(b"fmt ", &fmt);
        push(b"bext", &bext);
        push(b"iXML", ixml.as_bytes());
        push(b"data", &vec![0u8; frames as usize * 4]);
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&(4 + chunks.len() as u32).to_le_bytes());
        out.extend_from_slice(b"WAVE");
        out.extend_from_slice(&chunks);
        out
    }

    #[test]
    fn the_time_reference_and_ixml_are_read() {
        let xml = "<?xml version=\"1.0\"?><BWFXML><SPEED><TIMECODE_RATE>30000/1001</TIMECODE_RATE><TIMECODE_FLAG>DF</TIMECODE_FLAG></SPEED><TRACK_LIST><TRACK_COUNT>2</TRACK_COUNT><TRACK><CHANNEL_INDEX>1</CHANNEL_INDEX><NAME>BASS DI</NAME></TRACK><TRACK><NAME>Amp &amp; Cab</NAME></TRACK></TRACK_LIST></BWFXML>";
        // Above 2^32: the high word counts.
        let reference = 5_000_000_000u64;
        let bytes = bwf(10, reference, xml);
        let info = parse(&mut Cursor::new(&bytes), bytes.len() as u64).unwrap();
        assert_eq!(info.time_reference_samples, Some(reference));
        assert_eq!(info.sample_rate_hz, Some(48_000));
        assert_eq!(info.track_names, ["BASS DI", "Amp & Cab"]);
        assert_eq!(
            info.frame_rate,
            Some(FrameRate {
                num: 30000,
                den: 1001,
                drop_frame: true
            })
        );
    }

    #[test]
    fn a_plain_wav_has_no_time_reference() {
        let mut bytes = bwf(10, 0, "");
        // Rename the bext chunk: then it is an unknown chunk.
        let at = bytes.windows(4).position(|w| w == b"bext").unwrap();
        bytes[at..at + 4].copy_from_slice(b"junk");
        let info = parse(&mut Cursor::new(&bytes), bytes.len() as u64).unwrap();
        assert_eq!(info.time_reference_samples, None);
        assert!(info.track_names.is_empty());
        assert_eq!(
            parse(&mut Cursor::new(b"fLaC"), 4).unwrap(),
            BwfInfo::default()
        );
    }

    #[test]
    fn timecode_reads_as_a_post_tool_shows_it() {
        let ndf = |num, den| FrameRate {
            num,
            den,
            drop_frame: false,
        };
        // 01:00:00:00 at 48 kHz is 3600 * 48,000 = 172,800,000 samples.
        assert_eq!(timecode(172_800_000, 48_000, ndf(24, 1)), "01:00:00:00");
        // Two seconds and 12 frames of 25 later: 2.48 s = 119,040 samples.
        assert_eq!(
            timecode(172_800_000 + 119_040, 48_000, ndf(25, 1)),
            "01:00:02:12"
        );
        // One frame short of a second at 24 fps: 23 frames (2000 samples each).
        assert_eq!(timecode(47_999, 48_000, ndf(24, 1)), "00:00:00:23");
        // Drop-frame 29.97: frame 1800 (the first of minute 1) is labelled 00:01:00;02.
        let df = FrameRate {
            num: 30000,
            den: 1001,
            drop_frame: true,
        };
        let samples_of_frame = |f: u64| (f * 1001 * 48_000).div_ceil(30_000);
        assert_eq!(timecode(samples_of_frame(1799), 48_000, df), "00:00:59;29");
        assert_eq!(timecode(samples_of_frame(1800), 48_000, df), "00:01:00;02");
        // Ten minutes are 17,982 frames: 00:10:00;00, nothing dropped at the tenth minute.
        assert_eq!(
            timecode(samples_of_frame(17_982), 48_000, df),
            "00:10:00;00"
        );
        assert_eq!(df.describe(), "29.97 fps drop-frame");
        assert_eq!(FrameRate::DEFAULT.describe(), "24 fps");
    }
}
