//! Corpus mode: the head statistics against transformers' (tests/fixtures/corpus, made by
//! tools/fixtures/make_corpus.py), batched = one at a time, shards merged = whole, GPU = CPU,
//! cancel, bad lines, and the `corpus` command.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use albert_lens::backend::{Backend, CpuBackend};
use albert_lens::corpus::{self, CorpusOptions, CorpusSource, HeadStats, Progress, STATS};
use albert_lens::model::LoadedModel;
use common::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

fn corpus_file() -> PathBuf {
    fixtures().join("corpus/corpus.txt")
}

fn run_with(
    model: &LoadedModel,
    backend: &mut dyn Backend,
    source: &CorpusSource,
    opts: &CorpusOptions,
) -> (HeadStats, Vec<String>) {
    let mut skipped = Vec::new();
    let stats = corpus::run(
        model,
        backend,
        source,
        opts,
        &mut |_| {},
        &mut |w| skipped.push(w.to_string()),
        &AtomicBool::new(false),
    )
    .unwrap();
    (stats, skipped)
}

fn batch(b: usize) -> CorpusOptions {
    CorpusOptions {
        batch: b,
        ..CorpusOptions::default()
    }
}

/// Every statistic and head_js within `tol`·max(1, |want|) of `want`.
fn assert_stats_close(got: &HeadStats, want: &HeadStats, tol: f64, what: &str) {
    assert_eq!((got.maps, got.heads), (want.maps, want.heads), "{what}");
    assert_eq!(got.rows, want.rows, "{what}: rows");
    for (s, name) in STATS.iter().enumerate() {
        for (i, (a, b)) in got.means(s).iter().zip(want.means(s)).enumerate() {
            let err = (a - b).abs() / b.abs().max(1.0);
            assert!(
                err <= tol,
                "{what}: {name} of map {} head {}: {a} vs {b}",
                i / got.heads + 1,
                i % got.heads + 1
            );
        }
    }
    for (i, (a, b)) in got.head_js().iter().zip(want.head_js()).enumerate() {
        assert!(
            (a - b).abs() <= tol * b.abs().max(1.0),
            "{what}: head_js[{i}] {a} vs {b}"
        );
    }
}

fn golden(model: &str) -> HeadStats {
    HeadStats::read(&fixtures().join(format!("corpus/{model}.safetensors"))).unwrap()
}

#[test]
fn every_statistic_equals_transformers_on_the_fixture_corpus_within_1e_4() {
    for name in ["albert_grouped", "bert_mlm", "albert-mini"] {
        let model = LoadedModel::open(&model_folder(name)).unwrap();
        let (got, skipped) = run_with(
            &model,
            &mut CpuBackend::new(),
            &CorpusSource::File(corpus_file()),
            &batch(4),
        );
        let want = golden(name);
        assert_stats_close(&got, &want, 1e-4, name);
        assert_eq!(got.meta.lines, want.meta.lines, "{name}: texts run");
        assert_eq!(got.meta.truncated, want.meta.truncated, "{name}: truncated");
        assert_eq!(got.meta.skipped, want.meta.skipped, "{name}: skipped");
        assert_eq!(skipped.len(), 2, "{name}: {skipped:?}");
        assert!(
            skipped[0].starts_with("line 5: the input text is empty"),
            "{skipped:?}"
        );
        assert_eq!(skipped[1], "line 6: not valid UTF-8", "{name}");
        // the shares are shares of real probability: something attends to [SEP] and punctuation
        let sep = albert_lens::corpus::stats::stat_index("sep").unwrap();
        assert!(got.means(sep).iter().any(|&v| v > 0.01), "{name}");
    }
}

/// Runs `texts` through fixture `name` as one padded batch and one at a time on the CPU:
/// every trace within 1e-5 (attention absolute, hidden states relative). Returns the model and
/// the backend, used.
fn batch_equals_singles(name: &str, texts: &[(&str, Option<&str>)]) -> (LoadedModel, CpuBackend) {
    let model = LoadedModel::open(&model_folder(name)).unwrap();
    let inputs: Vec<_> = texts
        .iter()
        .map(|(t, p)| model.encode(t, *p).unwrap())
        .collect();
    let mut cpu = CpuBackend::new();
    let batched = cpu
        .forward_batch(&model.config, &model.weights, &inputs, true)
        .unwrap();
    assert_eq!(batched.len(), inputs.len());
    for (b, input) in batched.iter().zip(&inputs) {
        let single = cpu.forward(&model.config, &model.weights, input).unwrap();
        let d = b.diff(&single).unwrap();
        assert!(
            d.attention_max_abs <= 1e-5 && d.hidden_max_rel <= 1e-5,
            "{name}: {d:?}"
        );
    }
    (model, cpu)
}

/// A padded batch equals one text at a time: ALBERT; ModernBERT (rotary positions from each
/// text's own start, the local window, padded keys masked) and DeBERTa-v3 (the relative terms of
/// each text's own distances).
#[test]
fn a_padded_batch_equals_one_text_at_a_time_within_1e_5() {
    let long = "Attention lets every token look at every other token in the sentence.";
    for name in ["modernbert_mlm", "deberta_mlm"] {
        batch_equals_singles(
            name,
            &[("Short.", None), (long, None), ("Where?", Some("There."))],
        );
    }
    let texts = [
        ("Short.", None),
        (
            "A somewhat longer sentence, with a comma and more words in it.",
            None,
        ),
        ("Where is it?", Some("Two streets away.")),
        ("Mid length text here.", None),
    ];
    let (model, mut cpu) = batch_equals_singles("albert_grouped", &texts);
    let (one, _) = run_with(
        &model,
        &mut cpu,
        &CorpusSource::File(corpus_file()),
        &batch(1),
    );
    let (many, _) = run_with(
        &model,
        &mut cpu,
        &CorpusSource::File(corpus_file()),
        &batch(8),
    );
    assert_stats_close(&many, &one, 1e-5, "batch 8 vs batch 1");
}

#[test]
fn shards_merged_equal_the_whole_run() {
    let model = LoadedModel::open(&model_folder("albert-mini")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let source = CorpusSource::Builtin;
    let limit = Some(90);
    let whole = run_with(
        &model,
        &mut CpuBackend::new(),
        &source,
        &CorpusOptions {
            limit: Some(270),
            ..batch(16)
        },
    )
    .0;
    let mut files = Vec::new();
    for i in 0..3 {
        let opts = CorpusOptions {
            shard: (i, 3),
            limit,
            ..batch(16)
        };
        let (s, _) = run_with(&model, &mut CpuBackend::new(), &source, &opts);
        assert_eq!(s.meta.shard, format!("{i}/3"));
        let p = dir.path().join(format!("shard{i}.safetensors"));
        s.write(&p).unwrap();
        files.push(p);
    }
    let merged = corpus::merge_files(&files).unwrap();
    assert_eq!(merged.meta.lines, 270);
    assert_eq!(merged.meta.corpus, corpus::BUILTIN_NAME);
    assert_stats_close(&merged, &whole, 1e-6, "3 shards merged vs whole");
}

#[test]
fn merging_statistics_of_different_models_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.safetensors");
    let b = dir.path().join("b.safetensors");
    golden("albert_grouped").write(&a).unwrap();
    golden("bert_mlm").write(&b).unwrap();
    let e = corpus::merge_files(&[a, b]).unwrap_err().to_string();
    assert!(e.contains("not the same model"), "{e}");
}

#[test]
fn gpu_statistics_equal_the_cpu_within_1e_4() {
    let model = LoadedModel::open(&model_folder("albert_grouped")).unwrap();
    let source = CorpusSource::File(corpus_file());
    let (cpu, _) = run_with(&model, &mut CpuBackend::new(), &source, &batch(4));
    with_gpu(|gpu| {
        let (g, _) = run_with(&model, gpu, &source, &batch(4));
        assert_stats_close(&g, &cpu, 1e-4, "gpu vs cpu");
    });
}

#[test]
fn cancel_stops_a_run_between_batches() {
    let model = LoadedModel::open(&model_folder("albert-mini")).unwrap();
    let cancel = AtomicBool::new(false);
    let mut seen = Vec::<Progress>::new();
    let r = corpus::run(
        &model,
        &mut CpuBackend::new(),
        &CorpusSource::Builtin,
        &batch(8),
        &mut |p| {
            seen.push(p);
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        },
        &mut |_| {},
        &cancel,
    );
    let e = r.unwrap_err();
    assert!(matches!(e, albert_lens::LensError::Cancelled(_)), "{e}");
    assert_eq!(seen.len(), 1, "one batch ran before the cancel");
    assert_eq!(seen[0].texts, 8);
    assert_eq!(
        seen[0].total_bytes,
        corpus::BUILTIN.len() as u64,
        "the built-in corpus is measured"
    );
}

#[test]
fn bad_lines_are_skipped_with_a_message_and_the_rest_kept() {
    let model = LoadedModel::open(&model_folder("albert-mini")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"A first good line.\n\n\t\nnot \xff utf-8\n".to_vec();
    bytes.extend(std::iter::repeat_n(b'x', corpus::MAX_LINE_BYTES + 1));
    bytes.extend(b"\r\nA last good line.\tWith a pair.\r\n");
    let txt = dir.path().join("c.txt");
    std::fs::write(&txt, &bytes).unwrap();
    let (s, skipped) = run_with(
        &model,
        &mut CpuBackend::new(),
        &CorpusSource::File(txt),
        &batch(2),
    );
    assert_eq!(s.meta.lines, 2, "the two good lines ran");
    assert_eq!(s.meta.skipped, 3);
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert!(
        skipped[0].contains("line 3") && skipped[0].contains("empty"),
        "{skipped:?}"
    );
    assert!(
        skipped[1].contains("line 4: not valid UTF-8"),
        "{skipped:?}"
    );
    assert!(
        skipped[2].contains("line 5") && skipped[2].contains("bytes"),
        "{skipped:?}"
    );

    let jsonl = dir.path().join("c.jsonl");
    std::fs::write(
        &jsonl,
        "{\"text\": \"One.\", \"pair\": \"Two.\"}\n[1, 2]\n{\"txt\": \"x\"}\n{\"text\": \"Three.\"}\n",
    )
    .unwrap();
    let (s, skipped) = run_with(
        &model,
        &mut CpuBackend::new(),
        &CorpusSource::File(jsonl),
        &batch(2),
    );
    assert_eq!((s.meta.lines, s.meta.skipped), (2, 2), "{skipped:?}");
    assert!(
        skipped[1].contains("line 3: no \"text\" string"),
        "{skipped:?}"
    );
}

fn cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_albert-lens"))
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap()
}

#[test]
fn the_corpus_command_writes_the_statistics_and_merge_combines_shards() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).display().to_string();
    let corpus = corpus_file().display().to_string();
    let model = model_folder("bert_mlm").display().to_string();
    let base = [
        "corpus",
        "--model",
        &model,
        "--corpus",
        &corpus,
        "--backend",
        "cpu",
        "--batch",
        "3",
    ];
    let whole = cli(&[&base[..], &["--out", &p("whole.safetensors")]].concat());
    assert!(
        whole.status.success(),
        "{}",
        String::from_utf8_lossy(&whole.stderr)
    );
    let stderr = String::from_utf8_lossy(&whole.stderr);
    assert!(
        stderr.contains("skipped line 6: not valid UTF-8"),
        "{stderr}"
    );
    let table = String::from_utf8_lossy(&whole.stdout);
    assert!(table.contains("| layer | cls | sep |"), "{table}");
    for i in 0..2 {
        let shard = format!("{i}/2");
        let o = cli(&[
            &base[..],
            &["--shard", &shard, "--out", &p(&format!("s{i}.safetensors"))],
        ]
        .concat());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let m = cli(&[
        "corpus",
        "merge",
        &p("s0.safetensors"),
        &p("s1.safetensors"),
        "--out",
        &p("merged.safetensors"),
    ]);
    assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
    let whole = HeadStats::read(Path::new(&p("whole.safetensors"))).unwrap();
    let merged = HeadStats::read(Path::new(&p("merged.safetensors"))).unwrap();
    assert_stats_close(&merged, &whole, 1e-6, "cli merge");
    assert_stats_close(&whole, &golden("bert_mlm"), 1e-4, "cli vs transformers");
    // the tab's views, headless, from the files
    let svg = cli(&[
        "corpus",
        "figure",
        &p("merged.safetensors"),
        "--view",
        "head-map",
        "--out",
        &p("map.svg"),
    ]);
    assert!(
        svg.status.success(),
        "{}",
        String::from_utf8_lossy(&svg.stderr)
    );
    let svg = std::fs::read_to_string(p("map.svg")).unwrap();
    assert!(
        svg.contains("<svg") && svg.contains("MDS"),
        "{}",
        &svg[..200.min(svg.len())]
    );
    let csv = cli(&[
        "corpus",
        "figure",
        &p("merged.safetensors"),
        "--compare",
        &p("whole.safetensors"),
        "--view",
        "layers",
        "--out",
        &p("layers.csv"),
    ]);
    assert!(
        csv.status.success(),
        "{}",
        String::from_utf8_lossy(&csv.stderr)
    );
    let csv = std::fs::read_to_string(p("layers.csv")).unwrap();
    let sep = albert_lens::corpus::stats::stat_index("sep").unwrap();
    let first: f64 = csv
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    assert!((first - whole.layer_means(sep)[0]).abs() < 1e-6, "{csv}");
    let wrong = cli(&[
        "corpus",
        "figure",
        &p("merged.safetensors"),
        "--view",
        "nope",
        "--out",
        &p("n.svg"),
    ]);
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("no corpus view"));
    let bad = cli(&["corpus", "--shard", "3/2", "--out", &p("x.safetensors")]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("0 ≤ i < n"));
}

/// Corpus search (exBERT): a corpus token's own hidden state finds that token first, and every
/// hit's cosine equals the one computed from a separate forward pass of its text (the states are
/// kept in f16: 2e-3).
#[test]
fn corpus_search_finds_a_token_itself_first_with_the_cosines_of_separate_runs() {
    use albert_lens::corpus::search;
    let model = LoadedModel::open(&model_folder("albert-mini")).unwrap();
    let layer = 2;
    let states = search::collect(
        (&model, &mut albert_lens::backend::CpuBackend::new()),
        &CorpusSource::Builtin,
        layer,
        Some(30),
        &mut |_| {},
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(states.texts.len(), 30);
    let mut cpu = CpuBackend::new();
    let line = corpus::BUILTIN.lines().nth(3).unwrap();
    let input = model.encode(line, None).unwrap();
    let trace = cpu.forward(&model.config, &model.weights, &input).unwrap();
    let h = model.config.hidden_size;
    let pos = 4;
    let query = &trace.hidden_states[layer][pos * h..(pos + 1) * h];
    let hits = states.nearest(query, 8, true);
    assert_eq!(hits.len(), 8);
    let (text, at) = states.context(hits[0].token);
    assert_eq!((text, at), (line, pos), "the token itself comes first");
    assert!(hits[0].cosine > 0.999);
    assert!(hits.windows(2).all(|w| w[0].cosine >= w[1].cosine));
    for hit in &hits {
        let (text, at) = states.context(hit.token);
        let t = cpu
            .forward(
                &model.config,
                &model.weights,
                &model.encode(text, None).unwrap(),
            )
            .unwrap();
        let row = &t.hidden_states[layer][at * h..(at + 1) * h];
        let dot: f32 = row.iter().zip(query).map(|(a, b)| a * b).sum();
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let want = dot / (norm(row) * norm(query));
        assert!((hit.cosine - want).abs() < 2e-3, "{} vs {want}", hit.cosine);
        assert!(!t.special[at], "special tokens are left out");
    }
    // the cache gives the same states back
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("s.safetensors");
    std::fs::write(&f, states.to_safetensors_bytes().unwrap()).unwrap();
    let back =
        search::TokenStates::from_safetensors_bytes(&std::fs::read(&f).unwrap(), &f).unwrap();
    assert_eq!(back, states);
}

/// The query–key view's queries and keys are transformers' (the forward hooks of the internals
/// fixture) for a corpus holding the fixture's text, within the f16 states' precision.
#[test]
fn query_key_view_uses_transformers_queries_and_keys() {
    use albert_lens::corpus::search;
    let case = internals_cases()
        .into_iter()
        .find(|c| c.name.starts_with("albert-mini"))
        .unwrap();
    let model = LoadedModel::open(&case.folder).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("one.txt");
    std::fs::write(&file, format!("{}\n", case.text)).unwrap();
    let (j, head) = (1, 2);
    let states = search::collect(
        (&model, &mut albert_lens::backend::CpuBackend::new()),
        &CorpusSource::File(file),
        j,
        None,
        &mut |_| {},
        &AtomicBool::new(false),
    )
    .unwrap();
    let (q, k) = states.queries_keys(&model, head).unwrap();
    let n = states.len();
    let d = model.config.head_dim();
    for (name, got) in [("queries", &q), ("keys", &k)] {
        let want = file_tensor(&case.path, &format!("{name}.{j}")).unwrap();
        let want = &want[head * n * d..(head + 1) * n * d];
        let worst = worst_relative(got, want, 1.0);
        assert!(worst < 2e-2, "{name}: worst {worst}");
    }
    let xy = search::project_queries_keys(&q, &k, d).unwrap();
    assert_eq!(xy.len(), 2 * n);
    assert!(states.queries_keys(&model, 99).is_err());
}

/// The cache key changes when a model folder's files change (a checkpoint rewritten in place),
/// and with the corpus.
#[test]
fn the_cache_key_follows_the_model_files_and_the_corpus() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.safetensors"), b"one").unwrap();
    let a = corpus::cache_key(dir.path(), "builtin:brown-heldout");
    assert_eq!(a, corpus::cache_key(dir.path(), "builtin:brown-heldout"));
    assert_ne!(a, corpus::cache_key(dir.path(), "other.txt@0123"));
    std::fs::write(dir.path().join("model.safetensors"), b"a longer one").unwrap();
    assert_ne!(a, corpus::cache_key(dir.path(), "builtin:brown-heldout"));
}

/// Corpus search's hidden states collected on the GPU (the window's chosen backend) equal the
/// CPU's (kept in f16: within 2e-3 of each value's magnitude, at least 1).
#[test]
fn corpus_search_states_on_the_gpu_equal_the_cpu() {
    use albert_lens::corpus::search;
    let model = LoadedModel::open(&model_folder("albert-mini")).unwrap();
    let cpu = search::collect(
        (&model, &mut albert_lens::backend::CpuBackend::new()),
        &CorpusSource::Builtin,
        3,
        Some(6),
        &mut |_| {},
        &AtomicBool::new(false),
    )
    .unwrap();
    with_gpu(|gpu| {
        let on_gpu = search::collect(
            (&model, gpu),
            &CorpusSource::Builtin,
            3,
            Some(6),
            &mut |_| {},
            &AtomicBool::new(false),
        )
        .unwrap();
        assert_eq!(on_gpu.tokens, cpu.tokens);
        for (a, b) in on_gpu.states.iter().zip(&cpu.states) {
            let (a, b) = (a.to_f32(), b.to_f32());
            assert!((a - b).abs() <= 2e-3 * b.abs().max(1.0), "{a} vs {b}");
        }
    });
}
