//! The Projection tab: the hidden states of one layer, or every layer with each token's
//! trajectory, laid out by PCA (2D or rotating 3D) or t-SNE; and the vocabulary mode, a word's
//! nearest neighbours in each model's input embeddings (ALBERT's V × E against BERT's V × H).

use super::{export_button, from_json, to_json, Built, Tab};
use crate::app::jobs::{self, Job};
use crate::app::session::Session;
use crate::app::worker::ModelSlot;
use crate::figures::scenes::{self, ColorBy};
use crate::figures::{Theme, OKABE_ITO};
use crate::insight::{self, Projection, VocabAnswer};
use crate::model::Trace;
use crate::views;
use egui::{Color32, Pos2, Sense, Stroke, Vec2};

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

/// What the tab persists.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ProjectionSettings {
    pub mode: ProjMode,
    pub color_by: ColorBy,
    pub three_d: bool,
    /// lay the projection out with t-SNE instead of PCA
    pub tsne: bool,
    pub label_all: bool,
    pub vocab_query: String,
}

impl Default for ProjectionSettings {
    fn default() -> Self {
        ProjectionSettings {
            mode: ProjMode::Trajectories,
            color_by: ColorBy::Layer,
            three_d: false,
            tsne: false,
            label_all: false,
            vocab_query: "king".into(),
        }
    }
}

/// What a projection was made for: the trace (its generation), the hidden states and the
/// tokens projected, and t-SNE (else PCA).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProjKey {
    trace_gen: u64,
    states: Vec<usize>,
    keep: Vec<usize>,
    tsne: bool,
}

/// A vocabulary query: the word, and how many times a query was asked (asking again
/// recomputes).
#[derive(Debug, Clone, PartialEq, Eq)]
struct VocabKey {
    query: String,
    asked: u64,
}

#[derive(Default)]
pub struct ProjectionTab {
    pub settings: ProjectionSettings,
    projection: Job<ProjKey, Projection>,
    vocab: Job<VocabKey, Vec<VocabAnswer>>,
    vocab_asked: u64,
    /// yaw and pitch of the 3D view
    rotation: (f32, f32),
    /// zoom (1: everything fits) and the view's centre in projected units: scroll or pinch
    /// zooms about the pointer, dragging pans (in 3D, the secondary button pans)
    pub zoom: f32,
    pub pan: Vec2,
    /// where the scatter was drawn last frame (tests use it)
    pub plot_rect: Option<egui::Rect>,
    /// the hovered point of the projection (tests read it)
    pub hover: Option<String>,
}

impl ProjectionTab {
    /// The projection shown (the newest that finished).
    pub fn projection(&self) -> Option<&Result<Projection, String>> {
        self.projection.latest().map(|(_, r)| r)
    }

    /// The last vocabulary query and each model's answer, once they have come.
    pub fn vocab(&self) -> Option<(&str, &[VocabAnswer])> {
        match self.vocab.latest() {
            Some((key, Ok(a))) => Some((key.query.as_str(), a.as_slice())),
            _ => None,
        }
    }

    /// The hidden states the view projects.
    fn states(&self, cx: &Session, trace: &Trace) -> Vec<usize> {
        match self.settings.mode {
            ProjMode::Trajectories => (0..trace.hidden_states.len()).collect(),
            _ => vec![(cx.settings.layer + 1).min(trace.hidden_states.len() - 1)],
        }
    }

    /// How the points are drawn: the colouring and labels chosen.
    fn style(&self) -> views::projection::Style {
        views::projection::Style {
            color_by: self.settings.color_by,
            label_all: self.settings.label_all,
        }
    }

    fn key(&self, cx: &Session, trace: &Trace) -> ProjKey {
        let keep = trace.kept_tokens(cx.settings.hide_special);
        ProjKey {
            trace_gen: cx.trace_gen,
            states: self.states(cx, trace),
            keep,
            tsne: self.settings.tsne,
        }
    }

    fn options(&mut self, ui: &mut egui::Ui, cx: &mut Session) {
        let s = &mut self.settings;
        ui.horizontal_wrapped(|ui| {
            ui.selectable_value(&mut s.mode, ProjMode::Layer, "One layer");
            ui.selectable_value(&mut s.mode, ProjMode::Trajectories, "Trajectories");
            ui.selectable_value(&mut s.mode, ProjMode::Vocabulary, "Vocabulary");
            ui.separator();
            if s.mode != ProjMode::Vocabulary {
                crate::app::widgets::combo(
                    ui,
                    ("color_by", "Colour by"),
                    s.color_by.name(),
                    |ui| {
                        for c in ColorBy::ALL {
                            ui.selectable_value(&mut s.color_by, c, c.name());
                        }
                    },
                );
                ui.selectable_value(&mut s.tsne, false, "PCA");
                ui.selectable_value(&mut s.tsne, true, "t-SNE");
                ui.add_enabled(
                    !s.tsne,
                    egui::Checkbox::new(&mut s.three_d, "3D (drag to rotate)"),
                );
                ui.checkbox(&mut s.label_all, "Label every point");
                ui.checkbox(&mut cx.settings.hide_special, "Hide special tokens");
            }
        });
    }

    fn layout(&mut self, ui: &mut egui::Ui, cx: &mut Session, trace: &Trace) {
        let layers = trace.attentions.len();
        if self.settings.mode == ProjMode::Layer {
            ui.horizontal(|ui| {
                let mut l = cx.settings.layer + 1;
                crate::app::widgets::labelled(
                    ui,
                    "Layer",
                    egui::Slider::new(&mut l, 1..=layers.max(1)),
                );
                cx.settings.layer = l.saturating_sub(1).min(layers.saturating_sub(1));
            });
        }
        if let Some(e) = self.projection.poll_err() {
            cx.status.error = Some(format!("projection: {e}"));
        }
        let key = self.key(cx, trace);
        if let Some(ticket) = self.projection.ask(key.clone(), &cx.wake) {
            let t = cx.trace().cloned();
            let ProjKey {
                states, keep, tsne, ..
            } = key;
            jobs::spawn("projection", ticket, move |ctl| {
                let t = t.ok_or("no trace")?;
                views::projection::derive(&t, (&states, &keep), tsne, ctl)
                    .map_err(|e| e.to_string())
            });
        }
        ui.horizontal(|ui| {
            export_button(self, ui, cx, "projection");
            match self.projection.control() {
                Some(ctl) if self.settings.tsne => {
                    let f = ctl.fraction();
                    ui.add(
                        egui::ProgressBar::new(f)
                            .desired_width(220.0)
                            .text(format!("t-SNE {:.0}%", f * 100.0)),
                    );
                    if ui.button("Cancel").clicked() {
                        self.projection.cancel();
                    }
                    ui.ctx()
                        .request_repaint_after(std::time::Duration::from_millis(100));
                }
                Some(_) => {
                    ui.spinner();
                    ui.weak("computing the PCA…");
                }
                None => {}
            }
        });
        let Some((_, result)) = self.projection.latest() else {
            return;
        };
        match result.clone() {
            Ok(p) if p.explained.is_empty() => {
                ui.weak(format!(
                    "t-SNE (perplexity 30) of {} hidden states of {} tokens: distances between clusters and cluster sizes mean little; neighbourhoods do",
                    p.states.len(),
                    p.tokens.len()
                ));
                self.scatter(ui, &p, trace);
            }
            Ok(p) => {
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
                self.scatter(ui, &p, trace);
            }
            Err(e) => {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
        }
    }

    /// The projection drawn with the painter: 2D (PC1 × PC2) or 3D (PC1-3, rotated by dragging).
    fn scatter(&mut self, ui: &mut egui::Ui, p: &Projection, trace: &Trace) {
        let size = ui.available_size().max(Vec2::splat(120.0));
        let (rect, resp) = ui.allocate_exact_size(size, Sense::click_and_drag());
        let three = self.settings.three_d && !p.explained.is_empty();
        if three && resp.dragged_by(egui::PointerButton::Primary) {
            let d = resp.drag_delta();
            self.rotation.0 += d.x * 0.01;
            self.rotation.1 = (self.rotation.1 + d.y * 0.01).clamp(-1.5, 1.5);
        }
        if resp.double_clicked() {
            self.rotation = (0.0, 0.0);
            (self.zoom, self.pan) = (1.0, Vec2::ZERO);
        }
        if self.zoom <= 0.0 {
            self.zoom = 1.0;
        }
        let turn = Turn::new(if three { self.rotation } else { (0.0, 0.0) });
        let view: Vec<(f32, f32, f32)> = p
            .points
            .iter()
            .map(|q| turn.apply((q[0], q[1], if three { q[2] } else { 0.0 })))
            .collect();
        let r = view
            .iter()
            .map(|v| v.0.abs().max(v.1.abs()))
            .fold(1e-6f32, f32::max)
            * 1.08;
        let plot = rect.shrink(24.0);
        self.plot_rect = Some(plot);
        let fit = plot.width().min(plot.height()) / (2.0 * r);
        self.zoom_and_pan(ui, &resp, (plot, fit), three);
        let scale = fit * self.zoom;
        let pan = self.pan;
        let to_screen = |v: (f32, f32, f32)| {
            plot.center() + Vec2::new((v.0 - pan.x) * scale, -(v.1 - pan.y) * scale)
        };
        let painter = ui.painter_at(rect);
        // zoomed in, points and lines stop at the frame
        let inside = painter.with_clip_rect(plot);
        let vis = ui.visuals();
        painter.rect_stroke(
            plot,
            0.0,
            Stroke::new(1.0, vis.weak_text_color()),
            egui::StrokeKind::Inside,
        );
        let colors = scenes::point_colors(p, trace, self.settings.color_by);
        if p.states.len() > 1 {
            for &t in &p.tokens {
                let path: Vec<Pos2> = p
                    .trajectory(t)
                    .iter()
                    .map(|&i| to_screen(view[i]))
                    .collect();
                inside.add(egui::Shape::line(
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
        if three {
            pc_axes(ui, &inside, |v| to_screen(turn.apply(v)), r);
        }
        let mut dots: Vec<(f32, f32)> = Vec::with_capacity(order.len());
        let mut wanted: Vec<(usize, f32)> = Vec::new();
        let size = crate::app::widgets::font(ui, 11.0).size;
        for &i in &order {
            let at = to_screen(view[i]);
            // a ring in the text colour keeps dark points visible on a dark background
            inside.circle_filled(at, 5.0, vis.text_color().gamma_multiply(0.45));
            inside.circle_filled(at, 4.0, rgb(colors[i]));
            let (s, t) = p.origin[i];
            if self.settings.label_all || s == last {
                let w = crate::figures::plots::text_width(&trace.tokens[t], size);
                wanted.push((dots.len(), w));
            }
            dots.push((at.x, at.y));
            if let Some(h) = hover {
                let d = at.distance(h);
                if d < 10.0 && nearest.is_none_or(|(_, b)| d < b) {
                    nearest = Some((i, d));
                }
            }
        }
        // labels beside their points, not on them or on one another
        let placed = crate::figures::labels::place(&dots, &wanted, size, 5.0);
        for (&(k, w), &(lx, ly)) in wanted.iter().zip(&placed) {
            let t = p.origin[order[k]].1;
            if let Some(end) = crate::figures::labels::leader(dots[k], (lx, ly), (w, size), 5.0) {
                inside.line_segment(
                    [Pos2::new(dots[k].0, dots[k].1), Pos2::new(end.0, end.1)],
                    Stroke::new(0.6, vis.weak_text_color()),
                );
            }
            inside.text(
                Pos2::new(lx, ly + size * 0.2),
                egui::Align2::LEFT_BOTTOM,
                &trace.tokens[t],
                egui::FontId::proportional(size),
                vis.text_color(),
            );
        }
        self.hover = nearest.map(|(i, _)| {
            let (s, t) = p.origin[i];
            format!(
                "{} (position {t}) at {}\nPC1 {:.3}  PC2 {:.3}  PC3 {:.3}",
                trace.tokens[t],
                scenes::state_name(s),
                p.points[i][0],
                p.points[i][1],
                p.points[i][2]
            )
        });
        if let Some(text) = &self.hover {
            resp.on_hover_text(text.clone());
        }
        painter.text(
            Pos2::new(plot.center().x, rect.bottom() - 4.0),
            egui::Align2::CENTER_BOTTOM,
            caption(p, three),
            crate::app::widgets::font(ui, 11.0),
            vis.weak_text_color(),
        );
    }

    /// Zooms about the pointer (the point under it stays put) and pans by dragging (in 3-D by
    /// the secondary button: the primary one turns the cloud); `fit` is the zoom-1 scale.
    fn zoom_and_pan(
        &mut self,
        ui: &egui::Ui,
        resp: &egui::Response,
        (plot, fit): (egui::Rect, f32),
        three: bool,
    ) {
        if let Some(at) = resp.hover_pos() {
            let (pinch, scroll) = ui.input(|i| (i.zoom_delta(), i.smooth_scroll_delta.y));
            let factor = pinch * (scroll / 200.0).exp();
            if (factor - 1.0).abs() > 1e-4 {
                let new_zoom = (self.zoom * factor).clamp(1.0, 200.0);
                let s0 = fit * self.zoom;
                let under =
                    self.pan + Vec2::new(at.x - plot.center().x, plot.center().y - at.y) / s0;
                let s1 = fit * new_zoom;
                self.pan = under - Vec2::new(at.x - plot.center().x, plot.center().y - at.y) / s1;
                self.zoom = new_zoom;
            }
        }
        let panning = if three {
            resp.dragged_by(egui::PointerButton::Secondary)
        } else {
            resp.dragged()
        };
        if panning {
            let d = resp.drag_delta() / (fit * self.zoom);
            self.pan -= Vec2::new(d.x, -d.y);
        }
    }

    fn vocabulary(&mut self, ui: &mut egui::Ui, cx: &mut Session) {
        ui.weak("Nearest neighbours of a token in each model's input word embeddings (cosine similarity): ALBERT's factorized V x E table against BERT's V x H one. Type a word and press Enter.");
        if let Some(e) = self.vocab.poll_err() {
            cx.status.error = Some(format!("vocabulary: {e}"));
        }
        ui.horizontal(|ui| {
            let r = ui.add(
                egui::TextEdit::singleline(&mut self.settings.vocab_query)
                    .hint_text("a word, e.g. king")
                    .desired_width(200.0),
            );
            let go = ui.button("Find neighbours").clicked()
                || (r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)));
            let query = self.settings.vocab_query.trim().to_string();
            if go && !query.is_empty() {
                self.vocab_asked += 1;
                let key = VocabKey {
                    query: query.clone(),
                    asked: self.vocab_asked,
                };
                if let Some(ticket) = self.vocab.ask(key, &cx.wake) {
                    cx.worker.run(ticket, move |e, _| {
                        let models: Vec<_> = e.models().collect();
                        Ok(views::neighbours::derive(&models, &query))
                    });
                }
            }
            export_button(self, ui, cx, "projection");
        });
        let Some((query, answers)) = self.vocab() else {
            return;
        };
        ui.columns(answers.len().max(1), |cols| {
            for (ui, a) in cols.iter_mut().zip(answers) {
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
}

impl Tab for ProjectionTab {
    fn id(&self) -> &'static str {
        "projection"
    }

    fn title(&self) -> &'static str {
        "Projection"
    }

    fn ui(&mut self, ui: &mut egui::Ui, cx: &mut Session) {
        self.options(ui, cx);
        if self.settings.mode == ProjMode::Vocabulary {
            self.vocabulary(ui, cx);
            return;
        }
        let Some(trace) = cx.trace().cloned() else {
            ui.weak("Open a model and type some text to see its hidden states.");
            return;
        };
        self.layout(ui, cx, &trace);
    }

    fn exports(&self) -> &'static [&'static str] {
        &["projection"]
    }

    fn export(&mut self, _what: &str, cx: &Session, theme: &Theme) -> Built {
        let e = |x: crate::LensError| x.to_string();
        if self.settings.mode == ProjMode::Vocabulary {
            let (query, answers) = self.vocab().ok_or("search for a word first")?;
            let answer = views::neighbours::shown(query, answers).map_err(e)?;
            return views::neighbours::figure(query, answer, theme).map_err(e);
        }
        let trace = cx
            .trace()
            .cloned()
            .ok_or("nothing to export yet: no model has run")?;
        let key = self.key(cx, &trace);
        let projection = match self.projection.get(&key) {
            Some(Ok(p)) => p.clone(),
            _ if self.settings.tsne => {
                return Err("the t-SNE layout is still being computed".into())
            }
            _ => insight::project(&trace, &key.states, &key.keep).map_err(e)?,
        };
        let model = cx.label(ModelSlot::Main);
        views::projection::figure(&model, (&projection, &trace), self.style(), theme).map_err(e)
    }

    fn animates(&self, _what: &str) -> bool {
        self.settings.mode == ProjMode::Trajectories
    }

    fn animate(
        &mut self,
        _what: &str,
        cx: &Session,
        theme: &Theme,
    ) -> Option<Result<Vec<crate::figures::Figure>, String>> {
        if !self.animates("projection") {
            return None;
        }
        let trace = cx.trace()?.clone();
        let key = self.key(cx, &trace);
        let p = match self.projection.get(&key) {
            Some(Ok(p)) => p.clone(),
            _ => return Some(Err("the projection is still being computed".into())),
        };
        let model = cx.label(ModelSlot::Main);
        let frames = views::projection::frames(&model, (&p, &trace), self.style(), theme);
        Some(Ok(frames))
    }

    fn busy(&self) -> bool {
        self.projection.pending() || self.vocab.pending()
    }

    fn save(&self) -> serde_json::Value {
        to_json(&self.settings)
    }

    fn load(&mut self, settings: serde_json::Value) {
        from_json(settings, &mut self.settings);
    }
}

pub(crate) fn rgb(c: [u8; 3]) -> Color32 {
    Color32::from_rgb(c[0], c[1], c[2])
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
                        format!("  {name}"),
                    )
                    // beside its dot, not on it
                    .anchor(egui::Align2::LEFT_BOTTOM)
                    .color(color),
                );
            }
        });
}

/// The 3-D view's turn: yaw about the vertical axis, then pitch about the horizontal one.
#[derive(Clone, Copy)]
struct Turn {
    cy: f32,
    sy: f32,
    cp: f32,
    sp: f32,
}

impl Turn {
    fn new((yaw, pitch): (f32, f32)) -> Self {
        Turn {
            cy: yaw.cos(),
            sy: yaw.sin(),
            cp: pitch.cos(),
            sp: pitch.sin(),
        }
    }

    /// (x, y, z) turned: x and y on screen, z the depth (far points are drawn first).
    fn apply(self, (x, y, z): (f32, f32, f32)) -> (f32, f32, f32) {
        let x1 = self.cy * x + self.sy * z;
        let z1 = -self.sy * x + self.cy * z;
        let y1 = self.cp * y - self.sp * z1;
        let z2 = self.sp * y + self.cp * z1;
        (x1, y1, z2)
    }
}

/// The three principal axes through the origin, `r` · 0.7 long, turned with the cloud.
fn pc_axes(
    ui: &egui::Ui,
    inside: &egui::Painter,
    to_screen: impl Fn((f32, f32, f32)) -> Pos2,
    r: f32,
) {
    let origin = to_screen((0.0, 0.0, 0.0));
    let c = ui.visuals().weak_text_color();
    for (k, name) in ["PC1", "PC2", "PC3"].iter().enumerate() {
        let mut a = [0.0f32; 3];
        a[k] = r * 0.7;
        let end = to_screen((a[0], a[1], a[2]));
        inside.line_segment([origin, end], Stroke::new(1.0, c));
        inside.text(
            end,
            egui::Align2::CENTER_CENTER,
            *name,
            crate::app::widgets::font(ui, 11.0),
            c,
        );
    }
}

/// What the scatter's axes are, and how to move it.
fn caption(p: &Projection, three: bool) -> String {
    let ex = |i: usize| p.explained.get(i).copied().unwrap_or(0.0) * 100.0;
    if three {
        "drag to rotate, scroll to zoom, right-drag to pan, double-click to reset".to_string()
    } else if p.explained.is_empty() {
        "t-SNE 1 across, t-SNE 2 up; scroll to zoom, drag to pan".to_string()
    } else {
        format!(
            "PC1 ({:.1}%) across, PC2 ({:.1}%) up; scroll to zoom, drag to pan, double-click to reset",
            ex(0),
            ex(1)
        )
    }
}
