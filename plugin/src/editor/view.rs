//! Drawing the dashboard from a group snapshot: null meter with history, warnings, findings,
//! stems table, spectrum, export checklist. Pure egui over data, so it can be rendered and
//! tested headless.

use egui::{Align2, Color32, FontId, Pos2, Rect, RichText, Sense, Stroke, Vec2};
use stemcheck_analysis::NULLS_BELOW_DB;
use stemcheck_analysis::{FindingKind, Severity, Verdict};
use stemcheck_live::snapshot::LaneActivity;
use stemcheck_live::{GroupSnapshot, Role};

use super::checklist::{self, Check};

/// Pass: nulls, check passed.
pub const GREEN: Color32 = Color32::from_rgb(80, 200, 120);
/// Warning: worth a look.
pub const AMBER: Color32 = Color32::from_rgb(235, 175, 50);
/// Failure: does not null, check failed.
pub const RED: Color32 = Color32::from_rgb(235, 80, 70);
const GREY: Color32 = Color32::from_rgb(150, 150, 150);
/// Residual above this (re master) is a clear failure, in dB.
const FAILS_ABOVE_DB: f32 = -40.0;

/// Colour of a residual level: green when it nulls, amber when minor, red when it fails.
pub fn residual_color(db: f32) -> Color32 {
    if db < NULLS_BELOW_DB {
        GREEN
    } else if db < FAILS_ABOVE_DB {
        AMBER
    } else {
        RED
    }
}

/// Plain words rather than symbols: they read at any scale, in any font.
fn severity_style(severity: Severity) -> (&'static str, Color32) {
    match severity {
        Severity::Error => ("ERROR", RED),
        Severity::Warning => ("WARN", AMBER),
        Severity::Info => ("INFO", GREY),
    }
}

/// Which row of a snapshot is the editor's own instance: by its lane in this process's core,
/// or, for an instance streaming to another process's core, by its shared-memory ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OwnRow {
    /// The instance's lane id in this process's core, if it has one.
    pub lane_id: Option<u32>,
    /// Its ring's key (0: it streams through a lane).
    pub ring_key: u64,
}

impl OwnRow {
    /// Whether `instance` is this row.
    pub fn is(&self, instance: &stemcheck_live::InstanceSnapshot) -> bool {
        if self.ring_key != 0 {
            instance.location.ring_key == self.ring_key
        } else {
            Some(instance.lane_id) == self.lane_id && instance.location.ring_key == 0
        }
    }
}

/// The whole dashboard for `snapshot`; the `own` instance's row is highlighted.
pub fn draw(ui: &mut egui::Ui, snapshot: &GroupSnapshot, own: OwnRow) {
    null_meter(ui, snapshot);
    for warning in &snapshot.warnings {
        ui.label(RichText::new(format!("Warning: {warning}")).color(AMBER));
    }
    ui.separator();
    ui.columns(2, |columns| {
        columns[0].heading("Findings");
        findings(&mut columns[0], snapshot);
        columns[1].heading("Export checklist");
        checklist_view(&mut columns[1], snapshot);
    });
    ui.separator();
    ui.heading("Stems");
    stems_table(ui, snapshot, own);
    ui.separator();
    ui.heading("Spectrum");
    spectrum(ui, snapshot);
}

fn null_meter(ui: &mut egui::Ui, snapshot: &GroupSnapshot) {
    ui.horizontal(|ui| {
        let (text, color) = match (snapshot.verdict, snapshot.null_residual_db) {
            (Verdict::Pending, _) | (_, None) => ("waiting for audio".to_string(), GREY),
            (_, Some(db)) => (format!("{db:.1} dB"), residual_color(db)),
        };
        ui.vertical(|ui| {
            ui.label(RichText::new("Null residual (re master)").small());
            ui.label(RichText::new(text).size(34.0).strong().color(color));
            let verdict = match snapshot.verdict {
                Verdict::Nulls => "Nulls: stems rebuild the master",
                Verdict::Warnings => "Check the warnings",
                Verdict::Fails => "Stems do not rebuild the master",
                Verdict::Pending => "Play the song to analyse",
            };
            ui.label(RichText::new(verdict).color(color));
            coverage_line(ui, snapshot);
        });
        history(ui, snapshot);
    });
}

/// How much of the run was compared: the verdict speaks only for that part.
fn coverage_line(ui: &mut egui::Ui, snapshot: &GroupSnapshot) {
    if snapshot.run == 0 || snapshot.run_span_frames == 0 {
        return;
    }
    let c = snapshot.coverage();
    let complete = c.dropped_frames == 0
        && 100.0 - c.analysed_percent <= stemcheck_live::coverage::MAX_UNANALYSED_PERCENT;
    let mut text = format!(
        "Analysed {:.1} s of {:.1} s ({:.0}%)",
        c.analysed_seconds, c.run_seconds, c.analysed_percent
    );
    if c.dropped_frames > 0 {
        text.push_str(&format!(", {} frames dropped", c.dropped_frames));
    }
    ui.label(
        RichText::new(text)
            .small()
            .color(if complete { GREY } else { AMBER }),
    );
}

/// Seconds of audio between two history points (the live core keeps one per half second).
const HISTORY_STEP_SECONDS: f32 = 0.5;
/// History points across the panel's width (the last minute).
const HISTORY_SPAN_POINTS: f32 = 120.0;

/// The residual over the last minute, with the time ranges of findings that have one (a stem
/// silent for a while, one that stops early) marked and labelled with the stem.
fn history(ui: &mut egui::Ui, snapshot: &GroupSnapshot) {
    let points = &snapshot.residual_history_db;
    let size = Vec2::new(ui.available_width().clamp(120.0, 520.0), 70.0);
    let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 3.0, Color32::from_gray(28));
    let (top_db, bottom_db) = (0.0f32, -120.0f32);
    let y = |db: f32| {
        rect.top() + (top_db - db.clamp(bottom_db, top_db)) / (top_db - bottom_db) * rect.height()
    };
    let step = rect.width() / (HISTORY_SPAN_POINTS - 1.0);
    for (range, label, color) in history_marks(snapshot) {
        let (a, b) = range;
        let x = |s: f32| rect.right() - step * s / HISTORY_STEP_SECONDS;
        // `a` is how long ago the range ended, `b` how long ago it began.
        let (left, right) = (x(b).max(rect.left()), x(a).min(rect.right()));
        if right <= rect.left() || left >= rect.right() {
            continue;
        }
        let mark = Rect::from_x_y_ranges(left..=right.max(left + 2.0), rect.y_range());
        painter.rect_filled(mark, 0.0, color.gamma_multiply(0.25));
        painter.text(
            Pos2::new(left + 2.0, rect.bottom() - 2.0),
            Align2::LEFT_BOTTOM,
            label,
            FontId::proportional(10.0),
            color,
        );
    }
    for (db, color) in [(NULLS_BELOW_DB, GREEN), (FAILS_ABOVE_DB, RED)] {
        painter.hline(
            rect.x_range(),
            y(db),
            Stroke::new(1.0, color.gamma_multiply(0.4)),
        );
    }
    if points.len() >= 2 {
        let start = rect.right() - step * (points.len() - 1) as f32;
        for (i, pair) in points.windows(2).enumerate() {
            let a = Pos2::new(start + step * i as f32, y(pair[0]));
            let b = Pos2::new(start + step * (i + 1) as f32, y(pair[1]));
            painter.line_segment([a, b], Stroke::new(2.0, residual_color(pair[1])));
        }
    }
    painter.text(
        rect.left_top() + Vec2::new(4.0, 2.0),
        Align2::LEFT_TOP,
        "last minute",
        FontId::proportional(10.0),
        GREY,
    );
}

/// The findings' time ranges as seconds before the history's right edge (start, end), each
/// with its label (the stem, else the finding's kind) and its severity's colour. Ranges that
/// ended more than a minute before the edge are left out.
pub fn history_marks(snapshot: &GroupSnapshot) -> Vec<((f32, f32), String, Color32)> {
    if snapshot.sample_rate_hz <= 0.0 {
        return Vec::new();
    }
    let end_s = snapshot.residual_history_end_frames as f64 / f64::from(snapshot.sample_rate_hz);
    let span_s = f64::from(HISTORY_STEP_SECONDS * HISTORY_SPAN_POINTS);
    snapshot
        .findings
        .iter()
        .filter_map(|f| {
            let (from_s, to_s) = f.time_range_s?;
            if to_s < end_s - span_s || from_s > end_s {
                return None;
            }
            let label = if f.stems.is_empty() {
                f.kind.name().to_string()
            } else {
                f.stems.join(" + ")
            };
            let ago = ((end_s - to_s).max(0.0) as f32, (end_s - from_s) as f32);
            Some(((ago.0, ago.1), label, severity_style(f.severity).1))
        })
        .collect()
}

fn findings(ui: &mut egui::Ui, snapshot: &GroupSnapshot) {
    if snapshot.findings.is_empty() {
        ui.label(RichText::new("Nothing found yet.").color(GREY));
    }
    let nulls = snapshot.verdict == Verdict::Nulls;
    for f in &snapshot.findings {
        let (icon, color) = severity_style(f.severity);
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(icon).color(color).strong());
            if !f.stems.is_empty() {
                ui.label(RichText::new(f.stems.join(" + ")).strong());
            }
            ui.label(&f.message);
        });
        if !(nulls && f.kind == FindingKind::Nulls) && f.severity > Severity::Info {
            ui.label(
                RichText::new(format!("      Fix: {}", f.fix))
                    .italics()
                    .color(GREY),
            );
        }
    }
}

fn checklist_view(ui: &mut egui::Ui, snapshot: &GroupSnapshot) {
    for item in checklist::items(snapshot) {
        let (mark, color) = match item.state {
            Check::Pass => ("PASS", GREEN),
            Check::Warn => ("WARN", AMBER),
            Check::Fail => ("FAIL", RED),
            Check::Pending => ("....", GREY),
        };
        ui.horizontal(|ui| {
            ui.label(RichText::new(mark).color(color).strong().monospace());
            ui.label(item.label);
        });
    }
    if let Some(path) = &snapshot.last_report {
        ui.label(
            RichText::new(format!("Last report: {path}"))
                .small()
                .color(GREY),
        );
    }
}

fn stems_table(ui: &mut egui::Ui, snapshot: &GroupSnapshot, own: OwnRow) {
    let rate = f64::from(snapshot.sample_rate_hz.max(1.0));
    egui::Grid::new("stems")
        .striped(true)
        .num_columns(11)
        .show(ui, |ui| {
            for title in [
                "Name",
                "Role",
                "Level",
                "Peak",
                "True peak",
                "Clips",
                "Gain in master",
                "Polarity",
                "Offset",
                "State",
                "Drops",
            ] {
                ui.label(RichText::new(title).strong());
            }
            ui.end_row();
            for instance in &snapshot.instances {
                let stem = snapshot
                    .measurements
                    .as_ref()
                    .and_then(|m| m.stems.iter().find(|s| s.id == instance.lane_id));
                let name = if own.is(instance) {
                    RichText::new(format!("> {}", instance.name))
                        .strong()
                        .color(Color32::WHITE)
                } else {
                    RichText::new(&instance.name)
                };
                // A generated name ("Stem 3") is shown in that instance's own window, where it
                // can be changed; italic says it is not a track name.
                let name = if instance.generated_name {
                    name.italics()
                } else {
                    name
                };
                ui.label(name).on_hover_text(if instance.generated_name {
                    "No track name from the host: open this instance's window to see and rename it."
                } else {
                    ""
                });
                ui.label(match instance.role {
                    Role::Master => "Master",
                    Role::Stem => "Stem",
                });
                ui.label(format!("{:.1} dBFS", instance.level_dbfs.max(-120.0)));
                ui.label(format!("{:.1} dBFS", instance.peak_dbfs.max(-120.0)));
                match stem {
                    Some(s) => {
                        ui.label(format!("{:.1} dBTP", s.levels.true_peak_dbtp.max(-120.0)));
                        let clips = s.levels.clipped_samples;
                        ui.label(RichText::new(clips.to_string()).color(if clips > 0 {
                            RED
                        } else {
                            GREY
                        }));
                        let gain_color = if s.gain_db.abs() >= 0.1 { AMBER } else { GREY };
                        ui.label(RichText::new(format!("{:+.2} dB", s.gain_db)).color(gain_color));
                        ui.label(if s.inverted {
                            RichText::new("inverted").color(RED)
                        } else {
                            RichText::new("ok")
                        });
                        let offset_color = if s.offset_samples.abs() >= 0.5 {
                            RED
                        } else {
                            GREY
                        };
                        ui.label(
                            RichText::new(format!(
                                "{:+.1} smp / {:+.2} ms",
                                s.offset_samples,
                                s.offset_samples * 1000.0 / rate
                            ))
                            .color(offset_color),
                        );
                    }
                    None => {
                        for _ in 0..5 {
                            ui.label("–");
                        }
                    }
                }
                ui.label(match instance.activity {
                    LaneActivity::Playing => "playing",
                    LaneActivity::Waiting => "waiting",
                    LaneActivity::Stopped => "stopped",
                });
                ui.label(RichText::new(instance.dropped_frames.to_string()).color(
                    if instance.dropped_frames > 0 {
                        AMBER
                    } else {
                        GREY
                    },
                ));
                ui.end_row();
            }
        });
}

/// Master, sum and residual per band on a log-frequency axis; the transfer function (master
/// over sum) and coherence below; the band of a cancellation or missing content shaded.
fn spectrum(ui: &mut egui::Ui, snapshot: &GroupSnapshot) {
    let Some(m) = snapshot
        .measurements
        .as_ref()
        .filter(|m| !m.bands.is_empty())
    else {
        ui.label(RichText::new("No spectrum yet.").color(GREY));
        return;
    };
    let size = Vec2::new(ui.available_width().max(200.0), 200.0);
    let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 3.0, Color32::from_gray(24));
    let (lo_hz, hi_hz) = (20.0f32, 20_000.0f32);
    let x = |hz: f32| {
        rect.left() + (hz.max(lo_hz) / lo_hz).log10() / (hi_hz / lo_hz).log10() * rect.width()
    };
    let upper = Rect::from_min_max(
        rect.min,
        Pos2::new(rect.right(), rect.top() + rect.height() * 0.65),
    );
    let lower = Rect::from_min_max(Pos2::new(rect.left(), upper.bottom()), rect.max);
    let level_y = |db: f32| upper.top() + (0.0 - db.clamp(-140.0, 0.0)) / 140.0 * upper.height();
    let tf_y = |db: f32| lower.center().y - db.clamp(-6.0, 6.0) / 6.0 * lower.height() * 0.45;

    // Shade the bands findings point at.
    for f in &snapshot.findings {
        if let Some((lo, hi)) = f.band_hz
            && matches!(
                f.kind,
                FindingKind::StemPhaseCancellation
                    | FindingKind::MissingContent
                    | FindingKind::MissingFxReturn
                    | FindingKind::MasterBusEq
            )
        {
            let band = Rect::from_x_y_ranges(x(lo)..=x(hi), rect.y_range());
            painter.rect_filled(band, 0.0, severity_style(f.severity).1.gamma_multiply(0.18));
        }
    }
    for hz in [100.0, 1000.0, 10_000.0] {
        painter.vline(
            x(hz),
            rect.y_range(),
            Stroke::new(1.0, Color32::from_gray(50)),
        );
        let label = if hz >= 1000.0 {
            format!("{}k", hz / 1000.0)
        } else {
            format!("{hz}")
        };
        painter.text(
            Pos2::new(x(hz) + 2.0, rect.bottom() - 2.0),
            Align2::LEFT_BOTTOM,
            label,
            FontId::proportional(10.0),
            GREY,
        );
    }
    painter.hline(
        rect.x_range(),
        lower.center().y,
        Stroke::new(1.0, Color32::from_gray(60)),
    );
    let curve = |values: &dyn Fn(&stemcheck_analysis::BandMeasurement) -> Pos2, color: Color32| {
        let points: Vec<Pos2> = m.bands.iter().map(values).collect();
        painter.add(egui::Shape::line(points, Stroke::new(1.8, color)));
    };
    curve(
        &|b| Pos2::new(x(b.centre_hz), level_y(b.master_db)),
        Color32::from_rgb(120, 170, 255),
    );
    curve(
        &|b| Pos2::new(x(b.centre_hz), level_y(b.sum_db)),
        Color32::from_rgb(200, 200, 200),
    );
    curve(&|b| Pos2::new(x(b.centre_hz), level_y(b.residual_db)), RED);
    curve(&|b| Pos2::new(x(b.centre_hz), tf_y(b.transfer_db)), AMBER);
    curve(
        &|b| {
            Pos2::new(
                x(b.centre_hz),
                lower.bottom() - b.coherence * lower.height() * 0.9,
            )
        },
        GREEN.gamma_multiply(0.7),
    );
    let legend = [
        ("master", Color32::from_rgb(120, 170, 255)),
        ("stems' sum", Color32::from_rgb(200, 200, 200)),
        ("residual", RED),
        ("master/sum (+/-6 dB)", AMBER),
        ("coherence", GREEN),
    ];
    let mut pos = rect.left_top() + Vec2::new(6.0, 4.0);
    for (name, color) in legend {
        let galley = painter.text(
            pos,
            Align2::LEFT_TOP,
            name,
            FontId::proportional(11.0),
            color,
        );
        pos.x = galley.right() + 12.0;
    }
}
