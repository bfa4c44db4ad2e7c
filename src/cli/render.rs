//! `render`: one view drawn headless, its flags, and the options that belong to one view (the
//! mixing view's method and layer).

use super::desktop::{
    make_backend, one_backend, parse_ablation, parse_head, run_trace_on, BackendChoice,
};
use super::ranges::LayerArg;
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
    theme: super::desktop::ThemeArg,
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
    let RenderArgs {
        model,
        text,
        pair,
        view,
        layer,
        head,
        compare,
        diff_text,
        diff_intervention,
        links_of,
        also,
        repeats,
        position,
        temperature,
        step,
        query,
        method,
        target,
        steps,
        ablate,
        mask,
        words,
        top_k,
        trajectories,
        tsne,
        color_by,
        theme,
        colormap,
        log,
        hide_special,
        renormalise,
        label_all,
        shared_scale,
        overlay_heads,
        scale,
        scene,
        animate,
        fps,
        backend,
        data,
        limit,
        stat,
        list_views,
        out,
    } = a;

    use albert_lens::render::RenderOptions;
    if list_views {
        super::list_views();
        return Ok(());
    }
    let out = out.context("give --out FILE")?;
    if !overlay_heads.is_empty() && view != RenderView::Links {
        anyhow::bail!("--overlay-heads draws heads over the token links: use it with --view links");
    }
    if links_of.is_some() && view != RenderView::Links {
        anyhow::bail!("--links-of picks the map the token links draw: use it with --view links");
    }
    if step.is_some() && view != RenderView::Explain {
        anyhow::bail!(
            "--step picks a step of the Explain walk-through: use it with --view explain"
        );
    }
    if scene.is_some() && animate.is_some() {
        anyhow::bail!(
            "--animate does not combine with --scene: a scene holds one figure. Render the scene to .png or .svg, or animate the view with its flags (--view, --layer, ...)"
        );
    }
    check_animation(animate, &out)?;
    let format = match animate {
        Some(_) => albert_lens::export::Format::Png,
        None => albert_lens::export::Format::of(&out)?,
    };
    if let Some(path) = scene {
        return super::render_scene::render_scene_file(&path, &out, (one_backend(backend)?, scale));
    }
    let scale = scale.unwrap_or(2.0);
    let theme = theme.theme();
    let head = head.as_deref().map(parse_head).transpose()?;
    let (mixing, layer, method) = layer_and_method(view, layer, method, position)?;
    let (parameters_more, figure1_more) =
        also_models(view, &also, (&text, pair.as_deref()), one_backend(backend)?)?;
    let mut opts = RenderOptions {
        parameters_more,
        figure1_more,
        evaluation: None,
        changed: None,
        query_key: None,
        corpus: None,
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
        step,
        query,
        method: albert_lens::insight::attribution::Method::by_flag(&method)
            .with_context(|| {
                format!("unknown --method {method:?}: use integrated-gradients, grad-x-input or gradient-norm")
            })?,
        target,
        steps,
        words,
        text: text.clone(),
        shared_scale,
        link_heads: overlay_heads.iter().map(|h| h - 1).collect(),
        renormalise,
        label_all,
        operands: None,
        links_of: links_of.unwrap_or(albert_lens::analysis::Measure::Attention),
        masked: mask.clone(),
    };
    let mut be = make_backend(one_backend(backend)?);
    // the Explain walk reads every intermediate
    let capture = match view {
        RenderView::Explain => Capture::All,
        _ => Capture::Nothing,
    };
    let main_opts = ForwardOptions {
        capture,
        ablate: ablate.unwrap_or_default(),
    };
    let (main_model, main_trace, backend_name, input) =
        main_run(&model, (&text, pair.as_deref()), &mask, &mut be, &main_opts)?;
    let plain = ForwardOptions::default();
    let compare_run = (compare.as_deref())
        .map(|c| run_trace_on(c, (&text, pair.as_deref()), &mut be, &plain))
        .transpose()?;
    let main = albert_lens::render::Run {
        name: model_label(&model),
        model: &main_model,
        trace: &main_trace,
    };
    let diff = Difference {
        text: diff_text.as_deref(),
        intervention: diff_intervention,
    };
    let second = diff.run(
        view,
        (&main_model, (&text, pair.as_deref())),
        &opts.ablate,
        &mask,
        &mut be,
    )?;
    let mut cmp = compare
        .as_deref()
        .zip(compare_run.as_ref())
        .map(|(p, (m, t, _))| albert_lens::render::Run {
            name: model_label(p),
            model: m,
            trace: t,
        });
    if let Some((trace, (a, b))) = &second {
        opts.operands = Some((a.clone(), b.clone()));
        cmp = Some(albert_lens::render::Run {
            name: b.clone(),
            model: &main_model,
            trace,
        });
    }
    let parent = cmp.as_ref().map(|c| (c.model, c.name.as_str()));
    (opts.evaluation, opts.changed) = super::heads::for_render(
        view,
        (data.as_deref(), limit),
        ((&main_model, &main.name), parent),
        &mut be,
    )?;
    if view == RenderView::QueryKey {
        let o = albert_lens::views::query_key::Options {
            head: albert_lens::render::one_head(opts.head, "the query-key view")?,
            tsne,
        };
        let corpus = (data.as_deref()).map_or("builtin".into(), |d| d.to_string_lossy());
        let texts = (corpus_limit(limit), corpus.as_ref());
        let layer = opts.layer.unwrap_or(0);
        let model = (&main_model, main.name.as_str());
        opts.query_key = Some(query_key(model, (layer, texts), &o, &mut be)?);
    }
    if view.corpus_view().is_some() {
        let models = [
            Some((&main_model, &*model)),
            compare_run
                .as_ref()
                .zip(compare.as_deref())
                .map(|((m, _, _), p)| (m, p)),
        ];
        let corpus = (data.as_deref(), corpus_limit(limit));
        opts.corpus = Some(corpus_stats(models, corpus, stat, &mut be)?);
    }
    let mut rerun =
        |cfg: &albert_lens::model::ModelConfig| be.forward(cfg, &main_model.weights, &input);
    if let Some(a) = animate {
        let frames = albert_lens::render::frames(&opts, &main, cmp.as_ref(), &mut rerun)?;
        let what = format!("{view:?} of {}", main.name);
        return write_animation(&frames, (a, fps, scale), &out, &what);
    }
    let (figure, matrix) = albert_lens::render::render(&opts, &main, cmp.as_ref(), &mut rerun)?;
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

/// A difference of the main model's own runs (`--diff-text`, `--diff-intervention`).
struct Difference<'a> {
    text: Option<&'a str>,
    intervention: bool,
}

impl Difference<'_> {
    /// The second run of the difference and the operands' names (A, B), or None without one.
    fn run(
        &self,
        view: RenderView,
        (m, (text, pair)): (&albert_lens::model::LoadedModel, (&str, Option<&str>)),
        ablate: &Ablation,
        mask: &[usize],
        be: &mut albert_lens::backend::FallbackBackend,
    ) -> Result<Option<(albert_lens::model::Trace, (String, String))>> {
        if self.text.is_none() && !self.intervention {
            return Ok(None);
        }
        let maps = [RenderView::Head, RenderView::Rollout, RenderView::Links];
        if !maps.contains(&view) {
            anyhow::bail!(
                "--diff-text and --diff-intervention are differences of attention maps: use them with --view head, rollout or links"
            );
        }
        use albert_lens::analysis::maps::{text_operand, INTERVENTION_OPERANDS};
        let (input, operands) = match self.text {
            Some(b) => (m.encode(b, pair)?, (text_operand(text), text_operand(b))),
            None => {
                if ablate.is_empty() && mask.is_empty() {
                    anyhow::bail!(
                        "--diff-intervention subtracts the intact run from the run with the intervention: give --ablate or --mask"
                    );
                }
                let (a, b) = INTERVENTION_OPERANDS;
                (m.encode(text, pair)?, (a.to_string(), b.to_string()))
            }
        };
        let trace = be.forward_with(&m.config, &m.weights, &input, &ForwardOptions::default())?;
        Ok(Some((trace, operands)))
    }
}

/// The main model's run on the text with `mask`'s positions (from 0) shown as its mask token,
/// and the text's input as typed (the intact input the reruns take: Figure 1's what-if and the
/// prediction before the intervention run the text without the intervention, as the window's).
fn main_run(
    model: &Path,
    (text, pair): (&str, Option<&str>),
    mask: &[usize],
    be: &mut albert_lens::backend::FallbackBackend,
    opts: &ForwardOptions,
) -> Result<(
    albert_lens::model::LoadedModel,
    albert_lens::model::Trace,
    String,
    albert_lens::model::EncodedInput,
)> {
    let dir = super::desktop::resolve_model(model)?;
    let m = albert_lens::model::LoadedModel::open(&dir)
        .with_context(|| format!("opening model {}", dir.display()))?;
    let plain = m.encode(text, pair)?;
    if let Some(&p) = mask.iter().find(|&&p| p >= plain.len() || plain.special[p]) {
        let why = match p >= plain.len() {
            true => format!("the text has {} tokens (from 0)", plain.len()),
            false => format!("token {p} is the special token {}", plain.tokens[p]),
        };
        anyhow::bail!("--mask {p}: {why}; only ordinary tokens can be masked");
    }
    let mut masked = mask.to_vec();
    masked.sort_unstable();
    masked.dedup();
    let iv = albert_lens::model::Intervention {
        masked,
        ..Default::default()
    };
    let input = m.masked(&plain, &iv)?;
    let mut trace = be.forward_with(&m.config, &m.weights, &input, opts)?;
    trace.warnings.extend(m.warnings.iter().cloned());
    let name = be.name();
    Ok((m, trace, name, plain))
}

/// How many texts of the corpus the query-key and corpus views take: `--limit` (None: "all"),
/// else 100.
fn corpus_limit(limit: Option<usize>) -> Option<u64> {
    match limit {
        None => Some(100),
        Some(usize::MAX) => None,
        Some(l) => Some(l as u64),
    }
}

/// The corpus views' statistics: each model's run over the first `limit` texts of `corpus`
/// (default: the built-in one), cached on disk as the window's runs are and named as the
/// window's Corpus tab names them ([`albert_lens::model::ModelSource::label`]).
fn corpus_stats(
    models: [Option<(&albert_lens::model::LoadedModel, &Path)>; 2],
    (corpus, limit): (Option<&Path>, Option<u64>),
    stat: albert_lens::corpus::stats::Stat,
    backend: &mut dyn Backend,
) -> Result<albert_lens::render::CorpusStats> {
    use albert_lens::corpus::CorpusSource;
    let spec = corpus.map_or("builtin".into(), |d| d.to_string_lossy());
    let source = CorpusSource::parse(&spec);
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let mut stats = Vec::new();
    for (m, p) in models.into_iter().flatten() {
        let name = albert_lens::model::ModelSource::parse(p).label();
        let (s, _) = albert_lens::corpus::cached_run(
            (m, &name),
            (&source, limit),
            backend,
            &mut |_| {},
            &cancel,
        )
        .with_context(|| format!("the statistics of {name} on the corpus {spec}"))?;
        if s.meta.lines == 0 {
            anyhow::bail!("{name}: no texts to run in {spec} (every line was empty or skipped)");
        }
        stats.push((s, name));
    }
    let mut stats = stats.into_iter();
    let main = stats.next().context("no model to run on the corpus")?;
    Ok(albert_lens::render::CorpusStats {
        main,
        compare: stats.next(),
        stat,
    })
}

/// The query-key view's data: the token states at the input of attention map `layer` of the
/// first `limit` texts of `corpus` (cached on disk as the window's are), projected.
fn query_key(
    (model, name): (&albert_lens::model::LoadedModel, &str),
    (layer, (limit, corpus)): (usize, (Option<u64>, &str)),
    o: &albert_lens::views::query_key::Options,
    backend: &mut dyn Backend,
) -> Result<std::sync::Arc<albert_lens::views::query_key::Data>> {
    use albert_lens::corpus::{search, CorpusSource};
    let maps = model.config.num_attention_maps();
    if layer >= maps {
        anyhow::bail!("layer {} does not exist: the model has {maps}", layer + 1);
    }
    let source = CorpusSource::parse(corpus);
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let states = search::cached_collect(
        (model, backend),
        &source,
        layer,
        limit,
        &mut |_| {},
        &cancel,
    )
    .with_context(|| format!("the hidden states of the corpus {corpus}"))?;
    let ctl = albert_lens::insight::Control::default();
    let data =
        albert_lens::views::query_key::derive((model, name), std::sync::Arc::new(states), o, &ctl)?;
    Ok(std::sync::Arc::new(data))
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
            use clap::ValueEnum;
            let name = a
                .to_possible_value()
                .map_or_else(String::new, |v| v.get_name().to_string());
            anyhow::bail!(
                "an {name} animation is written to a .{} file, not {}",
                a.ext(),
                out.display()
            );
        }
    }
    Ok(())
}

/// The parameter view's extra columns and Figure 1's extra (name, trace) lines.
type AlsoModels = (
    Vec<albert_lens::views::parameters::Column>,
    Vec<(String, albert_lens::model::Trace)>,
);

/// The `--also` models: Figure 1's extra lines (their traces on the text), or the parameter
/// view's extra columns.
fn also_models(
    view: RenderView,
    also: &[PathBuf],
    (text, pair): (&str, Option<&str>),
    backend: BackendChoice,
) -> Result<AlsoModels> {
    let (mut parameters_more, mut figure1_more) = (Vec::new(), Vec::new());
    if view == RenderView::Parameters || view == RenderView::Figure1 {
        let mut be = make_backend(backend);
        for spec in also {
            let name = model_label(spec);
            if view == RenderView::Figure1 {
                let (_, trace, _) =
                    run_trace_on(spec, (text, pair), &mut be, &ForwardOptions::default())?;
                figure1_more.push((name, trace));
                continue;
            }
            let dir = super::desktop::resolve_model(spec)?;
            let m = albert_lens::model::LoadedModel::open(&dir)
                .with_context(|| format!("opening model {}", dir.display()))?;
            let data = albert_lens::views::parameters::derive(&[(&name, &m.config, &m.weights)]);
            parameters_more.extend(data.columns);
        }
    }
    Ok((parameters_more, figure1_more))
}

/// A model as a figure names it, as the window does ([`ModelSource::name`]).
fn model_label(p: &Path) -> String {
    albert_lens::model::ModelSource::parse(p).name()
}
