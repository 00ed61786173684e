//! Per-token statistics for membership scoring: log p(x_t | x_<t), and the mean and standard
//! deviation of log p under the model's full next-token distribution (for min-k%++, Zhang et al. 2024).

use candle_core::DType;
use rayon::prelude::*;

use crate::batch::Batch;
use crate::model::{log_softmax_last, Gpt};
use crate::Result;

/// Sequences per forward pass in [`crate::LoadedModel::token_stats`].
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
pub fn token_stats(model: &Gpt, seqs: &[Vec<u32>], batch_size: usize) -> Result<Vec<TokenStats>> {
    let ctx = model.config().context_length;
    let cut: Vec<&[u32]> = seqs.iter().map(|s| &s[..s.len().min(ctx)]).collect();
    let per_batch: Vec<Result<Vec<TokenStats>>> = cut.par_chunks(batch_size.max(1)).map(|chunk| stats_of_batch(model, chunk)).collect();
    let mut out = Vec::with_capacity(seqs.len());
    for r in per_batch {
        out.extend(r?);
    }
    Ok(out)
}

fn stats_of_batch(model: &Gpt, seqs: &[&[u32]]) -> Result<Vec<TokenStats>> {
    let batch = Batch::new(seqs, model.dtype())?;
    let logits = model.logits(&batch.ids)?.to_dtype(DType::F64)?;
    let lsm = log_softmax_last(&logits)?;
    let v = lsm.dim(2)?;
    let flat: Vec<f64> = lsm.flatten_all()?.to_vec1::<f64>()?;
    let targets: Vec<u32> = batch.targets.flatten_all()?.to_vec1::<u32>()?;
    let mut out = Vec::with_capacity(seqs.len());
    for (b, &count) in batch.counts.iter().enumerate() {
        let mut st = TokenStats { logprob: Vec::with_capacity(count), mu: Vec::with_capacity(count), sigma: Vec::with_capacity(count) };
        for t in 0..count {
            let row = &flat[(b * batch.t + t) * v..(b * batch.t + t + 1) * v];
            let (mut mu, mut m2) = (0.0, 0.0);
            for &l in row {
                let p = l.exp();
                if p > 0.0 {
                    mu += p * l;
                    m2 += p * l * l;
                }
            }
            st.logprob.push(row[targets[b * batch.t + t] as usize]);
            st.mu.push(mu);
            st.sigma.push((m2 - mu * mu).max(0.0).sqrt());
        }
        out.push(st);
    }
    Ok(out)
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
