//! [`PrepareOptions`]: everything `prepare` needs, with defaults a newcomer can run with.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::pii::PiiKind;

/// How a plain-text file is cut into records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordMode {
    /// One record per line.
    #[default]
    Lines,
    /// One record per blank-line-separated paragraph.
    Paragraphs,
}

impl RecordMode {
    /// `lines` or `paragraphs`.
    pub fn name(self) -> &'static str {
        match self {
            RecordMode::Lines => "lines",
            RecordMode::Paragraphs => "paragraphs",
        }
    }
}

/// File format of an input; `Auto` decides by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputFormat {
    /// By extension: .txt/.text/.md → text, .jsonl/.ndjson → jsonl, .csv → csv, .parquet → parquet.
    #[default]
    Auto,
    /// Plain UTF-8 text.
    Text,
    /// JSON Lines.
    Jsonl,
    /// CSV with a header row.
    Csv,
    /// Apache Parquet.
    Parquet,
}

/// Options of [`crate::prepare`]. `PrepareOptions::new(inputs, out)` fills every default.
#[derive(Debug, Clone)]
pub struct PrepareOptions {
    /// Input files or directories (directories are walked recursively, files chosen by extension).
    pub inputs: Vec<PathBuf>,
    /// Output directory (created; must not exist or be empty unless `overwrite`).
    pub out: PathBuf,
    /// Replace an existing non-empty output directory.
    pub overwrite: bool,
    /// Format of the inputs (default: by extension).
    pub format: InputFormat,
    /// Record boundary in text files.
    pub records: RecordMode,
    /// JSON Lines field holding the text.
    pub field: String,
    /// CSV / Parquet column holding the text.
    pub column: String,
    /// Skip and count bad records instead of stopping at the first.
    pub skip_bad: bool,
    /// Run de-identification (replace detected PII by typed placeholders).
    pub deidentify: bool,
    /// PII types detected but kept in the text (stored only as keyed hashes).
    pub keep_pii: Vec<PiiKind>,
    /// HMAC key file for kept PII; default `<data dir>/vg-audit/pii.key`, created on first use.
    pub pii_key: Option<PathBuf>,
    /// Minimum record length in characters, after cleaning.
    pub min_chars: usize,
    /// Maximum record length in characters, after cleaning (longer records are dropped).
    pub max_chars: usize,
    /// Near-duplicate threshold: a record sharing a verbatim span this long with an earlier one is dropped.
    pub dedup_span: usize,
    /// Expected fraction of records put in the population split (never trained on).
    pub population_fraction: f64,
    /// Seed of the split and membership bits; `None` draws one from the OS (recorded in the manifest).
    pub seed: Option<u64>,
    /// Vocabulary size of a trained tokenizer (special tokens included).
    pub vocab_size: usize,
    /// Use this `tokenizer.json` instead of training one.
    pub tokenizer: Option<PathBuf>,
    /// At most this many bytes of population text train the tokenizer (a seeded sample beyond it).
    pub tokenizer_train_bytes: usize,
    /// Model context in tokens, to count the records that will be truncated.
    pub context: usize,
}

impl Default for PrepareOptions {
    fn default() -> Self {
        PrepareOptions {
            inputs: Vec::new(),
            out: PathBuf::new(),
            overwrite: false,
            format: InputFormat::Auto,
            records: RecordMode::Lines,
            field: "text".into(),
            column: "text".into(),
            skip_bad: false,
            deidentify: true,
            keep_pii: Vec::new(),
            pii_key: None,
            min_chars: 16,
            max_chars: 20_000,
            dedup_span: 200,
            population_fraction: 0.2,
            seed: None,
            vocab_size: 2048,
            tokenizer: None,
            tokenizer_train_bytes: 4 << 20,
            context: 128,
        }
    }
}

impl PrepareOptions {
    /// Defaults for the given inputs and output directory.
    pub fn new(inputs: Vec<PathBuf>, out: impl Into<PathBuf>) -> Self {
        PrepareOptions { inputs, out: out.into(), ..Default::default() }
    }

    /// Refuses impossible values before any work starts.
    pub fn validate(&self) -> Result<()> {
        let invalid = |name: &'static str, value: String, reason: &str| {
            Err(Error::InvalidOption { name, value, reason: reason.into() })
        };
        if self.inputs.is_empty() {
            return invalid("--input", "(none)".into(), "give at least one input file or directory");
        }
        if self.out.as_os_str().is_empty() {
            return invalid("--out", "(none)".into(), "give an output directory");
        }
        if self.min_chars > self.max_chars {
            return invalid(
                "--min-chars",
                self.min_chars.to_string(),
                &format!("must not exceed --max-chars ({})", self.max_chars),
            );
        }
        if self.max_chars == 0 {
            return invalid("--max-chars", "0".into(), "must be at least 1");
        }
        if self.dedup_span < 8 {
            return invalid("--dedup-span", self.dedup_span.to_string(), "must be at least 8 characters");
        }
        if !(self.population_fraction > 0.0 && self.population_fraction < 1.0) {
            return invalid(
                "--population-fraction",
                self.population_fraction.to_string(),
                "must be strictly between 0 and 1 (the tokenizer and the attacks need a population, training needs a pool)",
            );
        }
        if self.tokenizer.is_none() && !(259..=1_000_000).contains(&self.vocab_size) {
            return invalid(
                "--vocab-size",
                self.vocab_size.to_string(),
                "must be at least 259 (3 special tokens + 256 byte symbols) and at most 1,000,000",
            );
        }
        if self.context < 3 {
            return invalid("--context", self.context.to_string(), "must be at least 3 tokens (BOS, one token, EOS)");
        }
        if self.tokenizer_train_bytes < 1024 {
            return invalid("--tokenizer-train-bytes", self.tokenizer_train_bytes.to_string(), "must be at least 1024");
        }
        if self.field.is_empty() {
            return invalid("--field", "\"\"".into(), "must name a JSON field");
        }
        if self.column.is_empty() {
            return invalid("--column", "\"\"".into(), "must name a column");
        }
        Ok(())
    }
}
