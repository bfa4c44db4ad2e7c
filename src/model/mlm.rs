//! The masked-LM head applied to hidden states: what the layer lens decodes every layer with.

use super::config::ModelConfig;
use super::weights::MlmHead;
use crate::error::{LensError, Result};
use candle_core::{Device, Tensor};

impl MlmHead {
    /// Masked-LM logits `[N, V]` (row-major) for one hidden state `[N, H]`: dense ->
    /// the head's activation (`hidden_act`, or the family's fixed one) -> layernorm -> decoder (tied to the word embeddings or not) + bias, as HF's
    /// AlbertMLMHead / BertLMPredictionHead.
    pub fn logits(&self, cfg: &ModelConfig, hidden: &[f32]) -> Result<Vec<f32>> {
        let h = cfg.hidden_size;
        if h == 0 || !hidden.len().is_multiple_of(h) {
            return Err(LensError::Compute(format!(
                "a hidden state of {} values is not a whole number of rows of {h}",
                hidden.len()
            )));
        }
        let n = hidden.len() / h;
        let x = Tensor::from_slice(hidden, (n, h), &Device::Cpu)?;
        let y = x.matmul(&self.dense.w)?.broadcast_add(&self.dense.b)?;
        let (rows, cols) = y.dims2()?;
        let head_act = cfg.mlm_activation();
        let act: Vec<f32> = y
            .flatten_all()?
            .to_vec1::<f32>()?
            .into_iter()
            .map(|v| head_act.apply(v))
            .collect();
        let t = Tensor::from_vec(act, (rows, cols), &Device::Cpu)?;
        let t = candle_nn::ops::layer_norm(&t, &self.ln.w, &self.ln.b, cfg.layer_norm_eps as f32)?;
        let logits = t.matmul(&self.decoder.t()?)?.broadcast_add(&self.bias)?;
        Ok(logits.flatten_all()?.to_vec1::<f32>()?)
    }
}
