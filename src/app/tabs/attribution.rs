//! The Attribution tab: which input tokens one masked-LM prediction depends on, by gradient
//! (integrated gradients, gradient × input, gradient norm), beside attention rollout and
//! value-weighted attention from the same position, with the Spearman rank correlation of each
//! pair on screen — "is attention explanation?" measured on the user's own text. The gradients
//! run on the worker (integrated gradients with progress and Cancel); the model is the one the
//! views show, with its switched-off heads and masked tokens.

use super::{export_button, from_json, to_json, Built, Tab};
use crate::app::jobs::Job;
use crate::app::session::Session;
use crate::app::worker::ModelSlot;
use crate::figures::attribution::{shade, signed};
use crate::figures::Theme;
use crate::insight::attribution::{Comparison, Method};
use crate::model::task::TaskKind;
use crate::model::Trace;
use crate::views::attribution;
use egui::{Color32, RichText};
use std::sync::Arc;

/// What the tab persists: the view's options.
pub type AttributionSettings = crate::views::attribution::Options;

/// What an attribution was made for: the trace (its generation), the position, the
/// integrated-gradients steps and the target as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AttrKey {
    trace_gen: u64,
    pos: usize,
    steps: usize,
    target: String,
}

/// An attribution and the last layer's value-weighted attention of all heads `[N, N]`.
pub type Attributed = crate::views::attribution::Computed;

#[derive(Default)]
pub struct AttributionTab {
    pub settings: AttributionSettings,
    job: Job<AttrKey, Arc<Attributed>>,
}

impl AttributionTab {
    pub fn position(&self, t: &Trace) -> usize {
        t.focus(self.settings.position)
    }

    /// The comparison shown, once the worker has answered for the current trace.
    pub fn comparison(&self, cx: &Session) -> Option<Result<Comparison, String>> {
        let trace = cx.trace()?;
        let (key, r) = self.job.latest()?;
        if key.trace_gen != cx.trace_gen {
            return None;
        }
        Some(r.clone().and_then(|a| {
            attribution::derive(&a, self.settings.method, trace, &cx.rollout())
                .map_err(|e| e.to_string())
        }))
    }

    fn ask(&mut self, cx: &mut Session, trace: &Arc<Trace>) {
        if let Some(e) = self.job.poll_err() {
            if !e.contains("cancelled") {
                cx.status.error = Some(format!("attribution: {e}"));
            }
        }
        let s = &self.settings;
        let key = AttrKey {
            trace_gen: cx.trace_gen,
            pos: self.position(trace),
            steps: s.steps,
            target: s.target.trim().to_string(),
        };
        if let Some(ticket) = self.job.ask(key.clone(), &cx.wake) {
            let (t, ablate) = (trace.clone(), cx.input.intervention.ablate.clone());
            cx.worker.run(ticket, move |e, ctl| {
                let m = e.model(ModelSlot::Main)?;
                let target = (key.target.as_str(), key.steps);
                attribution::compute(m, &t, (&ablate, key.pos), target, ctl)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            });
        }
    }

    fn controls(&mut self, ui: &mut egui::Ui, cx: &mut Session, trace: &Trace) {
        let pos = self.position(trace);
        let task = cx.info(ModelSlot::Main).and_then(|i| i.task.clone());
        // a sequence classifier's prediction is made at [CLS]: no position to choose
        if task
            .as_ref()
            .is_none_or(|t| t.kind != TaskKind::SequenceClassification)
        {
            let label = Some("Prediction at:");
            if let Some(i) = crate::app::widgets::token_picker(ui, label, &trace.tokens, pos) {
                self.settings.position = Some(i);
            }
        }
        ui.horizontal_wrapped(|ui| {
            crate::app::widgets::combo(ui, ("attr_method", "Attribution"), self.settings.method.name(), |ui| {
                    for m in Method::ALL {
                        ui.selectable_value(&mut self.settings.method, m, m.name());
                    }
                });
            crate::app::widgets::labelled(
                ui,
                "IG steps",
                egui::Slider::new(&mut self.settings.steps, 1..=200).logarithmic(true),
            );
            match &task {
                Some(spec) => {
                    let choices: Vec<String> = match spec.kind {
                        TaskKind::QuestionAnswering => vec!["start".into(), "end".into()],
                        _ => spec.labels.clone(),
                    };
                    let shown = match self.settings.target.trim() {
                        "" if spec.kind == TaskKind::QuestionAnswering => "start",
                        "" => "predicted",
                        t => t,
                    }
                    .to_string();
                    crate::app::widgets::combo(ui, ("attr_target", "Target"), &shown, |ui| {
                        if spec.kind != TaskKind::QuestionAnswering {
                            ui.selectable_value(&mut self.settings.target, String::new(), "predicted");
                        }
                        for c in choices {
                            ui.selectable_value(&mut self.settings.target, c.clone(), c);
                        }
                    });
                }
                None => {
                    ui.label("Target:");
                    ui.add(
                        egui::TextEdit::singleline(&mut self.settings.target)
                            .desired_width(110.0)
                            .hint_text("top 1"),
                    )
                    .on_hover_text("the predicted token whose logit is attributed (a vocabulary entry); empty: the model's top 1");
                }
            }
            export_button(self, ui, cx, "attribution");
        });
    }
}

/// What the token colours mean: the diverging map, each row scaled to its own largest |value|.
fn colour_legend(ui: &mut egui::Ui) {
    ui.horizontal_wrapped(|ui| {
        ui.label("Colour, each row to its own largest |value|:");
        let (rect, _) = ui.allocate_exact_size(egui::vec2(160.0, 14.0), egui::Sense::hover());
        let steps = 32;
        for k in 0..steps {
            let t = k as f32 / (steps - 1) as f32;
            let [r, g, b] = shade(2.0 * t - 1.0, 1.0, true);
            let x0 = rect.left() + rect.width() * k as f32 / steps as f32;
            let x1 = rect.left() + rect.width() * (k + 1) as f32 / steps as f32;
            ui.painter().rect_filled(
                egui::Rect::from_min_max(egui::pos2(x0, rect.top()), egui::pos2(x1, rect.bottom())),
                0.0,
                Color32::from_rgb(r, g, b),
            );
        }
        ui.label("blue: lowers the prediction · white: 0 · red: raises it (rows never negative: white to red)");
    });
}

/// One row of tokens coloured by `values` (signed rows on the diverging map).
fn token_row(ui: &mut egui::Ui, c: &Comparison, values: &[f32]) {
    let max = values.iter().fold(0f32, |m, v| m.max(v.abs()));
    let signed = signed(values);
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing = egui::vec2(3.0, 3.0);
        for (i, tok) in c.tokens.iter().enumerate() {
            let [r, g, b] = shade(values[i], max, signed);
            let deep = (values[i] / max.max(1e-12)).abs() > 0.7;
            let text_color = if deep {
                Color32::WHITE
            } else {
                Color32::from_gray(20)
            };
            let mut button = egui::Button::new(RichText::new(tok).color(text_color))
                .fill(Color32::from_rgb(r, g, b))
                .corner_radius(3.0);
            if i == c.position {
                button = button.stroke(egui::Stroke::new(2.0, ui.visuals().text_color()));
            }
            ui.add(button)
                .on_hover_text(format!("token {i} “{tok}”: {:.5}", values[i]));
        }
    });
}

impl Tab for AttributionTab {
    fn id(&self) -> &'static str {
        "attribution"
    }

    fn title(&self) -> &'static str {
        "Attribution"
    }

    fn ui(&mut self, ui: &mut egui::Ui, cx: &mut Session) {
        let Some(trace) = cx.trace().cloned() else {
            super::no_trace(ui);
            return;
        };
        let has_task = cx.info(ModelSlot::Main).is_some_and(|i| i.task.is_some());
        if !has_task && !super::has_mlm_or_say(ui, cx, "there is no prediction to attribute") {
            return;
        }
        ui.weak("Which tokens a prediction depends on, by gradient, beside where attention looks from the same token. If attention were an explanation, the rows would agree; the rank correlations say how much they do on this text.");
        self.controls(ui, cx, &trace);
        let pos = self.position(&trace);
        if let Some(tok) = trace.tokens.get(pos).filter(|_| !has_task) {
            if !crate::model::trace::MASK_TOKENS.contains(&tok.as_str()) {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    format!("Token {pos} (“{tok}”) is not masked: the model predicts the token that is already there, which it can see, so the gradients explain copying it rather than a guess. Mask a token (click it in the side panel) for a real prediction."),
                );
            }
        }
        ui.weak(format!("Integrated gradients: from a baseline of all-zero word embeddings to the text's own, {} steps (a right Riemann sum), summed over the embedding; grad × input and the gradient norm use the text's embeddings alone.", self.settings.steps));
        self.ask(cx, &trace);
        super::job_progress(ui, &mut self.job, 300.0);
        let Some(result) = self.comparison(cx) else {
            return;
        };
        let c = match result {
            Ok(c) => c,
            Err(e) => {
                ui.colored_label(ui.visuals().warn_fg_color, e);
                return;
            }
        };
        let a = self
            .job
            .latest()
            .and_then(|(_, r)| r.as_ref().ok())
            .cloned();
        if let Some(a) = a {
            ui.label(format!(
                "Prediction “{}” at token {} (“{}”), logit {:.3}{}",
                c.target,
                c.position,
                c.tokens[c.position],
                a.attribution.logit,
                if cx.input.intervention.ablate.is_empty() {
                    ""
                } else {
                    ", with the switched-off heads"
                }
            ));
        }
        colour_legend(ui);
        egui::ScrollArea::vertical().show(ui, |ui| {
            for (name, values) in &c.rows {
                ui.add_space(6.0);
                ui.strong(name);
                token_row(ui, &c, values);
            }
            ui.add_space(10.0);
            for (i, j, r) in &c.spearman {
                let v = r.map_or("undefined (a constant row)".to_string(), |r| format!("{r:+.3}"));
                ui.label(format!("Spearman ρ, {} vs {}: {v}", c.rows[*i].0, c.rows[*j].0));
            }
            ui.weak(format!(
                "Ranks of |{}|. Attention from token {}: rollout up to the last layer; value-weighted: the last layer, all heads.",
                c.method.name(),
                c.position
            ));
        });
    }

    fn exports(&self) -> &'static [&'static str] {
        &["attribution"]
    }

    fn export(&mut self, _what: &str, cx: &Session, theme: &Theme) -> Built {
        let c = self
            .comparison(cx)
            .ok_or("the attribution has not been computed yet")??;
        attribution::figure(&cx.label(ModelSlot::Main), &c, theme).map_err(|e| e.to_string())
    }

    fn busy(&self) -> bool {
        self.job.pending()
    }

    fn save(&self) -> serde_json::Value {
        to_json(&self.settings)
    }

    fn load(&mut self, settings: serde_json::Value) {
        from_json(settings, &mut self.settings);
    }
}
