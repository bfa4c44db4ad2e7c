//! The Corpus tab: what every head does across many texts (Clark et al. 2019, Kobayashi et al.
//! 2020). The built-in held-out Brown sentences or a file of one text per line run through the
//! main model (and the comparison model) in padded batches on a thread of their own, with a
//! progress bar, ETA and Cancel; results are cached on disk by model and corpus content. Views:
//! per-layer shares of [CLS] / [SEP] / punctuation, [SEP] by weight against by norm, a layer ×
//! head grid of any statistic, heads by entropy and distance, and the map of heads from their JS
//! divergences.

pub mod explore;
// the web build's runs (tested here against the run in one go)
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod stepped;

use super::{export_button, from_json, to_json, Built, Tab};
use crate::app::jobs::{self, Job};
use crate::app::session::Session;
use crate::app::worker::ModelSlot;
use crate::corpus::stats::Stat;
use crate::corpus::{CorpusSource, HeadStats};
use crate::figures::corpus::{self as fig, CorpusView, VIEWS};
use crate::figures::Theme;
use crate::model::LoadedModel;
use std::path::PathBuf;
use std::sync::Arc;

/// What the tab shows: one of the statistics' figures, corpus search, or the query–key view.
/// Saved as its id ("layers", …, "search", "query-key").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Pane {
    Figure(CorpusView),
    Search,
    QueryKey,
}

impl Pane {
    /// Every pane, in the tab's order.
    pub const ALL: [Pane; 7] = [
        Pane::Figure(CorpusView::Layers),
        Pane::Figure(CorpusView::SepNorm),
        Pane::Figure(CorpusView::Grid),
        Pane::Figure(CorpusView::EntropyDistance),
        Pane::Figure(CorpusView::HeadMap),
        Pane::Search,
        Pane::QueryKey,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Pane::Figure(v) => v.id(),
            Pane::Search => "search",
            Pane::QueryKey => "query-key",
        }
    }

    pub fn parse(id: &str) -> Option<Pane> {
        Self::ALL.into_iter().find(|p| p.id() == id)
    }

    fn label(self) -> &'static str {
        match self {
            Pane::Figure(CorpusView::Layers) => "Layers",
            Pane::Figure(CorpusView::SepNorm) => "[SEP]: weight vs norm",
            Pane::Figure(CorpusView::Grid) => "Grid",
            Pane::Figure(CorpusView::EntropyDistance) => "Entropy vs distance",
            Pane::Figure(CorpusView::HeadMap) => "Head map",
            Pane::Search => "Search",
            Pane::QueryKey => "Queries & keys",
        }
    }
}

impl TryFrom<String> for Pane {
    type Error = String;
    fn try_from(id: String) -> Result<Self, String> {
        Pane::parse(&id).ok_or_else(|| {
            let ids: Vec<&str> = Pane::ALL.iter().map(|p| p.id()).collect();
            format!(
                "no corpus view {:?}: use one of {}",
                crate::files::printable(&id, 40),
                ids.join(", ")
            )
        })
    }
}

impl From<Pane> for String {
    fn from(p: Pane) -> String {
        p.id().to_string()
    }
}

/// What the tab persists.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct CorpusSettings {
    pub view: Pane,
    /// the grid's statistic
    pub stat: Stat,
    /// a corpus file instead of the built-in one
    pub file: Option<PathBuf>,
    pub use_file: bool,
    /// at most this many texts (0: all)
    pub limit: u64,
    /// the grid, scatter and head map show the comparison model
    pub show_compare: bool,
}

impl Default for CorpusSettings {
    fn default() -> Self {
        CorpusSettings {
            view: Pane::Figure(CorpusView::Layers),
            stat: Stat::Sep,
            file: None,
            use_file: false,
            limit: 0,
            show_compare: false,
        }
    }
}

/// Which models a run is for: the main model's generation, and the comparison model's
/// where one is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelGens {
    pub main: u64,
    pub compare: Option<u64>,
}

/// The most texts a run takes in the web build, where the run computes on the page's one
/// thread, a shard between frames (about three seconds for albert-mini and bert-mini).
#[cfg(target_arch = "wasm32")]
pub const WEB_MAX_TEXTS: u64 = 200;

/// The shards a web run is cut into, a model (one a frame: 10 texts each, about 0.1 to 0.2 s
/// in headless Chromium on this project's 2-core machine).
#[cfg(target_arch = "wasm32")]
const WEB_STEPS: usize = 20;

/// The texts a run takes: the tab's limit (0: all), at most [`WEB_MAX_TEXTS`] in the web build.
fn run_limit(limit: u64) -> Option<u64> {
    let limit = (limit > 0).then_some(limit);
    #[cfg(target_arch = "wasm32")]
    return Some(limit.map_or(WEB_MAX_TEXTS, |l| l.min(WEB_MAX_TEXTS)));
    #[cfg(not(target_arch = "wasm32"))]
    limit
}

/// The models, corpus and limit a run is for.
#[derive(Debug, Clone, PartialEq)]
pub struct RunKey {
    pub models: ModelGens,
    pub corpus: CorpusSource,
    pub limit: u64,
}

/// Copies of the loaded models (shared tensors) with their names, from the worker.
pub(crate) type Models = Arc<Vec<(LoadedModel, String)>>;

/// One model's statistics, its name, and whether they came from the cache.
pub type Stats = (HeadStats, String, bool);

/// One model's part of a run, unless no text of the corpus ran.
fn one_model(s: HeadStats, name: &str, cached: bool) -> Result<Stats, String> {
    if s.meta.lines == 0 {
        return Err(format!(
            "{name}: no texts to run (every line was empty or skipped)"
        ));
    }
    Ok((s, name.to_string(), cached))
}

/// One finished run: each model's statistics.
pub struct Ran {
    pub stats: Vec<Stats>,
    pub seconds: f64,
}

#[derive(Default)]
pub struct CorpusTab {
    pub settings: CorpusSettings,
    models: Job<ModelGens, Models>,
    run: Job<RunKey, Arc<Ran>>,
    /// the run the user asked for (set by Run, until its models arrive)
    wanted: Option<RunKey>,
    started: Option<web_time::Instant>,
    picking: Option<std::sync::mpsc::Receiver<crate::app::file_dialog::Picked>>,
    texture: Option<(String, egui::TextureHandle)>,
    /// corpus search and the query–key view
    pub explore: explore::Explore,
    /// the token of the current text searched for
    token: Option<usize>,
    /// set by Cancel until the next run: what was stopped
    cancelled: Option<String>,
}

/// The views: the statistics' figures, then corpus search and the query–key view.
const EXPORTS: [&str; 6] = [
    VIEWS[0],
    VIEWS[1],
    VIEWS[2],
    VIEWS[3],
    VIEWS[4],
    "query-key",
];

impl CorpusTab {
    /// The statistics shown (the newest finished run).
    pub fn result(&self) -> Option<&Arc<Ran>> {
        self.run.latest().and_then(|(_, r)| r.as_ref().ok())
    }

    fn source(&self) -> CorpusSource {
        match (&self.settings.file, self.settings.use_file) {
            (Some(f), true) => CorpusSource::File(f.clone()),
            _ => CorpusSource::Builtin,
        }
    }

    /// The generations of the loaded models.
    fn gens(cx: &Session) -> ModelGens {
        let compare = cx.info(ModelSlot::Compare).is_some();
        ModelGens {
            main: cx.models[ModelSlot::Main as usize].gen,
            compare: compare.then(|| cx.models[ModelSlot::Compare as usize].gen),
        }
    }

    /// Copies of the loaded models (shared tensors, so cheap), asked of the worker once per
    /// model generation; None until they arrive.
    pub(crate) fn loaded(&mut self, cx: &mut Session) -> Option<Models> {
        if let Some(e) = self.models.poll_err() {
            cx.status.error = Some(format!("corpus: {e}"));
        }
        let gens = Self::gens(cx);
        if let Some(ticket) = self.models.ask(gens, &cx.wake) {
            // the runs keep the models' full labels ("… (built in)", the folder's path): they
            // name the run in the tab's messages and in the statistics it caches
            let labels = [
                cx.source_label(ModelSlot::Main),
                cx.source_label(ModelSlot::Compare),
            ];
            let compare = gens.compare.is_some();
            cx.worker.run(ticket, move |e, _| {
                let mut out = vec![(e.model(ModelSlot::Main)?.clone(), labels[0].clone())];
                if compare {
                    if let Ok(m) = e.model(ModelSlot::Compare) {
                        out.push((m.clone(), labels[1].clone()));
                    }
                }
                Ok(Arc::new(out))
            });
        }
        match self.models.get(&gens) {
            Some(Ok(m)) => Some(m.clone()),
            _ => None,
        }
    }

    /// Asks for a run of the current models on the chosen corpus.
    pub fn start(&mut self, cx: &mut Session) {
        self.started = Some(web_time::Instant::now());
        self.cancelled = None;
        self.wanted = Some(RunKey {
            models: Self::gens(cx),
            corpus: self.source(),
            limit: self.settings.limit,
        });
    }

    /// Once the models of the wanted run are in, starts the run on a thread of its own.
    fn launch(&mut self, cx: &mut Session) {
        let models = self.loaded(cx);
        let Some(key) = self.wanted.clone() else {
            return;
        };
        if key.models != Self::gens(cx) {
            self.wanted = None; // the models changed under the request
            return;
        }
        let Some(models) = models else {
            return;
        };
        self.wanted = None;
        let Some(ticket) = self.run.ask(key.clone(), &cx.wake) else {
            return;
        };
        let limit = run_limit(key.limit);
        let choice = cx.backend_choice;
        // the page: a shard a frame, never the whole run at once on its one thread
        #[cfg(target_arch = "wasm32")]
        {
            let limit = limit.unwrap_or(WEB_MAX_TEXTS);
            let run = stepped::Stepped::new(models, key.corpus, limit, WEB_STEPS, choice);
            jobs::spawn_steps("corpus", ticket, run, |run, ctl| run.step(ctl));
        }
        #[cfg(not(target_arch = "wasm32"))]
        jobs::spawn("corpus", ticket, move |ctl| {
            let t0 = web_time::Instant::now();
            // the backend the window was asked for, on a device of this thread's own (the
            // worker's stays free for the views)
            let mut backend = crate::backend::FallbackBackend::new(choice);
            let mut stats = Vec::new();
            let count = models.len();
            for (i, (m, name)) in models.iter().enumerate() {
                let mut progress = |p: crate::corpus::Progress| {
                    let part = p.fraction();
                    ctl.report(
                        format!(
                            "{name}: {} texts, {:.0} texts/s",
                            p.texts,
                            p.texts as f64 / p.seconds.max(1e-9)
                        ),
                        Some((i as f32 + part.min(1.0)) / count as f32),
                    );
                };
                let (s, cached) = crate::corpus::cached_run(
                    (m, name),
                    (&key.corpus, limit),
                    &mut backend,
                    &mut progress,
                    &ctl.cancel,
                )
                .map_err(|e| e.to_string())?;
                stats.push(one_model(s, name, cached)?);
            }
            Ok(Arc::new(Ran {
                stats,
                seconds: t0.elapsed().as_secs_f64(),
            }))
        });
    }

    fn pick_file(&mut self, ctx: &egui::Context) {
        let title = "A corpus: one text per line (TAB before a second segment), or .jsonl";
        let filter = ("text", &["txt", "tsv", "jsonl"][..]);
        let picked = crate::app::file_dialog::open_data(ctx, "corpus", title, filter);
        self.picking = picked.ok();
    }

    fn controls(&mut self, ui: &mut egui::Ui, cx: &mut Session) {
        if let Some(rx) = &self.picking {
            if let Ok(picked) = rx.try_recv() {
                self.picking = None;
                use crate::app::file_dialog::{PathFor, PathPrompt};
                let prompt = PathPrompt::new(PathFor::CorpusFile, "A corpus file", "");
                cx.answer(prompt, picked);
            }
        }
        ui.horizontal_wrapped(|ui| {
            ui.label("Corpus:");
            ui.radio_value(
                &mut self.settings.use_file,
                false,
                "built-in (held-out Brown, 2,814 sentences)",
            )
            .on_hover_text(
                "the Brown documents the built-in models never trained on (assets/corpus)",
            );
            let name = self
                .settings
                .file
                .as_ref()
                .and_then(|f| f.file_name())
                .map_or("no file chosen".to_string(), |n| {
                    n.to_string_lossy().into_owned()
                });
            if self.settings.file.is_some() {
                ui.radio_value(&mut self.settings.use_file, true, format!("file: {name}"));
            }
            if ui.button("Choose file…").clicked() {
                self.pick_file(ui.ctx());
            }
            let l = ui.label("at most");
            ui.add(egui::DragValue::new(&mut self.settings.limit).range(0..=10_000_000))
                .labelled_by(l.id)
                .on_hover_text("texts to run; 0: all");
            ui.label("texts (0 = all)");
            #[cfg(target_arch = "wasm32")]
            ui.weak(format!(
                "· the web build runs at most {WEB_MAX_TEXTS} texts (the page computes on its one thread; the desktop app runs any corpus)"
            ));
        });
        ui.horizontal(|ui| {
            let running = self.run.pending() || self.wanted.is_some();
            if running {
                let (note, fraction) = self
                    .run
                    .control()
                    .map(|c| c.progress())
                    .unwrap_or(("getting the models…".into(), None));
                let f = fraction.unwrap_or(0.0);
                let eta = self.started.filter(|_| f > 0.01).map(|t| {
                    let s = t.elapsed().as_secs_f32();
                    format!(" · about {:.0} s left", s / f - s)
                });
                ui.add(
                    egui::ProgressBar::new(f)
                        .text(format!("{note}{}", eta.unwrap_or_default()))
                        .desired_width(420.0),
                );
                if ui.button("Cancel").clicked() {
                    let done = self
                        .run
                        .control()
                        .map(|c| c.progress().0)
                        .filter(|n| !n.is_empty())
                        .map_or(String::new(), |n| format!(" ({n})"));
                    self.run.cancel();
                    self.wanted = None;
                    self.cancelled = Some(format!("the corpus run was cancelled{done}"));
                    cx.status.notice = Some("corpus run cancelled".into());
                }
            } else if ui.button("▶ Run corpus").clicked() {
                self.start(cx);
            }
        });
    }

    fn view_bar(&mut self, ui: &mut egui::Ui, cx: &mut Session, has_compare: bool) {
        ui.horizontal_wrapped(|ui| {
            for p in Pane::ALL {
                if ui
                    .selectable_label(self.settings.view == p, p.label())
                    .clicked()
                {
                    self.settings.view = p;
                }
            }
            if self.settings.view == Pane::Figure(CorpusView::Grid) {
                egui::ComboBox::new("corpus_stat", "")
                    .selected_text(self.settings.stat.name())
                    .show_ui(ui, |ui| {
                        for s in Stat::ALL {
                            ui.selectable_value(&mut self.settings.stat, s, s.name())
                                .on_hover_text(fig::describe(s));
                        }
                    });
            }
            let compares = matches!(
                self.settings.view,
                Pane::Figure(CorpusView::Grid | CorpusView::EntropyDistance | CorpusView::HeadMap)
            );
            if has_compare && compares {
                ui.checkbox(&mut self.settings.show_compare, "comparison model");
            }
        });
        // the Export button on a row of its own: at the end of a full row it was squeezed
        // ("Exp/ort") or pushed past the window
        let view = self.settings.view;
        if view != Pane::Search {
            ui.horizontal(|ui| export_button(self, ui, cx, view.id()));
        }
    }

    /// The model whose statistics the views show, and the second one the line views dash:
    /// with "comparison model" ticked, the comparison model alone.
    fn shown(&self) -> Result<(&Stats, Option<&Stats>), String> {
        let ran = self.result().ok_or("run the corpus first")?;
        let main = ran.stats.first().ok_or("no statistics")?;
        let other = ran.stats.get(1);
        Ok(match (self.settings.show_compare, other) {
            (true, Some(o)) => (o, None),
            _ => (main, other),
        })
    }

    /// View `view`'s figure for `theme`.
    fn figure(
        &self,
        view: CorpusView,
        cx: &Session,
        theme: &Theme,
    ) -> Result<crate::figures::Figure, String> {
        let (shown, second) = self.shown()?;
        fig::view(
            view,
            (&shown.0, &shown.1),
            second.map(|o| (&o.0, o.1.as_str())),
            (self.settings.stat, cx.settings.colormap),
            theme,
        )
        .map_err(|e| e.to_string())
    }

    fn show_figure(&mut self, ui: &mut egui::Ui, cx: &Session, view: CorpusView) {
        // presentation mode draws the figure in the presentation theme: large type, thick lines
        let theme = crate::app::widgets::screen_theme(ui, cx.settings.presentation);
        let ran_id = self.result().map_or(0, |r| Arc::as_ptr(r) as usize);
        let key = format!(
            "{ran_id} {} {} {} {:?} {}",
            view.id(),
            self.settings.stat.name(),
            self.settings.show_compare,
            cx.settings.colormap,
            cx.settings.presentation
        );
        let mut cache = self.texture.take();
        crate::app::widgets::figure_texture(ui, &mut cache, (&key, false), || {
            self.figure(view, cx, &theme)
        });
        self.texture = cache;
    }
}

impl Tab for CorpusTab {
    fn id(&self) -> &'static str {
        "corpus"
    }

    fn title(&self) -> &'static str {
        "Corpus"
    }

    fn ui(&mut self, ui: &mut egui::Ui, cx: &mut Session) {
        if let Some(e) = self.run.poll_err() {
            if !e.contains("cancelled") {
                cx.status.error = Some(format!("corpus: {e}"));
            }
        }
        self.launch(cx);
        if cx.info(ModelSlot::Main).is_none() {
            ui.weak("Open a model to run a corpus through it.");
            return;
        }
        ui.weak("What every head does across many texts: the share of attention each head gives to [CLS], [SEP] and punctuation, to itself and its neighbours, how spread out it is, and how alike heads are (Clark et al. 2019; Kobayashi et al. 2020). Statistics average over every query position of every text.");
        self.controls(ui, cx);
        let ran = self.result().cloned();
        if let Some(c) = &self.cancelled {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                if ran.is_some() {
                    format!("Cancelled: {c}. The views below are still those of the earlier run:")
                } else {
                    format!("Cancelled: {c}. Nothing has run yet.")
                },
            );
        }
        for (s, name, cached) in ran.iter().flat_map(|r| &r.stats) {
            ui.label(format!(
                "{name} on {}: {} texts ({} cut to the model's positions, {} skipped), {} query positions{}",
                s.meta.corpus,
                s.meta.lines,
                s.meta.truncated,
                s.meta.skipped,
                s.rows,
                if *cached { " · from the cache" } else { "" }
            ));
        }
        self.view_bar(ui, cx, ran.as_ref().is_some_and(|r| r.stats.len() > 1));
        let models = self.loaded(cx);
        let source = self.source();
        match self.settings.view {
            Pane::Search => self
                .explore
                .search_ui(ui, cx, models, &source, &mut self.token),
            Pane::QueryKey => self.explore.qk_ui(ui, cx, models, &source),
            Pane::Figure(view) if ran.is_some() => self.show_figure(ui, cx, view),
            Pane::Figure(_) => {
                ui.weak("Run the corpus to see what the heads do; Search and Queries & keys work on their own.");
            }
        }
    }

    fn exports(&self) -> &'static [&'static str] {
        &EXPORTS
    }

    fn export(&mut self, what: &str, cx: &Session, theme: &Theme) -> Built {
        if what == "query-key" {
            let p = self.explore.projected().ok_or("project a head first")?;
            return Ok(crate::views::query_key::figure(p, theme));
        }
        let view = CorpusView::parse(what).ok_or_else(|| format!("no corpus view {what:?}"))?;
        let figure = self.figure(view, cx, theme)?;
        let (shown, _) = self.shown()?;
        Ok((
            figure,
            Some(fig::matrix(view, &shown.0, self.settings.stat)),
        ))
    }

    fn prepare_export(&mut self, what: &str, cx: &mut Session) {
        // a corpus figure of a scene: the run the window's button would start, once the
        // main model is open (a run that failed is not started again: its error is shown)
        let opened = cx.info(ModelSlot::Main).is_some();
        let never_ran = self.run.latest().is_none() && !self.run.pending();
        if what != "query-key" && opened && never_ran && self.wanted.is_none() {
            self.start(cx);
        }
    }

    fn busy(&self) -> bool {
        self.run.pending() || self.wanted.is_some() || self.explore.busy()
    }

    fn save(&self) -> serde_json::Value {
        to_json(&(&self.settings, &self.explore.settings))
    }

    fn load(&mut self, settings: serde_json::Value) {
        let mut both = (self.settings.clone(), self.explore.settings.clone());
        from_json(settings, &mut both);
        (self.settings, self.explore.settings) = both;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tab's settings keep the ids scenes and settings files have always held: every pane
    /// (search and the query–key view too) and statistic reads back; anything else is refused,
    /// naming the choices.
    #[test]
    fn panes_and_statistics_are_saved_by_their_ids_and_others_refused() {
        for p in Pane::ALL {
            let json = serde_json::to_value(p).unwrap();
            assert_eq!(json, p.id());
            assert_eq!(serde_json::from_value::<Pane>(json).unwrap(), p);
        }
        let s: CorpusSettings =
            serde_json::from_value(serde_json::json!({"view": "query-key", "stat": "self"}))
                .unwrap();
        assert_eq!((s.view, s.stat), (Pane::QueryKey, Stat::SelfAttention));
        let e = serde_json::from_value::<CorpusSettings>(serde_json::json!({"view": "pie"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("head-map") && e.contains("query-key"), "{e}");
        assert!(
            serde_json::from_value::<CorpusSettings>(serde_json::json!({"stat": "mean"})).is_err()
        );
    }
}
