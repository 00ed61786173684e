//! Causal multi-head self-attention for short contexts, fused: the fused QKV projection's output
//! (B, T, 3d) → the heads' outputs side by side (B, T, d), the layout the output projection reads,
//! so no head transposes or `contiguous()` copies. Per example and head (Vaswani et al. 2017):
//! S = QKᵀ/√hd on keys j ≤ i only, P = softmax(S), Y = PV. The forward keeps P for the backward:
//! dV = Pᵀ dY, dP = dY Vᵀ, dS = P⊙(dP − rowsum(P⊙dP)), dQ = dS K/√hd, dK = dSᵀ Q/√hd.
//! Each of these is a small matrix product (T × T × hd) on the f32 AVX-512 kernel (or `gemm`),
//! one example per rayon task; the masked scores are computed densely and zeroed by the softmax.

use std::mem::MaybeUninit;
use std::sync::Mutex;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{float_dtype, gemm_raw, lane_dot, multiversion, slice_of, tensor_from, vec_written_by, with_values, Real};

/// A kernel's output block before it is written.
type Uninit<'a, T> = &'a mut [MaybeUninit<T>];

/// Causal attention over `n_head` heads on (B, T, 3d) fused-QKV rows.
pub(crate) struct CausalAttention {
    pub n_head: usize,
    /// Attention probabilities (B, H, T, T) left by the forward for the backward.
    probs: Mutex<Option<Tensor>>,
}

impl CausalAttention {
    /// An op for `n_head` heads.
    pub fn new(n_head: usize) -> Self {
        CausalAttention { n_head, probs: Mutex::new(None) }
    }
}

/// Shapes of one application: batch, sequence, width, heads, head width.
#[derive(Clone, Copy)]
struct Dims {
    t: usize,
    d: usize,
    h: usize,
    hd: usize,
}

/// Softmax of the causal rows of `p` (T, T) in place: row i scaled by `scale`, normalised over keys
/// j ≤ i, and zero beyond.
#[inline(always)]
fn causal_softmax_body<T: Real>(p: &mut [T], t: usize, scale: T) {
    let zero = T::from_f64(0.0);
    for (i, row) in p.chunks_exact_mut(t).enumerate() {
        let (s, masked) = row.split_at_mut(i + 1);
        let mut m = s[0] * scale;
        for v in s.iter_mut() {
            *v *= scale;
            m = if *v > m { *v } else { m };
        }
        for v in s.iter_mut() {
            *v = (*v - m).exp();
        }
        // 16 partial sums: the row's sum vectorises instead of waiting on each add.
        let mut lanes = [zero; 16];
        let chunks = s.chunks_exact(16);
        let mut sum = chunks.remainder().iter().fold(zero, |a, &v| a + v);
        for c in chunks {
            for j in 0..16 {
                lanes[j] += c[j];
            }
        }
        sum = lanes.iter().fold(sum, |a, &v| a + v);
        let inv = T::from_f64(1.0) / sum;
        for v in s.iter_mut() {
            *v *= inv;
        }
        masked.fill(zero);
    }
}

/// dS = P⊙(dP − rowsum(P⊙dP))·scale in place of dP, row by row (P is zero on masked keys, so dS is too).
#[inline(always)]
fn softmax_backward_body<T: Real>(p: &[T], dp: &mut [T], t: usize, scale: T) {
    for (i, (pr, dr)) in p.chunks_exact(t).zip(dp.chunks_exact_mut(t)).enumerate() {
        let seen = i + 1;
        let dot = lane_dot(&pr[..seen], &dr[..seen]);
        for (o, &pj) in dr.iter_mut().zip(pr) {
            *o = pj * (*o - dot) * scale;
        }
    }
}

multiversion!(fn causal_softmax<T>(p: &mut [T], t: usize, scale: T) => causal_softmax_body);
multiversion!(fn softmax_backward<T>(p: &[T], dp: &mut [T], t: usize, scale: T) => softmax_backward_body);

/// One example as small matrix products on the calling thread: qkv (T, 3d) → y (T, d) and probs
/// (H, T, T). Per head S = QKᵀ over all keys (the masked half is computed and then zeroed: a
/// dense product is faster than the ragged causal loop at these sizes), P = softmax, Y = PV.
fn forward_example<T: Real>(qkv: &[T], y: &mut [MaybeUninit<T>], probs: &mut [MaybeUninit<T>], dims: Dims) {
    let Dims { t, d, h, hd } = dims;
    assert!(hd > 0 && qkv.len() >= t * 3 * d && y.len() >= t * d && probs.len() >= h * t * t, "fused-attention: buffers too small");
    let scale = T::from_f64(1.0 / (hd as f64).sqrt());
    for head in 0..h {
        let (qo, ko, vo) = (head * hd, d + head * hd, 2 * d + head * hd);
        let p = &mut probs[head * t * t..(head + 1) * t * t];
        // SAFETY: p is a distinct (T, T) slice written at row stride T; Q rows start at qo with
        // row stride 3d and Kᵀ's column j is key j's row (indices < T·3d, asserted above).
        unsafe { gemm_raw(t, t, hd, p.as_mut_ptr() as *mut T, t, false, &qkv[qo..], (3 * d, 1), &qkv[ko..], (1, 3 * d), false) };
        // SAFETY: the product just wrote all T·T elements of p (hd > 0, no accumulation).
        let p = unsafe { &mut *(p as *mut [MaybeUninit<T>] as *mut [T]) };
        causal_softmax::<T>(p, t, scale);
        // SAFETY: y's rows i·d + qo .. + hd (i < T) are in bounds (y holds T·d) and y is distinct
        // from probs and qkv; V's rows start at vo with stride 3d.
        unsafe { gemm_raw(t, hd, t, y.as_mut_ptr().add(qo) as *mut T, d, false, p, (t, 1), &qkv[vo..], (3 * d, 1), false) };
    }
}

/// One example: (qkv, probs, dy) → dqkv (T, 3d), every element written. `ds` is (T, T) scratch.
/// dV = Pᵀ dY, dP = dY Vᵀ, dS = P⊙(dP − rowsum(P⊙dP))/√hd, dQ = dS K, dK = dSᵀ Q.
fn backward_example<T: Real>(qkv: &[T], probs: &[T], dy: &[T], dqkv: &mut [MaybeUninit<T>], ds: &mut [T], dims: Dims) {
    let Dims { t, d, h, hd } = dims;
    assert!(qkv.len() >= t * 3 * d && dqkv.len() >= t * 3 * d && dy.len() >= t * d && probs.len() >= h * t * t && ds.len() >= t * t, "fused-attention: buffers too small");
    let scale = T::from_f64(1.0 / (hd as f64).sqrt());
    let out = dqkv.as_mut_ptr() as *mut T;
    for head in 0..h {
        let (qo, ko, vo) = (head * hd, d + head * hd, 2 * d + head * hd);
        let p = &probs[head * t * t..(head + 1) * t * t];
        // SAFETY (all five products): each destination block — columns qo, ko or vo .. + hd of
        // dqkv's T rows at stride 3d, or ds (T, T) — is in bounds (asserted above) and distinct from
        // the operands; operand indices stay below T·3d (qkv), T·d (dy) and T·T (p, ds).
        unsafe {
            gemm_raw(t, hd, t, out.add(vo), 3 * d, false, p, (1, t), &dy[qo..], (d, 1), false);
            gemm_raw(t, t, hd, ds.as_mut_ptr(), t, false, &dy[qo..], (d, 1), &qkv[vo..], (1, 3 * d), false);
        }
        softmax_backward::<T>(p, ds, t, scale);
        // SAFETY: as above.
        unsafe {
            gemm_raw(t, hd, t, out.add(qo), 3 * d, false, ds, (t, 1), &qkv[ko..], (3 * d, 1), false);
            gemm_raw(t, hd, t, out.add(ko), 3 * d, false, ds, (1, t), &qkv[qo..], (3 * d, 1), false);
        }
    }
}

impl CausalAttention {
    fn dims(&self, shape: &[usize]) -> Result<(usize, Dims)> {
        let [b, t, three_d] = shape else {
            return Err(candle_core::Error::Msg(format!("fused-attention: qkv must be (B, T, 3d), got {shape:?}")));
        };
        let d = three_d / 3;
        if three_d % 3 != 0 || d == 0 || self.n_head == 0 || d % self.n_head != 0 {
            return Err(candle_core::Error::Msg(format!("fused-attention: width {three_d} is not 3 × heads {} × head width", self.n_head)));
        }
        Ok((*b, Dims { t: *t, d, h: self.n_head, hd: d / self.n_head }))
    }

    fn forward<T: Real>(&self, qkv: &[T], b: usize, dims: Dims) -> Result<Vec<T>> {
        let Dims { t, d, h, .. } = dims;
        let (y, probs) = attention_forward(qkv, b, t, d, h);
        *self.probs.lock().expect("probs poisoned") = Some(tensor_from(probs, (b, h, t, t))?);
        Ok(y)
    }

    fn backward<T: Real>(&self, qkv: &Tensor, grad: &Tensor) -> Result<Tensor> {
        let (b, dims) = self.dims(qkv.dims())?;
        let Dims { t, d, h, .. } = dims;
        let probs = self.probs.lock().expect("probs poisoned").clone().ok_or_else(|| candle_core::Error::Msg("fused-attention: backward before forward".into()))?;
        with_values::<T, _>(qkv, |x| with_values::<T, _>(&probs, |p| with_values::<T, _>(grad, |g| tensor_from(attention_backward(x, p, g, b, t, d, h), (b, t, 3 * d)))))
    }
}

/// Causal multi-head attention on the QKV rows of `b` sequences of `t` positions (each row
/// q | k | v, width 3d, `h` heads): the output (b·t, d) and the attention probabilities (b, h, t, t).
pub(crate) fn attention_forward<T: Real>(qkv: &[T], b: usize, t: usize, d: usize, h: usize) -> (Vec<T>, Vec<T>) {
    let dims = Dims { t, d, h, hd: d / h };
    let (mut y, mut probs) = (Vec::with_capacity(b * t * d), Vec::with_capacity(b * h * t * t));
    let work = |(ex, (yb, pb)): (usize, (Uninit<T>, Uninit<T>))| {
        forward_example::<T>(&qkv[ex * t * 3 * d..(ex + 1) * t * 3 * d], yb, pb, dims);
    };
    let (ys, ps) = (&mut y.spare_capacity_mut()[..b * t * d], &mut probs.spare_capacity_mut()[..b * h * t * t]);
    if rayon::current_num_threads() == 1 {
        ys.chunks_mut(t * d).zip(ps.chunks_mut(h * t * t)).enumerate().for_each(work);
    } else {
        ys.par_chunks_mut(t * d).zip(ps.par_chunks_mut(h * t * t)).enumerate().for_each(work);
    }
    // SAFETY: every example's chunk of y and probs is written in full by `forward_example`.
    unsafe {
        y.set_len(b * t * d);
        probs.set_len(b * h * t * t);
    }
    (y, probs)
}

/// dL/d(qkv) (b·t, 3d) of [`attention_forward`] from its probabilities and dL/dy.
pub(crate) fn attention_backward<T: Real>(qkv: &[T], probs: &[T], dy: &[T], b: usize, t: usize, d: usize, h: usize) -> Vec<T> {
    let dims = Dims { t, d, h, hd: d / h };
    let zero = T::from_f64(0.0);
    let work = |(ex, dxb): (usize, &mut [MaybeUninit<T>])| {
        let mut ds = vec![zero; t * t];
        let xs = &qkv[ex * t * 3 * d..(ex + 1) * t * 3 * d];
        let ps = &probs[ex * h * t * t..(ex + 1) * h * t * t];
        backward_example::<T>(xs, ps, &dy[ex * t * d..(ex + 1) * t * d], dxb, &mut ds, dims);
    };
    let write = |dx: &mut [MaybeUninit<T>]| {
        if rayon::current_num_threads() == 1 {
            dx.chunks_mut(t * 3 * d).enumerate().for_each(work);
        } else {
            dx.par_chunks_mut(t * 3 * d).enumerate().for_each(work);
        }
    };
    // SAFETY: `backward_example` writes all 3d columns of every row of its example's chunk.
    unsafe { vec_written_by(b * t * 3 * d, write) }
}

impl CustomOp1 for CausalAttention {
    fn name(&self) -> &'static str {
        "fused-causal-attention"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, dims) = self.dims(l.shape().dims())?;
        let out = match s {
            CpuStorage::F32(_) => CpuStorage::F32(self.forward(slice_of::<f32>(s, l, self.name())?, b, dims)?),
            CpuStorage::F64(_) => CpuStorage::F64(self.forward(slice_of::<f64>(s, l, self.name())?, b, dims)?),
            other => return Err(candle_core::Error::Msg(format!("fused-causal-attention: f32 and f64 only, got {:?}", other.dtype()))),
        };
        Ok((out, Shape::from((b, dims.t, dims.d))))
    }
    fn bwd(&self, qkv: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(match float_dtype(qkv.dtype(), self.name())? {
            DType::F32 => self.backward::<f32>(qkv, grad)?,
            _ => self.backward::<f64>(qkv, grad)?,
        }))
    }
}
