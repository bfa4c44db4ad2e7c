//! The command line's longer commands (the window and the option parsing stay in main.rs):
//! `attribute`, `summary`, `bench` and `verify`.

use crate::{make_backend, run_trace, BackendChoice};
use albert_lens::backend::Backend;
use albert_lens::model::{LoadedModel, Trace};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub(crate) mod attribute;
pub(crate) mod corpus;
pub(crate) mod heads;
pub(crate) mod ranges;
pub(crate) mod render;
pub(crate) mod trace;

pub(crate) fn summary(dir: &Path, text: &str, backend: BackendChoice) -> Result<()> {
    let (model, trace, backend) = run_trace(dir, text, None, backend)?;
    println!(
        "albert-lens: {} ({} layers sharing {} group(s), {} parameters) on {backend}",
        dir.display(),
        model.config.num_hidden_layers,
        model.config.num_hidden_groups,
        model.weights.param_count
    );
    println!("text: {text}\ntokens: {}", trace.tokens.join(" "));
    for w in &trace.warnings {
        eprintln!("warning: {w}");
    }
    let n = trace.num_tokens();
    for j in 0..trace.attentions.len() {
        // each token's most attended token, averaged over heads
        let picks: Vec<String> = (0..n)
            .map(|q| {
                let best = (0..n)
                    .map(|k| {
                        let s: f32 = (0..trace.num_heads)
                            .map(|h| trace.attention(j, h, q, k))
                            .sum();
                        (k, s / trace.num_heads as f32)
                    })
                    .fold((0, f32::MIN), |a, b| if b.1 > a.1 { b } else { a });
                format!("{}→{}", trace.tokens[q], trace.tokens[best.0])
            })
            .collect();
        // layers count from 1, as in the window and `render --layer`
        println!("layer {}: {}", j + 1, picks.join("  "));
    }
    Ok(())
}

pub(crate) fn bench(
    backend: BackendChoice,
    models: &[String],
    tokens: &[usize],
    iters: usize,
    (precision, matmul): (albert_lens::backend::Precision, bool),
) -> Result<()> {
    use albert_lens::bench;
    let gpu = match backend {
        BackendChoice::Cpu => None,
        BackendChoice::Gpu => Some(
            albert_lens::backend::GpuBackend::headless()
                .context("the GPU benchmark needs a GPU adapter")?,
        ),
        BackendChoice::Both | BackendChoice::Auto => {
            match albert_lens::backend::GpuBackend::headless() {
                Ok(g) => Some(g),
                Err(e) => {
                    println!("no GPU benchmark: {e}\n");
                    None
                }
            }
        }
    };
    if let Some(mut gpu) = gpu {
        if let Some(n) = gpu.set_precision(precision) {
            println!("note: {n}\n");
        }
        println!(
            "GPU benchmark on {} ({}), median of {iters} runs\n",
            gpu.context().adapter_name(),
            if gpu.is_fast() {
                "fast: weight products on cooperative matrices, f16 inputs"
            } else {
                "exact: f32"
            }
        );
        let rows = bench::run_gpu(&mut gpu, models, tokens, iters)?;
        println!("{}", bench::GpuRow::markdown_header());
        for r in rows {
            println!("{}", r.markdown());
        }
        if matmul {
            println!();
            for l in bench::run_gpu_matmul(&gpu, tokens, iters.max(3))? {
                println!("{l}");
            }
        }
        println!();
    }
    if matches!(backend, BackendChoice::Cpu | BackendChoice::Both) {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        println!("CPU benchmark, {cores} cores, median of {iters} runs\n");
        let rows = bench::run_cpu(models, tokens, iters)?;
        println!("{}", bench::BenchRow::markdown_header());
        for r in rows {
            println!("{}", r.markdown());
        }
    }
    Ok(())
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
            let want = albert_lens::backend::CpuBackend::new().forward(&cfg, &weights, &input)?;
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

/// The prefix of the private runtime folders [`private_runtime_dir`] makes.
const RUNTIME_PREFIX: &str = "albert-lens-runtime-";

/// Mesa's Wayland client prints "XDG_RUNTIME_DIR is invalid or not set" on every device it
/// creates when the variable is missing (a headless shell, CI): give the process a private one,
/// removed at exit. Folders that earlier processes left behind (killed, aborted) are removed
/// here first: one whose process is gone, owned by this user. Without the variable no Wayland
/// display was reachable anyway, so nothing else changes.
pub(crate) fn private_runtime_dir() -> Option<PathBuf> {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| Path::new(&d).is_dir()) {
        return None;
    }
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let tmp = std::env::temp_dir();
    // this process's user: /proc/self belongs to it
    let me = std::fs::metadata("/proc/self").ok().map(|m| m.uid());
    for e in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_prefix(RUNTIME_PREFIX)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(m) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        let alive = Path::new("/proc").join(pid.to_string()).exists();
        if m.is_dir() && !alive && Some(m.uid()) == me {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    let dir = tmp.join(format!("{RUNTIME_PREFIX}{}", std::process::id()));
    std::fs::DirBuilder::new().mode(0o700).create(&dir).ok()?;
    // before any thread exists: nothing reads the environment concurrently
    std::env::set_var("XDG_RUNTIME_DIR", &dir);
    Some(dir)
}

/// `render --list-views`: every view id `render --view` draws, with what it shows, then the
/// corpus views (`corpus figure --view`).
pub(crate) fn list_views() {
    use clap::ValueEnum;
    for v in albert_lens::render::RenderView::value_variants() {
        if let Some(p) = v.to_possible_value() {
            let help = p.get_help().map(|h| h.to_string()).unwrap_or_default();
            println!("{}\t{help}", p.get_name());
        }
    }
    for v in albert_lens::figures::corpus::VIEWS {
        println!("{v}\t(corpus figure --view {v}: from a statistics file)");
    }
}
