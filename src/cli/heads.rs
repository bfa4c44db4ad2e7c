//! `heads`: a fine-tuned classifier over a labelled file: accuracy, confusion, head importance
//! (Michel et al. 2019) and the pruning curve, to a safetensors file.

use crate::{make_backend, one_backend, resolve_model, BackendChoice};
use albert_lens::insight::{importance, labelled};
use albert_lens::model::LoadedModel;
use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub(crate) struct HeadsArgs {
    /// a fine-tuned sequence classifier: model folder, hub:ID, or a built-in model
    #[arg(long)]
    model: PathBuf,
    /// the labelled examples: text<TAB>label or text<TAB>pair<TAB>label lines, or .jsonl with
    /// text, pair and label; a label is a name from the model's id2label or its number
    #[arg(long)]
    data: PathBuf,
    /// use only the first K examples
    #[arg(long, value_parser = super::ranges::count(1..=10_000_000))]
    limit: Option<usize>,
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
    let dir = resolve_model(&a.model)?;
    let m = LoadedModel::open(&dir).with_context(|| format!("opening model {}", dir.display()))?;
    for w in &m.warnings {
        eprintln!("warning: {w}");
    }
    let labels = match &m.weights.task {
        Some(h) => h.spec.labels.clone(),
        None => anyhow::bail!(
            "{} has no fine-tuned classifier head (config.json's architectures: {}); head importance is measured for sequence classifiers",
            dir.display(),
            if m.config.architectures.is_empty() { "none".to_string() } else { m.config.architectures.join(", ") }
        ),
    };
    let data = labelled::read(&a.data, &labels, a.limit)?;
    let ctl = albert_lens::insight::Control::default();
    let r = importance::evaluate(&m, &data, &mut backend, &ctl)?;
    let bytes = r.to_safetensors_bytes(&dir.display().to_string(), &data)?;
    albert_lens::files::write_atomic(&a.out, &bytes)
        .with_context(|| format!("writing {}", a.out.display()))?;
    let n = data.examples.len();
    println!(
        "accuracy {:.4} on {n} examples ({} wrong); majority baseline {:.4}",
        r.accuracy,
        r.wrong(&data).len(),
        majority(&r.confusion, r.labels.len()) as f32 / n as f32
    );
    let top = r.least_important(r.importance.len());
    let most: Vec<String> = top
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

/// The examples of the most frequent gold label, from the confusion matrix's rows.
fn majority(confusion: &[u32], labels: usize) -> u32 {
    (0..labels)
        .map(|g| confusion[g * labels..(g + 1) * labels].iter().sum::<u32>())
        .max()
        .unwrap_or(0)
}
