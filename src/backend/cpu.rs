//! The CPU reference forward pass, written with candle tensors. It follows Hugging Face's
//! `AlbertModel` / `BertModel` (eager attention) step for step, so its outputs match
//! transformers' `output_hidden_states` and `output_attentions`.

use crate::backend::Backend;
use crate::error::{LensError, Result};
use crate::model::config::{Activation, ModelConfig};
use crate::model::weights::{EncoderLayer, LayerNormWeights, Linear, ModelWeights};
use crate::model::{EncodedInput, Trace};
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

pub(crate) fn activate(x: &Tensor, act: Activation) -> candle_core::Result<Tensor> {
    match act {
        Activation::Gelu => x.gelu_erf(),
        Activation::GeluTanh => x.gelu(),
        Activation::QuickGelu => x.mul(&candle_nn::ops::sigmoid(&(x * 1.702)?)?),
        Activation::Relu => x.relu(),
        Activation::Relu6 => x.clamp(0f32, 6f32),
        Activation::Silu => x.silu(),
        Activation::Mish => {
            // softplus(x) = max(x, 0) + ln(1 + exp(-|x|)), stable for large |x|
            let sp = (x.relu()? + ((x.abs()?.neg()?.exp()? + 1.0)?.log()?))?;
            x.mul(&sp.tanh()?)
        }
        Activation::Tanh => x.tanh(),
        Activation::Sigmoid => candle_nn::ops::sigmoid(x),
        Activation::Linear => Ok(x.clone()),
    }
}

/// One transformer layer on `x` `[N, H]`: returns (output `[N, H]`, attention `[heads, N, N]`).
pub(crate) fn encoder_layer(
    x: &Tensor,
    layer: &EncoderLayer,
    cfg: &ModelConfig,
) -> candle_core::Result<(Tensor, Tensor)> {
    let (n, h) = x.dims2()?;
    let heads = cfg.num_attention_heads;
    let d = cfg.head_dim();
    let qkv = linear(x, &layer.qkv)?.reshape((n, 3, heads, d))?;
    // [N, heads, d] -> [heads, N, d]
    let q = qkv
        .narrow(1, 0, 1)?
        .squeeze(1)?
        .transpose(0, 1)?
        .contiguous()?;
    let k = qkv
        .narrow(1, 1, 1)?
        .squeeze(1)?
        .transpose(0, 1)?
        .contiguous()?;
    let v = qkv
        .narrow(1, 2, 1)?
        .squeeze(1)?
        .transpose(0, 1)?
        .contiguous()?;
    let scale = 1.0 / (d as f64).sqrt();
    let scores = (q.matmul(&k.t()?)? * scale)?;
    let probs = candle_nn::ops::softmax_last_dim(&scores)?;
    let ctx = probs.matmul(&v)?.transpose(0, 1)?.reshape((n, h))?;
    let attn = layer_norm(
        &(linear(&ctx, &layer.attn_out)? + x)?,
        &layer.attn_ln,
        cfg.layer_norm_eps,
    )?;
    let ff = activate(&linear(&attn, &layer.ffn)?, cfg.hidden_act)?;
    let out = layer_norm(
        &(linear(&ff, &layer.ffn_out)? + &attn)?,
        &layer.out_ln,
        cfg.layer_norm_eps,
    )?;
    Ok((out, probs))
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

/// Checks what a forward pass needs of its input; shared by every backend.
pub fn validate_input(cfg: &ModelConfig, input: &EncodedInput) -> Result<()> {
    let n = input.ids.len();
    if n == 0 {
        return Err(LensError::EmptyInput);
    }
    if n > cfg.max_position_embeddings {
        return Err(LensError::Unsupported(format!(
            "{n} tokens is more than the model's {} positions",
            cfg.max_position_embeddings
        )));
    }
    if input.type_ids.len() != n {
        return Err(LensError::Compute(
            "token type ids and ids differ in length".into(),
        ));
    }
    if let Some(&bad) = input.ids.iter().find(|&&i| i as usize >= cfg.vocab_size) {
        return Err(LensError::Unsupported(format!(
            "token id {bad} is outside the model's vocabulary of {}",
            cfg.vocab_size
        )));
    }
    if let Some(&bad) = input
        .type_ids
        .iter()
        .find(|&&i| i as usize >= cfg.type_vocab_size)
    {
        return Err(LensError::Unsupported(format!(
            "segment id {bad} is outside the model's {} segment types",
            cfg.type_vocab_size
        )));
    }
    Ok(())
}

impl Backend for CpuBackend {
    fn name(&self) -> String {
        "cpu (candle)".into()
    }

    fn forward(
        &mut self,
        cfg: &ModelConfig,
        weights: &ModelWeights,
        input: &EncodedInput,
    ) -> Result<Trace> {
        validate_input(cfg, input)?;
        let mut x = embed(weights, cfg, input)?;
        if let Some(p) = &weights.embeddings.projection {
            x = linear(&x, p)?;
        }
        let mut hidden: Vec<Tensor> = vec![x.clone()];
        let mut attentions: Vec<Tensor> = Vec::with_capacity(cfg.num_attention_maps());
        for i in 0..cfg.num_hidden_layers {
            let group = &weights.groups[cfg.group_of_layer(i)];
            for layer in group {
                let (out, probs) = encoder_layer(&x, layer, cfg)?;
                x = out;
                attentions.push(probs);
                hidden.push(x.clone());
            }
        }
        let flat = |t: &Tensor| -> Result<Vec<f32>> {
            Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
        };
        let mut warnings = Vec::new();
        if let Some(w) = input.truncation_warning() {
            warnings.push(w);
        }
        let trace = Trace {
            model_type: cfg.model_type,
            tokens: input.tokens.clone(),
            input_ids: input.ids.clone(),
            token_type_ids: input.type_ids.clone(),
            special: input.special.clone(),
            hidden_size: cfg.hidden_size,
            num_heads: cfg.num_attention_heads,
            hidden_states: hidden.iter().map(flat).collect::<Result<_>>()?,
            attentions: attentions.iter().map(flat).collect::<Result<_>>()?,
            warnings,
        };
        Ok(trace)
    }
}
