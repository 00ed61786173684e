//! Model architecture (`GptConfig`, exactly what `model.json` stores) and training configuration.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Architecture of the decoder-only transformer; serialised verbatim into `model.json`.
///
/// No dropout: DP noise regularises, and a deterministic forward keeps per-example
/// gradients exact and resumed runs bit-identical.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GptConfig {
    /// Preset name this config came from ("tiny", "small", "base" or "custom").
    pub preset: String,
    /// Vocabulary size (token ids are `0..vocab_size`).
    pub vocab_size: usize,
    /// Context length: the longest model input (BOS + tokens + EOS) in tokens.
    pub context_length: usize,
    /// Number of transformer blocks.
    pub n_layer: usize,
    /// Model width d.
    pub n_embd: usize,
    /// Attention heads; must divide `n_embd`.
    pub n_head: usize,
    /// MLP hidden width = `mlp_ratio * n_embd`.
    pub mlp_ratio: usize,
    /// LayerNorm epsilon.
    pub ln_eps: f64,
}

impl GptConfig {
    /// A named preset for a tokenizer of `vocab_size` tokens:
    /// `tiny` (d 64, 2 layers, ctx 128; well under 1 M parameters at V ≤ 4096),
    /// `small` (d 128, 4 layers, ctx 128; about 1–2 M), `base` (d 384, 6 layers, ctx 256; about 11–14 M).
    pub fn preset(name: &str, vocab_size: usize) -> Result<Self> {
        let (n_embd, n_layer, n_head, context_length) = match name {
            "tiny" => (64, 2, 4, 128),
            "small" => (128, 4, 4, 128),
            "base" => (384, 6, 6, 256),
            other => {
                return Err(Error::param("model", other, "unknown preset; use tiny, small or base"))
            }
        };
        let cfg = GptConfig {
            preset: name.to_string(),
            vocab_size,
            context_length,
            n_layer,
            n_embd,
            n_head,
            mlp_ratio: 4,
            ln_eps: 1e-5,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Refuses shapes that cannot work (zero sizes, heads not dividing the width, vocab without specials).
    pub fn validate(&self) -> Result<()> {
        if self.vocab_size < 3 {
            return Err(Error::param("vocab_size", self.vocab_size, "must hold PAD, BOS and EOS (≥ 3)"));
        }
        if self.context_length < 2 {
            return Err(Error::param("context_length", self.context_length, "must be ≥ 2"));
        }
        if self.n_layer == 0 || self.n_embd == 0 || self.mlp_ratio == 0 {
            return Err(Error::param("n_layer/n_embd/mlp_ratio", format!("{}/{}/{}", self.n_layer, self.n_embd, self.mlp_ratio), "must be positive"));
        }
        if self.n_head == 0 || self.n_embd % self.n_head != 0 {
            return Err(Error::param("n_head", self.n_head, format!("must divide n_embd = {}", self.n_embd)));
        }
        if !(self.ln_eps > 0.0) {
            return Err(Error::param("ln_eps", self.ln_eps, "must be > 0"));
        }
        Ok(())
    }

    /// Number of trainable parameters.
    pub fn num_params(&self) -> usize {
        crate::model::param_shapes(self).iter().map(|(_, s)| s.iter().product::<usize>()).sum()
    }
}

/// Which optimizer updates the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimizerConfig {
    /// AdamW (Loshchilov & Hutter 2019), decoupled weight decay.
    AdamW {
        /// β₁.
        beta1: f64,
        /// β₂.
        beta2: f64,
        /// ε in the denominator.
        eps: f64,
        /// Decoupled weight decay (applied to matrices only, not to biases, norms or embeddings).
        weight_decay: f64,
    },
    /// Plain SGD with optional heavy-ball momentum.
    Sgd {
        /// Momentum (0 = none).
        momentum: f64,
    },
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig::AdamW { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.01 }
    }
}

/// How σ is chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PrivacyTarget {
    /// Calibrate σ so that the run spends at most (ε, δ).
    Epsilon {
        /// Target ε.
        epsilon: f64,
        /// Target δ (before any truncation term is added).
        delta: f64,
    },
    /// Use this σ and report the ε spent at δ.
    NoiseMultiplier {
        /// σ (noise std = σ·C).
        sigma: f64,
        /// δ at which ε is reported.
        delta: f64,
    },
}

/// DP-SGD settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DpConfig {
    /// Flat per-example clipping norm C over all parameters.
    pub clip_norm: f64,
    /// (ε, δ) target or a given σ.
    pub target: PrivacyTarget,
    /// The accountant (PLD by default).
    pub accountant: vg_accounting::AccountantKind,
    /// The neighbouring relation, i.e. the privacy unit (add/remove one example by default).
    pub neighbouring: vg_accounting::Neighbouring,
    /// Truncated Poisson: drop examples beyond this many in a logical batch; ε then comes from the
    /// truncated-Poisson PLD (arXiv:2508.15089), pld accountant only.
    pub max_batch: Option<usize>,
    /// Reproducible sampling and noise from this seed: the model then carries NO DP guarantee.
    pub insecure_seed: Option<u64>,
    /// Allow δ > 1/N (which permits publishing a record outright).
    pub force_delta: bool,
    /// Draw each noise coordinate as the sum of 4 Gaussians halved (Opacus secure mode), which
    /// blunts floating-point attacks on the Gaussian sampler (Mironov 2012-style) at 4× the noise cost.
    pub secure_noise: bool,
}

impl Default for DpConfig {
    fn default() -> Self {
        DpConfig {
            clip_norm: 1.0,
            target: PrivacyTarget::Epsilon { epsilon: 8.0, delta: 1e-5 },
            accountant: vg_accounting::AccountantKind::Pld,
            neighbouring: vg_accounting::Neighbouring::AddOrRemoveOne,
            max_batch: None,
            insecure_seed: None,
            force_delta: false,
            secure_noise: false,
        }
    }
}

/// Data provenance recorded in `model.json` and checked on resume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// SHA-256 of the tokenizer file, when known.
    pub tokenizer_sha256: Option<String>,
    /// SHA-256 of the corpus manifest, when known.
    pub corpus_manifest_sha256: Option<String>,
    /// A name for this model inside a run ("target", "baseline", "shadow-3", ...).
    pub model_name: String,
}

/// Everything that decides a training run besides the data and the architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Optimizer.
    pub optimizer: OptimizerConfig,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warm-up steps.
    pub warmup_steps: u64,
    /// Cosine decay ends at `lr * min_lr_ratio`.
    pub min_lr_ratio: f64,
    /// Optimizer steps.
    pub steps: u64,
    /// Logical batch size: fixed for non-private runs, the *expected* size qN under DP-SGD.
    pub batch_size: usize,
    /// Physical micro-batch (memory bound); gradients are accumulated over micro-batches.
    pub micro_batch_size: usize,
    /// Evaluate on the held-out split every this many steps (0 = only at the end).
    pub eval_every: u64,
    /// Write a resumable checkpoint every this many steps (0 = only at the end).
    pub checkpoint_every: u64,
    /// Seed of the weight initialisation (recorded).
    pub init_seed: u64,
    /// Seed of the non-private data order (recorded; DP sampling never uses it).
    pub data_seed: u64,
    /// "f32" (default) or "f64".
    pub dtype: String,
    /// DP-SGD settings; `None` trains non-privately.
    pub dp: Option<DpConfig>,
    /// Hashes of the inputs.
    pub provenance: Provenance,
    /// The public checkpoint the weights start from (`train --init`); `None`: random weights from
    /// `init_seed`. With it, examples are full model inputs encoded by the checkpoint's tokenizer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<crate::hf::init::InitCheckpoint>,
    /// Distillation from a DP teacher (labels, sources, inherited guarantee); `None` for a model
    /// trained on its own data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distill: Option<crate::inherit::Distillation>,
    /// Frozen parameter groups ("embeddings", "blocks:I-J", "head"; see [`crate::freeze`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freeze: Vec<String>,
    /// A scaling-law sweep point: DP-SGD's sampling, clipping and noise without an accountant
    /// (see [`NoiseStudy`]); exclusive with `dp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_study: Option<NoiseStudy>,
    /// Where the run computes (not recorded; default: the process's [`crate::engine_device`]).
    #[serde(skip)]
    pub device: crate::EngineDevice,
}

/// The noise of DP-SGD trained for measurement, not for release: Poisson batches of expected
/// size B, per-example clipping at C, noise σ·C, as a DP run, but no (ε, δ) is computed or
/// claimed (model.json records no `dp`). A scaling-law sweep trains its points this way with a
/// small B and σ = σ̄·B to emulate any batch at the same noise-batch ratio σ̄ (McKenna et al.
/// 2025, arXiv 2501.18914, §3); sampling and noise come from `seed`, so a point is reproducible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseStudy {
    /// Noise multiplier σ (noise std = σ·C on the clipped sum).
    pub noise_multiplier: f64,
    /// Flat per-example clipping norm C.
    pub clip_norm: f64,
    /// Seed of the (reproducible) Poisson sampling and noise.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            optimizer: OptimizerConfig::default(),
            lr: 1e-3,
            warmup_steps: 20,
            min_lr_ratio: 0.1,
            steps: 200,
            batch_size: 32,
            micro_batch_size: 32,
            eval_every: 50,
            checkpoint_every: 100,
            init_seed: 0,
            data_seed: 0,
            dtype: "f32".into(),
            dp: None,
            provenance: Provenance::default(),
            init: None,
            distill: None,
            freeze: Vec::new(),
            noise_study: None,
            device: crate::EngineDevice::default(),
        }
    }
}

impl TrainConfig {
    /// Refuses impossible settings before any work starts.
    pub fn validate(&self) -> Result<()> {
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::param("lr", self.lr, "must be a positive finite number"));
        }
        if self.steps == 0 {
            return Err(Error::param("steps", 0, "must be ≥ 1"));
        }
        if self.batch_size == 0 || self.micro_batch_size == 0 {
            return Err(Error::param("batch_size/micro_batch_size", format!("{}/{}", self.batch_size, self.micro_batch_size), "must be ≥ 1"));
        }
        if !(0.0..=1.0).contains(&self.min_lr_ratio) {
            return Err(Error::param("min_lr_ratio", self.min_lr_ratio, "must lie in [0, 1]"));
        }
        if self.dtype != "f32" && self.dtype != "f64" {
            return Err(Error::param("dtype", &self.dtype, "use f32 or f64"));
        }
        if let Some(d) = &self.distill {
            if self.dp.is_some() {
                return Err(Error::param("distill", "dp", "a student is trained non-privately: it inherits the teacher's guarantee"));
            }
            if let crate::inherit::DistillLabels::Soft { temperature } = d.labels {
                if !(temperature > 0.0 && temperature.is_finite()) {
                    return Err(Error::param("distillation temperature", temperature, "must be a positive finite number"));
                }
            }
        }
        if let Some(ns) = &self.noise_study {
            if self.dp.is_some() {
                return Err(Error::param("noise_study", "with dp", "a noise study is not a DP run: give one of the two"));
            }
            if !(ns.noise_multiplier >= 0.0 && ns.noise_multiplier.is_finite() && ns.clip_norm > 0.0 && ns.clip_norm.is_finite()) {
                return Err(Error::param("noise_study", format!("σ {} C {}", ns.noise_multiplier, ns.clip_norm), "σ must be finite and ≥ 0, C positive and finite"));
            }
        }
        if let Some(dp) = &self.dp {
            if !(dp.clip_norm > 0.0 && dp.clip_norm.is_finite()) {
                return Err(Error::privacy("clip_norm", dp.clip_norm, "must be a positive finite number"));
            }
            if let Some(m) = dp.max_batch {
                if m < self.batch_size {
                    return Err(Error::privacy("max_batch", m, format!("must be ≥ the expected batch size {}", self.batch_size)));
                }
                if dp.accountant != vg_accounting::AccountantKind::Pld {
                    return Err(Error::privacy("max_batch", m, "truncated Poisson batches are accounted by the pld accountant only"));
                }
            }
        }
        Ok(())
    }

    /// Learning rate at `step` (0-based): linear warm-up, then cosine decay to `lr * min_lr_ratio`.
    pub fn lr_at(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = self.steps.saturating_sub(self.warmup_steps).max(1) as f64;
        let progress = ((step - self.warmup_steps) as f64 / span).min(1.0);
        let min_lr = self.lr * self.min_lr_ratio;
        min_lr + 0.5 * (self.lr - min_lr) * (1.0 + (std::f64::consts::PI * progress).cos())
    }

    /// The candle dtype of parameters and activations.
    pub fn candle_dtype(&self) -> candle_core::DType {
        if self.dtype == "f64" { candle_core::DType::F64 } else { candle_core::DType::F32 }
    }
}
