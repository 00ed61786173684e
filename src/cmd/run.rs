//! `vg-audit run`: the whole audit end to end (design.md's data flow), resumable.

use std::path::PathBuf;

use vg_audit::config::AuditConfig;
use vg_audit::pipeline::{steps, Pipeline};

use crate::Outcome;

/// Run the whole audit: prepare the corpus, plant canaries, train a DP model, a non-private
/// baseline and shadow models, score, attack, extract, and write summary.json, report.html and
/// model-card.md into the run directory. With no arguments it audits the built-in demo corpus.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// audit.toml to use (see `vg-audit init`); default: built-in defaults on the demo corpus.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Run directory (default: vg-audit-runs/run-<UTC time>).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Continue an interrupted run in --out: finished steps (verified by audit-log.jsonl) are
    /// skipped and training resumes from its last checkpoint.
    #[arg(long, requires = "out")]
    pub(crate) resume: bool,
    /// Smoke run (about two minutes): fewer canaries, steps and shadows; labelled as such.
    #[arg(long)]
    pub(crate) quick: bool,
    /// Fix the DP noise and sampling randomness (reproducible research runs). The models then
    /// carry NO differential-privacy guarantee, and the report and model card say so.
    #[arg(long, value_name = "SEED")]
    pub(crate) insecure_seed: Option<u64>,
    /// Gate policy checked at the end (exit 1 when a rule fails).
    #[arg(long)]
    pub(crate) policy: Option<PathBuf>,
    /// Print summary.json on stdout at the end.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs the pipeline and, when a policy is given, the gate.
pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    let mut cfg = match &args.config {
        Some(p) => AuditConfig::load(p)?,
        None => AuditConfig::default(),
    };
    if args.quick {
        cfg = cfg.quick();
    }
    if let Some(s) = args.insecure_seed {
        cfg.run.insecure_seed = Some(s);
    }
    if let Some(p) = &args.policy {
        cfg.gate.policy = Some(p.clone());
    }
    cfg.validate()?;
    let out = args.out.clone().unwrap_or_else(default_out_dir);
    let mut pipe = Pipeline::open(&out, cfg, args.resume)?;
    pipe.say(&format!("vg-audit run → {}", out.display()));
    let result = steps::run_all(&mut pipe)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result.summary)?);
    }
    pipe.say(&format!("report: {}", out.join("report.html").display()));
    Ok(if result.gate_passed == Some(false) { Outcome::ProblemFound } else { Outcome::Success })
}

/// `vg-audit-runs/run-YYYYMMDDTHHMMSSZ` in the current directory.
fn default_out_dir() -> PathBuf {
    let stamp = vg_audit::pipeline::log::now_rfc3339().replace([':', '-'], "");
    PathBuf::from("vg-audit-runs").join(format!("run-{stamp}"))
}
