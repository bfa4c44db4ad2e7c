//! DeBERTa's disentangled attention bias on host buffers, as transformers' eager
//! `DisentangledSelfAttention` computes it: for query i and key j, with δ = the table row of
//! the bucketed i − j, c2p = q_i · P_k[δ] and p2c = k_j · P_q[δ] (P_q, P_k: the layer's own
//! query and key projections of the relative table), each over s = √(d · (1 + terms)), added to
//! q_i · k_j / s.

use super::{matmul, Mat, Out};
use crate::model::family::deberta::RowsRead;

/// What every layer of one pass reads of the relative table: the rows the input's distances
/// read `[rows, H]` (normed), and every (i, j)'s row among them.
pub(in crate::backend::cpu) struct Table {
    pub rows: Vec<f32>,
    pub read: RowsRead,
}

impl Table {
    /// The rows `read` names of the whole (normed) `table` `[R, H]`.
    pub fn new(table: &[f32], read: RowsRead, hidden: usize) -> Self {
        let rows = table[read.first * hidden..(read.first + read.rows) * hidden].to_vec();
        Table { rows, read }
    }
}

/// One layer's relative terms for one pass.
pub(in crate::backend::cpu) struct Relative<'t> {
    /// P_q and P_k per head `[heads, R, d]` (R: the rows the pass reads); empty when the term
    /// is off
    pub pos_q: Vec<f32>,
    pub pos_k: Vec<f32>,
    /// the row of P_q / P_k of every (i, j), `[n, n]` row-major
    pub index: &'t [u32],
    pub rows: usize,
    /// 1 / s
    pub inv_scale: f32,
}

impl<'t> Relative<'t> {
    /// The terms of the layer whose fused Q|K|V weights are `qkv` (`[H, 3H]`, its bias `[3H]`):
    /// the pass's `table` rows through its query and key columns only (P_v is never used),
    /// split per head.
    pub fn new(
        (table, qkv): (&'t Table, super::Linear<'_>),
        (hidden, heads): (usize, usize),
        (c2p, p2c): (bool, bool),
        inv_scale: f32,
    ) -> Self {
        let d = hidden / heads.max(1);
        let rows = table.read.rows;
        let mut pos = vec![0f32; rows * 2 * hidden];
        matmul(
            Mat::rows(&table.rows, hidden),
            Mat::rows(qkv.w, 3 * hidden),
            Out::new(&mut pos, 2 * hidden),
            (rows, hidden, 2 * hidden),
            false,
            true,
        );
        for row in pos.chunks_exact_mut(2 * hidden) {
            row.iter_mut().zip(qkv.b).for_each(|(v, b)| *v += b);
        }
        let per_head = |part: usize| -> Vec<f32> {
            let mut out = Vec::with_capacity(heads * rows * d);
            for hd in 0..heads {
                for r in 0..rows {
                    let at = r * 2 * hidden + part * hidden + hd * d;
                    out.extend_from_slice(&pos[at..at + d]);
                }
            }
            out
        };
        Relative {
            pos_q: if p2c { per_head(0) } else { Vec::new() },
            pos_k: if c2p { per_head(1) } else { Vec::new() },
            index: &table.read.index,
            rows,
            inv_scale,
        }
    }

    /// Adds head `hd`'s terms to its scores `map` `[n, n]` (the first `keys` columns) from its
    /// queries `q` (already times 1/s) and keys `k` (as projected), both `[n, d]`.
    pub fn add(
        &self,
        map: &mut [f32],
        (q, k): (&[f32], &[f32]),
        hd: usize,
        (n, keys, d): (usize, usize, usize),
    ) {
        let r = self.rows;
        let block = |v: &[f32]| -> Vec<f32> { v[hd * r * d..(hd + 1) * r * d].to_vec() };
        // c2p / s = (q / s) · P_kᵀ; p2c / s = (k · P_qᵀ) / s
        let product = |a: &[f32], rows: usize, p: &[f32]| {
            let mut out = vec![0f32; rows * r];
            matmul(
                Mat::rows(a, d),
                Mat::transposed(p, d),
                Out::new(&mut out, r),
                (rows, d, r),
                false,
                false,
            );
            out
        };
        let c2p = (!self.pos_k.is_empty()).then(|| product(q, n, &block(&self.pos_k)));
        let p2c = (!self.pos_q.is_empty()).then(|| {
            let mut v = product(k, keys, &block(&self.pos_q));
            v.iter_mut().for_each(|x| *x *= self.inv_scale);
            v
        });
        for i in 0..n {
            for j in 0..keys {
                let idx = self.index[i * n + j] as usize;
                let c = c2p.as_ref().map_or(0.0, |c| c[i * r + idx]);
                let p = p2c.as_ref().map_or(0.0, |p| p[j * r + idx]);
                map[i * n + j] += match (c2p.is_some(), p2c.is_some()) {
                    (true, true) => c + p,
                    (true, false) => c,
                    _ => p,
                };
            }
        }
    }
}
