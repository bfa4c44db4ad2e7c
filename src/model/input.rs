//! One tokenized input, as the tokenizer gives it and the backends take it: ids, segments,
//! the tokens' strings, which are special, the words they belong to, and whether (and where)
//! the text was cut to fit the model.

/// One tokenized input, ready for the model.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedInput {
    pub ids: Vec<u32>,
    /// The segment of each token (0: the text, 1: the pair): the type ids the tokenizer gives
    /// where the family feeds them; the model gets [`crate::model::ModelConfig::fed_type_ids`].
    pub type_ids: Vec<u32>,
    pub tokens: Vec<String>,
    /// true for [CLS], [SEP] and the like.
    pub special: Vec<bool>,
    /// Set when the input was cut to fit the model: (tokens before, tokens kept).
    pub truncated: Option<(usize, usize)>,
    /// For a sentence pair that was cut: each segment's own tokens (before, kept), A then B.
    pub segments_cut: Option<[(usize, usize); 2]>,
    /// The word each token belongs to, counted per segment (None for special tokens): what
    /// transformers' `word_ids()` gives, from the pre-tokenizer's split.
    pub word_ids: Vec<Option<u32>>,
    /// Set when the text (or pair) was longer than [`max_chars`] allows and only its start was
    /// tokenized: the characters it had.
    pub chars_cut: Option<usize>,
}

/// Text beyond this many characters cannot reach a model of `max_len` positions in any
/// realistic tokenization (a token covers at least one character; runs of blanks aside), so it
/// is cut before tokenizing: a 100 MB text costs no gigabytes.
pub fn max_chars(max_len: usize) -> usize {
    max_len.saturating_mul(16).max(4096)
}

/// `s` cut to its first `max` characters, and whether it was cut.
pub(super) fn cut_chars(s: &str, max: usize) -> (&str, bool) {
    match s.char_indices().nth(max) {
        Some((i, _)) => (&s[..i], true),
        None => (s, false),
    }
}

impl EncodedInput {
    /// A deterministic input of `n` tokens with ids spread over a vocabulary of `vocab` (for
    /// benchmarks and tests with random weights).
    pub fn synthetic(n: usize, vocab: usize) -> Self {
        let ids: Vec<u32> = (0..n)
            .map(|i| ((i * 7919 + 13) % vocab.max(1)) as u32)
            .collect();
        EncodedInput {
            tokens: ids.iter().map(|i| format!("t{i}")).collect(),
            type_ids: vec![0; n],
            special: vec![false; n],
            ids,
            truncated: None,
            segments_cut: None,
            word_ids: (0..n as u32).map(Some).collect(),
            chars_cut: None,
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
    /// What the UI and the CLI warn of: the input was cut, or some of its tokens are unknown to
    /// the vocabulary.
    pub fn warnings(&self) -> Vec<String> {
        self.truncation_warning()
            .into_iter()
            .chain(self.unknown_warning())
            .collect()
    }

    /// Tokens the vocabulary does not know (`[UNK]`, `<unk>`), counted, with what to do.
    pub fn unknown_warning(&self) -> Option<String> {
        let unknown = self
            .tokens
            .iter()
            .filter(|t| matches!(t.as_str(), "[UNK]" | "<unk>"))
            .count();
        (unknown > 0).then(|| {
            let words = self.tokens.len() - self.special.iter().filter(|&&s| s).count();
            format!(
                "{unknown} of the text's {words} tokens are unknown to this model's vocabulary (shown as [UNK]): its tokenizer does not cover some characters (CJK, emoji and other scripts often), so the model sees only that they are there. A multilingual model covers them, e.g. hub:bert-base-multilingual-cased."
            )
        })
    }

    /// A warning for the UI / CLI when the input was cut.
    pub fn truncation_warning(&self) -> Option<String> {
        if let Some(chars) = self.chars_cut {
            return Some(format!(
                "the input has {chars} characters, far more than the model's {} positions can hold: only its start was tokenized, and truncated to the first {} tokens",
                self.truncated.map_or(self.len(), |t| t.1),
                self.len()
            ));
        }
        self.truncated.map(|(before, kept)| match self.segments_cut {
            Some([(a0, a1), (b0, b1)]) => format!(
                "the pair has {before} tokens but the model takes at most {kept}: it was cut longest-first (as transformers does), segment A from {a0} to {a1} tokens and segment B from {b0} to {b1}"
            ),
            None => format!(
                "the input has {before} tokens but the model takes at most {kept}: it was truncated to the first {kept}"
            ),
        })
    }
}
