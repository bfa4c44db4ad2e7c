//! What every head does across a corpus (Clark et al. 2019; Kobayashi et al. 2020): for every
//! attention map l and head h, the mean over every query position i of every text (each position
//! weighing the same, special tokens included as queries) of
//!
//! - `cls`, `sep`: Σ α_ij over keys j that are the [CLS] (resp. [SEP]) token (the special token
//!   at position 0 is [CLS], every other special token a [SEP], as BERT and ALBERT lay them out);
//! - `punct`: Σ α_ij over non-special keys whose text, without the '▁' / '##' markers, is
//!   non-empty and all Unicode punctuation (general categories P*);
//! - `self` α_ii; `prev` α_i,i−1 (0 at i = 0); `next` α_i,i+1 (0 at the last position);
//! - `entropy` −Σ_j α_ij ln α_ij (nats); `distance` Σ_j α_ij |i − j|;
//! - `sep_norm` Σ_{j∈[SEP]} α_ij‖f_h(x_j)‖ / Σ_k α_ik‖f_h(x_k)‖ with f_h(x) = (x W_V^h + b_V^h)
//!   W_O^h: the head's value through its slice of the output dense, no bias, x the layer's input;
//!
//! and `head_js` `[L·heads, L·heads]`: entry (a, b), a = l·heads + h, the mean over query
//! positions of the Jensen–Shannon divergence in bits between heads a's and b's attention rows.
//! The file (`--out stats.safetensors`) holds each statistic as F32 `[L, heads]`, `head_js`, `rows`
//! (I64 `[1]`: the query positions averaged) and metadata; [`HeadStats::merge`] combines shards
//! exactly, weighting by `rows`.

use crate::error::{LensError, Result};
use crate::model::{ModelConfig, ModelWeights, Trace};
use candle_core::Tensor;
use std::collections::HashMap;
use std::path::Path;

pub use super::statistic::{stat_index, Stat, STATS};

/// What the statistics were computed on (the file's metadata).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CorpusMeta {
    /// The model as the user named it (a folder, a built-in name, hub:ID).
    pub model: String,
    /// "builtin:brown-heldout" or the file's name, with the content's SHA-256 prefix.
    pub corpus: String,
    /// Texts run.
    pub lines: u64,
    /// Texts cut to the model's positions.
    pub truncated: u64,
    /// Lines left out (empty, invalid UTF-8, too long), with why, the first few.
    pub skipped: u64,
    /// "i/n" for a shard, "" for the whole corpus (or a merge of every shard).
    pub shard: String,
}

/// Sums over query positions of every statistic, so that shards add exactly; the means are
/// what the file and the views show.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadStats {
    pub maps: usize,
    pub heads: usize,
    /// Query positions summed over.
    pub rows: u64,
    /// `[STATS.len()][maps · heads]`
    sums: Vec<Vec<f64>>,
    /// `[K, K]`, K = maps · heads
    js: Vec<f64>,
    pub meta: CorpusMeta,
}

impl HeadStats {
    pub fn new(maps: usize, heads: usize) -> Self {
        let k = maps * heads;
        HeadStats {
            maps,
            heads,
            rows: 0,
            sums: vec![vec![0.0; k]; STATS.len()],
            js: vec![0.0; k * k],
            meta: CorpusMeta::default(),
        }
    }

    /// The mean of statistic `s` ([`STATS`] index) for map `l`, head `h`.
    pub fn mean(&self, s: usize, l: usize, h: usize) -> f64 {
        self.sums[s][l * self.heads + h] / self.rows.max(1) as f64
    }

    /// Statistic `s` as `[maps · heads]` means.
    pub fn means(&self, s: usize) -> Vec<f64> {
        let r = self.rows.max(1) as f64;
        self.sums[s].iter().map(|v| v / r).collect()
    }

    /// The mean over heads of statistic `s`, per map (Clark et al.'s Figure 1 lines).
    pub fn layer_means(&self, s: usize) -> Vec<f64> {
        (0..self.maps)
            .map(|l| (0..self.heads).map(|h| self.mean(s, l, h)).sum::<f64>() / self.heads as f64)
            .collect()
    }

    /// `head_js` as `[K, K]` means (bits).
    pub fn head_js(&self) -> Vec<f64> {
        let r = self.rows.max(1) as f64;
        self.js.iter().map(|v| v / r).collect()
    }

    /// Adds another part of the same model's statistics (a batch, a shard).
    pub fn merge(&mut self, other: &HeadStats) -> Result<()> {
        if (self.maps, self.heads) != (other.maps, other.heads) {
            return Err(LensError::Analysis(format!(
                "cannot merge statistics of {} maps × {} heads with {} × {}: not the same model",
                self.maps, self.heads, other.maps, other.heads
            )));
        }
        let too_many = || {
            LensError::Analysis(format!(
                "cannot merge: the counts would pass {MAX_ROWS} query positions"
            ))
        };
        self.rows = self
            .rows
            .checked_add(other.rows)
            .filter(|r| *r <= MAX_ROWS as u64)
            .ok_or_else(too_many)?;
        for (a, b) in self.sums.iter_mut().zip(&other.sums) {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        }
        self.js.iter_mut().zip(&other.js).for_each(|(x, y)| *x += y);
        let m = &mut self.meta;
        m.lines = m.lines.checked_add(other.meta.lines).ok_or_else(too_many)?;
        m.truncated = m.truncated.saturating_add(other.meta.truncated);
        m.skipped = m.skipped.saturating_add(other.meta.skipped);
        Ok(())
    }

    /// Adds one text's trace. `norms[j]` holds ‖f_h(x_k)‖ as `[heads, N]` for map j.
    pub fn add_trace(&mut self, trace: &Trace, norms: &[Vec<f32>]) {
        let n = trace.num_tokens();
        let heads = self.heads;
        let classes = token_classes(&trace.tokens[..n], &trace.special);
        let of = |bit: u8| -> Vec<usize> { (0..n).filter(|&j| classes[j] & bit != 0).collect() };
        let (cls, sep, punct) = (of(CLASS_CLS), of(CLASS_SEP), of(CLASS_PUNCT));
        let k = self.maps * heads;
        // every head's row for one query, key-major (`[n, K]`), and Σ p ln p of each, for the
        // JS divergences
        let mut rows = vec![0f32; n * k];
        let mut plogp = vec![0f64; k];
        for i in 0..n {
            for (l, (map, map_norms)) in trace.attentions.iter().zip(norms).enumerate() {
                for h in 0..heads {
                    let row = &map[(h * n + i) * n..(h * n + i + 1) * n];
                    let a = l * heads + h;
                    for (j, &v) in row.iter().enumerate() {
                        rows[j * k + a] = v;
                    }
                    let sum_at = |js: &[usize]| js.iter().map(|&j| f64::from(row[j])).sum::<f64>();
                    let mut entropy = 0f64;
                    let mut distance = 0f64;
                    for (j, &p) in row.iter().enumerate() {
                        let p = f64::from(p);
                        if p > 0.0 {
                            entropy -= p * p.ln();
                        }
                        distance += p * (i as f64 - j as f64).abs();
                    }
                    plogp[a] = -entropy;
                    let norm = &map_norms[h * n..(h + 1) * n];
                    let weighted = |js: &mut dyn Iterator<Item = usize>| {
                        js.map(|j| f64::from(row[j]) * f64::from(norm[j]))
                            .sum::<f64>()
                    };
                    let all = weighted(&mut (0..n));
                    let sep_norm = if all > 0.0 {
                        weighted(&mut sep.iter().copied()) / all
                    } else {
                        0.0
                    };
                    let v = [
                        sum_at(&cls),
                        sum_at(&sep),
                        sum_at(&punct),
                        f64::from(row[i]),
                        if i > 0 { f64::from(row[i - 1]) } else { 0.0 },
                        if i + 1 < n {
                            f64::from(row[i + 1])
                        } else {
                            0.0
                        },
                        entropy,
                        distance,
                        sep_norm,
                    ];
                    for (s, x) in v.into_iter().enumerate() {
                        self.sums[s][a] += x;
                    }
                }
            }
            js_pairs(&rows, &plogp, n, &mut self.js);
        }
        self.rows += n as u64;
    }

    /// Adds a batch's sums (a backend's [`crate::backend::Backend::batch_statistics`]).
    pub fn add_sums(&mut self, part: crate::backend::BatchSums) -> Result<()> {
        let k = self.maps * self.heads;
        if part.sums.len() != STATS.len()
            || part.sums.iter().any(|s| s.len() != k)
            || part.js.len() != k * k
        {
            return Err(LensError::Analysis(format!(
                "a batch's statistics are not of {} maps × {} heads",
                self.maps, self.heads
            )));
        }
        self.merge(&HeadStats {
            maps: self.maps,
            heads: self.heads,
            rows: part.rows,
            sums: part.sums,
            js: part.js,
            meta: CorpusMeta::default(),
        })
    }

    /// The statistics file: every statistic as F32 `[maps, heads]` means, `head_js`, `rows`.
    pub fn to_safetensors_bytes(&self) -> Result<Vec<u8>> {
        use safetensors::tensor::{Dtype, TensorView};
        let err = |e: safetensors::SafeTensorError| LensError::Export(e.to_string());
        let f32s = |v: Vec<f64>| -> Vec<u8> {
            v.into_iter()
                .flat_map(|x| (x as f32).to_le_bytes())
                .collect()
        };
        let data: Vec<Vec<u8>> = (0..STATS.len()).map(|s| f32s(self.means(s))).collect();
        let js = f32s(self.head_js());
        let rows = (self.rows as i64).to_le_bytes();
        let k = self.maps * self.heads;
        let mut views = Vec::new();
        for (name, d) in STATS.iter().zip(&data) {
            views.push((
                name.to_string(),
                TensorView::new(Dtype::F32, vec![self.maps, self.heads], d).map_err(err)?,
            ));
        }
        views.push((
            "head_js".into(),
            TensorView::new(Dtype::F32, vec![k, k], &js).map_err(err)?,
        ));
        views.push((
            "rows".into(),
            TensorView::new(Dtype::I64, vec![1], &rows).map_err(err)?,
        ));
        let m = &self.meta;
        let meta = HashMap::from([
            ("format".to_string(), FORMAT.into()),
            ("model".to_string(), m.model.clone()),
            ("corpus".to_string(), m.corpus.clone()),
            ("lines".to_string(), m.lines.to_string()),
            ("truncated".to_string(), m.truncated.to_string()),
            ("skipped".to_string(), m.skipped.to_string()),
            ("shard".to_string(), m.shard.clone()),
        ]);
        safetensors::serialize(views, Some(meta)).map_err(err)
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        crate::files::write_atomic(path, &self.to_safetensors_bytes()?)
    }

    /// Reads a statistics file: [`Self::from_safetensors_bytes`] on a regular file of at most
    /// [`MAX_STATS_BYTES`] (its size checked before anything is read; a pipe, device or folder
    /// refused by name).
    pub fn read(path: &Path) -> Result<Self> {
        Self::from_safetensors_bytes(
            &crate::error::read_file_limited(path, MAX_STATS_BYTES)?,
            path,
        )
    }

    /// Parses and validates a statistics file: the format tag (when there is one); the header's shapes against one
    /// another and the limits (before anything proportional to them is allocated); every value
    /// finite; `rows` ≥ 1 and ≥ the texts counted; the metadata's counts whole numbers and its
    /// strings made printable ([`crate::files::printable`]).
    pub fn from_safetensors_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        use safetensors::tensor::{Dtype, SafeTensors};
        let err = |msg: String| LensError::TraceFile {
            path: path.to_path_buf(),
            msg: format!("not a valid corpus statistics file: {msg}"),
        };
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| err(e.to_string()))?;
        let meta = header.metadata().clone().unwrap_or_default();
        // files made elsewhere (the Python reference) may leave the tag out; one that names
        // another format is refused
        match meta.get("format").map(String::as_str) {
            Some(FORMAT) | None => {}
            Some(other) => {
                return Err(err(format!(
                    "its format is {:?}, not {FORMAT:?}",
                    crate::files::printable(other, 60)
                )))
            }
        }
        let tensors = header.tensors();
        let shape_of = |name: &str| -> Result<Vec<usize>> {
            tensors
                .get(name)
                .map(|t| t.shape.clone())
                .ok_or_else(|| err(format!("no {name} tensor")))
        };
        let shape = shape_of(STATS[0])?;
        let [maps, heads] = shape[..] else {
            return Err(err(format!(
                "{} has shape {shape:?}, not [maps, heads]",
                STATS[0]
            )));
        };
        if !(1..=MAX_MAPS).contains(&maps)
            || !(1..=MAX_HEADS).contains(&heads)
            || maps * heads > MAX_MAPS_HEADS
        {
            return Err(err(format!(
                "shape [{maps}, {heads}]: statistics have 1 to {MAX_MAPS} maps, 1 to {MAX_HEADS} heads and at most {MAX_MAPS_HEADS} of both"
            )));
        }
        let k = maps * heads;
        for name in STATS {
            let sh = shape_of(name)?;
            if sh != shape {
                return Err(err(format!("{name} has shape {sh:?}, not {shape:?}")));
            }
        }
        let sh = shape_of("head_js")?;
        if sh != [k, k] {
            return Err(err(format!("head_js has shape {sh:?}, not [{k}, {k}]")));
        }
        let st = SafeTensors::deserialize(bytes).map_err(|e| err(e.to_string()))?;
        let floats = |name: &str| -> Result<Vec<f64>> {
            let v = st
                .tensor(name)
                .map_err(|_| err(format!("no {name} tensor")))?;
            if v.dtype() != Dtype::F32 {
                return Err(err(format!("{name} is {:?}, expected F32", v.dtype())));
            }
            v.data()
                .chunks_exact(4)
                .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                .map(|x| {
                    x.is_finite()
                        .then_some(x)
                        .ok_or_else(|| err(format!("{name} holds {x}, not a finite number")))
                })
                .collect()
        };
        let rows_view = st
            .tensor("rows")
            .map_err(|_| err("no rows tensor".into()))?;
        let rows = match (rows_view.dtype(), rows_view.data()) {
            (Dtype::I64, d) if d.len() == 8 => i64::from_le_bytes(d.try_into().unwrap_or([0; 8])),
            _ => return Err(err("rows is not one I64".into())),
        };
        if !(1..=MAX_ROWS).contains(&rows) {
            return Err(err(format!(
                "rows is {rows}: a run counts 1 to {MAX_ROWS} query positions"
            )));
        }
        let rows = rows as u64;
        let num = |key: &str| -> Result<u64> {
            let v = meta
                .get(key)
                .ok_or_else(|| err(format!("the metadata has no {key:?}")))?;
            v.parse::<u64>().map_err(|_| {
                err(format!(
                    "the metadata's {key:?} is {:?}, not a whole number ≥ 0",
                    crate::files::printable(v, 40)
                ))
            })
        };
        let text = |key: &str| {
            meta.get(key)
                .map(|v| crate::files::printable(v, MAX_META_CHARS))
                .unwrap_or_default()
        };
        let m = CorpusMeta {
            model: text("model"),
            corpus: text("corpus"),
            lines: num("lines")?,
            truncated: num("truncated")?,
            skipped: num("skipped")?,
            shard: text("shard"),
        };
        if m.lines > rows || m.truncated > m.lines {
            return Err(err(format!(
                "its counts disagree: {} texts ({} truncated) over {rows} query positions",
                m.lines, m.truncated
            )));
        }
        super::ShardSet::parse(&m.shard).map_err(err)?;
        let mut out = HeadStats::new(maps, heads);
        out.rows = rows;
        let r = rows as f64;
        for (s, name) in STATS.iter().enumerate() {
            out.sums[s] = floats(name)?.into_iter().map(|x| x * r).collect();
        }
        out.js = floats("head_js")?.into_iter().map(|x| x * r).collect();
        out.meta = m;
        Ok(out)
    }
}

/// The format tag a statistics file carries in its metadata.
pub const FORMAT: &str = "albert-lens corpus statistics 1";
/// Limits a statistics file must keep: attention maps (layer applications), heads, both
/// together (head_js is `[K, K]`), query positions, and the file's size.
pub const MAX_MAPS: usize = 256;
pub const MAX_HEADS: usize = 256;
pub const MAX_MAPS_HEADS: usize = 4096;
pub const MAX_ROWS: i64 = 1 << 50;
pub const MAX_STATS_BYTES: u64 = (MAX_MAPS_HEADS * MAX_MAPS_HEADS * 4 + (1 << 24)) as u64;
/// Model and corpus names from a file are cut to this many characters.
pub const MAX_META_CHARS: usize = 200;

/// The token classes the statistics sum attention over, as bits of [`token_classes`].
pub const CLASS_CLS: u8 = 1;
pub const CLASS_SEP: u8 = 2;
pub const CLASS_PUNCT: u8 = 4;

/// Each token's classes: [`CLASS_CLS`] the special token at position 0, [`CLASS_SEP`] a
/// special token past it, [`CLASS_PUNCT`] a token that is not special and all punctuation.
pub fn token_classes(tokens: &[String], special: &[bool]) -> Vec<u8> {
    tokens
        .iter()
        .enumerate()
        .map(|(j, t)| {
            let sp = special.get(j).copied().unwrap_or(false);
            match (sp, j) {
                (true, 0) => CLASS_CLS,
                (true, _) => CLASS_SEP,
                (false, _) if is_punctuation(t) => CLASS_PUNCT,
                _ => 0,
            }
        })
        .collect()
}

/// Whether a token's text, without the '▁' / '##' markers, is non-empty and all Unicode
/// punctuation (general categories P*).
pub fn is_punctuation(token: &str) -> bool {
    use unicode_categories::UnicodeCategories;
    let t = token.trim_start_matches('▁').trim_start_matches("##");
    !t.is_empty() && t.chars().all(|c| c.is_punctuation())
}

/// ‖f_h(x_k)‖ for every map j, head h and position k: `[heads, N]` per map, x the map's layer
/// input (`trace.hidden_states[j]`), f_h(x) = (x W_V^h + b_V^h) W_O^h. When the trace keeps the
/// values v = x W_V^h + b_V^h (a CPU corpus batch), ‖f_h‖² = v G_h vᵀ with the head's Gram
/// matrix G_h = W_O^h W_O^hᵀ (`[d, d]`, made once per layer and model); otherwise v and f are
/// computed here from the hidden state.
pub fn value_norms(
    cfg: &ModelConfig,
    weights: &ModelWeights,
    trace: &Trace,
) -> Result<Vec<Vec<f32>>> {
    let (n, h) = (trace.num_tokens(), cfg.hidden_size);
    let (heads, d) = (cfg.num_attention_heads, cfg.head_dim());
    (0..trace.attentions.len())
        .map(|j| {
            let (_, group, inner) = ModelWeights::layer_of_attention(cfg, j);
            let layer = &weights.groups[group][inner];
            let kept = trace
                .internals
                .as_ref()
                .and_then(|i| i.maps.get(j))
                .and_then(|m| m.as_ref())
                .map(|m| &m.values)
                .filter(|v| v.len() == heads * n * d);
            if let Some(v) = kept {
                let g = grams(weights, (group, inner), heads, d)?;
                let v = Tensor::from_slice(v, (heads, n, d), &candle_core::Device::Cpu)?;
                let norms = v.matmul(&g)?.mul(&v)?.sum(2)?.relu()?.sqrt()?; // [heads, N]
                return Ok(norms.flatten_all()?.to_vec1::<f32>()?);
            }
            let x = Tensor::from_slice(&trace.hidden_states[j], (n, h), &candle_core::Device::Cpu)?;
            let wv = layer.qkv.w.narrow(1, 2 * h, h)?;
            let bv = layer.qkv.b.narrow(0, 2 * h, h)?;
            let v = x.matmul(&wv)?.broadcast_add(&bv)?; // [N, H]
            let v = v.reshape((n, heads, d))?.transpose(0, 1)?.contiguous()?; // [heads, N, d]
            let wo = layer.attn_out.w.reshape((heads, d, h))?;
            let f = v.matmul(&wo)?; // [heads, N, H]
            let norms = f.sqr()?.sum(2)?.sqrt()?; // [heads, N]
            Ok(norms.flatten_all()?.to_vec1::<f32>()?)
        })
        .collect()
}

/// Every head's Gram matrix W_O^h W_O^hᵀ of one layer, `[heads, d, d]`, kept for the last few
/// layers and models asked (a corpus run asks for the same ones batch after batch).
fn grams(
    weights: &ModelWeights,
    (group, inner): (usize, usize),
    heads: usize,
    d: usize,
) -> Result<Tensor> {
    use std::sync::Mutex;
    type Cache = Vec<((u64, usize, usize), Tensor)>;
    static CACHE: Mutex<Cache> = Mutex::new(Vec::new());
    let key = (weights.id, group, inner);
    if let Ok(c) = CACHE.lock() {
        if let Some((_, g)) = c.iter().find(|(k, _)| *k == key) {
            return Ok(g.clone());
        }
    }
    // W_O is stored [in, out]: head h's rows are h·d .. (h + 1)·d
    let wo = &weights.groups[group][inner].attn_out.w;
    let h = wo.dims2()?.1;
    let w = wo.reshape((heads, d, h))?;
    let g = w.matmul(&w.transpose(1, 2)?.contiguous()?)?.contiguous()?; // [heads, d, d]
    if let Ok(mut c) = CACHE.lock() {
        if c.len() >= 64 {
            c.remove(0);
        }
        c.push((key, g.clone()));
    }
    Ok(g)
}

/// Adds the JS divergence in bits of every pair of the K heads' rows to `js` `[K, K]`. `rows`
/// is key-major, `[n, K]`: for head a the inner loop runs over the heads b > a, contiguous,
/// so it vectorizes without reductions; Σ p ln p of each row is in `plogp`. The bulk of the
/// corpus statistics' time: it runs with the widest vectors the CPU has (AVX-512, AVX2 + FMA,
/// else the baseline), chosen at run time.
fn js_pairs(rows: &[f32], plogp: &[f64], n: usize, js: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            #[allow(unsafe_code)]
            unsafe {
                return js_pairs_avx512(rows, plogp, n, js);
            }
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            #[allow(unsafe_code)]
            unsafe {
                return js_pairs_avx2(rows, plogp, n, js);
            }
        }
    }
    js_pairs_any(rows, plogp, n, js)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn js_pairs_avx512(rows: &[f32], plogp: &[f64], n: usize, js: &mut [f64]) {
    js_pairs_any(rows, plogp, n, js)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn js_pairs_avx2(rows: &[f32], plogp: &[f64], n: usize, js: &mut [f64]) {
    js_pairs_any(rows, plogp, n, js)
}

#[inline(always)]
fn js_pairs_any(rows: &[f32], plogp: &[f64], n: usize, js: &mut [f64]) {
    let k = plogp.len();
    let mut acc = vec![0f32; k];
    for a in 0..k {
        let acc = &mut acc[a + 1..];
        acc.fill(0.0);
        for j in 0..n {
            let row = &rows[j * k..(j + 1) * k];
            let pa = row[a];
            for (s, &pb) in acc.iter_mut().zip(&row[a + 1..]) {
                let m = 0.5 * (pa + pb);
                *s += m * ln(m.max(1e-30));
            }
        }
        for (i, &s) in acc.iter().enumerate() {
            let b = a + 1 + i;
            let d = (plogp[a] + plogp[b]) / 2.0 - f64::from(s);
            let bits = (d / std::f64::consts::LN_2).max(0.0);
            js[a * k + b] += bits;
            js[b * k + a] += bits;
        }
    }
}

/// Σ_j m_j ln m_j with m = (p + q) / 2 (the JS divergence's mixture term, for the tests).
#[cfg(test)]
fn mix_xlogx(p: &[f32], q: &[f32]) -> f32 {
    p.iter()
        .zip(q)
        .map(|(a, b)| {
            let m = 0.5 * (a + b);
            m * ln(m.max(1e-30))
        })
        .sum()
}

/// ln x for a positive normal f32 within a few ulp, without division or branches (Cephes'
/// logf): x = 2^e · m with m in [√½, √2), f = m − 1, ln(1 + f) = f − f²/2 + f³·P(f).
#[inline(always)]
fn ln(x: f32) -> f32 {
    const P: [f32; 9] = [
        7.037_683_6e-2,
        -1.151_461_1e-1,
        1.167_699_9e-1,
        -1.242_014_1e-1,
        1.424_932_3e-1,
        -1.666_805_8e-1,
        2.000_071_5e-1,
        -2.499_999_4e-1,
        3.333_333e-1,
    ];
    let bits = x.to_bits();
    let e = ((bits >> 23) & 0xff) as i32 - 127;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let big = m > std::f32::consts::SQRT_2;
    let m = if big { m * 0.5 } else { m };
    let e = (e + i32::from(big)) as f32;
    let f = m - 1.0;
    let z = f * f;
    let mut y = P[0];
    for c in &P[1..] {
        y = y * f + c;
    }
    let y = y * f * z - 0.5 * z;
    f + y + e * std::f32::consts::LN_2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_logarithm_matches_std_within_f32_precision() {
        let mut worst = 0f32;
        let mut x = 1e-30f32;
        while x < 1e3 {
            worst = worst.max((ln(x) - x.ln()).abs() / x.ln().abs().max(1.0));
            x *= 1.0007;
        }
        assert!(worst < 5e-7, "worst relative error {worst:e}");
    }

    #[test]
    fn punctuation_is_unicode_p_star_without_piece_markers() {
        for t in [".", ",", "##.", "▁\"", "—", "«", "...", "'"] {
            assert!(is_punctuation(t), "{t}");
        }
        for t in ["▁", "##", "a.", "$", "+", "1", "[SEP]x"] {
            assert!(!is_punctuation(t), "{t}");
        }
    }

    #[test]
    fn js_of_a_row_with_itself_is_zero_and_of_disjoint_rows_one_bit() {
        let p = [0.5f32, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let q = [0.0f32, 0.0, 0.25, 0.25, 0.25, 0.25, 0.0, 0.0, 0.0];
        let plogp = |r: &[f32]| {
            r.iter()
                .filter(|&&x| x > 0.0)
                .map(|&x| f64::from(x) * f64::from(x).ln())
                .sum::<f64>()
        };
        let js = |a: &[f32], b: &[f32]| {
            ((plogp(a) + plogp(b)) / 2.0 - f64::from(mix_xlogx(a, b))) / std::f64::consts::LN_2
        };
        assert!(js(&p, &p).abs() < 1e-6);
        assert!((js(&p, &q) - 1.0).abs() < 1e-6);
    }
}
