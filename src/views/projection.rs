//! The projection view as a component: the tokens' hidden states laid out in two dimensions
//! (PCA, or t-SNE), one layer's or every layer's with each token's trajectory joined. The
//! Projection tab keeps the mode, colouring and labels as its settings, asks a job for the
//! [`derive`]d projection and draws it; its export and animation and `render --view
//! projection` go through [`figure`] and [`frames`].

use crate::error::Result;
use crate::figures::scenes::{self, ColorBy};
use crate::figures::{Figure, Theme};
use crate::insight::{self, Control, Projection};
use crate::matrix::Matrix;
use crate::model::Trace;

/// How the points are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Style {
    pub color_by: ColorBy,
    /// a label on every point (else on the last state's)
    pub label_all: bool,
}

/// The projection of hidden states `states` (0: the embeddings, l: after layer l) of the
/// tokens `keep` in `t`: PCA, or t-SNE (perplexity 30; progress and cancel on `ctl`).
pub fn derive(
    t: &Trace,
    (states, keep): (&[usize], &[usize]),
    tsne: bool,
    ctl: &Control,
) -> Result<Projection> {
    if tsne {
        insight::project_tsne(t, states, keep, ctl)
    } else {
        insight::project(t, states, keep)
    }
}

/// The figure and the points' coordinates.
pub fn figure(
    model: &str,
    (p, t): (&Projection, &Trace),
    style: Style,
    theme: &Theme,
) -> Result<(Figure, Option<Matrix>)> {
    let view = super::View::Projection {
        model,
        projection: p,
        trace: t,
        color_by: style.color_by,
        label_all: style.label_all,
    };
    super::build(&view, theme)
}

/// The trajectories drawn state by state, on fixed axes: the animation.
pub fn frames(
    model: &str,
    (p, t): (&Projection, &Trace),
    style: Style,
    theme: &Theme,
) -> Vec<Figure> {
    let method = if p.explained.is_empty() {
        "t-SNE"
    } else {
        "PCA"
    };
    let title = format!("{model}: token trajectories through the layers ({method})");
    let by = (style.color_by, style.label_all);
    p.states
        .iter()
        .map(|&s| scenes::projection_upto(&title, p, t, by, Some(s), theme).0)
        .collect()
}
