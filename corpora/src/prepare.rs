//! The `prepare` pipeline: read → normalise → de-identify → length filter → exact dedup →
//! near-dup removal → split → tokenizer (population only) → tokenize → write DIR atomically.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::dedup::{exact_key, near_duplicates};
use crate::error::{BadInputKind, Error, Result};
use crate::fsutil::{atomic_write, atomic_write_with, sha256_file};
use crate::manifest::*;
use crate::normalize::normalize;
use crate::options::PrepareOptions;
use crate::pii::{self, deidentify, PiiDetector, PiiHasher, PiiKind};
use crate::prepared::files;
use crate::readers::{collect_inputs, read_file, Item, ReaderConfig};
use crate::split::{assign, Assignment};
use crate::splits_file::{write_splits, Split, StoredExample};
use crate::tokenizer;

/// A stage of [`prepare`], reported to the progress callback as (stage, done, total).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading, normalising, de-identifying and exact dedup; counted in input bytes.
    Read,
    /// Near-duplicate search; 0/1 records.
    NearDedup,
    /// Tokenizer training or loading; 0/1.
    Tokenizer,
    /// Tokenizing; counted in records.
    Tokenize,
    /// Writing DIR; counted in files.
    Write,
}

impl Stage {
    /// Short name for a progress bar.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Read => "read+clean",
            Stage::NearDedup => "near-dedup",
            Stage::Tokenizer => "tokenizer",
            Stage::Tokenize => "tokenize",
            Stage::Write => "write",
        }
    }

    /// The unit `done`/`total` count.
    pub fn unit(self) -> &'static str {
        match self {
            Stage::Read => "bytes",
            Stage::NearDedup | Stage::Tokenizer => "steps",
            Stage::Tokenize => "records",
            Stage::Write => "files",
        }
    }
}

/// Records buffered before a parallel cleaning pass.
const BATCH_BYTES: usize = 8 << 20;

/// A record after cleaning, before near-dup removal.
struct Clean {
    id: u64,
    text: String,
    kept_hashes: Vec<String>,
}

/// What the parallel cleaning pass returns for one record.
struct Cleaned {
    text: String,
    chars: usize,
    key: u128,
    replaced: [u64; 8],
    kept: [u64; 8],
    kept_hashes: Vec<String>,
}

/// Streaming state of the read + clean stage.
struct Collector<'a> {
    opts: &'a PrepareOptions,
    detector: &'a PiiDetector,
    keep: &'a [PiiKind],
    hasher: Option<&'a PiiHasher>,
    batch: Vec<String>,
    batch_bytes: usize,
    next_id: u64,
    seen: HashSet<u128>,
    kept: Vec<Clean>,
    counts: StageCounts,
    bad_by_kind: BTreeMap<BadInputKind, u64>,
    replaced: [u64; 8],
    kept_pii: [u64; 8],
}

impl Collector<'_> {
    fn accept(&mut self, path: &Path, item: Item) -> Result<()> {
        match item {
            Item::Record { text, .. } => {
                self.counts.read += 1;
                self.batch_bytes += text.len();
                self.batch.push(text);
                if self.batch_bytes >= BATCH_BYTES {
                    self.flush();
                }
                Ok(())
            }
            Item::Bad { line, kind, reason } => {
                if !self.opts.skip_bad {
                    return Err(Error::BadInput { path: path.to_path_buf(), line, kind, reason });
                }
                self.counts.bad += 1;
                *self.bad_by_kind.entry(kind).or_default() += 1;
                Ok(())
            }
        }
    }

    fn clean_one(&self, raw: &str) -> Cleaned {
        let normal = normalize(raw);
        let (text, replaced, kept, kept_hashes) = if self.opts.deidentify || !self.keep.is_empty() {
            let d = deidentify(self.detector, &normal, self.keep);
            let hashes = match self.hasher {
                Some(h) => d.kept_values.iter().map(|(k, v)| h.hash_hex(*k, v)).collect(),
                None => Vec::new(),
            };
            (d.text, d.replaced, d.kept, hashes)
        } else {
            (normal, [0; 8], [0; 8], Vec::new())
        };
        Cleaned { chars: text.chars().count(), key: exact_key(&text), text, replaced, kept, kept_hashes }
    }

    /// Cleans the buffered records in parallel, then filters and deduplicates them in read order.
    fn flush(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        let cleaned: Vec<Cleaned> = batch.par_iter().with_min_len(256).map(|raw| self.clean_one(raw)).collect();
        for c in cleaned {
            let id = self.next_id;
            self.next_id += 1;
            for i in 0..8 {
                self.replaced[i] += c.replaced[i];
                self.kept_pii[i] += c.kept[i];
            }
            if c.chars < self.opts.min_chars {
                self.counts.too_short += 1;
            } else if c.chars > self.opts.max_chars {
                self.counts.too_long += 1;
            } else if !self.seen.insert(c.key) {
                self.counts.exact_duplicates += 1;
            } else {
                self.kept.push(Clean { id, text: c.text, kept_hashes: c.kept_hashes });
            }
        }
    }
}

fn kind_tally(counts: &[u64; 8]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (i, k) in PiiKind::ALL.iter().enumerate() {
        if counts[i] > 0 {
            *out.entry(k.placeholder().trim_matches(['<', '>']).to_string()).or_insert(0) += counts[i];
        }
    }
    out
}

/// Refuses an output directory that exists and is not empty (unless overwriting).
fn check_out_dir(opts: &PrepareOptions) -> Result<()> {
    match std::fs::read_dir(&opts.out) {
        Ok(mut entries) => {
            if entries.next().is_some() && !opts.overwrite {
                return Err(Error::OutputExists { path: opts.out.clone() });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(&opts.out, e)),
    }
}

/// Runs the whole pipeline and writes `opts.out` (see the crate documentation); returns the manifest.
/// On error nothing is left in `opts.out`. `progress(stage, done, total)` is called as work advances.
pub fn prepare(opts: &PrepareOptions, progress: &mut dyn FnMut(Stage, u64, u64)) -> Result<Manifest> {
    opts.validate()?;
    check_out_dir(opts)?;
    let (inputs, skipped) = collect_inputs(&opts.inputs, opts.format)?;
    if inputs.is_empty() {
        return Err(Error::InvalidOption {
            name: "--input",
            value: opts.inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
            reason: "no readable files (.txt, .jsonl, .csv, .parquet) found".into(),
        });
    }
    if let Some(t) = &opts.tokenizer {
        tokenizer::load(t)?; // refuse a bad tokenizer before the long work
    }
    let keep: Vec<PiiKind> = if opts.deidentify { opts.keep_pii.clone() } else { PiiKind::ALL.to_vec() };
    let hasher = if keep.is_empty() {
        None
    } else {
        let path = match &opts.pii_key {
            Some(p) => p.clone(),
            None => pii::default_key_path().ok_or_else(|| Error::InvalidOption {
                name: "--pii-key",
                value: "(default)".into(),
                reason: "no user data directory on this system; give a key file with --pii-key".into(),
            })?,
        };
        Some(PiiHasher::load_or_create(path)?)
    };
    let input_meta: Vec<InputFile> = inputs
        .par_iter()
        .map(|(path, fmt)| {
            let bytes = std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
            let sha256 = sha256_file(path).map_err(|e| Error::io(path, e))?;
            Ok(InputFile { path: path.display().to_string(), format: fmt.name().into(), bytes, sha256 })
        })
        .collect::<Result<_>>()?;
    let total_bytes: u64 = input_meta.iter().map(|i| i.bytes).sum();

    // 1. read → normalise → de-identify → length filter → exact dedup (streaming, batched)
    let detector = PiiDetector::new();
    let cfg = ReaderConfig { records: opts.records, field: opts.field.clone(), column: opts.column.clone() };
    let mut col = Collector {
        opts,
        detector: &detector,
        keep: &keep,
        hasher: hasher.as_ref(),
        batch: Vec::new(),
        batch_bytes: 0,
        next_id: 0,
        seen: HashSet::new(),
        kept: Vec::new(),
        counts: StageCounts::default(),
        bad_by_kind: BTreeMap::new(),
        replaced: [0; 8],
        kept_pii: [0; 8],
    };
    let mut done_bytes = 0u64;
    progress(Stage::Read, 0, total_bytes);
    for ((path, fmt), meta) in inputs.iter().zip(&input_meta) {
        let mut in_file = 0u64;
        read_file(path, *fmt, &cfg, &mut |item| {
            if let Item::Record { text, .. } = &item {
                in_file += text.len() as u64 + 1;
                if in_file % (4 << 20) < text.len() as u64 + 1 {
                    progress(Stage::Read, done_bytes + in_file.min(meta.bytes), total_bytes);
                }
            }
            col.accept(path, item)
        })?;
        done_bytes += meta.bytes;
        progress(Stage::Read, done_bytes, total_bytes);
    }
    col.flush();
    let mut counts = std::mem::take(&mut col.counts);
    counts.bad_by_kind = col.bad_by_kind.iter().map(|(k, v)| (k.name().to_string(), *v)).collect();
    let explain = |c: &StageCounts| {
        format!(
            "{} read, {} bad, {} too short (< {} chars), {} too long (> {} chars), {} exact duplicates, {} near duplicates",
            c.read, c.bad, c.too_short, opts.min_chars, c.too_long, opts.max_chars, c.exact_duplicates, c.near_duplicates
        )
    };
    if col.kept.is_empty() {
        return Err(Error::EmptyCorpus { stage: "cleaning", detail: explain(&counts) });
    }

    // 2. near-duplicate removal
    progress(Stage::NearDedup, 0, 1);
    let near = near_duplicates(&col.kept.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(), opts.dedup_span)?;
    let records: Vec<Clean> = col.kept.drain(..).zip(near).filter_map(|(c, d)| (!d).then_some(c)).collect();
    counts.near_duplicates = counts.read - counts.too_short - counts.too_long - counts.exact_duplicates - records.len() as u64;
    progress(Stage::NearDedup, 1, 1);

    // 3. split
    let seed = opts.seed.unwrap_or_else(rand::random);
    let assignments: Vec<Assignment> = records.iter().map(|r| assign(seed, r.id, opts.population_fraction)).collect();
    counts.kept = records.len() as u64;
    for a in &assignments {
        match a {
            Assignment::Population => counts.population += 1,
            Assignment::Pool { member } => {
                counts.pool += 1;
                counts.members += *member as u64;
            }
        }
    }
    counts.non_members = counts.pool - counts.members;
    if counts.population == 0 || counts.pool == 0 {
        return Err(Error::EmptyCorpus {
            stage: "splitting",
            detail: format!(
                "{} records kept: {} in the pool, {} in the population (fraction {}); both need records — give more data or change --population-fraction",
                counts.kept, counts.pool, counts.population, opts.population_fraction
            ),
        });
    }

    // 4. tokenizer: trained on (a seeded sample of) the population only, or loaded
    progress(Stage::Tokenizer, 0, 1);
    let (tok, tok_info) = build_tokenizer(opts, seed, &records, &assignments)?;
    progress(Stage::Tokenizer, 1, 1);

    // 5. tokenize
    let mut token_ids: Vec<Vec<u32>> = Vec::with_capacity(records.len());
    let total = records.len() as u64;
    for chunk in records.chunks(16_384) {
        token_ids.extend(tokenizer::encode_all(&tok, &chunk.iter().map(|r| r.text.as_str()).collect::<Vec<_>>())?);
        progress(Stage::Tokenize, token_ids.len() as u64, total);
    }

    // 6. assemble and write
    let mut tokens = TokenCounts { context: opts.context, ..Default::default() };
    let mut stored = Vec::with_capacity(records.len());
    let mut kept_hashes = Vec::new();
    for ((r, a), ids) in records.into_iter().zip(assignments).zip(token_ids) {
        let n = ids.len() as u64;
        let truncated = ids.len() + 2 > opts.context;
        tokens.total += n;
        tokens.max_per_record = tokens.max_per_record.max(n);
        tokens.records_truncated_at_context += truncated as u64;
        let (split, member) = match a {
            Assignment::Population => {
                tokens.population += n;
                (Split::Population, false)
            }
            Assignment::Pool { member } => {
                tokens.pool += n;
                tokens.pool_records_truncated_at_context += truncated as u64;
                if member {
                    tokens.members += n;
                }
                (Split::Pool, member)
            }
        };
        kept_hashes.extend(r.kept_hashes);
        stored.push(StoredExample { id: r.id, split, member, text: r.text, tokens: ids });
    }
    tokens.mean_per_record = tokens.total as f64 / stored.len() as f64;

    let pii_summary = PiiSummary {
        deidentified: opts.deidentify,
        replaced: kind_tally(&col.replaced),
        kept: kind_tally(&col.kept_pii),
        kept_distinct: kept_hashes.iter().collect::<HashSet<_>>().len() as u64,
        kept_hash_file: hasher.as_ref().map(|_| files::PII_KEPT.to_string()),
        key_fingerprint: hasher.as_ref().map(PiiHasher::fingerprint),
    };
    let mut manifest = Manifest {
        format_version: MANIFEST_VERSION,
        tool: ToolInfo { name: env!("CARGO_PKG_NAME").into(), version: env!("CARGO_PKG_VERSION").into() },
        inputs: input_meta,
        skipped_files: skipped.iter().map(|p| p.display().to_string()).collect(),
        options: ManifestOptions {
            records: opts.records.name().into(),
            field: opts.field.clone(),
            column: opts.column.clone(),
            skip_bad: opts.skip_bad,
            min_chars: opts.min_chars,
            max_chars: opts.max_chars,
            dedup_span: opts.dedup_span,
            population_fraction: opts.population_fraction,
            context: opts.context,
            deidentify: opts.deidentify,
            keep_pii: keep.iter().map(|k| k.name().to_string()).collect(),
            vocab_size: opts.vocab_size,
        },
        counts,
        pii: pii_summary,
        tokenizer: tok_info,
        tokens,
        seeds: Seeds { split: seed },
        outputs: BTreeMap::new(),
    };
    let tok_json = tokenizer::to_json(&tok)?;
    let pii_set = hasher.as_ref().map(|_| pii::write_hash_set(kept_hashes));
    write_dir(opts, &mut manifest, &stored, &tok_json, pii_set.as_deref(), progress)?;
    Ok(manifest)
}

/// Trains (population only, at most `tokenizer_train_bytes`, a seeded sample beyond that) or loads the tokenizer.
fn build_tokenizer(
    opts: &PrepareOptions,
    seed: u64,
    records: &[Clean],
    assignments: &[Assignment],
) -> Result<(tokenizers::Tokenizer, TokenizerInfo)> {
    if let Some(path) = &opts.tokenizer {
        let tok = tokenizer::load(path)?;
        let vocab_size = tok.get_vocab_size(true);
        let sha = sha256_file(path).map_err(|e| Error::io(path, e))?;
        let info = TokenizerInfo {
            source: "loaded".into(),
            trained_on: "nothing (loaded from the user's file)".into(),
            training_records: 0,
            training_bytes: 0,
            vocab_size,
            loaded_from: Some(path.display().to_string()),
            loaded_sha256: Some(sha),
        };
        return Ok((tok, info));
    }
    let mut population: Vec<(u64, &str)> = records
        .iter()
        .zip(assignments)
        .filter(|(_, a)| matches!(a, Assignment::Population))
        .map(|(r, _)| (r.id, r.text.as_str()))
        .collect();
    let all_bytes: usize = population.iter().map(|(_, t)| t.len()).sum();
    if all_bytes > opts.tokenizer_train_bytes {
        // a seeded random order, then the longest prefix within budget
        population.sort_by_key(|(id, _)| crate::split::sample_key(seed, *id));
        let mut used = 0usize;
        population.retain(|(_, t)| {
            used += t.len();
            used <= opts.tokenizer_train_bytes
        });
        population.sort_by_key(|(id, _)| *id);
    }
    let bytes: usize = population.iter().map(|(_, t)| t.len()).sum();
    let tok = tokenizer::train_bpe(population.iter().map(|(_, t)| *t), opts.vocab_size)?;
    let info = TokenizerInfo {
        source: "trained".into(),
        trained_on: format!(
            "byte-level BPE on the population split only ({} of {} population records{}); never on pool records or canaries",
            population.len(),
            assignments.iter().filter(|a| matches!(a, Assignment::Population)).count(),
            if all_bytes > opts.tokenizer_train_bytes { ", a seeded sample" } else { "" }
        ),
        training_records: population.len() as u64,
        training_bytes: bytes as u64,
        vocab_size: tok.get_vocab_size(true),
        loaded_from: None,
        loaded_sha256: None,
    };
    Ok((tok, info))
}

/// Writes every file into a fresh temporary directory beside `opts.out`, then moves it into place,
/// so `opts.out` holds either a complete corpus or nothing.
fn write_dir(
    opts: &PrepareOptions,
    manifest: &mut Manifest,
    stored: &[StoredExample],
    tok_json: &str,
    pii_set: Option<&[u8]>,
    progress: &mut dyn FnMut(Stage, u64, u64),
) -> Result<()> {
    let out = &opts.out;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "corpus".into());
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.partial-"))
        .tempdir_in(&parent)
        .map_err(|e| Error::io(&parent, e))?;
    let n_files = 4 + pii_set.is_some() as u64;
    let vocab = manifest.tokenizer.vocab_size as u32;
    let mut written = 0u64;
    let mut put = |file: &str, write: &mut dyn FnMut(&Path) -> std::io::Result<()>| -> Result<()> {
        let path = tmp.path().join(file);
        write(&path).map_err(|e| Error::io(out.join(file), e))?;
        let sha = sha256_file(&path).map_err(|e| Error::io(out.join(file), e))?;
        manifest.outputs.insert(file.to_string(), sha);
        written += 1;
        progress(Stage::Write, written, n_files);
        Ok(())
    };
    put(files::TOKENIZER, &mut |p| atomic_write(p, tok_json.as_bytes()))?;
    put(files::SPLITS, &mut |p| atomic_write_with(p, |w| write_splits(w, stored, vocab)))?;
    put(files::SPLITS_JSONL, &mut |p| atomic_write_with(p, |w| write_jsonl(w, stored)))?;
    if let Some(set) = pii_set {
        put(files::PII_KEPT, &mut |p| atomic_write(p, set))?;
    }
    let json = serde_json::to_vec_pretty(manifest).expect("manifest serialises");
    atomic_write(tmp.path().join(files::MANIFEST), &json).map_err(|e| Error::io(out.join(files::MANIFEST), e))?;
    progress(Stage::Write, n_files, n_files);
    // move into place: an existing (empty, or --force) directory is set aside first and removed after
    let old = if out.exists() {
        let aside = parent.join(format!(".{name}.old-{}", std::process::id()));
        std::fs::rename(out, &aside).map_err(|e| Error::io(out, e))?;
        Some(aside)
    } else {
        None
    };
    if let Err(e) = std::fs::rename(tmp.path(), out) {
        if let Some(aside) = &old {
            let _ = std::fs::rename(aside, out);
        }
        return Err(Error::io(out, e));
    }
    let _ = tmp.keep();
    if let Some(aside) = old {
        std::fs::remove_dir_all(&aside).map_err(|e| Error::io(&aside, e))?;
    }
    Ok(())
}

fn write_jsonl(w: &mut dyn std::io::Write, stored: &[StoredExample]) -> std::io::Result<()> {
    for ex in stored {
        let line = serde_json::json!({
            "id": ex.id,
            "split": match ex.split { Split::Pool => "pool", Split::Population => "population" },
            "member": ex.member,
            "n_tokens": ex.tokens.len(),
            "text": ex.text,
        });
        serde_json::to_writer(&mut *w, &line)?;
        w.write_all(b"\n")?;
    }
    Ok(())
}

