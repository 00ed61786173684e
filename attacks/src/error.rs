//! The error type of the membership-inference, metric and bound modules.

use std::path::PathBuf;

/// Everything that can go wrong in attacks, metrics, bounds and score tables; every message
/// carries the offending value so a user can fix the input without reading code.
#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    /// A parameter outside its allowed range (refused before any work starts).
    #[error("invalid parameter {name} = {value}: {rule}")]
    InvalidParameter {
        /// The parameter's name as the user sees it (flag or field).
        name: &'static str,
        /// The value given, formatted.
        value: String,
        /// What the value must satisfy.
        rule: &'static str,
    },
    /// Counts that cannot come from one experiment (e.g. more correct guesses than guesses).
    #[error("inconsistent counts: {0}")]
    InconsistentCounts(String),
    /// Arrays whose lengths or shapes do not agree.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A score that is NaN or otherwise unusable.
    #[error("bad score: {0}")]
    BadScore(String),
    /// Not enough data for the requested attack or statistic.
    #[error("not enough data: {0}")]
    NotEnoughData(String),
    /// A score table that could not be read or has the wrong columns.
    #[error("{path}: {message}")]
    Table {
        /// The file.
        path: PathBuf,
        /// What is wrong, with row/column where known.
        message: String,
    },
    /// An error of the f-DP bound (engine audit).
    #[error(transparent)]
    Fdp(#[from] crate::bounds::fdp::FdpError),
    /// An I/O failure on a named file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl AttackError {
    /// Shorthand for [`AttackError::InvalidParameter`].
    pub fn invalid(name: &'static str, value: impl std::fmt::Display, rule: &'static str) -> Self {
        AttackError::InvalidParameter { name, value: value.to_string(), rule }
    }
}

/// Result alias of this crate's attack, metric and bound functions.
pub type Result<T, E = AttackError> = std::result::Result<T, E>;
