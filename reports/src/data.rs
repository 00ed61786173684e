//! `report-data.json`: the plot data behind `report.html` (ROC points, score samples, exposures,
//! training curves, extraction examples, corpus manifest), saved by the pipeline next to
//! `summary.json` so `vg-audit report DIR` can re-render without retraining.

use serde::{Deserialize, Serialize};

use crate::Error;

/// Version of the `report-data.json` layout.
pub const REPORT_DATA_VERSION: u32 = 1;

/// Everything the report plots, beyond the headline figures of the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportData {
    /// Always [`REPORT_DATA_VERSION`] for files written by this crate.
    #[serde(default = "default_version")]
    pub version: u32,
    /// ROC curves, one per (model, attack).
    #[serde(default)]
    pub roc: Vec<RocCurve>,
    /// Member and non-member membership scores, one set per (model, attack).
    #[serde(default)]
    pub score_samples: Vec<ScoreSamples>,
    /// Canary exposures per model.
    #[serde(default)]
    pub exposure: Vec<ExposureValues>,
    /// Training curves (loss per step, ...).
    #[serde(default)]
    pub training_curves: Vec<TrainingCurve>,
    /// Extraction examples, already redacted by the caller unless `--show-extracted` was on.
    #[serde(default)]
    pub examples: Vec<ExtractionExample>,
    /// The corpus `manifest.json` (counts, dedup, PII tally) as it was; null when absent.
    #[serde(default)]
    pub manifest: serde_json::Value,
}

impl Default for ReportData {
    fn default() -> Self {
        ReportData {
            version: REPORT_DATA_VERSION,
            roc: Vec::new(),
            score_samples: Vec::new(),
            exposure: Vec::new(),
            training_curves: Vec::new(),
            examples: Vec::new(),
            manifest: serde_json::Value::Null,
        }
    }
}

fn default_version() -> u32 {
    REPORT_DATA_VERSION
}

/// One ROC curve: (FPR, TPR) points in increasing FPR order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RocCurve {
    /// Model name.
    pub model: String,
    /// Attack name (`loss`, `lira_online`, ...).
    pub attack: String,
    /// (false positive rate, true positive rate) pairs.
    pub points: Vec<[f64; 2]>,
}

/// Membership scores (higher = more member-like) of members and non-members under one attack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreSamples {
    /// Model name.
    pub model: String,
    /// Attack or score name.
    pub attack: String,
    /// Scores of members.
    pub members: Vec<f64>,
    /// Scores of non-members.
    pub non_members: Vec<f64>,
}

/// Exposure (bits) of every canary of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExposureValues {
    /// Model name.
    pub model: String,
    /// Exposures of canaries included in training.
    pub included: Vec<f64>,
    /// Exposures of canaries not included.
    pub not_included: Vec<f64>,
}

/// One training curve of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingCurve {
    /// Model name.
    pub model: String,
    /// What is plotted ("train_loss", "eval_loss", ...).
    pub metric: String,
    /// (step, value) pairs.
    pub points: Vec<[f64; 2]>,
}

/// One extraction example: text from the corpus or the model, shown escaped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractionExample {
    /// Model name.
    pub model: String,
    /// Which test found it ("memorization", "verbatim", "fragment", "canary").
    pub kind: String,
    /// Training record id, when known.
    #[serde(default)]
    pub record_id: Option<u64>,
    /// Prompt given to the model (redacted unless `show_extracted`).
    pub prompt: String,
    /// What the model produced (redacted unless `show_extracted`).
    pub generated: String,
    /// The true continuation, when there is one (redacted the same way).
    #[serde(default)]
    pub truth: Option<String>,
    /// Tokens matched verbatim, when measured.
    #[serde(default)]
    pub matched_tokens: Option<u64>,
    /// Fragment hits: whether the string was in the training data (an inserted canary, or PII
    /// kept in the training text); None when it could not be attributed or was not recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_training: Option<bool>,
    /// Fragment hits: the output it was found in ("generation", "memorization", "population",
    /// "canary"), when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found_in: Option<String>,
}

impl ReportData {
    /// Parses `report-data.json`, refusing other layout versions.
    pub fn from_json(text: &str) -> Result<ReportData, Error> {
        let data: ReportData = serde_json::from_str(text)
            .map_err(|e| Error::Json { what: "report data".into(), source: e })?;
        if data.version != REPORT_DATA_VERSION {
            return Err(Error::SchemaVersion { found: u64::from(data.version), expected: REPORT_DATA_VERSION });
        }
        Ok(data)
    }

    /// Compact JSON with a trailing newline, as written to `report-data.json`.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string(self).expect("report data serialises");
        s.push('\n');
        s
    }
}

impl RocCurve {
    /// Builds a curve from exact ROC points, keeping at most about `max_points` of them
    /// (evenly spread in log FPR, so the low-FPR region the report zooms into stays exact),
    /// plus the first and last point.
    pub fn thinned(model: &str, attack: &str, points: &[[f64; 2]], max_points: usize) -> RocCurve {
        let points = thin_log_fpr(points, max_points.max(2));
        RocCurve { model: model.to_string(), attack: attack.to_string(), points }
    }
}

impl ScoreSamples {
    /// Builds the samples from full score vectors, keeping at most `max_each` of each group by
    /// an even stride (deterministic, so a re-rendered report draws the same histogram).
    pub fn subsampled(model: &str, attack: &str, members: &[f64], non_members: &[f64], max_each: usize) -> ScoreSamples {
        ScoreSamples {
            model: model.to_string(),
            attack: attack.to_string(),
            members: stride(members, max_each),
            non_members: stride(non_members, max_each),
        }
    }
}

/// At most `max` values, evenly spread over `values`.
fn stride(values: &[f64], max: usize) -> Vec<f64> {
    if values.len() <= max {
        return values.to_vec();
    }
    let max = max.max(1);
    (0..max).map(|i| values[i * values.len() / max]).collect()
}

/// Keeps the first and last point of each log-FPR bucket (for ROC points sorted by FPR, the
/// lowest and highest TPR reached there), so the staircase keeps its shape.
fn thin_log_fpr(points: &[[f64; 2]], max_points: usize) -> Vec<[f64; 2]> {
    if points.len() <= max_points {
        return points.to_vec();
    }
    let positive_min = points.iter().map(|p| p[0]).filter(|f| *f > 0.0).fold(f64::INFINITY, f64::min);
    let lo = if positive_min.is_finite() { positive_min.log10() } else { -6.0 };
    let buckets = ((max_points - 2) / 2).max(1);
    let mut ends: Vec<Option<([f64; 2], [f64; 2])>> = vec![None; buckets];
    for p in &points[1..points.len() - 1] {
        let b = if p[0] <= 0.0 {
            0
        } else {
            let t = (p[0].log10() - lo) / (0.0 - lo).max(1e-12);
            ((t * buckets as f64) as usize).min(buckets - 1)
        };
        ends[b] = Some(match ends[b] {
            None => (*p, *p),
            Some((first, _)) => (first, *p),
        });
    }
    let mut out = vec![points[0]];
    for (first, last) in ends.into_iter().flatten() {
        out.push(first);
        if last != first {
            out.push(last);
        }
    }
    out.push(points[points.len() - 1]);
    out
}
