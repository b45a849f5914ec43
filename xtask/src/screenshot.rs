//! `cargo xtask screenshot`: a picture of the dashboard with a realistic session (six stems, one
//! late, master compression missing), taken headless: the `stemcheck-demo` standalone runs under
//! Xvfb with nice-plug's dummy audio backend, and ImageMagick's `import` grabs the screen into
//! `docs/dashboard.png`. Needs Xvfb, ImageMagick and Mesa (installed on Debian when missing).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::install::{cargo, workspace_root};

/// The X display used (any free number works).
const DISPLAY: &str = ":97";
/// Seconds of the session played before the picture is taken.
const SETTLE_SECONDS: u64 = 20;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn run() -> Result<()> {
    let root = workspace_root()?;
    crate::system::ensure()?;
    crate::system::ensure_packages(&["xvfb", "imagemagick", "libgl1-mesa-dri", "x11-utils"])?;
    let status = Command::new(cargo())
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "-p",
            "stemcheck-plugin",
            "--features",
            "demo",
            "--bin",
            "stemcheck-demo",
        ])
        .status()?;
    if !status.success() {
        bail!("building stemcheck-demo failed");
    }
    let _xvfb = Killed(
        Command::new("Xvfb")
            .args([DISPLAY, "-screen", "0", "1000x900x24"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting Xvfb")?,
    );
    std::thread::sleep(Duration::from_secs(2));
    let _demo = Killed(
        Command::new(root.join("target/release/stemcheck-demo"))
            .args(["-b", "dummy"])
            .env("DISPLAY", DISPLAY)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting stemcheck-demo")?,
    );
    std::thread::sleep(Duration::from_secs(SETTLE_SECONDS));
    let out = root.join("docs/dashboard.png");
    std::fs::create_dir_all(root.join("docs"))?;
    let status = Command::new("import")
        .args(["-window", "root"])
        .arg(&out)
        .env("DISPLAY", DISPLAY)
        .status()
        .context("running import (ImageMagick)")?;
    if !status.success() {
        bail!("import failed");
    }
    println!("Wrote {}", out.display());
    Ok(())
}
