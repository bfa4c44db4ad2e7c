//! The scene of each view: its figure and (where it has one) its matrix, built from analysis
//! results. [`crate::views::build`] picks the scene for a view.

use super::plots::{self, HeatmapSpec, LensSpec, Panel, Series};
use super::scatter::{scatter, ScatterSpec};
use super::{Anchor, Figure, Rgb, Theme, OKABE_ITO};
use crate::analysis::maps::MapData;
use crate::colormap::{Colormap, Scale};
use crate::error::Result;
use crate::insight::{LensTable, Projection, Transition, VocabAnswer};
use crate::matrix::Matrix;
use crate::model::Trace;
use crate::params;

/// A heatmap view (one head, mean/max of heads, rollout, value norms, a difference); the
/// matrix is the map itself.
pub fn map(data: &MapData, colormap: Colormap, theme: &Theme) -> Result<(Figure, Matrix)> {
    let cmap = if data.diverging {
        Colormap::Diverging
    } else {
        colormap
    };
    let m = &data.matrix;
    let fig = plots::heatmap(
        &HeatmapSpec {
            title: &m.name,
            values: &m.values,
            rows: m.rows,
            cols: m.cols,
            row_labels: &m.row_labels,
            col_labels: &m.col_labels,
            colormap: cmap,
            scale: &data.scale,
            axis_names: ("query (attending token)", "key (attended token)"),
        },
        theme,
    )?;
    Ok((fig, m.clone()))
}

/// How the model view's thumbnails are coloured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridStyle {
    pub colormap: Colormap,
    pub log: bool,
    /// one 0-1 scale for all thumbnails instead of each its own maximum
    pub shared_scale: bool,
}

/// The model view: every layer × head, each thumbnail on its own scale or one shared 0–1 scale.
pub fn model(
    title: &str,
    trace: &Trace,
    keep: &[usize],
    renormalise: bool,
    style: GridStyle,
    theme: &Theme,
) -> Result<Figure> {
    let n = trace.num_tokens();
    let maps: Vec<Vec<Vec<f32>>> = trace
        .attentions
        .iter()
        .map(|layer| {
            (0..trace.num_heads)
                .map(|h| {
                    crate::analysis::restrict(
                        &layer[h * n * n..(h + 1) * n * n],
                        n,
                        keep,
                        renormalise,
                    )
                })
                .collect()
        })
        .collect();
    let scale_of = |m: &[f32]| Scale {
        lo: 0.0,
        hi: if style.shared_scale {
            1.0
        } else {
            m.iter().copied().fold(0.0, f32::max).max(f32::MIN_POSITIVE)
        },
        log: style.log,
    };
    plots::grid(title, &maps, keep.len(), style.colormap, &scale_of, theme)
}

/// One model's (or one repetition count's) curve on the Figure 1 plot.
#[derive(Debug, Clone)]
pub struct Figure1Line {
    pub name: String,
    pub transitions: Vec<Transition>,
    pub color: Rgb,
    pub dashed: bool,
}

/// Figure 1's lines: the model, the comparison model, and the what-if runs (dashed, as
/// (repetitions, trace)), each averaged over its tokens (special tokens left out if asked).
pub fn figure1_lines(
    main: (&str, &Trace),
    compare: Option<(&str, &Trace)>,
    more: &[(&str, &Trace)],
    repeats: &[(usize, &Trace)],
    hide_special: bool,
) -> Vec<Figure1Line> {
    let line = |name: String, t: &Trace, color: Rgb, dashed: bool| Figure1Line {
        name,
        transitions: crate::insight::figure1(t, &t.kept_tokens(hide_special)),
        color,
        dashed,
    };
    let mut lines = vec![line(main.0.to_string(), main.1, OKABE_ITO[4], false)];
    if let Some((name, t)) = compare {
        lines.push(line(name.to_string(), t, OKABE_ITO[3], false));
    }
    // further models (the parameter table's) solid, the what-if dashed, in the other colours
    let others = [0, 2, 5, 1, 6, 7];
    for (i, (name, t)) in more.iter().enumerate() {
        lines.push(line(name.to_string(), t, OKABE_ITO[others[i % 6]], false));
    }
    for (i, (r, t)) in repeats.iter().enumerate() {
        let color = OKABE_ITO[others[(i + more.len()) % 6]];
        lines.push(line(format!("{} x{r}", main.0), t, color, true));
    }
    lines
}

/// The ALBERT paper's Figure 1 for the user's text: L2 distance and angle between each layer's
/// input and output, one line per model; the matrix has a row per layer and two columns per
/// line.
/// Figure 1 growing layer by layer (an animation): frame k has the lines through layer k, on
/// the axes of the whole figure.
pub fn figure1_frames(text: &str, lines: &[Figure1Line], theme: &Theme) -> Vec<Figure> {
    let panels = figure1_panels(lines);
    let extent = |p: &Panel| {
        let (mut xlo, mut xhi, mut ylo, mut yhi) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in p.series.iter().flat_map(|s| s.points.iter()) {
            if x.is_finite() && y.is_finite() {
                (xlo, xhi) = (xlo.min(x), xhi.max(x));
                (ylo, yhi) = (ylo.min(y), yhi.max(y));
            }
        }
        (xlo <= xhi).then_some((xlo, xhi, ylo, yhi))
    };
    let depth = lines.iter().map(|l| l.transitions.len()).max().unwrap_or(0);
    let title = figure1_title(text);
    (1..=depth)
        .map(|k| {
            let frame: Vec<Panel> = panels
                .iter()
                .map(|p| Panel {
                    extent: extent(p),
                    series: p
                        .series
                        .iter()
                        .map(|s| Series {
                            points: s
                                .points
                                .iter()
                                .copied()
                                .filter(|&(x, _)| x <= k as f64)
                                .collect(),
                            ..s.clone()
                        })
                        .collect(),
                    ..p.clone()
                })
                .collect();
            plots::line_panels(&title, &frame, crate::insight::FIGURE1_AVERAGING, theme)
        })
        .collect()
}

fn figure1_title(text: &str) -> String {
    format!(
        "Layer input vs output embeddings (ALBERT paper, Figure 1) on \"{}\"",
        ellipsis(text, 60)
    )
}

fn figure1_panels(lines: &[Figure1Line]) -> [Panel; 2] {
    let series = |f: &dyn Fn(&Transition) -> f64| -> Vec<Series> {
        lines
            .iter()
            .map(|l| Series {
                name: l.name.clone(),
                points: l
                    .transitions
                    .iter()
                    .enumerate()
                    .map(|(i, t)| ((i + 1) as f64, f(t)))
                    .collect(),
                color: l.color,
                dashed: l.dashed,
            })
            .collect()
    };
    [
        Panel {
            title: "L2 distance".into(),
            x_label: "layer".into(),
            y_label: "L2 distance between input and output".into(),
            series: series(&|t| t.l2),
            extent: None,
        },
        Panel {
            title: "Cosine similarity (degrees)".into(),
            x_label: "layer".into(),
            y_label: "angle between input and output (degrees)".into(),
            series: series(&|t| t.angle_deg),
            extent: None,
        },
    ]
}

pub fn figure1(text: &str, lines: &[Figure1Line], theme: &Theme) -> (Figure, Matrix) {
    let panels = figure1_panels(lines);
    let title = figure1_title(text);
    let fig = plots::line_panels(&title, &panels, crate::insight::FIGURE1_AVERAGING, theme);
    let depth = lines.iter().map(|l| l.transitions.len()).max().unwrap_or(0);
    let mut col_labels = Vec::new();
    for l in lines {
        col_labels.push(format!("{} L2", l.name));
        col_labels.push(format!("{} angle (deg)", l.name));
    }
    let mut values = Vec::with_capacity(depth * col_labels.len());
    for i in 0..depth {
        for l in lines {
            let t = l.transitions.get(i);
            values.push(t.map_or(f32::NAN, |t| t.l2 as f32));
            values.push(t.map_or(f32::NAN, |t| t.angle_deg as f32));
        }
    }
    let matrix = Matrix {
        name: "figure1".into(),
        values,
        rows: depth,
        cols: col_labels.len(),
        row_labels: (1..=depth).map(|i| format!("layer {i}")).collect(),
        col_labels,
    };
    (fig, matrix)
}

/// What the projection's points are coloured by (also `render --color-by`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
pub enum ColorBy {
    Layer,
    Position,
    Segment,
}

impl ColorBy {
    pub const ALL: [ColorBy; 3] = [ColorBy::Layer, ColorBy::Position, ColorBy::Segment];
    pub fn name(self) -> &'static str {
        match self {
            ColorBy::Layer => "layer",
            ColorBy::Position => "position",
            ColorBy::Segment => "segment",
        }
    }
}

/// The colour of each projected point.
pub fn point_colors(p: &Projection, trace: &Trace, by: ColorBy) -> Vec<Rgb> {
    let states = trace.hidden_states.len().max(2) - 1;
    let n = trace.num_tokens().max(2) - 1;
    p.origin
        .iter()
        .map(|&(s, t)| match by {
            ColorBy::Layer => layer_color(s, states),
            ColorBy::Position => Colormap::Cividis.at(t as f32 / n as f32),
            ColorBy::Segment => {
                OKABE_ITO
                    [[4usize, 3][trace.token_type_ids.get(t).copied().unwrap_or(0).min(1) as usize]]
            }
        })
        .collect()
}

/// The colour of hidden state `s` of `last`: viridis without its darkest end, so that the
/// embeddings stay visible on a dark background.
pub fn layer_color(s: usize, last: usize) -> Rgb {
    Colormap::Viridis.at(0.18 + 0.8 * s as f32 / last.max(1) as f32)
}

/// A label for hidden state s: "embeddings" for 0, "layer s" after.
pub fn state_name(s: usize) -> String {
    if s == 0 {
        "embeddings".into()
    } else {
        format!("layer {s}")
    }
}

/// The projection view: PC1 × PC2 of the chosen hidden states, with trajectories when it spans
/// several states; the matrix holds every point's three coordinates.
pub fn projection(
    title: &str,
    p: &Projection,
    trace: &Trace,
    by: ColorBy,
    label_all: bool,
    theme: &Theme,
) -> (Figure, Matrix) {
    projection_upto(title, p, trace, (by, label_all), None, theme)
}

/// [`projection`] drawn only up to hidden state `upto` (an animation frame): the later points
/// are in the background colour and unlabelled, so that the axes stay those of the whole
/// projection, and the trajectories stop there.
pub fn projection_upto(
    title: &str,
    p: &Projection,
    trace: &Trace,
    (by, label_all): (ColorBy, bool),
    upto: Option<usize>,
    theme: &Theme,
) -> (Figure, Matrix) {
    let points: Vec<(f32, f32)> = p.points.iter().map(|q| (q[0], q[1])).collect();
    let mut colors = point_colors(p, trace, by);
    let shown = |i: usize| upto.is_none_or(|u| p.origin[i].0 <= u);
    for (i, c) in colors.iter_mut().enumerate() {
        if !shown(i) {
            *c = theme.background;
        }
    }
    let last = upto.unwrap_or(*p.states.last().unwrap_or(&0));
    let labels: Vec<String> = p
        .origin
        .iter()
        .map(|&(s, t)| {
            if (label_all && upto.is_none_or(|u| s <= u)) || s == last {
                trace.tokens.get(t).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .collect();
    let paths: Vec<Vec<usize>> = if p.states.len() > 1 {
        p.tokens
            .iter()
            .map(|&t| p.trajectory(t).into_iter().filter(|&i| shown(i)).collect())
            .collect()
    } else {
        Vec::new()
    };
    let ex = |i: usize| p.explained.get(i).copied().unwrap_or(0.0) * 100.0;
    let (xn, yn) = (
        format!("PC1 ({:.1}% of variance)", ex(0)),
        format!("PC2 ({:.1}%)", ex(1)),
    );
    let legend: Vec<(String, Rgb)> = match by {
        ColorBy::Layer => {
            let states = trace.hidden_states.len().max(2) - 1;
            p.states
                .iter()
                .map(|&s| {
                    (
                        state_name(s),
                        Colormap::Viridis.at(s as f32 / states as f32 * 0.92),
                    )
                })
                .collect()
        }
        ColorBy::Segment => vec![
            ("segment A".into(), OKABE_ITO[4]),
            ("segment B".into(), OKABE_ITO[3]),
        ],
        ColorBy::Position => vec![
            ("first token".into(), Colormap::Cividis.at(0.0)),
            ("last token".into(), Colormap::Cividis.at(1.0)),
        ],
    };
    let fig = scatter(
        &ScatterSpec {
            title,
            points: &points,
            colors: &colors,
            labels: &labels,
            paths: &paths,
            axis_names: (&xn, &yn),
            legend: &legend,
        },
        theme,
    );
    let matrix = Matrix {
        name: "projection".into(),
        values: p.points.iter().flatten().copied().collect(),
        rows: p.points.len(),
        cols: 3,
        row_labels: p
            .origin
            .iter()
            .map(|&(s, t)| {
                format!(
                    "{} @ {} (position {t})",
                    trace.tokens.get(t).map_or("", |x| x),
                    state_name(s)
                )
            })
            .collect(),
        col_labels: vec!["PC1".into(), "PC2".into(), "PC3".into()],
    };
    (fig, matrix)
}

/// A word's nearest neighbours in one model's input embeddings: PCA of the word and its
/// neighbours; the matrix holds each neighbour's cosine similarity.
pub fn neighbours(query: &str, a: &VocabAnswer, theme: &Theme) -> (Figure, Matrix) {
    let labels: Vec<String> = std::iter::once(a.token.clone().unwrap_or_default())
        .chain(a.neighbours.iter().map(|n| n.0.clone()))
        .collect();
    let colors: Vec<Rgb> = (0..labels.len())
        .map(|i| if i == 0 { OKABE_ITO[3] } else { OKABE_ITO[4] })
        .collect();
    let fig = scatter(
        &ScatterSpec {
            title: &format!("{}: nearest neighbours of \"{query}\" (PCA)", a.model),
            points: &a.points,
            colors: &colors,
            labels: &labels,
            paths: &[],
            axis_names: ("PC1", "PC2"),
            legend: &[],
        },
        theme,
    );
    let m = Matrix {
        name: "neighbours".into(),
        values: a.neighbours.iter().map(|n| n.1).collect(),
        rows: a.neighbours.len(),
        cols: 1,
        row_labels: a.neighbours.iter().map(|n| n.0.clone()).collect(),
        col_labels: vec!["cosine similarity".into()],
    };
    (fig, m)
}

/// The parameter counts of the paper's Tables 1, 3 and 4 (this calculator with the pooler, as
/// the paper counts, and the paper's printed figure) as a table figure and a matrix.
pub fn params_tables(theme: &Theme) -> (Figure, Matrix) {
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    for (table, list) in [
        ("Table 1", params::table1()),
        ("Table 3", params::table3()),
        ("Table 4", params::table4()),
    ] {
        for r in list {
            labels.push(format!(
                "{table}: {} (E {}, H {}, L {}, {})",
                r.label,
                r.arch.embedding,
                r.arch.hidden,
                r.arch.layers,
                r.arch.sharing.name()
            ));
            let c = r.arch.counts();
            rows.extend([
                c.total() as f32,
                r.paper_convention() as f32,
                (r.paper_millions * 1e6) as f32,
            ]);
        }
    }
    let m = Matrix {
        name: "parameters".into(),
        values: rows,
        rows: labels.len(),
        cols: 3,
        row_labels: labels,
        col_labels: vec![
            "count with pooler".into(),
            "count as the paper counts".into(),
            "paper".into(),
        ],
    };
    (params_figure(&m, theme), m)
}

/// The layer lens of `model` at token `token` (position `pos`): the top predictions at each
/// depth; the matrix is the probability of every token that made some depth's top k, at every
/// depth.
pub fn lens(
    model: &str,
    token: &str,
    pos: usize,
    table: &LensTable,
    theme: &Theme,
) -> (Figure, Matrix) {
    let title =
        format!("{model}: top predictions for \"{token}\" (position {pos}) from each layer");
    let shown: Vec<(String, Vec<(String, f32)>)> = table
        .rows
        .iter()
        .map(|(s, top)| (state_name(*s), top.clone()))
        .collect();
    let fig = plots::lens(
        &LensSpec {
            title: &title,
            rows: &shown,
        },
        theme,
    );
    let depth = table.rows.len();
    let matrix = Matrix {
        name: "layer_lens".into(),
        values: (0..depth)
            .flat_map(|d| table.curves.iter().map(move |c| c.1[d]))
            .collect(),
        rows: depth,
        cols: table.curves.len(),
        row_labels: table.rows.iter().map(|r| state_name(r.0)).collect(),
        col_labels: table.curves.iter().map(|c| c.0.clone()).collect(),
    };
    (fig, matrix)
}

fn ellipsis(t: &str, max: usize) -> String {
    if t.chars().count() <= max {
        t.to_string()
    } else {
        format!("{}...", t.chars().take(max).collect::<String>())
    }
}

/// The parameter tables as a figure (one row per configuration: this count, as the paper
/// counts, and the paper's figure).
fn params_figure(m: &Matrix, theme: &Theme) -> Figure {
    let f = theme.font;
    let row_h = f * 1.5;
    let label_w = m
        .row_labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(10) as f32
        * f
        * 0.5;
    let col_w = f * 11.0;
    let mut fig = Figure::new(
        24.0 + label_w + 3.0 * col_w,
        f * 4.0 + (m.rows as f32 + 1.0) * row_h + f * 5.0,
        theme,
    );
    fig.text(
        12.0,
        f * 1.4,
        "Parameters: this calculator against the ALBERT paper",
        f * 1.1,
        Anchor::Start,
        theme.foreground,
    );
    let y0 = f * 3.4;
    for (c, h) in m.col_labels.iter().enumerate() {
        fig.text(
            12.0 + label_w + (c as f32 + 1.0) * col_w,
            y0,
            h,
            f * 0.8,
            Anchor::End,
            theme.muted,
        );
    }
    for r in 0..m.rows {
        let y = y0 + (r as f32 + 1.0) * row_h;
        fig.text(
            12.0,
            y,
            &m.row_labels[r],
            f * 0.8,
            Anchor::Start,
            theme.foreground,
        );
        for c in 0..m.cols {
            let v = m.values[r * m.cols + c] as f64 / 1e6;
            fig.text(
                12.0 + label_w + (c as f32 + 1.0) * col_w,
                y,
                format!("{v:.1}M"),
                f * 0.8,
                Anchor::End,
                theme.foreground,
            );
        }
    }
    let y = y0 + (m.rows as f32 + 1.5) * row_h;
    for (i, line) in plots::wrap(
        params::PAPER_NOTE,
        ((label_w + 3.0 * col_w) / (f * 0.8 * 0.56)) as usize,
    )
    .iter()
    .enumerate()
    {
        fig.text(
            12.0,
            y + i as f32 * f * 1.1,
            line,
            f * 0.75,
            Anchor::Start,
            theme.muted,
        );
    }
    fig
}
