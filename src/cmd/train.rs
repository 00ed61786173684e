//! `vg-audit train`: trains a target model (DP-SGD or non-private) and optional shadow models on a
//! prepared corpus, writing `model.safetensors` + `model.json` per model.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use vg_training::ShadowRecord;
use vg_accounting::{AccountantKind, Neighbouring};
use vg_training::{DpConfig, DpRequest, GptConfig, ModelJson, OptimizerConfig, Provenance, TrainConfig, TrainRequest};

use crate::Outcome;

/// Train a model on the member records of a prepared corpus (plus included canaries).
///
/// By default the model is trained with DP-SGD at ε = 8 and δ = the largest power of ten at or
/// below 1/(10 N) (N training examples; the same rule as `vg-audit run`); give
/// `--epsilon/--delta`, or `--noise-multiplier` to fix σ and have ε reported, or `--no-dp`.
#[derive(clap::Args)]
#[command(after_help = "Starting from a public checkpoint (--init DIR, a Hugging Face gpt2 directory with config.json, \
model.safetensors and tokenizer.json): a model only understands its own token ids, so the corpus's records \
(its split, de-identification and deduplication unchanged) are re-tokenized from their text with DIR/tokenizer.json, \
special tokens added as its post-processor says and cut to the checkpoint's context, instead of the corpus's \
tokenizer. OUT/hf/ is the trained model as a Hugging Face gpt2 checkpoint with that tokenizer (what \
`score`/`generate`/`audit --model OUT` read, and what can be published). model.json records the checkpoint (train_config.init: path and \
SHA-256 of every file read); a resume refuses a checkpoint whose files changed. Public weights are independent \
of the private data, so starting from them costs no privacy: ε is accounted exactly as from a random start. \
A checkpoint that is not gpt2 (llama, gemma, …) or whose files are broken is refused (exit 2).")]
pub(crate) struct Args {
    #[command(flatten)]
    device: super::DeviceArg,
    /// A corpus directory written by `vg-audit corpus prepare`.
    #[arg(long)]
    pub(crate) corpus: PathBuf,
    /// Output directory for the model (model.safetensors, model.json, checkpoint/).
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Model size: tiny (<1M parameters, seconds), small (~1–2M), base (~10–15M).
    #[arg(long, default_value = "tiny")]
    pub(crate) model: String,
    /// Start from this Hugging Face gpt2 checkpoint (DP continued pre-training of a public model):
    /// its architecture replaces --model, and the records are re-tokenized from their text with
    /// its tokenizer.json (see below).
    #[arg(long, value_name = "DIR", conflicts_with = "model")]
    pub(crate) init: Option<PathBuf>,
    /// Target ε of the whole run (σ is calibrated by the accountant).
    #[arg(long, conflicts_with_all = ["noise_multiplier", "no_dp"])]
    pub(crate) epsilon: Option<f64>,
    /// Target δ (default: the largest power of ten ≤ 1/(10 N)); δ > 1/N is refused unless --force-delta.
    #[arg(long, conflicts_with = "no_dp")]
    pub(crate) delta: Option<f64>,
    /// Use this noise multiplier σ and report the ε it gives instead of calibrating.
    #[arg(long, conflicts_with = "no_dp")]
    pub(crate) noise_multiplier: Option<f64>,
    /// Train without differential privacy (a baseline; the model carries no guarantee).
    #[arg(long)]
    pub(crate) no_dp: bool,
    /// Logical batch size: the expected Poisson batch qN under DP-SGD, fixed otherwise.
    #[arg(long, default_value_t = 32)]
    pub(crate) batch_size: usize,
    /// Physical micro-batch (bounds memory; gradients are accumulated). Default: min(batch, 64).
    #[arg(long)]
    pub(crate) micro_batch_size: Option<usize>,
    /// Optimizer steps.
    #[arg(long, conflicts_with = "epochs")]
    pub(crate) steps: Option<u64>,
    /// Passes over the training data (steps = ceil(epochs·N / batch)); default 200 steps.
    #[arg(long)]
    pub(crate) epochs: Option<f64>,
    /// Per-example clipping norm C (DP-SGD).
    #[arg(long, default_value_t = 1.0)]
    pub(crate) clip_norm: f64,
    /// Peak learning rate (linear warm-up, then cosine decay to 10%).
    #[arg(long, default_value_t = 1e-3)]
    pub(crate) lr: f64,
    /// Warm-up steps (default: a tenth of the steps).
    #[arg(long)]
    pub(crate) warmup_steps: Option<u64>,
    /// Optimizer: adamw or sgd.
    #[arg(long, default_value = "adamw")]
    pub(crate) optimizer: String,
    /// Privacy accountant: pld (tight, default) or rdp.
    #[arg(long, default_value = "pld")]
    pub(crate) accountant: AccountantKind,
    /// Neighbouring relation: add-remove (default), zero-out or replace-one.
    #[arg(long, default_value = "add-remove")]
    pub(crate) neighbouring: Neighbouring,
    /// Truncated Poisson: at most this many examples per batch (a larger draw is cut to a random
    /// subset); ε then comes from the truncated-Poisson PLD (arXiv:2508.15089), so use `--accountant pld`.
    #[arg(long)]
    pub(crate) max_batch: Option<usize>,
    /// Allow δ > 1/N.
    #[arg(long)]
    pub(crate) force_delta: bool,
    /// Draw noise as a sum of Gaussians (floating-point mitigation, slower).
    #[arg(long)]
    pub(crate) secure_noise: bool,
    /// Make sampling and noise reproducible from this seed. The model then has NO DP guarantee.
    #[arg(long)]
    pub(crate) insecure_seed: Option<u64>,
    /// Seed of the weight initialisation (recorded).
    #[arg(long, default_value_t = 0)]
    pub(crate) init_seed: u64,
    /// Evaluate on held-out population records every this many steps (default: a quarter of the steps).
    #[arg(long)]
    pub(crate) eval_every: Option<u64>,
    /// Write a resumable checkpoint every this many steps (default: a quarter of the steps).
    #[arg(long)]
    pub(crate) checkpoint_every: Option<u64>,
    /// Continue from the last checkpoint in --out (refused if it belongs to another run).
    #[arg(long)]
    pub(crate) resume: bool,
    /// Also train K shadow models (K even), each on a random half of the pool such that every
    /// record is IN for exactly K/2 of them; written to OUT/shadows/<k>/.
    #[arg(long, default_value_t = 0)]
    pub(crate) shadows: usize,
    /// Seed of the shadow split (recorded in each shadow's model.json).
    #[arg(long, default_value_t = 0)]
    pub(crate) shadow_seed: u64,
    /// A canaries.json (vg-audit's answer key): its included canaries are added as training examples.
    #[arg(long)]
    pub(crate) canaries: Option<PathBuf>,
    /// Print the final model.json on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs `vg-audit train`.
pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    vg_audit::pipeline::executor::local::pin_candle_element_threads();
    args.device.select()?;
    let corpus = vg_corpora::PreparedCorpus::open(&args.corpus).with_context(|| format!("opening corpus {}", args.corpus.display()))?;
    let init = args.init.as_deref().map(super::train_init::Init::open).transpose()?;
    let tokenizer = corpus.tokenizer()?;
    // With --init the records are re-tokenized from their text: the checkpoint knows no other ids.
    let encode = |texts: &[&str]| -> anyhow::Result<Vec<Vec<u32>>> {
        match &init {
            Some(i) => i.encode(texts),
            None => Ok(vg_corpora::tokenizer::encode_all(&tokenizer, texts)?),
        }
    };
    let tokens_of = |examples: &[&vg_corpora::prepared::Example]| -> anyhow::Result<Vec<Vec<u32>>> {
        match &init {
            Some(i) => i.encode(&examples.iter().map(|e| e.text.as_str()).collect::<Vec<_>>()),
            None => Ok(examples.iter().map(|e| e.tokens.clone()).collect()),
        }
    };
    let model_cfg = match &init {
        Some(i) => i.model_cfg.clone(),
        None => GptConfig::preset(&args.model, tokenizer.get_vocab_size(true))?,
    };
    let mut train: Vec<Vec<u32>> = tokens_of(&corpus.members().collect::<Vec<_>>())?;
    if let Some(path) = &args.canaries {
        let set = vg_canaries::CanarySet::load(path).with_context(|| format!("reading canaries {}", path.display()))?;
        let texts: Vec<String> = set.training_examples().into_iter().map(|c| c.text).collect();
        train.extend(encode(&texts.iter().map(String::as_str).collect::<Vec<_>>())?);
    }
    if train.is_empty() {
        bail!("corpus {} has no member records to train on", args.corpus.display());
    }
    let eval: Vec<Vec<u32>> = tokens_of(&corpus.population().iter().take(256).collect::<Vec<_>>())?;
    let provenance = Provenance {
        tokenizer_sha256: match &init {
            Some(i) => i.tokenizer_sha256(),
            None => Some(corpus.tokenizer_sha256()),
        },
        corpus_manifest_sha256: Some(corpus.manifest_sha256()),
        model_name: "target".into(),
    };
    let mut cfg = train_config(&args, train.len(), provenance)?;
    cfg.init = init.as_ref().map(|i| i.checkpoint.clone());
    let json = train_one(&train, &eval, &model_cfg, &cfg, &args.out, args.resume, "target")?;
    if let Some(i) = &init {
        i.export(&args.out)?;
    }
    if !args.json {
        print_summary(&args.out, &json);
    }
    if args.shadows > 0 {
        let pool = corpus.pool();
        let keep = vg_training::shadow_assignment(pool.len(), args.shadows, args.shadow_seed)?;
        for (k, mask) in keep.iter().enumerate() {
            let members: Vec<u64> = pool.iter().zip(mask).filter(|(_, &m)| m).map(|(e, _)| e.id).collect();
            let data = tokens_of(&pool.iter().zip(mask).filter(|(_, &m)| m).map(|(e, _)| e).collect::<Vec<_>>())?;
            let mut scfg = train_config(&args, data.len(), cfg.provenance.clone())?;
            scfg.init_seed = args.init_seed.wrapping_add(1 + k as u64);
            scfg.provenance.model_name = format!("shadow-{k}");
            scfg.init = cfg.init.clone();
            let dir = args.out.join("shadows").join(k.to_string());
            let mut sj = train_one(&data, &eval, &model_cfg, &scfg, &dir, args.resume, &format!("shadow {k}"))?;
            sj.shadow = Some(ShadowRecord { index: k, count: args.shadows, split_seed: args.shadow_seed, members });
            sj.save(&dir)?;
            if let Some(i) = &init {
                i.export(&dir)?;
            }
            if !args.json {
                print_summary(&dir, &sj);
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json)?);
    }
    Ok(Outcome::Success)
}

fn train_config(args: &Args, n: usize, provenance: Provenance) -> anyhow::Result<TrainConfig> {
    let steps = match (args.steps, args.epochs) {
        (Some(s), _) => s,
        (None, Some(e)) if e > 0.0 && e.is_finite() => ((e * n as f64) / args.batch_size as f64).ceil().max(1.0) as u64,
        (None, Some(e)) => bail!("--epochs {e}: must be a positive number"),
        (None, None) => 200,
    };
    let mut request = TrainRequest::new(steps, args.batch_size);
    request.optimizer = match args.optimizer.as_str() {
        "adamw" => OptimizerConfig::default(),
        "sgd" => OptimizerConfig::Sgd { momentum: 0.0 },
        other => bail!("--optimizer {other}: use adamw or sgd"),
    };
    request.lr = args.lr;
    request.warmup_steps = args.warmup_steps;
    request.micro_batch_size = args.micro_batch_size;
    request.eval_every = args.eval_every;
    request.checkpoint_every = args.checkpoint_every;
    request.init_seed = args.init_seed;
    request.provenance = provenance;
    request.dp = (!args.no_dp).then(|| DpRequest {
        epsilon: args.epsilon,
        noise_multiplier: args.noise_multiplier,
        delta: args.delta,
        settings: Some(DpConfig {
            clip_norm: args.clip_norm,
            accountant: args.accountant,
            neighbouring: args.neighbouring,
            max_batch: args.max_batch,
            insecure_seed: args.insecure_seed,
            force_delta: args.force_delta,
            secure_noise: args.secure_noise,
            ..DpConfig::default()
        }),
    });
    Ok(request.build(n))
}

fn train_one(train: &[Vec<u32>], eval: &[Vec<u32>], model_cfg: &GptConfig, cfg: &TrainConfig, out: &Path, resume: bool, label: &str) -> anyhow::Result<ModelJson> {
    let bar = vg_audit::progress::bar(cfg.steps, label, "steps");
    let json = vg_training::train(train, eval, model_cfg, cfg, out, resume, &mut |p| {
        bar.set_position(p.step);
        let eval = p.eval_loss.map(|e| format!(", eval {e:.3}")).unwrap_or_default();
        bar.set_prefix(format!("loss {:.3}{eval}, {:.0} tok/s", p.loss, p.tokens_per_s));
    })
    .with_context(|| format!("training the {label} model into {}", out.display()))?;
    bar.finish_and_clear();
    Ok(json)
}

fn print_summary(dir: &Path, j: &ModelJson) {
    let eval = j.metrics.eval_loss.map(|e| format!(", eval loss {e:.3}")).unwrap_or_default();
    let privacy = match &j.dp {
        Some(d) if d.insecure_seed.is_some() => format!("DP-SGD σ = {:.4}, ε = {:.3} at δ = {:.2e} — INSECURE SEED: no DP guarantee", d.noise_multiplier, d.epsilon, d.delta),
        Some(d) => format!("DP-SGD σ = {:.4}, C = {}, q = {:.4}, T = {}: ε = {:.3} at δ = {:.2e} ({}, {})", d.noise_multiplier, d.clip_norm, d.sampling_rate, d.steps, d.epsilon, d.delta, d.accountant, d.neighbouring),
        None => "non-private (no DP guarantee)".into(),
    };
    // A DP model.json withholds its un-noised training loss (outside the guarantee).
    let train = j.metrics.train_loss.map(|l| format!(", train loss {l:.3}")).unwrap_or_default();
    println!("{}: {} steps{train}{eval}; {privacy}", dir.display(), j.metrics.steps_done);
}
