//! The `pygmy bench --svg` drawing: the checkpoints against the requests (orders) done, in
//! four panels: throughput, latency (p50, p99), `/status` time per replica and resident memory
//! per replica. Colours are the Okabe-Ito palette (told apart by colour-blind readers), and
//! each series also has its own marker, catalog replicas solid lines, order replicas dashed.

use anyhow::{anyhow, Result};
use client::bench::{Checkpoint, STATUS_GETS_PER_CHECKPOINT};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Drawing size in pixels: four panels of 300.
const SIZE: (u32, u32) = (1200, 1200);
/// Okabe-Ito colours, yellow left out (too pale on white): orange, sky blue, bluish green,
/// blue, vermillion, reddish purple, black.
const PALETTE: [RGBColor; 7] = [
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 158, 115),
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(204, 121, 167),
    RGBColor(0, 0, 0),
];
/// Marker half-size in pixels.
const MARKER_PX: i32 = 4;
/// A marker shape.
#[derive(Debug, Clone, Copy)]
enum Marker {
    Circle,
    Triangle,
    Square,
    Diamond,
}

/// How one series is drawn.
#[derive(Debug, Clone, Copy)]
struct Look {
    color: RGBColor,
    marker: Marker,
    dashed: bool,
}

/// A named line of (requests, value) points.
struct Series {
    name: String,
    look: Look,
    points: Vec<(f64, f64)>,
}

/// The checkpoints as an SVG document; `count` names the x axis (`orders` or `requests`).
///
/// # Errors
/// Drawing failed (plotters' backend error).
pub(crate) fn render(checkpoints: &[Checkpoint], count: &str) -> Result<String> {
    let rate_unit = format!("{count}/s");
    let rate = series(
        &rate_unit,
        look(3, Marker::Circle, false),
        checkpoints,
        |c| c.throughput_rps,
    );
    let p50 = series("p50", look(3, Marker::Circle, false), checkpoints, |c| {
        c.latency_ms.p50
    });
    let p99 = series("p99", look(4, Marker::Triangle, true), checkpoints, |c| {
        c.latency_ms.p99
    });
    let status = per_replica(checkpoints, |r| r.status_ms);
    let memory = per_replica(checkpoints, |r| r.rss_mib);
    let status_title =
        format!("GET /status per replica, ms (median of {STATUS_GETS_PER_CHECKPOINT})");
    let x_max = checkpoints.last().map_or(1.0, |c| c.requests as f64) * 1.02;
    let x = (count, x_max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let panels = root.split_evenly((4, 1));
        panel(&panels[0], "throughput per window", &rate_unit, x, &[rate])?;
        panel(&panels[1], "latency per window", "ms", x, &[p50, p99])?;
        panel(&panels[2], &status_title, "ms", x, &status)?;
        panel(
            &panels[3],
            "resident memory per replica (VmRSS)",
            "MiB",
            x,
            &memory,
        )?;
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    Ok(svg)
}

/// `name`'s series of `value` at each checkpoint.
fn series(
    name: &str,
    look: Look,
    checkpoints: &[Checkpoint],
    value: impl Fn(&Checkpoint) -> f64,
) -> Series {
    Series {
        name: name.to_string(),
        look,
        points: checkpoints
            .iter()
            .map(|c| (c.requests as f64, value(c)))
            .collect(),
    }
}

/// The look of palette colour `i` with `marker`, dashed or not.
fn look(i: usize, marker: Marker, dashed: bool) -> Look {
    Look {
        color: PALETTE[i % PALETTE.len()],
        marker,
        dashed,
    }
}

/// One series per replica of `value` at each checkpoint (missing values left out): a colour
/// each, markers in turn, order replicas dashed.
fn per_replica(
    checkpoints: &[Checkpoint],
    value: impl Fn(&client::bench::ReplicaCheckpoint) -> Option<f64>,
) -> Vec<Series> {
    let markers = [
        Marker::Circle,
        Marker::Square,
        Marker::Diamond,
        Marker::Triangle,
    ];
    let Some(first) = checkpoints.first() else {
        return Vec::new();
    };
    (0..first.replicas.len())
        .map(|i| {
            let name = first.replicas[i].replica.clone();
            let points = checkpoints
                .iter()
                .filter_map(|c| Some((c.requests as f64, value(c.replicas.get(i)?)?)))
                .collect();
            let dashed = !name.starts_with("catalog");
            Series {
                name,
                look: look(i, markers[i % markers.len()], dashed),
                points,
            }
        })
        .collect()
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// One panel: axes with units, every series with its markers, and a legend.
fn panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    unit: &str,
    (count, x_max): (&str, f64),
    series: &[Series],
) -> Result<()> {
    let y_top = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let y_max = if y_top > 0.0 { y_top * 1.15 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc(format!("{count} done"))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc(unit)
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    for s in series {
        draw_series(&mut chart, s).map_err(|e| anyhow!("{e}"))?;
    }
    if !series.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
    }
    Ok(())
}

/// Draws `series`: its line (solid or dashed), a marker at each point, its legend entry.
fn draw_series<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    series: &Series,
) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
    let Look {
        color,
        marker,
        dashed,
    } = series.look;
    let line = color.stroke_width(2);
    let points = series.points.iter().copied();
    let annotation = if dashed {
        chart.draw_series(DashedLineSeries::new(points, 8, 5, line))?
    } else {
        chart.draw_series(LineSeries::new(points, line))?
    };
    annotation
        .label(series.name.as_str())
        .legend(move |(x, y)| {
            // Line pieces either side of the marker: a gap on each side when dashed.
            let (left, right) = if dashed { (6, 18) } else { (12, 12) };
            EmptyElement::at((x, y))
                + PathElement::new(vec![(0, 0), (left, 0)], line)
                + PathElement::new(vec![(right, 0), (24, 0)], line)
                + Polygon::new(shape(marker, (12, 0)), color.filled())
        });
    chart.draw_series(
        series
            .points
            .iter()
            .map(|&p| EmptyElement::at(p) + Polygon::new(shape(marker, (0, 0)), color.filled())),
    )?;
    Ok(())
}

/// The corners of `marker` around `center`, in pixels.
fn shape(marker: Marker, (cx, cy): (i32, i32)) -> Vec<(i32, i32)> {
    let r = MARKER_PX;
    let offsets: Vec<(i32, i32)> = match marker {
        // An octagon: at 4 px, a circle.
        Marker::Circle => vec![
            (r, 0),
            (3, 3),
            (0, r),
            (-3, 3),
            (-r, 0),
            (-3, -3),
            (0, -r),
            (3, -3),
        ],
        Marker::Triangle => vec![(0, -r - 1), (r + 1, r), (-r - 1, r)],
        Marker::Square => vec![(-r, -r), (r, -r), (r, r), (-r, r)],
        Marker::Diamond => vec![(0, -r - 1), (r + 1, 0), (0, r + 1), (-r - 1, 0)],
    };
    offsets
        .into_iter()
        .map(|(dx, dy)| (cx + dx, cy + dy))
        .collect()
}

#[cfg(test)]
mod tests {
    use client::bench::{Percentiles, ReplicaCheckpoint};

    use super::*;

    fn checkpoint(requests: u64) -> Checkpoint {
        let ms = requests as f64 / 10.0;
        let replica = |name: &str, rss_mib| ReplicaCheckpoint {
            replica: name.to_string(),
            status_ms: Some(0.5),
            rss_mib,
        };
        Checkpoint {
            requests,
            elapsed_s: ms,
            window_requests: 20,
            window_s: 0.5,
            throughput_rps: 40.0,
            errors: 0,
            latency_ms: Percentiles {
                p50: ms,
                p90: ms * 2.0,
                p99: ms * 3.0,
                p999: ms * 4.0,
                max: ms * 5.0,
                mean: ms,
            },
            cpu_per_request_us: Some(900),
            replicas: vec![replica("catalog-1", Some(60.0)), replica("orders-1", None)],
        }
    }

    /// Whether every element of `svg` that opens also closes, in order (tags only: enough to
    /// catch a truncated or interleaved document).
    fn tags_balance(svg: &str) -> bool {
        let mut open: Vec<&str> = Vec::new();
        for tag in svg
            .split('<')
            .skip(1)
            .map(|t| &t[..t.find('>').unwrap_or(t.len())])
        {
            if tag.starts_with('?') || tag.starts_with('!') || tag.ends_with('/') {
                continue;
            }
            let name = tag.split_whitespace().next().unwrap_or("");
            match name.strip_prefix('/') {
                Some(closing) if open.pop() != Some(closing) => return false,
                Some(_) => {}
                None => open.push(name),
            }
        }
        open.is_empty()
    }

    #[test]
    fn the_svg_is_well_formed_with_every_series_named() {
        // Goal: a complete SVG document whose legends name every series and unit. Method:
        // render three checkpoints of two replicas (one without memory) and read the text.
        let checkpoints = [checkpoint(20), checkpoint(40), checkpoint(60)];
        let svg = render(&checkpoints, "orders").unwrap();
        assert!(svg.trim_start().starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(tags_balance(&svg), "unbalanced tags");
        for text in [
            "orders/s",
            "p50",
            "p99",
            "catalog-1",
            "orders-1",
            "MiB",
            "orders done",
        ] {
            assert!(svg.contains(text), "{text} is missing");
        }
        assert!(
            svg.contains("#D55E00") || svg.contains("#d55e00"),
            "p99's vermillion"
        );
    }

    #[test]
    fn no_checkpoint_still_draws_empty_panels() {
        let svg = render(&[], "requests").unwrap();
        assert!(tags_balance(&svg) && svg.contains("requests done"));
    }
}
