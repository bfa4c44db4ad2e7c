//! The Corpus tab's token-level views: corpus search (exBERT: the corpus tokens whose hidden
//! state is nearest by cosine to a token of the current text) and the query–key view
//! (AttentionViz: one head's queries and keys of every corpus token in one 2D picture, keys
//! translated to the queries' centroid; PCA, or t-SNE by FIt-SNE). Token states are computed on
//! demand per layer on a thread of their own and cached on disk in f16.

use super::Models;
use crate::app::jobs::{self, Job};
use crate::app::session::Session;
use crate::corpus::search::{self, Hit, TokenStates};
use crate::corpus::CorpusSource;
use crate::figures::Rgb;
use crate::views::query_key;
use egui::{Color32, RichText};
use std::sync::Arc;

/// What the panels persist.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ExploreSettings {
    /// the hidden state searched (0: embeddings, l: after layer l)
    pub search_layer: usize,
    pub top_k: usize,
    /// the query–key view's map and head (from 0)
    pub qk_map: usize,
    pub qk_head: usize,
    pub tsne: bool,
    /// at most this many texts for the token views (their states are kept in memory)
    pub texts: u64,
}

impl Default for ExploreSettings {
    fn default() -> Self {
        ExploreSettings {
            search_layer: 1,
            top_k: 12,
            qk_map: 0,
            qk_head: 0,
            tsne: false,
            texts: 1000,
        }
    }
}

/// The token states of one depth of the main model on a corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct StatesKey {
    pub model: u64,
    pub corpus: CorpusSource,
    pub texts: u64,
    pub layer: usize,
}

/// A corpus search: the states searched, the trace generation and position of the query
/// token, and how many neighbours.
#[derive(Debug, Clone, PartialEq)]
struct SearchKey {
    states: StatesKey,
    trace_gen: u64,
    position: usize,
    k: usize,
}

/// A query–key picture: the states, the head, and t-SNE (else PCA).
#[derive(Debug, Clone, PartialEq)]
struct ProjectKey {
    states: StatesKey,
    head: usize,
    tsne: bool,
}

/// A search: the states it ran on, the query token and its hits.
pub struct Found {
    pub states: Arc<TokenStates>,
    pub query: String,
    pub hits: Vec<Hit>,
}

pub use crate::views::query_key::{Data as Projected, TSNE_MAX};

#[derive(Default)]
pub struct Explore {
    pub settings: ExploreSettings,
    search: Job<SearchKey, Arc<Found>>,
    project: Job<ProjectKey, Arc<Projected>>,
    /// the last states computed, reused while the key stays
    states: Option<(StatesKey, Arc<TokenStates>)>,
}

/// The states for `key`: the ones in hand if they match, else from the cache or a run.
fn states_for(
    key: &StatesKey,
    have: Option<(StatesKey, Arc<TokenStates>)>,
    (model, choice): (&crate::model::LoadedModel, crate::backend::BackendChoice),
    ctl: &jobs::Control,
) -> Result<Arc<TokenStates>, String> {
    if let Some((k, s)) = have {
        if k == *key {
            return Ok(s);
        }
    }
    let total = key.texts;
    let mut progress = |done: u64| {
        ctl.report(
            format!("hidden states of {done} texts"),
            Some(done as f32 / total.max(1) as f32),
        );
    };
    // the backend the window was asked for, on a device of this thread's own
    let mut backend = crate::backend::FallbackBackend::new(choice);
    search::cached_collect(
        (model, &mut backend),
        &key.corpus,
        key.layer,
        Some(key.texts),
        &mut progress,
        &ctl.cancel,
    )
    .map(Arc::new)
    .map_err(|e| e.to_string())
}

impl Explore {
    /// The search results shown (the newest finished search).
    pub fn found(&self) -> Option<&Arc<Found>> {
        self.search.latest().and_then(|(_, r)| r.as_ref().ok())
    }

    /// The query–key picture shown.
    pub fn projected(&self) -> Option<&Arc<Projected>> {
        self.project.latest().and_then(|(_, r)| r.as_ref().ok())
    }

    pub fn busy(&self) -> bool {
        self.search.pending() || self.project.pending()
    }

    fn poll(&mut self, cx: &mut Session) {
        for e in [self.search.poll_err(), self.project.poll_err()]
            .into_iter()
            .flatten()
        {
            if !e.contains("cancelled") {
                cx.status.error = Some(format!("corpus: {e}"));
            }
        }
        let newest = [
            self.search.latest().and_then(|(k, r)| {
                r.as_ref()
                    .ok()
                    .map(|f| (k.states.clone(), f.states.clone()))
            }),
            self.project.latest().and_then(|(k, r)| {
                r.as_ref()
                    .ok()
                    .map(|p| (k.states.clone(), p.states.clone()))
            }),
        ];
        for (key, s) in newest.into_iter().flatten() {
            if self
                .states
                .as_ref()
                .is_none_or(|(_, have)| !Arc::ptr_eq(have, &s))
            {
                self.states = Some((key, s));
            }
        }
    }

    fn states_key(&self, cx: &Session, corpus: &CorpusSource, layer: usize) -> StatesKey {
        StatesKey {
            model: cx.models[crate::app::worker::ModelSlot::Main as usize].gen,
            corpus: corpus.clone(),
            texts: self.settings.texts.max(1),
            layer,
        }
    }

    /// Corpus search: pick a token of the current text and a depth; the nearest corpus tokens
    /// by cosine, each in its sentence.
    pub fn search_ui(
        &mut self,
        ui: &mut egui::Ui,
        cx: &mut Session,
        models: Option<Models>,
        corpus: &CorpusSource,
        chosen: &mut Option<usize>,
    ) {
        self.poll(cx);
        let Some(trace) = cx.trace().cloned() else {
            super::super::no_trace(ui);
            return;
        };
        let maps = trace.attentions.len();
        let pos = (*chosen)
            .filter(|&p| p < trace.num_tokens())
            .unwrap_or_else(|| trace.focus(None));
        let label = Some("Find corpus tokens like:");
        if let Some(i) = crate::app::widgets::token_picker(ui, label, &trace.tokens, pos) {
            *chosen = Some(i);
        }
        let mut go = false;
        // wrapped, labels before their widgets: it fits the window in presentation type too
        ui.horizontal_wrapped(|ui| {
            let l = ui.label("Hidden state (0: embeddings, L: after layer L):");
            ui.add(egui::Slider::new(&mut self.settings.search_layer, 0..=maps))
                .labelled_by(l.id);
            let l = ui.label("the");
            ui.add(egui::DragValue::new(&mut self.settings.top_k).range(1..=200))
                .labelled_by(l.id);
            let l = ui.label("nearest, in the first");
            ui.add(egui::DragValue::new(&mut self.settings.texts).range(1..=1_000_000))
                .labelled_by(l.id);
            ui.label("texts");
            go = ui.button("🔍 Search").clicked();
        });
        super::super::job_progress(ui, &mut self.search, 360.0);
        if go {
            let layer = self.settings.search_layer.min(maps);
            let key = self.states_key(cx, corpus, layer);
            let h = trace.hidden_size;
            let query = trace.hidden_states[layer][pos * h..(pos + 1) * h].to_vec();
            let word = trace.tokens[pos].clone();
            let (k, have) = (self.settings.top_k, self.states.clone());
            let choice = cx.backend_choice;
            if let (Some(models), Some(ticket)) = (
                models,
                self.search.ask(
                    SearchKey {
                        states: key.clone(),
                        trace_gen: cx.trace_gen,
                        position: pos,
                        k,
                    },
                    &cx.wake,
                ),
            ) {
                jobs::spawn("corpus search", ticket, move |ctl| {
                    let states = states_for(&key, have, (&models[0].0, choice), ctl)?;
                    let hits = states.nearest(&query, k, true);
                    Ok(Arc::new(Found {
                        states,
                        query: word,
                        hits,
                    }))
                });
            }
        }
        let Some(found) = self.found().cloned() else {
            ui.weak("Click a token, pick a depth and search: the corpus tokens whose hidden state points the same way (cosine), as exBERT shows them.");
            return;
        };
        ui.label(format!(
            "Nearest to “{}” after layer {} among {} corpus tokens of {} texts:",
            found.query,
            found.states.layer,
            found.states.len(),
            found.states.texts.len()
        ));
        egui::ScrollArea::vertical().show(ui, |ui| {
            for hit in &found.hits {
                ui.horizontal_wrapped(|ui| {
                    ui.spacing_mut().item_spacing.x = 0.0;
                    ui.label(RichText::new(format!("{:.3}  ", hit.cosine)).monospace());
                    sentence(ui, &found.states, hit.token);
                });
            }
        });
    }

    /// The query–key view of one head.
    pub fn qk_ui(
        &mut self,
        ui: &mut egui::Ui,
        cx: &mut Session,
        models: Option<Models>,
        corpus: &CorpusSource,
    ) {
        self.poll(cx);
        let Some(trace) = cx.trace() else {
            super::super::no_trace(ui);
            return;
        };
        let (maps, heads) = (trace.attentions.len(), trace.num_heads);
        let mut go = false;
        ui.horizontal(|ui| {
            let mut layer = self.settings.qk_map + 1;
            crate::app::widgets::labelled(
                ui,
                "Layer",
                egui::Slider::new(&mut layer, 1..=maps.max(1)),
            );
            self.settings.qk_map = layer - 1;
            let mut head = self.settings.qk_head + 1;
            crate::app::widgets::labelled(
                ui,
                "Head",
                egui::Slider::new(&mut head, 1..=heads.max(1)),
            );
            self.settings.qk_head = head - 1;
            ui.checkbox(&mut self.settings.tsne, "t-SNE")
                .on_hover_text(format!(
                    "FIt-SNE (perplexity 30); above {TSNE_MAX} points an even sample. Off: PCA"
                ));
            let l = ui.label("first");
            ui.add(egui::DragValue::new(&mut self.settings.texts).range(1..=1_000_000))
                .labelled_by(l.id);
            ui.label("texts");
            go = ui.button("Project").clicked();
        });
        super::super::job_progress(ui, &mut self.project, 360.0);
        if go {
            let j = self.settings.qk_map.min(maps.saturating_sub(1));
            let key = self.states_key(cx, corpus, j);
            let (head, tsne, have) = (
                self.settings.qk_head,
                self.settings.tsne,
                self.states.clone(),
            );
            let choice = cx.backend_choice;
            let name = cx.label(crate::app::worker::ModelSlot::Main);
            if let (Some(models), Some(ticket)) = (
                models,
                self.project.ask(
                    ProjectKey {
                        states: key.clone(),
                        head,
                        tsne,
                    },
                    &cx.wake,
                ),
            ) {
                jobs::spawn("query-key view", ticket, move |ctl| {
                    let m = &models[0].0;
                    let states = states_for(&key, have, (m, choice), ctl)?;
                    let o = query_key::Options { head, tsne };
                    query_key::derive((m, &name), states, &o, ctl)
                        .map(Arc::new)
                        .map_err(|e| e.to_string())
                });
            }
        }
        let Some(p) = self.projected().cloned() else {
            ui.weak("Pick a head and project: every corpus token's query (orange) and key (blue) in one picture, keys moved to the queries' centroid as AttentionViz does. Queries sit near the keys they attend to.");
            return;
        };
        qk_plot(ui, &p);
    }
}

/// The text of `token`'s sentence with the token highlighted.
fn sentence(ui: &mut egui::Ui, states: &TokenStates, token: usize) {
    let (text, at) = states.owner[token];
    let first = states.owner.partition_point(|&(t, _)| t < text);
    let mut i = first;
    while i < states.len() && states.owner[i].0 == text {
        let tok = &states.tokens[i];
        let shown = if let Some(rest) = tok.strip_prefix("##") {
            rest.to_string()
        } else {
            format!(" {}", tok.trim_start_matches('▁'))
        };
        let mut rt = RichText::new(shown);
        if states.owner[i].1 == at {
            rt = rt
                .strong()
                .background_color(Color32::from_rgb(0xE6, 0x9F, 0x00))
                .color(Color32::BLACK);
        } else if states.special[i] {
            rt = rt.weak();
        }
        ui.label(rt);
        i += 1;
    }
}

fn rgb(c: Rgb) -> Color32 {
    Color32::from_rgb(c[0], c[1], c[2])
}

/// The interactive picture: queries and keys, hover for the token and its sentence.
fn qk_plot(ui: &mut egui::Ui, p: &Projected) {
    let pts = |key: bool| -> Vec<[f64; 2]> {
        p.points
            .iter()
            .zip(&p.of)
            .filter(|(_, o)| o.0 == key)
            .map(|(&(x, y), _)| [f64::from(x), f64::from(y)])
            .collect()
    };
    let mut hovered = None;
    let shown = egui_plot::Plot::new("qk_plot")
        .data_aspect(1.0)
        .height((ui.available_height() - 40.0).max(200.0))
        .legend(egui_plot::Legend::default())
        .show(ui, |plot| {
            plot.points(
                egui_plot::Points::new("queries", pts(false))
                    .radius(1.5)
                    .color(rgb(query_key::QUERY)),
            );
            plot.points(
                egui_plot::Points::new("keys", pts(true))
                    .radius(1.5)
                    .color(rgb(query_key::KEY)),
            );
            if let Some(at) = plot.pointer_coordinate() {
                let b = plot.plot_bounds();
                let (sx, sy) = (b.width().max(1e-9), b.height().max(1e-9));
                hovered = p
                    .points
                    .iter()
                    .enumerate()
                    .map(|(i, &(x, y))| {
                        let dx = (f64::from(x) - at.x) / sx;
                        let dy = (f64::from(y) - at.y) / sy;
                        (i, dx * dx + dy * dy)
                    })
                    .filter(|&(_, d)| d < 4e-4)
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|(i, _)| i);
            }
        });
    // the hovered token's sentence in a tooltip beside the pointer: egui keeps it on the
    // screen, where a line under the plot was cut by the status bar
    if let Some(i) = hovered {
        let (key, t) = p.of[i];
        shown.response.on_hover_ui_at_pointer(|ui| {
            ui.set_max_width(420.0);
            ui.horizontal_wrapped(|ui| {
                ui.spacing_mut().item_spacing.x = 0.0;
                let kind = if key { "key" } else { "query" };
                ui.label(format!("{kind} of “{}”: ", p.states.tokens[t]));
                sentence(ui, &p.states, t);
            });
        });
    }
    ui.label(format!(
        "{} points of {} tokens in {} texts, {} (queries orange, keys blue)",
        p.points.len(),
        p.states.len(),
        p.states.texts.len(),
        p.method
    ));
}
