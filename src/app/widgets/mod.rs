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
