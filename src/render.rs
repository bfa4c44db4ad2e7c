//! `albert-lens render`: one view as a figure (PNG or SVG) or its matrix (CSV, NPY,
//! safetensors), headless: the analyses run here, the figure comes from the view registry
//! ([`crate::views`]) as in the window's Export menu.

use crate::analysis::maps::{self, MapKey};
use crate::analysis::{HeadSel, Measure};
use crate::colormap::Colormap;
use crate::error::{LensError, Result};
use crate::figures::scenes::{self, ColorBy, GridStyle};
use crate::figures::{Figure, Theme};
use crate::insight::{self, JsMode};
use crate::matrix::Matrix;
use crate::model::{LoadedModel, ModelConfig, Trace};
use crate::views::{self, View};

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
    /// the ALBERT paper's Figure 1: L2 distance and angle between each layer's input and output
    Figure1,
    /// PCA of the hidden states (one layer, or every layer with trajectories)
    Projection,
    /// the masked-LM head's top predictions from every layer at one position
    Lens,
    /// the cross-layer Jensen–Shannon distance matrix
    Js,
    /// the Explain walk-through of one head at one token, every step in one column
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
    /// attribution: the method shown, the target token (None: the top 1), the IG steps
    pub method: crate::insight::attribution::Method,
    pub target: Option<String>,
    pub steps: usize,
    pub text: String,
    /// one 0–1 colour scale (±1 for a difference) instead of each map's own range: what an
    /// animation uses, so that its frames compare
    pub shared_scale: bool,
}

/// One model and its trace on the text.
pub struct Run<'a> {
    pub name: String,
    pub model: &'a LoadedModel,
    pub trace: &'a Trace,
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
        RenderView::Head | RenderView::Model | RenderView::Rollout | RenderView::Links
    );
    if opts.words && attention_view {
        // the same views of the traces merged to words
        let word = |r: &Run<'_>| crate::analysis::words::word_trace(r.trace);
        let (wm, wc) = (word(main), compare.map(word));
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
        return render_runs(opts, &main, compare.as_ref(), rerun);
    }
    render_runs(opts, main, compare, rerun)
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
            let lines = figure1_lines(opts, main, compare, rerun)?;
            Ok(scenes::figure1_frames(&opts.text, &lines, &opts.theme))
        }
        RenderView::Projection if opts.trajectories => {
            let t = main.trace;
            let keep = t.kept_tokens(opts.hide_special);
            let states: Vec<usize> = (0..t.hidden_states.len()).collect();
            let p = if opts.tsne {
                insight::project_tsne(t, &states, &keep, &insight::Control::default())?
            } else {
                insight::project(t, &states, &keep)?
            };
            let method = if opts.tsne { "t-SNE" } else { "PCA" };
            let title = format!("{}: token trajectories through the layers ({method})", main.name);
            Ok(states
                .iter()
                .map(|&s| {
                    let by = (opts.color_by, false);
                    scenes::projection_upto(&title, &p, t, by, Some(s), &opts.theme).0
                })
                .collect())
        }
        _ => Err(LensError::Analysis(
            "--animate draws the head, rollout, links, model, figure1 and projection (with trajectories) views layer by layer".into(),
        )),
    }
}

/// The position a prediction view looks at: `--position`, else the first [MASK].
fn mask_position(opts: &RenderOptions, t: &Trace) -> Result<usize> {
    match opts.position {
        Some(p) => Ok(p),
        None => t.first_mask().ok_or_else(|| {
            LensError::Analysis("the text has no [MASK] token: add one, or give --position".into())
        }),
    }
}

/// Figure 1's lines: the model, the comparison model, and the what-if repetitions.
fn figure1_lines(
    opts: &RenderOptions,
    main: &Run<'_>,
    compare: Option<&Run<'_>>,
    rerun: &mut dyn FnMut(&ModelConfig) -> Result<Trace>,
) -> Result<Vec<scenes::Figure1Line>> {
    let mut repeats = Vec::with_capacity(opts.repeats.len());
    for &r in &opts.repeats {
        let cfg = crate::model::config::repeated_config(&main.model.config, r)?;
        repeats.push((r, rerun(&cfg)?));
    }
    let repeats: Vec<(usize, &Trace)> = repeats.iter().map(|(r, t)| (*r, t)).collect();
    let more: Vec<(&str, &Trace)> = opts
        .figure1_more
        .iter()
        .map(|(n, t)| (n.as_str(), t))
        .collect();
    Ok(scenes::figure1_lines(
        (main.name.as_str(), main.trace),
        compare.map(|c| (c.name.as_str(), c.trace)),
        &more,
        &repeats,
        opts.hide_special,
    ))
}

/// [`render`] of runs already merged to words when `opts.words` asks for it.
fn render_runs(
    opts: &RenderOptions,
    main: &Run<'_>,
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
        RenderView::Head | RenderView::Rollout => {
            let data = map_data(opts, main, compare, layer)?;
            views::build(
                &View::Map {
                    model,
                    data: &data,
                    colormap: opts.colormap,
                },
                theme,
            )
        }
        RenderView::Links => links_figure(opts, main, compare, layer),
        RenderView::Model => {
            let style = GridStyle {
                colormap: opts.colormap,
                log: opts.log,
                shared_scale: opts.shared_scale,
            };
            let view = View::Model {
                model,
                trace: t,
                keep: &keep,
                renormalise: true,
                style,
            };
            views::build(&view, theme)
        }
        RenderView::Figure1 => {
            let lines = figure1_lines(opts, main, compare, rerun)?;
            let view = View::Figure1 {
                text: &opts.text,
                lines: &lines,
            };
            views::build(&view, theme)
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
        RenderView::Js => js_figure(opts, main),
    }
}

/// `render --view links`: token links of the head or rollout map (orange on a difference, blue
/// otherwise); with --position only that query's lines.
fn links_figure(
    opts: &RenderOptions,
    main: &Run<'_>,
    compare: Option<&Run<'_>>,
    layer: usize,
) -> Result<(Figure, Option<Matrix>)> {
    let model = main.name.as_str();
    let theme = &opts.theme;
    let data = map_data(opts, main, compare, layer)?;
    let color = if data.diverging {
        [0xD5, 0x5E, 0x00]
    } else {
        [0x00, 0x72, 0xB2]
    };
    let sets = [crate::figures::links::LinkSet {
        map: &data.matrix.values,
        color,
    }];
    let title = format!("{model}: {}", data.matrix.name);
    let spec = crate::figures::links::LinksSpec {
        title: &title,
        labels: &data.matrix.row_labels,
        sets: &sets,
        scale_max: data.scale.hi.max(-data.scale.lo),
        // --position: only that query token's lines
        hovered: opts
            .position
            .and_then(|p| data.index.iter().position(|&i| i == p))
            .map(|r| (true, r)),
    };
    let mut matrix = data.matrix.clone();
    matrix.name = title.clone();
    views::build(
        &View::Links {
            spec: &spec,
            matrix,
        },
        theme,
    )
}

/// `render --view projection`: a PCA (or t-SNE) of one layer's states, or of every state with
/// trajectories.
fn projection_figure(
    opts: &RenderOptions,
    main: &Run<'_>,
    layer: usize,
    keep: &[usize],
) -> Result<(Figure, Option<Matrix>)> {
    let (t, model, theme) = (main.trace, main.name.as_str(), &opts.theme);
    let states: Vec<usize> = if opts.trajectories {
        (0..t.hidden_states.len()).collect()
    } else {
        vec![layer + 1]
    };
    let p = if opts.tsne {
        insight::project_tsne(t, &states, keep, &insight::Control::default())?
    } else {
        insight::project(t, &states, keep)?
    };
    let view = View::Projection {
        model,
        projection: &p,
        trace: t,
        color_by: opts.color_by,
        label_all: !opts.trajectories,
    };
    views::build(&view, theme)
}

/// `render --view lens`: the masked-LM head's top guesses from every layer at the mask (or
/// --position).
fn lens_figure(opts: &RenderOptions, main: &Run<'_>) -> Result<(Figure, Option<Matrix>)> {
    let (t, model, theme) = (main.trace, main.name.as_str(), &opts.theme);
    let m = main.model;
    let Some(head) = m.weights.mlm.as_ref() else {
        return Err(LensError::Analysis(format!(
            "{model} has no masked-LM head, so there is nothing to decode the layers with"
        )));
    };
    let pos = mask_position(opts, t)?;
    let rows = insight::layer_lens(&m.config, head, t, pos, opts.top_k.max(1))?;
    let table = insight::LensTable::new(&rows, &|id| m.tokenizer.token_or_id(id));
    let view = View::Lens {
        model,
        trace: t,
        pos,
        table: &table,
    };
    views::build(&view, theme)
}

/// `render --view explain`: the walk-through of one head at one token (--head N, --position), every
/// step in one column.
fn explain_figure(
    opts: &RenderOptions,
    main: &Run<'_>,
    compare: Option<&Run<'_>>,
    layer: usize,
) -> Result<(Figure, Option<Matrix>)> {
    let (t, model, theme) = (main.trace, main.name.as_str(), &opts.theme);
    let head = match opts.head {
        None => 0,
        Some(HeadSel::Head(h)) => h,
        Some(_) => {
            return Err(LensError::Analysis(
                "the walk-through follows one head: give --head N".into(),
            ))
        }
    };
    let pos = match opts.position {
        Some(p) => p,
        None => t.first_mask().unwrap_or(usize::from(t.num_tokens() > 2)),
    };
    if !(opts.temperature.is_finite() && opts.temperature > 0.0) {
        return Err(LensError::Analysis(format!(
            "the temperature must be a positive number, not {}",
            opts.temperature
        )));
    }
    let sel = insight::explain::Selection {
        map: layer,
        head,
        pos,
    };
    let mut walk = insight::explain::Walk::new(main.model, t, sel)?;
    walk.sharing.model = model.to_string();
    if let Some(c) = compare {
        walk.compare_with(c.model, &c.name)?;
    }
    let view = View::Explain {
        model,
        walk: &walk,
        step: None,
        temperature: opts.temperature,
    };
    views::build(&view, theme)
}

/// `render --view attribution`: a prediction's gradient attribution beside rollout and value-
/// weighted attention to the same position.
fn attribution_figure(opts: &RenderOptions, main: &Run<'_>) -> Result<(Figure, Option<Matrix>)> {
    let (t, model, theme) = (main.trace, main.name.as_str(), &opts.theme);
    let layers = t.attentions.len();
    let m = main.model;
    let pos = mask_position(opts, t)?;
    let target = insight::attribution::Target::from_text(
        m,
        pos,
        opts.target.as_deref().unwrap_or_default(),
    )?;
    let ctl = insight::Control::default();
    // the gradients of the model the trace is of: with --ablate, the ablated one
    let input = t.input();
    let a =
        insight::attribution::attribute_with(m, (&input, &opts.ablate), target, opts.steps, &ctl)?;
    let rollout = crate::analysis::rollout(t)?;
    let (_, value_all) = crate::analysis::value_weighted(&m.config, &m.weights, t, layers - 1)?;
    let comparison =
        insight::attribution::Comparison::new(&a, opts.method, t, &rollout, &value_all)?;
    views::build(
        &View::Attribution {
            model,
            comparison: &comparison,
        },
        theme,
    )
}

/// `render --view js`: the cross-layer Jensen–Shannon distances (matched heads, the mean, or one
/// head).
fn js_figure(opts: &RenderOptions, main: &Run<'_>) -> Result<(Figure, Option<Matrix>)> {
    let (t, model, theme) = (main.trace, main.name.as_str(), &opts.theme);
    let layers = t.attentions.len();
    let mode = match opts.head {
        None => JsMode::MatchedHeads,
        Some(HeadSel::Mean) => JsMode::MeanOfHeads,
        Some(HeadSel::Head(h)) => JsMode::Head(h),
        Some(HeadSel::Max) => return Err(LensError::Analysis(
            "the JS-distance matrix takes one head, mean, or (by default) matched heads; not max"
                .into(),
        )),
    };
    let values = insight::cross_layer_js(t, mode)?;
    let view = View::Js {
        model,
        mode,
        values: &values,
        layers,
        colormap: opts.colormap,
    };
    views::build(&view, theme)
}

/// The head or rollout map of the main model, minus the comparison model's if there is one.
fn map_data(
    opts: &RenderOptions,
    main: &Run<'_>,
    compare: Option<&Run<'_>>,
    layer: usize,
) -> Result<maps::MapData> {
    let t = main.trace;
    let measure = if matches!(opts.view, RenderView::Head | RenderView::Links) {
        Measure::Attention
    } else {
        Measure::Rollout
    };
    let key = MapKey {
        trace_gen: 0,
        diff_gen: compare.map(|_| 0),
        value_gen: 0,
        layer,
        head: opts.head.unwrap_or(HeadSel::Mean),
        measure,
        hide_special: opts.hide_special,
        renormalise: true,
        shared_scale: opts.shared_scale,
        log: opts.log,
        words: opts.words,
    };
    let rollout_of = |t: &Trace| -> Result<Vec<Vec<f32>>> {
        if measure == Measure::Rollout {
            crate::analysis::rollout(t)
        } else {
            Ok(Vec::new())
        }
    };
    let rollout = rollout_of(t)?;
    let diff = match compare {
        Some(c) => {
            if c.trace.tokens != t.tokens {
                return Err(LensError::Analysis(format!(
                    "{} and {} tokenize the text differently, so their maps cannot be subtracted",
                    main.name, c.name
                )));
            }
            Some((c.trace, rollout_of(c.trace)?))
        }
        None => None,
    };
    let mut data = maps::compute(
        t,
        &rollout,
        None,
        diff.as_ref().map(|(tr, r)| (*tr, r.as_slice())),
        &key,
    )
    .map_err(LensError::Analysis)?;
    if let Some(c) = compare {
        data.name_operands(&main.name, &c.name);
    }
    Ok(data)
}

/// The prediction view's data: the head's outputs on the main trace and, with heads switched
/// off, on the intact run (`rerun` with the model's own config runs without the ablation).
fn prediction_data(
    opts: &RenderOptions,
    main: &Run<'_>,
    rerun: &mut dyn FnMut(&ModelConfig) -> Result<Trace>,
) -> Result<crate::views::prediction::Data> {
    use crate::model::task::predict;
    let m = main.model;
    let no_head = || {
        LensError::Analysis(format!(
            "{} has no fine-tuned task head (config.json's architectures: {}), so there is no prediction to show; the lens view shows a masked-LM's",
            main.name,
            if m.config.architectures.is_empty() { "none".to_string() } else { m.config.architectures.join(", ") }
        ))
    };
    let head = m.weights.task.as_ref().ok_or_else(no_head)?;
    let after = predict(&m.config, &m.weights, main.trace).ok_or_else(no_head)??;
    let intact = match opts.ablate.is_empty() {
        true => None,
        false => Some(rerun(&m.config)?),
    };
    let before = match &intact {
        Some(t) => Some((t, predict(&m.config, &m.weights, t).ok_or_else(no_head)??)),
        None => None,
    };
    let o = crate::views::prediction::Options {
        position: opts.position,
    };
    crate::views::prediction::derive(
        (&main.name, &head.spec.architecture),
        (main.trace, &after),
        before.as_ref().map(|(t, p)| (*t, p)),
        &o,
    )
}

/// The mixing view's data: each model's context-mixing matrices (the methods the view shows;
/// flow only where it is defined) and, with a masked-LM head, the gradient attribution at the
/// followed token.
fn mixing_data(
    opts: &RenderOptions,
    main: &Run<'_>,
    compare: Option<&Run<'_>>,
) -> Result<crate::views::mixing::Data> {
    use crate::insight::mixing;
    let o = crate::views::mixing::Options {
        hide_special: opts.hide_special,
        colormap: opts.colormap,
        ..opts.mixing.clone()
    };
    let ctl = insight::Control::default();
    let none = crate::model::Ablation::default();
    let computed = |r: &Run<'_>, ablate| {
        crate::views::mixing::numbers(r.model, r.trace, (o.position, ablate, opts.steps), &ctl)
    };
    let main_c = computed(main, &opts.ablate)?;
    let compare_c = compare.map(|c| computed(c, &none)).transpose()?;
    fn side<'a>(
        r: &'a Run<'_>,
        c: &'a (mixing::Contributions, Option<Vec<f32>>),
    ) -> crate::views::mixing::Side<'a> {
        crate::views::mixing::Side {
            model: &r.name,
            trace: r.trace,
            contributions: &c.0,
            gradient: c.1.as_deref().map(|g| ("Integrated gradients", g)),
        }
    }
    let inputs = crate::views::mixing::Inputs {
        main: side(main, &main_c),
        compare: compare.zip(compare_c.as_ref()).map(|(r, c)| side(r, c)),
    };
    crate::views::mixing::derive(&inputs, &o)
}
