//! Fine-tuned task heads as transformers defines them for ALBERT and BERT: what a classifier,
//! tagger or question-answering checkpoint predicts from the encoder's last hidden state.
//!
//! - `*ForSequenceClassification`: pooled = tanh(W_p h_[CLS] + b_p) (the family's pooler),
//!   logits = W_c pooled + b_c `[labels]`; probabilities by softmax (single label), one sigmoid
//!   per label (`problem_type` "multi_label_classification") or none (regression: one output,
//!   or `problem_type` "regression").
//! - `*ForTokenClassification`: logits = W_c h_t + b_c for every token `[N, labels]`.
//! - `*ForQuestionAnswering`: (start, end) = W_qa h_t + b_qa for every token, `[N]` each.
//!
//! - `ElectraForPreTraining` (ELECTRA's discriminator): for every token z = w · act(W h_t + b) + c
//!   (`discriminator_predictions`, act = `hidden_act`), the probability that the token was
//!   replaced sigmoid(z). It is a token classifier with the labels "original" and "replaced" and
//!   the logits (0, z): softmax of (0, z) is (1 − sigmoid(z), sigmoid(z)).
//!
//! - ModernBERT's heads: the prediction head dense → `classifier_activation` → norm, on the
//!   first token's row or the mean of the rows (`classifier_pooling`) for sequence
//!   classification, on every token's row for the others; then the classifier.
//!
//! config.json's `architectures` decides the head and `id2label` names the labels (absent:
//! `LABEL_0`…, `num_labels` of them, two by default). Dropout is the identity at inference.

use super::config::ModelConfig;
use crate::error::{LensError, Result};
use candle_core::{Device, Tensor};

mod decode;

pub use decode::{byte_level_decode, join_tokens, softmax, Entity, Span, MAX_ANSWER_TOKENS};

pub use super::task_spec::{Problem, TaskKind, TaskSpec, REPLACED_TOKEN_ARCHITECTURE};
pub use super::weights::{HeadRows, TaskHead};

impl TaskSpec {
    /// The head's weight prefixes below the model prefix: the pooler (sequence classification
    /// only) and the output layer.
    pub fn weight_prefixes(&self, cfg: &ModelConfig) -> (Option<&'static str>, &'static str) {
        if self.replaced_token {
            return (
                Some("discriminator_predictions.dense"),
                "discriminator_predictions.dense_prediction",
            );
        }
        let names = &cfg.model_type.family().classifier;
        match self.kind {
            TaskKind::SequenceClassification => (Some(names.dense), names.out),
            // ModernBERT's prediction head serves every task
            _ if cfg.modern.is_some() => (Some(names.dense), names.out),
            kind => (None, kind.output_layer()),
        }
    }
}

impl TaskHead {
    /// What the output layer reads: the rows [`HeadRows`] names through the dense layer, its
    /// activation and the norm where the head has them; `[rows, H]` of `x` `[N, H]` (f32 or
    /// f64, the same operations).
    pub fn pooled(&self, x: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
        let x = match self.rows {
            HeadRows::First => x.narrow(0, 0, 1)?,
            HeadRows::Mean => x.mean_keepdim(0)?,
            HeadRows::Each => x.clone(),
        };
        let Some(p) = &self.pooler else {
            return Ok(x);
        };
        let dt = x.dtype();
        let y = x
            .matmul(&p.w.to_dtype(dt)?)?
            .broadcast_add(&p.b.to_dtype(dt)?)?;
        let y = self.pooler_act.apply_tensor(&y)?;
        match &self.norm {
            None => Ok(y),
            Some(ln) => ln.apply(&y, eps),
        }
    }
}

/// What a head predicts for one input.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub kind: TaskKind,
    pub problem: Problem,
    pub labels: Vec<String>,
    /// sequence classification `[labels]`; token classification `[N, labels]`; QA `[N, 2]`
    /// with (start, end) per token
    pub logits: Vec<f32>,
    pub rows: usize,
    pub cols: usize,
}

impl TaskHead {
    /// The head's logits for the last hidden state `[N, H]` (row-major).
    pub fn predict(&self, cfg: &ModelConfig, hidden: &[f32]) -> Result<Prediction> {
        let h = cfg.hidden_size;
        if h == 0 || hidden.is_empty() || !hidden.len().is_multiple_of(h) {
            return Err(LensError::Compute(format!(
                "a hidden state of {} values is not a whole number of rows of {h}",
                hidden.len()
            )));
        }
        let n = hidden.len() / h;
        let x = Tensor::from_slice(hidden, (n, h), &Device::Cpu)?;
        let x = self.pooled(&x, cfg.layer_norm_eps)?;
        let rows = x.dims2()?.0;
        let mut y = x.matmul(&self.out.w)?.broadcast_add(&self.out.b)?;
        if self.spec.replaced_token {
            y = Tensor::cat(&[&y.zeros_like()?, &y], 1)?;
        }
        Ok(Prediction {
            kind: self.spec.kind,
            problem: self.spec.problem,
            labels: self.spec.labels.clone(),
            logits: y.flatten_all()?.to_vec1::<f32>()?,
            rows,
            cols: self.spec.outputs(),
        })
    }
}

/// The prediction of `weights`' task head for a trace of its model (None: no head).
pub fn predict(
    cfg: &ModelConfig,
    weights: &super::ModelWeights,
    trace: &super::Trace,
) -> Option<Result<Prediction>> {
    let head = weights.task.as_ref()?;
    let last = trace.hidden_states.last()?;
    Some(head.predict(cfg, last))
}

/// A tensor for a file: name, shape, values.
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

impl Prediction {
    /// The trace file's head outputs: `task.logits` (`[labels]` or `[N, labels]`) or
    /// `task.start_logits` and `task.end_logits` (`[N]`), and the metadata `task` and
    /// `labels` (a JSON list in id order).
    pub fn trace_entries(&self) -> (Vec<NamedTensor>, Vec<(String, String)>) {
        let tensors = match self.kind {
            TaskKind::SequenceClassification => {
                vec![(
                    "task.logits".to_string(),
                    vec![self.cols],
                    self.logits.clone(),
                )]
            }
            TaskKind::TokenClassification => vec![(
                "task.logits".to_string(),
                vec![self.rows, self.cols],
                self.logits.clone(),
            )],
            TaskKind::QuestionAnswering => vec![
                (
                    "task.start_logits".to_string(),
                    vec![self.rows],
                    self.start_logits(),
                ),
                (
                    "task.end_logits".to_string(),
                    vec![self.rows],
                    self.end_logits(),
                ),
            ],
        };
        let labels = serde_json::to_string(&self.labels).unwrap_or_else(|_| "[]".into());
        let meta = vec![
            ("task".to_string(), self.kind.name().to_string()),
            ("labels".to_string(), labels),
        ];
        (tensors, meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// RoBERTa's tokens read back as the text: "Ġ" a space, "Ã©" an é (GPT-2's byte map).
    #[test]
    fn byte_level_tokens_join_into_their_text() {
        let t: Vec<String> = ["Where", "Ġis", "Ġthe", "Ġc", "af", "Ã©", "?"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(join_tokens(&t), "Where is the café?");
        assert_eq!(byte_level_decode("ĠĊ").as_deref(), Some(" \n"));
        assert_eq!(byte_level_decode("東"), None);
    }

    fn spec(kind: TaskKind, labels: &[&str]) -> TaskSpec {
        TaskSpec {
            kind,
            architecture: "x".into(),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            problem: Problem::SingleLabel,
            replaced_token: false,
        }
    }

    #[test]
    fn architectures_name_the_head_and_id2label_its_labels() {
        let arch = vec!["AlbertForSequenceClassification".to_string()];
        let map = BTreeMap::from([
            ("1".to_string(), "positive".to_string()),
            ("0".to_string(), "negative".to_string()),
        ]);
        let s = TaskSpec::from_config(&arch, Some(&map), None, None)
            .unwrap()
            .unwrap();
        assert_eq!(s.kind, TaskKind::SequenceClassification);
        assert_eq!(s.labels, ["negative", "positive"]);
        assert_eq!(s.problem, Problem::SingleLabel);
        // one label without problem_type is a regression, as transformers' loss decides
        let one = TaskSpec::from_config(&arch, None, Some(1), None)
            .unwrap()
            .unwrap();
        assert_eq!(one.problem, Problem::Regression);
        assert_eq!(one.labels, ["LABEL_0"]);
        let masked = vec!["AlbertForMaskedLM".to_string()];
        assert_eq!(TaskSpec::from_config(&masked, None, None, None), Ok(None));
        let gap = BTreeMap::from([("0".to_string(), "a".to_string()), ("2".into(), "c".into())]);
        let e = TaskSpec::from_config(&arch, Some(&gap), None, None).unwrap_err();
        assert!(e.contains("label 1 is missing"), "{e}");
        let both = TaskSpec::from_config(&arch, Some(&map), Some(5), None)
            .unwrap()
            .unwrap();
        assert_eq!(both.labels.len(), 2, "id2label wins over num_labels");
        let e = TaskSpec::from_config(&arch, None, None, Some("ranking")).unwrap_err();
        assert!(e.contains("ranking"), "{e}");
    }

    #[test]
    fn bio_tags_merge_into_entities_and_special_tokens_break_them() {
        // tokens: [CLS] B-PER I-PER O B-LOC I-PER [SEP]
        let labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"];
        let pick = [0usize, 1, 2, 0, 3, 2, 1];
        let mut logits = Vec::new();
        for &p in &pick {
            logits.extend((0..5).map(|i| if i == p { 5.0 } else { 0.0 }));
        }
        let pred = Prediction {
            kind: TaskKind::TokenClassification,
            problem: Problem::SingleLabel,
            labels: spec(TaskKind::TokenClassification, &labels).labels,
            logits,
            rows: 7,
            cols: 5,
        };
        let skip = [true, false, false, false, false, false, true];
        let e = pred.entities(&skip);
        let spans: Vec<(&str, usize, usize)> = e
            .iter()
            .map(|e| (e.label.as_str(), e.start, e.end))
            .collect();
        assert_eq!(spans, [("PER", 1, 2), ("LOC", 4, 4), ("PER", 5, 5)]);
        assert!(e.iter().all(|e| e.score > 0.9 && e.score < 1.0));
    }

    #[test]
    fn tokens_join_back_to_words() {
        let sp: Vec<String> = ["\u{2581}the", "\u{2581}fo", "x"]
            .map(String::from)
            .to_vec();
        assert_eq!(join_tokens(&sp), "the fox");
        let wp: Vec<String> = ["the", "fo", "##x", "."].map(String::from).to_vec();
        assert_eq!(join_tokens(&wp), "the fox .");
    }

    #[test]
    fn best_span_maximises_start_times_end_within_the_allowed_tokens() {
        // start logits favour 0 (not allowed) then 2; end favours 1 (before 2) then 3
        let start = [9.0f32, 0.0, 4.0, 1.0];
        let end = [0.0f32, 5.0, 0.0, 3.0];
        let logits = start.iter().zip(&end).flat_map(|(s, e)| [*s, *e]).collect();
        let pred = Prediction {
            kind: TaskKind::QuestionAnswering,
            problem: Problem::SingleLabel,
            labels: vec!["LABEL_0".into(), "LABEL_1".into()],
            logits,
            rows: 4,
            cols: 2,
        };
        let span = pred.best_span(&[false, true, true, true]).unwrap();
        assert_eq!((span.start, span.end), (2, 3));
        let (ps, pe) = (pred.start_probabilities(), pred.end_probabilities());
        assert!((span.score - ps[2] * pe[3]).abs() < 1e-7);
        assert!(pred.best_span(&[false; 4]).is_none());
    }
}
