//! Scatter plots (the projections, the corpus head map and entropy-distance): points with
//! their rings, trajectories, labels placed beside their points, axes and a legend.

use super::plots::{draw_title, text_width, tick_label, ticks, vertical_text};
use super::{Anchor, Figure, Item, Rgb, Theme};

/// A scatter plot: points with colours and optional labels, polylines (trajectories) under
/// them, axis names and a legend of categories.
pub struct ScatterSpec<'a> {
    pub title: &'a str,
    pub points: &'a [(f32, f32)],
    pub colors: &'a [Rgb],
    pub labels: &'a [String],
    /// each a list of point indices joined in order
    pub paths: &'a [Vec<usize>],
    pub axis_names: (&'a str, &'a str),
    pub legend: &'a [(String, Rgb)],
}

pub fn scatter(spec: &ScatterSpec<'_>, theme: &Theme) -> Figure {
    let f = theme.font;
    let (pw, ph) = (f * 44.0, f * 34.0);
    // room on the left for the axis name and the y tick numbers, below for the x ones
    let (x0, y0) = (12.0 + f * 5.0, f * 3.0);
    let legend_h = if spec.legend.is_empty() { 0.0 } else { f * 1.8 };
    let mut fig = Figure::new(x0 + pw + 24.0, y0 + ph + f * 4.0 + legend_h, theme);
    draw_title(&mut fig, spec.title, theme);
    let (mut xlo, mut xhi, mut ylo, mut yhi) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
    for &(x, y) in spec.points {
        xlo = xlo.min(x);
        xhi = xhi.max(x);
        ylo = ylo.min(y);
        yhi = yhi.max(y);
    }
    if xlo > xhi {
        (xlo, xhi, ylo, yhi) = (-1.0, 1.0, -1.0, 1.0);
    }
    let pad = |lo: f32, hi: f32| {
        let d = (hi - lo).max(1e-6) * 0.06;
        (lo - d, hi + d)
    };
    let ((xlo, xhi), (ylo, yhi)) = (pad(xlo, xhi), pad(ylo, yhi));
    let sx = |x: f32| x0 + (x - xlo) / (xhi - xlo) * pw;
    let sy = |y: f32| y0 + ph - (y - ylo) / (yhi - ylo) * ph;
    fig.frame(x0, y0, pw, ph, theme.muted, 0.8);
    scatter_axes(&mut fig, (x0, y0, pw, ph), (xlo, xhi, ylo, yhi), theme);
    for path in spec.paths {
        let pts: Vec<(f32, f32)> = path
            .iter()
            .filter_map(|&i| spec.points.get(i))
            .map(|&(x, y)| (sx(x), sy(y)))
            .collect();
        let color = path
            .first()
            .and_then(|&i| spec.colors.get(i))
            .copied()
            .unwrap_or(theme.muted);
        fig.items.push(Item::Line {
            points: pts,
            color,
            width: theme.line_width * 0.7,
            dashed: false,
            opacity: 0.55,
        });
    }
    let r = theme.line_width * 2.0;
    let screen: Vec<(f32, f32)> = spec.points.iter().map(|&(x, y)| (sx(x), sy(y))).collect();
    for (i, &(x, y)) in screen.iter().enumerate() {
        // a ring in the text colour under each point: dark points stay visible on a dark
        // background (and light ones on a light one)
        fig.items.push(Item::Circle {
            x,
            y,
            r: r + 1.0,
            fill: theme.foreground,
            opacity: 0.45,
        });
        fig.items.push(Item::Circle {
            x,
            y,
            r,
            fill: spec.colors.get(i).copied().unwrap_or(theme.foreground),
            opacity: 0.95,
        });
    }
    scatter_labels(&mut fig, spec, &screen, r, theme);
    fig.text(
        x0 + pw / 2.0,
        y0 + ph + f * 2.4,
        spec.axis_names.0,
        f * 0.9,
        Anchor::Middle,
        theme.muted,
    );
    vertical_text(
        &mut fig,
        (x0 - f * 3.6, y0 + ph / 2.0),
        spec.axis_names.1,
        f * 0.9,
        Anchor::Middle,
        theme.muted,
    );
    let mut x = x0;
    let y = y0 + ph + f * 4.2;
    for (name, color) in spec.legend {
        fig.items.push(Item::Circle {
            x: x + 5.0,
            y: y - f * 0.3,
            r: theme.line_width * 2.0,
            fill: *color,
            opacity: 1.0,
        });
        fig.text(x + 12.0, y, name, f * 0.8, Anchor::Start, theme.foreground);
        x += 24.0 + text_width(name, f * 0.8);
    }
    fig
}

/// A scatter's tick numbers on both axes and its dashed zero lines, for the data extent
/// (xlo, xhi, ylo, yhi) in the box (x0, y0, pw, ph).
fn scatter_axes(
    fig: &mut Figure,
    (x0, y0, pw, ph): (f32, f32, f32, f32),
    (xlo, xhi, ylo, yhi): (f32, f32, f32, f32),
    theme: &Theme,
) {
    let f = theme.font;
    let sx = |x: f32| x0 + (x - xlo) / (xhi - xlo) * pw;
    let sy = |y: f32| y0 + ph - (y - ylo) / (yhi - ylo) * ph;
    // tick numbers on both axes
    for t in ticks(f64::from(xlo), f64::from(xhi), 6) {
        let x = sx(t as f32);
        if (x0..=x0 + pw).contains(&x) {
            fig.line(vec![(x, y0 + ph), (x, y0 + ph + 4.0)], theme.muted, 0.8);
            fig.text(
                x,
                y0 + ph + f * 1.1,
                tick_label(t),
                f * 0.7,
                Anchor::Middle,
                theme.muted,
            );
        }
    }
    for t in ticks(f64::from(ylo), f64::from(yhi), 6) {
        let y = sy(t as f32);
        if (y0..=y0 + ph).contains(&y) {
            fig.line(vec![(x0 - 4.0, y), (x0, y)], theme.muted, 0.8);
            fig.text(
                x0 - 6.0,
                y + f * 0.25,
                tick_label(t),
                f * 0.7,
                Anchor::End,
                theme.muted,
            );
        }
    }
    if xlo < 0.0 && xhi > 0.0 {
        fig.items.push(Item::Line {
            points: vec![(sx(0.0), y0), (sx(0.0), y0 + ph)],
            color: theme.muted,
            width: 0.5,
            dashed: true,
            opacity: 0.5,
        });
    }
    if ylo < 0.0 && yhi > 0.0 {
        fig.items.push(Item::Line {
            points: vec![(x0, sy(0.0)), (x0 + pw, sy(0.0))],
            color: theme.muted,
            width: 0.5,
            dashed: true,
            opacity: 0.5,
        });
    }
}

/// A scatter's labels beside their points (at `screen`, of radius `r`), not on them or on
/// each other; a label pushed away from a crowded point keeps a thin line to it.
fn scatter_labels(
    fig: &mut Figure,
    spec: &ScatterSpec<'_>,
    screen: &[(f32, f32)],
    r: f32,
    theme: &Theme,
) {
    let f = theme.font;
    // labels beside their points, not on them or on each other
    let size = f * 0.75;
    let wanted: Vec<(usize, f32)> = spec
        .labels
        .iter()
        .enumerate()
        .filter(|(i, l)| !l.is_empty() && *i < screen.len())
        .map(|(i, l)| (i, text_width(l, size)))
        .collect();
    let at = super::labels::place(screen, &wanted, size, r);
    for (&(i, w), &(lx, ly)) in wanted.iter().zip(&at) {
        // a label pushed away from a crowded point keeps a thin line to it
        if let Some(end) = super::labels::leader(screen[i], (lx, ly), (w, size), r) {
            fig.items.push(Item::Line {
                points: vec![screen[i], end],
                color: theme.muted,
                width: 0.6,
                dashed: false,
                opacity: 0.7,
            });
        }
        fig.text(
            lx,
            ly,
            &spec.labels[i],
            size,
            Anchor::Start,
            theme.foreground,
        );
    }
}
