//! The pieces transformers' tokenizer classes build around a vocabulary: ALBERT's normalizer
//! (quotes, accents, lower case, the SentencePiece character map) and Metaspace pre-tokenizer,
//! BERT's normalizer, the post-processor's template, and the character map read from a
//! tokenizer.json (base64).

use super::TokOptions;
use crate::model::spm;
use tokenizers::normalizers::{
    BertNormalizer, Lowercase, NormalizerWrapper, Precompiled, Replace, Sequence as NormSeq,
    StripAccents, NFKD,
};
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::sequence::Sequence as PreSeq;
use tokenizers::pre_tokenizers::whitespace::WhitespaceSplit;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::Tokenizer;

pub(super) fn albert_normalizer(
    o: &TokOptions,
    charsmap: Option<&[u8]>,
) -> std::result::Result<NormalizerWrapper, String> {
    let mut list: Vec<NormalizerWrapper> = vec![
        Replace::new("``", "\"").map_err(|e| e.to_string())?.into(),
        Replace::new("''", "\"").map_err(|e| e.to_string())?.into(),
    ];
    if !o.keep_accents {
        list.push(NFKD.into());
        list.push(StripAccents.into());
    }
    if o.do_lower_case {
        list.push(Lowercase.into());
    }
    if let Some(map) = charsmap {
        spm::check_charsmap(map)?;
        let p = Precompiled::from(map)
            .map_err(|e| format!("its SentencePiece character map is corrupt: {e}"))?;
        list.push(p.into());
    }
    Ok(NormSeq::new(list).into())
}

pub(super) fn albert_pre_tokenizer(o: &TokOptions) -> PreTokenizerWrapper {
    let scheme = if o.add_prefix_space {
        PrependScheme::Always
    } else {
        PrependScheme::Never
    };
    PreSeq::new(vec![
        WhitespaceSplit.into(),
        Metaspace::new('▁', scheme, true).into(),
    ])
    .into()
}

pub(super) fn bert_normalizer(o: &TokOptions) -> NormalizerWrapper {
    BertNormalizer::new(
        true,
        o.tokenize_chinese_chars,
        o.strip_accents,
        o.do_lower_case,
    )
    .into()
}

pub(super) fn template(
    inner: &Tokenizer,
    o: &TokOptions,
) -> std::result::Result<TemplateProcessing, String> {
    let id = |t: &str| {
        inner
            .token_to_id(t)
            .ok_or_else(|| format!("the vocabulary has no {t} token"))
    };
    let (cls, sep) = (id(&o.cls)?, id(&o.sep)?);
    TemplateProcessing::builder()
        .try_single(format!("{}:0 $A:0 {}:0", o.cls, o.sep))
        .map_err(|e| e.to_string())?
        .try_pair(format!("{}:0 $A:0 {}:0 $B:1 {}:1", o.cls, o.sep, o.sep))
        .map_err(|e| e.to_string())?
        .special_tokens(vec![(o.cls.clone(), cls), (o.sep.clone(), sep)])
        .build()
        .map_err(|e| e.to_string())
}

/// The SentencePiece character map stored in a tokenizer.json's normalizer, if any.
pub(super) fn precompiled_from_json(bytes: &[u8]) -> Option<Vec<u8>> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let norm = v.get("normalizer")?;
    let list: Vec<&serde_json::Value> = match norm.get("normalizers").and_then(|n| n.as_array()) {
        Some(a) => a.iter().collect(),
        None => vec![norm],
    };
    for n in list {
        if n.get("type").and_then(|t| t.as_str()) == Some("Precompiled") {
            let b64 = n.get("precompiled_charsmap")?.as_str()?;
            return base64_decode(b64);
        }
    }
    None
}

pub(super) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let bytes: Vec<u8> = s
        .bytes()
        .filter(|&c| c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let n = chunk.len();
        if n < 2 {
            return None;
        }
        out.push((acc >> 16) as u8);
        if n > 2 {
            out.push((acc >> 8) as u8);
        }
        if n > 3 {
            out.push(acc as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_round_trip_known_values() {
        assert_eq!(super::base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(super::base64_decode("aGk=").unwrap(), b"hi");
        assert_eq!(super::base64_decode("YWJj").unwrap(), b"abc");
        assert!(super::base64_decode("a$b=").is_none());
    }
}
