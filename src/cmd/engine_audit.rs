//! `vg-audit audit-engine`: the white-box audit of the DP-SGD engine (see
//! `vg_audit::engine_audit`), as a subcommand with human and JSON output.

use vg_audit::engine_audit::{audit, demo_examples, Noise, Observation, Report, Settings, STANDALONE_EXAMPLES};

use crate::Outcome;

/// Audit the DP-SGD engine itself: plant gradient canaries as extra rows of the engine's
/// per-example norm table, train one step (or --steps) and put the one-run ε lower bounds next
/// to the ε the accountant gives a record present in every step.
///
/// What is tested: the noise scale, the clipping and the per-example norm of the canaries'
/// tensor (the token embedding `wte` by default), and the noise on that tensor — at the given
/// preset, C, σ and q. What is not: the norms of other tensors, Poisson sampling, or how much a
/// trained model leaks about real records (`vg-audit run` audits its DP model's own settings).
/// Give either --epsilon (σ is calibrated so that the canaries' mechanism has exactly that ε at
/// δ) or --noise-multiplier (ε is computed). Exit code 1 when a lower bound exceeds the
/// theoretical ε (the engine releases more than it claims), 0 otherwise, 2 on errors.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Claimed ε of the canaries' mechanism (σ calibrated from it, δ and the steps).
    #[arg(long, conflicts_with = "noise_multiplier")]
    pub(crate) epsilon: Option<f64>,
    /// δ at which ε is stated, in (0, 1).
    #[arg(long, default_value_t = 1e-5)]
    pub(crate) delta: f64,
    /// Noise multiplier σ (noise std σ·C on the summed gradient); ε is then computed.
    #[arg(long)]
    pub(crate) noise_multiplier: Option<f64>,
    /// Model preset of the audited engine (tiny, small, …) over a 512-token byte vocabulary.
    #[arg(long, default_value = "tiny")]
    pub(crate) preset: String,
    /// Clipping norm C.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) clip_norm: f64,
    /// Poisson sampling rate q of the real examples (256 demo records).
    #[arg(long, default_value_t = 0.0625)]
    pub(crate) sampling_rate: f64,
    /// Accountant of the theoretical ε: pld (tight) or rdp.
    #[arg(long, default_value = "pld")]
    pub(crate) accountant: String,
    /// DP-SGD steps T; every included canary is in every step.
    #[arg(long, default_value_t = 1)]
    pub(crate) steps: u64,
    /// Number of gradient canaries m (each included with probability ½).
    #[arg(long, default_value_t = 10_000)]
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
    /// Parameter tensor for the canaries.
    #[arg(long, default_value = "wte")]
    pub(crate) tensor: String,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Prints the report for a person.
fn print_human(r: &Report) {
    println!("White-box audit of the DP-SGD engine (gradient canaries, one training run)");
    let m = &r.mechanism;
    println!(
        "  audited engine: preset {}, vocabulary {}, C = {}, σ = {:.4}, q = {:.4}; T = {} step(s)",
        m.preset, m.vocab_size, m.clip_norm, m.noise_multiplier, m.sampling_rate, m.steps
    );
    println!(
        "  canaries' mechanism: {}-fold Gaussian, μ = √T/σ = {:.4}; theoretical ε = {:.3} at δ = {:e} ({} accountant); \
largest bound {} canaries can show: {:.3}",
        r.steps, r.mu, r.theoretical_epsilon, r.delta, m.accountant, r.canaries, r.ceiling_epsilon
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
    let accountant = match args.accountant.as_str() {
        "pld" => vg_accounting::AccountantKind::Pld,
        "rdp" => vg_accounting::AccountantKind::Rdp,
        other => anyhow::bail!("--accountant {other}: use pld or rdp"),
    };
    let noise = match (args.epsilon, args.noise_multiplier) {
        (Some(e), None) => Noise::Epsilon(e),
        (None, Some(s)) => Noise::Multiplier(s),
        (Some(_), Some(_)) => anyhow::bail!("give --epsilon or --noise-multiplier, not both"),
        (None, None) => anyhow::bail!("give --epsilon (σ is calibrated) or --noise-multiplier (ε is computed)"),
    };
    let settings = Settings {
        clip_norm: args.clip_norm,
        sampling_rate: args.sampling_rate,
        accountant,
        steps: args.steps,
        canaries: args.canaries,
        observation,
        noise_seed: args.noise_seed,
        confidence: args.confidence,
        ideal_trials: args.ideal_trials,
        tensor: Some(args.tensor),
        ..Settings::standalone(&args.preset, noise, args.delta, args.seed)?
    };
    let data = demo_examples(STANDALONE_EXAMPLES, settings.seed, settings.model.context_length);
    let bar = vg_audit::progress::bar(0, "engine audit", "steps");
    let report = audit(&settings, &data, &|b| b, &mut |done, total| {
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
