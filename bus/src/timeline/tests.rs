//! Aligner tests. Every sample carries its own ground truth: the left channel holds the
//! timeline position it was pushed at, the right channel `10 * pass + lane`, so a misplaced,
//! mixed or stale frame shows up as a wrong value.

use super::*;
use crate::block::{BlockInfo, PositionSource};
use crate::lane::{LaneConfig, LaneProducer, lane_pair};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const RATE_HZ: f32 = 48_000.0;

/// One lane of a recorded chunk: (id, present, left, right).
type RecordedLane = (LaneId, bool, Vec<f32>, Vec<f32>);

#[derive(Default)]
struct Recorder {
    /// (epoch, start, frames, lanes)
    chunks: Vec<(u64, i64, usize, Vec<RecordedLane>)>,
    epochs: Vec<EpochSummary>,
    pieces: usize,
}

impl AlignSink for Recorder {
    fn piece(&mut self, _lane: LaneId, _header: &BlockHeader, _channels: &[&[f32]]) {
        self.pieces += 1;
    }

    fn chunk(&mut self, chunk: &AlignedChunk<'_>) {
        let lanes = chunk
            .lanes()
            .map(|l| {
                (
                    l.id,
                    l.present,
                    l.channels[0].to_vec(),
                    l.channels[1].to_vec(),
                )
            })
            .collect();
        self.chunks.push((
            chunk.epoch,
            chunk.start_pos_samples,
            chunk.num_frames,
            lanes,
        ));
    }

    fn epoch_end(&mut self, summary: &EpochSummary) {
        self.epochs.push(*summary);
    }
}

impl Recorder {
    /// Checks every present frame against its ground truth and returns, per lane id, the number
    /// of frames present and the passes seen.
    fn verify(&self) -> std::collections::BTreeMap<LaneId, (usize, Vec<u32>)> {
        let mut seen = std::collections::BTreeMap::new();
        for (_, start, frames, lanes) in &self.chunks {
            let mut chunk_pass = None;
            for (id, present, left, right) in lanes {
                let entry = seen.entry(*id).or_insert((0usize, Vec::new()));
                if !present {
                    continue;
                }
                assert_eq!(left.len(), *frames);
                for i in 0..*frames {
                    assert_eq!(left[i], (start + i as i64) as f32, "lane {id} misplaced");
                    let tag = right[i] as u32;
                    assert_eq!(tag % 10, *id, "lane {id} carries another lane's audio");
                    let pass = tag / 10;
                    // Every lane present in a chunk comes from the same transport pass.
                    assert_eq!(*chunk_pass.get_or_insert(pass), pass, "passes mixed");
                    if entry.1.last() != Some(&pass) {
                        entry.1.push(pass);
                    }
                }
                entry.0 += frames;
            }
        }
        seen
    }
}

fn push(tx: &mut LaneProducer, lane: LaneId, pass: u32, pos: i64, frames: usize, playing: bool) {
    let left: Vec<f32> = (0..frames).map(|i| (pos + i as i64) as f32).collect();
    let right = vec![(pass * 10 + lane) as f32; frames];
    let info = BlockInfo {
        pos_samples: pos,
        source: PositionSource::HostTransport,
        playing,
        sample_rate_hz: RATE_HZ,
    };
    tx.push_block(&info, &[&left, &right]);
}

fn aligner_with(num_lanes: u32) -> (Aligner, Vec<LaneProducer>) {
    let mut aligner = Aligner::new(AlignerConfig::default());
    let mut producers = Vec::new();
    for id in 0..num_lanes {
        let (tx, rx) = lane_pair(LaneConfig::for_sample_rate(RATE_HZ));
        aligner.add_lane(id, rx);
        producers.push(tx);
    }
    (aligner, producers)
}

/// Pushes `[from, to)` for every lane in the lane's own block size, polling every `poll_every`
/// host cycles of `cycle` frames.
fn play(
    aligner: &mut Aligner,
    producers: &mut [LaneProducer],
    block_sizes: &[usize],
    pass: u32,
    from: i64,
    to: i64,
    rec: &mut Recorder,
) {
    let mut next: Vec<i64> = vec![from; producers.len()];
    let mut cycle_end = from;
    while cycle_end < to {
        cycle_end = (cycle_end + 256).min(to);
        for (lane, tx) in producers.iter_mut().enumerate() {
            while next[lane] < cycle_end {
                let frames = (block_sizes[lane] as i64).min(to - next[lane]) as usize;
                push(tx, lane as LaneId, pass, next[lane], frames, true);
                next[lane] += frames as i64;
            }
        }
        aligner.poll(rec);
    }
}

fn stop(aligner: &mut Aligner, producers: &mut [LaneProducer], at: i64, rec: &mut Recorder) {
    for (lane, tx) in producers.iter_mut().enumerate() {
        push(tx, lane as LaneId, 0, at, 128, false);
    }
    aligner.poll(rec);
}

mod alignment {
    use super::*;

    #[test]
    fn lanes_with_different_block_sizes_line_up_exactly() {
        let (mut aligner, mut producers) = aligner_with(3);
        let mut rec = Recorder::default();
        play(
            &mut aligner,
            &mut producers,
            &[64, 100, 4097],
            1,
            1000,
            49_000,
            &mut rec,
        );
        stop(&mut aligner, &mut producers, 49_000, &mut rec);

        let seen = rec.verify();
        for id in 0..3 {
            assert_eq!(seen[&id].0, 48_000, "lane {id} complete");
        }
        // Every chunk has every lane present: nothing was emitted before all had arrived.
        assert!(rec.chunks.iter().all(|c| c.3.iter().all(|l| l.1)));
        assert_eq!(rec.epochs.len(), 1);
        assert_eq!(rec.epochs[0].start_pos_samples, 1000);
        assert_eq!(rec.epochs[0].end_pos_samples, 49_000);
        assert_eq!(rec.epochs[0].reason, EpochEnd::Transport);
    }

    #[test]
    fn chunks_come_in_timeline_order_without_overlap() {
        let (mut aligner, mut producers) = aligner_with(2);
        let mut rec = Recorder::default();
        play(
            &mut aligner,
            &mut producers,
            &[333, 77],
            1,
            0,
            20_000,
            &mut rec,
        );
        aligner.finish(&mut rec);
        let mut next = 0;
        for (_, start, frames, _) in &rec.chunks {
            assert_eq!(*start, next);
            next += *frames as i64;
        }
        assert_eq!(next, 20_000);
    }

    #[test]
    fn random_block_sizes_and_poll_times_deliver_every_frame_once() {
        let mut rng = SmallRng::seed_from_u64(7);
        let (mut aligner, mut producers) = aligner_with(4);
        let mut rec = Recorder::default();
        let mut next = [0i64; 4];
        let end = 200_000;
        while next.iter().any(|&n| n < end) {
            let lane = rng.gen_range(0..4);
            // Keep lanes within a window of each other, as a host's cycle would.
            let lowest = *next.iter().min().unwrap();
            if next[lane] >= end || next[lane] > lowest + 16_000 {
                continue;
            }
            let frames = rng.gen_range(1..=8192).min((end - next[lane]) as usize);
            push(
                &mut producers[lane],
                lane as LaneId,
                1,
                next[lane],
                frames,
                true,
            );
            next[lane] += frames as i64;
            if rng.gen_bool(0.3) {
                aligner.poll(&mut rec);
            }
        }
        aligner.finish(&mut rec);
        let seen = rec.verify();
        for id in 0..4 {
            assert_eq!(seen[&id].0, 200_000);
        }
    }

    #[test]
    fn a_mono_lane_is_given_as_two_identical_channels() {
        let mut aligner = Aligner::new(AlignerConfig::default());
        let (mut tx, rx) = lane_pair(LaneConfig::for_sample_rate(RATE_HZ));
        aligner.add_lane(5, rx);
        let mono: Vec<f32> = (0..512).map(|i| i as f32).collect();
        let info = BlockInfo {
            pos_samples: 0,
            source: PositionSource::HostTransport,
            playing: true,
            sample_rate_hz: RATE_HZ,
        };
        tx.push_block(&info, &[&mono]);
        let mut rec = Recorder::default();
        aligner.finish(&mut rec);
        let lane = &rec.chunks[0].3[0];
        assert_eq!(lane.2, lane.3);
        assert_eq!(rec.chunks.iter().map(|c| c.2).sum::<usize>(), 512);
    }

    #[test]
    fn non_finite_samples_are_zeroed_and_counted() {
        let mut aligner = Aligner::new(AlignerConfig::default());
        let (mut tx, rx) = lane_pair(LaneConfig::for_sample_rate(RATE_HZ));
        aligner.add_lane(0, rx);
        let mut block = vec![0.25f32; 256];
        block[3] = f32::NAN;
        block[4] = f32::INFINITY;
        block[5] = f32::NEG_INFINITY;
        block[6] = f32::MIN_POSITIVE / 4.0; // subnormal
        let info = BlockInfo {
            pos_samples: 0,
            source: PositionSource::HostTransport,
            playing: true,
            sample_rate_hz: RATE_HZ,
        };
        tx.push_block(&info, &[&block]);
        let mut rec = Recorder::default();
        aligner.finish(&mut rec);
        let samples = &rec.chunks[0].3[0].2;
        assert_eq!(&samples[3..7], &[0.0; 4]);
        assert_eq!(samples[7], 0.25);
        let status = aligner.lane_statuses().next().unwrap();
        assert_eq!(status.counters.non_finite_samples, 3);
    }
}

mod drops {
    use super::*;

    #[test]
    fn dropped_pieces_are_missing_never_filled() {
        let mut aligner = Aligner::new(AlignerConfig::default());
        let (mut master, rx0) = lane_pair(LaneConfig::for_sample_rate(RATE_HZ));
        // A tiny lane: 16384 frames of room, so pushing 40000 frames unpolled drops.
        let (mut stem, rx1) = lane_pair(LaneConfig {
            capacity_frames: 16_384,
            capacity_headers: 1024,
        });
        aligner.add_lane(0, rx0);
        aligner.add_lane(1, rx1);
        let mut rec = Recorder::default();
        for block in 0..80 {
            let pos = block * 500;
            push(&mut master, 0, 1, pos, 500, true);
            push(&mut stem, 1, 1, pos, 500, true);
        }
        // The stem's lane held 32 blocks (16000 frames); the other 48 were dropped.
        assert_eq!(stem.stats().load(), (16_000, 24_000, 48));
        aligner.poll(&mut rec);
        for block in 80..100 {
            let pos = block * 500;
            push(&mut master, 0, 1, pos, 500, true);
            push(&mut stem, 1, 1, pos, 500, true);
            aligner.poll(&mut rec);
        }
        aligner.finish(&mut rec);

        let seen = rec.verify();
        assert_eq!(seen[&0].0, 50_000);
        assert_eq!(
            seen[&1].0,
            16_000 + 10_000,
            "only what got through is present"
        );
        let stem_status = aligner.lane_statuses().nth(1).unwrap();
        assert_eq!(stem_status.counters.dropped_frames, 24_000);
        assert_eq!(stem_status.counters.dropped_pieces, 48);
        assert_eq!(stem_status.counters.gap_frames, 24_000);
        // The gap is where the drops were.
        for (_, start, frames, lanes) in &rec.chunks {
            let in_gap = *start >= 16_000 && *start < 40_000;
            assert_eq!(lanes[1].1, !in_gap, "stem presence at {start}+{frames}");
        }
    }

    #[test]
    fn a_lane_that_stops_delivering_is_missing_after_one_window() {
        let (mut aligner, mut producers) = aligner_with(2);
        let mut rec = Recorder::default();
        play(
            &mut aligner,
            &mut producers,
            &[512, 512],
            1,
            0,
            10_240,
            &mut rec,
        );
        // Lane 1 goes quiet (a host suspending it); lane 0 plays on.
        play(
            &mut aligner,
            &mut producers[..1],
            &[512],
            1,
            10_240,
            100_000,
            &mut rec,
        );
        let window = AlignerConfig::default().window_frames as i64;
        let emitted: i64 = rec.chunks.iter().map(|c| c.2 as i64).sum();
        assert!(
            emitted >= 100_000 - window - 512,
            "emission kept going: {emitted}"
        );
        aligner.end_epoch_if_stalled(&mut rec);
        let seen = rec.verify();
        assert_eq!(seen[&0].0, 100_000);
        assert_eq!(seen[&1].0, 10_240);
        assert_eq!(rec.epochs.last().unwrap().reason, EpochEnd::Stalled);
    }
}

mod churn {
    use super::*;

    #[test]
    fn lanes_come_and_go_while_running() {
        let mut rng = SmallRng::seed_from_u64(11);
        let mut aligner = Aligner::new(AlignerConfig::default());
        let mut live: Vec<(LaneId, LaneProducer)> = Vec::new();
        let mut rec = Recorder::default();
        let mut next_id = 0;
        let mut pos = 0i64;
        for _cycle in 0..2000 {
            if live.len() < 9 && rng.gen_bool(0.05) {
                let (tx, rx) = lane_pair(LaneConfig::for_sample_rate(RATE_HZ));
                aligner.add_lane(next_id % 10, rx);
                live.push((next_id % 10, tx));
                next_id += 1;
                // Keep ids unique among live lanes.
                while live.iter().any(|(id, _)| *id == next_id % 10) {
                    next_id += 1;
                }
            }
            if !live.is_empty() && rng.gen_bool(0.03) {
                let index = rng.gen_range(0..live.len());
                live.remove(index); // dropping the producer abandons the lane
            }
            for (id, tx) in &mut live {
                push(tx, *id, 1, pos, 256, true);
            }
            pos += 256;
            aligner.poll(&mut rec);
            assert_eq!(
                aligner.num_lanes(),
                live.len(),
                "abandoned lanes are removed"
            );
        }
        aligner.finish(&mut rec);
        rec.verify();
        assert!(rec.chunks.len() > 100);
    }

    #[test]
    fn waves_of_short_lived_lanes_that_restart_at_zero_never_pile_up() {
        // Instances created, played briefly from position 0 and destroyed, wave after wave,
        // with no stop: each wave's leftover audio may wait for lanes that will never come.
        // Gone lanes must be let go all the same.
        let mut aligner = Aligner::new(AlignerConfig::default());
        let mut rec = Recorder::default();
        let mut next_id = 0;
        for _wave in 0..50 {
            let mut wave: Vec<(LaneId, LaneProducer)> = (0..4)
                .map(|_| {
                    // Ids below 10 (the ground truth tags lanes by one digit); each wave's lanes
                    // are gone before the next wave reuses them.
                    let id = next_id % 10;
                    let (tx, rx) = lane_pair(LaneConfig::for_sample_rate(RATE_HZ));
                    aligner.add_lane(id, rx);
                    next_id += 1;
                    (id, tx)
                })
                .collect();
            for block in 0..20 {
                // The wave's lanes do not even agree with each other: the last one runs late.
                for (i, (id, tx)) in wave.iter_mut().enumerate() {
                    if i < 3 || block < 10 {
                        push(tx, *id, 1, block * 512, 512, true);
                    }
                }
                aligner.poll(&mut rec);
            }
            drop(wave);
            for _ in 0..4 {
                aligner.poll(&mut rec);
            }
            assert_eq!(aligner.num_lanes(), 0, "gone lanes are let go");
        }
        rec.verify();
    }

    #[test]
    fn a_lane_moved_to_another_group_keeps_its_audio_flowing() {
        let (mut group_a, mut producers) = aligner_with(2);
        let mut group_b = Aligner::new(AlignerConfig::default());
        let mut rec_a = Recorder::default();
        let mut rec_b = Recorder::default();
        play(
            &mut group_a,
            &mut producers,
            &[512, 512],
            1,
            0,
            4096,
            &mut rec_a,
        );
        let consumer = group_a.remove_lane(1).unwrap();
        group_b.add_lane(1, consumer);
        push(&mut producers[1], 1, 1, 4096, 512, true);
        group_b.finish(&mut rec_b);
        assert_eq!(rec_b.verify()[&1].0, 512);
    }
}

mod transport {
    use super::*;

    #[test]
    fn loops_never_mix_passes() {
        let (mut aligner, mut producers) = aligner_with(3);
        let mut rec = Recorder::default();
        // A 3000-frame loop, far shorter than the window, played five times with block sizes
        // that do not divide it.
        for pass in 1..=5 {
            play(
                &mut aligner,
                &mut producers,
                &[128, 480, 1000],
                pass,
                0,
                3000,
                &mut rec,
            );
        }
        stop(&mut aligner, &mut producers, 3000, &mut rec);
        let seen = rec.verify();
        for id in 0..3 {
            assert_eq!(seen[&id].0, 15_000, "lane {id}");
            assert_eq!(seen[&id].1, vec![1, 2, 3, 4, 5]);
        }
        assert_eq!(rec.epochs.len(), 5);
        assert!(
            rec.epochs
                .iter()
                .all(|e| e.start_pos_samples == 0 && e.end_pos_samples == 3000)
        );
    }

    #[test]
    fn pre_jump_audio_arriving_late_is_discarded_as_stale() {
        let (mut aligner, mut producers) = aligner_with(2);
        let mut rec = Recorder::default();
        play(
            &mut aligner,
            &mut producers,
            &[500, 500],
            1,
            0,
            2000,
            &mut rec,
        );
        // Lane 0 wraps to 0; lane 1 still sends its last pre-wrap block, then stalls. The
        // core declares the stall, starts the next pass from lane 0's head, and only then
        // does lane 1's pre-wrap block and its own wrap arrive.
        push(&mut producers[0], 0, 2, 0, 500, true);
        aligner.poll(&mut rec);
        aligner.end_epoch_if_stalled(&mut rec);
        push(&mut producers[1], 1, 1, 2000, 500, true); // stale: continues pass 1
        push(&mut producers[1], 1, 2, 0, 500, true);
        push(&mut producers[0], 0, 2, 500, 500, true);
        push(&mut producers[1], 1, 2, 500, 500, true);
        aligner.finish(&mut rec);
        let seen = rec.verify();
        assert_eq!(seen[&1].1, vec![1, 2]);
        let lane1 = aligner.lane_statuses().nth(1).unwrap();
        assert_eq!(lane1.counters.stale_frames, 500);
    }

    #[test]
    fn a_locate_forward_starts_a_new_epoch_at_the_new_position() {
        let (mut aligner, mut producers) = aligner_with(2);
        let mut rec = Recorder::default();
        play(
            &mut aligner,
            &mut producers,
            &[512, 256],
            1,
            0,
            8192,
            &mut rec,
        );
        play(
            &mut aligner,
            &mut producers,
            &[512, 256],
            2,
            480_000,
            490_000,
            &mut rec,
        );
        stop(&mut aligner, &mut producers, 490_000, &mut rec);
        rec.verify();
        let starts: Vec<i64> = rec.epochs.iter().map(|e| e.start_pos_samples).collect();
        assert_eq!(starts, vec![0, 480_000]);
    }

    #[test]
    fn a_small_jump_forward_is_a_gap_in_the_same_epoch() {
        let (mut aligner, mut producers) = aligner_with(2);
        let mut rec = Recorder::default();
        play(
            &mut aligner,
            &mut producers,
            &[512, 512],
            1,
            0,
            4096,
            &mut rec,
        );
        play(
            &mut aligner,
            &mut producers,
            &[512, 512],
            1,
            5096,
            9192,
            &mut rec,
        );
        aligner.finish(&mut rec);
        assert_eq!(rec.epochs.len(), 1);
        let seen = rec.verify();
        assert_eq!(seen[&0].0, 8192);
        let emitted: usize = rec.chunks.iter().map(|c| c.2).sum();
        assert_eq!(emitted, 8192, "the skipped second is not emitted");
    }

    #[test]
    fn stopped_transport_is_metered_but_not_aligned() {
        let (mut aligner, mut producers) = aligner_with(2);
        let mut rec = Recorder::default();
        for i in 0..10 {
            for (lane, tx) in producers.iter_mut().enumerate() {
                // Stopped hosts repeat the same position.
                push(tx, lane as LaneId, 0, 777, 512, false);
            }
            if i % 3 == 0 {
                aligner.poll(&mut rec);
            }
        }
        aligner.poll(&mut rec);
        assert!(rec.chunks.is_empty());
        assert!(rec.epochs.is_empty());
        assert_eq!(rec.pieces, 20);
        let status = aligner.lane_statuses().next().unwrap();
        assert_eq!(status.state, LaneState::Stopped);
        assert_eq!(status.counters.stopped_frames, 5120);
    }

    #[test]
    fn position_jitter_of_one_sample_is_continuous() {
        let (mut aligner, mut producers) = aligner_with(1);
        let mut rec = Recorder::default();
        for block in 0..20i64 {
            let jitter = if block % 3 == 1 { 1 } else { 0 };
            let info = BlockInfo {
                pos_samples: block * 512 + jitter,
                source: PositionSource::HostTransport,
                playing: true,
                sample_rate_hz: RATE_HZ,
            };
            producers[0].push_block(&info, &[&vec![0.5f32; 512]]);
            aligner.poll(&mut rec);
        }
        aligner.finish(&mut rec);
        assert_eq!(rec.epochs.len(), 1);
        assert_eq!(rec.chunks.iter().map(|c| c.2).sum::<usize>(), 20 * 512);
    }

    #[test]
    fn a_lane_at_another_sample_rate_is_counted_not_aligned() {
        let (mut aligner, mut producers) = aligner_with(2);
        let mut rec = Recorder::default();
        for block in 0..10i64 {
            let pos = block * 512;
            push(&mut producers[0], 0, 1, pos, 512, true);
            let info = BlockInfo {
                pos_samples: pos,
                source: PositionSource::HostTransport,
                playing: true,
                sample_rate_hz: 44_100.0,
            };
            producers[1].push_block(&info, &[&vec![0.1f32; 512]]);
            aligner.poll(&mut rec);
        }
        aligner.finish(&mut rec);
        let seen = rec.verify();
        assert_eq!(seen[&0].0, 5120);
        assert_eq!(seen[&1].0, 0);
        let lane1 = aligner.lane_statuses().nth(1).unwrap();
        assert_eq!(lane1.counters.rate_mismatch_frames, 5120);
        assert_eq!(lane1.sample_rate_hz, 44_100.0);
    }
}

mod hold {
    use super::*;

    /// Lane 0 delivers `[0, 2048)` and is polled; lane 1, which announced itself before that
    /// audio was pushed but which the owner adds only after the poll, delivers the same
    /// stretch; then both stop. Returns the frames present per lane.
    fn lane_added_after_a_poll(
        hold: bool,
    ) -> std::collections::BTreeMap<LaneId, (usize, Vec<u32>)> {
        let (mut aligner, mut producers) = aligner_with(1);
        if hold {
            aligner.hold_audio_one_poll();
        }
        let mut rec = Recorder::default();
        let (tx, rx) = lane_pair(LaneConfig::for_sample_rate(RATE_HZ));
        producers.push(tx);
        push(&mut producers[0], 0, 1, 0, 2048, true);
        aligner.poll(&mut rec);
        // The owner finds the new instance between two polls.
        aligner.add_lane(1, rx);
        push(&mut producers[1], 1, 1, 0, 2048, true);
        aligner.poll(&mut rec);
        stop(&mut aligner, &mut producers, 2048, &mut rec);
        aligner.finish(&mut rec);
        rec.verify()
    }

    #[test]
    fn a_lane_added_between_two_polls_takes_part_from_the_first_frame() {
        let seen = lane_added_after_a_poll(true);
        assert_eq!(seen[&0].0, 2048);
        assert_eq!(seen[&1].0, 2048);
        // Without the hold the first poll emits lane 0's audio alone: lane 1's is late.
        let seen = lane_added_after_a_poll(false);
        assert_eq!(seen[&0].0, 2048);
        assert_eq!(seen.get(&1).map_or(0, |l| l.0), 0);
    }

    #[test]
    fn held_audio_is_all_delivered_in_random_block_sizes() {
        let mut rng = SmallRng::seed_from_u64(17);
        let (mut aligner, mut producers) = aligner_with(3);
        aligner.hold_audio_one_poll();
        let mut rec = Recorder::default();
        let mut next = [0i64; 3];
        let end = 100_000;
        while next.iter().any(|&n| n < end) {
            let lane = rng.gen_range(0..3);
            let lowest = *next.iter().min().unwrap();
            if next[lane] >= end || next[lane] > lowest + 16_000 {
                continue;
            }
            let frames = rng.gen_range(1..=4096).min((end - next[lane]) as usize);
            push(
                &mut producers[lane],
                lane as LaneId,
                1,
                next[lane],
                frames,
                true,
            );
            next[lane] += frames as i64;
            if rng.gen_bool(0.3) {
                aligner.poll(&mut rec);
            }
        }
        stop(&mut aligner, &mut producers, end, &mut rec);
        aligner.finish(&mut rec);
        let seen = rec.verify();
        for id in 0..3 {
            assert_eq!(seen[&id].0, 100_000, "lane {id}");
        }
        assert!(rec.chunks.iter().all(|c| c.3.iter().all(|l| l.1)));
    }

    #[test]
    fn a_render_far_faster_than_the_core_still_drains_by_polls_alone() {
        // Two tiny lanes (16384 frames, 40 headers of room) fed 200000 frames unpolled: 16000
        // get through, the rest is dropped (the first 8 drops leave markers, then the header
        // ring is full too), and the next block that gets through, far past the window, says
        // how many frames were dropped before it. Polls alone (no finish, no stall) must move
        // on to it and end the run at the stop.
        let mut aligner = Aligner::new(AlignerConfig::default());
        aligner.hold_audio_one_poll();
        let mut producers = Vec::new();
        for id in 0..2 {
            let (tx, rx) = lane_pair(LaneConfig {
                capacity_frames: 16_384,
                capacity_headers: 40,
            });
            aligner.add_lane(id, rx);
            producers.push(tx);
        }
        let mut rec = Recorder::default();
        for block in 0..400 {
            for (id, tx) in producers.iter_mut().enumerate() {
                push(tx, id as LaneId, 1, block * 500, 500, true);
            }
        }
        for block in 400..420 {
            for (id, tx) in producers.iter_mut().enumerate() {
                push(tx, id as LaneId, 1, block * 500, 500, true);
            }
            aligner.poll(&mut rec);
        }
        for (id, tx) in producers.iter_mut().enumerate() {
            push(tx, id as LaneId, 0, 210_000, 128, false);
        }
        for _ in 0..8 {
            aligner.poll(&mut rec);
        }
        assert_eq!(rec.epochs.len(), 1, "the stop ended the run");
        assert_eq!(rec.epochs[0].reason, EpochEnd::Transport);
        assert_eq!(rec.epochs[0].end_pos_samples, 210_000);
        let seen = rec.verify();
        for id in 0..2 {
            assert_eq!(seen[&id].0, 16_000 + 9_500, "lane {id}");
        }
    }

    #[test]
    fn a_quiet_lane_is_still_let_go_after_one_window() {
        let (mut aligner, mut producers) = aligner_with(2);
        aligner.hold_audio_one_poll();
        let mut rec = Recorder::default();
        play(
            &mut aligner,
            &mut producers,
            &[512, 512],
            1,
            0,
            10_240,
            &mut rec,
        );
        play(
            &mut aligner,
            &mut producers[..1],
            &[512],
            1,
            10_240,
            100_000,
            &mut rec,
        );
        let window = AlignerConfig::default().window_frames as i64;
        let emitted: i64 = rec.chunks.iter().map(|c| c.2 as i64).sum();
        assert!(
            emitted >= 100_000 - window - 2 * 512,
            "emission kept going: {emitted}"
        );
        aligner.end_epoch_if_stalled(&mut rec);
        let seen = rec.verify();
        assert_eq!(seen[&0].0, 100_000);
        assert_eq!(seen[&1].0, 10_240);
    }
}
