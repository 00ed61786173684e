//! `vg-audit audit --model`: audit models trained elsewhere (Hugging Face checkpoints, or models
//! of another run) on a member / non-member split, into a run directory like `run`'s.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::AuditConfig;
use crate::pipeline::external::{audit_external, ExternalSpec};
use crate::pipeline::Pipeline;

/// Arguments of `vg-audit audit`.
#[derive(clap::Args)]
#[command(after_help = "Each model scores every member and non-member with its own tokenizer; the attacks \
(loss, zlib, min-k%, min-k%++, reference-calibrated and LiRA offline with --reference-model) give ROC, AUC, \
TPR at low FPR and Clopper–Pearson ε lower bounds; extraction probes members (50-token prefix → greedy \
suffix) with the non-members as the floor and searches sampled generations for verbatim member text. \
Members and non-members are given, not randomised: the ε figures are the customary heuristic, not a DP \
audit, and the report says so. Writes scores.parquet, analysis/, summary.json, report.html and \
model-card.md; `vg-audit compare` and `vg-audit gate` read the directory like any run.")]
pub struct Args {
    /// A model to audit (repeat for several, shown side by side): a Hugging Face directory (gpt2, llama,
    /// gemma, gemma2, gemma3, vaultgemma) or a vg-audit run's model directory.
    #[arg(long = "model", value_name = "DIR", required = true)]
    models: Vec<PathBuf>,
    /// Records known to be in the models' training data (JSON Lines).
    #[arg(long, value_name = "M.jsonl")]
    members: PathBuf,
    /// Records known not to be in it (JSON Lines).
    #[arg(long, value_name = "N.jsonl")]
    non_members: PathBuf,
    /// A model that trained on none of the records: calibrates the scores (reference-calibrated loss, LiRA offline).
    #[arg(long, value_name = "DIR")]
    reference_model: Option<PathBuf>,
    /// The field holding the text.
    #[arg(long, default_value = "text", value_name = "NAME")]
    field: String,
    /// Keep the first N token ids of each record (default: each model's context).
    #[arg(long, value_name = "N")]
    max_tokens: Option<usize>,
    /// ε the models' publisher states (e.g. VaultGemma: 2); every bound is compared with it.
    #[arg(long, requires = "claimed_delta", value_name = "EPS")]
    claimed_epsilon: Option<f64>,
    /// δ of the stated guarantee (e.g. VaultGemma: 1.1e-10).
    #[arg(long, requires = "claimed_epsilon", value_name = "DELTA")]
    claimed_delta: Option<f64>,
    /// audit.toml for the attack and extraction settings ([attacks], [extraction]).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Gate policy checked at the end (exit 1 when a rule fails).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Run directory to write.
    #[arg(long, value_name = "RUN")]
    out: PathBuf,
    /// Continue an interrupted audit in --out (finished steps verified by audit-log.jsonl are skipped).
    #[arg(long)]
    resume: bool,
    /// Print summary.json on stdout at the end.
    #[arg(long)]
    json: bool,
}

/// Runs `vg-audit audit`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut cfg = match &args.config {
        Some(p) => AuditConfig::load(p)?,
        None => AuditConfig::default(),
    };
    if let Some(p) = &args.policy {
        cfg.gate.policy = Some(p.clone());
    }
    cfg.validate()?;
    let spec = ExternalSpec {
        models: args.models.clone(),
        reference: args.reference_model.clone(),
        members: args.members.clone(),
        non_members: args.non_members.clone(),
        field: args.field.clone(),
        max_tokens: args.max_tokens,
        claimed: args.claimed_epsilon.zip(args.claimed_delta),
    };
    let mut pipe = Pipeline::open(&args.out, cfg, args.resume)?;
    pipe.say(&format!("vg-audit audit → {}", args.out.display()));
    let result = audit_external(&mut pipe, &spec)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result.summary)?);
    }
    pipe.say(&format!("report: {}", args.out.join("report.html").display()));
    Ok(result.exit_code)
}
