//! Tests of the dropout rule on hand-made measurements.

use super::*;
use crate::config::AnalyzerConfig;

/// A candidate: Drums silent from 62.5 s to the end while the mix sounds until 65.8 s.
fn candidate() -> DropoutMeasurement {
    DropoutMeasurement {
        stem: "Drums".into(),
        start_s: 62.5,
        end_s: 66.0,
        sounds_until_s: 65.8,
        open: true,
        residual_db: -6.0,
        rise_db: 60.0,
        rise_through_bus_db: 60.0,
        local_rise_db: 60.0,
        level_vs_stem_db: -1.0,
        level_vs_residual_db: 20.0,
        spectral_match: 0.95,
        rival_match: 0.0,
        earlier_rival_match: 0.0,
        judged_late: false,
        explains_db: -20.0,
        rested_first: false,
        fall_after_db: f32::INFINITY,
    }
}

fn measurements(dropouts: Vec<DropoutMeasurement>) -> Measurements {
    Measurements {
        has_master: true,
        num_stems: 2,
        null_residual_db: -20.0,
        null_residual_outside_dropouts_db: -110.0,
        dropouts,
        ..Measurements::default()
    }
}

#[test]
fn times_read_as_minutes_seconds_and_milliseconds() {
    assert_eq!(format_time(62.5), "1:02.500");
    assert_eq!(format_time(5.8), "0:05.800");
}

#[test]
fn a_stem_that_stops_early_is_an_error_with_its_range_and_folds_the_residual() {
    let mut diagnosis = Diagnosis::default();
    let mut out = Vec::new();
    // Frames over the dropout's edges leave a little of it in the whole-run spectra.
    let m = Measurements {
        unexplained_db: -44.0,
        residual_spectral_db: -44.0,
        ..measurements(vec![candidate()])
    };
    let folded = diagnosis.dropouts(&m, 1.0, &mut out).expect("folded");
    assert_eq!(folded.null_residual_db, -110.0);
    // Outside the dropout nothing is left to explain: no more than the residual there.
    assert_eq!(folded.unexplained_db, -110.0);
    assert_eq!(folded.residual_spectral_db, -110.0);
    assert_eq!(out.len(), 1);
    let f = &out[0];
    assert_eq!(f.kind, FindingKind::StemDropout);
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.stems, vec!["Drums".to_string()]);
    assert_eq!(f.time_range_s, Some((62.5, 65.8)));
    assert!(f.message.contains("1:02.500") && f.message.contains("1:05.800"));
    assert!(f.fix.contains("Re-export Drums"));
    let _ = AnalyzerConfig::default();
}

#[test]
fn rests_tails_and_rivals_are_not_dropouts() {
    let variants = [
        // The mix rests too: the residual did not rise.
        DropoutMeasurement {
            rise_db: 3.0,
            local_rise_db: 3.0,
            ..candidate()
        },
        // A reverb tail: far below the stem's own level.
        DropoutMeasurement {
            level_vs_stem_db: -25.0,
            ..candidate()
        },
        // The decaying tail of a missing delay return after the music ends: all residual, so
        // its share rose, but its level is under what the return left over the run.
        DropoutMeasurement {
            level_vs_residual_db: -9.0,
            ..candidate()
        },
        // Resting while another stem's dropout had raised the residual already.
        DropoutMeasurement {
            local_rise_db: 1.0,
            ..candidate()
        },
        // Another stem silent at the same time matches the residual's spectrum better.
        DropoutMeasurement {
            spectral_match: 0.6,
            rival_match: 0.9,
            ..candidate()
        },
        // A part ending inside another stem's dropout already open (its residual goes on):
        // the residual's shape matches that stem's about as well as this one's.
        DropoutMeasurement {
            spectral_match: 0.951,
            rival_match: 0.939,
            earlier_rival_match: 0.939,
            ..candidate()
        },
        // Silent since before it first sounded, judged at its end: the residual is another
        // stem's (an inverted part in the intro), not this stem's shape.
        DropoutMeasurement {
            judged_late: true,
            spectral_match: 0.777,
            ..candidate()
        },
        // Silent since before it first sounded, the residual of its shape, but no louder than
        // the residual elsewhere: another stem's defect over the whole run (an inverted piano
        // under a brass section resting through the intro, on TimGM6mb).
        DropoutMeasurement {
            judged_late: true,
            spectral_match: 0.944,
            level_vs_residual_db: 0.6,
            ..candidate()
        },
        // A gap of 0.46 s with the stem sounding again after it, holding a tenth of the
        // residual (-30 dB re master against -20 dB in all): beside another defect a short
        // gap is a rest, whatever the residual did (under DROPOUT_MIN_NAMED_SECONDS).
        DropoutMeasurement {
            start_s: 19.008,
            end_s: 19.468,
            open: false,
            explains_db: -30.0,
            ..candidate()
        },
        // A stem resting while another's mute goes on: the residual stays raised (0.5 dB
        // lower) when it sounds again.
        DropoutMeasurement {
            start_s: 4.003,
            end_s: 4.325,
            open: false,
            fall_after_db: 0.5,
            ..candidate()
        },
        // Resting at the song's end while an inverted reverb stem rings on: the residual
        // (twice the reverb) is louder than the mix itself, which no missing part can be.
        DropoutMeasurement {
            residual_db: 5.2,
            ..candidate()
        },
    ];
    for d in variants {
        let mut diagnosis = Diagnosis::default();
        let mut out = Vec::new();
        let m = measurements(vec![d.clone()]);
        assert!(diagnosis.dropouts(&m, 1.0, &mut out).is_none(), "{d:?}");
        assert!(out.is_empty());
    }
}

#[test]
fn a_mute_of_bars_is_a_dropout_with_its_range() {
    // Lead muted from 32 s to 36 s (four bars at 120 BPM): named, with that range.
    let d = DropoutMeasurement {
        stem: "Lead".into(),
        start_s: 32.0,
        end_s: 36.0,
        open: false,
        ..candidate()
    };
    let mut diagnosis = Diagnosis::default();
    let mut out = Vec::new();
    diagnosis.dropouts(&measurements(vec![d]), 1.0, &mut out);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].kind, FindingKind::StemDropout);
    assert_eq!(out[0].stems, vec!["Lead".to_string()]);
    assert_eq!(out[0].time_range_s, Some((32.0, 36.0)));
}

#[test]
fn a_stem_resting_beside_a_dropout_is_not_named_but_alone_it_is() {
    // Drums muted from 4.0 s (silent where the residual rose); Lead resting from 3.2 s, its
    // stretch starting where the residual rose (4.0 s) only because it rested first.
    let drums = DropoutMeasurement {
        start_s: 4.0,
        end_s: 8.0,
        open: false,
        ..candidate()
    };
    let lead = DropoutMeasurement {
        stem: "Lead".into(),
        start_s: 4.0,
        end_s: 6.0,
        open: false,
        rested_first: true,
        fall_after_db: f32::INFINITY,
        ..candidate()
    };
    let mut out = Vec::new();
    Diagnosis::default().dropouts(
        &measurements(vec![drums.clone(), lead.clone()]),
        1.0,
        &mut out,
    );
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].stems, vec!["Drums".to_string()]);
    // Drums muted for half a second only, holding a tenth of the residual: too short to be
    // named, but still the residual's owner (Lead's stretch holds the same residual: it falls
    // when the drums return); Lead is not named in its place.
    let short = DropoutMeasurement {
        end_s: 4.5,
        explains_db: -30.0,
        ..drums.clone()
    };
    let lead_over_short = DropoutMeasurement {
        explains_db: -30.5,
        ..lead.clone()
    };
    let mut out = Vec::new();
    Diagnosis::default().dropouts(&measurements(vec![short, lead_over_short]), 1.0, &mut out);
    assert!(out.is_empty(), "{out:?}");
    // But a rest of a beat inside a mute of bars that began in a rest is not the mute's cause:
    // Bass rests 0.2 s (a tenth of the residual) inside Keys' 4 s (seen on a GM rendering:
    // -30.1 against -20.9 dB re master). Keys is named; the rest is too short to be.
    let keys = DropoutMeasurement {
        stem: "Keys".into(),
        start_s: 14.13,
        end_s: 18.17,
        open: false,
        rested_first: true,
        explains_db: -20.9,
        ..candidate()
    };
    let bass = DropoutMeasurement {
        stem: "Bass".into(),
        start_s: 16.38,
        end_s: 16.59,
        open: false,
        explains_db: -30.1,
        ..candidate()
    };
    let mut out = Vec::new();
    Diagnosis::default().dropouts(&measurements(vec![keys, bass]), 1.0, &mut out);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].stems, vec!["Keys".to_string()]);
    // Alone (no stem went silent where the residual rose), the stem that rested first is the
    // dropout: a mute that began in a rest.
    let mut out = Vec::new();
    Diagnosis::default().dropouts(&measurements(vec![lead]), 1.0, &mut out);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].stems, vec!["Lead".to_string()]);
}

#[test]
fn a_short_mute_holding_the_residual_is_a_dropout() {
    // Drums muted for half a second in a delivery that otherwise nulls: the gap holds nearly
    // all of the residual (-20.5 dB of -20 dB re master, 89 %) and the residual falls back
    // when the drums return.
    let d = DropoutMeasurement {
        start_s: 4.0,
        end_s: 4.5,
        open: false,
        explains_db: -20.5,
        fall_after_db: 60.0,
        ..candidate()
    };
    let mut out = Vec::new();
    Diagnosis::default().dropouts(&measurements(vec![d]), 1.0, &mut out);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].time_range_s, Some((4.0, 4.5)));
    assert!(
        out[0].message.contains("0:04.000 to 0:04.500"),
        "{}",
        out[0].message
    );
}

#[test]
fn a_stem_resting_through_the_loud_start_of_another_stems_mute_is_not_named() {
    // Seen on a GM rendering: Drums muted from 4.0 s to 4.5 s, over the downbeat; Bass rests
    // from 3.977 s to 4.186 s in its stem and the mix alike. In Bass's rest the residual is the
    // downbeat's kick, shaped more like the bass than like the whole kit. When Bass returns
    // the residual falls 8 dB (the downbeat is the loudest of the bar); when Drums returns it
    // falls 18 dB, to the null: it outlived Bass's silence and ended with Drums'.
    let bass = DropoutMeasurement {
        stem: "Bass".into(),
        start_s: 3.977,
        end_s: 4.186,
        sounds_until_s: 4.183,
        open: false,
        residual_db: -0.2,
        rise_db: 69.8,
        local_rise_db: 69.8,
        level_vs_stem_db: -4.5,
        level_vs_residual_db: 116.0,
        spectral_match: 0.817,
        rival_match: 0.609,
        explains_db: -27.7,
        fall_after_db: 8.3,
        ..candidate()
    };
    let drums = DropoutMeasurement {
        stem: "Drums".into(),
        start_s: 4.0,
        end_s: 4.5,
        sounds_until_s: 4.492,
        open: false,
        residual_db: -7.0,
        rise_db: 63.0,
        local_rise_db: 23.1,
        level_vs_stem_db: -9.2,
        level_vs_residual_db: 113.6,
        spectral_match: 0.619,
        // Bass is no rival: it sounded again while Drums was silent (see `outlived_by`).
        rival_match: 0.0,
        explains_db: -26.2,
        fall_after_db: 17.9,
        ..candidate()
    };
    assert!(bass.outlived_by(&drums));
    assert!(!drums.outlived_by(&bass));
    let named = |dropouts: Vec<DropoutMeasurement>| {
        let mut out = Vec::new();
        // The whole residual is the mute's (half a second: named as it holds most of it).
        let m = Measurements {
            null_residual_db: -25.5,
            ..measurements(dropouts)
        };
        Diagnosis::default().dropouts(&m, 1.0, &mut out);
        out.iter()
            .filter(|f| f.kind == FindingKind::StemDropout)
            .map(|f| f.stems[0].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(named(vec![bass.clone(), drums.clone()]), vec!["Drums"]);
    // Alone, the same rest would be named: only the other stem's silence outlives it.
    assert_eq!(named(vec![bass.clone()]), vec!["Bass"]);
    // Had the residual fallen as much when Bass returned, or Bass returned with Drums, the
    // residual would not have outlived it.
    for other in [
        DropoutMeasurement {
            fall_after_db: 12.0,
            ..drums.clone()
        },
        DropoutMeasurement {
            end_s: 4.25,
            ..drums.clone()
        },
    ] {
        assert!(!bass.outlived_by(&other), "{other:?}");
    }
}

#[test]
fn a_rise_through_the_bus_s_response_counts_as_a_rise() {
    // A bus EQ's residual held the rise as delivered at 9 dB; through the bus's fitted
    // response the stretch rose 20 dB: a dropout. Neither: none.
    let mut d = candidate();
    d.rise_db = 9.0;
    d.rise_through_bus_db = 20.0;
    assert!(is_dropout(&d, -20.0));
    d.rise_through_bus_db = 9.0;
    assert!(!is_dropout(&d, -20.0));
}
