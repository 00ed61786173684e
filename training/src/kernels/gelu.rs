//! GELU, tanh form (Hendrycks & Gimpel 2016; candle's `gelu`), forward and backward in one pass each.
//! With u = √(2/π)(x + 0.044715x³) and s = σ(2u) = (1 + tanh u)/2:
//! y = x·s and dy/dx = s + 2x·s(1 − s)·√(2/π)(1 + 3·0.044715x²).

use std::mem::MaybeUninit;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

use super::{float_dtype, for_row_chunks, multiversion, slice_of, tensor_from, vec_written_by, with_values, Real};

/// Elementwise GELU (tanh approximation) with its backward.
pub(crate) struct Gelu;

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const COEF: f64 = 0.044_715;
/// Elements per parallel chunk (the kernel is elementwise: "rows" are just chunks).
const CHUNK: usize = 4096;

#[inline(always)]
fn forward_body<T: Real>(x: &[T], y: &mut [MaybeUninit<T>]) {
    let (c, a, one, m2) = (T::from_f64(SQRT_2_OVER_PI), T::from_f64(COEF), T::from_f64(1.0), T::from_f64(-2.0));
    for (o, &v) in y.iter_mut().zip(x) {
        let u = c * (v + a * v * v * v);
        o.write(v / (one + (m2 * u).exp()));
    }
}

#[inline(always)]
fn backward_body<T: Real>(x: &[T], g: &[T], dx: &mut [MaybeUninit<T>]) {
    let (c, a, one, two, three) = (T::from_f64(SQRT_2_OVER_PI), T::from_f64(COEF), T::from_f64(1.0), T::from_f64(2.0), T::from_f64(3.0));
    for ((o, &v), &gv) in dx.iter_mut().zip(x).zip(g) {
        let v2 = v * v;
        let u = c * (v + a * v2 * v);
        let s = one / (one + (T::from_f64(-2.0) * u).exp());
        o.write(gv * (s + two * v * s * (one - s) * c * (one + three * a * v2)));
    }
}

multiversion!(fn forward<T>(x: &[T], y: &mut [MaybeUninit<T>]) => forward_body);
multiversion!(fn backward<T>(x: &[T], g: &[T], dx: &mut [MaybeUninit<T>]) => backward_body);

/// GELU of every element.
pub(crate) fn gelu_fwd<T: Real>(x: &[T]) -> Vec<T> {
    // SAFETY: the chunks cover the whole output and `forward` writes every element of its chunk.
    unsafe { vec_written_by(x.len(), |y| for_row_chunks(y, CHUNK, |first, out| forward::<T>(&x[first * CHUNK..first * CHUNK + out.len()], out))) }
}

/// dL/dx of GELU at x from dL/dy = g.
pub(crate) fn gelu_bwd<T: Real>(x: &[T], g: &[T]) -> Vec<T> {
    let write = |dx: &mut [MaybeUninit<T>]| {
        for_row_chunks(dx, CHUNK, |first, out| {
            let r = first * CHUNK..first * CHUNK + out.len();
            backward::<T>(&x[r.clone()], &g[r], out)
        })
    };
    // SAFETY: the chunks cover the whole output and `backward` writes every element of its chunk.
    unsafe { vec_written_by(x.len(), write) }
}

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "fused-gelu"
    }
    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = match storage {
            CpuStorage::F32(_) => CpuStorage::F32(gelu_fwd(slice_of::<f32>(storage, layout, "fused-gelu")?)),
            CpuStorage::F64(_) => CpuStorage::F64(gelu_fwd(slice_of::<f64>(storage, layout, "fused-gelu")?)),
            other => return Err(candle_core::Error::Msg(format!("fused-gelu: f32 and f64 only, got {:?}", other.dtype()))),
        };
        Ok((out, layout.shape().clone()))
    }
    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let shape = arg.shape().clone();
        let dx = match float_dtype(arg.dtype(), "fused-gelu")? {
            candle_core::DType::F32 => with_values::<f32, _>(arg, |x| with_values::<f32, _>(grad_res, |g| tensor_from(gelu_bwd(x, g), shape.clone())))?,
            _ => with_values::<f64, _>(arg, |x| with_values::<f64, _>(grad_res, |g| tensor_from(gelu_bwd(x, g), shape.clone())))?,
        };
        Ok(Some(dx))
    }
}
