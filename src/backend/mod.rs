//! Backends run a model's forward pass and return a [`Trace`]. The CPU backend (candle) is the
//! reference every other backend is tested against.

pub mod cpu;
pub mod gpu;

use crate::error::Result;
use crate::model::{EncodedInput, ModelConfig, ModelWeights, Trace};

pub use cpu::CpuBackend;
pub use gpu::GpuBackend;

pub trait Backend {
    /// A short name for the status bar and CLI ("cpu (candle)", "gpu: <adapter>").
    fn name(&self) -> String;

    /// Runs the model on one tokenized input, returning every hidden state and attention map.
    fn forward(
        &mut self,
        config: &ModelConfig,
        weights: &ModelWeights,
        input: &EncodedInput,
    ) -> Result<Trace>;
}
