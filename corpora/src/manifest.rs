//! `manifest.json`: what went in, what each stage did, and the SHA-256 of every file in and out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version of the manifest schema; bumped when a field changes meaning.
pub const MANIFEST_VERSION: u32 = 1;

/// The record of one `prepare` run, written to `DIR/manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Schema version ([`MANIFEST_VERSION`]).
    pub format_version: u32,
    /// The program that wrote it.
    pub tool: ToolInfo,
    /// Every input file read, with its digest.
    pub inputs: Vec<InputFile>,
    /// Files inside input directories that were not read (unknown extension).
    pub skipped_files: Vec<String>,
    /// The options the run used, every default written out.
    pub options: ManifestOptions,
    /// Record counts at every stage.
    pub counts: StageCounts,
    /// De-identification: replacements and kept values per PII type.
    pub pii: PiiSummary,
    /// Where the tokenizer came from.
    pub tokenizer: TokenizerInfo,
    /// Token counts of the stored examples.
    pub tokens: TokenCounts,
    /// Seeds that make the run reproducible.
    pub seeds: Seeds,
    /// SHA-256 (hex) of every output file in DIR except `manifest.json` itself, by file name.
    pub outputs: BTreeMap<String, String>,
}

/// Name and version of the writer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// `vg-corpora`.
    pub name: String,
    /// Crate version.
    pub version: String,
}

/// One input file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputFile {
    /// Path as given (or found under a given directory).
    pub path: String,
    /// Reader used: `text`, `jsonl`, `csv` or `parquet`.
    pub format: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the content (hex).
    pub sha256: String,
}

/// The options of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestOptions {
    /// Record boundary in text files: `lines` or `paragraphs`.
    pub records: String,
    /// JSON field holding the text.
    pub field: String,
    /// CSV / Parquet column holding the text.
    pub column: String,
    /// Bad records were skipped (true) or fatal (false).
    pub skip_bad: bool,
    /// Records shorter than this many characters (after cleaning) were dropped.
    pub min_chars: usize,
    /// Records longer than this many characters were dropped.
    pub max_chars: usize,
    /// Near-duplicate threshold: shared verbatim span, in characters.
    pub dedup_span: usize,
    /// Expected fraction of records in the population split.
    pub population_fraction: f64,
    /// Model context (tokens) used to count truncated records.
    pub context: usize,
    /// Whether de-identification ran.
    pub deidentify: bool,
    /// PII types detected but left in the text.
    pub keep_pii: Vec<String>,
    /// Requested vocabulary size (trained tokenizers).
    pub vocab_size: usize,
}

/// Record counts at each stage, in pipeline order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageCounts {
    /// Records read successfully.
    pub read: u64,
    /// Bad records or files skipped (only non-zero with `--skip-bad`).
    pub bad: u64,
    /// Bad records by kind.
    pub bad_by_kind: BTreeMap<String, u64>,
    /// Dropped: shorter than `min_chars` after normalisation and de-identification.
    pub too_short: u64,
    /// Dropped: longer than `max_chars`.
    pub too_long: u64,
    /// Dropped: identical to an earlier record.
    pub exact_duplicates: u64,
    /// Dropped: shares a verbatim span of `dedup_span` characters with an earlier record.
    pub near_duplicates: u64,
    /// Records kept (pool + population).
    pub kept: u64,
    /// Records in the candidate pool.
    pub pool: u64,
    /// Pool records with membership bit 1 (trained on).
    pub members: u64,
    /// Pool records with membership bit 0.
    pub non_members: u64,
    /// Records in the population split (never trained on).
    pub population: u64,
}

/// De-identification summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PiiSummary {
    /// Whether de-identification ran at all.
    pub deidentified: bool,
    /// Values replaced by their placeholder, by type (`EMAIL`, `PHONE`, ...).
    pub replaced: BTreeMap<String, u64>,
    /// Values detected but kept in the text, by type.
    pub kept: BTreeMap<String, u64>,
    /// Distinct kept values stored as keyed hashes.
    pub kept_distinct: u64,
    /// File holding the keyed hashes (`pii-kept.fst`), when any value was kept.
    pub kept_hash_file: Option<String>,
    /// Fingerprint of the HMAC key (not the key), so a later search can check it has the right key.
    pub key_fingerprint: Option<String>,
}

/// Provenance of `tokenizer.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenizerInfo {
    /// `trained` (byte-level BPE on the population split) or `loaded` (the user's file).
    pub source: String,
    /// What the tokenizer was trained on, in words.
    pub trained_on: String,
    /// Number of records it was trained on (0 when loaded).
    pub training_records: u64,
    /// Bytes of text it was trained on (0 when loaded).
    pub training_bytes: u64,
    /// Vocabulary size including special tokens.
    pub vocab_size: usize,
    /// The user's file it was loaded from.
    pub loaded_from: Option<String>,
    /// SHA-256 of the user's file.
    pub loaded_sha256: Option<String>,
}

/// Token counts of the stored examples (text tokens only, without BOS/EOS).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenCounts {
    /// All examples.
    pub total: u64,
    /// Pool examples.
    pub pool: u64,
    /// Member examples.
    pub members: u64,
    /// Population examples.
    pub population: u64,
    /// Longest example.
    pub max_per_record: u64,
    /// Mean tokens per example.
    pub mean_per_record: f64,
    /// Context length used below.
    pub context: usize,
    /// Examples whose model input `[BOS] + tokens + [EOS]` is longer than `context` and gets truncated.
    pub records_truncated_at_context: u64,
    /// Of those, pool examples.
    pub pool_records_truncated_at_context: u64,
}

/// Seeds of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seeds {
    /// Seed of the pool/population split and the membership bits.
    pub split: u64,
}
