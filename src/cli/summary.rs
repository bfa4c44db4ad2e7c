//! `summary`: what each layer attends to, printed.

use super::common::{run_trace, BackendChoice};
use anyhow::Result;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub(crate) struct SummaryArgs {
    /// model folder, hub:ID, or a built-in model (albert-mini, bert-mini)
    #[arg(long, default_value = "albert-mini")]
    pub(crate) model: PathBuf,
    #[arg(long, default_value = albert_lens::app::EXAMPLE_TEXT)]
    pub(crate) text: String,
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) backend: BackendChoice,
}

pub(crate) fn run(a: SummaryArgs) -> Result<()> {
    summary(&a.model, &a.text, super::common::one_backend(a.backend)?)
}

pub(crate) fn summary(dir: &Path, text: &str, backend: BackendChoice) -> Result<()> {
    let (model, trace, backend) = run_trace(dir, text, None, backend)?;
    println!(
        "albert-lens: {} ({} layers sharing {} group(s), {} parameters) on {backend}",
        dir.display(),
        model.config.num_hidden_layers,
        model.config.num_hidden_groups,
        model.weights.param_count
    );
    println!("text: {text}\ntokens: {}", trace.tokens.join(" "));
    for w in &trace.warnings {
        eprintln!("warning: {w}");
    }
    let n = trace.num_tokens();
    for j in 0..trace.attentions.len() {
        // each token's most attended token, averaged over heads
        let picks: Vec<String> = (0..n)
            .map(|q| {
                let best = (0..n)
                    .map(|k| {
                        let s: f32 = (0..trace.num_heads)
                            .map(|h| trace.attention(j, h, q, k))
                            .sum();
                        (k, s / trace.num_heads as f32)
                    })
                    .fold((0, f32::MIN), |a, b| if b.1 > a.1 { b } else { a });
                format!("{}→{}", trace.tokens[q], trace.tokens[best.0])
            })
            .collect();
        // layers count from 1, as in the window and `render --layer`
        println!("layer {}: {}", j + 1, picks.join("  "));
    }
    Ok(())
}
