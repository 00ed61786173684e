//! What `summary.json` says about an audit of models trained elsewhere (`vg-audit audit --model`):
//! the member and non-member files, each model's source and stated guarantee, and the caveat that
//! without random inclusion the ε figures are the customary heuristic, not a DP audit.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::html::escape;
use crate::Summary;

/// The caveat every external audit carries, in the report, the model card and summary.json.
pub const HEURISTIC_NOTE: &str = "Members and non-members were given, not assigned at random by this audit: \
the ε lower bounds below apply the usual attack-based formulas to a fixed split (the customary heuristic). \
Without random inclusion of the audited records they are not a DP audit: a distribution shift between the \
two sets (topic, date, length, source) can raise them, and a low figure does not certify the model.";

/// An audit of externally trained models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalAudit {
    /// The members file (records known to be in the models' training data).
    pub members_file: String,
    /// SHA-256 of the members file.
    pub members_sha256: String,
    /// Member records audited.
    pub members: u64,
    /// The non-members file (records known not to be in the training data).
    pub non_members_file: String,
    /// SHA-256 of the non-members file.
    pub non_members_sha256: String,
    /// Non-member records audited.
    pub non_members: u64,
    /// Always false here: the split was given, not randomised by the audit.
    pub random_inclusion: bool,
    /// [`HEURISTIC_NOTE`].
    pub note: String,
    /// The audited models, in summary order.
    pub models: Vec<ExternalModelInfo>,
    /// The reference model whose scores calibrate the targets', when one was given.
    #[serde(default)]
    pub reference_model: Option<String>,
}

/// One audited model's provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalModelInfo {
    /// Name in the summary's `models`.
    pub name: String,
    /// The directory it was read from.
    pub source: String,
    /// Architecture in words (model_type, layers, width, parameters).
    pub architecture: String,
    /// ε the model's publisher states (its files or `--claimed-epsilon`), if any.
    #[serde(default)]
    pub claimed_epsilon: Option<f64>,
    /// δ of that claim.
    #[serde(default)]
    pub claimed_delta: Option<f64>,
    /// Where the claim comes from.
    #[serde(default)]
    pub claim_source: Option<String>,
}

/// The report banner of an external audit (empty for a `run`).
pub(crate) fn banner(summary: &Summary) -> String {
    let Some(x) = &summary.external_audit else { return String::new() };
    let mut b = String::new();
    let _ = write!(
        b,
        "<div class=\"banner warn\" id=\"banner-external\">Models trained elsewhere: attack-based heuristic, not a DP audit\
<small>{} Members: {} records from {}; non-members: {} records from {}.</small><small>",
        escape(&x.note),
        x.members,
        escape(&x.members_file),
        x.non_members,
        escape(&x.non_members_file)
    );
    for m in &x.models {
        let claim = match (m.claimed_epsilon, m.claimed_delta) {
            (Some(e), Some(d)) => format!("stated guarantee ε ≤ {e}, δ ≤ {d:e} ({})", m.claim_source.as_deref().unwrap_or("given")),
            _ => "no stated DP guarantee".to_string(),
        };
        let _ = write!(b, "<b>{}</b>: {} from <code>{}</code>; {}.<br>", escape(&m.name), escape(&m.architecture), escape(&m.source), escape(&claim));
    }
    if let Some(r) = &x.reference_model {
        let _ = write!(b, "Reference model for calibration: <code>{}</code>.", escape(r));
    }
    b.push_str("</small></div>\n");
    b
}

/// The model card's paragraph for an external audit (empty for a `run`).
pub(crate) fn card_section(summary: &Summary) -> String {
    let Some(x) = &summary.external_audit else { return String::new() };
    let mut c = String::from("## Audit of models trained elsewhere\n\n");
    let _ = writeln!(c, "> {}\n", x.note);
    let _ = writeln!(c, "- Members: {} records (`{}`, SHA-256 `{}`)", x.members, x.members_file, x.members_sha256);
    let _ = writeln!(c, "- Non-members: {} records (`{}`, SHA-256 `{}`)", x.non_members, x.non_members_file, x.non_members_sha256);
    for m in &x.models {
        let claim = match (m.claimed_epsilon, m.claimed_delta) {
            (Some(e), Some(d)) => format!("stated guarantee ε ≤ {e}, δ ≤ {d:e}"),
            _ => "no stated DP guarantee".into(),
        };
        let _ = writeln!(c, "- `{}`: {} (from `{}`); {}", m.name, m.architecture, m.source, claim);
    }
    c.push('\n');
    c
}

/// "ε (δ) stated" for an externally trained model whose publisher states a guarantee.
pub(crate) fn stated_guarantee(summary: &Summary, model: &str) -> Option<String> {
    let m = summary.external_audit.as_ref()?.models.iter().find(|m| m.name == model)?;
    Some(format!("{} ({}) stated, not verified", crate::gate::fmt_num(m.claimed_epsilon?), crate::gate::fmt_num(m.claimed_delta?)))
}
