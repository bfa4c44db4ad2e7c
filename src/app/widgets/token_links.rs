//! The token-links view (BertViz's "head view": lines between two token columns) and the token
//! chips of the input panel.

use crate::model::Trace;
use egui::{Align2, Color32, Pos2, Sense, Stroke, Vec2};

/// A token of the links view: (in the left column?, index).
pub type LinkToken = (bool, usize);

/// One set of lines in the token-links view.
pub struct LinkLayer<'a> {
    pub map: &'a [f32],
    pub color: Color32,
}

/// Two columns of tokens (queries left, keys right) joined by lines whose opacity grows with the
/// weight (its square, scaled to the map's maximum); hovering a token keeps only its lines, and
/// clicking one keeps them until it is clicked again (`pinned`, which the export draws).
pub fn token_links(
    ui: &mut egui::Ui,
    labels: &[String],
    layers: &[LinkLayer<'_>],
    scale_max: f32,
    (hovered, pinned): (&mut Option<LinkToken>, &mut Option<LinkToken>),
) {
    let m = labels.len();
    let row_h = 18.0f32;
    let width = ui.available_width().clamp(300.0, 900.0);
    let col_w = (width * 0.3).min(180.0);
    let size = Vec2::new(width, row_h * m as f32 + 8.0);
    egui::ScrollArea::vertical().show(ui, |ui| {
        let (rect, resp) = ui.allocate_exact_size(size, Sense::click());
        let painter = ui.painter_at(rect);
        let xl = rect.left() + col_w;
        let xr = rect.right() - col_w;
        let y = |i: usize| rect.top() + 4.0 + (i as f32 + 0.5) * row_h;
        let mut now = None;
        if let Some(p) = resp.hover_pos() {
            let i = ((p.y - rect.top() - 4.0) / row_h).floor();
            if i >= 0.0 && (i as usize) < m {
                if p.x < xl + 10.0 {
                    now = Some((true, i as usize));
                } else if p.x > xr - 10.0 {
                    now = Some((false, i as usize));
                }
            }
        }
        *hovered = now;
        if resp.clicked() {
            *pinned = if now == *pinned { None } else { now };
        }
        if pinned.is_some_and(|(_, i)| i >= m) {
            *pinned = None;
        }
        let now = now.or(*pinned);
        let clip = ui.clip_rect();
        for layer in layers {
            for q in 0..m {
                for k in 0..m {
                    match now {
                        Some((true, i)) if i != q => continue,
                        Some((false, i)) if i != k => continue,
                        _ => {}
                    }
                    // opacity rises with the square of the scaled weight, so that a diffuse map
                    // does not fill the view with faint lines
                    let t = layer.map[q * m + k] / scale_max.max(1e-9);
                    if t < 0.1 {
                        continue;
                    }
                    let w = t * t;
                    let (a, b) = (Pos2::new(xl + 6.0, y(q)), Pos2::new(xr - 6.0, y(k)));
                    if a.y.max(b.y) < clip.top() || a.y.min(b.y) > clip.bottom() {
                        continue;
                    }
                    let c = layer.color.gamma_multiply(w.clamp(0.0, 1.0));
                    painter.line_segment([a, b], Stroke::new(2.0, c));
                }
            }
        }
        let font = crate::app::widgets::font(ui, 13.0);
        for (i, label) in labels.iter().enumerate() {
            let strong = |left: bool| now == Some((left, i));
            let col = |left: bool| {
                if strong(left) {
                    ui.visuals().strong_text_color()
                } else {
                    ui.visuals().text_color()
                }
            };
            painter.text(
                Pos2::new(xl, y(i)),
                Align2::RIGHT_CENTER,
                label,
                font.clone(),
                col(true),
            );
            painter.text(
                Pos2::new(xr, y(i)),
                Align2::LEFT_CENTER,
                label,
                font.clone(),
                col(false),
            );
        }
    });
}

/// The tokens of the input as chips: hover shows id, segment and position; special tokens are
/// drawn weaker.
/// The input's tokens as chips (segment B tinted, special tokens greyed, `masked` ones marked);
/// returns the ordinary token clicked, if one was.
pub fn token_chips(ui: &mut egui::Ui, trace: &Trace, masked: &[usize]) -> Option<usize> {
    let mut clicked = None;
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing = Vec2::new(3.0, 3.0);
        for (i, tok) in trace.tokens.iter().enumerate() {
            let special = trace.special.get(i).copied().unwrap_or(false);
            let seg = trace.token_type_ids.get(i).copied().unwrap_or(0);
            let is_masked = masked.contains(&i);
            let fill = if is_masked {
                egui::Color32::from_rgb(0xE6, 0x9F, 0x00)
            } else if special {
                ui.visuals().faint_bg_color
            } else if seg == 0 {
                ui.visuals().widgets.inactive.bg_fill
            } else {
                ui.visuals().selection.bg_fill.gamma_multiply(0.5)
            };
            let text = egui::RichText::new(tok).size(12.0);
            let text = if special { text.weak() } else { text };
            let action = if is_masked {
                "\nclick: restore the token"
            } else if special {
                "\nspecial token"
            } else {
                "\nclick: replace by the mask token and re-run"
            };
            let r = ui
                .add(
                    egui::Button::new(text)
                        .fill(fill)
                        .corner_radius(3.0)
                        .small(),
                )
                .on_hover_text(format!(
                    "“{tok}”\nid {}\nsegment {}\nposition {i}{action}",
                    trace.input_ids.get(i).copied().unwrap_or(0),
                    if seg == 0 { "A" } else { "B" },
                ));
            if r.clicked() && (!special || is_masked) {
                clicked = Some(i);
            }
        }
    });
    clicked
}
