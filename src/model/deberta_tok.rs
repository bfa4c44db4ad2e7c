//! DeBERTa-v3's tokenizer as transformers 5's `DebertaV2Tokenizer` builds it: a SentencePiece
//! unigram (spm.model's pieces in their own order: [PAD] [CLS] [SEP] [UNK] first, [MASK] added
//! after them), the normalizer [lower-casing when `do_lower_case`,] the character map, a strip
//! on the right and runs of spaces made one (without a map: whitespace runs and \n \r \t made
//! one space, NFC, the strip), and the pre-tokenizer [punctuation split off when
//! `split_by_punct`,] Metaspace with "▁" before every word (`add_prefix_space`, the default) or
//! only the first. Over a tokenizer.json the class keeps the file's vocabulary, added tokens and
//! template and builds this normalizer and pre-tokenizer itself.

use crate::error::{LensError, Result};
use crate::model::spm;
use std::path::Path;
use tokenizers::decoders::metaspace::Metaspace as MetaspaceDecoder;
use tokenizers::models::unigram::Unigram;
use tokenizers::normalizers::{
    Lowercase, NormalizerWrapper, Precompiled, Replace, Sequence as NormSeq, Strip, NFC,
};
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::punctuation::Punctuation;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSeq;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

/// tokenizer_config.json's options the class reads.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub lower: bool,
    pub split_by_punct: bool,
    pub add_prefix_space: bool,
}

/// Sets the class's normalizer, pre-tokenizer and decoder on `t` (`charsmap`: the
/// SentencePiece character map, from spm.model or tokenizer.json's Precompiled normalizer).
pub fn pipeline(
    t: &mut Tokenizer,
    charsmap: Option<&[u8]>,
    o: Options,
) -> std::result::Result<(), String> {
    let e = |x: tokenizers::Error| x.to_string();
    let mut norms: Vec<NormalizerWrapper> = Vec::new();
    if o.lower {
        norms.push(Lowercase.into());
    }
    match charsmap {
        Some(map) => {
            spm::check_charsmap(map)?;
            let p = Precompiled::from(map)
                .map_err(|x| format!("its SentencePiece character map is corrupt: {x}"))?;
            norms.push(p.into());
            norms.push(Strip::new(false, true).into());
            norms.push(Replace::new(regex(" {2,}"), " ").map_err(e)?.into());
        }
        None => {
            norms.push(
                Replace::new(regex(r"\s{2,}|[\n\r\t]"), " ")
                    .map_err(e)?
                    .into(),
            );
            norms.push(NFC.into());
            norms.push(Strip::new(false, true).into());
        }
    }
    t.with_normalizer(Some(NormSeq::new(norms))).map_err(e)?;
    let scheme = match o.add_prefix_space {
        true => PrependScheme::Always,
        false => PrependScheme::First,
    };
    let mut pres: Vec<PreTokenizerWrapper> = Vec::new();
    if o.split_by_punct {
        pres.push(Punctuation::new(SplitDelimiterBehavior::Isolated).into());
    }
    pres.push(Metaspace::new('▁', scheme, true).into());
    t.with_pre_tokenizer(Some(PreSeq::new(pres)));
    t.with_decoder(Some(MetaspaceDecoder::new('▁', scheme, true)));
    Ok(())
}

fn regex(pattern: &str) -> tokenizers::normalizers::replace::ReplacePattern {
    tokenizers::normalizers::replace::ReplacePattern::Regex(pattern.to_string())
}

/// The tokenizer from spm.model alone (its `bytes`; `path` names it in messages): its pieces as they are, `specials` ([CLS], [SEP],
/// [UNK], [PAD], [MASK]) marked special and the mask added after the pieces when the model has
/// none.
pub fn from_spm(bytes: &[u8], path: &Path, o: Options, specials: &[&str]) -> Result<Tokenizer> {
    let err = |msg: String| LensError::Tokenizer {
        path: path.to_path_buf(),
        msg,
    };
    let m = spm::parse(bytes).map_err(|e| err(e.to_string()))?;
    if m.model_type != 1 || m.pieces.is_empty() {
        return Err(err(format!(
            "it is a SentencePiece model of type {} with {} pieces, but DeBERTa-v3 uses the unigram type (1)",
            m.model_type,
            m.pieces.len()
        )));
    }
    let vocab: Vec<(String, f64)> = m
        .pieces
        .iter()
        .map(|p| (p.piece.clone(), f64::from(p.score)))
        .collect();
    let unk = vocab.iter().position(|(p, _)| p == "[UNK]");
    let model = Unigram::from(vocab, unk, false).map_err(|e| err(e.to_string()))?;
    let mut t = Tokenizer::new(model);
    let charsmap =
        (!m.precompiled_charsmap.is_empty()).then_some(m.precompiled_charsmap.as_slice());
    pipeline(&mut t, charsmap, o).map_err(err)?;
    let tokens: Vec<AddedToken> = specials
        .iter()
        .map(|s| AddedToken::from(s.to_string(), true))
        .collect();
    t.add_special_tokens(tokens)
        .map_err(|e| err(e.to_string()))?;
    Ok(t)
}
