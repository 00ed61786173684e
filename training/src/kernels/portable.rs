//! The portable kernel path: each fused kernel of this module's siblings written as the chain of
//! standard candle ops that computes the same function, on whatever device its inputs live
//! (candle's autograd supplies the backward). This is what a CUDA device runs, and it is the
//! reference the fused kernels are checked against (`tests.rs`), so the two can never drift apart.

use candle_core::{DType, Device, Result, Tensor, D};

use super::AdamWStep;

/// Softmax over the last dim; the max shift is detached (it cancels in value and gradient).
pub(crate) fn softmax_last(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

/// Log-softmax over the last dim with a detached max shift (the portable cross-entropy's core;
/// the student's side of soft-label distillation).
pub(crate) fn log_softmax_last(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let diff = x.broadcast_sub(&max)?;
    let lse = diff.exp()?.sum_keepdim(D::Minus1)?.log()?;
    diff.broadcast_sub(&lse)
}

/// Additive causal mask (t, total) on `device`: query i (absolute position offset + i) sees keys
/// ≤ offset + i; the others get −∞.
pub(crate) fn causal_mask(t: usize, total: usize, offset: usize, dtype: DType, device: &Device) -> Result<Tensor> {
    let m: Vec<f32> = (0..t).flat_map(|i| (0..total).map(move |j| if j > offset + i { f32::NEG_INFINITY } else { 0.0 })).collect();
    Tensor::from_vec(m, (t, total), &Device::Cpu)?.to_dtype(dtype)?.to_device(device)
}

/// x̂ = (x − mean) / √(var + eps) over the last dim (the fused `LnNormalize`).
pub(crate) fn ln_normalize(x: &Tensor, eps: f64) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred.broadcast_div(&(var + eps)?.sqrt()?)
}

/// LayerNorm x̂⊙γ + β over the last dim (the fused `LayerNorm`).
pub(crate) fn layer_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
    ln_normalize(x, eps)?.broadcast_mul(gamma)?.broadcast_add(beta)
}

/// GELU, tanh form (the fused `Gelu`; candle's `gelu`): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))),
/// written out so autograd differentiates it exactly (candle's own GELU backward rounds its
/// constants to 6 digits).
pub(crate) fn gelu(x: &Tensor) -> Result<Tensor> {
    let inner = ((x + ((x.sqr()? * x)? * 0.044_715)?)? * (2.0 / std::f64::consts::PI).sqrt())?;
    (x * 0.5)? * (inner.tanh()? + 1.0)?
}

/// y = x·Wᵀ (+ b) for rows x (N, din) and W (dout, din) (the fused `Linear`).
pub(crate) fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let y = x.matmul(&w.t()?)?;
    match b {
        Some(b) => y.broadcast_add(b),
        None => Ok(y),
    }
}

/// Causal multi-head attention from QKV rows (B, T, 3d) to the merged heads (B, T, d): heads
/// split and transposed, scores scaled by 1/√head_dim, additive −∞ causal mask, softmax, PV
/// (the fused `CausalAttention`).
pub(crate) fn causal_attention(qkv: &Tensor, n_head: usize) -> Result<Tensor> {
    let (b, t, three_d) = qkv.dims3()?;
    let (d, hd) = (three_d / 3, three_d / 3 / n_head);
    let qkv = qkv.reshape((b, t, 3, n_head, hd))?;
    let heads = |i: usize| -> Result<Tensor> { qkv.narrow(2, i, 1)?.squeeze(2)?.transpose(1, 2)?.contiguous() };
    let (q, k, v) = (heads(0)?, heads(1)?, heads(2)?);
    let scores = (q.matmul(&k.t()?)? * (1.0 / (hd as f64).sqrt()))?;
    let mask = causal_mask(t, t, 0, qkv.dtype(), qkv.device())?;
    let probs = softmax_last(&scores.broadcast_add(&mask)?)?;
    probs.matmul(&v)?.transpose(1, 2)?.reshape((b, t, d))
}

/// Row losses w_r·(−log softmax(x_r)[t_r]) of logits (N, V) (the fused `SoftmaxCrossEntropy`).
pub(crate) fn softmax_cross_entropy(logits: &Tensor, targets: &[u32], weights: &[f64]) -> Result<Tensor> {
    let (n, dev) = (targets.len(), logits.device());
    let ids = Tensor::from_vec(targets.to_vec(), (n, 1), dev)?;
    let w = Tensor::from_vec(weights.to_vec(), n, &Device::Cpu)?.to_dtype(logits.dtype())?.to_device(dev)?;
    let picked = log_softmax_last(logits)?.gather(&ids, 1)?.squeeze(1)?;
    picked.neg()? * w
}

/// (B, d) = Σ_t v[b, t, :] (⊙ w[b, t, :] when given) (the fused `per_example_sums`).
pub(crate) fn per_example_sums(v: &Tensor, w: Option<&Tensor>) -> Result<Tensor> {
    match w {
        Some(w) => (v * w)?.sum(1),
        None => v.sum(1),
    }
}

/// (w', m', v') of one AdamW step (the fused `adamw_update`; Loshchilov & Hutter 2019, Algorithm
/// 2, PyTorch's form).
pub(crate) fn adamw_update(w: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor, s: AdamWStep) -> Result<(Tensor, Tensor, Tensor)> {
    let m2 = ((m * s.beta1)? + (g * (1.0 - s.beta1))?)?;
    let v2 = ((v * s.beta2)? + (g.sqr()? * (1.0 - s.beta2))?)?;
    let upd = ((&m2 / s.bc1)? / ((&v2 / s.bc2)?.sqrt()? + s.eps)?)?;
    let w2 = ((w * s.decay)? - (upd * s.lr)?)?;
    Ok((w2, m2, v2))
}

/// ‖G_bᵀA_b‖² per example by the ghost form Σ_{t,t'} (a_t·a_t')(g_t·g_t') (the fused `ghost_sq_norms`).
pub(crate) fn ghost_sq_norms(a: &Tensor, g: &Tensor) -> Result<Tensor> {
    let aa = a.matmul(&a.t()?)?;
    let gg = g.matmul(&g.t()?)?;
    (aa * gg)?.sum((1, 2))
}

/// G_bᵀA_b (B, dout, din) per example (the fused `per_example_weight_grads`).
pub(crate) fn per_example_weight_grads(a: &Tensor, g: &Tensor) -> Result<Tensor> {
    g.t()?.matmul(a)
}

/// Σ_b c_b G_bᵀA_b for factors c (B, 1, 1), the factors on the narrower operand (the fused `clipped_weight_sum`).
pub(crate) fn clipped_weight_sum(a: &Tensor, g: &Tensor, c: &Tensor) -> Result<Tensor> {
    let (b, t, din) = a.dims3()?;
    let dout = g.dim(D::Minus1)?;
    let (gc, ac) = if dout <= din { (g.broadcast_mul(c)?, a.clone()) } else { (g.clone(), a.broadcast_mul(c)?) };
    gc.reshape((b * t, dout))?.t()?.matmul(&ac.reshape((b * t, din))?)
}

/// Σ_{t,t'} [x_t = x_t'] g_t·g_t' per example from the T×T Gram matrix of g (B, T, d) masked to
/// equal token ids (the fused `embedding_sq_norms`).
pub(crate) fn embedding_sq_norms(g: &Tensor, ids: &[u32]) -> Result<Tensor> {
    let (b, t, _) = g.dims3()?;
    if ids.len() != b * t {
        return Err(candle_core::Error::Msg(format!("embedding norms: {} token ids for gradients {:?}", ids.len(), g.dims())));
    }
    let mut eq = vec![0f32; b * t * t];
    for (i, row) in ids.chunks_exact(t).enumerate() {
        for (p, x) in row.iter().enumerate() {
            for (q, y) in row.iter().enumerate() {
                if x == y {
                    eq[(i * t + p) * t + q] = 1.0;
                }
            }
        }
    }
    let eq = Tensor::from_vec(eq, (b, t, t), &Device::Cpu)?.to_dtype(g.dtype())?.to_device(g.device())?;
    (g.matmul(&g.t()?)? * eq)?.sum((1, 2))
}

/// ‖x_b‖² (B) per example of x (B, …) (the fused `per_example_sq_norms`).
pub(crate) fn per_example_sq_norms(x: &Tensor) -> Result<Tensor> {
    let b = x.dim(0)?;
    x.reshape((b, ()))?.sqr()?.sum(1)
}

/// The embeddings' clipped sums by a broadcast multiply, `index_add` and a sum over the batch (the
/// fused `clipped_embedding_sums`).
pub(crate) fn clipped_embedding_sums(g: &Tensor, ids: &[u32], token: Option<(usize, &Tensor)>, position: Option<(usize, &Tensor)>) -> Result<(Option<Tensor>, Option<Tensor>)> {
    let (b, t, d) = g.dims3()?;
    let tok = match token {
        Some((vocab, c)) => {
            let ge = g.broadcast_mul(c)?.reshape((b * t, d))?;
            let ids = Tensor::from_vec(ids.to_vec(), b * t, g.device())?;
            Some(Tensor::zeros((vocab, d), g.dtype(), g.device())?.index_add(&ids, &ge, 0)?)
        }
        None => None,
    };
    let pos = match position {
        Some((context, c)) => {
            let gp = g.broadcast_mul(c)?.sum(0)?;
            Some(if t < context { Tensor::cat(&[&gp, &Tensor::zeros((context - t, d), g.dtype(), g.device())?], 0)? } else { gp })
        }
        None => None,
    };
    Ok((tok, pos))
}
