//! Small helpers around a guarantee: group privacy and the δ cost of truncating Poisson
//! batches to a maximum size.

use crate::error::{check, check_sampling_rate, check_steps, Result};
use crate::special::ln_gamma;

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
/// (VaultGemma's truncated Poisson sampling, union bound over steps). Computed in log
/// space from the first tail term and the term ratio; capped at 1.
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
    let (nf, ln_q, ln_1mq) = (n as f64, q.ln(), (-q).ln_1p());
    let log_pmf = |k: u64| {
        let kf = k as f64;
        ln_gamma(nf + 1.0) - ln_gamma(kf + 1.0) - ln_gamma(nf - kf + 1.0) + kf * ln_q + (nf - kf) * ln_1mq
    };
    let mean = nf * q;
    let tail = if (max_batch as f64) >= mean {
        // Upper tail from k0 = max_batch + 1 upward; terms decrease geometrically.
        let k0 = max_batch + 1;
        let log_first = log_pmf(k0);
        let (mut sum, mut term, mut k) = (1.0f64, 1.0f64, k0);
        while k < n {
            term *= (nf - k as f64) / (k as f64 + 1.0) * q / (1.0 - q);
            sum += term;
            k += 1;
            if term < 1e-18 * sum {
                break;
            }
        }
        (log_first + sum.ln()).exp()
    } else {
        // Below the mean the tail is large: 1 − P[X ≤ max_batch], summing downward.
        let log_first = log_pmf(max_batch);
        let (mut sum, mut term, mut k) = (1.0f64, 1.0f64, max_batch);
        while k > 0 {
            term *= k as f64 / (nf - k as f64 + 1.0) * (1.0 - q) / q;
            sum += term;
            k -= 1;
            if term < 1e-18 * sum {
                break;
            }
        }
        1.0 - (log_first + sum.ln()).exp()
    };
    Ok((steps as f64 * tail.clamp(0.0, 1.0)).min(1.0))
}
