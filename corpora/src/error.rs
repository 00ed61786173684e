//! The crate's error type: every variant carries the file, line, option or value it is about.

use std::fmt;
use std::path::PathBuf;

/// Kinds of bad input a reader can meet; counted per kind in the manifest under `--skip-bad`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BadInputKind {
    /// Bytes that are not valid UTF-8.
    InvalidUtf8,
    /// A JSON Lines line that is not a JSON object.
    MalformedJson,
    /// The configured JSON field or CSV/Parquet column is absent (or null) in a record.
    MissingField,
    /// The configured field exists but does not hold a string.
    NotText,
    /// A CSV row that cannot be parsed (e.g. wrong number of fields).
    MalformedCsv,
    /// A Parquet file that cannot be read.
    MalformedParquet,
    /// A file without any record.
    EmptyFile,
}

impl BadInputKind {
    /// Every kind, in manifest order.
    pub const ALL: [BadInputKind; 7] = [
        BadInputKind::InvalidUtf8,
        BadInputKind::MalformedJson,
        BadInputKind::MissingField,
        BadInputKind::NotText,
        BadInputKind::MalformedCsv,
        BadInputKind::MalformedParquet,
        BadInputKind::EmptyFile,
    ];

    /// The snake_case name used in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            BadInputKind::InvalidUtf8 => "invalid_utf8",
            BadInputKind::MalformedJson => "malformed_json",
            BadInputKind::MissingField => "missing_field",
            BadInputKind::NotText => "not_text",
            BadInputKind::MalformedCsv => "malformed_csv",
            BadInputKind::MalformedParquet => "malformed_parquet",
            BadInputKind::EmptyFile => "empty_file",
        }
    }
}

impl fmt::Display for BadInputKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors of vg-corpora.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad record or file in the input (`file:line: reason`).
    #[error("{}:{line}: {reason}", path.display())]
    BadInput {
        /// The input file.
        path: PathBuf,
        /// 1-based line (JSONL/text), row (CSV/Parquet, header = line 1 for CSV) of the problem.
        line: u64,
        /// What kind of problem.
        kind: BadInputKind,
        /// A sentence for people.
        reason: String,
    },
    /// An I/O failure on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An option with an impossible value, refused before any work.
    #[error("invalid value for {name}: {value} ({reason})")]
    InvalidOption {
        /// The option (as the CLI spells it).
        name: &'static str,
        /// The offending value.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// Nothing is left after a stage.
    #[error("the corpus is empty after {stage}: {detail}")]
    EmptyCorpus {
        /// The stage after which nothing was left.
        stage: &'static str,
        /// Counts that explain why.
        detail: String,
    },
    /// The output directory exists and is not empty.
    #[error("{}: output directory exists and is not empty (choose another --out or pass --force)", path.display())]
    OutputExists {
        /// The directory.
        path: PathBuf,
    },
    /// Training, loading or running the tokenizer failed.
    #[error("tokenizer{}: {reason}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Tokenizer {
        /// The tokenizer file, when one is involved.
        path: Option<PathBuf>,
        /// What failed.
        reason: String,
    },
    /// A prepared-corpus file is corrupt, truncated or of an unknown version.
    #[error("{}: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Building the suffix-array index for near-duplicate search failed.
    #[error("near-duplicate index: {0}")]
    Index(#[from] crate::suffix_array::SuffixArrayError),
    /// The PII key file is unusable.
    #[error("PII key {}: {reason}", path.display())]
    PiiKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// The kind of bad input, when this error is one.
    pub fn bad_input_kind(&self) -> Option<BadInputKind> {
        match self {
            Error::BadInput { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

/// Result with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
