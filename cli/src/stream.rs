//! One file as the analysis sees it: decoded in blocks, resampled to the analysis rate when it
//! is at another rate, and shifted in time (delayed by leading zeros or advanced by dropping its
//! start) when it was found to start early or late. Memory stays bounded whatever the length:
//! only a block and the resampler's state are held. The raw decoded samples are watched on the
//! way (length, tail, identical channels) for the delivery rules.

use rubato::{FftFixedIn, Resampler};

use crate::decode::{AudioReader, InputError};
use crate::delivery::FileWatch;

/// Frames per resampler step, at the file's own rate.
const RESAMPLER_CHUNK_FRAMES: usize = 1024;
/// Sub-chunks of the FFT resampler (rubato's recommendation for a good quality/cost balance).
const RESAMPLER_SUB_CHUNKS: usize = 2;

/// A file streamed at the analysis rate, shifted.
pub struct TrackStream {
    reader: AudioReader,
    /// What the rules learn from the raw samples.
    pub watch: FileWatch,
    resampler: Option<Resampling>,
    /// Zeros still to emit before the file's audio (it is delayed), in frames at the analysis
    /// rate.
    pad_frames: u64,
    /// Frames of the file's start still to drop (it is advanced), at the analysis rate.
    skip_frames: u64,
    /// The source's block before the shift, planar.
    scratch: [Vec<f32>; 2],
}

impl TrackStream {
    /// Streams `reader` at `rate_hz`, delayed by `delay_samples` (negative: advanced).
    pub fn new(reader: AudioReader, rate_hz: u32, delay_samples: i64) -> Result<Self, InputError> {
        let own = reader.format.sample_rate_hz;
        let watch = FileWatch::new(own, reader.format.channels);
        let resampler = if own == rate_hz {
            None
        } else {
            Some(Resampling::new(own, rate_hz).map_err(|message| InputError {
                path: reader.path.clone(),
                message,
            })?)
        };
        Ok(Self {
            reader,
            watch,
            resampler,
            pad_frames: delay_samples.max(0) as u64,
            skip_frames: (-delay_samples).max(0) as u64,
            scratch: [Vec::new(), Vec::new()],
        })
    }

    /// Reads up to `max_frames` at the analysis rate into `out`. Fewer only at the end.
    pub fn read(
        &mut self,
        out: &mut [Vec<f32>; 2],
        max_frames: usize,
    ) -> Result<usize, InputError> {
        if self.resampler.is_none() && self.pad_frames == 0 && self.skip_frames == 0 {
            // The common case: straight from the decoder, no copy.
            let got = self.reader.read(out, max_frames)?;
            self.watch.observe(&out[0], &out[1]);
            return Ok(got);
        }
        out[0].clear();
        out[1].clear();
        let pad = self.pad_frames.min(max_frames as u64) as usize;
        if pad > 0 {
            out[0].resize(pad, 0.0);
            out[1].resize(pad, 0.0);
            self.pad_frames -= pad as u64;
        }
        while out[0].len() < max_frames {
            let want = max_frames - out[0].len();
            let got = self.read_source(want)?;
            if got == 0 {
                break;
            }
            let drop = self.skip_frames.min(got as u64) as usize;
            self.skip_frames -= drop as u64;
            out[0].extend_from_slice(&self.scratch[0][drop..got]);
            out[1].extend_from_slice(&self.scratch[1][drop..got]);
        }
        Ok(out[0].len())
    }

    /// The next `want` frames of the file at the analysis rate, into `scratch`.
    fn read_source(&mut self, want: usize) -> Result<usize, InputError> {
        match &mut self.resampler {
            None => {
                let got = self.reader.read(&mut self.scratch, want)?;
                self.watch.observe(&self.scratch[0], &self.scratch[1]);
                Ok(got)
            }
            Some(r) => r.read(&mut self.reader, &mut self.watch, &mut self.scratch, want),
        }
    }
}

/// A streaming resampler over a reader: output as long as the input at the new rate (rounded),
/// aligned with it (the resampler's delay is dropped).
struct Resampling {
    inner: FftFixedIn<f32>,
    in_rate_hz: u32,
    out_rate_hz: u32,
    /// The input chunk, planar.
    input: [Vec<f32>; 2],
    /// rubato's output buffer.
    output: Vec<Vec<f32>>,
    /// Resampled but not yet handed out.
    pending: [Vec<f32>; 2],
    pending_start: usize,
    /// Output frames still to drop: the resampler's delay.
    delay_frames: usize,
    /// Input frames read from the file.
    frames_in: u64,
    /// Output frames kept (handed out or pending).
    frames_out: u64,
    input_done: bool,
}

impl Resampling {
    fn new(in_rate_hz: u32, out_rate_hz: u32) -> Result<Self, String> {
        let inner = FftFixedIn::<f32>::new(
            in_rate_hz as usize,
            out_rate_hz as usize,
            RESAMPLER_CHUNK_FRAMES,
            RESAMPLER_SUB_CHUNKS,
            2,
        )
        .map_err(|e| {
            format!("cannot be resampled from {in_rate_hz} Hz to {out_rate_hz} Hz ({e})")
        })?;
        let output = inner.output_buffer_allocate(true);
        let delay_frames = inner.output_delay();
        Ok(Self {
            inner,
            in_rate_hz,
            out_rate_hz,
            input: [Vec::new(), Vec::new()],
            output,
            pending: [Vec::new(), Vec::new()],
            pending_start: 0,
            delay_frames,
            frames_in: 0,
            frames_out: 0,
            input_done: false,
        })
    }

    /// The output length once the input is done: the input's duration at the new rate.
    fn expected_out(&self) -> u64 {
        (self.frames_in as f64 * f64::from(self.out_rate_hz) / f64::from(self.in_rate_hz)).round()
            as u64
    }

    fn read(
        &mut self,
        reader: &mut AudioReader,
        watch: &mut FileWatch,
        out: &mut [Vec<f32>; 2],
        want: usize,
    ) -> Result<usize, InputError> {
        out[0].clear();
        out[1].clear();
        while out[0].len() < want {
            let available = self.pending[0].len() - self.pending_start;
            if available > 0 {
                let take = available.min(want - out[0].len());
                let range = self.pending_start..self.pending_start + take;
                out[0].extend_from_slice(&self.pending[0][range.clone()]);
                out[1].extend_from_slice(&self.pending[1][range]);
                self.pending_start += take;
                continue;
            }
            if self.input_done && self.frames_out >= self.expected_out() {
                break;
            }
            self.step(reader, watch)?;
        }
        Ok(out[0].len())
    }

    /// Feeds one chunk (zeros past the end, to flush the delay) and keeps what comes out.
    fn step(&mut self, reader: &mut AudioReader, watch: &mut FileWatch) -> Result<(), InputError> {
        let need = self.inner.input_frames_next();
        let got = if self.input_done {
            self.input[0].clear();
            self.input[1].clear();
            0
        } else {
            let got = reader.read(&mut self.input, need)?;
            watch.observe(&self.input[0], &self.input[1]);
            self.frames_in += got as u64;
            if got < need {
                self.input_done = true;
            }
            got
        };
        debug_assert!(got <= need);
        self.input[0].resize(need, 0.0);
        self.input[1].resize(need, 0.0);
        let (_, produced) = self
            .inner
            .process_into_buffer(&self.input, &mut self.output, None)
            .map_err(|e| InputError {
                path: reader.path.clone(),
                message: format!("cannot be resampled ({e})"),
            })?;
        let drop = self.delay_frames.min(produced);
        self.delay_frames -= drop;
        let mut keep = produced - drop;
        if self.input_done {
            keep = keep.min(self.expected_out().saturating_sub(self.frames_out) as usize);
        }
        self.pending[0].clear();
        self.pending[1].clear();
        self.pending_start = 0;
        self.pending[0].extend_from_slice(&self.output[0][drop..drop + keep]);
        self.pending[1].extend_from_slice(&self.output[1][drop..drop + keep]);
        self.frames_out += keep as u64;
        Ok(())
    }
}
