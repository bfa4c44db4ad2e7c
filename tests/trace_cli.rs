//! `albert-lens trace` end to end: the file it writes has exactly the documented names, dtypes,
//! shapes and metadata, and its numbers equal transformers' golden outputs.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use common::*;
use safetensors::tensor::{Dtype, SafeTensors};
use std::process::Command;

fn run_trace(
    model: &str,
    text: &str,
    pair: Option<&str>,
    out: &std::path::Path,
) -> std::process::Output {
    run_trace_on(model, text, pair, out, "cpu")
}

fn run_trace_on(
    model: &str,
    text: &str,
    pair: Option<&str>,
    out: &std::path::Path,
    backend: &str,
) -> std::process::Output {
    run_trace_model_arg(fixture(model).as_os_str(), text, pair, out, backend)
}

/// `trace` with `--model` exactly as given (a folder, a built-in name, hub:ID).
fn run_trace_model_arg(
    model: &std::ffi::OsStr,
    text: &str,
    pair: Option<&str>,
    out: &std::path::Path,
    backend: &str,
) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_albert-lens"));
    cmd.arg("trace")
        .arg("--model")
        .arg(model)
        .arg("--text")
        .arg(text)
        .arg("--backend")
        .arg(backend)
        .arg("--out")
        .arg(out);
    if let Some(p) = pair {
        cmd.arg("--pair").arg(p);
    }
    cmd.output().unwrap()
}

#[test]
fn trace_file_for_a_sentence_pair_equals_the_golden_file() {
    let golden = goldens("albert_grouped")
        .into_iter()
        .find(|g| g.case == "pair")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("trace.safetensors");
    let res = run_trace("albert_grouped", &golden.text, golden.pair.as_deref(), &out);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );

    let bytes = std::fs::read(&out).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let n = golden.trace.input_ids.len();
    let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
    names.sort();
    let mut want: Vec<String> = vec!["input_ids".into()];
    want.extend((0..golden.trace.hidden_states.len()).map(|i| format!("hidden_states.{i}")));
    want.extend((0..golden.trace.attentions.len()).map(|j| format!("attentions.{j}")));
    want.sort();
    assert_eq!(names, want, "exactly the documented tensor names");
    let ids = st.tensor("input_ids").unwrap();
    assert_eq!((ids.dtype(), ids.shape().to_vec()), (Dtype::I64, vec![n]));
    let h = st.tensor("hidden_states.0").unwrap();
    assert_eq!((h.dtype(), h.shape().to_vec()), (Dtype::F32, vec![n, 32]));
    let a = st.tensor("attentions.7").unwrap();
    assert_eq!((a.dtype(), a.shape().to_vec()), (Dtype::F32, vec![4, n, n]));

    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert_eq!(meta["model_type"], "albert");
    let tokens: Vec<String> = serde_json::from_str(&meta["tokens"]).unwrap();
    assert_eq!(tokens, golden.trace.tokens);

    let trace = albert_lens::model::Trace::read_safetensors(&out).unwrap();
    assert_trace_matches(&trace, &golden.trace, "trace CLI albert_grouped/pair");
}

#[test]
fn trace_of_a_bert_checkpoint_equals_the_golden_file() {
    let golden = goldens("bert_vocab_only")
        .into_iter()
        .find(|g| g.case == "cjk")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bert.safetensors");
    let res = run_trace("bert_vocab_only", &golden.text, None, &out);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let trace = albert_lens::model::Trace::read_safetensors(&out).unwrap();
    assert_eq!(trace.model_type.as_str(), "bert");
    assert_trace_matches(&trace, &golden.trace, "trace CLI bert_vocab_only/cjk");
}

#[test]
fn trace_warns_visibly_when_input_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("long.safetensors");
    let text = "every token looks at every other token ".repeat(30);
    let res = run_trace("albert_single", &text, None, &out);
    assert!(res.status.success());
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(stderr.contains("truncated"), "stderr: {stderr}");
    let trace = albert_lens::model::Trace::read_safetensors(&out).unwrap();
    assert_eq!(trace.num_tokens(), 40);
}

#[test]
fn trace_of_a_missing_folder_fails_with_a_message_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.safetensors");
    let res = Command::new(env!("CARGO_BIN_EXE_albert-lens"))
        .args(["trace", "--model"])
        .arg(dir.path().join("nope"))
        .args(["--text", "hi", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!res.status.success());
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(
        stderr.contains("nope") && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn trace_on_the_gpu_backend_equals_the_golden_file() {
    let golden = goldens("albert_single")
        .into_iter()
        .find(|g| g.case == "emoji")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gpu.safetensors");
    let res = run_trace_on("albert_single", &golden.text, None, &out, "gpu");
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{stderr}");
    // it says which backend and adapter ran (or why it fell back to the CPU)
    assert!(
        stderr.contains("backend: gpu:") || stderr.contains("using the CPU backend"),
        "{stderr}"
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        assert!(
            stderr.contains("backend: gpu:"),
            "CI has lavapipe: {stderr}"
        );
    }
    let trace = albert_lens::model::Trace::read_safetensors(&out).unwrap();
    assert_trace_matches(&trace, &golden.trace, "trace --backend gpu");
    // --precision fast: where the adapter has no cooperative matrices (lavapipe) a note says
    // so and the exact numbers come out
    let fast = Command::new(env!("CARGO_BIN_EXE_albert-lens"))
        .args(["trace", "--backend", "gpu", "--precision", "fast", "--text"])
        .arg(&golden.text)
        .arg("--model")
        .arg(fixture("albert_single"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&fast.stderr);
    assert!(fast.status.success(), "{stderr}");
    if !stderr.contains("fast: cooperative matrices") {
        assert!(
            stderr.contains("note:") && stderr.contains("f32"),
            "{stderr}"
        );
        let trace = albert_lens::model::Trace::read_safetensors(&out).unwrap();
        assert_trace_matches(
            &trace,
            &golden.trace,
            "trace --precision fast, exact fallback",
        );
    }
}

#[test]
fn trace_reads_a_long_text_from_a_file_and_truncates_it_visibly() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("long.txt");
    // 200 KB: more than a command line comfortably holds
    std::fs::write(
        &text,
        "attention lets every token look at every other token. ".repeat(4000),
    )
    .unwrap();
    let out = dir.path().join("long.safetensors");
    let res = Command::new(env!("CARGO_BIN_EXE_albert-lens"))
        .args(["trace", "--model"])
        .arg(fixture("albert_single"))
        .arg("--text-file")
        .arg(&text)
        .args(["--backend", "cpu", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{stderr}");
    assert!(stderr.contains("truncated to the first 40"), "{stderr}");
    assert_eq!(
        albert_lens::model::Trace::read_safetensors(&out)
            .unwrap()
            .num_tokens(),
        40
    );

    // a file that is not text is an error that names it
    std::fs::write(&text, [0xffu8, 0xfe, 0x00]).unwrap();
    let res = Command::new(env!("CARGO_BIN_EXE_albert-lens"))
        .args(["trace", "--model"])
        .arg(fixture("albert_single"))
        .arg("--text-file")
        .arg(&text)
        .args(["--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!res.status.success());
    assert!(String::from_utf8_lossy(&res.stderr).contains("long.txt is not UTF-8"));
}

#[test]
fn trace_with_a_built_in_model_name_equals_transformers_golden_file() {
    let golden = goldens("albert-mini")
        .into_iter()
        .find(|g| g.case == "example")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("trace.safetensors");
    // run from the package root, where no folder is named albert-mini
    let res = run_trace_model_arg("albert-mini".as_ref(), &golden.text, None, &out, "cpu");
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let trace = albert_lens::model::Trace::read_safetensors(&out).unwrap();
    let d = trace.diff(&golden.trace).expect("same shapes");
    assert!(d.within_tolerance(), "{d:?}");
}

/// `trace --internals` writes every intermediate under its documented name and shape, and the
/// numbers equal transformers' forward hooks (tests/fixtures/internals).
#[test]
fn trace_with_internals_writes_every_intermediate_equal_to_transformers_hooks() {
    let case = internals_cases()
        .into_iter()
        .find(|c| c.name == "albert_grouped/plain")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("internals.safetensors");
    let res = Command::new(env!("CARGO_BIN_EXE_albert-lens"))
        .args([
            "trace",
            "--backend",
            "cpu",
            "--internals",
            "--text",
            &case.text,
        ])
        .arg("--model")
        .arg(&case.folder)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let bytes = std::fs::read(&out).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let n = case.golden.num_tokens();
    // albert_grouped: E = 16, H = 32, 4 heads of 8, I = 64, 8 maps
    let shape = |name: &str| st.tensor(name).unwrap().shape().to_vec();
    assert_eq!(shape("embeddings.word"), vec![n, 16]);
    assert_eq!(shape("embeddings.output"), vec![n, 16]);
    for j in 0..8 {
        for name in ["queries", "keys", "values"] {
            assert_eq!(shape(&format!("{name}.{j}")), vec![4, n, 8]);
        }
        assert_eq!(shape(&format!("scores.{j}")), vec![4, n, n]);
        assert_eq!(shape(&format!("context.{j}")), vec![n, 32]);
        assert_eq!(shape(&format!("attention_output.{j}")), vec![n, 32]);
        assert_eq!(shape(&format!("intermediate.{j}")), vec![n, 64]);
    }
    assert_eq!(st.names().len(), 1 + 9 + 8 + 2 + 8 * 7);
    let trace = albert_lens::model::Trace::read_safetensors(&out).unwrap();
    assert_trace_matches(&trace, &case.golden, "trace --internals");
    assert_internals_match(&trace, &case.golden, "trace --internals");
}

/// `trace --ablate` equals transformers with those heads zeroed (tests/fixtures/ablation), and
/// `attribute` writes torch autograd's attributions (tests/fixtures/attribution) under the
/// documented names, with the target and logit in the metadata.
#[test]
fn trace_ablate_and_attribute_equal_the_torch_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    for (name, folder, path, meta) in golden_cases("ablation", &["albert_grouped", "bert_mlm"]) {
        let out = dir.path().join("ablated.safetensors");
        let res = Command::new(env!("CARGO_BIN_EXE_albert-lens"))
            .args([
                "trace",
                "--backend",
                "cpu",
                "--ablate",
                &meta["ablate"],
                "--text",
                &meta["text"],
            ])
            .arg("--model")
            .arg(&folder)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            res.status.success(),
            "{}",
            String::from_utf8_lossy(&res.stderr)
        );
        let trace = albert_lens::model::Trace::read_safetensors(&out).unwrap();
        let golden = albert_lens::model::Trace::read_safetensors(&path).unwrap();
        assert_trace_matches(&trace, &golden, &format!("trace --ablate {name}"));
    }
    for (name, folder, path, meta) in golden_cases("attribution", &["bert_mlm", "albert-mini"]) {
        let out = dir.path().join("attr.safetensors");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_albert-lens"));
        cmd.args([
            "attribute",
            "--text",
            &meta["text"],
            "--position",
            &meta["position"],
        ])
        .args(["--steps", &meta["steps"]])
        .arg("--model")
        .arg(&folder)
        .arg("--out")
        .arg(&out);
        if name.ends_with("target") {
            cmd.args(["--target", &meta["target"]]);
        }
        let res = cmd.output().unwrap();
        assert!(
            res.status.success(),
            "{}",
            String::from_utf8_lossy(&res.stderr)
        );
        let bytes = std::fs::read(&out).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let (_, m) = SafeTensors::read_metadata(&bytes).unwrap();
        let m = m.metadata().clone().unwrap();
        assert_eq!(m["target"], meta["target"], "{name}");
        assert_eq!(m["target_id"], meta["target_id"], "{name}");
        for key in ["grad_x_input", "gradient_norm", "integrated_gradients"] {
            let v = st.tensor(key).unwrap();
            assert_eq!(
                (v.dtype(), v.shape().to_vec()),
                (Dtype::F32, vec![st.tensor("input_ids").unwrap().shape()[0]])
            );
            let got = file_tensor(&out, key).unwrap();
            let want = file_tensor(&path, key).unwrap();
            let scale = want.iter().fold(0f32, |a, v| a.max(v.abs()));
            assert!(max_abs_diff(&got, &want) <= 1e-4 * scale, "{name} {key}");
        }
    }
    // a model without an MLM head says so
    let out = dir.path().join("bare.safetensors");
    let res = Command::new(env!("CARGO_BIN_EXE_albert-lens"))
        .args(["attribute", "--text", "hello world", "--position", "1"])
        .arg("--model")
        .arg(fixture("albert_single"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!res.status.success());
    assert!(String::from_utf8_lossy(&res.stderr).contains("no masked-LM head"));
    assert!(!out.exists());
}

/// The command line's rough edges: an empty `--pair` is no pair (as transformers treats
/// `text_pair=""`), a cut pair says how each segment was cut, `--backend both` is refused
/// outside `bench`, and without XDG_RUNTIME_DIR no Wayland complaint reaches the terminal.
#[test]
fn empty_pairs_cut_pairs_backend_both_and_a_missing_runtime_dir() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], out: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_albert-lens"))
            .arg("trace")
            .args(args)
            .arg("--model")
            .arg(fixture("albert_single"))
            .arg("--out")
            .arg(out)
            .env_remove("XDG_RUNTIME_DIR")
            .output()
            .unwrap()
    };
    let (a, b) = (
        dir.path().join("a.safetensors"),
        dir.path().join("b.safetensors"),
    );
    let ra = run(&["--backend", "cpu", "--text", "Where is it?"], &a);
    let rb = run(
        &["--backend", "cpu", "--text", "Where is it?", "--pair", ""],
        &b,
    );
    assert!(ra.status.success() && rb.status.success());
    let (ta, tb) = (
        albert_lens::model::Trace::read_safetensors(&a).unwrap(),
        albert_lens::model::Trace::read_safetensors(&b).unwrap(),
    );
    assert_eq!(ta.input_ids, tb.input_ids, "no second [SEP]");
    assert_eq!(ta, tb);

    let long = "Attention lets every token look at every other token. ".repeat(6);
    let c = dir.path().join("c.safetensors");
    let rc = run(
        &[
            "--backend",
            "cpu",
            "--text",
            "A short question?",
            "--pair",
            &long,
        ],
        &c,
    );
    let err = String::from_utf8_lossy(&rc.stderr);
    assert!(rc.status.success(), "{err}");
    assert!(err.contains("cut longest-first"), "{err}");
    let t = albert_lens::model::Trace::read_safetensors(&c).unwrap();
    // segment A: between [CLS] and the first [SEP]
    let a_kept = t.tokens.iter().position(|t| t == "[SEP]").unwrap() - 1;
    assert!(
        err.contains(&format!("segment A from {a_kept} to {a_kept} tokens")),
        "{err}"
    );

    let rd = run(
        &["--backend", "both", "--text", "hi"],
        &dir.path().join("d.safetensors"),
    );
    assert!(!rd.status.success());
    assert!(String::from_utf8_lossy(&rd.stderr).contains("--backend both is for bench only"));

    let re = run(
        &["--backend", "gpu", "--text", "hi"],
        &dir.path().join("e.safetensors"),
    );
    let err = String::from_utf8_lossy(&re.stderr);
    assert!(re.status.success(), "{err}");
    assert!(!err.contains("XDG_RUNTIME_DIR"), "{err}");
}

/// `verify` checks every golden case, the built-in models' (albert-mini, bert-mini) included,
/// and passes on the CPU reference.
#[test]
fn verify_checks_every_golden_case_including_the_built_in_models() {
    let out = Command::new(env!("CARGO_BIN_EXE_albert-lens"))
        .args(["verify", "--backend", "cpu"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for case in ["| albert-mini/", "| bert-mini/", "| albert_single/"] {
        assert!(stdout.contains(case), "{case} missing: {stdout}");
    }
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

/// CJK and emoji that the built-in model's vocabulary lacks are counted in a warning that says
/// what to do; `summary` counts layers from 1, as the window and `render --layer` do.
#[test]
fn unknown_tokens_are_counted_in_a_warning_and_summary_counts_layers_from_one() {
    let res = Command::new(env!("CARGO_BIN_EXE_albert-lens"))
        .args(["summary", "--model", "albert-mini", "--backend", "cpu"])
        .args(["--text", "日本語のテキスト 🙂 hello"])
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr),
    );
    assert!(res.status.success(), "{err}");
    assert!(
        err.contains("5 of the text's 7 tokens are unknown to this model's vocabulary")
            && err.contains("bert-base-multilingual-cased"),
        "{err}"
    );
    assert!(
        out.contains("\nlayer 1: ") && out.contains("\nlayer 4: "),
        "{out}"
    );
    assert!(!out.contains("layer 0:"), "{out}");
}

/// Every tensor of a safetensors file: name -> (dtype, shape, f64 values).
fn all_tensors(
    path: &std::path::Path,
) -> std::collections::BTreeMap<String, (Dtype, Vec<usize>, Vec<f64>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, t)| {
            let v: Vec<f64> = match t.dtype() {
                Dtype::F32 => t
                    .data()
                    .chunks_exact(4)
                    .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                    .collect(),
                Dtype::F64 => t
                    .data()
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
                _ => Vec::new(),
            };
            (name, (t.dtype(), t.shape().to_vec(), v))
        })
        .collect()
}

/// P(M_0, …, M_{L−1}) = M_{L−1} ⋯ M_0 in f64.
fn product64(mats: &[&[f64]], n: usize) -> Vec<f64> {
    let mut r = mats[0].to_vec();
    for m in &mats[1..] {
        let mut next = vec![0f64; n * n];
        for i in 0..n {
            for k in 0..n {
                let a = m[i * n + k];
                for c in 0..n {
                    next[i * n + c] += a * r[k * n + c];
                }
            }
        }
        r = next;
    }
    r
}

/// The contract's exact requirements on a `trace --contributions` file (names, dtypes,
/// shapes, finiteness, rows summing to 1, each rollout the product of the file's own
/// per-layer matrices), then its numbers against the float64 reference at the contract's
/// tolerances. `flow`: whether contributions.flow must be there. In an ablated run the head
/// mean of an application with a head switched off sums to less than 1 (the ablated run's own
/// attention), so `ablated` leaves `attention.{j}`'s rows out of the sum check.
fn check_contributions(
    got: &std::path::Path,
    reference: Option<&std::path::Path>,
    (flow, ablated): (bool, bool),
    what: &str,
) {
    let t = all_tensors(got);
    let n = t["input_ids"].1[0];
    let layers = t.keys().filter(|k| k.starts_with("attentions.")).count();
    // the methods the reference has (all five; ModernBERT's pre-norm layers: attention and
    // norm, the others refused by name)
    let per: Vec<&str> = ["attention", "norm", "globenc", "alti", "value_zeroing"]
        .into_iter()
        .filter(|m| {
            reference.is_none_or(|r| all_tensors(r).contains_key(&format!("contributions.{m}.0")))
        })
        .collect();
    let has = |m: &str| per.contains(&m);
    let mut want: Vec<String> = Vec::new();
    for m in &per {
        for j in 0..layers {
            want.push(format!("contributions.{m}.{j}"));
        }
    }
    for m in ["attention", "globenc", "alti", "value_zeroing"]
        .into_iter()
        .filter(|m| has(m))
    {
        want.push(format!("contributions.{m}.rollout"));
    }
    if flow {
        want.push("contributions.flow".into());
    }
    want.sort();
    let mut have: Vec<String> = t
        .keys()
        .filter(|k| k.starts_with("contributions."))
        .cloned()
        .collect();
    have.sort();
    assert_eq!(have, want, "{what}: the contributions.* names");
    for name in &have {
        let (dtype, shape, v) = &t[name];
        assert_eq!(*dtype, Dtype::F32, "{what}: {name}");
        assert_eq!(shape, &vec![n, n], "{what}: {name}");
        assert!(
            v.iter().all(|x| x.is_finite()),
            "{what}: {name} has a non-finite value"
        );
        let proportions = ["attention.", "alti.", "value_zeroing.", "flow"]
            .iter()
            .any(|p| name.contains(p))
            && !(ablated
                && name.starts_with("contributions.attention.")
                && !name.ends_with("rollout"));
        if proportions {
            for (i, row) in v.chunks_exact(n).enumerate() {
                let s: f64 = row.iter().sum();
                assert!(
                    (s - 1.0).abs() <= 1e-4,
                    "{what}: {name} row {i} sums to {s}"
                );
                assert!(
                    row.iter().all(|&x| x >= 0.0),
                    "{what}: {name} row {i} is negative"
                );
            }
        }
    }
    // each rollout is the product of the file's own matrices (attention: with the residual)
    let hats: Vec<Vec<f64>> = (0..layers)
        .map(|j| {
            let mut a = t[&format!("contributions.attention.{j}")].2.clone();
            for (i, row) in a.chunks_exact_mut(n).enumerate() {
                row[i] += 1.0;
                let s: f64 = row.iter().sum();
                row.iter_mut().for_each(|x| *x /= s);
            }
            a
        })
        .collect();
    for m in ["attention", "globenc", "alti", "value_zeroing"]
        .into_iter()
        .filter(|m| has(m))
    {
        let mats: Vec<&[f64]> = if m == "attention" {
            hats.iter().map(Vec::as_slice).collect()
        } else {
            (0..layers)
                .map(|j| t[&format!("contributions.{m}.{j}")].2.as_slice())
                .collect()
        };
        let p = product64(&mats, n);
        let r = &t[&format!("contributions.{m}.rollout")].2;
        let scale = p.iter().fold(1f64, |a, x| a.max(x.abs()));
        let d = p.iter().zip(r).fold(0f64, |a, (x, y)| a.max((x - y).abs()));
        assert!(
            d <= 1e-5 * scale,
            "{what}: {m}.rollout is {d:e} from the product of its layers"
        );
    }
    let Some(reference) = reference else { return };
    let r = all_tensors(reference);
    let maxabs = |v: &[f64]| v.iter().fold(0f64, |a, x| a.max(x.abs()));
    let diff = |name: &str| -> (Vec<f64>, &Vec<f64>) {
        let a = &t[name].2;
        let b = &r[name].2;
        (a.iter().zip(b).map(|(x, y)| (x - y).abs()).collect(), b)
    };
    let mut vz_carry = 0.0;
    for j in 0..layers {
        for m in ["attention", "alti"].into_iter().filter(|m| has(m)) {
            let name = format!("contributions.{m}.{j}");
            let (d, _) = diff(&name);
            assert!(maxabs(&d) <= 1e-4, "{what}: {name} off by {:e}", maxabs(&d));
        }
        for m in ["norm", "globenc"].into_iter().filter(|m| has(m)) {
            let name = format!("contributions.{m}.{j}");
            let (d, b) = diff(&name);
            let tol = 1e-4 * maxabs(b).max(1.0);
            assert!(
                maxabs(&d) <= tol,
                "{what}: {name} off by {:e} > {tol:e}",
                maxabs(&d)
            );
        }
        if !has("value_zeroing") {
            continue;
        }
        let name = format!("contributions.value_zeroing.{j}");
        let (d, _) = diff(&name);
        let sums = &r[&format!("reference.value_zeroing_rowsum.{j}")].2;
        let mut worst_tol = 0f64;
        for (i, row) in d.chunks_exact(n).enumerate() {
            let tol = 1e-4 + 1e-6 * (n + 1) as f64 / sums[i];
            worst_tol = worst_tol.max(tol);
            assert!(
                maxabs(row) <= tol,
                "{what}: {name} row {i} off by {:e} > {tol:e}",
                maxabs(row)
            );
        }
        vz_carry += n as f64 * worst_tol;
    }
    let globenc_scale = r
        .get("contributions.globenc.rollout")
        .map_or(0.0, |g| maxabs(&g.2));
    for (m, tol) in [
        ("attention", 2e-4),
        ("alti", 2e-4),
        ("globenc", 2e-4 * globenc_scale),
        ("value_zeroing", 2e-4 + vz_carry),
    ]
    .into_iter()
    .filter(|(m, _)| has(m))
    {
        let name = format!("contributions.{m}.rollout");
        let (d, _) = diff(&name);
        assert!(
            maxabs(&d) <= tol,
            "{what}: {name} off by {:e} > {tol:e}",
            maxabs(&d)
        );
    }
    if flow {
        let (d, _) = diff("contributions.flow");
        assert!(maxabs(&d) <= 2e-4, "{what}: flow off by {:e}", maxabs(&d));
    }
}

/// The reference cases of tools/fixtures/make_contributions.py (ALBERT, BERT, RoBERTa with a pair,
/// DistilBERT, the ELECTRA generator, DeBERTa-v3 with a pair, ModernBERT with the methods that
/// carry over to its pre-norm layers): (model folder, file, text, pair).
fn contribution_cases() -> Vec<(
    std::path::PathBuf,
    std::path::PathBuf,
    String,
    Option<String>,
)> {
    let root = fixtures().join("contributions");
    let mut out = Vec::new();
    for model in [
        "albert_grouped",
        "bert_mlm",
        "albert-mini",
        "bert-mini",
        "roberta_mlm",
        "distilbert_mlm",
        "electra_mlm",
        "deberta_mlm",
        "modernbert_mlm",
    ] {
        for e in std::fs::read_dir(root.join(model)).unwrap() {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
            let meta = meta.metadata().clone().unwrap();
            let pair = Some(meta["pair"].clone()).filter(|s| !s.is_empty());
            out.push((model_folder(model), p, meta["text"].clone(), pair));
        }
    }
    out
}

#[test]
fn trace_contributions_equal_the_float64_references_on_the_cpu_and_the_gpu() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.safetensors");
    for (i, (model, reference, text, pair)) in contribution_cases().into_iter().enumerate() {
        // the GPU backend (lavapipe in CI) on every other case: it is slow on a CPU
        let backends: &[&str] = if i % 2 == 0 {
            &["cpu", "gpu"]
        } else {
            &["cpu"]
        };
        for backend in backends {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_albert-lens"));
            cmd.args(["trace", "--contributions", "--backend", backend, "--model"])
                .arg(&model)
                .arg("--text")
                .arg(&text)
                .arg("--out")
                .arg(&out);
            if let Some(p) = &pair {
                cmd.arg("--pair").arg(p);
            }
            let res = cmd.output().unwrap();
            let stderr = String::from_utf8_lossy(&res.stderr);
            assert!(res.status.success(), "{stderr}");
            assert!(!stderr.contains("warning: contributions.flow"), "{stderr}");
            // ModernBERT's pre-norm layers: GlobEnc and ALTI refused, each with its sentence
            if model.ends_with("modernbert_mlm") {
                for m in ["GlobEnc", "ALTI"] {
                    let says = format!("warning: {m} is not computed for ModernBERT");
                    assert!(stderr.contains(&says), "{stderr}");
                }
            }
            if *backend == "gpu" && std::env::var("CI").is_ok_and(|v| v == "true") {
                assert!(
                    stderr.contains("backend: gpu:"),
                    "CI has lavapipe: {stderr}"
                );
            }
            let what = format!("{} on {backend}", reference.display());
            check_contributions(&out, Some(&reference), (true, false), &what);
        }
    }
}

#[test]
fn contributions_over_64_tokens_skip_flow_with_one_warning_line_and_exit_0() {
    // bert_mlm with 96 positions (its position table repeated) so that a text can pass 64
    let (tmp, dst) = copy_fixture("bert_mlm");
    let cfg = std::fs::read_to_string(dst.join("config.json")).unwrap();
    std::fs::write(
        dst.join("config.json"),
        cfg.replace(
            "\"max_position_embeddings\": 40",
            "\"max_position_embeddings\": 96",
        ),
    )
    .unwrap();
    let mut tensors = read_st(&dst.join("model.safetensors"));
    for (name, _, shape, data) in &mut tensors {
        if name.ends_with("position_embeddings.weight") {
            shape[0] = 96;
            *data = data
                .iter()
                .copied()
                .cycle()
                .take(data.len() / 40 * 96)
                .collect();
        }
    }
    write_st(&dst.join("model.safetensors"), &tensors);
    let text = "the cat sat on the mat and the dog ran in the park ".repeat(6);
    let out = tmp.path().join("long.safetensors");
    let res = Command::new(env!("CARGO_BIN_EXE_albert-lens"))
        .args(["trace", "--contributions", "--backend", "cpu", "--model"])
        .arg(&dst)
        .arg("--text")
        .arg(&text)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{stderr}");
    let n = all_tensors(&out)["input_ids"].1[0];
    assert!(n > 64 && n <= 96, "{n} tokens");
    let line = format!(
        "warning: contributions.flow skipped: N = {n} tokens > 64 (attention flow solves N² max-flow problems)"
    );
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("contributions.flow"))
        .collect();
    assert_eq!(warnings, vec![line.as_str()], "{stderr}");
    check_contributions(
        &out,
        None,
        (false, false),
        "96-position bert over 64 tokens",
    );
}

#[test]
fn contributions_combine_with_ablate_text_file_and_pair() {
    let dir = tempfile::tempdir().unwrap();
    let text_file = dir.path().join("text.txt");
    std::fs::write(&text_file, "Where is the café?").unwrap();
    let run = |extra: &[&str], out: &std::path::Path| {
        let res = Command::new(env!("CARGO_BIN_EXE_albert-lens"))
            .args(["trace", "--contributions", "--backend", "cpu", "--model"])
            .arg(fixture("albert_grouped"))
            .arg("--text-file")
            .arg(&text_file)
            .args(["--pair", "It is near the old station."])
            .args(extra)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap();
        assert!(
            res.status.success(),
            "{}",
            String::from_utf8_lossy(&res.stderr)
        );
        all_tensors(out)
    };
    let plain = run(&[], &dir.path().join("plain.safetensors"));
    // the same text and pair as the reference's "pair" case: its numbers
    check_contributions(
        &dir.path().join("plain.safetensors"),
        Some(&fixtures().join("contributions/albert_grouped/pair.safetensors")),
        (true, false),
        "--text-file with --pair",
    );
    let out = dir.path().join("ablated.safetensors");
    let ablated = run(&["--ablate", "3:2"], &out);
    check_contributions(&out, None, (true, true), "--ablate 3:2");
    // the ablated run's own attention: head 2 of application 3 is 0, and the head mean in
    // contributions.attention.2 is the file's attentions.2 averaged (the zero head included)
    let (_, shape, att) = &ablated["attentions.2"];
    let (heads, n) = (shape[0], shape[1]);
    assert!(att[n * n..2 * n * n].iter().all(|&x| x == 0.0));
    let mean = &ablated["contributions.attention.2"].2;
    for q in 0..n * n {
        let m: f64 = (0..heads).map(|h| att[h * n * n + q]).sum::<f64>() / heads as f64;
        assert!((m - mean[q]).abs() < 1e-6);
    }
    // before the ablated application nothing changes; from it on the contributions do
    for m in ["norm", "globenc", "alti", "value_zeroing"] {
        let a = format!("contributions.{m}.1");
        assert_eq!(plain[&a].2, ablated[&a].2, "{a}");
        let b = format!("contributions.{m}.2");
        let moved = plain[&b]
            .2
            .iter()
            .zip(&ablated[&b].2)
            .fold(0f64, |x, (p, q)| x.max((p - q).abs()));
        assert!(
            moved > 1e-3,
            "{b} did not change under the ablation ({moved:e})"
        );
    }
}
