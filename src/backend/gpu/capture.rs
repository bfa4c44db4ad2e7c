//! Copying a forward pass's intermediates out of the GPU (`trace --internals`, the Explain tab):
//! the plan marks, as it lays out the dispatches, which buffer holds which intermediate after
//! which dispatch ([`Grab`]); a capturing run ends the compute pass there, copies the buffer
//! into one staging buffer, and goes on. The activation buffers are reused by every layer, so
//! the copy has to happen before the next layer overwrites them.

use super::context::GpuContext;
use super::kernels::Kernels;
use super::plan::{read_back, CopyOut, Plan, RunOutput};
use super::upload::GpuWeights;
use crate::error::{LensError, Result};
use crate::model::{EncodedInput, ForwardOptions, Internals, MapInternals, ModelConfig};

pub use super::layout::{Grab, Src, What};

impl Plan {
    fn source(&self, src: Src) -> &wgpu::Buffer {
        match src {
            Src::Emb => &self.b.activations.emb,
            Src::Qkv => &self.b.activations.qkv,
            Src::Scratch => &self.b.activations.scratch,
            Src::Ctx => &self.b.activations.ctx,
            Src::H1 => &self.b.activations.h1,
            Src::Ff => &self.b.activations.ff,
            Src::Hidden => &self.b.hidden,
        }
    }

    /// A forward pass with readback that also copies out the intermediates `capture` asks for
    /// (the embeddings always), and the word-embedding rows of the input from the table on the
    /// device.
    pub fn run_capture(
        &self,
        ctx: &GpuContext,
        kernels: &Kernels,
        (cfg, w): (&ModelConfig, &GpuWeights),
        input: &EncodedInput,
        opts: &ForwardOptions,
        spare: &mut Vec<Vec<f32>>,
    ) -> Result<(RunOutput, Internals)> {
        let capture = &opts.capture;
        let n = input.len();
        let e = cfg.embedding_size;
        let grabs: Vec<&Grab> = self
            .grabs
            .iter()
            .filter(|g| g.map.is_none_or(|j| capture.wants(j)))
            .collect();
        let word_floats = (n * e) as u64;
        let total = word_floats + grabs.iter().map(|g| g.len).sum::<u64>();
        let staging = ctx.scoped("allocating the intermediates' readback", || {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("intermediates readback"),
                size: (total * 4).max(16),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        let row = (e * 4) as u64;
        // the word rows first (any time will do: the table never changes)
        let mut copies: Vec<CopyOut<'_>> = input
            .ids
            .iter()
            .enumerate()
            .map(|(t, &id)| CopyOut {
                after: 0,
                src: &w.word,
                src_offset: u64::from(id) * row,
                dst: &staging,
                dst_offset: t as u64 * row,
                bytes: row,
            })
            .collect();
        let mut at = word_floats;
        let mut placed = Vec::with_capacity(grabs.len());
        for g in &grabs {
            copies.push(CopyOut {
                after: g.after,
                src: self.source(g.src),
                src_offset: 0,
                dst: &staging,
                dst_offset: at * 4,
                bytes: g.len * 4,
            });
            placed.push((at as usize, *g));
            at += g.len;
        }
        copies.sort_by_key(|c| c.after);
        let out = self.run(ctx, kernels, &[input], true, spare, (&copies, &opts.ablate))?;
        let mut all = read_back(ctx, &staging, total as usize, 1, &mut Vec::new())?;
        let data = all
            .pop()
            .ok_or_else(|| LensError::Gpu("the GPU returned no intermediates".into()))?;
        Ok((out, self.unpack(cfg, n, &data, &placed)))
    }

    /// The staging buffer's contents as [`Internals`].
    fn unpack(
        &self,
        cfg: &ModelConfig,
        n: usize,
        data: &[f32],
        placed: &[(usize, &Grab)],
    ) -> Internals {
        let e = cfg.embedding_size;
        let (heads, d) = (cfg.num_attention_heads, cfg.head_dim());
        let np = n.div_ceil(4) * 4;
        let mut int = Internals {
            embedding_size: e,
            intermediate_size: cfg.intermediate_size,
            word: data[..n * e].to_vec(),
            embedded: Vec::new(),
            maps: vec![None; cfg.num_attention_maps()],
        };
        for &(at, g) in placed {
            let v = &data[at..at + g.len as usize];
            let Some(j) = g.map else {
                int.embedded = v.to_vec();
                continue;
            };
            let m = int.maps[j].get_or_insert_with(MapInternals::default);
            match g.what {
                What::Embedded => int.embedded = v.to_vec(),
                What::Qkv => {
                    [m.queries, m.keys, m.values] = MapInternals::split_qkv(v, n, heads, d)
                }
                What::Scores => {
                    m.scores = v
                        .chunks_exact(np)
                        .flat_map(|row| &row[..n])
                        .copied()
                        .collect();
                }
                What::Context => m.context = v.to_vec(),
                What::AttentionOutput => m.attention_output = v.to_vec(),
                What::Intermediate => m.intermediate = v.to_vec(),
            }
        }
        if !self.sh.matmul_attention {
            // the fused attention kernel never stores the scores: they are computed here from
            // the queries and keys the GPU made
            for m in int.maps.iter_mut().flatten() {
                m.scores = MapInternals::scores_of(&m.queries, &m.keys, n, heads, d);
            }
        }
        int
    }
}
