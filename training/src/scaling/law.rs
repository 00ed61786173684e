//! The DP scaling law: held-out loss as a function of model size M, steps T and noise-batch
//! ratio σ̄ = σ/B (McKenna et al. 2025, "Scaling Laws for Differentially Private Language
//! Models", arXiv 2501.18914; reference code google-research `dp_scaling_laws/`).
//!
//! Fit: per model size, the sweep's loss table (steps × σ̄) is smoothed isotonically, the σ̄ = 0
//! curve gives E* by L(T) = E* + exp(b)·T^m, every σ̄ curve is extrapolated in T with that E*,
//! and predictions interpolate log L linearly in (log M, log T, log σ̄).

use serde::{Deserialize, Serialize};

use super::isotonic::{non_decreasing, smooth_table};
use crate::{Error, Result};

/// Format tag of a law file.
pub const LAW_FORMAT: &str = "vg-audit-scaling-law/1";

/// One measured point of a sweep: the held-out loss of a model size after `steps` steps at σ̄.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepObservation {
    /// Preset name of the model.
    pub preset: String,
    /// Trainable parameters M.
    pub params: u64,
    /// Noise-batch ratio σ̄ = σ / B (0 = non-private).
    pub sigma_bar: f64,
    /// Optimizer steps done when the loss was measured.
    pub steps: u64,
    /// Held-out loss (mean token NLL, nats).
    pub eval_loss: f64,
}

/// How the sweep trained (the law holds for this recipe; `run` trains the plan with it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecipe {
    /// Peak learning rate (constant after warm-up, so any prefix of a run is a shorter run).
    pub learning_rate: f64,
    /// Linear warm-up steps.
    pub warmup_steps: u64,
    /// Per-example clipping norm C.
    pub clip_norm: f64,
    /// Physical batch b of the sweep (σ = σ̄·b).
    pub physical_batch: usize,
    /// Vocabulary size of the tokenizer the law was measured with.
    pub vocab_size: usize,
    /// Context length of the models.
    pub context_length: usize,
}

/// Where the law's data came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LawSource {
    /// The corpus (path or "demo").
    pub corpus: String,
    /// The exact command that regenerates the sweep and this law.
    pub command: String,
    /// Mean real tokens per training sequence (the L of C = 6·M·B·T·L).
    pub tokens_per_sequence: f64,
    /// UTF-8 bytes per token of the held-out text (bits per byte = loss / ln 2 / this).
    pub bytes_per_token: f64,
}

/// The law of one model size: the smoothed (and extrapolated) loss table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelLaw {
    /// Preset name.
    pub preset: String,
    /// Trainable parameters M.
    pub params: u64,
    /// E*: the loss the non-private curve converges to.
    pub e_star: f64,
    /// Largest measured step count; rows beyond it are extrapolated.
    pub measured_steps: u64,
    /// Per σ̄ column: (b, m) of the tail fit L(T) = E* + exp(b)·T^m.
    pub tail_fits: Vec<(f64, f64)>,
    /// Smoothed loss, `loss[t][s]` at `ScalingLaw::steps[t]` and `ScalingLaw::sigma_bars[s]`.
    pub loss: Vec<Vec<f64>>,
    /// Measured training throughput of this size, 6·M·tokens per second (for time budgets).
    pub flops_per_second: Option<f64>,
}

/// A fitted DP scaling law (a JSON file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingLaw {
    /// [`LAW_FORMAT`].
    pub format: String,
    /// Step grid (increasing): measured steps, then extrapolated ones.
    pub steps: Vec<f64>,
    /// σ̄ grid (increasing, first entry 0).
    pub sigma_bars: Vec<f64>,
    /// Model sizes, increasing in `params`.
    pub models: Vec<ModelLaw>,
    /// The training recipe the law holds for.
    pub recipe: TrainingRecipe,
    /// Provenance.
    pub source: LawSource,
}

/// Fit settings.
#[derive(Debug, Clone, PartialEq)]
pub struct FitOptions {
    /// Measurements before this many steps (warm-up) are left out.
    pub min_steps: u64,
    /// Extrapolate up to this multiple of the longest measured run (powers of two).
    pub extrapolate_factor: f64,
    /// Fraction of the measured steps (the tail) the per-σ̄ power law is fitted on.
    pub tail_fraction: f64,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions { min_steps: 1, extrapolate_factor: 16.0, tail_fraction: 0.5 }
    }
}

/// (E, b, m) of L(T) = E + exp(b)·T^m by least squares in L, E searched in [0, min L).
pub fn fit_power_law(ts: &[f64], ys: &[f64]) -> (f64, f64, f64) {
    let min_y = ys.iter().cloned().fold(f64::INFINITY, f64::min);
    let sse = |e: f64| {
        let (b, m) = fit_tail(ts, ys, e);
        let s: f64 = ts.iter().zip(ys).map(|(t, y)| (e + (b + m * t.ln()).exp() - y).powi(2)).sum();
        (s, b, m)
    };
    // Coarse scan of E over [0, min L), then golden-section refinement around the best.
    let n = 200;
    let grid: Vec<f64> = (0..n).map(|k| min_y * k as f64 / n as f64).collect();
    let best_k = (0..n).min_by(|&a, &b| sse(grid[a]).0.total_cmp(&sse(grid[b]).0)).expect("n > 0");
    let (mut lo, mut hi) = (grid[best_k.saturating_sub(1)], grid[(best_k + 1).min(n - 1)].max(grid[best_k]));
    if best_k + 1 >= n {
        hi = min_y * (1.0 - 1e-9);
    }
    let g = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..60 {
        let (a, b) = (hi - g * (hi - lo), lo + g * (hi - lo));
        if sse(a).0 <= sse(b).0 {
            hi = b;
        } else {
            lo = a;
        }
    }
    let e = 0.5 * (lo + hi);
    let (_, b, m) = sse(e);
    (e, b, m)
}

/// (b, m) of log(L − E) = b + m·log T by least squares, m ≤ 0 (loss never rises with steps).
pub fn fit_tail(ts: &[f64], ys: &[f64], e: f64) -> (f64, f64) {
    let floor = 1e-9;
    let xs: Vec<f64> = ts.iter().map(|t| t.ln()).collect();
    let zs: Vec<f64> = ys.iter().map(|y| (y - e).max(floor).ln()).collect();
    let n = xs.len() as f64;
    let (mx, mz) = (xs.iter().sum::<f64>() / n, zs.iter().sum::<f64>() / n);
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let sxz: f64 = xs.iter().zip(&zs).map(|(x, z)| (x - mx) * (z - mz)).sum();
    let m = if sxx > 0.0 { (sxz / sxx).min(0.0) } else { 0.0 };
    (mz - m * mx, m)
}

impl ScalingLaw {
    /// Fits a law to sweep observations. Every model size must have been measured at the same
    /// σ̄ values (including 0, the non-private curve) and the same steps.
    pub fn fit(obs: &[SweepObservation], recipe: TrainingRecipe, source: LawSource, opts: &FitOptions) -> Result<Self> {
        let obs: Vec<&SweepObservation> = obs.iter().filter(|o| o.steps >= opts.min_steps && o.eval_loss.is_finite()).collect();
        if obs.is_empty() {
            return Err(Error::param("sweep", "empty", format!("no finite observations at ≥ {} steps", opts.min_steps)));
        }
        let mut sigma_bars: Vec<f64> = obs.iter().map(|o| o.sigma_bar).collect();
        sigma_bars.sort_by(f64::total_cmp);
        sigma_bars.dedup();
        if sigma_bars[0] != 0.0 {
            return Err(Error::param("sweep", "no σ̄ = 0", "the non-private curve (σ̄ = 0) is needed for E*"));
        }
        if sigma_bars.len() < 2 {
            return Err(Error::param("sweep", "only σ̄ = 0", "at least one σ̄ > 0 is needed"));
        }
        let mut sizes: Vec<(u64, String)> = obs.iter().map(|o| (o.params, o.preset.clone())).collect();
        sizes.sort();
        sizes.dedup();
        let mut steps: Vec<u64> = obs.iter().map(|o| o.steps).collect();
        steps.sort();
        steps.dedup();
        // Steps measured for every (size, σ̄): the common grid.
        steps.retain(|&t| sizes.iter().all(|(m, _)| sigma_bars.iter().all(|&s| obs.iter().any(|o| o.params == *m && o.sigma_bar == s && o.steps == t))));
        if steps.len() < 3 {
            return Err(Error::param("sweep", format!("{} common step counts", steps.len()), "every (model, σ̄) curve needs the same ≥ 3 evaluation steps"));
        }
        let ts: Vec<f64> = steps.iter().map(|&t| t as f64).collect();
        let t_max = ts[ts.len() - 1];
        let mut grid = ts.clone();
        let mut f = 2.0;
        while f <= opts.extrapolate_factor + 1e-9 {
            grid.push(t_max * f);
            f *= 2.0;
        }
        let tail_start = ((1.0 - opts.tail_fraction) * ts.len() as f64).floor() as usize;
        let tail_start = tail_start.min(ts.len() - 3);
        let mut models = Vec::new();
        for (params, preset) in &sizes {
            // Loss table; repeated measurements (several learning rates or seeds) keep the best.
            let mut table: Vec<Vec<f64>> = ts
                .iter()
                .map(|&t| {
                    sigma_bars
                        .iter()
                        .map(|&s| obs.iter().filter(|o| o.params == *params && o.sigma_bar == s && o.steps as f64 == t).map(|o| o.eval_loss).fold(f64::INFINITY, f64::min))
                        .collect()
                })
                .collect();
            smooth_table(&mut table);
            let clean: Vec<f64> = table.iter().map(|r| r[0]).collect();
            let (e_star, _, _) = fit_power_law(&ts, &clean);
            let tail_fits: Vec<(f64, f64)> = (0..sigma_bars.len())
                .map(|s| {
                    let ys: Vec<f64> = table[tail_start..].iter().map(|r| r[s]).collect();
                    fit_tail(&ts[tail_start..], &ys, e_star)
                })
                .collect();
            for &t in &grid[ts.len()..] {
                let prev = table.last().expect("measured rows").clone();
                let row: Vec<f64> = tail_fits.iter().zip(&prev).map(|(&(b, m), &p)| (e_star + (b + m * t.ln()).exp()).min(p)).collect();
                table.push(non_decreasing(&row));
            }
            models.push(ModelLaw { preset: preset.clone(), params: *params, e_star, measured_steps: t_max as u64, tail_fits, loss: table, flops_per_second: None });
        }
        Ok(ScalingLaw { format: LAW_FORMAT.into(), steps: grid, sigma_bars, models, recipe, source })
    }

    /// Reads a law file.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text).map_err(|e| match e {
            Error::BadFile { why, .. } => Error::BadFile { path: path.to_path_buf(), why },
            other => other,
        })
    }

    /// Parses a law from JSON text, checking its shape.
    pub fn from_json(text: &str) -> Result<Self> {
        let bad = |why: String| Error::BadFile { path: "<law>".into(), why };
        let law: ScalingLaw = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if law.format != LAW_FORMAT {
            return Err(bad(format!("format {:?}, expected {LAW_FORMAT:?}", law.format)));
        }
        let increasing = |v: &[f64]| v.windows(2).all(|w| w[0] < w[1]);
        if law.steps.len() < 2 || !increasing(&law.steps) || law.sigma_bars.len() < 2 || !increasing(&law.sigma_bars) || law.sigma_bars[0] != 0.0 {
            return Err(bad("steps and sigma_bars must be increasing grids (sigma_bars from 0)".into()));
        }
        if law.models.is_empty() || !law.models.windows(2).all(|w| w[0].params < w[1].params) {
            return Err(bad("models must be non-empty and increasing in params".into()));
        }
        for m in &law.models {
            if m.loss.len() != law.steps.len() || m.loss.iter().any(|r| r.len() != law.sigma_bars.len() || r.iter().any(|v| !(*v > 0.0 && v.is_finite()))) {
                return Err(bad(format!("model {}: loss table must be {}×{} positive numbers", m.preset, law.steps.len(), law.sigma_bars.len())));
            }
        }
        Ok(law)
    }

    /// The law as pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Range of model sizes, steps and σ̄ in which the law predicts.
    pub fn domain(&self) -> ((u64, u64), (f64, f64), f64) {
        let m = (self.models[0].params, self.models[self.models.len() - 1].params);
        ((m.0, m.1), (self.steps[0], self.steps[self.steps.len() - 1]), self.sigma_bars[self.sigma_bars.len() - 1])
    }

    /// Predicted held-out loss of a model of `params` parameters after `steps` steps at
    /// noise-batch ratio `sigma_bar`; `None` outside the measured (and extrapolated) range.
    pub fn predict(&self, params: f64, steps: f64, sigma_bar: f64) -> Option<f64> {
        let (mi, mw) = bracket(self.models.len(), |i| (self.models[i].params as f64).ln(), params.ln())?;
        let (ti, tw) = bracket(self.steps.len(), |i| self.steps[i].ln(), steps.ln())?;
        let (si, sw) = if sigma_bar < self.sigma_bars[1] {
            // Between the non-private curve and the smallest σ̄ > 0: linear in σ̄ (log 0 = −∞).
            if !(sigma_bar >= 0.0) {
                return None;
            }
            (0, sigma_bar / self.sigma_bars[1])
        } else {
            bracket(self.sigma_bars.len(), |i| self.sigma_bars[i].max(f64::MIN_POSITIVE).ln(), sigma_bar.ln())?
        };
        let mut acc = 0.0;
        for (dm, wm) in [(0usize, 1.0 - mw), (1, mw)] {
            if wm == 0.0 {
                continue;
            }
            let table = &self.models[(mi + dm).min(self.models.len() - 1)].loss;
            for (dt, wt) in [(0usize, 1.0 - tw), (1, tw)] {
                if wt == 0.0 {
                    continue;
                }
                let row = &table[(ti + dt).min(self.steps.len() - 1)];
                for (ds, ws) in [(0usize, 1.0 - sw), (1, sw)] {
                    if ws == 0.0 {
                        continue;
                    }
                    acc += wm * wt * ws * row[(si + ds).min(self.sigma_bars.len() - 1)].ln();
                }
            }
        }
        Some(acc.exp())
    }

    /// Measured throughput (FLOPs per second) at `params`, log-linear between sizes, nearest
    /// size outside; `None` when the law carries no throughput.
    pub fn flops_per_second(&self, params: f64) -> Option<f64> {
        let known: Vec<(f64, f64)> = self.models.iter().filter_map(|m| m.flops_per_second.map(|f| ((m.params as f64).ln(), f.ln()))).collect();
        match known.len() {
            0 => None,
            1 => Some(known[0].1.exp()),
            _ => {
                let x = params.ln().clamp(known[0].0, known[known.len() - 1].0);
                let (i, w) = bracket(known.len(), |i| known[i].0, x)?;
                let j = (i + 1).min(known.len() - 1);
                Some(((1.0 - w) * known[i].1 + w * known[j].1).exp())
            }
        }
    }
}

/// (i, w) with x = (1 − w)·key(i) + w·key(i+1) over increasing keys; `None` outside the range.
fn bracket(n: usize, key: impl Fn(usize) -> f64, x: f64) -> Option<(usize, f64)> {
    if n == 0 || !x.is_finite() {
        return None;
    }
    let (lo, hi) = (key(0), key(n - 1));
    let tol = 1e-9 * (1.0 + hi.abs());
    if x < lo - tol || x > hi + tol {
        return None;
    }
    if n == 1 {
        return Some((0, 0.0));
    }
    let x = x.clamp(lo, hi);
    // Binary search for the last key ≤ x.
    let (mut a, mut b) = (0usize, n - 1);
    while b - a > 1 {
        let mid = (a + b) / 2;
        if key(mid) <= x {
            a = mid;
        } else {
            b = mid;
        }
    }
    let (ka, kb) = (key(a), key(b));
    Some((a, if kb > ka { ((x - ka) / (kb - ka)).clamp(0.0, 1.0) } else { 0.0 }))
}
