//! The naming rule: `TrackName_Stem` names carrying one track name, no working names ("FINAL",
//! "v2", "Audio_27"), no two files for one stem. A mix without the track name is only a note;
//! a suggested name uses the track name the stems carry.

use stemcheck_analysis::{Finding, Severity, Unit};

use super::{Delivery, Rule, file_finding};
use crate::inputs::version_soup;

/// The track name suggested when the delivery carries none.
const PLACEHOLDER_TRACK: &str = "Song";

pub(super) fn naming_findings(d: &Delivery<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let inputs = d.inputs;
    let spec = d.spec;
    let paths: Vec<&std::path::PathBuf> = std::iter::once(&inputs.mix)
        .chain(inputs.stems.iter())
        .collect();
    let names = inputs.names();
    // The track name most files carry (the stems' own, when they agree).
    let mut tracks: Vec<String> = names.iter().filter_map(|n| n.track.clone()).collect();
    let common = tracks
        .iter()
        .max_by_key(|t| tracks.iter().filter(|u| u == t).count())
        .cloned();
    let suggested_track = common
        .clone()
        .unwrap_or_else(|| PLACEHOLDER_TRACK.to_string());
    let mut untitled_stems = 0;
    for (index, (path, name)) in paths.iter().zip(&names).enumerate() {
        let is_mix = index == 0;
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let base = path
            .file_stem()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("wav");
        if name.track.is_none() {
            let stem = if is_mix { "Mix" } else { name.stem.as_str() };
            let suggestion = format!(
                "Rename it {suggested_track}_{}.{ext}",
                stem.replace(' ', "_")
            );
            let severity = if spec.require_naming || (!is_mix && common.is_some()) {
                Some(Severity::Warning)
            } else if is_mix && (common.is_some() || inputs.stems.len() > 1) {
                Some(Severity::Info)
            } else {
                None
            };
            match severity {
                Some(severity) => out.push(file_finding(
                    Rule::Naming,
                    severity,
                    vec![if is_mix {
                        "Mix".to_string()
                    } else {
                        name.stem.clone()
                    }],
                    0.0,
                    Unit::None,
                    format!("{file} is not named TrackName_Stem."),
                    suggestion,
                )),
                None if !is_mix => untitled_stems += 1,
                None => {}
            }
        }
        if let Some(what) = version_soup(&base) {
            out.push(file_finding(
                Rule::Naming,
                Severity::Warning,
                vec![name.stem.clone()],
                0.0,
                Unit::None,
                format!("{file} carries a working name ({what})."),
                "Give delivery files clean names: TrackName_Stem, no FINAL, v2, copy or Audio_27."
                    .into(),
            ));
        }
    }
    if untitled_stems > 1 {
        out.push(file_finding(
            Rule::Naming,
            Severity::Info,
            vec![],
            untitled_stems as f64,
            Unit::Count,
            format!("{untitled_stems} stems carry no track name (TrackName_Stem)."),
            format!("Prefix every file with the track name, e.g. {PLACEHOLDER_TRACK}_Drums.wav."),
        ));
    }
    tracks.sort_by_key(|t| t.to_lowercase());
    tracks.dedup_by_key(|t| t.to_lowercase());
    if tracks.len() > 1 {
        out.push(file_finding(
            Rule::Naming,
            Severity::Warning,
            vec![],
            tracks.len() as f64,
            Unit::Count,
            format!(
                "The files carry {} different track names: {}.",
                tracks.len(),
                tracks.join(", ")
            ),
            "Use one track name for every file of the delivery.".into(),
        ));
    }
    let mut stems: Vec<String> = names[1..].iter().map(|n| n.stem.to_lowercase()).collect();
    stems.sort();
    let mut duplicates: Vec<String> = stems
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0].clone())
        .collect();
    duplicates.dedup();
    for dup in duplicates {
        out.push(file_finding(
            Rule::Naming,
            Severity::Error,
            vec![dup.clone()],
            0.0,
            Unit::None,
            format!("Two files claim the same stem \"{dup}\"."),
            "Give every stem a distinct role (Drums, Bass, ...), or merge them.".into(),
        ));
    }
    out
}
