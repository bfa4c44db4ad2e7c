//! `attribute`: the three gradient attributions of one prediction, to a safetensors file.

use super::common::{one_backend, BackendChoice};
use albert_lens::insight::attribution::{attribute, Target};
use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub(crate) struct AttributeArgs {
    /// model folder, hub:ID, or a built-in model (albert-mini, bert-mini)
    #[arg(long, default_value = "albert-mini")]
    model: PathBuf,
    #[arg(long)]
    text: String,
    #[arg(long)]
    pair: Option<String>,
    /// the token position predicted, from 0 ([CLS] = 0; default for the masked LM: the first
    /// [MASK]); a token classifier's or QA model's target needs it, a sequence classifier's not
    #[arg(long, value_parser = super::ranges::count(albert_lens::ranges::POSITION))]
    position: Option<usize>,
    /// the masked LM's predicted token attributed (a vocabulary entry; default: the model's
    /// top 1), or for a question-answering model `start` or `end` (default: start)
    #[arg(long)]
    target: Option<String>,
    /// a fine-tuned classifier's label attributed (its name or number; default: the predicted
    /// one): the class of a sequence classifier, or with --position the label of that token
    #[arg(long)]
    target_label: Option<String>,
    /// integrated-gradients steps (1 to 10000)
    #[arg(long, default_value_t = 50, value_parser = super::ranges::count(albert_lens::ranges::STEPS))]
    steps: usize,
    /// accepted as elsewhere; the gradients run on the CPU
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendChoice,
    /// output file (.safetensors)
    #[arg(long, value_parser = super::ranges::safetensors_out)]
    out: PathBuf,
}

pub(crate) fn run(a: AttributeArgs) -> Result<()> {
    one_backend(a.backend)?;
    let m = super::common::open_model(&a.model)?;
    let input = m.encode(&a.text, a.pair.as_deref())?;
    // the masked LM's default position is the first mask token
    let position = match (a.position, &m.weights.task) {
        (Some(p), _) => Some(p),
        (None, Some(_)) => None,
        (None, None) => Some(
            albert_lens::model::trace::first_mask(&input.tokens)
                .context("the text has no [MASK] token: add one, or give --position")?,
        ),
    };
    let target = Target::choose(&m, position, a.target.as_deref(), a.target_label.as_deref())?;
    let ctl = albert_lens::insight::Control::default();
    let r = attribute(&m, &input, target, a.steps, &ctl)?;
    let out = &a.out;
    albert_lens::files::write_atomic(out, &r.to_safetensors_bytes(&input.tokens, &input.ids)?)
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "{} at token {} (\"{}\"): logit {:.4}; {} tokens, integrated gradients in {} steps (cpu) -> {}",
        r.target_token,
        r.position,
        input.tokens[r.position],
        r.logit,
        input.len(),
        a.steps,
        out.display()
    );
    Ok(())
}
