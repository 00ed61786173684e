//! The scan index: one folder, written once by `vg-audit scan index`, read (never written) by the
//! scanner.
//!
//! ```text
//! INDEX/
//!   index.json       format name and version, source, cleaning, counts, SHA-256 of the files below
//!   stream.vgsa      suffix array of the training token stream (vg-corpora's file: CRC-32, mmap)
//!   records.json     (kind, id) of each record of the stream, in stream order
//!   tokenizer.json   the tokenizer the stream was encoded with
//!   secrets.json     canary secrets (sensitive: the answer key) — the folder is owner-only
//!   pii-kept.fst     keyed hashes of the PII left in the training text (when any was kept)
//! ```
//!
//! `stream.vgsa` is checked by its own CRC-32 when it is mapped, and that CRC and its size must be
//! the ones `index.json` recorded, so a stream from another index is refused too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vg_corpora::fsutil::{atomic_write, sha256_bytes};
use vg_corpora::pii::PiiKind;
use vg_corpora::suffix_array::SuffixArray;

use crate::error::{AttackError, Result};
use crate::extraction::{SecretEntry, StreamRecord, TokenStream};

/// The `format` field of `index.json`.
pub const SCAN_INDEX_FORMAT: &str = "vg-audit-scan-index";
/// Version of the folder layout; an index of another version is refused, never guessed at.
pub const SCAN_INDEX_VERSION: u32 = 1;

/// File names inside the index folder.
mod files {
    pub const META: &str = "index.json";
    pub const STREAM: &str = "stream.vgsa";
    pub const RECORDS: &str = "records.json";
    pub const TOKENIZER: &str = "tokenizer.json";
    pub const SECRETS: &str = "secrets.json";
    pub const PII: &str = "pii-kept.fst";
}

/// How the training records were cleaned before tokenizing; outputs are cleaned the same way so
/// that their tokens line up with the stream's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cleaning {
    /// Whether PII was replaced by typed placeholders (`<EMAIL>`, ...).
    pub deidentify: bool,
    /// PII types left in the text when de-identifying (their values are in the kept-PII hashes).
    pub keep_pii: Vec<PiiKind>,
}

impl Cleaning {
    /// Normalisation only (raw training text: every PII value stays in it).
    pub fn normalise_only() -> Self {
        Cleaning { deidentify: false, keep_pii: Vec::new() }
    }

    /// The PII types left in the text: all of them when nothing was de-identified.
    pub fn kept_kinds(&self) -> Vec<PiiKind> {
        if self.deidentify {
            self.keep_pii.clone()
        } else {
            PiiKind::ALL.to_vec()
        }
    }
}

/// A canary secret as stored in `secrets.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct StoredSecret {
    canary_id: u64,
    included: bool,
    secret: String,
}

/// Everything an index is built from (assembled by the caller from a run, corpus or JSONL file).
pub struct IndexSource {
    /// What it was built from, in words (recorded in `index.json`).
    pub description: String,
    /// The training records in stream order, tokenized.
    pub records: Vec<(StreamRecord, Vec<u32>)>,
    /// The tokenizer's JSON.
    pub tokenizer_json: String,
    /// How the records were cleaned.
    pub cleaning: Cleaning,
    /// Canary secrets (included and not) looked up in outputs.
    pub secrets: Vec<SecretEntry>,
    /// The kept-PII hash set (`fst` bytes) and the fingerprint of its key.
    pub pii_hashes: Option<(Vec<u8>, String)>,
}

/// `index.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexMeta {
    /// [`SCAN_INDEX_FORMAT`].
    pub format: String,
    /// [`SCAN_INDEX_VERSION`].
    pub format_version: u32,
    /// The program that wrote it (`vg-attacks <version>`).
    pub built_by: String,
    /// What it was built from.
    pub source: String,
    /// How training records (and so outputs) are cleaned.
    pub cleaning: Cleaning,
    /// Records in the stream.
    pub records: u64,
    /// Tokens in the stream (separators excluded).
    pub tokens: u64,
    /// Canary secrets.
    pub canaries: u64,
    /// Fingerprint of the PII key, when kept-PII hashes are present.
    pub pii_key_fingerprint: Option<String>,
    /// Size of `stream.vgsa` in bytes.
    pub stream_bytes: u64,
    /// CRC-32 stored in `stream.vgsa`'s header (hex).
    pub stream_crc32: String,
    /// SHA-256 (hex) of every other file, by name.
    pub files: BTreeMap<String, String>,
}

/// An opened index: the memory-mapped stream and the small files, all verified.
pub struct ScanIndex {
    dir: PathBuf,
    meta: IndexMeta,
    stream: TokenStream,
    tokenizer_json: String,
    secrets: Vec<SecretEntry>,
    pii_set: Option<Vec<u8>>,
}

impl std::fmt::Debug for ScanIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanIndex").field("dir", &self.dir).field("records", &self.meta.records).field("tokens", &self.meta.tokens).finish()
    }
}

/// CRC-32 field of a saved suffix-array file (bytes 48..52 of its header).
fn stream_crc(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut header = [0u8; 52];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut header)).map_err(|e| AttackError::io(path, e))?;
    Ok(format!("{:08x}", u32::from_le_bytes(header[48..52].try_into().expect("4 bytes"))))
}

impl ScanIndex {
    /// Builds the index of `source` into the folder `out` (written to a temporary folder beside it
    /// and renamed into place; an existing `out` is replaced only when `replace`).
    pub fn build(source: IndexSource, out: &Path, replace: bool) -> Result<IndexMeta> {
        if out.exists() && !replace {
            return Err(AttackError::Exists { path: out.to_path_buf() });
        }
        let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| AttackError::io(parent, e))?;
        // tempfile creates the folder owner-only: the secrets never sit in a readable folder.
        let tmp = tempfile::Builder::new().prefix(".vg-scan-index-").tempdir_in(parent).map_err(|e| AttackError::io(parent, e))?;
        let refs: Vec<(StreamRecord, &[u32])> = source.records.iter().map(|(r, t)| (*r, t.as_slice())).collect();
        let stream = TokenStream::build(&refs)?;
        let stream_path = tmp.path().join(files::STREAM);
        stream.index().save(&stream_path)?;
        let stream_bytes = std::fs::metadata(&stream_path).map_err(|e| AttackError::io(&stream_path, e))?.len();

        let records: Vec<StreamRecord> = source.records.iter().map(|(r, _)| *r).collect();
        let secrets: Vec<StoredSecret> = source
            .secrets
            .iter()
            .map(|s| StoredSecret { canary_id: s.canary_id, included: s.included, secret: s.secret.clone() })
            .collect();
        let mut small: Vec<(&str, Vec<u8>)> = vec![
            (files::RECORDS, serde_json::to_vec(&records).expect("records serialise")),
            (files::TOKENIZER, source.tokenizer_json.into_bytes()),
            (files::SECRETS, serde_json::to_vec(&secrets).expect("secrets serialise")),
        ];
        if let Some((bytes, _)) = &source.pii_hashes {
            small.push((files::PII, bytes.clone()));
        }
        let mut sums = BTreeMap::new();
        for (name, bytes) in &small {
            let path = tmp.path().join(name);
            atomic_write(&path, bytes).map_err(|e| AttackError::io(&path, e))?;
            sums.insert(name.to_string(), sha256_bytes(bytes));
        }
        let meta = IndexMeta {
            format: SCAN_INDEX_FORMAT.into(),
            format_version: SCAN_INDEX_VERSION,
            built_by: format!("vg-attacks {}", env!("CARGO_PKG_VERSION")),
            source: source.description,
            cleaning: source.cleaning,
            records: records.len() as u64,
            tokens: (stream.index().len() - records.len()) as u64,
            canaries: secrets.len() as u64,
            pii_key_fingerprint: source.pii_hashes.map(|(_, f)| f),
            stream_bytes,
            stream_crc32: stream_crc(&stream_path)?,
            files: sums,
        };
        let meta_path = tmp.path().join(files::META);
        atomic_write(&meta_path, &serde_json::to_vec_pretty(&meta).expect("meta serialises")).map_err(|e| AttackError::io(&meta_path, e))?;
        let staged = tmp.keep();
        if out.exists() {
            let old = parent.join(format!(".vg-scan-index-old-{}", std::process::id()));
            std::fs::rename(out, &old).map_err(|e| AttackError::io(out, e))?;
            std::fs::rename(&staged, out).map_err(|e| AttackError::io(out, e))?;
            let _ = std::fs::remove_dir_all(&old);
        } else {
            std::fs::rename(&staged, out).map_err(|e| AttackError::io(out, e))?;
        }
        Ok(meta)
    }

    /// Opens and verifies the index folder `dir` (read-only; the stream is memory-mapped).
    pub fn open(dir: &Path) -> Result<ScanIndex> {
        let meta_path = dir.join(files::META);
        let meta_bytes = std::fs::read(&meta_path).map_err(|e| AttackError::io(&meta_path, e))?;
        let probe: serde_json::Value = serde_json::from_slice(&meta_bytes)
            .map_err(|e| AttackError::invalid_index(&meta_path, format!("not JSON: {e}")))?;
        if probe.get("format").and_then(|f| f.as_str()) != Some(SCAN_INDEX_FORMAT) {
            return Err(AttackError::invalid_index(&meta_path, format!("not a scan index (format is not {SCAN_INDEX_FORMAT:?})")));
        }
        let version = probe.get("format_version").and_then(|v| v.as_u64());
        if version != Some(SCAN_INDEX_VERSION as u64) {
            return Err(AttackError::invalid_index(
                &meta_path,
                format!(
                    "format version {} (built by {}), this build reads version {SCAN_INDEX_VERSION}: rebuild it with `vg-audit scan index`",
                    version.map_or("missing".to_string(), |v| v.to_string()),
                    probe.get("built_by").and_then(|b| b.as_str()).unwrap_or("an unknown program")
                ),
            ));
        }
        let meta: IndexMeta = serde_json::from_slice(&meta_bytes).map_err(|e| AttackError::invalid_index(&meta_path, e.to_string()))?;
        let read_checked = |name: &str| -> Result<Vec<u8>> {
            let path = dir.join(name);
            let expected = meta.files.get(name).ok_or_else(|| AttackError::invalid_index(&meta_path, format!("no checksum for {name}")))?;
            let bytes = std::fs::read(&path).map_err(|e| AttackError::io(&path, e))?;
            let actual = sha256_bytes(&bytes);
            if &actual != expected {
                return Err(AttackError::invalid_index(&path, format!("SHA-256 {actual} is not the recorded {expected}: the file was altered")));
            }
            Ok(bytes)
        };
        let records: Vec<StreamRecord> = serde_json::from_slice(&read_checked(files::RECORDS)?)
            .map_err(|e| AttackError::invalid_index(dir.join(files::RECORDS), e.to_string()))?;
        let tokenizer_json = String::from_utf8(read_checked(files::TOKENIZER)?)
            .map_err(|e| AttackError::invalid_index(dir.join(files::TOKENIZER), e.to_string()))?;
        let stored: Vec<StoredSecret> = serde_json::from_slice(&read_checked(files::SECRETS)?)
            .map_err(|e| AttackError::invalid_index(dir.join(files::SECRETS), e.to_string()))?;
        let pii_set = match meta.files.contains_key(files::PII) {
            true => Some(read_checked(files::PII)?),
            false => None,
        };
        let stream_path = dir.join(files::STREAM);
        let size = std::fs::metadata(&stream_path).map_err(|e| AttackError::io(&stream_path, e))?.len();
        let crc = stream_crc(&stream_path)?;
        if size != meta.stream_bytes || crc != meta.stream_crc32 {
            return Err(AttackError::invalid_index(
                &stream_path,
                format!("{size} bytes with CRC {crc}, index.json recorded {} bytes with CRC {}: not this index's stream", meta.stream_bytes, meta.stream_crc32),
            ));
        }
        let sa = SuffixArray::<u32>::open(&stream_path)?;
        let stream = TokenStream::from_index(sa, records)?;
        let secrets = stored.into_iter().map(|s| SecretEntry { canary_id: s.canary_id, included: s.included, secret: s.secret }).collect();
        Ok(ScanIndex { dir: dir.to_path_buf(), meta, stream, tokenizer_json, secrets, pii_set })
    }

    /// The folder it was opened from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `index.json`.
    pub fn meta(&self) -> &IndexMeta {
        &self.meta
    }

    /// The training token stream.
    pub fn stream(&self) -> &TokenStream {
        &self.stream
    }

    /// The tokenizer's JSON.
    pub fn tokenizer_json(&self) -> &str {
        &self.tokenizer_json
    }

    /// Splits the index into the parts the scanner owns.
    pub(crate) fn into_parts(self) -> (IndexMeta, TokenStream, String, Vec<SecretEntry>, Option<Vec<u8>>) {
        (self.meta, self.stream, self.tokenizer_json, self.secrets, self.pii_set)
    }
}
