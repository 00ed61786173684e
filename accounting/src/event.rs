//! What was run, described exactly as much as accounting needs (in the shape of Google
//! `dp_accounting`'s `dp_event.py`), and the neighbouring relation that defines the
//! privacy unit.
//!
//! Rules carried over from `dp_event.py`, binding because event ledgers are saved in
//! `model.json` and re-accounted later: never remove a variant or change what it means;
//! new fields are optional (`#[serde(default)]`); an accountant that does not know an
//! event refuses it (`supports` is false) instead of guessing.

use serde::{Deserialize, Serialize};

/// A privacy event: a mechanism, a sampling step wrapping a mechanism, or a composition.
///
/// DP-SGD with Poisson sampling is `SelfComposed(PoissonSampled(q, Gaussian(σ)), T)`
/// (see [`dpsgd_event`]). The engine must record the sampler that actually ran: a
/// shuffled fixed-size batch is *not* `PoissonSampled`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DpEvent {
    /// The Gaussian mechanism: the sum of contributions clipped to L2 norm C is released
    /// with noise z ~ N(0, s²I); `noise_multiplier` = s/C.
    Gaussian {
        /// σ = noise standard deviation / clipping norm; 0 means no noise (not private).
        noise_multiplier: f64,
    },
    /// Poisson subsampling: each record enters the wrapped event independently with
    /// probability `sampling_probability`.
    PoissonSampled {
        /// q ∈ [0, 1]; q = 0 releases nothing about anyone.
        sampling_probability: f64,
        /// The mechanism run on the sample.
        event: Box<DpEvent>,
    },
    /// The Gaussian mechanism on a truncated Poisson sample (arXiv 2508.15089; dp_accounting's
    /// `TruncatedSubsampledGaussianDpEvent`): each of `dataset_size` records enters with
    /// probability `sampling_probability`, and a sample larger than `truncated_batch_size` is
    /// cut to a uniformly random subset of that size. Only the PLD accountant supports it.
    TruncatedSubsampledGaussian {
        /// N, the number of records sampled from.
        dataset_size: u64,
        /// q ∈ [0, 1] before truncation.
        sampling_probability: f64,
        /// m, the largest batch the engine accepts.
        truncated_batch_size: u64,
        /// σ = noise standard deviation / clipping norm; 0 means no noise (not private).
        noise_multiplier: f64,
    },
    /// The same event run `count` times (adaptively) in sequence.
    SelfComposed {
        /// The repeated event.
        event: Box<DpEvent>,
        /// How many times; 0 is a no-op.
        count: u64,
    },
    /// Several events run in sequence.
    Composed {
        /// The events, in order.
        events: Vec<DpEvent>,
    },
    /// Touches no private data (ε = 0).
    NoOp,
    /// Releases private data without protection (ε = ∞).
    NonPrivate,
}

impl DpEvent {
    /// JSON of the event, for error messages and ledgers.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| format!("{self:?}"))
    }
}

/// DP-SGD with Poisson sampling at rate `q`, noise multiplier `sigma`, for `steps` steps:
/// `SelfComposed(PoissonSampled(q, Gaussian(σ)), steps)`.
pub fn dpsgd_event(q: f64, sigma: f64, steps: u64) -> DpEvent {
    DpEvent::SelfComposed {
        event: Box::new(DpEvent::PoissonSampled {
            sampling_probability: q,
            event: Box::new(DpEvent::Gaussian { noise_multiplier: sigma }),
        }),
        count: steps,
    }
}

/// DP-SGD with truncated Poisson batches (at most `max_batch` of `dataset_size` records at
/// rate `q`), noise multiplier `sigma`, for `steps` steps:
/// `SelfComposed(TruncatedSubsampledGaussian(N, q, m, σ), steps)` (jax_privacy's
/// `truncated_dpsgd_event`).
pub fn truncated_dpsgd_event(dataset_size: u64, q: f64, max_batch: u64, sigma: f64, steps: u64) -> DpEvent {
    DpEvent::SelfComposed {
        event: Box::new(DpEvent::TruncatedSubsampledGaussian {
            dataset_size,
            sampling_probability: q,
            truncated_batch_size: max_batch,
            noise_multiplier: sigma,
        }),
        count: steps,
    }
}

/// Which datasets count as neighbours, i.e. what one privacy unit is. Named in every
/// output because the same σ gives a different ε under each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Neighbouring {
    /// One record added or removed (the default). For the subsampled Gaussian the two
    /// directions differ; accountants take the worse.
    #[default]
    #[serde(rename = "add-remove")]
    AddOrRemoveOne,
    /// One record replaced by a null record that contributes a zero gradient
    /// (VaultGemma's choice); for DP-SGD it accounts exactly like add/remove.
    #[serde(rename = "zero-out")]
    ZeroOut,
    /// One record replaced by an arbitrary other record: the released sum moves by up
    /// to 2C (sensitivity 2 in units of the clipping norm).
    #[serde(rename = "replace-one")]
    ReplaceOne,
}

impl Neighbouring {
    /// The name used in outputs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Neighbouring::AddOrRemoveOne => "add-remove",
            Neighbouring::ZeroOut => "zero-out",
            Neighbouring::ReplaceOne => "replace-one",
        }
    }
}

impl std::fmt::Display for Neighbouring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Neighbouring {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "add-remove" => Ok(Neighbouring::AddOrRemoveOne),
            "zero-out" => Ok(Neighbouring::ZeroOut),
            "replace-one" => Ok(Neighbouring::ReplaceOne),
            _ => Err(crate::Error::InvalidParameter {
                name: "neighbouring",
                value: s.to_string(),
                rule: "must be one of add-remove, zero-out, replace-one",
            }),
        }
    }
}

/// One mechanism invocation after flattening compositions: the subsampled Gaussian at
/// rate `q` (q = 1: no subsampling) with noise multiplier `sigma`, run `count` times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct GaussianRuns {
    pub q: f64,
    pub sigma: f64,
    pub count: u64,
}

/// One truncated-Poisson Gaussian step (see [`DpEvent::TruncatedSubsampledGaussian`]),
/// run `count` times; 0 < q, 0 < m, σ > 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TruncatedRuns {
    pub dataset_size: u64,
    pub q: f64,
    pub max_batch: u64,
    pub sigma: f64,
    pub count: u64,
}

/// A flattened event: what an accountant actually composes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Flat {
    Gaussian(GaussianRuns),
    Truncated(TruncatedRuns),
    NonPrivate,
}

/// Flattens `event` (repeated `count` times) into Gaussian runs, validating every
/// parameter. `accountant` names the caller in errors. Nothing is mutated, so callers
/// can dry-run before composing (check first, then mutate).
pub(crate) fn flatten(event: &DpEvent, count: u64, accountant: &'static str, out: &mut Vec<Flat>) -> crate::Result<()> {
    let unsupported = |reason: &str, e: &DpEvent| crate::Error::UnsupportedEvent {
        accountant,
        reason: reason.to_string(),
        event: e.to_json(),
    };
    match event {
        DpEvent::NoOp => Ok(()),
        DpEvent::NonPrivate => {
            if count > 0 {
                out.push(Flat::NonPrivate);
            }
            Ok(())
        }
        DpEvent::SelfComposed { event: inner, count: c } => {
            let total = c.checked_mul(count).ok_or_else(|| unsupported("composition count overflows u64", event))?;
            flatten(inner, total, accountant, out)
        }
        DpEvent::Composed { events } => events.iter().try_for_each(|e| flatten(e, count, accountant, out)),
        DpEvent::Gaussian { noise_multiplier } => gaussian_runs(1.0, *noise_multiplier, count, event, out),
        DpEvent::TruncatedSubsampledGaussian { dataset_size, sampling_probability: q, truncated_batch_size, noise_multiplier } => {
            check_rate(*q)?;
            check_sigma(*noise_multiplier, event)?;
            // An empty dataset, q = 0 or m = 0 means every batch is empty (dp_accounting: no-op).
            if count == 0 || *q == 0.0 || *truncated_batch_size == 0 || *dataset_size == 0 {
                return Ok(());
            }
            if *noise_multiplier == 0.0 {
                out.push(Flat::NonPrivate);
                return Ok(());
            }
            out.push(Flat::Truncated(TruncatedRuns {
                dataset_size: *dataset_size,
                q: *q,
                max_batch: *truncated_batch_size,
                sigma: *noise_multiplier,
                count,
            }));
            Ok(())
        }
        DpEvent::PoissonSampled { sampling_probability: q, event: inner } => {
            check_rate(*q)?;
            match inner.as_ref() {
                DpEvent::Gaussian { noise_multiplier } => gaussian_runs(*q, *noise_multiplier, count, event, out),
                _ => Err(unsupported("PoissonSampled must wrap a Gaussian event", event)),
            }
        }
    }
}

fn check_rate(q: f64) -> crate::Result<()> {
    if !(q.is_finite() && (0.0..=1.0).contains(&q)) {
        return Err(crate::Error::InvalidParameter { name: "sampling_probability", value: q.to_string(), rule: "must lie in [0, 1]" });
    }
    Ok(())
}

fn check_sigma(sigma: f64, event: &DpEvent) -> crate::Result<()> {
    if !(sigma.is_finite() && sigma >= 0.0) {
        return Err(crate::Error::InvalidParameter {
            name: "noise_multiplier",
            value: format!("{sigma} in {}", event.to_json()),
            rule: "must be a finite number >= 0",
        });
    }
    Ok(())
}

/// Appends `count` runs of the Gaussian at rate `q` (nothing for q = 0 or count = 0;
/// non-private for σ = 0).
fn gaussian_runs(q: f64, sigma: f64, count: u64, event: &DpEvent, out: &mut Vec<Flat>) -> crate::Result<()> {
    check_sigma(sigma, event)?;
    if count == 0 || q == 0.0 {
        return Ok(());
    }
    if sigma == 0.0 {
        out.push(Flat::NonPrivate);
        return Ok(());
    }
    out.push(Flat::Gaussian(GaussianRuns { q, sigma, count }));
    Ok(())
}
