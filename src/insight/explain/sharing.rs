//! The walk's last layer step: which stored layer each depth applies (ALBERT's sharing, or a
//! layer of its own per depth), with a thumbnail of each stored layer's query weights.

use crate::error::Result;
use crate::model::LoadedModel;

/// Which stored layer each depth of a model applies, and a thumbnail of each stored layer's
/// query weights for one head.
#[derive(Debug, Clone, PartialEq)]
pub struct Sharing {
    pub model: String,
    /// for every attention map: the index of the stored layer it applies
    pub stored_of_map: Vec<usize>,
    pub stored_layers: usize,
    /// one per stored layer: the head's W_Q block (H × d) averaged down to at most 24 × 12
    pub thumbs: Vec<Thumb>,
}

/// A small matrix drawn as a heatmap thumbnail.
#[derive(Debug, Clone, PartialEq)]
pub struct Thumb {
    pub rows: usize,
    pub cols: usize,
    pub values: Vec<f32>,
}

impl Sharing {
    /// The sharing of `model` (thumbnails of head `head`, or of its last head if it has fewer).
    pub fn of(model: &LoadedModel, head: usize) -> Result<Sharing> {
        let cfg = &model.config;
        let inner = cfg.inner_group_num.max(1);
        let shared = cfg.model_type.0.shared_layers;
        let stored_of_map = (0..cfg.num_attention_maps())
            .map(|j| {
                let (outer, k) = (j / inner, j % inner);
                if shared {
                    cfg.group_of_layer(outer) * inner + k
                } else {
                    outer
                }
            })
            .collect();
        let (h, d) = (cfg.hidden_size, cfg.head_dim());
        let head = head.min(cfg.num_attention_heads.saturating_sub(1));
        let mut thumbs = Vec::new();
        for layer in model.weights.groups.iter().flatten() {
            let w = layer
                .qkv
                .w
                .narrow(1, head * d, d)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            thumbs.push(pool(&w, h, d, 24, 12));
        }
        Ok(Sharing {
            model: cfg.model_type.0.name.to_string(),
            stored_of_map,
            stored_layers: cfg.stored_layers(),
            thumbs,
        })
    }
}

/// `rows × cols` values averaged down to at most `max_r × max_c` cells.
fn pool(v: &[f32], rows: usize, cols: usize, max_r: usize, max_c: usize) -> Thumb {
    let (pr, pc) = (rows.min(max_r).max(1), cols.min(max_c).max(1));
    let mut out = vec![0f32; pr * pc];
    let mut counts = vec![0u32; pr * pc];
    for r in 0..rows {
        for c in 0..cols {
            let i = (r * pr / rows) * pc + c * pc / cols;
            out[i] += v[r * cols + c];
            counts[i] += 1;
        }
    }
    for (o, n) in out.iter_mut().zip(&counts) {
        *o /= (*n).max(1) as f32;
    }
    Thumb {
        rows: pr,
        cols: pc,
        values: out,
    }
}
