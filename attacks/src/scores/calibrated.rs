//! Reference-calibrated loss (Watson et al. 2022, "On the Importance of Difficulty Calibration
//! in Membership Inference Attacks"; the "Ref" attack of Carlini et al. 2021): the target
//! model's loss minus the mean loss of OUT reference models, negated so higher = member.

use rayon::prelude::*;

use crate::AttackError;

/// Score = mean OUT loss − target loss = target m − mean OUT m (m = mean token log-prob):
/// a record the target fits much better than models that never saw it looks like a member.
pub fn reference_calibrated(target_mean_logprob: f64, out_mean_logprobs: &[f64]) -> Result<f64, AttackError> {
    if out_mean_logprobs.is_empty() {
        return Err(AttackError::NoOutReferences);
    }
    if let Some(bad) = out_mean_logprobs.iter().find(|v| !v.is_finite()) {
        return Err(AttackError::InvalidValue { what: "OUT reference mean log-prob", token: None, value: *bad });
    }
    let mean_out = out_mean_logprobs.iter().sum::<f64>() / out_mean_logprobs.len() as f64;
    Ok(target_mean_logprob - mean_out)
}

/// [`reference_calibrated`] for many records in parallel: `out_mean_logprobs[i]` holds record
/// i's mean log-probs under the reference models that did not train on it.
pub fn reference_calibrated_batch(target_mean_logprobs: &[f64], out_mean_logprobs: &[Vec<f64>]) -> Result<Vec<f64>, AttackError> {
    if target_mean_logprobs.len() != out_mean_logprobs.len() {
        return Err(AttackError::BatchMismatch { stats: target_mean_logprobs.len(), other: out_mean_logprobs.len(), what: "OUT reference lists" });
    }
    target_mean_logprobs
        .par_iter()
        .zip(out_mean_logprobs.par_iter())
        .enumerate()
        .map(|(record, (t, outs))| {
            reference_calibrated(*t, outs).map_err(|e| AttackError::Record { record, source: Box::new(e) })
        })
        .collect()
}
