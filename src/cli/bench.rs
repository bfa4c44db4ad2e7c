//! `bench`: forward latency on random weights of real model shapes, corpus throughput, or the
//! context-mixing methods' cost.

use super::common::{BackendChoice, PrecisionArg};
use anyhow::{Context, Result};

#[derive(clap::Args)]
pub(crate) struct BenchArgs {
    #[arg(long, value_enum, default_value = "both")]
    pub(crate) backend: BackendChoice,
    /// model shapes (random weights): albert-base, albert-large, bert-base, roberta-base,
    /// distilbert-base, electra-small
    #[arg(long, value_delimiter = ',', default_value = "albert-base,bert-base",
          value_parser = clap::builder::PossibleValuesParser::new(albert_lens::bench::PRESETS.iter().map(|p| p.name)))]
    pub(crate) models: Vec<String>,
    /// token counts (each 1 to 8192)
    #[arg(long, value_delimiter = ',', default_value = "128,512", value_parser = super::ranges::count(1..=8192))]
    pub(crate) tokens: Vec<usize>,
    /// timed runs per case (the median is reported; 1 to 1000)
    #[arg(long, default_value_t = 5, value_parser = super::ranges::count(1..=1000))]
    pub(crate) iters: usize,
    /// the GPU's weight products: exact (f32) or fast (cooperative matrices)
    #[arg(long, value_enum, default_value = "exact")]
    pub(crate) precision: PrecisionArg,
    /// also time GPU matmuls (4096^3 and ALBERT-base's layer shapes)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) matmul: bool,
    /// corpus throughput instead: built-in sentences through the forward pass and the head
    /// statistics, texts/s per batch size (compare tools/bench/hf_corpus.py)
    #[arg(long)]
    pub(crate) corpus: bool,
    /// corpus: batch sizes (each 1 to 1024)
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,128", value_parser = super::ranges::count(albert_lens::ranges::BATCH))]
    pub(crate) batches: Vec<usize>,
    /// corpus: how many built-in sentences (1 to 100000)
    #[arg(long, default_value_t = 256, value_parser = super::ranges::count(1..=100_000))]
    pub(crate) texts: usize,
    /// context mixing instead: each method's time and the peak memory on the CPU (compare
    /// tools/bench/contributions_torch.py); flow up to 64 tokens
    #[arg(long)]
    pub(crate) contributions: bool,
    /// contributions: value zeroing only up to this many tokens (its N² rows through the
    /// feed-forward take minutes at 512 on two cores)
    #[arg(long, default_value_t = 128)]
    pub(crate) vz_max_tokens: usize,
}

pub(crate) fn run(a: BenchArgs) -> Result<()> {
    if a.contributions {
        let rows = albert_lens::bench::run_contributions(&a.models, &a.tokens, a.vz_max_tokens)?;
        println!("{}", rows.join("\n"));
        Ok(())
    } else if a.corpus {
        super::corpus::bench(
            super::common::one_backend(a.backend)?,
            &a.models,
            &a.batches,
            a.texts,
            a.iters,
        )
    } else {
        let gpu_opts = (a.precision.lib(), a.matmul);
        bench(a.backend, &a.models, &a.tokens, a.iters.max(1), gpu_opts)
    }
}

pub(crate) fn bench(
    backend: BackendChoice,
    models: &[String],
    tokens: &[usize],
    iters: usize,
    (precision, matmul): (albert_lens::backend::Precision, bool),
) -> Result<()> {
    use albert_lens::bench;
    let gpu = match backend {
        BackendChoice::Cpu => None,
        BackendChoice::Gpu => Some(
            albert_lens::backend::GpuBackend::headless()
                .context("the GPU benchmark needs a GPU adapter")?,
        ),
        BackendChoice::Both | BackendChoice::Auto => {
            match albert_lens::backend::GpuBackend::headless() {
                Ok(g) => Some(g),
                Err(e) => {
                    println!("no GPU benchmark: {e}\n");
                    None
                }
            }
        }
    };
    if let Some(mut gpu) = gpu {
        if let Some(n) = gpu.set_precision(precision) {
            println!("note: {n}\n");
        }
        println!(
            "GPU benchmark on {} ({}), median of {iters} runs\n",
            gpu.context().adapter_name(),
            if gpu.is_fast() {
                "fast: weight products on cooperative matrices, f16 inputs"
            } else {
                "exact: f32"
            }
        );
        let rows = bench::run_gpu(&mut gpu, models, tokens, iters)?;
        println!("{}", bench::GpuRow::markdown_header());
        for r in rows {
            println!("{}", r.markdown());
        }
        if matmul {
            println!();
            for l in bench::run_gpu_matmul(&gpu, tokens, iters.max(3))? {
                println!("{l}");
            }
        }
        println!();
    }
    if matches!(backend, BackendChoice::Cpu | BackendChoice::Both) {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        println!("CPU benchmark, {cores} cores, median of {iters} runs\n");
        let rows = bench::run_cpu(models, tokens, iters)?;
        println!("{}", bench::BenchRow::markdown_header());
        for r in rows {
            println!("{}", r.markdown());
        }
    }
    Ok(())
}
