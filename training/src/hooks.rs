//! Book-keeping hook ops (shared/notes/dpsgd-on-candle.md, "BK-hook"): layers whose forward uses
//! detached weights and whose backward stores dL/d(output) in a slot and returns only dL/d(input),
//! so no weight-gradient matmul runs during the one backward pass of a DP step.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Result, Shape, Tensor};

/// Where a hook op leaves the gradient of its output after backward.
pub(crate) type Slot = Arc<Mutex<Option<Tensor>>>;

/// Copies a contiguous CPU storage view into a fresh tensor.
fn view_to_tensor(storage: &CpuStorage, layout: &Layout) -> Result<Tensor> {
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("hook op input must be contiguous".into()))?;
    match storage {
        CpuStorage::F32(v) => Tensor::from_slice(&v[start..end], layout.shape(), &Device::Cpu),
        CpuStorage::F64(v) => Tensor::from_slice(&v[start..end], layout.shape(), &Device::Cpu),
        _ => Err(candle_core::Error::Msg("hook ops support f32 and f64 only".into())),
    }
}

/// Moves a tensor's values into an owned CPU storage (the form `cpu_fwd` must return).
fn tensor_to_storage(t: &Tensor) -> Result<(CpuStorage, Shape)> {
    let shape = t.shape().clone();
    let flat = t.flatten_all()?;
    let storage = match t.dtype() {
        DType::F32 => CpuStorage::F32(flat.to_vec1::<f32>()?),
        DType::F64 => CpuStorage::F64(flat.to_vec1::<f64>()?),
        other => return Err(candle_core::Error::Msg(format!("hook ops: unsupported dtype {other:?}"))),
    };
    Ok((storage, shape))
}

/// y = x·Wᵀ + b on (N, din) rows; backward keeps dL/dy and returns dL/dx = dL/dy·W.
pub(crate) struct LinearHook {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub slot: Slot,
}

impl CustomOp1 for LinearHook {
    fn name(&self) -> &'static str {
        "linear-hook"
    }
    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = view_to_tensor(storage, layout)?;
        let mut y = x.matmul(&self.weight.t()?)?;
        if let Some(b) = &self.bias {
            y = y.broadcast_add(b)?;
        }
        tensor_to_storage(&y)
    }
    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let g = grad_res.contiguous()?;
        let dx = g.matmul(&self.weight)?;
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

impl CustomOp1 for LnAffineHook {
    fn name(&self) -> &'static str {
        "ln-affine-hook"
    }
    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = view_to_tensor(storage, layout)?;
        let y = x.broadcast_mul(&self.gamma)?.broadcast_add(&self.beta)?;
        tensor_to_storage(&y)
    }
    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let g = grad_res.contiguous()?;
        let dx = g.broadcast_mul(&self.gamma)?;
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

/// One hooked layer application: its detached input (B, T, din) and the slot for dL/d(output).
pub(crate) struct HookRecord {
    pub kind: HookKind,
    pub input: Tensor,
    pub slot: Slot,
}

/// What a hooked forward pass leaves behind for the per-example norm and clipping rules.
#[derive(Default)]
pub(crate) struct HookTape {
    pub records: Vec<HookRecord>,
    /// Zero Var added to the embedding output: anchors backward and yields dL/d(embedding output).
    pub probe: Option<candle_core::Var>,
}
