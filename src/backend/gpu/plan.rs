//! A forward pass laid out for one model, one token count and one batch size: activation
//! buffers, one uniform slot per dispatch, bind groups, and the dispatch list. Made once,
//! reused by every run with the same model and shape (running it: `plan/run.rs`).

use super::capture::{Grab, Src, What};
use super::context::GpuContext;
use super::kernels::{
    pick_variant, pick_vec4_variant, split_k, workgroups, AttentionParams, Kernels, MatmulParams,
    NormParams, VARIANTS,
};
use super::upload::{GpuLinear, GpuNorm, GpuWeights};
use crate::error::{LensError, Result};
use crate::model::{Activation, ModelConfig};
use std::num::NonZeroU64;
use wgpu::util::DeviceExt;

mod attention;
mod modern;
mod relative;
mod run;
mod stats;

pub(super) use run::read_back;

use attention::AttentionIo;

/// Uniform slots are this far apart (the largest min_uniform_buffer_offset_alignment).
const UNIFORM_SLOT: u64 = 256;
/// Storage slices start at multiples of this many floats (256 bytes).
const SLOT_ALIGN_FLOATS: u64 = 64;

#[derive(Clone, Copy)]
enum Kernel {
    Matmul(usize),
    /// `--precision fast`'s matmul on cooperative matrices
    MatmulCoop,
    Attention,
    Softmax,
    AddLayerNorm,
    Embedding,
    Rotary,
    Geglu,
    AddResidual,
    Relative,
    /// the corpus statistics' entries (plan/stats.rs)
    Stats(super::kernels::StatsEntry),
}

impl Kernel {
    /// The kernel's pipeline; None for the cooperative-matrix kernel on a device without it
    /// (plans only ask for it where it exists).
    fn pipeline(self, k: &Kernels) -> Option<&wgpu::ComputePipeline> {
        Some(match self {
            Kernel::Matmul(t) => &k.matmul[t],
            Kernel::MatmulCoop => return k.coop.as_ref(),
            Kernel::Attention => &k.attention,
            Kernel::Softmax => &k.softmax,
            Kernel::AddLayerNorm => &k.add_layernorm,
            Kernel::Embedding => &k.embedding,
            Kernel::Rotary => &k.rotary,
            Kernel::Geglu => &k.geglu,
            Kernel::AddResidual => &k.add_residual,
            Kernel::Relative => &k.relative,
            Kernel::Stats(e) => &k.stats[e as usize],
        })
    }
}

struct Dispatch {
    kernel: Kernel,
    bind_group: wgpu::BindGroup,
    groups: (u32, u32, u32),
}

/// A range of a buffer, in 4-byte elements.
#[derive(Clone, Copy)]
struct Slice<'a> {
    buf: &'a wgpu::Buffer,
    offset: u64,
    len: u64,
}

impl<'a> Slice<'a> {
    fn whole(buf: &'a wgpu::Buffer, len: u64) -> Self {
        Slice {
            buf,
            offset: 0,
            len,
        }
    }
}

/// One dispatch before its uniform buffer exists.
struct Step<'a> {
    kernel: Kernel,
    params_offset: u64,
    params_size: u64,
    /// (binding, slice): bindings 1, 2, … in order, or those an entry point that uses only
    /// some of its module's bindings names
    storage: Vec<(u32, Slice<'a>)>,
    groups: (u32, u32, u32),
}

fn round_up(x: u64, to: u64) -> u64 {
    x.div_ceil(to) * to
}

/// A copy out of the device buffers after dispatch `after` (byte offsets and size).
pub struct CopyOut<'a> {
    pub after: usize,
    pub src: &'a wgpu::Buffer,
    pub src_offset: u64,
    pub dst: &'a wgpu::Buffer,
    pub dst_offset: u64,
    pub bytes: u64,
}

/// Every hidden state and every attention map of one run, as host vectors.
pub type Readback = (Vec<Vec<f32>>, Vec<Vec<f32>>);

/// What one run returns: the data (with readback) and where the time went.
pub struct RunOutput {
    /// (hidden states, attention maps)
    pub data: Option<Readback>,
    /// submit to completion of the compute (and, with readback, the copies into staging)
    pub gpu_ms: f64,
    /// mapping the staging buffers and copying them into host vectors
    pub host_ms: f64,
}

pub struct Plan {
    pub weights_id: u64,
    /// tokens per sequence (a batch's texts padded to it)
    pub n: usize,
    /// sequences run at once (1 but for [`crate::backend::Backend::forward_batch`])
    pub batch: usize,
    /// the weight products on cooperative matrices (`--precision fast`)
    pub fast: bool,
    ids: wgpu::Buffer,
    type_ids: wgpu::Buffer,
    /// what the family does with the segments (fed as type ids, or zeros)
    token_types: crate::model::family::TokenTypes,
    /// each token's row of the position table, and the first position id it is made from
    positions: wgpu::Buffer,
    position_offset: usize,
    /// no position table (ModernBERT's rotary positions, DeBERTa's relative ones): every token
    /// reads the one zero row uploaded in its place
    no_position_table: bool,
    /// ModernBERT's and DeBERTa's buffers, kept alive for the bind groups that use them
    _pre_norm: Option<modern::Buffers>,
    _relative: Option<relative::Buffers>,
    pub(super) hidden: wgpu::Buffer,
    probs: wgpu::Buffer,
    staging_hidden: wgpu::Buffer,
    staging_probs: wgpu::Buffer,
    /// the activation buffers every layer reuses (named; [`Src`] names the copyable ones)
    pub(super) activations: Activations,
    /// where each intermediate can be copied out (`run_capture`)
    pub(super) grabs: Vec<Grab>,
    /// per map, 1.0 per head or 0.0 for a head switched off (`keep_slot` floats apart)
    head_keep: wgpu::Buffer,
    keep_slot: u64,
    heads: usize,
    pub(super) matmul_attention: bool,
    _params: wgpu::Buffer,
    dispatches: Vec<Dispatch>,
    /// floats per hidden-state / attention slot in the device buffers (padded to 256 bytes)
    hidden_slot: u64,
    probs_slot: u64,
    /// floats per hidden state / attention map as returned (unpadded)
    hidden_len: u64,
    probs_len: u64,
    maps: usize,
}

/// The activation buffers of a plan, reused by every layer.
pub(super) struct Activations {
    /// `[B, N]`: 1.0 per key kept, 0.0 per padding key (rewritten by every run)
    pub mask: wgpu::Buffer,
    /// the embedding output `[N, E]` (before a factorized embedding's projection)
    pub emb: wgpu::Buffer,
    /// the fused projection `[Np, 3H]`
    pub qkv: wgpu::Buffer,
    /// the scores `[heads, N, Np]` (the matmul attention)
    pub scratch: wgpu::Buffer,
    /// a few zeros bound where a kernel's binding is unused; held for the bind groups
    pub _zeros: wgpu::Buffer,
    /// the context `[N, H]`
    pub ctx: wgpu::Buffer,
    /// split-K partial products `[parts, N, H]`; held for the bind groups
    pub _partials: wgpu::Buffer,
    /// the attention block's output `[N, H]`
    pub h1: wgpu::Buffer,
    /// the feed-forward's intermediate `[N, I]`
    pub ff: wgpu::Buffer,
}

#[derive(Default)]
struct Steps<'a> {
    params: Vec<u8>,
    steps: Vec<Step<'a>>,
    grabs: Vec<Grab>,
    /// the weight products on cooperative matrices (`--precision fast`)
    fast: bool,
}

impl<'a> Steps<'a> {
    fn push<T: bytemuck::Pod>(
        &mut self,
        kernel: Kernel,
        p: &T,
        storage: Vec<Slice<'a>>,
        groups: (u32, u32, u32),
    ) {
        let numbered = (1..).zip(storage).collect();
        self.push_at(kernel, p, numbered, groups);
    }

    /// [`Self::push`] with each slice's binding named.
    fn push_at<T: bytemuck::Pod>(
        &mut self,
        kernel: Kernel,
        p: &T,
        storage: Vec<(u32, Slice<'a>)>,
        groups: (u32, u32, u32),
    ) {
        let params_offset = self.params.len() as u64;
        self.params.extend_from_slice(bytemuck::bytes_of(p));
        let padded = round_up(self.params.len() as u64, UNIFORM_SLOT) as usize;
        self.params.resize(padded, 0);
        self.steps.push(Step {
            kernel,
            params_offset,
            params_size: std::mem::size_of::<T>() as u64,
            storage,
            groups,
        });
    }

    /// Marks the output of the last step as intermediate `what` of map `map` (None: the
    /// embeddings), `len` floats of `src` from its start.
    fn grab(&mut self, map: Option<usize>, what: What, src: Src, len: u64) {
        self.grabs.push(Grab {
            after: self.steps.len() - 1,
            map,
            what,
            src,
            len,
        });
    }

    /// c[m, out] = act(a[m, in] · W + b)
    fn matmul(&mut self, a: Slice<'a>, l: &'a GpuLinear, c: Slice<'a>, m: u32, act: Activation) {
        let b = Slice::whole(&l.b, u64::from(l.out_dim));
        self.plain_matmul([a, c], l, m, act, (b, true));
    }

    /// One unbatched product with the kernel `pick_variant` chooses; `bias` is bound either
    /// way and added when its flag is set.
    fn plain_matmul(
        &mut self,
        [a, c]: [Slice<'a>; 2],
        l: &'a GpuLinear,
        m: u32,
        act: Activation,
        (bias, has_bias): (Slice<'a>, bool),
    ) {
        let (k, n) = (l.in_dim, l.out_dim);
        let p = MatmulParams::plain(m, k, n, act, has_bias);
        let w = Slice::whole(&l.w, u64::from(k) * u64::from(n));
        if self.fast {
            let groups = super::kernels::coop_workgroups(m, n);
            self.push(Kernel::MatmulCoop, &p, vec![a, w, bias, c], groups);
            return;
        }
        let tile = pick_variant(m, k, n);
        let (gx, gy) = workgroups(VARIANTS[tile].tile, m, n);
        self.push(Kernel::Matmul(tile), &p, vec![a, w, bias, c], (gx, gy, 1));
    }

    /// Batched (one product per head) vec4 matmul with explicit strides; `dummy` fills the
    /// unused bias binding.
    fn batched_matmul(
        &mut self,
        [a, b, c]: [Slice<'a>; 3],
        dummy: Slice<'a>,
        p: MatmulParams,
        batch: u32,
    ) {
        let tile = pick_vec4_variant(p.m, p.n, batch);
        let (gx, gy) = workgroups(VARIANTS[tile].tile, p.m, p.n);
        self.push(
            Kernel::Matmul(tile),
            &p,
            vec![a, b, dummy, c],
            (gx, gy, batch),
        );
    }

    /// The linear layer before a layernorm, without its bias (the layernorm adds it), split
    /// along K into `parts` partial products written `m * out` floats apart in `partials`.
    /// Returns the number of parts.
    fn matmul_parts(
        &mut self,
        [a, partials]: [Slice<'a>; 2],
        l: &'a GpuLinear,
        dummy: Slice<'a>,
        m: u32,
    ) -> u32 {
        let (k, n) = (l.in_dim, l.out_dim);
        let parts = if self.fast { 1 } else { split_k(m, k, n) };
        if parts == 1 {
            self.plain_matmul([a, partials], l, m, Activation::Linear, (dummy, false));
            return 1;
        }
        let w = Slice::whole(&l.w, u64::from(k) * u64::from(n));
        let kc = k / parts;
        let mut p = MatmulParams::plain(m, kc, n, Activation::Linear, false);
        (p.lda, p.ldb, p.ldc) = (k / 4, n / 4, n / 4);
        (p.a_batch, p.b_batch, p.c_batch) = (kc / 4, kc * n / 4, m * n / 4);
        self.batched_matmul([a, w, partials], dummy, p, parts);
        parts
    }

    /// out = LayerNorm(sum of `parts` partials + bias + residual), one row per token
    fn add_layernorm(
        &mut self,
        [x, residual, out]: [Slice<'a>; 3],
        ln: &'a GpuNorm,
        bias: Slice<'a>,
        p: NormParams,
    ) {
        let w = Slice::whole(&ln.w, u64::from(p.dim));
        let b = Slice::whole(&ln.b, u64::from(p.dim));
        self.push(
            Kernel::AddLayerNorm,
            &p,
            vec![x, residual, w, b, out, bias],
            (p.rows, 1, 1),
        );
    }
}

impl Steps<'_> {
    /// The parameter buffer (one uniform slot per step) and each step's bind group.
    fn bind(&self, ctx: &GpuContext, kernels: &Kernels) -> Result<(wgpu::Buffer, Vec<Dispatch>)> {
        let params = ctx
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("dispatch parameters"),
                contents: &self.params,
                usage: wgpu::BufferUsages::UNIFORM,
            });
        let dispatches = self
            .steps
            .iter()
            .map(|st| -> Result<Dispatch> {
                let layout = st
                    .kernel
                    .pipeline(kernels)
                    .ok_or_else(no_coop)?
                    .get_bind_group_layout(0);
                let mut entries = vec![wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &params,
                        offset: st.params_offset,
                        size: NonZeroU64::new(st.params_size),
                    }),
                }];
                for &(binding, sl) in &st.storage {
                    entries.push(wgpu::BindGroupEntry {
                        binding,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: sl.buf,
                            offset: sl.offset * 4,
                            size: NonZeroU64::new(sl.len.max(1) * 4),
                        }),
                    });
                }
                Ok(Dispatch {
                    kernel: st.kernel,
                    bind_group: ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                        label: None,
                        layout: &layout,
                        entries: &entries,
                    }),
                    groups: st.groups,
                })
            })
            .collect::<Result<_>>()?;
        Ok((params, dispatches))
    }
}

fn no_coop() -> LensError {
    LensError::Gpu("this device has no cooperative-matrix kernel (--precision fast)".into())
}

fn new_buffer(
    ctx: &GpuContext,
    label: &str,
    floats: u64,
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: (floats.max(1) * 4).max(16),
        usage,
        mapped_at_creation: false,
    })
}

impl Plan {
    pub fn new(
        ctx: &GpuContext,
        kernels: &Kernels,
        cfg: &ModelConfig,
        w: &GpuWeights,
        (n, batch, fast): (usize, usize, bool),
    ) -> Result<Self> {
        let limits = ctx.device.limits();
        let max_binding = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size)
            / 4;
        let nn = n as u64;
        // every row-wise step (embeddings, products, norms) runs over the batch's rows
        let rows = (batch * n) as u64;
        let (e, h, i) = (
            cfg.embedding_size as u64,
            cfg.hidden_size as u64,
            cfg.intermediate_size as u64,
        );
        let heads = cfg.num_attention_heads as u64;
        let maps = cfg.num_attention_maps();
        let hidden_len = rows * h;
        // Attention as two batched vec4 matmuls around a softmax when the sizes allow it
        // (head size and hidden size multiples of 4), else the fused attention kernel.
        let matmul_attention =
            cfg.head_dim().is_multiple_of(4) && cfg.hidden_size.is_multiple_of(4);
        // a local layer's window and DeBERTa's relative terms are in the matmul path only
        if batch > 1 && !(matmul_attention && cfg.modern.is_none() && cfg.relative.is_none()) {
            return Err(LensError::Gpu(format!(
                "{} runs a batch on the GPU only with absolute positions and head and hidden sizes that are multiples of 4",
                cfg.model_type.family().title
            )));
        }
        if !matmul_attention && (cfg.modern.is_some() || cfg.relative.is_some()) {
            return Err(LensError::Gpu(format!(
                "{}'s attention runs on the GPU only with head and hidden sizes that are multiples of 4 (these are {} and {})",
                cfg.model_type.family().title,
                cfg.head_dim(),
                cfg.hidden_size
            )));
        }
        let np = round_up(nn, 4);
        let probs_len = batch as u64 * heads * nn * nn;
        let hidden_slot = round_up(hidden_len, SLOT_ALIGN_FLOATS);
        let probs_slot = round_up(probs_len, SLOT_ALIGN_FLOATS);
        let hidden_total = hidden_slot * (maps as u64 + 1);
        let probs_total = probs_slot * maps as u64;
        let max_total = u64::from(u32::MAX).min(limits.max_buffer_size / 4);
        for (what, floats, cap) in [
            ("the hidden states", hidden_total, max_total),
            ("the attention maps", probs_total, max_total),
            ("one attention map", probs_slot, max_binding),
            ("the feed-forward activations", rows * i, max_binding),
        ] {
            if floats > cap {
                return Err(LensError::Gpu(format!(
                    "{what} for {n} tokens need {} MB, more than this GPU's buffers hold",
                    floats * 4 / 1_000_000
                )));
            }
        }
        let storage = wgpu::BufferUsages::STORAGE;
        let copy_src = wgpu::BufferUsages::COPY_SRC;
        let copy_dst = wgpu::BufferUsages::COPY_DST;
        let readback = wgpu::BufferUsages::MAP_READ | copy_dst;

        ctx.scoped("allocating the activation buffers", || -> Result<Plan> {
            let ids = new_buffer(ctx, "ids", rows, storage | copy_dst);
            let type_ids = new_buffer(ctx, "type ids", rows, storage | copy_dst);
            let positions = new_buffer(ctx, "position ids", rows, storage | copy_dst);
            // per sequence, 1.0 per key kept and 0.0 per padding key (the kernels apply HF's
            // additive mask)
            let mask = new_buffer(ctx, "mask", rows.max(4), storage | copy_dst);
            let hidden = new_buffer(ctx, "hidden states", hidden_total, storage | copy_src);
            // per map, 1.0 per head (0.0: switched off), rewritten by every run
            let keep_slot = round_up(heads, SLOT_ALIGN_FLOATS);
            let head_keep = new_buffer(
                ctx,
                "head keep",
                keep_slot * maps.max(1) as u64,
                storage | copy_dst,
            );
            let storage = storage | copy_src;
            let probs = new_buffer(ctx, "attention maps", probs_total, storage | copy_src);
            let staging_hidden = new_buffer(
                ctx,
                "hidden readback",
                hidden_len * (maps as u64 + 1),
                readback,
            );
            let staging_probs =
                new_buffer(ctx, "attention readback", probs_len * maps as u64, readback);
            let emb = new_buffer(ctx, "embedding output", rows * e, storage);
            // Rows past the last sequence's n stay zero: the matmul attention reads up to np
            // rows of each sequence (a batch's next sequence's rows meet zero probabilities).
            let qkv_rows = rows + np - nn;
            let qkv = new_buffer(ctx, "qkv", qkv_rows * 3 * h, storage);
            let zeros = new_buffer(ctx, "unused bias", 4, storage);
            let scratch = new_buffer(
                ctx,
                "attention scores",
                if matmul_attention {
                    batch as u64 * heads * nn * np
                } else {
                    1
                },
                storage,
            );
            let ctx_buf = new_buffer(ctx, "context", rows * h, storage);
            // split-K partial products of the two linear layers before a layernorm
            let partials = new_buffer(ctx, "partial products", 4 * rows * h, storage);
            let h1 = new_buffer(ctx, "attention block output", rows * h, storage);
            let ff = new_buffer(ctx, "ffn", rows * i, storage);
            // ModernBERT's: a norm's output, the GeGLU's input [N, 2I], the rotary tables
            let pre_norm = modern::Buffers::new(ctx, cfg, n)?;
            // DeBERTa's: the relative projections, the two terms, δ(i, j)
            let relative = relative::Buffers::new(ctx, (cfg, w), n)?;

            let hidden_at = |j: u64| Slice {
                buf: &hidden,
                offset: j * hidden_slot,
                len: hidden_len,
            };
            let mut s = Steps {
                fast,
                ..Steps::default()
            };
            let m = rows as u32;
            let eps = cfg.layer_norm_eps as f32;

            // Embeddings (+ ALBERT's E -> H projection) into hidden state 0.
            let emb_out = match w.projection {
                Some(_) => Slice::whole(&emb, rows * e),
                None => hidden_at(0),
            };
            let p = NormParams::new(m, e as u32, eps);
            // no position table: the one zero row uploaded in its place
            let pos_len = cfg.stored_position_rows().max(1) as u64 * e;
            s.push(
                Kernel::Embedding,
                &p,
                vec![
                    Slice::whole(&ids, rows),
                    Slice::whole(&type_ids, rows),
                    Slice::whole(&w.word, cfg.vocab_size as u64 * e),
                    Slice::whole(&w.position, pos_len),
                    Slice::whole(&w.token_type, cfg.type_vocab_size as u64 * e),
                    Slice::whole(&w.emb_ln.w, e),
                    Slice::whole(&w.emb_ln.b, e),
                    emb_out,
                    Slice::whole(&positions, rows),
                ],
                (m, 1, 1),
            );
            let emb_src = if w.projection.is_some() {
                Src::Emb
            } else {
                Src::Hidden
            };
            s.grab(None, What::Embedded, emb_src, rows * e);
            if let Some(proj) = &w.projection {
                s.matmul(
                    Slice::whole(&emb, rows * e),
                    proj,
                    hidden_at(0),
                    m,
                    Activation::Linear,
                );
            }

            let attn_params = AttentionParams {
                n: n as u32,
                heads: heads as u32,
                head_dim: cfg.head_dim() as u32,
                hidden: h as u32,
                // DeBERTa: over √(d · (1 + terms))
                scale: 1.0
                    / ((cfg.head_dim() * cfg.relative.as_ref().map_or(1, |r| r.scale_factor()))
                        as f32)
                        .sqrt(),
                _pad: [0; 3],
            };
            let ln_params = |parts: u32| NormParams {
                parts,
                part_stride: m * h as u32,
                has_bias: 1,
                ..NormParams::new(m, h as u32, eps)
            };
            let mut j = 0u64;
            for outer in 0..cfg.num_hidden_layers {
                for layer in &w.groups[cfg.group_of_layer(outer)] {
                    let x = hidden_at(j);
                    let qkv_s = Slice::whole(&qkv, qkv_rows * 3 * h);
                    let ctx_s = Slice::whole(&ctx_buf, rows * h);
                    let part_s = Slice::whole(&partials, 4 * rows * h);
                    let h1_s = Slice::whole(&h1, rows * h);
                    let ff_s = Slice::whole(&ff, rows * i);

                    let jj = Some(j as usize);
                    let probs_s = Slice {
                        buf: &probs,
                        offset: j * probs_slot,
                        len: probs_len,
                    };
                    let keep_s = Slice {
                        buf: &head_keep,
                        offset: j * keep_slot,
                        len: heads,
                    };
                    let scratch_len = if matmul_attention {
                        batch as u64 * heads * nn * np
                    } else {
                        1
                    };
                    let io = AttentionIo {
                        qkv: qkv_s,
                        scratch: Slice::whole(&scratch, scratch_len),
                        mask: Slice::whole(&mask, rows),
                        probs: probs_s,
                        keep: keep_s,
                        ctx: ctx_s,
                        dummy: Slice::whole(&zeros, 4),
                    };
                    if let Some(mb) = &pre_norm {
                        let last = j + 1 == maps as u64;
                        let layer_io = modern::LayerIo {
                            x,
                            out: hidden_at(j + 1),
                            part: part_s,
                            h1: h1_s,
                            ff: ff_s,
                            final_norm: w.final_norm.as_ref().filter(|_| last),
                        };
                        let shape = (&attn_params, np, ln_params(1), outer);
                        s.modern_layer(cfg, (layer, mb), (&io, &layer_io), shape, jj)?;
                        j += 1;
                        continue;
                    }
                    s.matmul(x, &layer.qkv, qkv_s, m, Activation::Linear);
                    s.grab(jj, What::Qkv, Src::Qkv, rows * 3 * h);
                    let rel = match &relative {
                        Some(b) => {
                            s.relative_positions(layer, b, h);
                            Some(relative::RelativeIo { b })
                        }
                        None => None,
                    };
                    let how = (matmul_attention, 0);
                    let shape = (&attn_params, np, batch as u32);
                    s.attention(&io, shape, how, (jj, rel.as_ref()));
                    let dummy = Slice::whole(&zeros, 4);
                    let parts = s.matmul_parts([ctx_s, part_s], &layer.attn_out, dummy, m);
                    let bias = Slice::whole(&layer.attn_out.b, h);
                    let attn_ln = layer.attn_ln.as_ref().ok_or_else(|| {
                        LensError::Gpu("a post-LN layer without its attention norm".into())
                    })?;
                    s.add_layernorm([part_s, x, h1_s], attn_ln, bias, ln_params(parts));
                    s.grab(jj, What::AttentionOutput, Src::H1, rows * h);
                    s.matmul(h1_s, &layer.ffn, ff_s, m, cfg.hidden_act);
                    s.grab(jj, What::Intermediate, Src::Ff, rows * i);
                    let parts = s.matmul_parts([ff_s, part_s], &layer.ffn_out, dummy, m);
                    let bias = Slice::whole(&layer.ffn_out.b, h);
                    let out = hidden_at(j + 1);
                    s.add_layernorm([part_s, h1_s, out], &layer.out_ln, bias, ln_params(parts));
                    j += 1;
                }
            }

            let (params, dispatches) = s.bind(ctx, kernels)?;
            let grabs = std::mem::take(&mut s.grabs);
            drop(s);
            Ok(Plan {
                weights_id: w.id,
                n,
                batch,
                fast,
                ids,
                type_ids,
                token_types: cfg.model_type.family().token_types,
                positions,
                position_offset: cfg.position_offset,
                no_position_table: cfg.stored_position_rows() == 0,
                _pre_norm: pre_norm,
                _relative: relative,
                hidden,
                probs,
                staging_hidden,
                staging_probs,
                activations: Activations {
                    mask,
                    emb,
                    qkv,
                    scratch,
                    _zeros: zeros,
                    ctx: ctx_buf,
                    _partials: partials,
                    h1,
                    ff,
                },
                head_keep,
                keep_slot,
                heads: heads as usize,
                grabs,
                matmul_attention,
                _params: params,
                dispatches,
                hidden_slot,
                probs_slot,
                hidden_len,
                probs_len,
                maps,
            })
        })?
    }
}
