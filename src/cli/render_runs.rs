//! `render`'s runs: the main model's (with its masked tokens), a difference's second run, the
//! `--also` models', and the corpus runs of the corpus and query–key views.

use super::common::{make_backend, run_trace_on, BackendChoice};
use albert_lens::backend::Backend;
use albert_lens::model::{Ablation, ForwardOptions};
use albert_lens::render::RenderView;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// A difference of the main model's own runs (`--diff-text`, `--diff-intervention`).
pub(super) struct Difference<'a> {
    pub(super) text: Option<&'a str>,
    pub(super) intervention: bool,
}

impl Difference<'_> {
    /// The second run of the difference and the operands' names (A, B), or None without one.
    pub(super) fn run(
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
pub(super) fn main_run(
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
    let m = super::common::open_model(model)?;
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
pub(super) fn corpus_limit(limit: Option<usize>) -> Option<u64> {
    match limit {
        None => Some(100),
        given => super::ranges::bound(given).map(|l| l as u64),
    }
}

/// The corpus views' statistics: each model's run over the first `limit` texts of `corpus`
/// (default: the built-in one), cached on disk as the window's runs are and named as the
/// window's Corpus tab names them ([`albert_lens::model::ModelSource::label`]).
pub(super) fn corpus_stats(
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
pub(super) fn query_key(
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

/// The parameter view's extra columns and Figure 1's extra (name, trace) lines.
pub(super) type AlsoModels = (
    Vec<albert_lens::views::parameters::Column>,
    Vec<(String, albert_lens::model::Trace)>,
);

/// The `--also` models: Figure 1's extra lines (their traces on the text), or the parameter
/// view's extra columns.
pub(super) fn also_models(
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
            let m = super::common::open_model(spec)?;
            let data = albert_lens::views::parameters::derive(&[(&name, &m.config, &m.weights)]);
            parameters_more.extend(data.columns);
        }
    }
    Ok((parameters_more, figure1_more))
}

/// A model as a figure names it, as the window does ([`ModelSource::name`]).
pub(super) fn model_label(p: &Path) -> String {
    albert_lens::model::ModelSource::parse(p).name()
}
