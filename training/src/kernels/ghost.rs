//! A linear layer's per-example weight-gradient norms and clipped sum on the CPU (issue 18), from
//! its inputs a (B, T, din) and output gradients g (B, T, dout), on this crate's own product
//! ([`gemm_raw`]) instead of candle's batched matmul: the DP step's largest cost after the model's
//! own products. The ghost norm ‖G_bᵀA_b‖² = Σ_{t,t'} (a_t·a_t')(g_t·g_t') (Li et al. 2022, "Large
//! language models can be strong DP learners") needs only the blocks on and below the diagonal of
//! the two symmetric T×T Gram matrices, each block off the diagonal counted twice.

use candle_core::{DType, Result, Tensor};
use rayon::prelude::*;

use std::mem::MaybeUninit;

use super::{float_dtype, gemm_raw, lane_dot, linear_weight_grads, multiversion, tensor_from, transpose_into, vec_written_by, with_values, Real};

/// Rows and columns of one Gram-matrix block.
const BLOCK: usize = 32;

fn dims(a: &Tensor, g: &Tensor) -> Result<(usize, usize, usize, usize)> {
    let (b, t, din) = a.dims3()?;
    let (bg, tg, dout) = g.dims3()?;
    if (b, t) != (bg, tg) {
        return Err(candle_core::Error::Msg(format!("per-example weight gradients: inputs {:?} and output gradients {:?}", a.dims(), g.dims())));
    }
    Ok((b, t, din, dout))
}

/// Runs `f(example, out_chunk)` over `out` split into one chunk of `per` elements per example,
/// over the rayon threads when there are several.
fn per_example<T: Send>(out: &mut [T], per: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    if rayon::current_num_threads() == 1 || out.len() <= per {
        out.chunks_mut(per.max(1)).enumerate().for_each(|(i, c)| f(i, c));
    } else {
        out.par_chunks_mut(per.max(1)).enumerate().for_each(|(i, c)| f(i, c));
    }
}

/// Σ_{t,t'} (a_t·a_t')(g_t·g_t') of one example: per block column j0 of both Gram matrices, the
/// rows from j0 on (one product each), the diagonal block once and the blocks below it twice.
fn ghost_one<T: Real>(a: &[T], g: &[T], t: usize, din: usize, dout: usize) -> T {
    // Each operand transposed once, so the Gram's right factor (columns of a) packs by contiguous
    // copies; read in place it was a strided gather per element (~3 % of a DP step).
    let (at, gt) = (transposed(a, t, din), transposed(g, t, dout));
    let (mut aa, mut gg) = (Vec::<T>::with_capacity(t * BLOCK), Vec::<T>::with_capacity(t * BLOCK));
    let mut total = 0f64;
    for j0 in (0..t).step_by(BLOCK) {
        let (rows, cols) = (t - j0, BLOCK.min(t - j0));
        // SAFETY: aa and gg have capacity t·BLOCK ≥ rows·cols at row stride cols and are distinct
        // from the operands; rows j0.. of a (stride din) and of g (stride dout), and columns
        // j0..j0+cols of their transposes (stride t), lie within the example. Without accumulation
        // the product writes all rows·cols elements, so the lengths set after it are initialised.
        unsafe {
            gemm_raw(rows, cols, din, aa.as_mut_ptr(), cols, false, &a[j0 * din..], (din, 1), &at[j0..], (t, 1), false);
            gemm_raw(rows, cols, dout, gg.as_mut_ptr(), cols, false, &g[j0 * dout..], (dout, 1), &gt[j0..], (t, 1), false);
            aa.set_len(rows * cols);
            gg.set_len(rows * cols);
        }
        let (diag, below) = (cols * cols, rows * cols);
        let dot = |r: std::ops::Range<usize>| lane_dot(&aa[r.clone()], &gg[r]).to_f64();
        total += dot(0..diag) + 2.0 * dot(diag..below);
    }
    T::from_f64(total)
}

/// `x` (rows × cols) transposed, (cols × rows).
fn transposed<T: Real>(x: &[T], rows: usize, cols: usize) -> Vec<T> {
    // SAFETY: transpose_into writes all rows·cols elements.
    unsafe { vec_written_by(rows * cols, |out| transpose_into(x, rows, cols, out)) }
}

/// ‖G_bᵀA_b‖² (B) per example by the ghost form.
pub(crate) fn ghost_sq_norms(a: &Tensor, g: &Tensor) -> Result<Tensor> {
    let (b, t, din, dout) = dims(a, g)?;
    fn run<T: Real>(a: &Tensor, g: &Tensor, (b, t, din, dout): (usize, usize, usize, usize)) -> Result<Tensor> {
        with_values::<T, _>(a, |av| {
            with_values::<T, _>(g, |gv| {
                let mut out = vec![T::from_f64(0.0); b];
                per_example(&mut out, 1, |i, o| o[0] = ghost_one(&av[i * t * din..(i + 1) * t * din], &gv[i * t * dout..(i + 1) * t * dout], t, din, dout));
                tensor_from(out, b)
            })
        })
    }
    match float_dtype(a.dtype(), "ghost norms")? {
        DType::F32 => run::<f32>(a, g, (b, t, din, dout)),
        _ => run::<f64>(a, g, (b, t, din, dout)),
    }
}

/// G_bᵀA_b (B, dout, din): each example's weight gradient.
pub(crate) fn per_example_weight_grads(a: &Tensor, g: &Tensor) -> Result<Tensor> {
    let (b, t, din, dout) = dims(a, g)?;
    fn run<T: Real>(a: &Tensor, g: &Tensor, (b, t, din, dout): (usize, usize, usize, usize)) -> Result<Tensor> {
        with_values::<T, _>(a, |av| {
            with_values::<T, _>(g, |gv| {
                if t == 0 {
                    return tensor_from(vec![T::from_f64(0.0); b * dout * din], (b, dout, din));
                }
                let fill = |out: &mut [MaybeUninit<T>]| {
                    per_example(out, dout * din, |i, o| {
                        let (ai, gi) = (&av[i * t * din..(i + 1) * t * din], &gv[i * t * dout..(i + 1) * t * dout]);
                        // SAFETY: o holds dout·din elements at row stride din, distinct from the operands;
                        // gᵀ (dout, t) reads g at (1, dout) and a (t, din) at (din, 1), both within the
                        // example; with t > 0 and no accumulation the product writes all of o.
                        unsafe { gemm_raw(dout, din, t, o.as_mut_ptr().cast::<T>(), din, false, gi, (1, dout), ai, (din, 1), false) }
                    })
                };
                // SAFETY: every example's chunk is written in full by its product (above).
                tensor_from(unsafe { vec_written_by(b * dout * din, fill) }, (b, dout, din))
            })
        })
    }
    match float_dtype(a.dtype(), "per-example weight gradients")? {
        DType::F32 => run::<f32>(a, g, (b, t, din, dout)),
        _ => run::<f64>(a, g, (b, t, din, dout)),
    }
}

#[inline(always)]
fn scale_body<T: Real>(v: &[T], c: &[f64], per: usize, out: &mut [MaybeUninit<T>]) {
    for ((src, dst), &f) in v.chunks_exact(per).zip(out.chunks_exact_mut(per)).zip(c) {
        let f = T::from_f64(f);
        for (d, &x) in dst.iter_mut().zip(src) {
            d.write(x * f);
        }
    }
}
// Example i's `per` values times c_i: one vectorised pass (an iterator chain here was ~2 % of a DP step).
multiversion!(fn scale_examples<T>(v: &[T], c: &[f64], per: usize, out: &mut [MaybeUninit<T>]) => scale_body);

/// Σ_b c_b G_bᵀA_b (dout, din) for factors c (B, 1, 1): the factors scale the narrower operand's
/// rows, then one product over all B·T rows.
pub(crate) fn clipped_weight_sum(a: &Tensor, g: &Tensor, c: &Tensor) -> Result<Tensor> {
    let (b, t, din, dout) = dims(a, g)?;
    let c: Vec<f64> = c.flatten_all()?.to_dtype(DType::F64)?.to_vec1()?;
    if c.len() != b {
        return Err(candle_core::Error::Msg(format!("clipped weight sum: {} factors for {b} examples", c.len())));
    }
    fn run<T: Real>(a: &Tensor, g: &Tensor, c: &[f64], (b, t, din, dout): (usize, usize, usize, usize)) -> Result<Tensor> {
        // SAFETY: scale_examples writes all b·t·w elements (v holds b examples of t·w, c one factor each).
        let scaled = |v: &[T], w: usize| -> Vec<T> { unsafe { vec_written_by(v.len(), |out| scale_examples(v, c, t * w, out)) } };
        with_values::<T, _>(a, |av| {
            with_values::<T, _>(g, |gv| {
                let dw = if dout <= din { linear_weight_grads(&scaled(gv, dout), av, b * t, din, dout, false).0 } else { linear_weight_grads(gv, &scaled(av, din), b * t, din, dout, false).0 };
                tensor_from(dw, (dout, din))
            })
        })
    }
    match float_dtype(a.dtype(), "clipped weight sum")? {
        DType::F32 => run::<f32>(a, g, &c, (b, t, din, dout)),
        _ => run::<f64>(a, g, &c, (b, t, din, dout)),
    }
}
