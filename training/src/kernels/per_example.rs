//! Per-example sums over positions, Σ_t v[b, t, :] (optionally of v⊙w), in one contiguous pass:
//! the per-example gradients of a bias (v = dL/dy) or of a LayerNorm gain (v⊙w = dL/dy⊙x̂), from
//! which the DP step takes both the per-example norms and the clipped sums. candle's `sum(1)`
//! over the middle dim of (B, T, d) walks strided indices and was the DP step's largest cost.
//! Also the embeddings' per-example norms and clipped sums, and squared norms per example.

use candle_core::{DType, Result, Tensor};

use super::{float_dtype, lane_dot, multiversion, tensor_from, with_values, Real};

#[inline(always)]
fn sums_body<T: Real>(v: &[T], w: Option<&[T]>, out: &mut [T], t: usize, d: usize) {
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
}
// Compiled for AVX-512/AVX2 as the other kernels: at the baseline target it was ~1.5 % of a DP step.
multiversion!(fn sums_into<T>(v: &[T], w: Option<&[T]>, out: &mut [T], t: usize, d: usize) => sums_body);

fn sums<T: Real>(v: &[T], w: Option<&[T]>, b: usize, t: usize, d: usize) -> Vec<T> {
    let mut out = vec![T::from_f64(0.0); b * d];
    sums_into(v, w, &mut out, t, d);
    out
}

/// Σ_{t,t'} [x_t = x_t'] g_t·g_t' per example for token ids x (B·T) and g = dL/d(embedding) (B, T, d):
/// each example's token-embedding gradient has one row per distinct token, the sum of that
/// token's g_t, so its squared norm is Σ over distinct tokens of ‖Σ_{t: x_t = tok} g_t‖² — T·d
/// work instead of the T×T Gram matrix.
pub(crate) fn embedding_sq_norms(g: &Tensor, ids: &[u32]) -> Result<Tensor> {
    let (b, t, d) = g.dims3()?;
    if ids.len() != b * t {
        return Err(candle_core::Error::Msg(format!("embedding norms: {} token ids for gradients {:?}", ids.len(), g.dims())));
    }
    fn run<T: Real>(g: &Tensor, ids: &[u32], (b, t, d): (usize, usize, usize)) -> Result<Tensor> {
        with_values::<T, _>(g, |gv| {
            let mut out = vec![T::from_f64(0.0); b];
            let (mut order, mut row) = (Vec::with_capacity(t), vec![T::from_f64(0.0); d]);
            for (i, o) in out.iter_mut().enumerate() {
                let (x, ge) = (&ids[i * t..(i + 1) * t], &gv[i * t * d..(i + 1) * t * d]);
                order.clear();
                order.extend(0..t);
                order.sort_by_key(|&p| (x[p], p));
                let mut total = 0f64;
                for group in order.chunk_by(|&p, &q| x[p] == x[q]) {
                    row.copy_from_slice(&ge[group[0] * d..(group[0] + 1) * d]);
                    for &p in &group[1..] {
                        for (r, &v) in row.iter_mut().zip(&ge[p * d..(p + 1) * d]) {
                            *r += v;
                        }
                    }
                    total += lane_dot(&row, &row).to_f64();
                }
                *o = T::from_f64(total);
            }
            tensor_from(out, b)
        })
    }
    match float_dtype(g.dtype(), "embedding norms")? {
        DType::F32 => run::<f32>(g, ids, (b, t, d)),
        _ => run::<f64>(g, ids, (b, t, d)),
    }
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

/// ‖x_b‖² (B) for each example b of x (B, …): its elements past the first dim, squared and summed.
pub(crate) fn per_example_sq_norms(x: &Tensor) -> Result<Tensor> {
    let b = x.dim(0)?;
    let per = x.elem_count() / b.max(1);
    fn run<T: Real>(x: &Tensor, b: usize, per: usize) -> Result<Tensor> {
        with_values::<T, _>(x, |v| tensor_from((0..b).map(|i| lane_dot(&v[i * per..(i + 1) * per], &v[i * per..(i + 1) * per])).collect(), b))
    }
    match float_dtype(x.dtype(), "per-example norms")? {
        DType::F32 => run::<f32>(x, b, per),
        _ => run::<f64>(x, b, per),
    }
}

/// The clipped sums of the two embeddings from g = dL/d(embedding output) (B, T, d) and the
/// token ids (B·T), in one pass over g: Σ_b c_b ∇wte_b (vocab, d), row x_{b,t} gaining c_b·g_{b,t},
/// when `token` gives (vocab, c); Σ_b c'_b ∇wpe_b (context, d), row t gaining c'_b·g_{b,t}, when
/// `position` gives (context, c').
pub(crate) fn clipped_embedding_sums(g: &Tensor, ids: &[u32], token: Option<(usize, &[f64])>, position: Option<(usize, &[f64])>) -> Result<(Option<Tensor>, Option<Tensor>)> {
    let (b, t, d) = g.dims3()?;
    if ids.len() != b * t {
        return Err(candle_core::Error::Msg(format!("embedding sums: {} token ids for gradients {:?}", ids.len(), g.dims())));
    }
    // Each sum: one factor per example, and every row it adds to (a token id, a position) inside it.
    let check = |what: &str, (rows, c): (usize, &[f64]), needed: usize| -> Result<()> {
        if c.len() != b {
            return Err(candle_core::Error::Msg(format!("embedding sums: {} factors for {b} examples", c.len())));
        }
        if needed > rows {
            return Err(candle_core::Error::Msg(format!("embedding sums: row {} outside the {what} of {rows}", needed - 1)));
        }
        Ok(())
    };
    if let Some(tok) = token {
        check("vocabulary", tok, ids.iter().map(|&x| x as usize + 1).max().unwrap_or(0))?;
    }
    if let Some(pos) = position {
        check("context", pos, t)?;
    }
    fn run<T: Real>(g: &Tensor, ids: &[u32], token: Option<(usize, &[f64])>, position: Option<(usize, &[f64])>, (b, t, d): (usize, usize, usize)) -> Result<(Option<Tensor>, Option<Tensor>)> {
        with_values::<T, _>(g, |gv| {
            let mut tok = token.map(|(v, _)| vec![T::from_f64(0.0); v * d]);
            let mut pos = position.map(|(n, _)| vec![T::from_f64(0.0); n * d]);
            for i in 0..b {
                // The factor rounded to the gradient's dtype first, as a broadcast multiply would.
                let (ct, cp) = (token.map(|(_, c)| T::from_f64(c[i])), position.map(|(_, c)| T::from_f64(c[i])));
                for p in 0..t {
                    let row = &gv[(i * t + p) * d..(i * t + p + 1) * d];
                    if let (Some(acc), Some(c)) = (tok.as_mut(), ct) {
                        let x = ids[i * t + p] as usize;
                        add_scaled(&mut acc[x * d..(x + 1) * d], row, c);
                    }
                    if let (Some(acc), Some(c)) = (pos.as_mut(), cp) {
                        add_scaled(&mut acc[p * d..(p + 1) * d], row, c);
                    }
                }
            }
            let shaped = |v: Option<Vec<T>>, rows: Option<usize>| v.zip(rows).map(|(v, rows)| tensor_from(v, (rows, d))).transpose();
            Ok((shaped(tok, token.map(|x| x.0))?, shaped(pos, position.map(|x| x.0))?))
        })
    }
    match float_dtype(g.dtype(), "embedding sums")? {
        DType::F32 => run::<f32>(g, ids, token, position, (b, t, d)),
        _ => run::<f64>(g, ids, token, position, (b, t, d)),
    }
}

#[inline(always)]
fn add_scaled_body<T: Real>(acc: &mut [T], row: &[T], c: T) {
    for (a, &x) in acc.iter_mut().zip(row) {
        *a += x * c;
    }
}
multiversion!(fn add_scaled<T>(acc: &mut [T], row: &[T], c: T) => add_scaled_body);
