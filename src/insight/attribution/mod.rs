//! Gradient attributions of one prediction, beside attention: which input words it depends
//! on. The prediction is one logit ([`Target`]): the MLM logit of a token at a position, a
//! classifier's class, a tagger's label at a position, or a QA model's start or end logit at a
//! position. With xᵢ the word-embedding row of token i (E values for ALBERT, H for BERT;
//! position and type embeddings untouched) and gᵢ = ∂logit/∂xᵢ:
//!
//! - `grad_x_input`: gᵢ · xᵢ;
//! - `gradient_norm`: ‖gᵢ‖₂;
//! - `integrated_gradients`: xᵢ · (1/m) Σₖ₌₁..ₘ gᵢ(αₖ x), αₖ = k/m, baseline all word rows 0.
//!
//! The gradients come from candle's autograd on a differentiable forward written here in f64
//! (the same computation as the CPU backend, with the operations candle can differentiate),
//! so they are, if anything, more exact than torch's fp32 ones they are tested against
//! (tests/fixtures/attribution, made by tools/fixtures/make_interventions.py).

use super::Control;
use crate::error::{LensError, Result};
use crate::model::task::TaskKind;
use crate::model::{Ablation, EncodedInput, LoadedModel};
use candle_core::{DType, Device, Tensor, Var, D};

/// The three attributions of one prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribution {
    pub position: usize,
    pub target: u32,
    pub target_token: String,
    /// the MLM logit of the target at the position (the unscaled input)
    pub logit: f32,
    pub steps: usize,
    pub grad_x_input: Vec<f32>,
    pub gradient_norm: Vec<f32>,
    pub integrated_gradients: Vec<f32>,
}

/// Which attribution a view shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Method {
    GradXInput,
    GradientNorm,
    IntegratedGradients,
}

impl Method {
    pub const ALL: [Method; 3] = [
        Method::IntegratedGradients,
        Method::GradXInput,
        Method::GradientNorm,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::GradXInput => "gradient × input",
            Method::GradientNorm => "gradient norm",
            Method::IntegratedGradients => "integrated gradients",
        }
    }

    /// The command line's name: integrated-gradients, grad-x-input, gradient-norm.
    pub fn flag(self) -> &'static str {
        match self {
            Method::GradXInput => "grad-x-input",
            Method::GradientNorm => "gradient-norm",
            Method::IntegratedGradients => "integrated-gradients",
        }
    }

    pub fn by_flag(s: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.flag() == s)
    }

    /// The tensor name in `attribute`'s file.
    pub fn key(self) -> &'static str {
        match self {
            Method::GradXInput => "grad_x_input",
            Method::GradientNorm => "gradient_norm",
            Method::IntegratedGradients => "integrated_gradients",
        }
    }
}

impl Attribution {
    /// The `attribute` file: `input_ids` I64 `[N]`, the three attributions F32 `[N]`, and
    /// metadata `tokens`, `position`, `target`, `target_id`, `logit`, `steps`.
    pub fn to_safetensors_bytes(&self, tokens: &[String], ids: &[u32]) -> Result<Vec<u8>> {
        use safetensors::tensor::{Dtype, TensorView};
        let err = |e: safetensors::SafeTensorError| LensError::Compute(e.to_string());
        let n = ids.len();
        let id_bytes: Vec<u8> = ids
            .iter()
            .flat_map(|&i| i64::from(i).to_le_bytes())
            .collect();
        let floats: Vec<(&str, Vec<u8>)> = Method::ALL
            .iter()
            .map(|m| {
                (
                    m.key(),
                    self.values(*m)
                        .iter()
                        .flat_map(|v| v.to_le_bytes())
                        .collect(),
                )
            })
            .collect();
        let mut views = vec![(
            "input_ids".to_string(),
            TensorView::new(Dtype::I64, vec![n], &id_bytes).map_err(err)?,
        )];
        for (name, bytes) in &floats {
            views.push((
                name.to_string(),
                TensorView::new(Dtype::F32, vec![n], bytes).map_err(err)?,
            ));
        }
        let meta = std::collections::HashMap::from([
            (
                "tokens".to_string(),
                serde_json::to_string(tokens).map_err(|e| LensError::Compute(e.to_string()))?,
            ),
            ("position".to_string(), self.position.to_string()),
            ("target".to_string(), self.target_token.clone()),
            ("target_id".to_string(), self.target.to_string()),
            ("logit".to_string(), self.logit.to_string()),
            ("steps".to_string(), self.steps.to_string()),
        ]);
        safetensors::serialize(views, Some(meta)).map_err(err)
    }

    pub fn values(&self, m: Method) -> &[f32] {
        match m {
            Method::GradXInput => &self.grad_x_input,
            Method::GradientNorm => &self.gradient_norm,
            Method::IntegratedGradients => &self.integrated_gradients,
        }
    }
}

mod forward;
pub(crate) use forward::{encoder, gate_of, mlm_logits, no_mlm_head, no_task_head, task_logits};

/// What an attribution explains: one logit of the model's prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// the masked-LM logit of a vocabulary entry (None: the model's top 1) at a position
    Token { position: usize, token: Option<u32> },
    /// sequence classification: a class's logit (None: the predicted class); its position is
    /// the [CLS] token the pooler reads
    Class(Option<usize>),
    /// token classification: a label's logit (None: the predicted label) at a position
    TokenLabel {
        position: usize,
        label: Option<usize>,
    },
    /// question answering: the start logit at a position
    Start(usize),
    /// question answering: the end logit at a position
    End(usize),
}

impl Target {
    /// The token whose prediction is explained (row of the views beside the attribution).
    pub fn position(self) -> usize {
        match self {
            Target::Token { position, .. } | Target::TokenLabel { position, .. } => position,
            Target::Class(_) => 0,
            Target::Start(p) | Target::End(p) => p,
        }
    }
}

impl Target {
    /// The target the user's words name for `model`: with a task head, a class or token label
    /// (`label`: its name or number; None: the predicted one), or for a QA model `token`
    /// "start" or "end"; without one, the MLM's vocabulary entry `token` (None: its top 1).
    /// Sequence classification ignores `position`; every other target needs it.
    pub fn choose(
        model: &LoadedModel,
        position: Option<usize>,
        token: Option<&str>,
        label: Option<&str>,
    ) -> Result<Target> {
        let err = |m: String| LensError::Analysis(m);
        let at = |what: &str| {
            position.ok_or_else(|| err(format!("{what} needs a token position (--position)")))
        };
        let Some(head) = &model.weights.task else {
            if label.is_some() {
                return Err(forward::no_task_head());
            }
            let token = match token {
                Some(t) => Some(
                    model
                        .tokenizer
                        .token_to_id(t)
                        .ok_or_else(|| err(format!("{t:?} is not in the model's vocabulary")))?,
                ),
                None => None,
            };
            return Ok(Target::Token {
                position: at("a word prediction")?,
                token,
            });
        };
        let spec = &head.spec;
        let label = match label {
            Some(l) => Some(spec.label_index(l).ok_or_else(|| {
                err(format!(
                    "{l:?} is not one of the model's labels ({})",
                    spec.labels.join(", ")
                ))
            })?),
            None => None,
        };
        match spec.kind {
            TaskKind::QuestionAnswering => {
                if label.is_some() {
                    return Err(err(
                        "a question-answering model has no labels: attribute its start or end logit (--target start|end)".into(),
                    ));
                }
                match token {
                    Some("start") | None => Ok(Target::Start(at("a start target")?)),
                    Some("end") => Ok(Target::End(at("an end target")?)),
                    Some(other) => Err(err(format!(
                        "a question-answering model's target is start or end, not {other:?}"
                    ))),
                }
            }
            _ if token.is_some() => Err(err(format!(
                "this model is a {} ({}): name one of its labels ({}) instead of a vocabulary entry",
                spec.kind.name(),
                spec.architecture,
                spec.labels.join(", ")
            ))),
            TaskKind::SequenceClassification => Ok(Target::Class(label)),
            TaskKind::TokenClassification => Ok(Target::TokenLabel {
                position: at("a token label")?,
                label,
            }),
        }
    }

    /// [`Target::choose`] from one text field (what the window and `render --target` take):
    /// a label for a classifier, start/end for a QA model, a vocabulary entry for the MLM; an
    /// empty text leaves the choice to the model.
    pub fn from_text(model: &LoadedModel, position: usize, text: &str) -> Result<Target> {
        let text = Some(text.trim()).filter(|t| !t.is_empty());
        let classifier = model
            .weights
            .task
            .as_ref()
            .is_some_and(|h| h.spec.kind != TaskKind::QuestionAnswering);
        if classifier {
            Target::choose(model, Some(position), None, text)
        } else {
            Target::choose(model, Some(position), text, None)
        }
    }
}

/// A target made definite: the position, the logit's (row, column) in the head's output (for
/// the MLM: the vocabulary id) and its name.
struct Resolved {
    position: usize,
    target: Target,
    row: usize,
    index: u32,
    name: String,
}

/// The logit a resolved target names, as a function of the word rows.
fn logit_of(
    model: &LoadedModel,
    (input, gate): (&EncodedInput, Option<&Tensor>),
    word: &Tensor,
    at: &Resolved,
) -> Result<Tensor> {
    let x = encoder(model, input, word, gate)?;
    match at.target {
        Target::Token { .. } => forward::mlm_logit(model, &x, (at.position, at.index)),
        _ => forward::task_logit(model, &x, (at.row, at.index as usize)),
    }
}

/// The logit and its gradient with respect to the word rows, at `word` scaled by `alpha`.
fn gradient(
    model: &LoadedModel,
    input: (&EncodedInput, Option<&Tensor>),
    word: &Tensor,
    alpha: f64,
    at: &Resolved,
) -> Result<(f64, Tensor)> {
    let var = Var::from_tensor(&(word * alpha)?)?;
    let logit = logit_of(model, input, var.as_tensor(), at)?;
    let grads = logit.backward()?;
    let g = grads
        .get(var.as_tensor())
        .ok_or_else(|| LensError::Compute("no gradient reached the word embeddings".into()))?
        .clone();
    Ok((logit.to_scalar::<f64>()?, g))
}

/// The three attributions of `target`'s logit, integrated gradients with `steps` steps,
/// reporting progress and stopping when `ctl` is cancelled.
pub fn attribute(
    model: &LoadedModel,
    input: &EncodedInput,
    target: Target,
    steps: usize,
    ctl: &Control,
) -> Result<Attribution> {
    attribute_with(model, (input, &Ablation::default()), target, steps, ctl)
}

/// Checks a target against the model and input and fills in a missing choice with the model's
/// own prediction (of the ablated model, as the gradients are).
fn resolve(
    model: &LoadedModel,
    (input, ablate): (&EncodedInput, &Ablation),
    target: Target,
) -> Result<Resolved> {
    let cfg = &model.config;
    let n = input.len();
    let position = target.position();
    if position >= n {
        return Err(LensError::Analysis(format!(
            "position {position} is past the end of the input ({n} tokens, counted from 0)"
        )));
    }
    // the model's own choice, only when one is left to it: from the last hidden state of the
    // same differentiable forward the gradients come from (f64, the ablation's gates applied)
    let last_hidden = || -> Result<Tensor> {
        let ids = Tensor::from_slice(&input.ids, n, &Device::Cpu)?;
        let word = forward::f64t(&model.weights.embeddings.word.index_select(&ids, 0)?)?;
        let gate = gate_of(model, ablate)?;
        encoder(model, input, &word, gate.as_ref())
    };
    let top = |logits: Tensor| -> Result<usize> {
        let v = logits.flatten_all()?.to_vec1::<f64>()?;
        Ok(v.iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i))
    };
    let wants = |kind: TaskKind, what: &str| -> Result<&crate::model::task::TaskHead> {
        let head = model
            .weights
            .task
            .as_ref()
            .ok_or_else(forward::no_task_head)?;
        if head.spec.kind != kind {
            return Err(LensError::Analysis(format!(
                "{what} needs a {} model; this one is a {} ({})",
                kind.name(),
                head.spec.kind.name(),
                head.spec.architecture
            )));
        }
        Ok(head)
    };
    let label_of = |head: &crate::model::task::TaskHead, label: Option<usize>, row: usize| {
        let chosen = match label {
            Some(l) if l < head.spec.labels.len() => l,
            Some(l) => {
                return Err(LensError::Analysis(format!(
                    "label {l} is not one of the model's {} labels ({})",
                    head.spec.labels.len(),
                    head.spec.labels.join(", ")
                )))
            }
            None => top(task_logits(model, &last_hidden()?)?.narrow(0, row, 1)?)?,
        };
        Ok((chosen, head.spec.labels[chosen].clone()))
    };
    let (row, index, name) = match target {
        Target::Token { token, .. } => {
            if model.weights.mlm.is_none() {
                return Err(forward::no_mlm_head());
            }
            let id = match token {
                Some(t) if (t as usize) < cfg.vocab_size => t,
                Some(t) => {
                    return Err(LensError::Analysis(format!(
                        "token id {t} is outside the vocabulary of {}",
                        cfg.vocab_size
                    )))
                }
                None => top(mlm_logits(model, &last_hidden()?, position)?)? as u32,
            };
            (position, id, model.tokenizer.token_or_id(id))
        }
        Target::Class(label) => {
            let head = wants(TaskKind::SequenceClassification, "a class target")?;
            let (l, name) = label_of(head, label, 0)?;
            (0, l as u32, name)
        }
        Target::TokenLabel { label, .. } => {
            let head = wants(TaskKind::TokenClassification, "a token-label target")?;
            let (l, name) = label_of(head, label, position)?;
            (position, l as u32, name)
        }
        Target::Start(_) | Target::End(_) => {
            wants(TaskKind::QuestionAnswering, "a start or end target")?;
            let end = matches!(target, Target::End(_));
            (
                position,
                u32::from(end),
                if end { "end" } else { "start" }.to_string(),
            )
        }
    };
    Ok(Resolved {
        position,
        target,
        row,
        index,
        name,
    })
}

/// [`attribute`] of the model with the heads of `ablate` switched off (its prediction and
/// gradients are those of the ablated model).
pub fn attribute_with(
    model: &LoadedModel,
    (input, ablate): (&EncodedInput, &Ablation),
    target: Target,
    steps: usize,
    ctl: &Control,
) -> Result<Attribution> {
    let n = input.len();
    if n == 0 {
        return Err(LensError::EmptyInput);
    }
    if steps == 0 || steps > 10_000 {
        return Err(LensError::Analysis(format!(
            "integrated gradients take 1 to 10000 steps, not {steps}"
        )));
    }
    let at = resolve(model, (input, ablate), target)?;
    let gate = gate_of(model, ablate)?;
    let ids = Tensor::from_slice(&input.ids, n, &Device::Cpu)?;
    let word = forward::f64t(&model.weights.embeddings.word.index_select(&ids, 0)?)?;
    ctl.report(format!("gradients 0/{steps}"), Some(0.0));
    let input = (input, gate.as_ref());
    let (logit, g) = gradient(model, input, &word, 1.0, &at)?;
    let per_token = |t: &Tensor| -> Result<Vec<f32>> {
        Ok(t.sum(D::Minus1)?.to_dtype(DType::F32)?.to_vec1::<f32>()?)
    };
    let grad_x_input = per_token(&(&g * &word)?)?;
    let gradient_norm = g
        .sqr()?
        .sum(D::Minus1)?
        .sqrt()?
        .to_dtype(DType::F32)?
        .to_vec1::<f32>()?;
    let mut total = word.zeros_like()?;
    for k in 1..=steps {
        if ctl.cancelled() {
            return Err(LensError::Cancelled("integrated gradients".into()));
        }
        let (_, gk) = gradient(model, input, &word, k as f64 / steps as f64, &at)?;
        total = (total + gk)?;
        ctl.report(
            format!("integrated gradients {k}/{steps}"),
            Some(k as f32 / steps as f32),
        );
    }
    let integrated_gradients = per_token(&((total / steps as f64)? * &word)?)?;
    Ok(Attribution {
        position: at.position,
        target: at.index,
        target_token: at.name,
        logit: logit as f32,
        steps,
        grad_x_input,
        gradient_norm,
        integrated_gradients,
    })
}

/// An attribution beside attention to the same position: what the Attribution view shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub tokens: Vec<String>,
    pub position: usize,
    pub target: String,
    pub method: Method,
    /// (name, one value per token): the attribution; attention rollout from the position up to
    /// the last layer (Abnar & Zuidema); value-weighted attention from the position in the last
    /// layer, all heads (Kobayashi et al.)
    pub rows: Vec<(String, Vec<f32>)>,
    /// Spearman's ρ between each pair of rows (i < j), ranking |attribution| (an importance)
    pub spearman: Vec<(usize, usize, Option<f32>)>,
}

impl Comparison {
    /// `rollout` is the trace's rollout (one `[N, N]` per layer), `value_all` the last map's
    /// value-weighted attention of all heads `[N, N]`.
    pub fn new(
        a: &Attribution,
        method: Method,
        trace: &crate::model::Trace,
        rollout: &[Vec<f32>],
        value_all: &[f32],
    ) -> Result<Comparison> {
        let n = trace.num_tokens();
        let p = a.position;
        let last = rollout
            .last()
            .filter(|r| r.len() == n * n && value_all.len() == n * n && p < n)
            .ok_or_else(|| {
                LensError::Analysis("the attention maps do not fit the attribution's input".into())
            })?;
        let rows = vec![
            (method.name().to_string(), a.values(method).to_vec()),
            (
                "attention rollout".to_string(),
                last[p * n..(p + 1) * n].to_vec(),
            ),
            (
                "value-weighted attention".to_string(),
                value_all[p * n..(p + 1) * n].to_vec(),
            ),
        ];
        let importance = |v: &[f32]| v.iter().map(|x| x.abs()).collect::<Vec<f32>>();
        let mut spearman = Vec::new();
        for i in 0..rows.len() {
            for j in i + 1..rows.len() {
                spearman.push((
                    i,
                    j,
                    self::spearman(&importance(&rows[i].1), &importance(&rows[j].1)),
                ));
            }
        }
        Ok(Comparison {
            tokens: trace.tokens.clone(),
            position: p,
            target: a.target_token.clone(),
            method,
            rows,
            spearman,
        })
    }

    /// The rows as a labelled matrix: tokens × (attribution, rollout, value-weighted).
    pub fn matrix(&self, title: &str) -> crate::matrix::Matrix {
        let n = self.tokens.len();
        crate::matrix::Matrix {
            name: title.to_string(),
            values: (0..n)
                .flat_map(|t| self.rows.iter().map(move |(_, v)| v[t]))
                .collect(),
            rows: n,
            cols: self.rows.len(),
            row_labels: self
                .tokens
                .iter()
                .enumerate()
                .map(|(i, t)| format!("{i}: {t}"))
                .collect(),
            col_labels: self.rows.iter().map(|(l, _)| l.clone()).collect(),
        }
    }
}

/// Spearman's rank correlation of two equally long vectors (ties get their mean rank); None
/// when either is constant or they are shorter than 2.
pub fn spearman(a: &[f32], b: &[f32]) -> Option<f32> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let rank = |v: &[f32]| -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
        let mut r = vec![0f64; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            let mean = (i + j) as f64 / 2.0 + 1.0;
            for &k in &idx[i..=j] {
                r[k] = mean;
            }
            i = j + 1;
        }
        r
    };
    let (ra, rb) = (rank(a), rank(b));
    let mean = (a.len() as f64 + 1.0) / 2.0;
    let (mut num, mut da, mut db) = (0f64, 0f64, 0f64);
    for (x, y) in ra.iter().zip(&rb) {
        num += (x - mean) * (y - mean);
        da += (x - mean).powi(2);
        db += (y - mean).powi(2);
    }
    (da > 0.0 && db > 0.0).then(|| (num / (da * db).sqrt()) as f32)
}

#[cfg(test)]
mod tests {
    use super::spearman;

    #[test]
    fn spearman_of_textbook_cases() {
        assert_eq!(spearman(&[1., 2., 3.], &[10., 20., 30.]), Some(1.0));
        assert_eq!(spearman(&[1., 2., 3.], &[3., 2., 1.]), Some(-1.0));
        // ranks with a tie: a = (1, 2.5, 2.5, 4), b = (1, 2, 3, 4): r = 0.9487
        let r = spearman(&[1., 2., 2., 4.], &[1., 2., 3., 4.]).unwrap();
        assert!((r - 0.948_683).abs() < 1e-5, "{r}");
        assert_eq!(spearman(&[1., 1.], &[1., 2.]), None);
    }
}
