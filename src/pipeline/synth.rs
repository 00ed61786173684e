//! Synthetic records sampled from a run's DP model (`vg-audit synth`, and the `[synthetic]` step
//! of `run`), filtered, and written with a sidecar stating the guarantee they inherit.
//!
//! Post-processing (design.md): sampling from the model and filters that read no private data
//! (the PII detectors, length, de-duplication within the synthetic set) keep the model's (ε, δ).
//! A filter against the training data (a scan index built from the run: verbatim spans of the
//! training stream, canary secrets, keyed hashes of kept PII) decides from private records which
//! samples survive, so its output is outside the guarantee, and the sidecar says why.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use vg_corpora::fsutil::{atomic_write, atomic_write_with, sha256_file};
use vg_training::hf::HfDecoding;
use vg_training::{InheritedGuarantee, ModelJson};

use crate::adapters::external::ExternalModel;
use crate::pipeline::records::read_jsonl;

/// `format` of the sidecar.
pub const SIDECAR_FORMAT: &str = "vg-audit/synthetic/v1";

/// Most samples drawn per requested record before giving up on filters that reject everything.
const MAX_DRAWS_PER_RECORD: usize = 10;

/// Filters applied to each sample, in this order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Filters {
    /// Drop samples shorter than this many characters.
    pub min_chars: usize,
    /// Drop samples longer than this many characters (None: no limit).
    pub max_chars: Option<usize>,
    /// Drop samples in which the PII detectors find a value (reads no private data).
    pub drop_pii: bool,
    /// Drop exact repeats of an earlier sample of this set (reads no private data).
    pub dedup: bool,
    /// Keep only samples identified as this language (ISO 639-3 code, e.g. `eng`; a trigram
    /// model of public text, reads no private data).
    #[serde(default)]
    pub language: Option<String>,
    /// Drop samples the scan index built from the training data flags (verbatim training spans,
    /// canary secrets, kept PII seen in training): reads the private data, so the output is
    /// outside the guarantee.
    pub training_index: Option<PathBuf>,
    /// Key of the index's kept-PII hashes (default: the user's key file).
    #[serde(skip)]
    pub pii_key: Option<PathBuf>,
    /// Shortest verbatim span (tokens) the training-data filter flags.
    pub min_span: usize,
}

/// What to sample.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Records to write.
    pub count: usize,
    /// Prompts (JSON Lines; sample i uses prompt i mod P), or None for unconditional samples.
    pub prompts: Option<PathBuf>,
    /// Field of the prompt records holding the text.
    pub prompt_field: String,
    /// Temperature, top-k, top-p.
    pub sampling: HfDecoding,
    /// New tokens per sample at most.
    pub max_tokens: usize,
    /// Seed of the sampling (sample i draws from stream i).
    pub seed: u64,
    /// Filters.
    pub filters: Filters,
}

/// The sidecar written beside the records (`F.guarantee.json` for `F.jsonl`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sidecar {
    /// Always [`SIDECAR_FORMAT`].
    pub format: String,
    /// The guarantee the records inherit.
    pub guarantee: InheritedGuarantee,
    /// Records written.
    pub count: usize,
    /// SHA-256 of the records file (a changed file no longer carries this sidecar's guarantee).
    pub data_sha256: String,
    /// The source model's directory.
    pub model: String,
    /// Samples drawn (kept + dropped).
    pub drawn: usize,
    /// Samples dropped, by filter.
    pub dropped: BTreeMap<String, usize>,
    /// Tokens generated over all draws.
    pub tokens: u64,
    /// Generation throughput over all draws (tokens per second of sampling).
    pub tokens_per_second: f64,
    /// Sampling settings (temperature, top-k, top-p, max tokens, seed, prompts file hash).
    pub sampling: serde_json::Value,
    /// The filters applied.
    pub filters: Filters,
}

impl Sidecar {
    /// The sidecar path of a records file: `F.jsonl` → `F.guarantee.json`.
    pub fn path_for(records: &Path) -> PathBuf {
        records.with_extension("guarantee.json")
    }

    /// Reads the sidecar of `records` and checks it still describes that file.
    pub fn load_for(records: &Path) -> anyhow::Result<Sidecar> {
        let path = Sidecar::path_for(records);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!("{}: no guarantee sidecar beside {}: only records written by `vg-audit synth` carry a guarantee", path.display(), records.display())
        })?;
        let s: Sidecar = serde_json::from_str(&text).with_context(|| format!("{}: not a synth sidecar", path.display()))?;
        if s.format != SIDECAR_FORMAT {
            bail!("{}: format {:?}, expected {SIDECAR_FORMAT:?}", path.display(), s.format);
        }
        let sha = sha256_file(records).with_context(|| format!("cannot read {}", records.display()))?;
        if sha != s.data_sha256 {
            bail!(
                "{}: its SHA-256 {sha} differs from the sidecar's {}: the records changed after `synth` wrote them, \
                 so the sidecar's guarantee no longer describes them",
                records.display(),
                s.data_sha256
            );
        }
        Ok(s)
    }
}

/// SHA-256 of a model's weights, the identity its outputs' guarantee names.
pub fn model_sha256(model_dir: &Path) -> anyhow::Result<String> {
    let path = model_dir.join("model.safetensors");
    sha256_file(&path).with_context(|| format!("cannot read {}", path.display()))
}

/// The guarantee outputs of the model in `model_dir` inherit: a distilled student passes on its
/// teacher's; any other model its own (outside-guarantee without DP-SGD or with a fixed seed).
pub fn guarantee_of(model_dir: &Path) -> anyhow::Result<InheritedGuarantee> {
    let info = ModelJson::load(model_dir).with_context(|| format!("{}: a run's model directory", model_dir.display()))?;
    Ok(match info.inherited() {
        Some(g) => g.clone(),
        None => InheritedGuarantee::of_model(&info, &model_sha256(model_dir)?),
    })
}

/// Refuses `file` when it is one of the run's private files: an input of the corpus step or one
/// of the prepared corpus files (splits), compared by SHA-256 with what the manifest records.
pub fn refuse_private_file(run: &Path, file: &Path, role: &str) -> anyhow::Result<()> {
    let manifest = vg_corpora::PreparedCorpus::open(run.join("corpus")).context("cannot open the run's prepared corpus")?;
    let sha = sha256_file(file).with_context(|| format!("cannot read {}", file.display()))?;
    let m = manifest.manifest();
    if let Some(input) = m.inputs.iter().find(|i| i.sha256 == sha) {
        bail!(
            "{}: refused as {role}: it is the run's training input {} (same SHA-256): reading the private data again voids the \
             inherited guarantee; use templates or public text",
            file.display(),
            input.path
        );
    }
    if let Some((name, _)) = m.outputs.iter().find(|(_, h)| **h == sha) {
        bail!("{}: refused as {role}: it is the run's private split file corpus/{name} (same SHA-256)", file.display());
    }
    Ok(())
}

/// Samples `opts.count` records from `model_dir` (a model of `run`), filters them, writes them to
/// `out` (JSON Lines: `id`, `text`) and the sidecar; `progress(kept, drawn)` after each chunk.
pub fn synthesize(run: &Path, model_dir: &Path, opts: &SynthOptions, out: &Path, progress: &mut dyn FnMut(usize, usize)) -> anyhow::Result<Sidecar> {
    if opts.count == 0 {
        bail!("--count must be ≥ 1");
    }
    if opts.max_tokens == 0 {
        bail!("--max-tokens must be ≥ 1");
    }
    opts.sampling.validate()?;
    let language = opts.filters.language.as_deref().map(language_code).transpose()?;
    let mut guarantee = guarantee_of(model_dir)?;
    let prompt_texts = match &opts.prompts {
        Some(path) => {
            refuse_private_file(run, path, "a prompt file")?;
            let records = read_jsonl(path, &opts.prompt_field)?;
            if records.is_empty() {
                bail!("{}: no prompts", path.display());
            }
            records.into_iter().map(|r| Some(r.text)).collect()
        }
        None => vec![None],
    };
    let scanner = match &opts.filters.training_index {
        Some(index) => {
            guarantee = guarantee.outside(format!(
                "the samples were filtered against the training data (scan index {}: verbatim spans, canary secrets, kept PII), \
                 so which records were kept depends on private records",
                index.display()
            ));
            Some(crate::scan::open_scanner(index, opts.filters.pii_key.as_deref(), opts.filters.min_span)?)
        }
        None => None,
    };
    let model = ExternalModel::open(model_dir)?;
    let prompts: Vec<Vec<u32>> = prompt_texts.iter().map(|t| model.prompt_ids(t.as_deref())).collect::<anyhow::Result<_>>()?;
    let detector = opts.filters.drop_pii.then(vg_corpora::pii::PiiDetector::new);
    let chunk = model.generation_chunk(opts.count);
    let (mut kept, mut seen, mut dropped) = (Vec::new(), HashSet::new(), BTreeMap::<String, usize>::new());
    let (mut drawn, mut tokens, mut gen_seconds) = (0usize, 0u64, 0.0);
    while kept.len() < opts.count {
        if drawn >= opts.count * MAX_DRAWS_PER_RECORD {
            bail!(
                "the filters kept {} of {drawn} samples, short of --count {}: loosen the filters or raise --max-tokens (dropped: {dropped:?})",
                kept.len(),
                opts.count
            );
        }
        let n = chunk.min((opts.count - kept.len()).max(chunk / 4).max(1));
        let batch: Vec<Vec<u32>> = (drawn..drawn + n).map(|i| prompts[i % prompts.len()].clone()).collect();
        let t0 = Instant::now();
        let conts = model.continue_prompts(&batch, drawn as u64, opts.max_tokens, &opts.sampling, opts.seed)?;
        gen_seconds += t0.elapsed().as_secs_f64();
        for (p, c) in batch.iter().zip(&conts) {
            tokens += c.len() as u64;
            let ids: Vec<u32> = p.iter().chain(c).copied().collect();
            let text = model.decode(&ids)?.trim().to_string();
            let why = rejection(&text, &opts.filters, language, detector.as_ref(), &mut seen, scanner.as_ref());
            match why {
                Some(w) => *dropped.entry(w.into()).or_default() += 1,
                None if kept.len() < opts.count => kept.push(text),
                None => {}
            }
        }
        drawn += n;
        progress(kept.len(), drawn);
    }
    atomic_write_with(out, |w| {
        for (i, text) in kept.iter().enumerate() {
            serde_json::to_writer(&mut *w, &serde_json::json!({"id": i, "text": text}))?;
            w.write_all(b"\n")?;
        }
        Ok(())
    })
    .with_context(|| format!("cannot write {}", out.display()))?;
    let prompts_sha256 = opts.prompts.as_ref().map(sha256_file).transpose()?;
    let (temperature, top_k, top_p) = match opts.sampling {
        HfDecoding::Greedy => (None, None, None),
        HfDecoding::Sample { temperature, top_k, top_p } => (Some(temperature), top_k, top_p),
    };
    let sidecar = Sidecar {
        format: SIDECAR_FORMAT.into(),
        guarantee,
        count: kept.len(),
        data_sha256: sha256_file(out)?,
        model: model_dir.display().to_string(),
        drawn,
        dropped,
        tokens,
        tokens_per_second: tokens as f64 / gen_seconds.max(1e-9),
        sampling: serde_json::json!({
            "temperature": temperature, "top_k": top_k, "top_p": top_p, "max_tokens": opts.max_tokens, "seed": opts.seed,
            "prompts": opts.prompts.as_ref().map(|p| p.display().to_string()), "prompts_sha256": prompts_sha256,
        }),
        filters: opts.filters.clone(),
    };
    let path = Sidecar::path_for(out);
    atomic_write(&path, serde_json::to_string_pretty(&sidecar)?.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(sidecar)
}

/// The language of ISO 639-3 `code` (e.g. `eng`, `deu`), or an error listing what is known.
pub fn language_code(code: &str) -> anyhow::Result<whatlang::Lang> {
    whatlang::Lang::from_code(code).with_context(|| {
        let known: Vec<&str> = whatlang::Lang::all().iter().map(|l| l.code()).collect();
        format!("--language {code}: not an ISO 639-3 code of a known language (known: {})", known.join(", "))
    })
}

/// Whether `text` is identified as `lang` (no identification counts as another language).
pub fn is_language(text: &str, lang: whatlang::Lang) -> bool {
    whatlang::detect(text).is_some_and(|info| info.lang() == lang)
}

/// The first filter that drops `text`, by name (`too-short`, `too-long`, `pii`, `language`,
/// `duplicate`, `training-data`), or None to keep it.
fn rejection(
    text: &str,
    f: &Filters,
    language: Option<whatlang::Lang>,
    pii: Option<&vg_corpora::pii::PiiDetector>,
    seen: &mut HashSet<u128>,
    scanner: Option<&vg_attacks::extraction::scan::Scanner>,
) -> Option<&'static str> {
    let chars = text.chars().count();
    if chars < f.min_chars.max(1) {
        return Some("too-short");
    }
    if f.max_chars.is_some_and(|m| chars > m) {
        return Some("too-long");
    }
    if pii.is_some_and(|d| !d.find(text).is_empty()) {
        return Some("pii");
    }
    if language.is_some_and(|l| !is_language(text, l)) {
        return Some("language");
    }
    if f.dedup && !seen.insert(vg_corpora::dedup::exact_key(text)) {
        return Some("duplicate");
    }
    if let Some(s) = scanner {
        if s.scan(serde_json::Value::Null, text).reasons.iter().any(|r| r.is_training_data()) {
            return Some("training-data");
        }
    }
    None
}
