//! ModernBERT's weights (see [`crate::model::family::modernbert`]): the word embeddings and
//! their norm, per layer `attn_norm` (not in layer 0), `attn.Wqkv` (Q, K and V stacked, as
//! the other families' fused matrix), `attn.Wo`, `mlp_norm`, `mlp.Wi` (H -> 2I: the GeGLU's
//! input half then its gate) and `mlp.Wo`, the final norm; biases only where the config turns
//! them on (zeros otherwise, so that one code path serves both).

use super::{Embeddings, EncoderLayer, ModelWeights, Taker};
use crate::error::{LensError, Result};
use crate::model::config::ModelConfig;
use crate::model::family::modernbert::ModernLayout;
use candle_core::{Device, Tensor};
use std::path::Path;

pub(super) fn weights(
    cfg: &ModelConfig,
    mut t: Taker,
    dir: &Path,
) -> Result<(ModelWeights, Vec<String>)> {
    let m = cfg
        .modern
        .as_ref()
        .ok_or_else(|| LensError::Compute("a ModernBERT config without its options".into()))?;
    let (v, h, i) = (cfg.vocab_size, cfg.hidden_size, cfg.intermediate_size);
    let word = t.tensor("embeddings.tok_embeddings.weight", &[v, h]);
    let emb_ln = t.norm_with("embeddings.norm", h, m.norm_bias);
    let family = cfg.model_type.family();
    let names = &family.layer;
    let mut layers = Vec::new();
    for layer in 0..cfg.num_hidden_layers {
        let p = (family.layer_prefix)(layer, 0);
        let name = |suffix: &str| format!("{p}.{suffix}");
        let attn_ln = match layer {
            0 => Some(None),
            _ => t
                .norm_with(&name(names.attention_norm), h, m.norm_bias)
                .map(Some),
        };
        layers.push(super::build_layer(
            t.linear_with(&name(names.query), (h, 3 * h), m.attention_bias),
            t.linear_with(&name(names.attention_out), (h, h), m.attention_bias),
            attn_ln,
            t.linear_with(&name(names.ffn), (h, 2 * i), m.mlp_bias),
            t.linear_with(&name(names.ffn_out), (i, h), m.mlp_bias),
            t.norm_with(&name(names.out_norm), h, m.norm_bias),
        ));
    }
    let final_norm = t.norm_with("final_norm", h, m.norm_bias);
    let mlm = t.mlm_head(cfg, word.as_ref());
    let task = super::take_task_head(&mut t, cfg);
    t.check(cfg, dir)?;
    let internal =
        |what: &str| LensError::Compute(format!("could not lay out {what} (out of memory?)"));
    let word = word.ok_or_else(|| internal("the word embeddings"))?;
    let embeddings = Embeddings {
        position: None,
        token_type: Tensor::zeros((1, h), candle_core::DType::F32, &Device::Cpu)?,
        ln: emb_ln.ok_or_else(|| internal("the embedding norm"))?,
        projection: None,
        word,
    };
    let layers = layers
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| internal("a layer"))?;
    let groups = layers.into_iter().map(|l: EncoderLayer| vec![l]).collect();
    let final_norm = final_norm.ok_or_else(|| internal("the final norm"))?;
    Ok(t.finish(embeddings, groups, Some(final_norm), mlm, task))
}

/// The backbone's parameters as transformers counts them (`ModernBertModel`).
pub(super) fn params(cfg: &ModelConfig, m: &ModernLayout) -> usize {
    let (v, h, i, l) = (
        cfg.vocab_size,
        cfg.hidden_size,
        cfg.intermediate_size,
        cfg.num_hidden_layers,
    );
    let norm = if m.norm_bias { 2 * h } else { h };
    let lin = |a: usize, b: usize, bias: bool| a * b + if bias { b } else { 0 };
    let layer = lin(h, 3 * h, m.attention_bias)
        + lin(h, h, m.attention_bias)
        + lin(h, 2 * i, m.mlp_bias)
        + lin(i, h, m.mlp_bias)
        + 2 * norm;
    // the embeddings and their norm, the layers (layer 0 without its attention norm), the
    // final norm
    v * h + norm + l * layer - norm.min(l * layer) + norm
}
