//! The layer lens: the masked-LM head applied to one position of every hidden state.

use crate::error::{LensError, Result};
use crate::model::{ModelConfig, Trace};

/// One row of the layer lens: the masked-LM head's top predictions from one hidden state.
#[derive(Debug, Clone, PartialEq)]
pub struct LensRow {
    /// index into `hidden_states` (0: the embeddings, j + 1: after layer application j)
    pub state: usize,
    /// (token id, probability), most probable first
    pub top: Vec<(u32, f32)>,
    /// the whole distribution over the vocabulary
    pub probs: Vec<f32>,
}

/// The masked-LM head applied to position `pos` of every hidden state: the top `k` tokens and
/// their softmax probabilities at each depth.
pub fn layer_lens(
    cfg: &ModelConfig,
    head: &crate::model::MlmHead,
    trace: &Trace,
    pos: usize,
    k: usize,
) -> Result<Vec<LensRow>> {
    let h = trace.hidden_size;
    let n = trace.num_tokens();
    if pos >= n {
        return Err(LensError::Analysis(format!(
            "position {pos} is past the end of the input ({n} tokens)"
        )));
    }
    trace
        .hidden_states
        .iter()
        .enumerate()
        .map(|(state, hs)| {
            let logits = head.logits(cfg, &hs[pos * h..(pos + 1) * h])?;
            let probs = softmax(&logits);
            let mut order: Vec<u32> = (0..probs.len() as u32).collect();
            let k = k.min(order.len());
            order.select_nth_unstable_by(k.saturating_sub(1), |&a, &b| {
                probs[b as usize].total_cmp(&probs[a as usize])
            });
            order.truncate(k);
            order.sort_by(|&a, &b| {
                probs[b as usize]
                    .total_cmp(&probs[a as usize])
                    .then(a.cmp(&b))
            });
            Ok(LensRow {
                state,
                top: order.iter().map(|&t| (t, probs[t as usize])).collect(),
                probs,
            })
        })
        .collect()
}

/// The layer lens as the views show it, tokens as text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LensTable {
    /// (hidden-state index, [(token, probability)]): the top k at each depth
    pub rows: Vec<(usize, Vec<(String, f32)>)>,
    /// every token in some depth's top k (first seen first), with its probability at every
    /// depth: how the prediction forms
    pub curves: Vec<(String, Vec<f32>)>,
}

impl LensTable {
    pub fn new(rows: &[LensRow], decode: &dyn Fn(u32) -> String) -> Self {
        let mut candidates: Vec<u32> = Vec::new();
        for r in rows {
            for &(t, _) in &r.top {
                if !candidates.contains(&t) {
                    candidates.push(t);
                }
            }
        }
        LensTable {
            rows: rows
                .iter()
                .map(|r| {
                    (
                        r.state,
                        r.top.iter().map(|&(t, p)| (decode(t), p)).collect(),
                    )
                })
                .collect(),
            curves: candidates
                .iter()
                .map(|&c| {
                    let by_depth = rows
                        .iter()
                        .map(|r| r.probs.get(c as usize).copied().unwrap_or(f32::NAN))
                        .collect();
                    (decode(c), by_depth)
                })
                .collect(),
        }
    }
}

/// A numerically stable softmax in f64, returned as f32.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let exps: Vec<f64> = logits.iter().map(|&x| (x as f64 - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| (e / sum) as f32).collect()
}
