//! Book-keeping hook ops (shared/notes/dpsgd-on-candle.md, "BK-hook"): layers whose forward uses
//! detached weights and whose backward stores dL/d(output) in a slot and returns only dL/d(input),
//! so no weight-gradient matmul runs during the one backward pass of a DP step.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};

use crate::kernels::{linear_forward, linear_input_grad, slice_of, tensor_from, with_values, Real};

/// Where a hook op leaves the gradient of its output after backward.
pub(crate) type Slot = Arc<Mutex<Option<Tensor>>>;

/// y = x·Wᵀ + b on (N, din) rows; backward keeps dL/dy and returns dL/dx = dL/dy·W.
pub(crate) struct LinearHook {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub slot: Slot,
}

impl LinearHook {
    fn forward<T: Real>(&self, x: &[T], n: usize, din: usize) -> Result<Vec<T>> {
        let dout = self.weight.dim(0)?;
        with_values::<T, _>(&self.weight, |w| match &self.bias {
            Some(b) => with_values::<T, _>(b, |b| Ok(linear_forward(x, w, Some(b), n, din, dout))),
            None => Ok(linear_forward(x, w, None, n, din, dout)),
        })
    }
}

impl CustomOp1 for LinearHook {
    fn name(&self) -> &'static str {
        "linear-hook"
    }
    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, din) = layout.shape().dims2()?;
        let out = match storage {
            CpuStorage::F32(_) => CpuStorage::F32(self.forward(slice_of::<f32>(storage, layout, "linear-hook")?, n, din)?),
            CpuStorage::F64(_) => CpuStorage::F64(self.forward(slice_of::<f64>(storage, layout, "linear-hook")?, n, din)?),
            _ => return Err(candle_core::Error::Msg("hook ops support f32 and f64 only".into())),
        };
        Ok((out, Shape::from((n, self.weight.dim(0)?))))
    }
    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let g = grad_res.contiguous()?;
        let (n, din) = arg.dims2()?;
        let dout = self.weight.dim(0)?;
        fn input_grad<T: Real>(g: &Tensor, w: &Tensor, (n, din, dout): (usize, usize, usize)) -> Result<Tensor> {
            with_values::<T, _>(g, |gv| with_values::<T, _>(w, |wv| tensor_from(linear_input_grad(gv, wv, n, din, dout), (n, din))))
        }
        let dx = match g.dtype() {
            DType::F32 => input_grad::<f32>(&g, &self.weight, (n, din, dout))?,
            _ => input_grad::<f64>(&g, &self.weight, (n, din, dout))?,
        };
        *self.slot.lock().expect("hook slot poisoned") = Some(g);
        Ok(Some(dx))
    }
}

/// The affine part of LayerNorm, y = x̂⊙γ + β on (N, d) rows; backward keeps dL/dy, returns dL/dy⊙γ.
pub(crate) struct LnAffineHook {
    pub gamma: Tensor,
    pub beta: Tensor,
    pub slot: Slot,
}

/// y = x⊙γ + β on rows of γ's length.
pub(crate) fn affine<T: Real>(x: &[T], gamma: &[T], beta: &[T]) -> Vec<T> {
    let mut y = Vec::with_capacity(x.len());
    for row in x.chunks_exact(gamma.len()) {
        y.extend(row.iter().zip(gamma).zip(beta).map(|((&v, &g), &b)| v * g + b));
    }
    y
}

/// dx = g⊙γ on rows of γ's length.
fn scale_rows<T: Real>(g: &[T], gamma: &[T]) -> Vec<T> {
    let mut dx = Vec::with_capacity(g.len());
    for row in g.chunks_exact(gamma.len()) {
        dx.extend(row.iter().zip(gamma).map(|(&v, &s)| v * s));
    }
    dx
}

impl CustomOp1 for LnAffineHook {
    fn name(&self) -> &'static str {
        "ln-affine-hook"
    }
    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(h: &LnAffineHook, x: &[T]) -> Result<Vec<T>> {
            with_values::<T, _>(&h.gamma, |g| with_values::<T, _>(&h.beta, |b| Ok(affine(x, g, b))))
        }
        let out = match storage {
            CpuStorage::F32(_) => CpuStorage::F32(run(self, slice_of::<f32>(storage, layout, "ln-affine-hook")?)?),
            CpuStorage::F64(_) => CpuStorage::F64(run(self, slice_of::<f64>(storage, layout, "ln-affine-hook")?)?),
            _ => return Err(candle_core::Error::Msg("hook ops support f32 and f64 only".into())),
        };
        Ok((out, layout.shape().clone()))
    }
    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let g = grad_res.contiguous()?;
        fn run<T: Real>(g: &Tensor, gamma: &Tensor, shape: Shape) -> Result<Tensor> {
            with_values::<T, _>(g, |gv| with_values::<T, _>(gamma, |s| tensor_from(scale_rows(gv, s), shape)))
        }
        let dx = match g.dtype() {
            DType::F32 => run::<f32>(&g, &self.gamma, arg.shape().clone())?,
            _ => run::<f64>(&g, &self.gamma, arg.shape().clone())?,
        };
        *self.slot.lock().expect("hook slot poisoned") = Some(g);
        Ok(Some(dx))
    }
}

/// Which parameters a hooked layer owns (indices into the model's parameter list).
#[derive(Debug, Clone, Copy)]
pub(crate) enum HookKind {
    /// Linear layer: weight (dout, din) and optional bias (dout).
    Linear { weight: usize, bias: Option<usize> },
    /// LayerNorm affine: γ and β (d).
    LnAffine { gamma: usize, beta: usize },
}

/// One hooked layer application: its detached input (B, T, din) and where dL/d(output) ends up:
/// the slot (fused hook ops) or the gradient of `probe` (portable path: a zero Var added to the
/// output, so standard candle ops suffice).
pub(crate) struct HookRecord {
    pub kind: HookKind,
    pub input: Tensor,
    pub slot: Slot,
    pub probe: Option<candle_core::Var>,
}

/// What a hooked forward pass leaves behind for the per-example norm and clipping rules.
#[derive(Default)]
pub(crate) struct HookTape {
    pub records: Vec<HookRecord>,
    /// Zero Var added to the embedding output: anchors backward and yields dL/d(embedding output).
    pub probe: Option<candle_core::Var>,
}
