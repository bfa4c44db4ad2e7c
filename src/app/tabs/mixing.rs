//! The Mixing tab: what each token really takes from the others — attention beside norm,
//! GlobEnc, ALTI, value zeroing and attention flow (../shared/notes/contributions.md) — on the
//! user's text, with the agreement of the methods and of the gradient attribution at one
//! token. The tab holds the view's [`Options`]; a worker job computes the matrices (value
//! zeroing and flow with progress and Cancel), and the view component
//! ([`crate::views::mixing`]) derives and draws them: the figure on screen is the one the
//! Export menu saves and `render --view mixing` writes.

use super::{export_button, from_json, to_json, Built, Tab};
use crate::app::jobs::Job;
use crate::app::session::Session;
use crate::app::worker::ModelSlot;
use crate::figures::Theme;
use crate::insight::mixing::{self, Contributions, Method, Stage};
use crate::model::Trace;
use crate::views::mixing::{derive, Data, Inputs, Options, Side};
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

/// The main trace's generation, the followed token, the comparison model's generation (when
/// shown) and the text.
#[derive(Debug, Clone, PartialEq)]
struct MixKey {
    trace_gen: u64,
    position: usize,
    compare: Option<u64>,
}

#[derive(Default)]
pub struct MixingTab {
    pub settings: MixingSettings,
    job: Job<MixKey, Arc<Vec<Mixed>>>,
    texture: Option<(String, egui::TextureHandle)>,
}

/// The models' matrices for one key: all six methods (flow up to its token limit) and, with a
/// masked-LM head, integrated gradients at the followed token (50 steps).
fn compute(
    e: &mut crate::app::worker::Engine,
    ctl: &crate::insight::Control,
    (main, position, intervention): (Arc<Trace>, usize, crate::model::Intervention),
    compare: Option<(String, Option<String>, String)>,
) -> Result<Arc<Vec<Mixed>>, String> {
    let mut out = Vec::new();
    let mut one = |slot: ModelSlot,
                   name: String,
                   trace: Arc<Trace>,
                   e: &mut crate::app::worker::Engine|
     -> Result<(), String> {
        let m = e.model(slot)?;
        let c = mixing::compute(&m.config, &m.weights, &trace, &Method::ALL, Some(ctl))
            .map_err(|e| e.to_string())?;
        let gradient = match (&m.weights.mlm, slot) {
            (Some(_), _) => {
                let ablate = if slot == ModelSlot::Main {
                    intervention.ablate.clone()
                } else {
                    Default::default()
                };
                let pos = trace.focus(Some(position));
                let a = crate::insight::attribution::attribute_with(
                    m,
                    (&trace.input(), &ablate),
                    (pos, None),
                    50,
                    ctl,
                )
                .map_err(|e| e.to_string())?;
                Some(a.integrated_gradients)
            }
            (None, _) => None,
        };
        out.push(Mixed {
            name,
            trace,
            contributions: c,
            gradient,
        });
        Ok(())
    };
    one(ModelSlot::Main, String::new(), main, e)?;
    if let Some((text, pair, name)) = compare {
        let traced = e.run(
            ModelSlot::Compare,
            (&text, pair.as_deref()),
            false,
            &Default::default(),
        )?;
        one(ModelSlot::Compare, name, traced.trace, e)?;
    }
    Ok(Arc::new(out))
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
        if let Some(e) = self.job.poll_err() {
            if !e.contains("cancelled") {
                cx.status.error = Some(format!("context mixing: {e}"));
            }
        }
        let key = self.key(cx, trace);
        let compare = key.compare.map(|_| {
            (
                cx.input.text.clone(),
                cx.input.pair.clone(),
                cx.label(ModelSlot::Compare),
            )
        });
        if let Some(ticket) = self.job.ask(key.clone(), &cx.wake) {
            let args = (trace.clone(), key.position, cx.input.intervention.clone());
            cx.worker
                .run(ticket, move |e, ctl| compute(e, ctl, args, compare));
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
        ui.horizontal_wrapped(|ui| {
            ui.spacing_mut().item_spacing.x = 3.0;
            ui.label("Output token followed:");
            for (i, t) in trace.tokens.iter().enumerate() {
                if ui.selectable_label(i == pos, t).clicked() {
                    self.settings.view.position = Some(i);
                }
            }
        });
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
        self.job.pending()
    }

    fn save(&self) -> serde_json::Value {
        to_json(&self.settings)
    }

    fn load(&mut self, settings: serde_json::Value) {
        from_json(settings, &mut self.settings);
    }
}
