//! Writing test material as real WAV files (hound), for the file checker's tests and benchmark.

use std::path::Path;

use crate::Stereo;

/// Sample formats a test file can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WavFormat {
    /// 16-bit integer (rounded, no dither).
    Int16,
    /// 24-bit integer.
    Int24,
    /// 32-bit float, written as is.
    Float32,
}

/// Writes `audio` as a stereo WAV file. Integer formats are rounded and clipped to full scale.
pub fn write_wav(
    path: &Path,
    audio: &Stereo,
    sample_rate_hz: u32,
    format: WavFormat,
) -> hound::Result<()> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: sample_rate_hz,
        bits_per_sample: match format {
            WavFormat::Int16 => 16,
            WavFormat::Int24 => 24,
            WavFormat::Float32 => 32,
        },
        sample_format: match format {
            WavFormat::Float32 => hound::SampleFormat::Float,
            _ => hound::SampleFormat::Int,
        },
    };
    let mut writer = hound::WavWriter::create(path, spec)?;
    for (&l, &r) in audio[0].iter().zip(&audio[1]) {
        for x in [l, r] {
            match format {
                WavFormat::Float32 => writer.write_sample(x)?,
                WavFormat::Int24 => {
                    writer.write_sample((x.clamp(-1.0, 1.0) * 8_388_607.0).round() as i32)?
                }
                WavFormat::Int16 => {
                    writer.write_sample((x.clamp(-1.0, 1.0) * 32_767.0).round() as i16)?
                }
            }
        }
    }
    writer.finalize()
}
