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
    std::fs::create_dir_all(dir)?;
    let temp = dir.join(format!(".{stem}.{}.{ext}.tmp", std::process::id()));
    let result = (|| {
        {
            let mut file = std::fs::File::create(&temp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
        }
        for attempt in 1..1000 {
            let name = if attempt == 1 {
                format!("{stem}.{ext}")
            } else {
                format!("{stem}-{attempt}.{ext}")
            };
            let target = dir.join(name);
            if target.exists() {
                continue;
            }
            // `hard_link` fails if the target exists, so a report written between the check
            // and here is never replaced.
            match std::fs::hard_link(&temp, &target) {
                Ok(()) => return Ok(target),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(_) => {
                    // Some file systems have no hard links: rename (checked just above).
                    std::fs::rename(&temp, &target)?;
                    return Ok(target);
                }
            }
        }
        Err(std::io::Error::other("too many reports with the same name"))
    })();
    let _ = std::fs::remove_file(&temp);
    result
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

    #[test]
    fn atomic_writes_never_replace_an_earlier_report() {
        let dir = tempfile::tempdir().unwrap();
        let first = write_atomically(dir.path(), "r", "json", b"one").unwrap();
        let second = write_atomically(dir.path(), "r", "json", b"two").unwrap();
        assert_ne!(first, second);
        assert_eq!(std::fs::read(&first).unwrap(), b"one");
        assert_eq!(std::fs::read(&second).unwrap(), b"two");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
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
