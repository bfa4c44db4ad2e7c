//! Vectors and small matrices as the Explain tab draws them: colour strips on a diverging scale
//! centred on zero (one row per vector, stacked rows make a small heatmap) and horizontal bars,
//! each with the value under the pointer.

use crate::colormap::Colormap;
use egui::{Align2, Color32, Pos2, Rect, Sense, Stroke, Vec2};

/// Width of the row labels left of strips and bars.
pub const LABEL_W: f32 = 170.0;

fn diverging(v: f32, max: f32) -> Color32 {
    let [r, g, b] = Colormap::Diverging.at(0.5 + 0.5 * (v / max.max(1e-12)).clamp(-1.0, 1.0));
    Color32::from_rgb(r, g, b)
}

/// The largest |value| of some rows (the colour scale's end).
pub fn max_abs<'a>(rows: impl IntoIterator<Item = &'a [f32]>) -> f32 {
    rows.into_iter()
        .flatten()
        .map(|v| v.abs())
        .filter(|v| v.is_finite())
        .fold(0.0, f32::max)
}

/// Labelled rows of values as colour strips on one scale (`max`); `bold` rows have their label
/// emphasised. Returns the (row, column, value) under the pointer.
pub fn strips(
    ui: &mut egui::Ui,
    rows: &[(String, &[f32])],
    max: f32,
    row_h: f32,
    bold: &dyn Fn(usize) -> bool,
) -> Option<(usize, usize, f32)> {
    let width = ui.available_width().max(LABEL_W + 100.0);
    let height = row_h * rows.len() as f32;
    let (rect, resp) = ui.allocate_exact_size(Vec2::new(width, height), Sense::hover());
    let painter = ui.painter_at(rect);
    let x0 = rect.left() + LABEL_W;
    let x1 = rect.right() - 8.0;
    let text = ui.visuals().text_color();
    let weak = ui.visuals().weak_text_color();
    let mut hovered = None;
    for (r, (label, values)) in rows.iter().enumerate() {
        let y = rect.top() + r as f32 * row_h;
        let font = crate::app::widgets::font(ui, (row_h * 0.8).clamp(8.0, 13.0));
        let color = if bold(r) { text } else { weak };
        painter.text(
            Pos2::new(rect.left(), y + row_h / 2.0),
            Align2::LEFT_CENTER,
            label,
            font,
            color,
        );
        let cols = values.len().max(1);
        let cell = (x1 - x0) / cols as f32;
        for (c, &v) in values.iter().enumerate() {
            let cr = Rect::from_min_size(
                Pos2::new(x0 + c as f32 * cell, y),
                Vec2::new(cell.max(0.5) + 0.3, row_h - 1.0),
            );
            painter.rect_filled(cr, 0.0, diverging(v, max));
        }
        if let Some(p) = resp.hover_pos() {
            if p.y >= y && p.y < y + row_h && p.x >= x0 && p.x < x1 {
                let c = (((p.x - x0) / cell) as usize).min(cols - 1);
                if let Some(&v) = values.get(c) {
                    hovered = Some((r, c, v));
                    let cr = Rect::from_min_size(
                        Pos2::new(x0 + c as f32 * cell, y),
                        Vec2::new(cell.max(1.0), row_h - 1.0),
                    );
                    painter.rect_stroke(cr, 0.0, Stroke::new(1.5, text), egui::StrokeKind::Outside);
                }
            }
        }
    }
    if let Some((r, c, v)) = hovered {
        resp.on_hover_text(format!("{}  [{c}] = {v:.5}", rows[r].0));
    }
    hovered
}

/// One bar series (and optionally an outlined second one) per labelled row; `signed` bars grow
/// both ways from a centre line. `highlight` rows are drawn stronger. Returns the row under the
/// pointer.
pub struct Bars<'a> {
    pub labels: &'a [String],
    pub values: &'a [f32],
    pub outline: Option<&'a [f32]>,
    pub signed: bool,
    pub percent: bool,
    pub highlight: Option<usize>,
}

pub fn bars(ui: &mut egui::Ui, spec: &Bars<'_>) -> Option<usize> {
    let row_h = 16.0;
    let width = ui.available_width().max(LABEL_W + 160.0);
    let height = row_h * spec.labels.len() as f32;
    let (rect, resp) = ui.allocate_exact_size(Vec2::new(width, height), Sense::hover());
    let painter = ui.painter_at(rect);
    let (x0, x1) = (rect.left() + LABEL_W, rect.right() - 80.0);
    let max = spec
        .values
        .iter()
        .chain(spec.outline.unwrap_or(&[]))
        .map(|v| v.abs())
        .fold(1e-12, f32::max);
    let (zero, span) = if spec.signed {
        ((x0 + x1) / 2.0, (x1 - x0) / 2.0)
    } else {
        (x0, x1 - x0)
    };
    let text = ui.visuals().text_color();
    let weak = ui.visuals().weak_text_color();
    let blue = Color32::from_rgb(0x00, 0x72, 0xB2);
    let sky = Color32::from_rgb(0x56, 0xB4, 0xE9);
    let orange = Color32::from_rgb(0xD5, 0x5E, 0x00);
    let hovered_row = resp
        .hover_pos()
        .map(|p| ((p.y - rect.top()) / row_h) as usize)
        .filter(|&r| r < spec.labels.len());
    for (r, label) in spec.labels.iter().enumerate() {
        let y = rect.top() + r as f32 * row_h;
        let strong = spec.highlight == Some(r) || hovered_row == Some(r);
        if hovered_row == Some(r) {
            painter.rect_filled(
                Rect::from_min_size(Pos2::new(rect.left(), y), Vec2::new(width, row_h)),
                0.0,
                ui.visuals().faint_bg_color,
            );
        }
        let font = crate::app::widgets::font(ui, 12.0);
        painter.text(
            Pos2::new(rect.left(), y + row_h / 2.0),
            Align2::LEFT_CENTER,
            label,
            font.clone(),
            if strong { text } else { weak },
        );
        let bar = |v: f32| {
            let len = span * v.abs() / max;
            let x = if v < 0.0 { zero - len } else { zero };
            Rect::from_min_size(Pos2::new(x, y + 2.0), Vec2::new(len.max(0.5), row_h - 4.0))
        };
        let v = spec.values[r];
        let fill = if v < 0.0 { sky } else { blue };
        painter.rect_filled(
            bar(v),
            0.0,
            if strong {
                fill
            } else {
                fill.gamma_multiply(0.8)
            },
        );
        let fmt = |x: f32| {
            if spec.percent {
                format!("{:.1}%", x * 100.0)
            } else {
                format!("{x:.3}")
            }
        };
        // the number beside a bar is the bar's (the model's); a what-if's follows, marked
        let mut value = fmt(v);
        if let Some(o) = spec.outline {
            painter.rect_stroke(
                bar(o[r]),
                0.0,
                Stroke::new(1.5, orange),
                egui::StrokeKind::Inside,
            );
            value = format!("{value} → {} what-if", fmt(o[r]));
        }
        painter.text(
            Pos2::new(x1 + 6.0, y + row_h / 2.0),
            Align2::LEFT_CENTER,
            value,
            font,
            text,
        );
    }
    if spec.signed {
        painter.line_segment(
            [Pos2::new(zero, rect.top()), Pos2::new(zero, rect.bottom())],
            Stroke::new(1.0, weak),
        );
    }
    hovered_row
}

/// A small matrix painted into `rect` as a heatmap (diverging, scaled by its own largest
/// |value|).
pub fn paint_thumb(
    painter: &egui::Painter,
    rect: Rect,
    t: &crate::insight::explain::Thumb,
    frame: Color32,
) {
    let max = max_abs([t.values.as_slice()]);
    let (cw, ch) = (
        rect.width() / t.cols.max(1) as f32,
        rect.height() / t.rows.max(1) as f32,
    );
    for r in 0..t.rows {
        for c in 0..t.cols {
            let v = t.values.get(r * t.cols + c).copied().unwrap_or(0.0);
            let cell = Rect::from_min_size(
                Pos2::new(rect.left() + c as f32 * cw, rect.top() + r as f32 * ch),
                Vec2::new(cw + 0.3, ch + 0.3),
            );
            painter.rect_filled(cell, 0.0, diverging(v, max));
        }
    }
    painter.rect_stroke(rect, 0.0, Stroke::new(0.8, frame), egui::StrokeKind::Inside);
}
