use vg_attacks::bounds::fdp::{canary_audit_bounds, CanaryAuditSettings};
use vg_training::engine_audit::{noise_for_epsilon, run_engine_audit, EngineAuditConfig};
use vg_training::{model_input, GptConfig};
#[test]
fn zz() {
    let model = GptConfig::preset("tiny", 384).unwrap();
    let examples: Vec<Vec<u32>> = (0..64u32).map(|i| { let len = 8 + (i % 9) as usize; let t: Vec<u32> = (0..len as u32).map(|j| 3 + (i * 11 + j * 7) % 37).collect(); model_input(&t, model.context_length) }).collect();
    for m in [1000usize, 10000] { for seed in 0..10u64 {
        let cfg = EngineAuditConfig { canaries: m, steps: 8, noise_multiplier: noise_for_epsilon(1.0, 1e-5, 8).unwrap(), tensor: Some("wte".into()), warmup_steps: 1, expected_batch_size: 8.0, seed: 100 + seed, init_seed: seed, noise_seed: Some(10_000 + seed), ..EngineAuditConfig::default() };
        let out = run_engine_audit(&model, &examples, &cfg, &mut |_, _| {}).unwrap();
        let b = canary_audit_bounds(&out.statistics, &out.included, &CanaryAuditSettings { claimed_mu: out.mu, delta: 1e-5, confidence: 0.95, grid: vec![], ideal_trials: 1, seed: 1 }).unwrap();
        println!("m {m} seed {seed}: one_run {:.4} {:?} {:?} fdp {:.4}", b.one_run.epsilon, b.one_run.grid.rule, b.one_run.grid.counts, b.fdp_one_run.epsilon);
    }}
}
