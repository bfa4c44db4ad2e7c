//! The GPU backend: the ALBERT/BERT forward pass in wgpu compute shaders (shaders/*.wgsl).
//!
//! Weights are uploaded once per model and an ALBERT layer group is one set of buffers used by
//! every layer that shares it. For each token count a [`plan::Plan`] holds the activation
//! buffers, bind groups and the dispatch list; a forward pass is one command encoder and one
//! submit, with every attention map and hidden state copied back to the host.

mod batch;
mod capture;
pub mod context;
pub mod kernels;
mod layout;
mod oneshot;
mod pending;
mod plan;
mod upload;

use crate::backend::Backend;
use crate::error::{LensError, Result};
use crate::model::{Ablation, EncodedInput, ForwardOptions, ModelConfig, ModelWeights, Trace};
pub use context::GpuContext;
use kernels::Kernels;
pub use pending::PendingForward;
use plan::Plan;
use upload::GpuWeights;

/// Device copies kept at once: the app compares two models side by side.
const MAX_CACHED_MODELS: usize = 2;
const MAX_CACHED_PLANS: usize = 4;

pub struct GpuBackend {
    ctx: GpuContext,
    kernels: Kernels,
    models: Vec<GpuWeights>,
    plans: Vec<Plan>,
    /// Host vectors of recycled traces, reused for the next readback.
    spare: Vec<Vec<f32>>,
    /// Fast: the weight products on cooperative matrices (only where the device has them).
    fast: bool,
    /// passes whose attention maps were copied to the host (see [`Self::maps_read_back`])
    maps_read: u64,
}

/// Most f32 values kept in recycled vectors (2 GiB).
const MAX_SPARE_FLOATS: usize = 512 << 20;

/// Timings of one forward pass on the GPU (see `bench`).
#[derive(Debug, Clone, Copy)]
pub struct GpuTiming {
    /// submit -> completion of the compute work alone
    pub compute_ms: f64,
    /// the same plus copying every attention map and hidden state into host memory
    pub with_readback_ms: f64,
    /// of `with_readback_ms`: mapping the staging buffers and copying into host vectors
    pub host_copy_ms: f64,
}

impl GpuBackend {
    /// A backend on a new headless device (CLI, tests, benchmarks).
    pub fn headless() -> Result<Self> {
        Self::with_context(GpuContext::headless()?)
    }

    /// A backend on an existing device (the app passes eframe's).
    pub fn with_context(ctx: GpuContext) -> Result<Self> {
        let kernels = Kernels::new(&ctx)?;
        Ok(GpuBackend {
            ctx,
            kernels,
            models: Vec::new(),
            plans: Vec::new(),
            spare: Vec::new(),
            fast: false,
            maps_read: 0,
        })
    }

    /// How many passes so far copied their attention maps to the host (every forward pass
    /// does; corpus statistics reduced on the device do not).
    pub fn maps_read_back(&self) -> u64 {
        self.maps_read
    }

    /// Sets how the weight products are computed. Fast on a device without cooperative
    /// matrices returns a notice naming the device, and the exact path runs.
    pub fn set_precision(&mut self, precision: crate::backend::Precision) -> Option<String> {
        let want = precision == crate::backend::Precision::Fast;
        self.fast = want && self.kernels.coop.is_some();
        (want && !self.fast).then(|| match &self.kernels.coop_refused {
            Some(why) => format!("{why}: --precision fast runs the exact f32 path"),
            None => format!(
                "{} has no cooperative matrices through wgpu (16x16 f16 with f32 accumulation, \
                 subgroups of 32): --precision fast runs the exact f32 path",
                self.ctx.adapter_name()
            ),
        })
    }

    /// Whether the weight products run on cooperative matrices.
    pub fn is_fast(&self) -> bool {
        self.fast
    }

    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// Bytes of weights on the device for the model with this weights id (shared groups
    /// counted once, as they are stored).
    pub fn weight_bytes(&self, weights_id: u64) -> Option<u64> {
        self.models
            .iter()
            .find(|m| m.id == weights_id)
            .map(|m| m.bytes)
    }

    /// The plan for `batch` sequences of `n` tokens, made and cached on first use (and the
    /// model's weights uploaded).
    fn prepare(
        &mut self,
        cfg: &ModelConfig,
        weights: &ModelWeights,
        (n, batch): (usize, usize),
    ) -> Result<usize> {
        if cfg.head_dim() > kernels::MAX_HEAD_DIM {
            return Err(LensError::Gpu(format!(
                "head size {} is larger than the GPU kernel's {}",
                cfg.head_dim(),
                kernels::MAX_HEAD_DIM
            )));
        }
        if !self.models.iter().any(|m| m.id == weights.id) {
            let up = GpuWeights::upload(&self.ctx, cfg, weights)?;
            if self.models.len() >= MAX_CACHED_MODELS {
                let old = self.models.remove(0);
                self.plans.retain(|p| p.weights_id != old.id);
            }
            self.models.push(up);
        }
        if let Some(i) = self.plans.iter().position(|p| {
            p.weights_id == weights.id && (p.n, p.batch) == (n, batch) && p.fast == self.fast
        }) {
            return Ok(i);
        }
        let model = on_device(&self.models, weights.id)?;
        let plan = Plan::new(&self.ctx, &self.kernels, cfg, model, (n, batch, self.fast))?;
        if self.plans.len() >= MAX_CACHED_PLANS {
            self.plans.remove(0);
        }
        self.plans.push(plan);
        Ok(self.plans.len() - 1)
    }

    /// Runs one forward pass and measures it (for `bench`): compute alone, then with readback.
    pub fn time_forward(
        &mut self,
        cfg: &ModelConfig,
        weights: &ModelWeights,
        input: &EncodedInput,
    ) -> Result<GpuTiming> {
        self.validate_input(cfg, input)?;
        let i = self.prepare(cfg, weights, (input.len(), 1))?;
        let plan = &self.plans[i];
        let compute_ms = plan
            .run(
                &self.ctx,
                &self.kernels,
                &[input],
                false,
                &mut self.spare,
                (&[], &Ablation::default()),
            )?
            .gpu_ms;
        let t = web_time::Instant::now();
        let out = plan.run(
            &self.ctx,
            &self.kernels,
            &[input],
            true,
            &mut self.spare,
            (&[], &Ablation::default()),
        )?;
        let with_readback_ms = t.elapsed().as_secs_f64() * 1e3;
        self.maps_read += 1;
        let host_copy_ms = out.host_ms;
        // as the app does: the previous trace's memory holds the next one
        if let Some((h, a)) = out.data {
            self.spare.extend(h);
            self.spare.extend(a);
        }
        Ok(GpuTiming {
            compute_ms,
            with_readback_ms,
            host_copy_ms,
        })
    }
}

impl Backend for GpuBackend {
    fn name(&self) -> String {
        let fast = if self.fast {
            ", fast: cooperative matrices"
        } else {
            ""
        };
        format!("gpu: {}{fast}", self.ctx.adapter_name())
    }

    fn forward_with(
        &mut self,
        cfg: &ModelConfig,
        weights: &ModelWeights,
        input: &EncodedInput,
        opts: &ForwardOptions,
    ) -> Result<Trace> {
        self.validate_options(cfg, input, opts)?;
        let capture = &opts.capture;
        let i = self.prepare(cfg, weights, (input.len(), 1))?;
        let (out, internals) = if capture.any() {
            let model = on_device(&self.models, weights.id)?;
            let (out, int) = self.plans[i].run_capture(
                &self.ctx,
                &self.kernels,
                (cfg, model),
                input,
                opts,
                &mut self.spare,
            )?;
            (out, Some(Box::new(int)))
        } else {
            let plan = &self.plans[i];
            let no_copies = (&[][..], &opts.ablate);
            let out = plan.run(
                &self.ctx,
                &self.kernels,
                &[input],
                true,
                &mut self.spare,
                no_copies,
            )?;
            (out, None)
        };
        self.maps_read += 1;
        let (hidden_states, attentions) = out
            .data
            .ok_or_else(|| LensError::Gpu("the GPU returned no data".into()))?;
        let mut trace = Trace::from_forward(cfg, input, hidden_states, attentions);
        trace.internals = internals;
        Ok(trace)
    }

    /// Padded batches of one plan (`batch.rs`) for the families with absolute positions;
    /// ModernBERT and DeBERTa one text at a time. Values are not kept.
    fn forward_batch(
        &mut self,
        cfg: &ModelConfig,
        weights: &ModelWeights,
        inputs: &[EncodedInput],
        _keep_values: bool,
    ) -> Result<Vec<Trace>> {
        self.run_batch(cfg, weights, inputs)
    }

    /// Padded batches whose statistics are reduced on the device (`plan/stats.rs`): the
    /// maps never leave it.
    fn batch_statistics(
        &mut self,
        cfg: &ModelConfig,
        weights: &ModelWeights,
        inputs: &[EncodedInput],
        classes: &[Vec<u8>],
    ) -> Result<Option<crate::backend::BatchSums>> {
        self.statistics_batch(cfg, weights, inputs, classes)
    }

    fn recycle(&mut self, trace: Trace) {
        let vectors = trace.attentions.into_iter().chain(trace.hidden_states);
        crate::backend::keep_spare(&mut self.spare, vectors, MAX_SPARE_FLOATS);
    }
}

/// A model's weights among those on the device (uploaded by [`GpuBackend::prepare`]).
fn on_device(models: &[GpuWeights], weights_id: u64) -> Result<&GpuWeights> {
    models
        .iter()
        .find(|m| m.id == weights_id)
        .ok_or_else(|| LensError::Gpu("weights vanished from the GPU cache".into()))
}
