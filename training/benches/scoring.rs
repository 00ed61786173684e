//! Scoring throughput (issue 5, performance): the time to score 10,000 records of 128 tokens
//! (BOS + 127 tokens, 127 predicted tokens each) under the `small` preset with vocabulary 2048
//! — per-token log p of the actual token plus mu and sigma of log p under the full next-token
//! distribution, as `vg-audit run` computes them — in seconds and tokens/s. As a same-run
//! baseline it times a plain forward pass (logits only) over the same batches, and prints the
//! ratio: the overhead scoring adds on top of the model itself.
//!
//! Run: `RAYON_NUM_THREADS=1 cargo bench -p vg-training --bench scoring`
//! (`SCORING_BENCH_RECORDS` overrides the 10,000 records). Random initial weights: the cost of
//! scoring does not depend on what the model learned.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};
use vg_training::{token_stats, SCORING_BATCH_SIZE};
use vg_training::{model_input, Gpt, GptConfig};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONTEXT: usize = 128;
const VOCAB: usize = 2048;

fn main() {
    let records: usize = std::env::var("SCORING_BENCH_RECORDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    if std::env::var("RAYON_NUM_THREADS").is_err() {
        eprintln!("note: RAYON_NUM_THREADS is unset; candle and the scoring pass will use every core");
    }
    let cfg = GptConfig::preset("small", VOCAB).expect("small preset");
    assert_eq!(cfg.context_length, CONTEXT);
    let model = Gpt::new(&cfg, DType::F32, 0).expect("model");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    // 128 text tokens each; model_input adds BOS and EOS and cuts to the context (128 inputs).
    let seqs: Vec<Vec<u32>> = (0..records)
        .map(|_| model_input(&(0..CONTEXT).map(|_| rng.random_range(3..VOCAB as u32)).collect::<Vec<_>>(), CONTEXT))
        .collect();
    let tokens: usize = seqs.iter().map(|s| s.len() - 1).sum();

    // Warm-up (allocator, first-touch pages) on a few batches of both paths.
    let warm = &seqs[..(2 * SCORING_BATCH_SIZE).min(seqs.len())];
    token_stats(&model, warm, SCORING_BATCH_SIZE).expect("warm-up scoring");

    // Baseline: logits only, the same batches (all rows are full length, so no padding).
    let t0 = Instant::now();
    let mut checksum = 0f64;
    for chunk in seqs.chunks(SCORING_BATCH_SIZE) {
        let ids: Vec<u32> = chunk.iter().flat_map(|s| s[..s.len() - 1].iter().copied()).collect();
        let ids = Tensor::from_vec(ids, (chunk.len(), CONTEXT - 1), &Device::Cpu).expect("ids");
        let logits = model.logits(&ids).expect("forward");
        // Touch the result so the pass cannot be skipped.
        checksum += logits.get(0).and_then(|r| r.get(0)).and_then(|r| r.get(0)).and_then(|x| x.to_scalar::<f32>()).expect("logit") as f64;
    }
    let forward_s = t0.elapsed().as_secs_f64();

    let t0 = Instant::now();
    let stats = token_stats(&model, &seqs, SCORING_BATCH_SIZE).expect("scoring");
    let scoring_s = t0.elapsed().as_secs_f64();
    assert_eq!(stats.len(), records);
    let mean_logprob: f64 = stats.iter().flat_map(|s| s.logprob.iter()).sum::<f64>() / tokens as f64;

    println!(
        "small ({:.2}M params, vocab {VOCAB}, ctx {CONTEXT}), {records} records x {} predicted tokens, batch {SCORING_BATCH_SIZE}, {} rayon thread(s)",
        model.num_params() as f64 / 1e6,
        CONTEXT - 1,
        rayon::current_num_threads()
    );
    println!("  scoring (log p, mu, sigma): {scoring_s:.2} s, {:.0} tokens/s", tokens as f64 / scoring_s);
    println!("  forward only (logits):      {forward_s:.2} s, {:.0} tokens/s", tokens as f64 / forward_s);
    println!("  ratio scoring / forward:    {:.2}x", scoring_s / forward_s);
    println!("  (mean log p {mean_logprob:.4}, ln(1/V) = {:.4}; checksum {checksum:.3})", -(VOCAB as f64).ln());
}
