//! `vg-audit generate`: continuations of record prefixes from a model trained elsewhere (a Hugging
//! Face checkpoint) or a run's model, greedy or sampled, written as JSON Lines.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use crate::Outcome;

use anyhow::{bail, Context};
use vg_training::hf::HfDecoding;

use vg_audit::adapters::external::ExternalModel;
use vg_audit::pipeline::records::read_jsonl;
use vg_audit::progress;

/// Arguments of `vg-audit generate`.
#[derive(clap::Args)]
#[command(after_help = "Each record is encoded with the model's tokenizer (special tokens included, e.g. \
<bos>), its first P token ids are the prompt, and up to S new tokens follow; generation stops early at the \
model's end-of-sequence token (not written). HfDecoding applies the temperature, then top-k, then top-p, as \
transformers does; prompt i draws from its own stream of --seed, so the output does not depend on batching \
or threads. Output lines: {\"id\", \"prompt_ids\", \"continuation_ids\", \"text\"} (text = the decoded continuation).")]
pub(crate) struct Args {
    #[command(flatten)]
    device: super::DeviceArg,
    #[command(flatten)]
    records: super::ModelRecords,
    /// P: prompt length in token ids (the first P ids of each encoded record).
    #[arg(long, value_name = "P")]
    prompt_tokens: usize,
    /// S: new tokens at most.
    #[arg(long, value_name = "S")]
    max_new_tokens: usize,
    /// Greedy decoding (the most likely token each step).
    #[arg(long, conflicts_with_all = ["temperature", "top_k", "top_p"], required_unless_present = "temperature")]
    greedy: bool,
    /// HfDecoding temperature (> 0).
    #[arg(long, value_name = "T")]
    temperature: Option<f64>,
    /// Sample among the K most likely tokens only.
    #[arg(long, value_name = "K", requires = "temperature")]
    top_k: Option<usize>,
    /// Sample within the smallest set of tokens whose probability reaches P (0 < P ≤ 1).
    #[arg(long, value_name = "P", requires = "temperature")]
    top_p: Option<f64>,
    /// Seed of the sampling (results are reproducible for a given seed).
    #[arg(long, default_value_t = 0, value_name = "S")]
    seed: u64,
    /// Output JSON Lines file (written atomically).
    #[arg(long, value_name = "F.jsonl")]
    out: PathBuf,
}

/// Runs `vg-audit generate`.
pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    args.device.select()?;
    let sampling = match args.temperature {
        None => HfDecoding::Greedy,
        Some(t) => HfDecoding::Sample { temperature: t, top_k: args.top_k, top_p: args.top_p },
    };
    sampling.validate()?;
    if args.prompt_tokens == 0 {
        bail!("--prompt-tokens must be ≥ 1");
    }
    let records = read_jsonl(&args.records.input, &args.records.field)?;
    let model = ExternalModel::open(&args.records.model)?;
    if args.prompt_tokens >= model.max_positions() {
        bail!("--prompt-tokens {} leaves no room in the model's {} positions", args.prompt_tokens, model.max_positions());
    }
    let t0 = Instant::now();
    let mut prompts = Vec::with_capacity(records.len());
    for r in &records {
        let mut ids = model.encode(&r.text).with_context(|| format!("{}: record id {}", args.records.input.display(), r.id))?;
        ids.truncate(args.prompt_tokens);
        prompts.push(ids);
    }
    let bar = progress::bar(records.len() as u64, "generating", "records");
    let mut conts: Vec<Vec<u32>> = Vec::with_capacity(records.len());
    // Chunks keep the bar moving; prompt i keeps stream i of the seed whatever the chunk.
    let chunk = model.generation_chunk(prompts.len());
    for (start, part) in (0u64..).step_by(chunk).zip(prompts.chunks(chunk)) {
        conts.extend(model.continue_prompts(part, start, args.max_new_tokens, &sampling, args.seed)?);
        bar.inc(part.len() as u64);
    }
    bar.finish_and_clear();
    let tmp = args.out.with_extension("jsonl.tmp");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?);
    let mut new_tokens = 0;
    for ((r, p), c) in records.iter().zip(&prompts).zip(&conts) {
        new_tokens += c.len();
        let line = serde_json::json!({"id": r.id, "prompt_ids": p, "continuation_ids": c, "text": model.decode(c)?});
        writeln!(w, "{line}")?;
    }
    w.flush()?;
    drop(w);
    std::fs::rename(&tmp, &args.out).with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!(
        "generated {new_tokens} tokens for {} prompts with {} in {:.1} s → {}",
        records.len(),
        model.describe(),
        t0.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(Outcome::Success)
}
