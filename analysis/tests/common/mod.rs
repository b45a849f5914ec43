//! Shared helpers: run the analyzer over generated stems and a master.

#![allow(dead_code)]

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use stemcheck_analysis::StemInput;
use stemcheck_analysis::{
    Analyzer, AnalyzerConfig, Block, Finding, FindingKind, Measurements, Severity, SignalAudio,
};
use stemcheck_testkit::{Song, Stereo, render_song};

pub const RATE: f32 = 48_000.0;

/// The song all accuracy tests start from.
pub fn song(seconds: f32) -> Song {
    render_song(7, RATE, seconds)
}

pub struct Outcome {
    pub findings: Vec<Finding>,
    pub measurements: Measurements,
}

impl Outcome {
    pub fn kinds(&self) -> Vec<FindingKind> {
        self.findings.iter().map(|f| f.kind).collect()
    }

    pub fn find(&self, kind: FindingKind) -> Option<&Finding> {
        self.findings.iter().find(|f| f.kind == kind)
    }

    pub fn expect(&self, kind: FindingKind) -> &Finding {
        self.find(kind)
            .unwrap_or_else(|| panic!("no {kind} finding in {:#?}", self.findings))
    }

    /// Warnings and errors, by kind and stems.
    pub fn problems(&self) -> Vec<(FindingKind, Vec<String>)> {
        self.findings
            .iter()
            .filter(|f| f.severity >= Severity::Warning)
            .map(|f| (f.kind, f.stems.clone()))
            .collect()
    }

    pub fn stem(&self, name: &str) -> &stemcheck_analysis::StemMeasurements {
        self.measurements
            .stems
            .iter()
            .find(|s| s.name == name)
            .unwrap()
    }
}

/// How to cut the audio into blocks.
#[derive(Clone, Copy)]
pub enum Blocks {
    Fixed(usize),
    Random(u64),
}

/// Runs the analyzer over `master` and `stems` (all the same length).
pub fn analyse(master: &Stereo, stems: &[(&str, &Stereo)], blocks: Blocks) -> Outcome {
    analyse_with(master, stems, blocks, AnalyzerConfig::default(), usize::MAX)
}

/// The same, stopping after `limit` frames.
pub fn analyse_with(
    master: &Stereo,
    stems: &[(&str, &Stereo)],
    blocks: Blocks,
    config: AnalyzerConfig,
    limit: usize,
) -> Outcome {
    analyse_at(RATE, master, stems, blocks, config, limit)
}

/// The same at `rate_hz`.
pub fn analyse_at(
    rate_hz: f32,
    master: &Stereo,
    stems: &[(&str, &Stereo)],
    blocks: Blocks,
    config: AnalyzerConfig,
    limit: usize,
) -> Outcome {
    let mut analyzer = Analyzer::new(rate_hz, config);
    for (i, (name, _)) in stems.iter().enumerate() {
        analyzer.set_stem_name(i as u32, name);
    }
    let len = master[0].len().min(limit);
    let mut rng = SmallRng::seed_from_u64(match blocks {
        Blocks::Random(seed) => seed,
        Blocks::Fixed(_) => 0,
    });
    let mut pos = 0;
    while pos < len {
        let size = match blocks {
            Blocks::Fixed(n) => n,
            Blocks::Random(_) => {
                if rng.gen_bool(0.1) {
                    rng.gen_range(0..4)
                } else {
                    rng.gen_range(1..=8192)
                }
            }
        }
        .min(len - pos);
        let inputs: Vec<StemInput<'_>> = stems
            .iter()
            .enumerate()
            .map(|(i, (_, audio))| StemInput {
                id: i as u32,
                audio: Some(SignalAudio::stereo(
                    &audio[0][pos..pos + size],
                    &audio[1][pos..pos + size],
                )),
            })
            .collect();
        analyzer.process(&Block {
            num_frames: size,
            master: Some(SignalAudio::stereo(
                &master[0][pos..pos + size],
                &master[1][pos..pos + size],
            )),
            stems: &inputs,
        });
        pos += size;
    }
    analyzer.finish();
    Outcome {
        findings: analyzer.findings().to_vec(),
        measurements: analyzer.measurements(),
    }
}

/// The song's stems as (name, audio) pairs, with `f` applied to the one called `name`.
pub fn stems_with<'a>(
    song: &'a Song,
    replaced: &'a [(&'a str, Stereo)],
) -> Vec<(&'a str, &'a Stereo)> {
    song.stems
        .iter()
        .map(|s| {
            let audio = replaced
                .iter()
                .find(|(n, _)| *n == s.name)
                .map_or(&s.audio, |(_, a)| a);
            (s.name, audio)
        })
        .collect()
}
