//! The attention of one layer laid out on the GPU, for every layout: two batched vec4 matmuls
//! around the softmax (with DeBERTa's relative terms added to the scores, and a local layer's
//! window in the softmax), or the fused kernel when the sizes are not multiples of 4.

use super::{relative, Kernel, Slice, Steps};
use crate::backend::gpu::kernels::{AttentionParams, MatmulParams, SoftmaxParams};
use crate::backend::gpu::layout::{Src, What};
use crate::model::Activation;

/// The buffers one attention reads and writes.
pub(super) struct AttentionIo<'a> {
    pub qkv: Slice<'a>,
    pub scratch: Slice<'a>,
    pub mask: Slice<'a>,
    pub probs: Slice<'a>,
    pub keep: Slice<'a>,
    pub ctx: Slice<'a>,
    pub dummy: Slice<'a>,
}

impl<'a> Steps<'a> {
    /// The attention of one layer from the projected (and, for ModernBERT, rotated) q, k, v:
    /// two batched vec4 matmuls around a softmax when `matmul` (head and hidden sizes
    /// multiples of 4), else the fused kernel; `window1` is a local layer's half window + 1
    /// (0: global; the matmul path only). A `batch` of sequences (the matmul path only) sits
    /// in consecutive blocks of `attn_params.n` rows, each masked by its own row of `io.mask`.
    pub(super) fn attention(
        &mut self,
        io: &AttentionIo<'a>,
        (attn_params, np, batch): (&AttentionParams, u64, u32),
        (matmul, window1): (bool, u32),
        (jj, rel): (Option<usize>, Option<&relative::RelativeIo<'a>>),
    ) {
        let (m, heads) = (attn_params.n, attn_params.heads);
        let (nn, h) = (u64::from(m), u64::from(attn_params.hidden));
        if !matmul {
            self.push(
                Kernel::Attention,
                attn_params,
                vec![io.qkv, io.mask, io.probs, io.ctx, io.keep],
                (m, heads, 1),
            );
            self.grab(jj, What::Context, Src::Ctx, nn * h);
            return;
        }
        let (d4, h4, np4) = (
            attn_params.head_dim / 4,
            attn_params.hidden / 4,
            np as u32 / 4,
        );
        // per sequence and head (z = sequence · heads + head)
        let (seq_qkv, seq_scores) = (m * 3 * h4, heads * m * np4);
        // scores[h] = Q_h · K_hᵀ / sqrt(d), rows of Np
        let mut sp = MatmulParams::plain(m, d4 * 4, m, Activation::Linear, false);
        sp.b_trans = 1;
        (sp.lda, sp.ldb, sp.ldc) = (3 * h4, 3 * h4, np4);
        (sp.b_off, sp.a_batch, sp.b_batch, sp.c_batch) = (h4, d4, d4, m * np4);
        (sp.inner, sp.a_outer, sp.b_outer, sp.c_outer) = (heads, seq_qkv, seq_qkv, seq_scores);
        sp.alpha = attn_params.scale;
        self.batched_matmul([io.qkv, io.qkv, io.scratch], io.dummy, sp, heads * batch);
        if let Some(r) = rel {
            let shape = (m, heads, attn_params.head_dim, attn_params.hidden, np);
            let slices = [io.qkv, io.scratch, io.dummy];
            self.relative_terms(r, slices, shape, attn_params.scale);
        }
        self.grab(jj, What::Scores, Src::Scratch, u64::from(heads) * nn * np);
        let smp = SoftmaxParams {
            n: m,
            np: np as u32,
            heads,
            window1,
        };
        self.push(
            Kernel::Softmax,
            &smp,
            vec![io.mask, io.scratch, io.probs, io.keep],
            (m, heads, batch),
        );
        // ctx[:, h] = P_h · V_h, written straight into [N, H]
        let mut cp = MatmulParams::plain(m, np as u32, d4 * 4, Activation::Linear, false);
        (cp.lda, cp.ldb, cp.ldc) = (np4, 3 * h4, h4);
        (cp.b_off, cp.a_batch, cp.b_batch, cp.c_batch) = (2 * h4, m * np4, d4, d4);
        (cp.inner, cp.a_outer, cp.b_outer, cp.c_outer) = (heads, seq_scores, seq_qkv, m * h4);
        self.batched_matmul([io.scratch, io.qkv, io.ctx], io.dummy, cp, heads * batch);
        self.grab(jj, What::Context, Src::Ctx, u64::from(batch) * nn * h);
    }
}
