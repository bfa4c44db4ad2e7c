//! DeBERTa-v3 (He et al. 2021; `model_type` "deberta-v2"): BERT's post-LN layers whose
//! attention scores add disentangled relative-position terms — content-to-position
//! q_i · P_k[δ(i, j)] and position-to-content k_j · P_q[δ(i, j)], with P_q, P_k the layer's own
//! query and key projections of the (LayerNormed) relative embeddings (`share_att_key`) and
//! δ(i, j) the log-bucketed distance i − j shifted into the table — all over √(d · (1 + terms));
//! no absolute positions, no token types, SentencePiece (spm.model). The config's own options
//! are [`RelativeLayout`].

use super::bert::BERT;
use super::*;

pub const DEBERTA_V2: Family = Family {
    name: "deberta-v2",
    title: "DeBERTa-v3",
    prefix: "deberta",
    tokenizer_class: "DebertaV2Tokenizer",
    tokenization: Tokenization::DebertaSentencePiece,
    vocab_file: "spm.model",
    defaults: ConfigDefaults {
        vocab_size: 128100,
        hidden_size: 1536,
        num_hidden_layers: 24,
        num_attention_heads: 24,
        intermediate_size: 6144,
        hidden_act: "gelu",
        type_vocab_size: 0,
        pad_token_id: 0,
        layer_norm_eps: 1e-7,
    },
    token_types: TokenTypes::Absent,
    positions: Positions::Relative,
    layer: LayerNames {
        query: "attention.self.query_proj",
        key: "attention.self.key_proj",
        value: "attention.self.value_proj",
        ..BERT_LAYER
    },
    classifier: ClassifierNames {
        dense: "pooler.dense",
        activation: "gelu",
        out: "classifier",
    },
    tell: "rel_embeddings",
    // the rest as BERT: its special tokens, E = H, post-LN layers one per depth, and the legacy
    // MLM head's names (transformers' default; the newer lm_predictions.lm_head names are read
    // as these by canonical_name)
    ..BERT
};

/// The relative table rows one input reads: `first` and the `rows` after it, and for every
/// (i, j) (row-major) its row counted from `first`.
#[derive(Debug, Clone, PartialEq)]
pub struct RowsRead {
    pub first: usize,
    pub rows: usize,
    pub index: Vec<u32>,
}

/// DeBERTa's relative attention from config.json, as transformers reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct RelativeLayout {
    /// the content-to-position and position-to-content terms (`pos_att_type`)
    pub c2p: bool,
    pub p2c: bool,
    /// the table's half size: `position_buckets` when set, else `max_relative_positions`
    pub span: usize,
    /// log buckets from this size on (`position_buckets`; None: distances only clamped)
    pub buckets: Option<usize>,
    /// `max_relative_positions` (else max_position_embeddings): the buckets' far end
    pub max_relative: usize,
    /// the relative embeddings go through `encoder.LayerNorm` (`norm_rel_ebd` "layer_norm")
    pub norm: bool,
    /// the pooler's activation (`pooler_hidden_act`)
    pub pooler_act: crate::model::activation::Activation,
}

impl RelativeLayout {
    /// 1 + the number of relative terms: the scores are over √(d · this).
    pub fn scale_factor(&self) -> usize {
        1 + usize::from(self.c2p) + usize::from(self.p2c)
    }

    /// Rows of the relative embedding table: 2 · span.
    pub fn rows(&self) -> usize {
        2 * self.span
    }

    /// The table row both terms read for query i and key j: the bucketed i − j plus span,
    /// clamped to the table.
    pub fn index(&self, i: usize, j: usize) -> usize {
        let rel = i as i64 - j as i64;
        let b = match self.buckets {
            Some(size) => log_bucket(rel, size, self.max_relative),
            None => rel,
        };
        (b + self.span as i64).clamp(0, 2 * self.span as i64 - 1) as usize
    }

    /// Every (i, j) index of an `n`-token input, row-major.
    pub fn indices(&self, n: usize) -> Vec<u32> {
        (0..n * n)
            .map(|ij| self.index(ij / n, ij % n) as u32)
            .collect()
    }

    /// The table rows an `n`-token input reads (`first` and the `rows` after it: a short input
    /// reads few, 128 tokens 255 of DeBERTa-v3-base's 512), and every (i, j)'s row among them.
    pub fn reads(&self, n: usize) -> RowsRead {
        let mut index = self.indices(n);
        let first = index.iter().copied().min().unwrap_or(0);
        let last = index.iter().copied().max().unwrap_or(0);
        index.iter_mut().for_each(|i| *i -= first);
        RowsRead {
            first: first as usize,
            rows: (last - first) as usize + 1,
            index,
        }
    }

    /// Reads the options; an option that changes the numbers and that albert-lens does not
    /// compute is an error naming it.
    pub fn from_config(
        v: &serde_json::Value,
        (hidden, heads, max_positions): (usize, usize, usize),
    ) -> std::result::Result<Self, String> {
        let int = |k: &str| -> std::result::Result<Option<i64>, String> {
            match v.get(k) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(x) => x
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| format!("{k} {x} is not a whole number")),
            }
        };
        let flag = |k: &str, d: bool| v.get(k).and_then(|x| x.as_bool()).unwrap_or(d);
        if !flag("relative_attention", false) {
            return Err("relative_attention is off: only DeBERTa-v3's relative attention is supported (DeBERTa-v2 with absolute positions is not)".into());
        }
        if flag("position_biased_input", true) {
            return Err("position_biased_input is on (absolute positions added to the input): only DeBERTa-v3's layout, without them, is supported".into());
        }
        if !flag("share_att_key", false) {
            return Err("share_att_key is off (separate pos_key_proj / pos_query_proj): only DeBERTa-v3's shared projections are supported".into());
        }
        if int("conv_kernel_size")?.is_some_and(|k| k > 0) {
            return Err(
                "conv_kernel_size is set: DeBERTa-v2's convolution layer is not supported".into(),
            );
        }
        if int("type_vocab_size")?.is_some_and(|t| t > 0) {
            return Err("type_vocab_size is above 0: DeBERTa-v3 has no token types, and a DeBERTa with a token-type table is not supported".into());
        }
        for (k, want) in [
            ("embedding_size", hidden),
            ("pooler_hidden_size", hidden),
            ("attention_head_size", hidden / heads.max(1)),
        ] {
            if let Some(x) = int(k)? {
                if x != want as i64 {
                    return Err(format!("{k} {x} differs from {want}: not supported"));
                }
            }
        }
        let types: Vec<String> = match v.get("pos_att_type") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::String(s)) => s
                .to_lowercase()
                .split('|')
                .map(|t| t.trim().to_string())
                .collect(),
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .map(|t| t.as_str().map(|s| s.trim().to_lowercase()))
                .collect::<Option<_>>()
                .ok_or("pos_att_type lists something that is not a name")?,
            Some(other) => return Err(format!("pos_att_type {other} is not a list or a string")),
        };
        if let Some(t) = types.iter().find(|t| !["c2p", "p2c"].contains(&t.as_str())) {
            return Err(format!(
                "pos_att_type has {t:?}; supported: \"c2p\", \"p2c\""
            ));
        }
        let max_relative = match int("max_relative_positions")? {
            Some(m) if m >= 1 => m as usize,
            _ => max_positions,
        };
        let buckets = int("position_buckets")?
            .filter(|&b| b > 0)
            .map(|b| b as usize);
        if buckets.is_some_and(|b| b < 2 || b >= max_relative) {
            return Err(format!(
                "position_buckets {} must be at least 2 and below max_relative_positions {max_relative}",
                buckets.unwrap_or(0)
            ));
        }
        let norm = v
            .get("norm_rel_ebd")
            .and_then(|x| x.as_str())
            .unwrap_or("none")
            .to_lowercase()
            .split('|')
            .any(|t| t.trim() == "layer_norm");
        let act = v
            .get("pooler_hidden_act")
            .and_then(|x| x.as_str())
            .unwrap_or("gelu");
        Ok(RelativeLayout {
            c2p: types.iter().any(|t| t == "c2p"),
            p2c: types.iter().any(|t| t == "p2c"),
            span: buckets.unwrap_or(max_relative),
            buckets,
            max_relative,
            norm,
            pooler_act: crate::model::activation::Activation::from_hf_name(act)
                .ok_or_else(|| format!("pooler_hidden_act {act:?} is not supported"))?,
        })
    }
}

/// transformers' `make_log_bucket_position` for one distance, in f32 as torch computes it:
/// distances within ±size/2 stay, farther ones become ±(⌈ln(|r| / mid) / ln((max − 1) / mid)
/// · (mid − 1)⌉ + mid).
pub fn log_bucket(rel: i64, size: usize, max_position: usize) -> i64 {
    let mid = (size / 2) as i64;
    let abs = rel.abs();
    if abs <= mid {
        return rel;
    }
    let (m, a) = (mid as f32, abs as f32);
    let log = ((a / m).ln() / ((max_position as f32 - 1.0) / m).ln() * (m - 1.0)).ceil() + m;
    log as i64 * rel.signum()
}
