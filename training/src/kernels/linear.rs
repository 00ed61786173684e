//! The linear layer y = x·Wᵀ + b on (N, din) rows as one op, calling `gemm` (the crate behind
//! candle's CPU matmul) directly on the row-major buffers: the bias is written first and the
//! product accumulated onto it, and the backward computes dx = g·W, dW = gᵀ·x in W's own
//! (dout, din) layout and db = Σ_rows g, with no transposed views, broadcast temporaries or
//! `contiguous()` copies. [`linear_forward`] is also the forward of the DP hooks' linear op.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor};

use super::{float_dtype, sgemm, slice_of, tensor_from, with_values, Real};

/// dst (m, n, row-major) = [dst +] lhs·rhs, where lhs is (m, k) and rhs (k, n) with the given
/// (row, column) strides in elements.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_into<T: Real>(m: usize, n: usize, k: usize, dst: &mut [T], accumulate: bool, lhs: &[T], lhs_strides: (usize, usize), rhs: &[T], rhs_strides: (usize, usize)) {
    assert!(dst.len() >= m * n, "gemm destination too small");
    if k == 0 && !accumulate {
        dst[..m * n].fill(T::from_f64(0.0));
        return;
    }
    // SAFETY: dst holds m·n initialised elements and is a distinct &mut slice (no aliasing).
    unsafe { gemm_raw(m, n, k, dst.as_mut_ptr(), n, accumulate, lhs, lhs_strides, rhs, rhs_strides, true) }
}

/// A new (m, n) row-major lhs·rhs, written once by the product (no zero-filling pass first).
fn gemm_new<T: Real>(m: usize, n: usize, k: usize, lhs: &[T], lhs_strides: (usize, usize), rhs: &[T], rhs_strides: (usize, usize)) -> Vec<T> {
    if k == 0 {
        return vec![T::from_f64(0.0); m * n];
    }
    let mut out = Vec::with_capacity(m * n);
    // SAFETY: out has capacity m·n and is fresh (no aliasing); without accumulation the product
    // only writes dst (gemm's read_dst = false, sgemm's first panel stores without loading) and
    // writes every one of the m·n elements, so they are initialised before `set_len`.
    unsafe {
        gemm_raw(m, n, k, out.as_mut_ptr(), n, false, lhs, lhs_strides, rhs, rhs_strides, true);
        out.set_len(m * n);
    }
    out
}

/// dst = [dst +] lhs·rhs on a raw row-major destination with row stride `ldc` ≥ n: the AVX-512
/// [`sgemm`] for f32 where the CPU has it, else the `gemm` crate; over the rayon threads when
/// `parallel` (else on the calling thread, for callers that are themselves parallel).
///
/// # Safety
/// dst must be valid for writes at i·ldc + j for i < m, j < n (and initialised there when
/// `accumulate`) and must not overlap lhs or rhs; k > 0 unless `accumulate`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_raw<T: Real>(m: usize, n: usize, k: usize, dst: *mut T, ldc: usize, accumulate: bool, lhs: &[T], lhs_strides: (usize, usize), rhs: &[T], rhs_strides: (usize, usize), parallel: bool) {
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let last = |(rs, cs): (usize, usize), rows: usize, cols: usize| (rows - 1) * rs + (cols - 1) * cs;
    assert!(last(lhs_strides, m, k) < lhs.len() && last(rhs_strides, k, n) < rhs.len(), "gemm operand too small");
    if T::DTYPE == DType::F32 && sgemm::available() {
        // SAFETY: T is f32 (its DTYPE says so), so the casts reinterpret f32 as f32; the operand
        // bounds were checked above, avx512f is present, and dst is valid per this fn's contract.
        unsafe {
            let as_f32 = |s: &[T]| std::slice::from_raw_parts(s.as_ptr() as *const f32, s.len());
            sgemm::sgemm(m, n, k, dst as *mut f32, ldc, accumulate, as_f32(lhs), lhs_strides, as_f32(rhs), rhs_strides, parallel);
        }
        return;
    }
    let threads = if parallel { rayon::current_num_threads() } else { 1 };
    let parallelism = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    // SAFETY: the bounds of every operand were checked just above; dst is valid for the m × n
    // writes at row stride ldc and does not alias lhs or rhs (this fn's contract).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            ldc as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_strides.1 as isize,
            lhs_strides.0 as isize,
            rhs.as_ptr(),
            rhs_strides.1 as isize,
            rhs_strides.0 as isize,
            T::from_f64(1.0),
            T::from_f64(1.0),
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// y = x·Wᵀ (+ b) for x (n, din), W (dout, din).
pub(crate) fn linear_forward<T: Real>(x: &[T], w: &[T], b: Option<&[T]>, n: usize, din: usize, dout: usize) -> Vec<T> {
    // Wᵀ as a (din, dout) view of W: row stride 1, column stride din.
    match b {
        Some(b) => {
            let mut y = Vec::with_capacity(n * dout);
            for _ in 0..n {
                y.extend_from_slice(b);
            }
            gemm_into(n, dout, din, &mut y, true, x, (din, 1), w, (1, din));
            y
        }
        None => gemm_new(n, dout, din, x, (din, 1), w, (1, din)),
    }
}

/// dx = g·W (n, din) for g (n, dout), W (dout, din).
pub(crate) fn linear_input_grad<T: Real>(g: &[T], w: &[T], n: usize, din: usize, dout: usize) -> Vec<T> {
    gemm_new(n, din, dout, g, (dout, 1), w, (din, 1))
}

/// dW = gᵀ·x (dout, din) and, `with_bias`, db = Σ_rows g (dout; else empty).
pub(crate) fn linear_weight_grads<T: Real>(g: &[T], x: &[T], n: usize, din: usize, dout: usize, with_bias: bool) -> (Vec<T>, Vec<T>) {
    // gᵀ as a (dout, n) view of g: row stride 1, column stride dout.
    let dw = gemm_new(dout, din, n, g, (1, dout), x, (din, 1));
    let mut db = vec![T::from_f64(0.0); if with_bias { dout } else { 0 }];
    if with_bias {
        for row in g.chunks_exact(dout) {
            for (o, &v) in db.iter_mut().zip(row) {
                *o += v;
            }
        }
    }
    (dw, db)
}

/// Linear layer on (n, din) rows: as a [`CustomOp2`] (x, W) without bias, as a [`CustomOp3`]
/// (x, W, b) with one.
pub(crate) struct Linear;

fn dims(x: &Layout, w: &Layout) -> Result<(usize, usize, usize)> {
    match (x.shape().dims(), w.shape().dims()) {
        ([n, din], [dout, din_w]) if din == din_w => Ok((*n, *din, *dout)),
        (xs, ws) => Err(candle_core::Error::Msg(format!("fused-linear: x {xs:?} and W {ws:?} do not fit (n, din) · (dout, din)ᵀ"))),
    }
}

fn forward_storage(x: &CpuStorage, xl: &Layout, w: &CpuStorage, wl: &Layout, b: Option<(&CpuStorage, &Layout)>) -> Result<(CpuStorage, Shape)> {
    let (n, din, dout) = dims(xl, wl)?;
    if let Some((_, bl)) = b {
        if bl.shape().elem_count() != dout {
            return Err(candle_core::Error::Msg(format!("fused-linear: bias {:?} for {dout} outputs", bl.shape().dims())));
        }
    }
    const OP: &str = "fused-linear";
    let out = match x {
        CpuStorage::F32(_) => {
            let bias = b.map(|(s, l)| slice_of::<f32>(s, l, OP)).transpose()?;
            CpuStorage::F32(linear_forward(slice_of::<f32>(x, xl, OP)?, slice_of(w, wl, OP)?, bias, n, din, dout))
        }
        CpuStorage::F64(_) => {
            let bias = b.map(|(s, l)| slice_of::<f64>(s, l, OP)).transpose()?;
            CpuStorage::F64(linear_forward(slice_of::<f64>(x, xl, OP)?, slice_of(w, wl, OP)?, bias, n, din, dout))
        }
        other => return Err(candle_core::Error::Msg(format!("{OP}: f32 and f64 only, got {:?}", other.dtype()))),
    };
    Ok((out, Shape::from((n, dout))))
}

/// (dx, dW, db) for the tracked inputs only.
fn backward(x: &Tensor, w: &Tensor, grad: &Tensor, want: (bool, bool, bool)) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
    let (n, din) = x.dims2()?;
    let dout = w.dim(0)?;
    fn run<T: Real>(x: &Tensor, w: &Tensor, grad: &Tensor, (n, din, dout): (usize, usize, usize), want: (bool, bool, bool)) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        with_values::<T, _>(grad, |g| {
            let dx = if want.0 { Some(with_values::<T, _>(w, |wv| tensor_from(linear_input_grad(g, wv, n, din, dout), (n, din)))?) } else { None };
            let (dw, db) = if want.1 || want.2 {
                let (dw, db) = with_values::<T, _>(x, |xv| Ok(linear_weight_grads(g, xv, n, din, dout, want.2)))?;
                (if want.1 { Some(tensor_from(dw, (dout, din))?) } else { None }, if want.2 { Some(tensor_from(db, dout)?) } else { None })
            } else {
                (None, None)
            };
            Ok((dx, dw, db))
        })
    }
    match float_dtype(x.dtype(), "fused-linear")? {
        DType::F32 => run::<f32>(x, w, grad, (n, din, dout), want),
        _ => run::<f64>(x, w, grad, (n, din, dout), want),
    }
}

impl CustomOp2 for Linear {
    fn name(&self) -> &'static str {
        "fused-linear"
    }
    fn cpu_fwd(&self, x: &CpuStorage, xl: &Layout, w: &CpuStorage, wl: &Layout) -> Result<(CpuStorage, Shape)> {
        forward_storage(x, xl, w, wl, None)
    }
    fn bwd(&self, x: &Tensor, w: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, _) = backward(x, w, grad, (x.track_op(), w.track_op(), false))?;
        Ok((dx, dw))
    }
}

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        "fused-linear"
    }
    fn cpu_fwd(&self, x: &CpuStorage, xl: &Layout, w: &CpuStorage, wl: &Layout, b: &CpuStorage, bl: &Layout) -> Result<(CpuStorage, Shape)> {
        forward_storage(x, xl, w, wl, Some((b, bl)))
    }
    fn bwd(&self, x: &Tensor, w: &Tensor, b: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, db) = backward(x, w, grad, (x.track_op(), w.track_op(), b.track_op()))?;
        Ok((dx, dw, db.map(|d| d.reshape(b.shape())).transpose()?))
    }
}
