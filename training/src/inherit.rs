//! What data made from a DP model inherits: the model's own (ε, δ) and privacy unit, by the
//! post-processing property (Dwork & Roth 2014, Prop. 2.1: any function of a DP output that does
//! not read the private data again is DP with the same (ε, δ)). Synthetic records, a student
//! distilled from the teacher's outputs, and anything further made from those carry an
//! [`InheritedGuarantee`]; the moment a step reads the private data (a filter against the
//! training set, distillation on the training records) the status becomes outside-guarantee,
//! and the reason says which step.

use serde::{Deserialize, Serialize};

use crate::checkpoint::ModelJson;

/// Whether the inherited guarantee holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuaranteeStatus {
    /// Only the DP model's outputs were used: its (ε, δ) covers this data.
    Dp,
    /// Something on the way read the private data, or the source model carries no DP guarantee.
    OutsideGuarantee,
}

impl GuaranteeStatus {
    /// `dp` or `outside-guarantee`, as the JSON writes it.
    pub fn name(self) -> &'static str {
        match self {
            GuaranteeStatus::Dp => "dp",
            GuaranteeStatus::OutsideGuarantee => "outside-guarantee",
        }
    }
}

/// The guarantee data made from a model inherits (the synth sidecar's and the student's
/// model.json's `guarantee`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InheritedGuarantee {
    /// ε of the source model (None: it was trained without DP-SGD).
    pub epsilon: Option<f64>,
    /// δ of the source model (None without DP-SGD).
    pub delta: Option<f64>,
    /// The privacy unit the (ε, δ) protects.
    pub unit: String,
    /// SHA-256 of the source model's weights (model.safetensors).
    pub model_sha256: String,
    /// `dp` or `outside-guarantee`.
    pub status: GuaranteeStatus,
    /// Why the guarantee does not hold (None when `status` is `dp`).
    pub reason: Option<String>,
}

impl InheritedGuarantee {
    /// What outputs of the model described by `info` (weights hashing to `model_sha256`) inherit:
    /// `dp` for a DP-SGD model trained with secret randomness, outside-guarantee otherwise.
    pub fn of_model(info: &ModelJson, model_sha256: &str) -> Self {
        let dp = info.dp.as_ref();
        let unit = match dp {
            Some(d) => format!("one training example (a record, or one copy of a repeated canary); neighbouring relation {}", d.neighbouring),
            None => "none".into(),
        };
        let reason = match (dp, info.dp_guarantee) {
            (Some(_), true) => None,
            (Some(d), false) => Some(format!(
                "the source model was trained with a fixed seed (insecure_seed = {}): its sampling and noise can be replayed, so it carries no DP guarantee",
                d.insecure_seed.map_or_else(|| "set".into(), |s| s.to_string())
            )),
            (None, _) => Some("the source model was trained without differential privacy".into()),
        };
        let guarantee = InheritedGuarantee {
            epsilon: dp.map(|d| d.epsilon),
            delta: dp.map(|d| d.delta),
            unit,
            model_sha256: model_sha256.to_string(),
            status: GuaranteeStatus::Dp,
            reason: None,
        };
        match reason {
            Some(r) => guarantee.outside(r),
            None => guarantee,
        }
    }

    /// The same guarantee after a step that breaks it: status outside-guarantee, `why` appended to
    /// the reasons (an earlier reason is kept).
    pub fn outside(mut self, why: impl Into<String>) -> Self {
        let why = why.into();
        self.reason = Some(match self.reason.take() {
            Some(r) => format!("{r}; {why}"),
            None => why,
        });
        self.status = GuaranteeStatus::OutsideGuarantee;
        self
    }

    /// One plain sentence for a report: what the guarantee covers, or why it does not hold.
    pub fn sentence(&self, what: &str) -> String {
        match (self.status, self.epsilon, self.delta) {
            (GuaranteeStatus::Dp, Some(e), Some(d)) => format!(
                "{what} inherits the DP model's guarantee (ε = {e:.3}, δ = {d:.1e}, per training example): it was made from the model's outputs alone, without reading the private data again."
            ),
            _ => format!(
                "{what} is outside the DP guarantee: {}.",
                self.reason.as_deref().unwrap_or("the source model carries no DP guarantee")
            ),
        }
    }
}

/// What a distilled student learns from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum DistillLabels {
    /// Next-token cross-entropy on the (synthetic) text itself.
    Hard,
    /// The teacher's next-token distributions at `temperature`: the student minimises
    /// T² · KL(softmax(teacher/T) ‖ softmax(student/T)) per position (Hinton, Vinyals, Dean 2015).
    Soft {
        /// Softmax temperature T (> 0).
        temperature: f64,
    },
}

/// How a student was distilled (model.json's `train_config.distill`): labels, sources, and the
/// guarantee it inherits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Distillation {
    /// Hard labels (the text) or soft labels (the teacher's distributions).
    pub labels: DistillLabels,
    /// SHA-256 of the teacher's weights.
    pub teacher_sha256: String,
    /// `synthetic` (records sampled from the teacher) or `public` (text outside the private data).
    pub data_source: String,
    /// SHA-256 of the text file the student was trained on.
    pub data_sha256: String,
    /// The guarantee the student inherits.
    pub guarantee: InheritedGuarantee,
}

impl ModelJson {
    /// The guarantee a distilled student inherits from its teacher (None for other models).
    pub fn inherited(&self) -> Option<&InheritedGuarantee> {
        self.train_config.distill.as_ref().map(|d| &d.guarantee)
    }
}
