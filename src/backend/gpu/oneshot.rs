//! Single-kernel entry points: one dispatch of one kernel on host data. The kernel tests check
//! each kernel against a CPU reference through these, and `bench` times the matmul with them.

use super::kernels::{
    pick_variant, variant_fits, workgroups, AttentionParams, MatmulParams, NormParams, VARIANTS,
};
use super::GpuBackend;
use crate::error::{LensError, Result};
use crate::model::Activation;
use std::num::NonZeroU64;
use wgpu::util::DeviceExt;

impl GpuBackend {
    /// Dispatches `pipeline` once with `params` at binding 0, `inputs` (read-only storage) at
    /// bindings 1.., then zeroed outputs of the given float lengths, then `trailing` inputs;
    /// returns the outputs.
    fn oneshot(
        &self,
        pipeline: &wgpu::ComputePipeline,
        params: &[u8],
        [inputs, trailing]: [&[&[u8]]; 2],
        outputs: &[usize],
        groups: (u32, u32, u32),
    ) -> Result<Vec<Vec<f32>>> {
        let ctx = &self.ctx;
        let dev = &ctx.device;
        let result = ctx.scoped("running a kernel", || -> Result<Vec<Vec<f32>>> {
            let ubuf = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("params"),
                contents: params,
                usage: wgpu::BufferUsages::UNIFORM,
            });
            let upload = |d: &&[u8]| {
                let mut bytes = d.to_vec();
                bytes.resize(bytes.len().max(16), 0);
                dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("input"),
                    contents: &bytes,
                    usage: wgpu::BufferUsages::STORAGE,
                })
            };
            let trail: Vec<wgpu::Buffer> = trailing.iter().map(upload).collect();
            let ins: Vec<wgpu::Buffer> = inputs.iter().map(upload).collect();
            let sizes: Vec<u64> = outputs.iter().map(|&n| (n.max(4) * 4) as u64).collect();
            let make = |size: u64, usage| {
                dev.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("output"),
                    size,
                    usage,
                    mapped_at_creation: false,
                })
            };
            let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
            let readback = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
            let outs: Vec<wgpu::Buffer> = sizes.iter().map(|&n| make(n, storage)).collect();
            let staging: Vec<wgpu::Buffer> = sizes.iter().map(|&n| make(n, readback)).collect();
            let mut entries = vec![wgpu::BindGroupEntry {
                binding: 0,
                resource: ubuf.as_entire_binding(),
            }];
            for (i, b) in ins
                .iter()
                .chain(outs.iter())
                .chain(trail.iter())
                .enumerate()
            {
                entries.push(wgpu::BindGroupEntry {
                    binding: i as u32 + 1,
                    resource: b.as_entire_binding(),
                });
            }
            let bg = dev.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &pipeline.get_bind_group_layout(0),
                entries: &entries,
            });
            let mut enc = dev.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                pass.set_pipeline(pipeline);
                pass.set_bind_group(0, &bg, &[]);
                pass.dispatch_workgroups(groups.0, groups.1, groups.2);
            }
            for ((o, s), &size) in outs.iter().zip(&staging).zip(&sizes) {
                enc.copy_buffer_to_buffer(o, 0, s, 0, size);
            }
            ctx.queue.submit([enc.finish()]);
            staging
                .iter()
                .zip(outputs)
                .map(|(s, &n)| {
                    let v = super::plan::read_back(ctx, s, n, 1, &mut Vec::new())?;
                    Ok(v.into_iter().next().unwrap_or_default())
                })
                .collect()
        })?;
        result
    }

    /// C = act(A · B + bias) for row-major A [m, k], B [k, n], with the kernel the forward
    /// pass would pick.
    #[allow(clippy::too_many_arguments)]
    pub fn matmul(
        &self,
        a: &[f32],
        b: &[f32],
        bias: Option<&[f32]>,
        m: usize,
        k: usize,
        n: usize,
        act: Activation,
    ) -> Result<Vec<f32>> {
        let v = pick_variant(m as u32, k as u32, n as u32);
        self.matmul_variant(a, b, bias, (m, k, n), act, v)
    }

    /// As [`Self::matmul`] with a chosen kernel variant (index into `kernels::VARIANTS`).
    pub fn matmul_variant(
        &self,
        a: &[f32],
        b: &[f32],
        bias: Option<&[f32]>,
        dims: (usize, usize, usize),
        act: Activation,
        tile: usize,
    ) -> Result<Vec<f32>> {
        self.matmul_on(Some(tile), [a, b], bias, dims, act)
    }

    /// [`Self::matmul`] on the cooperative-matrix kernel (`--precision fast`: f16 inputs, f32
    /// accumulation); an error where the device has none.
    pub fn matmul_fast(
        &self,
        a: &[f32],
        b: &[f32],
        bias: Option<&[f32]>,
        dims: (usize, usize, usize),
        act: Activation,
    ) -> Result<Vec<f32>> {
        self.matmul_on(None, [a, b], bias, dims, act)
    }

    /// The pipeline and workgroup counts of matmul kernel `which` (None: the cooperative-matrix
    /// kernel) for an `m x k x n` product, or why it cannot do it.
    fn matmul_kernel(
        &self,
        which: Option<usize>,
        (m, k, n): (usize, usize, usize),
    ) -> Result<(&wgpu::ComputePipeline, (u32, u32, u32))> {
        let (m, k, n) = (m as u32, k as u32, n as u32);
        match which {
            Some(tile) => {
                if !VARIANTS.get(tile).is_some_and(|v| variant_fits(*v, k, n)) {
                    return Err(LensError::Gpu(format!(
                        "matmul kernel {tile} cannot do {m}x{k}x{n}"
                    )));
                }
                let (gx, gy) = workgroups(VARIANTS[tile].tile, m, n);
                Ok((&self.kernels.matmul[tile], (gx, gy, 1)))
            }
            None => {
                let coop = self.kernels.coop.as_ref().ok_or_else(|| {
                    LensError::Gpu(format!(
                        "{} has no cooperative matrices",
                        self.ctx.adapter_name()
                    ))
                })?;
                Ok((coop, super::kernels::coop_workgroups(m, n)))
            }
        }
    }

    fn matmul_on(
        &self,
        which: Option<usize>,
        [a, b]: [&[f32]; 2],
        bias: Option<&[f32]>,
        (m, k, n): (usize, usize, usize),
        act: Activation,
    ) -> Result<Vec<f32>> {
        if a.len() != m * k || b.len() != k * n || bias.is_some_and(|x| x.len() != n) {
            return Err(LensError::Gpu("matmul operands do not fit m, k, n".into()));
        }
        let (pipeline, groups) = self.matmul_kernel(which, (m, k, n))?;
        let p = MatmulParams::plain(m as u32, k as u32, n as u32, act, bias.is_some());
        let zeros = vec![0f32; n];
        let out = self.oneshot(
            pipeline,
            bytemuck::bytes_of(&p),
            [
                &[
                    bytemuck::cast_slice(a),
                    bytemuck::cast_slice(b),
                    bytemuck::cast_slice(bias.unwrap_or(&zeros)),
                ],
                &[],
            ],
            &[m * n],
            groups,
        )?;
        Ok(out.into_iter().next().unwrap_or_default())
    }

    /// Attention for one sequence: returns (probabilities [heads, n, n], context [n, H]).
    pub fn attention(
        &self,
        qkv: &[f32],
        mask: &[f32],
        n: usize,
        heads: usize,
        head_dim: usize,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let hidden = heads * head_dim;
        if qkv.len() != n * 3 * hidden || mask.len() != n || head_dim > super::kernels::MAX_HEAD_DIM
        {
            return Err(LensError::Gpu(
                "attention operands do not fit n, heads, head_dim".into(),
            ));
        }
        let p = AttentionParams {
            n: n as u32,
            heads: heads as u32,
            head_dim: head_dim as u32,
            hidden: hidden as u32,
            scale: 1.0 / (head_dim as f32).sqrt(),
            _pad: [0; 3],
        };
        let mut out = self.oneshot(
            &self.kernels.attention,
            bytemuck::bytes_of(&p),
            [
                &[bytemuck::cast_slice(qkv), bytemuck::cast_slice(mask)],
                &[bytemuck::cast_slice(&vec![1.0f32; heads])],
            ],
            &[heads * n * n, n * hidden],
            (n as u32, heads as u32, 1),
        )?;
        let ctx = out.pop().unwrap_or_default();
        let probs = out.pop().unwrap_or_default();
        Ok((probs, ctx))
    }

    /// LayerNorm(x + residual) * w + b over rows of `dim`.
    pub fn add_layernorm(
        &self,
        x: &[f32],
        residual: &[f32],
        w: &[f32],
        b: &[f32],
        dim: usize,
        eps: f32,
    ) -> Result<Vec<f32>> {
        let rows = x.len() / dim.max(1);
        let p = NormParams::new(rows as u32, dim as u32, eps);
        let out = self.oneshot(
            &self.kernels.add_layernorm,
            bytemuck::bytes_of(&p),
            [
                &[
                    bytemuck::cast_slice(x),
                    bytemuck::cast_slice(residual),
                    bytemuck::cast_slice(w),
                    bytemuck::cast_slice(b),
                ],
                // the layer bias the split-K path adds here (unused: has_bias is 0)
                &[bytemuck::cast_slice(&[0f32; 4])],
            ],
            &[x.len()],
            (rows as u32, 1, 1),
        )?;
        Ok(out.into_iter().next().unwrap_or_default())
    }

    /// LayerNorm(word[id] + position[positions[t]] + token_type[type]) * w + b for each token t.
    #[allow(clippy::too_many_arguments)]
    pub fn embedding(
        &self,
        (ids, positions): (&[u32], &[u32]),
        type_ids: &[u32],
        word: &[f32],
        position: &[f32],
        token_type: &[f32],
        w: &[f32],
        b: &[f32],
        eps: f32,
    ) -> Result<Vec<f32>> {
        let dim = w.len();
        let n = ids.len();
        let p = NormParams::new(n as u32, dim as u32, eps);
        let out = self.oneshot(
            &self.kernels.embedding,
            bytemuck::bytes_of(&p),
            [
                &[
                    bytemuck::cast_slice(ids),
                    bytemuck::cast_slice(type_ids),
                    bytemuck::cast_slice(word),
                    bytemuck::cast_slice(position),
                    bytemuck::cast_slice(token_type),
                    bytemuck::cast_slice(w),
                    bytemuck::cast_slice(b),
                ],
                &[bytemuck::cast_slice(positions)],
            ],
            &[n * dim],
            (n as u32, 1, 1),
        )?;
        Ok(out.into_iter().next().unwrap_or_default())
    }

    /// Milliseconds per `m x k x n` matmul, from `iters` dispatches in one submit (after one
    /// warm-up submit), with kernel variant `variant` (None: the cooperative-matrix kernel).
    pub fn time_matmul(
        &self,
        (m, k, n): (usize, usize, usize),
        iters: usize,
        variant: Option<usize>,
    ) -> Result<f64> {
        let ctx = &self.ctx;
        let dev = &ctx.device;
        let (pipeline, (gx, gy, _)) = self.matmul_kernel(variant, (m, k, n))?;
        let p = MatmulParams::plain(m as u32, k as u32, n as u32, Activation::Linear, true);
        let make = |floats: usize, usage| {
            dev.create_buffer(&wgpu::BufferDescriptor {
                label: Some("bench"),
                size: (floats.max(4) * 4) as u64,
                usage,
                mapped_at_creation: false,
            })
        };
        let ms = ctx.scoped("timing a matmul", || -> Result<f64> {
            let st = wgpu::BufferUsages::STORAGE;
            let (a, b, bias, c) = (
                make(m * k, st),
                make(k * n, st),
                make(n, st),
                make(m * n, st),
            );
            let ubuf = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("params"),
                contents: bytemuck::bytes_of(&p),
                usage: wgpu::BufferUsages::UNIFORM,
            });
            fn bind(i: u32, buf: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
                wgpu::BindGroupEntry {
                    binding: i,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: buf,
                        offset: 0,
                        size: NonZeroU64::new(buf.size()),
                    }),
                }
            }
            let bg = dev.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &pipeline.get_bind_group_layout(0),
                entries: &[
                    bind(0, &ubuf),
                    bind(1, &a),
                    bind(2, &b),
                    bind(3, &bias),
                    bind(4, &c),
                ],
            });
            let run = |count: usize| -> Result<f64> {
                let t = web_time::Instant::now();
                let mut enc = dev.create_command_encoder(&Default::default());
                {
                    let mut pass = enc.begin_compute_pass(&Default::default());
                    pass.set_pipeline(pipeline);
                    pass.set_bind_group(0, &bg, &[]);
                    for _ in 0..count {
                        pass.dispatch_workgroups(gx, gy, 1);
                    }
                }
                ctx.queue.submit([enc.finish()]);
                dev.poll(wgpu::PollType::wait_indefinitely())
                    .map_err(|e| LensError::Gpu(format!("waiting for the GPU failed: {e}")))?;
                Ok(t.elapsed().as_secs_f64() * 1e3)
            };
            run(1)?;
            Ok(run(iters.max(1))? / iters.max(1) as f64)
        })?;
        ms
    }
}
