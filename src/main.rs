//! The albert-lens command line: `trace` exports a forward pass, `bench` measures backends.
//! With no subcommand it runs a shipped model on an example sentence and prints what each
//! layer attends to (the desktop window comes with the app issue).

use albert_lens::backend::{Backend, CpuBackend};
use albert_lens::model::{LoadedModel, Trace};
use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "albert-lens",
    version,
    about = "Look inside ALBERT: attention, embeddings, shared vs unshared layers"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, ValueEnum, Debug)]
enum BackendChoice {
    /// the best available backend (the CPU reference in this build)
    Auto,
    /// the candle CPU reference
    Cpu,
}

#[derive(Subcommand)]
enum Command {
    /// Run a model on a text and write every hidden state and attention map to a safetensors file
    Trace {
        /// model folder in Hugging Face layout (config.json, weights, tokenizer)
        #[arg(long)]
        model: PathBuf,
        /// the text to run
        #[arg(long)]
        text: String,
        /// optional second segment (sentence pair)
        #[arg(long)]
        pair: Option<String>,
        #[arg(long, value_enum, default_value = "auto")]
        backend: BackendChoice,
        /// output file (.safetensors)
        #[arg(long)]
        out: PathBuf,
    },
    /// Measure forward latency on random weights of real model shapes
    Bench {
        #[arg(long, value_enum, default_value = "cpu")]
        backend: BackendChoice,
        /// model shapes: albert-base, albert-large, bert-base
        #[arg(long, value_delimiter = ',', default_value = "albert-base,bert-base")]
        models: Vec<String>,
        /// token counts
        #[arg(long, value_delimiter = ',', default_value = "128,512")]
        tokens: Vec<usize>,
        /// timed runs per case (the median is reported)
        #[arg(long, default_value_t = 5)]
        iters: usize,
    },
}

fn make_backend(choice: BackendChoice) -> Box<dyn Backend> {
    match choice {
        BackendChoice::Auto | BackendChoice::Cpu => Box::new(CpuBackend::new()),
    }
}

fn run_trace(
    model_dir: &Path,
    text: &str,
    pair: Option<&str>,
    backend: BackendChoice,
) -> Result<(LoadedModel, Trace, String)> {
    let model = LoadedModel::open(model_dir)
        .with_context(|| format!("opening model {}", model_dir.display()))?;
    for w in &model.warnings {
        eprintln!("warning: {w}");
    }
    let input = model.encode(text, pair)?;
    let mut backend = make_backend(backend);
    let mut trace = backend.forward(&model.config, &model.weights, &input)?;
    trace.warnings.extend(model.warnings.iter().cloned());
    Ok((model, trace, backend.name()))
}

fn demo() -> Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/albert_single");
    let text = "The quick brown fox jumps over the lazy dog.";
    let (model, trace, backend) = run_trace(&dir, text, None, BackendChoice::Auto)?;
    println!(
        "albert-lens: {} ({} layers sharing {} group(s), {} parameters) on {backend}",
        dir.display(),
        model.config.num_hidden_layers,
        model.config.num_hidden_groups,
        model.weights.param_count
    );
    println!("text: {text}\ntokens: {}", trace.tokens.join(" "));
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
        println!("layer {j}: {}", picks.join("  "));
    }
    println!("(the desktop app is not built yet; `albert-lens trace --help` exports full traces)");
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => demo(),
        Some(Command::Trace {
            model,
            text,
            pair,
            backend,
            out,
        }) => {
            let (_, trace, backend_name) = run_trace(&model, &text, pair.as_deref(), backend)?;
            for w in &trace.warnings {
                eprintln!("warning: {w}");
            }
            trace
                .write_safetensors(&out)
                .with_context(|| format!("writing {}", out.display()))?;
            eprintln!(
                "{} tokens, {} hidden states, {} attention maps ({backend_name}) -> {}",
                trace.num_tokens(),
                trace.hidden_states.len(),
                trace.attentions.len(),
                out.display()
            );
            Ok(())
        }
        Some(Command::Bench {
            backend: _,
            models,
            tokens,
            iters,
        }) => {
            let cores = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            println!("CPU benchmark, {cores} cores, median of {iters} runs\n");
            let rows = albert_lens::bench::run_cpu(&models, &tokens, iters.max(1))?;
            println!("{}", albert_lens::bench::BenchRow::markdown_header());
            for r in rows {
                println!("{}", r.markdown());
            }
            Ok(())
        }
    }
}
