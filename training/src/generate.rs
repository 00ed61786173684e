//! Greedy and top-k / temperature sampling with a key/value cache.

use candle_core::{DType, Device, IndexOp, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use vg_corpora::tokens::{BOS, EOS};

use crate::model::{Gpt, KvCache, Mode};
use crate::{Error, Result};

/// How the next token is chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoding {
    /// The most likely token (ties: the lowest id).
    Greedy,
    /// Sample from the `k` most likely tokens after dividing logits by `temperature`.
    TopK {
        /// Candidates kept.
        k: usize,
        /// Softmax temperature (> 0).
        temperature: f64,
    },
}

/// Continues each prompt (a full model input starting with BOS) by up to `max_new_tokens`,
/// returning only the new tokens; stops at EOS (not included) or at the context length.
/// Prompts longer than the context keep their last `context - 1` tokens. Sampling for prompt i
/// uses ChaCha20 stream i of `seed`, so results do not depend on batching or thread count.
pub fn generate(model: &Gpt, prompts: &[Vec<u32>], max_new_tokens: usize, decoding: &Decoding, seed: u64) -> Result<Vec<Vec<u32>>> {
    if let Decoding::TopK { k, temperature } = decoding {
        if *k == 0 {
            return Err(Error::param("top_k", k, "must be ≥ 1"));
        }
        if !(*temperature > 0.0 && temperature.is_finite()) {
            return Err(Error::param("temperature", temperature, "must be a positive finite number"));
        }
    }
    prompts
        .par_iter()
        .enumerate()
        .map(|(i, p)| {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            rng.set_stream(i as u64);
            continue_one(model, p, max_new_tokens, decoding, &mut rng)
        })
        .collect()
}

fn continue_one(model: &Gpt, prompt: &[u32], max_new: usize, decoding: &Decoding, rng: &mut ChaCha20Rng) -> Result<Vec<u32>> {
    let ctx = model.config().context_length;
    let prompt: Vec<u32> = if prompt.is_empty() {
        vec![BOS]
    } else {
        prompt[prompt.len().saturating_sub(ctx - 1)..].to_vec()
    };
    let mut cache = KvCache::default();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut feed = prompt;
    while out.len() < max_new {
        let ids = Tensor::from_vec(feed.clone(), (1, feed.len()), &Device::Cpu)?;
        let logits = model.forward_with(&ids, &mut Mode::Infer, Some(&mut cache), pos)?;
        pos += feed.len();
        let last = logits.i((0, feed.len() - 1))?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
        let next = choose(&last, decoding, rng);
        if next == EOS {
            break;
        }
        out.push(next);
        if pos >= ctx {
            break;
        }
        feed = vec![next];
    }
    Ok(out)
}

fn choose(logits: &[f64], decoding: &Decoding, rng: &mut ChaCha20Rng) -> u32 {
    match decoding {
        Decoding::Greedy => {
            let mut best = 0;
            for (i, &l) in logits.iter().enumerate() {
                if l > logits[best] {
                    best = i;
                }
            }
            best as u32
        }
        Decoding::TopK { k, temperature } => {
            let mut idx: Vec<usize> = (0..logits.len()).collect();
            idx.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
            idx.truncate((*k).min(logits.len()));
            let top = logits[idx[0]];
            let w: Vec<f64> = idx.iter().map(|&i| ((logits[i] - top) / temperature).exp()).collect();
            let total: f64 = w.iter().sum();
            let mut u = rng.random::<f64>() * total;
            for (j, &wi) in w.iter().enumerate() {
                if u < wi {
                    return idx[j] as u32;
                }
                u -= wi;
            }
            idx[idx.len() - 1] as u32
        }
    }
}
