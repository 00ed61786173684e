//! ROC metrics of a membership score: the exact ROC curve (every distinct score is a threshold,
//! ties move together), AUC by the trapezoid rule, TPR at a fixed low FPR, balanced accuracy,
//! optional bootstrap intervals, and warnings when a figure rests on too few samples.
//!
//! Conventions follow `shared/reference/lira/CONVENTIONS.md` (= sklearn's `roc_curve` with
//! `drop_intermediate=False`): thresholds are +∞ then the distinct scores in decreasing order,
//! and "member iff score ≥ t".

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::error::{AttackError, Result};

/// An exact ROC curve: point i uses threshold `thresholds[i]` and predicts member iff score ≥ it.
#[derive(Clone, Debug, PartialEq)]
pub struct Roc {
    /// +∞ first, then the distinct scores in decreasing order.
    pub thresholds: Vec<f64>,
    /// Non-members with score ≥ threshold, per point.
    pub false_positives: Vec<u64>,
    /// Members with score ≥ threshold, per point.
    pub true_positives: Vec<u64>,
    /// Number of members.
    pub positives: u64,
    /// Number of non-members.
    pub negatives: u64,
}

/// How "TPR at FPR x" picks its ROC point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FprRule {
    /// Largest TPR among points with FPR < x (what the LiRA code reports).
    Strict,
    /// Largest TPR among points with FPR ≤ x.
    AtMost,
}

impl Roc {
    /// Builds the ROC of `scores` (higher = member) against `members`. Refuses NaN scores and
    /// label sets without both classes.
    pub fn from_scores(scores: &[f64], members: &[bool]) -> Result<Roc> {
        if scores.len() != members.len() {
            return Err(AttackError::Shape(format!("{} scores but {} membership labels", scores.len(), members.len())));
        }
        if let Some(i) = scores.iter().position(|s| s.is_nan()) {
            return Err(AttackError::BadScore(format!("score of row {i} is NaN")));
        }
        let positives = members.iter().filter(|&&m| m).count() as u64;
        let negatives = members.len() as u64 - positives;
        if positives == 0 || negatives == 0 {
            return Err(AttackError::NotEnoughData(format!(
                "a ROC curve needs members and non-members ({positives} members, {negatives} non-members)"
            )));
        }
        let mut order: Vec<(f64, bool)> = scores.iter().copied().zip(members.iter().copied()).collect();
        order.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        let mut thresholds = vec![f64::INFINITY];
        let mut false_positives = vec![0u64];
        let mut true_positives = vec![0u64];
        let (mut fp, mut tp) = (0u64, 0u64);
        let mut i = 0;
        while i < order.len() {
            let t = order[i].0;
            // All records with the same score cross the threshold together.
            while i < order.len() && order[i].0 == t {
                if order[i].1 {
                    tp += 1;
                } else {
                    fp += 1;
                }
                i += 1;
            }
            thresholds.push(t);
            false_positives.push(fp);
            true_positives.push(tp);
        }
        Ok(Roc { thresholds, false_positives, true_positives, positives, negatives })
    }

    /// Number of points on the curve.
    pub fn len(&self) -> usize {
        self.thresholds.len()
    }

    /// Never true: a curve always has the (0, 0) point.
    pub fn is_empty(&self) -> bool {
        self.thresholds.is_empty()
    }

    /// False-positive rate of point i.
    pub fn fpr(&self, i: usize) -> f64 {
        self.false_positives[i] as f64 / self.negatives as f64
    }

    /// True-positive rate of point i.
    pub fn tpr(&self, i: usize) -> f64 {
        self.true_positives[i] as f64 / self.positives as f64
    }

    /// Area under the curve by the trapezoid rule (= Mann–Whitney U/(P·N), ties counted ½),
    /// accumulated in exact integers and divided once.
    pub fn auc(&self) -> f64 {
        let mut twice_area: u128 = 0;
        for i in 1..self.len() {
            let dfp = (self.false_positives[i] - self.false_positives[i - 1]) as u128;
            twice_area += dfp * (self.true_positives[i] + self.true_positives[i - 1]) as u128;
        }
        twice_area as f64 / (2.0 * self.positives as f64 * self.negatives as f64)
    }

    /// TPR at FPR `x` by `rule`, without the sample-size check (see [`Roc::tpr_at_fpr_checked`]).
    pub fn tpr_at_fpr(&self, x: f64, rule: FprRule) -> f64 {
        let mut best = 0.0_f64;
        for i in 0..self.len() {
            let f = self.fpr(i);
            let ok = match rule {
                FprRule::Strict => f < x,
                FprRule::AtMost => f <= x,
            };
            if ok {
                best = best.max(self.tpr(i));
            }
        }
        best
    }

    /// TPR at FPR `x` (strict rule), or `None` when there are fewer than 1/x non-members, so that
    /// FPR x cannot even be resolved.
    pub fn tpr_at_fpr_checked(&self, x: f64) -> Option<f64> {
        if (self.negatives as f64) * x < 1.0 - 1e-9 {
            None
        } else {
            Some(self.tpr_at_fpr(x, FprRule::Strict))
        }
    }

    /// Best balanced accuracy ½(TPR + TNR) over all thresholds.
    pub fn balanced_accuracy(&self) -> f64 {
        (0..self.len()).map(|i| 0.5 * (self.tpr(i) + 1.0 - self.fpr(i))).fold(0.0, f64::max)
    }
}

/// Percentile bootstrap intervals of the headline metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BootstrapIntervals {
    /// Resamples drawn.
    pub resamples: usize,
    /// Coverage of each interval (e.g. 0.95).
    pub level: f64,
    /// AUC interval [lo, hi].
    pub auc: [f64; 2],
    /// TPR at FPR 1e-3 interval, when that figure is available.
    #[serde(rename = "tpr_at_fpr_1e-3")]
    pub tpr_at_fpr_1e_3: Option<[f64; 2]>,
    /// TPR at FPR 1e-2 interval, when available.
    #[serde(rename = "tpr_at_fpr_1e-2")]
    pub tpr_at_fpr_1e_2: Option<[f64; 2]>,
}

/// Headline metrics of one attack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttackMetrics {
    /// Area under the ROC curve.
    pub auc: f64,
    /// TPR at FPR 0.1 % (strict), `null` with fewer than 1000 non-members.
    #[serde(rename = "tpr_at_fpr_1e-3")]
    pub tpr_at_fpr_1e_3: Option<f64>,
    /// TPR at FPR 1 % (strict), `null` with fewer than 100 non-members.
    #[serde(rename = "tpr_at_fpr_1e-2")]
    pub tpr_at_fpr_1e_2: Option<f64>,
    /// Best balanced accuracy over thresholds.
    pub balanced_accuracy: f64,
    /// Members evaluated.
    pub members: u64,
    /// Non-members evaluated.
    pub non_members: u64,
    /// Bootstrap intervals, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<BootstrapIntervals>,
    /// Figures that rest on too few samples to mean much.
    pub warnings: Vec<String>,
}

/// Below this many members or non-members the AUC itself is flagged as noisy.
const FEW_SAMPLES: u64 = 50;

/// Metrics of `scores` (higher = member) against `members`; bootstrap intervals with
/// `bootstrap = Some((resamples, seed))`.
pub fn attack_metrics(scores: &[f64], members: &[bool], bootstrap: Option<(usize, u64)>) -> Result<AttackMetrics> {
    let roc = Roc::from_scores(scores, members)?;
    let mut warnings = Vec::new();
    if roc.positives < FEW_SAMPLES || roc.negatives < FEW_SAMPLES {
        warnings.push(format!(
            "only {} members and {} non-members: AUC and balanced accuracy are rough",
            roc.positives, roc.negatives
        ));
    }
    for (x, label) in [(1e-3, "0.1 %"), (1e-2, "1 %")] {
        let expected_fp = roc.negatives as f64 * x;
        if expected_fp < 1.0 - 1e-9 {
            warnings.push(format!(
                "TPR at FPR {label} not reported: {} non-members cannot resolve that rate (need ≥ {})",
                roc.negatives,
                (1.0 / x).round()
            ));
        } else if expected_fp < 10.0 {
            warnings.push(format!(
                "TPR at FPR {label} rests on fewer than {} false positives ({} non-members)",
                expected_fp.ceil(),
                roc.negatives
            ));
        }
    }
    let bootstrap = match bootstrap {
        Some((resamples, seed)) => Some(bootstrap_intervals(scores, members, resamples, seed, &roc)?),
        None => None,
    };
    Ok(AttackMetrics {
        auc: roc.auc(),
        tpr_at_fpr_1e_3: roc.tpr_at_fpr_checked(1e-3),
        tpr_at_fpr_1e_2: roc.tpr_at_fpr_checked(1e-2),
        balanced_accuracy: roc.balanced_accuracy(),
        members: roc.positives,
        non_members: roc.negatives,
        bootstrap,
        warnings,
    })
}

fn percentile_interval(mut v: Vec<f64>, level: f64) -> [f64; 2] {
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| v[((p * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
    [at((1.0 - level) / 2.0), at(1.0 - (1.0 - level) / 2.0)]
}

/// 95 % percentile bootstrap over records (resampled with replacement, seeded).
fn bootstrap_intervals(scores: &[f64], members: &[bool], resamples: usize, seed: u64, full: &Roc) -> Result<BootstrapIntervals> {
    if resamples < 20 {
        return Err(AttackError::invalid("bootstrap resamples", resamples, "must be ≥ 20 for a 95 % interval"));
    }
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let n = scores.len();
    let (mut aucs, mut t3, mut t2) = (Vec::new(), Vec::new(), Vec::new());
    let (mut s, mut m) = (vec![0.0; n], vec![false; n]);
    for _ in 0..resamples {
        for k in 0..n {
            let i = rng.random_range(0..n);
            s[k] = scores[i];
            m[k] = members[i];
        }
        // A resample with one class only has no ROC; it is skipped (rare unless n is tiny).
        let Ok(roc) = Roc::from_scores(&s, &m) else { continue };
        aucs.push(roc.auc());
        t3.push(roc.tpr_at_fpr(1e-3, FprRule::Strict));
        t2.push(roc.tpr_at_fpr(1e-2, FprRule::Strict));
    }
    if aucs.len() < resamples / 2 {
        return Err(AttackError::NotEnoughData(format!("only {} of {resamples} bootstrap resamples had both classes", aucs.len())));
    }
    let level = 0.95;
    Ok(BootstrapIntervals {
        resamples: aucs.len(),
        level,
        auc: percentile_interval(aucs, level),
        tpr_at_fpr_1e_3: full.tpr_at_fpr_checked(1e-3).map(|_| percentile_interval(t3, level)),
        tpr_at_fpr_1e_2: full.tpr_at_fpr_checked(1e-2).map(|_| percentile_interval(t2, level)),
    })
}
