//! A forward pass laid out for one model, one token count and one batch size: activation
//! buffers, one uniform slot per dispatch, bind groups, and the dispatch list. Made once,
//! reused by every run with the same model and shape (running it: `plan/run.rs`).

use super::context::GpuContext;
use super::kernels::{
    pick_variant, pick_vec4_variant, split_k, workgroups, Kernels, MatmulParams, NormParams,
    VARIANTS,
};
use super::layout::{Grab, Src, What};
use super::upload::{GpuLinear, GpuNorm, GpuWeights};
use crate::error::{LensError, Result};
use crate::model::{Activation, ModelConfig};
use std::num::NonZeroU64;
use wgpu::util::DeviceExt;

mod attention;
mod build;
mod modern;
mod relative;
mod run;
mod stats;

pub(super) use run::{read_back, take_readback, Pending};

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
    /// what the family does with the segments (fed as type ids, or zeros)
    token_types: crate::model::family::TokenTypes,
    /// the first position id a token's row of the position table is made from
    position_offset: usize,
    /// no position table (ModernBERT's rotary positions, DeBERTa's relative ones): every token
    /// reads the one zero row uploaded in its place
    no_position_table: bool,
    /// the sizes: rows, slots of the hidden states and maps, heads, maps
    pub(super) sh: build::Shape,
    /// every buffer: the inputs, hidden states and maps (and their readback), the head
    /// switches, the activations every layer reuses ([`Src`] names the copyable ones), the
    /// families' own (held for the bind groups that use them)
    pub(super) b: build::Buffers,
    /// where each intermediate can be copied out (`run_capture`)
    pub(super) grabs: Vec<Grab>,
    _params: wgpu::Buffer,
    dispatches: Vec<Dispatch>,
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
    /// a few zeros bound where a kernel's binding is unused
    pub zeros: wgpu::Buffer,
    /// the context `[N, H]`
    pub ctx: wgpu::Buffer,
    /// split-K partial products `[parts, N, H]`
    pub partials: wgpu::Buffer,
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
    /// Lays out the forward pass of `batch` sequences of `n` tokens: the sizes checked, the
    /// buffers allocated, the pass recorded and bound (`plan/build.rs`).
    pub fn new(
        ctx: &GpuContext,
        kernels: &Kernels,
        cfg: &ModelConfig,
        w: &GpuWeights,
        (n, batch, fast): (usize, usize, bool),
    ) -> Result<Self> {
        let sh = build::Shape::new(ctx, cfg, (n, batch))?;
        let b = build::Buffers::new(ctx, (cfg, w), &sh)?;
        let (params, dispatches, grabs) = ctx.scoped("laying out the forward pass", || {
            let rec = build::Recorder {
                cfg,
                w,
                b: &b,
                sh: &sh,
            };
            let steps = rec.record(fast)?;
            let (params, dispatches) = steps.bind(ctx, kernels)?;
            Ok::<_, LensError>((params, dispatches, steps.grabs))
        })??;
        Ok(Plan {
            weights_id: w.id,
            n,
            batch,
            fast,
            token_types: cfg.model_type.family().token_types,
            position_offset: cfg.position_offset,
            no_position_table: cfg.stored_position_rows() == 0,
            sh,
            b,
            grabs,
            _params: params,
            dispatches,
        })
    }
}
