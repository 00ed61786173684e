//! [`PreparedCorpus`]: reading a directory written by [`crate::prepare`] back, with integrity checks.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil::{sha256_bytes, sha256_file};
use crate::manifest::{Manifest, MANIFEST_VERSION};
use crate::splits_file::{read_splits, Split};

/// File names inside a prepared corpus directory.
pub mod files {
    /// The manifest.
    pub const MANIFEST: &str = "manifest.json";
    /// The tokenizer (Hugging Face `tokenizers` JSON).
    pub const TOKENIZER: &str = "tokenizer.json";
    /// The compact binary splits file.
    pub const SPLITS: &str = "splits.bin";
    /// The JSON Lines view of the splits, for people.
    pub const SPLITS_JSONL: &str = "splits.jsonl";
    /// Keyed hashes of PII left in the text (an `fst` set).
    pub const PII_KEPT: &str = "pii-kept.fst";
}

/// One training example: one record, its tokens, and its membership bit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// Record id, unique within the corpus.
    pub id: u64,
    /// Cleaned, de-identified text.
    pub text: String,
    /// The text's token ids (no BOS/EOS; the model input is `[BOS] + tokens + [EOS]`).
    pub tokens: Vec<u32>,
    /// Membership bit: true = trained on. Always false in the population.
    pub member: bool,
}

/// A prepared corpus directory, loaded and checked against its manifest.
#[derive(Debug, Clone)]
pub struct PreparedCorpus {
    dir: PathBuf,
    manifest: Manifest,
    manifest_sha256: String,
    pool: Vec<Example>,
    population: Vec<Example>,
}

impl PreparedCorpus {
    /// Opens `dir`: reads `manifest.json`, checks the SHA-256 of `splits.bin` and `tokenizer.json`
    /// against it, and loads the splits.
    pub fn open(dir: impl AsRef<Path>) -> Result<PreparedCorpus> {
        let dir = dir.as_ref().to_path_buf();
        let manifest_path = dir.join(files::MANIFEST);
        let manifest_bytes = std::fs::read(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes).map_err(|e| Error::Format {
            path: manifest_path.clone(),
            reason: format!("not a corpus manifest: {e}"),
        })?;
        if manifest.format_version != MANIFEST_VERSION {
            return Err(Error::Format {
                path: manifest_path,
                reason: format!(
                    "manifest format version {} (this build reads {MANIFEST_VERSION})",
                    manifest.format_version
                ),
            });
        }
        for name in [files::SPLITS, files::TOKENIZER] {
            let path = dir.join(name);
            let expected = manifest.outputs.get(name).ok_or_else(|| Error::Format {
                path: manifest_path.clone(),
                reason: format!("no SHA-256 recorded for {name}"),
            })?;
            let actual = sha256_file(&path).map_err(|e| Error::io(&path, e))?;
            if &actual != expected {
                return Err(Error::Format {
                    path,
                    reason: format!("SHA-256 {actual} does not match the manifest's {expected}: the file was changed"),
                });
            }
        }
        let (stored, _vocab) = read_splits(&dir.join(files::SPLITS))?;
        let mut pool = Vec::new();
        let mut population = Vec::new();
        for s in stored {
            let ex = Example { id: s.id, text: s.text, tokens: s.tokens, member: s.member };
            match s.split {
                Split::Pool => pool.push(ex),
                Split::Population => population.push(ex),
            }
        }
        Ok(PreparedCorpus { dir, manifest, manifest_sha256: sha256_bytes(&manifest_bytes), pool, population })
    }

    /// The directory it was opened from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Loads `tokenizer.json`.
    pub fn tokenizer(&self) -> Result<tokenizers::Tokenizer> {
        let path = self.dir.join(files::TOKENIZER);
        tokenizers::Tokenizer::from_file(&path)
            .map_err(|e| Error::Tokenizer { path: Some(path), reason: e.to_string() })
    }

    /// The candidate pool; each example's `member` bit says whether it is trained on.
    pub fn pool(&self) -> &[Example] {
        &self.pool
    }

    /// The population split (never trained on).
    pub fn population(&self) -> &[Example] {
        &self.population
    }

    /// Pool examples with membership bit 1, in id order.
    pub fn members(&self) -> impl Iterator<Item = &Example> {
        self.pool.iter().filter(|e| e.member)
    }

    /// SHA-256 (hex) of `manifest.json` as read.
    pub fn manifest_sha256(&self) -> String {
        self.manifest_sha256.clone()
    }

    /// SHA-256 (hex) of the corpus identity (content and preparation settings, never paths;
    /// see [`Manifest::identity_sha256`]).
    pub fn identity_sha256(&self) -> String {
        self.manifest.identity_sha256()
    }

    /// SHA-256 (hex) of `tokenizer.json` (checked at open).
    pub fn tokenizer_sha256(&self) -> String {
        self.manifest.outputs.get(files::TOKENIZER).cloned().unwrap_or_default()
    }

    /// SHA-256 (hex) of `splits.bin` (checked at open).
    pub fn splits_sha256(&self) -> String {
        self.manifest.outputs.get(files::SPLITS).cloned().unwrap_or_default()
    }
}
