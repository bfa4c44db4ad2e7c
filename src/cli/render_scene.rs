//! `render --scene FILE`: a scene file read, checked against its main model, and turned into the
//! `render` command line that draws its figure ([`albert_lens::app::scene_flags`]); `render`
//! then draws from those flags as `render --view` does: the app does not run.

use super::common::BackendChoice;
use anyhow::{Context, Result};
use std::ffi::OsString;
use std::path::Path;

/// The `render` command line (from "render" on) that draws the scene in `path` to `out`, at
/// `scale` or the scene's own, on `backend`; printed as a note for the user too.
pub(crate) fn scene_command(
    path: &Path,
    out: &Path,
    (backend, scale): (BackendChoice, Option<f32>),
) -> Result<Vec<OsString>> {
    use albert_lens::app::scene::Scene;
    let scene = Scene::read(path)?;
    for n in &scene.notes {
        eprintln!("note: {n}");
    }
    let what = || format!("rendering the scene {}", path.display());
    let missing = scene.missing_models();
    if !missing.is_empty() {
        anyhow::bail!(
            "{}: the scene's model folder is missing: {}",
            what(),
            missing.join(", ")
        );
    }
    let scale = scale.unwrap_or(scene.scale);
    let main = checked_main(&scene).with_context(what)?;
    let flags = albert_lens::app::scene_flags::render_flags(&scene, main)
        .map_err(|e| anyhow::anyhow!("{}: {e}", what()))?;
    eprintln!(
        "note: the scene as a command: albert-lens render {}",
        quoted(&flags)
    );
    let mut argv: Vec<OsString> = vec!["render".into()];
    argv.extend(flags);
    argv.extend([
        "--backend".into(),
        albert_lens::app::scene_flags::value_name(backend).into(),
    ]);
    argv.extend(["--scale".into(), scale.to_string().into()]);
    argv.extend(["--out".into(), out.as_os_str().to_owned()]);
    Ok(argv)
}

/// The scene checked against its main model (its layers, heads and the text's tokens bound the
/// scene's layer, heads and positions; an error names the field), and what its flags need of
/// that model.
fn checked_main(
    scene: &albert_lens::app::scene::Scene,
) -> Result<albert_lens::app::scene_flags::MainModel> {
    use albert_lens::app::scene::check::{check, RunShape};
    let spec = albert_lens::app::scene_flags::model_arg(&scene.main).map_err(anyhow::Error::msg)?;
    let m = super::common::open_model(Path::new(&spec))?;
    let s = &scene.session;
    let pair = s.pair_on.then_some(s.pair.as_str());
    let input = m.encode(&s.text, pair)?;
    let shape = RunShape {
        maps: m.config.num_attention_maps(),
        heads: m.config.num_attention_heads,
        tokens: input.len(),
    };
    check(scene, Some(shape)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let input = m.masked(&input, &scene.intervention)?;
    Ok(albert_lens::app::scene_flags::MainModel {
        shares_layers: m.config.model_type.family().shared_layers,
        focus: albert_lens::model::trace::focus(&input.tokens, &input.special, None),
    })
}

/// A command line as a shell reads it back (an argument with anything but letters, digits and
/// `-_./:,=` in single quotes).
fn quoted(args: &[std::ffi::OsString]) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:,=".contains(c);
    let parts: Vec<String> = args
        .iter()
        .map(|a| {
            let a = a.to_string_lossy();
            match !a.is_empty() && a.chars().all(plain) {
                true => a.to_string(),
                false => format!("'{}'", a.replace('\'', "'\\''")),
            }
        })
        .collect();
    parts.join(" ")
}
