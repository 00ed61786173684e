//! `vg-audit report`: re-renders report.html and model-card.md of a run from summary.json and
//! report-data.json, without retraining.

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
    /// Run directory holding summary.json (and report-data.json for the plots).
    pub(crate) dir: PathBuf,
    /// Print one JSON object (the files written) on stdout instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Renders the report files of a run directory.
pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
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
