//! A batch's corpus statistics reduced on the device (shaders/stats.wgsl) right after its
//! forward pass, from the maps and hidden states the plan holds: per map, the values
//! v = x W_V + b_V again (the fused projection of the map's input), each head's Gram matrix
//! G_h = W_O^h W_O^hᵀ, ‖f_h(x_k)‖ = sqrt(v G_h vᵀ), and the nine statistics; then the batch's
//! total and the JS divergences of every pair of heads. Only the `[9, K]` sums and the
//! `[K, K]` JS sums are read back.

use super::{read_back, Kernel, Plan, Slice, Steps};
use crate::backend::gpu::context::GpuContext;
use crate::backend::gpu::kernels::{flat_groups, Kernels, MatmulParams, StatsEntry, StatsParams};
use crate::backend::gpu::upload::GpuWeights;
use crate::backend::BatchSums;
use crate::error::{LensError, Result};
use crate::model::{Ablation, Activation, EncodedInput, ModelConfig};

/// The statistics per head, as corpus::stats::STATS lists them.
const STATS: usize = 9;

impl Plan {
    /// Runs the batch (`inputs`, each at most `n` tokens, exactly `batch` of them; the first
    /// `real` are counted, the rest fill the batch) without reading its maps back, and reduces
    /// its statistics on the device. `classes[t][k]`: bit 0 [CLS], bit 1 a separator, bit 2
    /// punctuation.
    pub(in crate::backend::gpu) fn statistics(
        &self,
        ctx: &GpuContext,
        kernels: &Kernels,
        (cfg, w): (&ModelConfig, &GpuWeights),
        (inputs, real): (&[&EncodedInput], usize),
        classes: &[Vec<u8>],
    ) -> Result<BatchSums> {
        let (n, b, maps, heads) = (self.n, self.batch, self.maps, self.heads);
        let (h, d) = (cfg.hidden_size as u64, cfg.head_dim() as u64);
        let k_all = maps * heads;
        let max_binding = ctx.device.limits().max_storage_buffer_binding_size / 4;
        if maps as u64 * self.probs_slot > max_binding {
            return Err(LensError::Gpu(format!(
                "a batch's {maps} attention maps are more than one GPU binding holds"
            )));
        }
        self.run(
            ctx,
            kernels,
            inputs,
            false,
            &mut Vec::new(),
            (&[], &Ablation::default()),
        )?;

        let lens: Vec<u32> = (0..b)
            .map(|t| if t < real { inputs[t].len() as u32 } else { 0 })
            .collect();
        let mut flags = vec![0u32; b * n];
        for (t, c) in classes.iter().take(real).enumerate() {
            for (k, &f) in c.iter().take(n).enumerate() {
                flags[t * n + k] = u32::from(f);
            }
        }
        let storage = wgpu::BufferUsages::STORAGE;
        let init = |label: &str, contents: &[u8]| {
            use wgpu::util::DeviceExt;
            ctx.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents,
                    usage: storage,
                })
        };
        let (rows, kk) = ((b * n) as u64, k_all as u64);
        let made = ctx.scoped("allocating the statistics' buffers", || {
            let new =
                |label: &str, floats: u64, usage| super::new_buffer(ctx, label, floats, usage);
            let copy = wgpu::BufferUsages::COPY_SRC;
            let read = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
            (
                init("token classes", bytemuck::cast_slice(&flags)),
                init("lengths", bytemuck::cast_slice(&lens)),
                new("grams", heads as u64 * d * d, storage),
                new("value norms", rows * heads as u64, storage),
                new(
                    "statistics per sequence",
                    b as u64 * STATS as u64 * kk,
                    storage,
                ),
                new("statistics", STATS as u64 * kk, storage | copy),
                new("head JS divergences", kk * kk, storage | copy),
                new("zeros", 4, storage),
                new("statistics readback", STATS as u64 * kk + kk * kk, read),
            )
        })?;
        let (flags_b, lens_b, grams, norms, partial, out, js_b, zeros, staging) = made;

        let (rows32, h4, d4) = (rows as u32, (h / 4) as u32, (d / 4) as u32);
        let params = |map: usize| StatsParams {
            n: n as u32,
            batch: b as u32,
            heads: heads as u32,
            d: d as u32,
            hidden: h as u32,
            map: map as u32,
            k_all: k_all as u32,
            map_stride: self.probs_slot as u32,
        };
        let qkv_s = Slice::whole(&self.activations.qkv, rows * 3 * h);
        let u_s = Slice::whole(&self.activations.ctx, rows * h);
        let grams_s = Slice::whole(&grams, heads as u64 * d * d);
        let norms_s = Slice::whole(&norms, rows * heads as u64);
        let dummy = Slice::whole(&zeros, 4);
        let (flags_s, lens_s) = (
            Slice::whole(&flags_b, rows),
            Slice::whole(&lens_b, b as u64),
        );
        let partial_s = Slice::whole(&partial, b as u64 * STATS as u64 * kk);
        let sums_s = Slice::whole(&out, STATS as u64 * kk);
        let js_s = Slice::whole(&js_b, kk * kk);
        let mut s = Steps::default();
        let mut j = 0usize;
        for outer in 0..cfg.num_hidden_layers {
            for layer in &w.groups[cfg.group_of_layer(outer)] {
                let x = Slice {
                    buf: &self.hidden,
                    offset: j as u64 * self.hidden_slot,
                    len: self.hidden_len,
                };
                // v (and q, k) of the map's input, as the forward pass made them
                s.matmul(x, &layer.qkv, qkv_s, rows32, Activation::Linear);
                // G_h = W_O^h W_O^hᵀ: head h's rows of W_O ([in, out]) times themselves
                let wo = Slice::whole(&layer.attn_out.w, h * h);
                let mut gp =
                    MatmulParams::plain(d as u32, h as u32, d as u32, Activation::Linear, false);
                gp.b_trans = 1;
                (gp.lda, gp.ldb, gp.ldc) = (h4, h4, d4);
                (gp.a_batch, gp.b_batch, gp.c_batch) =
                    (d4 * h as u32, d4 * h as u32, d4 * d as u32);
                s.batched_matmul([wo, wo, grams_s], dummy, gp, heads as u32);
                // u_h = v_h G_h, into [rows, H]
                let mut up =
                    MatmulParams::plain(rows32, d as u32, d as u32, Activation::Linear, false);
                (up.lda, up.ldb, up.ldc, up.a_off) = (3 * h4, d4, h4, 2 * h4);
                (up.a_batch, up.b_batch, up.c_batch) = (d4, d4 * d as u32, d4);
                s.batched_matmul([qkv_s, grams_s, u_s], dummy, up, heads as u32);
                let p = params(j);
                let entry = |e| Kernel::Stats(e);
                s.push_at(
                    entry(StatsEntry::ValueNorms),
                    &p,
                    vec![(1, qkv_s), (2, u_s), (3, norms_s)],
                    flat_groups(rows32 * heads as u32),
                );
                let probs_s = Slice {
                    buf: &self.probs,
                    offset: j as u64 * self.probs_slot,
                    len: self.probs_len,
                };
                s.push_at(
                    entry(StatsEntry::HeadStats),
                    &p,
                    vec![
                        (3, norms_s),
                        (4, probs_s),
                        (5, flags_s),
                        (6, lens_s),
                        (7, partial_s),
                    ],
                    (heads as u32, b as u32, 1),
                );
                j += 1;
            }
        }
        let p = params(0);
        s.push_at(
            Kernel::Stats(StatsEntry::StatsTotal),
            &p,
            vec![(7, partial_s), (8, sums_s)],
            flat_groups((STATS * k_all) as u32),
        );
        let all_probs = Slice::whole(&self.probs, maps as u64 * self.probs_slot);
        s.push_at(
            Kernel::Stats(StatsEntry::HeadJs),
            &p,
            vec![(4, all_probs), (6, lens_s), (9, js_s)],
            (k_all as u32, k_all as u32, 1),
        );
        let (_params, dispatches) = s.bind(ctx, kernels)?;
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("corpus statistics"),
            });
        super::run::encode(&mut enc, kernels, &dispatches)?;
        let (sums_bytes, js_bytes) = (STATS as u64 * kk * 4, kk * kk * 4);
        enc.copy_buffer_to_buffer(&out, 0, &staging, 0, sums_bytes);
        enc.copy_buffer_to_buffer(&js_b, 0, &staging, sums_bytes, js_bytes);
        let total = sums_bytes + js_bytes;
        ctx.queue.submit([enc.finish()]);
        let floats = read_back(ctx, &staging, total as usize / 4, 1, &mut Vec::new())?;
        let data = floats
            .first()
            .ok_or_else(|| LensError::Gpu("the GPU returned no statistics".into()))?;
        let (sums, js) = data.split_at(STATS * k_all);
        Ok(BatchSums {
            sums: sums
                .chunks_exact(k_all)
                .map(|c| c.iter().map(|&v| f64::from(v)).collect())
                .collect(),
            js: js.iter().map(|&v| f64::from(v)).collect(),
            rows: lens.iter().map(|&l| u64::from(l)).sum(),
        })
    }
}
