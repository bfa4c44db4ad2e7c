//! How layers relate: the ALBERT paper's Figure 1 (how far each layer moves its input) and
//! Jensen–Shannon distances between layers' attention.

use crate::error::{LensError, Result};
use crate::model::Trace;
use rayon::prelude::*;

/// How far one layer moves its input, averaged over tokens: the ALBERT paper's Figure 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition {
    /// mean over tokens of ||out_i - in_i||
    pub l2: f64,
    /// mean over tokens of the angle between in_i and out_i, in degrees
    pub angle_deg: f64,
}

/// What Figure 1 averages over, stated under the plot.
pub const FIGURE1_AVERAGING: &str = "each point: the mean over the tokens of the input of the L2 distance (left) and the angle (right, degrees; arccos of the cosine similarity) between one token's embedding before and after the layer";

/// For every layer application j, the L2 distance and the angle between each token's hidden
/// state before (`hidden_states[j]`) and after (`hidden_states[j + 1]`), averaged over the
/// tokens in `keep` (all tokens when empty).
pub fn figure1(trace: &Trace, keep: &[usize]) -> Vec<Transition> {
    let h = trace.hidden_size;
    let n = trace.num_tokens();
    let rows: Vec<usize> = if keep.is_empty() {
        (0..n).collect()
    } else {
        keep.to_vec()
    };
    trace
        .hidden_states
        .windows(2)
        .map(|w| {
            let (mut l2, mut angle) = (0.0, 0.0);
            for &i in &rows {
                let a = &w[0][i * h..(i + 1) * h];
                let b = &w[1][i * h..(i + 1) * h];
                l2 += a
                    .iter()
                    .zip(b)
                    .map(|(x, y)| ((y - x) as f64).powi(2))
                    .sum::<f64>()
                    .sqrt();
                angle += angle_between(a, b);
            }
            let m = rows.len().max(1) as f64;
            Transition {
                l2: l2 / m,
                angle_deg: angle / m,
            }
        })
        .collect()
}

/// The angle between two vectors in degrees (0 when either is zero).
pub fn angle_between(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        ab += x as f64 * y as f64;
        aa += x as f64 * x as f64;
        bb += y as f64 * y as f64;
    }
    if aa == 0.0 || bb == 0.0 {
        return 0.0;
    }
    (ab / (aa.sqrt() * bb.sqrt()))
        .clamp(-1.0, 1.0)
        .acos()
        .to_degrees()
}

/// The Jensen–Shannon distance between two distributions, with base-2 logarithms, so that it
/// lies in [0, 1]: sqrt(½ KL(p‖m) + ½ KL(q‖m)) with m = (p + q) / 2.
pub fn js_distance(p: &[f32], q: &[f32]) -> f64 {
    let mut js = 0.0;
    for (&a, &b) in p.iter().zip(q) {
        let (a, b) = (a.max(0.0) as f64, b.max(0.0) as f64);
        let m = 0.5 * (a + b);
        if a > 0.0 {
            js += 0.5 * a * (a / m).log2();
        }
        if b > 0.0 {
            js += 0.5 * b * (b / m).log2();
        }
    }
    js.max(0.0).sqrt()
}

/// Which attention the cross-layer comparison reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum JsMode {
    /// each layer's mean over heads
    MeanOfHeads,
    /// head h of one layer against head h of the other, averaged over heads
    MatchedHeads,
    /// one head
    Head(usize),
}

impl JsMode {
    /// This mode for a model with `heads` heads: a head it lacks falls back to matched heads.
    pub fn within(self, heads: usize) -> JsMode {
        match self {
            JsMode::Head(h) if h >= heads => JsMode::MatchedHeads,
            m => m,
        }
    }

    /// The mode's name in the app's menu.
    pub fn name(self) -> String {
        match self {
            JsMode::MatchedHeads => "head h vs head h (mean over heads)".into(),
            JsMode::MeanOfHeads => "mean of heads".into(),
            JsMode::Head(h) => format!("head {}", h + 1),
        }
    }

    /// What the matrix averages, for titles.
    pub fn describe(self) -> String {
        match self {
            JsMode::MatchedHeads => {
                "head h against head h, mean over heads and query tokens".into()
            }
            JsMode::MeanOfHeads => "mean of heads, mean over query tokens".into(),
            JsMode::Head(h) => format!("head {}, mean over query tokens", h + 1),
        }
    }
}

/// An L x L matrix (row-major) of the Jensen–Shannon distance between two layers' attention,
/// averaged over query tokens (and heads, per `mode`).
pub fn cross_layer_js(trace: &Trace, mode: JsMode) -> Result<Vec<f32>> {
    let n = trace.num_tokens();
    let heads = trace.num_heads;
    let l = trace.attentions.len();
    if let JsMode::Head(h) = mode {
        if h >= heads {
            return Err(LensError::Analysis(format!(
                "head {} does not exist: the model has {heads} heads",
                h + 1
            )));
        }
    }
    let mean_maps: Vec<Vec<f32>> = if mode == JsMode::MeanOfHeads {
        trace
            .attentions
            .iter()
            .map(|a| crate::analysis::mean_heads(a, heads, n))
            .collect()
    } else {
        Vec::new()
    };
    let pair = |a: usize, b: usize| -> f32 {
        let rows = |m: &[f32], m2: &[f32]| -> f64 {
            (0..n)
                .map(|i| js_distance(&m[i * n..(i + 1) * n], &m2[i * n..(i + 1) * n]))
                .sum::<f64>()
                / n as f64
        };
        let nn = n * n;
        let v = match mode {
            JsMode::MeanOfHeads => rows(&mean_maps[a], &mean_maps[b]),
            JsMode::Head(h) => rows(
                &trace.attentions[a][h * nn..(h + 1) * nn],
                &trace.attentions[b][h * nn..(h + 1) * nn],
            ),
            JsMode::MatchedHeads => {
                (0..heads)
                    .map(|h| {
                        rows(
                            &trace.attentions[a][h * nn..(h + 1) * nn],
                            &trace.attentions[b][h * nn..(h + 1) * nn],
                        )
                    })
                    .sum::<f64>()
                    / heads as f64
            }
        };
        v as f32
    };
    let upper: Vec<(usize, usize, f32)> = (0..l)
        .flat_map(|a| (a + 1..l).map(move |b| (a, b)))
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|(a, b)| (a, b, pair(a, b)))
        .collect();
    let mut out = vec![0f32; l * l];
    for (a, b, v) in upper {
        out[a * l + b] = v;
        out[b * l + a] = v;
    }
    Ok(out)
}
