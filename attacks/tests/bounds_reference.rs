//! Clopper–Pearson and one-run bounds against `shared/reference/lira/{eps_lb_cases,
//! one_run_cases, one_run_p_values}.csv` (scipy values), plus the special functions against
//! exact binomial sums.

use crate::common;

use common::{lira_ref, Csv};
use vg_attacks::bounds::{
    clopper_pearson_epsilon, clopper_pearson_lower, clopper_pearson_upper, one_run_epsilon, one_run_epsilon_appendix_d,
    one_run_p_value, ErrorCounts,
};
use vg_accounting::special::{binomial_upper_tail, inverse_regularized_incomplete_beta, ln_choose, log_norm_cdf, regularized_incomplete_beta};

#[test]
fn clopper_pearson_cases() {
    let t = Csv::read(&lira_ref("eps_lb_cases.csv"));
    let n = t.by_name();
    for r in &t.rows {
        let u = |k: &str| r[n[k]].parse::<u64>().unwrap();
        let f = |k: &str| r[n[k]].parse::<f64>().unwrap();
        let counts = ErrorCounts { false_positives: u("fp"), negatives: u("n_neg"), false_negatives: u("fn"), positives: u("n_pos") };
        let alpha = f("alpha");
        let b = clopper_pearson_epsilon(counts, f("delta"), 1.0 - alpha).unwrap();
        assert!((b.epsilon - f("eps_lb")).abs() < 1e-6, "{r:?}: ε {} vs {}", b.epsilon, f("eps_lb"));
        assert!((b.fpr_upper - f("fpr_hi")).abs() < 1e-12, "{r:?}: fpr_hi {}", b.fpr_upper);
        assert!((b.fnr_upper - f("fnr_hi")).abs() < 1e-12, "{r:?}: fnr_hi {}", b.fnr_upper);
        let lo = clopper_pearson_lower(u("fp"), u("n_neg"), alpha / 2.0).unwrap();
        assert!((lo - f("fpr_lo")).abs() < 1e-12, "{r:?}: fpr_lo {lo}");
        let lo = clopper_pearson_lower(u("fn"), u("n_pos"), alpha / 2.0).unwrap();
        assert!((lo - f("fnr_lo")).abs() < 1e-12, "{r:?}: fnr_lo {lo}");
    }
}

#[test]
fn one_run_cases() {
    let t = Csv::read(&lira_ref("one_run_cases.csv"));
    let n = t.by_name();
    for r in &t.rows {
        let u = |k: &str| r[n[k]].parse::<u64>().unwrap();
        let f = |k: &str| r[n[k]].parse::<f64>().unwrap();
        let conf = 1.0 - f("beta");
        let precise = one_run_epsilon(u("m"), u("r"), u("v"), f("delta"), conf).unwrap();
        let appendix = one_run_epsilon_appendix_d(u("m"), u("r"), u("v"), f("delta"), conf).unwrap();
        assert!((precise - f("eps_precise")).abs() < 1e-9, "{r:?}: precise {precise}");
        assert!((appendix - f("eps_appendix_d")).abs() < 1e-6, "{r:?}: appendix-D {appendix}");
        // The root really is a root: p crosses β there.
        if precise > 0.0 {
            let p = one_run_p_value(u("m"), u("r"), u("v"), precise, f("delta")).unwrap();
            assert!((p - f("beta")).abs() < 1e-9, "{r:?}: p(ε_LB) = {p}");
        }
    }
}

#[test]
fn one_run_p_values() {
    let t = Csv::read(&lira_ref("one_run_p_values.csv"));
    let n = t.by_name();
    for r in &t.rows {
        let u = |k: &str| r[n[k]].parse::<u64>().unwrap();
        let f = |k: &str| r[n[k]].parse::<f64>().unwrap();
        let p = one_run_p_value(u("m"), u("r"), u("v"), f("eps"), f("delta")).unwrap();
        let want = f("p_value");
        assert!((p - want).abs() < 1e-6 && (p - want).abs() <= 1e-9 * want.max(1e-3), "{r:?}: p {p} vs {want}");
    }
}

#[test]
fn one_run_edge_cases_and_refusals() {
    assert_eq!(one_run_epsilon(1000, 0, 0, 1e-5, 0.95).unwrap(), 0.0, "no guesses → ε = 0");
    assert_eq!(one_run_epsilon(1000, 10, 0, 0.0, 0.95).unwrap(), 0.0, "no correct guesses → ε = 0");
    assert!(one_run_epsilon(10, 11, 5, 0.0, 0.95).is_err(), "r > m");
    assert!(one_run_epsilon(100, 10, 11, 0.0, 0.95).is_err(), "v > r");
    assert!(one_run_epsilon(100, 10, 5, 1.0, 0.95).is_err(), "δ = 1");
    assert!(one_run_epsilon(100, 10, 5, 0.0, 1.0).is_err(), "confidence 1");
    // All-correct guesses: p(ε) = q^r exactly, so ε_LB = logit(β^{1/r}).
    let q: f64 = 0.05_f64.powf(1.0 / 40.0);
    let want = (q / (1.0 - q)).ln();
    assert!((one_run_epsilon(500, 40, 40, 0.0, 0.95).unwrap() - want).abs() < 1e-10);
    // δ only weakens the bound, and more canaries with the same counts weaken a δ > 0 bound.
    let a = one_run_epsilon(1000, 100, 90, 0.0, 0.95).unwrap();
    let b = one_run_epsilon(1000, 100, 90, 1e-4, 0.95).unwrap();
    let c = one_run_epsilon(100000, 100, 90, 1e-4, 0.95).unwrap();
    assert!(a > b && b > c, "{a} > {b} > {c}");
}

#[test]
fn clopper_pearson_refusals_and_directions() {
    let c = |fp, n, fnn, p| ErrorCounts { false_positives: fp, negatives: n, false_negatives: fnn, positives: p };
    assert!(clopper_pearson_epsilon(c(5, 4, 0, 10), 0.0, 0.95).is_err(), "fp > n");
    assert!(clopper_pearson_epsilon(c(0, 10, 0, 10), 1.0, 0.95).is_err(), "δ = 1");
    assert!(clopper_pearson_epsilon(c(0, 0, 0, 10), 0.0, 0.95).is_err(), "no negatives");
    // The bound is symmetric in the two directions.
    let a = clopper_pearson_epsilon(c(3, 1000, 600, 1000), 1e-5, 0.95).unwrap().epsilon;
    let b = clopper_pearson_epsilon(c(600, 1000, 3, 1000), 1e-5, 0.95).unwrap().epsilon;
    assert!((a - b).abs() < 1e-12 && a > 1.0, "{a} vs {b}");
    // Chance-level counts give 0.
    assert_eq!(clopper_pearson_epsilon(c(500, 1000, 500, 1000), 0.0, 0.95).unwrap().epsilon, 0.0);
    assert_eq!(clopper_pearson_upper(10, 10, 0.025).unwrap(), 1.0);
}

/// Exact binomial sums with ln C(n, k) by direct summation of logs (independent of ln Γ).
fn exact_upper_tail(n: u64, k: u64, p: f64) -> f64 {
    let ln_c = |j: u64| -> f64 { (1..=j).map(|i| ((n - j + i) as f64).ln() - (i as f64).ln()).sum() };
    (k..=n).map(|j| (ln_c(j) + j as f64 * p.ln() + (n - j) as f64 * (1.0 - p).ln()).exp()).sum()
}

#[test]
fn incomplete_beta_matches_exact_binomial_sums() {
    for &(n, k, p) in &[(10u64, 3u64, 0.2), (100, 50, 0.5), (1000, 10, 0.004), (1000, 990, 0.995), (500, 1, 0.3), (2000, 700, 0.33)] {
        let exact = exact_upper_tail(n, k, p);
        let ours = binomial_upper_tail(n, k, p);
        let via_beta = regularized_incomplete_beta(k as f64, (n - k + 1) as f64, p);
        assert!((ours - exact).abs() <= 1e-12 * exact.max(1e-300) + 1e-15, "n={n} k={k} p={p}: {ours} vs {exact}");
        assert_eq!(ours, via_beta);
        // The inverse returns p (where the tail is not saturated at 0 or 1 in f64).
        if via_beta > 1.0 - 1e-9 || via_beta < 1e-300 {
            continue;
        }
        let back = inverse_regularized_incomplete_beta(k as f64, (n - k + 1) as f64, via_beta);
        assert!((back - p).abs() < 1e-10 * p.max(1e-3), "inverse at n={n} k={k}: {back} vs {p}");
    }
    assert!((ln_choose(50, 25) - 32.470_556_505_811_99).abs() < 1e-10);
}

#[test]
fn normal_log_cdf_in_both_tails() {
    // 50-digit values of ln Φ(z) (mpmath: log(ncdf(z)), dps = 50).
    let cases = [
        (0.0, -0.693_147_180_559_945_3),
        (-1.0, -1.841_021_645_009_263_5),
        (2.0, -0.023_012_909_328_963_488),
        (-10.0, -53.231_285_150_512_47),
        (-25.0, -316.639_408_008_020_26),
        (-31.0, -484.853_963_627_179_3),
        (-40.0, -804.608_442_013_753_8),
        (10.0, -7.619_853_024_160_526e-24),
    ];
    for (z, want) in cases {
        let got = log_norm_cdf(z);
        assert!((got - want).abs() <= 1e-12 * want.abs().max(1e-30), "log Φ({z}) = {got}, want {want}");
    }
}
