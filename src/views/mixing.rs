//! The Mixing view, as a component (no egui): its [`Options`], a pure [`derive`] from the
//! trace and its context-mixing matrices ([`crate::insight::mixing`]) to [`Data`], and
//! [`figure`] from `Data` to a figure. The window's Mixing tab, its Export menu, `render --view
//! mixing` and scenes all go through these three, so a figure is the same wherever it is made.
//!
//! The figure: the chosen method's N×N map (row = output token, column = input token); for one
//! output token, what each input token contributes under every method side by side (one colour
//! scale per method, its maximum named); the agreement panel (Spearman's ρ between the methods
//! and the gradient attribution at that token); the method's caption; and the comparison model
//! in the same layout beside it.

use crate::colormap::{Colormap, Scale};
use crate::error::{LensError, Result};
use crate::figures::plots::{self, HeatmapSpec};
use crate::figures::{Anchor, Figure, Item, Theme};
use crate::insight::attribution::spearman;
use crate::insight::mixing::{Contributions, Method, Stage};
use crate::matrix::Matrix;
use crate::model::Trace;

/// What the view shows; persisted by the tab and in scenes, given by `render`'s flags.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Options {
    pub method: Method,
    /// one layer application, or the aggregate over all layers (rollout; flow is always the
    /// aggregate, norm has none)
    pub stage: Stage,
    /// the output token followed in the side-by-side rows (None: the first [MASK], else the
    /// first ordinary token)
    pub position: Option<usize>,
    /// leave [CLS], [SEP] and the other special tokens out of the map (values as they are)
    pub hide_special: bool,
    pub colormap: Colormap,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            method: Method::Alti,
            stage: Stage::Aggregate,
            position: None,
            hide_special: false,
            colormap: Colormap::Viridis,
        }
    }
}

/// One model's part of the view.
pub struct Side<'a> {
    pub model: &'a str,
    pub trace: &'a Trace,
    pub contributions: &'a Contributions,
    /// the gradient attribution at the followed token, with its name (models with a masked-LM
    /// head), for the agreement panel
    pub gradient: Option<(&'a str, &'a [f32])>,
}

/// What [`derive`] needs: the main model and, optionally, the comparison model on the same text.
pub struct Inputs<'a> {
    pub main: Side<'a>,
    pub compare: Option<Side<'a>>,
}

/// One model's derived numbers.
#[derive(Debug, Clone)]
pub struct Panel {
    pub model: String,
    /// the chosen map, restricted to the kept tokens, with their labels
    pub matrix: Matrix,
    pub scale: Scale,
    pub tokens: Vec<String>,
    pub position: usize,
    /// (row name, what each token contributes to the followed token), one per method computed
    pub rows: Vec<(String, Vec<f32>)>,
    /// the agreement panel: names and Spearman's ρ of each pair `[K, K]` (None: a constant row)
    pub agreement: (Vec<String>, Vec<Option<f32>>),
}

/// What [`figure`] draws.
#[derive(Debug, Clone)]
pub struct Data {
    pub method: Method,
    pub stage: Stage,
    pub colormap: Colormap,
    pub panels: Vec<Panel>,
}

/// The matrix a method shows at a stage: flow always its aggregate (the last layer), norm
/// never (it has none).
fn stage_of(method: Method, stage: Stage) -> Result<Stage> {
    match (method, stage) {
        (Method::Flow, _) => Ok(Stage::Aggregate),
        (Method::Norm, Stage::Aggregate) => Err(LensError::Analysis(
            "norm has no aggregate over layers (Kobayashi et al. define none): choose a layer"
                .into(),
        )),
        _ => Ok(stage),
    }
}

fn stage_label(method: Method, stage: Stage) -> String {
    match (method, stage) {
        (Method::Flow, _) => "last layer, through all layers".into(),
        (Method::Attention, Stage::Aggregate) => "rollout".into(),
        (_, Stage::Aggregate) => "rolled out over all layers".into(),
        (_, s) => s.name(),
    }
}

fn panel(side: &Side<'_>, opts: &Options) -> Result<Panel> {
    let t = side.trace;
    let c = side.contributions;
    let n = t.num_tokens();
    if c.n != n {
        return Err(LensError::Analysis(
            "the mixing matrices are of another input".into(),
        ));
    }
    let layers = t.attentions.len();
    if let Stage::Layer(j) = opts.stage {
        if j >= layers {
            return Err(LensError::Analysis(format!(
                "layer {} does not exist: {} has {layers}",
                j + 1,
                side.model
            )));
        }
    }
    if let Some(p) = opts.position.filter(|&p| p >= n) {
        return Err(LensError::Analysis(format!(
            "position {p} is outside this input: it has {n} tokens (positions count from 0)"
        )));
    }
    let stage = stage_of(opts.method, opts.stage)?;
    let values = c.get(opts.method, stage).ok_or_else(|| {
        LensError::Analysis(match opts.method {
            m if c.refused.contains_key(&m) => c.refused[&m].clone(),
            Method::Flow if n > crate::insight::mixing::FLOW_MAX_TOKENS => {
                crate::insight::mixing::flow_skipped(n)
            }
            m => format!("{} has not been computed for this input yet", m.label()),
        })
    })?;
    let keep = t.kept_tokens(opts.hide_special);
    let labels: Vec<String> = keep.iter().map(|&i| t.tokens[i].clone()).collect();
    let m = keep.len();
    // the values as they are: a hidden token's share is not spread over the others
    let kept = crate::analysis::restrict(values, n, &keep, false);
    let hi = kept.iter().fold(0f32, |a, &v| a.max(v));
    let scale = Scale {
        lo: 0.0,
        // 0 to the map's largest value (raw GlobEnc products run to 10^4 and more)
        hi: hi.max(1e-12),
        log: false,
    };
    let matrix = Matrix {
        name: format!(
            "{}: {} ({}), row = output token, column = input token",
            side.model,
            opts.method.label(),
            stage_label(opts.method, opts.stage)
        ),
        values: kept,
        rows: m,
        cols: m,
        row_labels: labels.clone(),
        col_labels: labels,
    };
    let position = t.focus(opts.position);
    let mut rows = Vec::new();
    for method in Method::ALL {
        // norm has no aggregate: its last layer stands in, named so
        let (st, label) = match (method, stage_of(method, opts.stage)) {
            (_, Ok(s)) => (s, stage_label(method, opts.stage)),
            (_, Err(_)) => (
                Stage::Layer(layers.saturating_sub(1)),
                "last layer".to_string(),
            ),
        };
        if let Some(v) = c.get(method, st) {
            let row = v[position * n..(position + 1) * n].to_vec();
            rows.push((format!("{} ({label})", method.label()), row));
        }
    }
    if let Some((name, g)) = side.gradient.filter(|(_, g)| g.len() == n) {
        // importance: the size of the attribution, as the Attribution tab ranks it
        rows.push((name.to_string(), g.iter().map(|v| v.abs()).collect()));
    }
    let k = rows.len();
    let mut rho = vec![None; k * k];
    for a in 0..k {
        for b in 0..k {
            rho[a * k + b] = if a == b {
                Some(1.0)
            } else {
                spearman(&rows[a].1, &rows[b].1)
            };
        }
    }
    let names = rows.iter().map(|(n, _)| n.clone()).collect();
    Ok(Panel {
        model: side.model.to_string(),
        matrix,
        scale,
        tokens: t.tokens.clone(),
        position,
        rows,
        agreement: (names, rho),
    })
}

/// One model's numbers for the view, computed (the costly part: the window runs it as a job):
/// every method's matrices for `trace`, and, with a masked-LM head, integrated gradients in
/// `steps` at the followed token `position` with the heads `ablate` switched off, as `trace`
/// was made.
pub fn numbers(
    m: &crate::model::LoadedModel,
    trace: &Trace,
    (position, ablate, steps): (Option<usize>, &crate::model::Ablation, usize),
    ctl: &crate::insight::Control,
) -> Result<(Contributions, Option<Vec<f32>>)> {
    use crate::insight::mixing;
    let c = mixing::compute(&m.config, &m.weights, trace, &Method::ALL, Some(ctl))?;
    let gradient = match (&m.weights.mlm, &m.weights.task) {
        (_, Some(_)) | (Some(_), None) => {
            let at = crate::insight::attribution::Target::from_text(m, trace.focus(position), "")?;
            let input = trace.input();
            let a =
                crate::insight::attribution::attribute_with(m, (&input, ablate), at, steps, ctl)?;
            Some(a.integrated_gradients)
        }
        (None, None) => None,
    };
    Ok((c, gradient))
}

/// The view's numbers for `opts`.
pub fn derive(inputs: &Inputs<'_>, opts: &Options) -> Result<Data> {
    let mut panels = vec![panel(&inputs.main, opts)?];
    if let Some(c) = &inputs.compare {
        let o = Options {
            // the comparison model follows the same token when the inputs tokenize alike
            position: Some(inputs.main.trace.focus(opts.position))
                .filter(|_| c.trace.tokens == inputs.main.trace.tokens),
            ..opts.clone()
        };
        panels.push(panel(c, &o)?);
    }
    Ok(Data {
        method: opts.method,
        stage: opts.stage,
        colormap: opts.colormap,
        panels,
    })
}

/// Width of one model's column.
const PANEL_W: f32 = 760.0;

/// The figure of `data`, and the main model's map as its matrix.
pub fn figure(data: &Data, theme: &Theme) -> Result<(Figure, Matrix)> {
    let drawn: Vec<Figure> = data
        .panels
        .iter()
        .map(|p| panel_figure(p, data, theme))
        .collect::<Result<_>>()?;
    let width = drawn.iter().map(|f| f.width).sum::<f32>();
    let height = drawn.iter().map(|f| f.height).fold(0.0, f32::max);
    let mut fig = Figure::new(width, height, theme);
    let mut x = 0.0;
    for d in &drawn {
        fig.place(d, x, 0.0);
        x += d.width;
    }
    let matrix = data
        .panels
        .first()
        .map(|p| p.matrix.clone())
        .ok_or_else(|| LensError::Analysis("nothing to draw".into()))?;
    Ok((fig, matrix))
}

fn panel_figure(p: &Panel, data: &Data, theme: &Theme) -> Result<Figure> {
    let f = theme.font;
    let map = plots::heatmap(
        &HeatmapSpec {
            title: &p.matrix.name,
            values: &p.matrix.values,
            rows: p.matrix.rows,
            cols: p.matrix.cols,
            row_labels: &p.matrix.row_labels,
            col_labels: &p.matrix.col_labels,
            colormap: data.colormap,
            scale: &p.scale,
            axis_names: ("output token", "input token"),
        },
        theme,
    )?;
    // token links beside the map: the followed output token's lines to every input token
    let row = p.matrix.row_labels.len();
    let followed = p
        .tokens
        .get(p.position)
        .and_then(|t| p.matrix.row_labels.iter().position(|l| l == t))
        .filter(|&r| r < row);
    let sets = [crate::figures::links::LinkSet {
        map: &p.matrix.values,
        color: [0x00, 0x72, 0xB2],
    }];
    let links = crate::figures::links::links(
        &crate::figures::links::LinksSpec {
            title: "token links: the followed output token",
            labels: &p.matrix.row_labels,
            sets: &sets,
            scale_max: p.scale.hi,
            hovered: followed.map(|r| (true, r)),
        },
        theme,
    );
    let width = PANEL_W.max(map.width + links.width);
    let mut fig = Figure::new(width, 10.0, theme);
    fig.place(&map, 0.0, 0.0);
    fig.place(&links, map.width, 0.0);
    let mut y = map.height.max(links.height) + f * 1.2;
    let caption = format!("{}: {}", data.method.label(), data.method.caption());
    for line in plots::wrap(&caption, (width / (f * 0.5)) as usize) {
        fig.text(16.0, y, line, f * 0.85, Anchor::Start, theme.muted);
        y += f * 1.2;
    }
    y += f * 0.8;
    let tok = p.tokens.get(p.position).map_or("", String::as_str);
    fig.items.push(Item::Text {
        x: 16.0,
        y,
        text: format!(
            "What output token {} (“{tok}”) takes from each input token, by every method",
            p.position
        ),
        size: f * 1.0,
        anchor: Anchor::Start,
        rotate: 0.0,
        color: theme.foreground,
        bold: true,
    });
    y += f * 0.6;
    y = chips(&mut fig, p, y, width, theme);
    y += f * 1.6;
    y = agreement(&mut fig, p, y, theme);
    fig.height = (y + f).ceil();
    Ok(fig)
}

/// The side-by-side rows: each method's contributions to the followed token as shaded token
/// chips, on that method's own scale (0 to its maximum, named).
fn chips(fig: &mut Figure, p: &Panel, mut y: f32, width: f32, theme: &Theme) -> f32 {
    let f = theme.font;
    let chip_h = f * 1.6;
    for (name, values) in &p.rows {
        let max = values.iter().fold(0f32, |m, v| m.max(v.abs()));
        y += f * 1.3;
        let label = format!("{name}: 0 to {}", plots::tick_label(f64::from(max)));
        fig.text(16.0, y, label, f * 0.85, Anchor::Start, theme.muted);
        y += f * 0.45;
        let mut x = 16.0;
        for (i, tok) in p.tokens.iter().enumerate() {
            let w = plots::text_width(tok, f * 0.85) + 10.0;
            if x + w > width - 16.0 {
                x = 16.0;
                y += chip_h + 3.0;
            }
            let v = values.get(i).copied().unwrap_or(0.0);
            let stroke = (i == p.position).then_some((theme.foreground, 2.0));
            fig.items.push(Item::Rect {
                x,
                y,
                w,
                h: chip_h,
                fill: Some(crate::figures::attribution::shade(v, max, false)),
                stroke,
                opacity: 1.0,
            });
            let deep = (v / max.max(1e-12)).abs() > 0.7;
            let color = if deep { [255, 255, 255] } else { [20, 20, 20] };
            fig.text(
                x + w / 2.0,
                y + chip_h * 0.7,
                tok.clone(),
                f * 0.85,
                Anchor::Middle,
                color,
            );
            x += w + 2.0;
        }
        y += chip_h;
    }
    y
}

/// The agreement panel: Spearman's ρ of every pair of rows as a shaded table.
fn agreement(fig: &mut Figure, p: &Panel, mut y: f32, theme: &Theme) -> f32 {
    let f = theme.font;
    let (names, rho) = &p.agreement;
    let k = names.len();
    fig.items.push(Item::Text {
        x: 16.0,
        y,
        text: "Agreement: Spearman's ρ between the rows above (ranks of each token's share)".into(),
        size: f,
        anchor: Anchor::Start,
        rotate: 0.0,
        color: theme.foreground,
        bold: true,
    });
    y += f * 0.8;
    // row labels in full, columns by abbreviation (the same order)
    let short: Vec<String> = names
        .iter()
        .map(|n| n.split(" (").next().unwrap_or(n).to_string())
        .collect();
    let abbrev: Vec<String> = short.iter().map(|s| abbreviation(s)).collect();
    let label_w = short
        .iter()
        .map(|s| plots::text_width(s, f * 0.85))
        .fold(0.0, f32::max)
        + 24.0;
    let cell_w = f * 3.6;
    let cell_h = f * 1.5;
    let x0 = 16.0 + label_w;
    for (b, s) in abbrev.iter().enumerate() {
        let x = x0 + b as f32 * cell_w + cell_w / 2.0;
        fig.text(
            x,
            y + f * 0.9,
            s.clone(),
            f * 0.75,
            Anchor::Middle,
            theme.muted,
        );
    }
    y += f * 1.3;
    for a in 0..k {
        fig.text(
            16.0,
            y + cell_h * 0.68,
            short[a].clone(),
            f * 0.85,
            Anchor::Start,
            theme.foreground,
        );
        for b in 0..k {
            let x = x0 + b as f32 * cell_w;
            let (fill, text) = match rho[a * k + b] {
                Some(r) => (
                    Colormap::Diverging.at(0.5 + 0.5 * r.clamp(-1.0, 1.0)),
                    format!("{r:+.2}"),
                ),
                None => (theme.background, "—".to_string()),
            };
            fig.items.push(Item::Rect {
                x,
                y,
                w: cell_w - 2.0,
                h: cell_h - 2.0,
                fill: Some(fill),
                stroke: None,
                opacity: 1.0,
            });
            let deep = rho[a * k + b].is_some_and(|r| r.abs() > 0.7);
            let color = if deep { [255, 255, 255] } else { [20, 20, 20] };
            fig.text(
                x + cell_w / 2.0 - 1.0,
                y + cell_h * 0.65,
                text,
                f * 0.8,
                Anchor::Middle,
                color,
            );
        }
        y += cell_h;
    }
    y
}

/// A row name's column heading: the method's abbreviation, or the initials of a longer name.
fn abbreviation(name: &str) -> String {
    match name {
        "Attention" => "Attn".into(),
        "Value zeroing" => "VZ".into(),
        "Attention flow" => "Flow".into(),
        n if n.len() <= 7 => n.into(),
        n => n
            .split_whitespace()
            .filter_map(|w| w.chars().next())
            .collect::<String>()
            .to_uppercase(),
    }
}
