//! DP scaling laws: a small sweep on a tiny corpus fits a law monotone in σ̄ and T; the planner
//! never returns a configuration whose accountant ε exceeds the budget, and refuses impossible
//! budgets.

use crate::common::synthetic_corpus;
use vg_training::scaling::{
    plan, run_point, ComputeBudget, FitOptions, LawSource, ModelLaw, PlanRequest, ScalingLaw, SweepObservation, SweepPoint, TrainingRecipe,
};
use vg_training::GptConfig;

fn recipe() -> TrainingRecipe {
    TrainingRecipe { learning_rate: 3e-3, warmup_steps: 4, clip_norm: 1.0, physical_batch: 8, vocab_size: 48, context_length: 24 }
}

fn source() -> LawSource {
    LawSource { corpus: "synthetic".into(), command: "test".into(), tokens_per_sequence: 16.0, bytes_per_token: 3.0 }
}

fn micro(width: usize) -> GptConfig {
    GptConfig { preset: format!("w{width}"), vocab_size: 48, context_length: 24, n_layer: 1, n_embd: width, n_head: 2, mlp_ratio: 2, ln_eps: 1e-5 }
}

/// Checks monotonicity of `law` on a dense grid inside its domain.
fn assert_monotone(law: &ScalingLaw) {
    let ((m0, m1), (t0, t1), s1) = law.domain();
    for i in 0..=6 {
        let m = (m0 as f64) * ((m1 as f64) / (m0 as f64)).powf(i as f64 / 6.0);
        let mut prev_t = f64::INFINITY;
        for j in 0..=40 {
            let t = t0 * (t1 / t0).powf(j as f64 / 40.0);
            let mut prev_s = 0.0;
            for k in 0..=40 {
                let s = s1 * k as f64 / 40.0;
                let l = law.predict(m, t, s).unwrap_or_else(|| panic!("no prediction inside the domain at M {m}, T {t}, σ̄ {s}"));
                assert!(l >= prev_s - 1e-12, "loss falls with σ̄ at M {m}, T {t}, σ̄ {s}: {l} < {prev_s}");
                prev_s = l;
            }
            let l = law.predict(m, t, s1 / 3.0).unwrap();
            assert!(l <= prev_t + 1e-12, "loss rises with T at M {m}, T {t}: {l} > {prev_t}");
            prev_t = l;
        }
    }
}

#[test]
fn small_sweep_on_a_tiny_corpus_fits_a_monotone_law() {
    let train = synthetic_corpus(300, 48, 1);
    let eval = synthetic_corpus(40, 48, 2);
    let dir = tempfile::tempdir().unwrap();
    let mut obs = Vec::new();
    for width in [16usize, 32] {
        for sigma_bar in [0.0, 0.02, 0.2] {
            let point = SweepPoint {
                preset: format!("w{width}"),
                sigma_bar,
                physical_batch: 8,
                steps: 40,
                eval_every: 8,
                learning_rate: 3e-3,
                warmup_steps: 4,
                clip_norm: 1.0,
                init_seed: 3,
            };
            let point_dir = dir.path().join(point.id());
            let r = run_point(&train, &eval, &micro(width), &point, &point_dir, &mut |_| {}).unwrap();
            assert_eq!(r.curve.len(), 5, "an evaluation every 8 of 40 steps");
            assert!((r.noise_multiplier - sigma_bar * 8.0).abs() < 1e-12, "σ = σ̄·b");
            // A measurement, not a release: model.json claims no guarantee, the noise is recorded.
            let json = vg_training::ModelJson::load(&point_dir).unwrap();
            assert!(json.dp.is_none(), "a sweep point must not claim an (ε, δ)");
            assert_eq!(json.train_config.noise_study.as_ref().map(|n| n.noise_multiplier), Some(sigma_bar * 8.0));
            obs.extend(r.observations());
        }
    }
    let law = ScalingLaw::fit(&obs, recipe(), source(), &FitOptions { min_steps: 5, ..FitOptions::default() }).unwrap();
    assert_eq!(law.models.len(), 2);
    assert_eq!(law.sigma_bars, vec![0.0, 0.02, 0.2]);
    assert!(law.steps.last().copied().unwrap() >= 16.0 * 40.0, "extrapolated 16× in T");
    // Noise must hurt: at the longest measured run the noisiest curve is clearly worse.
    for m in &law.models {
        let row = &m.loss[4];
        assert!(row[2] > row[0] + 0.05, "σ̄ = 0.2 not worse than σ̄ = 0 for {}: {row:?}", m.preset);
        assert!(m.e_star < m.loss[4][0] && m.e_star >= 0.0, "E* below the measured clean loss");
    }
    assert_monotone(&law);
    // The law round-trips through its file format (to the last printed digit).
    let again = ScalingLaw::from_json(&law.to_json().unwrap()).unwrap();
    assert_eq!((&again.steps, &again.sigma_bars, again.models.len()), (&law.steps, &law.sigma_bars, law.models.len()));
    for (a, b) in again.models.iter().zip(&law.models) {
        for (ra, rb) in a.loss.iter().zip(&b.loss) {
            assert!(ra.iter().zip(rb).all(|(x, y)| (x - y).abs() <= 1e-12 * y.abs()), "{ra:?} vs {rb:?}");
        }
    }
}

/// A synthetic law with a known loss surface L = 1 + 40·T^−0.5·(M/1e5)^−0.2 + 300·σ̄.
fn synthetic_law() -> ScalingLaw {
    let sizes = [(20_000u64, "a"), (100_000, "b"), (500_000, "c")];
    let mut obs = Vec::new();
    for &(m, preset) in &sizes {
        for s in [0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2] {
            for t in (1..=8).map(|k| 50 * k as u64) {
                let loss = 1.0 + 40.0 * (t as f64).powf(-0.5) * (m as f64 / 1e5).powf(-0.2) + 300.0 * s;
                obs.push(SweepObservation { preset: preset.into(), params: m, sigma_bar: s, steps: t, eval_loss: loss });
            }
        }
    }
    let mut law = ScalingLaw::fit(&obs, recipe(), source(), &FitOptions { extrapolate_factor: 64.0, ..FitOptions::default() }).unwrap();
    for m in &mut law.models {
        m.flops_per_second = Some(1e9);
    }
    law
}

#[test]
fn fit_recovers_a_known_surface_and_extrapolates_along_it() {
    let law = synthetic_law();
    assert_monotone(&law);
    let truth = |m: f64, t: f64, s: f64| 1.0 + 40.0 * t.powf(-0.5) * (m / 1e5).powf(-0.2) + 300.0 * s;
    // On measured steps between grid points: within 2 % (log-linear interpolation of a smooth surface).
    for (m, t, s) in [(50_000.0, 175.0, 5e-4), (300_000.0, 330.0, 3e-3), (100_000.0, 400.0, 1e-3)] {
        let p = law.predict(m, t, s).unwrap();
        let want = truth(m, t, s);
        assert!((p - want).abs() / want < 0.02, "M {m} T {t} σ̄ {s}: {p} vs {want}");
    }
    // E* of the clean curve: the power-law fit finds the floor 1.0.
    for ml in &law.models {
        assert!((ml.e_star - 1.0).abs() < 0.05, "E* {} for {}", ml.e_star, ml.preset);
    }
    // Extrapolated 8× beyond the sweep, the clean curve follows the power law within 3 %.
    let p = law.predict(100_000.0, 3200.0, 0.0).unwrap();
    let want = truth(100_000.0, 3200.0, 0.0);
    assert!((p - want).abs() / want < 0.03, "{p} vs {want}");
    assert!(law.predict(100_000.0, 3200.0 * 100.0, 0.0).is_none(), "beyond the extrapolation");
    assert!(law.predict(1e7, 200.0, 0.0).is_none(), "beyond the largest model");
    assert!(law.predict(100_000.0, 200.0, 0.5).is_none(), "beyond the largest σ̄");
}

#[test]
fn plan_never_exceeds_the_privacy_budget() {
    let law = synthetic_law();
    use vg_accounting::AccountantKind::{Pld, Rdp};
    // Rows calibrated by PLD (tight, seconds per row) once, by RDP (looser, fast) elsewhere; every
    // row is checked against its own accountant and against PLD.
    for (n, eps, delta, c, kind) in [(10_000u64, 8.0, 1e-5, 3e13, Pld), (20_000, 1.0, 1e-5, 1e12, Rdp), (50_000, 2.0, 1e-6, 1e14, Rdp), (5_000, 4.0, 1e-5, 2e12, Rdp)] {
        let mut req = PlanRequest::new(n, eps, delta, ComputeBudget::Flops(c));
        req.model_points = Some(12);
        req.batch_points = 40;
        req.accountant = kind;
        req.exact_candidates = 3;
        let plan = plan(&law, &req).unwrap_or_else(|e| panic!("N {n} ε {eps}: {e}"));
        assert_eq!(plan.best, plan.candidates[0]);
        for cand in plan.candidates.iter().chain(std::iter::once(&plan.best)) {
            let q = cand.batch_size as f64 / n as f64;
            let spent = vg_accounting::epsilon(vg_accounting::AccountantKind::Pld, q, cand.noise_multiplier, cand.steps, delta, vg_accounting::Neighbouring::AddOrRemoveOne).unwrap();
            assert!(spent <= eps, "N {n}: {cand:?} spends ε = {spent} > {eps}");
            let own = vg_accounting::epsilon(kind, q, cand.noise_multiplier, cand.steps, delta, vg_accounting::Neighbouring::AddOrRemoveOne).unwrap();
            assert_eq!(cand.epsilon, Some(own), "the row shows its accountant's ε");
            // Started from the search's estimate, the calibration lands where a cold one does (to its 1e-4 tolerance).
            let cold = vg_accounting::calibrate_noise_multiplier(kind, q, cand.steps, eps, delta, vg_accounting::Neighbouring::AddOrRemoveOne).unwrap();
            assert!((cand.noise_multiplier - cold).abs() <= 1e-4 * cold.max(cand.noise_multiplier), "N {n}: σ {} vs cold {cold}", cand.noise_multiplier);
            assert!(own <= eps && own > 0.95 * eps, "σ calibrated to the budget, not merely under it: ε = {own}");
            assert!((cand.sigma_bar - cand.noise_multiplier / cand.batch_size as f64).abs() < 1e-15);
            assert!(cand.compute_flops <= c * (1.0 + 1e-12), "over the compute budget: {cand:?}");
            assert!(cand.batch_size <= n);
        }
        for w in plan.candidates.windows(2) {
            assert!(w[0].predicted_eval_loss <= w[1].predicted_eval_loss, "ranked by predicted loss");
        }
        assert!(plan.within_2_percent.iter().all(|c| c.predicted_eval_loss <= plan.best.predicted_eval_loss * 1.02));
        let np = plan.non_private.expect("a non-private optimum");
        assert!(np.predicted_eval_loss <= plan.best.predicted_eval_loss, "noise never helps");
    }
}

#[test]
fn plan_refuses_impossible_budgets() {
    let law = synthetic_law();
    let base = PlanRequest { accountant: vg_accounting::AccountantKind::Rdp, exact_candidates: 2, ..PlanRequest::new(10_000, 8.0, 1e-5, ComputeBudget::Flops(1e13)) };
    let bad = [
        PlanRequest { epsilon: 0.0, ..base.clone() },
        PlanRequest { epsilon: -1.0, ..base.clone() },
        PlanRequest { delta: 1e-4, ..base.clone() },
        PlanRequest { delta: 2e-4, ..base.clone() },
        PlanRequest { compute: ComputeBudget::Flops(100.0), ..base.clone() },
        PlanRequest { records: 0, ..base.clone() },
    ];
    for req in bad {
        let err = plan(&law, &req).expect_err(&format!("{req:?} must be refused"));
        let text = err.to_string();
        assert!(text.contains("epsilon") || text.contains("delta") || text.contains("compute") || text.contains("records"), "{text}");
    }
    assert!(plan(&law, &base).is_ok());
}

#[test]
fn law_file_is_checked_on_load() {
    let law = synthetic_law();
    let mut broken: ModelLaw = law.models[0].clone();
    broken.loss.pop();
    let mut bad = law.clone();
    bad.models[0] = broken;
    assert!(ScalingLaw::from_json(&bad.to_json().unwrap()).is_err());
    assert!(ScalingLaw::from_json("{}").is_err());
}
