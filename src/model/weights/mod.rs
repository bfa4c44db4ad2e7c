//! The weights of an ALBERT or BERT model, checked against its config and laid out for compute:
//! linear weights are stored transposed (`[in, out]`), Q, K and V fused into one `[H, 3H]`
//! matrix. An ALBERT layer group is held once and used by every layer that shares it.
//! ModernBERT's weights are read by [`modern`]; [`taker`] takes the tensors by name and
//! checks them.

mod head;
mod modern;
mod taker;

pub use head::{HeadRows, TaskHead};

use crate::error::{LensError, Result};
use crate::model::config::ModelConfig;
use crate::model::family::{Family, TokenTypes};
use crate::model::tensors::TensorMap;
use candle_core::{Device, Tensor};
use std::collections::BTreeSet;
use std::path::Path;
use taker::Taker;

/// y = x · w + b with `w` stored `[in, out]`.
#[derive(Debug, Clone)]
pub struct Linear {
    pub w: Tensor,
    pub b: Tensor,
}

#[derive(Debug, Clone)]
pub struct LayerNormWeights {
    pub w: Tensor,
    pub b: Tensor,
}

impl LayerNormWeights {
    /// LayerNorm over the last dimension from differentiable tensor operations, in `x`'s dtype
    /// (the f64 forward's, a task head's): (x − mean) / √(var + ε) · w + b.
    pub fn apply(&self, x: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
        let dt = x.dtype();
        let mean = x.mean_keepdim(candle_core::D::Minus1)?;
        let centred = x.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(candle_core::D::Minus1)?;
        let normed = centred.broadcast_div(&(var + eps)?.sqrt()?)?;
        normed
            .broadcast_mul(&self.w.to_dtype(dt)?)?
            .broadcast_add(&self.b.to_dtype(dt)?)
    }
}

/// One transformer layer (BERT layer, or one inner layer of an ALBERT group).
#[derive(Debug, Clone)]
pub struct EncoderLayer {
    /// Q, K, V fused: `[H, 3H]`, columns Q | K | V.
    pub qkv: Linear,
    pub attn_out: Linear,
    /// post-LN: the norm after the attention; ModernBERT: the norm before it (None in layer
    /// 0, whose input is the embeddings' norm)
    pub attn_ln: Option<LayerNormWeights>,
    pub ffn: Linear,
    pub ffn_out: Linear,
    pub out_ln: LayerNormWeights,
}

#[derive(Debug, Clone)]
pub struct Embeddings {
    /// `[V, E]`
    pub word: Tensor,
    /// `[P, E]` (None with rotary positions)
    pub position: Option<Tensor>,
    /// `[T, E]`
    pub token_type: Tensor,
    pub ln: LayerNormWeights,
    /// ALBERT's factorized-embedding projection E -> H.
    pub projection: Option<Linear>,
}

/// DeBERTa's relative embedding table `[2·span, H]` and its LayerNorm (`norm_rel_ebd`).
#[derive(Debug, Clone)]
pub struct RelativeWeights {
    pub table: Tensor,
    pub norm: Option<LayerNormWeights>,
}

impl RelativeWeights {
    /// The table every layer projects: through its norm when it has one (f32, as the
    /// forward pass computes it).
    pub fn rows(&self, eps: f64) -> candle_core::Result<Tensor> {
        match &self.norm {
            Some(n) => candle_nn::ops::layer_norm(&self.table, &n.w, &n.b, eps as f32),
            None => Ok(self.table.clone()),
        }
    }
}

/// The masked-LM head: transform (dense, activation, layernorm) then decoder to the vocabulary.
#[derive(Debug, Clone)]
pub struct MlmHead {
    pub dense: Linear,
    pub ln: LayerNormWeights,
    /// `[V, E']` (E' = E for ALBERT, H for BERT), often tied to the word embeddings.
    pub decoder: Tensor,
    pub bias: Tensor,
    pub tied: bool,
}

/// Source of [`ModelWeights::id`].
static NEXT_WEIGHTS_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_weights_id() -> u64 {
    NEXT_WEIGHTS_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

#[derive(Debug, Clone)]
pub struct ModelWeights {
    /// Unique per loaded set of weights: backends key their device copies by it.
    pub id: u64,
    pub embeddings: Embeddings,
    /// ALBERT: `num_hidden_groups` groups of `inner_group_num` layers. BERT: one per layer.
    pub groups: Vec<Vec<EncoderLayer>>,
    /// ModernBERT's norm after the last layer (the last hidden state is its output)
    pub final_norm: Option<LayerNormWeights>,
    /// DeBERTa's relative embeddings
    pub relative: Option<RelativeWeights>,
    pub mlm: Option<MlmHead>,
    /// The fine-tuned head config.json's `architectures` names, when the file has it.
    pub task: Option<TaskHead>,
    /// Parameters stored in the checkpoint and used by the model, shared ones counted once.
    pub param_count: usize,
    /// Float dtypes found in the file (e.g. "F16").
    pub stored_dtypes: BTreeSet<&'static str>,
    /// The word-embedding table as host floats `[V, E]`, made on first use (vocabulary mode
    /// searches it on every click).
    pub word_rows: std::sync::OnceLock<std::sync::Arc<Vec<f32>>>,
}

/// Tensors a checkpoint may carry that the views do not use (pretraining heads, unused task
/// heads, buffers, the second copy of a tied bias).
fn ignorable(name: &str, family: &Family) -> bool {
    const PREFIXES: [&str; 10] = [
        "pooler.",
        "mask_predictions.",
        "sop_classifier.",
        "cls.seq_relationship.",
        "discriminator_predictions.",
        "pre_classifier.",
        "classifier.",
        "qa_outputs.",
        "embeddings.position_ids",
        "embeddings.token_type_ids",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p)) || name == family.mlm.bias_alias
}

/// Whether a tensor belongs to a task head (the head config.json names, or one it does not).
fn is_head_weight(name: &str) -> bool {
    [
        "classifier.",
        "pre_classifier.",
        "qa_outputs.",
        "discriminator_predictions.",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// The task head config.json names, taken out of the checkpoint (its shapes checked like every
/// other weight), and a sentence for the user when the config and the file disagree: a head
/// named but absent (the model opens as a bare encoder), or head weights the config names no
/// head for (they are not used).
fn take_task_head(t: &mut Taker, cfg: &ModelConfig) -> (Option<TaskHead>, Option<String>) {
    let head_weights: Vec<&String> = t.tensors.keys().filter(|k| is_head_weight(k)).collect();
    let Some(spec) = &cfg.task else {
        let warning = (!head_weights.is_empty()).then(|| {
            format!(
                "the checkpoint has task-head weights ({}) but config.json's architectures ({}) name no sequence-classification, token-classification or question-answering head, so they are not used",
                head_weights.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                if cfg.architectures.is_empty() { "none".to_string() } else { cfg.architectures.join(", ") }
            )
        });
        return (None, warning);
    };
    let (pooler, out) = spec.weight_prefixes(cfg);
    let needed: Vec<String> = pooler
        .into_iter()
        .chain([out])
        .map(|p| format!("{p}.weight"))
        .filter(|name| !t.tensors.contains_key(name))
        .collect();
    if !needed.is_empty() {
        return (
            None,
            Some(format!(
                "config.json names {} but the checkpoint has no {}: the model opens without its prediction",
                spec.architecture,
                needed.join(" or ")
            )),
        );
    }
    use crate::model::task_spec::TaskKind;
    let h = cfg.hidden_size;
    let modern = cfg.modern.as_ref();
    // the discriminator's dense layer uses hidden_act; a classifier's, the family's own
    let pooler_act = if spec.replaced_token {
        cfg.hidden_act
    } else if let Some(m) = modern {
        m.head_act
    } else if let Some(r) = &cfg.relative {
        r.pooler_act
    } else {
        let name = cfg.model_type.family().classifier.activation;
        crate::model::config::Activation::from_hf_name(name)
            .unwrap_or(crate::model::config::Activation::Tanh)
    };
    let rows = match (spec.kind, modern) {
        _ if spec.replaced_token => HeadRows::Each,
        (TaskKind::SequenceClassification, Some(m)) => match m.pooling {
            crate::model::family::modernbert::Pooling::Cls => HeadRows::First,
            crate::model::family::modernbert::Pooling::Mean => HeadRows::Mean,
        },
        (_, Some(_)) => HeadRows::Each,
        _ if pooler.is_some() => HeadRows::First,
        _ => HeadRows::Each,
    };
    let dense_bias = modern.is_none_or(|m| m.classifier_bias);
    let pooler = pooler.map(|p| t.linear_with(p, (h, h), dense_bias));
    // ModernBERT's prediction head ends in a norm
    let norm = modern.map(|m| t.norm_with("head.norm", h, m.norm_bias));
    let out = t.linear(out, h, spec.out_width());
    let head = match (pooler, norm, out) {
        (Some(None), _, _) | (_, Some(None), _) | (_, _, None) => None,
        (pooler, norm, Some(out)) => Some(TaskHead {
            spec: spec.clone(),
            pooler: pooler.flatten(),
            pooler_act,
            norm: norm.flatten(),
            rows,
            out,
        }),
    };
    (head, None)
}

/// A checkpoint's tensor name below the model: the family's base-model prefix ("roberta.")
/// left out, TF-era `gamma`/`beta` as `weight`/`bias`.
fn canonical_name(raw: &str, family: &Family) -> String {
    let n = raw
        .strip_prefix(family.prefix)
        .and_then(|r| r.strip_prefix('.'))
        .unwrap_or(raw);
    let mut s = n.to_string();
    // DeBERTa's newer MLM head has the legacy head's numbers under other names
    for (new, legacy) in [
        (
            "lm_predictions.lm_head.dense.",
            "cls.predictions.transform.dense.",
        ),
        (
            "lm_predictions.lm_head.LayerNorm.",
            "cls.predictions.transform.LayerNorm.",
        ),
        ("lm_predictions.lm_head.bias", "cls.predictions.bias"),
    ] {
        if let Some(rest) = s.strip_prefix(new) {
            s = format!("{legacy}{rest}");
        }
    }
    if let Some(stem) = s.strip_suffix(".gamma") {
        s = format!("{stem}.weight");
    } else if let Some(stem) = s.strip_suffix(".beta") {
        s = format!("{stem}.bias");
    }
    s
}

impl ModelWeights {
    /// The word-embedding table `[V, E]` as host floats, copied out once per model.
    pub fn word_table(&self) -> Result<std::sync::Arc<Vec<f32>>> {
        if let Some(t) = self.word_rows.get() {
            return Ok(t.clone());
        }
        let word = self.embeddings.word.to_dtype(candle_core::DType::F32)?;
        let table = std::sync::Arc::new(word.flatten_all()?.to_vec1::<f32>()?);
        Ok(self.word_rows.get_or_init(|| table).clone())
    }

    /// Builds the weights from a checkpoint's tensors, checking every name and shape against
    /// the config. Returns the weights and warnings for the user.
    pub fn from_tensors(
        cfg: &ModelConfig,
        map: TensorMap,
        dir: &Path,
    ) -> Result<(Self, Vec<String>)> {
        let family = cfg.model_type.family();
        let t = Taker::of(map, family, dir)?;
        if family.layout == crate::model::family::Layout::PreNormGlu {
            return modern::weights(cfg, t, dir);
        }
        Self::post_norm(cfg, t, dir)
    }

    /// [`Self::from_tensors`] for the post-LN families.
    fn post_norm(cfg: &ModelConfig, mut t: Taker, dir: &Path) -> Result<(Self, Vec<String>)> {
        let family = cfg.model_type.family();
        let (v, e, h, i) = (
            cfg.vocab_size,
            cfg.embedding_size,
            cfg.hidden_size,
            cfg.intermediate_size,
        );
        let word = t.tensor("embeddings.word_embeddings.weight", &[v, e]);
        // every row: RoBERTa's padding row is the position of a padding token in the text
        let position = match cfg.stored_position_rows() {
            0 => None,
            rows => Some(t.tensor("embeddings.position_embeddings.weight", &[rows, e])),
        };
        let token_type = match family.token_types {
            TokenTypes::Absent => Tensor::zeros((1, e), candle_core::DType::F32, &Device::Cpu).ok(),
            _ => t.tensor(
                "embeddings.token_type_embeddings.weight",
                &[cfg.type_vocab_size, e],
            ),
        };
        let emb_ln = t.layer_norm("embeddings.LayerNorm", e);
        let projection = match family.embedding {
            crate::model::family::EmbeddingWidth::Factorized { projection, .. }
                if cfg.has_projection() =>
            {
                Some(t.linear(projection, e, h))
            }
            _ => None,
        };
        let mut groups: Vec<Vec<Option<EncoderLayer>>> = Vec::new();
        for g in 0..cfg.num_hidden_groups {
            let mut inner = Vec::new();
            for k in 0..cfg.inner_group_num {
                let p = (family.layer_prefix)(g, k);
                let n = &family.layer;
                let name = |suffix: &str| format!("{p}.{suffix}");
                let qkv = t.qkv(&name(n.query), &name(n.key), &name(n.value), h);
                let attn_out = t.linear(&name(n.attention_out), h, h);
                let attn_ln = t.layer_norm(&name(n.attention_norm), h).map(Some);
                let ffn = t.linear(&name(n.ffn), h, i);
                let ffn_out = t.linear(&name(n.ffn_out), i, h);
                let out_ln = t.layer_norm(&name(n.out_norm), h);
                let layer = build_layer(qkv, attn_out, attn_ln, ffn, ffn_out, out_ln);
                inner.push(layer);
            }
            groups.push(inner);
        }
        let relative = cfg.relative.as_ref().map(|r| {
            let table = t.tensor("encoder.rel_embeddings.weight", &[r.rows(), h]);
            let norm = r.norm.then(|| t.layer_norm("encoder.LayerNorm", h));
            (table, norm)
        });
        let mlm = t.mlm_head(cfg, word.as_ref());
        let (task, task_warning) = take_task_head(&mut t, cfg);
        t.check(cfg, dir)?;
        let internal =
            |what: &str| LensError::Compute(format!("could not lay out {what} (out of memory?)"));
        let embeddings = Embeddings {
            word: word.ok_or_else(|| internal("the word embeddings"))?,
            position: match position {
                Some(p) => Some(p.ok_or_else(|| internal("the position embeddings"))?),
                None => None,
            },
            token_type: token_type.ok_or_else(|| internal("the token type embeddings"))?,
            ln: emb_ln.ok_or_else(|| internal("the embedding layernorm"))?,
            projection: match projection {
                Some(p) => Some(p.ok_or_else(|| internal("the embedding projection"))?),
                None => None,
            },
        };
        let groups = groups
            .into_iter()
            .map(|g| g.into_iter().collect::<Option<Vec<_>>>())
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| internal("a layer"))?;
        let relative = match relative {
            Some((table, norm)) => Some(RelativeWeights {
                table: table.ok_or_else(|| internal("the relative embeddings"))?,
                norm: match norm {
                    Some(n) => Some(n.ok_or_else(|| internal("the relative embeddings' norm"))?),
                    None => None,
                },
            }),
            None => None,
        };
        let (mut w, warnings) = t.finish(embeddings, groups, None, mlm, (task, task_warning));
        w.relative = relative;
        Ok((w, warnings))
    }
}

impl ModelWeights {
    /// Random weights for a config (benchmarks and tests of shapes): normal(0, 0.02) matrices,
    /// unit layernorms, as HF initializes.
    pub fn random(cfg: &ModelConfig, seed: u64) -> Result<Self> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut mat = |rows: usize, cols: usize| -> Result<Tensor> {
            let data: Vec<f32> = (0..rows * cols)
                .map(|_| (rng.random::<f32>() - 0.5) * 0.07)
                .collect();
            Ok(Tensor::from_vec(data, (rows, cols), &Device::Cpu)?)
        };
        let lin = |i: usize,
                   o: usize,
                   mat: &mut dyn FnMut(usize, usize) -> Result<Tensor>|
         -> Result<Linear> {
            Ok(Linear {
                w: mat(i, o)?,
                b: Tensor::zeros(o, candle_core::DType::F32, &Device::Cpu)?,
            })
        };
        let ln = |d: usize| -> Result<LayerNormWeights> {
            Ok(LayerNormWeights {
                w: Tensor::ones(d, candle_core::DType::F32, &Device::Cpu)?,
                b: Tensor::zeros(d, candle_core::DType::F32, &Device::Cpu)?,
            })
        };
        let (v, e, h, i) = (
            cfg.vocab_size,
            cfg.embedding_size,
            cfg.hidden_size,
            cfg.intermediate_size,
        );
        let embeddings = Embeddings {
            word: mat(v, e)?,
            position: match cfg.stored_position_rows() {
                0 => None,
                rows => Some(mat(rows, e)?),
            },
            token_type: mat(cfg.type_vocab_size, e)?,
            ln: ln(e)?,
            projection: if cfg.has_projection() {
                Some(lin(e, h, &mut mat)?)
            } else {
                None
            },
        };
        let modern = cfg.modern.is_some();
        let mut groups = Vec::new();
        for g in 0..cfg.num_hidden_groups {
            let mut inner = Vec::new();
            for _ in 0..cfg.inner_group_num {
                inner.push(EncoderLayer {
                    qkv: lin(h, 3 * h, &mut mat)?,
                    attn_out: lin(h, h, &mut mat)?,
                    // ModernBERT's layer 0 has no norm before its attention
                    attn_ln: if modern && g == 0 { None } else { Some(ln(h)?) },
                    ffn: lin(h, if modern { 2 * i } else { i }, &mut mat)?,
                    ffn_out: lin(i, h, &mut mat)?,
                    out_ln: ln(h)?,
                });
            }
            groups.push(inner);
        }
        let param_count = params_of_config(cfg);
        Ok(ModelWeights {
            id: next_weights_id(),
            embeddings,
            groups,
            final_norm: if modern { Some(ln(h)?) } else { None },
            relative: match &cfg.relative {
                Some(r) => Some(RelativeWeights {
                    table: mat(r.rows(), h)?,
                    norm: if r.norm { Some(ln(h)?) } else { None },
                }),
                None => None,
            },
            mlm: None,
            task: None,
            param_count,
            stored_dtypes: BTreeSet::from(["F32"]),
            word_rows: Default::default(),
        })
    }

    /// The layer that attention map `j` (HF `output_attentions` order) comes from:
    /// (outer layer, group, inner index).
    pub fn layer_of_attention(cfg: &ModelConfig, j: usize) -> (usize, usize, usize) {
        let outer = j / cfg.inner_group_num;
        (outer, cfg.group_of_layer(outer), j % cfg.inner_group_num)
    }

    /// The stored layer that attention map `j` runs (None past the model's maps).
    pub fn layer_for_map(&self, cfg: &ModelConfig, j: usize) -> Option<&EncoderLayer> {
        let (_, group, inner) = Self::layer_of_attention(cfg, j);
        self.groups.get(group).and_then(|g| g.get(inner))
    }
}

fn build_layer(
    qkv: Option<Linear>,
    attn_out: Option<Linear>,
    attn_ln: Option<Option<LayerNormWeights>>,
    ffn: Option<Linear>,
    ffn_out: Option<Linear>,
    out_ln: Option<LayerNormWeights>,
) -> Option<EncoderLayer> {
    Some(EncoderLayer {
        qkv: qkv?,
        attn_out: attn_out?,
        attn_ln: attn_ln?,
        ffn: ffn?,
        ffn_out: ffn_out?,
        out_ln: out_ln?,
    })
}

/// Parameters of the backbone a config describes (embeddings, projection, shared groups),
/// without pooler or heads.
pub fn params_of_config(cfg: &ModelConfig) -> usize {
    if let Some(m) = &cfg.modern {
        return modern::params(cfg, m);
    }
    let (v, e, h, i) = (
        cfg.vocab_size,
        cfg.embedding_size,
        cfg.hidden_size,
        cfg.intermediate_size,
    );
    let emb = (v + cfg.stored_position_rows() + cfg.stored_type_rows()) * e + 2 * e;
    let proj = if cfg.has_projection() { e * h + h } else { 0 };
    let layer = 4 * (h * h + h) + 2 * h + (h * i + i) + (i * h + h) + 2 * h;
    // DeBERTa's relative table and its norm
    let relative = cfg
        .relative
        .as_ref()
        .map_or(0, |r| r.rows() * h + if r.norm { 2 * h } else { 0 });
    emb + proj + cfg.num_hidden_groups * cfg.inner_group_num * layer + relative
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vocabulary mode's table is copied out of the tensor once per model, not per search.
    #[test]
    fn the_word_table_is_copied_once() {
        let cfg = crate::model::ModelConfig::from_json_bytes(
            br#"{"model_type":"albert","vocab_size":50,"embedding_size":8,"hidden_size":16,
                "num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":16}"#,
            Path::new("test"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let w = ModelWeights::random(&cfg, 3).unwrap_or_else(|e| panic!("{e}"));
        let (a, b) = (w.word_table(), w.word_table());
        let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
        assert!(std::sync::Arc::ptr_eq(&a, &b));
        assert_eq!(a.len(), 50 * 8);
    }

    #[test]
    fn canonical_names_strip_prefix_and_rename_gamma_beta() {
        use crate::model::family::{albert::ALBERT, bert::BERT, distilbert::DISTILBERT};
        assert_eq!(
            canonical_name("albert.embeddings.LayerNorm.gamma", &ALBERT),
            "embeddings.LayerNorm.weight"
        );
        assert_eq!(
            canonical_name("bert.encoder.layer.0.output.LayerNorm.beta", &BERT),
            "encoder.layer.0.output.LayerNorm.bias"
        );
        assert_eq!(
            canonical_name("predictions.bias", &ALBERT),
            "predictions.bias"
        );
        // only the model's own prefix goes: another family's stays, to be reported
        assert_eq!(
            canonical_name("bert.embeddings.word_embeddings.weight", &DISTILBERT),
            "bert.embeddings.word_embeddings.weight"
        );
        assert_eq!(
            canonical_name(
                "distilbert.transformer.layer.0.ffn.lin1.weight",
                &DISTILBERT
            ),
            "transformer.layer.0.ffn.lin1.weight"
        );
    }

    #[test]
    fn albert_base_backbone_has_11_7m_parameters() {
        // albert-base-v2: V 30000, E 128, H 768, 12 heads, I 3072, one group. HF reports
        // 11,683,584 parameters for AlbertModel including the 768x768 pooler (590,592).
        let cfg = ModelConfig::from_json_bytes(
            br#"{"model_type":"albert","vocab_size":30000,"embedding_size":128,"hidden_size":768,"num_attention_heads":12,"intermediate_size":3072}"#,
            Path::new("config.json"),
        )
        .unwrap();
        assert_eq!(params_of_config(&cfg) + 768 * 768 + 768, 11_683_584);
    }
}
