//! The desktop app (eframe/egui): a model panel, an input panel, the attention views, and a
//! status bar. All loading and inference run on the [`worker`]; the UI thread only draws.

pub mod bench;
pub mod heatmap;
pub mod panels;
pub mod views;
pub mod worker;

use crate::analysis::maps::{self, MapData, MapKey, ValueMaps};
use crate::analysis::{HeadSel, Measure};
use crate::backend::BackendChoice;
use crate::colormap::Colormap;
use crate::model::Trace;
use heatmap::{MapTexture, ZoomPan};
use std::path::PathBuf;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};
use worker::{Event, ModelInfo, ModelSlot, ModelSource, Request, TraceSlot, Worker};

/// The sentence the app runs on first start.
pub const EXAMPLE_TEXT: &str = "The animal didn't cross the street because it was too tired.";

/// How long typing must pause before the model re-runs.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AttnView {
    /// every layer × head as thumbnails
    Model,
    /// one map, full size
    Heatmap,
    /// BertViz-style lines between two token columns
    Links,
}

/// The central panel's tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Tab {
    Attention,
    Projection,
    Shared,
    Lens,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DiffMode {
    Off,
    /// the main model on a second text
    SecondText,
    /// the comparison model on the same text
    CompareModel,
}

/// What persists between runs (eframe storage).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Settings {
    pub dark: bool,
    pub colormap: Colormap,
    pub log_scale: bool,
    pub shared_scale: bool,
    pub hide_special: bool,
    pub renormalise: bool,
    pub view: AttnView,
    pub layer: usize,
    pub head: HeadSel,
    pub measure: Measure,
    pub diff: DiffMode,
    pub text: String,
    pub pair_on: bool,
    pub pair: String,
    pub diff_text: String,
    pub recent: Vec<ModelSource>,
    pub main_source: Option<ModelSource>,
    pub compare_source: Option<ModelSource>,
    /// heads overlaid in the token-links view (empty: the selected map)
    pub link_heads: Vec<usize>,
    pub tab: Tab,
    pub proj_mode: panels::ProjMode,
    pub color_by: crate::figures::views::ColorBy,
    pub proj_3d: bool,
    /// lay the projection out with t-SNE instead of PCA
    pub proj_tsne: bool,
    pub proj_labels: bool,
    pub vocab_query: String,
    pub js_mode: crate::metrics::JsMode,
    /// the unshare what-if's repetition counts, as typed
    pub repeats_text: String,
    /// the layer lens's token (None: the first [MASK])
    pub lens_pos: Option<usize>,
    pub lens_k: usize,
    pub export_theme: panels::ExportTheme,
    /// light theme, large type (for projecting the app itself)
    pub presentation: bool,
    /// the parameter calculator's configuration
    pub calc: crate::params::Arch,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            dark: true,
            colormap: Colormap::Viridis,
            log_scale: false,
            shared_scale: false,
            hide_special: false,
            renormalise: true,
            view: AttnView::Heatmap,
            layer: 0,
            head: HeadSel::Mean,
            measure: Measure::Attention,
            diff: DiffMode::Off,
            text: EXAMPLE_TEXT.into(),
            pair_on: false,
            pair: String::new(),
            diff_text: "The animal didn't cross the street because it was too wide.".into(),
            recent: Vec::new(),
            main_source: None,
            compare_source: None,
            link_heads: Vec::new(),
            tab: Tab::Attention,
            proj_mode: panels::ProjMode::Trajectories,
            color_by: crate::figures::views::ColorBy::Layer,
            proj_3d: false,
            proj_tsne: false,
            proj_labels: false,
            vocab_query: "king".into(),
            js_mode: crate::metrics::JsMode::MatchedHeads,
            repeats_text: "6, 12, 24".into(),
            lens_pos: None,
            lens_k: 5,
            export_theme: panels::ExportTheme::Light,
            presentation: false,
            calc: crate::params::Arch::paper(128, 768, 12, crate::params::Sharing::All),
        }
    }
}

/// How the app starts.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub backend: BackendChoice,
    /// load settings from eframe storage (off in tests)
    pub restore: bool,
    /// open this model instead of the remembered one (or the built-in albert-mini)
    pub open: Option<ModelSource>,
    /// and this one as the comparison model (default: bert-mini)
    pub compare: Option<ModelSource>,
    pub text: Option<String>,
    /// open the models at start (off for the UI benchmark, which installs its own trace)
    pub start_models: bool,
    /// save a PNG of the window once the first result is drawn, then close (for README figures)
    pub screenshot: Option<PathBuf>,
    pub view: Option<AttnView>,
    pub tab: Option<Tab>,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            backend: BackendChoice::Auto,
            restore: true,
            open: None,
            compare: None,
            text: None,
            start_models: true,
            screenshot: None,
            view: None,
            tab: None,
        }
    }
}

/// What the status bar shows.
#[derive(Debug, Default)]
pub struct Status {
    pub forward_ms: Option<f64>,
    pub backend: String,
    pub progress: Option<(String, Option<f32>)>,
    /// the last error, shown until dismissed or replaced
    pub error: Option<String>,
    /// the last thing done that the user should know of ("saved ...")
    pub notice: Option<String>,
    pub running: bool,
}

pub struct LensApp {
    pub settings: Settings,
    worker: Worker,
    pub main_info: Option<ModelInfo>,
    pub compare_info: Option<ModelInfo>,
    pub trace: Option<Arc<Trace>>,
    trace_gen: u64,
    rollout: Arc<Vec<Vec<f32>>>,
    pub diff_trace: Option<Arc<Trace>>,
    diff_gen: u64,
    diff_rollout: Arc<Vec<Vec<f32>>>,
    value: Option<ValueMaps>,
    value_gen: u64,
    value_asked: Option<(u64, usize)>,
    map_key: Option<MapKey>,
    pub map: Option<Result<MapData, String>>,
    map_gen: u64,
    heat_tex: Option<MapTexture>,
    grid_tex: Option<MapTexture>,
    atlas: Option<((u64, bool, bool, bool), views::Atlas)>,
    atlas_gen: u64,
    pub zoom: ZoomPan,
    pub status: Status,
    dirty_at: Option<Instant>,
    run_seq: u64,
    path_dialog: Option<(String, ModelSlot, bool)>,
    folder_pick: Option<(ModelSlot, Receiver<Option<PathBuf>>)>,
    /// the tooltip text of the hovered heatmap cell (tests read it)
    pub hover_text: Option<String>,
    /// where the heatmap's matrix was drawn last frame (tests and exports use it)
    pub heatmap_rect: Option<egui::Rect>,
    /// top-left of the model view's first thumbnail and the thumbnail pitch (tests use it)
    pub grid_origin: Option<(egui::Pos2, f32)>,
    links_hover: Option<(bool, usize)>,
    theme_applied: Option<(bool, bool)>,
    screenshot: Option<Screenshot>,
    /// the comparison model's trace on the same text (the shared-vs-unshared panel)
    pub compare_trace: Option<Arc<Trace>>,
    compare_gen: u64,
    compare_asked: Option<u64>,
    /// the layer lens: (trace generation, position, rows, curves)
    pub lens: Option<LensResult>,
    lens_asked: Option<(u64, usize, usize)>,
    /// the unshare what-if's traces, for one trace generation
    pub repeats: Option<(u64, RepeatTraces)>,
    /// a difference run sent and not answered yet
    diff_pending: bool,
    repeats_asked: Option<(u64, String)>,
    pub vocab: Option<(String, Vec<worker::VocabAnswer>)>,
    pub projection: panels::Background<panels::ProjKey, crate::metrics::Projection>,
    #[allow(clippy::type_complexity)]
    pub js: panels::Background<panels::JsKey, (Vec<f32>, Option<Vec<f32>>)>,
    js_tex: (Option<MapTexture>, Option<MapTexture>),
    repeat_tex: Vec<Option<RepeatTexture>>,
    repeats_gen: u64,
    /// Figure 1's lines for (trace, comparison trace, what-if, hide special)
    fig1_cache: Option<(Fig1Key, Vec<crate::figures::views::Figure1Line>)>,
    proj_rot: (f32, f32),
    /// progress and cancel of the running t-SNE
    pub tsne_ctl: Arc<crate::metrics::Control>,
    /// the hovered point of the projection (tests read it)
    pub proj_hover: Option<String>,
    exports: Vec<Receiver<Result<panels::ExportDone, String>>>,
}

/// A what-if thumbnail: (trace generation, repetitions, colormap) and its texture.
type RepeatTexture = ((u64, usize, Colormap), egui::TextureHandle);
/// Figure 1's cache key: trace, comparison trace and what-if generations, special tokens hidden.
type Fig1Key = (u64, u64, u64, bool);

/// The what-if's traces: (repetitions, trace).
pub type RepeatTraces = Vec<(usize, Arc<Trace>)>;

/// The layer lens as the worker sent it: trace generation, position, the table.
pub type LensResult = (u64, usize, crate::metrics::LensTable);

/// A pending `--screenshot`: frames drawn since the first result, and whether it was saved.
struct Screenshot {
    path: PathBuf,
    frames: u32,
    done: Arc<std::sync::atomic::AtomicBool>,
    asked: bool,
}

impl LensApp {
    /// The app for eframe: settings from storage, the worker started, models requested.
    pub fn new(cc: &eframe::CreationContext<'_>, opts: AppOptions) -> Self {
        let settings = if opts.restore {
            cc.storage
                .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
                .unwrap_or_default()
        } else {
            Settings::default()
        };
        Self::with_settings(&cc.egui_ctx, settings, opts)
    }

    pub fn with_settings(ctx: &egui::Context, mut settings: Settings, opts: AppOptions) -> Self {
        install_fonts(ctx);
        let wake_ctx = ctx.clone();
        let worker = Worker::spawn(opts.backend, move || wake_ctx.request_repaint());
        if let Some(t) = opts.text {
            settings.text = t;
        }
        if let Some(v) = opts.view {
            settings.view = v;
        }
        if let Some(t) = opts.tab {
            settings.tab = t;
        }
        let main = opts
            .open
            .or_else(|| settings.main_source.clone())
            .unwrap_or_else(|| ModelSource::Builtin("albert-mini".into()));
        let compare = opts
            .compare
            .or_else(|| settings.compare_source.clone())
            .unwrap_or_else(|| ModelSource::Builtin("bert-mini".into()));
        let mut app = LensApp {
            settings,
            worker,
            main_info: None,
            compare_info: None,
            trace: None,
            trace_gen: 0,
            rollout: Arc::default(),
            diff_trace: None,
            diff_gen: 0,
            diff_rollout: Arc::default(),
            value: None,
            value_gen: 0,
            value_asked: None,
            map_key: None,
            map: None,
            map_gen: 0,
            heat_tex: None,
            grid_tex: None,
            atlas: None,
            atlas_gen: 0,
            zoom: ZoomPan::default(),
            status: Status::default(),
            dirty_at: None,
            run_seq: 0,
            path_dialog: None,
            folder_pick: None,
            hover_text: None,
            heatmap_rect: None,
            grid_origin: None,
            links_hover: None,
            theme_applied: None,
            screenshot: opts.screenshot.map(|path| Screenshot {
                path,
                frames: 0,
                done: Arc::new(std::sync::atomic::AtomicBool::new(false)),
                asked: false,
            }),
            compare_trace: None,
            compare_gen: 0,
            compare_asked: None,
            lens: None,
            lens_asked: None,
            repeats: None,
            diff_pending: false,
            repeats_asked: None,
            vocab: None,
            projection: Default::default(),
            js: Default::default(),
            js_tex: (None, None),
            repeat_tex: Vec::new(),
            repeats_gen: 0,
            fig1_cache: None,
            proj_rot: (0.0, 0.0),
            tsne_ctl: Arc::default(),
            proj_hover: None,
            exports: Vec::new(),
        };
        if opts.start_models {
            app.open(ModelSlot::Main, main);
            app.open(ModelSlot::Compare, compare);
        }
        app
    }

    /// Asks the worker to open a model into a slot.
    pub fn open(&mut self, slot: ModelSlot, source: ModelSource) {
        self.status.progress = Some((format!("opening {}", source.label()), None));
        self.worker.send(Request::Open { slot, source });
    }

    /// True while the worker has something in flight (tests wait on it).
    pub fn busy(&self) -> bool {
        self.status.progress.is_some()
            || self.status.running
            || self.dirty_at.is_some()
            || self.diff_pending
            || self.projection.pending()
            || self.js.pending()
            || self.tab_waiting()
    }

    /// Whether the open tab still waits on the worker (the comparison trace, the lens, the
    /// what-if).
    fn tab_waiting(&self) -> bool {
        let gen = self.trace_gen;
        match self.settings.tab {
            Tab::Shared => {
                (self.compare_info.is_some()
                    && self.compare_asked.is_some()
                    && self.compare_trace.is_none())
                    || self.repeats_asked.as_ref().is_some_and(|(g, _)| *g == gen)
                        && self.repeats.as_ref().is_none_or(|(g, _)| *g != gen)
            }
            Tab::Lens => self.lens_asked.is_some_and(|(g, pos, _)| {
                g == gen && self.lens.as_ref().is_none_or(|l| l.0 != gen || l.1 != pos)
            }),
            _ => false,
        }
    }

    /// Sends what the open tab needs from the worker and has not asked for yet.
    fn ask_for_tab(&mut self) {
        let Some(trace) = self.trace.clone() else {
            return;
        };
        match self.settings.tab {
            Tab::Shared => {
                if self.compare_info.is_some() && self.compare_asked != Some(self.run_seq) {
                    self.compare_asked = Some(self.run_seq);
                    let pair = self.pair_text();
                    self.worker.send(Request::Run {
                        slot: TraceSlot::Compare,
                        model: ModelSlot::Compare,
                        text: self.settings.text.clone(),
                        pair,
                        seq: self.run_seq,
                    });
                }
                let key = (self.trace_gen, self.settings.repeats_text.clone());
                let albert = self
                    .main_info
                    .as_ref()
                    .is_some_and(|i| i.model_type == crate::model::ModelType::Albert);
                if albert && self.repeats_asked.as_ref() != Some(&key) {
                    self.repeats_asked = Some(key);
                    match panels::parse_repeats(&self.settings.repeats_text) {
                        Ok(reps) if reps.is_empty() => self.repeats = None,
                        Ok(reps) => {
                            let pair = self.pair_text();
                            self.worker.send(Request::Repeats {
                                reps,
                                text: self.settings.text.clone(),
                                pair,
                                seq: self.trace_gen,
                            });
                        }
                        Err(e) => self.status.error = Some(format!("what-if: {e}")),
                    }
                }
            }
            Tab::Lens if self.main_info.as_ref().is_some_and(|i| i.has_mlm) => {
                let key = (
                    self.trace_gen,
                    self.lens_position(&trace),
                    self.settings.lens_k,
                );
                if self.lens_asked != Some(key) {
                    self.lens_asked = Some(key);
                    self.worker.send(Request::Lens {
                        pos: key.1,
                        k: key.2,
                        seq: key.0,
                    });
                }
            }
            _ => {}
        }
    }

    fn pair_text(&self) -> Option<String> {
        self.settings
            .pair_on
            .then(|| self.settings.pair.clone())
            .filter(|p| !p.trim().is_empty())
    }

    /// Asks for a forward pass of the current text (and the difference input, if any).
    pub fn request_run(&mut self) {
        self.dirty_at = None;
        if self.main_info.is_none() {
            return;
        }
        self.run_seq += 1;
        let pair = self.pair_text();
        self.status.running = true;
        self.worker.send(Request::Run {
            slot: TraceSlot::Main,
            model: ModelSlot::Main,
            text: self.settings.text.clone(),
            pair: pair.clone(),
            seq: self.run_seq,
        });
        match self.settings.diff {
            DiffMode::Off => self.diff_trace = None,
            DiffMode::SecondText => {
                self.diff_pending = true;
                self.worker.send(Request::Run {
                    slot: TraceSlot::Diff,
                    model: ModelSlot::Main,
                    text: self.settings.diff_text.clone(),
                    pair,
                    seq: self.run_seq,
                });
            }
            DiffMode::CompareModel => {
                if self.compare_info.is_some() {
                    self.diff_pending = true;
                    self.worker.send(Request::Run {
                        slot: TraceSlot::Diff,
                        model: ModelSlot::Compare,
                        text: self.settings.text.clone(),
                        pair,
                        seq: self.run_seq,
                    });
                }
            }
        }
    }

    /// Installs a trace and its rollout (from the worker; the UI benchmark makes its own).
    pub fn set_trace(&mut self, trace: Arc<Trace>, rollout: Arc<Vec<Vec<f32>>>) {
        self.rollout = rollout;
        self.trace = Some(trace);
        self.trace_gen += 1;
        self.settings.layer = self
            .settings
            .layer
            .min(self.trace.as_ref().map_or(1, |t| t.attentions.len()).max(1) - 1);
    }

    fn handle_events(&mut self) {
        for ev in self.worker.poll() {
            match ev {
                Event::Progress { what, fraction, .. } => {
                    self.status.progress = Some((what, fraction));
                }
                Event::Loaded { slot, info } => {
                    self.status.progress = None;
                    let source = info.source.clone();
                    if let ModelSource::Folder(_) | ModelSource::Hub(_) = source {
                        self.settings.recent.retain(|s| *s != source);
                        self.settings.recent.insert(0, source.clone());
                        self.settings.recent.truncate(10);
                    }
                    match slot {
                        ModelSlot::Main => {
                            self.settings.main_source = Some(source);
                            self.main_info = Some(*info);
                            self.trace = None;
                            self.value = None;
                            self.request_run();
                        }
                        ModelSlot::Compare => {
                            self.settings.compare_source = Some(source);
                            self.compare_info = Some(*info);
                            self.compare_trace = None;
                            self.compare_asked = None;
                            if self.settings.diff == DiffMode::CompareModel {
                                self.request_run();
                            }
                        }
                    }
                }
                Event::Traced {
                    slot,
                    seq,
                    trace,
                    rollout,
                    ms,
                    backend,
                } => {
                    if seq < self.run_seq {
                        continue; // an older input's result
                    }
                    match slot {
                        TraceSlot::Main => {
                            self.status.running = false;
                            self.status.forward_ms = Some(ms);
                            self.status.backend = backend;
                            self.status.error = None;
                            self.set_trace(trace, rollout);
                        }
                        TraceSlot::Diff => {
                            self.diff_pending = false;
                            self.diff_rollout = rollout;
                            self.diff_trace = Some(trace);
                            self.diff_gen += 1;
                        }
                        TraceSlot::Compare => {
                            self.compare_trace = Some(trace);
                            self.compare_gen += 1;
                        }
                    }
                }
                Event::Lens { seq, pos, table } => {
                    if seq == self.trace_gen {
                        self.lens = Some((seq, pos, table));
                    }
                }
                Event::Repeats { seq, traces } => {
                    if seq == self.trace_gen {
                        self.repeats = Some((seq, traces));
                        self.repeats_gen += 1;
                    }
                }
                Event::Vocab { query, answers } => self.vocab = Some((query, answers)),
                Event::ValueWeighted {
                    layer,
                    seq,
                    per_head,
                    all,
                } => {
                    if seq == self.trace_gen {
                        self.value = Some(ValueMaps {
                            layer,
                            per_head,
                            all,
                        });
                        self.value_gen += 1;
                    }
                }
                Event::Failed { what, message } => {
                    self.status.progress = None;
                    self.status.running = false;
                    self.diff_pending = false;
                    // a failed tab request is not asked again until its input changes, and
                    // must not keep the tab waiting
                    if what == "unshare what-if" {
                        self.repeats = Some((self.trace_gen, Vec::new()));
                    }
                    if let (true, Some((g, pos, _))) = (what == "layer lens", self.lens_asked) {
                        self.lens = Some((g, pos, Default::default()));
                    }
                    self.status.error = Some(format!("{what}: {message}"));
                }
            }
        }
        if let Some((slot, rx)) = &self.folder_pick {
            if let Ok(picked) = rx.try_recv() {
                let slot = *slot;
                self.folder_pick = None;
                if let Some(dir) = picked {
                    self.open(slot, ModelSource::Folder(dir));
                }
            }
        }
    }

    /// The map for the current options, recomputed only when they changed.
    fn update_map(&mut self) {
        let Some(trace) = self.trace.clone() else {
            self.map = None;
            return;
        };
        let s = &self.settings;
        let use_diff = s.diff != DiffMode::Off;
        let key = MapKey {
            trace_gen: self.trace_gen,
            diff_gen: use_diff.then_some(self.diff_gen),
            value_gen: if s.measure == Measure::ValueNorm {
                self.value_gen
            } else {
                0
            },
            layer: s.layer,
            head: s.head,
            measure: s.measure,
            hide_special: s.hide_special,
            renormalise: s.renormalise,
            shared_scale: s.shared_scale,
            log: s.log_scale,
        };
        if s.measure == Measure::ValueNorm
            && self.value.as_ref().is_none_or(|v| v.layer != s.layer)
            && self.value_asked != Some((self.trace_gen, s.layer))
        {
            self.value = None;
            self.value_asked = Some((self.trace_gen, s.layer));
            self.worker.send(Request::ValueWeighted {
                layer: s.layer,
                seq: self.trace_gen,
            });
        }
        if self.map_key.as_ref() == Some(&key) {
            return;
        }
        let diff = if use_diff {
            match (
                &self.diff_trace,
                s.diff,
                &self.compare_info,
                &self.main_info,
            ) {
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
                (Some(d), _, _, _) => Some((d.clone(), self.diff_rollout.clone())),
                (None, _, _, _) => {
                    self.map = Some(Err("running the second input…".into()));
                    self.map_key = None;
                    return;
                }
            }
        } else {
            None
        };
        let value = self
            .value
            .as_ref()
            .filter(|_| self.value_asked.is_some_and(|(g, _)| g == self.trace_gen));
        self.map = Some(maps::compute(
            &trace,
            &self.rollout,
            value,
            diff.as_ref().map(|(t, r)| (t.as_ref(), r.as_slice())),
            &key,
        ));
        self.map_gen += 1;
        self.map_key = Some(key);
    }

    fn pick_folder(&mut self, ctx: &egui::Context, slot: ModelSlot) {
        let (tx, rx) = std::sync::mpsc::channel();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("folder dialog".into())
            .spawn(move || {
                let picked = pollster::block_on(
                    rfd::AsyncFileDialog::new()
                        .set_title("Open a model folder (config.json, weights, tokenizer)")
                        .pick_folder(),
                );
                let _ = tx.send(picked.map(|h| h.path().to_path_buf()));
                ctx.request_repaint();
            });
        match spawned {
            Ok(_) => self.folder_pick = Some((slot, rx)),
            Err(e) => self.status.error = Some(format!("cannot show the folder dialog: {e}")),
        }
    }

    fn menu_bar(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            for (title, slot) in [("Model", ModelSlot::Main), ("Compare", ModelSlot::Compare)] {
                ui.menu_button(title, |ui| {
                    if ui.button("Open folder…").clicked() {
                        let ctx = ui.ctx().clone();
                        self.pick_folder(&ctx, slot);
                    }
                    if ui.button("Open path…").clicked() {
                        self.path_dialog = Some((String::new(), slot, false));
                    }
                    if ui.button("Open from Hugging Face Hub…").clicked() {
                        self.path_dialog = Some(("albert-base-v2".into(), slot, true));
                    }
                    ui.separator();
                    for name in crate::model::builtin::NAMES {
                        if ui.button(format!("{name} (built in)")).clicked() {
                            self.open(slot, ModelSource::Builtin(name.into()));
                        }
                    }
                    if !self.settings.recent.is_empty() {
                        ui.separator();
                        ui.label("Recent");
                        for src in self.settings.recent.clone() {
                            if ui.button(src.label()).clicked() {
                                self.open(slot, src);
                            }
                        }
                    }
                });
            }
            ui.menu_button("View", |ui| {
                ui.radio_value(&mut self.settings.dark, true, "Dark theme");
                ui.radio_value(&mut self.settings.dark, false, "Light theme");
                ui.checkbox(
                    &mut self.settings.presentation,
                    "Presentation mode (light, large type)",
                );
            });
        });
    }

    fn path_dialog(&mut self, ctx: &egui::Context) {
        let Some((text, slot, hub)) = self.path_dialog.as_mut() else {
            return;
        };
        let (slot, hub) = (*slot, *hub);
        let mut open = None;
        let mut close = false;
        egui::Window::new(if hub { "Open from the Hugging Face Hub" } else { "Open a model folder" })
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
            .show(ctx, |ui| {
                ui.label(if hub {
                    "Model id (ALBERT or BERT), e.g. albert-base-v2, bert-base-uncased. Downloads into the Hugging Face cache (HF_HOME, HF_ENDPOINT honoured); a cached model opens offline."
                } else {
                    "Folder with config.json, the weights and the tokenizer:"
                });
                let r = ui.add(egui::TextEdit::singleline(text).desired_width(380.0));
                let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                ui.horizontal(|ui| {
                    if ui.button("Open").clicked() || enter {
                        open = Some(text.trim().to_string());
                    }
                    if ui.button("Cancel").clicked() {
                        close = true;
                    }
                });
            });
        if let Some(t) = open.filter(|t| !t.is_empty()) {
            let src = if hub {
                ModelSource::Hub(t)
            } else {
                ModelSource::Folder(PathBuf::from(t))
            };
            self.path_dialog = None;
            self.open(slot, src);
        } else if close {
            self.path_dialog = None;
        }
    }

    fn status_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let backend = if self.status.backend.is_empty() {
                self.worker
                    .backend_name
                    .lock()
                    .map(|n| n.clone())
                    .unwrap_or_default()
            } else {
                self.status.backend.clone()
            };
            ui.label(format!("backend: {backend}"));
            ui.separator();
            match self.status.forward_ms {
                Some(ms) => ui.label(format!("forward {ms:.1} ms")),
                None => ui.label("forward –"),
            };
            if let Some(t) = &self.trace {
                ui.separator();
                ui.label(format!("{} tokens", t.num_tokens()));
            }
            if let Some(mb) = resident_mb() {
                ui.separator();
                ui.label(format!("memory {mb:.0} MB"));
            }
            if let Some((what, frac)) = self.status.progress.clone() {
                ui.separator();
                match frac {
                    Some(f) => {
                        ui.add(egui::ProgressBar::new(f).desired_width(160.0).text(what));
                    }
                    None => {
                        ui.spinner();
                        ui.label(what);
                    }
                }
                if ui.button("Cancel").clicked() {
                    self.worker
                        .cancel
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                }
            } else if self.status.running {
                ui.separator();
                ui.spinner();
            }
            if let Some(note) = self.status.notice.clone() {
                ui.separator();
                ui.label(note);
            }
            if let Some(err) = self.status.error.clone() {
                ui.separator();
                ui.colored_label(ui.visuals().error_fg_color, format!("Error: {err}"));
                if ui.small_button("x").on_hover_text("dismiss").clicked() {
                    self.status.error = None;
                }
            }
        });
    }

    fn side_panel(&mut self, ui: &mut egui::Ui) {
        egui::ScrollArea::vertical().show(ui, |ui| {
            ui.heading("Model");
            match &self.main_info {
                Some(info) => {
                    ui.label(egui::RichText::new(info.source.label()).strong());
                    ui.label(&info.summary);
                    if !info.has_mlm {
                        ui.weak("no masked-LM head in this checkpoint");
                    }
                    for w in &info.warnings {
                        ui.colored_label(ui.visuals().warn_fg_color, w);
                    }
                    if let ModelSource::Builtin(name) = &info.source {
                        if let Some(card) = crate::model::builtin::card(name) {
                            egui::CollapsingHeader::new("Model card").show(ui, |ui| {
                                ui.label(card);
                            });
                        }
                    }
                }
                None => {
                    ui.weak("No model loaded. Model > Open folder…, or drop a model folder on the window.");
                }
            }
            if let Some(info) = &self.compare_info {
                ui.add_space(4.0);
                ui.label(format!("Comparison model: {}", info.source.label()));
            }
            ui.separator();
            ui.heading("Input");
            let r = ui.add(
                egui::TextEdit::multiline(&mut self.settings.text)
                    .desired_rows(4)
                    .desired_width(ui.available_width())
                    .hint_text("Type a sentence…"),
            );
            let mut changed = r.changed();
            changed |= ui
                .checkbox(&mut self.settings.pair_on, "Second segment (sentence pair)")
                .changed();
            if self.settings.pair_on {
                changed |= ui
                    .add(
                        egui::TextEdit::multiline(&mut self.settings.pair)
                            .desired_rows(2)
                            .desired_width(ui.available_width())
                            .hint_text("Segment B…"),
                    )
                    .changed();
            }
            if changed {
                self.dirty_at = Some(Instant::now());
            }
            if let Some(t) = &self.trace {
                for w in &t.warnings {
                    ui.colored_label(ui.visuals().warn_fg_color, format!("Warning: {w}"));
                }
                views::token_chips(ui, t);
            }
        });
    }

    fn toolbar(&mut self, ui: &mut egui::Ui) {
        let (maps, heads) = self
            .trace
            .as_ref()
            .map_or((1, 1), |t| (t.attentions.len().max(1), t.num_heads.max(1)));
        let s = &mut self.settings;
        ui.horizontal_wrapped(|ui| {
            ui.selectable_value(&mut s.view, AttnView::Model, "Model view");
            ui.selectable_value(&mut s.view, AttnView::Heatmap, "Heatmap");
            ui.selectable_value(&mut s.view, AttnView::Links, "Token links");
            ui.separator();
            if s.view != AttnView::Model {
                let mut l = s.layer + 1;
                ui.add(egui::Slider::new(&mut l, 1..=maps).text("Layer"));
                s.layer = l - 1;
                egui::ComboBox::new("heads", "Heads")
                    .selected_text(match s.head {
                        HeadSel::Head(h) => format!("Head {}", h + 1),
                        HeadSel::Mean => "Mean of heads".into(),
                        HeadSel::Max => "Max of heads".into(),
                    })
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut s.head, HeadSel::Mean, "Mean of heads");
                        ui.selectable_value(&mut s.head, HeadSel::Max, "Max of heads");
                        for h in 0..heads {
                            ui.selectable_value(&mut s.head, HeadSel::Head(h), format!("Head {}", h + 1));
                        }
                    });
                egui::ComboBox::new("measure", "Measure")
                    .selected_text(match s.measure {
                        Measure::Attention => "Attention",
                        Measure::Rollout => "Rollout",
                        Measure::ValueNorm => "Value-weighted |αf|",
                    })
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut s.measure, Measure::Attention, "Attention")
                            .on_hover_text("the attention weights α");
                        ui.selectable_value(&mut s.measure, Measure::Rollout, "Rollout")
                            .on_hover_text("attention rollout from the input to this layer (Abnar & Zuidema 2020): head mean with the residual, multiplied through the layers");
                        ui.selectable_value(&mut s.measure, Measure::ValueNorm, "Value-weighted |αf|")
                            .on_hover_text("|α f(x)| (Kobayashi et al. 2020): the weight times the norm of the transformed value vector; for all heads, the norm of the sum over heads");
                    });
            }
        });
        ui.horizontal_wrapped(|ui| {
            egui::ComboBox::new("colormap", "Colormap")
                .selected_text(s.colormap.name())
                .show_ui(ui, |ui| {
                    for c in Colormap::ALL {
                        ui.selectable_value(&mut s.colormap, c, c.name());
                    }
                });
            ui.checkbox(&mut s.log_scale, "Log scale");
            ui.checkbox(&mut s.shared_scale, "Shared colour scale")
                .on_hover_text("one scale for every layer and head (0–1 for weights) instead of each map's own range");
            ui.checkbox(&mut s.hide_special, "Hide special tokens");
            ui.add_enabled(s.hide_special, egui::Checkbox::new(&mut s.renormalise, "Renormalise rows"));
            ui.separator();
            let before = s.diff;
            egui::ComboBox::new("diff", "Difference")
                .selected_text(match s.diff {
                    DiffMode::Off => "No difference",
                    DiffMode::SecondText => "Difference: second text",
                    DiffMode::CompareModel => "Difference: comparison model",
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut s.diff, DiffMode::Off, "No difference");
                    ui.selectable_value(&mut s.diff, DiffMode::SecondText, "Difference: second text");
                    ui.selectable_value(&mut s.diff, DiffMode::CompareModel, "Difference: comparison model");
                });
            if s.diff != before {
                self.dirty_at = Some(Instant::now() - DEBOUNCE);
            }
        });
        if self.settings.diff == DiffMode::SecondText {
            ui.horizontal(|ui| {
                ui.label("Text B:");
                if ui
                    .add(
                        egui::TextEdit::singleline(&mut self.settings.diff_text)
                            .desired_width(f32::INFINITY),
                    )
                    .changed()
                {
                    self.dirty_at = Some(Instant::now());
                }
            });
        }
    }

    fn attention_tab(&mut self, ui: &mut egui::Ui) {
        self.toolbar(ui);
        ui.horizontal(|ui| {
            self.export_button(ui, panels::ExportWhat::Attention);
            ui.weak("the view as a figure (PNG, SVG) or its matrix (CSV, NPY, safetensors)");
        });
        ui.separator();
        let Some(trace) = self.trace.clone() else {
            ui.centered_and_justified(|ui| {
                if self.status.progress.is_some() || self.status.running {
                    ui.spinner();
                } else {
                    ui.weak("Open a model and type some text to see its attention.");
                }
            });
            return;
        };
        match self.settings.view {
            AttnView::Model => {
                let s = &self.settings;
                let keep = trace.kept_tokens(s.hide_special);
                let key = (
                    self.trace_gen,
                    s.hide_special,
                    s.renormalise,
                    s.shared_scale,
                );
                if self.atlas.as_ref().is_none_or(|(k, _)| *k != key) {
                    self.atlas = Some((
                        key,
                        views::atlas(&trace, &keep, s.renormalise, s.shared_scale),
                    ));
                    self.atlas_gen += 1;
                }
                ui.weak(format!(
                    "Every layer × head of attention ({}); click one to open it.",
                    if s.shared_scale {
                        "one scale, 0–1"
                    } else {
                        "each thumbnail scaled to its own maximum"
                    }
                ));
                if let Some((_, atlas)) = &self.atlas {
                    if let Some((l, h)) = views::model_grid(
                        ui,
                        &mut self.grid_tex,
                        self.atlas_gen,
                        atlas,
                        self.settings.colormap,
                        self.settings.log_scale,
                        (self.settings.layer, self.settings.head),
                        &mut self.grid_origin,
                    ) {
                        self.settings.layer = l;
                        self.settings.head = HeadSel::Head(h);
                        self.settings.measure = Measure::Attention;
                        self.settings.view = AttnView::Heatmap;
                    }
                }
            }
            AttnView::Heatmap => {
                self.update_map();
                match &self.map {
                    Some(Ok(data)) => {
                        ui.label(&data.title);
                        let tex = heatmap::texture(
                            ui.ctx(),
                            &mut self.heat_tex,
                            "heatmap",
                            heatmap::Pixels {
                                gen: self.map_gen,
                                values: &data.values,
                                size: [data.cols, data.rows],
                            },
                            if data.diverging {
                                Colormap::Diverging
                            } else {
                                self.settings.colormap
                            },
                            &data.scale,
                        );
                        let cmap = if data.diverging {
                            Colormap::Diverging
                        } else {
                            self.settings.colormap
                        };
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
            AttnView::Links => {
                self.update_map();
                let heads = trace.num_heads;
                ui.horizontal_wrapped(|ui| {
                    ui.label("Overlay heads:");
                    for h in 0..heads {
                        let mut on = self.settings.link_heads.contains(&h);
                        let color = views::HEAD_COLORS[h % views::HEAD_COLORS.len()];
                        if ui
                            .checkbox(
                                &mut on,
                                egui::RichText::new(format!("H{}", h + 1)).color(color),
                            )
                            .changed()
                        {
                            if on {
                                self.settings.link_heads.push(h);
                            } else {
                                self.settings.link_heads.retain(|x| *x != h);
                            }
                        }
                    }
                    if ui.small_button("none").clicked() {
                        self.settings.link_heads.clear();
                    }
                });
                let Some(Ok(data)) = &self.map else {
                    if let Some(Err(why)) = &self.map {
                        ui.weak(why);
                    }
                    return;
                };
                let n = trace.num_tokens();
                let layer = self
                    .settings
                    .layer
                    .min(trace.attentions.len().saturating_sub(1));
                let overlays: Vec<Vec<f32>> =
                    if self.settings.link_heads.is_empty() || data.diverging {
                        Vec::new()
                    } else {
                        self.settings
                            .link_heads
                            .iter()
                            .filter(|&&h| h < heads)
                            .map(|&h| {
                                let m = &trace.attentions[layer][h * n * n..(h + 1) * n * n];
                                crate::analysis::restrict(
                                    m,
                                    n,
                                    &data.index,
                                    self.settings.hide_special && self.settings.renormalise,
                                )
                            })
                            .collect()
                    };
                let layers: Vec<views::LinkLayer<'_>> = if overlays.is_empty() {
                    vec![views::LinkLayer {
                        map: &data.values,
                        color: if ui.visuals().dark_mode {
                            egui::Color32::from_rgb(0x56, 0xB4, 0xE9)
                        } else {
                            egui::Color32::from_rgb(0x00, 0x72, 0xB2)
                        },
                    }]
                } else {
                    overlays
                        .iter()
                        .zip(&self.settings.link_heads)
                        .map(|(m, &h)| views::LinkLayer {
                            map: m,
                            color: views::HEAD_COLORS[h % views::HEAD_COLORS.len()],
                        })
                        .collect()
                };
                let max = if overlays.is_empty() {
                    data.scale.hi.max(-data.scale.lo)
                } else {
                    1.0
                };
                ui.weak(if overlays.is_empty() {
                    format!("{} — line opacity grows with the value; hover a token to keep only its lines", data.title)
                } else {
                    "attention of the ticked heads, one colour each — hover a token to keep only its lines".into()
                });
                views::token_links(ui, &data.row_labels, &layers, max, &mut self.links_hover);
            }
        }
    }

    /// The whole window, one frame (eframe calls it through [`eframe::App::ui`]).
    pub fn frame(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        let look = (self.settings.dark, self.settings.presentation);
        if self.theme_applied != Some(look) {
            let dark = self.settings.dark && !self.settings.presentation;
            ctx.set_theme(if dark {
                egui::Theme::Dark
            } else {
                egui::Theme::Light
            });
            ctx.all_styles_mut(|style| {
                let base = egui::Style::default().text_styles;
                let k = if self.settings.presentation {
                    1.35
                } else {
                    1.0
                };
                for (ts, font) in style.text_styles.iter_mut() {
                    if let Some(b) = base.get(ts) {
                        font.size = b.size * k;
                    }
                }
            });
            self.theme_applied = Some(look);
        }
        self.handle_events();
        self.poll_exports(&ctx);
        self.ask_for_tab();
        // a folder dropped on the window opens as the main model
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        if let Some(p) = dropped.into_iter().next() {
            let dir = if p.is_dir() {
                p
            } else {
                p.parent().map(PathBuf::from).unwrap_or(p)
            };
            self.open(ModelSlot::Main, ModelSource::Folder(dir));
        }
        if let Some(t) = self.dirty_at {
            let left = DEBOUNCE.saturating_sub(t.elapsed());
            if left.is_zero() {
                self.request_run();
            } else {
                ctx.request_repaint_after(left);
            }
        }
        egui::Panel::top("menu").show(ui, |ui| self.menu_bar(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui));
        egui::Panel::left("side")
            .resizable(true)
            .default_size(330.0)
            .min_size(220.0)
            .max_size(620.0)
            .show(ui, |ui| self.side_panel(ui));
        egui::CentralPanel::default_margins().show(ui, |ui| {
            self.tab_bar(ui);
            ui.separator();
            match self.settings.tab {
                Tab::Attention => self.attention_tab(ui),
                Tab::Projection => self.projection_tab(ui),
                Tab::Shared => self.shared_tab(ui),
                Tab::Lens => self.lens_tab(ui),
            }
        });
        self.path_dialog(&ctx);
        self.screenshot_step(&ctx);
    }

    fn screenshot_step(&mut self, ctx: &egui::Context) {
        let ready = self.trace.is_some() && !self.busy();
        let Some(shot) = self.screenshot.as_mut() else {
            return;
        };
        if shot.done.load(std::sync::atomic::Ordering::SeqCst) {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        if self.status.error.is_some() && !ready {
            eprintln!(
                "not taking the screenshot: {}",
                self.status.error.clone().unwrap_or_default()
            );
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        if ready {
            shot.frames += 1;
        }
        if shot.frames >= 10 && !shot.asked {
            shot.asked = true;
            let (path, done, wake) = (shot.path.clone(), shot.done.clone(), ctx.clone());
            ctx.request_screenshot(move |img| {
                let (w, h) = (img.size[0] as u32, img.size[1] as u32);
                let bytes: Vec<u8> = img.pixels.iter().flat_map(|c| c.to_array()).collect();
                match image::RgbaImage::from_raw(w, h, bytes).map(|i| i.save(&path)) {
                    Some(Ok(())) => eprintln!("screenshot: {}", path.display()),
                    Some(Err(e)) => eprintln!("cannot write {}: {e}", path.display()),
                    None => eprintln!("the screenshot had an unexpected size"),
                }
                done.store(true, std::sync::atomic::Ordering::SeqCst);
                wake.request_repaint();
            });
        }
        ctx.request_repaint();
    }
}

impl eframe::App for LensApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.settings);
    }
}

/// The process's resident memory in MB (Linux), for the status bar.
pub fn resident_mb() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096.0 / 1e6)
}

/// egui's default fonts, with Hack (which has SentencePiece's "▁" and the arrows) as a fallback
/// for the proportional text that token labels use.
fn install_fonts(ctx: &egui::Context) {
    let mut fonts = egui::FontDefinitions::default();
    if fonts.font_data.contains_key("Hack") {
        if let Some(p) = fonts.families.get_mut(&egui::FontFamily::Proportional) {
            let at = p
                .iter()
                .position(|f| f == "Ubuntu-Light")
                .map_or(0, |i| i + 1);
            p.insert(at, "Hack".to_owned());
        }
    }
    ctx.set_fonts(fonts);
}
