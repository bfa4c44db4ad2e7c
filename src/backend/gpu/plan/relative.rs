//! DeBERTa-v3's relative terms laid out on the GPU, as the CPU's `layer::relative` computes
//! them: per layer the relative table through the layer's fused Q|K|V product (P_q, P_k),
//! c2p = (Q_h · P_kᵀ) / s and p2c = (K_h · P_qᵀ) / s as batched matmuls, then relative.wgsl adds
//! c2p[i, δ(i, j)] + p2c[j, δ(i, j)] to the scaled scores before the softmax. As on the CPU,
//! only the table rows the plan's distances read are projected (copied once per plan).

use super::{new_buffer, round_up, Kernel, Slice, Steps};
use crate::backend::gpu::context::GpuContext;
use crate::backend::gpu::kernels::{flat_groups, MatmulParams, RelativeParams};
use crate::backend::gpu::upload::{GpuLayer, GpuWeights};
use crate::error::{LensError, Result};
use crate::model::{Activation, ModelConfig};

/// The buffers only DeBERTa's layers use.
pub(in crate::backend::gpu) struct Buffers {
    /// the table rows the plan reads `[R, H]` (R: from the least to the greatest δ)
    table: wgpu::Buffer,
    /// P_q | P_k | (P_v, unused) of the current layer `[R, 3H]`
    pos: wgpu::Buffer,
    /// the two terms `[heads, N, Rp]` (rows padded to a multiple of 4)
    c2p: wgpu::Buffer,
    p2c: wgpu::Buffer,
    /// δ(i, j) `[N, N]`
    index: wgpu::Buffer,
    rows: u64,
    rp: u64,
    terms: u32,
}

impl Buffers {
    /// DeBERTa's buffers for `n` tokens (None for the other families).
    pub(in crate::backend::gpu) fn new(
        ctx: &GpuContext,
        (cfg, w): (&ModelConfig, &GpuWeights),
        n: usize,
    ) -> Result<Option<Self>> {
        let Some(r) = &cfg.relative else {
            return Ok(None);
        };
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let (nn, h, heads) = (
            n as u64,
            cfg.hidden_size as u64,
            cfg.num_attention_heads as u64,
        );
        // the rows the distances of n tokens read, and δ counted from the first of them
        let read = r.reads(n);
        let (first, rows) = (read.first as u64, read.rows as u64);
        let rp = round_up(rows, 4);
        let index = new_buffer(ctx, "relative index", nn * nn, storage);
        ctx.queue
            .write_buffer(&index, 0, bytemuck::cast_slice(&read.index));
        let whole = w
            .relative
            .as_ref()
            .ok_or_else(|| LensError::Gpu("the relative table is not on the GPU".into()))?;
        let table = new_buffer(ctx, "relative table rows", rows * h, storage);
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("relative table rows"),
            });
        enc.copy_buffer_to_buffer(whole, first * h * 4, &table, 0, rows * h * 4);
        ctx.queue.submit([enc.finish()]);
        Ok(Some(Buffers {
            table,
            pos: new_buffer(ctx, "relative projections", rows * 3 * h, storage),
            c2p: new_buffer(ctx, "c2p", heads * nn * rp, storage),
            p2c: new_buffer(ctx, "p2c", heads * nn * rp, storage),
            index,
            rows,
            rp,
            terms: u32::from(r.c2p) | (u32::from(r.p2c) << 1),
        }))
    }
}

/// What the attention needs to add the terms of one layer.
pub(super) struct RelativeIo<'a> {
    pub b: &'a Buffers,
}

impl<'a> Steps<'a> {
    /// P_q | P_k of `layer`: the normed table's rows the plan reads through its fused
    /// projection.
    pub(super) fn relative_positions(&mut self, layer: &'a GpuLayer, b: &'a Buffers, h: u64) {
        let pos = Slice::whole(&b.pos, b.rows * 3 * h);
        let table = Slice::whole(&b.table, b.rows * h);
        self.matmul(table, &layer.qkv, pos, b.rows as u32, Activation::Linear);
    }

    /// c2p and p2c from the projected `qkv` `[Np, 3H]` (over `scale`), added to the scaled
    /// `scores` `[heads, N, Np]`.
    pub(super) fn relative_terms(
        &mut self,
        io: &RelativeIo<'a>,
        [qkv, scores, dummy]: [Slice<'a>; 3],
        (m, heads, d, h, np): (u32, u32, u32, u32, u64),
        scale: f32,
    ) {
        let b = io.b;
        let (d4, h4, rp4) = (d / 4, h / 4, b.rp as u32 / 4);
        let pos = Slice::whole(&b.pos, b.rows * 3 * u64::from(h));
        let len = u64::from(heads) * u64::from(m) * b.rp;
        let (c2p, p2c) = (Slice::whole(&b.c2p, len), Slice::whole(&b.p2c, len));
        // term[h] = A_h · B_hᵀ / s, A from qkv (a_off: Q or K), B from pos (b_off: P_k or P_q)
        let mut term = |a_off: u32, b_off: u32, out: Slice<'a>| {
            let mut p = MatmulParams::plain(m, d, b.rows as u32, Activation::Linear, false);
            p.b_trans = 1;
            (p.lda, p.ldb, p.ldc) = (3 * h4, 3 * h4, rp4);
            (p.a_off, p.b_off) = (a_off, b_off);
            (p.a_batch, p.b_batch, p.c_batch) = (d4, d4, m * rp4);
            p.alpha = scale;
            self.batched_matmul([qkv, pos, out], dummy, p, heads);
        };
        if b.terms & 1 != 0 {
            term(0, h4, c2p);
        }
        if b.terms & 2 != 0 {
            term(h4, 0, p2c);
        }
        let rp = RelativeParams {
            n: m,
            np: np as u32,
            heads,
            rp: b.rp as u32,
            terms: b.terms,
            _pad: [0; 3],
        };
        let (c, p) = (
            if b.terms & 1 != 0 { c2p } else { dummy },
            if b.terms & 2 != 0 { p2c } else { dummy },
        );
        let index = Slice::whole(&b.index, u64::from(m) * u64::from(m));
        self.push(
            Kernel::Relative,
            &rp,
            vec![scores, c, p, index],
            flat_groups(heads * m * m),
        );
    }
}
