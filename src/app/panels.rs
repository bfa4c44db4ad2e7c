//! The explanatory tabs: embedding projections, the shared-vs-unshared panel (Figure 1,
//! parameter accounting, cross-layer attention similarity, the unshare what-if) and the layer
//! lens; and the Export menu every view has.

use super::heatmap::{self, ZoomPan};
use super::worker::{ModelSlot, Request, VocabAnswer};
use super::{LensApp, Tab};
use crate::analysis::maps::MapData;
use crate::colormap::Scale;
use crate::export::Matrix;
use crate::figures::views::{self as fv, ColorBy, Figure1Line};
use crate::figures::{Figure, Theme, OKABE_ITO};
use crate::metrics::{self, JsMode, Projection};
use crate::model::Trace;
use crate::params::{self, Arch, Sharing};
use egui::{Color32, Pos2, Rect, Sense, Stroke, Vec2};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;

/// A computation that runs on its own thread, keyed by what it was computed from; the UI asks
/// for a key every frame and draws whatever is ready.
pub struct Background<K, T> {
    asked: Option<K>,
    rx: Option<Receiver<(K, Result<T, String>)>>,
    pub ready: Option<(K, Result<T, String>)>,
}

impl<K, T> Default for Background<K, T> {
    fn default() -> Self {
        Background {
            asked: None,
            rx: None,
            ready: None,
        }
    }
}

impl<K: PartialEq + Clone + Send + 'static, T: Send + 'static> Background<K, T> {
    /// The result for `key`: computed by `f` on a new thread the first time it is asked for.
    pub fn get(
        &mut self,
        ctx: &egui::Context,
        key: K,
        f: impl FnOnce() -> Result<T, String> + Send + 'static,
    ) -> Option<&Result<T, String>> {
        if let Some(rx) = &self.rx {
            if let Ok(done) = rx.try_recv() {
                self.ready = Some(done);
                self.rx = None;
            }
        }
        if self.asked.as_ref() != Some(&key) {
            self.asked = Some(key.clone());
            let (tx, rx) = channel();
            let wake = ctx.clone();
            let k = key.clone();
            let spawned = std::thread::Builder::new()
                .name("albert-lens analysis".into())
                .spawn(move || {
                    let _ = tx.send((k, f()));
                    wake.request_repaint();
                });
            match spawned {
                Ok(_) => self.rx = Some(rx),
                Err(e) => {
                    self.ready = Some((key.clone(), Err(format!("cannot start a thread: {e}"))))
                }
            }
        }
        match &self.ready {
            Some((k, r)) if *k == key => Some(r),
            _ => None,
        }
    }

    /// Whether a computation is running.
    pub fn pending(&self) -> bool {
        self.rx.is_some()
    }

    /// Whether `key` is the one asked for last (its result is ready or on its way).
    pub fn asked(&self, key: &K) -> bool {
        self.asked.as_ref() == Some(key)
    }
}

/// What the projection tab shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ProjMode {
    /// the tokens' hidden states after the selected layer
    Layer,
    /// every hidden state, each token's path through the layers joined
    Trajectories,
    /// the input word embeddings: ALBERT's E-dimensional against BERT's H-dimensional
    Vocabulary,
}

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

/// Which figure an Export menu saves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportWhat {
    Attention,
    Projection,
    Figure1,
    Js(ModelSlot),
    Params,
    Lens,
}

/// The projection's cache key: the trace, the states and tokens projected, and t-SNE or PCA.
pub type ProjKey = (u64, Vec<usize>, Vec<usize>, bool);
/// The JS matrices' cache key: trace generations of both models and the mode.
pub type JsKey = (u64, u64, JsMode);

fn rgb(c: [u8; 3]) -> Color32 {
    Color32::from_rgb(c[0], c[1], c[2])
}

/// Parses "6, 12, 24" into repetition counts.
pub fn parse_repeats(s: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in s.split([',', ' ']).filter(|p| !p.trim().is_empty()) {
        match part.trim().parse::<usize>() {
            Ok(r) if crate::model::config::check_repeats(r).is_ok() => out.push(r),
            _ => {
                return Err(format!(
                    "\"{part}\" is not a repetition count from 1 to {}",
                    crate::model::config::MAX_REPEATS
                ))
            }
        }
    }
    Ok(out)
}

impl LensApp {
    pub(super) fn tab_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            for (tab, name) in [
                (Tab::Attention, "Attention"),
                (Tab::Projection, "Projection"),
                (Tab::Shared, "Shared vs unshared"),
                (Tab::Lens, "Layer lens"),
            ] {
                let on = self.settings.tab == tab;
                if ui
                    .selectable_label(on, egui::RichText::new(name).heading())
                    .clicked()
                {
                    self.settings.tab = tab;
                }
            }
        });
    }

    fn keep(&self, t: &Trace) -> Vec<usize> {
        t.kept_tokens(self.settings.hide_special)
    }

    // ------------------------------------------------------------------ projection

    pub(super) fn projection_tab(&mut self, ui: &mut egui::Ui) {
        let s = &mut self.settings;
        ui.horizontal_wrapped(|ui| {
            ui.selectable_value(&mut s.proj_mode, ProjMode::Layer, "One layer");
            ui.selectable_value(&mut s.proj_mode, ProjMode::Trajectories, "Trajectories");
            ui.selectable_value(&mut s.proj_mode, ProjMode::Vocabulary, "Vocabulary");
            ui.separator();
            if s.proj_mode != ProjMode::Vocabulary {
                egui::ComboBox::new("color_by", "Colour by")
                    .selected_text(s.color_by.name())
                    .show_ui(ui, |ui| {
                        for c in ColorBy::ALL {
                            ui.selectable_value(&mut s.color_by, c, c.name());
                        }
                    });
                ui.selectable_value(&mut s.proj_tsne, false, "PCA");
                ui.selectable_value(&mut s.proj_tsne, true, "t-SNE");
                ui.add_enabled(
                    !s.proj_tsne,
                    egui::Checkbox::new(&mut s.proj_3d, "3D (drag to rotate)"),
                );
                ui.checkbox(&mut s.proj_labels, "Label every point");
                ui.checkbox(&mut s.hide_special, "Hide special tokens");
            }
        });
        if self.settings.proj_mode == ProjMode::Vocabulary {
            self.vocabulary(ui);
            return;
        }
        let Some(trace) = self.trace.clone() else {
            ui.weak("Open a model and type some text to see its hidden states.");
            return;
        };
        let layers = trace.attentions.len();
        if self.settings.proj_mode == ProjMode::Layer {
            ui.horizontal(|ui| {
                let mut l = self.settings.layer + 1;
                ui.add(egui::Slider::new(&mut l, 1..=layers.max(1)).text("Layer"));
                self.settings.layer = l.saturating_sub(1).min(layers.saturating_sub(1));
            });
        }
        let states: Vec<usize> = match self.settings.proj_mode {
            ProjMode::Trajectories => (0..trace.hidden_states.len()).collect(),
            _ => vec![(self.settings.layer + 1).min(trace.hidden_states.len() - 1)],
        };
        let keep = self.keep(&trace);
        let tsne = self.settings.proj_tsne;
        let key: ProjKey = (self.trace_gen, states.clone(), keep.clone(), tsne);
        if !self.projection.asked(&key) {
            self.tsne_ctl
                .cancel
                .store(true, std::sync::atomic::Ordering::Relaxed);
            self.tsne_ctl = Arc::new(metrics::Control::default());
        }
        let t2 = trace.clone();
        let ctl = self.tsne_ctl.clone();
        let ctx = ui.ctx().clone();
        let result = self
            .projection
            .get(&ctx, key, move || {
                if tsne {
                    metrics::project_tsne(&t2, &states, &keep, &ctl)
                } else {
                    metrics::project(&t2, &states, &keep)
                }
                .map_err(|e| e.to_string())
            })
            .cloned();
        let pending = self.projection.pending();
        ui.horizontal(|ui| {
            self.export_button(ui, ExportWhat::Projection);
            if pending && tsne {
                let f = self.tsne_ctl.fraction();
                ui.add(
                    egui::ProgressBar::new(f)
                        .desired_width(220.0)
                        .text(format!("t-SNE {:.0}%", f * 100.0)),
                );
                if ui.button("Cancel").clicked() {
                    self.tsne_ctl
                        .cancel
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
                ui.ctx()
                    .request_repaint_after(std::time::Duration::from_millis(100));
            } else if pending {
                ui.spinner();
                ui.weak("computing the PCA…");
            }
        });
        match result {
            Some(Ok(p)) if p.explained.is_empty() => {
                ui.weak(format!(
                    "t-SNE (perplexity 30) of {} hidden states of {} tokens: distances between clusters and cluster sizes mean little; neighbourhoods do",
                    p.states.len(),
                    p.tokens.len()
                ));
                self.scatter(ui, &p, &trace);
            }
            Some(Ok(p)) => {
                let ex = |i: usize| p.explained.get(i).copied().unwrap_or(0.0) * 100.0;
                ui.weak(format!(
                    "PCA of {} hidden states of {} tokens: PC1 {:.1}%, PC2 {:.1}%, PC3 {:.1}% of the variance{}",
                    p.states.len(),
                    p.tokens.len(),
                    ex(0),
                    ex(1),
                    ex(2),
                    if p.states.len() > 1 {
                        "; lines join each token's states from the embeddings to the last layer"
                    } else {
                        ""
                    }
                ));
                self.scatter(ui, &p, &trace);
            }
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
            None => {}
        }
    }

    /// The projection drawn with the painter: 2D (PC1 × PC2) or 3D (PC1-3, rotated by dragging).
    fn scatter(&mut self, ui: &mut egui::Ui, p: &Projection, trace: &Trace) {
        let size = ui.available_size().max(Vec2::splat(120.0));
        let (rect, resp) = ui.allocate_exact_size(size, Sense::click_and_drag());
        let three = self.settings.proj_3d && !p.explained.is_empty();
        if three && resp.dragged() {
            let d = resp.drag_delta();
            self.proj_rot.0 += d.x * 0.01;
            self.proj_rot.1 = (self.proj_rot.1 + d.y * 0.01).clamp(-1.5, 1.5);
        }
        if resp.double_clicked() {
            self.proj_rot = (0.0, 0.0);
        }
        let (yaw, pitch) = if three { self.proj_rot } else { (0.0, 0.0) };
        let (cy, sy, cp, sp) = (yaw.cos(), yaw.sin(), pitch.cos(), pitch.sin());
        let view: Vec<(f32, f32, f32)> = p
            .points
            .iter()
            .map(|q| {
                let (x, y, z) = (q[0], q[1], if three { q[2] } else { 0.0 });
                let x1 = cy * x + sy * z;
                let z1 = -sy * x + cy * z;
                let y1 = cp * y - sp * z1;
                let z2 = sp * y + cp * z1;
                (x1, y1, z2)
            })
            .collect();
        let r = view
            .iter()
            .map(|v| v.0.abs().max(v.1.abs()))
            .fold(1e-6f32, f32::max)
            * 1.08;
        let plot = rect.shrink(24.0);
        let scale = plot.width().min(plot.height()) / (2.0 * r);
        let to_screen = |v: (f32, f32, f32)| plot.center() + Vec2::new(v.0 * scale, -v.1 * scale);
        let painter = ui.painter_at(rect);
        let vis = ui.visuals();
        painter.rect_stroke(
            plot,
            0.0,
            Stroke::new(1.0, vis.weak_text_color()),
            egui::StrokeKind::Inside,
        );
        let colors = fv::point_colors(p, trace, self.settings.color_by);
        if p.states.len() > 1 {
            for &t in &p.tokens {
                let path: Vec<Pos2> = p
                    .trajectory(t)
                    .iter()
                    .map(|&i| to_screen(view[i]))
                    .collect();
                painter.add(egui::Shape::line(
                    path,
                    Stroke::new(1.2, vis.weak_text_color().gamma_multiply(0.7)),
                ));
            }
        }
        // far points first
        let mut order: Vec<usize> = (0..view.len()).collect();
        order.sort_by(|&a, &b| view[a].2.total_cmp(&view[b].2));
        let hover = resp.hover_pos();
        let mut nearest: Option<(usize, f32)> = None;
        let last = *p.states.last().unwrap_or(&0);
        for &i in &order {
            let at = to_screen(view[i]);
            painter.circle_filled(at, 4.0, rgb(colors[i]));
            let (s, t) = p.origin[i];
            if self.settings.proj_labels || s == last {
                painter.text(
                    at + Vec2::new(5.0, -5.0),
                    egui::Align2::LEFT_BOTTOM,
                    &trace.tokens[t],
                    egui::FontId::proportional(11.0),
                    vis.text_color(),
                );
            }
            if let Some(h) = hover {
                let d = at.distance(h);
                if d < 10.0 && nearest.is_none_or(|(_, b)| d < b) {
                    nearest = Some((i, d));
                }
            }
        }
        self.proj_hover = nearest.map(|(i, _)| {
            let (s, t) = p.origin[i];
            format!(
                "{} (position {t}) at {}\nPC1 {:.3}  PC2 {:.3}  PC3 {:.3}",
                trace.tokens[t],
                fv::state_name(s),
                p.points[i][0],
                p.points[i][1],
                p.points[i][2]
            )
        });
        if let Some(text) = &self.proj_hover {
            resp.on_hover_text(text.clone());
        }
        let ex = |i: usize| p.explained.get(i).copied().unwrap_or(0.0) * 100.0;
        painter.text(
            Pos2::new(plot.center().x, rect.bottom() - 4.0),
            egui::Align2::CENTER_BOTTOM,
            if three {
                "drag to rotate, double-click to reset".to_string()
            } else if p.explained.is_empty() {
                "t-SNE 1 across, t-SNE 2 up".to_string()
            } else {
                format!("PC1 ({:.1}%) across, PC2 ({:.1}%) up", ex(0), ex(1))
            },
            egui::FontId::proportional(11.0),
            vis.weak_text_color(),
        );
    }

    fn vocabulary(&mut self, ui: &mut egui::Ui) {
        ui.weak("Nearest neighbours of a token in each model's input word embeddings (cosine similarity): ALBERT's factorized V x E table against BERT's V x H one. Type a word and press Enter.");
        ui.horizontal(|ui| {
            let r = ui.add(
                egui::TextEdit::singleline(&mut self.settings.vocab_query)
                    .hint_text("a word, e.g. king")
                    .desired_width(200.0),
            );
            let go = ui.button("Find neighbours").clicked()
                || (r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)));
            if go && !self.settings.vocab_query.trim().is_empty() {
                self.worker.send(Request::Vocab {
                    query: self.settings.vocab_query.trim().to_string(),
                    k: 12,
                });
            }
            self.export_button(ui, ExportWhat::Projection);
        });
        let Some((query, answers)) = self.vocab.clone() else {
            return;
        };
        ui.columns(answers.len().max(1), |cols| {
            for (ui, a) in cols.iter_mut().zip(&answers) {
                ui.strong(&a.model);
                match &a.token {
                    Err(why) => {
                        ui.weak(why);
                    }
                    Ok(tok) => {
                        ui.label(format!("\"{query}\" is the token {tok}"));
                        egui::Grid::new(("vocab", &a.model))
                            .striped(true)
                            .show(ui, |ui| {
                                for (t, s) in &a.neighbours {
                                    ui.label(t);
                                    ui.label(format!("{s:.3}"));
                                    ui.end_row();
                                }
                            });
                        vocab_plot(ui, a);
                    }
                }
            }
        });
    }

    // ------------------------------------------------------------------ shared vs unshared

    pub(super) fn shared_tab(&mut self, ui: &mut egui::Ui) {
        let Some(trace) = self.trace.clone() else {
            ui.weak("Open a model and type some text.");
            return;
        };
        let compare = self.compare_trace.clone();
        egui::ScrollArea::vertical().show(ui, |ui| {
            ui.heading("Layer input vs output (ALBERT paper, Figure 1)");
            ui.horizontal_wrapped(|ui| {
                let label = ui.label("What-if: apply the shared layer");
                let r = ui
                    .add(egui::TextEdit::singleline(&mut self.settings.repeats_text).desired_width(90.0))
                    .labelled_by(label.id);
                ui.label("times (comma-separated)");
                if r.changed() {
                    self.repeats_asked = None;
                }
                ui.checkbox(&mut self.settings.hide_special, "Hide special tokens");
                self.export_button(ui, ExportWhat::Figure1);
            });
            if self.main_info.as_ref().is_some_and(|i| i.model_type != crate::model::ModelType::Albert) {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    "The what-if repeats a shared layer, so it needs an ALBERT as the main model (Model menu); this one is a BERT.",
                );
            }
            ui.weak(format!(
                "{}{}.",
                metrics::FIGURE1_AVERAGING,
                if self.settings.hide_special { " ([CLS], [SEP] and other special tokens left out)" } else { " (special tokens included)" }
            ));
            let key = (self.trace_gen, self.compare_gen, self.repeats_gen, self.settings.hide_special);
            if self.fig1_cache.as_ref().is_none_or(|(k, _)| *k != key) {
                let lines = self.figure1_lines(&trace, compare.as_deref());
                self.fig1_cache = Some((key, lines));
            }
            if let Some((_, lines)) = &self.fig1_cache {
                figure1_plots(ui, lines);
            }
            if compare.is_none() {
                ui.weak("Open a comparison model (Compare menu; bert-mini is built in) to see the unshared BERT on the same text.");
            }

            ui.separator();
            ui.heading("Parameters");
            self.params_section(ui);

            ui.separator();
            ui.heading("Attention similarity across layers");
            self.js_section(ui, &trace, compare.as_ref());
        });
    }

    /// Figure 1's lines: the main model, the comparison model, and the what-if repetitions.
    pub(super) fn figure1_lines(&self, trace: &Trace, compare: Option<&Trace>) -> Vec<Figure1Line> {
        let name = |info: &Option<super::worker::ModelInfo>| {
            info.as_ref()
                .map_or_else(|| "model".to_string(), |i| i.source.label())
        };
        let repeats: Vec<(usize, &Trace)> = match &self.repeats {
            Some((gen, reps)) if *gen == self.trace_gen => {
                reps.iter().map(|(r, t)| (*r, t.as_ref())).collect()
            }
            _ => Vec::new(),
        };
        let (main_name, compare_name) = (name(&self.main_info), name(&self.compare_info));
        fv::figure1_lines(
            (&main_name, trace),
            compare.map(|c| (compare_name.as_str(), c)),
            &repeats,
            self.settings.hide_special,
        )
    }

    fn params_section(&mut self, ui: &mut egui::Ui) {
        let models: Vec<(String, params::Loaded, Arch)> = [&self.main_info, &self.compare_info]
            .into_iter()
            .flatten()
            .map(|i| (i.source.label(), i.params, i.arch))
            .collect();
        if !models.is_empty() {
            ui.label("From the loaded weights (the [CLS] pooler is not loaded and not counted):");
            egui::Grid::new("params_loaded")
                .striped(true)
                .show(ui, |ui| {
                    ui.strong("");
                    for (name, _, _) in &models {
                        ui.strong(name);
                    }
                    ui.end_row();
                    let row =
                        |ui: &mut egui::Ui,
                         label: &str,
                         f: &dyn Fn(&params::Loaded, &Arch) -> String| {
                            ui.label(label);
                            for (_, l, a) in &models {
                                ui.label(f(l, a));
                            }
                            ui.end_row();
                        };
                    let n = |v: usize| super::worker::format_count(v);
                    row(ui, "word embeddings (V x E)", &|l, a| {
                        format!("{} = {} x {}", n(l.word_embeddings), a.vocab, a.embedding)
                    });
                    row(ui, "projection E x H", &|l, a| {
                        if l.projection > 0 {
                            format!(
                                "{} ({} x {} + bias)",
                                n(l.projection),
                                a.embedding,
                                a.hidden
                            )
                        } else {
                            "none (E = H)".into()
                        }
                    });
                    row(ui, "V x H embedding instead", &|_, a| {
                        format!("{} = {} x {}", n(a.vocab * a.hidden), a.vocab, a.hidden)
                    });
                    row(ui, "positions, types, layer norm", &|l, _| {
                        n(l.other_embeddings)
                    });
                    row(ui, "encoder as stored", &|l, _| {
                        format!(
                            "{} ({} layer{} stored)",
                            n(l.encoder),
                            l.stored_layers,
                            if l.stored_layers == 1 { "" } else { "s" }
                        )
                    });
                    row(ui, "encoder if unshared", &|l, _| {
                        let per = l.encoder / l.stored_layers.max(1);
                        format!(
                            "{} ({} layers applied)",
                            n(per * l.applied_layers),
                            l.applied_layers
                        )
                    });
                    row(ui, "masked-LM head", &|l, _| n(l.mlm_head));
                    row(ui, "total (embeddings, projection, encoder)", &|l, _| {
                        n(l.backbone())
                    });
                });
        }
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
        ui.horizontal(|ui| {
            ui.weak("Save the accounting and the paper's tables:");
            self.export_button(ui, ExportWhat::Params);
        });
    }

    fn js_section(&mut self, ui: &mut egui::Ui, trace: &Arc<Trace>, compare: Option<&Arc<Trace>>) {
        let heads = trace.num_heads;
        ui.horizontal_wrapped(|ui| {
            let s = &mut self.settings;
            egui::ComboBox::new("js_mode", "Compare")
                .selected_text(js_label(s.js_mode))
                .show_ui(ui, |ui| {
                    ui.selectable_value(
                        &mut s.js_mode,
                        JsMode::MatchedHeads,
                        js_label(JsMode::MatchedHeads),
                    );
                    ui.selectable_value(
                        &mut s.js_mode,
                        JsMode::MeanOfHeads,
                        js_label(JsMode::MeanOfHeads),
                    );
                    for h in 0..heads {
                        ui.selectable_value(
                            &mut s.js_mode,
                            JsMode::Head(h),
                            js_label(JsMode::Head(h)),
                        );
                    }
                });
        });
        ui.weak("Each cell: the Jensen-Shannon distance (base 2, 0 = the same attention, 1 = disjoint) between two layers' attention distributions, averaged over query tokens. ALBERT runs one set of weights at every depth, yet attends differently at each.");
        let mode = self.settings.js_mode;
        let key = self.js_key();
        let (t1, t2) = (trace.clone(), compare.cloned());
        let ctx = ui.ctx().clone();
        let result = self
            .js
            .get(&ctx, key, move || {
                let a = metrics::cross_layer_js(&t1, mode).map_err(|e| e.to_string())?;
                let b = match t2 {
                    Some(t) => Some(
                        metrics::cross_layer_js(&t, mode.within(t.num_heads))
                            .map_err(|e| e.to_string())?,
                    ),
                    None => None,
                };
                Ok((a, b))
            })
            .cloned();
        if self.js.pending() {
            ui.spinner();
        }
        let Some(result) = result else { return };
        let (a, b) = match result {
            Ok(v) => v,
            Err(e) => {
                ui.colored_label(ui.visuals().error_fg_color, e);
                return;
            }
        };
        let mats: Vec<(ModelSlot, String, Vec<f32>, usize)> = [
            Some((ModelSlot::Main, &self.main_info, a, trace.attentions.len())),
            b.zip(compare).map(|(m, t)| {
                (
                    ModelSlot::Compare,
                    &self.compare_info,
                    m,
                    t.attentions.len(),
                )
            }),
        ]
        .into_iter()
        .flatten()
        .map(|(slot, info, m, l)| {
            (
                slot,
                info.as_ref().map_or("model".into(), |i| i.source.label()),
                m,
                l,
            )
        })
        .collect();
        let hi = mats
            .iter()
            .flat_map(|m| m.2.iter().copied())
            .fold(0.0f32, f32::max)
            .max(f32::MIN_POSITIVE);
        let side = (ui.available_width() / mats.len().max(1) as f32 - 16.0).clamp(160.0, 420.0);
        ui.horizontal(|ui| {
            for (i, (slot, name, m, l)) in mats.iter().enumerate() {
                ui.vertical(|ui| {
                    ui.horizontal(|ui| {
                        ui.strong(name);
                        self.export_button(ui, ExportWhat::Js(*slot));
                    });
                    let labels: Vec<String> = (1..=*l).map(|x| format!("L{x}")).collect();
                    let data = MapData {
                        values: m.clone(),
                        rows: *l,
                        cols: *l,
                        row_labels: labels.clone(),
                        col_labels: labels,
                        index: (0..*l).collect(),
                        scale: Scale {
                            lo: 0.0,
                            hi,
                            log: false,
                        },
                        diverging: false,
                        title: format!("{name}: JS distance between layers"),
                        value_name: "JS distance",
                    };
                    let cache = if i == 0 {
                        &mut self.js_tex.0
                    } else {
                        &mut self.js_tex.1
                    };
                    let tex = heatmap::texture(
                        ui.ctx(),
                        cache,
                        "js",
                        heatmap::Pixels {
                            gen: {
                                use std::hash::{Hash, Hasher};
                                let mut h = std::collections::hash_map::DefaultHasher::new();
                                (self.trace_gen, self.compare_gen, i, mode).hash(&mut h);
                                h.finish()
                            },
                            values: &data.values,
                            size: [*l, *l],
                        },
                        self.settings.colormap,
                        &data.scale,
                    );
                    let mut zp = ZoomPan::default();
                    ui.push_id(("js_map", i), |ui| {
                        ui.allocate_ui(Vec2::new(side + 160.0, side + 90.0), |ui| {
                            let (tip, _) =
                                heatmap::show(ui, &data, &tex, self.settings.colormap, &mut zp);
                            if let Some(t) = tip {
                                self.hover_text = Some(t);
                            }
                        });
                    });
                });
            }
        });
        if mats.len() == 1 {
            ui.weak("Open a comparison model to see an unshared BERT's matrix beside it.");
        }
        if let Some((gen, reps)) = &self.repeats {
            if *gen == self.trace_gen && !reps.is_empty() {
                ui.add_space(6.0);
                ui.strong("What-if: attention of the last layer (mean of heads) with the shared layer applied more times");
                let reps = reps.clone();
                ui.horizontal_wrapped(|ui| {
                    for (i, (r, t)) in reps.iter().enumerate() {
                        let n = t.num_tokens();
                        let last = t.attentions.len() - 1;
                        while self.repeat_tex.len() <= i {
                            self.repeat_tex.push(None);
                        }
                        let cmap = self.settings.colormap;
                        let tex = match &mut self.repeat_tex[i] {
                            Some((k, h)) if *k == (self.trace_gen, *r, cmap) => h.clone(),
                            slot => {
                                let m = crate::analysis::mean_heads(
                                    &t.attentions[last],
                                    t.num_heads,
                                    n,
                                );
                                let hi = m.iter().copied().fold(0.0, f32::max).max(1e-9);
                                let scale = Scale {
                                    lo: 0.0,
                                    hi,
                                    log: false,
                                };
                                let px = crate::colormap::render_rgba(&m, cmap, &scale);
                                let img = egui::ColorImage::from_rgba_unmultiplied(
                                    [n, n],
                                    bytemuck::cast_slice(&px),
                                );
                                let h = ui.ctx().load_texture(
                                    format!("rep{i}"),
                                    img,
                                    egui::TextureOptions::NEAREST,
                                );
                                *slot = Some(((self.trace_gen, *r, cmap), h.clone()));
                                h
                            }
                        };
                        ui.vertical(|ui| {
                            ui.label(format!("x{r}: layer {}", last + 1));
                            ui.image((tex.id(), Vec2::splat(140.0)));
                        });
                    }
                });
            }
        }
    }

    // ------------------------------------------------------------------ layer lens

    /// The lens position: the user's choice, else the first [MASK], else the first ordinary token.
    pub(super) fn lens_position(&self, t: &Trace) -> usize {
        self.settings
            .lens_pos
            .filter(|&p| p < t.num_tokens())
            .or_else(|| t.tokens.iter().position(|x| x == "[MASK]" || x == "<mask>"))
            .or_else(|| t.special.iter().position(|s| !s))
            .unwrap_or(0)
    }

    pub(super) fn lens_tab(&mut self, ui: &mut egui::Ui) {
        let Some(trace) = self.trace.clone() else {
            ui.weak("Open a model and type some text.");
            return;
        };
        if !self.main_info.as_ref().is_some_and(|i| i.has_mlm) {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                "This checkpoint has no masked-LM head (it was saved as a bare encoder), so its layers cannot be decoded into words. Open a checkpoint with one (a *ForMaskedLM or *ForPreTraining save, like the built-in models).",
            );
            return;
        }
        ui.weak("The masked-LM head applied to the chosen token's hidden state after every layer: how a prediction forms through the (shared) layers. Click a token to inspect it; put [MASK] in the text to predict a word.");
        let pos = self.lens_position(&trace);
        ui.horizontal_wrapped(|ui| {
            ui.spacing_mut().item_spacing.x = 3.0;
            for (i, t) in trace.tokens.iter().enumerate() {
                if ui.selectable_label(i == pos, t).clicked() {
                    self.settings.lens_pos = Some(i);
                }
            }
        });
        ui.horizontal(|ui| {
            ui.add(egui::Slider::new(&mut self.settings.lens_k, 1..=10).text("top k"));
            self.export_button(ui, ExportWhat::Lens);
        });
        let Some(lens) = self
            .lens
            .clone()
            .filter(|l| l.0 == self.trace_gen && l.1 == pos)
        else {
            ui.spinner();
            return;
        };
        let (_, _, table) = lens;
        egui::ScrollArea::both().show(ui, |ui| self.lens_table(ui, &table.rows, &table.curves));
    }

    fn lens_table(
        &self,
        ui: &mut egui::Ui,
        rows: &[(usize, Vec<(String, f32)>)],
        curves: &[(String, Vec<f32>)],
    ) {
        egui::Grid::new("lens").striped(true).show(ui, |ui| {
            ui.strong("");
            for i in 0..self
                .settings
                .lens_k
                .min(rows.first().map_or(0, |r| r.1.len()))
            {
                ui.strong(format!("#{}", i + 1));
            }
            ui.end_row();
            for (state, top) in rows {
                ui.label(fv::state_name(*state));
                for (tok, p) in top {
                    let bar = (p * 40.0).max(1.0);
                    ui.horizontal(|ui| {
                        let (r, _) = ui.allocate_exact_size(Vec2::new(40.0, 12.0), Sense::hover());
                        ui.painter().rect_filled(
                            Rect::from_min_size(r.min, Vec2::new(bar, 12.0)),
                            2.0,
                            rgb(OKABE_ITO[4]).gamma_multiply(0.6),
                        );
                        ui.label(format!("{tok} {:.1}%", p * 100.0));
                    });
                }
                ui.end_row();
            }
        });
        ui.add_space(6.0);
        ui.strong("Probability of each candidate by depth");
        let final_top: Vec<&(String, Vec<f32>)> = {
            let mut c: Vec<&(String, Vec<f32>)> = curves.iter().collect();
            c.sort_by(|a, b| {
                b.1.last()
                    .copied()
                    .unwrap_or(0.0)
                    .total_cmp(&a.1.last().copied().unwrap_or(0.0))
            });
            c.truncate(6);
            c
        };
        egui_plot::Plot::new("lens_plot")
            .height(240.0)
            .width(ui.available_width().min(900.0))
            .legend(egui_plot::Legend::default())
            .x_axis_label("depth (0 = embeddings)")
            .y_axis_label("probability")
            .include_y(0.0)
            .include_y(1.0)
            .allow_scroll(false)
            .show(ui, |plot| {
                for (i, (tok, probs)) in final_top.iter().enumerate() {
                    let pts: Vec<[f64; 2]> = probs
                        .iter()
                        .enumerate()
                        .map(|(d, &p)| [d as f64, p as f64])
                        .collect();
                    plot.line(
                        egui_plot::Line::new(tok.clone(), pts)
                            .color(rgb(OKABE_ITO[i % 8]))
                            .width(2.0),
                    );
                }
            });
    }

    // ------------------------------------------------------------------ export

    /// The figure (and matrix) of one view, as the Export menu and `render` write it.
    pub fn build_export(
        &mut self,
        what: ExportWhat,
        theme: &Theme,
    ) -> Result<(Figure, Option<Matrix>), String> {
        let trace = self
            .trace
            .clone()
            .ok_or("nothing to export yet: no model has run")?;
        let e = |x: crate::LensError| x.to_string();
        match what {
            ExportWhat::Attention => {
                if self.settings.view == super::AttnView::Model {
                    let keep = self.keep(&trace);
                    let style = fv::GridStyle {
                        colormap: self.settings.colormap,
                        log: self.settings.log_scale,
                        shared_scale: self.settings.shared_scale,
                    };
                    let title = format!("{}: attention, every layer and head", self.main_label());
                    return fv::model(
                        &title,
                        &trace,
                        &keep,
                        self.settings.renormalise,
                        style,
                        theme,
                    )
                    .map(|f| (f, None))
                    .map_err(e);
                }
                self.update_map();
                match &self.map {
                    Some(Ok(d)) => {
                        let mut d = d.clone();
                        d.title = format!("{}: {}", self.main_label(), d.title);
                        fv::map(&d, self.settings.colormap, theme)
                            .map(|(f, m)| (f, Some(m)))
                            .map_err(e)
                    }
                    Some(Err(why)) => Err(why.clone()),
                    None => Err("no map to export".into()),
                }
            }
            ExportWhat::Projection => {
                if self.settings.proj_mode == ProjMode::Vocabulary {
                    let (query, answers) = self.vocab.clone().ok_or("search for a word first")?;
                    let a = answers
                        .iter()
                        .find(|a| a.token.is_ok())
                        .ok_or("no model has that word")?;
                    let labels: Vec<String> = std::iter::once(a.token.clone().unwrap_or_default())
                        .chain(a.neighbours.iter().map(|n| n.0.clone()))
                        .collect();
                    let colors: Vec<[u8; 3]> = (0..labels.len())
                        .map(|i| if i == 0 { OKABE_ITO[3] } else { OKABE_ITO[4] })
                        .collect();
                    let fig = crate::figures::plots::scatter(
                        &crate::figures::plots::ScatterSpec {
                            title: &format!("{}: nearest neighbours of \"{query}\" (PCA)", a.model),
                            points: &a.points,
                            colors: &colors,
                            labels: &labels,
                            paths: &[],
                            axis_names: ("PC1", "PC2"),
                            legend: &[],
                        },
                        theme,
                    );
                    let m = Matrix {
                        name: "neighbours".into(),
                        values: a.neighbours.iter().map(|n| n.1).collect(),
                        rows: a.neighbours.len(),
                        cols: 1,
                        row_labels: a.neighbours.iter().map(|n| n.0.clone()).collect(),
                        col_labels: vec!["cosine similarity".into()],
                    };
                    return Ok((fig, Some(m)));
                }
                let states: Vec<usize> = match self.settings.proj_mode {
                    ProjMode::Trajectories => (0..trace.hidden_states.len()).collect(),
                    _ => vec![(self.settings.layer + 1).min(trace.hidden_states.len() - 1)],
                };
                let keep = self.keep(&trace);
                let key: ProjKey = (
                    self.trace_gen,
                    states.clone(),
                    keep.clone(),
                    self.settings.proj_tsne,
                );
                let p = match &self.projection.ready {
                    Some((k, Ok(p))) if *k == key => p.clone(),
                    _ if self.settings.proj_tsne => {
                        return Err("the t-SNE layout is still being computed".into())
                    }
                    _ => metrics::project(&trace, &states, &keep).map_err(e)?,
                };
                let title = if states.len() > 1 {
                    format!(
                        "{}: token trajectories through the layers (PCA)",
                        self.main_label()
                    )
                } else {
                    format!(
                        "{}: hidden states after layer {} (PCA)",
                        self.main_label(),
                        states[0]
                    )
                };
                let (f, m) = fv::projection(
                    &title,
                    &p,
                    &trace,
                    self.settings.color_by,
                    self.settings.proj_labels,
                    theme,
                );
                Ok((f, Some(m)))
            }
            ExportWhat::Figure1 => {
                let lines = self.figure1_lines(&trace, self.compare_trace.as_deref());
                let (f, m) = fv::figure1(&self.settings.text, &lines, theme);
                Ok((f, Some(m)))
            }
            ExportWhat::Js(slot) => {
                let (t, name) = match slot {
                    ModelSlot::Main => (trace.clone(), self.main_label()),
                    ModelSlot::Compare => (
                        self.compare_trace.clone().ok_or("no comparison trace")?,
                        self.compare_info
                            .as_ref()
                            .map_or("comparison".into(), |i| i.source.label()),
                    ),
                };
                let mode = self.settings.js_mode.within(t.num_heads);
                // the matrices the tab shows, when they are ready; else computed here
                let shown = match &self.js.ready {
                    Some((k, Ok((a, b)))) if *k == self.js_key() => match slot {
                        ModelSlot::Main => Some(a.clone()),
                        ModelSlot::Compare => b.clone(),
                    },
                    _ => None,
                };
                let v = match shown {
                    Some(v) => v,
                    None => metrics::cross_layer_js(&t, mode).map_err(e)?,
                };
                fv::js(
                    &name,
                    mode,
                    &v,
                    t.attentions.len(),
                    self.settings.colormap,
                    theme,
                )
                .map(|(f, m)| (f, Some(m)))
                .map_err(e)
            }
            ExportWhat::Params => {
                let mut rows = Vec::new();
                let mut labels = Vec::new();
                for (table, list) in [
                    ("Table 1", params::table1()),
                    ("Table 3", params::table3()),
                    ("Table 4", params::table4()),
                ] {
                    for r in list {
                        labels.push(format!(
                            "{table}: {} (E {}, H {}, L {}, {})",
                            r.label,
                            r.arch.embedding,
                            r.arch.hidden,
                            r.arch.layers,
                            r.arch.sharing.name()
                        ));
                        let c = r.arch.counts();
                        rows.extend([
                            c.total() as f32,
                            r.paper_convention() as f32,
                            (r.paper_millions * 1e6) as f32,
                        ]);
                    }
                }
                let m = Matrix {
                    name: "parameters".into(),
                    values: rows,
                    rows: labels.len(),
                    cols: 3,
                    row_labels: labels,
                    col_labels: vec![
                        "count with pooler".into(),
                        "count as the paper counts".into(),
                        "paper".into(),
                    ],
                };
                let fig = params_figure(&m, theme);
                Ok((fig, Some(m)))
            }
            ExportWhat::Lens => {
                let (_, pos, table) = self
                    .lens
                    .clone()
                    .filter(|l| l.0 == self.trace_gen)
                    .ok_or("the lens has not run yet")?;
                let token = trace.tokens.get(pos).map_or("", |s| s);
                let (fig, m) = fv::lens(&self.main_label(), token, pos, &table, theme);
                Ok((fig, Some(m)))
            }
        }
    }

    /// What the cross-layer JS matrices depend on: both traces and the mode.
    fn js_key(&self) -> JsKey {
        let compare_gen = if self.compare_trace.is_some() {
            self.compare_gen
        } else {
            0
        };
        (self.trace_gen, compare_gen, self.settings.js_mode)
    }

    fn main_label(&self) -> String {
        self.main_info
            .as_ref()
            .map_or_else(|| "model".into(), |i| i.source.label())
    }

    /// The Export menu: PNG at 1x/2x/4x, SVG, the matrix as CSV/NPY/safetensors (each through a
    /// save dialog on its own thread), the image to the clipboard, and the figures' theme.
    pub(super) fn export_button(&mut self, ui: &mut egui::Ui, what: ExportWhat) {
        ui.push_id(what, |ui| self.export_menu(ui, what));
    }

    fn export_menu(&mut self, ui: &mut egui::Ui, what: ExportWhat) {
        ui.menu_button("Export", |ui| {
            let mut pick: Option<(&str, f32)> = None;
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
                    pick = Some((ext, scale));
                }
            }
            let copy = ui.button("Copy image").clicked();
            ui.separator();
            ui.label("Figure theme");
            let t = &mut self.settings.export_theme;
            ui.radio_value(t, ExportTheme::Light, "Light");
            ui.radio_value(t, ExportTheme::Dark, "Dark");
            ui.radio_value(t, ExportTheme::Presentation, "Presentation (large type)");
            if pick.is_none() && !copy {
                return;
            }
            ui.close();
            let theme = self.settings.export_theme.theme();
            let built = self.build_export(what, &theme);
            let (figure, matrix) = match built {
                Ok(v) => v,
                Err(e) => {
                    self.status.error = Some(format!("export: {e}"));
                    return;
                }
            };
            let (tx, rx) = channel();
            let wake = ui.ctx().clone();
            let job = move || -> Result<ExportDone, String> {
                if copy {
                    let (w, h, px) = figure.to_rgba(2.0).map_err(|e| e.to_string())?;
                    return Ok(ExportDone::Copied(
                        egui::ColorImage::from_rgba_premultiplied([w as usize, h as usize], &px),
                    ));
                }
                let (ext, scale) = pick.unwrap_or(("png", 1.0));
                let file = pollster::block_on(
                    rfd::AsyncFileDialog::new()
                        .set_title("Export")
                        .set_file_name(format!("albert-lens.{ext}"))
                        .add_filter(ext, &[ext])
                        .save_file(),
                );
                let Some(file) = file else {
                    return Ok(ExportDone::Cancelled);
                };
                let path = file.path().to_path_buf();
                crate::export::save(&path, &figure, matrix.as_ref(), scale)
                    .map_err(|e| e.to_string())?;
                Ok(ExportDone::Saved(path))
            };
            let spawned = std::thread::Builder::new()
                .name("export".into())
                .spawn(move || {
                    let _ = tx.send(job());
                    wake.request_repaint();
                });
            match spawned {
                Ok(_) => self.exports.push(rx),
                Err(e) => self.status.error = Some(format!("export: cannot start a thread: {e}")),
            }
        });
    }

    /// Results of finished exports: a note in the status bar, an image on the clipboard.
    pub(super) fn poll_exports(&mut self, ctx: &egui::Context) {
        let mut keep = Vec::new();
        for rx in self.exports.drain(..) {
            match rx.try_recv() {
                Ok(Ok(ExportDone::Saved(p))) => {
                    self.status.notice = Some(format!("saved {}", p.display()))
                }
                Ok(Ok(ExportDone::Copied(img))) => {
                    ctx.copy_image(img);
                    self.status.notice = Some("image copied to the clipboard".into());
                }
                Ok(Ok(ExportDone::Cancelled)) => {}
                Ok(Err(e)) => self.status.error = Some(format!("export: {e}")),
                Err(std::sync::mpsc::TryRecvError::Empty) => keep.push(rx),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {}
            }
        }
        self.exports = keep;
    }
}

/// What a finished export did.
pub enum ExportDone {
    Saved(std::path::PathBuf),
    Copied(egui::ColorImage),
    Cancelled,
}

fn js_label(m: JsMode) -> String {
    match m {
        JsMode::MatchedHeads => "head h vs head h (mean over heads)".into(),
        JsMode::MeanOfHeads => "mean of heads".into(),
        JsMode::Head(h) => format!("head {}", h + 1),
    }
}

/// Figure 1 as two egui_plot panels (L2 distance, angle), one line per model.
fn figure1_plots(ui: &mut egui::Ui, lines: &[Figure1Line]) {
    let w = (ui.available_width() / 2.0 - 8.0).max(200.0);
    ui.horizontal(|ui| {
        for (id, title, f) in [
            (
                "fig1_l2",
                "L2 distance",
                (|t: &metrics::Transition| t.l2) as fn(&metrics::Transition) -> f64,
            ),
            (
                "fig1_angle",
                "Cosine similarity (degrees)",
                |t: &metrics::Transition| t.angle_deg,
            ),
        ] {
            ui.vertical(|ui| {
                ui.label(title);
                egui_plot::Plot::new(id)
                    .width(w)
                    .height(260.0)
                    .legend(egui_plot::Legend::default())
                    .x_axis_label("layer")
                    .include_y(0.0)
                    .allow_scroll(false)
                    .show(ui, |plot| {
                        // the model itself last, so that it is drawn on top
                        for l in lines.iter().rev() {
                            let pts: Vec<[f64; 2]> = l
                                .transitions
                                .iter()
                                .enumerate()
                                .map(|(i, t)| [(i + 1) as f64, f(t)])
                                .collect();
                            let mut line = egui_plot::Line::new(l.name.clone(), pts)
                                .color(rgb(l.color))
                                .width(2.0);
                            if l.dashed {
                                line = line.style(egui_plot::LineStyle::dashed_loose());
                            }
                            plot.line(line);
                        }
                    });
            });
        }
    });
}

/// A small scatter of a word and its neighbours in one model's embedding space.
fn vocab_plot(ui: &mut egui::Ui, a: &VocabAnswer) {
    egui_plot::Plot::new(("vocab_plot", &a.model))
        .height(220.0)
        .data_aspect(1.0)
        .allow_scroll(false)
        .show(ui, |plot| {
            for (i, &(x, y)) in a.points.iter().enumerate() {
                let name = if i == 0 {
                    a.token.clone().unwrap_or_default()
                } else {
                    a.neighbours
                        .get(i - 1)
                        .map_or(String::new(), |n| n.0.clone())
                };
                let color = rgb(if i == 0 { OKABE_ITO[3] } else { OKABE_ITO[4] });
                plot.points(
                    egui_plot::Points::new(name.clone(), vec![[x as f64, y as f64]])
                        .radius(4.0)
                        .color(color),
                );
                plot.text(
                    egui_plot::Text::new(
                        name.clone(),
                        egui_plot::PlotPoint::new(x as f64, y as f64),
                        name,
                    )
                    .color(color),
                );
            }
        });
}

/// The parameter tables as a figure (one row per configuration: this count, as the paper
/// counts, and the paper's figure).
fn params_figure(m: &Matrix, theme: &Theme) -> Figure {
    use crate::figures::Anchor;
    let f = theme.font;
    let row_h = f * 1.5;
    let label_w = m
        .row_labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(10) as f32
        * f
        * 0.5;
    let col_w = f * 11.0;
    let mut fig = Figure::new(
        24.0 + label_w + 3.0 * col_w,
        f * 4.0 + (m.rows as f32 + 1.0) * row_h + f * 5.0,
        theme,
    );
    fig.text(
        12.0,
        f * 1.4,
        "Parameters: this calculator against the ALBERT paper",
        f * 1.1,
        Anchor::Start,
        theme.foreground,
    );
    let y0 = f * 3.4;
    for (c, h) in m.col_labels.iter().enumerate() {
        fig.text(
            12.0 + label_w + (c as f32 + 1.0) * col_w,
            y0,
            h,
            f * 0.8,
            Anchor::End,
            theme.muted,
        );
    }
    for r in 0..m.rows {
        let y = y0 + (r as f32 + 1.0) * row_h;
        fig.text(
            12.0,
            y,
            &m.row_labels[r],
            f * 0.8,
            Anchor::Start,
            theme.foreground,
        );
        for c in 0..m.cols {
            let v = m.values[r * m.cols + c] as f64 / 1e6;
            fig.text(
                12.0 + label_w + (c as f32 + 1.0) * col_w,
                y,
                format!("{v:.1}M"),
                f * 0.8,
                Anchor::End,
                theme.foreground,
            );
        }
    }
    let y = y0 + (m.rows as f32 + 1.5) * row_h;
    for (i, line) in crate::figures::plots::wrap(
        params::PAPER_NOTE,
        ((label_w + 3.0 * col_w) / (f * 0.8 * 0.56)) as usize,
    )
    .iter()
    .enumerate()
    {
        fig.text(
            12.0,
            y + i as f32 * f * 1.1,
            line,
            f * 0.75,
            Anchor::Start,
            theme.muted,
        );
    }
    fig
}
