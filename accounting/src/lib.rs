//! vg-accounting owns the privacy mathematics of vg-audit: the description of what a
//! DP-SGD run did ([`DpEvent`], [`Neighbouring`]), the accountants that turn it into an
//! (ε, δ) guarantee ([`RdpAccountant`]: exact Rényi DP of the Poisson-subsampled Gaussian;
//! [`PldAccountant`]: connect-the-dots privacy-loss distributions composed by FFT), noise
//! calibration, the analytic Gaussian mechanism ([`gaussian`]), group privacy and the
//! batch samplers accounting must know ([`Sampler`]: Poisson, truncated Poisson). It is a crate of its own, not a module of
//! vg-training, so that this math builds and tests in seconds without candle, and so
//! that vg-attacks and the `vg-audit` binary can use it without pulling in candle.
//!
//! Every ε this crate returns is an upper bound (pessimistic rounding throughout); where
//! it cannot certify one it returns an error or ∞, never a guess.

#![warn(missing_docs)]

pub mod accountant;
pub mod calibrate;
pub mod error;
pub mod event;
pub mod gaussian;
pub mod guarantee;
pub mod pld;
pub mod rdp;
pub mod sampler;
pub mod special;

pub use accountant::Accountant;
pub use error::{Error, Result};
pub use event::{dpsgd_event, truncated_dpsgd_event, DpEvent, Neighbouring};
pub use guarantee::group_privacy;
pub use sampler::Sampler;
pub use pld::PldAccountant;
pub use rdp::RdpAccountant;

use error::{check_delta, check_epsilon, check_noise_multiplier, check_sampling_rate, check_steps};
use serde::{Deserialize, Serialize};

/// Which accountant to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountantKind {
    /// Privacy-loss distribution (tight; the default).
    #[default]
    Pld,
    /// Rényi DP (fast, looser).
    Rdp,
}

impl AccountantKind {
    /// "pld" or "rdp".
    pub fn name(self) -> &'static str {
        match self {
            AccountantKind::Pld => "pld",
            AccountantKind::Rdp => "rdp",
        }
    }
}

impl std::fmt::Display for AccountantKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for AccountantKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pld" => Ok(AccountantKind::Pld),
            "rdp" => Ok(AccountantKind::Rdp),
            _ => Err(Error::InvalidParameter { name: "accountant", value: s.to_string(), rule: "must be pld or rdp" }),
        }
    }
}

/// A fresh, empty accountant of `kind` with default settings.
pub fn new_accountant(kind: AccountantKind, neighbouring: Neighbouring) -> Box<dyn Accountant + Send + Sync> {
    match kind {
        AccountantKind::Pld => Box::new(PldAccountant::new(neighbouring)),
        AccountantKind::Rdp => Box::new(RdpAccountant::new(neighbouring)),
    }
}

fn check_run(q: f64, sigma: f64, steps: u64) -> Result<()> {
    check_sampling_rate(q)?;
    check_noise_multiplier(sigma)?;
    check_steps(steps)
}

/// ε at `delta` of DP-SGD with Poisson sampling rate `q`, noise multiplier `sigma` and
/// `steps` steps, under `neighbouring`.
pub fn epsilon(kind: AccountantKind, q: f64, sigma: f64, steps: u64, delta: f64, neighbouring: Neighbouring) -> Result<f64> {
    epsilon_with(kind, Sampler::Poisson, q, sigma, steps, delta, neighbouring)
}

/// ε at `delta` of DP-SGD with batches drawn by `sampler` at rate `q` (see [`epsilon`]).
pub fn epsilon_with(kind: AccountantKind, sampler: Sampler, q: f64, sigma: f64, steps: u64, delta: f64, neighbouring: Neighbouring) -> Result<f64> {
    check_run(q, sigma, steps)?;
    check_delta(delta)?;
    let mut acc = new_accountant(kind, neighbouring);
    acc.compose(&sampler.event(q, sigma, steps))?;
    acc.epsilon(delta)
}

/// δ at `epsilon` of the same run (see [`epsilon`]).
pub fn delta(kind: AccountantKind, q: f64, sigma: f64, steps: u64, epsilon: f64, neighbouring: Neighbouring) -> Result<f64> {
    delta_with(kind, Sampler::Poisson, q, sigma, steps, epsilon, neighbouring)
}

/// δ at `epsilon` of a run with batches drawn by `sampler` (see [`epsilon_with`]).
pub fn delta_with(kind: AccountantKind, sampler: Sampler, q: f64, sigma: f64, steps: u64, epsilon: f64, neighbouring: Neighbouring) -> Result<f64> {
    check_run(q, sigma, steps)?;
    error::check(epsilon >= 0.0 && epsilon.is_finite(), "epsilon", epsilon, "must be a finite number >= 0")?;
    let mut acc = new_accountant(kind, neighbouring);
    acc.compose(&sampler.event(q, sigma, steps))?;
    acc.delta(epsilon)
}

/// (ε, optimal Rényi order) of the run under the RDP accountant with its dense default
/// orders — the order is what a report should show next to an RDP ε.
pub fn rdp_epsilon_and_order(q: f64, sigma: f64, steps: u64, delta: f64, neighbouring: Neighbouring) -> Result<(f64, f64)> {
    check_run(q, sigma, steps)?;
    check_delta(delta)?;
    let mut acc = RdpAccountant::new(neighbouring);
    acc.compose(&dpsgd_event(q, sigma, steps))?;
    acc.epsilon_and_order(delta)
}

/// The smallest noise multiplier σ (to 1e-4 relative, rounded up so ε never exceeds the
/// target) such that DP-SGD at rate `q` for `steps` steps is (`target_epsilon`, `delta`)-DP.
pub fn calibrate_noise_multiplier(
    kind: AccountantKind,
    q: f64,
    steps: u64,
    target_epsilon: f64,
    delta: f64,
    neighbouring: Neighbouring,
) -> Result<f64> {
    calibrate_noise_multiplier_with(kind, Sampler::Poisson, q, steps, target_epsilon, delta, neighbouring)
}

/// [`calibrate_noise_multiplier`] for batches drawn by `sampler`.
pub fn calibrate_noise_multiplier_with(
    kind: AccountantKind,
    sampler: Sampler,
    q: f64,
    steps: u64,
    target_epsilon: f64,
    delta: f64,
    neighbouring: Neighbouring,
) -> Result<f64> {
    let mut eps_of = calibration_target(kind, sampler, q, steps, target_epsilon, delta, neighbouring)?;
    calibrate::smallest_sigma(&mut eps_of, target_epsilon, calibrate::SIGMA_RELATIVE_TOLERANCE)
}

/// Checks a calibration request; σ ↦ ε of the run it describes.
fn calibration_target(
    kind: AccountantKind,
    sampler: Sampler,
    q: f64,
    steps: u64,
    target_epsilon: f64,
    delta: f64,
    neighbouring: Neighbouring,
) -> Result<impl FnMut(f64) -> Result<f64>> {
    check_sampling_rate(q)?;
    check_steps(steps)?;
    check_epsilon(target_epsilon)?;
    check_delta(delta)?;
    // Refuse an unsupported sampler/accountant pair up front, not as "no σ reaches ε".
    new_accountant(kind, neighbouring).check(&sampler.event(q, 1.0, steps))?;
    Ok(move |sigma: f64| epsilon_with(kind, sampler, q, sigma, steps, delta, neighbouring))
}

/// [`calibrate_noise_multiplier`] started from an estimate `guess` of σ (e.g. a closed-form
/// approximation): the same answer to the same 1e-4 relative tolerance, rounded up the same way
/// (ε at the returned σ was computed by the exact accountant and meets the target, and ε at a σ
/// less than 1e-4 below it was computed and misses it), in a few accountant evaluations instead
/// of about 16. Returns (σ, ε at σ).
pub fn calibrate_noise_multiplier_near(
    kind: AccountantKind,
    q: f64,
    steps: u64,
    target_epsilon: f64,
    delta: f64,
    neighbouring: Neighbouring,
    guess: f64,
) -> Result<(f64, f64)> {
    let tol = calibrate::SIGMA_RELATIVE_TOLERANCE;
    let mut eps_of = calibration_target(kind, Sampler::Poisson, q, steps, target_epsilon, delta, neighbouring)?;
    let (guess, first_step) = match kind {
        // PLD: locate σ on a 10× coarser grid first (~10× cheaper; its ε differs by ~1e-5
        // relative), then bracket it with the exact accountant, which alone decides the answer.
        AccountantKind::Pld => {
            let mut coarse = |sigma: f64| {
                check_noise_multiplier(sigma)?;
                let mut acc = PldAccountant::with_interval(COARSE_PLD_INTERVAL, neighbouring)?;
                acc.compose(&dpsgd_event(q, sigma, steps))?;
                acc.epsilon(delta)
            };
            match calibrate::smallest_sigma_near(&mut coarse, target_epsilon, tol, guess, calibrate::ROUGH_GUESS_STEP) {
                Ok((sigma, _)) => (sigma, 0.9 * tol),
                Err(_) => (guess, calibrate::ROUGH_GUESS_STEP),
            }
        }
        AccountantKind::Rdp => (guess, calibrate::ROUGH_GUESS_STEP),
    };
    calibrate::smallest_sigma_near(&mut eps_of, target_epsilon, tol, guess, first_step)
}

/// PLD value discretisation of the first, approximate stage of [`calibrate_noise_multiplier_near`].
const COARSE_PLD_INTERVAL: f64 = 1e-3;

/// The largest number of steps (≤ 10⁹; 0 if even one step misses) for which DP-SGD at
/// rate `q` with noise multiplier `sigma` stays (`target_epsilon`, `delta`)-DP.
pub fn max_steps(kind: AccountantKind, q: f64, sigma: f64, target_epsilon: f64, delta: f64, neighbouring: Neighbouring) -> Result<u64> {
    max_steps_with(kind, Sampler::Poisson, q, sigma, target_epsilon, delta, neighbouring)
}

/// [`max_steps`] for batches drawn by `sampler`.
pub fn max_steps_with(
    kind: AccountantKind,
    sampler: Sampler,
    q: f64,
    sigma: f64,
    target_epsilon: f64,
    delta: f64,
    neighbouring: Neighbouring,
) -> Result<u64> {
    check_run(q, sigma, 1)?;
    check_epsilon(target_epsilon)?;
    check_delta(delta)?;
    const CAP: u64 = 1_000_000_000;
    match kind {
        AccountantKind::Rdp => {
            // RDP composes linearly: one step's curve, scaled by T.
            let mut one = RdpAccountant::new(neighbouring);
            one.compose(&sampler.event(q, sigma, 1))?;
            let (orders, per_step) = (one.orders().to_vec(), one.rdp().to_vec());
            let mut eps_of = |t: u64| {
                let scaled: Vec<f64> = per_step.iter().map(|r| r * t as f64).collect();
                rdp::epsilon_from_rdp(&orders, &scaled, delta).map(|(e, _)| e)
            };
            calibrate::largest_steps(&mut eps_of, target_epsilon, CAP)
        }
        AccountantKind::Pld => {
            let mut eps_of = |t: u64| epsilon_with(kind, sampler, q, sigma, t, delta, neighbouring);
            calibrate::largest_steps(&mut eps_of, target_epsilon, CAP)
        }
    }
}
