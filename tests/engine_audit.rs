//! The white-box engine audit (src/engine_audit/) on a tiny model: the statistics
//! behave as the exact Gaussian mechanism predicts, and the mutation check of issue 8 — each
//! broken engine gives an ε lower bound above the claimed ε = 2, the correct engine never does.

use vg_attacks::bounds::fdp::{canary_audit_bounds, CanaryAuditBounds, CanaryAuditSettings};
use vg_accounting::gaussian::noise_for_epsilon;
use vg_audit::engine_audit::{run_engine_audit, EngineAuditConfig, EngineAuditOutcome, Observation};
use vg_training::{model_input, EngineFaults, GptConfig};

const DELTA: f64 = 1e-5;
const CLAIMED_EPSILON: f64 = 2.0;
/// Enough canaries for the f-DP bound of a μ = 1 mechanism (σ halved) to clear ε = 2.
const CANARIES: usize = 10_000;
const STEPS: u64 = 4;

/// 48 short sequences over tokens 3..24: rows 24.. of the token embedding stay untouched.
fn data(ctx: usize) -> Vec<Vec<u32>> {
    (0..48u32)
        .map(|i| {
            let len = 6 + (i % 7) as usize;
            let tokens: Vec<u32> = (0..len as u32).map(|j| 3 + (i * 7 + j * 5) % 21).collect();
            model_input(&tokens, ctx)
        })
        .collect()
}

fn model() -> GptConfig {
    GptConfig::preset("tiny", 256).unwrap()
}

/// An audit configuration and the faults its engine runs with.
fn config(seed: u64, faults: EngineFaults) -> (EngineAuditConfig, EngineFaults) {
    let cfg = EngineAuditConfig {
        canaries: CANARIES,
        steps: STEPS,
        noise_multiplier: noise_for_epsilon(CLAIMED_EPSILON, DELTA, STEPS).unwrap(),
        tensor: Some("wte".to_string()),
        expected_batch_size: 8.0,
        seed,
        init_seed: seed,
        noise_seed: Some(1000 + seed),
        ..EngineAuditConfig::default()
    };
    (cfg, faults)
}

fn audit((cfg, faults): &(EngineAuditConfig, EngineFaults)) -> EngineAuditOutcome {
    let m = model();
    run_engine_audit(&m, &data(m.context_length), cfg, &|b| b.faults(faults.clone()), &mut |_, _| {}).unwrap()
}

fn bounds(out: &EngineAuditOutcome) -> CanaryAuditBounds {
    let settings = CanaryAuditSettings {
        claimed_mu: out.mu,
        delta: DELTA,
        confidence: 0.95,
        grid: Vec::new(),
        ideal_trials: 1,
        seed: 7,
    };
    canary_audit_bounds(&out.statistics, &out.included, &settings).unwrap()
}

fn mean_sd(xs: impl Iterator<Item = f64>) -> (f64, f64) {
    let v: Vec<f64> = xs.collect();
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

#[test]
fn noise_calibration_matches_the_analytic_gaussian() {
    // μ(ε = 2, δ = 1e-5) = 0.501551689169686 (independent Python bisection of Balle–Wang's δ(ε)).
    let sigma = noise_for_epsilon(2.0, 1e-5, 4).unwrap();
    assert!((sigma - 2.0 / 0.501_551_689_169_686).abs() < 1e-6, "σ = {sigma}");
    let eps = vg_accounting::gaussian::epsilon_for_delta(2.0 / sigma, 1e-5).unwrap();
    assert!(eps <= 2.0 && eps > 2.0 - 1e-6);
}

#[test]
fn correct_engine_statistics_are_the_gaussian_mechanism() {
    let out = audit(&config(1, EngineFaults::default()));
    assert_eq!(out.tensor, "wte");
    assert_eq!(out.max_warmup_touch, 0.0, "the canaries must sit where real gradients never reach");
    assert!((out.mu - 0.501_551_689_169_686).abs() < 1e-6);
    let (mean_in, sd_in) = mean_sd(out.statistics.iter().zip(&out.included).filter(|(_, &i)| i).map(|(s, _)| *s));
    let (mean_out, sd_out) = mean_sd(out.statistics.iter().zip(&out.included).filter(|(_, &i)| !i).map(|(s, _)| *s));
    // ~5000 draws each: the means are within ±0.06 (4 standard errors), the sds within ±0.05.
    assert!((mean_in - out.mu).abs() < 0.06, "included mean {mean_in}, μ = {}", out.mu);
    assert!(mean_out.abs() < 0.06, "excluded mean {mean_out}");
    assert!((sd_in - 1.0).abs() < 0.05 && (sd_out - 1.0).abs() < 0.05, "sds {sd_in} {sd_out}");
}

#[test]
fn last_iterate_under_sgd_equals_the_summed_observation() {
    let mut cfg = config(2, EngineFaults::default());
    cfg.0.canaries = 500;
    let sum = audit(&cfg);
    cfg.0.observation = Observation::LastIterate;
    let last = audit(&cfg);
    assert_eq!(last.observation, Observation::LastIterate);
    assert_eq!(sum.coordinates, last.coordinates);
    for (a, b) in sum.statistics.iter().zip(&last.statistics) {
        // f32 parameters: the shift is recovered to about 1e-3 of the noise unit.
        assert!((a - b).abs() < 2e-3 * (1.0 + a.abs()), "sum {a} vs last iterate {b}");
    }
}

#[test]
fn correct_engine_never_exceeds_the_claimed_epsilon() {
    for seed in 10..13 {
        let b = bounds(&audit(&config(seed, EngineFaults::default())));
        assert!(b.fdp_one_run.epsilon <= CLAIMED_EPSILON, "seed {seed}: f-DP bound {}", b.fdp_one_run.epsilon);
        assert!(b.one_run.epsilon <= CLAIMED_EPSILON, "seed {seed}: one-run bound {}", b.one_run.epsilon);
        // The audit is not blind either: it sees a good part of the claimed ε.
        assert!(b.fdp_one_run.epsilon > 0.5, "seed {seed}: f-DP bound {}", b.fdp_one_run.epsilon);
    }
}

/// Audits a broken engine over several seeds; every f-DP bound (and, where `one_run_too`, every
/// one-run bound) must exceed the claimed ε.
fn assert_caught(what: &str, faults: EngineFaults, one_run_too: bool) {
    for seed in 20..23 {
        let b = bounds(&audit(&config(seed, faults.clone())));
        assert!(b.fdp_one_run.epsilon > CLAIMED_EPSILON, "{what} went unnoticed (seed {seed}): f-DP bound {}", b.fdp_one_run.epsilon);
        if one_run_too {
            assert!(b.one_run.epsilon > CLAIMED_EPSILON, "{what} went unnoticed (seed {seed}): one-run bound {}", b.one_run.epsilon);
        }
    }
}

#[test]
fn halved_noise_is_caught() {
    // μ doubles (0.5 → 1.0, true ε 4.4): only the tighter f-DP analysis clears ε = 2 at m = 10,000.
    assert_caught("σ/2", EngineFaults { noise_scale: 0.5, ..EngineFaults::default() }, false);
}

#[test]
fn skipped_clipping_of_one_tensor_is_caught() {
    assert_caught("unclipped wte", EngineFaults { skip_clip_tensor: Some("wte".to_string()), ..EngineFaults::default() }, true);
}

#[test]
fn omitted_noise_on_one_tensor_is_caught() {
    assert_caught("noise-free wte", EngineFaults { skip_noise_tensor: Some("wte".to_string()), ..EngineFaults::default() }, true);
}

#[test]
fn impossible_settings_are_refused_with_their_values() {
    let m = model();
    let d = data(m.context_length);
    let err = |cfg: EngineAuditConfig| run_engine_audit(&m, &d, &cfg, &|b| b, &mut |_, _| {}).unwrap_err().to_string();
    let base = config(0, EngineFaults::default()).0;
    assert!(err(EngineAuditConfig { noise_multiplier: 0.0, ..base.clone() }).contains("noise_multiplier = 0"));
    assert!(err(EngineAuditConfig { canaries: 20_000, ..base.clone() }).contains("tensor wte has only 16384 coordinates"));
    assert!(err(EngineAuditConfig { tensor: Some("nope".into()), ..base.clone() }).contains("nope"));
    assert!(err(EngineAuditConfig { steps: 0, ..base.clone() }).contains("steps = 0"));
    assert!(noise_for_epsilon(-1.0, 1e-5, 4).unwrap_err().to_string().contains("epsilon = -1"));
}

#[test]
fn canaries_go_where_real_gradients_never_reach() {
    // No tensor named: the warm-up picks the one whose m least-touched coordinates are least
    // touched — rows of the token embedding no input token selects (padding, EOS, 24..).
    let cfg = EngineAuditConfig { canaries: 2000, tensor: None, ..config(3, EngineFaults::default()).0 };
    let out = audit(&(cfg, EngineFaults::default()));
    assert_eq!(out.tensor, "wte");
    assert_eq!(out.max_warmup_touch, 0.0);
    let m = model();
    // Rows the model reads: every input token (the last token of a sequence, EOS, is only a target).
    let used: std::collections::HashSet<usize> =
        data(m.context_length).iter().flat_map(|s| s[..s.len() - 1].iter().map(|&t| t as usize)).collect();
    let offending: Vec<usize> = out.coordinates.iter().map(|&c| c / m.n_embd).filter(|r| used.contains(r)).collect();
    assert!(offending.is_empty(), "canaries in used embedding rows {offending:?}");
    let mut distinct = out.coordinates.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 2000);
}
