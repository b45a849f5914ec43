//! Accuracy against known ground truth: a generated song, one defect injected with known
//! parameters per test, the finding and its measured value checked.

mod common;

use common::*;
use stemcheck_analysis::{AnalyzerConfig, FindingKind};
use stemcheck_testkit::process::{Biquad, Compressor, Limiter, delay_fractional, delay_samples};
use stemcheck_testkit::{Stereo, gain_db, quantize_16bit_dithered, quantize_24bit, sum};

const SECONDS: f32 = 8.0;

mod clean {
    use super::*;

    #[test]
    fn clean_stems_null_with_no_warning() {
        let song = song(SECONDS);
        let out = analyse(&song.master(), &stems_with(&song, &[]), Blocks::Fixed(512));
        assert_eq!(out.problems(), vec![], "{:#?}", out.findings);
        out.expect(FindingKind::Nulls);
        assert!(out.measurements.null_residual_db < -100.0);
    }

    #[test]
    fn clean_24_bit_exports_null_in_random_blocks() {
        let song = song(SECONDS);
        let stems: Vec<(&str, stemcheck_testkit::Stereo)> = song
            .stems
            .iter()
            .map(|s| (s.name, quantize_24bit(&s.audio)))
            .collect();
        let master = quantize_24bit(&song.master());
        let refs: Vec<(&str, &stemcheck_testkit::Stereo)> =
            stems.iter().map(|(n, a)| (*n, a)).collect();
        let out = analyse(&master, &refs, Blocks::Random(3));
        assert_eq!(out.problems(), vec![], "{:#?}", out.findings);
        out.expect(FindingKind::Nulls);
        assert!(
            out.measurements.null_residual_db < -90.0,
            "{}",
            out.measurements.null_residual_db
        );
    }

    /// A 16-bit TPDF-dithered file's floor, per sample, in dBFS (`quantize_16bit_dithered`).
    const FLOOR_16_BIT_DBFS: f32 = -96.33;

    /// The song 40 dB down (a quiet cue), every stem and the master (at `master_db` against the
    /// sum) stored as 16-bit files, each with its own dither.
    fn quiet_16_bit(master_db: f32) -> (Stereo, Vec<(&'static str, Stereo)>) {
        let song = song(SECONDS);
        let stems: Vec<(&str, Stereo)> = song
            .stems
            .iter()
            .map(|s| (s.name, gain_db(&s.audio, -40.0)))
            .collect();
        let refs: Vec<&Stereo> = stems.iter().map(|(_, a)| a).collect();
        let master = quantize_16bit_dithered(&gain_db(&sum(&refs), master_db), 99);
        let stems = stems
            .into_iter()
            .enumerate()
            .map(|(k, (n, a))| (n, quantize_16bit_dithered(&a, k as u64)))
            .collect();
        (master, stems)
    }

    fn floors_of_16_bit() -> AnalyzerConfig {
        AnalyzerConfig {
            stem_floor_dbfs: Some(FLOOR_16_BIT_DBFS),
            master_floor_dbfs: Some(FLOOR_16_BIT_DBFS),
            ..AnalyzerConfig::default()
        }
    }

    #[test]
    fn a_quiet_16_bit_delivery_nulls_to_its_files_floor_and_the_floor_is_measured_right() {
        let (master, stems) = quiet_16_bit(0.0);
        let refs: Vec<(&str, &Stereo)> = stems.iter().map(|(n, a)| (*n, a)).collect();
        let out = analyse_with(
            &master,
            &refs,
            Blocks::Random(5),
            floors_of_16_bit(),
            usize::MAX,
        );
        let m = &out.measurements;
        // The residual is the files' dither and rounding alone: the model's floor is it.
        let floor = m.null_floor_db.expect("a floor");
        assert!(
            (m.null_residual_db - floor).abs() < 1.0,
            "residual {} dB, floor {floor} dB",
            m.null_residual_db
        );
        assert!(
            m.null_residual_db > -70.0,
            "quiet enough to be over the null"
        );
        assert_eq!(out.problems(), vec![], "{:#?}", out.findings);
        assert!(out.expect(FindingKind::Nulls).message.contains("floor"));
        // Unknown to the analysis, the same floor is a residual over the null.
        let blind = analyse(&master, &refs, Blocks::Random(5));
        assert!(
            blind.find(FindingKind::Nulls).is_none(),
            "{:#?}",
            blind.findings
        );
    }

    #[test]
    fn a_master_gain_on_a_quiet_16_bit_delivery_is_a_gain_not_a_compressor() {
        let (master, stems) = quiet_16_bit(-0.5);
        let refs: Vec<(&str, &Stereo)> = stems.iter().map(|(n, a)| (*n, a)).collect();
        let out = analyse_with(
            &master,
            &refs,
            Blocks::Random(6),
            floors_of_16_bit(),
            usize::MAX,
        );
        let gain = out.expect(FindingKind::MasterBusGain);
        assert!((gain.value + 0.5).abs() < 0.1, "{:#?}", out.findings);
        assert_eq!(
            out.problems(),
            vec![(FindingKind::MasterBusGain, vec![])],
            "{:#?}",
            out.findings
        );
    }

    #[test]
    fn silence_gaps_and_one_sided_content_still_null() {
        let mut song = song(SECONDS);
        let len = song.len();
        // Two seconds of silence in every stem, and the lead silent for the first half.
        for stem in &mut song.stems {
            for c in 0..2 {
                stem.audio[c][len / 4..len / 4 + 2 * RATE as usize].fill(0.0);
                if stem.name == "Lead" {
                    stem.audio[c][..len / 2].fill(0.0);
                }
            }
        }
        let out = analyse(&song.master(), &stems_with(&song, &[]), Blocks::Random(9));
        assert_eq!(out.problems(), vec![], "{:#?}", out.findings);
    }
}

mod timing {
    use super::*;

    fn offset_of(d: f64) -> f64 {
        let song = song(SECONDS);
        let lead = &song.stem("Lead").audio;
        let late = if d.fract() == 0.0 {
            delay_samples(lead, d as i64)
        } else {
            delay_fractional(lead, d)
        };
        let out = analyse(
            &song.master(),
            &stems_with(&song, &[("Lead", late)]),
            Blocks::Fixed(1000),
        );
        let f = out.expect(FindingKind::StemOffset);
        assert_eq!(f.stems, vec!["Lead".to_string()]);
        assert!(out.find(FindingKind::MasterLatency).is_none());
        f.value
    }

    #[test]
    fn integer_offsets_up_to_50_ms_are_exact() {
        // A stem exported d samples late carries the master's audio d samples later: its offset
        // against the master is -d (it is late).
        for d in [-2400i64, -481, -37, -1, 1, 5, 480, 2400] {
            let measured = offset_of(d as f64);
            assert_eq!(
                measured.round() as i64,
                -d,
                "delay {d}: measured {measured}"
            );
        }
    }

    #[test]
    fn fractional_offsets_within_a_tenth_of_a_sample() {
        for d in [0.3, 2.7, -0.45, -12.25] {
            let measured = offset_of(d);
            assert!((measured + d).abs() < 0.1, "delay {d}: measured {measured}");
        }
    }

    /// The stem that is off is the one the others agree it is off from, however loud: drums
    /// carrying most of the mix's energy, 0.4 samples late, are the late stem (weighted by
    /// energy, the drums were the reference and every other stem read early).
    #[test]
    fn a_fraction_off_on_the_loudest_stem_is_that_stem_s_offset() {
        let song = song(SECONDS);
        // Every other stem 9 dB down: the drums carry most of the mix.
        let quiet: Vec<(&str, Stereo)> = song
            .stems
            .iter()
            .filter(|s| s.name != "Drums")
            .map(|s| (s.name, gain_db(&s.audio, -9.0)))
            .collect();
        let master = sum(&stems_with(&song, &quiet)
            .iter()
            .map(|s| s.1)
            .collect::<Vec<_>>());
        let mut late = quiet.clone();
        late.push(("Drums", delay_fractional(&song.stem("Drums").audio, 0.4)));
        let out = analyse(&master, &stems_with(&song, &late), Blocks::Fixed(1000));
        let drums_share_db = out.stem("Drums").energy_share_db;
        assert!(
            drums_share_db > -3.0,
            "the drums carry most: {drums_share_db} dB"
        );
        assert_eq!(
            out.problems(),
            vec![(FindingKind::StemOffset, vec!["Drums".to_string()])],
            "{:#?}",
            out.findings
        );
        let f = out.expect(FindingKind::StemOffset);
        assert!((f.value + 0.4).abs() < 0.1, "{}", f.value);
    }

    #[test]
    fn a_lag_common_to_every_stem_is_compensated_and_reported_as_info() {
        let song = song(SECONDS);
        // The master instance sits after a 64-sample look-ahead limiter: the master is late.
        let master = delay_samples(&song.master(), 64);
        let out = analyse(&master, &stems_with(&song, &[]), Blocks::Fixed(777));
        let f = out.expect(FindingKind::MasterLatency);
        assert_eq!(f.value, 64.0);
        assert_eq!(out.problems(), vec![], "{:#?}", out.findings);
    }
}

mod gains {
    use super::*;

    #[test]
    fn stem_gain_within_005_db() {
        let song = song(SECONDS);
        for (name, g) in [
            ("Drums", -12.0f32),
            ("Bass", -3.0),
            ("Harmony", 0.5),
            ("Lead", 6.0),
            ("Drums", 12.0),
            ("Bass", 0.3),
        ] {
            // The master has this stem at a different level than the stem file.
            let louder = gain_db(&song.stem(name).audio, g);
            let others: Vec<&stemcheck_testkit::Stereo> = song
                .stems
                .iter()
                .filter(|s| s.name != name)
                .map(|s| &s.audio)
                .collect();
            let master = sum(&[others, vec![&louder]].concat());
            let out = analyse(&master, &stems_with(&song, &[]), Blocks::Fixed(512));
            let f = out.expect(FindingKind::StemGain);
            assert_eq!(f.stems, vec![name.to_string()], "{:#?}", out.findings);
            assert!(
                (f.value as f32 - g).abs() < 0.05,
                "{name} {g} dB: measured {}",
                f.value
            );
            assert!(
                out.find(FindingKind::MasterBusGain).is_none(),
                "{:#?}",
                out.findings
            );
            assert!(
                out.find(FindingKind::MasterBusEq).is_none(),
                "{:#?}",
                out.findings
            );
        }
    }

    #[test]
    fn polarity_is_always_right() {
        let song = song(SECONDS);
        for stem in &song.stems {
            let inverted = gain_db(&stem.audio, 0.0);
            let inverted = [
                inverted[0].iter().map(|x| -x).collect(),
                inverted[1].iter().map(|x| -x).collect(),
            ];
            let out = analyse(
                &song.master(),
                &stems_with(&song, &[(stem.name, inverted)]),
                Blocks::Fixed(4096),
            );
            let f = out.expect(FindingKind::StemPolarity);
            assert_eq!(f.stems, vec![stem.name.to_string()]);
            assert!(
                out.find(FindingKind::StemGain).is_none(),
                "{:#?}",
                out.findings
            );
            let others: Vec<_> = out
                .problems()
                .into_iter()
                .filter(|p| p.0 != FindingKind::StemPolarity)
                .collect();
            assert!(others.is_empty(), "{}: {:#?}", stem.name, out.findings);
        }
    }

    /// A stem that has not started yet holds only crumbs (a dither's worth of noise), and
    /// beside an inverted stem its gain is fitted from nothing: +121 dB in a real delivery. The
    /// block gains are read against a prediction that must not apply it when the stem starts
    /// (it read as 30 dB of master compression): the polarity and nothing else.
    #[test]
    fn a_stem_that_starts_late_beside_an_inverted_one_is_no_compressor() {
        use rand::rngs::SmallRng;
        use rand::{Rng, SeedableRng};
        let song = song(SECONDS);
        let len = song.master()[0].len();
        // Two starts at which a fit made before the stem started still applies to a few of its
        // loud frames (at others the next fit comes first).
        for start in [len / 2 + 14_400, len / 2 + 31_200] {
            let mut rng = SmallRng::seed_from_u64(11);
            // Crumbs at -180 dBFS, then a chord at about -30 dBFS (a quiet part: its fitted
            // gain moving back does not reset the block gains).
            let pad: Vec<f32> = (0..len)
                .map(|i| {
                    if i < start {
                        rng.gen_range(-1e-9f32..1e-9)
                    } else {
                        let t = i as f32 / RATE;
                        [220.0f32, 277.2, 329.6]
                            .iter()
                            .map(|hz| 0.01 * (2.0 * std::f32::consts::PI * hz * t).sin())
                            .sum()
                    }
                })
                .collect();
            let pad: Stereo = [pad.clone(), pad];
            let master = sum(&[&song.master(), &pad]);
            let drums = &song.stem("Drums").audio;
            let inverted: Stereo = [
                drums[0].iter().map(|x| -x).collect(),
                drums[1].iter().map(|x| -x).collect(),
            ];
            let mut stems = stems_with(&song, &[]);
            stems.retain(|(name, _)| *name != "Drums");
            stems.push(("Drums", &inverted));
            stems.push(("Pad", &pad));
            let out = analyse(&master, &stems, Blocks::Fixed(512));
            assert_eq!(
                out.problems(),
                vec![(FindingKind::StemPolarity, vec!["Drums".to_string()])],
                "start {start}: {:#?}",
                out.findings
            );
        }
    }

    #[test]
    fn master_bus_gain_from_02_db() {
        let song = song(SECONDS);
        for g in [0.2f32, -0.2, 3.0] {
            let out = analyse(
                &gain_db(&song.master(), g),
                &stems_with(&song, &[]),
                Blocks::Fixed(512),
            );
            let f = out.expect(FindingKind::MasterBusGain);
            assert!((f.value as f32 - g).abs() < 0.05, "{g}: {}", f.value);
            assert!(
                out.find(FindingKind::StemGain).is_none(),
                "{:#?}",
                out.findings
            );
        }
    }
}

mod master_bus {
    use super::*;

    /// Narrow cuts the third-octave bands only approximate: the prediction through the fitted
    /// EQ misses the loudest hit's peak by a little, which is no limiter (the single-event
    /// ceiling is bounded by what that prediction leaves, not by what no stem explains).
    #[test]
    fn a_narrow_cut_is_eq_and_no_limiter() {
        let song = song(SECONDS);
        for (hz, q) in [
            (2500.0f32, 1.0f32),
            (2500.0, 4.0),
            (160.0, 4.0),
            (6000.0, 4.0),
        ] {
            let master = Biquad::peaking(RATE, hz, -4.0, q).process(&song.master());
            let out = analyse(&master, &stems_with(&song, &[]), Blocks::Fixed(512));
            assert_eq!(
                out.problems(),
                vec![(FindingKind::MasterBusEq, vec![])],
                "{hz} Hz, Q {q}: {:#?}",
                out.findings
            );
        }
    }

    #[test]
    fn master_eq_of_1_db_is_found_in_its_band() {
        let song = song(SECONDS);
        for (hz, db) in [(1000.0f32, 1.0f32), (250.0, -1.5), (4000.0, 3.0)] {
            let master = Biquad::peaking(RATE, hz, db, 1.4).process(&song.master());
            let out = analyse(&master, &stems_with(&song, &[]), Blocks::Fixed(512));
            let f = out.expect(FindingKind::MasterBusEq);
            let (lo, hi) = f.band_hz.unwrap();
            assert!(lo <= hz * 1.5 && hi >= hz / 1.5, "{hz} Hz: band {lo}-{hi}");
            assert_eq!(f.value.signum() as f32, db.signum());
            assert!(
                out.find(FindingKind::StemGain).is_none(),
                "{hz}: {:#?}",
                out.findings
            );
        }
    }

    /// A dark mix (every stem 36 dB down above 1.5 kHz, an orchestral piece's spectrum) through
    /// a high shelf: its boost sits 40 dB and more under the loudest bands, and its phase turns
    /// the loud bands by a degree or two, which leaves more of the master than the boost does.
    /// Both are the EQ's: named as EQ in its band, nothing missing.
    #[test]
    fn a_high_shelf_on_a_dark_mix_is_eq_not_missing_content() {
        let song = song(SECONDS);
        let dark = Biquad::high_shelf(RATE, 1500.0, -36.0);
        let stems: Vec<(&str, Stereo)> = song
            .stems
            .iter()
            .map(|s| (s.name, dark.process(&s.audio)))
            .collect();
        let dark_master = sum(&stems.iter().map(|(_, a)| a).collect::<Vec<_>>());
        for (hz, db) in [(8000.0f32, 3.0f32), (5000.0, -3.0)] {
            let master = Biquad::high_shelf(RATE, hz, db).process(&dark_master);
            let out = analyse(&master, &stems_with(&song, &stems), Blocks::Fixed(512));
            let f = out.expect(FindingKind::MasterBusEq);
            let (lo, hi) = f.band_hz.unwrap();
            assert!(hi >= hz, "{hz} Hz: band {lo}-{hi}");
            assert_eq!(f.value.signum() as f32, db.signum(), "{f:#?}");
            assert_eq!(
                out.problems(),
                vec![(FindingKind::MasterBusEq, vec![])],
                "{hz} Hz: {:#?}",
                out.findings
            );
        }
    }

    #[test]
    fn master_compression_of_1_db_is_found() {
        let song = song(SECONDS);
        let master = song.master();
        let comp = Compressor {
            threshold_db: -14.0,
            ratio: 3.0,
            attack_ms: 5.0,
            release_ms: 80.0,
        };
        let (compressed, max_gr) = comp.process(&master, RATE);
        assert!(max_gr >= 1.0, "the test compressor works: {max_gr}");
        let out = analyse(&compressed, &stems_with(&song, &[]), Blocks::Fixed(512));
        let f = out.expect(FindingKind::MasterBusDynamics);
        assert!(f.value >= 0.5, "{f:#?}");
        assert!(
            out.find(FindingKind::StemGain).is_none(),
            "{:#?}",
            out.findings
        );
    }

    /// Compressors driven hard (4:1 to 20:1, fast attack and release: 14 to 32 dB of gain
    /// reduction at most) are the compressor and nothing else: not EQ, not content no stem
    /// carries, not stem gains. (On real material a hard compressor's residual is half
    /// unexplained by the frames' fits; that rule is tested on measurements taken from one, in
    /// `diagnose/master_bus/tests.rs`.)
    #[test]
    fn compressors_driven_hard_are_dynamics_and_nothing_else() {
        let song = song(SECONDS);
        for (threshold_db, ratio, attack_ms, release_ms) in [
            (-30.0, 4.0, 1.0, 40.0),
            (-26.0, 4.0, 0.5, 30.0),
            (-32.0, 6.0, 1.0, 50.0),
            (-36.0, 10.0, 0.1, 20.0),
            (-40.0, 20.0, 0.1, 10.0),
        ] {
            let comp = Compressor {
                threshold_db,
                ratio,
                attack_ms,
                release_ms,
            };
            let (compressed, max_gr) = comp.process(&song.master(), RATE);
            assert!(max_gr >= 10.0, "the test compressor works: {max_gr}");
            let out = analyse(&compressed, &stems_with(&song, &[]), Blocks::Fixed(512));
            let unexplained_share = 10f32.powf(
                (out.measurements.unexplained_db - out.measurements.residual_spectral_db) / 10.0,
            );
            assert_eq!(
                out.problems(),
                vec![(FindingKind::MasterBusDynamics, vec![])],
                "{threshold_db} dBFS {ratio}:1: {max_gr:.1} dB GR, unexplained share \
                 {unexplained_share:.2}: {:#?}",
                out.findings
            );
        }
    }

    /// The song's master through a 3:1 compressor from -20 dBFS that turns it down by 3 dB or
    /// more at its loudest.
    fn compressed_3_db(song: &stemcheck_testkit::Song) -> stemcheck_testkit::Stereo {
        let comp = Compressor {
            threshold_db: -20.0,
            ratio: 3.0,
            attack_ms: 5.0,
            release_ms: 120.0,
        };
        let (compressed, max_gr) = comp.process(&song.master(), RATE);
        assert!(max_gr >= 3.0, "the test compressor works: {max_gr}");
        compressed
    }

    /// A drum stem 48 samples late beside a compressor that the drums drive (6.8 dB of gain
    /// reduction at most; the drums fit 0.9 dB down): the offset and the compressor, and no
    /// missing content beside them.
    #[test]
    fn a_late_stem_beside_a_compressor_it_drives_is_an_offset_and_nothing_more() {
        let song = song(SECONDS);
        let compressed = compressed_3_db(&song);
        let late = delay_samples(&song.stem("Drums").audio, 48);
        let out = analyse(
            &compressed,
            &stems_with(&song, &[("Drums", late)]),
            Blocks::Fixed(512),
        );
        let offset = out.expect(FindingKind::StemOffset);
        assert_eq!(offset.stems, vec!["Drums".to_string()]);
        assert_eq!(offset.value.round(), -48.0);
        out.expect(FindingKind::MasterBusDynamics);
        for kind in [FindingKind::MissingContent, FindingKind::MissingFxReturn] {
            assert!(out.find(kind).is_none(), "{:#?}", out.findings);
        }
    }

    /// A stem 6 dB hot beside a compressor: against the stems at unity, the compressor's
    /// block gains carry the stem's error too, and the residual it leaves (the stem) is not
    /// collinear with the sum. A gain no compressor gives is the stem's own: the compressor is
    /// read with it in the prediction, the residual's character with it taken out. The gain and
    /// the compressor, nothing else.
    #[test]
    fn a_stem_6_db_hot_beside_a_compressor_is_its_gain_and_nothing_more() {
        let song = song(SECONDS);
        let compressed = compressed_3_db(&song);
        let hot = gain_db(&song.stem("Harmony").audio, 6.0);
        let out = analyse(
            &compressed,
            &stems_with(&song, &[("Harmony", hot)]),
            Blocks::Fixed(512),
        );
        let f = out.expect(FindingKind::StemGain);
        assert_eq!(f.stems, vec!["Harmony".to_string()]);
        // The whole-run fit gives the stem part of the compressor's reduction where it plays:
        // the gain is named, its value within 0.75 dB.
        assert!((f.value + 6.0).abs() < 0.75, "{}", f.value);
        out.expect(FindingKind::MasterBusDynamics);
        assert_eq!(out.problems().len(), 2, "{:#?}", out.findings);
    }

    /// A stem inverted beside a master compressor: twice the stem is left, which is not
    /// collinear with the sum, and beside the compressor it would pass for content no stem
    /// carries. The stem is read with its sign turned for the residual's character: its
    /// polarity and the compressor, nothing else.
    #[test]
    fn an_inverted_stem_beside_a_compressor_is_its_polarity_and_nothing_more() {
        let song = song(SECONDS);
        let compressed = compressed_3_db(&song);
        let lead = &song.stem("Lead").audio;
        let inverted = [
            lead[0].iter().map(|x| -x).collect(),
            lead[1].iter().map(|x| -x).collect(),
        ];
        let out = analyse(
            &compressed,
            &stems_with(&song, &[("Lead", inverted)]),
            Blocks::Fixed(512),
        );
        // What the compressor leaves is collinear with the sum block by block: 0.96 of the
        // residual with the Lead read at its sign, 0.55 as delivered.
        let collinear = out.measurements.residual_collinear_share;
        assert!(collinear >= 0.9, "{collinear}");
        assert_eq!(
            out.expect(FindingKind::StemPolarity).stems,
            vec!["Lead".to_string()]
        );
        out.expect(FindingKind::MasterBusDynamics);
        for kind in [FindingKind::MissingContent, FindingKind::MissingFxReturn] {
            assert!(out.find(kind).is_none(), "{:#?}", out.findings);
        }
    }

    /// A master bus turned down 6 dB wherever the kick plays (a compressor the low end drives):
    /// a drum stem whose kick and hi-hats take turns every half second, beside keys that never
    /// stop. The band fit alone reads the drums' low bands as cut against their high ones
    /// (loud only where the gain is down): an EQ of 3.7 dB. With each band's share of the frame
    /// gain taken out, 1.6 dB is left: the frame gain is read against the prediction through
    /// the fitted EQ, which has already taken part of the compressor (kick and hats never
    /// overlap here; in a song they do, and the keys are what tells the two apart).
    #[test]
    fn a_compressor_that_turns_the_kick_passages_down_is_no_eq() {
        use rand::rngs::SmallRng;
        use rand::{Rng, SeedableRng};
        let len = (SECONDS * RATE) as usize;
        let half_second = (RATE / 2.0) as usize;
        let kick_plays = |i: usize| (i / half_second) % 2 == 1;
        let mut rng = SmallRng::seed_from_u64(3);
        // The kick: noise through two one-pole low passes at about 100 Hz; the hats: noise's
        // first difference (nothing at DC, rising to Nyquist); they take turns.
        let (mut a, mut b, mut last) = (0.0f32, 0.0f32, 0.0f32);
        let pole = (-2.0 * std::f32::consts::PI * 100.0 / RATE).exp();
        let drums: Vec<f32> = (0..len)
            .map(|i| {
                a = pole * a + (1.0 - pole) * rng.gen_range(-1.0f32..1.0);
                b = pole * b + (1.0 - pole) * a;
                let x = rng.gen_range(-0.1f32..0.1);
                let hat = x - last;
                last = x;
                if kick_plays(i) { 8.0 * b } else { hat }
            })
            .collect();
        // The keys: white noise, quieter, all along.
        let keys: Vec<f32> = (0..len).map(|_| rng.gen_range(-0.1f32..0.1)).collect();
        let stereo = |x: &[f32]| -> Stereo { [x.to_vec(), x.to_vec()] };
        let (drums, keys) = (stereo(&drums), stereo(&keys));
        let ducked: Stereo = sum(&[&drums, &keys]).map(|c| {
            c.iter()
                .enumerate()
                .map(|(i, x)| if kick_plays(i) { 0.5 * x } else { *x })
                .collect()
        });
        let out = analyse(
            &ducked,
            &[("Drums", &drums), ("Keys", &keys)],
            Blocks::Fixed(512),
        );
        let m = &out.measurements;
        assert!(
            m.bus_eq_max_db.abs() >= 2.0,
            "the band fit reads the compressor as EQ: {} dB",
            m.bus_eq_max_db
        );
        assert!(
            m.bus_eq_beyond_dynamics_db.abs() < 0.5 * m.bus_eq_max_db.abs(),
            "{} dB beyond the dynamics (raw {} dB)",
            m.bus_eq_beyond_dynamics_db,
            m.bus_eq_max_db
        );
    }

    /// A limiter driven 3 dB into a ceiling 1 dB under the driven peaks touches only the few
    /// loudest peaks: its drive is most of what the master changes, but the peaks held flat at
    /// the ceiling name it (not a master fader).
    #[test]
    fn a_limiter_driven_3_db_is_named_by_its_ceiling_not_as_a_master_gain() {
        let song = song(SECONDS);
        let driven = gain_db(&song.master(), 3.0);
        let peak = driven.iter().flatten().fold(0.0f32, |m, &x| m.max(x.abs()));
        let ceiling_db = 20.0 * peak.log10() - 1.0;
        let limiter = Limiter {
            ceiling_db,
            lookahead_ms: 1.5,
            release_ms: 80.0,
        };
        let (limited, most_db) = limiter.process(&driven, RATE);
        assert!(
            (most_db - 1.0).abs() < 0.01,
            "the test limiter works: {most_db}"
        );
        let out = analyse(&limited, &stems_with(&song, &[]), Blocks::Fixed(512));
        out.expect(FindingKind::MasterBusDynamics);
        assert!(
            out.find(FindingKind::MasterBusGain).is_none(),
            "{:#?}",
            out.findings
        );
        let c = out.measurements.ceiling.expect("a ceiling");
        assert!(
            (c.ceiling_dbfs - ceiling_db).abs() < 0.05,
            "{c:?} vs {ceiling_db}"
        );
        assert!(c.most_db > 0.5 && c.most_db < 1.2, "{c:?}");
        assert!(c.agreement >= 0.6, "{c:?}");
    }

    /// The prediction the master's block gains are read against covers the whole band but
    /// DC: at 44.1 kHz the third-octave bands end at 17.8 kHz, and they start at 22 Hz. A
    /// plain 3 dB gain on a mix with hi-hats and a kick then leaves next to nothing per level
    /// (-22.6 dB with both left out, -28.4 dB with the air in).
    #[test]
    fn the_prediction_covers_the_air_above_the_bands_and_the_sub_below() {
        let rate = 44_100.0;
        let song = stemcheck_testkit::render_song(7, rate, SECONDS);
        let out = analyse_at(
            rate,
            &gain_db(&song.master(), 3.0),
            &stems_with(&song, &[]),
            Blocks::Fixed(512),
            AnalyzerConfig::default(),
            usize::MAX,
        );
        out.expect(FindingKind::MasterBusGain);
        let r = out.measurements.level_residuals.expect("level residuals");
        assert!(r.fitted_per_level_db < -50.0, "{r:?}");
    }

    /// The same drive without the limiter is a plain master gain, with no ceiling.
    #[test]
    fn a_plain_3_db_master_gain_has_no_ceiling() {
        let song = song(SECONDS);
        let out = analyse(
            &gain_db(&song.master(), 3.0),
            &stems_with(&song, &[]),
            Blocks::Fixed(512),
        );
        out.expect(FindingKind::MasterBusGain);
        assert!(
            out.measurements.ceiling.is_none(),
            "{:?}",
            out.measurements.ceiling
        );
        assert!(out.find(FindingKind::MasterBusDynamics).is_none());
    }
}

mod missing {
    use super::*;

    /// The master has everything; the FX stem (a reverb return) is not delivered, scaled to
    /// `level_db` re master.
    fn without_fx(level_db: f32) -> Outcome {
        without_fx_for(level_db, SECONDS)
    }

    /// ... over a song of `seconds`.
    fn without_fx_for(level_db: f32, seconds: f32) -> Outcome {
        let song = song(seconds);
        let fx = &song.stem("FX").audio;
        let dry: Vec<&stemcheck_testkit::Stereo> = song
            .stems
            .iter()
            .filter(|s| s.name != "FX")
            .map(|s| &s.audio)
            .collect();
        let dry_sum = sum(&dry);
        let energy = |s: &stemcheck_testkit::Stereo| {
            s.iter()
                .flatten()
                .map(|x| f64::from(*x).powi(2))
                .sum::<f64>()
        };
        let scale = ((energy(&dry_sum) / energy(fx)).sqrt()
            * 10f64.powf(f64::from(level_db) / 20.0)) as f32;
        let fx = gain_db(fx, 20.0 * scale.log10());
        let master = sum(&[&dry_sum, &fx]);
        let stems: Vec<(&str, &stemcheck_testkit::Stereo)> = song
            .stems
            .iter()
            .filter(|s| s.name != "FX")
            .map(|s| (s.name, &s.audio))
            .collect();
        analyse(&master, &stems, Blocks::Fixed(512))
    }

    #[test]
    fn a_missing_reverb_return_is_named_down_to_40_db() {
        for level in [-15.0, -40.0] {
            let out = without_fx(level);
            let f = out.expect(FindingKind::MissingFxReturn);
            assert!((f.value as f32 - level).abs() < 3.0, "{level}: {f:#?}");
            let others: Vec<_> = out
                .problems()
                .into_iter()
                .filter(|p| p.0 != FindingKind::MissingFxReturn)
                .collect();
            assert!(others.is_empty(), "{level}: {:#?}", out.findings);
        }
    }

    #[test]
    fn a_dry_source_routed_to_no_stem_is_named_down_to_40_db() {
        let song = song(SECONDS);
        // A shaker-like mono source, panned slightly left, in the master only.
        let mut shaker = noise_bursts(song.len());
        let energy = |x: &[f32]| x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>();
        let master = song.master();
        for level in [-20.0f64, -40.0] {
            let scale =
                ((energy(&master[0]) / energy(&shaker)).sqrt() * 10f64.powf(level / 20.0)) as f32;
            shaker.iter_mut().for_each(|x| *x *= scale);
            let source = [
                shaker.iter().map(|x| x * 1.1).collect(),
                shaker.iter().map(|x| x * 0.9).collect(),
            ];
            let out = analyse(
                &sum(&[&master, &source]),
                &stems_with(&song, &[]),
                Blocks::Fixed(512),
            );
            let f = out.expect(FindingKind::MissingContent);
            assert!(
                (f.value + -level).abs() < 3.0 || (f.value - level).abs() < 3.0,
                "{level}: {f:#?}"
            );
            shaker.iter_mut().for_each(|x| *x /= scale);
        }
    }

    /// The return model needs about 12 s of the run: over 20 s, the reverb fed by the lead and
    /// the harmony trails them, and a wide sustained part with its own chords (a stereo string
    /// pad, 0.1 left/right) does not, so it is a source, not a return.
    #[test]
    fn over_a_longer_run_a_return_trails_the_stems_and_a_wide_dry_pad_does_not() {
        const LONG_SECONDS: f32 = 20.0;
        let out = without_fx_for(-15.0, LONG_SECONDS);
        let fit = out
            .measurements
            .residual_return_fit
            .expect("a fit after 20 s");
        assert!(
            fit.causal_explained >= 0.24 && fit.causality() >= 0.05,
            "{fit:?}"
        );
        out.expect(FindingKind::MissingFxReturn);

        let song = song(LONG_SECONDS);
        let pad = wide_pad(song.len());
        let energy = |x: &[f32]| x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>();
        let master = song.master();
        let scale =
            ((energy(&master[0]) / energy(&pad[0])).sqrt() * 10f64.powf(-15.0 / 20.0)) as f32;
        let pad = gain_db(&pad, 20.0 * scale.log10());
        let out = analyse(
            &sum(&[&master, &pad]),
            &stems_with(&song, &[]),
            Blocks::Fixed(512),
        );
        assert!(
            out.measurements.residual_lr_correlation < 0.5,
            "{}",
            out.measurements.residual_lr_correlation
        );
        let fit = out
            .measurements
            .residual_return_fit
            .expect("a fit after 20 s");
        assert!(fit.causality() < 0.05, "{fit:?}");
        let f = out.expect(FindingKind::MissingContent);
        assert!((f.value + 15.0).abs() < 3.0, "{f:#?}");
        assert!(
            out.find(FindingKind::MissingFxReturn).is_none(),
            "{:#?}",
            out.findings
        );
    }

    /// A stereo pad: a chord a bar (2.1 s, off the song's grid), each note a sine with a slow
    /// attack and release, detuned differently left and right (wide, as a section is).
    fn wide_pad(len: usize) -> stemcheck_testkit::Stereo {
        const CHORDS_HZ: [[f32; 3]; 4] = [
            [261.6, 329.6, 392.0],
            [220.0, 261.6, 329.6],
            [174.6, 220.0, 261.6],
            [196.0, 246.9, 293.7],
        ];
        let bar = (2.1 * RATE) as usize;
        let side = |detune: f32, phase: f32| -> Vec<f32> {
            (0..len)
                .map(|i| {
                    let (chord, at) = (i / bar, (i % bar) as f32 / RATE);
                    let envelope = (at / 0.4).min(1.0) * (-(at - 1.2).max(0.0) * 3.0).exp();
                    let t = i as f32 / RATE;
                    CHORDS_HZ[chord % 4]
                        .iter()
                        .map(|hz| (std::f32::consts::TAU * hz * detune * t + phase).sin())
                        .sum::<f32>()
                        * envelope
                })
                .collect()
        };
        [side(1.003, 0.0), side(0.997, 1.3)]
    }

    fn noise_bursts(len: usize) -> Vec<f32> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(77);
        let period = (RATE * 60.0 / 112.0 / 4.0) as usize;
        (0..len)
            .map(|i| {
                let t = (i % period) as f32 / RATE;
                rng.gen_range(-1.0f32..1.0) * (-t * 40.0).exp()
            })
            .collect()
    }
}

mod phase {
    use super::*;

    #[test]
    fn kick_and_bass_cancelling_in_the_low_end_is_reported_with_band_and_loss() {
        let song = song(SECONDS);
        let len = song.len();
        // A sub stem that doubles the kick's fundamental region upside down.
        let kick_like: Vec<f32> = (0..len)
            .map(|i| {
                let t = i as f32 / RATE;
                -0.3 * (2.0 * std::f32::consts::PI * 60.0 * t).sin()
            })
            .collect();
        let bass808: Vec<f32> = kick_like.iter().map(|x| -0.8 * x).collect();
        let sub = [kick_like.clone(), kick_like];
        let boom = [bass808.clone(), bass808];
        let mut stems = stems_with(&song, &[]);
        stems.push(("Sub", &sub));
        stems.push(("808", &boom));
        let master = sum(&stems.iter().map(|s| s.1).collect::<Vec<_>>());
        let out = analyse(&master, &stems, Blocks::Fixed(512));
        let f = out.expect(FindingKind::StemPhaseCancellation);
        let (lo, hi) = f.band_hz.unwrap();
        assert!(lo <= 60.0 && hi >= 60.0, "{lo}-{hi}");
        // |1 - 0.8|^2 / (1 + 0.64): -16.1 dB.
        assert!((f.value + 16.1).abs() < 1.0, "{f:#?}");
        assert!(f.stems.contains(&"Sub".to_string()) && f.stems.contains(&"808".to_string()));
    }
}

mod headroom {
    use super::*;

    #[test]
    fn clipping_true_peak_dc_and_silence_are_reported_per_stem() {
        let song = song(4.0);
        let len = song.len();
        let mut hot = song.stem("Drums").audio.clone();
        for channel in &mut hot {
            channel[1000..1010].fill(1.0);
        }
        let mut dc = song.stem("Bass").audio.clone();
        dc.iter_mut().flatten().for_each(|x| *x += 0.01);
        let silent = [vec![0.0f32; len], vec![0.0f32; len]];
        let replaced = [("Drums", hot), ("Bass", dc)];
        let mut stems = stems_with(&song, &replaced);
        stems.push(("Guitar", &silent));
        let master = sum(&stems.iter().map(|s| s.1).collect::<Vec<_>>());
        let out = analyse(&master, &stems, Blocks::Fixed(512));
        let clip = out
            .findings
            .iter()
            .find(|f| f.kind == FindingKind::Clipping && f.stems == ["Drums"])
            .unwrap();
        assert_eq!(clip.value, 20.0);
        assert!(
            out.findings
                .iter()
                .any(|f| f.kind == FindingKind::DcOffset && f.stems == ["Bass"])
        );
        assert!(
            out.findings
                .iter()
                .any(|f| f.kind == FindingKind::SilentStem && f.stems == ["Guitar"])
        );
        assert!(
            out.findings
                .iter()
                .any(|f| f.kind == FindingKind::TruePeak && f.stems == ["Drums"])
        );
        let _ = out.measurements.master_lufs.expect("loudness measured");
    }
}
