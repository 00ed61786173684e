//! Per-example sums over positions, Σ_t v[b, t, :] (optionally of v⊙w), in one contiguous pass:
//! the per-example gradients of a bias (v = dL/dy) or of a LayerNorm gain (v⊙w = dL/dy⊙x̂), from
//! which the DP step takes both the per-example norms and the clipped sums. candle's `sum(1)`
//! over the middle dim of (B, T, d) walks strided indices and was the DP step's largest cost.

use candle_core::{DType, Result, Tensor};

use super::{float_dtype, tensor_from, with_values, Real};

fn sums<T: Real>(v: &[T], w: Option<&[T]>, b: usize, t: usize, d: usize) -> Vec<T> {
    let mut out = vec![T::from_f64(0.0); b * d];
    for (i, acc) in out.chunks_exact_mut(d).enumerate() {
        for p in 0..t {
            let off = (i * t + p) * d;
            let row = &v[off..off + d];
            match w {
                Some(w) => {
                    for ((o, &x), &y) in acc.iter_mut().zip(row).zip(&w[off..off + d]) {
                        *o += x * y;
                    }
                }
                None => {
                    for (o, &x) in acc.iter_mut().zip(row) {
                        *o += x;
                    }
                }
            }
        }
    }
    out
}

/// (B, d) = Σ_t v[b, t, :] (⊙ w[b, t, :] when given) for v (and w) of shape (B, T, d).
pub(crate) fn per_example_sums(v: &Tensor, w: Option<&Tensor>) -> Result<Tensor> {
    let (b, t, d) = v.dims3()?;
    if let Some(w) = w {
        if w.dims() != v.dims() {
            return Err(candle_core::Error::Msg(format!("per-example sums: {:?} ⊙ {:?}", v.dims(), w.dims())));
        }
    }
    fn run<T: Real>(v: &Tensor, w: Option<&Tensor>, (b, t, d): (usize, usize, usize)) -> Result<Tensor> {
        with_values::<T, _>(v, |vv| match w {
            Some(w) => with_values::<T, _>(w, |wv| tensor_from(sums(vv, Some(wv), b, t, d), (b, d))),
            None => tensor_from(sums(vv, None, b, t, d), (b, d)),
        })
    }
    match float_dtype(v.dtype(), "per-example sums")? {
        DType::F32 => run::<f32>(v, w, (b, t, d)),
        _ => run::<f64>(v, w, (b, t, d)),
    }
}
