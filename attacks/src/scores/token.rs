//! Token-level statistics: mean log-probability, min-k% (Shi et al. 2023, "Detecting
//! Pretraining Data from Large Language Models") and min-k%++ (Zhang et al. 2024, "Min-K%++:
//! Improved Baseline for Detecting Pre-Training Data from Large Language Models").

/// Below this σ_t a position's next-token distribution is treated as deterministic: the z-score
/// divides by this floor instead (a token equal to its μ_t then scores 0, not 0/0).
pub const SIGMA_FLOOR: f64 = 1e-6;

/// How many tokens "the lowest k %" of `n` tokens means: ⌈k·n⌉, at least 1 and at most n.
/// A 1e-9 slack absorbs binary rounding (0.1·30 = 3.0000000000000004 must give 3, not 4).
pub fn min_k_count(k: f64, n: usize) -> usize {
    ((k * n as f64 - 1e-9).ceil() as usize).clamp(1, n.max(1))
}

/// Mean of the `count` smallest values of `values` (1 ≤ count ≤ len, not checked here).
pub(crate) fn mean_of_lowest(values: &mut [f64], count: usize) -> f64 {
    if count < values.len() {
        values.select_nth_unstable_by(count - 1, f64::total_cmp);
    }
    values[..count].iter().sum::<f64>() / count as f64
}

/// min-k%: mean of the ⌈k·n⌉ lowest token log-probs (higher = more likely a member).
pub fn min_k(logprob: &[f64], k: f64) -> f64 {
    let mut v = logprob.to_vec();
    let count = min_k_count(k, v.len());
    mean_of_lowest(&mut v, count)
}

/// min-k%++: per token z_t = (log p(x_t) − μ_t) / σ_t, then the mean of the ⌈k·n⌉ lowest z_t
/// (higher = more likely a member). σ_t below [`SIGMA_FLOOR`] is replaced by the floor.
pub fn min_k_plus_plus(logprob: &[f64], mu: &[f64], sigma: &[f64], k: f64) -> f64 {
    let mut z: Vec<f64> = logprob
        .iter()
        .zip(mu)
        .zip(sigma)
        .map(|((lp, m), s)| (lp - m) / s.max(SIGMA_FLOOR))
        .collect();
    let count = min_k_count(k, z.len());
    mean_of_lowest(&mut z, count)
}
