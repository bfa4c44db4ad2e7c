//! One layer application's token-wise decomposition: the per-summand vectors of the attention
//! block, z_ik = Σ_h A^h_ik f^h(x_k) with f^h(x) = W_O^h (W_V^h x + b_V^h), and from them
//! `norm` (‖z_ik‖), `globenc` (LN1 then LN2 applied to z_ik + δ_ik x_i as linear maps with the
//! real vectors' σ) and `alti` (Manhattan distance of LN1's share T_ik to LN1's output),
//! streamed one output row at a time (an `[N, N, H]` tensor is never held).

use crate::analysis::values::{self, LANES};
use crate::error::{LensError, Result};
use crate::model::{ModelConfig, ModelWeights, Trace};
use candle_core::{Device, Tensor};
use rayon::prelude::*;

/// ALTI's distance carries torch's `pairwise_distance` eps on every component.
const PAIRWISE_EPS: f32 = 1e-6;

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
    /// With `deep`, also LN1's input and σ (what GlobEnc, ALTI and value zeroing need; norm
    /// needs only f); with `tail`, also the layer's output y and LN2's σ (GlobEnc and value
    /// zeroing; one pass of the layer's feed-forward).
    pub fn of(
        cfg: &'a ModelConfig,
        weights: &'a ModelWeights,
        trace: &'a Trace,
        (j, deep, tail): (usize, bool, bool),
    ) -> Result<Self> {
        let (n, h, heads) = (trace.num_tokens(), cfg.hidden_size, cfg.num_attention_heads);
        let layer = weights
            .layer_for_map(cfg, j)
            .ok_or_else(|| LensError::Compute(format!("the model has no layer for map {j}")))?;
        let x = &trace.hidden_states[j];
        let a = &trace.attentions[j];
        if x.len() != n * h || a.len() != heads * n * n {
            return Err(LensError::Compute(format!(
                "map {j} of the trace does not have this model's shape"
            )));
        }
        let dev = Device::Cpu;
        // the value projection's input: x, or a pre-norm layer's norm of it (norm and value
        // zeroing; GlobEnc and ALTI are refused for pre-norm layers, mixing::refusal)
        let input = crate::analysis::values::attention_input(cfg, layer, x)?;
        let (vh, f) = crate::analysis::values::value_vectors(layer, &input, n, heads)?;
        // LN1's γ and β (GlobEnc, ALTI): post-LN layers only (pre-norm layers refuse those
        // methods, mixing::refusal)
        let ln1 = match (deep, &cfg.modern, &layer.attn_ln) {
            (true, None, Some(ln)) => Some(ln),
            (true, None, None) => {
                return Err(LensError::Compute(
                    "a post-LN layer without its attention norm".into(),
                ))
            }
            _ => None,
        };
        let p1 = if deep || tail {
            let at = Tensor::from_slice(a, (heads, n, n), &dev)?;
            let ctx = at.matmul(&vh)?.transpose(0, 1)?.reshape((n, h))?; // [N, H]
            let dense = ctx
                .matmul(&layer.attn_out.w)?
                .broadcast_add(&layer.attn_out.b)?;
            host(&(Tensor::from_slice(x, (n, h), &dev)? + dense)?)?
        } else {
            Vec::new()
        };
        let eps = cfg.layer_norm_eps;
        let var: Vec<f64> = p1.chunks_exact(h.max(1)).map(variance).collect();
        let (y, sigma2) = if tail {
            crate::backend::cpu::layer_tail(cfg, weights, j, &p1, true)?
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(LayerInputs {
            cfg,
            weights,
            j,
            n,
            h,
            heads,
            x,
            a,
            f,
            sigma1: var.iter().map(|v| (v + eps).sqrt()).collect(),
            s: var.iter().map(|v| v.sqrt()).collect(),
            p1,
            sigma2,
            y,
            gamma1: ln1.map(|l| host(&l.w)).transpose()?.unwrap_or_default(),
            beta1: ln1.map(|l| host(&l.b)).transpose()?.unwrap_or_default(),
            gamma2: host(&layer.out_ln.w)?,
        })
    }

    /// `[norm, globenc, alti]`, each `[N, N]` (empty where `want` leaves it out), one output
    /// row per parallel task.
    pub fn decompose(&self, want: [bool; 3]) -> Result<[Vec<f32>; 3]> {
        let (n, h) = (self.n, self.h);
        let size = |w: bool| if w { n * n } else { 0 };
        let mut norm = vec![0f32; n * n];
        let mut globenc = vec![0f32; size(want[1])];
        let mut alti = vec![0f32; size(want[2])];
        let deep = want[1] || want[2];
        let rows: Vec<(Vec<f32>, Vec<f32>)> = (0..n)
            .into_par_iter()
            .map(|i| {
                let mut z = vec![0f32; h];
                let mut out = (vec![0f32; n], vec![0f32; if deep { 2 * n } else { 0 }]);
                // ALTI's resultant ŷ_i = γ1 ⊙ C(p1_i) / s_i + β1 (= LN1's output)
                let (yhat, l1, s2, consts) = if deep {
                    let p1 = &self.p1[i * h..(i + 1) * h];
                    let mean = p1.iter().map(|&v| f64::from(v)).sum::<f64>() / h as f64;
                    let s = if self.s[i] > 0.0 {
                        self.s[i]
                    } else {
                        self.sigma1[i]
                    };
                    let yhat: Vec<f32> = (0..h)
                        .map(|c| {
                            (f64::from(self.gamma1[c]) * (f64::from(p1[c]) - mean) / s
                                + f64::from(self.beta1[c])) as f32
                        })
                        .collect();
                    let l1: f64 = yhat.iter().map(|&v| f64::from(v).abs()).sum();
                    let s2 = self.sigma2.get(i).copied().unwrap_or(1.0);
                    (
                        yhat,
                        l1,
                        s2,
                        [(1.0 / self.sigma1[i]) as f32, (1.0 / s) as f32],
                    )
                } else {
                    (Vec::new(), 0.0, 1.0, [1.0; 2])
                };
                let xi = &self.x[i * h..(i + 1) * h];
                for k in 0..n {
                    values::summand(&mut z, (self.a, &self.f), (i, k), n);
                    out.0[k] = values::norm(&z) as f32;
                    if !deep {
                        continue;
                    }
                    if k == i {
                        for (o, v) in z.iter_mut().zip(xi) {
                            *o += v;
                        }
                    }
                    let mut sums = [0f64; 3];
                    shares(&z, (&self.gamma1, &self.gamma2, &yhat), consts, &mut sums);
                    let [g2, dist, _] = sums;
                    out.1[2 * k] = (g2.max(0.0).sqrt() / s2) as f32;
                    out.1[2 * k + 1] = (l1 - dist).max(0.0) as f32;
                }
                out
            })
            .collect();
        for (i, (nr, deep_row)) in rows.into_iter().enumerate() {
            norm[i * n..(i + 1) * n].copy_from_slice(&nr);
            if want[1] {
                for k in 0..n {
                    globenc[i * n + k] = deep_row[2 * k];
                }
            }
            if want[2] {
                let row = &mut alti[i * n..(i + 1) * n];
                for k in 0..n {
                    row[k] = deep_row[2 * k + 1];
                }
                super::normalise_rows(row, n);
            }
        }
        if !want[0] {
            norm = Vec::new();
        }
        Ok([norm, globenc, alti])
    }
}

crate::backend::cpu::widest! {
    /// For one summand r (`z`): GlobEnc's Σ_c (γ2_c (u_c − mean u))² with u = γ1 ⊙ C(r) / σ1
    /// (`inv[0]` = 1/σ1), and ALTI's Σ_c |γ1_c C(r)_c / s − ŷ_c + 1e-6| (`inv[1]` = 1/s), into
    /// `sums[0]` and `sums[1]`; each sum in [`LANES`] lanes, the lanes added in f64.
    fn shares(
        z: &[f32],
        gammas: (&[f32], &[f32], &[f32]),
        inv: [f32; 2],
        sums: &mut [f64; 3],
    ) {
        let (g1, g2, yhat) = gammas;
        let h = z.len() as f64;
        let full = z.len() / LANES * LANES;
        let fold = |acc: &[f32; LANES], tail: f32| {
            acc.iter().map(|&x| f64::from(x)).sum::<f64>() + f64::from(tail)
        };
        // the mean of r, and of γ1 (r − m) (u's mean times σ1)
        let (mut acc_r, mut acc_gr, mut acc_g) = ([0f32; LANES], [0f32; LANES], [0f32; LANES]);
        for c in (0..full).step_by(LANES) {
            for l in 0..LANES {
                acc_r[l] += z[c + l];
                acc_gr[l] += g1[c + l] * z[c + l];
                acc_g[l] += g1[c + l];
            }
        }
        let (mut t_r, mut t_gr, mut t_g) = (0f32, 0f32, 0f32);
        for c in full..z.len() {
            t_r += z[c];
            t_gr += g1[c] * z[c];
            t_g += g1[c];
        }
        let m = (fold(&acc_r, t_r) / h) as f32;
        let mu = ((fold(&acc_gr, t_gr) - f64::from(m) * fold(&acc_g, t_g)) / h) as f32 * inv[0];
        let (mut acc_e, mut acc_d) = ([0f32; LANES], [0f32; LANES]);
        let term = |c: usize| {
            let centred = g1[c] * (z[c] - m);
            let g = g2[c] * (centred * inv[0] - mu);
            (g * g, (centred * inv[1] - yhat[c] + PAIRWISE_EPS).abs())
        };
        for c in (0..full).step_by(LANES) {
            for l in 0..LANES {
                let (e, d) = term(c + l);
                acc_e[l] += e;
                acc_d[l] += d;
            }
        }
        let (mut t_e, mut t_d) = (0f32, 0f32);
        for c in full..z.len() {
            let (e, d) = term(c);
            t_e += e;
            t_d += d;
        }
        sums[0] = fold(&acc_e, t_e);
        sums[1] = fold(&acc_d, t_d);
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
