//! Structural checks of RIFF/WAVE files before decoding: the chunk sizes must agree with the
//! file, the format chunk must describe real audio, and there must be audio. A decoder reads a
//! truncated or lying file as far as it goes and says nothing (a stem cut in half would pass as
//! a short stem), and some malformed headers make it panic; a delivery check must name the
//! broken file instead.
//!
//! Only the chunk headers are read (a few seeks), never the audio.

use std::io::{Read, Seek, SeekFrom};

/// Largest sample rate a WAV file may declare, in Hz.
const MAX_SAMPLE_RATE_HZ: u32 = 1_536_000;
/// Most chunks walked before the file is taken for garbage.
const MAX_CHUNKS: usize = 10_000;

/// What is wrong with a RIFF/WAVE file, as the rest of a sentence that starts with its name.
pub type Problem = String;

/// The container a file's first bytes announce, by the extension that names it.
fn container_of(header: &[u8]) -> Option<&'static str> {
    match header {
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'A',
            b'V',
            b'E',
            ..,
        ] => Some("WAV"),
        [b'R', b'F', b'6', b'4', ..] | [b'B', b'W', b'6', b'4', ..] => Some("WAV"),
        [b'F', b'O', b'R', b'M', _, _, _, _, b'A', b'I', b'F', _, ..] => Some("AIFF"),
        [b'f', b'L', b'a', b'C', ..] => Some("FLAC"),
        _ => None,
    }
}

/// A file whose content is one audio container but whose extension names another (a WAV file
/// saved as `.flac`) is refused: the tools downstream go by the extension.
pub fn check_extension(header: &[u8], extension: &str) -> Result<(), Problem> {
    let named = match extension.to_ascii_lowercase().as_str() {
        "wav" | "wave" => "WAV",
        "aif" | "aiff" | "aifc" => "AIFF",
        "flac" => "FLAC",
        _ => return Ok(()),
    };
    match container_of(header) {
        Some(actual) if actual != named => Err(format!(
            "is a {actual} file named .{extension}: rename it or export it again"
        )),
        _ => Ok(()),
    }
}

/// Where a RIFF/WAVE file's audio is, as its chunks say (checked to lie within the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataChunk {
    /// The first byte of the audio, from the start of the file.
    pub start: u64,
    /// The data chunk's length, in bytes.
    pub bytes: u64,
    /// Bytes per frame, as the format chunk declares.
    pub block_align: u16,
}

/// Checks `file` (of `file_len` bytes) if it is a RIFF/WAVE file, and says where its audio is;
/// other files pass untouched (`None`).
pub fn check(file: &mut (impl Read + Seek), file_len: u64) -> Result<Option<DataChunk>, Problem> {
    let mut header = [0u8; 12];
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    if file_len < 12 {
        return Ok(None); // Too short to be RIFF: the decoder's probe says what it is not.
    }
    file.read_exact(&mut header).map_err(io)?;
    if &header[0..4] != b"RIFF" || &header[8..12] != b"WAVE" {
        return Ok(None);
    }
    let riff_end = 8 + u64::from(u32_at(&header, 4));
    if riff_end > file_len {
        return Err(format!(
            "is truncated: its RIFF header declares {} bytes, the file holds {file_len}",
            riff_end
        ));
    }

    let mut pos = 12u64;
    let mut format: Option<u16> = None;
    let mut data: Option<DataChunk> = None;
    for _ in 0..MAX_CHUNKS {
        if pos + 8 > riff_end {
            break;
        }
        let mut chunk = [0u8; 8];
        file.seek(SeekFrom::Start(pos)).map_err(io)?;
        file.read_exact(&mut chunk).map_err(io)?;
        let id = &chunk[0..4];
        let size = u64::from(u32_at(&chunk, 4));
        let body = pos + 8;
        if body + size > riff_end {
            return Err(format!(
                "is truncated or corrupt: its '{}' chunk declares {size} bytes, only {} remain",
                printable(id),
                riff_end - body
            ));
        }
        match id {
            b"fmt " => {
                if size < 16 {
                    return Err(format!("has a format chunk of only {size} bytes"));
                }
                let mut fmt = [0u8; 16];
                file.read_exact(&mut fmt).map_err(io)?;
                let tag = u16::from_le_bytes([fmt[0], fmt[1]]);
                let channels = u16::from_le_bytes([fmt[2], fmt[3]]);
                let rate_hz = u32_at(&fmt, 4);
                let byte_rate = u32_at(&fmt, 8);
                let block_align = u16::from_le_bytes([fmt[12], fmt[13]]);
                let bits = u16::from_le_bytes([fmt[14], fmt[15]]);
                if channels == 0 {
                    return Err("declares 0 channels".into());
                }
                if rate_hz == 0 || rate_hz > MAX_SAMPLE_RATE_HZ {
                    return Err(format!("declares a sample rate of {rate_hz} Hz"));
                }
                // PCM, IEEE float and extensible: the sizes follow from channels, bits and
                // rate. A field that disagrees means a damaged header, whichever it is.
                if matches!(tag, 1 | 3 | 0xFFFE) {
                    let expected_align = u32::from(channels) * u32::from(bits).div_ceil(8);
                    if bits == 0 || u32::from(block_align) != expected_align {
                        return Err(format!(
                            "has an inconsistent format chunk ({channels} channels of {bits} \
                             bits, but {block_align} bytes per frame)"
                        ));
                    }
                    if u64::from(byte_rate) != u64::from(rate_hz) * u64::from(block_align) {
                        return Err(format!(
                            "has an inconsistent format chunk ({rate_hz} Hz at {block_align} \
                             bytes per frame, but {byte_rate} bytes per second)"
                        ));
                    }
                }
                format = Some(block_align);
            }
            b"data" => {
                data = Some(DataChunk {
                    start: body,
                    bytes: size,
                    block_align: format.unwrap_or(0),
                });
                break;
            }
            _ => {}
        }
        // Chunks are padded to an even size.
        pos = body + size + (size & 1);
    }
    if format.is_none() {
        return Err("has no format chunk before its audio".into());
    }
    match data {
        None => Err("has no audio (no data chunk)".into()),
        Some(DataChunk { bytes: 0, .. }) => Err("has no audio (its data chunk is empty)".into()),
        Some(data) => Ok(Some(data)),
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn printable(id: &[u8]) -> String {
    id.iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}

fn io(e: std::io::Error) -> Problem {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        "is truncated".into()
    } else {
        format!("cannot be read ({e})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn wav(frames: u32) -> Vec<u8> {
        let data_len = frames * 4;
        let mut v = b"RIFF".to_vec();
        v.extend_from_slice(&(36 + data_len).to_le_bytes());
        v.extend_from_slice(b"WAVEfmt ");
        v.extend_from_slice(&16u32.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes()); // PCM
        v.extend_from_slice(&2u16.to_le_bytes()); // channels
        v.extend_from_slice(&48_000u32.to_le_bytes());
        v.extend_from_slice(&(48_000u32 * 4).to_le_bytes());
        v.extend_from_slice(&4u16.to_le_bytes());
        v.extend_from_slice(&16u16.to_le_bytes());
        v.extend_from_slice(b"data");
        v.extend_from_slice(&data_len.to_le_bytes());
        v.resize(v.len() + data_len as usize, 0);
        v
    }

    fn run(bytes: &[u8]) -> Result<(), Problem> {
        check(&mut Cursor::new(bytes), bytes.len() as u64).map(|_| ())
    }

    #[test]
    fn a_well_formed_file_passes_and_non_riff_files_are_left_alone() {
        let file = wav(100);
        // The audio follows the 12-byte RIFF header, the format chunk (8 + 16) and the data
        // chunk's header (8): byte 44, 400 bytes of 4-byte frames.
        assert_eq!(
            check(&mut Cursor::new(&file), file.len() as u64),
            Ok(Some(DataChunk {
                start: 44,
                bytes: 400,
                block_align: 4
            }))
        );
        assert_eq!(run(b"fLaC and the rest"), Ok(()));
        assert_eq!(check(&mut Cursor::new(b"fLaC and the rest"), 17), Ok(None));
    }

    #[test]
    fn a_container_under_another_containers_extension_is_named() {
        let wav = wav(4);
        assert_eq!(check_extension(&wav, "wav"), Ok(()));
        assert!(
            check_extension(&wav, "flac")
                .unwrap_err()
                .contains("WAV file named .flac")
        );
        assert!(
            check_extension(b"fLaC\0\0\0\x22", "WAV")
                .unwrap_err()
                .contains("FLAC")
        );
        // Unknown content is left to the decoder's probe.
        assert_eq!(check_extension(b"garbage", "wav"), Ok(()));
    }

    #[test]
    fn truncation_and_lying_sizes_are_named() {
        let good = wav(100);
        let cut = &good[..good.len() - 10];
        assert!(run(cut).unwrap_err().contains("RIFF header declares"));
        let mut lying = good.clone();
        lying[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(run(&lying).unwrap_err().contains("'data' chunk declares"));
    }

    #[test]
    fn impossible_formats_and_missing_audio_are_named() {
        let mut zero_rate = wav(10);
        zero_rate[24..28].copy_from_slice(&0u32.to_le_bytes());
        assert!(run(&zero_rate).unwrap_err().contains("0 Hz"));
        let mut zero_channels = wav(10);
        zero_channels[22..24].copy_from_slice(&0u16.to_le_bytes());
        assert!(run(&zero_channels).unwrap_err().contains("0 channels"));
        let mut bad_align = wav(10);
        bad_align[32..34].copy_from_slice(&3u16.to_le_bytes());
        assert!(run(&bad_align).unwrap_err().contains("3 bytes per frame"));
        let mut bad_rate = wav(10);
        bad_rate[24..28].copy_from_slice(&44_100u32.to_le_bytes());
        assert!(run(&bad_rate).unwrap_err().contains("bytes per second"));
        assert!(run(&wav(0)).unwrap_err().contains("no audio"));
    }
}
