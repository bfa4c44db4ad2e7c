//! A scene as `render`'s flags. `render --scene` draws a scene's figure through the view
//! components, as `render --view` does (no app, no window): from the command line this module
//! writes out of the scene's settings (and prints, so that a scene becomes a script's line).

use super::scene::Scene;
use super::tabs::attention::{AttentionSettings, AttnView, DiffMode};
use super::tabs::attribution::AttributionSettings;
use super::tabs::explain::ExplainSettings;
use super::tabs::lens::LensSettings;
use super::tabs::mixing::MixingSettings;
use super::tabs::projection::{ProjMode, ProjectionSettings};
use super::tabs::shared::{parse_repeats, SharedSettings};
use crate::analysis::{HeadSel, Measure};
use crate::insight::mixing::Stage;
use crate::insight::JsMode;
use crate::model::ModelSource;
use std::ffi::OsString;

/// What a scene's flags depend on that the scene does not hold: whether the main model shares
/// its layers (Figure 1's what-if runs only then, as in the window), and the token the tabs
/// follow unless told otherwise ([`crate::model::trace::focus`] of the text as it runs).
#[derive(Debug, Clone, Copy, Default)]
pub struct MainModel {
    pub shares_layers: bool,
    pub focus: usize,
}

/// The `render` flags that draw the scene's figure (after `render`; the caller adds
/// `--backend`, `--scale` and `--out`), or why the scene has a setting they cannot express.
pub fn render_flags(scene: &Scene, main: MainModel) -> Result<Vec<OsString>, String> {
    let mut f = Flags(Vec::new());
    let s = &scene.session;
    f.add("--model", model_arg(&scene.main)?);
    f.add("--text", &s.text);
    if s.pair_on {
        f.add("--pair", &s.pair);
    }
    f.add("--theme", theme_arg(s.export_theme));
    f.add("--colormap", value_name(s.colormap));
    f.on("--hide-special", s.hide_special);
    let iv = &scene.intervention;
    if !iv.ablate.is_empty() {
        f.add("--ablate", iv.ablate.label());
    }
    if !iv.masked.is_empty() {
        let masked: Vec<String> = iv.masked.iter().map(|p| p.to_string()).collect();
        f.add("--mask", masked.join(","));
    }
    let compare = scene.compare.as_ref().map(model_arg).transpose()?;
    let (tab, what) = (scene.figure.0.as_str(), scene.figure.1.as_str());
    let layer = (s.layer + 1).to_string();
    match tab {
        "attention" => attention(&mut f, &settings(scene, tab), &layer, compare)?,
        "shared" => shared(&mut f, scene, what, main, compare)?,
        "projection" => {
            let p: ProjectionSettings = settings(scene, tab);
            if p.mode == ProjMode::Vocabulary {
                f.add("--view", "neighbours");
                f.add("--query", &p.vocab_query);
                f.add_some("--compare", compare);
            } else {
                f.add("--view", "projection");
                f.add("--trajectories", bool_arg(p.mode == ProjMode::Trajectories));
                f.add("--layer", &layer);
                f.on("--tsne", p.tsne);
                f.add("--color-by", value_name(p.color_by));
                f.add("--label-all", bool_arg(p.label_all));
            }
        }
        "lens" => {
            let l: LensSettings = settings(scene, tab);
            f.add("--view", "lens");
            f.add("--position", l.position.unwrap_or(main.focus).to_string());
            f.add("--top-k", l.k.to_string());
        }
        "explain" => {
            let e: ExplainSettings = settings(scene, tab);
            f.add("--view", "explain");
            if what != "walkthrough" {
                f.add("--step", what);
            }
            f.add("--layer", (e.map + 1).to_string());
            f.add("--head", (e.head + 1).to_string());
            f.add_some("--position", e.position.map(|p| p.to_string()));
            f.add("--temperature", e.temperature.to_string());
            f.add_some("--compare", compare);
        }
        "attribution" => {
            let a: AttributionSettings = settings(scene, tab);
            f.add("--view", "attribution");
            f.add("--position", a.position.unwrap_or(main.focus).to_string());
            f.add("--method", a.method.flag());
            f.add("--steps", a.steps.to_string());
            if !a.target.trim().is_empty() {
                f.add("--target", &a.target);
            }
        }
        "mixing" => {
            let m: MixingSettings = settings(scene, tab);
            f.add("--view", "mixing");
            f.add("--method", m.view.method.cli_name());
            if let Stage::Layer(l) = m.view.stage {
                f.add("--layer", (l + 1).to_string());
            }
            f.add_some("--position", m.view.position.map(|p| p.to_string()));
            f.add_some("--compare", compare.filter(|_| m.compare));
        }
        "corpus" => corpus(&mut f, scene, what, compare)?,
        "prediction" => prediction(&mut f, scene, what, compare)?,
        _ => {
            return Err(format!(
                "the {tab} tab's figures are not yet drawn from flags"
            ))
        }
    }
    Ok(f.0)
}

/// The Attention tab's figure: its view, measure, head, scale and difference.
fn attention(
    f: &mut Flags,
    a: &AttentionSettings,
    layer: &str,
    compare: Option<OsString>,
) -> Result<(), String> {
    let view = match (a.view, a.measure) {
        (AttnView::Model, _) => "model",
        (AttnView::Links, _) => "links",
        (AttnView::Heatmap, Measure::Attention) => "head",
        (AttnView::Heatmap, Measure::Rollout) => "rollout",
        (AttnView::Heatmap, Measure::ValueNorm) => "value-norm",
    };
    f.add("--view", view);
    if a.view == AttnView::Links && a.measure != Measure::Attention {
        f.add("--links-of", value_name(a.measure));
    }
    f.add("--layer", layer);
    f.add("--head", head_arg(a.head));
    if a.view != AttnView::Model {
        match a.diff {
            DiffMode::Off => {}
            DiffMode::CompareModel => {
                let c = compare.ok_or("the difference to the comparison model needs one")?;
                f.add("--compare", c);
            }
            DiffMode::SecondText => f.add("--diff-text", &a.diff_text),
            DiffMode::Intervention => f.on("--diff-intervention", true),
        }
    }
    if a.view == AttnView::Links && !a.link_heads.is_empty() {
        let heads: Vec<String> = a.link_heads.iter().map(|h| (h + 1).to_string()).collect();
        f.add("--overlay-heads", heads.join(","));
    }
    f.on("--log", a.log_scale);
    f.on("--shared-scale", a.shared_scale);
    f.add("--renormalise", bool_arg(a.renormalise));
    f.on("--words", a.words);
    Ok(())
}

/// The Shared tab's figures: Figure 1 (with the what-if and the typed models), the JS
/// matrices, the parameter tables.
fn shared(
    f: &mut Flags,
    scene: &Scene,
    what: &str,
    main: MainModel,
    compare: Option<OsString>,
) -> Result<(), String> {
    let s: SharedSettings = settings(scene, "shared");
    let also = |f: &mut Flags| {
        for m in &s.parameters.more {
            f.add("--also", m.trim());
        }
    };
    match what {
        "figure1" => {
            f.add("--view", "figure1");
            f.add_some("--compare", compare);
            let repeats = parse_repeats(&s.repeats_text).unwrap_or_default();
            if main.shares_layers && !repeats.is_empty() {
                let r: Vec<String> = repeats.iter().map(|r| r.to_string()).collect();
                f.add("--repeats", r.join(","));
            }
            also(f);
        }
        "js main" | "js compare" => {
            f.add("--view", "js");
            match s.js_mode {
                JsMode::MatchedHeads => {}
                JsMode::MeanOfHeads => f.add("--head", "mean"),
                JsMode::Head(h) => f.add("--head", (h + 1).to_string()),
            }
            if what == "js compare" {
                // the comparison model's matrix: the models the other way round
                let c = compare.ok_or("the comparison model's matrix needs one")?;
                f.replace("--model", c);
                f.add("--compare", model_arg(&scene.main)?);
            } else {
                f.add_some("--compare", compare);
            }
        }
        "parameters" => {
            f.add("--view", "parameters");
            f.add_some("--compare", compare);
            also(f);
        }
        "params" => f.add("--view", "params"),
        _ => return Err(format!("the Shared tab has no figure {what:?}")),
    }
    Ok(())
}

/// The Corpus tab's figures: a statistics view of the run over the corpus (with the comparison
/// model's beside it, or instead of it), or the query–key view of one head.
fn corpus(
    f: &mut Flags,
    scene: &Scene,
    what: &str,
    compare: Option<OsString>,
) -> Result<(), String> {
    use super::tabs::corpus::{explore::ExploreSettings, CorpusSettings};
    let (c, e): (CorpusSettings, ExploreSettings) = settings(scene, "corpus");
    match (&c.file, c.use_file) {
        (Some(p), true) => f.add("--data", p.clone()),
        _ => f.add("--data", "builtin"),
    }
    if what == "query-key" {
        f.add("--view", "query-key");
        f.add("--limit", e.texts.max(1).to_string());
        f.add("--layer", (e.qk_map + 1).to_string());
        f.add("--head", (e.qk_head + 1).to_string());
        f.on("--tsne", e.tsne);
        return Ok(());
    }
    if crate::figures::corpus::CorpusView::parse(what).is_none() {
        return Err(format!("the Corpus tab has no figure {what:?}"));
    }
    f.add("--view", what);
    f.add("--limit", limit_arg(c.limit));
    f.add("--stat", c.stat.name());
    match (c.show_compare, compare) {
        // the comparison model's statistics alone
        (true, Some(m)) => f.replace("--model", m),
        (false, Some(m)) => f.add("--compare", m),
        (_, None) => {}
    }
    Ok(())
}

/// The Prediction tab's figures: a fine-tuned head's prediction on the text, or the classifier
/// measured on its labelled file.
fn prediction(
    f: &mut Flags,
    scene: &Scene,
    what: &str,
    compare: Option<OsString>,
) -> Result<(), String> {
    use super::tabs::prediction::{builtin_file, PredictionSettings};
    let p: PredictionSettings = settings(scene, "prediction");
    match what {
        "prediction" => {
            f.add("--view", "prediction");
            f.add_some("--position", p.view.position.map(|p| p.to_string()));
        }
        "importance" | "pruning" | "confusion" | "fine-tuning" => {
            f.add("--view", what);
            if what == "fine-tuning" {
                // against the parent, on the labelled file's texts
                let c = compare
                    .ok_or("what fine-tuning changed needs the parent as the comparison model")?;
                f.add("--compare", c);
            }
            f.add("--data", p.file.unwrap_or_else(builtin_file));
            f.add("--limit", limit_arg(p.limit as u64));
        }
        _ => return Err(format!("the Prediction tab has no figure {what:?}")),
    }
    Ok(())
}

/// A tab's settings in the scene, read as the tab reads them (its defaults where they are
/// missing or do not parse).
fn settings<S: serde::de::DeserializeOwned + Default>(scene: &Scene, tab: &str) -> S {
    let mut s = S::default();
    if let Some(v) = scene.tabs.get(tab) {
        super::tabs::from_json(v.clone(), &mut s);
    }
    s
}

/// A model as `--model` takes it.
pub fn model_arg(source: &ModelSource) -> Result<OsString, String> {
    Ok(match source {
        ModelSource::Builtin(name) => name.into(),
        ModelSource::Hub(id) => format!("hub:{id}").into(),
        // a folder named like a built-in model or a Hub id would be taken for one
        ModelSource::Folder(p) => match ModelSource::parse(p) {
            ModelSource::Folder(_) => p.clone().into_os_string(),
            _ => std::path::Path::new(".").join(p).into_os_string(),
        },
        ModelSource::Picked(name) => {
            return Err(format!(
                "{name} was picked in a web page, which gives no path to open it here"
            ))
        }
    })
}

/// `--head`'s value for a head selection (heads from 1).
fn head_arg(h: HeadSel) -> String {
    match h {
        HeadSel::Head(h) => (h + 1).to_string(),
        HeadSel::Mean => "mean".into(),
        HeadSel::Max => "max".into(),
    }
}

/// `--theme`'s value for the export theme.
fn theme_arg(t: super::export_menu::ExportTheme) -> &'static str {
    use super::export_menu::ExportTheme;
    match t {
        ExportTheme::Light => "light",
        ExportTheme::Dark => "dark",
        ExportTheme::Presentation => "presentation",
    }
}

/// `--limit`'s value for a tab's limit (0: every text, "all").
fn limit_arg(n: u64) -> String {
    match n {
        0 => "all".into(),
        n => n.to_string(),
    }
}

fn bool_arg(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

/// A closed set's value as its flag takes it.
pub fn value_name(v: impl clap::ValueEnum) -> String {
    v.to_possible_value()
        .map_or_else(String::new, |p| p.get_name().to_string())
}

/// The flags, in order.
struct Flags(Vec<OsString>);

impl Flags {
    fn add(&mut self, flag: &str, value: impl Into<OsString>) {
        self.0.push(flag.into());
        self.0.push(value.into());
    }

    fn add_some(&mut self, flag: &str, value: Option<impl Into<OsString>>) {
        if let Some(v) = value {
            self.add(flag, v);
        }
    }

    /// A switch, given when `on`.
    fn on(&mut self, flag: &str, on: bool) {
        if on {
            self.0.push(flag.into());
        }
    }

    /// A flag's value changed where it was given.
    fn replace(&mut self, flag: &str, value: impl Into<OsString>) {
        if let Some(i) = self.0.iter().position(|a| a == flag) {
            self.0[i + 1] = value.into();
        }
    }
}
