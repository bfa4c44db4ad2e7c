//! The model view: every layer × head as a thumbnail (BertViz's "model view"), from one
//! texture atlas.

use super::heatmap::{self, MapTexture};
use crate::analysis::{self, HeadSel};
use crate::colormap::{Colormap, Scale};
use crate::model::Trace;
use egui::{Align2, Color32, Pos2, Rect, Sense, Stroke, Vec2};

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

/// What a model view's atlas is made from (the trace's generation and the view's switches): a
/// change of any remakes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtlasKey {
    pub trace_gen: u64,
    pub hide_special: bool,
    pub renormalise: bool,
    pub shared_scale: bool,
    pub words: bool,
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
        let font = crate::app::widgets::font(ui, 11.0);
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
