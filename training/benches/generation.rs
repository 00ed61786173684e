//! Generation throughput, the shape of `vg-audit run`'s extraction step on one model: 300 greedy
//! continuations of 50-token prompts by 50 tokens, and 100 top-k samples of 127 tokens from BOS,
//! under the `tiny` preset with vocabulary 2048 (random init: the cost does not depend on the
//! weights). Same-run baseline: the same work one prompt per call (no batching across prompts,
//! as generation worked before batching). Prints seconds, new tokens/s and the speed-up, and
//! checks that both give the same tokens.
//!
//! Run: `RAYON_NUM_THREADS=1 cargo bench -p vg-training --bench generation`

use std::time::Instant;

use candle_core::DType;
use rand::{Rng, SeedableRng};
use vg_training::generate;
use vg_training::{Decoding, Gpt, GptConfig};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const VOCAB: usize = 2048;

/// Generates prompt by prompt, one call each (every call samples with stream 0).
fn one_at_a_time(model: &Gpt, prompts: &[Vec<u32>], n: usize, d: &Decoding, seed: u64) -> Vec<Vec<u32>> {
    prompts.iter().map(|p| generate(model, std::slice::from_ref(p), n, d, seed).expect("generate").remove(0)).collect()
}

fn main() {
    let cfg = GptConfig::preset("tiny", VOCAB).expect("tiny preset");
    let model = Gpt::new(&cfg, DType::F32, 0).expect("model");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let greedy_prompts: Vec<Vec<u32>> =
        (0..300).map(|_| std::iter::once(1).chain((0..49).map(|_| rng.random_range(3..VOCAB as u32))).collect()).collect();
    let sample_prompts = vec![vec![1u32]; 100];
    let topk = Decoding::TopK { k: 40, temperature: 1.0 };

    let t0 = Instant::now();
    let g = generate(&model, &greedy_prompts, 50, &Decoding::Greedy, 0).expect("greedy");
    let s = generate(&model, &sample_prompts, 127, &topk, 3).expect("sampled");
    let batched_s = t0.elapsed().as_secs_f64();
    let new_tokens: usize = g.iter().chain(&s).map(|c| c.len()).sum();

    let t0 = Instant::now();
    // Sampling stream i belongs to prompt i, so only sample 0 (stream 0 in both) can be compared.
    let g1 = one_at_a_time(&model, &greedy_prompts, 50, &Decoding::Greedy, 0);
    let s1 = one_at_a_time(&model, &sample_prompts, 127, &topk, 3);
    let single_s = t0.elapsed().as_secs_f64();
    let greedy_same = g == g1;
    let first_sample_same = s[0] == s1[0];

    println!("tiny ({:.2}M params, vocab {VOCAB}), 300 greedy x 50 new + 100 top-40 samples x 127 new, {} rayon thread(s)", model.num_params() as f64 / 1e6, rayon::current_num_threads());
    println!("  batched:            {batched_s:.2} s, {:.0} new tokens/s", new_tokens as f64 / batched_s);
    println!("  one prompt per call: {single_s:.2} s, {:.0} new tokens/s", new_tokens as f64 / single_s);
    println!("  speed-up: {:.1}x; greedy outputs identical: {greedy_same}; sample 0 identical: {first_sample_same}", single_s / batched_s);
}
