//! `master-*` rules on hand-made measurements.

use crate::diagnose::tests::{diagnose, nulling, only, residual_at, summary};
use crate::dynamics::{DynamicsEstimate, LevelGainFit};
use crate::finding::{FindingKind, Severity, Unit};
use crate::measurements::{LevelResiduals, Measurements};

/// The kinds of a fresh diagnosis's findings, most important first.
fn kinds(m: &Measurements) -> Vec<FindingKind> {
    summary(&diagnose(m)).into_iter().map(|s| s.0).collect()
}

/// A master bus compressing by `gain_reduction_db`, explaining -21 dB of a -20 dB residual.
fn compressed(gain_reduction_db: f32) -> Measurements {
    Measurements {
        dynamics: Some(DynamicsEstimate {
            gain_reduction_db,
            correlation: -0.8,
            level_span_db: 20.0,
            frames: 100,
        }),
        dynamics_explains_db: -21.0,
        ..residual_at(-20.0)
    }
}

#[test]
fn a_common_lag_is_latency_info_even_when_the_stems_null() {
    let m = Measurements {
        common_lag_samples: 48,
        ..nulling()
    };
    let f = only(&diagnose(&m), FindingKind::MasterLatency);
    assert_eq!(
        (f.severity, f.value, f.unit),
        (Severity::Info, 48.0, Unit::Samples)
    );
    // 48 samples at 48 kHz: 1 ms, master later.
    assert!(f.message.contains("(1.00 ms) later than"), "{}", f.message);
}

#[test]
fn level_dependent_gain_is_compression_and_no_broadband_gain() {
    let mut m = compressed(3.0);
    // A compressor lowers the average level too: that is not named separately.
    m.bus_gain_db = -0.5;
    m.bus_gain_explains_db = -30.0;
    assert_eq!(
        summary(&diagnose(&m)),
        vec![(FindingKind::MasterBusDynamics, vec![], Severity::Error)]
    );
}

#[test]
fn gain_that_does_not_fall_steadily_with_level_is_not_compression() {
    let mut m = compressed(3.0);
    m.dynamics.as_mut().unwrap().correlation = -0.1;
    assert!(
        diagnose(&m)
            .iter()
            .all(|f| f.kind != FindingKind::MasterBusDynamics)
    );
    assert!(
        diagnose(&compressed(0.3))
            .iter()
            .all(|f| f.kind != FindingKind::MasterBusDynamics)
    );
}

#[test]
fn a_band_off_the_broadband_gain_is_eq_with_its_band() {
    let m = Measurements {
        bus_eq_max_db: 2.0,
        bus_eq_band_hz: (891.0, 1122.0),
        bus_eq_explains_db: -21.0,
        ..residual_at(-20.0)
    };
    let findings = diagnose(&m);
    assert_eq!(
        summary(&findings),
        vec![(FindingKind::MasterBusEq, vec![], Severity::Error)]
    );
    assert_eq!(findings[0].band_hz, Some((891.0, 1122.0)));
    // Centre sqrt(891 * 1122) = 999.8 Hz.
    assert!(
        findings[0].message.contains("+2.0 dB around 1000 Hz"),
        "{}",
        findings[0].message
    );
}

#[test]
fn eq_next_to_compression_must_exceed_the_compression_beyond_its_own_band_gains() {
    let mut m = compressed(3.0);
    m.bus_eq_max_db = 2.0;
    m.bus_eq_beyond_dynamics_db = 2.0;
    m.bus_eq_explains_db = -30.0;
    let kinds: Vec<_> = summary(&diagnose(&m)).into_iter().map(|s| s.0).collect();
    assert_eq!(kinds, vec![FindingKind::MasterBusDynamics]);
    m.bus_eq_max_db = 4.0;
    m.bus_eq_beyond_dynamics_db = 4.0;
    let kinds: Vec<_> = summary(&diagnose(&m)).into_iter().map(|s| s.0).collect();
    assert_eq!(
        kinds,
        vec![FindingKind::MasterBusDynamics, FindingKind::MasterBusEq]
    );
    // A band 4 dB off that the compressor's gain, averaged where the band is loud, accounts
    // for all but 0.6 dB of: the compressor's.
    m.bus_eq_beyond_dynamics_db = 0.6;
    let kinds: Vec<_> = summary(&diagnose(&m)).into_iter().map(|s| s.0).collect();
    assert_eq!(kinds, vec![FindingKind::MasterBusDynamics]);
}

#[test]
fn a_master_gain_is_a_warning_below_1_db_and_an_error_from_it() {
    let with_gain = |gain_db: f32| Measurements {
        bus_gain_db: gain_db,
        bus_gain_explains_db: -21.0,
        ..residual_at(-20.0)
    };
    let small = only(&diagnose(&with_gain(0.5)), FindingKind::MasterBusGain);
    assert_eq!(small.severity, Severity::Warning);
    assert!(small.message.contains("+0.50 dB"));
    let large = only(&diagnose(&with_gain(-1.5)), FindingKind::MasterBusGain);
    assert_eq!(large.severity, Severity::Error);
    assert!(
        diagnose(&with_gain(0.08))
            .iter()
            .all(|f| f.kind != FindingKind::MasterBusGain)
    );
}

#[test]
fn a_residual_with_a_long_coherent_response_is_not_bus_processing() {
    // Spread 0.8 (> 0.5), unexplained -40 dB of a -20 dB aligned residual: coherent share
    // 1 - 10^-2 = 0.99 (> 0.35), so a return, not EQ or gain.
    let m = Measurements {
        bus_eq_max_db: 2.0,
        bus_eq_explains_db: -21.0,
        bus_gain_db: 0.5,
        bus_gain_explains_db: -21.0,
        residual_ir_spread: 0.8,
        unexplained_db: -40.0,
        ..residual_at(-20.0)
    };
    let kinds: Vec<_> = summary(&diagnose(&m)).into_iter().map(|s| s.0).collect();
    assert_eq!(kinds, vec![FindingKind::MissingFxReturn]);
}

#[test]
fn a_limiter_driven_hard_is_one_cause_with_its_drive() {
    // A look-ahead limiter fed 3 dB hot: its gain reduction alone explains little (-35 dB of a
    // -20 dB residual), the drive (+3 dB, -21 dB) the rest. One cause: the limiter, whose
    // share is both together; no master-bus gain beside it.
    let mut m = compressed(2.0);
    m.dynamics_explains_db = -35.0;
    m.bus_gain_db = 3.0;
    m.bus_gain_explains_db = -21.0;
    assert_eq!(
        summary(&diagnose(&m)),
        vec![(FindingKind::MasterBusDynamics, vec![], Severity::Error)]
    );
    // With a source no stem carries making most of the residual (-21 dB unexplained), the
    // predicted master the block gains are read against is wrong: no compressor from them.
    let mut missing = m.clone();
    missing.unexplained_db = -21.0;
    assert!(
        diagnose(&missing)
            .iter()
            .all(|f| f.kind != FindingKind::MasterBusDynamics)
    );
    // Without the level-dependent gain agreeing (gains scattered both ways at the loudest
    // blocks), it is a master gain.
    m.dynamics.as_mut().unwrap().correlation = -0.2;
    assert_eq!(
        summary(&diagnose(&m)),
        vec![(FindingKind::MasterBusGain, vec![], Severity::Error)]
    );
}

#[test]
fn a_small_broadband_gain_beside_an_eq_is_the_eq_s() {
    // A -3.7 dB bell explains -20.5 dB of a -20 dB residual; the broadband level moves by
    // -0.23 dB, explaining -40 dB: 1% of the residual (under the 10% a cause needs), so it is
    // not a second cause, though it is a large share of the little the EQ left.
    let m = Measurements {
        bus_eq_max_db: -3.7,
        bus_eq_band_hz: (2245.0, 2828.0),
        bus_eq_explains_db: -20.5,
        bus_gain_db: -0.23,
        bus_gain_explains_db: -40.0,
        ..residual_at(-20.0)
    };
    let kinds: Vec<_> = summary(&diagnose(&m)).into_iter().map(|s| s.0).collect();
    assert_eq!(kinds, vec![FindingKind::MasterBusEq]);
    // Explaining a real share (-27 dB: 20%), but a fifteenth of the bell's depth: the bell's
    // own drag on the broadband level (neon eq-2500 in the corpus).
    let dragged = Measurements {
        bus_gain_explains_db: -27.0,
        ..m.clone()
    };
    let kinds: Vec<_> = summary(&diagnose(&dragged))
        .into_iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(kinds, vec![FindingKind::MasterBusEq]);
    // A real master gain beside the EQ (-21 dB: 79% of the residual) is still named.
    let m = Measurements {
        bus_gain_db: -2.0,
        bus_gain_explains_db: -21.0,
        ..m
    };
    let kinds: Vec<_> = summary(&diagnose(&m)).into_iter().map(|s| s.0).collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(
        kinds.contains(&FindingKind::MasterBusEq) && kinds.contains(&FindingKind::MasterBusGain)
    );
}

/// A -18 dB residual a stem's fitted gain (-1.6 dB on Keys, the stem of the loud passages)
/// explains in part, with a gain-by-level fit against the stems at unity (3 dB of reduction
/// above -20 dBFS) and the level residuals `(unit one gain, unit per level, fitted per level)`.
fn gains_or_compressor(level_residuals_db: (f32, f32, f32)) -> Measurements {
    let mut m = residual_at(-18.0);
    m.stems[2].gain_db = -1.6;
    m.stems[2].gain_explains_db = -19.0;
    m.unexplained_db = -60.0;
    m.dynamics_unit_fit = Some(LevelGainFit {
        reference_db: 0.0,
        knee_dbfs: -20.0,
        slope: 0.4,
        depth_db: 3.0,
        agreement: 1.0,
        blocks_reduced: 200,
        blocks: 500,
        level_span_db: 40.0,
        explained_share: 0.05,
    });
    let (unit_one_gain_db, unit_per_level_db, fitted_per_level_db) = level_residuals_db;
    m.level_residuals = Some(LevelResiduals {
        unit_one_gain_db,
        unit_per_level_db,
        fitted_per_level_db,
    });
    m
}

#[test]
fn stem_gains_a_compressor_explains_as_well_at_unity_are_the_compressor_s() {
    // A gain per level leaves -21 dB against the stems at unity, -20.5 dB against the fitted
    // gains (they buy nothing), and explains 3.5 dB over one gain: a compressor took them.
    let m = gains_or_compressor((-17.5, -21.0, -20.5));
    assert_eq!(
        summary(&diagnose(&m)),
        vec![(FindingKind::MasterBusDynamics, vec![], Severity::Error)]
    );
    let recast = super::compressor_took_stem_gains(&m).expect("recast");
    assert_eq!(recast.stems[2].gain_db, 0.0);
    assert_eq!(recast.dynamics.map(|d| d.gain_reduction_db), Some(3.0));
    // What the stem's gain explained is the compressor's now, with what the level explains:
    // 10^-1.9 + (10^-1.75 - 10^-2.1) = 0.0224, -16.5 dB.
    assert!(
        (recast.dynamics_explains_db + 16.49).abs() < 0.05,
        "{}",
        recast.dynamics_explains_db
    );
}

#[test]
fn a_stem_gain_that_leaves_far_less_than_a_compressor_stands() {
    // The fitted gains leave 10 dB less than any gain per level at unity: the stem is off.
    let m = gains_or_compressor((-17.5, -21.0, -31.0));
    assert!(super::compressor_took_stem_gains(&m).is_none());
    assert!(
        summary(&diagnose(&m))
            .iter()
            .any(|(k, s, _)| *k == FindingKind::StemGain && s == &["Keys".to_string()])
    );
    // No gain that depends on level (0.3 dB over one gain): no compressor to take it.
    let m = gains_or_compressor((-20.7, -21.0, -20.5));
    assert!(super::compressor_took_stem_gains(&m).is_none());
}

#[test]
fn a_compressor_with_a_smeared_residual_is_still_a_compressor() {
    // A slow release smears the residual over tens of milliseconds (spread 0.52), as a return
    // does; but a gain per level explains 3.5 dB of it, which no return does.
    let mut m = gains_or_compressor((-17.5, -21.0, -20.5));
    m.residual_ir_spread = 0.52;
    assert_eq!(
        summary(&diagnose(&m)),
        vec![(FindingKind::MasterBusDynamics, vec![], Severity::Error)]
    );
    // Without that level dependence it stays a return's residual, even with a compressor read
    // from the block gains.
    m.level_residuals = None;
    m.dynamics = Some(DynamicsEstimate {
        gain_reduction_db: 3.0,
        correlation: -1.0,
        level_span_db: 40.0,
        frames: 500,
    });
    m.dynamics_explains_db = -19.0;
    assert!(
        !summary(&diagnose(&m))
            .iter()
            .any(|(k, _, _)| *k == FindingKind::MasterBusDynamics)
    );
}

#[test]
fn a_compressor_beside_an_inverted_stem_that_took_nearly_all_is_still_read() {
    // The jazz waltz under a 2:1 compressor, its drums inverted: a -4.7 dB residual once
    // aligned, of which the drums' polarity explains -4.64 dB. What no stem explains (-19.2 dB)
    // is the coherence estimate's bias beside so loud a residual; the compressor (3.2 dB deep)
    // explains -16.9 dB and its make-up -24.2 dB. Against the floored remainder (5% of the
    // residual) the bias read as most of what was left; beside what the bus explains, it is a
    // third: the compressor is named, and no master gain in its place.
    let mut m = compressed(3.16);
    m.null_residual_db = -4.38;
    m.residual_spectral_db = -4.68;
    m.unexplained_db = -19.18;
    m.dynamics.as_mut().unwrap().correlation = -1.0;
    m.dynamics_explains_db = -16.94;
    m.bus_gain_db = 0.57;
    m.bus_gain_explains_db = -24.15;
    m.stems[0].inverted = true;
    m.stems[0].gain_db = -0.07;
    m.stems[0].gain_explains_db = -4.64;
    let findings = diagnose(&m);
    only(&findings, FindingKind::MasterBusDynamics);
    assert_eq!(
        only(&findings, FindingKind::StemPolarity).stems,
        vec!["Drums".to_string()]
    );
    assert!(
        findings
            .iter()
            .all(|f| f.kind != FindingKind::MasterBusGain),
        "{findings:#?}"
    );
}

#[test]
fn with_no_stem_cause_what_the_block_gains_explain_does_not_widen_what_is_left() {
    // A part no stem carries (-7 dB re master of a -4.7 dB residual) modulates the block gains
    // too: that they "explain" -6 dB is no measure of what is left, and no compressor is read
    // from them (with what they explain counted, they would be).
    let mut m = compressed(3.16);
    m.null_residual_db = -4.38;
    m.residual_spectral_db = -4.68;
    m.unexplained_db = -7.0;
    m.dynamics.as_mut().unwrap().correlation = -1.0;
    m.dynamics_explains_db = -6.0;
    let findings = diagnose(&m);
    assert!(
        findings
            .iter()
            .all(|f| f.kind != FindingKind::MasterBusDynamics),
        "{findings:#?}"
    );
}

/// The piano trio under a 4:1 compressor from -26 dBFS (10.3 dB of gain reduction at most),
/// as measured: a -14.4 dB residual once aligned, of which no stem explains -17.2 dB (52%),
/// and a 1.9 dB bump a band EQ reads from the compressor's band gains.
fn hard_compressor() -> Measurements {
    let mut m = compressed(5.15);
    m.null_residual_db = -13.77;
    m.residual_spectral_db = -14.39;
    m.unexplained_db = -17.2;
    m.dynamics.as_mut().unwrap().correlation = -1.0;
    m.dynamics_explains_db = -10.7;
    m.bus_eq_max_db = 1.86;
    m.bus_eq_beyond_dynamics_db = 1.58;
    m.bus_eq_explains_db = -23.2;
    m.bus_eq_band_hz = (2_000.0, 4_000.0);
    m.residual_collinear_share = 0.92;
    m.level_residuals = Some(LevelResiduals {
        unit_one_gain_db: -14.27,
        unit_per_level_db: -15.73,
        fitted_per_level_db: -16.63,
    });
    m
}

#[test]
fn a_hard_compressor_whose_residual_no_frame_fit_explains_is_still_the_compressor() {
    // Its gain moves within the frames, so what no stem explains is half of the residual; but
    // it is the sum under a gain (92% collinear) that depends on level (1.5 dB over one gain).
    assert_eq!(
        summary(&diagnose(&hard_compressor())),
        vec![(FindingKind::MasterBusDynamics, vec![], Severity::Error)]
    );
    // The same residual not collinear with the sum is content no stem carries, which moves the
    // block gains too: no compressor is read from them.
    let mut m = hard_compressor();
    m.residual_collinear_share = 0.4;
    let kinds: Vec<_> = diagnose(&m).iter().map(|f| f.kind).collect();
    assert!(
        !kinds.contains(&FindingKind::MasterBusDynamics),
        "{kinds:?}"
    );
    // Nor from a gain per level no better than one gain.
    let mut m = hard_compressor();
    m.level_residuals.as_mut().unwrap().unit_per_level_db = -14.5;
    let kinds: Vec<_> = diagnose(&m).iter().map(|f| f.kind).collect();
    assert!(
        !kinds.contains(&FindingKind::MasterBusDynamics),
        "{kinds:?}"
    );
}

#[test]
fn an_eq_where_the_stems_explain_the_master_is_named_beside_a_missing_source() {
    // The folk piece with its guitar missing and a 2 dB high shelf at 6 kHz on the master, as
    // measured: a -8.5 dB residual once aligned, -8.8 dB of it no stem explains; the shelf
    // explains -24.6 dB (3% of the residual), 1.8 dB at 12.5 kHz, where the stems explain the
    // master: 1.5 dB beyond what the missing part could move the fit by there.
    let mut m = residual_at(-8.35);
    m.residual_spectral_db = -8.46;
    m.unexplained_db = -8.79;
    m.unexplained_band_hz = (224.0, 282.0);
    m.residual_collinear_share = 0.016;
    m.residual_onset_ratio = 1.18;
    m.bus_eq_max_db = 1.83;
    m.bus_eq_band_hz = (11_220.0, 14_130.0);
    m.bus_eq_explains_db = -24.55;
    m.bus_eq_credible_db = 1.55;
    assert!(
        kinds(&m).contains(&FindingKind::MasterBusEq),
        "{:?}",
        kinds(&m)
    );
    assert!(kinds(&m).contains(&FindingKind::MissingContent));
    // The same deviation where the missing part could have moved the fit as far (a kick
    // missing beside the bass): the missing part's, not an EQ.
    m.bus_eq_credible_db = 0.0;
    assert_eq!(kinds(&m), vec![FindingKind::MissingContent]);
    // Beside a compressor, not judged on its own.
    let mut c = compressed(3.0);
    c.unexplained_db = -22.0;
    c.bus_eq_beyond_dynamics_db = 3.5;
    c.bus_eq_max_db = 3.5;
    c.bus_eq_credible_db = 3.5;
    c.bus_eq_explains_db = -40.0;
    assert!(
        !kinds(&c).contains(&FindingKind::MasterBusEq),
        "{:?}",
        kinds(&c)
    );
}

#[test]
fn an_eq_within_what_a_missing_part_could_move_the_fit_by_is_the_part_s() {
    // The orchestral piece with its reverb return missing (TimGM6mb), as measured: a -15.4 dB
    // residual once aligned, -17.2 dB of it no stem explains; the return's part coherent with
    // its sources reads as -0.7 dB at 500 Hz (12% of the residual), none of it beyond what the
    // missing part could move the fit by there.
    let mut m = residual_at(-13.12);
    m.residual_spectral_db = -15.43;
    m.unexplained_db = -17.23;
    m.unexplained_band_hz = (447.0, 562.0);
    m.residual_lr_correlation = -0.01;
    m.residual_collinear_share = 0.14;
    m.residual_tail_follow = 1.0;
    m.residual_onset_ratio = 1.43;
    m.bus_eq_max_db = -0.71;
    m.bus_eq_band_hz = (447.0, 562.0);
    m.bus_eq_explains_db = -24.66;
    m.bus_eq_credible_db = 0.0;
    assert!(
        !kinds(&m).contains(&FindingKind::MasterBusEq),
        "{:?}",
        kinds(&m)
    );
    assert_eq!(kinds(&m).len(), 1, "{:?}", kinds(&m));
    // An EQ beyond that bias stands beside it.
    m.bus_eq_credible_db = -0.6;
    assert!(
        kinds(&m).contains(&FindingKind::MasterBusEq),
        "{:?}",
        kinds(&m)
    );
    // Alone (nothing missing named), the EQ is judged as before.
    let mut alone = residual_at(-20.0);
    alone.bus_eq_max_db = 2.0;
    alone.bus_eq_explains_db = -21.0;
    assert_eq!(kinds(&alone), vec![FindingKind::MasterBusEq]);
}

/// A gentle compressor (1.5:1 from -14 dBFS, up to 0.8 dB) as measured on a 44.1 kHz, 16-bit
/// delivery: 0.29 dB at the loudest blocks, every one of them turned down, and a gain per level
/// leaving `over_one_gain_db` less than one gain for the run; its make-up reads +0.83 dB.
fn gentle_compressor(over_one_gain_db: f32) -> Measurements {
    Measurements {
        dynamics: Some(DynamicsEstimate {
            gain_reduction_db: 0.29,
            correlation: -1.0,
            level_span_db: 54.0,
            frames: 696,
        }),
        dynamics_explains_db: -35.9,
        bus_gain_db: 0.83,
        bus_gain_explains_db: -20.8,
        unexplained_db: -38.7,
        level_residuals: Some(LevelResiduals {
            unit_one_gain_db: -38.7 + over_one_gain_db,
            unit_per_level_db: -38.7,
            fitted_per_level_db: -38.6,
        }),
        ..residual_at(-20.5)
    }
}

#[test]
fn a_shallow_reduction_that_depends_on_level_beyond_doubt_is_a_compressor() {
    // 3.1 dB over one gain (measured): the compressor, its make-up folded in.
    assert_eq!(
        kinds(&gentle_compressor(3.1)),
        vec![FindingKind::MasterBusDynamics]
    );
    // 1.5 dB over one gain: 0.29 dB is under the usual threshold, and the make-up is a gain.
    assert_eq!(
        kinds(&gentle_compressor(1.5)),
        vec![FindingKind::MasterBusGain]
    );
    // Nor when one of the loudest blocks was turned up.
    let mut m = gentle_compressor(3.1);
    m.dynamics.as_mut().unwrap().correlation = -0.9;
    assert_eq!(kinds(&m), vec![FindingKind::MasterBusGain]);
}

#[test]
fn a_deep_compressor_gives_a_stem_more_than_a_shallow_one() {
    // Measured: 4:1 from -26 dBFS, 8.8 dB deep, gave a piano +2.9 dB over the run: the
    // compressor's, as a 1.6 dB gain is beside a 3 dB one ...
    let mut m = gains_or_compressor((-17.5, -21.0, -20.5));
    m.stems[2].gain_db = 2.9;
    m.dynamics_unit_fit.as_mut().unwrap().depth_db = 8.8;
    let recast = super::compressor_took_stem_gains(&m).expect("recast");
    assert_eq!(recast.stems[2].gain_db, 0.0);
    // As deep as either view reads it: 3.3 dB against the stems at unity, 8.9 against their
    // fitted gains, and a piano +3.4 dB (measured).
    let mut both = m.clone();
    both.stems[2].gain_db = 3.4;
    both.dynamics_unit_fit.as_mut().unwrap().depth_db = 3.3;
    both.dynamics = Some(DynamicsEstimate {
        gain_reduction_db: 8.9,
        correlation: -1.0,
        level_span_db: 40.0,
        frames: 500,
    });
    let recast = super::compressor_took_stem_gains(&both).expect("recast");
    assert_eq!(recast.stems[2].gain_db, 0.0);
    // ... but beside a 1.5 dB one, 2.9 dB is the stem's own: nothing for the compressor to
    // take, and the gain is named.
    m.dynamics_unit_fit.as_mut().unwrap().depth_db = 1.5;
    assert!(super::compressor_took_stem_gains(&m).is_none());
    assert!(
        summary(&diagnose(&m))
            .iter()
            .any(|(k, s, _)| *k == FindingKind::StemGain && s == &["Keys".to_string()])
    );
    assert_eq!(crate::dynamics::stem_gain_beyond_dynamics_db(1.5), 2.0);
    assert_eq!(crate::dynamics::stem_gain_beyond_dynamics_db(8.8), 8.8);
    assert_eq!(crate::dynamics::stem_gain_beyond_dynamics_db(f32::NAN), 2.0);
}
