//! The feed-forward activations, as HF transformers defines each `hidden_act`, in one place:
//! in f32 for the CPU forward pass and the heads, in f64 as the reference kernels and tests
//! compare with, and on candle tensors for the differentiable forward of attribution and head
//! importance. (`shaders/common.wgsl` holds the GPU's mirror; the GPU tests hold it to these.)

/// The feed-forward activation (`hidden_act`), with HF transformers' definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// exact GELU with erf ("gelu")
    Gelu,
    /// tanh approximation ("gelu_new", "gelu_fast", "gelu_pytorch_tanh", "gelu_accurate")
    GeluTanh,
    /// x * sigmoid(1.702 x) ("quick_gelu")
    QuickGelu,
    Relu,
    Relu6,
    /// x * sigmoid(x) ("silu", "swish")
    Silu,
    /// x * tanh(softplus(x))
    Mish,
    Tanh,
    Sigmoid,
    /// identity ("linear")
    Linear,
}

impl Activation {
    /// Every activation, for tests and kernels that must cover them all.
    pub const ALL: [Activation; 10] = [
        Activation::Gelu,
        Activation::GeluTanh,
        Activation::QuickGelu,
        Activation::Relu,
        Activation::Relu6,
        Activation::Silu,
        Activation::Mish,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Linear,
    ];

    pub fn from_hf_name(name: &str) -> Option<Self> {
        Some(match name {
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_fast" | "gelu_pytorch_tanh" | "gelu_accurate" => {
                Activation::GeluTanh
            }
            "quick_gelu" => Activation::QuickGelu,
            "relu" => Activation::Relu,
            "relu6" => Activation::Relu6,
            "silu" | "swish" => Activation::Silu,
            "mish" => Activation::Mish,
            "tanh" => Activation::Tanh,
            "sigmoid" => Activation::Sigmoid,
            "linear" => Activation::Linear,
            _ => return None,
        })
    }

    /// The activation's name as people write it ("GELU", "ReLU", ...).
    pub fn name(self) -> &'static str {
        match self {
            Activation::Gelu => "GELU",
            Activation::GeluTanh => "GELU (tanh approximation)",
            Activation::QuickGelu => "quick GELU",
            Activation::Relu => "ReLU",
            Activation::Relu6 => "ReLU6",
            Activation::Silu => "SiLU",
            Activation::Mish => "Mish",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Linear => "identity",
        }
    }
}

/// erf with about 1e-15 relative error (W. J. Cody's rational approximations via libm-like series).
pub fn erf(x: f64) -> f64 {
    // Abramowitz-Stegun is too coarse for a reference; use the complementary error function
    // continued fraction / series split.
    if x.is_nan() {
        return x;
    }
    let ax = x.abs();
    let r = if ax < 2.0 {
        // Maclaurin series: erf(x) = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1))
        let mut sum = 0.0;
        let mut term = ax;
        let x2 = ax * ax;
        let mut n = 0.0;
        loop {
            let add = term / (2.0 * n + 1.0);
            sum += add;
            if add.abs() < 1e-17 * sum.abs() {
                break;
            }
            n += 1.0;
            term *= -x2 / n;
            if n > 200.0 {
                break;
            }
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else if ax > 6.0 {
        1.0
    } else {
        // Continued fraction for erfc (Lentz), converges well for x >= 2.
        let x2 = ax * ax;
        let mut f = ax;
        let mut c = ax;
        let mut d = 0.0;
        let tiny = 1e-300;
        for k in 1..300 {
            let a = k as f64 / 2.0;
            d = ax + a * d;
            if d.abs() < tiny {
                d = tiny;
            }
            c = ax + a / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = c * d;
            f *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        1.0 - (-x2).exp() / (f * std::f64::consts::PI.sqrt())
    };
    if x < 0.0 {
        -r
    } else {
        r
    }
}

impl Activation {
    /// The activation applied to one value, in f64 (the reference for kernels and tests).
    pub fn apply_f64(self, x: f64) -> f64 {
        let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
        match self {
            Activation::Gelu => 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2)),
            Activation::GeluTanh => {
                let c = (2.0 / std::f64::consts::PI).sqrt();
                0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
            }
            Activation::QuickGelu => x * sigmoid(1.702 * x),
            Activation::Relu => x.max(0.0),
            Activation::Relu6 => x.clamp(0.0, 6.0),
            Activation::Silu => x * sigmoid(x),
            Activation::Mish => x * (x.exp().ln_1p()).tanh(),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => sigmoid(x),
            Activation::Linear => x,
        }
    }

    /// The activation of a tensor, from operations candle differentiates.
    pub fn apply_tensor(self, x: &candle_core::Tensor) -> candle_core::Result<candle_core::Tensor> {
        let sigmoid = |v: &candle_core::Tensor| -> candle_core::Result<candle_core::Tensor> {
            (v.neg()?.exp()? + 1.0)?.recip()
        };
        match self {
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

    /// One activation value in f32, as HF defines each `hidden_act`.
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        const SQRT_2_OVER_PI: f32 = 0.797_884_6;
        let sigmoid = |v: f32| 1.0 / (1.0 + exp(-v));
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
                let sp = x.max(0.0) + exp(-x.abs()).ln_1p();
                x * fast_tanh(sp)
            }
            Activation::Tanh => fast_tanh(x),
            Activation::Sigmoid => sigmoid(x),
            Activation::Linear => x,
        }
    }
}

/// tanh from one `exp`, accurate to a few ulp (absolute error below 1e-7).
#[inline(always)]
fn fast_tanh(u: f32) -> f32 {
    let e = exp(-2.0 * u.abs());
    ((1.0 - e) / (1.0 + e)).copysign(u)
}

/// e^x in f32 within 2 ulp, with no branch or library call, so that loops over activations and
/// softmax rows vectorize (libm's `expf` is a scalar call, and was most of BERT's exact-GELU
/// time): x = n ln 2 + r with |r| ≤ ln 2 / 2 (ln 2 split in two for the reduction), e^r by
/// Cephes' degree-7 polynomial, 2^n put into the exponent bits. Below −87.3 it gives 0, above
/// 88.7 +inf; NaN stays NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const P: [f32; 6] = [
        1.987_569_1e-4,
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        5e-1,
    ];
    let xc = x.clamp(-87.3, 88.7);
    // round to nearest by adding and taking away 1.5 * 2^23 (f32::round is a library call
    // without SSE4.1, which would keep the loop from vectorizing)
    const ROUND: f32 = 12_582_912.0;
    let shifted = xc * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    // n as an integer from the same bits (|n| < 2^22 sits in the low mantissa bits): a float to
    // int `as` cast is saturating in Rust, which compiled to one scalar conversion per lane and
    // made this function 5 cycles an element
    let ni = shifted.to_bits() as i32 - ROUND.to_bits() as i32;
    let r = xc - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let mut y = P[0];
    for c in &P[1..] {
        y = y * r + c;
    }
    let y = y * r * r + r + 1.0;
    let scaled = f32::from_bits(((ni + 127).clamp(1, 254) as u32) << 23) * y;
    let out = if x < -87.3 {
        0.0
    } else if x > 88.7 {
        f32::INFINITY
    } else {
        scaled
    };
    if x.is_nan() {
        x
    } else {
        out
    }
}

/// erf from the Chebyshev fit of erfc in Numerical Recipes (section 6.2, fractional error
/// below 1.2e-7), evaluated in f32 with [`exp`] (below 5e-7 absolute in erf: the GELU test
/// holds it to 1e-6 of the f64 reference). In f32 the division and the polynomial run 16 to a
/// vector with AVX-512; in f64 (as before) they were half as wide and the division several times
/// slower, and BERT's exact GELU was 5% of a forward pass at N = 512.
#[inline(always)]
fn libm_erf(x: f32) -> f32 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_2
        + t * (1.000_023_7
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_204
                                + t * (1.488_515_9 + t * (-0.822_152_2 + t * 0.170_872_77))))))));
    let r = 1.0 - exp(poly) * t;
    if x < 0.0 {
        -r
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_branch_free_exp_is_within_2_ulp_of_f64() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = f64::from(x).exp();
            let got = f64::from(super::exp(x));
            worst = worst.max((got - want).abs() / want);
            x += 0.000_731;
        }
        assert!(worst < 2.5e-7, "worst relative error {worst:e}");
        assert_eq!(super::exp(-100.0), 0.0);
        assert_eq!(super::exp(100.0), f32::INFINITY);
        assert!(super::exp(f32::NAN).is_nan());
    }

    #[test]
    fn the_tensor_activations_equal_the_f64_reference() {
        use crate::model::Activation;
        let xs: Vec<f64> = (-40..=40).map(|i| i as f64 * 0.2).collect();
        let t = candle_core::Tensor::from_slice(&xs, xs.len(), &candle_core::Device::Cpu)
            .expect("a tensor");
        for act in Activation::ALL {
            let got = act
                .apply_tensor(&t)
                .and_then(|y| y.to_vec1::<f64>())
                .expect("the activation");
            for (x, g) in xs.iter().zip(got) {
                let want = act.apply_f64(*x);
                assert!(
                    (g - want).abs() <= 1e-6 * want.abs().max(1.0),
                    "{act:?}({x}) = {g}, want {want}"
                );
            }
        }
    }
}
