//! Softmax cross-entropy over the vocabulary, fused: logits (N, V) → weighted row losses (N),
//! loss_r = w_r·(lse_r − x_{r,t_r}) with lse_r = log Σ_j e^{x_rj}. Backward in one pass:
//! dx_rj = g_r·w_r·(e^{x_rj − lse_r} − [j = t_r]). Rows with w_r = 0 (padding) cost nothing.
//! The forward keeps lse per row for the backward.

use std::mem::MaybeUninit;
use std::sync::Mutex;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};

use super::{float_dtype, for_row_chunks, for_row_chunks_sized, multiversion, rows_per_task, slice_of, tensor_from, vec_written_by, with_values, Real};

/// Row losses w_r·NLL(x_r, t_r) with their gradient for the logits.
pub(crate) struct SoftmaxCrossEntropy {
    /// Target class of each row.
    pub targets: Vec<u32>,
    /// Weight of each row (e.g. mask / tokens of the row's example).
    pub weights: Vec<f64>,
    /// log Σ e^x per row, left by the forward for the backward.
    lse: Mutex<Vec<f64>>,
}

impl SoftmaxCrossEntropy {
    /// An op for rows with these targets and weights.
    pub fn new(targets: Vec<u32>, weights: Vec<f64>) -> Self {
        SoftmaxCrossEntropy { targets, weights, lse: Mutex::new(Vec::new()) }
    }
}

/// Max and log-sum-exp of one row (16 partial lanes so the compiler vectorises the reductions).
#[inline(always)]
fn row_lse<T: Real>(x: &[T]) -> T {
    const L: usize = 16;
    let mut m = [x[0]; L];
    let chunks = x.chunks_exact(L);
    let tail = chunks.remainder();
    for c in chunks {
        for j in 0..L {
            m[j] = if c[j] > m[j] { c[j] } else { m[j] };
        }
    }
    let mut mx = m[0];
    for &v in m.iter().chain(tail) {
        mx = if v > mx { v } else { mx };
    }
    let mut s = [T::from_f64(0.0); L];
    let chunks = x.chunks_exact(L);
    for c in chunks {
        for j in 0..L {
            s[j] += (c[j] - mx).exp();
        }
    }
    let mut sum = T::from_f64(0.0);
    for v in s {
        sum += v;
    }
    for &v in tail {
        sum += (v - mx).exp();
    }
    mx + sum.ln()
}

#[inline(always)]
fn forward_body<T: Real>(x: &[T], lse: &mut [T], v: usize) {
    for (xr, l) in x.chunks_exact(v).zip(lse.iter_mut()) {
        *l = row_lse(xr);
    }
}

#[inline(always)]
fn backward_body<T: Real>(dx: &mut [MaybeUninit<T>], x: &[T], lse: &[f64], scale: &[T], targets: &[u32], v: usize) {
    let zero = T::from_f64(0.0);
    for (r, (dr, xr)) in dx.chunks_exact_mut(v).zip(x.chunks_exact(v)).enumerate() {
        let s = scale[r];
        if s == zero {
            for o in dr.iter_mut() {
                o.write(zero);
            }
            continue;
        }
        let l = T::from_f64(lse[r]);
        for (o, &xv) in dr.iter_mut().zip(xr) {
            o.write(s * (xv - l).exp());
        }
        let t = targets[r] as usize;
        dr[t].write(s * (xr[t] - l).exp() - s);
    }
}

multiversion!(fn forward_rows<T>(x: &[T], lse: &mut [T], v: usize) => forward_body);
multiversion!(fn backward_rows<T>(dx: &mut [MaybeUninit<T>], x: &[T], lse: &[f64], scale: &[T], targets: &[u32], v: usize) => backward_body);

impl SoftmaxCrossEntropy {
    fn forward<T: Real>(&self, x: &[T], v: usize) -> Result<Vec<T>> {
        let (loss, lse) = ce_forward(x, &self.targets, &self.weights, v)?;
        *self.lse.lock().expect("lse poisoned") = lse;
        Ok(loss)
    }

    fn backward<T: Real>(&self, x: &Tensor, grad: &Tensor) -> Result<Tensor> {
        let (n, v) = x.dims2()?;
        let lse = self.lse.lock().expect("lse poisoned");
        with_values::<T, _>(x, |xv| {
            with_values::<T, _>(grad, |g| {
                let scale: Vec<T> = (0..n).map(|r| g[r] * T::from_f64(self.weights[r])).collect();
                tensor_from(ce_backward(xv, &lse, &scale, &self.targets, v), (n, v))
            })
        })
    }
}

/// Weighted row losses w_r·(lse_r − x_{r,t_r}) of logits `x` (rows of `v`) and each row's lse
/// (kept for [`ce_backward`]); refuses a row count or target that does not fit.
pub(crate) fn ce_forward<T: Real>(x: &[T], targets: &[u32], weights: &[f64], v: usize) -> Result<(Vec<T>, Vec<f64>)> {
    let n = x.len() / v.max(1);
    if targets.len() != n || weights.len() != n {
        return Err(candle_core::Error::Msg(format!("fused-cross-entropy: {n} rows, {} targets, {} weights", targets.len(), weights.len())));
    }
    if let Some(t) = targets.iter().find(|&&t| t as usize >= v) {
        return Err(candle_core::Error::Msg(format!("fused-cross-entropy: target {t} outside the vocabulary of {v}")));
    }
    let mut lse = vec![T::from_f64(0.0); n];
    for_row_chunks_sized(&mut lse, 1, rows_per_task(v), |first, out| forward_rows::<T>(&x[first * v..(first + out.len()) * v], out, v));
    let loss = (0..n).map(|r| if weights[r] == 0.0 { T::from_f64(0.0) } else { T::from_f64(weights[r]) * (lse[r] - x[r * v + targets[r] as usize]) }).collect();
    Ok((loss, lse.iter().map(|l| l.to_f64()).collect()))
}

/// dL/dx (rows of `v`) of [`ce_forward`], where `scale` is dL/d(loss_r)·w_r per row (0: padding).
pub(crate) fn ce_backward<T: Real>(x: &[T], lse: &[f64], scale: &[T], targets: &[u32], v: usize) -> Vec<T> {
    let n = x.len() / v.max(1);
    let write = |dx: &mut [MaybeUninit<T>]| {
        for_row_chunks(dx, v, |first, out| {
            let rows = first..first + out.len() / v;
            backward_rows::<T>(out, &x[rows.start * v..rows.end * v], &lse[rows.clone()], &scale[rows.clone()], &targets[rows], v)
        })
    };
    // SAFETY: the chunks cover all n rows and `backward_rows` writes every element of each row.
    unsafe { vec_written_by(n * v, write) }
}

impl CustomOp1 for SoftmaxCrossEntropy {
    fn name(&self) -> &'static str {
        "fused-cross-entropy"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let dims = l.shape().dims();
        if dims.len() != 2 {
            return Err(candle_core::Error::Msg(format!("fused-cross-entropy: logits must be (rows, vocabulary), got {dims:?}")));
        }
        let (n, v) = (dims[0], dims[1]);
        let out = match s {
            CpuStorage::F32(_) => CpuStorage::F32(self.forward(slice_of::<f32>(s, l, self.name())?, v)?),
            CpuStorage::F64(_) => CpuStorage::F64(self.forward(slice_of::<f64>(s, l, self.name())?, v)?),
            other => return Err(candle_core::Error::Msg(format!("fused-cross-entropy: f32 and f64 only, got {:?}", other.dtype()))),
        };
        Ok((out, Shape::from(n)))
    }
    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(match float_dtype(x.dtype(), self.name())? {
            DType::F32 => self.backward::<f32>(x, grad)?,
            _ => self.backward::<f64>(x, grad)?,
        }))
    }
}
