//! `vg-audit accountant`: the (ε, δ) guarantee of a DP-SGD run, the noise a target
//! guarantee needs, or the steps a noise level allows — the theoretical side of an audit.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;
use vg_accounting::{AccountantKind, Neighbouring, Sampler};

/// Privacy accounting for DP-SGD with Poisson sampling (or truncated Poisson with
/// `--max-batch M --dataset-size N`).
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// ε guaranteed by a run with a given noise multiplier, sampling rate and number of steps.
    Epsilon(EpsilonArgs),
    /// The smallest noise multiplier that keeps a run within a target (ε, δ).
    Noise(NoiseArgs),
    /// The largest number of steps a noise multiplier allows within a target (ε, δ).
    Steps(StepsArgs),
}

/// Settings shared by every accountant subcommand.
#[derive(clap::Args)]
struct Common {
    /// Accountant: `pld` (privacy-loss distribution, tight; the default) or `rdp`
    /// (Rényi DP, faster and looser).
    #[arg(long, value_enum, default_value_t = Kind::Pld)]
    accountant: Kind,
    /// Who counts as a neighbour (the privacy unit): `add-remove` one record (default),
    /// `zero-out` (a record replaced by a null one; accounts like add-remove), or
    /// `replace-one` (a record swapped for another: sensitivity 2C).
    #[arg(long, value_enum, default_value_t = Nbr::AddRemove)]
    neighbouring: Nbr,
    /// Truncated Poisson sampling: batches larger than M records are cut to a random M
    /// (VaultGemma's sampler). Accounted by the truncated-Poisson PLD (arXiv:2508.15089),
    /// so it needs `--accountant pld` and `--dataset-size`.
    #[arg(long, value_name = "M", requires = "dataset_size")]
    max_batch: Option<u64>,
    /// N, the number of records batches are sampled from (with `--max-batch`).
    #[arg(long, value_name = "N", requires = "max_batch")]
    dataset_size: Option<u64>,
    /// Print one JSON object instead of a sentence.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct EpsilonArgs {
    /// Poisson sampling rate q = expected batch size / dataset size, in (0, 1].
    #[arg(long, value_name = "Q")]
    sampling_rate: f64,
    /// Noise multiplier σ = noise standard deviation / clipping norm, > 0.
    #[arg(long, value_name = "S")]
    noise_multiplier: f64,
    /// Number of DP-SGD steps T (≥ 1).
    #[arg(long, value_name = "T")]
    steps: u64,
    /// Target δ in (0, 1); typically below 1/dataset size.
    #[arg(long, value_name = "D")]
    delta: f64,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args)]
struct NoiseArgs {
    /// Poisson sampling rate q = expected batch size / dataset size, in (0, 1].
    #[arg(long, value_name = "Q")]
    sampling_rate: f64,
    /// Number of DP-SGD steps T (≥ 1).
    #[arg(long, value_name = "T")]
    steps: u64,
    /// Target ε (> 0).
    #[arg(long, value_name = "E")]
    epsilon: f64,
    /// Target δ in (0, 1).
    #[arg(long, value_name = "D")]
    delta: f64,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args)]
struct StepsArgs {
    /// Poisson sampling rate q, in (0, 1].
    #[arg(long, value_name = "Q")]
    sampling_rate: f64,
    /// Noise multiplier σ (> 0).
    #[arg(long, value_name = "S")]
    noise_multiplier: f64,
    /// Target ε (> 0).
    #[arg(long, value_name = "E")]
    epsilon: f64,
    /// Target δ in (0, 1).
    #[arg(long, value_name = "D")]
    delta: f64,
    #[command(flatten)]
    common: Common,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Kind {
    Pld,
    Rdp,
}

impl From<Kind> for AccountantKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Pld => AccountantKind::Pld,
            Kind::Rdp => AccountantKind::Rdp,
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Nbr {
    AddRemove,
    ZeroOut,
    ReplaceOne,
}

impl From<Nbr> for Neighbouring {
    fn from(n: Nbr) -> Self {
        match n {
            Nbr::AddRemove => Neighbouring::AddOrRemoveOne,
            Nbr::ZeroOut => Neighbouring::ZeroOut,
            Nbr::ReplaceOne => Neighbouring::ReplaceOne,
        }
    }
}

impl Common {
    /// The accountant, the neighbouring relation and the sampler these flags describe.
    fn resolve(&self) -> anyhow::Result<(AccountantKind, Neighbouring, Sampler)> {
        let sampler = Sampler::new(self.dataset_size.unwrap_or(0), self.max_batch).context("--max-batch / --dataset-size")?;
        Ok((AccountantKind::from(self.accountant), Neighbouring::from(self.neighbouring), sampler))
    }
}

/// Runs `vg-audit accountant …`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Epsilon(a) => epsilon(a),
        Command::Noise(a) => noise(a),
        Command::Steps(a) => steps(a),
    }
}

/// The optimal Rényi order, when the RDP accountant answered (shown next to its ε).
fn rdp_order(kind: AccountantKind, q: f64, sigma: f64, steps: u64, delta: f64, nbr: Neighbouring) -> anyhow::Result<Option<f64>> {
    if kind != AccountantKind::Rdp {
        return Ok(None);
    }
    let (_, order) = vg_accounting::rdp_epsilon_and_order(q, sigma, steps, delta, nbr)?;
    Ok(Some(order).filter(|o| o.is_finite()))
}

fn epsilon(a: EpsilonArgs) -> anyhow::Result<ExitCode> {
    let (kind, nbr, sampler) = a.common.resolve()?;
    let eps = vg_accounting::epsilon_with(kind, sampler, a.sampling_rate, a.noise_multiplier, a.steps, a.delta, nbr)
        .context("computing epsilon")?;
    let order = rdp_order(kind, a.sampling_rate, a.noise_multiplier, a.steps, a.delta, nbr)?;
    if a.common.json {
        let mut out = json!({
            "epsilon": eps, "delta": a.delta, "noise_multiplier": a.noise_multiplier,
            "sampling_rate": a.sampling_rate, "steps": a.steps,
            "accountant": kind.name(), "neighbouring": nbr.name(), "sampler": sampler,
        });
        if let Some(o) = order {
            out["optimal_order"] = json!(o);
        }
        println!("{out}");
    } else {
        let order = order.map(|o| format!(", optimal order {o}")).unwrap_or_default();
        println!(
            "epsilon = {} at delta = {} ({} accountant{order}, {} neighbours; {}, sampling rate {}, noise multiplier {}, {} steps)",
            fmt_eps(eps), a.delta, kind.name(), nbr.name(), sampler.describe(), a.sampling_rate, a.noise_multiplier, a.steps
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn noise(a: NoiseArgs) -> anyhow::Result<ExitCode> {
    let (kind, nbr, sampler) = a.common.resolve()?;
    let sigma = vg_accounting::calibrate_noise_multiplier_with(kind, sampler, a.sampling_rate, a.steps, a.epsilon, a.delta, nbr)
        .context("calibrating the noise multiplier")?;
    // Report the ε actually achieved at the returned σ (never above the target).
    let achieved = vg_accounting::epsilon_with(kind, sampler, a.sampling_rate, sigma, a.steps, a.delta, nbr)?;
    if a.common.json {
        let out = json!({
            "noise_multiplier": sigma, "epsilon": achieved, "target_epsilon": a.epsilon, "delta": a.delta,
            "sampling_rate": a.sampling_rate, "steps": a.steps,
            "accountant": kind.name(), "neighbouring": nbr.name(), "sampler": sampler,
        });
        println!("{out}");
    } else {
        println!(
            "noise multiplier = {sigma:.6} gives epsilon = {} <= {} at delta = {} ({} accountant, {} neighbours; {}, sampling rate {}, {} steps)",
            fmt_eps(achieved), a.epsilon, a.delta, kind.name(), nbr.name(), sampler.describe(), a.sampling_rate, a.steps
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn steps(a: StepsArgs) -> anyhow::Result<ExitCode> {
    let (kind, nbr, sampler) = a.common.resolve()?;
    let steps = vg_accounting::max_steps_with(kind, sampler, a.sampling_rate, a.noise_multiplier, a.epsilon, a.delta, nbr)
        .context("searching the number of steps")?;
    let achieved = if steps > 0 {
        vg_accounting::epsilon_with(kind, sampler, a.sampling_rate, a.noise_multiplier, steps, a.delta, nbr)?
    } else {
        0.0
    };
    if a.common.json {
        let out = json!({
            "steps": steps, "epsilon": achieved, "target_epsilon": a.epsilon, "delta": a.delta,
            "noise_multiplier": a.noise_multiplier, "sampling_rate": a.sampling_rate,
            "accountant": kind.name(), "neighbouring": nbr.name(), "sampler": sampler,
        });
        println!("{out}");
    } else {
        println!(
            "at most {steps} steps keep epsilon <= {} at delta = {} (epsilon there {}; {} accountant, {} neighbours; sampling rate {}, noise multiplier {})",
            a.epsilon, a.delta, fmt_eps(achieved), kind.name(), nbr.name(), a.sampling_rate, a.noise_multiplier
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// ε with enough digits to compare runs, "inf" when unbounded.
fn fmt_eps(eps: f64) -> String {
    if eps.is_infinite() {
        "inf".to_string()
    } else {
        format!("{eps:.6}")
    }
}
