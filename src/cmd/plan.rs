//! `vg-audit plan`: splits a compute budget between model size, batch and steps under a privacy
//! budget, with a fitted DP scaling law (default: the law shipped for the demo corpus). The law,
//! the search and the plot live in the library (`vg_training::scaling`, `vg_audit::pipeline::plan`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use vg_audit::pipeline::plan::{load_law, plot};
use vg_training::scaling::{self, ComputeBudget, Plan, PlanCandidate, PlanRequest};

use crate::Outcome;

/// Plan a DP training run: the model size, batch and steps with the lowest predicted loss.
///
/// For every (model size M, batch B) on a grid, the budget gives T = C / (6·M·B·L) steps and
/// q = B/N; the accountant gives σ for (ε, δ, q, T), so σ̄ = σ/B, and the scaling law predicts the
/// held-out loss (McKenna et al. 2025). Shows the ranked configurations (σ of each from the
/// accountant, never interpolated), the best, those within 2 % of it, the non-private optimum at
/// the same compute, and writes a plot of predicted loss against batch per model size.
/// Exit 0 with a plan, 2 for an impossible budget (ε ≤ 0, δ ≥ 1/N, compute below one step).
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Training records N (the privacy unit: one record = one sequence).
    #[arg(long)]
    records: u64,
    /// Target ε.
    #[arg(long, allow_hyphen_values = true)]
    epsilon: f64,
    /// Target δ (must be below 1/N).
    #[arg(long)]
    delta: f64,
    /// Compute budget in FLOPs (C = 6·M·B·T·L).
    #[arg(long, required_unless_present = "hours", conflicts_with = "hours")]
    compute: Option<f64>,
    /// Compute budget in hours of training on this machine (the law's measured throughput).
    #[arg(long)]
    hours: Option<f64>,
    /// Tokens per sequence L (default: the mean measured on the law's corpus).
    #[arg(long)]
    context: Option<f64>,
    /// Law file written by `vg-audit sweep` (default: the law shipped for the demo corpus).
    #[arg(long, value_name = "LAW.json")]
    law: Option<PathBuf>,
    /// Largest batch as a fraction of N.
    #[arg(long, default_value_t = 1.0)]
    max_batch_fraction: f64,
    /// Batch sizes on the grid (log-spaced from 1 to the largest allowed).
    #[arg(long, default_value_t = 100)]
    batch_points: usize,
    /// Model sizes on the grid, log-spaced between the law's presets (default: the presets only,
    /// the sizes `run` can train).
    #[arg(long)]
    model_points: Option<usize>,
    /// Leading configurations recomputed with the exact accountant and listed (each PLD
    /// calibration starts from the search's σ and takes a few exact evaluations; rdp is faster
    /// and looser, so its σ is a little larger).
    #[arg(long, default_value_t = 8)]
    candidates: usize,
    /// Accountant of the exact σ of every listed row: pld (tight, default) or rdp.
    #[arg(long, default_value = "pld", value_parser = parse_accountant)]
    accountant: vg_accounting::AccountantKind,
    /// Neighbouring relation (the privacy unit): add-remove, zero-out or replace-one.
    #[arg(long, default_value = "add-remove", value_parser = parse_neighbouring)]
    neighbouring: vg_accounting::Neighbouring,
    /// Write the plot (predicted loss against batch per model size) to this SVG file.
    #[arg(long, default_value = "plan.svg", value_name = "FILE.svg")]
    plot: PathBuf,
    /// Print the plan as JSON: `best`, `candidates` (ranked), `within_2_percent` and `non_private`,
    /// each configuration with preset, params, batch_size, steps, context, noise_multiplier,
    /// sigma_bar, compute_flops and predicted_eval_loss.
    #[arg(long)]
    json: bool,
}

fn parse_accountant(s: &str) -> Result<vg_accounting::AccountantKind, String> {
    s.parse().map_err(|e: vg_accounting::Error| e.to_string())
}

fn parse_neighbouring(s: &str) -> Result<vg_accounting::Neighbouring, String> {
    s.parse().map_err(|e: vg_accounting::Error| e.to_string())
}

/// Runs `vg-audit plan`.
pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    let law = load_law(args.law.as_deref())?;
    let compute = match (args.compute, args.hours) {
        (Some(c), _) => ComputeBudget::Flops(c),
        (None, Some(h)) => ComputeBudget::Seconds(h * 3600.0),
        (None, None) => bail!("give --compute FLOPS or --hours H"),
    };
    let mut req = PlanRequest::new(args.records, args.epsilon, args.delta, compute);
    req.context = args.context;
    req.max_batch_fraction = args.max_batch_fraction;
    req.batch_points = args.batch_points;
    req.model_points = args.model_points;
    req.exact_candidates = args.candidates;
    req.accountant = args.accountant;
    req.neighbouring = args.neighbouring;
    let started = std::time::Instant::now();
    let plan = scaling::plan(&law, &req)?;
    let seconds = started.elapsed().as_secs_f64();
    let svg = plot(&plan)?;
    vg_corpora::fsutil::atomic_write(&args.plot, svg.as_bytes()).with_context(|| format!("writing {}", args.plot.display()))?;
    if args.json {
        let rows = |cs: &[PlanCandidate]| cs.iter().map(json_row).collect::<Vec<_>>();
        let v = serde_json::json!({
            "best": json_row(&plan.best),
            "candidates": rows(&plan.candidates),
            "within_2_percent": rows(&plan.within_2_percent),
            "non_private": plan.non_private.as_ref().map(json_row),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_plan(&plan, &args.plot, seconds);
    }
    Ok(Outcome::Success)
}

/// One configuration as `--json` shows it: exactly the keys issue #13 documents.
fn json_row(c: &PlanCandidate) -> serde_json::Value {
    serde_json::json!({
        "preset": c.preset,
        "params": c.params,
        "batch_size": c.batch_size,
        "steps": c.steps,
        "context": c.context,
        "noise_multiplier": c.noise_multiplier,
        "sigma_bar": c.sigma_bar,
        "compute_flops": c.compute_flops,
        "predicted_eval_loss": c.predicted_eval_loss,
    })
}

fn row(c: &PlanCandidate) -> String {
    format!(
        "{:<12} {:>9} {:>8} {:>7} {:>9.4} {:>10.3e} {:>10.3e} {:>9.4} {:>7.3} {:>6}",
        c.preset,
        c.params,
        c.batch_size,
        c.steps,
        c.noise_multiplier,
        c.sigma_bar,
        c.compute_flops,
        c.predicted_eval_loss,
        c.predicted_bits_per_byte,
        c.epsilon.map(|e| format!("{e:.3}")).unwrap_or_else(|| "∞".into())
    )
}

fn print_plan(plan: &Plan, plot: &Path, seconds: f64) {
    let r = &plan.request;
    println!(
        "budget: N = {} records, ε = {}, δ = {:.1e}, compute {}, L = {:.1} tokens/sequence ({} accountant)",
        r.records,
        r.epsilon,
        r.delta,
        match r.compute {
            ComputeBudget::Flops(c) => format!("{c:.3e} FLOPs"),
            ComputeBudget::Seconds(s) => format!("{:.3} h", s / 3600.0),
        },
        r.context.unwrap_or(0.0),
        r.accountant.name()
    );
    println!("{:<12} {:>9} {:>8} {:>7} {:>9} {:>10} {:>10} {:>9} {:>7} {:>6}", "preset", "params", "batch", "steps", "σ", "σ̄", "FLOPs", "loss", "bpb", "ε");
    for c in &plan.candidates {
        println!("{}", row(c));
    }
    println!("best:\n{}", row(&plan.best));
    println!("within 2 % of the best: {} configuration(s)", plan.within_2_percent.len());
    match &plan.non_private {
        Some(np) => println!("non-private optimum at the same compute:\n{}", row(np)),
        None => println!("non-private optimum: outside the law's range"),
    }
    println!("{} grid points predicted, {} outside the law's range; plot: {}; {:.2} s", plan.grid.len(), plan.outside_law, plot.display(), seconds);
}
