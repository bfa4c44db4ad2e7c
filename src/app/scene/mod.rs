//! Scenes: a figure made in the window saved as a small JSON file — the models (folder,
//! built-in name or Hub id), the text and pair, the open tab and its settings (view, layer,
//! head, options, selection), the interventions, the export theme and the PNG scale — so that
//! `albert-lens render --scene F.json` rebuilds exactly that figure headless, from the
//! `render` flags the scene amounts to ([`super::scene_flags`]): the view components the
//! window draws with, byte for byte. A deck's slides are still rebuilt by the app without a
//! window ([`run_scene`]), which also gives their animations and captions the run.

pub mod check;

use super::session::SessionSettings;
use super::{AppOptions, LensApp};
use crate::backend::BackendChoice;
use crate::figures::Figure;
use crate::matrix::Matrix;
use crate::model::{Intervention, ModelSource};
use std::collections::BTreeMap;
use std::path::Path;
use web_time::{Duration, Instant};

/// What a scene file holds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scene {
    /// "albert-lens scene"
    pub format: String,
    pub version: u32,
    pub main: ModelSource,
    pub compare: Option<ModelSource>,
    /// the text, pair, open tab, layer, colormap, hidden tokens, export theme, ...
    pub session: SessionSettings,
    #[serde(default)]
    pub intervention: Intervention,
    /// each tab's settings, by tab id
    pub tabs: BTreeMap<String, serde_json::Value>,
    /// the figure: (tab id, export name)
    pub figure: (String, String),
    /// the PNG scale
    pub scale: f32,
    /// what reading the file changed, for the user (a text cut to what a model can see)
    #[serde(skip)]
    pub notes: Vec<String>,
}

pub const FORMAT: &str = "albert-lens scene";

/// The most positions of any model the app opens (the text of a scene is cut to what such a
/// model can see).
const MAX_POSITIONS: usize = 8192;

/// A scene file is at most this large (its text is cut to what the model can see anyway).
pub const MAX_SCENE_BYTES: u64 = 256 << 20;

impl Scene {
    /// Reads and checks a scene file ([`check`]): a field out of its flag's
    /// range, of the wrong type, or a figure the tab lacks is an error naming it.
    pub fn read(path: &Path) -> anyhow::Result<Scene> {
        let bytes = crate::error::read_file_limited(path, MAX_SCENE_BYTES)?;
        Scene::from_bytes(&bytes, &path.display().to_string())
    }

    /// A scene from a file's bytes (a file picked in the page), checked as [`Scene::read`]
    /// checks a file; `name` is the file's, for the messages.
    pub fn from_bytes(bytes: &[u8], name: &str) -> anyhow::Result<Scene> {
        if bytes.len() as u64 > MAX_SCENE_BYTES {
            let why = crate::error::over_limit(bytes.len() as u64, MAX_SCENE_BYTES);
            anyhow::bail!("{name} is not a scene file: {why}");
        }
        let json: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| anyhow::anyhow!("{name} is not a scene file: {e}"))?;
        Scene::from_json(json, name)
    }

    /// A scene from its JSON (a file's, or a deck's slide's), checked as [`Scene::read`]
    /// checks a file; `name` is where it came from, for the messages.
    pub fn from_json(json: serde_json::Value, name: &str) -> anyhow::Result<Scene> {
        if json.get("format").and_then(|f| f.as_str()) == Some(FORMAT) {
            check::check_fields(&json).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        }
        let mut scene: Scene = serde_json::from_value(json)
            .map_err(|e| anyhow::anyhow!("{name} is not a scene: {e}"))?;
        if scene.format != FORMAT || scene.version != 1 {
            anyhow::bail!(
                "{name} is a {:?} of version {}, not an {FORMAT:?} of version 1",
                scene.format,
                scene.version
            );
        }
        let max = crate::model::tokenizer::max_chars(MAX_POSITIONS);
        for (what, t) in [
            ("text", &mut scene.session.text),
            ("pair", &mut scene.session.pair),
        ] {
            if let Some((i, _)) = t.char_indices().nth(max) {
                scene.notes.push(format!(
                    "the scene's {what} has more characters than any model can see: only its first {max} were kept"
                ));
                t.truncate(i);
            }
        }
        check::check(&scene, None).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        Ok(scene)
    }

    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        crate::files::write_atomic(path, &self.to_bytes()?)?;
        Ok(())
    }

    /// The scene file's bytes (pretty JSON).
    pub fn to_bytes(&self) -> anyhow::Result<Vec<u8>> {
        Ok(serde_json::to_vec_pretty(self)?)
    }

    /// The scene's models that are folders no longer there (a built-in model is always there;
    /// a Hub id is fetched or found in the cache when opened).
    pub fn missing_models(&self) -> Vec<String> {
        [Some(&self.main), self.compare.as_ref()]
            .into_iter()
            .flatten()
            .filter(|s| matches!(s, ModelSource::Folder(p) if !p.is_dir()))
            .map(ModelSource::label)
            .collect()
    }
}

impl LensApp {
    /// The scene of what the window shows: the open tab's first figure.
    pub fn scene(&self) -> Result<Scene, String> {
        let cx = &self.session;
        let main = cx
            .info(super::worker::ModelSlot::Main)
            .map(|i| i.source.clone())
            .ok_or("no model is open")?;
        let compare = cx
            .info(super::worker::ModelSlot::Compare)
            .map(|i| i.source.clone());
        let tab = self
            .tabs
            .iter()
            .find(|t| t.id() == self.active_tab())
            .ok_or("no tab is open")?;
        let what = tab.exports().first().ok_or("this tab has no figure")?;
        Ok(Scene {
            format: FORMAT.into(),
            version: 1,
            main,
            compare,
            session: cx.settings.clone(),
            intervention: cx.input.intervention.clone(),
            tabs: self
                .tabs
                .iter()
                .map(|t| (t.id().to_string(), t.save()))
                .collect(),
            figure: (tab.id().to_string(), what.to_string()),
            scale: 2.0,
            notes: Vec::new(),
        })
    }

    /// Takes a scene's settings: the session's, every tab's, the interventions; opens its
    /// models (a missing folder is named and skipped, the rest opens). Returns the missing.
    pub fn apply_scene(&mut self, scene: &Scene) -> Vec<String> {
        let missing = scene.missing_models();
        let recent = std::mem::take(&mut self.session.settings.recent);
        self.session.settings = scene.session.clone();
        self.session.settings.recent = recent;
        // the scene's masked positions belong to the scene's text
        self.session.adopt_input(scene.intervention.clone());
        for tab in &mut self.tabs {
            if let Some(v) = scene.tabs.get(tab.id()) {
                tab.load(v.clone());
            }
        }
        use super::worker::ModelSlot;
        for (slot, source) in [
            (ModelSlot::Main, Some(&scene.main)),
            (ModelSlot::Compare, scene.compare.as_ref()),
        ] {
            if let Some(s) = source.filter(|s| !missing.contains(&s.label())) {
                self.session.open(slot, s.clone());
            }
        }
        self.session.touch_now();
        missing
    }
}

/// A scene's figure and the run it was drawn from.
pub struct Rendered {
    pub figure: Figure,
    pub matrix: Option<Matrix>,
    /// the main model's run
    pub trace: Option<std::sync::Arc<crate::model::Trace>>,
    /// the view layer by layer, where it was asked for and the view has an animation
    pub frames: Vec<Figure>,
}

/// A scene's figure as the app builds it without a window (set from the scene, run until every
/// job has answered, then the Export menu's figure) in `theme`, with the main model's run, and
/// (`frames`) the view's animation where it has one: what a deck's slide shows.
pub fn run_scene(
    scene: &Scene,
    (backend, timeout): (BackendChoice, Duration),
    theme: &crate::figures::Theme,
    frames: bool,
) -> anyhow::Result<Rendered> {
    let missing = scene.missing_models();
    if !missing.is_empty() {
        anyhow::bail!(
            "the scene's model folder is missing: {}",
            missing.join(", ")
        );
    }
    let ctx = egui::Context::default();
    let mut app = LensApp::with_settings(
        &ctx,
        scene.session.clone(),
        AppOptions {
            backend,
            restore: false,
            start_models: false,
            ..AppOptions::default()
        },
    );
    app.apply_scene(scene);
    let t0 = Instant::now();
    let mut settled = 0;
    while settled < 3 {
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(
                egui::Pos2::ZERO,
                egui::vec2(1280.0, 800.0),
            )),
            ..Default::default()
        };
        app.prepare_export(&scene.figure.0, &scene.figure.1);
        let mut out = ctx.run_ui(input, |ui| app.frame(ui));
        // no renderer: the textures the views made are not sent anywhere
        out.textures_delta.clear();
        let cx = &app.session;
        if let Some(info) = cx.info(super::worker::ModelSlot::Main) {
            // the model is open: its layers and heads bound the scene before any run
            let shape = check::RunShape {
                maps: info.arch.layers,
                heads: info.heads,
                tokens: usize::MAX,
            };
            check::check(scene, Some(shape)).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let ran = cx.trace().is_some() && cx.input.intervention == scene.intervention;
        if ran && !app.busy() {
            settled += 1;
        } else {
            settled = 0;
            if !app.busy() {
                if let Some(e) = &cx.status.error {
                    anyhow::bail!("{e}");
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if t0.elapsed() > timeout {
            anyhow::bail!("the scene did not finish in {} s", timeout.as_secs());
        }
    }
    if let Some(t) = app.session.trace() {
        let tokens = t.num_tokens();
        let maps = t.attentions.len();
        let heads = t
            .attentions
            .first()
            .map_or(0, |a| a.len() / (tokens * tokens).max(1));
        check::check(
            scene,
            Some(check::RunShape {
                maps,
                heads,
                tokens,
            }),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let (tab, what) = &scene.figure;
    let (figure, matrix) = app
        .build_export(tab, what, theme)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let frames = match frames.then(|| app.animate(tab, what, theme)).flatten() {
        Some(f) => f.map_err(|e| anyhow::anyhow!("{e}"))?,
        None => Vec::new(),
    };
    Ok(Rendered {
        figure,
        matrix,
        trace: app.session.trace().cloned(),
        frames,
    })
}
