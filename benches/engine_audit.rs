//! Benchmark of the white-box engine audit (issue 8 targets): for claimed ε ∈ {1, 4, 8} at
//! δ = 1e-5, m ∈ {1000, 10000} gradient canaries and 10 seeds each, audits the correct engine on
//! a tiny model and prints, per method (Steinke et al. one-run, f-DP one-run):
//! - soundness: the largest lower bound over the seeds, next to ε (must not exceed it);
//! - fidelity: mean bound / mean ideal bound (target ≥ 0.9);
//! - tightness: mean bound / ε.
//!
//! Then the mutation table of issue 12 at claimed ε = 2 (σ from the PLD accountant for a canary
//! in every step, T = 1, m = 10,000, canaries as rows of the per-example norm table): each fault's
//! bounds over 3 seeds next to the claim and the ceiling.
//!
//! Run: `RAYON_NUM_THREADS=1 cargo bench -p vg-audit --bench engine_audit` (add `-- mutations`
//! for the mutation table alone).

use std::time::Instant;

use vg_attacks::bounds::fdp::{canary_audit_bounds, CanaryAuditSettings};
use vg_accounting::gaussian::noise_for_epsilon;
use vg_audit::engine_audit::{audit, run_engine_audit, EngineAuditConfig, Noise, Settings};
use vg_training::{model_input, DpSgdBuilder, EngineFaults, GptConfig};

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

/// The mutation table: bounds of each broken engine at claimed ε = 2 over 3 seeds.
fn mutations(model: &GptConfig, examples: &[Vec<u32>]) {
    let faults = [
        ("correct engine", EngineFaults::default()),
        ("σ halved", EngineFaults { noise_scale: 0.5, ..EngineFaults::default() }),
        ("clipping skipped on wte", EngineFaults { skip_clip_tensor: Some("wte".into()), ..EngineFaults::default() }),
        ("wte norm ×¼", EngineFaults { underestimate_norm_tensor: Some("wte".into()), ..EngineFaults::default() }),
        ("no noise on wte", EngineFaults { skip_noise_tensor: Some("wte".into()), ..EngineFaults::default() }),
    ];
    println!("\nmutations at claimed ε = 2 (PLD, canary in every step), T = 1, m = 10,000, 3 seeds");
    println!("{:<26} {:>8} {:>8} | {:>15} {:>15} | {:>6}", "engine", "claim", "ceiling", "one-run min–max", "f-DP min–max", "secs");
    for (name, f) in faults {
        let start = Instant::now();
        let (mut one, mut fdp, mut claim, mut ceiling) = (vec![], vec![], 0.0, 0.0);
        for seed in 0..3u64 {
            let settings = Settings {
                model: model.clone(),
                sampling_rate: 8.0 / examples.len() as f64,
                noise_seed: Some(20_000 + seed),
                ideal_trials: 1,
                ..Settings::standalone("tiny", Noise::Epsilon(2.0), DELTA, 300 + seed).expect("settings")
            };
            let r = audit(&settings, examples, &|b: DpSgdBuilder| b.faults(f.clone()), &mut |_, _| {}).expect("audit");
            one.push(r.lower_bounds["one_run"].epsilon);
            fdp.push(r.lower_bounds["fdp_one_run"].epsilon);
            (claim, ceiling) = (r.theoretical_epsilon, r.ceiling_epsilon);
        }
        let range = |v: &[f64]| format!("{:.2}–{:.2}", v.iter().cloned().fold(f64::INFINITY, f64::min), v.iter().cloned().fold(0.0, f64::max));
        println!("{:<26} {:>8.3} {:>8.3} | {:>15} {:>15} | {:>6.1}", name, claim, ceiling, range(&one), range(&fdp), start.elapsed().as_secs_f64());
    }
}

fn main() {
    let model = GptConfig::preset("tiny", 384).expect("tiny preset");
    if std::env::args().any(|a| a == "mutations") {
        mutations(&model, &data(model.context_length));
        return;
    }
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
    mutations(&model, &examples);
}
