//! A fine-tuned task head's weights ([`super::super::task`] runs them).

use super::{LayerNormWeights, Linear};
use crate::model::task_spec::TaskSpec;

/// A task head's weights.
#[derive(Debug, Clone)]
pub struct TaskHead {
    pub spec: TaskSpec,
    /// sequence classification's dense layer on the first token (BERT's pooler)
    pub pooler: Option<Linear>,
    /// the activation after it (the family's: tanh, ReLU for DistilBERT, GELU for ELECTRA)
    pub pooler_act: crate::model::activation::Activation,
    /// ModernBERT's norm after the activation
    pub norm: Option<LayerNormWeights>,
    /// which rows the dense layer reads
    pub rows: HeadRows,
    /// classifier or qa_outputs, stored `[H, outputs]`
    pub out: Linear,
}

/// The rows of the last hidden state a head's dense layer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadRows {
    /// the first token's (BERT's pooler, the sequence classifiers)
    First,
    /// the mean over the tokens (ModernBERT's `classifier_pooling` "mean")
    Mean,
    /// every token's, each on its own (taggers, QA, ELECTRA's discriminator)
    Each,
}
