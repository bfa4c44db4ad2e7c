//! `trace`: one forward pass to a safetensors file, with the intermediates (`--internals`)
//! and the context-mixing matrices (`--contributions`) when asked.

use super::common::{
    make_backend, one_backend, parse_ablation, run_trace_on, BackendChoice, PrecisionArg,
};
use albert_lens::insight::mixing::{self, Method};
use albert_lens::model::{Ablation, Capture, ForwardOptions};
use anyhow::{Context, Result};
use std::path::PathBuf;

/// `trace --text-file` reads at most this much (a model of 8192 positions sees at most about
/// 130,000 characters of it; see `max_chars`).
pub(crate) const TEXT_FILE_BYTES: usize = 4 << 20;

#[derive(clap::Args)]
pub(crate) struct TraceArgs {
    /// model folder in Hugging Face layout (config.json, weights, tokenizer), or hub:ID to
    /// download from the Hugging Face Hub into its cache (HF_ENDPOINT, HF_HOME honoured)
    #[arg(long)]
    model: PathBuf,
    /// the text to run
    #[arg(
        long,
        required_unless_present = "text_file",
        conflicts_with = "text_file"
    )]
    text: Option<String>,
    /// read the text from a file instead (for texts longer than a command line allows)
    #[arg(long)]
    text_file: Option<PathBuf>,
    /// optional second segment (sentence pair)
    #[arg(long)]
    pair: Option<String>,
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendChoice,
    /// the GPU's weight products: exact (f32) or fast (cooperative matrices)
    #[arg(long, value_enum, default_value = "exact")]
    precision: PrecisionArg,
    /// also write every intermediate the Explain tab shows: queries/keys/values.{j},
    /// scores.{j}, context.{j}, attention_output.{j}, intermediate.{j}, embeddings.word and
    /// embeddings.output (definitions: the README's trace file section)
    #[arg(long)]
    internals: bool,
    /// also write the context-mixing matrices: contributions.{attention,norm,globenc,alti,
    /// value_zeroing}.{j} per layer application, their rollouts, and contributions.flow (up
    /// to 64 tokens); definitions: the README's Mixing section
    #[arg(long)]
    contributions: bool,
    /// switch heads off: LAYER:HEAD[,LAYER:HEAD...], from 1 (for ALBERT the layer is the
    /// application, though its weights are shared); their attention is 0 after the softmax
    #[arg(long, value_parser = parse_ablation)]
    ablate: Option<Ablation>,
    /// output file (.safetensors)
    #[arg(long, value_parser = super::ranges::safetensors_out)]
    out: PathBuf,
}

pub(crate) fn run(a: TraceArgs) -> Result<()> {
    let text = match (a.text, a.text_file) {
        (Some(t), _) => t,
        (None, Some(f)) => {
            let max = TEXT_FILE_BYTES;
            let (t, more) = albert_lens::files::read_text_start(&f, max)?;
            if more {
                eprintln!(
                    "note: {} is longer than {max} bytes: only its start was read (a model sees far less)",
                    f.display()
                );
            }
            t
        }
        (None, None) => anyhow::bail!("give --text or --text-file"),
    };
    let opts = ForwardOptions {
        capture: if a.internals {
            Capture::All
        } else {
            Capture::Nothing
        },
        ablate: a.ablate.unwrap_or_default(),
    };
    let mut b = make_backend(one_backend(a.backend)?);
    if let Some(n) = b.set_precision(a.precision.lib()) {
        eprintln!("note: {n}");
    }
    let out = &a.out;
    let (model, trace, backend_name) =
        run_trace_on(&a.model, (&text, a.pair.as_deref()), &mut b, &opts)?;
    for w in &trace.warnings {
        eprintln!("warning: {w}");
    }
    let contributions = if a.contributions {
        let c = mixing::compute(&model.config, &model.weights, &trace, &Method::ALL, None)
            .context("computing the context-mixing matrices")?;
        for w in &c.warnings {
            eprintln!("warning: {w}");
        }
        Some(c)
    } else {
        None
    };
    let n = trace.num_tokens();
    let (task, meta) =
        match albert_lens::model::task::predict(&model.config, &model.weights, &trace) {
            Some(p) => p.context("running the task head")?.trace_entries(),
            None => (Vec::new(), Vec::new()),
        };
    let extra: Vec<(String, Vec<usize>, &[f32])> = contributions
        .iter()
        .flat_map(|c| c.tensors())
        .map(|(name, v)| (name, vec![n, n], v))
        .chain(
            task.iter()
                .map(|(name, s, v)| (name.clone(), s.clone(), &v[..])),
        )
        .collect();
    trace
        .write_safetensors_with(out, &extra, &meta)
        .with_context(|| format!("writing {}", out.display()))?;
    let mixing = match contributions
        .iter()
        .map(|c| c.tensors().len())
        .sum::<usize>()
    {
        0 => String::new(),
        k => format!(", {k} context-mixing matrices"),
    };
    let mixing = match meta.first() {
        Some((_, task)) => format!("{mixing}, the {task} head's outputs"),
        None => mixing,
    };
    eprintln!(
        "{} tokens, {} hidden states, {} attention maps{mixing} ({backend_name}) -> {}",
        n,
        trace.hidden_states.len(),
        trace.attentions.len(),
        out.display()
    );
    Ok(())
}
