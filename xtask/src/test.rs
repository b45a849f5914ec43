//! `cargo xtask test`: the whole test suite in one command.
//!
//! 1. Builds the plugin in debug with nice-plug's `assert_process_allocs` (any allocation in
//!    `process()` aborts) and copies it to `target/test-plugin/`, where the host tests in
//!    `tests/` load it (`STEMCHECK_TEST_PLUGIN`), and as a VST3 bundle
//!    (`target/test-plugin/Stemcheck.vst3`, `STEMCHECK_TEST_VST3`) for the Ardour end-to-end
//!    test. Copies, because the workspace test build below rebuilds the library without the
//!    feature. Ardour (Debian package `ardour`) and DawDreamer (PyPI `dawdreamer`, the second
//!    real VST3 host, `tests/tests/dawdreamer.rs`) are installed when missing.
//! 2. Runs `cargo test --workspace` (extra arguments are passed on), in a shared-memory
//!    namespace of its own (`STEMCHECK_SHM_TAG`), removed afterwards.
//! 3. Compiles the benchmarks, so they cannot rot.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::install::{cargo, workspace_root};

pub fn run(args: Vec<String>) -> Result<()> {
    let root = workspace_root()?;
    std::env::set_current_dir(&root)?;
    crate::system::ensure()?;
    crate::system::ensure_packages(crate::system::TEST_PACKAGES)?;
    ensure_dawdreamer()?;

    run_cargo(&[
        "build",
        "--package",
        "stemcheck-plugin",
        "--features",
        "assert_process_allocs",
    ])?;
    let built = root
        .join("target/debug")
        .join(library_name("stemcheck_plugin"));
    let test_dir = root.join("target/test-plugin");
    std::fs::create_dir_all(&test_dir)?;
    let test_plugin = test_dir.join(library_name("stemcheck_test_plugin"));
    std::fs::copy(&built, &test_plugin)
        .with_context(|| format!("copying {} to {}", built.display(), test_plugin.display()))?;
    // One library carries both the CLAP and the VST3 entry points; a VST3 bundle is that
    // library in a fixed folder layout.
    let vst3 = test_dir.join("Stemcheck.vst3");
    let vst3_module = vst3.join(vst3_module_path("Stemcheck"));
    std::fs::create_dir_all(vst3_module.parent().unwrap())?;
    std::fs::copy(&built, &vst3_module)
        .with_context(|| format!("copying {} to {}", built.display(), vst3_module.display()))?;

    // Every test binary runs even when one fails, so that one run shows every failure.
    let mut test_args = vec!["test", "--workspace", "--no-fail-fast"];
    test_args.extend(args.iter().map(String::as_str));
    // The tests' instances (and the hosts they start) meet in a shared-memory namespace of
    // their own: never in a DAW's running on this machine, and its segments go afterwards.
    let tag = format!("xtask_test_{}", std::process::id());
    let status = Command::new(cargo())
        .args(&test_args)
        .env("STEMCHECK_TEST_PLUGIN", &test_plugin)
        .env("STEMCHECK_TEST_VST3", &vst3)
        .env(SHM_TAG_ENV, &tag)
        .status()
        .context("running cargo test")?;
    remove_shared_segments(&tag);
    if !status.success() {
        bail!("tests failed");
    }
    run_cargo(&[
        "bench",
        "--package",
        "stemcheck-bus",
        "--package",
        "stemcheck-analysis",
        "--package",
        "stemcheck-cli",
        "--no-run",
    ])?;
    Ok(())
}

/// The PyPI packages (and Python modules) the DawDreamer test imports: the host, and numpy for
/// its generated stems (DawDreamer's wheel does not pull it in).
const PYTHON_MODULES: &[&str] = &["dawdreamer", "numpy"];

/// Installs DawDreamer and numpy from PyPI with pip when `python3` cannot import them. Debian's system
/// Python refuses `pip install` outside a virtual environment ("externally managed"): then it
/// is installed with `--break-system-packages` (a package of its own, which apt does not own).
fn ensure_dawdreamer() -> Result<()> {
    let importable = || {
        Command::new("python3")
            .args(["-c", &format!("import {}", PYTHON_MODULES.join(", "))])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if importable() {
        return Ok(());
    }
    let names = PYTHON_MODULES.join(" ");
    eprintln!("Installing DawDreamer (pip install {names})");
    let pip = |extra: &[&str]| {
        Command::new("python3")
            .args(["-m", "pip", "install", "--quiet"])
            .args(extra)
            .args(PYTHON_MODULES)
            .output()
            .context("running python3 -m pip (install python3-pip)")
    };
    let first = pip(&[])?;
    if !first.status.success() {
        let stderr = String::from_utf8_lossy(&first.stderr);
        if !stderr.contains("externally-managed-environment") {
            bail!("pip install {names} failed:\n{stderr}");
        }
        let second = pip(&["--break-system-packages"])?;
        if !second.status.success() {
            bail!(
                "pip install --break-system-packages {names} failed:\n{}",
                String::from_utf8_lossy(&second.stderr)
            );
        }
    }
    if !importable() {
        bail!("{names} installed, but python3 cannot import them");
    }
    Ok(())
}

/// The environment variable that isolates a shared-memory namespace (`stemcheck_live`'s).
const SHM_TAG_ENV: &str = "STEMCHECK_SHM_TAG";

/// Removes the segments the test run left under namespace `tag` and the tags tests made from
/// it (Linux keeps POSIX shared memory as files in `/dev/shm`, named
/// `stemcheck-<uid>-<tag>[_<more>]-...`).
fn remove_shared_segments(tag: &str) {
    let Ok(entries) = std::fs::read_dir("/dev/shm") else {
        return;
    };
    let infix = format!("-{tag}");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("stemcheck-") && name.contains(&infix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn run_cargo(args: &[&str]) -> Result<()> {
    let status = Command::new(cargo())
        .args(args)
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed", args.join(" "));
    }
    Ok(())
}

/// Where a VST3 bundle keeps its module, relative to the bundle.
fn vst3_module_path(name: &str) -> String {
    if cfg!(windows) {
        format!("Contents/x86_64-win/{name}.vst3")
    } else if cfg!(target_os = "macos") {
        format!("Contents/MacOS/{name}")
    } else {
        format!("Contents/{}-linux/{name}.so", std::env::consts::ARCH)
    }
}

fn library_name(stem: &str) -> String {
    if cfg!(windows) {
        format!("{stem}.dll")
    } else if cfg!(target_os = "macos") {
        format!("lib{stem}.dylib")
    } else {
        format!("lib{stem}.so")
    }
}
