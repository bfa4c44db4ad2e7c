//! Weights on the device: one buffer per tensor, uploaded once. An ALBERT layer group is ONE
//! set of buffers, bound by every layer that shares it.

use super::context::GpuContext;
use crate::error::{LensError, Result};
use crate::model::weights::{LayerNormWeights, Linear};
use crate::model::{ModelConfig, ModelWeights};
use candle_core::Tensor;
use wgpu::util::DeviceExt;

pub struct GpuLinear {
    pub w: wgpu::Buffer,
    pub b: wgpu::Buffer,
    pub in_dim: u32,
    pub out_dim: u32,
}

pub struct GpuNorm {
    pub w: wgpu::Buffer,
    pub b: wgpu::Buffer,
}

pub struct GpuLayer {
    pub qkv: GpuLinear,
    pub attn_out: GpuLinear,
    /// None: ModernBERT's layer 0, no norm before its attention
    pub attn_ln: Option<GpuNorm>,
    pub ffn: GpuLinear,
    pub ffn_out: GpuLinear,
    pub out_ln: GpuNorm,
}

pub struct GpuWeights {
    pub id: u64,
    pub word: wgpu::Buffer,
    pub position: wgpu::Buffer,
    pub token_type: wgpu::Buffer,
    pub emb_ln: GpuNorm,
    pub projection: Option<GpuLinear>,
    /// `num_hidden_groups` groups of `inner_group_num` layers, as stored.
    pub groups: Vec<Vec<GpuLayer>>,
    /// ModernBERT's norm after the last layer
    pub final_norm: Option<GpuNorm>,
    /// DeBERTa's relative table `[R, H]`, normed on the host (f32, as the CPU does)
    pub relative: Option<wgpu::Buffer>,
    /// Bytes on the device.
    pub bytes: u64,
}

struct Uploader<'a> {
    ctx: &'a GpuContext,
    bytes: u64,
    max_binding: u64,
}

impl Uploader<'_> {
    fn buffer(&mut self, label: &str, t: &Tensor) -> Result<wgpu::Buffer> {
        let data = t.flatten_all()?.to_vec1::<f32>()?;
        let size = (data.len() * 4) as u64;
        if size > self.max_binding {
            return Err(LensError::Gpu(format!(
                "{label} needs a {size}-byte buffer; this GPU binds at most {} bytes",
                self.max_binding
            )));
        }
        self.bytes += size;
        Ok(self
            .ctx
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::cast_slice(&data),
                // COPY_SRC: the Explain tab's word-embedding rows are copied out of the table
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            }))
    }

    fn linear(&mut self, label: &str, l: &Linear) -> Result<GpuLinear> {
        let (in_dim, out_dim) = l.w.dims2()?;
        Ok(GpuLinear {
            w: self.buffer(label, &l.w)?,
            b: self.buffer(label, &l.b)?,
            in_dim: in_dim as u32,
            out_dim: out_dim as u32,
        })
    }

    fn norm(&mut self, label: &str, n: &LayerNormWeights) -> Result<GpuNorm> {
        Ok(GpuNorm {
            w: self.buffer(label, &n.w)?,
            b: self.buffer(label, &n.b)?,
        })
    }
}

impl GpuWeights {
    pub fn upload(ctx: &GpuContext, cfg: &ModelConfig, w: &ModelWeights) -> Result<Self> {
        let layer_norm_eps = cfg.layer_norm_eps;
        let limits = ctx.device.limits();
        let max_binding = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        let mut up = Uploader {
            ctx,
            bytes: 0,
            max_binding,
        };
        let result = ctx.scoped("uploading the weights", || -> Result<GpuWeights> {
            let e = &w.embeddings;
            let word = up.buffer("word embeddings", &e.word)?;
            // no position table (rotary or relative positions): one zero row, every token's
            // position id 0 (word + 0 + 0 is the word row exactly)
            let zero_row;
            let position = match &e.position {
                Some(p) => p,
                None => {
                    zero_row = Tensor::zeros(
                        (1, w.embeddings.word.dim(1)?),
                        candle_core::DType::F32,
                        &candle_core::Device::Cpu,
                    )?;
                    &zero_row
                }
            };
            let position = up.buffer("position embeddings", position)?;
            let token_type = up.buffer("token type embeddings", &e.token_type)?;
            let emb_ln = up.norm("embedding layernorm", &e.ln)?;
            let projection = match &e.projection {
                Some(p) => Some(up.linear("embedding projection", p)?),
                None => None,
            };
            let mut groups = Vec::new();
            for (g, group) in w.groups.iter().enumerate() {
                let mut layers = Vec::new();
                for (k, l) in group.iter().enumerate() {
                    let name = format!("group {g} layer {k}");
                    layers.push(GpuLayer {
                        qkv: up.linear(&format!("{name} qkv"), &l.qkv)?,
                        attn_out: up.linear(&format!("{name} attention output"), &l.attn_out)?,
                        attn_ln: match &l.attn_ln {
                            Some(n) => Some(up.norm(&format!("{name} attention norm"), n)?),
                            None => None,
                        },
                        ffn: up.linear(&format!("{name} ffn"), &l.ffn)?,
                        ffn_out: up.linear(&format!("{name} ffn output"), &l.ffn_out)?,
                        out_ln: up.norm(&format!("{name} output layernorm"), &l.out_ln)?,
                    });
                }
                groups.push(layers);
            }
            Ok(GpuWeights {
                id: w.id,
                word,
                position,
                token_type,
                emb_ln,
                projection,
                groups,
                final_norm: match &w.final_norm {
                    Some(n) => Some(up.norm("final norm", n)?),
                    None => None,
                },
                relative: match &w.relative {
                    Some(r) => Some(up.buffer("relative embeddings", &r.rows(layer_norm_eps)?)?),
                    None => None,
                },
                bytes: up.bytes,
            })
        })?;
        result
    }
}
