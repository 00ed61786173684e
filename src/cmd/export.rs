//! `vg-audit export`: a model of a run written as a Hugging Face `gpt2` checkpoint.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};

/// Arguments of `vg-audit export`.
#[derive(clap::Args)]
#[command(after_help = "Writes OUT/{model.safetensors, config.json, tokenizer.json, README.md}: the GPT in \
GPT2LMHeadModel's layout (Conv1D weights transposed, untied lm_head), loadable with transformers' \
AutoModelForCausalLM.from_pretrained(OUT); the tokenizer adds <|bos|> … <|eos|> as in training; the model card \
(README.md) and config.json (dp_epsilon, dp_delta) carry the DP guarantee when the model has one.")]
pub struct Args {
    /// Run directory of `vg-audit run` (reads RUN/models/NAME and RUN/corpus/tokenizer.json).
    #[arg(long, value_name = "RUN")]
    run: PathBuf,
    /// Model name under RUN/models.
    #[arg(long, default_value = "dp", value_name = "NAME")]
    model: String,
    /// Output directory (must not exist or be empty).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Runs `vg-audit export`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.out.exists() && std::fs::read_dir(&args.out)?.next().is_some() {
        bail!("{} already exists and is not empty", args.out.display());
    }
    let dir = args.run.join("models").join(&args.model);
    let loaded = vg_training::LoadedModel::load(&dir).with_context(|| format!("cannot load model {}", dir.display()))?;
    let info = loaded.info();
    let tokenizer = args.run.join("corpus").join("tokenizer.json");
    // Write beside the target, then rename: nothing half-written under --out.
    let tmp = args.out.with_extension("export.tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    vg_training::hf::export::export_gpt2(loaded.model(), info.dp.as_ref(), info.dp_guarantee, &tokenizer, &tmp)?;
    if args.out.exists() {
        std::fs::remove_dir(&args.out)?;
    }
    std::fs::rename(&tmp, &args.out).with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!("exported {} as a Hugging Face gpt2 checkpoint → {}", dir.display(), args.out.display());
    Ok(ExitCode::SUCCESS)
}
