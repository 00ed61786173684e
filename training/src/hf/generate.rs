//! Continuations from a Hugging Face decoder with a key/value cache: greedy, or sampling with
//! temperature, top-k and top-p (nucleus) in transformers' order (temperature → top-k → top-p).
//! Prompts of equal length decode together; prompt i samples from ChaCha20 stream i of the seed,
//! so results do not depend on batching or threads (the same contract as [`crate::generate`]).

use candle_core::DType;
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;

use super::decoder::{Decoder, KvCache};
use crate::{Error, Result};

/// How the next token is chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum HfDecoding {
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

impl HfDecoding {
    /// Refuses impossible parameters.
    pub fn validate(&self) -> Result<()> {
        if let HfDecoding::Sample { temperature, top_k, top_p } = self {
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
pub fn generate(model: &Decoder, prompts: &[Vec<u32>], max_new: usize, sampling: &HfDecoding, stop: &[u32], seed: u64, first_stream: u64) -> Result<Vec<Vec<u32>>> {
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

fn continue_batch(model: &Decoder, prompts: &[&[u32]], idx: &[usize], max_new: usize, sampling: &HfDecoding, stop: &[u32], streams: (u64, u64)) -> Result<Vec<Vec<u32>>> {
    let cache = std::cell::RefCell::new(KvCache::default());
    let step = crate::generate::BatchDecode { prompts, idx, streams, max_new, max_pos: model.arch().max_positions, stop };
    step.run(
        &mut |ids, pos| {
            let logits = model.forward(&ids, Some(&mut cache.borrow_mut()), pos, true)?;
            // f32 logits widened to f64 exactly: the same arg-max and the same draws.
            Ok(logits.squeeze(1)?.to_dtype(DType::F64)?.to_vec2::<f64>()?)
        },
        &mut |keep| cache.borrow_mut().select_rows(keep),
        &|logits, rng| choose(logits, sampling, rng),
    )
}

/// The next token from one row of logits.
pub fn choose<T: Copy + Into<f64>>(logits: &[T], sampling: &HfDecoding, rng: &mut ChaCha20Rng) -> u32 {
    match sampling {
        HfDecoding::Greedy => crate::generate::next_token(logits, None, rng),
        HfDecoding::Sample { temperature, top_k, top_p } => crate::generate::next_token(logits, Some((*temperature, *top_k, *top_p)), rng),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn top_k_and_top_p_keep_the_right_candidates() {
        // Probabilities at temperature 1: ids 5 (e^7), 1 and 2 (e^3 each), 4 (e^2), ...
        let logits = [0.5f32, 3.0, 3.0, -1.0, 2.0, 7.0];
        let mut rng = ChaCha20Rng::seed_from_u64(0);
        assert_eq!(choose(&logits, &HfDecoding::Greedy, &mut rng), 5);
        let k3 = HfDecoding::Sample { temperature: 1.0, top_k: Some(3), top_p: None };
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            seen.insert(choose(&logits, &k3, &mut rng));
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![1, 2, 5]);
        // p(5) = e^7 / Σ ≈ 0.96: top-p 0.9 keeps id 5 alone; 0.99 adds 1 and 2.
        let p90 = HfDecoding::Sample { temperature: 1.0, top_k: None, top_p: Some(0.9) };
        assert!((0..500).all(|_| choose(&logits, &p90, &mut rng) == 5));
        let p99 = HfDecoding::Sample { temperature: 1.0, top_k: None, top_p: Some(0.99) };
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..5000 {
            seen.insert(choose(&logits, &p99, &mut rng));
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![1, 2, 5]);
        assert!(HfDecoding::Sample { temperature: 0.0, top_k: None, top_p: None }.validate().is_err());
        assert!(HfDecoding::Sample { temperature: 1.0, top_k: None, top_p: Some(1.5) }.validate().is_err());
    }
}
