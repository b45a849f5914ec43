//! From measurements to findings: which causes explain the residual, in words an engineer uses.
//!
//! A cause is named only if it clears its threshold *and* explains a real share of the
//! residual ([`CAUSE_MIN_SHARE`]): a missing reverb return leaves a little coherent energy that
//! looks like a small gain change on the stem that feeds it, and that must not be reported as a
//! second problem. Thresholds have hysteresis ([`HYSTERESIS_DB`]), so findings do not flicker.

use std::collections::HashSet;

use crate::config::*;
use crate::finding::{Finding, FindingKind, Severity, Unit};
use crate::headroom::LevelSummary;
use crate::measurements::Measurements;

/// Hysteresis state: which findings are currently on.
#[derive(Debug, Default, Clone)]
pub struct Diagnosis {
    active: HashSet<(FindingKind, String)>,
    next: HashSet<(FindingKind, String)>,
    /// The null-test findings of the last complete estimate, shown while a new one builds up.
    held: Vec<Finding>,
}

/// Findings from level statistics, which never need the cross-spectral estimate.
fn is_headroom(kind: FindingKind) -> bool {
    matches!(
        kind,
        FindingKind::Clipping
            | FindingKind::TruePeak
            | FindingKind::DcOffset
            | FindingKind::SilentStem
            | FindingKind::SumOverFullScale
            | FindingKind::StemCount
            | FindingKind::NoMaster
            | FindingKind::NoStems
    )
}

impl Diagnosis {
    /// Whether `value` clears `threshold` (lower by the hysteresis margin if already on).
    fn over(&mut self, kind: FindingKind, key: &str, value: f32, threshold: f32) -> bool {
        let k = (kind, key.to_string());
        let margin = if self.active.contains(&k) {
            HYSTERESIS_DB
        } else {
            0.0
        };
        let on = value.is_finite() && value >= threshold - margin;
        if on {
            self.next.insert(k);
        }
        on
    }

    /// The findings for `m`, most important first.
    pub fn update(&mut self, m: &Measurements, config: &AnalyzerConfig) -> Vec<Finding> {
        self.next.clear();
        let mut out = Vec::new();
        let confidence = (m.seconds_analysed / 2.0).clamp(0.2, 1.0) as f32;

        self.setup(m, config, &mut out);
        self.headroom(m, config, &mut out);
        if m.has_master && m.num_stems > 0 && m.seconds_analysed >= MIN_ANALYSIS_SECONDS as f64 {
            if m.cross_ready {
                self.null_test(m, confidence, &mut out);
                self.cancellations(m, confidence, &mut out);
            } else {
                // Between a lag change and enough new frames, keep what was on (no flicker).
                self.next.extend(
                    self.active
                        .iter()
                        .filter(|(k, _)| !is_headroom(*k))
                        .cloned(),
                );
                out.extend(self.held.iter().cloned());
            }
        }
        if m.cross_ready {
            self.held = out
                .iter()
                .filter(|f| !is_headroom(f.kind))
                .cloned()
                .collect();
        }
        self.active = std::mem::take(&mut self.next);
        out.sort_by_key(|f| std::cmp::Reverse(f.importance()));
        out
    }

    fn setup(&mut self, m: &Measurements, config: &AnalyzerConfig, out: &mut Vec<Finding>) {
        if m.seconds_received >= 1.0 && !m.has_master && m.num_stems > 0 {
            out.push(Finding::new(
                FindingKind::NoMaster,
                Severity::Warning,
                vec![],
                0.0,
                Unit::None,
                1.0,
                "No master: the stems have nothing to be compared with.".into(),
                "Put Stemcheck on the master bus (or give the checker the mixdown).".into(),
            ));
        }
        if m.seconds_received >= 1.0 && m.has_master && m.num_stems == 0 {
            out.push(Finding::new(
                FindingKind::NoStems,
                Severity::Warning,
                vec![],
                0.0,
                Unit::None,
                1.0,
                "No stems: the master has nothing to be compared with.".into(),
                "Put Stemcheck on every stem bus (or give the checker the stem files).".into(),
            ));
        }
        let n = m.num_stems;
        if n >= config.multitrack_stems {
            out.push(Finding::new(
                FindingKind::StemCount,
                Severity::Warning,
                vec![],
                n as f64,
                Unit::Count,
                1.0,
                format!("{n} stems: this looks like raw multitracks, not stems (usually 5 to 8, at most about 12)."),
                "Group the tracks into musical stems (drums, bass, harmony, leads, FX).".into(),
            ));
        } else if n > config.usual_max_stems || (n > 0 && n < config.usual_min_stems) {
            out.push(Finding::new(
                FindingKind::StemCount,
                Severity::Info,
                vec![],
                n as f64,
                Unit::Count,
                1.0,
                format!("{n} stems: a stem set usually has 5 to 8 (at most about 12)."),
                "Check the delivery spec for the expected stems.".into(),
            ));
        }
    }

    fn headroom(&mut self, m: &Measurements, config: &AnalyzerConfig, out: &mut Vec<Finding>) {
        let mut signals: Vec<(String, LevelSummary, bool)> = Vec::new();
        if let Some(levels) = m.master_levels {
            signals.push(("Master".to_string(), levels, false));
        }
        for stem in &m.stems {
            signals.push((stem.name.clone(), stem.levels, true));
        }
        for (name, levels, is_stem) in &signals {
            let stems = if *is_stem { vec![name.clone()] } else { vec![] };
            if levels.clipped_samples > 0 {
                out.push(Finding::new(
                    FindingKind::Clipping,
                    Severity::Error,
                    stems.clone(),
                    levels.clipped_samples as f64,
                    Unit::Count,
                    1.0,
                    format!(
                        "{name} clips: {} samples at or over full scale.",
                        levels.clipped_samples
                    ),
                    format!("Lower {name}'s level before export (or export as 32-bit float)."),
                ));
            }
            if self.over(
                FindingKind::TruePeak,
                name,
                levels.true_peak_dbtp,
                config.true_peak_limit_dbtp + 0.001,
            ) {
                out.push(Finding::new(
                    FindingKind::TruePeak,
                    Severity::Warning,
                    stems.clone(),
                    f64::from(levels.true_peak_dbtp),
                    Unit::Dbtp,
                    1.0,
                    format!(
                        "{name} reaches {:.1} dBTP (limit {:.1} dBTP).",
                        levels.true_peak_dbtp, config.true_peak_limit_dbtp
                    ),
                    format!(
                        "Lower {name} or use a true-peak limiter at {:.1} dBTP.",
                        config.true_peak_limit_dbtp
                    ),
                ));
            }
            if self.over(FindingKind::DcOffset, name, levels.dc_dbfs, DC_OFFSET_DBFS) {
                out.push(Finding::new(
                    FindingKind::DcOffset,
                    Severity::Warning,
                    stems.clone(),
                    f64::from(levels.dc_dbfs),
                    Unit::Dbfs,
                    1.0,
                    format!("{name} has a DC offset of {:.1} dBFS.", levels.dc_dbfs),
                    format!("High-pass {name} (a DC filter) before export."),
                ));
            }
        }
        if let Some(sum) = m.sum_levels
            && sum.peak_dbfs > 0.0
        {
            out.push(Finding::new(
                FindingKind::SumOverFullScale,
                Severity::Warning,
                vec![],
                f64::from(sum.peak_dbfs),
                Unit::Dbfs,
                1.0,
                format!(
                    "The stems sum to {:.1} dBFS: over full scale when summed at unity.",
                    sum.peak_dbfs
                ),
                "Leave headroom on the stems (or deliver 32-bit float).".into(),
            ));
        }
        for stem in &m.stems {
            if m.seconds_received >= 2.0
                && stem.present_fraction > 0.5
                && stem.levels.peak_dbfs < SILENCE_DBFS
            {
                out.push(Finding::new(
                    FindingKind::SilentStem,
                    Severity::Warning,
                    vec![stem.name.clone()],
                    f64::from(stem.levels.peak_dbfs),
                    Unit::Dbfs,
                    1.0,
                    format!("{} is silent while the song plays.", stem.name),
                    format!(
                        "Check {}'s routing and mutes, or leave it out of the delivery.",
                        stem.name
                    ),
                ));
            }
        }
    }

    fn null_test(&mut self, m: &Measurements, confidence: f32, out: &mut Vec<Finding>) {
        if m.common_lag_samples != 0 {
            let ms = m.common_lag_samples as f64 * 1000.0 / f64::from(m.sample_rate_hz);
            out.push(Finding::new(
                FindingKind::MasterLatency,
                Severity::Info,
                vec![],
                m.common_lag_samples as f64,
                Unit::Samples,
                confidence,
                format!(
                    "The master is {} samples ({ms:.2} ms) {} all stems alike; compensated before the null test.",
                    m.common_lag_samples.abs(),
                    if m.common_lag_samples > 0 { "later than" } else { "earlier than" }
                ),
                "Nothing to fix if Stemcheck sits after a look-ahead limiter; otherwise check the master bus's delay compensation.".into(),
            ));
        }
        let residual = m.null_residual_db;
        let nulls_key = "";
        let nulling = -residual;
        if self.over(FindingKind::Nulls, nulls_key, nulling, -NULLS_BELOW_DB) {
            out.push(Finding::new(
                FindingKind::Nulls,
                Severity::Info,
                vec![],
                f64::from(residual),
                Unit::Db,
                confidence,
                format!(
                    "Nulls: the stems rebuild the master (residual {residual:.1} dB re master)."
                ),
                "Nothing to fix.".into(),
            ));
            return;
        }
        let residual_power = 10f64.powf(f64::from(residual) / 10.0);
        // A stem's offset is measured against the whole residual. Everything else is measured
        // against the residual left once the stems are aligned (the spectral residual), minus
        // the causes already named: a second, smaller defect is not drowned by a large offset.
        let power = |explains_db: f32| 10f64.powf(f64::from(explains_db) / 10.0);
        let offset_share = |explains_db: f32| (power(explains_db) / residual_power) as f32;
        let aligned_power = power(m.residual_spectral_db).max(1e-30);
        let remaining = std::cell::Cell::new(aligned_power);
        let share = |explains_db: f32| {
            (power(explains_db) / remaining.get().max(0.05 * aligned_power)) as f32
        };
        let take =
            |explains_db: f32| remaining.set((remaining.get() - power(explains_db)).max(0.0));
        let mut explained = false;

        for stem in &m.stems {
            let name = stem.name.clone();
            let offset = stem.offset_samples;
            if stem.lag_locked
                && offset_share(stem.offset_explains_db) >= CAUSE_MIN_SHARE
                && self.over(
                    FindingKind::StemOffset,
                    &name,
                    offset.abs() as f32,
                    STEM_OFFSET_MIN_SAMPLES,
                )
            {
                explained = true;
                let ms = offset * 1000.0 / f64::from(m.sample_rate_hz);
                let (state, action) = if offset > 0.0 {
                    ("early", "Delay")
                } else {
                    ("late", "Advance")
                };
                let samples = if offset.abs() >= 1.0 {
                    format!("{:.0} samples", offset.abs())
                } else {
                    format!("{:.2} samples", offset.abs())
                };
                out.push(Finding::new(
                    FindingKind::StemOffset,
                    if offset.abs() >= 1.0 { Severity::Error } else { Severity::Warning },
                    vec![name.clone()],
                    offset,
                    Unit::Samples,
                    confidence,
                    format!("{name} is {samples} ({:.2} ms) {state} against the other stems.", ms.abs()),
                    format!(
                        "{action} {name} by {samples}: check plugin delay compensation on its bus (or re-export it)."
                    ),
                ));
            }
        }
        for stem in &m.stems {
            let name = stem.name.clone();
            let gain_share = share(stem.gain_explains_db);
            if stem.inverted && gain_share >= CAUSE_MIN_SHARE {
                explained = true;
                take(stem.gain_explains_db);
                self.next.insert((FindingKind::StemPolarity, name.clone()));
                out.push(Finding::new(
                    FindingKind::StemPolarity,
                    Severity::Error,
                    vec![name.clone()],
                    f64::from(stem.gain_db),
                    Unit::Db,
                    confidence,
                    format!("{name} is polarity-inverted against the master."),
                    format!(
                        "Flip {name}'s polarity (and check for a phase-invert switch on its bus)."
                    ),
                ));
            } else if gain_share >= CAUSE_MIN_SHARE
                && self.over(
                    FindingKind::StemGain,
                    &name,
                    stem.gain_db.abs(),
                    STEM_GAIN_THRESHOLD_DB,
                )
            {
                explained = true;
                take(stem.gain_explains_db);
                let direction = if stem.gain_db > 0.0 {
                    "louder"
                } else {
                    "quieter"
                };
                out.push(Finding::new(
                    FindingKind::StemGain,
                    if stem.gain_db.abs() >= 0.5 { Severity::Error } else { Severity::Warning },
                    vec![name.clone()],
                    f64::from(stem.gain_db),
                    Unit::Db,
                    confidence,
                    format!("{name} is {:.2} dB {direction} in the master than in its stem.", stem.gain_db.abs()),
                    format!(
                        "Match {name}'s bus level to what fed the master (a fader or send changed after the mix?), then re-export it."
                    ),
                ));
            }
        }

        // A residual that is mostly coherent with the sum but responds over tens of
        // milliseconds is a reverb or delay fed by the stems, not EQ or gain: do not explain
        // it away as those.
        let coherent_share =
            1.0 - (10f32.powf((m.unexplained_db - m.residual_spectral_db) / 10.0)).min(1.0);
        let long_response = m.residual_ir_spread > LONG_RESPONSE_SPREAD
            && coherent_share > LONG_RESPONSE_MIN_COHERENT
            && residual > MISSING_CONTENT_THRESHOLD_DB;

        let mut dynamic = false;
        if let Some(d) = m.dynamics
            && !long_response
            && d.correlation <= DYNAMICS_MIN_CORRELATION
            && share(m.dynamics_explains_db) >= CAUSE_MIN_SHARE
            && self.over(
                FindingKind::MasterBusDynamics,
                "",
                d.gain_reduction_db,
                DYNAMICS_THRESHOLD_DB,
            )
        {
            explained = true;
            take(m.dynamics_explains_db);
            dynamic = true;
            out.push(Finding::new(
                FindingKind::MasterBusDynamics,
                Severity::Error,
                vec![],
                f64::from(d.gain_reduction_db),
                Unit::Db,
                confidence,
                format!(
                    "The master bus compresses: about {:.1} dB more gain reduction on loud passages than on quiet ones, which the stems lack.",
                    d.gain_reduction_db
                ),
                "Print the master-bus compressor/limiter into the stems, or bypass it for both.".into(),
            ));
        }
        let eq_threshold = if dynamic {
            BUS_EQ_THRESHOLD_DB.max(m.dynamics.map_or(0.0, |d| d.gain_reduction_db))
        } else {
            BUS_EQ_THRESHOLD_DB
        };
        if !long_response
            && share(m.bus_eq_explains_db) >= CAUSE_MIN_SHARE
            && self.over(
                FindingKind::MasterBusEq,
                "",
                m.bus_eq_max_db.abs(),
                eq_threshold,
            )
        {
            explained = true;
            take(m.bus_eq_explains_db);
            let (lo, hi) = m.bus_eq_band_hz;
            let centre = (lo * hi).sqrt();
            let mut f = Finding::new(
                FindingKind::MasterBusEq,
                Severity::Error,
                vec![],
                f64::from(m.bus_eq_max_db),
                Unit::Db,
                confidence,
                format!(
                    "The master bus has EQ the stems lack: {:+.1} dB around {} against the stems.",
                    m.bus_eq_max_db,
                    format_hz(centre)
                ),
                "Print the master-bus EQ into the stems, or bypass it for both.".into(),
            );
            f.band_hz = Some((lo, hi));
            out.push(f);
        }
        if !dynamic
            && !long_response
            && share(m.bus_gain_explains_db) >= CAUSE_MIN_SHARE
            && self.over(
                FindingKind::MasterBusGain,
                "",
                m.bus_gain_db.abs(),
                BUS_GAIN_THRESHOLD_DB,
            )
        {
            explained = true;
            take(m.bus_gain_explains_db);
            out.push(Finding::new(
                FindingKind::MasterBusGain,
                if m.bus_gain_db.abs() >= 1.0 { Severity::Error } else { Severity::Warning },
                vec![],
                f64::from(m.bus_gain_db),
                Unit::Db,
                confidence,
                format!("The master is {:+.2} dB against the stems' sum (a master fader or gain plugin).", m.bus_gain_db),
                "Set the master-bus gain to 0 dB for the stem export, or apply the same gain to every stem.".into(),
            ));
        }

        let unexplained_share = share(m.unexplained_db);
        let other_cause = explained;
        let long_response = long_response && !other_cause;
        let missing_db = if long_response {
            residual
        } else {
            m.unexplained_db
        };
        if (long_response
            || unexplained_share >= CAUSE_MIN_SHARE.max(if explained { 0.3 } else { 0.0 }))
            && self.over(
                FindingKind::MissingContent,
                "",
                missing_db,
                MISSING_CONTENT_THRESHOLD_DB,
            )
        {
            explained = true;
            let (lo, hi) = m.unexplained_band_hz;
            let wide = m.residual_lr_correlation < 0.5;
            let tail = m.residual_tail_follow > 1.1;
            let is_fx = long_response || wide || (tail && m.residual_lr_correlation < 0.8);
            // Alone, the missing content is the whole residual (part of a reverb tail is
            // coherent with its dry source within a frame, so "unexplained" undercounts it).
            let level = if other_cause {
                m.unexplained_db
            } else {
                m.null_residual_db.max(m.unexplained_db)
            };
            let severity = if level >= -30.0 {
                Severity::Error
            } else {
                Severity::Warning
            };
            let f = if is_fx {
                Finding::new(
                    FindingKind::MissingFxReturn,
                    severity,
                    vec![],
                    f64::from(level),
                    Unit::Db,
                    confidence,
                    format!(
                        "The master has reverb or delay no stem carries ({level:.1} dB re master, diffuse{}).",
                        if tail { ", trailing the transients" } else { "" }
                    ),
                    "Route the reverb/delay return to the FX stem (or print it into the stems it belongs to).".into(),
                )
            } else {
                Finding::new(
                    FindingKind::MissingContent,
                    severity,
                    vec![],
                    f64::from(level),
                    Unit::Db,
                    confidence,
                    format!(
                        "The master has a source no stem carries ({level:.1} dB re master, mostly around {}).",
                        format_hz((lo * hi).sqrt())
                    ),
                    "Find the track routed straight to the master (or to no stem) and route it to a stem.".into(),
                )
            };
            out.push(f);
            if let Some(last) = out.last_mut() {
                last.band_hz = Some((lo, hi));
            }
        }
        if !explained && residual > MISSING_CONTENT_THRESHOLD_DB {
            out.push(Finding::new(
                FindingKind::MissingContent,
                Severity::Warning,
                vec![],
                f64::from(residual),
                Unit::Db,
                confidence * 0.5,
                format!("The stems do not rebuild the master (residual {residual:.1} dB re master), for no single clear reason."),
                "Compare the stem routing with the mix: sends, master-bus plugins, automation.".into(),
            ));
        } else if !explained {
            out.push(Finding::new(
                FindingKind::Nulls,
                Severity::Info,
                vec![],
                f64::from(residual),
                Unit::Db,
                confidence,
                format!("Nearly nulls: residual {residual:.1} dB re master, below any audible difference."),
                "Nothing to fix.".into(),
            ));
        }
    }

    fn cancellations(&mut self, m: &Measurements, confidence: f32, out: &mut Vec<Finding>) {
        for c in &m.cancellations {
            let key = format!("{}+{}", c.stems[0], c.stems[1]);
            if self.over(
                FindingKind::StemPhaseCancellation,
                &key,
                -c.loss_db,
                -CANCELLATION_THRESHOLD_DB,
            ) {
                let (lo, hi) = c.band_hz;
                let mut f = Finding::new(
                    FindingKind::StemPhaseCancellation,
                    Severity::Warning,
                    c.stems.to_vec(),
                    f64::from(c.loss_db),
                    Unit::Db,
                    confidence,
                    format!(
                        "{} and {} cancel around {}: {:.1} dB lost when summed.",
                        c.stems[0],
                        c.stems[1],
                        format_hz((lo * hi).sqrt()),
                        -c.loss_db
                    ),
                    format!(
                        "Check the polarity or timing of {} against {} in the low end (or high-pass one of them).",
                        c.stems[1], c.stems[0]
                    ),
                );
                f.band_hz = Some((lo, hi));
                out.push(f);
            }
        }
    }
}

fn format_hz(hz: f32) -> String {
    if hz >= 1000.0 {
        format!("{:.1} kHz", hz / 1000.0)
    } else {
        format!("{hz:.0} Hz")
    }
}

/// A finding about instances at different sample rates, for callers that see the rates (the
/// live core and the file checker): the analysis itself runs at one rate.
pub fn sample_rate_mismatch(stems: Vec<String>, expected_hz: f32, found_hz: &[f32]) -> Finding {
    let rates: Vec<String> = found_hz.iter().map(|r| format!("{r} Hz")).collect();
    Finding::new(
        FindingKind::SampleRateMismatch,
        Severity::Error,
        stems.clone(),
        f64::from(found_hz.first().copied().unwrap_or(0.0)),
        Unit::Hz,
        1.0,
        format!(
            "{} at {} while the master runs at {expected_hz} Hz: they cannot be compared.",
            stems.join(", "),
            rates.join(", ")
        ),
        format!("Export or run everything at {expected_hz} Hz."),
    )
}
