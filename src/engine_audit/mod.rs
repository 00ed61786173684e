//! The white-box audit of the DP-SGD engine with gradient canaries in one training run (issues 8
//! and 12): m "Dirac" gradient canaries, each included with probability ½, enter the engine's
//! per-example norm table as rows beside the real examples (so they pass the same total norm,
//! clip factor and weighted sum), at the audited model's preset, vocabulary, C, σ and q; the
//! engine's privatised gradient is read at the canaries' coordinates. The one-run ε lower bounds
//! (Steinke et al. 2023; f-DP, Mahloujifar et al. 2024), each next to its ideal bound, are put
//! against the ε that the DP model's own accountant gives the canaries' participation pattern
//! (present in every one of T steps: q = 1, add/remove of one canary). vg-training supplies only
//! the hooks (canary rows, the step observer, faults behind `test-utils`); [`mechanism`] drives
//! them and vg-attacks computes the bounds.
//!
//! [`audit`] is the entry point of `vg-audit audit-engine` and of the `run` pipeline.

pub mod mechanism;

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use vg_accounting::{AccountantKind, Neighbouring};
use vg_attacks::bounds::fdp::{canary_audit_bounds, CanaryAuditSettings, MethodBound};
use vg_training::{model_input, DpSgdBuilder, GptConfig};

pub use mechanism::{run_engine_audit, EngineAuditConfig, EngineAuditOutcome, Observation};

/// Vocabulary of the stand-alone audit model: byte tokens 3..=258 and unused rows above them,
/// where real gradients never reach (room for up to ~16,000 untouched embedding coordinates).
pub const STANDALONE_VOCAB: usize = 512;
/// Demo-corpus records used as real training examples by the stand-alone audit.
pub const STANDALONE_EXAMPLES: usize = 256;
/// What the canaries are, for summary.json `engine_audit.mechanism.canary_kind`.
pub const CANARY_KIND: &str = "dirac-gradient-row";

/// What white-box means here, for the human output and the report, naming the canaries' tensor.
pub fn white_box_note(tensor: &str) -> String {
    format!(
        "White-box: the auditor plants synthetic per-example gradients (not text), each with one non-zero coordinate in \
tensor {tensor}, as extra rows of the engine's per-example norm table — they pass the same total norm, clip factor, \
weighted sum and noise as real examples — and reads the engine's privatised gradient at every step. Tested: the noise \
scale, clipping and the per-example norm of {tensor}, and noise on {tensor}, at the audited model's C, σ and q; the \
claim is the ε the model's accountant gives a record present in every step. Not tested: the norms of other tensors, \
Poisson sampling, or how much the trained model leaks about real records."
    )
}

/// How σ is chosen for the audit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Noise {
    /// The audited model's σ (ε of the canaries' mechanism is computed).
    Multiplier(f64),
    /// σ calibrated so that the canaries' mechanism has exactly this ε at δ (mutation tests).
    Epsilon(f64),
}

/// Settings of one engine audit: the audited model's mechanism and the audit's own choices.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Preset name of the audited model (for the record).
    pub preset: String,
    /// Architecture of the audited model (preset and vocabulary).
    pub model: GptConfig,
    /// Clipping norm C.
    pub clip_norm: f64,
    /// σ, or the ε it is calibrated from.
    pub noise: Noise,
    /// Poisson sampling rate q of the real examples (expected batch q·N over the audit's data).
    pub sampling_rate: f64,
    /// The audited model's accountant (used for the canaries' participation pattern).
    pub accountant: AccountantKind,
    /// δ of the statements.
    pub delta: f64,
    /// DP-SGD steps T (may be fewer than the audited model's; every included canary is in each).
    pub steps: u64,
    /// Gradient canaries m.
    pub canaries: usize,
    /// Learning rate of the audit's plain-SGD updates.
    pub learning_rate: f64,
    /// Physical micro-batch size.
    pub micro_batch_size: usize,
    /// What the auditor observes.
    pub observation: Observation,
    /// Seed of inclusion bits, initialisation and simulations.
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
    /// The stand-alone audit (`vg-audit audit-engine` without a model): `preset` over a byte
    /// vocabulary, canaries in the token embedding, 10,000 canaries, T = 1.
    pub fn standalone(preset: &str, noise: Noise, delta: f64, seed: u64) -> anyhow::Result<Self> {
        Ok(Settings {
            preset: preset.to_string(),
            model: GptConfig::preset(preset, STANDALONE_VOCAB)?,
            clip_norm: 1.0,
            noise,
            sampling_rate: 16.0 / STANDALONE_EXAMPLES as f64,
            accountant: AccountantKind::Pld,
            delta,
            steps: 1,
            canaries: 10_000,
            learning_rate: 0.05,
            micro_batch_size: 32,
            observation: Observation::Sum,
            seed,
            noise_seed: None,
            confidence: 0.95,
            ideal_trials: 5,
            tensor: Some("wte".to_string()),
        })
    }
}

/// ε at δ of the canaries' participation pattern — in every one of `steps` steps, one canary
/// added or removed — under `accountant` (the same accountant that set the audited model's σ).
pub fn canary_epsilon(accountant: AccountantKind, sigma: f64, steps: u64, delta: f64) -> anyhow::Result<f64> {
    let mut acc = vg_accounting::new_accountant(accountant, Neighbouring::AddOrRemoveOne);
    acc.compose(&vg_accounting::dpsgd_event(1.0, sigma, steps))?;
    Ok(acc.epsilon(delta)?)
}

/// The audited mechanism, as summary.json `engine_audit.mechanism` gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mechanism {
    /// Preset of the audited model.
    pub preset: String,
    /// Vocabulary size of the audited model.
    pub vocab_size: usize,
    /// Clipping norm C.
    pub clip_norm: f64,
    /// Noise multiplier σ.
    pub noise_multiplier: f64,
    /// Poisson sampling rate q of the real examples.
    pub sampling_rate: f64,
    /// Steps T of the audit.
    pub steps: u64,
    /// Gradient canaries m.
    pub canaries: usize,
    /// What a canary is ([`CANARY_KIND`]).
    pub canary_kind: String,
    /// Accountant of the theoretical ε (`pld` or `rdp`).
    pub accountant: String,
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
    /// ε at `delta` of the canaries' participation pattern (every step, q = 1) under the audited
    /// model's accountant.
    pub theoretical_epsilon: f64,
    /// The audited mechanism.
    pub mechanism: Mechanism,
    /// The largest bound each method can give with these m canaries (every guess right, same
    /// confidence): a bound at the ceiling means "at least this much", not "exactly this".
    pub ceiling_epsilon: f64,
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
pub fn demo_examples(n: usize, seed: u64, context: usize) -> Vec<Vec<u32>> {
    vg_corpora::demo::generate(n, seed)
        .iter()
        .map(|text| {
            let tokens: Vec<u32> = text.bytes().map(|b| u32::from(b) + 3).collect();
            model_input(&tokens, context)
        })
        .collect()
}

/// Runs the engine audit on `data` (full model inputs of real examples): trains the audited
/// architecture with gradient canaries, computes both one-run lower bounds, their ideal bounds
/// and their ceiling. `configure` may adjust the engine before it is built (mutation tests
/// inject faults there; pass `&|b| b` otherwise). `progress(done, total)` counts steps.
pub fn audit(
    settings: &Settings,
    data: &[Vec<u32>],
    configure: &dyn Fn(DpSgdBuilder) -> DpSgdBuilder,
    progress: &mut dyn FnMut(u64, u64),
) -> anyhow::Result<Report> {
    if !(settings.delta > 0.0 && settings.delta < 1.0) {
        bail!("delta = {} must lie strictly between 0 and 1", settings.delta);
    }
    if !(settings.confidence > 0.0 && settings.confidence < 1.0) {
        bail!("confidence = {} must lie strictly between 0 and 1", settings.confidence);
    }
    if !(settings.sampling_rate > 0.0 && settings.sampling_rate <= 1.0) {
        bail!("sampling_rate = {} must lie in (0, 1]", settings.sampling_rate);
    }
    let noise_multiplier = match settings.noise {
        Noise::Epsilon(e) => vg_accounting::calibrate_noise_multiplier(settings.accountant, 1.0, settings.steps, e, settings.delta, Neighbouring::AddOrRemoveOne)?,
        Noise::Multiplier(s) => s,
    };
    let cfg = EngineAuditConfig {
        canaries: settings.canaries,
        steps: settings.steps,
        noise_multiplier,
        clip_norm: settings.clip_norm,
        tensor: settings.tensor.clone(),
        observation: settings.observation,
        seed: settings.seed,
        init_seed: settings.seed,
        noise_seed: settings.noise_seed,
        expected_batch_size: settings.sampling_rate * data.len() as f64,
        micro_batch_size: settings.micro_batch_size,
        learning_rate: settings.learning_rate,
        ..EngineAuditConfig::default()
    };
    let out = run_engine_audit(&settings.model, data, &cfg, configure, progress).context("engine audit training")?;
    let theoretical_epsilon = canary_epsilon(settings.accountant, noise_multiplier, settings.steps, settings.delta)?;
    let bound_settings = CanaryAuditSettings {
        claimed_mu: out.mu,
        delta: settings.delta,
        confidence: settings.confidence,
        grid: Vec::new(),
        ideal_trials: settings.ideal_trials,
        seed: settings.seed.wrapping_add(1),
    };
    let bounds = canary_audit_bounds(&out.statistics, &out.included, &bound_settings)?;
    // Every guess right: included canaries score +∞-like, excluded −∞-like.
    let perfect: Vec<f64> = out.included.iter().map(|&i| if i { 1e6 } else { -1e6 }).collect();
    let ceiling = canary_audit_bounds(&perfect, &out.included, &CanaryAuditSettings { ideal_trials: 1, ..bound_settings })?;
    let ceiling_epsilon = ceiling.one_run.epsilon.max(ceiling.fdp_one_run.epsilon);
    let obs = out.observation.name();
    let lower_bounds = BTreeMap::from([
        ("one_run".to_string(), bound_report(&bounds.one_run, obs, "one-run (Steinke, Nasr, Jagielski 2023)")),
        (
            "fdp_one_run".to_string(),
            bound_report(&bounds.fdp_one_run, obs, "f-DP one-run, Gaussian trade-off (Mahloujifar, Melis, Chaudhuri 2024)"),
        ),
    ]);
    let exceeds_theoretical = lower_bounds.values().any(|b| b.epsilon > theoretical_epsilon);
    let note = white_box_note(&out.tensor);
    Ok(Report {
        theoretical_epsilon,
        mechanism: Mechanism {
            preset: settings.preset.clone(),
            vocab_size: settings.model.vocab_size,
            clip_norm: out.clip_norm,
            noise_multiplier,
            sampling_rate: out.sampling_rate,
            steps: settings.steps,
            canaries: settings.canaries,
            canary_kind: CANARY_KIND.to_string(),
            accountant: settings.accountant.name().to_string(),
        },
        ceiling_epsilon,
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
        note,
    })
}
