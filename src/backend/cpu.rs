//! The CPU reference forward pass, written with candle tensors. It follows Hugging Face's
//! `AlbertModel` / `BertModel` (eager attention) step for step, so its outputs match
//! transformers' `output_hidden_states` and `output_attentions`.

use crate::backend::Backend;
use crate::error::Result;
use crate::model::config::{Activation, ModelConfig};
use crate::model::weights::{EncoderLayer, LayerNormWeights, Linear, ModelWeights};
use crate::model::{EncodedInput, ForwardOptions, Internals, MapInternals, Trace};
use candle_core::{DType, Device, Tensor};

#[derive(Debug, Default, Clone, Copy)]
pub struct CpuBackend;

impl CpuBackend {
    pub fn new() -> Self {
        CpuBackend
    }
}

fn linear(x: &Tensor, l: &Linear) -> candle_core::Result<Tensor> {
    x.matmul(&l.w)?.broadcast_add(&l.b)
}

fn layer_norm(x: &Tensor, ln: &LayerNormWeights, eps: f64) -> candle_core::Result<Tensor> {
    candle_nn::ops::layer_norm(x, &ln.w, &ln.b, eps as f32)
}

/// `act(x · w + b)` for the feed-forward layer: the bias and activation are applied in one
/// parallel pass over the matmul output (candle's own GELU runs on one core and dominated the
/// profile after the matmuls).
fn linear_act(x: &Tensor, l: &Linear, act: Activation) -> candle_core::Result<Tensor> {
    use rayon::prelude::*;
    let y = x.matmul(&l.w)?;
    let (rows, cols) = y.dims2()?;
    let mut data = y.flatten_all()?.to_vec1::<f32>()?;
    let bias = l.b.to_vec1::<f32>()?;
    let rows_per_chunk = rows.div_ceil(rayon::current_num_threads().max(1)).max(1);
    // one loop per activation, so that each is inlined and vectorized (a match inside the loop
    // kept it scalar)
    fn run(data: &mut [f32], bias: &[f32], chunk: usize, f: impl Fn(f32) -> f32 + Sync) {
        data.par_chunks_mut(chunk).for_each(|chunk| {
            for row in chunk.chunks_exact_mut(bias.len()) {
                for (v, b) in row.iter_mut().zip(bias) {
                    *v = f(*v + b);
                }
            }
        });
    }
    let chunk = rows_per_chunk * cols;
    match act {
        Activation::Gelu => run(&mut data, &bias, chunk, |v| Activation::Gelu.apply(v)),
        Activation::GeluTanh => run(&mut data, &bias, chunk, |v| Activation::GeluTanh.apply(v)),
        Activation::Relu => run(&mut data, &bias, chunk, |v| v.max(0.0)),
        other => run(&mut data, &bias, chunk, move |v| other.apply(v)),
    }
    Tensor::from_vec(data, (rows, cols), x.device())
}

/// The fused QKV projection split into heads in one pass over the matmul output, parallel over
/// heads (instead of a bias add and three strided copies): q and v `[B·heads, N, d]`, q already
/// scaled by 1/sqrt(d), and k transposed to `[B·heads, d, N]` so that Q·Kᵀ reads both operands
/// contiguously (about 2x faster than a strided Kᵀ for that matmul alone at N = 512). `x` holds
/// `batch` sequences of N rows each.
fn qkv_heads(
    x: &Tensor,
    l: &Linear,
    (batch, heads, d): (usize, usize, usize),
) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
    use rayon::prelude::*;
    let y = x.matmul(&l.w)?;
    let (rows, cols) = y.dims2()?;
    let n = rows / batch.max(1);
    let h = heads * d;
    let data = y.flatten_all()?.to_vec1::<f32>()?;
    let bias = l.b.to_vec1::<f32>()?;
    let scale = 1.0 / (d as f32).sqrt();
    let mut q = vec![0f32; rows * h];
    let mut k = vec![0f32; rows * h];
    let mut v = vec![0f32; rows * h];
    q.par_chunks_mut(n * d)
        .zip(k.par_chunks_mut(n * d))
        .zip(v.par_chunks_mut(n * d))
        .enumerate()
        .for_each(|(bh, ((qh, kh), vh))| {
            let (b, hd) = (bh / heads, bh % heads);
            let (bq, bk, bv) = (
                &bias[hd * d..(hd + 1) * d],
                &bias[h + hd * d..h + (hd + 1) * d],
                &bias[2 * h + hd * d..2 * h + (hd + 1) * d],
            );
            for t in 0..n {
                let row = &data[(b * n + t) * cols..(b * n + t + 1) * cols];
                let (rq, rk, rv) = (
                    &row[hd * d..(hd + 1) * d],
                    &row[h + hd * d..h + (hd + 1) * d],
                    &row[2 * h + hd * d..2 * h + (hd + 1) * d],
                );
                // q and v: contiguous rows (vectorized); k: one column of kᵀ
                for ((o, x), y) in qh[t * d..(t + 1) * d].iter_mut().zip(rq).zip(bq) {
                    *o = (x + y) * scale;
                }
                for ((o, x), y) in vh[t * d..(t + 1) * d].iter_mut().zip(rv).zip(bv) {
                    *o = x + y;
                }
                for (c, (x, y)) in rk.iter().zip(bk).enumerate() {
                    kh[c * n + t] = x + y;
                }
            }
        });
    let dev = x.device();
    Ok((
        Tensor::from_vec(q, (batch * heads, n, d), dev)?,
        Tensor::from_vec(k, (batch * heads, d, n), dev)?,
        Tensor::from_vec(v, (batch * heads, n, d), dev)?,
    ))
}

/// Softmax over the last dimension, rows in parallel (candle's runs on one core: 5 ms a layer
/// for ALBERT-base at N = 512). exp(x - max) / sum in f32, as PyTorch computes it (its exp
/// vectorized, as [`crate::model::activation::exp`] is). Row r's keys
/// from `keys(r)` on are padding: probability 0, as transformers' additive mask (the dtype's
/// minimum) makes them.
fn softmax_rows(
    scores: &Tensor,
    keys: impl Fn(usize) -> usize + Sync,
) -> candle_core::Result<Tensor> {
    use rayon::prelude::*;
    let dims = scores.dims().to_vec();
    let n = dims.last().copied().unwrap_or(1).max(1);
    let mut data = scores.flatten_all()?.to_vec1::<f32>()?;
    data.par_chunks_mut(n).enumerate().for_each(|(r, row)| {
        let (row, pad) = row.split_at_mut(keys(r).clamp(1, n));
        pad.fill(0.0);
        // max and sum in eight lanes, the exp and the division element-wise: every pass
        // vectorizes (one running max or sum kept the loops scalar)
        let m = lanes(row, f32::NEG_INFINITY, |a, b| if b > a { b } else { a });
        for v in row.iter_mut() {
            *v = crate::model::activation::exp(*v - m);
        }
        let sum = lanes(row, 0.0, |a, b| a + b);
        for v in row.iter_mut() {
            *v /= sum;
        }
    });
    Tensor::from_vec(data, dims, scores.device())
}

/// `row` folded by `f` in eight independent lanes, then the lanes folded (so that the compiler
/// can keep the lanes in one vector register).
#[inline(always)]
fn lanes(row: &[f32], init: f32, f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; 8];
    let chunks = row.chunks_exact(8);
    let tail = chunks.remainder().iter().fold(init, |a, &b| f(a, b));
    for c in chunks {
        for l in 0..8 {
            acc[l] = f(acc[l], c[l]);
        }
    }
    acc.iter().fold(tail, |a, &b| f(a, b))
}

/// LayerNorm(x · w + b + residual): the matmul by candle, bias, residual and layernorm in one
/// parallel pass over the rows (three candle ops, each with its own thread-pool round, before).
fn linear_add_layernorm(
    x: &Tensor,
    l: &Linear,
    residual: &Tensor,
    ln: &LayerNormWeights,
    eps: f64,
) -> candle_core::Result<Tensor> {
    use rayon::prelude::*;
    let y = x.matmul(&l.w)?;
    let (rows, cols) = y.dims2()?;
    let mut data = y.flatten_all()?.to_vec1::<f32>()?;
    let res = residual.flatten_all()?.to_vec1::<f32>()?;
    let bias = l.b.to_vec1::<f32>()?;
    let (w, b) = (ln.w.to_vec1::<f32>()?, ln.b.to_vec1::<f32>()?);
    data.par_chunks_mut(cols)
        .zip(res.par_chunks(cols))
        .for_each(|(row, r)| {
            let mut sum = 0f64;
            for i in 0..cols {
                row[i] += bias[i] + r[i];
                sum += f64::from(row[i]);
            }
            let mean = sum / cols as f64;
            let var = row
                .iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / cols as f64;
            let inv = 1.0 / (var + eps).sqrt();
            for i in 0..cols {
                row[i] = ((f64::from(row[i]) - mean) * inv) as f32 * w[i] + b[i];
            }
        });
    Tensor::from_vec(data, (rows, cols), x.device())
}

/// What [`encoder_layer`] keeps besides its output.
enum Keep<'a> {
    Nothing,
    /// every intermediate of one sequence (`trace --internals`, Explain)
    All(&'a mut MapInternals),
    /// the values x·W_V + b_V, `[B·heads, N, d]` (corpus mode)
    Values(&'a mut Vec<f32>),
}

/// One transformer layer on `x` `[B·N, H]` (B sequences padded to N rows; sequence b's first
/// `lens[b]` rows are real): returns (output `[B·N, H]`, attention `[B·heads, N, N]`), with the
/// heads in `off` switched off (probabilities 0 after the softmax), filling `keep` with the
/// layer's intermediates.
fn encoder_layer(
    x: &Tensor,
    layer: &EncoderLayer,
    cfg: &ModelConfig,
    lens: &[usize],
    (off, keep): (&[usize], Keep<'_>),
) -> candle_core::Result<(Tensor, Tensor)> {
    let (rows, h) = x.dims2()?;
    let batch = lens.len().max(1);
    let n = rows / batch;
    let heads = cfg.num_attention_heads;
    let d = cfg.head_dim();
    let (q, k, v) = qkv_heads(x, &layer.qkv, (batch, heads, d))?;
    let scores = q.matmul(&k)?;
    let mut probs = softmax_rows(&scores, |r| lens.get(r / (heads * n)).copied().unwrap_or(n))?;
    if !off.is_empty() {
        let mut p = probs.flatten_all()?.to_vec1::<f32>()?;
        for b in 0..batch {
            for &hd in off {
                let m = b * heads + hd;
                p[m * n * n..(m + 1) * n * n].fill(0.0);
            }
        }
        probs = Tensor::from_vec(p, (batch * heads, n, n), x.device())?;
    }
    let ctx = probs
        .matmul(&v)?
        .reshape((batch, heads, n, d))?
        .transpose(1, 2)?
        .reshape((rows, h))?;
    let attn = linear_add_layernorm(&ctx, &layer.attn_out, x, &layer.attn_ln, cfg.layer_norm_eps)?;
    let ff = linear_act(&attn, &layer.ffn, cfg.hidden_act)?;
    let out = linear_add_layernorm(
        &ff,
        &layer.ffn_out,
        &attn,
        &layer.out_ln,
        cfg.layer_norm_eps,
    )?;
    if let Keep::Values(v_out) = keep {
        *v_out = flat(&v)?;
    } else if let Keep::All(m) = keep {
        // q and kᵀ above are scaled and transposed for speed: the projections are kept as
        // transformers computes them, x·W + b split into heads, from one more product
        let qkv = linear(x, &layer.qkv)?;
        [m.queries, m.keys, m.values] = MapInternals::split_qkv(&flat(&qkv)?, n, heads, d);
        m.scores = flat(&scores)?;
        m.context = flat(&ctx)?;
        m.attention_output = flat(&attn)?;
        m.intermediate = flat(&ff)?;
    }
    Ok((out, probs))
}

fn flat(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()
}

/// The embedding output `[N, E]` (before ALBERT's projection).
pub(crate) fn embed(
    weights: &ModelWeights,
    cfg: &ModelConfig,
    input: &EncodedInput,
) -> candle_core::Result<Tensor> {
    let n = input.ids.len();
    let dev = Device::Cpu;
    let ids = Tensor::from_slice(&input.ids, n, &dev)?;
    let types = Tensor::from_slice(&input.type_ids, n, &dev)?;
    let e = &weights.embeddings;
    let x = (e.word.index_select(&ids, 0)?
        + e.position.narrow(0, 0, n)?
        + e.token_type.index_select(&types, 0)?)?;
    layer_norm(&x, &e.ln, cfg.layer_norm_eps)
}

impl Backend for CpuBackend {
    fn name(&self) -> String {
        "cpu (candle)".into()
    }

    fn forward_with(
        &mut self,
        cfg: &ModelConfig,
        weights: &ModelWeights,
        input: &EncodedInput,
        opts: &ForwardOptions,
    ) -> Result<Trace> {
        self.validate_input(cfg, input)?;
        opts.ablate
            .check(cfg.num_attention_maps(), cfg.num_attention_heads)
            .map_err(crate::LensError::Unsupported)?;
        let capture = &opts.capture;
        let mut x = embed(weights, cfg, input)?;
        let mut internals = capture
            .any()
            .then(|| -> Result<Box<Internals>> {
                let ids = Tensor::from_slice(&input.ids, input.ids.len(), &Device::Cpu)?;
                Ok(Box::new(Internals {
                    embedding_size: cfg.embedding_size,
                    intermediate_size: cfg.intermediate_size,
                    word: flat(&weights.embeddings.word.index_select(&ids, 0)?)?,
                    embedded: flat(&x)?,
                    maps: Vec::new(),
                }))
            })
            .transpose()?;
        if let Some(p) = &weights.embeddings.projection {
            x = linear(&x, p)?;
        }
        let mut hidden: Vec<Tensor> = vec![x.clone()];
        let mut attentions: Vec<Tensor> = Vec::with_capacity(cfg.num_attention_maps());
        for i in 0..cfg.num_hidden_layers {
            let group = &weights.groups[cfg.group_of_layer(i)];
            for layer in group {
                let j = attentions.len();
                let mut keep = capture.wants(j).then(MapInternals::default);
                let off: Vec<usize> = (0..cfg.num_attention_heads)
                    .filter(|&h| opts.ablate.off(j, h))
                    .collect();
                let kept = keep.as_mut().map_or(Keep::Nothing, Keep::All);
                let (out, probs) = encoder_layer(&x, layer, cfg, &[input.len()], (&off, kept))?;
                if let Some(int) = &mut internals {
                    int.maps.push(keep);
                }
                x = out;
                attentions.push(probs);
                hidden.push(x.clone());
            }
        }
        let flat = |t: &Tensor| -> Result<Vec<f32>> { Ok(flat(t)?) };
        let mut trace = Trace::from_forward(
            cfg,
            input,
            hidden.iter().map(flat).collect::<Result<_>>()?,
            attentions.iter().map(flat).collect::<Result<_>>()?,
        );
        trace.internals = internals;
        Ok(trace)
    }

    fn forward_batch(
        &mut self,
        cfg: &ModelConfig,
        weights: &ModelWeights,
        inputs: &[EncodedInput],
        keep_values: bool,
    ) -> Result<Vec<Trace>> {
        for input in inputs {
            self.validate_input(cfg, input)?;
        }
        self.batch(cfg, weights, inputs, keep_values)
    }
}

/// Text `b`'s part of a batched `[B·heads, n, cols]` tensor: for each head, the first `rows`
/// rows (the text's own tokens, before the padding), each cut to its first `keep` columns.
fn text_blocks(
    all: &[f32],
    (b, heads): (usize, usize),
    (n, cols): (usize, usize),
    (rows, keep): (usize, usize),
) -> Vec<f32> {
    let mut out = Vec::with_capacity(heads * rows * keep);
    for hd in 0..heads {
        let block = (b * heads + hd) * n * cols;
        for r in 0..rows {
            let at = block + r * cols;
            out.extend_from_slice(&all[at..at + keep]);
        }
    }
    out
}

impl CpuBackend {
    /// [`Backend::forward_batch`]: the inputs padded to the longest and run as one batch.
    fn batch(
        &self,
        cfg: &ModelConfig,
        weights: &ModelWeights,
        inputs: &[EncodedInput],
        keep_values: bool,
    ) -> Result<Vec<Trace>> {
        let lens: Vec<usize> = inputs.iter().map(EncodedInput::len).collect();
        let n = lens.iter().copied().max().unwrap_or(0);
        let mut rows = Vec::with_capacity(inputs.len());
        for input in inputs {
            let e = embed(weights, cfg, input)?;
            let (len, width) = e.dims2()?;
            rows.push(if len < n {
                let pad = Tensor::zeros((n - len, width), DType::F32, &Device::Cpu)?;
                Tensor::cat(&[&e, &pad], 0)?
            } else {
                e
            });
        }
        let mut x = Tensor::cat(&rows, 0)?;
        if let Some(p) = &weights.embeddings.projection {
            x = linear(&x, p)?;
        }
        let mut hidden = vec![flat(&x)?];
        let mut attentions = Vec::with_capacity(cfg.num_attention_maps());
        let mut values = Vec::new();
        for i in 0..cfg.num_hidden_layers {
            for layer in &weights.groups[cfg.group_of_layer(i)] {
                let mut v = Vec::new();
                let keep = if keep_values {
                    Keep::Values(&mut v)
                } else {
                    Keep::Nothing
                };
                let (out, probs) = encoder_layer(&x, layer, cfg, &lens, (&[], keep))?;
                x = out;
                attentions.push(flat(&probs)?);
                hidden.push(flat(&x)?);
                if keep_values {
                    values.push(v);
                }
            }
        }
        let d = cfg.head_dim();
        let (h, heads) = (cfg.hidden_size, cfg.num_attention_heads);
        let traces = inputs
            .iter()
            .enumerate()
            .map(|(b, input)| {
                let len = lens[b];
                let states = hidden
                    .iter()
                    .map(|s| s[b * n * h..(b * n + len) * h].to_vec())
                    .collect();
                // attentions [B·heads, N, N] -> this text's [heads, len, len]
                let maps = attentions
                    .iter()
                    .map(|a| text_blocks(a, (b, heads), (n, n), (len, len)))
                    .collect();
                let mut trace = Trace::from_forward(cfg, input, states, maps);
                if keep_values {
                    // values [B·heads, N, d] -> this text's [heads, len, d]
                    let maps = values
                        .iter()
                        .map(|v: &Vec<f32>| {
                            Some(MapInternals {
                                values: text_blocks(v, (b, heads), (n, d), (len, d)),
                                ..MapInternals::default()
                            })
                        })
                        .collect();
                    trace.internals = Some(Box::new(Internals {
                        embedding_size: cfg.embedding_size,
                        intermediate_size: cfg.intermediate_size,
                        maps,
                        ..Internals::default()
                    }));
                }
                trace
            })
            .collect();
        Ok(traces)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_activations_match_the_f64_reference() {
        for act in Activation::ALL {
            let mut worst = 0.0f64;
            for i in -4000..=4000 {
                let x = i as f32 * 0.005;
                let want = act.apply_f64(f64::from(x));
                let got = f64::from(act.apply(x));
                worst = worst.max((got - want).abs() / want.abs().max(1.0));
            }
            assert!(worst < 1e-6, "{act:?}: worst relative error {worst:e}");
        }
    }
}
