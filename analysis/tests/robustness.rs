//! Same answers whatever the block sizes; fast answers for gross defects; no crash or poisoned
//! result on hostile input.

mod common;

use common::*;
use proptest::prelude::*;
use stemcheck_analysis::StemInput;
use stemcheck_analysis::{Analyzer, AnalyzerConfig, Block, FindingKind, SignalAudio, Verdict};
use stemcheck_testkit::process::delay_samples;
use stemcheck_testkit::{gain_db, sum};

fn summary(out: &Outcome) -> Vec<(FindingKind, Vec<String>, String)> {
    out.findings
        .iter()
        .map(|f| (f.kind, f.stems.clone(), format!("{:.3}", f.value)))
        .collect()
}

#[test]
fn random_block_sizes_give_the_same_findings_as_the_whole_signal() {
    let song = song(6.0);
    // A song with two defects at once: a late stem and a quieter one.
    let late = delay_samples(&song.stem("Bass").audio, 96);
    let quiet = gain_db(&song.stem("Lead").audio, -1.5);
    let master = song.master();
    let replaced = [("Bass", late), ("Lead", quiet)];
    let stems = stems_with(&song, &replaced);
    let whole = analyse(&master, &stems, Blocks::Fixed(usize::MAX));
    assert!(!whole.findings.is_empty());
    for seed in 1..4 {
        let random = analyse(&master, &stems, Blocks::Random(seed));
        assert_eq!(summary(&random), summary(&whole), "seed {seed}");
    }
}

#[test]
fn gross_defects_show_within_one_second_of_audio() {
    let song = song(6.0);
    let second = RATE as usize;
    let inverted = gain_db(&song.stem("Drums").audio, 0.0);
    let inverted = [
        inverted[0].iter().map(|x| -x).collect(),
        inverted[1].iter().map(|x| -x).collect(),
    ];
    let late = delay_samples(&song.stem("Harmony").audio, 480);
    for (name, audio, kind) in [
        ("Drums", inverted, FindingKind::StemPolarity),
        ("Harmony", late, FindingKind::StemOffset),
    ] {
        let replaced = [(name, audio)];
        let out = analyse_with(
            &song.master(),
            &stems_with(&song, &replaced),
            Blocks::Fixed(256),
            AnalyzerConfig::default(),
            second,
        );
        let f = out.expect(kind);
        assert_eq!(f.stems, vec![name.to_string()]);
    }
    // A master missing a stem entirely (the FX return routed to no stem).
    let stems: Vec<(&str, &stemcheck_testkit::Stereo)> = song
        .stems
        .iter()
        .filter(|s| s.name != "FX")
        .map(|s| (s.name, &s.audio))
        .collect();
    let out = analyse_with(
        &song.master(),
        &stems,
        Blocks::Fixed(256),
        AnalyzerConfig::default(),
        second,
    );
    assert!(
        out.find(FindingKind::MissingFxReturn).is_some()
            || out.find(FindingKind::MissingContent).is_some(),
        "{:#?}",
        out.findings
    );
}

#[test]
fn findings_do_not_flicker_as_audio_accumulates() {
    let song = song(8.0);
    let quiet = gain_db(&song.stem("Bass").audio, -0.8);
    let replaced = [("Bass", quiet)];
    let stems = stems_with(&song, &replaced);
    let master = song.master();
    let mut analyzer = Analyzer::new(RATE, AnalyzerConfig::default());
    for (i, (name, _)) in stems.iter().enumerate() {
        analyzer.set_stem_name(i as u32, name);
    }
    let mut history = Vec::new();
    for pos in (0..song.len()).step_by(2048) {
        let end = (pos + 2048).min(song.len());
        let inputs: Vec<StemInput<'_>> = stems
            .iter()
            .enumerate()
            .map(|(i, (_, a))| StemInput {
                id: i as u32,
                audio: Some(SignalAudio::stereo(&a[0][pos..end], &a[1][pos..end])),
            })
            .collect();
        analyzer.process(&Block {
            num_frames: end - pos,
            master: Some(SignalAudio::stereo(
                &master[0][pos..end],
                &master[1][pos..end],
            )),
            stems: &inputs,
        });
        history.push(
            analyzer
                .findings()
                .iter()
                .any(|f| f.kind == FindingKind::StemGain),
        );
    }
    // Once on, it stays on.
    let first = history.iter().position(|&on| on).expect("found at all");
    assert!(history[first..].iter().all(|&on| on), "{history:?}");
    assert!(first * 2048 < RATE as usize, "found within a second");
}

#[test]
fn nan_inf_and_subnormals_do_not_poison_the_analysis() {
    let song = song(4.0);
    let mut master = song.master();
    let mut stems: Vec<(&str, stemcheck_testkit::Stereo)> = song
        .stems
        .iter()
        .map(|s| (s.name, s.audio.clone()))
        .collect();
    for i in (0..song.len()).step_by(1009) {
        let poison = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e-42][(i / 1009) % 4];
        // The same sample of the master and of every stem is lost: sanitised to silence in
        // all of them, the rest must still null.
        master[0][i] = poison;
        for (_, audio) in &mut stems {
            audio[0][i] = poison;
        }
    }
    let refs: Vec<(&str, &stemcheck_testkit::Stereo)> =
        stems.iter().map(|(n, a)| (*n, a)).collect();
    let out = analyse(&master, &refs, Blocks::Fixed(1000));
    let m = &out.measurements;
    assert!(m.null_residual_db.is_finite());
    for f in &out.findings {
        assert!(f.value.is_finite(), "{f:?}");
    }
    for s in &m.stems {
        assert!(
            s.gain_db.is_finite() && s.offset_samples.is_finite() && s.levels.peak_dbfs.is_finite()
        );
    }
    assert!(
        out.find(FindingKind::Nulls).is_some(),
        "{:#?}",
        out.findings
    );
}

#[test]
fn degenerate_inputs_are_handled() {
    let song = song(3.0);
    let master = song.master();
    let stem = &song.stems[0].audio;

    // Zero-length blocks, a master with no stems.
    let mut alone = Analyzer::new(RATE, AnalyzerConfig::default());
    alone.process(&Block {
        num_frames: 0,
        master: None,
        stems: &[],
    });
    alone.process(&Block {
        num_frames: master[0].len(),
        master: Some(SignalAudio::stereo(&master[0], &master[1])),
        stems: &[],
    });
    alone.finish();
    assert!(
        alone
            .findings()
            .iter()
            .any(|f| f.kind == FindingKind::NoStems)
    );

    // Stems with no master.
    let mut orphans = Analyzer::new(RATE, AnalyzerConfig::default());
    let inputs = [StemInput {
        id: 1,
        audio: Some(SignalAudio::stereo(&stem[0], &stem[1])),
    }];
    orphans.process(&Block {
        num_frames: stem[0].len(),
        master: None,
        stems: &inputs,
    });
    orphans.finish();
    assert!(
        orphans
            .findings()
            .iter()
            .any(|f| f.kind == FindingKind::NoMaster)
    );

    // A mono stem against a stereo master: the mono stem is the mid of a centred source.
    let mono: Vec<f32> = stem[0]
        .iter()
        .zip(&stem[1])
        .map(|(l, r)| 0.5 * (l + r))
        .collect();
    let centred = [mono.clone(), mono.clone()];
    let mut mixed = Analyzer::new(RATE, AnalyzerConfig::default());
    let inputs = [StemInput {
        id: 1,
        audio: Some(SignalAudio::mono(&mono)),
    }];
    mixed.process(&Block {
        num_frames: mono.len(),
        master: Some(SignalAudio::stereo(&centred[0], &centred[1])),
        stems: &inputs,
    });
    mixed.finish();
    assert_eq!(mixed.verdict(), Verdict::Nulls, "{:#?}", mixed.findings());

    // Absurd sample rates are clamped, not trusted.
    let _ = Analyzer::new(f32::NAN, AnalyzerConfig::default());
    let _ = Analyzer::new(0.0, AnalyzerConfig::default());
    let _ = Analyzer::new(1e9, AnalyzerConfig::default());
}

#[test]
fn a_stem_missing_for_a_stretch_is_not_a_defect() {
    let song = song(6.0);
    let master = song.master();
    let mut analyzer = Analyzer::new(RATE, AnalyzerConfig::default());
    for (i, s) in song.stems.iter().enumerate() {
        analyzer.set_stem_name(i as u32, s.name);
    }
    let len = song.len();
    for pos in (0..len).step_by(1024) {
        let end = (pos + 1024).min(len);
        // The lead's audio is missing (dropped) between 2 and 3 seconds.
        let lead_missing = pos >= 2 * RATE as usize && pos < 3 * RATE as usize;
        let inputs: Vec<StemInput<'_>> = song
            .stems
            .iter()
            .enumerate()
            .map(|(i, s)| StemInput {
                id: i as u32,
                audio: (!(s.name == "Lead" && lead_missing))
                    .then(|| SignalAudio::stereo(&s.audio[0][pos..end], &s.audio[1][pos..end])),
            })
            .collect();
        analyzer.process(&Block {
            num_frames: end - pos,
            master: Some(SignalAudio::stereo(
                &master[0][pos..end],
                &master[1][pos..end],
            )),
            stems: &inputs,
        });
    }
    analyzer.finish();
    assert_eq!(
        analyzer.verdict(),
        Verdict::Nulls,
        "{:#?}",
        analyzer.findings()
    );
}

#[test]
fn sample_rate_mismatch_is_a_finding_with_the_rates() {
    let f = stemcheck_analysis::sample_rate_mismatch(vec!["Drums".into()], 48_000.0, &[44_100.0]);
    assert_eq!(f.kind, FindingKind::SampleRateMismatch);
    assert!(f.message.contains("44100 Hz") && f.message.contains("48000 Hz"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Arbitrary (finite or not) audio and block sizes never panic and never produce a
    /// non-finite value in a finding.
    #[test]
    fn arbitrary_input_never_panics(
        samples in proptest::collection::vec(proptest::num::f32::ANY, 1..20_000),
        block in 1usize..5000,
        stems in 0usize..4,
    ) {
        let mut analyzer = Analyzer::new(44_100.0, AnalyzerConfig::default());
        for pos in (0..samples.len()).step_by(block) {
            let end = (pos + block).min(samples.len());
            let chunk = &samples[pos..end];
            let inputs: Vec<StemInput<'_>> = (0..stems).map(|i| StemInput { id: i as u32, audio: Some(SignalAudio::mono(chunk)) }).collect();
            analyzer.process(&Block { num_frames: chunk.len(), master: Some(SignalAudio::mono(chunk)), stems: &inputs });
        }
        analyzer.finish();
        for f in analyzer.findings() {
            prop_assert!(f.value.is_finite());
        }
        let m = analyzer.measurements();
        prop_assert!(m.null_residual_db.is_finite());
    }
}

#[test]
fn gain_of_a_stem_on_one_side_only_shows_sum_helper_works() {
    // Sanity of the test kit: summing stems reproduces the master exactly.
    let song = song(1.0);
    let refs: Vec<&stemcheck_testkit::Stereo> = song.stems.iter().map(|s| &s.audio).collect();
    assert_eq!(sum(&refs), song.master());
}
