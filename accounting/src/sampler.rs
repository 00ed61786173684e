//! How DP-SGD drew each step's batch — the part of a run the accountant must be told
//! exactly, since the same σ and q give a different ε under each sampler.

use serde::{Deserialize, Serialize};

use crate::error::{check, Result};
use crate::event::{dpsgd_event, truncated_dpsgd_event, DpEvent};

/// The batch sampler of a DP-SGD run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Sampler {
    /// Every record enters each batch independently with probability q.
    #[default]
    Poisson,
    /// Poisson, then a batch larger than `max_batch` is cut to a uniformly random subset of
    /// `max_batch` records (VaultGemma's sampler; accounted by the truncated-Poisson PLD of
    /// arXiv:2508.15089, never by adding a δ term).
    TruncatedPoisson {
        /// N, the number of records sampled from.
        dataset_size: u64,
        /// m, the largest batch the engine accepts.
        max_batch: u64,
    },
}

impl Sampler {
    /// Poisson, or truncated Poisson when a maximum batch is given; refuses N = 0 or m = 0.
    pub fn new(dataset_size: u64, max_batch: Option<u64>) -> Result<Sampler> {
        match max_batch {
            None => Ok(Sampler::Poisson),
            Some(m) => {
                check(dataset_size >= 1, "dataset_size", dataset_size, "must be at least 1 with a maximum batch")?;
                check(m >= 1, "max_batch", m, "must be at least 1")?;
                Ok(Sampler::TruncatedPoisson { dataset_size, max_batch: m })
            }
        }
    }

    /// The DP event of `steps` steps at rate `q` with noise multiplier `sigma`.
    pub fn event(&self, q: f64, sigma: f64, steps: u64) -> DpEvent {
        match *self {
            Sampler::Poisson => dpsgd_event(q, sigma, steps),
            Sampler::TruncatedPoisson { dataset_size, max_batch } => truncated_dpsgd_event(dataset_size, q, max_batch, sigma, steps),
        }
    }

    /// A phrase for reports: "Poisson sampling" or "truncated Poisson sampling (at most m of N)".
    pub fn describe(&self) -> String {
        match self {
            Sampler::Poisson => "Poisson sampling".into(),
            Sampler::TruncatedPoisson { dataset_size, max_batch } => {
                format!("truncated Poisson sampling (batches cut to at most {max_batch} of {dataset_size} records)")
            }
        }
    }
}
