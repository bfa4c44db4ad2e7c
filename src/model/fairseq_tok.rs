//! The fairseq families' tokenizers built from their vocabulary files when a folder has no
//! tokenizer.json, the way transformers 5's classes build them: RoBERTa's byte-level BPE from
//! vocab.json + merges.txt (`RobertaTokenizer`), XLM-R's SentencePiece unigram from
//! sentencepiece.bpe.model in fairseq's id layout (`XLMRobertaTokenizer`: `<s> <pad> </s> <unk>`,
//! the model's pieces after its own three control pieces, then `<mask>`).

use crate::error::{LensError, Result};
use crate::model::spm;
use std::collections::HashMap;
use std::path::Path;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::decoders::metaspace::Metaspace as MetaspaceDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::models::unigram::Unigram;
use tokenizers::normalizers::Precompiled;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::sequence::Sequence as PreSeq;
use tokenizers::pre_tokenizers::whitespace::WhitespaceSplit;
use tokenizers::processors::roberta::RobertaProcessing;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, Tokenizer};

/// The special tokens and options of tokenizer_config.json.
#[derive(Debug, Clone)]
pub struct Specials {
    pub cls: String,
    pub sep: String,
    pub unk: String,
    pub pad: String,
    pub mask: String,
    pub add_prefix_space: bool,
}

fn err(path: &Path, msg: impl std::fmt::Display) -> LensError {
    LensError::Tokenizer {
        path: path.to_path_buf(),
        msg: msg.to_string(),
    }
}

/// RoBERTa's byte-level BPE from vocab.json and merges.txt (their bytes and paths; None: there
/// is no merges.txt beside the vocabulary).
pub fn byte_level_bpe(
    (bytes, vocab_path): (&[u8], &Path),
    merges: Option<(&[u8], &Path)>,
    sp: &Specials,
) -> Result<Tokenizer> {
    let vocab: HashMap<String, u32> = serde_json::from_slice(bytes).map_err(|e| {
        err(
            vocab_path,
            format!("not a vocabulary (a JSON map of token to id): {e}"),
        )
    })?;
    let Some((text, merges_path)) = merges else {
        let missing = vocab_path.with_file_name("merges.txt");
        return Err(err(
            vocab_path,
            format!(
                "a byte-level BPE vocabulary needs its merges.txt beside it, and {} is missing",
                missing.display()
            ),
        ));
    };
    let text = std::str::from_utf8(text).map_err(|_| err(merges_path, "it is not UTF-8 text"))?;
    let mut merges = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("#version") || line.trim().is_empty() {
            continue;
        }
        let mut parts = line.split(' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), None) => merges.push((a.to_string(), b.to_string())),
            _ => {
                return Err(err(
                    merges_path,
                    format!("line {} is not a merge (two tokens): {line:?}", i + 1),
                ))
            }
        }
    }
    let model = BPE::builder()
        .vocab_and_merges(
            vocab
                .into_iter()
                .collect::<tokenizers::models::bpe::Vocab>(),
            merges,
        )
        .build()
        .map_err(|e| err(merges_path, e))?;
    let mut t = Tokenizer::new(model);
    byte_level_pipeline(&mut t, sp);
    add_specials(&mut t, sp, vocab_path)?;
    let id = |s: &str| {
        t.token_to_id(s)
            .ok_or_else(|| err(vocab_path, format!("the vocabulary has no {s} token")))
    };
    let pp = RobertaProcessing::new(
        (sp.sep.clone(), id(&sp.sep)?),
        (sp.cls.clone(), id(&sp.cls)?),
    )
    .trim_offsets(true)
    .add_prefix_space(sp.add_prefix_space);
    t.with_post_processor(Some(pp));
    Ok(t)
}

/// XLM-R's SentencePiece unigram in fairseq's id layout, from the file's `bytes` (`path` names it
/// in messages).
pub fn fairseq_spm(bytes: &[u8], path: &Path, sp: &Specials) -> Result<Tokenizer> {
    let m = spm::parse(bytes).map_err(|e| err(path, e))?;
    if m.model_type != 1 || m.pieces.len() < 3 {
        return Err(err(
            path,
            format!(
                "it is a SentencePiece model of type {} with {} pieces, but XLM-R uses the unigram type (1) with <unk>, <s>, </s> first",
                m.model_type,
                m.pieces.len()
            ),
        ));
    }
    let mut vocab: Vec<(String, f64)> = [&sp.cls, &sp.pad, &sp.sep, &sp.unk]
        .iter()
        .map(|s| (s.to_string(), 0.0))
        .collect();
    vocab.extend(
        m.pieces[3..]
            .iter()
            .map(|p| (p.piece.clone(), f64::from(p.score))),
    );
    vocab.push((sp.mask.clone(), 0.0));
    let model = Unigram::from(vocab, Some(3), false).map_err(|e| err(path, e))?;
    let mut t = Tokenizer::new(model);
    let charsmap =
        (!m.precompiled_charsmap.is_empty()).then_some(m.precompiled_charsmap.as_slice());
    fairseq_spm_pipeline(&mut t, charsmap, sp).map_err(|e| err(path, e))?;
    add_specials(&mut t, sp, path)?;
    let pp = template(&t, sp).map_err(|e| err(path, e))?;
    t.with_post_processor(Some(pp));
    Ok(t)
}

/// RoBERTa's normalizer (none), pre-tokenizer and decoder as transformers 5's class builds them
/// (`add_prefix_space` from tokenizer_config.json), whatever a tokenizer.json says.
pub fn byte_level_pipeline(t: &mut Tokenizer, sp: &Specials) {
    // Tokenizer::with_normalizer(None) cannot fail
    let _ = t.with_normalizer(None::<Precompiled>);
    t.with_pre_tokenizer(Some(ByteLevel::new(sp.add_prefix_space, true, true)));
    t.with_decoder(Some(ByteLevelDecoder::new(sp.add_prefix_space, true, true)));
}

/// XLM-R's normalizer (its SentencePiece character map, when it has one), pre-tokenizer
/// (whitespace split, then "▁" word starts) and decoder as transformers 5's class builds them,
/// whatever a tokenizer.json says.
pub fn fairseq_spm_pipeline(
    t: &mut Tokenizer,
    charsmap: Option<&[u8]>,
    sp: &Specials,
) -> std::result::Result<(), String> {
    match charsmap {
        Some(map) => {
            spm::check_charsmap(map)?;
            let p =
                Precompiled::from(map).map_err(|e| format!("its character map is corrupt: {e}"))?;
            t.with_normalizer(Some(p)).map_err(|e| e.to_string())?;
        }
        None => {
            t.with_normalizer(None::<Precompiled>)
                .map_err(|e| e.to_string())?;
        }
    }
    let scheme = if sp.add_prefix_space {
        PrependScheme::Always
    } else {
        PrependScheme::Never
    };
    t.with_pre_tokenizer(Some(PreSeq::new(vec![
        WhitespaceSplit.into(),
        Metaspace::new('▁', scheme, true).into(),
    ])));
    t.with_decoder(Some(MetaspaceDecoder::new('▁', scheme, true)));
    Ok(())
}

/// The special tokens as added tokens (`<mask>` takes the space before it, as in RoBERTa).
fn add_specials(t: &mut Tokenizer, sp: &Specials, path: &Path) -> Result<()> {
    let tokens: Vec<AddedToken> = [&sp.cls, &sp.pad, &sp.sep, &sp.unk, &sp.mask]
        .into_iter()
        .filter(|s| t.token_to_id(s).is_some())
        .map(|s| AddedToken::from(s.clone(), true).lstrip(*s == sp.mask))
        .collect();
    t.add_special_tokens(tokens).map_err(|e| err(path, e))?;
    Ok(())
}

/// fairseq's inputs, `<s> A </s>` and `<s> A </s></s> B </s>`, every type id 0.
pub fn template(
    inner: &Tokenizer,
    sp: &Specials,
) -> std::result::Result<TemplateProcessing, String> {
    let id = |t: &str| {
        inner
            .token_to_id(t)
            .ok_or_else(|| format!("the vocabulary has no {t} token"))
    };
    let (cls, sep) = (&sp.cls, &sp.sep);
    TemplateProcessing::builder()
        .try_single(format!("{cls}:0 $A:0 {sep}:0"))
        .map_err(|e| e.to_string())?
        .try_pair(format!("{cls}:0 $A:0 {sep}:0 {sep}:0 $B:0 {sep}:0"))
        .map_err(|e| e.to_string())?
        .special_tokens(vec![(cls.clone(), id(cls)?), (sep.clone(), id(sep)?)])
        .build()
        .map_err(|e| e.to_string())
}
