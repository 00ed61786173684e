//! The DP-SGD step as named stages (after Opacus `DPOptimizer.pre_step`):
//! sample (Poisson) → clip_and_accumulate (real examples and canary rows in one norm table) →
//! add_noise → observe → scale_grad.

use candle_core::Tensor;
use rayon::prelude::*;

use super::clip::{clip_and_accumulate_planned, CanaryRow, ClipPlan};
use super::noise::{add_gaussian, poisson_sample, DpRandomness};
use crate::model::Gpt;
use crate::{Error, Result};

/// A synthetic per-example gradient with one non-zero coordinate ("Dirac" canary): `value` at
/// flat index `index` of tensor `tensor`. It enters the per-example norm table as one more row of
/// the first micro-batch of every step, so it is clipped, summed and noised exactly like a real
/// example (through the same total norm, clip factor and weighted sum).
#[derive(Debug, Clone, PartialEq)]
pub struct GradientCanary {
    /// Parameter tensor name (see [`Gpt::param_names`]).
    pub tensor: String,
    /// Flat (row-major) coordinate in that tensor.
    pub index: usize,
    /// The gradient value (its norm is |value|).
    pub value: f64,
}

/// Deliberate engine faults for mutation tests of the auditing code: settable only with the
/// `test-utils` feature, so a normal build cannot train with them.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineFaults {
    /// Multiplies the noise std (1.0 = correct).
    pub noise_scale: f64,
    /// This tensor's contributions are summed unclipped.
    pub skip_clip_tensor: Option<String>,
    /// This tensor gets no noise.
    pub skip_noise_tensor: Option<String>,
    /// This tensor's per-example norm is under-estimated ×¼ (inside the norm table).
    pub underestimate_norm_tensor: Option<String>,
}

impl Default for EngineFaults {
    fn default() -> Self {
        EngineFaults { noise_scale: 1.0, skip_clip_tensor: None, skip_noise_tensor: None, underestimate_norm_tensor: None }
    }
}

/// What the observer sees each step: the privatised *summed* gradient (clipped sum + canaries +
/// noise), before division by the expected batch size and before the optimizer.
pub struct StepView<'a> {
    /// Step number (0-based).
    pub step: u64,
    /// Realised batch size (real examples; canaries not counted).
    pub batch_size: usize,
    /// Parameter names, parallel to `summed`.
    pub names: &'a [String],
    /// Privatised summed gradient per parameter tensor.
    pub summed: &'a [Tensor],
}

/// A per-step observer of the privatised summed gradient.
pub type StepObserver = Box<dyn FnMut(&StepView<'_>) -> Result<()> + Send>;

/// Result of one DP-SGD step: the gradient to hand to the optimizer and some statistics.
pub struct DpStep {
    /// (clipped sum + noise) / expected batch size, per parameter.
    pub grads: Vec<Tensor>,
    /// Realised (Poisson) batch size.
    pub batch_size: usize,
    /// Mean per-example loss of the realised batch (NaN when empty; not private).
    pub mean_loss: f64,
    /// Real target tokens processed.
    pub tokens: usize,
    /// Fraction of examples whose gradient norm exceeded C (not private).
    pub clipped_fraction: f64,
}

/// The DP-SGD engine. Build it with [`DpSgdBuilder`], which refuses impossible parameters.
pub struct DpSgd {
    clip_norm: f64,
    noise_multiplier: f64,
    sampling_rate: f64,
    expected_batch_size: f64,
    max_batch: Option<usize>,
    micro_batch_size: usize,
    randomness: DpRandomness,
    secure_noise: bool,
    faults: EngineFaults,
    canaries: Vec<GradientCanary>,
    observer: Option<StepObserver>,
    frozen: Vec<bool>,
}

/// Builder for [`DpSgd`].
pub struct DpSgdBuilder {
    clip_norm: f64,
    noise_multiplier: f64,
    dataset_size: usize,
    expected_batch_size: f64,
    max_batch: Option<usize>,
    micro_batch_size: usize,
    randomness: Option<DpRandomness>,
    secure_noise: bool,
    faults: EngineFaults,
    canaries: Vec<GradientCanary>,
    observer: Option<StepObserver>,
    frozen: Vec<bool>,
}

impl DpSgdBuilder {
    /// Starts a builder for a dataset of `dataset_size` examples and an expected batch of
    /// `expected_batch_size` (sampling rate q = expected / N).
    pub fn new(dataset_size: usize, expected_batch_size: f64) -> Self {
        DpSgdBuilder {
            clip_norm: 1.0,
            noise_multiplier: 1.0,
            dataset_size,
            expected_batch_size,
            max_batch: None,
            micro_batch_size: 32,
            randomness: None,
            secure_noise: false,
            faults: EngineFaults::default(),
            canaries: Vec::new(),
            observer: None,
            frozen: Vec::new(),
        }
    }
    /// Frozen parameters (`frozen[i]`, in [`Gpt::params`] order): no gradient, no share of the
    /// per-example norm, no noise (see [`crate::freeze`]).
    pub fn frozen(mut self, frozen: Vec<bool>) -> Self {
        self.frozen = frozen;
        self
    }
    /// Flat clipping norm C.
    pub fn clip_norm(mut self, c: f64) -> Self {
        self.clip_norm = c;
        self
    }
    /// Noise multiplier σ (noise std σ·C on the sum).
    pub fn noise_multiplier(mut self, s: f64) -> Self {
        self.noise_multiplier = s;
        self
    }
    /// Truncated Poisson: at most this many examples per logical batch.
    pub fn max_batch(mut self, m: Option<usize>) -> Self {
        self.max_batch = m;
        self
    }
    /// Physical micro-batch size (memory bound).
    pub fn micro_batch_size(mut self, m: usize) -> Self {
        self.micro_batch_size = m;
        self
    }
    /// The randomness (default: a fresh OS-seeded key).
    pub fn randomness(mut self, r: DpRandomness) -> Self {
        self.randomness = Some(r);
        self
    }
    /// Sum-of-4-Gaussians noise (floating-point mitigation, 4× noise cost).
    pub fn secure_noise(mut self, on: bool) -> Self {
        self.secure_noise = on;
        self
    }
    /// Deliberate faults (mutation tests only; `test-utils` feature).
    #[cfg(feature = "test-utils")]
    pub fn faults(mut self, f: EngineFaults) -> Self {
        self.faults = f;
        self
    }
    /// Gradient canaries injected at every step.
    pub fn canaries(mut self, c: Vec<GradientCanary>) -> Self {
        self.canaries = c;
        self
    }
    /// An observer of each step's privatised summed gradient.
    pub fn observer(mut self, o: StepObserver) -> Self {
        self.observer = Some(o);
        self
    }
    /// Checks every parameter, then builds the engine.
    pub fn build(self) -> Result<DpSgd> {
        let q = crate::privacy::sampling_rate(self.expected_batch_size, self.dataset_size)?;
        if !(self.clip_norm > 0.0 && self.clip_norm.is_finite()) {
            return Err(Error::privacy("clip_norm", self.clip_norm, "must be a positive finite number"));
        }
        if !(self.noise_multiplier >= 0.0 && self.noise_multiplier.is_finite()) {
            return Err(Error::privacy("noise_multiplier", self.noise_multiplier, "must be ≥ 0 and finite"));
        }
        if self.micro_batch_size == 0 {
            return Err(Error::param("micro_batch_size", 0, "must be ≥ 1"));
        }
        if !(self.faults.noise_scale >= 0.0) {
            return Err(Error::param("faults.noise_scale", self.faults.noise_scale, "must be ≥ 0"));
        }
        let randomness = match self.randomness {
            Some(r) => r,
            None => DpRandomness::from_os()?,
        };
        Ok(DpSgd {
            clip_norm: self.clip_norm,
            noise_multiplier: self.noise_multiplier,
            sampling_rate: q,
            expected_batch_size: self.expected_batch_size,
            max_batch: self.max_batch,
            micro_batch_size: self.micro_batch_size,
            randomness,
            secure_noise: self.secure_noise,
            faults: self.faults,
            canaries: self.canaries,
            observer: self.observer,
            frozen: self.frozen,
        })
    }
}

impl DpSgd {
    /// Sampling rate q.
    pub fn sampling_rate(&self) -> f64 {
        self.sampling_rate
    }
    /// Noise multiplier σ.
    pub fn noise_multiplier(&self) -> f64 {
        self.noise_multiplier
    }
    /// Clipping norm C.
    pub fn clip_norm(&self) -> f64 {
        self.clip_norm
    }
    /// The insecure seed, if the randomness is not secret.
    pub fn insecure_seed(&self) -> Option<u64> {
        self.randomness.insecure_seed()
    }

    /// Stage 1: the Poisson-sampled indices of step `step` out of `n` examples.
    pub fn sample_batch(&self, step: u64, n: usize) -> Vec<usize> {
        poisson_sample(&mut self.randomness.sampling_rng(step), n, self.sampling_rate, self.max_batch)
    }

    /// Samples step `step`'s batch from `dataset` (full model inputs) and privatises its gradient.
    pub fn step(&mut self, model: &Gpt, dataset: &[Vec<u32>], step: u64) -> Result<DpStep> {
        let idx = self.sample_batch(step, dataset.len());
        let seqs: Vec<&[u32]> = idx.iter().map(|&i| dataset[i].as_slice()).collect();
        self.step_on_batch(model, &seqs, step)
    }

    /// Stages 2–6 on a given batch (tests and audits use this to fix the batch).
    pub fn step_on_batch(&mut self, model: &Gpt, seqs: &[&[u32]], step: u64) -> Result<DpStep> {
        let names = model.param_names().to_vec();
        let index_of = |name: &Option<String>, what: &'static str| -> Result<Option<usize>> {
            match name {
                None => Ok(None),
                Some(n) => model.param_index(n).map(Some).ok_or_else(|| Error::param(what, n, "no parameter tensor of that name")),
            }
        };
        let skip_clip = index_of(&self.faults.skip_clip_tensor, "faults.skip_clip_tensor")?;
        let skip_noise = index_of(&self.faults.skip_noise_tensor, "faults.skip_noise_tensor")?;
        let shrink_norm = index_of(&self.faults.underestimate_norm_tensor, "faults.underestimate_norm_tensor")?;
        let canaries = self
            .canaries
            .iter()
            .map(|c| {
                let param = model.param_index(&c.tensor).ok_or_else(|| Error::param("canary.tensor", &c.tensor, "no parameter tensor of that name"))?;
                Ok(CanaryRow { param, index: c.index, value: c.value })
            })
            .collect::<Result<Vec<_>>>()?;
        // Stage 2: clip and accumulate over physical micro-batches; the canary rows join the first.
        let mut sums: Vec<Tensor> = Vec::new();
        let (mut loss_sum, mut tokens, mut n_clipped) = (0.0, 0, 0usize);
        let mut chunks: Vec<&[&[u32]]> = seqs.chunks(self.micro_batch_size).collect();
        if chunks.is_empty() && !canaries.is_empty() {
            chunks.push(&[]);
        }
        for (k, chunk) in chunks.into_iter().enumerate() {
            let plan = ClipPlan { frozen: &self.frozen, canaries: if k == 0 { &canaries } else { &[] }, skip_clip, shrink_norm };
            let part = clip_and_accumulate_planned(model, chunk, self.clip_norm, &plan)?;
            if sums.is_empty() {
                sums = part.sums;
            } else {
                for (acc, s) in sums.iter_mut().zip(part.sums) {
                    *acc = (&*acc + s)?;
                }
            }
            loss_sum += part.loss_sum;
            tokens += part.tokens;
            n_clipped += part.norms.iter().filter(|&&n| n > self.clip_norm).count();
        }
        if sums.is_empty() {
            // No micro-batch and no canary: the clipped sum is zero.
            sums = model.params().iter().map(|v| v.as_tensor().zeros_like()).collect::<candle_core::Result<_>>()?;
        }
        // Stage 4: Gaussian noise N(0, σ²C²) per coordinate.
        let std = self.noise_multiplier * self.clip_norm * self.faults.noise_scale;
        // Each tensor from its own segment of the step's noise stream: over the rayon threads,
        // the same values on any number of them.
        let (randomness, frozen, secure) = (&self.randomness, &self.frozen, self.secure_noise);
        let noise_one = |(i, s): (usize, Tensor)| -> Result<Tensor> {
            // Frozen parameters release nothing, so they get no noise.
            if skip_noise == Some(i) || frozen.get(i).copied().unwrap_or(false) {
                return Ok(s);
            }
            let mut segment = randomness.noise_rng(step, i);
            let noised = add_gaussian(&s, std, &mut segment.rng, secure)?;
            segment.check()?;
            Ok(noised)
        };
        let sums: Vec<Tensor> = if rayon::current_num_threads() > 1 {
            sums.into_par_iter().enumerate().map(noise_one).collect::<Result<_>>()?
        } else {
            sums.into_iter().enumerate().map(noise_one).collect::<Result<_>>()?
        };
        // Stage 5: observer.
        if let Some(obs) = self.observer.as_mut() {
            obs(&StepView { step, batch_size: seqs.len(), names: &names, summed: &sums })?;
        }
        // Stage 6: divide by the expected batch size, never the realised one.
        let grads = sums.iter().map(|s| s / self.expected_batch_size).collect::<candle_core::Result<Vec<_>>>()?;
        let b = seqs.len();
        Ok(DpStep {
            grads,
            batch_size: b,
            mean_loss: if b == 0 { f64::NAN } else { loss_sum / b as f64 },
            tokens,
            clipped_fraction: if b == 0 { 0.0 } else { n_clipped as f64 / b as f64 },
        })
    }
}

/// Ensures a gradient list matches the model (used by the optimizer).
pub(crate) fn check_grads(model: &Gpt, grads: &[Tensor]) -> Result<()> {
    if grads.len() != model.params().len() {
        return Err(Error::param("grads", grads.len(), format!("model has {} parameter tensors", model.params().len())));
    }
    for (g, v) in grads.iter().zip(model.params()) {
        if g.dims() != v.dims() || g.dtype() != v.dtype() {
            return Err(Error::param("grads", format!("{:?}", g.dims()), format!("parameter has shape {:?}", v.dims())));
        }
    }
    Ok(())
}
