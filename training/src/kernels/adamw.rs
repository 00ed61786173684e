//! One AdamW update of a parameter tensor in a single pass (Loshchilov & Hutter 2019, Algorithm 2,
//! PyTorch's form), instead of about ten candle ops each writing a fresh tensor:
//! m' = β₁m + (1−β₁)g, v' = β₂v + (1−β₂)g², w' = w·(1 − lr·λ) − lr·(m'/bc₁)/(√(v'/bc₂) + ε).

use candle_core::{DType, Result, Tensor};

use super::{float_dtype, multiversion, tensor_from, with_values, Real};

/// The scalars of one AdamW step for one tensor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdamWStep {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Bias corrections 1 − β₁ᵗ and 1 − β₂ᵗ.
    pub bc1: f64,
    pub bc2: f64,
    /// Multiplier of the weights before the step: 1 − lr·λ (decayed tensors) or 1.
    pub decay: f64,
}

#[inline(always)]
fn update_body<T: Real>(w: &[T], g: &[T], m: &[T], v: &[T], out_w: &mut [T], out_m: &mut [T], out_v: &mut [T], s: AdamWStep) {
    let (b1, c1, b2, c2) = (T::from_f64(s.beta1), T::from_f64(1.0 - s.beta1), T::from_f64(s.beta2), T::from_f64(1.0 - s.beta2));
    let (bc1, bc2, eps, lr, decay) = (T::from_f64(s.bc1), T::from_f64(s.bc2), T::from_f64(s.eps), T::from_f64(s.lr), T::from_f64(s.decay));
    for i in 0..w.len() {
        let mi = b1 * m[i] + c1 * g[i];
        let vi = b2 * v[i] + c2 * (g[i] * g[i]);
        out_m[i] = mi;
        out_v[i] = vi;
        out_w[i] = w[i] * decay - (mi / bc1) / ((vi / bc2).sqrt() + eps) * lr;
    }
}

multiversion!(fn update<T>(w: &[T], g: &[T], m: &[T], v: &[T], out_w: &mut [T], out_m: &mut [T], out_v: &mut [T], s: AdamWStep) => update_body);

/// (w', m', v') for parameter `w` with gradient `g` and moments `m`, `v` (all the same shape).
pub(crate) fn adamw_update(w: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor, step: AdamWStep) -> Result<(Tensor, Tensor, Tensor)> {
    fn run<T: Real>(w: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor, s: AdamWStep) -> Result<(Tensor, Tensor, Tensor)> {
        let n = w.elem_count();
        let zero = T::from_f64(0.0);
        let (mut ow, mut om, mut ov) = (vec![zero; n], vec![zero; n], vec![zero; n]);
        with_values::<T, _>(w, |wv| with_values::<T, _>(g, |gv| with_values::<T, _>(m, |mv| with_values::<T, _>(v, |vv| Ok(update::<T>(wv, gv, mv, vv, &mut ow, &mut om, &mut ov, s))))))?;
        Ok((tensor_from(ow, w.shape())?, tensor_from(om, w.shape())?, tensor_from(ov, w.shape())?))
    }
    for (t, what) in [(g, "gradient"), (m, "first moment"), (v, "second moment")] {
        if t.dims() != w.dims() || t.dtype() != w.dtype() {
            return Err(candle_core::Error::Msg(format!("adamw: {what} {:?} {:?} for a parameter {:?} {:?}", t.dims(), t.dtype(), w.dims(), w.dtype())));
        }
    }
    match float_dtype(w.dtype(), "adamw")? {
        DType::F32 => run::<f32>(w, g, m, v, step),
        _ => run::<f64>(w, g, m, v, step),
    }
}
