//! The one error type of vg-attacks (scores, attacks, metrics, bounds, exposure, extraction):
//! every variant carries the values that explain it.

use std::path::PathBuf;

use vg_corpora::suffix_array::SuffixArrayError;

use crate::model::ModelError;

/// Everything that can go wrong in vg-attacks; every message carries the offending value so a
/// user can fix the input without reading code.
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
    /// An I/O failure on a named file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    // Per-record scores.
    /// No predicted tokens.
    #[error("no predicted tokens: a record needs at least one scored token")]
    NoPredictedTokens,
    /// `mu`/`sigma` lengths differ from `logprob` (they may be empty together).
    #[error("token statistics have different lengths: logprob {logprob}, mu {mu}, sigma {sigma} (mu and sigma must match logprob or both be empty)")]
    TokenStatLengths {
        /// Length of `logprob`.
        logprob: usize,
        /// Length of `mu`.
        mu: usize,
        /// Length of `sigma`.
        sigma: usize,
    },
    /// A value is NaN, infinite or out of range.
    #[error("{what} = {value}{} is invalid", token.map(|t| format!(" at token {t}")).unwrap_or_default())]
    InvalidValue {
        /// Which quantity.
        what: &'static str,
        /// Token position, when per token.
        token: Option<usize>,
        /// The value.
        value: f64,
    },
    /// The min-k fraction is outside (0, 1].
    #[error("min-k fraction k = {0} must be in (0, 1] (0.2 means 20 %)")]
    InvalidK(f64),
    /// Batch inputs of different lengths.
    #[error("{stats} token statistics but {other} {what}")]
    BatchMismatch {
        /// Number of records with statistics.
        stats: usize,
        /// Number of the other input.
        other: usize,
        /// What the other input is.
        what: &'static str,
    },
    /// Reference calibration without any OUT reference model.
    #[error("reference-calibrated loss needs at least one OUT reference model for the record")]
    NoOutReferences,
    /// An error for one record of a batch.
    #[error("record {record} (position in the batch): {source}")]
    Record {
        /// Position in the batch.
        record: usize,
        /// The error.
        source: Box<AttackError>,
    },
    // Canary exposure.
    /// A canary's family has no reference canaries.
    #[error("canary {canary}: template family {family:?} has no reference canaries (exposure needs at least 1)")]
    NoReferences {
        /// Canary id.
        canary: u64,
        /// Family name.
        family: String,
    },
    /// A score is NaN or infinite.
    #[error("{what} score {value} is not finite")]
    NonFiniteExposureScore {
        /// Which canary ("canary 12", "reference of family f").
        what: String,
        /// The value.
        value: f64,
    },
    /// log₂|R| is not positive.
    #[error("canary {canary}: secret_space_log2 = {value} must be positive")]
    InvalidSecretSpace {
        /// Canary id.
        canary: u64,
        /// The value.
        value: f64,
    },
    // The f-DP one-run bound.
    /// No canaries.
    #[error("number of canaries m = {0}: need at least 1")]
    NoCanaries(usize),
    /// More guesses than canaries.
    #[error("guesses r = {guesses} exceed the number of canaries m = {m}")]
    TooManyGuesses {
        /// Guesses r.
        guesses: usize,
        /// Canaries m.
        m: usize,
    },
    /// More correct guesses than guesses.
    #[error("correct guesses v = {correct} exceed guesses r = {guesses}")]
    TooManyCorrect {
        /// Correct guesses v.
        correct: usize,
        /// Guesses r.
        guesses: usize,
    },
    /// Confidence outside (0, 1).
    #[error("confidence = {0} must lie strictly between 0 and 1")]
    ConfidenceOutOfRange(f64),
    /// Significance outside (0, 1).
    #[error("significance = {0} must lie strictly between 0 and 1")]
    SignificanceOutOfRange(f64),
    /// δ outside (0, 1): a Gaussian mechanism has ε = ∞ at δ = 0.
    #[error("delta = {0} must lie strictly between 0 and 1 (a Gaussian mechanism has ε = ∞ at δ = 0)")]
    DeltaOutOfRange(f64),
    /// μ negative or not finite.
    #[error("mu = {0} must be finite and ≥ 0")]
    MuOutOfRange(f64),
    /// Scores and membership bits of different lengths.
    #[error("{scores} scores but {members} membership bits: one of each per canary")]
    ScoreCountMismatch {
        /// Number of scores.
        scores: usize,
        /// Number of membership bits.
        members: usize,
    },
    /// A score that is NaN or infinite.
    #[error("score of canary {index} is {value}: scores must be finite")]
    NonFiniteScore {
        /// Canary index.
        index: usize,
        /// The score.
        value: f64,
    },
    /// A guessing rule that guesses more canaries than there are.
    #[error("guess rule k+ = {k_plus}, k- = {k_minus} guesses more than the m = {m} canaries")]
    RuleTooLarge {
        /// Guesses "in".
        k_plus: usize,
        /// Guesses "out".
        k_minus: usize,
        /// Canaries m.
        m: usize,
    },
    /// An empty grid of guessing rules.
    #[error("the grid of guessing rules is empty")]
    EmptyGrid,
    /// Simulation trials = 0.
    #[error("ideal-bound trials = {0}: need at least 1")]
    NoTrials(usize),
    /// The analytic-Gaussian conversion failed.
    #[error("converting mu = {mu} to epsilon at delta = {delta}: {message}")]
    GaussianConversion {
        /// μ converted.
        mu: f64,
        /// δ of the conversion.
        delta: f64,
        /// The accountant's message.
        message: String,
    },
    // Extraction tests.
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
    // The output scanner.
    /// A scan index folder that is incomplete, altered, or of another format version.
    #[error("{path}: refusing scan index: {reason}")]
    InvalidIndex {
        /// The file that was refused.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An output folder that exists (never overwritten without being asked).
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
}

impl AttackError {
    /// Shorthand for [`AttackError::InvalidParameter`].
    pub fn invalid(name: &'static str, value: impl std::fmt::Display, rule: &'static str) -> Self {
        AttackError::InvalidParameter { name, value: value.to_string(), rule }
    }
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AttackError::Io { path: path.into(), source }
    }
    pub(crate) fn invalid_index(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        AttackError::InvalidIndex { path: path.into(), reason: reason.into() }
    }
}

/// Result alias of this crate's functions.
pub type Result<T, E = AttackError> = std::result::Result<T, E>;
