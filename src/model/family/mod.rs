//! Model families as data: everything that differs between the post-LN encoders this app opens
//! (the config's defaults and spellings, the weight names, the tokenizer kind and its special
//! tokens, how layers are shared, how embeddings are made, the heads' layouts) is one [`Family`]
//! value, one file per family. Loading, tokenizing, parameter accounting and the Hub read it from
//! here, so a new family of this shape is one file and one line in [`ALL`] (plus its fixtures).

pub mod albert;
pub mod bert;
pub mod deberta;
pub mod distilbert;
pub mod electra;
pub mod modernbert;
pub mod roberta;

/// Every family this app opens.
pub const ALL: [&Family; 8] = [
    &albert::ALBERT,
    &bert::BERT,
    &roberta::ROBERTA,
    &roberta::XLM_ROBERTA,
    &distilbert::DISTILBERT,
    &electra::ELECTRA,
    &modernbert::MODERNBERT,
    &deberta::DEBERTA_V2,
];

/// The `model_type`s this app opens, for messages ("albert, bert, ...").
pub fn supported_names() -> String {
    ALL.iter().map(|f| f.name).collect::<Vec<_>>().join(", ")
}

/// How a family tokenizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tokenization {
    /// SentencePiece unigram with "▁" word starts (ALBERT)
    SentencePiece,
    /// WordPiece with "##" continuations after BERT's basic tokenizer
    WordPiece,
    /// byte-level BPE (RoBERTa): tokenizer.json's own pipeline, or vocab.json + merges.txt
    ByteLevelBpe,
    /// SentencePiece unigram in fairseq's id layout (XLM-R): tokenizer.json's own pipeline
    FairseqSentencePiece,
    /// SentencePiece unigram in DeBERTa-v3's layout (spm.model): the class's normalizer and
    /// Metaspace pre-tokenizer over tokenizer.json's vocabulary, or spm.model's pieces as they are
    DebertaSentencePiece,
    /// tokenizer.json read as it is, its own normalizer, pre-tokenizer and template
    /// (ModernBERT's byte-level BPE: transformers' generic fast tokenizer does the same)
    TokenizerJson,
}

/// What a family does with token type ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenTypes {
    /// the tokenizer's type ids are fed to a type table (BERT, ALBERT, ELECTRA)
    Fed,
    /// the model has a type table but its tokenizer gives no type ids: row 0 for every token
    /// (RoBERTa, XLM-R)
    Zero,
    /// no type table at all (DistilBERT)
    Absent,
}

/// Where position ids start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Positions {
    /// 0, 1, 2, ...
    FromZero,
    /// fairseq's: padding_idx + 1, padding_idx + 2, ... (RoBERTa, XLM-R); the table's first
    /// padding_idx + 1 rows are never used
    AfterPadding,
    /// no position table: rotary embeddings turn queries and keys by their position
    /// (ModernBERT)
    Rotary,
    /// no position table: relative distances enter the attention scores (DeBERTa-v3)
    Relative,
}

/// How a layer is arranged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// BERT's post-LN layer: LayerNorm(x + attention(x)), then LayerNorm(a + FFN(a))
    PostNorm,
    /// ModernBERT's pre-norm layer: x + attention(norm(x)) (no norm before layer 0's), then
    /// a + GeGLU(norm(a)); rotary positions, local or global attention per layer, a final
    /// norm after the last layer
    PreNormGlu,
}

/// How the embedding reaches the hidden width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbeddingWidth {
    /// E = H, no projection (BERT, RoBERTa, DistilBERT)
    Hidden,
    /// E from config.json's `embedding_size` (default `default`) and a linear E -> H named
    /// `projection`; `always`: even when E = H (ALBERT), else only when E != H (ELECTRA)
    Factorized {
        default: usize,
        projection: &'static str,
        always: bool,
    },
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

/// The masked-LM head's weight names (full names below the model prefix).
#[derive(Debug)]
pub struct MlmNames {
    pub dense: &'static str,
    pub norm: &'static str,
    /// the decoder's weight (absent from the file when tied to the word embeddings)
    pub decoder: &'static str,
    /// the output bias, and the other name it may have
    pub bias: &'static str,
    pub bias_alias: &'static str,
    /// the head works in the embedding width E (ALBERT, the ELECTRA generator) rather than H
    pub on_embedding_width: bool,
    /// the activation after `dense` when the family fixes it (HF name); None: `hidden_act`
    pub activation: Option<&'static str>,
}

/// The sequence classifier's layout: a dense H -> H on the first token and its activation
/// (BERT's pooler and tanh, RoBERTa's classifier.dense and tanh, DistilBERT's pre_classifier
/// and ReLU, ELECTRA's classifier.dense and GELU), then the output layer.
#[derive(Debug, PartialEq, Eq)]
pub struct ClassifierNames {
    pub dense: &'static str,
    /// HF activation name
    pub activation: &'static str,
    pub out: &'static str,
}

/// A config class's defaults for the fields config.json may leave out.
#[derive(Debug)]
pub struct ConfigDefaults {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: &'static str,
    pub type_vocab_size: usize,
    pub pad_token_id: usize,
    pub layer_norm_eps: f64,
}

/// The special tokens of the family's tokenizer class.
#[derive(Debug)]
pub struct Specials {
    pub cls: &'static str,
    pub sep: &'static str,
    pub mask: &'static str,
    pub unk: &'static str,
    pub pad: &'static str,
}

/// One encoder family.
#[derive(Debug)]
pub struct Family {
    /// config.json's `model_type`
    pub name: &'static str,
    /// how people write it ("RoBERTa")
    pub title: &'static str,
    /// the base model's prefix in checkpoints with a head ("roberta" in "roberta.encoder...")
    pub prefix: &'static str,
    /// tokenizer_config.json's `tokenizer_class` (without "Fast")
    pub tokenizer_class: &'static str,
    pub tokenization: Tokenization,
    /// the vocabulary file it ships besides tokenizer.json
    pub vocab_file: &'static str,
    pub specials: Specials,
    /// what config.json may leave out: the transformers config class's defaults
    pub defaults: ConfigDefaults,
    /// the config's own spellings of the common fields (DistilBERT's `dim` for `hidden_size`)
    pub config_aliases: &'static [(&'static str, &'static str)],
    /// a LayerNorm epsilon the family fixes whatever the config says (DistilBERT: 1e-12)
    pub fixed_layer_norm_eps: Option<f64>,
    pub embedding: EmbeddingWidth,
    pub token_types: TokenTypes,
    pub positions: Positions,
    pub layout: Layout,
    /// one set of layer weights per group, applied at several depths (else one per layer)
    pub shared_layers: bool,
    /// made smaller by distillation from a larger teacher (for the parameter table)
    pub distilled: bool,
    /// the prefix of layer application `[group][inner]`
    pub layer_prefix: fn(usize, usize) -> String,
    pub layer: LayerNames,
    pub mlm: MlmNames,
    pub classifier: ClassifierNames,
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

    /// The title with its article, as a sentence says it: "a BERT", "an ELECTRA".
    pub fn with_article(&self) -> String {
        let vowel = self.title.starts_with(['A', 'E', 'I', 'O', 'U', 'X']);
        format!("{} {}", if vowel { "an" } else { "a" }, self.title)
    }

    /// Whether the embedding has its own width E and a projection to H (for some sizes).
    pub fn factorized(&self) -> bool {
        matches!(self.embedding, EmbeddingWidth::Factorized { .. })
    }
}

/// BERT's layer names (below `encoder.layer.{i}`), shared by RoBERTa, XLM-R and ELECTRA.
pub const BERT_LAYER: LayerNames = LayerNames {
    query: "attention.self.query",
    key: "attention.self.key",
    value: "attention.self.value",
    attention_out: "attention.output.dense",
    attention_norm: "attention.output.LayerNorm",
    ffn: "intermediate.dense",
    ffn_out: "output.dense",
    out_norm: "output.LayerNorm",
};

/// BERT's special tokens, shared by the WordPiece families.
pub const BERT_SPECIALS: Specials = Specials {
    cls: "[CLS]",
    sep: "[SEP]",
    mask: "[MASK]",
    unk: "[UNK]",
    pad: "[PAD]",
};

/// fairseq's special tokens (RoBERTa, XLM-R).
pub const FAIRSEQ_SPECIALS: Specials = Specials {
    cls: "<s>",
    sep: "</s>",
    mask: "<mask>",
    unk: "<unk>",
    pad: "<pad>",
};

/// Layers one per depth: `encoder.layer.{i}`.
pub fn encoder_layer(layer: usize, _inner: usize) -> String {
    format!("encoder.layer.{layer}")
}
