//! ModernBERT (Warner et al. 2024): pre-norm layers without biases (by default), Q, K and V in
//! one `Wqkv`, a GeGLU feed-forward (`Wi` H -> 2I: GELU of the first half times the second),
//! rotary positions instead of a position table, attention global in every n-th layer and
//! local (|i - j| <= local_attention / 2) in the others, a final norm, and a byte-level BPE
//! read from tokenizer.json as it is. The config's own options are [`ModernLayout`].

use super::bert::BERT;
use super::*;
use crate::model::activation::Activation;

pub const MODERNBERT: Family = Family {
    name: "modernbert",
    title: "ModernBERT",
    prefix: "model",
    tokenizer_class: "ModernBertTokenizer",
    tokenization: Tokenization::TokenizerJson,
    vocab_file: "tokenizer.json",
    defaults: ConfigDefaults {
        vocab_size: 50368,
        hidden_size: 768,
        num_hidden_layers: 22,
        num_attention_heads: 12,
        intermediate_size: 1152,
        hidden_act: "gelu",
        type_vocab_size: 1,
        pad_token_id: 50283,
        layer_norm_eps: 1e-5,
    },
    config_aliases: &[
        ("hidden_activation", "hidden_act"),
        ("norm_eps", "layer_norm_eps"),
    ],
    token_types: TokenTypes::Absent,
    positions: Positions::Rotary,
    layout: Layout::PreNormGlu,
    layer_prefix: |layer, _| format!("layers.{layer}"),
    layer: LayerNames {
        query: "attn.Wqkv",
        key: "attn.Wqkv",
        value: "attn.Wqkv",
        attention_out: "attn.Wo",
        attention_norm: "attn_norm",
        ffn: "mlp.Wi",
        ffn_out: "mlp.Wo",
        out_norm: "mlp_norm",
    },
    mlm: MlmNames {
        dense: "head.dense",
        norm: "head.norm",
        decoder: "decoder.weight",
        bias: "decoder.bias",
        bias_alias: "decoder.bias",
        on_embedding_width: false,
        activation: None,
    },
    classifier: ClassifierNames {
        dense: "head.dense",
        activation: "gelu",
        out: "classifier",
    },
    tell: "attn.Wqkv",
    // the rest as BERT: its special tokens, E = H, one set of weights per layer
    ..BERT
};

/// How the classifier pools the last hidden state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// the first token's row
    Cls,
    /// the mean over the tokens
    Mean,
}

/// ModernBERT's options from config.json, as transformers 5 reads them (both the Hub's
/// spellings and the ones its save_pretrained writes).
#[derive(Debug, Clone, PartialEq)]
pub struct ModernLayout {
    /// per layer: global attention (else local)
    pub global: Vec<bool>,
    /// a local layer's half window: key j is seen from query i when |i - j| <= window
    pub window: usize,
    /// RoPE's base in global and in local layers
    pub global_theta: f64,
    pub local_theta: f64,
    /// the prediction head's activation (`classifier_activation`)
    pub head_act: Activation,
    pub pooling: Pooling,
    pub norm_bias: bool,
    pub attention_bias: bool,
    pub mlp_bias: bool,
    pub decoder_bias: bool,
    pub classifier_bias: bool,
}

impl ModernLayout {
    /// Layer `i`'s local half window (None: global).
    pub fn window_of(&self, i: usize) -> Option<usize> {
        (!self.global.get(i).copied().unwrap_or(true)).then_some(self.window)
    }

    /// Layer `i`'s RoPE base.
    pub fn theta_of(&self, i: usize) -> f64 {
        match self.window_of(i) {
            Some(_) => self.local_theta,
            None => self.global_theta,
        }
    }

    /// Reads the options from config.json's fields; `layers` is num_hidden_layers. An option
    /// that would change the numbers and that albert-lens does not compute is an error naming
    /// it.
    pub fn from_config(v: &serde_json::Value, layers: usize) -> std::result::Result<Self, String> {
        let int = |k: &str, d: usize| -> std::result::Result<usize, String> {
            match v.get(k) {
                None | Some(serde_json::Value::Null) => Ok(d),
                Some(x) => x
                    .as_u64()
                    .and_then(|x| usize::try_from(x).ok())
                    .ok_or_else(|| format!("{k} {x} is not a whole number")),
            }
        };
        let flag = |k: &str, d: bool| -> std::result::Result<bool, String> {
            match v.get(k) {
                None | Some(serde_json::Value::Null) => Ok(d),
                Some(x) => x
                    .as_bool()
                    .ok_or_else(|| format!("{k} {x} is not true or false")),
            }
        };
        let global = match v.get("layer_types") {
            Some(serde_json::Value::Array(types)) => {
                if types.len() != layers {
                    return Err(format!(
                        "layer_types lists {} layers but num_hidden_layers is {layers}",
                        types.len()
                    ));
                }
                types
                    .iter()
                    .map(|t| match t.as_str() {
                        Some("full_attention") => Ok(true),
                        Some("sliding_attention") => Ok(false),
                        _ => Err(format!(
                            "layer_types has {t}; supported: \"full_attention\", \"sliding_attention\""
                        )),
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()?
            }
            None | Some(serde_json::Value::Null) => {
                let every = int("global_attn_every_n_layers", 3)?;
                if every == 0 {
                    return Err("global_attn_every_n_layers is 0".into());
                }
                (0..layers).map(|i| i % every == 0).collect()
            }
            Some(other) => return Err(format!("layer_types {other} is not a list")),
        };
        let local_attention = int("local_attention", 128)?;
        if v.get("rope_scaling").is_some_and(|r| !r.is_null()) {
            return Err(
                "rope_scaling is set; albert-lens computes only the default rotary embedding"
                    .into(),
            );
        }
        let theta = |kind: &str, old: &str, d: f64| -> std::result::Result<f64, String> {
            let params = v.get("rope_parameters").and_then(|p| p.get(kind));
            if let Some(t) = params.and_then(|p| p.get("rope_type")) {
                if t.as_str() != Some("default") {
                    return Err(format!(
                        "rope_parameters.{kind}.rope_type is {t}; only \"default\" is supported"
                    ));
                }
            }
            let value = params
                .and_then(|p| p.get("rope_theta"))
                .or_else(|| v.get(old))
                .filter(|x| !x.is_null());
            match value {
                None => Ok(d),
                Some(x) => x
                    .as_f64()
                    .filter(|t| t.is_finite() && *t > 0.0)
                    .ok_or_else(|| {
                        format!("the rotary base of {kind} layers ({x}) is not a positive number")
                    }),
            }
        };
        let act = |k: &str| -> std::result::Result<Activation, String> {
            let name = v.get(k).and_then(|x| x.as_str()).unwrap_or("gelu");
            Activation::from_hf_name(name).ok_or_else(|| format!("{k} {name:?} is not supported"))
        };
        let pooling = match v.get("classifier_pooling").and_then(|x| x.as_str()) {
            None | Some("cls") => Pooling::Cls,
            Some("mean") => Pooling::Mean,
            Some(other) => {
                return Err(format!(
                    "classifier_pooling {other:?} is not supported; \"cls\" and \"mean\" are"
                ))
            }
        };
        Ok(ModernLayout {
            global,
            window: local_attention / 2,
            global_theta: theta("full_attention", "global_rope_theta", 160_000.0)?,
            local_theta: theta("sliding_attention", "local_rope_theta", 10_000.0)?,
            head_act: act("classifier_activation")?,
            pooling,
            norm_bias: flag("norm_bias", false)?,
            attention_bias: flag("attention_bias", false)?,
            mlp_bias: flag("mlp_bias", false)?,
            decoder_bias: flag("decoder_bias", true)?,
            classifier_bias: flag("classifier_bias", false)?,
        })
    }
}

/// RoPE's cos and sin tables `[n, d]` for positions 0..n as transformers computes them in f32:
/// inv_freq[i] = 1 / θ^(2i/d), angle = p · inv_freq[i], the d/2 angles written twice.
pub fn rope_tables(theta: f64, n: usize, d: usize) -> (Vec<f32>, Vec<f32>) {
    let half = d / 2;
    let inv: Vec<f32> = (0..half)
        .map(|i| 1.0 / (theta as f32).powf((2 * i) as f32 / d as f32))
        .collect();
    let (mut cos, mut sin) = (vec![0f32; n * d], vec![0f32; n * d]);
    for p in 0..n {
        for (i, f) in inv.iter().enumerate() {
            let a = p as f32 * f;
            let (s, c) = a.sin_cos();
            for at in [p * d + i, p * d + half + i] {
                cos[at] = c;
                sin[at] = s;
            }
        }
    }
    (cos, sin)
}
