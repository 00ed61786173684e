//! Causal multi-head self-attention for short contexts, fused: the fused QKV projection's output
//! (B, T, 3d) → the heads' outputs side by side (B, T, d), the layout the output projection reads,
//! so no head transposes or `contiguous()` copies. Per example and head (Vaswani et al. 2017):
//! S = QKᵀ/√hd on keys j ≤ i only, P = softmax(S), Y = PV. The forward keeps P for the backward:
//! dV = Pᵀ dY, dP = dY Vᵀ, dS = P⊙(dP − rowsum(P⊙dP)), dQ = dS K/√hd, dK = dSᵀ Q/√hd.
//! Masked keys are skipped, not computed and zeroed: about half the work of the dense form.

use std::sync::Mutex;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{float_dtype, multiversion, slice_of, tensor_from, with_values, Real};

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

/// One example: qkv (T, 3d) → y (T, d) and probs (H, T, T).
#[inline(always)]
fn forward_body<T: Real>(qkv: &[T], y: &mut [T], probs: &mut [T], kt: &mut [T], dims: Dims) {
    let Dims { t, d, h, hd } = dims;
    let zero = T::from_f64(0.0);
    let scale = T::from_f64(1.0 / (hd as f64).sqrt());
    for head in 0..h {
        let (qo, ko, vo) = (head * hd, d + head * hd, 2 * d + head * hd);
        // Kᵀ (hd, T): row c holds feature c of every key, so S's rows are axpys over keys.
        for j in 0..t {
            for c in 0..hd {
                kt[c * t + j] = qkv[j * 3 * d + ko + c];
            }
        }
        let p_head = &mut probs[head * t * t..(head + 1) * t * t];
        for i in 0..t {
            let seen = i + 1;
            let s = &mut p_head[i * t..i * t + seen];
            s.fill(zero);
            let q = &qkv[i * 3 * d + qo..i * 3 * d + qo + hd];
            for c in 0..hd {
                let qc = q[c] * scale;
                for (sj, &kj) in s.iter_mut().zip(&kt[c * t..c * t + seen]) {
                    *sj += qc * kj;
                }
            }
            let mut m = s[0];
            for &v in s.iter() {
                m = if v > m { v } else { m };
            }
            let mut sum = zero;
            for v in s.iter_mut() {
                *v = (*v - m).exp();
                sum += *v;
            }
            let inv = T::from_f64(1.0) / sum;
            for v in s.iter_mut() {
                *v *= inv;
            }
            p_head[i * t + seen..(i + 1) * t].fill(zero);
            let yi = &mut y[i * d + qo..i * d + qo + hd];
            yi.fill(zero);
            for j in 0..seen {
                let pj = p_head[i * t + j];
                for (o, &v) in yi.iter_mut().zip(&qkv[j * 3 * d + vo..j * 3 * d + vo + hd]) {
                    *o += pj * v;
                }
            }
        }
    }
}

/// One example: (qkv, probs, dy) → dqkv (T, 3d).
#[inline(always)]
fn backward_body<T: Real>(qkv: &[T], probs: &[T], dy: &[T], dqkv: &mut [T], vt: &mut [T], ds: &mut [T], dq: &mut [T], dims: Dims) {
    let Dims { t, d, h, hd } = dims;
    let zero = T::from_f64(0.0);
    let scale = T::from_f64(1.0 / (hd as f64).sqrt());
    dqkv.fill(zero);
    for head in 0..h {
        let (qo, ko, vo) = (head * hd, d + head * hd, 2 * d + head * hd);
        for j in 0..t {
            for c in 0..hd {
                vt[c * t + j] = qkv[j * 3 * d + vo + c];
            }
        }
        let p_head = &probs[head * t * t..(head + 1) * t * t];
        for i in 0..t {
            let seen = i + 1;
            let p = &p_head[i * t..i * t + seen];
            let dyi = &dy[i * d + qo..i * d + qo + hd];
            // dP row = dY_i · Vᵀ over the keys seen.
            let dp = &mut ds[..seen];
            dp.fill(zero);
            for c in 0..hd {
                let g = dyi[c];
                for (o, &v) in dp.iter_mut().zip(&vt[c * t..c * t + seen]) {
                    *o += g * v;
                }
            }
            let mut dot = zero;
            for (&pj, &dpj) in p.iter().zip(dp.iter()) {
                dot += pj * dpj;
            }
            for (o, &pj) in dp.iter_mut().zip(p) {
                *o = pj * (*o - dot) * scale;
            }
            // dQ_i = Σ_j dS_ij K_j; dK_j += dS_ij Q_i; dV_j += P_ij dY_i.
            let dq = &mut dq[..hd];
            dq.fill(zero);
            let qi = &qkv[i * 3 * d + qo..i * 3 * d + qo + hd];
            for j in 0..seen {
                let (dsj, pj) = (ds[j], p[j]);
                let kj = &qkv[j * 3 * d + ko..j * 3 * d + ko + hd];
                for (o, &k) in dq.iter_mut().zip(kj) {
                    *o += dsj * k;
                }
                let (dk, dv) = dqkv[j * 3 * d + ko..j * 3 * d + vo + hd].split_at_mut(vo - ko);
                for (o, &q) in dk[..hd].iter_mut().zip(qi) {
                    *o += dsj * q;
                }
                for (o, &g) in dv.iter_mut().zip(dyi) {
                    *o += pj * g;
                }
            }
            for (o, &v) in dqkv[i * 3 * d + qo..i * 3 * d + qo + hd].iter_mut().zip(dq.iter()) {
                *o += v;
            }
        }
    }
}

multiversion!(fn forward_example<T>(qkv: &[T], y: &mut [T], probs: &mut [T], kt: &mut [T], dims: Dims) => forward_body);
multiversion!(fn backward_example<T>(qkv: &[T], probs: &[T], dy: &[T], dqkv: &mut [T], vt: &mut [T], ds: &mut [T], dq: &mut [T], dims: Dims) => backward_body);

impl CausalAttention {
    fn dims(&self, shape: &[usize]) -> Result<(usize, Dims)> {
        let [b, t, three_d] = shape else {
            return Err(candle_core::Error::Msg(format!("fused-attention: qkv must be (B, T, 3d), got {shape:?}")));
        };
        let d = three_d / 3;
        if three_d % 3 != 0 || self.n_head == 0 || d % self.n_head != 0 {
            return Err(candle_core::Error::Msg(format!("fused-attention: width {three_d} is not 3 × heads {} × head width", self.n_head)));
        }
        Ok((*b, Dims { t: *t, d, h: self.n_head, hd: d / self.n_head }))
    }

    fn forward<T: Real>(&self, qkv: &[T], b: usize, dims: Dims) -> Result<Vec<T>> {
        let Dims { t, d, h, hd } = dims;
        let zero = T::from_f64(0.0);
        let mut y = vec![zero; b * t * d];
        let mut probs = vec![zero; b * h * t * t];
        let work = |(ex, (yb, pb)): (usize, (&mut [T], &mut [T]))| {
            let mut kt = vec![zero; hd * t];
            forward_example::<T>(&qkv[ex * t * 3 * d..(ex + 1) * t * 3 * d], yb, pb, &mut kt, dims);
        };
        if rayon::current_num_threads() == 1 {
            y.chunks_mut(t * d).zip(probs.chunks_mut(h * t * t)).enumerate().for_each(work);
        } else {
            y.par_chunks_mut(t * d).zip(probs.par_chunks_mut(h * t * t)).enumerate().for_each(work);
        }
        *self.probs.lock().expect("probs poisoned") = Some(tensor_from(probs, (b, h, t, t))?);
        Ok(y)
    }

    fn backward<T: Real>(&self, qkv: &Tensor, grad: &Tensor) -> Result<Tensor> {
        let (b, dims) = self.dims(qkv.dims())?;
        let Dims { t, d, h, hd } = dims;
        let probs = self.probs.lock().expect("probs poisoned").clone().ok_or_else(|| candle_core::Error::Msg("fused-attention: backward before forward".into()))?;
        with_values::<T, _>(qkv, |x| {
            with_values::<T, _>(&probs, |p| {
                with_values::<T, _>(grad, |g| {
                    let zero = T::from_f64(0.0);
                    let mut dx = vec![zero; b * t * 3 * d];
                    let work = |(ex, dxb): (usize, &mut [T])| {
                        let (mut vt, mut ds, mut dq) = (vec![zero; hd * t], vec![zero; t], vec![zero; hd]);
                        let xs = &x[ex * t * 3 * d..(ex + 1) * t * 3 * d];
                        let ps = &p[ex * h * t * t..(ex + 1) * h * t * t];
                        backward_example::<T>(xs, ps, &g[ex * t * d..(ex + 1) * t * d], dxb, &mut vt, &mut ds, &mut dq, dims);
                    };
                    if rayon::current_num_threads() == 1 {
                        dx.chunks_mut(t * 3 * d).enumerate().for_each(work);
                    } else {
                        dx.par_chunks_mut(t * 3 * d).enumerate().for_each(work);
                    }
                    tensor_from(dx, (b, t, 3 * d))
                })
            })
        })
    }
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
