//! SVG plots drawn with plotters' SVG backend into strings, for inlining in HTML.
//! Labels given here are escaped by the backend (it writes `&lt;` etc. into `<text>`), so callers
//! pass raw strings.

use plotters::prelude::*;

use crate::Error;

/// Series colours (Okabe–Ito, readable by colour-blind readers).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(120, 120, 120),
    RGBColor(240, 228, 66),
];

/// Colour of series `i`.
pub fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

const SIZE: (u32, u32) = (540, 390);
const FONT: &str = "sans-serif";

fn plot_err(plot: &str) -> impl Fn(String) -> Error + '_ {
    move |message| Error::Plot { plot: plot.to_string(), message }
}

/// ROC curves on log–log axes with the chance diagonal; `floor` is the smallest rate shown
/// (points at 0 are drawn at the floor).
pub fn roc_loglog(title: &str, curves: &[(String, Vec<[f64; 2]>)]) -> Result<String, Error> {
    let smallest = curves
        .iter()
        .flat_map(|(_, p)| p.iter().flat_map(|q| [q[0], q[1]]))
        .filter(|v| *v > 0.0)
        .fold(1.0f64, f64::min);
    // one decade below the smallest positive rate, never below 1e-6
    let floor = 10f64.powf(smallest.log10().floor()).clamp(1e-6, 1e-2);
    let mut buf = String::new();
    let e = plot_err(title);
    {
        let root = SVGBackend::with_string(&mut buf, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 19))
            .margin(10)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d((floor..1.0f64).log_scale(), (floor..1.0f64).log_scale())
            .map_err(|x| e(x.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("false positive rate")
            .y_desc("true positive rate")
            .x_label_formatter(&|v| log_tick(*v))
            .y_label_formatter(&|v| log_tick(*v))
            .light_line_style(RGBColor(235, 235, 235))
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .draw()
            .map_err(|x| e(x.to_string()))?;
        chart
            .draw_series(LineSeries::new(
                [(floor, floor), (1.0, 1.0)],
                ShapeStyle { color: RGBColor(150, 150, 150).to_rgba(), filled: false, stroke_width: 1 },
            ))
            .map_err(|x| e(x.to_string()))?
            .label("chance")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RGBColor(150, 150, 150)));
        for (i, (label, points)) in curves.iter().enumerate() {
            let c = colour(i);
            let pts = points.iter().map(|p| (p[0].max(floor), p[1].max(floor)));
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                .map_err(|x| e(x.to_string()))?
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight, 14.0).map_err(&e)?;
        root.present().map_err(|x| e(x.to_string()))?;
    }
    Ok(buf)
}

/// Overlaid density histograms with shared bins (e.g. members vs non-members). The range is the
/// 0.5–99.5 % quantiles of all values, values outside fall into the edge bins.
pub fn histograms(title: &str, x_desc: &str, series: &[(String, &[f64])], bins: usize) -> Result<String, Error> {
    let mut all: Vec<f64> = series.iter().flat_map(|(_, v)| v.iter().copied()).filter(|v| v.is_finite()).collect();
    all.sort_by(f64::total_cmp);
    let e = plot_err(title);
    if all.is_empty() {
        return Err(e("no finite values to plot".into()));
    }
    let q = |p: f64| all[((all.len() - 1) as f64 * p).round() as usize];
    let (mut lo, mut hi) = (q(0.005), q(0.995));
    if hi - lo <= f64::EPSILON * lo.abs().max(1.0) {
        lo -= 0.5;
        hi += 0.5;
    }
    let width = (hi - lo) / bins as f64;
    let densities: Vec<Vec<f64>> = series
        .iter()
        .map(|(_, values)| {
            let mut counts = vec![0usize; bins];
            let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
            for v in &finite {
                let b = (((v - lo) / width).floor().max(0.0) as usize).min(bins - 1);
                counts[b] += 1;
            }
            let n = finite.len().max(1) as f64;
            counts.into_iter().map(|c| c as f64 / (n * width)).collect()
        })
        .collect();
    let top = densities.iter().flatten().fold(0.0f64, |a, b| a.max(*b)).max(f64::MIN_POSITIVE) * 1.1;
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 19))
            .margin(10)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(lo..hi, 0.0..top)
            .map_err(|x| e(x.to_string()))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc("density")
            .x_label_formatter(&|v| short(*v))
            .y_label_formatter(&|v| short(*v))
            .light_line_style(RGBColor(235, 235, 235))
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .draw()
            .map_err(|x| e(x.to_string()))?;
        for (i, ((label, _), dens)) in series.iter().zip(&densities).enumerate() {
            let c = colour(i);
            let bars = dens.iter().enumerate().map(|(b, d)| {
                let x0 = lo + b as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width, *d)], c.mix(0.35).filled())
            });
            chart
                .draw_series(bars)
                .map_err(|x| e(x.to_string()))?
                .label(label.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], c.mix(0.6).filled()));
            let outline = dens.iter().enumerate().flat_map(|(b, d)| {
                let x0 = lo + b as f64 * width;
                [(x0, *d), (x0 + width, *d)]
            });
            chart.draw_series(LineSeries::new(outline, c.stroke_width(1))).map_err(|x| e(x.to_string()))?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight, 14.0).map_err(&e)?;
        root.present().map_err(|x| e(x.to_string()))?;
    }
    Ok(buf)
}

/// Line plot of (x, y) series on linear axes.
pub fn lines(title: &str, x_desc: &str, y_desc: &str, series: &[(String, Vec<[f64; 2]>)]) -> Result<String, Error> {
    lines_with(title, x_desc, y_desc, series, false, None)
}

/// Predicted loss against batch size (log x axis), one line per model size, with the chosen
/// configuration marked: the plot of `vg-audit plan` and of a planned run.
pub fn loss_vs_batch(title: &str, series: &[(String, Vec<[f64; 2]>)], chosen: Option<[f64; 2]>) -> Result<String, Error> {
    lines_with(title, "batch size B (expected, log scale)", "predicted held-out loss (nats/token)", series, true, chosen)
}

/// [`lines`] with an optional log₁₀ x axis (x ≤ 0 dropped) and a circled, labelled "chosen" point.
fn lines_with(title: &str, x_desc: &str, y_desc: &str, series: &[(String, Vec<[f64; 2]>)], log_x: bool, chosen: Option<[f64; 2]>) -> Result<String, Error> {
    let e = plot_err(title);
    let fx = |x: f64| if log_x { if x > 0.0 { x.log10() } else { f64::NAN } } else { x };
    let series: Vec<(String, Vec<[f64; 2]>)> = series.iter().map(|(l, p)| (l.clone(), p.iter().map(|q| [fx(q[0]), q[1]]).collect())).collect();
    let pts = || series.iter().flat_map(|(_, p)| p.iter()).filter(|p| p[0].is_finite() && p[1].is_finite());
    if pts().next().is_none() {
        return Err(e("no finite points to plot".into()));
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for p in pts() {
        x0 = x0.min(p[0]);
        x1 = x1.max(p[0]);
        y0 = y0.min(p[1]);
        y1 = y1.max(p[1]);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.05).max(1e-9);
    let (y0, y1) = (y0 - pad, y1 + pad);
    let x_label = |v: &f64| if log_x { short(10f64.powf(*v)) } else { short(*v) };
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 19))
            .margin(10)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|x| e(x.to_string()))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&x_label)
            .y_label_formatter(&|v| short(*v))
            .light_line_style(RGBColor(235, 235, 235))
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .draw()
            .map_err(|x| e(x.to_string()))?;
        for (i, (label, points)) in series.iter().enumerate() {
            let c = colour(i);
            let p = points.iter().filter(|p| p[0].is_finite() && p[1].is_finite()).map(|p| (p[0], p[1]));
            chart
                .draw_series(LineSeries::new(p, c.stroke_width(2)))
                .map_err(|x| e(x.to_string()))?
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        }
        if let Some(b) = chosen.map(|b| (fx(b[0]), b[1])).filter(|b| b.0.is_finite() && b.1.is_finite()) {
            chart
                .draw_series(std::iter::once(Circle::new(b, 6, BLACK.stroke_width(2))))
                .map_err(|x| e(x.to_string()))?
                .label("chosen")
                .legend(|(x, y)| Circle::new((x + 9, y), 5, BLACK.stroke_width(2)));
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight, 14.0).map_err(&e)?;
        root.present().map_err(|x| e(x.to_string()))?;
    }
    Ok(buf)
}

/// The legend box every chart shares (white, light border), with labels of `font` px.
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    font: f64,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .label_font((FONT, font))
        .draw()
        .map_err(|x| x.to_string())
}

/// Tick label on a log axis: decimals down to 0.01, powers of ten below.
fn log_tick(v: f64) -> String {
    if v >= 0.01 {
        short(v)
    } else {
        format!("{v:.0e}")
    }
}

/// Tick label: compact, three significant digits (so 0.012 and 0.014 stay apart), no trailing zeros.
fn short(v: f64) -> String {
    // A tick at zero computed as a sum of steps can come out as ±1e-17.
    if v.abs() < 1e-9 {
        "0".into()
    } else if v.abs() >= 1e4 || v.abs() < 1e-2 {
        format!("{v:.1e}")
    } else {
        let decimals = (2 - v.abs().log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.decimals$}");
        if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
    }
}

/// Horizontal bars: each empirical ε lower bound of one model on its own row, with the
/// theoretical ε as a red vertical line (absent for a non-private model).
pub fn bounds_bars(title: &str, theoretical: Option<f64>, bounds: &[(String, f64)]) -> Result<String, Error> {
    if bounds.is_empty() {
        return Err(plot_err(title)("no lower bounds".into()));
    }
    hbars(title, "ε", theoretical, bounds, (540, 56))
}

/// Horizontal bars of counts (e.g. PII values replaced by type), one compact row each.
pub fn count_bars(title: &str, x_desc: &str, bars: &[(String, f64)]) -> Result<String, Error> {
    if bars.is_empty() {
        return Err(plot_err(title)("nothing to count".into()));
    }
    hbars(title, x_desc, None, bars, (460, 30))
}

/// Labelled horizontal bars, `size` = (width, row height), with an optional red reference line.
fn hbars(title: &str, x_desc: &str, theoretical: Option<f64>, bounds: &[(String, f64)], size: (u32, u32)) -> Result<String, Error> {
    let e = plot_err(title);
    let top = bounds.iter().map(|(_, v)| *v).chain(theoretical).fold(0.0f64, f64::max).max(0.1) * 1.15;
    let rows = bounds.len() as f64;
    let height = 96 + size.1 * bounds.len() as u32;
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (size.0, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 17))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(12)
            .build_cartesian_2d(0.0..top, 0.0..rows)
            .map_err(|x| e(x.to_string()))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .max_light_lines(2)
            .x_desc(x_desc)
            .x_label_formatter(&|v| short(*v))
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(|x| e(x.to_string()))?;
        // compact rows get a smaller label, and the bar stops below it
        let (font, bar_bottom, bar_top) = if size.1 >= 50 { (15, 0.15, 0.6) } else { (13, 0.1, 0.97 - f64::from(13 + 3) / f64::from(size.1)) };
        for (i, (label, value)) in bounds.iter().enumerate() {
            let y = rows - i as f64 - 1.0;
            let c = colour(i);
            chart
                .draw_series([Rectangle::new([(0.0, y + bar_bottom), (*value, y + bar_top)], c.mix(0.8).filled())])
                .map_err(|x| e(x.to_string()))?;
            let text = format!("{label}: {}", crate::gate::fmt_num(*value));
            chart
                .draw_series([Text::new(text, (top * 0.01, y + 0.97), (FONT, font).into_font())])
                .map_err(|x| e(x.to_string()))?;
        }
        if let Some(t) = theoretical {
            let red = RGBColor(179, 38, 30);
            chart
                .draw_series(LineSeries::new([(t, 0.0), (t, rows)], red.stroke_width(2)))
                .map_err(|x| e(x.to_string()))?
                .label(format!("theoretical ε = {}", crate::gate::fmt_num(t)))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], red.stroke_width(2)));
            draw_legend(&mut chart, SeriesLabelPosition::LowerRight, 13.0).map_err(&e)?;
        }
        root.present().map_err(|x| e(x.to_string()))?;
    }
    Ok(buf)
}
