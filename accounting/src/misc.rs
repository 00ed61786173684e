//! Small helpers around a guarantee: group privacy. (Truncated Poisson batches are
//! accounted exactly by [`crate::Sampler::TruncatedPoisson`], not by a δ term.)

use crate::error::{check, Result};

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
