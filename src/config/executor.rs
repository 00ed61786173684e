//! `[executor]` and `[executor.slurm]`: where the models of a run are trained (this machine, or a
//! Slurm job array). Not part of the configuration hash: the same audit runs anywhere.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where the independent models of a run (targets, baseline, shadows) are trained.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorKind {
    /// On this machine, several models at once.
    #[default]
    Local,
    /// As a Slurm job array, one array task per model (`vg-audit task train`).
    Slurm,
}

/// `[executor]`: how models are scheduled.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutorSection {
    /// "local" or "slurm".
    pub kind: ExecutorKind,
    /// Models trained at once by the local executor (default: cores ÷ threads per model).
    pub jobs: Option<usize>,
    /// Threads each model trains with locally (default: cores ÷ jobs, or cores ÷ models).
    pub threads_per_model: Option<usize>,
    /// The sbatch settings of the Slurm executor.
    pub slurm: SlurmSection,
}

/// `[executor.slurm]`: the job array `run` submits.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SlurmSection {
    /// `#SBATCH --partition` (default: the cluster's default partition).
    pub partition: Option<String>,
    /// `#SBATCH --time`, the wall-time limit of one model's task (Slurm's format, e.g. "02:00:00").
    pub time: String,
    /// `#SBATCH --cpus-per-task`; each task trains with this many threads.
    pub cpus_per_task: usize,
    /// `#SBATCH --mem` of one task (e.g. "4G").
    pub mem: String,
    /// Further `#SBATCH` options, one per entry, e.g. ["--account=privacy", "--qos=normal"].
    pub extra: Vec<String>,
    /// Shell lines run before the task (e.g. "module load cuda").
    pub setup: Vec<String>,
    /// Resubmissions of a failed task before the run gives up.
    pub retries: u32,
    /// Array tasks running at once (`--array=…%N`); default: no limit.
    pub max_parallel: Option<usize>,
    /// Seconds between `squeue` polls.
    pub poll_seconds: f64,
    /// The vg-audit binary as the compute nodes see it (default: this executable's path).
    pub binary: Option<PathBuf>,
}

impl Default for SlurmSection {
    fn default() -> Self {
        SlurmSection {
            partition: None,
            time: "04:00:00".into(),
            cpus_per_task: 2,
            mem: "4G".into(),
            extra: Vec::new(),
            setup: Vec::new(),
            retries: 2,
            max_parallel: None,
            poll_seconds: 10.0,
            binary: None,
        }
    }
}
