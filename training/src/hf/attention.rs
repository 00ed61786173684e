//! The masked softmax of attention scores for the Hugging Face decoders, fused in one pass per
//! row: causal mask, optional sliding window (transformers' `sliding_window_overlay`: key j is
//! seen by query i when i − window < j ≤ i), optional tanh soft-capping (Gemma 2:
//! s ← cap · tanh(s / cap), applied before the mask as in `eager_attention_forward`).

use candle_core::{CpuStorage, CustomOp1, Layout, Shape};
use rayon::prelude::*;

use crate::scoring::exp_f32;

/// Softmax over the last dim of f32 scores shaped (…, rows, total) where row r is the query at
/// absolute position `offset + r % t` (grouped-query attention stacks the G query heads of one
/// key/value head as G blocks of t rows). Masked keys get probability 0.
pub(crate) struct MaskedSoftmax {
    /// Query rows per head.
    pub t: usize,
    /// Absolute position of the first query row.
    pub offset: usize,
    /// Sliding window (keys strictly within `window` positions back), None for global attention.
    pub window: Option<usize>,
    /// tanh soft-capping value.
    pub softcap: Option<f32>,
}

impl MaskedSoftmax {
    /// The visible key range [lo, hi) of the query at row `r`.
    fn visible(&self, r: usize, total: usize) -> (usize, usize) {
        let p = self.offset + r % self.t;
        let hi = (p + 1).min(total);
        let lo = self.window.map_or(0, |w| (p + 1).saturating_sub(w));
        (lo.min(hi), hi)
    }
}

impl CustomOp1 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "hf-masked-softmax"
    }
    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (start, end) = layout.contiguous_offsets().ok_or_else(|| candle_core::Error::Msg("masked softmax input must be contiguous".into()))?;
        let CpuStorage::F32(all) = storage else {
            return Err(candle_core::Error::Msg("masked softmax takes f32 only".into()));
        };
        let dims = layout.shape().dims();
        let (rows, total) = (dims[dims.len() - 2], dims[dims.len() - 1]);
        let mut out = vec![0f32; end - start];
        out.par_chunks_mut(rows * total).zip(all[start..end].par_chunks(rows * total)).for_each(|(o, x)| {
            for r in 0..rows {
                let (lo, hi) = self.visible(r, total);
                let base = r * total;
                softmax_row(&x[base + lo..base + hi], &mut o[base + lo..base + hi], self.softcap);
            }
        });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

fn softmax_row(x: &[f32], out: &mut [f32], softcap: Option<f32>) {
    if x.is_empty() {
        return;
    }
    match softcap {
        Some(cap) => {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = cap * (v / cap).tanh();
            }
        }
        None => out.copy_from_slice(x),
    }
    let m = out.iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    let mut sum = 0f32;
    for o in out.iter_mut() {
        *o = exp_f32(*o - m);
        sum += *o;
    }
    let inv = 1.0 / sum;
    for o in out.iter_mut() {
        *o *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// Direct f64 reference: cap, additive mask, softmax.
    fn reference(x: &[f32], t: usize, offset: usize, total: usize, window: Option<usize>, cap: Option<f32>) -> Vec<f64> {
        let rows = x.len() / total;
        let mut out = vec![0.0; x.len()];
        for r in 0..rows {
            let p = (offset + r % t) as i64;
            let s: Vec<f64> = (0..total)
                .map(|j| {
                    let v = x[r * total + j] as f64;
                    let v = cap.map_or(v, |c| c as f64 * (v / c as f64).tanh());
                    let seen = (j as i64) <= p && window.is_none_or(|w| (j as i64) > p - w as i64);
                    if seen { v } else { f64::NEG_INFINITY }
                })
                .collect();
            let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
            for j in 0..total {
                out[r * total + j] = (s[j] - m).exp() / z;
            }
        }
        out
    }

    #[test]
    fn fused_softmax_matches_mask_window_and_cap_reference() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        // (t, groups, total, offset, window, cap): prefill, grouped heads, cached chunk, one token.
        for (t, g, total, offset, window, cap) in [
            (6usize, 1usize, 6usize, 0usize, None, None),
            (5, 3, 5, 0, Some(2), Some(3.0f32)),
            (4, 2, 9, 5, Some(3), None),
            (1, 2, 12, 11, Some(4), Some(50.0)),
        ] {
            let xs: Vec<f32> = (0..2 * g * t * total).map(|_| rng.random_range(-8.0..8.0f32)).collect();
            let scores = Tensor::from_vec(xs.clone(), (2, g * t, total), &Device::Cpu).unwrap();
            let op = MaskedSoftmax { t, offset, window, softcap: cap };
            let got: Vec<f32> = scores.apply_op1_no_bwd(&op).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            let want = reference(&xs, t, offset, total, window, cap);
            for (a, b) in got.iter().zip(&want) {
                assert!((*a as f64 - b).abs() < 1e-6, "{a} vs {b} (t {t}, window {window:?}, cap {cap:?})");
            }
        }
    }
}
