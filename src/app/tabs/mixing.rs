//! The Mixing tab: what each token really takes from the others — attention beside norm,
//! GlobEnc, ALTI, value zeroing and attention flow (../shared/notes/contributions.md) — on the
//! user's text, with the agreement of the methods and of the gradient attribution at one
//! token. The tab holds the view's [`Options`]; a short worker job hands over the models (and
//! runs the comparison model), the matrices are computed on a thread of their own (value
//! zeroing and flow with progress and Cancel; the worker's next forward pass never waits on
//! them), and the view component
//! ([`crate::views::mixing`]) derives and draws them: the figure on screen is the one the
//! Export menu saves and `render --view mixing` writes.

use super::{export_button, from_json, to_json, Built, Tab};
use crate::app::jobs::{self, Job};
use crate::app::session::Session;
use crate::app::worker::ModelSlot;
use crate::figures::Theme;
use crate::insight::mixing::{self, Contributions, Method, Stage};
use crate::model::{LoadedModel, Trace};
use crate::views::mixing::{derive, numbers, Data, Inputs, Options, Side};
use crate::views::{self, View};
use std::sync::Arc;

/// What the tab persists: the view's options, and whether the comparison model is shown.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MixingSettings {
    pub view: Options,
    pub compare: bool,
}

/// One model's matrices, trace and gradient attribution at the followed token.
pub struct Mixed {
    pub name: String,
    pub trace: Arc<Trace>,
    pub contributions: Contributions,
    pub gradient: Option<Vec<f32>>,
}

/// The main trace's generation, the followed token and the comparison model's generation
/// (when shown).
#[derive(Debug, Clone, PartialEq)]
struct MixKey {
    trace_gen: u64,
    position: usize,
    compare: Option<u64>,
}

/// The models the matrices are computed with (clones that share the worker's weights) and the
/// comparison model's trace on the same input, with its name.
type Fetched = Arc<(LoadedModel, Option<(LoadedModel, String, Arc<Trace>)>)>;

/// What the worker hands over for a computation: the trace (its generation) and the
/// comparison model's generation, when it takes part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FetchKey {
    trace_gen: u64,
    compare: Option<u64>,
}

#[derive(Default)]
pub struct MixingTab {
    pub settings: MixingSettings,
    /// a short worker job: the models, and the comparison model's run
    fetch: Job<FetchKey, Fetched>,
    /// the computation, on a thread of its own (value zeroing at 512 tokens takes minutes and
    /// must not hold up the worker's next forward pass)
    job: Job<MixKey, Arc<Vec<Mixed>>>,
    texture: Option<(String, egui::TextureHandle)>,
}

/// One model's matrices and gradients ([`numbers`]; integrated gradients in 50 steps).
fn mixed(
    m: &LoadedModel,
    (name, trace): (String, Arc<Trace>),
    (position, ablate): (usize, &crate::model::Ablation),
    ctl: &crate::insight::Control,
) -> Result<Mixed, String> {
    let (contributions, gradient) =
        numbers(m, &trace, (Some(position), ablate, 50), ctl).map_err(|e| e.to_string())?;
    Ok(Mixed {
        name,
        trace,
        contributions,
        gradient,
    })
}

impl MixingTab {
    fn key(&self, cx: &Session, trace: &Trace) -> MixKey {
        let compare = self.settings.compare && cx.info(ModelSlot::Compare).is_some();
        MixKey {
            trace_gen: cx.trace_gen,
            position: trace.focus(self.settings.view.position),
            compare: compare.then(|| cx.models[1].gen),
        }
    }

    fn ask(&mut self, cx: &mut Session, trace: &Arc<Trace>) {
        for e in [self.fetch.poll_err(), self.job.poll_err()]
            .into_iter()
            .flatten()
        {
            if !e.contains("cancelled") {
                cx.status.error = Some(format!("context mixing: {e}"));
            }
        }
        let key = self.key(cx, trace);
        let fetch_key = FetchKey {
            trace_gen: key.trace_gen,
            compare: key.compare,
        };
        if let Some(ticket) = self.fetch.ask(fetch_key, &cx.wake) {
            let compare = key.compare.map(|_| {
                (
                    cx.input.text.clone(),
                    cx.input.pair.clone(),
                    cx.label(ModelSlot::Compare),
                )
            });
            cx.worker.run(ticket, move |e, _| {
                let main = e.model(ModelSlot::Main)?.clone();
                let compare = match compare {
                    Some((text, pair, name)) => {
                        let run = (text.as_str(), pair.as_deref());
                        let traced = e.run(ModelSlot::Compare, run, false, &Default::default())?;
                        Some((e.model(ModelSlot::Compare)?.clone(), name, traced.trace))
                    }
                    None => None,
                };
                Ok(Arc::new((main, compare)))
            });
        }
        let fetched = match self.fetch.latest() {
            Some((k, Ok(f))) if *k == fetch_key => f.clone(),
            _ => return,
        };
        if let Some(ticket) = self.job.ask(key.clone(), &cx.wake) {
            let (t, ablate) = (trace.clone(), cx.input.intervention.ablate.clone());
            jobs::spawn("context mixing", ticket, move |ctl| {
                let (main, compare) = &*fetched;
                let none = crate::model::Ablation::default();
                let mut out = vec![mixed(
                    main,
                    (String::new(), t),
                    (key.position, &ablate),
                    ctl,
                )?];
                if let Some((m, name, t)) = compare {
                    out.push(mixed(
                        m,
                        (name.clone(), t.clone()),
                        (key.position, &none),
                        ctl,
                    )?);
                }
                Ok(Arc::new(out))
            });
        }
    }

    /// The view's data, once the worker has answered for what is shown.
    pub fn data(&self, cx: &Session) -> Option<Result<Data, String>> {
        let trace = cx.trace()?;
        let (key, r) = self.job.latest()?;
        if *key != self.key(cx, trace) {
            return None;
        }
        let main_name = cx.label(ModelSlot::Main);
        Some(r.clone().and_then(|mixed| {
            let sides: Vec<Side<'_>> = mixed
                .iter()
                .enumerate()
                .map(|(i, m)| Side {
                    model: if i == 0 { &main_name } else { &m.name },
                    trace: &m.trace,
                    contributions: &m.contributions,
                    gradient: m.gradient.as_deref().map(|g| ("Integrated gradients", g)),
                })
                .collect();
            let mut sides = sides.into_iter();
            let main = sides.next().ok_or("nothing was computed")?;
            let opts = Options {
                hide_special: cx.settings.hide_special,
                colormap: cx.settings.colormap,
                ..self.settings.view.clone()
            };
            derive(
                &Inputs {
                    main,
                    compare: sides.next(),
                },
                &opts,
            )
            .map_err(|e| e.to_string())
        }))
    }

    fn controls(&mut self, ui: &mut egui::Ui, cx: &mut Session, trace: &Trace) {
        ui.horizontal_wrapped(|ui| {
            let v = &mut self.settings.view;
            crate::app::widgets::combo(ui, ("mixing_method", "Method"), v.method.label(), |ui| {
                for m in Method::ALL {
                    ui.selectable_value(&mut v.method, m, m.label());
                }
            });
            let layers = trace.attentions.len();
            let shown = match v.stage {
                Stage::Layer(j) => format!("layer {}", j + 1),
                Stage::Aggregate => "all layers".into(),
            };
            let flow = v.method == Method::Flow;
            ui.add_enabled_ui(!flow, |ui| {
                crate::app::widgets::combo(ui, ("mixing_layer", "Layer"), &shown, |ui| {
                    if v.method != Method::Norm {
                        ui.selectable_value(&mut v.stage, Stage::Aggregate, "all layers");
                    }
                    for j in 0..layers {
                        ui.selectable_value(
                            &mut v.stage,
                            Stage::Layer(j),
                            format!("layer {}", j + 1),
                        );
                    }
                });
            })
            .response
            .on_disabled_hover_text("attention flow runs through every layer to the last");
            if v.method == Method::Norm && v.stage == Stage::Aggregate {
                // norm has no aggregate (Kobayashi et al. define none): the last layer
                v.stage = Stage::Layer(layers.saturating_sub(1));
            }
            if let Stage::Layer(j) = v.stage {
                if j >= layers {
                    v.stage = Stage::Layer(layers.saturating_sub(1));
                }
            }
            let has_compare = cx.info(ModelSlot::Compare).is_some();
            ui.add_enabled(
                has_compare,
                egui::Checkbox::new(&mut self.settings.compare, "beside the comparison model"),
            );
            export_button(self, ui, cx, "mixing");
        });
        let pos = trace.focus(self.settings.view.position);
        let label = Some("Output token followed:");
        if let Some(i) = crate::app::widgets::token_picker(ui, label, &trace.tokens, pos) {
            self.settings.view.position = Some(i);
        }
    }
}

impl Tab for MixingTab {
    fn id(&self) -> &'static str {
        "mixing"
    }

    fn title(&self) -> &'static str {
        "Mixing"
    }

    fn ui(&mut self, ui: &mut egui::Ui, cx: &mut Session) {
        let Some(trace) = cx.trace().cloned() else {
            super::no_trace(ui);
            return;
        };
        ui.weak("Attention says where a token looks; these measures say what it takes. Each method decomposes the layer's output into one share per input token (the rows of the map: output tokens; columns: input tokens).");
        self.controls(ui, cx, &trace);
        if trace.num_tokens() > mixing::FLOW_MAX_TOKENS {
            ui.weak(mixing::flow_skipped(trace.num_tokens()));
        }
        self.ask(cx, &trace);
        super::job_progress(ui, &mut self.job, 300.0);
        let theme = crate::app::widgets::screen_theme(ui, cx.settings.presentation);
        let key = format!(
            "{:?} {:?} {:?} {} {:?} {}",
            self.job
                .latest()
                .map(|(k, r)| (k.clone(), r.as_ref().map(Arc::as_ptr).ok())),
            self.settings,
            cx.settings.colormap,
            cx.settings.hide_special,
            cx.trace_gen,
            cx.settings.presentation
        );
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
        let mut cache = self.texture.take();
        crate::app::widgets::figure_texture(ui, &mut cache, (&key, true), || {
            views::build(&View::Mixing { data: &data }, &theme)
                .map(|(f, _)| f)
                .map_err(|e| e.to_string())
        });
        self.texture = cache;
    }

    fn exports(&self) -> &'static [&'static str] {
        &["mixing"]
    }

    fn export(&mut self, _what: &str, cx: &Session, theme: &Theme) -> Built {
        let data = self
            .data(cx)
            .ok_or("the mixing matrices have not been computed yet")??;
        views::build(&View::Mixing { data: &data }, theme).map_err(|e| e.to_string())
    }

    fn busy(&self) -> bool {
        self.job.pending() || self.fetch.pending()
    }

    fn save(&self) -> serde_json::Value {
        to_json(&self.settings)
    }

    fn load(&mut self, settings: serde_json::Value) {
        from_json(settings, &mut self.settings);
    }
}
