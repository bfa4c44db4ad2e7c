//! Running a laid-out plan: the batch's inputs written, the dispatches submitted (broken
//! where an intermediate is copied out), and the results read back.

use super::{no_coop, CopyOut, Dispatch, Plan, RunOutput};
use crate::backend::gpu::context::GpuContext;
use crate::backend::gpu::kernels::Kernels;
use crate::error::{LensError, Result};
use crate::model::{Ablation, EncodedInput};

impl Plan {
    /// Runs the forward pass on `batch` inputs, each at most `n` tokens (padded to `n`). With
    /// `readback`, returns (hidden states, attention maps), each as the whole batch's `[B, ..]`.
    pub fn run(
        &self,
        ctx: &GpuContext,
        kernels: &Kernels,
        inputs: &[&EncodedInput],
        readback: bool,
        spare: &mut Vec<Vec<f32>>,
        (copies, ablate): (&[CopyOut<'_>], &Ablation),
    ) -> Result<RunOutput> {
        let start = web_time::Instant::now();
        ctx.check()?;
        let slot = self.sh.keep_slot as usize;
        let mut keep = vec![1.0f32; slot * self.sh.maps.max(1)];
        for &(j, h) in &ablate.0 {
            if j < self.sh.maps && h < (self.sh.heads as usize) {
                keep[j * slot + h] = 0.0;
            }
        }
        ctx.queue
            .write_buffer(&self.b.head_keep, 0, bytemuck::cast_slice(&keep));
        self.upload_inputs(ctx, inputs)?;
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("forward"),
            });
        // one compute pass, broken only where `copies` take an intermediate out (copies sit
        // between passes)
        let (mut i, mut next) = (0, 0);
        while i < self.dispatches.len() {
            let stop = copies.get(next).map_or(self.dispatches.len(), |c| {
                (c.after + 1).min(self.dispatches.len())
            });
            encode(&mut enc, kernels, &self.dispatches[i..stop])?;
            i = stop;
            while let Some(c) = copies.get(next).filter(|c| c.after < stop) {
                enc.copy_buffer_to_buffer(c.src, c.src_offset, c.dst, c.dst_offset, c.bytes);
                next += 1;
            }
        }
        if readback {
            for j in 0..=self.sh.maps as u64 {
                enc.copy_buffer_to_buffer(
                    &self.b.hidden,
                    j * self.sh.hidden_slot * 4,
                    &self.b.staging_hidden,
                    j * self.sh.hidden_len * 4,
                    self.sh.hidden_len * 4,
                );
            }
            for j in 0..self.sh.maps as u64 {
                enc.copy_buffer_to_buffer(
                    &self.b.probs,
                    j * self.sh.probs_slot * 4,
                    &self.b.staging_probs,
                    j * self.sh.probs_len * 4,
                    self.sh.probs_len * 4,
                );
            }
        }
        ctx.queue.submit([enc.finish()]);
        ctx.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| LensError::Gpu(format!("waiting for the GPU failed: {e}")))?;
        ctx.check()?;
        let gpu_ms = start.elapsed().as_secs_f64() * 1e3;
        if !readback {
            return Ok(RunOutput {
                data: None,
                gpu_ms,
                host_ms: 0.0,
            });
        }
        let hidden = read_back(
            ctx,
            &self.b.staging_hidden,
            self.sh.hidden_len as usize,
            self.sh.maps + 1,
            spare,
        )?;
        let probs = read_back(
            ctx,
            &self.b.staging_probs,
            self.sh.probs_len as usize,
            self.sh.maps,
            spare,
        )?;
        ctx.check()?;
        Ok(RunOutput {
            data: Some((hidden, probs)),
            gpu_ms,
            host_ms: start.elapsed().as_secs_f64() * 1e3 - gpu_ms,
        })
    }
}

/// Records `dispatches` into one compute pass of `enc`.
pub(super) fn encode(
    enc: &mut wgpu::CommandEncoder,
    kernels: &Kernels,
    dispatches: &[Dispatch],
) -> Result<()> {
    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
        label: Some("forward"),
        timestamp_writes: None,
    });
    for d in dispatches {
        pass.set_pipeline(d.kernel.pipeline(kernels).ok_or_else(no_coop)?);
        pass.set_bind_group(0, &d.bind_group, &[]);
        pass.dispatch_workgroups(d.groups.0, d.groups.1, d.groups.2);
    }
    Ok(())
}

impl Plan {
    /// Writes the batch's ids, fed type ids, position ids and key mask, each input's padded
    /// with zeros (masked keys) to the plan's length.
    fn upload_inputs(&self, ctx: &GpuContext, inputs: &[&EncodedInput]) -> Result<()> {
        if inputs.len() != self.batch || inputs.iter().any(|i| i.len() > self.n) {
            return Err(LensError::Gpu(format!(
                "a plan for {} sequences of {} tokens was given {} of up to {}",
                self.batch,
                self.n,
                inputs.len(),
                inputs.iter().map(|i| i.len()).max().unwrap_or(0)
            )));
        }
        let rows = self.batch * self.n;
        let (mut ids, mut types) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
        let (mut positions, mut mask) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
        for input in inputs {
            let len = input.len();
            ids.extend_from_slice(&input.ids);
            let fed = crate::model::config::fed_type_ids(self.token_types, &input.type_ids);
            types.extend_from_slice(&fed);
            match self.no_position_table {
                true => positions.extend(std::iter::repeat_n(0u32, len)),
                false => positions.extend(crate::model::config::position_ids(
                    self.position_offset,
                    &input.ids,
                )),
            }
            mask.extend(std::iter::repeat_n(1.0f32, len));
            let pad = self.n - len;
            ids.extend(std::iter::repeat_n(0u32, pad));
            types.extend(std::iter::repeat_n(0u32, pad));
            positions.extend(std::iter::repeat_n(0u32, pad));
            mask.extend(std::iter::repeat_n(0.0f32, pad));
        }
        for (buf, data) in [
            (&self.b.ids, bytemuck::cast_slice(&ids)),
            (&self.b.type_ids, bytemuck::cast_slice(&types)),
            (&self.b.positions, bytemuck::cast_slice(&positions)),
            (&self.b.activations.mask, bytemuck::cast_slice(&mask)),
        ] {
            ctx.queue.write_buffer(buf, 0, data);
        }
        Ok(())
    }
}

/// Maps a staging buffer, copies out `count` chunks of `chunk` floats, and unmaps it. Vectors
/// in `spare` with enough capacity are reused (their pages are already mapped in).
pub(in crate::backend::gpu) fn read_back(
    ctx: &GpuContext,
    buf: &wgpu::Buffer,
    chunk: usize,
    count: usize,
    spare: &mut Vec<Vec<f32>>,
) -> Result<Vec<Vec<f32>>> {
    let slice = buf.slice(..);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    ctx.device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| LensError::Gpu(format!("waiting for the GPU failed: {e}")))?;
    rx.recv()
        .map_err(|_| LensError::Gpu("the GPU never answered the readback".into()))?
        .map_err(|e| LensError::Gpu(format!("reading results back from the GPU failed: {e}")))?;
    let out = {
        use rayon::prelude::*;
        let view = slice.get_mapped_range().map_err(|e| {
            LensError::Gpu(format!("reading results back from the GPU failed: {e}"))
        })?;
        let floats: &[f32] = bytemuck::cast_slice(&view);
        let mut outs: Vec<Vec<f32>> = (0..count)
            .map(|_| {
                let mut v = crate::backend::take_spare(spare, chunk);
                v.clear();
                v
            })
            .collect();
        // Copy the maps out on every core: one attention map can be tens of MB.
        outs.par_iter_mut()
            .zip(floats.par_chunks_exact(chunk.max(1)))
            .for_each(|(v, src)| v.extend_from_slice(src));
        outs
    };
    buf.unmap();
    Ok(out)
}
