//! DP scaling-law plans in the library layer: the law a user names (or the shipped default),
//! the plan's plot, and step 3a of `run` — when `[models]` says "auto", the DP model's preset,
//! batch and steps come from the law for this run's records, (ε, δ) and budget. The plan is
//! written to `plan.json` (+ `plan.svg`) so training, resume and the report read one answer.

use std::path::Path;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use vg_training::scaling::{self, ComputeBudget, Plan, PlanRequest, ScalingLaw, TrainingRecipe};

use super::steps::TrainingData;
use super::Pipeline;
use crate::config::{NON_PRIVATE_AUTO_BATCH, NON_PRIVATE_AUTO_STEPS};

/// The plan file in the run directory.
pub const PLAN_FILE: &str = "plan.json";
/// Its plot.
pub const PLAN_PLOT: &str = "plan.svg";

/// Reads the law at `path`, or the shipped default law (measured on the demo corpus).
pub fn load_law(path: Option<&Path>) -> anyhow::Result<ScalingLaw> {
    match path {
        Some(p) => ScalingLaw::load(p).with_context(|| format!("reading law {}", p.display())),
        None => Ok(scaling::default_law()?),
    }
}

/// The plot: predicted loss against batch, one line per model size (at most 8), the best marked.
pub fn plot(plan: &Plan) -> anyhow::Result<String> {
    let mut series: Vec<(String, Vec<[f64; 2]>)> = Vec::new();
    for g in &plan.grid {
        let label = format!("{} ({:.2} M)", g.preset, g.params as f64 / 1e6);
        match series.iter_mut().find(|(l, _)| *l == label) {
            Some((_, pts)) => pts.push([g.batch_size as f64, g.predicted_eval_loss]),
            None => series.push((label, vec![[g.batch_size as f64, g.predicted_eval_loss]])),
        }
    }
    if series.len() > 8 {
        let k = series.len();
        series = (0..8).map(|i| series[i * (k - 1) / 7].clone()).collect();
    }
    let best = [plan.best.batch_size as f64, plan.best.predicted_eval_loss];
    Ok(vg_reports::loss_vs_batch("Predicted held-out loss at this budget", &series, Some(best))?)
}

/// What `plan.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunPlan {
    /// Which law planned.
    pub law: String,
    /// The training recipe the law was measured with (the DP model trains with it).
    pub recipe: TrainingRecipe,
    /// UTF-8 bytes per token of this run's held-out text.
    pub bytes_per_token: f64,
    /// The planner's answer.
    pub plan: Plan,
}

/// How one model of the run trains, after the plan (or straight from audit.toml).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSchedule {
    /// Architecture preset.
    pub preset: String,
    /// Expected (DP) or fixed batch.
    pub batch_size: usize,
    /// Steps.
    pub steps: usize,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Warm-up steps (`None`: the request's default, T/10).
    pub warmup_steps: Option<u64>,
    /// Final learning rate as a fraction of the peak (`None`: the default cosine decay).
    pub min_lr_ratio: Option<f64>,
    /// Clipping norm C (DP only).
    pub clip_norm: f64,
}

/// Step 3a: plans the DP model and writes plan.json and plan.svg.
pub fn make_plan(p: &Pipeline, data: &TrainingData) -> anyhow::Result<()> {
    let m = &p.cfg.models;
    let mut law = load_law(m.law.as_deref())?;
    let law_name = m.law.as_ref().map(|l| l.display().to_string()).unwrap_or_else(|| "default (demo corpus)".into());
    if law.recipe.vocab_size != data.vocab_size || law.recipe.context_length != m.context {
        p.say(&format!(
            "  plan: the law was measured with vocabulary {} and context {}, this run has {} and {}: predictions are indicative only",
            law.recipe.vocab_size, law.recipe.context_length, data.vocab_size, m.context
        ));
    }
    if m.preset != "auto" {
        law.models.retain(|x| x.preset == m.preset);
        if law.models.is_empty() {
            bail!("models.preset = {:?} is not in the law {law_name}; use a preset it measured or \"auto\"", m.preset);
        }
    }
    let examples = data.target_examples();
    let n = examples.len();
    let compute = match (m.compute_budget, m.time_budget) {
        (Some(c), _) => ComputeBudget::Flops(c),
        (None, Some(t)) => ComputeBudget::Seconds(t),
        (None, None) => bail!("models: \"auto\" needs compute_budget or time_budget"),
    };
    // δ by the one default rule of vg-training, as the DP model's training request will use.
    let mut req = PlanRequest::new(n as u64, m.epsilon, m.delta.unwrap_or_else(|| vg_training::default_delta(n)), compute);
    req.context = Some(scaling::tokens_per_sequence(&examples, m.context));
    req.accountant = m.accountant;
    if let crate::auto::Auto::Fixed(b) = m.batch_size {
        req.batch_points = 1;
        req.max_batch_fraction = ((b as f64 + 0.5) / n as f64).min(1.0);
    }
    let plan = scaling::plan(&law, &req).with_context(|| format!("planning the DP model with the law {law_name}"))?;
    let svg = plot(&plan)?;
    let run_plan = RunPlan {
        law: law_name,
        recipe: law.recipe.clone(),
        bytes_per_token: data.held_out_bytes_per_token(),
        plan,
    };
    vg_corpora::fsutil::atomic_write(p.dir.join(PLAN_PLOT), svg.as_bytes())?;
    vg_corpora::fsutil::atomic_write(p.dir.join(PLAN_FILE), serde_json::to_string_pretty(&run_plan)?.as_bytes())?;
    let b = &run_plan.plan.best;
    p.say(&format!(
        "  plan: {} ({} parameters), batch {}, {} steps, σ = {:.3} (σ̄ = {:.2e}); predicted held-out loss {:.3} ({:.3} bits/byte)",
        b.preset,
        b.params,
        b.batch_size,
        b.steps,
        b.noise_multiplier,
        b.sigma_bar,
        b.predicted_eval_loss,
        scaling::bits_per_byte(b.predicted_eval_loss, run_plan.bytes_per_token)
    ));
    Ok(())
}

/// Reads plan.json when the run plans.
pub fn load(p: &Pipeline) -> anyhow::Result<Option<RunPlan>> {
    if !p.cfg.plans() {
        return Ok(None);
    }
    let path = p.dir.join(PLAN_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(serde_json::from_str(&text).with_context(|| format!("{}: not a plan", path.display()))?))
}

/// The schedule of the DP target (`private`) or of the non-private models.
pub fn schedule(p: &Pipeline, private: bool) -> anyhow::Result<ModelSchedule> {
    let m = &p.cfg.models;
    let plan = load(p)?;
    let preset = match &plan {
        Some(rp) if m.preset == "auto" => rp.plan.best.preset.clone(),
        _ => m.preset.clone(),
    };
    Ok(match (&plan, private) {
        (Some(rp), true) => ModelSchedule {
            preset,
            batch_size: rp.plan.best.batch_size as usize,
            steps: rp.plan.best.steps as usize,
            // The law holds for the recipe it was measured with: constant rate after warm-up.
            learning_rate: rp.recipe.learning_rate,
            warmup_steps: Some(rp.recipe.warmup_steps.min(rp.plan.best.steps / 4).max(1)),
            min_lr_ratio: Some(1.0),
            clip_norm: rp.recipe.clip_norm,
        },
        _ => ModelSchedule {
            preset,
            batch_size: m.batch_size.or(NON_PRIVATE_AUTO_BATCH),
            steps: m.steps.or(NON_PRIVATE_AUTO_STEPS),
            learning_rate: if private { m.dp_learning_rate } else { m.learning_rate },
            warmup_steps: None,
            min_lr_ratio: None,
            clip_norm: m.clip_norm,
        },
    })
}
