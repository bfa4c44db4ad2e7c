//! The masked-LM head kept from ...ForMaskedLM / ...ForPreTraining checkpoints against
//! transformers' own logits (the golden files' `mlm_logits`): the last hidden state of our CPU
//! forward through the head must give HF's logits within 1e-4 * max(1, |reference|).
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use albert_lens::backend::{Backend, CpuBackend};
use albert_lens::model::LoadedModel;
use common::*;

fn check(name: &str) {
    let model = LoadedModel::open(&fixture(name)).unwrap();
    let head = model.weights.mlm.as_ref().expect("an MLM head");
    let mut checked = 0;
    for g in goldens(name) {
        let want = g.mlm_logits.expect("golden logits");
        let input = model.encode(&g.text, g.pair.as_deref()).unwrap();
        let trace = CpuBackend::new()
            .forward(&model.config, &model.weights, &input)
            .unwrap();
        let last = trace.hidden_states.last().unwrap();
        let got = head.logits(&model.config, last).unwrap();
        let w = worst_relative(&got, &want, HIDDEN_REL_TOL);
        assert!(w <= 1.0, "{name}/{}: logits {w:.2}x the tolerance", g.case);
        // the top prediction at every position agrees with HF
        let v = model.config.vocab_size;
        for (row_got, row_want) in got.chunks(v).zip(want.chunks(v)) {
            let argmax = |r: &[f32]| {
                r.iter()
                    .enumerate()
                    .fold((0, f32::MIN), |a, (i, &x)| if x > a.1 { (i, x) } else { a })
                    .0
            };
            assert_eq!(argmax(row_got), argmax(row_want), "{name}/{}", g.case);
        }
        checked += 1;
    }
    assert_eq!(checked, 7);
}

#[test]
fn albert_masked_lm_head_with_tied_decoder_matches_hf_logits() {
    let model = LoadedModel::open(&fixture("albert_mlm_sharded_f16")).unwrap();
    assert!(model.weights.mlm.as_ref().unwrap().tied);
    check("albert_mlm_sharded_f16");
}

#[test]
fn albert_pretraining_head_from_pytorch_model_bin_matches_hf_logits() {
    check("albert_pretraining_bin");
}

#[test]
fn bert_masked_lm_head_matches_hf_logits() {
    check("bert_mlm");
}

#[test]
fn a_hidden_state_of_the_wrong_size_is_an_error() {
    let model = LoadedModel::open(&fixture("bert_mlm")).unwrap();
    let head = model.weights.mlm.as_ref().unwrap();
    assert!(head.logits(&model.config, &[0.0; 7]).is_err());
}
