//! Value zeroing (Mohebbi et al. 2023) of one layer application: for each token t, the layer
//! is run again on the same input with v_t (after b_V, in every head) set to 0. Zeroing v_t
//! takes Σ_h A^h_it f^h(x_t) out of LN1's input row i, so the N variants are LN1's input
//! minus one summand each: they run as batches of rows through the CPU backend's layer tail
//! (LN1, FFN, LN2), not as N separate passes. D_it = 1 − cos(y^(t)_i, y_i), clamped to [0, 2]
//! and computed in f64 as ½‖â − b̂‖² of the unit vectors; rows are divided by their sums.

use super::decompose::LayerInputs;
use crate::error::{LensError, Result};
use rayon::prelude::*;

/// Rows per batch through the layer tail (the FFN's buffer is rows × I floats).
const BATCH_ROWS: usize = 4096;

/// `[N, N]`: row i, column t = token t's share of the change of output i.
pub(super) fn value_zeroing(
    layer: &LayerInputs<'_>,
    progress: &dyn Fn(usize),
    cancelled: &dyn Fn() -> bool,
) -> Result<Vec<f32>> {
    let (n, h) = (layer.n, layer.h);
    let per = (BATCH_ROWS / n.max(1)).max(1);
    let mut dist = vec![0f64; n * n];
    let mut t0 = 0;
    while t0 < n {
        if cancelled() {
            return Err(LensError::Cancelled("context mixing".into()));
        }
        let t1 = (t0 + per).min(n);
        let mut p = vec![0f32; (t1 - t0) * n * h];
        p.par_chunks_mut(h.max(1))
            .enumerate()
            .for_each(|(row, out)| {
                let (t, i) = (t0 + row / n, row % n);
                out.copy_from_slice(&layer.p1[i * h..(i + 1) * h]);
                for hd in 0..layer.heads {
                    let w = layer.a[(hd * n + i) * n + t];
                    if w == 0.0 {
                        continue;
                    }
                    let f = &layer.f[(hd * n + t) * h..(hd * n + t + 1) * h];
                    for (o, v) in out.iter_mut().zip(f) {
                        *o -= w * v;
                    }
                }
            });
        let (y, _) = crate::backend::cpu::layer_tail(layer.cfg, layer.weights, layer.j, &p, false)?;
        for (row, yt) in y.chunks_exact(h.max(1)).enumerate() {
            let (t, i) = (t0 + row / n, row % n);
            let yi = &layer.y[i * h..(i + 1) * h];
            dist[i * n + t] = cosine_distance(yt, yi);
        }
        t0 = t1;
        progress(t0);
    }
    let mut out = vec![0f32; n * n];
    for (row, d) in out
        .chunks_exact_mut(n.max(1))
        .zip(dist.chunks_exact(n.max(1)))
    {
        let s: f64 = d.iter().sum();
        for (o, v) in row.iter_mut().zip(d) {
            // every distance 0 (only f32 rounding can do it): an even share, no NaN
            *o = if s > 0.0 {
                (v / s) as f32
            } else {
                1.0 / n as f32
            };
        }
    }
    Ok(out)
}

/// 1 − cos(a, b) clamped to [0, 2] (sklearn's `cosine_distances`), as ½‖â − b̂‖² in f64.
fn cosine_distance(a: &[f32], b: &[f32]) -> f64 {
    let na = a.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt();
    let nb = b.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        return 1.0;
    }
    let d: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) / na - f64::from(y) / nb).powi(2))
        .sum();
    (0.5 * d).clamp(0.0, 2.0)
}
