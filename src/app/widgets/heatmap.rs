//! The heatmap widget: a matrix as one texture (uploaded only when the data or colormap change),
//! token labels on both axes, a colour bar, a hover tooltip, and zoom (scroll or pinch) and pan
//! (drag) so that a 512-token map stays readable. Double-click resets the view.

use crate::analysis::maps::MapData;
use crate::colormap::{render_rgba, Colormap, Scale};
use egui::{
    epaint::TextShape, Align2, Color32, FontId, Pos2, Rect, Sense, Stroke, TextureHandle,
    TextureOptions, Vec2,
};

/// A texture made from a matrix, remembered with what it was made from, and the pixels of a
/// newer matrix being coloured on another thread.
pub struct MapTexture {
    key: u64,
    pub handle: TextureHandle,
    pending: Option<(u64, std::sync::mpsc::Receiver<egui::ColorImage>)>,
}

/// Matrices up to this many cells are coloured on the UI thread (well under a millisecond);
/// larger ones (a 512-token map: 262k cells) on a thread of their own, the previous picture
/// staying up until they are ready, so that new data never stalls a frame.
const SYNC_CELLS: usize = 128 * 128;

/// Zoom and pan of one heatmap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZoomPan {
    /// 1 = the whole matrix fits
    pub zoom: f32,
    /// top-left of the visible part, in cells
    pub origin: Vec2,
}

impl Default for ZoomPan {
    fn default() -> Self {
        ZoomPan {
            zoom: 1.0,
            origin: Vec2::ZERO,
        }
    }
}

/// What the pointer is on.
#[derive(Debug, Clone, PartialEq)]
pub struct Hovered {
    /// row and column in the displayed matrix
    pub row: usize,
    pub col: usize,
    pub value: f32,
}

/// A matrix to turn into a texture: `values` row-major, `size` = [width, height], and `gen`,
/// which identifies the data (it changes whenever the matrix does).
pub struct Pixels<'a> {
    pub gen: u64,
    pub values: &'a [f32],
    pub size: [usize; 2],
}

/// The texture for `px` in `cmap`, reusing `cache` when nothing changed.
pub fn texture(
    ctx: &egui::Context,
    cache: &mut Option<MapTexture>,
    name: &str,
    px: Pixels<'_>,
    cmap: Colormap,
    scale: &Scale,
) -> TextureHandle {
    let Pixels { gen, values, size } = px;
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (gen, cmap, size).hash(&mut h);
    (scale.lo.to_bits(), scale.hi.to_bits(), scale.log).hash(&mut h);
    let key = h.finish();
    if let Some(t) = cache.as_mut() {
        if t.key == key {
            return t.handle.clone();
        }
        // a background colouring of this very matrix: take it once it is done
        if let Some((k, rx)) = &t.pending {
            if *k == key {
                if let Ok(image) = rx.try_recv() {
                    t.handle.set(image, TextureOptions::NEAREST);
                    t.key = key;
                    t.pending = None;
                }
                return t.handle.clone();
            }
        }
    }
    if values.len() > SYNC_CELLS {
        let t = cache.get_or_insert_with(|| {
            // the very first picture: a blank one until the colours are ready
            let blank = egui::ColorImage::new([1, 1], vec![Color32::TRANSPARENT]);
            MapTexture {
                key: 0,
                handle: ctx.load_texture(name, blank, TextureOptions::NEAREST),
                pending: None,
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let (owned, scale_owned, ctx) = (values.to_vec(), *scale, ctx.clone());
        let spawned = std::thread::Builder::new()
            .name("heatmap pixels".into())
            .spawn(move || {
                let _ = tx.send(colour(&owned, cmap, &scale_owned, size));
                ctx.request_repaint();
            });
        if spawned.is_ok() {
            t.pending = Some((key, rx));
            return t.handle.clone();
        }
        // no thread: colour it here after all
    }
    let image = colour(values, cmap, scale, size);
    let handle = match cache.take() {
        Some(mut t) => {
            t.handle.set(image, TextureOptions::NEAREST);
            t.handle
        }
        None => ctx.load_texture(name, image, TextureOptions::NEAREST),
    };
    *cache = Some(MapTexture {
        key,
        handle: handle.clone(),
        pending: None,
    });
    handle
}

/// A matrix's pixels in `cmap` on `scale`.
fn colour(values: &[f32], cmap: Colormap, scale: &Scale, size: [usize; 2]) -> egui::ColorImage {
    let px = render_rgba(values, cmap, scale);
    egui::ColorImage::from_rgba_unmultiplied(size, bytemuck::cast_slice(&px))
}

/// Size of axis labels for cells of `cell` points, or None when they would not be readable.
fn label_font(cell: f32) -> Option<f32> {
    (cell >= 7.0).then(|| (cell * 0.75).clamp(7.0, 14.0))
}

/// Draws the heatmap filling `ui`'s available space. Returns the tooltip of the hovered cell,
/// if any, and the rectangle of the matrix (for tests and exports).
pub fn show(
    ui: &mut egui::Ui,
    data: &MapData,
    tex: &TextureHandle,
    cmap: Colormap,
    zp: &mut ZoomPan,
) -> (Option<String>, Rect) {
    let avail = ui.available_rect_before_wrap();
    let label_w = 90.0f32.min(avail.width() * 0.2);
    let bar_w = 70.0;
    let side = (avail.width() - label_w - bar_w - 8.0)
        .min(avail.height() - label_w - 4.0)
        .max(40.0);
    let plot = Rect::from_min_size(
        Pos2::new(avail.left() + label_w, avail.top() + label_w),
        Vec2::splat(side),
    );
    let total = Rect::from_min_max(avail.min, Pos2::new(plot.right() + bar_w, plot.bottom()));
    ui.allocate_rect(total, Sense::hover());
    let resp = ui.interact(plot, ui.scope_id().with("heatmap"), Sense::click_and_drag());
    let (rows, cols) = (data.matrix.rows as f32, data.matrix.cols as f32);
    let n = rows.max(cols);

    zoom_and_pan(ui, &resp, zp, (plot, side, n));
    let visible = n / zp.zoom;
    zp.origin.x = zp.origin.x.clamp(0.0, (n - visible).max(0.0));
    zp.origin.y = zp.origin.y.clamp(0.0, (n - visible).max(0.0));

    let cell = side * zp.zoom / n;
    let content = Rect::from_min_size(plot.min - zp.origin * cell, Vec2::new(cols, rows) * cell);
    let painter = ui.painter_at(plot);
    painter.rect_filled(plot, 0.0, ui.visuals().extreme_bg_color);
    painter.image(
        tex.id(),
        content,
        Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
        Color32::WHITE,
    );

    let hovered = resp.hover_pos().and_then(|p| {
        let c = ((p.x - content.left()) / cell).floor();
        let r = ((p.y - content.top()) / cell).floor();
        (c >= 0.0 && r >= 0.0 && (c as usize) < data.matrix.cols && (r as usize) < data.matrix.rows)
            .then(|| {
                let (row, col) = (r as usize, c as usize);
                Hovered {
                    row,
                    col,
                    value: data.matrix.values[row * data.matrix.cols + col],
                }
            })
    });

    let at = Placed {
        avail,
        plot,
        content,
        cell,
        visible,
    };
    axis_labels(ui, data, &at, zp, hovered.as_ref());
    if let Some(h) = &hovered {
        let cellrect = Rect::from_min_size(
            content.min + Vec2::new(h.col as f32, h.row as f32) * cell,
            Vec2::splat(cell),
        );
        painter.rect_stroke(
            cellrect.expand(1.0),
            0.0,
            Stroke::new(1.5, ui.visuals().strong_text_color()),
            egui::StrokeKind::Outside,
        );
    }

    colorbar(
        ui,
        Rect::from_min_max(
            Pos2::new(plot.right() + 10.0, plot.top()),
            Pos2::new(plot.right() + 24.0, plot.bottom()),
        ),
        cmap,
        &data.scale,
    );

    let tooltip = hovered.as_ref().map(|h| hover_text(data, h));
    if let Some(text) = &tooltip {
        resp.on_hover_text_at_pointer(text);
    }
    (tooltip, plot)
}

/// Zooms about the pointer (scroll or pinch), pans by dragging, resets on a double click;
/// `side` is the plot's size and `n` the matrix's larger dimension.
fn zoom_and_pan(
    ui: &egui::Ui,
    resp: &egui::Response,
    zp: &mut ZoomPan,
    (plot, side, n): (Rect, f32, f32),
) {
    if resp.hovered() {
        let (scroll, zoom_delta) = ui.input(|i| (i.smooth_scroll_delta, i.zoom_delta()));
        let factor = zoom_delta * (scroll.y / 200.0).exp();
        if (factor - 1.0).abs() > 1e-4 {
            if let Some(p) = resp.hover_pos() {
                let cell = side * zp.zoom / n;
                let at = zp.origin + (p - plot.min) / cell;
                zp.zoom = (zp.zoom * factor).clamp(1.0, (n / 4.0).max(1.0));
                let cell2 = side * zp.zoom / n;
                zp.origin = at - (p - plot.min) / cell2;
            }
        }
    }
    if resp.dragged() {
        let cell = side * zp.zoom / n;
        zp.origin -= resp.drag_delta() / cell;
    }
    if resp.double_clicked() {
        *zp = ZoomPan::default();
    }
}

/// Where a heatmap is on screen: the space given, the plot, the whole matrix at this zoom, a
/// cell's size and how many cells the plot shows.
#[derive(Clone, Copy)]
struct Placed {
    avail: Rect,
    plot: Rect,
    content: Rect,
    cell: f32,
    visible: f32,
}

/// The axis labels, queries on the left and keys on top (rotated), the hovered row's and
/// column's in strong colour; where cells are too small to label, a note to zoom in.
fn axis_labels(
    ui: &egui::Ui,
    data: &MapData,
    at: &Placed,
    zp: &ZoomPan,
    hovered: Option<&Hovered>,
) {
    let Placed {
        avail,
        plot,
        content,
        cell,
        visible,
    } = *at;
    let text_color = ui.visuals().text_color();
    if let Some(size) = label_font(cell) {
        let font = FontId::proportional(size);
        let left = ui.painter_at(Rect::from_min_max(
            Pos2::new(avail.left(), plot.top()),
            Pos2::new(plot.left() - 2.0, plot.bottom()),
        ));
        let top = ui.painter_at(Rect::from_min_max(
            Pos2::new(plot.left(), avail.top()),
            Pos2::new(plot.right(), plot.top() - 2.0),
        ));
        let first_r = (zp.origin.y.floor() as usize).min(data.matrix.rows);
        let last_r = ((zp.origin.y + visible).ceil() as usize).min(data.matrix.rows);
        for (r, label) in data.matrix.row_labels[first_r..last_r].iter().enumerate() {
            let r = r + first_r;
            let y = content.top() + (r as f32 + 0.5) * cell;
            let strong = hovered.is_some_and(|h| h.row == r);
            let color = if strong {
                ui.visuals().strong_text_color()
            } else {
                text_color
            };
            left.text(
                Pos2::new(plot.left() - 4.0, y),
                Align2::RIGHT_CENTER,
                label,
                font.clone(),
                color,
            );
        }
        let first_c = (zp.origin.x.floor() as usize).min(data.matrix.cols);
        let last_c = ((zp.origin.x + visible).ceil() as usize).min(data.matrix.cols);
        for (c, label) in data.matrix.col_labels[first_c..last_c].iter().enumerate() {
            let c = c + first_c;
            let x = content.left() + (c as f32 + 0.5) * cell;
            let strong = hovered.is_some_and(|h| h.col == c);
            let color = if strong {
                ui.visuals().strong_text_color()
            } else {
                text_color
            };
            let galley = ui
                .painter()
                .layout_no_wrap(label.clone(), font.clone(), color);
            let h = galley.size().y;
            top.add(
                TextShape::new(Pos2::new(x - h / 2.0, plot.top() - 4.0), galley, color)
                    .with_angle(-std::f32::consts::FRAC_PI_2),
            );
        }
    } else {
        ui.painter().text(
            Pos2::new(plot.left(), plot.top() - 4.0),
            Align2::LEFT_BOTTOM,
            format!(
                "{} × {} — scroll to zoom in for token labels",
                data.matrix.rows, data.matrix.cols
            ),
            crate::app::widgets::font(ui, 11.0),
            ui.visuals().weak_text_color(),
        );
    }
}

/// The tooltip of a hovered cell: query and key tokens with their trace positions, and the value.
fn hover_text(data: &MapData, h: &Hovered) -> String {
    let q = data.index.get(h.row).copied().unwrap_or(h.row);
    let k = data.index.get(h.col).copied().unwrap_or(h.col);
    format!(
        "query #{q} “{}”\nkey #{k} “{}”\n{} {:.4}",
        data.matrix.row_labels[h.row], data.matrix.col_labels[h.col], data.value_name, h.value
    )
}

/// A vertical colour bar with five ticks.
pub fn colorbar(ui: &egui::Ui, rect: Rect, cmap: Colormap, scale: &Scale) {
    let painter = ui.painter();
    let steps = 64;
    let table = cmap.table();
    for i in 0..steps {
        let t0 = i as f32 / steps as f32;
        let t1 = (i + 1) as f32 / steps as f32;
        let c = table[((t0 + t1) * 0.5 * 255.0).round() as usize];
        let r = Rect::from_min_max(
            Pos2::new(rect.left(), rect.bottom() - t1 * rect.height()),
            Pos2::new(rect.right(), rect.bottom() - t0 * rect.height() + 0.5),
        );
        painter.rect_filled(r, 0.0, Color32::from_rgb(c[0], c[1], c[2]));
    }
    painter.rect_stroke(
        rect,
        0.0,
        Stroke::new(1.0, ui.visuals().weak_text_color()),
        egui::StrokeKind::Outside,
    );
    for i in 0..=4 {
        let t = i as f32 / 4.0;
        let y = rect.bottom() - t * rect.height();
        painter.text(
            Pos2::new(rect.right() + 4.0, y),
            Align2::LEFT_CENTER,
            format_tick(scale.value_at(t)),
            crate::app::widgets::font(ui, 11.0),
            ui.visuals().text_color(),
        );
    }
}

fn format_tick(v: f32) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() < 0.01 {
        format!("{v:.0e}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A large matrix is coloured on another thread: the call returns the previous picture at
    /// once, and the new one is taken on a later frame.
    #[test]
    fn large_maps_are_coloured_off_the_ui_thread() {
        let ctx = egui::Context::default();
        let scale = Scale {
            lo: 0.0,
            hi: 1.0,
            log: false,
        };
        let small = vec![0.5f32; 4];
        let mut cache = None;
        fn px(gen: u64, values: &[f32], n: usize) -> Pixels<'_> {
            Pixels {
                gen,
                values,
                size: [n, n],
            }
        }
        let first = texture(
            &ctx,
            &mut cache,
            "t",
            px(1, &small, 2),
            Colormap::Viridis,
            &scale,
        );
        let big: Vec<f32> = (0..300 * 300).map(|i| (i % 7) as f32 / 7.0).collect();
        let again = texture(
            &ctx,
            &mut cache,
            "t",
            px(2, &big, 300),
            Colormap::Viridis,
            &scale,
        );
        assert_eq!(
            first.id(),
            again.id(),
            "the same texture, its old picture for now"
        );
        let c = cache.as_ref().map(|c| (c.key, c.pending.is_some()));
        assert!(
            c.is_some_and(|(_, pending)| pending),
            "coloured on another thread"
        );
        let old_key = c.map(|(k, _)| k);
        let t0 = web_time::Instant::now();
        while cache.as_ref().is_some_and(|c| c.pending.is_some()) {
            let _ = texture(
                &ctx,
                &mut cache,
                "t",
                px(2, &big, 300),
                Colormap::Viridis,
                &scale,
            );
            assert!(t0.elapsed().as_secs() < 10, "the colouring never arrived");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert_ne!(
            cache.as_ref().map(|c| c.key),
            old_key,
            "the new picture is in"
        );
    }
}
