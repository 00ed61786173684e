//! From the user's privacy request to the `dp` record: q = B/N checked once, σ calibrated for
//! (ε, δ) or ε for a given σ, δ ≤ 1/N enforced, truncated Poisson batches accounted by their own
//! PLD, and the [`DpEvent`] that was accounted kept in the record. The mathematics lives in
//! vg-accounting.

use vg_accounting::DpEvent;

use crate::checkpoint::DpRecord;
use crate::config::{DpConfig, PrivacyTarget};
use crate::{Error, Result};
use vg_accounting::Sampler;

/// The Poisson sampling rate q = expected batch / N, refused unless it lies in (0, 1]: the one
/// place q is computed, for the accountant and for the engine's sampler alike.
pub fn sampling_rate(expected_batch_size: f64, dataset_size: usize) -> Result<f64> {
    if dataset_size == 0 {
        return Err(Error::privacy("dataset_size", 0, "DP-SGD needs at least one training example"));
    }
    let q = expected_batch_size / dataset_size as f64;
    if !(q > 0.0 && q <= 1.0) {
        return Err(Error::privacy(
            "sampling_rate",
            q,
            format!("q = expected batch {expected_batch_size} / N {dataset_size} must lie in (0, 1]"),
        ));
    }
    Ok(q)
}

fn accounting(e: vg_accounting::Error) -> Error {
    Error::Accounting(e.to_string())
}

/// ε at `delta` of `event` under the configured accountant and neighbouring relation.
fn epsilon_of(dp: &DpConfig, event: &DpEvent, delta: f64) -> Result<f64> {
    let mut acc = vg_accounting::new_accountant(dp.accountant, dp.neighbouring);
    acc.compose(event).map_err(accounting)?;
    acc.epsilon(delta).map_err(accounting)
}

/// The sampler the engine runs for `n` examples with an optional maximum batch.
pub(crate) fn sampler_for(n: usize, max_batch: Option<usize>) -> Result<Sampler> {
    Sampler::new(n as u64, max_batch.map(|m| m as u64)).map_err(|e| Error::privacy("max_batch", format!("{max_batch:?}"), e.to_string()))
}

/// Resolves a [`DpConfig`] for `n` examples, expected batch `batch`, `steps` steps into the
/// record model.json stores. Refuses δ ∉ (0, 1), δ > 1/N (unless forced), q ∉ (0, 1], ε ≤ 0, σ ≤ 0.
pub fn resolve_privacy(dp: &DpConfig, batch: f64, n: usize, steps: u64) -> Result<DpRecord> {
    let q = sampling_rate(batch, n)?;
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
            // The one σ calibration (vg-accounting), rounded so that ε never exceeds the target.
            vg_accounting::calibrate_noise_multiplier_with(dp.accountant, sampler, q, steps, *epsilon, delta, dp.neighbouring)
                .map_err(accounting)?
        }
        PrivacyTarget::NoiseMultiplier { sigma, .. } => {
            if !(*sigma > 0.0 && sigma.is_finite()) {
                return Err(Error::privacy("noise_multiplier", sigma, "must be a positive finite number (use no DP for σ = 0)"));
            }
            *sigma
        }
    };
    let event = sampler.event(q, sigma, steps);
    let epsilon = epsilon_of(dp, &event, delta)?;
    Ok(DpRecord {
        epsilon,
        delta,
        sampler,
        noise_multiplier: sigma,
        sampling_rate: q,
        expected_batch_size: batch,
        steps,
        clip_norm: dp.clip_norm,
        accountant: dp.accountant,
        neighbouring: dp.neighbouring,
        event: Some(event),
        max_batch: dp.max_batch,
        randomness: match dp.insecure_seed {
            Some(s) => format!("ChaCha20 keyed from --insecure-seed {s}: reproducible, NO DP guarantee"),
            None => "ChaCha20 keyed from the operating system, key never recorded".into(),
        },
        insecure_seed: dp.insecure_seed,
        secure_noise: dp.secure_noise,
    })
}
