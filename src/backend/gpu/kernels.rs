//! The compute pipelines, built once per device from the WGSL files in shaders/, and the
//! uniform structs they take (keep each in sync with its .wgsl file).

use super::context::GpuContext;
use crate::error::Result;
use crate::model::config::Activation;

const COMMON: &str = include_str!("../../../shaders/common.wgsl");
const MATMUL: &str = include_str!("../../../shaders/matmul.wgsl");
const ATTENTION: &str = include_str!("../../../shaders/attention.wgsl");
const LAYERNORM: &str = include_str!("../../../shaders/layernorm.wgsl");
const EMBEDDING: &str = include_str!("../../../shaders/embedding.wgsl");

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

/// Keep in sync with `Params` in shaders/matmul.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MatmulParams {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub act: u32,
    pub has_bias: u32,
    pub _pad: [u32; 3],
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

/// Keep in sync with `Params` in shaders/layernorm.wgsl and shaders/embedding.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct NormParams {
    pub rows: u32,
    pub dim: u32,
    pub eps: f32,
    pub _pad: u32,
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

/// From the largest tile to the smallest; `pick_tile` takes the first that fills the GPU.
pub const TILES: [Tile; 3] = [
    Tile {
        bm: 128,
        bn: 128,
        bk: 8,
        tm: 8,
        tn: 8,
    },
    Tile {
        bm: 64,
        bn: 64,
        bk: 16,
        tm: 4,
        tn: 4,
    },
    Tile {
        bm: 32,
        bn: 32,
        bk: 16,
        tm: 2,
        tn: 2,
    },
];

/// Workgroups wanted in flight before a bigger tile is worth it (a few per SM on big GPUs).
const TARGET_WORKGROUPS: u32 = 264;

pub fn workgroups(t: Tile, m: u32, n: u32) -> (u32, u32) {
    (n.div_ceil(t.bn), m.div_ceil(t.bm))
}

/// The tile index for an `m x n` output: the biggest tile that still launches enough
/// workgroups, else the smallest.
pub fn pick_tile(m: u32, n: u32) -> usize {
    TILES
        .iter()
        .position(|&t| {
            let (x, y) = workgroups(t, m, n);
            x * y >= TARGET_WORKGROUPS
        })
        .unwrap_or(TILES.len() - 1)
}

pub struct Kernels {
    pub matmul: Vec<wgpu::ComputePipeline>,
    pub attention: wgpu::ComputePipeline,
    pub add_layernorm: wgpu::ComputePipeline,
    pub embedding: wgpu::ComputePipeline,
}

fn pipeline(ctx: &GpuContext, label: &str, source: &str) -> wgpu::ComputePipeline {
    let module = ctx
        .device
        .create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(format!("{COMMON}\n{source}").into()),
        });
    ctx.device
        .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(label),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        })
}

impl Kernels {
    pub fn new(ctx: &GpuContext) -> Result<Self> {
        ctx.scoped("compiling the compute shaders", || {
            let matmul = TILES
                .iter()
                .map(|t| {
                    let src = MATMUL
                        .replace("{{BM}}", &t.bm.to_string())
                        .replace("{{BN}}", &t.bn.to_string())
                        .replace("{{BK}}", &t.bk.to_string())
                        .replace("{{TM}}", &t.tm.to_string())
                        .replace("{{TN}}", &t.tn.to_string());
                    pipeline(ctx, &format!("matmul {}x{}", t.bm, t.bn), &src)
                })
                .collect();
            Kernels {
                matmul,
                attention: pipeline(ctx, "attention", ATTENTION),
                add_layernorm: pipeline(ctx, "add_layernorm", LAYERNORM),
                embedding: pipeline(ctx, "embedding", EMBEDDING),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_token_counts_get_small_tiles_and_big_products_big_ones() {
        assert_eq!(pick_tile(4096, 4096), 0);
        assert_eq!(pick_tile(128, 768), 2);
        assert_eq!(pick_tile(512, 3072), 1);
    }

    #[test]
    fn every_tile_divides_evenly_into_threads() {
        for t in TILES {
            assert_eq!(t.bm % t.tm, 0);
            assert_eq!(t.bn % t.tn, 0);
            assert!((t.bm / t.tm) * (t.bn / t.tn) <= 256);
        }
    }
}
