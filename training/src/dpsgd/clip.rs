//! Per-example gradient norms and the clipped sum from ONE backward pass (ghost norms +
//! book-keeping, Bu et al. 2023 "Differentially private optimization on large model at small cost";
//! ghost norm of a linear layer: Li et al. 2022, "Large language models can be strong DP learners").
//! Also the slow reference (one backward per example, "variant A") that the tests compare against.

use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;

use crate::batch::{per_example_loss, Batch};
use crate::hooks::{HookKind, HookTape};
use crate::kernels::path::{self, per_example_sums};
use crate::kernels::KernelPath;
use crate::model::{Gpt, Mode};
use crate::whole_pass::{self, HookedLayer, PassProduct, Recorded};
use crate::{Error, Result};

/// Sum over a micro-batch (or several) of clipped per-example gradients, one tensor per parameter.
pub struct ClippedGradients {
    /// Clipped sums, in the model's parameter order.
    pub sums: Vec<Tensor>,
    /// Unclipped per-example gradient norms (flat, over all parameters), in example order.
    pub norms: Vec<f64>,
    /// Σ of per-example losses (for reporting; not privatised).
    pub loss_sum: f64,
    /// Real target tokens processed.
    pub tokens: usize,
}

/// Flat clipping factor c = min(1, C / (‖g‖ + 1e-6)) (Abadi et al. 2016; the 1e-6 as in Opacus).
pub fn clip_factor(norm: f64, clip_norm: f64) -> f64 {
    (clip_norm / (norm + 1e-6)).min(1.0)
}

/// Largest number of per-example gradient elements kept for reuse in the clipped sum
/// (64 Mi elements: 256 MB in f32); beyond it the clipped sum is recomputed by one matmul.
const KEEP_PER_EXAMPLE_ELEMENTS: usize = 64 << 20;

/// ‖Σ_t g_t a_tᵀ‖² per example: ghost form Σ_{t,t'} (a_t·a_t')(g_t·g_t') when T(din+dout) < din·dout,
/// else the materialised per-example gradient (chosen by cost, Bu et al. 2023 §3), which is
/// returned so the clipped sum can reuse it instead of running another matmul.
fn linear_sq_norm(a: &Tensor, g: &Tensor, kernels: KernelPath) -> Result<(Tensor, Option<Tensor>)> {
    let (_, t, din) = a.dims3()?;
    let dout = g.dim(2)?;
    if t * (din + dout) < din * dout {
        Ok((path::ghost_sq_norms(kernels, a, g)?, None))
    } else {
        let per_example = path::per_example_weight_grads(kernels, a, g)?;
        Ok((path::per_example_sq_norms(kernels, &per_example)?, Some(per_example)))
    }
}

/// Σ_b c_b s_b (d) for per-example sums s (B, d) and factors c (B, 1, 1).
fn weighted_rows(c: &Tensor, s: &Tensor) -> Result<Tensor> {
    let b = s.dim(0)?;
    Ok(c.reshape((1, b))?.matmul(s)?.squeeze(0)?)
}

/// One hooked layer after backward: its input a, output gradient g, and what the norm pass kept
/// for the clipped sum (per-example weight gradients; Σ_t g and Σ_t g⊙a per example).
struct LayerGrads {
    kind: HookKind,
    /// A linear layer's input and output gradient (None for a LayerNorm affine).
    acts: Option<(Tensor, Tensor)>,
    per_example: Option<Tensor>,
    sum_g: Option<Tensor>,
    sum_ga: Option<Tensor>,
}

/// A gradient canary as one extra per-example row of the norm table: a synthetic gradient with
/// the single non-zero coordinate `value` at flat `index` of parameter `param` (see
/// [`crate::GradientCanary`]). Its row goes through the same total norm, clip factor and
/// weighted sum as the real examples' rows, so a fault there shows on the canaries too.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CanaryRow {
    /// Parameter index (in [`Gpt::params`] order).
    pub param: usize,
    /// Flat (row-major) coordinate in that parameter.
    pub index: usize,
    /// The gradient value; its norm is |value|.
    pub value: f64,
}

/// How one micro-batch is clipped: frozen parameters, canary rows, and the test-only faults.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClipPlan<'a> {
    /// `frozen[i]`: parameter i adds nothing to the norm and gets a zero sum.
    pub frozen: &'a [bool],
    /// Canary rows entered into this micro-batch's norm table.
    pub canaries: &'a [CanaryRow],
    /// Fault: this parameter's contributions are summed unclipped (real and canary rows).
    pub skip_clip: Option<usize>,
    /// Fault: this parameter's per-example norm is under-estimated ×¼ (its squared-norm column ×1/16).
    pub shrink_norm: Option<usize>,
}

/// The clip factors of a micro-batch from its per-tensor squared-norm table (rows: `live.len()`
/// real examples, then the canaries): Σ over tensors, square root, [`clip_factor`]. Returns the
/// norms of every row, the factors (n, 1, 1), and the "no clipping" factors of `skip_clip`.
fn clip_factors(sq: Vec<Tensor>, live: &[bool], plan: &ClipPlan<'_>, clip_norm: f64, dtype: DType, dev: &Device) -> Result<(Vec<f64>, Vec<f64>, Tensor, Tensor)> {
    let (b, m) = (live.len(), plan.canaries.len());
    let n = b + m;
    // Host vectors become tensors on the engine's device.
    let on_dev = |v: Vec<f64>, shape: &[usize]| -> Result<Tensor> { Ok(Tensor::from_vec(v, shape, &Device::Cpu)?.to_dtype(dtype)?.to_device(dev)?) };
    let mut total = Tensor::zeros(n, dtype, dev)?;
    for (p, col) in sq.into_iter().enumerate() {
        let mut canary_col = vec![0f64; m];
        for (slot, row) in canary_col.iter_mut().zip(plan.canaries) {
            if row.param == p {
                *slot = row.value * row.value;
            }
        }
        let mut col = Tensor::cat(&[&col, &on_dev(canary_col, &[m])?], 0)?;
        if plan.shrink_norm == Some(p) {
            col = (col * (1.0 / 16.0))?;
        }
        total = (total + col)?;
    }
    let norms: Vec<f64> = total.to_dtype(DType::F64)?.to_vec1::<f64>()?.into_iter().map(|x| x.max(0.0).sqrt()).collect();
    // Empty (padding) rows contribute nothing; canary rows are always live.
    let is_live = |i: usize| i >= b || live[i];
    let factors: Vec<f64> = norms.iter().enumerate().map(|(i, &nrm)| if is_live(i) { clip_factor(nrm, clip_norm) } else { 0.0 }).collect();
    let c = on_dev(factors.clone(), &[n, 1, 1])?;
    let ones: Vec<f64> = (0..n).map(|i| if is_live(i) { 1.0 } else { 0.0 }).collect();
    let unclipped = on_dev(ones, &[n, 1, 1])?;
    Ok((norms, factors, c, unclipped))
}

/// Adds each canary row's clipped contribution (its factor × value at its coordinate) to `sums`.
fn add_canary_rows(sums: &mut [Tensor], plan: &ClipPlan<'_>, factors: &[f64], b: usize) -> Result<()> {
    let mut dense: Vec<Option<Vec<f64>>> = vec![None; sums.len()];
    for (j, row) in plan.canaries.iter().enumerate() {
        let numel = sums[row.param].elem_count();
        if row.index >= numel {
            return Err(Error::param("canary.index", row.index, format!("parameter {} has {numel} coordinates", row.param)));
        }
        let f = if plan.skip_clip == Some(row.param) { 1.0 } else { factors[b + j] };
        dense[row.param].get_or_insert_with(|| vec![0.0; numel])[row.index] += f * row.value;
    }
    for (p, d) in dense.into_iter().enumerate() {
        if let Some(d) = d {
            let t = Tensor::from_vec(d, sums[p].shape(), &Device::Cpu)?.to_dtype(sums[p].dtype())?.to_device(sums[p].device())?;
            sums[p] = (&sums[p] + t)?;
        }
    }
    Ok(())
}

/// Examples per group on the whole-pass (CPU) path with several rayon threads: a batch of more
/// runs as groups of near-equal size, one pass each, in parallel (one fork for the whole pass
/// instead of one per kernel, which scaled poorly on 2 cores), their sums added in group order.
/// With one thread the batch stays whole (groups would only add work: ~5 % of a DP step).
const GROUP_EXAMPLES: usize = 16;

/// `seqs` split into ⌈n / GROUP_EXAMPLES⌉ groups of near-equal size on the whole-pass path with
/// several threads; one group otherwise (a GPU parallelises within its kernels). The grouping
/// depends on the batch only, so every thread count above one sums in the same order.
fn example_groups<'a, 'b>(model: &Gpt, seqs: &'a [&'b [u32]]) -> Vec<&'a [&'b [u32]]> {
    let groups = seqs.len().div_ceil(GROUP_EXAMPLES);
    if !model.takes_whole_pass() || groups <= 1 || rayon::current_num_threads() == 1 {
        return vec![seqs];
    }
    seqs.chunks(seqs.len().div_ceil(groups)).collect()
}

/// acc[i] += part[i] for every parameter.
fn add_in_order(acc: &mut [Tensor], part: Vec<Tensor>) -> Result<()> {
    for (a, p) in acc.iter_mut().zip(part) {
        *a = (&*a + p)?;
    }
    Ok(())
}

/// One forward and one backward with book-keeping hooks: Σ loss, dL/d(embedding output) (B, T, d)
/// and every hooked layer's input and output gradient — by the hand-written whole-model pass
/// where the model takes it, else through candle's autograd and the hook ops.
fn hooked_pass(model: &Gpt, batch: &Batch) -> Result<(f64, Tensor, Vec<HookedLayer>)> {
    if model.takes_whole_pass() {
        let pass = whole_pass::run(model, batch, PassProduct::Hooks)?;
        let g_emb = pass.embedding_grad.ok_or_else(|| Error::param("backward", "whole pass", "no embedding gradient"))?;
        return Ok((pass.loss_sum, g_emb, pass.layers));
    }
    let mut tape = HookTape::default();
    let logits = model.forward_with(&batch.ids, &mut Mode::Hook(&mut tape), None, 0)?;
    let losses = per_example_loss(&logits, batch, model.kernel_path())?;
    let loss_sum = losses.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
    let grads = losses.sum_all()?.backward()?;
    let probe = tape.probe.as_ref().ok_or_else(|| Error::param("forward", "hook", "no probe recorded"))?;
    let g_emb = grads.get(probe.as_tensor()).ok_or_else(|| Error::param("backward", "probe", "no gradient reached the embedding"))?.clone();
    let (b, t) = (batch.bsz, batch.t);
    let mut layers = Vec::with_capacity(tape.records.len());
    for rec in tape.records {
        let g = match &rec.probe {
            Some(p) => grads.get(p.as_tensor()).cloned(),
            None => rec.slot.lock().expect("hook slot poisoned").take(),
        };
        let grad = match g {
            Some(g) => g.reshape((b, t, ()))?,
            // A layer no loss depends on (cannot happen in this model) contributes zero.
            None => rec.input.zeros_like()?,
        };
        layers.push(HookedLayer { kind: rec.kind, recorded: Recorded::Activations { input: rec.input, grad } });
    }
    Ok((loss_sum, g_emb, layers))
}

/// Per-example clipped sum of one micro-batch of model inputs, with one forward and one backward.
/// `skip_clip` (test-only fault) leaves that parameter's contribution unclipped.
pub fn clip_and_accumulate(model: &Gpt, seqs: &[&[u32]], clip_norm: f64, skip_clip: Option<usize>) -> Result<ClippedGradients> {
    clip_and_accumulate_frozen(model, seqs, clip_norm, skip_clip, &[])
}

/// [`clip_and_accumulate`] with frozen parameters (`frozen[i]` true, in [`Gpt::params`] order):
/// they add nothing to the per-example norm and their clipped sum is zero (neither is computed).
pub fn clip_and_accumulate_frozen(model: &Gpt, seqs: &[&[u32]], clip_norm: f64, skip_clip: Option<usize>, frozen: &[bool]) -> Result<ClippedGradients> {
    clip_and_accumulate_planned(model, seqs, clip_norm, &ClipPlan { frozen, skip_clip, ..ClipPlan::default() })
}

/// The clipped sum of a micro-batch (possibly empty) plus the canary rows of `plan`: the real
/// examples' per-tensor norms come from the ghost-norm pass, the canaries' from their one
/// coordinate, and both meet in one norm table before the clip factors are computed.
pub fn clip_and_accumulate_planned(model: &Gpt, seqs: &[&[u32]], clip_norm: f64, plan: &ClipPlan<'_>) -> Result<ClippedGradients> {
    for row in plan.canaries {
        if row.param >= model.params().len() || plan.frozen.get(row.param).copied().unwrap_or(false) {
            return Err(Error::param("canary.param", row.param, "no trainable parameter with that index"));
        }
    }
    if seqs.is_empty() {
        let (dtype, dev) = (model.dtype(), model.device());
        let sq = model.params().iter().map(|_| Tensor::zeros(0, dtype, dev)).collect::<candle_core::Result<Vec<_>>>()?;
        let (_, factors, _, _) = clip_factors(sq, &[], plan, clip_norm, dtype, dev)?;
        let mut sums: Vec<Tensor> = model.params().iter().map(|v| v.as_tensor().zeros_like()).collect::<candle_core::Result<_>>()?;
        add_canary_rows(&mut sums, plan, &factors, 0)?;
        return Ok(ClippedGradients { sums, norms: Vec::new(), loss_sum: 0.0, tokens: 0 });
    }
    let groups = example_groups(model, seqs);
    if groups.len() > 1 {
        // Each example's factor depends on its own norm only, so groups clip independently; the
        // canary rows join the first group's norm table.
        let parts = groups
            .par_iter()
            .enumerate()
            .map(|(i, g)| clip_and_accumulate_planned(model, g, clip_norm, &ClipPlan { canaries: if i == 0 { plan.canaries } else { &[] }, ..*plan }))
            .collect::<Result<Vec<_>>>()?;
        let mut parts = parts.into_iter();
        let mut out = parts.next().expect("two groups or more");
        for p in parts {
            add_in_order(&mut out.sums, p.sums)?;
            out.norms.extend(p.norms);
            out.loss_sum += p.loss_sum;
            out.tokens += p.tokens;
        }
        return Ok(out);
    }
    let (frozen, skip_clip) = (plan.frozen, plan.skip_clip);
    let is_frozen = |i: usize| frozen.get(i).copied().unwrap_or(false);
    let (dtype, dev, kernels) = (model.dtype(), model.device(), model.kernel_path());
    let batch = Batch::new(seqs)?;
    let (loss_sum, g_emb, hooked) = hooked_pass(model, &batch)?;
    let n = model.params().len();
    let mut sq: Vec<Option<Tensor>> = vec![None; n];
    let b = batch.bsz;
    let zero_norm = || Tensor::zeros(b, dtype, dev);
    sq[0] = Some(if is_frozen(0) { zero_norm()? } else { path::embedding_sq_norms(kernels, &g_emb, &batch.ids_host)? });
    sq[1] = Some(if is_frozen(1) { zero_norm()? } else { path::per_example_sq_norms(kernels, &g_emb)? });
    let mut layers = Vec::with_capacity(hooked.len());
    let mut keep_budget = KEEP_PER_EXAMPLE_ELEMENTS;
    for HookedLayer { kind, recorded } in hooked {
        let mut layer = LayerGrads { kind, acts: None, per_example: None, sum_g: None, sum_ga: None };
        match (kind, recorded) {
            (HookKind::Linear { weight, bias }, Recorded::Activations { input: a, grad: g }) => {
                let (norm, per_example) = if is_frozen(weight) { (zero_norm()?, None) } else { linear_sq_norm(&a, &g, kernels)? };
                sq[weight] = Some(norm);
                if let Some(bi) = bias {
                    if is_frozen(bi) {
                        sq[bi] = Some(zero_norm()?);
                    } else {
                        let s = per_example_sums(kernels, &g, None)?;
                        sq[bi] = Some(path::per_example_sq_norms(kernels, &s)?);
                        layer.sum_g = Some(s);
                    }
                }
                if let Some(pe) = per_example {
                    if pe.elem_count() <= keep_budget {
                        keep_budget -= pe.elem_count();
                        layer.per_example = Some(pe);
                    }
                }
                layer.acts = Some((a, g));
            }
            (HookKind::LnAffine { gamma, beta }, recorded) => {
                // Per-example gradients (B, d) of the gain and the bias: from the backward where it
                // summed them, else from the recorded x̂ and output gradient.
                let (sga, sg) = match recorded {
                    Recorded::LnExampleGrads { gamma, beta } => (gamma, beta),
                    Recorded::Activations { input, grad } => (per_example_sums(kernels, &grad, Some(&input))?, per_example_sums(kernels, &grad, None)?),
                };
                sq[gamma] = Some(if is_frozen(gamma) { zero_norm()? } else { path::per_example_sq_norms(kernels, &sga)? });
                sq[beta] = Some(if is_frozen(beta) { zero_norm()? } else { path::per_example_sq_norms(kernels, &sg)? });
                (layer.sum_ga, layer.sum_g) = (Some(sga), Some(sg));
            }
            (HookKind::Linear { .. }, Recorded::LnExampleGrads { .. }) => {
                return Err(Error::param("hooked layer", "linear", "recorded as a LayerNorm affine"));
            }
        }
        layers.push(layer);
    }
    let mut table = Vec::with_capacity(n);
    for (i, s) in sq.into_iter().enumerate() {
        table.push(s.ok_or_else(|| Error::param("per-example norm", &model.param_names()[i], "no norm rule reached this parameter"))?);
    }
    let live: Vec<bool> = batch.counts.iter().map(|&c| c != 0).collect();
    let (mut norms, factors, c_all, unclipped_all) = clip_factors(table, &live, plan, clip_norm, dtype, dev)?;
    norms.truncate(b);
    let (c, unclipped) = (c_all.narrow(0, 0, b)?, unclipped_all.narrow(0, 0, b)?);
    let factor_for = |p: usize| if skip_clip == Some(p) { &unclipped } else { &c };

    // Frozen parameters: a zero sum, nothing computed.
    let mut sums: Vec<Option<Tensor>> =
        model.params().iter().enumerate().map(|(i, p)| if is_frozen(i) { p.as_tensor().zeros_like().map(Some) } else { Ok(None) }).collect::<candle_core::Result<_>>()?;
    let cfg = model.config();
    // Token and position embeddings: one pass over dL/d(embedding output) for both clipped sums.
    let token = sums[0].is_none().then(|| (cfg.vocab_size, factor_for(0)));
    let position = sums[1].is_none().then(|| (cfg.context_length, factor_for(1)));
    let (wte, wpe) = path::clipped_embedding_sums(kernels, &g_emb, &batch.ids_host, token, position)?;
    sums[0] = sums[0].take().or(wte);
    sums[1] = sums[1].take().or(wpe);
    let kept = |s: &Option<Tensor>| s.clone().ok_or_else(|| Error::param("clipped sum", "layer", "per-example sums missing"));
    for LayerGrads { kind, acts, per_example, sum_g, sum_ga } in &layers {
        match *kind {
            HookKind::Linear { weight, bias } => {
                if sums[weight].is_none() {
                    sums[weight] = Some(match (per_example, acts) {
                    // Σ_i c_i G_i from the kept per-example gradients: B·dout·din work, no matmul.
                    (Some(pe), _) => {
                        let (_, dout, din) = pe.dims3()?;
                        factor_for(weight).reshape((1, b))?.matmul(&pe.reshape((b, dout * din))?)?.reshape((dout, din))?
                    }
                    // (c⊙g)ᵀ·a = gᵀ·(c⊙a): the factors go on the narrower of the two.
                    (None, Some((a, g))) => path::clipped_weight_sum(kernels, a, g, factor_for(weight))?,
                    (None, None) => return Err(Error::param("clipped sum", "linear layer", "no recorded input and gradient")),
                    });
                }
                if let Some(bi) = bias.filter(|&bi| sums[bi].is_none()) {
                    sums[bi] = Some(weighted_rows(factor_for(bi), &kept(sum_g)?)?);
                }
            }
            HookKind::LnAffine { gamma, beta } => {
                if sums[gamma].is_none() {
                    sums[gamma] = Some(weighted_rows(factor_for(gamma), &kept(sum_ga)?)?);
                }
                if sums[beta].is_none() {
                    sums[beta] = Some(weighted_rows(factor_for(beta), &kept(sum_g)?)?);
                }
            }
        }
    }
    let mut sums: Vec<Tensor> = sums.into_iter().map(|s| s.expect("every parameter has a sum rule")).collect();
    add_canary_rows(&mut sums, plan, &factors, b)?;
    Ok(ClippedGradients { sums, norms, loss_sum, tokens: batch.n_tokens() })
}

/// Gradient of Σ_i loss_i (no clipping) by ordinary autograd: the non-private micro-batch step.
pub fn summed_gradient(model: &Gpt, seqs: &[&[u32]]) -> Result<(Vec<Tensor>, f64, usize)> {
    let groups = example_groups(model, seqs);
    if groups.len() > 1 {
        let parts = groups.par_iter().map(|g| summed_gradient(model, g)).collect::<Result<Vec<_>>>()?;
        let mut parts = parts.into_iter();
        let (mut grads, mut loss_sum, mut tokens) = parts.next().expect("two groups or more");
        for (g, l, n) in parts {
            add_in_order(&mut grads, g)?;
            loss_sum += l;
            tokens += n;
        }
        return Ok((grads, loss_sum, tokens));
    }
    let batch = Batch::new(seqs)?;
    if model.takes_whole_pass() {
        let pass = whole_pass::run(model, &batch, PassProduct::ParamGrads)?;
        return Ok((pass.param_grads, pass.loss_sum, batch.n_tokens()));
    }
    let logits = model.forward_with(&batch.ids, &mut Mode::Train, None, 0)?;
    let losses = per_example_loss(&logits, &batch, model.kernel_path())?;
    let loss_sum = losses.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
    let grads = losses.sum_all()?.backward()?;
    Ok((param_grads(model, &grads)?, loss_sum, batch.n_tokens()))
}

/// The gradient of every parameter from a backward pass, in the model's order (zeros for a
/// parameter the loss does not reach).
pub(crate) fn param_grads(model: &Gpt, grads: &candle_core::backprop::GradStore) -> Result<Vec<Tensor>> {
    let mut out = Vec::with_capacity(model.params().len());
    for v in model.params() {
        out.push(match grads.get(v.as_tensor()) {
            Some(g) => g.clone(),
            None => v.as_tensor().zeros_like()?,
        });
    }
    Ok(out)
}

/// Slow reference (one backward per example): per-example norms and the clipped sum.
pub fn clip_and_accumulate_reference(model: &Gpt, seqs: &[&[u32]], clip_norm: f64) -> Result<ClippedGradients> {
    let mut sums: Vec<Tensor> = model.params().iter().map(|v| v.as_tensor().zeros_like()).collect::<candle_core::Result<_>>()?;
    let (mut norms, mut loss_sum, mut tokens) = (Vec::new(), 0.0, 0);
    for s in seqs {
        let (g, l, n) = summed_gradient(model, &[s])?;
        let sq: f64 = g.iter().map(|t| t.to_dtype(DType::F64)?.sqr()?.sum_all()?.to_scalar::<f64>()).sum::<candle_core::Result<f64>>()?;
        let norm = sq.sqrt();
        let c = if n == 0 { 0.0 } else { clip_factor(norm, clip_norm) };
        for (acc, gi) in sums.iter_mut().zip(&g) {
            *acc = (&*acc + (gi * c)?)?;
        }
        norms.push(norm);
        loss_sum += l;
        tokens += n;
    }
    Ok(ClippedGradients { sums, norms, loss_sum, tokens })
}
