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
        self.submit(ctx, kernels, inputs, readback, (copies, ablate))?;
        wait(ctx)?;
        let gpu_ms = start.elapsed().as_secs_f64() * 1e3;
        if !readback {
            return Ok(RunOutput {
                data: None,
                gpu_ms,
                host_ms: 0.0,
            });
        }
        let readback = self.start_readback();
        wait(ctx)?;
        let data = take_readback(readback, ctx, spare)?;
        Ok(RunOutput {
            data: Some(data),
            gpu_ms,
            host_ms: start.elapsed().as_secs_f64() * 1e3 - gpu_ms,
        })
    }

    /// Writes the inputs and submits the pass (with `readback`, the copies of every hidden
    /// state and map into the staging buffers too), without waiting for it.
    pub(in crate::backend::gpu) fn submit(
        &self,
        ctx: &GpuContext,
        kernels: &Kernels,
        inputs: &[&EncodedInput],
        readback: bool,
        (copies, ablate): (&[CopyOut<'_>], &Ablation),
    ) -> Result<()> {
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
        Ok(())
    }

    /// Maps the staging buffers of a submitted pass (hidden states, maps): read them with
    /// [`Pending::take`] once [`Pending::ready`].
    pub(in crate::backend::gpu) fn start_readback(&self) -> [Pending; 2] {
        [
            Pending::start(
                &self.b.staging_hidden,
                self.sh.hidden_len as usize,
                self.sh.maps + 1,
            ),
            Pending::start(
                &self.b.staging_probs,
                self.sh.probs_len as usize,
                self.sh.maps,
            ),
        ]
    }
}

/// The hidden states and maps of [`Plan::start_readback`]'s mappings, once answered; both
/// buffers are unmapped whatever happens (one left mapped would fail the next pass).
pub(in crate::backend::gpu) fn take_readback(
    [hidden, probs]: [Pending; 2],
    ctx: &GpuContext,
    spare: &mut Vec<Vec<f32>>,
) -> Result<super::Readback> {
    let hidden = hidden.take(ctx, spare);
    let probs = probs.take(ctx, spare);
    Ok((hidden?, probs?))
}

/// Waits until the device has done everything submitted (the desktop's blocking path).
fn wait(ctx: &GpuContext) -> Result<()> {
    ctx.device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| LensError::Gpu(format!("waiting for the GPU failed: {e}")))?;
    ctx.check()
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

/// A staging buffer being mapped for reading: `count` chunks of `chunk` floats. The browser
/// maps a buffer only between frames, so a page starts the mapping, draws, and takes the data
/// once [`Pending::ready`]; the desktop waits for the device in between.
pub(in crate::backend::gpu) struct Pending {
    buf: wgpu::Buffer,
    chunk: usize,
    count: usize,
    /// the mapping's answer, once it came
    answer:
        std::sync::Arc<std::sync::Mutex<Option<std::result::Result<(), wgpu::BufferAsyncError>>>>,
}

impl Pending {
    /// Starts mapping `buf` (written by a pass already submitted).
    pub fn start(buf: &wgpu::Buffer, chunk: usize, count: usize) -> Self {
        let answer = std::sync::Arc::new(std::sync::Mutex::new(None));
        let slot = answer.clone();
        buf.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            if let Ok(mut a) = slot.lock() {
                *a = Some(r);
            }
        });
        Pending {
            buf: buf.clone(),
            chunk,
            count,
            answer,
        }
    }

    /// Whether the mapping has answered (the data can be taken).
    pub fn ready(&self) -> bool {
        self.answer.lock().map(|a| a.is_some()).unwrap_or(true)
    }

    /// The mapped data as `count` host vectors (those in `spare` with room reused: their pages
    /// are already mapped in), and the buffer unmapped. Call once [`Self::ready`].
    pub fn take(self, ctx: &GpuContext, spare: &mut Vec<Vec<f32>>) -> Result<Vec<Vec<f32>>> {
        let out = self.copy_out(spare);
        // unmapped whatever happened: a buffer left mapped (or mapping) fails the next pass
        self.buf.unmap();
        ctx.check()?;
        out
    }

    fn copy_out(&self, spare: &mut Vec<Vec<f32>>) -> Result<Vec<Vec<f32>>> {
        use rayon::prelude::*;
        let failed = |e: &dyn std::fmt::Display| {
            LensError::Gpu(format!("reading results back from the GPU failed: {e}"))
        };
        let answer = self.answer.lock().ok().and_then(|mut a| a.take());
        match answer {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(failed(&e)),
            None => return Err(LensError::Gpu("the GPU never answered the readback".into())),
        }
        let view = self
            .buf
            .slice(..)
            .get_mapped_range()
            .map_err(|e| failed(&e))?;
        let floats: &[f32] = bytemuck::cast_slice(&view);
        let mut outs: Vec<Vec<f32>> = (0..self.count)
            .map(|_| {
                let mut v = crate::backend::take_spare(spare, self.chunk);
                v.clear();
                v
            })
            .collect();
        // Copy the maps out on every core: one attention map can be tens of MB.
        outs.par_iter_mut()
            .zip(floats.par_chunks_exact(self.chunk.max(1)))
            .for_each(|(v, src)| v.extend_from_slice(src));
        Ok(outs)
    }
}

/// Maps a staging buffer, waits for it, copies out `count` chunks of `chunk` floats, and unmaps
/// it (vectors in `spare` with enough capacity are reused).
pub(in crate::backend::gpu) fn read_back(
    ctx: &GpuContext,
    buf: &wgpu::Buffer,
    chunk: usize,
    count: usize,
    spare: &mut Vec<Vec<f32>>,
) -> Result<Vec<Vec<f32>>> {
    let pending = Pending::start(buf, chunk, count);
    wait(ctx)?;
    pending.take(ctx, spare)
}
