//! The Attribution view as a figure: the input's tokens three times — coloured by the gradient
//! attribution of one prediction (diverging, signed), by attention rollout and by
//! value-weighted attention from the predicted position (white to red) — with the Spearman rank
//! correlation of each pair under them.

use super::{Anchor, Figure, Item, Rgb, Theme};
use crate::colormap::Colormap;
use crate::insight::attribution::Comparison;

const WIDTH: f32 = 900.0;

/// The colour of `v` in a row whose largest |value| is `max`: signed rows on the diverging map,
/// rows that are never negative on its white-to-red half.
pub fn shade(v: f32, max: f32, signed: bool) -> Rgb {
    let t = (v / max.max(1e-12)).clamp(-1.0, 1.0);
    if signed {
        Colormap::Diverging.at(0.5 + 0.5 * t)
    } else {
        Colormap::Diverging.at(0.5 + 0.5 * t.max(0.0))
    }
}

/// Whether a row has negative values (then it is drawn signed).
pub fn signed(v: &[f32]) -> bool {
    v.iter().any(|&x| x < 0.0)
}

pub fn figure(model: &str, c: &Comparison, theme: &Theme) -> Figure {
    let f = theme.font;
    let mut fig = Figure::new(WIDTH, 10.0, theme);
    let title = format!(
        "{model}: what the prediction “{}” at token {} (“{}”) depends on",
        c.target, c.position, c.tokens[c.position]
    );
    fig.items.push(Item::Text {
        x: 16.0,
        y: f * 1.6,
        text: title,
        size: f * 1.15,
        anchor: Anchor::Start,
        rotate: 0.0,
        color: theme.foreground,
        bold: true,
    });
    let mut y = f * 2.6;
    let chip_h = f * 1.7;
    for (name, values) in &c.rows {
        y += f * 1.3;
        fig.text(16.0, y, name.clone(), f, Anchor::Start, theme.muted);
        y += f * 0.5;
        let max = values.iter().fold(0f32, |m, v| m.max(v.abs()));
        let signed = signed(values);
        let mut x = 16.0;
        for (i, tok) in c.tokens.iter().enumerate() {
            let w = super::plots::text_width(tok, f) + 12.0;
            if x + w > WIDTH - 16.0 {
                x = 16.0;
                y += chip_h + 4.0;
            }
            let stroke = if i == c.position {
                Some((theme.foreground, 2.0))
            } else {
                None
            };
            fig.items.push(Item::Rect {
                x,
                y,
                w,
                h: chip_h,
                fill: Some(shade(values[i], max, signed)),
                stroke,
                opacity: 1.0,
            });
            // dark text on every shade but the deepest
            let deep = (values[i] / max.max(1e-12)).abs() > 0.7;
            let color = if deep { [255, 255, 255] } else { [20, 20, 20] };
            fig.text(
                x + w / 2.0,
                y + chip_h * 0.7,
                tok.clone(),
                f,
                Anchor::Middle,
                color,
            );
            x += w + 3.0;
        }
        y += chip_h;
    }
    y += f * 1.6;
    let names: Vec<&str> = c.rows.iter().map(|(n, _)| n.as_str()).collect();
    for (i, j, r) in &c.spearman {
        let value = r.map_or("undefined (a constant row)".to_string(), |r| {
            format!("{r:+.3}")
        });
        let line = format!("Spearman ρ, {} vs {}: {value}", names[*i], names[*j]);
        fig.text(16.0, y, line, f, Anchor::Start, theme.foreground);
        y += f * 1.4;
    }
    let note = format!(
        "Ranks of |{}|; attention from token {} (rollout to the last layer; value-weighted: the last layer, all heads).",
        c.method.name(),
        c.position
    );
    fig.text(16.0, y, note, f * 0.8, Anchor::Start, theme.muted);
    fig.height = (y + f).ceil();
    fig
}
