//! DP scaling laws (McKenna et al. 2025, "Scaling Laws for Differentially Private Language
//! Models", arXiv 2501.18914): a sweep measures held-out loss over model size, steps and the
//! noise-batch ratio σ̄ = σ/B ([`run_point`]); [`ScalingLaw::fit`] smooths, extrapolates and
//! interpolates those measurements; [`plan()`] splits a compute budget between model size, batch
//! and steps under a privacy budget, with σ from vg-accounting.

mod isotonic;
mod law;
mod plan;
mod sweep;

pub use isotonic::{non_decreasing, non_increasing, smooth_table};
pub use law::{fit_power_law, FitOptions, LawSource, ModelLaw, ScalingLaw, SweepObservation, TrainingRecipe, LAW_FORMAT};
pub use plan::{plan, ComputeBudget, GridPoint, Plan, PlanCandidate, PlanRequest};
pub use sweep::{run_point, SweepPoint, SweepResult};

/// The law shipped with vg-audit, measured on the built-in demo corpus (see its `source.command`).
pub const DEFAULT_LAW_JSON: &str = include_str!("default_law.json");

/// The shipped default law.
pub fn default_law() -> crate::Result<ScalingLaw> {
    ScalingLaw::from_json(DEFAULT_LAW_JSON)
}

/// Mean model-input length (BOS + tokens + EOS, truncated to `context`) of `examples`: the L of
/// the compute C = 6·M·B·T·L, counted in the tokens a step really processes.
pub fn tokens_per_sequence(examples: &[Vec<u32>], context: usize) -> f64 {
    let total: usize = examples.iter().map(|e| (e.len() + 2).min(context)).sum();
    total as f64 / examples.len().max(1) as f64
}

/// UTF-8 bytes per predicted token of held-out text, from (bytes, tokens) per record; each record
/// also predicts EOS. Bits per byte = (nats per token) / ln 2 / this.
pub fn bytes_per_token(records: impl Iterator<Item = (usize, usize)>) -> f64 {
    let (bytes, tokens) = records.fold((0usize, 0usize), |(b, t), (rb, rt)| (b + rb, t + rt + 1));
    bytes as f64 / tokens.max(1) as f64
}

/// Bits per byte of a held-out loss in nats per token.
pub fn bits_per_byte(nats_per_token: f64, bytes_per_token: f64) -> f64 {
    nats_per_token / std::f64::consts::LN_2 / bytes_per_token
}
