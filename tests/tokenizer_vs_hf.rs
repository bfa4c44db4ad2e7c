//! Our tokenizers against transformers' on 61 varied strings (accents, CJK, emoji, odd spaces,
//! special tokens in text) and on sentence pairs, for every way a tokenizer can be given:
//! tokenizer.json and spiece.model for ALBERT, tokenizer.json and vocab.txt for BERT; for the
//! other families tokenizer.json (RoBERTa's byte-level BPE, XLM-R's SentencePiece, DistilBERT's
//! WordPiece) and the vocabulary files alone (vocab.json + merges.txt; sentencepiece.bpe.model).
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use albert_lens::model::family::Tokenization;
use albert_lens::model::tokenizer::TokenizerSource;
use albert_lens::model::LoadedModel;
use common::fixture;
use serde_json::Value;

fn cases() -> Vec<Value> {
    [
        "tokenizer_cases.json",
        "family_tokenizer_cases.json",
        "modernbert_tokenizer_cases.json",
        "deberta_tokenizer_cases.json",
    ]
    .iter()
    .flat_map(|f| {
        let path = common::fixtures().join(f);
        let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        v.as_array().unwrap().clone()
    })
    .collect()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn check(fixture_name: &str, expect_source: fn(&TokenizerSource) -> bool) {
    let model = LoadedModel::open(&fixture(fixture_name)).unwrap();
    assert!(
        expect_source(&model.tokenizer.source),
        "{fixture_name}: loaded from {:?}",
        model.tokenizer.source
    );
    let all = cases();
    let case = all
        .iter()
        .find(|c| c["fixture"] == fixture_name)
        .expect("fixture in tokenizer_cases.json");
    let singles = case["single"].as_array().unwrap();
    assert!(singles.len() >= 50, "at least 50 strings");
    let mut failures = Vec::new();
    for row in singles {
        let text = row["text"].as_str().unwrap();
        let want = ids(&row["ids"]);
        let got = model.tokenizer.encode(text, None, usize::MAX).unwrap();
        if got.ids != want {
            failures.push(format!("{text:?}: got {:?} want {want:?}", got.tokens));
        }
        let want_tokens: Vec<String> = row["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        if got.ids == want && got.tokens != want_tokens {
            failures.push(format!(
                "{text:?}: token strings {:?} want {want_tokens:?}",
                got.tokens
            ));
        }
    }
    for row in case["pairs"].as_array().unwrap() {
        let got = model
            .tokenizer
            .encode(
                row["text"].as_str().unwrap(),
                Some(row["pair"].as_str().unwrap()),
                usize::MAX,
            )
            .unwrap();
        assert_eq!(got.ids, ids(&row["ids"]), "{fixture_name}: pair ids");
        // fairseq tokenizers give type id 0 throughout (what the model is fed); the others
        // their segments
        let fairseq = matches!(
            model.config.model_type.family().tokenization,
            Tokenization::ByteLevelBpe | Tokenization::FairseqSentencePiece
        );
        let got_types = if fairseq {
            model.config.fed_type_ids(&got.type_ids).to_vec()
        } else {
            got.type_ids.clone()
        };
        assert_eq!(
            got_types,
            ids(&row["type_ids"]),
            "{fixture_name}: pair type ids"
        );
    }
    assert!(
        failures.is_empty(),
        "{fixture_name}: {} of {} strings differ from HF:\n{}",
        failures.len(),
        singles.len(),
        failures.join("\n")
    );
}

#[test]
fn albert_tokenizer_json_matches_hf_on_61_strings() {
    check("albert_single", |s| {
        matches!(s, TokenizerSource::TokenizerJson(_))
    });
}

#[test]
fn albert_tokenizer_built_from_spiece_model_matches_hf_on_61_strings() {
    check("albert_spm_only_bf16", |s| {
        matches!(s, TokenizerSource::SentencePiece(_))
    });
}

#[test]
fn bert_tokenizer_built_from_vocab_txt_matches_hf_on_61_strings() {
    check("bert_vocab_only", |s| {
        matches!(s, TokenizerSource::VocabTxt(_))
    });
}

#[test]
fn bert_tokenizer_json_matches_hf_on_61_strings() {
    check("bert_mlm", |s| {
        matches!(s, TokenizerSource::TokenizerJson(_))
    });
}

#[test]
fn special_tokens_are_marked() {
    let model = LoadedModel::open(&fixture("albert_single")).unwrap();
    let enc = model.encode("The capital is [MASK].", None).unwrap();
    assert!(enc.special[0] && *enc.special.last().unwrap());
    assert!(enc.tokens.contains(&"[MASK]".to_string()));
    assert!(!enc.special[1]);
}

#[test]
fn roberta_byte_level_bpe_from_tokenizer_json_and_from_vocab_json_matches_hf() {
    check("roberta_mlm", |s| {
        matches!(s, TokenizerSource::TokenizerJson(_))
    });
    check("roberta_vocab_only", |s| {
        matches!(s, TokenizerSource::VocabJson(_))
    });
}

#[test]
fn xlmr_sentencepiece_from_tokenizer_json_and_from_its_model_file_matches_hf() {
    check("xlmr_tokcls", |s| {
        matches!(s, TokenizerSource::TokenizerJson(_))
    });
    check("xlmr_spm_only", |s| {
        matches!(s, TokenizerSource::SentencePiece(_))
    });
}

/// ModernBERT's byte-level BPE, its tokenizer.json read as it is (no prefix space, [MASK]
/// taking the space before it).
#[test]
fn modernbert_tokenizer_json_matches_hf() {
    check("modernbert_mlm", |s| {
        matches!(s, TokenizerSource::TokenizerJson(_))
    });
}

/// DeBERTa-v3's SentencePiece: the class's normalizer and Metaspace over tokenizer.json, and
/// the same tokenizer from spm.model alone ([MASK] added after the pieces).
#[test]
fn deberta_sentencepiece_from_tokenizer_json_and_from_spm_model_matches_hf() {
    check("deberta_mlm", |s| {
        matches!(s, TokenizerSource::TokenizerJson(_))
    });
    check("deberta_spm_only", |s| {
        matches!(s, TokenizerSource::SentencePiece(_))
    });
}

#[test]
fn distilbert_wordpiece_matches_hf() {
    check("distilbert_mlm", |s| {
        matches!(s, TokenizerSource::TokenizerJson(_))
    });
}

/// The fairseq pair `<s> A </s></s> B </s>`: the segments the views colour and group words by
/// come from the tokenizer's sequence ids, though RoBERTa is fed type id 0 throughout.
#[test]
fn fairseq_pairs_keep_their_segments_but_feed_zero_type_ids() {
    let model = LoadedModel::open(&fixture("roberta_mlm")).unwrap();
    let e = model
        .tokenizer
        .encode("Where is it?", Some("Over there."), usize::MAX)
        .unwrap();
    let first_sep = e.tokens.iter().position(|t| t == "</s>").unwrap();
    assert_eq!(e.tokens[first_sep + 1], "</s>", "{:?}", e.tokens);
    assert!(e.type_ids[..=first_sep + 1].iter().all(|&t| t == 0));
    assert!(
        e.type_ids[first_sep + 2..].iter().all(|&t| t == 1),
        "{:?}",
        e.type_ids
    );
    assert!(model
        .config
        .fed_type_ids(&e.type_ids)
        .iter()
        .all(|&t| t == 0));
}

/// A tokenizer.json whose normalizer and pre-tokenizer differ from what the class builds
/// (lower-casing, another prefix-space rule): transformers 5 builds the class's own for
/// RoBERTa and XLM-R, keeping the file's vocabulary and post-processor, and so does albert-lens.
#[test]
fn fairseq_tokenizers_build_their_class_pipeline_over_the_files() {
    check("roberta_odd_json", |s| {
        matches!(s, TokenizerSource::TokenizerJson(_))
    });
    check("xlmr_odd_json", |s| {
        matches!(s, TokenizerSource::TokenizerJson(_))
    });
}
