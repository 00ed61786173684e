//! The steps of `vg-audit run` in design.md's order: corpus → canaries → training → scoring →
//! attacks → extraction → engine audit → report → gate. Each step reads only files that earlier
//! steps wrote, so any of them can be skipped on `--resume`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use vg_canaries::{CanaryOptions, CanarySet};
use vg_corpora::{PrepareOptions, PreparedCorpus};
use vg_training::{model_input, GptConfig, Provenance, TrainRequest};

use super::{outputs_digest, Pipeline, StepOutcome};
use crate::progress;

/// What `run` hands back to the CLI.
pub struct RunResult {
    /// The summary as written to summary.json.
    pub summary: serde_json::Value,
    /// Whether the gate passed (None: no policy was applied).
    pub gate_passed: Option<bool>,
}

/// Names of the audited target models, in summary order.
pub const DP_MODEL: &str = "dp";
/// The non-private baseline.
pub const NON_DP_MODEL: &str = "non-dp";
/// The student distilled from the DP model (`[distill]`).
pub const STUDENT_MODEL: &str = "student";
/// The synthetic records sampled from the DP model (`[synthetic]`), and their guarantee sidecar.
pub const SYNTHETIC_RECORDS: &str = "synthetic/synthetic.jsonl";
/// The sidecar of [`SYNTHETIC_RECORDS`].
pub const SYNTHETIC_SIDECAR: &str = "synthetic/synthetic.guarantee.json";

pub use super::shadows::{dp_shadow_name, shadow_name};

/// Runs every step; returns the summary and the exit code of the gate, or `None` when the
/// executor stopped after writing its job script (`--dry-run` with Slurm).
pub fn run_all(p: &mut Pipeline, exec: &super::executor::Options) -> anyhow::Result<Option<RunResult>> {
    let started_at = super::log::now_rfc3339();

    // 1–2. corpus and canaries
    let Prepared { corpus, canaries, data, upstream } = prepare(p)?;

    // 3. training, by the configured executor (here, or as a Slurm job array)
    let mut models = model_names(&p.cfg);
    let Some(trained) = super::executor::train_all(p, &data, &models, &upstream, exec)? else {
        return Ok(None);
    };
    let mut trained: Vec<String> = trained.iter().map(outputs_digest).collect();
    // 3b. post-processing of the DP model: synthetic records, and a student distilled from it
    if p.cfg.synthetic.enabled {
        let dp_digest = trained[0].clone();
        let synth_out = p.step("synth", &p.inputs_hash(&["synth", &dp_digest]), &[SYNTHETIC_RECORDS, SYNTHETIC_SIDECAR], synthesize)?;
        if !p.cfg.distill.student.is_empty() {
            let rel = format!("models/{STUDENT_MODEL}");
            let outputs = [format!("{rel}/model.json"), format!("{rel}/model.safetensors")];
            let outputs: Vec<&str> = outputs.iter().map(String::as_str).collect();
            let o = p.step(
                &format!("train:{STUDENT_MODEL}"),
                &p.inputs_hash(&["distill", &dp_digest, &outputs_digest(&synth_out)]),
                &outputs,
                distill,
            )?;
            trained.push(outputs_digest(&o));
            models.push(STUDENT_MODEL.to_string());
        }
    }
    let trained_digest: String = trained.concat();

    // 4. scoring
    let scores_out = p.step(
        "scoring",
        &p.inputs_hash(&["scoring", &trained_digest]),
        &["scores.parquet"],
        |p| super::scoring::score_all(p, &data, &models),
    )?;

    // 5. attacks and exposure (per target model)
    let targets: Vec<String> = models.iter().filter(|m| super::shadows::parse(m).is_none()).cloned().collect();
    let shadows: Vec<String> = models.iter().filter(|m| super::shadows::parse(m).is_some()).cloned().collect();
    let attack_out = p.step(
        "attacks",
        &p.inputs_hash(&["attacks", &outputs_digest(&scores_out)]),
        &targets.iter().map(|t| format!("analysis/attacks-{t}.json")).collect::<Vec<_>>().iter().map(String::as_str).collect::<Vec<_>>(),
        |p| super::analysis::attack_all(p, &targets, &shadows, &canaries),
    )?;

    // 6. extraction
    let extraction_out = if p.cfg.extraction.enabled {
        Some(p.step(
            "extraction",
            &p.inputs_hash(&["extraction", &trained_digest]),
            &targets.iter().map(|t| format!("analysis/extraction-{t}.json")).collect::<Vec<_>>().iter().map(String::as_str).collect::<Vec<_>>(),
            |p| super::analysis::extract_all(p, &targets, &corpus, &canaries),
        )?)
    } else {
        None
    };

    // 7. white-box engine audit
    if p.cfg.engine_audit.enabled {
        p.step("engine-audit", &p.inputs_hash(&["engine-audit", &trained[0]]), &["analysis/engine-audit.json"], |p| {
            super::analysis::engine_audit(p, &data)
        })?;
    }

    // 8. report
    let upstream_all = format!(
        "{}{}{}",
        outputs_digest(&attack_out),
        extraction_out.as_ref().map(outputs_digest).unwrap_or_default(),
        trained_digest
    );
    // 8–9. report and gate
    let built = super::summary::build(p, &corpus, &canaries, &targets, &shadows, &started_at)?;
    super::summary::report_and_gate(p, &built, &upstream_all).map(Some)
}

/// What steps 1–2 leave for training: the corpus, the canaries, the token sequences, and the
/// digest of their outputs (the upstream part of every training step's inputs hash).
pub struct Prepared {
    /// The prepared corpus.
    pub corpus: PreparedCorpus,
    /// The canaries (answer key).
    pub canaries: CanarySet,
    /// Token sequences of every subject.
    pub data: TrainingData,
    /// Output hashes of the corpus and canary steps.
    pub upstream: String,
}

/// Steps 1–2: corpus and canaries (skipped when verified on `--resume`).
fn prepare(p: &Pipeline) -> anyhow::Result<Prepared> {
    let input_hashes = corpus_input_hashes(p)?;
    let corpus_out = p.step(
        "corpus",
        &p.inputs_hash(&["corpus", &input_hashes]),
        &["corpus/manifest.json", "corpus/tokenizer.json", "corpus/splits.bin"],
        prepare_corpus,
    )?;
    let corpus = PreparedCorpus::open(p.dir.join("corpus")).context("cannot open the prepared corpus")?;
    let canary_out = p.step(
        "canaries",
        &p.inputs_hash(&["canaries", &outputs_digest(&corpus_out)]),
        &["canaries.json"],
        |p| make_canaries(p, &corpus),
    )?;
    let canaries = CanarySet::load(&p.dir.join("canaries.json")).context("cannot read canaries.json")?;
    let data = TrainingData::new(p, &corpus, &canaries)?;
    let mut upstream = format!("{}{}", outputs_digest(&corpus_out), outputs_digest(&canary_out));
    // The DP model's plan, when audit.toml leaves preset/batch/steps to a scaling law.
    if p.cfg.plans() {
        let o = p.step("plan", &p.inputs_hash(&["plan", &upstream]), &[super::plan::PLAN_FILE, super::plan::PLAN_PLOT], |p| {
            super::plan::make_plan(p, &data)
        })?;
        upstream.push_str(&outputs_digest(&o));
    }
    Ok(Prepared { corpus, canaries, data, upstream })
}

/// Steps 1–2 as an earlier `run` left them, for one task on another node: the last finished
/// corpus and canary entries of the audit log, their outputs verified; nothing is recomputed
/// (the raw inputs need not be visible from the node).
pub fn prepared(p: &Pipeline) -> anyhow::Result<Prepared> {
    let mut upstream = String::new();
    let steps: &[&str] = if p.cfg.plans() { &["corpus", "canaries", "plan"] } else { &["corpus", "canaries"] };
    for &step in steps {
        let outputs = p.last_verified(step)?.with_context(|| {
            format!(
                "{}: step {step} has no verified `done` entry in audit-log.jsonl; prepare the run with \
                 `vg-audit run` (the Slurm executor does this before submitting)",
                p.dir.display()
            )
        })?;
        upstream.push_str(&outputs_digest(&outputs));
    }
    let corpus = PreparedCorpus::open(p.dir.join("corpus")).context("cannot open the prepared corpus")?;
    let canaries = CanarySet::load(&p.dir.join("canaries.json")).context("cannot read canaries.json")?;
    let data = TrainingData::new(p, &corpus, &canaries)?;
    Ok(Prepared { corpus, canaries, data, upstream })
}

/// Every model a run trains, in summary order: the DP target, the baseline, the non-private
/// shadows, then the DP shadows (`[models] dp_shadows`, one per non-private shadow).
pub fn model_names(cfg: &crate::config::AuditConfig) -> Vec<String> {
    let mut models = vec![DP_MODEL.to_string()];
    if cfg.models.baseline {
        models.push(NON_DP_MODEL.to_string());
    }
    models.extend((0..cfg.models.shadows).map(shadow_name));
    if cfg.models.dp_shadows {
        models.extend((0..cfg.models.shadows).map(dp_shadow_name));
    }
    models
}

/// The training step of model `name`: its log name, inputs hash and output files.
pub struct TrainStep {
    /// `train:<name>`.
    pub step: String,
    /// Config hash + model name + upstream outputs.
    pub inputs_sha256: String,
    /// `models/<name>/model.json` and `model.safetensors`.
    pub outputs: [String; 2],
}

impl TrainStep {
    /// The step of `name` in run `p` whose corpus and canaries hashed to `upstream`.
    pub fn new(p: &Pipeline, name: &str, upstream: &str) -> Self {
        let rel = format!("models/{name}");
        TrainStep {
            step: format!("train:{name}"),
            inputs_sha256: p.inputs_hash(&["train", name, upstream]),
            outputs: [format!("{rel}/model.json"), format!("{rel}/model.safetensors")],
        }
    }

    /// Trains the model (unless a verified result exists on resume) and records its hashes.
    pub fn run(&self, p: &Pipeline, name: &str, data: &TrainingData) -> anyhow::Result<StepOutcome> {
        let outputs: Vec<&str> = self.outputs.iter().map(String::as_str).collect();
        p.step(&self.step, &self.inputs_sha256, &outputs, |p| train_model(p, name, data))
    }
}

/// SHA-256 of every input file (or the demo corpus parameters), so a changed input reruns step 1.
fn corpus_input_hashes(p: &Pipeline) -> anyhow::Result<String> {
    let c = &p.cfg.corpus;
    if c.inputs.is_empty() {
        return Ok(format!("demo:{}:{}", c.demo_records, p.cfg.run.seed));
    }
    let mut parts = String::new();
    for input in &c.inputs {
        for file in files_under(input)? {
            let sha = vg_corpora::fsutil::sha256_file(&file)
                .with_context(|| format!("cannot read input {}", file.display()))?;
            parts.push_str(&format!("{}={sha};", file.display()));
        }
    }
    Ok(parts)
}

fn files_under(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Step 1: the demo corpus (when no inputs are given), then `vg_corpora::prepare`.
fn prepare_corpus(p: &Pipeline) -> anyhow::Result<()> {
    let c = &p.cfg.corpus;
    let inputs = if c.inputs.is_empty() {
        let demo = p.dir.join("input/demo.jsonl");
        std::fs::create_dir_all(demo.parent().expect("has a parent"))?;
        vg_corpora::demo::write_jsonl(&demo, c.demo_records, p.cfg.run.seed)?;
        vec![demo]
    } else {
        c.inputs.clone()
    };
    let mut opts = PrepareOptions::new(inputs, p.dir.join("corpus"));
    opts.overwrite = true;
    opts.records = c.records;
    opts.field = c.field.clone();
    opts.column = c.column.clone();
    opts.skip_bad = c.skip_bad;
    opts.deidentify = c.deidentify;
    opts.keep_pii = vg_corpora::pii::parse_kinds(&c.keep_pii.join(",")).map_err(|e| anyhow::anyhow!(e))?;
    opts.pii_key = c.pii_key.clone();
    opts.min_chars = c.min_chars;
    opts.max_chars = c.max_chars;
    opts.dedup_span = c.dedup_span;
    opts.population_fraction = c.population_fraction;
    opts.seed = Some(p.cfg.run.seed);
    opts.vocab_size = c.vocab_size;
    opts.tokenizer = c.tokenizer.clone();
    opts.context = p.cfg.models.context;
    let bar = progress::bar(0, "corpus", "records");
    let manifest = vg_corpora::prepare(&opts, &mut |stage, done, total| {
        bar.set_message(stage.name().to_string());
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    p.say(&format!(
        "  corpus: {} records kept ({} pool, {} population), vocabulary {}",
        manifest.counts.kept, manifest.counts.pool, manifest.counts.population, manifest.tokenizer.vocab_size
    ));
    Ok(())
}

/// Step 2: canaries (the answer key), sized against the candidate pool.
fn make_canaries(p: &Pipeline, corpus: &PreparedCorpus) -> anyhow::Result<()> {
    let c = &p.cfg.canaries;
    let opts = CanaryOptions {
        count: c.count,
        references_per_family: c.references,
        repetitions: c.repetitions,
        insecure_seed: p.cfg.run.insecure_seed,
        ..CanaryOptions::default()
    };
    let set = CanarySet::generate(&opts, Some(corpus.pool().len()))?;
    set.save(&p.dir.join("canaries.json"))?;
    p.say(&format!(
        "  canaries: {} candidates ({} included, r = {}), {} references",
        set.inserted().count(),
        set.included().count(),
        c.repetitions,
        set.references().count()
    ));
    Ok(())
}

/// Token sequences every model and attack works on, built once from the corpus and canaries.
pub struct TrainingData {
    /// Pool records: (id, model input, member of the targets, text).
    pub pool: Vec<Subject>,
    /// Candidate canaries (inserted with probability ½).
    pub canaries: Vec<Subject>,
    /// Reference canaries (never inserted).
    pub references: Vec<Subject>,
    /// Population records (never trained on).
    pub population: Vec<Subject>,
    /// Times each included canary is inserted.
    pub repetitions: u32,
    /// `shadow_in[k][i]`: subject i of pool ++ canaries is IN for shadow k.
    pub shadow_in: Vec<Vec<bool>>,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Corpus provenance for model.json.
    pub provenance: Provenance,
}

/// One scored/trained sequence.
pub struct Subject {
    /// Record or canary id.
    pub id: u64,
    /// The text's tokens (what training takes; it adds BOS/EOS itself).
    pub tokens: Vec<u32>,
    /// Model input ([BOS] + tokens + [EOS], truncated), for scoring.
    pub input: Vec<u32>,
    /// Member of the target models' training data.
    pub member: bool,
    /// The text (de-identified record, or canary text).
    pub text: String,
}

impl TrainingData {
    fn new(p: &Pipeline, corpus: &PreparedCorpus, canaries: &CanarySet) -> anyhow::Result<Self> {
        let ctx = p.cfg.models.context;
        let tokenizer = corpus.tokenizer()?;
        let subject = |id: u64, tokens: &[u32], member: bool, text: &str| Subject {
            id,
            tokens: tokens.to_vec(),
            input: model_input(tokens, ctx),
            member,
            text: text.to_string(),
        };
        let pool: Vec<Subject> =
            corpus.pool().iter().map(|e| subject(e.id, &e.tokens, e.member, &e.text)).collect();
        let population: Vec<Subject> =
            corpus.population().iter().map(|e| subject(e.id, &e.tokens, false, &e.text)).collect();
        let encode = |text: &str| -> anyhow::Result<Vec<u32>> {
            let enc = tokenizer.encode(text, false).map_err(|e| anyhow::anyhow!("tokenizer: {e}"))?;
            Ok(enc.get_ids().to_vec())
        };
        let mut cands = Vec::new();
        for c in canaries.inserted() {
            cands.push(subject(c.id, &encode(&c.text())?, c.included, &c.text()));
        }
        let mut references = Vec::new();
        for c in canaries.references() {
            references.push(subject(c.id, &encode(&c.text())?, false, &c.text()));
        }
        let k = p.cfg.models.shadows;
        let shadow_in = if k >= 2 {
            vg_training::shadow_assignment(pool.len() + cands.len(), k, shadow_split_seed(p.cfg.run.seed))?
        } else {
            Vec::new()
        };
        let provenance = Provenance {
            tokenizer_sha256: Some(corpus.tokenizer_sha256()),
            corpus_manifest_sha256: Some(corpus.manifest_sha256()),
            model_name: String::new(),
        };
        Ok(TrainingData {
            pool,
            canaries: cands,
            references,
            population,
            repetitions: canaries.repetitions,
            shadow_in,
            vocab_size: corpus.manifest().tokenizer.vocab_size,
            provenance,
        })
    }

    /// Training examples of a target model (text tokens): members + included canaries × r.
    pub fn target_examples(&self) -> Vec<Vec<u32>> {
        let mut out: Vec<Vec<u32>> = self.pool.iter().filter(|s| s.member).map(|s| s.tokens.clone()).collect();
        for c in self.canaries.iter().filter(|c| c.member) {
            out.extend(std::iter::repeat_n(c.tokens.clone(), self.repetitions as usize));
        }
        out
    }

    /// Training examples of shadow `k` of either set: its half of pool ++ canaries (canaries × r).
    fn shadow_examples(&self, k: usize) -> Vec<Vec<u32>> {
        let keep = &self.shadow_in[k];
        let mut out = Vec::new();
        for (i, s) in self.pool.iter().chain(self.canaries.iter()).enumerate() {
            if keep[i] {
                let copies = if i >= self.pool.len() { self.repetitions as usize } else { 1 };
                out.extend(std::iter::repeat_n(s.tokens.clone(), copies));
            }
        }
        out
    }

    /// Held-out examples for the eval loss (population, never trained on).
    fn eval_examples(&self) -> Vec<Vec<u32>> {
        self.population.iter().take(EVAL_RECORDS).map(|s| s.tokens.clone()).collect()
    }

    /// UTF-8 bytes per predicted token of the held-out records (bits per byte = loss / ln 2 / this).
    pub fn held_out_bytes_per_token(&self) -> f64 {
        vg_training::scaling::bytes_per_token(self.population.iter().take(EVAL_RECORDS).map(|s| (s.text.len(), s.tokens.len())))
    }
}

/// Held-out population records the eval loss (and bits per byte) is measured on.
pub const EVAL_RECORDS: usize = 256;

/// Seed of the shadow models' random halves, derived from the (recorded) run seed.
pub fn shadow_split_seed(run_seed: u64) -> u64 {
    run_seed ^ 0x5AD0_5EED
}

/// Step 3: one model. The DP target uses DP-SGD at the configured (ε, δ); the baseline and the
/// non-private shadows train without noise on the same schedule; the DP shadows train with the
/// DP model's schedule, σ, q and C (see [`super::shadows`]).
fn train_model(p: &Pipeline, name: &str, data: &TrainingData) -> anyhow::Result<()> {
    let m = &p.cfg.models;
    let shadow = super::shadows::parse(name);
    let examples = match shadow {
        Some((_, k)) => data.shadow_examples(k),
        None => data.target_examples(),
    };
    let dp_shadow = shadow.is_some_and(|(set, _)| set == super::shadows::DP_SET);
    let private = name == DP_MODEL || dp_shadow;
    let sched = super::plan::schedule(p, private)?;
    let gpt = GptConfig::preset(&sched.preset, data.vocab_size)?;
    let gpt = GptConfig { context_length: m.context, ..gpt };
    let mut batch = sched.batch_size;
    let dp = if dp_shadow {
        let target = super::shadows::dp_target_mechanism(p, &sched, data.target_examples().len())?;
        let (request, b) = super::shadows::dp_shadow_request(&target, examples.len(), p.cfg.run.insecure_seed, hash_name(name));
        batch = b;
        Some(request)
    } else {
        private.then(|| super::shadows::dp_request(p, &sched))
    };
    let mut request = TrainRequest::new(sched.steps as u64, batch);
    request.lr = sched.learning_rate;
    request.warmup_steps = sched.warmup_steps;
    request.min_lr_ratio = sched.min_lr_ratio;
    request.freeze = m.freeze.clone();
    request.init_seed = p.cfg.run.seed.wrapping_add(hash_name(name));
    request.data_seed = p.cfg.run.insecure_seed.unwrap_or(p.cfg.run.seed).wrapping_add(hash_name(name));
    request.provenance = Provenance { model_name: name.to_string(), ..data.provenance.clone() };
    request.dp = dp;
    let cfg = request.build(examples.len());
    let dir = p.dir.join("models").join(name);
    let bar = progress::bar(sched.steps as u64, name, "steps");
    let info = vg_training::train(&examples, &data.eval_examples(), &gpt, &cfg, &dir, true, &mut |pr| {
        bar.set_position(pr.step);
        bar.set_prefix(format!("loss {:.3} · {:.0} tok/s", pr.loss, pr.tokens_per_s));
    })?;
    bar.finish_and_clear();
    let eps = info.dp.as_ref().map(|d| format!(", ε = {:.3} (σ = {:.3})", d.epsilon, d.noise_multiplier));
    // Held-out loss for every model, so the lines compare; a DP model's train loss is withheld.
    let held_out = info.metrics.eval_loss.map(|e| format!(", held-out loss {e:.3}")).unwrap_or_default();
    let train = info.metrics.train_loss.map(|t| format!(", final train loss {t:.3}")).unwrap_or_default();
    let loss = format!("{held_out}{train}");
    p.say(&format!("  {name}: {} examples{loss}{}", examples.len(), eps.unwrap_or_default()));
    Ok(())
}

/// Step 3b: unconditional samples from the DP model, filtered by the PII detectors, length and
/// de-duplication only (none reads the private data, so the records keep the model's guarantee).
fn synthesize(p: &Pipeline) -> anyhow::Result<()> {
    let sy = &p.cfg.synthetic;
    let opts = super::synth::SynthOptions {
        count: sy.count,
        prompts: None,
        prompt_field: "text".into(),
        sampling: vg_training::hf::HfDecoding::Sample { temperature: sy.temperature, top_k: (sy.top_k > 0).then_some(sy.top_k), top_p: None },
        max_tokens: if sy.max_tokens == 0 { p.cfg.models.context - 1 } else { sy.max_tokens },
        seed: p.cfg.run.seed,
        filters: super::synth::Filters {
            min_chars: p.cfg.corpus.min_chars,
            drop_pii: true,
            dedup: true,
            language: sy.language.clone(),
            ..Default::default()
        },
    };
    std::fs::create_dir_all(p.dir.join("synthetic"))?;
    let bar = progress::bar(sy.count as u64, "synth", "records");
    let side = super::synth::synthesize(&p.dir, &p.dir.join("models").join(DP_MODEL), &opts, &p.dir.join(SYNTHETIC_RECORDS), &mut |kept, _| {
        bar.set_position(kept as u64)
    })?;
    bar.finish_and_clear();
    p.say(&format!("  synthetic: {} records ({} drawn, {:.0} tokens/s); {}", side.count, side.drawn, side.tokens_per_second, side.guarantee.sentence("the set")));
    Ok(())
}

/// Step 3b: the student, trained without DP-SGD on the synthetic records (or the DP model's soft
/// labels over them), with the run's schedule.
fn distill(p: &Pipeline) -> anyhow::Result<()> {
    let d = &p.cfg.distill;
    // The student follows the non-private models' schedule (the plan, if any, is the DP model's).
    let sched = super::plan::schedule(p, false)?;
    let source = super::distill::DistillSource::Synthetic(p.dir.join(SYNTHETIC_RECORDS));
    let labels = if d.labels == "hard" { vg_training::DistillLabels::Hard } else { vg_training::DistillLabels::Soft { temperature: d.temperature } };
    let steps = if d.steps == 0 { sched.steps } else { d.steps } as u64;
    let opts = super::distill::DistillOptions {
        student: d.student.clone(),
        source,
        field: "text".into(),
        labels,
        steps,
        batch_size: sched.batch_size,
        lr: sched.learning_rate,
        seed: p.cfg.run.seed.wrapping_add(hash_name(STUDENT_MODEL)),
    };
    let bar = progress::bar(steps, STUDENT_MODEL, "steps");
    let info = super::distill::distill_student(&p.dir, DP_MODEL, &opts, &p.dir.join("models").join(STUDENT_MODEL), true, &mut |pr| bar.set_position(pr.step))?;
    bar.finish_and_clear();
    let held_out = info.metrics.eval_loss.map(|e| format!(", held-out loss {e:.3}")).unwrap_or_default();
    p.say(&format!("  {STUDENT_MODEL}: {} ({} labels){held_out}", d.student, d.labels));
    Ok(())
}

/// A stable per-model offset for seeds (FNV-1a of the name).
fn hash_name(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}
