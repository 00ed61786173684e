//! The crate's error type; every message names the file, key or value involved.

use std::path::PathBuf;

/// Errors of vg-reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A JSON document could not be parsed into its type.
    #[error("{what}: {source}")]
    Json {
        /// What was parsed ("summary", "report data", or a path).
        what: String,
        /// The cause (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A file of another schema version.
    #[error("schema_version {found} is not supported (this build reads version {expected})")]
    SchemaVersion {
        /// Version found (0 when missing).
        found: u64,
        /// Version this build reads.
        expected: u32,
    },
    /// A document does not match the JSON Schema.
    #[error("{what} does not match the schema: {}", .problems.join("; "))]
    SchemaViolation {
        /// What was validated.
        what: String,
        /// Each problem, with its JSON pointer.
        problems: Vec<String>,
    },
    /// A gate policy is unreadable or impossible.
    #[error("policy {origin}: {message}")]
    Policy {
        /// File (or "<string>") the policy came from.
        origin: String,
        /// What is wrong, naming the key.
        message: String,
    },
    /// Two runs were audited on different corpora.
    #[error("runs were audited on different corpora (manifest {a} vs {b}); their figures are not comparable (use --force to compare anyway)")]
    DifferentCorpora {
        /// Manifest hash of the first run.
        a: String,
        /// Manifest hash of the second run.
        b: String,
    },
    /// A plot could not be drawn.
    #[error("plot {plot}: {message}")]
    Plot {
        /// Which plot.
        plot: String,
        /// The plotting library's message.
        message: String,
    },
}
