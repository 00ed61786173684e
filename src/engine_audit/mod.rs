//! The white-box audit of the DP-SGD engine with gradient canaries in one training run (issue 8):
//! trains a tiny model on the built-in demo corpus with m "Dirac" gradient canaries, each included
//! with probability ½, and compares what the engine releases with what a correct engine may
//! release — the one-run ε lower bounds (Steinke et al. 2023; f-DP, Mahloujifar et al. 2024), each
//! next to its ideal bound, against the theoretical ε of the T-fold Gaussian mechanism the
//! canaries see. vg-training supplies only the hooks (gradient canaries, the step observer);
//! [`mechanism`] drives them and vg-attacks computes the bounds.
//!
//! [`membership_audit`] is the entry point of `vg-audit audit-engine` and of the `run` pipeline.

pub mod mechanism;

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use vg_attacks::bounds::fdp::{canary_audit_bounds, CanaryAuditSettings, MethodBound};
use vg_training::{model_input, GptConfig};

pub use mechanism::{run_engine_audit, EngineAuditConfig, EngineAuditOutcome, Observation};

/// Vocabulary of the audit model: byte tokens 3..=258 and unused rows above them, where real
/// gradients never reach (room for up to ~16,000 untouched embedding coordinates).
const AUDIT_VOCAB: usize = 512;
/// Demo-corpus records used as real training examples.
const DEFAULT_EXAMPLES: usize = 256;

/// What "white-box" means here, for the human output and the report.
pub const WHITE_BOX_NOTE: &str = "White-box: the auditor plants synthetic gradients (not text) and reads the engine's \
privatised gradient at every step. The bounds test whether the DP-SGD engine adds the noise and clipping it claims \
(for a canary present in every step, the T-fold Gaussian mechanism with μ = √T/σ); they are not a statement about \
how much the trained model leaks about real records.";


/// Settings of one engine audit (what `vg-audit run` passes from `[engine_audit]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Claimed ε (σ calibrated); exactly one of `epsilon` and `noise_multiplier` is set.
    pub epsilon: Option<f64>,
    /// Given σ (ε computed).
    pub noise_multiplier: Option<f64>,
    /// δ of the statements.
    pub delta: f64,
    /// DP-SGD steps T.
    pub steps: u64,
    /// Gradient canaries m.
    pub canaries: usize,
    /// What the auditor observes.
    pub observation: Observation,
    /// Seed of inclusion bits, initialisation, data and simulations.
    pub seed: u64,
    /// Seed of DP noise and sampling; `None` = secret OS randomness.
    pub noise_seed: Option<u64>,
    /// Confidence of each bound.
    pub confidence: f64,
    /// Simulations per ideal bound.
    pub ideal_trials: usize,
    /// Canary tensor (`None` = least touched).
    pub tensor: Option<String>,
}

impl Settings {
    /// Defaults for a claimed (ε, δ) over `steps` steps with m canaries.
    pub fn for_epsilon(epsilon: f64, delta: f64, steps: u64, canaries: usize, seed: u64) -> Self {
        Settings {
            epsilon: Some(epsilon),
            noise_multiplier: None,
            delta,
            steps,
            canaries,
            observation: Observation::Sum,
            seed,
            noise_seed: None,
            confidence: 0.95,
            ideal_trials: 5,
            tensor: None,
        }
    }
}

/// One lower bound in the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BoundReport {
    /// The ε lower bound.
    pub epsilon: f64,
    /// Median bound of the same procedure on the exact Gaussian mechanism (the ceiling).
    pub ideal_epsilon: f64,
    /// Confidence (the choice of guesses is paid for).
    pub confidence: f64,
    /// What the auditor observed (`sum` or `last-iterate`).
    pub observation: String,
    /// Method and source.
    pub method: String,
    /// Guesses "in" (top scores) and "out" (bottom scores) of the winning rule.
    pub k_plus: usize,
    /// See `k_plus`.
    pub k_minus: usize,
    /// Guesses r and correct guesses v of the winning rule.
    pub guesses: u64,
    /// See `guesses`.
    pub correct: u64,
    /// Rules tried (Bonferroni factor).
    pub rules_tried: usize,
}

/// The result of an engine audit: the JSON object `--json` prints and `run` stores.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// ε of the T-fold Gaussian mechanism with μ = √T/σ at `delta` (analytic Gaussian).
    pub theoretical_epsilon: f64,
    /// δ of every ε.
    pub delta: f64,
    /// Gradient canaries m.
    pub canaries: usize,
    /// DP-SGD steps T.
    pub steps: u64,
    /// Noise multiplier σ.
    pub noise_multiplier: f64,
    /// μ = √T/σ.
    pub mu: f64,
    /// Clipping norm C.
    pub clip_norm: f64,
    /// What the auditor observed.
    pub observation: String,
    /// Parameter tensor holding the canaries.
    pub tensor: String,
    /// Largest warm-up gradient magnitude at a canary coordinate (0 = untouched by real data).
    pub max_warmup_touch: f64,
    /// Canaries included (S_i = +1).
    pub included: usize,
    /// `one_run` and `fdp_one_run`.
    pub lower_bounds: BTreeMap<String, BoundReport>,
    /// Whether any lower bound exceeds the theoretical ε (the engine releases more than claimed).
    pub exceeds_theoretical: bool,
    /// Whether the DP noise came from a fixed seed.
    pub noise_seeded: bool,
    /// Seed of inclusion bits, initialisation and simulations.
    pub seed: u64,
    /// What white-box means and what the audit does not say.
    pub note: String,
}

fn bound_report(b: &MethodBound, observation: &str, method: &str) -> BoundReport {
    BoundReport {
        epsilon: b.epsilon,
        ideal_epsilon: b.ideal_epsilon,
        confidence: b.confidence,
        observation: observation.to_string(),
        method: method.to_string(),
        k_plus: b.grid.rule.k_plus,
        k_minus: b.grid.rule.k_minus,
        guesses: b.grid.counts.guesses,
        correct: b.grid.counts.correct,
        rules_tried: b.grid.rules_tried,
    }
}

/// The demo corpus as byte-token model inputs (token = byte + 3, after the three specials).
fn demo_examples(n: usize, seed: u64, context: usize) -> Vec<Vec<u32>> {
    vg_corpora::demo::generate(n, seed)
        .iter()
        .map(|text| {
            let tokens: Vec<u32> = text.bytes().map(|b| u32::from(b) + 3).collect();
            model_input(&tokens, context)
        })
        .collect()
}

/// Runs the engine audit: trains the tiny audit model with gradient canaries, computes both
/// one-run lower bounds and their ideal bounds. `progress(done, total)` counts training steps.
pub fn audit(settings: &Settings, progress: &mut dyn FnMut(u64, u64)) -> anyhow::Result<Report> {
    if !(settings.delta > 0.0 && settings.delta < 1.0) {
        bail!("delta = {} must lie strictly between 0 and 1", settings.delta);
    }
    if !(settings.confidence > 0.0 && settings.confidence < 1.0) {
        bail!("confidence = {} must lie strictly between 0 and 1", settings.confidence);
    }
    let noise_multiplier = match (settings.epsilon, settings.noise_multiplier) {
        (Some(e), None) => vg_accounting::gaussian::noise_for_epsilon(e, settings.delta, settings.steps)?,
        (None, Some(s)) => s,
        (Some(_), Some(_)) => bail!("give --epsilon or --noise-multiplier, not both"),
        (None, None) => bail!("give --epsilon (σ is calibrated) or --noise-multiplier (ε is computed)"),
    };
    let model = GptConfig::preset("tiny", AUDIT_VOCAB)?;
    let data = demo_examples(DEFAULT_EXAMPLES, settings.seed, model.context_length);
    let cfg = EngineAuditConfig {
        canaries: settings.canaries,
        steps: settings.steps,
        noise_multiplier,
        tensor: settings.tensor.clone(),
        observation: settings.observation,
        seed: settings.seed,
        init_seed: settings.seed,
        noise_seed: settings.noise_seed,
        expected_batch_size: 16.0,
        ..EngineAuditConfig::default()
    };
    let out = run_engine_audit(&model, &data, &cfg, &|b| b, progress).context("engine audit training")?;
    let theoretical_epsilon = vg_accounting::gaussian::epsilon_for_delta(out.mu, settings.delta)?;
    let bounds = canary_audit_bounds(
        &out.statistics,
        &out.included,
        &CanaryAuditSettings {
            claimed_mu: out.mu,
            delta: settings.delta,
            confidence: settings.confidence,
            grid: Vec::new(),
            ideal_trials: settings.ideal_trials,
            seed: settings.seed.wrapping_add(1),
        },
    )?;
    let obs = out.observation.name();
    let lower_bounds = BTreeMap::from([
        ("one_run".to_string(), bound_report(&bounds.one_run, obs, "one-run (Steinke, Nasr, Jagielski 2023)")),
        (
            "fdp_one_run".to_string(),
            bound_report(&bounds.fdp_one_run, obs, "f-DP one-run, Gaussian trade-off (Mahloujifar, Melis, Chaudhuri 2024)"),
        ),
    ]);
    let exceeds_theoretical = lower_bounds.values().any(|b| b.epsilon > theoretical_epsilon);
    Ok(Report {
        theoretical_epsilon,
        delta: settings.delta,
        canaries: settings.canaries,
        steps: settings.steps,
        noise_multiplier,
        mu: out.mu,
        clip_norm: out.clip_norm,
        observation: obs.to_string(),
        tensor: out.tensor,
        max_warmup_touch: out.max_warmup_touch,
        included: out.included.iter().filter(|&&i| i).count(),
        lower_bounds,
        exceeds_theoretical,
        noise_seeded: settings.noise_seed.is_some(),
        seed: settings.seed,
        note: WHITE_BOX_NOTE.to_string(),
    })
}

