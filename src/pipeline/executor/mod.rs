//! Executors: where the independent models of a run (the targets, the baseline, the shadows)
//! train. `local` trains several at once on this machine, each in its own bounded thread pool;
//! `slurm` submits one job-array task per model (`vg-audit task train`) and waits for them. Either
//! way each model is one step of the audit log, so the rest of the run verifies the models by
//! their recorded hashes, wherever they were trained.

pub mod local;
pub mod slurm;

use super::steps::TrainingData;
use super::{Pipeline, StepOutcome};
use crate::config::ExecutorKind;

/// Run options of the executor that are not part of the configuration.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Slurm: write the job script and stop before submitting it.
    pub dry_run: bool,
}

/// Trains every model of `models` (skipping those verified done on resume) with the configured
/// executor; `None` when a dry run stopped after writing the job script.
pub fn train_all(
    p: &Pipeline,
    data: &TrainingData,
    models: &[String],
    upstream: &str,
    opts: &Options,
) -> anyhow::Result<Option<Vec<StepOutcome>>> {
    match p.cfg.executor.kind {
        ExecutorKind::Local => {
            anyhow::ensure!(!opts.dry_run, "--dry-run writes a Slurm job script: use it with --executor slurm");
            let plan = local::Concurrency::resolve(&p.cfg.executor, models.len(), rayon::current_num_threads());
            local::train(p, data, models, upstream, &plan).map(Some)
        }
        ExecutorKind::Slurm => slurm::train(p, models, upstream, opts),
    }
}
