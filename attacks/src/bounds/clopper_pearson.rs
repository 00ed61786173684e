//! Clopper–Pearson ε lower bounds from the error counts of a membership test.
//!
//! An (ε, δ)-DP mechanism forces every test's error rates to satisfy
//! FPR + e^ε·FNR ≥ 1 − δ and FNR + e^ε·FPR ≥ 1 − δ (Kairouz et al. 2015; Jagielski et al. 2020),
//! so with upper confidence bounds on both rates
//! ε ≥ max(0, ln((1 − δ − FNR_hi)/FPR_hi), ln((1 − δ − FPR_hi)/FNR_hi)).
//! Each rate's bound is one-sided at α/2 (a two-sided 1 − α Clopper–Pearson interval), matching
//! `shared/reference/lira/CONVENTIONS.md`. A threshold picked after looking at the data pays for
//! the choice: Bonferroni over the thresholds tried, or selection on a held-out half.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::error::{AttackError, Result};
use vg_accounting::special::inverse_regularized_incomplete_beta;

/// One-sided upper confidence bound on a binomial rate: with probability ≥ 1 − `alpha` the
/// true rate is ≤ the returned value (Clopper & Pearson 1934: Beta.ppf(1 − α, k + 1, n − k), 1 when k = n).
pub fn clopper_pearson_upper(k: u64, n: u64, alpha: f64) -> Result<f64> {
    check_rate_args(k, n, alpha)?;
    if k == n {
        return Ok(1.0);
    }
    Ok(inverse_regularized_incomplete_beta((k + 1) as f64, (n - k) as f64, 1.0 - alpha))
}

/// One-sided lower confidence bound on a binomial rate (Beta.ppf(α, k, n − k + 1), 0 when k = 0).
pub fn clopper_pearson_lower(k: u64, n: u64, alpha: f64) -> Result<f64> {
    check_rate_args(k, n, alpha)?;
    if k == 0 {
        return Ok(0.0);
    }
    Ok(inverse_regularized_incomplete_beta(k as f64, (n - k + 1) as f64, alpha))
}

fn check_rate_args(k: u64, n: u64, alpha: f64) -> Result<()> {
    if n == 0 {
        return Err(AttackError::NotEnoughData("a rate needs at least one trial (n = 0)".into()));
    }
    if k > n {
        return Err(AttackError::InconsistentCounts(format!("{k} events out of {n} trials")));
    }
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(AttackError::invalid("alpha", alpha, "must lie in (0, 1)"));
    }
    Ok(())
}

/// The four counts of a membership test at one threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCounts {
    /// Non-members predicted member.
    pub false_positives: u64,
    /// Number of non-members.
    pub negatives: u64,
    /// Members predicted non-member.
    pub false_negatives: u64,
    /// Number of members.
    pub positives: u64,
}

/// A Clopper–Pearson ε lower bound with everything needed to re-derive it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClopperPearsonBound {
    /// The lower bound on ε (≥ 0).
    pub epsilon: f64,
    /// Overall confidence 1 − α of the claim (after any Bonferroni correction is paid).
    pub confidence: f64,
    /// The δ the bound accounts for.
    pub delta: f64,
    /// The counts it rests on.
    pub counts: ErrorCounts,
    /// Upper confidence bound on the false-positive rate (one-sided at the per-rate level).
    pub fpr_upper: f64,
    /// Upper confidence bound on the false-negative rate.
    pub fnr_upper: f64,
}

fn check_delta_confidence(delta: f64, confidence: f64) -> Result<()> {
    if !(0.0..1.0).contains(&delta) {
        return Err(AttackError::invalid("delta", delta, "must lie in [0, 1)"));
    }
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(AttackError::invalid("confidence", confidence, "must lie in (0, 1)"));
    }
    Ok(())
}

/// ε lower bound at confidence `confidence` (= 1 − α) from one set of counts, both directions,
/// each rate bounded one-sided at α/2.
pub fn clopper_pearson_epsilon(counts: ErrorCounts, delta: f64, confidence: f64) -> Result<ClopperPearsonBound> {
    check_delta_confidence(delta, confidence)?;
    let alpha = 1.0 - confidence;
    let fpr_upper = clopper_pearson_upper(counts.false_positives, counts.negatives, alpha / 2.0)?;
    let fnr_upper = clopper_pearson_upper(counts.false_negatives, counts.positives, alpha / 2.0)?;
    Ok(ClopperPearsonBound {
        epsilon: epsilon_from_rate_bounds(fpr_upper, fnr_upper, delta),
        confidence,
        delta,
        counts,
        fpr_upper,
        fnr_upper,
    })
}

/// max(0, ln((1−δ−FNR)/FPR), ln((1−δ−FPR)/FNR)); a term with a non-positive numerator is −∞.
pub fn epsilon_from_rate_bounds(fpr: f64, fnr: f64, delta: f64) -> f64 {
    let term = |num: f64, den: f64| if num <= 0.0 { f64::NEG_INFINITY } else { (num / den).ln() };
    0.0_f64.max(term(1.0 - delta - fnr, fpr)).max(term(1.0 - delta - fpr, fnr))
}

/// How the decision threshold of a score-based bound is chosen, and how the choice is paid for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ThresholdChoice {
    /// A threshold fixed before seeing the data: no correction.
    Fixed {
        /// Predict member iff score ≥ threshold.
        threshold: f64,
    },
    /// Try the scores at the given fractions of records predicted member (label-free
    /// positions), keep the best, and pay with Bonferroni: each at α / (distinct thresholds tried).
    Bonferroni {
        /// Fractions in (0, 1) of records predicted member.
        fractions: Vec<f64>,
    },
    /// Pick the best of the fractions on a random half, then bound once on the other half.
    HeldOut {
        /// Fractions in (0, 1) tried on the selection half.
        fractions: Vec<f64>,
        /// Seed of the random split.
        seed: u64,
    },
}

impl ThresholdChoice {
    /// The default label-free grid of predicted-member fractions (21 looks).
    pub fn default_fractions() -> Vec<f64> {
        vec![
            0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98,
            0.99, 0.995, 0.998, 0.999,
        ]
    }
}

impl Default for ThresholdChoice {
    fn default() -> Self {
        ThresholdChoice::Bonferroni { fractions: Self::default_fractions() }
    }
}

/// A score-based Clopper–Pearson bound: the bound, the threshold it used and how it was chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreThresholdBound {
    /// The bound (its `confidence` already includes the correction).
    pub bound: ClopperPearsonBound,
    /// Predict member iff score ≥ this.
    pub threshold: f64,
    /// Number of thresholds the choice looked at (the Bonferroni factor, or 1).
    pub thresholds_tried: usize,
    /// "fixed", "bonferroni" or "held_out".
    pub selection: String,
}

/// Counts of the rule "member iff score ≥ threshold".
pub fn counts_at_threshold(scores: &[f64], members: &[bool], threshold: f64) -> ErrorCounts {
    let mut c = ErrorCounts { false_positives: 0, negatives: 0, false_negatives: 0, positives: 0 };
    for (&s, &m) in scores.iter().zip(members) {
        let predicted = s >= threshold;
        if m {
            c.positives += 1;
            c.false_negatives += u64::from(!predicted);
        } else {
            c.negatives += 1;
            c.false_positives += u64::from(predicted);
        }
    }
    c
}

/// Distinct thresholds at the given predicted-member fractions of `scores` (largest first).
fn thresholds_at_fractions(scores: &[f64], fractions: &[f64]) -> Result<Vec<f64>> {
    let mut sorted: Vec<f64> = scores.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let mut out: Vec<f64> = Vec::with_capacity(fractions.len());
    for &f in fractions {
        if !(f > 0.0 && f < 1.0) {
            return Err(AttackError::invalid("threshold fraction", f, "must lie in (0, 1)"));
        }
        let k = ((f * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        out.push(sorted[k - 1]);
    }
    out.sort_by(|a, b| b.total_cmp(a));
    out.dedup();
    Ok(out)
}

/// Best bound over `thresholds`, each evaluated at confidence `per_look_confidence`.
fn best_over(
    scores: &[f64],
    members: &[bool],
    thresholds: &[f64],
    delta: f64,
    per_look_confidence: f64,
) -> Result<(f64, ClopperPearsonBound)> {
    let mut best: Option<(f64, ClopperPearsonBound)> = None;
    for &t in thresholds {
        let b = clopper_pearson_epsilon(counts_at_threshold(scores, members, t), delta, per_look_confidence)?;
        if best.as_ref().is_none_or(|(_, cur)| b.epsilon > cur.epsilon) {
            best = Some((t, b));
        }
    }
    best.ok_or_else(|| AttackError::NotEnoughData("no threshold to try".into()))
}

/// Clopper–Pearson ε lower bound from scores (higher = member) and membership truth, with the
/// threshold chosen as `choice` says and paid for. `confidence` is the overall level of the claim.
pub fn clopper_pearson_from_scores(
    scores: &[f64],
    members: &[bool],
    delta: f64,
    confidence: f64,
    choice: &ThresholdChoice,
) -> Result<ScoreThresholdBound> {
    check_delta_confidence(delta, confidence)?;
    if scores.len() != members.len() {
        return Err(AttackError::Shape(format!("{} scores but {} membership labels", scores.len(), members.len())));
    }
    if let Some(i) = scores.iter().position(|s| s.is_nan()) {
        return Err(AttackError::BadScore(format!("score of row {i} is NaN")));
    }
    let positives = members.iter().filter(|&&m| m).count();
    if positives == 0 || positives == members.len() {
        return Err(AttackError::NotEnoughData(format!(
            "a Clopper–Pearson bound needs members and non-members ({positives} members among {} rows)",
            members.len()
        )));
    }
    match choice {
        ThresholdChoice::Fixed { threshold } => Ok(ScoreThresholdBound {
            bound: clopper_pearson_epsilon(counts_at_threshold(scores, members, *threshold), delta, confidence)?,
            threshold: *threshold,
            thresholds_tried: 1,
            selection: "fixed".into(),
        }),
        ThresholdChoice::Bonferroni { fractions } => {
            let thresholds = thresholds_at_fractions(scores, fractions)?;
            let alpha = (1.0 - confidence) / thresholds.len() as f64;
            let (threshold, mut bound) = best_over(scores, members, &thresholds, delta, 1.0 - alpha)?;
            // Report the overall level of the claim; the per-threshold level is 1 − α/T.
            bound.confidence = confidence;
            Ok(ScoreThresholdBound { bound, threshold, thresholds_tried: thresholds.len(), selection: "bonferroni".into() })
        }
        ThresholdChoice::HeldOut { fractions, seed } => {
            let mut order: Vec<usize> = (0..scores.len()).collect();
            order.shuffle(&mut ChaCha20Rng::seed_from_u64(*seed));
            let (select_idx, eval_idx) = order.split_at(order.len() / 2);
            let pick = |idx: &[usize]| -> (Vec<f64>, Vec<bool>) {
                (idx.iter().map(|&i| scores[i]).collect(), idx.iter().map(|&i| members[i]).collect())
            };
            let (sel_s, sel_m) = pick(select_idx);
            let (ev_s, ev_m) = pick(eval_idx);
            if !sel_m.iter().any(|&m| m) || sel_m.iter().all(|&m| m) || !ev_m.iter().any(|&m| m) || ev_m.iter().all(|&m| m) {
                return Err(AttackError::NotEnoughData(
                    "held-out split left a half without members or without non-members".into(),
                ));
            }
            let thresholds = thresholds_at_fractions(&sel_s, fractions)?;
            let (threshold, _) = best_over(&sel_s, &sel_m, &thresholds, delta, confidence)?;
            let bound = clopper_pearson_epsilon(counts_at_threshold(&ev_s, &ev_m, threshold), delta, confidence)?;
            Ok(ScoreThresholdBound { bound, threshold, thresholds_tried: 1, selection: "held_out".into() })
        }
    }
}
