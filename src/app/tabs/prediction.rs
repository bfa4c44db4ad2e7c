//! The Prediction tab: what a fine-tuned head predicts for the text — class probabilities, a
//! tagger's labels and entities, or a QA model's answer span — and, when heads are switched off
//! or tokens masked, what it predicted before. The head's outputs come with every forward pass
//! (the worker runs the head beside the trace); the view component
//! ([`crate::views::prediction`]) derives and draws them, so the figure on screen is the one the
//! Export menu saves and `render --view prediction` writes.

use super::{export_button, from_json, to_json, Built, Tab};
use crate::app::session::Session;
use crate::app::worker::ModelSlot;
use crate::figures::Theme;
use crate::model::task::TaskKind;
use crate::views::prediction::{derive, Data, Options};
use crate::views::{self, View};

#[derive(Default)]
pub struct PredictionTab {
    pub settings: Options,
    texture: Option<(String, egui::TextureHandle)>,
}

impl PredictionTab {
    /// The view's data for the current run; None before a run, an error for a model without a
    /// task head.
    pub fn data(&self, cx: &Session) -> Option<Result<Data, String>> {
        let traced = cx.traced()?;
        let info = cx.info(ModelSlot::Main)?;
        let Some(spec) = &info.task else {
            return Some(Err(no_head(info)));
        };
        let after = traced.task.as_ref()?;
        let before = traced
            .intact
            .as_ref()
            .and_then(|i| i.task.as_ref().map(|p| (i.trace.as_ref(), p.as_ref())));
        let name = cx.label(ModelSlot::Main);
        Some(
            derive(
                (&name, &spec.architecture),
                (&traced.trace, after),
                before,
                &self.settings,
            )
            .map_err(|e| e.to_string()),
        )
    }
}

fn no_head(info: &crate::app::worker::ModelInfo) -> String {
    let lens = if info.has_mlm {
        " Its masked-LM predictions are on the Lens tab."
    } else {
        ""
    };
    format!("This checkpoint has no fine-tuned task head (config.json's architectures name no *ForSequenceClassification, *ForTokenClassification or *ForQuestionAnswering model), so there is no prediction to show.{lens}")
}

impl Tab for PredictionTab {
    fn id(&self) -> &'static str {
        "prediction"
    }

    fn title(&self) -> &'static str {
        "Prediction"
    }

    fn ui(&mut self, ui: &mut egui::Ui, cx: &mut Session) {
        let Some(trace) = cx.trace().cloned() else {
            super::no_trace(ui);
            return;
        };
        let kind = cx
            .info(ModelSlot::Main)
            .and_then(|i| i.task.as_ref().map(|t| t.kind));
        ui.horizontal_wrapped(|ui| {
            match kind {
                Some(TaskKind::QuestionAnswering) if !cx.settings.pair_on => {
                    ui.colored_label(ui.visuals().warn_fg_color, "A question-answering model reads a question and a context: type the question as the text and turn on the second segment for the context.");
                }
                Some(TaskKind::QuestionAnswering) => {
                    ui.weak("The answer is the span of the context (the second segment) with the largest p(start) · p(end), at most 15 tokens.");
                }
                Some(TaskKind::TokenClassification) => {
                    ui.weak("Each token's most probable label; B-/I- tags merged into entities.");
                }
                _ => {
                    ui.weak("The head reads the [CLS] token's last hidden state through the pooler.");
                }
            }
            export_button(self, ui, cx, "prediction");
        });
        if kind == Some(TaskKind::TokenClassification) {
            let pos = trace.focus(self.settings.position);
            ui.horizontal_wrapped(|ui| {
                ui.spacing_mut().item_spacing.x = 3.0;
                ui.label("Label probabilities of:");
                for (i, t) in trace.tokens.iter().enumerate() {
                    if ui.selectable_label(i == pos, t).clicked() {
                        self.settings.position = Some(i);
                    }
                }
            });
        }
        let Some(data) = self.data(cx) else {
            return;
        };
        let data = match data {
            Ok(d) => d,
            Err(e) => {
                ui.colored_label(ui.visuals().warn_fg_color, e);
                return;
            }
        };
        let p = &data.prediction;
        let (text, score) = p.headline(&data.tokens, data.position, &data.allowed);
        let score = match p.problem {
            crate::model::task::Problem::Regression => String::new(),
            _ => format!(" {:.1}%", score * 100.0),
        };
        let what = match p.kind {
            TaskKind::SequenceClassification => "Predicted".to_string(),
            TaskKind::TokenClassification => format!("Token {} is", data.position),
            TaskKind::QuestionAnswering => "Answer".to_string(),
        };
        ui.strong(format!("{what}: “{text}”{score}"));
        let theme = crate::app::widgets::screen_theme(ui, cx.settings.presentation);
        let key = format!(
            "{} {:?} {}",
            cx.trace_gen, self.settings, cx.settings.presentation
        );
        let mut cache = self.texture.take();
        crate::app::widgets::figure_texture(ui, &mut cache, (&key, true), || {
            views::build(&View::Prediction { data: &data }, &theme)
                .map(|(f, _)| f)
                .map_err(|e| e.to_string())
        });
        self.texture = cache;
    }

    fn exports(&self) -> &'static [&'static str] {
        &["prediction"]
    }

    fn export(&mut self, _what: &str, cx: &Session, theme: &Theme) -> Built {
        let data = self.data(cx).ok_or("the model has not run yet")??;
        views::build(&View::Prediction { data: &data }, theme).map_err(|e| e.to_string())
    }

    fn save(&self) -> serde_json::Value {
        to_json(&self.settings)
    }

    fn load(&mut self, settings: serde_json::Value) {
        from_json(settings, &mut self.settings);
    }
}
