//! PLD of one step of the Gaussian mechanism on a truncated Poisson sample (Chua, Ghazi,
//! Kamath, Kumar, Manurangsi, Sinha, Zhang 2025, "Tighter Privacy Analysis for Truncated
//! Poisson Sampling", arXiv:2508.15089; the facts of dp_accounting 0.6.0
//! `from_truncated_subsampled_gaussian_mechanism`).
//!
//! Each of N records is sampled with probability q; a sample larger than m is cut to a
//! uniformly random m-subset. Condition on whether the batch of the *other* N − 1 records
//! already holds ≥ m of them (probability p_t = P[Bin(N−1, q) ≥ m], independent of the
//! differing record):
//! - no: the differing record enters with probability q and nothing else moves — the
//!   plain Poisson-subsampled Gaussian (sensitivity C);
//! - yes: if the record is in the final batch it displaced another one, so the sum moves
//!   by up to 2C; it is in the final batch with probability
//!   q_c = P[Bin(N, q) > m]·m / (N·p_t). Bounded by the replace-one subsampled Gaussian
//!   with sensitivity 2 (noise σ/2 at sensitivity 1), slightly loose.
//!
//! Releasing which case happened can only cost privacy, so the step's PLD is bounded by
//! the mixture p_t·PLD(case yes) + (1 − p_t)·PLD(case no), taken for each direction.

use super::mechanism::{Direction, SubsampledGaussianLoss};
use super::pmf::DensePmf;
use super::{both_directions, PldPair, TAIL_MASS_TRUNCATION};
use crate::event::{Neighbouring, TruncatedRuns};
use crate::special::binomial_sf;
use crate::Result;

/// p_t = P[Bin(N−1, q) ≥ m] and q_c = P[Bin(N, q) > m]·m / (N·p_t) (see the module docs);
/// N ≥ 1, m ≥ 1.
pub fn truncation_probabilities(dataset_size: u64, q: f64, max_batch: u64) -> (f64, f64) {
    let truncation = binomial_sf(dataset_size.saturating_sub(1), q, max_batch.saturating_sub(1));
    if truncation == 0.0 {
        return (0.0, 0.0);
    }
    let conditional = binomial_sf(dataset_size, q, max_batch) * max_batch as f64 / truncation / dataset_size as f64;
    (truncation, conditional.clamp(0.0, 1.0))
}

/// `weight`·a + (1 − `weight`)·b on the union of their grids (same interval).
fn mixture(a: &DensePmf, b: &DensePmf, weight: f64) -> DensePmf {
    let lower = a.lower.min(b.lower);
    let upper = (a.lower + a.probs.len() as i64).max(b.lower + b.probs.len() as i64);
    let mut probs = vec![0.0; (upper - lower) as usize];
    for (pmf, w) in [(a, weight), (b, 1.0 - weight)] {
        let start = (pmf.lower - lower) as usize;
        for (slot, p) in probs[start..start + pmf.probs.len()].iter_mut().zip(&pmf.probs) {
            *slot += w * p;
        }
    }
    DensePmf::new(a.interval, lower, probs, weight * a.infinity_mass + (1.0 - weight) * b.infinity_mass)
}

/// The PLD pair of `runs.count` truncated-Poisson Gaussian steps under `neighbouring`.
pub(super) fn truncated_pair(interval: f64, neighbouring: Neighbouring, runs: TruncatedRuns) -> Result<PldPair> {
    let TruncatedRuns { dataset_size, q, max_batch, sigma, count } = runs;
    let (truncation, conditional) = truncation_probabilities(dataset_size, q, max_batch);
    let one_step = |direction: Direction| -> Result<DensePmf> {
        let plain = SubsampledGaussianLoss::new(sigma, q, direction).connect_the_dots(interval)?;
        if truncation == 0.0 || conditional == 0.0 {
            return Ok(plain);
        }
        let swapped = SubsampledGaussianLoss::new(sigma / 2.0, conditional, Direction::Replace).connect_the_dots(interval)?;
        Ok(mixture(&swapped, &plain, truncation))
    };
    let build = move |direction: Direction| one_step(direction).and_then(|pmf| pmf.self_compose(count, TAIL_MASS_TRUNCATION));
    if neighbouring == Neighbouring::ReplaceOne {
        return Ok(PldPair { remove: build(Direction::Replace)?, add: None });
    }
    both_directions(&build)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::special::ln_binomial_pmf;

    /// p_t and q_c against direct sums of binomial probabilities.
    #[test]
    fn truncation_probabilities_match_direct_sums() {
        let (n, q, m) = (60u64, 0.3, 20u64);
        let pmf = |n: u64, k: u64| ln_binomial_pmf(n, q, k).exp();
        let p_t: f64 = (m..n).map(|k| pmf(n - 1, k)).sum();
        let tail: f64 = (m + 1..=n).map(|k| pmf(n, k)).sum();
        let (got_t, got_c) = truncation_probabilities(n, q, m);
        assert!((got_t - p_t).abs() < 1e-12, "{got_t} vs {p_t}");
        assert!((got_c - tail * m as f64 / p_t / n as f64).abs() < 1e-12);
        // A batch that can never overflow is plain Poisson.
        assert_eq!(truncation_probabilities(50, 0.1, 50), (0.0, 0.0));
    }

    #[test]
    fn mixture_keeps_total_mass() {
        let a = DensePmf::new(0.1, -2, vec![0.2, 0.3, 0.4], 0.1);
        let b = DensePmf::new(0.1, 3, vec![0.5, 0.5], 0.0);
        let m = mixture(&a, &b, 0.25);
        assert_eq!((m.lower, m.probs.len()), (-2, 7));
        let total: f64 = m.probs.iter().sum::<f64>() + m.infinity_mass;
        assert!((total - 1.0).abs() < 1e-15);
        assert!((m.probs[5] - 0.375).abs() < 1e-15 && (m.infinity_mass - 0.025).abs() < 1e-15);
    }
}
