//! What every tab sees: the two models, the input text and the main model's trace on it, the
//! worker, the status bar's state, the preferences the tabs share, and exports in flight. The
//! shell owns one [`Session`] and lends it to the chrome and to the open tab each frame.

use super::export_menu::{ExportAsk, ExportDone, ExportTheme};
use super::jobs::{self, Job, Waker};
use super::worker::{ModelInfo, ModelSlot, Traced, Worker};
use crate::colormap::Colormap;
use crate::figures::Figure;
use crate::matrix::Matrix;
use crate::model::{Intervention, ModelSource, Trace};
use std::sync::Arc;
use web_time::{Duration, Instant};

/// The sentence the app runs on first start.
pub const EXAMPLE_TEXT: &str = "The animal didn't cross the street because it was too tired.";

/// How long typing must pause before the model re-runs.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// What the session persists between runs (each tab persists its own settings).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SessionSettings {
    pub text: String,
    pub pair_on: bool,
    pub pair: String,
    pub recent: Vec<ModelSource>,
    pub main_source: Option<ModelSource>,
    pub compare_source: Option<ModelSource>,
    /// the open tab's id (named apart from the earlier `tab` enum, so that settings saved by
    /// an earlier version still load: that field is ignored, the others carry over)
    pub open_tab: String,
    pub dark: bool,
    /// light theme, large type (for projecting the app itself)
    pub presentation: bool,
    /// the views' colormap (attention maps, JS matrices, what-if thumbnails)
    pub colormap: Colormap,
    /// leave [CLS], [SEP] and other special tokens out of every view
    pub hide_special: bool,
    /// the layer the attention and projection views show (0-based)
    pub layer: usize,
    pub export_theme: ExportTheme,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            text: EXAMPLE_TEXT.into(),
            pair_on: false,
            pair: String::new(),
            recent: Vec::new(),
            main_source: None,
            compare_source: None,
            open_tab: "attention".into(),
            dark: true,
            presentation: false,
            colormap: Colormap::Viridis,
            hide_special: false,
            layer: 0,
            export_theme: ExportTheme::Light,
        }
    }
}

/// What the status bar shows besides the jobs' progress.
#[derive(Debug, Default)]
pub struct Status {
    pub forward_ms: Option<f64>,
    pub backend: String,
    /// the last error, shown until dismissed or replaced
    pub error: Option<String>,
    /// the last thing done that the user should know of ("saved ...")
    pub notice: Option<String>,
}

pub use super::slot::OpenKey;

/// A run of the main model: its generation and the input.
#[derive(Debug, Clone, PartialEq)]
struct RunKey {
    model_gen: u64,
    input: Input,
}

/// One model slot: what is loaded, and the opening in flight.
#[derive(Default)]
pub struct ModelState {
    pub info: Option<ModelInfo>,
    /// bumped on every successful open (keys of everything computed from the model)
    pub gen: u64,
    opening: Job<OpenKey, ModelInfo>,
    asked: u64,
}

/// The text a run used: the input as it was when typing paused.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Input {
    pub text: String,
    pub pair: Option<String>,
    /// heads switched off and tokens masked in the main run
    pub intervention: Intervention,
    /// bumped on every run asked for (keys of the tabs' own runs on the same input)
    pub seq: u64,
}

/// Something the side panel or a menu asks the shell (which holds the tabs) to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewRequest {
    /// File > Save scene…: write the scene of what the window shows
    SaveScene(std::path::PathBuf),
    /// File > Open scene…: take a scene's settings and models
    OpenScene(std::path::PathBuf),
    /// the page's File > Open scene…: a scene file's name and bytes, picked in the browser
    OpenSceneBytes(String, Vec<u8>),
    /// the Deck panel's Open…, typed where no file dialog could open
    OpenDeck(std::path::PathBuf),
    /// the layer lens at a token just masked
    Lens(usize),
    /// the attention views' difference: the changed run minus the intact one
    InterventionDiff,
    /// the Corpus tab's file, typed where no file dialog could open
    CorpusFile(std::path::PathBuf),
    /// the Prediction tab's labelled file, typed where no file dialog could open
    LabelledFile(std::path::PathBuf),
}

pub struct Session {
    pub settings: SessionSettings,
    pub worker: Worker,
    pub wake: Waker,
    pub models: [ModelState; 2],
    /// the input of the last run asked for
    pub input: Input,
    run: Job<RunKey, Traced>,
    trace: Option<Traced>,
    /// bumped whenever a new main trace is installed (keys of everything computed from it)
    pub trace_gen: u64,
    pub status: Status,
    /// what the user switched off or masked (copied into the next run's [`Input`])
    pub intervention: Intervention,
    /// a view the side panel asked the shell to open
    pub view_request: Option<ViewRequest>,
    dirty_at: Option<Instant>,
    exports: Vec<Job<u64, ExportDone>>,
    /// the path typed where no native file dialog could open
    pub prompt: Option<super::file_dialog::PathPrompt>,
    /// the GPU's weight products on cooperative matrices (Compute menu; exact by default)
    pub fast_gpu: bool,
    /// the backend the user chose (--backend): runs on threads of their own (corpus mode) make
    /// a backend of this choice, as the worker did
    pub backend_choice: crate::backend::BackendChoice,
}

impl Session {
    pub fn new(settings: SessionSettings, worker: Worker, wake: Waker) -> Self {
        Session {
            settings,
            worker,
            wake,
            models: Default::default(),
            input: Input::default(),
            run: Job::default(),
            trace: None,
            trace_gen: 0,
            status: Status::default(),
            intervention: Intervention::default(),
            view_request: None,
            dirty_at: None,
            exports: Vec::new(),
            prompt: None,
            fast_gpu: false,
            backend_choice: crate::backend::BackendChoice::Auto,
        }
    }

    pub fn info(&self, slot: ModelSlot) -> Option<&ModelInfo> {
        self.models[slot as usize].info.as_ref()
    }

    /// The model's name as views and figures title it ("model" before one is loaded).
    pub fn label(&self, slot: ModelSlot) -> String {
        self.info(slot)
            .map_or_else(|| "model".into(), |i| i.source.name())
    }

    /// The model as menus and messages name it ([`ModelSource::label`]: "… (built in)", the
    /// folder's path, "hub:ID"; "model" before one is loaded).
    pub fn source_label(&self, slot: ModelSlot) -> String {
        self.info(slot)
            .map_or_else(|| "model".into(), |i| i.source.label())
    }

    /// The main model's trace of the current input.
    pub fn trace(&self) -> Option<&Arc<Trace>> {
        self.trace.as_ref().map(|t| &t.trace)
    }

    /// The main run with what came with it (the intact run and the prediction change of an
    /// intervention).
    pub fn traced(&self) -> Option<&Traced> {
        self.trace.as_ref()
    }

    /// Attention rollout of every layer of [`Self::trace`].
    pub fn rollout(&self) -> Arc<Vec<Vec<f32>>> {
        self.trace
            .as_ref()
            .map_or_else(Arc::default, |t| t.rollout.clone())
    }

    /// Asks the worker to open a model into a slot.
    pub fn open(&mut self, slot: ModelSlot, source: ModelSource) {
        let m = &mut self.models[slot as usize];
        m.asked += 1;
        let key = OpenKey {
            source: source.clone(),
            asked: m.asked,
        };
        if let Some(ticket) = m.opening.ask(key, &self.wake) {
            ticket
                .control
                .report(format!("opening {}", source.label()), None);
            // a page fetches a Hub model's files first (asynchronously), then opens them
            #[cfg(target_arch = "wasm32")]
            if let ModelSource::Hub(id) = &source {
                if !super::page::fetched(&source) {
                    super::page::fetch_hub(slot, id.clone(), ticket, self.wake.clone());
                    return;
                }
            }
            self.worker
                .run(ticket, move |e, ctl| e.open(slot, source, ctl));
        }
    }

    /// Marks the input as edited: the model runs once typing pauses for [`DEBOUNCE`].
    pub fn touch(&mut self) {
        self.dirty_at = Some(Instant::now());
    }

    /// Marks the input as edited, to run at the next frame.
    pub fn touch_now(&mut self) {
        self.dirty_at = Some(Instant::now() - DEBOUNCE);
    }

    /// Switches the GPU's weight products between exact f32 and cooperative matrices, then
    /// runs the text again (the switch reaches the worker before the run).
    pub fn set_fast_gpu(&mut self, fast: bool) {
        self.fast_gpu = fast;
        let p = if fast {
            crate::backend::Precision::Fast
        } else {
            crate::backend::Precision::Exact
        };
        self.worker.set_precision(p, self.wake.clone());
        self.request_run();
    }

    /// The text and pair the settings ask for.
    fn wanted_text(&self) -> (String, Option<String>) {
        let s = &self.settings;
        (
            s.text.clone(),
            s.pair_on
                .then(|| s.pair.clone())
                .filter(|p| !p.trim().is_empty()),
        )
    }

    /// Takes an intervention that belongs to the settings' text (a scene's): the next run
    /// keeps its masked positions instead of clearing them as an edit of the text does.
    pub fn adopt_input(&mut self, intervention: Intervention) {
        (self.input.text, self.input.pair) = self.wanted_text();
        self.intervention = intervention;
    }

    /// Asks for a forward pass of the current text. Tabs that run on the same input (the
    /// second text of a difference, the comparison model, the what-if) follow [`Input::seq`].
    pub fn request_run(&mut self) {
        self.dirty_at = None;
        if self.info(ModelSlot::Main).is_none() {
            return;
        }
        let (text, pair) = self.wanted_text();
        if (&text, &pair) != (&self.input.text, &self.input.pair) {
            // masked positions belong to the old tokens
            self.intervention.masked.clear();
        }
        self.input = Input {
            text,
            pair,
            intervention: self.intervention.clone(),
            seq: self.input.seq + 1,
        };
        let key = RunKey {
            model_gen: self.models[0].gen,
            input: self.input.clone(),
        };
        if let Some(ticket) = self.run.ask(key, &self.wake) {
            let input = self.input.clone();
            let run = (input.text, input.pair);
            self.worker
                .run_traced(ticket, ModelSlot::Main, run, true, input.intervention);
        }
    }

    /// The text of the newest run that came back (the text [`Self::trace`] is of, where the
    /// worker made it).
    pub fn traced_text(&self) -> Option<&str> {
        self.run.latest().map(|(k, _)| k.input.text.as_str())
    }

    /// Installs a trace (from the worker; the UI benchmark makes its own).
    pub fn set_trace(&mut self, traced: Traced) {
        let layers = traced.trace.attentions.len().max(1);
        self.trace = Some(traced);
        self.trace_gen += 1;
        self.settings.layer = self.settings.layer.min(layers - 1);
    }

    /// True while the session waits on the worker (a model opening, a run, typing).
    pub fn busy(&self) -> bool {
        self.dirty_at.is_some()
            || self.run.pending()
            || self.models.iter().any(|m| m.opening.pending())
    }

    /// Whether the main run is in flight (the status bar's spinner).
    pub fn running(&self) -> bool {
        self.run.pending()
    }

    /// The progress of a model opening in flight (its note and fraction: [`jobs::Control`]'s
    /// `progress`), and its cancel switch.
    pub fn progress(&self) -> Option<Arc<jobs::Control>> {
        self.models
            .iter()
            .find_map(|m| m.opening.control())
            .or_else(|| self.exports.iter().find_map(|j| j.control()))
            .cloned()
    }

    /// Takes in what the worker and the export threads finished, and runs the input once
    /// typing has paused. Called at the start of every frame.
    pub fn poll(&mut self, ctx: &egui::Context) {
        #[cfg(target_arch = "wasm32")]
        for (slot, source, ticket) in super::page::take_fetched() {
            self.worker
                .run(ticket, move |e, ctl| e.open(slot, source, ctl));
        }
        for slot in [ModelSlot::Main, ModelSlot::Compare] {
            let m = &mut self.models[slot as usize];
            if !m.opening.poll() {
                continue;
            }
            let Some((_, result)) = m.opening.latest().cloned() else {
                continue;
            };
            match result {
                Ok(info) => self.loaded(slot, info),
                Err(e) => {
                    // the error names the folder, file or Hub id once
                    self.status.error = Some(format!("cannot open the model: {e}"));
                }
            }
        }
        if self.run.poll() {
            match self.run.current().cloned() {
                Some(Ok(traced)) => {
                    self.status.forward_ms = Some(traced.ms);
                    self.status.backend = traced.backend.clone();
                    self.status.error = None;
                    self.set_trace(traced);
                }
                Some(Err(e)) => self.status.error = Some(e),
                None => {}
            }
        }
        self.poll_exports(ctx);
        if let Some(t) = self.dirty_at {
            let left = DEBOUNCE.saturating_sub(t.elapsed());
            if left.is_zero() {
                self.request_run();
            } else {
                ctx.request_repaint_after(left);
            }
        }
    }

    fn loaded(&mut self, slot: ModelSlot, info: ModelInfo) {
        let source = info.source.clone();
        if let ModelSource::Folder(_) | ModelSource::Hub(_) = source {
            self.settings.recent.retain(|s| *s != source);
            self.settings.recent.insert(0, source.clone());
            self.settings.recent.truncate(10);
        }
        let m = &mut self.models[slot as usize];
        m.info = Some(info);
        m.gen += 1;
        match slot {
            ModelSlot::Main => {
                // picked files are the page's for this visit only: the next start opens the
                // model before them
                if !matches!(source, ModelSource::Picked(_)) {
                    self.settings.main_source = Some(source);
                }
                self.trace = None;
                self.request_run();
            }
            ModelSlot::Compare => self.settings.compare_source = Some(source),
        }
    }

    /// Saves or copies a view built by a tab, as the Export menu asked: the encoding and the
    /// save dialog run on a thread of their own.
    pub fn export(&mut self, ask: ExportAsk, built: Result<(Figure, Option<Matrix>), String>) {
        let (figure, matrix) = match built {
            Ok(v) => v,
            Err(e) => {
                self.status.error = Some(format!("export: {e}"));
                return;
            }
        };
        let mut job = Job::default();
        if let Some(ticket) = job.ask(0u64, &self.wake) {
            jobs::spawn("export", ticket, move |_| ask.run(&figure, matrix.as_ref()));
        }
        self.exports.push(job);
    }

    /// Encodes and saves an animation off the UI thread, with progress in the status bar.
    pub fn export_animation(
        &mut self,
        format: crate::figures::animate::AnimFormat,
        frames: Vec<Figure>,
    ) {
        let ext = format.ext();
        let name = format!("albert-lens-layers.{ext}");
        self.save_made(("Save the animation", &name, ext), move |ctl| {
            crate::figures::animate::encode(&frames, (2.0, 1.5), format, ctl)
                .map_err(|e| e.to_string())
        });
    }

    /// Makes a file's bytes off the UI thread (`make`, with progress on its control), then asks
    /// where to save them (`title`, suggesting `name`, filtered to `ext`) and writes them: the
    /// animations, and the Deck panel's Save and PDF export.
    pub fn save_made(
        &mut self,
        (title, name, ext): (&str, &str, &str),
        make: impl FnOnce(&crate::insight::Control) -> Result<Vec<u8>, String> + Send + 'static,
    ) {
        let (title, name, ext) = (title.to_string(), name.to_string(), ext.to_string());
        let mut job = Job::default();
        if let Some(ticket) = job.ask(0u64, &self.wake) {
            jobs::spawn("save", ticket, move |ctl| {
                super::export_menu::save_bytes(make(ctl)?, &title, &name, &ext)
            });
        }
        self.exports.push(job);
    }

    /// No native file dialog could open: the status bar says so and `prompt` asks for the path.
    pub fn no_dialog(&mut self, prompt: super::file_dialog::PathPrompt) {
        // a page saves by download, under the name the prompt suggests
        #[cfg(target_arch = "wasm32")]
        if let super::file_dialog::PathFor::SaveBytes(bytes) = &prompt.purpose {
            let name = prompt.text.rsplit('/').next().unwrap_or("albert-lens");
            match super::page::download(name, bytes) {
                Ok(()) => self.status.notice = Some(format!("downloaded {name}")),
                Err(e) => self.status.error = Some(format!("save: {e}")),
            }
            return;
        }
        self.status.error = Some(super::file_dialog::UNAVAILABLE.into());
        // no path can be typed into a page: there the status bar alone says what is missing
        if cfg!(not(target_arch = "wasm32")) {
            self.prompt = Some(prompt);
        }
    }

    /// What a native dialog for `prompt`'s purpose gave: the chosen path acted on, a cancel
    /// ignored, no dialog at all turned into the typed-path prompt.
    pub fn answer(
        &mut self,
        prompt: super::file_dialog::PathPrompt,
        picked: super::file_dialog::Picked,
    ) {
        use super::file_dialog::Picked;
        match picked {
            Picked::Path(p) => {
                self.prompt = Some(prompt);
                self.confirm_prompt(p);
            }
            Picked::Unavailable => self.no_dialog(prompt),
            Picked::Cancelled => {}
        }
    }

    /// The path typed into the prompt: does what the prompt was for (a save runs off the UI
    /// thread, as the dialog's would).
    pub fn confirm_prompt(&mut self, path: std::path::PathBuf) {
        use super::file_dialog::PathFor;
        let Some(prompt) = self.prompt.take() else {
            return;
        };
        self.status.error = None;
        match prompt.purpose {
            PathFor::SaveBytes(bytes) => {
                let mut job = Job::default();
                if let Some(ticket) = job.ask(0u64, &self.wake) {
                    jobs::spawn("export", ticket, move |_| {
                        crate::files::write_atomic(&path, &bytes).map_err(|e| e.to_string())?;
                        Ok(ExportDone::Saved(path))
                    });
                }
                self.exports.push(job);
            }
            PathFor::SaveScene => self.view_request = Some(ViewRequest::SaveScene(path)),
            PathFor::OpenScene => self.view_request = Some(ViewRequest::OpenScene(path)),
            PathFor::OpenDeck => self.view_request = Some(ViewRequest::OpenDeck(path)),
            PathFor::CorpusFile => self.view_request = Some(ViewRequest::CorpusFile(path)),
            PathFor::LabelledFile => self.view_request = Some(ViewRequest::LabelledFile(path)),
            PathFor::ModelFolder(slot) => self.open(slot, ModelSource::Folder(path)),
        }
    }

    /// Results of finished exports: a note in the status bar, an image on the clipboard.
    fn poll_exports(&mut self, ctx: &egui::Context) {
        let status = &mut self.status;
        let mut unsaved = Vec::new();
        self.exports.retain_mut(|job| {
            if !job.poll() {
                return true;
            }
            match job.current() {
                Some(Ok(ExportDone::Saved(p))) => {
                    status.notice = Some(format!("saved {}", p.display()))
                }
                Some(Ok(ExportDone::Copied(img))) => {
                    ctx.copy_image(img.clone());
                    status.notice = Some("image copied to the clipboard".into());
                }
                Some(Ok(ExportDone::Cancelled)) | None => {}
                Some(Ok(ExportDone::NoDialog(bytes, name))) => {
                    unsaved.push(super::file_dialog::PathPrompt::new(
                        super::file_dialog::PathFor::SaveBytes(bytes.clone()),
                        "Export: save as",
                        name,
                    ))
                }
                Some(Err(e)) => status.error = Some(format!("export: {e}")),
            }
            false
        });
        // no save dialog could open: the typed-path prompt (on the page, a download)
        for prompt in unsaved {
            self.no_dialog(prompt);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// eframe storage holding one RON string, as a settings file would.
    struct Saved(String);

    impl eframe::Storage for Saved {
        fn get_string(&self, _key: &str) -> Option<String> {
            Some(self.0.clone())
        }
        fn set_string(&mut self, _key: &str, _value: String) {}
        fn remove_string(&mut self, _key: &str) {}
        fn flush(&mut self) {}
    }

    #[test]
    fn settings_saved_by_the_earlier_version_keep_their_text_models_and_look() {
        // the earlier app's Settings: every tab's fields in one struct, the tab as an enum
        let old = r#"(dark:false,colormap:Magma,log_scale:true,shared_scale:false,hide_special:true,renormalise:true,view:Links,layer:2,head:Head(1),measure:Rollout,diff:Off,text:"a saved sentence",pair_on:false,pair:"",diff_text:"b",recent:[Folder("/models/albert")],main_source:Some(Hub("albert-base-v2")),compare_source:None,link_heads:[],tab:Shared,proj_mode:Layer,color_by:Layer,proj_3d:false,proj_tsne:false,proj_labels:false,vocab_query:"king",js_mode:MatchedHeads,repeats_text:"6",lens_pos:None,lens_k:5,export_theme:Dark,presentation:false)"#;
        let s: SessionSettings =
            eframe::get_value(&Saved(old.into()), eframe::APP_KEY).expect("not loaded");
        assert_eq!(s.text, "a saved sentence");
        assert_eq!(
            s.main_source,
            Some(ModelSource::Hub("albert-base-v2".into()))
        );
        assert_eq!(s.recent, vec![ModelSource::Folder("/models/albert".into())]);
        assert!(!s.dark && s.hide_special);
        assert_eq!((s.colormap, s.layer), (Colormap::Magma, 2));
        assert_eq!(s.export_theme, ExportTheme::Dark);
        assert_eq!(
            s.open_tab, "attention",
            "the old enum is not read as a tab id"
        );
    }
}
