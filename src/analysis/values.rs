//! The transformed value vectors of a layer and their attention-weighted sums, shared by the
//! value-weighted attention map ([`super::value_weighted`]) and context mixing's
//! decompositions (`insight::mixing`): f_h(x_t) = (x_t W_V^h + b_V^h) W_O^h (b_V inside, b_O
//! not), and z_ik = Σ_h α^h_ik f_h(x_k), whose norm is the value-weighted map of all heads.

use crate::error::Result;
use crate::model::EncoderLayer;
use candle_core::{Device, Tensor};

/// For a layer's input `x` `[N, H]`: the values v = x W_V + b_V split into heads `[heads, N, d]`
/// (a tensor, for products that follow) and f `[heads, N, H]`.
/// What a layer's attention reads of its input x `[N, H]`: x itself, or in a pre-norm layer
/// (ModernBERT's, after layer 0) its norm, the input of the value projection.
pub fn attention_input<'x>(
    cfg: &crate::model::ModelConfig,
    layer: &EncoderLayer,
    x: &'x [f32],
) -> Result<std::borrow::Cow<'x, [f32]>> {
    match (&cfg.modern, &layer.attn_ln) {
        (Some(_), Some(ln)) => {
            let h = cfg.hidden_size;
            let xt = Tensor::from_slice(x, (x.len() / h.max(1), h), &Device::Cpu)?;
            let normed = candle_nn::ops::layer_norm(&xt, &ln.w, &ln.b, cfg.layer_norm_eps as f32)?;
            Ok(std::borrow::Cow::Owned(
                normed.flatten_all()?.to_vec1::<f32>()?,
            ))
        }
        _ => Ok(std::borrow::Cow::Borrowed(x)),
    }
}

pub fn value_vectors(
    layer: &EncoderLayer,
    x: &[f32],
    n: usize,
    heads: usize,
) -> Result<(Tensor, Vec<f32>)> {
    let h = x.len() / n.max(1);
    let d = h / heads.max(1);
    let xt = Tensor::from_slice(x, (n, h), &Device::Cpu)?;
    let wv = layer.qkv.w.narrow(1, 2 * h, h)?;
    let bv = layer.qkv.b.narrow(0, 2 * h, h)?;
    let v = xt.matmul(&wv)?.broadcast_add(&bv)?; // [N, H]
    let vh = v.reshape((n, heads, d))?.transpose(0, 1)?.contiguous()?; // [heads, N, d]
                                                                       // W_O stored [in, out]: head h's block is rows h·d .. (h + 1)·d
    let wo = layer.attn_out.w.reshape((heads, d, h))?;
    let f = vh.matmul(&wo)?.flatten_all()?.to_vec1::<f32>()?;
    Ok((vh, f))
}

/// z_ik = Σ_h α^h_ik f_h(x_k) into `z` (`[H]`), from the map's attention `att` `[heads, N, N]`
/// and f (heads whose weight is 0 skipped).
pub fn summand(z: &mut [f32], (att, f): (&[f32], &[f32]), (i, k): (usize, usize), n: usize) {
    let h = z.len();
    let heads = att.len() / (n * n).max(1);
    z.fill(0.0);
    for hd in 0..heads {
        let w = att[(hd * n + i) * n + k];
        if w != 0.0 {
            axpy(z, w, &f[(hd * n + k) * h..(hd * n + k + 1) * h]);
        }
    }
}

crate::backend::cpu::widest! {
    /// z += w · f
    fn axpy(z: &mut [f32], w: f32, f: &[f32]) {
        for (o, v) in z.iter_mut().zip(f) {
            *o += w * v;
        }
    }
}

/// Independent accumulators of a reduction over H (two 8-lane vectors).
pub(crate) const LANES: usize = 16;

/// ‖z‖₂, summed in [`LANES`] lanes, the lanes added in f64.
pub fn norm(z: &[f32]) -> f64 {
    let mut out = [0f64; 1];
    square_lanes(z, &mut out);
    out[0].sqrt()
}

crate::backend::cpu::widest! {
    fn square_lanes(a: &[f32], out: &mut [f64; 1]) {
        let mut acc = [0f32; LANES];
        let chunks = a.chunks_exact(LANES);
        let tail: f32 = chunks.remainder().iter().map(|x| x * x).sum();
        for x in chunks {
            for l in 0..LANES {
                acc[l] += x[l] * x[l];
            }
        }
        out[0] = acc.iter().map(|&v| f64::from(v)).sum::<f64>() + f64::from(tail);
    }
}
