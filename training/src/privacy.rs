//! From the user's privacy request to the `dp` record: σ calibrated for (ε, δ) or ε for a given σ,
//! δ ≤ 1/N enforced, truncated Poisson batches accounted by their own PLD. The mathematics lives
//! in vg-accounting.

use crate::checkpoint::DpRecord;
use crate::config::{DpConfig, PrivacyTarget};
use crate::{Error, Result};
use vg_accounting::Sampler;

fn kinds(accountant: &str, neighbouring: &str) -> Result<(vg_accounting::AccountantKind, vg_accounting::Neighbouring)> {
    let kind = accountant.parse().map_err(|e: vg_accounting::Error| Error::privacy("accountant", accountant, e.to_string()))?;
    let nb = neighbouring.parse().map_err(|e: vg_accounting::Error| Error::privacy("neighbouring", neighbouring, e.to_string()))?;
    Ok((kind, nb))
}

/// ε spent by `steps` Gaussian steps on batches drawn by `sampler` (rate q, multiplier σ) at δ.
pub fn epsilon_spent(sampler: Sampler, q: f64, sigma: f64, steps: u64, delta: f64, accountant: &str, neighbouring: &str) -> Result<f64> {
    let (kind, nb) = kinds(accountant, neighbouring)?;
    vg_accounting::epsilon_with(kind, sampler, q, sigma, steps, delta, nb).map_err(|e| Error::Accounting(e.to_string()))
}

/// The smallest σ whose run spends at most (ε, δ).
pub fn calibrate_sigma(sampler: Sampler, q: f64, steps: u64, epsilon: f64, delta: f64, accountant: &str, neighbouring: &str) -> Result<f64> {
    let (kind, nb) = kinds(accountant, neighbouring)?;
    // Monotone bisection in vg-accounting; rounding is chosen so σ never undershoots.
    vg_accounting::calibrate_noise_multiplier_with(kind, sampler, q, steps, epsilon, delta, nb).map_err(|e| Error::Accounting(e.to_string()))
}

/// The sampler the engine runs for `n` examples with an optional maximum batch.
pub fn sampler_for(n: usize, max_batch: Option<usize>) -> Result<Sampler> {
    Sampler::new(n as u64, max_batch.map(|m| m as u64)).map_err(|e| Error::privacy("max_batch", format!("{max_batch:?}"), e.to_string()))
}

/// Resolves a [`DpConfig`] for `n` examples, expected batch `batch`, `steps` steps into the
/// record model.json stores. Refuses δ ∉ (0, 1), δ > 1/N (unless forced), q ∉ (0, 1], ε ≤ 0, σ ≤ 0.
pub fn resolve_privacy(dp: &DpConfig, batch: f64, n: usize, steps: u64) -> Result<DpRecord> {
    let q = batch / n as f64;
    if !(q > 0.0 && q <= 1.0) {
        return Err(Error::privacy("sampling_rate", q, format!("expected batch {batch} / {n} examples must lie in (0, 1]")));
    }
    let delta = match &dp.target {
        PrivacyTarget::Epsilon { delta, .. } | PrivacyTarget::NoiseMultiplier { delta, .. } => *delta,
    };
    if !(delta > 0.0 && delta < 1.0) {
        return Err(Error::privacy("delta", delta, "must lie in (0, 1)"));
    }
    if delta > 1.0 / n as f64 && !dp.force_delta {
        return Err(Error::privacy(
            "delta",
            delta,
            format!("exceeds 1/N = {:.3e} for N = {n} examples: a mechanism that publishes one random record in full satisfies it; lower δ or force it", 1.0 / n as f64),
        ));
    }
    let sampler = sampler_for(n, dp.max_batch)?;
    let sigma = match &dp.target {
        PrivacyTarget::Epsilon { epsilon, .. } => {
            if !(*epsilon > 0.0 && epsilon.is_finite()) {
                return Err(Error::privacy("epsilon", epsilon, "must be a positive finite number"));
            }
            calibrate_sigma(sampler, q, steps, *epsilon, delta, &dp.accountant, &dp.neighbouring)?
        }
        PrivacyTarget::NoiseMultiplier { sigma, .. } => {
            if !(*sigma > 0.0 && sigma.is_finite()) {
                return Err(Error::privacy("noise_multiplier", sigma, "must be a positive finite number (use no DP for σ = 0)"));
            }
            *sigma
        }
    };
    let epsilon = epsilon_spent(sampler, q, sigma, steps, delta, &dp.accountant, &dp.neighbouring)?;
    Ok(DpRecord {
        epsilon,
        delta,
        sampler,
        noise_multiplier: sigma,
        sampling_rate: q,
        expected_batch_size: batch,
        steps,
        clip_norm: dp.clip_norm,
        accountant: dp.accountant.clone(),
        neighbouring: dp.neighbouring.clone(),
        max_batch: dp.max_batch,
        randomness: match dp.insecure_seed {
            Some(s) => format!("ChaCha20 keyed from --insecure-seed {s}: reproducible, NO DP guarantee"),
            None => "ChaCha20 keyed from the operating system, key never recorded".into(),
        },
        insecure_seed: dp.insecure_seed,
        secure_noise: dp.secure_noise,
    })
}
