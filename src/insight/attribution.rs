//! Gradient attributions for a masked-LM prediction, beside attention: which input words the
//! prediction depends on. With logit = the MLM logit of `target` at `position`, xᵢ the
//! word-embedding row of token i (E values for ALBERT, H for BERT; position and type
//! embeddings untouched) and gᵢ = ∂logit/∂xᵢ:
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
use crate::model::weights::{LayerNormWeights, Linear};
use crate::model::{Ablation, Activation, EncodedInput, LoadedModel};
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

fn f64t(t: &Tensor) -> candle_core::Result<Tensor> {
    t.to_dtype(DType::F64)
}

fn linear(x: &Tensor, l: &Linear) -> candle_core::Result<Tensor> {
    x.matmul(&f64t(&l.w)?)?.broadcast_add(&f64t(&l.b)?)
}

/// LayerNorm over the last dimension from differentiable operations.
fn layer_norm(x: &Tensor, ln: &LayerNormWeights, eps: f64) -> candle_core::Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = centred.broadcast_div(&(var + eps)?.sqrt()?)?;
    normed
        .broadcast_mul(&f64t(&ln.w)?)?
        .broadcast_add(&f64t(&ln.b)?)
}

fn sigmoid(x: &Tensor) -> candle_core::Result<Tensor> {
    (x.neg()?.exp()? + 1.0)?.recip()
}

/// `hidden_act` from operations candle differentiates (transformers' definitions).
fn activate(x: &Tensor, act: Activation) -> candle_core::Result<Tensor> {
    match act {
        Activation::Gelu => x.gelu_erf(),
        Activation::GeluTanh => x.gelu(),
        Activation::QuickGelu => x.mul(&sigmoid(&(x * 1.702)?)?),
        Activation::Relu => x.relu(),
        Activation::Relu6 => x.relu()? - (x - 6.0)?.relu()?,
        Activation::Silu => x.mul(&sigmoid(x)?),
        Activation::Mish => {
            let softplus = (x.exp()? + 1.0)?.log()?;
            x.mul(&softplus.tanh()?)
        }
        Activation::Tanh => x.tanh(),
        Activation::Sigmoid => sigmoid(x),
        Activation::Linear => Ok(x.clone()),
    }
}

/// The MLM logit of `target` at `pos` as a function of the word-embedding rows `word` `[N, E]`.
fn logit_of(
    model: &LoadedModel,
    (input, ablate): (&EncodedInput, &Ablation),
    word: &Tensor,
    (pos, target): (usize, u32),
) -> Result<Tensor> {
    let cfg = &model.config;
    let w = &model.weights;
    let head = w.mlm.as_ref().ok_or_else(no_head)?;
    let n = input.len();
    let dev = Device::Cpu;
    let e = &w.embeddings;
    let types = Tensor::from_slice(&input.type_ids, n, &dev)?;
    let x = (word + f64t(&e.position.narrow(0, 0, n)?)?)?;
    let x = (x + f64t(&e.token_type.index_select(&types, 0)?)?)?;
    let mut x = layer_norm(&x, &e.ln, cfg.layer_norm_eps)?;
    if let Some(p) = &e.projection {
        x = linear(&x, p)?;
    }
    let (heads, d, h) = (cfg.num_attention_heads, cfg.head_dim(), cfg.hidden_size);
    let scale = 1.0 / (d as f64).sqrt();
    let split = |t: Tensor| -> candle_core::Result<Tensor> {
        t.reshape((n, heads, d))?.transpose(0, 1)?.contiguous()
    };
    let mut j = 0;
    for i in 0..cfg.num_hidden_layers {
        for layer in &w.groups[cfg.group_of_layer(i)] {
            let qkv = linear(&x, &layer.qkv)?;
            let q = split(qkv.narrow(1, 0, h)?)?;
            let k = split(qkv.narrow(1, h, h)?)?;
            let v = split(qkv.narrow(1, 2 * h, h)?)?;
            let s = (q.matmul(&k.transpose(1, 2)?.contiguous()?)? * scale)?;
            let s = s
                .broadcast_sub(&s.max_keepdim(D::Minus1)?.detach())?
                .exp()?;
            let mut probs = s.broadcast_div(&s.sum_keepdim(D::Minus1)?)?;
            if (0..heads).any(|h| ablate.off(j, h)) {
                let keep: Vec<f64> = (0..heads)
                    .map(|h| if ablate.off(j, h) { 0.0 } else { 1.0 })
                    .collect();
                probs = probs.broadcast_mul(&Tensor::from_vec(keep, (heads, 1, 1), &dev)?)?;
            }
            j += 1;
            let ctx = probs
                .matmul(&v)?
                .transpose(0, 1)?
                .contiguous()?
                .reshape((n, h))?;
            let attn = layer_norm(
                &(&x + linear(&ctx, &layer.attn_out)?)?,
                &layer.attn_ln,
                cfg.layer_norm_eps,
            )?;
            let ff = activate(&linear(&attn, &layer.ffn)?, cfg.hidden_act)?;
            x = layer_norm(
                &(&attn + linear(&ff, &layer.ffn_out)?)?,
                &layer.out_ln,
                cfg.layer_norm_eps,
            )?;
        }
    }
    let y = activate(&linear(&x.narrow(0, pos, 1)?, &head.dense)?, cfg.hidden_act)?;
    let y = layer_norm(&y, &head.ln, cfg.layer_norm_eps)?;
    let row = f64t(&head.decoder.narrow(0, target as usize, 1)?)?;
    let bias = f64t(&head.bias.narrow(0, target as usize, 1)?)?;
    Ok((y.mul(&row)?.sum_all()? + bias.sum_all()?)?)
}

fn no_head() -> LensError {
    LensError::Analysis(
        "this checkpoint has no masked-LM head (it was saved as a bare encoder), so there is no prediction to attribute"
            .into(),
    )
}

/// The logit and its gradient with respect to the word rows, at `word` scaled by `alpha`.
fn gradient(
    model: &LoadedModel,
    input: (&EncodedInput, &Ablation),
    word: &Tensor,
    alpha: f64,
    at: (usize, u32),
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

/// The three attributions of the prediction at `position` (0-based, [CLS] = 0) for `target`
/// (default: the model's top-1 there), integrated gradients with `steps` steps, reporting
/// progress and stopping when `ctl` is cancelled.
pub fn attribute(
    model: &LoadedModel,
    input: &EncodedInput,
    position: usize,
    target: Option<u32>,
    steps: usize,
    ctl: &Control,
) -> Result<Attribution> {
    attribute_with(
        model,
        (input, &Ablation::default()),
        (position, target),
        steps,
        ctl,
    )
}

/// [`attribute`] of the model with the heads of `ablate` switched off (its prediction and
/// gradients are those of the ablated model).
pub fn attribute_with(
    model: &LoadedModel,
    (input, ablate): (&EncodedInput, &Ablation),
    (position, target): (usize, Option<u32>),
    steps: usize,
    ctl: &Control,
) -> Result<Attribution> {
    let cfg = &model.config;
    let head = model.weights.mlm.as_ref().ok_or_else(no_head)?;
    let n = input.len();
    if n == 0 {
        return Err(LensError::EmptyInput);
    }
    if position >= n {
        return Err(LensError::Analysis(format!(
            "position {position} is past the end of the input ({n} tokens, counted from 0)"
        )));
    }
    if steps == 0 || steps > 10_000 {
        return Err(LensError::Analysis(format!(
            "integrated gradients take 1 to 10000 steps, not {steps}"
        )));
    }
    let target = match target {
        Some(t) if (t as usize) < cfg.vocab_size => t,
        Some(t) => {
            return Err(LensError::Analysis(format!(
                "token id {t} is outside the vocabulary of {}",
                cfg.vocab_size
            )))
        }
        None => {
            // the model's own top-1, from the same head the app's lens uses
            use crate::backend::Backend;
            let opts = crate::model::ForwardOptions {
                capture: crate::model::Capture::Nothing,
                ablate: ablate.clone(),
            };
            let trace = crate::backend::CpuBackend::new().forward_with(
                cfg,
                &model.weights,
                input,
                &opts,
            )?;
            let last = trace.hidden_states.len() - 1;
            let logits = head.logits(cfg, trace.hidden(last, position))?;
            logits
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i as u32)
        }
    };
    let ids = Tensor::from_slice(&input.ids, n, &Device::Cpu)?;
    let word = f64t(&model.weights.embeddings.word.index_select(&ids, 0)?)?;
    let at = (position, target);
    ctl.report(format!("gradients 0/{steps}"), Some(0.0));
    let input = (input, ablate);
    let (logit, g) = gradient(model, input, &word, 1.0, at)?;
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
        let (_, gk) = gradient(model, input, &word, k as f64 / steps as f64, at)?;
        total = (total + gk)?;
        ctl.report(
            format!("integrated gradients {k}/{steps}"),
            Some(k as f32 / steps as f32),
        );
    }
    let integrated_gradients = per_token(&((total / steps as f64)? * &word)?)?;
    Ok(Attribution {
        position,
        target,
        target_token: model.tokenizer.token_or_id(target),
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
