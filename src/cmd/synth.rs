//! `vg-audit synth`: synthetic records sampled from a run's DP model, with the guarantee they inherit.

use std::path::PathBuf;

use crate::Outcome;

use vg_audit::pipeline::synth::{synthesize, Filters, SynthOptions, Sidecar};
use vg_audit::progress;
use vg_training::hf::HfDecoding;

/// Arguments of `vg-audit synth`.
#[derive(clap::Args)]
#[command(after_help = "Samples records from RUN/models/NAME (batched, on every core) and writes them as JSON \
Lines {\"id\", \"text\"} to --out, with a sidecar F.guarantee.json beside it stating the guarantee they inherit: \
the model's own (ε, δ), privacy unit and weights' SHA-256, status `dp` or `outside-guarantee` with the reason.\n\n\
Why: anything computed from a DP model's outputs alone keeps its (ε, δ) (post-processing). Sampling and the \
filters --min-chars, --max-chars, --drop-pii, --language and --dedup read no private data and keep `dp`. \
--filter-training INDEX (a scan index built with `vg-audit scan index --from RUN`) drops samples that repeat \
training text, canaries or kept PII; its decisions read the private records, so the output is \
`outside-guarantee`. A source model without DP-SGD (or trained with --insecure-seed) gives \
`outside-guarantee` too. Prompts must not come from the private data: a prompt file that is the run's \
training input or one of its split files (same SHA-256 as the corpus manifest records) is refused; \
templates or public text are fine.\n\n\
--json prints {\"count\", \"tokens_per_second\", \"guarantee\": {\"epsilon\", \"delta\", \"unit\", \
\"model_sha256\", \"status\", \"reason\"}}.")]
pub(crate) struct Args {
    /// Run directory of `vg-audit run`.
    #[arg(long, value_name = "RUN")]
    run: PathBuf,
    /// Model name under RUN/models.
    #[arg(long, default_value = "dp", value_name = "NAME")]
    model: String,
    /// N: records to write (the filters' rejects are replaced by new samples).
    #[arg(long, value_name = "N")]
    count: usize,
    /// Prompts, one JSON object per line (sample i continues prompt i mod P); public text or templates only.
    #[arg(long, value_name = "F.jsonl", required_unless_present = "unconditional", conflicts_with = "unconditional")]
    prompts: Option<PathBuf>,
    /// Sample from the start token alone.
    #[arg(long)]
    unconditional: bool,
    /// Field of the prompt records holding the text.
    #[arg(long, default_value = "text", value_name = "NAME")]
    field: String,
    /// Sampling temperature (> 0).
    #[arg(long, default_value_t = 1.0, value_name = "T")]
    temperature: f64,
    /// Sample among the K most likely tokens only.
    #[arg(long, value_name = "K")]
    top_k: Option<usize>,
    /// Sample within the smallest set of tokens whose probability reaches P (0 < P ≤ 1).
    #[arg(long, value_name = "P")]
    top_p: Option<f64>,
    /// S: new tokens per record at most (generation also stops at the end-of-sequence token).
    #[arg(long, default_value_t = 128, value_name = "S")]
    max_tokens: usize,
    /// Seed of the sampling (record i draws from its own stream: reproducible whatever the threads).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Drop records shorter than this many characters.
    #[arg(long, default_value_t = 1, value_name = "C")]
    min_chars: usize,
    /// Drop records longer than this many characters.
    #[arg(long, value_name = "C")]
    max_chars: Option<usize>,
    /// Drop records in which the PII detectors find a value (keeps the guarantee).
    #[arg(long)]
    drop_pii: bool,
    /// Drop exact repeats within the synthetic set (keeps the guarantee).
    #[arg(long)]
    dedup: bool,
    /// Keep only records identified as this language, an ISO 639-3 code such as `eng` or `deu`
    /// (a trigram model of public text; keeps the guarantee).
    #[arg(long, value_name = "CODE")]
    language: Option<String>,
    /// Drop records the scan index of the training data flags (verbatim spans, canaries, kept PII):
    /// reads the private data, so the output is outside the guarantee.
    #[arg(long, value_name = "INDEX")]
    filter_training: Option<PathBuf>,
    /// Key of the index's kept-PII hashes (default: the user's key file).
    #[arg(long, value_name = "FILE", requires = "filter_training")]
    pii_key: Option<PathBuf>,
    /// Shortest verbatim training span, in tokens, that --filter-training drops.
    #[arg(long, default_value_t = 50, value_name = "L", requires = "filter_training")]
    min_span: usize,
    /// Output JSON Lines file (written atomically; the sidecar goes beside it).
    #[arg(long, value_name = "F.jsonl")]
    out: PathBuf,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `vg-audit synth`.
pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    let opts = SynthOptions {
        count: args.count,
        prompts: args.prompts,
        prompt_field: args.field,
        sampling: HfDecoding::Sample { temperature: args.temperature, top_k: args.top_k, top_p: args.top_p },
        max_tokens: args.max_tokens,
        seed: args.seed,
        filters: Filters {
            min_chars: args.min_chars,
            max_chars: args.max_chars,
            drop_pii: args.drop_pii,
            dedup: args.dedup,
            language: args.language,
            training_index: args.filter_training,
            pii_key: args.pii_key,
            min_span: args.min_span,
        },
    };
    let model_dir = args.run.join("models").join(&args.model);
    let bar = progress::bar(opts.count as u64, "synth", "records");
    let sidecar = synthesize(&args.run, &model_dir, &opts, &args.out, &mut |kept, drawn| {
        bar.set_position(kept as u64);
        bar.set_prefix(format!("{drawn} drawn"));
    })?;
    bar.finish_and_clear();
    if args.json {
        let out = serde_json::json!({"count": sidecar.count, "tokens_per_second": sidecar.tokens_per_second, "guarantee": sidecar.guarantee});
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    eprintln!(
        "wrote {} records ({} drawn, {:.0} tokens/s) → {}; {}",
        sidecar.count,
        sidecar.drawn,
        sidecar.tokens_per_second,
        args.out.display(),
        sidecar.guarantee.sentence("This synthetic set")
    );
    eprintln!("guarantee sidecar → {}", Sidecar::path_for(&args.out).display());
    Ok(Outcome::Success)
}
