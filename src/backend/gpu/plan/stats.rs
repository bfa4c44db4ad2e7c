//! A batch's corpus statistics reduced on the device (shaders/stats.wgsl) right after its
//! forward pass, from the maps and hidden states the plan holds: per map, the values
//! v = x W_V + b_V again (the fused projection of the map's input), each head's Gram matrix
//! G_h = W_O^h W_O^hᵀ, ‖f_h(x_k)‖ = sqrt(v G_h vᵀ), and the nine statistics; then the batch's
//! total and the JS divergences of every pair of heads. Only the `[9, K]` sums and the
//! `[K, K]` JS sums are read back.

use super::{read_back, Kernel, Plan, Slice, Steps};
use crate::backend::gpu::context::GpuContext;
use crate::backend::gpu::kernels::{flat_groups, Kernels, MatmulParams, StatsEntry, StatsParams};
use crate::backend::gpu::upload::{GpuLayer, GpuWeights};
use crate::backend::BatchSums;
use crate::error::{LensError, Result};
use crate::model::{Ablation, Activation, EncodedInput, ModelConfig};

/// The statistics per head, as corpus::stats::STATS lists them.
const STATS: u64 = 9;

/// The statistics' own buffers, for one batch.
struct Buffers {
    /// `[B, N]` token classes (bit 0 [CLS], bit 1 separator, bit 2 punctuation)
    flags: wgpu::Buffer,
    /// `[B]` tokens counted per sequence (0: a filler)
    lens: wgpu::Buffer,
    /// `[heads, d, d]` the current map's Gram matrices
    grams: wgpu::Buffer,
    /// `[B, heads, N]` the current map's value norms
    norms: wgpu::Buffer,
    /// `[B, 9, K]` per sequence, `[9, K]` in all, `[K, K]` the JS sums
    partial: wgpu::Buffer,
    sums: wgpu::Buffer,
    js: wgpu::Buffer,
    zeros: wgpu::Buffer,
    staging: wgpu::Buffer,
}

/// Sizes: sequences, tokens per sequence, heads, head size, hidden size, K = maps · heads.
#[derive(Clone, Copy)]
struct Dims {
    b: u64,
    n: u64,
    heads: u64,
    d: u64,
    h: u64,
    k: u64,
}

impl Dims {
    /// The kernels' uniform for map `map`, maps `map_stride` floats apart.
    fn params(self, map: usize, map_stride: u64) -> StatsParams {
        StatsParams {
            n: self.n as u32,
            batch: self.b as u32,
            heads: self.heads as u32,
            d: self.d as u32,
            hidden: self.h as u32,
            map: map as u32,
            k_all: self.k as u32,
            map_stride: map_stride as u32,
        }
    }
}

impl Buffers {
    fn new(ctx: &GpuContext, dm: Dims, (flags, lens): (&[u32], &[u32])) -> Result<Self> {
        let storage = wgpu::BufferUsages::STORAGE;
        let out = storage | wgpu::BufferUsages::COPY_SRC;
        let read = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
        let init = |label: &str, contents: &[u8]| {
            use wgpu::util::DeviceExt;
            ctx.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents,
                    usage: storage,
                })
        };
        let new = |label: &str, floats: u64, usage| super::new_buffer(ctx, label, floats, usage);
        let (rows, k) = (dm.b * dm.n, dm.k);
        ctx.scoped("allocating the statistics' buffers", || Buffers {
            flags: init("token classes", bytemuck::cast_slice(flags)),
            lens: init("lengths", bytemuck::cast_slice(lens)),
            grams: new("grams", dm.heads * dm.d * dm.d, storage),
            norms: new("value norms", rows * dm.heads, storage),
            partial: new("statistics per sequence", dm.b * STATS * k, storage),
            sums: new("statistics", STATS * k, out),
            js: new("head JS divergences", k * k, out),
            zeros: new("zeros", 4, storage),
            staging: new("statistics readback", STATS * k + k * k, read),
        })
    }
}

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
        let (n, b, maps) = (self.n, self.batch, self.sh.maps);
        let dm = Dims {
            b: b as u64,
            n: n as u64,
            heads: self.sh.heads,
            d: cfg.head_dim() as u64,
            h: cfg.hidden_size as u64,
            k: maps as u64 * self.sh.heads,
        };
        let max_binding = ctx.device.limits().max_storage_buffer_binding_size / 4;
        if maps as u64 * self.sh.probs_slot > max_binding {
            return Err(LensError::Gpu(format!(
                "a batch's {maps} attention maps are more than one GPU binding holds"
            )));
        }
        let no_copies = (&[][..], &Ablation::default());
        self.run(ctx, kernels, inputs, false, &mut Vec::new(), no_copies)?;

        let lens: Vec<u32> = (0..b)
            .map(|t| if t < real { inputs[t].len() as u32 } else { 0 })
            .collect();
        let mut flags = vec![0u32; b * n];
        for (t, c) in classes.iter().take(real).enumerate() {
            for (k, &f) in c.iter().take(n).enumerate() {
                flags[t * n + k] = u32::from(f);
            }
        }
        let bufs = Buffers::new(ctx, dm, (&flags, &lens))?;
        let steps = self.record_statistics((cfg, w), &bufs, dm);
        let (_params, dispatches) = steps.bind(ctx, kernels)?;
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("corpus statistics"),
            });
        super::run::encode(&mut enc, kernels, &dispatches)?;
        let (sums_bytes, js_bytes) = (STATS * dm.k * 4, dm.k * dm.k * 4);
        enc.copy_buffer_to_buffer(&bufs.sums, 0, &bufs.staging, 0, sums_bytes);
        enc.copy_buffer_to_buffer(&bufs.js, 0, &bufs.staging, sums_bytes, js_bytes);
        ctx.queue.submit([enc.finish()]);
        let total = (sums_bytes + js_bytes) as usize / 4;
        let floats = read_back(ctx, &bufs.staging, total, 1, &mut Vec::new())?;
        let data = floats
            .first()
            .ok_or_else(|| LensError::Gpu("the GPU returned no statistics".into()))?;
        let (sums, js) = data.split_at((STATS * dm.k) as usize);
        Ok(BatchSums {
            sums: sums
                .chunks_exact(dm.k as usize)
                .map(|c| c.iter().map(|&v| f64::from(v)).collect())
                .collect(),
            js: js.iter().map(|&v| f64::from(v)).collect(),
            rows: lens.iter().map(|&l| u64::from(l)).sum(),
        })
    }

    /// The statistics' dispatches: per map its value norms and nine statistics, then the
    /// batch's total and the JS divergences.
    fn record_statistics<'a>(
        &'a self,
        (cfg, w): (&ModelConfig, &'a GpuWeights),
        bufs: &'a Buffers,
        dm: Dims,
    ) -> Steps<'a> {
        let rows = dm.b * dm.n;
        let params = |map: usize| dm.params(map, self.sh.probs_slot);
        let mut s = Steps::default();
        let mut j = 0usize;
        for outer in 0..cfg.num_hidden_layers {
            for layer in &w.groups[cfg.group_of_layer(outer)] {
                self.value_norms(&mut s, (layer, j), bufs, dm);
                let probs = Slice {
                    buf: &self.b.probs,
                    offset: j as u64 * self.sh.probs_slot,
                    len: self.sh.probs_len,
                };
                let storage = vec![
                    (3, Slice::whole(&bufs.norms, rows * dm.heads)),
                    (4, probs),
                    (5, Slice::whole(&bufs.flags, rows)),
                    (6, Slice::whole(&bufs.lens, dm.b)),
                    (7, Slice::whole(&bufs.partial, dm.b * STATS * dm.k)),
                ];
                let groups = (dm.heads as u32, dm.b as u32, 1);
                s.push_at(
                    Kernel::Stats(StatsEntry::HeadStats),
                    &params(j),
                    storage,
                    groups,
                );
                j += 1;
            }
        }
        let total = vec![
            (7, Slice::whole(&bufs.partial, dm.b * STATS * dm.k)),
            (8, Slice::whole(&bufs.sums, STATS * dm.k)),
        ];
        let groups = flat_groups((STATS * dm.k) as u32);
        s.push_at(
            Kernel::Stats(StatsEntry::StatsTotal),
            &params(0),
            total,
            groups,
        );
        let js = vec![
            (
                4,
                Slice::whole(&self.b.probs, self.sh.maps as u64 * self.sh.probs_slot),
            ),
            (6, Slice::whole(&bufs.lens, dm.b)),
            (9, Slice::whole(&bufs.js, dm.k * dm.k)),
        ];
        let groups = (dm.k as u32, dm.k as u32, 1);
        s.push_at(Kernel::Stats(StatsEntry::HeadJs), &params(0), js, groups);
        s
    }

    /// ‖f_h(x_k)‖ of map `j` into `bufs.norms`: v (and q, k) of the map's input as the forward
    /// pass made them, G_h = W_O^h W_O^hᵀ (head h's rows of W_O, stored [in, out], times
    /// themselves), u_h = v_h G_h, then sqrt(u · v) per row and head.
    fn value_norms<'a>(
        &'a self,
        s: &mut Steps<'a>,
        (layer, j): (&'a GpuLayer, usize),
        bufs: &'a Buffers,
        dm: Dims,
    ) {
        let rows = dm.b * dm.n;
        let (rows32, h, d) = (rows as u32, dm.h as u32, dm.d as u32);
        let (h4, d4) = (h / 4, d / 4);
        let qkv = Slice::whole(&self.b.activations.qkv, rows * 3 * dm.h);
        let u = Slice::whole(&self.b.activations.ctx, rows * dm.h);
        let grams = Slice::whole(&bufs.grams, dm.heads * dm.d * dm.d);
        let dummy = Slice::whole(&bufs.zeros, 4);
        let x = Slice {
            buf: &self.b.hidden,
            offset: j as u64 * self.sh.hidden_slot,
            len: self.sh.hidden_len,
        };
        s.matmul(x, &layer.qkv, qkv, rows32, Activation::Linear);
        let wo = Slice::whole(&layer.attn_out.w, dm.h * dm.h);
        let mut gp = MatmulParams::plain(d, h, d, Activation::Linear, false);
        gp.b_trans = 1;
        (gp.lda, gp.ldb, gp.ldc) = (h4, h4, d4);
        (gp.a_batch, gp.b_batch, gp.c_batch) = (d4 * h, d4 * h, d4 * d);
        s.batched_matmul([wo, wo, grams], dummy, gp, dm.heads as u32);
        let mut up = MatmulParams::plain(rows32, d, d, Activation::Linear, false);
        (up.lda, up.ldb, up.ldc, up.a_off) = (3 * h4, d4, h4, 2 * h4);
        (up.a_batch, up.b_batch, up.c_batch) = (d4, d4 * d, d4);
        s.batched_matmul([qkv, grams, u], dummy, up, dm.heads as u32);
        let norms = Slice::whole(&bufs.norms, rows * dm.heads);
        s.push_at(
            Kernel::Stats(StatsEntry::ValueNorms),
            &dm.params(j, self.sh.probs_slot),
            vec![(1, qkv), (2, u), (3, norms)],
            flat_groups(rows32 * dm.heads as u32),
        );
    }
}
