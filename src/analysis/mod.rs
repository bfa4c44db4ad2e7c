//! What the attention views compute from a [`Trace`]: one head's map, the mean and max over
//! heads, attention rollout across layers (Abnar & Zuidema 2020), attention weighted by the norm
//! of the transformed value vectors (Kobayashi et al. 2020), hiding special tokens with optional
//! renormalisation, and differences. Pure functions on row-major `[N, N]` matrices (row = query,
//! column = key), independent of the UI so that tests can check them on hand-made inputs.

pub mod maps;
pub mod values;
pub mod words;

use crate::error::{LensError, Result};
use crate::model::{ModelConfig, ModelWeights, Trace};
use rayon::prelude::*;

/// Which heads of a layer a map shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HeadSel {
    Head(usize),
    Mean,
    Max,
}

/// What a map measures.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
pub enum Measure {
    /// the attention weights α
    Attention,
    /// attention rollout from the input up to the layer (head mean, residual folded in)
    Rollout,
    /// ‖α_ij f(x_j)‖ (Kobayashi et al. 2020); for all heads the norm of the sum over heads
    ValueNorm,
}

impl HeadSel {
    /// "Head 3", "Mean of heads", "Max of heads"
    pub fn name(self) -> String {
        match self {
            HeadSel::Head(h) => format!("Head {}", h + 1),
            HeadSel::Mean => "Mean of heads".into(),
            HeadSel::Max => "Max of heads".into(),
        }
    }
}

impl Measure {
    pub const ALL: [Measure; 3] = [Measure::Attention, Measure::Rollout, Measure::ValueNorm];

    pub fn name(self) -> &'static str {
        match self {
            Measure::Attention => "Attention",
            Measure::Rollout => "Rollout",
            Measure::ValueNorm => "Value-weighted |αf|",
        }
    }

    /// One sentence on what the measure is and where it comes from.
    pub fn description(self) -> &'static str {
        match self {
            Measure::Attention => "the attention weights α",
            Measure::Rollout => "attention rollout from the input to this layer (Abnar & Zuidema 2020): head mean with the residual, multiplied through the layers",
            Measure::ValueNorm => "|α f(x)| (Kobayashi et al. 2020): the weight times the norm of the transformed value vector; for all heads, the norm of the sum over heads",
        }
    }
}

/// Element-wise mean of the heads of a `[heads, N, N]` layer.
pub fn mean_heads(layer: &[f32], heads: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; n * n];
    for h in 0..heads {
        for (o, v) in out.iter_mut().zip(&layer[h * n * n..(h + 1) * n * n]) {
            *o += v;
        }
    }
    let inv = 1.0 / heads.max(1) as f32;
    out.iter_mut().for_each(|o| *o *= inv);
    out
}

/// Element-wise maximum of the heads of a `[heads, N, N]` layer.
pub fn max_heads(layer: &[f32], heads: usize, n: usize) -> Vec<f32> {
    let mut out = vec![f32::NEG_INFINITY; n * n];
    for h in 0..heads {
        for (o, v) in out.iter_mut().zip(&layer[h * n * n..(h + 1) * n * n]) {
            *o = o.max(*v);
        }
    }
    out
}

/// One layer's map for a head selection.
pub fn select_heads(layer: &[f32], heads: usize, n: usize, sel: HeadSel) -> Vec<f32> {
    match sel {
        HeadSel::Head(h) => layer[h * n * n..(h + 1) * n * n].to_vec(),
        HeadSel::Mean => mean_heads(layer, heads, n),
        HeadSel::Max => max_heads(layer, heads, n),
    }
}

/// Attention rollout (Abnar & Zuidema 2020) for every layer: with Ā_l the head mean of layer l,
/// Â_l = (Ā_l + I) / 2 (the residual connection) rows renormalised, R_0 = Â_0 and
/// R_l = Â_l · R_{l-1}. Entry (i, j) of R_l is how much token i at layer l draws on input token j.
/// The products run on candle's matmul: L · N³ multiply-adds (1.6 G for 12 layers at N = 512).
pub fn rollout(trace: &Trace) -> Result<Vec<Vec<f32>>> {
    use candle_core::{Device, Tensor};
    let n = trace.num_tokens();
    let mut out: Vec<Vec<f32>> = Vec::with_capacity(trace.attentions.len());
    let mut prev: Option<Tensor> = None;
    for layer in &trace.attentions {
        let a = with_residual(&mean_heads(layer, trace.num_heads, n), n);
        let a = Tensor::from_vec(a, (n, n), &Device::Cpu)?;
        let r = match &prev {
            Some(p) => a.matmul(p)?,
            None => a,
        };
        out.push(r.flatten_all()?.to_vec1::<f32>()?);
        prev = Some(r);
    }
    Ok(out)
}

/// (Ā + I) / rowsum(Ā + I) for a head mean Ā `[N, N]`: attention with the residual folded in,
/// each row a distribution again (Abnar & Zuidema's `compute_joint_attention(add_residual=True)`;
/// rollout's factors and attention flow's capacities).
pub fn with_residual(mean: &[f32], n: usize) -> Vec<f32> {
    let mut a = mean.to_vec();
    for (i, row) in a.chunks_exact_mut(n.max(1)).enumerate() {
        row[i] += 1.0;
        let s: f32 = row.iter().sum();
        row.iter_mut().for_each(|v| *v /= s);
    }
    a
}

/// A map restricted to the rows and columns of `keep` (in order). With `renormalise`, each
/// remaining row is divided by its sum so that it is again a distribution over the kept keys.
pub fn restrict(map: &[f32], n: usize, keep: &[usize], renormalise: bool) -> Vec<f32> {
    let m = keep.len();
    let mut out = Vec::with_capacity(m * m);
    for &i in keep {
        let start = out.len();
        out.extend(keep.iter().map(|&j| map[i * n + j]));
        if renormalise {
            let s: f32 = out[start..].iter().sum();
            if s > 0.0 {
                out[start..].iter_mut().for_each(|v| *v /= s);
            }
        }
    }
    out
}

/// `a - b`, element-wise (a difference map for the diverging colormap).
pub fn difference(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

/// The value-weighted maps of attention map `j` (Kobayashi et al. 2020, "Attention is not only
/// a weight"): with f_h(x) = (x W_V^h + b_V^h) W_O^h the transformed value vector of head h,
/// returns (per head `[heads, N, N]` with entries α^h_ij ‖f_h(x_j)‖, all heads `[N, N]` with
/// entries ‖Σ_h α^h_ij f_h(x_j)‖). x is the layer's input, hidden state `j` of the trace.
pub fn value_weighted(
    cfg: &ModelConfig,
    weights: &ModelWeights,
    trace: &Trace,
    j: usize,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let n = trace.num_tokens();
    let h = cfg.hidden_size;
    let heads = cfg.num_attention_heads;
    let (Some(att), Some(x)) = (trace.attentions.get(j), trace.hidden_states.get(j)) else {
        return Err(LensError::Analysis(format!(
            "the trace has no attention map {j} (it has {})",
            trace.attentions.len()
        )));
    };
    let layer = weights
        .layer_for_map(cfg, j)
        .ok_or_else(|| LensError::Analysis(format!("no weights for attention map {j}")))?;
    if x.len() != n * h || att.len() != heads * n * n {
        return Err(LensError::Analysis(format!(
            "attention map {j} of the trace does not have this model's shape"
        )));
    }
    // the value projection's input: x, or a pre-norm layer's norm of it
    let input = values::attention_input(cfg, layer, x)?;
    let (_, f) = values::value_vectors(layer, &input, n, heads)?; // [heads, N, H]
    let norms: Vec<f32> = f.chunks_exact(h).map(|r| values::norm(r) as f32).collect(); // [heads, N]
    let mut per_head = vec![0.0f32; heads * n * n];
    for hd in 0..heads {
        for i in 0..n {
            for jj in 0..n {
                let idx = (hd * n + i) * n + jj;
                per_head[idx] = att[idx] * norms[hd * n + jj];
            }
        }
    }
    // ‖Σ_h α^h_ij f_h(x_j)‖: N²·heads·H multiply-adds, one query row per task (context
    // mixing's `norm`, from the same two functions)
    let mut all = vec![0.0f32; n * n];
    all.par_chunks_mut(n.max(1))
        .enumerate()
        .for_each(|(i, row)| {
            let mut z = vec![0.0f32; h];
            for (k, out) in row.iter_mut().enumerate() {
                values::summand(&mut z, (att, &f), (i, k), n);
                *out = values::norm(&z) as f32;
            }
        });
    Ok((per_head, all))
}

/// The smallest and largest finite values of a map (for a colour scale), or (0, 1) if none.
pub fn value_range(map: &[f32]) -> (f32, f32) {
    let mut lo = f32::INFINITY;
    let mut hi = f32::NEG_INFINITY;
    for &v in map.iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        (0.0, 1.0)
    } else {
        (lo, hi)
    }
}
