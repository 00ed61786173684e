//! The training loop: non-private (fixed batches, gradient accumulation) or DP-SGD (Poisson
//! batches through [`DpSgd`]), with warm-up + cosine learning rate, periodic evaluation, the
//! training curve, periodic resumable checkpoints and `resume`.

use std::path::Path;
use std::time::Instant;

use candle_core::Tensor;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{param_tensors, read_tensors, save_model, write_tensors, CurvePoint, DataHashes, DpRecord, Metrics, ModelJson, MODEL_FORMAT, STATE_FORMAT};
use crate::distill::soft_label_gradient;
use crate::dpsgd::clip::summed_gradient;
use crate::inherit::DistillLabels;
use crate::dpsgd::noise::{seeded_rng, DpRandomness};
use crate::privacy::resolve_privacy;
use crate::scoring::mean_loss;
use crate::{model_input, DpSgd, DpSgdBuilder, Error, Gpt, GptConfig, Optimizer, Result, TrainConfig};

/// Progress of a training run, reported after every step.
#[derive(Debug, Clone)]
pub struct TrainProgress {
    /// Steps done.
    pub step: u64,
    /// Steps in the run.
    pub total_steps: u64,
    /// Mean loss of the last step's batch (not private; NaN for an empty Poisson batch).
    pub loss: f64,
    /// Latest held-out loss.
    pub eval_loss: Option<f64>,
    /// Training tokens per second since the start of this segment.
    pub tokens_per_s: f64,
    /// Seconds since the start (summed over resumed segments).
    pub elapsed_s: f64,
}

/// Resumable state beside the weights (checkpoint/state.json).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TrainState {
    format: String,
    steps_done: u64,
    tensors_file: String,
    architecture: GptConfig,
    train_config: TrainConfig,
    data: DataHashes,
    dp: Option<DpRecord>,
    curve: Vec<CurvePoint>,
    metrics: Metrics,
    window_loss: f64,
    window_steps: u64,
}

/// Trains a model on `train_examples` (token sequences WITHOUT BOS/EOS: `model_input` adds them,
/// canaries included as ordinary examples; with `train_cfg.init`, full model inputs encoded by the
/// checkpoint's tokenizer, and the weights start from that checkpoint) and evaluates on `eval_examples`; writes
/// `out_dir/model.safetensors` + `out_dir/model.json` and periodic checkpoints under
/// `out_dir/checkpoint/`. With `resume`, continues from the last checkpoint (refused with the
/// reason when it belongs to another run). Returns what model.json holds.
pub fn train(
    train_examples: &[Vec<u32>],
    eval_examples: &[Vec<u32>],
    model_cfg: &GptConfig,
    train_cfg: &TrainConfig,
    out_dir: &Path,
    resume: bool,
    progress: &mut dyn FnMut(&TrainProgress),
) -> Result<ModelJson> {
    if matches!(train_cfg.distill.as_ref().map(|d| d.labels), Some(DistillLabels::Soft { .. })) {
        return Err(Error::param("distill.labels", "soft", "soft labels need the teacher: call distill()"));
    }
    train_impl(train_examples, eval_examples, model_cfg, train_cfg, out_dir, resume, None, progress)
}

/// Trains a student on the soft labels of `teacher` (see [`crate::inherit::DistillLabels::Soft`])
/// over `train_examples` (text tokens, as for [`train`]), non-privately; `train_cfg.distill` must
/// ask for soft labels and record the teacher. The student shares the teacher's vocabulary and
/// may not see longer inputs than the teacher's context. Writes model.json like [`train`].
#[allow(clippy::too_many_arguments)]
pub fn distill(
    train_examples: &[Vec<u32>],
    eval_examples: &[Vec<u32>],
    model_cfg: &GptConfig,
    train_cfg: &TrainConfig,
    teacher: &Gpt,
    out_dir: &Path,
    resume: bool,
    progress: &mut dyn FnMut(&TrainProgress),
) -> Result<ModelJson> {
    let Some(DistillLabels::Soft { temperature }) = train_cfg.distill.as_ref().map(|d| d.labels) else {
        return Err(Error::param("distill.labels", "hard", "distill() trains on soft labels; train() trains on the text"));
    };
    let tc = teacher.config();
    if tc.vocab_size != model_cfg.vocab_size {
        return Err(Error::param("student vocab_size", model_cfg.vocab_size, format!("must equal the teacher's {} (one tokenizer)", tc.vocab_size)));
    }
    if tc.context_length < model_cfg.context_length {
        return Err(Error::param("student context_length", model_cfg.context_length, format!("exceeds the teacher's {}", tc.context_length)));
    }
    train_impl(train_examples, eval_examples, model_cfg, train_cfg, out_dir, resume, Some((teacher, temperature)), progress)
}

#[allow(clippy::too_many_arguments)]
fn train_impl(
    train_examples: &[Vec<u32>],
    eval_examples: &[Vec<u32>],
    model_cfg: &GptConfig,
    train_cfg: &TrainConfig,
    out_dir: &Path,
    resume: bool,
    teacher: Option<(&Gpt, f64)>,
    progress: &mut dyn FnMut(&TrainProgress),
) -> Result<ModelJson> {
    model_cfg.validate()?;
    train_cfg.validate()?;
    if train_examples.is_empty() {
        return Err(Error::param("train_examples", 0, "no training examples"));
    }
    for (what, set) in [("training", train_examples), ("evaluation", eval_examples)] {
        for (i, e) in set.iter().enumerate() {
            if let Some(&t) = e.iter().find(|&&t| t as usize >= model_cfg.vocab_size) {
                return Err(Error::param("token id", t, format!("{what} example #{i} has a token outside the vocabulary of {}", model_cfg.vocab_size)));
            }
        }
    }
    let ctx = model_cfg.context_length;
    // A checkpoint's tokenizer already framed its examples; ours get BOS/EOS here.
    let frame = |e: &Vec<u32>| if train_cfg.init.is_some() { e[..e.len().min(ctx)].to_vec() } else { model_input(e, ctx) };
    let inputs: Vec<Vec<u32>> = train_examples.iter().map(frame).collect();
    let eval_inputs: Vec<Vec<u32>> = eval_examples.iter().map(frame).collect();
    let prov = &train_cfg.provenance;
    let data = DataHashes::of(train_examples, eval_examples, prov.tokenizer_sha256.clone(), prov.corpus_manifest_sha256.clone());
    // Privacy first: impossible parameters are refused before any work.
    let dp_record = match &train_cfg.dp {
        Some(dp) => Some(resolve_privacy(dp, train_cfg.batch_size as f64, inputs.len(), train_cfg.steps)?),
        None => None,
    };
    let frozen = crate::freeze::frozen_mask(model_cfg, &train_cfg.freeze)?;
    let dtype = train_cfg.candle_dtype();
    let ckpt_dir = out_dir.join("checkpoint");
    std::fs::create_dir_all(&ckpt_dir).map_err(|e| Error::io(&ckpt_dir, e))?;

    let mut model = match &train_cfg.init {
        Some(init) => {
            let (m, cfg) = init.load(dtype)?;
            if &cfg != model_cfg {
                return Err(Error::param("architecture", serde_json::to_string(model_cfg)?, format!("differs from the initial checkpoint {}'s", init.path.display())));
            }
            m
        }
        None => Gpt::new(model_cfg, dtype, train_cfg.init_seed)?,
    }
    .to_device(&train_cfg.device.0)?;
    let mut opt = Optimizer::new(&train_cfg.optimizer, &model)?;
    let mut state = TrainState {
        format: STATE_FORMAT.into(),
        steps_done: 0,
        tensors_file: String::new(),
        architecture: model_cfg.clone(),
        train_config: train_cfg.clone(),
        data: data.clone(),
        dp: dp_record.clone(),
        curve: Vec::new(),
        metrics: Metrics { num_params: model.num_params(), ..Metrics::default() },
        window_loss: 0.0,
        window_steps: 0,
    };
    let state_path = ckpt_dir.join("state.json");
    if !resume {
        clear_checkpoints(&ckpt_dir)?;
    }
    if resume && state_path.exists() {
        let old = load_state(&state_path)?;
        check_same_run(&state_path, &old, &state)?;
        let tensors = read_tensors(&ckpt_dir.join(&old.tensors_file))?;
        let params = model.param_names().iter().map(|n| {
            tensors.get(&format!("param.{n}")).cloned().map(|t| (n.clone(), t)).ok_or_else(|| Error::BadFile { path: ckpt_dir.join(&old.tensors_file), why: format!("tensor param.{n} missing") })
        }).collect::<Result<std::collections::HashMap<_, _>>>()?;
        model = Gpt::from_tensors(model_cfg, dtype, params)?.to_device(&train_cfg.device.0)?;
        opt = Optimizer::new(&train_cfg.optimizer, &model)?;
        opt.restore(&model, &tensors, old.steps_done)?;
        state = old;
    }

    opt.freeze(frozen.clone());
    let engine_for = |sigma: f64, clip: f64| {
        DpSgdBuilder::new(inputs.len(), train_cfg.batch_size as f64)
            .clip_norm(clip)
            .noise_multiplier(sigma)
            .micro_batch_size(train_cfg.micro_batch_size)
            .frozen(frozen.clone())
    };
    let mut engine: Option<DpSgd> = match (&train_cfg.dp, &dp_record, &train_cfg.noise_study) {
        (Some(dp), Some(rec), _) => Some(
            engine_for(rec.noise_multiplier, dp.clip_norm)
                .max_batch(dp.max_batch)
                .secure_noise(dp.secure_noise)
                .randomness(match dp.insecure_seed {
                    Some(s) => DpRandomness::insecure(s),
                    None => DpRandomness::from_os()?,
                })
                .build()?,
        ),
        // A measurement, not a release: reproducible randomness, no accountant (see NoiseStudy).
        (None, _, Some(ns)) => Some(engine_for(ns.noise_multiplier, ns.clip_norm).randomness(DpRandomness::insecure(ns.seed)).build()?),
        _ => None,
    };
    let mut order = EpochOrder::new(inputs.len(), train_cfg.data_seed);
    let started = Instant::now();
    let elapsed_before = state.metrics.train_seconds;
    let (cpu_before, cpu_at_start) = (state.metrics.cpu_seconds.unwrap_or(0.0), crate::cpu_time::cpu_seconds());
    let mut segment_tokens = 0u64;
    let log_every = (train_cfg.steps / 100).max(1);
    let mut last_eval = state.metrics.eval_loss;
    for step in state.steps_done..train_cfg.steps {
        let lr = train_cfg.lr_at(step);
        let (grads, loss, tokens, examples) = match engine.as_mut() {
            Some(e) => {
                let out = e.step(&model, &inputs, step)?;
                (out.grads, out.mean_loss, out.tokens, out.batch_size)
            }
            None => {
                let idx = order.batch(step, train_cfg.batch_size);
                let (g, loss_sum, tokens) = accumulate(&model, &inputs, &idx, train_cfg.micro_batch_size, teacher)?;
                let b = idx.len() as f64;
                let g = g.iter().map(|t| t / b).collect::<candle_core::Result<Vec<_>>>()?;
                (g, loss_sum / b, tokens, idx.len())
            }
        };
        // An empty Poisson batch has no loss (NaN); any other non-finite loss is divergence.
        if !loss.is_finite() && examples > 0 {
            return Err(Error::Diverged { step, loss, lr });
        }
        opt.step(&model, &grads, lr)?;
        segment_tokens += tokens as u64;
        state.steps_done = step + 1;
        state.metrics.steps_done = step + 1;
        *state.metrics.tokens_seen.get_or_insert(0) += tokens as u64;
        *state.metrics.examples_seen.get_or_insert(0) += examples as u64;
        if loss.is_finite() {
            state.window_loss += loss;
            state.window_steps += 1;
        }
        let elapsed = elapsed_before + started.elapsed().as_secs_f64();
        state.metrics.train_seconds = elapsed;
        state.metrics.cpu_seconds = cpu_at_start.and_then(|c0| Some(cpu_before + crate::cpu_time::cpu_seconds()? - c0));
        let done = step + 1 == train_cfg.steps;
        let eval_now = !eval_inputs.is_empty() && (done || (train_cfg.eval_every > 0 && (step + 1) % train_cfg.eval_every == 0));
        if eval_now {
            last_eval = Some(mean_loss(&model, &eval_inputs, 16)?);
            state.metrics.eval_loss = last_eval;
        }
        if done || eval_now || (step + 1) % log_every == 0 {
            let window = if state.window_steps > 0 { state.window_loss / state.window_steps as f64 } else { f64::NAN };
            let window = window.is_finite().then_some(window);
            state.curve.push(CurvePoint { step: step + 1, loss: window, eval_loss: if eval_now { last_eval } else { None }, elapsed_s: elapsed, lr });
            state.metrics.train_loss = window;
            state.window_loss = 0.0;
            state.window_steps = 0;
        }
        if done || (train_cfg.checkpoint_every > 0 && (step + 1) % train_cfg.checkpoint_every == 0) {
            save_state(&ckpt_dir, &model, &opt, &mut state)?;
        }
        progress(&TrainProgress {
            step: step + 1,
            total_steps: train_cfg.steps,
            loss,
            eval_loss: last_eval,
            tokens_per_s: segment_tokens as f64 / started.elapsed().as_secs_f64().max(1e-9),
            elapsed_s: elapsed,
        });
    }
    let json = ModelJson {
        format: MODEL_FORMAT.into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        architecture: model_cfg.clone(),
        train_config: train_cfg.clone(),
        dp_guarantee: dp_record.as_ref().is_some_and(|d| d.insecure_seed.is_none()),
        dp: dp_record,
        data,
        metrics: state.metrics.clone(),
        curve: state.curve.clone(),
        withheld: Vec::new(),
        shadow: None,
    }
    .released();
    save_model(out_dir, &model, &json)?;
    Ok(json)
}

/// Σ over the examples `idx` of per-example loss gradients (next-token cross-entropy, or the
/// soft-label loss against a teacher at a temperature), accumulated over micro-batches.
fn accumulate(model: &Gpt, inputs: &[Vec<u32>], idx: &[usize], micro: usize, teacher: Option<(&Gpt, f64)>) -> Result<(Vec<Tensor>, f64, usize)> {
    let mut total: Option<Vec<Tensor>> = None;
    let (mut loss, mut tokens) = (0.0, 0);
    for chunk in idx.chunks(micro) {
        let seqs: Vec<&[u32]> = chunk.iter().map(|&i| inputs[i].as_slice()).collect();
        let (g, l, n) = match teacher {
            Some((t, temperature)) => soft_label_gradient(model, t, &seqs, temperature)?,
            None => summed_gradient(model, &seqs)?,
        };
        loss += l;
        tokens += n;
        total = Some(match total {
            None => g,
            Some(acc) => acc.iter().zip(&g).map(|(a, b)| a + b).collect::<candle_core::Result<Vec<_>>>()?,
        });
    }
    Ok((total.expect("batch size ≥ 1"), loss, tokens))
}

/// Non-private data order: epochs of seeded permutations; batch k is positions kB..(k+1)B of
/// their concatenation, so any step's batch is known without replaying earlier ones.
struct EpochOrder {
    n: usize,
    seed: u64,
    epoch: Option<(u64, Vec<usize>)>,
}

impl EpochOrder {
    fn new(n: usize, seed: u64) -> Self {
        EpochOrder { n, seed, epoch: None }
    }
    fn batch(&mut self, step: u64, b: usize) -> Vec<usize> {
        (0..b as u64)
            .map(|j| {
                let pos = step * b as u64 + j;
                let (epoch, within) = (pos / self.n as u64, (pos % self.n as u64) as usize);
                if self.epoch.as_ref().map(|e| e.0) != Some(epoch) {
                    let mut perm: Vec<usize> = (0..self.n).collect();
                    let mut rng = seeded_rng(self.seed);
                    rng.set_stream(epoch);
                    perm.shuffle(&mut rng);
                    self.epoch = Some((epoch, perm));
                }
                self.epoch.as_ref().expect("set above").1[within]
            })
            .collect()
    }
}

fn load_state(path: &Path) -> Result<TrainState> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let s: TrainState = serde_json::from_str(&text).map_err(|e| Error::BadFile { path: path.to_path_buf(), why: e.to_string() })?;
    if s.format != STATE_FORMAT {
        return Err(Error::BadFile { path: path.to_path_buf(), why: format!("format {:?}, expected {STATE_FORMAT:?}", s.format) });
    }
    Ok(s)
}

/// Refuses a checkpoint of another run, naming the first field that differs.
fn check_same_run(path: &Path, old: &TrainState, new: &TrainState) -> Result<()> {
    let mismatch = |field: &str, expected: String, found: String| Error::CheckpointMismatch { path: path.to_path_buf(), field: field.into(), expected, found };
    if old.data.tokenizer_sha256 != new.data.tokenizer_sha256 {
        return Err(mismatch("tokenizer_sha256", format!("{:?}", new.data.tokenizer_sha256), format!("{:?}", old.data.tokenizer_sha256)));
    }
    if old.data != new.data {
        return Err(mismatch("data hashes", serde_json::to_string(&new.data)?, serde_json::to_string(&old.data)?));
    }
    if old.architecture != new.architecture {
        return Err(mismatch("architecture", serde_json::to_string(&new.architecture)?, serde_json::to_string(&old.architecture)?));
    }
    // How often to evaluate or checkpoint does not change the weights; everything else must match.
    let comparable = |c: &TrainConfig| TrainConfig { eval_every: 0, checkpoint_every: 0, ..c.clone() };
    let (a, b) = (serde_json::to_value(comparable(&new.train_config))?, serde_json::to_value(comparable(&old.train_config))?);
    if a != b {
        let field = a.as_object().and_then(|o| o.iter().find(|(k, v)| b.get(k.as_str()) != Some(v)).map(|(k, _)| k.clone())).unwrap_or_else(|| "train_config".into());
        return Err(mismatch(&format!("train_config.{field}"), a.get(&field).map(|v| v.to_string()).unwrap_or_default(), b.get(&field).map(|v| v.to_string()).unwrap_or_default()));
    }
    Ok(())
}

/// Writes weights + optimizer state under a step-numbered name, then state.json pointing at it,
/// then removes older tensor files (a crash at any point leaves a consistent pair).
fn save_state(dir: &Path, model: &Gpt, opt: &Optimizer, state: &mut TrainState) -> Result<()> {
    let mut tensors: std::collections::HashMap<String, Tensor> = param_tensors(model).into_iter().map(|(k, v)| (format!("param.{k}"), v)).collect();
    tensors.extend(opt.state_tensors(model));
    let file = format!("state-{:08}.safetensors", state.steps_done);
    write_tensors(&dir.join(&file), &tensors)?;
    let previous = std::mem::replace(&mut state.tensors_file, file.clone());
    let path = dir.join("state.json");
    vg_corpora::fsutil::atomic_write(&path, serde_json::to_string_pretty(state)?.as_bytes()).map_err(|e| Error::io(&path, e))?;
    if !previous.is_empty() && previous != file {
        let _ = std::fs::remove_file(dir.join(previous));
    }
    Ok(())
}

/// Removes an earlier run's checkpoint files (a fresh run must not leave a stale resume point).
fn clear_checkpoints(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name == "state.json" || (name.starts_with("state-") && name.ends_with(".safetensors")) {
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}
