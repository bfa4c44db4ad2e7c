//! The corpus query–key view (AttentionViz) as a component: one head's query and key of every
//! corpus token in one 2-D picture, the keys translated to the queries' centroid, laid out by
//! PCA or by t-SNE (FIt-SNE). The Corpus tab asks a job for [`Data`] and draws it with egui;
//! its export and `render --view query-key` go through [`figure`].

use crate::corpus::search::{self, TokenStates};
use crate::error::Result;
use crate::figures::{Figure, Rgb, Theme, OKABE_ITO};
use crate::insight::Control;
use crate::matrix::Matrix;
use crate::model::LoadedModel;
use std::sync::Arc;

/// Points above which t-SNE runs on an even sample (FIt-SNE takes about 30 s for 50k on two
/// cores).
pub const TSNE_MAX: usize = 50_000;

/// The head followed and the layout. (The map is the token states' layer: their hidden state
/// `j` is the input of attention map `j`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// the head, from 0
    pub head: usize,
    /// t-SNE (else PCA)
    pub tsne: bool,
}

/// The picture: one point per query and per key, with the token states they came from.
#[derive(Debug)]
pub struct Data {
    /// the model's name, as the title gives it, and the head (from 0)
    pub model: String,
    pub head: usize,
    pub states: Arc<TokenStates>,
    pub points: Vec<(f32, f32)>,
    /// for each point: (a key, not a query; its token)
    pub of: Vec<(bool, usize)>,
    pub method: &'static str,
}

/// The queries and keys of head `o.head` of `model` (named `name`) at the map `states` are the
/// input of, projected.
pub fn derive(
    (model, name): (&LoadedModel, &str),
    states: Arc<TokenStates>,
    o: &Options,
    ctl: &Control,
) -> Result<Data> {
    let (q, k) = states.queries_keys(model, o.head)?;
    let d = model.config.head_dim();
    ctl.report("projecting".into(), None);
    let n = states.len();
    let (points, of, method) = if o.tsne {
        let (p, of) = tsne_queries_keys(&q, &k, d, ctl)?;
        (p, of, "t-SNE")
    } else {
        let p = search::project_queries_keys(&q, &k, d)?;
        let of = (0..2 * n).map(|i| (i >= n, i % n)).collect();
        (p, of, "PCA")
    };
    Ok(Data {
        model: name.to_string(),
        head: o.head,
        states,
        points,
        of,
        method,
    })
}

/// Points, and what each is (a key?, its token).
type Laid = (Vec<(f32, f32)>, Vec<(bool, usize)>);

/// Queries and keys (keys moved to the queries' centroid) laid out together by FIt-SNE; above
/// [`TSNE_MAX`] points, every few tokens (each with its query and its key).
fn tsne_queries_keys(q: &[f32], k: &[f32], d: usize, ctl: &Control) -> Result<Laid> {
    let n = q.len() / d.max(1);
    let mut joint = q.to_vec();
    joint.extend(search::centre_keys(q, k, d));
    let step = (2 * n).div_ceil(TSNE_MAX).max(1);
    let tokens: Vec<usize> = (0..n).step_by(step).collect();
    let picked: Vec<usize> = tokens
        .iter()
        .copied()
        .chain(tokens.iter().map(|t| n + t))
        .collect();
    let xy = crate::insight::pca::tsne_large(&joint, d, &picked, ctl)?;
    let of = picked.iter().map(|&i| (i >= n, i % n)).collect();
    Ok((xy, of))
}

/// The colours of queries and keys.
pub const QUERY: Rgb = OKABE_ITO[0];
pub const KEY: Rgb = OKABE_ITO[1];

/// The picture as a figure, with the points as a matrix (x, y; rows named by kind, token and
/// text).
pub fn figure(p: &Data, theme: &Theme) -> (Figure, Option<Matrix>) {
    let colors: Vec<Rgb> =
        p.of.iter()
            .map(|&(key, _)| if key { KEY } else { QUERY })
            .collect();
    let legend = [("queries".to_string(), QUERY), ("keys".to_string(), KEY)];
    let title = format!(
        "{}, layer {}, head {}: queries and keys of {} corpus tokens ({}; keys moved to the queries' centroid)",
        p.model,
        p.states.layer + 1,
        p.head + 1,
        p.states.len(),
        p.method
    );
    let fig = crate::figures::scatter::scatter(
        &crate::figures::scatter::ScatterSpec {
            title: &title,
            points: &p.points,
            colors: &colors,
            labels: &[],
            paths: &[],
            axis_names: ("1", "2"),
            legend: &legend,
        },
        theme,
    );
    let rows =
        p.of.iter()
            .map(|&(key, t)| {
                let kind = if key { "key" } else { "query" };
                let (text, pos) = p.states.owner[t];
                format!("{kind} {} (text {text}, token {pos})", p.states.tokens[t])
            })
            .collect::<Vec<_>>();
    let m = Matrix {
        name: "query_key".into(),
        values: p.points.iter().flat_map(|&(x, y)| [x, y]).collect(),
        rows: p.points.len(),
        cols: 2,
        row_labels: rows,
        col_labels: vec!["x".into(), "y".into()],
    };
    (fig, Some(m))
}
