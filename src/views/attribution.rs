//! The attribution view as a component: which input tokens one prediction depends on, by
//! gradient (integrated gradients, gradient × input, gradient norm), beside attention rollout
//! and value-weighted attention from the same position, with the rank correlation of each
//! pair. The Attribution tab keeps the [`Options`], asks the model worker for [`compute`] (the
//! gradients: slow, with progress and Cancel) and draws [`derive`]'s comparison; its export and
//! `render --view attribution` go through [`figure`].

use crate::error::Result;
use crate::figures::{Figure, Theme};
use crate::insight::attribution::{attribute_with, Attribution, Comparison, Method, Target};
use crate::insight::Control;
use crate::matrix::Matrix;
use crate::model::{Ablation, LoadedModel, Trace};

/// What the view shows (the tab's settings, in scenes too).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Options {
    /// the predicted position (None: the first [MASK], else the first ordinary token)
    pub position: Option<usize>,
    pub method: Method,
    /// integrated-gradients steps
    pub steps: usize,
    /// the predicted token attributed (empty: the model's top 1)
    pub target: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            position: None,
            method: Method::IntegratedGradients,
            steps: 50,
            target: String::new(),
        }
    }
}

/// The slow part: the attribution at one position, and the last layer's value-weighted
/// attention of all heads `[N, N]`.
pub struct Computed {
    pub attribution: Attribution,
    pub value_all: Vec<f32>,
}

/// The gradients of `m`'s prediction at `pos` (of `target` as typed, empty: the top 1; `steps`
/// for integrated gradients) on the input `t` ran on, its heads in `ablate` switched off as in
/// that run; and the last layer's value-weighted attention.
pub fn compute(
    m: &LoadedModel,
    t: &Trace,
    (ablate, pos): (&Ablation, usize),
    (target, steps): (&str, usize),
    ctl: &Control,
) -> Result<Computed> {
    let target = Target::from_text(m, pos, target)?;
    let attribution = attribute_with(m, (&t.input(), ablate), target, steps, ctl)?;
    let last = t.attentions.len().saturating_sub(1);
    let (_, value_all) = crate::analysis::value_weighted(&m.config, &m.weights, t, last)?;
    Ok(Computed {
        attribution,
        value_all,
    })
}

/// The comparison shown: `method`'s attribution beside rollout (`rollout`, of `t`) and the
/// value-weighted attention from the same position, with their rank correlations.
pub fn derive(c: &Computed, method: Method, t: &Trace, rollout: &[Vec<f32>]) -> Result<Comparison> {
    Comparison::new(&c.attribution, method, t, rollout, &c.value_all)
}

/// The figure (the tokens shaded by each measure, the correlations) and its numbers.
pub fn figure(
    model: &str,
    comparison: &Comparison,
    theme: &Theme,
) -> Result<(Figure, Option<Matrix>)> {
    super::build(&super::View::Attribution { model, comparison }, theme)
}
