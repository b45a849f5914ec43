//! An offline render through the bus: one host thread runs every instance in turn (as JUCE's
//! graph and most DAWs' bounces do), each pushing with [`LaneProducer::push_block_waiting`],
//! while a deliberately slow consumer aligns them. Every frame must arrive, in place, with no
//! drop, and the render must finish (no deadlock: the consumer takes one instance's block into
//! its window while the next instance has not delivered it yet). Also with the live core's
//! setting, audio held one poll ([`Aligner::hold_audio_one_poll`]).

use std::sync::mpsc;
use std::time::Duration;

use stemcheck_bus::timeline::EpochSummary;
use stemcheck_bus::{
    AlignSink, AlignedChunk, Aligner, AlignerConfig, BlockInfo, LaneConfig, LaneId, PositionSource,
    PushOutcome, lane_pair,
};

const RATE_HZ: f32 = 48_000.0;
/// Generous: the render takes well under a second; a deadlock would hang forever.
const RENDER_TIMEOUT: Duration = Duration::from_secs(60);
/// A long per-block limit, so that a drop can only mean a design fault, not a slow machine.
const WAIT_LIMIT: Duration = Duration::from_secs(20);

#[derive(Default)]
struct Counter {
    /// Per lane: frames present, and frames whose value was not their timeline position.
    present: [u64; 3],
    wrong: u64,
    missing: u64,
    epochs: Vec<EpochSummary>,
}

impl AlignSink for Counter {
    fn chunk(&mut self, chunk: &AlignedChunk<'_>) {
        for lane in chunk.lanes() {
            if !lane.present {
                self.missing += chunk.num_frames as u64;
                continue;
            }
            self.present[lane.id as usize] += chunk.num_frames as u64;
            for (i, &v) in lane.channels[0].iter().enumerate() {
                if v != (chunk.start_pos_samples + i as i64) as f32 {
                    self.wrong += 1;
                }
            }
        }
    }

    fn epoch_end(&mut self, summary: &EpochSummary) {
        self.epochs.push(*summary);
    }
}

fn render(block_frames: usize, num_blocks: usize, hold: bool) -> (Counter, u64) {
    let lanes: Vec<_> = (0..3)
        .map(|_| lane_pair(LaneConfig::for_sample_rate(RATE_HZ)))
        .collect();
    let (mut producers, consumers): (Vec<_>, Vec<_>) = lanes.into_iter().unzip();
    let total_frames = (block_frames * num_blocks) as u64;

    let (done_tx, done_rx) = mpsc::channel();
    let consumer = std::thread::spawn(move || {
        let mut aligner = Aligner::new(AlignerConfig::default());
        if hold {
            aligner.hold_audio_one_poll();
        }
        for (id, c) in consumers.into_iter().enumerate() {
            aligner.add_lane(id as LaneId, c);
        }
        let mut counter = Counter::default();
        while counter.epochs.is_empty() {
            aligner.poll(&mut counter);
            // Slower than the producer: the lanes fill and the producer must wait.
            std::thread::sleep(Duration::from_micros(200));
        }
        counter
    });

    let host = std::thread::spawn(move || {
        let mut dropped = 0;
        let mut block = vec![0.0f32; block_frames];
        for b in 0..num_blocks {
            let pos = (b * block_frames) as i64;
            for (i, v) in block.iter_mut().enumerate() {
                *v = (pos + i as i64) as f32;
            }
            let info = BlockInfo {
                pos_samples: pos,
                source: PositionSource::HostTransport,
                playing: true,
                sample_rate_hz: RATE_HZ,
            };
            // Instance by instance on this one thread, as a host's offline render does.
            for producer in &mut producers {
                if producer.push_block_waiting(&info, &[&block, &block], WAIT_LIMIT)
                    != PushOutcome::Pushed
                {
                    dropped += 1;
                }
            }
        }
        // The transport stops: the consumer ends the run.
        let stop = BlockInfo {
            pos_samples: (num_blocks * block_frames) as i64,
            source: PositionSource::HostTransport,
            playing: false,
            sample_rate_hz: RATE_HZ,
        };
        for producer in &mut producers {
            producer.push_block_waiting(&stop, &[&[0.0f32; 64]], WAIT_LIMIT);
        }
        let _ = done_tx.send(dropped);
        producers
    });

    let dropped = done_rx
        .recv_timeout(RENDER_TIMEOUT)
        .expect("the offline render finished (no deadlock)");
    let producers = host.join().unwrap();
    let counter = consumer.join().unwrap();
    for p in &producers {
        assert_eq!(p.stats().load().1, 0, "no frame dropped");
    }
    assert_eq!(dropped, 0);
    (counter, total_frames)
}

#[test]
fn an_offline_render_on_one_thread_loses_nothing_and_never_deadlocks() {
    // Host blocks from small to larger than half a lane (16384 frames of a 48000-frame lane):
    // each instance fills its lane while its peers have not delivered the block yet.
    let sizes = [(512, 600), (4096, 80), (16_384, 24), (32_768, 10)];
    for ((block_frames, num_blocks), hold) in sizes
        .into_iter()
        .flat_map(|size| [(size, false), (size, true)])
    {
        let (counter, total) = render(block_frames, num_blocks, hold);
        assert_eq!(counter.epochs.len(), 1, "one run (block {block_frames})");
        assert_eq!(counter.missing, 0, "no lane missing (block {block_frames})");
        assert_eq!(counter.wrong, 0, "every frame in its place");
        assert_eq!(
            counter.present, [total; 3],
            "every frame of every lane aligned (block {block_frames})"
        );
    }
}
