//! The matrix a view shows, computed from the traces and the view options: which layer and
//! heads, which measure, special tokens hidden or not, and an optional difference against a
//! second trace. Recomputed only when one of those changes (see [`MapKey`]).

use crate::analysis::{self, HeadSel, Measure};
use crate::colormap::Scale;
use crate::matrix::Matrix;
use crate::model::Trace;
use std::sync::Arc;

/// What a map shows: the layer and heads, the measure, special tokens hidden or not, the
/// colour scale, per word or per piece.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MapOptions {
    /// the attention map (layer application), from 0
    pub layer: usize,
    pub head: HeadSel,
    pub measure: Measure,
    pub hide_special: bool,
    /// with special tokens hidden, each row renormalised to sum to 1
    pub renormalise: bool,
    /// one 0–1 colour scale (±1 for a difference) instead of the map's own range
    pub shared_scale: bool,
    pub log: bool,
    /// the trace given is merged to words (only the cache key: the caller merges)
    pub words: bool,
}

impl MapOptions {
    /// The map's cache key: these options and the generations of the runs it is computed from
    /// (the trace, the difference's second run, the value-weighted maps).
    pub fn key(self, trace_gen: u64, diff_gen: Option<u64>, value_gen: u64) -> MapKey {
        MapKey {
            trace_gen,
            diff_gen,
            value_gen,
            options: self,
        }
    }
}

/// Everything the displayed matrix depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct MapKey {
    pub trace_gen: u64,
    pub diff_gen: Option<u64>,
    pub value_gen: u64,
    pub options: MapOptions,
}

/// A matrix ready to draw (rows = queries) with how to colour it.
#[derive(Debug, Clone)]
pub struct MapData {
    /// the values, token labels of the rows and columns (for a difference: "a/b" where the
    /// tokens differ), and the map's title as its name
    pub matrix: Matrix,
    /// the trace positions of the rows/columns (they differ from 0.. when special tokens are
    /// hidden)
    pub index: Vec<usize>,
    pub scale: Scale,
    pub diverging: bool,
    /// what the hovered value is called ("weight", "|αf|", "Δ weight")
    pub value_name: &'static str,
}

/// The per-layer value-weighted maps the worker computed for the main trace.
#[derive(Debug, Clone)]
pub struct ValueMaps {
    pub layer: usize,
    pub per_head: Arc<Vec<f32>>,
    pub all: Arc<Vec<f32>>,
}

impl ValueMaps {
    /// The maps of the word pieces of `pieces` merged to its words, as the attention is (to a
    /// word = sum over its pieces, from a word = mean).
    pub fn merged_to_words(&self, pieces: &Trace) -> ValueMaps {
        use crate::analysis::words;
        let g = words::groups(pieces);
        let n = pieces.num_tokens();
        let per_head = self
            .per_head
            .chunks(n * n)
            .flat_map(|h| words::merge(h, n, &g))
            .collect();
        ValueMaps {
            layer: self.layer,
            per_head: Arc::new(per_head),
            all: Arc::new(words::merge(&self.all, n, &g)),
        }
    }
}

/// Why no matrix can be shown (said in the view instead).
pub type Missing = String;

/// How a difference map's title begins, before [`MapData::name_operands`] names A and B.
const DIFFERENCE: &str = "difference (A − B) of ";

/// The operands of a difference other than two models': each text (a second text's
/// difference), quoted and shortened as titles show them.
pub fn text_operand(text: &str) -> String {
    format!("\"{}\"", crate::files::printable(text, 40))
}

/// The operands of the intervention's difference: the run with it and the run without.
pub const INTERVENTION_OPERANDS: (&str, &str) = ("the run with the intervention", "the intact run");

impl MapData {
    /// Says what A and B of a difference map are, in its title (e.g. the two models' names);
    /// other maps are left as they are.
    pub fn name_operands(&mut self, a: &str, b: &str) {
        if let Some(what) = self.matrix.name.strip_prefix(DIFFERENCE) {
            self.matrix.name = format!("difference of {what}: A − B, A = {a}, B = {b}");
        }
    }
}

fn raw_map(
    trace: &Trace,
    rollout: &[Vec<f32>],
    value: Option<&ValueMaps>,
    key: &MapKey,
) -> Result<Vec<f32>, Missing> {
    let n = trace.num_tokens();
    let Some(layer) = trace.attentions.get(key.options.layer) else {
        return Err(format!(
            "layer {} does not exist (the model has {})",
            key.options.layer + 1,
            trace.attentions.len()
        ));
    };
    if let HeadSel::Head(h) = key.options.head {
        if h >= trace.num_heads {
            return Err(format!(
                "head {} does not exist (the layer has {})",
                h + 1,
                trace.num_heads
            ));
        }
    }
    Ok(match key.options.measure {
        Measure::Attention => analysis::select_heads(layer, trace.num_heads, n, key.options.head),
        Measure::Rollout => rollout
            .get(key.options.layer)
            .cloned()
            .ok_or_else(|| "rollout is not computed yet".to_string())?,
        Measure::ValueNorm => {
            let Some(v) = value.filter(|v| v.layer == key.options.layer) else {
                return Err("computing the value-weighted map…".into());
            };
            match key.options.head {
                HeadSel::Head(h) => v.per_head[h * n * n..(h + 1) * n * n].to_vec(),
                HeadSel::Mean => v.all.to_vec(),
                HeadSel::Max => analysis::max_heads(&v.per_head, trace.num_heads, n),
            }
        }
    })
}

/// The matrix for `key`. `diff` is the trace to subtract (same tokenization needed).
pub fn compute(
    trace: &Trace,
    rollout: &[Vec<f32>],
    value: Option<&ValueMaps>,
    diff: Option<(&Trace, &[Vec<f32>])>,
    key: &MapKey,
) -> Result<MapData, Missing> {
    let n = trace.num_tokens();
    let mut map = raw_map(trace, rollout, value, key)?;
    let mut row_labels = trace.tokens.clone();
    if let Some((other, other_rollout)) = diff {
        if key.options.measure == Measure::ValueNorm {
            return Err("the difference view compares attention or rollout, not value-weighted maps: pick one of those".into());
        }
        if other.num_tokens() != n {
            return Err(format!(
                "the two inputs tokenize to different lengths ({n} and {} tokens): a difference needs inputs of the same length, e.g. sentences that differ in one word",
                other.num_tokens()
            ));
        }
        if other.attentions.len() != trace.attentions.len() || other.num_heads != trace.num_heads {
            return Err(format!(
                "the two models have different shapes ({} layers × {} heads against {} × {})",
                trace.attentions.len(),
                trace.num_heads,
                other.attentions.len(),
                other.num_heads
            ));
        }
        let b = raw_map(other, other_rollout, None, key)?;
        map = analysis::difference(&map, &b);
        row_labels = trace
            .tokens
            .iter()
            .zip(&other.tokens)
            .map(|(a, b)| {
                if a == b {
                    a.clone()
                } else {
                    format!("{a}/{b}")
                }
            })
            .collect();
    }
    let index = trace.kept_tokens(key.options.hide_special);
    if index.is_empty() {
        return Err("the input has only special tokens: show them to see its attention".into());
    }
    let renorm = key.options.hide_special && key.options.renormalise && diff.is_none();
    let values = if key.options.hide_special {
        analysis::restrict(&map, n, &index, renorm)
    } else {
        map
    };
    let labels: Vec<String> = index.iter().map(|&i| row_labels[i].clone()).collect();
    let diverging = diff.is_some();
    let (lo, hi) = analysis::value_range(&values);
    let scale = if diverging {
        let m = if key.options.shared_scale {
            1.0
        } else {
            lo.abs().max(hi.abs()).max(1e-6)
        };
        Scale {
            lo: -m,
            hi: m,
            log: key.options.log,
        }
    } else if key.options.shared_scale && key.options.measure != Measure::ValueNorm {
        Scale {
            lo: 0.0,
            hi: 1.0,
            log: key.options.log,
        }
    } else {
        Scale {
            lo: if key.options.log {
                lo.max(crate::colormap::LOG_FLOOR)
            } else {
                0.0f32.min(lo)
            },
            hi: hi.max(1e-6),
            log: key.options.log,
        }
    };
    let head = match key.options.head {
        HeadSel::Head(h) => format!("head {}", h + 1),
        HeadSel::Mean if key.options.measure == Measure::ValueNorm => "all heads (|Σ αf|)".into(),
        HeadSel::Mean => "mean over heads".into(),
        HeadSel::Max => "max over heads".into(),
    };
    let what = match key.options.measure {
        Measure::Attention => format!("attention, layer {}, {head}", key.options.layer + 1),
        Measure::Rollout => format!("attention rollout, layers 1–{}", key.options.layer + 1),
        Measure::ValueNorm => format!("|α f(x)|, layer {}, {head}", key.options.layer + 1),
    };
    let what = if key.options.words {
        format!("{what}, per word")
    } else {
        what
    };
    let title = if diverging {
        format!("{DIFFERENCE}{what}")
    } else if renorm {
        format!("{what}, special tokens hidden, rows renormalised")
    } else if key.options.hide_special {
        format!("{what}, special tokens hidden")
    } else {
        what
    };
    Ok(MapData {
        matrix: Matrix {
            name: title,
            rows: index.len(),
            cols: index.len(),
            values,
            row_labels: labels.clone(),
            col_labels: labels,
        },
        index,
        scale,
        diverging,
        value_name: match (diverging, key.options.measure) {
            (true, _) => "Δ",
            (false, Measure::ValueNorm) => "|αf|",
            (false, Measure::Rollout) => "rollout",
            (false, Measure::Attention) => "weight",
        },
    })
}
