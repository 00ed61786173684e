//! DP-SGD step vs non-private step on the same model and batches: tokens/s for each and their
//! ratio, for the `tiny` and `small` presets at batch 64 × context 128 (vocabulary 1024).
//!
//! Run: `MIMALLOC_PURGE_DELAY=-1 RAYON_NUM_THREADS=1 cargo bench -p vg-training --bench dp_step`
//! (mimalloc with purging off avoids page-fault churn on large tensors; see
//! shared/notes/dpsgd-on-candle.md, "Allocator"). Rounds alternate the two variants and the
//! median of each is reported, so background load hits both alike. `DP_STEP_ROUNDS` overrides
//! the number of rounds. `STEP_KERNELS=portable` times the portable kernel path (what CUDA runs)
//! on the CPU; `STEP_DEVICE=cuda:N` times a GPU (a `--features cuda` build).

use rand::{Rng, SeedableRng};
use vg_training::GptConfig;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 64;
const CONTEXT: usize = 128;
const VOCAB: usize = 1024;

#[path = "common/step_timing.rs"]
mod step_timing;
use step_timing::median;

fn bench(preset: &str, rounds: usize) {
    let mut cfg = GptConfig::preset(preset, VOCAB).expect("preset");
    cfg.context_length = CONTEXT;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    // Full-length model inputs: BOS + 127 tokens → 127 predicted tokens each.
    let data: Vec<Vec<u32>> = (0..BATCH)
        .map(|_| std::iter::once(1).chain((1..CONTEXT).map(|_| rng.random_range(3..VOCAB as u32))).collect())
        .collect();
    let seqs: Vec<&[u32]> = data.iter().map(|s| s.as_slice()).collect();
    let tokens = (BATCH * (CONTEXT - 1)) as f64;
    let times = step_timing::time_steps(&cfg, &seqs, rounds);
    let (tp, td) = (median(&times.plain), median(&times.dp));
    println!(
        "{preset:>5} ({:.2}M params) batch {BATCH} x ctx {CONTEXT}: non-private {:.0} ms/step {:.0} tok/s | DP-SGD {:.0} ms/step {:.0} tok/s | ratio {:.2}x",
        times.params as f64 / 1e6,
        tp * 1e3,
        tokens / tp,
        td * 1e3,
        tokens / td,
        td / tp
    );
}

fn main() {
    let rounds: usize = std::env::var("DP_STEP_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    if std::env::var("RAYON_NUM_THREADS").is_err() {
        eprintln!("note: RAYON_NUM_THREADS is unset; candle will use every core");
    }
    bench("tiny", rounds);
    bench("small", rounds.div_ceil(2).max(2));
}
