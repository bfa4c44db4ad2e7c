//! A scene is checked by the rules of the command-line flags it stands for
//! ([`crate::ranges`], the same functions the CLI's parsers call): every tab setting must parse
//! as its type (no field silently replaced by its default), every number must lie in its
//! flag's range, the figure must be one the tab exports; once the model has run, layers,
//! heads and positions must exist in it. Each error names the field, its value and what is
//! allowed.

use super::Scene;
use crate::analysis::HeadSel;
use crate::app::tabs::attention::AttentionSettings;
use crate::app::tabs::attribution::AttributionSettings;
use crate::app::tabs::corpus::explore::ExploreSettings;
use crate::app::tabs::corpus::CorpusSettings;
use crate::app::tabs::explain::ExplainSettings;
use crate::app::tabs::lens::LensSettings;
use crate::app::tabs::projection::ProjectionSettings;
use crate::app::tabs::shared::SharedSettings;
use crate::ranges::{self as r, whole};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// What the scene's run gave: attention maps (layer applications), heads, tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunShape {
    pub maps: usize,
    pub heads: usize,
    pub tokens: usize,
}

/// A tab's settings parsed strictly: each field on its own (so that the message names it),
/// and no field the type does not have.
fn strict<S: DeserializeOwned + Serialize + Default>(
    tab: &str,
    v: &serde_json::Value,
) -> Result<S, String> {
    fields_of::<S>(&format!("tabs.{tab}"), v)
}

/// `v` parsed as `S` field by field, each error naming `at.field`; no field `S` lacks.
fn fields_of<S: DeserializeOwned + Serialize + Default>(
    at: &str,
    v: &serde_json::Value,
) -> Result<S, String> {
    let serde_json::Value::Object(fields) = v else {
        return Err(format!("{at} is not an object of settings"));
    };
    let known = serde_json::to_value(S::default()).map_err(|e| e.to_string())?;
    for (k, x) in fields {
        if known.get(k).is_none() {
            return Err(format!("{at}.{k}: there is no such setting"));
        }
        let one = serde_json::Value::Object([(k.clone(), x.clone())].into_iter().collect());
        serde_json::from_value::<S>(one).map_err(|e| format!("{at}.{k} = {}: {e}", shown(x)))?;
    }
    serde_json::from_value(v.clone()).map_err(|e| format!("{at}: {e}"))
}

/// Before a scene file is parsed whole: its session and intervention field by field, so that a
/// wrong type is an error naming the field (serde's own names only a line and column).
pub fn check_fields(v: &serde_json::Value) -> Result<(), String> {
    if let Some(s) = v.get("session") {
        fields_of::<crate::app::session::SessionSettings>("session", s)?;
    }
    if let Some(i) = v.get("intervention") {
        fields_of::<crate::model::Intervention>("intervention", i)?;
    }
    for key in ["scale", "figure", "version", "format"] {
        if v.get(key).is_none() {
            return Err(format!("{key}: the scene has none"));
        }
    }
    if !v.get("scale").is_some_and(|s| s.is_number()) {
        return Err(format!("scale = {}: not a number", shown(&v["scale"])));
    }
    Ok(())
}

/// A JSON value for a message, shortened.
fn shown(v: &serde_json::Value) -> String {
    crate::files::printable(&v.to_string(), 60)
}

/// A 0-based index checked as the CLI's 1-based flag is.
fn from_one(what: &str, i: usize, range: &std::ops::RangeInclusive<u64>) -> Result<(), String> {
    whole(what, (i as u64).saturating_add(1), range).map(|_| ())
}

fn below(what: &str, i: usize, n: usize, unit: &str) -> Result<(), String> {
    if i < n {
        Ok(())
    } else {
        Err(format!(
            "{what} is {}, but the model's run has {unit} 1 to {n}",
            i + 1
        ))
    }
}

fn position(what: &str, p: Option<usize>, run: Option<RunShape>) -> Result<(), String> {
    let Some(p) = p else { return Ok(()) };
    whole(what, p as u64, &r::POSITION)?;
    match run {
        Some(s) if p >= s.tokens => Err(format!(
            "{what} is {p}, past the text's {} tokens (positions count from 0)",
            s.tokens
        )),
        _ => Ok(()),
    }
}

/// Checks `scene`; with `run`, also against the model's run.
pub fn check(scene: &Scene, run: Option<RunShape>) -> Result<(), String> {
    let (tab, what) = &scene.figure;
    let tabs = crate::app::tabs::registry();
    let Some(t) = tabs.iter().find(|t| t.id() == tab) else {
        let ids: Vec<&str> = tabs.iter().map(|t| t.id()).collect();
        return Err(format!(
            "figure: no tab {:?} (tabs: {})",
            crate::files::printable(tab, 40),
            ids.join(", ")
        ));
    };
    if !t.exports().contains(&what.as_str()) {
        return Err(format!(
            "figure: the {tab} tab has no figure {:?} (it has {})",
            crate::files::printable(what, 40),
            t.exports().join(", ")
        ));
    }
    r::real("scale", scene.scale, &r::PNG_SCALE)?;
    let layer = scene.session.layer;
    from_one("session.layer (+1)", layer, &r::LAYER)?;
    let iv = &scene.intervention;
    if iv.masked.windows(2).any(|w| w[0] >= w[1]) {
        return Err("intervention.masked: positions must be in increasing order, each once".into());
    }
    for &p in &iv.masked {
        position("intervention.masked", Some(p), run)?;
    }
    for &(j, h) in &iv.ablate.0 {
        from_one("intervention.ablate layer", j, &r::LAYER)?;
        from_one("intervention.ablate head", h, &r::LAYER)?;
        if let Some(s) = run {
            below("intervention.ablate layer", j, s.maps, "layers")?;
            below("intervention.ablate head", h, s.heads, "heads")?;
        }
    }
    if let Some(s) = run {
        below("session.layer (+1)", layer, s.maps, "layers")?;
    }
    for (id, v) in &scene.tabs {
        check_tab(id, v, run)?;
    }
    Ok(())
}

fn check_tab(id: &str, v: &serde_json::Value, run: Option<RunShape>) -> Result<(), String> {
    let heads = |what: &str, h: usize| -> Result<(), String> {
        from_one(what, h, &r::LAYER)?;
        match run {
            Some(s) => below(what, h, s.heads, "heads"),
            None => Ok(()),
        }
    };
    match id {
        "attention" => {
            let s: AttentionSettings = strict(id, v)?;
            if let HeadSel::Head(h) = s.head {
                heads("tabs.attention.head (+1)", h)?;
            }
            for &h in &s.link_heads {
                heads("tabs.attention.link_heads (+1)", h)?;
            }
        }
        "lens" => {
            let s: LensSettings = strict(id, v)?;
            whole("tabs.lens.k", s.k as u64, &r::TOP_K)?;
            position("tabs.lens.position", s.position, run)?;
        }
        "explain" => {
            let s: ExplainSettings = strict(id, v)?;
            from_one("tabs.explain.map (+1)", s.map, &r::LAYER)?;
            if let Some(run) = run {
                below("tabs.explain.map (+1)", s.map, run.maps, "layers")?;
            }
            heads("tabs.explain.head (+1)", s.head)?;
            position("tabs.explain.position", s.position, run)?;
            r::real("tabs.explain.temperature", s.temperature, &r::TEMPERATURE)?;
        }
        "attribution" => {
            let s: AttributionSettings = strict(id, v)?;
            whole("tabs.attribution.steps", s.steps as u64, &r::STEPS)?;
            position("tabs.attribution.position", s.position, run)?;
        }
        "projection" => {
            strict::<ProjectionSettings>(id, v)?;
        }
        "prediction" => {
            let s: crate::app::tabs::prediction::PredictionSettings = strict(id, v)?;
            position("tabs.prediction.view.position", s.view.position, run)?;
        }
        "mixing" => {
            use crate::insight::mixing::{Method, Stage};
            let s: crate::app::tabs::mixing::MixingSettings = strict(id, v)?;
            position("tabs.mixing.view.position", s.view.position, run)?;
            if let Stage::Layer(j) = s.view.stage {
                from_one("tabs.mixing.view.stage.Layer (+1)", j, &r::LAYER)?;
                if let Some(run) = run {
                    below("tabs.mixing.view.stage.Layer (+1)", j, run.maps, "layers")?;
                }
            } else if s.view.method == Method::Norm {
                return Err(
                    "tabs.mixing.view: norm has no aggregate over layers: give a layer".into(),
                );
            }
        }
        "shared" => {
            let s: SharedSettings = strict(id, v)?;
            crate::app::tabs::shared::parse_repeats(&s.repeats_text)
                .map_err(|e| format!("tabs.shared.repeats_text: {e}"))?;
        }
        "corpus" => {
            // the view and the statistic are closed sets: reading them checks them
            let (_, e): (CorpusSettings, ExploreSettings) =
                serde_json::from_value(v.clone()).map_err(|e| format!("tabs.corpus: {e}"))?;
            whole("tabs.corpus.top_k", e.top_k as u64, &r::TOP_K)?;
            from_one("tabs.corpus.qk_map (+1)", e.qk_map, &r::LAYER)?;
            heads("tabs.corpus.qk_head (+1)", e.qk_head)?;
        }
        other => {
            return Err(format!(
                "tabs.{}: no such tab",
                crate::files::printable(other, 40)
            ))
        }
    }
    Ok(())
}
