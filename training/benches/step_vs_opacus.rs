//! The training step on exactly the shape of the Opacus comparison (issue 18): GPT with vocabulary
//! 1024, d = 128, 2 layers, 4 heads, sequence 64, batch 32 (667,136 parameters, untied head,
//! pre-LayerNorm, GELU, learned positions), AdamW; DP-SGD with noise 1.0, clip 1.0, fixed batch.
//! Its PyTorch/Opacus twin is `step_vs_opacus.py` beside this file (same model, same step).
//!
//! Run: `RAYON_NUM_THREADS=1 cargo bench -p vg-training --bench step_vs_opacus` (add
//! `MIMALLOC_PURGE_DELAY=-1` to keep freed pages; since issue 18's kernels the kernel zeroing fresh pages is 2-4% of a step)
//! (2 threads: `RAYON_NUM_THREADS=2`). Rounds alternate the two variants and the median of each
//! is reported, so background load hits both alike; `STEP_ROUNDS` overrides the number of rounds.
//! The last line, `non_private_ms=<x> dp_ms=<y> threads=<n>`, is for scripts.

use rand::{Rng, SeedableRng};
use vg_training::GptConfig;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 32;
const SEQ: usize = 64;
const VOCAB: usize = 1024;

#[path = "common/step_timing.rs"]
mod step_timing;
use step_timing::median;

fn main() {
    let rounds: usize = std::env::var("STEP_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(15);
    let threads = std::env::var("RAYON_NUM_THREADS").ok().and_then(|s| s.parse::<usize>().ok());
    if threads.is_none() {
        eprintln!("note: RAYON_NUM_THREADS is unset; candle will use every core");
    }
    let threads = threads.unwrap_or_else(rayon::current_num_threads);
    let cfg = GptConfig { preset: "custom".into(), vocab_size: VOCAB, context_length: SEQ, n_layer: 2, n_embd: 128, n_head: 4, mlp_ratio: 4, ln_eps: 1e-5 };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    // SEQ + 1 tokens per row: SEQ model inputs and SEQ next-token targets, every position real.
    let data: Vec<Vec<u32>> = (0..BATCH).map(|_| (0..=SEQ).map(|_| rng.random_range(3..VOCAB as u32)).collect()).collect();
    let seqs: Vec<&[u32]> = data.iter().map(|s| s.as_slice()).collect();
    let times = step_timing::time_steps(&cfg, &seqs, rounds);
    assert_eq!(times.params, 667_136, "the issue's shape");
    let range = |v: &[f64]| (v.iter().cloned().fold(f64::INFINITY, f64::min) * 1e3, v.iter().cloned().fold(0.0, f64::max) * 1e3);
    let ((p_lo, p_hi), (d_lo, d_hi)) = (range(&times.plain), range(&times.dp));
    let (tp, td) = (median(&times.plain) * 1e3, median(&times.dp) * 1e3);
    println!(
        "V {VOCAB} d 128 L 2 H 4 T {SEQ} B {BATCH} ({} params), {rounds} rounds, {threads} thread(s): \
         non-private {tp:.1} ms/step (range {p_lo:.1}-{p_hi:.1}) | DP-SGD {td:.1} ms/step (range {d_lo:.1}-{d_hi:.1}) | DP/non-private {:.2}x",
        times.params,
        td / tp
    );
    println!("non_private_ms={tp:.1} dp_ms={td:.1} threads={threads}");
}
