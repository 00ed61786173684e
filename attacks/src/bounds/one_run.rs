//! The one-run audit of Steinke, Nasr and Jagielski, "Privacy Auditing with One (1) Training
//! Run" (NeurIPS 2023, arXiv:2305.08846).
//!
//! m canaries are each included independently with probability ½ (S_i = ±1). The auditor guesses
//! "in" for the k₊ highest scores and "out" for the k₋ lowest, abstaining otherwise: r = k₊ + k₋
//! guesses, v correct. Under (ε, δ)-DP, with q = e^ε/(1 + e^ε) (Theorem 5.2 / Corollary 5.4,
//! Appendix D code), p(ε, δ) = P[Bin(r, q) ≥ v] + 2mδ·max_{i=1..v} P[v−i ≤ Bin(r, q) < v] / i
//! is a valid p-value, and ε_LB = sup{ε ≥ 0 : p(ε, δ) < β}. The number of guesses is part of
//! the test: k₊/k₋ chosen by looking at the outcome must be paid for (Bonferroni over the grid
//! tried) or chosen on a held-out half of the canaries.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::bounds::guesses::{best_over_grid, guess_counts, GuessCounts, GuessRule, ScoreOrder};
use crate::{AttackError, Result};
use vg_accounting::special::{binomial_ln_pmf, binomial_upper_tail};

fn check_counts(m: u64, r: u64, v: u64, delta: f64) -> Result<()> {
    if v > r {
        return Err(AttackError::InconsistentCounts(format!("{v} correct guesses out of {r} guesses")));
    }
    if r > m {
        return Err(AttackError::InconsistentCounts(format!("{r} guesses on only {m} canaries")));
    }
    if !(0.0..1.0).contains(&delta) {
        return Err(AttackError::invalid("delta", delta, "must lie in [0, 1)"));
    }
    Ok(())
}

/// The one-run p-value p(ε, δ) of observing ≥ v correct among r guesses on m canaries
/// (the paper's Appendix D `p_value_DP_audit`), capped at 1.
pub fn one_run_p_value(m: u64, r: u64, v: u64, epsilon: f64, delta: f64) -> Result<f64> {
    check_counts(m, r, v, delta)?;
    if !(epsilon >= 0.0) || epsilon.is_infinite() {
        return Err(AttackError::invalid("epsilon", epsilon, "must be finite and ≥ 0"));
    }
    // q = 1/(1+e^{−ε}); logs kept separately so q near 1 keeps 1 − q's digits.
    let ln_1p_exp = (-epsilon).exp().ln_1p();
    let ln_q = -ln_1p_exp;
    let ln_1mq = -epsilon - ln_1p_exp;
    let q = ln_q.exp();
    let beta = binomial_upper_tail(r, v, q);
    let mut alpha = 0.0_f64;
    if delta > 0.0 && v > 0 {
        // Running sum P[v−i ≤ Bin < v] never exceeds P[Bin < v] = 1 − β, so once
        // (1 − β)/(i + 1) < alpha no later i can raise alpha.
        let below = (1.0 - beta) * (1.0 + 1e-12) + 1e-300;
        let mut sum = 0.0_f64;
        for i in 1..=v {
            sum += binomial_ln_pmf(r, v - i, ln_q, ln_1mq).exp();
            alpha = alpha.max(sum / i as f64);
            if below / ((i + 1) as f64) < alpha {
                break;
            }
        }
    }
    Ok((beta + 2.0 * m as f64 * delta * alpha).min(1.0))
}

fn check_confidence(confidence: f64) -> Result<f64> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(AttackError::invalid("confidence", confidence, "must lie in (0, 1)"));
    }
    Ok(1.0 - confidence)
}

/// ε lower bound of the one-run audit at `confidence` (= 1 − β): the root of p(ε, δ) = β found
/// by bisection to 1e-12 (the p-value increases with ε). 0 when there are no guesses, no
/// correct guesses, or p(0, δ) ≥ β already.
pub fn one_run_epsilon(m: u64, r: u64, v: u64, delta: f64, confidence: f64) -> Result<f64> {
    check_counts(m, r, v, delta)?;
    let beta = check_confidence(confidence)?;
    if r == 0 || v == 0 || one_run_p_value(m, r, v, 0.0, delta)? >= beta {
        return Ok(0.0);
    }
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    while one_run_p_value(m, r, v, hi, delta)? < beta {
        lo = hi;
        hi *= 2.0;
        if hi > 1e4 {
            return Err(AttackError::NotEnoughData(format!("one-run p-value stays below {beta} up to ε = {hi}")));
        }
    }
    while hi - lo > 1e-12 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if one_run_p_value(m, r, v, mid, delta)? < beta {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// The paper's own search (Appendix D `get_eps_audit`): widen [0, 1] upward in steps of 1 while
/// p < β, then 30 bisection steps, returning the low end (so it under-reports by < 2⁻³⁰).
pub fn one_run_epsilon_appendix_d(m: u64, r: u64, v: u64, delta: f64, confidence: f64) -> Result<f64> {
    check_counts(m, r, v, delta)?;
    let beta = check_confidence(confidence)?;
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    while one_run_p_value(m, r, v, hi, delta)? < beta {
        hi += 1.0;
        if hi > 1e4 {
            return Err(AttackError::NotEnoughData(format!("one-run p-value stays below {beta} up to ε = {hi}")));
        }
    }
    for _ in 0..30 {
        let mid = 0.5 * (lo + hi);
        if one_run_p_value(m, r, v, mid, delta)? < beta {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// Guess "in" for the `k_plus` highest scores and "out" for the `k_minus` lowest of the rest
/// (ties broken by index), and count correct guesses.
pub fn one_run_guesses(scores: &[f64], included: &[bool], k_plus: usize, k_minus: usize) -> Result<GuessCounts> {
    guess_counts(scores, included, GuessRule { k_plus, k_minus })
}

/// How k₊ and k₋ are chosen, and how the choice is paid for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GuessChoice {
    /// Fixed in advance: no correction.
    Fixed {
        /// Guesses "in".
        k_plus: usize,
        /// Guesses "out".
        k_minus: usize,
    },
    /// Every (k₊, k₋) fraction pair of the grid is tried, each at β / (pairs tried); the best is kept.
    Bonferroni {
        /// (k₊/m, k₋/m) pairs.
        grid: Vec<(f64, f64)>,
    },
    /// The best grid pair on a random half of the canaries is applied once to the other half.
    HeldOut {
        /// (k₊/m, k₋/m) pairs tried on the selection half.
        grid: Vec<(f64, f64)>,
        /// Seed of the split.
        seed: u64,
    },
}

impl GuessChoice {
    /// Default grid: k₊ ∈ {1, 2, 5, 10, 20, 30, 50} % of m, with k₋ = 0 or k₋ = k₊ (14 looks).
    pub fn default_grid() -> Vec<(f64, f64)> {
        let mut g = Vec::new();
        for f in [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5] {
            g.push((f, 0.0));
            g.push((f, f));
        }
        g
    }
}

impl Default for GuessChoice {
    fn default() -> Self {
        GuessChoice::Bonferroni { grid: Self::default_grid() }
    }
}

/// A one-run ε lower bound with its counts and how k was chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OneRunBound {
    /// ε lower bound (root of p = β to 1e-12).
    pub epsilon: f64,
    /// Overall confidence 1 − β of the claim (after the correction).
    pub confidence: f64,
    /// δ accounted for.
    pub delta: f64,
    /// Counts of the chosen rule (m is the canaries the final test ran on).
    pub counts: GuessCounts,
    /// Number of (k₊, k₋) pairs the reported test paid for (1 for fixed or held-out).
    pub choices_paid: usize,
    /// "fixed", "bonferroni" or "held_out".
    pub selection: String,
}

fn ks_from_fractions(m: usize, fp: f64, fm: f64) -> Result<(usize, usize)> {
    if !(0.0..=1.0).contains(&fp) || !(0.0..=1.0).contains(&fm) || fp + fm > 1.0 {
        return Err(AttackError::invalid("k fraction pair", format!("({fp}, {fm})"), "fractions in [0, 1] summing to ≤ 1"));
    }
    let kp = (fp * m as f64).round() as usize;
    let km = ((fm * m as f64).round() as usize).min(m - kp.min(m));
    Ok((kp.min(m), km))
}

/// The best (k₊, k₋) fraction pair of `grid` (in the grid's order, first wins ties): (k₊/m,
/// k₋/m, ε, counts). With `bonferroni` each pair is tested at 1 − (1 − `confidence`)/|grid|,
/// otherwise at `confidence` (a selection whose test runs on other data).
fn best_on_grid(
    scores: &[f64],
    included: &[bool],
    grid: &[(f64, f64)],
    delta: f64,
    confidence: f64,
    bonferroni: bool,
) -> Result<(f64, f64, f64, GuessCounts)> {
    if grid.is_empty() {
        return Err(AttackError::NotEnoughData("empty (k₊, k₋) grid".into()));
    }
    let m = scores.len();
    let rules = grid.iter().map(|&(fp, fm)| ks_from_fractions(m, fp, fm).map(|(k_plus, k_minus)| GuessRule { k_plus, k_minus })).collect::<Result<Vec<_>>>()?;
    let order = ScoreOrder::new(scores, included)?;
    let best = best_over_grid(&order, &rules, confidence, |c, sig, _| {
        one_run_epsilon(c.canaries, c.guesses, c.correct, delta, if bonferroni { 1.0 - sig } else { confidence })
    })?;
    let at = rules.iter().position(|r| *r == best.rule).expect("the best rule is on the grid");
    Ok((grid[at].0, grid[at].1, best.value, best.counts))
}

/// The one-run ε lower bound from canary scores (higher = included) and inclusion truth S_i.
pub fn one_run_from_scores(
    scores: &[f64],
    included: &[bool],
    delta: f64,
    confidence: f64,
    choice: &GuessChoice,
) -> Result<OneRunBound> {
    check_confidence(confidence)?;
    check_counts(scores.len() as u64, 0, 0, delta)?;
    if scores.is_empty() {
        return Err(AttackError::NotEnoughData("the one-run audit needs at least one canary".into()));
    }
    match choice {
        GuessChoice::Fixed { k_plus, k_minus } => {
            let c = one_run_guesses(scores, included, *k_plus, *k_minus)?;
            Ok(OneRunBound {
                epsilon: one_run_epsilon(c.canaries, c.guesses, c.correct, delta, confidence)?,
                confidence,
                delta,
                counts: c,
                choices_paid: 1,
                selection: "fixed".into(),
            })
        }
        GuessChoice::Bonferroni { grid } => {
            let (_, _, epsilon, counts) = best_on_grid(scores, included, grid, delta, confidence, true)?;
            Ok(OneRunBound { epsilon, confidence, delta, counts, choices_paid: grid.len(), selection: "bonferroni".into() })
        }
        GuessChoice::HeldOut { grid, seed } => {
            if scores.len() < 2 {
                return Err(AttackError::NotEnoughData("a held-out split needs at least two canaries".into()));
            }
            let mut order: Vec<usize> = (0..scores.len()).collect();
            order.shuffle(&mut ChaCha20Rng::seed_from_u64(*seed));
            let (sel, eval) = order.split_at(order.len() / 2);
            let take = |idx: &[usize]| -> (Vec<f64>, Vec<bool>) {
                (idx.iter().map(|&i| scores[i]).collect(), idx.iter().map(|&i| included[i]).collect())
            };
            let (s1, i1) = take(sel);
            let (s2, i2) = take(eval);
            let (fp, fm, _, _) = best_on_grid(&s1, &i1, grid, delta, confidence, false)?;
            let (kp, km) = ks_from_fractions(s2.len(), fp, fm)?;
            let c = one_run_guesses(&s2, &i2, kp, km)?;
            // The selection half is fixed data for the test on the other half, whose m is its own size.
            Ok(OneRunBound {
                epsilon: one_run_epsilon(c.canaries, c.guesses, c.correct, delta, confidence)?,
                confidence,
                delta,
                counts: c,
                choices_paid: 1,
                selection: "held_out".into(),
            })
        }
    }
}
