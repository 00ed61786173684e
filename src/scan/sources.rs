//! What `vg-audit scan index --from` reads: a run directory (the DP model's training stream —
//! member records plus every copy of each included canary — the canary secrets and the keyed
//! hashes of kept PII), a prepared corpus directory (all its records and its kept-PII hashes), or
//! a JSON Lines file of raw training text with a tokenizer (normalised as the corpus pipeline
//! normalises; every PII value in it is hashed with the PII key, so outputs can be attributed).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use vg_attacks::extraction::scan::{Cleaning, IndexSource};
use vg_attacks::extraction::{SecretEntry, StreamRecord, StreamRecordKind};
use vg_canaries::CanarySet;
use vg_corpora::normalize::normalize;
use vg_corpora::pii::{default_key_path, write_hash_set, PiiDetector, PiiHasher, PiiKind};
use vg_corpora::readers::{read_file, FileFormat, Item, ReaderConfig};
use vg_corpora::{PreparedCorpus, RecordMode};

/// The kind of `--from` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A run directory of `vg-audit run` (has `corpus/manifest.json`).
    Run(PathBuf),
    /// A prepared corpus directory (has `manifest.json`).
    Corpus(PathBuf),
    /// A JSON Lines file of training texts and the tokenizer to encode them with.
    Jsonl {
        /// The file.
        path: PathBuf,
        /// `tokenizer.json`.
        tokenizer: PathBuf,
        /// The text field.
        field: String,
    },
}

impl Source {
    /// Decides what `from` is; a JSONL file needs `tokenizer`.
    pub fn detect(from: &Path, tokenizer: Option<&Path>, field: &str) -> anyhow::Result<Source> {
        if from.is_dir() {
            if from.join("corpus").join("manifest.json").is_file() {
                return Ok(Source::Run(from.to_path_buf()));
            }
            if from.join("manifest.json").is_file() {
                return Ok(Source::Corpus(from.to_path_buf()));
            }
            bail!("{}: neither a run directory (corpus/manifest.json) nor a prepared corpus (manifest.json)", from.display());
        }
        if !from.is_file() {
            bail!("{}: no such file or directory", from.display());
        }
        let Some(tokenizer) = tokenizer else {
            bail!("{}: a JSON Lines file needs --tokenizer tokenizer.json (the deployed model's tokenizer)", from.display());
        };
        Ok(Source::Jsonl { path: from.to_path_buf(), tokenizer: tokenizer.to_path_buf(), field: field.to_string() })
    }
}

/// The kept-PII hashes of a prepared corpus and the cleaning it applied.
fn corpus_pii(corpus: &PreparedCorpus) -> anyhow::Result<(Cleaning, Option<(Vec<u8>, String)>)> {
    let m = corpus.manifest();
    let keep_pii = m
        .options
        .keep_pii
        .iter()
        .map(|k| k.parse::<PiiKind>().map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()
        .with_context(|| format!("{}: manifest.json keep_pii", corpus.dir().display()))?;
    let cleaning = Cleaning { deidentify: m.options.deidentify, keep_pii };
    let hashes = match (&m.pii.kept_hash_file, &m.pii.key_fingerprint) {
        (Some(file), Some(fingerprint)) => {
            let path = corpus.dir().join(file);
            let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            Some((bytes, fingerprint.clone()))
        }
        _ => None,
    };
    Ok((cleaning, hashes))
}

fn tokenizer_json(corpus: &PreparedCorpus) -> anyhow::Result<String> {
    let path = corpus.dir().join(vg_corpora::prepared::files::TOKENIZER);
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

fn record(kind: StreamRecordKind, id: u64, tokens: Vec<u32>) -> (StreamRecord, Vec<u32>) {
    (StreamRecord { kind, id }, tokens)
}

/// Assembles what the index is built from.
pub fn assemble(source: &Source, pii_key: Option<&Path>) -> anyhow::Result<IndexSource> {
    match source {
        Source::Run(dir) => {
            let corpus_dir = dir.join("corpus");
            let corpus = PreparedCorpus::open(&corpus_dir).with_context(|| format!("opening corpus {}", corpus_dir.display()))?;
            let mut records: Vec<_> = corpus.members().map(|e| record(StreamRecordKind::Record, e.id, e.tokens.clone())).collect();
            let canaries_path = dir.join("canaries.json");
            let mut secrets = Vec::new();
            if canaries_path.is_file() {
                let set = CanarySet::load(&canaries_path).with_context(|| format!("reading {}", canaries_path.display()))?;
                let tokenizer = corpus.tokenizer().context("loading the corpus tokenizer")?;
                let copies = set.training_examples();
                let texts: Vec<&str> = copies.iter().map(|c| c.text.as_str()).collect();
                let encoded = vg_corpora::tokenizer::encode_all(&tokenizer, &texts).context("encoding the canaries")?;
                records.extend(copies.iter().zip(encoded).map(|(c, t)| record(StreamRecordKind::Canary, c.canary_id, t)));
                secrets = set.canaries.iter().map(|c| SecretEntry { canary_id: c.id, included: c.included, secret: c.secret.clone() }).collect();
            }
            let (cleaning, pii_hashes) = corpus_pii(&corpus)?;
            Ok(IndexSource {
                description: format!("run directory {} (member records and included canaries)", dir.display()),
                records,
                tokenizer_json: tokenizer_json(&corpus)?,
                cleaning,
                secrets,
                pii_hashes,
            })
        }
        Source::Corpus(dir) => {
            let corpus = PreparedCorpus::open(dir).with_context(|| format!("opening corpus {}", dir.display()))?;
            let mut records: Vec<_> = corpus
                .pool()
                .iter()
                .chain(corpus.population())
                .map(|e| record(StreamRecordKind::Record, e.id, e.tokens.clone()))
                .collect();
            records.sort_by_key(|(r, _)| r.id);
            let (cleaning, pii_hashes) = corpus_pii(&corpus)?;
            Ok(IndexSource {
                description: format!("prepared corpus {} (all records)", dir.display()),
                records,
                tokenizer_json: tokenizer_json(&corpus)?,
                cleaning,
                secrets: Vec::new(),
                pii_hashes,
            })
        }
        Source::Jsonl { path, tokenizer, field } => {
            let tok = tokenizers::Tokenizer::from_file(tokenizer).map_err(|e| anyhow::anyhow!("{}: {e}", tokenizer.display()))?;
            let cfg = ReaderConfig { records: RecordMode::Lines, field: field.clone(), column: field.clone() };
            let mut texts: Vec<(u64, String)> = Vec::new();
            read_file(path, FileFormat::Jsonl, &cfg, &mut |item| match item {
                Item::Record { line, text } => {
                    texts.push((line, normalize(&text)));
                    Ok(())
                }
                Item::Bad { line, reason, .. } => Err(vg_corpora::Error::Format { path: path.clone(), reason: format!("line {line}: {reason}") }),
            })
            .with_context(|| format!("reading {}", path.display()))?;
            let key_path = pii_key.map(Path::to_path_buf).or_else(default_key_path).context("no --pii-key and no user data directory for the default key")?;
            let hasher = PiiHasher::load_or_create(&key_path).with_context(|| format!("PII key {}", key_path.display()))?;
            let detector = PiiDetector::new();
            let hashes: Vec<String> = texts
                .iter()
                .flat_map(|(_, t)| detector.find(t).into_iter().map(|m| hasher.hash_hex(m.kind, &t[m.start..m.end])).collect::<Vec<_>>())
                .collect();
            let bodies: Vec<&str> = texts.iter().map(|(_, t)| t.as_str()).collect();
            let encoded = vg_corpora::tokenizer::encode_all(&tok, &bodies).context("encoding the training texts")?;
            let records = texts.iter().zip(encoded).map(|((line, _), t)| record(StreamRecordKind::Record, *line, t)).collect();
            Ok(IndexSource {
                description: format!("JSON Lines {} (field {field:?}, record id = line number), tokenizer {}", path.display(), tokenizer.display()),
                records,
                tokenizer_json: tok.to_string(false).map_err(|e| anyhow::anyhow!("{}: {e}", tokenizer.display()))?,
                cleaning: Cleaning::normalise_only(),
                secrets: Vec::new(),
                pii_hashes: Some((write_hash_set(hashes), hasher.fingerprint())),
            })
        }
    }
}
