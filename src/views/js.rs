//! The cross-layer Jensen–Shannon distance matrix as a component: how differently each pair of
//! layers attends (matched heads, the mean of the heads, or one head). The Shared tab draws
//! [`Data`] with egui ([`map_data`]) and exports it through [`figure`]; `render --view js` derives
//! and draws the same. Beside a second model, both matrices share one colour scale, on screen,
//! in the export and from `render --view js --compare`, so that the two compare.

use crate::analysis::maps::MapData;
use crate::colormap::{Colormap, Scale};
use crate::error::Result;
use crate::figures::{Figure, Theme};
use crate::insight::{self, JsMode};
use crate::matrix::Matrix;
use crate::model::Trace;

/// One model's matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Data {
    /// the model's name, as the title gives it
    pub model: String,
    /// what is compared (one head taken within the model's heads)
    pub mode: JsMode,
    /// `[layers, layers]`, row-major
    pub values: Vec<f32>,
    pub layers: usize,
    /// the top of the colour scale: the largest distance, of this model or of the models shown
    /// together ([`share_scale`])
    pub hi: f32,
}

/// The distances of `trace`'s layers under `mode` (a head the model does not have is an error
/// naming it).
pub fn derive(model: &str, trace: &Trace, mode: JsMode) -> Result<Data> {
    let values = insight::cross_layer_js(trace, mode)?;
    let hi = top(&values);
    Ok(Data {
        model: model.to_string(),
        mode,
        values,
        layers: trace.attentions.len(),
        hi,
    })
}

/// The main model's matrix under `mode` and, beside it, the comparison model's (its head taken
/// within its own heads), the two on one colour scale: what the Shared tab shows and exports,
/// and what `render --view js --compare` draws.
pub fn derive_pair(
    (name, main): (&str, &Trace),
    compare: Option<(&str, &Trace)>,
    mode: JsMode,
) -> Result<(Data, Option<Data>)> {
    let mut a = derive(name, main, mode)?;
    let mut b = match compare {
        Some((n, t)) => Some(derive(n, t, mode.within(t.num_heads))?),
        None => None,
    };
    if let Some(b) = b.as_mut() {
        share_scale(&mut [&mut a, b]);
    }
    Ok((a, b))
}

fn top(values: &[f32]) -> f32 {
    values
        .iter()
        .copied()
        .fold(0.0, f32::max)
        .max(f32::MIN_POSITIVE)
}

/// One colour scale for matrices shown together: each one's top becomes the largest of all.
pub fn share_scale(all: &mut [&mut Data]) {
    let hi = all.iter().map(|d| d.hi).fold(f32::MIN_POSITIVE, f32::max);
    for d in all.iter_mut() {
        d.hi = hi;
    }
}

/// The layers' names on both axes.
pub fn labels(layers: usize) -> Vec<String> {
    (1..=layers).map(|l| format!("layer {l}")).collect()
}

/// The matrix of the figure's export (CSV, NPY, safetensors).
pub fn matrix(d: &Data) -> Matrix {
    let labels = labels(d.layers);
    Matrix {
        name: "js_distance".into(),
        values: d.values.clone(),
        rows: d.layers,
        cols: d.layers,
        row_labels: labels.clone(),
        col_labels: labels,
    }
}

/// The matrix as the window's heatmap widget takes it.
pub fn map_data(d: &Data) -> MapData {
    let mut matrix = matrix(d);
    matrix.name = format!("{}: JS distance between layers", d.model);
    MapData {
        matrix,
        index: (0..d.layers).collect(),
        scale: Scale {
            lo: 0.0,
            hi: d.hi,
            log: false,
        },
        diverging: false,
        value_name: "JS distance",
    }
}

/// The heatmap of the matrix (what [`super::build`] draws for it).
pub(super) fn draw(d: &Data, colormap: Colormap, theme: &Theme) -> Result<Figure> {
    let title = format!(
        "{}: Jensen-Shannon distance between layers' attention ({})",
        d.model,
        d.mode.describe()
    );
    let labels = labels(d.layers);
    let scale = Scale {
        lo: 0.0,
        hi: d.hi,
        log: false,
    };
    crate::figures::plots::heatmap(
        &crate::figures::plots::HeatmapSpec {
            title: &title,
            values: &d.values,
            rows: d.layers,
            cols: d.layers,
            row_labels: &labels,
            col_labels: &labels,
            colormap,
            scale: &scale,
            axis_names: ("layer", "layer"),
        },
        theme,
    )
}

/// The matrix as a figure, and its numbers.
pub fn figure(d: &Data, colormap: Colormap, theme: &Theme) -> Result<(Figure, Option<Matrix>)> {
    super::build(&super::View::Js { data: d, colormap }, theme)
}
