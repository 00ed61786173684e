//! Privacy loss of one step of the (Poisson-subsampled) Gaussian mechanism and its
//! connect-the-dots discretisation (Doroshenko, Ghazi, Kamath, Kumar, Manurangsi 2022,
//! "Connect the Dots: Tighter Discrete Approximations of Privacy Loss Distributions",
//! arXiv:2207.04380, Algorithm 1 with a fixed gap), following the facts of
//! `dp_accounting`'s `privacy_loss_mechanism.py`.
//!
//! Units: sensitivity 1 (the clipping norm), noise standard deviation σ. With sampling
//! rate q the worst-case pairs are (outputs over x ∈ ℝ, density φ_σ):
//! - remove: upper P = (1−q)φ(x) + qφ(x+1), lower Q = φ(x);
//! - add:    upper P = φ(x), lower Q = (1−q)φ(x) + qφ(x−1);
//! - replace-one: upper P = (1−q)φ(x) + qφ(x+1), lower Q = (1−q)φ(x) + qφ(x−1)
//!   (at q = 1 a Gaussian of sensitivity 2).
//!
//! In each case the privacy loss L(x) = ln P(x)/Q(x) is non-increasing in x.

use super::pmf::DensePmf;
use crate::special::{inverse_log_norm_cdf, log_add, log_norm_cdf, norm_cdf};
use crate::{Error, Result};

/// Which pair of distributions (see module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Upper distribution contains the extra record.
    Remove,
    /// Lower distribution contains the extra record.
    Add,
    /// One record swapped for another (symmetric).
    Replace,
}

/// ln of the upper-distribution mass that may be cut from each noise tail before the
/// rest is rounded pessimistically (dp_accounting's `log_mass_truncation_bound`, −50).
const LOG_MASS_TRUNCATION_BOUND: f64 = -50.0;

/// Largest number of grid points of a single-step PLD (memory guard: 8 bytes each).
pub const MAX_SINGLE_STEP_POINTS: usize = 40_000_000;

/// The privacy loss of one step of the subsampled Gaussian in one direction.
#[derive(Debug, Clone, Copy)]
pub struct SubsampledGaussianLoss {
    sigma: f64,
    q: f64,
    direction: Direction,
}

impl SubsampledGaussianLoss {
    /// Noise multiplier `sigma` > 0, sampling rate `q` ∈ (0, 1].
    pub fn new(sigma: f64, q: f64, direction: Direction) -> Self {
        Self { sigma, q, direction }
    }

    /// ln(1 − q + q·e^s) without overflow or cancellation.
    fn mix(&self, s: f64) -> f64 {
        if self.q == 1.0 {
            s
        } else if s > 0.0 {
            s + (self.q + (1.0 - self.q) * (-s).exp()).ln()
        } else {
            (self.q * s.exp_m1()).ln_1p()
        }
    }

    /// L(x) = ln P(x)/Q(x).
    pub fn privacy_loss(&self, x: f64) -> f64 {
        let s2 = self.sigma * self.sigma;
        match self.direction {
            Direction::Remove => self.mix((-0.5 - x) / s2),
            Direction::Add => -self.mix(-(0.5 - x) / s2),
            Direction::Replace => {
                let (t, a) = (-x / s2, 0.5 / s2);
                self.mix(t - a) - self.mix(-t - a)
            }
        }
    }

    /// The largest x with L(x) ≥ `eps` (±∞ where L never reaches / always exceeds eps).
    pub fn inverse_privacy_loss(&self, eps: f64) -> f64 {
        let (q, s2) = (self.q, self.sigma * self.sigma);
        match self.direction {
            Direction::Remove => {
                if q < 1.0 && eps <= (-q).ln_1p() {
                    return f64::INFINITY;
                }
                // e^{L0} = 1 + (e^eps − 1)/q, L0 the loss without subsampling.
                let l0 = if q == 1.0 {
                    eps
                } else if eps > 0.0 {
                    eps - q.ln() + (-(1.0 - q) * (-eps).exp()).ln_1p()
                } else {
                    (eps.exp_m1() / q).ln_1p()
                };
                -0.5 - l0 * s2
            }
            Direction::Add => {
                if q < 1.0 && eps >= -(-q).ln_1p() {
                    return f64::NEG_INFINITY;
                }
                // e^{−L0} = 1 + (e^{−eps} − 1)/q.
                let minus_l0 = if q == 1.0 {
                    -eps
                } else if eps < 0.0 {
                    -eps - q.ln() + (-(1.0 - q) * eps.exp()).ln_1p()
                } else {
                    ((-eps).exp_m1() / q).ln_1p()
                };
                0.5 + minus_l0 * s2
            }
            Direction::Replace => {
                // w = e^{−x/σ²} solves w² − b·w − e^eps = 0 with
                // b = (1−q)(e^eps − 1)/(q·e^{−1/(2σ²)}); ln w = eps/2 + asinh(b·e^{−eps/2}/2).
                let ln_w = if q == 1.0 || eps == 0.0 {
                    eps / 2.0
                } else {
                    let ln_k = q.ln() - 0.5 / s2;
                    let h = (-q).ln_1p() + eps.exp_m1().abs().ln() - ln_k - eps / 2.0;
                    eps / 2.0 + eps.signum() * asinh_half_exp(h)
                };
                -s2 * ln_w
            }
        }
    }

    /// CDF of the upper distribution P at x.
    fn upper_cdf(&self, x: f64) -> f64 {
        let s = self.sigma;
        match self.direction {
            Direction::Add => norm_cdf(x / s),
            Direction::Remove | Direction::Replace => (1.0 - self.q) * norm_cdf(x / s) + self.q * norm_cdf((x + 1.0) / s),
        }
    }

    /// ln of the CDF of the lower distribution Q at x.
    fn lower_log_cdf(&self, x: f64) -> f64 {
        let s = self.sigma;
        match self.direction {
            Direction::Remove => log_norm_cdf(x / s),
            Direction::Add | Direction::Replace => {
                let shifted = self.q.ln() + log_norm_cdf((x - 1.0) / s);
                if self.q == 1.0 {
                    shifted
                } else {
                    log_add((-self.q).ln_1p() + log_norm_cdf(x / s), shifted)
                }
            }
        }
    }

    /// The exact hockey-stick divergence δ(eps) = P(L > eps)-weighted: since L is
    /// monotone, δ = P(X ≤ x*) − e^eps·Q(X ≤ x*) with x* = L⁻¹(eps); clipped to [0, 1].
    pub fn delta_for_epsilon(&self, eps: f64) -> f64 {
        let q = self.q;
        if q < 1.0 {
            match self.direction {
                Direction::Remove if eps <= (-q).ln_1p() => return -eps.exp_m1(),
                Direction::Add if eps >= -(-q).ln_1p() => return 0.0,
                _ => {}
            }
        }
        let x = self.inverse_privacy_loss(eps);
        if x == f64::NEG_INFINITY {
            return 0.0;
        }
        if x == f64::INFINITY {
            return (-eps.exp_m1()).clamp(0.0, 1.0);
        }
        let delta = self.upper_cdf(x) - (eps + self.lower_log_cdf(x)).exp();
        delta.clamp(0.0, 1.0)
    }

    /// x-range outside which each Gaussian component keeps < ½e^{−50} mass; the
    /// connect-the-dots grid spans the losses over it.
    fn truncation_x(&self) -> (f64, f64) {
        let z = self.sigma * inverse_log_norm_cdf(LOG_MASS_TRUNCATION_BOUND - std::f64::consts::LN_2);
        let (mut lower, mut upper) = (z, -z);
        match self.direction {
            Direction::Add => upper += 1.0,
            Direction::Remove => lower -= 1.0,
            Direction::Replace => {
                lower -= 1.0;
                upper += 1.0;
            }
        }
        (lower, upper)
    }

    /// The pessimistic connect-the-dots PLD on the grid of multiples of `interval`:
    /// losses k·interval for k from ⌊L(upper_x)/interval⌋ to ⌈L(lower_x)/interval⌉,
    /// probabilities from second differences of the exact δ(ε) (DGKKM 2022, Alg. 1),
    /// and δ at the largest grid loss as mass at +∞.
    pub fn connect_the_dots(&self, interval: f64) -> Result<DensePmf> {
        let (lower_x, upper_x) = self.truncation_x();
        let k_hi = (self.privacy_loss(lower_x) / interval).ceil();
        let k_lo = (self.privacy_loss(upper_x) / interval).floor();
        let points = k_hi - k_lo + 1.0;
        if !(points.is_finite() && points <= MAX_SINGLE_STEP_POINTS as f64) {
            return Err(Error::InvalidParameter {
                name: "noise_multiplier",
                value: self.sigma.to_string(),
                rule: "too small for PLD at this value discretization interval (single-step grid over 40M points); raise the interval or sigma",
            });
        }
        let (k_lo, n) = (k_lo as i64, points as usize);
        let mut deltas: Vec<f64> = (0..n).map(|i| self.delta_for_epsilon((k_lo + i as i64) as f64 * interval)).collect();
        // δ(ε) is non-increasing; allow only rounding-level violations, then enforce it.
        for i in 1..n {
            if deltas[i] - deltas[i - 1] > 1e-12 {
                return Err(Error::Numerical(format!(
                    "hockey-stick divergence increased from {} to {} at eps = {}",
                    deltas[i - 1],
                    deltas[i],
                    (k_lo + i as i64) as f64 * interval
                )));
            }
            deltas[i] = deltas[i].min(deltas[i - 1]);
        }
        let infinity_mass = deltas[n - 1];
        if n == 1 {
            return Ok(DensePmf::new(interval, k_lo, vec![1.0 - deltas[0]], infinity_mass));
        }
        let em1 = interval.exp_m1();
        let e = interval.exp();
        let mut probs = vec![0.0; n];
        probs[0] = 1.0 - deltas[0] + (deltas[1] - deltas[0]) / em1;
        for i in 1..n - 1 {
            probs[i] = ((deltas[i + 1] - deltas[i]) - e * (deltas[i] - deltas[i - 1])) / em1;
        }
        probs[n - 1] = (deltas[n - 1] - deltas[n - 2]) / (-interval).exp_m1();
        for p in probs.iter_mut() {
            *p = p.max(0.0);
        }
        Ok(DensePmf::new(interval, k_lo, probs, infinity_mass))
    }
}

/// asinh(e^h / 2) for any h, without overflow.
fn asinh_half_exp(h: f64) -> f64 {
    if h > 20.0 {
        // asinh(z) = ln z + ln(1 + √(1 + 1/z²)), z = e^h/2.
        h - std::f64::consts::LN_2 + (1.0 + (1.0 + 4.0 * (-2.0 * h).exp()).sqrt()).ln()
    } else {
        (0.5 * h.exp()).asinh()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_inverts_privacy_loss() {
        for &direction in &[Direction::Remove, Direction::Add, Direction::Replace] {
            for &(sigma, q) in &[(0.8, 0.01), (2.0, 0.3), (1.0, 1.0)] {
                let m = SubsampledGaussianLoss::new(sigma, q, direction);
                for &x in &[-3.0, -0.7, 0.0, 0.4, 2.5] {
                    let l = m.privacy_loss(x);
                    let back = m.inverse_privacy_loss(l);
                    assert!((back - x).abs() < 1e-8 * (1.0 + x.abs()), "{direction:?} σ={sigma} q={q} x={x}: L={l}, back {back}");
                }
            }
        }
    }

    #[test]
    fn q_one_remove_is_the_gaussian_mechanism() {
        // δ(ε) of N(0,σ²) vs N(1,σ²): Φ(−εσ + 1/(2σ)) − e^ε Φ(−εσ − 1/(2σ)).
        let m = SubsampledGaussianLoss::new(1.5, 1.0, Direction::Remove);
        for &eps in &[0.0, 0.3, 1.0, 3.0] {
            let want = crate::gaussian::delta_for_epsilon(1.0 / 1.5, eps).unwrap();
            assert!((m.delta_for_epsilon(eps) - want).abs() < 1e-14, "eps {eps}");
        }
    }
}
