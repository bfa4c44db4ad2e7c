//! The view registry: every view the app shows and saves, described by what it is built from
//! (traces and analysis results, no UI), and one [`build`] that turns a view into its figure
//! and, where it has one, its matrix. Every tab's Export menu, `albert-lens render` and the
//! tests come through here, so a view looks the same wherever it is saved from.

pub mod attribution;
pub mod evaluation;
pub mod explain;
pub mod figure1;
pub mod grid;
pub mod js;
pub mod lens;
pub mod links;
pub mod map;
pub mod mixing;
pub mod neighbours;
pub mod parameters;
pub mod prediction;
pub mod projection;
pub mod query_key;

use crate::analysis::maps::MapData;
use crate::colormap::Colormap;
use crate::error::Result;
use crate::figures::explain as explain_figures;
use crate::figures::scenes::{self, ColorBy, Figure1Line, GridStyle};
use crate::figures::{Figure, Theme};
use crate::insight::attribution::Comparison;
use crate::insight::explain::{Step, Walk};
use crate::insight::{Projection, VocabAnswer};
use crate::matrix::Matrix;
use crate::model::Trace;

/// One view and everything it is drawn from. `model` is the model's name as the title shows it.
pub enum View<'a> {
    /// a heatmap: one head, the mean or max of the heads, rollout, value norms, a difference
    Map {
        model: &'a str,
        data: &'a MapData,
        colormap: Colormap,
    },
    /// every layer × head of attention as thumbnails
    Model {
        model: &'a str,
        trace: &'a Trace,
        /// the token positions shown (special tokens left out or not)
        keep: &'a [usize],
        renormalise: bool,
        style: GridStyle,
    },
    /// the ALBERT paper's Figure 1 on `text`, one line per model or what-if run
    Figure1 {
        text: &'a str,
        lines: &'a [Figure1Line],
    },
    /// a PCA or t-SNE of hidden states (`projection.states`), with trajectories across states
    Projection {
        model: &'a str,
        projection: &'a Projection,
        trace: &'a Trace,
        color_by: ColorBy,
        label_all: bool,
    },
    /// a word's nearest neighbours in one model's input embeddings
    Neighbours {
        query: &'a str,
        answer: &'a VocabAnswer,
    },
    /// the cross-layer Jensen–Shannon distances of one model's attention
    Js {
        data: &'a js::Data,
        colormap: Colormap,
    },
    /// the parameter accounting of the paper's Tables 1, 3 and 4
    Params,
    /// the Explain walk-through: one step (with its numbers), or every step as one column
    Explain {
        model: &'a str,
        walk: &'a Walk,
        step: Option<Step>,
        temperature: f32,
    },
    /// a prediction's gradient attribution beside attention to the same position
    Attribution {
        model: &'a str,
        comparison: &'a Comparison,
    },
    /// token links: query and key columns joined by lines (one colour per overlaid head)
    Links {
        spec: &'a crate::figures::links::LinksSpec<'a>,
        /// the map of the first set, as the matrix export (rows = queries)
        matrix: Matrix,
    },
    /// context mixing: one method's map, every method at one token, their agreement
    Mixing { data: &'a mixing::Data },
    /// what a fine-tuned head predicts, and how an intervention changed it
    Prediction { data: &'a prediction::Data },
    /// where each model's parameters are, side by side, and how each was made smaller
    Parameters { data: &'a parameters::Data },
    /// what fine-tuning changed: per head, the cosine similarity of a fine-tuned model's and its
    /// parent's attention over a corpus
    Changed { data: &'a evaluation::Changed },
    /// a classifier over a labelled file: head importance, the pruning curve, the confusion
    Evaluation {
        data: &'a evaluation::Data,
        which: evaluation::Which,
    },
    /// the masked-LM head's top predictions at one position from every layer
    Lens { data: &'a lens::Data },
}

/// The figure of `view` in `theme`, and its matrix where the view has one (the model view's
/// thumbnails have none).
pub fn build(view: &View<'_>, theme: &Theme) -> Result<(Figure, Option<Matrix>)> {
    Ok(match view {
        View::Map {
            model,
            data,
            colormap,
        } => {
            let mut data = (*data).clone();
            data.matrix.name = format!("{model}: {}", data.matrix.name);
            let (f, m) = scenes::map(&data, *colormap, theme)?;
            (f, Some(m))
        }
        View::Model {
            model,
            trace,
            keep,
            renormalise,
            style,
        } => {
            let title = format!("{model}: attention, every layer and head");
            let f = scenes::model(&title, trace, keep, *renormalise, *style, theme)?;
            (f, None)
        }
        View::Figure1 { text, lines } => {
            let (f, m) = scenes::figure1(text, lines, theme);
            (f, Some(m))
        }
        View::Projection {
            model,
            projection: p,
            trace,
            color_by,
            label_all,
        } => {
            let method = if p.explained.is_empty() {
                "t-SNE"
            } else {
                "PCA"
            };
            let title = match p.states.as_slice() {
                [s] => format!(
                    "{model}: hidden states after {} ({method})",
                    scenes::state_name(*s)
                ),
                _ => format!("{model}: token trajectories through the layers ({method})"),
            };
            let (f, m) = scenes::projection(&title, p, trace, *color_by, *label_all, theme);
            (f, Some(m))
        }
        View::Neighbours { query, answer } => {
            let (f, m) = scenes::neighbours(query, answer, theme);
            (f, Some(m))
        }
        View::Js { data, colormap } => {
            let f = js::draw(data, *colormap, theme)?;
            (f, Some(js::matrix(data)))
        }
        View::Params => {
            let (f, m) = scenes::params_tables(theme);
            (f, Some(m))
        }
        View::Explain {
            model,
            walk,
            step,
            temperature,
        } => match step {
            Some(s) => {
                let index = walk.steps().iter().position(|x| x == s).unwrap_or(0) + 1;
                let f = explain_figures::step(walk, *s, index, *temperature, theme)?;
                let mut m = walk.matrix(*s, *temperature);
                m.name = format!("{model} {}", m.name);
                (f, Some(m))
            }
            None => (
                explain_figures::poster(walk, model, *temperature, theme)?,
                None,
            ),
        },
        View::Links { spec, matrix } => (
            crate::figures::links::links(spec, theme),
            Some(matrix.clone()),
        ),
        View::Attribution { model, comparison } => {
            let f = crate::figures::attribution::figure(model, comparison, theme);
            let title = format!("{model}: attribution of “{}”", comparison.target);
            (f, Some(comparison.matrix(&title)))
        }
        View::Mixing { data } => {
            let (f, m) = mixing::figure(data, theme)?;
            (f, Some(m))
        }
        View::Prediction { data } => {
            let (f, m) = prediction::figure(data, theme)?;
            (f, Some(m))
        }
        View::Parameters { data } => {
            let (f, m) = parameters::figure(data, theme);
            (f, Some(m))
        }
        View::Changed { data } => {
            let (f, m) = evaluation::changed_figure(data, theme)?;
            (f, Some(m))
        }
        View::Evaluation { data, which } => {
            let (f, m) = evaluation::figure(data, *which, theme)?;
            (f, Some(m))
        }
        View::Lens { data } => {
            let (f, m) = scenes::lens(&data.model, &data.token, data.pos, &data.table, theme);
            (f, Some(m))
        }
    })
}
