//! The GPT model: token + learned position embeddings, pre-LN blocks (causal multi-head attention,
//! GELU MLP), final LayerNorm and an LM head untied from the embedding.
//! Architecture after GPT-2 (Radford et al. 2019); reference implementation: karpathy/nanoGPT `model.py`.
//! The head is untied so per-example gradient norms need no cross terms.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp1, DType, Device, IndexOp, Layout, Shape, Tensor, Var};
use rand::SeedableRng;
use rayon::prelude::*;
use rand_distr::{Distribution, Normal};

use crate::scoring::exp_f32;
use crate::hooks::{HookKind, HookRecord, HookTape, LinearHook, LnAffineHook};
use crate::kernels::{path, portable, KernelPath};

use crate::{GptConfig, Result};

/// Parameters per transformer block, in the order `param_shapes` lists them.
pub(crate) const PER_BLOCK: usize = 12;

/// Names and shapes of all parameters, in storage order (the order of [`Gpt::params`]).
pub fn param_shapes(cfg: &GptConfig) -> Vec<(String, Vec<usize>)> {
    let (v, d, m) = (cfg.vocab_size, cfg.n_embd, cfg.mlp_ratio * cfg.n_embd);
    let mut out = vec![("wte".to_string(), vec![v, d]), ("wpe".to_string(), vec![cfg.context_length, d])];
    for l in 0..cfg.n_layer {
        let p = |s: &str| format!("h.{l}.{s}");
        out.extend([
            (p("ln1.weight"), vec![d]),
            (p("ln1.bias"), vec![d]),
            (p("attn.qkv.weight"), vec![3 * d, d]),
            (p("attn.qkv.bias"), vec![3 * d]),
            (p("attn.proj.weight"), vec![d, d]),
            (p("attn.proj.bias"), vec![d]),
            (p("ln2.weight"), vec![d]),
            (p("ln2.bias"), vec![d]),
            (p("mlp.fc1.weight"), vec![m, d]),
            (p("mlp.fc1.bias"), vec![m]),
            (p("mlp.fc2.weight"), vec![d, m]),
            (p("mlp.fc2.bias"), vec![d]),
        ]);
    }
    out.extend([
        ("ln_f.weight".to_string(), vec![d]),
        ("ln_f.bias".to_string(), vec![d]),
        ("lm_head.weight".to_string(), vec![v, d]),
    ]);
    out
}

/// How a forward pass treats the weights.
pub(crate) enum Mode<'a> {
    /// Weights are Vars: ordinary autograd computes weight gradients (non-private training).
    Train,
    /// Detached weights, nothing recorded (scoring, generation, evaluation).
    Infer,
    /// Detached weights with book-keeping hooks (DP-SGD).
    Hook(&'a mut HookTape),
}

/// Per-layer key/value cache for incremental decoding: (B, H, T_so_far, head_dim) each.
#[derive(Default, Clone)]
pub(crate) struct KvCache {
    pub layers: Vec<Option<(Tensor, Tensor)>>,
}

pub(crate) use portable::{log_softmax_last, softmax_last};

/// A GPT model whose parameters are candle `Var`s, all on one device, and the kernel path its
/// passes take there ([`KernelPath::for_device`] unless set).
pub struct Gpt {
    cfg: GptConfig,
    names: Vec<String>,
    vars: Vec<Var>,
    dtype: DType,
    device: Device,
    kernels: KernelPath,
    /// Training passes on the fused path run as one hand-written pass (`whole_pass.rs`) instead
    /// of through candle's autograd; off only to check one against the other.
    whole_pass: bool,
}

impl Gpt {
    /// A freshly initialised model on the CPU (GPT-2 init: N(0, 0.02), residual projections scaled by
    /// 1/√(2L), zero biases, unit LN gains), deterministic in `init_seed`.
    pub fn new(cfg: &GptConfig, dtype: DType, init_seed: u64) -> Result<Self> {
        cfg.validate()?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(init_seed);
        let normal = Normal::new(0.0f64, 0.02).expect("valid std");
        let resid_scale = 1.0 / (2.0 * cfg.n_layer as f64).sqrt();
        let mut names = Vec::new();
        let mut vars = Vec::new();
        for (name, shape) in param_shapes(cfg) {
            let n: usize = shape.iter().product();
            let values: Vec<f64> = if name.ends_with(".bias") {
                vec![0.0; n]
            } else if name.starts_with("ln") || name.contains(".ln") {
                vec![1.0; n]
            } else {
                let scale = if name.ends_with("attn.proj.weight") || name.ends_with("fc2.weight") { resid_scale } else { 1.0 };
                (0..n).map(|_| normal.sample(&mut rng) * scale).collect()
            };
            let t = Tensor::from_vec(values, shape, &Device::Cpu)?.to_dtype(dtype)?;
            names.push(name);
            vars.push(Var::from_tensor(&t)?);
        }
        Ok(Gpt { cfg: cfg.clone(), names, vars, dtype, device: Device::Cpu, kernels: KernelPath::Fused, whole_pass: true })
    }

    /// A model from named tensors (a checkpoint; on the CPU, as read); every parameter must be
    /// present with its shape.
    pub fn from_tensors(cfg: &GptConfig, dtype: DType, mut tensors: std::collections::HashMap<String, Tensor>) -> Result<Self> {
        cfg.validate()?;
        let mut names = Vec::new();
        let mut vars = Vec::new();
        for (name, shape) in param_shapes(cfg) {
            let t = tensors.remove(&name).ok_or_else(|| crate::Error::param("weights", &name, "tensor missing from the checkpoint"))?;
            if t.dims() != shape.as_slice() {
                return Err(crate::Error::param("weights", &name, format!("shape {:?} in the checkpoint, architecture needs {shape:?}", t.dims())));
            }
            vars.push(Var::from_tensor(&t.to_dtype(dtype)?.to_device(&Device::Cpu)?)?);
            names.push(name);
        }
        Ok(Gpt { cfg: cfg.clone(), names, vars, dtype, device: Device::Cpu, kernels: KernelPath::Fused, whole_pass: true })
    }

    /// The same model with its parameters on `device` and the kernel path of that device
    /// (weights are copied, so the initialisation does not depend on the device).
    pub fn to_device(self, device: &Device) -> Result<Self> {
        if self.device.same_device(device) {
            return Ok(self);
        }
        let vars = self.vars.iter().map(|v| Var::from_tensor(&v.as_tensor().to_device(device)?)).collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Gpt { vars, device: device.clone(), kernels: KernelPath::for_device(device), ..self })
    }

    /// The same model on the kernel path `kernels`; the fused kernels run on CPU tensors only.
    pub fn with_kernel_path(mut self, kernels: KernelPath) -> Result<Self> {
        if kernels == KernelPath::Fused && !self.device.is_cpu() {
            return Err(crate::Error::param("kernel path", "fused", format!("the fused kernels run on the CPU only; this model is on {:?}", self.device)));
        }
        self.kernels = kernels;
        Ok(self)
    }

    /// The same model with its training passes through candle's autograd (`false`) or, on the
    /// fused CPU path, as one hand-written whole-model pass (`true`, the default; the same
    /// gradients to rounding, several times fewer memory passes).
    pub fn with_whole_pass(mut self, on: bool) -> Self {
        self.whole_pass = on;
        self
    }

    /// Whether training passes take the hand-written whole-model pass: asked for, fused CPU
    /// kernels, f32 or f64.
    pub(crate) fn takes_whole_pass(&self) -> bool {
        self.whole_pass && self.kernels == KernelPath::Fused && self.device.is_cpu() && matches!(self.dtype, DType::F32 | DType::F64)
    }

    /// The device the parameters live on.
    pub fn device(&self) -> &Device {
        &self.device
    }
    /// The kernel path of this model's passes and updates.
    pub fn kernel_path(&self) -> KernelPath {
        self.kernels
    }

    /// The architecture.
    pub fn config(&self) -> &GptConfig {
        &self.cfg
    }
    /// Parameter dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// Parameter names, in storage order.
    pub fn param_names(&self) -> &[String] {
        &self.names
    }
    /// (name, shape) of every parameter tensor, in storage order.
    pub fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        param_shapes(&self.cfg)
    }
    /// The parameters, in storage order.
    pub fn params(&self) -> &[Var] {
        &self.vars
    }
    /// Index of a parameter by name.
    pub fn param_index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
    /// Total parameter count.
    pub fn num_params(&self) -> usize {
        self.vars.iter().map(|v| v.elem_count()).sum()
    }

    fn weight(&self, i: usize, mode: &Mode) -> Tensor {
        match mode {
            Mode::Train => self.vars[i].as_tensor().clone(),
            _ => self.vars[i].as_tensor().detach(),
        }
    }

    fn linear(&self, x: &Tensor, w: usize, b: Option<usize>, mode: &mut Mode) -> Result<Tensor> {
        let (bsz, t, din) = x.dims3()?;
        let weight = self.weight(w, mode);
        let bias = b.map(|i| self.weight(i, mode));
        let rows = x.reshape((bsz * t, din))?;
        let y = match mode {
            Mode::Hook(tape) if self.kernels == KernelPath::Fused => {
                let slot = Arc::new(Mutex::new(None));
                tape.records.push(HookRecord { kind: HookKind::Linear { weight: w, bias: b }, input: x.detach(), slot: slot.clone(), probe: None });
                rows.contiguous()?.apply_op1(LinearHook { weight, bias, slot })?
            }
            // Portable hook: a zero Var added to the output catches dL/dy in the gradient store.
            Mode::Hook(tape) => {
                let y = portable::linear(&rows, &weight, bias.as_ref())?;
                let probe = Var::zeros(y.shape(), self.dtype, &self.device)?;
                let y = (y + probe.as_tensor())?;
                tape.records.push(HookRecord { kind: HookKind::Linear { weight: w, bias: b }, input: x.detach(), slot: Arc::new(Mutex::new(None)), probe: Some(probe) });
                y
            }
            // Fused: one op, the bias written first, x·Wᵀ accumulated onto it, W's gradient in W's layout.
            _ => path::linear(self.kernels, &rows, &weight, bias.as_ref())?,
        };
        Ok(y.reshape((bsz, t, ()))?)
    }

    fn layer_norm(&self, x: &Tensor, gamma: usize, beta: usize, mode: &mut Mode) -> Result<Tensor> {
        // Fused kernels with a backward: candle-nn's LayerNorm fast path has none (dpsgd-on-candle.md, finding 5).
        let x = x.contiguous()?;
        let (g, b) = (self.weight(gamma, mode), self.weight(beta, mode));
        match mode {
            Mode::Hook(tape) => {
                let xhat = path::ln_normalize(self.kernels, &x, self.cfg.ln_eps)?;
                let (bsz, t, d) = xhat.dims3()?;
                let slot = Arc::new(Mutex::new(None));
                let rows = xhat.reshape((bsz * t, d))?;
                let (y, probe) = if self.kernels == KernelPath::Fused {
                    (rows.contiguous()?.apply_op1(LnAffineHook { gamma: g, beta: b, slot: slot.clone() })?, None)
                } else {
                    // Portable hook: a zero Var added to the output catches dL/dy.
                    let probe = Var::zeros((bsz * t, d), self.dtype, &self.device)?;
                    ((rows.broadcast_mul(&g)?.broadcast_add(&b)? + probe.as_tensor())?, Some(probe))
                };
                tape.records.push(HookRecord { kind: HookKind::LnAffine { gamma, beta }, input: xhat.detach(), slot, probe });
                Ok(y.reshape((bsz, t, d))?)
            }
            _ => Ok(path::layer_norm(self.kernels, &x, &g, &b, self.cfg.ln_eps)?),
        }
    }

    fn attention(&self, x: &Tensor, l: usize, mode: &mut Mode, cache: Option<&mut KvCache>, offset: usize) -> Result<Tensor> {
        let base = 2 + PER_BLOCK * l;
        let (bsz, t, d) = x.dims3()?;
        let (h, hd) = (self.cfg.n_head, d / self.cfg.n_head);
        let qkv = self.linear(x, base + 2, Some(base + 3), mode)?;
        if cache.is_none() && !matches!(mode, Mode::Infer) {
            // Training: one fused causal attention reads the QKV rows and writes the projection's input.
            let y = path::causal_attention(self.kernels, &qkv, h)?;
            return self.linear(&y, base + 4, Some(base + 5), mode);
        }
        let qkv = qkv.reshape((bsz, t, 3, h, hd))?;
        let heads = |i: usize| -> Result<Tensor> { Ok(qkv.i((.., .., i))?.transpose(1, 2)?.contiguous()?) };
        let (q, mut k, mut v) = (heads(0)?, heads(1)?, heads(2)?);
        if let Some(cache) = cache {
            if let Some((pk, pv)) = &cache.layers[l] {
                k = Tensor::cat(&[pk, &k], 2)?;
                v = Tensor::cat(&[pv, &v], 2)?;
            }
            cache.layers[l] = Some((k.clone(), v.clone()));
        }
        let total = k.dim(2)?;
        let scores = (q.matmul(&k.t()?)? * (1.0 / (hd as f64).sqrt()))?;
        let probs = match mode {
            // Inference in f32: mask, max, exp and normalisation fused in one pass per row.
            Mode::Infer if scores.dtype() == DType::F32 && self.kernels == KernelPath::Fused => scores.contiguous()?.apply_op1_no_bwd(&CausalSoftmax { offset })?,
            _ => {
                let scores = if t > 1 { scores.broadcast_add(&portable::causal_mask(t, total, offset, self.dtype, &self.device)?)? } else { scores };
                softmax_last(&scores)?
            }
        };
        let y = probs.matmul(&v)?.transpose(1, 2)?.reshape((bsz, t, d))?;
        self.linear(&y, base + 4, Some(base + 5), mode)
    }

    fn block(&self, x: &Tensor, l: usize, mode: &mut Mode, cache: Option<&mut KvCache>, offset: usize) -> Result<Tensor> {
        let base = 2 + PER_BLOCK * l;
        let h = self.layer_norm(x, base, base + 1, mode)?;
        let x = (x + self.attention(&h, l, mode, cache, offset)?)?;
        let h = self.layer_norm(&x, base + 6, base + 7, mode)?;
        let h = self.linear(&h, base + 8, Some(base + 9), mode)?;
        // Inference in f32 takes the vectorised GELU (same function, ~1e-7 relative difference).
        let h = match mode {
            Mode::Infer if h.dtype() == DType::F32 && self.kernels == KernelPath::Fused => h.contiguous()?.apply_op1_no_bwd(&FastGelu)?,
            _ => path::gelu(self.kernels, &h)?,
        };
        let h = self.linear(&h, base + 10, Some(base + 11), mode)?;
        Ok((x + h)?)
    }

    /// Logits (B, T, V) for input ids (B, T) starting at position `offset`.
    pub(crate) fn forward_with(&self, ids: &Tensor, mode: &mut Mode, mut cache: Option<&mut KvCache>, offset: usize) -> Result<Tensor> {
        let (bsz, t) = ids.dims2()?;
        if offset + t > self.cfg.context_length {
            return Err(crate::Error::param("sequence length", offset + t, format!("exceeds the context length {}", self.cfg.context_length)));
        }
        let tok = self.weight(0, mode).embedding(&ids.flatten_all()?.to_device(&self.device)?)?.reshape((bsz, t, ()))?;
        let pos = self.weight(1, mode).narrow(0, offset, t)?;
        let mut x = tok.broadcast_add(&pos)?;
        if let Mode::Hook(tape) = mode {
            let probe = Var::zeros(x.shape(), self.dtype, &self.device)?;
            x = (x + probe.as_tensor())?;
            tape.probe = Some(probe);
        }
        if let Some(c) = cache.as_deref_mut() {
            if c.layers.is_empty() {
                c.layers = vec![None; self.cfg.n_layer];
            }
        }
        for l in 0..self.cfg.n_layer {
            x = self.block(&x, l, mode, cache.as_deref_mut(), offset)?;
        }
        self.head(&x, mode)
    }

    /// Logits (B, 1, V) of the last position only, for incremental decoding with a cache:
    /// the final LayerNorm and the LM head act per position, so the others can be skipped.
    pub(crate) fn forward_last_with_cache(&self, ids: &Tensor, cache: &mut KvCache, offset: usize) -> Result<Tensor> {
        let (bsz, t) = ids.dims2()?;
        if offset + t > self.cfg.context_length {
            return Err(crate::Error::param("sequence length", offset + t, format!("exceeds the context length {}", self.cfg.context_length)));
        }
        let mode = &mut Mode::Infer;
        let tok = self.weight(0, mode).embedding(&ids.flatten_all()?.to_device(&self.device)?)?.reshape((bsz, t, ()))?;
        let pos = self.weight(1, mode).narrow(0, offset, t)?;
        let mut x = tok.broadcast_add(&pos)?;
        if cache.layers.is_empty() {
            cache.layers = vec![None; self.cfg.n_layer];
        }
        for l in 0..self.cfg.n_layer {
            x = self.block(&x, l, mode, Some(cache), offset)?;
        }
        self.head(&x.narrow(1, t - 1, 1)?, mode)
    }

    /// Final LayerNorm and LM head: logits (B, T, V) from the last block's output.
    fn head(&self, x: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        let nl = 2 + PER_BLOCK * self.cfg.n_layer;
        let x = self.layer_norm(x, nl, nl + 1, mode)?;
        self.linear(&x, nl + 2, None, mode)
    }

    /// Logits (B, T, V) for input ids (B, T), no gradient bookkeeping.
    pub fn logits(&self, ids: &Tensor) -> Result<Tensor> {
        self.forward_with(ids, &mut Mode::Infer, None, 0)
    }
}

/// The vectorised tanh-GELU below for f32 inference in this crate's other decoders (`hf`).
pub(crate) fn fast_gelu(x: &Tensor) -> Result<Tensor> {
    Ok(x.contiguous()?.apply_op1_no_bwd(&FastGelu)?)
}

/// GELU, tanh form (Hendrycks & Gimpel 2016; candle's `gelu`), for f32 inference:
/// 0.5·v·(1 + tanh u) = v / (1 + e^(−2u)), u = √(2/π)·(v + 0.044715·v³), with the vectorisable
/// [`exp_f32`]. Forward only.
struct FastGelu;

impl CustomOp1 for FastGelu {
    fn name(&self) -> &'static str {
        "fast-gelu"
    }
    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (start, end) = layout.contiguous_offsets().ok_or_else(|| candle_core::Error::Msg("fast-gelu input must be contiguous".into()))?;
        let CpuStorage::F32(all) = storage else {
            return Err(candle_core::Error::Msg("fast-gelu takes f32 only".into()));
        };
        let mut out = vec![0f32; end - start];
        out.par_chunks_mut(1 << 16).zip(all[start..end].par_chunks(1 << 16)).for_each(|(o, x)| gelu_f32_slice(x, o));
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

fn gelu_f32_slice(x: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features the function is compiled for (checked just above).
            return unsafe { gelu_f32_avx2(x, out) };
        }
    }
    gelu_f32_portable(x, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn gelu_f32_avx2(x: &[f32], out: &mut [f32]) {
    gelu_f32_portable(x, out)
}

#[inline(always)]
fn gelu_f32_portable(x: &[f32], out: &mut [f32]) {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    for (o, &v) in out.iter_mut().zip(x) {
        let u = SQRT_2_OVER_PI * (v + 0.044_715 * v * v * v);
        *o = v / (1.0 + exp_f32(-2.0 * u));
    }
}

/// Causal softmax over the last dim of f32 attention scores (B, H, t, total) for inference:
/// query i (absolute position offset + i) sees keys ≤ offset + i; masked keys get probability 0.
/// Same result as the additive −∞ mask followed by [`softmax_last`], up to [`exp_f32`]'s rounding.
struct CausalSoftmax {
    offset: usize,
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "causal-softmax"
    }
    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (start, end) = layout.contiguous_offsets().ok_or_else(|| candle_core::Error::Msg("causal-softmax input must be contiguous".into()))?;
        let CpuStorage::F32(all) = storage else {
            return Err(candle_core::Error::Msg("causal-softmax takes f32 only".into()));
        };
        let dims = layout.shape().dims();
        let (t, total) = (dims[dims.len() - 2], dims[dims.len() - 1]);
        let mut out = vec![0f32; end - start];
        out.par_chunks_mut(t * total).zip(all[start..end].par_chunks(t * total)).for_each(|(o, x)| {
            for i in 0..t {
                let seen = (self.offset + i + 1).min(total);
                causal_softmax_row(&x[i * total..i * total + seen], &mut o[i * total..i * total + seen]);
            }
        });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

fn causal_softmax_row(x: &[f32], out: &mut [f32]) {
    let m = x.iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    let mut sum = 0f32;
    for (o, &v) in out.iter_mut().zip(x) {
        *o = exp_f32(v - m);
        sum += *o;
    }
    let inv = 1.0 / sum;
    for o in out.iter_mut() {
        *o *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_gelu_matches_candles_gelu() {
        let xs: Vec<f32> = (0..=40_000).map(|i| -20.0 + 40.0 * i as f32 / 40_000.0).collect();
        let x = Tensor::from_vec(xs.clone(), xs.len(), &Device::Cpu).unwrap();
        let fast: Vec<f32> = x.apply_op1_no_bwd(&FastGelu).unwrap().to_vec1().unwrap();
        let exact: Vec<f64> = x.to_dtype(DType::F64).unwrap().gelu().unwrap().to_vec1().unwrap();
        for ((&v, &f), &e) in xs.iter().zip(&fast).zip(&exact) {
            assert!((f as f64 - e).abs() <= 1e-6 * (1.0 + e.abs()), "gelu({v}): {f} vs {e}");
        }
        assert_eq!(fast[20_000], 0.0, "gelu(0) = 0");
    }

    #[test]
    fn fused_causal_softmax_matches_mask_then_softmax() {
        use rand::Rng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        // Prefill (offset 0, t = total) and a cached chunk (offset 3, t 4 of total 7).
        for (t, total, offset) in [(6usize, 6usize, 0usize), (4, 7, 3), (1, 9, 8)] {
            let xs: Vec<f32> = (0..2 * 3 * t * total).map(|_| rng.random_range(-6.0..6.0f32)).collect();
            let scores = Tensor::from_vec(xs, (2, 3, t, total), &Device::Cpu).unwrap();
            let fused: Vec<f32> = scores.apply_op1_no_bwd(&CausalSoftmax { offset }).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            let s64 = scores.to_dtype(DType::F64).unwrap();
            let masked = if t > 1 { s64.broadcast_add(&portable::causal_mask(t, total, offset, DType::F64, &Device::Cpu).unwrap()).unwrap() } else { s64 };
            let want: Vec<f64> = softmax_last(&masked).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            for (f, w) in fused.iter().zip(&want) {
                assert!((*f as f64 - w).abs() < 1e-6, "{f} vs {w} (t {t}, total {total}, offset {offset})");
            }
        }
    }
}
