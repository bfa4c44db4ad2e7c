//! Corpus search (exBERT) and the query–key view (AttentionViz): every token of a corpus with
//! its hidden state at one depth, kept in f16 (and cached on disk), to find the corpus tokens
//! nearest by cosine to a token the user clicks, and to project one head's queries and keys of
//! the whole corpus into one picture.
//!
//! `states` holds `hidden_states[layer]` of each token: the input of attention map `layer` (0:
//! the embedding output projected to H). Queries and keys of map j, head h are
//! x W_Q^h + b_Q^h and x W_K^h + b_K^h of that input, as transformers computes them (no 1/√d).

use super::{CorpusSource, Line};
use crate::backend::Backend;
use crate::error::{LensError, Result};
use crate::model::{EncodedInput, LoadedModel, ModelWeights};
use half::f16;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Every token of a corpus at one depth.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenStates {
    /// which hidden state (0 = the embedding output, j = the input of attention map j)
    pub layer: usize,
    pub width: usize,
    /// `[tokens, width]`
    pub states: Vec<f16>,
    pub tokens: Vec<String>,
    pub special: Vec<bool>,
    /// (text, position) of each token
    pub owner: Vec<(u32, u32)>,
    /// each text as run (a pair joined by " ‖ ")
    pub texts: Vec<String>,
}

/// One search hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub token: usize,
    pub cosine: f32,
}

impl TokenStates {
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Token `t`'s state as f32.
    pub fn state(&self, t: usize) -> Vec<f32> {
        self.states[t * self.width..(t + 1) * self.width]
            .iter()
            .map(|v| v.to_f32())
            .collect()
    }

    /// The text of token `t` and its tokens, with `t`'s position among them.
    pub fn context(&self, t: usize) -> (&str, usize) {
        let (text, pos) = self.owner[t];
        (&self.texts[text as usize], pos as usize)
    }

    /// The `k` tokens nearest to `query` by cosine, best first (special tokens left out when
    /// `skip_special`).
    pub fn nearest(&self, query: &[f32], k: usize, skip_special: bool) -> Vec<Hit> {
        use rayon::prelude::*;
        let qn = query.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-30);
        let mut scored: Vec<Hit> = (0..self.len())
            .into_par_iter()
            .filter(|&t| !(skip_special && self.special[t]))
            .map(|t| {
                let row = &self.states[t * self.width..(t + 1) * self.width];
                let (mut dot, mut nn) = (0f32, 0f32);
                for (a, b) in row.iter().zip(query) {
                    let a = a.to_f32();
                    dot += a * b;
                    nn += a * a;
                }
                Hit {
                    token: t,
                    cosine: dot / (nn.sqrt().max(1e-30) * qn),
                }
            })
            .collect();
        scored.sort_by(|a, b| b.cosine.total_cmp(&a.cosine));
        scored.truncate(k);
        scored
    }

    /// Queries and keys of every token for map `j` (whose input these states must be), head
    /// `head`: two `[tokens, d]` matrices.
    pub fn queries_keys(&self, model: &LoadedModel, head: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        let cfg = &model.config;
        let j = self.layer;
        if j >= cfg.num_attention_maps() || head >= cfg.num_attention_heads {
            return Err(LensError::Unsupported(format!(
                "map {} head {} is not in the model ({} maps of {} heads); queries and keys need the input of a map",
                j + 1,
                head + 1,
                cfg.num_attention_maps(),
                cfg.num_attention_heads
            )));
        }
        let (_, group, inner) = ModelWeights::layer_of_attention(cfg, j);
        let layer = &model.weights.groups[group][inner];
        let (h, d) = (cfg.hidden_size, cfg.head_dim());
        let x: Vec<f32> = self.states.iter().map(|v| v.to_f32()).collect();
        let x = candle_core::Tensor::from_vec(x, (self.len(), h), &candle_core::Device::Cpu)?;
        let part = |offset: usize| -> Result<Vec<f32>> {
            let w = layer.qkv.w.narrow(1, offset + head * d, d)?;
            let b = layer.qkv.b.narrow(0, offset + head * d, d)?;
            Ok(x.matmul(&w)?
                .broadcast_add(&b)?
                .flatten_all()?
                .to_vec1::<f32>()?)
        };
        Ok((part(0)?, part(h)?))
    }

    pub fn to_safetensors_bytes(&self) -> Result<Vec<u8>> {
        use safetensors::tensor::{Dtype, TensorView};
        let err = |e: safetensors::SafeTensorError| LensError::Export(e.to_string());
        let states: Vec<u8> = self.states.iter().flat_map(|v| v.to_le_bytes()).collect();
        let owner: Vec<u8> = self
            .owner
            .iter()
            .flat_map(|&(a, b)| [i64::from(a), i64::from(b)])
            .flat_map(i64::to_le_bytes)
            .collect();
        let views = vec![
            (
                "states",
                TensorView::new(Dtype::F16, vec![self.len(), self.width], &states).map_err(err)?,
            ),
            (
                "owner",
                TensorView::new(Dtype::I64, vec![self.len(), 2], &owner).map_err(err)?,
            ),
        ];
        let json = |r: serde_json::Result<String>| r.map_err(|e| LensError::Export(e.to_string()));
        let meta = HashMap::from([
            ("layer".to_string(), self.layer.to_string()),
            (
                "tokens".to_string(),
                json(serde_json::to_string(&self.tokens))?,
            ),
            (
                "special".to_string(),
                json(serde_json::to_string(&self.special))?,
            ),
            (
                "texts".to_string(),
                json(serde_json::to_string(&self.texts))?,
            ),
        ]);
        safetensors::serialize(views, Some(meta)).map_err(err)
    }

    pub fn from_safetensors_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        use safetensors::tensor::{Dtype, SafeTensors};
        let err = |msg: String| LensError::TraceFile {
            path: path.to_path_buf(),
            msg: format!("not a corpus token-state file: {msg}"),
        };
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| err(e.to_string()))?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| err(e.to_string()))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let s = st.tensor("states").map_err(|e| err(e.to_string()))?;
        let o = st.tensor("owner").map_err(|e| err(e.to_string()))?;
        let (Dtype::F16, [n, width], Dtype::I64) = (s.dtype(), s.shape(), o.dtype()) else {
            return Err(err("states must be F16 [T, H] and owner I64".into()));
        };
        let (n, width) = (*n, *width);
        let states = s
            .data()
            .chunks_exact(2)
            .map(|c| f16::from_le_bytes([c[0], c[1]]))
            .collect();
        let ints: Vec<i64> = o
            .data()
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        let owner = ints
            .chunks_exact(2)
            .map(|c| (c[0] as u32, c[1] as u32))
            .collect::<Vec<_>>();
        let parse = |key: &str| -> Result<serde_json::Value> {
            serde_json::from_str(meta.get(key).map_or("null", String::as_str))
                .map_err(|e| err(format!("{key}: {e}")))
        };
        let tokens: Vec<String> =
            serde_json::from_value(parse("tokens")?).map_err(|e| err(e.to_string()))?;
        let special: Vec<bool> =
            serde_json::from_value(parse("special")?).map_err(|e| err(e.to_string()))?;
        let texts: Vec<String> =
            serde_json::from_value(parse("texts")?).map_err(|e| err(e.to_string()))?;
        if tokens.len() != n || special.len() != n || owner.len() != n {
            return Err(err("token lists and states differ in length".into()));
        }
        Ok(TokenStates {
            layer: meta.get("layer").and_then(|l| l.parse().ok()).unwrap_or(0),
            width,
            states,
            tokens,
            special,
            owner,
            texts,
        })
    }
}

/// Runs (at most `limit` texts of) the corpus and keeps every token's `hidden_states[layer]`
/// in f16. Lines that fail are left out, as in [`super::run`]; `progress` gets the texts done.
pub fn collect(
    (model, backend): (&LoadedModel, &mut dyn Backend),
    source: &CorpusSource,
    layer: usize,
    limit: Option<u64>,
    progress: &mut dyn FnMut(u64),
    cancel: &AtomicBool,
) -> Result<TokenStates> {
    let cfg = &model.config;
    if layer > cfg.num_attention_maps() {
        return Err(LensError::Unsupported(format!(
            "hidden state {layer}: the model has {} (0 to {})",
            cfg.num_attention_maps() + 1,
            cfg.num_attention_maps()
        )));
    }
    let mut out = TokenStates {
        layer,
        width: cfg.hidden_size,
        states: Vec::new(),
        tokens: Vec::new(),
        special: Vec::new(),
        owner: Vec::new(),
        texts: Vec::new(),
    };
    let mut pending: Vec<(EncodedInput, String)> = Vec::new();
    let mut flush =
        |pending: &mut Vec<(EncodedInput, String)>, out: &mut TokenStates| -> Result<()> {
            let inputs: Vec<EncodedInput> = pending.iter().map(|(e, _)| e.clone()).collect();
            let traces = backend.forward_batch(cfg, &model.weights, &inputs, false)?;
            for (t, (_, text)) in traces.iter().zip(pending.drain(..)) {
                let id = out.texts.len() as u32;
                out.texts.push(text);
                out.states
                    .extend(t.hidden_states[layer].iter().map(|&v| f16::from_f32(v)));
                for (p, tok) in t.tokens.iter().enumerate() {
                    out.tokens.push(tok.clone());
                    out.special.push(t.special[p]);
                    out.owner.push((id, p as u32));
                }
            }
            Ok(())
        };
    let mut done = 0u64;
    for line in source.lines((0, 1))? {
        if limit.is_some_and(|l| done >= l) {
            break;
        }
        if cancel.load(Ordering::Relaxed) {
            return Err(LensError::Cancelled(format!(
                "collecting token states stopped after {done} texts"
            )));
        }
        let Line::Text { text, pair, .. } = line? else {
            continue;
        };
        let Ok(e) = model.encode(&text, pair.as_deref()) else {
            continue;
        };
        let shown = match &pair {
            Some(p) => format!("{text} ‖ {p}"),
            None => text,
        };
        pending.push((e, shown));
        done += 1;
        if pending.len() == 16 {
            flush(&mut pending, &mut out)?;
            progress(done);
        }
    }
    if !pending.is_empty() {
        flush(&mut pending, &mut out)?;
        progress(done);
    }
    Ok(out)
}

/// [`collect`], read from / written to the corpus cache (by model folder, corpus content,
/// limit and layer).
pub fn cached_collect(
    (model, backend): (&LoadedModel, &mut dyn Backend),
    source: &CorpusSource,
    layer: usize,
    limit: Option<u64>,
    progress: &mut dyn FnMut(u64),
    cancel: &AtomicBool,
) -> Result<TokenStates> {
    let tag = source
        .fingerprint()
        .map(|f| format!("{f} limit {limit:?} states {layer}"));
    let width = model.config.hidden_size;
    let (s, _) = super::cached(
        &model.dir,
        tag.as_deref(),
        |bytes| {
            TokenStates::from_safetensors_bytes(bytes, Path::new("corpus cache"))
                .ok()
                .filter(|s| s.width == width && s.layer == layer)
        },
        || collect((model, backend), source, layer, limit, progress, cancel),
        TokenStates::to_safetensors_bytes,
    )?;
    Ok(s)
}

/// The keys moved so that their centroid is the queries' centroid (AttentionViz's
/// translation, so that a query's nearest keys in the picture are the ones it scores highest
/// up to the shift every query shares). Both `[n, d]`.
pub fn centre_keys(q: &[f32], k: &[f32], d: usize) -> Vec<f32> {
    let n = q.len() / d.max(1);
    let centroid = |m: &[f32]| -> Vec<f64> {
        let mut c = vec![0f64; d];
        for row in m.chunks(d) {
            c.iter_mut().zip(row).for_each(|(a, &b)| *a += f64::from(b));
        }
        c.iter_mut().for_each(|a| *a /= n.max(1) as f64);
        c
    };
    let (cq, ck) = (centroid(q), centroid(k));
    k.chunks(d)
        .flat_map(|row| {
            row.iter()
                .zip(cq.iter().zip(&ck))
                .map(|(&v, (a, b))| (f64::from(v) - b + a) as f32)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// AttentionViz's joint picture of one head: queries and keys stacked, the keys moved to the
/// queries' centroid ([`centre_keys`]), projected together by PCA to 2D. Returns the points,
/// queries first then keys.
pub fn project_queries_keys(q: &[f32], k: &[f32], d: usize) -> Result<Vec<(f32, f32)>> {
    let n = q.len() / d.max(1);
    let mut joint = q.to_vec();
    joint.extend(centre_keys(q, k, d));
    let p = crate::insight::pca::pca(&joint, 2 * n, d, 2)?;
    Ok(p.coords
        .chunks(p.k)
        .map(|c| (c[0], c.get(1).copied().unwrap_or(0.0)))
        .collect())
}
