//! The Export menu every view has: PNG at 1x/2x/4x, SVG, the matrix as CSV/NPY/safetensors
//! (each through a save dialog), the image to the clipboard, and the figures' theme. The tab
//! builds the view through the registry ([`crate::views`]); the session runs the rest off the
//! UI thread.

use crate::figures::{Figure, Theme};
use crate::matrix::Matrix;
use std::path::PathBuf;

/// Theme of exported figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ExportTheme {
    Light,
    Dark,
    Presentation,
}

impl ExportTheme {
    pub fn theme(self) -> Theme {
        match self {
            ExportTheme::Light => Theme::LIGHT,
            ExportTheme::Dark => Theme::DARK,
            ExportTheme::Presentation => Theme::PRESENTATION,
        }
    }
}

/// What the user picked in the menu: a file format and scale, or the clipboard.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ExportAsk {
    File {
        ext: &'static str,
        scale: f32,
    },
    Copy,
    /// the view layer by layer, as an animated GIF or PNG (2 frames a second, scale 1.5)
    Animation(crate::figures::animate::AnimFormat),
}

/// What a finished export did.
pub enum ExportDone {
    Saved(PathBuf),
    Copied(egui::ColorImage),
    Cancelled,
    /// no save dialog could open: the encoded file and its suggested name, for the typed-path
    /// prompt
    NoDialog(Vec<u8>, String),
}

impl ExportAsk {
    /// Encodes the figure for the clipboard, or asks where to save it and writes it there.
    pub fn run(self, figure: &Figure, matrix: Option<&Matrix>) -> Result<ExportDone, String> {
        let (ext, scale) = match self {
            ExportAsk::Copy => {
                let (w, h, px) = figure.to_rgba(2.0).map_err(|e| e.to_string())?;
                return Ok(ExportDone::Copied(
                    egui::ColorImage::from_rgba_premultiplied([w as usize, h as usize], &px),
                ));
            }
            ExportAsk::File { ext, scale } => (ext, scale),
            ExportAsk::Animation(_) => {
                return Err("an animation is exported by Session::export_animation".into());
            }
        };
        let name = format!("albert-lens.{ext}");
        let picked = super::file_dialog::ask(|| {
            pollster::block_on(
                rfd::AsyncFileDialog::new()
                    .set_title("Export")
                    .set_file_name(&name)
                    .add_filter(ext, &[ext])
                    .save_file(),
            )
        });
        match picked {
            super::file_dialog::Picked::Path(path) => {
                crate::export::save(&path, figure, matrix, scale).map_err(|e| e.to_string())?;
                Ok(ExportDone::Saved(path))
            }
            super::file_dialog::Picked::Cancelled => Ok(ExportDone::Cancelled),
            super::file_dialog::Picked::Unavailable => {
                let bytes =
                    crate::export::encode(std::path::Path::new(&name), figure, matrix, scale)
                        .map_err(|e| e.to_string())?;
                Ok(ExportDone::NoDialog(bytes, name))
            }
        }
    }
}

/// Asks where to save `bytes` (a save dialog titled `title`, suggesting `name`, filtered to
/// `ext`) and writes them there (call it off the UI thread: the dialog blocks).
pub fn save_bytes(
    bytes: Vec<u8>,
    title: &str,
    name: &str,
    ext: &str,
) -> Result<ExportDone, String> {
    let picked = super::file_dialog::ask(|| {
        pollster::block_on(
            rfd::AsyncFileDialog::new()
                .set_title(title)
                .set_file_name(name)
                .add_filter(ext, &[ext])
                .save_file(),
        )
    });
    match picked {
        super::file_dialog::Picked::Path(path) => {
            crate::files::write_atomic(&path, &bytes).map_err(|e| e.to_string())?;
            Ok(ExportDone::Saved(path))
        }
        super::file_dialog::Picked::Cancelled => Ok(ExportDone::Cancelled),
        super::file_dialog::Picked::Unavailable => Ok(ExportDone::NoDialog(bytes, name.into())),
    }
}

/// The Export menu button (ids kept apart by `id`): what was picked, if anything this frame.
/// The figure theme radio buttons edit `theme`; `animated` views offer a layer-by-layer GIF
/// and APNG too.
pub fn menu(
    ui: &mut egui::Ui,
    id: &str,
    theme: &mut ExportTheme,
    animated: bool,
) -> Option<ExportAsk> {
    let mut ask = None;
    ui.push_id(id, |ui| {
        // never wrapped ("Exp/ort"): at the end of a full row it moves to the next one whole
        ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Extend);
        ui.menu_button("Export", |ui| {
            for (label, ext, scale) in [
                ("PNG 1x…", "png", 1.0),
                ("PNG 2x…", "png", 2.0),
                ("PNG 4x…", "png", 4.0),
                ("SVG…", "svg", 1.0),
                ("CSV…", "csv", 1.0),
                ("NPY…", "npy", 1.0),
                ("safetensors…", "safetensors", 1.0),
            ] {
                if ui.button(label).clicked() {
                    ask = Some(ExportAsk::File { ext, scale });
                }
            }
            if ui.button("Copy image").clicked() {
                ask = Some(ExportAsk::Copy);
            }
            if animated {
                use crate::figures::animate::AnimFormat;
                ui.separator();
                if ui.button("Animation, layer by layer: GIF…").clicked() {
                    ask = Some(ExportAsk::Animation(AnimFormat::Gif));
                }
                if ui.button("Animation, layer by layer: APNG…").clicked() {
                    ask = Some(ExportAsk::Animation(AnimFormat::Apng));
                }
            }
            ui.separator();
            ui.label("Figure theme");
            ui.radio_value(theme, ExportTheme::Light, "Light");
            ui.radio_value(theme, ExportTheme::Dark, "Dark");
            ui.radio_value(
                theme,
                ExportTheme::Presentation,
                "Presentation (large type)",
            );
            if ask.is_some() {
                ui.close();
            }
        });
    });
    ask
}
