//! vg-training owns the models an audit trains: the GPT model (candle; on the CPU with fused
//! kernels and a hand-written whole-model training pass, or on any candle device, CUDA included,
//! by the portable path through candle's autograd: [`KernelPath`]), the DP-SGD engine
//! (Poisson sampling, flat per-example clipping by ghost norms and book-keeping in one backward
//! pass, Gaussian noise from a secret ChaCha20 key, division by the expected batch size), the
//! AdamW/SGD optimizers, resumable checkpoints (`model.safetensors` + `model.json`), shadow-model
//! splits, and the scoring (per-token log-probs) and generation the attacks need.
//! Privacy accounting itself lives in `vg-accounting`; this crate calls it to calibrate σ and to
//! record the (ε, δ) spent.
//!
//! # Brief overview
//! - [`Gpt`] / [`GptConfig`]: the model and its architecture (what `model.json` stores).
//! - [`DpSgd`] (built by [`DpSgdBuilder`]): one private step = sample → clip → canaries → noise →
//!   observe → scale; [`Optimizer`] applies the result. [`GradientCanary`] and [`StepObserver`]
//!   are the hooks the white-box engine audit (in the `vg-audit` library) drives.
//! - [`train()`]: the whole loop with evaluation, curve, checkpoints and resume.
//! - [`LoadedModel`]: a finished model for scoring ([`TokenStats`]) and generation.
//! - [`distill()`] and [`InheritedGuarantee`]: a non-private student trained on a DP teacher's
//!   soft labels, and the guarantee that synthetic data and students inherit from the teacher.
//!
//! # Example: two DP-SGD steps on a tiny model
//! ```
//! use vg_training::{DpSgdBuilder, DpRandomness, Gpt, GptConfig, Optimizer, OptimizerConfig, model_input};
//! let cfg = GptConfig::preset("tiny", 64).unwrap();
//! let model = Gpt::new(&cfg, candle_core::DType::F32, 0).unwrap();
//! let data: Vec<Vec<u32>> = (0..16u32).map(|i| model_input(&[3 + i % 7, 4, 5 + i % 3], cfg.context_length)).collect();
//! let mut engine = DpSgdBuilder::new(data.len(), 4.0).clip_norm(1.0).noise_multiplier(1.0)
//!     .randomness(DpRandomness::insecure(7)).build().unwrap();
//! let mut opt = Optimizer::new(&OptimizerConfig::Sgd { momentum: 0.0 }, &model).unwrap();
//! for step in 0..2 {
//!     let out = engine.step(&model, &data, step).unwrap();
//!     opt.step(&model, &out.grads, 0.1).unwrap();
//! }
//! let eps = vg_accounting::epsilon(vg_accounting::AccountantKind::Pld, engine.sampling_rate(), 1.0, 2, 1e-5,
//!     vg_accounting::Neighbouring::AddOrRemoveOne).unwrap();
//! assert!(eps > 0.0 && eps.is_finite());
//! ```
//!
//! Threads: candle's matmuls use `RAYON_NUM_THREADS`; set it to 1 on shared machines.
//!
//! # Features
//! - `test-utils`: [`EngineFaults`] and `DpSgdBuilder::faults`, deliberate engine faults for the
//!   mutation tests of the white-box engine audit (never in a normal build).

mod batch;
mod checkpoint;
mod config;
mod cpu_time;
mod device;
mod distill;
mod dpsgd;
mod error;
pub mod freeze;
mod generate;
mod hooks;
mod inherit;
pub mod hf;
mod kernels;
mod model;
mod optimizer;
mod privacy;
mod request;
pub mod scaling;
mod scoring;
mod shadows;
mod train;
mod whole_pass;

pub use batch::model_input;
pub use checkpoint::{save_model, CurvePoint, DataHashes, DpRecord, LoadedModel, Metrics, ModelJson, ShadowRecord, MODEL_FORMAT};
pub use cpu_time::ThreadGroup;
pub use device::{engine_device, set_engine_device, EngineDevice};
pub use kernels::KernelPath;
pub use config::{DpConfig, GptConfig, NoiseStudy, OptimizerConfig, PrivacyTarget, Provenance, TrainConfig};
pub use dpsgd::clip::{clip_and_accumulate, clip_and_accumulate_frozen, clip_and_accumulate_planned, clip_and_accumulate_reference, summed_gradient, CanaryRow, ClipPlan, ClippedGradients};
pub use dpsgd::engine::{DpSgd, DpSgdBuilder, DpStep, GradientCanary, StepObserver, StepView};
#[cfg(feature = "test-utils")]
pub use dpsgd::engine::EngineFaults;
pub use dpsgd::noise::{poisson_sample, DpRandomness};
pub use error::{Error, Result};
pub use generate::{generate, generate_streams, Decoding};
pub use model::Gpt;
pub use optimizer::Optimizer;
pub use privacy::{resolve_privacy, sampling_rate};
pub use request::{default_delta, DpRequest, TrainRequest, DEFAULT_EPSILON};
pub use scoring::{mean_loss, token_stats, TokenStats, SCORING_BATCH_SIZE};
pub use shadows::shadow_assignment;
pub use train::{distill, train, TrainProgress};
pub use inherit::{DistillLabels, Distillation, GuaranteeStatus, InheritedGuarantee};
