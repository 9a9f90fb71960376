//! SVG charts drawn with `plotters` (SVG backend, no system fonts needed:
//! text is emitted as `<text>` elements): a latency CDF per case and a bar
//! chart of engine/kernel advantages.

use super::format::fmt_number;
use super::CaseResult;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const ENGINE: RGBColor = RGBColor(31, 119, 180);
const KERNEL: RGBColor = RGBColor(214, 39, 40);
const NGINX: RGBColor = RGBColor(44, 160, 44);
const FLOOR: RGBColor = RGBColor(90, 90, 90);
const WORSE: RGBColor = RGBColor(255, 127, 14);

fn color(side: &str) -> RGBColor {
    match side {
        "engine" => ENGINE,
        "kernel" => KERNEL,
        "floor" => FLOOR,
        _ => NGINX,
    }
}

/// Log-axis ticks at 1, 2, 5 times powers of ten within `lo..=hi`.
fn ticks_125(lo: f64, hi: f64) -> Vec<f64> {
    let mut decade = 10f64.powf(lo.log10().floor());
    let mut out = Vec::new();
    while decade <= hi {
        out.extend([1.0, 2.0, 5.0].iter().map(|m| m * decade).filter(|v| (lo..=hi).contains(v)));
        decade *= 10.0;
    }
    out
}

/// Axis tick label: whole numbers without decimals.
fn tick(v: f64) -> String {
    if v >= 999.5 {
        fmt_number(v)
    } else if v >= 1.0 {
        format!("{v:.0}")
    } else {
        format!("{}", (v * 1000.0).round() / 1000.0)
    }
}

/// Latency CDF of `case` (one line per side with data; latency axis
/// logarithmic, in µs). `None` if no side recorded latency.
pub fn latency_cdf_svg(case: &CaseResult) -> anyhow::Result<Option<String>> {
    let sides: Vec<_> = case.sides().into_iter().filter(|(_, f)| !f.cdf.is_empty()).collect();
    if sides.is_empty() {
        return Ok(None);
    }
    let lats = sides.iter().flat_map(|(_, f)| f.cdf.iter().map(|p| p.latency_us));
    let lo = lats.clone().fold(f64::INFINITY, f64::min).max(0.001);
    let hi = lats.fold(0.0, f64::max).max(lo * 2.0);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 500)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{}: latency CDF", case.case), ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d((lo / 1.5..hi * 1.5).log_scale().with_key_points(ticks_125(lo / 1.5, hi * 1.5)), 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_desc("latency (µs, log scale)")
            .y_desc("fraction of operations")
            .x_label_formatter(&|v| tick(*v))
            .label_style(("sans-serif", 14))
            .draw()?;
        for (side, fig) in sides {
            let c = color(side);
            chart
                .draw_series(LineSeries::new(fig.cdf.iter().map(|p| (p.latency_us, p.fraction)), c.stroke_width(2)))?
                .label(side)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font(("sans-serif", 14))
            .background_style(WHITE)
            .border_style(BLACK)
            .draw()?;
        root.present()?;
    }
    Ok(Some(svg))
}

/// Horizontal bars of the engine's advantage over the kernel per case
/// (above 1 = engine better, whatever the metric's direction), with a line
/// at 1. `None` if no case has a ratio.
pub fn ratio_bars_svg(cases: &[CaseResult]) -> anyhow::Result<Option<String>> {
    let bars: Vec<(&str, f64)> = cases.iter().filter_map(|c| Some((c.case.as_str(), c.ratio?.advantage))).collect();
    if bars.is_empty() {
        return Ok(None);
    }
    let n = bars.len() as u32;
    let xmax = bars.iter().map(|b| b.1).fold(1.0, f64::max) * 1.2;
    // Row i (from the top) is segment n-1-i, so the first case is drawn on top.
    let seg = |i: usize| n - 1 - i as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 100 + 40 * n)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("engine vs kernel (times better; > 1 = engine better)", ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(35)
            .y_label_area_size(220)
            .build_cartesian_2d(0.0..xmax, (0..n).into_segmented())?;
        let labels: Vec<String> = bars.iter().map(|b| b.0.to_string()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(s) if *s < n => labels[(n - 1 - s) as usize].clone(),
                _ => String::new(),
            })
            .x_label_formatter(&|v| format!("{v:.1}x"))
            .label_style(("sans-serif", 14))
            .draw()?;
        chart.draw_series(bars.iter().enumerate().map(|(i, &(_, a))| {
            let fill = if a >= 1.0 { ENGINE } else { WORSE };
            let mut r = Rectangle::new([(0.0, SegmentValue::Exact(seg(i))), (a, SegmentValue::Exact(seg(i) + 1))], fill.filled());
            r.set_margin(6, 6, 0, 0);
            r
        }))?;
        chart.draw_series(bars.iter().enumerate().map(|(i, &(_, a))| {
            let style = TextStyle::from(("sans-serif", 14).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
            Text::new(format!("{a:.2}x"), (a + xmax * 0.01, SegmentValue::CenterOf(seg(i))), style)
        }))?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(1.0, SegmentValue::Exact(0)), (1.0, SegmentValue::Last)],
            BLACK.stroke_width(1),
        )))?;
        root.present()?;
    }
    Ok(Some(svg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_and_labels() {
        assert_eq!(ticks_125(3.0, 120.0), vec![5.0, 10.0, 20.0, 50.0, 100.0]);
        assert_eq!(ticks_125(0.15, 0.6), vec![0.2, 0.5]);
        assert_eq!(tick(20.0), "20");
        assert_eq!(tick(2000.0), "2,000");
        assert_eq!(tick(0.5), "0.5");
    }
}
