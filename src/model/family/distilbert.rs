//! DistilBERT (Sanh et al. 2019): BERT distilled to half its depth; its own weight and config
//! names, no token types, a LayerNorm epsilon fixed at 1e-12, and a ReLU in its classifier.

use super::*;

pub const DISTILBERT: Family = Family {
    name: "distilbert",
    title: "DistilBERT",
    prefix: "distilbert",
    tokenizer_class: "DistilBertTokenizer",
    tokenization: Tokenization::WordPiece,
    vocab_file: "vocab.txt",
    specials: BERT_SPECIALS,
    defaults: ConfigDefaults {
        vocab_size: 30522,
        hidden_size: 768,
        num_hidden_layers: 6,
        num_attention_heads: 12,
        intermediate_size: 3072,
        hidden_act: "gelu",
        type_vocab_size: 1,
        pad_token_id: 0,
    },
    config_aliases: &[
        ("dim", "hidden_size"),
        ("n_layers", "num_hidden_layers"),
        ("n_heads", "num_attention_heads"),
        ("hidden_dim", "intermediate_size"),
        ("activation", "hidden_act"),
    ],
    fixed_layer_norm_eps: Some(1e-12),
    embedding: EmbeddingWidth::Hidden,
    token_types: TokenTypes::Absent,
    positions: Positions::FromZero,
    shared_layers: false,
    distilled: true,
    layer_prefix: |layer, _| format!("transformer.layer.{layer}"),
    layer: LayerNames {
        query: "attention.q_lin",
        key: "attention.k_lin",
        value: "attention.v_lin",
        attention_out: "attention.out_lin",
        attention_norm: "sa_layer_norm",
        ffn: "ffn.lin1",
        ffn_out: "ffn.lin2",
        out_norm: "output_layer_norm",
    },
    mlm: MlmNames {
        dense: "vocab_transform",
        norm: "vocab_layer_norm",
        decoder: "vocab_projector.weight",
        bias: "vocab_projector.bias",
        bias_alias: "vocab_projector.bias",
        on_embedding_width: false,
        activation: None,
    },
    classifier: ClassifierNames {
        dense: "pre_classifier",
        activation: "relu",
        out: "classifier",
    },
    tell: "transformer.layer.",
};
