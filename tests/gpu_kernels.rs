//! Each WGSL kernel against a CPU reference computed here in f64, on awkward shapes: token
//! counts 1, 3, 17, 129; sizes that are not tile multiples; one head; every activation.
//! Tolerances: attention probabilities 1e-5 absolute; everything else 1e-4 * max(1, |ref|).
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use albert_lens::model::Activation;
use common::*;

fn ref_matmul(
    a: &[f32],
    b: &[f32],
    bias: &[f32],
    m: usize,
    k: usize,
    n: usize,
    act: Activation,
) -> Vec<f32> {
    let mut c = vec![0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = f64::from(bias[j]);
            for t in 0..k {
                s += f64::from(a[i * k + t]) * f64::from(b[t * n + j]);
            }
            c[i * n + j] = act.apply_f64(s) as f32;
        }
    }
    c
}

#[test]
fn matmul_kernel_matches_cpu_on_awkward_shapes_and_every_activation() {
    with_gpu(|gpu| {
        let shapes = [
            (1, 1, 1),
            (3, 17, 5),
            (17, 40, 72),
            (129, 64, 130),
            (33, 257, 31),
            (200, 96, 300),
        ];
        let acts = Activation::ALL;
        for (si, &(m, k, n)) in shapes.iter().enumerate() {
            let a = random_vec(m * k, si as u64);
            let b = random_vec(k * n, 100 + si as u64);
            let bias = random_vec(n, 200 + si as u64);
            for (ai, &act) in acts.iter().enumerate() {
                if si > 1 && ai % 3 != 0 {
                    continue; // every activation on the small shapes, a spread on the big ones
                }
                let got = gpu.matmul(&a, &b, Some(&bias), m, k, n, act).unwrap();
                let want = ref_matmul(&a, &b, &bias, m, k, n, act);
                let w = worst_relative(&got, &want, HIDDEN_REL_TOL);
                assert!(w <= 1.0, "matmul {m}x{k}x{n} {act:?}: {w:.2}x tolerance");
            }
        }
    });
}

#[test]
fn matmul_kernel_uses_every_tile_size_correctly() {
    // big enough for the 128x128 and 64x64 tiles to be picked
    with_gpu(|gpu| {
        for &(m, k, n) in &[(2050, 20, 2100), (600, 33, 700)] {
            let a = random_vec(m * k, 1);
            let b = random_vec(k * n, 2);
            let got = gpu
                .matmul(&a, &b, None, m, k, n, Activation::Linear)
                .unwrap();
            let want = ref_matmul(&a, &b, &vec![0.0; n], m, k, n, Activation::Linear);
            let w = worst_relative(&got, &want, HIDDEN_REL_TOL);
            assert!(w <= 1.0, "matmul {m}x{k}x{n}: {w:.2}x tolerance");
        }
    });
}

fn ref_attention(
    qkv: &[f32],
    mask: &[f32],
    n: usize,
    heads: usize,
    d: usize,
) -> (Vec<f32>, Vec<f32>) {
    let h = heads * d;
    let mut probs = vec![0f32; heads * n * n];
    let mut ctx = vec![0f32; n * h];
    let scale = 1.0 / (d as f64).sqrt();
    for hd in 0..heads {
        for q in 0..n {
            let scores: Vec<f64> = (0..n)
                .map(|k| {
                    let dot: f64 = (0..d)
                        .map(|c| {
                            f64::from(qkv[q * 3 * h + hd * d + c])
                                * f64::from(qkv[k * 3 * h + h + hd * d + c])
                        })
                        .sum();
                    dot * scale + (1.0 - f64::from(mask[k])) * f64::from(f32::MIN)
                })
                .collect();
            let mx = scores.iter().cloned().fold(f64::MIN, f64::max);
            let e: Vec<f64> = scores.iter().map(|s| (s - mx).exp()).collect();
            let sum: f64 = e.iter().sum();
            for k in 0..n {
                probs[(hd * n + q) * n + k] = (e[k] / sum) as f32;
            }
            for c in 0..d {
                let v: f64 = (0..n)
                    .map(|k| e[k] / sum * f64::from(qkv[k * 3 * h + 2 * h + hd * d + c]))
                    .sum();
                ctx[q * h + hd * d + c] = v as f32;
            }
        }
    }
    (probs, ctx)
}

#[test]
fn attention_kernel_matches_cpu_with_and_without_padding() {
    with_gpu(|gpu| {
        for &(n, heads, d) in &[(1, 1, 8), (3, 2, 8), (17, 5, 8), (129, 2, 64), (40, 1, 100)] {
            let qkv: Vec<f32> = random_vec(n * 3 * heads * d, n as u64)
                .iter()
                .map(|x| x * 2.0)
                .collect();
            for padded in [false, true] {
                let mut mask = vec![1.0f32; n];
                if padded && n > 2 {
                    mask[n - 1] = 0.0;
                    mask[n - 2] = 0.0;
                }
                let (p, c) = gpu.attention(&qkv, &mask, n, heads, d).unwrap();
                let (wp, wc) = ref_attention(&qkv, &mask, n, heads, d);
                let dp = max_abs_diff(&p, &wp);
                assert!(
                    dp <= ATTENTION_TOL,
                    "attention n={n} heads={heads}: probs off by {dp:e}"
                );
                let w = worst_relative(&c, &wc, HIDDEN_REL_TOL);
                assert!(
                    w <= 1.0,
                    "attention n={n} heads={heads}: context {w:.2}x tolerance"
                );
                if padded && n > 2 {
                    assert!(p
                        .chunks(n)
                        .all(|row| row[n - 1] == 0.0 && row[n - 2] == 0.0));
                }
            }
        }
    });
}

fn ref_layernorm(v: &[f64], w: &[f32], b: &[f32], eps: f64) -> Vec<f32> {
    let dim = v.len() as f64;
    let mean = v.iter().sum::<f64>() / dim;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / dim;
    v.iter()
        .enumerate()
        .map(|(i, x)| ((x - mean) / (var + eps).sqrt() * f64::from(w[i]) + f64::from(b[i])) as f32)
        .collect()
}

#[test]
fn add_layernorm_kernel_matches_cpu() {
    with_gpu(|gpu| {
        for &(rows, dim) in &[(1, 1), (3, 8), (17, 40), (5, 300), (2, 1000)] {
            let x = random_vec(rows * dim, 1);
            let r = random_vec(rows * dim, 2);
            let w = random_vec(dim, 3);
            let b = random_vec(dim, 4);
            let got = gpu.add_layernorm(&x, &r, &w, &b, dim, 1e-12).unwrap();
            let want: Vec<f32> = (0..rows)
                .flat_map(|i| {
                    let v: Vec<f64> = (0..dim)
                        .map(|j| f64::from(x[i * dim + j]) + f64::from(r[i * dim + j]))
                        .collect();
                    ref_layernorm(&v, &w, &b, 1e-12)
                })
                .collect();
            let wr = worst_relative(&got, &want, HIDDEN_REL_TOL);
            assert!(wr <= 1.0, "layernorm {rows}x{dim}: {wr:.2}x tolerance");
        }
    });
}

/// The embedding kernel gathers the word, position and type rows by id (positions given per
/// token) and normalises, as the CPU does in f64.
#[test]
fn embedding_kernel_matches_cpu() {
    with_gpu(|gpu| {
        for &(n, dim) in &[(1, 24), (5, 24), (17, 300)] {
            let (v, p, t) = (50, 32, 2);
            let word = random_vec(v * dim, 1);
            let pos = random_vec(p * dim, 2);
            let tt = random_vec(t * dim, 3);
            let w = random_vec(dim, 4);
            let b = random_vec(dim, 5);
            let ids: Vec<u32> = (0..n as u32).map(|i| (i * 7 + 3) % v as u32).collect();
            let types: Vec<u32> = (0..n as u32)
                .map(|i| u32::from(i >= n as u32 / 2))
                .collect();
            // rows of the position table in no particular order (RoBERTa's start at 2 and
            // repeat the padding row for a padding token)
            let positions: Vec<u32> = (0..n as u32).map(|i| (i * 5 + 2) % p as u32).collect();
            let got = gpu
                .embedding((&ids, &positions), &types, &word, &pos, &tt, &w, &b, 1e-12)
                .unwrap();
            let want: Vec<f32> = (0..n)
                .flat_map(|i| {
                    let row: Vec<f64> = (0..dim)
                        .map(|j| {
                            f64::from(word[ids[i] as usize * dim + j])
                                + f64::from(pos[positions[i] as usize * dim + j])
                                + f64::from(tt[types[i] as usize * dim + j])
                        })
                        .collect();
                    ref_layernorm(&row, &w, &b, 1e-12)
                })
                .collect();
            let wr = worst_relative(&got, &want, HIDDEN_REL_TOL);
            assert!(wr <= 1.0, "embedding n={n} dim={dim}: {wr:.2}x tolerance");
        }
    });
}

/// The cooperative-matrix kernel (`--precision fast`; no lavapipe runs it) is valid WGSL for a
/// device with cooperative matrices and f16, and naga turns it into SPIR-V (what wgpu hands a
/// Vulkan driver): its `enable` lines come first, its cooperative operations are well typed.
#[test]
fn the_cooperative_matrix_kernel_validates_and_compiles_to_spirv() {
    use albert_lens::backend::gpu::kernels::coop_source;
    use wgpu::naga;
    let src = coop_source();
    assert!(src.starts_with("enable f16;\nenable wgpu_cooperative_matrix;\n"));
    let module = naga::front::wgsl::parse_str(&src).unwrap_or_else(|e| {
        panic!("{}", e.emit_to_string(&src));
    });
    let caps =
        naga::valid::Capabilities::COOPERATIVE_MATRIX | naga::valid::Capabilities::SHADER_FLOAT16;
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}", e.emit_to_string(&src)));
    let spv =
        naga::back::spv::write_vec(&module, &info, &naga::back::spv::Options::default(), None)
            .unwrap();
    assert!(spv.len() > 100);
    // without the capability the same module is refused: the check above means something
    let plain = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::SHADER_FLOAT16,
    )
    .validate(&module);
    assert!(plain.is_err());
}

/// Where the adapter has cooperative matrices (a lent GPU; lavapipe has none and skips): the
/// fast kernel's product equals an f64 reference within the error f16 inputs give, 2e-3 of the
/// sum of |terms| (each input rounds by at most 2^-11 relative), on shapes off its 64 x 64 tile,
/// with the bias and an activation; and asking for it without them is an error naming the
/// adapter.
#[test]
fn the_cooperative_matrix_kernel_matches_f64_within_f16_rounding_where_it_runs() {
    with_gpu(|gpu| {
        if !gpu.context().tensor_cores() {
            let e = gpu.matmul_fast(&[1.0], &[1.0], None, (1, 1, 1), Activation::Linear);
            let msg = e.unwrap_err().to_string();
            assert!(msg.contains("no cooperative matrices"), "{msg}");
            return;
        }
        for &(m, k, n) in &[(1, 16, 16), (70, 96, 130), (128, 768, 64), (33, 3072, 100)] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 53 % 89) as f32 - 44.0) / 44.0)
                .collect();
            let bias: Vec<f32> = (0..n).map(|j| j as f32 * 0.01).collect();
            let got = gpu
                .matmul_fast(&a, &b, Some(&bias), (m, k, n), Activation::Relu)
                .unwrap();
            for i in 0..m {
                for j in 0..n {
                    let (mut s, mut scale) = (f64::from(bias[j]), 1f64);
                    for t in 0..k {
                        let v = f64::from(a[i * k + t]) * f64::from(b[t * n + j]);
                        s += v;
                        scale += v.abs();
                    }
                    let want = s.max(0.0);
                    let g = f64::from(got[i * n + j]);
                    assert!(
                        (g - want).abs() <= 2e-3 * scale,
                        "{m}x{k}x{n} ({i},{j}): {g} vs {want}"
                    );
                }
            }
        }
    });
}
