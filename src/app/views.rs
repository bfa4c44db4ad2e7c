//! The model view (every layer × head as a thumbnail, BertViz's "model view"), the token-links
//! view (BertViz's "head view"), and the token chips of the input panel.

use super::heatmap::{self, MapTexture};
use crate::analysis::{self, HeadSel};
use crate::colormap::{Colormap, Scale};
use crate::model::Trace;
use egui::{Align2, Color32, FontId, Pos2, Rect, Sense, Stroke, Vec2};

/// Largest thumbnail side in texels; larger maps are averaged down to it.
pub const THUMB: usize = 64;

/// Averages an `[n, n]` map down to `[t, t]`.
pub fn downsample(map: &[f32], n: usize, t: usize) -> Vec<f32> {
    if t == n {
        return map.to_vec();
    }
    let mut out = vec![0.0f32; t * t];
    for a in 0..t {
        let (r0, r1) = (a * n / t, ((a + 1) * n / t).max(a * n / t + 1));
        for b in 0..t {
            let (c0, c1) = (b * n / t, ((b + 1) * n / t).max(b * n / t + 1));
            let mut s = 0.0;
            for r in r0..r1 {
                s += map[r * n + c0..r * n + c1].iter().sum::<f32>();
            }
            out[a * t + b] = s / ((r1 - r0) * (c1 - c0)) as f32;
        }
    }
    out
}

/// Every head of every layer in one texture atlas (layers down, heads across), each thumbnail
/// scaled to [0, 1] by its own maximum (`shared == false`) or by 1 (`shared`).
pub struct Atlas {
    pub values: Vec<f32>,
    pub thumb: usize,
    pub layers: usize,
    pub heads: usize,
}

pub fn atlas(trace: &Trace, keep: &[usize], renormalise: bool, shared: bool) -> Atlas {
    let n = trace.num_tokens();
    let m = keep.len().max(1);
    let t = m.min(THUMB);
    let (layers, heads) = (trace.attentions.len(), trace.num_heads);
    let (w, h) = (heads * t, layers * t);
    let mut values = vec![0.0f32; w * h];
    for (l, layer) in trace.attentions.iter().enumerate() {
        for hd in 0..heads {
            let map = &layer[hd * n * n..(hd + 1) * n * n];
            let sub = if keep.len() == n {
                std::borrow::Cow::Borrowed(map)
            } else {
                std::borrow::Cow::Owned(analysis::restrict(map, n, keep, renormalise))
            };
            let mut small = downsample(&sub, m, t);
            if !shared {
                let mx = small.iter().cloned().fold(0.0f32, f32::max).max(1e-9);
                small.iter_mut().for_each(|v| *v /= mx);
            }
            for r in 0..t {
                let dst = (l * t + r) * w + hd * t;
                values[dst..dst + t].copy_from_slice(&small[r * t..(r + 1) * t]);
            }
        }
    }
    Atlas {
        values,
        thumb: t,
        layers,
        heads,
    }
}

/// Draws the grid of thumbnails; returns the (layer, head) clicked, if any.
#[allow(clippy::too_many_arguments)]
pub fn model_grid(
    ui: &mut egui::Ui,
    cache: &mut Option<MapTexture>,
    gen: u64,
    atlas: &Atlas,
    cmap: Colormap,
    log: bool,
    selected: (usize, HeadSel),
    origin: &mut Option<(Pos2, f32)>,
) -> Option<(usize, usize)> {
    let scale = Scale {
        lo: 0.0,
        hi: 1.0,
        log,
    };
    let tex = heatmap::texture(
        ui.ctx(),
        cache,
        "model view",
        heatmap::Pixels {
            gen,
            values: &atlas.values,
            size: [atlas.heads * atlas.thumb, atlas.layers * atlas.thumb],
        },
        cmap,
        &scale,
    );
    let avail = ui.available_rect_before_wrap();
    let margin = 36.0;
    let gap = 3.0;
    let cell = ((avail.width() - margin) / atlas.heads as f32)
        .min((avail.height() - margin) / atlas.layers as f32)
        .clamp(18.0, 160.0);
    let size = Vec2::new(
        margin + cell * atlas.heads as f32,
        margin + cell * atlas.layers as f32,
    );
    let mut clicked = None;
    egui::ScrollArea::both().show(ui, |ui| {
        let (rect, resp) = ui.allocate_exact_size(size, Sense::click());
        let painter = ui.painter_at(rect);
        let font = FontId::proportional(11.0);
        let color = ui.visuals().text_color();
        let (tw, th) = (1.0 / atlas.heads as f32, 1.0 / atlas.layers as f32);
        for h in 0..atlas.heads {
            painter.text(
                Pos2::new(
                    rect.left() + margin + (h as f32 + 0.5) * cell,
                    rect.top() + margin - 6.0,
                ),
                Align2::CENTER_BOTTOM,
                format!("H{}", h + 1),
                font.clone(),
                color,
            );
        }
        *origin = Some((rect.min + Vec2::splat(margin), cell));
        let hover = resp.hover_pos();
        let mut hovered = None;
        for l in 0..atlas.layers {
            painter.text(
                Pos2::new(
                    rect.left() + margin - 6.0,
                    rect.top() + margin + (l as f32 + 0.5) * cell,
                ),
                Align2::RIGHT_CENTER,
                format!("L{}", l + 1),
                font.clone(),
                color,
            );
            for h in 0..atlas.heads {
                let r = Rect::from_min_size(
                    Pos2::new(
                        rect.left() + margin + h as f32 * cell,
                        rect.top() + margin + l as f32 * cell,
                    ),
                    Vec2::splat(cell - gap),
                );
                let uv =
                    Rect::from_min_size(Pos2::new(h as f32 * tw, l as f32 * th), Vec2::new(tw, th));
                painter.image(tex.id(), r, uv, Color32::WHITE);
                let sel = selected.0 == l && selected.1 == HeadSel::Head(h);
                if hover.is_some_and(|p| r.contains(p)) {
                    hovered = Some((l, h));
                    painter.rect_stroke(
                        r,
                        0.0,
                        Stroke::new(2.0, ui.visuals().strong_text_color()),
                        egui::StrokeKind::Outside,
                    );
                } else if sel {
                    painter.rect_stroke(
                        r,
                        0.0,
                        Stroke::new(2.0, ui.visuals().selection.stroke.color),
                        egui::StrokeKind::Outside,
                    );
                }
            }
        }
        if let Some((l, h)) = hovered {
            if resp.clicked() {
                clicked = Some((l, h));
            }
            resp.on_hover_text_at_pointer(format!(
                "layer {}, head {} — click to open",
                l + 1,
                h + 1
            ));
        }
    });
    clicked
}

/// The Okabe–Ito palette (distinguishable with colour-vision deficiency), for overlaid heads.
pub const HEAD_COLORS: [Color32; 8] = [
    Color32::from_rgb(0xE6, 0x9F, 0x00),
    Color32::from_rgb(0x56, 0xB4, 0xE9),
    Color32::from_rgb(0x00, 0x9E, 0x73),
    Color32::from_rgb(0xD5, 0x5E, 0x00),
    Color32::from_rgb(0xCC, 0x79, 0xA7),
    Color32::from_rgb(0x00, 0x72, 0xB2),
    Color32::from_rgb(0xF0, 0xE4, 0x42),
    Color32::from_rgb(0x99, 0x99, 0x99),
];

/// One set of lines in the token-links view.
pub struct LinkLayer<'a> {
    pub map: &'a [f32],
    pub color: Color32,
}

/// Two columns of tokens (queries left, keys right) joined by lines whose opacity grows with the
/// weight (its square, scaled to the map's maximum); hovering a token keeps only its lines. Returns the hovered token (side, index).
pub fn token_links(
    ui: &mut egui::Ui,
    labels: &[String],
    layers: &[LinkLayer<'_>],
    scale_max: f32,
    hovered: &mut Option<(bool, usize)>,
) {
    let m = labels.len();
    let row_h = 18.0f32;
    let width = ui.available_width().clamp(300.0, 900.0);
    let col_w = (width * 0.3).min(180.0);
    let size = Vec2::new(width, row_h * m as f32 + 8.0);
    egui::ScrollArea::vertical().show(ui, |ui| {
        let (rect, resp) = ui.allocate_exact_size(size, Sense::hover());
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
        let font = FontId::proportional(13.0);
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
pub fn token_chips(ui: &mut egui::Ui, trace: &Trace) {
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing = Vec2::new(3.0, 3.0);
        for (i, tok) in trace.tokens.iter().enumerate() {
            let special = trace.special.get(i).copied().unwrap_or(false);
            let seg = trace.token_type_ids.get(i).copied().unwrap_or(0);
            let fill = if special {
                ui.visuals().faint_bg_color
            } else if seg == 0 {
                ui.visuals().widgets.inactive.bg_fill
            } else {
                ui.visuals().selection.bg_fill.gamma_multiply(0.5)
            };
            let text = egui::RichText::new(tok).size(12.0);
            let text = if special { text.weak() } else { text };
            ui.add(
                egui::Button::new(text)
                    .fill(fill)
                    .corner_radius(3.0)
                    .small(),
            )
            .on_hover_text(format!(
                "“{tok}”\nid {}\nsegment {}\nposition {i}{}",
                trace.input_ids.get(i).copied().unwrap_or(0),
                if seg == 0 { "A" } else { "B" },
                if special { "\nspecial token" } else { "" }
            ));
        }
    });
}
