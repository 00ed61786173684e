//! The crate's error type: every message names the parameter and the value it refused.

/// Errors of privacy accounting.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// A parameter is outside its domain; `rule` states the domain.
    #[error("invalid {name} = {value}: {rule}")]
    InvalidParameter {
        /// Parameter name as the caller knows it (e.g. `sampling_rate`, `delta`).
        name: &'static str,
        /// The refused value, formatted.
        value: String,
        /// The rule it broke (e.g. "must lie in (0, 1]").
        rule: &'static str,
    },
    /// The accountant cannot account for this event; nothing was composed.
    #[error("unsupported event for the {accountant} accountant: {reason} (event: {event})")]
    UnsupportedEvent {
        /// Which accountant refused ("rdp" or "pld").
        accountant: &'static str,
        /// Why, in words.
        reason: String,
        /// The offending (sub-)event as JSON.
        event: String,
    },
    /// A search (calibration) found no value satisfying the target.
    #[error("calibration failed: {0}")]
    Calibration(String),
    /// A numerical invariant failed; the result would not be trustworthy, so none is given.
    #[error("numerical failure: {0}")]
    Numerical(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Refuses `value` unless `ok`, naming the parameter and the rule.
pub(crate) fn check(ok: bool, name: &'static str, value: impl std::fmt::Display, rule: &'static str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidParameter { name, value: value.to_string(), rule })
    }
}

/// Checks a sampling rate q ∈ (0, 1].
pub(crate) fn check_sampling_rate(q: f64) -> Result<()> {
    check(q > 0.0 && q <= 1.0, "sampling_rate", q, "must lie in (0, 1]")
}

/// Checks a noise multiplier σ > 0 (finite).
pub(crate) fn check_noise_multiplier(sigma: f64) -> Result<()> {
    check(sigma > 0.0 && sigma.is_finite(), "noise_multiplier", sigma, "must be a finite number > 0")
}

/// Checks δ ∈ (0, 1).
pub(crate) fn check_delta(delta: f64) -> Result<()> {
    check(delta > 0.0 && delta < 1.0, "delta", delta, "must lie in (0, 1)")
}

/// Checks ε > 0 (finite).
pub(crate) fn check_epsilon(epsilon: f64) -> Result<()> {
    check(epsilon > 0.0 && epsilon.is_finite(), "epsilon", epsilon, "must be a finite number > 0")
}

/// Checks a step count T ≥ 1.
pub(crate) fn check_steps(steps: u64) -> Result<()> {
    check(steps >= 1, "steps", steps, "must be at least 1")
}
