//! Our tokenizers against transformers' on 61 varied strings (accents, CJK, emoji, odd spaces,
//! special tokens in text) and on sentence pairs, for every way a tokenizer can be given:
//! tokenizer.json and spiece.model for ALBERT, tokenizer.json and vocab.txt for BERT.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use albert_lens::model::tokenizer::TokenizerSource;
use albert_lens::model::LoadedModel;
use common::fixture;
use serde_json::Value;

fn cases() -> Vec<Value> {
    let path = common::fixtures().join("tokenizer_cases.json");
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v.as_array().unwrap().clone()
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
        assert_eq!(
            got.type_ids,
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
