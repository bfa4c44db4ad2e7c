//! The central panel's tabs. Each is a component: it owns its state, its persisted settings and
//! its jobs, draws itself from the [`Session`] it is lent, and builds its views for the Export
//! menu through the view registry. Adding a tab is one file here and one line in [`registry`].

pub mod attention;
pub mod attribution;
pub mod corpus;
pub mod explain;
pub mod lens;
pub mod mixing;
pub mod prediction;
pub mod projection;
pub mod shared;

use super::export_menu;
use super::session::Session;
use crate::figures::{Figure, Theme};
use crate::matrix::Matrix;
use std::any::Any;

/// A figure and, where the view has one, its matrix; or why the view cannot be built yet.
pub type Built = Result<(Figure, Option<Matrix>), String>;

pub trait Tab: AsAny {
    /// A stable name: the persistence key and the command line's `--tab` value.
    fn id(&self) -> &'static str;

    /// The tab bar's label.
    fn title(&self) -> &'static str;

    /// Draws the tab (every frame while it is open) and asks for whatever it needs.
    fn ui(&mut self, ui: &mut egui::Ui, cx: &mut Session);

    /// The views the tab can save, by name; each has an Export menu in the tab.
    fn exports(&self) -> &'static [&'static str];

    /// One of [`Self::exports`], built from what the tab shows.
    fn export(&mut self, what: &str, cx: &Session, theme: &Theme) -> Built;

    /// Whether view `what` has a layer-by-layer animation (see [`Self::animate`]).
    fn animates(&self, _what: &str) -> bool {
        false
    }

    /// View `what` layer by layer, one figure per layer (the Export menu's animations);
    /// `None` when the view has no animation.
    fn animate(
        &mut self,
        _what: &str,
        _cx: &Session,
        _theme: &Theme,
    ) -> Option<Result<Vec<Figure>, String>> {
        None
    }

    /// Before a headless export of `what` (a scene, a deck's slide): asks for the work the
    /// window would wait for a click to start (a corpus run). Called every frame until the
    /// figure is built.
    fn prepare_export(&mut self, _what: &str, _cx: &mut Session) {}

    /// Whether the tab waits on a job (tests and the screenshot wait for it to settle).
    fn busy(&self) -> bool {
        false
    }

    /// The tab's settings, to persist.
    fn save(&self) -> serde_json::Value;

    /// Settings persisted by [`Self::save`] (ignored if they no longer parse).
    fn load(&mut self, settings: serde_json::Value);
}

/// Every tab, in the order of the tab bar.
pub fn registry() -> Vec<Box<dyn Tab>> {
    vec![
        Box::new(attention::AttentionTab::default()),
        Box::new(prediction::PredictionTab::default()),
        Box::new(projection::ProjectionTab::default()),
        Box::new(shared::SharedTab::default()),
        Box::new(lens::LensTab::default()),
        Box::new(explain::ExplainTab::default()),
        Box::new(attribution::AttributionTab::default()),
        Box::new(mixing::MixingTab::default()),
        Box::new(corpus::CorpusTab::default()),
    ]
}

/// Lets the shell (and tests) reach a tab's own type.
pub trait AsAny: Any {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any> AsAny for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The Export menu for view `what` of `tab`: what is picked is built by the tab and saved by the
/// session.
pub fn export_button<T: Tab>(tab: &mut T, ui: &mut egui::Ui, cx: &mut Session, what: &str) {
    let animated = tab.animates(what);
    if let Some(ask) = export_menu::menu(ui, what, &mut cx.settings.export_theme, animated) {
        let theme = cx.settings.export_theme.theme();
        if let export_menu::ExportAsk::Animation(format) = ask {
            match tab.animate(what, cx, &theme) {
                Some(Ok(frames)) => cx.export_animation(format, frames),
                Some(Err(e)) => cx.status.error = Some(format!("animation: {e}")),
                None => {}
            }
            return;
        }
        let built = tab.export(what, cx, &theme);
        cx.export(ask, built);
    }
}

/// Settings as JSON for [`Tab::save`].
pub fn to_json<S: serde::Serialize>(settings: &S) -> serde_json::Value {
    serde_json::to_value(settings).unwrap_or_default()
}

/// Settings from JSON for [`Tab::load`]; `into` keeps its value if they do not parse.
pub fn from_json<S: serde::de::DeserializeOwned>(json: serde_json::Value, into: &mut S) {
    if let Ok(s) = serde_json::from_value(json) {
        *into = s;
    }
}

/// Whether the main model has a masked-LM head; if not, says so (`what` it is needed for) and
/// the tab shows nothing else.
pub fn has_mlm_or_say(ui: &mut egui::Ui, cx: &Session, what: &str) -> bool {
    let has = cx
        .info(super::worker::ModelSlot::Main)
        .is_some_and(|i| i.has_mlm);
    if !has {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!("This checkpoint has no masked-LM head (it was saved as a bare encoder), so {what}. Open a checkpoint with one (a *ForMaskedLM or *ForPreTraining save, like the built-in models)."),
        );
    }
    has
}

/// While `job` runs: its progress (note and fraction) and a Cancel button that stops it.
pub fn job_progress<K: PartialEq + Clone, T>(
    ui: &mut egui::Ui,
    job: &mut super::jobs::Job<K, T>,
    width: f32,
) {
    let Some(ctl) = job.control().cloned() else {
        return;
    };
    ui.horizontal(|ui| {
        let (note, fraction) = ctl.progress();
        ui.add(
            egui::ProgressBar::new(fraction.unwrap_or(0.0))
                .text(note)
                .desired_width(width),
        );
        if ui.button("Cancel").clicked() {
            job.cancel();
        }
    });
}

/// The greyed line a tab shows before a model has run.
pub fn no_trace(ui: &mut egui::Ui) {
    ui.weak("Open a model and type some text.");
}
