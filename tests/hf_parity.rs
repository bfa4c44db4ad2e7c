//! The CPU reference forward pass against Hugging Face transformers' own outputs
//! (tests/fixtures/golden, made by tools/fixtures/make_fixtures.py). Token ids must be identical;
//! attentions within 1e-5 max abs, hidden states within 1e-4 * max(1, |reference|).
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use albert_lens::backend::{Backend, CpuBackend};
use albert_lens::model::LoadedModel;
use common::*;

fn check_model(name: &str) {
    let model = LoadedModel::open(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let cases = goldens(name);
    assert!(cases.len() >= 7, "{name}: expected the 7 golden cases");
    for g in cases {
        let what = format!("{name}/{}", g.case);
        let input = model.encode(&g.text, g.pair.as_deref()).unwrap();
        assert_eq!(
            input.ids, g.trace.input_ids,
            "{what}: token ids differ from HF"
        );
        // what the model is fed (zeros for the families whose tokenizer gives no type ids)
        assert_eq!(
            *model.config.fed_type_ids(&input.type_ids),
            g.trace.token_type_ids,
            "{what}: token type ids"
        );
        let trace = CpuBackend::new()
            .forward(&model.config, &model.weights, &input)
            .unwrap();
        assert_trace_matches(&trace, &g.trace, &what);
        assert_eq!(trace.model_type, g.trace.model_type);
    }
}

/// RoBERTa (MLM with its decoder tied and left out of the file; a classifier), XLM-R (a token
/// classifier, SentencePiece in fairseq's layout), DistilBERT (its own names, no token types)
/// and ELECTRA (the generator's embeddings_project; E = H without one): sentences, a pair,
/// accents, emoji, CJK, one word and truncation at the longest input.
#[test]
fn every_other_family_matches_hf_on_the_cpu() {
    for name in FAMILY_MODELS {
        check_model(name);
    }
}

/// ModernBERT: pre-norm layers, rotary positions, layer 1 local (|i − j| ≤ 4: the truncated
/// case's far keys are exact zeros), GeGLU, the final norm; the config as transformers 5 writes
/// it and as the Hub ships it; biases off (the MLM) and on (the classifier).
#[test]
fn modernbert_matches_hf_on_the_cpu() {
    for name in MODERN_MODELS {
        check_model(name);
    }
}

/// DeBERTa-v3: the disentangled attention (content-to-position and position-to-content terms
/// from the layer's own projections of the normed relative table, over √(3d); c2p alone over
/// √(2d)), log-bucketed distances (buckets of 8: distances of 4 and more) or clamped ones (24
/// rows each way), no position table, the legacy MLM head.
#[test]
fn deberta_v3_matches_hf_on_the_cpu() {
    for name in DEBERTA_MODELS {
        check_model(name);
    }
}

#[test]
fn albert_with_one_shared_group_matches_hf() {
    check_model("albert_single");
}

#[test]
fn albert_with_two_groups_of_two_inner_layers_matches_hf() {
    let model = LoadedModel::open(&fixture("albert_grouped")).unwrap();
    // 2 groups x 2 inner layers held once; 4 outer layers -> 8 attention maps.
    assert_eq!(model.weights.groups.len(), 2);
    assert!(model.weights.groups.iter().all(|g| g.len() == 2));
    check_model("albert_grouped");
}

#[test]
fn albert_masked_lm_checkpoint_with_prefix_sharded_f16_matches_hf() {
    let model = LoadedModel::open(&fixture("albert_mlm_sharded_f16")).unwrap();
    assert!(model.weights.mlm.is_some(), "the MLM head must be kept");
    assert!(model.weights.stored_dtypes.contains("F16"));
    check_model("albert_mlm_sharded_f16");
}

#[test]
fn albert_pretraining_pytorch_model_bin_matches_hf() {
    let model = LoadedModel::open(&fixture("albert_pretraining_bin")).unwrap();
    assert!(model.weights.mlm.is_some());
    check_model("albert_pretraining_bin");
}

#[test]
fn albert_with_only_spiece_model_bf16_matches_hf() {
    let model = LoadedModel::open(&fixture("albert_spm_only_bf16")).unwrap();
    assert!(model.weights.stored_dtypes.contains("BF16"));
    check_model("albert_spm_only_bf16");
}

#[test]
fn bert_with_only_vocab_txt_matches_hf() {
    check_model("bert_vocab_only");
}

#[test]
fn bert_masked_lm_with_prefix_matches_hf() {
    let model = LoadedModel::open(&fixture("bert_mlm")).unwrap();
    assert!(model.weights.mlm.is_some());
    check_model("bert_mlm");
}

#[test]
fn truncated_input_keeps_max_positions_and_warns() {
    let model = LoadedModel::open(&fixture("albert_single")).unwrap();
    let long = "Attention lets every token look at every other token. ".repeat(40);
    let input = model.encode(&long, None).unwrap();
    assert_eq!(input.len(), model.config.max_position_embeddings);
    let (before, kept) = input.truncated.expect("must be marked truncated");
    assert!(before > kept);
    let trace = CpuBackend::new()
        .forward(&model.config, &model.weights, &input)
        .unwrap();
    assert!(trace.warnings.iter().any(|w| w.contains("truncated")));
    assert_eq!(trace.tokens.last().map(String::as_str), Some("[SEP]"));
}

/// `trace --internals` on the CPU: every intermediate equals what transformers' own modules
/// produced (forward hooks), within 1e-5 * max(1, |ref|), for ALBERT with one group, with
/// groups of inner layers, BERT and both built-in models.
#[test]
fn cpu_internals_match_transformers_forward_hooks() {
    use albert_lens::model::Capture;
    let cases = internals_cases();
    assert!(cases.len() >= 6, "expected the internals fixtures");
    for c in cases {
        let model = LoadedModel::open(&c.folder).unwrap();
        let input = model.encode(&c.text, c.pair.as_deref()).unwrap();
        let trace = CpuBackend::new()
            .forward_capture(&model.config, &model.weights, &input, &Capture::All)
            .unwrap();
        assert_trace_matches(&trace, &c.golden, &c.name);
        assert_internals_match(&trace, &c.golden, &format!("cpu {}", c.name));
    }
}

/// Asking for one map keeps that map's intermediates (and the embeddings) only, and they are
/// the same numbers as a full capture's.
#[test]
fn capturing_one_map_keeps_only_that_map() {
    use albert_lens::model::Capture;
    let model = LoadedModel::open(&fixture("albert_grouped")).unwrap();
    let input = model.encode("The quick brown fox.", None).unwrap();
    let mut cpu = CpuBackend::new();
    let all = cpu
        .forward_capture(&model.config, &model.weights, &input, &Capture::All)
        .unwrap();
    let one = cpu
        .forward_capture(
            &model.config,
            &model.weights,
            &input,
            &Capture::Maps(vec![5]),
        )
        .unwrap();
    let (all, one) = (all.internals.unwrap(), one.internals.unwrap());
    assert_eq!(one.maps.len(), 8);
    for (j, m) in one.maps.iter().enumerate() {
        assert_eq!(m.is_some(), j == 5, "map {j}");
    }
    assert_eq!(one.maps[5], all.maps[5]);
    assert_eq!(one.word, all.word);
}

/// Head ablation on the CPU: the listed heads' probabilities are 0 after the softmax at that
/// application only, and every later hidden state follows, equal to transformers with the same
/// heads zeroed (tests/fixtures/ablation: ALBERT with 2 groups × 2 inner layers, BERT,
/// albert-mini; attentions 1e-5, hidden states 1e-4 × max(1, |ref|)).
#[test]
fn ablated_heads_match_transformers_with_those_heads_zeroed() {
    use albert_lens::model::{Ablation, ForwardOptions};
    for (name, folder, path, meta) in
        golden_cases("ablation", &["albert_grouped", "bert_mlm", "albert-mini"])
    {
        let model = LoadedModel::open(&folder).unwrap();
        let input = model.encode(&meta["text"], None).unwrap();
        let ablate = Ablation::parse(&meta["ablate"]).unwrap();
        let opts = ForwardOptions {
            ablate: ablate.clone(),
            ..ForwardOptions::default()
        };
        let trace = CpuBackend::new()
            .forward_with(&model.config, &model.weights, &input, &opts)
            .unwrap();
        let golden = albert_lens::model::Trace::read_safetensors(&path).unwrap();
        assert_trace_matches(&trace, &golden, &format!("cpu ablated {name}"));
        for &(j, h) in &ablate.0 {
            assert!(
                trace.head(j, h).iter().all(|&p| p == 0.0),
                "{name}: {j}:{h} is zero"
            );
        }
        // and it differs from the intact run after the first ablated map
        let intact = CpuBackend::new()
            .forward(&model.config, &model.weights, &input)
            .unwrap();
        let first = ablate.0[0].0;
        assert_eq!(intact.hidden_states[first], trace.hidden_states[first]);
        assert_ne!(
            intact.hidden_states[first + 1],
            trace.hidden_states[first + 1]
        );
    }
}

/// The parameter table counts each family's backbone as transformers does (AutoModel's
/// parameters without the pooler, tools/fixtures/family_params.json): DistilBERT without a
/// token type table, RoBERTa with every position row stored, ELECTRA with and without its
/// embeddings_project, ModernBERT with its biases off and on (no position table, the final
/// norm), DeBERTa-v3 with its relative table; and it names how each was made smaller.
#[test]
fn the_parameter_table_counts_every_family_as_transformers_does() {
    use albert_lens::views::parameters;
    let read = |f: &str| -> std::collections::BTreeMap<String, usize> {
        serde_json::from_slice(&std::fs::read(fixture(f)).unwrap()).unwrap()
    };
    let (want, modern) = (read("family_params.json"), read("modernbert_params.json"));
    let deberta = read("deberta_params.json");
    assert_eq!(want.len(), FAMILY_MODELS.len());
    assert_eq!((modern.len(), deberta.len()), (3, 3));
    for (name, count) in want.iter().chain(&modern).chain(&deberta) {
        let m = LoadedModel::open(&fixture(name)).unwrap();
        let data = parameters::derive(&[(name, &m.config, &m.weights)]);
        let c = &data.columns[0];
        assert_eq!(c.counts.backbone(), *count, "{name}");
        let made = &c.reductions;
        match name.split('_').next().unwrap() {
            "distilbert" => assert_eq!(made, "distilled (3 layers)"),
            "electra" if name != "electra_seqcls" => {
                assert_eq!(made, "factorized embedding (E 16 < H 32)")
            }
            _ => assert_eq!(made, "none", "{name}"),
        }
    }
}
