//! ALBERT (Lan et al. 2019): factorized embedding, layers shared across depth in groups,
//! SentencePiece.

use super::{ConfigDefaults, Family, LayerNames, MlmNames, Tokenization};

pub const ALBERT: Family = Family {
    name: "albert",
    tokenizer_class: "AlbertTokenizer",
    tokenization: Tokenization::SentencePiece,
    vocab_file: "spiece.model",
    unk: "<unk>",
    pad: "<pad>",
    defaults: ConfigDefaults {
        vocab_size: 30000,
        hidden_size: 4096,
        num_attention_heads: 64,
        intermediate_size: 16384,
        hidden_act: "gelu_new",
    },
    factorized_embedding: true,
    shared_layers: true,
    projection: Some("encoder.embedding_hidden_mapping_in"),
    layer_prefix: |g, k| format!("encoder.albert_layer_groups.{g}.albert_layers.{k}"),
    layer: LayerNames {
        query: "attention.query",
        key: "attention.key",
        value: "attention.value",
        attention_out: "attention.dense",
        attention_norm: "attention.LayerNorm",
        ffn: "ffn",
        ffn_out: "ffn_output",
        out_norm: "full_layer_layer_norm",
    },
    mlm: MlmNames {
        prefix: "predictions",
        dense: "dense",
        norm: "LayerNorm",
        on_embedding_width: true,
    },
    pooler: "pooler",
    tell: "albert_layer_groups",
};
