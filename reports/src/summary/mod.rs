//! `summary.json`, schema version 1: the machine-readable result of one audit run.
//!
//! The JSON Schema in `reports/schema/summary.schema.json` describes exactly these types
//! (every object refuses unknown keys); `vg_reports::schema` validates against it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Error;

mod findings;
pub use findings::*;

/// The schema version these types read and write.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole audit result of one run directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Always [`SCHEMA_VERSION`] for files written by this crate.
    pub schema_version: u32,
    /// What ran, where, with which inputs and seeds.
    pub run: RunMetadata,
    /// The audited models: the DP target `dp`, the non-private baseline `non-dp`, and any others.
    pub models: Vec<ModelSummary>,
    /// The shadow sets LiRA and RMIA used (not audited themselves): the non-private set, and the
    /// DP set that attacks the DP model; empty when the run trained none.
    #[serde(default)]
    pub shadow_models: Vec<ShadowSet>,
    /// White-box audit of the DP-SGD engine with gradient canaries, when it ran.
    #[serde(default)]
    pub engine_audit: Option<EngineAudit>,
    /// Outcome of the gate policy, when one was applied (every rule, every model).
    #[serde(default)]
    pub gate: Option<GateOutcome>,
    /// Set by `vg-audit audit --model`: models trained elsewhere, on a given member/non-member split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_audit: Option<crate::ExternalAudit>,
    /// Synthetic records sampled from the DP model (`[synthetic]` in audit.toml).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<SyntheticSummary>,
    /// The scaling-law plan of the DP model, when its size, batch or steps were "auto".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<TrainingPlan>,
}

/// Run metadata: versions, input hashes, non-secret seeds, timing, machine, run flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunMetadata {
    /// Name of the tool that wrote the summary ("vg-audit").
    pub tool: String,
    /// Version of that tool.
    pub tool_version: String,
    /// SHA-256 (hex) of the resolved `config.toml`.
    pub config_sha256: String,
    /// SHA-256 (hex) of the corpus `manifest.json` (which also records input paths).
    pub corpus_manifest_sha256: String,
    /// SHA-256 (hex) of the corpus identity: input contents, preparation options, seeds and
    /// output contents, never paths. Two runs are comparable when equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corpus_identity_sha256: Option<String>,
    /// SHA-256 (hex) of the tokenizer file, when known.
    #[serde(default)]
    pub tokenizer_sha256: Option<String>,
    /// Seeds that are safe to publish (splits, canary choice, shadow splits, ...), by purpose.
    /// The DP noise and Poisson sampling seeds are secret and never appear here.
    #[serde(default)]
    pub seeds: BTreeMap<String, u64>,
    /// Start time, RFC 3339.
    pub started_at: String,
    /// End time, RFC 3339.
    pub finished_at: String,
    /// The machine the run used.
    pub machine: Machine,
    /// True for a `--quick` smoke run (fewer canaries and steps; not an audit).
    pub quick: bool,
    /// True when DP noise and sampling used a fixed seed (`--insecure-seed`): no DP guarantee then.
    pub insecure_seed: bool,
    /// True when extracted text is shown verbatim (`--show-extracted`) instead of redacted.
    #[serde(default)]
    pub show_extracted: bool,
}

/// The machine a run used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Machine {
    /// Operating system (`std::env::consts::OS`).
    pub os: String,
    /// CPU architecture (`std::env::consts::ARCH`).
    pub arch: String,
    /// Logical CPUs available.
    pub cpus: u32,
    /// Compute device used for training ("cpu", "cuda:0", ...).
    pub device: String,
    /// Host name, when the operator chose to record it.
    #[serde(default)]
    pub hostname: Option<String>,
}

/// Everything measured on one audited model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSummary {
    /// Model name: `dp` for the DP target, `non-dp` for the non-private baseline.
    pub name: String,
    /// True when trained with DP-SGD.
    pub private: bool,
    /// The DP parameters (the `dp` object of the model's `model.json`); null for non-private models.
    pub dp: Option<DpParams>,
    /// Held-out utility.
    pub utility: Option<Utility>,
    /// Membership-inference results keyed by attack (`loss`, `lira_online`, `lira_offline`, `rmia`, ...).
    #[serde(default)]
    pub mia: BTreeMap<String, MiaResult>,
    /// Empirical ε lower bounds keyed by method (`clopper_pearson`, `one_run`, ...), each on its own.
    #[serde(default)]
    pub epsilon_lower_bounds: BTreeMap<String, BoundSummary>,
    /// Canary exposure summary (not an ε bound).
    #[serde(default)]
    pub exposure: Option<ExposureSummary>,
    /// Extraction results: discoverable memorization, verbatim search, fragment search.
    #[serde(default)]
    pub memorization: Option<Memorization>,
    /// Gate rules evaluated on this model, when a policy was applied.
    #[serde(default)]
    pub verdict: Option<Vec<RuleResult>>,
    /// What training this model cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
    /// For a student distilled from a DP teacher: the guarantee it inherits and how it was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherited: Option<InheritedGuaranteeSummary>,
    /// The `shadow_models` set whose shadows LiRA and RMIA used against this model (null: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_set: Option<String>,
}

/// The guarantee data or a model made from a DP model inherits (post-processing), as the synth
/// sidecar and the student's model.json record it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InheritedGuaranteeSummary {
    /// ε of the source model (null: trained without DP-SGD).
    pub epsilon: Option<f64>,
    /// δ of the source model.
    pub delta: Option<f64>,
    /// The privacy unit.
    pub unit: String,
    /// SHA-256 of the source model's weights.
    pub model_sha256: String,
    /// `dp` or `outside-guarantee`.
    pub status: String,
    /// Why it is outside the guarantee (null when `dp`).
    pub reason: Option<String>,
    /// One plain sentence for a reader.
    pub sentence: String,
    /// How it was made (e.g. "distilled from dp: soft labels at T = 2 over synthetic text").
    pub made_by: String,
}

/// The synthetic records sampled from the DP model in the run (`[synthetic]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticSummary {
    /// Records written.
    pub count: u64,
    /// Samples drawn (kept + dropped by the filters).
    pub drawn: u64,
    /// Sampling throughput (tokens per second).
    pub tokens_per_second: f64,
    /// The guarantee the records inherit.
    pub guarantee: InheritedGuaranteeSummary,
}

/// What training one model cost, next to its ε and δ (the hardware is `run.machine`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cost {
    /// Wall-clock seconds of training.
    pub wall_seconds: f64,
    /// CPU seconds (user + system, all threads of the process) while training; null where unknown.
    pub cpu_seconds: Option<f64>,
    /// Trainable parameters N.
    pub parameters: u64,
    /// Token positions processed: expected batch B × steps T × context L.
    pub token_positions: f64,
    /// Estimated training FLOPs, 6 · N · B · T · L (forward + backward, Kaplan et al. 2020).
    pub flops: f64,
}

/// DP-SGD parameters of a model, as its `model.json` records them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpParams {
    /// Theoretical ε at `delta` from the accountant.
    pub epsilon: f64,
    /// Target δ.
    pub delta: f64,
    /// Noise multiplier σ (noise std = σ·C per coordinate).
    pub noise_multiplier: f64,
    /// Poisson sampling rate q.
    pub sampling_rate: f64,
    /// Number of noisy steps T.
    pub steps: u64,
    /// Per-example clipping norm C.
    pub clip_norm: f64,
    /// Accountant that computed ε ("rdp", "pld", ...).
    pub accountant: String,
    /// Neighbouring relation, i.e. the privacy unit ("add/remove one record", ...).
    pub neighbouring: String,
    /// How batch truncation (if any) enters δ, in words; null when batches were not truncated.
    #[serde(default)]
    pub truncation_note: Option<String>,
}

/// Held-out utility of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Utility {
    /// Mean token cross-entropy (nats) on held-out population text.
    pub eval_loss: f64,
    /// exp(eval_loss).
    pub perplexity: f64,
    /// eval_loss / ln 2 / (UTF-8 bytes per token of the held-out text): compares tokenizers fairly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bits_per_byte: Option<f64>,
}

/// The configuration a DP scaling law chose for the DP model (`"auto"` in audit.toml), with the
/// law's prediction next to what training achieved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingPlan {
    /// Which law planned ("default (demo corpus)" or a file).
    pub law: String,
    /// FLOPs (C = 6·M·B·T·L) the planned configuration spends.
    pub compute_flops: f64,
    /// L of that formula: the mean tokens per training sequence (real tokens; the model's cost
    /// counts every position up to the context, padding included, so it is larger).
    #[serde(default)]
    pub tokens_per_sequence: Option<f64>,
    /// Chosen preset.
    pub preset: String,
    /// Its parameters M.
    pub params: u64,
    /// Chosen expected batch B.
    pub batch_size: u64,
    /// Chosen steps T.
    pub steps: u64,
    /// σ from the accountant.
    pub noise_multiplier: f64,
    /// σ̄ = σ / B.
    pub sigma_bar: f64,
    /// The law's predicted held-out loss (nats/token).
    pub predicted_eval_loss: f64,
    /// The same in bits per byte of this run's held-out text.
    pub predicted_bits_per_byte: f64,
    /// The held-out loss the DP model reached.
    #[serde(default)]
    pub achieved_eval_loss: Option<f64>,
    /// The same in bits per byte.
    #[serde(default)]
    pub achieved_bits_per_byte: Option<f64>,
    /// Predicted loss of the best non-private configuration at the same compute.
    #[serde(default)]
    pub non_private_predicted_eval_loss: Option<f64>,
}

/// Outcome of a gate policy over the whole summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateOutcome {
    /// Policy file the rules came from.
    pub policy: String,
    /// True when every rule passed.
    pub passed: bool,
    /// Every evaluated rule.
    pub rules: Vec<RuleResult>,
}

/// One gate rule evaluated on one model (or on the run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleResult {
    /// The rule as the policy named it (shorthand or metric).
    pub rule: String,
    /// Concrete dotted path evaluated (inside the model's object, or `run.` for run metadata).
    pub metric: String,
    /// Model the rule was evaluated on; null for run-level rules.
    pub model: Option<String>,
    /// The value found (booleans as 0/1); null when missing or null, which fails the rule.
    pub value: Option<f64>,
    /// Upper limit, inclusive.
    pub max: Option<f64>,
    /// Lower limit, inclusive.
    pub min: Option<f64>,
    /// PASS or FAIL.
    pub passed: bool,
    /// Why, in words.
    pub reason: String,
}

impl Summary {
    /// One sentence saying which shadow set LiRA and RMIA used against which model (None: no
    /// model was attacked with shadows).
    pub fn shadow_sentence(&self) -> Option<String> {
        let parts: Vec<String> = self
            .shadow_models
            .iter()
            .filter_map(|set| {
                let targets: Vec<&str> =
                    self.models.iter().filter(|m| m.shadow_set.as_deref() == Some(set.name.as_str())).map(|m| m.name.as_str()).collect();
                if targets.is_empty() {
                    return None;
                }
                let how = match &set.dp {
                    Some(d) => format!(
                        "DP-SGD at σ = {:.3}, q = {:.4}, C = {}, learning rate {}, {} steps",
                        d.noise_multiplier, d.sampling_rate, d.clip_norm, d.learning_rate, d.steps
                    ),
                    None => "trained without DP".into(),
                };
                Some(format!("the {} shadow set ({} models, {how}) against {}", set.name, set.models.len(), targets.join(", ")))
            })
            .collect();
        (!parts.is_empty()).then(|| format!("LiRA and RMIA used {}.", parts.join("; ")))
    }

    /// Parses a summary, refusing other schema versions with the version found.
    pub fn from_json(text: &str) -> Result<Summary, Error> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| Error::Json {
            what: "summary".into(),
            source: e,
        })?;
        match value.get("schema_version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(SCHEMA_VERSION) => {}
            Some(v) => return Err(Error::SchemaVersion { found: v, expected: SCHEMA_VERSION }),
            None => return Err(Error::SchemaVersion { found: 0, expected: SCHEMA_VERSION }),
        }
        serde_json::from_value(value).map_err(|e| Error::Json { what: "summary".into(), source: e })
    }

    /// Pretty JSON with a trailing newline, as written to `summary.json`.
    pub fn to_json_pretty(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("summary serialises (no non-string keys)");
        s.push('\n');
        s
    }

    /// The model named `name`, if present.
    pub fn model(&self, name: &str) -> Option<&ModelSummary> {
        self.models.iter().find(|m| m.name == name)
    }

    /// Records gate results: the whole outcome at the top, and each model's own rules in its `verdict`.
    pub fn apply_verdict(&mut self, policy: &str, results: &[RuleResult]) {
        for model in &mut self.models {
            let own: Vec<RuleResult> =
                results.iter().filter(|r| r.model.as_deref() == Some(model.name.as_str())).cloned().collect();
            model.verdict = Some(own);
        }
        self.gate = Some(GateOutcome {
            policy: policy.to_string(),
            passed: results.iter().all(|r| r.passed),
            rules: results.to_vec(),
        });
    }
}
