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
    /// (heads masked, accuracy) for each step of the curve
    pub pruning: Vec<(usize, f32)>,
}

impl HeadReport {
    /// The examples the model gets wrong: their indices in the file's order.
    pub fn wrong(&self, data: &Labelled) -> Vec<usize> {
        data.examples
            .iter()
            .zip(&self.predictions)
            .enumerate()
            .filter(|(_, (e, (p, _)))| e.label != *p)
            .map(|(i, _)| i)
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
    /// `[labels, labels]`; metadata `model`, `data` (the file's identity), `labels`, `examples`.
    pub fn to_safetensors_bytes(&self, model: &str, data: &Labelled) -> Result<Vec<u8>> {
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
        let buffers = [
            (
                "importance",
                vec![self.maps, self.heads],
                f32s(&self.importance),
            ),
            ("accuracy", vec![1], f32s(&[self.accuracy])),
            ("pruned_accuracy", vec![pruned.len()], f32s(&pruned)),
            ("confusion", vec![l, l], f32s(&confusion)),
        ];
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
        let meta = std::collections::HashMap::from([
            ("model".to_string(), model.to_string()),
            ("data".to_string(), data.identity.clone()),
            (
                "labels".to_string(),
                serde_json::to_string(&self.labels)
                    .map_err(|e| LensError::Compute(e.to_string()))?,
            ),
            ("examples".to_string(), data.examples.len().to_string()),
        ]);
        safetensors::serialize(views, Some(meta)).map_err(err)
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

/// Accuracy, confusion, head importance and the pruning curve of `model`'s sequence classifier
/// on `data`; the curve's forward passes run on `backend`. Reports progress and stops when
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
    if spec.kind != TaskKind::SequenceClassification || spec.problem != Problem::SingleLabel {
        return Err(LensError::Analysis(format!(
            "head importance and accuracy are measured for single-label sequence classifiers; this model is a {} ({:?})",
            spec.kind.name(),
            spec.problem
        )));
    }
    let cfg = &model.config;
    let (maps, heads, labels) = (
        cfg.num_attention_maps(),
        cfg.num_attention_heads,
        spec.labels.len(),
    );
    let count = data.examples.len();
    let mut total = vec![0f64; maps * heads];
    let mut predictions = Vec::with_capacity(count);
    let mut confusion = vec![0u32; labels * labels];
    let mut inputs = Vec::with_capacity(count);
    for (i, ex) in data.examples.iter().enumerate() {
        if ctl.cancelled() {
            return Err(LensError::Cancelled("head importance".into()));
        }
        let input = model.encode(&ex.text, ex.pair.as_deref())?;
        let ids = Tensor::from_slice(&input.ids, input.len(), &Device::Cpu)?;
        let word = model
            .weights
            .embeddings
            .word
            .index_select(&ids, 0)?
            .to_dtype(DType::F64)?;
        let gate = Var::from_tensor(&Tensor::ones((maps, heads), DType::F64, &Device::Cpu)?)?;
        let x = encoder(model, &input, &word, Some(gate.as_tensor()))?;
        let logits = task_logits(model, &x)?.flatten_all()?;
        let values = logits.to_vec1::<f64>()?;
        // cross-entropy of the gold label: logsumexp(z) - z_gold, shifted by the max
        let max = values.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        let lse = ((&logits - max)?.exp()?.sum_all()?.log()? + max)?;
        let loss = (lse - logits.narrow(0, ex.label, 1)?.sum_all()?)?;
        let grads = loss.backward()?;
        let g = grads
            .get(gate.as_tensor())
            .ok_or_else(|| LensError::Compute("no gradient reached the head gates".into()))?
            .flatten_all()?
            .to_vec1::<f64>()?;
        for (t, v) in total.iter_mut().zip(g) {
            *t += v.abs();
        }
        let probs =
            crate::model::task::softmax(&values.iter().map(|&v| v as f32).collect::<Vec<f32>>());
        let best = (0..labels)
            .max_by(|&a, &b| values[a].total_cmp(&values[b]))
            .unwrap_or(0);
        confusion[ex.label * labels + best] += 1;
        predictions.push((best, probs[best]));
        inputs.push(input);
        ctl.report(
            format!("head importance {}/{count}", i + 1),
            Some(0.7 * (i + 1) as f32 / count as f32),
        );
    }
    let importance: Vec<f32> = total.iter().map(|t| (t / count as f64) as f32).collect();
    let right = predictions
        .iter()
        .zip(&data.examples)
        .filter(|(p, e)| p.0 == e.label)
        .count();
    let mut report = HeadReport {
        labels: spec.labels.clone(),
        maps,
        heads,
        importance,
        accuracy: right as f32 / count as f32,
        confusion,
        predictions,
        pruning: Vec::new(),
    };
    for i in 0..PRUNING_STEPS {
        let k = pruned_at(i, maps * heads);
        let opts = ForwardOptions {
            ablate: report.least_important(k),
            ..Default::default()
        };
        let mut right = 0;
        for (input, ex) in inputs.iter().zip(&data.examples) {
            if ctl.cancelled() {
                return Err(LensError::Cancelled("the pruning curve".into()));
            }
            let trace = backend.forward_with(cfg, &model.weights, input, &opts)?;
            let last = trace.hidden_states.last().ok_or_else(|| {
                LensError::Compute("the forward pass returned no hidden state".into())
            })?;
            let p = head.predict(cfg, last)?;
            right += usize::from(p.predicted(0) == ex.label);
        }
        report.pruning.push((k, right as f32 / count as f32));
        ctl.report(
            format!("pruning curve {}/{PRUNING_STEPS}", i + 1),
            Some(0.7 + 0.3 * (i + 1) as f32 / PRUNING_STEPS as f32),
        );
    }
    Ok(report)
}
