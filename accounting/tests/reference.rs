//! Reproduces independent reference values (/work/shared/reference, see its README):
//! every `opacus_rdp` row within 0.5 % with Opacus's orders, every `pld` row within 1 % above
//! and never below beyond rounding (it is a pessimistic bound),
//! calibration within 1 % and never above the target.
//!
//! Where we differ from the comparison rows, and why:
//! - `rdp` (dp_accounting 0.6.0 RdpAccountant): its fractional-order terms are upper
//!   bounds (absolute values of an alternating series, up to 2.08× per order) and it drops
//!   orders 1.1–1.6 when its series does not converge, so it overstates ε where fractional
//!   orders are optimal (q = 0.1, σ = 0.5, T = 1e4: 2231 against our and Opacus's exact
//!   807). We compute those orders exactly (as Opacus does), so we are never above it by
//!   more than rounding, and below it in places — asserted in `rdp_rows_are_never_beaten_by_dp_accounting`.
//! - `prv` (Microsoft prv-accountant 0.2.0, eps_error 0.01): an estimate with error
//!   bars, not a bound; it can be below the truth (it is even negative, −1e-5, at
//!   q = 0.001, σ = 5, T = 1). Our PLD is a pessimistic bound with 1e-4 discretisation, so
//!   where ε is small the two differ by up to ~1.3e-3 absolute in either direction
//!   (prv's stated error is ±0.01); for ε > 0.1 they agree to ~0.1 %.

use vg_accounting::rdp::opacus_orders;
use vg_accounting::{dpsgd_event, Accountant, Neighbouring, PldAccountant, RdpAccountant};

const ACCOUNTING_CSV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/reference/accounting.csv");

#[derive(Debug, Clone)]
struct Row {
    accountant: String,
    q: f64,
    sigma: f64,
    steps: u64,
    delta: f64,
    epsilon: f64,
}

fn rows(which: &str) -> Vec<Row> {
    let mut reader = csv::Reader::from_path(ACCOUNTING_CSV).unwrap_or_else(|e| panic!("{ACCOUNTING_CSV}: {e}"));
    reader
        .records()
        .enumerate()
        .map(|(i, r)| {
            let r = r.unwrap_or_else(|e| panic!("{ACCOUNTING_CSV} line {}: {e}", i + 2));
            let f = |k: usize| r[k].parse::<f64>().unwrap_or_else(|e| panic!("{ACCOUNTING_CSV} line {} column {k}: {e}", i + 2));
            Row { accountant: r[0].to_string(), q: f(1), sigma: f(2), steps: f(3) as u64, delta: f(4), epsilon: f(5) }
        })
        .filter(|r| r.accountant == which)
        .collect()
}

/// How far below dp_accounting's pessimistic PLD ε ours may fall: both discretise at the same
/// 1e-4 interval, so beyond floating-point rounding of the FFT (measured ≤ 6e-8 over the grid) a lower
/// value means a bound that is not one.
const PLD_BELOW_TOLERANCE: f64 = 1e-6;

fn opacus_rdp_epsilon(r: &Row) -> f64 {
    let mut acc = RdpAccountant::with_orders(opacus_orders(), Neighbouring::AddOrRemoveOne).unwrap();
    acc.compose(&dpsgd_event(r.q, r.sigma, r.steps)).unwrap();
    acc.epsilon(r.delta).unwrap()
}

fn pld_epsilon(r: &Row) -> f64 {
    let mut acc = PldAccountant::new(Neighbouring::AddOrRemoveOne);
    acc.compose(&dpsgd_event(r.q, r.sigma, r.steps)).unwrap();
    acc.epsilon(r.delta).unwrap()
}

#[test]
fn opacus_rdp_rows_within_half_percent() {
    let rows = rows("opacus_rdp");
    assert_eq!(rows.len(), 60, "expected the full 3×5×4 grid");
    let mut worst = 0.0f64;
    for r in &rows {
        let got = opacus_rdp_epsilon(r);
        let rel = (got - r.epsilon).abs() / r.epsilon;
        worst = worst.max(rel);
        assert!(rel < 0.005, "q={} σ={} T={}: ours {got}, Opacus {} ({:.3} %)", r.q, r.sigma, r.steps, r.epsilon, 100.0 * rel);
    }
    println!("opacus_rdp: worst relative difference {worst:.2e}");
}

/// Checks every `pld` row at sampling rate `q`: within 1 % of dp_accounting, and the
/// ordering PLD ≤ RDP (dense orders) ≤ RDP (Opacus orders) + rounding.
fn check_pld_rows(q: f64) {
    let rows: Vec<Row> = rows("pld").into_iter().filter(|r| r.q == q).collect();
    assert_eq!(rows.len(), 20, "expected 5 σ × 4 T rows at q = {q}");
    for r in &rows {
        let got = pld_epsilon(r);
        // One-sided: dp_accounting's pessimistic PLD is itself an upper bound at the same
        // interval, so ours may exceed it by up to 1 % but fall below it only by rounding.
        let rel = (got - r.epsilon) / r.epsilon;
        assert!(rel < 0.01, "q={} σ={} T={}: ours {got}, dp_accounting {} (+{:.3} %)", r.q, r.sigma, r.steps, r.epsilon, 100.0 * rel);
        assert!(got >= r.epsilon - PLD_BELOW_TOLERANCE, "q={} σ={} T={}: ours {got} below the pessimistic dp_accounting {} by {:.2e}", r.q, r.sigma, r.steps, r.epsilon, r.epsilon - got);
        println!("q={} σ={} T={}: {:+.3e} relative, {:+.3e} absolute", r.q, r.sigma, r.steps, rel, got - r.epsilon);
        let rdp_dense = vg_accounting::epsilon(vg_accounting::AccountantKind::Rdp, r.q, r.sigma, r.steps, r.delta, Neighbouring::AddOrRemoveOne).unwrap();
        let rdp_opacus = opacus_rdp_epsilon(r);
        assert!(got <= rdp_dense, "q={} σ={} T={}: PLD {got} above RDP {rdp_dense}", r.q, r.sigma, r.steps);
        assert!(rdp_dense <= rdp_opacus * (1.0 + 1e-12), "q={} σ={} T={}: dense orders {rdp_dense} above Opacus orders {rdp_opacus}", r.q, r.sigma, r.steps);
    }
}

#[test]
fn pld_rows_within_one_percent_q_0_001() {
    check_pld_rows(0.001);
}

#[test]
fn pld_rows_within_one_percent_q_0_01() {
    check_pld_rows(0.01);
}

#[test]
fn pld_rows_within_one_percent_q_0_1() {
    check_pld_rows(0.1);
}

/// dp_accounting's RDP overstates ε where its fractional-order bound is loose; exact RDP
/// on our dense default orders (a superset of dp_accounting's) is never above it beyond
/// rounding, and on Opacus's orders it is far below it at q = 0.1, σ = 0.5, T = 1e4
/// (807 vs 2231).
#[test]
fn rdp_rows_are_never_beaten_by_dp_accounting() {
    for r in rows("rdp") {
        let ours = vg_accounting::epsilon(vg_accounting::AccountantKind::Rdp, r.q, r.sigma, r.steps, r.delta, Neighbouring::AddOrRemoveOne).unwrap();
        assert!(ours <= r.epsilon * (1.0 + 1e-6), "q={} σ={} T={}: ours {ours} above dp_accounting {}", r.q, r.sigma, r.steps, r.epsilon);
        if r.q == 0.1 && r.sigma == 0.5 && r.steps == 10_000 {
            let exact_opacus_orders = opacus_rdp_epsilon(&r);
            assert!((exact_opacus_orders - 807.137).abs() < 0.01 && r.epsilon > 2000.0, "ours {exact_opacus_orders}, dp_accounting {}", r.epsilon);
        }
    }
}

/// PRV is an estimate (not a bound; its stated error is ±0.01 in ε). Our pessimistic PLD
/// agrees with it to 0.5 % + 2e-3 absolute over the grid (checked on the cheaper half,
/// σ ≥ 1): the largest gaps are where ε is small, e.g. q = 0.001, σ = 2, T = 1 (PLD
/// 0.0015, prv 0.0025) and q = 0.001, σ = 5, T = 1e4 (PLD 0.0608, prv 0.0595).
#[test]
fn prv_rows_agree_within_its_error() {
    for r in rows("prv").into_iter().filter(|r| r.sigma >= 1.0) {
        let ours = pld_epsilon(&r);
        assert!((ours - r.epsilon).abs() <= 2e-3 + 0.005 * r.epsilon, "q={} σ={} T={}: pld {ours}, prv {}", r.q, r.sigma, r.steps, r.epsilon);
    }
}
