//! The Gaussian mechanism in closed form (Balle & Wang 2018, "Improving the Gaussian
//! Mechanism for Differential Privacy", Thm 8): a Gaussian with sensitivity Δ and noise
//! s is μ-GDP with μ = Δ/s, and T-fold composition without subsampling is √T/σ-GDP, with
//! the exact privacy profile δ(ε) = Φ(−ε/μ + μ/2) − e^ε Φ(−ε/μ − μ/2).

use crate::error::{check, check_delta, Result};
use crate::special::log_norm_cdf;

fn check_mu(mu: f64) -> Result<()> {
    check(mu >= 0.0, "mu", mu, "must be >= 0 (μ = √T/σ of a Gaussian mechanism)")
}

/// δ(ε) of a μ-GDP mechanism (exact). μ = 0 → 0; μ = ∞ → 1.
pub fn delta_for_epsilon(mu: f64, epsilon: f64) -> Result<f64> {
    check_mu(mu)?;
    check(!epsilon.is_nan(), "epsilon", epsilon, "must be a number")?;
    if mu == 0.0 {
        return Ok(if epsilon >= 0.0 { 0.0 } else { -(epsilon.exp_m1()) });
    }
    if mu.is_infinite() {
        return Ok(1.0);
    }
    if epsilon.is_infinite() {
        return Ok(if epsilon > 0.0 { 0.0 } else { 1.0 });
    }
    // δ = Φ(a)·(1 − exp(ε + ln Φ(a − μ) − ln Φ(a))), a = −ε/μ + μ/2: no cancellation in the tails.
    let a = -epsilon / mu + mu / 2.0;
    let log_pa = log_norm_cdf(a);
    let log_pb = log_norm_cdf(a - mu);
    let ratio = epsilon + log_pb - log_pa;
    let delta = log_pa.exp() * -(ratio.exp_m1());
    Ok(delta.clamp(0.0, 1.0))
}

/// The smallest ε ≥ 0 with δ(ε) ≤ `delta` for a μ-GDP mechanism, found by bisection to
/// ~1e-12 relative and rounded up (the returned ε always satisfies the target).
/// μ = 0 → 0; μ = ∞ → ∞; any finite μ → a finite ε.
pub fn epsilon_for_delta(mu: f64, delta: f64) -> Result<f64> {
    check_mu(mu)?;
    check_delta(delta)?;
    if mu == 0.0 {
        return Ok(0.0);
    }
    if mu.is_infinite() {
        return Ok(f64::INFINITY);
    }
    let f = |eps: f64| delta_for_epsilon(mu, eps).map(|d| d <= delta);
    if f(0.0)? {
        return Ok(0.0);
    }
    let mut hi = mu.max(1.0);
    while !f(hi)? {
        hi *= 2.0;
        if hi > 1e12 {
            return Err(crate::Error::Numerical(format!("no ε found for μ = {mu}, δ = {delta}")));
        }
    }
    let mut lo = 0.0;
    while hi - lo > 1e-12 * hi.max(1e-300) {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if f(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

/// μ of T-fold composition of the Gaussian mechanism with noise multiplier σ and no
/// subsampling: √T/σ (sensitivity 1, add/remove or zero-out neighbours).
pub fn mu_for_steps(sigma: f64, steps: u64) -> f64 {
    (steps as f64).sqrt() / sigma
}

/// Noise multiplier σ whose T-fold Gaussian mechanism (μ = √T/σ, no subsampling) is
/// (`epsilon`, `delta`)-DP by the analytic Gaussian ([`epsilon_for_delta`]): the smallest such σ,
/// to 1e-10 relative and rounded up, found by the crate's one calibration routine
/// ([`crate::calibrate::smallest_sigma`]).
pub fn noise_for_epsilon(epsilon: f64, delta: f64, steps: u64) -> Result<f64> {
    crate::error::check_epsilon(epsilon)?;
    crate::error::check_delta(delta)?;
    crate::error::check_steps(steps)?;
    let mut eps_of = |sigma: f64| epsilon_for_delta(mu_for_steps(sigma, steps), delta);
    crate::calibrate::smallest_sigma(&mut eps_of, epsilon, 1e-10)
}
