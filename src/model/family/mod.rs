//! Model families as data: everything that differs between ALBERT and BERT (the config's
//! defaults, the weight names, the tokenizer family, how layers are shared) is one [`Family`]
//! value, one file per family. Loading, tokenizing, parameter accounting and the Hub read it
//! from here, so a new encoder family is one file and one line in [`ALL`] (plus its tests).

pub mod albert;
pub mod bert;

/// Every family this app opens.
pub const ALL: [&Family; 2] = [&albert::ALBERT, &bert::BERT];

/// How a family tokenizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tokenization {
    /// SentencePiece unigram with "▁" word starts (ALBERT)
    SentencePiece,
    /// WordPiece with "##" continuations after BERT's basic tokenizer
    WordPiece,
}

/// The weight names of one layer application `[group][inner]`, below the layer's prefix.
#[derive(Debug)]
pub struct LayerNames {
    pub query: &'static str,
    pub key: &'static str,
    pub value: &'static str,
    pub attention_out: &'static str,
    pub attention_norm: &'static str,
    pub ffn: &'static str,
    pub ffn_out: &'static str,
    pub out_norm: &'static str,
}

/// The masked-LM head's weight names.
#[derive(Debug)]
pub struct MlmNames {
    pub prefix: &'static str,
    pub dense: &'static str,
    pub norm: &'static str,
    /// the head works in the embedding width E (ALBERT) rather than H (BERT)
    pub on_embedding_width: bool,
}

/// A config class's defaults for the fields config.json may leave out.
#[derive(Debug)]
pub struct ConfigDefaults {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: &'static str,
}

/// One encoder family.
#[derive(Debug)]
pub struct Family {
    /// config.json's `model_type`
    pub name: &'static str,
    /// tokenizer_config.json's `tokenizer_class` (without "Fast")
    pub tokenizer_class: &'static str,
    pub tokenization: Tokenization,
    /// the vocabulary file it ships besides tokenizer.json
    pub vocab_file: &'static str,
    /// the unknown and padding tokens
    pub unk: &'static str,
    pub pad: &'static str,
    /// what config.json may leave out: the transformers config class's defaults
    pub defaults: ConfigDefaults,
    /// factorized embedding: V x E words and an E -> H projection (else E = H)
    pub factorized_embedding: bool,
    /// one set of layer weights per group, applied at several depths (else one per layer)
    pub shared_layers: bool,
    /// the E -> H projection's name
    pub projection: Option<&'static str>,
    /// the prefix of layer application `[group][inner]`
    pub layer_prefix: fn(usize, usize) -> String,
    pub layer: LayerNames,
    pub mlm: MlmNames,
    /// the sequence classifier's pooler (dense H -> H, then tanh) below the model prefix
    pub pooler: &'static str,
    /// a weight-name fragment that only this family has (to say so when a checkpoint's
    /// config names another family)
    pub tell: &'static str,
}

impl Family {
    /// The family of config.json's `model_type`.
    pub fn by_name(name: &str) -> Option<&'static Family> {
        ALL.into_iter().find(|f| f.name == name)
    }

    /// The family of a `tokenizer_class` ("AlbertTokenizerFast" too).
    pub fn by_tokenizer_class(class: &str) -> Option<&'static Family> {
        let class = class.trim_end_matches("Fast");
        ALL.into_iter().find(|f| f.tokenizer_class == class)
    }
}
