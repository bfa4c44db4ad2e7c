//! `render`: one view drawn headless, its flags, and the options that belong to one view (the
//! mixing view's method and layer).

use super::common::{
    make_backend, one_backend, parse_ablation, parse_head, run_trace_on, BackendChoice,
};
use super::ranges::LayerArg;
use super::render_runs::{
    also_models, corpus_limit, corpus_stats, main_run, model_label, query_key, Difference,
};
use albert_lens::backend::Backend;
use albert_lens::insight::mixing::{Method, Stage};
use albert_lens::model::{Ablation, Capture, ForwardOptions};
use albert_lens::render::RenderView;
use albert_lens::views::mixing::Options;
use anyhow::Context;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// The mixing view's options from `--method`, `--layer` and `--position` (None for the other
/// views).
pub(crate) fn mixing_options(
    view: RenderView,
    layer: Option<LayerArg>,
    method: Option<&str>,
    position: Option<usize>,
) -> Result<Option<Options>> {
    if view != RenderView::Mixing {
        return Ok(None);
    }
    let defaults = Options::default();
    let method = match method {
        None => defaults.method,
        Some(m) => Method::from_name(m).ok_or_else(|| {
            let names: Vec<&str> = Method::ALL.iter().map(|m| m.cli_name()).collect();
            anyhow::anyhow!(
                "unknown --method {m:?} for the mixing view: use {}",
                names.join(", ")
            )
        })?,
    };
    let stage = match layer {
        Some(LayerArg::Layer(l)) => Stage::Layer(l - 1),
        Some(LayerArg::Rollout) | None => Stage::Aggregate,
    };
    if method == Method::Norm && stage == Stage::Aggregate {
        anyhow::bail!(
            "norm has no aggregate over layers (Kobayashi et al. define none): give --layer L"
        );
    }
    Ok(Some(Options {
        method,
        stage,
        position,
        ..defaults
    }))
}

/// `render`'s flags.
#[derive(clap::Args)]
pub(crate) struct RenderArgs {
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
    #[arg(long, value_parser = super::ranges::layer_or_rollout)]
    layer: Option<super::ranges::LayerArg>,
    /// head, from 1, or "mean" / "max" (default: mean; for js: head h vs head h, averaged)
    #[arg(long)]
    head: Option<String>,
    /// a second model: Figure 1's other line, or for head / rollout the map main minus it
    #[arg(long)]
    compare: Option<PathBuf>,
    /// head, rollout, links: the difference to the model's own attention on this second text
    /// (the text minus this one; inputs of the same length), as the window's "Difference:
    /// second text"
    #[arg(long, conflicts_with_all = ["compare", "diff_intervention"])]
    diff_text: Option<String>,
    /// head, rollout, links: the difference of the run with --ablate / --mask to the intact
    /// run, as the window's "Difference: intervention"
    #[arg(long, conflicts_with = "compare")]
    diff_intervention: bool,
    /// links: the map the lines draw: attention (default), rollout or value-norm, as the
    /// window's links follow the heatmap's measure
    #[arg(long, value_enum)]
    links_of: Option<albert_lens::analysis::Measure>,
    /// parameters, figure1: more models beside --model and --compare (the flag repeated): their
    /// parameter columns, their Figure 1 lines
    #[arg(long)]
    also: Vec<PathBuf>,
    /// Figure 1 what-if: also run the (ALBERT) model with its shared layer applied these
    /// many times, e.g. 6,12,24
    #[arg(long, value_delimiter = ',', value_parser = super::ranges::repeats)]
    repeats: Vec<usize>,
    /// lens / explain: the token position, from 0 (default: the first [MASK]; explain
    /// without one: the first token after [CLS])
    #[arg(long, value_parser = super::ranges::count(albert_lens::ranges::POSITION))]
    position: Option<usize>,
    /// explain: the softmax temperature of the what-if (1 is the model; 0.05 to 20)
    #[arg(long, default_value_t = 1.0, value_parser = super::ranges::temperature)]
    temperature: f32,
    /// explain: one step of the walk-through, with its numbers, instead of every step in one
    /// column
    #[arg(long, value_enum)]
    step: Option<albert_lens::insight::explain::Step>,
    /// neighbours: the word whose nearest tokens in the input embeddings are shown
    #[arg(long, default_value = "king")]
    query: String,
    /// attribution: integrated-gradients (default), grad-x-input or gradient-norm; mixing:
    /// attention, norm, globenc, alti (default), value-zeroing or flow
    #[arg(long)]
    method: Option<String>,
    /// attribution: the predicted token attributed (default: the model's top 1)
    #[arg(long)]
    target: Option<String>,
    /// attribution: integrated-gradients steps (1 to 10000)
    #[arg(long, default_value_t = 50, value_parser = super::ranges::count(albert_lens::ranges::STEPS))]
    steps: usize,
    /// head, model, rollout: attention per word instead of per word piece (to a word = sum
    /// over its pieces, from a word = mean)
    #[arg(long)]
    words: bool,
    /// switch heads off in the main model: LAYER:HEAD[,...], from 1
    #[arg(long, value_parser = parse_ablation)]
    ablate: Option<Ablation>,
    /// show these tokens (positions from 0, e.g. 2,5) as the main model's mask token, as the
    /// window's mask chips do
    #[arg(long, value_delimiter = ',', value_parser = super::ranges::count(albert_lens::ranges::POSITION))]
    mask: Vec<usize>,
    /// lens: how many predictions per layer (1 to 50)
    #[arg(long, default_value_t = 5, value_parser = super::ranges::count(albert_lens::ranges::TOP_K))]
    top_k: usize,
    /// projection: every layer with each token's trajectory (default), or only --layer
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    trajectories: bool,
    /// projection: lay the points out with t-SNE (perplexity 30) instead of PCA
    #[arg(long)]
    tsne: bool,
    /// projection: colour points by layer, position or segment
    #[arg(long, value_enum, default_value = "layer")]
    color_by: albert_lens::figures::scenes::ColorBy,
    /// light, dark or presentation (white, large type, thick lines)
    #[arg(long, value_enum, default_value = "light")]
    theme: super::common::ThemeArg,
    #[arg(long, value_enum, default_value = "viridis")]
    colormap: albert_lens::colormap::Colormap,
    /// logarithmic colour scale
    #[arg(long)]
    log: bool,
    /// leave out [CLS], [SEP] and other special tokens (rows renormalised)
    #[arg(long)]
    hide_special: bool,
    /// with --hide-special, renormalise each row to sum to 1 (true, as the window does) or
    /// keep the weights as they are (false)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    renormalise: bool,
    /// projection: a label on every point (default: true for one layer, false for
    /// trajectories)
    #[arg(long, action = clap::ArgAction::Set)]
    label_all: Option<bool>,
    /// one colour scale, 0 to 1 (±1 for a difference), instead of the map's own range;
    /// animations always use it, so that their frames compare
    #[arg(long)]
    shared_scale: bool,
    /// links: overlay these heads' own attention (from 1, e.g. 1,3), one colour each, as the
    /// window's "Overlay heads" does
    #[arg(long, value_delimiter = ',', value_parser = super::ranges::count(1..=4096))]
    overlay_heads: Vec<usize>,
    /// PNG scale: 1, 2 or 4 (any factor from 0.25 up to 16); with --scene, the scene's
    /// unless given
    #[arg(long, value_parser = super::ranges::png_scale)]
    scale: Option<f32>,
    /// a layer-by-layer animation instead of one figure: gif, or apng (written as .png)
    #[arg(long, value_enum)]
    animate: Option<albert_lens::figures::animate::AnimFormat>,
    /// animation frames per second (0.1 to 60)
    #[arg(long, default_value_t = 2.0, value_parser = super::ranges::fps)]
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
    /// how many texts of --data (corpus views and query-key: 100 by default), or "all"
    #[arg(long, value_parser = super::ranges::limit)]
    limit: Option<usize>,
    /// grid: the statistic (cls, sep, punct, self, prev, next, entropy, distance, sep_norm)
    #[arg(long, default_value = "sep", value_parser = super::corpus::statistic)]
    stat: albert_lens::corpus::stats::Stat,
    /// print every view id (and the corpus views of `corpus figure`), then stop
    #[arg(long)]
    list_views: bool,
    /// output: .png, .svg, .csv, .npy or .safetensors
    #[arg(long, required_unless_present = "list_views")]
    out: Option<PathBuf>,
}

/// `render`: the view's analyses, then its figure through the view registry, to a file.
pub(crate) fn run(a: RenderArgs) -> Result<()> {
    if a.list_views {
        super::list_views();
        return Ok(());
    }
    let out = a.out.clone().context("give --out FILE")?;
    check_flags(&a, &out)?;
    let format = match a.animate {
        Some(_) => albert_lens::export::Format::Png,
        None => albert_lens::export::Format::of(&out)?,
    };
    if let Some(path) = &a.scene {
        // the scene as the flags that draw it, drawn from those
        let backend = one_backend(a.backend)?;
        let what = || format!("rendering the scene {}", path.display());
        let argv = super::render_scene::scene_command(path, &out, (backend, a.scale))?;
        use clap::Parser;
        let cmd = RenderCommand::try_parse_from(argv)
            .map_err(|e| anyhow::anyhow!("{}: the scene's settings as flags: {e}", what()))?;
        return run(cmd.args).with_context(what);
    }
    let scale = a.scale.unwrap_or(2.0);
    let mut opts = options(&a)?;
    let mut be = make_backend(one_backend(a.backend)?);
    // the Explain walk reads every intermediate
    let capture = match a.view {
        RenderView::Explain => Capture::All,
        _ => Capture::Nothing,
    };
    let main_opts = ForwardOptions {
        capture,
        ablate: opts.ablate.clone(),
    };
    let (text, pair) = (a.text.as_str(), a.pair.as_deref());
    let (main_model, main_trace, backend_name, input) =
        main_run(&a.model, (text, pair), &a.mask, &mut be, &main_opts)?;
    let plain = ForwardOptions::default();
    let compare_run = (a.compare.as_deref())
        .map(|c| run_trace_on(c, (text, pair), &mut be, &plain))
        .transpose()?;
    let main = albert_lens::render::Run {
        name: model_label(&a.model),
        model: &main_model,
        trace: &main_trace,
    };
    let diff = Difference {
        text: a.diff_text.as_deref(),
        intervention: a.diff_intervention,
    };
    let second = diff.run(
        a.view,
        (&main_model, (text, pair)),
        &opts.ablate,
        &a.mask,
        &mut be,
    )?;
    let mut cmp = a
        .compare
        .as_deref()
        .zip(compare_run.as_ref())
        .map(|(p, (m, t, _))| albert_lens::render::Run {
            name: model_label(p),
            model: m,
            trace: t,
        });
    if let Some((trace, (x, y))) = &second {
        opts.operands = Some((x.clone(), y.clone()));
        cmp = Some(albert_lens::render::Run {
            name: y.clone(),
            model: &main_model,
            trace,
        });
    }
    let compare_model = compare_run.as_ref().map(|(m, _, _)| m);
    corpus_data(&a, &mut opts, (&main, cmp.as_ref(), compare_model), &mut be)?;
    let mut rerun =
        |cfg: &albert_lens::model::ModelConfig| be.forward(cfg, &main_model.weights, &input);
    if let Some(anim) = a.animate {
        let frames = albert_lens::render::frames(&opts, &main, cmp.as_ref(), &mut rerun)?;
        let what = format!("{:?} of {}", a.view, main.name);
        return write_animation(&frames, (anim, a.fps, scale), &out, &what);
    }
    let (figure, matrix) = albert_lens::render::render(&opts, &main, cmp.as_ref(), &mut rerun)?;
    let bytes = albert_lens::export::save(&out, &figure, matrix.as_ref(), scale)?;
    eprintln!(
        "{:?} of {} ({} tokens, {backend_name}) -> {} ({format:?}, {} bytes)",
        a.view,
        main.name,
        main_trace.num_tokens(),
        out.display(),
        bytes
    );
    Ok(())
}

/// `render`'s flags parsed on their own (a scene's, as a command line).
#[derive(clap::Parser)]
#[command(name = "albert-lens")]
struct RenderCommand {
    #[command(flatten)]
    args: RenderArgs,
}

/// Flags that belong to other views, or that do not combine, refused before anything runs.
fn check_flags(a: &RenderArgs, out: &Path) -> Result<()> {
    let view = a.view;
    if !a.overlay_heads.is_empty() && view != RenderView::Links {
        anyhow::bail!("--overlay-heads draws heads over the token links: use it with --view links");
    }
    if a.links_of.is_some() && view != RenderView::Links {
        anyhow::bail!("--links-of picks the map the token links draw: use it with --view links");
    }
    if a.step.is_some() && view != RenderView::Explain {
        anyhow::bail!(
            "--step picks a step of the Explain walk-through: use it with --view explain"
        );
    }
    if a.scene.is_some() && a.animate.is_some() {
        anyhow::bail!(
            "--animate does not combine with --scene: a scene holds one figure. Render the scene to .png or .svg, or animate the view with its flags (--view, --layer, ...)"
        );
    }
    check_animation(a.animate, out)
}

/// The view's options from the flags (the runs' data is added once the models ran).
fn options(a: &RenderArgs) -> Result<albert_lens::render::RenderOptions> {
    let head = a.head.as_deref().map(parse_head).transpose()?;
    let (mixing, layer, method) = layer_and_method(a.view, a.layer, a.method.clone(), a.position)?;
    let (parameters_more, figure1_more) = also_models(
        a.view,
        &a.also,
        (&a.text, a.pair.as_deref()),
        one_backend(a.backend)?,
    )?;
    let method = albert_lens::insight::attribution::Method::by_flag(&method).with_context(|| {
        format!("unknown --method {method:?}: use integrated-gradients, grad-x-input or gradient-norm")
    })?;
    Ok(albert_lens::render::RenderOptions {
        parameters_more,
        figure1_more,
        evaluation: None,
        changed: None,
        query_key: None,
        corpus: None,
        view: a.view,
        layer,
        mixing: mixing.unwrap_or_default(),
        ablate: a.ablate.clone().unwrap_or_default(),
        head,
        theme: a.theme.theme(),
        colormap: a.colormap,
        log: a.log,
        hide_special: a.hide_special,
        repeats: a.repeats.clone(),
        position: a.position,
        top_k: a.top_k,
        color_by: a.color_by,
        trajectories: a.trajectories,
        tsne: a.tsne,
        temperature: a.temperature,
        step: a.step,
        query: a.query.clone(),
        method,
        target: a.target.clone(),
        steps: a.steps,
        words: a.words,
        text: a.text.clone(),
        shared_scale: a.shared_scale,
        link_heads: a.overlay_heads.iter().map(|h| h - 1).collect(),
        renormalise: a.renormalise,
        label_all: a.label_all,
        operands: None,
        links_of: a
            .links_of
            .unwrap_or(albert_lens::analysis::Measure::Attention),
        masked: a.mask.clone(),
    })
}

/// The data the views over a file or corpus draw (`--data`): the classifier's measurement,
/// what fine-tuning changed, the query–key projection, the corpus statistics.
fn corpus_data(
    a: &RenderArgs,
    opts: &mut albert_lens::render::RenderOptions,
    (main, cmp, compare_model): (
        &albert_lens::render::Run<'_>,
        Option<&albert_lens::render::Run<'_>>,
        Option<&albert_lens::model::LoadedModel>,
    ),
    be: &mut albert_lens::backend::FallbackBackend,
) -> Result<()> {
    let view = a.view;
    let parent = cmp.map(|c| (c.model, c.name.as_str()));
    (opts.evaluation, opts.changed) = super::heads::for_render(
        view,
        (a.data.as_deref(), a.limit),
        ((main.model, &main.name), parent),
        be,
    )?;
    if view == RenderView::QueryKey {
        let o = albert_lens::views::query_key::Options {
            head: albert_lens::render::one_head(opts.head, "the query-key view")?,
            tsne: a.tsne,
        };
        let corpus = (a.data.as_deref()).map_or("builtin".into(), |d| d.to_string_lossy());
        let texts = (corpus_limit(a.limit), corpus.as_ref());
        let layer = opts.layer.unwrap_or(0);
        let model = (main.model, main.name.as_str());
        opts.query_key = Some(query_key(model, (layer, texts), &o, be)?);
    }
    if view.corpus_view().is_some() {
        let models = [
            Some((main.model, a.model.as_path())),
            compare_model.zip(a.compare.as_deref()),
        ];
        let corpus = (a.data.as_deref(), corpus_limit(a.limit));
        opts.corpus = Some(corpus_stats(models, corpus, a.stat, be)?);
    }
    Ok(())
}

/// The mixing view's options (None for the other views), the 0-based layer, and the
/// attribution's method: `--layer rollout` and `--method` mean the mixing view's aggregate and
/// method there, the attribution's elsewhere.
fn layer_and_method(
    view: RenderView,
    layer: Option<super::ranges::LayerArg>,
    method: Option<String>,
    position: Option<usize>,
) -> Result<(Option<Options>, Option<usize>, String)> {
    let mixing = mixing_options(view, layer, method.as_deref(), position)?;
    let layer = match layer {
        Some(super::ranges::LayerArg::Layer(l)) => Some(l - 1),
        Some(super::ranges::LayerArg::Rollout) if mixing.is_none() => anyhow::bail!(
            "--layer rollout is the mixing view's aggregate; for attention rollout use --view rollout"
        ),
        _ => None,
    };
    // --method names the mixing view's method there, the attribution's elsewhere
    let method = method
        .filter(|_| mixing.is_none())
        .unwrap_or_else(|| "integrated-gradients".into());
    Ok((mixing, layer, method))
}

/// An animation's frames encoded (`a` at `fps`, `scale`) and written to `out`.
fn write_animation(
    frames: &[albert_lens::figures::Figure],
    (a, fps, scale): (albert_lens::figures::animate::AnimFormat, f32, f32),
    out: &Path,
    what: &str,
) -> Result<()> {
    let ctl = albert_lens::insight::Control::default();
    let bytes = albert_lens::figures::animate::encode(frames, (fps, scale), a, &ctl)?;
    albert_lens::files::write_atomic(out, &bytes)?;
    eprintln!(
        "{what}, {} frames at {fps}/s -> {} ({a:?}, {} bytes)",
        frames.len(),
        out.display(),
        bytes.len()
    );
    Ok(())
}

/// An animation's format must be its file's (`--animate gif` writes a .gif).
fn check_animation(
    anim: Option<albert_lens::figures::animate::AnimFormat>,
    out: &Path,
) -> Result<()> {
    if let Some(a) = anim {
        if albert_lens::figures::animate::AnimFormat::of(out) != Some(a) {
            let name = albert_lens::app::scene_flags::value_name(a);
            anyhow::bail!(
                "an {name} animation is written to a .{} file, not {}",
                a.ext(),
                out.display()
            );
        }
    }
    Ok(())
}
