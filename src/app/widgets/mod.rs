//! The app's drawing pieces, each a function of its data and an `egui::Ui`: the heatmap, the
//! model view's thumbnail grid, the token links and the token chips, and the Explain tab's
//! vectors, bars and thumbnails.

pub mod heatmap;
pub mod model_grid;
pub mod token_links;
pub mod vectors;

/// A label, then its widget, labelled by it: rows read "Layer [slider]", not "[slider] Layer".
pub fn labelled(ui: &mut egui::Ui, label: &str, widget: impl egui::Widget) -> egui::Response {
    let l = ui.label(label);
    ui.add(widget).labelled_by(l.id)
}

/// A label, then a combo box (`id`) showing `selected`, labelled by it.
pub fn combo<R>(
    ui: &mut egui::Ui,
    (id, label): (&str, &str),
    selected: impl Into<egui::WidgetText>,
    add: impl FnOnce(&mut egui::Ui) -> R,
) -> egui::Response {
    let l = ui.label(label);
    egui::ComboBox::new(id, "")
        .selected_text(selected)
        .show_ui(ui, add)
        .response
        .labelled_by(l.id)
}

/// A font of `size` points at the window's text scale: drawn text (axis ticks, token labels)
/// grows with the rest in presentation mode's large type.
pub fn font(ui: &egui::Ui, size: f32) -> egui::FontId {
    let body = ui
        .style()
        .text_styles
        .get(&egui::TextStyle::Body)
        .map_or(13.0, |f| f.size);
    egui::FontId::proportional(size * body / 13.0)
}

/// The figure theme for what the window shows: presentation mode's large type, else the
/// window's light or dark.
pub fn screen_theme(ui: &egui::Ui, presentation: bool) -> crate::figures::Theme {
    use crate::figures::Theme;
    if presentation {
        Theme::PRESENTATION
    } else if ui.visuals().dark_mode {
        Theme::DARK
    } else {
        Theme::LIGHT
    }
}

/// The text's tokens as a row of selectable chips after an optional `label`, `pos` selected;
/// the token clicked, if one was (the tabs that follow one token all pick it this way).
pub fn token_picker(
    ui: &mut egui::Ui,
    label: Option<&str>,
    tokens: &[String],
    pos: usize,
) -> Option<usize> {
    let mut clicked = None;
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 3.0;
        if let Some(l) = label {
            ui.label(l);
        }
        for (i, t) in tokens.iter().enumerate() {
            if ui.selectable_label(i == pos, t).clicked() {
                clicked = Some(i);
            }
        }
    });
    clicked
}

/// A view's figure shown as a texture, drawn at the size it is shown (fit to the space, at
/// most 2.5x, so it stays sharp) and made again only when `key` or the space changes; `cache`
/// keeps the texture between frames. The figure is the one the Export menu saves. With
/// `scroll` a tall figure is fitted to the width and scrolls, else it is fitted whole.
pub fn figure_texture(
    ui: &mut egui::Ui,
    cache: &mut Option<(String, egui::TextureHandle)>,
    (key, scroll): (&str, bool),
    make: impl FnOnce() -> Result<crate::figures::Figure, String>,
) {
    let width = ui.available_width().max(100.0);
    let height = if scroll {
        f32::INFINITY
    } else {
        ui.available_height().max(100.0)
    };
    let key = format!(
        "{key} {} {} {}",
        (width / 50.0).round(),
        (height.min(1e6) / 50.0).round(),
        ui.visuals().dark_mode
    );
    if cache.as_ref().is_none_or(|(k, _)| *k != key) {
        let ppp = ui.ctx().pixels_per_point();
        let made = make().and_then(|f| {
            let fit = (width / f.width).min(height / f.height).clamp(0.5, 2.5);
            f.to_rgba(ppp * fit).map_err(|e| e.to_string())
        });
        match made {
            Ok((w, h, px)) => {
                let image = egui::ColorImage::from_rgba_unmultiplied([w as usize, h as usize], &px);
                let tex = ui
                    .ctx()
                    .load_texture("figure", image, egui::TextureOptions::LINEAR);
                *cache = Some((key, tex));
            }
            Err(e) => {
                ui.weak(e);
                return;
            }
        }
    }
    if let Some((_, tex)) = cache {
        let size = tex.size_vec2() / ui.ctx().pixels_per_point();
        let scale = (width / size.x).min(height / size.y).min(1.0);
        egui::ScrollArea::vertical().show(ui, |ui| {
            ui.image((tex.id(), size * scale));
        });
    }
}
