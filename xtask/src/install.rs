//! `cargo xtask install`: builds the release bundles and copies them where hosts look for
//! plugins, then installs the `stemcheck` command with `cargo install`.
//!
//! Per-user plugin folders (override with `STEMCHECK_CLAP_DIR` / `STEMCHECK_VST3_DIR`):
//! - Linux: `~/.clap`, `~/.vst3`
//! - macOS: `~/Library/Audio/Plug-Ins/CLAP`, `~/Library/Audio/Plug-Ins/VST3`
//! - Windows: `%LOCALAPPDATA%\Programs\Common\CLAP`, `%LOCALAPPDATA%\Programs\Common\VST3`

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

pub fn run(args: Vec<String>) -> Result<()> {
    if let Some(unknown) = args.first() {
        bail!("`cargo xtask install` takes no arguments (got `{unknown}`)");
    }
    let root = workspace_root()?;
    crate::system::ensure()?;
    nice_plug_xtask::main_with_args(
        "cargo xtask",
        ["bundle", "stemcheck-plugin", "--release"].map(String::from),
    )?;
    let bundled = root.join("target").join("bundled");
    let (clap_dir, vst3_dir) = plugin_dirs()?;
    for (bundle, dir) in [("Stemcheck.clap", &clap_dir), ("Stemcheck.vst3", &vst3_dir)] {
        let from = bundled.join(bundle);
        let to = dir.join(bundle);
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        replace(&from, &to).with_context(|| format!("installing {}", to.display()))?;
        println!("Installed {}", to.display());
    }

    if root.join("cli").join("Cargo.toml").exists() {
        let status = Command::new(cargo())
            .args(["install", "--locked", "--force", "--path"])
            .arg(root.join("cli"))
            .status()
            .context("running cargo install")?;
        if !status.success() {
            bail!("cargo install of the stemcheck command failed");
        }
    }
    Ok(())
}

pub fn workspace_root() -> Result<PathBuf> {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .context("xtask has no parent folder")
}

pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

fn plugin_dirs() -> Result<(PathBuf, PathBuf)> {
    let home = || -> Result<PathBuf> {
        std::env::var_os("HOME")
            .or_else(|| std::env::var_os("USERPROFILE"))
            .map(PathBuf::from)
            .context("no home folder (HOME is not set)")
    };
    let from_env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let (clap, vst3) = if cfg!(target_os = "macos") {
        let base = home()?.join("Library/Audio/Plug-Ins");
        (base.join("CLAP"), base.join("VST3"))
    } else if cfg!(windows) {
        let base = std::env::var_os("LOCALAPPDATA")
            .map(PathBuf::from)
            .context("LOCALAPPDATA is not set")?
            .join("Programs")
            .join("Common");
        (base.join("CLAP"), base.join("VST3"))
    } else {
        (home()?.join(".clap"), home()?.join(".vst3"))
    };
    Ok((
        from_env("STEMCHECK_CLAP_DIR").unwrap_or(clap),
        from_env("STEMCHECK_VST3_DIR").unwrap_or(vst3),
    ))
}

/// Copies a file or folder over whatever is at `to`.
pub fn replace(from: &Path, to: &Path) -> Result<()> {
    if to.is_dir() {
        std::fs::remove_dir_all(to)?;
    } else if to.exists() {
        std::fs::remove_file(to)?;
    }
    copy_recursively(from, to)
}

fn copy_recursively(from: &Path, to: &Path) -> Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_recursively(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else {
        std::fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
    }
    Ok(())
}
