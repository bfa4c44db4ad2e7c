//! The attention map as a component: one layer's attention (a head, the mean or the max of the
//! heads), attention rollout or the value-weighted map, per word piece or per word, with
//! special tokens hidden or not, or the difference of two runs. The Attention tab keeps its
//! [`Options`] (from its settings and the session's layer), computes [`derive`]'s map when they
//! change and draws it; its export and animation and `render --view head|rollout|value-norm`
//! go through [`figure`].

use crate::analysis::maps::{self, MapData, MapKey, ValueMaps};
use crate::colormap::Colormap;
use crate::error::Result;
use crate::figures::{Figure, Theme};
use crate::matrix::Matrix;
use crate::model::Trace;

/// What the map shows (its cache key: [`Options::key`]).
pub use crate::analysis::maps::MapOptions as Options;

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
