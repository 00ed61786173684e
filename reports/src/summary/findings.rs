//! What the attacks, bounds, extraction and the engine audit measured, per model: the findings
//! part of `summary.json` (its run-level frame, the models and the gate outcome are in the parent).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Headline figures of one membership-inference attack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MiaResult {
    /// Area under the ROC curve.
    pub auc: Option<f64>,
    /// Largest TPR among ROC points with FPR < 0.001; null with fewer than 1000 non-members.
    #[serde(rename = "tpr_at_fpr_1e-3")]
    pub tpr_at_fpr_1e_3: Option<f64>,
    /// Largest TPR among ROC points with FPR < 0.01; null with fewer than 100 non-members.
    #[serde(rename = "tpr_at_fpr_1e-2")]
    pub tpr_at_fpr_1e_2: Option<f64>,
    /// Members scored.
    #[serde(default)]
    pub members: Option<u64>,
    /// Non-members scored.
    #[serde(default)]
    pub non_members: Option<u64>,
    /// Warnings (e.g. too few samples for a figure to mean much).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// One empirical ε lower bound: a statistical claim at a stated confidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoundSummary {
    /// The lower bound on ε.
    pub epsilon: f64,
    /// Confidence level of the claim (e.g. 0.95).
    pub confidence: f64,
    /// Attack or score the bound used.
    pub attack: String,
    /// Counts behind the bound (e.g. `canaries`, `guesses`, `correct`, or `true_positives`, ...).
    #[serde(default)]
    pub counts: BTreeMap<String, u64>,
    /// The theoretical guarantee this bound must be compared with.
    pub compared_with: Comparison,
    /// How a data-dependent choice was paid for, and anything else a reader must know.
    #[serde(default)]
    pub note: Option<String>,
}

/// The guarantee a lower bound is compared with: per record, or the group guarantee of r records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    /// In words, e.g. "group guarantee of 4 records: (rε, r e^{(r−1)ε} δ)".
    pub guarantee: String,
    /// Records per audited unit (canary repetitions r; 1 = per-record guarantee).
    pub group_size: u64,
    /// ε of that guarantee; null for a non-private model (no finite guarantee).
    pub epsilon: Option<f64>,
    /// δ of that guarantee; null for a non-private model.
    pub delta: Option<f64>,
}

impl Comparison {
    /// The guarantee in words with its (ε, δ), as the report and the model card show it.
    pub fn describe(&self) -> String {
        match (self.epsilon, self.delta) {
            (Some(e), Some(d)) => format!("{} (ε = {}, δ = {})", self.guarantee, crate::gate::fmt_num(e), crate::gate::fmt_num(d)),
            _ => format!("{} (no finite guarantee)", self.guarantee),
        }
    }
}

/// Distribution summary of canary exposure (Carlini et al. 2019). Not an ε bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExposureSummary {
    /// Canaries planted (included and not).
    pub canaries: u64,
    /// Reference canaries never inserted, used for ranks.
    pub reference_canaries: u64,
    /// log₂ of the secret-space size |R|, when known.
    #[serde(default)]
    pub secret_space_bits: Option<f64>,
    /// How exposure was estimated, in words.
    pub method: String,
    /// Exposure of canaries included in training.
    pub included: ExposureStats,
    /// Exposure of canaries not included (the floor).
    pub not_included: ExposureStats,
}

/// Count, mean, median and maximum of a set of exposures (bits).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExposureStats {
    /// Number of canaries.
    pub count: u64,
    /// Mean exposure; null when count is 0.
    pub mean: Option<f64>,
    /// Median exposure; null when count is 0.
    pub median: Option<f64>,
    /// Largest exposure; null when count is 0.
    pub max: Option<f64>,
}

/// A two-sided confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateInterval {
    /// Lower end.
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// Confidence level (e.g. 0.95).
    pub confidence: f64,
}

/// Extraction results of one model (issue 6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Memorization {
    /// Fraction of training prompts whose greedy continuation equals the true suffix.
    pub exact_rate: Option<f64>,
    /// Clopper–Pearson interval of `exact_rate`.
    #[serde(default)]
    pub exact_rate_ci: Option<RateInterval>,
    /// Fraction within 10 % token edit distance of the true suffix.
    pub approximate_rate: Option<f64>,
    /// Clopper–Pearson interval of `approximate_rate`.
    #[serde(default)]
    pub approximate_rate_ci: Option<RateInterval>,
    /// Training sequences prompted.
    pub prompts: Option<u64>,
    /// Prefix length P (tokens).
    pub prefix_tokens: u64,
    /// Suffix length S (tokens).
    pub suffix_tokens: u64,
    /// Exact rate on population text never trained on (false-positive floor).
    #[serde(default)]
    pub population_exact_rate: Option<f64>,
    /// Approximate rate on population text (floor).
    #[serde(default)]
    pub population_approximate_rate: Option<f64>,
    /// Population sequences prompted.
    #[serde(default)]
    pub population_prompts: Option<u64>,
    /// Clopper–Pearson interval of `population_exact_rate` (its upper end is the floor a
    /// model's exact memorization is held to by the default release policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub population_exact_rate_ci: Option<RateInterval>,
    /// Sampled generations searched against the training stream.
    #[serde(default)]
    pub generations: Option<u64>,
    /// Minimum verbatim span length L (tokens) that counts as a hit.
    #[serde(default)]
    pub verbatim_min_tokens: Option<u64>,
    /// Generations containing a verbatim training span of ≥ L tokens.
    pub verbatim_generations: Option<u64>,
    /// Longest verbatim span found (tokens).
    pub longest_verbatim_tokens: Option<u64>,
    /// Same count against a non-member corpus (floor).
    #[serde(default)]
    pub population_verbatim_generations: Option<u64>,
    /// Fragment-dictionary hits (canary secrets and kept PII) in all generations.
    pub fragment_hits: Option<u64>,
    /// Fragment hits by type ("canary", "email", ...).
    #[serde(default)]
    pub fragment_hits_by_type: BTreeMap<String, u64>,
    /// PII found in outputs that is not in the training set (hallucinated or generic).
    #[serde(default)]
    pub pii_not_in_training: Option<u64>,
    /// Canary secret recovery, included vs not-included.
    #[serde(default)]
    pub canary_recovery: Option<CanaryRecoverySummary>,
    /// Notes (e.g. short records used what fits).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// Canary secrets recovered by prompting with the template up to the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryRecoverySummary {
    /// Included canaries whose secret was recovered exactly.
    pub included_recovered: u64,
    /// Included canaries tried.
    pub included: u64,
    /// Not-included canaries whose secret was "recovered" (the floor).
    pub not_included_recovered: u64,
    /// Not-included canaries tried.
    pub not_included: u64,
}

/// One set of shadow/reference models, described apart from the audited ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowSet {
    /// The set's name (`non-private`, `dp`), as a model's `shadow_set` names it.
    pub name: String,
    /// True when trained with DP-SGD.
    pub private: bool,
    /// The set's model names.
    pub models: Vec<String>,
    /// How they were trained, in words (e.g. "each on a random half of the candidate pool").
    pub description: String,
    /// Mean held-out loss over the shadows, when measured.
    #[serde(default)]
    pub mean_eval_loss: Option<f64>,
    /// The DP-SGD settings the set trained with (null when non-private).
    pub dp: Option<ShadowDp>,
}

/// The DP-SGD settings of a DP shadow set, as the shadows' model.json record them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowDp {
    /// Noise multiplier σ.
    pub noise_multiplier: f64,
    /// Poisson sampling rate q (mean over the set; each shadow's expected batch is q·N rounded).
    pub sampling_rate: f64,
    /// Clipping norm C.
    pub clip_norm: f64,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Optimizer steps T.
    pub steps: u64,
}

/// White-box audit of the DP-SGD engine (issue 8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineAudit {
    /// ε at `delta` of the canaries' participation pattern (every step, q = 1, add/remove)
    /// under the DP model's accountant.
    pub theoretical_epsilon: f64,
    /// The audited mechanism.
    pub mechanism: EngineMechanism,
    /// The largest bound these canaries can show (every guess right).
    pub ceiling_epsilon: f64,
    /// δ of the audit.
    pub delta: f64,
    /// Gradient canaries m.
    pub canaries: u64,
    /// Steps T.
    pub steps: u64,
    /// Noise multiplier σ.
    pub noise_multiplier: f64,
    /// Lower bounds keyed by method (`one_run`, `fdp_one_run`).
    pub lower_bounds: BTreeMap<String, EngineBound>,
}

/// The mechanism the engine audit ran: the DP model's settings and the audit's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineMechanism {
    /// Preset of the audited model.
    pub preset: String,
    /// Its vocabulary size.
    pub vocab_size: u64,
    /// Clipping norm C.
    pub clip_norm: f64,
    /// Noise multiplier σ.
    pub noise_multiplier: f64,
    /// Poisson sampling rate q of the real examples.
    pub sampling_rate: f64,
    /// Steps T of the audit.
    pub steps: u64,
    /// Gradient canaries m.
    pub canaries: u64,
    /// What a canary is (`dirac-gradient-row`: one row of the per-example norm table).
    pub canary_kind: String,
    /// Accountant of the theoretical ε (`pld` or `rdp`).
    pub accountant: String,
}

/// One white-box lower bound next to its ideal value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineBound {
    /// ε lower bound from the engine's released values.
    pub epsilon: f64,
    /// The same procedure on scores simulated from the exact Gaussian mechanism.
    pub ideal_epsilon: f64,
    /// Confidence level.
    pub confidence: f64,
    /// What the auditor observed (e.g. "sum of privatised gradients, all iterates").
    pub observation: String,
}
