//! `heads`: a fine-tuned classifier over a labelled file: accuracy, confusion, head importance
//! (Michel et al. 2019) and the pruning curve, to a safetensors file.

use super::common::{make_backend, one_backend, BackendChoice};
use albert_lens::insight::{importance, labelled};
use albert_lens::model::LoadedModel;
use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub(crate) struct HeadsArgs {
    /// a fine-tuned sequence classifier, or a masked LM: model folder, hub:ID, or a built-in
    /// model
    #[arg(long)]
    model: PathBuf,
    /// a classifier's labelled examples: text<TAB>label or text<TAB>pair<TAB>label lines, or
    /// .jsonl with text, pair and label (a label is a name from id2label or its number;
    /// builtin:genres is the built-in held-out genres); a masked LM's texts: `builtin` (the
    /// built-in corpus) or a corpus file as `corpus --corpus` reads it
    #[arg(long)]
    data: PathBuf,
    /// use only the first K examples (a masked LM: 200 texts unless given)
    #[arg(long, value_parser = super::ranges::count(1..=10_000_000))]
    limit: Option<usize>,
    /// a masked LM: the seed of the masked positions (15% of each text's tokens)
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// where the pruning curve's forward passes run (the gradients run on the CPU)
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendChoice,
    /// output file (.safetensors): importance [L*inner, heads], accuracy [1],
    /// pruned_accuracy [11], pruned_heads [11], confusion [labels, labels]
    #[arg(long, value_parser = super::ranges::safetensors_out)]
    out: PathBuf,
}

pub(crate) fn run(a: HeadsArgs) -> Result<()> {
    let mut backend = make_backend(one_backend(a.backend)?);
    let m = super::common::open_model(&a.model)?;
    for w in &m.warnings {
        eprintln!("warning: {w}");
    }
    let ctl = albert_lens::insight::Control::default();
    let (r, identity) = match (&m.weights.task, &m.weights.mlm) {
        (Some(h), _) => {
            let data = labelled::read(&a.data, &h.spec.labels, h.spec.kind == albert_lens::model::task::TaskKind::TokenClassification, a.limit)?;
            let r = importance::evaluate(&m, &data, &mut backend, &ctl)?;
            let n = data.examples.len();
            let scored = r.scored();
            let baseline = r.majority_baseline();
            let wrong = r.wrong().len();
            if h.spec.kind == albert_lens::model::task::TaskKind::TokenClassification {
                println!(
                    "accuracy {:.4} on {scored} tokens of {n} sentences ({wrong} with a wrong tag); majority baseline {baseline:.4}",
                    r.accuracy
                );
            } else {
                println!(
                    "accuracy {:.4} on {n} examples ({wrong} wrong); majority baseline {baseline:.4}",
                    r.accuracy
                );
            }
            (r, data.identity)
        }
        (None, Some(_)) => {
            let texts = corpus_texts(&a.data, a.limit.unwrap_or(MLM_TEXTS))?;
            let r = importance::evaluate_mlm(&m, &texts.0, a.seed, &mut backend, &ctl)?;
            println!(
                "masked-token top-1 accuracy {:.4} on {} texts ({}% of each text's tokens masked, seed {})",
                r.accuracy,
                r.predictions.len(),
                importance::MASKED_SHARE * 100.0,
                a.seed
            );
            (r, texts.1)
        }
        (None, None) => anyhow::bail!(
            "{} has neither a fine-tuned classifier head nor a masked-LM head (config.json's architectures: {}), so there is no loss to measure heads by",
            m.dir.display(),
            if m.config.architectures.is_empty() { "none".to_string() } else { m.config.architectures.join(", ") }
        ),
    };
    let bytes = r.to_safetensors_bytes(&m.dir.display().to_string(), &identity)?;
    albert_lens::files::write_atomic(&a.out, &bytes)
        .with_context(|| format!("writing {}", a.out.display()))?;
    let order = r.least_important(r.importance.len());
    let most: Vec<String> = order
        .0
        .iter()
        .rev()
        .take(5)
        .map(|(l, h)| format!("{}:{}", l + 1, h + 1))
        .collect();
    println!(
        "most important heads (layer:head from 1): {}",
        most.join(", ")
    );
    let curve: Vec<String> = r
        .pruning
        .iter()
        .map(|(k, acc)| format!("{k}:{acc:.3}"))
        .collect();
    println!("pruning curve (heads masked:accuracy): {}", curve.join(" "));
    eprintln!("-> {}", a.out.display());
    Ok(())
}

/// A text and its optional second segment.
type Text = (String, Option<String>);

/// Texts the masked LM is measured on by default.
const MLM_TEXTS: usize = 200;

/// The first `limit` texts of a corpus (`builtin` or a file, as `corpus --corpus` reads them)
/// and the corpus's identity.
fn corpus_texts(spec: &std::path::Path, limit: usize) -> Result<(Vec<Text>, String)> {
    use albert_lens::corpus::{CorpusSource, Line};
    let source = CorpusSource::parse(&spec.to_string_lossy());
    let mut lines = source.lines((0, 1))?;
    let mut texts = Vec::new();
    while texts.len() < limit {
        match lines.next().transpose()? {
            Some(Line::Text { text, pair, .. }) => texts.push((text, pair)),
            Some(Line::Skipped { .. }) => continue,
            None => break,
        }
    }
    anyhow::ensure!(!texts.is_empty(), "{} holds no texts", spec.display());
    Ok((
        texts,
        source.fingerprint().unwrap_or_else(|| "builtin".into()),
    ))
}

/// What `render`'s importance, pruning and confusion views (a classifier on `--data`) and its
/// fine-tuning view (the model against `--compare` on the texts of `--data`, default the
/// built-in corpus; a labelled file of the model's task gives its examples' texts, as the
/// window's Prediction tab compares) draw; None for the other views, which take no `--data`.
pub(crate) fn for_render(
    view: albert_lens::render::RenderView,
    (data, limit): (Option<&std::path::Path>, Option<usize>),
    ((m, name), parent): ((&LoadedModel, &str), Option<(&LoadedModel, &str)>),
    backend: &mut dyn albert_lens::backend::Backend,
) -> Result<(Option<Evaluated>, Option<Changed>)> {
    use albert_lens::render::RenderView;
    let ctl = albert_lens::insight::Control::default();
    if view == RenderView::FineTuning {
        let Some((p, parent_name)) = parent else {
            anyhow::bail!(
                "the fine-tuning view compares a fine-tuned model with its parent: give --compare PARENT"
            );
        };
        let spec = data.unwrap_or(std::path::Path::new("builtin"));
        let texts = match labelled_texts(data, m, limit) {
            Some(texts) => texts,
            None => corpus_texts(spec, limit.unwrap_or(MLM_TEXTS))?.0,
        };
        let values =
            albert_lens::insight::finetune::attention_similarity((m, p), &texts, backend, &ctl)?;
        let corpus = if spec == std::path::Path::new("builtin") {
            "the built-in corpus".to_string()
        } else {
            spec.file_name().map_or(spec.display().to_string(), |n| {
                n.to_string_lossy().to_string()
            })
        };
        return Ok((
            None,
            Some(Changed {
                tuned: name.to_string(),
                parent: parent_name.to_string(),
                corpus,
                texts: texts.len(),
                maps: m.config.num_attention_maps(),
                heads: m.config.num_attention_heads,
                values,
            }),
        ));
    }
    if view == RenderView::QueryKey || view.corpus_view().is_some() {
        // their corpus is --data too, read by the view itself
        return Ok((None, None));
    }
    let evaluates = matches!(
        view,
        RenderView::Importance | RenderView::Pruning | RenderView::Confusion
    );
    let data = match (data, evaluates) {
        (Some(d), true) => d,
        (None, true) => anyhow::bail!(
            "the {view:?} view measures a classifier on a labelled file: give --data FILE (text<TAB>label lines or .jsonl)"
        ),
        (Some(_), false) => anyhow::bail!(
            "--data is for the importance, pruning, confusion, fine-tuning, query-key and corpus views, not {view:?}"
        ),
        (None, false) => return Ok((None, None)),
    };
    let (labels, tagger) = match &m.weights.task {
        Some(h) => (
            h.spec.labels.clone(),
            h.spec.kind == albert_lens::model::task::TaskKind::TokenClassification,
        ),
        None => anyhow::bail!(
            "{name} has no fine-tuned classifier head, so it cannot be measured on labelled data"
        ),
    };
    // "all" is no limit, as the window's 0
    let data = labelled::read(data, &labels, tagger, super::ranges::bound(limit))?;
    let r = importance::evaluate(m, &data, backend, &ctl)?;
    Ok((
        Some(albert_lens::views::evaluation::derive(name, &data, r)),
        None,
    ))
}

/// The texts (and pairs) of the examples of `data` read as labelled data of `m`'s task (the first
/// `limit`; "all": every one), or None when `m` has no task head or `data` is not such a file.
fn labelled_texts(
    data: Option<&std::path::Path>,
    m: &LoadedModel,
    limit: Option<usize>,
) -> Option<Vec<(String, Option<String>)>> {
    let head = m.weights.task.as_ref()?;
    let tagger = head.spec.kind == albert_lens::model::task::TaskKind::TokenClassification;
    let read = labelled::read(
        data?,
        &head.spec.labels,
        tagger,
        super::ranges::bound(limit),
    )
    .ok()?;
    Some(
        read.examples
            .into_iter()
            .map(|x| (x.text, x.pair))
            .collect(),
    )
}

type Evaluated = albert_lens::views::evaluation::Data;
use albert_lens::views::evaluation::Changed;
