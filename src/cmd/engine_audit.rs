//! `vg-audit audit-engine`: the white-box audit of the DP-SGD engine (see
//! `vg_audit::engine_audit`), as a subcommand with human and JSON output.

use vg_audit::engine_audit::{audit, Observation, Report, Settings};

use crate::Outcome;

/// Audit the DP-SGD engine itself: plant gradient canaries, train a tiny model, and put the
/// one-run ε lower bounds next to the theoretical ε of the mechanism the canaries see.
///
/// Give either --epsilon (σ is calibrated so that the T-step Gaussian mechanism has exactly
/// that ε at δ) or --noise-multiplier (ε is computed). Exit code 1 when a lower bound exceeds
/// the theoretical ε (the engine releases more than it claims), 0 otherwise, 2 on errors.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Claimed ε of the audited mechanism (σ calibrated from it, δ and the steps).
    #[arg(long, conflicts_with = "noise_multiplier")]
    pub(crate) epsilon: Option<f64>,
    /// δ at which ε is stated, in (0, 1).
    #[arg(long, default_value_t = 1e-5)]
    pub(crate) delta: f64,
    /// Noise multiplier σ (noise std σ·C on the summed gradient); ε is then computed.
    #[arg(long)]
    pub(crate) noise_multiplier: Option<f64>,
    /// DP-SGD steps T; every included canary is in every step.
    #[arg(long, default_value_t = 50)]
    pub(crate) steps: u64,
    /// Number of gradient canaries m (each included with probability ½).
    #[arg(long, default_value_t = 1000)]
    pub(crate) canaries: usize,
    /// What the auditor observes: `sum` (privatised gradient summed over all steps) or
    /// `last-iterate` (the parameter shift after the last plain-SGD step).
    #[arg(long, default_value = "sum")]
    pub(crate) observation: String,
    /// Seed of the canaries' inclusion, the model initialisation and the ideal-bound simulations.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Fix the DP noise with this seed (reproducible audits); by default it is drawn from the OS.
    #[arg(long)]
    pub(crate) noise_seed: Option<u64>,
    /// Confidence of every lower bound.
    #[arg(long, default_value_t = 0.95)]
    pub(crate) confidence: f64,
    /// Simulations of the exact Gaussian mechanism behind each ideal bound (median taken).
    #[arg(long, default_value_t = 5)]
    pub(crate) ideal_trials: usize,
    /// Parameter tensor for the canaries (default: the one real gradients touch least).
    #[arg(long)]
    pub(crate) tensor: Option<String>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}


/// Prints the report for a person.
fn print_human(r: &Report) {
    println!("White-box audit of the DP-SGD engine (gradient canaries, one training run)");
    println!(
        "  audited mechanism: {}-fold Gaussian, σ = {:.4}, μ = √T/σ = {:.4}; theoretical ε = {:.3} at δ = {:e}",
        r.steps, r.noise_multiplier, r.mu, r.theoretical_epsilon, r.delta
    );
    println!(
        "  canaries: {} ({} included) in tensor {} (largest warm-up gradient there: {:.3e}); observation: {}",
        r.canaries, r.included, r.tensor, r.max_warmup_touch, r.observation
    );
    for key in ["one_run", "fdp_one_run"] {
        if let Some(b) = r.lower_bounds.get(key) {
            println!(
                "  {:<12} ε ≥ {:.3}  (ideal {:.3}, {:.0} % confidence; k+ = {}, k- = {}: {} of {} right; {} rules paid for) — {}",
                key, b.epsilon, b.ideal_epsilon, b.confidence * 100.0, b.k_plus, b.k_minus, b.correct, b.guesses, b.rules_tried, b.method
            );
        }
    }
    if r.exceeds_theoretical {
        println!("  verdict: PROBLEM — a lower bound exceeds the theoretical ε: the engine releases more than it claims");
    } else {
        println!("  verdict: consistent — no lower bound exceeds the theoretical ε");
    }
    if r.noise_seeded {
        println!("  note: the DP noise came from a fixed seed (reproducible audit)");
    }
    println!("  {}", r.note);
}

/// Runs `vg-audit audit-engine`.
pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    let observation: Observation = args.observation.parse()?;
    let settings = Settings {
        epsilon: args.epsilon,
        noise_multiplier: args.noise_multiplier,
        delta: args.delta,
        steps: args.steps,
        canaries: args.canaries,
        observation,
        seed: args.seed,
        noise_seed: args.noise_seed,
        confidence: args.confidence,
        ideal_trials: args.ideal_trials,
        tensor: args.tensor,
    };
    let bar = vg_audit::progress::bar(0, "engine audit", "steps");
    let report = audit(&settings, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_human(&report);
    }
    Ok(if report.exceeds_theoretical { Outcome::ProblemFound } else { Outcome::Success })
}
