//! `vg-audit compare`: two runs (or two checkpoints) audited on the same corpus, side by side.

use std::path::{Path, PathBuf};
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use vg_reports::gate::fmt_num;
use vg_reports::{comparison_rows, render_comparison, RunView};

/// Prints a line to stdout; a closed pipe (e.g. `| head`) is not an error worth a panic.
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

/// Compare two runs audited on the same corpus.
#[derive(clap::Args)]
pub struct Args {
    /// First run directory (A).
    pub dir_a: PathBuf,
    /// Second run directory (B).
    pub dir_b: PathBuf,
    /// Where to write the HTML comparison (table and overlaid plots).
    #[arg(long, value_name = "FILE.html", default_value = "compare.html")]
    pub out: PathBuf,
    /// Compare even when the runs were audited on different corpora (manifest hashes differ);
    /// the page then says so at the top.
    #[arg(long)]
    pub force: bool,
    /// Print one JSON object (every figure of both runs) on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Writes the comparison page and prints the figures side by side.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    let a = load(&args.dir_a)?;
    let b = load(&args.dir_b)?;
    let html = render_comparison(&a, &b, args.force)?;
    vg_reports::fsutil::atomic_write(&args.out, html.as_bytes()).context("cannot write the comparison")?;
    let rows = comparison_rows(&a.summary, &b.summary);
    if args.json {
        let v = serde_json::json!({
            "a": a.label,
            "b": b.label,
            "same_corpus": vg_reports::same_corpus(&a.summary.run, &b.summary.run),
            "out": args.out.display().to_string(),
            "figures": rows,
        });
        say!(stdout, "{v}");
    } else {
        say!(stdout, "A = {}\nB = {}", a.label, b.label);
        say!(stdout, "{:<8} {:<48} {:>12} {:>12}", "model", "figure", "A", "B");
        let show = |x: Option<f64>| x.map(fmt_num).unwrap_or_else(|| "—".into());
        for r in &rows {
            say!(stdout, "{:<8} {:<48} {:>12} {:>12}", r.model, r.figure, show(r.a), show(r.b));
        }
        say!(stdout, "wrote {}", args.out.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn load(dir: &Path) -> anyhow::Result<RunView> {
    let (summary, data) = vg_reports::load_run(dir).with_context(|| format!("cannot read the run {}", dir.display()))?;
    if data.is_none() {
        eprintln!("vg-audit: warning: {} has no {}; no plots for it", dir.display(), vg_reports::REPORT_DATA_FILE);
    }
    Ok(RunView { label: dir.display().to_string(), summary, data: data.unwrap_or_default() })
}
