//! Helpers shared by the integration tests: fixture paths and the tolerance checks the issues
//! set (attentions: max abs difference <= 1e-5; hidden states: |a - b| <= 1e-4 * max(1, |ref|)).
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
#![allow(dead_code)]

use albert_lens::model::Trace;
use std::path::{Path, PathBuf};

pub const ATTENTION_TOL: f32 = 1e-5;
pub const HIDDEN_REL_TOL: f32 = 1e-4;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn fixture(name: &str) -> PathBuf {
    fixtures().join(name)
}

/// Every fixture model folder that has golden outputs.
pub const MODELS: &[&str] = &[
    "albert_single",
    "albert_grouped",
    "albert_mlm_sharded_f16",
    "albert_pretraining_bin",
    "albert_spm_only_bf16",
    "bert_vocab_only",
    "bert_mlm",
];

/// The fixtures of the families beside ALBERT and BERT (tools/fixtures/make_families.py): every
/// one has 7 golden cases; the `_mlm` ones have `mlm_logits`, the others a task head whose
/// logits are in `<fixture>/golden`.
pub const FAMILY_MODELS: &[&str] = &[
    "roberta_mlm",
    "roberta_seqcls",
    "xlmr_tokcls",
    "distilbert_mlm",
    "distilbert_seqcls",
    "electra_mlm",
    "electra_seqcls",
    "electra_disc",
];

/// The DeBERTa-v3 fixtures (tools/fixtures/make_deberta.py): relative attention with c2p and
/// p2c (or c2p alone), log buckets (or clamped distances), no absolute positions.
pub const DEBERTA_MODELS: &[&str] = &["deberta_mlm", "deberta_seqcls", "deberta_tokcls"];

/// The ModernBERT fixtures (tools/fixtures/make_modernbert.py): pre-norm, rotary, local
/// attention, GeGLU.
pub const MODERN_MODELS: &[&str] = &[
    "modernbert_mlm",
    "modernbert_hubcfg",
    "modernbert_seqcls",
    "modernbert_tokcls",
];

/// A golden case: its trace and the text (and pair) it was made from.
pub struct Golden {
    pub case: String,
    pub trace: Trace,
    pub text: String,
    pub pair: Option<String>,
    pub mlm_logits: Option<Vec<f32>>,
}

pub fn goldens(model: &str) -> Vec<Golden> {
    let dir = fixtures().join("golden").join(model);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
            let meta = meta.metadata().clone().unwrap();
            let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
            let mlm_logits = st.tensor("mlm_logits").ok().map(|v| {
                v.data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            });
            let pair = meta.get("pair").filter(|s| !s.is_empty()).cloned();
            Golden {
                case: p.file_stem().unwrap().to_string_lossy().into_owned(),
                trace: Trace::read_safetensors(&p).unwrap(),
                text: meta["text"].clone(),
                pair,
                mlm_logits,
            }
        })
        .collect()
}

/// Largest |a - b| over two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Worst ratio |a - b| / (tol * max(1, |ref|)); <= 1 passes.
pub fn worst_relative(actual: &[f32], reference: &[f32], tol: f32) -> f32 {
    assert_eq!(actual.len(), reference.len(), "lengths differ");
    actual
        .iter()
        .zip(reference)
        .map(|(a, r)| (a - r).abs() / (tol * r.abs().max(1.0)))
        .fold(0.0, f32::max)
}

/// Asserts that `actual` matches the golden trace within the project's tolerances.
pub fn assert_trace_matches(actual: &Trace, golden: &Trace, what: &str) {
    assert_eq!(actual.input_ids, golden.input_ids, "{what}: input ids");
    assert_eq!(actual.tokens, golden.tokens, "{what}: tokens");
    assert_eq!(
        actual.hidden_states.len(),
        golden.hidden_states.len(),
        "{what}: number of hidden states"
    );
    assert_eq!(
        actual.attentions.len(),
        golden.attentions.len(),
        "{what}: number of attention maps"
    );
    for (i, (a, g)) in actual
        .hidden_states
        .iter()
        .zip(&golden.hidden_states)
        .enumerate()
    {
        let w = worst_relative(a, g, HIDDEN_REL_TOL);
        assert!(
            w <= 1.0,
            "{what}: hidden_states.{i} off by {w:.2}x the tolerance 1e-4*max(1,|ref|)"
        );
    }
    for (j, (a, g)) in actual.attentions.iter().zip(&golden.attentions).enumerate() {
        let d = max_abs_diff(a, g);
        assert!(
            d <= ATTENTION_TOL,
            "{what}: attentions.{j} max abs diff {d:e} > 1e-5"
        );
    }
}

/// One GPU device per test binary (lavapipe is slow to start). On CI (CI=true) a missing
/// adapter fails the test; elsewhere the test is skipped with a message.
static GPU: std::sync::Mutex<Option<albert_lens::backend::GpuBackend>> =
    std::sync::Mutex::new(None);

pub fn with_gpu(f: impl FnOnce(&mut albert_lens::backend::GpuBackend)) {
    let mut slot = GPU.lock().unwrap_or_else(|e| e.into_inner());
    if slot.is_none() {
        // Only a missing adapter may skip; any other failure (a shader that does not compile)
        // fails the test everywhere.
        match albert_lens::backend::gpu::GpuContext::headless() {
            Ok(ctx) => {
                let backend = albert_lens::backend::GpuBackend::with_context(ctx)
                    .unwrap_or_else(|e| panic!("the GPU backend failed to start: {e}"));
                *slot = Some(backend);
            }
            Err(e) => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("CI must have a GPU adapter (Mesa lavapipe): {e}");
                }
                eprintln!("skipping GPU test: {e}");
                return;
            }
        }
    }
    f(slot.as_mut().unwrap());
}

/// Deterministic pseudo-random values in [-1, 1).
pub fn random_vec(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// One f32 tensor of a golden file (`tests/fixtures/golden/<model>/<case>.safetensors`).
pub fn golden_tensor(model: &str, case: &str, name: &str) -> Option<Vec<f32>> {
    let p = fixtures()
        .join("golden")
        .join(model)
        .join(format!("{case}.safetensors"));
    file_tensor(&p, name)
}

/// A hand-made trace: `n` tokens t0.., hidden states of width `h` and attention maps of `heads`
/// heads as given.
pub fn hand_trace(
    hidden: Vec<Vec<f32>>,
    attentions: Vec<Vec<f32>>,
    n: usize,
    h: usize,
    heads: usize,
) -> Trace {
    Trace {
        model_type: albert_lens::model::ModelType::Albert,
        tokens: (0..n).map(|i| format!("t{i}")).collect(),
        input_ids: (0..n as u32).collect(),
        token_type_ids: vec![0; n],
        special: vec![false; n],
        hidden_size: h,
        num_heads: heads,
        hidden_states: hidden,
        attentions,
        warnings: Vec::new(),
        internals: None,
        word_ids: Vec::new(),
    }
}

/// Intermediates (`trace --internals`): |a - b| <= 1e-5 * max(1, |ref|).
pub const INTERNALS_REL_TOL: f32 = 1e-5;

/// A golden file of tests/fixtures/internals (made by tools/fixtures/make_internals.py with
/// transformers' forward hooks): the trace with its intermediates, the model folder it was
/// made with and its text.
pub struct InternalsCase {
    pub name: String,
    pub folder: PathBuf,
    pub text: String,
    pub pair: Option<String>,
    pub golden: Trace,
    pub path: PathBuf,
}

pub fn internals_cases() -> Vec<InternalsCase> {
    let models = [
        "albert_single",
        "albert_grouped",
        "bert_mlm",
        "albert-mini",
        "bert-mini",
        "modernbert_mlm",
        "deberta_mlm",
    ];
    golden_cases("internals", &models)
        .into_iter()
        .map(|(name, folder, path, meta)| InternalsCase {
            name,
            folder,
            text: meta["text"].clone(),
            pair: meta.get("pair").filter(|s| !s.is_empty()).cloned(),
            golden: Trace::read_safetensors(&path).unwrap(),
            path,
        })
        .collect()
}

/// The folder of a fixture model or a built-in one (assets/models).
pub fn model_folder(model: &str) -> PathBuf {
    if model.contains('-') {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets/models")
            .join(model)
    } else {
        fixture(model)
    }
}

/// Every file of tests/fixtures/<kind>/<model>/: (model/case, model folder, file, metadata).
pub fn golden_cases(
    kind: &str,
    models: &[&str],
) -> Vec<(
    String,
    PathBuf,
    PathBuf,
    std::collections::HashMap<String, String>,
)> {
    let mut out = Vec::new();
    for model in models {
        let dir = fixtures().join(kind).join(model);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for path in files {
            let bytes = std::fs::read(&path).unwrap();
            let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
            let meta = meta.metadata().clone().unwrap();
            let name = format!("{model}/{}", path.file_stem().unwrap().to_string_lossy());
            out.push((name, model_folder(model), path, meta));
        }
    }
    out
}

/// Asserts that every intermediate of `actual` the golden has is within
/// 1e-5 * max(1, |ref|); a score within 1e-5 * max(1, |ref|, Σ|qᵢkᵢ|/√d) (a score is a sum of
/// products that cancel: its rounding, and the 1e-6 differences q and k already carry, scale
/// with the size of the products, not of the sum); a context element Σₖ αᵢₖ vₖ likewise within
/// 1e-5 * max(1, |ref|, Σₖ αᵢₖ |vₖ|); a pre-norm layer's attention
/// output a = x + dense(context), a point of the residual stream that no norm rescales, carries
/// the rounding of every earlier layer at the scale of its row: within 1e-5 * max(1, |a|,
/// rms(a's row)).
pub fn assert_internals_match(actual: &Trace, golden: &Trace, what: &str) {
    let got = actual
        .internals
        .as_ref()
        .unwrap_or_else(|| panic!("{what}: no internals"));
    let want = golden.internals.as_ref().unwrap();
    let check = |name: &str, a: &[f32], g: &[f32], scale: Option<&[f32]>| {
        assert_eq!(a.len(), g.len(), "{what}: {name} has the wrong size");
        let w = a
            .iter()
            .zip(g)
            .enumerate()
            .map(|(i, (x, r))| {
                let size = scale.map_or(0.0, |s| s[i]).max(r.abs()).max(1.0);
                (x - r).abs() / (INTERNALS_REL_TOL * size)
            })
            .fold(0.0, f32::max);
        if std::env::var("SHOW_WORST").is_ok() {
            eprintln!("{what} {name}: {w:.3}");
        }
        assert!(
            w <= 1.0,
            "{what}: {name} off by {w:.2}x the tolerance 1e-5*max(1,|ref|)"
        );
    };
    check("embeddings.word", &got.word, &want.word, None);
    check("embeddings.output", &got.embedded, &want.embedded, None);
    assert_eq!(got.maps.len(), want.maps.len(), "{what}: number of maps");
    let (n, heads) = (golden.num_tokens(), golden.num_heads);
    for (j, (a, g)) in got.maps.iter().zip(&want.maps).enumerate() {
        let (a, g) = match (a, g) {
            (Some(a), Some(g)) => (a, g),
            (None, None) => continue,
            _ => panic!("{what}: map {j} captured by one side only"),
        };
        let d = g.queries.len() / (heads * n);
        let mut sizes = vec![0f32; heads * n * n];
        for (i, s) in sizes.iter_mut().enumerate() {
            let (h, q, k) = (i / (n * n), i / n % n, i % n);
            let qv = &g.queries[(h * n + q) * d..][..d];
            let kv = &g.keys[(h * n + k) * d..][..d];
            *s = qv.iter().zip(kv).map(|(x, y)| (x * y).abs()).sum::<f32>() / (d as f32).sqrt();
        }
        // a pre-norm residual stream's scale: each element's row's rms
        let pre_norm = golden.model_type.as_str() == "modernbert";
        let hs = golden.hidden_size.max(1);
        let terms: Vec<f32> = match pre_norm {
            true => g
                .attention_output
                .chunks(hs)
                .flat_map(|row| {
                    let rms = (row.iter().map(|v| v * v).sum::<f32>() / hs as f32).sqrt();
                    std::iter::repeat_n(rms, row.len())
                })
                .collect(),
            false => Vec::new(),
        };
        // the context's terms: Σₖ αᵢₖ |vₖ| per element of [N, H]
        let hs = heads * d;
        let att = &golden.attentions[j];
        let mut weighted = vec![0f32; n * hs];
        for h in 0..heads {
            for i in 0..n {
                for k in 0..n {
                    let a = att[(h * n + i) * n + k];
                    for c in 0..d {
                        weighted[i * hs + h * d + c] += a * g.values[(h * n + k) * d + c].abs();
                    }
                }
            }
        }
        for ((name, x), y) in albert_lens::model::internals::MAP_TENSORS
            .iter()
            .zip(a.tensors())
            .zip(g.tensors())
        {
            let scale = match *name {
                "scores" => Some(sizes.as_slice()),
                "context" => Some(weighted.as_slice()),
                "attention_output" if !terms.is_empty() => Some(terms.as_slice()),
                _ => None,
            };
            check(&format!("{name}.{j}"), x, y, scale);
        }
    }
}

/// One f32 tensor of a safetensors file by name.
pub fn file_tensor(path: &Path, name: &str) -> Option<Vec<f32>> {
    let bytes = std::fs::read(path).ok()?;
    let st = safetensors::SafeTensors::deserialize(&bytes).ok()?;
    let v = st.tensor(name).ok()?;
    Some(
        v.data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// A writable copy of a fixture model folder.
pub fn copy_fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    copy_folder(&fixture(name))
}

/// A writable copy of a model folder's files (subfolders, such as golden files, left out),
/// under the folder's own name.
pub fn copy_folder(src: &Path) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join(src.file_name().unwrap());
    std::fs::create_dir(&dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, dst.join(p.file_name().unwrap())).unwrap();
        }
    }
    (tmp, dst)
}

pub type Owned = Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)>;

pub fn read_st(path: &Path) -> Owned {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut v: Owned = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.dtype(), t.shape().to_vec(), t.data().to_vec()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

pub fn write_st(path: &Path, tensors: &Owned) {
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}
