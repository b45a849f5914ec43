//! What a pass measures beside the analysis, on a thread of its own: the residual's envelope
//! (for the offset search), the residual over time (for `--plot` and the findings' ranges) and
//! the stems' coherence with the mix (the shifted pass). The analysis thread hands each block
//! over once the analysis took it, with the common lag the analysis had then; the blocks are
//! taken in order, so every result is the one the analysis thread computing them itself gave.
//! The analysis, the costliest stage, then runs alone on its thread while the decoders and this
//! share the others.
//!
//! Memory stays bounded: at most [`QUEUED_BLOCKS`] blocks wait.

use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::align::Envelope;
use crate::coherence::Coherence;
use crate::timeline::ResidualTimeline;

/// Blocks that may wait for this thread (the analysis thread waits beyond: memory stays
/// bounded).
const QUEUED_BLOCKS: usize = 4;

/// One block of every file (the mix first) as the analysis took it.
pub(crate) struct Handed {
    /// Left and right per file, all of one length (files that ended padded with silence).
    pub(crate) padded: Vec<[Vec<f32>; 2]>,
    /// The frames of the block that went into the analysis (the pass' span).
    pub(crate) analysed_frames: std::ops::Range<usize>,
    /// The analysis' common lag after the block, in samples.
    pub(crate) common_lag_samples: i64,
}

/// What the thread measured, handed back at the end.
pub(crate) struct Measured {
    pub(crate) residual_envelope: Option<Envelope>,
    pub(crate) coherence: Option<Coherence>,
    pub(crate) timeline: ResidualTimeline,
}

/// What the thread keeps between blocks.
struct State {
    measured: Measured,
    /// Per file (the mix first): its channels (a mono file reads as both sides).
    channels: Vec<u32>,
    /// Per file (the mix first): whether its stem goes into the analysis.
    analysed: Vec<bool>,
    /// Scratch for the residual, per side.
    residual: [Vec<f32>; 2],
}

/// The thread, fed block by block.
pub(crate) struct Beside {
    sender: Option<SyncSender<Handed>>,
    worker: Option<JoinHandle<Measured>>,
}

impl Beside {
    /// Starts the thread with what it fills: `residual_envelope` and `coherence` when the pass
    /// keeps them. `channels` and `analysed` per file, the mix first.
    pub(crate) fn start(
        measured: Measured,
        channels: Vec<u32>,
        analysed: Vec<bool>,
    ) -> std::io::Result<Self> {
        let (sender, receiver) = sync_channel::<Handed>(QUEUED_BLOCKS);
        let mut state = State {
            measured,
            channels,
            analysed,
            residual: [Vec::new(), Vec::new()],
        };
        let worker = std::thread::Builder::new()
            .name("stemcheck-beside".into())
            .spawn(move || {
                for handed in receiver {
                    state.take(&handed);
                }
                state.measured
            })?;
        Ok(Self {
            sender: Some(sender),
            worker: Some(worker),
        })
    }

    /// Hands a block over (waits while [`QUEUED_BLOCKS`] wait already).
    pub(crate) fn hand(&self, handed: Handed) {
        if let Some(sender) = &self.sender {
            // The thread only stops once the sender is dropped (or by a panic, raised in
            // `finish`): a failed send has nothing to tell here.
            let _ = sender.send(handed);
        }
    }

    /// Waits for the thread to take every block handed over; what it measured. A panic on
    /// the thread is raised again here.
    pub(crate) fn finish(mut self) -> Measured {
        drop(self.sender.take());
        let worker = self.worker.take().expect("finished once");
        match worker.join() {
            Ok(measured) => measured,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl State {
    fn take(&mut self, handed: &Handed) {
        let Handed {
            padded,
            analysed_frames,
            common_lag_samples,
        } = handed;
        if let Some(coherence) = &mut self.measured.coherence {
            coherence.push(padded);
        }
        if let Some(envelope) = &mut self.measured.residual_envelope {
            push_residual(envelope, padded, &self.channels, &mut self.residual);
        }
        if analysed_frames.is_empty() {
            return;
        }
        fn part(b: &[Vec<f32>; 2], frames: std::ops::Range<usize>) -> [&[f32]; 2] {
            [&b[0][frames.clone()], &b[1][frames]]
        }
        let stems: Vec<[&[f32]; 2]> = padded
            .iter()
            .zip(&self.analysed)
            .skip(1)
            .filter(|(_, analysed)| **analysed)
            .map(|(b, _)| part(b, analysed_frames.clone()))
            .collect();
        self.measured.timeline.push(
            part(&padded[0], analysed_frames.clone()),
            &stems,
            *common_lag_samples,
        );
    }
}

/// Pushes one block's residual (the mix minus every stem; `blocks` the mix first, `channels`
/// per file, a mono file in both sides) into `envelope`; `residual` is scratch.
fn push_residual(
    envelope: &mut Envelope,
    blocks: &[[Vec<f32>; 2]],
    channels: &[u32],
    residual: &mut [Vec<f32>; 2],
) {
    let Some((mix, stems)) = blocks.split_first() else {
        return;
    };
    let side = |files_channels: u32, c: usize| if files_channels == 1 { 0 } else { c };
    let frames = mix[0].len();
    for (c, out) in residual.iter_mut().enumerate() {
        out.clear();
        out.extend_from_slice(&mix[side(channels[0], c)][..frames]);
        for (stem, &ch) in stems.iter().zip(&channels[1..]) {
            let input = &stem[side(ch, c)];
            for (r, x) in out.iter_mut().zip(input) {
                *r -= x;
            }
        }
    }
    envelope.push(&residual[0], &residual[1]);
}
