//! `vg-audit distill`: a student trained non-privately from a run's DP model (its synthetic
//! records, or its soft labels over public or synthetic text).

use std::path::PathBuf;

use crate::Outcome;

use anyhow::bail;
use vg_audit::pipeline::distill::{default_labels, distill_student, DistillOptions, DistillSource};
use vg_audit::progress;
use vg_training::DistillLabels;

/// Which labels the student learns.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Labels {
    /// Next-token cross-entropy on the text itself (synthetic records).
    Hard,
    /// The teacher's next-token distributions at --temperature.
    Soft,
}

/// Arguments of `vg-audit distill`.
#[derive(clap::Args)]
#[command(after_help = "Trains a student (architecture --student, the teacher's tokenizer and context) without \
DP-SGD, and writes OUT/model.json + model.safetensors. Default labels: hard on --synthetic (the records \
themselves), soft on --public (the teacher's next-token distributions, loss T²·KL(teacher_T ‖ student_T), \
Hinton et al. 2015).\n\n\
The student inherits the teacher's (ε, δ) by post-processing, as long as nothing it learns from was read \
from the private data: --synthetic needs the sidecar `vg-audit synth` wrote (its status is passed on: \
`outside-guarantee` stays so), and --public refuses the run's training input and split files (by \
SHA-256). model.json's train_config.distill records the labels, the teacher's SHA-256, the data source and \
its SHA-256, and the guarantee {epsilon, delta, unit, model_sha256, status, reason}. Audit the student with \
`vg-audit run`'s [distill] section, which attacks it with the teacher's members.")]
pub(crate) struct Args {
    /// Run directory of `vg-audit run`.
    #[arg(long, value_name = "RUN")]
    run: PathBuf,
    /// The teacher: model name under RUN/models.
    #[arg(long, default_value = "dp", value_name = "NAME")]
    teacher: String,
    /// Student architecture preset: tiny, small, base.
    #[arg(long, value_name = "PRESET")]
    student: String,
    /// Synthetic records written by `vg-audit synth` (sidecar beside them).
    #[arg(long, value_name = "F.jsonl", required_unless_present = "public", conflicts_with = "public")]
    synthetic: Option<PathBuf>,
    /// Public text, one JSON object per line (never the run's private data).
    #[arg(long, value_name = "F.jsonl")]
    public: Option<PathBuf>,
    /// Field of the records holding the text.
    #[arg(long, default_value = "text", value_name = "NAME")]
    field: String,
    /// Hard (the text) or soft (the teacher's distributions) labels.
    #[arg(long, value_enum)]
    labels: Option<Labels>,
    /// Softmax temperature T of the soft labels (> 0).
    #[arg(long, default_value_t = 2.0, value_name = "T")]
    temperature: f64,
    /// Optimizer steps.
    #[arg(long, default_value_t = 500)]
    steps: u64,
    /// Batch size.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Seed of the initialisation and data order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output model directory (must not exist or be empty).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Print the student's guarantee and held-out loss as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `vg-audit distill`.
pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    if args.out.exists() && std::fs::read_dir(&args.out)?.next().is_some() {
        bail!("{} already exists and is not empty", args.out.display());
    }
    let source = match (args.synthetic, args.public) {
        (Some(s), None) => DistillSource::Synthetic(s),
        (None, Some(p)) => DistillSource::Public(p),
        _ => bail!("give exactly one of --synthetic and --public"),
    };
    let labels = match args.labels {
        None => default_labels(&source, args.temperature),
        Some(Labels::Hard) => DistillLabels::Hard,
        Some(Labels::Soft) => DistillLabels::Soft { temperature: args.temperature },
    };
    let opts = DistillOptions { student: args.student, source, field: args.field, labels, steps: args.steps, batch_size: args.batch_size, lr: args.lr, seed: args.seed };
    let bar = progress::bar(opts.steps, "distill", "steps");
    let info = distill_student(&args.run, &args.teacher, &opts, &args.out, false, &mut |pr| {
        bar.set_position(pr.step);
        bar.set_prefix(format!("loss {:.3}", pr.loss));
    })?;
    bar.finish_and_clear();
    let guarantee = info.inherited().expect("a distilled student records its guarantee");
    if args.json {
        let out = serde_json::json!({"model": args.out, "eval_loss": info.metrics.eval_loss, "guarantee": guarantee, "distill": info.train_config.distill});
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    eprintln!(
        "student ({}, {:.2} M parameters) → {}; held-out loss {}; {}",
        info.architecture.preset,
        info.metrics.num_params as f64 / 1e6,
        args.out.display(),
        info.metrics.eval_loss.map_or("n/a".into(), |l| format!("{l:.3}")),
        guarantee.sentence("The student")
    );
    Ok(Outcome::Success)
}
