//! `vg-audit bound`: ε lower bounds from attack counts obtained elsewhere (for researchers who
//! ran the attack on their own infrastructure).


use anyhow::bail;
use serde_json::json;
use vg_attacks::bounds::{clopper_pearson_epsilon, one_run_epsilon, one_run_p_value, ErrorCounts};

use crate::Outcome;

/// Arguments of `vg-audit bound`.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    method: Method,
}

/// Which bound to compute.
#[derive(clap::Subcommand)]
enum Method {
    /// One-run audit (Steinke, Nasr, Jagielski 2023): m canaries each included with probability ½,
    /// r guesses ("in" for the top scores, "out" for the bottom), v of them correct. The guess
    /// counts must have been fixed in advance (or paid for by you: lower the confidence accordingly).
    OneRun {
        /// Number of canaries m (each included independently with probability ½).
        #[arg(long, value_name = "M")]
        canaries: u64,
        /// Number of guesses r (0 ≤ r ≤ m).
        #[arg(long, value_name = "R")]
        guesses: u64,
        /// Number of correct guesses v (0 ≤ v ≤ r).
        #[arg(long, value_name = "V")]
        correct: u64,
        /// δ of the guarantee being tested, in [0, 1) (0 = pure ε-DP).
        #[arg(long, value_name = "D")]
        delta: f64,
        /// Confidence of the bound, in (0, 1).
        #[arg(long, default_value_t = 0.95, value_name = "C")]
        confidence: f64,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Clopper–Pearson bound from the error counts of one membership test at one threshold:
    /// ε ≥ max(ln((1−δ−FNR_hi)/FPR_hi), ln((1−δ−FPR_hi)/FNR_hi)), each rate bounded one-sided at
    /// (1 − confidence)/2. If you tried several thresholds, divide (1 − confidence) by their number.
    ClopperPearson {
        /// Non-members predicted member.
        #[arg(long, value_name = "FP")]
        false_positives: u64,
        /// Number of non-members.
        #[arg(long, value_name = "N")]
        negatives: u64,
        /// Members predicted non-member.
        #[arg(long, value_name = "FN")]
        false_negatives: u64,
        /// Number of members.
        #[arg(long, value_name = "P")]
        positives: u64,
        /// δ of the guarantee being tested, in [0, 1).
        #[arg(long, value_name = "D")]
        delta: f64,
        /// Confidence of the bound, in (0, 1).
        #[arg(long, default_value_t = 0.95, value_name = "C")]
        confidence: f64,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
}

fn check_common(delta: f64, confidence: f64) -> anyhow::Result<()> {
    if !(0.0..1.0).contains(&delta) {
        bail!("--delta {delta} must lie in [0, 1) (0 = pure ε-DP)");
    }
    if !(confidence > 0.0 && confidence < 1.0) {
        bail!("--confidence {confidence} must lie in (0, 1), e.g. 0.95");
    }
    Ok(())
}

/// Runs `vg-audit bound`.
pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    match args.method {
        Method::OneRun { canaries, guesses, correct, delta, confidence, json } => {
            check_common(delta, confidence)?;
            if guesses > canaries {
                bail!("--guesses {guesses} exceeds --canaries {canaries}");
            }
            if correct > guesses {
                bail!("--correct {correct} exceeds --guesses {guesses}");
            }
            let epsilon = one_run_epsilon(canaries, guesses, correct, delta, confidence)?;
            let p0 = one_run_p_value(canaries, guesses, correct, 0.0, delta)?;
            if json {
                let v = json!({
                    "method": "one_run",
                    "epsilon": epsilon,
                    "confidence": confidence,
                    "delta": delta,
                    "counts": {"canaries": canaries, "guesses": guesses, "correct": correct},
                    "p_value_at_epsilon_0": p0,
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("one-run ε lower bound: ε ≥ {epsilon:.6} with {:.1} % confidence (δ = {})", confidence * 100.0, delta);
                println!("  {correct} of {guesses} guesses correct on {canaries} canaries; p-value at ε = 0: {p0:.3e}");
            }
        }
        Method::ClopperPearson { false_positives, negatives, false_negatives, positives, delta, confidence, json } => {
            check_common(delta, confidence)?;
            if false_positives > negatives {
                bail!("--false-positives {false_positives} exceeds --negatives {negatives}");
            }
            if false_negatives > positives {
                bail!("--false-negatives {false_negatives} exceeds --positives {positives}");
            }
            if negatives == 0 || positives == 0 {
                bail!("--negatives and --positives must both be ≥ 1 (got {negatives} and {positives})");
            }
            let counts = ErrorCounts { false_positives, negatives, false_negatives, positives };
            let b = clopper_pearson_epsilon(counts, delta, confidence)?;
            if json {
                let v = json!({
                    "method": "clopper_pearson",
                    "epsilon": b.epsilon,
                    "confidence": confidence,
                    "delta": delta,
                    "counts": counts,
                    "fpr_upper": b.fpr_upper,
                    "fnr_upper": b.fnr_upper,
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("Clopper–Pearson ε lower bound: ε ≥ {:.6} with {:.1} % confidence (δ = {})", b.epsilon, confidence * 100.0, delta);
                println!(
                    "  FPR ≤ {:.6} ({false_positives}/{negatives}), FNR ≤ {:.6} ({false_negatives}/{positives}), each one-sided at {:.4}",
                    b.fpr_upper,
                    b.fnr_upper,
                    (1.0 - confidence) / 2.0
                );
            }
        }
    }
    Ok(Outcome::Success)
}
