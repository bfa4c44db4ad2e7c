//! The tokenizer of a model folder, rebuilt the way Hugging Face transformers (v5) builds
//! `AlbertTokenizer` and `BertTokenizer`: from `tokenizer.json` when there is one (its vocabulary,
//! added tokens and post-processor, with the class's own normalizer and pre-tokenizer), otherwise
//! from `spiece.model` (ALBERT) or `vocab.txt` (BERT and the WordPiece families).
//! `tokenizer_config.json` options (do_lower_case, keep_accents, strip_accents,
//! tokenize_chinese_chars) are honoured. The fairseq families (RoBERTa, XLM-R) likewise: the
//! file's vocabulary, added tokens and post-processor with the class's normalizer and
//! pre-tokenizer, or everything built from their vocabulary files ([`super::fairseq_tok`]).

mod pipeline;

use super::input::cut_chars;
pub use super::input::{max_chars, EncodedInput};
use crate::error::{LensError, Result};
use crate::model::config::{ModelConfig, ModelType};
use crate::model::family::{Family, TokenTypes, Tokenization};
use crate::model::spm;
use crate::model::ModelFiles;
use pipeline::{
    albert_normalizer, albert_pre_tokenizer, bert_normalizer, precompiled_from_json, template,
};
use std::path::{Path, PathBuf};
use tokenizers::models::unigram::Unigram;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, Tokenizer, TruncationParams, TruncationStrategy};

/// Where the tokenizer came from, for the UI and messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenizerSource {
    TokenizerJson(PathBuf),
    /// vocab.json (with merges.txt beside it)
    VocabJson(PathBuf),
    SentencePiece(PathBuf),
    VocabTxt(PathBuf),
}

impl TokenizerSource {
    pub fn path(&self) -> &Path {
        match self {
            TokenizerSource::TokenizerJson(p)
            | TokenizerSource::VocabJson(p)
            | TokenizerSource::SentencePiece(p)
            | TokenizerSource::VocabTxt(p) => p,
        }
    }
}

/// Options read from `tokenizer_config.json`, with the transformers class defaults.
#[derive(Debug, Clone)]
struct TokOptions {
    /// whose normalizer and pre-tokenizer apply (transformers' tokenizer class)
    family: &'static Family,
    do_lower_case: bool,
    keep_accents: bool,
    strip_accents: Option<bool>,
    tokenize_chinese_chars: bool,
    unk: String,
    cls: String,
    sep: String,
    pad: String,
    mask: String,
    add_prefix_space: bool,
    /// DeBERTa's `split_by_punct`
    split_by_punct: bool,
}

impl TokOptions {
    /// The defaults of the tokenizer class transformers would build, then the file's options.
    /// The class is `tokenizer_class` of tokenizer_config.json when it names an ALBERT or BERT
    /// tokenizer (a model may use the other family's tokenizer, as albert-mini does), else the
    /// model type's.
    fn read(files: &ModelFiles<'_>, model_type: ModelType) -> Result<Self> {
        let name = "tokenizer_config.json";
        let path = files.path(name);
        if files.has(name) {
            Self::parse(
                Some(&files.read(name, MAX_TOKENIZER_FILE)?),
                &path,
                model_type,
            )
        } else {
            Self::parse(None, &path, model_type)
        }
    }

    /// The options of a tokenizer_config.json's `bytes` (None: the file is absent), the file
    /// named `path` in messages.
    fn parse(bytes: Option<&[u8]>, path: &Path, model_type: ModelType) -> Result<Self> {
        let v: Option<serde_json::Value> = match bytes {
            Some(bytes) => {
                Some(
                    serde_json::from_slice(bytes).map_err(|e| LensError::Tokenizer {
                        path: path.to_path_buf(),
                        msg: format!("not valid JSON: {e}"),
                    })?,
                )
            }
            None => None,
        };
        let family = v
            .as_ref()
            .and_then(|v| v.get("tokenizer_class"))
            .and_then(|c| c.as_str())
            .and_then(Family::by_tokenizer_class)
            .unwrap_or(model_type.family());
        let mut o = TokOptions {
            family,
            // DeBERTa's class keeps the case by default
            do_lower_case: family.tokenization != Tokenization::DebertaSentencePiece,
            keep_accents: false,
            strip_accents: None,
            tokenize_chinese_chars: true,
            unk: family.specials.unk.into(),
            cls: family.specials.cls.into(),
            sep: family.specials.sep.into(),
            pad: family.specials.pad.into(),
            mask: family.specials.mask.into(),
            add_prefix_space: family.tokenization != Tokenization::ByteLevelBpe,
            split_by_punct: false,
        };
        let Some(v) = v else {
            return Ok(o);
        };
        let b = |k: &str| v.get(k).and_then(|x| x.as_bool());
        // Special tokens are either strings or {"content": ...} objects.
        let s = |k: &str| {
            v.get(k).and_then(|x| {
                x.as_str().map(str::to_string).or_else(|| {
                    x.get("content")
                        .and_then(|c| c.as_str())
                        .map(str::to_string)
                })
            })
        };
        if let Some(x) = b("do_lower_case") {
            o.do_lower_case = x;
        }
        if let Some(x) = b("keep_accents") {
            o.keep_accents = x;
        }
        o.strip_accents = b("strip_accents");
        if let Some(x) = b("tokenize_chinese_chars") {
            o.tokenize_chinese_chars = x;
        }
        if let Some(x) = b("add_prefix_space") {
            o.add_prefix_space = x;
        }
        if let Some(x) = b("split_by_punct") {
            o.split_by_punct = x;
        }
        for (k, slot) in [
            ("unk_token", &mut o.unk),
            ("cls_token", &mut o.cls),
            ("sep_token", &mut o.sep),
            ("pad_token", &mut o.pad),
            ("mask_token", &mut o.mask),
        ] {
            if let Some(x) = s(k) {
                *slot = x;
            }
        }
        Ok(o)
    }
}

impl TokOptions {
    /// DeBERTa's class options.
    fn deberta(&self) -> super::deberta_tok::Options {
        super::deberta_tok::Options {
            lower: self.do_lower_case,
            split_by_punct: self.split_by_punct,
            add_prefix_space: self.add_prefix_space,
        }
    }

    /// The special tokens a fairseq tokenizer is built with.
    fn fairseq(&self) -> super::fairseq_tok::Specials {
        super::fairseq_tok::Specials {
            cls: self.cls.clone(),
            sep: self.sep.clone(),
            unk: self.unk.clone(),
            pad: self.pad.clone(),
            mask: self.mask.clone(),
            add_prefix_space: self.add_prefix_space,
        }
    }
}

#[derive(Clone)]
pub struct LensTokenizer {
    inner: Tokenizer,
    pub source: TokenizerSource,
    /// the model is fed the tokenizer's type ids (else `type_ids` are the segments, from the
    /// tokenizer's sequence ids, and the model is fed zeros: [`ModelConfig::fed_type_ids`])
    types_fed: bool,
}

impl std::fmt::Debug for LensTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LensTokenizer")
            .field("source", &self.source)
            .field("vocab_size", &self.vocab_size())
            .finish()
    }
}

/// The largest tokenizer file accepted (real ones are a few MB).
pub const MAX_TOKENIZER_FILE: u64 = 256 << 20;

/// Tokenized once when a tokenizer is loaded, so a corrupt one fails on opening, not on the
/// user's first text: Latin with accents, digits and punctuation, CJK, Cyrillic, an emoji.
const PROBE_TEXT: &str = "Hello, World! ``quoted'' café 1234 日本語の文 привет 🙂";

/// The error for a folder with neither tokenizer.json nor the tokenizer family's own
/// vocabulary file (ModernBERT's own file is tokenizer.json: it is named once).
fn no_tokenizer(files: &ModelFiles<'_>, config: &ModelConfig, vocab_file: &str) -> LensError {
    let needs = match vocab_file {
        "tokenizer.json" => vocab_file.to_string(),
        other => format!("tokenizer.json or {other}"),
    };
    files.not_a_model(format!(
        "it has no tokenizer: an {} model needs {needs}",
        config.model_type
    ))
}

fn tok_err(path: &Path, msg: impl std::fmt::Display) -> LensError {
    LensError::Tokenizer {
        path: path.to_path_buf(),
        msg: msg.to_string(),
    }
}

impl LensTokenizer {
    /// Loads the tokenizer of the model folder `dir` and checks that it fits the model.
    pub fn load(dir: &Path, config: &ModelConfig) -> Result<Self> {
        Self::load_files(&ModelFiles::folder(dir), config)
    }

    /// Loads the tokenizer of a model's files (a folder, or files in memory) and checks that it
    /// fits the model.
    pub fn load_files(files: &ModelFiles<'_>, config: &ModelConfig) -> Result<Self> {
        let opts = TokOptions::read(files, config.model_type)?;
        // the tokenizer family's own vocabulary file (tokenizer_class may name another family)
        let own = opts.family.vocab_file;
        let own_path = files.path(own);
        let read = |name: &str| files.read(name, MAX_TOKENIZER_FILE);
        let tok = if files.has("tokenizer.json") {
            let path = files.path("tokenizer.json");
            Self::from_tokenizer_json_bytes(&read("tokenizer.json")?, &path, &opts)?
        } else if files.has(own) {
            match opts.family.tokenization {
                Tokenization::SentencePiece => Self::from_spiece(&read(own)?, &own_path, &opts)?,
                Tokenization::WordPiece => Self::from_vocab_txt(&read(own)?, &own_path, &opts)?,
                Tokenization::ByteLevelBpe => {
                    let merges = "merges.txt";
                    let merges = files
                        .has(merges)
                        .then(|| read(merges).map(|b| (b, files.path(merges))))
                        .transpose()?;
                    let inner = super::fairseq_tok::byte_level_bpe(
                        (&read(own)?, &own_path),
                        merges.as_ref().map(|(b, p)| (b.as_ref(), p.as_path())),
                        &opts.fairseq(),
                    )?;
                    Self::new(inner, TokenizerSource::VocabJson(own_path.clone()))
                }
                Tokenization::FairseqSentencePiece => {
                    let inner =
                        super::fairseq_tok::fairseq_spm(&read(own)?, &own_path, &opts.fairseq())?;
                    Self::new(inner, TokenizerSource::SentencePiece(own_path.clone()))
                }
                Tokenization::DebertaSentencePiece => {
                    let specials = [&opts.cls, &opts.sep, &opts.unk, &opts.pad, &opts.mask];
                    let specials: Vec<&str> = specials.iter().map(|s| s.as_str()).collect();
                    let mut inner = super::deberta_tok::from_spm(
                        &read(own)?,
                        &own_path,
                        opts.deberta(),
                        &specials,
                    )?;
                    let pp = template(&inner, &opts).map_err(|e| tok_err(&own_path, e))?;
                    inner.with_post_processor(Some(pp));
                    Self::new(inner, TokenizerSource::SentencePiece(own_path.clone()))
                }
                // its own file is tokenizer.json, which is not there
                Tokenization::TokenizerJson => return Err(no_tokenizer(files, config, own)),
            }
        } else {
            return Err(no_tokenizer(files, config, own));
        };
        tok.checked(config)
    }

    /// An identity of the tokenization: the whole pipeline (vocabulary, normalizer,
    /// pre-tokenizer, post-processor, added tokens) and how type ids are fed, hashed. It does
    /// not depend on where the tokenizer was read from (a file, or bytes held in memory), so two
    /// models that tokenize alike have the same one.
    pub fn identity(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        // the library writes its vocabulary in id order: the same pipeline, the same text
        self.inner.to_string(false).unwrap_or_default().hash(&mut h);
        self.types_fed.hash(&mut h);
        h.finish()
    }

    /// The tokenizer, once every id it can produce is known to be a row of the model's
    /// embedding and it has tokenized a probe text.
    fn checked(self, config: &ModelConfig) -> Result<Self> {
        let mut tok = self;
        tok.types_fed = config.model_type.family().token_types == TokenTypes::Fed;
        // every id the tokenizer can produce must be a row of the model's embedding
        let size = tok
            .inner
            .get_vocab(true)
            .values()
            .map(|&id| id as usize + 1)
            .max()
            .unwrap_or(0)
            .max(tok.vocab_size());
        if size > config.vocab_size {
            return Err(LensError::TokenizerVocab {
                path: tok.source.path().to_path_buf(),
                tokenizer_size: size,
                model_size: config.vocab_size,
            });
        }
        tok.encode(PROBE_TEXT, Some(PROBE_TEXT), usize::MAX)?;
        Ok(tok)
    }

    fn from_tokenizer_json_bytes(bytes: &[u8], path: &Path, o: &TokOptions) -> Result<Self> {
        // the library panics on some corrupt fields (a precompiled character map that is not
        // base64): a panic is an error naming the file
        let mut inner = crate::error::catch_panic(&format!("reading {}", path.display()), || {
            Tokenizer::from_bytes(bytes).map_err(|e| tok_err(path, format!("cannot parse: {e}")))
        })?;
        // transformers v5 keeps the vocabulary, added tokens and post-processor of the file but
        // builds the normalizer and pre-tokenizer from the tokenizer class.
        match o.family.tokenization {
            Tokenization::SentencePiece => {
                let charsmap = precompiled_from_json(bytes);
                let norm =
                    albert_normalizer(o, charsmap.as_deref()).map_err(|e| tok_err(path, e))?;
                inner
                    .with_normalizer(Some(norm))
                    .map_err(|e| tok_err(path, e))?;
                inner.with_pre_tokenizer(Some(albert_pre_tokenizer(o)));
            }
            Tokenization::WordPiece => {
                inner
                    .with_normalizer(Some(bert_normalizer(o)))
                    .map_err(|e| tok_err(path, e))?;
                inner.with_pre_tokenizer(Some(PreTokenizerWrapper::BertPreTokenizer(
                    BertPreTokenizer,
                )));
            }
            // as the class builds them, whatever the file says (transformers 5 does the same)
            Tokenization::ByteLevelBpe => {
                super::fairseq_tok::byte_level_pipeline(&mut inner, &o.fairseq());
            }
            Tokenization::FairseqSentencePiece => {
                let charsmap = precompiled_from_json(bytes);
                super::fairseq_tok::fairseq_spm_pipeline(
                    &mut inner,
                    charsmap.as_deref(),
                    &o.fairseq(),
                )
                .map_err(|e| tok_err(path, e))?;
            }
            Tokenization::DebertaSentencePiece => {
                let charsmap = precompiled_from_json(bytes);
                super::deberta_tok::pipeline(&mut inner, charsmap.as_deref(), o.deberta())
                    .map_err(|e| tok_err(path, e))?;
            }
            // the file's own pipeline, as transformers' generic fast tokenizer reads it
            Tokenization::TokenizerJson => {}
        }
        if inner.get_post_processor().is_none() {
            let pp = match o.family.tokenization {
                Tokenization::ByteLevelBpe | Tokenization::FairseqSentencePiece => {
                    super::fairseq_tok::template(&inner, &o.fairseq())
                }
                _ => template(&inner, o),
            }
            .map_err(|e| tok_err(path, e))?;
            inner.with_post_processor(Some(pp));
        }
        inner.with_padding(None);
        Ok(Self::new(
            inner,
            TokenizerSource::TokenizerJson(path.to_path_buf()),
        ))
    }

    fn new(inner: Tokenizer, source: TokenizerSource) -> Self {
        LensTokenizer {
            inner,
            source,
            types_fed: true,
        }
    }

    fn from_spiece(bytes: &[u8], path: &Path, o: &TokOptions) -> Result<Self> {
        let m = spm::parse(bytes).map_err(|e| tok_err(path, e))?;
        if m.model_type != 1 {
            return Err(tok_err(
                path,
                format!(
                    "it is a SentencePiece model of type {} but ALBERT uses the unigram type (1)",
                    m.model_type
                ),
            ));
        }
        let vocab: Vec<(String, f64)> = m
            .pieces
            .iter()
            .map(|p| (p.piece.clone(), f64::from(p.score)))
            .collect();
        let model =
            Unigram::from(vocab, Some(m.unk_id as usize), false).map_err(|e| tok_err(path, e))?;
        let mut inner = Tokenizer::new(model);
        let charsmap =
            (!m.precompiled_charsmap.is_empty()).then_some(m.precompiled_charsmap.as_slice());
        inner
            .with_normalizer(Some(
                albert_normalizer(o, charsmap).map_err(|e| tok_err(path, e))?,
            ))
            .map_err(|e| tok_err(path, e))?;
        inner.with_pre_tokenizer(Some(albert_pre_tokenizer(o)));
        // Control and user-defined pieces are added tokens, matched before normalization.
        let mut specials: Vec<AddedToken> = m
            .pieces
            .iter()
            .filter(|p| {
                matches!(
                    p.kind,
                    spm::PieceType::Control | spm::PieceType::UserDefined
                )
            })
            .map(|p| {
                AddedToken::from(p.piece.clone(), p.kind == spm::PieceType::Control)
                    .normalized(false)
            })
            .collect();
        for s in [&o.pad, &o.unk, &o.cls, &o.sep, &o.mask] {
            if !specials.iter().any(|t| &t.content == s) && inner.token_to_id(s).is_some() {
                specials.push(AddedToken::from(s.clone(), true).normalized(false));
            }
        }
        Self::finished(
            inner,
            specials,
            o,
            TokenizerSource::SentencePiece(path.to_path_buf()),
        )
    }

    fn from_vocab_txt(bytes: &[u8], path: &Path, o: &TokOptions) -> Result<Self> {
        let text = std::str::from_utf8(bytes).map_err(|_| tok_err(path, "it is not UTF-8 text"))?;
        if text.trim().is_empty() {
            return Err(tok_err(path, "it is empty"));
        }
        if !text.lines().any(|t| t.trim_end() == o.unk) {
            return Err(tok_err(
                path,
                format!("it has no unknown token {:?}", o.unk),
            ));
        }
        let map = WordPiece::read_bytes(text.as_bytes()).map_err(|e| tok_err(path, e))?;
        let model = WordPiece::builder()
            .vocab(map)
            .unk_token(o.unk.clone())
            .continuing_subword_prefix("##".into())
            .max_input_chars_per_word(100)
            .build()
            .map_err(|e| tok_err(path, e))?;
        let mut inner = Tokenizer::new(model);
        inner
            .with_normalizer(Some(bert_normalizer(o)))
            .map_err(|e| tok_err(path, e))?;
        inner.with_pre_tokenizer(Some(PreTokenizerWrapper::BertPreTokenizer(
            BertPreTokenizer,
        )));
        let specials: Vec<AddedToken> = [&o.pad, &o.unk, &o.cls, &o.sep, &o.mask]
            .into_iter()
            .filter(|s| inner.token_to_id(s).is_some())
            .map(|s| AddedToken::from(s.clone(), true))
            .collect();
        Self::finished(
            inner,
            specials,
            o,
            TokenizerSource::VocabTxt(path.to_path_buf()),
        )
    }

    /// A tokenizer built from a vocabulary file (`source`) finished: its special tokens
    /// added, and the family's template ([CLS] … [SEP]) as its post-processor.
    fn finished(
        mut inner: Tokenizer,
        specials: Vec<AddedToken>,
        o: &TokOptions,
        source: TokenizerSource,
    ) -> Result<Self> {
        let path = source.path();
        inner
            .add_special_tokens(specials)
            .map_err(|e| tok_err(path, e))?;
        let pp = template(&inner, o).map_err(|e| tok_err(path, e))?;
        inner.with_post_processor(Some(pp));
        Ok(Self::new(inner, source))
    }

    /// Number of distinct ids the tokenizer can produce (vocabulary plus added tokens).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The token of `id`, or "#id" for an id the vocabulary lacks (for display).
    pub fn token_or_id(&self, id: u32) -> String {
        self.id_to_token(id).unwrap_or_else(|| format!("#{id}"))
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Tokenizes `text` (and an optional second segment) with special tokens, truncating to
    /// `max_len` tokens with HF's longest-first strategy when needed.
    /// A panic inside the tokenizer library is an error naming the tokenizer file.
    pub fn encode(&self, text: &str, pair: Option<&str>, max_len: usize) -> Result<EncodedInput> {
        // an empty second segment is no second segment, as in transformers (`if text_pair:`)
        let pair = pair.filter(|p| !p.is_empty());
        if text.trim().is_empty() && pair.is_none_or(|p| p.trim().is_empty()) {
            return Err(LensError::EmptyInput);
        }
        let path = self.source.path();
        let cap = max_chars(max_len);
        let (text_kept, a_cut) = cut_chars(text, cap);
        let (pair_kept, b_cut) = match pair {
            Some(p) => {
                let (k, c) = cut_chars(p, cap);
                (Some(k), c)
            }
            None => (None, false),
        };
        let mut e =
            crate::error::catch_panic(&format!("tokenizing with {}", path.display()), || {
                self.encode_unguarded(text_kept, pair_kept, max_len)
            })?;
        if a_cut || b_cut {
            let chars = text.chars().count() + pair.map_or(0, |p| p.chars().count());
            e.chars_cut = Some(chars);
            e.truncated.get_or_insert((e.len(), e.len()));
        }
        Ok(e)
    }

    fn encode_unguarded(
        &self,
        text: &str,
        pair: Option<&str>,
        max_len: usize,
    ) -> Result<EncodedInput> {
        let path = self.source.path();
        let enc_full = match pair {
            Some(p) => self.inner.encode((text, p), true),
            None => self.inner.encode(text, true),
        }
        .map_err(|e| tok_err(path, e))?;
        let full_len = enc_full.get_ids().len();
        // each segment's own tokens (special ones left out), before and after a cut
        let per_segment = |e: &tokenizers::Encoding, seg: u32| {
            e.get_sequence_ids()
                .iter()
                .zip(e.get_special_tokens_mask())
                .filter(|&(&t, &sp)| t == Some(seg as usize) && sp == 0)
                .count()
        };
        let full_counts = [0, 1].map(|seg| per_segment(&enc_full, seg));
        let enc = if full_len > max_len {
            let t = self.cutting_at(max_len)?;
            match pair {
                Some(p) => t.encode((text, p), true),
                None => t.encode(text, true),
            }
            .map_err(|e| {
                tok_err(
                    path,
                    format!("cannot truncate the input to {max_len} tokens: {e}"),
                )
            })?
        } else {
            enc_full
        };
        let truncated = (full_len > enc.get_ids().len()).then_some((full_len, enc.get_ids().len()));
        let segments_cut = (truncated.is_some() && pair.is_some())
            .then(|| [0, 1].map(|seg| (full_counts[seg as usize], per_segment(&enc, seg))));
        Ok(self.to_input(&enc, truncated, segments_cut))
    }

    /// The tokens of a text already split into words (a CoNLL sentence), as transformers'
    /// `is_split_into_words=True` gives them: each word tokenized on its own, `word_ids` the
    /// index of the word each token belongs to; cut to `max_len` tokens.
    pub fn encode_words(&self, words: &[&str], max_len: usize) -> Result<EncodedInput> {
        let path = self.source.path();
        if words.is_empty() {
            return Err(LensError::EmptyInput);
        }
        let full = self
            .inner
            .encode(words, true)
            .map_err(|e| tok_err(path, e))?;
        let full_len = full.get_ids().len();
        let enc = if full_len > max_len {
            self.cutting_at(max_len)?
                .encode(words, true)
                .map_err(|e| tok_err(path, e))?
        } else {
            full
        };
        let truncated = (full_len > enc.get_ids().len()).then_some((full_len, enc.get_ids().len()));
        Ok(self.to_input(&enc, truncated, None))
    }

    /// The tokenizer cutting its input to `max_len` tokens, longest segment first (as
    /// transformers truncates).
    fn cutting_at(&self, max_len: usize) -> Result<Tokenizer> {
        let mut t = self.inner.clone();
        t.with_truncation(Some(TruncationParams {
            max_length: max_len,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
            ..Default::default()
        }))
        .map_err(|e| tok_err(self.source.path(), e))?;
        Ok(t)
    }

    fn to_input(
        &self,
        enc: &tokenizers::Encoding,
        truncated: Option<(usize, usize)>,
        segments_cut: Option<[(usize, usize); 2]>,
    ) -> EncodedInput {
        let ids = enc.get_ids().to_vec();
        EncodedInput {
            type_ids: if self.types_fed {
                enc.get_type_ids().to_vec()
            } else {
                segments(enc)
            },
            // Token strings as transformers' convert_ids_to_tokens gives them (an unknown piece
            // reads as the unknown token, not as the text it covered).
            tokens: ids
                .iter()
                .zip(enc.get_tokens())
                .map(|(&id, t)| self.inner.id_to_token(id).unwrap_or_else(|| t.clone()))
                .collect(),
            special: enc
                .get_special_tokens_mask()
                .iter()
                .map(|&m| m != 0)
                .collect(),
            word_ids: enc.get_word_ids().to_vec(),
            ids,
            truncated,
            segments_cut,
            chars_cut: None,
        }
    }
}

/// Each token's segment (0: the text, 1: the pair) from the tokenizer's sequence ids, a special
/// token in the segment of the token before it (`<s> A </s></s> B </s>`: 0 … 0 0 1 … 1).
fn segments(enc: &tokenizers::Encoding) -> Vec<u32> {
    let mut last = 0;
    enc.get_sequence_ids()
        .iter()
        .map(|s| {
            if let Some(s) = s {
                last = *s as u32;
            }
            last
        })
        .collect()
}
