//! One transformer layer on host buffers, as transformers' eager `AlbertLayer` / `BertLayer`
//! computes it, with the work arranged for two to a few cores: each product runs once over
//! the whole batch through [`matmul`]; the bias, activation, residual and LayerNorm are one
//! parallel pass over the product's rows; the attention is one task per (text, head) that
//! writes its scores into the trace's own map, applies the softmax there, and writes its share
//! of the context in place. The layer's scratch buffers are kept between layers and passes.

pub(super) mod modern;
pub(super) mod relative;

use super::gemm::{matmul, Mat, Out};
use crate::model::activation::exp;
use crate::model::config::Activation;
use rayon::prelude::*;

/// Defines `fn $name` so that its body runs compiled for the widest vectors the CPU has
/// (AVX-512, else AVX2 + FMA, else the baseline), chosen at run time: the crate is built for
/// baseline x86-64, whose 4-lane SSE kept the element-wise passes at a quarter of the width
/// PyTorch's kernels use. Each parallel task calls such a function on its share.
macro_rules! widest {
    ($(#[$m:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn inner($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
                fn v4($($arg: $ty),*) {
                    inner($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn v3($($arg: $ty),*) {
                    inner($($arg),*)
                }
                if std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512bw")
                    && std::is_x86_feature_detected!("avx512dq")
                    && std::is_x86_feature_detected!("avx512vl")
                {
                    // SAFETY: the CPU has every feature `v4` is compiled for (checked above).
                    #[allow(unsafe_code)]
                    return unsafe { v4($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU has AVX2 and FMA (checked above).
                    #[allow(unsafe_code)]
                    return unsafe { v3($($arg),*) };
                }
            }
            inner($($arg),*)
        }
    };
}
pub(crate) use widest;

/// A linear layer's host floats: `w` `[in, out]` row-major, `b` `[out]`.
#[derive(Clone, Copy)]
pub(super) struct Linear<'a> {
    pub w: &'a [f32],
    pub b: &'a [f32],
}

impl Linear<'_> {
    /// The layer's input width.
    fn inputs(&self) -> usize {
        self.w.len() / self.b.len().max(1)
    }

    /// `y = x · w` (the bias is left to the pass that follows) for `x` `[rows, in]`, `y`
    /// `[rows, out]`, split over the workers.
    pub fn product(&self, x: &[f32], y: &mut [f32]) {
        let (inp, out) = (self.inputs(), self.b.len());
        let dims = (x.len() / inp.max(1), inp, out);
        matmul(
            Mat::rows(x, inp),
            Mat::rows(self.w, out),
            Out::new(y, out),
            dims,
            false,
            true,
        );
    }

    /// `x · w + b` for `x` `[rows, in]`, as a new `[rows, out]`.
    pub fn apply(&self, x: &[f32]) -> Vec<f32> {
        let out = self.b.len();
        let mut y = vec![0f32; x.len() / self.inputs().max(1) * out];
        self.product(x, &mut y);
        for row in y.chunks_exact_mut(out.max(1)) {
            for (v, b) in row.iter_mut().zip(self.b) {
                *v += b;
            }
        }
        y
    }
}

#[derive(Clone, Copy)]
pub(super) struct Norm<'a> {
    pub w: &'a [f32],
    pub b: &'a [f32],
}

/// One layer's weights as host floats (a norm with no weights: none, ModernBERT's layer 0).
pub(super) struct Layer<'a> {
    pub qkv: Linear<'a>,
    pub attn_out: Linear<'a>,
    pub attn_ln: Norm<'a>,
    pub ffn: Linear<'a>,
    pub ffn_out: Linear<'a>,
    pub out_ln: Norm<'a>,
}

/// The shapes of one pass: `batch` texts padded to `n` rows each, text b's first `lens[b]`
/// rows real.
pub(super) struct Dims<'a> {
    pub lens: &'a [usize],
    pub n: usize,
    pub hidden: usize,
    pub heads: usize,
    pub inter: usize,
    pub eps: f64,
    pub act: Activation,
    /// DeBERTa's relative terms of this layer
    pub rel: Option<&'a relative::Relative<'a>>,
}

impl Dims<'_> {
    fn rows(&self) -> usize {
        self.lens.len() * self.n
    }
    fn d(&self) -> usize {
        self.hidden / self.heads.max(1)
    }
}

/// Buffers a layer needs besides its input and outputs, kept from layer to layer.
#[derive(Default)]
pub(super) struct Scratch {
    /// x·W_qkv `[rows, 3H]` (the bias is added by the head split)
    pub qkv: Vec<f32>,
    /// per (text, head) `[n, d]`: q scaled by 1/sqrt(d), k and v as projected
    pub q: Vec<f32>,
    pub k: Vec<f32>,
    pub v: Vec<f32>,
    /// the attention's context `[rows, H]`
    pub ctx: Vec<f32>,
    /// LayerNorm(ctx·W_o + b + x) `[rows, H]`
    pub attn: Vec<f32>,
    /// act(attn·W_in + b) `[rows, I]`
    pub ff: Vec<f32>,
    /// a pre-norm layer's normed input `[rows, H]`
    pub pre: Vec<f32>,
}

/// `v` resized to `len` (its old contents are overwritten before they are read).
fn sized(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    v.resize(len, 0.0);
    &mut v[..len]
}

/// Runs one layer: `out` `[rows, H]` gets the layer's output and `probs` `[batch·heads, n, n]`
/// its attention (padded keys 0; the heads in `off` all 0).
pub(super) fn run(
    x: &[f32],
    w: &Layer<'_>,
    dims: &Dims<'_>,
    off: &[usize],
    s: &mut Scratch,
    (out, probs): (&mut [f32], &mut [f32]),
) {
    let (rows, h, n, d) = (dims.rows(), dims.hidden, dims.n, dims.d());
    // Q, K and V in one product, then split per (text, head) with the bias
    w.qkv.product(x, sized(&mut s.qkv, rows * 3 * h));
    let scale = dims.rel.map_or(1.0 / (d as f32).sqrt(), |r| r.inv_scale);
    split_heads(&s.qkv, w.qkv.b, dims, scale, (&mut s.q, &mut s.k, &mut s.v));
    // attention: per (text, head), scores into the map, softmax in place, context in place
    let ctx = sized(&mut s.ctx, rows * h);
    let ctx_out = Out::new(ctx, h);
    let qkv = (&s.q[..], &s.k[..], &s.v[..]);
    each_head(probs, qkv, dims, |map, (qh, kh, vh), (hd, keys, ctx_at)| {
        matmul(
            Mat::rows(qh, d),
            Mat::transposed(kh, d),
            Out::new(map, n),
            (n, d, keys),
            false,
            false,
        );
        if let Some(rel) = dims.rel {
            rel.add(map, (qh, kh), hd, (n, keys, d));
        }
        if off.contains(&hd) {
            map.fill(0.0);
        } else {
            softmax_rows(map, n, keys);
        }
        // keys past the text's length have probability 0: the product stops at them
        matmul(
            Mat::rows(map, n),
            Mat::rows(vh, d),
            ctx_out.at(ctx_at),
            (n, keys, d),
            false,
            false,
        );
    });
    // output projection + residual + LayerNorm
    let attn = sized(&mut s.attn, rows * h);
    w.attn_out.product(&s.ctx, attn);
    add_norm(attn, w.attn_out.b, x, w.attn_ln, dims.eps);
    // feed-forward
    let ff = sized(&mut s.ff, rows * dims.inter);
    w.ffn.product(&s.attn, ff);
    bias_act(ff, w.ffn.b, dims.act);
    w.ffn_out.product(&s.ff, out);
    add_norm(out, w.ffn_out.b, &s.attn, w.out_ln, dims.eps);
}

/// Runs `f` once per (text, head) of a pass, in parallel: with that head's map `[n, n]` of
/// `probs` (`[batch·heads, n, n]`), its q, k and v blocks `[n, d]` (of `[batch·heads, n, d]`),
/// and (the head, the text's key count, where its context columns start in `[rows, H]`).
pub(super) fn each_head(
    probs: &mut [f32],
    (q, k, v): (&[f32], &[f32], &[f32]),
    dims: &Dims<'_>,
    f: impl Fn(&mut [f32], (&[f32], &[f32], &[f32]), (usize, usize, usize)) + Sync + Send,
) {
    let (n, d, h, heads) = (dims.n, dims.d(), dims.hidden, dims.heads);
    probs
        .par_chunks_mut(n * n)
        .enumerate()
        .for_each(|(bh, map)| {
            let (b, hd) = (bh / heads, bh % heads);
            let keys = dims.lens[b].clamp(1, n);
            let at = bh * n * d;
            let (qh, kh, vh) = (&q[at..at + n * d], &k[at..at + n * d], &v[at..at + n * d]);
            f(map, (qh, kh, vh), (hd, keys, b * n * h + hd * d));
        });
}

/// x·W_qkv (without its bias) `[rows, 3H]` split per (text, head) into q (with the bias,
/// times `q_scale`: 1/sqrt(d) in the pass, 1 for the kept intermediates), k and v (with the
/// bias), each `[batch·heads, n, d]`, parallel over (text, head).
pub(super) fn split_heads(
    qkv: &[f32],
    bias: &[f32],
    dims: &Dims<'_>,
    q_scale: f32,
    (q, k, v): (&mut Vec<f32>, &mut Vec<f32>, &mut Vec<f32>),
) {
    let (rows, h, heads, n, d) = (dims.rows(), dims.hidden, dims.heads, dims.n, dims.d());
    let (q, k, v) = (sized(q, rows * h), sized(k, rows * h), sized(v, rows * h));
    q.par_chunks_mut(n * d)
        .zip(k.par_chunks_mut(n * d))
        .zip(v.par_chunks_mut(n * d))
        .enumerate()
        .for_each(|(bh, ((qh, kh), vh))| {
            let (b, hd) = (bh / heads, bh % heads);
            for (part, dst) in [qh, kh, vh].into_iter().enumerate() {
                let col = part * h + hd * d;
                let scale = if part == 0 { q_scale } else { 1.0 };
                let src = &qkv[b * n * 3 * h + col..];
                head_columns(dst, src, 3 * h, &bias[col..col + d], scale);
            }
        });
}

widest! {
    /// `dst` `[rows, d]` = (src's first d columns of each row (`ld` apart) + bias) · scale.
    fn head_columns(dst: &mut [f32], src: &[f32], ld: usize, bias: &[f32], scale: f32) {
        let d = bias.len();
        for (t, o) in dst.chunks_exact_mut(d).enumerate() {
            for ((o, x), y) in o.iter_mut().zip(&src[t * ld..t * ld + d]).zip(bias) {
                *o = (x + y) * scale;
            }
        }
    }
}

widest! {
    /// Softmax over each of the `n` rows of `map` (`[n, n]`), the first `keys` columns: exp(x -
    /// max) / sum in f32, as PyTorch computes it; the columns from `keys` on (padding) are 0, as
    /// transformers' additive mask (the dtype's minimum) makes them.
    fn softmax_rows(map: &mut [f32], n: usize, keys: usize) {
        for row in map.chunks_exact_mut(n) {
            let (row, pad) = row.split_at_mut(keys);
            pad.fill(0.0);
            // the max in 32 lanes; then exp(x - max), stored and summed in 32 lanes in one pass;
            // then times the reciprocal of the sum, as PyTorch's vectorized softmax does (lanes in
            // two vector registers each: one running max or sum was a chain of dependent ops)
            let m = lanes(row, f32::NEG_INFINITY, |a, b| if b > a { b } else { a });
            let mut acc = [0f32; LANES];
            let mut chunks = row.chunks_exact_mut(LANES);
            for c in &mut chunks {
                for (v, a) in c.iter_mut().zip(acc.iter_mut()) {
                    *v = exp(*v - m);
                    *a += *v;
                }
            }
            let mut tail = 0.0;
            for v in chunks.into_remainder() {
                *v = exp(*v - m);
                tail += *v;
            }
            let inv = 1.0 / (acc.iter().sum::<f32>() + tail);
            for v in row.iter_mut() {
                *v *= inv;
            }
        }
    }
}

/// Independent accumulators of a row reduction: two 16-lane vectors.
const LANES: usize = 32;

/// `row` folded by `f` in [`LANES`] independent lanes, then the lanes folded (so that the
/// compiler keeps the lanes in vector registers).
#[inline(always)]
fn lanes(row: &[f32], init: f32, f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder().iter().fold(init, |a, &b| f(a, b));
    for c in chunks {
        for l in 0..LANES {
            acc[l] = f(acc[l], c[l]);
        }
    }
    acc.iter().fold(tail, |a, &b| f(a, b))
}

/// Rows per parallel task of an element-wise pass: a few tasks per worker.
fn row_chunk(rows: usize) -> usize {
    rows.div_ceil(rayon::current_num_threads().max(1) * 2)
        .max(1)
}

/// `y = LayerNorm(y + bias + residual)` row by row, in parallel (mean and variance in f64).
pub(super) fn add_norm(y: &mut [f32], bias: &[f32], residual: &[f32], ln: Norm<'_>, eps: f64) {
    add_norm_with(y, (bias, residual), ln, eps, None);
}

/// `y = LayerNorm(y)` row by row, in parallel (ModernBERT's final norm).
pub(super) fn norm_rows(y: &mut [f32], ln: Norm<'_>, eps: f64) {
    add_norm_with(y, (&[], &[]), ln, eps, None);
}

/// [`add_norm`] where `bias` and `residual` may each be empty (nothing added), keeping each
/// row's divisor sqrt(var + ε) in `sigmas` when given (context mixing's layer tail).
fn add_norm_with(
    y: &mut [f32],
    (bias, residual): (&[f32], &[f32]),
    ln: Norm<'_>,
    eps: f64,
    sigmas: Option<&mut [f64]>,
) {
    let cols = ln.w.len().max(1);
    let chunk = row_chunk(y.len() / cols);
    // the residual rows of the task that starts at row chunk c
    let part = |c: usize, len: usize| match residual.is_empty() {
        true => residual,
        false => &residual[c * chunk * cols..c * chunk * cols + len],
    };
    match sigmas {
        Some(sig) => y
            .par_chunks_mut(chunk * cols)
            .zip(sig.par_chunks_mut(chunk))
            .enumerate()
            .for_each(|(c, (ys, ss))| add_norm_rows(ys, part(c, ys.len()), bias, ln, eps, ss)),
        None => y
            .par_chunks_mut(chunk * cols)
            .enumerate()
            .for_each(|(c, ys)| add_norm_rows(ys, part(c, ys.len()), bias, ln, eps, &mut [])),
    }
}

widest! {
    /// [`add_norm_with`] on a run of rows (`rs` and `bias` empty: not added; `sigmas` empty:
    /// not kept). Mean and variance in f64, summed in eight lanes (one running f64 sum was a
    /// chain of dependent adds, 4 cycles an element).
    fn add_norm_rows(
        ys: &mut [f32],
        rs: &[f32],
        bias: &[f32],
        ln: Norm<'_>,
        eps: f64,
        sigmas: &mut [f64],
    ) {
        let cols = ln.w.len();
        for (r, row) in ys.chunks_exact_mut(cols).enumerate() {
            let res = rs.get(r * cols..(r + 1) * cols).unwrap_or_default();
            match (bias.is_empty(), res.is_empty()) {
                (false, false) => {
                    for ((v, b), x) in row.iter_mut().zip(bias).zip(res) {
                        *v += b + x;
                    }
                }
                (false, true) => row.iter_mut().zip(bias).for_each(|(v, b)| *v += b),
                (true, false) => row.iter_mut().zip(res).for_each(|(v, x)| *v += x),
                (true, true) => {}
            }
            let mean = sum8(row, |v| v) / cols as f64;
            let var = sum8(row, |v| (v - mean) * (v - mean)) / cols as f64;
            let sd = (var + eps).sqrt();
            if let Some(s) = sigmas.get_mut(r) {
                *s = sd;
            }
            let inv = 1.0 / sd;
            for ((v, w), b) in row.iter_mut().zip(ln.w).zip(ln.b) {
                *v = ((f64::from(*v) - mean) * inv) as f32 * w + b;
            }
        }
    }
}

/// Σ f(x) over `row` in f64, in eight independent lanes.
#[inline(always)]
fn sum8(row: &[f32], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0f64; 8];
    let chunks = row.chunks_exact(8);
    let tail: f64 = chunks.remainder().iter().map(|&v| f(f64::from(v))).sum();
    for c in chunks {
        for l in 0..8 {
            acc[l] += f(f64::from(c[l]));
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// `y = act(y + bias)` in parallel, one loop per activation (so that each is inlined and
/// vectorized; a match inside the loop kept it scalar).
fn bias_act(y: &mut [f32], bias: &[f32], act: Activation) {
    let chunk = row_chunk(y.len() / bias.len().max(1)) * bias.len();
    y.par_chunks_mut(chunk)
        .for_each(|rows| bias_act_rows(rows, bias, act));
}

widest! {
    fn bias_act_rows(rows: &mut [f32], bias: &[f32], act: Activation) {
        #[inline(always)]
        fn run(rows: &mut [f32], bias: &[f32], f: impl Fn(f32) -> f32) {
            for row in rows.chunks_exact_mut(bias.len()) {
                for (v, b) in row.iter_mut().zip(bias) {
                    *v = f(*v + b);
                }
            }
        }
        match act {
            Activation::Gelu => run(rows, bias, |v| Activation::Gelu.apply(v)),
            Activation::GeluTanh => run(rows, bias, |v| Activation::GeluTanh.apply(v)),
            Activation::Relu => run(rows, bias, |v| v.max(0.0)),
            other => run(rows, bias, move |v| other.apply(v)),
        }
    }
}

/// The part of a layer after the attention's output dense, over rows of LN1's input `p1`
/// `[rows, H]` (x + dense(context) + b_O): `out` `[rows, H]` gets LN2(a + FFN(a)) with
/// a = LN1(p1); `sigma2`, when given, each row's sqrt(var(a + FFN(a)) + ε) (LN2's divisor).
pub(super) fn tail(
    p1: &[f32],
    w: &Layer<'_>,
    dims: &Dims<'_>,
    s: &mut Scratch,
    out: &mut [f32],
    sigma2: Option<&mut [f64]>,
) {
    let (h, eps) = (dims.hidden, dims.eps);
    let rows = p1.len() / h.max(1);
    let attn = sized(&mut s.attn, rows * h);
    attn.copy_from_slice(p1);
    add_norm_with(attn, (&[], &[]), w.attn_ln, eps, None);
    let ff = sized(&mut s.ff, rows * dims.inter);
    w.ffn.product(&s.attn, ff);
    bias_act(ff, w.ffn.b, dims.act);
    w.ffn_out.product(&s.ff, out);
    add_norm_with(out, (w.ffn_out.b, &s.attn), w.out_ln, eps, sigma2);
}
