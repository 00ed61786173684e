//! The timing harness both step benchmarks share: a non-private and a DP-SGD step (same model
//! shape, same batch, AdamW) timed in alternating rounds so background load hits both alike.
//! `STEP_DEVICE=cuda:N` runs them on a GPU (a `--features cuda` build), `STEP_KERNELS=portable`
//! on the portable kernel path (default: the device's path, fused on the CPU), `STEP_PASS=autograd`
//! through candle's autograd instead of the whole-model pass (the baseline of issue 18's pass); `STEP_ONLY=plain|dp`
//! times one variant alone, for a profiler.

use std::time::Instant;

use candle_core::{DType, Device};
use vg_training::{summed_gradient, DpRandomness, DpSgdBuilder, Gpt, GptConfig, KernelPath, Optimizer, OptimizerConfig};

/// A fresh model of `cfg` on the device and kernel path `STEP_DEVICE` / `STEP_KERNELS` ask for.
fn placed_model(cfg: &GptConfig) -> Gpt {
    let device = match std::env::var("STEP_DEVICE").as_deref() {
        Ok(d) if d.starts_with("cuda") => Device::new_cuda(d.strip_prefix("cuda:").map_or(0, |n| n.parse().expect("STEP_DEVICE=cuda:N"))).expect("open the GPU"),
        _ => Device::Cpu,
    };
    let model = Gpt::new(cfg, DType::F32, 0).expect("model").to_device(&device).expect("to device");
    let model = match std::env::var("STEP_KERNELS").as_deref() {
        Ok("portable") => model.with_kernel_path(KernelPath::Portable).expect("kernel path"),
        _ => model,
    };
    // STEP_PASS=autograd: the fused kernels through candle's autograd instead of the whole-model pass.
    model.with_whole_pass(std::env::var("STEP_PASS").as_deref() != Ok("autograd"))
}

/// Per-round step times in seconds of both variants, and the model's parameter count.
pub struct StepTimes {
    /// Non-private steps (summed gradient / B, AdamW).
    pub plain: Vec<f64>,
    /// DP-SGD steps (ghost-norm clipping, noise σ = 1, C = 1, fixed batch, AdamW).
    pub dp: Vec<f64>,
    /// Parameters of the model.
    pub params: usize,
}

/// The median of `v` (upper median for even lengths).
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Times `rounds` alternating non-private and DP-SGD steps of `cfg` on `seqs` after one warm-up each.
pub fn time_steps(cfg: &GptConfig, seqs: &[&[u32]], rounds: usize) -> StepTimes {
    // As `vg-audit` trains: candle's element-wise ops inline (CANDLE_NUM_THREADS=1) unless set.
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // Set before any tensor work, while this is the only thread.
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    let batch = seqs.len();
    let plain_model = placed_model(cfg);
    let dp_model = placed_model(cfg);
    let opt_cfg = OptimizerConfig::default();
    let mut plain_opt = Optimizer::new(&opt_cfg, &plain_model).expect("optimizer");
    let mut dp_opt = Optimizer::new(&opt_cfg, &dp_model).expect("optimizer");
    let mut engine = DpSgdBuilder::new(10 * batch, batch as f64)
        .clip_norm(1.0)
        .noise_multiplier(1.0)
        .micro_batch_size(batch)
        .randomness(DpRandomness::insecure(0))
        .build()
        .expect("engine");
    let mut plain_step = || {
        let t = Instant::now();
        let (g, _, _) = summed_gradient(&plain_model, seqs).expect("plain step");
        let g: Vec<_> = g.iter().map(|x| (x / batch as f64).expect("scale")).collect();
        plain_opt.step(&plain_model, &g, 1e-3).expect("optimizer step");
        t.elapsed().as_secs_f64()
    };
    let mut step_no = 0;
    let mut dp_step = || {
        let t = Instant::now();
        let out = engine.step_on_batch(&dp_model, seqs, step_no).expect("dp step");
        step_no += 1;
        dp_opt.step(&dp_model, &out.grads, 1e-3).expect("optimizer step");
        t.elapsed().as_secs_f64()
    };
    // Warm-up (allocator, first-touch pages).
    plain_step();
    dp_step();
    let (mut plain, mut dp) = (Vec::new(), Vec::new());
    // STEP_ONLY=plain|dp times one variant alone (for a profiler); the other reports its warm-up.
    let only = std::env::var("STEP_ONLY").unwrap_or_default();
    for _ in 0..rounds {
        if only != "dp" {
            plain.push(plain_step());
        }
        if only != "plain" {
            dp.push(dp_step());
        }
    }
    if plain.is_empty() {
        plain.push(plain_step());
    }
    if dp.is_empty() {
        dp.push(dp_step());
    }
    StepTimes { plain, dp, params: plain_model.num_params() }
}
