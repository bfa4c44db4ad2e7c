//! Where a forward pass's intermediates can be copied from: the plan marks, as it records
//! the dispatches, which buffer holds which intermediate after which dispatch ([`Grab`]);
//! `capture.rs` copies them out.

/// The activation buffers an intermediate can be copied from (`Plan::activations`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Src {
    Emb,
    Qkv,
    Scratch,
    Ctx,
    H1,
    Ff,
    /// hidden state 0 (BERT's embedding output)
    Hidden,
}

/// What a grab holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    /// the embedding output `[N, E]`
    Embedded,
    /// the fused projection `[N, 3H]`, bias included
    Qkv,
    /// scaled scores `[heads, N, Np]` (rows padded to a multiple of 4)
    Scores,
    Context,
    AttentionOutput,
    Intermediate,
}

/// Intermediate `what` of map `map` (None: the embeddings) is the first `len` floats of `src`
/// once dispatch `after` has run.
#[derive(Debug, Clone, Copy)]
pub struct Grab {
    pub after: usize,
    pub map: Option<usize>,
    pub what: What,
    pub src: Src,
    pub len: u64,
}
