//! The model view as a component: every layer × head of attention as thumbnails. The
//! Attention tab draws it from the run (its colouring from the tab's settings); its export and
//! animation and `render --view model` go through [`figure`].

use crate::error::Result;
use crate::figures::scenes::GridStyle;
use crate::figures::{Figure, Theme};
use crate::matrix::Matrix;
use crate::model::Trace;

/// The grid of `trace` titled by `model`: the tokens `keep` (special tokens left out or not),
/// rows renormalised or not, coloured by `style`.
pub fn figure(
    model: &str,
    (trace, keep): (&Trace, &[usize]),
    (renormalise, style): (bool, GridStyle),
    theme: &Theme,
) -> Result<(Figure, Option<Matrix>)> {
    let view = super::View::Model {
        model,
        trace,
        keep,
        renormalise,
        style,
    };
    super::build(&view, theme)
}
