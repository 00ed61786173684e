//! Canary exposure (Carlini et al. 2019, "The Secret Sharer"), estimated from reference
//! canaries. Not an ε bound: it says how far a canary's secret stands out among secrets the
//! model never saw, in bits.
//!
//! **Orientation.** Scores are membership scores, *higher = more member-like = lower loss*;
//! a natural choice is the canary's total token log-prob (−log-perplexity × length), since all
//! canaries of a family share the template.
//!
//! For an inserted canary with score s and the n reference canaries of its template family:
//! - rank = 1 + #{references with score ≥ s} (ties count against the canary, so exposure is
//!   never overstated), in 1..=n+1;
//! - rank exposure = −log₂(rank / (n+1)), in [0, log₂(n+1)]. This is the exposure over the
//!   reference set; log₂|R| − log₂ rank would treat n references as the whole secret space R
//!   and is not used;
//! - fit exposure = −log₂ P[S ≥ s] under a skew-normal fitted to the reference scores (the
//!   extrapolation of Carlini et al. 2019, §4.3), capped at log₂|R| (rank 1 over the whole space).

mod skew_normal;

use std::collections::HashMap;

use rayon::prelude::*;
use crate::AttackError;
use serde::{Deserialize, Serialize};

pub use skew_normal::{SkewNormal, MAX_SHAPE};

/// Fewest references a family needs before its scores are fitted (the rank exposure needs one).
pub const DEFAULT_MIN_REFERENCES_FOR_FIT: usize = 30;

/// An inserted canary and its score under the audited model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExposureCanary {
    /// Canary id.
    pub id: u64,
    /// Template family (references of the same family are its competitors).
    pub family: String,
    /// Whether it was in the training data (S_i = +1).
    pub included: bool,
    /// Membership score (higher = more member-like).
    pub score: f64,
    /// log₂|R| of its secret space.
    pub secret_space_log2: f64,
}

/// A reference canary's score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExposureReference {
    /// Template family.
    pub family: String,
    /// Membership score (higher = more member-like).
    pub score: f64,
}

/// Exposure of one inserted canary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CanaryExposure {
    /// Canary id.
    pub id: u64,
    /// Template family.
    pub family: String,
    /// S_i = +1.
    pub included: bool,
    /// Its score.
    pub score: f64,
    /// n, references of its family.
    pub n_references: usize,
    /// 1 + #{references with score ≥ its score}.
    pub rank: usize,
    /// −log₂(rank / (n+1)).
    pub exposure_rank: f64,
    /// −log₂ P_fit[S ≥ score], capped at log₂|R|; `None` when the family could not be fitted.
    pub exposure_fit: Option<f64>,
    /// Whether `exposure_fit` hit the log₂|R| cap.
    pub fit_capped: bool,
}

/// The fit of one family's reference scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FamilyFit {
    /// Template family.
    pub family: String,
    /// Reference canaries.
    pub n_references: usize,
    /// Largest rank exposure possible, log₂(n+1).
    pub max_rank_exposure: f64,
    /// The skew-normal fit (maximum likelihood), if any.
    pub fit: Option<SkewNormal>,
    /// Why there is no fit.
    pub note: Option<String>,
}

/// Mean, median and maximum of exposures.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// Values summarised.
    pub count: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median (mean of the two middle values for an even count).
    pub median: f64,
    /// Maximum.
    pub max: f64,
}

/// Summary of one group of canaries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupSummary {
    /// Canaries in the group.
    pub count: usize,
    /// Rank exposures; `None` for an empty group.
    pub rank: Option<Distribution>,
    /// Fit exposures of the canaries whose family was fitted; `None` when there are none.
    pub fit: Option<Distribution>,
}

/// Everything exposure produces.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExposureReport {
    /// Per inserted canary, in input order.
    pub canaries: Vec<CanaryExposure>,
    /// Per family, sorted by name.
    pub families: Vec<FamilyFit>,
    /// All inserted canaries.
    pub all: GroupSummary,
    /// Canaries in the training data.
    pub included: GroupSummary,
    /// Canaries left out (the baseline: their exposure is what chance gives).
    pub not_included: GroupSummary,
}

/// 1 + #{reference scores ≥ score}: the canary's rank among itself and the references.
pub fn rank_among(score: f64, reference_scores: &[f64]) -> usize {
    1 + reference_scores.iter().filter(|r| **r >= score).count()
}

/// −log₂(rank / (n+1)) for n references.
pub fn rank_exposure(rank: usize, n_references: usize) -> f64 {
    ((n_references + 1) as f64).log2() - (rank as f64).log2()
}

/// −log₂ P[S ≥ score] under `fit` (never negative).
pub fn fit_exposure(fit: &SkewNormal, score: f64) -> f64 {
    (-fit.ln_sf(score) / std::f64::consts::LN_2).max(0.0)
}

/// Exposure of every inserted canary against the references of its family; families with at
/// least `min_references_for_fit` references and non-constant scores are fitted.
pub fn compute_exposures(
    canaries: &[ExposureCanary],
    references: &[ExposureReference],
    min_references_for_fit: usize,
) -> Result<ExposureReport, AttackError> {
    let mut by_family: HashMap<&str, Vec<f64>> = HashMap::new();
    for r in references {
        if !r.score.is_finite() {
            return Err(AttackError::NonFiniteExposureScore { what: format!("reference of family {:?}", r.family), value: r.score });
        }
        by_family.entry(r.family.as_str()).or_default().push(r.score);
    }
    for c in canaries {
        if !c.score.is_finite() {
            return Err(AttackError::NonFiniteExposureScore { what: format!("canary {}", c.id), value: c.score });
        }
        if !(c.secret_space_log2 > 0.0) {
            return Err(AttackError::InvalidSecretSpace { canary: c.id, value: c.secret_space_log2 });
        }
        if !by_family.contains_key(c.family.as_str()) {
            return Err(AttackError::NoReferences { canary: c.id, family: c.family.clone() });
        }
    }
    let mut names: Vec<&str> = by_family.keys().copied().collect();
    names.sort_unstable();
    let families: Vec<FamilyFit> = names
        .par_iter()
        .map(|name| {
            let scores = &by_family[name];
            let (fit, note) = if scores.len() < min_references_for_fit {
                (None, Some(format!("{} references, fewer than the {min_references_for_fit} needed for a fit", scores.len())))
            } else {
                match SkewNormal::fit(scores) {
                    Some(fit) => (Some(fit), None),
                    None => (None, Some("reference scores are all equal: no fit".to_string())),
                }
            };
            FamilyFit {
                family: name.to_string(),
                n_references: scores.len(),
                max_rank_exposure: ((scores.len() + 1) as f64).log2(),
                fit,
                note,
            }
        })
        .collect();
    let fits: HashMap<&str, &FamilyFit> = families.iter().map(|f| (f.family.as_str(), f)).collect();
    let results: Vec<CanaryExposure> = canaries
        .par_iter()
        .map(|c| {
            let refs = &by_family[c.family.as_str()];
            let rank = rank_among(c.score, refs);
            let (exposure_fit, fit_capped) = match &fits[c.family.as_str()].fit {
                Some(fit) => {
                    let e = fit_exposure(fit, c.score);
                    (Some(e.min(c.secret_space_log2)), e > c.secret_space_log2)
                }
                None => (None, false),
            };
            CanaryExposure {
                id: c.id,
                family: c.family.clone(),
                included: c.included,
                score: c.score,
                n_references: refs.len(),
                rank,
                exposure_rank: rank_exposure(rank, refs.len()),
                exposure_fit,
                fit_capped,
            }
        })
        .collect();
    let summarise = |filter: &dyn Fn(&CanaryExposure) -> bool| {
        let group: Vec<&CanaryExposure> = results.iter().filter(|c| filter(c)).collect();
        GroupSummary {
            count: group.len(),
            rank: distribution(group.iter().map(|c| c.exposure_rank).collect()),
            fit: distribution(group.iter().filter_map(|c| c.exposure_fit).collect()),
        }
    };
    Ok(ExposureReport {
        all: summarise(&|_| true),
        included: summarise(&|c| c.included),
        not_included: summarise(&|c| !c.included),
        canaries: results,
        families,
    })
}

/// Mean, median and max of `values`; `None` when empty.
pub fn distribution(mut values: Vec<f64>) -> Option<Distribution> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 { values[n / 2] } else { 0.5 * (values[n / 2 - 1] + values[n / 2]) };
    Some(Distribution { count: n, mean: values.iter().sum::<f64>() / n as f64, median, max: values[n - 1] })
}
