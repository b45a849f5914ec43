//! The checker's throughput next to the time to merely decode the same files, measured side by
//! side in one run (target: the full check costs at most 2x the decode), and its peak memory.
//!
//! Run with `cargo bench -p stemcheck-cli --bench throughput`. `STEMCHECK_BENCH_SECONDS`
//! sets the song length (default 60 s; ten 10-minute stems: 600).

use std::path::Path;
use std::time::Instant;

use stemcheck_cli::decode::AudioReader;
use stemcheck_testkit::{Stereo, render_song, sum};

const RATE: u32 = 48_000;
const STEMS: usize = 10;

fn write_wav(path: &Path, audio: &Stereo) {
    stemcheck_testkit::wav::write_wav(path, audio, RATE, stemcheck_testkit::wav::WavFormat::Int24)
        .unwrap();
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() {
    let seconds: f32 = std::env::var("STEMCHECK_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60.0);
    let dir = std::env::temp_dir().join(format!("stemcheck-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Write the files a song at a time, so that the generator's memory is not what is measured.
    let mut mix: Option<Stereo> = None;
    for seed in 0..STEMS.div_ceil(5) as u64 {
        let song = render_song(seed, RATE as f32, seconds);
        for stem in &song.stems {
            let index = seed as usize * 5;
            write_wav(
                &dir.join(format!("Song_{}{}.wav", stem.name, index)),
                &stem.audio,
            );
            mix = Some(match mix.take() {
                None => stem.audio.clone(),
                Some(m) => sum(&[&m, &stem.audio]),
            });
        }
    }
    write_wav(&dir.join("Song_Mix.wav"), &mix.take().unwrap());
    // Reset the peak-memory mark (Linux), so that it measures the checking only.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = peak_rss_mb();

    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let audio_seconds = f64::from(seconds) * files.len() as f64;
    let mut decode_best = f64::MAX;
    let mut check_best = f64::MAX;
    for _ in 0..3 {
        // Decode only.
        let start = Instant::now();
        let mut buffer = [Vec::new(), Vec::new()];
        for file in &files {
            let mut reader = AudioReader::open(file).unwrap();
            while reader.read(&mut buffer, 8192).unwrap() > 0 {}
        }
        decode_best = decode_best.min(start.elapsed().as_secs_f64());
        // The full check.
        let start = Instant::now();
        let inputs = stemcheck_cli::inputs::discover(std::slice::from_ref(&dir), None).unwrap();
        let spec = stemcheck_cli::profile::Profile::Default.spec();
        let report = stemcheck_cli::check::check(&inputs, &spec, vec![], false).unwrap();
        std::hint::black_box(report);
        check_best = check_best.min(start.elapsed().as_secs_f64());
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{} files of {seconds} s (24-bit stereo, 48 kHz), best of 3:",
        files.len()
    );
    println!(
        "  decode only : {decode_best:7.3} s  ({:7.0}x real time)",
        audio_seconds / decode_best
    );
    println!(
        "  full check  : {check_best:7.3} s  ({:7.0}x real time)",
        audio_seconds / check_best
    );
    println!(
        "  ratio       : {:7.2}x the decode (target <= 2x)",
        check_best / decode_best
    );
    if let (Some(before), Some(after)) = (before, peak_rss_mb()) {
        println!("  peak memory : {after:7.1} MB while checking (resident before: {before:.1} MB)");
    }
}
