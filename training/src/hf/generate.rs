//! Continuations from a Hugging Face decoder with a key/value cache: greedy, or sampling with
//! temperature, top-k and top-p (nucleus) in transformers' order (temperature → top-k → top-p).
//! Prompts of equal length decode together; prompt i samples from ChaCha20 stream i of the seed,
//! so results do not depend on batching or threads (the same contract as [`crate::generate`]).

use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;

use super::decoder::{Decoder, KvCache};
use crate::{Error, Result};

/// How the next token is chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum Sampling {
    /// The most likely token (ties: the lowest id).
    Greedy,
    /// Sample after dividing the logits by `temperature`, keeping the `top_k` best and then the
    /// smallest set whose probability reaches `top_p`.
    Sample {
        /// Softmax temperature (> 0).
        temperature: f64,
        /// Keep the k most likely tokens (None: all).
        top_k: Option<usize>,
        /// Nucleus mass in (0, 1] (None: 1).
        top_p: Option<f64>,
    },
}

impl Sampling {
    /// Refuses impossible parameters.
    pub fn validate(&self) -> Result<()> {
        if let Sampling::Sample { temperature, top_k, top_p } = self {
            if !(*temperature > 0.0 && temperature.is_finite()) {
                return Err(Error::param("temperature", temperature, "must be a positive finite number"));
            }
            if *top_k == Some(0) {
                return Err(Error::param("top_k", 0, "must be ≥ 1"));
            }
            if let Some(p) = top_p {
                if !(*p > 0.0 && *p <= 1.0) {
                    return Err(Error::param("top_p", p, "must be in (0, 1]"));
                }
            }
        }
        Ok(())
    }
}

/// Prompts decoded together in one batch.
const BATCH: usize = 32;

/// Up to `max_new` new tokens for each prompt (prompt ids as the tokenizer gave them); stops at
/// one of `stop` ids (not included) or at the model's last position. Empty prompts are refused.
/// Prompt i samples from stream `first_stream + i` of `seed` (callers working in chunks pass the
/// chunk's start, so the result equals one call over all prompts).
pub fn generate(model: &Decoder, prompts: &[Vec<u32>], max_new: usize, sampling: &Sampling, stop: &[u32], seed: u64, first_stream: u64) -> Result<Vec<Vec<u32>>> {
    sampling.validate()?;
    let max_pos = model.arch().max_positions;
    if let Some(i) = prompts.iter().position(|p| p.is_empty()) {
        return Err(Error::param("prompt", i, "is empty: a continuation needs at least one token"));
    }
    // Over-long prompts keep their last tokens, leaving room for one new token.
    let trimmed: Vec<&[u32]> = prompts.iter().map(|p| &p[p.len().saturating_sub(max_pos - 1)..]).collect();
    let mut order: Vec<usize> = (0..prompts.len()).collect();
    order.sort_by_key(|&i| trimmed[i].len());
    let mut batches: Vec<&[usize]> = Vec::new();
    for run in order.chunk_by(|&a, &b| trimmed[a].len() == trimmed[b].len()) {
        batches.extend(run.chunks(BATCH));
    }
    let done: Vec<Result<Vec<Vec<u32>>>> = batches.par_iter().map(|idx| continue_batch(model, &trimmed, idx, max_new, sampling, stop, (seed, first_stream))).collect();
    let mut out = vec![Vec::new(); prompts.len()];
    for (idx, conts) in batches.iter().zip(done) {
        for (&i, c) in idx.iter().zip(conts?) {
            out[i] = c;
        }
    }
    Ok(out)
}

fn continue_batch(model: &Decoder, prompts: &[&[u32]], idx: &[usize], max_new: usize, sampling: &Sampling, stop: &[u32], (seed, first_stream): (u64, u64)) -> Result<Vec<Vec<u32>>> {
    let max_pos = model.arch().max_positions;
    let mut outs = vec![Vec::new(); idx.len()];
    if max_new == 0 || idx.is_empty() {
        return Ok(outs);
    }
    let mut rngs: Vec<ChaCha20Rng> = idx
        .iter()
        .map(|&i| {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            rng.set_stream(first_stream + i as u64);
            rng
        })
        .collect();
    let mut cache = KvCache::default();
    let mut active: Vec<usize> = (0..idx.len()).collect();
    let mut feed: Vec<u32> = idx.iter().flat_map(|&i| prompts[i].iter().copied()).collect();
    let mut t = prompts[idx[0]].len();
    let mut pos = 0;
    loop {
        let ids = Tensor::from_vec(feed, (active.len(), t), &Device::Cpu)?;
        let logits = model.forward(&ids, Some(&mut cache), pos, true)?;
        pos += t;
        let last: Vec<Vec<f32>> = logits.squeeze(1)?.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let (mut keep, mut next_feed) = (Vec::new(), Vec::new());
        for (r, &row) in active.iter().enumerate() {
            let next = choose(&last[r], sampling, &mut rngs[row]);
            if stop.contains(&next) {
                continue;
            }
            outs[row].push(next);
            if outs[row].len() < max_new && pos < max_pos {
                keep.push(r as u32);
                next_feed.push(next);
            }
        }
        if keep.is_empty() {
            return Ok(outs);
        }
        if keep.len() < active.len() {
            cache.select_rows(&keep)?;
            active = keep.iter().map(|&r| active[r as usize]).collect();
        }
        feed = next_feed;
        t = 1;
    }
}

/// The next token from one row of logits.
pub fn choose(logits: &[f32], sampling: &Sampling, rng: &mut ChaCha20Rng) -> u32 {
    match sampling {
        Sampling::Greedy => {
            let mut best = 0;
            for (i, &l) in logits.iter().enumerate() {
                if l > logits[best] {
                    best = i;
                }
            }
            best as u32
        }
        Sampling::Sample { temperature, top_k, top_p } => {
            // Candidates by (logit descending, id ascending): a strict order, so selecting the k
            // best then sorting them equals the prefix of the full sort.
            let by_rank = |a: &usize, b: &usize| logits[*b].total_cmp(&logits[*a]).then(a.cmp(b));
            let mut cand: Vec<usize> = (0..logits.len()).collect();
            let k = top_k.unwrap_or(logits.len()).min(logits.len());
            if k < cand.len() {
                cand.select_nth_unstable_by(k - 1, by_rank);
                cand.truncate(k);
            }
            cand.sort_by(by_rank);
            let top = logits[cand[0]] as f64;
            let mut w: Vec<f64> = cand.iter().map(|&i| ((logits[i] as f64 - top) / temperature).exp()).collect();
            if let Some(p) = top_p {
                // Keep the smallest prefix whose mass reaches p (at least one token).
                let total: f64 = w.iter().sum();
                let mut acc = 0.0;
                let mut keep = w.len();
                for (j, wi) in w.iter().enumerate() {
                    acc += wi / total;
                    if acc >= *p {
                        keep = j + 1;
                        break;
                    }
                }
                w.truncate(keep);
                cand.truncate(keep);
            }
            let total: f64 = w.iter().sum();
            let mut u = rng.random::<f64>() * total;
            for (j, &wi) in w.iter().enumerate() {
                if u < wi {
                    return cand[j] as u32;
                }
                u -= wi;
            }
            cand[cand.len() - 1] as u32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_and_top_p_keep_the_right_candidates() {
        // Probabilities at temperature 1: ids 5 (e^7), 1 and 2 (e^3 each), 4 (e^2), ...
        let logits = [0.5f32, 3.0, 3.0, -1.0, 2.0, 7.0];
        let mut rng = ChaCha20Rng::seed_from_u64(0);
        assert_eq!(choose(&logits, &Sampling::Greedy, &mut rng), 5);
        let k3 = Sampling::Sample { temperature: 1.0, top_k: Some(3), top_p: None };
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            seen.insert(choose(&logits, &k3, &mut rng));
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![1, 2, 5]);
        // p(5) = e^7 / Σ ≈ 0.96: top-p 0.9 keeps id 5 alone; 0.99 adds 1 and 2.
        let p90 = Sampling::Sample { temperature: 1.0, top_k: None, top_p: Some(0.9) };
        assert!((0..500).all(|_| choose(&logits, &p90, &mut rng) == 5));
        let p99 = Sampling::Sample { temperature: 1.0, top_k: None, top_p: Some(0.99) };
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..5000 {
            seen.insert(choose(&logits, &p99, &mut rng));
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![1, 2, 5]);
        assert!(Sampling::Sample { temperature: 0.0, top_k: None, top_p: None }.validate().is_err());
        assert!(Sampling::Sample { temperature: 1.0, top_k: None, top_p: Some(1.5) }.validate().is_err());
    }
}
