//! Model inputs and padded batches: `[BOS] + tokens + [EOS]`, next-token targets and a padding mask.

use candle_core::{DType, Device, Tensor, D};
use vg_corpora::tokens::{BOS, EOS, PAD};

use crate::model::log_softmax_last;
use crate::Result;

/// The model input for one record: `[BOS] + tokens + [EOS]`, truncated to `ctx` tokens.
pub fn model_input(tokens: &[u32], ctx: usize) -> Vec<u32> {
    let mut v = Vec::with_capacity((tokens.len() + 2).min(ctx));
    v.push(BOS);
    v.extend_from_slice(tokens);
    v.push(EOS);
    v.truncate(ctx);
    v
}

/// A right-padded batch: inputs `seq[..n-1]`, targets `seq[1..]`, mask 1 on real targets.
pub(crate) struct Batch {
    pub ids: Tensor,
    pub targets: Tensor,
    pub mask: Tensor,
    /// Input ids on the host, row-major (B, T).
    pub ids_host: Vec<u32>,
    /// Real target tokens per row.
    pub counts: Vec<usize>,
    pub bsz: usize,
    pub t: usize,
}

impl Batch {
    /// Builds a batch from full model inputs (each already starts with BOS); sequences shorter
    /// than 2 tokens get an all-zero mask row.
    pub fn new(seqs: &[&[u32]], dtype: DType) -> Result<Self> {
        let bsz = seqs.len();
        let t = seqs.iter().map(|s| s.len().saturating_sub(1)).max().unwrap_or(0).max(1);
        let mut ids = vec![PAD; bsz * t];
        let mut targets = vec![PAD; bsz * t];
        let mut mask = vec![0f64; bsz * t];
        let mut counts = vec![0; bsz];
        for (b, s) in seqs.iter().enumerate() {
            let n = s.len().saturating_sub(1);
            for i in 0..n {
                ids[b * t + i] = s[i];
                targets[b * t + i] = s[i + 1];
                mask[b * t + i] = 1.0;
            }
            if n == 0 && !s.is_empty() {
                ids[b * t] = s[0];
            }
            counts[b] = n;
        }
        let dev = Device::Cpu;
        Ok(Batch {
            ids: Tensor::from_vec(ids.clone(), (bsz, t), &dev)?,
            targets: Tensor::from_vec(targets, (bsz, t), &dev)?,
            mask: Tensor::from_vec(mask, (bsz, t), &dev)?.to_dtype(dtype)?,
            ids_host: ids,
            counts,
            bsz,
            t,
        })
    }

    /// Number of real target tokens in the batch.
    pub fn n_tokens(&self) -> usize {
        self.counts.iter().sum()
    }
}

/// Per-example loss (B): the mean next-token NLL over each row's real targets (0 for empty rows).
pub(crate) fn per_example_loss(logits: &Tensor, batch: &Batch) -> Result<Tensor> {
    let lsm = log_softmax_last(logits)?;
    let picked = lsm.gather(&batch.targets.unsqueeze(D::Minus1)?, D::Minus1)?.squeeze(D::Minus1)?;
    let nll = (picked.neg()? * &batch.mask)?.sum(1)?;
    let inv: Vec<f64> = batch.counts.iter().map(|&c| if c == 0 { 0.0 } else { 1.0 / c as f64 }).collect();
    let inv = Tensor::from_vec(inv, batch.bsz, &Device::Cpu)?.to_dtype(logits.dtype())?;
    Ok((nll * inv)?)
}
