//! The checker under bad input: thousands of malformed files made by a seeded generator from a
//! good delivery (truncated anywhere, lying chunk sizes, huge declared lengths, zeroed or
//! random fields, random bytes, empty files, a container under another's extension, a folder
//! named like a WAV, a dangling link, unreadable permissions). Every case must end in a clear
//! error that names the broken file, exit code 2, and no output file (not even a partial or
//! temporary one) - never a panic or a hang.
//!
//! Most cases call the checker's library in-process (fast, and a panic is caught and reported
//! as a failure); a sample of them runs the `stemcheck` binary with a time limit, for the exit
//! code, the one-line message and the untouched output folder.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use stemcheck_cli::inputs::discover;
use stemcheck_cli::profile::Profile;
use stemcheck_testkit::render_song;
use stemcheck_testkit::wav::{WavFormat, write_wav};

/// Cases checked in-process.
const IN_PROCESS_CASES: usize = 5000;
/// Cases run through the binary.
const BINARY_CASES: usize = 300;
/// Longest one binary run may take before it counts as a hang.
const HANG_LIMIT: Duration = Duration::from_secs(30);
const RATE: u32 = 48_000;

/// The good delivery every case starts from: two stems and the mix, a quarter second each.
struct Delivery {
    /// Holds the files (deleted when dropped).
    _dir: tempfile::TempDir,
    files: Vec<PathBuf>,
}

fn good_delivery() -> Delivery {
    let song = render_song(5, RATE as f32, 0.25);
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (name, audio, format) in [
        ("Song_Drums.wav", &song.stems[0].audio, WavFormat::Int24),
        ("Song_Bass.wav", &song.stems[1].audio, WavFormat::Float32),
        ("Song_Mix.wav", &song.master(), WavFormat::Int16),
    ] {
        let path = dir.path().join(name);
        write_wav(&path, audio, RATE, format).unwrap();
        files.push(path);
    }
    Delivery { _dir: dir, files }
}

/// One malformed case: which file of the delivery is broken, and how.
enum Damage {
    /// The file's bytes replaced.
    Bytes(Vec<u8>),
    /// The file's bytes, under another extension.
    Renamed(String, Vec<u8>),
    /// A folder where the file should be.
    Folder,
    /// A symbolic link to nowhere.
    DanglingLink,
    /// The file with no read permission (only meaningful when not running as root).
    Unreadable,
}

/// Makes case `seed` from `good` (the file's original bytes), with a description.
fn damage(seed: u64, good: &[u8]) -> (Damage, String) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let len = good.len();
    let mut bytes = good.to_vec();
    let put_u32 = |bytes: &mut Vec<u8>, at: usize, value: u32| {
        if at + 4 <= bytes.len() {
            bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
        }
    };
    // Offsets of the RIFF size, the fmt chunk's size and fields, and the data chunk's size in
    // the files hound writes (fmt with the extensible layout is longer: find "data").
    let data_at = good.windows(4).position(|w| w == b"data").unwrap_or(36);
    // The format chunk's fields (after "fmt " and its size): channels, rate, byte rate,
    // block align, bits.
    let fmt_at = good.windows(4).position(|w| w == b"fmt ").unwrap_or(12) + 8;
    let fields = [
        (2, 2, "channels"),
        (4, 4, "sample rate"),
        (8, 4, "byte rate"),
        (12, 2, "block align"),
        (14, 2, "bits"),
    ];
    let kind = rng.gen_range(0..12);
    let what = match kind {
        // Truncated anywhere: in the header, in the chunk list, in the audio.
        0 => {
            let at = rng.gen_range(1..len);
            bytes.truncate(at);
            format!("truncated to {at} of {len} bytes")
        }
        1 => {
            let at = rng.gen_range(1..=data_at + 8);
            bytes.truncate(at);
            format!("truncated in the header, at {at}")
        }
        // Lying chunk sizes: larger than the truth, or absurd.
        2 => {
            let v = rng.gen_range(len as u32..u32::MAX);
            put_u32(&mut bytes, 4, v);
            format!("RIFF size {v}")
        }
        3 => {
            let v = rng.gen_range(len as u32..=u32::MAX);
            put_u32(&mut bytes, data_at + 4, v);
            format!("data size {v}")
        }
        4 => {
            let v: u32 = rng.gen_range(0..u32::MAX);
            put_u32(&mut bytes, fmt_at - 4, v);
            format!("fmt size {v}")
        }
        5 => {
            put_u32(&mut bytes, data_at + 4, 0);
            "data size 0".to_string()
        }
        // A format field zeroed or made random (never its own value).
        6 => {
            let (offset, width, name) = fields[rng.gen_range(0..fields.len())];
            let at = fmt_at + offset;
            let old = bytes[at..at + width].to_vec();
            loop {
                for b in &mut bytes[at..at + width] {
                    *b = if rng.gen_bool(0.3) { 0 } else { rng.r#gen() };
                }
                if bytes[at..at + width] != old[..] {
                    break;
                }
            }
            format!("{name} set to {:?}", &bytes[at..at + width])
        }
        // Random bytes, of random length, or an empty file.
        7 => {
            bytes = (0..rng.gen_range(1..4096)).map(|_| rng.r#gen()).collect();
            format!("{} random bytes", bytes.len())
        }
        8 => {
            bytes.clear();
            "empty".to_string()
        }
        // A header that claims a huge file, with the audio gone.
        9 => {
            bytes.truncate(data_at + 8);
            put_u32(&mut bytes, 4, u32::MAX - 8);
            put_u32(&mut bytes, data_at + 4, u32::MAX - 64);
            "huge declared length, no audio".to_string()
        }
        // Another container's extension, or another container's magic under ours.
        10 => {
            let ext = ["flac", "aiff", "aif"][rng.gen_range(0..3)];
            return (
                Damage::Renamed(ext.into(), bytes),
                format!("WAV named .{ext}"),
            );
        }
        _ => {
            return match rng.gen_range(0..4) {
                0 => (Damage::Folder, "a folder".into()),
                1 => (Damage::DanglingLink, "a dangling link".into()),
                2 => (Damage::Unreadable, "unreadable".into()),
                _ => {
                    bytes[0..4].copy_from_slice(b"fLaC");
                    (Damage::Bytes(bytes), "FLAC magic on WAV data".into())
                }
            };
        }
    };
    (Damage::Bytes(bytes), what)
}

/// Lays out case `seed` in a fresh folder: the good files hard-linked, one of them damaged.
/// Returns the folder, the damaged file's path, and whether the case can be judged (an
/// unreadable file cannot be made as root, who reads everything).
fn lay_out(seed: u64, delivery: &Delivery, root: &Path) -> (PathBuf, PathBuf, Damage, String) {
    let dir = root.join(format!("case-{seed}"));
    std::fs::create_dir_all(&dir).unwrap();
    let victim = (seed as usize) % delivery.files.len();
    let good = std::fs::read(&delivery.files[victim]).unwrap();
    let (damage, what) = damage(seed, &good);
    let mut broken = PathBuf::new();
    for (i, file) in delivery.files.iter().enumerate() {
        let target = dir.join(file.file_name().unwrap());
        if i != victim {
            std::fs::hard_link(file, &target).unwrap();
            continue;
        }
        broken = target.clone();
        match &damage {
            Damage::Bytes(bytes) => std::fs::write(&target, bytes).unwrap(),
            Damage::Renamed(ext, bytes) => {
                broken = target.with_extension(ext);
                std::fs::write(&broken, bytes).unwrap();
            }
            Damage::Folder => std::fs::create_dir(&target).unwrap(),
            Damage::DanglingLink => {
                std::os::unix::fs::symlink(dir.join("nowhere.wav"), &target).unwrap()
            }
            Damage::Unreadable => {
                std::fs::write(&target, &good).unwrap();
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o000)).unwrap();
            }
        }
    }
    (dir, broken, damage, what)
}

/// Whether this process can be refused a read (root reads any file whatever its mode).
fn permissions_apply(probe_dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let probe = probe_dir.join("permission-probe");
    std::fs::write(&probe, b"x").unwrap();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o000)).unwrap();
    let refused = std::fs::File::open(&probe)
        .and_then(|mut f| f.read(&mut [0u8; 1]))
        .is_err();
    let _ = std::fs::remove_file(&probe);
    refused
}

/// The file name the error must mention for a case.
fn named(broken: &Path) -> String {
    broken.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn thousands_of_malformed_inputs_each_give_an_error_naming_the_file() {
    let delivery = good_delivery();
    let root = tempfile::tempdir().unwrap();
    let permissions = permissions_apply(root.path());
    let spec = Profile::Default.spec();
    let mut judged = 0;
    let mut failures = Vec::new();
    for seed in 0..IN_PROCESS_CASES as u64 {
        let (dir, broken, damage, what) = lay_out(seed, &delivery, root.path());
        if matches!(damage, Damage::Unreadable) && !permissions {
            let _ = std::fs::remove_dir_all(&dir);
            continue;
        }
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(|| {
            let inputs = discover(std::slice::from_ref(&dir), None).map_err(|e| match e {
                stemcheck_cli::inputs::InputsError::File(e) => e.to_string(),
                stemcheck_cli::inputs::InputsError::Usage(m) => m,
            })?;
            stemcheck_cli::check::check(&inputs, &spec, vec![], false)
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        let message = match outcome {
            Err(_) => {
                failures.push(format!("case {seed} ({what}) panicked"));
                continue;
            }
            Ok(Ok(())) => {
                failures.push(format!(
                    "case {seed}: {} ({what}) was accepted",
                    named(&broken)
                ));
                continue;
            }
            Ok(Err(message)) => message,
        };
        if !message.contains(&named(&broken)) {
            failures.push(format!(
                "case {seed} ({what}): the error does not name {}: {message}",
                named(&broken)
            ));
        }
        assert!(
            started.elapsed() < HANG_LIMIT,
            "case {seed} took {:?}",
            started.elapsed()
        );
        judged += 1;
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(judged > IN_PROCESS_CASES * 9 / 10, "{judged} cases judged");
}

#[test]
fn the_binary_exits_2_with_one_line_and_writes_nothing_for_malformed_inputs() {
    let delivery = good_delivery();
    let root = tempfile::tempdir().unwrap();
    let permissions = permissions_apply(root.path());
    // Seeds beyond the in-process ones: new cases.
    for seed in (1_000_000..).take(BINARY_CASES) {
        let (dir, broken, damage, what) = lay_out(seed, &delivery, root.path());
        if matches!(damage, Damage::Unreadable) && !permissions {
            continue;
        }
        let out = root.path().join(format!("out-{seed}"));
        std::fs::create_dir_all(&out).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_stemcheck"))
            .arg("check")
            .arg(&dir)
            .arg("--json")
            .arg(out.join("report.json"))
            .arg("--markdown")
            .arg(out.join("report.md"))
            .arg("--plot")
            .arg(out.join("report.png"))
            .arg("--quiet")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > HANG_LIMIT {
                let _ = child.kill();
                panic!("case {seed} ({what}) hung");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert_eq!(status.code(), Some(2), "case {seed} ({what}): {stderr}");
        assert!(!stderr.contains("panicked"), "case {seed}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "case {seed}: one line: {stderr}");
        assert!(
            stderr.starts_with("stemcheck: ") && stderr.contains(&named(&broken)),
            "case {seed}: {stderr}"
        );
        let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
        assert!(
            left.is_empty(),
            "case {seed}: outputs left behind: {left:?}"
        );
    }
}
