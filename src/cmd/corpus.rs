//! `vg-audit corpus`: prepare a corpus directory from raw text, or write the built-in demo corpus.

use std::path::PathBuf;

use anyhow::Context;
use vg_corpora::pii::{parse_kinds, PiiKind};
use vg_corpora::{demo, prepare, InputFormat, PrepareOptions, RecordMode, Stage};

use vg_audit::progress;

use crate::Outcome;

/// Arguments of `vg-audit corpus`.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Clean, de-identify, deduplicate, split and tokenize raw text into a corpus directory.
    ///
    /// Steps, in this order: normalise (Unicode NFC, whitespace, control characters) → replace
    /// PII by typed placeholders (<EMAIL>, <PHONE>, <CARD>, <IBAN>, <SSN>, <IP>, <URL_CREDENTIALS>)
    /// → drop exact and near duplicates → split into a candidate pool (each record a training
    /// member with probability ½) and a population never trained on → train a byte-level BPE
    /// tokenizer on the population only → tokenize. Writes DIR/manifest.json, tokenizer.json,
    /// splits.bin (for the other commands), splits.jsonl (for people) and, when PII is kept,
    /// pii-kept.fst. Bad input stops with `file:line: reason` and exit code 2 unless --skip-bad.
    Prepare(PrepareArgs),
    /// Write the built-in demo corpus (synthetic customer-service, clinical and risk-control
    /// records full of fake PII, with planted duplicates) as JSON Lines.
    Demo(DemoArgs),
}

#[derive(clap::Args)]
struct PrepareArgs {
    /// Input file or directory (repeatable). Directories are read recursively; files are read by
    /// extension: .txt/.md (text), .jsonl/.ndjson, .csv, .parquet.
    #[arg(long = "input", short = 'i', required = true, value_name = "PATH")]
    inputs: Vec<PathBuf>,
    /// Output directory (created; must not exist or be empty unless --force).
    #[arg(long, short = 'o', value_name = "DIR")]
    out: PathBuf,
    /// Replace an existing non-empty output directory.
    #[arg(long)]
    force: bool,
    /// Read every input with this format instead of choosing by extension.
    #[arg(long, value_enum, default_value = "auto")]
    format: FormatArg,
    /// In text files, one record per line or per blank-line-separated paragraph.
    #[arg(long, value_enum, default_value = "lines")]
    records: RecordsArg,
    /// JSON Lines field holding the text (a dotted path such as meta.body reaches into objects).
    #[arg(long, default_value = "text")]
    field: String,
    /// CSV or Parquet column holding the text.
    #[arg(long, default_value = "text")]
    column: String,
    /// Skip bad records (invalid UTF-8, malformed JSON, missing field, empty file) and count them in
    /// the manifest instead of stopping at the first one.
    #[arg(long)]
    skip_bad: bool,
    /// PII types to detect but leave in the text, comma-separated: EMAIL, PHONE, CARD, IBAN, SSN,
    /// IP (= IPV4,IPV6), URL_CREDENTIALS. Kept values are recorded only as keyed hashes.
    #[arg(long, value_name = "TYPES", value_parser = parse_kind_list)]
    keep_pii: Option<KindList>,
    /// Leave all PII in the text (e.g. to audit what a model trained on raw data would leak).
    /// Values are still counted and recorded as keyed hashes.
    #[arg(long, conflicts_with = "keep_pii")]
    no_deidentify: bool,
    /// HMAC key for hashing kept PII (created, owner-only, if missing). Keep it outside the run
    /// directory. Default: <user data dir>/vg-audit/pii.key.
    #[arg(long, value_name = "FILE")]
    pii_key: Option<PathBuf>,
    /// Drop a record sharing a verbatim span of at least this many characters with an earlier one.
    #[arg(long, default_value_t = 200, value_name = "CHARS")]
    dedup_span: usize,
    /// Drop records shorter than this (characters, after cleaning).
    #[arg(long, default_value_t = 16, value_name = "CHARS")]
    min_chars: usize,
    /// Drop records longer than this (characters, after cleaning).
    #[arg(long, default_value_t = 20_000, value_name = "CHARS")]
    max_chars: usize,
    /// Expected fraction of records in the population split (never trained on; trains the
    /// tokenizer and calibrates attacks). The rest is the candidate pool.
    #[arg(long, default_value_t = 0.2, value_name = "FRACTION")]
    population_fraction: f64,
    /// Seed of the split and the membership bits (default: drawn at random; recorded in the manifest).
    #[arg(long)]
    seed: Option<u64>,
    /// Vocabulary size of the trained tokenizer (special tokens and 256 byte symbols included).
    #[arg(long, default_value_t = 2048)]
    vocab_size: usize,
    /// Use this tokenizer.json instead of training one (it must map <|pad|>, <|bos|>, <|eos|> to 0, 1, 2).
    #[arg(long, value_name = "FILE")]
    tokenizer: Option<PathBuf>,
    /// Model context in tokens; the manifest counts the records longer than it (they will be truncated).
    #[arg(long, default_value_t = 128, value_name = "TOKENS")]
    context: usize,
    /// Print the manifest as one JSON object on stdout instead of a summary.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct DemoArgs {
    /// Output file (JSON Lines: {"id", "kind", "text"}).
    #[arg(long, short = 'o', value_name = "FILE.jsonl")]
    out: PathBuf,
    /// Number of records.
    #[arg(long, default_value_t = demo::DEFAULT_RECORDS)]
    records: usize,
    /// Generator seed (the same seed gives the same file).
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Auto,
    Text,
    Jsonl,
    Csv,
    Parquet,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RecordsArg {
    Lines,
    Paragraphs,
}

/// A comma-separated list of PII kinds as one flag value (clap would read a bare `Vec` as
/// repeated values).
#[derive(Clone, Debug)]
struct KindList(Vec<PiiKind>);

fn parse_kind_list(s: &str) -> Result<KindList, String> {
    parse_kinds(s).map(KindList)
}

/// Runs `vg-audit corpus`.
pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    match args.command {
        Command::Prepare(a) => run_prepare(a),
        Command::Demo(a) => run_demo(a),
    }
}

fn run_demo(a: DemoArgs) -> anyhow::Result<Outcome> {
    if a.records == 0 {
        anyhow::bail!("--records must be at least 1");
    }
    let bytes = demo::write_jsonl(&a.out, a.records, a.seed)?;
    eprintln!(
        "wrote {} demo records ({:.1} MB, seed {}) to {}",
        a.records,
        bytes as f64 / 1e6,
        a.seed,
        a.out.display()
    );
    Ok(Outcome::Success)
}

fn run_prepare(a: PrepareArgs) -> anyhow::Result<Outcome> {
    let opts = PrepareOptions {
        inputs: a.inputs,
        out: a.out.clone(),
        overwrite: a.force,
        format: match a.format {
            FormatArg::Auto => InputFormat::Auto,
            FormatArg::Text => InputFormat::Text,
            FormatArg::Jsonl => InputFormat::Jsonl,
            FormatArg::Csv => InputFormat::Csv,
            FormatArg::Parquet => InputFormat::Parquet,
        },
        records: match a.records {
            RecordsArg::Lines => RecordMode::Lines,
            RecordsArg::Paragraphs => RecordMode::Paragraphs,
        },
        field: a.field,
        column: a.column,
        skip_bad: a.skip_bad,
        deidentify: !a.no_deidentify,
        keep_pii: a.keep_pii.map(|k| k.0).unwrap_or_default(),
        pii_key: a.pii_key,
        min_chars: a.min_chars,
        max_chars: a.max_chars,
        dedup_span: a.dedup_span,
        population_fraction: a.population_fraction,
        seed: a.seed,
        vocab_size: a.vocab_size,
        tokenizer: a.tokenizer,
        context: a.context,
        ..PrepareOptions::default()
    };
    let mut bar: Option<(Stage, indicatif::ProgressBar)> = None;
    let result = prepare(&opts, &mut |stage, done, total| {
        if bar.as_ref().is_none_or(|(s, _)| *s != stage) {
            if let Some((_, b)) = bar.take() {
                b.finish_and_clear();
            }
            bar = Some((stage, progress::bar(total, stage.name(), stage.unit())));
        }
        if let Some((_, b)) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    });
    if let Some((_, b)) = bar.take() {
        b.finish_and_clear();
    }
    let manifest = result.with_context(|| format!("corpus prepare into {}", a.out.display()))?;
    if a.json {
        println!("{}", serde_json::to_string(&manifest)?);
        return Ok(Outcome::Success);
    }
    let c = &manifest.counts;
    println!("corpus written to {}", a.out.display());
    println!(
        "  records: {} read, {} bad, {} too short, {} too long, {} exact duplicates, {} near duplicates → {} kept",
        c.read, c.bad, c.too_short, c.too_long, c.exact_duplicates, c.near_duplicates, c.kept
    );
    println!(
        "  split (seed {}): pool {} ({} members, {} non-members), population {}",
        manifest.seeds.split, c.pool, c.members, c.non_members, c.population
    );
    let tally = |m: &std::collections::BTreeMap<String, u64>| {
        if m.is_empty() {
            "none".to_string()
        } else {
            m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
        }
    };
    println!("  PII replaced: {}", tally(&manifest.pii.replaced));
    if !manifest.pii.kept.is_empty() {
        println!("  PII kept (keyed hashes in pii-kept.fst): {}", tally(&manifest.pii.kept));
    }
    let t = &manifest.tokens;
    println!(
        "  tokenizer: {} ({} entries); {} tokens, {:.1} per record, {} records longer than the {}-token context",
        manifest.tokenizer.source, manifest.tokenizer.vocab_size, t.total, t.mean_per_record, t.records_truncated_at_context, t.context
    );
    Ok(Outcome::Success)
}
