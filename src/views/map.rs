//! The attention map as a component: one layer's attention (a head, the mean or the max of the
//! heads), attention rollout or the value-weighted map, per word piece or per word, with
//! special tokens hidden or not, or the difference of two runs. The Attention tab keeps its
//! [`Options`] (from its settings and the session's layer), computes [`derive`]'s map when they
//! change and draws it; its export and animation and `render --view head|rollout|value-norm`
//! go through [`figure`].

use crate::analysis::maps::{self, MapData, MapKey, ValueMaps};
use crate::analysis::{HeadSel, Measure};
use crate::colormap::Colormap;
use crate::error::Result;
use crate::figures::{Figure, Theme};
use crate::matrix::Matrix;
use crate::model::Trace;

/// What the map shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// the attention map (layer application), from 0
    pub layer: usize,
    pub head: HeadSel,
    pub measure: Measure,
    pub hide_special: bool,
    /// with special tokens hidden, each row renormalised to sum to 1
    pub renormalise: bool,
    /// one 0–1 colour scale (±1 for a difference) instead of the map's own range
    pub shared_scale: bool,
    pub log: bool,
    /// the runs given are merged to words
    pub words: bool,
}

impl Options {
    /// The map's cache key: these options and the generations of the runs it is computed from
    /// (the trace, the difference's second run, the value-weighted maps).
    pub fn key(&self, trace_gen: u64, diff_gen: Option<u64>, value_gen: u64) -> MapKey {
        MapKey {
            trace_gen,
            diff_gen,
            value_gen,
            layer: self.layer,
            head: self.head,
            measure: self.measure,
            hide_special: self.hide_special,
            renormalise: self.renormalise,
            shared_scale: self.shared_scale,
            log: self.log,
            words: self.words,
        }
    }
}

/// The map of `key` in the run (`trace` and its rollout), with the value-weighted maps where
/// the measure is theirs; with `diff`, the run minus that one; or why there is none.
pub fn derive(
    (trace, rollout): (&Trace, &[Vec<f32>]),
    value: Option<&ValueMaps>,
    diff: Option<(&Trace, &[Vec<f32>])>,
    key: &MapKey,
) -> std::result::Result<MapData, maps::Missing> {
    maps::compute(trace, rollout, value, diff, key)
}

/// The heatmap titled by `model`, and its matrix.
pub fn figure(
    model: &str,
    data: &MapData,
    colormap: Colormap,
    theme: &Theme,
) -> Result<(Figure, Option<Matrix>)> {
    super::build(
        &super::View::Map {
            model,
            data,
            colormap,
        },
        theme,
    )
}
