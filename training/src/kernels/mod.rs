//! Fused CPU kernels for the training hot path (issue 18), as candle custom ops with a forward and
//! a hand-written backward: LayerNorm, GELU, softmax-cross-entropy over the vocabulary, causal
//! multi-head attention and the linear layer (on its own AVX-512 f32 product, `sgemm`, or `gemm`
//! directly), plus a one-pass AdamW update.
//! Each replaces a chain of candle ops that allocates a tensor per op and calls libm per element
//! (shared/notes/dpsgd-on-candle.md, finding 6) by one pass per row, vectorised (AVX-512 or AVX2
//! where the CPU has them) and split over rayon when rows are many. Each is checked against the
//! unfused candle ops it replaces (`tests.rs`: values and gradients, 1e-5 relative in f32).

mod adamw;
mod attention;
mod cross_entropy;
mod gelu;
mod ghost;
mod layer_norm;
mod linear;
mod per_example;
pub(crate) mod path;
pub(crate) mod portable;
mod sgemm;
mod transpose;

/// Whether the CPU has AVX-512F (the f32 product, the register transpose, ChaCha20's wide blocks).
pub(crate) use sgemm::available as has_avx512f;

pub(crate) use adamw::{adamw_update, AdamWStep};
pub(crate) use attention::{attention_backward, attention_forward, CausalAttention};
pub(crate) use cross_entropy::{ce_backward, ce_forward, SoftmaxCrossEntropy};
pub(crate) use gelu::{gelu_bwd, gelu_fwd, Gelu};
pub(crate) use layer_norm::{ln_backward, ln_backward_per_example, ln_forward, LayerNorm, LnNormalize};
pub(crate) use linear::{linear_forward, linear_input_grad, linear_weight_grads, Linear};
use linear::gemm_raw;
pub(crate) use ghost::{clipped_weight_sum, ghost_sq_norms, per_example_weight_grads};
pub(crate) use per_example::{clipped_embedding_sums, embedding_sq_norms, per_example_sq_norms, per_example_sums};
#[cfg(target_arch = "x86_64")]
pub(crate) use transpose::transpose_16x16;
use transpose::transpose_into;
pub use path::KernelPath;

use std::mem::MaybeUninit;

use candle_core::{CpuStorage, DType, Device, Layout, Result, Shape, Storage, Tensor, WithDType};
use rayon::prelude::*;

/// The float types the kernels run on: f32 (training) and f64 (exactness tests).
pub(crate) trait Real: WithDType + PartialOrd + Send + Sync {
    /// e^x; for f32 the vectorisable polynomial [`crate::scoring::exp_f32`] (relative error ~1e-7).
    fn exp(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
}

impl Real for f32 {
    #[inline(always)]
    fn exp(self) -> Self {
        crate::scoring::exp_f32(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        f32::ln(self)
    }
}

impl Real for f64 {
    #[inline(always)]
    fn exp(self) -> Self {
        f64::exp(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        f64::ln(self)
    }
}

/// Generates `$name`, which runs the `#[inline(always)]` generic body `$body` compiled for
/// AVX-512 or AVX2+FMA when the CPU has them (runtime check), else for the baseline target.
macro_rules! multiversion {
    ($vis:vis fn $name:ident<T>($($arg:ident: $ty:ty),* $(,)?) => $body:ident) => {
        $vis fn $name<T: $crate::kernels::Real>($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                fn v4<T: $crate::kernels::Real>($($arg: $ty),*) {
                    $body::<T>($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn v3<T: $crate::kernels::Real>($($arg: $ty),*) {
                    $body::<T>($($arg),*)
                }
                if $crate::kernels::has_avx512() {
                    // SAFETY: the CPU has the features v4 is compiled for (checked at run time).
                    return unsafe { v4::<T>($($arg),*) };
                }
                if $crate::kernels::has_avx2() {
                    // SAFETY: as above, for v3.
                    return unsafe { v3::<T>($($arg),*) };
                }
            }
            $body::<T>($($arg),*)
        }
    };
}
pub(crate) use multiversion;

#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512vl") && has_avx2()
}

#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// x·y in 16 independent partial sums (a vectorisable loop; one running sum would serialise on
/// the add latency).
#[inline(always)]
pub(crate) fn lane_dot<T: Real>(x: &[T], y: &[T]) -> T {
    const L: usize = 16;
    let zero = T::from_f64(0.0);
    let mut acc = [zero; L];
    let (xc, yc) = (x.chunks_exact(L), y.chunks_exact(L));
    let tail = xc.remainder().iter().zip(yc.remainder()).fold(zero, |s, (&a, &b)| s + a * b);
    for (a, b) in xc.zip(yc) {
        for j in 0..L {
            acc[j] += a[j] * b[j];
        }
    }
    acc.iter().fold(tail, |s, &v| s + v)
}

/// Rows per rayon task: enough work per task (about 32k elements) that splitting pays.
pub(crate) fn rows_per_task(row_len: usize) -> usize {
    (32_768 / row_len.max(1)).max(1)
}

/// The contiguous part of a CPU storage that `layout` describes, as a typed slice.
pub(crate) fn slice_of<'a, T: WithDType>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [T]> {
    let (start, end) = layout.contiguous_offsets().ok_or_else(|| candle_core::Error::Msg(format!("{op}: input must be contiguous")))?;
    Ok(&storage.as_slice::<T>()?[start..end])
}

/// Runs `f` on the values of a CPU tensor (made contiguous first, a no-op when it already is).
pub(crate) fn with_values<T: WithDType, R>(t: &Tensor, f: impl FnOnce(&[T]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => f(slice_of::<T>(cpu, layout, "kernel")?),
        _ => Err(candle_core::Error::Msg("the fused kernels run on the CPU only".into())),
    }
}

/// A CPU tensor that takes ownership of `values` (no copy).
pub(crate) fn tensor_from<T: WithDType>(values: Vec<T>, shape: impl Into<Shape>) -> Result<Tensor> {
    Tensor::from_vec(values, shape, &Device::Cpu)
}

/// A vector of `len` elements written in full by `fill` (a kernel's output), without a zero-filling
/// pass first: `fill` gets the uninitialised buffer and must write every element of it.
///
/// # Safety
/// `fill` must initialise every element of the slice it is given.
pub(crate) unsafe fn vec_written_by<T>(len: usize, fill: impl FnOnce(&mut [MaybeUninit<T>])) -> Vec<T> {
    let mut v = Vec::with_capacity(len);
    fill(&mut v.spare_capacity_mut()[..len]);
    // SAFETY: the caller guarantees that `fill` initialised all `len` elements.
    unsafe { v.set_len(len) };
    v
}

/// Refuses dtypes other than f32 and f64, naming the op.
pub(crate) fn float_dtype(dtype: DType, op: &str) -> Result<DType> {
    match dtype {
        DType::F32 | DType::F64 => Ok(dtype),
        other => Err(candle_core::Error::Msg(format!("{op}: f32 and f64 only, got {other:?}"))),
    }
}

/// Applies `f(first_row, out_chunk)` to `out` split into chunks of whole rows of `row_len`
/// (about 32k elements each), in parallel when there are several chunks and threads.
pub(crate) fn for_row_chunks<T: Send>(out: &mut [T], row_len: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    for_row_chunks_sized(out, row_len, rows_per_task(row_len), f)
}

/// [`for_row_chunks`] with `rows` rows per task (when a row of `out` stands for more work).
pub(crate) fn for_row_chunks_sized<T: Send>(out: &mut [T], row_len: usize, rows: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    let row_len = row_len.max(1);
    let per = rows.max(1) * row_len;
    if out.len() <= per || rayon::current_num_threads() == 1 {
        f(0, out);
    } else {
        out.par_chunks_mut(per).enumerate().for_each(|(i, chunk)| f(i * rows.max(1), chunk));
    }
}

#[cfg(test)]
mod tests;
