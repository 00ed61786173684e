//! The one error type of vg-canaries; every message carries the offending values.

use std::path::PathBuf;

/// Everything that can go wrong while generating, validating, saving or loading canaries.
#[derive(Debug, thiserror::Error)]
pub enum CanaryError {
    /// A numeric option is outside its allowed range.
    #[error("invalid canary option {name} = {value}: {reason}")]
    InvalidOption {
        /// Option name as the configuration spells it.
        name: &'static str,
        /// The value given.
        value: String,
        /// What is allowed instead.
        reason: String,
    },
    /// More canaries than the corpus can absorb.
    #[error(
        "{count} canaries requested but the corpus candidate pool has only {pool} records; \
         canaries would outnumber the real records (lower the canary count to at most {pool})"
    )]
    TooManyCanaries {
        /// Requested number of canaries m.
        count: usize,
        /// Size of the corpus candidate pool.
        pool: usize,
    },
    /// A secret space cannot supply the distinct secrets asked of it.
    #[error(
        "secret space {space} (|R| = {size}) of template family {families} is too small: \
         {needed} distinct secrets are needed (inserted canaries + reference canaries) but at \
         most half the space ({limit}) may be used; use longer secrets or fewer canaries"
    )]
    SecretSpaceTooSmall {
        /// Names of the families drawing from this space (comma-separated).
        families: String,
        /// Human description of the space.
        space: String,
        /// |R|.
        size: u128,
        /// Secrets needed from it.
        needed: u64,
        /// Largest number allowed (|R| / 2).
        limit: u128,
    },
    /// A template family is malformed.
    #[error("invalid template family {family:?}: {reason}")]
    InvalidFamily {
        /// Family name.
        family: String,
        /// What is wrong.
        reason: String,
    },
    /// The operating system's random source failed.
    #[error("could not seed the canary generator from the operating system: {0}")]
    Entropy(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A canaries.json file is not valid JSON of the expected shape.
    #[error("{path}: line {line}, column {column}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What serde reported.
        message: String,
    },
    /// A canaries.json file parsed but breaks an invariant of the answer key.
    #[error("{path}: invalid canary set: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The broken invariant, with values.
        reason: String,
    },
}

/// Result alias of this crate.
pub type Result<T, E = CanaryError> = std::result::Result<T, E>;
