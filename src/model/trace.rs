//! A trace: everything one forward pass shows — tokens, every layer's hidden states and every
//! attention map — and its file format (safetensors), the project's stable export:
//! `input_ids` (I64 [N]), `hidden_states.{i}` (F32 [N, H]) for i in 0..=L, `attentions.{j}`
//! (F32 [heads, N, N]) in Hugging Face's `output_attentions` order, and metadata entries
//! `tokens` (a JSON array of token strings) and `model_type`. A trace made with `--internals`
//! adds the intermediates of [`crate::model::internals`] (`queries.{j}`, `scores.{j}`, ...,
//! `embeddings.word`, `embeddings.output`).

use crate::error::{LensError, Result};
use crate::model::config::ModelType;
use crate::model::internals::{Internals, MapInternals, MAP_TENSORS};
use std::collections::HashMap;
use std::path::Path;

/// The mask token's text: `[MASK]` in BERT's vocabularies, `<mask>` in some SentencePiece ones.
pub const MASK_TOKENS: [&str; 2] = ["[MASK]", "<mask>"];

/// The position of the first mask token among `tokens`.
pub fn first_mask(tokens: &[String]) -> Option<usize> {
    tokens
        .iter()
        .position(|t| MASK_TOKENS.contains(&t.as_str()))
}

/// The token a view follows unless told otherwise ([`Trace::focus`]) among `tokens`.
pub fn focus(tokens: &[String], special: &[bool], chosen: Option<usize>) -> usize {
    chosen
        .filter(|&p| p < tokens.len())
        .or_else(|| first_mask(tokens))
        .or_else(|| special.iter().position(|s| !s))
        .unwrap_or(0)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub model_type: ModelType,
    pub tokens: Vec<String>,
    pub input_ids: Vec<u32>,
    pub token_type_ids: Vec<u32>,
    /// true for [CLS], [SEP] and other special tokens.
    pub special: Vec<bool>,
    pub hidden_size: usize,
    pub num_heads: usize,
    /// One matrix per layer application plus the input, each `[N, H]` row-major: [0] is the
    /// embedding output projected to H and [j + 1] the output of the layer that made attention
    /// map j. This is transformers' `output_hidden_states` (v5 records every ALBERT inner layer,
    /// so a model with `inner_group_num` > 1 has L * inner_group_num + 1 of them).
    pub hidden_states: Vec<Vec<f32>>,
    /// `num_hidden_layers * inner_group_num` maps, each `[heads, N, N]` row-major.
    pub attentions: Vec<Vec<f32>>,
    /// Notices for the user (truncation, NaN weights, ...).
    pub warnings: Vec<String>,
    /// The intermediates, when the forward pass was asked to keep them.
    pub internals: Option<Box<Internals>>,
    /// The word of each token within its segment (transformers' `word_ids()`); empty for a
    /// trace read from a file, where words are found from the pieces' markers instead.
    pub word_ids: Vec<Option<u32>>,
}

/// How far one trace is from another (a reference), in the project's tolerance terms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceDiff {
    /// max |a - b| over every attention probability
    pub attention_max_abs: f32,
    /// max |a - b| / max(1, |ref|) over every hidden-state value
    pub hidden_max_rel: f32,
}

impl TraceDiff {
    /// Within the tolerances every backend is held to: 1e-5 and 1e-4.
    pub fn within_tolerance(&self) -> bool {
        self.attention_max_abs <= 1e-5 && self.hidden_max_rel <= 1e-4
    }
}

impl Trace {
    /// The trace of one forward pass over `input`, with the input's truncation notice.
    pub fn from_forward(
        cfg: &crate::model::ModelConfig,
        input: &crate::model::EncodedInput,
        hidden_states: Vec<Vec<f32>>,
        attentions: Vec<Vec<f32>>,
    ) -> Self {
        Trace {
            model_type: cfg.model_type,
            tokens: input.tokens.clone(),
            input_ids: input.ids.clone(),
            token_type_ids: input.type_ids.clone(),
            special: input.special.clone(),
            hidden_size: cfg.hidden_size,
            num_heads: cfg.num_attention_heads,
            hidden_states,
            attentions,
            warnings: input.warnings(),
            internals: None,
            word_ids: input.word_ids.clone(),
        }
    }

    /// Compares with a reference trace of the same input; None if the shapes differ.
    pub fn diff(&self, reference: &Trace) -> Option<TraceDiff> {
        if self.input_ids != reference.input_ids
            || self.attentions.len() != reference.attentions.len()
            || self.hidden_states.len() != reference.hidden_states.len()
        {
            return None;
        }
        let mut d = TraceDiff {
            attention_max_abs: 0.0,
            hidden_max_rel: 0.0,
        };
        for (a, r) in self.attentions.iter().zip(&reference.attentions) {
            if a.len() != r.len() {
                return None;
            }
            for (x, y) in a.iter().zip(r) {
                d.attention_max_abs = d.attention_max_abs.max((x - y).abs());
            }
        }
        for (a, r) in self.hidden_states.iter().zip(&reference.hidden_states) {
            if a.len() != r.len() {
                return None;
            }
            for (x, y) in a.iter().zip(r) {
                d.hidden_max_rel = d.hidden_max_rel.max((x - y).abs() / y.abs().max(1.0));
            }
        }
        Some(d)
    }

    pub fn num_tokens(&self) -> usize {
        self.tokens.len()
    }

    /// The input this trace was run on (ids, segments, tokens), to run it again.
    pub fn input(&self) -> crate::model::EncodedInput {
        crate::model::EncodedInput {
            ids: self.input_ids.clone(),
            type_ids: self.token_type_ids.clone(),
            tokens: self.tokens.clone(),
            special: self.special.clone(),
            truncated: None,
            segments_cut: None,
            word_ids: self.word_ids.clone(),
            chars_cut: None,
        }
    }

    /// The position of the first mask token ([`MASK_TOKENS`]), if the input has one.
    pub fn first_mask(&self) -> Option<usize> {
        first_mask(&self.tokens)
    }

    /// The token a view follows unless told otherwise: `chosen` when it is inside the input,
    /// else the first mask token, else the first ordinary token (else [CLS]).
    pub fn focus(&self, chosen: Option<usize>) -> usize {
        focus(&self.tokens, &self.special, chosen)
    }

    /// The token positions a view shows: all, or all but the special tokens ([CLS], [SEP], ...).
    pub fn kept_tokens(&self, hide_special: bool) -> Vec<usize> {
        (0..self.num_tokens())
            .filter(|&i| !(hide_special && self.special[i]))
            .collect()
    }

    /// Attention weight of map `j`, head `h`, from query token `q` to key token `k`.
    pub fn attention(&self, j: usize, h: usize, q: usize, k: usize) -> f32 {
        let n = self.num_tokens();
        self.attentions[j][(h * n + q) * n + k]
    }

    /// One head's `[N, N]` matrix of map `j`.
    pub fn head(&self, j: usize, h: usize) -> &[f32] {
        let n = self.num_tokens();
        &self.attentions[j][h * n * n..(h + 1) * n * n]
    }

    /// Hidden state `i`'s vector for token `t`.
    pub fn hidden(&self, i: usize, t: usize) -> &[f32] {
        let hs = self.hidden_size;
        &self.hidden_states[i][t * hs..(t + 1) * hs]
    }

    /// Writes the trace in the documented safetensors layout.
    pub fn write_safetensors(&self, path: &Path) -> Result<()> {
        let bytes = self.to_safetensors_bytes()?;
        crate::files::write_atomic(path, &bytes)
    }

    pub fn to_safetensors_bytes(&self) -> Result<Vec<u8>> {
        self.to_safetensors_bytes_with(&[], &[])
    }

    /// Writes the trace with `extra` F32 tensors `(name, shape, values)` after its own (what
    /// `trace --contributions` and a task head add) and `meta` entries beside its own.
    pub fn write_safetensors_with(
        &self,
        path: &Path,
        extra: &[(String, Vec<usize>, &[f32])],
        meta: &[(String, String)],
    ) -> Result<()> {
        let bytes = self.to_safetensors_bytes_with(extra, meta)?;
        crate::files::write_atomic(path, &bytes)
    }

    /// [`Trace::to_safetensors_bytes`] with `extra` F32 tensors after the trace's own and
    /// `meta` entries beside `tokens` and `model_type`.
    pub fn to_safetensors_bytes_with(
        &self,
        extra: &[(String, Vec<usize>, &[f32])],
        meta: &[(String, String)],
    ) -> Result<Vec<u8>> {
        use safetensors::tensor::{Dtype, TensorView};
        let n = self.num_tokens();
        let err = |e: safetensors::SafeTensorError| LensError::Compute(e.to_string());
        let ids: Vec<u8> = self
            .input_ids
            .iter()
            .flat_map(|&i| (i as i64).to_le_bytes())
            .collect();
        let to_bytes = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
        let hidden: Vec<Vec<u8>> = self.hidden_states.iter().map(|h| to_bytes(h)).collect();
        let atts: Vec<Vec<u8>> = self.attentions.iter().map(|a| to_bytes(a)).collect();
        let mut views: Vec<(String, TensorView<'_>)> = Vec::new();
        views.push((
            "input_ids".into(),
            TensorView::new(Dtype::I64, vec![n], &ids).map_err(err)?,
        ));
        for (i, h) in hidden.iter().enumerate() {
            views.push((
                format!("hidden_states.{i}"),
                TensorView::new(Dtype::F32, vec![n, self.hidden_size], h).map_err(err)?,
            ));
        }
        for (j, a) in atts.iter().enumerate() {
            views.push((
                format!("attentions.{j}"),
                TensorView::new(Dtype::F32, vec![self.num_heads, n, n], a).map_err(err)?,
            ));
        }
        let mut internal_bytes = self.internal_tensors(to_bytes);
        for (name, shape, values) in extra {
            internal_bytes.push((name.clone(), shape.clone(), to_bytes(values)));
        }
        for (name, shape, bytes) in &internal_bytes {
            views.push((
                name.clone(),
                TensorView::new(Dtype::F32, shape.clone(), bytes).map_err(err)?,
            ));
        }
        let tokens =
            serde_json::to_string(&self.tokens).map_err(|e| LensError::Compute(e.to_string()))?;
        let mut meta: HashMap<String, String> = meta.iter().cloned().collect();
        meta.insert("tokens".to_string(), tokens);
        meta.insert(
            "model_type".to_string(),
            self.model_type.as_str().to_string(),
        );
        safetensors::serialize(views, Some(meta)).map_err(err)
    }

    /// The intermediates as (name, shape, little-endian bytes), none without internals.
    fn internal_tensors(
        &self,
        to_bytes: impl Fn(&[f32]) -> Vec<u8>,
    ) -> Vec<(String, Vec<usize>, Vec<u8>)> {
        let Some(int) = &self.internals else {
            return Vec::new();
        };
        let n = self.num_tokens();
        let mut out = vec![
            (
                "embeddings.word".to_string(),
                vec![n, int.embedding_size],
                to_bytes(&int.word),
            ),
            (
                "embeddings.output".to_string(),
                vec![n, int.embedding_size],
                to_bytes(&int.embedded),
            ),
        ];
        for (j, m) in int.maps.iter().enumerate() {
            let Some(m) = m else { continue };
            let shapes =
                MapInternals::shapes(n, self.hidden_size, self.num_heads, int.intermediate_size);
            for ((name, shape), data) in MAP_TENSORS.iter().zip(shapes).zip(m.tensors()) {
                out.push((format!("{name}.{j}"), shape, to_bytes(data)));
            }
        }
        out
    }

    /// Reads a trace file (ours, or a golden file made by tools/fixtures with the same layout;
    /// `token_type_ids` is read when present).
    pub fn read_safetensors(path: &Path) -> Result<Self> {
        let bytes = crate::error::read_file(path)?;
        Self::from_safetensors_bytes(&bytes, path)
    }

    pub fn from_safetensors_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        use safetensors::tensor::{Dtype, SafeTensors};
        let err = |msg: String| LensError::TraceFile {
            path: path.to_path_buf(),
            msg,
        };
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| err(e.to_string()))?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| err(e.to_string()))?;
        let meta = meta.metadata().clone().unwrap_or_default();
        let tokens: Vec<String> = serde_json::from_str(
            meta.get("tokens")
                .ok_or_else(|| err("no \"tokens\" metadata".into()))?,
        )
        .map_err(|e| err(format!("\"tokens\" metadata is not a JSON array: {e}")))?;
        let name = meta.get("model_type").map(String::as_str);
        let model_type = match name.and_then(crate::model::family::Family::by_name) {
            Some(f) => ModelType(f),
            None => return Err(err(format!("model_type metadata is {name:?}"))),
        };
        let ints = |name: &str| -> Result<Option<Vec<u32>>> {
            let Ok(v) = st.tensor(name) else {
                return Ok(None);
            };
            if v.dtype() != Dtype::I64 {
                return Err(err(format!("{name} is {:?}, expected I64", v.dtype())));
            }
            Ok(Some(
                v.data()
                    .chunks_exact(8)
                    .map(|c| {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(c);
                        i64::from_le_bytes(a) as u32
                    })
                    .collect(),
            ))
        };
        let input_ids = ints("input_ids")?.ok_or_else(|| err("no input_ids".into()))?;
        let n = input_ids.len();
        if tokens.len() != n {
            return Err(err(format!("{} tokens but {n} input ids", tokens.len())));
        }
        let token_type_ids = ints("token_type_ids")?.unwrap_or_else(|| vec![0; n]);
        let floats = |name: &str| -> Result<(Vec<usize>, Vec<f32>)> {
            let v = st.tensor(name).map_err(|e| err(e.to_string()))?;
            if v.dtype() != Dtype::F32 {
                return Err(err(format!("{name} is {:?}, expected F32", v.dtype())));
            }
            let data = v
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            Ok((v.shape().to_vec(), data))
        };
        let mut hidden_states = Vec::new();
        let mut hidden_size = 0;
        while st
            .tensor(&format!("hidden_states.{}", hidden_states.len()))
            .is_ok()
        {
            let (shape, data) = floats(&format!("hidden_states.{}", hidden_states.len()))?;
            if shape.len() != 2 || shape[0] != n {
                return Err(err(format!("hidden state has shape {shape:?}")));
            }
            hidden_size = shape[1];
            hidden_states.push(data);
        }
        let mut attentions = Vec::new();
        let mut num_heads = 0;
        while st
            .tensor(&format!("attentions.{}", attentions.len()))
            .is_ok()
        {
            let (shape, data) = floats(&format!("attentions.{}", attentions.len()))?;
            if shape.len() != 3 || shape[1] != n || shape[2] != n {
                return Err(err(format!("attention map has shape {shape:?}")));
            }
            num_heads = shape[0];
            attentions.push(data);
        }
        Ok(Trace {
            model_type,
            special: vec![false; n],
            tokens,
            input_ids,
            token_type_ids,
            hidden_size,
            num_heads,
            hidden_states,
            internals: read_internals(
                &floats,
                &err,
                [attentions.len(), n, hidden_size, num_heads],
            )?,
            attentions,
            warnings: Vec::new(),
            word_ids: Vec::new(),
        })
    }
}

/// Reads one F32 tensor of a trace file by name: (shape, values).
type FloatReader<'a> = dyn Fn(&str) -> Result<(Vec<usize>, Vec<f32>)> + 'a;

/// The intermediates of a trace file, if it has them (`embeddings.word` present); each map's
/// seven tensors are read where `queries.{j}` is present, and must have the documented shapes.
fn read_internals(
    floats: &FloatReader<'_>,
    bad: &dyn Fn(String) -> LensError,
    [maps, n, hidden, heads]: [usize; 4],
) -> Result<Option<Box<Internals>>> {
    let Ok((shape, word)) = floats("embeddings.word") else {
        return Ok(None);
    };
    let (out_shape, embedded) = floats("embeddings.output")?;
    if shape.len() != 2 || shape[0] != n || out_shape != shape {
        return Err(bad(format!(
            "embeddings.word / embeddings.output have shapes {shape:?} / {out_shape:?} for {n} tokens"
        )));
    }
    let mut int = Internals {
        embedding_size: shape[1],
        word,
        embedded,
        ..Internals::default()
    };
    for j in 0..maps {
        if floats(&format!("queries.{j}")).is_err() {
            int.maps.push(None);
            continue;
        }
        let (ishape, _) = floats(&format!("intermediate.{j}"))?;
        int.intermediate_size = ishape.get(1).copied().unwrap_or(0);
        let want = MapInternals::shapes(n, hidden, heads, int.intermediate_size);
        let mut m = MapInternals::default();
        for ((name, slot), want) in MAP_TENSORS.iter().zip(m.tensors_mut()).zip(want) {
            let (shape, data) = floats(&format!("{name}.{j}"))?;
            if shape != want {
                return Err(bad(format!(
                    "{name}.{j} has shape {shape:?}, expected {want:?}"
                )));
            }
            *slot = data;
        }
        int.maps.push(Some(m));
    }
    Ok(Some(Box::new(int)))
}
