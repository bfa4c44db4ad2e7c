//! ELECTRA (Clark et al. 2020): BERT's layers with a factorized embedding when the embedding
//! is narrower than the hidden size (`embeddings_project`, like ALBERT's), WordPiece; the
//! generator's masked-LM head works in the embedding width, the classifier uses GELU.

use super::bert::BERT;
use super::*;

pub const ELECTRA: Family = Family {
    name: "electra",
    title: "ELECTRA",
    prefix: "electra",
    tokenizer_class: "ElectraTokenizer",
    defaults: ConfigDefaults {
        hidden_size: 256,
        num_attention_heads: 4,
        intermediate_size: 1024,
        ..BERT.defaults
    },
    embedding: EmbeddingWidth::Factorized {
        default: 128,
        projection: "embeddings_project",
        always: false,
    },
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
    // the rest as BERT: WordPiece, its special tokens, its layers, type ids fed
    ..BERT
};
