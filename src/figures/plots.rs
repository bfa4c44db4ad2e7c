//! The figure builders: heatmap with colour bar, layer × head grid, line plots (Figure 1),
//! the layer-lens table; scatter plots are in `scatter.rs` (re-exported here).

use super::{Anchor, Figure, Item, Rgb, Theme, OKABE_ITO};
use crate::colormap::{Colormap, Scale};
use crate::error::Result;
use std::sync::Arc;

/// Width of a label in px, roughly (Ubuntu Light averages a little over half its size).
pub(crate) fn text_width(t: &str, size: f32) -> f32 {
    t.chars().count() as f32 * size * 0.56
}

/// About `count` round tick values covering [lo, hi].
pub fn ticks(lo: f64, hi: f64, count: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / count.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    if !(step.is_finite() && step > 0.0) {
        return vec![lo, hi];
    }
    let first = (lo / step).ceil() * step;
    // counted, not stepped: a range a few ulps wide (where t + step == t) still ends
    let mut out: Vec<f64> = (0..=4 * count.max(1) + 2)
        .map(|k| first + k as f64 * step)
        .take_while(|t| *t <= hi + step * 1e-9)
        .map(|t| if t.abs() < step * 1e-9 { 0.0 } else { t })
        .collect();
    out.dedup();
    if out.is_empty() {
        out.push(lo);
    }
    out
}

/// A tick label: few digits, no trailing zeros.
pub fn tick_label(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        return format!("{v:.1e}");
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

/// The figure's title, top left.
/// The title, top left; the figure widens to hold it whole (a title is never cut).
pub(super) fn draw_title(fig: &mut Figure, text: impl Into<String>, theme: &Theme) {
    let text = text.into();
    let size = theme.font * 1.1;
    // text_width's 0.56 em a character bounds this typeface's bold glyphs from above
    let need = (24.0 + text_width(&text, size)).ceil();
    fig.width = fig.width.max(need);
    fig.items.push(Item::Text {
        x: 12.0,
        y: theme.font * 1.4,
        text,
        size,
        anchor: Anchor::Start,
        rotate: 0.0,
        color: theme.foreground,
        bold: true,
    });
}

/// Text turned 90° anticlockwise (axis names, column labels).
pub(super) fn vertical_text(
    fig: &mut Figure,
    at: (f32, f32),
    text: impl Into<String>,
    size: f32,
    anchor: Anchor,
    color: Rgb,
) {
    fig.items.push(Item::Text {
        x: at.0,
        y: at.1,
        text: text.into(),
        size,
        anchor,
        rotate: -90.0,
        color,
        bold: false,
    });
}

/// What a heatmap figure shows.
pub struct HeatmapSpec<'a> {
    pub title: &'a str,
    /// `rows x cols`, row-major
    pub values: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_labels: &'a [String],
    pub col_labels: &'a [String],
    pub colormap: Colormap,
    pub scale: &'a Scale,
    /// what the rows and columns are ("query", "key"; "layer", "layer")
    pub axis_names: (&'a str, &'a str),
}

/// Cells drawn as vector rectangles up to this many; larger maps become one embedded image.
const MAX_VECTOR_CELLS: usize = 160 * 160;

/// A heatmap with labelled axes, a title and a colour bar.
pub fn heatmap(spec: &HeatmapSpec<'_>, theme: &Theme) -> Result<Figure> {
    let f = theme.font;
    let (rows, cols) = (spec.rows.max(1), spec.cols.max(1));
    let cell = (520.0 / rows.max(cols) as f32).clamp(2.0, 36.0);
    let show_labels = cell >= f * 0.75;
    // room for the longest label (or a thin margin when labels are not drawn)
    let room = |labels: &[String]| {
        if show_labels {
            labels
                .iter()
                .map(|l| text_width(l, f * 0.85))
                .fold(0.0, f32::max)
                + 10.0
        } else {
            f * 1.5
        }
    };
    let (label_w, label_h) = (room(spec.row_labels), room(spec.col_labels));
    let title_h = f * 2.2;
    let (x0, y0) = (12.0 + label_w + f * 1.4, title_h + label_h + f * 1.4);
    let (w, h) = (cols as f32 * cell, rows as f32 * cell);
    let bar_x = x0 + w + f;
    let width = bar_x + 14.0 + f * 4.5;
    let height = y0 + h + f * 1.5;
    let mut fig = Figure::new(width, height, theme);
    draw_title(&mut fig, spec.title.to_string(), theme);
    let colors = crate::colormap::render_rgba(spec.values, spec.colormap, spec.scale);
    if rows * cols <= MAX_VECTOR_CELLS {
        for r in 0..rows {
            for c in 0..cols {
                let px = colors.get(r * cols + c).copied().unwrap_or([0, 0, 0, 255]);
                // a hair of overlap hides the seams some viewers draw between abutting cells
                fig.rect(
                    x0 + c as f32 * cell,
                    y0 + r as f32 * cell,
                    cell + 0.3,
                    cell + 0.3,
                    [px[0], px[1], px[2]],
                );
            }
        }
    } else {
        let flat: Vec<u8> = colors.iter().flatten().copied().collect();
        fig.items.push(Item::Raster {
            x: x0,
            y: y0,
            w,
            h,
            png: Arc::new(super::png_bytes(cols as u32, rows as u32, &flat)?),
        });
    }
    fig.frame(x0, y0, w, h, theme.muted, 0.8);
    let small = f * 0.85;
    if show_labels {
        for (r, l) in spec.row_labels.iter().enumerate().take(rows) {
            fig.text(
                x0 - 5.0,
                y0 + (r as f32 + 0.5) * cell + small * 0.35,
                l,
                small,
                Anchor::End,
                theme.foreground,
            );
        }
        for (c, l) in spec.col_labels.iter().enumerate().take(cols) {
            vertical_text(
                &mut fig,
                (x0 + (c as f32 + 0.5) * cell + small * 0.35, y0 - 5.0),
                l.clone(),
                small,
                Anchor::Start,
                theme.foreground,
            );
        }
    }
    vertical_text(
        &mut fig,
        (12.0 + f * 0.4, y0 + h / 2.0),
        spec.axis_names.0.to_string(),
        small,
        Anchor::Middle,
        theme.muted,
    );
    fig.text(
        x0 + w / 2.0,
        title_h + f * 0.6,
        spec.axis_names.1,
        small,
        Anchor::Middle,
        theme.muted,
    );
    colorbar(&mut fig, bar_x, y0, h, spec.colormap, spec.scale, theme);
    Ok(fig)
}

fn colorbar(
    fig: &mut Figure,
    x: f32,
    y: f32,
    h: f32,
    cmap: Colormap,
    scale: &Scale,
    theme: &Theme,
) {
    let steps = 64;
    for i in 0..steps {
        let t = 1.0 - (i as f32 + 0.5) / steps as f32;
        fig.rect(
            x,
            y + i as f32 * h / steps as f32,
            14.0,
            h / steps as f32 + 0.3,
            cmap.at(t),
        );
    }
    fig.frame(x, y, 14.0, h, theme.muted, 0.8);
    let small = theme.font * 0.8;
    for i in 0..=4 {
        let t = i as f32 / 4.0;
        let v = scale.value_at(t);
        let yy = y + h * (1.0 - t);
        fig.line(vec![(x + 14.0, yy), (x + 17.0, yy)], theme.muted, 0.8);
        fig.text(
            x + 19.0,
            yy + small * 0.35,
            tick_label(v as f64),
            small,
            Anchor::Start,
            theme.foreground,
        );
    }
}

/// Every layer × head as thumbnails (the model view), each map `n x n`.
pub fn grid(
    title: &str,
    maps: &[Vec<Vec<f32>>],
    n: usize,
    colormap: Colormap,
    scale_of: &dyn Fn(&[f32]) -> Scale,
    theme: &Theme,
) -> Result<Figure> {
    let f = theme.font;
    let layers = maps.len();
    let heads = maps.first().map_or(0, |l| l.len());
    let thumb = (760.0 / heads.max(1) as f32).clamp(32.0, 96.0);
    let gap = 4.0;
    let (x0, y0) = (12.0 + f * 4.5, f * 2.2 + f * 1.5);
    let width = x0 + heads as f32 * (thumb + gap) + 12.0;
    let height = y0 + layers as f32 * (thumb + gap) + 12.0;
    let mut fig = Figure::new(width, height, theme);
    draw_title(&mut fig, title, theme);
    for h in 0..heads {
        fig.text(
            x0 + h as f32 * (thumb + gap) + thumb / 2.0,
            y0 - 6.0,
            format!("head {}", h + 1),
            f * 0.8,
            Anchor::Middle,
            theme.muted,
        );
    }
    for (l, layer) in maps.iter().enumerate() {
        let y = y0 + l as f32 * (thumb + gap);
        fig.text(
            x0 - 6.0,
            y + thumb / 2.0 + f * 0.3,
            format!("layer {}", l + 1),
            f * 0.8,
            Anchor::End,
            theme.muted,
        );
        for (h, m) in layer.iter().enumerate() {
            let scale = scale_of(m);
            let px: Vec<u8> = crate::colormap::render_rgba(m, colormap, &scale)
                .into_iter()
                .flatten()
                .collect();
            fig.items.push(Item::Raster {
                x: x0 + h as f32 * (thumb + gap),
                y,
                w: thumb,
                h: thumb,
                png: Arc::new(super::png_bytes(n as u32, n as u32, &px)?),
            });
        }
    }
    Ok(fig)
}

/// One line of a line plot.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub color: Rgb,
    pub dashed: bool,
}

/// One panel of line plots.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// fixed axes (x from, x to, y from, y to) instead of the data's (animation frames)
    pub extent: Option<(f64, f64, f64, f64)>,
}

/// Line-plot panels side by side, one legend under them, and an optional note (what the
/// points average over).
pub fn line_panels(title: &str, panels: &[Panel], note: &str, theme: &Theme) -> Figure {
    let f = theme.font;
    let (pw, ph) = (f * 30.0, f * 21.0);
    let (left, top, bottom) = (f * 4.5, f * 4.0, f * 3.2);
    let names: Vec<(String, Rgb, bool)> = {
        let mut v: Vec<(String, Rgb, bool)> = Vec::new();
        for p in panels {
            for s in &p.series {
                if !v.iter().any(|(n, _, _)| *n == s.name) {
                    v.push((s.name.clone(), s.color, s.dashed));
                }
            }
        }
        v
    };
    let note_lines = wrap(
        note,
        ((panels.len() as f32 * (pw + left)) / (f * 0.8 * 0.56)) as usize,
    );
    let legend_h = f * 1.6;
    let width = 12.0 + panels.len() as f32 * (left + pw + f);
    let height = top + ph + bottom + legend_h + note_lines.len() as f32 * f * 1.1 + 8.0;
    let mut fig = Figure::new(width, height, theme);
    draw_title(&mut fig, title, theme);
    for (pi, p) in panels.iter().enumerate() {
        let x0 = 12.0 + pi as f32 * (left + pw + f) + left;
        let y0 = top;
        line_panel(&mut fig, p, (x0, y0, pw, ph), theme);
    }
    let y = top + ph + bottom + f * 0.6;
    legend_and_note(
        &mut fig,
        (&names, &note_lines),
        (12.0 + left, y, legend_h),
        theme,
    );
    fig
}

/// One panel of [`line_panels`] in the box at (x0, y0) of pw × ph: its extent (given, or the
/// points' with 0 in it and headroom above), grid, ticks, labels and lines.
fn line_panel(fig: &mut Figure, p: &Panel, (x0, y0, pw, ph): (f32, f32, f32, f32), theme: &Theme) {
    let f = theme.font;
    let pts = p.series.iter().flat_map(|s| s.points.iter());
    let (mut xlo, mut xhi, mut ylo, mut yhi) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        if x.is_finite() && y.is_finite() {
            xlo = xlo.min(x);
            xhi = xhi.max(x);
            ylo = ylo.min(y);
            yhi = yhi.max(y);
        }
    }
    if xlo > xhi {
        (xlo, xhi, ylo, yhi) = (0.0, 1.0, 0.0, 1.0);
    }
    if let Some(e) = p.extent {
        (xlo, xhi, ylo, yhi) = e;
    }
    ylo = ylo.min(0.0);
    if yhi <= ylo {
        yhi = ylo + 1.0;
    }
    if xhi <= xlo {
        xhi = xlo + 1.0;
    }
    // headroom above the highest point: it never sits on the frame
    let top = yhi + (yhi - ylo) * 0.06;
    let yt = ticks(ylo, top, 5);
    let yhi = yt.last().copied().unwrap_or(top).max(top);
    // layers are whole numbers: no ticks between them
    let whole = p
        .series
        .iter()
        .all(|s| s.points.iter().all(|&(x, _)| x.fract() == 0.0));
    let xt: Vec<f64> = ticks(xlo, xhi, 8)
        .into_iter()
        .filter(|t| !whole || t.fract() == 0.0)
        .collect();
    let sx = |x: f64| x0 + ((x - xlo) / (xhi - xlo)) as f32 * pw;
    let sy = |y: f64| y0 + ph - ((y - ylo) / (yhi - ylo)) as f32 * ph;
    fig.text(
        x0 + pw / 2.0,
        y0 - f * 0.8,
        &p.title,
        f,
        Anchor::Middle,
        theme.foreground,
    );
    for &t in &yt {
        let y = sy(t);
        fig.items.push(Item::Line {
            points: vec![(x0, y), (x0 + pw, y)],
            color: theme.muted,
            width: 0.5,
            dashed: false,
            opacity: 0.35,
        });
        fig.text(
            x0 - 5.0,
            y + f * 0.3,
            tick_label(t),
            f * 0.8,
            Anchor::End,
            theme.foreground,
        );
    }
    for &t in &xt {
        let x = sx(t);
        fig.line(vec![(x, y0 + ph), (x, y0 + ph + 4.0)], theme.muted, 0.8);
        fig.text(
            x,
            y0 + ph + f * 1.2,
            tick_label(t),
            f * 0.8,
            Anchor::Middle,
            theme.foreground,
        );
    }
    fig.frame(x0, y0, pw, ph, theme.muted, 0.8);
    fig.text(
        x0 + pw / 2.0,
        y0 + ph + f * 2.4,
        &p.x_label,
        f * 0.9,
        Anchor::Middle,
        theme.muted,
    );
    vertical_text(
        fig,
        (x0 - f * 3.2, y0 + ph / 2.0),
        p.y_label.clone(),
        f * 0.9,
        Anchor::Middle,
        theme.muted,
    );
    // in order, each dashed (what-if) line thinner than the lines under it: where the
    // what-ifs share the model's first layers, every line still shows
    let dashed = p.series.iter().filter(|s| s.dashed).count();
    for (k, s) in p.series.iter().enumerate() {
        let thin = if s.dashed {
            let rank = k.saturating_sub(p.series.len() - dashed);
            0.75 - 0.4 * rank as f32 / (dashed.max(2) - 1) as f32
        } else {
            1.0
        };
        let line: Vec<(f32, f32)> = s.points.iter().map(|&(x, y)| (sx(x), sy(y))).collect();
        fig.items.push(Item::Line {
            points: line.clone(),
            color: s.color,
            width: theme.line_width * thin,
            dashed: s.dashed,
            opacity: 1.0,
        });
        for (x, y) in line {
            fig.items.push(Item::Circle {
                x,
                y,
                r: theme.line_width * 1.6 * thin,
                fill: s.color,
                opacity: 1.0,
            });
        }
    }
}

/// [`line_panels`]' legend (one entry per series name) and its note under it, from (x, y).
fn legend_and_note(
    fig: &mut Figure,
    (names, note_lines): (&[(String, Rgb, bool)], &[String]),
    (x, y, legend_h): (f32, f32, f32),
    theme: &Theme,
) {
    let f = theme.font;
    let mut x = x;
    for (name, color, dashed) in names {
        fig.items.push(Item::Line {
            points: vec![(x, y - f * 0.3), (x + f * 2.0, y - f * 0.3)],
            color: *color,
            width: theme.line_width,
            dashed: *dashed,
            opacity: 1.0,
        });
        fig.text(
            x + f * 2.4,
            y,
            name,
            f * 0.85,
            Anchor::Start,
            theme.foreground,
        );
        x += f * 3.4 + text_width(name, f * 0.85);
    }
    for (i, l) in note_lines.iter().enumerate() {
        fig.text(
            12.0,
            y + legend_h + i as f32 * f * 1.1,
            l,
            f * 0.8,
            Anchor::Start,
            theme.muted,
        );
    }
}

/// Greedy word wrap to about `width` characters.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width.max(10) {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// The layer lens: for each depth, the top predictions with their probabilities as bars.
pub struct LensSpec<'a> {
    pub title: &'a str,
    /// (depth label, [(token, probability)])
    pub rows: &'a [(String, Vec<(String, f32)>)],
}

pub fn lens(spec: &LensSpec<'_>, theme: &Theme) -> Figure {
    let f = theme.font;
    let k = spec.rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    let cell_w = f * 8.5;
    let row_h = f * 2.4;
    let label_w = spec
        .rows
        .iter()
        .map(|r| text_width(&r.0, f * 0.9))
        .fold(f * 4.0, f32::max)
        + 12.0;
    let (x0, y0) = (12.0 + label_w, f * 3.4);
    let width = x0 + k as f32 * cell_w + 12.0;
    let height = y0 + spec.rows.len() as f32 * row_h + 12.0;
    let mut fig = Figure::new(width, height, theme);
    draw_title(&mut fig, spec.title, theme);
    for i in 0..k {
        fig.text(
            x0 + i as f32 * cell_w + 4.0,
            y0 - f * 0.5,
            format!("#{}", i + 1),
            f * 0.8,
            Anchor::Start,
            theme.muted,
        );
    }
    for (r, (label, top)) in spec.rows.iter().enumerate() {
        let y = y0 + r as f32 * row_h;
        fig.text(
            x0 - 8.0,
            y + row_h * 0.6,
            label,
            f * 0.9,
            Anchor::End,
            theme.foreground,
        );
        for (i, (tok, p)) in top.iter().enumerate() {
            let x = x0 + i as f32 * cell_w;
            let bar = (cell_w - 8.0) * p.clamp(0.0, 1.0);
            fig.items.push(Item::Rect {
                x: x + 2.0,
                y: y + 2.0,
                w: bar.max(0.5),
                h: row_h - 4.0,
                fill: Some(OKABE_ITO[4]),
                stroke: None,
                opacity: 0.35,
            });
            fig.text(
                x + 5.0,
                y + row_h * 0.48,
                tok,
                f * 0.85,
                Anchor::Start,
                theme.foreground,
            );
            fig.text(
                x + 5.0,
                y + row_h * 0.88,
                format!("{:.1}%", p * 100.0),
                f * 0.7,
                Anchor::Start,
                theme.muted,
            );
        }
    }
    fig
}
