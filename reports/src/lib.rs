//! vg-reports owns what a run hands to people and to CI: the `summary.json` schema (version 1,
//! [`Summary`], with the JSON Schema file `schema/summary.schema.json` and a validator for it),
//! the plot data saved beside it ([`ReportData`]), the self-contained `report.html`
//! ([`render_report`]), the Hugging Face style `model-card.md` ([`render_model_card`]), the
//! comparison of two runs ([`render_comparison`]) and the policy gate ([`gate`]).
//!
//! It depends on none of the other vg-audit crates: it defines the types it renders, and the
//! pipeline in `src/` fills them. Every string that may come from a corpus or a model is
//! HTML-escaped before it reaches the report (SVG text is escaped by plotters' SVG backend).
//!
//! ```
//! use vg_reports::{gate::Policy, Summary};
//! let summary = Summary::from_json(include_str!("../tests/fixtures/summary.json")).unwrap();
//! let policy = Policy::from_toml("models = [\"dp\"]\nmax_auc = 0.9\n").unwrap();
//! let results = vg_reports::gate::evaluate(&summary, &policy);
//! assert!(results.iter().all(|r| r.passed));
//! ```
#![deny(missing_docs)]

mod card;
mod compare;
mod corpus;
mod data;
mod error;
mod examples;
mod external;
pub mod fsutil;
pub mod gate;
pub mod headline;
pub mod html;
mod page;
mod plan_section;
mod plots;
mod post_processing;
pub mod release_policy;
mod render;
mod rundir;
mod scanlog;
pub mod schema;
mod sections;
mod summary;

pub use card::render_model_card;
pub use scanlog::{parse_scan_log, render_scan_log, LoggedReason, LoggedVerdict, ScanLog};
pub use compare::{comparison_rows, render_comparison, same_corpus, ComparisonRow, RunView};
pub use data::{
    ExposureValues, ExtractionExample, ReportData, RocCurve, ScoreSamples, TrainingCurve,
    REPORT_DATA_VERSION,
};
pub use error::Error;
pub use external::{ExternalAudit, ExternalModelInfo, HEURISTIC_NOTE};
pub use plots::loss_vs_batch;
pub use render::render_report;
pub use rundir::{
    load_run, load_summary, render_run_dir, save_report_data, save_summary, RenderedFiles, MODEL_CARD_FILE,
    REPORT_DATA_FILE, REPORT_FILE, SUMMARY_FILE,
};
pub use summary::{
    BoundSummary, CanaryRecoverySummary, Comparison, Cost, DpParams, EngineAudit, EngineBound, EngineMechanism, ExposureStats,
    ExposureSummary, GateOutcome, InheritedGuaranteeSummary, Machine, Memorization, MiaResult, ModelSummary, RateInterval,
    RuleResult, RunMetadata, ShadowDp, ShadowSet, Summary, SyntheticSummary, TrainingPlan, Utility, SCHEMA_VERSION,
};

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
