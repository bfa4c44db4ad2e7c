//! ModernBERT's pre-norm layer on host buffers, as transformers' eager `ModernBertEncoderLayer`
//! computes it: a = x + Wo·attention(norm₁(x)) (layer 0: no norm₁), out = a + Wo'·GeGLU(norm₂(a))
//! with GeGLU(y) = act(y·Wi₁) ⊙ (y·Wi₂). Queries and keys are turned by the rotary embedding of
//! their position; a local layer's query i sees only keys j with |i − j| ≤ window (the others
//! are exact zeros in its map). The attention and its softmax are the post-LN layer's.

use super::super::gemm::matmul_scaled;
use super::{add_norm_with, Scratch};
use super::{
    each_head, matmul, row_chunk, sized, softmax_rows, split_heads, widest, Dims, Layer, Mat, Out,
};
use crate::model::config::Activation;
use rayon::prelude::*;

/// A layer's rotary tables (cos and sin `[n, d]`, positions 0..n) and local half window.
pub(in crate::backend::cpu) struct Positions<'a> {
    pub cos: &'a [f32],
    pub sin: &'a [f32],
    pub window: Option<usize>,
}

/// Runs one ModernBERT layer: `out` `[rows, H]` gets its output, `probs`
/// `[batch·heads, n, n]` its attention (padded keys and keys outside the window 0; the heads in
/// `off` all 0).
pub(in crate::backend::cpu) fn run(
    x: &[f32],
    w: &Layer<'_>,
    dims: &Dims<'_>,
    pos: &Positions<'_>,
    off: &[usize],
    s: &mut Scratch,
    (out, probs): (&mut [f32], &mut [f32]),
) {
    let (rows, h, n, d) = (dims.rows(), dims.hidden, dims.n, dims.d());
    // norm₁ (none before layer 0's attention)
    let normed = sized(&mut s.pre, rows * h);
    normed.copy_from_slice(x);
    if !w.attn_ln.w.is_empty() {
        add_norm_with(normed, (&[], &[]), w.attn_ln, dims.eps, None);
    }
    w.qkv.product(&s.pre, sized(&mut s.qkv, rows * 3 * h));
    // q and k unscaled (the scores are scaled after the product, as transformers does)
    let scale = 1.0 / (d as f32).sqrt();
    split_heads(&s.qkv, w.qkv.b, dims, 1.0, (&mut s.q, &mut s.k, &mut s.v));
    rotate_heads(&mut s.q, pos, n, d);
    rotate_heads(&mut s.k, pos, n, d);
    let ctx = sized(&mut s.ctx, rows * h);
    let ctx_out = Out::new(ctx, h);
    let qkv = (&s.q[..], &s.k[..], &s.v[..]);
    each_head(probs, qkv, dims, |map, head, (hd, keys, ctx_at)| {
        let how = (scale, pos.window, off.contains(&hd));
        head_attention(map, head, (&ctx_out, ctx_at), (n, keys, d, h), how);
    });
    // a = x + ctx·Wo + b
    let attn = sized(&mut s.attn, rows * h);
    w.attn_out.product(&s.ctx, attn);
    add_bias_residual(attn, w.attn_out.b, x);
    // out = a + GeGLU(norm₂(a)); a stays in the scratch for what the pass keeps
    let a = std::mem::take(&mut s.attn);
    tail(&a, w, dims, s, out);
    s.attn = a;
}

/// The part of the layer after the attention, over rows of a = x + ctx·Wo + b `[rows, H]`:
/// `out` = a + GeGLU(norm₂(a)) (value zeroing reruns it on every zeroed variant).
pub(in crate::backend::cpu) fn tail(
    a: &[f32],
    w: &Layer<'_>,
    dims: &Dims<'_>,
    s: &mut Scratch,
    out: &mut [f32],
) {
    let h = dims.hidden;
    let rows = a.len() / h.max(1);
    let normed = sized(&mut s.pre, rows * h);
    normed.copy_from_slice(a);
    add_norm_with(normed, (&[], &[]), w.out_ln, dims.eps, None);
    let inter = dims.inter;
    w.ffn.product(&s.pre, sized(&mut s.qkv, rows * 2 * inter));
    geglu(&s.qkv, w.ffn.b, dims.act, sized(&mut s.ff, rows * inter));
    w.ffn_out.product(&s.ff, out);
    add_bias_residual(out, w.ffn_out.b, a);
}

/// Query rows per block of a local layer's banded products.
const BAND: usize = 64;

/// One (text, head)'s attention: the scores q·kᵀ/√d into `map` `[n, n]`, the (windowed)
/// softmax there, the context Σ α v into its columns of the context from row 0 at `ctx_at`. A
/// local layer's products cover only the band of keys its query rows can see, block by block
/// of [`BAND`] rows (every other key is an exact 0 of the softmax, and adds nothing to the
/// context).
fn head_attention(
    map: &mut [f32],
    (qh, kh, vh): (&[f32], &[f32], &[f32]),
    (ctx, ctx_at): (&Out, usize),
    (n, keys, d, h): (usize, usize, usize, usize),
    (scale, window, off): (f32, Option<usize>, bool),
) {
    // the blocks of query rows and the keys each can see: all of them in a global layer
    let blocks: Vec<(usize, usize, usize, usize)> = match window {
        None => vec![(0, n, 0, keys)],
        Some(w) => (0..n)
            .step_by(BAND)
            .map(|i0| {
                let i1 = (i0 + BAND).min(n);
                let lo = i0.saturating_sub(w).min(keys.saturating_sub(1));
                let hi = (i1 + w).min(keys).max(lo + 1);
                (i0, i1, lo, hi)
            })
            .collect(),
    };
    for &(i0, i1, lo, hi) in &blocks {
        // q·kᵀ times 1/√d in the product's kernel
        matmul_scaled(
            Mat::rows(&qh[i0 * d..], d),
            Mat::transposed(&kh[lo * d..], d),
            Out::new(&mut map[i0 * n + lo..], n),
            (i1 - i0, d, hi - lo),
            (false, false),
            scale,
        );
    }
    if off {
        map.fill(0.0);
    } else {
        windowed_softmax(map, (n, keys), window);
    }
    for &(i0, i1, lo, hi) in &blocks {
        matmul(
            Mat::rows(&map[i0 * n + lo..], n),
            Mat::rows(&vh[lo * d..], d),
            ctx.at(ctx_at + i0 * h),
            (i1 - i0, hi - lo, d),
            false,
            false,
        );
    }
}

/// Each `[n, d]` head block of `t` (`[batch·heads, n, d]`) turned by the rotary embedding of
/// its row's position: t·cos + rotate_half(t)·sin, rotate_half(t) = (−t₂, t₁) for the halves
/// t₁, t₂.
pub(in crate::backend::cpu) fn rotate_heads(
    t: &mut [f32],
    pos: &Positions<'_>,
    n: usize,
    d: usize,
) {
    t.par_chunks_mut(n * d)
        .for_each(|block| rotate_rows(block, pos.cos, pos.sin, d));
}

widest! {
    fn rotate_rows(block: &mut [f32], cos: &[f32], sin: &[f32], d: usize) {
        let half = d / 2;
        let mut turned = vec![0f32; d];
        for (p, row) in block.chunks_exact_mut(d).enumerate() {
            let (c, s) = (&cos[p * d..(p + 1) * d], &sin[p * d..(p + 1) * d]);
            for i in 0..half {
                turned[i] = row[i] * c[i] - row[i + half] * s[i];
                turned[i + half] = row[i + half] * c[i + half] + row[i] * s[i + half];
            }
            row.copy_from_slice(&turned);
        }
    }
}

/// Softmax of each row of `map` `[n, n]` over its first `keys` columns, and within `window` of
/// the row when given: keys outside are exactly 0, as transformers' additive mask (the dtype's
/// minimum) makes them.
fn windowed_softmax(map: &mut [f32], (n, keys): (usize, usize), window: Option<usize>) {
    let Some(w) = window else {
        softmax_rows(map, n, keys);
        return;
    };
    for (i, row) in map.chunks_exact_mut(n).enumerate() {
        let lo = i.saturating_sub(w).min(keys.saturating_sub(1));
        let hi = (i + w + 1).min(keys).max(lo + 1);
        let len = hi - lo;
        softmax_rows(&mut row[lo..hi], len, len);
        row[..lo].fill(0.0);
        row[hi..].fill(0.0);
    }
}

/// `y += bias + residual` row by row, in parallel.
fn add_bias_residual(y: &mut [f32], bias: &[f32], residual: &[f32]) {
    let cols = bias.len().max(1);
    let chunk = row_chunk(y.len() / cols) * cols;
    y.par_chunks_mut(chunk)
        .zip(residual.par_chunks(chunk))
        .for_each(|(ys, rs)| add_rows(ys, bias, rs));
}

widest! {
    fn add_rows(ys: &mut [f32], bias: &[f32], rs: &[f32]) {
        for (row, res) in ys.chunks_exact_mut(bias.len()).zip(rs.chunks_exact(bias.len())) {
            for ((v, b), r) in row.iter_mut().zip(bias).zip(res) {
                *v = r + (*v + b);
            }
        }
    }
}

/// GeGLU: `out` `[rows, I]` = act(y₁ + b₁) · (y₂ + b₂) for `y` `[rows, 2I]` (its halves y₁,
/// y₂) and `bias` `[2I]`, in parallel.
pub(in crate::backend::cpu) fn geglu(y: &[f32], bias: &[f32], act: Activation, out: &mut [f32]) {
    let inter = bias.len() / 2;
    let chunk = row_chunk(out.len() / inter.max(1)) * inter;
    out.par_chunks_mut(chunk.max(1))
        .zip(y.par_chunks(2 * chunk.max(1)))
        .for_each(|(o, y)| geglu_rows(o, y, bias, act));
}

widest! {
    fn geglu_rows(out: &mut [f32], y: &[f32], bias: &[f32], act: Activation) {
        let inter = bias.len() / 2;
        #[inline(always)]
        fn run(out: &mut [f32], y: &[f32], bias: &[f32], inter: usize, f: impl Fn(f32) -> f32) {
            for (o, y) in out.chunks_exact_mut(inter).zip(y.chunks_exact(2 * inter)) {
                let (a, g) = y.split_at(inter);
                let (ba, bg) = bias.split_at(inter);
                for i in 0..inter {
                    o[i] = f(a[i] + ba[i]) * (g[i] + bg[i]);
                }
            }
        }
        match act {
            Activation::Gelu => run(out, y, bias, inter, |v| Activation::Gelu.apply(v)),
            other => run(out, y, bias, inter, move |v| other.apply(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A local layer's banded products give the numbers of the whole product masked and
    /// softmaxed (the reference, in f64): several blocks of rows, keys cut short (padding),
    /// windows wider and narrower than a block.
    #[test]
    fn banded_local_attention_equals_the_masked_full_attention() {
        let (n, d, h) = (150, 8, 16);
        let mut seed = 7u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let (q, k, v): (Vec<f32>, Vec<f32>, Vec<f32>) = (
            (0..n * d).map(|_| next() * 3.0).collect(),
            (0..n * d).map(|_| next() * 3.0).collect(),
            (0..n * d).map(|_| next()).collect(),
        );
        let scale = 1.0 / (d as f32).sqrt();
        for (keys, w) in [(150, 10), (131, 70), (150, 0), (97, 200)] {
            let mut map = vec![f32::NAN; n * n];
            let mut ctx = vec![0f32; n * h];
            let out = Out::new(&mut ctx, h);
            head_attention(
                &mut map,
                (&q, &k, &v),
                (&out, 0),
                (n, keys, d, h),
                (scale, Some(w), false),
            );
            for i in 0..keys {
                let seen: Vec<usize> = (0..keys).filter(|j| i.abs_diff(*j) <= w).collect();
                let s: Vec<f64> = seen
                    .iter()
                    .map(|&j| {
                        (0..d)
                            .map(|c| f64::from(q[i * d + c] * k[j * d + c]))
                            .sum::<f64>()
                            * f64::from(scale)
                    })
                    .collect();
                let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let total: f64 = s.iter().map(|x| (x - m).exp()).sum();
                for j in 0..n {
                    let want = seen
                        .iter()
                        .position(|&x| x == j)
                        .map_or(0.0, |t| (s[t] - m).exp() / total);
                    let got = f64::from(map[i * n + j]);
                    assert!(
                        (got - want).abs() < 1e-5,
                        "keys {keys} w {w} ({i}, {j}): {got} vs {want}"
                    );
                }
                for c in 0..d {
                    let want: f64 = seen
                        .iter()
                        .enumerate()
                        .map(|(t, &j)| (s[t] - m).exp() / total * f64::from(v[j * d + c]))
                        .sum();
                    let got = f64::from(ctx[i * h + c]);
                    assert!(
                        (got - want).abs() < 1e-5,
                        "keys {keys} w {w} context ({i}, {c})"
                    );
                }
            }
        }
    }
}
