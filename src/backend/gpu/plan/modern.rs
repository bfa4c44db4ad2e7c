//! ModernBERT's layer laid out on the GPU, as the CPU's `layer::modern` computes it: the norm
//! before the attention (none in layer 0), the fused projection, the rotary embedding of q and
//! k in place (rotary.wgsl, the layer's base's tables), the attention (global, or local with
//! the softmax's window), a = x + dense(context) (layernorm.wgsl's `add_residual`), the norm
//! before the feed-forward, the GeGLU (geglu.wgsl), the second residual add — and after the last
//! layer the final norm into the last hidden state.

use super::{new_buffer, AttentionIo, Kernel, Slice, Steps};
use crate::backend::gpu::context::GpuContext;
use crate::backend::gpu::kernels::{
    flat_groups, AttentionParams, GegluParams, NormParams, RotaryParams,
};
use crate::backend::gpu::layout::{Src, What};
use crate::backend::gpu::upload::{GpuLayer, GpuNorm};
use crate::error::{LensError, Result};
use crate::model::{Activation, ModelConfig};

/// The buffers only ModernBERT's layers use.
pub(in crate::backend::gpu) struct Buffers {
    /// a norm's output `[N, H]` (also the last layer's sum before the final norm)
    pre: wgpu::Buffer,
    /// the GeGLU's input `[N, 2I]`
    ff2: wgpu::Buffer,
    /// cos and sin `[N, d]` of the global and the local base
    global: (wgpu::Buffer, wgpu::Buffer),
    local: (wgpu::Buffer, wgpu::Buffer),
    nn: u64,
    h: u64,
    i: u64,
    d: u64,
}

impl Buffers {
    /// ModernBERT's buffers for `n` tokens (None for the post-LN families).
    pub(in crate::backend::gpu) fn new(
        ctx: &GpuContext,
        cfg: &ModelConfig,
        n: usize,
    ) -> Result<Option<Self>> {
        let Some(m) = &cfg.modern else {
            return Ok(None);
        };
        let d = cfg.head_dim();
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let (nn, h, i) = (
            n as u64,
            cfg.hidden_size as u64,
            cfg.intermediate_size as u64,
        );
        let table = |theta: f64| {
            let (c, s) = crate::model::family::modernbert::rope_tables(theta, n, d);
            let up = |label: &str, v: &[f32]| {
                let b = new_buffer(ctx, label, v.len() as u64, storage);
                ctx.queue.write_buffer(&b, 0, bytemuck::cast_slice(v));
                b
            };
            (up("rotary cos", &c), up("rotary sin", &s))
        };
        Ok(Some(Buffers {
            pre: new_buffer(
                ctx,
                "pre-norm",
                nn * h,
                storage | wgpu::BufferUsages::COPY_SRC,
            ),
            ff2: new_buffer(ctx, "gated feed-forward input", nn * 2 * i, storage),
            global: table(m.global_theta),
            local: table(m.local_theta),
            nn,
            h,
            i,
            d: d as u64,
        }))
    }
}

/// A layer's input, output and the shared activation slices it uses.
pub(super) struct LayerIo<'a> {
    pub x: Slice<'a>,
    pub out: Slice<'a>,
    pub part: Slice<'a>,
    pub h1: Slice<'a>,
    pub ff: Slice<'a>,
    /// the final norm, on the last layer
    pub final_norm: Option<&'a GpuNorm>,
}

impl<'a> Steps<'a> {
    /// The norm of `x` into `out` (layernorm.wgsl with no partial products and no bias).
    fn norm_only(&mut self, [x, out, dummy]: [Slice<'a>; 3], ln: &'a GpuNorm, p: NormParams) {
        let p = NormParams {
            parts: 0,
            has_bias: 0,
            ..p
        };
        self.add_layernorm([dummy, x, out], ln, dummy, p);
    }

    /// `out = residual + (sum of the parts + bias)`.
    fn add_residual(&mut self, [parts, residual, out, bias]: [Slice<'a>; 4], p: NormParams) {
        let rows = p.rows;
        self.push_at(
            Kernel::AddResidual,
            &p,
            vec![(1, parts), (2, residual), (5, out), (6, bias)],
            (rows, 1, 1),
        );
    }

    /// One ModernBERT layer (`outer` its index) from `io.x` into `io.out`.
    pub(super) fn modern_layer(
        &mut self,
        cfg: &ModelConfig,
        (layer, b): (&'a GpuLayer, &'a Buffers),
        (attn, io): (&AttentionIo<'a>, &LayerIo<'a>),
        (params, np, ln, outer): (&AttentionParams, u64, NormParams, usize),
        jj: Option<usize>,
    ) -> Result<()> {
        let m = cfg
            .modern
            .as_ref()
            .ok_or_else(|| LensError::Gpu("not a ModernBERT".into()))?;
        let (nn, h, i, d) = (b.nn, b.h, b.i, b.d);
        let rows = nn as u32;
        let pre = Slice::whole(&b.pre, nn * h);
        let dummy = attn.dummy;
        let src = match &layer.attn_ln {
            Some(n) => {
                self.norm_only([io.x, pre, dummy], n, ln);
                pre
            }
            None => io.x,
        };
        self.matmul(src, &layer.qkv, attn.qkv, rows, Activation::Linear);
        let window = m.window_of(outer);
        let (cos, sin) = if window.is_some() {
            &b.local
        } else {
            &b.global
        };
        let rp = RotaryParams {
            n: rows,
            heads: params.heads,
            head_dim: d as u32,
            hidden: h as u32,
        };
        let tables = [Slice::whole(cos, nn * d), Slice::whole(sin, nn * d)];
        let threads = rows * params.heads * (d as u32 / 2);
        self.push(
            Kernel::Rotary,
            &rp,
            vec![attn.qkv, tables[0], tables[1]],
            flat_groups(threads),
        );
        self.grab(jj, What::Qkv, Src::Qkv, nn * 3 * h);
        let window1 = window.map_or(0, |w| u32::try_from(w).unwrap_or(u32::MAX - 1) + 1);
        self.attention(attn, (params, np, 1), (true, window1), (jj, None));
        let parts = self.matmul_parts([attn.ctx, io.part], &layer.attn_out, dummy, rows);
        let bias = Slice::whole(&layer.attn_out.b, h);
        let sum = NormParams { parts, ..ln };
        self.add_residual([io.part, io.x, io.h1, bias], sum);
        self.grab(jj, What::AttentionOutput, Src::H1, nn * h);
        self.norm_only([io.h1, pre, dummy], &layer.out_ln, ln);
        let ff2 = Slice::whole(&b.ff2, nn * 2 * i);
        self.matmul(pre, &layer.ffn, ff2, rows, Activation::Linear);
        let gp = GegluParams {
            n: rows,
            inter: i as u32,
            act: crate::backend::gpu::kernels::act_code(cfg.hidden_act),
            _pad: 0,
        };
        self.push(
            Kernel::Geglu,
            &gp,
            vec![ff2, io.ff],
            flat_groups(rows * i as u32),
        );
        self.grab(jj, What::Intermediate, Src::Ff, nn * i);
        let parts = self.matmul_parts([io.ff, io.part], &layer.ffn_out, dummy, rows);
        let bias = Slice::whole(&layer.ffn_out.b, h);
        let sum = NormParams { parts, ..ln };
        match io.final_norm {
            // the last layer's sum, then the final norm into the last hidden state
            Some(f) => {
                self.add_residual([io.part, io.h1, pre, bias], sum);
                self.norm_only([pre, io.out, dummy], f, ln);
            }
            None => self.add_residual([io.part, io.h1, io.out, bias], sum),
        }
        Ok(())
    }
}
