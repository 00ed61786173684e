//! Which implementation of the hot-path ops a model runs: the fused CPU kernels or the portable
//! chains of candle ops ([`super::portable`]), one dispatching function per op.

use candle_core::{Device, Result, Tensor};

use super::{portable, AdamWStep, CausalAttention, Gelu, LayerNorm, Linear, LnNormalize, SoftmaxCrossEntropy};

/// The kernel path of a model's forward, backward, per-example sums and optimizer update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelPath {
    /// The fused CPU kernels (candle custom ops over CPU buffers): CPU tensors only.
    Fused,
    /// Standard candle ops only: runs on any device (CUDA's path), same function up to rounding.
    Portable,
}

impl KernelPath {
    /// The default for a device: fused on the CPU, portable elsewhere.
    pub fn for_device(device: &Device) -> Self {
        if device.is_cpu() {
            KernelPath::Fused
        } else {
            KernelPath::Portable
        }
    }
}

/// y = x·Wᵀ (+ b) for contiguous rows x (N, din).
pub(crate) fn linear(path: KernelPath, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    match (path, b) {
        (KernelPath::Fused, Some(b)) => x.contiguous()?.apply_op3(w, b, Linear),
        (KernelPath::Fused, None) => x.contiguous()?.apply_op2(w, Linear),
        (KernelPath::Portable, b) => portable::linear(x, w, b),
    }
}

/// LayerNorm x̂⊙γ + β over the last dim.
pub(crate) fn layer_norm(path: KernelPath, x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
    match path {
        KernelPath::Fused => x.contiguous()?.apply_op3(gamma, beta, LayerNorm { eps }),
        KernelPath::Portable => portable::layer_norm(x, gamma, beta, eps),
    }
}

/// x̂ = (x − mean) / √(var + eps) over the last dim.
pub(crate) fn ln_normalize(path: KernelPath, x: &Tensor, eps: f64) -> Result<Tensor> {
    match path {
        KernelPath::Fused => x.contiguous()?.apply_op1(LnNormalize { eps }),
        KernelPath::Portable => portable::ln_normalize(x, eps),
    }
}

/// GELU, tanh form.
pub(crate) fn gelu(path: KernelPath, x: &Tensor) -> Result<Tensor> {
    match path {
        KernelPath::Fused => x.contiguous()?.apply_op1(Gelu),
        KernelPath::Portable => portable::gelu(x),
    }
}

/// Causal multi-head attention, QKV rows (B, T, 3d) → merged heads (B, T, d).
pub(crate) fn causal_attention(path: KernelPath, qkv: &Tensor, n_head: usize) -> Result<Tensor> {
    match path {
        KernelPath::Fused => qkv.contiguous()?.apply_op1(CausalAttention::new(n_head)),
        KernelPath::Portable => portable::causal_attention(qkv, n_head),
    }
}

/// Weighted row losses w_r·NLL of logits (N, V).
pub(crate) fn softmax_cross_entropy(path: KernelPath, logits: &Tensor, targets: Vec<u32>, weights: Vec<f64>) -> Result<Tensor> {
    match path {
        KernelPath::Fused => logits.contiguous()?.apply_op1(SoftmaxCrossEntropy::new(targets, weights)),
        KernelPath::Portable => portable::softmax_cross_entropy(logits, &targets, &weights),
    }
}

/// (B, d) = Σ_t v[b, t, :] (⊙ w[b, t, :]).
pub(crate) fn per_example_sums(path: KernelPath, v: &Tensor, w: Option<&Tensor>) -> Result<Tensor> {
    match path {
        KernelPath::Fused => super::per_example_sums(v, w),
        KernelPath::Portable => portable::per_example_sums(v, w),
    }
}

/// (w', m', v') of one AdamW step.
pub(crate) fn adamw_update(path: KernelPath, w: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor, step: AdamWStep) -> Result<(Tensor, Tensor, Tensor)> {
    match path {
        KernelPath::Fused => super::adamw_update(w, g, m, v, step),
        KernelPath::Portable => portable::adamw_update(w, g, m, v, step),
    }
}

/// A linear layer's per-example weight-gradient norms² (B) by the ghost form, from its inputs
/// (B, T, din) and output gradients (B, T, dout).
pub(crate) fn ghost_sq_norms(path: KernelPath, a: &Tensor, g: &Tensor) -> Result<Tensor> {
    match path {
        KernelPath::Fused => super::ghost_sq_norms(a, g),
        KernelPath::Portable => portable::ghost_sq_norms(a, g),
    }
}

/// A linear layer's per-example weight gradients (B, dout, din).
pub(crate) fn per_example_weight_grads(path: KernelPath, a: &Tensor, g: &Tensor) -> Result<Tensor> {
    match path {
        KernelPath::Fused => super::per_example_weight_grads(a, g),
        KernelPath::Portable => portable::per_example_weight_grads(a, g),
    }
}

/// ‖per-example token-embedding gradient‖² (B) from dL/d(embedding output) g (B, T, d) and the
/// token ids (B·T).
pub(crate) fn embedding_sq_norms(path: KernelPath, g: &Tensor, ids: &[u32]) -> Result<Tensor> {
    match path {
        KernelPath::Fused => super::embedding_sq_norms(g, ids),
        KernelPath::Portable => portable::embedding_sq_norms(g, ids),
    }
}

/// A linear layer's clipped weight-gradient sum Σ_b c_b G_bᵀA_b (dout, din), factors c (B, 1, 1).
pub(crate) fn clipped_weight_sum(path: KernelPath, a: &Tensor, g: &Tensor, c: &Tensor) -> Result<Tensor> {
    match path {
        KernelPath::Fused => super::clipped_weight_sum(a, g, c),
        KernelPath::Portable => portable::clipped_weight_sum(a, g, c),
    }
}

/// ‖x_b‖² (B) per example of x (B, …).
pub(crate) fn per_example_sq_norms(path: KernelPath, x: &Tensor) -> Result<Tensor> {
    match path {
        KernelPath::Fused => super::per_example_sq_norms(x),
        KernelPath::Portable => portable::per_example_sq_norms(x),
    }
}

/// The embeddings' clipped sums from g = dL/d(embedding output) (B, T, d) and the token ids (B·T):
/// Σ_b c_b ∇wte_b (vocab, d) when `token` gives (vocab, c) and Σ_b c'_b ∇wpe_b (context, d) when
/// `position` gives (context, c'), factors (B, 1, 1).
pub(crate) fn clipped_embedding_sums(path: KernelPath, g: &Tensor, ids: &[u32], token: Option<(usize, &Tensor)>, position: Option<(usize, &Tensor)>) -> Result<(Option<Tensor>, Option<Tensor>)> {
    match path {
        KernelPath::Fused => {
            let host = |c: &Tensor| -> Result<Vec<f64>> { c.flatten_all()?.to_dtype(candle_core::DType::F64)?.to_vec1() };
            let (ct, cp) = (token.map(|(_, c)| host(c)).transpose()?, position.map(|(_, c)| host(c)).transpose()?);
            super::clipped_embedding_sums(g, ids, token.map(|(v, _)| v).zip(ct.as_deref()), position.map(|(n, _)| n).zip(cp.as_deref()))
        }
        KernelPath::Portable => portable::clipped_embedding_sums(g, ids, token, position),
    }
}
