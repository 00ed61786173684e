//! LayerNorm over the last dim (Ba, Kiros & Hinton 2016) in one pass per row, forward and backward.
//! x̂ = (x − μ)·r with r = 1/√(var + ε) (biased variance, as PyTorch), y = x̂⊙γ + β.
//! Backward with h = dy⊙γ: dx = r·(h − mean(h) − x̂·mean(h⊙x̂)), dγ = Σ_rows dy⊙x̂, dβ = Σ_rows dy.
//! [`LnNormalize`] is the same without the affine part (γ = 1, β = 0), for the DP hooks, which
//! apply γ and β themselves.

use std::mem::MaybeUninit;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp3, DType, Layout, Result, Shape, Tensor};

use super::{float_dtype, for_row_chunks, multiversion, rows_per_task, slice_of, tensor_from, vec_written_by, with_values, Real};

/// Full LayerNorm y = LN(x)⊙γ + β on (…, d) with gradients for x, γ and β.
pub(crate) struct LayerNorm {
    pub eps: f64,
}

/// The normalisation alone, x̂ = LN(x), with the gradient for x.
pub(crate) struct LnNormalize {
    pub eps: f64,
}

/// Lanes of the partial sums below: 16 independent accumulators let a row's sum vectorise instead
/// of waiting on each add (one running sum is latency-bound).
const L: usize = 16;

/// Σ f(x_j) over a row, in L partial sums.
#[inline(always)]
fn lane_sum<T: Real>(x: &[T], f: impl Fn(T) -> T) -> T {
    let zero = T::from_f64(0.0);
    let mut acc = [zero; L];
    let chunks = x.chunks_exact(L);
    let tail = chunks.remainder().iter().fold(zero, |s, &v| s + f(v));
    for c in chunks {
        for j in 0..L {
            acc[j] += f(c[j]);
        }
    }
    acc.iter().fold(tail, |s, &v| s + v)
}

/// (Σ h_j, Σ h_j·x̂_j) over a row, h = dy⊙γ (or dy), x̂ = (x − mean)·r, in L partial sums each.
#[inline(always)]
fn grad_sums<T: Real>(x: &[T], dy: &[T], gamma: &[T], mean: T, r: T) -> (T, T) {
    let zero = T::from_f64(0.0);
    let (mut sh, mut shx) = ([zero; L], [zero; L]);
    let affine = !gamma.is_empty();
    let (xc, gc) = (x.chunks_exact(L), dy.chunks_exact(L));
    let (mut th, mut thx) = (zero, zero);
    let tail = x.len() - xc.remainder().len();
    for j in tail..x.len() {
        let h = if affine { dy[j] * gamma[j] } else { dy[j] };
        th += h;
        thx += h * (x[j] - mean) * r;
    }
    for (k, (xv, gv)) in xc.zip(gc).enumerate() {
        if affine {
            let gm = &gamma[k * L..(k + 1) * L];
            for j in 0..L {
                let h = gv[j] * gm[j];
                sh[j] += h;
                shx[j] += h * ((xv[j] - mean) * r);
            }
        } else {
            for j in 0..L {
                sh[j] += gv[j];
                shx[j] += gv[j] * ((xv[j] - mean) * r);
            }
        }
    }
    (sh.iter().fold(th, |s, &v| s + v), shx.iter().fold(thx, |s, &v| s + v))
}

/// Mean and 1/√(var + ε) of one row (two passes: no cancellation in the variance).
#[inline(always)]
fn row_moments<T: Real>(x: &[T], eps: T) -> (T, T) {
    let n = T::from_f64(x.len() as f64);
    let mean = lane_sum(x, |v| v) / n;
    let q = lane_sum(x, |v| (v - mean) * (v - mean));
    (mean, T::from_f64(1.0) / (q / n + eps).sqrt())
}

/// Rows of x → y (affine when `gamma`/`beta` are given).
#[inline(always)]
fn forward_body<T: Real>(x: &[T], y: &mut [MaybeUninit<T>], gamma: &[T], beta: &[T], d: usize, eps: T) {
    for (xr, yr) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
        let (mean, r) = row_moments(xr, eps);
        if gamma.is_empty() {
            for (o, &v) in yr.iter_mut().zip(xr) {
                o.write((v - mean) * r);
            }
        } else {
            for (((o, &v), &g), &b) in yr.iter_mut().zip(xr).zip(gamma).zip(beta) {
                o.write((v - mean) * r * g + b);
            }
        }
    }
}

/// Rows of (x, dy) → dx, and Σ dy⊙x̂, Σ dy accumulated into `dgamma`/`dbeta` when `gamma` is given.
#[inline(always)]
fn backward_body<T: Real>(x: &[T], dy: &[T], dx: &mut [MaybeUninit<T>], gamma: &[T], dgamma: &mut [T], dbeta: &mut [T], d: usize, eps: T) {
    let n = T::from_f64(d as f64);
    let affine = !gamma.is_empty();
    for ((xr, gr), dxr) in x.chunks_exact(d).zip(dy.chunks_exact(d)).zip(dx.chunks_exact_mut(d)) {
        let (mean, r) = row_moments(xr, eps);
        let (sh, shx) = grad_sums(xr, gr, gamma, mean, r);
        if affine {
            for j in 0..d {
                dgamma[j] += gr[j] * ((xr[j] - mean) * r);
                dbeta[j] += gr[j];
            }
        }
        let (mh, mhx) = (sh / n, shx / n);
        for j in 0..d {
            let xhat = (xr[j] - mean) * r;
            let h = if affine { gr[j] * gamma[j] } else { gr[j] };
            dxr[j].write(r * (h - mh - xhat * mhx));
        }
    }
}

multiversion!(fn forward_rows<T>(x: &[T], y: &mut [MaybeUninit<T>], gamma: &[T], beta: &[T], d: usize, eps: T) => forward_body);
multiversion!(fn backward_rows<T>(x: &[T], dy: &[T], dx: &mut [MaybeUninit<T>], gamma: &[T], dgamma: &mut [T], dbeta: &mut [T], d: usize, eps: T) => backward_body);

/// Rows of d → LN(x)⊙γ + β, or x̂ = LN(x) alone when `gamma` and `beta` are empty.
pub(crate) fn ln_forward<T: Real>(x: &[T], gamma: &[T], beta: &[T], d: usize, eps: f64) -> Vec<T> {
    let eps = T::from_f64(eps);
    let write = |y: &mut [MaybeUninit<T>]| for_row_chunks(y, d, |first, out| forward_rows::<T>(&x[first * d..first * d + out.len()], out, gamma, beta, d, eps));
    // SAFETY: the chunks cover every row and `forward_rows` writes each element of its rows.
    unsafe { vec_written_by(x.len(), write) }
}

/// dx, and (dγ, dβ) when `gamma` is non-empty (accumulated in per-task partials, then summed).
pub(crate) fn ln_backward<T: Real>(x: &[T], dy: &[T], gamma: &[T], d: usize, eps: f64) -> (Vec<T>, Vec<T>, Vec<T>) {
    use rayon::prelude::*;
    let eps = T::from_f64(eps);
    let zero = T::from_f64(0.0);
    let mut dx = Vec::with_capacity(x.len());
    let per = rows_per_task(d) * d;
    let pd = if gamma.is_empty() { 0 } else { d };
    let dxs = &mut dx.spare_capacity_mut()[..x.len()];
    let partials: Vec<(Vec<T>, Vec<T>)> = if x.len() <= per || rayon::current_num_threads() == 1 {
        let (mut dg, mut db) = (vec![zero; pd], vec![zero; pd]);
        backward_rows::<T>(x, dy, dxs, gamma, &mut dg, &mut db, d, eps);
        vec![(dg, db)]
    } else {
        dxs.par_chunks_mut(per)
            .zip(x.par_chunks(per).zip(dy.par_chunks(per)))
            .map(|(dxc, (xc, gc))| {
                let (mut dg, mut db) = (vec![zero; pd], vec![zero; pd]);
                backward_rows::<T>(xc, gc, dxc, gamma, &mut dg, &mut db, d, eps);
                (dg, db)
            })
            .collect()
    };
    // SAFETY: `backward_rows` wrote every element of every row of dx (whole rows, all chunks).
    unsafe { dx.set_len(x.len()) };
    let (mut dg, mut db) = (vec![zero; pd], vec![zero; pd]);
    for (pg, pb) in partials {
        for j in 0..pd {
            dg[j] += pg[j];
            db[j] += pb[j];
        }
    }
    (dx, dg, db)
}

/// dx, and one (dγ, dβ) row per example of `t` rows, (B, d) each: the LayerNorm gain's and
/// bias's per-example gradients that DP-SGD clips, summed in the pass that already reads every
/// row (a separate pass over the recorded x̂ and output gradient was ~1 % of a DP step).
pub(crate) fn ln_backward_per_example<T: Real>(x: &[T], dy: &[T], gamma: &[T], d: usize, eps: f64, t: usize) -> (Vec<T>, Vec<T>, Vec<T>) {
    use rayon::prelude::*;
    assert!(!gamma.is_empty() && t > 0 && x.len().is_multiple_of(t * d) && dy.len() == x.len(), "per-example LayerNorm backward: {} values, rows of {d}, {t} per example", x.len());
    let (eps, zero, b) = (T::from_f64(eps), T::from_f64(0.0), x.len() / (t * d));
    let (mut dg, mut db) = (vec![zero; b * d], vec![zero; b * d]);
    let mut dx = Vec::with_capacity(x.len());
    let dxs = &mut dx.spare_capacity_mut()[..x.len()];
    let ex = t * d;
    // Example i: its rows of dx, and its rows d·i.. of dγ and dβ.
    let run = |i: usize, dxc: &mut [MaybeUninit<T>], dgc: &mut [T], dbc: &mut [T]| backward_rows::<T>(&x[i * ex..(i + 1) * ex], &dy[i * ex..(i + 1) * ex], dxc, gamma, dgc, dbc, d, eps);
    if rayon::current_num_threads() == 1 || b == 1 {
        dxs.chunks_mut(ex).zip(dg.chunks_mut(d).zip(db.chunks_mut(d))).enumerate().for_each(|(i, (dxc, (dgc, dbc)))| run(i, dxc, dgc, dbc));
    } else {
        dxs.par_chunks_mut(ex).zip(dg.par_chunks_mut(d).zip(db.par_chunks_mut(d))).enumerate().for_each(|(i, (dxc, (dgc, dbc)))| run(i, dxc, dgc, dbc));
    }
    // SAFETY: `backward_rows` wrote every element of every example's rows of dx.
    unsafe { dx.set_len(x.len()) };
    (dx, dg, db)
}

fn unsupported(op: &str, s: &CpuStorage) -> candle_core::Error {
    candle_core::Error::Msg(format!("{op}: f32 and f64 only, got {:?}", s.dtype()))
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "fused-layer-norm"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout, s3: &CpuStorage, l3: &Layout) -> Result<(CpuStorage, Shape)> {
        let d = l1.shape().dims().last().copied().unwrap_or(1);
        if l2.shape().elem_count() != d || l3.shape().elem_count() != d {
            return Err(candle_core::Error::Msg(format!("fused-layer-norm: γ and β must have {d} elements")));
        }
        let n = self.name();
        let out = match s1 {
            CpuStorage::F32(_) => CpuStorage::F32(ln_forward(slice_of::<f32>(s1, l1, n)?, slice_of(s2, l2, n)?, slice_of(s3, l3, n)?, d, self.eps)),
            CpuStorage::F64(_) => CpuStorage::F64(ln_forward(slice_of::<f64>(s1, l1, n)?, slice_of(s2, l2, n)?, slice_of(s3, l3, n)?, d, self.eps)),
            other => return Err(unsupported(n, other)),
        };
        Ok((out, l1.shape().clone()))
    }
    fn bwd(&self, x: &Tensor, gamma: &Tensor, _beta: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let d = x.dim(candle_core::D::Minus1)?;
        let shape = x.shape().clone();
        fn run<T: Real>(x: &Tensor, gamma: &Tensor, grad: &Tensor, d: usize, eps: f64, shape: Shape) -> Result<(Tensor, Tensor, Tensor)> {
            with_values::<T, _>(x, |xv| {
                with_values::<T, _>(gamma, |gv| {
                    with_values::<T, _>(grad, |dy| {
                        let (dx, dg, db) = ln_backward(xv, dy, gv, d, eps);
                        Ok((tensor_from(dx, shape)?, tensor_from(dg, d)?, tensor_from(db, d)?))
                    })
                })
            })
        }
        let (dx, dg, db) = match float_dtype(x.dtype(), self.name())? {
            DType::F32 => run::<f32>(x, gamma, grad, d, self.eps, shape)?,
            _ => run::<f64>(x, gamma, grad, d, self.eps, shape)?,
        };
        Ok((Some(dx), Some(dg.reshape(gamma.shape())?), Some(db.reshape(gamma.shape())?)))
    }
}

impl CustomOp1 for LnNormalize {
    fn name(&self) -> &'static str {
        "fused-ln-normalize"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let d = l.shape().dims().last().copied().unwrap_or(1);
        let n = self.name();
        let out = match s {
            CpuStorage::F32(_) => CpuStorage::F32(ln_forward(slice_of::<f32>(s, l, n)?, &[], &[], d, self.eps)),
            CpuStorage::F64(_) => CpuStorage::F64(ln_forward(slice_of::<f64>(s, l, n)?, &[], &[], d, self.eps)),
            other => return Err(unsupported(n, other)),
        };
        Ok((out, l.shape().clone()))
    }
    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let d = x.dim(candle_core::D::Minus1)?;
        let shape = x.shape().clone();
        let dx = match float_dtype(x.dtype(), self.name())? {
            DType::F32 => with_values::<f32, _>(x, |xv| with_values::<f32, _>(grad, |dy| tensor_from(ln_backward(xv, dy, &[], d, self.eps).0, shape.clone())))?,
            _ => with_values::<f64, _>(x, |xv| with_values::<f64, _>(grad, |dy| tensor_from(ln_backward(xv, dy, &[], d, self.eps).0, shape.clone())))?,
        };
        Ok(Some(dx))
    }
}
