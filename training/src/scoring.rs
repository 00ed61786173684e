//! Per-token statistics for membership scoring: log p(x_t | x_<t), and the mean and standard
//! deviation of log p under the model's full next-token distribution (for min-k%++, Zhang et al. 2024).
//!
//! Speed: sequences are sorted by length into batches (little padding), and the statistics of
//! each position come from one fused pass over its V logits, in the model's dtype with f64
//! accumulators, straight from the logits buffer (no log-softmax tensor, no f64 copy).

use candle_core::{CpuStorage, Storage, Tensor};
use rayon::prelude::*;

use crate::batch::Batch;
use crate::model::Gpt;
use crate::{Error, Result};

/// Sequences per forward pass in [`crate::LoadedModel::token_stats`]; the trainer evaluates with
/// the same batches, so a model's reported eval loss and its scored mean loss agree exactly
/// (batch shape changes f32 matmul rounding).
pub const SCORING_BATCH_SIZE: usize = 16;

/// Per predicted token of one sequence (same layout as vg-attacks' `TokenStats`):
/// `logprob[t]` = log p(x_{t+1} | x_≤t); `mu[t]` = Σ_z p(z) log p(z);
/// `sigma[t]` = sqrt(Σ_z p(z) (log p(z))² − mu_t²).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenStats {
    /// Log-probability of the actual next token.
    pub logprob: Vec<f64>,
    /// Expected log-probability under the model's distribution.
    pub mu: Vec<f64>,
    /// Standard deviation of the log-probability under the model's distribution.
    pub sigma: Vec<f64>,
}

/// Token statistics for full model inputs (each starting with BOS), `batch_size` sequences per
/// forward pass, batches in parallel on the rayon pool. Inputs longer than the context are cut to it.
/// Results are in the order of `seqs`.
pub fn token_stats(model: &Gpt, seqs: &[Vec<u32>], batch_size: usize) -> Result<Vec<TokenStats>> {
    token_stats_with(seqs, model.config().context_length, batch_size, &|ids| model.logits(ids))
}

/// [`token_stats`] for any model given as its full-sequence logits function (ids (B, T) →
/// logits (B, T, V)): the `hf` decoders share the batching and the fused row statistics.
pub(crate) fn token_stats_with(
    seqs: &[Vec<u32>],
    ctx: usize,
    batch_size: usize,
    logits: &(dyn Fn(&Tensor) -> Result<Tensor> + Sync),
) -> Result<Vec<TokenStats>> {
    let cut: Vec<&[u32]> = seqs.iter().map(|s| &s[..s.len().min(ctx)]).collect();
    // Longest first (stable), so each batch holds sequences of similar length and pads little.
    let mut order: Vec<usize> = (0..cut.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(cut[i].len()));
    let batch_size = batch_size.max(1);
    let per_batch: Vec<Result<Vec<TokenStats>>> = order
        .par_chunks(batch_size)
        .map(|idx| {
            let chunk: Vec<&[u32]> = idx.iter().map(|&i| cut[i]).collect();
            stats_of_batch(logits, &chunk)
        })
        .collect();
    let mut out: Vec<Option<TokenStats>> = vec![None; seqs.len()];
    for (idx, stats) in order.chunks(batch_size).zip(per_batch) {
        for (&i, st) in idx.iter().zip(stats?) {
            out[i] = Some(st);
        }
    }
    Ok(out.into_iter().map(|s| s.expect("every sequence belongs to one batch")).collect())
}

fn stats_of_batch(logits_of: &(dyn Fn(&Tensor) -> Result<Tensor> + Sync), seqs: &[&[u32]]) -> Result<Vec<TokenStats>> {
    let batch = Batch::new(seqs)?;
    // The row statistics run on the host: logits from another device are copied back first.
    let logits = logits_of(&batch.ids)?.to_device(&candle_core::Device::Cpu)?.contiguous()?;
    let v = logits.dim(2)?;
    let (storage, layout) = logits.storage_and_layout();
    let (start, end) = layout.contiguous_offsets().ok_or_else(|| Error::param("logits", "layout", "not contiguous after contiguous()"))?;
    let per_seq = |b: usize, row_stats: &(dyn Fn(usize, usize) -> RowStats + Sync)| -> TokenStats {
        let count = batch.counts[b];
        let mut st = TokenStats { logprob: Vec::with_capacity(count), mu: Vec::with_capacity(count), sigma: Vec::with_capacity(count) };
        for t in 0..count {
            let r = row_stats(b * batch.t + t, seqs[b][t + 1] as usize);
            st.logprob.push(r.logprob);
            st.mu.push(r.mu);
            st.sigma.push(r.sigma);
        }
        st
    };
    let out = match &*storage {
        Storage::Cpu(CpuStorage::F32(all)) => {
            let flat = &all[start..end];
            let rows = |r: usize, target: usize| row_stats_f32(&flat[r * v..(r + 1) * v], target);
            (0..seqs.len()).into_par_iter().map(|b| per_seq(b, &rows)).collect()
        }
        Storage::Cpu(CpuStorage::F64(all)) => {
            let flat = &all[start..end];
            let rows = |r: usize, target: usize| row_stats_f64(&flat[r * v..(r + 1) * v], target);
            (0..seqs.len()).into_par_iter().map(|b| per_seq(b, &rows)).collect()
        }
        _ => return Err(Error::param("dtype", format!("{:?}", logits.dtype()), "scoring supports f32 and f64 CPU models")),
    };
    Ok(out)
}

/// The statistics of one next-token distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RowStats {
    /// log p of the target token.
    pub logprob: f64,
    /// Σ p log p.
    pub mu: f64,
    /// Standard deviation of log p under p.
    pub sigma: f64,
}

/// From the max m and the sums over the row of e = exp(d), e·d and e·d² with d = x − m:
/// S = Σe, log p = d − ln S, mu = A/S − ln S, var = B/S − (A/S)² (the variance of d under p,
/// which is that of log p; no ln S term enters the difference, so no cancellation against it).
fn finish(d_target: f64, s: f64, a: f64, b: f64) -> RowStats {
    let ln_s = s.ln();
    let mean_d = a / s;
    RowStats { logprob: d_target - ln_s, mu: mean_d - ln_s, sigma: (b / s - mean_d * mean_d).max(0.0).sqrt() }
}

/// Accumulator lanes: independent partial sums the compiler keeps in vector registers.
const LANES: usize = 16;
/// Below this shift exp(d) < 2e-38 is negligible next to S ≥ 1; clamping keeps exp in range.
const MIN_SHIFT: f32 = -87.0;

/// Row statistics of f32 logits: max, then one pass of exp in f32 (rel. error ~1e-7) with the
/// three sums accumulated in f64; d itself is formed exactly in f64 for the sums and the target.
pub(crate) fn row_stats_f32(row: &[f32], target: usize) -> RowStats {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features the function is compiled for (checked just above).
            return unsafe { row_stats_f32_avx2(row, target) };
        }
    }
    row_stats_f32_portable(row, target)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn row_stats_f32_avx2(row: &[f32], target: usize) -> RowStats {
    row_stats_f32_portable(row, target)
}

#[inline(always)]
fn row_stats_f32_portable(row: &[f32], target: usize) -> RowStats {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for j in 0..LANES {
            lanes[j] = if c[j] > lanes[j] { c[j] } else { lanes[j] };
        }
    }
    let m = tail.iter().chain(lanes.iter()).fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m });
    let m64 = m as f64;
    let (mut s, mut a, mut b) = ([0f64; LANES], [0f64; LANES], [0f64; LANES]);
    let term = |x: f32| -> (f64, f64) {
        let d = x - m;
        let e = exp_f32(if d < MIN_SHIFT { MIN_SHIFT } else { d }) as f64;
        let d64 = x as f64 - m64;
        (e, if d64 < MIN_SHIFT as f64 { MIN_SHIFT as f64 } else { d64 })
    };
    for c in row.chunks_exact(LANES) {
        for j in 0..LANES {
            let (e, d) = term(c[j]);
            s[j] += e;
            a[j] += e * d;
            b[j] += e * d * d;
        }
    }
    for (j, &x) in tail.iter().enumerate() {
        let (e, d) = term(x);
        s[j] += e;
        a[j] += e * d;
        b[j] += e * d * d;
    }
    finish(row[target] as f64 - m64, s.iter().sum(), a.iter().sum(), b.iter().sum())
}

/// Row statistics of f64 logits, all in f64 (libm exp).
pub(crate) fn row_stats_f64(row: &[f64], target: usize) -> RowStats {
    let m = row.iter().fold(f64::NEG_INFINITY, |m, &x| if x > m { x } else { m });
    let (mut s, mut a, mut b) = (0.0, 0.0, 0.0);
    for &x in row {
        let d = x - m;
        let e = d.exp();
        if e > 0.0 {
            s += e;
            a += e * d;
            b += e * d * d;
        }
    }
    finish(row[target] - m, s, a, b)
}

/// e^x in f32 for x in [-87, 88] (clamped outside), branch-free so loops over it vectorise.
/// Cephes `expf`: e^x = 2^n · e^r with n = round(x / ln 2), |r| ≤ ln 2 / 2, and a degree-6
/// polynomial for e^r (relative error about 2e-7).
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // 1.5·2^23: adding it rounds to an integer held in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = if x < -87.0 { -87.0 } else if x > 88.0 { 88.0 } else { x };
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let n_int = t.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    // ln 2 split in a short high part (exact products) and a correction (Cody & Waite).
    let r = (x - n * 0.693_359_4) - n * -2.121_944_4e-4;
    let z = r * r;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1) * r + 5.000_000_1e-1;
    let er = p * z + r + 1.0;
    er * f32::from_bits(((n_int + 127) as u32) << 23)
}

/// Mean next-token loss over `seqs` (full model inputs): the mean over examples of each example's
/// mean token NLL, the quantity training minimises.
pub fn mean_loss(model: &Gpt, seqs: &[Vec<u32>], batch_size: usize) -> Result<f64> {
    if seqs.is_empty() {
        return Ok(f64::NAN);
    }
    let stats = token_stats(model, seqs, batch_size)?;
    let per: Vec<f64> = stats
        .iter()
        .filter(|s| !s.logprob.is_empty())
        .map(|s| -s.logprob.iter().sum::<f64>() / s.logprob.len() as f64)
        .collect();
    Ok(per.iter().sum::<f64>() / per.len().max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct f64 computation: log-softmax, then the moments of log p.
    fn reference(row: &[f32], target: usize) -> RowStats {
        let x: Vec<f64> = row.iter().map(|&v| v as f64).collect();
        let m = x.iter().cloned().fold(f64::MIN, f64::max);
        let lse = m + x.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        let lp: Vec<f64> = x.iter().map(|v| v - lse).collect();
        let mu: f64 = lp.iter().map(|l| l.exp() * l).sum();
        let var: f64 = lp.iter().map(|l| l.exp() * (l - mu).powi(2)).sum();
        RowStats { logprob: lp[target], mu, sigma: var.sqrt() }
    }

    #[test]
    fn fast_exp_is_accurate_over_its_range() {
        let mut worst = 0f64;
        for i in 0..=200_000 {
            let x = -87.0 + 175.0 * i as f64 / 200_000.0;
            let rel = (exp_f32(x as f32) as f64 / (x as f32 as f64).exp() - 1.0).abs();
            worst = worst.max(rel);
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
        assert_eq!(exp_f32(0.0), 1.0);
        assert!(exp_f32(-1000.0) < 2e-38 && exp_f32(-1000.0) >= 0.0);
        assert!(exp_f32(f32::NAN).is_nan());
    }

    #[test]
    fn fused_f32_row_pass_matches_f64_log_softmax() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        // Flat, peaked and spread-out distributions, lengths not a multiple of the lane count.
        for (len, scale) in [(2048, 0.5f32), (2048, 8.0), (1000, 30.0), (37, 3.0), (5, 100.0)] {
            let row: Vec<f32> = (0..len).map(|_| rng.random_range(-1.0..1.0f32) * scale + 2.0).collect();
            for target in [0, len / 2, len - 1] {
                let (got, want) = (row_stats_f32(&row, target), reference(&row, target));
                assert!((got.logprob - want.logprob).abs() < 1e-5, "{len} {scale}: {got:?} vs {want:?}");
                assert!((got.mu - want.mu).abs() < 1e-5, "{len} {scale}: {got:?} vs {want:?}");
                assert!((got.sigma - want.sigma).abs() < 1e-5, "{len} {scale}: {got:?} vs {want:?}");
                let portable = row_stats_f32_portable(&row, target);
                assert_eq!(portable, got, "the AVX2 build computes the same sums");
            }
        }
        // A NaN logit makes the row's statistics NaN instead of being skipped.
        assert!(row_stats_f32(&[0.0, f32::NAN, 1.0], 0).logprob.is_nan());
    }

    #[test]
    fn f32_model_stats_match_f64_log_softmax_of_its_logits_in_input_order() {
        use candle_core::{DType, Device, IndexOp, Tensor};
        let cfg = crate::GptConfig { preset: "custom".into(), vocab_size: 300, context_length: 16, n_layer: 2, n_embd: 32, n_head: 4, mlp_ratio: 4, ln_eps: 1e-5 };
        let model = Gpt::new(&cfg, DType::F32, 4).unwrap();
        // Mixed lengths (sorting reorders batches) and one longer than the context (cut to 16).
        let seqs: Vec<Vec<u32>> = [5usize, 16, 2, 9, 20, 16, 3].iter().map(|&n| (0..n as u32).map(|i| 1 + (i * 37 + n as u32) % 299).collect()).collect();
        let stats = token_stats(&model, &seqs, 3).unwrap();
        for (s, st) in seqs.iter().zip(&stats) {
            let s = &s[..s.len().min(16)];
            assert_eq!(st.logprob.len(), s.len() - 1);
            let ids = Tensor::from_vec(s[..s.len() - 1].to_vec(), (1, s.len() - 1), &Device::Cpu).unwrap();
            let logits = model.logits(&ids).unwrap();
            for t in 0..s.len() - 1 {
                let row: Vec<f32> = logits.i((0, t)).unwrap().to_vec1().unwrap();
                let want = reference(&row, s[t + 1] as usize);
                assert!((st.logprob[t] - want.logprob).abs() < 1e-5, "{} vs {}", st.logprob[t], want.logprob);
                assert!((st.mu[t] - want.mu).abs() < 1e-5);
                assert!((st.sigma[t] - want.sigma).abs() < 1e-5);
            }
        }
    }
}
