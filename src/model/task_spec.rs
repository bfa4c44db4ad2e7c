//! The task head config.json asks for (`architectures`, `id2label`, `num_labels`,
//! `problem_type`): which head, its labels and its problem type ([`super::task`] runs it).

use std::collections::BTreeMap;

/// Which head a fine-tuned checkpoint carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum TaskKind {
    SequenceClassification,
    TokenClassification,
    QuestionAnswering,
}

impl TaskKind {
    pub const ALL: [TaskKind; 3] = [
        TaskKind::SequenceClassification,
        TaskKind::TokenClassification,
        TaskKind::QuestionAnswering,
    ];

    /// The name a trace's `task` metadata carries: "sequence-classification", ...
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::SequenceClassification => "sequence-classification",
            TaskKind::TokenClassification => "token-classification",
            TaskKind::QuestionAnswering => "question-answering",
        }
    }

    /// The end of a transformers class name with this head ("ForSequenceClassification").
    fn class_suffix(self) -> &'static str {
        match self {
            TaskKind::SequenceClassification => "ForSequenceClassification",
            TaskKind::TokenClassification => "ForTokenClassification",
            TaskKind::QuestionAnswering => "ForQuestionAnswering",
        }
    }

    /// The head named by a transformers class name ("AlbertForSequenceClassification").
    pub fn of_architecture(arch: &str) -> Option<TaskKind> {
        TaskKind::ALL
            .into_iter()
            .find(|k| arch.ends_with(k.class_suffix()))
    }

    /// The head's output layer below the model prefix.
    pub(crate) fn output_layer(self) -> &'static str {
        match self {
            TaskKind::QuestionAnswering => "qa_outputs",
            _ => "classifier",
        }
    }
}

/// How a sequence classifier's logits become scores (`problem_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Problem {
    SingleLabel,
    MultiLabel,
    Regression,
}

impl Problem {
    fn from_hf(name: Option<&str>, labels: usize) -> std::result::Result<Problem, String> {
        Ok(match name {
            Some("single_label_classification") => Problem::SingleLabel,
            Some("multi_label_classification") => Problem::MultiLabel,
            Some("regression") => Problem::Regression,
            None if labels == 1 => Problem::Regression,
            None => Problem::SingleLabel,
            Some(other) => {
                return Err(format!(
                    "problem_type {other:?} is not one transformers knows (single_label_classification, multi_label_classification, regression)"
                ))
            }
        })
    }
}

/// The head config.json asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    pub kind: TaskKind,
    /// the `architectures` entry that named it
    pub architecture: String,
    /// label names in id order
    pub labels: Vec<String>,
    pub problem: Problem,
    /// ELECTRA's discriminator: a dense layer on every token, one logit z, shown as (0, z)
    pub replaced_token: bool,
}

/// The class of ELECTRA's discriminator, whose head says which tokens were replaced.
pub const REPLACED_TOKEN_ARCHITECTURE: &str = "ElectraForPreTraining";

/// The most labels a head may have (real ones have at most a few thousand).
const MAX_LABELS: usize = 1 << 16;

impl TaskSpec {
    /// The head named by config.json's `architectures`, with `id2label` / `num_labels` /
    /// `problem_type`; None for a checkpoint without one of the three heads.
    pub(crate) fn from_config(
        architectures: &[String],
        id2label: Option<&BTreeMap<String, String>>,
        num_labels: Option<usize>,
        problem_type: Option<&str>,
    ) -> std::result::Result<Option<TaskSpec>, String> {
        if let Some(arch) = architectures
            .iter()
            .find(|a| *a == REPLACED_TOKEN_ARCHITECTURE)
        {
            return Ok(Some(TaskSpec {
                kind: TaskKind::TokenClassification,
                architecture: arch.clone(),
                labels: vec!["original".into(), "replaced".into()],
                problem: Problem::SingleLabel,
                replaced_token: true,
            }));
        }
        let Some((kind, arch)) = architectures
            .iter()
            .find_map(|a| TaskKind::of_architecture(a).map(|k| (k, a)))
        else {
            return Ok(None);
        };
        let labels = match id2label {
            Some(map) => {
                let mut pairs = Vec::with_capacity(map.len());
                for (k, v) in map {
                    let id: usize = k.trim().parse().map_err(|_| {
                        format!("id2label has the key {k:?}, which is not a label number")
                    })?;
                    pairs.push((id, v.clone()));
                }
                pairs.sort();
                if let Some((i, (id, _))) = pairs.iter().enumerate().find(|(i, (id, _))| *i != *id)
                {
                    return Err(format!(
                        "id2label's numbers must run 0, 1, 2, … without gaps; label {i} is missing (the next is {id})"
                    ));
                }
                pairs.into_iter().map(|(_, v)| v).collect()
            }
            None => (0..num_labels.unwrap_or(2))
                .map(|i| format!("LABEL_{i}"))
                .collect::<Vec<_>>(),
        };
        // with both, id2label decides, as in transformers' PretrainedConfig (the classifier's
        // shape is checked against it when the weights load)
        if labels.is_empty() || labels.len() > MAX_LABELS {
            return Err(format!(
                "a {arch} head needs 1 to {MAX_LABELS} labels, not {}",
                labels.len()
            ));
        }
        let problem = match kind {
            TaskKind::SequenceClassification => Problem::from_hf(problem_type, labels.len())?,
            _ => Problem::SingleLabel,
        };
        Ok(Some(TaskSpec {
            kind,
            architecture: arch.clone(),
            labels,
            problem,
            replaced_token: false,
        }))
    }

    /// Logits per row: the labels, or 2 (start, end) for QA.
    pub fn outputs(&self) -> usize {
        match self.kind {
            TaskKind::QuestionAnswering => 2,
            _ => self.labels.len(),
        }
    }

    /// Outputs of the head's linear layer: [`Self::outputs`], or ELECTRA's one logit.
    pub fn out_width(&self) -> usize {
        if self.replaced_token {
            1
        } else {
            self.outputs()
        }
    }

    /// The index of a label by name, or by its number.
    pub fn label_index(&self, label: &str) -> Option<usize> {
        self.labels.iter().position(|l| l == label).or_else(|| {
            label
                .parse()
                .ok()
                .filter(|&i: &usize| i < self.labels.len())
        })
    }
}
