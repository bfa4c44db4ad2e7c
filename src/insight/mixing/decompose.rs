//! One layer application's token-wise decomposition: the per-summand vectors of the attention
//! block, z_ik = Σ_h A^h_ik f^h(x_k) with f^h(x) = W_O^h (W_V^h x + b_V^h), and from them
//! `norm` (‖z_ik‖), `globenc` (LN1 then LN2 applied to z_ik + δ_ik x_i as linear maps with the
//! real vectors' σ) and `alti` (Manhattan distance of LN1's share T_ik to LN1's output),
//! streamed one output row at a time (an `[N, N, H]` tensor is never held).

use crate::error::{LensError, Result};
use crate::model::{ModelConfig, ModelWeights, Trace};
use candle_core::{Device, Tensor};
use rayon::prelude::*;

/// ALTI's distance carries torch's `pairwise_distance` eps on every component.
const PAIRWISE_EPS: f64 = 1e-6;

/// What one layer application's decompositions are made of (see the module's definitions).
pub(super) struct LayerInputs<'a> {
    pub cfg: &'a ModelConfig,
    pub weights: &'a ModelWeights,
    /// the attention map's index (the layer application)
    pub j: usize,
    pub n: usize,
    pub h: usize,
    pub heads: usize,
    /// x = `hidden_states.{j}` `[N, H]`
    pub x: &'a [f32],
    /// A = `attentions.{j}` `[heads, N, N]`
    pub a: &'a [f32],
    /// f^h(x_k) `[heads, N, H]` (b_V inside, b_O not)
    pub f: Vec<f32>,
    /// LN1's input x + dense(context) + b_O `[N, H]`
    pub p1: Vec<f32>,
    /// sqrt(var(p1_i) + ε1), and sqrt(var(p1_i)) (ALTI's, which ignores ε)
    pub sigma1: Vec<f64>,
    pub s: Vec<f64>,
    /// sqrt(var(p2_i) + ε2), LN2's divisor
    pub sigma2: Vec<f64>,
    /// the layer's output y `[N, H]`, recomputed from p1 by the CPU layer tail
    pub y: Vec<f32>,
    pub gamma1: Vec<f32>,
    pub beta1: Vec<f32>,
    pub gamma2: Vec<f32>,
}

fn host(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
}

impl<'a> LayerInputs<'a> {
    pub fn of(
        cfg: &'a ModelConfig,
        weights: &'a ModelWeights,
        trace: &'a Trace,
        j: usize,
    ) -> Result<Self> {
        let (n, h, heads) = (trace.num_tokens(), cfg.hidden_size, cfg.num_attention_heads);
        let d = cfg.head_dim();
        let (_, group, inner) = ModelWeights::layer_of_attention(cfg, j);
        let layer = weights
            .groups
            .get(group)
            .and_then(|g| g.get(inner))
            .ok_or_else(|| LensError::Compute(format!("the model has no layer for map {j}")))?;
        let x = &trace.hidden_states[j];
        let a = &trace.attentions[j];
        if x.len() != n * h || a.len() != heads * n * n {
            return Err(LensError::Compute(format!(
                "map {j} of the trace does not have this model's shape"
            )));
        }
        let dev = Device::Cpu;
        let xt = Tensor::from_slice(x, (n, h), &dev)?;
        let wv = layer.qkv.w.narrow(1, 2 * h, h)?;
        let bv = layer.qkv.b.narrow(0, 2 * h, h)?;
        let v = xt.matmul(&wv)?.broadcast_add(&bv)?; // [N, H]
        let vh = v.reshape((n, heads, d))?.transpose(0, 1)?.contiguous()?; // [heads, N, d]
                                                                           // W_O stored [in, out]: head h's block is rows h·d .. (h + 1)·d
        let wo = layer.attn_out.w.reshape((heads, d, h))?;
        let f = vh.matmul(&wo)?; // [heads, N, H]
        let at = Tensor::from_slice(a, (heads, n, n), &dev)?;
        let ctx = at.matmul(&vh)?.transpose(0, 1)?.reshape((n, h))?; // [N, H]
        let dense = ctx
            .matmul(&layer.attn_out.w)?
            .broadcast_add(&layer.attn_out.b)?;
        let p1 = host(&(xt + dense)?)?;
        let eps = cfg.layer_norm_eps;
        let var: Vec<f64> = p1.chunks_exact(h.max(1)).map(variance).collect();
        let (y, sigma2) = crate::backend::cpu::layer_tail(cfg, weights, j, &p1, true)?;
        Ok(LayerInputs {
            cfg,
            weights,
            j,
            n,
            h,
            heads,
            x,
            a,
            f: host(&f)?,
            sigma1: var.iter().map(|v| (v + eps).sqrt()).collect(),
            s: var.iter().map(|v| v.sqrt()).collect(),
            p1,
            sigma2,
            y,
            gamma1: host(&layer.attn_ln.w)?,
            beta1: host(&layer.attn_ln.b)?,
            gamma2: host(&layer.out_ln.w)?,
        })
    }

    /// z_ik into `z` (`[H]`): Σ_h A^h_ik f^h(x_k).
    pub fn summand(&self, i: usize, k: usize, z: &mut [f32]) {
        let (n, h) = (self.n, self.h);
        z.fill(0.0);
        for hd in 0..self.heads {
            let w = self.a[(hd * n + i) * n + k];
            if w == 0.0 {
                continue;
            }
            let f = &self.f[(hd * n + k) * h..(hd * n + k + 1) * h];
            for (o, v) in z.iter_mut().zip(f) {
                *o += w * v;
            }
        }
    }

    /// `[norm, globenc, alti]`, each `[N, N]`.
    pub fn decompose(&self) -> Result<[Vec<f32>; 3]> {
        let (n, h) = (self.n, self.h);
        let mut norm = vec![0f32; n * n];
        let mut globenc = vec![0f32; n * n];
        let mut alti = vec![0f32; n * n];
        norm.par_chunks_mut(n.max(1))
            .zip(globenc.par_chunks_mut(n.max(1)))
            .zip(alti.par_chunks_mut(n.max(1)))
            .enumerate()
            .for_each(|(i, ((nr, gr), ar))| {
                let mut z = vec![0f32; h];
                let mut r = vec![0f64; h];
                // ALTI's resultant ŷ_i = γ1 ⊙ C(p1_i) / s_i + β1 (= LN1's output)
                let p1 = &self.p1[i * h..(i + 1) * h];
                let mean = p1.iter().map(|&v| f64::from(v)).sum::<f64>() / h as f64;
                let s = if self.s[i] > 0.0 {
                    self.s[i]
                } else {
                    self.sigma1[i]
                };
                let yhat: Vec<f64> = (0..h)
                    .map(|c| {
                        f64::from(self.gamma1[c]) * (f64::from(p1[c]) - mean) / s
                            + f64::from(self.beta1[c])
                    })
                    .collect();
                let l1: f64 = yhat.iter().map(|v| v.abs()).sum();
                let (s1, s2) = (self.sigma1[i], self.sigma2[i]);
                let xi = &self.x[i * h..(i + 1) * h];
                for k in 0..n {
                    self.summand(i, k, &mut z);
                    nr[k] = z.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt() as f32;
                    for c in 0..h {
                        r[c] = f64::from(z[c]) + if k == i { f64::from(xi[c]) } else { 0.0 };
                    }
                    let m = r.iter().sum::<f64>() / h as f64;
                    // GlobEnc: u = γ1 ⊙ C(r) / σ1, g = γ2 ⊙ C(u) / σ2
                    let mut mu = 0.0;
                    for c in 0..h {
                        mu += f64::from(self.gamma1[c]) * (r[c] - m) / s1;
                    }
                    mu /= h as f64;
                    let mut g2 = 0.0;
                    let mut dist = 0.0;
                    for c in 0..h {
                        let centred = f64::from(self.gamma1[c]) * (r[c] - m);
                        let g = f64::from(self.gamma2[c]) * (centred / s1 - mu);
                        g2 += g * g;
                        dist += (centred / s - yhat[c] + PAIRWISE_EPS).abs();
                    }
                    gr[k] = (g2.sqrt() / s2) as f32;
                    ar[k] = (l1 - dist).max(0.0) as f32;
                }
                super::normalise_rows(ar, n);
            });
        Ok([norm, globenc, alti])
    }
}

/// The population variance of a row, in f64.
pub(super) fn variance(row: &[f32]) -> f64 {
    let n = row.len().max(1) as f64;
    let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    row.iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n
}
