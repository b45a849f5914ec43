//! Which files to check, which one is the mix, and what each stem is called, from the command
//! line and the file names alone.

use std::path::{Path, PathBuf};

use crate::decode::InputError;

/// Extensions taken from a folder (files named explicitly are tried whatever their name).
pub const AUDIO_EXTENSIONS: &[&str] = &["wav", "wave", "aif", "aiff", "aifc", "flac"];
/// Words in a file name that mark the mix, most telling first.
pub const MIX_WORDS: &[&str] = &["mix", "mixdown", "master", "full", "2mix", "main"];

/// The files of one delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    /// The mixdown.
    pub mix: PathBuf,
    /// How the mix was chosen ("--mix", or the word its name contains).
    pub mix_chosen_by: String,
    /// Every other file, in order (sorted within each folder).
    pub stems: Vec<PathBuf>,
}

/// Why the inputs cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub enum InputsError {
    /// A file or folder problem.
    File(InputError),
    /// Nothing to check, or no mix.
    Usage(String),
}

impl std::fmt::Display for InputsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(e) => e.fmt(f),
            Self::Usage(m) => f.write_str(m),
        }
    }
}

fn is_audio_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Lowercase words of a file name (split at anything not a letter or digit).
pub fn words(name: &str) -> Vec<String> {
    name.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

/// Expands folders into their audio files and picks the mix.
pub fn discover(paths: &[PathBuf], mix: Option<&Path>) -> Result<Inputs, InputsError> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| {
            InputsError::File(InputError {
                path: path.clone(),
                message: if e.kind() == std::io::ErrorKind::NotFound {
                    "does not exist".into()
                } else {
                    e.to_string()
                },
            })
        })?;
        if meta.is_dir() && !is_audio_name(path) {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| {
                    InputsError::File(InputError {
                        path: path.clone(),
                        message: e.to_string(),
                    })
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    is_audio_name(p)
                        && !p
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(InputsError::File(InputError {
                    path: path.clone(),
                    message: "holds no audio files (.wav, .aif, .aiff, .flac)".into(),
                }));
            }
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    files.dedup();

    let (mix, chosen_by) = match mix {
        Some(mix) => (mix.to_path_buf(), "--mix".to_string()),
        None => {
            let mut best: Option<(usize, &PathBuf)> = None;
            for file in &files {
                let stem = file
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_default();
                let w = words(&stem);
                if let Some(rank) = MIX_WORDS.iter().position(|m| w.iter().any(|x| x == m))
                    && best.is_none_or(|(r, _)| rank < r)
                {
                    best = Some((rank, file));
                }
            }
            match best {
                Some((rank, file)) => (
                    file.clone(),
                    format!("its name says \"{}\"", MIX_WORDS[rank]),
                ),
                None => {
                    return Err(InputsError::Usage(
                        "no mix found: no file name contains mix, master or full; name it, or pass --mix FILE".into(),
                    ));
                }
            }
        }
    };
    let stems: Vec<PathBuf> = files.into_iter().filter(|f| !same_file(f, &mix)).collect();
    if stems.is_empty() {
        return Err(InputsError::Usage(format!(
            "no stems to check besides the mix {}",
            mix.display()
        )));
    }
    Ok(Inputs {
        mix,
        mix_chosen_by: chosen_by,
        stems,
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b || (a.canonicalize().ok().is_some() && a.canonicalize().ok() == b.canonicalize().ok())
}

/// A file name taken apart: `TrackName_Stem.ext`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StemName {
    /// The track (song) name, if the name has one.
    pub track: Option<String>,
    /// The stem's name ("Drums", "Kick In").
    pub stem: String,
}

/// The parts of a file name: split at underscores (else at the first " - "), with a leading
/// track number ("01", "01 ", "01-") left out: it numbers the file, it does not name it.
fn name_parts(path: &Path) -> Vec<String> {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut parts: Vec<String> = if name.contains('_') {
        name.split('_').map(|p| p.trim().to_string()).collect()
    } else if let Some((a, b)) = name.split_once(" - ") {
        vec![a.trim().to_string(), b.trim().to_string()]
    } else {
        vec![name.trim().to_string()]
    };
    parts.retain(|p| !p.is_empty());
    let count = parts.len();
    if let Some(first) = parts.first().cloned() {
        let rest = first.trim_start_matches(|c: char| c.is_ascii_digit());
        let numbered = rest.len() < first.len();
        if numbered && rest.is_empty() && count > 1 {
            parts.remove(0);
        } else if numbered && rest.starts_with([' ', '-', '.']) {
            let rest = rest.trim_start_matches([' ', '-', '.']);
            if !rest.is_empty() {
                parts[0] = rest.to_string();
            }
        }
    }
    parts
}

/// The names of one delivery's files, each read against the others: the track name is the
/// first part of the name that more than half of the files share (`Cue12` in `Cue12_Drums`);
/// the stem is the rest, its words kept (`01_Kick_In` is the stem "Kick In" of no track when no
/// track name is shared). A file whose first part differs carries another track name.
pub fn delivery_names(paths: &[&Path]) -> Vec<StemName> {
    let parts: Vec<Vec<String>> = paths.iter().map(|p| name_parts(p)).collect();
    let candidate = |p: &Vec<String>| (p.len() > 1).then(|| p[0].to_lowercase());
    let mut common: Option<String> = None;
    for p in &parts {
        if let Some(c) = candidate(p) {
            let count = parts
                .iter()
                .filter(|q| candidate(q).as_ref() == Some(&c))
                .count();
            if 2 * count > parts.len() {
                common = Some(c);
                break;
            }
        }
    }
    parts
        .into_iter()
        .map(|p| match &common {
            Some(_) if p.len() > 1 => StemName {
                track: Some(p[0].clone()),
                stem: p[1..].join(" "),
            },
            _ => StemName {
                track: None,
                stem: p.join(" "),
            },
        })
        .collect()
}

/// One file's name read on its own (see [`delivery_names`] for a delivery's files together).
pub fn stem_name(path: &Path) -> StemName {
    delivery_names(&[path]).remove(0)
}

impl Inputs {
    /// The names of the mix and the stems, in that order, read together.
    pub fn names(&self) -> Vec<StemName> {
        let all: Vec<&Path> = std::iter::once(self.mix.as_path())
            .chain(self.stems.iter().map(PathBuf::as_path))
            .collect();
        delivery_names(&all)
    }
}

/// Words that mark a version or working name, not a delivery name.
pub fn version_soup(name: &str) -> Option<String> {
    let lower = name.to_lowercase();
    for w in words(&lower) {
        let bad = matches!(
            w.as_str(),
            "final" | "copy" | "new" | "old" | "bounce" | "export" | "untitled" | "test"
        ) || (w.len() >= 2
            && w.starts_with('v')
            && w[1..].chars().all(|c| c.is_ascii_digit()))
            || (w.starts_with("take") && w[4..].chars().all(|c| c.is_ascii_digit()) && w.len() > 4);
        if bad {
            return Some(w);
        }
    }
    // "Audio_27", "Audio 3-1": a DAW's default track name.
    if lower.contains("audio_") || lower.contains("audio ") || lower.starts_with("track") {
        return Some("default track name".into());
    }
    if lower.contains('(') && lower.contains(')') {
        return Some("a copy marker in brackets".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_track_and_stem() {
        assert_eq!(
            stem_name(Path::new("/x/Song_Drums.wav")),
            StemName {
                track: Some("Song".into()),
                stem: "Drums".into()
            }
        );
        assert_eq!(
            stem_name(Path::new("My Song - Lead Vox.aif")),
            StemName {
                track: Some("My Song".into()),
                stem: "Lead Vox".into()
            }
        );
        assert_eq!(
            stem_name(Path::new("Bass.wav")),
            StemName {
                track: None,
                stem: "Bass".into()
            }
        );
    }

    #[test]
    fn names_are_read_against_the_delivery() {
        let names = |files: &[&str]| {
            let paths: Vec<&Path> = files.iter().map(Path::new).collect();
            delivery_names(&paths)
                .into_iter()
                .map(|n| (n.track, n.stem))
                .collect::<Vec<_>>()
        };
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            names(&["mix.wav", "Cue12_Drums.wav", "Cue12_Bass.wav"]),
            vec![
                (None, "mix".into()),
                (some("Cue12"), "Drums".into()),
                (some("Cue12"), "Bass".into())
            ]
        );
        // A multitrack: leading numbers are not names, and no track name is shared.
        assert_eq!(
            names(&[
                "05_Mix.wav",
                "01_Kick_In.wav",
                "02_Kick_Sub.wav",
                "03_Bass_Amp.wav",
                "04_Gtr_Amp.wav"
            ]),
            vec![
                (None, "Mix".into()),
                (None, "Kick In".into()),
                (None, "Kick Sub".into()),
                (None, "Bass Amp".into()),
                (None, "Gtr Amp".into())
            ]
        );
        assert_eq!(
            names(&["Song_Mix.wav", "Song_Lead_Vox.wav", "Other_FX.wav"]),
            vec![
                (some("Song"), "Mix".into()),
                (some("Song"), "Lead Vox".into()),
                (some("Other"), "FX".into())
            ]
        );
    }

    #[test]
    fn version_soup_is_spotted() {
        for name in [
            "Song_Drums_FINAL",
            "Song_Bass_v2",
            "Audio_27",
            "Song_Keys copy",
            "Song_FX (1)",
        ] {
            assert!(version_soup(name).is_some(), "{name}");
        }
        for name in ["Song_Drums", "Song_Vocals", "Night Drive_Bass"] {
            assert!(version_soup(name).is_none(), "{name}");
        }
    }

    #[test]
    fn the_mix_is_found_by_name() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "Song_Drums.wav",
            "Song_Mix.wav",
            "Song_Bass.wav",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let inputs = discover(&[dir.path().to_path_buf()], None).unwrap();
        assert!(inputs.mix.ends_with("Song_Mix.wav"));
        assert_eq!(inputs.stems.len(), 2);
        let none = tempfile::tempdir().unwrap();
        std::fs::write(none.path().join("a_Drums.wav"), b"x").unwrap();
        assert!(matches!(
            discover(&[none.path().to_path_buf()], None),
            Err(InputsError::Usage(_))
        ));
    }
}
