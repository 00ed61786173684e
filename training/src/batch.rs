//! Model inputs and padded batches: `[BOS] + tokens + [EOS]`, next-token targets and a padding mask.

use candle_core::{Device, Tensor};
use vg_corpora::tokens::{BOS, EOS, PAD};

use crate::kernels::{path, KernelPath};
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
/// The ids tensor is built on the CPU; a model moves it to its device.
pub(crate) struct Batch {
    pub ids: Tensor,
    /// Input ids on the host, row-major (B, T).
    pub ids_host: Vec<u32>,
    /// Targets on the host, row-major (B, T).
    pub targets_host: Vec<u32>,
    /// Real target tokens per row.
    pub counts: Vec<usize>,
    pub bsz: usize,
    pub t: usize,
}

impl Batch {
    /// Builds a batch from full model inputs (each already starts with BOS); sequences shorter
    /// than 2 tokens get an all-zero mask row.
    pub fn new(seqs: &[&[u32]]) -> Result<Self> {
        let bsz = seqs.len();
        let t = seqs.iter().map(|s| s.len().saturating_sub(1)).max().unwrap_or(0).max(1);
        let mut ids = vec![PAD; bsz * t];
        let mut targets = vec![PAD; bsz * t];
        let mut counts = vec![0; bsz];
        for (b, s) in seqs.iter().enumerate() {
            let n = s.len().saturating_sub(1);
            for i in 0..n {
                ids[b * t + i] = s[i];
                targets[b * t + i] = s[i + 1];
            }
            if n == 0 && !s.is_empty() {
                ids[b * t] = s[0];
            }
            counts[b] = n;
        }
        let dev = Device::Cpu;
        Ok(Batch {
            ids: Tensor::from_vec(ids.clone(), (bsz, t), &dev)?,
            ids_host: ids,
            targets_host: targets,
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

/// Per-example loss (B): the mean next-token NLL over each row's real targets (0 for empty rows),
/// by the softmax cross-entropy of `kernels` (each position weighted 1/count of its row, padding 0).
pub(crate) fn per_example_loss(logits: &Tensor, batch: &Batch, kernels: KernelPath) -> Result<Tensor> {
    let (b, t, v) = logits.dims3()?;
    let rows = path::softmax_cross_entropy(kernels, &logits.reshape((b * t, v))?, batch.targets_host.clone(), row_weights(batch))?;
    Ok(rows.reshape((b, t))?.sum(1)?)
}

/// The weight of each (example, position) row in its example's loss: 1/count on real targets,
/// 0 on padding (so each example's loss is its mean next-token NLL).
pub(crate) fn row_weights(batch: &Batch) -> Vec<f64> {
    let t = batch.t;
    (0..batch.bsz * t)
        .map(|r| {
            let c = batch.counts[r / t];
            if r % t < c { 1.0 / c as f64 } else { 0.0 }
        })
        .collect()
}
