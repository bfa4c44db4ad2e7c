//! The Shared vs unshared tab: the ALBERT paper's Figure 1 on the user's text (the main model,
//! the comparison model, and the what-if that applies the shared layer more times), the
//! parameter accounting with the paper's tables, and the cross-layer Jensen–Shannon distances.

use super::projection::rgb;
use super::{export_button, from_json, to_json, Built, Tab};
use crate::app::jobs::{self, Job};
use crate::app::session::Session;
use crate::app::widgets::heatmap::{self, MapTexture, ZoomPan};
use crate::app::worker::{ModelSlot, Traced};
use crate::colormap::{Colormap, Scale};
use crate::figures::scenes::Figure1Line;
use crate::figures::Theme;
use crate::insight::{self, JsMode};
use crate::model::Trace;
use crate::params::{Arch, Sharing};
use crate::views::{self, js, View};
use egui::Vec2;
use std::sync::Arc;

mod keys;
mod params_table;
use keys::{CompareKey, Fig1Key, JsKey, RepeatKey, ThumbKey};
use params_table::{Counted, MoreKey, Opened};

/// What the tab persists.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SharedSettings {
    /// the unshare what-if's repetition counts, as typed
    pub repeats_text: String,
    pub js_mode: JsMode,
    /// the parameter calculator's configuration
    pub calc: Arch,
    /// more models counted in the parameter table
    #[serde(skip_serializing_if = "no_more_models")]
    pub parameters: views::parameters::Options,
}

fn no_more_models(o: &views::parameters::Options) -> bool {
    o.more.is_empty()
}

impl Default for SharedSettings {
    fn default() -> Self {
        SharedSettings {
            repeats_text: "6, 12, 24".into(),
            js_mode: JsMode::MatchedHeads,
            calc: Arch::paper(128, 768, 12, Sharing::All),
            parameters: Default::default(),
        }
    }
}

/// The what-if's traces: (repetitions, trace).
pub type RepeatTraces = Vec<(usize, Arc<Trace>)>;

/// A what-if thumbnail and its texture.
type RepeatTexture = (ThumbKey, egui::TextureHandle);

#[derive(Default)]
pub struct SharedTab {
    pub settings: SharedSettings,
    compare: Job<CompareKey, Traced>,
    repeats: Job<RepeatKey, RepeatTraces>,
    js: Job<JsKey, JsPair>,
    fig1: Option<(Fig1Key, Vec<Figure1Line>)>,
    js_tex: [Option<MapTexture>; 2],
    repeat_tex: Vec<Option<RepeatTexture>>,
    /// the tooltip of the hovered JS cell
    pub hover_text: Option<String>,
    /// the models counted beside the window's two, once opened off the UI thread
    more: Job<MoreKey, Counted>,
    /// the typed models, kept open while listed
    opened: Opened,
    /// the list whose failures the status bar has shown
    more_reported: Option<Vec<String>>,
    /// the model being typed into the parameter table
    more_text: String,
}

impl SharedTab {
    /// The comparison model's trace on the same text, once it has run.
    pub fn compare_trace(&self) -> Option<&Arc<Trace>> {
        match self.compare.latest() {
            Some((_, Ok(t))) => Some(&t.trace),
            _ => None,
        }
    }

    /// The what-if's traces of the current input, once they have run.
    pub fn repeats(&self) -> Option<&RepeatTraces> {
        match self.repeats.current() {
            Some(Ok(r)) => Some(r),
            _ => None,
        }
    }

    /// Installs traces made elsewhere (the UI benchmark's).
    pub fn set_traces(&mut self, wake: &jobs::Waker, compare: Traced, repeats: RepeatTraces) {
        let (input, model_gen) = (0, 0);
        if let Some(t) = self.compare.ask(CompareKey { input, model_gen }, wake) {
            t.finish(Ok(compare));
        }
        let key = RepeatKey {
            input,
            model_gen,
            repeats: repeats.iter().map(|r| r.0).collect(),
        };
        if let Some(t) = self.repeats.ask(key, wake) {
            t.finish(Ok(repeats));
        }
        self.compare.poll();
        self.repeats.poll();
    }

    fn compare_key(&self) -> Option<CompareKey> {
        self.compare.latest().filter(|r| r.1.is_ok()).map(|r| r.0)
    }

    fn repeat_key(&self) -> Option<RepeatKey> {
        self.repeats
            .latest()
            .filter(|r| r.1.is_ok())
            .map(|r| r.0.clone())
    }

    /// Asks for the comparison model's run and the what-if when the input or a model changed.
    fn ask(&mut self, cx: &mut Session) {
        self.ask_more(cx);
        if let Some(e) = self.compare.poll_err() {
            cx.status.error = Some(format!("comparison model: {e}"));
        }
        if let Some(e) = self.repeats.poll_err() {
            cx.status.error = Some(format!("unshare what-if: {e}"));
        }
        if cx.input.seq == 0 {
            return;
        }
        let (text, pair) = (cx.input.text.clone(), cx.input.pair.clone());
        if cx.info(ModelSlot::Compare).is_some() {
            let key = CompareKey {
                input: cx.input.seq,
                model_gen: cx.models[ModelSlot::Compare as usize].gen,
            };
            if let Some(ticket) = self.compare.ask(key, &cx.wake) {
                let (text, pair) = (text.clone(), pair.clone());
                cx.worker.run(ticket, move |e, _| {
                    e.run(
                        ModelSlot::Compare,
                        (&text, pair.as_deref()),
                        false,
                        &Default::default(),
                    )
                });
            }
        }
        let albert = cx
            .info(ModelSlot::Main)
            .is_some_and(|i| i.model_type.family().shared_layers);
        if !albert {
            return;
        }
        let reps = match parse_repeats(&self.settings.repeats_text) {
            Ok(r) => r,
            Err(e) => {
                cx.status.error = Some(format!("what-if: {e}"));
                return;
            }
        };
        if reps.is_empty() {
            self.repeats.reset();
            return;
        }
        let key = RepeatKey {
            input: cx.input.seq,
            model_gen: cx.models[0].gen,
            repeats: reps.clone(),
        };
        if let Some(ticket) = self.repeats.ask(key, &cx.wake) {
            cx.worker
                .run(ticket, move |e, _| e.what_if(&text, pair.as_deref(), &reps));
        }
    }

    /// Figure 1's lines: the main model, the comparison model, the models typed into the
    /// parameter table, and the what-if repetitions.
    fn figure1_data(&self, cx: &Session, trace: &Trace) -> views::figure1::Data {
        let repeats: Vec<(usize, &Trace)> = self
            .repeats()
            .map(|r| r.iter().map(|(n, t)| (*n, t.as_ref())).collect())
            .unwrap_or_default();
        let more: Vec<(&str, &Trace)> = self
            .more_runs()
            .filter_map(|r| Some((r.column.model.as_str(), r.trace.as_deref()?)))
            .collect();
        let (main, compare) = (cx.label(ModelSlot::Main), cx.label(ModelSlot::Compare));
        let runs = views::figure1::Runs {
            main: (&main, trace),
            compare: self.compare_trace().map(|c| (compare.as_str(), c.as_ref())),
            more: &more,
            repeats: &repeats,
        };
        views::figure1::derive(&cx.input.text, &runs, cx.settings.hide_special)
    }

    fn figure1(&mut self, ui: &mut egui::Ui, cx: &mut Session, trace: &Trace) {
        ui.heading("Layer input vs output (ALBERT paper, Figure 1)");
        ui.horizontal_wrapped(|ui| {
            let label = ui.label("What-if: apply the shared layer");
            let edit =
                egui::TextEdit::singleline(&mut self.settings.repeats_text).desired_width(90.0);
            ui.add(edit).labelled_by(label.id);
            ui.label("times (comma-separated)");
            ui.checkbox(&mut cx.settings.hide_special, "Hide special tokens");
            export_button(self, ui, cx, "figure1");
        });
        if let Some(family) = cx
            .info(ModelSlot::Main)
            .map(|i| i.model_type.family())
            .filter(|f| !f.shared_layers)
        {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!(
                    "The what-if repeats a shared layer, so it needs an ALBERT as the main model (Model menu); this one is {}.",
                    family.with_article()
                ),
            );
        }
        ui.weak(format!(
            "{}{}.",
            insight::FIGURE1_AVERAGING,
            if cx.settings.hide_special {
                " ([CLS], [SEP] and other special tokens left out)"
            } else {
                " (special tokens included)"
            }
        ));
        let key = Fig1Key {
            trace_gen: cx.trace_gen,
            compare: self.compare_key(),
            repeats: self.repeat_key(),
            more: self.more_key(),
            hide_special: cx.settings.hide_special,
        };
        if self.fig1.as_ref().is_none_or(|(k, _)| *k != key) {
            let data = self.figure1_data(cx, trace);
            self.fig1 = Some((key, data.lines));
        }
        if let Some((_, lines)) = &self.fig1 {
            figure1_plots(ui, lines);
        }
        if self.compare_trace().is_none() {
            ui.weak("Open a comparison model (Compare menu; bert-mini is built in) to see the unshared BERT on the same text.");
        }
    }

    fn js_key(&self, cx: &Session) -> JsKey {
        JsKey {
            trace_gen: cx.trace_gen,
            compare: self.compare_key(),
            mode: self.settings.js_mode,
        }
    }

    fn js_section(&mut self, ui: &mut egui::Ui, cx: &mut Session, trace: &Arc<Trace>) {
        let heads = trace.num_heads;
        let mode = &mut self.settings.js_mode;
        ui.horizontal_wrapped(|ui| {
            crate::app::widgets::combo(ui, ("js_mode", "Compare"), mode.name(), |ui| {
                let all = [JsMode::MatchedHeads, JsMode::MeanOfHeads];
                for m in all.into_iter().chain((0..heads).map(JsMode::Head)) {
                    ui.selectable_value(mode, m, m.name());
                }
            });
        });
        ui.weak("Each cell: the Jensen-Shannon distance (base 2, 0 = the same attention, 1 = disjoint) between two layers' attention distributions, averaged over query tokens. ALBERT runs one set of weights at every depth, yet attends differently at each.");
        let mode = self.settings.js_mode;
        let key = self.js_key(cx);
        if let Some(e) = self.js.poll_err() {
            cx.status.error = Some(format!("JS distances: {e}"));
        }
        if let Some(ticket) = self.js.ask(key, &cx.wake) {
            let (t1, t2) = (trace.clone(), self.compare_trace().cloned());
            let names = (cx.label(ModelSlot::Main), cx.label(ModelSlot::Compare));
            jobs::spawn("JS distances", ticket, move |_| {
                js_pair(
                    (&names.0, &t1),
                    t2.as_deref().map(|t| (names.1.as_str(), t)),
                    mode,
                )
            });
        }
        if self.js.pending() {
            ui.spinner();
        }
        let (a, b) = match self.js.get(&key) {
            Some(Ok(v)) => v.clone(),
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, e);
                return;
            }
            None => return,
        };
        let mats: Vec<(ModelSlot, js::Data)> = [
            Some((ModelSlot::Main, a)),
            b.map(|b| (ModelSlot::Compare, b)),
        ]
        .into_iter()
        .flatten()
        .collect();
        // each map takes its side plus 160 points of labels and colour bar: both fit the row
        let side = (ui.available_width() / mats.len().max(1) as f32 - 176.0).clamp(120.0, 420.0);
        let colormap = cx.settings.colormap;
        ui.horizontal(|ui| {
            for (i, (slot, d)) in mats.iter().enumerate() {
                ui.vertical(|ui| {
                    ui.horizontal(|ui| {
                        ui.strong(&d.model);
                        let what = if *slot == ModelSlot::Main {
                            "js main"
                        } else {
                            "js compare"
                        };
                        export_button(self, ui, cx, what);
                    });
                    let data = js::map_data(d);
                    let gen = {
                        use std::hash::{Hash, Hasher};
                        let mut h = std::collections::hash_map::DefaultHasher::new();
                        (&key, i).hash(&mut h);
                        h.finish()
                    };
                    let px = heatmap::Pixels {
                        gen,
                        values: &data.matrix.values,
                        size: [d.layers, d.layers],
                    };
                    let tex = heatmap::texture(
                        ui.ctx(),
                        &mut self.js_tex[i],
                        "js",
                        px,
                        colormap,
                        &data.scale,
                    );
                    let mut zp = ZoomPan::default();
                    ui.push_id(("js_map", i), |ui| {
                        ui.allocate_ui(Vec2::new(side + 160.0, side + 90.0), |ui| {
                            let (tip, _) = heatmap::show(ui, &data, &tex, colormap, &mut zp);
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
        self.what_if_thumbnails(ui, colormap);
    }

    /// The last layer's attention (mean of heads) of each what-if run.
    fn what_if_thumbnails(&mut self, ui: &mut egui::Ui, cmap: Colormap) {
        let (Some(key), Some(reps)) = (self.repeat_key(), self.repeats().cloned()) else {
            return;
        };
        if reps.is_empty() {
            return;
        }
        ui.add_space(6.0);
        ui.strong("What-if: attention of the last layer (mean of heads) with the shared layer applied more times");
        // one colour scale for every thumbnail (shown beside them), so that they compare: a
        // near-uniform map reads as pale, not as solid yellow at its own maximum
        let means: Vec<Vec<f32>> = reps
            .iter()
            .map(|(_, t)| {
                let last = t.attentions.len() - 1;
                crate::analysis::mean_heads(&t.attentions[last], t.num_heads, t.num_tokens())
            })
            .collect();
        let hi = means
            .iter()
            .flatten()
            .copied()
            .fold(0.0, f32::max)
            .max(1e-9);
        let scale = Scale {
            lo: 0.0,
            hi,
            log: false,
        };
        ui.horizontal_wrapped(|ui| {
            for (i, ((r, t), m)) in reps.iter().zip(&means).enumerate() {
                let n = t.num_tokens();
                let last = t.attentions.len() - 1;
                while self.repeat_tex.len() <= i {
                    self.repeat_tex.push(None);
                }
                let want = ThumbKey {
                    what_if: key.clone(),
                    repeats: *r,
                    colormap: cmap,
                    top: hi.to_bits(),
                };
                let tex = match &mut self.repeat_tex[i] {
                    Some((k, h)) if *k == want => h.clone(),
                    slot => {
                        let px = crate::colormap::render_rgba(m, cmap, &scale);
                        let img = egui::ColorImage::from_rgba_unmultiplied(
                            [n, n],
                            bytemuck::cast_slice(&px),
                        );
                        let h = ui.ctx().load_texture(
                            format!("rep{i}"),
                            img,
                            egui::TextureOptions::NEAREST,
                        );
                        *slot = Some((want, h.clone()));
                        h
                    }
                };
                ui.vertical(|ui| {
                    ui.label(format!("x{r}: layer {}", last + 1));
                    ui.image((tex.id(), Vec2::splat(140.0)));
                });
            }
            ui.vertical(|ui| {
                ui.label("weight");
                let (rect, _) =
                    ui.allocate_exact_size(Vec2::new(14.0, 140.0), egui::Sense::hover());
                crate::app::widgets::heatmap::colorbar(ui, rect, cmap, &scale);
            });
            ui.add_space(40.0);
        });
    }
}

impl Tab for SharedTab {
    fn id(&self) -> &'static str {
        "shared"
    }

    fn title(&self) -> &'static str {
        "Shared vs unshared"
    }

    fn ui(&mut self, ui: &mut egui::Ui, cx: &mut Session) {
        self.ask(cx);
        let Some(trace) = cx.trace().cloned() else {
            super::no_trace(ui);
            return;
        };
        // both ways: a narrow window scrolls to the comparison model's matrix, not cut off
        egui::ScrollArea::both().show(ui, |ui| {
            self.figure1(ui, cx, &trace);
            ui.separator();
            ui.heading("Parameters");
            self.params_section(ui, cx);
            ui.separator();
            ui.heading("Attention similarity across layers");
            self.js_section(ui, cx, &trace);
        });
    }

    fn exports(&self) -> &'static [&'static str] {
        &["figure1", "js main", "js compare", "parameters", "params"]
    }

    fn animates(&self, what: &str) -> bool {
        what == "figure1"
    }

    fn animate(
        &mut self,
        what: &str,
        cx: &Session,
        theme: &Theme,
    ) -> Option<Result<Vec<crate::figures::Figure>, String>> {
        if what != "figure1" {
            return None;
        }
        let trace = cx.trace()?.clone();
        let data = self.figure1_data(cx, &trace);
        Some(Ok(views::figure1::frames(&data, theme)))
    }

    fn export(&mut self, what: &str, cx: &Session, theme: &Theme) -> Built {
        let trace = cx
            .trace()
            .cloned()
            .ok_or("nothing to export yet: no model has run")?;
        let e = |x: crate::LensError| x.to_string();
        match what {
            "figure1" => {
                let data = self.figure1_data(cx, &trace);
                views::figure1::figure(&data, theme).map_err(e)
            }
            "params" => views::build(&View::Params, theme).map_err(e),
            "parameters" => {
                let data = self.parameters_data(cx);
                views::build(&View::Parameters { data: &data }, theme).map_err(e)
            }
            _ => {
                // the matrices the tab shows, when they are ready; else computed here alike
                let (a, b) = match self.js.get(&self.js_key(cx)) {
                    Some(Ok(pair)) => pair.clone(),
                    _ => {
                        let (main, compare) =
                            (cx.label(ModelSlot::Main), cx.label(ModelSlot::Compare));
                        let t2 = self.compare_trace().cloned();
                        let c = t2.as_deref().map(|t| (compare.as_str(), t));
                        js_pair((&main, &trace), c, self.settings.js_mode)?
                    }
                };
                let d = if what == "js main" {
                    a
                } else {
                    b.ok_or("no comparison trace")?
                };
                js::figure(&d, cx.settings.colormap, theme).map_err(e)
            }
        }
    }

    fn busy(&self) -> bool {
        self.compare.pending() || self.repeats.pending() || self.js.pending() || self.more.pending()
    }

    fn save(&self) -> serde_json::Value {
        to_json(&self.settings)
    }

    fn load(&mut self, settings: serde_json::Value) {
        from_json(settings, &mut self.settings);
    }
}

/// The JS matrices of the main model and, when there is one, the comparison model.
type JsPair = (js::Data, Option<js::Data>);

/// [`js::derive_pair`] with its error as the tab shows it.
fn js_pair(
    main: (&str, &Trace),
    compare: Option<(&str, &Trace)>,
    mode: JsMode,
) -> Result<JsPair, String> {
    js::derive_pair(main, compare, mode).map_err(|e| e.to_string())
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

/// Figure 1 as two egui_plot panels (L2 distance, angle), one line per model.
fn figure1_plots(ui: &mut egui::Ui, lines: &[Figure1Line]) {
    let w = (ui.available_width() / 2.0 - 8.0).max(200.0);
    ui.horizontal(|ui| {
        for (id, title, f) in [
            (
                "fig1_l2",
                "L2 distance",
                (|t: &insight::Transition| t.l2) as fn(&insight::Transition) -> f64,
            ),
            (
                "fig1_angle",
                "Cosine similarity (degrees)",
                |t: &insight::Transition| t.angle_deg,
            ),
        ] {
            ui.vertical(|ui| {
                ui.label(title);
                egui_plot::Plot::new(id)
                    .width(w)
                    .height(260.0)
                    // the legend in the lines' order (x6, x12, x24), not sorted as text
                    .legend(egui_plot::Legend::default().follow_insertion_order(true))
                    .x_axis_label("layer")
                    .include_y(0.0)
                    .allow_scroll(false)
                    .show(ui, |plot| {
                        // in order, each line drawn thinner than the ones under it: where the
                        // what-ifs share the model's first layers, every line still shows
                        let dashed = lines.iter().filter(|l| l.dashed).count();
                        for (k, l) in lines.iter().enumerate() {
                            let pts: Vec<[f64; 2]> = l
                                .transitions
                                .iter()
                                .enumerate()
                                .map(|(i, t)| [(i + 1) as f64, f(t)])
                                .collect();
                            let width = if l.dashed {
                                let rank = k.saturating_sub(lines.len() - dashed);
                                2.2 - 1.2 * rank as f32 / (dashed.max(2) - 1) as f32
                            } else {
                                3.0
                            };
                            let mut line = egui_plot::Line::new(l.name.clone(), pts)
                                .color(rgb(l.color))
                                .width(width);
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
