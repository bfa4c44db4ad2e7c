//! ELECTRA (Clark et al. 2020): BERT's layers with a factorized embedding when the embedding
//! is narrower than the hidden size (`embeddings_project`, like ALBERT's), WordPiece; the
//! generator's masked-LM head works in the embedding width, the classifier uses GELU.

use super::*;

pub const ELECTRA: Family = Family {
    name: "electra",
    title: "ELECTRA",
    prefix: "electra",
    tokenizer_class: "ElectraTokenizer",
    tokenization: Tokenization::WordPiece,
    vocab_file: "vocab.txt",
    specials: BERT_SPECIALS,
    defaults: ConfigDefaults {
        vocab_size: 30522,
        hidden_size: 256,
        num_hidden_layers: 12,
        num_attention_heads: 4,
        intermediate_size: 1024,
        hidden_act: "gelu",
        type_vocab_size: 2,
        pad_token_id: 0,
    },
    config_aliases: &[],
    fixed_layer_norm_eps: None,
    embedding: EmbeddingWidth::Factorized {
        default: 128,
        projection: "embeddings_project",
        always: false,
    },
    token_types: TokenTypes::Fed,
    positions: Positions::FromZero,
    shared_layers: false,
    distilled: false,
    layer_prefix: encoder_layer,
    layer: BERT_LAYER,
    mlm: MlmNames {
        dense: "generator_predictions.dense",
        norm: "generator_predictions.LayerNorm",
        decoder: "generator_lm_head.weight",
        bias: "generator_lm_head.bias",
        bias_alias: "generator_lm_head.bias",
        on_embedding_width: true,
        activation: Some("gelu"),
    },
    classifier: ClassifierNames {
        dense: "classifier.dense",
        activation: "gelu",
        out: "classifier.out_proj",
    },
    tell: "embeddings_project",
};
