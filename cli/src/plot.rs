//! `--plot`: the spectra of the mix, the stems' sum and the residual per 1/3-octave band, the
//! transfer function (mix over sum) with the coherence, and the residual over time (its level
//! per segment against the mix's, with every finding's time range from the report marked and
//! labelled), as a PNG. Labels use a system font (DejaVu Sans, Liberation Sans) when one is
//! found; without one the curves and ranges are drawn alone.

use std::path::{Path, PathBuf};

use plotters::prelude::*;
use stemcheck_report::Report;

use crate::timeline::{ResidualTimeline, SegmentLevel};

/// The picture's width, in pixels.
pub const WIDTH_PX: u32 = 1000;
/// Its height with the two spectral panels only (no audio over time to draw), in pixels.
pub const HEIGHT_SPECTRA_PX: u32 = 700;
/// Its height with the residual-over-time panel below them, in pixels.
pub const HEIGHT_WITH_TIME_PX: u32 = 1000;
/// The spectra panel's height, in pixels (the transfer function takes the rest of the 700).
const SPECTRA_PANEL_PX: u32 = 430;
/// The lowest level drawn over time, in dBFS.
const TIME_FLOOR_DB: f32 = -120.0;

/// A finding's time range as marked on the residual-over-time panel.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkedRange {
    /// Start, in seconds from the start of the analysed audio.
    pub start_s: f64,
    /// End, in seconds.
    pub end_s: f64,
    /// The finding's kind and stems ("stem-dropout: Keys").
    pub label: String,
}

/// The ranges to mark: every finding of the report that has a time range, in its order.
pub fn marked_ranges(report: &Report) -> Vec<MarkedRange> {
    report
        .findings
        .iter()
        .filter_map(|f| {
            let (start_s, end_s) = f.time_range_s?;
            let kind = f.kind.to_string();
            let label = if f.stems.is_empty() {
                kind
            } else {
                format!("{kind}: {}", f.stems.join(", "))
            };
            Some(MarkedRange {
                start_s,
                end_s,
                label,
            })
        })
        .collect()
}

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Registers a system font for labels, once. Returns whether labels can be drawn.
fn fonts() -> bool {
    static FOUND: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FOUND.get_or_init(|| {
        for path in FONT_PATHS {
            if let Ok(bytes) = std::fs::read(path) {
                // The registry wants 'static bytes: the font lives as long as the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

/// Draws the report's spectra, and the residual over time when `timeline` holds any, into
/// `path` (written through a temporary file, then renamed).
pub fn write_plot(
    report: &Report,
    timeline: Option<&ResidualTimeline>,
    path: &Path,
) -> Result<(), String> {
    let bands = report
        .measurements
        .as_ref()
        .map(|m| m.bands.clone())
        .filter(|b| !b.is_empty())
        .ok_or("no spectrum to plot (too little audio)")?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp: PathBuf = dir.join(format!(".stemcheck-plot-{}.png", std::process::id()));
    let levels = timeline.map(ResidualTimeline::levels).unwrap_or_default();
    let ranges = marked_ranges(report);
    let result = draw(&bands, &levels, &ranges, &temp, fonts())
        .and_then(|()| std::fs::rename(&temp, path).map_err(|e| e.to_string()));
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn draw(
    bands: &[stemcheck_analysis::BandMeasurement],
    levels: &[SegmentLevel],
    ranges: &[MarkedRange],
    path: &Path,
    labels: bool,
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let height = if levels.is_empty() {
        HEIGHT_SPECTRA_PX
    } else {
        HEIGHT_WITH_TIME_PX
    };
    let root = BitMapBackend::new(path, (WIDTH_PX, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (spectral, time) = root.split_vertically(HEIGHT_SPECTRA_PX);
    if !levels.is_empty() {
        draw_time(&time, levels, ranges, labels)?;
    }
    let (upper, lower) = spectral.split_vertically(SPECTRA_PANEL_PX);
    let series = |f: fn(&stemcheck_analysis::BandMeasurement) -> f32| -> Vec<(f32, f32)> {
        bands.iter().map(|b| (b.centre_hz, f(b))).collect()
    };

    let mut chart = frame(
        &upper,
        labels,
        ("Mix, stems' sum and residual per 1/3 octave (dB)", 18),
        -140f32..0f32,
    )?;
    for (data, color, name) in [
        (series(|b| b.master_db), BLUE, "mix"),
        (series(|b| b.sum_db), BLACK, "stems' sum"),
        (series(|b| b.residual_db), RED, "residual"),
    ] {
        let drawn = chart
            .draw_series(LineSeries::new(data, color.stroke_width(2)))
            .map_err(|e| err(&e))?;
        if labels {
            drawn.label(name).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        }
    }
    if labels {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
    }

    let mut chart = frame(
        &lower,
        labels,
        (
            "Transfer function mix/sum (dB, orange) and coherence x6 (green)",
            16,
        ),
        -6f32..6f32,
    )?;
    let orange = RGBColor(230, 140, 0);
    chart
        .draw_series(LineSeries::new(
            series(|b| b.transfer_db.clamp(-6.0, 6.0)),
            orange.stroke_width(2),
        ))
        .map_err(|e| err(&e))?;
    chart
        .draw_series(LineSeries::new(
            series(|b| b.coherence * 6.0),
            GREEN.stroke_width(2),
        ))
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// The residual-over-time panel: the mix's and the residual's level per segment, and every
/// finding's time range shaded and labelled.
fn draw_time(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    levels: &[SegmentLevel],
    ranges: &[MarkedRange],
    labels: bool,
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let end_s = levels
        .iter()
        .map(|l| l.end_s)
        .chain(ranges.iter().map(|r| r.end_s))
        .fold(0.0f64, f64::max)
        .max(1e-3);
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(12)
        .x_label_area_size(if labels { 30 } else { 0 })
        .y_label_area_size(if labels { 50 } else { 0 });
    if labels {
        builder.caption(
            "Residual (red) and mix (blue) over time, dBFS; findings' time ranges shaded",
            ("sans-serif", 16),
        );
    }
    let mut chart = builder
        .build_cartesian_2d(0f64..end_s, TIME_FLOOR_DB..0f32)
        .map_err(|e| err(&e))?;
    if labels {
        chart
            .configure_mesh()
            .x_desc("s")
            .draw()
            .map_err(|e| err(&e))?;
    }
    let shade = RGBColor(250, 200, 120);
    for r in ranges {
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(r.start_s, TIME_FLOOR_DB), (r.end_s.max(r.start_s), 0.0)],
                shade.mix(0.5).filled(),
            )))
            .map_err(|e| err(&e))?;
    }
    let step = |value: fn(&SegmentLevel) -> f32| -> Vec<(f64, f32)> {
        levels
            .iter()
            .flat_map(|l| {
                let v = value(l).max(TIME_FLOOR_DB);
                [(l.start_s, v), (l.end_s, v)]
            })
            .collect()
    };
    chart
        .draw_series(LineSeries::new(step(|l| l.mix_db), BLUE.stroke_width(1)))
        .map_err(|e| err(&e))?;
    chart
        .draw_series(LineSeries::new(
            step(|l| l.residual_db),
            RED.stroke_width(2),
        ))
        .map_err(|e| err(&e))?;
    if labels {
        // Each range's label at its start, stacked so overlapping ranges stay readable.
        for (i, r) in ranges.iter().enumerate() {
            chart
                .draw_series(std::iter::once(Text::new(
                    r.label.clone(),
                    (r.start_s, -4.0 - 8.0 * (i % 4) as f32),
                    ("sans-serif", 13).into_font().color(&BLACK),
                )))
                .map_err(|e| err(&e))?;
        }
    }
    Ok(())
}

/// One chart over 20 Hz to 20 kHz (log) and `y_range`, with axes and its caption (text, size in
/// pixels) when labels can be drawn.
fn frame<'a, 'b>(
    area: &'a DrawingArea<BitMapBackend<'b>, plotters::coord::Shift>,
    labels: bool,
    caption: (&str, u32),
    y_range: std::ops::Range<f32>,
) -> Result<
    ChartContext<
        'a,
        BitMapBackend<'b>,
        Cartesian2d<LogCoord<f32>, plotters::coord::types::RangedCoordf32>,
    >,
    String,
> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(12)
        .x_label_area_size(if labels { 30 } else { 0 })
        .y_label_area_size(if labels { 50 } else { 0 });
    if labels {
        builder.caption(caption.0, ("sans-serif", caption.1));
    }
    let mut chart = builder
        .build_cartesian_2d((20f32..20_000f32).log_scale(), y_range)
        .map_err(|e| err(&e))?;
    if labels {
        chart
            .configure_mesh()
            .x_desc("Hz")
            .draw()
            .map_err(|e| err(&e))?;
    }
    Ok(chart)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stemcheck_analysis::{Finding, FindingKind, Severity, Unit, Verdict};
    use stemcheck_report::Source;

    fn finding(kind: FindingKind, stems: &[&str], range: Option<(f64, f64)>) -> Finding {
        let mut f = Finding::new(
            kind,
            Severity::Error,
            stems.iter().map(|s| s.to_string()).collect(),
            0.0,
            Unit::None,
            1.0,
            String::new(),
            String::new(),
        );
        f.time_range_s = range;
        f
    }

    /// The PNG's width and height, from its header (bytes 16 to 24 of the IHDR chunk).
    fn png_size(path: &Path) -> (u32, u32) {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        let at = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
        (at(16), at(20))
    }

    #[test]
    fn the_ranges_marked_are_the_reports_and_the_time_panel_is_drawn_below() {
        let mut report = Report::new(
            Source::Files {
                inputs: vec![],
                profile: "default".into(),
            },
            Verdict::Fails,
            10.0,
            48_000.0,
        );
        report.findings = vec![
            finding(FindingKind::StemDropout, &["Keys"], Some((4.0, 6.5))),
            finding(FindingKind::MasterBusGain, &[], None),
            finding(FindingKind::MissingContent, &[], Some((1.25, 2.0))),
        ];
        let ranges = marked_ranges(&report);
        assert_eq!(
            ranges,
            vec![
                MarkedRange {
                    start_s: 4.0,
                    end_s: 6.5,
                    label: "stem-dropout: Keys".into()
                },
                MarkedRange {
                    start_s: 1.25,
                    end_s: 2.0,
                    label: "missing-content".into()
                },
            ]
        );
        // 100 segments of 0.1 s: three panels, 1000 x 1000; without audio over time, two.
        let levels: Vec<SegmentLevel> = (0..100)
            .map(|i| SegmentLevel {
                start_s: i as f64 * 0.1,
                end_s: (i + 1) as f64 * 0.1,
                mix_db: -20.0,
                residual_db: if (40..65).contains(&i) { -30.0 } else { -90.0 },
            })
            .collect();
        let bands = vec![stemcheck_analysis::BandMeasurement {
            centre_hz: 1000.0,
            master_db: -20.0,
            sum_db: -20.0,
            residual_db: -90.0,
            transfer_db: 0.0,
            coherence: 1.0,
            unexplained_db: -90.0,
        }];
        let dir = tempfile::tempdir().unwrap();
        let with = dir.path().join("with.png");
        draw(&bands, &levels, &ranges, &with, fonts()).unwrap();
        assert_eq!(png_size(&with), (WIDTH_PX, HEIGHT_WITH_TIME_PX));
        let without = dir.path().join("without.png");
        draw(&bands, &[], &ranges, &without, fonts()).unwrap();
        assert_eq!(png_size(&without), (WIDTH_PX, HEIGHT_SPECTRA_PX));
    }
}
