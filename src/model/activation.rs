//! The feed-forward activations in f32, as HF transformers defines each `hidden_act`: used by
//! the CPU forward pass and the masked-LM head.

use super::config::Activation;

impl Activation {
    /// One activation value in f32, as HF defines each `hidden_act`.
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        const SQRT_2_OVER_PI: f32 = 0.797_884_6;
        let sigmoid = |v: f32| 1.0 / (1.0 + (-v).exp());
        match self {
            Activation::Gelu => 0.5 * x * (1.0 + libm_erf(x * std::f32::consts::FRAC_1_SQRT_2)),
            Activation::GeluTanh => {
                0.5 * x * (1.0 + fast_tanh(SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x)))
            }
            Activation::QuickGelu => x * sigmoid(1.702 * x),
            Activation::Relu => x.max(0.0),
            Activation::Relu6 => x.clamp(0.0, 6.0),
            Activation::Silu => x * sigmoid(x),
            Activation::Mish => {
                let sp = x.max(0.0) + (-x.abs()).exp().ln_1p();
                x * fast_tanh(sp)
            }
            Activation::Tanh => fast_tanh(x),
            Activation::Sigmoid => sigmoid(x),
            Activation::Linear => x,
        }
    }
}

/// tanh from one `exp`, accurate to a few ulp (absolute error below 1e-7).
#[inline]
fn fast_tanh(u: f32) -> f32 {
    let e = (-2.0 * u.abs()).exp();
    ((1.0 - e) / (1.0 + e)).copysign(u)
}

/// erf with fractional error below 1.2e-7 everywhere (the Chebyshev fit of erfc in Numerical
/// Recipes, section 6.2), evaluated in f64 for the exponent.
#[inline]
fn libm_erf(x: f32) -> f32 {
    let z = f64::from(x.abs());
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    let r = (1.0 - erfc) as f32;
    if x < 0.0 {
        -r
    } else {
        r
    }
}
