//! The token-links view (BertViz's head view) as a component: what its lines are derived from
//! (one attention map, or the heads overlaid on it) and its figure. The Attention tab draws
//! [`Data`] with egui and exports it through [`figure`]; `render --view links` derives and draws
//! the same, so the two files are the same.

use crate::analysis::maps::MapData;
use crate::error::Result;
use crate::figures::links::{LinkSet, LinksSpec};
use crate::figures::{Figure, Rgb, Theme};
use crate::matrix::Matrix;
use crate::model::Trace;

/// One colour per overlaid head (Okabe & Ito), head h taking `HEAD_COLORS[h % 8]`.
pub const HEAD_COLORS: [Rgb; 8] = [
    [0xE6, 0x9F, 0x00],
    [0x56, 0xB4, 0xE9],
    [0x00, 0x9E, 0x73],
    [0xD5, 0x5E, 0x00],
    [0xCC, 0x79, 0xA7],
    [0x00, 0x72, 0xB2],
    [0xF0, 0xE4, 0x42],
    [0x99, 0x99, 0x99],
];

/// The colour of a map's lines: blue for attention, orange for a difference (what A attends to
/// more than B), each a lighter shade on a dark background.
pub fn map_color(diverging: bool, dark: bool) -> Rgb {
    match (diverging, dark) {
        (false, false) => [0x00, 0x72, 0xB2],
        (false, true) => [0x56, 0xB4, 0xE9],
        (true, false) => [0xD5, 0x5E, 0x00],
        (true, true) => [0xE6, 0x9F, 0x00],
    }
}

/// What the links draw beyond the map they come from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    /// heads (from 0) whose own attention is overlaid, one colour each; empty, or a difference
    /// map: the map's lines
    pub heads: Vec<usize>,
    /// the map's layer (attention map index), which the overlaid heads are taken from
    pub layer: usize,
    /// special tokens hidden with each row renormalised to sum to 1 (as the map was)
    pub renormalise: bool,
    /// (left column?, index): only that token's lines in the figure
    pub hovered: Option<(bool, usize)>,
    /// drawn on a dark background (the window in dark mode): lighter lines
    pub dark: bool,
}

/// What the token links draw: labels, one `[m, m]` map and colour per set of lines, the
/// weight that is fully opaque, a line for the view and a title for the figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Data {
    pub labels: Vec<String>,
    pub sets: Vec<(Vec<f32>, Rgb)>,
    pub max: f32,
    pub note: String,
    pub title: String,
    /// the token whose lines alone are drawn (see [`Options::hovered`])
    pub hovered: Option<(bool, usize)>,
}

/// The links of `map` (the shown heatmap of `trace`), or of the heads `o.heads` restricted to
/// the same tokens.
pub fn derive(map: &MapData, trace: &Trace, o: &Options) -> Data {
    let n = trace.num_tokens();
    let heads = trace.num_heads;
    let layer = o.layer.min(trace.attentions.len().saturating_sub(1));
    let overlays: Vec<(Vec<f32>, Rgb)> = if map.diverging {
        Vec::new()
    } else {
        o.heads
            .iter()
            .filter(|&&h| h < heads)
            .filter_map(|&h| {
                let m = trace
                    .attentions
                    .get(layer)?
                    .get(h * n * n..(h + 1) * n * n)?;
                let c = HEAD_COLORS[h % HEAD_COLORS.len()];
                Some((
                    crate::analysis::restrict(m, n, &map.index, o.renormalise),
                    c,
                ))
            })
            .collect()
    };
    let labels = map.matrix.row_labels.clone();
    if overlays.is_empty() {
        return Data {
            labels,
            sets: vec![(map.matrix.values.clone(), map_color(map.diverging, o.dark))],
            max: map.scale.hi.max(-map.scale.lo),
            note: format!(
                "{} — line opacity grows with the value; hover a token to keep only its lines",
                map.matrix.name
            ),
            title: map.matrix.name.clone(),
            hovered: o.hovered,
        };
    }
    let names: Vec<String> = o.heads.iter().map(|h| format!("H{}", h + 1)).collect();
    Data {
        labels,
        sets: overlays,
        max: 1.0,
        note:
            "attention of the ticked heads, one colour each — hover a token to keep only its lines"
                .into(),
        title: format!("attention, layer {}, heads {}", layer + 1, names.join(", ")),
        hovered: o.hovered,
    }
}

/// The links as a figure titled with `model`, and the first set's map as its matrix (rows =
/// queries).
pub fn figure(model: &str, data: &Data, theme: &Theme) -> Result<(Figure, Option<Matrix>)> {
    let sets: Vec<LinkSet<'_>> = data
        .sets
        .iter()
        .map(|(map, color)| LinkSet { map, color: *color })
        .collect();
    let title = format!("{model}: {}", data.title);
    let spec = LinksSpec {
        title: &title,
        labels: &data.labels,
        sets: &sets,
        scale_max: data.max,
        hovered: data.hovered,
    };
    let m = data.labels.len();
    let matrix = Matrix {
        name: title.clone(),
        values: data.sets.first().map(|s| s.0.clone()).unwrap_or_default(),
        rows: m,
        cols: m,
        row_labels: data.labels.clone(),
        col_labels: data.labels.clone(),
    };
    super::build(
        &super::View::Links {
            spec: &spec,
            matrix,
        },
        theme,
    )
}
