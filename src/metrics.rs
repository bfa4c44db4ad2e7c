//! The numbers behind the explanatory views: PCA of hidden states, the ALBERT paper's Figure 1
//! (how far each layer moves its input), Jensen–Shannon distances between layers' attention,
//! and the layer lens (the masked-LM head applied to every layer's hidden state).

use crate::error::{LensError, Result};
use crate::model::{ModelConfig, Trace};
use rayon::prelude::*;

/// A principal component analysis of `n` points in `d` dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    /// `n x k` coordinates, row-major
    pub coords: Vec<f32>,
    pub k: usize,
    /// the k unit axes, each of length d
    pub axes: Vec<Vec<f64>>,
    /// variance along each axis
    pub variance: Vec<f64>,
    /// the total variance of the data (the sum over all d dimensions)
    pub total_variance: f64,
}

impl Pca {
    /// The share of the total variance each axis explains.
    pub fn explained(&self) -> Vec<f64> {
        self.variance
            .iter()
            .map(|v| {
                if self.total_variance > 0.0 {
                    v / self.total_variance
                } else {
                    0.0
                }
            })
            .collect()
    }
}

/// The first `k` principal components of the rows of `data` (`n x d`, row-major): the data are
/// centred, then each axis is found by power iteration on the covariance (never formed: each
/// step multiplies by X and X^T) with deflation against the earlier axes. Each axis's sign is
/// fixed so that its largest-magnitude entry is positive, so results are deterministic.
pub fn pca(data: &[f32], n: usize, d: usize, k: usize) -> Result<Pca> {
    if n == 0 || d == 0 || data.len() != n * d {
        return Err(LensError::Analysis(format!(
            "PCA needs an n x d matrix; got {} values for {n} x {d}",
            data.len()
        )));
    }
    let k = k.min(d);
    let mut mean = vec![0f64; d];
    for row in data.chunks(d) {
        for (m, &x) in mean.iter_mut().zip(row) {
            *m += x as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let x: Vec<f64> = data
        .chunks(d)
        .flat_map(|row| row.iter().zip(&mean).map(|(&v, m)| v as f64 - m))
        .collect();
    let total_variance = x.iter().map(|v| v * v).sum::<f64>() / n as f64;
    // C v = X^T (X v) / n
    let cov_times = |v: &[f64]| -> Vec<f64> {
        let xv: Vec<f64> = x
            .par_chunks(d)
            .map(|row| row.iter().zip(v).map(|(a, b)| a * b).sum())
            .collect();
        let mut out = vec![0f64; d];
        for (row, s) in x.chunks(d).zip(&xv) {
            for (o, a) in out.iter_mut().zip(row) {
                *o += a * s;
            }
        }
        out.iter_mut().for_each(|o| *o /= n as f64);
        out
    };
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let mut axes: Vec<Vec<f64>> = Vec::with_capacity(k);
    let mut variance = Vec::with_capacity(k);
    for c in 0..k {
        // a deterministic start that is unlikely to be orthogonal to any axis
        let mut v: Vec<f64> = (0..d)
            .map(|i| 1.0 + ((i * 7919 + c * 104_729) % 1009) as f64 / 1009.0)
            .collect();
        let mut lambda = 0.0;
        for _ in 0..2000 {
            for a in &axes {
                let p = dot(&v, a);
                v.iter_mut().zip(a).for_each(|(x, y)| *x -= p * y);
            }
            let norm = dot(&v, &v).sqrt();
            if norm < 1e-300 {
                break;
            }
            v.iter_mut().for_each(|x| *x /= norm);
            let mut w = cov_times(&v);
            for a in &axes {
                let p = dot(&w, a);
                w.iter_mut().zip(a).for_each(|(x, y)| *x -= p * y);
            }
            let new_lambda = dot(&w, &v);
            let wn = dot(&w, &w).sqrt();
            if wn < 1e-300 {
                lambda = 0.0;
                break;
            }
            let next: Vec<f64> = w.iter().map(|x| x / wn).collect();
            let change = next
                .iter()
                .zip(&v)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            v = next;
            let settled = (new_lambda - lambda).abs() <= 1e-13 * new_lambda.abs().max(1e-300);
            lambda = new_lambda;
            if change < 1e-11 || (settled && change < 1e-7) {
                break;
            }
        }
        let big = v
            .iter()
            .copied()
            .fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
        if big < 0.0 {
            v.iter_mut().for_each(|x| *x = -*x);
        }
        variance.push(lambda.max(0.0));
        axes.push(v);
    }
    let coords = x
        .chunks(d)
        .flat_map(|row| axes.iter().map(|a| dot(row, a) as f32).collect::<Vec<_>>())
        .collect();
    Ok(Pca {
        coords,
        k,
        axes,
        variance,
        total_variance,
    })
}

/// How far one layer moves its input, averaged over tokens: the ALBERT paper's Figure 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition {
    /// mean over tokens of ||out_i - in_i||
    pub l2: f64,
    /// mean over tokens of the angle between in_i and out_i, in degrees
    pub angle_deg: f64,
}

/// What Figure 1 averages over, stated under the plot.
pub const FIGURE1_AVERAGING: &str = "each point: the mean over the tokens of the input of the L2 distance (left) and the angle (right, degrees; arccos of the cosine similarity) between one token's embedding before and after the layer";

/// For every layer application j, the L2 distance and the angle between each token's hidden
/// state before (`hidden_states[j]`) and after (`hidden_states[j + 1]`), averaged over the
/// tokens in `keep` (all tokens when empty).
pub fn figure1(trace: &Trace, keep: &[usize]) -> Vec<Transition> {
    let h = trace.hidden_size;
    let n = trace.num_tokens();
    let rows: Vec<usize> = if keep.is_empty() {
        (0..n).collect()
    } else {
        keep.to_vec()
    };
    trace
        .hidden_states
        .windows(2)
        .map(|w| {
            let (mut l2, mut angle) = (0.0, 0.0);
            for &i in &rows {
                let a = &w[0][i * h..(i + 1) * h];
                let b = &w[1][i * h..(i + 1) * h];
                l2 += a
                    .iter()
                    .zip(b)
                    .map(|(x, y)| ((y - x) as f64).powi(2))
                    .sum::<f64>()
                    .sqrt();
                angle += angle_between(a, b);
            }
            let m = rows.len().max(1) as f64;
            Transition {
                l2: l2 / m,
                angle_deg: angle / m,
            }
        })
        .collect()
}

/// The angle between two vectors in degrees (0 when either is zero).
pub fn angle_between(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        ab += x as f64 * y as f64;
        aa += x as f64 * x as f64;
        bb += y as f64 * y as f64;
    }
    if aa == 0.0 || bb == 0.0 {
        return 0.0;
    }
    (ab / (aa.sqrt() * bb.sqrt()))
        .clamp(-1.0, 1.0)
        .acos()
        .to_degrees()
}

/// The Jensen–Shannon distance between two distributions, with base-2 logarithms, so that it
/// lies in [0, 1]: sqrt(½ KL(p‖m) + ½ KL(q‖m)) with m = (p + q) / 2.
pub fn js_distance(p: &[f32], q: &[f32]) -> f64 {
    let mut js = 0.0;
    for (&a, &b) in p.iter().zip(q) {
        let (a, b) = (a.max(0.0) as f64, b.max(0.0) as f64);
        let m = 0.5 * (a + b);
        if a > 0.0 {
            js += 0.5 * a * (a / m).log2();
        }
        if b > 0.0 {
            js += 0.5 * b * (b / m).log2();
        }
    }
    js.max(0.0).sqrt()
}

/// Which attention the cross-layer comparison reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum JsMode {
    /// each layer's mean over heads
    MeanOfHeads,
    /// head h of one layer against head h of the other, averaged over heads
    MatchedHeads,
    /// one head
    Head(usize),
}

impl JsMode {
    /// This mode for a model with `heads` heads: a head it lacks falls back to matched heads.
    pub fn within(self, heads: usize) -> JsMode {
        match self {
            JsMode::Head(h) if h >= heads => JsMode::MatchedHeads,
            m => m,
        }
    }

    /// What the matrix averages, for titles.
    pub fn describe(self) -> String {
        match self {
            JsMode::MatchedHeads => {
                "head h against head h, mean over heads and query tokens".into()
            }
            JsMode::MeanOfHeads => "mean of heads, mean over query tokens".into(),
            JsMode::Head(h) => format!("head {}, mean over query tokens", h + 1),
        }
    }
}

/// An L x L matrix (row-major) of the Jensen–Shannon distance between two layers' attention,
/// averaged over query tokens (and heads, per `mode`).
pub fn cross_layer_js(trace: &Trace, mode: JsMode) -> Result<Vec<f32>> {
    let n = trace.num_tokens();
    let heads = trace.num_heads;
    let l = trace.attentions.len();
    if let JsMode::Head(h) = mode {
        if h >= heads {
            return Err(LensError::Analysis(format!(
                "head {} does not exist: the model has {heads} heads",
                h + 1
            )));
        }
    }
    let mean_maps: Vec<Vec<f32>> = if mode == JsMode::MeanOfHeads {
        trace
            .attentions
            .iter()
            .map(|a| crate::analysis::mean_heads(a, heads, n))
            .collect()
    } else {
        Vec::new()
    };
    let pair = |a: usize, b: usize| -> f32 {
        let rows = |m: &[f32], m2: &[f32]| -> f64 {
            (0..n)
                .map(|i| js_distance(&m[i * n..(i + 1) * n], &m2[i * n..(i + 1) * n]))
                .sum::<f64>()
                / n as f64
        };
        let nn = n * n;
        let v = match mode {
            JsMode::MeanOfHeads => rows(&mean_maps[a], &mean_maps[b]),
            JsMode::Head(h) => rows(
                &trace.attentions[a][h * nn..(h + 1) * nn],
                &trace.attentions[b][h * nn..(h + 1) * nn],
            ),
            JsMode::MatchedHeads => {
                (0..heads)
                    .map(|h| {
                        rows(
                            &trace.attentions[a][h * nn..(h + 1) * nn],
                            &trace.attentions[b][h * nn..(h + 1) * nn],
                        )
                    })
                    .sum::<f64>()
                    / heads as f64
            }
        };
        v as f32
    };
    let upper: Vec<(usize, usize, f32)> = (0..l)
        .flat_map(|a| (a + 1..l).map(move |b| (a, b)))
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|(a, b)| (a, b, pair(a, b)))
        .collect();
    let mut out = vec![0f32; l * l];
    for (a, b, v) in upper {
        out[a * l + b] = v;
        out[b * l + a] = v;
    }
    Ok(out)
}

/// One row of the layer lens: the masked-LM head's top predictions from one hidden state.
#[derive(Debug, Clone, PartialEq)]
pub struct LensRow {
    /// index into `hidden_states` (0: the embeddings, j + 1: after layer application j)
    pub state: usize,
    /// (token id, probability), most probable first
    pub top: Vec<(u32, f32)>,
    /// the whole distribution over the vocabulary
    pub probs: Vec<f32>,
}

/// The masked-LM head applied to position `pos` of every hidden state: the top `k` tokens and
/// their softmax probabilities at each depth.
pub fn layer_lens(
    cfg: &ModelConfig,
    head: &crate::model::MlmHead,
    trace: &Trace,
    pos: usize,
    k: usize,
) -> Result<Vec<LensRow>> {
    let h = trace.hidden_size;
    let n = trace.num_tokens();
    if pos >= n {
        return Err(LensError::Analysis(format!(
            "position {pos} is past the end of the input ({n} tokens)"
        )));
    }
    trace
        .hidden_states
        .iter()
        .enumerate()
        .map(|(state, hs)| {
            let logits = crate::backend::cpu::mlm_logits(cfg, head, &hs[pos * h..(pos + 1) * h])?;
            let probs = softmax(&logits);
            let mut order: Vec<u32> = (0..probs.len() as u32).collect();
            let k = k.min(order.len());
            order.select_nth_unstable_by(k.saturating_sub(1), |&a, &b| {
                probs[b as usize].total_cmp(&probs[a as usize])
            });
            order.truncate(k);
            order.sort_by(|&a, &b| {
                probs[b as usize]
                    .total_cmp(&probs[a as usize])
                    .then(a.cmp(&b))
            });
            Ok(LensRow {
                state,
                top: order.iter().map(|&t| (t, probs[t as usize])).collect(),
                probs,
            })
        })
        .collect()
}

/// The layer lens as the views show it, tokens as text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LensTable {
    /// (hidden-state index, [(token, probability)]): the top k at each depth
    pub rows: Vec<(usize, Vec<(String, f32)>)>,
    /// every token in some depth's top k (first seen first), with its probability at every
    /// depth: how the prediction forms
    pub curves: Vec<(String, Vec<f32>)>,
}

impl LensTable {
    pub fn new(rows: &[LensRow], decode: &dyn Fn(u32) -> String) -> Self {
        let mut candidates: Vec<u32> = Vec::new();
        for r in rows {
            for &(t, _) in &r.top {
                if !candidates.contains(&t) {
                    candidates.push(t);
                }
            }
        }
        LensTable {
            rows: rows
                .iter()
                .map(|r| {
                    (
                        r.state,
                        r.top.iter().map(|&(t, p)| (decode(t), p)).collect(),
                    )
                })
                .collect(),
            curves: candidates
                .iter()
                .map(|&c| {
                    let by_depth = rows
                        .iter()
                        .map(|r| r.probs.get(c as usize).copied().unwrap_or(f32::NAN))
                        .collect();
                    (decode(c), by_depth)
                })
                .collect(),
        }
    }
}

/// A numerically stable softmax in f64, returned as f32.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let exps: Vec<f64> = logits.iter().map(|&x| (x as f64 - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| (e / sum) as f32).collect()
}

/// Token hidden states projected on their first three principal components.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    /// one point per (hidden state, kept token), state-major: PC1, PC2, PC3
    pub points: Vec<[f32; 3]>,
    /// for each point: (hidden-state index, token position)
    pub origin: Vec<(usize, usize)>,
    /// the share of the variance PC1..PC3 explain
    pub explained: Vec<f64>,
    /// the hidden states the PCA was fitted on
    pub states: Vec<usize>,
    pub tokens: Vec<usize>,
}

impl Projection {
    /// The points of one token across the states, in order: its trajectory.
    pub fn trajectory(&self, token: usize) -> Vec<usize> {
        (0..self.points.len())
            .filter(|&i| self.origin[i].1 == token)
            .collect()
    }
}

/// PCA of the hidden states `states` (indices into `hidden_states`) of the tokens `tokens`,
/// fitted on all of them together, so that several states share one set of axes and each
/// token's path through the layers can be drawn.
pub fn project(trace: &Trace, states: &[usize], tokens: &[usize]) -> Result<Projection> {
    let (data, origin) = gather(trace, states, tokens)?;
    let p = pca(&data, origin.len(), trace.hidden_size, 3)?;
    let points = p
        .coords
        .chunks(p.k.max(1))
        .map(|c| {
            [
                c[0],
                c.get(1).copied().unwrap_or(0.0),
                c.get(2).copied().unwrap_or(0.0),
            ]
        })
        .collect();
    Ok(Projection {
        points,
        origin,
        explained: p.explained(),
        states: states.to_vec(),
        tokens: tokens.to_vec(),
    })
}

/// The same points laid out by t-SNE (perplexity 30, or a third of the points when fewer) in
/// 2-D; `explained` is empty.
pub fn project_tsne(
    trace: &Trace,
    states: &[usize],
    tokens: &[usize],
    ctl: &Control,
) -> Result<Projection> {
    let (data, origin) = gather(trace, states, tokens)?;
    let y = tsne(&data, origin.len(), trace.hidden_size, 30.0, ctl)?;
    Ok(Projection {
        points: y.iter().map(|p| [p[0], p[1], 0.0]).collect(),
        origin,
        explained: Vec::new(),
        states: states.to_vec(),
        tokens: tokens.to_vec(),
    })
}

/// The hidden states of `tokens` at `states`, state-major, with each row's (state, token).
#[allow(clippy::type_complexity)]
fn gather(
    trace: &Trace,
    states: &[usize],
    tokens: &[usize],
) -> Result<(Vec<f32>, Vec<(usize, usize)>)> {
    let h = trace.hidden_size;
    let n = trace.num_tokens();
    if let Some(&s) = states.iter().find(|&&s| s >= trace.hidden_states.len()) {
        return Err(LensError::Analysis(format!(
            "hidden state {s} does not exist (the trace has {})",
            trace.hidden_states.len()
        )));
    }
    if let Some(&t) = tokens.iter().find(|&&t| t >= n) {
        return Err(LensError::Analysis(format!(
            "token {t} does not exist (the input has {n})"
        )));
    }
    if states.is_empty() || tokens.is_empty() {
        return Err(LensError::Analysis("nothing to project".into()));
    }
    let mut data = Vec::with_capacity(states.len() * tokens.len() * h);
    let mut origin = Vec::with_capacity(states.len() * tokens.len());
    for &s in states {
        for &t in tokens {
            data.extend_from_slice(&trace.hidden_states[s][t * h..(t + 1) * h]);
            origin.push((s, t));
        }
    }
    Ok((data, origin))
}

/// Progress and cancellation of a long computation shared with the UI.
#[derive(Debug, Default)]
pub struct Control {
    /// steps done so far
    pub done: std::sync::atomic::AtomicUsize,
    /// steps in all
    pub total: std::sync::atomic::AtomicUsize,
    /// set by the UI; the computation stops at its next step with [`LensError::Cancelled`]
    pub cancel: std::sync::atomic::AtomicBool,
}

impl Control {
    pub fn fraction(&self) -> f32 {
        use std::sync::atomic::Ordering::Relaxed;
        let t = self.total.load(Relaxed).max(1);
        self.done.load(Relaxed) as f32 / t as f32
    }
}

/// Most points t-SNE takes (its cost grows with the square of the count).
pub const TSNE_MAX_POINTS: usize = 4000;

/// t-SNE (van der Maaten & Hinton 2008), exact: Gaussian affinities in the input space with
/// each point's bandwidth set by binary search to `perplexity`, a Student-t kernel in 2-D,
/// 1000 steps of gradient descent with momentum and gains, early exaggeration 12 for the first
/// 250. Starts from the first two principal components (scaled to a standard deviation of
/// 1e-4), so the result is deterministic. Reports progress and stops when cancelled.
pub fn tsne(
    data: &[f32],
    n: usize,
    d: usize,
    perplexity: f64,
    ctl: &Control,
) -> Result<Vec<[f32; 2]>> {
    use std::sync::atomic::Ordering::Relaxed;
    const STEPS: usize = 1000;
    const EXAGGERATE: usize = 250;
    if n > TSNE_MAX_POINTS {
        return Err(LensError::Analysis(format!(
            "t-SNE takes at most {TSNE_MAX_POINTS} points ({n} asked): hide special tokens, pick one layer, or use PCA"
        )));
    }
    if n < 4 || data.len() != n * d {
        return Err(LensError::Analysis(format!(
            "t-SNE needs at least 4 points of {d} values; got {} values for {n}",
            data.len()
        )));
    }
    ctl.total.store(STEPS, Relaxed);
    ctl.done.store(0, Relaxed);
    let perplexity = perplexity.min((n - 1) as f64 / 3.0).max(1.0);
    // squared distances
    let row = |i: usize| &data[i * d..(i + 1) * d];
    let dist: Vec<f64> = (0..n)
        .into_par_iter()
        .flat_map_iter(|i| {
            (0..n).map(move |j| {
                row(i)
                    .iter()
                    .zip(row(j))
                    .map(|(a, b)| ((a - b) as f64).powi(2))
                    .sum::<f64>()
            })
        })
        .collect();
    // conditional affinities with the bandwidth that gives the perplexity
    let target = perplexity.ln();
    let cond: Vec<f64> = (0..n)
        .into_par_iter()
        .flat_map_iter(|i| {
            let di = &dist[i * n..(i + 1) * n];
            let (mut beta, mut lo, mut hi) = (1.0f64, 0.0f64, f64::INFINITY);
            let mut p = vec![0f64; n];
            let dmin = di
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, &v)| v)
                .fold(f64::INFINITY, f64::min);
            for _ in 0..100 {
                let mut sum = 0.0;
                for j in 0..n {
                    p[j] = if j == i {
                        0.0
                    } else {
                        (-(di[j] - dmin) * beta).exp()
                    };
                    sum += p[j];
                }
                let sum = sum.max(1e-300);
                let mut h = 0.0;
                for (j, pj) in p.iter_mut().enumerate() {
                    *pj /= sum;
                    if *pj > 1e-300 {
                        h += (di[j] - dmin) * beta * *pj;
                    }
                }
                let entropy = h + sum.ln();
                if (entropy - target).abs() < 1e-6 {
                    break;
                }
                if entropy > target {
                    lo = beta;
                    beta = if hi.is_finite() {
                        (beta + hi) / 2.0
                    } else {
                        beta * 2.0
                    };
                } else {
                    hi = beta;
                    beta = (beta + lo) / 2.0;
                }
            }
            p
        })
        .collect();
    let mut pij = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            pij[i * n + j] = ((cond[i * n + j] + cond[j * n + i]) / (2.0 * n as f64)).max(1e-12);
        }
    }
    // start from PCA
    let init = pca(data, n, d, 2)?;
    let sd = |k: usize| {
        let v: f64 = (0..n)
            .map(|i| (init.coords[i * 2 + k] as f64).powi(2))
            .sum::<f64>()
            / n as f64;
        v.sqrt().max(1e-12)
    };
    let (s0, s1) = (sd(0), sd(1));
    let mut y: Vec<[f64; 2]> = (0..n)
        .map(|i| {
            [
                init.coords[i * 2] as f64 / s0 * 1e-4,
                init.coords[i * 2 + 1] as f64 / s1 * 1e-4,
            ]
        })
        .collect();
    let mut update = vec![[0f64; 2]; n];
    let mut gains = vec![[1f64; 2]; n];
    let lr = (n as f64 / 12.0 / 4.0).max(50.0);
    for step in 0..STEPS {
        if ctl.cancel.load(Relaxed) {
            return Err(LensError::Cancelled("t-SNE".into()));
        }
        let exag = if step < EXAGGERATE { 12.0 } else { 1.0 };
        let momentum = if step < EXAGGERATE { 0.5 } else { 0.8 };
        let z: f64 = (0..n)
            .into_par_iter()
            .map(|i| {
                (0..n)
                    .filter(|&j| j != i)
                    .map(|j| {
                        let dx = y[i][0] - y[j][0];
                        let dy = y[i][1] - y[j][1];
                        1.0 / (1.0 + dx * dx + dy * dy)
                    })
                    .sum::<f64>()
            })
            .sum::<f64>()
            .max(1e-300);
        let grad: Vec<[f64; 2]> = (0..n)
            .into_par_iter()
            .map(|i| {
                let mut g = [0f64; 2];
                for j in 0..n {
                    if j == i {
                        continue;
                    }
                    let dx = y[i][0] - y[j][0];
                    let dy = y[i][1] - y[j][1];
                    let num = 1.0 / (1.0 + dx * dx + dy * dy);
                    let m = 4.0 * (exag * pij[i * n + j] - num / z) * num;
                    g[0] += m * dx;
                    g[1] += m * dy;
                }
                g
            })
            .collect();
        for i in 0..n {
            for k in 0..2 {
                let same = (grad[i][k] > 0.0) == (update[i][k] > 0.0);
                gains[i][k] = if same {
                    (gains[i][k] * 0.8).max(0.01)
                } else {
                    gains[i][k] + 0.2
                };
                update[i][k] = momentum * update[i][k] - lr * gains[i][k] * grad[i][k];
                y[i][k] += update[i][k];
            }
        }
        for k in 0..2 {
            let mean = y.iter().map(|p| p[k]).sum::<f64>() / n as f64;
            y.iter_mut().for_each(|p| p[k] -= mean);
        }
        ctl.done.store(step + 1, Relaxed);
    }
    Ok(y.iter().map(|p| [p[0] as f32, p[1] as f32]).collect())
}

/// The `k` rows of `table` (`rows x dim`) nearest to row `query` by cosine similarity, most
/// similar first (the query itself left out): (row, similarity).
pub fn nearest_rows(table: &[f32], dim: usize, query: usize, k: usize) -> Vec<(usize, f32)> {
    let rows = table.len() / dim.max(1);
    if query >= rows {
        return Vec::new();
    }
    let row = |i: usize| &table[i * dim..(i + 1) * dim];
    let norm = |r: &[f32]| {
        r.iter()
            .map(|x| (*x as f64).powi(2))
            .sum::<f64>()
            .sqrt()
            .max(1e-30)
    };
    let q = row(query);
    let qn = norm(q);
    let mut sims: Vec<(usize, f32)> = (0..rows)
        .into_par_iter()
        .filter(|&i| i != query)
        .map(|i| {
            let r = row(i);
            let dot: f64 = r.iter().zip(q).map(|(a, b)| *a as f64 * *b as f64).sum();
            (i, (dot / (norm(r) * qn)) as f32)
        })
        .collect();
    sims.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    sims.truncate(k);
    sims
}
