//! BERT (Devlin et al. 2018): the unshared baseline, one set of weights per layer, WordPiece.

use super::{ConfigDefaults, Family, LayerNames, MlmNames, Tokenization};

pub const BERT: Family = Family {
    name: "bert",
    tokenizer_class: "BertTokenizer",
    tokenization: Tokenization::WordPiece,
    vocab_file: "vocab.txt",
    unk: "[UNK]",
    pad: "[PAD]",
    defaults: ConfigDefaults {
        vocab_size: 30522,
        hidden_size: 768,
        num_attention_heads: 12,
        intermediate_size: 3072,
        hidden_act: "gelu",
    },
    factorized_embedding: false,
    shared_layers: false,
    projection: None,
    layer_prefix: |layer, _| format!("encoder.layer.{layer}"),
    layer: LayerNames {
        query: "attention.self.query",
        key: "attention.self.key",
        value: "attention.self.value",
        attention_out: "attention.output.dense",
        attention_norm: "attention.output.LayerNorm",
        ffn: "intermediate.dense",
        ffn_out: "output.dense",
        out_norm: "output.LayerNorm",
    },
    mlm: MlmNames {
        prefix: "cls.predictions",
        dense: "transform.dense",
        norm: "transform.LayerNorm",
        on_embedding_width: false,
    },
    pooler: "pooler.dense",
    tell: "encoder.layer.",
};
