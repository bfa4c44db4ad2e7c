//! Laying a plan out, in three steps that [`Plan::new`] runs in turn: the sizes checked against
//! the device ([`Shape`]), the buffers allocated ([`Buffers`]), and the pass recorded
//! ([`Recorder`]: the embeddings, then one layer after another) before `Steps::bind` makes
//! the bind groups.

use super::attention::AttentionIo;
use super::SLOT_ALIGN_FLOATS;
use super::{modern, new_buffer, relative, round_up, Activations, Kernel, Slice, Steps};
use crate::backend::gpu::context::GpuContext;
use crate::backend::gpu::kernels::{AttentionParams, NormParams};
use crate::backend::gpu::layout::{Src, What};
use crate::backend::gpu::upload::{GpuLayer, GpuWeights};
use crate::error::{LensError, Result};
use crate::model::{Activation, ModelConfig};

/// A plan's sizes, in floats: `batch` sequences of `n` tokens, `rows` = batch · n for every
/// row-wise step (embeddings, products, norms).
pub(in crate::backend::gpu) struct Shape {
    pub n: u64,
    pub batch: u64,
    pub rows: u64,
    pub e: u64,
    pub h: u64,
    pub i: u64,
    pub heads: u64,
    pub maps: usize,
    /// n rounded up to 4 (the matmul attention's rows of scores)
    pub np: u64,
    /// attention as two batched vec4 matmuls around a softmax (head and hidden sizes
    /// multiples of 4), else the fused attention kernel
    pub matmul_attention: bool,
    pub hidden_len: u64,
    pub probs_len: u64,
    /// floats per hidden-state / attention / head-keep slot (padded to 256 bytes)
    pub hidden_slot: u64,
    pub probs_slot: u64,
    pub keep_slot: u64,
    /// rows of the fused projection: past the last sequence's n, zeros up to np
    pub qkv_rows: u64,
    pub scratch_len: u64,
}

impl Shape {
    /// The sizes of `batch` sequences of `n` tokens of `cfg`, or an error naming what the
    /// device cannot hold or run.
    pub fn new(ctx: &GpuContext, cfg: &ModelConfig, (n, batch): (usize, usize)) -> Result<Self> {
        let limits = ctx.device.limits();
        let max_binding = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size)
            / 4;
        let (nn, bb) = (n as u64, batch as u64);
        let rows = bb * nn;
        let (e, h, i) = (
            cfg.embedding_size as u64,
            cfg.hidden_size as u64,
            cfg.intermediate_size as u64,
        );
        let heads = cfg.num_attention_heads as u64;
        let maps = cfg.num_attention_maps();
        let matmul_attention =
            cfg.head_dim().is_multiple_of(4) && cfg.hidden_size.is_multiple_of(4);
        let title = cfg.model_type.family().title;
        // a local layer's window and DeBERTa's relative terms are in the matmul path only
        if batch > 1 && !(matmul_attention && cfg.modern.is_none() && cfg.relative.is_none()) {
            return Err(LensError::Gpu(format!(
                "{title} runs a batch on the GPU only with absolute positions and head and hidden sizes that are multiples of 4"
            )));
        }
        if !matmul_attention && (cfg.modern.is_some() || cfg.relative.is_some()) {
            return Err(LensError::Gpu(format!(
                "{title}'s attention runs on the GPU only with head and hidden sizes that are multiples of 4 (these are {} and {})",
                cfg.head_dim(),
                cfg.hidden_size
            )));
        }
        let np = round_up(nn, 4);
        let hidden_len = rows * h;
        let probs_len = bb * heads * nn * nn;
        let sh = Shape {
            n: nn,
            batch: bb,
            rows,
            e,
            h,
            i,
            heads,
            maps,
            np,
            matmul_attention,
            hidden_len,
            probs_len,
            hidden_slot: round_up(hidden_len, SLOT_ALIGN_FLOATS),
            probs_slot: round_up(probs_len, SLOT_ALIGN_FLOATS),
            keep_slot: round_up(heads, SLOT_ALIGN_FLOATS),
            qkv_rows: rows + np - nn,
            scratch_len: if matmul_attention {
                bb * heads * nn * np
            } else {
                1
            },
        };
        let max_total = u64::from(u32::MAX).min(limits.max_buffer_size / 4);
        for (what, floats, cap) in [
            ("the hidden states", sh.hidden_total(), max_total),
            ("the attention maps", sh.probs_slot * maps as u64, max_total),
            ("one attention map", sh.probs_slot, max_binding),
            ("the feed-forward activations", rows * i, max_binding),
        ] {
            if floats > cap {
                return Err(LensError::Gpu(format!(
                    "{what} for {n} tokens need {} MB, more than this GPU's buffers hold",
                    floats * 4 / 1_000_000
                )));
            }
        }
        Ok(sh)
    }

    /// Every hidden state's slot, the embeddings' included.
    fn hidden_total(&self) -> u64 {
        self.hidden_slot * (self.maps as u64 + 1)
    }
}

/// A plan's buffers: the inputs, every hidden state and map (and their readback), the head
/// switches, the activations every layer reuses, and the families' own.
pub(in crate::backend::gpu) struct Buffers {
    pub ids: wgpu::Buffer,
    pub type_ids: wgpu::Buffer,
    pub positions: wgpu::Buffer,
    pub hidden: wgpu::Buffer,
    pub probs: wgpu::Buffer,
    pub staging_hidden: wgpu::Buffer,
    pub staging_probs: wgpu::Buffer,
    pub head_keep: wgpu::Buffer,
    pub activations: Activations,
    /// ModernBERT's: a norm's output, the GeGLU's input [N, 2I], the rotary tables
    pub pre_norm: Option<modern::Buffers>,
    /// DeBERTa's: the relative projections, the two terms, δ(i, j)
    pub relative: Option<relative::Buffers>,
}

impl Buffers {
    pub fn new(
        ctx: &GpuContext,
        (cfg, w): (&ModelConfig, &GpuWeights),
        sh: &Shape,
    ) -> Result<Self> {
        let storage = wgpu::BufferUsages::STORAGE;
        let copy_src = wgpu::BufferUsages::COPY_SRC;
        let copy_dst = wgpu::BufferUsages::COPY_DST;
        let readback = wgpu::BufferUsages::MAP_READ | copy_dst;
        let input = storage | copy_dst;
        let out = storage | copy_src;
        let (rows, h, maps) = (sh.rows, sh.h, sh.maps as u64);
        let n = sh.n as usize;
        ctx.scoped(
            "allocating the activation buffers",
            || -> Result<Buffers> {
                Ok(Buffers {
                    ids: new_buffer(ctx, "ids", rows, input),
                    type_ids: new_buffer(ctx, "type ids", rows, input),
                    positions: new_buffer(ctx, "position ids", rows, input),
                    hidden: new_buffer(ctx, "hidden states", sh.hidden_total(), out),
                    probs: new_buffer(ctx, "attention maps", sh.probs_slot * maps, out),
                    staging_hidden: new_buffer(
                        ctx,
                        "hidden readback",
                        sh.hidden_len * (maps + 1),
                        readback,
                    ),
                    staging_probs: new_buffer(
                        ctx,
                        "attention readback",
                        sh.probs_len * maps,
                        readback,
                    ),
                    // per map, 1.0 per head (0.0: switched off), rewritten by every run
                    head_keep: new_buffer(ctx, "head keep", sh.keep_slot * maps.max(1), input),
                    activations: Activations {
                        // per sequence, 1.0 per key kept and 0.0 per padding key (the kernels
                        // apply HF's additive mask)
                        mask: new_buffer(ctx, "mask", rows.max(4), input),
                        emb: new_buffer(ctx, "embedding output", rows * sh.e, out),
                        // Rows past the last sequence's n stay zero: the matmul attention reads up
                        // to np rows of each sequence (a batch's next sequence's rows meet zero
                        // probabilities).
                        qkv: new_buffer(ctx, "qkv", sh.qkv_rows * 3 * h, out),
                        scratch: new_buffer(ctx, "attention scores", sh.scratch_len, out),
                        zeros: new_buffer(ctx, "unused bias", 4, out),
                        ctx: new_buffer(ctx, "context", rows * h, out),
                        // split-K partial products of the two linear layers before a layernorm
                        partials: new_buffer(ctx, "partial products", 4 * rows * h, out),
                        h1: new_buffer(ctx, "attention block output", rows * h, out),
                        ff: new_buffer(ctx, "ffn", rows * sh.i, out),
                    },
                    pre_norm: modern::Buffers::new(ctx, cfg, n)?,
                    relative: relative::Buffers::new(ctx, (cfg, w), n)?,
                })
            },
        )?
    }
}

/// Records a forward pass into [`Steps`]: what every step reads and writes.
pub(super) struct Recorder<'a> {
    pub cfg: &'a ModelConfig,
    pub w: &'a GpuWeights,
    pub b: &'a Buffers,
    pub sh: &'a Shape,
}

impl<'a> Recorder<'a> {
    fn hidden_at(&self, j: u64) -> Slice<'a> {
        Slice {
            buf: &self.b.hidden,
            offset: j * self.sh.hidden_slot,
            len: self.sh.hidden_len,
        }
    }

    /// The whole pass: the embeddings into hidden state 0, then every layer application.
    pub fn record(&self, fast: bool) -> Result<Steps<'a>> {
        let mut s = Steps {
            fast,
            ..Steps::default()
        };
        self.embeddings(&mut s);
        let mut j = 0u64;
        for outer in 0..self.cfg.num_hidden_layers {
            for layer in &self.w.groups[self.cfg.group_of_layer(outer)] {
                self.layer(&mut s, layer, (j, outer))?;
                j += 1;
            }
        }
        Ok(s)
    }

    /// Embeddings (+ ALBERT's E -> H projection) into hidden state 0.
    fn embeddings(&self, s: &mut Steps<'a>) {
        let (cfg, w, b, sh) = (self.cfg, self.w, self.b, self.sh);
        let (rows, e) = (sh.rows, sh.e);
        let emb = &b.activations.emb;
        let emb_out = match w.projection {
            Some(_) => Slice::whole(emb, rows * e),
            None => self.hidden_at(0),
        };
        let p = NormParams::new(rows as u32, e as u32, cfg.layer_norm_eps as f32);
        // no position table: the one zero row uploaded in its place
        let pos_len = cfg.stored_position_rows().max(1) as u64 * e;
        s.push(
            Kernel::Embedding,
            &p,
            vec![
                Slice::whole(&b.ids, rows),
                Slice::whole(&b.type_ids, rows),
                Slice::whole(&w.word, cfg.vocab_size as u64 * e),
                Slice::whole(&w.position, pos_len),
                Slice::whole(&w.token_type, cfg.type_vocab_size as u64 * e),
                Slice::whole(&w.emb_ln.w, e),
                Slice::whole(&w.emb_ln.b, e),
                emb_out,
                Slice::whole(&b.positions, rows),
            ],
            (rows as u32, 1, 1),
        );
        let emb_src = if w.projection.is_some() {
            Src::Emb
        } else {
            Src::Hidden
        };
        s.grab(None, What::Embedded, emb_src, rows * e);
        if let Some(proj) = &w.projection {
            let x = Slice::whole(emb, rows * e);
            s.matmul(x, proj, self.hidden_at(0), rows as u32, Activation::Linear);
        }
    }

    fn attention_params(&self) -> AttentionParams {
        let cfg = self.cfg;
        // DeBERTa: over √(d · (1 + terms))
        let terms = cfg.relative.as_ref().map_or(1, |r| r.scale_factor());
        AttentionParams {
            n: self.sh.n as u32,
            heads: self.sh.heads as u32,
            head_dim: cfg.head_dim() as u32,
            hidden: self.sh.h as u32,
            scale: 1.0 / ((cfg.head_dim() * terms) as f32).sqrt(),
            _pad: [0; 3],
        }
    }

    /// A norm after `parts` split-K partial products over every row.
    fn ln_params(&self, parts: u32) -> NormParams {
        let (m, h) = (self.sh.rows as u32, self.sh.h as u32);
        NormParams {
            parts,
            part_stride: m * h,
            has_bias: 1,
            ..NormParams::new(m, h, self.cfg.layer_norm_eps as f32)
        }
    }

    /// Layer application `j` (of outer layer `outer`): hidden state j to j + 1.
    fn layer(
        &self,
        s: &mut Steps<'a>,
        layer: &'a GpuLayer,
        (j, outer): (u64, usize),
    ) -> Result<()> {
        let (cfg, b, sh) = (self.cfg, self.b, self.sh);
        let a = &b.activations;
        let (rows, h, m) = (sh.rows, sh.h, sh.rows as u32);
        let x = self.hidden_at(j);
        let qkv_s = Slice::whole(&a.qkv, sh.qkv_rows * 3 * h);
        let ctx_s = Slice::whole(&a.ctx, rows * h);
        let part_s = Slice::whole(&a.partials, 4 * rows * h);
        let h1_s = Slice::whole(&a.h1, rows * h);
        let ff_s = Slice::whole(&a.ff, rows * sh.i);
        let dummy = Slice::whole(&a.zeros, 4);
        let jj = Some(j as usize);
        let io = AttentionIo {
            qkv: qkv_s,
            scratch: Slice::whole(&a.scratch, sh.scratch_len),
            mask: Slice::whole(&a.mask, rows),
            probs: Slice {
                buf: &b.probs,
                offset: j * sh.probs_slot,
                len: sh.probs_len,
            },
            keep: Slice {
                buf: &b.head_keep,
                offset: j * sh.keep_slot,
                len: sh.heads,
            },
            ctx: ctx_s,
            dummy,
        };
        let attn_params = self.attention_params();
        if let Some(mb) = &b.pre_norm {
            let last = j + 1 == sh.maps as u64;
            let layer_io = modern::LayerIo {
                x,
                out: self.hidden_at(j + 1),
                part: part_s,
                h1: h1_s,
                ff: ff_s,
                final_norm: self.w.final_norm.as_ref().filter(|_| last),
            };
            let shape = (&attn_params, sh.np, self.ln_params(1), outer);
            return s.modern_layer(cfg, (layer, mb), (&io, &layer_io), shape, jj);
        }
        s.matmul(x, &layer.qkv, qkv_s, m, Activation::Linear);
        s.grab(jj, What::Qkv, Src::Qkv, rows * 3 * h);
        let rel = b.relative.as_ref().map(|rb| {
            s.relative_positions(layer, rb, h);
            relative::RelativeIo { b: rb }
        });
        let how = (sh.matmul_attention, 0);
        let shape = (&attn_params, sh.np, sh.batch as u32);
        s.attention(&io, shape, how, (jj, rel.as_ref()));
        let parts = s.matmul_parts([ctx_s, part_s], &layer.attn_out, dummy, m);
        let bias = Slice::whole(&layer.attn_out.b, h);
        let attn_ln = layer
            .attn_ln
            .as_ref()
            .ok_or_else(|| LensError::Gpu("a post-LN layer without its attention norm".into()))?;
        s.add_layernorm([part_s, x, h1_s], attn_ln, bias, self.ln_params(parts));
        s.grab(jj, What::AttentionOutput, Src::H1, rows * h);
        s.matmul(h1_s, &layer.ffn, ff_s, m, cfg.hidden_act);
        s.grab(jj, What::Intermediate, Src::Ff, rows * sh.i);
        let parts = s.matmul_parts([ff_s, part_s], &layer.ffn_out, dummy, m);
        let bias = Slice::whole(&layer.ffn_out.b, h);
        let out = self.hidden_at(j + 1);
        s.add_layernorm(
            [part_s, h1_s, out],
            &layer.out_ln,
            bias,
            self.ln_params(parts),
        );
        Ok(())
    }
}
