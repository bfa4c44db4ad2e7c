//! Backends run a model's forward pass and return a [`Trace`]. The CPU backend (host buffers and
//! the `gemm` crate; the embeddings in candle) is the reference every other backend is tested
//! against.

pub mod cpu;
pub mod gpu;

use crate::error::{LensError, Result};
use crate::model::{Capture, EncodedInput, ForwardOptions, ModelConfig, ModelWeights, Trace};

pub use cpu::CpuBackend;
pub use gpu::GpuBackend;

pub trait Backend {
    /// A short name for the status bar and CLI ("cpu", "gpu: <adapter>").
    fn name(&self) -> String;

    /// Runs the model on one tokenized input, returning every hidden state and attention map.
    fn forward(
        &mut self,
        config: &ModelConfig,
        weights: &ModelWeights,
        input: &EncodedInput,
    ) -> Result<Trace> {
        self.forward_with(config, weights, input, &ForwardOptions::default())
    }

    /// [`Backend::forward`], also keeping the intermediates `capture` asks for
    /// (`trace.internals`; see [`crate::model::internals`] for their definitions).
    fn forward_capture(
        &mut self,
        config: &ModelConfig,
        weights: &ModelWeights,
        input: &EncodedInput,
        capture: &Capture,
    ) -> Result<Trace> {
        let opts = ForwardOptions::capture(capture.clone());
        self.forward_with(config, weights, input, &opts)
    }

    /// The forward pass with everything [`ForwardOptions`] can ask: intermediates kept, heads
    /// switched off.
    fn forward_with(
        &mut self,
        config: &ModelConfig,
        weights: &ModelWeights,
        input: &EncodedInput,
        opts: &ForwardOptions,
    ) -> Result<Trace>;

    /// Runs many inputs, each result equal to [`Backend::forward`]'s (within 1e-5): a backend
    /// that can pads them to the longest and runs them as one batch, padded keys masked as
    /// transformers' `attention_mask` does. With `keep_values`, a backend that has every map's
    /// values x·W_V + b_V at hand keeps them in `trace.internals` (only `values`: corpus mode's
    /// norm-based statistics); others may leave them out. The default runs the inputs one at a
    /// time and keeps no values.
    fn forward_batch(
        &mut self,
        config: &ModelConfig,
        weights: &ModelWeights,
        inputs: &[EncodedInput],
        _keep_values: bool,
    ) -> Result<Vec<Trace>> {
        inputs
            .iter()
            .map(|i| self.forward(config, weights, i))
            .collect()
    }

    /// The corpus statistics of `inputs` reduced where the attention maps are, without
    /// reading the maps back (only the sums leave the device); None where this backend has no
    /// such path, and the caller computes them from [`Backend::forward_batch`]'s traces.
    /// `classes[t][k]` is token k of text t: bit 0 [CLS], bit 1 a separator, bit 2
    /// punctuation (as `corpus::stats` defines them).
    fn batch_statistics(
        &mut self,
        _config: &ModelConfig,
        _weights: &ModelWeights,
        _inputs: &[EncodedInput],
        _classes: &[Vec<u8>],
    ) -> Result<Option<BatchSums>> {
        Ok(None)
    }

    /// Hands back a trace that is no longer needed so that its memory can hold the next one.
    /// Fresh memory costs a page fault per 4 KiB on first touch, which dominates the copy of
    /// a long input's attention maps; the app recycles each trace it replaces.
    fn recycle(&mut self, _trace: Trace) {}

    /// [`Backend::validate_input`], and that the heads `opts` switches off exist.
    fn validate_options(
        &self,
        cfg: &ModelConfig,
        input: &EncodedInput,
        opts: &ForwardOptions,
    ) -> Result<()> {
        self.validate_input(cfg, input)?;
        opts.ablate
            .check(cfg.num_attention_maps(), cfg.num_attention_heads)
            .map_err(LensError::Unsupported)
    }

    /// Checks what a forward pass needs of its input (not empty, within the positions, ids
    /// inside the vocabulary and segment types); every backend's `forward` calls it first.
    fn validate_input(&self, cfg: &ModelConfig, input: &EncodedInput) -> Result<()> {
        let n = input.ids.len();
        if n == 0 {
            return Err(LensError::EmptyInput);
        }
        if n > cfg.max_len() {
            return Err(LensError::Unsupported(format!(
                "{n} tokens is more than the model's {} positions",
                cfg.max_len()
            )));
        }
        if input.type_ids.len() != n {
            return Err(LensError::Compute(
                "token type ids and ids differ in length".into(),
            ));
        }
        if let Some(&bad) = input.ids.iter().find(|&&i| i as usize >= cfg.vocab_size) {
            return Err(LensError::Unsupported(format!(
                "token id {bad} is outside the model's vocabulary of {}",
                cfg.vocab_size
            )));
        }
        if let Some(&bad) = cfg
            .fed_type_ids(&input.type_ids)
            .iter()
            .find(|&&i| i as usize >= cfg.type_vocab_size)
        {
            return Err(LensError::Unsupported(format!(
                "segment id {bad} is outside the model's {} segment types",
                cfg.type_vocab_size
            )));
        }
        Ok(())
    }
}

/// A vector with room for `len` floats: a kept one from `spare` when one is big enough (see
/// [`keep_spare`]; it still holds its old values, for the caller to clear or overwrite), else a
/// new empty one.
pub(crate) fn take_spare(spare: &mut Vec<Vec<f32>>, len: usize) -> Vec<f32> {
    match spare.iter().position(|v| v.capacity() >= len) {
        Some(i) => spare.swap_remove(i),
        None => Vec::with_capacity(len),
    }
}

/// Keeps `vectors` in `spare` for the next pass's outputs (their pages already mapped in),
/// unless that would hold more than `max` floats in all.
pub(crate) fn keep_spare(
    spare: &mut Vec<Vec<f32>>,
    vectors: impl Iterator<Item = Vec<f32>>,
    max: usize,
) {
    let vectors: Vec<Vec<f32>> = vectors.collect();
    let kept: usize = spare.iter().map(Vec::capacity).sum();
    let incoming: usize = vectors.iter().map(Vec::capacity).sum();
    if kept + incoming <= max {
        spare.extend(vectors);
    }
}

/// A batch's corpus statistics as sums, what `corpus::stats::HeadStats` adds up: `sums[s][a]`
/// statistic s of head a (map · heads + head) summed over every query of the batch; `js`
/// `[K, K]`, the JS divergences in bits of every pair of heads' rows summed the same way;
/// `rows` the queries.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchSums {
    pub sums: Vec<Vec<f64>>,
    pub js: Vec<f64>,
    pub rows: u64,
}

impl BatchSums {
    /// No queries yet, for `k` heads of `stats` statistics.
    pub fn zeros(stats: usize, k: usize) -> Self {
        BatchSums {
            sums: vec![vec![0.0; k]; stats],
            js: vec![0.0; k * k],
            rows: 0,
        }
    }

    /// Adds another part's sums (of the same heads).
    pub fn add(&mut self, part: &BatchSums) {
        for (a, p) in self.sums.iter_mut().zip(&part.sums) {
            a.iter_mut().zip(p).for_each(|(x, y)| *x += y);
        }
        self.js.iter_mut().zip(&part.js).for_each(|(x, y)| *x += y);
        self.rows += part.rows;
    }
}

/// Which backend the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    /// The GPU when a hardware adapter exists, else the CPU.
    Auto,
    Cpu,
    /// The GPU even if it is a software adapter (lavapipe); the CPU if there is none.
    Gpu,
}

/// How the GPU computes the weight products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// f32 throughout: every number within the project's tolerances of transformers (the
    /// default).
    #[default]
    Exact,
    /// The weight products on cooperative matrices (tensor cores): f16 inputs, f32
    /// accumulation. Faster where the GPU has them, and off by the error that f16 rounding
    /// gives; the attention, softmax, LayerNorm and activations stay f32.
    Fast,
}

/// A GPU backend that falls back to the CPU reference when the GPU is missing or fails
/// (device lost, out of memory, a shader error): the run still succeeds, with a warning.
pub struct FallbackBackend {
    gpu: Option<GpuBackend>,
    cpu: CpuBackend,
    /// Why the GPU is not (or no longer) in use, for the status bar / CLI.
    pub notice: Option<String>,
}

impl FallbackBackend {
    /// What a failed GPU pass tells the user (also the status notice); a lost device is let
    /// go, so that later passes go straight to the CPU (the page's passes, stepped outside the
    /// backend, report theirs here too).
    pub fn gpu_failed(&mut self, msg: &str) -> String {
        let lost = self
            .gpu
            .as_ref()
            .is_some_and(|g| g.context().check().is_err())
            || msg.contains("lost");
        if lost {
            self.gpu = None;
        }
        let why = format!("the GPU backend failed ({msg}); this result comes from the CPU backend");
        self.notice = Some(why.clone());
        why
    }

    /// The backend for `choice`, on a headless device of its own.
    pub fn new(choice: BackendChoice) -> Self {
        let ctx = match choice {
            // a page has no device of its own (see `GpuContext::headless`): its analyses
            // compute on the CPU
            _ if cfg!(target_arch = "wasm32") => None,
            BackendChoice::Cpu => None,
            BackendChoice::Auto | BackendChoice::Gpu => Some(gpu::GpuContext::headless()),
        };
        Self::on(choice, ctx)
    }

    /// The backend for `choice` on `ctx` (a headless device, or the window's own), or the CPU
    /// with a notice saying why not: no device, or (for `Auto`) only a software adapter.
    pub fn on(choice: BackendChoice, ctx: Option<Result<gpu::GpuContext>>) -> Self {
        let mut notice = None;
        let unavailable = |e: &dyn std::fmt::Display| {
            Some(format!("GPU unavailable ({e}); using the CPU backend"))
        };
        let gpu = match (choice, ctx) {
            (BackendChoice::Cpu, _) | (_, None) => None,
            // decide before compiling any pipeline
            (BackendChoice::Auto, Some(Ok(ctx))) if ctx.is_software() => {
                notice = Some(format!(
                    "only a software GPU adapter ({}) was found; using the CPU backend (pass --backend gpu, or ?backend=gpu in a page, to use it anyway)",
                    ctx.adapter_name()
                ));
                None
            }
            (_, Some(Ok(ctx))) => match GpuBackend::with_context(ctx) {
                Ok(g) => Some(g),
                Err(e) => {
                    notice = unavailable(&e);
                    None
                }
            },
            (_, Some(Err(e))) => {
                notice = unavailable(&e);
                None
            }
        };
        FallbackBackend {
            gpu,
            cpu: CpuBackend::new(),
            notice,
        }
    }

    /// Wraps an existing GPU backend (the app's, on eframe's device).
    pub fn with_gpu(gpu: Option<GpuBackend>) -> Self {
        FallbackBackend {
            gpu,
            cpu: CpuBackend::new(),
            notice: None,
        }
    }

    pub fn gpu(&mut self) -> Option<&mut GpuBackend> {
        self.gpu.as_mut()
    }

    /// The GPU for a blocking pass: none on a page, whose GPU answers only between frames (the
    /// page's passes go through [`GpuBackend::begin_forward`]; the rest computes on the CPU).
    fn blocking_gpu(&mut self) -> Option<&mut GpuBackend> {
        self.gpu.as_mut().filter(|_| !cfg!(target_arch = "wasm32"))
    }

    /// The name of the backend a blocking pass runs on (the CPU's on a page).
    pub fn blocking_name(&self) -> String {
        match &self.gpu {
            Some(g) if !cfg!(target_arch = "wasm32") => g.name(),
            _ => self.cpu.name(),
        }
    }

    /// Sets the GPU's precision. Fast where there is no GPU or no cooperative matrices gives a
    /// notice (also kept in `notice`) and the exact path.
    pub fn set_precision(&mut self, precision: Precision) -> Option<String> {
        let said = match &mut self.gpu {
            Some(g) => g.set_precision(precision),
            None if precision == Precision::Fast => Some(
                "--precision fast needs a GPU with cooperative matrices; the CPU computes in f32"
                    .to_string(),
            ),
            None => None,
        };
        if let Some(s) = &said {
            self.notice = Some(s.clone());
        }
        said
    }
}

impl Backend for FallbackBackend {
    fn name(&self) -> String {
        match &self.gpu {
            Some(g) => g.name(),
            None => self.cpu.name(),
        }
    }

    fn forward_with(
        &mut self,
        config: &ModelConfig,
        weights: &ModelWeights,
        input: &EncodedInput,
        opts: &ForwardOptions,
    ) -> Result<Trace> {
        if let Some(g) = self.blocking_gpu() {
            match g.forward_with(config, weights, input, opts) {
                Ok(t) => return Ok(t),
                Err(crate::LensError::Gpu(msg)) => {
                    let why = self.gpu_failed(&msg);
                    let mut t = self.cpu.forward_with(config, weights, input, opts)?;
                    t.warnings.push(why);
                    return Ok(t);
                }
                Err(e) => return Err(e),
            }
        }
        self.cpu.forward_with(config, weights, input, opts)
    }

    fn forward_batch(
        &mut self,
        config: &ModelConfig,
        weights: &ModelWeights,
        inputs: &[EncodedInput],
        keep_values: bool,
    ) -> Result<Vec<Trace>> {
        if let Some(g) = self.blocking_gpu() {
            match g.forward_batch(config, weights, inputs, keep_values) {
                Ok(t) => return Ok(t),
                Err(crate::LensError::Gpu(msg)) => {
                    let why = self.gpu_failed(&msg);
                    let mut ts = self
                        .cpu
                        .forward_batch(config, weights, inputs, keep_values)?;
                    for t in &mut ts {
                        t.warnings.push(why.clone());
                    }
                    return Ok(ts);
                }
                Err(e) => return Err(e),
            }
        }
        self.cpu.forward_batch(config, weights, inputs, keep_values)
    }

    fn batch_statistics(
        &mut self,
        config: &ModelConfig,
        weights: &ModelWeights,
        inputs: &[EncodedInput],
        classes: &[Vec<u8>],
    ) -> Result<Option<BatchSums>> {
        if let Some(g) = self.blocking_gpu() {
            match g.batch_statistics(config, weights, inputs, classes) {
                Ok(sums) => return Ok(sums),
                // the caller computes them from the CPU's traces
                Err(crate::LensError::Gpu(msg)) => {
                    self.gpu_failed(&msg);
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    fn recycle(&mut self, trace: Trace) {
        if let Some(g) = &mut self.gpu {
            g.recycle(trace);
        }
    }
}

#[cfg(test)]
mod tests {
    /// The app runs inference on a worker thread that owns the backend.
    #[test]
    fn backends_can_move_to_a_worker_thread() {
        fn is_send<T: Send>() {}
        is_send::<super::CpuBackend>();
        is_send::<super::GpuBackend>();
        is_send::<super::FallbackBackend>();
        is_send::<crate::model::LoadedModel>();
        is_send::<crate::model::Trace>();
    }
}
