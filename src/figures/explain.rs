//! The Explain walk-through as figures: one per step (what each step's Export saves) and the
//! whole walk as one poster-like column (`render --view explain`). Vectors are colour strips
//! on a diverging scale centred on zero, scores and probabilities are bars.

use super::{Anchor, Figure, Item, Rgb, Theme, OKABE_ITO};
use crate::colormap::Colormap;
use crate::error::Result;
use crate::insight::explain::{Drawing, Sharing, Step, Walk};
use std::sync::Arc;

/// Width of a step figure and of the poster.
pub const WIDTH: f32 = 820.0;
/// Strips longer than this are drawn as one image.
const MAX_VECTOR_STRIP: usize = 256;

/// The figure of one step (`index` counts from 1), `t` the softmax's temperature.
pub fn step(walk: &Walk, step: Step, index: usize, t: f32, theme: &Theme) -> Result<Figure> {
    let mut fig = Figure::new(WIDTH, 10.0, theme);
    let end = draw_step(&mut fig, 0.0, walk, (step, index), t, theme)?;
    fig.height = end.ceil();
    Ok(fig)
}

/// Every step of the walk in one column, under a header naming the model, the text and the
/// selection.
pub fn poster(walk: &Walk, model: &str, t: f32, theme: &Theme) -> Result<Figure> {
    let f = theme.font;
    let mut fig = Figure::new(WIDTH, 10.0, theme);
    let title = format!(
        "How {model} attends: “{}”, layer map {}, head {}",
        walk.tokens[walk.sel.pos],
        walk.sel.map + 1,
        walk.sel.head + 1
    );
    bold(&mut fig, 16.0, f * 1.6, title, f * 1.3, theme.foreground);
    let mut y = f * 2.4;
    for line in super::plots::wrap(&walk.tokens.join(" "), chars_per_line(f * 0.9)) {
        y += f * 1.2;
        fig.text(16.0, y, line, f * 0.9, Anchor::Start, theme.muted);
    }
    y += f;
    for (i, s) in walk.steps().into_iter().enumerate() {
        fig.line(vec![(16.0, y), (WIDTH - 16.0, y)], theme.muted, 0.6);
        y = draw_step(&mut fig, y, walk, (s, i + 1), t, theme)?;
    }
    fig.height = (y + f).ceil();
    Ok(fig)
}

fn chars_per_line(size: f32) -> usize {
    ((WIDTH - 40.0) / (size * 0.52)) as usize
}

fn bold(fig: &mut Figure, x: f32, y: f32, text: String, size: f32, color: Rgb) {
    fig.items.push(Item::Text {
        x,
        y,
        text,
        size,
        anchor: Anchor::Start,
        rotate: 0.0,
        color,
        bold: true,
    });
}

/// Draws one step from `y0` down; returns where it ends.
fn draw_step(
    fig: &mut Figure,
    y0: f32,
    walk: &Walk,
    (step, index): (Step, usize),
    t: f32,
    theme: &Theme,
) -> Result<f32> {
    let f = theme.font;
    let text = walk.text(step, t);
    let mut y = y0 + f * 1.8;
    bold(
        fig,
        16.0,
        y,
        format!("{index}. {}", text.title),
        f * 1.15,
        theme.foreground,
    );
    for line in super::plots::wrap(&text.paragraph, chars_per_line(f)) {
        y += f * 1.35;
        fig.text(16.0, y, line, f, Anchor::Start, theme.foreground);
    }
    y += f * 1.5;
    fig.text(16.0, y, text.formula, f, Anchor::Start, OKABE_ITO[4]);
    y += f * 1.3;
    fig.text(16.0, y, text.shapes, f * 0.85, Anchor::Start, theme.muted);
    y += f * 0.8;
    let m = walk.matrix(step, t);
    y = match (step, walk.drawing(step)) {
        (Step::Sharing, _) => sharing(fig, y, walk, theme)?,
        (_, Drawing::Tokens) => tokens(fig, y, walk, theme),
        (_, Drawing::Strips) => strips(fig, y, &m, walk, step, theme)?,
        (_, Drawing::Bars) => bars(fig, y, &m, step, theme),
    };
    Ok(y + f * 0.6)
}

/// Label column width and the strips' extent.
const LABEL_W: f32 = 190.0;

fn strips(
    fig: &mut Figure,
    y0: f32,
    m: &crate::matrix::Matrix,
    walk: &Walk,
    step: Step,
    theme: &Theme,
) -> Result<f32> {
    let f = theme.font;
    let (x0, x1) = (16.0 + LABEL_W, WIDTH - 70.0);
    let cols = m.cols.max(1);
    let cell = (x1 - x0) / cols as f32;
    let row_h = if m.rows > 24 { f * 0.8 } else { f * 1.2 };
    let max = m
        .values
        .iter()
        .map(|v| v.abs())
        .filter(|v| v.is_finite())
        .fold(0f32, f32::max)
        .max(1e-12);
    let color = |v: f32| Colormap::Diverging.at(0.5 + 0.5 * (v / max).clamp(-1.0, 1.0));
    let mut y = y0 + f * 0.4;
    let query_row = |r: usize| match step {
        Step::Qkv => r == 0 || r == 1 + walk.sel.pos || r == 1 + walk.n() + walk.sel.pos,
        Step::Context => r == m.rows - 1,
        _ => false,
    };
    for r in 0..m.rows {
        let label = m.row_labels[r].clone();
        let size = (row_h * 0.8).min(f * 0.85);
        if query_row(r) {
            bold(fig, 16.0, y + row_h * 0.75, label, size, theme.foreground);
        } else {
            fig.text(
                16.0,
                y + row_h * 0.75,
                label,
                size,
                Anchor::Start,
                theme.muted,
            );
        }
        let row = &m.values[r * cols..(r + 1) * cols];
        if cols <= MAX_VECTOR_STRIP {
            for (c, &v) in row.iter().enumerate() {
                fig.rect(x0 + c as f32 * cell, y, cell + 0.3, row_h - 1.0, color(v));
            }
        } else {
            let px: Vec<u8> = row
                .iter()
                .flat_map(|&v| {
                    let [r, g, b] = color(v);
                    [r, g, b, 255]
                })
                .collect();
            fig.items.push(Item::Raster {
                x: x0,
                y,
                w: x1 - x0,
                h: row_h - 1.0,
                png: Arc::new(super::png_bytes(cols as u32, 1, &px)?),
            });
        }
        y += row_h;
    }
    // the colour scale
    let small = f * 0.75;
    let lx = x1 + 8.0;
    for (i, (label, v)) in [
        (format!("+{max:.2}"), max),
        ("0".into(), 0.0),
        (format!("−{max:.2}"), -max),
    ]
    .into_iter()
    .enumerate()
    {
        let ly = y0 + f * 0.4 + i as f32 * small * 1.4;
        fig.rect(lx, ly, small, small, color(v));
        fig.text(
            lx + small * 1.4,
            ly + small * 0.85,
            label,
            small,
            Anchor::Start,
            theme.muted,
        );
    }
    Ok(y.max(y0 + small * 4.6))
}

fn bars(fig: &mut Figure, y0: f32, m: &crate::matrix::Matrix, step: Step, theme: &Theme) -> f32 {
    let f = theme.font;
    let row_h = f * 1.25;
    // which columns are bars: the score; the model's α and α(T); a probability
    let col = |r: usize, c: usize| m.values[r * m.cols + c];
    // at T = 1 the what-if is the model itself: no outlines over identical bars
    let what_if = step == Step::Softmax
        && m.cols > 2
        && (0..m.rows).any(|r| (col(r, 1) - col(r, 2)).abs() > 1e-5);
    let (series, signed): (Vec<usize>, bool) = match step {
        Step::Scores => (vec![0], true),
        Step::Softmax if what_if => (vec![1, 2], false),
        Step::Softmax => (vec![1], false),
        _ => (vec![0], false),
    };
    // room on the right for the numbers ("12.3% → 20.1% what-if" takes more)
    let right = if series.len() > 1 { 190.0 } else { 90.0 };
    let (x0, x1) = (16.0 + LABEL_W, WIDTH - right);
    let max = (0..m.rows)
        .flat_map(|r| series.iter().map(move |&c| (r, c)))
        .map(|(r, c)| col(r, c).abs())
        .fold(0f32, f32::max)
        .max(1e-12);
    let zero = if signed { (x0 + x1) / 2.0 } else { x0 };
    let span = if signed { (x1 - x0) / 2.0 } else { x1 - x0 };
    let mut y = y0 + f * 0.4;
    if series.len() == 2 {
        // legend: the model's α filled, the what-if outlined
        fig.rect(x0, y, f * 0.8, f * 0.6, OKABE_ITO[4]);
        fig.text(
            x0 + f,
            y + f * 0.6,
            m.col_labels[1].clone(),
            f * 0.8,
            Anchor::Start,
            theme.muted,
        );
        fig.frame(x0 + f * 5.0, y, f * 0.8, f * 0.6, OKABE_ITO[3], 1.5);
        let what_if = format!("{} (what-if)", m.col_labels[2]);
        fig.text(
            x0 + f * 6.0,
            y + f * 0.6,
            what_if,
            f * 0.8,
            Anchor::Start,
            theme.muted,
        );
        y += f * 1.2;
    }
    for r in 0..m.rows {
        fig.text(
            16.0,
            y + row_h * 0.72,
            m.row_labels[r].clone(),
            f * 0.85,
            Anchor::Start,
            theme.muted,
        );
        for (i, &c) in series.iter().enumerate() {
            let v = col(r, c);
            let len = span * (v.abs() / max);
            let x = if v < 0.0 { zero - len } else { zero };
            let (by, bh) = (y + 2.0, row_h - 4.0);
            if i == 0 {
                let fill = if v < 0.0 { OKABE_ITO[1] } else { OKABE_ITO[4] };
                fig.rect(x, by, len.max(0.5), bh, fill);
            } else {
                fig.frame(x, by, len.max(0.5), bh, OKABE_ITO[3], 1.5);
            }
        }
        // the number is the filled bar's (the model's); a what-if's follows it, marked
        let fmt = |v: f32| {
            if step == Step::Prediction || step == Step::Softmax {
                format!("{:.1}%", v * 100.0)
            } else {
                format!("{v:.3}")
            }
        };
        let mut label = fmt(col(r, series[0]));
        if let Some(&w) = series.get(1) {
            label = format!("{label} → {} what-if", fmt(col(r, w)));
        }
        fig.text(
            x1 + 6.0,
            y + row_h * 0.72,
            label,
            f * 0.8,
            Anchor::Start,
            theme.foreground,
        );
        y += row_h;
    }
    if signed {
        fig.line(vec![(zero, y0 + f * 0.4), (zero, y)], theme.muted, 0.8);
    }
    y
}

/// Every depth pointing at the stored layer it applies, each stored layer a thumbnail of its
/// query weights: ALBERT's arrows all meet at one set of weights (or one per group), an
/// unshared model's go to a new set each. The comparison model, when there is one, below.
fn sharing(fig: &mut Figure, y0: f32, walk: &Walk, theme: &Theme) -> Result<f32> {
    let mut y = sharing_row(fig, y0, &walk.sharing, Some(walk.sel.map), theme)?;
    if let Some(c) = &walk.compare {
        y = sharing_row(fig, y + theme.font * 0.8, c, None, theme)?;
    }
    Ok(y)
}

fn sharing_row(
    fig: &mut Figure,
    y0: f32,
    s: &Sharing,
    here: Option<usize>,
    theme: &Theme,
) -> Result<f32> {
    let f = theme.font;
    let maps = s.stored_of_map.len().max(1);
    let (x0, x1) = (16.0, WIDTH - 16.0);
    let slot = (x1 - x0) / maps as f32;
    let box_w = (slot * 0.8).min(60.0);
    let top = y0 + f * 1.6;
    let bottom = top + f * 4.5;
    let stored = s.stored_layers.max(1);
    let sslot = (x1 - x0) / stored as f32;
    let thumb_h = (f * 4.0).min(sslot * 0.9 * 2.0);
    let label = format!(
        "{}: each depth (top) and the stored weights it applies (bottom)",
        s.model
    );
    bold(fig, x0, y0 + f * 1.0, label, f * 0.85, theme.foreground);
    for (j, &st) in s.stored_of_map.iter().enumerate() {
        let cx = x0 + (j as f32 + 0.5) * slot;
        let now = here == Some(j);
        fig.items.push(Item::Rect {
            x: cx - box_w / 2.0,
            y: top,
            w: box_w,
            h: f * 1.5,
            fill: Some(if now { OKABE_ITO[0] } else { theme.background }),
            stroke: Some((theme.foreground, 1.0)),
            opacity: 1.0,
        });
        let name = format!("{}", j + 1);
        // the highlighted depth: black on the orange box, whatever the theme
        fig.text(
            cx,
            top + f * 1.1,
            name,
            f * 0.85,
            Anchor::Middle,
            if now { [0, 0, 0] } else { theme.foreground },
        );
        let sx = x0 + (st as f32 + 0.5) * sslot;
        let color = if now { OKABE_ITO[3] } else { theme.muted };
        fig.line(
            vec![(cx, top + f * 1.5), (sx, bottom)],
            color,
            if now { 2.0 } else { 0.8 },
        );
    }
    for (i, t) in s.thumbs.iter().enumerate().take(stored) {
        let sx = x0 + (i as f32 + 0.5) * sslot;
        let w = thumb_h * t.cols as f32 / t.rows.max(1) as f32;
        let max = t.values.iter().map(|v| v.abs()).fold(1e-12, f32::max);
        let px: Vec<u8> = t
            .values
            .iter()
            .flat_map(|&v| {
                let [r, g, b] = Colormap::Diverging.at(0.5 + 0.5 * v / max);
                [r, g, b, 255]
            })
            .collect();
        fig.items.push(Item::Raster {
            x: sx - w / 2.0,
            y: bottom,
            w,
            h: thumb_h,
            png: Arc::new(super::png_bytes(t.cols as u32, t.rows as u32, &px)?),
        });
        fig.frame(sx - w / 2.0, bottom, w, thumb_h, theme.muted, 0.6);
    }
    Ok(bottom + thumb_h + f * 0.4)
}

/// The input's tokens in reading order, wrapped, each with its id; the followed one filled.
fn tokens(fig: &mut Figure, y0: f32, walk: &Walk, theme: &Theme) -> f32 {
    let f = theme.font;
    let (x0, x1) = (16.0, WIDTH - 16.0);
    let (mut x, mut y) = (x0, y0 + f * 0.6);
    let box_h = f * 2.6;
    for (i, tok) in walk.tokens.iter().enumerate() {
        let w = super::plots::text_width(tok, f).max(super::plots::text_width("00000", f * 0.75))
            + 12.0;
        if x + w > x1 {
            x = x0;
            y += box_h + 6.0;
        }
        let here = i == walk.sel.pos;
        fig.items.push(Item::Rect {
            x,
            y,
            w,
            h: box_h,
            fill: Some(if here { OKABE_ITO[0] } else { theme.background }),
            stroke: Some((theme.muted, 0.8)),
            opacity: 1.0,
        });
        fig.text(
            x + w / 2.0,
            y + f * 1.15,
            tok.clone(),
            f,
            Anchor::Middle,
            theme.foreground,
        );
        let id = walk.ids[i].to_string();
        fig.text(
            x + w / 2.0,
            y + f * 2.2,
            id,
            f * 0.75,
            Anchor::Middle,
            theme.muted,
        );
        x += w + 4.0;
    }
    y + box_h
}
