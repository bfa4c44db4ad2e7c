//! The Explain walk-through as a component: one head of one layer, step by step, with the
//! model's own numbers (from the token's id through the embedding, Q, K and V, the scores, the
//! softmax with a temperature what-if, the context, the feed-forward and the sharing of weights,
//! to the prediction). The Explain tab keeps the [`Options`], asks the model worker for the
//! [`Walk`] ([`derive`], from a run that kept the layer's intermediates) and draws its steps;
//! its export and `render --view explain` go through [`figure`].

use crate::error::Result;
use crate::figures::{Figure, Theme};
use crate::insight::explain::{Selection, Step, Walk};
use crate::matrix::Matrix;
use crate::model::{LoadedModel, Trace};

/// What the walk-through follows (the tab's settings, in scenes too).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Options {
    /// the attention map (layer application), from 0
    pub map: usize,
    pub head: usize,
    /// the query token (None: the first [MASK], else the first ordinary token)
    pub position: Option<usize>,
    /// the softmax temperature of the what-if (1: the model)
    pub temperature: f32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            map: 0,
            head: 0,
            position: None,
            temperature: 1.0,
        }
    }
}

/// The selection `o` makes in `t`, kept inside it (the window's sliders never leave it).
pub fn selection(t: &Trace, o: &Options) -> Selection {
    Selection {
        map: o.map.min(t.attentions.len().saturating_sub(1)),
        head: o.head.min(t.num_heads.saturating_sub(1)),
        pos: t.focus(o.position),
    }
}

/// The walk-through of `sel` in `m`'s run `t` (which kept that map's intermediates), titled by
/// `name`; with `compare`, that model's sharing of weights too.
pub fn derive(
    (m, name): (&LoadedModel, &str),
    t: &Trace,
    sel: Selection,
    compare: Option<(&LoadedModel, &str)>,
) -> Result<Walk> {
    let mut walk = Walk::new(m, t, sel)?;
    walk.sharing.model = name.to_string();
    if let Some((c, name)) = compare {
        walk.compare_with(c, name)?;
    }
    Ok(walk)
}

/// Every step in one column (`step` None), or one step with its numbers; the softmax what-if at
/// `temperature`.
pub fn figure(
    model: &str,
    walk: &Walk,
    (step, temperature): (Option<Step>, f32),
    theme: &Theme,
) -> Result<(Figure, Option<Matrix>)> {
    let view = super::View::Explain {
        model,
        walk,
        step,
        temperature,
    };
    super::build(&view, theme)
}
