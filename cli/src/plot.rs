//! `--plot`: the spectra of the mix, the stems' sum and the residual per 1/3-octave band, and the
//! transfer function (mix over sum) with the coherence, as a PNG. Labels use a system font
//! (DejaVu Sans, Liberation Sans) when one is found; without one the curves are drawn alone.

use std::path::{Path, PathBuf};

use plotters::prelude::*;
use stemcheck_report::Report;

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

/// Draws the report's spectra into `path` (written through a temporary file, then renamed).
pub fn write_plot(report: &Report, path: &Path) -> Result<(), String> {
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
    let result = draw(&bands, &temp, fonts())
        .and_then(|()| std::fs::rename(&temp, path).map_err(|e| e.to_string()));
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn draw(
    bands: &[stemcheck_analysis::BandMeasurement],
    path: &Path,
    labels: bool,
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let root = BitMapBackend::new(path, (1000, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (upper, lower) = root.split_vertically(430);
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
