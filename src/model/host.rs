//! Tensors on the host as a checkpoint reader fills them: [`HostTensor`] (converted to f32) and
//! [`TensorMap`] (every tensor by name, within the value budget the config allows). The readers
//! of each file format (`tensors` for safetensors, `torch_pickle` for `pytorch_model.bin`) both
//! fill these, so neither reader depends on the other's module for them.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// A float tensor read from a checkpoint, converted to f32, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
    /// The dtype stored in the file ("F32", "F16", "BF16", ...).
    pub stored_dtype: &'static str,
}

impl HostTensor {
    pub fn numel(&self) -> usize {
        self.data.len()
    }
}

/// All tensors of a checkpoint by name, plus the names of non-float tensors that were skipped.
#[derive(Debug)]
pub struct TensorMap {
    pub tensors: BTreeMap<String, HostTensor>,
    pub non_float: Vec<String>,
    /// The files the tensors came from, for messages.
    pub files: Vec<PathBuf>,
    /// How many f32 values the checkpoint may expand to in all (from the config: see
    /// [`crate::model::ModelConfig::value_budget`]); reading stops with an error past it.
    budget: u64,
    spent: u64,
}

/// The budget of a map made without a config: 2^28 values (1 GiB as f32).
const DEFAULT_BUDGET: u64 = 1 << 28;

impl Default for TensorMap {
    fn default() -> Self {
        Self::with_budget(DEFAULT_BUDGET)
    }
}

impl TensorMap {
    /// An empty map that accepts at most `values` f32 values in all.
    pub fn with_budget(values: u64) -> Self {
        TensorMap {
            tensors: BTreeMap::new(),
            non_float: Vec::new(),
            files: Vec::new(),
            budget: values,
            spent: 0,
        }
    }

    /// Values the map may still take.
    pub fn values_left(&self) -> u64 {
        self.budget - self.spent
    }

    /// Reserves `n` values before they are allocated, or says why not.
    pub fn spend(&mut self, n: u64) -> std::result::Result<(), String> {
        self.check(n)?;
        self.spent += n;
        Ok(())
    }

    /// Whether `n` more values fit the budget (nothing is reserved).
    pub fn check(&self, n: u64) -> std::result::Result<(), String> {
        if n > self.values_left() {
            return Err(format!(
                "the checkpoint holds more than {} values in all, far more than the model its config.json describes (is this the right file, or a corrupt one?)",
                self.budget
            ));
        }
        Ok(())
    }
}
