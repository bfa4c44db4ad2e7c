//! `verify`: a backend against the golden outputs of transformers and, for the GPU, against the
//! CPU reference.

use super::common::{make_backend, BackendChoice, PrecisionArg};
use albert_lens::backend::Backend;
use albert_lens::model::{LoadedModel, Trace};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub(crate) struct VerifyArgs {
    #[arg(long, value_enum, default_value = "gpu")]
    pub(crate) backend: BackendChoice,
    /// fast: measure the cooperative-matrix path's error (reported, not held to the
    /// exact path's tolerances)
    #[arg(long, value_enum, default_value = "exact")]
    pub(crate) precision: PrecisionArg,
    /// folder holding the fixture models and golden/
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))]
    pub(crate) fixtures: PathBuf,
}

pub(crate) fn run(a: VerifyArgs) -> Result<()> {
    verify(
        super::common::one_backend(a.backend)?,
        a.precision.lib(),
        &a.fixtures,
    )
}

pub(crate) fn verify(
    backend: BackendChoice,
    precision: albert_lens::backend::Precision,
    fixtures: &Path,
) -> Result<()> {
    let mut b = make_backend(backend);
    if let Some(n) = b.set_precision(precision) {
        eprintln!("note: {n}");
    }
    // the fast path's error is measured and reported, not held to the exact tolerances
    let fast = b.gpu().is_some_and(|g| g.is_fast());
    let judge = |d: &albert_lens::model::trace::TraceDiff| {
        if fast {
            d.attention_max_abs.is_finite() && d.hidden_max_rel.is_finite()
        } else {
            d.within_tolerance()
        }
    };
    if backend == BackendChoice::Gpu && b.gpu().is_none() {
        anyhow::bail!(
            "cannot verify the GPU backend: {}",
            b.notice.clone().unwrap_or_default()
        );
    }
    let mut rows = Vec::new();
    let mut ok = true;
    let golden_root = fixtures.join("golden");
    let mut models: Vec<PathBuf> = std::fs::read_dir(&golden_root)
        .with_context(|| format!("reading {}", golden_root.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    models.sort();
    for gdir in models {
        let name = gdir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // the built-in models' golden cases sit beside the fixture folders' (albert-mini, ...)
        let dir = fixtures.join(&name);
        let dir = if dir.is_dir() {
            dir
        } else {
            albert_lens::model::builtin::folder(&name)
                .with_context(|| format!("golden cases for {name}: no such fixture or built-in"))?
        };
        let model = LoadedModel::open(&dir)?;
        let mut cases: Vec<PathBuf> = std::fs::read_dir(&gdir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        cases.sort();
        for case in cases {
            let bytes = std::fs::read(&case)?;
            let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)?;
            let meta = meta.metadata().clone().unwrap_or_default();
            let text = meta.get("text").cloned().unwrap_or_default();
            let pair = meta.get("pair").filter(|p| !p.is_empty()).cloned();
            let golden = Trace::read_safetensors(&case)?;
            let input = model.encode(&text, pair.as_deref())?;
            let trace = b.forward(&model.config, &model.weights, &input)?;
            let what = format!(
                "{name}/{}",
                case.file_stem().unwrap_or_default().to_string_lossy()
            );
            match trace.diff(&golden) {
                Some(d) => {
                    let pass = judge(&d);
                    ok &= pass;
                    rows.push(format!(
                        "| {what} | {} | {:.2e} | {:.2e} | {} |",
                        input.len(),
                        d.attention_max_abs,
                        d.hidden_max_rel,
                        if pass { "ok" } else { "FAIL" }
                    ));
                }
                None => {
                    ok = false;
                    rows.push(format!(
                        "| {what} | {} | - | - | FAIL (shapes or ids differ) |",
                        input.len()
                    ));
                }
            }
        }
    }
    // The big-shape kernels (large tiles, long rows) against the CPU reference.
    if let Some(gpu) = b.gpu() {
        for (preset, n) in [("albert-base", 128), ("bert-base", 512)] {
            let cfg = albert_lens::bench::preset_config(preset)?;
            let weights = albert_lens::model::ModelWeights::random(&cfg, 3)?;
            let input = albert_lens::bench::synthetic_input(&cfg, n);
            let want = make_backend(BackendChoice::Cpu).forward(&cfg, &weights, &input)?;
            let got = gpu.forward(&cfg, &weights, &input)?;
            let d = got
                .diff(&want)
                .context("GPU and CPU traces differ in shape")?;
            let pass = judge(&d);
            ok &= pass;
            rows.push(format!(
                "| {preset} random weights vs CPU | {n} | {:.2e} | {:.2e} | {} |",
                d.attention_max_abs,
                d.hidden_max_rel,
                if pass { "ok" } else { "FAIL" }
            ));
        }
    }
    println!("backend: {}\n", b.name());
    let tol = |t: &str| {
        if fast {
            " (measured, fast)".to_string()
        } else {
            format!(" (tol {t})")
        }
    };
    println!(
        "| case | tokens | attention max abs diff{} | hidden max rel diff{} | |",
        tol("1e-5"),
        tol("1e-4")
    );
    println!("|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    if !ok {
        anyhow::bail!("some results are outside the tolerances");
    }
    Ok(())
}
