//! The `--plot` SVG (also inside the `--html` report): successful operations per second and
//! latency (p50, p99) over time, with every fault marked where it fired. Colours are the
//! Okabe-Ito palette, which readers with any common colour blindness tell apart.

use std::path::Path;

use anyhow::{anyhow, Result};
use client::chaos::FaultKind;
use client::chaos::Timeline;
use plotters::prelude::*;

use crate::chaos::event::FaultEvent;

/// Drawing size in pixels.
const SIZE: (u32, u32) = (1200, 700);

/// Okabe-Ito blue: successful operations.
const OK: RGBColor = RGBColor(0, 114, 178);
/// Okabe-Ito vermillion: failed or unknown operations.
const FAILED: RGBColor = RGBColor(213, 94, 0);
/// Okabe-Ito bluish green: p50.
const P50: RGBColor = RGBColor(0, 158, 115);
/// Okabe-Ito reddish purple: p99.
const P99: RGBColor = RGBColor(204, 121, 167);
/// Okabe-Ito orange: pauses.
const PAUSE: RGBColor = RGBColor(230, 159, 0);
/// Okabe-Ito sky blue: partitions.
const PARTITION: RGBColor = RGBColor(86, 180, 233);

/// Every line and mark of the plot with what it shows, for legends.
pub(crate) const LEGEND: [(RGBColor, &str); 7] = [
    (OK, "successful operations per second"),
    (FAILED, "failed or unknown operations per second"),
    (P50, "p50 latency, ms"),
    (P99, "p99 latency, ms"),
    (BLACK, "a kill"),
    (PAUSE, "a pause"),
    (PARTITION, "a network cut"),
];

/// Draws `timeline` and `faults` into an SVG file at `path`.
///
/// # Errors
/// The file cannot be written.
pub(crate) fn draw(path: &Path, timeline: &Timeline, faults: &[FaultEvent]) -> Result<()> {
    let svg = render(timeline, faults)?;
    std::fs::write(path, svg).map_err(|e| anyhow!("cannot write {}: {e}", path.display()))
}

/// `timeline` and `faults` as an SVG document.
///
/// # Errors
/// Drawing failed (plotters' own errors).
pub(crate) fn render(timeline: &Timeline, faults: &[FaultEvent]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        draw_on(&root, timeline, faults)?;
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    Ok(svg)
}

fn draw_on(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    timeline: &Timeline,
    faults: &[FaultEvent],
) -> Result<()> {
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let (top, bottom) = root.split_vertically(SIZE.1 / 2);
    let seconds = timeline.buckets.len().max(1) as f64;
    let ops_max = timeline
        .buckets
        .iter()
        .map(|b| b.ok + b.failed)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let throughput = timeline
        .buckets
        .iter()
        .map(|b| (b.second as f64, b.ok as f64));
    let failures = timeline
        .buckets
        .iter()
        .map(|b| (b.second as f64, b.failed as f64));
    panel(
        &top,
        "operations per second (ok: blue, failed or unknown: vermillion)",
        seconds,
        ops_max * 1.1,
        faults,
        |chart| {
            chart.draw_series(LineSeries::new(throughput, OK.stroke_width(2)))?;
            chart.draw_series(LineSeries::new(failures, FAILED.stroke_width(2)))?;
            Ok(())
        },
    )?;
    let lat_max = timeline
        .buckets
        .iter()
        .map(|b| b.p99_ms)
        .fold(1.0, f64::max);
    let p50 = timeline.buckets.iter().map(|b| (b.second as f64, b.p50_ms));
    let p99 = timeline.buckets.iter().map(|b| (b.second as f64, b.p99_ms));
    panel(
        &bottom,
        "latency, ms (p50: green, p99: purple); faults: kill black, pause orange, cut sky blue",
        seconds,
        lat_max * 1.1,
        faults,
        |chart| {
            chart.draw_series(LineSeries::new(p50, P50.stroke_width(2)))?;
            chart.draw_series(LineSeries::new(p99, P99.stroke_width(2)))?;
            Ok(())
        },
    )
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// One panel: axes, fault markers (kills black, pauses orange, partitions sky blue), then
/// `series`.
fn panel<'b>(
    area: &DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    title: &str,
    x_max: f64,
    y_max: f64,
    faults: &[FaultEvent],
    series: impl FnOnce(&mut Chart<'_, 'b>) -> Result<(), DrawingAreaErrorKind<std::io::Error>>,
) -> Result<()> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    for fault in faults.iter().filter(|f| f.skipped.is_none()) {
        let x = fault.at_ms / 1000.0;
        let color = if fault.kind == FaultKind::Pause {
            PAUSE
        } else if fault.kind.is_partition() {
            PARTITION
        } else {
            BLACK
        };
        chart
            .draw_series(LineSeries::new(
                [(x, 0.0), (x, y_max)],
                color.stroke_width(1),
            ))
            .map_err(|e| anyhow!("{e}"))?;
    }
    series(&mut chart).map_err(|e| anyhow!("{e}"))
}
