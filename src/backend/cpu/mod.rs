//! The CPU reference forward pass. It follows Hugging Face's `AlbertModel` / `BertModel`
//! (eager attention) step for step, so its outputs match transformers' `output_hidden_states`
//! and `output_attentions`. The embeddings run on candle tensors; the layers run on host
//! buffers ([`layer`]), reading the weights where candle holds them, with the `gemm` crate's
//! kernels for the products ([`gemm`]).

mod gemm;
mod layer;

/// Compiles a function for the widest vectors the CPU has (see the macro in `layer`).
pub(crate) use layer::widest;

use crate::backend::Backend;
use crate::error::{LensError, Result};
use crate::model::config::ModelConfig;
use crate::model::weights::{EncoderLayer, LayerNormWeights, Linear, ModelWeights};
use crate::model::{EncodedInput, ForwardOptions, Internals, MapInternals, Trace};
use candle_core::{DType, Device, Tensor};

/// The CPU backend. It keeps its scratch buffers, and the vectors of traces handed back to
/// [`Backend::recycle`], from one pass to the next (fresh memory costs a page fault per 4 KiB:
/// 150 MB of attention maps for ALBERT-base at N = 512).
#[derive(Default)]
pub struct CpuBackend {
    scratch: layer::Scratch,
    spare: Vec<Vec<f32>>,
}

impl std::fmt::Debug for CpuBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CpuBackend")
    }
}

/// Most f32 values kept in recycled vectors (1 GiB).
const MAX_SPARE_FLOATS: usize = 256 << 20;

impl CpuBackend {
    pub fn new() -> Self {
        CpuBackend::default()
    }

    /// A vector of `len` floats whose contents the caller overwrites: a recycled one when
    /// there is one (its pages already mapped in; only what it lacks is zeroed).
    fn vector(&mut self, len: usize) -> Vec<f32> {
        let mut v = crate::backend::take_spare(&mut self.spare, len);
        v.truncate(len);
        v.resize(len, 0.0);
        v
    }
}

/// A tensor's host floats, borrowed where candle keeps them (the weights are contiguous f32
/// on the CPU).
struct Host<'a> {
    guard: candle_core::StorageRef<'a>,
    range: std::ops::Range<usize>,
}

impl<'a> Host<'a> {
    fn of(t: &'a Tensor) -> Result<Self> {
        let (guard, layout) = t.storage_and_layout();
        let range = match layout.contiguous_offsets() {
            Some((a, b)) if t.dtype() == DType::F32 => a..b,
            _ => {
                return Err(LensError::Compute(format!(
                    "a weight of shape {:?} is not contiguous f32 on the CPU",
                    t.dims()
                )))
            }
        };
        Ok(Host { guard, range })
    }

    fn slice(&self) -> Result<&[f32]> {
        match &*self.guard {
            candle_core::Storage::Cpu(c) => Ok(&c.as_slice::<f32>()?[self.range.clone()]),
            #[allow(unreachable_patterns)]
            _ => Err(LensError::Compute("a weight is not on the CPU".into())),
        }
    }
}

/// A weight and its bias as host floats.
struct Pair<'a> {
    w: Host<'a>,
    b: Host<'a>,
}

impl<'a> Pair<'a> {
    fn of(w: &'a Tensor, b: &'a Tensor) -> Result<Self> {
        Ok(Pair {
            w: Host::of(w)?,
            b: Host::of(b)?,
        })
    }

    fn linear(&self) -> Result<layer::Linear<'_>> {
        Ok(layer::Linear {
            w: self.w.slice()?,
            b: self.b.slice()?,
        })
    }

    fn norm(&self) -> Result<layer::Norm<'_>> {
        Ok(layer::Norm {
            w: self.w.slice()?,
            b: self.b.slice()?,
        })
    }
}

/// The host floats of every weight of one layer, borrowed for a pass.
struct LayerHosts<'a> {
    qkv: Pair<'a>,
    attn_out: Pair<'a>,
    attn_ln: Option<Pair<'a>>,
    ffn: Pair<'a>,
    ffn_out: Pair<'a>,
    out_ln: Pair<'a>,
}

impl<'a> LayerHosts<'a> {
    fn of(l: &'a EncoderLayer) -> Result<Self> {
        let lin = |x: &'a Linear| Pair::of(&x.w, &x.b);
        let ln = |x: &'a LayerNormWeights| Pair::of(&x.w, &x.b);
        Ok(LayerHosts {
            qkv: lin(&l.qkv)?,
            attn_out: lin(&l.attn_out)?,
            attn_ln: l.attn_ln.as_ref().map(ln).transpose()?,
            ffn: lin(&l.ffn)?,
            ffn_out: lin(&l.ffn_out)?,
            out_ln: ln(&l.out_ln)?,
        })
    }

    fn layer(&self) -> Result<layer::Layer<'_>> {
        Ok(layer::Layer {
            qkv: self.qkv.linear()?,
            attn_out: self.attn_out.linear()?,
            attn_ln: match &self.attn_ln {
                Some(n) => n.norm()?,
                None => layer::Norm { w: &[], b: &[] },
            },
            ffn: self.ffn.linear()?,
            ffn_out: self.ffn_out.linear()?,
            out_ln: self.out_ln.norm()?,
        })
    }
}

fn flat(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()
}

fn layer_norm(x: &Tensor, ln: &LayerNormWeights, eps: f64) -> candle_core::Result<Tensor> {
    candle_nn::ops::layer_norm(x, &ln.w, &ln.b, eps as f32)
}

/// The embedding output `[N, E]` (before ALBERT's projection).
fn embed(
    weights: &ModelWeights,
    cfg: &ModelConfig,
    input: &EncodedInput,
) -> candle_core::Result<Tensor> {
    let n = input.ids.len();
    let dev = Device::Cpu;
    let ids = Tensor::from_slice(&input.ids, n, &dev)?;
    let types = Tensor::from_slice(&cfg.fed_type_ids(&input.type_ids), n, &dev)?;
    let positions = Tensor::from_slice(&cfg.position_ids(&input.ids), n, &dev)?;
    let e = &weights.embeddings;
    let x = e.word.index_select(&ids, 0)?;
    if cfg.modern.is_some() {
        // ModernBERT: the word rows' norm, no positions or types
        return layer_norm(&x, &e.ln, cfg.layer_norm_eps);
    }
    let x = match &e.position {
        Some(p) => (x + p.index_select(&positions, 0)?)?,
        None => x,
    };
    let x = (x + e.token_type.index_select(&types, 0)?)?;
    layer_norm(&x, &e.ln, cfg.layer_norm_eps)
}

impl CpuBackend {
    /// The encoder over `x` `[B·N, H]` (texts padded to N rows, text b's first `lens[b]`
    /// real): every hidden state (x first) and every attention map `[B·heads, N, N]`. `keep(j)`
    /// says what map j keeps besides; `off(j)` lists its heads switched off.
    fn encode(
        &mut self,
        cfg: &ModelConfig,
        weights: &ModelWeights,
        x: Vec<f32>,
        lens: &[usize],
        mut keep: impl FnMut(usize) -> Option<Keeping>,
        off: impl Fn(usize) -> Vec<usize>,
    ) -> Result<Encoded> {
        let n = lens.iter().copied().max().unwrap_or(0);
        let (h, heads) = (cfg.hidden_size, cfg.num_attention_heads);
        let dims = layer::Dims {
            lens,
            n,
            hidden: h,
            heads,
            inter: cfg.intermediate_size,
            eps: cfg.layer_norm_eps,
            act: cfg.hidden_act,
            rel: None,
        };
        let rows = lens.len() * n;
        // DeBERTa: the (normed) relative table's rows the pass reads, every (i, j)'s row among
        // them, and 1 / √(d · (1 + terms)), once per pass
        let relative = match (&cfg.relative, &weights.relative) {
            (Some(r), Some(rw)) => {
                let whole = flat(&rw.rows(cfg.layer_norm_eps)?)?;
                let table = layer::relative::Table::new(&whole, r.reads(n), h);
                let inv_scale = 1.0 / ((cfg.head_dim() * r.scale_factor()) as f32).sqrt();
                Some((table, r, inv_scale))
            }
            _ => None,
        };
        let hosts: Vec<Vec<LayerHosts<'_>>> = weights
            .groups
            .iter()
            .map(|g| g.iter().map(LayerHosts::of).collect::<Result<_>>())
            .collect::<Result<_>>()?;
        let mut hidden = Vec::with_capacity(cfg.num_attention_maps() + 1);
        hidden.push(x);
        let mut attentions = Vec::with_capacity(cfg.num_attention_maps());
        let mut kept = Vec::with_capacity(cfg.num_attention_maps());
        let tables = Rotary::of(cfg, n);
        for i in 0..cfg.num_hidden_layers {
            for lh in &hosts[cfg.group_of_layer(i)] {
                let j = attentions.len();
                let w = lh.layer()?;
                let mut out = self.vector(rows * h);
                let mut probs = self.vector(lens.len() * heads * n * n);
                let x = hidden.last().map(Vec::as_slice).unwrap_or_default();
                let rel = relative.as_ref().map(|(table, r, inv_scale)| {
                    let terms = (r.c2p, r.p2c);
                    layer::relative::Relative::new((table, w.qkv), (h, heads), terms, *inv_scale)
                });
                let dims = layer::Dims {
                    rel: rel.as_ref(),
                    ..dims
                };
                let scratch = &mut self.scratch;
                let outs = (&mut out[..], &mut probs[..]);
                match (&tables, &cfg.modern) {
                    (Some(t), Some(m)) => {
                        let pos = t.positions(m.window_of(i));
                        layer::modern::run(x, &w, &dims, &pos, &off(j), scratch, outs);
                        kept.push(keep(j).map(|k| k.take(&w, &dims, scratch, true)));
                    }
                    _ => {
                        layer::run(x, &w, &dims, &off(j), scratch, outs);
                        kept.push(keep(j).map(|k| k.take(&w, &dims, scratch, false)));
                    }
                }
                hidden.push(out);
                attentions.push(probs);
            }
        }
        // ModernBERT's last hidden state is the final norm's output
        if let (Some(ln), Some(last)) = (&weights.final_norm, hidden.last_mut()) {
            let pair = Pair::of(&ln.w, &ln.b)?;
            layer::norm_rows(last, pair.norm()?, cfg.layer_norm_eps);
        }
        Ok((hidden, attentions, kept))
    }
}

/// The rotary tables of a pass over `n` rows, one per base (ModernBERT's global and local).
struct Rotary {
    global: (Vec<f32>, Vec<f32>),
    local: (Vec<f32>, Vec<f32>),
}

impl Rotary {
    fn of(cfg: &ModelConfig, n: usize) -> Option<Self> {
        let m = cfg.modern.as_ref()?;
        let d = cfg.head_dim();
        let table = |theta: f64| crate::model::family::modernbert::rope_tables(theta, n, d);
        Some(Rotary {
            global: table(m.global_theta),
            local: table(m.local_theta),
        })
    }

    /// A layer's tables: the local base with a window, else the global one.
    fn positions(&self, window: Option<usize>) -> layer::modern::Positions<'_> {
        let t = if window.is_some() {
            &self.local
        } else {
            &self.global
        };
        layer::modern::Positions {
            cos: &t.0,
            sin: &t.1,
            window,
        }
    }
}

/// The encoder's outputs: every hidden state (the input first), every attention map, and
/// what each map kept.
type Encoded = (Vec<Vec<f32>>, Vec<Vec<f32>>, Vec<Option<MapInternals>>);

/// What one map keeps of its layer's intermediates.
#[derive(Clone, Copy, PartialEq)]
enum Keeping {
    /// every intermediate of one sequence (`trace --internals`, Explain)
    All,
    /// the values x·W_V + b_V, `[B·heads, N, d]` (corpus mode)
    Values,
}

impl Keeping {
    /// What the map keeps from the pass's scratch. `rotated` (ModernBERT): the pass's q and k
    /// are the ones the scores use (turned by the rotary embedding, unscaled); else x·W + b is
    /// split again, as transformers has it (the pass's q is scaled).
    fn take(
        self,
        w: &layer::Layer<'_>,
        dims: &layer::Dims<'_>,
        s: &layer::Scratch,
        rotated: bool,
    ) -> MapInternals {
        if self == Keeping::Values {
            return MapInternals {
                values: s.v.clone(),
                ..MapInternals::default()
            };
        }
        let (n, heads) = (dims.n, dims.heads);
        let d = dims.hidden / heads.max(1);
        let (queries, keys, values) = if rotated {
            (s.q.clone(), s.k.clone(), s.v.clone())
        } else {
            let (mut q, mut k, mut v) = Default::default();
            layer::split_heads(&s.qkv, w.qkv.b, dims, 1.0, (&mut q, &mut k, &mut v));
            (q, k, v)
        };
        let scores = match dims.rel {
            // DeBERTa: q·k/s and the relative terms, from the pass's scaled q
            Some(rel) => relative_scores(rel, (&s.q, &s.k), (n, heads, d)),
            None => MapInternals::scores_of(&queries, &keys, n, heads, d),
        };
        // ModernBERT's attention output is a = x + Wo·ctx + b, its intermediate act(y₁) ⊙ y₂
        MapInternals {
            queries,
            keys,
            values,
            scores,
            context: s.ctx.clone(),
            attention_output: s.attn.clone(),
            intermediate: s.ff.clone(),
        }
    }
}

/// DeBERTa's scores before the softmax `[heads, n, n]`: (q/s)·kᵀ plus the relative terms, for
/// one unpadded sequence (`q` already times 1/s, as the pass keeps it).
fn relative_scores(
    rel: &layer::relative::Relative<'_>,
    (q, k): (&[f32], &[f32]),
    (n, heads, d): (usize, usize, usize),
) -> Vec<f32> {
    let mut out = vec![0f32; heads * n * n];
    for (hd, map) in out.chunks_exact_mut(n * n).enumerate() {
        let (qh, kh) = (
            &q[hd * n * d..(hd + 1) * n * d],
            &k[hd * n * d..(hd + 1) * n * d],
        );
        for i in 0..n {
            for j in 0..n {
                let qi = &qh[i * d..(i + 1) * d];
                let kj = &kh[j * d..(j + 1) * d];
                map[i * n + j] = qi.iter().zip(kj).map(|(a, b)| a * b).sum();
            }
        }
        rel.add(map, (qh, kh), hd, (n, n, d));
    }
    out
}

/// `x` `[rows, in]` through a linear layer: `[rows, out]`.
fn linear(x: &[f32], l: &Linear) -> Result<Vec<f32>> {
    let (w, b) = (Host::of(&l.w)?, Host::of(&l.b)?);
    let lin = layer::Linear {
        w: w.slice()?,
        b: b.slice()?,
    };
    Ok(lin.apply(x))
}

/// `a · b` of two `[n, n]` row-major matrices with the forward pass's product kernel, split
/// over the workers (context mixing's rollouts).
pub fn square_product(a: &[f32], b: &[f32], n: usize) -> Vec<f32> {
    let mut out = vec![0f32; n * n];
    if n > 0 && a.len() == n * n && b.len() == n * n {
        gemm::matmul(
            gemm::Mat::rows(a, n),
            gemm::Mat::rows(b, n),
            gemm::Out::new(&mut out, n),
            (n, n, n),
            false,
            true,
        );
    }
    out
}

/// LN1, the feed-forward and LN2 of attention map `j`'s layer over rows of LN1's input `p1`
/// `[rows, H]` (x + dense(context) + b_O), as the forward pass runs them: the layer's output
/// rows, and with `sigma2` each row's LN2 divisor sqrt(var(a + FFN(a)) + ε) (ModernBERT: the
/// rows a + GeGLU(norm₂(a)) of a = p1, after the last layer through the final norm; no σ).
/// Context mixing
/// ([`crate::insight::mixing`]) runs it on every value-zeroed variant of a layer in one batch.
pub fn layer_tail(
    cfg: &ModelConfig,
    weights: &ModelWeights,
    j: usize,
    p1: &[f32],
    sigma2: bool,
) -> Result<(Vec<f32>, Vec<f64>)> {
    let stored = weights
        .layer_for_map(cfg, j)
        .ok_or_else(|| LensError::Compute(format!("the model has no layer for map {j}")))?;
    let hosts = LayerHosts::of(stored)?;
    let w = hosts.layer()?;
    let h = cfg.hidden_size;
    let rows = p1.len() / h.max(1);
    let dims = layer::Dims {
        lens: &[rows],
        n: rows,
        hidden: h,
        heads: cfg.num_attention_heads,
        inter: cfg.intermediate_size,
        eps: cfg.layer_norm_eps,
        act: cfg.hidden_act,
        rel: None,
    };
    let mut out = vec![0f32; rows * h];
    let mut scratch = layer::Scratch::default();
    if cfg.modern.is_some() {
        // ModernBERT: a + GeGLU(norm₂(a)) from a = p1, and after the last layer the final norm
        layer::modern::tail(p1, &w, &dims, &mut scratch, &mut out);
        let last = j + 1 == cfg.num_attention_maps();
        if let (true, Some(ln)) = (last, &weights.final_norm) {
            let pair = Pair::of(&ln.w, &ln.b)?;
            layer::norm_rows(&mut out, pair.norm()?, cfg.layer_norm_eps);
        }
        return Ok((out, Vec::new()));
    }
    let mut sig = vec![0f64; if sigma2 { rows } else { 0 }];
    layer::tail(
        p1,
        &w,
        &dims,
        &mut scratch,
        &mut out,
        sigma2.then_some(sig.as_mut_slice()),
    );
    Ok((out, sig))
}

impl Backend for CpuBackend {
    fn name(&self) -> String {
        "cpu".into()
    }

    fn forward_with(
        &mut self,
        cfg: &ModelConfig,
        weights: &ModelWeights,
        input: &EncodedInput,
        opts: &ForwardOptions,
    ) -> Result<Trace> {
        self.validate_options(cfg, input, opts)?;
        let capture = &opts.capture;
        let e = embed(weights, cfg, input)?;
        let mut internals = capture
            .any()
            .then(|| -> Result<Box<Internals>> {
                let ids = Tensor::from_slice(&input.ids, input.ids.len(), &Device::Cpu)?;
                Ok(Box::new(Internals {
                    embedding_size: cfg.embedding_size,
                    intermediate_size: cfg.intermediate_size,
                    word: flat(&weights.embeddings.word.index_select(&ids, 0)?)?,
                    embedded: flat(&e)?,
                    maps: Vec::new(),
                }))
            })
            .transpose()?;
        let mut x = flat(&e)?;
        if let Some(p) = &weights.embeddings.projection {
            x = linear(&x, p)?;
        }
        let heads = cfg.num_attention_heads;
        let (hidden, attentions, kept) = self.encode(
            cfg,
            weights,
            x,
            &[input.len()],
            |j| capture.wants(j).then_some(Keeping::All),
            |j| (0..heads).filter(|&h| opts.ablate.off(j, h)).collect(),
        )?;
        if let Some(int) = &mut internals {
            int.maps = kept;
        }
        let mut trace = Trace::from_forward(cfg, input, hidden, attentions);
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
        // the inputs padded to the longest and run as one batch
        for input in inputs {
            self.validate_input(cfg, input)?;
        }
        let lens: Vec<usize> = inputs.iter().map(EncodedInput::len).collect();
        let n = lens.iter().copied().max().unwrap_or(0);
        let mut x = Vec::new();
        for input in inputs {
            let e = flat(&embed(weights, cfg, input)?)?;
            let width = e.len() / input.len().max(1);
            x.extend_from_slice(&e);
            x.resize(x.len() + (n - input.len()) * width, 0.0);
        }
        if let Some(p) = &weights.embeddings.projection {
            x = linear(&x, p)?;
        }
        let keep = keep_values.then_some(Keeping::Values);
        let (hidden, attentions, values) =
            self.encode(cfg, weights, x, &lens, |_| keep, |_| Vec::new())?;
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
                        .map(|v| {
                            v.as_ref().map(|v| MapInternals {
                                values: text_blocks(&v.values, (b, heads), (n, d), (len, d)),
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
        let vectors = hidden.into_iter().chain(attentions);
        crate::backend::keep_spare(&mut self.spare, vectors, MAX_SPARE_FLOATS);
        Ok(traces)
    }

    fn recycle(&mut self, trace: Trace) {
        let vectors = trace.attentions.into_iter().chain(trace.hidden_states);
        crate::backend::keep_spare(&mut self.spare, vectors, MAX_SPARE_FLOATS);
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

#[cfg(test)]
mod tests {
    use crate::model::config::Activation;

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

#[cfg(test)]
mod reuse_tests {
    use super::*;
    use crate::model::Ablation;

    /// A backend that has run (and been handed back) a longer pass, with a head switched off,
    /// gives a shorter text exactly what a fresh backend gives: recycled vectors and scratch
    /// buffers keep no value of the earlier pass.
    #[test]
    fn recycled_buffers_leave_no_trace_of_the_previous_pass() -> Result<()> {
        let cfg = ModelConfig::from_json_bytes(
            br#"{"model_type":"albert","vocab_size":300,"embedding_size":16,"hidden_size":32,"num_hidden_layers":3,"num_attention_heads":4,"intermediate_size":64,"hidden_act":"gelu_new","max_position_embeddings":64}"#,
            std::path::Path::new("tiny"),
        )?;
        let weights = ModelWeights::random(&cfg, 7)?;
        let input = |n: usize| EncodedInput::synthetic(n, 300);
        let (long, short) = (input(40), input(11));
        let fresh = CpuBackend::new().forward(&cfg, &weights, &short)?;
        let mut used = CpuBackend::new();
        let opts = ForwardOptions {
            ablate: Ablation(vec![(1, 2)]),
            ..ForwardOptions::default()
        };
        let first = used.forward_with(&cfg, &weights, &long, &opts)?;
        used.recycle(first);
        let again = used.forward(&cfg, &weights, &short)?;
        assert_eq!(again.attentions, fresh.attentions);
        assert_eq!(again.hidden_states, fresh.hidden_states);
        Ok(())
    }
}
