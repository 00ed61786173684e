//! Special functions of the whole workspace (the accountants here, the bounds and LiRA of
//! vg-attacks), accurate in the far tails: erfc and its logarithm, the standard normal CDF Φ,
//! log Φ and the normal quantile, the normal density, ln Γ, log-space addition and
//! subtraction, and (in [`beta`]) the incomplete beta function with the binomial distribution.
//!
//! Tail accuracy is the point: δ of a DP-SGD run is a difference of normal tail
//! probabilities around 1e-10, and the RDP series sum erfc terms far beyond the
//! range where erfc itself underflows.

mod beta;
mod erf_tables;

pub use beta::{
    binomial_ln_pmf, binomial_upper_tail, inverse_regularized_incomplete_beta, ln_choose, regularized_incomplete_beta,
    regularized_incomplete_beta_complement,
};
use erf_tables::*;

/// ln(2π)/2.
const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;

/// Evaluates the polynomial with coefficients `c` (lowest order first) at `z` (Horner).
fn polynomial(z: f64, c: &[f64]) -> f64 {
    c.iter().rev().fold(0.0, |acc, &ci| acc * z + ci)
}

/// erf(z) for 0 ≤ z < 0.5 (Boost's rational approximation, relative error ~1e-16).
fn erf_small(z: f64) -> f64 {
    if z < 1e-10 {
        z * 1.125 + z * 0.003_379_167_095_512_573_896_158_903_121_545_171_688
    } else {
        z * 1.125 + z * polynomial(z, ERF_IMPL_AN) / polynomial(z, ERF_IMPL_AD)
    }
}

/// The scaled complementary error function erfcx(z) = e^{z²}·erfc(z) for z ≥ 0.5.
/// Boost's interval-wise rational approximations up to z = 110, then the asymptotic series.
fn erfcx_large(z: f64) -> f64 {
    // The offsets b are Boost's float literals (`Y = 0.3440242112F`): the fits assume their
    // f32 values, so they must be widened from f32, not parsed as f64.
    let (num, den, shift, b): (&[f64], &[f64], f64, f64) = if z < 0.75 {
        (ERF_IMPL_BN, ERF_IMPL_BD, 0.5, 0.344_024_211_2f32 as f64)
    } else if z < 1.25 {
        (ERF_IMPL_CN, ERF_IMPL_CD, 0.75, 0.419_990_927f32 as f64)
    } else if z < 2.25 {
        (ERF_IMPL_DN, ERF_IMPL_DD, 1.25, 0.489_862_501_6f32 as f64)
    } else if z < 3.5 {
        (ERF_IMPL_EN, ERF_IMPL_ED, 2.25, 0.531_737_089_2f32 as f64)
    } else if z < 5.25 {
        (ERF_IMPL_FN, ERF_IMPL_FD, 3.5, 0.548_997_342_6f32 as f64)
    } else if z < 8.0 {
        (ERF_IMPL_GN, ERF_IMPL_GD, 5.25, 0.557_174_086_6f32 as f64)
    } else if z < 11.5 {
        (ERF_IMPL_HN, ERF_IMPL_HD, 8.0, 0.560_980_796_8f32 as f64)
    } else if z < 17.0 {
        (ERF_IMPL_IN, ERF_IMPL_ID, 11.5, 0.562_649_369_2f32 as f64)
    } else if z < 24.0 {
        (ERF_IMPL_JN, ERF_IMPL_JD, 17.0, 0.563_459_813_6f32 as f64)
    } else if z < 38.0 {
        (ERF_IMPL_KN, ERF_IMPL_KD, 24.0, 0.563_847_780_2f32 as f64)
    } else if z < 60.0 {
        (ERF_IMPL_LN, ERF_IMPL_LD, 38.0, 0.564_052_820_2f32 as f64)
    } else if z < 85.0 {
        (ERF_IMPL_MN, ERF_IMPL_MD, 60.0, 0.564_130_902_3f32 as f64)
    } else if z < 110.0 {
        (ERF_IMPL_NN, ERF_IMPL_ND, 85.0, 0.564_158_439_6f32 as f64)
    } else {
        // Abramowitz & Stegun 7.1.23: erfcx(z) ~ 1/(z√π)·(1 − 1/(2z²) + 3/(4z⁴) − 15/(8z⁶)).
        let w = 1.0 / (2.0 * z * z);
        let series = 1.0 - w + 3.0 * w * w - 15.0 * w * w * w;
        return series / (z * std::f64::consts::PI.sqrt());
    };
    let r = polynomial(z - shift, num) / polynomial(z - shift, den);
    (b + r) / z
}

/// Complementary error function erfc(x) = 1 − erf(x), relative error ~1e-16 wherever it
/// does not underflow (x < 26.5).
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        f64::NAN
    } else if x < -0.5 {
        2.0 - erfc(-x)
    } else if x < 0.0 {
        1.0 + erf_small(-x)
    } else if x < 0.5 {
        1.0 - erf_small(x)
    } else if x < 27.5 {
        (-x * x).exp() * erfcx_large(x)
    } else {
        // Below f64's smallest normal number; exp(log_erfc) would only denormalise.
        log_erfc(x).exp()
    }
}

/// ln erfc(x), finite for every finite x (uses erfcx for x ≥ 0.5, so no underflow).
pub fn log_erfc(x: f64) -> f64 {
    if x.is_nan() {
        f64::NAN
    } else if x == f64::INFINITY {
        f64::NEG_INFINITY
    } else if x < 0.5 {
        erfc(x).ln()
    } else {
        -x * x + erfcx_large(x).ln()
    }
}

/// Standard normal CDF Φ(x) = erfc(−x/√2)/2.
pub fn norm_cdf(x: f64) -> f64 {
    0.5 * erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
}

/// ln Φ(x), accurate in the lower tail (x → −∞) where Φ underflows.
pub fn log_norm_cdf(x: f64) -> f64 {
    if x > 5.0 {
        // Φ(x) = 1 − Φ(−x) with Φ(−x) < 3e-7: ln1p keeps full relative accuracy.
        (-norm_cdf(-x)).ln_1p()
    } else {
        log_erfc(-x * std::f64::consts::FRAC_1_SQRT_2) - std::f64::consts::LN_2
    }
}

/// The x with ln Φ(x) = `log_p` (inverse of [`log_norm_cdf`]) for a lower-tail
/// log-probability `log_p` ≤ ln(1/2), down to the smallest f64 (bisection, relative
/// accuracy ~1e-15). NaN for log_p > ln(1/2) or NaN; −∞ for log_p = −∞.
pub fn inverse_log_norm_cdf(log_p: f64) -> f64 {
    if log_p.is_nan() || log_p > -std::f64::consts::LN_2 {
        return f64::NAN;
    }
    if log_p == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    // Bracket: ln Φ(x) ≈ −x²/2 − ln(−x√(2π)) for x ≪ 0, so x ≥ −√(−2 ln p) − 2.
    let mut lo = -(-2.0 * log_p).sqrt() - 2.0;
    let mut hi = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if log_norm_cdf(mid) < log_p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-15 * hi.abs().max(1.0) {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// The standard normal quantile Φ⁻¹(p) for p ∈ [0, 1] (±∞ at the ends, NaN outside). In the
/// body, Acklam's rational approximation (relative error < 1.2e-9) refined by one Halley step on
/// [`norm_cdf`] to full double precision; in the tails (p < 1e-10 or 1 − p < 1e-10) bisection on
/// log Φ, which keeps its relative accuracy where Φ itself underflows.
pub fn norm_ppf(p: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p < 1e-10 {
        return inverse_log_norm_cdf(p.ln());
    }
    if 1.0 - p < 1e-10 {
        return -inverse_log_norm_cdf((1.0 - p).ln());
    }
    // Acklam (2003), "An algorithm for computing the inverse normal cumulative distribution function".
    const A: [f64; 6] = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.383577518672690e2, -3.066479806614716e1, 2.506628277459239];
    const B: [f64; 5] = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    const P_LOW: f64 = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - P_LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    };
    // One Halley step on Φ(x) − p.
    let e = norm_cdf(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (0.5 * x * x).exp();
    x - u / (1.0 + 0.5 * x * u)
}

/// ln of the normal density N(x; mean, sd²).
pub fn ln_normal_pdf(x: f64, mean: f64, sd: f64) -> f64 {
    let z = (x - mean) / sd;
    -0.5 * z * z - sd.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
}

/// ln P[X = k] for X ~ Binomial(n, p), 0 ≤ p ≤ 1 (−∞ for k > n or p outside [0, 1]).
pub fn ln_binomial_pmf(n: u64, p: f64, k: u64) -> f64 {
    if k > n || !(0.0..=1.0).contains(&p) {
        return f64::NEG_INFINITY;
    }
    binomial_ln_pmf(n, k, p.ln(), (-p).ln_1p())
}

/// The binomial survival function P[X > k] for X ~ Binomial(n, p) = P[X ≥ k + 1], through the
/// incomplete beta ([`binomial_upper_tail`]), accurate in the far upper tail.
pub fn binomial_sf(n: u64, p: f64, k: u64) -> f64 {
    if k >= n || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    binomial_upper_tail(n, k + 1, p)
}

/// ln Γ(x) for x > 0 (NaN otherwise): Stirling's series after shifting x above 15 (absolute error ~1e-15
/// relative to the result's magnitude).
pub fn ln_gamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    if x.is_infinite() {
        return f64::INFINITY;
    }
    let mut shift = 0.0;
    let mut y = x;
    while y < 15.0 {
        shift += y.ln();
        y += 1.0;
    }
    let inv = 1.0 / y;
    let inv2 = inv * inv;
    // Bernoulli terms 1/12, −1/360, 1/1260, −1/1680, 1/1188 (Abramowitz & Stegun 6.1.41).
    let series = inv
        * (1.0 / 12.0
            + inv2 * (-1.0 / 360.0 + inv2 * (1.0 / 1260.0 + inv2 * (-1.0 / 1680.0 + inv2 / 1188.0))));
    (y - 0.5) * y.ln() - y + HALF_LN_2PI + series - shift
}

/// ln(e^a + e^b) without overflow.
pub fn log_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// ln(e^a − e^b) for a ≥ b; `None` when a < b (the difference would be negative).
pub fn log_sub(a: f64, b: f64) -> Option<f64> {
    if b == f64::NEG_INFINITY {
        return Some(a);
    }
    if a < b {
        return None;
    }
    if a == b {
        return Some(f64::NEG_INFINITY);
    }
    Some(a + (-(b - a).exp_m1()).ln())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfc_matches_known_values() {
        // Values from Abramowitz & Stegun table 7.1 / high-precision references.
        let cases = [
            (0.0, 1.0),
            (0.3, 0.671_373_240_540_872_6),
            (1.0, 0.157_299_207_050_285_13),
            (2.0, 0.004_677_734_981_047_266),
            (5.0, 1.537_459_794_428_034_8e-12),
            (10.0, 2.088_487_583_762_544_8e-45),
            (-1.0, 1.842_700_792_949_715),
        ];
        for (x, want) in cases {
            let got = erfc(x);
            assert!(((got - want) / want).abs() < 1e-14, "erfc({x}) = {got}, want {want}");
        }
        // ln erfc(30) = −900 − ln(30√π) + ln(1 − 1/1800 + …)
        let w = 1.0 / 1800.0f64;
        let series = 1.0 - w + 3.0 * w * w - 15.0 * w.powi(3) + 105.0 * w.powi(4) - 945.0 * w.powi(5);
        let want = -900.0 - (30.0 * std::f64::consts::PI.sqrt()).ln() + series.ln();
        assert!((log_erfc(30.0) - want).abs() < 1e-12);
        assert!((log_erfc(200.0) - (-40000.0 - (200.0 * std::f64::consts::PI.sqrt()).ln())).abs() < 1e-4);
    }

    #[test]
    fn normal_cdf_tails_and_inverse() {
        assert!((norm_cdf(-1.959_963_984_540_054) - 0.025).abs() < 1e-15);
        let x = inverse_log_norm_cdf((0.5 * (-50.0f64).exp()).ln());
        assert!((log_norm_cdf(x) - (0.5f64.ln() - 50.0)).abs() < 1e-12);
        assert!((log_norm_cdf(8.0) - (-6.220_960_574_271_784e-16)).abs() < 1e-28);
        assert!((norm_ppf(0.975) - 1.959_963_984_540_054).abs() < 1e-13);
        assert!((norm_ppf(1e-300) - (-37.047_096_299_361_21)).abs() < 1e-9);
        assert!(norm_ppf(1.5).is_nan() && norm_ppf(0.0) == f64::NEG_INFINITY);
        // The fast body agrees with the bisection of log Φ to ~1e-15 on a grid.
        for i in 1..1000 {
            let p = i as f64 / 1000.0;
            let bisected = if p <= 0.5 { inverse_log_norm_cdf(p.ln()) } else { -inverse_log_norm_cdf((1.0 - p).ln()) };
            assert!((norm_ppf(p) - bisected).abs() < 1e-13 * bisected.abs().max(1.0), "p = {p}: {} vs {bisected}", norm_ppf(p));
        }
        assert!((norm_ppf(1e-8) - (-5.612_001_244_174_789)).abs() < 1e-12);
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        assert!((ln_gamma(1.0)).abs() < 1e-14);
        assert!((ln_gamma(11.0) - 3_628_800f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-14);
    }
}
