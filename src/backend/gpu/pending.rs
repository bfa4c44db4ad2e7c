//! A forward pass read back without blocking: the page's GPU path. A browser maps a buffer
//! only between frames, and nothing on a page's one thread may wait for the device, so the
//! pass is submitted, the page draws, and the trace is taken once the mapping has answered.
//! The desktop's wgpu answers a mapping only when polled ([`GpuBackend::poll`]).

use super::plan::{take_readback, Pending};
use super::GpuBackend;
use crate::error::Result;
use crate::model::Trace;
use crate::model::{Ablation, Capture, EncodedInput, ForwardOptions, ModelConfig, ModelWeights};

/// One text's forward pass on the device, its hidden states and maps being mapped for reading.
pub struct PendingForward {
    input: EncodedInput,
    /// (hidden states, attention maps)
    readback: [Pending; 2],
}

impl GpuBackend {
    /// Submits one text's forward pass (the heads in `ablate` switched off) and starts reading
    /// it back: take the trace with [`PendingForward::finish`] once it is
    /// [`PendingForward::ready`]. No other pass may run on this backend until then (its staging
    /// buffers are being mapped).
    pub fn begin_forward(
        &mut self,
        cfg: &ModelConfig,
        weights: &ModelWeights,
        input: &EncodedInput,
        ablate: &Ablation,
    ) -> Result<PendingForward> {
        let opts = ForwardOptions {
            capture: Capture::Nothing,
            ablate: ablate.clone(),
        };
        crate::backend::Backend::validate_options(self, cfg, input, &opts)?;
        let i = self.prepare(cfg, weights, (input.len(), 1))?;
        let plan = &self.plans[i];
        plan.submit(&self.ctx, &self.kernels, &[input], true, (&[], ablate))?;
        let readback = plan.start_readback();
        self.maps_read += 1;
        Ok(PendingForward {
            input: input.clone(),
            readback,
        })
    }

    /// Lets the device answer what was submitted (a page's browser does this between frames by
    /// itself); `wait`: until it has done all of it (never on a page).
    pub fn poll(&self, wait: bool) {
        let how = match wait {
            true => wgpu::PollType::wait_indefinitely(),
            false => wgpu::PollType::Poll,
        };
        let _ = self.ctx.device.poll(how);
    }
}

impl PendingForward {
    /// Whether the pass's results can be taken.
    pub fn ready(&self) -> bool {
        self.readback.iter().all(Pending::ready)
    }

    /// The pass's trace (call once [`Self::ready`]); the staging buffers are unmapped either way.
    pub fn finish(self, gpu: &mut GpuBackend, cfg: &ModelConfig) -> Result<Trace> {
        let (hidden, maps) = take_readback(self.readback, &gpu.ctx, &mut gpu.spare)?;
        Ok(Trace::from_forward(cfg, &self.input, hidden, maps))
    }
}
