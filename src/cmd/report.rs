//! `vg-audit report`: re-renders report.html and model-card.md of a run from summary.json and
//! report-data.json, without retraining; given a `scan serve` sample log instead, renders the
//! continued-inspection report (rates over time per kind, worst examples redacted).

use std::path::PathBuf;
use std::io::Write as _;

use anyhow::Context;

use crate::Outcome;

/// Prints a line to stdout; a closed pipe (e.g. `| head`) is not an error worth a panic.
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

/// Re-render report.html and model-card.md of a run from its summary.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Run directory holding summary.json (and report-data.json for the plots), or a sample log
    /// of `vg-audit scan serve --sample-log` (JSON Lines).
    pub(crate) dir: PathBuf,
    /// Scan logs: the HTML file to write (default: the log's name with .html).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// Print one JSON object (the files written) on stdout instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Renders the report files of a run directory.
pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    if args.dir.is_file() {
        return scan_log(&args);
    }
    let mut stdout = std::io::stdout().lock();
    let out = vg_reports::render_run_dir(&args.dir)
        .with_context(|| format!("cannot render the report of {}", args.dir.display()))?;
    if !out.had_report_data {
        eprintln!(
            "vg-audit: warning: {} not found; the report has tables but no plots",
            args.dir.join(vg_reports::REPORT_DATA_FILE).display()
        );
    }
    if args.json {
        let v = serde_json::json!({
            "report": out.report.display().to_string(),
            "model_card": out.model_card.display().to_string(),
            "plots": out.had_report_data,
        });
        say!(stdout, "{v}");
    } else {
        say!(stdout, "wrote {}", out.report.display());
        say!(stdout, "wrote {}", out.model_card.display());
    }
    Ok(Outcome::Success)
}

/// Renders a scan sample log to HTML.
fn scan_log(args: &Args) -> anyhow::Result<Outcome> {
    let text = std::fs::read_to_string(&args.dir).with_context(|| format!("reading {}", args.dir.display()))?;
    let log = vg_reports::parse_scan_log(&text).with_context(|| format!("{}", args.dir.display()))?;
    let html = vg_reports::render_scan_log(&log, &args.dir.display().to_string());
    let out = args.out.clone().unwrap_or_else(|| args.dir.with_extension("html"));
    vg_corpora::fsutil::atomic_write(&out, html.as_bytes()).with_context(|| format!("writing {}", out.display()))?;
    let mut stdout = std::io::stdout().lock();
    if args.json {
        say!(stdout, "{}", serde_json::json!({ "report": out.display().to_string(), "entries": log.entries.len() }));
    } else {
        say!(stdout, "wrote {} ({} sampled verdicts)", out.display(), log.entries.len());
    }
    Ok(Outcome::Success)
}
