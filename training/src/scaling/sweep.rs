//! One point of a scaling-law sweep: a model size trained at noise-batch ratio σ̄ with a small
//! physical batch b and σ = σ̄·b (McKenna et al. 2025, arXiv 2501.18914, §3: the noisy gradient
//! of batch b with σ = σ̄·b has the noise of any batch B with the same σ̄), evaluated on held-out
//! data along the way. σ̄ = 0 is the non-private curve that gives E*.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::law::SweepObservation;
use crate::config::NoiseStudy;
use crate::{GptConfig, Result, TrainConfig, TrainProgress};

/// What one sweep point trains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// Preset name.
    pub preset: String,
    /// Noise-batch ratio σ̄ (0 = non-private).
    pub sigma_bar: f64,
    /// Physical (expected Poisson) batch b.
    pub physical_batch: usize,
    /// Steps of the run; the held-out loss is measured every `eval_every`.
    pub steps: u64,
    /// Evaluation interval (the law's step grid).
    pub eval_every: u64,
    /// Peak learning rate, constant after warm-up.
    pub learning_rate: f64,
    /// Warm-up steps.
    pub warmup_steps: u64,
    /// Clipping norm C.
    pub clip_norm: f64,
    /// Seed of the initialisation.
    pub init_seed: u64,
}

impl SweepPoint {
    /// A file-name-safe identifier of the point.
    pub fn id(&self) -> String {
        format!("{}-sb{:.3e}-b{}-lr{:.1e}-s{}", self.preset, self.sigma_bar, self.physical_batch, self.learning_rate, self.init_seed).replace('+', "")
    }
}

/// The measured curve of a finished point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepResult {
    /// The point.
    pub point: SweepPoint,
    /// Parameters M.
    pub params: u64,
    /// σ = σ̄·b actually used.
    pub noise_multiplier: f64,
    /// (step, held-out loss, training-window loss, seconds since start).
    pub curve: Vec<(u64, f64, Option<f64>, f64)>,
    /// Real tokens processed.
    pub tokens: u64,
    /// Training seconds.
    pub seconds: f64,
}

impl SweepResult {
    /// The law's observations of this curve.
    pub fn observations(&self) -> Vec<SweepObservation> {
        self.curve
            .iter()
            .map(|&(steps, eval_loss, _, _)| SweepObservation { preset: self.point.preset.clone(), params: self.params, sigma_bar: self.point.sigma_bar, steps, eval_loss })
            .collect()
    }

    /// Measured throughput 6·M·tokens / seconds.
    pub fn flops_per_second(&self) -> f64 {
        6.0 * self.params as f64 * self.tokens as f64 / self.seconds.max(1e-9)
    }
}

/// Trains one sweep point into `dir` (resumable: an interrupted point continues from its last
/// checkpoint) and returns its curve. Every point, σ̄ = 0 included, runs DP-SGD's Poisson
/// sampling and per-example clipping, so the σ̄ → 0 limit of the law is the same recipe.
pub fn run_point(
    train_examples: &[Vec<u32>],
    eval_examples: &[Vec<u32>],
    model: &GptConfig,
    point: &SweepPoint,
    dir: &Path,
    progress: &mut dyn FnMut(&TrainProgress),
) -> Result<SweepResult> {
    let sigma = point.sigma_bar * point.physical_batch as f64;
    // No ε is computed: a sweep point is a measurement of loss at σ̄, never released, and the
    // accountant of a tiny σ = σ̄·b would be both meaningless and very costly.
    let noise_study = NoiseStudy { noise_multiplier: sigma, clip_norm: point.clip_norm, seed: point.init_seed };
    let cfg = TrainConfig {
        lr: point.learning_rate,
        warmup_steps: point.warmup_steps,
        // Constant after warm-up: the loss after t steps of a long run is that of a t-step run.
        min_lr_ratio: 1.0,
        steps: point.steps,
        batch_size: point.physical_batch,
        micro_batch_size: point.physical_batch.min(64),
        eval_every: point.eval_every,
        checkpoint_every: point.eval_every,
        init_seed: point.init_seed,
        data_seed: point.init_seed,
        noise_study: Some(noise_study),
        ..TrainConfig::default()
    };
    let json = crate::train(train_examples, eval_examples, model, &cfg, dir, true, progress)?;
    let curve = json.curve.iter().filter_map(|c| c.eval_loss.map(|e| (c.step, e, c.loss, c.elapsed_s))).collect();
    Ok(SweepResult {
        point: point.clone(),
        params: json.metrics.num_params as u64,
        noise_multiplier: sigma,
        curve,
        tokens: json.metrics.tokens_seen.unwrap_or(0),
        seconds: json.metrics.train_seconds,
    })
}
