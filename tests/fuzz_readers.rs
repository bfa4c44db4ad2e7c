//! Randomized robustness: thousands of corrupted config.json, safetensors, pytorch_model.bin
//! (zip structure and the pickle inside it) and spiece.model inputs must each give an error or a
//! valid result — never a panic — and no single allocation may exceed 64 MiB (the inputs are all
//! under 1 MiB), which proves that no size read from a header is trusted before it is checked.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
#![allow(unsafe_code)]

mod common;

use albert_lens::model::config::ModelConfig;
use albert_lens::model::spm;
use albert_lens::model::tensors::{read_safetensors_bytes, TensorMap};
use albert_lens::model::torch_pickle::read_torch_bytes;
use rand::{Rng, SeedableRng};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Records the largest single allocation the process makes.
struct Tracking;
static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
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

    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest < ALLOC_LIMIT,
        "largest single allocation was {largest} bytes (limit {ALLOC_LIMIT})"
    );
}

#[test]
fn pickle_opcodes_that_could_run_code_are_refused() {
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
