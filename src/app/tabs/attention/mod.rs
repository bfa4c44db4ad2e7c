//! The Attention tab: one map as a heatmap (a head, the mean or max of the heads, rollout,
//! value-weighted norms, or a difference against a second text or the comparison model),
//! every layer × head as thumbnails, or BertViz-style token links.

mod figures;

use super::{export_button, from_json, to_json, Built, Tab};
use crate::analysis::maps::{MapData, MapKey, ValueMaps};
use crate::analysis::{HeadSel, Measure};
use crate::app::jobs::Job;
use crate::app::session::Session;
use crate::app::widgets::heatmap::{self, MapTexture, ZoomPan};
use crate::app::widgets::model_grid::{self, Atlas, AtlasKey};
use crate::app::widgets::token_links::{self, LinkLayer};
use crate::app::worker::{ModelSlot, Traced};
use crate::colormap::Colormap;
use crate::figures::Figure;
use crate::figures::Theme;
use crate::model::Trace;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AttnView {
    /// every layer × head as thumbnails
    Model,
    /// one map, full size
    Heatmap,
    /// BertViz-style lines between two token columns
    Links,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DiffMode {
    Off,
    /// the main model on a second text
    SecondText,
    /// the comparison model on the same text
    CompareModel,
    /// the run with the intervention (heads off, tokens masked) minus the intact run
    Intervention,
}

impl DiffMode {
    pub const ALL: [DiffMode; 4] = [
        DiffMode::Off,
        DiffMode::SecondText,
        DiffMode::CompareModel,
        DiffMode::Intervention,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DiffMode::Off => "No difference",
            DiffMode::SecondText => "Difference: second text",
            DiffMode::CompareModel => "Difference: comparison model",
            DiffMode::Intervention => "Difference: intervention − intact",
        }
    }
}

/// What the tab persists.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct AttentionSettings {
    pub view: AttnView,
    pub head: HeadSel,
    pub measure: Measure,
    pub diff: DiffMode,
    /// the difference's second text
    pub diff_text: String,
    /// heads overlaid in the token-links view (empty: the selected map)
    pub link_heads: Vec<usize>,
    pub log_scale: bool,
    /// one colour scale for every layer and head instead of each map's own range
    pub shared_scale: bool,
    /// with special tokens hidden, renormalise each row to sum to 1
    pub renormalise: bool,
    /// attention per word instead of per word piece (Clark et al.: to a word = sum over its
    /// pieces, from a word = mean)
    pub words: bool,
}

impl Default for AttentionSettings {
    fn default() -> Self {
        AttentionSettings {
            view: AttnView::Heatmap,
            head: HeadSel::Mean,
            measure: Measure::Attention,
            diff: DiffMode::Off,
            diff_text: "The animal didn't cross the street because it was too wide.".into(),
            link_heads: Vec::new(),
            log_scale: false,
            shared_scale: false,
            renormalise: true,
            words: false,
        }
    }
}

/// A trace the views show, with the rollout of its maps.
pub type Shown = (Arc<Trace>, Arc<Vec<Vec<f32>>>);

/// A trace merged to words, and the rollout of its word-level maps.
fn word_level(trace: &Trace) -> Shown {
    let w = crate::analysis::words::word_trace(trace);
    let r = crate::analysis::rollout(&w).unwrap_or_default();
    (Arc::new(w), Arc::new(r))
}

/// The value-weighted maps' key: the trace (its generation) and the layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ValueKey {
    trace_gen: u64,
    layer: usize,
}

impl ValueKey {
    fn new(trace_gen: u64, layer: usize) -> Self {
        ValueKey { trace_gen, layer }
    }
}

/// What a difference run was made for: the input (its sequence number), the mode, and the
/// generation of the model it ran on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DiffKey {
    input: u64,
    mode: DiffMode,
    model_gen: u64,
}
/// Models with up to this many attention cells (layers × heads × N²) have their model-view
/// atlas made on the UI thread (under a millisecond); larger ones on a thread of their own.
const ATLAS_SYNC_CELLS: usize = 1 << 20;

#[derive(Default)]
pub struct AttentionTab {
    pub settings: AttentionSettings,
    diff: Job<DiffKey, Traced>,
    /// bumped when a difference trace arrives (the map's key)
    diff_gen: u64,
    value: Job<ValueKey, ValueMaps>,
    map_key: Option<MapKey>,
    /// the map the heatmap and token links show
    pub map: Option<Result<MapData, String>>,
    /// the trace merged to words and its rollout, for the trace generation it was made from
    words_cache: Option<(u64, Shown)>,
    map_gen: u64,
    heat_tex: Option<MapTexture>,
    grid_tex: Option<MapTexture>,
    atlas: Option<(AtlasKey, Arc<Atlas>)>,
    atlas_gen: u64,
    /// a large model's atlas, downsampled on a thread of its own
    atlas_job: Job<AtlasKey, Arc<Atlas>>,
    pub zoom: ZoomPan,
    /// the tooltip text of the hovered heatmap cell (tests read it)
    pub hover_text: Option<String>,
    /// where the heatmap's matrix was drawn last frame (tests and the UI benchmark use it)
    pub heatmap_rect: Option<egui::Rect>,
    /// top-left of the model view's first thumbnail and the thumbnail pitch (tests use it)
    pub grid_origin: Option<(egui::Pos2, f32)>,
    links_hover: Option<(bool, usize)>,
    /// the token clicked in the token links: its lines stay (and the export draws them)
    pub links_pinned: Option<(bool, usize)>,
}

impl AttentionTab {
    /// The trace the difference subtracts, once it has run.
    pub fn diff_trace(&self) -> Option<&Arc<Trace>> {
        self.diff_run().map(|t| &t.trace)
    }

    /// The newest difference run of the current mode.
    fn diff_run(&self) -> Option<&Traced> {
        match self.diff.latest() {
            Some((key, Ok(t))) if key.mode == self.settings.diff => Some(t),
            _ => None,
        }
    }

    /// Asks for the difference's second run when the input, the mode or the model changed.
    fn ask_diff(&mut self, cx: &mut Session) {
        if self.diff.poll() {
            self.diff_gen += 1;
            if let Some((_, Err(e))) = self.diff.latest() {
                cx.status.error = Some(format!("difference: {e}"));
            }
        }
        let (slot, text) = match self.settings.diff {
            // the intact run comes with the main one
            DiffMode::Off | DiffMode::Intervention => return,
            DiffMode::SecondText => (ModelSlot::Main, self.settings.diff_text.clone()),
            DiffMode::CompareModel => (ModelSlot::Compare, cx.input.text.clone()),
        };
        if cx.info(slot).is_none() || cx.input.seq == 0 {
            return;
        }
        let key = DiffKey {
            input: cx.input.seq,
            mode: self.settings.diff,
            model_gen: cx.models[slot as usize].gen,
        };
        if let Some(ticket) = self.diff.ask(key, &cx.wake) {
            let pair = cx.input.pair.clone();
            cx.worker.run(ticket, move |e, _| {
                e.run(slot, (&text, pair.as_deref()), false, &Default::default())
            });
        }
    }

    /// Asks the worker for the value-weighted maps of the shown layer when they are needed.
    fn ask_value(&mut self, cx: &mut Session) {
        if let Some(e) = self.value.poll_err() {
            cx.status.error = Some(format!("value-weighted attention: {e}"));
        }
        let Some(trace) = cx.trace().cloned() else {
            return;
        };
        if self.settings.measure != Measure::ValueNorm {
            return;
        }
        let layer = cx.settings.layer;
        if let Some(ticket) = self.value.ask(ValueKey::new(cx.trace_gen, layer), &cx.wake) {
            cx.worker.run(ticket, move |e, _| {
                let m = e.model(ModelSlot::Main)?;
                let (per_head, all) =
                    crate::analysis::value_weighted(&m.config, &m.weights, &trace, layer)
                        .map_err(|e| e.to_string())?;
                Ok(ValueMaps {
                    layer,
                    per_head: Arc::new(per_head),
                    all: Arc::new(all),
                })
            });
        }
    }

    /// The trace the views show and its rollout: the session's, or merged to words.
    pub fn shown(&mut self, cx: &Session) -> Option<Shown> {
        let trace = cx.trace()?.clone();
        if !self.settings.words {
            return Some((trace, cx.rollout()));
        }
        match &self.words_cache {
            Some((gen, shown)) if *gen == cx.trace_gen => Some(shown.clone()),
            _ => {
                let shown = word_level(&trace);
                self.words_cache = Some((cx.trace_gen, shown.clone()));
                Some(shown)
            }
        }
    }

    /// The map's options: the tab's settings and the session's layer and hidden tokens.
    pub fn map_options(&self, cx: &Session) -> crate::views::map::Options {
        let s = &self.settings;
        crate::views::map::Options {
            layer: cx.settings.layer,
            head: s.head,
            measure: s.measure,
            hide_special: cx.settings.hide_special,
            renormalise: s.renormalise,
            shared_scale: s.shared_scale,
            log: s.log_scale,
            words: s.words,
        }
    }

    /// The map for the current options, recomputed only when they changed.
    pub fn update_map(&mut self, cx: &Session) {
        let Some((trace, rollout)) = self.shown(cx) else {
            self.map = None;
            return;
        };
        let pieces = cx.trace().cloned();
        let s = &self.settings;
        let use_diff = s.diff != DiffMode::Off;
        let value_key = ValueKey::new(cx.trace_gen, cx.settings.layer);
        let value = match self.value.get(&value_key) {
            Some(Ok(v)) => Some(v),
            _ => None,
        };
        let key = self.map_options(cx).key(
            cx.trace_gen,
            use_diff.then_some(self.diff_gen),
            u64::from(value.is_some()),
        );
        if self.map_key.as_ref() == Some(&key) {
            return;
        }
        if s.measure == Measure::ValueNorm {
            if let Some(Err(e)) = self.value.get(&value_key) {
                self.map = Some(Err(e.clone()));
                self.map_key = Some(key);
                return;
            }
        }
        let intact = cx.traced().and_then(|t| t.intact.clone());
        let diff = if use_diff {
            let (main, compare) = (cx.info(ModelSlot::Main), cx.info(ModelSlot::Compare));
            let run = match s.diff {
                DiffMode::Intervention => intact.as_deref(),
                _ => self.diff_run(),
            };
            match (run, s.diff, compare, main) {
                (None, DiffMode::Intervention, _, _) => {
                    self.map = Some(Err(
                        "no intervention: switch a head off or mask a token (side panel)".into(),
                    ));
                    self.map_key = Some(key);
                    return;
                }
                (_, DiffMode::CompareModel, Some(c), Some(m))
                    if c.tokenizer_id != m.tokenizer_id =>
                {
                    self.map = Some(Err(format!(
                        "the comparison model ({}) uses a different tokenizer: a difference needs two models with the same tokenizer",
                        c.source.label()
                    )));
                    self.map_key = Some(key);
                    return;
                }
                (Some(t), _, _, _) if s.words => Some(word_level(&t.trace)),
                (Some(t), _, _, _) => Some((t.trace.clone(), t.rollout.clone())),
                (None, _, _, _) => {
                    self.map = Some(Err("running the second input…".into()));
                    self.map_key = None;
                    return;
                }
            }
        } else {
            None
        };
        // value-weighted maps come per piece from the worker: merged like the attention
        let merged;
        let value = match (value, pieces) {
            (Some(v), Some(p)) if s.words => {
                merged = v.merged_to_words(&p);
                Some(&merged)
            }
            (v, _) => v,
        };
        let (a, b) = self.operands(cx);
        self.map = Some(
            crate::views::map::derive(
                (&trace, &rollout),
                value,
                diff.as_ref().map(|(t, r)| (t.as_ref(), r.as_slice())),
                &key,
            )
            .map(|mut d| {
                d.name_operands(&a, &b);
                d
            }),
        );
        self.map_gen += 1;
        self.map_key = Some(key);
    }

    fn toolbar(&mut self, ui: &mut egui::Ui, cx: &mut Session) {
        let (maps, heads) = cx
            .trace()
            .map_or((1, 1), |t| (t.attentions.len().max(1), t.num_heads.max(1)));
        let s = &mut self.settings;
        let p = &mut cx.settings;
        ui.horizontal_wrapped(|ui| {
            ui.selectable_value(&mut s.view, AttnView::Model, "Model view");
            ui.selectable_value(&mut s.view, AttnView::Heatmap, "Heatmap");
            ui.selectable_value(&mut s.view, AttnView::Links, "Token links");
            ui.separator();
            if s.view != AttnView::Model {
                // shown within the model's layers, stored only when moved (so that a layer set
                // before a model has run, by a scene, survives the first frames)
                let mut l = p.layer.min(maps - 1) + 1;
                if crate::app::widgets::labelled(ui, "Layer", egui::Slider::new(&mut l, 1..=maps))
                    .changed()
                {
                    p.layer = l - 1;
                }
                // rollout folds every head in (Abnar & Zuidema): no heads choice applies to it
                let rollout = s.measure == Measure::Rollout;
                ui.add_enabled_ui(!rollout, |ui| {
                    crate::app::widgets::combo(ui, ("heads", "Heads"), s.head.name(), |ui| {
                        ui.selectable_value(&mut s.head, HeadSel::Mean, HeadSel::Mean.name());
                        ui.selectable_value(&mut s.head, HeadSel::Max, HeadSel::Max.name());
                        for h in 0..heads {
                            let sel = HeadSel::Head(h);
                            ui.selectable_value(&mut s.head, sel, sel.name());
                        }
                    })
                    .on_disabled_hover_text(
                        "rollout combines every head of every layer up to this one (the mean of heads with the residual folded in): the heads choice does not apply",
                    );
                });
                crate::app::widgets::combo(ui, ("measure", "Measure"), s.measure.name(), |ui| {
                    for m in Measure::ALL {
                        ui.selectable_value(&mut s.measure, m, m.name())
                            .on_hover_text(m.description());
                    }
                });
            }
        });
        ui.horizontal_wrapped(|ui| {
            // a difference is always drawn on the diverging map: the box says so, greyed
            let diverging = s.diff != DiffMode::Off;
            let shown = if diverging {
                Colormap::Diverging.name()
            } else {
                p.colormap.name()
            };
            ui.add_enabled_ui(!diverging, |ui| {
                crate::app::widgets::combo(ui, ("colormap", "Colormap"), shown, |ui| {
                    for c in Colormap::ALL {
                        ui.selectable_value(&mut p.colormap, c, c.name());
                    }
                })
                .on_disabled_hover_text(
                    "a difference is drawn on the diverging map (blue below 0, red above)",
                );
            });
            ui.checkbox(&mut s.log_scale, "Log scale");
            ui.checkbox(&mut s.shared_scale, "Shared colour scale").on_hover_text(
                "one scale for every layer and head (0–1 for weights) instead of each map's own range",
            );
            ui.checkbox(&mut p.hide_special, "Hide special tokens");
            ui.checkbox(&mut s.words, "Per word").on_hover_text(
                "attention between words instead of word pieces (Clark et al. 2019): to a word, the sum over its pieces; from a word, the mean",
            );
            ui.add_enabled(
                p.hide_special,
                egui::Checkbox::new(&mut s.renormalise, "Renormalise rows"),
            );
            ui.separator();
            crate::app::widgets::combo(ui, ("diff", "Difference"), s.diff.name(), |ui| {
                    for d in DiffMode::ALL {
                        ui.selectable_value(&mut s.diff, d, d.name());
                    }
                });
        });
        if self.settings.diff == DiffMode::SecondText {
            ui.horizontal(|ui| {
                ui.label("Text B:");
                let edit = egui::TextEdit::singleline(&mut self.settings.diff_text)
                    .desired_width(f32::INFINITY);
                if ui.add(edit).changed() {
                    cx.touch();
                }
            });
        }
    }

    fn model_view(&mut self, ui: &mut egui::Ui, cx: &mut Session, trace: &Arc<Trace>) {
        let (p, s) = (&cx.settings, &self.settings);
        let key = AtlasKey {
            trace_gen: cx.trace_gen,
            hide_special: p.hide_special,
            renormalise: s.renormalise,
            shared_scale: s.shared_scale,
            words: s.words,
        };
        if self.atlas.as_ref().is_none_or(|(k, _)| *k != key) {
            let keep = trace.kept_tokens(p.hide_special);
            let (renorm, shared) = (s.renormalise, s.shared_scale);
            let n = trace.num_tokens();
            let cells = n * n * trace.attentions.len() * trace.num_heads;
            if cells <= ATLAS_SYNC_CELLS {
                let atlas = model_grid::atlas(trace, &keep, renorm, shared);
                self.atlas = Some((key, Arc::new(atlas)));
                self.atlas_gen += 1;
            } else {
                // the previous atlas stays up until this one is ready
                self.atlas_job.poll();
                if let Some(Ok(a)) = self.atlas_job.get(&key) {
                    self.atlas = Some((key, a.clone()));
                    self.atlas_gen += 1;
                } else if let Some(ticket) = self.atlas_job.ask(key, &cx.wake) {
                    let t = trace.clone();
                    crate::app::jobs::spawn("model view", ticket, move |_| {
                        Ok(Arc::new(model_grid::atlas(&t, &keep, renorm, shared)))
                    });
                }
            }
        }
        ui.weak(format!(
            "Every layer × head of attention ({}); click one to open it.",
            if s.shared_scale {
                "one scale, 0–1"
            } else {
                "each thumbnail scaled to its own maximum"
            }
        ));
        let Some((_, atlas)) = &self.atlas else {
            return;
        };
        let clicked = model_grid::model_grid(
            ui,
            &mut self.grid_tex,
            self.atlas_gen,
            atlas,
            p.colormap,
            self.settings.log_scale,
            (p.layer, self.settings.head),
            &mut self.grid_origin,
        );
        if let Some((l, h)) = clicked {
            cx.settings.layer = l;
            self.settings.head = HeadSel::Head(h);
            self.settings.measure = Measure::Attention;
            self.settings.view = AttnView::Heatmap;
        }
    }

    fn heatmap_view(&mut self, ui: &mut egui::Ui, cx: &Session) {
        self.update_map(cx);
        match &self.map {
            Some(Ok(data)) => {
                ui.label(&data.matrix.name);
                let cmap = if data.diverging {
                    Colormap::Diverging
                } else {
                    cx.settings.colormap
                };
                let px = heatmap::Pixels {
                    gen: self.map_gen,
                    values: &data.matrix.values,
                    size: [data.matrix.cols, data.matrix.rows],
                };
                let tex = heatmap::texture(
                    ui.ctx(),
                    &mut self.heat_tex,
                    "heatmap",
                    px,
                    cmap,
                    &data.scale,
                );
                let (tooltip, rect) = heatmap::show(ui, data, &tex, cmap, &mut self.zoom);
                self.heatmap_rect = Some(rect);
                self.hover_text = tooltip;
            }
            Some(Err(why)) => {
                ui.weak(why);
            }
            None => {}
        }
    }

    fn links_view(&mut self, ui: &mut egui::Ui, cx: &Session, trace: &Trace) {
        self.update_map(cx);
        let heads = trace.num_heads;
        let links = &mut self.settings.link_heads;
        ui.horizontal_wrapped(|ui| {
            ui.label("Overlay heads:");
            for h in 0..heads {
                let mut on = links.contains(&h);
                let colors = &crate::views::links::HEAD_COLORS;
                let [r, g, b] = colors[h % colors.len()];
                let color = egui::Color32::from_rgb(r, g, b);
                let label = egui::RichText::new(format!("H{}", h + 1)).color(color);
                if ui.checkbox(&mut on, label).changed() {
                    if on {
                        links.push(h);
                    } else {
                        links.retain(|x| *x != h);
                    }
                }
            }
            if ui.small_button("none").clicked() {
                links.clear();
            }
        });
        let links = match self.link_data(cx, trace, ui.visuals().dark_mode) {
            Ok(l) => l,
            Err(why) => {
                ui.weak(why);
                return;
            }
        };
        let layers: Vec<LinkLayer<'_>> = links
            .sets
            .iter()
            .map(|(map, [r, g, b])| LinkLayer {
                map,
                color: egui::Color32::from_rgb(*r, *g, *b),
            })
            .collect();
        ui.weak(&links.note);
        let hover = (&mut self.links_hover, &mut self.links_pinned);
        token_links::token_links(ui, &links.labels, &layers, links.max, hover);
    }
}

impl Tab for AttentionTab {
    fn id(&self) -> &'static str {
        "attention"
    }

    fn title(&self) -> &'static str {
        "Attention"
    }

    fn ui(&mut self, ui: &mut egui::Ui, cx: &mut Session) {
        self.ask_diff(cx);
        self.toolbar(ui, cx);
        self.ask_value(cx);
        ui.horizontal(|ui| {
            export_button(self, ui, cx, "attention");
            ui.weak("the view as a figure (PNG, SVG) or its matrix (CSV, NPY, safetensors)");
        });
        ui.separator();
        let Some((trace, _)) = self.shown(cx) else {
            ui.centered_and_justified(|ui| {
                if cx.busy() {
                    ui.spinner();
                } else {
                    ui.weak("Open a model and type some text to see its attention.");
                }
            });
            return;
        };
        match self.settings.view {
            AttnView::Model => self.model_view(ui, cx, &trace),
            AttnView::Heatmap => self.heatmap_view(ui, cx),
            AttnView::Links => self.links_view(ui, cx, &trace),
        }
    }

    fn exports(&self) -> &'static [&'static str] {
        &["attention"]
    }

    fn export(&mut self, _what: &str, cx: &Session, theme: &Theme) -> Built {
        self.figure(cx, theme)
    }

    fn animates(&self, _what: &str) -> bool {
        self.settings.view != AttnView::Links && self.settings.measure != Measure::ValueNorm
    }

    fn animate(
        &mut self,
        _what: &str,
        cx: &Session,
        theme: &Theme,
    ) -> Option<Result<Vec<Figure>, String>> {
        if !self.animates("attention") {
            return None;
        }
        Some(self.layer_frames(cx, theme))
    }

    fn busy(&self) -> bool {
        self.diff.pending() || self.value.pending() || self.atlas_job.pending()
    }

    fn save(&self) -> serde_json::Value {
        to_json(&self.settings)
    }

    fn load(&mut self, settings: serde_json::Value) {
        from_json(settings, &mut self.settings);
    }
}
