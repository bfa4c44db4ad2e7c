//! `albert-lens render`: one view as a figure (PNG or SVG) or its matrix (CSV, NPY,
//! safetensors), headless, from the same figure builders as the window's Export menu.

use crate::analysis::maps::{self, MapKey};
use crate::analysis::{HeadSel, Measure};
use crate::colormap::Colormap;
use crate::error::{LensError, Result};
use crate::figures::views::{self as fv, ColorBy};
use crate::figures::{Figure, Theme};
use crate::matrix::Matrix;
use crate::metrics::{self, JsMode};
use crate::model::{LoadedModel, ModelConfig, Trace};

/// The views `render` draws (also its `--view` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RenderView {
    /// one layer's attention: one head, or the mean / max of the heads
    Head,
    /// every layer × head
    Model,
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
}

/// Everything about a render except the models and traces.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub view: RenderView,
    /// 0-based layer (attention map index); None: the last
    pub layer: Option<usize>,
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
    pub text: String,
}

/// One model and its trace on the text.
pub struct Run<'a> {
    pub name: String,
    pub model: &'a LoadedModel,
    pub trace: &'a Trace,
}

/// The figure and (where the view has one) the matrix of one view. `rerun(cfg)` runs the main
/// model's weights on the text under another config (the what-if's, from
/// [`crate::model::config::repeated_config`]); `compare` is the second model (Figure 1's other line; for head /
/// rollout, the map is main minus compare).
pub fn render(
    opts: &RenderOptions,
    main: &Run<'_>,
    compare: Option<&Run<'_>>,
    rerun: &mut dyn FnMut(&ModelConfig) -> Result<Trace>,
) -> Result<(Figure, Option<Matrix>)> {
    let t = main.trace;
    let keep = t.kept_tokens(opts.hide_special);
    let layers = t.attentions.len();
    let layer = opts.layer.unwrap_or(layers.saturating_sub(1));
    if layer >= layers {
        return Err(LensError::Analysis(format!(
            "layer {} does not exist: {} has {layers}",
            layer + 1,
            main.name
        )));
    }
    let theme = &opts.theme;
    match opts.view {
        RenderView::Head | RenderView::Rollout => {
            let measure = if opts.view == RenderView::Head {
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
                shared_scale: false,
                log: opts.log,
            };
            let rollout = if measure == Measure::Rollout {
                crate::analysis::rollout(t)?
            } else {
                Vec::new()
            };
            let diff = match compare {
                Some(c) => {
                    if c.trace.tokens != t.tokens {
                        return Err(LensError::Analysis(format!(
                            "{} and {} tokenize the text differently, so their maps cannot be subtracted",
                            main.name, c.name
                        )));
                    }
                    let r = if measure == Measure::Rollout {
                        crate::analysis::rollout(c.trace)?
                    } else {
                        Vec::new()
                    };
                    Some((c.trace, r))
                }
                None => None,
            };
            let data = maps::compute(
                t,
                &rollout,
                None,
                diff.as_ref().map(|(tr, r)| (*tr, r.as_slice())),
                &key,
            )
            .map_err(LensError::Analysis)?;
            let mut data = data;
            data.title = format!("{}: {}", main.name, data.title);
            let (fig, m) = fv::map(&data, opts.colormap, theme)?;
            Ok((fig, Some(m)))
        }
        RenderView::Model => {
            let title = format!("{}: attention, every layer and head", main.name);
            let style = fv::GridStyle {
                colormap: opts.colormap,
                log: opts.log,
                shared_scale: false,
            };
            let fig = fv::model(&title, t, &keep, true, style, theme)?;
            Ok((fig, None))
        }
        RenderView::Figure1 => {
            let mut repeats = Vec::with_capacity(opts.repeats.len());
            for &r in &opts.repeats {
                repeats.push((
                    r,
                    rerun(&crate::model::config::repeated_config(
                        &main.model.config,
                        r,
                    )?)?,
                ));
            }
            let repeats: Vec<(usize, &Trace)> = repeats.iter().map(|(r, t)| (*r, t)).collect();
            let lines = fv::figure1_lines(
                (&main.name, t),
                compare.map(|c| (c.name.as_str(), c.trace)),
                &repeats,
                opts.hide_special,
            );
            let (fig, m) = fv::figure1(&opts.text, &lines, theme);
            Ok((fig, Some(m)))
        }
        RenderView::Projection => {
            let states: Vec<usize> = if opts.trajectories {
                (0..t.hidden_states.len()).collect()
            } else {
                vec![layer + 1]
            };
            let p = metrics::project(t, &states, &keep)?;
            let title = if opts.trajectories {
                format!(
                    "{}: token trajectories through the layers (PCA of all hidden states)",
                    main.name
                )
            } else {
                format!(
                    "{}: hidden states after layer {} (PCA)",
                    main.name,
                    layer + 1
                )
            };
            let (fig, m) = fv::projection(&title, &p, t, opts.color_by, !opts.trajectories, theme);
            Ok((fig, Some(m)))
        }
        RenderView::Lens => {
            let model = main.model;
            let Some(head) = model.weights.mlm.as_ref() else {
                return Err(LensError::Analysis(format!(
                    "{} has no masked-LM head, so there is nothing to decode the layers with",
                    main.name
                )));
            };
            let pos = match opts.position {
                Some(p) => p,
                None => t
                    .tokens
                    .iter()
                    .position(|tok| tok == "[MASK]" || tok == "<mask>")
                    .ok_or_else(|| {
                        LensError::Analysis(
                            "the text has no [MASK] token: add one, or give --position".into(),
                        )
                    })?,
            };
            let rows = metrics::layer_lens(&model.config, head, t, pos, opts.top_k.max(1))?;
            let table = metrics::LensTable::new(&rows, &|id| model.tokenizer.token_or_id(id));
            let token = t.tokens.get(pos).map_or("", |s| s);
            let (fig, m) = fv::lens(&main.name, token, pos, &table, theme);
            Ok((fig, Some(m)))
        }
        RenderView::Js => {
            let mode = match opts.head {
                None => JsMode::MatchedHeads,
                Some(HeadSel::Mean) => JsMode::MeanOfHeads,
                Some(HeadSel::Head(h)) => JsMode::Head(h),
                Some(HeadSel::Max) => {
                    return Err(LensError::Analysis(
                        "the JS-distance matrix takes one head, mean, or (by default) matched heads; not max".into(),
                    ))
                }
            };
            let values = metrics::cross_layer_js(t, mode)?;
            let (fig, m) = fv::js(&main.name, mode, &values, layers, opts.colormap, theme)?;
            Ok((fig, Some(m)))
        }
    }
}
