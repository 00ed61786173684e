//! Benchmark of the white-box engine audit (issue 8 targets): for claimed ε ∈ {1, 4, 8} at
//! δ = 1e-5, m ∈ {1000, 10000} gradient canaries and 10 seeds each, audits the correct engine on
//! a tiny model and prints, per method (Steinke et al. one-run, f-DP one-run):
//! - soundness: the largest lower bound over the seeds, next to ε (must not exceed it);
//! - fidelity: mean bound / mean ideal bound (target ≥ 0.9);
//! - tightness: mean bound / ε.
//!
//! Run: `RAYON_NUM_THREADS=1 cargo bench -p vg-audit --bench engine_audit`

use std::time::Instant;

use vg_attacks::bounds::fdp::{canary_audit_bounds, CanaryAuditSettings};
use vg_accounting::gaussian::noise_for_epsilon;
use vg_audit::engine_audit::{run_engine_audit, EngineAuditConfig};
use vg_training::{model_input, GptConfig};

const DELTA: f64 = 1e-5;
const STEPS: u64 = 8;
const SEEDS: u64 = 10;
const IDEAL_TRIALS: usize = 5;

/// 64 short sequences over tokens 3..40; the canaries go to the untouched embedding rows.
fn data(ctx: usize) -> Vec<Vec<u32>> {
    (0..64u32)
        .map(|i| {
            let len = 8 + (i % 9) as usize;
            let tokens: Vec<u32> = (0..len as u32).map(|j| 3 + (i * 11 + j * 7) % 37).collect();
            model_input(&tokens, ctx)
        })
        .collect()
}

/// Per-configuration accumulators of one method.
#[derive(Default)]
struct Column {
    max_bound: f64,
    sum_bound: f64,
    sum_ideal: f64,
    runs: usize,
}

impl Column {
    fn add(&mut self, bound: f64, ideal: f64) {
        self.max_bound = self.max_bound.max(bound);
        self.sum_bound += bound;
        self.sum_ideal += ideal;
        self.runs += 1;
    }
    /// Fidelity: mean bound / mean ideal bound (a ratio of means, stable when the ideal is small).
    fn fidelity(&self) -> f64 {
        if self.sum_ideal > 0.0 { self.sum_bound / self.sum_ideal } else { 1.0 }
    }
    fn mean_bound(&self) -> f64 {
        self.sum_bound / self.runs as f64
    }
    fn mean_ideal(&self) -> f64 {
        self.sum_ideal / self.runs as f64
    }
}

fn main() {
    let model = GptConfig::preset("tiny", 384).expect("tiny preset");
    let examples = data(model.context_length);
    println!("engine audit: tiny model (vocab 384), T = {STEPS} steps, δ = {DELTA}, {SEEDS} seeds, ideal = median of {IDEAL_TRIALS} simulations");
    println!(
        "{:>4} {:>6} | {:>9} {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9} {:>9} | {:>7}",
        "ε", "m", "1run max", "1run/idl", "1run/ε", "1run idl", "fdp max", "fdp/idl", "fdp/ε", "fdp idl", "secs"
    );
    let mut sound = true;
    for epsilon in [1.0, 4.0, 8.0] {
        for m in [1000usize, 10_000] {
            let start = Instant::now();
            let sigma = noise_for_epsilon(epsilon, DELTA, STEPS).expect("calibration");
            let (mut one_run, mut fdp) = (Column::default(), Column::default());
            for seed in 0..SEEDS {
                let cfg = EngineAuditConfig {
                    canaries: m,
                    steps: STEPS,
                    noise_multiplier: sigma,
                    tensor: Some("wte".to_string()),
                                expected_batch_size: 8.0,
                    seed: 100 + seed,
                    init_seed: seed,
                    noise_seed: Some(10_000 + seed),
                    ..EngineAuditConfig::default()
                };
                let out = run_engine_audit(&model, &examples, &cfg, &|b| b, &mut |_, _| {}).expect("engine audit");
                let settings = CanaryAuditSettings {
                    claimed_mu: out.mu,
                    delta: DELTA,
                    confidence: 0.95,
                    grid: Vec::new(),
                    ideal_trials: IDEAL_TRIALS,
                    seed: 1_000_000 + seed * 100,
                };
                let b = canary_audit_bounds(&out.statistics, &out.included, &settings).expect("bounds");
                one_run.add(b.one_run.epsilon, b.one_run.ideal_epsilon);
                fdp.add(b.fdp_one_run.epsilon, b.fdp_one_run.ideal_epsilon);
            }
            sound &= one_run.max_bound <= epsilon && fdp.max_bound <= epsilon;
            println!(
                "{:>4} {:>6} | {:>9.3} {:>9.3} {:>9.3} {:>9.3} | {:>9.3} {:>9.3} {:>9.3} {:>9.3} | {:>7.1}",
                epsilon,
                m,
                one_run.max_bound,
                one_run.fidelity(),
                one_run.mean_bound() / epsilon,
                one_run.mean_ideal(),
                fdp.max_bound,
                fdp.fidelity(),
                fdp.mean_bound() / epsilon,
                fdp.mean_ideal(),
                start.elapsed().as_secs_f64()
            );
        }
    }
    println!("soundness (no bound above ε over all seeds): {}", if sound { "yes" } else { "NO" });
}
