//! DistilBERT (Sanh et al. 2019): BERT distilled to half its depth; its own weight and config
//! names, no token types, a LayerNorm epsilon fixed at 1e-12, and a ReLU in its classifier.

use super::bert::BERT;
use super::*;

pub const DISTILBERT: Family = Family {
    name: "distilbert",
    title: "DistilBERT",
    prefix: "distilbert",
    tokenizer_class: "DistilBertTokenizer",
    defaults: ConfigDefaults {
        num_hidden_layers: 6,
        type_vocab_size: 1,
        ..BERT.defaults
    },
    config_aliases: &[
        ("dim", "hidden_size"),
        ("n_layers", "num_hidden_layers"),
        ("n_heads", "num_attention_heads"),
        ("hidden_dim", "intermediate_size"),
        ("activation", "hidden_act"),
    ],
    fixed_layer_norm_eps: Some(1e-12),
    token_types: TokenTypes::Absent,
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
    // the rest as BERT: WordPiece, its special tokens, E = H, positions from 0
    ..BERT
};
