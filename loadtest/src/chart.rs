//! Inline SVG line charts for the HTML report: no script, no external file, so the report
//! opens anywhere and can be attached to an issue as one file.

use std::fmt::Write;

/// One line of a chart.
pub struct Series {
    pub name: String,
    pub color: &'static str,
    /// (x, y) points; `None` y leaves a gap.
    pub points: Vec<(f64, Option<f64>)>,
}

/// Colours for successive series, readable on white.
pub const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

const WIDTH: f64 = 860.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 40.0;

/// Escapes text for HTML and SVG, in element content and attribute values alike.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A "nice" step for about `ticks` ticks over `span`.
fn nice_step(span: f64, ticks: f64) -> f64 {
    if span <= 0.0 || !span.is_finite() {
        return 1.0;
    }
    let raw = span / ticks;
    let magnitude = 10f64.powf(raw.log10().floor());
    let r = raw / magnitude;
    let nice = if r <= 1.0 {
        1.0
    } else if r <= 2.0 {
        2.0
    } else if r <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

fn label(v: f64) -> String {
    if v.abs() >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v.fract() == 0.0 || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    }
}

/// An SVG line chart titled `title`, x in seconds, y labelled `y_label`, with dashed vertical
/// `markers` (x, label), such as the opening of the sale.
pub fn line_chart(
    title: &str,
    y_label: &str,
    series: &[Series],
    markers: &[(f64, &str)],
) -> String {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|p| p.1));
    let x_max = xs.chain(markers.iter().map(|m| m.0)).fold(1.0f64, f64::max);
    let y_max = ys.fold(0.0f64, f64::max).max(1e-9);
    let x_step = nice_step(x_max, 8.0);
    let y_step = nice_step(y_max, 5.0);
    let x_top = (x_max / x_step).ceil() * x_step;
    let y_top = ((y_max / y_step).ceil() * y_step).max(y_step);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let px = |x: f64| LEFT + x / x_top * plot_w;
    let py = |y: f64| TOP + plot_h - y / y_top * plot_h;

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{t}"><title>{t}</title>"#,
        t = escape(title)
    );
    let _ = write!(
        svg,
        r#"<text x="{LEFT}" y="18" font-size="14" font-weight="bold">{}</text>"#,
        escape(title)
    );
    // Grid and axis labels.
    let mut y = 0.0;
    while y <= y_top + y_step / 2.0 {
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{x2}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{lx}" y="{ty:.1}" font-size="11" text-anchor="end">{l}</text>"##,
            x2 = LEFT + plot_w,
            yy = py(y),
            lx = LEFT - 6.0,
            ty = py(y) + 4.0,
            l = label(y)
        );
        y += y_step;
    }
    let mut x = 0.0;
    while x <= x_top + x_step / 2.0 {
        let _ = write!(
            svg,
            r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{TOP}" y2="{yb}" stroke="#eee"/><text x="{xx:.1}" y="{ty}" font-size="11" text-anchor="middle">{l}</text>"##,
            xx = px(x),
            yb = TOP + plot_h,
            ty = TOP + plot_h + 16.0,
            l = label(x)
        );
        x += x_step;
    }
    let _ = write!(
        svg,
        r#"<text x="{cx}" y="{by}" font-size="11" text-anchor="middle">seconds since start</text><text x="14" y="{cy}" font-size="11" text-anchor="middle" transform="rotate(-90 14 {cy})">{yl}</text>"#,
        cx = LEFT + plot_w / 2.0,
        by = HEIGHT - 6.0,
        cy = TOP + plot_h / 2.0,
        yl = escape(y_label)
    );
    for (x, text) in markers {
        let _ = write!(
            svg,
            r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{TOP}" y2="{yb}" stroke="#555" stroke-dasharray="4 3"/><text x="{tx:.1}" y="{ty}" font-size="11" fill="#555">{t}</text>"##,
            xx = px(*x),
            yb = TOP + plot_h,
            tx = px(*x) + 3.0,
            ty = TOP + 10.0,
            t = escape(text)
        );
    }
    // Lines, broken at gaps.
    for s in series {
        let mut d = String::new();
        let mut pen_down = false;
        for &(x, y) in &s.points {
            match y {
                Some(y) => {
                    let _ = write!(
                        d,
                        "{}{:.1},{:.1} ",
                        if pen_down { "L" } else { "M" },
                        px(x),
                        py(y)
                    );
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let _ = write!(
            svg,
            r#"<path d="{d}" fill="none" stroke="{c}" stroke-width="1.6"/>"#,
            c = s.color
        );
    }
    // Legend.
    for (i, s) in series.iter().enumerate() {
        let ly = TOP + 10.0 + i as f64 * 18.0;
        let lx = LEFT + plot_w + 14.0;
        let _ = write!(
            svg,
            r#"<rect x="{lx}" y="{ry}" width="12" height="4" fill="{c}"/><text x="{tx}" y="{ty}" font-size="12">{n}</text>"#,
            ry = ly - 4.0,
            c = s.color,
            tx = lx + 18.0,
            ty = ly + 1.0,
            n = escape(&s.name)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(100.0, 5.0), 20.0);
        assert_eq!(nice_step(7.0, 8.0), 1.0);
        assert_eq!(nice_step(0.0, 5.0), 1.0);
    }

    #[test]
    fn a_chart_is_one_escaped_svg_with_a_path_per_series() {
        let svg = line_chart(
            "a < b",
            "ms",
            &[
                Series {
                    name: "status".into(),
                    color: PALETTE[0],
                    points: vec![(0.0, Some(1.0)), (1.0, None), (2.0, Some(3.0))],
                },
                Series {
                    name: "order".into(),
                    color: PALETTE[1],
                    points: vec![],
                },
            ],
            &[(1.0, "opening")],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("a &lt; b"));
        assert!(svg.contains("stroke-dasharray") && svg.contains(">opening<"));
        assert_eq!(svg.matches("<path").count(), 2);
        // The gap breaks the line: two moves, no line-to.
        let first = svg
            .split("<path d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(first.matches('M').count(), 2);
        assert_eq!(first.matches('L').count(), 0);
    }
}
