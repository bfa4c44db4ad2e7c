//! The built-in models (albert-mini, bert-mini), unpacked from the binary, against the golden
//! outputs transformers computed for the same folders (tools/fixtures/make_builtin_goldens.py):
//! tokens identical, attentions within 1e-5, hidden states and MLM logits within 1e-4 relative,
//! and the same top-1 prediction at every position. Plus what the model cards and the
//! comparison rely on: ALBERT shares its layers and factorizes its embedding, BERT does not,
//! and both fit the 30 MB budget.
#![allow(clippy::unwrap_used)]

mod common;

use albert_lens::backend::{Backend, CpuBackend};
use albert_lens::model::{builtin, LoadedModel, ModelType};
use common::*;

fn check(name: &str) -> LoadedModel {
    check_model(
        name,
        LoadedModel::open(&builtin::folder(name).unwrap()).unwrap(),
    )
}

fn check_model(name: &str, model: LoadedModel) -> LoadedModel {
    let head = model.weights.mlm.as_ref().expect("an MLM head");
    let mut checked = 0;
    for g in goldens(name) {
        let input = model.encode(&g.text, g.pair.as_deref()).unwrap();
        assert_eq!(input.tokens, g.trace.tokens, "{name}/{}", g.case);
        let trace = CpuBackend::new()
            .forward(&model.config, &model.weights, &input)
            .unwrap();
        let d = trace.diff(&g.trace).expect("same shapes");
        assert!(d.within_tolerance(), "{name}/{}: {d:?}", g.case);
        let got = head
            .logits(&model.config, trace.hidden_states.last().unwrap())
            .unwrap();
        let want = g.mlm_logits.unwrap();
        assert!(
            worst_relative(&got, &want, HIDDEN_REL_TOL) <= 1.0,
            "{name}/{}",
            g.case
        );
        let v = model.config.vocab_size;
        let argmax = |r: &[f32]| {
            r.iter()
                .enumerate()
                .fold((0, f32::MIN), |a, (i, &x)| if x > a.1 { (i, x) } else { a })
                .0
        };
        for (a, b) in got.chunks(v).zip(want.chunks(v)) {
            assert_eq!(argmax(a), argmax(b), "{name}/{}", g.case);
        }
        checked += 1;
    }
    assert_eq!(checked, 4, "{name}: golden cases");
    model
}

#[test]
fn albert_mini_matches_transformers_and_shares_one_factorized_layer() {
    let m = check("albert-mini");
    assert_eq!(m.config.model_type, ModelType::Albert);
    assert!(m.config.embedding_size < m.config.hidden_size);
    assert_eq!(
        m.weights.groups.len(),
        1,
        "one layer group shared by every depth"
    );
    assert!(m.config.num_hidden_layers > 1);
}

#[test]
fn bert_mini_matches_transformers_and_is_its_unshared_twin() {
    let b = check("bert-mini");
    let a = LoadedModel::open(&builtin::folder("albert-mini").unwrap()).unwrap();
    assert_eq!(b.config.model_type, ModelType::Bert);
    assert_eq!(b.weights.groups.len(), b.config.num_hidden_layers);
    for (x, y) in [
        (a.config.hidden_size, b.config.hidden_size),
        (a.config.num_hidden_layers, b.config.num_hidden_layers),
        (a.config.num_attention_heads, b.config.num_attention_heads),
        (a.config.intermediate_size, b.config.intermediate_size),
        (a.config.vocab_size, b.config.vocab_size),
    ] {
        assert_eq!(x, y, "the twins differ only in sharing and factorization");
    }
    assert!(a.weights.param_count * 2 < b.weights.param_count);
}

#[test]
fn built_in_models_fit_the_budget_and_carry_model_cards() {
    let mut total = 0;
    for name in builtin::NAMES {
        let dir = builtin::folder(name).unwrap();
        total += std::fs::metadata(dir.join("model.safetensors"))
            .unwrap()
            .len();
        let card = builtin::card(name).unwrap();
        let needs: &[&str] = if name.ends_with("-genre") {
            &[
                "Brown corpus",
                "MIT",
                "Held-out accuracy",
                "majority baseline",
                "epochs",
            ]
        } else {
            &[
                "Brown corpus",
                "MIT",
                "Held-out masked-token top-1 accuracy",
                "Final loss",
                "steps",
            ]
        };
        for needed in needs {
            assert!(card.contains(needed), "{name}'s card lacks {needed:?}");
        }
    }
    assert!(total <= 30 * 1024 * 1024, "{total} bytes");
}

#[test]
fn unknown_built_in_name_is_a_clear_error() {
    let e = builtin::folder("gpt2-mini").unwrap_err().to_string();
    assert!(e.contains("albert-mini") && e.contains("gpt2-mini"), "{e}");
    let e = builtin::open_in_memory("gpt2-mini")
        .unwrap_err()
        .to_string();
    assert!(e.contains("albert-mini") && e.contains("gpt2-mini"), "{e}");
}

/// The web build opens the built-in models from the bytes compiled in, not from a folder: the
/// same goldens hold for them, and all four load (the classifiers with their heads).
#[test]
fn built_in_models_opened_from_memory_as_the_web_build_does_match_transformers_too() {
    for name in ["albert-mini", "bert-mini"] {
        let m = check_model(name, builtin::open_in_memory(name).unwrap());
        assert_eq!(m.dir.display().to_string(), format!("builtin:{name}"));
    }
    for name in ["albert-mini-genre", "bert-mini-genre"] {
        let memory = builtin::open_in_memory(name).unwrap();
        let folder = LoadedModel::open(&builtin::folder(name).unwrap()).unwrap();
        assert!(memory.weights.task.is_some(), "{name}: the classifier head");
        same_run(
            &memory,
            &folder,
            ("A quiet evening by the river.", None),
            name,
        );
    }
}

/// Two openings of the same model run alike: the same tokens and ids, and bit-identical
/// attentions and hidden states on the CPU backend (the same weights through the same code).
fn same_run(a: &LoadedModel, b: &LoadedModel, (text, pair): (&str, Option<&str>), what: &str) {
    let input = a.encode(text, pair).unwrap();
    let other = b.encode(text, pair).unwrap();
    assert_eq!(input.tokens, other.tokens, "{what}");
    assert_eq!(input.ids, other.ids, "{what}");
    let mut cpu = CpuBackend::new();
    let x = cpu.forward(&a.config, &a.weights, &input).unwrap();
    let y = cpu.forward(&b.config, &b.weights, &input).unwrap();
    assert_eq!(
        x.attentions, y.attentions,
        "{what}: the same weights, the same numbers"
    );
    assert_eq!(x.hidden_states, y.hidden_states, "{what}");
}

/// A model the user picks as files (the web build's file picker: no folder, the bytes in
/// memory) opens as its folder does, in every format the fixtures hold: sharded f16
/// safetensors, pytorch_model.bin, spiece.model, vocab.txt, vocab.json + merges.txt, XLM-R's
/// and DeBERTa's SentencePiece files, tokenizer.json. Same tokens, same numbers (bit for bit:
/// the same weights through the same code).
#[test]
fn every_fixture_model_opened_from_files_in_memory_equals_its_folder() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut identities = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.join("config.json").is_file() {
            continue;
        }
        let files: Vec<(String, std::borrow::Cow<[u8]>)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::borrow::Cow::Owned(std::fs::read(&p).unwrap()))
            })
            .collect();
        let files = albert_lens::model::ModelFiles::memory(&dir, files);
        let memory =
            LoadedModel::open_files(&files).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let folder = LoadedModel::open(&dir).unwrap();
        let what = dir.display().to_string();
        let text = "Héllo, world! 日本語 and the river's edge, 1234.";
        same_run(&memory, &folder, (text, Some("A second part.")), &what);
        assert_eq!(memory.warnings, folder.warnings, "{what}");
        assert_eq!(
            memory.tokenizer.identity(),
            folder.tokenizer.identity(),
            "{what}: the same tokenization wherever it was read from"
        );
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        identities.insert(name, memory.tokenizer.identity());
    }
    assert!(
        identities.len() >= 25,
        "only {} fixture models",
        identities.len()
    );
    // and models that tokenize differently are told apart (the difference map needs one
    // tokenization): WordPiece, SentencePiece, byte-level BPE, XLM-R's and DeBERTa's
    let kinds = [
        "bert_mlm",
        "albert_single",
        "roberta_mlm",
        "xlmr_odd_json",
        "deberta_mlm",
    ];
    let ids: std::collections::BTreeSet<u64> = kinds.iter().map(|k| identities[*k]).collect();
    assert_eq!(ids.len(), kinds.len(), "{identities:?}");
}

/// The README's parameter counts of the built-in models are the app's (one definition: the
/// embeddings, projection and encoder as loaded, the masked-LM head apart).
#[test]
fn the_readme_states_the_parameters_the_app_shows() {
    use albert_lens::params::format_count;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for name in ["albert-mini", "bert-mini"] {
        let dir = albert_lens::model::builtin::folder(name).unwrap();
        let m = albert_lens::model::LoadedModel::open(&dir).unwrap();
        let p = albert_lens::params::Loaded::of(&m.config, &m.weights);
        let backbone = p.backbone();
        let shown = if backbone >= 1_000_000 {
            format!("{:.2}M", backbone as f64 / 1e6)
        } else {
            format_count(backbone)
        };
        let row = format!(
            "| {name} | {shown} + {} MLM head |",
            format_count(p.mlm_head)
        );
        assert!(readme.contains(&row), "the README lacks {row:?}");
    }
}

/// Several processes starting together on a fresh cache (a job array's tasks on one node) all
/// open the built-in model: none moves an intact unpacked folder away from under another.
#[test]
fn processes_unpacking_the_built_in_model_at_once_all_open_it() {
    let cache = tempfile::tempdir().unwrap();
    for _round in 0..5 {
        let children: Vec<std::process::Child> = (0..6)
            .map(|_| {
                std::process::Command::new(env!("CARGO_BIN_EXE_albert-lens"))
                    .args([
                        "summary",
                        "--model",
                        "albert-mini",
                        "--backend",
                        "cpu",
                        "--text",
                        "hi",
                    ])
                    .env("XDG_CACHE_HOME", cache.path())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // start the next round from nothing again
        let _ = std::fs::remove_dir_all(cache.path().join("albert-lens"));
    }
}

/// The built-in classifiers beat the majority baseline on the held-out genres by the margin
/// their cards state: accuracy measured here (the CPU backend, every held-out sentence) equals
/// the card's (transformers, float16 weights) to 0.2 points, and exceeds the baseline by more
/// than 15 points.
#[test]
fn built_in_classifiers_beat_the_majority_baseline_as_their_cards_say() {
    use albert_lens::insight::labelled;
    for name in ["albert-mini-genre", "bert-mini-genre"] {
        let dir = builtin::folder(name).unwrap();
        let m = albert_lens::model::LoadedModel::open(&dir).unwrap();
        let labels = m.weights.task.as_ref().unwrap().spec.labels.clone();
        let data = labelled::read(
            std::path::Path::new(labelled::BUILTIN_NAME),
            &labels,
            false,
            None,
        )
        .unwrap();
        let metrics: serde_json::Value = serde_json::from_slice(
            &std::fs::read(format!(
                "{}/assets/models/{name}/metrics.json",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap(),
        )
        .unwrap();
        let card_acc = metrics["heldout_accuracy"].as_f64().unwrap() as f32;
        let baseline = metrics["majority_baseline"].as_f64().unwrap() as f32;
        // accuracy alone: the forward pass of every sentence (no gradients)
        let mut right = 0;
        for ex in &data.examples {
            let input = m.encode(&ex.text, None).unwrap();
            let t = CpuBackend::new()
                .forward(&m.config, &m.weights, &input)
                .unwrap();
            let p = albert_lens::model::task::predict(&m.config, &m.weights, &t)
                .unwrap()
                .unwrap();
            right += usize::from(p.predicted(0) == ex.label);
        }
        let acc = right as f32 / data.examples.len() as f32;
        assert!(
            (acc - card_acc).abs() < 0.002,
            "{name}: {acc} here, {card_acc} on the card"
        );
        assert!(
            acc - baseline > 0.15,
            "{name}: {acc} vs baseline {baseline}"
        );
    }
}
