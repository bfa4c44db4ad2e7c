//! The wgpu backend against transformers' golden outputs (every fixture and case) and against
//! the CPU reference on awkward random shapes. On CI (CI=true) a missing adapter FAILS these
//! tests; elsewhere they are skipped with a message. CI runs them on Mesa's lavapipe.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use albert_lens::backend::{Backend, CpuBackend};
use albert_lens::model::{LoadedModel, ModelConfig, ModelWeights};
use common::*;
use std::path::Path;

fn check_fixture(name: &str) {
    with_gpu(|gpu| {
        let model = LoadedModel::open(&fixture(name)).unwrap();
        for g in goldens(name) {
            let input = model.encode(&g.text, g.pair.as_deref()).unwrap();
            let trace = gpu.forward(&model.config, &model.weights, &input).unwrap();
            assert_trace_matches(&trace, &g.trace, &format!("gpu {name}/{}", g.case));
        }
    });
}

#[test]
fn gpu_every_other_family_matches_hf() {
    for name in FAMILY_MODELS {
        check_fixture(name);
    }
}

/// ModernBERT on the GPU: the rotary kernel, the local layer's window in the softmax (exact
/// zeros), the GeGLU kernel, the residual adds without a norm and the final norm.
#[test]
fn gpu_modernbert_matches_hf() {
    for name in MODERN_MODELS {
        check_fixture(name);
    }
}

/// DeBERTa-v3 on the GPU: the relative projections, c2p and p2c as batched matmuls and
/// relative.wgsl adding them to the scores.
#[test]
fn gpu_deberta_v3_matches_hf() {
    for name in DEBERTA_MODELS {
        check_fixture(name);
    }
}

#[test]
fn gpu_albert_single_group_matches_hf() {
    check_fixture("albert_single");
}

#[test]
fn gpu_albert_grouped_matches_hf() {
    check_fixture("albert_grouped");
}

#[test]
fn gpu_albert_mlm_sharded_f16_matches_hf() {
    check_fixture("albert_mlm_sharded_f16");
}

#[test]
fn gpu_albert_pretraining_bin_matches_hf() {
    check_fixture("albert_pretraining_bin");
}

#[test]
fn gpu_albert_spm_only_bf16_relu_matches_hf() {
    check_fixture("albert_spm_only_bf16");
}

#[test]
fn gpu_bert_vocab_only_matches_hf() {
    check_fixture("bert_vocab_only");
}

#[test]
fn gpu_bert_mlm_matches_hf() {
    check_fixture("bert_mlm");
}

fn config(json: &str) -> ModelConfig {
    ModelConfig::from_json_bytes(json.as_bytes(), Path::new("test")).unwrap()
}

/// GPU against the CPU reference on a random model, for several token counts.
fn gpu_matches_cpu(cfg: &ModelConfig, lengths: &[usize]) {
    let weights = ModelWeights::random(cfg, 7).unwrap();
    with_gpu(|gpu| {
        for &n in lengths {
            let input = albert_lens::bench::synthetic_input(cfg, n);
            let want = CpuBackend::new().forward(cfg, &weights, &input).unwrap();
            let got = gpu.forward(cfg, &weights, &input).unwrap();
            assert_trace_matches(&got, &want, &format!("random model, N={n}"));
            // the same again into the recycled memory of the first result
            gpu.recycle(got);
            let again = gpu.forward(cfg, &weights, &input).unwrap();
            assert_trace_matches(&again, &want, &format!("random model, N={n}, recycled"));
        }
    });
}

#[test]
fn gpu_matches_cpu_at_awkward_token_counts_and_sizes() {
    // H=40 (not a tile multiple), I=72, E=24, 5 heads of 8; N = 1, 3, 17, 129.
    let cfg = config(
        r#"{"model_type":"albert","vocab_size":97,"embedding_size":24,"hidden_size":40,
            "num_hidden_layers":3,"num_attention_heads":5,"intermediate_size":72,
            "max_position_embeddings":160,"hidden_act":"gelu"}"#,
    );
    gpu_matches_cpu(&cfg, &[1, 3, 17, 129]);
}

#[test]
fn gpu_matches_cpu_with_one_head_and_e_equal_h() {
    let cfg = config(
        r#"{"model_type":"albert","vocab_size":50,"embedding_size":36,"hidden_size":36,
            "num_hidden_layers":2,"num_attention_heads":1,"intermediate_size":50,
            "max_position_embeddings":64,"hidden_act":"silu","num_hidden_groups":2}"#,
    );
    gpu_matches_cpu(&cfg, &[1, 5, 33]);
}

#[test]
fn gpu_matches_cpu_when_sizes_are_not_multiples_of_4() {
    // head size 6, hidden 30, ffn 50: the scalar matmul and the fused attention kernel
    let cfg = config(
        r#"{"model_type":"albert","vocab_size":80,"embedding_size":10,"hidden_size":30,
            "num_hidden_layers":2,"num_attention_heads":5,"intermediate_size":50,
            "max_position_embeddings":40,"hidden_act":"gelu_new"}"#,
    );
    gpu_matches_cpu(&cfg, &[1, 6, 23]);
}

#[test]
fn gpu_matches_cpu_when_the_ffn_output_is_split_along_k() {
    // K = 1024 over 64 outputs at a handful of tokens launches one workgroup: split in 4,
    // the parts summed by the layernorm kernel
    let cfg = config(
        r#"{"model_type":"bert","vocab_size":64,"hidden_size":64,"num_hidden_layers":2,
            "num_attention_heads":4,"intermediate_size":1024,"max_position_embeddings":32,
            "hidden_act":"gelu"}"#,
    );
    assert_eq!(albert_lens::backend::gpu::kernels::split_k(5, 1024, 64), 4);
    gpu_matches_cpu(&cfg, &[1, 5, 31]);
}

#[test]
fn gpu_matches_cpu_for_every_activation() {
    for act in [
        "gelu_new",
        "quick_gelu",
        "relu6",
        "mish",
        "tanh",
        "sigmoid",
        "linear",
    ] {
        let cfg = config(&format!(
            r#"{{"model_type":"bert","vocab_size":60,"hidden_size":16,"num_hidden_layers":1,
                "num_attention_heads":2,"intermediate_size":24,"max_position_embeddings":32,
                "hidden_act":"{act}"}}"#
        ));
        gpu_matches_cpu(&cfg, &[7]);
    }
}

#[test]
fn gpu_weights_of_a_shared_group_are_stored_once() {
    let cfg = config(
        r#"{"model_type":"albert","vocab_size":50,"embedding_size":8,"hidden_size":16,
            "num_hidden_layers":12,"num_attention_heads":2,"intermediate_size":32,
            "max_position_embeddings":16}"#,
    );
    let weights = ModelWeights::random(&cfg, 1).unwrap();
    with_gpu(|gpu| {
        let input = albert_lens::bench::synthetic_input(&cfg, 4);
        gpu.forward(&cfg, &weights, &input).unwrap();
        let bytes = gpu.weight_bytes(weights.id).unwrap();
        // every parameter once, in f32: 12 layers share one group
        assert_eq!(bytes, 4 * weights.param_count as u64);
    });
}

#[test]
fn a_model_the_gpu_kernels_cannot_run_falls_back_to_the_cpu_with_a_warning() {
    use albert_lens::backend::FallbackBackend;
    // head size 300 is more than the attention kernel holds: the GPU refuses, the CPU answers
    let cfg = config(
        r#"{"model_type":"bert","vocab_size":40,"hidden_size":300,"num_hidden_layers":1,
            "num_attention_heads":1,"intermediate_size":64,"max_position_embeddings":16}"#,
    );
    let weights = ModelWeights::random(&cfg, 5).unwrap();
    let input = albert_lens::bench::synthetic_input(&cfg, 5);
    let want = CpuBackend::new().forward(&cfg, &weights, &input).unwrap();
    let mut gpu_ok = false;
    with_gpu(|_| gpu_ok = true);
    if !gpu_ok {
        return; // skipped: no adapter (and not on CI)
    }
    let gpu = albert_lens::backend::GpuBackend::headless().unwrap();
    let mut b = FallbackBackend::with_gpu(Some(gpu));
    let got = b.forward(&cfg, &weights, &input).unwrap();
    assert_trace_matches(&got, &want, "fallback");
    let warning = got.warnings.join(" ");
    assert!(
        warning.contains("GPU backend failed") && warning.contains("head size 300"),
        "{warning}"
    );
    assert!(b.notice.as_deref().unwrap_or("").contains("CPU backend"));
}

#[test]
fn without_a_gpu_the_fallback_backend_is_the_cpu() {
    use albert_lens::backend::FallbackBackend;
    let model = LoadedModel::open(&fixture("albert_single")).unwrap();
    let input = model.encode("hello world", None).unwrap();
    let mut b = FallbackBackend::with_gpu(None);
    assert_eq!(b.name(), "cpu");
    let t = b.forward(&model.config, &model.weights, &input).unwrap();
    assert!(t.warnings.is_empty());
}

/// `trace --internals` on the GPU: every intermediate equals transformers' forward hooks within
/// 1e-5 * max(1, |ref|) (the same fixtures as the CPU test).
#[test]
fn gpu_internals_match_transformers_forward_hooks() {
    use albert_lens::model::Capture;
    with_gpu(|gpu| {
        for c in internals_cases() {
            let model = LoadedModel::open(&c.folder).unwrap();
            let input = model.encode(&c.text, c.pair.as_deref()).unwrap();
            let trace = gpu
                .forward_capture(&model.config, &model.weights, &input, &Capture::All)
                .unwrap();
            assert_trace_matches(&trace, &c.golden, &c.name);
            assert_internals_match(&trace, &c.golden, &format!("gpu {}", c.name));
        }
    });
}

/// The fused attention kernel (head size not a multiple of 4) never stores the scores; the
/// captured intermediates still equal the CPU reference's, one map asked for or all.
#[test]
fn gpu_internals_match_cpu_with_the_fused_attention_kernel() {
    use albert_lens::model::Capture;
    let cfg = config(
        r#"{"model_type":"albert","vocab_size":80,"embedding_size":10,"hidden_size":30,
            "num_hidden_layers":2,"num_attention_heads":5,"intermediate_size":50,
            "max_position_embeddings":40,"hidden_act":"gelu_new","inner_group_num":2}"#,
    );
    let weights = ModelWeights::random(&cfg, 11).unwrap();
    with_gpu(|gpu| {
        for (n, capture) in [(7, Capture::All), (13, Capture::Maps(vec![2]))] {
            let input = albert_lens::bench::synthetic_input(&cfg, n);
            let want = CpuBackend::new()
                .forward_capture(&cfg, &weights, &input, &capture)
                .unwrap();
            let got = gpu
                .forward_capture(&cfg, &weights, &input, &capture)
                .unwrap();
            assert_trace_matches(&got, &want, &format!("N={n}"));
            assert_internals_match(&got, &want, &format!("fused attention, N={n}"));
        }
    });
}

/// Head ablation on the GPU equals transformers with those heads zeroed (the same fixtures as
/// the CPU test), and a plain run after an ablated one is intact again (the plan is reused).
#[test]
fn gpu_ablated_heads_match_transformers_with_those_heads_zeroed() {
    use albert_lens::model::{Ablation, ForwardOptions};
    with_gpu(|gpu| {
        for (name, folder, path, meta) in
            golden_cases("ablation", &["albert_grouped", "bert_mlm", "albert-mini"])
        {
            let model = LoadedModel::open(&folder).unwrap();
            let input = model.encode(&meta["text"], None).unwrap();
            let opts = ForwardOptions {
                ablate: Ablation::parse(&meta["ablate"]).unwrap(),
                ..ForwardOptions::default()
            };
            let trace = gpu
                .forward_with(&model.config, &model.weights, &input, &opts)
                .unwrap();
            let golden = albert_lens::model::Trace::read_safetensors(&path).unwrap();
            assert_trace_matches(&trace, &golden, &format!("gpu ablated {name}"));
            let again = gpu.forward(&model.config, &model.weights, &input).unwrap();
            let cpu = CpuBackend::new()
                .forward(&model.config, &model.weights, &input)
                .unwrap();
            assert_trace_matches(&again, &cpu, &format!("gpu intact after ablation {name}"));
        }
    });
}

/// `--precision fast` where the GPU has no cooperative matrices (lavapipe, CI): the check says
/// so, naming the adapter, the backend stays exact and gives the exact path's numbers; without
/// a GPU the fallback backend says the CPU computes in f32.
#[test]
fn fast_precision_without_cooperative_matrices_says_so_and_runs_the_exact_path() {
    use albert_lens::backend::{FallbackBackend, Precision};
    let model = LoadedModel::open(&fixture("albert_single")).unwrap();
    let input = model.encode("the cat sat on the mat", None).unwrap();
    let want = CpuBackend::new()
        .forward(&model.config, &model.weights, &input)
        .unwrap();
    with_gpu(|gpu| {
        if gpu.context().tensor_cores() {
            return; // a GPU with cooperative matrices: the fast path is measured by `verify`
        }
        let said = gpu.set_precision(Precision::Fast).unwrap();
        assert!(said.contains(&gpu.context().adapter_name()), "{said}");
        assert!(said.contains("exact"), "{said}");
        assert!(!gpu.is_fast() && !gpu.name().contains("fast"));
        let got = gpu.forward(&model.config, &model.weights, &input).unwrap();
        assert_trace_matches(&got, &want, "fast requested without cooperative matrices");
        assert!(gpu.set_precision(Precision::Exact).is_none());
    });
    let mut cpu_only = FallbackBackend::with_gpu(None);
    let said = cpu_only.set_precision(Precision::Fast).unwrap();
    assert!(said.contains("f32"), "{said}");
    assert_eq!(cpu_only.notice.as_deref(), Some(said.as_str()));
}

/// Each text of a padded GPU batch equals its own GPU run within 1e-5 (attention absolute,
/// hidden states relative) and the CPU's run within the usual tolerance.
fn gpu_batch_equals_singles(
    gpu: &mut albert_lens::backend::GpuBackend,
    (cfg, weights): (&ModelConfig, &ModelWeights),
    inputs: &[albert_lens::model::EncodedInput],
    what: &str,
) {
    let batched = gpu.forward_batch(cfg, weights, inputs, true).unwrap();
    assert_eq!(batched.len(), inputs.len(), "{what}");
    for (k, (b, input)) in batched.iter().zip(inputs).enumerate() {
        let single = gpu.forward(cfg, weights, input).unwrap();
        let d = b.diff(&single).unwrap();
        assert!(
            d.attention_max_abs <= 1e-5 && d.hidden_max_rel <= 1e-5,
            "{what}, text {k} of {} tokens: {d:?}",
            input.len()
        );
        let cpu = CpuBackend::new().forward(cfg, weights, input).unwrap();
        assert_trace_matches(b, &cpu, &format!("{what}, text {k} against the CPU"));
    }
}

/// Padded GPU batches of texts of many lengths and pairs, on every family that runs batched:
/// ALBERT, BERT, RoBERTa (offset positions), XLM-R, DistilBERT (no token types), ELECTRA.
#[test]
fn gpu_padded_batch_equals_each_texts_own_run_within_1e_5() {
    let texts = [
        ("Short.", None),
        (
            "A somewhat longer sentence, with a comma and more words in it than the others.",
            None,
        ),
        ("Where is it?", Some("There, under the table.")),
        ("x", None),
    ];
    with_gpu(|gpu| {
        for name in FAMILY_MODELS.iter().chain(&["albert_grouped", "bert_mlm"]) {
            let model = LoadedModel::open(&fixture(name)).unwrap();
            let inputs: Vec<_> = texts
                .iter()
                .map(|(t, p)| model.encode(t, *p).unwrap())
                .collect();
            let m = (&model.config, &model.weights);
            gpu_batch_equals_singles(gpu, m, &inputs, name);
        }
    });
}

/// More texts than one batch holds (64): the last batch is filled up with one-token texts
/// whose results are dropped; lengths 1 to 40 on a model whose sizes are not tile multiples.
#[test]
fn gpu_batches_over_many_texts_split_and_fill_correctly() {
    let cfg = config(
        r#"{"model_type":"albert","vocab_size":97,"embedding_size":24,"hidden_size":40,
            "num_hidden_layers":2,"num_attention_heads":5,"intermediate_size":72,
            "max_position_embeddings":64,"hidden_act":"gelu"}"#,
    );
    let weights = ModelWeights::random(&cfg, 11).unwrap();
    let inputs: Vec<_> = (0..67)
        .map(|k| albert_lens::bench::synthetic_input(&cfg, 1 + (k * 7) % 40))
        .collect();
    with_gpu(|gpu| gpu_batch_equals_singles(gpu, (&cfg, &weights), &inputs, "random model"));
}

/// The nine statistics and the head JS divergences of a batch reduced on the GPU equal the
/// CPU's (from its traces) within 1e-4, and the GPU never copies a map to the host for them.
fn gpu_statistics_equal_the_cpus(
    model: &LoadedModel,
    inputs: &[albert_lens::model::EncodedInput],
    what: &str,
) {
    let want = albert_lens::corpus::reduce_batch(model, &mut CpuBackend::new(), inputs).unwrap();
    with_gpu(|gpu| {
        let before = gpu.maps_read_back();
        let got = albert_lens::corpus::reduce_batch(model, gpu, inputs).unwrap();
        assert_eq!(gpu.maps_read_back(), before, "{what}: maps were read back");
        assert_eq!(got.rows, want.rows, "{what}");
        let stats = albert_lens::corpus::stats::STATS;
        for (s, name) in stats.iter().enumerate() {
            for (k, (a, b)) in got.means(s).iter().zip(want.means(s)).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-4,
                    "{what} {name}[{k}]: GPU {a}, CPU {b}"
                );
            }
        }
        for (k, (a, b)) in got.head_js().iter().zip(want.head_js()).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4,
                "{what} head_js[{k}]: GPU {a}, CPU {b}"
            );
        }
    });
}

/// Real tokenizers' texts with [CLS], separators, punctuation and a pair, on BERT, RoBERTa
/// and ALBERT (grouped layers: maps of shared weights).
#[test]
fn gpu_corpus_statistics_equal_the_cpus_within_1e_4() {
    for name in ["bert_mlm", "roberta_mlm", "albert_grouped"] {
        let model = LoadedModel::open(&fixture(name)).unwrap();
        let inputs: Vec<_> = [
            ("The cat sat on the mat.", None),
            ("Dogs bark, and cats meow!", Some("Birds sing.")),
            (
                "A third, somewhat longer text about nothing in particular at all...",
                None,
            ),
        ]
        .iter()
        .map(|(t, p)| model.encode(t, *p).unwrap())
        .collect();
        gpu_statistics_equal_the_cpus(&model, &inputs, name);
    }
}

/// Over more texts than one batch holds: the batches' sums add up, the filler sequences count
/// for nothing.
#[test]
fn gpu_corpus_statistics_over_many_batches_equal_the_cpus() {
    let dir = fixture("bert_mlm");
    let model = LoadedModel::open(&dir).unwrap();
    let words = [
        "the", "cat", ",", "sat", "on", "a", "mat", "!", "and", "dogs",
    ];
    let inputs: Vec<_> = (0..70)
        .map(|k| {
            let text: Vec<&str> = (0..1 + k % 13)
                .map(|j| words[(j * 7 + k) % words.len()])
                .collect();
            model.encode(&text.join(" "), None).unwrap()
        })
        .collect();
    gpu_statistics_equal_the_cpus(&model, &inputs, "70 texts");
}
