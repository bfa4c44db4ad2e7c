//! The desktop app (eframe/egui). The shell ([`LensApp`]) holds the [`session::Session`] (models,
//! input, trace, worker, status), the chrome (menus, side panel, status bar) and the list of
//! [`tabs`]; each frame it takes in finished jobs, draws the chrome, and lends the session to
//! the open tab. Everything slow runs off the UI thread as [`jobs`].

pub mod chrome;
pub mod deck;
pub mod export_menu;
pub mod file_dialog;
#[cfg(not(target_arch = "wasm32"))]
pub mod frame_bench;
pub mod in_flight;
pub mod interventions;
pub mod jobs;
#[cfg(target_arch = "wasm32")]
pub mod page;
pub mod scene;
pub mod scene_flags;
pub mod session;
pub mod slot;
pub mod tabs;
#[cfg(target_arch = "wasm32")]
pub mod web;
pub mod widgets;
pub mod worker;

use crate::backend::BackendChoice;
use session::{Session, SessionSettings};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tabs::Tab;
use worker::{ModelSlot, Worker, WorkerBackend};

pub use session::EXAMPLE_TEXT;
pub use tabs::attention::AttnView;

/// How the app starts.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub backend: BackendChoice,
    /// load settings from eframe storage (off in tests)
    pub restore: bool,
    /// open this model instead of the remembered one (or the built-in albert-mini)
    pub open: Option<crate::model::ModelSource>,
    /// and this one as the comparison model (default: bert-mini)
    pub compare: Option<crate::model::ModelSource>,
    pub text: Option<String>,
    /// open the models at start (off for the UI benchmark, which installs its own trace)
    pub start_models: bool,
    /// save a PNG of the window once the first result is drawn, then close (for README figures)
    pub screenshot: Option<PathBuf>,
    /// the Attention tab's view
    pub view: Option<AttnView>,
    /// the open tab's id (see [`tabs::registry`])
    pub tab: Option<String>,
    /// open this deck (a file, or builtin:NAME) in the Deck panel
    pub deck: Option<String>,
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
            deck: None,
        }
    }
}

pub struct LensApp {
    pub session: Session,
    tabs: Vec<Box<dyn Tab>>,
    chrome: chrome::Chrome,
    /// (dark, presentation) as last applied to egui's style
    theme_applied: Option<(bool, bool)>,
    screenshot: Option<Screenshot>,
    /// the Deck panel and present mode
    pub deck: deck::panel::DeckUi,
}

/// A pending `--screenshot`: frames drawn since the first result, and whether it was saved.
struct Screenshot {
    path: PathBuf,
    frames: u32,
    done: Arc<AtomicBool>,
    asked: bool,
}

impl LensApp {
    /// The app for eframe: settings from storage, the worker started on the window's GPU device
    /// when there is one, models requested.
    pub fn new(cc: &eframe::CreationContext<'_>, opts: AppOptions) -> Self {
        let storage = cc.storage.filter(|_| opts.restore);
        let settings = storage
            .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
            .unwrap_or_default();
        let backend = match (&cc.wgpu_render_state, opts.backend) {
            // a page computes on the GPU only through WebGPU (WebGL2 has no compute shaders),
            // and on the device it draws with (a page cannot wait for a device of its own)
            (Some(rs), _)
                if cfg!(target_arch = "wasm32")
                    && rs.adapter.get_info().backend != wgpu::Backend::BrowserWebGpu =>
            {
                WorkerBackend::Own(BackendChoice::Cpu)
            }
            (None, _) if cfg!(target_arch = "wasm32") => WorkerBackend::Own(BackendChoice::Cpu),
            (Some(rs), BackendChoice::Auto | BackendChoice::Gpu) => WorkerBackend::Window(
                opts.backend,
                Box::new(crate::backend::gpu::GpuContext::from_device(
                    rs.device.clone(),
                    rs.queue.clone(),
                    rs.adapter.get_info(),
                )),
            ),
            _ => WorkerBackend::Own(opts.backend),
        };
        let mut app = Self::start(&cc.egui_ctx, settings, backend, opts);
        if let Some(s) = storage {
            for tab in &mut app.tabs {
                if let Some(v) = eframe::get_value(s, &format!("tab.{}", tab.id())) {
                    tab.load(v);
                }
            }
        }
        app
    }

    /// The app with `settings`, computing on a headless device of its own (the UI benchmark).
    pub fn with_settings(ctx: &egui::Context, settings: SessionSettings, opts: AppOptions) -> Self {
        let backend = WorkerBackend::Own(opts.backend);
        Self::start(ctx, settings, backend, opts)
    }

    fn start(
        ctx: &egui::Context,
        mut settings: SessionSettings,
        backend: WorkerBackend,
        opts: AppOptions,
    ) -> Self {
        install_fonts(ctx);
        let wake_ctx = ctx.clone();
        let wake: jobs::Waker = Arc::new(move || wake_ctx.request_repaint());
        let worker = Worker::spawn(backend, wake.clone());
        if let Some(t) = opts.text {
            settings.text = t;
        }
        if let Some(t) = opts.tab {
            settings.open_tab = t;
        }
        let main = opts
            .open
            .or_else(|| settings.main_source.clone())
            .unwrap_or_else(|| crate::model::ModelSource::Builtin("albert-mini".into()));
        let compare = opts
            .compare
            .or_else(|| settings.compare_source.clone())
            .unwrap_or_else(|| crate::model::ModelSource::Builtin("bert-mini".into()));
        let mut session = Session::new(settings, worker, wake);
        session.backend_choice = opts.backend;
        let mut app = LensApp {
            session,
            tabs: tabs::registry(),
            chrome: chrome::Chrome::default(),
            theme_applied: None,
            deck: deck::panel::DeckUi::default(),
            screenshot: opts.screenshot.map(|path| Screenshot {
                path,
                frames: 0,
                done: Arc::new(AtomicBool::new(false)),
                asked: false,
            }),
        };
        if let Some(v) = opts.view {
            if let Some(a) = app.tab_mut::<tabs::attention::AttentionTab>() {
                a.settings.view = v;
            }
        }
        if let Some(d) = &opts.deck {
            app.deck.open_deck(d, &mut app.session);
        }
        if opts.start_models {
            app.session.open(ModelSlot::Main, main);
            app.session.open(ModelSlot::Compare, compare);
        }
        app
    }

    /// The tab of type `T` (tests and the UI benchmark reach into tabs with it).
    pub fn tab<T: Tab>(&self) -> Option<&T> {
        self.tabs.iter().find_map(|t| (**t).as_any().downcast_ref())
    }

    pub fn tab_mut<T: Tab>(&mut self) -> Option<&mut T> {
        self.tabs
            .iter_mut()
            .find_map(|t| (**t).as_any_mut().downcast_mut())
    }

    /// The open tab's id.
    pub fn active_tab(&self) -> &str {
        &self.session.settings.open_tab
    }

    /// Every view the tabs can export, as (tab id, view name).
    pub fn exports(&self) -> Vec<(&'static str, &'static str)> {
        self.tabs
            .iter()
            .flat_map(|t| t.exports().iter().map(|w| (t.id(), *w)))
            .collect()
    }

    /// One view of one tab layer by layer, as the Export menu's animation draws it (None: the
    /// view has no animation).
    pub fn animate(
        &mut self,
        tab: &str,
        what: &str,
        theme: &crate::figures::Theme,
    ) -> Option<Result<Vec<crate::figures::Figure>, String>> {
        let t = self.tabs.iter_mut().find(|t| t.id() == tab)?;
        t.animate(what, &self.session, theme)
    }

    /// One view of one tab as the Export menu builds it.
    pub fn build_export(
        &mut self,
        tab: &str,
        what: &str,
        theme: &crate::figures::Theme,
    ) -> tabs::Built {
        let t = self
            .tabs
            .iter_mut()
            .find(|t| t.id() == tab)
            .ok_or_else(|| format!("there is no tab {tab:?}"))?;
        t.export(what, &self.session, theme)
    }

    /// Asks tab `tab` for the work a headless export of `what` needs ([`tabs::Tab::prepare_export`]).
    pub fn prepare_export(&mut self, tab: &str, what: &str) {
        if let Some(t) = self.tabs.iter_mut().find(|t| t.id() == tab) {
            t.prepare_export(what, &mut self.session);
        }
    }

    /// True while anything is in flight (tests and the screenshot wait on it).
    pub fn busy(&self) -> bool {
        self.session.busy() || self.tabs.iter().any(|t| t.busy())
    }

    fn apply_theme(&mut self, ctx: &egui::Context) {
        let s = &self.session.settings;
        let look = (s.dark, s.presentation);
        if self.theme_applied == Some(look) {
            return;
        }
        ctx.set_theme(if s.dark && !s.presentation {
            egui::Theme::Dark
        } else {
            egui::Theme::Light
        });
        let k = if s.presentation { 1.35 } else { 1.0 };
        ctx.all_styles_mut(|style| {
            let base = egui::Style::default().text_styles;
            for (ts, font) in style.text_styles.iter_mut() {
                if let Some(b) = base.get(ts) {
                    font.size = b.size * k;
                }
            }
        });
        self.theme_applied = Some(look);
    }

    /// The whole window, one frame (eframe calls it through [`eframe::App::ui`]).
    pub fn frame(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.apply_theme(&ctx);
        // the page's worker computes here, between frames (the desktop's has its own thread)
        #[cfg(target_arch = "wasm32")]
        {
            self.session.worker.pump();
            jobs::pump_steps();
        }
        self.session.poll(&ctx);
        #[cfg(target_arch = "wasm32")]
        web::publish(&self.session);
        #[cfg(target_arch = "wasm32")]
        web::publish_tab(self.active_tab());
        self.chrome.poll(&mut self.session);
        // a folder dropped on the window opens as the main model
        let dropped: Option<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .find(|p| !p.as_os_str().is_empty())
        });
        if let Some(p) = dropped {
            let dir = if p.is_dir() {
                p
            } else {
                p.parent().map(PathBuf::from).unwrap_or(p)
            };
            self.session
                .open(ModelSlot::Main, crate::model::ModelSource::Folder(dir));
        }
        if self.deck.present.is_some() && self.deck.present_ui(ui) {
            // present mode has the whole window; typed-path prompts wait for it to end
            return;
        }
        let cx = &mut self.session;
        let chrome = &mut self.chrome;
        let deck = &mut self.deck;
        egui::Panel::top("menu").show(ui, |ui| chrome.menu_bar(ui, cx, &mut deck.open));
        egui::Panel::bottom("status").show(ui, |ui| chrome.status_bar(ui, cx));
        egui::Panel::left("side")
            .resizable(true)
            .default_size(330.0)
            .min_size(220.0)
            .max_size(620.0)
            .show(ui, |ui| chrome.side_panel(ui, cx));
        let mut deck_action = None;
        if deck.open {
            egui::Panel::right("deck")
                .resizable(true)
                .default_size(340.0)
                .min_size(260.0)
                .show(ui, |ui| {
                    egui::ScrollArea::vertical()
                        .id_salt("deck panel")
                        .show(ui, |ui| deck_action = deck.ui(ui, cx));
                });
        }
        let tabs = &mut self.tabs;
        egui::CentralPanel::default_margins().show(ui, |ui| {
            // wrapped: in presentation mode's large type the tabs take two rows, none cut off
            ui.horizontal_wrapped(|ui| {
                // a little under the heading size: nine tabs fit one row at 1280 px
                let size = ui
                    .style()
                    .text_styles
                    .get(&egui::TextStyle::Heading)
                    .map_or(18.0, |f| f.size)
                    * 0.88;
                for tab in tabs.iter() {
                    let on = cx.settings.open_tab == tab.id();
                    let title = egui::RichText::new(tab.title()).size(size);
                    if ui.selectable_label(on, title).clicked() {
                        cx.settings.open_tab = tab.id().to_string();
                    }
                }
            });
            ui.separator();
            let open = tabs.iter().position(|t| t.id() == cx.settings.open_tab);
            if let Some(tab) = tabs.get_mut(open.unwrap_or(0)) {
                tab.ui(ui, cx);
            }
        });
        chrome.path_dialog(&ctx, cx);
        chrome.path_prompt(&ctx, cx);
        if let Some(a) = deck_action {
            self.deck_action(a);
        }
        self.view_request();
        self.screenshot_step(&ctx);
    }

    /// Does what the Deck panel asked: a slide of the view the window shows (new, or in place
    /// of slide i), or the window set to slide i.
    fn deck_action(&mut self, a: deck::panel::Action) {
        use deck::panel::Action;
        let current = || -> Result<(scene::Scene, String), String> {
            let s = self.scene()?;
            let tab = self
                .tabs
                .iter()
                .find(|t| t.id() == s.figure.0)
                .map_or(s.figure.0.as_str(), |t| t.title());
            let title = deck::panel::title_of(tab, &s.figure.1);
            Ok((s, title))
        };
        match a {
            Action::AddCurrent => match current() {
                Ok((s, title)) => self.deck.add(s, title),
                Err(e) => self.session.status.error = Some(format!("deck: {e}")),
            },
            Action::Update(i) => match current() {
                Ok((s, _)) => {
                    if let Some(slide) = self.deck.deck.slides.get_mut(i) {
                        slide.scene = s;
                    }
                }
                Err(e) => self.session.status.error = Some(format!("deck: {e}")),
            },
            Action::Show(i) => {
                if let Some(s) = self.deck.deck.scene(i) {
                    let missing = self.apply_scene(&s);
                    if !missing.is_empty() {
                        self.session.status.error = Some(format!(
                            "the slide's model folder is missing: {}",
                            missing.join(", ")
                        ));
                    }
                }
            }
        }
    }

    /// Opens what the side panel asked for: the lens at a token just masked, or the attention
    /// views' difference against the intact run.
    fn view_request(&mut self) {
        match self.session.view_request.take() {
            Some(session::ViewRequest::Lens(pos)) => {
                if let Some(l) = self.tab_mut::<tabs::lens::LensTab>() {
                    l.settings.position = Some(pos);
                }
                if self
                    .session
                    .info(ModelSlot::Main)
                    .is_some_and(|i| i.has_mlm)
                {
                    self.session.settings.open_tab = "lens".into();
                }
            }
            Some(session::ViewRequest::InterventionDiff) => {
                if let Some(a) = self.tab_mut::<tabs::attention::AttentionTab>() {
                    a.settings.diff = tabs::attention::DiffMode::Intervention;
                }
                self.session.settings.open_tab = "attention".into();
            }
            Some(session::ViewRequest::SaveScene(path)) => {
                let result = self.scene().and_then(|s| save_scene(&s, &path));
                match result {
                    Ok(done) => self.session.status.notice = Some(done),
                    Err(e) => self.session.status.error = Some(format!("saving the scene: {e}")),
                }
            }
            Some(session::ViewRequest::CorpusFile(path)) => {
                if let Some(c) = self.tab_mut::<tabs::corpus::CorpusTab>() {
                    c.settings.file = Some(path);
                    c.settings.use_file = true;
                }
            }
            Some(session::ViewRequest::LabelledFile(path)) => {
                if let Some(p) = self.tab_mut::<tabs::prediction::PredictionTab>() {
                    p.settings.file = Some(path);
                }
            }
            Some(session::ViewRequest::OpenDeck(path)) => self
                .deck
                .open_deck(&path.display().to_string(), &mut self.session),
            Some(session::ViewRequest::OpenScene(path)) => {
                self.open_scene(scene::Scene::read(&path));
            }
            Some(session::ViewRequest::OpenSceneBytes(name, bytes)) => {
                self.open_scene(scene::Scene::from_bytes(&bytes, &name));
            }
            None => {}
        }
    }

    /// Takes a scene read from a file (or says why it could not be read).
    fn open_scene(&mut self, read: anyhow::Result<scene::Scene>) {
        match read {
            Ok(s) => {
                let missing = self.apply_scene(&s);
                if !missing.is_empty() {
                    self.session.status.error = Some(format!(
                        "the scene's model folder is missing: {} (the rest of the scene is open)",
                        missing.join(", ")
                    ));
                }
            }
            Err(e) => self.session.status.error = Some(e.to_string()),
        }
    }

    fn screenshot_step(&mut self, ctx: &egui::Context) {
        let ready = self.session.trace().is_some() && !self.busy();
        let error = self.session.status.error.clone();
        let Some(shot) = self.screenshot.as_mut() else {
            return;
        };
        if shot.done.load(Ordering::SeqCst) {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        if let (Some(e), false) = (error, ready) {
            eprintln!("not taking the screenshot: {e}");
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
                done.store(true, Ordering::SeqCst);
                wake.request_repaint();
            });
        }
        ctx.request_repaint();
    }
}

impl eframe::App for LensApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        #[cfg(target_arch = "wasm32")]
        let started = web_time::Instant::now();
        self.frame(ui);
        #[cfg(target_arch = "wasm32")]
        web::frame_took(started.elapsed().as_secs_f64() * 1e3);
        #[cfg(target_arch = "wasm32")]
        web::publish_widgets(ui.ctx());
    }

    /// A scripted screenshot shows the window as it is, not a tooltip or a hover effect under
    /// wherever the pointer happens to be: the pointer is taken away from it.
    fn raw_input_hook(&mut self, _ctx: &egui::Context, raw_input: &mut egui::RawInput) {
        if self.screenshot.is_some() {
            strip_pointer(raw_input);
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.session.settings);
        for tab in &self.tabs {
            eframe::set_value(storage, &format!("tab.{}", tab.id()), &tab.save());
        }
    }
}

/// Removes every pointer event from `input` and says the pointer has left the window.
pub fn strip_pointer(input: &mut egui::RawInput) {
    input.events.retain(|e| {
        !matches!(
            e,
            egui::Event::PointerMoved(_)
                | egui::Event::MouseMoved(_)
                | egui::Event::PointerButton { .. }
                | egui::Event::MouseWheel { .. }
        )
    });
    input.events.push(egui::Event::PointerGone);
}

/// egui's default fonts, with Hack (which has SentencePiece's "▁" and the arrows) as a fallback
/// for the proportional text that token labels use, then the emoji and CJK fonts in both
/// families (tokens in any script draw). Made here from [`crate::fonts::ALL`], the bytes the
/// figures draw with, rather than from egui's own defaults: the web build leaves egui's copy
/// out (eframe's `default_fonts` is a desktop feature), so the page carries each font once.
fn install_fonts(ctx: &egui::Context) {
    use crate::fonts::{ALL, CJK_NAME, NAMES};
    let mut fonts = egui::FontDefinitions::empty();
    for (name, data) in NAMES.iter().zip(ALL) {
        // egui's own tweak of its icon font (its defaults make it smaller)
        let scale = if *name == "egui-icons" { 0.90 } else { 1.0 };
        let font = egui::FontData::from_static(data).tweak(egui::FontTweak {
            scale,
            ..Default::default()
        });
        fonts
            .font_data
            .insert((*name).to_owned(), std::sync::Arc::new(font));
    }
    let fallback = [
        "egui-icons",
        "NotoEmoji-Regular",
        "emoji-icon-font",
        CJK_NAME,
    ];
    for (family, first) in [
        (egui::FontFamily::Proportional, ["Ubuntu-Light", "Hack"]),
        (egui::FontFamily::Monospace, ["Hack", "Ubuntu-Light"]),
    ] {
        let list = first.iter().chain(&fallback).map(|n| (*n).to_owned());
        fonts.families.insert(family, list.collect());
    }
    ctx.set_fonts(fonts);
}

/// Writes `scene` to `path` (a page downloads it under the path's file name); what the status
/// bar then says.
fn save_scene(scene: &scene::Scene, path: &std::path::Path) -> Result<String, String> {
    #[cfg(target_arch = "wasm32")]
    {
        let name = path
            .file_name()
            .map_or("scene.json".into(), |n| n.to_string_lossy().to_string());
        let bytes = scene.to_bytes().map_err(|e| e.to_string())?;
        page::download(&name, &bytes)?;
        Ok(format!("scene downloaded: {name}"))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        scene.write(path).map_err(|e| e.to_string())?;
        Ok(format!("scene saved: {}", path.display()))
    }
}

#[cfg(test)]
mod screenshot_tests {
    /// A frame of a label under the pointer: whether it is hovered.
    fn hovered(strip: bool) -> bool {
        let ctx = egui::Context::default();
        let mut hovered = false;
        for _ in 0..3 {
            let mut input = egui::RawInput {
                screen_rect: Some(egui::Rect::from_min_size(
                    egui::Pos2::ZERO,
                    egui::vec2(400.0, 300.0),
                )),
                events: vec![egui::Event::PointerMoved(egui::pos2(20.0, 20.0))],
                ..Default::default()
            };
            if strip {
                super::strip_pointer(&mut input);
            }
            let mut out = ctx.run_ui(input, |ui| {
                hovered = ui.label("a label under the pointer").hovered();
            });
            out.textures_delta.clear();
        }
        hovered
    }

    #[test]
    fn a_screenshot_takes_the_pointer_away_so_no_hover_shows() {
        assert!(hovered(false), "the label is under the pointer");
        assert!(!hovered(true), "no hover once the pointer is taken away");
    }
}
