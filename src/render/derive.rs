//! How `render` derives each view's data from the runs: the analyses a view needs, then its
//! figure through the view registry.

use super::{RenderOptions, RenderView, Run};
use crate::analysis::maps;
use crate::analysis::{HeadSel, Measure};
use crate::error::{LensError, Result};
use crate::figures::Figure;
use crate::insight::{self, JsMode};
use crate::matrix::Matrix;
use crate::model::{ModelConfig, Trace};
use crate::views;

/// Figure 1's lines: the model, the comparison model, more models, and the what-if
/// repetitions (`rerun` runs them).
pub(super) fn figure1_data(
    opts: &RenderOptions,
    main: &Run<'_>,
    compare: Option<&Run<'_>>,
    rerun: &mut dyn FnMut(&ModelConfig) -> Result<Trace>,
) -> Result<views::figure1::Data> {
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
    let runs = views::figure1::Runs {
        main: (main.name.as_str(), main.trace),
        compare: compare.map(|c| (c.name.as_str(), c.trace)),
        more: &more,
        repeats: &repeats,
    };
    Ok(views::figure1::derive(&opts.text, &runs, opts.hide_special))
}

/// The position a prediction view looks at: `--position`, else the first [MASK].
pub(super) fn mask_position(opts: &RenderOptions, t: &Trace) -> Result<usize> {
    match opts.position {
        Some(p) => Ok(p),
        None => t.first_mask().ok_or_else(|| {
            LensError::Analysis("the text has no [MASK] token: add one, or give --position".into())
        }),
    }
}

/// `render --view links`: token links of the map of `--links-of` (attention, rollout or the
/// value-weighted map), as the window draws them; with --position only that query's lines.
pub(super) fn links_figure(
    opts: &RenderOptions,
    (main, value): (&Run<'_>, Option<&maps::ValueMaps>),
    compare: Option<&Run<'_>>,
    layer: usize,
) -> Result<(Figure, Option<Matrix>)> {
    let data = map_data(opts, (main, value), compare, layer)?;
    let heads = main.trace.num_heads;
    if let Some(h) = opts.link_heads.iter().find(|&&h| h >= heads) {
        return Err(LensError::Analysis(format!(
            "--overlay-heads {}: {} has {heads} heads (from 1)",
            h + 1,
            main.name
        )));
    }
    if data.diverging && !opts.link_heads.is_empty() {
        return Err(LensError::Analysis(
            "--overlay-heads draws heads' own attention, not a difference: leave out --compare"
                .into(),
        ));
    }
    let o = views::links::Options {
        heads: opts.link_heads.clone(),
        layer,
        renormalise: opts.hide_special && opts.renormalise,
        // --position: only that query token's lines
        hovered: opts
            .position
            .and_then(|p| data.index.iter().position(|&i| i == p))
            .map(|r| (true, r)),
        ..Default::default()
    };
    let links = views::links::derive(&data, main.trace, &o);
    views::links::figure(&main.name, &links, &opts.theme)
}

/// `render --view projection`: a PCA (or t-SNE) of one layer's states, or of every state with
/// trajectories.
pub(super) fn projection_figure(
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
    let ctl = insight::Control::default();
    let p = views::projection::derive(t, (&states, keep), opts.tsne, &ctl)?;
    views::projection::figure(model, (&p, t), projection_style(opts), theme)
}

/// The projection's colouring and labels: `--color-by`, and `--label-all` (default: labels
/// on one layer's points, not on trajectories).
pub(super) fn projection_style(opts: &RenderOptions) -> views::projection::Style {
    views::projection::Style {
        color_by: opts.color_by,
        label_all: opts.label_all.unwrap_or(!opts.trajectories),
    }
}

/// `render --view lens`: the masked-LM head's top guesses from every layer at the mask (or
/// --position).
pub(super) fn lens_figure(
    opts: &RenderOptions,
    main: &Run<'_>,
) -> Result<(Figure, Option<Matrix>)> {
    let o = views::lens::Options {
        position: mask_position(opts, main.trace)?,
        top_k: opts.top_k,
    };
    let data = views::lens::derive((main.model, &main.name), main.trace, &o)?;
    views::lens::figure(&data, &opts.theme)
}

/// `render --view explain`: the walk-through of one head at one token (--head N, --position), every
/// step in one column.
pub(super) fn explain_figure(
    opts: &RenderOptions,
    main: &Run<'_>,
    compare: Option<&Run<'_>>,
    layer: usize,
) -> Result<(Figure, Option<Matrix>)> {
    let (t, model, theme) = (main.trace, main.name.as_str(), &opts.theme);
    let head = super::one_head(opts.head, "the walk-through")?;
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
    let compare = compare.map(|c| (c.model, c.name.as_str()));
    let walk = views::explain::derive((main.model, model), t, sel, compare)?;
    views::explain::figure(model, &walk, (opts.step, opts.temperature), theme)
}

/// `render --view attribution`: a prediction's gradient attribution beside rollout and value-
/// weighted attention to the same position.
pub(super) fn attribution_figure(
    opts: &RenderOptions,
    main: &Run<'_>,
) -> Result<(Figure, Option<Matrix>)> {
    let (t, model, theme) = (main.trace, main.name.as_str(), &opts.theme);
    let pos = mask_position(opts, t)?;
    let ctl = insight::Control::default();
    // the gradients of the model the trace is of: with --ablate, the ablated one
    let target = (opts.target.as_deref().unwrap_or_default(), opts.steps);
    let computed = views::attribution::compute(main.model, t, (&opts.ablate, pos), target, &ctl)?;
    let rollout = crate::analysis::rollout(t)?;
    let comparison = views::attribution::derive(&computed, opts.method, t, &rollout)?;
    views::attribution::figure(model, &comparison, theme)
}

/// `render --view js`: the cross-layer Jensen–Shannon distances (matched heads, the mean, or one
/// head); with --compare on the colour scale the window gives the two models side by side.
pub(super) fn js_figure(
    opts: &RenderOptions,
    main: &Run<'_>,
    compare: Option<&Run<'_>>,
) -> Result<(Figure, Option<Matrix>)> {
    let mode = match opts.head {
        None => JsMode::MatchedHeads,
        Some(HeadSel::Mean) => JsMode::MeanOfHeads,
        Some(HeadSel::Head(h)) => JsMode::Head(h),
        Some(HeadSel::Max) => return Err(LensError::Analysis(
            "the JS-distance matrix takes one head, mean, or (by default) matched heads; not max"
                .into(),
        )),
    };
    let other = compare.map(|c| (c.name.as_str(), c.trace));
    let (data, _) = views::js::derive_pair((&main.name, main.trace), other, mode)?;
    views::js::figure(&data, opts.colormap, &opts.theme)
}

/// The head or rollout map of the main model, minus the comparison model's if there is one.
pub(super) fn map_data(
    opts: &RenderOptions,
    (main, value): (&Run<'_>, Option<&maps::ValueMaps>),
    compare: Option<&Run<'_>>,
    layer: usize,
) -> Result<maps::MapData> {
    let t = main.trace;
    let measure = match opts.view {
        RenderView::Rollout => Measure::Rollout,
        RenderView::ValueNorm => Measure::ValueNorm,
        RenderView::Links => opts.links_of,
        _ => Measure::Attention,
    };
    let o = views::map::Options {
        layer,
        head: opts.head.unwrap_or(HeadSel::Mean),
        measure,
        hide_special: opts.hide_special,
        renormalise: opts.renormalise,
        shared_scale: opts.shared_scale,
        log: opts.log,
        words: opts.words,
    };
    let key = o.key(0, compare.map(|_| 0), 0);
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
            // two models on one text: the same tokens (a second text's are its own)
            if opts.operands.is_none() && c.trace.tokens != t.tokens {
                return Err(LensError::Analysis(format!(
                    "{} and {} tokenize the text differently, so their maps cannot be subtracted",
                    main.name, c.name
                )));
            }
            Some((c.trace, rollout_of(c.trace)?))
        }
        None => None,
    };
    let mut data = views::map::derive(
        (t, &rollout),
        value,
        diff.as_ref().map(|(tr, r)| (*tr, r.as_slice())),
        &key,
    )
    .map_err(LensError::Analysis)?;
    match (&opts.operands, compare) {
        (Some((a, b)), Some(_)) => data.name_operands(a, b),
        (None, Some(c)) => data.name_operands(&main.name, &c.name),
        (_, None) => {}
    }
    Ok(data)
}

/// The prediction view's data: the head's outputs on the main trace and, with heads switched
/// off, on the intact run (`rerun` with the model's own config runs without the ablation).
pub(super) fn prediction_data(
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
    let intact = match opts.ablate.is_empty() && opts.masked.is_empty() {
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
pub(super) fn mixing_data(
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

/// `render --view neighbours`: the nearest tokens to `--query` in the input embeddings of the
/// first model (main, then compare) that has the word, as the Projection tab's vocabulary mode
/// exports them.
pub(super) fn neighbours_figure(
    opts: &RenderOptions,
    main: &Run<'_>,
    compare: Option<&Run<'_>>,
) -> Result<(Figure, Option<Matrix>)> {
    let query = opts.query.trim();
    if query.is_empty() {
        return Err(LensError::Analysis(
            "the neighbours view looks a word up: give --query WORD".into(),
        ));
    }
    let models: Vec<(&crate::model::LoadedModel, &str)> = [Some(main), compare]
        .into_iter()
        .flatten()
        .map(|r| (r.model, r.name.as_str()))
        .collect();
    let answers = views::neighbours::derive(&models, query);
    let answer = views::neighbours::shown(query, &answers)?;
    views::neighbours::figure(query, answer, &opts.theme)
}

/// A corpus statistics view of the statistics `render` ran (`opts.corpus`), as the Corpus tab
/// draws it, with its numbers.
pub(super) fn corpus_figure(
    view: RenderView,
    opts: &RenderOptions,
) -> Result<(Figure, Option<Matrix>)> {
    use crate::figures::corpus as fig;
    let c = opts.corpus.as_ref().ok_or_else(|| {
        LensError::Analysis("the corpus statistics views need a corpus run".into())
    })?;
    let Some(v) = view.corpus_view() else {
        return Err(LensError::Analysis(format!(
            "{view:?} is not a corpus view"
        )));
    };
    let ((main, name), other) = (&c.main, c.compare.as_ref());
    let figure = fig::view(
        v,
        (main, name),
        other.map(|(s, n)| (s, n.as_str())),
        (c.stat, opts.colormap),
        &opts.theme,
    )?;
    Ok((figure, Some(fig::matrix(v, main, c.stat))))
}
