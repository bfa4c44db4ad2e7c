//! What fine-tuning changed in attention (Kovaleva et al. 2019, Figure 5): for every layer
//! application l and head h, the cosine similarity of the fine-tuned model's and its parent's
//! attention maps on the same text, the N×N maps flattened,
//!
//!   cos[l, h] = Σ_ij A_ij B_ij / (‖A‖_F ‖B‖_F),
//!
//! averaged over the texts. 1: the head attends as before; lower: fine-tuning moved it. Both
//! models must tokenize alike (a fine-tune keeps its parent's tokenizer) and have the same
//! layer applications and heads.

use super::Control;
use crate::backend::Backend;
use crate::error::{LensError, Result};
use crate::model::LoadedModel;

/// The mean cosine similarity `[maps, heads]` of `tuned`'s and `parent`'s attention over
/// `texts` (text, optional pair), each run on `backend`.
pub fn attention_similarity(
    (tuned, parent): (&LoadedModel, &LoadedModel),
    texts: &[(String, Option<String>)],
    backend: &mut dyn Backend,
    ctl: &Control,
) -> Result<Vec<f32>> {
    let (a, b) = (&tuned.config, &parent.config);
    let shape = |c: &crate::model::ModelConfig| (c.num_attention_maps(), c.num_attention_heads);
    if shape(a) != shape(b) {
        return Err(LensError::Analysis(format!(
            "the two models do not have the same heads: {} layer applications × {} heads against {} × {}",
            shape(a).0,
            shape(a).1,
            shape(b).0,
            shape(b).1
        )));
    }
    if texts.is_empty() {
        return Err(LensError::Analysis(
            "there are no texts to compare the models on".into(),
        ));
    }
    let (maps, heads) = shape(a);
    let mut total = vec![0f64; maps * heads];
    for (t, (text, pair)) in texts.iter().enumerate() {
        if ctl.cancelled() {
            return Err(LensError::Cancelled("the attention comparison".into()));
        }
        let ia = tuned.encode(text, pair.as_deref())?;
        let ib = parent.encode(text, pair.as_deref())?;
        if ia.ids != ib.ids {
            return Err(LensError::Analysis(format!(
                "the two models tokenize text {} differently, so their attention maps do not line up: compare a fine-tuned model with the model it was fine-tuned from",
                t + 1
            )));
        }
        let ta = backend.forward(a, &tuned.weights, &ia)?;
        let tb = backend.forward(b, &parent.weights, &ib)?;
        for j in 0..maps {
            for h in 0..heads {
                let (x, y) = (ta.head(j, h), tb.head(j, h));
                let (mut dot, mut xx, mut yy) = (0f64, 0f64, 0f64);
                for (&p, &q) in x.iter().zip(y) {
                    let (p, q) = (p as f64, q as f64);
                    dot += p * q;
                    xx += p * p;
                    yy += q * q;
                }
                let denom = (xx * yy).sqrt();
                total[j * heads + h] += if denom > 0.0 { dot / denom } else { 0.0 };
            }
        }
        ctl.report(
            format!("attention compared on {}/{} texts", t + 1, texts.len()),
            Some((t + 1) as f32 / texts.len() as f32),
        );
    }
    Ok(total
        .iter()
        .map(|s| (s / texts.len() as f64) as f32)
        .collect())
}
