//! Atomic writes that never replace an earlier report.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `dir/stem.ext` (or `stem-2.ext`, ... if taken) through a temporary file in
/// the same folder, linked into place once complete, so that a reader never sees half a report
/// and an earlier report is never replaced. Returns the final path.
pub fn write_atomically(
    dir: &Path,
    stem: &str,
    ext: &str,
    bytes: &[u8],
) -> std::io::Result<PathBuf> {
    let mut paths = write_set_atomically(dir, stem, &[(ext, bytes)])?;
    Ok(paths.remove(0))
}

/// Writes one report in several forms, `dir/stem.<ext>` for each `(ext, bytes)` of `parts`, all
/// under one name (`stem`, or `stem-2`, ... if any of them is taken), each file atomically like
/// [`write_atomically`], and the last of `parts` last: a reader watching the folder for that
/// extension (a script waiting for the `.json`, a sync tool) always finds the others complete
/// next to it. Never replaces an earlier file. Returns the final paths, in the order of `parts`.
pub fn write_set_atomically(
    dir: &Path,
    stem: &str,
    parts: &[(&str, &[u8])],
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let temps: Vec<PathBuf> = parts
        .iter()
        .map(|(ext, _)| dir.join(format!(".{stem}.{}.{ext}.tmp", std::process::id())))
        .collect();
    let result = (|| {
        for (temp, (_, bytes)) in temps.iter().zip(parts) {
            let mut file = std::fs::File::create(temp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
        }
        'names: for attempt in 1..1000 {
            let name = if attempt == 1 {
                stem.to_string()
            } else {
                format!("{stem}-{attempt}")
            };
            let targets: Vec<PathBuf> = parts
                .iter()
                .map(|(ext, _)| dir.join(format!("{name}.{ext}")))
                .collect();
            if targets.iter().any(|t| t.exists()) {
                continue;
            }
            for (index, (temp, target)) in temps.iter().zip(&targets).enumerate() {
                if !publish(temp, target)? {
                    // Taken since the check: withdraw what this name already published (never
                    // seen as a whole set: the last part is not there) and try the next name.
                    for published in &targets[..index] {
                        let _ = std::fs::remove_file(published);
                    }
                    continue 'names;
                }
            }
            return Ok(targets);
        }
        Err(std::io::Error::other("too many reports with the same name"))
    })();
    for temp in &temps {
        let _ = std::fs::remove_file(temp);
    }
    result
}

/// Puts the complete file `temp` in place as `target` unless `target` exists. Returns whether
/// it did.
fn publish(temp: &Path, target: &Path) -> std::io::Result<bool> {
    // `hard_link` fails if the target exists, so a report written between the caller's check
    // and here is never replaced.
    match std::fs::hard_link(temp, target) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(_) if target.exists() => Ok(false),
        Err(_) => {
            // Some file systems have no hard links: rename (checked just above).
            std::fs::rename(temp, target)?;
            Ok(true)
        }
    }
}

/// Writes `bytes` to exactly `path`, atomically (temporary file in the same folder, renamed
/// over the target). For outputs the user named.
pub fn write_file_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names of the files in `dir`.
    fn names_in(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect()
    }

    #[test]
    fn atomic_writes_never_replace_an_earlier_report() {
        let dir = tempfile::tempdir().unwrap();
        let first = write_atomically(dir.path(), "r", "json", b"one").unwrap();
        let second = write_atomically(dir.path(), "r", "json", b"two").unwrap();
        assert_ne!(first, second);
        assert_eq!(std::fs::read(&first).unwrap(), b"one");
        assert_eq!(std::fs::read(&second).unwrap(), b"two");
        let names = names_in(dir.path());
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    }

    #[test]
    fn a_set_shares_one_name_and_never_replaces_an_earlier_file() {
        let dir = tempfile::tempdir().unwrap();
        let parts: [(&str, &[u8]); 2] = [("md", b"# one"), ("json", b"{}")];
        let first = write_set_atomically(dir.path(), "r", &parts).unwrap();
        assert_eq!(first, [dir.path().join("r.md"), dir.path().join("r.json")]);
        // Only one of the pair is taken: the next set skips the name for both.
        std::fs::write(dir.path().join("r-2.md"), b"someone else's").unwrap();
        let second = write_set_atomically(dir.path(), "r", &parts).unwrap();
        assert_eq!(
            second,
            [dir.path().join("r-3.md"), dir.path().join("r-3.json")]
        );
        assert_eq!(
            std::fs::read(dir.path().join("r-2.md")).unwrap(),
            b"someone else's"
        );
        assert!(!dir.path().join("r-2.json").exists());
        assert_eq!(std::fs::read(&second[0]).unwrap(), b"# one");
        assert_eq!(std::fs::read(&second[1]).unwrap(), b"{}");
        let names = names_in(dir.path());
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    }

    #[test]
    fn the_last_part_of_a_set_is_published_last() {
        // A watcher that sees the JSON must find the Markdown complete: every time a JSON
        // appears, its twin is already there. Watched from another thread while sets are written.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watcher = {
            let done = done.clone();
            std::thread::spawn(move || {
                let mut checked = 0;
                while !done.load(std::sync::atomic::Ordering::Acquire) {
                    for entry in std::fs::read_dir(&path).unwrap().flatten() {
                        let json = entry.path();
                        if json.extension().is_some_and(|e| e == "json") {
                            let md = std::fs::read(json.with_extension("md"))
                                .unwrap_or_else(|e| panic!("{}: no twin ({e})", json.display()));
                            assert_eq!(md, b"# the markdown twin");
                            checked += 1;
                        }
                    }
                }
                checked
            })
        };
        for _ in 0..50 {
            write_set_atomically(
                dir.path(),
                "r",
                &[("md", b"# the markdown twin"), ("json", b"{}")],
            )
            .unwrap();
        }
        // Release pairs with the watcher's Acquire: it stops only after every set is written.
        done.store(true, std::sync::atomic::Ordering::Release);
        watcher.join().expect("the watcher found every JSON's twin");
    }

    #[test]
    fn an_unwritable_folder_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-folder");
        std::fs::write(&file, b"x").unwrap();
        assert!(write_atomically(&file, "r", "json", b"one").is_err());
        assert!(write_file_atomically(&file.join("x.json"), b"one").is_err());
    }

    #[test]
    fn named_outputs_are_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_file_atomically(&path, b"first").unwrap();
        write_file_atomically(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
    }
}
