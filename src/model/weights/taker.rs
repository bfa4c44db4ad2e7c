//! Taking a checkpoint's tensors by canonical name: each checked against the shape the config
//! gives, and what is missing, misshaped, non-finite or left over recorded for one error.

use super::{
    canonical_name, ignorable, next_weights_id, Embeddings, EncoderLayer, LayerNormWeights, Linear,
    MlmHead, ModelWeights,
};
use crate::error::{LensError, Result, ShapeMismatch, WeightMismatch};
use crate::model::config::ModelConfig;
use crate::model::family::Family;
use crate::model::tensors::{HostTensor, TensorMap};
use candle_core::{Device, Tensor};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Takes tensors out of the map by canonical name, recording what is missing or misshaped.
pub(super) struct Taker {
    pub(super) tensors: BTreeMap<String, HostTensor>,
    pub(super) missing: Vec<String>,
    pub(super) misshaped: Vec<ShapeMismatch>,
    pub(super) used: BTreeSet<String>,
    pub(super) params: usize,
    pub(super) dtypes: BTreeSet<&'static str>,
    pub(super) non_finite: Vec<String>,
}

impl Taker {
    pub(super) fn take(&mut self, name: &str, shape: &[usize]) -> Option<HostTensor> {
        let Some(t) = self.tensors.get(name) else {
            if !self.used.contains(name) {
                self.missing.push(name.to_string());
            }
            return None;
        };
        if t.shape != shape {
            self.misshaped.push(ShapeMismatch {
                name: name.to_string(),
                expected: shape.to_vec(),
                found: t.shape.clone(),
            });
            self.tensors.remove(name);
            self.used.insert(name.to_string());
            return None;
        }
        let t = self.tensors.remove(name)?;
        self.used.insert(name.to_string());
        self.params += t.numel();
        self.dtypes.insert(t.stored_dtype);
        if t.data.iter().any(|v| !v.is_finite()) {
            self.non_finite.push(name.to_string());
        }
        Some(t)
    }

    pub(super) fn tensor(&mut self, name: &str, shape: &[usize]) -> Option<Tensor> {
        let t = self.take(name, shape)?;
        Tensor::from_vec(t.data, t.shape, &Device::Cpu).ok()
    }

    /// A PyTorch `nn.Linear` (weight `[out, in]`), stored transposed.
    pub(super) fn linear(&mut self, prefix: &str, in_dim: usize, out_dim: usize) -> Option<Linear> {
        let w = self.tensor(&format!("{prefix}.weight"), &[out_dim, in_dim]);
        let b = self.tensor(&format!("{prefix}.bias"), &[out_dim]);
        let w = w?.t().ok()?.contiguous().ok()?;
        Some(Linear { w, b: b? })
    }

    /// [`Self::linear`] where the layer may have no bias (`bias` false: zeros, and a stored
    /// one is left over and reported).
    pub(super) fn linear_with(
        &mut self,
        prefix: &str,
        (in_dim, out_dim): (usize, usize),
        bias: bool,
    ) -> Option<Linear> {
        if bias {
            return self.linear(prefix, in_dim, out_dim);
        }
        let w = self.tensor(&format!("{prefix}.weight"), &[out_dim, in_dim]);
        let w = w?.t().ok()?.contiguous().ok()?;
        Some(Linear {
            w,
            b: zeros(out_dim)?,
        })
    }

    /// [`Self::layer_norm`] where the norm may have no bias (`bias` false: zeros).
    pub(super) fn norm_with(
        &mut self,
        prefix: &str,
        dim: usize,
        bias: bool,
    ) -> Option<LayerNormWeights> {
        if bias {
            return self.layer_norm(prefix, dim);
        }
        let w = self.tensor(&format!("{prefix}.weight"), &[dim]);
        Some(LayerNormWeights {
            w: w?,
            b: zeros(dim)?,
        })
    }

    pub(super) fn layer_norm(&mut self, prefix: &str, dim: usize) -> Option<LayerNormWeights> {
        let w = self.tensor(&format!("{prefix}.weight"), &[dim]);
        let b = self.tensor(&format!("{prefix}.bias"), &[dim]);
        Some(LayerNormWeights { w: w?, b: b? })
    }

    pub(super) fn qkv(&mut self, q: &str, k: &str, v: &str, h: usize) -> Option<Linear> {
        let q = self.linear(q, h, h);
        let k = self.linear(k, h, h);
        let v = self.linear(v, h, h);
        let (q, k, v) = (q?, k?, v?);
        let w = Tensor::cat(&[&q.w, &k.w, &v.w], 1).ok()?;
        let b = Tensor::cat(&[&q.b, &k.b, &v.b], 0).ok()?;
        Some(Linear { w, b })
    }
}

impl Taker {
    /// The checkpoint's tensors by canonical name (two spellings of one name are an error).
    pub(super) fn of(map: TensorMap, family: &Family, dir: &Path) -> Result<Self> {
        let mut tensors = BTreeMap::new();
        let mut duplicates = Vec::new();
        for (raw, t) in map.tensors {
            let name = canonical_name(&raw, family);
            if tensors.insert(name.clone(), t).is_some() {
                duplicates.push(name);
            }
        }
        if !duplicates.is_empty() {
            return Err(LensError::Safetensors {
                path: dir.to_path_buf(),
                msg: format!(
                    "tensors appear both with and without the model prefix: {}",
                    duplicates.join(", ")
                ),
            });
        }
        Ok(Taker {
            tensors,
            missing: Vec::new(),
            misshaped: Vec::new(),
            used: BTreeSet::new(),
            params: 0,
            dtypes: BTreeSet::new(),
            non_finite: Vec::new(),
        })
    }

    /// The masked-LM head, when the checkpoint has one: its dense layer and its output bias or
    /// decoder (a classifier's head may share the dense layer's name, as ModernBERT's does).
    pub(super) fn mlm_head(&mut self, cfg: &ModelConfig, word: Option<&Tensor>) -> Option<MlmHead> {
        let names = &cfg.model_type.family().mlm;
        let has = |k: &str| self.tensors.contains_key(k);
        let dense_name = format!("{}.weight", names.dense);
        if !has(&dense_name) || !(has(names.bias) || has(names.bias_alias) || has(names.decoder)) {
            return None;
        }
        let (v, e, h) = (cfg.vocab_size, cfg.embedding_size, cfg.hidden_size);
        let head_dim = if names.on_embedding_width { e } else { h };
        let modern = cfg.modern.as_ref();
        let dense = self.linear_with(
            names.dense,
            (h, head_dim),
            modern.is_none_or(|m| m.classifier_bias),
        );
        let ln = self.norm_with(names.norm, head_dim, modern.is_none_or(|m| m.norm_bias));
        let (decoder, tied) = if self.tensors.contains_key(names.decoder) {
            (self.tensor(names.decoder, &[v, head_dim]), false)
        } else if head_dim == e {
            // tied to the word embeddings and left out of the file
            (word.cloned(), true)
        } else {
            self.missing.push(names.decoder.to_string());
            (None, false)
        };
        let bias = if modern.is_some_and(|m| !m.decoder_bias) {
            zeros(v)
        } else if self.tensors.contains_key(names.bias) {
            self.tensor(names.bias, &[v])
        } else {
            self.tensor(names.bias_alias, &[v])
        };
        Some(MlmHead {
            dense: dense?,
            ln: ln?,
            decoder: decoder?,
            bias: bias?,
            tied,
        })
    }

    /// Fails naming what is missing, misshaped or left over (and the family the names suggest
    /// when config.json names another).
    pub(super) fn check(&mut self, cfg: &ModelConfig, dir: &Path) -> Result<()> {
        let family = cfg.model_type.family();
        let mut unexpected: Vec<String> = self
            .tensors
            .keys()
            .filter(|k| !ignorable(k, family))
            .cloned()
            .collect();
        unexpected.sort();
        if self.missing.is_empty() && unexpected.is_empty() && self.misshaped.is_empty() {
            return Ok(());
        }
        let all_names: Vec<&String> = self.used.iter().chain(self.tensors.keys()).collect();
        // weights that only another family has betray a config naming the wrong one
        let hint = crate::model::family::ALL
            .into_iter()
            .filter(|f| f.name != family.name)
            .find(|f| all_names.iter().any(|n| n.contains(f.tell)))
            .map(|f| {
                format!(
                    "these look like {} weights ({}…): does config.json say model_type {:?} by mistake?",
                    f.title, f.tell, family.name
                )
            });
        Err(LensError::WeightMismatch(Box::new(WeightMismatch {
            dir: dir.to_path_buf(),
            model_type: cfg.model_type.to_string(),
            missing: std::mem::take(&mut self.missing),
            unexpected,
            misshaped: std::mem::take(&mut self.misshaped),
            hint,
        })))
    }

    /// The weights from their parts, with the warnings for the user.
    pub(super) fn finish(
        self,
        embeddings: Embeddings,
        groups: Vec<Vec<EncoderLayer>>,
        final_norm: Option<LayerNormWeights>,
        mlm: Option<MlmHead>,
        (task, task_warning): (Option<super::TaskHead>, Option<String>),
    ) -> (ModelWeights, Vec<String>) {
        let mut warnings: Vec<String> = task_warning.into_iter().collect();
        if !self.non_finite.is_empty() {
            warnings.push(format!(
                "{} tensors hold NaN or infinite values ({}): outputs will be NaN",
                self.non_finite.len(),
                self.non_finite.join(", ")
            ));
        }
        (
            ModelWeights {
                id: next_weights_id(),
                embeddings,
                groups,
                final_norm,
                relative: None,
                mlm,
                task,
                param_count: self.params,
                stored_dtypes: self.dtypes,
                word_rows: Default::default(),
            },
            warnings,
        )
    }
}

/// A vector of `n` zeros (a bias the checkpoint does not have).
pub(super) fn zeros(n: usize) -> Option<Tensor> {
    Tensor::zeros(n, candle_core::DType::F32, &Device::Cpu).ok()
}
