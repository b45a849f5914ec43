//! The fast path for the usual delivery file: a WAV file of 16-, 24- or 32-bit integer or 32-
//! or 64-bit float samples is read straight from its data chunk in large pieces and converted
//! plane by plane, several times faster than Symphonia's packet decoder (which reads a packet of
//! 1152 frames into a fresh buffer, then every sample through a byte reader). The samples are
//! the decoder's to the bit: each conversion is Symphonia's own (`symphonia_core::conv`), and
//! the frames are the data chunk's complete frames, as its WAV reader counts them (test below).
//! Any other file (AIFF, FLAC, 8-bit, a coded width other than the container's) goes through
//! Symphonia.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use symphonia::core::codecs::{
    CODEC_TYPE_PCM_F32LE, CODEC_TYPE_PCM_F64LE, CODEC_TYPE_PCM_S16LE, CODEC_TYPE_PCM_S24LE,
    CODEC_TYPE_PCM_S32LE, CodecParameters,
};

use crate::riff::DataChunk;

/// Frames read and converted per piece (48 KB of 24-bit stereo).
const PIECE_FRAMES: usize = 8192;

/// How the samples are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    S16,
    S24,
    S32,
    F32,
    F64,
}

impl Encoding {
    /// Bytes per sample.
    fn width(self) -> usize {
        match self {
            Encoding::S16 => 2,
            Encoding::S24 => 3,
            Encoding::S32 | Encoding::F32 => 4,
            Encoding::F64 => 8,
        }
    }
}

/// A WAV file's data chunk, read in pieces.
pub(crate) struct RawPcm {
    file: File,
    encoding: Encoding,
    channels: usize,
    /// Bytes per frame.
    block_align: usize,
    /// Complete frames not read yet.
    frames_left: u64,
    /// The piece being converted.
    bytes: Vec<u8>,
}

impl RawPcm {
    /// The fast path for a file whose audio is at `data` and which Symphonia would decode with
    /// `params`, when it is one of the formats read here; `None` otherwise.
    pub(crate) fn open(
        file: File,
        data: DataChunk,
        params: &CodecParameters,
        channels: usize,
    ) -> Option<Self> {
        let encoding = match params.codec {
            c if c == CODEC_TYPE_PCM_S16LE => Encoding::S16,
            c if c == CODEC_TYPE_PCM_S24LE => Encoding::S24,
            c if c == CODEC_TYPE_PCM_S32LE => Encoding::S32,
            c if c == CODEC_TYPE_PCM_F32LE => Encoding::F32,
            c if c == CODEC_TYPE_PCM_F64LE => Encoding::F64,
            _ => return None,
        };
        let bits = encoding.width() as u32 * 8;
        // Symphonia shifts integer samples by the container's width less the coded width (the
        // valid bits of an extensible file): only whole containers are read here. Floats are
        // never shifted.
        let coded = params.bits_per_coded_sample.or(params.bits_per_sample);
        let float = matches!(encoding, Encoding::F32 | Encoding::F64);
        if !(coded == Some(bits) || (float && coded.is_none_or(|c| c == bits))) {
            return None;
        }
        let block_align = usize::from(data.block_align);
        if channels == 0 || block_align != channels * encoding.width() {
            return None;
        }
        let mut file = file;
        file.seek(SeekFrom::Start(data.start)).ok()?;
        Some(Self {
            file,
            encoding,
            channels,
            block_align,
            frames_left: data.bytes / block_align as u64,
            bytes: Vec::new(),
        })
    }

    /// Reads the next piece into `planes` (one per channel of the file; only those `wanted`
    /// says are filled, the others are left empty). Returns false at the end of the audio.
    pub(crate) fn next(
        &mut self,
        planes: &mut [Vec<f32>],
        wanted: impl Fn(usize) -> bool,
    ) -> std::io::Result<bool> {
        let frames = self.frames_left.min(PIECE_FRAMES as u64) as usize;
        if frames == 0 {
            return Ok(false);
        }
        self.bytes.resize(frames * self.block_align, 0);
        self.file.read_exact(&mut self.bytes)?;
        self.frames_left -= frames as u64;
        for (c, plane) in planes.iter_mut().enumerate() {
            plane.clear();
            if c >= self.channels || !wanted(c) {
                continue;
            }
            let (bytes, channels) = (&self.bytes[..], self.channels);
            // Symphonia's conversions (`symphonia_core::conv`), sample for sample.
            match self.encoding {
                Encoding::S16 => convert(bytes, channels, c, plane, |b: [u8; 2]| {
                    f32::from(i16::from_le_bytes(b)) / 32_768.0
                }),
                Encoding::S24 => convert(bytes, channels, c, plane, |[a, b, c]: [u8; 3]| {
                    (i32::from_le_bytes([0, a, b, c]) >> 8) as f32 / 8_388_608.0
                }),
                Encoding::S32 => convert(bytes, channels, c, plane, |b: [u8; 4]| {
                    (f64::from(i32::from_le_bytes(b)) / 2_147_483_648.0) as f32
                }),
                Encoding::F32 => convert(bytes, channels, c, plane, f32::from_le_bytes),
                Encoding::F64 => convert(bytes, channels, c, plane, |b: [u8; 8]| {
                    f64::from_le_bytes(b) as f32
                }),
            }
        }
        Ok(true)
    }
}

/// Channel `channel` of `channels` interleaved samples of `W` bytes each in `bytes`, converted
/// by `sample` into `plane`.
fn convert<const W: usize>(
    bytes: &[u8],
    channels: usize,
    channel: usize,
    plane: &mut Vec<f32>,
    sample: impl Fn([u8; W]) -> f32,
) {
    let (samples, _) = bytes.as_chunks::<W>();
    if channels == 2 {
        // The usual stereo file: pairs of samples, the wanted one by a constant index.
        let (pairs, _) = samples.as_chunks::<2>();
        plane.extend(pairs.iter().map(|pair| sample(pair[channel & 1])));
    } else if channels == 1 {
        plane.extend(samples.iter().map(|&b| sample(b)));
    } else {
        plane.extend(
            samples[channel..]
                .iter()
                .step_by(channels)
                .map(|&b| sample(b)),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::decode::AudioReader;

    /// A WAV file: format `tag` (1 PCM, 3 float, 0xFFFE extensible with `valid_bits` and the
    /// sub-format `sub_tag`), `channels` of `bits`, `frames` frames of seeded bytes (full
    /// scale, both signs), plus `odd_bytes` of a partial frame and a LIST chunk after the
    /// audio.
    #[allow(clippy::too_many_arguments)]
    fn wav(
        tag: u16,
        sub_tag: u16,
        valid_bits: u16,
        channels: u16,
        bits: u16,
        frames: usize,
        odd_bytes: usize,
        seed: u64,
    ) -> Vec<u8> {
        let block_align = channels * bits / 8;
        let mut state = seed;
        let mut data: Vec<u8> = (0..frames * usize::from(block_align) + odd_bytes)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 56) as u8
            })
            .collect();
        if tag == 3 || sub_tag == 3 {
            // Floats in [-1, 1): random bytes would be NaN or huge now and then.
            let width = usize::from(bits / 8);
            for (i, sample) in data.chunks_exact_mut(width).enumerate() {
                let x = ((i * 7919) % 2001) as f64 / 1000.0 - 1.0;
                if width == 4 {
                    sample.copy_from_slice(&(x as f32).to_le_bytes());
                } else {
                    sample.copy_from_slice(&x.to_le_bytes());
                }
            }
        }
        let mut fmt = Vec::new();
        fmt.extend_from_slice(&tag.to_le_bytes());
        fmt.extend_from_slice(&channels.to_le_bytes());
        fmt.extend_from_slice(&48_000u32.to_le_bytes());
        fmt.extend_from_slice(&(48_000 * u32::from(block_align)).to_le_bytes());
        fmt.extend_from_slice(&block_align.to_le_bytes());
        fmt.extend_from_slice(&bits.to_le_bytes());
        if tag == 0xFFFE {
            fmt.extend_from_slice(&22u16.to_le_bytes());
            fmt.extend_from_slice(&valid_bits.to_le_bytes());
            let mask: u32 = (1 << channels) - 1;
            fmt.extend_from_slice(&mask.to_le_bytes());
            fmt.extend_from_slice(&sub_tag.to_le_bytes());
            fmt.extend_from_slice(&[
                0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
            ]);
        }
        let mut body = b"WAVE".to_vec();
        for (id, chunk) in [(b"fmt ", &fmt), (b"data", &data)] {
            body.extend_from_slice(id);
            body.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
            body.extend_from_slice(chunk);
            if chunk.len() % 2 == 1 {
                body.push(0);
            }
        }
        body.extend_from_slice(b"LIST");
        body.extend_from_slice(&4u32.to_le_bytes());
        body.extend_from_slice(b"INFO");
        let mut file = b"RIFF".to_vec();
        file.extend_from_slice(&(body.len() as u32).to_le_bytes());
        file.extend_from_slice(&body);
        file
    }

    /// Every frame `reader` hands out, in blocks of varying size.
    fn read_all(mut reader: AudioReader) -> [Vec<f32>; 2] {
        let mut all = [Vec::new(), Vec::new()];
        let mut block = [Vec::new(), Vec::new()];
        for size in [1usize, 1000, 8192, 5, 20_000].iter().cycle() {
            if reader.read(&mut block, *size).unwrap() == 0 {
                return all;
            }
            all[0].extend_from_slice(&block[0]);
            all[1].extend_from_slice(&block[1]);
        }
        unreachable!()
    }

    #[test]
    fn the_fast_path_hands_out_the_decoders_samples_to_the_bit() {
        let dir = tempfile::tempdir().unwrap();
        // (tag, sub-format, valid bits, channels, bits, fast path expected)
        let cases = [
            (1, 0, 0, 2, 16, true),
            (1, 0, 0, 1, 16, true),
            (1, 0, 0, 2, 24, true),
            (1, 0, 0, 6, 24, true),
            (1, 0, 0, 2, 32, true),
            (3, 0, 0, 2, 32, true),
            (3, 0, 0, 1, 64, true),
            (0xFFFE, 1, 24, 2, 24, true),
            (0xFFFE, 3, 32, 2, 32, true),
            // 20 valid bits in 24: Symphonia reads the whole container (its coded width is
            // 24), and so does the fast path.
            (0xFFFE, 1, 20, 2, 24, true),
            // 8-bit is unsigned: left to Symphonia.
            (1, 0, 0, 2, 8, false),
        ];
        for (n, &(tag, sub_tag, valid_bits, channels, bits, fast)) in cases.iter().enumerate() {
            for (frames, odd_bytes) in [(20_011, 0), (8192, 1), (3, 0)] {
                let path = dir.path().join(format!("{n}-{frames}.wav"));
                let bytes = wav(
                    tag, sub_tag, valid_bits, channels, bits, frames, odd_bytes, n as u64,
                );
                std::fs::write(&path, bytes).unwrap();
                let what = format!("tag {tag:#x}/{sub_tag}, {channels} x {bits} bits, {frames}");
                for selected in [None, Some(usize::from(channels) - 1)] {
                    let open = |fast_allowed: bool| {
                        let mut reader = if fast_allowed {
                            AudioReader::open(&path).unwrap()
                        } else {
                            AudioReader::open_decoder_only(&path).unwrap()
                        };
                        if let Some(c) = selected {
                            reader.select_channel(c).unwrap();
                        }
                        reader
                    };
                    let reader = open(true);
                    assert_eq!(reader.is_fast(), fast, "{what}");
                    let got = read_all(reader);
                    let expected = read_all(open(false));
                    assert_eq!(got[0].len(), frames, "{what}");
                    // Bit for bit (NaN-free material: plain equality is bit equality here).
                    assert_eq!(got, expected, "{what}, channel {selected:?}");
                }
            }
        }
    }
}
