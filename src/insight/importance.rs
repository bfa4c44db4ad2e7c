//! A fine-tuned sequence classifier over a labelled file: accuracy, the confusion matrix, the
//! examples it gets wrong, head importance and the pruning curve.
//!
//! - **Head importance** (Michel et al. 2019): I[l, h] = mean over the examples of
//!   |∂ CE(gold) / ∂ξ[l, h]| at ξ = 1, where ξ[l, h] multiplies layer application l's attention
//!   probabilities of head h (transformers' former `head_mask`) and CE is the cross-entropy of
//!   the gold label under the softmax of the logits. Gradients by candle's autograd on the f64
//!   forward of [`crate::insight::attribution`].
//! - **Pruning curve**: the accuracy with the k least important heads masked (ξ = 0; ties in
//!   importance broken by (layer application, head) order), k = ⌊i/10 · L·heads + ½⌋ for
//!   i = 0…10, each run on the chosen backend.

use super::attribution::{encoder, task_logits};
use super::labelled::Labelled;
use super::Control;
use crate::backend::Backend;
use crate::error::{LensError, Result};
use crate::model::task::{Problem, TaskKind};
use crate::model::{Ablation, ForwardOptions, LoadedModel};
use candle_core::{DType, Device, Tensor, Var};

/// Steps of the pruning curve (0 %, 10 %, … 100 % of the heads masked).
pub const PRUNING_STEPS: usize = 11;

/// What [`evaluate`] measures.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadReport {
    pub labels: Vec<String>,
    /// layer applications (L · inner_group_num) and heads per application
    pub maps: usize,
    pub heads: usize,
    /// `[maps, heads]` row-major
    pub importance: Vec<f32>,
    /// the fraction of examples whose predicted label is the gold one
    pub accuracy: f32,
    /// `[gold][predicted]` counts, `labels × labels` row-major
    pub confusion: Vec<u32>,
    /// each example's predicted label and its probability
    pub predictions: Vec<(usize, f32)>,
    /// whether each example was predicted right (a sentence: its label; a tagged sentence or
    /// a masked text: every token)
    pub correct: Vec<bool>,
    /// (heads masked, accuracy) for each step of the curve
    pub pruning: Vec<(usize, f32)>,
}

impl HeadReport {
    /// The accuracy of always answering the most frequent gold label, over what the confusion
    /// matrix counts (examples, or a tagger's tokens); 0 without one (a masked LM).
    pub fn majority_baseline(&self) -> f32 {
        let l = self.labels.len();
        let most = (0..l)
            .map(|g| self.confusion[g * l..(g + 1) * l].iter().sum::<u32>())
            .max()
            .unwrap_or(0);
        most as f32 / self.scored().max(1) as f32
    }

    /// What the confusion matrix counts: examples, or a tagger's tokens.
    pub fn scored(&self) -> u32 {
        self.confusion.iter().sum()
    }

    /// The examples the model gets wrong: their indices in the labelled file's order.
    pub fn wrong(&self) -> Vec<usize> {
        (0..self.correct.len())
            .filter(|&i| !self.correct[i])
            .collect()
    }

    /// The heads masked at each step: the `k` least important (map, head) pairs.
    pub fn least_important(&self, k: usize) -> Ablation {
        Ablation(
            order(&self.importance)
                .into_iter()
                .take(k)
                .map(|i| (i / self.heads, i % self.heads))
                .collect(),
        )
    }

    /// The `heads` file: `importance` F32 `[maps, heads]`, `accuracy` F32 `[1]`,
    /// `pruned_accuracy` F32 `[steps]`, `pruned_heads` I64 `[steps]`, `confusion` F32
    /// `[labels, labels]` (classifiers), per example `predicted` I64 `[n]` (the label; for a
    /// tagged or masked text the targets it gets wrong), `probability` F32 `[n]` (the label's;
    /// for a text the share right) and `correct` F32 `[n]` (1 or 0); metadata `model`, `data`
    /// (the file's identity), `labels`, `examples`, `objective`.
    pub fn to_safetensors_bytes(&self, model: &str, data_identity: &str) -> Result<Vec<u8>> {
        use safetensors::tensor::{Dtype, TensorView};
        let err = |e: safetensors::SafeTensorError| LensError::Compute(e.to_string());
        let f32s = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
        let pruned: Vec<f32> = self.pruning.iter().map(|p| p.1).collect();
        let counts: Vec<u8> = self
            .pruning
            .iter()
            .flat_map(|p| (p.0 as i64).to_le_bytes())
            .collect();
        let confusion: Vec<f32> = self.confusion.iter().map(|&c| c as f32).collect();
        let l = self.labels.len();
        let n = self.predictions.len();
        let probability: Vec<f32> = self.predictions.iter().map(|p| p.1).collect();
        let correct: Vec<f32> = self
            .correct
            .iter()
            .map(|&c| f32::from(u8::from(c)))
            .collect();
        let predicted: Vec<u8> = self
            .predictions
            .iter()
            .flat_map(|p| (p.0 as i64).to_le_bytes())
            .collect();
        let mut buffers = vec![
            (
                "importance",
                vec![self.maps, self.heads],
                f32s(&self.importance),
            ),
            ("accuracy", vec![1], f32s(&[self.accuracy])),
            ("pruned_accuracy", vec![pruned.len()], f32s(&pruned)),
            ("probability", vec![n], f32s(&probability)),
            ("correct", vec![n], f32s(&correct)),
        ];
        if l > 0 {
            buffers.push(("confusion", vec![l, l], f32s(&confusion)));
        }
        let mut views = Vec::new();
        for (name, shape, bytes) in &buffers {
            views.push((
                name.to_string(),
                TensorView::new(Dtype::F32, shape.clone(), bytes).map_err(err)?,
            ));
        }
        views.push((
            "pruned_heads".to_string(),
            TensorView::new(Dtype::I64, vec![self.pruning.len()], &counts).map_err(err)?,
        ));
        views.push((
            "predicted".to_string(),
            TensorView::new(Dtype::I64, vec![n], &predicted).map_err(err)?,
        ));
        let meta = std::collections::HashMap::from([
            ("model".to_string(), model.to_string()),
            ("data".to_string(), data_identity.to_string()),
            (
                "labels".to_string(),
                serde_json::to_string(&self.labels)
                    .map_err(|e| LensError::Compute(e.to_string()))?,
            ),
            ("examples".to_string(), self.predictions.len().to_string()),
            (
                "objective".to_string(),
                if l > 0 {
                    "cross-entropy of the gold label".to_string()
                } else {
                    format!(
                        "masked-LM cross-entropy on {}% of each text's tokens",
                        MASKED_SHARE * 100.0
                    )
                },
            ),
        ]);
        safetensors::serialize(views, Some(meta)).map_err(err)
    }
}

impl HeadReport {
    /// A report read back from [`HeadReport::to_safetensors_bytes`] (the app's cache); None
    /// when anything is missing or does not fit.
    pub fn from_safetensors_bytes(bytes: &[u8]) -> Option<HeadReport> {
        let st = safetensors::SafeTensors::deserialize(bytes).ok()?;
        let f32s = |name: &str| -> Option<(Vec<usize>, Vec<f32>)> {
            let t = st.tensor(name).ok()?;
            (t.dtype() == safetensors::Dtype::F32).then_some(())?;
            let v = t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            Some((t.shape().to_vec(), v))
        };
        let i64s = |name: &str| -> Option<Vec<usize>> {
            let t = st.tensor(name).ok()?;
            (t.dtype() == safetensors::Dtype::I64).then_some(())?;
            t.data()
                .chunks_exact(8)
                .map(|c| usize::try_from(i64::from_le_bytes(c.try_into().ok()?)).ok())
                .collect()
        };
        let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).ok()?;
        let labels: Vec<String> =
            serde_json::from_str(meta.metadata().as_ref()?.get("labels")?).ok()?;
        let (shape, importance) = f32s("importance")?;
        let [maps, heads] = shape[..] else {
            return None;
        };
        let (_, pruned) = f32s("pruned_accuracy")?;
        let counts = i64s("pruned_heads")?;
        let (_, probability) = f32s("probability")?;
        let (_, correct) = f32s("correct")?;
        let predicted = i64s("predicted")?;
        let l = labels.len();
        let confusion = match f32s("confusion") {
            Some((_, c)) if c.len() == l * l => c.iter().map(|&v| v as u32).collect(),
            _ if l == 0 => Vec::new(),
            _ => return None,
        };
        let n = predicted.len();
        if probability.len() != n || correct.len() != n || counts.len() != pruned.len() {
            return None;
        }
        Some(HeadReport {
            labels,
            maps,
            heads,
            importance,
            accuracy: *f32s("accuracy")?.1.first()?,
            confusion,
            predictions: predicted.into_iter().zip(probability).collect(),
            correct: correct.iter().map(|&c| c > 0.5).collect(),
            pruning: counts.into_iter().zip(pruned).collect(),
        })
    }
}

/// Head indices (map · heads + head) from least to most important, ties by index.
fn order(importance: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..importance.len()).collect();
    idx.sort_by(|&a, &b| importance[a].total_cmp(&importance[b]).then(a.cmp(&b)));
    idx
}

/// The number of heads masked at step `i` of `total`: ⌊i/10 · total + ½⌋.
pub fn pruned_at(i: usize, total: usize) -> usize {
    (i * total + 5) / 10
}

/// What one example's loss and accuracy are of.
enum Objective {
    /// a sequence classifier's gold label
    Class(usize),
    /// the masked LM's original tokens at the masked positions
    Masked(Vec<(usize, u32)>),
    /// a token classifier's gold tag at the first token of each word (position, tag)
    Tags(Vec<(usize, usize)>),
}

/// One example, tokenized (masked for the MLM), with its objective.
struct Prepared {
    input: crate::model::EncodedInput,
    objective: Objective,
}

/// Cross-entropy of `target` under the softmax of `logits` (a 1-D tensor), shifted by its max.
fn cross_entropy(logits: &Tensor, target: usize) -> Result<Tensor> {
    let max = logits
        .to_vec1::<f64>()?
        .into_iter()
        .fold(f64::NEG_INFINITY, f64::max);
    let lse = ((logits - max)?.exp()?.sum_all()?.log()? + max)?;
    Ok((lse - logits.narrow(0, target, 1)?.sum_all()?)?)
}

/// The index of the largest value.
fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

/// One target's gold label, predicted label and the prediction's probability.
type Outcome = (usize, usize, f32);

/// The example's loss (differentiable, from the last hidden state `x`), the mean
/// cross-entropy over its targets, and each target's (gold, predicted, probability of the
/// prediction).
fn loss_of(
    model: &LoadedModel,
    x: &Tensor,
    objective: &Objective,
) -> Result<(Tensor, Vec<Outcome>)> {
    // (row of logits, gold) for every target
    let rows: Vec<(Tensor, usize)> = match objective {
        Objective::Class(gold) => vec![(task_logits(model, x)?.flatten_all()?, *gold)],
        Objective::Masked(targets) => targets
            .iter()
            .map(|&(pos, id)| Ok((super::attribution::mlm_logits(model, x, pos)?, id as usize)))
            .collect::<Result<_>>()?,
        Objective::Tags(targets) => {
            let logits = task_logits(model, x)?;
            targets
                .iter()
                .map(|&(pos, tag)| Ok((logits.narrow(0, pos, 1)?.flatten_all()?, tag)))
                .collect::<Result<_>>()?
        }
    };
    let mut total: Option<Tensor> = None;
    let mut outcomes = Vec::with_capacity(rows.len());
    for (logits, gold) in &rows {
        let values: Vec<f32> = logits.to_vec1::<f64>()?.iter().map(|&v| v as f32).collect();
        let best = argmax(&values);
        outcomes.push((*gold, best, crate::model::task::softmax(&values)[best]));
        let l = cross_entropy(logits, *gold)?;
        total = Some(match total {
            Some(t) => (t + l)?,
            None => l,
        });
    }
    let loss =
        total.ok_or_else(|| LensError::Analysis("an example with nothing to predict".into()))?;
    Ok(((loss / rows.len() as f64)?, outcomes))
}

/// Right and counted under `hidden` (the last hidden state of a backend run).
fn score_of(model: &LoadedModel, hidden: &[f32], objective: &Objective) -> Result<(usize, usize)> {
    let cfg = &model.config;
    let task = || -> Result<crate::model::task::Prediction> {
        let head = model
            .weights
            .task
            .as_ref()
            .ok_or_else(super::attribution::no_task_head)?;
        head.predict(cfg, hidden)
    };
    match objective {
        Objective::Class(gold) => Ok((usize::from(task()?.predicted(0) == *gold), 1)),
        Objective::Tags(targets) => {
            let p = task()?;
            let right = targets
                .iter()
                .filter(|&&(pos, tag)| p.predicted(pos) == tag)
                .count();
            Ok((right, targets.len()))
        }
        Objective::Masked(targets) => {
            let head = model
                .weights
                .mlm
                .as_ref()
                .ok_or_else(super::attribution::no_mlm_head)?;
            let h = cfg.hidden_size;
            let mut right = 0;
            for &(pos, id) in targets {
                let logits = head.logits(cfg, &hidden[pos * h..(pos + 1) * h])?;
                right += usize::from(argmax(&logits) == id as usize);
            }
            Ok((right, targets.len()))
        }
    }
}

/// Head importance, accuracy and the pruning curve over prepared examples; `labels` empty for
/// the MLM (no confusion matrix then).
fn measure(
    model: &LoadedModel,
    examples: &[Prepared],
    labels: &[String],
    backend: &mut dyn Backend,
    ctl: &Control,
) -> Result<HeadReport> {
    let cfg = &model.config;
    let (maps, heads, l) = (
        cfg.num_attention_maps(),
        cfg.num_attention_heads,
        labels.len(),
    );
    let count = examples.len();
    if count == 0 {
        return Err(LensError::Analysis(
            "there are no examples to measure on".into(),
        ));
    }
    let mut total = vec![0f64; maps * heads];
    let mut predictions = Vec::with_capacity(count);
    let mut confusion = vec![0u32; l * l];
    let mut correct = Vec::with_capacity(count);
    let (mut right, mut counted) = (0, 0);
    for (i, ex) in examples.iter().enumerate() {
        if ctl.cancelled() {
            return Err(LensError::Cancelled("head importance".into()));
        }
        let input = &ex.input;
        let ids = Tensor::from_slice(&input.ids, input.len(), &Device::Cpu)?;
        let word = model
            .weights
            .embeddings
            .word
            .index_select(&ids, 0)?
            .to_dtype(DType::F64)?;
        let gate = Var::from_tensor(&Tensor::ones((maps, heads), DType::F64, &Device::Cpu)?)?;
        let x = encoder(model, input, &word, Some(gate.as_tensor()))?;
        let (loss, outcomes) = loss_of(model, &x, &ex.objective)?;
        let grads = loss.backward()?;
        let g = grads
            .get(gate.as_tensor())
            .ok_or_else(|| LensError::Compute("no gradient reached the head gates".into()))?
            .flatten_all()?
            .to_vec1::<f64>()?;
        for (t, v) in total.iter_mut().zip(g) {
            *t += v.abs();
        }
        let r = outcomes.iter().filter(|o| o.0 == o.1).count();
        if l > 0 {
            for &(gold, best, _) in &outcomes {
                confusion[gold * l + best] += 1;
            }
        }
        predictions.push(match (&ex.objective, outcomes.first()) {
            (Objective::Class(_), Some(&(_, best, p))) => (best, p),
            _ => (outcomes.len() - r, r as f32 / outcomes.len().max(1) as f32),
        });
        correct.push(r == outcomes.len());
        right += r;
        counted += outcomes.len();
        ctl.report(
            format!("head importance {}/{count}", i + 1),
            Some(0.7 * (i + 1) as f32 / count as f32),
        );
    }
    let mut report = HeadReport {
        labels: labels.to_vec(),
        maps,
        heads,
        importance: total.iter().map(|t| (t / count as f64) as f32).collect(),
        accuracy: right as f32 / counted.max(1) as f32,
        confusion,
        predictions,
        correct,
        pruning: Vec::new(),
    };
    for i in 0..PRUNING_STEPS {
        let k = pruned_at(i, maps * heads);
        let opts = ForwardOptions {
            ablate: report.least_important(k),
            ..Default::default()
        };
        let (mut right, mut counted) = (0, 0);
        for ex in examples {
            if ctl.cancelled() {
                return Err(LensError::Cancelled("the pruning curve".into()));
            }
            let trace = backend.forward_with(cfg, &model.weights, &ex.input, &opts)?;
            let last = trace.hidden_states.last().ok_or_else(|| {
                LensError::Compute("the forward pass returned no hidden state".into())
            })?;
            let (r, c) = score_of(model, last, &ex.objective)?;
            right += r;
            counted += c;
        }
        report
            .pruning
            .push((k, right as f32 / counted.max(1) as f32));
        ctl.report(
            format!("pruning curve {}/{PRUNING_STEPS}", i + 1),
            Some(0.7 + 0.3 * (i + 1) as f32 / PRUNING_STEPS as f32),
        );
    }
    Ok(report)
}

/// Accuracy, confusion, head importance and the pruning curve of `model`'s sequence classifier
/// (CE of the gold label) or token classifier (mean CE of the gold tags at each word's first
/// token; accuracy and confusion over those tokens) on `data`; the curve's forward passes run
/// on `backend`. Reports progress and stops when
/// `ctl` is cancelled.
pub fn evaluate(
    model: &LoadedModel,
    data: &Labelled,
    backend: &mut dyn Backend,
    ctl: &Control,
) -> Result<HeadReport> {
    let head = model
        .weights
        .task
        .as_ref()
        .ok_or_else(|| LensError::Analysis("head importance needs a fine-tuned classifier; this checkpoint has no task head (config.json's architectures name none)".into()))?;
    let spec = &head.spec;
    let tagger = spec.kind == TaskKind::TokenClassification;
    if !(tagger
        || spec.kind == TaskKind::SequenceClassification && spec.problem == Problem::SingleLabel)
    {
        return Err(LensError::Analysis(format!(
            "head importance and accuracy are measured for single-label sequence classifiers and token classifiers; this model is a {} ({:?})",
            spec.kind.name(),
            spec.problem
        )));
    }
    let max = model.config.max_len();
    let mut examples = Vec::with_capacity(data.examples.len());
    for ex in &data.examples {
        if !tagger {
            examples.push(Prepared {
                input: model.encode(&ex.text, ex.pair.as_deref())?,
                objective: Objective::Class(ex.label),
            });
            continue;
        }
        if ex.words.is_empty() {
            return Err(LensError::Analysis(format!(
                "line {}: a token classifier is measured on CoNLL sentences (a word and its tag per line)",
                ex.line
            )));
        }
        let words: Vec<&str> = ex.words.iter().map(String::as_str).collect();
        let input = model.tokenizer.encode_words(&words, max)?;
        // the gold tag at each word's first token (transformers' token-classification recipe)
        let mut targets = Vec::new();
        let mut last = None;
        for (pos, w) in input.word_ids.iter().enumerate() {
            if let Some(w) = *w {
                if last != Some(w) {
                    targets.push((pos, ex.tags[w as usize]));
                }
                last = Some(w);
            }
        }
        if targets.is_empty() {
            continue;
        }
        examples.push(Prepared {
            input,
            objective: Objective::Tags(targets),
        });
    }
    measure(model, &examples, &spec.labels, backend, ctl)
}

/// The share of a text's ordinary tokens the masked-LM measure masks.
pub const MASKED_SHARE: f64 = 0.15;

/// SplitMix64: the seeded choice of masked positions (the torch fixture computes the same).
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The positions masked in text `t`: ⌊0.15·m + ½⌋ (at least 1) of its m ordinary tokens, those
/// with the smallest splitmix64(seed + 2³² t + position), in position order.
pub fn masked_positions(special: &[bool], t: u64, seed: u64) -> Vec<usize> {
    let mut ordinary: Vec<usize> = (0..special.len()).filter(|&i| !special[i]).collect();
    if ordinary.is_empty() {
        return Vec::new();
    }
    let k = ((MASKED_SHARE * ordinary.len() as f64 + 0.5).floor() as usize).max(1);
    ordinary.sort_by_key(|&p| splitmix64(seed.wrapping_add(t << 32).wrapping_add(p as u64)));
    let mut chosen = ordinary[..k].to_vec();
    chosen.sort();
    chosen
}

/// Head importance and the pruning curve of a masked LM on `texts`: in text t the
/// [`masked_positions`] (seeded) are replaced by the mask token; the loss is the mean
/// cross-entropy of the original tokens there (what Michel et al. measure for BERT's
/// pre-training objective), the accuracy their top-1 accuracy.
pub fn evaluate_mlm(
    model: &LoadedModel,
    texts: &[(String, Option<String>)],
    seed: u64,
    backend: &mut dyn Backend,
    ctl: &Control,
) -> Result<HeadReport> {
    if model.weights.mlm.is_none() {
        return Err(super::attribution::no_mlm_head());
    }
    let mask = crate::model::trace::MASK_TOKENS
        .iter()
        .find_map(|t| model.tokenizer.token_to_id(t))
        .ok_or_else(|| {
            LensError::Analysis("the tokenizer has no mask token ([MASK] or <mask>)".into())
        })?;
    let mut examples = Vec::with_capacity(texts.len());
    for (t, (text, pair)) in texts.iter().enumerate() {
        let mut input = model.encode(text, pair.as_deref())?;
        let positions = masked_positions(&input.special, t as u64, seed);
        if positions.is_empty() {
            continue;
        }
        let targets: Vec<(usize, u32)> = positions.iter().map(|&p| (p, input.ids[p])).collect();
        for &p in &positions {
            input.ids[p] = mask;
        }
        examples.push(Prepared {
            input,
            objective: Objective::Masked(targets),
        });
    }
    measure(model, &examples, &[], backend, ctl)
}
