//! `vg-audit sweep`: measures a DP scaling law on a prepared corpus (the work is in
//! `vg_audit::pipeline::sweep`); this module parses the flags and prints the law or the check.

use std::path::PathBuf;

use vg_audit::pipeline::sweep::{self, LawCheck, SweepOptions, SweepOutcome};
use vg_training::scaling::ScalingLaw;

use crate::Outcome;

/// Measure a DP scaling law: train a grid of (model size, noise-batch ratio σ̄) and fit the law.
///
/// Each point trains `--steps` steps with expected (Poisson) batch `--batch` b, per-example
/// clipping and noise multiplier σ = σ̄·b — the noise a batch B gets from σ = σ̄·B — and measures
/// the held-out loss every `--eval-every` steps; σ̄ = 0 (always added) is the noiseless curve that
/// gives E*. Sweep points are measurements, not releases: no ε is computed for them. The learning
/// rate is constant after warm-up, so each curve holds every shorter run.
/// Writes OUT/results.parquet (one row per point and evaluation: preset, params, sigma_bar,
/// physical_batch, noise_multiplier, learning_rate, step, eval_loss, train_loss, elapsed_s),
/// OUT/points/ (per-point models and results) and OUT/law.json (the fitted law, for
/// `vg-audit plan --law` and `[models] law` in audit.toml). Run again with the same arguments to
/// resume an interrupted sweep. With --check-law, the points are held-out configurations and the
/// law's predictions are compared with them instead (exit 1 when an error exceeds --tolerance).
#[derive(clap::Args)]
pub(crate) struct Args {
    /// A corpus directory written by `vg-audit corpus prepare` (members train, population evaluates).
    #[arg(long, value_name = "DIR")]
    corpus: PathBuf,
    /// Output directory (created; reused to resume).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Model presets to sweep, comma-separated (tiny, small, base).
    #[arg(long, value_delimiter = ',', default_value = "tiny,small")]
    presets: Vec<String>,
    /// Noise-batch ratios σ̄ = σ/B to sweep, comma-separated (σ̄ = 0 is always added).
    #[arg(long = "sigma-bar", value_delimiter = ',', default_value = "0.0005,0.002,0.008")]
    sigma_bar: Vec<f64>,
    /// Steps of every point (the longest run the law measures).
    #[arg(long, default_value_t = 400)]
    steps: u64,
    /// Held-out evaluation every this many steps (the law's step grid).
    #[arg(long, default_value_t = 50)]
    eval_every: u64,
    /// Physical batch b (expected Poisson batch); σ = σ̄·b.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Peak learning rate (constant after warm-up).
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// Warm-up steps (evaluations inside the warm-up are left out of the fit).
    #[arg(long, default_value_t = 20)]
    warmup: u64,
    /// Per-example clipping norm C.
    #[arg(long, default_value_t = 1.0)]
    clip_norm: f64,
    /// Context length of the models (records are truncated, never packed).
    #[arg(long, default_value_t = 128)]
    context: usize,
    /// Held-out records evaluated (from the population split).
    #[arg(long, default_value_t = 256)]
    eval_records: usize,
    /// Points trained at once; with more than one, each runs single-threaded.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Seed of the initialisation, the batches and the noise (sweep points claim no privacy).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Extrapolate the law up to this multiple of --steps.
    #[arg(long, default_value_t = 16.0)]
    extrapolate: f64,
    /// Compare this law's predictions with the measured curves (held-out configurations) instead
    /// of fitting a new law; exit 1 when the largest relative error exceeds --tolerance.
    #[arg(long, value_name = "LAW.json")]
    check_law: Option<PathBuf>,
    /// Relative error allowed by --check-law.
    #[arg(long, default_value_t = 0.05)]
    tolerance: f64,
    /// Print the result (the law, or the check) as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `vg-audit sweep`.
pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    if !(args.tolerance > 0.0) {
        anyhow::bail!("--tolerance {}: must be > 0", args.tolerance);
    }
    if args.jobs > 1 {
        // Two single-threaded trainings use two cores better than one two-threaded one
        // (candle's spin-barrier pool collapses under load, shared/notes/dpsgd-on-candle.md §8).
        std::env::set_var("RAYON_NUM_THREADS", "1");
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    let opts = SweepOptions {
        corpus: args.corpus,
        out: args.out,
        presets: args.presets,
        sigma_bars: args.sigma_bar,
        steps: args.steps,
        eval_every: args.eval_every,
        batch: args.batch,
        lr: args.lr,
        warmup: args.warmup,
        clip_norm: args.clip_norm,
        context: args.context,
        eval_records: args.eval_records,
        jobs: args.jobs,
        seed: args.seed,
        extrapolate: args.extrapolate,
        check_law: args.check_law,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    match sweep::run(&opts, args.tolerance)? {
        SweepOutcome::Fitted { law, path } => {
            if args.json {
                println!("{}", law.to_json()?);
            } else {
                print_law(&law);
                println!("law: {}  results: {}", path.display(), opts.out.join("results.parquet").display());
            }
            Ok(Outcome::Success)
        }
        SweepOutcome::Checked(check) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&check)?);
            } else {
                print_check(&check);
            }
            Ok(if check.pass { Outcome::Success } else { Outcome::ProblemFound })
        }
    }
}

fn print_law(law: &ScalingLaw) {
    println!("fitted law: {} model sizes × {} steps (to {:.0}) × {} σ̄", law.models.len(), law.steps.len(), law.steps[law.steps.len() - 1], law.sigma_bars.len());
    for m in &law.models {
        let last = &m.loss[law.steps.iter().position(|&t| t as u64 == m.measured_steps).unwrap_or(0)];
        let row: Vec<String> = law.sigma_bars.iter().zip(last).map(|(s, l)| format!("σ̄={s:.1e}: {l:.3}")).collect();
        println!("  {:<6} {:>9} params  E* = {:.3}  at T = {}: {}", m.preset, m.params, m.e_star, m.measured_steps, row.join("  "));
    }
}

fn print_check(check: &LawCheck) {
    println!("{:<6} {:>9} {:>6} {:>10} {:>10} {:>8}", "preset", "σ̄", "steps", "measured", "predicted", "error");
    for r in &check.rows {
        let pred = r.predicted_eval_loss.map(|p| format!("{p:.4}")).unwrap_or_else(|| "outside".into());
        let err = r.relative_error.map(|e| format!("{:.2} %", 100.0 * e)).unwrap_or_default();
        println!("{:<6} {:>9.2e} {:>6} {:>10.4} {:>10} {:>8}", r.preset, r.sigma_bar, r.steps, r.measured_eval_loss, pred, err);
    }
    println!(
        "largest relative error {:.2} % (tolerance {:.1} %), {} outside the law: {}",
        100.0 * check.max_relative_error,
        100.0 * check.tolerance,
        check.outside_law,
        if check.pass { "PASS" } else { "FAIL" }
    );
}
