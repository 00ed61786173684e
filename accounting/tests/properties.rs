//! Properties every accountant must have: agreement with the closed-form Gaussian when
//! nothing is subsampled, monotonicity in σ, T and q, composition laws, refusal of
//! impossible parameters, and state untouched by a refused event.

use vg_accounting::gaussian;
use vg_accounting::{
    dpsgd_event, epsilon, group_privacy, Accountant, AccountantKind, DpEvent, Error, Neighbouring, PldAccountant,
    RdpAccountant,
};

const NBR: Neighbouring = Neighbouring::AddOrRemoveOne;

#[test]
fn q_one_matches_the_analytic_gaussian() {
    for &(sigma, steps) in &[(1.0, 1u64), (2.0, 100), (5.0, 1000), (0.8, 10)] {
        let mu = gaussian::mu_for_steps(sigma, steps);
        let exact = gaussian::epsilon_for_delta(mu, 1e-5).unwrap();
        let pld = epsilon(AccountantKind::Pld, 1.0, sigma, steps, 1e-5, NBR).unwrap();
        let rdp = epsilon(AccountantKind::Rdp, 1.0, sigma, steps, 1e-5, NBR).unwrap();
        // PLD is an upper bound within its discretisation; RDP an upper bound, looser.
        assert!(pld >= exact - 1e-9 && pld <= exact + 2e-4, "σ={sigma} T={steps}: pld {pld}, exact {exact}");
        assert!(rdp >= exact && rdp <= exact * 1.3 + 1e-3, "σ={sigma} T={steps}: rdp {rdp}, exact {exact}");
    }
    // δ(ε) too: the PLD accountant's δ bounds the exact one from above, closely.
    let mut acc = PldAccountant::new(NBR);
    acc.compose(&dpsgd_event(1.0, 2.0, 50)).unwrap();
    let exact = gaussian::delta_for_epsilon(gaussian::mu_for_steps(2.0, 50), 3.0).unwrap();
    let got = acc.delta(3.0).unwrap();
    assert!(got >= exact && got <= exact * 1.01, "pld δ {got}, exact {exact}");
}

#[test]
fn analytic_gaussian_known_values() {
    // δ(0) = Φ(μ/2) − Φ(−μ/2) = 2Φ(1/2) − 1 at μ = 1.
    let d = gaussian::delta_for_epsilon(1.0, 0.0).unwrap();
    assert!((d - 0.382_924_922_548_026_2).abs() < 1e-15, "{d}");
    let eps = gaussian::epsilon_for_delta(1.0, 1e-5).unwrap();
    let back = gaussian::delta_for_epsilon(1.0, eps).unwrap();
    assert!(back <= 1e-5 && back > 1e-5 * (1.0 - 1e-9), "δ(ε(1e-5)) = {back}");
    assert_eq!(gaussian::epsilon_for_delta(0.0, 1e-5).unwrap(), 0.0);
    assert_eq!(gaussian::epsilon_for_delta(f64::INFINITY, 1e-5).unwrap(), f64::INFINITY);
    let big = gaussian::epsilon_for_delta(50.0, 1e-10).unwrap();
    assert!(big.is_finite() && big > 1000.0, "{big}");
    assert!(gaussian::epsilon_for_delta(-1.0, 1e-5).is_err());
}

#[test]
fn epsilon_is_monotone_in_sigma_steps_and_q() {
    for kind in [AccountantKind::Pld, AccountantKind::Rdp] {
        let e = |q: f64, s: f64, t: u64| epsilon(kind, q, s, t, 1e-5, NBR).unwrap();
        let sigmas = [0.7, 1.0, 1.5, 3.0];
        for w in sigmas.windows(2) {
            assert!(e(0.01, w[0], 500) > e(0.01, w[1], 500), "{kind}: ε not falling in σ at {w:?}");
        }
        for w in [10u64, 100, 1000, 5000].windows(2) {
            assert!(e(0.01, 1.0, w[0]) < e(0.01, 1.0, w[1]), "{kind}: ε not rising in T at {w:?}");
        }
        for w in [0.001, 0.01, 0.05, 0.2].windows(2) {
            assert!(e(w[0], 1.0, 200) < e(w[1], 1.0, 200), "{kind}: ε not rising in q at {w:?}");
        }
    }
}

#[test]
fn self_composition_equals_separate_compositions() {
    let one = dpsgd_event(0.02, 1.2, 1);
    let t = 12u64;
    let mut rdp_once = RdpAccountant::new(NBR);
    rdp_once.compose(&dpsgd_event(0.02, 1.2, t)).unwrap();
    let mut rdp_steps = RdpAccountant::new(NBR);
    let mut pld_once = PldAccountant::new(NBR);
    pld_once.compose(&dpsgd_event(0.02, 1.2, t)).unwrap();
    let mut pld_steps = PldAccountant::new(NBR);
    for _ in 0..t {
        rdp_steps.compose(&one).unwrap();
        pld_steps.compose(&one).unwrap();
    }
    let (a, b) = (rdp_once.epsilon(1e-6).unwrap(), rdp_steps.epsilon(1e-6).unwrap());
    assert!((a - b).abs() <= 1e-12 * a, "rdp: {a} vs {b}");
    let (a, b) = (pld_once.epsilon(1e-6).unwrap(), pld_steps.epsilon(1e-6).unwrap());
    assert!((a - b).abs() <= 1e-6 * a, "pld: {a} vs {b}");
    assert_eq!(pld_steps.ledger().len(), t as usize);
    // Composed([e, e]) is SelfComposed(e, 2).
    let mut composed = PldAccountant::new(NBR);
    composed.compose(&DpEvent::Composed { events: vec![one.clone(), one.clone()] }).unwrap();
    let mut twice = PldAccountant::new(NBR);
    twice.compose(&DpEvent::SelfComposed { event: Box::new(one), count: 2 }).unwrap();
    let (a, b) = (composed.epsilon(1e-6).unwrap(), twice.epsilon(1e-6).unwrap());
    assert!((a - b).abs() <= 1e-6 * a, "{a} vs {b}");
}

#[test]
fn invalid_parameters_are_refused_by_name() {
    let cases: [(f64, f64, u64, f64, &str); 7] = [
        (0.0, 1.0, 10, 1e-5, "sampling_rate"),
        (1.5, 1.0, 10, 1e-5, "sampling_rate"),
        (0.01, 0.0, 10, 1e-5, "noise_multiplier"),
        (0.01, -1.0, 10, 1e-5, "noise_multiplier"),
        (0.01, 1.0, 0, 1e-5, "steps"),
        (0.01, 1.0, 10, 0.0, "delta"),
        (0.01, 1.0, 10, 1.0, "delta"),
    ];
    for kind in [AccountantKind::Pld, AccountantKind::Rdp] {
        for &(q, s, t, d, name) in &cases {
            match epsilon(kind, q, s, t, d, NBR) {
                Err(e @ Error::InvalidParameter { .. }) => assert!(e.to_string().contains(name), "{e}"),
                other => panic!("{kind} q={q} σ={s} T={t} δ={d}: expected refusal naming {name}, got {other:?}"),
            }
        }
        let err = vg_accounting::calibrate_noise_multiplier(kind, 0.01, 100, 0.0, 1e-5, NBR).unwrap_err();
        assert!(err.to_string().contains("epsilon"), "{err}");
    }
    assert!(group_privacy(1.0, 1e-5, 0).is_err());
}

#[test]
fn refused_event_leaves_state_untouched() {
    let mut acc = RdpAccountant::new(Neighbouring::ReplaceOne);
    acc.compose(&dpsgd_event(1.0, 2.0, 10)).unwrap();
    let before = acc.epsilon(1e-5).unwrap();
    // Replace-one with subsampling has no exact RDP here: refused, nothing composed.
    let bad = DpEvent::Composed { events: vec![dpsgd_event(1.0, 2.0, 5), dpsgd_event(0.1, 2.0, 5)] };
    assert!(!acc.supports(&bad));
    assert!(matches!(acc.compose(&bad), Err(Error::UnsupportedEvent { .. })));
    assert_eq!(acc.epsilon(1e-5).unwrap(), before);
    assert_eq!(acc.ledger().len(), 1);
    let mut pld = PldAccountant::new(NBR);
    let nested = DpEvent::PoissonSampled { sampling_probability: 0.1, event: Box::new(DpEvent::NoOp) };
    assert!(pld.compose(&nested).is_err());
    assert!(pld.ledger().is_empty() && pld.epsilon(1e-5).unwrap() == 0.0);
}

#[test]
fn neighbouring_relations() {
    let e = |k, n| epsilon(k, 0.01, 1.0, 300, 1e-5, n).unwrap();
    for kind in [AccountantKind::Pld, AccountantKind::Rdp] {
        assert_eq!(e(kind, Neighbouring::ZeroOut), e(kind, NBR));
    }
    // Replace-one without subsampling is a Gaussian of sensitivity 2: μ = 2√T/σ.
    let exact = gaussian::epsilon_for_delta(2.0 * gaussian::mu_for_steps(4.0, 20), 1e-5).unwrap();
    let pld = epsilon(AccountantKind::Pld, 1.0, 4.0, 20, 1e-5, Neighbouring::ReplaceOne).unwrap();
    assert!(pld >= exact - 1e-9 && pld <= exact + 2e-4, "{pld} vs {exact}");
    // With subsampling, replace-one sits between add/remove and add/remove at σ/2.
    let rep = e(AccountantKind::Pld, Neighbouring::ReplaceOne);
    let add_remove = e(AccountantKind::Pld, NBR);
    let half_sigma = epsilon(AccountantKind::Pld, 0.01, 0.5, 300, 1e-5, NBR).unwrap();
    assert!(add_remove < rep && rep < half_sigma, "{add_remove} < {rep} < {half_sigma}");
}

#[test]
fn trivial_events() {
    for mut acc in [vg_accounting::new_accountant(AccountantKind::Pld, NBR), vg_accounting::new_accountant(AccountantKind::Rdp, NBR)] {
        acc.compose(&DpEvent::NoOp).unwrap();
        assert_eq!(acc.epsilon(1e-5).unwrap(), 0.0);
        acc.compose(&dpsgd_event(0.0, 1.0, 100)).unwrap();
        assert_eq!(acc.epsilon(1e-5).unwrap(), 0.0);
        acc.compose(&DpEvent::NonPrivate).unwrap();
        assert_eq!(acc.epsilon(1e-5).unwrap(), f64::INFINITY);
        assert_eq!(acc.delta(10.0).unwrap(), 1.0);
    }
}

#[test]
fn events_and_names_serialise() {
    let e = dpsgd_event(0.01, 1.1, 1000);
    let json = serde_json::to_string(&e).unwrap();
    assert_eq!(
        json,
        r#"{"kind":"self_composed","event":{"kind":"poisson_sampled","sampling_probability":0.01,"event":{"kind":"gaussian","noise_multiplier":1.1}},"count":1000}"#
    );
    assert_eq!(serde_json::from_str::<DpEvent>(&json).unwrap(), e);
    assert_eq!(serde_json::to_string(&Neighbouring::ZeroOut).unwrap(), r#""zero-out""#);
    assert_eq!(serde_json::to_string(&AccountantKind::Pld).unwrap(), r#""pld""#);
    assert_eq!("replace-one".parse::<Neighbouring>().unwrap(), Neighbouring::ReplaceOne);
    assert!("rdp2".parse::<AccountantKind>().is_err());
}

#[test]
fn group_privacy_of_two() {
    let (e, d) = group_privacy(1.0, 1e-5, 2).unwrap();
    assert_eq!(e, 2.0);
    assert!((d - 2.0 * 1f64.exp() * 1e-5).abs() < 1e-18);
}

#[test]
fn max_steps_is_the_last_step_within_target() {
    for kind in [AccountantKind::Rdp, AccountantKind::Pld] {
        let t = vg_accounting::max_steps(kind, 0.01, 1.0, 1.0, 1e-5, NBR).unwrap();
        assert!(t > 0);
        assert!(epsilon(kind, 0.01, 1.0, t, 1e-5, NBR).unwrap() <= 1.0);
        assert!(epsilon(kind, 0.01, 1.0, t + 1, 1e-5, NBR).unwrap() > 1.0, "{kind}: {t}");
    }
}

#[test]
fn delta_of_epsilon_inverts_epsilon_of_delta() {
    for kind in [AccountantKind::Pld, AccountantKind::Rdp] {
        let mut acc = vg_accounting::new_accountant(kind, NBR);
        acc.compose(&dpsgd_event(0.02, 0.9, 400)).unwrap();
        for &target in &[1e-3, 1e-6, 1e-9] {
            let eps = acc.epsilon(target).unwrap();
            let back = acc.delta(eps).unwrap();
            // The certified δ at the certified ε meets the target, and is not far below it.
            assert!(back <= target * (1.0 + 1e-9) && back >= target * 0.5, "{kind}: δ(ε({target})) = {back}");
            assert!(acc.delta(eps * 1.1).unwrap() < back && acc.delta(eps * 0.9).unwrap() > back);
        }
    }
}
