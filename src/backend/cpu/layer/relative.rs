//! DeBERTa's disentangled attention bias on host buffers, as transformers' eager
//! `DisentangledSelfAttention` computes it: for query i and key j, with δ = the table row of
//! the bucketed i − j, c2p = q_i · P_k[δ] and p2c = k_j · P_q[δ] (P_q, P_k: the layer's own
//! query and key projections of the relative table), each over s = √(d · (1 + terms)), added to
//! q_i · k_j / s.

use super::{matmul, Mat, Out};

/// One layer's relative terms for one pass.
pub(in crate::backend::cpu) struct Relative {
    /// P_q and P_k per head `[heads, R, d]` (R = 2 · span); empty when the term is off
    pub pos_q: Vec<f32>,
    pub pos_k: Vec<f32>,
    /// the row of P_q / P_k of every (i, j), `[n, n]` row-major: the table row minus `first`
    pub index: Vec<u32>,
    /// the table rows the pass reads, `first` on (the others are never projected)
    pub rows: usize,
    /// 1 / s
    pub inv_scale: f32,
}

impl Relative {
    /// The terms of the layer whose fused Q|K|V weights are `qkv` (`[H, 3H]`, its bias `[3H]`):
    /// the rows of the relative `table` `[R, H]` that `index` (the table row of every (i, j))
    /// reads, through its query and key columns only (P_v is never used), split per head. A
    /// short input reads few rows: 128 tokens read 255 of DeBERTa-v3-base's 512.
    pub fn new(
        (table, qkv): (&[f32], super::Linear<'_>),
        (hidden, heads): (usize, usize),
        (c2p, p2c): (bool, bool),
        mut index: Vec<u32>,
        inv_scale: f32,
    ) -> Self {
        let d = hidden / heads.max(1);
        let first = index.iter().copied().min().unwrap_or(0);
        let last = index.iter().copied().max().unwrap_or(0);
        index.iter_mut().for_each(|i| *i -= first);
        let rows = (last - first) as usize + 1;
        let table = &table[first as usize * hidden..(last as usize + 1) * hidden];
        let mut pos = vec![0f32; rows * 2 * hidden];
        matmul(
            Mat::rows(table, hidden),
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
            index,
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
