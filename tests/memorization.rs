//! Issue 6's model-level check: a tiny model trained non-privately for many epochs on a handful
//! of records is reported as having memorized them by vg-attacks' discoverable-memorization test,
//! seen through the binary's own adapter (`vg_audit::adapters::TrainedModel`), while population
//! records it never saw are not.

use vg_attacks::extraction::memorization::{discoverable_memorization, MemorizationOptions, RecordTokens};
use vg_audit::adapters::TrainedModel;
use vg_corpora::tokens::BOS;
use vg_training::{train, GptConfig, OptimizerConfig, TrainConfig};

fn random_records(n: usize, len: usize, vocab: u32, seed: u64) -> Vec<Vec<u32>> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| (0..len).map(|_| rng.random_range(3..vocab)).collect()).collect()
}

#[test]
fn a_model_trained_for_many_epochs_on_a_few_records_has_memorized_them() {
    let vocab = 64;
    let cfg = GptConfig { preset: "custom".into(), vocab_size: vocab as usize, context_length: 48, n_layer: 2, n_embd: 32, n_head: 4, mlp_ratio: 4, ln_eps: 1e-5 };
    let members = random_records(6, 40, vocab, 1);
    let population = random_records(6, 40, vocab, 2);
    let train_cfg = TrainConfig {
        optimizer: OptimizerConfig::default(),
        lr: 1e-2,
        warmup_steps: 10,
        steps: 300,
        batch_size: 6,
        micro_batch_size: 6,
        eval_every: 100,
        checkpoint_every: 1000,
        dp: None,
        ..TrainConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    train(&members, &population, &cfg, &train_cfg, dir.path(), false, &mut |_| {}).unwrap();
    let model = TrainedModel::load(dir.path()).unwrap();

    let opts = MemorizationOptions { prefix_tokens: 20, suffix_tokens: 20, prompts: 6, ..MemorizationOptions::default() };
    let as_records = |v: &[Vec<u32>]| -> Vec<(u64, Vec<u32>)> { v.iter().cloned().enumerate().map(|(i, t)| (i as u64, t)).collect() };
    let rate = |recs: &[(u64, Vec<u32>)]| {
        let records: Vec<RecordTokens> = recs.iter().map(|(id, t)| RecordTokens { id: *id, tokens: t }).collect();
        discoverable_memorization(&model, &records, BOS, &opts, &mut |_| {}).unwrap().0
    };
    let trained = rate(&as_records(&members));
    let unseen = rate(&as_records(&population));
    assert!(trained.exact.rate >= 5.0 / 6.0, "training records not memorized: {trained:?}");
    assert_eq!(unseen.approximate.count, 0, "population records reported memorized: {unseen:?}");
}
