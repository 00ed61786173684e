//! `audit.toml`: the audit's configuration. Parsing and validation only; every default is
//! filled in here so that the resolved file written to `<out>/config.toml` says exactly what ran.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::auto::Auto;

mod executor;
mod suggest;

pub use executor::{ExecutorKind, ExecutorSection, SlurmSection};
use suggest::suggest;

/// The whole audit configuration (`audit.toml`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Run-wide settings: seeds, smoke-run flag.
    pub run: RunSection,
    /// Where the records come from and how they are cleaned.
    pub corpus: CorpusSection,
    /// Planted canaries (the answer key for the one-run audit and exposure).
    pub canaries: CanarySection,
    /// The audited models: a DP target, a non-private baseline, shadow models.
    pub models: ModelsSection,
    /// Membership-inference attacks and ε lower bounds.
    pub attacks: AttackSection,
    /// Extraction tests.
    pub extraction: ExtractionSection,
    /// White-box audit of the DP-SGD engine.
    pub engine_audit: EngineAuditSection,
    /// Synthetic records sampled from the DP model (post-processing: they inherit its guarantee).
    pub synthetic: SyntheticSection,
    /// A student distilled from the DP model on the synthetic records, audited like the others.
    pub distill: DistillSection,
    /// Report settings.
    pub report: ReportSection,
    /// CI gate policy applied at the end of the run.
    pub gate: GateSection,
    /// Where the models train (this machine or a Slurm cluster). It changes where work runs, never
    /// its result, so it is left out of the configuration hash that every step's inputs hash
    /// starts from: a run trained on Slurm and one trained locally verify against each other.
    #[serde(skip_serializing)]
    pub executor: ExecutorSection,
}

/// Run-wide settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RunSection {
    /// Smoke run: fewer canaries and steps; the report says so.
    pub quick: bool,
    /// Seed of the non-secret randomness: splits, canary inclusion, model initialisation, attacks.
    pub seed: u64,
    /// Fixes the DP noise and Poisson sampling for reproducibility. Voids the DP guarantee.
    pub insecure_seed: Option<u64>,
}

impl Default for RunSection {
    fn default() -> Self {
        RunSection { quick: false, seed: 20260, insecure_seed: None }
    }
}

/// Corpus preparation settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CorpusSection {
    /// Input files or directories; empty = the built-in demo corpus.
    pub inputs: Vec<PathBuf>,
    /// Number of demo records generated when `inputs` is empty (2,800 by default: ≥ 1,000
    /// non-member subjects per model, so TPR at FPR 0.1 % is measurable).
    pub demo_records: usize,
    /// Plain-text records: "lines" or "paragraphs".
    pub records: vg_corpora::RecordMode,
    /// JSON Lines field holding the text.
    pub field: String,
    /// CSV / Parquet column holding the text.
    pub column: String,
    /// Skip malformed records (counted in the manifest) instead of stopping.
    pub skip_bad: bool,
    /// Replace PII with typed placeholders before training.
    pub deidentify: bool,
    /// PII types left in the text (e.g. ["phone"]), to audit what a model would leak.
    pub keep_pii: Vec<String>,
    /// Key file for the keyed hashes of kept PII (default: the user's data directory).
    pub pii_key: Option<PathBuf>,
    /// Near-duplicate span in characters.
    pub dedup_span: usize,
    /// Shortest record kept, in characters.
    pub min_chars: usize,
    /// Longest record kept, in characters.
    pub max_chars: usize,
    /// Fraction of records in the population split (never trained on).
    pub population_fraction: f64,
    /// BPE vocabulary size when training a tokenizer.
    pub vocab_size: usize,
    /// A public tokenizer.json to load instead of training one.
    pub tokenizer: Option<PathBuf>,
}

impl Default for CorpusSection {
    fn default() -> Self {
        CorpusSection {
            inputs: Vec::new(),
            demo_records: 2800,
            records: vg_corpora::RecordMode::Lines,
            field: "text".into(),
            column: "text".into(),
            skip_bad: false,
            deidentify: true,
            keep_pii: Vec::new(),
            pii_key: None,
            dedup_span: 200,
            min_chars: 20,
            max_chars: 20_000,
            population_fraction: 0.2,
            vocab_size: 2048,
            tokenizer: None,
        }
    }
}

/// Canary settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CanarySection {
    /// Number of candidate canaries m (each included with probability ½).
    pub count: usize,
    /// Times each included canary is inserted (r > 1 is compared with the group guarantee).
    pub repetitions: u32,
    /// Reference canaries per template family, never inserted (exposure ranks).
    pub references: usize,
}

impl Default for CanarySection {
    fn default() -> Self {
        CanarySection { count: 1000, repetitions: 1, references: 100 }
    }
}

/// The audited models.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsSection {
    /// Architecture preset: tiny, small, base, or "auto" (the scaling law's choice for the DP
    /// model; the non-private models then use the same preset).
    pub preset: String,
    /// Context length in tokens (records are truncated, never packed).
    pub context: usize,
    /// Optimizer steps of every model, or "auto" (the DP model trains the planned steps; the
    /// non-private models then train [`NON_PRIVATE_AUTO_STEPS`]).
    pub steps: Auto<usize>,
    /// Expected (DP) or fixed (non-private) batch size, or "auto" (the DP model trains the planned
    /// batch by micro-batch accumulation; the non-private models then use [`NON_PRIVATE_AUTO_BATCH`]).
    pub batch_size: Auto<usize>,
    /// Compute budget of the DP model in FLOPs (C = 6·M·B·T·L) when something is "auto".
    pub compute_budget: Option<f64>,
    /// Training-time budget of the DP model in seconds when something is "auto" (turned into
    /// FLOPs with the law's measured throughput).
    pub time_budget: Option<f64>,
    /// Scaling-law file for "auto" (default: the law shipped for the demo corpus).
    pub law: Option<PathBuf>,
    /// Parameter groups of every model kept at their initial values: "embeddings" (token +
    /// position), "blocks:I" or "blocks:I-J", "head" (final LayerNorm + LM head). Frozen
    /// parameters get no gradient, no clipping-norm share and no noise.
    pub freeze: Vec<String>,
    /// Peak learning rate of the non-private models.
    pub learning_rate: f64,
    /// Peak learning rate of the DP model (DP-SGD wants a larger one).
    pub dp_learning_rate: f64,
    /// Target ε of the DP model.
    pub epsilon: f64,
    /// Target δ of the DP model; default 1/(N·10) rounded down to a power of ten.
    pub delta: Option<f64>,
    /// Per-example clipping norm C.
    pub clip_norm: f64,
    /// Accountant used to calibrate σ: "pld" or "rdp".
    pub accountant: vg_accounting::AccountantKind,
    /// Truncated Poisson batches for the DP model: a draw larger than this is cut to a random
    /// subset of this size, and σ is calibrated with the truncated-Poisson PLD (pld only).
    pub max_batch: Option<usize>,
    /// Train the non-private baseline next to the DP target.
    pub baseline: bool,
    /// Shadow/reference models for LiRA and RMIA (each record IN for half of them).
    pub shadows: usize,
    /// Also train a DP set of as many shadows (`shadow-dp-K`, same halves) with the DP model's
    /// σ, q, C, learning rate and steps; LiRA and RMIA attack the DP model with it.
    pub dp_shadows: bool,
}

impl Default for ModelsSection {
    fn default() -> Self {
        ModelsSection {
            preset: "tiny".into(),
            context: 128,
            steps: Auto::Fixed(150),
            batch_size: Auto::Fixed(32),
            compute_budget: None,
            time_budget: None,
            law: None,
            freeze: Vec::new(),
            learning_rate: 3e-3,
            dp_learning_rate: 3e-3,
            epsilon: 8.0,
            delta: None,
            clip_norm: 1.0,
            accountant: vg_accounting::AccountantKind::Pld,
            max_batch: None,
            baseline: true,
            shadows: 4,
            dp_shadows: true,
        }
    }
}

/// Batch of the non-private models when `batch_size = "auto"` (the plan is for the DP model).
pub const NON_PRIVATE_AUTO_BATCH: usize = 32;
/// DP compute of the built-in demo audit, 6·M·B·T·L FLOPs: the fixed default schedule's
/// (tiny: M = 370,432 parameters, B = 32, T = 150, L = 128 tokens).
pub const DEMO_DP_COMPUTE: f64 = 1.37e12;
/// Steps of the non-private models when `steps = "auto"`.
pub const NON_PRIVATE_AUTO_STEPS: usize = 150;

/// Attack settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AttackSection {
    /// k of min-k% and min-k%++, as a fraction.
    pub min_k: f64,
    /// LiRA variance: "global" or "per-example" (default global below 64 shadows).
    pub lira_variance: Option<String>,
    /// RMIA offline parameter a.
    pub rmia_a: f64,
    /// RMIA likelihood-ratio threshold γ.
    pub rmia_gamma: f64,
    /// Population records RMIA compares against.
    pub rmia_population: usize,
    /// Confidence level of every ε lower bound.
    pub confidence: f64,
}

impl Default for AttackSection {
    fn default() -> Self {
        AttackSection {
            min_k: 0.2,
            lira_variance: None,
            rmia_a: 0.3,
            rmia_gamma: 1.0,
            rmia_population: 1000,
            confidence: 0.95,
        }
    }
}

/// Extraction settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ExtractionSection {
    /// Run the extraction tests.
    pub enabled: bool,
    /// Training records prompted (plus every included canary).
    pub prompts: usize,
    /// Prompt length P in tokens.
    pub prefix_tokens: usize,
    /// Greedy continuation length S in tokens.
    pub suffix_tokens: usize,
    /// Sampled generations searched against the training stream.
    pub generations: usize,
    /// Tokens per sampled generation.
    pub generation_tokens: usize,
    /// Top-k of the sampled generations.
    pub top_k: usize,
    /// Shortest verbatim span reported, in tokens.
    pub min_verbatim_tokens: usize,
    /// Show extracted text verbatim instead of redacted.
    pub show_extracted: bool,
}

impl Default for ExtractionSection {
    fn default() -> Self {
        ExtractionSection {
            enabled: true,
            prompts: 300,
            prefix_tokens: 50,
            suffix_tokens: 50,
            generations: 100,
            generation_tokens: 128,
            top_k: 40,
            min_verbatim_tokens: 50,
            show_extracted: false,
        }
    }
}

/// White-box engine audit settings: the audit runs at the DP model's own preset, vocabulary,
/// C, σ, q, δ and accountant (read from its model.json); only these are the audit's own.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EngineAuditSection {
    /// Run the gradient-canary audit of the DP-SGD engine.
    pub enabled: bool,
    /// Gradient canaries m.
    pub canaries: usize,
    /// DP-SGD steps T of the audit (may be fewer than the DP model's; canaries are in each).
    pub steps: usize,
}

impl Default for EngineAuditSection {
    fn default() -> Self {
        EngineAuditSection { enabled: true, canaries: 10_000, steps: 1 }
    }
}

/// Synthetic data settings: unconditional samples from the DP model, filtered without reading
/// the private data (PII detectors, length, de-duplication), so they keep its guarantee.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SyntheticSection {
    /// Sample synthetic records from the DP model (step `synth`, `synthetic/synthetic.jsonl`).
    pub enabled: bool,
    /// Records kept.
    pub count: usize,
    /// Sampling temperature.
    pub temperature: f64,
    /// Sample among the k most likely tokens (0: all).
    pub top_k: usize,
    /// New tokens per record at most (0: the context length minus one).
    pub max_tokens: usize,
    /// Keep only records identified as this language (ISO 639-3, e.g. "eng"); none: any.
    pub language: Option<String>,
}

impl Default for SyntheticSection {
    fn default() -> Self {
        SyntheticSection { enabled: false, count: 1000, temperature: 1.0, top_k: 0, max_tokens: 0, language: None }
    }
}

/// Distillation settings: a non-private student trained on the synthetic records (hard labels) or
/// on the DP model's soft labels over them; audited like every other model.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DistillSection {
    /// Student preset (tiny, small, base); empty: no student.
    pub student: String,
    /// "soft" (the teacher's next-token distributions) or "hard" (the synthetic text).
    pub labels: String,
    /// Temperature of the soft labels.
    pub temperature: f64,
    /// Optimizer steps (0: models.steps).
    pub steps: usize,
}

impl Default for DistillSection {
    fn default() -> Self {
        DistillSection { student: String::new(), labels: "soft".into(), temperature: 2.0, steps: 0 }
    }
}

/// Report settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ReportSection {
    /// Title shown at the top of the report.
    pub title: String,
}

impl Default for ReportSection {
    fn default() -> Self {
        ReportSection { title: "vg-audit privacy audit".into() }
    }
}

/// Gate settings.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GateSection {
    /// Policy file applied at the end of the run (exit 1 when a rule fails).
    pub policy: Option<PathBuf>,
}

impl AuditConfig {
    /// Reads and validates `path`; unknown keys are refused with the key's name and a suggestion.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in config {}", path.display()))
    }

    /// Parses TOML text; see [`AuditConfig::load`].
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let cfg: AuditConfig = toml::from_str(text).map_err(|e| anyhow::anyhow!(suggest(&e)))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The built-in demo audit (`vg-audit run` without `--config`): the defaults, with the DP
    /// model's preset, batch and steps planned by the shipped scaling law for [`DEMO_DP_COMPUTE`]
    /// — the compute of the fixed tiny/32/150 schedule, spent where the law says it helps most.
    pub fn demo() -> Self {
        let mut cfg = AuditConfig::default();
        cfg.models.preset = "auto".into();
        cfg.models.batch_size = Auto::Auto;
        cfg.models.steps = Auto::Auto;
        cfg.models.compute_budget = Some(DEMO_DP_COMPUTE);
        cfg
    }

    /// The smoke-run variant: a few canaries and steps, everything else as configured.
    pub fn quick(mut self) -> Self {
        self.run.quick = true;
        self.corpus.demo_records = self.corpus.demo_records.min(1200);
        self.corpus.vocab_size = self.corpus.vocab_size.min(1024);
        self.canaries.count = self.canaries.count.min(100);
        self.canaries.references = self.canaries.references.min(50);
        self.models.context = self.models.context.min(64);
        // A smoke run trains fixed tiny models; no plan.
        if self.models.preset == "auto" {
            self.models.preset = "tiny".into();
        }
        self.models.steps = Auto::Fixed(self.models.steps.or(60).min(60));
        self.models.batch_size = Auto::Fixed(self.models.batch_size.or(32).min(32));
        (self.models.compute_budget, self.models.time_budget) = (None, None);
        self.models.shadows = self.models.shadows.min(2);
        self.extraction.prompts = self.extraction.prompts.min(100);
        self.extraction.generations = self.extraction.generations.min(20);
        self.extraction.generation_tokens = self.extraction.generation_tokens.min(64);
        self.engine_audit.enabled = false;
        self
    }

    /// Refuses impossible parameters before any work starts.
    pub fn validate(&self) -> anyhow::Result<()> {
        let m = &self.models;
        if !(m.epsilon > 0.0 && m.epsilon.is_finite()) {
            bail!("models.epsilon must be > 0 (got {})", m.epsilon);
        }
        if let Some(d) = m.delta {
            if !(d > 0.0 && d < 1.0) {
                bail!("models.delta must be in (0, 1) (got {d})");
            }
        }
        if !(m.clip_norm > 0.0) {
            bail!("models.clip_norm must be > 0 (got {})", m.clip_norm);
        }
        if m.steps == Auto::Fixed(0) || m.batch_size == Auto::Fixed(0) {
            bail!("models.steps and models.batch_size must be ≥ 1 (or \"auto\")");
        }
        if !["tiny", "small", "base", "auto"].contains(&m.preset.as_str()) {
            bail!("models.preset must be tiny, small, base or \"auto\" (got {:?})", m.preset);
        }
        if self.plans() {
            if !m.steps.is_auto() {
                bail!("models.steps is fixed while the preset or batch is \"auto\": the plan chooses steps from the budget; set steps = \"auto\" (or fix preset and batch too)");
            }
            if m.max_batch.is_some() {
                bail!("models.max_batch cannot be combined with \"auto\": the law plans Poisson batches");
            }
            match (m.compute_budget, m.time_budget) {
                (Some(c), None) if c > 0.0 && c.is_finite() => {}
                (None, Some(t)) if t > 0.0 && t.is_finite() => {}
                (Some(_), Some(_)) => bail!("models.compute_budget and models.time_budget: give one, not both"),
                (None, None) => bail!("models: \"auto\" needs compute_budget (FLOPs) or time_budget (seconds)"),
                (c, t) => bail!("models.compute_budget / time_budget must be positive (got {c:?} / {t:?})"),
            }
        }
        for group in &m.freeze {
            vg_training::freeze::parse_group(group).map_err(|e| anyhow::anyhow!("models.freeze: {e}"))?;
        }
        if let (Some(mb), Auto::Fixed(b)) = (m.max_batch, m.batch_size) {
            if mb < b || m.accountant != vg_accounting::AccountantKind::Pld {
                bail!("models.max_batch must be ≥ models.batch_size ({b}) and needs accountant = \"pld\" (got {mb} with {:?})", m.accountant.name());
            }
        }
        if m.shadows == 1 || m.shadows % 2 == 1 {
            bail!("models.shadows must be 0 or an even number, so every record is IN for half of them (got {})", m.shadows);
        }
        let a = &self.attacks;
        if !(a.confidence > 0.0 && a.confidence < 1.0) {
            bail!("attacks.confidence must be in (0, 1) (got {})", a.confidence);
        }
        if !(a.min_k > 0.0 && a.min_k <= 1.0) {
            bail!("attacks.min_k must be in (0, 1] (got {})", a.min_k);
        }
        if let Some(v) = &a.lira_variance {
            if v != "global" && v != "per-example" {
                bail!("attacks.lira_variance must be \"global\" or \"per-example\" (got {v:?})");
            }
        }
        if !(0.0..=1.0).contains(&a.rmia_a) {
            bail!("attacks.rmia_a must be in [0, 1] (got {})", a.rmia_a);
        }
        let c = &self.corpus;
        if !(c.population_fraction > 0.0 && c.population_fraction < 1.0) {
            bail!("corpus.population_fraction must be in (0, 1) (got {})", c.population_fraction);
        }
        if self.canaries.repetitions == 0 {
            bail!("canaries.repetitions must be ≥ 1");
        }
        let x = &self.executor;
        if x.jobs == Some(0) || x.threads_per_model == Some(0) {
            bail!("executor.jobs and executor.threads_per_model must be ≥ 1");
        }
        let sl = &x.slurm;
        if sl.cpus_per_task == 0 || sl.max_parallel == Some(0) {
            bail!("executor.slurm.cpus_per_task and executor.slurm.max_parallel must be ≥ 1");
        }
        if !(sl.poll_seconds > 0.0 && sl.poll_seconds.is_finite()) {
            bail!("executor.slurm.poll_seconds must be > 0 (got {})", sl.poll_seconds);
        }
        for line in sl.extra.iter().chain(&sl.setup).chain([&sl.time, &sl.mem]).chain(&sl.partition) {
            if line.contains('\n') {
                bail!("executor.slurm settings are single lines (got {line:?})");
            }
        }
        let (sy, d) = (&self.synthetic, &self.distill);
        if sy.enabled && (sy.count == 0 || !(sy.temperature > 0.0 && sy.temperature.is_finite())) {
            bail!("synthetic.count must be ≥ 1 and synthetic.temperature > 0 (got {} and {})", sy.count, sy.temperature);
        }
        if !d.student.is_empty() {
            if !sy.enabled {
                bail!("distill.student = {:?} learns from the synthetic records: set synthetic.enabled = true", d.student);
            }
            if !["tiny", "small", "base"].contains(&d.student.as_str()) {
                bail!("distill.student must be tiny, small or base (got {:?})", d.student);
            }
            if d.labels != "soft" && d.labels != "hard" {
                bail!("distill.labels must be \"soft\" or \"hard\" (got {:?})", d.labels);
            }
            if !(d.temperature > 0.0 && d.temperature.is_finite()) {
                bail!("distill.temperature must be > 0 (got {})", d.temperature);
            }
        }
        let e = &self.engine_audit;
        if e.enabled && !(e.steps > 0 && e.canaries >= 2) {
            bail!("engine_audit needs steps ≥ 1 and canaries ≥ 2 (got steps = {}, canaries = {})", e.steps, e.canaries);
        }
        Ok(())
    }

    /// True when a scaling law plans the DP model (preset, batch or steps "auto").
    pub fn plans(&self) -> bool {
        let m = &self.models;
        m.preset == "auto" || m.steps.is_auto() || m.batch_size.is_auto()
    }

    /// The resolved configuration as TOML, every default written out, without `[executor]`:
    /// what determines the results, and what the configuration hash is taken of.
    pub fn to_toml(&self) -> anyhow::Result<String> {
        Ok(toml::to_string_pretty(self)?)
    }

    /// What `<out>/config.toml` holds: [`AuditConfig::to_toml`] followed by the `[executor]`
    /// table the run was started with (recorded, not hashed).
    pub fn to_recorded_toml(&self) -> anyhow::Result<String> {
        #[derive(Serialize)]
        struct Executor<'a> {
            executor: &'a ExecutorSection,
        }
        let executor = toml::to_string_pretty(&Executor { executor: &self.executor })?;
        Ok(format!("{}\n# Where the models were trained (not part of the configuration hash).\n{executor}", self.to_toml()?))
    }
}

/// The commented example written by `vg-audit init`.
pub const EXAMPLE: &str = include_str!("../audit.example.toml");
