//! f-DP one-run ε lower bound for the Gaussian trade-off curve.
//!
//! Mahloujifar, Melis, Chaudhuri 2024, "Auditing f-Differential Privacy in One Run"
//! (arXiv:2410.22235), Algorithm "audit_rh_with_cap", as jax_privacy's auditing module
//! implements it. The audit: m canaries, each included with probability ½; the auditor
//! guesses membership for r of them (top k₊ scores "in", bottom k₋ "out", abstains on the
//! rest) and gets v right. The null hypothesis "the mechanism is μ-GDP" (trade-off curve
//! f_μ(α) = Φ(Φ⁻¹(1−α) − μ)) is rejected at significance τ when the recursion below needs
//! more guessing mass than r/m. The bound is the largest μ rejected; ε follows at the
//! audit's δ from the analytic Gaussian mechanism (Balle & Wang 2018).
//!
//! Guessing rules (k₊, k₋) come from a grid fixed before the scores are seen; the best rule
//! is paid for by Bonferroni (each rule is tested at τ / |grid|). The *ideal* bound runs the
//! same procedure on scores simulated from the exact Gaussian mechanism with the same μ, m
//! and grid: the statistical ceiling of a one-run audit with that many canaries.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rand_distr::{Distribution, StandardNormal};
use vg_accounting::special::{norm_cdf, norm_ppf};

use crate::bounds::guesses::{best_over_grid, GridBound, GuessCounts, GuessRule, ScoreOrder};
use crate::bounds::one_run::one_run_epsilon;
use crate::AttackError;

/// Largest μ the search considers; μ = 64 is ε in the thousands at any sensible δ.
const MU_SEARCH_MAX: f64 = 64.0;
/// Absolute precision of the μ bisection.
const MU_TOLERANCE: f64 = 1e-9;

/// Gaussian trade-off curve f_μ(α) = Φ(Φ⁻¹(1−α) − μ): the smallest type-II error of any test
/// with type-I error α against a μ-GDP mechanism (Dong, Roth, Su 2019, eq. 6).
pub fn gaussian_tradeoff(mu: f64, alpha: f64) -> f64 {
    if alpha <= 0.0 {
        return 1.0;
    }
    if alpha >= 1.0 {
        return 0.0;
    }
    norm_cdf(norm_ppf(1.0 - alpha) - mu)
}

/// x ↦ Φ(Φ⁻¹(x) − μ): the inverse of the "blow-up" x ↦ 1 − f_μ(x) = Φ(Φ⁻¹(x) + μ), i.e. the
/// least mass an event must have under one neighbour to have mass x under the other.
fn blow_up_inverse(mu: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    norm_cdf(norm_ppf(x) - mu)
}

/// The recursion of Mahloujifar et al. 2024 ("audit_rh_with_cap"): positive when the counts
/// reject "μ-GDP" at `significance`, zero or negative when they are consistent with it.
/// Starting from the mass τ·v/m of correct and τ·(r−v)/m of wrong guesses, each step adds the
/// wrong-guess mass that f_μ forces; the claim is rejected when the total passes r/m.
pub fn gdp_rejection_margin(mu: f64, counts: GuessCounts, significance: f64) -> f64 {
    let m = counts.canaries as f64;
    let r_total = counts.guesses as f64;
    let mut correct_mass = significance * counts.correct as f64 / m;
    let mut wrong_mass = significance * (counts.guesses - counts.correct) as f64 / m;
    for i in (0..counts.correct).rev() {
        let wrong_next = wrong_mass.max(blow_up_inverse(mu, correct_mass));
        // Once the wrong-guess mass stops growing, neither mass changes again.
        if wrong_next == wrong_mass {
            break;
        }
        let i = i as f64;
        correct_mass = (correct_mass + i / (r_total - i) * (wrong_next - wrong_mass)).min(1.0);
        wrong_mass = wrong_next;
    }
    correct_mass + wrong_mass - r_total / m
}

fn check_significance(significance: f64) -> Result<(), AttackError> {
    if !(significance > 0.0 && significance < 1.0) {
        return Err(AttackError::SignificanceOutOfRange(significance));
    }
    Ok(())
}

/// The largest μ such that "the mechanism is μ-GDP" is rejected at `significance` by these
/// counts (0 when not even μ = 0 is rejected). Bisection; the margin decreases in μ.
pub fn mu_lower_bound(counts: GuessCounts, significance: f64) -> crate::Result<f64> {
    counts.validate()?;
    check_significance(significance)?;
    Ok(mu_lower_bound_above(counts, significance, 0.0))
}

/// As [`mu_lower_bound`], but returns `floor` at once when μ = `floor` is not rejected (a grid
/// search only needs bounds that beat the best so far). Inputs already validated.
fn mu_lower_bound_above(counts: GuessCounts, significance: f64, floor: f64) -> f64 {
    if counts.correct == 0 || gdp_rejection_margin(floor, counts, significance) <= 0.0 {
        return floor;
    }
    let mut lo = floor;
    let mut hi = (2.0 * floor).max(1.0);
    while gdp_rejection_margin(hi, counts, significance) > 0.0 {
        lo = hi;
        hi *= 2.0;
        if hi > MU_SEARCH_MAX {
            return MU_SEARCH_MAX;
        }
    }
    while hi - lo > MU_TOLERANCE {
        let mid = 0.5 * (lo + hi);
        if gdp_rejection_margin(mid, counts, significance) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// ε of a μ-GDP (Gaussian) mechanism at δ, from the analytic Gaussian (Balle & Wang 2018).
pub fn gaussian_epsilon(mu: f64, delta: f64) -> crate::Result<f64> {
    if !(mu.is_finite() && mu >= 0.0) {
        return Err(AttackError::MuOutOfRange(mu));
    }
    if !(delta > 0.0 && delta < 1.0) {
        return Err(AttackError::DeltaOutOfRange(delta));
    }
    if mu == 0.0 {
        return Ok(0.0);
    }
    vg_accounting::gaussian::epsilon_for_delta(mu, delta).map_err(|e| AttackError::GaussianConversion {
        mu,
        delta,
        message: e.to_string(),
    })
}

/// An f-DP lower bound from counts: the μ rejected and its ε at the audit's δ.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FdpBound {
    /// Largest μ such that μ-GDP is rejected.
    pub mu: f64,
    /// ε of the μ-GDP mechanism at `delta`: the ε lower bound.
    pub epsilon: f64,
    /// δ at which ε is stated.
    pub delta: f64,
    /// Confidence of the bound (1 − significance).
    pub confidence: f64,
    /// The counts it rests on.
    pub counts: GuessCounts,
}

/// f-DP one-run ε lower bound from counts (one guessing rule fixed in advance).
pub fn fdp_epsilon_lower_bound(
    counts: GuessCounts,
    delta: f64,
    confidence: f64,
) -> Result<FdpBound, AttackError> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(AttackError::ConfidenceOutOfRange(confidence));
    }
    let mu = mu_lower_bound(counts, 1.0 - confidence)?;
    let epsilon = gaussian_epsilon(mu, delta)?;
    Ok(FdpBound { mu, epsilon, delta, confidence, counts })
}

/// The default grid for m canaries: symmetric rules k₊ = k₋ = k with k = ⌊m/2⌋, ⌊m/4⌋, … down
/// to 5 (at least one rule). Fixed before the scores are seen; its size is the Bonferroni factor.
pub fn default_guess_grid(m: usize) -> Vec<GuessRule> {
    let mut grid = Vec::new();
    let mut k = m / 2;
    while k >= 5 {
        grid.push(GuessRule { k_plus: k, k_minus: k });
        k /= 2;
    }
    if grid.is_empty() {
        grid.push(GuessRule { k_plus: m / 2, k_minus: m - m / 2 });
    }
    grid
}

/// An f-DP bound from scores, with the guessing rule chosen over a grid and paid for.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FdpScoreBound {
    /// Largest μ rejected by the best rule at its corrected significance.
    pub mu: f64,
    /// ε of μ-GDP at `delta`.
    pub epsilon: f64,
    /// δ of the statement.
    pub delta: f64,
    /// Overall confidence (Bonferroni over the grid).
    pub confidence: f64,
    /// The winning rule, its counts and the correction.
    pub grid: GridBound,
}

/// f-DP one-run lower bound from per-canary scores (higher = more likely included) and the
/// inclusion truths S_i, maximised over `grid` with Bonferroni.
pub fn fdp_bound_from_scores(
    scores: &[f64],
    members: &[bool],
    grid: &[GuessRule],
    delta: f64,
    confidence: f64,
) -> Result<FdpScoreBound, AttackError> {
    if !(delta > 0.0 && delta < 1.0) {
        return Err(AttackError::DeltaOutOfRange(delta));
    }
    let order = ScoreOrder::new(scores, members)?;
    let grid_bound = best_over_grid(&order, grid, confidence, |counts, sig, floor| {
        check_significance(sig)?;
        Ok(mu_lower_bound_above(counts, sig, floor))
    })?;
    let epsilon = gaussian_epsilon(grid_bound.value, delta)?;
    Ok(FdpScoreBound { mu: grid_bound.value, epsilon, delta, confidence, grid: grid_bound })
}

/// Scores of m canaries under the exact μ-GDP Gaussian mechanism: S_i uniform, score
/// N(μ, 1) when included and N(0, 1) when not. Returns (scores, included), seeded.
pub fn simulate_gaussian_canaries(mu: f64, m: usize, seed: u64) -> (Vec<f64>, Vec<bool>) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut scores = Vec::with_capacity(m);
    let mut members = Vec::with_capacity(m);
    for _ in 0..m {
        let included: bool = rng.random();
        let noise: f64 = StandardNormal.sample(&mut rng);
        scores.push(if included { mu + noise } else { noise });
        members.push(included);
    }
    (scores, members)
}

/// The ideal bound: a bound procedure run on `trials` seeded simulations of the exact
/// Gaussian mechanism; the median is what a perfect engine would give in a typical run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IdealBound {
    /// Median ε over the trials.
    pub median_epsilon: f64,
    /// ε of each trial, in seed order.
    pub epsilons: Vec<f64>,
    /// μ of the simulated mechanism.
    pub mu: f64,
    /// First seed (trial t uses seed + t).
    pub seed: u64,
}

/// Runs `bound(scores, included) -> ε` on `trials` simulations of μ-GDP with m canaries.
pub fn ideal_bound<E: From<AttackError>>(
    mu: f64,
    m: usize,
    trials: usize,
    seed: u64,
    mut bound: impl FnMut(&[f64], &[bool]) -> Result<f64, E>,
) -> Result<IdealBound, E> {
    if !(mu.is_finite() && mu >= 0.0) {
        return Err(AttackError::MuOutOfRange(mu).into());
    }
    if m == 0 {
        return Err(AttackError::NoCanaries(m).into());
    }
    if trials == 0 {
        return Err(AttackError::NoTrials(trials).into());
    }
    let mut epsilons = Vec::with_capacity(trials);
    for t in 0..trials as u64 {
        let (scores, members) = simulate_gaussian_canaries(mu, m, seed.wrapping_add(t));
        epsilons.push(bound(&scores, &members)?);
    }
    let mut sorted = epsilons.clone();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median_epsilon = if n % 2 == 1 { sorted[n / 2] } else { 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]) };
    Ok(IdealBound { median_epsilon, epsilons, mu, seed })
}

/// The ideal f-DP bound for μ-GDP with m canaries, same grid, δ and confidence.
pub fn ideal_fdp_bound(
    mu: f64,
    m: usize,
    grid: &[GuessRule],
    delta: f64,
    confidence: f64,
    trials: usize,
    seed: u64,
) -> Result<IdealBound, AttackError> {
    ideal_bound::<AttackError>(mu, m, trials, seed, |scores, members| {
        Ok(fdp_bound_from_scores(scores, members, grid, delta, confidence)?.epsilon)
    })
}

/// One lower bound of a canary audit next to its ideal counterpart.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MethodBound {
    /// The ε lower bound from the observed scores.
    pub epsilon: f64,
    /// Median of the same procedure on simulations of the exact μ-GDP mechanism.
    pub ideal_epsilon: f64,
    /// Confidence of the bound (the grid is paid for by Bonferroni).
    pub confidence: f64,
    /// The winning guessing rule, its counts and the correction.
    pub grid: GridBound,
    /// The simulated bounds behind `ideal_epsilon`.
    pub ideal: IdealBound,
}

/// Both one-run lower bounds of a canary audit: Steinke–Nasr–Jagielski (2023) and the f-DP
/// bound of Mahloujifar et al. (2024), each with its ideal bound for the claimed μ.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CanaryAuditBounds {
    /// Steinke et al. one-run ε lower bound.
    pub one_run: MethodBound,
    /// f-DP one-run ε lower bound (Gaussian trade-off curve).
    pub fdp_one_run: MethodBound,
    /// μ rejected by the f-DP bound (before the conversion to ε).
    pub fdp_mu: f64,
    /// δ at which every ε is stated.
    pub delta: f64,
}

/// Settings of [`canary_audit_bounds`].
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryAuditSettings {
    /// μ of the mechanism as claimed (√T/σ for T steps of noise multiplier σ): what the ideal
    /// bounds simulate.
    pub claimed_mu: f64,
    /// δ of the statements.
    pub delta: f64,
    /// Confidence of each bound (0.95).
    pub confidence: f64,
    /// Guessing rules; [`default_guess_grid`] when empty.
    pub grid: Vec<GuessRule>,
    /// Simulations behind each ideal bound (median taken).
    pub ideal_trials: usize,
    /// Seed of the first simulation.
    pub seed: u64,
}

/// Steinke et al.'s one-run bound over a grid (each rule at confidence 1 − τ/|grid|).
fn one_run_over_grid(
    scores: &[f64],
    members: &[bool],
    grid: &[GuessRule],
    delta: f64,
    confidence: f64,
) -> Result<GridBound, AttackError> {
    let order = ScoreOrder::new(scores, members)?;
    best_over_grid(&order, grid, confidence, |c, sig, _| one_run_epsilon(c.canaries, c.guesses, c.correct, delta, 1.0 - sig))
}

/// Both one-run ε lower bounds from per-canary scores (higher = more likely included) and
/// inclusion truths, with the ideal bound of each for a μ-GDP mechanism with `claimed_mu`.
pub fn canary_audit_bounds(
    scores: &[f64],
    members: &[bool],
    settings: &CanaryAuditSettings,
) -> Result<CanaryAuditBounds, AttackError> {
    let m = scores.len();
    let grid = if settings.grid.is_empty() { default_guess_grid(m) } else { settings.grid.clone() };
    let (delta, confidence) = (settings.delta, settings.confidence);
    let fdp = fdp_bound_from_scores(scores, members, &grid, delta, confidence)?;
    let fdp_ideal = ideal_fdp_bound(settings.claimed_mu, m, &grid, delta, confidence, settings.ideal_trials, settings.seed)?;
    let one_run = one_run_over_grid(scores, members, &grid, delta, confidence)?;
    let one_run_ideal = ideal_bound::<AttackError>(settings.claimed_mu, m, settings.ideal_trials, settings.seed, |s, b| {
        Ok(one_run_over_grid(s, b, &grid, delta, confidence)?.value)
    })?;
    Ok(CanaryAuditBounds {
        one_run: MethodBound {
            epsilon: one_run.value,
            ideal_epsilon: one_run_ideal.median_epsilon,
            confidence,
            grid: one_run,
            ideal: one_run_ideal,
        },
        fdp_one_run: MethodBound {
            epsilon: fdp.epsilon,
            ideal_epsilon: fdp_ideal.median_epsilon,
            confidence,
            grid: fdp.grid,
            ideal: fdp_ideal,
        },
        fdp_mu: fdp.mu,
        delta,
    })
}
