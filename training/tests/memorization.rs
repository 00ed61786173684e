//! Issue 6's model-level check: a tiny model trained non-privately for many epochs on a handful
//! of records is reported as having memorized them by vg-attacks' discoverable-memorization test,
//! while population records it never saw are not.

mod common;

use vg_attacks::extraction::memorization::{discoverable_memorization, MemorizationOptions, RecordTokens};
use vg_attacks::model::{Decoding, Generator, ModelError};
use vg_corpora::tokens::BOS;
use vg_training::{train, LoadedModel, OptimizerConfig, TrainConfig};

/// The trait adapter the binary uses, restated for the test (vg-training knows no vg-attacks).
struct Model(LoadedModel);

impl Generator for Model {
    fn generate(&self, prompts: &[Vec<u32>], n: usize, d: &Decoding, seed: u64) -> Result<Vec<Vec<u32>>, ModelError> {
        let d = match d {
            Decoding::Greedy => vg_training::Decoding::Greedy,
            Decoding::TopK { k, temperature } => vg_training::Decoding::TopK { k: *k, temperature: *temperature },
        };
        self.0.generate(prompts, n, &d, seed).map_err(|e| ModelError(e.to_string()))
    }
}

fn random_records(n: usize, len: usize, vocab: u32, seed: u64) -> Vec<Vec<u32>> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| (0..len).map(|_| rng.random_range(3..vocab)).collect()).collect()
}

#[test]
fn a_model_trained_for_many_epochs_on_a_few_records_has_memorized_them() {
    let vocab = 64;
    let cfg = common::micro_config(vocab as usize, 48);
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
    let model = Model(LoadedModel::load(dir.path()).unwrap());

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
