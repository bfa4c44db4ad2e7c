// Shared helpers, prepended to every kernel family by the Rust side (src/backend/gpu/kernels.rs).
// Activation codes (keep in sync with `act_code` in kernels.rs):
//   0 linear, 1 gelu (erf), 2 gelu (tanh), 3 quick_gelu, 4 relu, 5 relu6, 6 silu, 7 mish,
//   8 tanh, 9 sigmoid

// tanh from one exp: accurate, and never NaN for large |u| (some drivers' tanh is).
fn safe_tanh(u: f32) -> f32 {
    let e = exp(-2.0 * abs(u));
    let t = (1.0 - e) / (1.0 + e);
    return select(t, -t, u < 0.0);
}

fn sigmoid(v: f32) -> f32 {
    return 1.0 / (1.0 + exp(-v));
}

// erf with fractional error below 1.2e-7 (Chebyshev fit of erfc, Numerical Recipes 6.2).
fn erf_f32(x: f32) -> f32 {
    let z = abs(x);
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
        + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
        + t * (-0.82215223 + t * 0.17087277))))))));
    let r = 1.0 - t * exp(poly);
    return select(r, -r, x < 0.0);
}

fn activate(x: f32, act: u32) -> f32 {
    switch act {
        case 1u: { return 0.5 * x * (1.0 + erf_f32(x * 0.70710678118654752)); }
        case 2u: { return 0.5 * x * (1.0 + safe_tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }
        case 3u: { return x * sigmoid(1.702 * x); }
        case 4u: { return max(x, 0.0); }
        case 5u: { return clamp(x, 0.0, 6.0); }
        case 6u: { return x * sigmoid(x); }
        case 7u: {
            let sp = max(x, 0.0) + log(1.0 + exp(-abs(x)));
            return x * safe_tanh(sp);
        }
        case 8u: { return safe_tanh(x); }
        case 9u: { return sigmoid(x); }
        default: { return x; }
    }
}
