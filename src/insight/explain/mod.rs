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

mod sharing;
mod text;

pub use sharing::{Sharing, Thumb};
pub use text::count;

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

/// The steps by their slugs on the command line (`render --view explain --step scores`), as the
/// Explain tab's Export menu names them.
impl clap::ValueEnum for Step {
    fn value_variants<'a>() -> &'a [Self] {
        &Step::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.slug()))
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
    /// the family as people write it ("RoBERTa")
    pub title: &'static str,
    /// what the family does with segments: fed to a type table, row 0 always, no table
    pub token_types: crate::model::family::TokenTypes,
    /// each token's row of the position table (RoBERTa's start after the padding index)
    pub position_ids: Vec<u32>,
    /// the family's positions start after the padding index
    pub positions_after_padding: bool,
    /// the sequence classifier's layout (its dense layer's name and activation)
    pub classifier: &'static crate::model::family::ClassifierNames,
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
    /// which stored layer every depth applies, with thumbnails of their query weights
    pub sharing: Sharing,
    /// the same for the comparison model, when one is open (set by [`Walk::compare_with`])
    pub compare: Option<Sharing>,
    /// the masked-LM head's top predictions at the position after the last layer, or a
    /// fine-tuned head's labels by probability (see `task`)
    pub prediction: Vec<(String, f32)>,
    /// the fine-tuned head the last step explains instead of the masked LM (models with one)
    pub task: Option<crate::model::task::TaskSpec>,
    pub activation: &'static str,
    /// ModernBERT's layer at this map: its rotary base and local half window (None: global);
    /// None for the post-LN families
    pub modern: Option<(f64, Option<usize>)>,
    /// the divisor of q · k: √d, or DeBERTa's √(d · (1 + terms))
    pub score_scale: f32,
    /// DeBERTa's relative terms of the query at every key `[N]` each, already over the scale:
    /// content-to-position q · P_k[δ] and position-to-content k_j · P_q[δ] (empty when the
    /// model has no such term)
    pub c2p: Vec<f32>,
    pub p2c: Vec<f32>,
}

/// DeBERTa's c2p and p2c of query `p`, head `head` of map `j` at every key, over `scale`,
/// from the layer's own projections of the normed relative table (not read from the pass).
fn relative_terms(
    model: &LoadedModel,
    (j, head, p): (usize, usize, usize),
    (query, keys): (&[f32], &[f32]),
    scale: f32,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let cfg = &model.config;
    let (Some(r), Some(rw)) = (&cfg.relative, &model.weights.relative) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let layer = model
        .weights
        .layer_for_map(cfg, j)
        .ok_or_else(|| LensError::Analysis(format!("the model has no layer for map {j}")))?;
    let (h, d) = (cfg.hidden_size, cfg.head_dim());
    let n = keys.len() / d.max(1);
    // only the table rows query p reads, through only this head's query and key columns
    let deltas: Vec<u32> = (0..n).map(|k| r.index(p, k) as u32).collect();
    let read = rw.rows(cfg.layer_norm_eps)?.index_select(
        &candle_core::Tensor::from_vec(deltas, n, &candle_core::Device::Cpu)?,
        0,
    )?;
    let project = |part: usize| -> Result<Vec<Vec<f32>>> {
        let at = part * h + head * d;
        let w = layer.qkv.w.narrow(1, at, d)?.contiguous()?;
        let y = read
            .matmul(&w)?
            .broadcast_add(&layer.qkv.b.narrow(0, at, d)?)?;
        Ok(y.to_vec2::<f32>()?)
    };
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() / scale;
    let c2p = match r.c2p {
        true => project(1)?.iter().map(|pk| dot(query, pk)).collect(),
        false => Vec::new(),
    };
    let p2c = match r.p2c {
        true => project(0)?
            .iter()
            .enumerate()
            .map(|(k, pq)| dot(&keys[k * d..(k + 1) * d], pq))
            .collect(),
        false => Vec::new(),
    };
    Ok((c2p, p2c))
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
        // counted as the command line counts: layers and heads from 1, positions from 0
        let m = int.map(sel.map).ok_or_else(|| {
            LensError::Analysis(format!(
                "the intermediates of layer {} (map {} counting from 0, as the trace file does) were not kept (the model has layers 1 to {})",
                sel.map + 1,
                sel.map,
                trace.attentions.len()
            ))
        })?;
        if sel.pos >= n {
            return Err(LensError::Analysis(format!(
                "position {} is outside this input: it has {n} tokens (positions count from 0, up to {})",
                sel.pos,
                n.saturating_sub(1)
            )));
        }
        if sel.head >= cfg.num_attention_heads {
            return Err(LensError::Analysis(format!(
                "head {} does not exist: the model has heads 1 to {}",
                sel.head + 1,
                cfg.num_attention_heads
            )));
        }
        let (e, h, d) = (cfg.embedding_size, cfg.hidden_size, cfg.head_dim());
        let p = sel.pos;
        let emb = &model.weights.embeddings;
        let table_row = |t: &candle_core::Tensor, i: usize| -> Result<Vec<f32>> {
            Ok(t.narrow(0, i, 1)?.flatten_all()?.to_vec1::<f32>()?)
        };
        let word = row(&int.word, p, e);
        let position_ids = cfg.position_ids(&trace.input_ids);
        let position = match &emb.position {
            Some(t) => table_row(t, position_ids[p] as usize)?,
            None => vec![0.0; e],
        };
        let fed = cfg.fed_type_ids(&trace.token_type_ids);
        let token_type = table_row(&emb.token_type, fed[p] as usize)?;
        let sum = (0..e)
            .map(|i| word[i] + position[i] + token_type[i])
            .collect();
        let head_block = |v: &[f32]| v[sel.head * n * d..(sel.head + 1) * n * d].to_vec();
        let scores = m.scores[(sel.head * n + p) * n..][..n].to_vec();
        let factor = cfg.relative.as_ref().map_or(1, |r| r.scale_factor());
        let score_scale = ((d * factor) as f32).sqrt();
        let query = head_block(&m.queries)[p * d..(p + 1) * d].to_vec();
        let keys = head_block(&m.keys);
        let (c2p, p2c) =
            relative_terms(model, (sel.map, sel.head, p), (&query, &keys), score_scale)?;
        let prediction = match (&model.weights.task, &model.weights.mlm) {
            (Some(task), _) => {
                let last = trace.hidden_states.len() - 1;
                let pred = task.predict(cfg, &trace.hidden_states[last])?;
                let mut rows: Vec<(String, f32)> = match task.spec.kind {
                    crate::model::task::TaskKind::QuestionAnswering => vec![
                        ("start".to_string(), pred.start_probabilities()[p]),
                        ("end".to_string(), pred.end_probabilities()[p]),
                    ],
                    crate::model::task::TaskKind::SequenceClassification => {
                        pred.labels.iter().cloned().zip(pred.scores(0)).collect()
                    }
                    crate::model::task::TaskKind::TokenClassification => {
                        pred.labels.iter().cloned().zip(pred.scores(p)).collect()
                    }
                };
                rows.sort_by(|a, b| b.1.total_cmp(&a.1));
                rows.truncate(TOP_K);
                rows
            }
            (None, Some(head)) => {
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
            (None, None) => Vec::new(),
        };
        Ok(Walk {
            sel,
            family: cfg.model_type.0.name,
            title: cfg.model_type.0.title,
            token_types: cfg.model_type.0.token_types,
            position_ids: cfg.position_ids(&trace.input_ids),
            positions_after_padding: cfg.position_offset > 0,
            classifier: &cfg.model_type.0.classifier,
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
            query,
            keys,
            values: head_block(&m.values),
            alpha: trace.head(sel.map, sel.head)[p * n..(p + 1) * n].to_vec(),
            scores,
            context: row(&m.context, p, h),
            attention_output: row(&m.attention_output, p, h),
            intermediate: row(&m.intermediate, p, cfg.intermediate_size),
            output: trace.hidden(sel.map + 1, p).to_vec(),
            sharing: Sharing::of(model, sel.head)?,
            compare: None,
            prediction,
            task: model.weights.task.as_ref().map(|t| t.spec.clone()),
            activation: cfg.hidden_act.name(),
            modern: cfg
                .modern
                .as_ref()
                .map(|m| (m.theta_of(sel.map), m.window_of(sel.map))),
            score_scale,
            c2p,
            p2c,
        })
    }

    /// Adds the comparison model's layer sharing (its depths and stored layers).
    pub fn compare_with(&mut self, model: &LoadedModel, name: &str) -> Result<()> {
        let mut s = Sharing::of(model, self.sel.head)?;
        s.model = name.to_string();
        self.compare = Some(s);
        Ok(())
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
        // a local layer's keys outside the window stay at weight 0
        let window = self.modern.and_then(|(_, w)| w);
        let seen = |k: usize| window.is_none_or(|w| k.abs_diff(self.sel.pos) <= w);
        let s: Vec<f64> = self
            .scores
            .iter()
            .enumerate()
            .map(|(k, &v)| match seen(k) {
                true => f64::from(v) / t,
                false => f64::NEG_INFINITY,
            })
            .collect();
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
                // ModernBERT adds nothing to the word row: positions turn q and k instead
                Step::Sum => self.modern.is_none(),
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
            word_ids: self.word_ids.clone(),
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
                (0..self.sharing.stored_of_map.len())
                    .map(|j| {
                        (
                            format!("map {j}"),
                            vec![self.sharing.stored_of_map[j] as f32],
                        )
                    })
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
