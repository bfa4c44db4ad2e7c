//! PCA (power iteration with deflation), the projections of hidden states, and exact t-SNE.

use super::Control;
use crate::error::{LensError, Result};
use crate::model::Trace;
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
    ctl.advance(0, STEPS);
    let perplexity = perplexity.min((n - 1) as f64 / 3.0).max(1.0);
    let pij = affinities(data, (n, d), perplexity);
    let mut y = pca_start(data, n, d)?;
    let mut update = vec![[0f64; 2]; n];
    let mut gains = vec![[1f64; 2]; n];
    let lr = (n as f64 / 12.0 / 4.0).max(50.0);
    for step in 0..STEPS {
        if ctl.cancel.load(Relaxed) {
            return Err(LensError::Cancelled("t-SNE".into()));
        }
        let exag = if step < EXAGGERATE { 12.0 } else { 1.0 };
        let momentum = if step < EXAGGERATE { 0.5 } else { 0.8 };
        let grad = gradient(&y, &pij, exag);
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
        ctl.advance(step + 1, STEPS);
    }
    Ok(y.iter().map(|p| [p[0] as f32, p[1] as f32]).collect())
}

/// t-SNE's joint affinities p_ij `[n, n]`: each point's conditional affinities with the
/// bandwidth that gives the perplexity (bisection on β), symmetrized, floored at 1e-12.
fn affinities(data: &[f32], (n, d): (usize, usize), perplexity: f64) -> Vec<f64> {
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
    pij
}

/// t-SNE's start: the PCA layout, each axis scaled to a standard deviation of 1e-4.
fn pca_start(data: &[f32], n: usize, d: usize) -> Result<Vec<[f64; 2]>> {
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
    let y: Vec<[f64; 2]> = (0..n)
        .map(|i| {
            [
                init.coords[i * 2] as f64 / s0 * 1e-4,
                init.coords[i * 2 + 1] as f64 / s1 * 1e-4,
            ]
        })
        .collect();
    Ok(y)
}

/// The gradient of t-SNE's KL divergence at layout `y` (p_ij times `exag`).
fn gradient(y: &[[f64; 2]], pij: &[f64], exag: f64) -> Vec<[f64; 2]> {
    let n = y.len();
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
    grad
}

/// t-SNE for many points (the corpus query-key view): rows `picked` of `data` (`[*, d]`), laid
/// out by FIt-SNE (the bhtsne crate: interpolation on an FFT grid, about 30 s for 50k points on
/// two cores), perplexity 30 (less for few points), 750 epochs, progress on `ctl` (it is not
/// interruptible: a cancelled run's result is dropped).
pub fn tsne_large(
    data: &[f32],
    d: usize,
    picked: &[usize],
    ctl: &Control,
) -> Result<Vec<(f32, f32)>> {
    const EPOCHS: usize = 750;
    let n = picked.len();
    if n < 10 || d == 0 || picked.iter().any(|&i| (i + 1) * d > data.len()) {
        return Err(LensError::Analysis(format!(
            "t-SNE needs at least 10 points of {d} values (got {n})"
        )));
    }
    let rows: Vec<&[f32]> = picked.iter().map(|&i| &data[i * d..(i + 1) * d]).collect();
    let perplexity = (((n - 1) / 3) as f32 - 1.0).clamp(2.0, 30.0);
    let euclid = |a: &&[f32], b: &&[f32]| -> f32 {
        a.iter()
            .zip(b.iter())
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f32>()
            .sqrt()
    };
    let xy = crate::error::catch_panic("t-SNE", || {
        let mut t: bhtsne::tSNE<f32, &[f32]> = bhtsne::tSNE::new(&rows);
        t.perplexity(perplexity)
            .epochs(EPOCHS)
            .epoch_callback(|e, _| {
                ctl.report(
                    format!("t-SNE epoch {e} of {EPOCHS}"),
                    Some(e as f32 / EPOCHS as f32),
                )
            })
            .fit_sne(euclid);
        Ok(t.embedding())
    })?;
    if xy.len() != 2 * n || xy.iter().any(|v| !v.is_finite()) {
        return Err(LensError::Analysis("t-SNE gave no finite layout".into()));
    }
    Ok(xy.chunks(2).map(|c| (c[0], c[1])).collect())
}

/// Classical (Torgerson) multidimensional scaling: `k` coordinates for each of `n` items from
/// their `n x n` distances (row-major), as Clark et al. 2019 lay out heads by their JS
/// divergences. B = −½ J D² J (J the centring matrix); its top eigenvectors (power iteration
/// with deflation) scaled by √λ are the coordinates (0 along an axis whose λ ≤ 0). Signs are
/// fixed so that each axis's largest-magnitude entry is positive.
pub fn classical_mds(dist: &[f64], n: usize, k: usize) -> Result<Vec<Vec<f64>>> {
    if n == 0 || dist.len() != n * n || dist.iter().any(|d| !d.is_finite()) {
        return Err(LensError::Analysis(format!(
            "MDS needs an n x n matrix of finite distances; got {} values for n = {n}",
            dist.len()
        )));
    }
    let sq: Vec<f64> = dist.iter().map(|d| d * d).collect();
    let row_mean: Vec<f64> = sq
        .chunks(n)
        .map(|r| r.iter().sum::<f64>() / n as f64)
        .collect();
    let all_mean = row_mean.iter().sum::<f64>() / n as f64;
    let b: Vec<f64> = (0..n * n)
        .map(|ij| {
            let (i, j) = (ij / n, ij % n);
            -0.5 * (sq[ij] - row_mean[i] - row_mean[j] + all_mean)
        })
        .collect();
    let times = |v: &[f64]| -> Vec<f64> {
        b.chunks(n)
            .map(|r| r.iter().zip(v).map(|(x, y)| x * y).sum())
            .collect()
    };
    let mut axes: Vec<(f64, Vec<f64>)> = Vec::new();
    for a in 0..k.min(n) {
        let mut v: Vec<f64> = (0..n)
            .map(|i| 1.0 + ((i * 7 + a * 13) % 11) as f64 / 11.0)
            .collect();
        let mut lambda = 0.0;
        for _ in 0..500 {
            let mut w = times(&v);
            for (l, u) in &axes {
                let dot: f64 = u.iter().zip(&v).map(|(x, y)| x * y).sum();
                w.iter_mut().zip(u).for_each(|(x, y)| *x -= l * dot * y);
            }
            let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm < 1e-300 {
                break;
            }
            w.iter_mut().for_each(|x| *x /= norm);
            lambda = w.iter().zip(times(&w)).map(|(x, y)| x * y).sum::<f64>()
                - axes
                    .iter()
                    .map(|(l, u)| l * u.iter().zip(&w).map(|(x, y)| x * y).sum::<f64>().powi(2))
                    .sum::<f64>();
            let change: f64 = w.iter().zip(&v).map(|(x, y)| (x - y).abs()).sum();
            v = w;
            if change < 1e-12 {
                break;
            }
        }
        let big = v
            .iter()
            .copied()
            .fold(0.0, |m: f64, x| if x.abs() > m.abs() { x } else { m });
        if big < 0.0 {
            v.iter_mut().for_each(|x| *x = -*x);
        }
        axes.push((lambda, v));
    }
    Ok((0..n)
        .map(|i| {
            axes.iter()
                .map(|(l, u)| if *l > 0.0 { u[i] * l.sqrt() } else { 0.0 })
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod mds_tests {
    /// Points on a known plane come back up to rotation: every pairwise distance is kept.
    #[test]
    fn classical_mds_keeps_the_distances_of_planar_points() {
        let pts = [(0.0, 0.0), (3.0, 0.0), (0.0, 4.0), (1.0, 1.0), (-2.0, 0.5)];
        let n = pts.len();
        let d = |a: (f64, f64), b: (f64, f64)| ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
        let dist: Vec<f64> = (0..n * n).map(|ij| d(pts[ij / n], pts[ij % n])).collect();
        let xy = super::classical_mds(&dist, n, 2).unwrap();
        for i in 0..n {
            for j in 0..n {
                let got = d((xy[i][0], xy[i][1]), (xy[j][0], xy[j][1]));
                assert!((got - dist[i * n + j]).abs() < 1e-6, "{i},{j}: {got}");
            }
        }
    }
}

#[cfg(test)]
mod tsne_large_tests {
    /// Three well-separated clusters in 8 dimensions stay apart in FIt-SNE's 2D layout: each
    /// point's nearest neighbour on the plane is of its own cluster.
    #[test]
    fn fit_sne_keeps_clusters_apart() {
        let (n, d) = (150, 8);
        let mut s = 7u64;
        let mut rnd = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let data: Vec<f32> = (0..n)
            .flat_map(|i| {
                (0..d)
                    .map(|k| if k == i % 3 { 20.0 } else { 0.0 })
                    .collect::<Vec<_>>()
            })
            .map(|v| v + rnd())
            .collect();
        let picked: Vec<usize> = (0..n).collect();
        let ctl = super::Control::default();
        let xy = super::tsne_large(&data, d, &picked, &ctl).unwrap();
        assert_eq!(xy.len(), n);
        let mut right = 0;
        for i in 0..n {
            let nearest = (0..n)
                .filter(|&j| j != i)
                .min_by(|&a, &b| {
                    let da = (xy[a].0 - xy[i].0).powi(2) + (xy[a].1 - xy[i].1).powi(2);
                    let db = (xy[b].0 - xy[i].0).powi(2) + (xy[b].1 - xy[i].1).powi(2);
                    da.total_cmp(&db)
                })
                .unwrap();
            right += usize::from(nearest % 3 == i % 3);
        }
        assert!(
            right >= n * 95 / 100,
            "{right} of {n} nearest neighbours in their cluster"
        );
        assert!(super::tsne_large(&data, d, &picked[..5], &ctl).is_err());
    }
}
