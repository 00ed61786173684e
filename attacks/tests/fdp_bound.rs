//! Tests of the f-DP one-run bound (attacks/src/bounds/fdp.rs).
//!
//! Known values come from an independent Python implementation of the same recursion
//! (standard library only: `statistics.NormalDist` for Φ and Φ⁻¹, bisection to 1e-12), e.g.
//! `mu_lb(1000, 100, 90, 0.05) = 0.6025036074388481`; analytic-Gaussian ε values from
//! δ(ε) = Φ(−ε/μ + μ/2) − e^ε Φ(−ε/μ − μ/2) (Balle & Wang 2018, Theorem 8) solved by bisection
//! in Python with Φ(x) = ½ erfc(−x/√2) (`math.erfc`).

use vg_attacks::bounds::fdp::{
    canary_audit_bounds, default_guess_grid, fdp_bound_from_scores, fdp_epsilon_lower_bound, gaussian_epsilon,
    gaussian_tradeoff, gdp_rejection_margin, ideal_fdp_bound, mu_lower_bound, simulate_gaussian_canaries,
    CanaryAuditSettings,
};
use vg_attacks::bounds::{guess_counts, GuessCounts, GuessRule};
use vg_attacks::AttackError;

/// Counts (m, r, v); the f-DP recursion does not look at how r splits into k₊ and k₋.
fn counts(canaries: u64, guesses: u64, correct: u64) -> GuessCounts {
    GuessCounts { canaries, k_plus: guesses, k_minus: 0, guesses, correct }
}

#[test]
fn gaussian_tradeoff_known_values() {
    // f_1(0.05) = Φ(1.6449 − 1), f_2(0.01) = Φ(2.3263 − 2).
    assert!((gaussian_tradeoff(1.0, 0.05) - 0.740_488_977_158_555_6).abs() < 1e-12);
    assert!((gaussian_tradeoff(2.0, 0.01) - 0.627_919_414_564_505_5).abs() < 1e-12);
    // μ = 0 is perfect privacy: f(α) = 1 − α.
    for alpha in [0.01, 0.3, 0.9] {
        assert!((gaussian_tradeoff(0.0, alpha) - (1.0 - alpha)).abs() < 1e-12);
    }
    assert_eq!(gaussian_tradeoff(3.0, 0.0), 1.0);
    assert_eq!(gaussian_tradeoff(3.0, 1.0), 0.0);
}

#[test]
fn mu_bound_matches_independent_implementation() {
    let cases = [
        (1000, 100, 90, 0.05, 0.602_503_607_438_848_1),
        (1000, 1000, 750, 0.05, 0.460_625_230_723_053_4),
        (10000, 200, 200, 0.05, 1.226_876_092_830_025_3),
        (100, 10, 10, 0.05, 0.416_410_054_875_086_64),
        (1000, 500, 400, 0.005, 0.401_202_463_458_503_2),
        (10000, 1000, 950, 0.01, 0.780_114_962_904_008_3),
    ];
    for (m, r, v, tau, expected) in cases {
        let mu = mu_lower_bound(counts(m, r, v), tau).unwrap();
        assert!((mu - expected).abs() < 1e-6, "m={m} r={r} v={v} τ={tau}: got {mu}, expected {expected}");
    }
}

#[test]
fn at_mu_zero_the_recursion_is_never_bolder_than_the_exact_binomial_test() {
    // Smallest v rejected at μ = 0 (τ = 0.05): f-DP recursion vs P[Bin(r, ½) ≥ v] ≤ 0.05.
    // Python reference: (m, r) = (100, 20): 15 vs 15; (1000, 100): 60 vs 59; (1000, 1000): 528 vs 527.
    for (m, r, fdp_first, binomial_first) in [(100, 20, 15, 15), (1000, 100, 60, 59), (1000, 1000, 528, 527)] {
        let first = (0..=r).find(|&v| gdp_rejection_margin(0.0, counts(m, r, v), 0.05) > 0.0).unwrap();
        assert_eq!(first, fdp_first, "m={m} r={r}");
        assert!(first >= binomial_first);
    }
}

#[test]
fn margin_decreases_in_mu_and_bound_grows_with_evidence() {
    let c = counts(5000, 800, 700);
    let mut last = f64::INFINITY;
    for step in 0..60 {
        let margin = gdp_rejection_margin(step as f64 * 0.05, c, 0.05);
        assert!(margin <= last + 1e-15, "margin rose at μ = {}", step as f64 * 0.05);
        last = margin;
    }
    // More correct guesses, or less confidence demanded, never lower the bound.
    let mut previous = 0.0;
    for v in (400..=800).step_by(25) {
        let mu = mu_lower_bound(counts(5000, 800, v), 0.05).unwrap();
        assert!(mu >= previous - 1e-9, "v = {v}: {mu} < {previous}");
        previous = mu;
    }
    assert!(previous > 1.0, "all 800 guesses right must give a sizeable bound, got {previous}");
    let strict = mu_lower_bound(counts(5000, 800, 700), 0.001).unwrap();
    let loose = mu_lower_bound(counts(5000, 800, 700), 0.1).unwrap();
    assert!(strict < loose);
}

#[test]
fn coin_flip_accuracy_gives_zero() {
    assert_eq!(mu_lower_bound(counts(1000, 1000, 500), 0.05).unwrap(), 0.0);
    assert_eq!(mu_lower_bound(counts(1000, 0, 0), 0.05).unwrap(), 0.0);
    let bound = fdp_epsilon_lower_bound(counts(1000, 400, 200), 1e-5, 0.95).unwrap();
    assert_eq!(bound.epsilon, 0.0);
}

#[test]
fn epsilon_is_the_analytic_gaussian_of_mu() {
    // Reference ε(μ, δ) from the Balle–Wang δ(ε) equation, solved independently.
    for (mu, delta, expected) in [
        (0.5, 1e-5, 1.993_091_404_415_120_4),
        (1.0, 1e-5, 4.377_178_095_681_224),
        (2.0, 1e-10, 14.274_089_645_078_005),
    ] {
        let eps = gaussian_epsilon(mu, delta).unwrap();
        assert!((eps - expected).abs() < 1e-6 * expected, "μ={mu} δ={delta}: {eps} vs {expected}");
    }
    let b = fdp_epsilon_lower_bound(counts(10000, 200, 200), 1e-5, 0.95).unwrap();
    assert!((b.mu - 1.226_876_092_830_025_3).abs() < 1e-6);
    assert!((b.epsilon - gaussian_epsilon(b.mu, 1e-5).unwrap()).abs() < 1e-12);
    assert_eq!(b.confidence, 0.95);
}

#[test]
fn impossible_parameters_are_refused_with_their_values() {
    let msg = |e: AttackError| e.to_string();
    assert!(msg(mu_lower_bound(counts(10, 11, 0), 0.05).unwrap_err()).contains("r = 11"));
    assert!(msg(mu_lower_bound(counts(10, 5, 6), 0.05).unwrap_err()).contains("v = 6"));
    assert!(msg(mu_lower_bound(counts(0, 0, 0), 0.05).unwrap_err()).contains("m = 0"));
    assert!(msg(mu_lower_bound(counts(10, 5, 5), 1.5).unwrap_err()).contains("1.5"));
    assert!(msg(fdp_epsilon_lower_bound(counts(10, 5, 5), 0.0, 0.95).unwrap_err()).contains("delta = 0"));
    assert!(msg(fdp_epsilon_lower_bound(counts(10, 5, 5), 1e-5, 1.0).unwrap_err()).contains("confidence = 1"));
    let grid = [GuessRule { k_plus: 1, k_minus: 1 }];
    let err = fdp_bound_from_scores(&[0.0, f64::NAN], &[true, false], &grid, 1e-5, 0.95).unwrap_err();
    assert!(msg(err).contains("canary 1 is NaN"));
    let err = fdp_bound_from_scores(&[0.0], &[true, false], &grid, 1e-5, 0.95).unwrap_err();
    assert!(msg(err).contains("1 scores but 2"));
    let big = [GuessRule { k_plus: 2, k_minus: 1 }];
    let err = fdp_bound_from_scores(&[0.0, 1.0], &[true, false], &big, 1e-5, 0.95).unwrap_err();
    assert!(msg(err).contains("k+ = 2, k- = 1"));
}

#[test]
fn guess_rule_counts_top_and_bottom() {
    let scores = [0.1, 5.0, -3.0, 2.0, 0.0, 4.0];
    let members = [false, true, false, false, true, true];
    // Top 2 (5.0, 4.0) both members; bottom 2 (−3.0, 0.0): one non-member right.
    let c = guess_counts(&scores, &members, GuessRule { k_plus: 2, k_minus: 2 }).unwrap();
    assert_eq!((c.canaries, c.k_plus, c.k_minus, c.guesses, c.correct), (6, 2, 2, 4, 3));
    let c = guess_counts(&scores, &members, GuessRule { k_plus: 3, k_minus: 0 }).unwrap();
    assert_eq!(c, counts(6, 3, 2));
}

#[test]
fn default_grid_is_halving_and_paid_for() {
    let grid = default_guess_grid(1000);
    let ks: Vec<usize> = grid.iter().map(|r| r.k_plus).collect();
    assert_eq!(ks, vec![500, 250, 125, 62, 31, 15, 7]);
    assert!(grid.iter().all(|r| r.k_plus == r.k_minus));
    let (scores, members) = simulate_gaussian_canaries(3.0, 1000, 7);
    let b = fdp_bound_from_scores(&scores, &members, &grid, 1e-5, 0.95).unwrap();
    assert_eq!(b.grid.rules_tried, 7);
    assert!((b.grid.per_rule_significance - 0.05 / 7.0).abs() < 1e-15);
    // The reported μ is the bound of the chosen rule at the corrected significance.
    let again = mu_lower_bound(b.grid.counts, b.grid.per_rule_significance).unwrap();
    assert!((again - b.mu).abs() < 1e-8);
    assert!(b.mu > 1.0 && b.mu < 3.0, "μ = 3 with 1000 canaries: bound {}", b.mu);
}

#[test]
fn sound_over_seeded_simulations_of_the_exact_mechanism() {
    // 200 runs of the exact μ-GDP mechanism: the bound may exceed the true μ in at most 5 %
    // of them (95 % confidence); with Bonferroni over the grid it should almost never.
    let mu_true = 1.0;
    let m = 2000;
    let grid = default_guess_grid(m);
    let mut above = 0;
    let mut bounds = Vec::new();
    for seed in 0..200 {
        let (scores, members) = simulate_gaussian_canaries(mu_true, m, 10_000 + seed);
        let b = fdp_bound_from_scores(&scores, &members, &grid, 1e-5, 0.95).unwrap();
        if b.mu > mu_true {
            above += 1;
        }
        bounds.push(b.mu);
    }
    assert!(above <= 10, "{above} of 200 bounds exceeded the true μ = {mu_true}");
    // ... and the bound is not trivially small: a one-run audit with 2000 canaries sees most of μ.
    bounds.sort_by(f64::total_cmp);
    let median = bounds[100];
    assert!(median > 0.4 * mu_true, "median bound {median} too far below μ = {mu_true}");
}

#[test]
fn null_scores_give_small_bounds() {
    let grid = default_guess_grid(1000);
    let mut nonzero = 0;
    for seed in 0..100 {
        let (scores, members) = simulate_gaussian_canaries(0.0, 1000, seed);
        let b = fdp_bound_from_scores(&scores, &members, &grid, 1e-5, 0.95).unwrap();
        if b.mu > 0.0 {
            nonzero += 1;
        }
    }
    assert!(nonzero <= 5, "{nonzero} of 100 null audits gave a positive bound");
}

#[test]
fn ideal_bound_grows_with_canaries_and_is_reproducible() {
    let mu = 1.0;
    let small = ideal_fdp_bound(mu, 500, &default_guess_grid(500), 1e-5, 0.95, 5, 1).unwrap();
    let large = ideal_fdp_bound(mu, 20000, &default_guess_grid(20000), 1e-5, 0.95, 5, 1).unwrap();
    assert!(large.median_epsilon > small.median_epsilon);
    assert!(large.median_epsilon < gaussian_epsilon(mu, 1e-5).unwrap());
    let again = ideal_fdp_bound(mu, 500, &default_guess_grid(500), 1e-5, 0.95, 5, 1).unwrap();
    assert_eq!(small, again);
    assert_eq!(small.epsilons.len(), 5);
    let mut sorted = small.epsilons.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(small.median_epsilon, sorted[2]);
}

#[test]
fn canary_audit_bounds_reproduce_their_ideal_on_the_ideal_scores() {
    // Scores drawn exactly as the ideal simulation draws them (same μ, m, seed) give exactly
    // the ideal bound: the fidelity ratio is 1 by construction.
    let (mu, m, seed) = (1.2, 4000, 99);
    let (scores, members) = simulate_gaussian_canaries(mu, m, seed);
    let settings = CanaryAuditSettings { claimed_mu: mu, delta: 1e-5, confidence: 0.95, grid: Vec::new(), ideal_trials: 1, seed };
    let b = canary_audit_bounds(&scores, &members, &settings).unwrap();
    assert_eq!(b.fdp_one_run.epsilon, b.fdp_one_run.ideal_epsilon);
    assert_eq!(b.one_run.epsilon, b.one_run.ideal_epsilon);
    let truth = gaussian_epsilon(mu, 1e-5).unwrap();
    assert!(b.fdp_one_run.epsilon > 0.0 && b.fdp_one_run.epsilon < truth);
    assert!(b.one_run.epsilon > 0.0 && b.one_run.epsilon < truth);
    // At this μ and m the f-DP analysis is the tighter of the two (Mahloujifar et al. 2024, Fig. 1).
    assert!(b.fdp_one_run.epsilon > b.one_run.epsilon, "f-DP {} vs one-run {}", b.fdp_one_run.epsilon, b.one_run.epsilon);
    assert_eq!(b.fdp_one_run.grid.rules_tried, default_guess_grid(m).len());
    assert!((gaussian_epsilon(b.fdp_mu, 1e-5).unwrap() - b.fdp_one_run.epsilon).abs() < 1e-9);
}
