//! System libraries the build needs on Linux (X11 and OpenGL for the editor, ALSA and JACK for
//! nice-plug's standalone backends). On Debian and Ubuntu they are installed when missing (as
//! root) or the exact command is printed; elsewhere nothing is checked.

use std::process::Command;

use anyhow::{Result, bail};

/// Debian package names.
pub const PACKAGES: &[&str] = &[
    "pkg-config",
    "libx11-xcb-dev",
    "libxcb1-dev",
    "libxcb-icccm4-dev",
    "libxcb-dri2-0-dev",
    "libgl-dev",
    "libxcursor-dev",
    "libasound2-dev",
    "libjack-jackd2-dev",
];

/// What the test suite needs beyond the build: Ardour, the real DAW of the end-to-end test; a
/// General MIDI SoundFont and multi-sampled drum kits, the real instruments of the development
/// corpus (`corpus/`); ffmpeg and sox, the references the checker's throughput benchmark
/// (`cli/benches/throughput.rs`) times it against (an ffmpeg null test, a sox decode).
pub const TEST_PACKAGES: &[&str] = &[
    "ardour",
    "fluid-soundfont-gm",
    "avldrums.lv2-soundfont",
    "ffmpeg",
    "sox",
];

/// How long apt-get waits for the package manager's lock held by another install (apt's
/// `DPkg::Lock::Timeout`), in seconds, before it fails.
const DPKG_LOCK_TIMEOUT_SECONDS: u32 = 300;

/// Makes sure the build's system libraries are there.
pub fn ensure() -> Result<()> {
    ensure_packages(PACKAGES)
}

/// Makes sure the Debian packages `packages` are installed.
pub fn ensure_packages(packages: &[&str]) -> Result<()> {
    if !cfg!(target_os = "linux") || Command::new("dpkg").arg("--version").output().is_err() {
        return Ok(());
    }
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg")
                .args(["-s", p])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !is_root {
        bail!(
            "missing system packages: run `sudo apt-get install {}` and try again",
            missing.join(" ")
        );
    }
    eprintln!("Installing system packages: {}", missing.join(" "));
    // A fresh machine often runs unattended upgrades in its first minutes: apt-get then waits
    // for the package manager's lock (bounded) instead of failing at once.
    eprintln!(
        "(if another package install holds the dpkg lock, waiting for it up to \
         {DPKG_LOCK_TIMEOUT_SECONDS} s)"
    );
    let lock_timeout = format!("DPkg::Lock::Timeout={DPKG_LOCK_TIMEOUT_SECONDS}");
    let update = Command::new("apt-get")
        .args(["-o", &lock_timeout, "update", "-qq"])
        .status()?;
    let install = Command::new("apt-get")
        .args(["-o", &lock_timeout, "install", "-y", "-qq"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()?;
    if !update.success() || !install.success() {
        bail!(
            "could not install {} (if another package install held the dpkg lock for more than \
             {DPKG_LOCK_TIMEOUT_SECONDS} s, run the command again once it is done)",
            missing.join(" ")
        );
    }
    Ok(())
}
