//! `vg-audit run`: the whole audit end to end (design.md's data flow), resumable.

use std::path::PathBuf;

use vg_audit::config::{AuditConfig, ExecutorKind};
use vg_audit::pipeline::{executor, steps, Pipeline};

use crate::Outcome;

/// Run the whole audit: prepare the corpus, plant canaries, train a DP model, a non-private
/// baseline and shadow models, score, attack, extract, and write summary.json, report.html and
/// model-card.md into the run directory. With no arguments it audits the built-in demo corpus.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    device: super::DeviceArg,
    /// audit.toml to use (see `vg-audit init`); default: the built-in demo audit — the defaults
    /// of `vg-audit init` on the demo corpus, with the DP model's size, batch and steps planned by
    /// the shipped scaling law for the compute of the fixed tiny/32/150 schedule.
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
    /// Where the models train: `local` (this machine, several at once) or `slurm` (a job array,
    /// one task per model; settings in [executor.slurm]). Overrides [executor] kind.
    #[arg(long, value_enum, value_name = "KIND")]
    pub(crate) executor: Option<ExecutorKind>,
    /// Local executor: models trained at once (default: cores ÷ threads per model, where cores is
    /// RAYON_NUM_THREADS or the machine's). Overrides [executor] jobs.
    #[arg(long, value_name = "N")]
    pub(crate) jobs: Option<usize>,
    /// Slurm executor: prepare the corpus and canaries, write RUN/slurm/train.sbatch, and stop
    /// without submitting it (submit it yourself, then `run --resume`).
    #[arg(long)]
    pub(crate) dry_run: bool,
}

/// Runs the pipeline and, when a policy is given, the gate.
pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    args.device.select()?;
    let mut cfg = match &args.config {
        Some(p) => AuditConfig::load(p)?,
        None => AuditConfig::demo(),
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
    if let Some(kind) = args.executor {
        cfg.executor.kind = kind;
    }
    if args.jobs.is_some() {
        cfg.executor.jobs = args.jobs;
    }
    if args.dry_run && cfg.executor.kind != ExecutorKind::Slurm {
        anyhow::bail!("--dry-run writes a Slurm job script: use it with --executor slurm (or [executor] kind = \"slurm\")");
    }
    cfg.validate()?;
    let out = args.out.clone().unwrap_or_else(default_out_dir);
    let mut pipe = Pipeline::open(&out, cfg, args.resume)?;
    pipe.say(&format!("vg-audit run → {}", out.display()));
    let Some(result) = steps::run_all(&mut pipe, &executor::Options { dry_run: args.dry_run })? else {
        return Ok(Outcome::Success);
    };
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
