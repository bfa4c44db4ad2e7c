//! RoBERTa (Liu et al. 2019) and XLM-RoBERTa (Conneau et al. 2020): BERT's layers with
//! fairseq's conventions — `<s> A </s></s> B </s>`, no token types fed (a one-row type table),
//! position ids that start after the padding index — and a byte-level BPE (RoBERTa) or
//! SentencePiece (XLM-R) tokenizer.

use super::bert::BERT;
use super::*;

const DEFAULTS: ConfigDefaults = ConfigDefaults {
    vocab_size: 50265,
    pad_token_id: 1,
    ..BERT.defaults
};

const MLM: MlmNames = MlmNames {
    dense: "lm_head.dense",
    norm: "lm_head.layer_norm",
    decoder: "lm_head.decoder.weight",
    bias: "lm_head.bias",
    bias_alias: "lm_head.decoder.bias",
    on_embedding_width: false,
    activation: Some("gelu"),
};

const CLASSIFIER: ClassifierNames = ClassifierNames {
    dense: "classifier.dense",
    activation: "tanh",
    out: "classifier.out_proj",
};

pub const ROBERTA: Family = Family {
    name: "roberta",
    title: "RoBERTa",
    prefix: "roberta",
    tokenizer_class: "RobertaTokenizer",
    tokenization: Tokenization::ByteLevelBpe,
    vocab_file: "vocab.json",
    specials: FAIRSEQ_SPECIALS,
    defaults: DEFAULTS,
    config_aliases: &[],
    fixed_layer_norm_eps: None,
    embedding: EmbeddingWidth::Hidden,
    token_types: TokenTypes::Zero,
    positions: Positions::AfterPadding,
    layout: Layout::PostNorm,
    shared_layers: false,
    distilled: false,
    layer_prefix: encoder_layer,
    layer: BERT_LAYER,
    mlm: MLM,
    classifier: CLASSIFIER,
    tell: "lm_head.",
};

pub const XLM_ROBERTA: Family = Family {
    name: "xlm-roberta",
    title: "XLM-RoBERTa",
    tokenizer_class: "XLMRobertaTokenizer",
    tokenization: Tokenization::FairseqSentencePiece,
    vocab_file: "sentencepiece.bpe.model",
    defaults: ConfigDefaults {
        vocab_size: 30522,
        ..DEFAULTS
    },
    ..ROBERTA
};
