//! The words of each step: a title, a paragraph with the walk's own numbers, the formula and
//! the shapes.

use super::{Step, StepText, Walk};

/// A number as the texts quote it.
fn num(v: f32) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// Parameters as the texts quote them ("4.0M", "512K", "96").
/// The largest value of `v` and where it is ((0, 0) for none).
fn best(v: &[f32]) -> (usize, f32) {
    let k = v
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(k, _)| k);
    (k, v.get(k).copied().unwrap_or(0.0))
}

/// A family's own words for a step: (title, paragraph, formula, shapes).
type Words = Option<(String, String, String, String)>;

fn words(title: &str, paragraph: String, formula: &str, shapes: String) -> Words {
    Some((title.to_string(), paragraph, formula.to_string(), shapes))
}

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
        let inner = self.sharing.stored_of_map.len() / self.layers.max(1);
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
        let modern = self.family_text(step, &layer, head);
        let (text, formula, shapes): (String, String, String) = match step {
            _ if modern.is_some() => modern.clone().map(|m| (m.1, m.2, m.3)).unwrap_or_default(),
            Step::Token => (
                format!(
                    "The tokenizer cut the text into {n} tokens. We follow token {p}, “{tok}”: the model sees only its id, {}, in segment {}.",
                    self.ids[p], self.type_ids[p]
                ),
                format!("“{tok}” is id {}", self.ids[p]),
                format!("{n} tokens, a vocabulary of {}", self.vocab),
            ),
            Step::WordEmbedding => self.word_embedding_text(),
            Step::Sum => self.sum_text(),
            Step::LayerNorm => (
                "LayerNorm rescales the sum to mean 0 and variance 1, then applies its learned scale and shift.".into(),
                "LN(e) = γ · (e − mean(e)) / √(var(e) + ε) + β,  elementwise".into(),
                format!("{e} in, {e} out"),
            ),
            Step::Projection => (
                format!(
                    "{}'s embedding is E = {e} wide but the layers work in H = {h}: one E×H matrix projects it up. This vector is hidden state 0, the input of the first layer.",
                    self.title
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
            Step::Softmax => self.softmax_text(t),
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
            Step::FeedForward => self.feed_forward_text(),
            Step::Output => (
                format!(
                    "The second feed-forward layer brings it back to {h}, the residual is added again and LayerNorm gives the layer's output: the next layer's input."
                ),
                "y = LN(a + f · W₂ + b₂)".into(),
                format!("{} · ({}×{h}) + {h} gives {h}", self.inter, self.inter),
            ),
            Step::Sharing => self.sharing_text(head),
            Step::Prediction if self.task.is_some() => self.task_prediction(tok, h),
            Step::Prediction => self.mlm_text(tok, h),
        };
        let title = self.step_title(step, modern.map(|m| m.0), (&layer, head));
        StepText {
            title,
            paragraph: text,
            formula,
            shapes,
        }
    }

    /// The word-embedding step: one row of the table, factorized or V×H.
    fn word_embedding_text(&self) -> (String, String, String) {
        let (p, e, h) = (self.sel.pos, self.e, self.h);
        let text = if self.factorized {
            format!(
                "The id picks one row of the word-embedding table. {}'s rows are only E = {e} wide: the table is V×E = {}×{e} = {} numbers, plus an E×H projection ({}), where a V×H table would need {}. That is the factorized embedding.",
                self.title,
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

    /// The position (and segment) rows added to the word row, as the family does.
    fn sum_text(&self) -> (String, String, String) {
        let (p, e) = (self.sel.pos, self.e);
        use crate::model::family::TokenTypes;
        let row = self.position_ids.get(p).copied().unwrap_or(p as u32);
        let position = if self.positions_after_padding {
            format!(
                "the row of position {p} is added (row {row} of the table: {}'s positions start after the padding index)",
                self.title
            )
        } else {
            format!("the row of position {p} is added")
        };
        let (types, formula, rows) = match self.token_types {
            TokenTypes::Fed => (
                format!(", and the row of segment {}", self.type_ids[p]),
                "e = word + position + type",
                3,
            ),
            TokenTypes::Zero => (
                format!(
                    ", and the token-type table's row 0: {} is fed no segments, so every token gets the same row",
                    self.title
                ),
                "e = word + position + type[0]",
                3,
            ),
            TokenTypes::Absent => (
                format!(", and nothing for the segment: {} has no token-type table", self.title),
                "e = word + position",
                2,
            ),
        };
        (
            format!("Attention by itself does not know word order, so {position}{types}."),
            formula.into(),
            format!("{rows} rows of {e} added: {e}"),
        )
    }

    /// The softmax: the largest weight, and the temperature what-if at `t`.
    fn softmax_text(&self, t: f32) -> (String, String, String) {
        let n = self.n();
        let tok = self.query_token();
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

    /// The feed-forward step and its most active units.
    fn feed_forward_text(&self) -> (String, String, String) {
        let h = self.h;
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

    /// The next layer: the same stored weights again (ALBERT) or new ones.
    fn sharing_text(&self, head: usize) -> (String, String, String) {
        let maps = self.sharing.stored_of_map.len();
        let stored = self.sharing.stored_layers;
        let mut text = if self.shared_layers {
            format!(
                "The next layer runs the same computation with the same matrices: ALBERT stores {stored} set(s) of layer weights and applies them at all {maps} depths, so depth adds no parameters; only the input changes from layer to layer. The thumbnails are head {head}'s query weights of each stored set."
            )
        } else {
            format!(
                "The next layer has weights of its own: {} stores a set for each of its {maps} layers, so depth costs parameters. The thumbnails are head {head}'s query weights of each layer.",
                self.title
            )
        };
        if let Some(c) = &self.compare {
            text.push_str(&format!(
                " Below, {}: {} depths, {} stored set(s).",
                c.model,
                c.stored_of_map.len(),
                c.stored_layers
            ));
        }
        (
            text,
            "x_(j+1) = Layer_stored(j)(x_j)".into(),
            format!("{maps} applications of {stored} stored layer(s)"),
        )
    }

    /// The masked-LM head's top guess at the followed token.
    fn mlm_text(&self, tok: &str, h: usize) -> (String, String, String) {
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

    /// The step's title (the family's own where it words the step itself).
    fn step_title(
        &self,
        step: Step,
        modern: Option<String>,
        (layer, head): (&str, usize),
    ) -> String {
        match step {
            _ if modern.is_some() => modern.unwrap_or_default(),
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
        }
    }
    /// The family's own words for the steps it takes differently from BERT: (title, paragraph,
    /// formula, shapes) — ModernBERT's pre-norm layer here, DeBERTa's scores in
    /// [`Walk::relative_text`]; None for the steps it shares with BERT.
    fn family_text(&self, step: Step, layer: &str, head: usize) -> Words {
        let Some((theta, window)) = self.modern else {
            return self.relative_text(step);
        };
        let (h, d, title) = (self.h, self.d, self.title);
        let attention = match window {
            Some(w) => format!(
                "{layer} is a local layer: “{}” sees only the keys at most {w} tokens away, and every other key's weight is exactly 0",
                self.query_token()
            ),
            None => format!("{layer} is a global layer: every token sees every other"),
        };
        match step {
            Step::LayerNorm => words(
                "Embedding norm",
                format!("{title} adds no position or segment rows: the word row goes straight to a norm that rescales it to mean 0 and variance 1 and applies its learned scale (and shift, where the model has one). This is hidden state 0. Word order enters later, inside each attention, as a rotation of the queries and keys."),
                "x₀ = LN(word) = γ · (word − mean) / √(var + ε) + β",
                format!("{h} in, {h} out"),
            ),
            Step::Qkv => words(
                &format!("Query, keys and values — {layer}, head {head}"),
                format!("{title}'s layers are pre-norm: the layer first normalises its input (layer 1 takes the embedding norm's output as it is), then one matrix W_qkv gives every token a query, a key and a value of d = {d}. The query and the keys are then rotated by their position (RoPE, base θ = {theta}): pairs of their numbers turn by angles that grow with the position, so that q·k depends on how far apart two tokens are."),
                "q = R_pos · (LN(x)·W_Q + b_Q),  k = R_pos · (LN(x)·W_K + b_K),  v = LN(x)·W_V + b_V",
                format!("{h} · ({h}×{d}) gives {d}, for each of the {} tokens", self.n()),
            ),
            Step::Scores => {
                let (k, s) = best(&self.scores);
                words(
                    "Scores",
                    format!("The score of each key is its dot product with the rotated query, divided by √d = {:.3}; the highest is {} for “{}”. {attention}.", (d as f32).sqrt(), num(s), self.tokens[k]),
                    "s_j = q · k_j / √d   (local layers: s_j = −∞ where |i − j| > window)",
                    format!("{d} · {d} gives 1, for each key"),
                )
            }
            Step::AttentionOutput => words(
                "Output dense and residual",
                "A dense layer mixes the heads' outputs and the layer's input is added back (the residual). No norm follows: the feed-forward normalises its own input.".into(),
                "a = x + context · W_O + b_O",
                format!("{h} · ({h}×{h}) + {h} gives {h}"),
            ),
            Step::FeedForward => {
                let units: Vec<String> = self
                    .top_units(3)
                    .iter()
                    .map(|(u, v)| format!("unit {u} ({})", num(*v)))
                    .collect();
                words(
                    "Feed-forward: a gated unit (GeGLU)",
                    format!("Each token alone: its normalised state goes through W_i to 2 × {} numbers; the first half through {}, times the second half (the gate). The most active units here: {}.", self.inter, self.activation, units.join(", ")),
                    "f = act(LN(a)·W₁ + b₁) ⊙ (LN(a)·W_gate + b_gate)",
                    format!("{h} · ({h}×{}) gives {}", 2 * self.inter, self.inter),
                )
            }
            Step::Output => words(
                "Residual: the layer's output",
                format!("W_o brings the gated units back to {h} and the residual is added again: the next layer's input. After the last layer a final norm gives the last hidden state."),
                "y = a + f · W₂ + b₂   (after the last layer: LN(y))",
                format!("{} · ({}×{h}) + {h} gives {h}", self.inter, self.inter),
            ),
            _ => None,
        }
    }

    /// DeBERTa-v3's words for the steps it takes differently (no position rows; the
    /// disentangled scores); None for the others and the other families.
    fn relative_text(&self, step: Step) -> Words {
        if self.c2p.is_empty() && self.p2c.is_empty() {
            return None;
        }
        let (title, d, s) = (self.title, self.d, self.score_scale);
        let (p, k) = (self.sel.pos, best(&self.scores).0);
        match step {
            Step::Sum => words(
                "No position rows",
                format!("{title} adds nothing for the position or the segment: the word row alone goes to the LayerNorm. Where a token is enters inside every attention instead, as the distance between the two tokens."),
                "e = word",
                format!("one row of {}", self.e),
            ),
            Step::Scores => {
                let part = |v: &[f32], name: &str| v.get(k).map(|x| format!(", {name} {}", num(*x)));
                let terms = [part(&self.c2p, "content-to-position"), part(&self.p2c, "position-to-content")];
                words(
                    "Scores: content and relative position (disentangled attention)",
                    format!("Each score adds up to three parts, all over s = √(d · {}) = {s:.3}: the query against the key (content to content), the query against the embedding of the distance i − j (content to position, c2p) and the key against that embedding seen as a query (position to content, p2c). The distance is cut into buckets that grow with it, and both embeddings come from this layer's own query and key matrices applied to one shared table. For “{}” the highest score is {} on “{}”: content {}{}.", (s * s / d as f32).round(), self.tokens[p], num(self.scores[k]), self.tokens[k], num(self.neuron(k).iter().sum::<f32>() / s), terms.into_iter().flatten().collect::<String>()),
                    "s_j = q·k_j / s + q·P_k[δ(i, j)] / s + k_j·P_q[δ(i, j)] / s",
                    format!("{d} · {d} three times, for each of the {} keys", self.n()),
                )
            }
            _ => None,
        }
    }

    /// The last step's text for a fine-tuned head.
    fn task_prediction(&self, tok: &str, h: usize) -> (String, String, String) {
        use crate::model::task::TaskKind;
        let (first, p1) = self.prediction.first().cloned().unwrap_or_default();
        let Some(spec) = &self.task else {
            return (String::new(), String::new(), String::new());
        };
        match spec.kind {
            TaskKind::SequenceClassification => (
                format!(
                    "After the last layer, the fine-tuned {} head reads the first token's hidden state (whichever token you follow): a dense layer with {} ({}), then a linear classifier over its {} labels. Its top label is “{first}” ({:.1}%).",
                    spec.architecture,
                    self.classifier.activation,
                    self.classifier.dense,
                    spec.labels.len(),
                    p1 * 100.0
                ),
                format!(
                    "p = softmax(W_c · {}(W_p · h_0 + b_p) + b_c)",
                    self.classifier.activation
                ),
                format!("{h} in, {} probabilities out", spec.labels.len()),
            ),
            TaskKind::TokenClassification => (
                format!(
                    "After the last layer, the fine-tuned {} head turns the hidden state at “{tok}” into a distribution over its {} labels. Its top label there is “{first}” ({:.1}%).",
                    spec.architecture,
                    spec.labels.len(),
                    p1 * 100.0
                ),
                "p = softmax(W_c · h + b_c)".into(),
                format!("{h} in, {} probabilities out", spec.labels.len()),
            ),
            TaskKind::QuestionAnswering => (
                format!(
                    "After the last layer, the fine-tuned {} head gives every token a start and an end logit; a softmax over the tokens makes each a probability. Here: p(start) {:.1}%, p(end) {:.1}% at “{tok}”.",
                    spec.architecture,
                    self.prediction.iter().find(|r| r.0 == "start").map_or(0.0, |r| r.1) * 100.0,
                    self.prediction.iter().find(|r| r.0 == "end").map_or(0.0, |r| r.1) * 100.0
                ),
                "(start, end) = W_qa · h + b_qa;  p = softmax over the tokens".into(),
                format!("{h} in, 2 logits out per token"),
            ),
        }
    }
}
