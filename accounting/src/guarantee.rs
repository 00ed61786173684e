//! Small helpers around a guarantee: group privacy and the δ cost of truncating Poisson
//! batches to a maximum size.

use crate::error::{check, check_sampling_rate, check_steps, Result};
use crate::special::binomial_sf;

/// Group privacy for groups of `r` units (e.g. a canary repeated r times): an (ε, δ)
/// guarantee per unit gives (r·ε, r·e^{(r−1)ε}·δ) per group (Dwork & Roth 2014, Thm 2.2
/// extended to δ > 0; δ capped at 1).
pub fn group_privacy(epsilon: f64, delta: f64, r: u64) -> Result<(f64, f64)> {
    check(epsilon >= 0.0 && !epsilon.is_nan(), "epsilon", epsilon, "must be >= 0")?;
    check((0.0..=1.0).contains(&delta), "delta", delta, "must lie in [0, 1]")?;
    check(r >= 1, "group_size", r, "must be at least 1")?;
    let rf = r as f64;
    let group_delta = if delta == 0.0 { 0.0 } else { (rf.ln() + (rf - 1.0) * epsilon + delta.ln()).exp().min(1.0) };
    Ok((rf * epsilon, group_delta))
}

/// δ added by truncating Poisson batches: `steps`·P[Binomial(n, q) > max_batch], the
/// probability that some step's sample is larger than the batch the engine accepts
/// (VaultGemma's truncated Poisson sampling, union bound over steps), with the tail from
/// [`binomial_sf`]; capped at 1.
pub fn truncation_delta(n: u64, q: f64, max_batch: u64, steps: u64) -> Result<f64> {
    check(n >= 1, "dataset_size", n, "must be at least 1")?;
    check_sampling_rate(q)?;
    check_steps(steps)?;
    if max_batch >= n {
        return Ok(0.0);
    }
    if q == 1.0 {
        return Ok(1.0);
    }
    let tail = binomial_sf(n, q, max_batch);
    Ok((steps as f64 * tail.clamp(0.0, 1.0)).min(1.0))
}
