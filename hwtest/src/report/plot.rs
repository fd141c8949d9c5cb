//! A [`Curve`] as an inline SVG chart (plotters' SVG backend).

use plotters::prelude::*;

use crate::error::HwtestError;
use crate::paths::Curve;

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// The SVG text of `curve` (an empty chart with a note when it has no points).
///
/// # Errors
/// [`HwtestError::Plot`] when plotters fails.
pub fn render_svg(curve: &Curve) -> Result<String, HwtestError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 400)).into_drawing_area();
        draw(&root, curve).map_err(|e| HwtestError::Plot(e.to_string()))?;
        root.present()
            .map_err(|e| HwtestError::Plot(e.to_string()))?;
    }
    Ok(svg)
}

fn bounds(curve: &Curve) -> (f64, f64, f64) {
    let pts = curve
        .series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|p| p.0.is_finite() && p.1.is_finite());
    let (mut x0, mut x1, mut y1) = (f64::MAX, f64::MIN, 0.0f64);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return (0.0, 1.0, 1.0);
    }
    if x0 == x1 {
        x1 = x0 + 1.0;
    }
    (x0, x1, if y1 > 0.0 { y1 * 1.1 } else { 1.0 })
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    curve: &Curve,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let (x0, x1, y1) = bounds(curve);
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(&curve.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70);
    if curve.log_x && x0 > 0.0 {
        let mut chart = builder.build_cartesian_2d((x0..x1).log_scale(), 0.0..y1)?;
        chart
            .configure_mesh()
            .x_desc(&curve.x_label)
            .y_desc(&curve.y_label)
            .draw()?;
        lines(&mut chart, curve)?;
        legend(&mut chart)
    } else {
        let mut chart = builder.build_cartesian_2d(x0..x1, 0.0..y1)?;
        chart
            .configure_mesh()
            .x_desc(&curve.x_label)
            .y_desc(&curve.y_label)
            .draw()?;
        lines(&mut chart, curve)?;
        legend(&mut chart)
    }
}

fn lines<'a, DB, X>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
    curve: &Curve,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
{
    for (i, s) in curve.series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
            .label(s.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
        chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
    }
    Ok(())
}

fn legend<'a, DB, X>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
{
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
}
