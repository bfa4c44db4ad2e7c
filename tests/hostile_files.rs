//! Hostile and corrupted model files.
//!
//! Randomized robustness: thousands of corrupted config.json, safetensors, pytorch_model.bin
//! (zip structure and the pickle inside it), spiece.model and tokenizer inputs must each give an
//! error or a valid result — never a panic — and no single allocation may exceed 64 MiB (the
//! inputs are all under 1 MiB), which proves that no size read from a header is trusted before it
//! is checked.
//!
//! Crafted attacks (issue 11's table, each generated here): every one ends in an error naming the
//! file and the problem within seconds, under 1 GiB of memory at its peak, on a thread with the
//! app worker's 2 MiB stack. The tests of this binary run one at a time so that the peak can be
//! measured.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
#![allow(unsafe_code)]

mod common;

use albert_lens::model::config::ModelConfig;
use albert_lens::model::spm;
use albert_lens::model::tensors::{read_safetensors_bytes, TensorMap};
use albert_lens::model::torch_pickle::read_torch_bytes;
use albert_lens::model::{LensTokenizer, LoadedModel};
use rand::{Rng, SeedableRng};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Records the largest single allocation the process makes, and the bytes live at the peak.
struct Tracking;
static LARGEST: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        grew(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        grew(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// One test at a time in this binary, so that the peak of one is its own.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

const ALLOC_LIMIT: usize = 64 << 20;

/// One random corruption of `input`; returns the bytes and whether they are a strict prefix
/// (a truncation), which must always be rejected.
fn mutate(rng: &mut rand::rngs::StdRng, input: &[u8], hot: usize) -> (Vec<u8>, bool) {
    let mut b = input.to_vec();
    // Most corruptions land in the first `hot` bytes, where headers live.
    let pos = |rng: &mut rand::rngs::StdRng, len: usize| {
        if rng.random_bool(0.7) {
            rng.random_range(0..hot.min(len).max(1))
        } else {
            rng.random_range(0..len.max(1))
        }
    };
    match rng.random_range(0..6) {
        0 => {
            for _ in 0..rng.random_range(1..8) {
                let p = pos(rng, b.len());
                b[p] ^= 1 << rng.random_range(0..8);
            }
        }
        1 => {
            let p = pos(rng, b.len());
            let n = rng.random_range(1..16).min(b.len() - p);
            for x in &mut b[p..p + n] {
                *x = rng.random();
            }
        }
        2 => {
            let cut = rng.random_range(0..b.len());
            b.truncate(cut);
            return (b, true);
        }
        3 => {
            // a huge length where a length may be
            let p = pos(rng, b.len().saturating_sub(8));
            let v: u64 = if rng.random_bool(0.5) {
                u64::MAX
            } else {
                1 << rng.random_range(20..63)
            };
            let n = 8.min(b.len() - p);
            b[p..p + n].copy_from_slice(&v.to_le_bytes()[..n]);
        }
        4 => {
            let p = pos(rng, b.len());
            let q = rng.random_range(p..b.len().min(p + 64).max(p + 1));
            let chunk = b[p..q.min(b.len())].to_vec();
            let at = pos(rng, b.len());
            b.splice(at..at, chunk);
        }
        _ => {
            let p = pos(rng, b.len());
            let n = rng.random_range(1..32).min(b.len() - p);
            b.drain(p..p + n);
        }
    }
    (b, false)
}

fn zip_with(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in entries {
        w.start_file(name.as_str(), opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut a = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..a.len())
        .map(|i| {
            let mut f = a.by_index(i).unwrap();
            let mut v = Vec::new();
            f.read_to_end(&mut v).unwrap();
            (f.name().unwrap().to_string(), v)
        })
        .collect()
}

#[test]
fn corrupted_inputs_give_errors_never_panics_or_huge_allocations() {
    let _one_at_a_time = serial();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xA1BE57);
    let path = Path::new("fuzz-input");

    // config.json
    let config = std::fs::read(common::fixture("albert_grouped/config.json")).unwrap();
    let last_brace = config.iter().rposition(|&c| c == b'}').unwrap();
    for _ in 0..3000 {
        let (m, truncated) = mutate(&mut rng, &config, config.len());
        let r = ModelConfig::from_json_bytes(&m, path);
        if truncated && m.len() <= last_brace {
            assert!(r.is_err(), "a truncated config.json must be rejected");
        }
    }

    // safetensors
    let st = std::fs::read(common::fixture("albert_single/model.safetensors")).unwrap();
    for _ in 0..1500 {
        let (m, truncated) = mutate(&mut rng, &st, 4096);
        let mut map = TensorMap::default();
        let r = read_safetensors_bytes(&m, path, &mut map);
        if truncated {
            assert!(r.is_err(), "a truncated safetensors file must be rejected");
        }
    }

    // pytorch_model.bin: the zip container itself
    let bin = std::fs::read(common::fixture("albert_pretraining_bin/pytorch_model.bin")).unwrap();
    for _ in 0..800 {
        let (m, truncated) = mutate(&mut rng, &bin, 4096);
        let mut map = TensorMap::default();
        let r = read_torch_bytes(&m, path, &mut map);
        if truncated {
            assert!(r.is_err(), "a truncated pytorch_model.bin must be rejected");
        }
    }

    // pytorch_model.bin: valid zips around a corrupted pickle (gets past the CRC checks)
    let entries = unzip(&bin);
    let pkl_index = entries
        .iter()
        .position(|(n, _)| n.ends_with("/data.pkl"))
        .unwrap();
    let mut pickle_errors = 0;
    for _ in 0..1500 {
        let (m, truncated) = mutate(&mut rng, &entries[pkl_index].1, entries[pkl_index].1.len());
        let mut e = entries.clone();
        e[pkl_index].1 = m;
        let mut map = TensorMap::default();
        let r = read_torch_bytes(&zip_with(&e), path, &mut map);
        if truncated {
            assert!(r.is_err(), "a truncated pickle must be rejected");
        }
        pickle_errors += r.is_err() as usize;
    }
    assert!(
        pickle_errors > 500,
        "the corruptions must reach the pickle reader"
    );

    // spiece.model
    let sp = std::fs::read(common::fixture("albert_spm_only_bf16/spiece.model")).unwrap();
    for _ in 0..1500 {
        let (m, _) = mutate(&mut rng, &sp, sp.len());
        let _ = spm::parse(&m);
    }

    // spiece.model with a corrupted precompiled character map, parsed *and tokenized*: the
    // tokenizer library's own map reader must not take the process down
    let charsmap = spm::parse(&sp).unwrap().precompiled_charsmap;
    assert!(!charsmap.is_empty());
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        common::fixture("albert_spm_only_bf16/config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    let config = ModelConfig::from_file(&dir.path().join("config.json")).unwrap();
    let mut loaded = 0;
    for i in 0..300 {
        let (m, _) = mutate(
            &mut rng,
            &charsmap,
            if i % 2 == 0 { 64 } else { charsmap.len() },
        );
        std::fs::write(dir.path().join("spiece.model"), with_charsmap(&sp, &m)).unwrap();
        if let Ok(t) = LensTokenizer::load(dir.path(), &config) {
            loaded += 1;
            let _ = t.encode("Ünïcödé ﬁ ｗｉｄｅ text, 日本語 🙂", Some("pair"), 64);
        }
    }
    assert!(loaded < 300, "some corrupted maps must be refused");

    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest < ALLOC_LIMIT,
        "largest single allocation was {largest} bytes (limit {ALLOC_LIMIT})"
    );
}

#[test]
fn pickle_opcodes_that_could_run_code_are_refused() {
    let _one_at_a_time = serial();
    // A pickle that would call os.system if executed: GLOBAL + REDUCE is recorded, never run,
    // and the result is not a state dict of tensors.
    let pickle = b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00echoq\x01\x85q\x02Rq\x03.";
    let bin = zip_with(&[
        ("archive/data.pkl".to_string(), pickle.to_vec()),
        ("archive/byteorder".to_string(), b"little".to_vec()),
    ]);
    let mut map = TensorMap::default();
    let e = read_torch_bytes(&bin, Path::new("evil.bin"), &mut map).unwrap_err();
    assert!(e.to_string().contains("evil.bin"), "{e}");
    assert!(e.to_string().contains("state dict"), "{e}");
}

/// `spiece.model` bytes with its normalizer's precompiled character map replaced (a later
/// occurrence of the normalizer_spec field wins, as in protobuf).
fn with_charsmap(spiece: &[u8], charsmap: &[u8]) -> Vec<u8> {
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    let mut spec = vec![0x12]; // field 2, length-delimited
    varint(charsmap.len() as u64, &mut spec);
    spec.extend_from_slice(charsmap);
    let mut out = spiece.to_vec();
    out.push(0x1a); // field 3 (normalizer_spec), length-delimited
    varint(spec.len() as u64, &mut out);
    out.extend_from_slice(&spec);
    out
}

/// Runs `f` as the app's worker would (a thread with a 2 MiB stack) and checks that it ends
/// within `seconds` and that no more than 1 GiB was live at any moment.
fn bounded<T: Send>(what: &str, seconds: u64, f: impl FnOnce() -> T + Send) -> T {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let t = std::time::Instant::now();
    let out = std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn_scoped(s, f)
            .unwrap()
            .join()
            .unwrap_or_else(|_| panic!("{what}: the thread died"))
    });
    let took = t.elapsed();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    assert!(took.as_secs() < seconds, "{what}: took {took:?}");
    assert!(peak < 1 << 30, "{what}: {peak} bytes live at the peak");
    out
}

/// A copy of fixture `albert_single` whose weights are `files` instead.
fn model_with(files: &[(&str, Vec<u8>)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(common::fixture("albert_single").join(f), tmp.path().join(f)).unwrap();
    }
    for (name, bytes) in files {
        std::fs::write(tmp.path().join(name), bytes).unwrap();
    }
    tmp
}

/// Opens a hostile model folder within the bounds and returns the error's text, which must name
/// `file` and contain `problem`.
fn refused(what: &str, dir: &Path, file: &str, problem: &str) {
    let msg = bounded(what, 10, || match LoadedModel::open(dir) {
        Ok(_) => panic!("{what}: a hostile model opened"),
        Err(e) => e.to_string(),
    });
    assert!(msg.contains(file) && msg.contains(problem), "{what}: {msg}");
}

/// A torch.save archive around `pickle` (and more entries).
fn torch_bin(pickle: Vec<u8>, more: Vec<(String, Vec<u8>, bool)>) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    w.start_file("archive/data.pkl", stored).unwrap();
    w.write_all(&pickle).unwrap();
    w.start_file("archive/byteorder", stored).unwrap();
    w.write_all(b"little").unwrap();
    for (name, data, deflate) in more {
        w.start_file(name, if deflate { deflated } else { stored })
            .unwrap();
        w.write_all(&data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Pickle building blocks (protocol 2).
fn unicode(s: &str) -> Vec<u8> {
    let mut v = vec![b'X'];
    v.extend_from_slice(&(s.len() as u32).to_le_bytes());
    v.extend_from_slice(s.as_bytes());
    v
}
fn global(module: &str, name: &str) -> Vec<u8> {
    format!("c{module}\n{name}\n").into_bytes()
}
fn int(i: i32) -> Vec<u8> {
    let mut v = vec![b'J'];
    v.extend_from_slice(&i.to_le_bytes());
    v
}

/// `{name: _rebuild_tensor_v2(storage '0' (FloatStorage), 0, (numel,), (1,))}` for every name.
fn state_dict_over_one_storage(names: usize, numel: i32) -> Vec<u8> {
    let mut p = b"\x80\x02}(".to_vec();
    for i in 0..names {
        p.extend(unicode(&format!("t{i}")));
        p.extend(global("torch._utils", "_rebuild_tensor_v2"));
        p.push(b'(');
        p.push(b'(');
        p.extend(unicode("storage"));
        p.extend(global("torch", "FloatStorage"));
        p.extend(unicode("0"));
        p.extend(unicode("cpu"));
        p.extend(int(numel));
        p.extend(b"tQ");
        p.extend(int(0));
        p.push(b'(');
        p.extend(int(numel));
        p.push(b't');
        p.push(b'(');
        p.extend(int(1));
        p.push(b't');
        p.extend(b"\x89tR");
    }
    p.extend(b"u.");
    p
}

#[test]
fn deeply_nested_pickles_are_refused_without_overflowing_a_2_mib_stack() {
    let _one_at_a_time = serial();
    // 200,000 nested one-tuples (200 KB)
    let mut p = b"\x80\x02)".to_vec();
    p.extend(std::iter::repeat_n(0x85u8, 200_000));
    p.push(b'.');
    let dir = model_with(&[("pytorch_model.bin", torch_bin(p, vec![]))]);
    refused(
        "nested tuples",
        dir.path(),
        "pytorch_model.bin",
        "levels deep",
    );
    // a 300,000-deep chain of _rebuild_parameter calls
    let mut p = b"\x80\x02}".to_vec();
    p.extend(unicode("w"));
    p.extend(global("torch._utils", "_rebuild_parameter"));
    p.extend(b"q\x00");
    p.extend(std::iter::repeat_n(*b"h\x00", 300_000 - 1).flatten());
    p.push(b'N');
    p.extend(std::iter::repeat_n([0x85u8, b'R'], 300_000).flatten());
    p.extend(b"s.");
    let dir = model_with(&[("pytorch_model.bin", torch_bin(p, vec![]))]);
    refused(
        "parameter chain",
        dir.path(),
        "pytorch_model.bin",
        "levels deep",
    );
}

#[test]
fn pickles_that_copy_shared_lists_are_refused_in_linear_time_and_memory() {
    let _one_at_a_time = serial();
    // append, then memoize the list in a new slot: every append copies what came before
    let mut p = b"\x80\x02]".to_vec();
    p.extend(std::iter::repeat_n([b'N', b'a', 0x94], 40_000).flatten());
    p.push(b'.');
    let dir = model_with(&[("pytorch_model.bin", torch_bin(p, vec![]))]);
    refused(
        "memoize at every append",
        dir.path(),
        "pytorch_model.bin",
        "copies",
    );
    // the same with one memo slot, 250,000 times (quadratic time before)
    let mut p = b"\x80\x02]".to_vec();
    p.extend(std::iter::repeat_n([b'N', b'a', b'q', 0], 250_000).flatten());
    p.push(b'.');
    let dir = model_with(&[("pytorch_model.bin", torch_bin(p, vec![]))]);
    refused("one memo slot", dir.path(), "pytorch_model.bin", "copies");
}

#[test]
fn one_storage_viewed_by_many_tensors_is_read_once_and_bounded_by_the_config() {
    let _one_at_a_time = serial();
    // issue 11's file: a deflated 64 MB storage, 200 tensors over it, padded to 1.2 MB
    let numel = 16 << 20;
    let bin = torch_bin(
        state_dict_over_one_storage(200, numel),
        vec![
            ("archive/data/0".into(), vec![0u8; 64 << 20], true),
            ("archive/padding".into(), vec![7u8; 1200 << 10], false),
        ],
    );
    assert!(bin.len() < 2 << 20, "{} bytes", bin.len());
    let dir = model_with(&[("pytorch_model.bin", bin)]);
    refused(
        "shared 64 MB storage",
        dir.path(),
        "pytorch_model.bin",
        "could hold",
    );
    // a storage the budget admits, but 200 tensors over it would expand past the budget
    let numel = 2 << 20;
    let bin = torch_bin(
        state_dict_over_one_storage(200, numel),
        vec![
            ("archive/data/0".into(), vec![0u8; 8 << 20], true),
            ("archive/padding".into(), vec![7u8; 200 << 10], false),
        ],
    );
    let dir = model_with(&[("pytorch_model.bin", bin)]);
    refused(
        "200 views of 8 MB",
        dir.path(),
        "pytorch_model.bin",
        "values in all",
    );
}

#[test]
fn a_sharded_index_naming_a_million_shards_is_refused_at_once() {
    let _one_at_a_time = serial();
    let mut map = String::from(r#"{"weight_map": {"#);
    for i in 0..1_000_000 {
        if i > 0 {
            map.push(',');
        }
        map.push_str(&format!(r#""t{i}": "s{i}.safetensors""#));
    }
    map.push_str("}}");
    let dir = model_with(&[("model.safetensors.index.json", map.into_bytes())]);
    refused(
        "a million shards",
        dir.path(),
        "model.safetensors.index.json",
        "shard files",
    );
    // 300,000 tensors in one (absent) shard: the check is not quadratic either
    let mut map = String::from(r#"{"weight_map": {"#);
    for i in 0..300_000 {
        if i > 0 {
            map.push(',');
        }
        map.push_str(&format!(r#""t{i}": "one.safetensors""#));
    }
    map.push_str("}}");
    let dir = model_with(&[("model.safetensors.index.json", map.into_bytes())]);
    refused(
        "300k tensors",
        dir.path(),
        "model.safetensors.index.json",
        "missing",
    );
}

#[test]
fn a_config_whose_layer_product_is_huge_is_refused_before_running() {
    let _one_at_a_time = serial();
    let cfg = std::fs::read_to_string(common::fixture("albert_single/config.json"))
        .unwrap()
        .replace("\"num_hidden_layers\": 4", "\"num_hidden_layers\": 1024")
        .replace("\"inner_group_num\": 1", "\"inner_group_num\": 1024");
    let dir = model_with(&[
        ("config.json", cfg.into_bytes()),
        (
            "model.safetensors",
            std::fs::read(common::fixture("albert_single/model.safetensors")).unwrap(),
        ),
    ]);
    refused(
        "1024 x 1024 layers",
        dir.path(),
        "config.json",
        "layer applications",
    );
}

#[test]
fn a_huge_sparse_safetensors_is_refused_from_its_header_without_reading_it() {
    let _one_at_a_time = serial();
    let size: u64 = 30 << 30;
    let write = |header: &str| {
        let dir = model_with(&[]);
        let path = dir.path().join("model.safetensors");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&(header.len() as u64).to_le_bytes()).unwrap();
        f.write_all(header.as_bytes()).unwrap();
        f.set_len(size).unwrap();
        dir
    };
    // a header that describes 30 GB of one tensor
    let data = size - 8 - 256;
    let header = format!(
        r#"{{"w":{{"dtype":"U8","shape":[{data}],"data_offsets":[0,{data}]}},"f":{{"dtype":"F32","shape":[0],"data_offsets":[{data},{data}]}}}}"#
    );
    let header = format!("{header:<256}");
    assert_eq!(header.len(), 256);
    let dir = write(&header);
    refused(
        "30 GB of U8",
        dir.path(),
        "model.safetensors",
        "values in all",
    );
    let data = size - 8 - 256;
    let header = format!(
        r#"{{"w":{{"dtype":"F32","shape":[{}],"data_offsets":[0,{data}]}}}}"#,
        data / 4
    );
    let dir = write(&format!("{header:<256}"));
    refused(
        "30 GB of F32",
        dir.path(),
        "model.safetensors",
        "values in all",
    );
    // a small header on a 30 GB file
    let dir = write(r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#);
    refused(
        "30 GB behind a small header",
        dir.path(),
        "model.safetensors",
        "header describes",
    );
}

#[test]
fn corrupt_precompiled_charsmaps_are_errors_naming_the_tokenizer() {
    let _one_at_a_time = serial();
    // four zero bytes, and a trie whose offset points far outside it
    let far = [4u8, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, b'a', 0];
    for (what, map) in [("zeros", &[0u8, 0, 0, 0][..]), ("far offset", &far[..])] {
        // in tokenizer.json
        let json =
            std::fs::read_to_string(common::fixture("albert_single/tokenizer.json")).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let mut replaced = 0;
        fn walk(v: &mut serde_json::Value, b64: &str, n: &mut usize) {
            match v {
                serde_json::Value::Object(o) => {
                    if o.get("type").and_then(|t| t.as_str()) == Some("Precompiled") {
                        o.insert("precompiled_charsmap".into(), b64.into());
                        *n += 1;
                    }
                    o.values_mut().for_each(|x| walk(x, b64, n));
                }
                serde_json::Value::Array(a) => a.iter_mut().for_each(|x| walk(x, b64, n)),
                _ => {}
            }
        }
        walk(&mut v, &base64(map), &mut replaced);
        assert_eq!(replaced, 1);
        let dir = model_with(&[
            ("tokenizer.json", serde_json::to_vec(&v).unwrap()),
            (
                "model.safetensors",
                std::fs::read(common::fixture("albert_single/model.safetensors")).unwrap(),
            ),
        ]);
        refused(what, dir.path(), "tokenizer.json", "");
        // in spiece.model
        let sp = std::fs::read(common::fixture("albert_spm_only_bf16/spiece.model")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for f in ["config.json", "model.safetensors"] {
            std::fs::copy(
                common::fixture("albert_spm_only_bf16").join(f),
                dir.path().join(f),
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("spiece.model"), with_charsmap(&sp, map)).unwrap();
        refused(what, dir.path(), "spiece.model", "");
    }
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
