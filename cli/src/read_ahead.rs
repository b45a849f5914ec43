//! Decoding ahead of the analysis, on up to one worker thread per core: the files of a delivery
//! are dealt out to the workers (file `i` to worker `i % workers`), each decodes a block of
//! every file it holds (resampled and shifted as the pass asks, watched for the delivery rules)
//! and keeps their envelopes for the offset search, a few blocks ahead of the analysis. The
//! analysis thread gets the blocks back in the files' order, one block of every file at a time,
//! files that ended padded with silence to the longest, as if one thread had read them all.
//!
//! Memory stays bounded: at most [`READ_AHEAD_BLOCKS`] blocks of its files wait per worker.
//!
//! An envelope is kept on the worker over the file's own frames; the silence a file is padded
//! with once it ended is only known to the analysis thread (it depends on the other files), so
//! the envelope takes the file's last, short block and the silence after it at the end
//! ([`ReadAhead::finish`]), in the same pieces as one thread reading every file pushed them: the
//! envelopes are the same to the bit.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::align::Envelope;
use crate::decode::InputError;
use crate::stream::TrackStream;

/// Blocks each worker may run ahead of the analysis.
const READ_AHEAD_BLOCKS: usize = 4;

/// One block of a worker's files (in its files' order), or the first error among them (with
/// the file's index in the delivery).
type Message = Result<Vec<[Vec<f32>; 2]>, (usize, InputError)>;

/// One file as a worker holds it.
struct Track {
    /// The file's index in the delivery (the mix first).
    index: usize,
    stream: TrackStream,
    /// Its envelope over the blocks read so far, when the pass keeps envelopes.
    envelope: Option<Envelope>,
    /// The file's last block (shorter than a block: the file ended), once read; its envelope
    /// takes it at the end, padded as the analysis padded it.
    last_block: Option<[Vec<f32>; 2]>,
}

/// What a worker hands back when it stops.
type Finished = Vec<Track>;

/// Per file, what the analysis thread saw of its end, for finishing its envelope.
#[derive(Debug, Clone, Copy, Default)]
struct Padding {
    /// The longest block (of any file) in the block in which the file ended, in frames: its last
    /// block was padded to that.
    last_block_frames: Option<usize>,
    /// Frames of silence in the blocks after that one.
    silence_after_frames: u64,
}

/// Files being decoded ahead; [`ReadAhead::next_block`] hands out their blocks in order.
pub(crate) struct ReadAhead {
    receivers: Vec<Receiver<Message>>,
    workers: Vec<JoinHandle<Finished>>,
    /// Files in the delivery.
    files: usize,
    /// Frames per block.
    block_frames: usize,
    padding: Vec<Padding>,
}

impl ReadAhead {
    /// Starts decoding `streams` (the mix first) in blocks of `block_frames`, keeping an
    /// envelope of each with hop `envelope_hop` when given.
    pub(crate) fn start(
        streams: Vec<TrackStream>,
        block_frames: usize,
        envelope_hop: Option<usize>,
    ) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::start_on(streams, block_frames, envelope_hop, cores)
    }

    /// [`Self::start`] on up to `workers` threads.
    fn start_on(
        streams: Vec<TrackStream>,
        block_frames: usize,
        envelope_hop: Option<usize>,
        workers: usize,
    ) -> Self {
        let files = streams.len();
        let workers = workers.clamp(1, files.max(1));
        let mut shares: Vec<Vec<Track>> = (0..workers).map(|_| Vec::new()).collect();
        for (index, stream) in streams.into_iter().enumerate() {
            shares[index % workers].push(Track {
                index,
                stream,
                // The mix's at sub-hop phases too: the stems are matched against it.
                envelope: envelope_hop.map(|hop| {
                    if index == 0 {
                        Envelope::with_phases(hop)
                    } else {
                        Envelope::new(hop)
                    }
                }),
                last_block: None,
            });
        }
        let mut receivers = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for share in shares {
            let (sender, receiver) = sync_channel::<Message>(READ_AHEAD_BLOCKS);
            receivers.push(receiver);
            handles.push(std::thread::spawn(move || {
                decode_share(share, block_frames, &sender)
            }));
        }
        Self {
            receivers,
            workers: handles,
            files,
            block_frames,
            padding: vec![Padding::default(); files],
        }
    }

    /// The next block of every file (the mix first), files that ended padded with silence to
    /// the longest; `None` once every file ended.
    pub(crate) fn next_block(&mut self) -> Option<Result<Vec<[Vec<f32>; 2]>, InputError>> {
        let workers = self.receivers.len();
        let mut shares: Vec<Option<std::vec::IntoIter<[Vec<f32>; 2]>>> =
            Vec::with_capacity(workers);
        let mut failure: Option<(usize, InputError)> = None;
        for receiver in &self.receivers {
            // A worker that stopped has no frames left in any of its files.
            match receiver.recv() {
                Ok(Ok(blocks)) => shares.push(Some(blocks.into_iter())),
                Ok(Err((index, e))) => {
                    if failure.as_ref().is_none_or(|(i, _)| index < *i) {
                        failure = Some((index, e));
                    }
                    shares.push(None);
                }
                Err(_) => shares.push(None),
            }
        }
        if let Some((_, e)) = failure {
            return Some(Err(e));
        }
        let mut blocks: Vec<[Vec<f32>; 2]> = (0..self.files)
            .map(|i| {
                shares[i % workers]
                    .as_mut()
                    .and_then(Iterator::next)
                    .unwrap_or_default()
            })
            .collect();
        let longest = blocks.iter().map(|b| b[0].len()).max().unwrap_or(0);
        if longest == 0 {
            return None;
        }
        for (block, padding) in blocks.iter_mut().zip(&mut self.padding) {
            let frames = block[0].len();
            match padding.last_block_frames {
                Some(_) => padding.silence_after_frames += longest as u64,
                None if frames < self.block_frames => padding.last_block_frames = Some(longest),
                None => {}
            }
            // Files that already ended are silent from there on (their length is checked
            // apart).
            if frames < longest {
                block[0].resize(longest, 0.0);
                block[1].resize(longest, 0.0);
            }
        }
        Some(Ok(blocks))
    }

    /// Stops the workers and hands back the streams (the mix first) and, when kept, their
    /// envelopes, each finished with the silence the file was padded with. `None` if a worker
    /// panicked.
    pub(crate) fn finish(self) -> Option<(Vec<TrackStream>, Option<Vec<Envelope>>)> {
        // Dropping the receivers stops workers still decoding (their next send fails).
        drop(self.receivers);
        let mut tracks: Vec<Track> = Vec::with_capacity(self.files);
        for worker in self.workers {
            tracks.extend(worker.join().ok()?);
        }
        tracks.sort_by_key(|t| t.index);
        let mut streams = Vec::with_capacity(tracks.len());
        let mut envelopes = Vec::with_capacity(tracks.len());
        for (track, padding) in tracks.into_iter().zip(&self.padding) {
            streams.push(track.stream);
            let Some(mut envelope) = track.envelope else {
                continue;
            };
            if let (Some(mut last), Some(frames)) = (track.last_block, padding.last_block_frames) {
                last[0].resize(frames, 0.0);
                last[1].resize(frames, 0.0);
                envelope.push(&last[0], &last[1]);
                push_silence(
                    &mut envelope,
                    padding.silence_after_frames,
                    self.block_frames,
                );
            }
            envelopes.push(envelope);
        }
        let envelopes = (envelopes.len() == streams.len()).then_some(envelopes);
        Some((streams, envelopes))
    }
}

/// A worker: a block of every file in `share` per message, until every file ended, a file
/// fails, or the analysis stops listening.
fn decode_share(
    mut share: Vec<Track>,
    block_frames: usize,
    sender: &SyncSender<Message>,
) -> Finished {
    loop {
        let mut blocks = Vec::with_capacity(share.len());
        let mut any = false;
        for track in &mut share {
            let mut block = [
                Vec::with_capacity(block_frames),
                Vec::with_capacity(block_frames),
            ];
            let frames = match track.stream.read(&mut block, block_frames) {
                Ok(frames) => frames,
                Err(e) => {
                    let _ = sender.send(Err((track.index, e)));
                    return share;
                }
            };
            any |= frames > 0;
            if let Some(envelope) = &mut track.envelope
                && track.last_block.is_none()
            {
                if frames == block_frames {
                    envelope.push(&block[0], &block[1]);
                } else {
                    // Fewer frames only at the end: the analysis pads this block; the envelope
                    // takes it padded alike at the end.
                    track.last_block = Some(block.clone());
                }
            }
            blocks.push(block);
        }
        // The end of every file of this worker (dropping the sender says so), or the analysis
        // gave up (the receiver is gone).
        if !any || sender.send(Ok(blocks)).is_err() {
            return share;
        }
    }
}

/// Pushes `frames` of silence into `envelope`, a block at a time (silence gives the same
/// envelope in any pieces).
fn push_silence(envelope: &mut Envelope, frames: u64, block_frames: usize) {
    let zeros = vec![0.0f32; (frames.min(block_frames as u64)) as usize];
    let mut left = frames;
    while left > 0 {
        let take = left.min(zeros.len() as u64) as usize;
        envelope.push(&zeros[..take], &zeros[..take]);
        left -= take as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::AudioReader;

    /// Seeded noise, `frames` long, stereo.
    fn noise(frames: usize, seed: u64) -> [Vec<f32>; 2] {
        let mut state = seed;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
        let left: Vec<f32> = (0..frames).map(|_| next()).collect();
        let right: Vec<f32> = (0..frames).map(|_| next()).collect();
        [left, right]
    }

    #[test]
    fn blocks_and_envelopes_are_those_one_thread_reading_every_file_gives() {
        // Blocks of 1000 frames; files ending mid-block, on a block boundary, in the same block
        // as another, and one empty of audio after its header; delayed and advanced streams.
        let dir = tempfile::tempdir().unwrap();
        let lengths = [5_500usize, 3_000, 5_999, 1, 4_321, 2_000];
        let delays = [0i64, 700, -1_200, 0, 0, 3_333];
        let paths: Vec<_> = lengths
            .iter()
            .enumerate()
            .map(|(i, &frames)| {
                let path = dir.path().join(format!("{i}.wav"));
                stemcheck_testkit::wav::write_wav(
                    &path,
                    &noise(frames, i as u64 + 1),
                    48_000,
                    stemcheck_testkit::wav::WavFormat::Float32,
                )
                .unwrap();
                path
            })
            .collect();
        let streams = || -> Vec<TrackStream> {
            paths
                .iter()
                .zip(delays)
                .map(|(p, d)| TrackStream::new(AudioReader::open(p).unwrap(), 48_000, d).unwrap())
                .collect()
        };
        let (block_frames, hop) = (1000, 48);

        // One thread, as the checker read before: a block of every file, padded to the
        // longest, pushed into every envelope.
        let mut reference_streams = streams();
        let mut reference_envelopes: Vec<Envelope> =
            paths.iter().map(|_| Envelope::new(hop)).collect();
        let mut reference_blocks = Vec::new();
        loop {
            let mut blocks: Vec<[Vec<f32>; 2]> = Vec::new();
            for stream in &mut reference_streams {
                let mut block = [Vec::new(), Vec::new()];
                stream.read(&mut block, block_frames).unwrap();
                blocks.push(block);
            }
            let longest = blocks.iter().map(|b| b[0].len()).max().unwrap();
            if longest == 0 {
                break;
            }
            for (block, envelope) in blocks.iter_mut().zip(&mut reference_envelopes) {
                block[0].resize(longest, 0.0);
                block[1].resize(longest, 0.0);
                envelope.push(&block[0], &block[1]);
            }
            reference_blocks.push(blocks);
        }

        for workers in 1..=4 {
            let mut ahead = ReadAhead::start_on(streams(), block_frames, Some(hop), workers);
            let mut blocks = Vec::new();
            while let Some(block) = ahead.next_block() {
                blocks.push(block.unwrap());
            }
            assert_eq!(blocks, reference_blocks, "{workers} workers");
            let (streams, envelopes) = ahead.finish().unwrap();
            assert_eq!(streams.len(), paths.len());
            for (envelope, reference) in envelopes.unwrap().iter().zip(&reference_envelopes) {
                assert_eq!(envelope.points, reference.points, "{workers} workers");
                assert_eq!(envelope.energy, reference.energy);
                assert_eq!(envelope.high_energy, reference.high_energy);
            }
            for (stream, reference) in streams.iter().zip(&reference_streams) {
                assert_eq!(stream.watch.frames_read, reference.watch.frames_read);
            }
        }
    }
}
