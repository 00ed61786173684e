//! Guessing on randomly included canaries, shared by the one-run bound (Steinke, Nasr,
//! Jagielski 2023) and its f-DP variant (Mahloujifar, Melis, Chaudhuri 2024): a rule guesses
//! "included" for the k₊ highest scores and "excluded" for the k₋ lowest of the rest; its
//! counts (m, r = k₊ + k₋, v correct) are what both bounds test; a grid of rules is searched
//! once, each rule paid for by Bonferroni.

use serde::{Deserialize, Serialize};

use crate::{AttackError, Result};

/// Guess "included" for the `k_plus` highest scores and "excluded" for the `k_minus` lowest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuessRule {
    /// Canaries guessed included (highest scores).
    pub k_plus: usize,
    /// Canaries guessed excluded (lowest scores of the rest).
    pub k_minus: usize,
}

/// Counts of one guessing rule on the canaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuessCounts {
    /// Canaries in the audit (m), guessed or not.
    pub canaries: u64,
    /// Guesses "in" (top scores).
    pub k_plus: u64,
    /// Guesses "out" (bottom scores).
    pub k_minus: u64,
    /// Guesses made, r = k₊ + k₋.
    pub guesses: u64,
    /// Correct guesses, v.
    pub correct: u64,
}

impl GuessCounts {
    /// Checks 1 ≤ m, r ≤ m, v ≤ r.
    pub fn validate(&self) -> Result<()> {
        if self.canaries == 0 {
            return Err(AttackError::NoCanaries(0));
        }
        if self.guesses > self.canaries {
            return Err(AttackError::TooManyGuesses { guesses: self.guesses as usize, m: self.canaries as usize });
        }
        if self.correct > self.guesses {
            return Err(AttackError::TooManyCorrect { correct: self.correct as usize, guesses: self.guesses as usize });
        }
        Ok(())
    }
}

/// Canaries ordered by score both ways, ties broken by index (a rule fixed in advance), built
/// once for a whole grid of rules.
pub struct ScoreOrder<'a> {
    included: &'a [bool],
    /// (−score, index) ascending: the top guesses.
    descending: Vec<usize>,
    /// (score, index) ascending: the bottom guesses.
    ascending: Vec<usize>,
    /// Position of each canary in `descending` (a top guess of k₊ iff its position < k₊).
    rank: Vec<usize>,
}

impl<'a> ScoreOrder<'a> {
    /// Orders `scores` (higher = more likely included); refuses lengths that differ from
    /// `included`, no canaries and scores that are not finite.
    pub fn new(scores: &[f64], included: &'a [bool]) -> Result<Self> {
        if scores.len() != included.len() {
            return Err(AttackError::ScoreCountMismatch { scores: scores.len(), members: included.len() });
        }
        if scores.is_empty() {
            return Err(AttackError::NoCanaries(0));
        }
        if let Some((index, &value)) = scores.iter().enumerate().find(|(_, s)| !s.is_finite()) {
            return Err(AttackError::NonFiniteScore { index, value });
        }
        let mut descending: Vec<usize> = (0..scores.len()).collect();
        descending.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        let mut ascending: Vec<usize> = (0..scores.len()).collect();
        ascending.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
        let mut rank = vec![0; scores.len()];
        for (r, &i) in descending.iter().enumerate() {
            rank[i] = r;
        }
        Ok(ScoreOrder { included, descending, ascending, rank })
    }

    /// Counts of `rule`.
    pub fn counts(&self, rule: GuessRule) -> Result<GuessCounts> {
        let m = self.descending.len();
        if rule.k_plus + rule.k_minus > m {
            return Err(AttackError::RuleTooLarge { k_plus: rule.k_plus, k_minus: rule.k_minus, m });
        }
        let right_in = self.descending[..rule.k_plus].iter().filter(|&&i| self.included[i]).count();
        let right_out = self
            .ascending
            .iter()
            .filter(|&&i| self.rank[i] >= rule.k_plus)
            .take(rule.k_minus)
            .filter(|&&i| !self.included[i])
            .count();
        Ok(GuessCounts {
            canaries: m as u64,
            k_plus: rule.k_plus as u64,
            k_minus: rule.k_minus as u64,
            guesses: (rule.k_plus + rule.k_minus) as u64,
            correct: (right_in + right_out) as u64,
        })
    }
}

/// Counts of `rule` on these scores (higher = more likely included) and inclusion truths.
pub fn guess_counts(scores: &[f64], included: &[bool], rule: GuessRule) -> Result<GuessCounts> {
    ScoreOrder::new(scores, included)?.counts(rule)
}

/// The best rule of a grid and the bound it gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridBound {
    /// The bound's value (μ for the f-DP search, ε for bounds that give ε directly).
    pub value: f64,
    /// The rule that gave it.
    pub rule: GuessRule,
    /// Its counts.
    pub counts: GuessCounts,
    /// Rules tried (the Bonferroni factor).
    pub rules_tried: usize,
    /// Significance at which each rule was tested: (1 − confidence) / rules_tried.
    pub per_rule_significance: f64,
}

/// Applies every rule of `grid` and keeps the largest bound, each rule tested at the
/// Bonferroni-corrected significance (1 − `confidence`)/|grid|. `bound(counts,
/// per_rule_significance, best_so_far)` returns the bound of one rule (it may return
/// `best_so_far` early when it cannot beat it). The first rule wins ties.
pub fn best_over_grid(
    order: &ScoreOrder<'_>,
    grid: &[GuessRule],
    confidence: f64,
    mut bound: impl FnMut(GuessCounts, f64, f64) -> Result<f64>,
) -> Result<GridBound> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(AttackError::ConfidenceOutOfRange(confidence));
    }
    if grid.is_empty() {
        return Err(AttackError::EmptyGrid);
    }
    let per_rule_significance = (1.0 - confidence) / grid.len() as f64;
    let mut best: Option<GridBound> = None;
    for &rule in grid {
        let counts = order.counts(rule)?;
        let floor = best.as_ref().map_or(0.0, |b| b.value);
        let value = bound(counts, per_rule_significance, floor)?;
        if best.is_none() || value > floor {
            best = Some(GridBound { value, rule, counts, rules_tried: grid.len(), per_rule_significance });
        }
    }
    Ok(best.expect("grid is not empty"))
}
