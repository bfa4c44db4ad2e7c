//! `albert-lens render`: one view as a figure (PNG or SVG) or its matrix (CSV, NPY,
//! safetensors), headless: the analyses run here, the figure comes from the view registry
//! ([`crate::views`]) as in the window's Export menu.

mod derive;

use crate::analysis::maps;
use crate::analysis::{HeadSel, Measure};
use crate::colormap::Colormap;
use crate::error::{LensError, Result};
use crate::figures::scenes::{ColorBy, GridStyle};
use crate::figures::{Figure, Theme};
use crate::insight;
use crate::matrix::Matrix;
use crate::model::{LoadedModel, ModelConfig, Trace};
use crate::views::{self, View};
use derive::*;

/// The views `render` draws (also its `--view` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RenderView {
    /// one layer's attention: one head, or the mean / max of the heads
    Head,
    /// every layer × head
    Model,
    /// token links (BertViz's head view): query and key columns joined by weighted lines
    Links,
    /// attention rollout up to a layer
    Rollout,
    /// value-weighted attention ‖α f(x)‖ (Kobayashi et al. 2020) of one layer: one head, the
    /// max of the heads, or (default) the norm of their sum
    ValueNorm,
    /// the ALBERT paper's Figure 1: L2 distance and angle between each layer's input and output
    Figure1,
    /// PCA of the hidden states (one layer, or every layer with trajectories)
    Projection,
    /// the masked-LM head's top predictions from every layer at one position
    Lens,
    /// the cross-layer Jensen–Shannon distance matrix (with --compare: on one colour scale
    /// with that model's, as the window shows the two)
    Js,
    /// the ALBERT paper's parameter tables (Tables 1, 3 and 4), counted from the configurations
    Params,
    /// a word's nearest neighbours in each model's input embeddings (--query; the first model
    /// that has the word)
    Neighbours,
    /// the Explain walk-through of one head at one token, every step in one column (--step:
    /// one step, with its numbers)
    Explain,
    /// a prediction's gradient attribution beside attention rollout and value-weighted
    /// attention to the same position, with their rank correlations
    Attribution,
    /// context mixing: what each token takes from the others by attention, norm, GlobEnc,
    /// ALTI, value zeroing or attention flow, every method at one token, and their agreement
    Mixing,
    /// what a fine-tuned head predicts: class probabilities, token labels and entities, or the
    /// answer span (with --ablate: before and after)
    Prediction,
    /// where each model's parameters are (--model, --compare and any --also), side by side,
    /// and how each was made smaller: factorized, shared, distilled
    Parameters,
    /// a classifier's head importance over a labelled file (--data), layer × head
    Importance,
    /// a classifier's accuracy over a labelled file (--data) as heads are masked
    Pruning,
    /// a classifier's confusion matrix over a labelled file (--data)
    Confusion,
    /// what fine-tuning changed: per head, the cosine similarity of the model's and its parent's
    /// (--compare) attention over a corpus (--data builtin or a file)
    FineTuning,
    /// one head's query and key of every token of a corpus (--data builtin or a file, the first
    /// --limit texts, 100 by default) in one picture, keys moved to the queries' centroid
    /// (AttentionViz); PCA, or --tsne
    QueryKey,
    /// corpus (--data builtin or a file, the first --limit texts, 100 by default): attention to
    /// [CLS], [SEP] and punctuation per layer (Clark et al.'s Figure 1), --compare's dashed
    Layers,
    /// corpus: [SEP] by attention weight against by norm (Kobayashi et al.)
    SepNorm,
    /// corpus: one statistic (--stat) per layer and head
    Grid,
    /// corpus: heads by mean attention entropy and distance
    EntropyDistance,
    /// corpus: heads laid out by their Jensen–Shannon divergences (Clark et al.'s Figure 6)
    HeadMap,
}

impl RenderView {
    /// The Corpus tab's view this is, for the corpus statistics views.
    pub fn corpus_view(self) -> Option<crate::figures::corpus::CorpusView> {
        use crate::figures::corpus::CorpusView;
        Some(match self {
            RenderView::Layers => CorpusView::Layers,
            RenderView::SepNorm => CorpusView::SepNorm,
            RenderView::Grid => CorpusView::Grid,
            RenderView::EntropyDistance => CorpusView::EntropyDistance,
            RenderView::HeadMap => CorpusView::HeadMap,
            _ => return None,
        })
    }
}

/// The corpus statistics views' data: each model's statistics over the corpus with its name
/// (the comparison model's drawn beside the main one's where the view does), and the grid's
/// statistic.
#[derive(Debug, Clone)]
pub struct CorpusStats {
    pub main: (crate::corpus::stats::HeadStats, String),
    pub compare: Option<(crate::corpus::stats::HeadStats, String)>,
    pub stat: crate::corpus::stats::Stat,
}

/// Everything about a render except the models and traces.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub view: RenderView,
    /// 0-based layer (attention map index); None: the first, as the window opens on it
    pub layer: Option<usize>,
    /// the mixing view's method, layer or aggregate, and token (its hide-special and colormap
    /// are taken from the options below)
    pub mixing: crate::views::mixing::Options,
    /// importance, pruning and confusion: the classifier's report on the labelled file
    pub evaluation: Option<crate::views::evaluation::Data>,
    /// fine-tuning: the attention similarities to the parent over the corpus
    pub changed: Option<crate::views::evaluation::Changed>,
    /// query-key: the corpus tokens' queries and keys of the head, projected
    pub query_key: Option<std::sync::Arc<crate::views::query_key::Data>>,
    /// the corpus statistics views: the models' statistics over the corpus
    pub corpus: Option<CorpusStats>,
    /// parameters: the columns of more models, counted beside the main and comparison models
    pub parameters_more: Vec<crate::views::parameters::Column>,
    /// figure1: more models' runs on the text (their names and traces), lines of their own
    pub figure1_more: Vec<(String, Trace)>,
    /// the heads switched off in the main model's run (the mixing view's gradients run with
    /// them, as the window's do)
    pub ablate: crate::model::Ablation,
    /// None: the view's default (mean of heads; matched heads for `js`)
    pub head: Option<HeadSel>,
    pub theme: Theme,
    pub colormap: Colormap,
    pub log: bool,
    pub hide_special: bool,
    /// Figure 1 what-if: also run the main ALBERT with its layer group applied this many times
    pub repeats: Vec<usize>,
    /// the lens position (token index); None: the first [MASK]
    pub position: Option<usize>,
    pub top_k: usize,
    pub color_by: ColorBy,
    /// projection: every hidden state with each token's trajectory (else one layer)
    pub trajectories: bool,
    /// projection: lay out with t-SNE instead of PCA
    pub tsne: bool,
    /// attention per word instead of per word piece (head, rollout and model views)
    pub words: bool,
    /// explain: the softmax temperature of the what-if (1: the model)
    pub temperature: f32,
    /// explain: one step of the walk-through (None: every step in one column)
    pub step: Option<crate::insight::explain::Step>,
    /// neighbours: the word looked up
    pub query: String,
    /// attribution: the method shown, the target token (None: the top 1), the IG steps
    pub method: crate::insight::attribution::Method,
    pub target: Option<String>,
    pub steps: usize,
    pub text: String,
    /// one 0–1 colour scale (±1 for a difference) instead of each map's own range: what an
    /// animation uses, so that its frames compare
    pub shared_scale: bool,
    /// links: heads (from 0) whose own attention is drawn, one colour each, instead of the map
    pub link_heads: Vec<usize>,
    /// with special tokens hidden, each row renormalised to sum to 1 (the window's default)
    pub renormalise: bool,
    /// projection: a label on every point (None: on one layer's points, not on trajectories)
    pub label_all: Option<bool>,
    /// links: the map whose weights the lines draw
    pub links_of: Measure,
    /// the positions shown as the mask token in the main model's run (with `ablate`, the
    /// intervention: the prediction view shows the intact run's beside it)
    pub masked: Vec<usize>,
    /// a difference's A and B when they are not the two models (a second text, the
    /// intervention): the title's names, and the two runs may differ in their tokens
    pub operands: Option<(String, String)>,
}

/// One model and its trace on the text.
pub struct Run<'a> {
    pub name: String,
    pub model: &'a LoadedModel,
    pub trace: &'a Trace,
}

/// The head a view that follows one head takes from `--head`: the first when none is given;
/// the mean or max is an error saying `what` follows one head.
pub fn one_head(head: Option<HeadSel>, what: &str) -> Result<usize> {
    match head {
        None => Ok(0),
        Some(HeadSel::Head(h)) => Ok(h),
        Some(_) => Err(LensError::Analysis(format!(
            "{what} follows one head: give --head N"
        ))),
    }
}

/// The figure and (where the view has one) the matrix of one view. `rerun(cfg)` runs the main
/// model's weights on the text under another config (the what-if's, from
/// [`crate::model::config::repeated_config`]); `compare` is the second model (Figure 1's other
/// line; for head / rollout, the map is main minus compare).
pub fn render(
    opts: &RenderOptions,
    main: &Run<'_>,
    compare: Option<&Run<'_>>,
    rerun: &mut dyn FnMut(&ModelConfig) -> Result<Trace>,
) -> Result<(Figure, Option<Matrix>)> {
    let attention_view = matches!(
        opts.view,
        RenderView::Head
            | RenderView::Model
            | RenderView::Rollout
            | RenderView::Links
            | RenderView::ValueNorm
    );
    // the value-weighted maps of the layer, from the word pieces (merged below like the maps)
    let layer = opts.layer.unwrap_or(0);
    let value_links = opts.view == RenderView::Links && opts.links_of == Measure::ValueNorm;
    let value = match opts.view {
        RenderView::ValueNorm | RenderView::Links
            if (opts.view == RenderView::ValueNorm || value_links)
                && layer < main.trace.attentions.len() =>
        {
            let m = main.model;
            let (per_head, all) =
                crate::analysis::value_weighted(&m.config, &m.weights, main.trace, layer)?;
            Some(maps::ValueMaps {
                layer,
                per_head: std::sync::Arc::new(per_head),
                all: std::sync::Arc::new(all),
            })
        }
        _ => None,
    };
    if opts.words && attention_view {
        // the same views of the traces merged to words
        let word = |r: &Run<'_>| crate::analysis::words::word_trace(r.trace);
        let (wm, wc) = (word(main), compare.map(word));
        let value = value.map(|v| v.merged_to_words(main.trace));
        let main = Run {
            name: main.name.clone(),
            model: main.model,
            trace: &wm,
        };
        let compare = compare.zip(wc.as_ref()).map(|(c, t)| Run {
            name: c.name.clone(),
            model: c.model,
            trace: t,
        });
        return render_runs(opts, (&main, value.as_ref()), compare.as_ref(), rerun);
    }
    render_runs(opts, (main, value.as_ref()), compare, rerun)
}

/// The view layer by layer, one figure per attention map: the head, rollout and token-links
/// views at every layer, the model view filling in (layers after the frame's still blank).
pub fn frames(
    opts: &RenderOptions,
    main: &Run<'_>,
    compare: Option<&Run<'_>>,
    rerun: &mut dyn FnMut(&ModelConfig) -> Result<Trace>,
) -> Result<Vec<Figure>> {
    let layers = main.trace.attentions.len();
    match opts.view {
        RenderView::Head | RenderView::Rollout | RenderView::Links => (0..layers)
            .map(|l| {
                // one colour scale for every frame, so that the layers compare
                let o = RenderOptions {
                    layer: Some(l),
                    shared_scale: true,
                    ..opts.clone()
                };
                render(&o, main, compare, rerun).map(|(f, _)| f)
            })
            .collect(),
        RenderView::Model => (0..layers)
            .map(|l| {
                let opts = &RenderOptions {
                    shared_scale: true,
                    ..opts.clone()
                };
                let mut t = main.trace.clone();
                for a in &mut t.attentions[l + 1..] {
                    a.fill(0.0);
                }
                let run = Run {
                    name: main.name.clone(),
                    model: main.model,
                    trace: &t,
                };
                render(opts, &run, compare, rerun).map(|(f, _)| f)
            })
            .collect(),
        RenderView::Figure1 => {
            let data = figure1_data(opts, main, compare, rerun)?;
            Ok(views::figure1::frames(&data, &opts.theme))
        }
        RenderView::Projection if opts.trajectories => {
            let t = main.trace;
            let keep = t.kept_tokens(opts.hide_special);
            let states: Vec<usize> = (0..t.hidden_states.len()).collect();
            let ctl = insight::Control::default();
            let p = views::projection::derive(t, (&states, &keep), opts.tsne, &ctl)?;
            let style = projection_style(opts);
            Ok(views::projection::frames(&main.name, (&p, t), style, &opts.theme))
        }
        _ => Err(LensError::Analysis(
            "--animate draws the head, rollout, links, model, figure1 and projection (with trajectories) views layer by layer".into(),
        )),
    }
}

/// [`render`] of runs already merged to words when `opts.words` asks for it.
fn render_runs(
    opts: &RenderOptions,
    (main, value): (&Run<'_>, Option<&maps::ValueMaps>),
    compare: Option<&Run<'_>>,
    rerun: &mut dyn FnMut(&ModelConfig) -> Result<Trace>,
) -> Result<(Figure, Option<Matrix>)> {
    let t = main.trace;
    let keep = t.kept_tokens(opts.hide_special);
    let layers = t.attentions.len();
    // the first layer, as the window opens on it
    let layer = opts.layer.unwrap_or(0);
    if let Some(p) = opts.position.filter(|&p| p >= t.num_tokens()) {
        return Err(LensError::Analysis(format!(
            "--position {p} is outside this input: it has {} tokens (positions count from 0, up to {})",
            t.num_tokens(),
            t.num_tokens().saturating_sub(1)
        )));
    }
    if layer >= layers {
        return Err(LensError::Analysis(format!(
            "layer {} does not exist: {} has {layers}",
            layer + 1,
            main.name
        )));
    }
    let model = main.name.as_str();
    let theme = &opts.theme;
    match opts.view {
        RenderView::Head | RenderView::Rollout | RenderView::ValueNorm => {
            let data = map_data(opts, (main, value), compare, layer)?;
            views::map::figure(model, &data, opts.colormap, theme)
        }
        RenderView::Links => links_figure(opts, (main, value), compare, layer),
        RenderView::Params => views::build(&View::Params, theme),
        v @ (RenderView::Layers
        | RenderView::SepNorm
        | RenderView::Grid
        | RenderView::EntropyDistance
        | RenderView::HeadMap) => corpus_figure(v, opts),
        RenderView::Neighbours => neighbours_figure(opts, main, compare),
        RenderView::Model => {
            let style = GridStyle {
                colormap: opts.colormap,
                log: opts.log,
                shared_scale: opts.shared_scale,
            };
            views::grid::figure(model, (t, &keep), (opts.renormalise, style), theme)
        }
        RenderView::Figure1 => {
            let data = figure1_data(opts, main, compare, rerun)?;
            views::figure1::figure(&data, theme)
        }
        RenderView::Projection => projection_figure(opts, main, layer, &keep),
        RenderView::Lens => lens_figure(opts, main),
        RenderView::Explain => explain_figure(opts, main, compare, layer),
        RenderView::Attribution => attribution_figure(opts, main),
        RenderView::Mixing => {
            let data = mixing_data(opts, main, compare)?;
            views::build(&View::Mixing { data: &data }, theme)
        }
        RenderView::Prediction => {
            let data = prediction_data(opts, main, rerun)?;
            views::build(&View::Prediction { data: &data }, theme)
        }
        RenderView::Parameters => {
            let runs: Vec<(&str, &ModelConfig, &crate::model::ModelWeights)> =
                [Some(main), compare]
                    .into_iter()
                    .flatten()
                    .map(|r| (r.name.as_str(), &r.model.config, &r.model.weights))
                    .collect();
            let mut data = views::parameters::derive(&runs);
            data.columns.extend(opts.parameters_more.iter().cloned());
            views::build(&View::Parameters { data: &data }, theme)
        }
        RenderView::FineTuning => {
            let data = opts.changed.as_ref().ok_or_else(|| {
                LensError::Analysis(
                    "the fine-tuning view compares a fine-tuned model with its parent: give --compare PARENT".into(),
                )
            })?;
            views::build(&View::Changed { data }, theme)
        }
        RenderView::Importance | RenderView::Pruning | RenderView::Confusion => {
            use crate::views::evaluation::Which;
            let data = opts.evaluation.as_ref().ok_or_else(|| {
                LensError::Analysis(
                    "the importance, pruning and confusion views measure a classifier on a labelled file: give --data FILE".into(),
                )
            })?;
            let which = match opts.view {
                RenderView::Importance => Which::Importance,
                RenderView::Pruning => Which::Pruning,
                _ => Which::Confusion,
            };
            views::build(&View::Evaluation { data, which }, theme)
        }
        RenderView::Js => js_figure(opts, main, compare),
        RenderView::QueryKey => {
            let data = opts.query_key.as_ref().ok_or_else(|| {
                LensError::Analysis(
                    "the query-key view projects a corpus's queries and keys: they were not computed".into(),
                )
            })?;
            Ok(views::query_key::figure(data, theme))
        }
    }
}
