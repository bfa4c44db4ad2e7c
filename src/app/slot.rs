//! The two model slots of a session, what the UI knows of the model in each, and the key of
//! an opening (below the session, the worker and the page, which all speak of them).

use crate::model::ModelSource;

/// Which loaded model: the one the views show, or the second one (the comparison: the
/// shared-vs-unshared panel, model-vs-model differences).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ModelSlot {
    Main,
    Compare,
}

/// What the UI shows about a loaded model.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub source: ModelSource,
    pub summary: String,
    pub model_type: crate::model::ModelType,
    pub has_mlm: bool,
    /// the fine-tuned head, when the model has one
    pub task: Option<crate::model::task::TaskSpec>,
    pub warnings: Vec<String>,
    /// an identity for the tokenizer ([`crate::model::LensTokenizer::identity`]), to tell
    /// whether two models tokenize alike
    pub tokenizer_id: u64,
    /// the parameter accounting, from the loaded tensors
    pub params: crate::params::Loaded,
    pub arch: crate::params::Arch,
    /// attention heads per layer
    pub heads: usize,
}

/// An opening of a model: its source, and which request it answers (opening the same source
/// again reads it again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenKey {
    pub(in crate::app) source: ModelSource,
    pub(in crate::app) asked: u64,
}
