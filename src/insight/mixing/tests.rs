//! Hand-made cases whose answers are known without any reference.

use super::*;
use crate::backend::{Backend, CpuBackend};
use crate::model::EncodedInput;
use candle_core::{Device, Tensor};

/// A one-layer, one-head BERT whose value and output weights are the identity with zero
/// biases (so f(x_k) = x_k), its trace on 6 tokens, and the trace's attention replaced by a
/// hand-made row-stochastic matrix in which no token attends to token 2.
fn identity_model() -> Result<(ModelConfig, ModelWeights, Trace, Vec<f32>)> {
    let cfg = ModelConfig::from_json_bytes(
        br#"{"model_type":"bert","vocab_size":50,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":1,"intermediate_size":16,"hidden_act":"gelu","max_position_embeddings":16}"#,
        std::path::Path::new("hand"),
    )?;
    let mut weights = ModelWeights::random(&cfg, 11)?;
    let h = 8;
    let dev = Device::Cpu;
    let eye = Tensor::eye(h, candle_core::DType::F32, &dev)?;
    let zeros = Tensor::zeros(h, candle_core::DType::F32, &dev)?;
    let layer = &mut weights.groups[0][0];
    layer.qkv.w = Tensor::cat(&[&layer.qkv.w.narrow(1, 0, 2 * h)?, &eye], 1)?;
    layer.qkv.b = Tensor::cat(&[&layer.qkv.b.narrow(0, 0, 2 * h)?, &zeros], 0)?;
    layer.attn_out.w = eye.clone();
    layer.attn_out.b = zeros;
    let n = 6;
    let mut trace = CpuBackend::new().forward(&cfg, &weights, &EncodedInput::synthetic(n, 50))?;
    let mut a = vec![0f32; n * n];
    for i in 0..n {
        for k in 0..n {
            if k != 2 {
                a[i * n + k] = (1 + (i * 7 + k * 3) % 5) as f32;
            }
        }
    }
    normalise_rows(&mut a, n);
    trace.attentions[0] = a.clone();
    Ok((cfg, weights, trace, a))
}

#[test]
fn norm_is_attention_times_the_input_length_with_identity_value_and_output() -> Result<()> {
    let (cfg, weights, trace, a) = identity_model()?;
    let n = trace.num_tokens();
    let c = compute(&cfg, &weights, &trace, &[Method::Norm], None)?;
    let norm = c
        .get(Method::Norm, Stage::Layer(0))
        .ok_or(LensError::EmptyInput)?;
    for i in 0..n {
        for k in 0..n {
            let x: f32 = trace.hidden(0, k).iter().map(|v| v * v).sum::<f32>().sqrt();
            let want = a[i * n + k] * x;
            let got = norm[i * n + k];
            assert!(
                (got - want).abs() <= 1e-5 * want.max(1.0),
                "({i}, {k}): {got} vs {want}"
            );
        }
    }
    assert!(
        c.get(Method::Norm, Stage::Aggregate).is_none(),
        "norm has no aggregate"
    );
    Ok(())
}

#[test]
fn value_zeroing_of_a_token_no_one_attends_to_is_exactly_zero() -> Result<()> {
    let (cfg, weights, trace, _) = identity_model()?;
    let n = trace.num_tokens();
    let c = compute(&cfg, &weights, &trace, &[Method::ValueZeroing], None)?;
    let vz = c
        .get(Method::ValueZeroing, Stage::Layer(0))
        .ok_or(LensError::EmptyInput)?;
    for i in 0..n {
        assert_eq!(vz[i * n + 2], 0.0, "row {i}");
        let s: f32 = vz[i * n..(i + 1) * n].iter().sum();
        assert!((s - 1.0).abs() < 1e-5, "row {i} sums to {s}");
        assert!(vz[i * n..(i + 1) * n].iter().filter(|&&v| v > 0.0).count() >= 2);
    }
    Ok(())
}

#[test]
fn flow_through_one_layer_is_its_residual_augmented_attention() -> Result<()> {
    let (cfg, weights, trace, a) = identity_model()?;
    let n = trace.num_tokens();
    let c = compute(
        &cfg,
        &weights,
        &trace,
        &[Method::Flow, Method::Attention],
        None,
    )?;
    let flow = c
        .get(Method::Flow, Stage::Aggregate)
        .ok_or(LensError::EmptyInput)?;
    // one layer: the only path from (1, i) to (0, k) is the edge of capacity Â[i, k]
    let hat = crate::analysis::with_residual(&a, n);
    for (f, h) in flow.iter().zip(&hat) {
        assert!((f - h).abs() < 1e-6, "{f} vs {h}");
    }
    let rollout = c
        .get(Method::Attention, Stage::Aggregate)
        .ok_or(LensError::EmptyInput)?;
    assert_eq!(rollout, hat.as_slice());
    Ok(())
}

#[test]
fn flow_over_the_limit_is_skipped_with_the_contract_warning() -> Result<()> {
    let cfg = ModelConfig::from_json_bytes(
        br#"{"model_type":"bert","vocab_size":50,"hidden_size":8,"num_hidden_layers":2,"num_attention_heads":2,"intermediate_size":16,"hidden_act":"gelu","max_position_embeddings":80}"#,
        std::path::Path::new("hand"),
    )?;
    let weights = ModelWeights::random(&cfg, 5)?;
    let trace = CpuBackend::new().forward(&cfg, &weights, &EncodedInput::synthetic(65, 50))?;
    let c = compute(&cfg, &weights, &trace, &Method::ALL, None)?;
    assert!(c.get(Method::Flow, Stage::Aggregate).is_none());
    assert_eq!(
        c.warnings,
        vec!["contributions.flow skipped: N = 65 tokens > 64 (attention flow solves N² max-flow problems)".to_string()]
    );
    assert_eq!(c.tensors().len(), 5 * 2 + 4);
    Ok(())
}

#[test]
fn a_cancelled_control_stops_value_zeroing_and_flow() -> Result<()> {
    let (cfg, weights, trace, _) = identity_model()?;
    let control = Control::default();
    control
        .cancel
        .store(true, std::sync::atomic::Ordering::Relaxed);
    for m in [Method::ValueZeroing, Method::Flow] {
        let r = compute(&cfg, &weights, &trace, &[m], Some(&control));
        assert!(matches!(r, Err(LensError::Cancelled(_))), "{m:?}: {r:?}");
    }
    Ok(())
}

#[test]
fn method_names_round_trip() {
    for m in Method::ALL {
        assert_eq!(Method::from_name(m.cli_name()), Some(m));
        assert_eq!(Method::from_name(m.key()), Some(m));
    }
    assert_eq!(Method::from_name("rollout"), None);
}

#[test]
fn progress_ends_complete_for_value_zeroing_and_flow() -> Result<()> {
    let (cfg, weights, trace, _) = identity_model()?;
    for m in [Method::ValueZeroing, Method::Flow] {
        let control = Control::default();
        compute(&cfg, &weights, &trace, &[m], Some(&control))?;
        let (note, fraction) = control.progress();
        assert_eq!(fraction, Some(1.0), "{m:?}: {note}");
        assert!(note.starts_with("context mixing"), "{note}");
    }
    Ok(())
}
