//! `vg-audit extract`: the extraction tests (discoverable memorization, canary extraction,
//! verbatim search of generations with the suffix array, fragment search) on the models of a run
//! directory (`--run DIR`) or on one model directory against a prepared corpus
//! (`--model DIR --corpus DIR`), through `vg_audit::extraction::ExtractionSetup`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use vg_attacks::extraction::{ExtractionOptions, MemorizationReport};
use vg_canaries::CanarySet;
use vg_corpora::PreparedCorpus;

use vg_audit::adapters::TrainedModel;
use vg_audit::extraction::ExtractionSetup;

use crate::Outcome;

/// Arguments of `vg-audit extract`.
#[derive(clap::Args)]
#[command(after_help = "Text shown in the output is redacted (PII → <EMAIL>, ...; canary secrets masked after \
their first two characters) unless --show-extracted is given. The suffix-array indexes of the training and \
population token streams are saved in the corpus directory (index-training.vgsa, index-population.vgsa) and \
reused while the corpus is unchanged. --json prints {\"models\": {NAME: report}} with exact_rate, \
approximate_rate, prompts, prefix_tokens, suffix_tokens, verbatim_generations, longest_verbatim_tokens, \
fragment_hits and the details.")]
pub(crate) struct Args {
    /// Run directory of `vg-audit run`: reads DIR/corpus, DIR/canaries.json and DIR/models/<name>, and
    /// writes DIR/analysis/extraction-<name>.json for each model tested.
    #[arg(long, value_name = "DIR", conflicts_with = "corpus", required_unless_present = "corpus")]
    run: Option<PathBuf>,
    /// With --run: the model name under DIR/models (default: every model not named shadow*).
    /// Standalone: the model directory (model.safetensors + model.json).
    #[arg(long, value_name = "NAME|DIR")]
    model: Option<String>,
    /// Standalone: a prepared corpus directory (`vg-audit corpus prepare`); needs --model DIR.
    #[arg(long, value_name = "DIR", requires = "model")]
    corpus: Option<PathBuf>,
    /// Standalone: canaries.json of the canaries inserted into the model's training data.
    #[arg(long, value_name = "FILE", requires = "corpus")]
    canaries: Option<PathBuf>,
    /// Key file of the keyed PII hashes (default: the one `corpus prepare` used, in the user's data directory).
    #[arg(long, value_name = "FILE")]
    pii_key: Option<PathBuf>,
    /// P: prompt length in tokens for discoverable memorization.
    #[arg(short = 'P', long, default_value_t = 50, value_name = "TOKENS")]
    prefix_tokens: usize,
    /// S: greedy continuation length in tokens compared with the record.
    #[arg(short = 'S', long, default_value_t = 50, value_name = "TOKENS")]
    suffix_tokens: usize,
    /// n: training records prompted (and as many population records, the floor).
    #[arg(short = 'n', long, default_value_t = 1000, value_name = "N")]
    prompts: usize,
    /// G: sampled generations searched against the training stream.
    #[arg(short = 'G', long, default_value_t = 1000, value_name = "N")]
    generations: usize,
    /// Tokens per sampled generation.
    #[arg(long, default_value_t = 256, value_name = "TOKENS")]
    generation_tokens: usize,
    /// k of the top-k sampling (generations and canary samples).
    #[arg(long, default_value_t = 40, value_name = "K")]
    top_k: usize,
    /// L: shortest verbatim span reported, in tokens.
    #[arg(short = 'L', long, default_value_t = 50, value_name = "TOKENS")]
    min_span: usize,
    /// Prompt each sampled generation with the first N tokens of a population record (never trained
    /// on) instead of an empty prompt (0 = empty prompt).
    #[arg(long, default_value_t = 0, value_name = "N")]
    generation_prompt_tokens: usize,
    /// Top-k samples per canary besides the greedy continuation.
    #[arg(long, default_value_t = 4, value_name = "N")]
    canary_samples: usize,
    /// Prompts per model call.
    #[arg(long, default_value_t = 16, value_name = "N")]
    batch_size: usize,
    /// Seed of the record sample and of the sampled decodings.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Show extracted text verbatim (the output then contains training data).
    #[arg(long)]
    show_extracted: bool,
    /// Print one JSON object on stdout instead of the human summary.
    #[arg(long)]
    json: bool,
}

impl Args {
    fn options(&self) -> ExtractionOptions {
        let mut o = ExtractionOptions::default();
        o.memorization.prefix_tokens = self.prefix_tokens;
        o.memorization.suffix_tokens = self.suffix_tokens;
        o.memorization.prompts = self.prompts;
        o.memorization.batch_size = self.batch_size;
        o.memorization.seed = self.seed;
        o.canaries.samples = self.canary_samples;
        o.canaries.top_k = self.top_k;
        o.canaries.seed = self.seed;
        o.generation.generations = self.generations;
        o.generation.tokens = self.generation_tokens;
        o.generation.top_k = self.top_k;
        o.generation.min_span_tokens = self.min_span;
        o.generation.batch_size = self.batch_size;
        o.generation.seed = self.seed;
        o.generation.prompt_tokens = self.generation_prompt_tokens;
        o.show_extracted = self.show_extracted;
        o
    }
}

/// Model directories to test: (name, dir).
fn models_of_run(run: &Path, only: Option<&str>) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let dir = run.join("models");
    if let Some(name) = only {
        let path = dir.join(name);
        if !path.join("model.json").is_file() {
            bail!("{}: no model named {name:?} in this run (expected {}/model.json)", run.display(), path.display());
        }
        return Ok(vec![(name.to_string(), path)]);
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("shadow") && entry.path().join("model.json").is_file() {
            found.push((name, entry.path()));
        }
    }
    found.sort();
    if found.is_empty() {
        bail!("{}: no target models (models/<name>/model.json, shadow models excluded)", dir.display());
    }
    Ok(found)
}

/// Runs `vg-audit extract`.
pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    let opts = args.options();
    opts.memorization.validate()?;
    opts.canaries.validate()?;
    opts.generation.validate()?;
    let (corpus_dir, canaries_path, models) = match (&args.run, &args.corpus) {
        (Some(run), _) => (run.join("corpus"), Some(run.join("canaries.json")), models_of_run(run, args.model.as_deref())?),
        (None, Some(corpus)) => {
            let dir = PathBuf::from(args.model.as_deref().expect("clap requires --model with --corpus"));
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
            (corpus.clone(), args.canaries.clone(), vec![(name, dir)])
        }
        (None, None) => bail!("give --run DIR, or --model DIR with --corpus DIR"),
    };
    let corpus = PreparedCorpus::open(&corpus_dir).with_context(|| format!("opening corpus {}", corpus_dir.display()))?;
    let canaries = match &canaries_path {
        Some(p) if p.is_file() || args.canaries.is_some() => Some(CanarySet::load(p).with_context(|| format!("reading {}", p.display()))?),
        _ => None,
    };
    let setup = ExtractionSetup::new(&corpus, canaries.as_ref(), args.pii_key.as_deref())?;
    let mut reports = BTreeMap::new();
    for (name, dir) in &models {
        let model = TrainedModel::load(dir)?;
        let report = setup.run(name, &model, &opts)?;
        if let Some(run) = &args.run {
            let path = run.join("analysis").join(format!("extraction-{name}.json"));
            std::fs::create_dir_all(path.parent().expect("has a parent")).with_context(|| format!("creating {}", path.display()))?;
            let bytes = serde_json::to_vec_pretty(&report)?;
            vg_corpora::fsutil::atomic_write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        }
        reports.insert(name.clone(), report);
    }
    if args.json {
        println!("{}", serde_json::to_string(&serde_json::json!({ "models": reports, "setup": setup.notes }))?);
    } else {
        print!("{}", human(&reports, &setup.notes));
    }
    Ok(Outcome::Success)
}

fn pct(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

/// The human summary.
fn human(reports: &BTreeMap<String, MemorizationReport>, index_notes: &[String]) -> String {
    let mut out = String::new();
    for (name, r) in reports {
        let _ = writeln!(out, "model {name}");
        let _ = writeln!(
            out,
            "  discoverable memorization (P = {}, S = {}): exact {} [{} – {}], approximate {} [{} – {}] of {} training records",
            r.prefix_tokens, r.suffix_tokens, pct(r.exact_rate), pct(r.exact_rate_ci.low), pct(r.exact_rate_ci.high),
            pct(r.approximate_rate), pct(r.approximate_rate_ci.low), pct(r.approximate_rate_ci.high), r.prompts
        );
        let _ = writeln!(
            out,
            "    population floor: exact {}, approximate {} of {} records never trained on",
            pct(r.population_exact_rate), pct(r.population_approximate_rate), r.population_prompts
        );
        let c = &r.canary_recovery;
        let _ = writeln!(
            out,
            "  canaries recovered: {} of {} included, {} of {} not included ({} tries each)",
            c.included_recovered, c.included, c.not_included_recovered, c.not_included, r.canaries.tries_per_canary
        );
        let _ = writeln!(
            out,
            "  verbatim spans ≥ {} tokens: {} of {} generations (longest {} tokens, {} tokens in all); population floor {}",
            r.verbatim_min_tokens, r.verbatim_generations, r.generations, r.longest_verbatim_tokens,
            r.verbatim.training.verbatim_tokens, r.population_verbatim_generations
        );
        let _ = writeln!(out, "  fragment hits (training data): {}; PII in outputs not in the training text: {}", r.fragment_hits, r.pii_not_in_training);
        for (kind, n) in &r.fragment_hits_by_type {
            let _ = writeln!(out, "    {kind}: {n}");
        }
        for e in r.verbatim.examples.iter().take(3) {
            let _ = writeln!(out, "    generation {} span {} tokens from {:?} {}: {}", e.generation, e.span.len, e.span.record.kind, e.span.record.id, e.text);
        }
        for note in &r.notes {
            let _ = writeln!(out, "  note: {note}");
        }
    }
    for note in index_notes {
        let _ = writeln!(out, "setup: {note}");
    }
    out
}
