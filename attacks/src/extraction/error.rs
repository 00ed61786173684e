//! Errors of the extraction tests.

use std::path::PathBuf;

use vg_corpora::suffix_array::SuffixArrayError;

use crate::model::ModelError;

/// What can go wrong while testing a model for extractable training data.
#[derive(Debug, thiserror::Error)]
pub enum ExtractionError {
    /// A parameter outside its allowed range (refused before any work starts).
    #[error("invalid extraction parameter {name} = {value}: {rule}")]
    InvalidParameter {
        /// The parameter's name as the user sees it (flag or field).
        name: &'static str,
        /// The value given.
        value: String,
        /// What the value must satisfy.
        rule: &'static str,
    },
    /// The model failed to generate.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The generator returned a different number of continuations than prompts.
    #[error("the generator returned {got} continuations for {expected} prompts")]
    GeneratorShape {
        /// Prompts sent.
        expected: usize,
        /// Continuations received.
        got: usize,
    },
    /// A record contains the stream separator, which no token id may equal.
    #[error("record {id} contains token id {token}, reserved as the record separator")]
    ReservedToken {
        /// The record.
        id: u64,
        /// The offending token id.
        token: u32,
    },
    /// A saved stream's record list does not match its separators.
    #[error("the token stream has {separators} record separators but {records} records are listed")]
    StreamRecords {
        /// Separators in the stream.
        separators: usize,
        /// Records listed beside it.
        records: usize,
    },
    /// Building, saving or opening a suffix-array index failed.
    #[error(transparent)]
    Index(#[from] SuffixArrayError),
    /// The fragment dictionary (`fst` set) could not be read or built.
    #[error("{path}: fragment dictionary: {reason}")]
    Dictionary {
        /// The file (or "(canary secrets)" for the in-memory set).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A confidence interval could not be computed.
    #[error(transparent)]
    Attack(#[from] crate::AttackError),
}

impl ExtractionError {
    /// Shorthand for [`ExtractionError::InvalidParameter`].
    pub fn invalid(name: &'static str, value: impl std::fmt::Display, rule: &'static str) -> Self {
        ExtractionError::InvalidParameter { name, value: value.to_string(), rule }
    }
}

/// Result alias of the extraction module.
pub type Result<T, E = ExtractionError> = std::result::Result<T, E>;
