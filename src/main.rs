//! albert-lens: with no subcommand, the desktop window. Subcommands: `trace` exports a forward
//! pass, `attribute` a prediction's gradient attributions, `heads` a classifier's (or masked
//! LM's) head importance over labelled data, `summary` prints what each layer attends to,
//! `verify` checks a backend against the golden files, `render` draws one view headless,
//! `corpus` runs a corpus, `bench` measures backends and `bench-ui` the app's frame time.

mod cli;

use albert_lens::backend::{Backend, FallbackBackend};

/// mimalloc keeps freed memory for reuse: every layer's attention maps (12 MB each for
/// ALBERT-base at N = 512) would otherwise be fresh pages, one page fault per 4 KiB, which cost
/// the CPU forward pass 17% at N = 512 (glibc returns such large blocks to the system at once).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use albert_lens::model::{Ablation, Capture, ForwardOptions, LoadedModel, Trace};
use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "albert-lens",
    version,
    about = "Look inside ALBERT: attention, embeddings, shared vs unshared layers"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// (window) open this model folder, hub:ID, or built-in name instead of the last one
    #[arg(long)]
    model: Option<PathBuf>,
    /// (window) the text to show
    #[arg(long)]
    text: Option<String>,
    /// (window) the backend
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendChoice,
    /// (window) start in this attention view
    #[arg(long, value_enum)]
    view: Option<ViewArg>,
    /// (window) start on this tab: attention, projection, shared, lens, explain, attribution or
    /// corpus
    #[arg(long, value_parser = tab_id)]
    tab: Option<String>,
    /// (window) save a PNG of the window once the first result is shown, then quit
    #[arg(long)]
    screenshot: Option<PathBuf>,
}

/// A tab id from the app's tab registry.
fn tab_id(s: &str) -> std::result::Result<String, String> {
    let ids: Vec<&str> = albert_lens::app::tabs::registry()
        .iter()
        .map(|t| t.id())
        .collect();
    if ids.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(format!("no tab {s:?}: use one of {}", ids.join(", ")))
    }
}

#[derive(Clone, Copy, ValueEnum, Debug)]
enum ViewArg {
    Model,
    Heatmap,
    Links,
}

#[derive(Clone, Copy, ValueEnum, Debug, PartialEq, Eq)]
enum BackendChoice {
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
    fn lib(self) -> albert_lens::backend::BackendChoice {
        use albert_lens::backend::BackendChoice as B;
        match self {
            BackendChoice::Auto => B::Auto,
            BackendChoice::Cpu => B::Cpu,
            BackendChoice::Gpu | BackendChoice::Both => B::Gpu,
        }
    }
}

#[derive(Clone, Copy, ValueEnum, Debug, PartialEq, Eq)]
enum PrecisionArg {
    /// f32 throughout, within the tolerances of transformers (the default)
    Exact,
    /// the GPU's weight products on cooperative matrices (tensor cores): f16 inputs, f32
    /// accumulation; the exact path, with a note, where the GPU has none
    Fast,
}

impl PrecisionArg {
    fn lib(self) -> albert_lens::backend::Precision {
        match self {
            PrecisionArg::Exact => albert_lens::backend::Precision::Exact,
            PrecisionArg::Fast => albert_lens::backend::Precision::Fast,
        }
    }
}

#[derive(Subcommand)]
// parsed once per run: the size of the largest variant (render's options) does not matter
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Run a model on a text and write every hidden state and attention map to a safetensors file
    Trace(cli::trace::TraceArgs),
    /// Gradient attributions of one prediction (a masked-LM token, a class, a token label, a
    /// QA start or end): grad x input, gradient norm and integrated gradients per input token,
    /// written to a safetensors file
    Attribute(cli::attribute::AttributeArgs),
    /// A fine-tuned classifier over a labelled file: accuracy, confusion matrix, head
    /// importance (Michel et al. 2019) and the pruning curve, written to a safetensors file
    Heads(cli::heads::HeadsArgs),
    /// Run a model on a text and print, per layer, the token each token attends to most
    Summary {
        /// model folder, hub:ID, or a built-in model (albert-mini, bert-mini)
        #[arg(long, default_value = "albert-mini")]
        model: PathBuf,
        #[arg(long, default_value = albert_lens::app::EXAMPLE_TEXT)]
        text: String,
        #[arg(long, value_enum, default_value = "auto")]
        backend: BackendChoice,
    },
    /// Measure the app's frame time headless: a 512 x 512 head heatmap, and the 144 thumbnails
    /// of a 12 x 12 model at N = 128 (ALBERT-base shapes, random weights)
    BenchUi {
        /// frames per case (the median is reported; 1 to 100000)
        #[arg(long, default_value_t = 120, value_parser = cli::ranges::count(1..=100_000))]
        frames: usize,
    },
    /// Check a backend against the golden outputs of transformers (tests/fixtures/golden) and,
    /// for the GPU, against the CPU reference at ALBERT-base size
    Verify {
        #[arg(long, value_enum, default_value = "gpu")]
        backend: BackendChoice,
        /// fast: measure the cooperative-matrix path's error (reported, not held to the
        /// exact path's tolerances)
        #[arg(long, value_enum, default_value = "exact")]
        precision: PrecisionArg,
        /// folder holding the fixture models and golden/
        #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))]
        fixtures: PathBuf,
    },
    /// Draw one view as a figure (.png, .svg) or write its matrix (.csv, .npy, .safetensors),
    /// headless: no window is opened
    Render {
        /// model folder, hub:ID, or a built-in model (albert-mini, bert-mini)
        #[arg(long, default_value = "albert-mini")]
        model: PathBuf,
        #[arg(long, default_value = albert_lens::app::EXAMPLE_TEXT)]
        text: String,
        /// optional second segment (sentence pair)
        #[arg(long)]
        pair: Option<String>,
        #[arg(long, value_enum, default_value = "head")]
        view: albert_lens::render::RenderView,
        /// layer, from 1 (default: 1, the layer the window opens on); mixing: a layer or
        /// "rollout" (the aggregate over all layers, its default)
        #[arg(long, value_parser = cli::ranges::layer_or_rollout)]
        layer: Option<cli::ranges::LayerArg>,
        /// head, from 1, or "mean" / "max" (default: mean; for js: head h vs head h, averaged)
        #[arg(long)]
        head: Option<String>,
        /// a second model: Figure 1's other line, or for head / rollout the map main minus it
        #[arg(long)]
        compare: Option<PathBuf>,
        /// Figure 1 what-if: also run the (ALBERT) model with its shared layer applied these
        /// many times, e.g. 6,12,24
        #[arg(long, value_delimiter = ',', value_parser = cli::ranges::repeats)]
        repeats: Vec<usize>,
        /// lens / explain: the token position, from 0 (default: the first [MASK]; explain
        /// without one: the first token after [CLS])
        #[arg(long, value_parser = cli::ranges::count(albert_lens::ranges::POSITION))]
        position: Option<usize>,
        /// explain: the softmax temperature of the what-if (1 is the model; 0.05 to 20)
        #[arg(long, default_value_t = 1.0, value_parser = cli::ranges::temperature)]
        temperature: f32,
        /// attribution: integrated-gradients (default), grad-x-input or gradient-norm; mixing:
        /// attention, norm, globenc, alti (default), value-zeroing or flow
        #[arg(long)]
        method: Option<String>,
        /// attribution: the predicted token attributed (default: the model's top 1)
        #[arg(long)]
        target: Option<String>,
        /// attribution: integrated-gradients steps (1 to 10000)
        #[arg(long, default_value_t = 50, value_parser = cli::ranges::count(albert_lens::ranges::STEPS))]
        steps: usize,
        /// head, model, rollout: attention per word instead of per word piece (to a word = sum
        /// over its pieces, from a word = mean)
        #[arg(long)]
        words: bool,
        /// switch heads off in the main model: LAYER:HEAD[,...], from 1
        #[arg(long, value_parser = parse_ablation)]
        ablate: Option<Ablation>,
        /// lens: how many predictions per layer (1 to 50)
        #[arg(long, default_value_t = 5, value_parser = cli::ranges::count(albert_lens::ranges::TOP_K))]
        top_k: usize,
        /// projection: every layer with each token's trajectory (default), or only --layer
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        trajectories: bool,
        /// projection: lay the points out with t-SNE (perplexity 30) instead of PCA
        #[arg(long)]
        tsne: bool,
        /// projection: colour points by layer, position or segment
        #[arg(long, default_value = "layer")]
        color_by: String,
        /// light, dark or presentation (white, large type, thick lines)
        #[arg(long, default_value = "light")]
        theme: String,
        /// viridis, magma, cividis
        #[arg(long, default_value = "viridis")]
        colormap: String,
        /// logarithmic colour scale
        #[arg(long)]
        log: bool,
        /// leave out [CLS], [SEP] and other special tokens (rows renormalised)
        #[arg(long)]
        hide_special: bool,
        /// one colour scale, 0 to 1 (±1 for a difference), instead of the map's own range;
        /// animations always use it, so that their frames compare
        #[arg(long)]
        shared_scale: bool,
        /// PNG scale: 1, 2 or 4 (any factor from 0.25 up to 16); with --scene, the scene's
        /// unless given
        #[arg(long, value_parser = cli::ranges::png_scale)]
        scale: Option<f32>,
        /// a layer-by-layer animation instead of one figure: gif, or apng (written as .png)
        #[arg(long)]
        animate: Option<String>,
        /// animation frames per second (0.1 to 60)
        #[arg(long, default_value_t = 2.0, value_parser = cli::ranges::fps)]
        fps: f32,
        /// draw the figure a scene file describes (File > Save scene… in the window): the other
        /// view options are the scene's
        #[arg(long)]
        scene: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "auto")]
        backend: BackendChoice,
        /// importance, pruning, confusion: the labelled file the classifier is measured on
        /// (text<TAB>label, text<TAB>pair<TAB>label or .jsonl), and how many of its examples
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long, value_parser = cli::ranges::count(1..=10_000_000))]
        limit: Option<usize>,
        /// print every view id (and the corpus views of `corpus figure`), then stop
        #[arg(long)]
        list_views: bool,
        /// output: .png, .svg, .csv, .npy or .safetensors
        #[arg(long, required_unless_present = "list_views")]
        out: Option<PathBuf>,
    },
    /// Run a corpus through a model and write what every head does on it (Clark et al.'s and
    /// Kobayashi et al.'s statistics, the heads' JS distances) to a safetensors file; `corpus
    /// merge A B ... --out C` combines shards
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Corpus {
        #[command(subcommand)]
        merge: Option<cli::corpus::CorpusCommand>,
        /// model folder, hub:ID, or a built-in model (albert-mini, bert-mini)
        #[arg(long, default_value = "albert-mini")]
        model: PathBuf,
        /// "builtin" (held-out Brown sentences) or a file: one text per line, TAB before a
        /// second segment; or .jsonl with "text" and "pair"
        #[arg(long, default_value = "builtin")]
        corpus: String,
        /// texts per forward pass, 1 to 1024 (on 2 cores 8 to 32 run within 10% of each other)
        #[arg(long, default_value_t = 16, value_parser = cli::ranges::count(albert_lens::ranges::BATCH))]
        batch: usize,
        #[arg(long, value_enum, default_value = "auto")]
        backend: BackendChoice,
        /// run only the lines whose 0-based index is i modulo n (e.g. 0/4)
        #[arg(long, value_parser = albert_lens::corpus::parse_shard)]
        shard: Option<(usize, usize)>,
        /// stop after this many texts (reading stops there too)
        #[arg(long, value_parser = cli::ranges::positive64())]
        limit: Option<u64>,
        /// output file (.safetensors)
        #[arg(long, required = true, value_parser = cli::ranges::safetensors_out)]
        out: Option<PathBuf>,
    },
    /// Measure forward latency on random weights of real model shapes
    Bench {
        #[arg(long, value_enum, default_value = "both")]
        backend: BackendChoice,
        /// model shapes: albert-base, albert-large, bert-base
        #[arg(long, value_delimiter = ',', default_value = "albert-base,bert-base")]
        models: Vec<String>,
        /// token counts (each 1 to 8192)
        #[arg(long, value_delimiter = ',', default_value = "128,512", value_parser = cli::ranges::count(1..=8192))]
        tokens: Vec<usize>,
        /// timed runs per case (the median is reported; 1 to 1000)
        #[arg(long, default_value_t = 5, value_parser = cli::ranges::count(1..=1000))]
        iters: usize,
        /// the GPU's weight products: exact (f32) or fast (cooperative matrices)
        #[arg(long, value_enum, default_value = "exact")]
        precision: PrecisionArg,
        /// also time GPU matmuls (4096^3 and ALBERT-base's layer shapes)
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        matmul: bool,
        /// corpus throughput instead: built-in sentences through the forward pass and the head
        /// statistics, texts/s per batch size (compare tools/bench/hf_corpus.py)
        #[arg(long)]
        corpus: bool,
        /// corpus: batch sizes (each 1 to 1024)
        #[arg(long, value_delimiter = ',', default_value = "1,8,32,128", value_parser = cli::ranges::count(albert_lens::ranges::BATCH))]
        batches: Vec<usize>,
        /// corpus: how many built-in sentences (1 to 100000)
        #[arg(long, default_value_t = 256, value_parser = cli::ranges::count(1..=100_000))]
        texts: usize,
        /// context mixing instead: each method's time and the peak memory on the CPU (compare
        /// tools/bench/contributions_torch.py); flow up to 64 tokens
        #[arg(long)]
        contributions: bool,
        /// contributions: value zeroing only up to this many tokens (its N² rows through the
        /// feed-forward take minutes at 512 on two cores)
        #[arg(long, default_value_t = 128)]
        vz_max_tokens: usize,
    },
}

/// A figure theme (light, dark, presentation) and a colormap (viridis, magma, cividis) by name.
fn parse_look(
    theme: &str,
    colormap: &str,
) -> Result<(albert_lens::figures::Theme, albert_lens::colormap::Colormap)> {
    let theme = albert_lens::figures::Theme::by_name(theme)
        .with_context(|| format!("unknown theme {theme:?}: use light, dark or presentation"))?;
    let colormap = albert_lens::colormap::Colormap::ALL
        .into_iter()
        .find(|c| c.name().split(' ').next() == Some(colormap))
        .with_context(|| format!("unknown colormap {colormap:?}: use viridis, magma or cividis"))?;
    Ok((theme, colormap))
}

/// "3" (a head, from 1), "mean" or "max".
fn parse_head(s: &str) -> Result<albert_lens::analysis::HeadSel> {
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

fn make_backend(choice: BackendChoice) -> FallbackBackend {
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
fn resolve_model(spec: &Path) -> Result<PathBuf> {
    use albert_lens::model::ModelSource;
    let id = match ModelSource::parse(spec) {
        ModelSource::Folder(dir) => return Ok(dir),
        ModelSource::Builtin(name) => return Ok(albert_lens::model::builtin::folder(&name)?),
        ModelSource::Hub(id) => id,
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

fn run_trace(
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

fn parse_ablation(s: &str) -> std::result::Result<Ablation, String> {
    Ablation::parse(s)
}

fn run_trace_on(
    model_dir: &Path,
    (text, pair): (&str, Option<&str>),
    backend: &mut FallbackBackend,
    opts: &ForwardOptions,
) -> Result<(LoadedModel, Trace, String)> {
    let model_dir = &resolve_model(model_dir)?;
    let model = LoadedModel::open(model_dir)
        .with_context(|| format!("opening model {}", model_dir.display()))?;
    let input = model.encode(text, pair)?;
    let mut trace = backend.forward_with(&model.config, &model.weights, &input, opts)?;
    trace.warnings.extend(model.warnings.iter().cloned());
    Ok((model, trace, backend.name()))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let runtime_dir = cli::private_runtime_dir();
    let result = run(cli);
    if let Some(d) = runtime_dir {
        let _ = std::fs::remove_dir_all(d);
    }
    result
}

/// `--backend both` compares the two in `bench`; every other command runs one backend.
fn one_backend(b: BackendChoice) -> Result<BackendChoice> {
    if b == BackendChoice::Both {
        anyhow::bail!("--backend both is for bench only: use auto, cpu or gpu");
    }
    Ok(b)
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None => {
            one_backend(cli.backend)?;
            run_window(cli)
        }
        Some(Command::Summary {
            model,
            text,
            backend,
        }) => cli::summary(&model, &text, one_backend(backend)?),
        Some(Command::BenchUi { frames }) => albert_lens::app::frame_bench::run(frames.max(5)),
        Some(Command::Trace(args)) => cli::trace::run(args),
        Some(Command::Verify {
            backend,
            precision,
            fixtures,
        }) => cli::verify(one_backend(backend)?, precision.lib(), &fixtures),
        Some(Command::Attribute(args)) => cli::attribute::run(args),
        Some(Command::Heads(args)) => cli::heads::run(args),
        Some(Command::Render {
            model,
            text,
            pair,
            view,
            layer,
            head,
            compare,
            repeats,
            position,
            temperature,
            method,
            target,
            steps,
            ablate,
            words,
            top_k,
            trajectories,
            tsne,
            color_by,
            theme,
            colormap,
            log,
            hide_special,
            shared_scale,
            scale,
            scene,
            animate,
            fps,
            backend,
            data,
            limit,
            list_views,
            out,
        }) => {
            use albert_lens::render::RenderOptions;
            if list_views {
                cli::list_views();
                return Ok(());
            }
            let out = out.context("give --out FILE")?;
            if scene.is_some() && animate.is_some() {
                anyhow::bail!(
                    "--animate does not combine with --scene: a scene holds one figure. Render the scene to .png or .svg, or animate the view with its flags (--view, --layer, ...)"
                );
            }
            let anim = match animate.as_deref() {
                None => None,
                Some("gif") => Some(albert_lens::figures::animate::AnimFormat::Gif),
                Some("apng") => Some(albert_lens::figures::animate::AnimFormat::Apng),
                Some(other) => anyhow::bail!("unknown --animate {other:?}: use gif or apng"),
            };
            if let Some(a) = anim {
                if albert_lens::figures::animate::AnimFormat::of(&out) != Some(a) {
                    anyhow::bail!(
                        "an {} animation is written to a .{} file, not {}",
                        animate.as_deref().unwrap_or_default(),
                        a.ext(),
                        out.display()
                    );
                }
            }
            let format = match anim {
                Some(_) => albert_lens::export::Format::Png,
                None => albert_lens::export::Format::of(&out)?,
            };
            if let Some(path) = scene {
                let scene = albert_lens::app::scene::Scene::read(&path)?;
                for n in &scene.notes {
                    eprintln!("note: {n}");
                }
                let (figure, matrix) = albert_lens::app::scene::render_scene(
                    &scene,
                    one_backend(backend)?.lib(),
                    std::time::Duration::from_secs(600),
                )
                .with_context(|| format!("rendering the scene {}", path.display()))?;
                let scale = scale.unwrap_or(scene.scale);
                let bytes = albert_lens::export::save(&out, &figure, matrix.as_ref(), scale)?;
                eprintln!(
                    "scene {} ({} of the {} tab) -> {} ({format:?}, {bytes} bytes)",
                    path.display(),
                    scene.figure.1,
                    scene.figure.0,
                    out.display()
                );
                return Ok(());
            }
            let scale = scale.unwrap_or(2.0);
            let (theme, colormap) = parse_look(&theme, &colormap)?;
            let color_by = albert_lens::figures::scenes::ColorBy::ALL
                .into_iter()
                .find(|c| c.name() == color_by)
                .with_context(|| {
                    format!("unknown --color-by {color_by:?}: use layer, position or segment")
                })?;
            let head = head.as_deref().map(parse_head).transpose()?;
            let mixing = cli::render::mixing_options(view, layer, method.as_deref(), position)?;
            let layer = match layer {
                Some(cli::ranges::LayerArg::Layer(l)) => Some(l - 1),
                Some(cli::ranges::LayerArg::Rollout) if mixing.is_none() => anyhow::bail!(
                    "--layer rollout is the mixing view's aggregate; for attention rollout use --view rollout"
                ),
                _ => None,
            };
            // --method names the mixing view's method there, the attribution's elsewhere
            let method = method
                .filter(|_| mixing.is_none())
                .unwrap_or_else(|| "integrated-gradients".into());
            let mut opts = RenderOptions {
                evaluation: None,
                changed: None,
                view,
                layer,
                mixing: mixing.unwrap_or_default(),
                ablate: ablate.clone().unwrap_or_default(),
                head,
                theme,
                colormap,
                log,
                hide_special,
                repeats,
                position,
                top_k,
                color_by,
                trajectories,
                tsne,
                temperature,
                method: albert_lens::insight::attribution::Method::by_flag(&method)
                    .with_context(|| {
                        format!("unknown --method {method:?}: use integrated-gradients, grad-x-input or gradient-norm")
                    })?,
                target,
                steps,
                words,
                text: text.clone(),
                shared_scale,
            };
            let mut be = make_backend(one_backend(backend)?);
            let main_opts = ForwardOptions {
                capture: if view == albert_lens::render::RenderView::Explain {
                    Capture::All
                } else {
                    Capture::Nothing
                },
                ablate: ablate.unwrap_or_default(),
            };
            let (main_model, main_trace, backend_name) =
                run_trace_on(&model, (&text, pair.as_deref()), &mut be, &main_opts)?;
            let compare_run = match &compare {
                Some(c) => Some(run_trace_on(
                    c,
                    (&text, pair.as_deref()),
                    &mut be,
                    &ForwardOptions::default(),
                )?),
                None => None,
            };
            let label = |p: &Path| {
                p.file_name().map_or_else(
                    || p.display().to_string(),
                    |n| n.to_string_lossy().to_string(),
                )
            };
            let main = albert_lens::render::Run {
                name: label(&model),
                model: &main_model,
                trace: &main_trace,
            };
            let cmp = compare
                .as_deref()
                .zip(compare_run.as_ref())
                .map(|(p, (m, t, _))| albert_lens::render::Run {
                    name: label(p),
                    model: m,
                    trace: t,
                });
            let parent = cmp.as_ref().map(|c| (c.model, c.name.as_str()));
            (opts.evaluation, opts.changed) = cli::heads::for_render(
                view,
                (data.as_deref(), limit),
                ((&main_model, &main.name), parent),
                &mut be,
            )?;
            let input = main_model.encode(&text, pair.as_deref())?;
            let mut rerun = |cfg: &albert_lens::model::ModelConfig| {
                be.forward(cfg, &main_model.weights, &input)
            };
            if let Some(a) = anim {
                let frames = albert_lens::render::frames(&opts, &main, cmp.as_ref(), &mut rerun)?;
                let ctl = albert_lens::insight::Control::default();
                let bytes = albert_lens::figures::animate::encode(&frames, (fps, scale), a, &ctl)?;
                albert_lens::files::write_atomic(&out, &bytes)?;
                eprintln!(
                    "{view:?} of {}, {} frames at {fps}/s -> {} ({a:?}, {} bytes)",
                    main.name,
                    frames.len(),
                    out.display(),
                    bytes.len()
                );
                return Ok(());
            }
            let (figure, matrix) =
                albert_lens::render::render(&opts, &main, cmp.as_ref(), &mut rerun)?;
            let bytes = albert_lens::export::save(&out, &figure, matrix.as_ref(), scale)?;
            eprintln!(
                "{:?} of {} ({} tokens, {backend_name}) -> {} ({format:?}, {} bytes)",
                view,
                main.name,
                main_trace.num_tokens(),
                out.display(),
                bytes
            );
            Ok(())
        }
        Some(Command::Corpus {
            merge: Some(cli::corpus::CorpusCommand::Merge { files, out }),
            ..
        }) => cli::corpus::merge(&files, &out),
        Some(Command::Corpus {
            merge:
                Some(cli::corpus::CorpusCommand::Figure {
                    stats,
                    compare,
                    view,
                    stat,
                    theme,
                    colormap,
                    scale,
                    out,
                }),
            ..
        }) => cli::corpus::figure(
            (&stats, compare.as_deref()),
            (&view, &stat),
            (&theme, &colormap, scale),
            &out,
        ),
        Some(Command::Corpus {
            merge: None,
            model,
            corpus,
            batch,
            backend,
            shard,
            limit,
            out,
        }) => {
            let out = out.context("give --out FILE.safetensors")?;
            let opts = albert_lens::corpus::CorpusOptions {
                batch: batch.max(1),
                shard: shard.unwrap_or((0, 1)),
                limit,
                model_name: model.display().to_string(),
            };
            cli::corpus::run(&model, &corpus, one_backend(backend)?, &opts, &out)
        }
        Some(Command::Bench {
            backend,
            models,
            tokens,
            iters,
            precision,
            matmul,
            corpus,
            batches,
            texts,
            contributions,
            vz_max_tokens,
        }) => {
            if contributions {
                let rows = albert_lens::bench::run_contributions(&models, &tokens, vz_max_tokens)?;
                println!("{}", rows.join("\n"));
                Ok(())
            } else if corpus {
                cli::corpus::bench(one_backend(backend)?, &models, &batches, texts, iters)
            } else {
                let gpu_opts = (precision.lib(), matmul);
                cli::bench(backend, &models, &tokens, iters.max(1), gpu_opts)
            }
        }
    }
}

/// The desktop window.
fn run_window(cli: Cli) -> Result<()> {
    use albert_lens::app::{AppOptions, AttnView, LensApp};
    use albert_lens::model::ModelSource;
    let open = cli.model.as_deref().map(ModelSource::parse);
    let opts = AppOptions {
        backend: cli.backend.lib(),
        // a scripted screenshot starts from the defaults, not from the last session
        restore: cli.screenshot.is_none(),
        open,
        compare: None,
        text: cli.text,
        start_models: true,
        screenshot: cli.screenshot,
        view: cli.view.map(|v| match v {
            ViewArg::Model => AttnView::Model,
            ViewArg::Heatmap => AttnView::Heatmap,
            ViewArg::Links => AttnView::Links,
        }),
        tab: cli.tab,
    };
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("albert-lens")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([640.0, 400.0])
            .with_drag_and_drop(true),
        // the window's device is the one the app computes on: ask for what compute needs
        wgpu_options: eframe::egui_wgpu::WgpuConfiguration {
            wgpu_setup: eframe::egui_wgpu::WgpuSetup::CreateNew(
                eframe::egui_wgpu::WgpuSetupCreateNew {
                    device_descriptor: std::sync::Arc::new(
                        albert_lens::backend::gpu::context::device_descriptor,
                    ),
                    ..eframe::egui_wgpu::WgpuSetupCreateNew::without_display_handle()
                },
            ),
            ..Default::default()
        },
        ..Default::default()
    };
    eframe::run_native(
        "albert-lens",
        native,
        Box::new(move |cc| Ok(Box::new(LensApp::new(cc, opts)))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}. On a machine without a display, use the `trace`, `summary` or `bench` subcommands"))
}
