//! Truncated Poisson batches: the PLD of the truncated subsampled Gaussian reproduces
//! dp_accounting 0.6.0 (`/work/shared/reference/accounting_truncated.csv`, value
//! discretisation 1e-3, see its README) within 1 % and never more than 0.5 % below it, is
//! never below plain Poisson, equals it when no batch can overflow, and is refused by RDP.

use vg_accounting::{
    epsilon_with, truncated_dpsgd_event, Accountant, AccountantKind, Error, Neighbouring, PldAccountant, RdpAccountant, Sampler,
};

const TRUNCATED_CSV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/reference/accounting_truncated.csv");
const NBR: Neighbouring = Neighbouring::AddOrRemoveOne;

struct Row {
    n: u64,
    q: f64,
    max_batch: u64,
    sigma: f64,
    steps: u64,
    delta: f64,
    eps_truncated: f64,
    eps_poisson: f64,
}

fn rows() -> Vec<Row> {
    let mut reader = csv::Reader::from_path(TRUNCATED_CSV).unwrap_or_else(|e| panic!("{TRUNCATED_CSV}: {e}"));
    reader
        .records()
        .enumerate()
        .map(|(i, r)| {
            let r = r.unwrap_or_else(|e| panic!("{TRUNCATED_CSV} line {}: {e}", i + 2));
            let f = |k: usize| r[k].parse::<f64>().unwrap_or_else(|e| panic!("{TRUNCATED_CSV} line {} column {k}: {e}", i + 2));
            Row {
                n: f(0) as u64,
                q: f(1),
                max_batch: f(2) as u64,
                sigma: f(3),
                steps: f(4) as u64,
                delta: f(5),
                eps_truncated: f(6),
                eps_poisson: f(7),
            }
        })
        .collect()
}

/// ε of a row with the reference's own discretisation interval (1e-3).
fn truncated_epsilon(r: &Row, sigma: f64) -> f64 {
    let mut acc = PldAccountant::with_interval(1e-3, NBR).unwrap();
    acc.compose(&truncated_dpsgd_event(r.n, r.q, r.max_batch, sigma, r.steps)).unwrap();
    acc.epsilon(r.delta).unwrap()
}

fn check_rows(sigma: f64) {
    let rows: Vec<Row> = rows().into_iter().filter(|r| r.sigma == sigma).collect();
    assert_eq!(rows.len(), 8, "expected 2 q × 2 max batch × 2 T rows at σ = {sigma}");
    for r in &rows {
        let got = truncated_epsilon(r, r.sigma);
        let rel = (got - r.eps_truncated) / r.eps_truncated;
        let at = format!("N={} q={} m={} σ={} T={}", r.n, r.q, r.max_batch, r.sigma, r.steps);
        assert!(rel < 0.01, "{at}: ours {got}, dp_accounting {} (+{:.3} %)", r.eps_truncated, 100.0 * rel);
        assert!(rel > -0.005, "{at}: ours {got} below dp_accounting {} ({:.3} %)", r.eps_truncated, 100.0 * rel);
        // Truncation never helps: never below plain Poisson (the reference's own column).
        assert!(got >= r.eps_poisson * (1.0 - 0.005), "{at}: truncated {got} below Poisson {}", r.eps_poisson);
        println!("{at}: ours {got:.6}, dp_accounting {:.6} ({:+.4} %)", r.eps_truncated, 100.0 * rel);
    }
}

#[test]
fn truncated_rows_match_dp_accounting_sigma_2() {
    check_rows(2.0);
}

#[test]
fn truncated_rows_match_dp_accounting_sigma_0_8() {
    check_rows(0.8);
}

/// The old union bound added T·P[Bin(N, q) > m] to δ and kept the Poisson ε: with a tight
/// maximum batch the true cost is far larger (the reference's 23.6 against 5.9).
#[test]
fn tight_truncation_costs_far_more_than_a_delta_term() {
    let sampler = Sampler::new(1000, Some(35)).unwrap();
    let truncated = epsilon_with(AccountantKind::Pld, sampler, 0.032, 0.8, 200, 1e-6, NBR).unwrap();
    let poisson = epsilon_with(AccountantKind::Pld, Sampler::Poisson, 0.032, 0.8, 200, 1e-6, NBR).unwrap();
    assert!(truncated > 3.0 * poisson, "truncated {truncated}, Poisson {poisson}");
}

#[test]
fn batches_that_cannot_overflow_are_plain_poisson() {
    let (q, sigma, steps, delta) = (0.05, 1.0, 50, 1e-5);
    let poisson = epsilon_with(AccountantKind::Pld, Sampler::Poisson, q, sigma, steps, delta, NBR).unwrap();
    let never = epsilon_with(AccountantKind::Pld, Sampler::new(100, Some(100)).unwrap(), q, sigma, steps, delta, NBR).unwrap();
    assert_eq!(never, poisson);
    // Loosening the maximum batch can only lower ε, towards Poisson.
    let tight = epsilon_with(AccountantKind::Pld, Sampler::new(100, Some(8)).unwrap(), q, sigma, steps, delta, NBR).unwrap();
    let loose = epsilon_with(AccountantKind::Pld, Sampler::new(100, Some(12)).unwrap(), q, sigma, steps, delta, NBR).unwrap();
    assert!(tight > loose && loose > poisson, "m=8 {tight}, m=12 {loose}, Poisson {poisson}");
}

#[test]
fn rdp_refuses_truncated_batches() {
    let mut acc = RdpAccountant::new(NBR);
    match acc.compose(&truncated_dpsgd_event(1000, 0.03, 40, 1.0, 10)) {
        Err(Error::UnsupportedEvent { accountant: "rdp", reason, .. }) => assert!(reason.contains("pld"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(acc.ledger().is_empty());
    let err = vg_accounting::calibrate_noise_multiplier_with(AccountantKind::Rdp, Sampler::new(1000, Some(40)).unwrap(), 0.03, 10, 2.0, 1e-6, NBR)
        .unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn calibration_with_truncation_meets_the_target() {
    let sampler = Sampler::new(1000, Some(40)).unwrap();
    let (q, steps, target, delta) = (0.03, 100, 3.0, 1e-6);
    let sigma = vg_accounting::calibrate_noise_multiplier_with(AccountantKind::Pld, sampler, q, steps, target, delta, NBR).unwrap();
    let eps = epsilon_with(AccountantKind::Pld, sampler, q, sigma, steps, delta, NBR).unwrap();
    assert!(eps <= target && eps > 0.97 * target, "σ {sigma} gives {eps}");
    let poisson_sigma = vg_accounting::calibrate_noise_multiplier(AccountantKind::Pld, q, steps, target, delta, NBR).unwrap();
    assert!(sigma > poisson_sigma, "truncated σ {sigma} vs Poisson σ {poisson_sigma}");
    assert!(Sampler::new(0, Some(4)).is_err() && Sampler::new(10, Some(0)).is_err());
}
