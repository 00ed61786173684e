//! `vg-audit train`: trains a target model (DP-SGD or non-private) and optional shadow models on a
//! prepared corpus, writing `model.safetensors` + `model.json` per model.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use vg_training::checkpoint::ShadowRecord;
use vg_training::{DpConfig, GptConfig, ModelJson, OptimizerConfig, PrivacyTarget, Provenance, TrainConfig};

/// Train a model on the member records of a prepared corpus (plus included canaries).
///
/// By default the model is trained with DP-SGD at ε = 8 and δ = min(1e-5, 0.1/N); give
/// `--epsilon/--delta`, or `--noise-multiplier` to fix σ and have ε reported, or `--no-dp`.
#[derive(clap::Args)]
pub struct Args {
    /// A corpus directory written by `vg-audit corpus prepare`.
    #[arg(long)]
    pub corpus: PathBuf,
    /// Output directory for the model (model.safetensors, model.json, checkpoint/).
    #[arg(long)]
    pub out: PathBuf,
    /// Model size: tiny (<1M parameters, seconds), small (~1–2M), base (~10–15M).
    #[arg(long, default_value = "tiny")]
    pub model: String,
    /// Target ε of the whole run (σ is calibrated by the accountant).
    #[arg(long, conflicts_with_all = ["noise_multiplier", "no_dp"])]
    pub epsilon: Option<f64>,
    /// Target δ (default min(1e-5, 0.1/N)); δ > 1/N is refused unless --force-delta.
    #[arg(long, conflicts_with = "no_dp")]
    pub delta: Option<f64>,
    /// Use this noise multiplier σ and report the ε it gives instead of calibrating.
    #[arg(long, conflicts_with = "no_dp")]
    pub noise_multiplier: Option<f64>,
    /// Train without differential privacy (a baseline; the model carries no guarantee).
    #[arg(long)]
    pub no_dp: bool,
    /// Logical batch size: the expected Poisson batch qN under DP-SGD, fixed otherwise.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Physical micro-batch (bounds memory; gradients are accumulated).
    #[arg(long, default_value_t = 32)]
    pub micro_batch_size: usize,
    /// Optimizer steps.
    #[arg(long, conflicts_with = "epochs")]
    pub steps: Option<u64>,
    /// Passes over the training data (steps = ceil(epochs·N / batch)); default 200 steps.
    #[arg(long)]
    pub epochs: Option<f64>,
    /// Per-example clipping norm C (DP-SGD).
    #[arg(long, default_value_t = 1.0)]
    pub clip_norm: f64,
    /// Peak learning rate (linear warm-up, then cosine decay to 10%).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Warm-up steps.
    #[arg(long, default_value_t = 20)]
    pub warmup_steps: u64,
    /// Optimizer: adamw or sgd.
    #[arg(long, default_value = "adamw")]
    pub optimizer: String,
    /// Privacy accountant: pld (tight, default) or rdp.
    #[arg(long, default_value = "pld")]
    pub accountant: String,
    /// Neighbouring relation: add-remove (default), zero-out or replace-one.
    #[arg(long, default_value = "add-remove")]
    pub neighbouring: String,
    /// Truncated Poisson: at most this many examples per batch (a larger draw is cut to a random
    /// subset); ε then comes from the truncated-Poisson PLD (arXiv:2508.15089), so use `--accountant pld`.
    #[arg(long)]
    pub max_batch: Option<usize>,
    /// Allow δ > 1/N.
    #[arg(long)]
    pub force_delta: bool,
    /// Draw noise as a sum of Gaussians (floating-point mitigation, slower).
    #[arg(long)]
    pub secure_noise: bool,
    /// Make sampling and noise reproducible from this seed. The model then has NO DP guarantee.
    #[arg(long)]
    pub insecure_seed: Option<u64>,
    /// Seed of the weight initialisation (recorded).
    #[arg(long, default_value_t = 0)]
    pub init_seed: u64,
    /// Evaluate on held-out population records every this many steps.
    #[arg(long, default_value_t = 50)]
    pub eval_every: u64,
    /// Write a resumable checkpoint every this many steps.
    #[arg(long, default_value_t = 100)]
    pub checkpoint_every: u64,
    /// Continue from the last checkpoint in --out (refused if it belongs to another run).
    #[arg(long)]
    pub resume: bool,
    /// Also train K shadow models (K even), each on a random half of the pool such that every
    /// record is IN for exactly K/2 of them; written to OUT/shadows/<k>/.
    #[arg(long, default_value_t = 0)]
    pub shadows: usize,
    /// Seed of the shadow split (recorded in each shadow's model.json).
    #[arg(long, default_value_t = 0)]
    pub shadow_seed: u64,
    /// A canaries.json (vg-audit's answer key): its included canaries are added as training examples.
    #[arg(long)]
    pub canaries: Option<PathBuf>,
    /// Print the final model.json on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs `vg-audit train`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let corpus = vg_corpora::PreparedCorpus::open(&args.corpus).with_context(|| format!("opening corpus {}", args.corpus.display()))?;
    let tokenizer = corpus.tokenizer()?;
    let vocab = tokenizer.get_vocab_size(true);
    let model_cfg = GptConfig::preset(&args.model, vocab)?;
    let mut train: Vec<Vec<u32>> = corpus.members().map(|e| e.tokens.clone()).collect();
    if let Some(path) = &args.canaries {
        let set = vg_canaries::CanarySet::load(path).with_context(|| format!("reading canaries {}", path.display()))?;
        let texts: Vec<String> = set.training_examples().into_iter().map(|c| c.text).collect();
        train.extend(vg_corpora::tokenizer::encode_all(&tokenizer, &texts)?);
    }
    if train.is_empty() {
        bail!("corpus {} has no member records to train on", args.corpus.display());
    }
    let eval: Vec<Vec<u32>> = corpus.population().iter().take(256).map(|e| e.tokens.clone()).collect();
    let provenance = Provenance {
        tokenizer_sha256: Some(corpus.tokenizer_sha256()),
        corpus_manifest_sha256: Some(corpus.manifest_sha256()),
        model_name: "target".into(),
    };
    let cfg = train_config(&args, train.len(), provenance)?;
    let json = train_one(&train, &eval, &model_cfg, &cfg, &args.out, args.resume, "target")?;
    if !args.json {
        print_summary(&args.out, &json);
    }
    if args.shadows > 0 {
        let pool = corpus.pool();
        let keep = vg_training::shadow_assignment(pool.len(), args.shadows, args.shadow_seed)?;
        for (k, mask) in keep.iter().enumerate() {
            let members: Vec<u64> = pool.iter().zip(mask).filter(|(_, &m)| m).map(|(e, _)| e.id).collect();
            let data: Vec<Vec<u32>> = pool.iter().zip(mask).filter(|(_, &m)| m).map(|(e, _)| e.tokens.clone()).collect();
            let mut scfg = train_config(&args, data.len(), cfg.provenance.clone())?;
            scfg.init_seed = args.init_seed.wrapping_add(1 + k as u64);
            scfg.provenance.model_name = format!("shadow-{k}");
            let dir = args.out.join("shadows").join(k.to_string());
            let mut sj = train_one(&data, &eval, &model_cfg, &scfg, &dir, args.resume, &format!("shadow {k}"))?;
            sj.shadow = Some(ShadowRecord { index: k, count: args.shadows, split_seed: args.shadow_seed, members });
            sj.save(&dir)?;
            if !args.json {
                print_summary(&dir, &sj);
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn train_config(args: &Args, n: usize, provenance: Provenance) -> anyhow::Result<TrainConfig> {
    let steps = match (args.steps, args.epochs) {
        (Some(s), _) => s,
        (None, Some(e)) if e > 0.0 && e.is_finite() => ((e * n as f64) / args.batch_size as f64).ceil().max(1.0) as u64,
        (None, Some(e)) => bail!("--epochs {e}: must be a positive number"),
        (None, None) => 200,
    };
    let optimizer = match args.optimizer.as_str() {
        "adamw" => OptimizerConfig::default(),
        "sgd" => OptimizerConfig::Sgd { momentum: 0.0 },
        other => bail!("--optimizer {other}: use adamw or sgd"),
    };
    let dp = if args.no_dp {
        None
    } else {
        let delta = args.delta.unwrap_or_else(|| (1e-5f64).min(0.1 / n as f64));
        let target = match args.noise_multiplier {
            Some(sigma) => PrivacyTarget::NoiseMultiplier { sigma, delta },
            None => PrivacyTarget::Epsilon { epsilon: args.epsilon.unwrap_or(8.0), delta },
        };
        Some(DpConfig {
            clip_norm: args.clip_norm,
            target,
            accountant: args.accountant.clone(),
            neighbouring: args.neighbouring.clone(),
            max_batch: args.max_batch,
            insecure_seed: args.insecure_seed,
            force_delta: args.force_delta,
            secure_noise: args.secure_noise,
        })
    };
    Ok(TrainConfig {
        optimizer,
        lr: args.lr,
        warmup_steps: args.warmup_steps,
        steps,
        batch_size: args.batch_size,
        micro_batch_size: args.micro_batch_size,
        eval_every: args.eval_every,
        checkpoint_every: args.checkpoint_every,
        init_seed: args.init_seed,
        dp,
        provenance,
        ..TrainConfig::default()
    })
}

fn train_one(train: &[Vec<u32>], eval: &[Vec<u32>], model_cfg: &GptConfig, cfg: &TrainConfig, out: &Path, resume: bool, label: &str) -> anyhow::Result<ModelJson> {
    let bar = crate::progress::bar(cfg.steps, label, "steps");
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
