//! The crate's one error type; every message carries the offending values.

use std::path::PathBuf;

/// Errors of vg-training. Tensor failures come from candle; the rest name the parameter or file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter outside its allowed range, refused before any work starts.
    #[error("invalid parameter {what} = {value}: {why}")]
    InvalidParameter {
        /// Which parameter.
        what: &'static str,
        /// The value given, as text.
        value: String,
        /// The rule it breaks and, where useful, the fix.
        why: String,
    },
    /// Privacy parameters that cannot be honoured (δ ≥ 1, q ∉ (0,1], δ > 1/N without force, ...).
    #[error("invalid privacy parameter {what} = {value}: {why}")]
    InvalidPrivacyParams {
        /// Which parameter.
        what: &'static str,
        /// The value given.
        value: String,
        /// Why it is refused.
        why: String,
    },
    /// A checkpoint that does not belong to this run (hashes, shapes, config differ).
    #[error("checkpoint {path} does not match this run: {field} is {found}, expected {expected}")]
    CheckpointMismatch {
        /// The checkpoint file.
        path: PathBuf,
        /// What differs.
        field: String,
        /// The value this run expects.
        expected: String,
        /// The value in the checkpoint.
        found: String,
    },
    /// A malformed model directory or file.
    #[error("{path}: {why}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// An I/O error with the path it happened on.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A tensor operation failed.
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// The privacy accountant failed.
    #[error("privacy accounting failed: {0}")]
    Accounting(String),
    /// (De)serialising model.json failed.
    #[error("model.json: {0}")]
    Json(#[from] serde_json::Error),
    /// Training diverged (loss became NaN or infinite).
    #[error("training diverged at step {step}: loss = {loss}; lower the learning rate ({lr})")]
    Diverged {
        /// The step.
        step: u64,
        /// The non-finite loss.
        loss: f64,
        /// The learning rate in use.
        lr: f64,
    },
}

/// Result with the crate's error.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An [`Error::InvalidParameter`].
    pub fn param(what: &'static str, value: impl ToString, why: impl Into<String>) -> Self {
        Error::InvalidParameter { what, value: value.to_string(), why: why.into() }
    }
    /// An [`Error::InvalidPrivacyParams`].
    pub fn privacy(what: &'static str, value: impl ToString, why: impl Into<String>) -> Self {
        Error::InvalidPrivacyParams { what, value: value.to_string(), why: why.into() }
    }
    /// An [`Error::Io`] on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
