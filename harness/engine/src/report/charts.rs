//! Inline SVG charts for the HTML report, drawn with plotters: grouped bars with confidence-interval
//! error bars, cost against scale on log-log axes, and a metric's trend over past runs.

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use crate::error::Error;
use crate::model::format_sig;

/// Colours of the series, in order: the first is the "before", the second the "after".
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(0xd9, 0x5f, 0x02),
    RGBColor(0x1b, 0x9e, 0x77),
    RGBColor(0x75, 0x70, 0xb3),
    RGBColor(0xe7, 0x29, 0x8a),
    RGBColor(0x66, 0xa6, 0x1e),
    RGBColor(0xa6, 0x76, 0x1d),
];

/// The colour of series `i`, as CSS.
pub fn css_color(i: usize) -> String {
    let RGBColor(r, g, b) = PALETTE[i % PALETTE.len()];
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// One bar: its series, value, and confidence interval when measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// Index into the chart's series (and the palette).
    pub series: usize,
    /// Headline value, in the chart's unit.
    pub value: f64,
    /// `(lower, upper)` of its confidence interval.
    pub ci: Option<(f64, f64)>,
}

/// Bars side by side under one label (a scale, or "baseline vs current").
#[derive(Clone, Debug, PartialEq)]
pub struct BarGroup {
    /// Label under the group.
    pub label: String,
    /// Its bars.
    pub bars: Vec<Bar>,
}

/// A grouped bar chart.
#[derive(Clone, Debug)]
pub struct BarChart<'a> {
    /// Title above the chart.
    pub title: &'a str,
    /// Unit of the values (`ns` values are shown in µs, ms or s).
    pub unit: &'a str,
    /// Series names, for the legend.
    pub series: &'a [String],
    /// The groups, left to right.
    pub groups: &'a [BarGroup],
    /// Size in pixels.
    pub size: (u32, u32),
}

/// A named line of `(x, y)` points.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    /// Legend text.
    pub name: String,
    /// Series index (colour).
    pub series: usize,
    /// Points, sorted by x.
    pub points: Vec<(f64, f64)>,
}

/// An axis tick: four significant digits without trailing zeros (`1.5`, not `1.500`).
pub fn tick(v: f64) -> String {
    let s = format_sig(v);
    if s.contains('.') && !s.contains('e') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// How values of `unit` up to `max` are best shown: the divisor and the unit label.
pub fn display_unit(unit: &str, max: f64) -> (f64, String) {
    if unit != "ns" {
        return (1.0, unit.to_owned());
    }
    match max {
        m if m >= 1e9 => (1e9, "s".to_owned()),
        m if m >= 1e6 => (1e6, "ms".to_owned()),
        m if m >= 1e3 => (1e3, "µs".to_owned()),
        _ => (1.0, "ns".to_owned()),
    }
}

fn chart_error(title: &str) -> impl Fn(String) -> Error + '_ {
    move |what| Error::Chart {
        chart: title.to_owned(),
        what,
    }
}

/// Renders `draw` into an SVG string of `size`.
fn svg(
    title: &str,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String>,
) -> Result<String, Error> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| chart_error(title)(e.to_string()))?;
        draw(&root).map_err(chart_error(title))?;
        root.present()
            .map_err(|e| chart_error(title)(e.to_string()))?;
    }
    Ok(out)
}

/// Grouped bars with error bars. The y axis is logarithmic when every value is positive and they span
/// more than two decades (an O(1) "after" beside an O(n) "before"), linear from zero otherwise.
pub fn bars(chart: &BarChart<'_>) -> Result<String, Error> {
    let values: Vec<f64> = chart
        .groups
        .iter()
        .flat_map(|g| g.bars.iter())
        .flat_map(|b| {
            let (lo, hi) = b.ci.unwrap_or((b.value, b.value));
            [b.value, lo, hi]
        })
        .filter(|v| v.is_finite())
        .collect();
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    let min_pos = values
        .iter()
        .copied()
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let (div, unit) = display_unit(chart.unit, max);
    let all_positive = !values.is_empty() && values.iter().all(|v| *v > 0.0);
    svg(chart.title, chart.size, |root| {
        if all_positive && max / min_pos > 100.0 {
            let y = ((min_pos / div) / 2.0..(max / div) * 2.0).log_scale();
            draw_bars(root, chart, y, min_pos / div / 2.0, div, &unit)
        } else {
            let top = if max > 0.0 { max / div * 1.12 } else { 1.0 };
            draw_bars(root, chart, 0.0..top, 0.0, div, &unit)
        }
    })
}

fn draw_bars<Y>(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    chart: &BarChart<'_>,
    y: Y,
    floor: f64,
    div: f64,
    unit: &str,
) -> Result<(), String>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let n = chart.groups.len().max(1);
    let mut ctx = ChartBuilder::on(root)
        .caption(chart.title, ("sans-serif", 14))
        .margin(8)
        .x_label_area_size(34)
        .y_label_area_size(62)
        .build_cartesian_2d(-0.5..(n as f64 - 0.5), y)
        .map_err(|e| e.to_string())?;
    let labels: Vec<&str> = chart.groups.iter().map(|g| g.label.as_str()).collect();
    let label_of = |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 {
            labels
                .get(i as usize)
                .map_or(String::new(), |l| (*l).to_owned())
        } else {
            String::new()
        }
    };
    ctx.configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&label_of)
        .y_desc(unit)
        .y_label_formatter(&|v: &f64| tick(*v))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(|e| e.to_string())?;

    let per_group = chart.series.len().max(1) as f64;
    let width = 0.8 / per_group;
    for (gi, group) in chart.groups.iter().enumerate() {
        for bar in &group.bars {
            let left = gi as f64 - 0.4 + bar.series as f64 * width;
            let (x0, x1) = (left + width * 0.08, left + width * 0.92);
            let color = PALETTE[bar.series % PALETTE.len()];
            let v = bar.value / div;
            if v > floor {
                ctx.draw_series(std::iter::once(Rectangle::new(
                    [(x0, floor), (x1, v)],
                    color.filled(),
                )))
                .map_err(|e| e.to_string())?;
            }
            if let Some((lo, hi)) = bar.ci {
                let (lo, hi) = ((lo / div).max(floor), hi / div);
                let mid = (x0 + x1) / 2.0;
                let cap = (x1 - x0) * 0.25;
                let style = BLACK.stroke_width(1);
                for segment in [
                    vec![(mid, lo), (mid, hi)],
                    vec![(mid - cap, lo), (mid + cap, lo)],
                    vec![(mid - cap, hi), (mid + cap, hi)],
                ] {
                    ctx.draw_series(std::iter::once(PathElement::new(segment, style)))
                        .map_err(|e| e.to_string())?;
                }
            }
        }
    }
    // The legend: one swatch per series.
    for (i, name) in chart.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        ctx.draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
            .map_err(|e| e.to_string())?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    if !chart.series.is_empty() {
        ctx.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Cost against scale on log-log axes, one line per series (legend: name and fitted exponent).
pub fn loglog(
    title: &str,
    x_desc: &str,
    unit: &str,
    lines: &[Line],
    size: (u32, u32),
) -> Result<String, Error> {
    let pts: Vec<(f64, f64)> = lines
        .iter()
        .flat_map(|l| l.points.iter().copied())
        .filter(|(x, y)| *x > 0.0 && *y > 0.0 && x.is_finite() && y.is_finite())
        .collect();
    let (xmin, xmax, ymin, ymax) = pts.iter().fold(
        (f64::INFINITY, 0.0_f64, f64::INFINITY, 0.0_f64),
        |(a, b, c, d), &(x, y)| (a.min(x), b.max(x), c.min(y), d.max(y)),
    );
    let (div, shown) = display_unit(unit, ymax);
    svg(title, size, |root| {
        if pts.is_empty() {
            return root
                .draw(&Text::new(
                    "no positive values to plot",
                    (10, 20),
                    ("sans-serif", 13),
                ))
                .map_err(|e| e.to_string());
        }
        let mut ctx = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 14))
            .margin(8)
            .x_label_area_size(34)
            .y_label_area_size(62)
            .build_cartesian_2d(
                (xmin / 1.5..xmax * 1.5).log_scale(),
                (ymin / div / 3.0..ymax / div * 3.0).log_scale(),
            )
            .map_err(|e| e.to_string())?;
        ctx.configure_mesh()
            .x_desc(x_desc)
            .y_desc(shown.as_str())
            .x_label_formatter(&|v: &f64| tick(*v))
            .y_label_formatter(&|v: &f64| tick(*v))
            // Few labels: over less than a decade plotters labels every minor tick, which overlap.
            .x_labels(6)
            .y_labels(6)
            .light_line_style(BLACK.mix(0.05))
            .draw()
            .map_err(|e| e.to_string())?;
        for line in lines {
            let color = PALETTE[line.series % PALETTE.len()];
            let points: Vec<(f64, f64)> = line
                .points
                .iter()
                .filter(|(x, y)| *x > 0.0 && *y > 0.0)
                .map(|&(x, y)| (x, y / div))
                .collect();
            ctx.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(line.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], color));
            ctx.draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
            )
            .map_err(|e| e.to_string())?;
        }
        ctx.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(|e| e.to_string())
    })
}

/// Trend charts with more runs than this draw no dot per run.
const TREND_DOTS_UP_TO: usize = 60;

/// A metric over past runs: points joined by a line, the current run last; each change point is a
/// dashed vertical line before the first run of its new segment.
pub fn trend(
    title: &str,
    unit: &str,
    points: &[(usize, f64)],
    steps_at: &[usize],
    size: (u32, u32),
) -> Result<String, Error> {
    let max = points.iter().map(|p| p.1).fold(0.0_f64, f64::max);
    let min = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let (div, shown) = display_unit(unit, max);
    svg(title, size, |root| {
        let (lo, hi) = if min.is_finite() && max > min {
            let pad = (max - min) * 0.15;
            ((min - pad) / div, (max + pad) / div)
        } else if max == 0.0 || !max.is_finite() {
            (-1.0, 1.0)
        } else {
            let v = max / div;
            (v - v.abs() * 0.1, v + v.abs() * 0.1)
        };
        let n = points.len().max(2) as f64;
        let mut ctx = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 11))
            .margin(4)
            .x_label_area_size(18)
            .y_label_area_size(54)
            .build_cartesian_2d(-0.5..n - 0.5, lo..hi)
            .map_err(|e| e.to_string())?;
        ctx.configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_labels(3)
            .y_desc(shown.as_str())
            .y_label_formatter(&|v: &f64| tick(*v))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| e.to_string())?;
        let pts: Vec<(f64, f64)> = points
            .iter()
            .enumerate()
            .map(|(i, p)| (i as f64, p.1 / div))
            .collect();
        let color = PALETTE[2];
        ctx.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(|e| e.to_string())?;
        // Dots only while they stay apart; a long history is the line alone.
        if pts.len() <= TREND_DOTS_UP_TO {
            ctx.draw_series(pts.iter().map(|&p| Circle::new(p, 2, color.filled())))
                .map_err(|e| e.to_string())?;
        }
        for &at in steps_at {
            let x = at as f64 - 0.5;
            ctx.draw_series(DashedLineSeries::new(
                vec![(x, lo), (x, hi)],
                4,
                3,
                PALETTE[3].stroke_width(2),
            ))
            .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::assert_formats;

    fn two_series() -> Vec<String> {
        vec!["walk".to_owned(), "indexed".to_owned()]
    }

    #[test]
    fn bars_render_an_svg_with_the_labels_and_a_log_axis_for_wide_ranges() {
        let groups = vec![
            BarGroup {
                label: "files=1000".to_owned(),
                bars: vec![
                    Bar {
                        series: 0,
                        value: 1.3e6,
                        ci: Some((1.2e6, 1.4e6)),
                    },
                    Bar {
                        series: 1,
                        value: 1.2e3,
                        ci: None,
                    },
                ],
            },
            BarGroup {
                label: "files=50000".to_owned(),
                bars: vec![Bar {
                    series: 0,
                    value: 7.0e7,
                    ci: Some((6.9e7, 7.1e7)),
                }],
            },
        ];
        let series = two_series();
        let svg = bars(&BarChart {
            title: "size query",
            unit: "ns",
            series: &series,
            groups: &groups,
            size: (480, 300),
        })
        .expect("render");
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        for text in [
            "size query",
            "files=1000",
            "files=50000",
            "walk",
            "indexed",
            "ms",
        ] {
            assert!(svg.contains(text), "missing {text}");
        }
        assert!(svg.matches("<rect").count() >= 4, "bars drawn");
    }

    #[test]
    fn zeros_and_empty_inputs_do_not_fail() {
        let groups = vec![BarGroup {
            label: "n=1".to_owned(),
            bars: vec![Bar {
                series: 0,
                value: 0.0,
                ci: None,
            }],
        }];
        let series = two_series();
        let chart = BarChart {
            title: "zeros",
            unit: "entries",
            series: &series,
            groups: &groups,
            size: (300, 200),
        };
        assert!(bars(&chart).expect("zeros").contains("zeros"));
        let empty = loglog("empty", "files", "ns", &[], (300, 200)).expect("empty");
        assert!(empty.contains("no positive values"));
        assert!(trend("one", "ns", &[(0, 5.0)], &[], (200, 80)).is_ok());
        assert!(trend("none", "ns", &[], &[], (200, 80)).is_ok());
    }

    #[test]
    fn ticks_drop_trailing_zeros() {
        assert_formats(
            tick,
            &[
                (1.5, "1.5"),
                (100.0, "100"),
                (0.00115, "0.00115"),
                (123456.0, "123456"),
            ],
        );
    }

    #[test]
    fn loglog_and_trend_draw_their_series() {
        let lines = vec![Line {
            name: "walk: n^1.03".to_owned(),
            series: 0,
            points: vec![(1e3, 1.3e6), (1e4, 1.4e7), (5e4, 7e7)],
        }];
        let svg = loglog("growth", "files", "ns", &lines, (480, 300)).expect("loglog");
        assert!(svg.contains("walk: n^1.03") && svg.contains("files"));
        let t = trend(
            "trend",
            "ns",
            &[(0, 1.0), (1, 1.1), (2, 2.0)],
            &[2],
            (240, 90),
        )
        .expect("trend");
        assert!(t.contains("stroke-dasharray") || t.matches("<line").count() > 1);
    }
}
