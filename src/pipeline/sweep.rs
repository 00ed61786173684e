//! `vg-audit sweep` in the library layer: trains the grid of scaling-law points on a prepared
//! corpus (resumable, `jobs` points at a time, one progress bar), writes `results.parquet`, and
//! fits the law or checks a law against the measured curves. The points themselves train in
//! vg-training ([`vg_training::scaling::run_point`]).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context};
use polars::prelude::{Column, DataFrame, ParquetWriter};
use serde::Serialize;
use vg_corpora::PreparedCorpus;
use vg_training::scaling::{self, FitOptions, LawSource, ScalingLaw, SweepPoint, SweepResult, TrainingRecipe};
use vg_training::GptConfig;

/// What to sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Prepared corpus (members train, population evaluates).
    pub corpus: PathBuf,
    /// Output directory (reused to resume).
    pub out: PathBuf,
    /// Model presets.
    pub presets: Vec<String>,
    /// Noise-batch ratios σ̄ (0 is added unless checking a law).
    pub sigma_bars: Vec<f64>,
    /// Steps of every point.
    pub steps: u64,
    /// Evaluation interval.
    pub eval_every: u64,
    /// Physical batch b (σ = σ̄·b).
    pub batch: usize,
    /// Peak learning rate (constant after warm-up).
    pub lr: f64,
    /// Warm-up steps.
    pub warmup: u64,
    /// Clipping norm C.
    pub clip_norm: f64,
    /// Context length of the models.
    pub context: usize,
    /// Held-out records evaluated.
    pub eval_records: usize,
    /// Points trained at once.
    pub jobs: usize,
    /// Seed of initialisation, sampling and noise.
    pub seed: u64,
    /// Extrapolate the law up to this multiple of `steps`.
    pub extrapolate: f64,
    /// Check this law instead of fitting one.
    pub check_law: Option<PathBuf>,
    /// The command line recorded in the law.
    pub command: String,
}

impl SweepOptions {
    /// Refuses settings that cannot produce a law, before any training.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.presets.is_empty() {
            bail!("--presets: give at least one preset");
        }
        for p in &self.presets {
            GptConfig::preset(p, 256).with_context(|| format!("--presets {p}"))?;
        }
        if let Some(s) = self.sigma_bars.iter().find(|s| !(**s >= 0.0 && s.is_finite())) {
            bail!("--sigma-bar {s}: noise-batch ratios must be finite numbers ≥ 0");
        }
        if self.check_law.is_none() && !self.sigma_bars.iter().any(|&s| s > 0.0) {
            bail!("--sigma-bar: give at least one σ̄ > 0 (σ̄ = 0 is always added)");
        }
        if self.steps == 0 || self.eval_every == 0 || self.eval_every > self.steps {
            bail!("--steps {} / --eval-every {}: both must be ≥ 1 and eval-every ≤ steps", self.steps, self.eval_every);
        }
        if self.steps / self.eval_every < 3 {
            bail!("--steps {} / --eval-every {}: the fit needs at least 3 evaluations per curve", self.steps, self.eval_every);
        }
        if self.batch == 0 || self.jobs == 0 || self.eval_records == 0 {
            bail!("--batch, --jobs and --eval-records must be ≥ 1");
        }
        if !(self.lr > 0.0 && self.clip_norm > 0.0 && self.extrapolate >= 1.0) {
            bail!("--lr and --clip-norm must be > 0 and --extrapolate ≥ 1");
        }
        if self.context < 8 {
            bail!("--context {}: must be ≥ 8", self.context);
        }
        Ok(())
    }

    /// Every (preset, σ̄) point, σ̄ = 0 first (not added when checking a law on held-out points).
    pub fn grid(&self) -> Vec<SweepPoint> {
        let mut sigma_bars = self.sigma_bars.clone();
        if self.check_law.is_none() {
            sigma_bars.push(0.0);
        }
        sigma_bars.sort_by(f64::total_cmp);
        sigma_bars.dedup();
        let mut out = Vec::new();
        for preset in &self.presets {
            for &sigma_bar in &sigma_bars {
                out.push(SweepPoint {
                    preset: preset.clone(),
                    sigma_bar,
                    physical_batch: self.batch,
                    steps: self.steps,
                    eval_every: self.eval_every,
                    learning_rate: self.lr,
                    warmup_steps: self.warmup,
                    clip_norm: self.clip_norm,
                    init_seed: self.seed,
                });
            }
        }
        out
    }
}

/// What a sweep produced.
pub enum SweepOutcome {
    /// A fitted law, written to `OUT/law.json`.
    Fitted {
        /// The law.
        law: ScalingLaw,
        /// Where it was written.
        path: PathBuf,
    },
    /// A law checked against the measured curves.
    Checked(LawCheck),
}

/// One measured evaluation next to the law's prediction.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRow {
    /// Preset.
    pub preset: String,
    /// Parameters M.
    pub params: u64,
    /// σ̄.
    pub sigma_bar: f64,
    /// Steps T.
    pub steps: u64,
    /// Measured held-out loss.
    pub measured_eval_loss: f64,
    /// Predicted held-out loss (`None` outside the law's range).
    pub predicted_eval_loss: Option<f64>,
    /// |predicted − measured| / measured.
    pub relative_error: Option<f64>,
}

/// A law compared with held-out configurations.
#[derive(Debug, Clone, Serialize)]
pub struct LawCheck {
    /// The law file.
    pub law: PathBuf,
    /// Every evaluation after warm-up.
    pub rows: Vec<CheckRow>,
    /// The largest relative error.
    pub max_relative_error: f64,
    /// Rows outside the law's range.
    pub outside_law: usize,
    /// The allowed relative error.
    pub tolerance: f64,
    /// No row outside and every error within the tolerance.
    pub pass: bool,
}

/// Runs the sweep: trains the unfinished points, writes `results.parquet`, then fits a law (or
/// checks `check_law` with `tolerance`).
pub fn run(opts: &SweepOptions, tolerance: f64) -> anyhow::Result<SweepOutcome> {
    opts.validate()?;
    let corpus = PreparedCorpus::open(&opts.corpus).with_context(|| format!("opening corpus {}", opts.corpus.display()))?;
    let vocab = corpus.manifest().tokenizer.vocab_size;
    let train: Vec<Vec<u32>> = corpus.members().map(|e| e.tokens.clone()).collect();
    let held_out: Vec<&vg_corpora::Example> = corpus.population().iter().take(opts.eval_records).collect();
    let eval: Vec<Vec<u32>> = held_out.iter().map(|e| e.tokens.clone()).collect();
    if train.is_empty() || eval.is_empty() {
        bail!("corpus {} needs member and population records (has {} and {})", opts.corpus.display(), train.len(), eval.len());
    }
    let models: Vec<(String, GptConfig)> = opts
        .presets
        .iter()
        .map(|p| Ok((p.clone(), GptConfig { context_length: opts.context, ..GptConfig::preset(p, vocab)? })))
        .collect::<anyhow::Result<_>>()?;
    let points = opts.grid();
    let points_dir = opts.out.join("points");
    std::fs::create_dir_all(&points_dir).with_context(|| format!("creating {}", points_dir.display()))?;
    let mut results: Vec<Option<SweepResult>> = points.iter().map(|p| finished(&points_dir, p)).collect::<anyhow::Result<_>>()?;
    let todo: VecDeque<usize> = (0..points.len()).filter(|&i| results[i].is_none()).collect();
    eprintln!("sweep: {} points ({} done), {} steps each, {} training / {} held-out records", points.len(), points.len() - todo.len(), opts.steps, train.len(), eval.len());
    train_points(opts, &models, &points, todo, &train, &eval, &points_dir, &mut results)?;
    let results: Vec<SweepResult> = results.into_iter().map(|r| r.expect("every point finished")).collect();
    write_results(&opts.out.join("results.parquet"), &results)?;
    if let Some(path) = &opts.check_law {
        return Ok(SweepOutcome::Checked(check_law(path, opts.warmup, tolerance, &results)?));
    }
    let source = LawSource {
        corpus: format!("{} (manifest sha256 {})", opts.corpus.display(), corpus.manifest_sha256()),
        command: opts.command.clone(),
        tokens_per_sequence: scaling::tokens_per_sequence(&train, opts.context),
        bytes_per_token: scaling::bytes_per_token(held_out.iter().map(|e| (e.text.len(), e.tokens.len()))),
    };
    let recipe = TrainingRecipe { learning_rate: opts.lr, warmup_steps: opts.warmup, clip_norm: opts.clip_norm, physical_batch: opts.batch, vocab_size: vocab, context_length: opts.context };
    let law = fit(opts, &results, recipe, source)?;
    let path = opts.out.join("law.json");
    vg_corpora::fsutil::atomic_write(&path, law.to_json()?.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    Ok(SweepOutcome::Fitted { law, path })
}

/// The stored result of a finished point; refused when the folder holds another sweep's point.
fn finished(dir: &Path, point: &SweepPoint) -> anyhow::Result<Option<SweepResult>> {
    let path = dir.join(format!("{}.json", point.id()));
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let r: SweepResult = serde_json::from_str(&text).with_context(|| format!("{}: not a sweep result", path.display()))?;
    if &r.point != point {
        bail!("{} belongs to another sweep (its settings differ: {}); use a new --out", path.display(), serde_json::to_string(&r.point)?);
    }
    Ok(Some(r))
}

/// Trains the unfinished points, `jobs` at a time, with one progress bar over all steps.
#[allow(clippy::too_many_arguments)]
fn train_points(
    opts: &SweepOptions,
    models: &[(String, GptConfig)],
    points: &[SweepPoint],
    todo: VecDeque<usize>,
    train: &[Vec<u32>],
    eval: &[Vec<u32>],
    dir: &Path,
    results: &mut [Option<SweepResult>],
) -> anyhow::Result<()> {
    if todo.is_empty() {
        return Ok(());
    }
    let bar = crate::progress::bar(todo.len() as u64 * opts.steps, "sweep", "steps");
    let queue = Mutex::new(todo);
    let positions = Mutex::new(vec![0u64; points.len()]);
    let done: Mutex<Vec<(usize, SweepResult)>> = Mutex::new(Vec::new());
    let first_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.min(points.len()) {
            s.spawn(|| loop {
                if first_error.lock().expect("lock").is_some() {
                    return;
                }
                let Some(i) = queue.lock().expect("lock").pop_front() else { return };
                let p = &points[i];
                let cfg = &models.iter().find(|(name, _)| name == &p.preset).expect("preset in grid").1;
                let run = scaling::run_point(train, eval, cfg, p, &dir.join(p.id()), &mut |pr| {
                    let mut pos = positions.lock().expect("lock");
                    pos[i] = pr.step;
                    bar.set_position(pos.iter().sum());
                    bar.set_prefix(format!("{} σ̄={:.1e} loss {:.3}", p.preset, p.sigma_bar, pr.loss));
                });
                let stored = run.map_err(anyhow::Error::from).and_then(|r| {
                    let path = dir.join(format!("{}.json", p.id()));
                    vg_corpora::fsutil::atomic_write(&path, serde_json::to_string_pretty(&r)?.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
                    Ok(r)
                });
                match stored {
                    Ok(r) => done.lock().expect("lock").push((i, r)),
                    Err(e) => {
                        first_error.lock().expect("lock").get_or_insert(e.context(format!("sweep point {}", p.id())));
                    }
                }
            });
        }
    });
    bar.finish_and_clear();
    if let Some(e) = first_error.into_inner().expect("lock") {
        return Err(e);
    }
    for (i, r) in done.into_inner().expect("lock") {
        results[i] = Some(r);
    }
    Ok(())
}

/// OUT/results.parquet: one row per (point, evaluation), with σ̄, b and σ = σ̄·b (no ε: sweep
/// points are measurements, not releases).
fn write_results(path: &Path, results: &[SweepResult]) -> anyhow::Result<()> {
    type Row<'a> = (&'a SweepResult, &'a (u64, f64, Option<f64>, f64));
    let rows: Vec<Row> = results.iter().flat_map(|r| r.curve.iter().map(move |c| (r, c))).collect();
    let col = |name: &str, f: &dyn Fn(&Row) -> f64| Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>());
    let int = |name: &str, f: &dyn Fn(&Row) -> u64| Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>());
    let cols = vec![
        Column::new("preset".into(), rows.iter().map(|(r, _)| r.point.preset.as_str()).collect::<Vec<_>>()),
        int("params", &|(r, _)| r.params),
        col("sigma_bar", &|(r, _)| r.point.sigma_bar),
        int("physical_batch", &|(r, _)| r.point.physical_batch as u64),
        col("noise_multiplier", &|(r, _)| r.noise_multiplier),
        col("learning_rate", &|(r, _)| r.point.learning_rate),
        int("step", &|(_, c)| c.0),
        col("eval_loss", &|(_, c)| c.1),
        Column::new("train_loss".into(), rows.iter().map(|(_, c)| c.2).collect::<Vec<_>>()),
        col("elapsed_s", &|(_, c)| c.3),
    ];
    let mut df = DataFrame::new(rows.len(), cols)?;
    vg_corpora::fsutil::atomic_write_with(path, |w| ParquetWriter::new(w).finish(&mut df).map(|_| ()).map_err(std::io::Error::other))
        .with_context(|| format!("writing {}", path.display()))
}

fn fit(opts: &SweepOptions, results: &[SweepResult], recipe: TrainingRecipe, source: LawSource) -> anyhow::Result<ScalingLaw> {
    let obs: Vec<_> = results.iter().flat_map(|r| r.observations()).collect();
    let fit_opts = FitOptions { min_steps: opts.warmup + 1, extrapolate_factor: opts.extrapolate, ..FitOptions::default() };
    let mut law = ScalingLaw::fit(&obs, recipe, source, &fit_opts)?;
    for m in &mut law.models {
        let fps: Vec<f64> = results.iter().filter(|r| r.params == m.params).map(|r| r.flops_per_second()).collect();
        m.flops_per_second = Some(fps.iter().sum::<f64>() / fps.len().max(1) as f64);
    }
    Ok(law)
}

/// Predicted versus measured loss at every evaluation after warm-up of the held-out points.
fn check_law(path: &Path, warmup: u64, tolerance: f64, results: &[SweepResult]) -> anyhow::Result<LawCheck> {
    let law = ScalingLaw::load(path)?;
    let mut rows = Vec::new();
    for r in results {
        for &(step, measured, _, _) in r.curve.iter().filter(|c| c.0 > warmup) {
            let predicted = law.predict(r.params as f64, step as f64, r.point.sigma_bar);
            rows.push(CheckRow {
                preset: r.point.preset.clone(),
                params: r.params,
                sigma_bar: r.point.sigma_bar,
                steps: step,
                measured_eval_loss: measured,
                predicted_eval_loss: predicted,
                relative_error: predicted.map(|p| (p - measured).abs() / measured),
            });
        }
    }
    let max_relative_error = rows.iter().filter_map(|r| r.relative_error).fold(0.0, f64::max);
    let outside_law = rows.iter().filter(|r| r.predicted_eval_loss.is_none()).count();
    let pass = outside_law == 0 && max_relative_error <= tolerance;
    Ok(LawCheck { law: path.to_path_buf(), rows, max_relative_error, outside_law, tolerance, pass })
}
