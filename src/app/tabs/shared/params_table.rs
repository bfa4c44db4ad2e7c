//! The Shared-vs-unshared tab's parameter table: the window's two models and any more typed
//! in (opened, counted and run on the text off the UI thread, with the session's backend: their
//! runs are Figure 1's further lines), drawn from [`views::parameters`]; and the calculator of
//! the paper's Tables 1, 3 and 4.

use super::SharedTab;
use crate::app::jobs;
use crate::app::session::Session;
use crate::app::tabs::export_button;
use crate::app::worker::ModelSlot;
use crate::model::{LoadedModel, Trace};
use crate::params::{self, Sharing};
use crate::views;
use std::sync::{Arc, Mutex};

/// A model counted beside the window's two: its column of the table, and its run on the text
/// (None before there is a text).
#[derive(Clone)]
pub(super) struct MoreRun {
    pub column: views::parameters::Column,
    pub trace: Option<Arc<Trace>>,
}

/// One result per typed model: its run, or an error naming it.
pub(super) type Counted = Vec<Result<MoreRun, String>>;
/// What the table's further models ran for: the models typed, and the input (its sequence
/// number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MoreKey {
    pub models: Vec<String>,
    pub input: u64,
}
/// The models opened for the table, kept while they are listed (a new text re-runs them
/// without reading them again).
pub(super) type Opened = Arc<Mutex<Vec<(String, Arc<LoadedModel>)>>>;

impl SharedTab {
    /// The parameter table: the main and comparison models, then the models counted beside them.
    pub fn parameters_data(&self, cx: &Session) -> views::parameters::Data {
        let mut columns: Vec<views::parameters::Column> =
            [cx.info(ModelSlot::Main), cx.info(ModelSlot::Compare)]
                .into_iter()
                .flatten()
                .map(|i| {
                    let family = i.model_type.family();
                    views::parameters::column(&i.source.name(), family, &i.arch, i.params)
                })
                .collect();
        columns.extend(self.more_runs().map(|r| r.column.clone()));
        views::parameters::Data { columns }
    }

    /// The typed models' runs, once they have run.
    pub(super) fn more_runs(&self) -> impl Iterator<Item = &MoreRun> {
        let runs = match self.more.current() {
            Some(Ok(r)) => r.as_slice(),
            _ => &[],
        };
        runs.iter().filter_map(|r| r.as_ref().ok())
    }

    /// The key of the typed models' latest good runs (Figure 1's cache key).
    pub(super) fn more_key(&self) -> Option<MoreKey> {
        self.more
            .latest()
            .filter(|r| r.1.is_ok())
            .map(|r| r.0.clone())
    }

    /// Asks for the typed models' columns and runs when the list or the text changed.
    pub(super) fn ask_more(&mut self, cx: &mut Session) {
        if let Some(e) = self.more.poll_err() {
            cx.status.error = Some(format!("counting more models: {e}"));
        }
        let more = self.settings.parameters.more.clone();
        if more.is_empty() {
            self.more.reset();
            if let Ok(mut o) = self.opened.lock() {
                o.clear();
            }
            return;
        }
        let key = MoreKey {
            models: more.clone(),
            input: cx.input.seq,
        };
        if let Some(ticket) = self.more.ask(key, &cx.wake) {
            let text = (cx.input.seq > 0).then(|| (cx.input.text.clone(), cx.input.pair.clone()));
            let (choice, opened) = (cx.backend_choice, self.opened.clone());
            jobs::spawn("counting parameters", ticket, move |ctl| {
                count_models(&more, text, choice, &opened, ctl)
            });
        }
    }

    pub(super) fn params_section(&mut self, ui: &mut egui::Ui, cx: &mut Session) {
        let data = self.parameters_data(cx);
        if !data.columns.is_empty() {
            ui.label("From the loaded weights (the [CLS] pooler is not loaded and not counted):");
            egui::Grid::new("params_loaded")
                .striped(true)
                .show(ui, |ui| {
                    ui.strong("");
                    for c in &data.columns {
                        ui.strong(&c.model);
                    }
                    ui.end_row();
                    for (label, cells) in views::parameters::rows(&data) {
                        ui.label(label);
                        for cell in cells {
                            ui.label(cell);
                        }
                        ui.end_row();
                    }
                });
        }
        self.more_models(ui, cx);
        self.calculator(ui);
        ui.horizontal(|ui| {
            ui.weak("Save the accounting and the paper's tables:");
            export_button(self, ui, cx, "params");
        });
    }

    /// More models counted beside the loaded ones: the field, the failures (named once in the
    /// status bar and beside their chips) and the chips that leave a model out.
    fn more_models(&mut self, ui: &mut egui::Ui, cx: &mut Session) {
        ui.horizontal_wrapped(|ui| {
            let label = ui.label("Count more models (a folder, hub:ID or built-in name):");
            let edit = egui::TextEdit::singleline(&mut self.more_text).desired_width(220.0);
            let r = ui.add(edit).labelled_by(label.id);
            let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            let typed = self.more_text.trim().to_string();
            if (ui.button("Add").clicked() || enter) && !typed.is_empty() {
                if !self.settings.parameters.more.contains(&typed) {
                    self.settings.parameters.more.push(typed);
                }
                self.more_text.clear();
            }
            if self.more.pending() {
                ui.spinner();
            }
        });
        // a model that cannot be opened is named once in the status bar and beside its chip;
        // the others stay in the table
        let failures: Vec<String> = match self.more.latest() {
            Some((k, Ok(r))) if k.models == self.settings.parameters.more => {
                r.iter().filter_map(|x| x.as_ref().err().cloned()).collect()
            }
            _ => Vec::new(),
        };
        if !failures.is_empty()
            && self.more_reported.as_ref() != Some(&self.settings.parameters.more)
        {
            cx.status.error = Some(format!("counting more models: {}", failures.join("; ")));
            self.more_reported = Some(self.settings.parameters.more.clone());
        }
        for f in &failures {
            ui.colored_label(ui.visuals().warn_fg_color, f);
        }
        let mut remove = None;
        ui.horizontal_wrapped(|ui| {
            for (i, m) in self.settings.parameters.more.iter().enumerate() {
                if ui
                    .small_button(format!("× {m}"))
                    .on_hover_text("leave this model out of the table")
                    .clicked()
                {
                    remove = Some(i);
                }
            }
        });
        if let Some(i) = remove {
            self.settings.parameters.more.remove(i);
        }
    }

    /// The calculator of the paper's Tables 1, 3 and 4: sizes in, the counts out, each table
    /// row ready to use.
    fn calculator(&mut self, ui: &mut egui::Ui) {
        egui::CollapsingHeader::new("Calculator: the paper's Tables 1, 3 and 4")
            .default_open(false)
            .show(ui, |ui| {
                let a = &mut self.settings.calc;
                ui.horizontal_wrapped(|ui| {
                    ui.add(
                        egui::DragValue::new(&mut a.vocab)
                            .range(1..=1_000_000)
                            .prefix("V "),
                    );
                    ui.add(
                        egui::DragValue::new(&mut a.embedding)
                            .range(1..=65536)
                            .prefix("E "),
                    );
                    ui.add(
                        egui::DragValue::new(&mut a.hidden)
                            .range(1..=65536)
                            .prefix("H "),
                    );
                    ui.add(
                        egui::DragValue::new(&mut a.layers)
                            .range(1..=256)
                            .prefix("L "),
                    );
                    ui.add(
                        egui::DragValue::new(&mut a.intermediate)
                            .range(1..=262144)
                            .prefix("I "),
                    );
                    egui::ComboBox::new("sharing", "")
                        .selected_text(a.sharing.name())
                        .show_ui(ui, |ui| {
                            for s in Sharing::ALL {
                                ui.selectable_value(&mut a.sharing, s, s.name());
                            }
                        });
                });
                let c = a.counts();
                let n = |v: usize| format!("{:.2}M", v as f64 / 1e6);
                ui.label(format!(
                    "embedding {} + projection {} + encoder {} (unshared: {}) + pooler {} = {}",
                    n(c.word_embeddings + c.other_embeddings),
                    n(c.projection),
                    n(c.encoder),
                    n(c.encoder_unshared),
                    n(c.pooler),
                    n(c.total())
                ));
                ui.add_space(4.0);
                egui::Grid::new("paper_tables")
                    .striped(true)
                    .show(ui, |ui| {
                        for h in [
                            "table",
                            "model",
                            "E",
                            "H",
                            "L",
                            "sharing",
                            "this count",
                            "paper",
                            "",
                        ] {
                            ui.strong(h);
                        }
                        ui.end_row();
                        for (table, rows) in [
                            ("1", params::table1()),
                            ("3", params::table3()),
                            ("4", params::table4()),
                        ] {
                            for r in rows {
                                ui.label(table);
                                ui.label(r.label);
                                ui.label(r.arch.embedding.to_string());
                                ui.label(r.arch.hidden.to_string());
                                ui.label(r.arch.layers.to_string());
                                ui.label(r.arch.sharing.name());
                                ui.label(format!("{:.1}M", r.paper_convention() as f64 / 1e6));
                                ui.label(format!("{:.0}M", r.paper_millions));
                                if ui.small_button("use").clicked() {
                                    self.settings.calc = r.arch;
                                }
                                ui.end_row();
                            }
                        }
                    });
                ui.weak(params::PAPER_NOTE);
            });
    }
}

/// The models typed into the table (a folder, hub:ID or built-in name): each opened (or taken
/// from `opened`), counted, and run on the text with the chosen backend; one that cannot be
/// opened or run is an error naming it, the others stand.
fn count_models(
    specs: &[String],
    text: Option<(String, Option<String>)>,
    choice: crate::backend::BackendChoice,
    opened: &Opened,
    ctl: &jobs::Control,
) -> Result<Counted, String> {
    use crate::backend::Backend;
    let mut backend = crate::backend::FallbackBackend::new(choice);
    let mut out = Vec::new();
    // only the listed models stay open
    if let Ok(mut o) = opened.lock() {
        o.retain(|(s, _)| specs.contains(s));
    }
    for spec in specs {
        if ctl.cancelled() {
            return Err("cancelled".into());
        }
        let source = crate::model::ModelSource::parse(std::path::Path::new(spec));
        let cached = opened
            .lock()
            .ok()
            .and_then(|o| o.iter().find(|(s, _)| s == spec).map(|(_, m)| m.clone()));
        let mut run = || -> crate::Result<MoreRun> {
            let m = match cached.clone() {
                Some(m) => m,
                None => {
                    let dir = source.folder(&mut |_, _| !ctl.cancelled())?;
                    let m = Arc::new(LoadedModel::open(&dir)?);
                    if let Ok(mut o) = opened.lock() {
                        o.push((spec.clone(), m.clone()));
                    }
                    m
                }
            };
            let column = views::parameters::column(
                &source.name(),
                m.config.model_type.family(),
                &params::Arch::of_config(&m.config),
                params::Loaded::of(&m.config, &m.weights),
            );
            let trace = match &text {
                Some((t, pair)) => {
                    let input = m.encode(t, pair.as_deref())?;
                    Some(Arc::new(backend.forward(&m.config, &m.weights, &input)?))
                }
                None => None,
            };
            Ok(MoreRun { column, trace })
        };
        out.push(run().map_err(|e| format!("{spec}: {e}")));
    }
    Ok(out)
}
