//! `vg-audit task`: one step of a prepared run, on its own (what a Slurm array task runs).

use std::path::PathBuf;

use vg_audit::pipeline::{steps, Pipeline};

use crate::Outcome;

/// One step of a prepared run directory, run on its own: a cluster node, or a second terminal.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Train one model of a prepared run and record its hashes in the run's audit-log.jsonl.
    Train(TrainArgs),
}

/// Train exactly one model of a run that `vg-audit run` has prepared (its corpus and canaries are
/// finished and verified): the DP target `dp`, the baseline `non-dp`, shadow `shadow-K`, or DP shadow `shadow-dp-K`. The
/// model is trained from the run's config.toml with the same seeds `run` would use, written
/// atomically to RUN/models/NAME/, and its SHA-256 appended to RUN/audit-log.jsonl under a file
/// lock (tasks on other nodes may append at the same time). A model already trained and verified
/// is not trained again; an interrupted one resumes from its last checkpoint. This is what each
/// task of the Slurm job array runs (`vg-audit run --executor slurm`).
#[derive(clap::Args)]
#[command(after_help = "The run directory must be on a filesystem every node sees (NFS, Lustre, …): the task \
reads RUN/config.toml, RUN/corpus/ and RUN/canaries.json and writes RUN/models/NAME/. Threads: RAYON_NUM_THREADS \
(the Slurm script sets it to the task's --cpus-per-task).\n\nExit codes: 0 trained (or already verified), 2 error.")]
struct TrainArgs {
    #[command(flatten)]
    device: super::DeviceArg,
    /// The run directory (prepared by `vg-audit run`).
    #[arg(long, value_name = "DIR")]
    run: PathBuf,
    /// The model: dp, non-dp, shadow-K or shadow-dp-K (RUN/slurm/models.txt lists a run's models).
    #[arg(long, value_name = "NAME")]
    model: String,
    /// Print the model's step as JSON (step, output files and SHA-256) on stdout.
    #[arg(long)]
    json: bool,
}

/// Dispatches the task.
pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    match args.command {
        Command::Train(a) => train(a),
    }
}

fn train(args: TrainArgs) -> anyhow::Result<Outcome> {
    vg_audit::pipeline::executor::local::pin_candle_element_threads();
    args.device.select()?;
    let p = Pipeline::attach(&args.run)?;
    let models = steps::model_names(&p.cfg);
    if !models.contains(&args.model) {
        anyhow::bail!("{} has no model {:?}; its models are: {}", args.run.display(), args.model, models.join(", "));
    }
    let prepared = steps::prepared(&p)?;
    let step = steps::TrainStep::new(&p, &args.model, &prepared.upstream);
    let outcome = step.run(&p, &args.model, &prepared.data)?;
    if args.json {
        let json = serde_json::json!({ "step": step.step, "inputs_sha256": step.inputs_sha256, "outputs": outcome.outputs });
        println!("{}", serde_json::to_string_pretty(&json)?);
    }
    Ok(Outcome::Success)
}
