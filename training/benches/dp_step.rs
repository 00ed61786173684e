//! DP-SGD step vs non-private step on the same model and batches: tokens/s for each and their
//! ratio, for the `tiny` and `small` presets at batch 64 × context 128 (vocabulary 1024).
//!
//! Run: `MIMALLOC_PURGE_DELAY=-1 RAYON_NUM_THREADS=1 cargo bench -p vg-training --bench dp_step`
//! (mimalloc with purging off avoids page-fault churn on large tensors; see
//! shared/notes/dpsgd-on-candle.md, "Allocator"). Rounds alternate the two variants and the
//! median of each is reported, so background load hits both alike. `DP_STEP_ROUNDS` overrides
//! the number of rounds.

use std::time::Instant;

use candle_core::DType;
use rand::{Rng, SeedableRng};
use vg_training::{summed_gradient, DpRandomness, DpSgdBuilder, Gpt, GptConfig, Optimizer, OptimizerConfig};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 64;
const CONTEXT: usize = 128;
const VOCAB: usize = 1024;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

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
    let plain_model = Gpt::new(&cfg, DType::F32, 0).expect("model");
    let dp_model = Gpt::new(&cfg, DType::F32, 0).expect("model");
    let opt_cfg = OptimizerConfig::default();
    let mut plain_opt = Optimizer::new(&opt_cfg, &plain_model).expect("optimizer");
    let mut dp_opt = Optimizer::new(&opt_cfg, &dp_model).expect("optimizer");
    let mut engine = DpSgdBuilder::new(10 * BATCH, BATCH as f64)
        .clip_norm(1.0)
        .noise_multiplier(1.0)
        .micro_batch_size(BATCH)
        .randomness(DpRandomness::insecure(0))
        .build()
        .expect("engine");
    let mut plain_step = || {
        let t = Instant::now();
        let (g, _, _) = summed_gradient(&plain_model, &seqs).expect("plain step");
        let g: Vec<_> = g.iter().map(|x| (x / BATCH as f64).expect("scale")).collect();
        plain_opt.step(&plain_model, &g, 1e-3).expect("optimizer step");
        t.elapsed().as_secs_f64()
    };
    let mut step_no = 0;
    let mut dp_step = || {
        let t = Instant::now();
        let out = engine.step_on_batch(&dp_model, &seqs, step_no).expect("dp step");
        step_no += 1;
        dp_opt.step(&dp_model, &out.grads, 1e-3).expect("optimizer step");
        t.elapsed().as_secs_f64()
    };
    // Warm-up (allocator, first-touch pages).
    plain_step();
    dp_step();
    let (mut p, mut d) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        p.push(plain_step());
        d.push(dp_step());
    }
    let (tp, td) = (median(p), median(d));
    println!(
        "{preset:>5} ({:.2}M params) batch {BATCH} x ctx {CONTEXT}: non-private {:.0} ms/step {:.0} tok/s | DP-SGD {:.0} ms/step {:.0} tok/s | ratio {:.2}x",
        plain_model.num_params() as f64 / 1e6,
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
