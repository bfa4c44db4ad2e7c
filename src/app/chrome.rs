//! The window's chrome around the tabs: the menu bar (opening models from a folder, a path, the
//! Hub, the built-in models, the recent list; the theme), the model and input side panel, and
//! the status bar (backend, timing, memory, progress with cancel, the last error or notice).

#[cfg(not(target_arch = "wasm32"))]
use super::file_dialog::PathFor;
use super::file_dialog::{PathPrompt, Picked};
use super::session::Session;
use super::widgets::token_links;
use super::worker::ModelSlot;
use crate::model::ModelSource;
use std::path::PathBuf;
use std::sync::mpsc::Receiver;

/// The chrome's own state: the open dialogs.
#[derive(Default)]
pub struct Chrome {
    /// the path / Hub id dialog: (text, slot, from the Hub)
    path_dialog: Option<(String, ModelSlot, bool)>,
    /// a native dialog (model folder, scene) on its own thread: what it is for, its answer
    pick: Option<(PathPrompt, Receiver<Picked>)>,
    /// the page's file dialog for a model's files: the slot, and the source the files are held
    /// as once read (None: nothing chosen)
    #[cfg(target_arch = "wasm32")]
    files: Option<(ModelSlot, Receiver<Option<ModelSource>>)>,
    /// the page's file dialog for a scene: its name and bytes once read (None: nothing chosen)
    #[cfg(target_arch = "wasm32")]
    scene_file: Option<Receiver<super::page::PickedFile>>,
}

/// What the Hub dialog says: an id of any encoder the app opens, and where its files go.
#[cfg(not(target_arch = "wasm32"))]
const HUB_HINT: &str = "Model id, e.g. albert-base-v2, bert-base-uncased, roberta-base, microsoft/deberta-v3-base. Downloads into the Hugging Face cache (HF_HOME, HF_ENDPOINT honoured); a cached model opens offline.";
/// What the Hub dialog says: an id of any encoder the app opens, and where its files go.
#[cfg(target_arch = "wasm32")]
const HUB_HINT: &str = "Model id, e.g. albert-base-v2, bert-base-uncased, roberta-base. The page fetches its files into its memory for this visit (public models; nothing is saved).";

impl Chrome {
    /// Acts on a dialog's answer once it is closed (where none could open: the typed-path
    /// prompt).
    pub fn poll(&mut self, cx: &mut Session) {
        #[cfg(target_arch = "wasm32")]
        if let Some((slot, rx)) = &self.files {
            if let Ok(kept) = rx.try_recv() {
                if let Some(source) = kept {
                    cx.open(*slot, source);
                }
                self.files = None;
            }
        }
        #[cfg(target_arch = "wasm32")]
        if let Some(rx) = &self.scene_file {
            if let Ok(picked) = rx.try_recv() {
                if let Some((name, bytes)) = picked {
                    cx.view_request =
                        Some(super::session::ViewRequest::OpenSceneBytes(name, bytes));
                }
                self.scene_file = None;
            }
        }
        if let Some((_, rx)) = &self.pick {
            if let Ok(picked) = rx.try_recv() {
                if let Some((prompt, _)) = self.pick.take() {
                    cx.answer(prompt, picked);
                }
            }
        }
    }

    /// A page has no folders: the browser's dialog picks the model's files.
    #[cfg(target_arch = "wasm32")]
    fn pick_folder(&mut self, ctx: &egui::Context, _cx: &mut Session, slot: ModelSlot) {
        self.files = Some((slot, super::page::pick_model_files(ctx)));
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn pick_folder(&mut self, ctx: &egui::Context, cx: &mut Session, slot: ModelSlot) {
        let picked = super::file_dialog::dialog(ctx, "folder", || {
            pollster::block_on(
                rfd::AsyncFileDialog::new()
                    .set_title("Open a model folder (config.json, weights, tokenizer)")
                    .pick_folder(),
            )
        });
        let prompt = PathPrompt::new(PathFor::ModelFolder(slot), "Open a model folder", "");
        match picked {
            Ok(rx) => self.pick = Some((prompt, rx)),
            Err(e) => cx.status.error = Some(format!("cannot show the folder dialog: {e}")),
        }
    }

    /// A page saves a scene by download and opens one through the browser's file dialog.
    #[cfg(target_arch = "wasm32")]
    fn pick_scene(&mut self, ctx: &egui::Context, cx: &mut Session, save: bool) {
        if save {
            cx.view_request = Some(super::session::ViewRequest::SaveScene("scene.json".into()));
        } else {
            self.scene_file = Some(super::page::pick_scene_file(ctx));
        }
    }

    /// A scene file dialog (save or open) on its own thread.
    #[cfg(not(target_arch = "wasm32"))]
    fn pick_scene(&mut self, ctx: &egui::Context, cx: &mut Session, save: bool) {
        let picked = super::file_dialog::dialog(ctx, "scene", move || {
            let dialog = rfd::AsyncFileDialog::new().add_filter("scene", &["json"]);
            if save {
                pollster::block_on(
                    dialog
                        .set_title("Save the scene (models, text, view and options)")
                        .set_file_name("scene.json")
                        .save_file(),
                )
            } else {
                pollster::block_on(dialog.set_title("Open a scene").pick_file())
            }
        });
        let prompt = if save {
            PathPrompt::new(PathFor::SaveScene, "Save the scene", "scene.json")
        } else {
            PathPrompt::new(PathFor::OpenScene, "Open a scene", "")
        };
        match picked {
            Ok(rx) => self.pick = Some((prompt, rx)),
            Err(e) => cx.status.error = Some(format!("cannot show the file dialog: {e}")),
        }
    }

    /// The menu bar; View > Deck panel shows or hides the Deck panel (`deck_open`).
    pub fn menu_bar(&mut self, ui: &mut egui::Ui, cx: &mut Session, deck_open: &mut bool) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui
                    .button("Save scene…")
                    .on_hover_text("the models, text, view and options of the open tab's figure, for `albert-lens render --scene`")
                    .clicked()
                {
                    let ctx = ui.ctx().clone();
                    self.pick_scene(&ctx, cx, true);
                }
                if ui.button("Open scene…").clicked() {
                    let ctx = ui.ctx().clone();
                    self.pick_scene(&ctx, cx, false);
                }
            });
            for (title, slot) in [("Model", ModelSlot::Main), ("Compare", ModelSlot::Compare)] {
                ui.menu_button(title, |ui| {
                    // a page opens the model's files (a browser gives no folders)
                    let open = if cfg!(target_arch = "wasm32") {
                        "Open files…"
                    } else {
                        "Open folder…"
                    };
                    if ui.button(open).clicked() {
                        let ctx = ui.ctx().clone();
                        self.pick_folder(&ctx, cx, slot);
                    }
                    if ui.button("Open path…").clicked() {
                        self.path_dialog = Some((String::new(), slot, false));
                    }
                    if ui.button("Open from Hugging Face Hub…").clicked() {
                        self.path_dialog = Some(("albert-base-v2".into(), slot, true));
                    }
                    ui.separator();
                    for name in crate::model::builtin::NAMES {
                        if ui.button(format!("{name} (built in)")).clicked() {
                            cx.open(slot, ModelSource::Builtin(name.into()));
                        }
                    }
                    if !cx.settings.recent.is_empty() {
                        ui.separator();
                        ui.label("Recent");
                        for src in cx.settings.recent.clone() {
                            if ui.button(src.label()).clicked() {
                                cx.open(slot, src);
                            }
                        }
                    }
                });
            }
            ui.menu_button("Compute", |ui| {
                let mut fast = cx.fast_gpu;
                let hint = "the GPU's weight products on cooperative matrices (tensor cores): \
                    f16 inputs, f32 accumulation, faster and about 1e-3 off the exact numbers; \
                    the status bar says when the GPU has none (then the exact path runs)";
                if ui
                    .checkbox(&mut fast, "Fast GPU matmuls (tensor cores)")
                    .on_hover_text(hint)
                    .changed()
                {
                    cx.set_fast_gpu(fast);
                }
            });
            ui.menu_button("View", |ui| {
                // presentation mode is light whatever the theme: the theme waits, greyed out
                let presenting = cx.settings.presentation;
                ui.add_enabled_ui(!presenting, |ui| {
                    let mut dark = cx.settings.dark && !presenting;
                    ui.radio_value(&mut dark, true, "Dark theme");
                    ui.radio_value(&mut dark, false, "Light theme");
                    if !presenting {
                        cx.settings.dark = dark;
                    }
                })
                .response
                .on_disabled_hover_text("presentation mode uses the light theme");
                ui.checkbox(
                    &mut cx.settings.presentation,
                    "Presentation mode (light, large type)",
                );
                ui.separator();
                ui.checkbox(deck_open, "Deck panel (lessons and talks)")
                    .on_hover_text("slides of saved views with live captions: build a deck, present it full screen, export it as PDF");
            });
        });
    }

    pub fn path_dialog(&mut self, ctx: &egui::Context, cx: &mut Session) {
        let Some((text, slot, hub)) = self.path_dialog.as_mut() else {
            return;
        };
        let (slot, hub) = (*slot, *hub);
        let mut open = None;
        let mut close = false;
        egui::Window::new(if hub {
            "Open from the Hugging Face Hub"
        } else {
            "Open a model folder"
        })
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
        .show(ctx, |ui| {
            ui.label(if hub {
                HUB_HINT
            } else {
                "Folder with config.json, the weights and the tokenizer:"
            });
            let r = ui.add(egui::TextEdit::singleline(text).desired_width(380.0));
            let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            ui.horizontal(|ui| {
                if ui.button("Open").clicked() || enter {
                    open = Some(text.trim().to_string());
                }
                if ui.button("Cancel").clicked() {
                    close = true;
                }
            });
        });
        if let Some(t) = open.filter(|t| !t.is_empty()) {
            let src = if hub {
                ModelSource::Hub(t)
            } else {
                ModelSource::Folder(PathBuf::from(t))
            };
            self.path_dialog = None;
            cx.open(slot, src);
        } else if close {
            self.path_dialog = None;
        }
    }

    /// The typed-path prompt, where no native file dialog could open.
    pub fn path_prompt(&mut self, ctx: &egui::Context, cx: &mut Session) {
        let Some(prompt) = cx.prompt.as_mut() else {
            return;
        };
        let (mut go, mut close) = (false, false);
        let saves = prompt.saves();
        egui::Window::new(prompt.title.clone())
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
            .show(ctx, |ui| {
                ui.label("No file dialog could open here. Path:");
                let r = ui.add(egui::TextEdit::singleline(&mut prompt.text).desired_width(460.0));
                go = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                ui.horizontal(|ui| {
                    go |= ui.button(if saves { "Save" } else { "Open" }).clicked();
                    close = ui.button("Cancel").clicked();
                });
            });
        let text = prompt.text.trim().to_string();
        if go && !text.is_empty() {
            cx.confirm_prompt(PathBuf::from(text));
        } else if close {
            cx.prompt = None;
            cx.status.error = None;
        }
    }

    pub fn status_bar(&mut self, ui: &mut egui::Ui, cx: &mut Session) {
        ui.horizontal(|ui| {
            let backend = if cx.status.backend.is_empty() {
                cx.worker
                    .backend_name
                    .lock()
                    .map(|n| n.clone())
                    .unwrap_or_default()
            } else {
                cx.status.backend.clone()
            };
            ui.label(format!("backend: {backend}"));
            ui.separator();
            match cx.status.forward_ms {
                Some(ms) => ui.label(format!("forward {ms:.1} ms")),
                None => ui.label("forward –"),
            };
            if let Some(t) = cx.trace() {
                ui.separator();
                ui.label(format!("{} tokens", t.num_tokens()));
            }
            if let Some(mb) = resident_mb() {
                ui.separator();
                ui.label(format!("memory {mb:.0} MB"));
            }
            if let Some(control) = cx.progress() {
                let (what, frac) = control.progress();
                ui.separator();
                match frac {
                    Some(f) => {
                        ui.add(egui::ProgressBar::new(f).desired_width(160.0).text(what));
                    }
                    None => {
                        ui.spinner();
                        ui.label(what);
                    }
                }
                if ui.button("Cancel").clicked() {
                    control
                        .cancel
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                }
                ui.ctx()
                    .request_repaint_after(std::time::Duration::from_millis(100));
            } else if cx.running() {
                ui.separator();
                ui.spinner();
            }
            if let Some(note) = cx.status.notice.clone() {
                ui.separator();
                ui.label(note);
            }
            if let Some(err) = cx.status.error.clone() {
                ui.separator();
                if ui.small_button("x").on_hover_text("dismiss").clicked() {
                    cx.status.error = None;
                }
                // as much as fits, the whole text on hover, copied on click
                let full = format!("Error: {err}");
                let text = egui::RichText::new(&full).color(ui.visuals().error_fg_color);
                let r = ui
                    .add(
                        egui::Label::new(text)
                            .truncate()
                            .sense(egui::Sense::click()),
                    )
                    .on_hover_text(format!("{full}\n\n(click to copy)"));
                if r.clicked() {
                    ui.ctx().copy_text(full);
                    cx.status.notice = Some("the error message was copied".into());
                }
            }
        });
    }

    pub fn side_panel(&mut self, ui: &mut egui::Ui, cx: &mut Session) {
        egui::ScrollArea::vertical().show(ui, |ui| {
            ui.heading("Model");
            match cx.info(ModelSlot::Main) {
                Some(info) => {
                    ui.label(egui::RichText::new(info.source.label()).strong());
                    ui.label(&info.summary);
                    match &info.task {
                        Some(t) if t.kind == crate::model::task::TaskKind::QuestionAnswering => {
                            ui.label(format!("{}: a start and an end logit per token", t.architecture));
                        }
                        Some(t) => {
                            ui.label(format!(
                                "{}: {} label{} ({})",
                                t.architecture,
                                t.labels.len(),
                                if t.labels.len() == 1 { "" } else { "s" },
                                t.labels.join(", ")
                            ));
                        }
                        None if !info.has_mlm => {
                            ui.weak("no masked-LM head in this checkpoint");
                        }
                        None => {}
                    }
                    for w in &info.warnings {
                        ui.colored_label(ui.visuals().warn_fg_color, w);
                    }
                    if let ModelSource::Builtin(name) = &info.source {
                        if let Some(card) = crate::model::builtin::card(name) {
                            egui::CollapsingHeader::new("Model card").show(ui, |ui| {
                                ui.label(card);
                            });
                        }
                    }
                }
                None => {
                    ui.weak("No model loaded. Model > Open folder…, or drop a model folder on the window.");
                }
            }
            if let Some(info) = cx.info(ModelSlot::Compare) {
                ui.add_space(4.0);
                ui.label(format!("Comparison model: {}", info.source.label()));
            }
            ui.separator();
            ui.heading("Input");
            let r = ui.add(
                egui::TextEdit::multiline(&mut cx.settings.text)
                    .desired_rows(4)
                    .desired_width(ui.available_width())
                    .hint_text("Type a sentence…"),
            );
            let mut changed = r.changed();
            changed |= ui
                .checkbox(&mut cx.settings.pair_on, "Second segment (sentence pair)")
                .changed();
            if cx.settings.pair_on {
                changed |= ui
                    .add(
                        egui::TextEdit::multiline(&mut cx.settings.pair)
                            .desired_rows(2)
                            .desired_width(ui.available_width())
                            .hint_text("Segment B…"),
                    )
                    .changed();
            }
            if changed {
                cx.touch();
            }
            if let Some(t) = cx.trace() {
                for w in &t.warnings {
                    ui.colored_label(ui.visuals().warn_fg_color, format!("Warning: {w}"));
                }
                let masked = cx.input.intervention.masked.clone();
                if let Some(i) = token_links::token_chips(ui, t, &masked) {
                    cx.intervention.toggle_mask(i);
                    if cx.intervention.masked.contains(&i) {
                        cx.view_request = Some(super::session::ViewRequest::Lens(i));
                    }
                    cx.touch_now();
                }
            }
            super::interventions::panel(ui, cx);
        });
    }
}

/// The process's resident memory in MB (Linux), for the status bar.
pub fn resident_mb() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096.0 / 1e6)
}
