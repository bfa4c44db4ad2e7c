//! BERT (Devlin et al. 2018): the unshared baseline, one set of weights per layer, WordPiece.

use super::*;

pub const BERT: Family = Family {
    name: "bert",
    title: "BERT",
    prefix: "bert",
    tokenizer_class: "BertTokenizer",
    tokenization: Tokenization::WordPiece,
    vocab_file: "vocab.txt",
    specials: BERT_SPECIALS,
    defaults: ConfigDefaults {
        vocab_size: 30522,
        hidden_size: 768,
        num_hidden_layers: 12,
        num_attention_heads: 12,
        intermediate_size: 3072,
        hidden_act: "gelu",
        type_vocab_size: 2,
        pad_token_id: 0,
        layer_norm_eps: 1e-12,
    },
    config_aliases: &[],
    fixed_layer_norm_eps: None,
    embedding: EmbeddingWidth::Hidden,
    token_types: TokenTypes::Fed,
    positions: Positions::FromZero,
    layout: Layout::PostNorm,
    shared_layers: false,
    distilled: false,
    layer_prefix: encoder_layer,
    layer: BERT_LAYER,
    mlm: MlmNames {
        dense: "cls.predictions.transform.dense",
        norm: "cls.predictions.transform.LayerNorm",
        decoder: "cls.predictions.decoder.weight",
        bias: "cls.predictions.bias",
        bias_alias: "cls.predictions.decoder.bias",
        on_embedding_width: false,
        activation: None,
    },
    classifier: ClassifierNames {
        dense: "pooler.dense",
        activation: "tanh",
        out: "classifier",
    },
    tell: "encoder.layer.",
};
