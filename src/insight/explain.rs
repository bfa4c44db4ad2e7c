//! The Explain walk-through: how one head of one layer computes one token's attention, with the
//! model's own numbers. [`Walk::new`] gathers them from a trace with that map's intermediates
//! (see [`crate::model::internals`]) and the model's weights; each [`Step`] has its words, its
//! formula, its shapes and its numbers as a labelled [`Matrix`], which the app draws, the
//! figures draw and the export writes.
//!
//! Numbers computed here rather than read from the forward pass: the embedding sum (word +
//! position + type, the LayerNorm's input), the neuron view q∘kⱼ (elementwise; its sum / √d is
//! the score), α(T) = softmax(s / T) (the temperature what-if; T = 1 is the model's α) and the
//! masked-LM head's top-k at the position. tests/explain.rs checks each against transformers.

use crate::error::{LensError, Result};
use crate::matrix::Matrix;
use crate::model::{LoadedModel, Trace};

/// What the walk-through follows: attention map `map` (as `attentions.{map}`), head `head`,
/// query token `pos`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Selection {
    pub map: usize,
    pub head: usize,
    pub pos: usize,
}

/// The steps, in the order the forward pass takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    Token,
    WordEmbedding,
    Sum,
    LayerNorm,
    Projection,
    Qkv,
    Scores,
    Softmax,
    Context,
    AttentionOutput,
    FeedForward,
    Output,
    Sharing,
    Prediction,
}

impl Step {
    pub const ALL: [Step; 14] = [
        Step::Token,
        Step::WordEmbedding,
        Step::Sum,
        Step::LayerNorm,
        Step::Projection,
        Step::Qkv,
        Step::Scores,
        Step::Softmax,
        Step::Context,
        Step::AttentionOutput,
        Step::FeedForward,
        Step::Output,
        Step::Sharing,
        Step::Prediction,
    ];

    /// A short file-name-safe name ("scores", "feed-forward").
    pub fn slug(self) -> &'static str {
        match self {
            Step::Token => "token",
            Step::WordEmbedding => "word-embedding",
            Step::Sum => "position-and-type",
            Step::LayerNorm => "embedding-layernorm",
            Step::Projection => "projection",
            Step::Qkv => "queries-keys-values",
            Step::Scores => "scores",
            Step::Softmax => "softmax",
            Step::Context => "context",
            Step::AttentionOutput => "attention-output",
            Step::FeedForward => "feed-forward",
            Step::Output => "layer-output",
            Step::Sharing => "sharing",
            Step::Prediction => "prediction",
        }
    }
}

/// One step's words: a title, a plain-language paragraph, the formula and the shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct StepText {
    pub title: String,
    pub paragraph: String,
    pub formula: String,
    pub shapes: String,
}

/// How a step's numbers are best drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drawing {
    /// each row a colour strip (a vector; stacked rows make a small heatmap)
    Strips,
    /// the input's tokens, the followed one marked, with their ids
    Tokens,
    /// one bar per row for each listed column (scores, probabilities)
    Bars,
}

/// Everything the walk-through shows for one selection (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Walk {
    pub sel: Selection,
    pub family: &'static str,
    pub shared_layers: bool,
    pub factorized: bool,
    pub tokens: Vec<String>,
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
    pub vocab: usize,
    pub e: usize,
    pub h: usize,
    pub heads: usize,
    pub d: usize,
    pub inter: usize,
    pub layers: usize,
    /// `[E]` the word-embedding row, the position row, the token-type row, their sum and the
    /// embedding LayerNorm's output
    pub word: Vec<f32>,
    pub position: Vec<f32>,
    pub token_type: Vec<f32>,
    pub sum: Vec<f32>,
    pub embedded: Vec<f32>,
    /// `[H]` hidden state 0 at the position (ALBERT: after the E→H projection)
    pub projected: Vec<f32>,
    /// `[H]` the layer's input at the position (hidden state `map`)
    pub x: Vec<f32>,
    /// `[d]` this head's query at the position
    pub query: Vec<f32>,
    /// `[N, d]` this head's keys and values of every token
    pub keys: Vec<f32>,
    pub values: Vec<f32>,
    /// `[N]` the scores q·kⱼ/√d and the model's attention α
    pub scores: Vec<f32>,
    pub alpha: Vec<f32>,
    /// `[H]` the context (all heads) at the position
    pub context: Vec<f32>,
    /// `[H]` LayerNorm(x + dense(context))
    pub attention_output: Vec<f32>,
    /// `[I]` the activated feed-forward intermediate
    pub intermediate: Vec<f32>,
    /// `[H]` the layer's output (hidden state `map + 1`)
    pub output: Vec<f32>,
    /// for every map: the stored layer it applies (its index among the stored layers)
    pub stored_of_map: Vec<usize>,
    pub stored_layers: usize,
    /// the masked-LM head's top predictions at the position after the last layer
    pub prediction: Vec<(String, f32)>,
    pub activation: &'static str,
}

/// How many predictions the last step lists.
pub const TOP_K: usize = 8;

fn row(v: &[f32], i: usize, w: usize) -> Vec<f32> {
    v[i * w..(i + 1) * w].to_vec()
}

impl Walk {
    /// The walk-through of `sel` from `trace`, which must hold map `sel.map`'s intermediates.
    pub fn new(model: &LoadedModel, trace: &Trace, sel: Selection) -> Result<Walk> {
        let cfg = &model.config;
        let n = trace.num_tokens();
        let int = trace.internals.as_ref().ok_or_else(|| {
            LensError::Analysis("this trace has no intermediates to explain".into())
        })?;
        let m = int.map(sel.map).ok_or_else(|| {
            LensError::Analysis(format!(
                "the intermediates of attention map {} were not kept",
                sel.map
            ))
        })?;
        if sel.pos >= n || sel.head >= cfg.num_attention_heads {
            return Err(LensError::Analysis(format!(
                "token {} / head {} is outside this input ({n} tokens, {} heads)",
                sel.pos, sel.head, cfg.num_attention_heads
            )));
        }
        let (e, h, d) = (cfg.embedding_size, cfg.hidden_size, cfg.head_dim());
        let p = sel.pos;
        let emb = &model.weights.embeddings;
        let table_row = |t: &candle_core::Tensor, i: usize| -> Result<Vec<f32>> {
            Ok(t.narrow(0, i, 1)?.flatten_all()?.to_vec1::<f32>()?)
        };
        let word = row(&int.word, p, e);
        let position = table_row(&emb.position, p)?;
        let token_type = table_row(&emb.token_type, trace.token_type_ids[p] as usize)?;
        let sum = (0..e)
            .map(|i| word[i] + position[i] + token_type[i])
            .collect();
        let head_block = |v: &[f32]| v[sel.head * n * d..(sel.head + 1) * n * d].to_vec();
        let scores = m.scores[(sel.head * n + p) * n..][..n].to_vec();
        let inner = cfg.inner_group_num.max(1);
        let stored_of_map = (0..cfg.num_attention_maps())
            .map(|j| {
                let (outer, k) = (j / inner, j % inner);
                if cfg.model_type.0.shared_layers {
                    cfg.group_of_layer(outer) * inner + k
                } else {
                    outer
                }
            })
            .collect();
        let prediction = match &model.weights.mlm {
            Some(head) => {
                let last = trace.hidden_states.len() - 1;
                let rows =
                    crate::insight::layer_lens(cfg, head, &last_only(trace, last), p, TOP_K)?;
                rows.first()
                    .map(|r| {
                        r.top
                            .iter()
                            .map(|&(t, pr)| {
                                let text = model.tokenizer.id_to_token(t);
                                (text.unwrap_or_else(|| format!("#{t}")), pr)
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            }
            None => Vec::new(),
        };
        Ok(Walk {
            sel,
            family: cfg.model_type.0.name,
            shared_layers: cfg.model_type.0.shared_layers,
            factorized: emb.projection.is_some(),
            tokens: trace.tokens.clone(),
            ids: trace.input_ids.clone(),
            type_ids: trace.token_type_ids.clone(),
            vocab: cfg.vocab_size,
            e,
            h,
            heads: cfg.num_attention_heads,
            d,
            inter: cfg.intermediate_size,
            layers: cfg.num_hidden_layers,
            word,
            position,
            token_type,
            sum,
            embedded: row(&int.embedded, p, e),
            projected: trace.hidden(0, p).to_vec(),
            x: trace.hidden(sel.map, p).to_vec(),
            query: head_block(&m.queries)[p * d..(p + 1) * d].to_vec(),
            keys: head_block(&m.keys),
            values: head_block(&m.values),
            alpha: trace.head(sel.map, sel.head)[p * n..(p + 1) * n].to_vec(),
            scores,
            context: row(&m.context, p, h),
            attention_output: row(&m.attention_output, p, h),
            intermediate: row(&m.intermediate, p, cfg.intermediate_size),
            output: trace.hidden(sel.map + 1, p).to_vec(),
            stored_of_map,
            stored_layers: cfg.stored_layers(),
            prediction,
            activation: cfg.hidden_act.name(),
        })
    }

    pub fn n(&self) -> usize {
        self.tokens.len()
    }

    /// The neuron view for key `k`: q × kₖ elementwise (their sum / √d is the score).
    pub fn neuron(&self, k: usize) -> Vec<f32> {
        let d = self.d;
        self.query
            .iter()
            .zip(&self.keys[k * d..(k + 1) * d])
            .map(|(a, b)| a * b)
            .collect()
    }

    /// α(T) = softmax(s / T), the temperature what-if (T = 1 is the model's own α).
    pub fn alpha_at(&self, t: f32) -> Vec<f32> {
        let t = f64::from(t.max(1e-3));
        let s: Vec<f64> = self.scores.iter().map(|&v| f64::from(v) / t).collect();
        let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exps: Vec<f64> = s.iter().map(|v| (v - max).exp()).collect();
        let total: f64 = exps.iter().sum();
        exps.iter().map(|v| (v / total) as f32).collect()
    }

    /// This head's share of the context: Σⱼ αⱼ vⱼ over its `d` columns.
    pub fn head_context(&self) -> &[f32] {
        &self.context[self.sel.head * self.d..(self.sel.head + 1) * self.d]
    }

    /// The `count` most active feed-forward units: (unit, value), largest first.
    pub fn top_units(&self, count: usize) -> Vec<(usize, f32)> {
        let mut u: Vec<(usize, f32)> = self.intermediate.iter().copied().enumerate().collect();
        u.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        u.truncate(count);
        u
    }

    /// The steps this model has (BERT has no projection; a model without a masked-LM head
    /// has no prediction).
    pub fn steps(&self) -> Vec<Step> {
        Step::ALL
            .into_iter()
            .filter(|s| match s {
                Step::Projection => self.factorized,
                Step::Prediction => !self.prediction.is_empty(),
                _ => true,
            })
            .collect()
    }

    fn token_label(&self, i: usize) -> String {
        format!("{i}: {}", self.tokens[i])
    }

    fn query_token(&self) -> &str {
        &self.tokens[self.sel.pos]
    }

    /// How a step's numbers are best drawn.
    pub fn drawing(&self, step: Step) -> Drawing {
        match step {
            Step::Token => Drawing::Tokens,
            Step::Scores | Step::Softmax | Step::Prediction | Step::Sharing => Drawing::Bars,
            _ => Drawing::Strips,
        }
    }
}

/// `trace` with only hidden state `last` (the layer lens over one state).
fn last_only(trace: &Trace, last: usize) -> Trace {
    Trace {
        hidden_states: vec![trace.hidden_states[last].clone()],
        attentions: Vec::new(),
        internals: None,
        ..trace.clone_header()
    }
}

impl Trace {
    /// The trace's tokens and sizes without its tensors.
    pub fn clone_header(&self) -> Trace {
        Trace {
            model_type: self.model_type,
            tokens: self.tokens.clone(),
            input_ids: self.input_ids.clone(),
            token_type_ids: self.token_type_ids.clone(),
            special: self.special.clone(),
            hidden_size: self.hidden_size,
            num_heads: self.num_heads,
            hidden_states: Vec::new(),
            attentions: Vec::new(),
            warnings: Vec::new(),
            internals: None,
        }
    }
}

/// Labels 0.. for `len` columns.
fn index_labels(len: usize, prefix: &str) -> Vec<String> {
    (0..len).map(|i| format!("{prefix}{i}")).collect()
}

fn matrix(name: String, rows: Vec<(String, Vec<f32>)>, cols: Vec<String>) -> Matrix {
    let width = cols.len();
    Matrix {
        name,
        rows: rows.len(),
        cols: width,
        values: rows.iter().flat_map(|(_, v)| v.iter().copied()).collect(),
        row_labels: rows.into_iter().map(|(l, _)| l).collect(),
        col_labels: cols,
    }
}

impl Walk {
    /// A step's numbers as a labelled matrix (what its figure draws and its export writes);
    /// `t` is the temperature of the softmax what-if.
    pub fn matrix(&self, step: Step, t: f32) -> Matrix {
        let n = self.n();
        let name = format!(
            "{}: map {}, head {}, token {} — {}",
            self.family,
            self.sel.map,
            self.sel.head,
            self.token_label(self.sel.pos),
            step.slug()
        );
        let dims = |w: usize| index_labels(w, "");
        let one = |label: &str, v: &[f32]| (label.to_string(), v.to_vec());
        match step {
            Step::Token => matrix(
                name,
                vec![(
                    self.query_token().to_string(),
                    vec![
                        self.ids[self.sel.pos] as f32,
                        self.type_ids[self.sel.pos] as f32,
                        self.sel.pos as f32,
                    ],
                )],
                vec!["id".into(), "type".into(), "position".into()],
            ),
            Step::WordEmbedding => matrix(name, vec![one("word row", &self.word)], dims(self.e)),
            Step::Sum => matrix(
                name,
                vec![
                    one("word", &self.word),
                    one("position", &self.position),
                    one("type", &self.token_type),
                    one("sum", &self.sum),
                ],
                dims(self.e),
            ),
            Step::LayerNorm => matrix(
                name,
                vec![one("sum", &self.sum), one("LayerNorm", &self.embedded)],
                dims(self.e),
            ),
            Step::Projection => matrix(
                name,
                vec![one("projected (hidden state 0)", &self.projected)],
                dims(self.h),
            ),
            Step::Qkv => {
                let d = self.d;
                let mut rows = vec![one("q", &self.query)];
                rows.extend(
                    (0..n).map(|k| (format!("k {}", self.token_label(k)), row(&self.keys, k, d))),
                );
                rows.extend((0..n).map(|k| {
                    (
                        format!("v {}", self.token_label(k)),
                        row(&self.values, k, d),
                    )
                }));
                matrix(name, rows, dims(d))
            }
            Step::Scores => {
                let mut cols = vec!["score".to_string()];
                cols.extend(index_labels(self.d, "q×k "));
                let rows = (0..n)
                    .map(|k| {
                        let mut v = vec![self.scores[k]];
                        v.extend(self.neuron(k));
                        (self.token_label(k), v)
                    })
                    .collect();
                matrix(name, rows, cols)
            }
            Step::Softmax => {
                let at = self.alpha_at(t);
                let rows = (0..n)
                    .map(|k| {
                        (
                            self.token_label(k),
                            vec![self.scores[k], self.alpha[k], at[k]],
                        )
                    })
                    .collect();
                let cols = vec!["score".into(), "α".into(), format!("α(T={t})")];
                matrix(name, rows, cols)
            }
            Step::Context => {
                let d = self.d;
                let mut rows: Vec<(String, Vec<f32>)> = (0..n)
                    .map(|k| {
                        let v = row(&self.values, k, d);
                        let weighted = v.iter().map(|x| x * self.alpha[k]).collect();
                        (format!("α·v {}", self.token_label(k)), weighted)
                    })
                    .collect();
                rows.push(one("context (this head)", self.head_context()));
                matrix(name, rows, dims(d))
            }
            Step::AttentionOutput => matrix(
                name,
                vec![
                    one("x (layer input)", &self.x),
                    one("context (all heads)", &self.context),
                    one("LayerNorm(x + dense(context))", &self.attention_output),
                ],
                dims(self.h),
            ),
            Step::FeedForward => matrix(
                name,
                vec![one("intermediate", &self.intermediate)],
                dims(self.inter),
            ),
            Step::Output => matrix(
                name,
                vec![
                    one("attention output", &self.attention_output),
                    one("layer output", &self.output),
                ],
                dims(self.h),
            ),
            Step::Sharing => matrix(
                name,
                (0..self.stored_of_map.len())
                    .map(|j| (format!("map {j}"), vec![self.stored_of_map[j] as f32]))
                    .collect(),
                vec!["stored layer".into()],
            ),
            Step::Prediction => matrix(
                name,
                self.prediction
                    .iter()
                    .map(|(tok, p)| (tok.clone(), vec![*p]))
                    .collect(),
                vec!["probability".into()],
            ),
        }
    }
}

/// A number as the texts quote it.
fn num(v: f32) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// Parameters as the texts quote them ("4.0M", "512K", "96").
pub fn count(c: usize) -> String {
    match c {
        c if c >= 1_000_000 => format!("{:.1}M", c as f64 / 1e6),
        c if c >= 10_000 => format!("{:.0}K", c as f64 / 1e3),
        c => c.to_string(),
    }
}

impl Walk {
    /// The layer (outer) that map `j` belongs to, and its inner index, as people count them
    /// (from 1).
    fn layer_name(&self, j: usize) -> String {
        let inner = self.stored_of_map.len() / self.layers.max(1);
        if inner > 1 {
            format!("layer {} (inner layer {})", j / inner + 1, j % inner + 1)
        } else {
            format!("layer {}", j + 1)
        }
    }

    /// A step's words, with this walk's numbers in them; `t` is the softmax's temperature.
    pub fn text(&self, step: Step, t: f32) -> StepText {
        let tok = self.query_token();
        let (p, n, d) = (self.sel.pos, self.n(), self.d);
        let (e, h) = (self.e, self.h);
        let head = self.sel.head + 1;
        let layer = self.layer_name(self.sel.map);
        let best = |v: &[f32]| {
            let k = v
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(k, _)| k);
            (k, v.get(k).copied().unwrap_or(0.0))
        };
        let (text, formula, shapes): (String, String, String) = match step {
            Step::Token => (
                format!(
                    "The tokenizer cut the text into {n} tokens. We follow token {p}, “{tok}”: the model sees only its id, {}, in segment {}.",
                    self.ids[p], self.type_ids[p]
                ),
                format!("“{tok}” is id {}", self.ids[p]),
                format!("{n} tokens, a vocabulary of {}", self.vocab),
            ),
            Step::WordEmbedding => {
                let text = if self.factorized {
                    format!(
                        "The id picks one row of the word-embedding table. ALBERT's rows are only E = {e} wide: the table is V×E = {}×{e} = {} numbers, plus an E×H projection ({}), where a V×H table would need {}. That is the factorized embedding.",
                        self.vocab,
                        count(self.vocab * e),
                        count(e * h),
                        count(self.vocab * h)
                    )
                } else {
                    format!(
                        "The id picks one row of the word-embedding table, V×H = {}×{h} = {} numbers: each row is as wide as the hidden state.",
                        self.vocab,
                        count(self.vocab * h)
                    )
                };
                (
                    text,
                    format!("word = W_word[{}]", self.ids[p]),
                    format!("table {}×{e}, one row of {e}", self.vocab),
                )
            }
            Step::Sum => (
                format!(
                    "Attention by itself does not know word order, so the row of position {p} is added, and the row of segment {}.",
                    self.type_ids[p]
                ),
                "e = word + position + type".into(),
                format!("3 rows of {e} added: {e}"),
            ),
            Step::LayerNorm => (
                "LayerNorm rescales the sum to mean 0 and variance 1, then applies its learned scale and shift.".into(),
                "LN(e) = γ · (e − mean(e)) / √(var(e) + ε) + β,  elementwise".into(),
                format!("{e} in, {e} out"),
            ),
            Step::Projection => (
                format!(
                    "ALBERT's embedding is E = {e} wide but the layers work in H = {h}: one E×H matrix projects it up. This vector is hidden state 0, the input of the first layer."
                ),
                "x₀ = LN(e) · W_proj + b".into(),
                format!("{e} · ({e}×{h}) gives {h}"),
            ),
            Step::Qkv => (
                format!(
                    "In {layer}, head {head} of {} projects every token's hidden state to a query, a key and a value of d = H / heads = {d} numbers. “{tok}” asks with its query; every token answers with its key and offers its value.",
                    self.heads
                ),
                "q = x·W_Q + b_Q,  k = x·W_K + b_K,  v = x·W_V + b_V".into(),
                format!("{h} · ({h}×{d}) gives {d}, for each of the {n} tokens"),
            ),
            Step::Scores => {
                let (k, s) = best(&self.scores);
                (
                    format!(
                        "The score of each key is its dot product with the query, divided by √d = {:.3}. The highest is {} for “{}”. The neuron view shows the d products q_i·k_i whose sum, over √d, is the score.",
                        (d as f32).sqrt(),
                        num(s),
                        self.tokens[k]
                    ),
                    "s_j = q · k_j / √d  (the sum of the d products, over √d)".into(),
                    format!("{d} · {d} gives 1, for each of the {n} keys"),
                )
            }
            Step::Softmax => {
                let (k, a) = best(&self.alpha);
                let what_if = if (t - 1.0).abs() < 1e-6 {
                    "Move the temperature to see what a sharper (T < 1) or flatter (T > 1) softmax would do.".to_string()
                } else {
                    let (kt, at) = best(&self.alpha_at(t));
                    format!(
                        "What-if at T = {t}: the largest weight would be {} on “{}” (the model uses T = 1).",
                        num(at),
                        self.tokens[kt]
                    )
                };
                (
                    format!(
                        "The softmax turns the scores into weights that are positive and sum to 1: the attention “{tok}” pays. The largest, {}, goes to “{}”. {what_if}",
                        num(a),
                        self.tokens[k]
                    ),
                    "α_j(T) = exp(s_j / T) / Σ_k exp(s_k / T),  T = 1 is the model".into(),
                    format!("{n} scores, {n} weights"),
                )
            }
            Step::Context => (
                format!(
                    "The head's output is the weighted average of the values: each value scaled by its weight, then summed. The {} heads' outputs, side by side, make the context of {h} numbers.",
                    self.heads
                ),
                "context = Σ_j α_j v_j".into(),
                format!("{n} values of {d} give {d}; {} heads side by side give {h}", self.heads),
            ),
            Step::AttentionOutput => (
                "A dense layer mixes the heads' outputs, the layer's input is added back (the residual), and LayerNorm normalises the sum.".into(),
                "a = LN(x + context · W_O + b_O)".into(),
                format!("{h} · ({h}×{h}) + {h} gives {h}"),
            ),
            Step::FeedForward => {
                let top = self.top_units(3);
                let units: Vec<String> = top
                    .iter()
                    .map(|(u, v)| format!("unit {u} ({})", num(*v)))
                    .collect();
                (
                    format!(
                        "Each token then goes alone through a two-layer feed-forward network, {} units wide with {}. The most active units here: {}.",
                        self.inter,
                        self.activation,
                        units.join(", ")
                    ),
                    format!("f = {}(a · W₁ + b₁)", self.activation),
                    format!("{h} · ({h}×{}) gives {}", self.inter, self.inter),
                )
            }
            Step::Output => (
                format!(
                    "The second feed-forward layer brings it back to {h}, the residual is added again and LayerNorm gives the layer's output: the next layer's input."
                ),
                "y = LN(a + f · W₂ + b₂)".into(),
                format!("{} · ({}×{h}) + {h} gives {h}", self.inter, self.inter),
            ),
            Step::Sharing => {
                let maps = self.stored_of_map.len();
                let text = if self.shared_layers {
                    format!(
                        "The same computation, with the same matrices, runs at every depth: ALBERT stores {} set(s) of layer weights and applies them {maps} times. Depth adds no parameters; only the input changes from layer to layer.",
                        self.stored_layers
                    )
                } else {
                    format!(
                        "{} has a different set of weights for each of its {maps} layers: depth costs parameters.",
                        self.family
                    )
                };
                (
                    text,
                    "x_(j+1) = Layer_stored(j)(x_j)".into(),
                    format!("{maps} applications of {} stored layer(s)", self.stored_layers),
                )
            }
            Step::Prediction => {
                let (first, p1) = self.prediction.first().cloned().unwrap_or_default();
                (
                    format!(
                        "After the last layer, the masked-LM head turns the hidden state at “{tok}” into a distribution over the vocabulary. Its top guess is “{first}” ({:.1}%).",
                        p1 * 100.0
                    ),
                    "p = softmax(LN(act(y·W + b)) · W_word^T + b_vocab)".into(),
                    format!("{h} in, {} probabilities out", self.vocab),
                )
            }
        };
        let title = match step {
            Step::Token => "The token".to_string(),
            Step::WordEmbedding => "Word embedding".into(),
            Step::Sum => "+ position + segment".into(),
            Step::LayerNorm => "Embedding LayerNorm".into(),
            Step::Projection => "The projection from E to H".into(),
            Step::Qkv => format!("Query, keys and values — {layer}, head {head}"),
            Step::Scores => "Scores".into(),
            Step::Softmax => "Softmax: the attention weights".into(),
            Step::Context => "Context: the weighted values".into(),
            Step::AttentionOutput => "Output dense, residual, LayerNorm".into(),
            Step::FeedForward => "Feed-forward".into(),
            Step::Output => "Residual, LayerNorm: the layer's output".into(),
            Step::Sharing => {
                if self.shared_layers {
                    "Next layer: the same weights again".into()
                } else {
                    "Next layer: new weights".into()
                }
            }
            Step::Prediction => "Prediction".into(),
        };
        StepText {
            title,
            paragraph: text,
            formula,
            shapes,
        }
    }
}
