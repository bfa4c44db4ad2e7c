//! `albert-lens bench`: forward latency with every attention map and hidden state returned, for
//! ALBERT/BERT shapes with random weights, beside an in-run baseline (a chain of plain candle
//! matmuls with the same FLOP count) so that ratios, not absolute numbers on a noisy machine,
//! carry the comparison.

use crate::backend::{Backend, CpuBackend, GpuBackend};
use crate::error::Result;
use crate::model::{EncodedInput, ModelConfig, ModelWeights};
use std::path::Path;
use web_time::{Duration, Instant};

/// A named model shape (Table 1 of the ALBERT paper).
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    pub name: &'static str,
    pub json: &'static str,
}

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "albert-base",
        json: r#"{"model_type":"albert","vocab_size":30000,"embedding_size":128,"hidden_size":768,"num_hidden_layers":12,"num_attention_heads":12,"intermediate_size":3072,"hidden_act":"gelu_new"}"#,
    },
    Preset {
        name: "albert-large",
        json: r#"{"model_type":"albert","vocab_size":30000,"embedding_size":128,"hidden_size":1024,"num_hidden_layers":24,"num_attention_heads":16,"intermediate_size":4096,"hidden_act":"gelu_new"}"#,
    },
    Preset {
        name: "bert-base",
        json: r#"{"model_type":"bert","vocab_size":30522,"hidden_size":768,"num_hidden_layers":12,"num_attention_heads":12,"intermediate_size":3072,"hidden_act":"gelu"}"#,
    },
    Preset {
        name: "roberta-base",
        json: r#"{"model_type":"roberta","vocab_size":50265,"hidden_size":768,"num_hidden_layers":12,"num_attention_heads":12,"intermediate_size":3072,"hidden_act":"gelu","max_position_embeddings":514,"type_vocab_size":1,"pad_token_id":1,"layer_norm_eps":1e-5}"#,
    },
    Preset {
        name: "distilbert-base",
        json: r#"{"model_type":"distilbert","vocab_size":30522,"dim":768,"n_layers":6,"n_heads":12,"hidden_dim":3072,"activation":"gelu"}"#,
    },
    Preset {
        name: "modernbert-base",
        json: r#"{"model_type":"modernbert","vocab_size":50368,"hidden_size":768,"num_hidden_layers":22,"num_attention_heads":12,"intermediate_size":1152,"hidden_activation":"gelu","global_attn_every_n_layers":3,"local_attention":128,"max_position_embeddings":8192}"#,
    },
    Preset {
        name: "deberta-v3-base",
        json: r#"{"model_type":"deberta-v2","vocab_size":128100,"hidden_size":768,"num_hidden_layers":12,"num_attention_heads":12,"intermediate_size":3072,"hidden_act":"gelu","max_position_embeddings":512,"type_vocab_size":0,"relative_attention":true,"position_buckets":256,"max_relative_positions":-1,"pos_att_type":["p2c","c2p"],"share_att_key":true,"norm_rel_ebd":"layer_norm","position_biased_input":false,"layer_norm_eps":1e-7}"#,
    },
    Preset {
        name: "electra-small",
        json: r#"{"model_type":"electra","vocab_size":30522,"embedding_size":128,"hidden_size":256,"num_hidden_layers":12,"num_attention_heads":4,"intermediate_size":1024,"hidden_act":"gelu"}"#,
    },
];

pub fn preset_config(name: &str) -> Result<ModelConfig> {
    let p = PRESETS.iter().find(|p| p.name == name).ok_or_else(|| {
        crate::LensError::Unsupported(format!(
            "unknown model shape {name:?}; known: {}",
            PRESETS
                .iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    ModelConfig::from_json_bytes(p.json.as_bytes(), Path::new(p.name))
}

/// FLOPs of one forward pass (multiply-adds counted as 2).
pub fn forward_flops(cfg: &ModelConfig, n: usize) -> f64 {
    let (n, h, i, e) = (
        n as f64,
        cfg.hidden_size as f64,
        cfg.intermediate_size as f64,
        cfg.embedding_size as f64,
    );
    let layers = cfg.num_attention_maps() as f64;
    let proj = if cfg.has_projection() {
        2.0 * n * e * h
    } else {
        0.0
    };
    // ModernBERT's GeGLU input layer is H -> 2I
    let ffn = if cfg.modern.is_some() { 6.0 } else { 4.0 };
    layers * (8.0 * n * h * h + ffn * n * h * i + 4.0 * n * n * h) + proj
}

/// A deterministic input of `n` tokens (ids spread over the vocabulary, [CLS] ... [SEP]-like).
pub fn synthetic_input(cfg: &ModelConfig, n: usize) -> EncodedInput {
    EncodedInput::synthetic(n, cfg.vocab_size)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[derive(Debug, Clone)]
pub struct BenchRow {
    pub model: String,
    pub tokens: usize,
    pub backend: String,
    pub forward_ms: f64,
    pub gflop: f64,
    pub baseline_ms: f64,
}

impl BenchRow {
    pub fn markdown_header() -> &'static str {
        "| model | N | backend | forward, all attentions + hidden states (ms) | GFLOP | GFLOP/s | plain candle matmuls, same FLOPs (ms) | forward / baseline |\n|---|---|---|---|---|---|---|---|"
    }
    pub fn markdown(&self) -> String {
        format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} |",
            self.model,
            self.tokens,
            self.backend,
            self.forward_ms,
            self.gflop,
            self.gflop / (self.forward_ms / 1e3),
            self.baseline_ms,
            self.forward_ms / self.baseline_ms
        )
    }
}

/// Times a chain of `[N, H] x [H, 4H]` candle matmuls whose FLOPs add up to `flops`.
fn baseline_ms(cfg: &ModelConfig, n: usize, flops: f64, iters: usize) -> Result<f64> {
    use candle_core::{Device, Tensor};
    let h = cfg.hidden_size;
    let per = 2.0 * n as f64 * h as f64 * 4.0 * h as f64;
    let reps = (flops / per).round().max(1.0) as usize;
    let a = Tensor::ones((n, h), candle_core::DType::F32, &Device::Cpu)?;
    let b = Tensor::ones((h, 4 * h), candle_core::DType::F32, &Device::Cpu)?;
    let run = || -> Result<()> {
        for _ in 0..reps {
            let c = a.matmul(&b)?;
            std::hint::black_box(c);
        }
        Ok(())
    };
    run()?;
    let mut times = Vec::new();
    for _ in 0..iters {
        let t = Instant::now();
        run()?;
        times.push(t.elapsed());
    }
    Ok(median(times).as_secs_f64() * 1e3)
}

/// Runs the CPU benchmark for each model shape and token count.
pub fn run_cpu(models: &[String], tokens: &[usize], iters: usize) -> Result<Vec<BenchRow>> {
    let mut rows = Vec::new();
    let mut backend = CpuBackend::new();
    for name in models {
        let cfg = preset_config(name)?;
        let weights = ModelWeights::random(&cfg, 42)?;
        for &n in tokens {
            let input = synthetic_input(&cfg, n);
            let flops = forward_flops(&cfg, n);
            backend.forward(&cfg, &weights, &input)?; // warm-up
            let mut times = Vec::new();
            for _ in 0..iters {
                let t = Instant::now();
                let trace = backend.forward(&cfg, &weights, &input)?;
                times.push(t.elapsed());
                backend.recycle(trace);
            }
            let forward_ms = median(times).as_secs_f64() * 1e3;
            let base = baseline_ms(&cfg, n, flops, iters)?;
            let row = BenchRow {
                model: name.clone(),
                tokens: n,
                backend: backend.name(),
                forward_ms,
                gflop: flops / 1e9,
                baseline_ms: base,
            };
            eprintln!("{}", row.markdown());
            rows.push(row);
        }
    }
    Ok(rows)
}

/// One GPU forward-latency row.
#[derive(Debug, Clone)]
pub struct GpuRow {
    pub model: String,
    pub tokens: usize,
    pub compute_ms: f64,
    pub with_readback_ms: f64,
    pub host_copy_ms: f64,
    pub gflop: f64,
    pub weight_mb: f64,
}

impl GpuRow {
    pub fn markdown_header() -> &'static str {
        "| model | N | GPU compute, submit to done (ms) | with every attention + hidden state on the host (ms) | of which map + host copy (ms) | GFLOP | TFLOP/s (compute) | weights on GPU (MB) |\n|---|---|---|---|---|---|---|---|"
    }
    pub fn markdown(&self) -> String {
        format!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {:.2} | {:.1} |",
            self.model,
            self.tokens,
            self.compute_ms,
            self.with_readback_ms,
            self.host_copy_ms,
            self.gflop,
            self.gflop / self.compute_ms,
            self.weight_mb
        )
    }
}

/// Forward latency on the GPU for each model shape and token count (median of `iters`).
pub fn run_gpu(
    gpu: &mut GpuBackend,
    models: &[String],
    tokens: &[usize],
    iters: usize,
) -> Result<Vec<GpuRow>> {
    let mut rows = Vec::new();
    for name in models {
        let mut cfg = preset_config(name)?;
        let weights = ModelWeights::random(&cfg, 42)?;
        for &n in tokens {
            cfg.max_position_embeddings = cfg.max_position_embeddings.max(n + cfg.position_offset);
            let input = synthetic_input(&cfg, n);
            gpu.time_forward(&cfg, &weights, &input)?; // warm-up: upload, plan, pipelines
            let mut compute = Vec::new();
            let mut full = Vec::new();
            let mut host = Vec::new();
            for _ in 0..iters {
                let t = gpu.time_forward(&cfg, &weights, &input)?;
                compute.push(Duration::from_secs_f64(t.compute_ms / 1e3));
                full.push(Duration::from_secs_f64(t.with_readback_ms / 1e3));
                host.push(Duration::from_secs_f64(t.host_copy_ms / 1e3));
            }
            let row = GpuRow {
                model: name.clone(),
                tokens: n,
                compute_ms: median(compute).as_secs_f64() * 1e3,
                with_readback_ms: median(full).as_secs_f64() * 1e3,
                host_copy_ms: median(host).as_secs_f64() * 1e3,
                gflop: forward_flops(&cfg, n) / 1e9,
                weight_mb: gpu.weight_bytes(weights.id).unwrap_or(0) as f64 / 1e6,
            };
            eprintln!("{}", row.markdown());
            rows.push(row);
        }
    }
    Ok(rows)
}

/// GPU matmul throughput at a square size and at ALBERT-base's layer shapes.
pub fn run_gpu_matmul(gpu: &GpuBackend, tokens: &[usize], iters: usize) -> Result<Vec<String>> {
    let mut shapes = vec![(4096, 4096, 4096, "square".to_string())];
    for &n in tokens {
        shapes.push((n, 768, 2304, format!("ALBERT-base QKV, N={n}")));
        shapes.push((n, 768, 3072, format!("ALBERT-base FFN in, N={n}")));
        shapes.push((n, 3072, 768, format!("ALBERT-base FFN out, N={n}")));
    }
    use crate::backend::gpu::kernels::{pick_variant, variant_fits, VARIANTS};
    let mut lines = vec![
        "| matmul M x K x N | what | kernel (BM x BN, K step, kind) | ms | TFLOP/s |".to_string(),
        "|---|---|---|---|---|".to_string(),
    ];
    for (m, k, n, what) in shapes {
        if gpu.is_fast() {
            let ms = gpu.time_matmul((m, k, n), iters, None)?;
            let tflops = 2.0 * (m * k * n) as f64 / (ms / 1e3) / 1e12;
            let line = format!(
                "| {m} x {k} x {n} | {what} | cooperative matrices, 64x64, f16 in, f32 acc | {ms:.3} | {tflops:.1} |"
            );
            eprintln!("{line}");
            lines.push(line);
        }
        let picked = pick_variant(m as u32, k as u32, n as u32);
        // the picked kernel first, then every other that fits, to see the choice was right
        let mut order = vec![picked];
        order.extend((0..VARIANTS.len()).filter(|&v| v != picked));
        for v in order {
            if !variant_fits(VARIANTS[v], k as u32, n as u32) {
                continue;
            }
            let ms = gpu.time_matmul((m, k, n), iters, Some(v))?;
            let tflops = 2.0 * (m * k * n) as f64 / (ms / 1e3) / 1e12;
            let t = VARIANTS[v].tile;
            let kind = if VARIANTS[v].vec4 { "vec4" } else { "scalar" };
            let mark = if v == picked { " (picked)" } else { "" };
            let line = format!(
                "| {m} x {k} x {n} | {what} | {}x{} (K step {}) {kind}{mark} | {ms:.3} | {tflops:.1} |",
                t.bm, t.bn, t.bk
            );
            eprintln!("{line}");
            lines.push(line);
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flop_formula_matches_the_brief_for_albert_base() {
        // toolchain notes: ALBERT-base 22.4 GFLOP at N=128, 96.7 at N=512
        let cfg = preset_config("albert-base").unwrap();
        assert!((forward_flops(&cfg, 128) / 1e9 - 22.4).abs() < 0.1);
        assert!((forward_flops(&cfg, 512) / 1e9 - 96.7).abs() < 0.1);
    }
}

/// Texts of realistic length for the corpus benchmark: the first `count` lines of the built-in
/// corpus tokenized by albert-mini's tokenizer (cut at 128 tokens; its ids fit every preset's
/// vocabulary). `tools/bench/hf_corpus.py` makes the same inputs.
pub fn corpus_inputs(count: usize) -> Result<(crate::model::LensTokenizer, Vec<EncodedInput>)> {
    let dir = crate::model::builtin::folder("albert-mini")?;
    let config = ModelConfig::from_file(&dir.join("config.json"))?;
    let tok = crate::model::LensTokenizer::load(&dir, &config)?;
    let inputs = crate::corpus::BUILTIN
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(count)
        .map(|l| tok.encode(l, None, 128))
        .collect::<Result<Vec<_>>>()?;
    Ok((tok, inputs))
}

/// One corpus-throughput row: texts through the forward pass and the head statistics.
#[derive(Debug, Clone)]
pub struct CorpusRow {
    pub model: String,
    pub batch: usize,
    pub texts: usize,
    pub tokens: usize,
    pub seconds: f64,
}

impl CorpusRow {
    pub fn markdown_header() -> &'static str {
        "| model | batch | texts | tokens | albert-lens texts/s | tokens/s |\n|---|---|---|---|---|---|"
    }

    pub fn markdown(&self) -> String {
        format!(
            "| {} | {} | {} | {} | {:.1} | {:.0} |",
            self.model,
            self.batch,
            self.texts,
            self.tokens,
            self.texts as f64 / self.seconds,
            self.tokens as f64 / self.seconds
        )
    }
}

/// Corpus throughput: `count` built-in texts per model shape (random weights) and batch size,
/// bucketed by length as `corpus` does, each batch's statistics reduced (best of `iters`).
pub fn run_corpus(
    backend: &mut dyn Backend,
    models: &[String],
    batches: &[usize],
    count: usize,
    iters: usize,
) -> Result<Vec<CorpusRow>> {
    let (tokenizer, inputs) = corpus_inputs(count)?;
    let tokens: usize = inputs.iter().map(EncodedInput::len).sum();
    let mut rows = Vec::new();
    for name in models {
        let config = preset_config(name)?;
        let model = crate::model::LoadedModel {
            dir: Path::new(name).to_path_buf(),
            weights: ModelWeights::random(&config, 42)?,
            config,
            tokenizer: tokenizer.clone(),
            warnings: Vec::new(),
        };
        for &b in batches {
            let b = b.max(1);
            let mut best = f64::INFINITY;
            for _ in 0..iters.max(1) {
                let t = Instant::now();
                for window in inputs.chunks(b * crate::corpus::WINDOW_BATCHES) {
                    let mut window = window.to_vec();
                    for chunk in crate::corpus::buckets(&mut window, b) {
                        crate::corpus::reduce_batch(&model, backend, chunk)?;
                    }
                }
                best = best.min(t.elapsed().as_secs_f64());
            }
            let row = CorpusRow {
                model: name.clone(),
                batch: b,
                texts: inputs.len(),
                tokens,
                seconds: best,
            };
            eprintln!("{}", row.markdown());
            rows.push(row);
        }
    }
    Ok(rows)
}

/// `bench --contributions`: each context-mixing method's time (its matrices per layer and its
/// aggregate, one run) on random weights of each model shape at each token count, and the
/// process's peak resident memory after the runs of each shape. Flow runs only up to
/// [`crate::insight::mixing::FLOW_MAX_TOKENS`] tokens; value zeroing only up to
/// `vz_max_tokens` (its cost grows as N² rows through the feed-forward).
pub fn run_contributions(
    models: &[String],
    tokens: &[usize],
    vz_max_tokens: usize,
) -> Result<Vec<String>> {
    use crate::backend::{Backend, CpuBackend};
    use crate::insight::mixing::{compute, Method, FLOW_MAX_TOKENS};
    let mut rows = vec![
        "| model | N | method | ms | peak RSS so far (MB) |".to_string(),
        "|---|---|---|---|---|".to_string(),
    ];
    for name in models {
        let cfg = preset_config(name)?;
        let weights = crate::model::ModelWeights::random(&cfg, 1)?;
        for &n in tokens {
            let trace = CpuBackend::new().forward(&cfg, &weights, &synthetic_input(&cfg, n))?;
            // one untimed run first: the worker threads and the pages of this size in place
            compute(&cfg, &weights, &trace, &[Method::Attention], None)?;
            for m in Method::ALL {
                let skip = (m == Method::Flow && n > FLOW_MAX_TOKENS)
                    || (m == Method::ValueZeroing && n > vz_max_tokens);
                if skip {
                    continue;
                }
                let t0 = web_time::Instant::now();
                let c = compute(&cfg, &weights, &trace, &[m], None)?;
                let ms = t0.elapsed().as_secs_f64() * 1e3;
                drop(c);
                rows.push(format!(
                    "| {name} | {n} | {} | {ms:.0} | {:.0} |",
                    m.cli_name(),
                    peak_rss_mb()
                ));
                eprintln!("{}", rows.last().map_or("", String::as_str));
            }
        }
    }
    Ok(rows)
}

/// The process's peak resident set (VmHWM) in MB; 0 where /proc is not there.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
