//! What the commands share: the backend, precision and theme choices, the model argument
//! (a folder, a built-in name, `hub:ID`), a model run on a text, and the small parsers.

use albert_lens::backend::{Backend, FallbackBackend};
use albert_lens::model::{Ablation, ForwardOptions, LoadedModel, Trace};
use anyhow::{Context, Result};
use clap::ValueEnum;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, ValueEnum, Debug, PartialEq, Eq)]
pub(crate) enum BackendChoice {
    /// the GPU when there is a hardware adapter, else the CPU
    Auto,
    /// the CPU reference
    Cpu,
    /// the wgpu GPU backend (falls back to the CPU if there is no adapter)
    Gpu,
    /// (bench only) both, side by side
    Both,
}

impl BackendChoice {
    pub(crate) fn lib(self) -> albert_lens::backend::BackendChoice {
        use albert_lens::backend::BackendChoice as B;
        match self {
            BackendChoice::Auto => B::Auto,
            BackendChoice::Cpu => B::Cpu,
            BackendChoice::Gpu | BackendChoice::Both => B::Gpu,
        }
    }
}

#[derive(Clone, Copy, ValueEnum, Debug, PartialEq, Eq)]
pub(crate) enum PrecisionArg {
    /// f32 throughout, within the tolerances of transformers (the default)
    Exact,
    /// the GPU's weight products on cooperative matrices (tensor cores): f16 inputs, f32
    /// accumulation; the exact path, with a note, where the GPU has none
    Fast,
}

impl PrecisionArg {
    pub(crate) fn lib(self) -> albert_lens::backend::Precision {
        match self {
            PrecisionArg::Exact => albert_lens::backend::Precision::Exact,
            PrecisionArg::Fast => albert_lens::backend::Precision::Fast,
        }
    }
}

/// A figure theme (light, dark, presentation) and a colormap (viridis, magma, cividis) by name.
/// A figure's look (`--theme`).
#[derive(Clone, Copy, ValueEnum, Debug)]
pub(crate) enum ThemeArg {
    Light,
    Dark,
    /// white, large type, thick lines
    Presentation,
}

impl ThemeArg {
    pub(crate) fn theme(self) -> albert_lens::figures::Theme {
        use albert_lens::figures::Theme;
        match self {
            ThemeArg::Light => Theme::LIGHT,
            ThemeArg::Dark => Theme::DARK,
            ThemeArg::Presentation => Theme::PRESENTATION,
        }
    }
}

/// "3" (a head, from 1), "mean" or "max".
pub(crate) fn parse_head(s: &str) -> Result<albert_lens::analysis::HeadSel> {
    use albert_lens::analysis::HeadSel;
    match s {
        "mean" => Ok(HeadSel::Mean),
        "max" => Ok(HeadSel::Max),
        n => match n.parse::<usize>() {
            Ok(h) if h >= 1 => Ok(HeadSel::Head(h - 1)),
            _ => anyhow::bail!("--head {n}: give a head number from 1, \"mean\" or \"max\""),
        },
    }
}

pub(crate) fn make_backend(choice: BackendChoice) -> FallbackBackend {
    let b = FallbackBackend::new(choice.lib());
    if let Some(n) = &b.notice {
        eprintln!("note: {n}");
    }
    eprintln!("backend: {}", b.name());
    b
}

/// A model argument: a folder, a built-in model's name (albert-mini, bert-mini; a folder of
/// that name wins), or `hub:ID` (downloaded into the Hugging Face cache, with progress on
/// stderr; a cached model opens offline).
pub(crate) fn resolve_model(spec: &Path) -> Result<PathBuf> {
    use albert_lens::model::ModelSource;
    let id = match ModelSource::parse(spec) {
        ModelSource::Folder(dir) => return Ok(dir),
        ModelSource::Builtin(name) => return Ok(albert_lens::model::builtin::folder(&name)?),
        ModelSource::Hub(id) => id,
        // never parsed from an argument; its folder() says why it cannot open here
        picked @ ModelSource::Picked(_) => return Ok(picked.folder(&mut |_, _| true)?),
    };
    let opts = albert_lens::model::hub::HubOptions::from_env_checked()?;
    let mut last_file = String::new();
    let mut progress = |p: albert_lens::model::hub::DownloadProgress| {
        if p.file != last_file {
            eprintln!("downloading {id}/{}", p.file);
            last_file = p.file.clone();
        }
        true
    };
    let dir = albert_lens::model::hub::open(&id, &opts, &mut progress)?;
    eprintln!("{id}: {}", dir.display());
    Ok(dir)
}

pub(crate) fn run_trace(
    model_dir: &Path,
    text: &str,
    pair: Option<&str>,
    backend: BackendChoice,
) -> Result<(LoadedModel, Trace, String)> {
    run_trace_on(
        model_dir,
        (text, pair),
        &mut make_backend(backend),
        &ForwardOptions::default(),
    )
}

pub(crate) fn parse_ablation(s: &str) -> std::result::Result<Ablation, String> {
    Ablation::parse(s)
}

/// The model a model argument names ([`resolve_model`]), opened.
pub(crate) fn open_model(spec: &Path) -> Result<LoadedModel> {
    let dir = resolve_model(spec)?;
    LoadedModel::open(&dir).with_context(|| format!("opening model {}", dir.display()))
}

pub(crate) fn run_trace_on(
    model_dir: &Path,
    (text, pair): (&str, Option<&str>),
    backend: &mut FallbackBackend,
    opts: &ForwardOptions,
) -> Result<(LoadedModel, Trace, String)> {
    let model = open_model(model_dir)?;
    let input = model.encode(text, pair)?;
    let mut trace = backend.forward_with(&model.config, &model.weights, &input, opts)?;
    trace.warnings.extend(model.warnings.iter().cloned());
    Ok((model, trace, backend.name()))
}

/// `--backend both` compares the two in `bench`; every other command runs one backend.
pub(crate) fn one_backend(b: BackendChoice) -> Result<BackendChoice> {
    if b == BackendChoice::Both {
        anyhow::bail!("--backend both is for bench only: use auto, cpu or gpu");
    }
    Ok(b)
}
