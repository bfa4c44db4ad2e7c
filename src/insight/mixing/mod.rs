//! Context mixing: how much of each input token reaches each output token, by six measures
//! beside raw attention, defined exactly as ../shared/notes/contributions.md (the project's
//! contract) and the methods' published code define them. Row `i` is the output token, column
//! `k` the input token; every matrix is `[N, N]` row-major.
//!
//! | method | per layer application j | aggregate |
//! |---|---|---|
//! | `attention` | Ā (head mean) | rollout: P((Ā + I) / rowsum) |
//! | `norm` (Kobayashi et al. 2020) | ‖Σ_h A^h_ik f^h(x_k)‖ | none |
//! | `globenc` (Modarressi et al. 2022) | ‖LN2ₗ(LN1ₗ(z_ik + δ_ik x_i))‖, raw | P(G) |
//! | `alti` (Ferrando et al. 2022) | max(0, ‖ŷ‖₁ − ‖T_ik − ŷ_i‖₁) / row sum | P(C) |
//! | `value_zeroing` (Mohebbi et al. 2023) | cosine distance of y with v_k zeroed / row sum | P(V) |
//! | `flow` (Abnar & Zuidema 2020) | — | max flow through (Ā + I)/rowsum, last layer |
//!
//! P(M_0, …, M_{L−1}) = M_{L−1} ⋯ M_0 with no identity added and no renormalisation. The
//! decompositions stream one output row at a time ([`decompose`]); value zeroing runs the N
//! zeroed variants of a layer as batches through the CPU backend's layer tail ([`zeroing`]);
//! flow solves N² max-flow problems ([`flow`]) and is skipped above [`FLOW_MAX_TOKENS`].

mod decompose;
mod flow;
mod zeroing;

use super::Control;
use crate::error::{LensError, Result};
use crate::model::{ModelConfig, ModelWeights, Trace};

/// Above this many tokens `flow` is not computed (N² max-flow problems).
pub const FLOW_MAX_TOKENS: usize = 64;

/// One context-mixing measure.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Method {
    Attention,
    Norm,
    GlobEnc,
    Alti,
    ValueZeroing,
    Flow,
}

impl Method {
    pub const ALL: [Method; 6] = [
        Method::Attention,
        Method::Norm,
        Method::GlobEnc,
        Method::Alti,
        Method::ValueZeroing,
        Method::Flow,
    ];

    /// The name in tensor names (`contributions.{key}.{j}`).
    pub fn key(self) -> &'static str {
        match self {
            Method::Attention => "attention",
            Method::Norm => "norm",
            Method::GlobEnc => "globenc",
            Method::Alti => "alti",
            Method::ValueZeroing => "value_zeroing",
            Method::Flow => "flow",
        }
    }

    /// The name on the command line (`--method value-zeroing`).
    pub fn cli_name(self) -> &'static str {
        match self {
            Method::ValueZeroing => "value-zeroing",
            m => m.key(),
        }
    }

    pub fn from_name(s: &str) -> Option<Method> {
        let s = s.trim().to_ascii_lowercase().replace('_', "-");
        Method::ALL.into_iter().find(|m| m.cli_name() == s)
    }

    /// The name on a figure.
    pub fn label(self) -> &'static str {
        match self {
            Method::Attention => "Attention",
            Method::Norm => "Norm",
            Method::GlobEnc => "GlobEnc",
            Method::Alti => "ALTI",
            Method::ValueZeroing => "Value zeroing",
            Method::Flow => "Attention flow",
        }
    }

    /// What it measures, in plain words, and where it comes from.
    pub fn caption(self) -> &'static str {
        match self {
            Method::Attention => "The attention weights, averaged over heads: where each token looks, not what it takes. Aggregate: attention rollout, the residual added as ½I (Abnar & Zuidema, ACL 2020).",
            Method::Norm => "The size of what each token sends: attention times the length of the transformed value vector ‖α f(x)‖, so a token attended to but carrying a short vector contributes little (Kobayashi et al., EMNLP 2020).",
            Method::GlobEnc => "Norm, with the residual and both LayerNorms of the layer applied to each token's share; raw norms, multiplied across layers (Modarressi et al., NAACL 2022).",
            Method::Alti => "How close each token's share of the attention block's output is to the whole output (Manhattan distance), as a proportion; multiplied across layers (Ferrando et al., EMNLP 2022).",
            Method::ValueZeroing => "How much each output changes (cosine distance) when one token's value vector is zeroed in this layer, as a proportion; multiplied across layers (Mohebbi et al., EACL 2023).",
            Method::Flow => "The most attention that can flow from an output token to an input token through the graph of all layers (the residual added as ½I), as a proportion (Abnar & Zuidema, ACL 2020). Last layer only; up to 64 tokens.",
        }
    }

    /// Whether it has an aggregate over all layers (all but norm).
    pub fn aggregates(self) -> bool {
        self != Method::Norm
    }
}

/// Which matrix of a method: one layer application's or the aggregate over all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Stage {
    Layer(usize),
    Aggregate,
}

impl Stage {
    pub fn name(self) -> String {
        match self {
            Stage::Layer(j) => format!("layer {}", j + 1),
            Stage::Aggregate => "all layers".into(),
        }
    }
}

/// One method's matrices: per layer application (empty for flow), and the aggregate (none
/// for norm, or for flow over [`FLOW_MAX_TOKENS`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MethodMaps {
    pub layers: Vec<Vec<f32>>,
    pub aggregate: Option<Vec<f32>>,
}

/// The context-mixing matrices of one trace, for the methods asked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contributions {
    pub n: usize,
    pub maps: std::collections::BTreeMap<Method, MethodMaps>,
    /// notices (flow skipped over the token limit, methods refused for this model)
    pub warnings: Vec<String>,
    /// the methods asked but not computed for this model, each with the sentence saying why
    pub refused: std::collections::BTreeMap<Method, String>,
}

/// Why `method` is not computed for a model of `cfg` (None: it is). The contract defines the
/// decompositions on post-LN layers; for ModernBERT's pre-norm layers the attention maps (and
/// so rollout and flow) mean what they mean everywhere, Norm's ‖Σ_h α f_h(x̃_k)‖ carries over
/// with the value projection's own input x̃ (the layer's norm of x), value zeroing reruns the
/// pre-norm layer's own tail (a + GeGLU(norm₂(a)), the final norm after the last), and only
/// GlobEnc's and ALTI's LayerNorm after the attention does not exist.
pub fn refusal(cfg: &ModelConfig, method: Method) -> Option<String> {
    let title = cfg.model_type.family().title;
    cfg.modern.as_ref()?;
    match method {
        Method::Attention | Method::Flow | Method::Norm | Method::ValueZeroing => None,
        Method::GlobEnc | Method::Alti => Some(format!(
            "{} is not computed for {title}: it decomposes the LayerNorm that follows a post-LN layer's attention, and {title}'s pre-norm layers have no norm there, so its definition does not carry over",
            method.label()
        )),
    }
}

impl Contributions {
    /// One matrix `[N, N]`, if it was computed.
    pub fn get(&self, method: Method, stage: Stage) -> Option<&[f32]> {
        let m = self.maps.get(&method)?;
        match stage {
            Stage::Layer(j) => m.layers.get(j).map(Vec::as_slice),
            Stage::Aggregate => m.aggregate.as_deref(),
        }
    }

    /// Every matrix under its trace-file name (`contributions.{method}.{j}`,
    /// `contributions.{method}.rollout`, `contributions.flow`), in the contract's order.
    pub fn tensors(&self) -> Vec<(String, &[f32])> {
        let mut out = Vec::new();
        for (m, maps) in &self.maps {
            for (j, v) in maps.layers.iter().enumerate() {
                out.push((format!("contributions.{}.{j}", m.key()), v.as_slice()));
            }
            if let Some(a) = &maps.aggregate {
                let name = match m {
                    Method::Flow => "contributions.flow".to_string(),
                    _ => format!("contributions.{}.rollout", m.key()),
                };
                out.push((name, a.as_slice()));
            }
        }
        out
    }
}

/// The warning line when flow is skipped (the contract's words, with the real N).
pub fn flow_skipped(n: usize) -> String {
    format!(
        "contributions.flow skipped: N = {n} tokens > {FLOW_MAX_TOKENS} (attention flow solves N² max-flow problems)"
    )
}

/// Computes `methods` for `trace` (made by `weights` with `cfg`, on any backend: the
/// decompositions read its hidden states and attention and recompute the rest from the
/// weights on the CPU). `control` reports progress and can cancel.
pub fn compute(
    cfg: &ModelConfig,
    weights: &ModelWeights,
    trace: &Trace,
    methods: &[Method],
    control: Option<&Control>,
) -> Result<Contributions> {
    let n = trace.num_tokens();
    let maps_count = trace.attentions.len();
    if maps_count != cfg.num_attention_maps()
        || trace.hidden_states.len() != maps_count + 1
        || trace.hidden_size != cfg.hidden_size
    {
        return Err(LensError::Compute(
            "context mixing needs the trace of this model's own forward pass".into(),
        ));
    }
    let mut out = Contributions {
        n,
        ..Contributions::default()
    };
    let cancelled = || control.is_some_and(Control::cancelled);
    let stop = || LensError::Cancelled("context mixing".into());
    for &m in methods {
        if let Some(why) = refusal(cfg, m) {
            out.warnings.push(why.clone());
            out.refused.insert(m, why);
        }
    }
    let want = |m: Method| methods.contains(&m) && !out.refused.contains_key(&m);
    // the head means (attention) and with the residual folded in (its rollout's factors and
    // flow's capacities), made once for both
    let mean: Vec<Vec<f32>> = if want(Method::Attention) || want(Method::Flow) {
        use rayon::prelude::*;
        trace
            .attentions
            .par_iter()
            .map(|a| crate::analysis::mean_heads(a, trace.num_heads, n))
            .collect()
    } else {
        Vec::new()
    };
    let hat: Vec<Vec<f32>> = mean
        .iter()
        .map(|a| crate::analysis::with_residual(a, n))
        .collect();
    if want(Method::Attention) {
        out.maps.insert(
            Method::Attention,
            MethodMaps {
                aggregate: Some(product(&hat, n)?),
                layers: mean,
            },
        );
    }
    let cheap = [Method::Norm, Method::GlobEnc, Method::Alti];
    let total_steps = maps_count * (1 + usize::from(want(Method::ValueZeroing)) * n.max(1));
    let mut steps = 0;
    if cheap.iter().any(|&m| want(m)) || want(Method::ValueZeroing) {
        let mut per: [Vec<Vec<f32>>; 4] = Default::default();
        for j in 0..maps_count {
            if cancelled() {
                return Err(stop());
            }
            if let Some(c) = control {
                c.report(
                    format!("context mixing: layer {} of {maps_count}", j + 1),
                    Some(steps as f32 / total_steps.max(1) as f32),
                );
            }
            let tail = want(Method::GlobEnc) || want(Method::ValueZeroing);
            let deep = tail || want(Method::Alti);
            let layer = decompose::LayerInputs::of(cfg, weights, trace, (j, deep, tail))?;
            if cheap.iter().any(|&m| want(m)) {
                let [norm, globenc, alti] = layer.decompose(cheap.map(want))?;
                per[0].push(norm);
                per[1].push(globenc);
                per[2].push(alti);
            }
            steps += 1;
            if want(Method::ValueZeroing) {
                let progress = |done: usize| {
                    if let Some(c) = control {
                        c.advance(steps + done, total_steps);
                    }
                };
                per[3].push(zeroing::value_zeroing(&layer, &progress, &cancelled)?);
                steps += n;
            }
        }
        let [norm, globenc, alti, vz] = per;
        for (m, layers) in [
            (Method::Norm, norm),
            (Method::GlobEnc, globenc),
            (Method::Alti, alti),
            (Method::ValueZeroing, vz),
        ] {
            if want(m) {
                let aggregate = if m.aggregates() {
                    Some(product(&layers, n)?)
                } else {
                    None
                };
                out.maps.insert(m, MethodMaps { layers, aggregate });
            }
        }
    }
    if want(Method::Flow) {
        if n > FLOW_MAX_TOKENS {
            out.warnings.push(flow_skipped(n));
        } else {
            if let Some(c) = control {
                c.report("context mixing: attention flow".into(), Some(0.0));
            }
            let progress = |rows: usize| {
                if let Some(c) = control {
                    c.advance(rows, n);
                }
            };
            let flow = flow::attention_flow(&hat, n, &cancelled, &progress).ok_or_else(stop)?;
            out.maps.insert(
                Method::Flow,
                MethodMaps {
                    layers: Vec::new(),
                    aggregate: Some(flow),
                },
            );
        }
    }
    Ok(out)
}

/// P(M_0, …, M_{L−1}) = M_{L−1} ⋯ M_1 M_0 (ordinary products, row = output side), on the
/// forward pass's product kernel.
pub fn product(mats: &[Vec<f32>], n: usize) -> Result<Vec<f32>> {
    let mut acc: Option<Vec<f32>> = None;
    for m in mats {
        if m.len() != n * n {
            return Err(LensError::Compute("a mixing matrix is not [N, N]".into()));
        }
        acc = Some(match acc {
            Some(r) => crate::backend::cpu::square_product(m, &r, n),
            None => m.clone(),
        });
    }
    Ok(acc.unwrap_or_default())
}

/// Each row divided by its sum (a row summing to 0 is left as it is).
pub(crate) fn normalise_rows(m: &mut [f32], n: usize) {
    for row in m.chunks_exact_mut(n.max(1)) {
        let s: f64 = row.iter().map(|&v| f64::from(v)).sum();
        if s > 0.0 {
            row.iter_mut().for_each(|v| *v = (f64::from(*v) / s) as f32);
        }
    }
}

#[cfg(test)]
mod tests;
