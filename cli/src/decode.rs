//! Reading audio files: probing their format, and streaming their samples in blocks (memory stays
//! bounded whatever the file's length). Every error names the file.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use symphonia::core::audio::{AudioBuffer, AudioBufferRef, Signal};
use symphonia::core::codecs::{CODEC_TYPE_NULL, Decoder, DecoderOptions};
use symphonia::core::conv::FromSample;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use crate::raw_pcm::RawPcm;
use symphonia::core::sample::Sample;

/// A file that cannot be used, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The file (or folder) that cannot be used.
    pub path: PathBuf,
    /// Why, as a phrase that follows the path ("is empty (0 bytes)").
    pub message: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for InputError {}

fn decoder_failed(path: &Path) -> InputError {
    input_error(
        path,
        "cannot be decoded: the decoder failed on its malformed data",
    )
}

fn input_error(path: &Path, message: impl Into<String>) -> InputError {
    InputError {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// What a file is.
#[derive(Debug, Clone, PartialEq)]
pub struct Format {
    /// Sample rate, in Hz.
    pub sample_rate_hz: u32,
    /// Number of channels (1 to 8).
    pub channels: u32,
    /// Which speaker each channel feeds.
    pub layout: crate::layout::Layout,
    /// Bit depth of the stored samples, in bits.
    pub bits_per_sample: u32,
    /// "int" or "float".
    pub sample_format: &'static str,
    /// Frames, as the header declares (may be absent or lie; the decode is the truth).
    pub declared_frames: Option<u64>,
}

/// A file opened for streaming.
pub struct AudioReader {
    /// The file being read.
    pub path: PathBuf,
    /// Its format, as probed on opening.
    pub format: Format,
    reader: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    /// The fast path for the usual WAV file (see `raw_pcm`); `None`: Symphonia decodes.
    raw: Option<RawPcm>,
    /// Decoded but not yet handed out, planar: one plane per channel of the file.
    pending: Vec<Vec<f32>>,
    /// The one channel handed out (as a mono signal), or `None` for the file's first two (a
    /// mono file fills both).
    selected: Option<usize>,
    pending_start: usize,
    finished: bool,
    /// Frames handed out so far.
    pub frames_read: u64,
}

/// The longest a file may claim to be before it is taken for garbage (24 hours at 192 kHz).
const MAX_DECLARED_FRAMES: u64 = 24 * 3600 * 192_000;

impl AudioReader {
    /// Opens and probes `path`.
    pub fn open(path: &Path) -> Result<Self, InputError> {
        // A decoder bug on a malformed file must end in an error naming the file, not a crash.
        catch_unwind(AssertUnwindSafe(|| Self::open_unguarded(path, true)))
            .unwrap_or_else(|_| Err(decoder_failed(path)))
    }

    /// [`Self::open`] with every sample decoded by Symphonia (the fast path's reference).
    #[cfg(test)]
    pub(crate) fn open_decoder_only(path: &Path) -> Result<Self, InputError> {
        Self::open_unguarded(path, false)
    }

    /// Whether the samples are read by the fast path.
    #[cfg(test)]
    pub(crate) fn is_fast(&self) -> bool {
        self.raw.is_some()
    }

    /// [`Self::open`], `fast`: whether a WAV file's samples may be read by the fast path.
    fn open_unguarded(path: &Path, fast: bool) -> Result<Self, InputError> {
        let meta = std::fs::metadata(path).map_err(|e| input_error(path, describe_io(&e)))?;
        if meta.is_dir() {
            return Err(input_error(path, "is a folder, not an audio file"));
        }
        if meta.len() == 0 {
            return Err(input_error(path, "is empty (0 bytes)"));
        }
        let mut file = File::open(path).map_err(|e| input_error(path, describe_io(&e)))?;
        let mut header = [0u8; 12];
        let header_len = (&mut file)
            .take(12)
            .read(&mut header)
            .map_err(|e| input_error(path, describe_io(&e)))?;
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            crate::riff::check_extension(&header[..header_len], ext)
                .map_err(|problem| input_error(path, problem))?;
        }
        let data = crate::riff::check(&mut file, meta.len())
            .map_err(|problem| input_error(path, problem))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| input_error(path, describe_io(&e)))?;
        let stream = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let probed = symphonia::default::get_probe()
            .format(
                &hint,
                stream,
                &FormatOptions::default(),
                &MetadataOptions::default(),
            )
            .map_err(|e| {
                input_error(
                    path,
                    format!("not a readable audio file ({})", describe(&e)),
                )
            })?;
        let reader = probed.format;
        let track = reader
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| input_error(path, "has no audio track"))?;
        let params = track.codec_params.clone();
        let sample_rate_hz = params
            .sample_rate
            .filter(|&r| (1..=1_536_000).contains(&r))
            .ok_or_else(|| input_error(path, "has no valid sample rate"))?;
        let channels = params
            .channels
            .map(|c| c.count() as u32)
            .filter(|&c| c > 0)
            .ok_or_else(|| input_error(path, "has no channels"))?;
        let layout =
            crate::layout::Layout::of_file(path, channels).map_err(|m| input_error(path, m))?;
        let codec = params.codec;
        let float = codec == symphonia::core::codecs::CODEC_TYPE_PCM_F32LE
            || codec == symphonia::core::codecs::CODEC_TYPE_PCM_F32BE
            || codec == symphonia::core::codecs::CODEC_TYPE_PCM_F64LE
            || codec == symphonia::core::codecs::CODEC_TYPE_PCM_F64BE;
        let double = codec == symphonia::core::codecs::CODEC_TYPE_PCM_F64LE
            || codec == symphonia::core::codecs::CODEC_TYPE_PCM_F64BE;
        let bits_per_sample = params
            .bits_per_sample
            .or(params.bits_per_coded_sample)
            .unwrap_or(if double {
                64
            } else if float {
                32
            } else {
                16
            });
        let declared_frames = params.n_frames.filter(|&n| n <= MAX_DECLARED_FRAMES);
        let decoder = symphonia::default::get_codecs()
            .make(&params, &DecoderOptions::default())
            .map_err(|e| {
                input_error(path, format!("unsupported audio format ({})", describe(&e)))
            })?;
        let raw = data.filter(|_| fast).and_then(|data| {
            RawPcm::open(File::open(path).ok()?, data, &params, channels as usize)
        });
        Ok(Self {
            path: path.to_path_buf(),
            format: Format {
                sample_rate_hz,
                channels,
                layout,
                bits_per_sample,
                sample_format: if float { "float" } else { "int" },
                declared_frames,
            },
            track_id: track.id,
            reader,
            decoder,
            raw,
            pending: vec![Vec::new(); channels as usize],
            selected: None,
            pending_start: 0,
            finished: false,
            frames_read: 0,
        })
    }

    /// Hands out only channel `channel` (0-based, in the file's order), as a mono signal: the
    /// checker compares a multichannel delivery one channel at a time. Out of range: an error.
    pub fn select_channel(&mut self, channel: usize) -> Result<(), InputError> {
        if channel >= self.pending.len() {
            return Err(input_error(
                &self.path,
                format!(
                    "has no channel {} (it has {})",
                    channel + 1,
                    self.pending.len()
                ),
            ));
        }
        self.selected = Some(channel);
        Ok(())
    }

    /// The channel handed out alone, if one was selected.
    pub fn selected(&self) -> Option<usize> {
        self.selected
    }

    /// Channels handed out as the analysis takes them: 1 for a mono file or a selected channel,
    /// else 2.
    pub fn analysed_channels(&self) -> u32 {
        if self.selected.is_some() {
            1
        } else {
            self.format.channels.min(2)
        }
    }

    /// Reads up to `max_frames` into `out` (left, right; a mono file, or the selected channel,
    /// fills both). Returns the frames read: fewer than asked only at the end of the file.
    pub fn read(
        &mut self,
        out: &mut [Vec<f32>; 2],
        max_frames: usize,
    ) -> Result<usize, InputError> {
        out[0].clear();
        out[1].clear();
        let (left, right) = self.planes_handed_out();
        while out[0].len() < max_frames {
            let available = self.pending[left].len() - self.pending_start;
            if available > 0 {
                let take = available.min(max_frames - out[0].len());
                let range = self.pending_start..self.pending_start + take;
                out[0].extend_from_slice(&self.pending[left][range.clone()]);
                out[1].extend_from_slice(&self.pending[right][range]);
                self.pending_start += take;
                continue;
            }
            if self.finished || !self.decode_next_guarded()? {
                self.finished = true;
                break;
            }
        }
        self.frames_read += out[0].len() as u64;
        Ok(out[0].len())
    }

    /// The planes handed out as left and right.
    fn planes_handed_out(&self) -> (usize, usize) {
        match self.selected {
            Some(c) => (c, c),
            None => (0, if self.pending.len() > 1 { 1 } else { 0 }),
        }
    }

    /// [`Self::decode_next`], with a decoder panic turned into an error naming the file.
    fn decode_next_guarded(&mut self) -> Result<bool, InputError> {
        catch_unwind(AssertUnwindSafe(|| self.decode_next()))
            .unwrap_or_else(|_| Err(decoder_failed(&self.path)))
    }

    /// Decodes the next packet into `pending`. Returns false at the end of the stream.
    fn decode_next(&mut self) -> Result<bool, InputError> {
        let (left, right) = self.planes_handed_out();
        if let Some(raw) = &mut self.raw {
            return match raw.next(&mut self.pending, |c| c == left || c == right) {
                Ok(more) => {
                    if more {
                        self.pending_start = 0;
                    }
                    Ok(more)
                }
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
                Err(e) => Err(input_error(
                    &self.path,
                    format!("is corrupt ({})", describe_io(&e)),
                )),
            };
        }
        loop {
            let packet = match self.reader.next_packet() {
                Ok(packet) => packet,
                Err(SymphoniaError::IoError(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return Ok(false);
                }
                Err(SymphoniaError::ResetRequired) => return Ok(false),
                Err(e) => {
                    return Err(input_error(
                        &self.path,
                        format!("is corrupt ({})", describe(&e)),
                    ));
                }
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let decoded = match self.decoder.decode(&packet) {
                Ok(decoded) => decoded,
                Err(SymphoniaError::DecodeError(e)) => {
                    return Err(input_error(&self.path, format!("is corrupt ({e})")));
                }
                Err(e) => {
                    return Err(input_error(
                        &self.path,
                        format!("cannot be decoded ({})", describe(&e)),
                    ));
                }
            };
            store(&mut self.pending, &decoded);
            self.pending_start = 0;
            return Ok(true);
        }
    }
}

/// Converts a decoded packet into `pending`, one plane per channel. Symphonia's buffers are
/// planar already: each plane is converted straight into its own (no interleaving on the way).
fn store(pending: &mut [Vec<f32>], decoded: &AudioBufferRef<'_>) {
    match decoded {
        AudioBufferRef::U8(b) => store_planes(pending, b),
        AudioBufferRef::U16(b) => store_planes(pending, b),
        AudioBufferRef::U24(b) => store_planes(pending, b),
        AudioBufferRef::U32(b) => store_planes(pending, b),
        AudioBufferRef::S8(b) => store_planes(pending, b),
        AudioBufferRef::S16(b) => store_planes(pending, b),
        AudioBufferRef::S24(b) => store_planes(pending, b),
        AudioBufferRef::S32(b) => store_planes(pending, b),
        AudioBufferRef::F32(b) => store_planes(pending, b),
        AudioBufferRef::F64(b) => store_planes(pending, b),
    }
}

/// [`store`] for one sample type: the same conversion to `f32` as Symphonia's own
/// (`FromSample`), so the samples are those an interleaved copy gives.
fn store_planes<S: Sample>(pending: &mut [Vec<f32>], buffer: &AudioBuffer<S>)
where
    f32: FromSample<S>,
{
    let channels = buffer.spec().channels.count();
    for (c, plane) in pending.iter_mut().enumerate() {
        plane.clear();
        if c < channels {
            plane.extend(buffer.chan(c).iter().map(|&s| f32::from_sample(s)));
        }
    }
    // A packet with fewer channels than the file declared: its missing planes are silent.
    let frames_kept = pending.first().map_or(0, Vec::len);
    for plane in pending.iter_mut() {
        plane.resize(frames_kept, 0.0);
    }
}

fn describe(e: &SymphoniaError) -> String {
    match e {
        SymphoniaError::IoError(io) => describe_io(io),
        SymphoniaError::DecodeError(m) => m.to_string(),
        SymphoniaError::Unsupported(m) => format!("unsupported: {m}"),
        SymphoniaError::LimitError(m) => format!("limit exceeded: {m}"),
        SymphoniaError::ResetRequired => "stream reset required".into(),
        SymphoniaError::SeekError(_) => "seek error".into(),
    }
}

fn describe_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "does not exist".into(),
        std::io::ErrorKind::PermissionDenied => "cannot be read (permission denied)".into(),
        std::io::ErrorKind::UnexpectedEof => "is truncated".into(),
        _ => e.to_string(),
    }
}
