//! `vg-audit gate`: checks a finished run against a policy; exit 0 all rules pass, 1 a rule
//! fails, 2 the summary or the policy is unreadable.

use std::path::{Path, PathBuf};
use std::io::Write as _;

use anyhow::Context;
use vg_reports::gate::{evaluate, format_result, junit_xml, Policy};

use crate::Outcome;

const POLICY_HELP: &str = "\
Policy file (TOML). Rules are [[rule]] tables:

  [[rule]]
  metric = \"mia.lira_online.auc\"   # dotted path inside a model of summary.json
  model = \"dp\"                     # optional; default: top-level `models`, else every model
  max = 0.6                        # inclusive; `min` too; at least one of them
  name = \"LiRA AUC\"                # optional display name

`*` matches every key at its level (`epsilon_lower_bounds.*.epsilon`); a metric starting with
`run.` reads the run metadata once (`run.insecure_seed`). Booleans count as 1/0. A metric that
is missing or null FAILS its rule: the gate never passes by omission.

Shorthands (top level):
  models = [\"dp\"]                       models checked by rules that name none
  max_empirical_epsilon = X             every ε lower bound: epsilon_lower_bounds.*.epsilon <= X
  max_auc = X                           mia.*.auc <= X
  max_tpr_at_fpr_1e-3 = X               mia.*.tpr_at_fpr_1e-3 <= X
  max_tpr_at_fpr_1e-2 = X               mia.*.tpr_at_fpr_1e-2 <= X
  max_exact_memorization = X            memorization.exact_rate <= X
  max_approximate_memorization = X      memorization.approximate_rate <= X
  max_fragment_hits = N                 memorization.fragment_hits <= N
  max_exposure = BITS                   exposure.included.max <= BITS
  max_theoretical_epsilon = X           dp.epsilon <= X (a non-private model fails)
  require_dp = true                     private >= 1
  require_secure_noise = true           run.insecure_seed <= 0 (no fixed noise seed)

Unknown keys are refused with their name.";

/// Prints a line to stdout; a closed pipe (e.g. `| head`) is not an error worth a panic.
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

/// Check a finished run against a policy.
#[derive(clap::Args)]
#[command(after_long_help = POLICY_HELP)]
pub(crate) struct Args {
    /// Run directory (holding summary.json), or a summary.json file.
    pub(crate) dir: PathBuf,
    /// Policy file (TOML); `--help` lists the rule syntax and the shorthands.
    #[arg(long, value_name = "FILE")]
    pub(crate) policy: PathBuf,
    /// Also write the results as JUnit XML (one test case per rule and model) for CI systems.
    #[arg(long, value_name = "FILE")]
    pub(crate) junit: Option<PathBuf>,
    /// Print one JSON object (passed, counts, every rule) on stdout instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// Record the verdict in the run's summary.json and re-render report.html and model-card.md.
    #[arg(long)]
    pub(crate) record: bool,
}

/// Runs the gate.
pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    let mut stdout = std::io::stdout().lock();
    let summary_path = summary_path(&args.dir);
    let mut summary = vg_reports::load_summary(&summary_path)
        .with_context(|| format!("cannot read the summary {}", summary_path.display()))?;
    let policy = Policy::from_file(&args.policy).context("cannot read the gate policy")?;
    let results = evaluate(&summary, &policy);
    let failed = results.iter().filter(|r| !r.passed).count();
    if let Some(junit) = &args.junit {
        let suite = format!("vg-audit gate: {}", args.policy.display());
        vg_reports::fsutil::atomic_write(junit, junit_xml(&results, &suite).as_bytes())
            .context("cannot write the JUnit file")?;
    }
    if args.record {
        summary.apply_verdict(&args.policy.display().to_string(), &results);
        let dir = summary_path.parent().unwrap_or(Path::new("."));
        vg_reports::save_summary(dir, &summary).context("cannot record the verdict")?;
        vg_reports::render_run_dir(dir).context("cannot re-render the report")?;
    }
    if args.json {
        let out = serde_json::json!({
            "summary": summary_path.display().to_string(),
            "policy": args.policy.display().to_string(),
            "passed": failed == 0,
            "rules": results.len(),
            "failed": failed,
            "results": results,
        });
        say!(stdout, "{out}");
    } else {
        for r in &results {
            say!(stdout, "{}", format_result(r));
        }
        if failed == 0 {
            say!(stdout, "gate: PASS ({} rule checks)", results.len());
        } else {
            say!(stdout, "gate: FAIL ({failed} of {} rule checks failed)", results.len());
        }
    }
    Ok(if failed == 0 { Outcome::Success } else { Outcome::ProblemFound })
}

/// `DIR/summary.json`, or the path itself when it names a file.
fn summary_path(dir: &Path) -> PathBuf {
    if dir.is_file() {
        dir.to_path_buf()
    } else {
        dir.join(vg_reports::SUMMARY_FILE)
    }
}
