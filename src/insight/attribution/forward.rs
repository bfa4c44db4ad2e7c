//! The model's forward pass from operations candle differentiates, in f64: the same computation
//! as the CPU backend, with every attention map's heads multiplied by a gate ξ (1 = as the
//! model is, 0 = switched off: what `--ablate` and the former transformers `head_mask` do), and
//! the read-outs attributions and head importance differentiate: an MLM logit, a task head's
//! logits.

use crate::error::{LensError, Result};
use crate::model::weights::{LayerNormWeights, Linear};
use crate::model::{Ablation, EncodedInput, LoadedModel};
use candle_core::{DType, Device, Tensor, D};

pub(super) fn f64t(t: &Tensor) -> candle_core::Result<Tensor> {
    t.to_dtype(DType::F64)
}

fn linear(x: &Tensor, l: &Linear) -> candle_core::Result<Tensor> {
    x.matmul(&f64t(&l.w)?)?.broadcast_add(&f64t(&l.b)?)
}

/// LayerNorm over the last dimension from differentiable operations.
fn layer_norm(x: &Tensor, ln: &LayerNormWeights, eps: f64) -> candle_core::Result<Tensor> {
    ln.apply(x, eps)
}

/// The gate `[maps, heads]` of an ablation (0 for the heads switched off), None when no head is.
pub(crate) fn gate_of(model: &LoadedModel, ablate: &Ablation) -> Result<Option<Tensor>> {
    if ablate.is_empty() {
        return Ok(None);
    }
    let (maps, heads) = (
        model.config.num_attention_maps(),
        model.config.num_attention_heads,
    );
    let values: Vec<f64> = (0..maps)
        .flat_map(|j| (0..heads).map(move |h| if ablate.off(j, h) { 0.0 } else { 1.0 }))
        .collect();
    Ok(Some(Tensor::from_vec(values, (maps, heads), &Device::Cpu)?))
}

/// The last hidden state `[N, H]` as a function of the word-embedding rows `word` `[N, E]`,
/// each map's attention probabilities multiplied by its row of `gate` `[maps, heads]`.
pub(crate) fn encoder(
    model: &LoadedModel,
    input: &EncodedInput,
    word: &Tensor,
    gate: Option<&Tensor>,
) -> Result<Tensor> {
    let cfg = &model.config;
    if cfg.modern.is_some() {
        return modern_encoder(model, word, gate);
    }
    let w = &model.weights;
    let n = input.len();
    let dev = Device::Cpu;
    let e = &w.embeddings;
    let types = Tensor::from_slice(&cfg.fed_type_ids(&input.type_ids), n, &dev)?;
    let positions = Tensor::from_slice(&cfg.position_ids(&input.ids), n, &dev)?;
    let x = match &e.position {
        Some(p) => (word + f64t(&p.index_select(&positions, 0)?)?)?,
        None => word.clone(),
    };
    let x = (x + f64t(&e.token_type.index_select(&types, 0)?)?)?;
    let mut x = layer_norm(&x, &e.ln, cfg.layer_norm_eps)?;
    if let Some(p) = &e.projection {
        x = linear(&x, p)?;
    }
    let (heads, d, h) = (cfg.num_attention_heads, cfg.head_dim(), cfg.hidden_size);
    let split = |t: Tensor| -> candle_core::Result<Tensor> {
        t.reshape((n, heads, d))?.transpose(0, 1)?.contiguous()
    };
    // DeBERTa: the normed relative table and every (i, j)'s row of it, for every head
    // DeBERTa: the normed relative table's rows the input reads and every (i, j)'s row among
    // them, once for every layer (and every step of an attribution)
    let relative = match (&cfg.relative, &w.relative) {
        (Some(r), Some(rw)) => {
            let read = r.reads(n);
            let index = Tensor::from_vec(read.index, (1, n, n), &dev)?
                .broadcast_as((heads, n, n))?
                .contiguous()?;
            let table = rw
                .rows(cfg.layer_norm_eps)?
                .narrow(0, read.first, read.rows)?;
            Some((r, f64t(&table)?, index))
        }
        _ => None,
    };
    let factor = relative.as_ref().map_or(1, |(r, _, _)| r.scale_factor());
    let scale = 1.0 / ((d * factor) as f64).sqrt();
    let mut j = 0;
    for i in 0..cfg.num_hidden_layers {
        for layer in &w.groups[cfg.group_of_layer(i)] {
            let qkv = linear(&x, &layer.qkv)?;
            let q = split(qkv.narrow(1, 0, h)?)?;
            let k = split(qkv.narrow(1, h, h)?)?;
            let v = split(qkv.narrow(1, 2 * h, h)?)?;
            let mut s = (q.matmul(&k.transpose(1, 2)?.contiguous()?)? * scale)?;
            if let Some((r, table, index)) = &relative {
                s = (s + relative_terms((r, table, index), layer, (&q, &k), scale)?)?;
            }
            let s = s
                .broadcast_sub(&s.max_keepdim(D::Minus1)?.detach())?
                .exp()?;
            let mut probs = s.broadcast_div(&s.sum_keepdim(D::Minus1)?)?;
            if let Some(g) = gate {
                probs = probs.broadcast_mul(&g.narrow(0, j, 1)?.reshape((heads, 1, 1))?)?;
            }
            j += 1;
            let ctx = probs
                .matmul(&v)?
                .transpose(0, 1)?
                .contiguous()?
                .reshape((n, h))?;
            let attn_ln = layer.attn_ln.as_ref().ok_or_else(no_norm)?;
            let attn = layer_norm(
                &(&x + linear(&ctx, &layer.attn_out)?)?,
                attn_ln,
                cfg.layer_norm_eps,
            )?;
            let ff = cfg.hidden_act.apply_tensor(&linear(&attn, &layer.ffn)?)?;
            x = layer_norm(
                &(&attn + linear(&ff, &layer.ffn_out)?)?,
                &layer.out_ln,
                cfg.layer_norm_eps,
            )?;
        }
    }
    Ok(x)
}

/// DeBERTa's disentangled terms `[heads, n, n]` of one layer: c2p[i, j] = q_i · P_k[δ(i, j)]
/// and p2c[i, j] = k_j · P_q[δ(i, j)], each times `scale` (P_q, P_k: the layer's query and key
/// projections of the normed table's rows the input reads; δ: `index`, among those rows).
fn relative_terms(
    (r, table, index): (
        &crate::model::family::deberta::RelativeLayout,
        &Tensor,
        &Tensor,
    ),
    layer: &crate::model::weights::EncoderLayer,
    (q, k): (&Tensor, &Tensor),
    scale: f64,
) -> candle_core::Result<Tensor> {
    let (heads, n, d) = q.dims3()?;
    let h = heads * d;
    let rows = table.dim(0)?;
    // P_q | P_k: the query and key columns of the fused projection only
    let pos = table
        .matmul(&f64t(&layer.qkv.w.narrow(1, 0, 2 * h)?)?)?
        .broadcast_add(&f64t(&layer.qkv.b.narrow(0, 0, 2 * h)?)?)?;
    let per_head = |t: Tensor| -> candle_core::Result<Tensor> {
        t.reshape((rows, heads, d))?.transpose(0, 1)?.contiguous()
    };
    let mut terms = Tensor::zeros((heads, n, n), DType::F64, q.device())?;
    if r.c2p {
        let pk = per_head(pos.narrow(1, h, h)?)?;
        let c = q.matmul(&pk.transpose(1, 2)?.contiguous()?)?;
        terms = (terms + (c.gather(index, 2)? * scale)?)?;
    }
    if r.p2c {
        let pq = per_head(pos.narrow(1, 0, h)?)?;
        let p = k.matmul(&pq.transpose(1, 2)?.contiguous()?)?;
        // p2c[i, j] = p[j, δ(i, j)]: gather row j at δ(i, j) (index transposed), then transpose
        let at = index.transpose(1, 2)?.contiguous()?;
        let g = p.gather(&at, 2)?.transpose(1, 2)?;
        terms = (terms + (g * scale)?)?;
    }
    Ok(terms)
}

fn no_norm() -> LensError {
    LensError::Compute("a post-LN layer without its attention norm".into())
}

/// [`encoder`] for ModernBERT: pre-norm layers (none before layer 0's attention), queries and
/// keys turned by the rotary embedding (its tables in f32, as transformers makes them), a
/// local layer's keys outside the window masked, the GeGLU feed-forward, the final norm.
fn modern_encoder(model: &LoadedModel, word: &Tensor, gate: Option<&Tensor>) -> Result<Tensor> {
    let cfg = &model.config;
    let m = cfg.modern.as_ref().ok_or_else(no_norm)?;
    let w = &model.weights;
    let eps = cfg.layer_norm_eps;
    let dev = Device::Cpu;
    let n = word.dim(0)?;
    let (heads, d, h, inter) = (
        cfg.num_attention_heads,
        cfg.head_dim(),
        cfg.hidden_size,
        cfg.intermediate_size,
    );
    let scale = 1.0 / (d as f64).sqrt();
    let split = |t: Tensor| -> candle_core::Result<Tensor> {
        t.reshape((n, heads, d))?.transpose(0, 1)?.contiguous()
    };
    let rotary = |theta: f64| -> candle_core::Result<(Tensor, Tensor)> {
        let (c, s) = crate::model::family::modernbert::rope_tables(theta, n, d);
        let t = |v: Vec<f32>| f64t(&Tensor::from_vec(v, (n, d), &dev)?);
        Ok((t(c)?, t(s)?))
    };
    let rotate = |t: &Tensor, (cos, sin): &(Tensor, Tensor)| -> candle_core::Result<Tensor> {
        let half = d / 2;
        let turned = Tensor::cat(
            &[&t.narrow(2, half, half)?.neg()?, &t.narrow(2, 0, half)?],
            2,
        )?;
        t.broadcast_mul(cos)?.add(&turned.broadcast_mul(sin)?)
    };
    let (global, local) = (rotary(m.global_theta)?, rotary(m.local_theta)?);
    // a local layer's mask `[n, n]`: 0 within the window, −∞ beyond (one window for the model)
    let local_mask: Vec<f64> = (0..n * n)
        .map(|ij| match (ij / n).abs_diff(ij % n) <= m.window {
            true => 0.0,
            false => f64::NEG_INFINITY,
        })
        .collect();
    let local_mask = Tensor::from_vec(local_mask, (n, n), &dev)?;
    let mut x = layer_norm(word, &w.embeddings.ln, eps)?;
    for i in 0..cfg.num_hidden_layers {
        let layer = &w.groups[i][0];
        let a = match &layer.attn_ln {
            Some(ln) => layer_norm(&x, ln, eps)?,
            None => x.clone(),
        };
        let qkv = linear(&a, &layer.qkv)?;
        let window = m.window_of(i);
        let tables = if window.is_some() { &local } else { &global };
        let q = rotate(&split(qkv.narrow(1, 0, h)?)?, tables)?;
        let k = rotate(&split(qkv.narrow(1, h, h)?)?, tables)?;
        let v = split(qkv.narrow(1, 2 * h, h)?)?;
        let mut s = (q.matmul(&k.transpose(1, 2)?.contiguous()?)? * scale)?;
        if window.is_some() {
            s = s.broadcast_add(&local_mask)?;
        }
        let s = s
            .broadcast_sub(&s.max_keepdim(D::Minus1)?.detach())?
            .exp()?;
        let mut probs = s.broadcast_div(&s.sum_keepdim(D::Minus1)?)?;
        if let Some(g) = gate {
            probs = probs.broadcast_mul(&g.narrow(0, i, 1)?.reshape((heads, 1, 1))?)?;
        }
        let ctx = probs
            .matmul(&v)?
            .transpose(0, 1)?
            .contiguous()?
            .reshape((n, h))?;
        x = (&x + linear(&ctx, &layer.attn_out)?)?;
        let y = linear(&layer_norm(&x, &layer.out_ln, eps)?, &layer.ffn)?;
        let act = cfg.hidden_act.apply_tensor(&y.narrow(1, 0, inter)?)?;
        let glu = act.mul(&y.narrow(1, inter, inter)?)?;
        x = (&x + linear(&glu, &layer.ffn_out)?)?;
    }
    let ln = w.final_norm.as_ref().ok_or_else(no_norm)?;
    Ok(layer_norm(&x, ln, eps)?)
}

/// The MLM head's transform (dense, activation, LayerNorm) of row `pos` of the last hidden
/// state `x`: `[1, E']`, what the decoder turns into logits.
fn mlm_transform(model: &LoadedModel, x: &Tensor, pos: usize) -> Result<Tensor> {
    let cfg = &model.config;
    let head = model.weights.mlm.as_ref().ok_or_else(no_mlm_head)?;
    let y = cfg
        .mlm_activation()
        .apply_tensor(&linear(&x.narrow(0, pos, 1)?, &head.dense)?)?;
    Ok(layer_norm(&y, &head.ln, cfg.layer_norm_eps)?)
}

/// The MLM logit of `target` at `pos` from the last hidden state `x` (one decoder row).
pub(crate) fn mlm_logit(
    model: &LoadedModel,
    x: &Tensor,
    (pos, target): (usize, u32),
) -> Result<Tensor> {
    let y = mlm_transform(model, x, pos)?;
    let head = model.weights.mlm.as_ref().ok_or_else(no_mlm_head)?;
    let row = f64t(&head.decoder.narrow(0, target as usize, 1)?)?;
    let bias = f64t(&head.bias.narrow(0, target as usize, 1)?)?;
    Ok((y.mul(&row)?.sum_all()? + bias.sum_all()?)?)
}

/// The MLM logits `[V]` at `pos` from the last hidden state `x`.
pub(crate) fn mlm_logits(model: &LoadedModel, x: &Tensor, pos: usize) -> Result<Tensor> {
    let y = mlm_transform(model, x, pos)?;
    let head = model.weights.mlm.as_ref().ok_or_else(no_mlm_head)?;
    let logits = y
        .matmul(&f64t(&head.decoder)?.t()?)?
        .broadcast_add(&f64t(&head.bias)?)?;
    Ok(logits.flatten_all()?)
}

/// The task head's logits from the last hidden state `x`: `[1, labels]` for sequence
/// classification (pooled [CLS]), `[N, labels]` for token classification, `[N, 2]` (start,
/// end) for question answering.
pub(crate) fn task_logits(model: &LoadedModel, x: &Tensor) -> Result<Tensor> {
    let head = model.weights.task.as_ref().ok_or_else(no_task_head)?;
    let z = linear(&head.pooled(x, model.config.layer_norm_eps)?, &head.out)?;
    if head.spec.replaced_token {
        // ELECTRA's discriminator: logits (0, z)
        return Ok(Tensor::cat(&[&z.zeros_like()?, &z], 1)?);
    }
    Ok(z)
}

/// One task logit: row `row`, column `col` of [`task_logits`].
pub(crate) fn task_logit(
    model: &LoadedModel,
    x: &Tensor,
    (row, col): (usize, usize),
) -> Result<Tensor> {
    let logits = task_logits(model, x)?;
    Ok(logits.narrow(0, row, 1)?.narrow(1, col, 1)?.sum_all()?)
}

pub(crate) fn no_mlm_head() -> LensError {
    LensError::Analysis(
        "this checkpoint has no masked-LM head (it was saved as a bare encoder or with a task head), so there is no word prediction to attribute"
            .into(),
    )
}

pub(crate) fn no_task_head() -> LensError {
    LensError::Analysis(
        "this checkpoint has no fine-tuned task head (config.json's architectures name no sequence-classification, token-classification or question-answering model)".into(),
    )
}
