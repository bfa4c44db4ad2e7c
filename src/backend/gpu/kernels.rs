//! The compute pipelines, built once per device from the WGSL files in shaders/, and the
//! uniform structs they take (keep each in sync with its .wgsl file).

use super::context::GpuContext;
use crate::error::Result;
use crate::model::config::Activation;

const COMMON: &str = include_str!("../../../shaders/common.wgsl");
const REDUCE: &str = include_str!("../../../shaders/reduce.wgsl");
const ROWNORM: &str = include_str!("../../../shaders/rownorm.wgsl");
const MATMUL_PARAMS: &str = include_str!("../../../shaders/matmul_params.wgsl");
const MATMUL_VEC4_TILES: &str = include_str!("../../../shaders/matmul_vec4_tiles.wgsl");
const MATMUL: &str = include_str!("../../../shaders/matmul.wgsl");
const MATMUL_VEC4: &str = include_str!("../../../shaders/matmul_vec4.wgsl");
const MATMUL_VEC4_8X8: &str = include_str!("../../../shaders/matmul_vec4_8x8.wgsl");
const ATTENTION: &str = include_str!("../../../shaders/attention.wgsl");
const LAYERNORM: &str = include_str!("../../../shaders/layernorm.wgsl");
const EMBEDDING: &str = include_str!("../../../shaders/embedding.wgsl");
const SOFTMAX: &str = include_str!("../../../shaders/softmax.wgsl");
const MATMUL_COOP: &str = include_str!("../../../shaders/matmul_coop.wgsl");
const ROTARY: &str = include_str!("../../../shaders/rotary.wgsl");
const GEGLU: &str = include_str!("../../../shaders/geglu.wgsl");
const RELATIVE: &str = include_str!("../../../shaders/relative.wgsl");
const STATS: &str = include_str!("../../../shaders/stats.wgsl");

/// Largest head dimension the attention kernel holds in workgroup memory (attention.wgsl).
pub const MAX_HEAD_DIM: usize = 256;

/// Keep in sync with `activate` in shaders/common.wgsl.
pub fn act_code(a: Activation) -> u32 {
    match a {
        Activation::Linear => 0,
        Activation::Gelu => 1,
        Activation::GeluTanh => 2,
        Activation::QuickGelu => 3,
        Activation::Relu => 4,
        Activation::Relu6 => 5,
        Activation::Silu => 6,
        Activation::Mish => 7,
        Activation::Tanh => 8,
        Activation::Sigmoid => 9,
    }
}

/// Keep in sync with `Params` in shaders/matmul*.wgsl. Strides and offsets count elements of
/// the binding: vec4 for the vec4 kernels (the scalar kernel ignores them).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MatmulParams {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub act: u32,
    pub has_bias: u32,
    pub b_trans: u32,
    pub lda: u32,
    pub ldb: u32,
    pub ldc: u32,
    pub a_off: u32,
    pub b_off: u32,
    pub c_off: u32,
    pub a_batch: u32,
    pub b_batch: u32,
    pub c_batch: u32,
    pub alpha: f32,
    /// a second batch level: z splits into z % inner (strided by the `*_batch`) and
    /// z / inner (strided by the `*_outer`); `u32::MAX` is one level
    pub inner: u32,
    pub a_outer: u32,
    pub b_outer: u32,
    pub c_outer: u32,
}

impl MatmulParams {
    /// A plain row-major `C[m, n] = act(A[m, k] · B[k, n] + bias)`.
    pub fn plain(m: u32, k: u32, n: u32, act: Activation, has_bias: bool) -> Self {
        MatmulParams {
            m,
            n,
            k,
            act: act_code(act),
            has_bias: has_bias as u32,
            b_trans: 0,
            lda: k / 4,
            ldb: n / 4,
            ldc: n / 4,
            a_off: 0,
            b_off: 0,
            c_off: 0,
            a_batch: 0,
            b_batch: 0,
            c_batch: 0,
            alpha: 1.0,
            inner: u32::MAX,
            a_outer: 0,
            b_outer: 0,
            c_outer: 0,
        }
    }
}

/// Keep in sync with `Params` in shaders/softmax.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SoftmaxParams {
    pub n: u32,
    pub np: u32,
    pub heads: u32,
    /// a local layer's half window + 1 (0: global)
    pub window1: u32,
}

/// Keep in sync with `Params` in shaders/rotary.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RotaryParams {
    pub n: u32,
    pub heads: u32,
    pub head_dim: u32,
    pub hidden: u32,
}

/// Keep in sync with `Params` in shaders/geglu.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GegluParams {
    pub n: u32,
    pub inter: u32,
    pub act: u32,
    pub _pad: u32,
}

/// Keep in sync with `Params` in shaders/relative.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RelativeParams {
    pub n: u32,
    pub np: u32,
    pub heads: u32,
    pub rp: u32,
    /// bit 1: c2p, bit 2: p2c
    pub terms: u32,
    pub _pad: [u32; 3],
}

/// Keep in sync with `Params` in shaders/stats.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StatsParams {
    pub n: u32,
    pub batch: u32,
    pub heads: u32,
    pub d: u32,
    pub hidden: u32,
    /// the map whose heads `head_stats` sums
    pub map: u32,
    /// K = maps · heads
    pub k_all: u32,
    /// floats between one map's probabilities and the next's
    pub map_stride: u32,
}

/// The entries of shaders/stats.wgsl, in [`Kernels::stats`]' order.
#[derive(Clone, Copy, Debug)]
pub enum StatsEntry {
    ValueNorms = 0,
    HeadStats = 1,
    StatsTotal = 2,
    HeadJs = 3,
}

/// Workgroups of 64 threads for `threads` one-element threads (rotary.wgsl, geglu.wgsl): x up
/// to 65535, then rows of y.
pub fn flat_groups(threads: u32) -> (u32, u32, u32) {
    let groups = threads.div_ceil(64).max(1);
    (groups.min(65535), groups.div_ceil(65535), 1)
}

/// Keep in sync with `Params` in shaders/attention.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AttentionParams {
    pub n: u32,
    pub heads: u32,
    pub head_dim: u32,
    pub hidden: u32,
    pub scale: f32,
    pub _pad: [u32; 3],
}

/// Keep in sync with `Params` in shaders/layernorm.wgsl and shaders/embedding.wgsl (which
/// uses only rows, dim and eps).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct NormParams {
    pub rows: u32,
    pub dim: u32,
    pub eps: f32,
    /// partial sums (split-K parts) to add up, `part_stride` floats apart
    pub parts: u32,
    pub part_stride: u32,
    pub has_bias: u32,
    pub _pad: [u32; 2],
}

impl NormParams {
    pub fn new(rows: u32, dim: u32, eps: f32) -> Self {
        NormParams {
            rows,
            dim,
            eps,
            parts: 1,
            part_stride: 0,
            has_bias: 0,
            _pad: [0; 2],
        }
    }
}

/// Products whose tile choice launches fewer workgroups than this are split along K.
const SPLIT_K_BELOW_WORKGROUPS: u32 = 96;

/// How many parts to split the K dimension of an `m x k x n` product into (1 = no split):
/// small token counts leave most of a big GPU idle on the layers with a long K (the FFN
/// output, K = 4H), and the layernorm after them adds the parts up for free.
pub fn split_k(m: u32, k: u32, n: u32) -> u32 {
    if !(k.is_multiple_of(4) && n.is_multiple_of(4)) {
        return 1;
    }
    let v = VARIANTS[pick_variant(m, k, n)].tile;
    let (x, y) = workgroups(v, m, n);
    if x * y >= SPLIT_K_BELOW_WORKGROUPS {
        return 1;
    }
    [4, 2]
        .into_iter()
        .find(|&s| k.is_multiple_of(4 * s) && k / s >= 128)
        .unwrap_or(1)
}

/// A matmul tile shape: BM x BN outputs per workgroup, TM x TN per thread, K steps of BK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    pub bm: u32,
    pub bn: u32,
    pub bk: u32,
    pub tm: u32,
    pub tn: u32,
}

/// One compiled matmul kernel: a tile shape, scalar (any K, N) or vec4 (K, N multiples of 4),
/// and the fewest workgroups a product must launch for this tile to be chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatmulVariant {
    pub tile: Tile,
    pub vec4: bool,
    pub min_workgroups: u32,
}

const fn scalar(bm: u32, bn: u32, bk: u32, tm: u32, tn: u32, min_workgroups: u32) -> MatmulVariant {
    MatmulVariant {
        tile: Tile { bm, bn, bk, tm, tn },
        vec4: false,
        min_workgroups,
    }
}

const fn vec4(bm: u32, bn: u32, min_workgroups: u32) -> MatmulVariant {
    MatmulVariant {
        tile: Tile {
            bm,
            bn,
            bk: 16,
            tm: 4,
            tn: 4,
        },
        vec4: true,
        min_workgroups,
    }
}

const fn vec4_8x8(bk: u32) -> MatmulVariant {
    MatmulVariant {
        tile: Tile {
            bm: 128,
            bn: 128,
            bk,
            tm: 8,
            tn: 8,
        },
        vec4: true,
        min_workgroups: 256,
    }
}

/// Within each kind, from the largest tile to the smallest; `pick_variant` takes the first
/// whose workgroup count reaches its `min_workgroups`. The thresholds come from timing every
/// variant on ALBERT's shapes on an H200 (`albert-lens bench`): bigger tiles win as soon as
/// they keep a few dozen SMs busy, the 128 x 128 tile only once it fills the GPU twice over.
pub const VARIANTS: [MatmulVariant; 8] = [
    scalar(128, 128, 8, 8, 8, 256),
    scalar(64, 64, 16, 4, 4, 48),
    scalar(32, 32, 16, 2, 2, 0),
    // 8 x 8 outputs per thread (matmul_vec4_8x8.wgsl)
    vec4_8x8(16),
    // the same with half the K step (half the shared memory): timed by `bench` beside the
    // first, never picked while it comes second with the same threshold
    vec4_8x8(8),
    vec4(64, 64, 48),
    vec4(32, 64, 32),
    vec4(16, 64, 0),
];

pub fn workgroups(t: Tile, m: u32, n: u32) -> (u32, u32) {
    (n.div_ceil(t.bn), m.div_ceil(t.bm))
}

/// Whether a variant can compute an `m x k x n` product.
pub fn variant_fits(v: MatmulVariant, k: u32, n: u32) -> bool {
    !v.vec4 || (k.is_multiple_of(4) && n.is_multiple_of(4))
}

/// The kernel for an `m x k x n` product: vec4 when K and N allow it; the biggest tile that
/// still launches enough workgroups, else the smallest.
pub fn pick_variant(m: u32, k: u32, n: u32) -> usize {
    pick_variant_batched(m, k, n, 1)
}

/// As [`pick_variant`] for `batch` products launched together.
pub fn pick_variant_batched(m: u32, k: u32, n: u32, batch: u32) -> usize {
    pick_among(m, n, batch, k.is_multiple_of(4) && n.is_multiple_of(4))
}

/// A vec4 kernel for a strided product whose output rows are padded to a multiple of 4 (so N
/// itself need not be one), as attention's batched products are.
pub fn pick_vec4_variant(m: u32, n: u32, batch: u32) -> usize {
    pick_among(m, n, batch, true)
}

fn pick_among(m: u32, n: u32, batch: u32, want_vec4: bool) -> usize {
    let candidates: Vec<usize> = (0..VARIANTS.len())
        .filter(|&i| VARIANTS[i].vec4 == want_vec4)
        .collect();
    candidates
        .iter()
        .copied()
        .find(|&i| {
            let (x, y) = workgroups(VARIANTS[i].tile, m, n);
            x * y * batch >= VARIANTS[i].min_workgroups
        })
        .or(candidates.last().copied())
        .unwrap_or(0)
}

pub struct Kernels {
    pub matmul: Vec<wgpu::ComputePipeline>,
    pub attention: wgpu::ComputePipeline,
    pub add_layernorm: wgpu::ComputePipeline,
    pub embedding: wgpu::ComputePipeline,
    pub softmax: wgpu::ComputePipeline,
    /// ModernBERT's: the rotary embedding, the GeGLU, the residual add without a norm
    pub rotary: wgpu::ComputePipeline,
    pub geglu: wgpu::ComputePipeline,
    pub add_residual: wgpu::ComputePipeline,
    /// DeBERTa's relative terms added to the scores
    pub relative: wgpu::ComputePipeline,
    /// the corpus statistics reduced on the device, by [`StatsEntry`]
    pub stats: Vec<wgpu::ComputePipeline>,
    /// `--precision fast`'s matmul on cooperative matrices, where the device has them.
    pub coop: Option<wgpu::ComputePipeline>,
    /// why the device, though it lists cooperative matrices, did not build that kernel
    pub coop_refused: Option<String>,
}

/// Workgroups of the cooperative-matrix kernel for an `m x n` result (64 x 64 of C each).
pub fn coop_workgroups(m: u32, n: u32) -> (u32, u32, u32) {
    const TILE: u32 = 64;
    (n.div_ceil(TILE), m.div_ceil(TILE), 1)
}

/// A kernel's full source: its `enable` directives first (WGSL wants them before any
/// declaration), then common.wgsl and the parts.
pub fn source(parts: &[&str]) -> String {
    let all = std::iter::once(COMMON).chain(parts.iter().copied());
    let (mut enables, mut body) = (String::new(), String::new());
    for part in all {
        for line in part.lines() {
            let out = if line.trim_start().starts_with("enable ") {
                &mut enables
            } else {
                &mut body
            };
            out.push_str(line);
            out.push('\n');
        }
    }
    enables + &body
}

/// The cooperative-matrix kernel's source (for the shader tests too).
pub fn coop_source() -> String {
    source(&[MATMUL_PARAMS, MATMUL_COOP])
}

/// Builds a pipeline from WGSL parts (shared headers first, the kernel last), each after
/// common.wgsl.
fn pipeline(ctx: &GpuContext, label: &str, parts: &[&str]) -> wgpu::ComputePipeline {
    pipeline_at(ctx, (label, "main"), parts)
}

/// [`pipeline`] of the entry point `entry` (its layout holds only the bindings it uses).
fn pipeline_at(
    ctx: &GpuContext,
    (label, entry): (&str, &str),
    parts: &[&str],
) -> wgpu::ComputePipeline {
    let source = source(parts);
    let module = ctx
        .device
        .create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
    ctx.device
        .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(label),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        })
}

impl Kernels {
    pub fn new(ctx: &GpuContext) -> Result<Self> {
        ctx.scoped("compiling the compute shaders", || {
            let matmul = VARIANTS
                .iter()
                .map(|v| {
                    let t = v.tile;
                    let src = match (v.vec4, t.tm) {
                        (true, 8) => MATMUL_VEC4_8X8,
                        (true, _) => MATMUL_VEC4,
                        _ => MATMUL,
                    }
                    .replace("{{BM}}", &t.bm.to_string())
                    .replace("{{BN}}", &t.bn.to_string())
                    .replace("{{BK}}", &t.bk.to_string())
                    .replace("{{TM}}", &t.tm.to_string())
                    .replace("{{TN}}", &t.tn.to_string());
                    let parts: &[&str] = if v.vec4 {
                        &[MATMUL_PARAMS, MATMUL_VEC4_TILES, &src]
                    } else {
                        &[MATMUL_PARAMS, &src]
                    };
                    pipeline(ctx, &format!("matmul {v:?}"), parts)
                })
                .collect();
            Kernels {
                matmul,
                attention: pipeline(ctx, "attention", &[REDUCE, ATTENTION]),
                add_layernorm: pipeline(ctx, "add_layernorm", &[REDUCE, ROWNORM, LAYERNORM]),
                embedding: pipeline(ctx, "embedding", &[REDUCE, ROWNORM, EMBEDDING]),
                softmax: pipeline(ctx, "softmax", &[REDUCE, SOFTMAX]),
                rotary: pipeline(ctx, "rotary", &[ROTARY]),
                geglu: pipeline(ctx, "geglu", &[GEGLU]),
                add_residual: pipeline_at(
                    ctx,
                    ("add_residual", "add_residual"),
                    &[REDUCE, ROWNORM, LAYERNORM],
                ),
                relative: pipeline(ctx, "relative", &[RELATIVE]),
                stats: ["value_norms", "head_stats", "stats_total", "head_js"]
                    .iter()
                    .map(|entry| pipeline_at(ctx, (entry, entry), &[REDUCE, STATS]))
                    .collect(),
                coop: None,
                coop_refused: None,
            }
        })
        .map(|mut k| {
            // the fast path's kernel in a scope of its own: a driver that refuses it (it is an
            // experimental wgpu feature) leaves the exact path working, and says why
            if ctx.tensor_cores() {
                let made = ctx.scoped("compiling the cooperative-matrix kernel", || {
                    pipeline(
                        ctx,
                        "matmul (cooperative matrices)",
                        &[MATMUL_PARAMS, MATMUL_COOP],
                    )
                });
                match made {
                    Ok(p) => k.coop = Some(p),
                    Err(e) => k.coop_refused = Some(e.to_string()),
                }
            }
            k
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_token_counts_get_small_tiles_and_big_products_big_ones() {
        assert_eq!(VARIANTS[pick_variant(4096, 4096, 4096)].tile.tm, 8);
        // the choices the H200 timings favoured for ALBERT-base
        assert_eq!(VARIANTS[pick_variant(128, 768, 2304)].tile.bm, 64);
        assert_eq!(VARIANTS[pick_variant(128, 3072, 768)].tile.bm, 32);
        assert_eq!(VARIANTS[pick_variant(512, 3072, 768)].tile.bm, 64);
        assert_eq!(VARIANTS[pick_variant(512, 768, 3072)].tile.bm, 64);
        assert_eq!(VARIANTS[pick_variant(4096, 4095, 4096)].tile.bm, 128);
        assert_eq!(VARIANTS[pick_variant(3, 40, 72)].tile.bm, 16);
        assert!(!VARIANTS[pick_variant(3, 17, 5)].vec4);
    }

    #[test]
    fn only_long_products_with_few_workgroups_are_split() {
        assert_eq!(split_k(128, 3072, 768), 4);
        assert_eq!(split_k(512, 768, 3072), 1);
        assert_eq!(split_k(8, 30, 40), 1);
        assert_eq!(split_k(8, 64, 32), 1);
    }

    #[test]
    fn every_tile_divides_evenly_into_threads() {
        for t in VARIANTS.map(|v| v.tile) {
            assert_eq!(t.bm % t.tm, 0);
            assert_eq!(t.bn % t.tn, 0);
            assert!((t.bm / t.tm) * (t.bn / t.tn) <= 256);
        }
    }
}
