//! The Explain tab: one head of one layer, step by step, with the loaded model's own numbers —
//! from the token's id through the embedding (ALBERT's factorized table), Q, K and V, the
//! scores with the neuron view, the softmax with a temperature what-if, the context, the output
//! dense, the feed-forward, the layer's output and the sharing of weights across depth, to the
//! masked-LM head's prediction. The numbers come from a forward pass that keeps the chosen
//! layer's intermediates ([`crate::model::internals`]); the steps' words and matrices from
//! [`crate::insight::explain`].

use super::{export_button, from_json, to_json, Built, Tab};
use crate::app::jobs::Job;
use crate::app::session::Session;
use crate::app::widgets::vectors::{self, Bars};
use crate::figures::Theme;
use crate::insight::explain::{Selection, Sharing, Step, Walk};
use crate::model::Trace;
use egui::{Align2, Color32, Pos2, Rect, RichText, Sense, Stroke, Vec2};
use std::sync::Arc;

/// What the tab persists: the view's options.
pub type ExplainSettings = crate::views::explain::Options;

/// What a walk-through was made for: the trace (its generation), the comparison model (its
/// generation: the walk shows its numbers too), and the selection (map, head, token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ExplainKey {
    trace_gen: u64,
    compare_gen: u64,
    selection: Selection,
}

/// The names of what the tab exports: the whole walk-through, then each step.
const EXPORTS: [&str; 15] = [
    "walkthrough",
    "token",
    "word-embedding",
    "position-and-type",
    "embedding-layernorm",
    "projection",
    "queries-keys-values",
    "scores",
    "softmax",
    "context",
    "attention-output",
    "feed-forward",
    "layer-output",
    "sharing",
    "prediction",
];

#[derive(Default)]
pub struct ExplainTab {
    pub settings: ExplainSettings,
    walk: Job<ExplainKey, Arc<Walk>>,
    /// the key the neuron view shows (the pointer's, else the highest score)
    hovered_key: Option<usize>,
    /// a step picked in the "Go to" row, scrolled to on the next frame
    scroll_to: Option<Step>,
}

impl ExplainTab {
    /// The selection for `trace`: the settings, kept inside the input.
    pub fn selection(&self, t: &Trace) -> Selection {
        crate::views::explain::selection(t, &self.settings)
    }

    /// The walk-through shown, once the worker has made it.
    pub fn walk(&self) -> Option<&Walk> {
        match self.walk.latest() {
            Some((_, Ok(w))) => Some(w),
            _ => None,
        }
    }

    fn key(cx: &Session, selection: Selection) -> ExplainKey {
        ExplainKey {
            trace_gen: cx.trace_gen,
            compare_gen: cx.models[1].gen,
            selection,
        }
    }

    fn ask(&mut self, cx: &mut Session, sel: Selection) {
        if let Some(e) = self.walk.poll_err() {
            cx.status.error = Some(format!("explain: {e}"));
        }
        if let Some(ticket) = self.walk.ask(Self::key(cx, sel), &cx.wake) {
            let input = cx.input.clone();
            cx.worker.run(ticket, move |e, _| {
                e.explain(
                    (&input.text, input.pair.as_deref()),
                    &input.intervention,
                    sel,
                )
                .map(Arc::new)
            });
        }
    }

    fn controls(&mut self, ui: &mut egui::Ui, cx: &mut Session, t: &Trace) {
        ui.horizontal_wrapped(|ui| {
            let maps = t.attentions.len().max(1);
            let mut layer = self.settings.map.min(maps - 1) + 1;
            if crate::app::widgets::labelled(ui, "Layer", egui::Slider::new(&mut layer, 1..=maps))
                .on_hover_text("which application of a layer (with ALBERT's sharing, every one runs the same weights)")
                .changed()
            {
                self.settings.map = layer - 1;
            }
            let heads = t.num_heads.max(1);
            let mut head = self.settings.head.min(heads - 1) + 1;
            if crate::app::widgets::labelled(ui, "Head", egui::Slider::new(&mut head, 1..=heads)).changed()
            {
                self.settings.head = head - 1;
            }
            ui.separator();
            crate::app::widgets::labelled(
                ui,
                "What-if temperature T",
                egui::Slider::new(&mut self.settings.temperature, 0.1..=5.0).logarithmic(true),
            )
            .on_hover_text("α(T) = softmax(s / T), drawn as outlines beside the model's α. T = 1 is what the model computes; this changes nothing else.");
            if ui
                .add_enabled(self.settings.temperature != 1.0, egui::Button::new("T = 1"))
                .clicked()
            {
                self.settings.temperature = 1.0;
            }
            ui.separator();
            export_button(self, ui, cx, "walkthrough");
        });
    }

    fn tokens(&mut self, ui: &mut egui::Ui, t: &Trace, pos: usize) {
        ui.horizontal_wrapped(|ui| {
            ui.spacing_mut().item_spacing.x = 3.0;
            for (i, tok) in t.tokens.iter().enumerate() {
                let r = ui
                    .selectable_label(i == pos, tok)
                    .on_hover_text(format!("token {i}, id {}", t.input_ids[i]));
                if r.clicked() {
                    self.settings.position = Some(i);
                }
            }
        });
    }

    fn step_ui(&mut self, ui: &mut egui::Ui, cx: &mut Session, walk: &Walk, step: Step, i: usize) {
        let t = self.settings.temperature;
        let text = walk.text(step, t);
        ui.add_space(10.0);
        if self.scroll_to == Some(step) {
            ui.scroll_to_cursor(Some(egui::Align::TOP));
            self.scroll_to = None;
        }
        ui.horizontal(|ui| {
            ui.heading(format!("{i}. {}", text.title));
            export_button(self, ui, cx, step.slug());
        });
        ui.label(&text.paragraph);
        ui.label(
            RichText::new(&text.formula)
                .monospace()
                .color(Color32::from_rgb(0x00, 0x72, 0xB2)),
        );
        ui.weak(&text.shapes);
        ui.add_space(4.0);
        let m = walk.matrix(step, t);
        let rows_of = |m: &crate::matrix::Matrix| -> Vec<(String, Vec<f32>)> {
            (0..m.rows)
                .map(|r| {
                    (
                        m.row_labels[r].clone(),
                        m.values[r * m.cols..(r + 1) * m.cols].to_vec(),
                    )
                })
                .collect()
        };
        match step {
            Step::Token => self.token_step(ui, walk),
            Step::Scores => self.scores_step(ui, walk),
            Step::Softmax => {
                let labels = token_labels(walk);
                let at = walk.alpha_at(t);
                let what_if = (t - 1.0).abs() > 1e-6;
                if what_if {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        format!("What-if: outlines are α at T = {t:.2}; filled bars are the model's α (T = 1)."),
                    );
                }
                vectors::bars(
                    ui,
                    &Bars {
                        labels: &labels,
                        values: &walk.alpha,
                        outline: what_if.then_some(at.as_slice()),
                        signed: false,
                        percent: true,
                        highlight: Some(walk.sel.pos),
                    },
                );
            }
            Step::Sharing => sharing_ui(ui, walk),
            Step::Prediction => {
                let labels: Vec<String> = walk.prediction.iter().map(|(t, _)| t.clone()).collect();
                let values: Vec<f32> = walk.prediction.iter().map(|(_, p)| *p).collect();
                vectors::bars(
                    ui,
                    &Bars {
                        labels: &labels,
                        values: &values,
                        outline: None,
                        signed: false,
                        percent: true,
                        highlight: None,
                    },
                );
            }
            _ => {
                let rows = rows_of(&m);
                let max = vectors::max_abs(rows.iter().map(|(_, v)| v.as_slice()));
                let shown: Vec<(String, &[f32])> = rows
                    .iter()
                    .map(|(l, v)| (l.clone(), v.as_slice()))
                    .collect();
                let row_h = if shown.len() > 24 { 9.0 } else { 14.0 };
                let (n, pos) = (walk.n(), walk.sel.pos);
                let bold = move |r: usize| match step {
                    Step::Qkv => r == 0 || r == 1 + pos || r == 1 + n + pos,
                    Step::Context => r == n,
                    _ => false,
                };
                vectors::strips(ui, &shown, max, row_h, &bold);
                if step == Step::WordEmbedding && walk.factorized {
                    table_costs(ui, walk);
                }
            }
        }
    }

    fn token_step(&mut self, ui: &mut egui::Ui, walk: &Walk) {
        ui.horizontal_wrapped(|ui| {
            for (i, tok) in walk.tokens.iter().enumerate() {
                let selected = i == walk.sel.pos;
                let r = ui.add(
                    egui::Button::new(RichText::new(format!("{tok}\n{}", walk.ids[i])).size(12.0))
                        .selected(selected),
                );
                if r.clicked() {
                    self.settings.position = Some(i);
                }
            }
        });
    }

    fn scores_step(&mut self, ui: &mut egui::Ui, walk: &Walk) {
        let labels = token_labels(walk);
        let hovered = vectors::bars(
            ui,
            &Bars {
                labels: &labels,
                values: &walk.scores,
                outline: None,
                signed: true,
                percent: false,
                highlight: Some(walk.sel.pos),
            },
        );
        if hovered.is_some() {
            self.hovered_key = hovered;
        }
        let best = walk
            .scores
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(k, _)| k);
        let k = self.hovered_key.filter(|&k| k < walk.n()).unwrap_or(best);
        let d = walk.d;
        let key = &walk.keys[k * d..(k + 1) * d];
        let products = walk.neuron(k);
        let sum: f32 = products.iter().sum();
        ui.add_space(4.0);
        ui.strong(format!(
            "Neuron view for key {k}, “{}” (point at a bar to change it)",
            walk.tokens[k]
        ));
        let rows = [
            ("q".to_string(), walk.query.as_slice()),
            (format!("k {k}"), key),
            ("q × k (elementwise)".to_string(), products.as_slice()),
        ];
        let max = vectors::max_abs(rows.iter().map(|(_, v)| *v));
        vectors::strips(ui, &rows, max, 14.0, &|r| r == 2);
        let s = walk.score_scale;
        let relative = match (walk.c2p.get(k), walk.p2c.get(k)) {
            (None, None) => String::new(),
            (c, p) => {
                let part = |name: &str, v: Option<&f32>| v.map(|v| format!(" + {name} {v:.4}"));
                let terms = [part("c2p", c), part("p2c", p)];
                let total = sum / s + c.unwrap_or(&0.0) + p.unwrap_or(&0.0);
                format!(
                    "{}, = {total:.4}",
                    terms.into_iter().flatten().collect::<String>()
                )
            }
        };
        let root = if walk.c2p.is_empty() && walk.p2c.is_empty() {
            "√d"
        } else {
            "s"
        };
        ui.label(format!(
            "Σ (q × k) / {root} = {sum:.4} / {s:.4} = {:.4}{relative}, the score of “{}”",
            sum / s,
            walk.tokens[k]
        ));
    }
}

fn token_labels(walk: &Walk) -> Vec<String> {
    walk.tokens
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{i}: {t}"))
        .collect()
}

/// ALBERT's V×E table and E×H projection beside the V×H table BERT's way would need, to scale.
fn table_costs(ui: &mut egui::Ui, walk: &Walk) {
    let factorized = walk.vocab * walk.e + walk.e * walk.h;
    let full = walk.vocab * walk.h;
    let width = ui.available_width().max(300.0) - vectors::LABEL_W - 120.0;
    let (rect, _) = ui.allocate_exact_size(Vec2::new(ui.available_width(), 40.0), Sense::hover());
    let painter = ui.painter_at(rect);
    let text = ui.visuals().text_color();
    for (i, (label, count, color)) in [
        (
            "V×E + E×H (ALBERT)",
            factorized,
            Color32::from_rgb(0x00, 0x9E, 0x73),
        ),
        (
            "V×H (not factorized)",
            full,
            Color32::from_rgb(0xE6, 0x9F, 0x00),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let y = rect.top() + i as f32 * 20.0;
        painter.text(
            Pos2::new(rect.left(), y + 9.0),
            Align2::LEFT_CENTER,
            label,
            crate::app::widgets::font(ui, 12.0),
            text,
        );
        let w = width * count as f32 / full.max(factorized).max(1) as f32;
        let x0 = rect.left() + vectors::LABEL_W;
        painter.rect_filled(
            Rect::from_min_size(Pos2::new(x0, y + 2.0), Vec2::new(w, 14.0)),
            0.0,
            color,
        );
        painter.text(
            Pos2::new(x0 + w + 6.0, y + 9.0),
            Align2::LEFT_CENTER,
            format!("{} numbers", crate::insight::explain::count(count)),
            crate::app::widgets::font(ui, 12.0),
            text,
        );
    }
}

/// Each depth pointing at the stored weights it applies, thumbnails of those weights; the
/// comparison model's below.
fn sharing_ui(ui: &mut egui::Ui, walk: &Walk) {
    sharing_row(ui, &walk.sharing, Some(walk.sel.map));
    if let Some(c) = &walk.compare {
        ui.add_space(6.0);
        sharing_row(ui, c, None);
    }
}

fn sharing_row(ui: &mut egui::Ui, s: &Sharing, here: Option<usize>) {
    ui.strong(format!(
        "{}: {} depths, {} stored set(s) of weights",
        s.model,
        s.stored_of_map.len(),
        s.stored_layers
    ));
    let (rect, _) = ui.allocate_exact_size(Vec2::new(ui.available_width(), 110.0), Sense::hover());
    let painter = ui.painter_at(rect);
    let text = ui.visuals().text_color();
    let weak = ui.visuals().weak_text_color();
    let maps = s.stored_of_map.len().max(1);
    let slot = rect.width() / maps as f32;
    let stored = s.stored_layers.max(1);
    let sslot = rect.width() / stored as f32;
    let (top, bottom) = (rect.top() + 2.0, rect.top() + 60.0);
    let thumb_h = 46.0;
    for (j, &st) in s.stored_of_map.iter().enumerate() {
        let cx = rect.left() + (j as f32 + 0.5) * slot;
        let now = here == Some(j);
        let b = Rect::from_center_size(
            Pos2::new(cx, top + 9.0),
            Vec2::new((slot * 0.8).min(44.0), 18.0),
        );
        let orange = Color32::from_rgb(0xE6, 0x9F, 0x00);
        painter.rect_filled(
            b,
            2.0,
            if now {
                orange
            } else {
                ui.visuals().extreme_bg_color
            },
        );
        painter.rect_stroke(b, 2.0, Stroke::new(1.0, weak), egui::StrokeKind::Inside);
        // the highlighted depth: dark bold text on the orange box, whatever the theme
        painter.text(
            b.center(),
            Align2::CENTER_CENTER,
            format!("{}", j + 1),
            crate::app::widgets::font(ui, if now { 13.0 } else { 11.0 }),
            if now { Color32::BLACK } else { text },
        );
        let sx = rect.left() + (st as f32 + 0.5) * sslot;
        let stroke = if now {
            Stroke::new(2.0, Color32::from_rgb(0xD5, 0x5E, 0x00))
        } else {
            Stroke::new(0.8, weak)
        };
        painter.line_segment([Pos2::new(cx, b.bottom()), Pos2::new(sx, bottom)], stroke);
    }
    for (i, t) in s.thumbs.iter().enumerate().take(stored) {
        let sx = rect.left() + (i as f32 + 0.5) * sslot;
        let w = thumb_h * t.cols as f32 / t.rows.max(1) as f32;
        let r = Rect::from_min_size(Pos2::new(sx - w / 2.0, bottom), Vec2::new(w, thumb_h));
        vectors::paint_thumb(&painter, r, t, weak);
    }
}

impl Tab for ExplainTab {
    fn id(&self) -> &'static str {
        "explain"
    }

    fn title(&self) -> &'static str {
        "Explain"
    }

    fn ui(&mut self, ui: &mut egui::Ui, cx: &mut Session) {
        let Some(trace) = cx.trace().cloned() else {
            super::no_trace(ui);
            return;
        };
        ui.weak("How one head of one layer computes a token's attention, step by step, with this model's own numbers. Click a token to follow it; point at any strip or bar for its value.");
        self.controls(ui, cx, &trace);
        let sel = self.selection(&trace);
        self.tokens(ui, &trace, sel.pos);
        self.ask(cx, sel);
        let walk = match self.walk.get(&Self::key(cx, sel)) {
            Some(Ok(w)) => w.clone(),
            _ => {
                ui.spinner();
                return;
            }
        };
        ui.horizontal_wrapped(|ui| {
            ui.weak("Go to:");
            for (i, step) in walk.steps().into_iter().enumerate() {
                let title = walk.text(step, 1.0).title;
                let short = title
                    .split([':', '—'])
                    .next()
                    .unwrap_or(&title)
                    .trim()
                    .to_string();
                if ui.small_button(format!("{}. {short}", i + 1)).clicked() {
                    self.scroll_to = Some(step);
                }
            }
        });
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                for (i, step) in walk.steps().into_iter().enumerate() {
                    self.step_ui(ui, cx, &walk, step, i + 1);
                    ui.separator();
                }
            });
    }

    fn exports(&self) -> &'static [&'static str] {
        &EXPORTS
    }

    fn export(&mut self, what: &str, cx: &Session, theme: &Theme) -> Built {
        let walk = self
            .walk()
            .ok_or("the walk-through has not been computed yet")?;
        let step = match what {
            "walkthrough" => None,
            slug => Some(
                Step::ALL
                    .into_iter()
                    .find(|s| s.slug() == slug)
                    .ok_or_else(|| format!("no step {slug}"))?,
            ),
        };
        let model = cx.label(crate::app::worker::ModelSlot::Main);
        let how = (step, self.settings.temperature);
        crate::views::explain::figure(&model, walk, how, theme).map_err(|e| e.to_string())
    }

    fn busy(&self) -> bool {
        self.walk.pending()
    }

    fn save(&self) -> serde_json::Value {
        to_json(&self.settings)
    }

    fn load(&mut self, settings: serde_json::Value) {
        from_json(settings, &mut self.settings);
    }
}
