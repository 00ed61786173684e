//! One way to ask for a training run: [`TrainRequest`] holds what a caller chose and fills in
//! everything else from one set of defaults, so `vg-audit train` and `vg-audit run` cannot
//! drift apart (they once chose different δ for the same N).

use crate::config::{DpConfig, OptimizerConfig, PrivacyTarget, Provenance, TrainConfig};

/// ε of a DP run when none is given.
pub const DEFAULT_EPSILON: f64 = 8.0;

/// δ when none is given: the largest power of ten at or below 1/(10 N), so δ ≪ 1/N (a
/// mechanism that publishes one random record in full is (0, 1/N)-DP) and reads as a round number.
pub fn default_delta(n: usize) -> f64 {
    let raw = 1.0 / (10.0 * n.max(1) as f64);
    10f64.powf(raw.log10().floor())
}

/// What a caller asks of DP-SGD; unset fields take the defaults (ε = [`DEFAULT_EPSILON`],
/// δ = [`default_delta`] of the training set, C = 1, PLD, add/remove-one).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DpRequest {
    /// Target ε (σ calibrated); ignored when `noise_multiplier` is set.
    pub epsilon: Option<f64>,
    /// A given σ (ε then reported).
    pub noise_multiplier: Option<f64>,
    /// δ; `None` = [`default_delta`] of the number of training examples.
    pub delta: Option<f64>,
    /// Everything else of the DP configuration (its target is replaced by the fields above).
    pub settings: Option<DpConfig>,
}

/// A training run as asked for. The schedule defaults follow the number of steps T:
/// warm-up T/10, evaluation and checkpoints every T/4, micro-batches of at most 64.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainRequest {
    /// Optimizer steps T.
    pub steps: u64,
    /// Logical batch (expected batch under DP-SGD).
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Optimizer.
    pub optimizer: OptimizerConfig,
    /// Warm-up steps (default T/10, at least 1).
    pub warmup_steps: Option<u64>,
    /// Final learning rate as a fraction of the peak (default: the cosine decay of
    /// [`TrainConfig::default`]; 1 = constant after warm-up, the recipe a scaling law measures).
    pub min_lr_ratio: Option<f64>,
    /// Frozen parameter groups (see [`crate::freeze`]).
    pub freeze: Vec<String>,
    /// Evaluation interval (default T/4, at least 1).
    pub eval_every: Option<u64>,
    /// Checkpoint interval (default T/4, at least 1).
    pub checkpoint_every: Option<u64>,
    /// Physical micro-batch (default min(batch, 64)).
    pub micro_batch_size: Option<usize>,
    /// Seed of the initialisation.
    pub init_seed: u64,
    /// Seed of the non-private data order.
    pub data_seed: u64,
    /// DP-SGD; `None` trains non-privately.
    pub dp: Option<DpRequest>,
    /// Provenance recorded in model.json.
    pub provenance: Provenance,
}

impl TrainRequest {
    /// A request for `steps` steps at logical batch `batch_size`, everything else default.
    pub fn new(steps: u64, batch_size: usize) -> Self {
        TrainRequest {
            steps,
            batch_size,
            lr: TrainConfig::default().lr,
            optimizer: OptimizerConfig::default(),
            warmup_steps: None,
            min_lr_ratio: None,
            freeze: Vec::new(),
            eval_every: None,
            checkpoint_every: None,
            micro_batch_size: None,
            init_seed: 0,
            data_seed: 0,
            dp: None,
            provenance: Provenance::default(),
        }
    }

    /// The full configuration for a training set of `n_examples` examples.
    pub fn build(&self, n_examples: usize) -> TrainConfig {
        let quarter = (self.steps / 4).max(1);
        let dp = self.dp.as_ref().map(|r| {
            let delta = r.delta.unwrap_or_else(|| default_delta(n_examples));
            let target = match r.noise_multiplier {
                Some(sigma) => PrivacyTarget::NoiseMultiplier { sigma, delta },
                None => PrivacyTarget::Epsilon { epsilon: r.epsilon.unwrap_or(DEFAULT_EPSILON), delta },
            };
            DpConfig { target, ..r.settings.clone().unwrap_or_default() }
        });
        TrainConfig {
            optimizer: self.optimizer.clone(),
            lr: self.lr,
            warmup_steps: self.warmup_steps.unwrap_or((self.steps / 10).max(1)),
            min_lr_ratio: self.min_lr_ratio.unwrap_or(TrainConfig::default().min_lr_ratio),
            freeze: self.freeze.clone(),
            steps: self.steps,
            batch_size: self.batch_size,
            micro_batch_size: self.micro_batch_size.unwrap_or(self.batch_size.min(64)),
            eval_every: self.eval_every.unwrap_or(quarter),
            checkpoint_every: self.checkpoint_every.unwrap_or(quarter),
            init_seed: self.init_seed,
            data_seed: self.data_seed,
            dp,
            provenance: self.provenance.clone(),
            ..TrainConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_delta_is_the_power_of_ten_below_a_tenth_of_one_over_n() {
        assert_eq!(default_delta(1000), 1e-4);
        assert_eq!(default_delta(1001), 1e-5);
        assert_eq!(default_delta(2_500), 1e-5);
        assert_eq!(default_delta(100_000), 1e-6);
    }

    #[test]
    fn schedule_defaults_follow_the_steps_and_dp_defaults_fill_in() {
        let mut r = TrainRequest::new(200, 32);
        r.dp = Some(DpRequest::default());
        let c = r.build(2_000);
        assert_eq!((c.warmup_steps, c.eval_every, c.checkpoint_every, c.micro_batch_size), (20, 50, 50, 32));
        let dp = c.dp.unwrap();
        assert_eq!(dp.target, PrivacyTarget::Epsilon { epsilon: 8.0, delta: 1e-5 });
        r.dp = Some(DpRequest { noise_multiplier: Some(1.5), delta: Some(1e-6), ..DpRequest::default() });
        assert_eq!(r.build(10).dp.unwrap().target, PrivacyTarget::NoiseMultiplier { sigma: 1.5, delta: 1e-6 });
    }
}
