//! Files of a run directory that this crate reads and writes, always atomically.

use std::path::{Path, PathBuf};

use crate::fsutil::atomic_write;
use crate::{render_model_card, render_report, schema, Error, ReportData, Summary};

/// Machine-readable result.
pub const SUMMARY_FILE: &str = "summary.json";
/// Plot data saved next to the summary.
pub const REPORT_DATA_FILE: &str = "report-data.json";
/// The HTML report.
pub const REPORT_FILE: &str = "report.html";
/// The model card.
pub const MODEL_CARD_FILE: &str = "model-card.md";

/// What [`render_run_dir`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedFiles {
    /// Path of `report.html`.
    pub report: PathBuf,
    /// Path of `model-card.md`.
    pub model_card: PathBuf,
    /// False when `report-data.json` was absent and the report has no plots.
    pub had_report_data: bool,
}

/// Validates `summary` against the schema and writes `DIR/summary.json` atomically.
pub fn save_summary(dir: &Path, summary: &Summary) -> Result<PathBuf, Error> {
    let text = summary.to_json_pretty();
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Json { what: "summary".into(), source: e })?;
    schema::validate_summary(&value)?;
    let path = dir.join(SUMMARY_FILE);
    atomic_write(&path, text.as_bytes())?;
    Ok(path)
}

/// Writes `DIR/report-data.json` atomically.
pub fn save_report_data(dir: &Path, data: &ReportData) -> Result<PathBuf, Error> {
    let path = dir.join(REPORT_DATA_FILE);
    atomic_write(&path, data.to_json().as_bytes())?;
    Ok(path)
}

/// Reads a `summary.json` file: parsed into [`Summary`] and validated against the schema.
pub fn load_summary(path: &Path) -> Result<Summary, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    let summary = Summary::from_json(&text).map_err(|e| with_path(e, path))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::Json { what: path.display().to_string(), source: e })?;
    schema::validate(&value, &schema::summary_schema())
        .map_err(|problems| Error::SchemaViolation { what: path.display().to_string(), problems })?;
    Ok(summary)
}

/// Reads `DIR/summary.json` (validated against the schema) and `DIR/report-data.json` (None when absent).
pub fn load_run(dir: &Path) -> Result<(Summary, Option<ReportData>), Error> {
    let summary = load_summary(&dir.join(SUMMARY_FILE))?;
    let dpath = dir.join(REPORT_DATA_FILE);
    let data = match std::fs::read_to_string(&dpath) {
        Ok(t) => Some(ReportData::from_json(&t).map_err(|e| with_path(e, &dpath))?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(Error::Io { path: dpath, source }),
    };
    Ok((summary, data))
}

/// Re-renders `report.html` and `model-card.md` of a run directory from its saved files.
pub fn render_run_dir(dir: &Path) -> Result<RenderedFiles, Error> {
    let (summary, data) = load_run(dir)?;
    let had_report_data = data.is_some();
    let data = data.unwrap_or_default();
    let report = dir.join(REPORT_FILE);
    atomic_write(&report, render_report(&summary, &data).as_bytes())?;
    let model_card = dir.join(MODEL_CARD_FILE);
    atomic_write(&model_card, render_model_card(&summary, &data).as_bytes())?;
    Ok(RenderedFiles { report, model_card, had_report_data })
}

/// Names the file in a parse error.
fn with_path(e: Error, path: &Path) -> Error {
    match e {
        Error::Json { source, .. } => Error::Json { what: path.display().to_string(), source },
        Error::SchemaVersion { found, expected } => Error::SchemaViolation {
            what: path.display().to_string(),
            problems: vec![format!("schema_version {found} is not supported (this build reads version {expected})")],
        },
        other => other,
    }
}
