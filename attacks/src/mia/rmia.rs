//! RMIA, the relative membership-inference attack of Zarifzadeh, Liu, Mittal and Shokri,
//! "Low-Cost High-Power Membership Inference Attacks" (ICML 2024), offline variant.
//!
//! With P(x|θ) = exp(m) (m = mean token log-prob of x under model θ) and reference models that
//! did not train on x, P(x) = ½[(1 + a)·P_OUT(x) + (1 − a)] (the paper's offline approximation
//! of the IN average, §4; ML Privacy Meter `run_rmia`), the likelihood ratio against a
//! population record z is LR(x, z) = [P(x|θ)/P(x)] / [P(z|θ)/P(z)], and the score of x is the
//! fraction of population records z with LR(x, z) ≥ γ. Sorting the population's log ratios
//! once makes each score a binary search: O((n + |Z|) log |Z|).

use serde::{Deserialize, Serialize};

use super::{ShadowRole, ShadowScores};
use crate::error::{AttackError, Result};

/// RMIA parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RmiaOptions {
    /// Offline interpolation a ∈ [0, 1] (paper default 0.3 for its models).
    pub a: f64,
    /// Likelihood-ratio threshold γ > 0: z counts against x when LR(x, z) ≥ γ (default 1).
    pub gamma: f64,
}

impl Default for RmiaOptions {
    fn default() -> Self {
        RmiaOptions { a: 0.3, gamma: 1.0 }
    }
}

impl RmiaOptions {
    /// Refuses a ∉ [0, 1] or γ ≤ 0.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.a) {
            return Err(AttackError::invalid("rmia a", self.a, "must lie in [0, 1]"));
        }
        if !(self.gamma > 0.0 && self.gamma.is_finite()) {
            return Err(AttackError::invalid("rmia gamma", self.gamma, "must be finite and > 0"));
        }
        Ok(())
    }
}

/// P_OUT per record: the mean over OUT reference models of exp(mean over queries of the
/// log-prob statistic); `None` for a record no reference model left out.
pub fn mean_out_probability(references: &ShadowScores) -> Vec<Option<f64>> {
    (0..references.records())
        .map(|r| {
            let (mut sum, mut k) = (0.0, 0usize);
            for m in 0..references.models() {
                if references.role(r, m) == ShadowRole::Out {
                    let s = references.score(r, m);
                    sum += (s.iter().sum::<f64>() / s.len() as f64).exp();
                    k += 1;
                }
            }
            (k > 0).then(|| sum / k as f64)
        })
        .collect()
}

/// ln of P(x|θ)/P(x) with P(x) = ½[(1 + a)P_OUT + (1 − a)].
fn ln_ratio(logprob: f64, p_out: f64, a: f64) -> f64 {
    logprob - (0.5 * ((1.0 + a) * p_out + (1.0 - a))).ln()
}

/// RMIA offline scores of the audited records (higher = member).
///
/// `target_x[i]` = ln P(x_i|θ) under the target, `p_out_x[i]` = P_OUT(x_i); likewise for the
/// population z. Log-probabilities must be ≤ 0 and P_OUT in (0, 1].
pub fn rmia_offline(
    target_x: &[f64],
    p_out_x: &[f64],
    target_z: &[f64],
    p_out_z: &[f64],
    options: &RmiaOptions,
) -> Result<Vec<f64>> {
    options.validate()?;
    if target_x.len() != p_out_x.len() || target_z.len() != p_out_z.len() {
        return Err(AttackError::Shape(format!(
            "RMIA: {} target scores vs {} P_OUT values for records, {} vs {} for the population",
            target_x.len(),
            p_out_x.len(),
            target_z.len(),
            p_out_z.len()
        )));
    }
    if target_z.is_empty() {
        return Err(AttackError::NotEnoughData("RMIA needs at least one population record".into()));
    }
    let check = |what: &str, lp: &[f64], po: &[f64]| -> Result<()> {
        for (i, (&l, &p)) in lp.iter().zip(po).enumerate() {
            if !(l <= 0.0) {
                return Err(AttackError::BadScore(format!("RMIA {what} {i}: log-probability {l} is not ≤ 0")));
            }
            if !(p > 0.0 && p <= 1.0) {
                return Err(AttackError::BadScore(format!("RMIA {what} {i}: P_OUT {p} is not in (0, 1]")));
            }
        }
        Ok(())
    };
    check("record", target_x, p_out_x)?;
    check("population record", target_z, p_out_z)?;
    let mut z: Vec<f64> = target_z.iter().zip(p_out_z).map(|(&l, &p)| ln_ratio(l, p, options.a)).collect();
    z.sort_unstable_by(|a, b| a.total_cmp(b));
    let ln_gamma = options.gamma.ln();
    let nz = z.len() as f64;
    Ok(target_x
        .iter()
        .zip(p_out_x)
        .map(|(&l, &p)| {
            // LR(x, z) ≥ γ  ⇔  ln r_z ≤ ln r_x − ln γ.
            let limit = ln_ratio(l, p, options.a) - ln_gamma;
            z.partition_point(|&v| v <= limit) as f64 / nz
        })
        .collect())
}

/// Tunes the offline parameter a as ML Privacy Meter does (`tune_offline_a`): reference model
/// `pseudo_target` plays the target, the other references serve as its references, and the a
/// of `grid` with the highest AUC against that model's own membership wins. Uses no truth about
/// the real target, so the choice costs the bounds nothing. `population` indexes the subjects
/// that serve as z. Returns (a, AUC at a).
pub fn tune_offline_a(references: &ShadowScores, pseudo_target: usize, population: &[usize], grid: &[f64], gamma: f64) -> Result<(f64, f64)> {
    if references.models() < 2 || pseudo_target >= references.models() {
        return Err(AttackError::NotEnoughData(format!(
            "tuning RMIA's a needs at least 2 reference models and a valid pseudo-target (got {} models, index {pseudo_target})",
            references.models()
        )));
    }
    let q = references.queries() as f64;
    let mean_lp = |r: usize, m: usize| references.score(r, m).iter().sum::<f64>() / q;
    // Records the pseudo-target scored, with its membership, and P_OUT from the other references.
    let (mut lp, mut p_out, mut member, mut index_of) = (Vec::new(), Vec::new(), Vec::new(), vec![usize::MAX; references.records()]);
    for r in 0..references.records() {
        let role = references.role(r, pseudo_target);
        if role == ShadowRole::Absent {
            continue;
        }
        let outs: Vec<f64> = (0..references.models())
            .filter(|&m| m != pseudo_target && references.role(r, m) == ShadowRole::Out)
            .map(|m| mean_lp(r, m).exp())
            .collect();
        if outs.is_empty() {
            continue;
        }
        index_of[r] = lp.len();
        lp.push(mean_lp(r, pseudo_target));
        p_out.push(outs.iter().sum::<f64>() / outs.len() as f64);
        member.push(role == ShadowRole::In);
    }
    let z: Vec<usize> = population.iter().filter_map(|&r| (index_of.get(r).copied()? != usize::MAX).then(|| index_of[r])).collect();
    if z.is_empty() || !member.iter().any(|&m| m) || member.iter().all(|&m| m) {
        return Err(AttackError::NotEnoughData("tuning RMIA's a: the pseudo-target has no usable population or lacks members/non-members".into()));
    }
    let (tz, pz): (Vec<f64>, Vec<f64>) = z.iter().map(|&i| (lp[i], p_out[i])).unzip();
    let mut best = (f64::NAN, f64::NEG_INFINITY);
    for &a in grid {
        let scores = rmia_offline(&lp, &p_out, &tz, &pz, &RmiaOptions { a, gamma })?;
        let auc = crate::metrics::Roc::from_scores(&scores, &member)?.auc();
        if auc > best.1 {
            best = (a, auc);
        }
    }
    if best.0.is_nan() {
        return Err(AttackError::NotEnoughData("tuning RMIA's a: empty grid".into()));
    }
    Ok(best)
}
