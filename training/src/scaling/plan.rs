//! The planner: for a budget of N records, (ε, δ) and compute C, every (model size M, batch B)
//! on a grid gets T = C / (6·M·B·L) steps, q = B/N, σ from the accountant, σ̄ = σ/B and the law's
//! predicted loss; the lowest wins (McKenna et al. 2025, arXiv 2501.18914, §4;
//! google-research `dp_scaling_laws/nonparametric.py`, `scaling_law_query`).
//!
//! The search over the whole grid takes σ from the central-limit approximation of the
//! subsampled Gaussian (μ = q·√(T·(e^{1/σ²} − 1)) Gaussian DP, Bu, Dong, Long & Su 2020,
//! "Deep Learning with Gaussian Differential Privacy", Thm 3), which is closed-form; the leading
//! candidates are then recomputed with the real accountant (`calibrate_noise_multiplier_near`,
//! started from the approximation's σ) and re-ranked, so every σ a plan shows is the
//! accountant's, never an approximation.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use vg_accounting::{AccountantKind, Neighbouring};

use super::law::ScalingLaw;
use crate::{Error, Result};

/// Compute budget of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComputeBudget {
    /// Total training FLOPs C = 6·M·B·T·L.
    Flops(f64),
    /// Wall-clock seconds of training, turned into FLOPs by the law's measured throughput.
    Seconds(f64),
}

/// What to plan for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanRequest {
    /// Training records N (the privacy unit).
    pub records: u64,
    /// Target ε.
    pub epsilon: f64,
    /// Target δ (< 1/N).
    pub delta: f64,
    /// Compute budget.
    pub compute: ComputeBudget,
    /// Tokens per sequence L of the compute formula (default: the law's measured mean).
    pub context: Option<f64>,
    /// Largest batch as a fraction of N (q ≤ this).
    pub max_batch_fraction: f64,
    /// Batch sizes on the grid (log-spaced from 1 to the largest allowed).
    pub batch_points: usize,
    /// Model sizes on the grid: `None` = the law's presets (trainable); `Some(k)` = k log-spaced
    /// sizes between the smallest and largest preset (exploration; labelled "interpolated").
    pub model_points: Option<usize>,
    /// Candidates recomputed with the exact accountant and listed.
    pub exact_candidates: usize,
    /// Accountant of the exact σ.
    pub accountant: AccountantKind,
    /// Neighbouring relation (the privacy unit).
    pub neighbouring: Neighbouring,
}

impl PlanRequest {
    /// A request with the defaults (PLD, add-remove, q ≤ 1, 100 batch sizes, presets only, 8 exact rows).
    pub fn new(records: u64, epsilon: f64, delta: f64, compute: ComputeBudget) -> Self {
        PlanRequest {
            records,
            epsilon,
            delta,
            compute,
            context: None,
            max_batch_fraction: 1.0,
            batch_points: 100,
            model_points: None,
            exact_candidates: 8,
            accountant: AccountantKind::Pld,
            neighbouring: Neighbouring::AddOrRemoveOne,
        }
    }
}

/// One configuration of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanCandidate {
    /// Preset name ("interpolated" for a grid size between presets).
    pub preset: String,
    /// Parameters M.
    pub params: u64,
    /// Expected (logical) batch size B.
    pub batch_size: u64,
    /// Steps T.
    pub steps: u64,
    /// Tokens per sequence L used in the compute.
    pub context: f64,
    /// σ from the accountant (0 for the non-private optimum).
    pub noise_multiplier: f64,
    /// σ̄ = σ / B.
    pub sigma_bar: f64,
    /// 6·M·B·T·L.
    pub compute_flops: f64,
    /// The law's predicted held-out loss (nats per token).
    pub predicted_eval_loss: f64,
    /// The same in bits per byte of held-out text.
    pub predicted_bits_per_byte: f64,
    /// q = B / N.
    pub sampling_rate: f64,
    /// ε the accountant gives for (q, σ, T) at δ (≤ the target; `None` for the non-private row,
    /// which has no guarantee).
    pub epsilon: Option<f64>,
}

/// A point of the search grid (σ approximate), for the loss-versus-batch plot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridPoint {
    /// Preset name.
    pub preset: String,
    /// Parameters M.
    pub params: u64,
    /// Batch B.
    pub batch_size: u64,
    /// Steps T.
    pub steps: u64,
    /// Predicted loss with the search's σ.
    pub predicted_eval_loss: f64,
}

/// The planner's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The lowest predicted loss (exact σ).
    pub best: PlanCandidate,
    /// Candidates within 2 % of the best's predicted loss (the best included).
    pub within_2_percent: Vec<PlanCandidate>,
    /// The exactly recomputed candidates, best first.
    pub candidates: Vec<PlanCandidate>,
    /// The best non-private configuration at the same compute (σ̄ = 0).
    pub non_private: Option<PlanCandidate>,
    /// Every grid point the law could predict (for the plot).
    pub grid: Vec<GridPoint>,
    /// Grid points left out because the law does not reach them (steps or σ̄ out of range).
    pub outside_law: usize,
    /// The request, with the tokens per sequence resolved.
    pub request: PlanRequest,
}

/// μ of the Gaussian-DP guarantee equivalent to (ε, δ): one Gaussian step with noise σ₁ is
/// (1/σ₁)-GDP, so μ = 1/σ₁ for the σ₁ vg-accounting calibrates for (ε, δ) at T = 1.
fn gdp_mu(epsilon: f64, delta: f64) -> Result<f64> {
    let sigma_one = vg_accounting::gaussian::noise_for_epsilon(epsilon, delta, 1).map_err(|e| Error::Accounting(e.to_string()))?;
    Ok(1.0 / sigma_one)
}

/// σ of the central-limit approximation: μ = q·√(T·(e^{1/σ²} − 1)) solved for σ, scaled by the
/// sensitivity (2 for replace-one neighbours).
fn clt_sigma(mu: f64, q: f64, steps: f64, neighbouring: Neighbouring) -> f64 {
    let x = mu * mu / (q * q * steps);
    let sensitivity = if neighbouring == Neighbouring::ReplaceOne { 2.0 } else { 1.0 };
    sensitivity / x.ln_1p().sqrt()
}

/// Refuses budgets that cannot be planned, before any search.
fn check_request(law: &ScalingLaw, req: &PlanRequest, context: f64) -> Result<()> {
    if req.records == 0 {
        return Err(Error::privacy("records", 0, "must be ≥ 1"));
    }
    if !(req.epsilon > 0.0 && req.epsilon.is_finite()) {
        return Err(Error::privacy("epsilon", req.epsilon, "must be a positive finite number"));
    }
    let n = req.records as f64;
    if !(req.delta > 0.0 && req.delta < 1.0 / n) {
        return Err(Error::privacy("delta", req.delta, format!("must lie in (0, 1/N) = (0, {:.3e}) for N = {}: a larger δ allows publishing a record outright", 1.0 / n, req.records)));
    }
    if !(req.max_batch_fraction > 0.0 && req.max_batch_fraction <= 1.0) {
        return Err(Error::param("max_batch_fraction", req.max_batch_fraction, "must lie in (0, 1]"));
    }
    if !(context > 0.0 && context.is_finite()) {
        return Err(Error::param("context", context, "tokens per sequence must be a positive number"));
    }
    if req.batch_points == 0 || req.model_points == Some(0) || req.exact_candidates == 0 {
        return Err(Error::param("grid", format!("{} × {:?}", req.batch_points, req.model_points), "grid sizes and candidates must be ≥ 1"));
    }
    let smallest = law.models[0].params as f64;
    let c = budget_flops(law, req, smallest)?;
    let one_step = 6.0 * smallest * context;
    if !(c >= one_step) {
        return Err(Error::param("compute", format!("{c:.3e} FLOPs"), format!("too small for one step of the smallest model ({} parameters, batch 1, {context:.0} tokens): needs ≥ {one_step:.3e}", law.models[0].params)));
    }
    Ok(())
}

fn budget_flops(law: &ScalingLaw, req: &PlanRequest, params: f64) -> Result<f64> {
    match req.compute {
        ComputeBudget::Flops(c) if c > 0.0 && c.is_finite() => Ok(c),
        ComputeBudget::Flops(c) => Err(Error::param("compute", c, "FLOPs must be a positive finite number")),
        ComputeBudget::Seconds(s) if s > 0.0 && s.is_finite() => {
            let fps = law.flops_per_second(params).ok_or_else(|| Error::param("hours", s / 3600.0, "this law carries no measured throughput; give the compute in FLOPs"))?;
            Ok(s * fps)
        }
        ComputeBudget::Seconds(s) => Err(Error::param("hours", s / 3600.0, "must be a positive finite number")),
    }
}

/// Model sizes of the grid: (preset label, params).
fn model_grid(law: &ScalingLaw, req: &PlanRequest) -> Vec<(String, u64)> {
    match req.model_points {
        None => law.models.iter().map(|m| (m.preset.clone(), m.params)).collect(),
        Some(k) => {
            let (lo, hi) = ((law.models[0].params as f64).ln(), (law.models[law.models.len() - 1].params as f64).ln());
            (0..k)
                .map(|i| {
                    let p = if k == 1 { lo } else { lo + (hi - lo) * i as f64 / (k - 1) as f64 };
                    let params = p.exp().round() as u64;
                    let preset = law.models.iter().find(|m| m.params == params).map(|m| m.preset.clone()).unwrap_or_else(|| "interpolated".into());
                    (preset, params)
                })
                .collect()
        }
    }
}

/// Plans a DP training run with `law` under the budget `req`.
pub fn plan(law: &ScalingLaw, req: &PlanRequest) -> Result<Plan> {
    let context = req.context.unwrap_or(law.source.tokens_per_sequence);
    check_request(law, req, context)?;
    let (kind, nb) = (req.accountant, req.neighbouring);
    let n = req.records as f64;
    let mu = gdp_mu(req.epsilon, req.delta)?;
    let b_max = (n * req.max_batch_fraction).floor().max(1.0);
    let mut batches: Vec<u64> = (0..req.batch_points)
        .map(|i| if req.batch_points == 1 { b_max } else { (b_max.ln() * i as f64 / (req.batch_points - 1) as f64).exp() })
        .map(|b| b.round().max(1.0) as u64)
        .collect();
    batches.dedup();
    let bpb = |loss: f64| super::bits_per_byte(loss, law.source.bytes_per_token);
    let models = model_grid(law, req);
    let mut grid = Vec::new();
    let mut outside = 0usize;
    let mut non_private: Option<PlanCandidate> = None;
    for (preset, params) in &models {
        let m = *params as f64;
        let c = budget_flops(law, req, m)?;
        for &b in &batches {
            let steps = (c / (6.0 * m * b as f64 * context)).floor();
            if steps < 1.0 {
                outside += 1;
                continue;
            }
            let q = b as f64 / n;
            let sigma = clt_sigma(mu, q, steps, nb);
            match law.predict(m, steps, sigma / b as f64) {
                Some(loss) => grid.push(GridPoint { preset: preset.clone(), params: *params, batch_size: b, steps: steps as u64, predicted_eval_loss: loss }),
                None => outside += 1,
            }
            if let Some(loss) = law.predict(m, steps, 0.0) {
                if non_private.as_ref().is_none_or(|np| loss < np.predicted_eval_loss) {
                    non_private = Some(PlanCandidate {
                        preset: preset.clone(),
                        params: *params,
                        batch_size: b,
                        steps: steps as u64,
                        context,
                        noise_multiplier: 0.0,
                        sigma_bar: 0.0,
                        compute_flops: 6.0 * m * b as f64 * steps * context,
                        predicted_eval_loss: loss,
                        predicted_bits_per_byte: bpb(loss),
                        sampling_rate: q,
                        epsilon: None,
                    });
                }
            }
        }
    }
    if grid.is_empty() {
        let ((m0, m1), (t0, t1), s1) = law.domain();
        return Err(Error::param(
            "budget",
            format!("N = {}, ε = {}, compute {:?}", req.records, req.epsilon, req.compute),
            format!("no configuration falls inside the law's range (M {m0}–{m1}, T {t0:.0}–{t1:.0}, σ̄ ≤ {s1:.2e}); fit a law on a sweep that covers this budget"),
        ));
    }
    let mut order: Vec<usize> = (0..grid.len()).collect();
    order.sort_by(|&a, &b| grid[a].predicted_eval_loss.total_cmp(&grid[b].predicted_eval_loss));
    let leaders: Vec<&GridPoint> = order.iter().take(req.exact_candidates).map(|&i| &grid[i]).collect();
    // The exact accountant for the rows shown (σ never interpolated there).
    let exact: Vec<Result<Option<PlanCandidate>>> = leaders
        .par_iter()
        .map(|g| {
            let q = g.batch_size as f64 / n;
            // Started from the search's estimate: the same σ as a cold calibration, in fewer evaluations.
            let guess = clt_sigma(mu, q, g.steps as f64, nb);
            let (sigma, epsilon) = vg_accounting::calibrate_noise_multiplier_near(kind, q, g.steps, req.epsilon, req.delta, nb, guess).map_err(|e| Error::Accounting(e.to_string()))?;
            let sigma_bar = sigma / g.batch_size as f64;
            Ok(law.predict(g.params as f64, g.steps as f64, sigma_bar).map(|loss| PlanCandidate {
                preset: g.preset.clone(),
                params: g.params,
                batch_size: g.batch_size,
                steps: g.steps,
                context,
                noise_multiplier: sigma,
                sigma_bar,
                compute_flops: 6.0 * g.params as f64 * g.batch_size as f64 * g.steps as f64 * context,
                predicted_eval_loss: loss,
                predicted_bits_per_byte: bpb(loss),
                sampling_rate: q,
                epsilon: Some(epsilon),
            }))
        })
        .collect();
    let mut candidates = Vec::new();
    for r in exact {
        if let Some(c) = r? {
            if c.epsilon.is_none_or(|e| e > req.epsilon) {
                return Err(Error::Accounting(format!("calibrated σ = {} gives ε = {:?} above the target {}", c.noise_multiplier, c.epsilon, req.epsilon)));
            }
            candidates.push(c);
        }
    }
    candidates.sort_by(|a, b| a.predicted_eval_loss.total_cmp(&b.predicted_eval_loss));
    let best = candidates.first().cloned().ok_or_else(|| Error::param("budget", req.records, "with the exact σ no leading configuration stays inside the law's σ̄ range; widen the sweep's σ̄"))?;
    let within_2_percent = candidates.iter().filter(|c| c.predicted_eval_loss <= best.predicted_eval_loss * 1.02).cloned().collect();
    let mut request = req.clone();
    request.context = Some(context);
    Ok(Plan { best, within_2_percent, candidates, non_private, grid, outside_law: outside, request })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clt_sigma_inverts_the_gdp_formula() {
        // μ = q·√(T(e^{1/σ²} − 1)) at q = 0.01, T = 1000, σ = 1.1 → σ back.
        let (q, t, s) = (0.01f64, 1000.0f64, 1.1f64);
        let mu = q * (t * ((1.0 / (s * s)).exp() - 1.0)).sqrt();
        assert!((clt_sigma(mu, q, t, Neighbouring::AddOrRemoveOne) - s).abs() < 1e-12);
        assert!((clt_sigma(mu, q, t, Neighbouring::ReplaceOne) - 2.0 * s).abs() < 1e-12);
    }

    #[test]
    fn gdp_mu_matches_the_gaussian_profile() {
        let mu = gdp_mu(1.0, 1e-5).unwrap();
        let d = vg_accounting::gaussian::delta_for_epsilon(mu, 1.0).unwrap();
        // noise_for_epsilon rounds σ up to 1e-10 relative: δ(μ) sits at or just below the target.
        assert!(d <= 1e-5 && d > 1e-5 * (1.0 - 1e-6), "δ(μ = {mu}) = {d}");
    }
}
