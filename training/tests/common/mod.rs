//! Shared helpers for vg-training's tests: small configs and a synthetic "demo-like" corpus.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use vg_training::{model_input, GptConfig};

/// A very small architecture for exact-equivalence tests.
pub fn micro_config(vocab: usize, ctx: usize) -> GptConfig {
    GptConfig { preset: "custom".into(), vocab_size: vocab, context_length: ctx, n_layer: 2, n_embd: 32, n_head: 4, mlp_ratio: 4, ln_eps: 1e-5 }
}

/// Random token sequences (ids ≥ 3) of the given lengths, as full model inputs.
pub fn random_inputs(vocab: u32, lens: &[usize], ctx: usize, seed: u64) -> Vec<Vec<u32>> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    lens.iter().map(|&n| model_input(&(0..n).map(|_| rng.random_range(3..vocab)).collect::<Vec<_>>(), ctx)).collect()
}

/// A learnable synthetic corpus: short "sentences" that count upward through a few templates
/// (next token mostly determined by the previous one), like the demo corpus's formulaic records.
pub fn synthetic_corpus(n: usize, vocab: u32, seed: u64) -> Vec<Vec<u32>> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let span = vocab - 3;
    (0..n)
        .map(|_| {
            let start = rng.random_range(0..span);
            let step = [1, 2, 3][rng.random_range(0..3usize)];
            let len = rng.random_range(8..20);
            (0..len).map(|i| 3 + (start + i * step) % span).collect()
        })
        .collect()
}

/// Max relative error between two tensors: max|a−b| / max(max|b|, tiny).
pub fn rel_err(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f64 {
    let a: Vec<f64> = a.to_dtype(candle_core::DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let b: Vec<f64> = b.to_dtype(candle_core::DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let scale = b.iter().fold(0f64, |m, x| m.max(x.abs())).max(1e-30);
    a.iter().zip(&b).fold(0f64, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// The 40 `{"id", "text"}` records of shared/reference/hf/texts.jsonl (the Hugging Face checks' inputs).
pub fn reference_texts() -> Vec<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/reference/hf/texts.jsonl");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["id"].as_str().unwrap().to_string(), v["text"].as_str().unwrap().to_string())
        })
        .collect()
}
