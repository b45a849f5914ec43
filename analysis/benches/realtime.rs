//! Real-time factor of the analysis core: seconds of audio analysed per wall-clock second, on
//! one thread, for 8, 32 and 128 stereo stems at 48 kHz (targets, issue 13: >= 300x for 8
//! stems, >= 50x for 128; each printed beside its figure). Run with
//! `cargo bench -p stemcheck-analysis --bench realtime`.

use std::time::Instant;

use stemcheck_analysis::StemInput;
use stemcheck_analysis::{Analyzer, AnalyzerConfig, Block, SignalAudio};
use stemcheck_testkit::{Stereo, render_song, sum};

const RATE: f32 = 48_000.0;
const SECONDS: f32 = 20.0;
const BLOCK: usize = 512;
/// Targets (issue 13): the fewest times real time for a number of stems.
const TARGETS: [(usize, f64); 2] = [(8, 300.0), (128, 50.0)];

fn main() {
    // `STEMCHECK_BENCH_STEMS=8` runs one size only (for profiling).
    let counts: Vec<usize> = match std::env::var("STEMCHECK_BENCH_STEMS") {
        Ok(v) => v.split(',').filter_map(|c| c.trim().parse().ok()).collect(),
        Err(_) => vec![8, 32, 128],
    };
    // `STEMCHECK_BENCH_RUNS=20` times more runs per size (for profiling the analysis rather than
    // the rendering of the songs); the best run is printed.
    let runs: usize = std::env::var("STEMCHECK_BENCH_RUNS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(5);
    // Distinct stems: songs from different seeds, five stems each.
    let needed = counts.iter().max().copied().unwrap_or(8).div_ceil(5) as u64;
    let songs: Vec<_> = (0..needed)
        .map(|seed| render_song(seed, RATE, SECONDS))
        .collect();
    let all: Vec<&Stereo> = songs
        .iter()
        .flat_map(|s| s.stems.iter().map(|x| &x.audio))
        .collect();
    println!(
        "{} s of audio per run, {BLOCK}-frame blocks, one thread:",
        SECONDS
    );
    println!("{:>6} {:>12} {:>14}", "stems", "wall (s)", "real-time x");
    for count in counts {
        let stems: Vec<&Stereo> = all.iter().cycle().take(count).copied().collect();
        let master = sum(&stems);
        let len = master[0].len();
        let mut best = f64::MAX;
        for _ in 0..runs.max(1) {
            let mut analyzer = Analyzer::new(RATE, AnalyzerConfig::default());
            let start = Instant::now();
            let mut pos = 0;
            while pos < len {
                let end = (pos + BLOCK).min(len);
                let inputs: Vec<StemInput<'_>> = stems
                    .iter()
                    .enumerate()
                    .map(|(i, s)| StemInput {
                        id: i as u32,
                        audio: Some(SignalAudio::stereo(&s[0][pos..end], &s[1][pos..end])),
                    })
                    .collect();
                analyzer.process(&Block {
                    num_frames: end - pos,
                    master: Some(SignalAudio::stereo(
                        &master[0][pos..end],
                        &master[1][pos..end],
                    )),
                    stems: &inputs,
                });
                pos = end;
            }
            analyzer.finish();
            std::hint::black_box(analyzer.findings());
            best = best.min(start.elapsed().as_secs_f64());
        }
        let factor = f64::from(SECONDS) / best;
        let target =
            TARGETS
                .iter()
                .find(|(stems, _)| *stems == count)
                .map_or(String::new(), |(_, min)| {
                    let met = if factor >= *min { "met" } else { "NOT met" };
                    format!("  (target >= {min:.0}x: {met})")
                });
        println!("{count:>6} {best:>12.3} {factor:>13.0}x{target}");
    }
}
