//! Calibration started from an estimate of σ (`calibrate_noise_multiplier_near`, what `plan`
//! uses): the same σ as the cold bisection to within its 1e-4 relative tolerance, ε at that σ
//! within the target, from guesses good and bad.

use vg_accounting::calibrate::{smallest_sigma, smallest_sigma_near, ROUGH_GUESS_STEP, SIGMA_RELATIVE_TOLERANCE};
use vg_accounting::{calibrate_noise_multiplier, calibrate_noise_multiplier_near, epsilon, AccountantKind, Neighbouring, Result};

const NBR: Neighbouring = Neighbouring::AddOrRemoveOne;

/// (q, T, ε, δ): the rows `vg-audit plan` recomputes on the shipped law (N = 5,000, ε = 8,
/// 150 s; N = 20,000, ε = 2, 600 s; N = 100,000, ε = 8, 3,600 s) and a few general ones.
const CASES: [(f64, u64, f64, f64); 8] = [
    PLAN_ROWS[0],
    PLAN_ROWS[1],
    PLAN_ROWS[2],
    PLAN_ROWS[3],
    (0.01, 1000, 1.0, 1e-5),
    (0.001, 10_000, 3.0, 1e-6),
    (0.1, 50, 8.0, 1e-5),
    (0.05, 300, 0.5, 1e-5),
];

const PLAN_ROWS: [(f64, u64, f64, f64); 4] = [(0.0026, 182, 8.0, 2e-5), (0.00275, 172, 2.0, 5e-6), (0.00093, 613, 8.0, 1e-6), (0.00083, 669, 8.0, 1e-6)];

#[test]
fn warm_calibration_matches_the_cold_one_and_meets_the_target() {
    for &(q, steps, target, delta) in &CASES {
        for kind in [AccountantKind::Pld, AccountantKind::Rdp] {
            let cold = calibrate_noise_multiplier(kind, q, steps, target, delta, NBR).unwrap();
            // Guesses a few per cent off (as the plan's central-limit one) and far off; PLD
            // evaluations take up to a second at these σ, so fewer of them there.
            let guesses = match kind {
                AccountantKind::Pld => vec![cold * 0.97, cold * 1.04, cold * 2.5],
                AccountantKind::Rdp => vec![cold, cold * 0.97, cold * 1.04, cold * 0.6, cold * 2.5, 1.0],
            };
            for guess in guesses {
                let (sigma, eps) = calibrate_noise_multiplier_near(kind, q, steps, target, delta, NBR, guess).unwrap();
                let what = format!("{kind} q {q} T {steps} ε {target} δ {delta} guess {guess}");
                assert!((sigma - cold).abs() <= SIGMA_RELATIVE_TOLERANCE * cold.max(sigma), "{what}: σ {sigma} vs cold {cold}");
                // ε is the exact accountant's at the returned σ, and within the target.
                assert_eq!(eps, epsilon(kind, q, sigma, steps, delta, NBR).unwrap(), "{what}");
                assert!(eps <= target, "{what}: ε {eps} at σ {sigma}");
                let below = epsilon(kind, q, sigma * (1.0 - 1e-3), steps, delta, NBR).unwrap();
                assert!(below > target, "{what}: σ {sigma} is not minimal (ε {below} at 0.999σ)");
            }
        }
    }
}

#[test]
fn warm_calibration_refuses_what_the_cold_one_refuses() {
    for (q, steps, target, delta) in [(0.0, 10, 1.0, 1e-5), (0.1, 0, 1.0, 1e-5), (0.1, 10, 0.0, 1e-5), (0.1, 10, 1.0, 1.0)] {
        assert!(calibrate_noise_multiplier(AccountantKind::Pld, q, steps, target, delta, NBR).is_err());
        assert!(calibrate_noise_multiplier_near(AccountantKind::Pld, q, steps, target, delta, NBR, 1.0).is_err());
    }
}

/// The search itself, on ε curves where the answer is known: smooth, a staircase (where
/// interpolation guesses badly) and one that errs below a σ; guesses from 1e-3 to 1e6.
#[test]
fn warm_search_keeps_the_bisection_contract() {
    let tol = SIGMA_RELATIVE_TOLERANCE;
    let curves: [(&str, f64, fn(f64) -> Result<f64>); 3] = [
        ("1/σ²", 0.04, |s| Ok(1.0 / (s * s))),
        ("staircase", 0.3, |s| Ok((10.0 / s).ceil() / 10.0)),
        ("errs below 0.5", 1.0, |s| {
            if s < 0.5 {
                Err(vg_accounting::Error::InvalidParameter { name: "noise_multiplier", value: s.to_string(), rule: "too small for the grid" })
            } else {
                Ok(3.0 / s)
            }
        }),
    ];
    for (name, target, f) in curves {
        let cold = smallest_sigma(&mut |s| f(s), target, tol).unwrap();
        for (guess, step) in [(1e-3, ROUGH_GUESS_STEP), (0.3, ROUGH_GUESS_STEP), (cold, ROUGH_GUESS_STEP), (cold, 0.9 * tol), (cold * 1.01, 0.9 * tol), (7.0, ROUGH_GUESS_STEP), (1e6, 0.9 * tol)] {
            let mut evaluations = Vec::new();
            let (sigma, eps) = smallest_sigma_near(&mut |s| {
                evaluations.push(s);
                f(s)
            }, target, tol, guess, step)
            .unwrap();
            assert!(eps <= target && eps == f(sigma).unwrap(), "{name} guess {guess}: ε {eps} at σ {sigma}");
            // Some σ less than tol below the answer was checked and missed the target.
            let missed = evaluations.iter().any(|&s| s < sigma && s >= sigma * (1.0 - tol) && f(s).map_or(true, |e| e > target));
            assert!(missed, "{name} guess {guess}: σ {sigma} not shown minimal ({evaluations:?})");
            assert!((sigma - cold).abs() <= tol * cold.max(sigma), "{name} guess {guess}: σ {sigma} vs cold {cold}");
            assert!(evaluations.len() <= 80, "{name} guess {guess}: {} evaluations", evaluations.len());
        }
    }
    assert!(smallest_sigma_near(&mut |_| Ok(1.0), 0.5, tol, 1.0, ROUGH_GUESS_STEP).is_err(), "no σ reaches the target");
}

