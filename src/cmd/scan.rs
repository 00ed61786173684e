//! `vg-audit scan`: the output filter (batch), `scan index` and `scan serve`. The work is in
//! `crate::scan`; this module parses flags, opens files and chooses the exit code.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use vg_attacks::extraction::scan::ScanIndex;

use crate::Outcome;
use vg_audit::scan::{batch, open_scanner, sample_log::SampleLog, serve, sources};

/// Flags every scanner takes.
#[derive(clap::Args)]
pub(crate) struct ScannerArgs {
    /// The index folder written by `vg-audit scan index` (only read, never written).
    #[arg(long, value_name = "INDEX")]
    index: Option<PathBuf>,
    /// L: shortest verbatim span of training text flagged, in tokens of the index's tokenizer.
    #[arg(long, default_value_t = 50, value_name = "TOKENS")]
    min_span: usize,
    /// Key file of the keyed PII hashes (default: the one `corpus prepare` used, in the user's data directory).
    #[arg(long, value_name = "FILE")]
    pii_key: Option<PathBuf>,
}

impl ScannerArgs {
    fn open(&self) -> anyhow::Result<vg_attacks::extraction::scan::Scanner> {
        let Some(index) = &self.index else { bail!("--index INDEX is required (build one with `vg-audit scan index`)") };
        open_scanner(index, self.pii_key.as_deref(), self.min_span)
    }
}

/// Check what a deployed model says for training-data regurgitation, canaries and PII.
#[derive(clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Batch: `vg-audit scan --index INDEX --input outputs.jsonl --out verdicts.jsonl` writes one line per \
record: {\"id\", \"verdict\": \"pass\"|\"flag\"|\"error\", \"reasons\": [{\"kind\": \"verbatim\", \"tokens\", \"offset\", \
\"record\": {\"kind\", \"id\"}, \"record_offset\", \"occurrences\"} | {\"kind\": \"canary\", \"canary_id\", \"in_training\"} | \
{\"kind\": \"pii\", \"type\", \"seen_in_training\"}], \"text\": the normalised text with flagged parts redacted}. \
`--filter` passes the input lines of passing records to stdout (rejects' verdicts to --rejects), for pipelines.\n\n\
Outputs are normalised (and de-identified) as the corpus pipeline cleaned the training records, then tokenized with \
the index's tokenizer. A record that cannot be read (invalid UTF-8, longer than --max-bytes, malformed JSON, no text \
field) gets an error verdict and the scan goes on.\n\n\
Exit codes: 0 nothing flagged, 1 something flagged, 2 an error (including records that could not be read)."
)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    #[command(flatten)]
    scanner: ScannerArgs,
    /// JSON Lines of model outputs (`-`: standard input).
    #[arg(long, value_name = "FILE|-")]
    input: Option<PathBuf>,
    /// JSON field holding the output text (a dotted path reaches into objects); an `id` field is copied.
    #[arg(long, default_value = "text", value_name = "NAME")]
    field: String,
    /// Write every verdict line here (atomically, when the scan ends).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Write the input lines of passing records to stdout, unchanged.
    #[arg(long, conflicts_with = "json")]
    filter: bool,
    /// With --filter: write the verdict lines of flagged and unreadable records here.
    #[arg(long, value_name = "FILE", requires = "filter")]
    rejects: Option<PathBuf>,
    /// Longest input line accepted, in bytes; longer ones get an error verdict.
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    max_bytes: usize,
    /// Print counts per kind, the rate per 1,000 outputs and throughput as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Build the index folder the scanner reads: training token stream (suffix array), tokenizer,
    /// canary secrets, kept-PII hashes.
    Index(IndexArgs),
    /// Serve the scanner over HTTP (POST /v1/scan, GET /healthz).
    Serve(ServeArgs),
}

/// Arguments of `scan index`.
#[derive(clap::Args)]
#[command(after_help = "--from takes a run directory of `vg-audit run` (the DP model's training stream: member records \
and every copy of each included canary, the canary secrets, the keyed hashes of kept PII), a prepared corpus directory \
(all its records), or a JSON Lines file of raw training text with --tokenizer (each PII value in it is hashed with the \
PII key). The index folder holds the canary secrets: keep it as private as the training data.")]
pub(crate) struct IndexArgs {
    /// Run directory, prepared corpus directory, or JSON Lines file.
    #[arg(long, value_name = "RUN_DIR|CORPUS_DIR|F.jsonl")]
    from: PathBuf,
    /// The tokenizer.json of the deployed model (JSON Lines sources only).
    #[arg(long, value_name = "FILE")]
    tokenizer: Option<PathBuf>,
    /// JSON field holding the text (JSON Lines sources).
    #[arg(long, default_value = "text", value_name = "NAME")]
    field: String,
    /// The index folder to write.
    #[arg(long, value_name = "INDEX")]
    out: PathBuf,
    /// Replace an existing index folder.
    #[arg(long)]
    force: bool,
    /// Key file for hashing PII (JSON Lines sources; default: the user's key, created if missing).
    #[arg(long, value_name = "FILE")]
    pii_key: Option<PathBuf>,
    /// Print index.json on stdout.
    #[arg(long)]
    json: bool,
}

/// Arguments of `scan serve`.
#[derive(clap::Args)]
#[command(after_help = "POST /v1/scan with {\"text\": ..., \"id\": ...} answers one verdict (as the batch lines); a JSON \
array of such objects answers {\"verdicts\": [...]}. GET /healthz answers {\"status\": \"ok\", ...}. The first line on \
stdout is {\"listening\": \"ADDR\"}. Over capacity: 429 (queue full) or 503 (waited longer than --queue-timeout-ms), with \
Retry-After. Access log: one JSON line per request on stderr, without texts. SIGTERM finishes the requests in flight and \
exits 0.")]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    scanner: ScannerArgs,
    /// Address to listen on (port 0: a free port, printed on stdout).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Scans running at once (default: the number of cores).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Requests allowed to wait for a worker; more are answered 429.
    #[arg(long, default_value_t = 64, value_name = "N")]
    queue: usize,
    /// Longest wait for a worker before a 503.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    queue_timeout_ms: u64,
    /// Largest request body in bytes (413 beyond).
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    max_body: usize,
    /// Most outputs in one batch request (413 beyond).
    #[arg(long, default_value_t = 256, value_name = "N")]
    max_batch: usize,
    /// Keep every r-th verdict in the sample log (continued inspection; render it with `vg-audit report LOG`).
    #[arg(long, value_name = "R", requires = "sample_log")]
    sample_rate: Option<u64>,
    /// The append-only JSON Lines sample log.
    #[arg(long, value_name = "FILE", requires = "sample_rate")]
    sample_log: Option<PathBuf>,
}

/// Runs `vg-audit scan`.
pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    match args.action {
        Some(Action::Index(a)) => index(a),
        Some(Action::Serve(a)) => serve_cmd(a),
        None => batch_cmd(args),
    }
}

fn index(a: IndexArgs) -> anyhow::Result<Outcome> {
    let source = sources::Source::detect(&a.from, a.tokenizer.as_deref(), &a.field)?;
    let assembled = sources::assemble(&source, a.pii_key.as_deref())?;
    let meta = ScanIndex::build(assembled, &a.out, a.force).with_context(|| format!("building the scan index {}", a.out.display()))?;
    if a.json {
        println!("{}", serde_json::to_string(&meta)?);
    } else {
        println!(
            "wrote {}: {} records, {} tokens, {} canary secrets, kept-PII hashes: {}",
            a.out.display(),
            meta.records,
            meta.tokens,
            meta.canaries,
            if meta.pii_key_fingerprint.is_some() { "yes" } else { "none" }
        );
    }
    Ok(Outcome::Success)
}

/// A file written whole at the end: a temporary file beside `path`, renamed into place.
fn staged(path: &Path) -> anyhow::Result<tempfile::NamedTempFile> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    tempfile::NamedTempFile::new_in(dir).with_context(|| format!("creating a temporary file for {}", path.display()))
}

fn batch_cmd(args: Args) -> anyhow::Result<Outcome> {
    let Some(input) = &args.input else { bail!("--input FILE (or - for standard input) is required") };
    if args.out.is_none() && !args.filter {
        bail!("nothing to write: give --out FILE for the verdicts and/or --filter for the passing records");
    }
    if args.max_bytes == 0 {
        bail!("--max-bytes must be at least 1");
    }
    let scanner = args.scanner.open()?;
    let (mut reader, total): (Box<dyn BufRead>, u64) = if input.as_os_str() == "-" {
        (Box::new(BufReader::with_capacity(1 << 20, std::io::stdin().lock())), 0)
    } else {
        let f = std::fs::File::open(input).with_context(|| format!("opening {}", input.display()))?;
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        (Box::new(BufReader::with_capacity(1 << 20, f)), len)
    };
    let mut out_file = args.out.as_deref().map(staged).transpose()?;
    let mut rejects_file = args.rejects.as_deref().map(staged).transpose()?;
    let mut out_w = out_file.as_mut().map(|f| BufWriter::with_capacity(1 << 20, f.as_file_mut()));
    let mut rej_w = rejects_file.as_mut().map(|f| BufWriter::new(f.as_file_mut()));
    let stdout = std::io::stdout();
    let mut passed_w = args.filter.then(|| BufWriter::with_capacity(1 << 16, stdout.lock()));
    let bar = vg_audit::progress::bar(total, "scan", "bytes");
    let stats = {
        let mut sinks = batch::Sinks {
            verdicts: out_w.as_mut().map(|w| w as &mut dyn Write),
            passed: passed_w.as_mut().map(|w| w as &mut dyn Write),
            rejects: rej_w.as_mut().map(|w| w as &mut dyn Write),
        };
        batch::run(&scanner, reader.as_mut(), &args.field, args.max_bytes, &mut sinks, &mut |bytes| bar.set_position(bytes))
            .with_context(|| format!("scanning {}", input.display()))?
    };
    bar.finish_and_clear();
    for w in [out_w.as_mut(), rej_w.as_mut()].into_iter().flatten() {
        w.flush()?;
    }
    drop((out_w, rej_w, passed_w));
    for (file, path) in [(out_file, &args.out), (rejects_file, &args.rejects)] {
        if let (Some(f), Some(p)) = (file, path) {
            f.persist(p).with_context(|| format!("writing {}", p.display()))?;
        }
    }
    let threads = rayon::current_num_threads();
    if args.json {
        println!("{}", stats.to_json(threads, scanner.min_span()));
    } else {
        let kinds: Vec<String> = stats.flagged_by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
        eprintln!(
            "scanned {} outputs: {} pass, {} flagged ({:.1} per 1,000; {}), {} unreadable; {:.1} MB/s on {threads} threads",
            stats.records,
            stats.pass,
            stats.flag,
            stats.per_thousand(stats.flag),
            if kinds.is_empty() { "none".into() } else { kinds.join(", ") },
            stats.error,
            stats.mb_per_s()
        );
    }
    Ok(if stats.error > 0 {
        Outcome::Incomplete
    } else if stats.flag > 0 {
        Outcome::ProblemFound
    } else {
        Outcome::Success
    })
}

fn serve_cmd(a: ServeArgs) -> anyhow::Result<Outcome> {
    let scanner = a.scanner.open()?;
    let sample_log = match (&a.sample_log, a.sample_rate) {
        (Some(path), Some(rate)) => Some(SampleLog::open(path, rate)?),
        _ => None,
    };
    let workers = a.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let opts = serve::ServeOptions {
        listen: a.listen,
        workers,
        queue: a.queue,
        queue_timeout: Duration::from_millis(a.queue_timeout_ms),
        max_body: a.max_body,
        max_batch: a.max_batch,
        sample_log,
    };
    serve::serve(scanner, opts, &mut |addr| {
        println!("{}", serde_json::json!({ "listening": addr.to_string() }));
        let _ = std::io::stdout().flush();
    })?;
    Ok(Outcome::Success)
}
