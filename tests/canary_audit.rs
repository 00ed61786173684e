//! Issue 5's end-to-end check on tiny models: canaries repeated a few times in non-private
//! training give a one-run ε lower bound clearly above 0, and (a smoke test with little power,
//! see below) a DP model at ε = 1 with r = 1 gives a lower bound ≤ 1. Small corpora and few
//! steps keep each run to well under a minute.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn run(dir: &Path, config: &str) -> Value {
    std::fs::create_dir_all(dir).unwrap();
    let cfg = dir.join("audit.toml");
    std::fs::write(&cfg, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vg-audit"))
        .env("RAYON_NUM_THREADS", "1")
        .args(["run", "--insecure-seed", "3", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(dir.join("run"))
        .output()
        .unwrap();
    assert!(out.status.success(), "run failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&std::fs::read_to_string(dir.join("run/summary.json")).unwrap()).unwrap()
}

fn one_run(s: &Value, model: &str) -> (f64, Value) {
    let m = s["models"].as_array().unwrap().iter().find(|m| m["name"] == model).unwrap();
    let b = &m["epsilon_lower_bounds"]["one_run"];
    (b["epsilon"].as_f64().unwrap(), b["compared_with"].clone())
}

/// A small audit: `r` repetitions of each included canary, the DP model at `epsilon`.
fn small(r: u32, epsilon: f64) -> String {
    format!(
        "[corpus]\ndemo_records = 900\nvocab_size = 512\n\
         [canaries]\ncount = 120\nreferences = 20\nrepetitions = {r}\n\
         [models]\ncontext = 48\nsteps = 80\nbatch_size = 32\nshadows = 0\nepsilon = {epsilon}\n\
         [extraction]\nenabled = false\n[engine_audit]\nenabled = false\n"
    )
}

#[test]
fn repeated_canaries_leak_from_a_non_private_model() {
    let dir = tempfile::tempdir().unwrap();
    let s = run(dir.path(), &small(4, 8.0));
    let (eps, compared) = one_run(&s, "non-dp");
    assert!(eps > 0.5, "non-private model with canaries repeated 4 times: one-run ε lower bound only {eps}");
    assert_eq!(compared["group_size"], 4, "r = 4 must be compared with the group guarantee: {compared}");
    let (_, dp_compared) = one_run(&s, "dp");
    assert!(dp_compared["guarantee"].as_str().unwrap().contains("group"), "{dp_compared}");
    let group_eps = dp_compared["epsilon"].as_f64().unwrap();
    let dp_eps = s["models"][0]["dp"]["epsilon"].as_f64().unwrap();
    assert!((group_eps - 4.0 * dp_eps).abs() < 1e-9, "group ε should be rε: {group_eps} vs 4 × {dp_eps}");
}

/// A smoke test of soundness, not a powered DP check: with m = 120 canaries even perfect
/// guessing bounds ε only to the ceiling computed below (≈ 2.3 after Bonferroni over the k
/// grid), so this catches a grossly broken pipeline (a bound above the guarantee), never a
/// subtle engine bug. The powered checks of the engine are its gradient-canary audit and
/// mutation tests (`vg-audit audit-engine`, training/tests/engine_audit.rs).
#[test]
fn smoke_a_dp_model_at_epsilon_one_is_not_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let s = run(dir.path(), &small(1, 1.0));
    let (eps, compared) = one_run(&s, "dp");
    let theoretical = s["models"][0]["dp"]["epsilon"].as_f64().unwrap();
    let delta = s["models"][0]["dp"]["delta"].as_f64().unwrap();
    assert!(theoretical <= 1.0 + 1e-9, "the DP model was trained at ε = {theoretical}, not 1");
    assert!(eps <= 1.0, "DP model at ε = 1: one-run lower bound {eps} exceeds the guarantee");
    assert_eq!(compared["group_size"], 1);
    // What this test can detect at all: the bound of a perfect attack on 120 canaries.
    let included: Vec<bool> = (0..120).map(|i| i % 2 == 0).collect();
    let perfect: Vec<f64> = included.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect();
    let ceiling = vg_attacks::bounds::one_run_from_scores(&perfect, &included, delta, 0.95, &Default::default()).unwrap().epsilon;
    assert!(ceiling > 1.0 && ceiling < 3.0, "perfect guessing on 120 canaries gives ε ≥ {ceiling}");
}
