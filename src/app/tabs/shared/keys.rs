//! What the Shared tab's results were made for: the keys of its jobs and caches.

use super::params_table::MoreKey;
use crate::colormap::Colormap;
use crate::insight::JsMode;

/// What the comparison model's run was made for: the input (its sequence number) and the
/// comparison model (its generation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct CompareKey {
    pub input: u64,
    pub model_gen: u64,
}

/// What the what-if ran for: the input, the main model (its generation), the repetitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RepeatKey {
    pub input: u64,
    pub model_gen: u64,
    pub repeats: Vec<usize>,
}

/// What the JS matrices were made for: the main trace (its generation), the comparison run,
/// the mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct JsKey {
    pub trace_gen: u64,
    pub compare: Option<CompareKey>,
    pub mode: JsMode,
}

/// What Figure 1's lines were made from: the main trace, the comparison run, the what-if, the
/// parameter table's further models, and whether special tokens are hidden.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fig1Key {
    pub trace_gen: u64,
    pub compare: Option<CompareKey>,
    pub repeats: Option<RepeatKey>,
    pub more: Option<MoreKey>,
    pub hide_special: bool,
}

/// What a what-if thumbnail was drawn from: the what-if, its repetitions, the colormap and
/// the shared scale's top (as bits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ThumbKey {
    pub what_if: RepeatKey,
    pub repeats: usize,
    pub colormap: Colormap,
    pub top: u32,
}
