//! Ardour, headless, as a real VST3 host: installs the Stemcheck VST3 bundle built by
//! `cargo xtask test` into a private plugin folder, has Ardour's scanner index it, and runs
//! `tests/ardour/session.lua` in `ardour7-lua` on the dummy audio backend. Everything Ardour
//! writes (configuration, scan cache, session, Stemcheck's reports) stays in one scratch
//! folder, so runs neither see nor touch the user's own Ardour set-up.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::host::{LiveReport, parse_live_report};

/// Environment variable with the VST3 bundle to test (set by `cargo xtask test`).
pub const VST3_ENV: &str = "STEMCHECK_TEST_VST3";

/// Ardour's headless Lua interpreter (Debian package `ardour`).
pub const ARDOUR_LUA: &str = "ardour7-lua";
const ARDOUR_LIB_DIR: &str = "/usr/lib/ardour7";

/// Longest an Ardour session may take before the test gives up on it (it normally needs the
/// play time plus about five seconds).
const SESSION_TIMEOUT: Duration = Duration::from_secs(240);

/// What one Ardour run left behind.
#[derive(Debug)]
pub struct ArdourRun {
    /// The session script's `e2e:` lines, in order.
    pub log: Vec<String>,
    /// Every report Stemcheck wrote, oldest first (file name, parsed).
    pub reports: Vec<(String, LiveReport)>,
}

/// What the session should contain.
#[derive(Debug, Clone)]
pub struct Session {
    /// Seconds of transport play.
    pub seconds: f32,
    /// The track whose output is polarity-inverted after its Stemcheck instance, if any.
    pub invert: Option<&'static str>,
    /// Tracks sent to a reverb bus whose return goes to the master without a stem.
    pub reverb_sends: &'static [&'static str],
}

/// The VST3 bundle under test.
pub fn vst3_bundle() -> PathBuf {
    crate::host::built_by_xtask(VST3_ENV, "VST3 bundle")
}

/// Builds a scratch Ardour set-up in `scratch`, scans the plugin, runs the session, and returns
/// what happened. Panics with Ardour's output on any failure.
pub fn run_session(scratch: &Path, session: &Session) -> ArdourRun {
    let _ = std::fs::remove_dir_all(scratch);
    let vst3_dir = scratch.join("vst3");
    let config = scratch.join("config");
    let cache = scratch.join("cache");
    let reports = scratch.join("reports");
    let scripts = config.join("ardour7/scripts");
    for dir in [&vst3_dir, &cache, &reports, &scripts] {
        std::fs::create_dir_all(dir).unwrap();
    }

    // The bundle, with its library dated in the past: Ardour ignores a scan cache entry that is
    // not newer than the module, and a module written this very second is not.
    let bundle = vst3_dir.join("Stemcheck.vst3");
    copy_dir(&vst3_bundle(), &bundle);
    let ten_seconds_ago = SystemTime::now() - Duration::from_secs(10);
    for module in files_under(&bundle) {
        std::fs::File::options()
            .write(true)
            .open(&module)
            .and_then(|f| f.set_modified(ten_seconds_ago))
            .unwrap();
    }
    scan(&bundle, scratch);

    let lua_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ardour");
    for script in ["stemcheck_test_source.lua", "stemcheck_test_invert.lua"] {
        std::fs::copy(lua_dir.join(script), scripts.join(script)).unwrap();
    }

    let mut command = Command::new(ARDOUR_LUA);
    command
        .arg(lua_dir.join("session.lua"))
        .envs(ardour_env(scratch))
        .env("VST3_PATH", &vst3_dir)
        .env(
            "STEMCHECK_SHM_TAG",
            crate::support::isolated_shm_tag("ardour"),
        )
        .env("STEMCHECK_REPORT_DIR", &reports)
        .env("STEMCHECK_E2E_SESSION", scratch.join("session"))
        .env("STEMCHECK_E2E_SECONDS", session.seconds.to_string())
        .env("STEMCHECK_E2E_INVERT", session.invert.unwrap_or(""))
        .env("STEMCHECK_E2E_REVERB", session.reverb_sends.join(","))
        .stdin(Stdio::null());
    let output = run_with_timeout(command, SESSION_TIMEOUT, &scratch.join("ardour.log"));
    let log: Vec<String> = output
        .lines()
        .filter_map(|l| l.strip_prefix("e2e: "))
        .map(str::to_owned)
        .collect();
    assert!(
        log.iter().any(|l| l == "closed") && !log.iter().any(|l| l.starts_with("error")),
        "the Ardour session did not run to the end:\n{output}"
    );

    let mut found: Vec<(String, LiveReport)> = files_under(&reports)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, parse_live_report(&std::fs::read(&p).unwrap()))
        })
        .collect();
    found.sort_by_key(|(_, r)| r.run.number);
    ArdourRun {
        log,
        reports: found,
    }
}

/// Ardour's own folders pointed into the scratch folder.
fn ardour_env(scratch: &Path) -> [(&'static str, PathBuf); 2] {
    [
        ("XDG_CONFIG_HOME", scratch.join("config")),
        ("XDG_CACHE_HOME", scratch.join("cache")),
    ]
}

/// Runs Ardour's VST3 scanner on `bundle` (Ardour never scans by itself when headless) and
/// checks that it indexed Stemcheck and blacklisted nothing.
fn scan(bundle: &Path, scratch: &Path) {
    let scanner = Path::new(ARDOUR_LIB_DIR).join("ardour-vst3-scanner");
    let output = Command::new(&scanner)
        .args(["-f", "-q"])
        .arg(bundle)
        .envs(ardour_env(scratch))
        .env("LD_LIBRARY_PATH", ARDOUR_LIB_DIR)
        .output()
        .unwrap_or_else(|e| panic!("could not run {}: {e}", scanner.display()));
    let cache_files = files_under(&scratch.join("cache"));
    let indexed = cache_files.iter().any(|p| {
        p.extension().is_some_and(|e| e == "v3i")
            && std::fs::read_to_string(p).is_ok_and(|s| s.contains("name=\"Stemcheck\""))
    });
    let blacklisted = cache_files.iter().any(|p| {
        p.to_string_lossy().contains("blacklist")
            && std::fs::read_to_string(p).is_ok_and(|s| s.contains("Stemcheck"))
    });
    assert!(
        output.status.success() && indexed && !blacklisted,
        "Ardour's VST3 scanner did not index Stemcheck (status {}, indexed {indexed}, \
         blacklisted {blacklisted}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `command` to completion with its output in `log_path`, killing it after `timeout`;
/// returns the output. Panics on a timeout or a failure exit.
fn run_with_timeout(mut command: Command, timeout: Duration, log_path: &Path) -> String {
    let log = std::fs::File::create(log_path).unwrap();
    let mut child = command
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("could not start {ARDOUR_LUA} (Debian package `ardour`; `cargo xtask test` installs it): {e}")
        });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::fs::read_to_string(log_path).unwrap_or_default();
    match status {
        Some(s) if s.success() => output,
        Some(s) => panic!("{ARDOUR_LUA} failed ({s}):\n{output}"),
        None => panic!("{ARDOUR_LUA} did not finish within {timeout:?}:\n{output}"),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in
        std::fs::read_dir(from).unwrap_or_else(|e| panic!("reading {}: {e}", from.display()))
    {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every file below `dir` (none if it does not exist).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}
