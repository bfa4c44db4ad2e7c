//! The token-links view (BertViz's head view) as a figure: queries in the left column, keys in
//! the right, a line between each pair whose opacity grows with the weight as in the window
//! (the square of the weight scaled to `scale_max`; below a tenth, no line), one colour per
//! overlaid head; with a hovered token, only its lines.

use super::{Anchor, Figure, Item, Rgb, Theme};

/// One set of lines: an `[m, m]` map and its colour.
pub struct LinkSet<'a> {
    pub map: &'a [f32],
    pub color: Rgb,
}

/// What the figure draws.
pub struct LinksSpec<'a> {
    pub title: &'a str,
    pub labels: &'a [String],
    pub sets: &'a [LinkSet<'a>],
    pub scale_max: f32,
    /// (left column?, index): only that token's lines
    pub hovered: Option<(bool, usize)>,
}

pub fn links(spec: &LinksSpec<'_>, theme: &Theme) -> Figure {
    let f = theme.font;
    let m = spec.labels.len();
    let row_h = (f * 1.5).max(14.0);
    let label_w = spec
        .labels
        .iter()
        .map(|l| super::plots::text_width(l, f))
        .fold(40.0, f32::max)
        + 16.0;
    let gap = 260.0;
    let width = 2.0 * label_w + gap + 32.0;
    let top = f * 3.0;
    let height = top + row_h * m as f32 + f;
    let mut fig = Figure::new(width, height, theme);
    fig.items.push(Item::Text {
        x: 12.0,
        y: f * 1.5,
        text: spec.title.to_string(),
        size: f * 1.1,
        anchor: Anchor::Start,
        rotate: 0.0,
        color: theme.foreground,
        bold: true,
    });
    let xl = 16.0 + label_w;
    let xr = xl + gap;
    let y = |i: usize| top + (i as f32 + 0.5) * row_h;
    for set in spec.sets {
        for q in 0..m {
            for k in 0..m {
                match spec.hovered {
                    Some((true, i)) if i != q => continue,
                    Some((false, i)) if i != k => continue,
                    _ => {}
                }
                let t = set.map[q * m + k] / spec.scale_max.max(1e-9);
                if t < 0.1 {
                    continue;
                }
                fig.items.push(Item::Line {
                    points: vec![(xl + 6.0, y(q)), (xr - 6.0, y(k))],
                    color: set.color,
                    width: 2.0,
                    dashed: false,
                    opacity: (t * t).clamp(0.0, 1.0),
                });
            }
        }
    }
    for (i, label) in spec.labels.iter().enumerate() {
        for (left, x, anchor) in [(true, xl, Anchor::End), (false, xr, Anchor::Start)] {
            let strong = spec.hovered == Some((left, i));
            fig.items.push(Item::Text {
                x,
                y: y(i) + f * 0.35,
                text: label.clone(),
                size: f,
                anchor,
                rotate: 0.0,
                color: theme.foreground,
                bold: strong,
            });
        }
    }
    fig
}
