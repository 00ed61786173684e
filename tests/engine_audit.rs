//! The white-box engine audit (src/engine_audit/) on a tiny model: the statistics
//! behave as the exact Gaussian mechanism predicts, and the mutation checks of issues 8 and 12 —
//! with the canaries as rows of the engine's per-example norm table, each broken engine (σ
//! halved; clipping skipped on the canaries' tensor; that tensor's per-example norm
//! under-estimated ×¼; its noise left out) gives an ε lower bound above the claimed ε = 2 of the
//! accountant, the correct engine never does; and `run` audits at its DP model's settings.

use std::process::Command;

use vg_accounting::gaussian::noise_for_epsilon;
use vg_accounting::AccountantKind;
use vg_audit::engine_audit::{audit as audit_engine, canary_epsilon, run_engine_audit, EngineAuditConfig, EngineAuditOutcome, Noise, Observation, Report, Settings};
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

/// The audit at claimed ε = 2 (σ calibrated by the PLD accountant for a canary in every step)
/// on the tiny model and the synthetic data, with `faults` in the engine.
fn audit_at_two(seed: u64, faults: EngineFaults) -> Report {
    let m = model();
    let settings = Settings {
        preset: "tiny".into(),
        model: m.clone(),
        clip_norm: 1.0,
        noise: Noise::Epsilon(CLAIMED_EPSILON),
        sampling_rate: 8.0 / 48.0,
        accountant: AccountantKind::Pld,
        delta: DELTA,
        steps: 1,
        canaries: CANARIES,
        learning_rate: 0.05,
        micro_batch_size: 32,
        observation: Observation::Sum,
        seed,
        noise_seed: Some(1000 + seed),
        confidence: 0.95,
        ideal_trials: 1,
        tensor: Some("wte".into()),
    };
    audit_engine(&settings, &data(m.context_length), &|b: vg_training::DpSgdBuilder| b.faults(faults.clone()), &mut |_, _| {}).unwrap()
}

#[test]
fn the_claim_is_the_accountants_epsilon_for_a_canary_in_every_step() {
    // One step of the Gaussian mechanism with μ = 0.501551689169686 has ε = 2 at δ = 1e-5
    // (Balle–Wang); the PLD accountant is pessimistic by its discretisation only, RDP is looser.
    let sigma = 1.0 / 0.501_551_689_169_686;
    let pld = canary_epsilon(AccountantKind::Pld, sigma, 1, DELTA).unwrap();
    let rdp = canary_epsilon(AccountantKind::Rdp, sigma, 1, DELTA).unwrap();
    assert!((2.0..2.02).contains(&pld), "PLD ε {pld}");
    assert!(rdp > pld + 0.05, "RDP ε {rdp} should be looser than PLD {pld}");
    let r = audit_at_two(10, EngineFaults::default());
    assert!(r.theoretical_epsilon <= CLAIMED_EPSILON && r.theoretical_epsilon > CLAIMED_EPSILON - 0.02, "{}", r.theoretical_epsilon);
    assert!((r.noise_multiplier - sigma).abs() / sigma < 0.01, "σ {} vs analytic {sigma}", r.noise_multiplier);
    assert_eq!((r.mechanism.steps, r.mechanism.canaries, r.mechanism.accountant.as_str()), (1, CANARIES, "pld"));
    assert!((r.mechanism.sampling_rate - 8.0 / 48.0).abs() < 1e-12);
    assert_eq!(r.mechanism.canary_kind, "dirac-gradient-row");
    // The correct engine stays under the claim and is not blind: it sees a good part of it.
    let fdp = r.lower_bounds["fdp_one_run"].epsilon;
    assert!(fdp <= CLAIMED_EPSILON && fdp > 0.5, "f-DP bound {fdp}");
    assert!(r.lower_bounds["one_run"].epsilon <= CLAIMED_EPSILON);
    assert!(!r.exceeds_theoretical);
    // Every guess right would reach well above the claim: a broken engine has room to show.
    assert!(r.ceiling_epsilon > 2.0 * CLAIMED_EPSILON, "ceiling {}", r.ceiling_epsilon);
}

#[test]
fn correct_engine_never_exceeds_the_claimed_epsilon() {
    for seed in 11..13 {
        let r = audit_at_two(seed, EngineFaults::default());
        for (k, b) in &r.lower_bounds {
            assert!(b.epsilon <= r.theoretical_epsilon, "seed {seed}: {k} bound {} above the claim {}", b.epsilon, r.theoretical_epsilon);
        }
    }
}

/// Audits a broken engine (one seed); the f-DP bound (and, where `one_run_too`, the one-run
/// bound) must exceed the claimed ε.
fn assert_caught(what: &str, faults: EngineFaults, one_run_too: bool) {
    let r = audit_at_two(20, faults);
    let (fdp, one) = (r.lower_bounds["fdp_one_run"].epsilon, r.lower_bounds["one_run"].epsilon);
    assert!(fdp > CLAIMED_EPSILON, "{what} went unnoticed: f-DP bound {fdp}");
    if one_run_too {
        assert!(one > CLAIMED_EPSILON, "{what} went unnoticed: one-run bound {one}");
    }
    assert!(r.exceeds_theoretical, "{what}: the report must say the engine releases more than it claims");
}

#[test]
fn halved_noise_is_caught() {
    // μ doubles (0.5 → 1.0, true ε 4.4): only the tighter f-DP analysis clears ε = 2 at m = 10,000.
    assert_caught("σ/2", EngineFaults { noise_scale: 0.5, ..EngineFaults::default() }, false);
}

#[test]
fn skipped_clipping_inside_the_norm_table_is_caught() {
    assert_caught("unclipped wte", EngineFaults { skip_clip_tensor: Some("wte".to_string()), ..EngineFaults::default() }, true);
}

#[test]
fn an_under_estimated_embedding_norm_is_caught() {
    // The canary's norm (1000 C) read as 250 C: it is clipped to 4 C instead of C, μ × 4.
    assert_caught("wte norm ×¼", EngineFaults { underestimate_norm_tensor: Some("wte".to_string()), ..EngineFaults::default() }, true);
}

#[test]
fn omitted_noise_on_one_tensor_is_caught() {
    assert_caught("noise-free wte", EngineFaults { skip_noise_tensor: Some("wte".to_string()), ..EngineFaults::default() }, true);
}

#[test]
fn run_audits_the_engine_at_its_dp_models_settings() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("audit.toml");
    std::fs::write(
        &cfg,
        "[corpus]\ndemo_records = 600\nvocab_size = 512\n[canaries]\ncount = 40\nreferences = 10\n\
         [models]\ncontext = 32\nsteps = 10\nbatch_size = 32\nshadows = 0\nbaseline = false\nepsilon = 8.0\n\
         [extraction]\nenabled = false\n[engine_audit]\nenabled = true\ncanaries = 2000\nsteps = 1\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vg-audit"))
        .env("RAYON_NUM_THREADS", "1")
        .args(["run", "--insecure-seed", "5", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(dir.path().join("run"))
        .output()
        .unwrap();
    assert!(out.status.code().unwrap() <= 1, "run failed: {}", String::from_utf8_lossy(&out.stderr));
    let read = |p: &str| -> serde_json::Value { serde_json::from_str(&std::fs::read_to_string(dir.path().join("run").join(p)).unwrap()).unwrap() };
    let summary = read("summary.json");
    let dp = &read("models/dp/model.json")["dp"];
    let a = &summary["engine_audit"];
    let m = &a["mechanism"];
    for key in ["noise_multiplier", "sampling_rate", "clip_norm"] {
        assert_eq!(m[key], dp[key], "engine audit {key} must be the DP model's");
    }
    assert_eq!(m["preset"], "tiny");
    assert_eq!(m["vocab_size"], read("models/dp/model.json")["architecture"]["vocab_size"]);
    assert_eq!((m["steps"].as_u64(), m["canaries"].as_u64(), m["canary_kind"].as_str()), (Some(1), Some(2000), Some("dirac-gradient-row")));
    assert_eq!(m["accountant"], dp["accountant"]);
    // The claim: the DP model's accountant for a canary present in the audit's one step.
    let sigma = dp["noise_multiplier"].as_f64().unwrap();
    let delta = dp["delta"].as_f64().unwrap();
    let expected = canary_epsilon(AccountantKind::Pld, sigma, 1, delta).unwrap();
    assert!((a["theoretical_epsilon"].as_f64().unwrap() - expected).abs() < 1e-9, "{a}");
    assert_eq!(a["delta"], dp["delta"]);
    for (k, b) in a["lower_bounds"].as_object().unwrap() {
        assert!(b["epsilon"].as_f64().unwrap() <= expected, "{k}: {b}");
    }
}

#[test]
fn impossible_settings_are_refused_with_their_values() {
    let m = model();
    let d = data(m.context_length);
    let err = |cfg: EngineAuditConfig| run_engine_audit(&m, &d, &cfg, &|b| b, &mut |_, _| {}).unwrap_err().to_string();
    let sigma = noise_for_epsilon(CLAIMED_EPSILON, DELTA, 1).unwrap();
    let bad_delta = Settings { delta: 1.5, ..Settings::standalone("tiny", Noise::Multiplier(sigma), DELTA, 0).unwrap() };
    assert!(audit_engine(&bad_delta, &d, &|b| b, &mut |_, _| {}).unwrap_err().to_string().contains("delta = 1.5"));
    let bad_q = Settings { sampling_rate: 0.0, ..bad_delta.clone() };
    assert!(audit_engine(&Settings { delta: DELTA, ..bad_q }, &d, &|b| b, &mut |_, _| {}).unwrap_err().to_string().contains("sampling_rate = 0"));
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
