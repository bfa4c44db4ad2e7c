//! The prediction heads against transformers and torch.
//!
//! - The masked-LM head kept from ...ForMaskedLM / ...ForPreTraining checkpoints against
//!   transformers' own logits (the golden files' `mlm_logits`): the last hidden state of our CPU
//!   forward through the head must give HF's logits within 1e-4 * max(1, |reference|).
//! - Fine-tuned task heads (tests/fixtures/tasks, made by tools/fixtures/make_tasks.py): the
//!   logits of every head type, ALBERT (grouped) and BERT, on the CPU and the GPU within
//!   1e-4 * max(1, |reference|); the attribution of a class, a token label and a QA start or
//!   end, and head importance with the pruning curve, against torch autograd within
//!   1e-3 * max(1, max |reference|); the trace, attribute and heads commands' files.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use albert_lens::backend::{Backend, CpuBackend};
use albert_lens::model::LoadedModel;
use common::*;
use std::process::Command;

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
    assert!(checked >= 7, "{name}: {checked} cases");
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

/// RoBERTa's lm_head (GELU, decoder tied to the word embeddings and absent from the file),
/// DistilBERT's vocab_transform / vocab_projector (tied) and the ELECTRA generator's head in the
/// embedding width.
#[test]
fn the_other_families_masked_lm_heads_match_hf_logits() {
    for name in [
        "roberta_mlm",
        "distilbert_mlm",
        "electra_mlm",
        "modernbert_mlm",
        "deberta_mlm",
    ] {
        let m = LoadedModel::open(&fixture(name)).unwrap();
        assert!(
            m.weights.mlm.as_ref().is_some_and(|h| h.tied),
            "{name}: tied"
        );
        check(name);
    }
}

#[test]
fn a_hidden_state_of_the_wrong_size_is_an_error() {
    let model = LoadedModel::open(&fixture("bert_mlm")).unwrap();
    let head = model.weights.mlm.as_ref().unwrap();
    assert!(head.logits(&model.config, &[0.0; 7]).is_err());
}

fn task_fixture(name: &str) -> std::path::PathBuf {
    let family = fixtures().join(name);
    if family.join("golden").is_dir() {
        return family;
    }
    fixtures().join("tasks").join(name)
}

/// The golden files of one task fixture: (case, text, pair, tensors by name).
fn task_goldens(
    name: &str,
    kind: &str,
) -> Vec<(String, String, Option<String>, std::path::PathBuf)> {
    let dir = task_fixture(name).join(kind);
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let meta = meta.metadata().clone().unwrap();
        let pair = Some(meta["pair"].clone()).filter(|p| !p.is_empty());
        let case = p.file_stem().unwrap().to_string_lossy().to_string();
        out.push((case, meta["text"].clone(), pair, p));
    }
    assert!(!out.is_empty(), "no {kind} goldens for {name}");
    out
}

fn meta_of(path: &std::path::Path) -> std::collections::HashMap<String, String> {
    let bytes = std::fs::read(path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    meta.metadata().clone().unwrap()
}

/// |got - want| <= tol * max(1, |want|) everywhere.
fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let w = worst_relative(got, want, tol);
    assert!(
        w <= 1.0,
        "{what}: {w:.2}x the tolerance {tol}\n got {got:?}\nwant {want:?}"
    );
}

/// Every task fixture's head outputs on `backend` against transformers'.
fn check_task_logits(backend: &mut dyn Backend, name: &str) {
    use albert_lens::model::task::TaskKind;
    let model = LoadedModel::open(&task_fixture(name)).unwrap();
    assert!(model.warnings.is_empty(), "{name}: {:?}", model.warnings);
    let head = model.weights.task.as_ref().expect("a task head");
    for (case, text, pair, path) in task_goldens(name, "golden") {
        let input = model.encode(&text, pair.as_deref()).unwrap();
        let trace = backend
            .forward(&model.config, &model.weights, &input)
            .unwrap();
        let p = head
            .predict(&model.config, trace.hidden_states.last().unwrap())
            .unwrap();
        let what = format!("{} {name}/{case}", backend.name());
        match p.kind {
            TaskKind::QuestionAnswering => {
                let start = file_tensor(&path, "start_logits").unwrap();
                let end = file_tensor(&path, "end_logits").unwrap();
                assert_close(&p.start_logits(), &start, HIDDEN_REL_TOL, &what);
                assert_close(&p.end_logits(), &end, HIDDEN_REL_TOL, &what);
            }
            _ => {
                let want = file_tensor(&path, "logits").unwrap();
                assert_close(&p.logits, &want, HIDDEN_REL_TOL, &what);
            }
        }
    }
}

/// ALBERT's and BERT's heads of every kind, and the other families' layouts: RoBERTa's and
/// ELECTRA's classifier.dense / out_proj (tanh; GELU), DistilBERT's pre_classifier (ReLU),
/// XLM-R's token classifier, ELECTRA's discriminator (which tokens were replaced), ModernBERT's
/// prediction head (dense, SiLU, norm) on the mean of the rows with every bias on, and per
/// token; DeBERTa-v3's ContextPooler (dense and GELU on [CLS]) and its token classifier.
const TASKS: [&str; 16] = [
    "albert_seqcls",
    "albert_tokcls",
    "albert_qa",
    "bert_seqcls",
    "bert_multilabel",
    "bert_tokcls",
    "bert_qa",
    "roberta_seqcls",
    "distilbert_seqcls",
    "electra_seqcls",
    "electra_disc",
    "xlmr_tokcls",
    "modernbert_seqcls",
    "modernbert_tokcls",
    "deberta_seqcls",
    "deberta_tokcls",
];

#[test]
fn every_task_head_gives_transformers_logits_on_the_cpu() {
    for name in TASKS {
        check_task_logits(&mut CpuBackend::new(), name);
    }
}

#[test]
fn every_task_head_gives_transformers_logits_on_the_gpu() {
    with_gpu(|gpu| {
        for name in TASKS {
            check_task_logits(gpu, name);
        }
    });
}

#[test]
fn config_names_the_head_and_its_labels() {
    use albert_lens::model::task::{Problem, TaskKind};
    let m = LoadedModel::open(&task_fixture("albert_seqcls")).unwrap();
    let spec = &m.weights.task.as_ref().unwrap().spec;
    assert_eq!(spec.kind, TaskKind::SequenceClassification);
    assert_eq!(spec.labels, ["negative", "neutral", "positive"]);
    assert!(m.weights.mlm.is_none());
    let m = LoadedModel::open(&task_fixture("bert_multilabel")).unwrap();
    assert_eq!(m.config.task.as_ref().unwrap().problem, Problem::MultiLabel);
    let m = LoadedModel::open(&task_fixture("bert_qa")).unwrap();
    assert_eq!(
        m.config.task.as_ref().unwrap().kind,
        TaskKind::QuestionAnswering
    );
}

#[test]
fn head_weights_the_config_does_not_name_are_reported_not_used() {
    let (_tmp, dir) = copy_folder(&task_fixture("bert_seqcls"));
    let cfg_path = dir.join("config.json");
    let cfg = std::fs::read_to_string(&cfg_path).unwrap();
    std::fs::write(
        &cfg_path,
        cfg.replace("BertForSequenceClassification", "BertModel"),
    )
    .unwrap();
    let m = LoadedModel::open(&dir).unwrap();
    assert!(m.weights.task.is_none());
    let w = m.warnings.join(" ");
    assert!(
        w.contains("classifier.weight") && w.contains("BertModel"),
        "{w}"
    );
}

#[test]
fn a_named_head_missing_from_the_file_opens_the_encoder_with_a_warning() {
    let (_tmp, dir) = copy_folder(&task_fixture("albert_tokcls"));
    let st = dir.join("model.safetensors");
    let kept: Owned = read_st(&st)
        .into_iter()
        .filter(|t| !t.0.starts_with("classifier."))
        .collect();
    write_st(&st, &kept);
    let m = LoadedModel::open(&dir).unwrap();
    assert!(m.weights.task.is_none());
    let w = m.warnings.join(" ");
    assert!(
        w.contains("AlbertForTokenClassification") && w.contains("classifier.weight"),
        "{w}"
    );
}

#[test]
fn a_classifier_of_the_wrong_shape_is_an_error_naming_it() {
    let (_tmp, dir) = copy_folder(&task_fixture("albert_seqcls"));
    let cfg_path = dir.join("config.json");
    let cfg = std::fs::read_to_string(&cfg_path).unwrap();
    // two labels in the config, three rows in the classifier
    let cfg = cfg
        .replace("    \"2\": \"positive\"\n", "")
        .replace("\"1\": \"neutral\",", "\"1\": \"neutral\"");
    std::fs::write(&cfg_path, cfg).unwrap();
    let e = LoadedModel::open(&dir).unwrap_err().to_string();
    assert!(e.contains("classifier.weight"), "{e}");
}

fn lens(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_albert-lens"))
        .args(args)
        .output()
        .unwrap()
}

/// Also ELECTRA's discriminator: its logit "replaced" at a token, through the dense layer it
/// applies to every token.
#[test]
fn attribute_explains_a_class_a_token_label_and_a_span_end_as_torch_does() {
    let tmp = tempfile::tempdir().unwrap();
    for name in [
        "albert_seqcls",
        "bert_seqcls",
        "albert_tokcls",
        "albert_qa",
        "bert_qa",
        "electra_disc",
    ] {
        for (case, text, pair, path) in task_goldens(name, "attribution") {
            let meta = meta_of(&path);
            let out = tmp.path().join(format!("{name}-{case}.safetensors"));
            let dir = task_fixture(name);
            let mut args: Vec<std::ffi::OsString> = vec![
                "attribute".into(),
                "--model".into(),
                dir.into(),
                "--text".into(),
                text.into(),
                "--steps".into(),
                meta["steps"].clone().into(),
                "--out".into(),
                out.clone().into(),
            ];
            if let Some(p) = pair {
                args.extend(["--pair".into(), p.into()]);
            }
            let target = meta["target"].clone();
            if target == "start" || target == "end" {
                args.extend(["--target".into(), target.into()]);
            } else {
                args.extend(["--target-label".into(), target.into()]);
            }
            if name.contains("tokcls") || name.contains("qa") || name == "electra_disc" {
                args.extend(["--position".into(), meta["position"].clone().into()]);
            }
            let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
            let res = lens(&refs);
            assert!(
                res.status.success(),
                "{name}/{case}: {}",
                String::from_utf8_lossy(&res.stderr)
            );
            let got_meta = meta_of(&out);
            assert_eq!(got_meta["target"], meta["target"], "{name}/{case}");
            assert_eq!(got_meta["position"], meta["position"], "{name}/{case}");
            let logit: f32 = got_meta["logit"].parse().unwrap();
            let want_logit: f32 = meta["logit"].parse().unwrap();
            assert!(
                (logit - want_logit).abs() <= 1e-4 * want_logit.abs().max(1.0),
                "{name}/{case}: logit {logit} vs {want_logit}"
            );
            for key in ["integrated_gradients", "grad_x_input", "gradient_norm"] {
                let want = file_tensor(&path, key).unwrap();
                let got = file_tensor(&out, key).unwrap();
                let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
                let worst = max_abs_diff(&got, &want);
                assert!(
                    worst <= 1e-3 * scale,
                    "{name}/{case} {key}: off by {worst} (scale {scale})"
                );
            }
        }
    }
}

/// `heads --model dir --data data [extra...] --backend cpu --out out`, which must succeed.
fn run_heads(
    dir: &std::path::Path,
    data: &std::ffi::OsStr,
    extra: &[&str],
    out: &std::path::Path,
) -> std::process::Output {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "heads".as_ref(),
        "--model".as_ref(),
        dir.as_os_str(),
        "--data".as_ref(),
        data,
        "--backend".as_ref(),
        "cpu".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ];
    args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    let res = lens(&args);
    assert!(
        res.status.success(),
        "{}: {}",
        dir.display(),
        String::from_utf8_lossy(&res.stderr)
    );
    res
}

/// A `heads` file against torch's: importance within 1e-3 of its largest value, the accuracy
/// and the pruning curve exactly.
fn assert_heads_match(out: &std::path::Path, want: &std::path::Path, name: &str) {
    let imp = file_tensor(out, "importance").unwrap();
    let want_imp = file_tensor(want, "importance").unwrap();
    let scale = want_imp.iter().fold(1f32, |m, v| m.max(v.abs()));
    assert!(
        max_abs_diff(&imp, &want_imp) <= 1e-3 * scale,
        "{name}: importance {imp:?} vs {want_imp:?}"
    );
    for key in ["accuracy", "pruned_accuracy"] {
        assert_eq!(
            file_tensor(out, key),
            file_tensor(want, key),
            "{name}: {key}"
        );
    }
}

#[test]
fn heads_measures_importance_and_the_pruning_curve_as_torch_does() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["albert_seqcls", "bert_seqcls"] {
        let dir = task_fixture(name);
        let out = tmp.path().join(format!("{name}.safetensors"));
        let res = run_heads(&dir, dir.join("data.tsv").as_os_str(), &[], &out);
        assert_heads_match(&out, &dir.join("heads.safetensors"), name);
        let meta = meta_of(&out);
        assert_eq!(meta["examples"], "6");
        assert_eq!(meta["labels"], r#"["negative","neutral","positive"]"#);
        let stdout = String::from_utf8_lossy(&res.stdout);
        assert!(stdout.contains("accuracy 0.3333 on 6 examples"), "{stdout}");
    }
    // token classifiers over CoNLL: the gold tag at each word's first token
    for name in ["albert_tokcls", "bert_tokcls"] {
        let dir = task_fixture(name);
        let out = tmp.path().join(format!("{name}.safetensors"));
        let res = run_heads(&dir, dir.join("data.conll").as_os_str(), &[], &out);
        assert_heads_match(&out, &dir.join("heads.safetensors"), name);
        let stdout = String::from_utf8_lossy(&res.stdout);
        assert!(stdout.contains("on 17 tokens of 3 sentences"), "{stdout}");
    }
}

#[test]
fn trace_writes_the_head_outputs_and_names_the_task() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, task, keys) in [
        (
            "albert_seqcls",
            "sequence-classification",
            &["task.logits"][..],
        ),
        ("bert_tokcls", "token-classification", &["task.logits"][..]),
        (
            "albert_qa",
            "question-answering",
            &["task.start_logits", "task.end_logits"][..],
        ),
    ] {
        let (case, text, pair, golden) = task_goldens(name, "golden").remove(0);
        let out = tmp.path().join(format!("{name}.safetensors"));
        let dir = task_fixture(name);
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "trace".as_ref(),
            "--model".as_ref(),
            dir.as_os_str(),
            "--text".as_ref(),
            text.as_ref(),
            "--backend".as_ref(),
            "cpu".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ];
        if let Some(p) = &pair {
            args.extend::<[&std::ffi::OsStr; 2]>(["--pair".as_ref(), p.as_ref()]);
        }
        let res = lens(&args);
        assert!(
            res.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&res.stderr)
        );
        let meta = meta_of(&out);
        assert_eq!(meta["task"], task);
        let labels: Vec<String> = serde_json::from_str(&meta["labels"]).unwrap();
        let m = LoadedModel::open(&dir).unwrap();
        assert_eq!(labels, m.weights.task.as_ref().unwrap().spec.labels);
        for key in keys {
            let want = file_tensor(&golden, key.trim_start_matches("task.")).unwrap();
            let got = file_tensor(&out, key).unwrap();
            assert_close(&got, &want, HIDDEN_REL_TOL, &format!("{name}/{case} {key}"));
        }
    }
}

#[test]
fn wrong_targets_and_bad_labelled_files_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o.safetensors");
    let seq = task_fixture("albert_seqcls");
    let text = "The fox.";
    let run = |args: &[&std::ffi::OsStr]| {
        let res = lens(args);
        assert!(!res.status.success());
        String::from_utf8_lossy(&res.stderr).to_string()
    };
    let base = |model: &std::path::Path| -> Vec<std::ffi::OsString> {
        vec![
            "attribute".into(),
            "--model".into(),
            model.into(),
            "--text".into(),
            text.into(),
            "--out".into(),
            out.clone().into(),
        ]
    };
    let with = |model: &std::path::Path, extra: &[&str]| {
        let mut a = base(model);
        a.extend(extra.iter().map(|s| std::ffi::OsString::from(*s)));
        let refs: Vec<&std::ffi::OsStr> = a.iter().map(|s| s.as_os_str()).collect();
        run(&refs)
    };
    let e = with(&seq, &["--target-label", "happy"]);
    assert!(
        e.contains("\"happy\" is not one of the model's labels (negative, neutral, positive)"),
        "{e}"
    );
    let e = with(&seq, &["--target", "fox"]);
    assert!(
        e.contains("sequence-classification") && e.contains("labels"),
        "{e}"
    );
    let e = with(
        &task_fixture("albert_qa"),
        &["--target", "middle", "--position", "2"],
    );
    assert!(e.contains("start or end"), "{e}");
    let e = with(&task_fixture("albert_tokcls"), &["--target-label", "B-PER"]);
    assert!(e.contains("--position"), "{e}");
    let e = with(
        &fixture("albert_grouped"),
        &["--target-label", "x", "--position", "1"],
    );
    assert!(e.contains("no fine-tuned task head"), "{e}");
    // heads: a labelled file with an unknown label, a model without a classifier
    let data = tmp.path().join("bad.tsv");
    std::fs::write(&data, "good\tpositive\nbad\tawful\n").unwrap();
    let heads = |model: &std::path::Path| {
        run(&[
            "heads".as_ref(),
            "--model".as_ref(),
            model.as_os_str(),
            "--data".as_ref(),
            data.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ])
    };
    let e = heads(&seq);
    assert!(
        e.contains("line 2") && e.contains("awful") && e.contains("bad.tsv"),
        "{e}"
    );
    let e = heads(&fixture("albert_grouped"));
    assert!(
        e.contains("neither a fine-tuned classifier head nor a masked-LM head"),
        "{e}"
    );
    std::fs::write(&data, "a b\tpositive\n").unwrap();
    let e = heads(&task_fixture("albert_qa"));
    assert!(
        e.contains("single-label sequence classifiers") || e.contains("LABEL_0"),
        "{e}"
    );
    // a tagger given sentence lines instead of CoNLL
    std::fs::write(&data, "Alice\n").unwrap();
    let e = heads(&task_fixture("bert_tokcls"));
    assert!(e.contains("one column"), "{e}");
    assert!(!out.exists(), "nothing is written on an error");
}

/// The rows of a CSV the render command wrote: (row label, values).
fn csv_rows(path: &std::path::Path) -> Vec<(String, Vec<f32>)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let mut f = l.split(',');
            let label = f.next().unwrap().trim_matches('"').to_string();
            (label, f.map(|v| v.parse().unwrap()).collect())
        })
        .collect()
}

#[test]
fn render_draws_importance_pruning_and_confusion_from_a_labelled_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = task_fixture("bert_seqcls");
    let data = dir.join("data.tsv");
    let want = dir.join("heads.safetensors");
    let render = |view: &str, out: &std::path::Path| {
        lens(&[
            "render".as_ref(),
            "--model".as_ref(),
            dir.as_os_str(),
            "--text".as_ref(),
            "unused".as_ref(),
            "--view".as_ref(),
            view.as_ref(),
            "--data".as_ref(),
            data.as_os_str(),
            "--backend".as_ref(),
            "cpu".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ])
    };
    let csv = tmp.path().join("importance.csv");
    let res = render("importance", &csv);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let got: Vec<f32> = csv_rows(&csv).into_iter().flat_map(|r| r.1).collect();
    let imp = file_tensor(&want, "importance").unwrap();
    let scale = imp.iter().fold(1f32, |m, v| m.max(v.abs()));
    assert!(
        max_abs_diff(&got, &imp) <= 1e-3 * scale,
        "{got:?} vs {imp:?}"
    );
    let csv = tmp.path().join("pruning.csv");
    assert!(render("pruning", &csv).status.success());
    let acc: Vec<f32> = csv_rows(&csv).iter().map(|r| r.1[1]).collect();
    assert_eq!(acc, file_tensor(&want, "pruned_accuracy").unwrap());
    let csv = tmp.path().join("confusion.csv");
    assert!(render("confusion", &csv).status.success());
    let rows = csv_rows(&csv);
    let right: f32 = (0..rows.len()).map(|i| rows[i].1[i]).sum();
    let total: f32 = rows.iter().flat_map(|r| r.1.iter()).sum();
    assert_eq!(total, 6.0);
    assert_eq!(right / total, file_tensor(&want, "accuracy").unwrap()[0]);
    for view in ["importance", "pruning", "confusion"] {
        let svg = tmp.path().join(format!("{view}.svg"));
        assert!(render(view, &svg).status.success());
        albert_lens::figures::parse_svg(&std::fs::read_to_string(&svg).unwrap()).unwrap();
    }
    // without --data, and --data on a view that takes none: a sentence each, no file
    let out = tmp.path().join("none.png");
    let res = lens(&[
        "render".as_ref(),
        "--model".as_ref(),
        dir.as_os_str(),
        "--text".as_ref(),
        "x".as_ref(),
        "--view".as_ref(),
        "pruning".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert!(!res.status.success());
    assert!(String::from_utf8_lossy(&res.stderr).contains("give --data FILE"));
    let res = render("head", &out);
    assert!(!res.status.success());
    assert!(String::from_utf8_lossy(&res.stderr).contains("--data is for the importance"));
    assert!(!out.exists());
}

#[test]
fn heads_measures_a_masked_lm_on_the_builtin_corpus_as_torch_does() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, dir) in [
        ("albert_grouped_mlm", fixture("albert_grouped_mlm")),
        ("bert_mlm", fixture("bert_mlm")),
        ("albert-mini", model_folder("albert-mini")),
    ] {
        let out = tmp.path().join(format!("{name}.safetensors"));
        run_heads(&dir, "builtin".as_ref(), &["--limit", "5"], &out);
        let want = task_fixture("mlm_heads").join(format!("{name}.safetensors"));
        assert_heads_match(&out, &want, name);
        assert!(meta_of(&out)["objective"].contains("masked-LM"));
    }
    // the trained albert-mini predicts some masked tokens, and masking its heads costs accuracy
    let acc = file_tensor(
        &tmp.path().join("albert-mini.safetensors"),
        "pruned_accuracy",
    )
    .unwrap();
    assert!(acc[0] > 0.2 && acc[10] < acc[0], "{acc:?}");
}

#[test]
fn masked_positions_are_fifteen_percent_of_the_ordinary_tokens_and_seeded() {
    use albert_lens::insight::importance::masked_positions;
    let special: Vec<bool> = (0..22).map(|i| i == 0 || i == 21).collect();
    let p = masked_positions(&special, 3, 0);
    assert_eq!(p.len(), 3, "0.15 * 20 = 3");
    assert!(p.iter().all(|&i| i > 0 && i < 21) && p.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(p, masked_positions(&special, 3, 0));
    assert_ne!(p, masked_positions(&special, 4, 0));
    assert_eq!(masked_positions(&[true, false, true], 0, 0), [1]);
    assert!(masked_positions(&[true, true], 0, 0).is_empty());
}

#[test]
fn render_shows_what_fine_tuning_changed_as_transformers_does() {
    let tmp = tempfile::tempdir().unwrap();
    let tuned = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("assets/models/albert-mini-genre");
    let run = |compare: Option<&std::path::Path>, out: &std::path::Path| {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "render".as_ref(),
            "--model".as_ref(),
            tuned.as_os_str(),
            "--text".as_ref(),
            "x".as_ref(),
            "--view".as_ref(),
            "fine-tuning".as_ref(),
            "--limit".as_ref(),
            "5".as_ref(),
            "--backend".as_ref(),
            "cpu".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ];
        if let Some(c) = compare {
            args.extend::<[&std::ffi::OsStr; 2]>(["--compare".as_ref(), c.as_os_str()]);
        }
        lens(&args)
    };
    let parent = model_folder("albert-mini");
    let csv = tmp.path().join("changed.csv");
    let res = run(Some(&parent), &csv);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let got: Vec<f32> = csv_rows(&csv).into_iter().flat_map(|r| r.1).collect();
    let want = file_tensor(
        &task_fixture("finetune").join("albert-mini-genre.safetensors"),
        "similarity",
    )
    .unwrap();
    assert!(max_abs_diff(&got, &want) <= 1e-4, "{got:?} vs {want:?}");
    // fine-tuning moved the later layers more than the first
    assert!(got[..4].iter().sum::<f32>() > got[12..].iter().sum::<f32>());
    let out = tmp.path().join("x.png");
    let e = String::from_utf8_lossy(&run(None, &out).stderr).to_string();
    assert!(e.contains("give --compare PARENT"), "{e}");
    let e = String::from_utf8_lossy(&run(Some(&fixture("bert_mlm")), &out).stderr).to_string();
    assert!(e.contains("do not have the same heads"), "{e}");
    assert!(!out.exists());
}

/// The Explain walk-through of a classifier ends at its head: the last step lists the labels
/// with transformers' probabilities and names the head.
#[test]
fn explain_ends_at_the_classifier_head() {
    use albert_lens::insight::explain::{Selection, Step, Walk};
    use albert_lens::model::{Capture, ForwardOptions};
    let dir = task_fixture("albert_seqcls");
    let model = LoadedModel::open(&dir).unwrap();
    let text = "The animal didn't cross the street because it was tired.";
    let input = model.encode(text, None).unwrap();
    let trace = CpuBackend::new()
        .forward_with(
            &model.config,
            &model.weights,
            &input,
            &ForwardOptions::capture(Capture::All),
        )
        .unwrap();
    let sel = Selection {
        map: 1,
        head: 0,
        pos: 3,
    };
    let walk = Walk::new(&model, &trace, sel).unwrap();
    let want = file_tensor(&dir.join("golden").join("tired.safetensors"), "logits").unwrap();
    let probs = albert_lens::model::task::softmax(&want);
    let labels = ["negative", "neutral", "positive"];
    assert_eq!(walk.prediction.len(), 3);
    for (label, p) in &walk.prediction {
        let i = labels.iter().position(|l| l == label).unwrap();
        assert!((p - probs[i]).abs() < 1e-5, "{label}: {p} vs {}", probs[i]);
    }
    let text = walk.text(Step::Prediction, 1.0);
    assert!(
        text.paragraph.contains("AlbertForSequenceClassification"),
        "{}",
        text.paragraph
    );
    assert!(text.formula.contains("tanh"), "{}", text.formula);
}

/// config.json's head fields as they are found: a lone string for `architectures`, numbers as
/// label names, id2label beside a disagreeing num_labels (id2label decides, as in
/// transformers); and what cannot be right is an error naming the field.
#[test]
fn head_fields_of_config_json_as_found_and_hostile() {
    let (_tmp, dir) = copy_folder(&task_fixture("bert_seqcls"));
    let cfg_path = dir.join("config.json");
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    let with = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut c = original.clone();
        edit(&mut c);
        std::fs::write(&cfg_path, serde_json::to_string(&c).unwrap()).unwrap();
        LoadedModel::open(&dir)
    };
    let m = with(&|c| {
        c["architectures"] = "BertForSequenceClassification".into();
        c["id2label"] = serde_json::json!({"0": 0, "1": "one", "2": "two"});
        c["num_labels"] = 7.into();
    })
    .unwrap();
    let spec = &m.weights.task.as_ref().unwrap().spec;
    assert_eq!(spec.labels, ["0", "one", "two"]);
    let e = with(&|c| c["id2label"] = serde_json::json!({"zero": "a", "1": "b", "2": "c"}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("id2label") && e.contains("zero"), "{e}");
    let many: serde_json::Map<String, serde_json::Value> =
        (0..70_000).map(|i| (i.to_string(), "x".into())).collect();
    let e = with(&|c| c["id2label"] = serde_json::Value::Object(many.clone()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("labels"), "{e}");
    let e = with(&|c| c["problem_type"] = "ranking".into())
        .unwrap_err()
        .to_string();
    assert!(e.contains("problem_type") && e.contains("ranking"), "{e}");
    // an architecture that is not one of the three heads: the encoder, with a warning
    let m = with(&|c| c["architectures"] = serde_json::json!(["BertForMultipleChoice"])).unwrap();
    assert!(m.weights.task.is_none());
    assert!(m.warnings.join(" ").contains("BertForMultipleChoice"));
}

/// The pruning curve's forward passes on the GPU (heads masked there): torch's curve exactly.
#[test]
fn the_pruning_curve_runs_on_the_gpu_as_torch_does() {
    use albert_lens::insight::{importance, labelled, Control};
    with_gpu(|gpu| {
        let dir = task_fixture("albert_seqcls");
        let m = LoadedModel::open(&dir).unwrap();
        let labels = m.weights.task.as_ref().unwrap().spec.labels.clone();
        let data = labelled::read(&dir.join("data.tsv"), &labels, false, None).unwrap();
        let r = importance::evaluate(&m, &data, gpu, &Control::default()).unwrap();
        let want = file_tensor(&dir.join("heads.safetensors"), "pruned_accuracy").unwrap();
        let got: Vec<f32> = r.pruning.iter().map(|p| p.1).collect();
        assert_eq!(got, want);
    });
}
