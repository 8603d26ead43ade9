//! The `--plot` SVG: successful operations per second and latency (p50, p99) over time, with
//! every fault marked where it fired.

use std::path::Path;

use anyhow::{anyhow, Result};
use client::chaos::FaultKind;
use client::chaos::Timeline;
use plotters::prelude::*;

use crate::chaos::event::FaultEvent;

/// Drawing size in pixels.
const SIZE: (u32, u32) = (1200, 700);

/// Draws `timeline` and `faults` into an SVG file at `path`.
///
/// # Errors
/// The file cannot be written.
pub(crate) fn draw(path: &Path, timeline: &Timeline, faults: &[FaultEvent]) -> Result<()> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
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
        "operations per second (ok: blue, failed or unknown: red)",
        seconds,
        ops_max * 1.1,
        faults,
        |chart| {
            chart.draw_series(LineSeries::new(throughput, &BLUE))?;
            chart.draw_series(LineSeries::new(failures, &RED))?;
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
        "latency, ms (p50: green, p99: magenta)",
        seconds,
        lat_max * 1.1,
        faults,
        |chart| {
            chart.draw_series(LineSeries::new(p50, &GREEN))?;
            chart.draw_series(LineSeries::new(p99, &MAGENTA))?;
            Ok(())
        },
    )?;
    root.present()
        .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// One panel: axes, fault markers (kills black, pauses orange), then `series`.
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
            RGBColor(230, 140, 0)
        } else if fault.kind.is_partition() {
            RGBColor(40, 90, 200)
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
