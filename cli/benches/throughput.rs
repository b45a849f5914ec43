//! The checker's speed next to its references, side by side in one run on the same generated
//! files: the full check (what `stemcheck check DIR` runs), a plain decode of the files with the
//! checker's own decoder (one thread, file after file), `sox FILES -n vol 1` (a reference decode, when
//! sox is installed) and an ffmpeg null test (the stems mixed with the inverted mix into
//! `astats`, when ffmpeg is installed). Rounds are interleaved (each round times every method
//! once, in a rotating order) and each figure is the median over the rounds, so that another job
//! on the machine slows every method alike. Targets (issue 13): the check within 2x the decode
//! and at least 5x faster than the ffmpeg null test. Also the check's peak memory.
//!
//! Run with `cargo bench -p stemcheck-cli --bench throughput`. Environment:
//! `STEMCHECK_BENCH_SIZES` the deliveries, as `STEMSxSECONDS` separated by commas (default
//! `5x20,12x240`; ten 10-minute stems: `10x600`), `STEMCHECK_BENCH_ROUNDS` the rounds (default
//! 5), `STEMCHECK_BENCH_KEEP=1` keeps the files (for profiling) and prints where.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use stemcheck_cli::decode::AudioReader;
use stemcheck_testkit::{Stereo, render_song};

const RATE: u32 = 48_000;
/// Stems per rendered song (the test kit's song has five).
const STEMS_PER_SONG: usize = 5;
/// Target: the check costs at most this many times the decode.
const MAX_CHECK_OVER_DECODE: f64 = 2.0;
/// Target: the check is at least this many times faster than the ffmpeg null test.
const MIN_FFMPEG_OVER_CHECK: f64 = 5.0;
/// Frames per read in the plain decode (the checker's own block).
const DECODE_BLOCK_FRAMES: usize = 8192;

/// One delivery to measure.
#[derive(Debug, Clone, Copy)]
struct Size {
    stems: usize,
    seconds: f32,
}

fn sizes() -> Vec<Size> {
    let text = std::env::var("STEMCHECK_BENCH_SIZES").unwrap_or_else(|_| "5x20,12x240".into());
    text.split(',')
        .map(|s| {
            let (stems, seconds) = s
                .trim()
                .split_once('x')
                .expect("STEMCHECK_BENCH_SIZES: STEMSxSECONDS,...");
            Size {
                stems: stems.parse().expect("a number of stems"),
                seconds: seconds.parse().expect("a length in seconds"),
            }
        })
        .collect()
}

fn write_wav(path: &Path, audio: &Stereo) {
    stemcheck_testkit::wav::write_wav(path, audio, RATE, stemcheck_testkit::wav::WavFormat::Int24)
        .unwrap();
}

/// Writes `size.stems` stems and their mix into `dir`, a song (five stems) at a time so that
/// the generator's memory stays that of one song. Every stem is scaled by one over the number
/// of songs, so that the mix of several never clips.
fn write_delivery(dir: &Path, size: Size) {
    std::fs::create_dir_all(dir).unwrap();
    let songs = size.stems.div_ceil(STEMS_PER_SONG);
    let scale = 1.0 / songs as f32;
    let mut mix: Option<Stereo> = None;
    for seed in 0..songs as u64 {
        // A proper ending (faded, then silent): the delivery is clean, so that the check runs
        // its usual path (one pass; a delivery that nulls needs no offset search).
        let song = render_song(seed, RATE as f32, size.seconds).with_ending(1.0, 0.5);
        let take = (size.stems - seed as usize * STEMS_PER_SONG).min(STEMS_PER_SONG);
        for stem in song.stems.iter().take(take) {
            let audio: Stereo = stem
                .audio
                .clone()
                .map(|c| c.iter().map(|x| x * scale).collect());
            let index = seed as usize * STEMS_PER_SONG;
            write_wav(&dir.join(format!("Song_{}{index}.wav", stem.name)), &audio);
            match &mut mix {
                None => mix = Some(audio),
                Some(m) => {
                    for c in 0..2 {
                        m[c].iter_mut().zip(&audio[c]).for_each(|(m, x)| *m += x);
                    }
                }
            }
        }
    }
    write_wav(&dir.join("Song_Mix.wav"), &mix.unwrap());
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Whether `program` can be started at all.
fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// The methods timed, in the order of the first round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Check,
    Decode,
    Sox,
    Ffmpeg,
}

impl Method {
    fn label(self) -> &'static str {
        match self {
            Method::Check => "full check (stemcheck check DIR)",
            Method::Decode => "plain decode (checker's decoder, 1 thread)",
            Method::Sox => "sox FILES -n vol 1 (reference decode)",
            Method::Ffmpeg => "ffmpeg null test (amix + astats)",
        }
    }
}

/// The full check, as `stemcheck check DIR` runs it; returns the verdict's name.
fn run_check(dir: &Path) -> String {
    let inputs = stemcheck_cli::inputs::discover(&[dir.to_path_buf()], None).unwrap();
    let spec = stemcheck_cli::profile::Profile::Default.spec();
    let names = vec![dir.display().to_string()];
    let (report, _) =
        stemcheck_cli::check::check_with_timeline(&inputs, &spec, names, false).unwrap();
    format!("{:?}", report.verdict)
}

fn run_decode(files: &[PathBuf]) {
    let mut buffer = [Vec::new(), Vec::new()];
    for file in files {
        let mut reader = AudioReader::open(file).unwrap();
        while reader.read(&mut buffer, DECODE_BLOCK_FRAMES).unwrap() > 0 {}
    }
    std::hint::black_box(&buffer);
}

fn run_sox(files: &[PathBuf]) {
    let status = Command::new("sox")
        .args(["--no-show-progress", "--combine", "concatenate"])
        .args(files)
        // With no effect sox skips reading for a null output: `vol 1` makes it decode every
        // sample (and pass it through unchanged).
        .args(["-n", "vol", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "sox failed");
}

/// The usual null test: every stem plus the inverted mix summed unscaled, into `astats`.
fn ffmpeg_args(stems: &[PathBuf], mix: &Path) -> Vec<String> {
    let mut args: Vec<String> = ["-hide_banner", "-nostdin", "-nostats"]
        .map(String::from)
        .into();
    for file in stems.iter().map(PathBuf::as_path).chain([mix]) {
        args.push("-i".into());
        args.push(file.display().to_string());
    }
    let n = stems.len();
    let mut graph = format!("[{n}:a]volume=-1[inv];");
    for i in 0..n {
        graph.push_str(&format!("[{i}:a]"));
    }
    // normalize=0: the inputs are summed as they are (amix divides by the count otherwise).
    graph.push_str(&format!("[inv]amix=inputs={}:normalize=0,astats", n + 1));
    args.extend(["-filter_complex".into(), graph]);
    args.extend(["-f", "null", "-"].map(String::from));
    args
}

fn run_ffmpeg(args: &[String]) {
    let status = Command::new("ffmpeg")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg failed: ffmpeg {}", args.join(" "));
}

fn median(mut x: Vec<f64>) -> f64 {
    x.sort_by(f64::total_cmp);
    let n = x.len();
    if n % 2 == 1 {
        x[n / 2]
    } else {
        (x[n / 2 - 1] + x[n / 2]) / 2.0
    }
}

fn measure(size: Size, rounds: usize, sox: bool, ffmpeg: bool, keep: bool) {
    let dir = std::env::temp_dir().join(format!(
        "stemcheck-bench-{}-{}x{}",
        std::process::id(),
        size.stems,
        size.seconds
    ));
    write_delivery(&dir, size);
    let inputs = stemcheck_cli::inputs::discover(std::slice::from_ref(&dir), None).unwrap();
    let files: Vec<PathBuf> = std::iter::once(inputs.mix.clone())
        .chain(inputs.stems.iter().cloned())
        .collect();
    let ffmpeg_args = ffmpeg_args(&inputs.stems, &inputs.mix);
    let mut methods = vec![Method::Check, Method::Decode];
    if sox {
        methods.push(Method::Sox);
    }
    if ffmpeg {
        methods.push(Method::Ffmpeg);
    }
    // Read every file once, so that every method finds them in the page cache.
    run_decode(&files);
    // Reset the peak-memory mark (Linux), so that it measures the checking from here on (the
    // plain decode holds a block per file; sox and ffmpeg are other processes).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = peak_rss_mb();
    let mut times: Vec<Vec<f64>> = methods.iter().map(|_| Vec::new()).collect();
    let mut verdict = String::new();
    for round in 0..rounds {
        for k in 0..methods.len() {
            let index = (round + k) % methods.len();
            let start = Instant::now();
            match methods[index] {
                Method::Check => verdict = run_check(&dir),
                Method::Decode => run_decode(&files),
                Method::Sox => run_sox(&files),
                Method::Ffmpeg => run_ffmpeg(&ffmpeg_args),
            }
            times[index].push(start.elapsed().as_secs_f64());
        }
    }
    let after = peak_rss_mb();
    if keep {
        println!("(files kept in {})", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }

    let medians: Vec<f64> = times.into_iter().map(median).collect();
    let of = |m: Method| methods.iter().position(|&x| x == m).map(|i| medians[i]);
    let audio_seconds = f64::from(size.seconds) * files.len() as f64;
    println!(
        "{} stems of {} s + mix (24-bit stereo, 48 kHz), median of {rounds} interleaved rounds; verdict {verdict}:",
        size.stems, size.seconds
    );
    for (method, seconds) in methods.iter().zip(&medians) {
        println!(
            "  {:<44}{seconds:8.3} s  ({:6.0}x real time)",
            method.label(),
            audio_seconds / seconds
        );
    }
    let check = of(Method::Check).unwrap_or(f64::NAN);
    let decode = of(Method::Decode).unwrap_or(f64::NAN);
    let verdict_of = |ok: bool| if ok { "met" } else { "NOT met" };
    let over_decode = check / decode;
    println!(
        "  check / decode      : {over_decode:5.2}x  (target <= {MAX_CHECK_OVER_DECODE}x: {})",
        verdict_of(over_decode <= MAX_CHECK_OVER_DECODE)
    );
    match of(Method::Sox) {
        Some(sox) => println!("  check / sox decode  : {:5.2}x", check / sox),
        None => println!("  check / sox decode  : sox is not installed"),
    }
    match of(Method::Ffmpeg) {
        Some(ffmpeg) => {
            let faster = ffmpeg / check;
            println!(
                "  ffmpeg / check      : {faster:5.2}x  (target >= {MIN_FFMPEG_OVER_CHECK}x: {})",
                verdict_of(faster >= MIN_FFMPEG_OVER_CHECK)
            );
        }
        None => println!("  ffmpeg / check      : ffmpeg is not installed"),
    }
    if let (Some(before), Some(after)) = (before, after) {
        println!(
            "  peak memory         : {after:5.1} MB while checking (resident before: {before:.1} MB)"
        );
    }
}

fn main() {
    let rounds: usize = std::env::var("STEMCHECK_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
        .max(1);
    let keep = std::env::var("STEMCHECK_BENCH_KEEP").is_ok_and(|v| v == "1");
    let sox = installed("sox");
    let ffmpeg = installed("ffmpeg");
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!(
            "load average before: {} (2 cores: repeat when it is high)",
            load.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    for size in sizes() {
        measure(size, rounds, sox, ffmpeg, keep);
    }
}
