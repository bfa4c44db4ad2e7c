//! The Prediction tab: what a fine-tuned head predicts for the text — class probabilities, a
//! tagger's labels and entities, or a QA model's answer span — and, when heads are switched off
//! or tokens masked, what it predicted before. The head's outputs come with every forward pass
//! (the worker runs the head beside the trace); the view component
//! ([`crate::views::prediction`]) derives and draws them, so the figure on screen is the one the
//! Export menu saves and `render --view prediction` writes.
//!
//! Its second mode measures the classifier on a labelled file (accuracy, the confusion matrix,
//! the examples it gets wrong — a click opens one — head importance and the pruning curve,
//! [`crate::insight::importance`]). That runs on a thread of its own with progress and Cancel,
//! on a backend of the window's choice; the worker only hands over the models.

use super::{export_button, from_json, to_json, Built, Tab};
use crate::app::jobs::{self, Job};
use crate::app::session::Session;
use crate::app::worker::ModelSlot;
use crate::figures::Theme;
use crate::insight::importance::HeadReport;
use crate::insight::labelled::Labelled;
use crate::model::task::TaskKind;
use crate::views::evaluation::{self, Which};
use crate::views::prediction::{derive, Data, Options};
use crate::views::{self, View};
use std::path::PathBuf;
use std::sync::Arc;

/// What the tab persists.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PredictionSettings {
    pub view: Options,
    /// show the labelled-file measurements instead of this text's prediction
    pub evaluate: bool,
    /// the labelled file (None: the built-in held-out genres file)
    pub file: Option<PathBuf>,
    /// examples measured (0: all)
    pub limit: usize,
    pub figure: Which,
}

impl Default for PredictionSettings {
    fn default() -> Self {
        PredictionSettings {
            view: Options::default(),
            evaluate: false,
            file: None,
            limit: 500,
            figure: Which::Importance,
        }
    }
}

/// A labelled file read and the classifier measured on it.
pub struct Measured {
    pub data: Labelled,
    pub view: evaluation::Data,
    /// read from the cache rather than computed
    pub cached: bool,
}

/// The main model and the comparison model (when one is open).
type Fetched = Arc<(crate::model::LoadedModel, Option<crate::model::LoadedModel>)>;

/// The models' generations (main, comparison), the file and the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
struct EvalKey {
    /// the generations of the models measured: the main one and the parent (the comparison)
    models: Generations,
    file: PathBuf,
    /// texts read at most (0: all)
    limit: usize,
}

/// The generations of the main and the comparison model: what the worker hands over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Generations {
    main: u64,
    compare: u64,
}

#[derive(Default)]
pub struct PredictionTab {
    pub settings: PredictionSettings,
    texture: Option<(String, egui::TextureHandle)>,
    eval: Job<EvalKey, Arc<Measured>>,
    /// the worker's models for a measurement: (main, comparison) clones sharing its weights
    fetch: Job<Generations, Fetched>,
    /// a measurement asked for, waiting for its models
    wanted: Option<EvalKey>,
    picking: Option<std::sync::mpsc::Receiver<crate::app::file_dialog::Picked>>,
}

/// The labelled held-out file that ships with the built-in models (its genres are the built-in
/// classifiers' labels).
pub fn builtin_file() -> PathBuf {
    PathBuf::from(crate::insight::labelled::BUILTIN_NAME)
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
                &self.settings.view,
            )
            .map_err(|e| e.to_string()),
        )
    }

    /// Whether a measurement is running (its thread started).
    pub fn measuring(&self) -> bool {
        self.eval.pending()
    }

    /// The measurements shown, once the worker has answered for the file asked.
    pub fn measured(&self) -> Option<Result<Arc<Measured>, String>> {
        self.eval.latest().map(|(_, r)| r.clone())
    }

    /// Measures the main model on the file: the worker hands over the models (clones sharing
    /// its weights), then the measurement runs on a thread of its own with a backend of the
    /// window's choice, so the worker stays free for the views.
    pub fn measure(&mut self, cx: &mut Session) {
        let file = self.settings.file.clone().unwrap_or_else(builtin_file);
        let key = EvalKey {
            models: Generations {
                main: cx.models[0].gen,
                compare: cx.models[1].gen,
            },
            file,
            limit: self.settings.limit,
        };
        if let Some(ticket) = self.fetch.ask(key.models, &cx.wake) {
            cx.worker.run(ticket, move |e, _| {
                let main = e.model(ModelSlot::Main)?.clone();
                let parent = e.model(ModelSlot::Compare).ok().cloned();
                Ok(Arc::new((main, parent)))
            });
        }
        self.wanted = Some(key);
    }

    /// Once the models of the wanted measurement are in, starts it on a thread of its own.
    fn launch(&mut self, cx: &mut Session) {
        if let Some(e) = self.fetch.poll_err() {
            cx.status.error = Some(format!("measuring the classifier: {e}"));
            self.wanted = None;
        }
        let Some(key) = self.wanted.clone() else {
            return;
        };
        let models = match self.fetch.latest() {
            Some((k, Ok(m))) if *k == key.models => m.clone(),
            _ => return,
        };
        self.wanted = None;
        let Some(ticket) = self.eval.ask(key.clone(), &cx.wake) else {
            return;
        };
        let (file, limit) = (key.file, Some(key.limit).filter(|&l| l > 0));
        let name = cx.label(ModelSlot::Main);
        let parent_name = cx.label(ModelSlot::Compare);
        let choice = cx.backend_choice;
        jobs::spawn("measuring the classifier", ticket, move |ctl| {
            let mut backend = crate::backend::FallbackBackend::new(choice);
            let (m, parent) = &*models;
            let (labels, tagger) = match &m.weights.task {
                Some(h) => (
                    h.spec.labels.clone(),
                    h.spec.kind == TaskKind::TokenClassification,
                ),
                None => return Err("this model has no classifier head to measure".into()),
            };
            let data = crate::insight::labelled::read(&file, &labels, tagger, limit)
                .map_err(|e| e.to_string())?;
            // cached like corpus runs: the model folder, the file's content, the limit
            let tag = format!("{} limit {limit:?} heads {name}", data.identity);
            let (maps, heads) = (m.config.num_attention_maps(), m.config.num_attention_heads);
            let (report, cached) = crate::corpus::cached(
                &m.dir,
                Some(&tag),
                |b| {
                    HeadReport::from_safetensors_bytes(b).filter(|r| {
                        (r.maps, r.heads) == (maps, heads)
                            && r.predictions.len() == data.examples.len()
                    })
                },
                || crate::insight::importance::evaluate(m, &data, &mut backend, ctl),
                |r| r.to_safetensors_bytes(&name, &data.identity),
            )
            .map_err(|e| e.to_string())?;
            let mut view = evaluation::derive(&name, &data, report);
            // with a comparison model: what fine-tuning changed, on the same texts
            if let Some(parent) = parent {
                let texts: Vec<(String, Option<String>)> = data
                    .examples
                    .iter()
                    .map(|x| (x.text.clone(), x.pair.clone()))
                    .collect();
                let pair = (m, parent);
                let sim =
                    crate::insight::finetune::attention_similarity(pair, &texts, &mut backend, ctl);
                view.changed =
                    Some(
                        sim.map_err(|e| e.to_string())
                            .map(|values| evaluation::Changed {
                                tuned: name.clone(),
                                parent: parent_name.clone(),
                                corpus: view.file.clone(),
                                texts: texts.len(),
                                maps: m.config.num_attention_maps(),
                                heads: m.config.num_attention_heads,
                                values,
                            }),
                    );
            }
            Ok(Arc::new(Measured { data, view, cached }))
        });
    }

    fn pick_file(&mut self, ctx: &egui::Context) {
        let title =
            "Labelled examples: text<TAB>label (or text<TAB>pair<TAB>label) lines, or .jsonl";
        let filter = ("text", &["tsv", "txt", "jsonl"][..]);
        let picked = crate::app::file_dialog::open_data(ctx, "labelled", title, filter);
        self.picking = picked.ok();
    }

    /// The labelled-file mode: the file, the run, the accuracy, a figure and the wrong examples.
    fn evaluation_ui(&mut self, ui: &mut egui::Ui, cx: &mut Session) {
        if let Some(rx) = &self.picking {
            if let Ok(picked) = rx.try_recv() {
                self.picking = None;
                use crate::app::file_dialog::{PathFor, PathPrompt};
                let prompt = PathPrompt::new(PathFor::LabelledFile, "A labelled file", "");
                cx.answer(prompt, picked);
            }
        }
        if let Some(e) = self.eval.poll_err() {
            if !e.contains("cancelled") {
                cx.status.error = Some(format!("measuring the classifier: {e}"));
            }
        }
        self.launch(cx);
        ui.horizontal_wrapped(|ui| {
            let name = match &self.settings.file {
                Some(f) => f
                    .file_name()
                    .map_or(f.display().to_string(), |n| n.to_string_lossy().to_string()),
                None => "built-in held-out genres (brown-genre-heldout.tsv)".to_string(),
            };
            ui.label(format!("Labelled file: {name}"));
            if ui.button("Choose file…").clicked() {
                self.pick_file(ui.ctx());
            }
            if self.settings.file.is_some() && ui.button("Built-in file").clicked() {
                self.settings.file = None;
            }
            let l = ui.label("at most");
            ui.add(egui::DragValue::new(&mut self.settings.limit).range(0..=10_000_000))
                .labelled_by(l.id);
            ui.label("examples (0 = all)");
            if self.wanted.is_some() || self.fetch.pending() {
                ui.spinner();
            } else if !self.eval.pending() && ui.button("▶ Measure").clicked() {
                self.measure(cx);
            }
        });
        // on a line of its own: inside the wrapped row it could be pushed out of reach
        super::job_progress(ui, &mut self.eval, 360.0);
        let Some(result) = self.measured() else {
            ui.weak("Measure the classifier on labelled examples: accuracy, the confusion matrix, the examples it gets wrong, which heads matter (Michel et al. 2019) and how accuracy falls as heads are masked.");
            return;
        };
        let m = match result {
            Ok(m) => m,
            Err(e) => {
                ui.colored_label(ui.visuals().warn_fg_color, e);
                return;
            }
        };
        let r = &m.view.report;
        let wrong = r.wrong();
        if m.cached {
            ui.weak("(from the cache: the same model folder, file and limit were measured before)");
        }
        let tags = r.scored();
        if m.data.examples.iter().any(|e| !e.tags.is_empty()) {
            ui.strong(format!(
                "Accuracy {:.1}% on {tags} tags of {} sentences (majority baseline {:.1}%): {} sentences with a wrong tag",
                r.accuracy * 100.0,
                m.view.examples,
                m.view.majority * 100.0,
                wrong.len()
            ));
        } else {
            ui.strong(format!(
                "Accuracy {:.1}% on {} examples (majority baseline {:.1}%): {} wrong",
                r.accuracy * 100.0,
                m.view.examples,
                m.view.majority * 100.0,
                wrong.len()
            ));
        }
        ui.horizontal(|ui| {
            for w in Which::ALL {
                let name = match w {
                    Which::Importance => "Head importance",
                    Which::Pruning => "Pruning curve",
                    Which::Confusion => "Confusion",
                    Which::Changed => "What fine-tuning changed",
                };
                ui.selectable_value(&mut self.settings.figure, w, name);
            }
            export_button(self, ui, cx, self.settings.figure.key());
        });
        let theme = crate::app::widgets::screen_theme(ui, cx.settings.presentation);
        let key = format!(
            "eval {:p} {:?} {}",
            Arc::as_ptr(&m),
            self.settings.figure,
            cx.settings.presentation
        );
        let which = self.settings.figure;
        let mut cache = self.texture.take();
        let height = ui.available_height() * 0.6;
        ui.allocate_ui(egui::vec2(ui.available_width(), height), |ui| {
            crate::app::widgets::figure_texture(ui, &mut cache, (&key, false), || {
                evaluation::figure(&m.view, which, &theme)
                    .map(|(f, _)| f)
                    .map_err(|e| e.to_string())
            });
        });
        self.texture = cache;
        ui.label("The examples it gets wrong (click one to see its prediction):");
        egui::ScrollArea::vertical()
            .id_salt("wrong")
            .show(ui, |ui| {
                for &i in wrong.iter().take(200) {
                    let ex = &m.data.examples[i];
                    let (p, prob) = r.predictions[i];
                    let text: String = ex.text.chars().take(90).collect();
                    let line = if ex.tags.is_empty() {
                        format!(
                            "line {}: “{text}” — {} predicted {} ({:.0}%)",
                            ex.line,
                            r.labels[ex.label],
                            r.labels[p],
                            prob * 100.0
                        )
                    } else {
                        // a tagged sentence: p tags wrong, prob of them right
                        format!(
                            "line {}: “{text}” — {p} tag{} wrong ({:.0}% right)",
                            ex.line,
                            if p == 1 { "" } else { "s" },
                            prob * 100.0
                        )
                    };
                    if ui.link(line).clicked() {
                        cx.settings.text = ex.text.clone();
                        cx.settings.pair_on = ex.pair.is_some();
                        cx.settings.pair = ex.pair.clone().unwrap_or_default();
                        self.settings.evaluate = false;
                        cx.touch_now();
                    }
                }
            });
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
        if matches!(
            kind,
            Some(TaskKind::SequenceClassification | TaskKind::TokenClassification)
        ) {
            ui.horizontal(|ui| {
                ui.selectable_value(&mut self.settings.evaluate, false, "This text");
                ui.selectable_value(&mut self.settings.evaluate, true, "A labelled file");
            });
            if self.settings.evaluate {
                self.evaluation_ui(ui, cx);
                return;
            }
        }
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
                    let c = cx
                        .info(ModelSlot::Main)
                        .map(|i| &i.model_type.family().classifier);
                    if let Some(c) = c {
                        ui.weak(format!(
                            "The head reads the first token's last hidden state through {} and {}, then {}.",
                            c.dense, c.activation, c.out
                        ));
                    }
                }
            }
            export_button(self, ui, cx, "prediction");
        });
        if kind == Some(TaskKind::TokenClassification) {
            let pos = trace.focus(self.settings.view.position);
            let label = Some("Label probabilities of:");
            if let Some(i) = crate::app::widgets::token_picker(ui, label, &trace.tokens, pos) {
                self.settings.view.position = Some(i);
            }
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
        &[
            "prediction",
            "importance",
            "pruning",
            "confusion",
            "fine-tuning",
        ]
    }

    fn export(&mut self, what: &str, cx: &Session, theme: &Theme) -> Built {
        if let Some(which) = Which::ALL.into_iter().find(|w| w.key() == what) {
            let m = self
                .measured()
                .ok_or("measure the classifier on a labelled file first")??;
            let view = View::Evaluation {
                data: &m.view,
                which,
            };
            return views::build(&view, theme).map_err(|e| e.to_string());
        }
        let data = self.data(cx).ok_or("the model has not run yet")??;
        views::build(&View::Prediction { data: &data }, theme).map_err(|e| e.to_string())
    }

    fn busy(&self) -> bool {
        self.eval.pending() || self.fetch.pending() || self.wanted.is_some()
    }

    fn save(&self) -> serde_json::Value {
        to_json(&self.settings)
    }

    fn load(&mut self, settings: serde_json::Value) {
        from_json(settings, &mut self.settings);
    }
}
