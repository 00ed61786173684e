//! White-box audit of the DP-SGD engine with gradient ("Dirac") canaries in one training run
//! (Steinke, Nasr, Jagielski 2023, "Privacy Auditing with One (1) Training Run"; Nasr et al.
//! 2023, "Tight Auditing of Differentially Private Machine Learning").
//!
//! m canaries, each a synthetic per-example gradient of norm ≫ C along one coordinate of one
//! parameter tensor; the coordinates are the ones real gradients touch least in a short warm-up
//! measurement. Each canary is included with probability ½ (S_i, from a recorded seed) and an
//! included canary takes part in *every* step as one more row of the engine's per-example norm
//! table (Dirac rows rather than crafted text: a row's gradient sits on one known coordinate,
//! while any input sequence's gradient spreads over every tensor), so it passes the same total
//! norm, clip factor, weighted sum and noise as the real examples. Per canary the audited
//! mechanism is the T-fold Gaussian mechanism with μ = √T/σ (no subsampling). This is a
//! statement about the engine, not about the model's leakage of real records (which may be
//! Poisson-sampled and is not audited here).
//!
//! Observations (what the auditor sees): `sum` — the privatised summed gradient (after noise,
//! before division and the optimizer) along the canary's coordinate, summed over all steps
//! (white-box, all iterates); `last-iterate` — the shift of that parameter between the first and
//! the last iterate under plain SGD with a constant learning rate. Both are reported in units of
//! the claimed noise, σC√T, so an included canary scores about μ and an excluded one about 0.

use std::sync::{Arc, Mutex};

use candle_core::DType;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use vg_training::{DpRandomness, DpSgdBuilder, Error, Gpt, GptConfig, GradientCanary, Optimizer, OptimizerConfig, Result, StepView};

/// Seed offset of the warm-up engine's key (noise-free and on fixed batches, so it draws nothing).
const WARMUP_SEED_OFFSET: u64 = 0x5741_524d_5550;

/// What the auditor observes of each canary's coordinate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Observation {
    /// Σ over steps of the privatised summed gradient (white-box, all iterates).
    Sum,
    /// Parameter shift θ₀ − θ_T under plain SGD (last iterate only).
    LastIterate,
}

impl Observation {
    /// The name used on the command line and in JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Observation::Sum => "sum",
            Observation::LastIterate => "last-iterate",
        }
    }
}

impl std::fmt::Display for Observation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Observation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sum" => Ok(Observation::Sum),
            "last-iterate" => Ok(Observation::LastIterate),
            other => Err(Error::param("observation", other, "use sum or last-iterate")),
        }
    }
}

/// Settings of one engine audit.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineAuditConfig {
    /// Number of gradient canaries m.
    pub canaries: usize,
    /// DP-SGD steps T (every included canary is in every step).
    pub steps: u64,
    /// Noise multiplier σ as claimed (noise std σC on the summed gradient).
    pub noise_multiplier: f64,
    /// Clipping norm C.
    pub clip_norm: f64,
    /// Canary gradient norm as a multiple of C (≫ 1, so clipping always binds).
    pub canary_norm_factor: f64,
    /// Parameter tensor for the canaries; `None` picks the tensor whose m least-touched
    /// coordinates real gradients touched least in the warm-up.
    pub tensor: Option<String>,
    /// Real examples (the first ones of the data) whose clipped, noise-free summed gradient at the
    /// initial weights measures which coordinates real gradients touch (no update is made).
    pub warmup_examples: usize,
    /// Expected batch size of real examples (Poisson sampling, q = B/N).
    pub expected_batch_size: f64,
    /// Physical micro-batch size.
    pub micro_batch_size: usize,
    /// Constant SGD learning rate.
    pub learning_rate: f64,
    /// What the auditor observes.
    pub observation: Observation,
    /// Seed of the canaries' inclusion bits S_i (recorded: the audit's answer key).
    pub seed: u64,
    /// Seed of the model initialisation.
    pub init_seed: u64,
    /// Seed of DP sampling and noise; `None` draws a secret key from the operating system.
    pub noise_seed: Option<u64>,
}

impl Default for EngineAuditConfig {
    fn default() -> Self {
        EngineAuditConfig {
            canaries: 10_000,
            steps: 1,
            noise_multiplier: 1.0,
            clip_norm: 1.0,
            canary_norm_factor: 1000.0,
            tensor: None,
            warmup_examples: 512,
            expected_batch_size: 8.0,
            micro_batch_size: 32,
            learning_rate: 0.05,
            observation: Observation::Sum,
            seed: 0,
            init_seed: 0,
            noise_seed: None,
        }
    }
}

impl EngineAuditConfig {
    /// μ = √T/σ of the audited mechanism (T-fold Gaussian, no subsampling).
    pub fn mu(&self) -> f64 {
        vg_accounting::gaussian::mu_for_steps(self.noise_multiplier, self.steps)
    }

    /// Refuses settings that cannot give a meaningful audit, naming the value.
    pub fn validate(&self) -> Result<()> {
        if self.canaries < 2 {
            return Err(Error::param("canaries", self.canaries, "need at least 2 gradient canaries"));
        }
        if self.steps == 0 {
            return Err(Error::param("steps", 0, "need at least one DP-SGD step"));
        }
        if !(self.noise_multiplier > 0.0 && self.noise_multiplier.is_finite()) {
            return Err(Error::privacy(
                "noise_multiplier",
                self.noise_multiplier,
                "must be > 0 and finite: without noise there is no finite ε to audit",
            ));
        }
        if !(self.clip_norm > 0.0 && self.clip_norm.is_finite()) {
            return Err(Error::privacy("clip_norm", self.clip_norm, "must be a positive finite number"));
        }
        if !(self.canary_norm_factor > 1.0 && self.canary_norm_factor.is_finite()) {
            return Err(Error::param("canary_norm_factor", self.canary_norm_factor, "must exceed 1 so that clipping binds"));
        }
        if self.warmup_examples == 0 {
            return Err(Error::param("warmup_examples", 0, "need at least one warm-up example to find the coordinates real gradients touch least"));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(Error::param("learning_rate", self.learning_rate, "must be a positive finite number"));
        }
        Ok(())
    }
}

/// The statistics of one engine audit: one score per canary (higher = more likely included)
/// with the answer key, ready for the one-run bounds in `vg_attacks::bounds`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EngineAuditOutcome {
    /// Per-canary statistic in units of σC√T: ≈ μ·[S_i = +1] + N(0, 1) for a correct engine.
    pub statistics: Vec<f64>,
    /// S_i: whether canary i was included.
    pub included: Vec<bool>,
    /// Flat coordinate of each canary in `tensor`.
    pub coordinates: Vec<usize>,
    /// The parameter tensor holding the canaries.
    pub tensor: String,
    /// What the statistics observe.
    pub observation: Observation,
    /// μ = √T/σ of the claimed mechanism.
    pub mu: f64,
    /// Steps T.
    pub steps: u64,
    /// Noise multiplier σ as claimed.
    pub noise_multiplier: f64,
    /// Clipping norm C.
    pub clip_norm: f64,
    /// Sampling rate q of the real examples.
    pub sampling_rate: f64,
    /// Largest warm-up |summed real gradient| at a chosen coordinate (0 = untouched).
    pub max_warmup_touch: f64,
    /// Mean per-example loss of real examples over the audit's steps (not private).
    pub mean_loss: f64,
    /// Seed of the inclusion bits.
    pub seed: u64,
}

/// Per-coordinate Σ over warm-up micro-batches of |clipped summed real gradient| (no noise, no
/// update) of every tensor with at least `m` coordinates.
fn warmup_touch(model: &Gpt, data: &[Vec<u32>], cfg: &EngineAuditConfig) -> Result<Vec<Option<Vec<f64>>>> {
    let n_params = model.params().len();
    let touch: Arc<Mutex<Vec<Option<Vec<f64>>>>> = Arc::new(Mutex::new(vec![None; n_params]));
    let sink = Arc::clone(&touch);
    let m = cfg.canaries;
    let observer = Box::new(move |view: &StepView<'_>| -> Result<()> {
        let mut acc = sink.lock().expect("warm-up accumulator poisoned");
        for (p, t) in view.summed.iter().enumerate() {
            if t.elem_count() < m {
                continue;
            }
            let values = t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
            let slot = acc[p].get_or_insert_with(|| vec![0.0; values.len()]);
            for (s, v) in slot.iter_mut().zip(values) {
                *s += v.abs();
            }
        }
        Ok(())
    });
    let mut engine = DpSgdBuilder::new(data.len(), cfg.expected_batch_size)
        .clip_norm(cfg.clip_norm)
        .noise_multiplier(0.0)
        .micro_batch_size(cfg.micro_batch_size)
        .randomness(DpRandomness::insecure(cfg.seed.wrapping_add(WARMUP_SEED_OFFSET)))
        .observer(observer)
        .build()?;
    let warmup = &data[..cfg.warmup_examples.min(data.len())];
    for (step, chunk) in warmup.chunks(cfg.micro_batch_size).enumerate() {
        let seqs: Vec<&[u32]> = chunk.iter().map(Vec::as_slice).collect();
        engine.step_on_batch(model, &seqs, step as u64)?;
    }
    drop(engine);
    let acc = touch.lock().expect("warm-up accumulator poisoned");
    Ok(acc.clone())
}

/// Indices of the m smallest values (ties by index).
fn least_touched(touch: &[f64], m: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..touch.len()).collect();
    order.sort_by(|&a, &b| touch[a].total_cmp(&touch[b]).then(a.cmp(&b)));
    order.truncate(m);
    order
}

/// Chooses the canaries' tensor and coordinates from the warm-up measurement.
fn place_canaries(model: &Gpt, data: &[Vec<u32>], cfg: &EngineAuditConfig) -> Result<(usize, Vec<usize>, f64)> {
    let names = model.param_names();
    let m = cfg.canaries;
    let candidate = |p: usize| -> Result<()> {
        let numel = model.params()[p].as_tensor().elem_count();
        if numel < m {
            return Err(Error::param("canaries", m, format!("tensor {} has only {numel} coordinates", names[p])));
        }
        Ok(())
    };
    let fixed = match &cfg.tensor {
        Some(name) => {
            let p = model.param_index(name).ok_or_else(|| Error::param("tensor", name, "no parameter tensor of that name"))?;
            candidate(p)?;
            Some(p)
        }
        None => None,
    };
    let touch = warmup_touch(model, data, cfg)?;
    let score = |p: usize| -> Option<(f64, Vec<usize>)> {
        let t = touch[p].as_ref()?;
        let coords = least_touched(t, m);
        let worst = coords.iter().map(|&i| t[i]).fold(0.0, f64::max);
        Some((worst, coords))
    };
    let (p, (worst, coords)) = match fixed {
        Some(p) => (p, score(p).ok_or_else(|| Error::param("tensor", &names[p], "no warm-up measurement of this tensor"))?),
        None => {
            let mut best: Option<(usize, (f64, Vec<usize>))> = None;
            for p in 0..names.len() {
                if let Some(s) = score(p) {
                    // Least touched first; among equals, the larger tensor (more room).
                    let better = match &best {
                        None => true,
                        Some((bp, bs)) => {
                            s.0 < bs.0 || (s.0 == bs.0 && touch[p].as_ref().map_or(0, Vec::len) > touch[*bp].as_ref().map_or(0, Vec::len))
                        }
                    };
                    if better {
                        best = Some((p, s));
                    }
                }
            }
            best.ok_or_else(|| Error::param("canaries", m, "no parameter tensor has that many coordinates"))?
        }
    };
    Ok((p, coords, worst))
}

/// Values of tensor `p` at `coords`, in f64.
fn values_at(model: &Gpt, p: usize, coords: &[usize]) -> Result<Vec<f64>> {
    let flat = model.params()[p].as_tensor().flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
    Ok(coords.iter().map(|&i| flat[i]).collect())
}

/// Trains `model_cfg` on `data` (full model inputs) with DP-SGD and m gradient canaries, and
/// returns each canary's statistic with the answer key. `configure` may adjust the engine's
/// builder before it is built (mutation tests inject faults there; pass `&|b| b` otherwise).
/// `progress(done, total)` counts the warm-up as one step.
pub fn run_engine_audit(
    model_cfg: &GptConfig,
    data: &[Vec<u32>],
    cfg: &EngineAuditConfig,
    configure: &dyn Fn(DpSgdBuilder) -> DpSgdBuilder,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<EngineAuditOutcome> {
    cfg.validate()?;
    model_cfg.validate()?;
    if data.is_empty() {
        return Err(Error::param("data", 0, "the engine audit needs at least one real training example"));
    }
    let total = 1 + cfg.steps;
    let model = Gpt::new(model_cfg, DType::F32, cfg.init_seed)?;
    let (p, coords, max_warmup_touch) = place_canaries(&model, data, cfg)?;
    progress(1, total);
    let tensor = model.param_names()[p].clone();

    let mut rng = ChaCha20Rng::seed_from_u64(cfg.seed);
    let included: Vec<bool> = (0..cfg.canaries).map(|_| rng.random()).collect();
    let value = cfg.canary_norm_factor * cfg.clip_norm;
    let canaries: Vec<GradientCanary> = coords
        .iter()
        .zip(&included)
        .filter(|(_, &inc)| inc)
        .map(|(&index, _)| GradientCanary { tensor: tensor.clone(), index, value })
        .collect();

    let sums: Arc<Mutex<Vec<f64>>> = Arc::new(Mutex::new(vec![0.0; cfg.canaries]));
    let sink = Arc::clone(&sums);
    let watched = coords.clone();
    let observer = Box::new(move |view: &StepView<'_>| -> Result<()> {
        let flat = view.summed[p].flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
        let mut acc = sink.lock().expect("canary accumulator poisoned");
        for (a, &i) in acc.iter_mut().zip(&watched) {
            *a += flat[i];
        }
        Ok(())
    });
    let randomness = match cfg.noise_seed {
        Some(s) => DpRandomness::insecure(s),
        None => DpRandomness::from_os()?,
    };
    let builder = DpSgdBuilder::new(data.len(), cfg.expected_batch_size)
        .clip_norm(cfg.clip_norm)
        .noise_multiplier(cfg.noise_multiplier)
        .micro_batch_size(cfg.micro_batch_size)
        .randomness(randomness)
        .canaries(canaries)
        .observer(observer);
    let mut engine = configure(builder).build()?;
    let mut optimizer = Optimizer::new(&OptimizerConfig::Sgd { momentum: 0.0 }, &model)?;
    let before = values_at(&model, p, &coords)?;
    let (mut loss_sum, mut loss_steps) = (0.0, 0u64);
    for step in 0..cfg.steps {
        let out = engine.step(&model, data, step)?;
        if out.mean_loss.is_finite() {
            loss_sum += out.mean_loss;
            loss_steps += 1;
        }
        optimizer.step(&model, &out.grads, cfg.learning_rate)?;
        progress(step + 2, total);
    }
    let sampling_rate = engine.sampling_rate();
    drop(engine);
    let after = values_at(&model, p, &coords)?;

    // One unit = the claimed noise std of the T-step sum, σC√T.
    let unit = cfg.noise_multiplier * cfg.clip_norm * (cfg.steps as f64).sqrt();
    let statistics: Vec<f64> = match cfg.observation {
        Observation::Sum => sums.lock().expect("canary accumulator poisoned").iter().map(|s| s / unit).collect(),
        // θ_T = θ₀ − (η/B) Σ_t g_t under constant-rate SGD, so (θ₀ − θ_T)·B/η is the same sum.
        Observation::LastIterate => before
            .iter()
            .zip(&after)
            .map(|(b, a)| (b - a) * cfg.expected_batch_size / cfg.learning_rate / unit)
            .collect(),
    };
    Ok(EngineAuditOutcome {
        statistics,
        included,
        coordinates: coords,
        tensor,
        observation: cfg.observation,
        mu: cfg.mu(),
        steps: cfg.steps,
        noise_multiplier: cfg.noise_multiplier,
        clip_norm: cfg.clip_norm,
        sampling_rate,
        max_warmup_touch,
        mean_loss: if loss_steps == 0 { f64::NAN } else { loss_sum / loss_steps as f64 },
        seed: cfg.seed,
    })
}
