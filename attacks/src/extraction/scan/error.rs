//! Errors of the output scanner and its index.

use std::path::PathBuf;

use vg_corpora::suffix_array::SuffixArrayError;

use crate::extraction::ExtractionError;

/// What can go wrong while building, opening or using a scan index.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// Reading or writing a file of the index failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The index folder is incomplete, altered, or of another format version.
    #[error("{path}: refusing scan index: {reason}")]
    Invalid {
        /// The file that was refused.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The output folder exists (never overwritten without being asked).
    #[error("{path}: already exists (pass --force to replace it)")]
    Exists {
        /// The folder.
        path: PathBuf,
    },
    /// The tokenizer failed to load or encode.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The PII key is missing or is not the one the hashes were made with.
    #[error("PII key: {0}")]
    PiiKey(String),
    /// The suffix array could not be built, saved or opened.
    #[error(transparent)]
    SuffixArray(#[from] SuffixArrayError),
    /// The token stream or fragment dictionary could not be built.
    #[error(transparent)]
    Extraction(#[from] ExtractionError),
}

impl ScanError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ScanError::Io { path: path.into(), source }
    }
    pub(crate) fn invalid(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        ScanError::Invalid { path: path.into(), reason: reason.into() }
    }
}

/// Result alias of the scanner.
pub type ScanResult<T> = std::result::Result<T, ScanError>;
