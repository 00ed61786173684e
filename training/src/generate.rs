//! Greedy and top-k / temperature sampling with a key/value cache.

use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use vg_corpora::tokens::{BOS, EOS};

use crate::model::{Gpt, KvCache};
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
    /// Sample after dividing logits by `temperature`, keeping the `top_k` most likely tokens
    /// (all when None), then the smallest prefix whose probability reaches `top_p` (when set).
    Sample {
        /// Softmax temperature (> 0).
        temperature: f64,
        /// Candidates kept (≥ 1), if any limit.
        top_k: Option<usize>,
        /// Nucleus mass in (0, 1], if any limit.
        top_p: Option<f64>,
    },
}

impl Decoding {
    /// Refuses impossible parameters (k = 0, temperature ≤ 0, top-p outside (0, 1]) before any work.
    pub fn validate(&self) -> Result<()> {
        let (temperature, k, p) = match self {
            Decoding::Greedy => return Ok(()),
            Decoding::TopK { k, temperature } => (*temperature, Some(*k), None),
            Decoding::Sample { temperature, top_k, top_p } => (*temperature, *top_k, *top_p),
        };
        if k == Some(0) {
            return Err(Error::param("top_k", 0, "must be ≥ 1"));
        }
        if !(temperature > 0.0 && temperature.is_finite()) {
            return Err(Error::param("temperature", temperature, "must be a positive finite number"));
        }
        if let Some(p) = p {
            if !(p > 0.0 && p <= 1.0) {
                return Err(Error::param("top_p", p, "must lie in (0, 1]"));
            }
        }
        Ok(())
    }
}

/// Prompts decoded together in one batch (rows of equal prompt length share every forward pass).
const GENERATION_BATCH_SIZE: usize = 32;

/// Continues each prompt (a full model input starting with BOS) by up to `max_new_tokens`,
/// returning only the new tokens; stops at EOS (not included) or at the context length.
/// Prompts longer than the context keep their last `context - 1` tokens. Sampling for prompt i
/// uses ChaCha20 stream i of `seed`, so results do not depend on batching or thread count.
/// Prompts of equal length are decoded in batches (one forward pass per new token for the whole
/// batch, KV cache, logits of the last position only); batches run in parallel on rayon.
pub fn generate(model: &Gpt, prompts: &[Vec<u32>], max_new_tokens: usize, decoding: &Decoding, seed: u64) -> Result<Vec<Vec<u32>>> {
    generate_streams(model, prompts, 0, max_new_tokens, decoding, seed)
}

/// [`generate`] with prompt i drawing from ChaCha20 stream `first_stream + i` of `seed`, so a
/// long list can be decoded in chunks (for a progress bar) with the same result as in one call.
pub fn generate_streams(model: &Gpt, prompts: &[Vec<u32>], first_stream: u64, max_new_tokens: usize, decoding: &Decoding, seed: u64) -> Result<Vec<Vec<u32>>> {
    decoding.validate()?;
    let ctx = model.config().context_length;
    let trimmed: Vec<&[u32]> = prompts.iter().map(|p| if p.is_empty() { &[BOS][..] } else { &p[p.len().saturating_sub(ctx - 1)..] }).collect();
    // Equal-length prompts together (stable by index), in batches of at most GENERATION_BATCH_SIZE.
    let mut order: Vec<usize> = (0..prompts.len()).collect();
    order.sort_by_key(|&i| trimmed[i].len());
    let mut batches: Vec<&[usize]> = Vec::new();
    for run in order.chunk_by(|&a, &b| trimmed[a].len() == trimmed[b].len()) {
        batches.extend(run.chunks(GENERATION_BATCH_SIZE));
    }
    let done: Vec<Result<Vec<Vec<u32>>>> =
        batches.par_iter().map(|idx| continue_batch(model, &trimmed, idx, first_stream, max_new_tokens, decoding, seed)).collect();
    let mut out = vec![Vec::new(); prompts.len()];
    for (idx, conts) in batches.iter().zip(done) {
        for (&i, c) in idx.iter().zip(conts?) {
            out[i] = c;
        }
    }
    Ok(out)
}

/// Decodes the prompts `idx` (all of one length) together; rows leave the batch (and the cache)
/// when they finish.
fn continue_batch(model: &Gpt, prompts: &[&[u32]], idx: &[usize], first_stream: u64, max_new: usize, decoding: &Decoding, seed: u64) -> Result<Vec<Vec<u32>>> {
    let cache = std::cell::RefCell::new(KvCache::default());
    let step = BatchDecode { prompts, idx, streams: (seed, first_stream), max_new, max_pos: model.config().context_length, stop: &[EOS] };
    step.run(
        &mut |ids, pos| {
            let logits = model.forward_last_with_cache(&ids, &mut cache.borrow_mut(), pos)?;
            Ok(logits.squeeze(1)?.to_dtype(DType::F64)?.to_vec2::<f64>()?)
        },
        &mut |keep| {
            let rows = Tensor::new(keep, model.device())?;
            for (k, v) in cache.borrow_mut().layers.iter_mut().flatten() {
                *k = k.index_select(&rows, 0)?;
                *v = v.index_select(&rows, 0)?;
            }
            Ok(())
        },
        &|logits, rng| choose(logits, decoding, rng),
    )
}

/// One batch of equal-length prompts decoded together with a KV cache: the loop shared by our
/// GPT and the Hugging Face decoder (they differ only in the forward, the cache and the sampler).
pub(crate) struct BatchDecode<'a> {
    /// All prompts; `idx` says which of them this batch decodes.
    pub prompts: &'a [&'a [u32]],
    /// Prompt indices of this batch (all of one length).
    pub idx: &'a [usize],
    /// (seed, first stream): prompt i samples from ChaCha20 stream `first_stream + i`.
    pub streams: (u64, u64),
    /// New tokens at most.
    pub max_new: usize,
    /// Positions the model can attend to.
    pub max_pos: usize,
    /// Tokens that end a continuation (not emitted).
    pub stop: &'a [u32],
}

/// The last position's logits for fed ids (rows, t) starting at position `pos`.
pub(crate) type ForwardLast<'f> = dyn FnMut(Tensor, usize) -> Result<Vec<Vec<f64>>> + 'f;

impl BatchDecode<'_> {
    /// Runs the loop; `forward` advances the cache, `keep_rows` drops finished rows from it.
    pub(crate) fn run(
        &self,
        forward: &mut ForwardLast<'_>,
        keep_rows: &mut dyn FnMut(&[u32]) -> Result<()>,
        choose: &dyn Fn(&[f64], &mut ChaCha20Rng) -> u32,
    ) -> Result<Vec<Vec<u32>>> {
        let (prompts, idx) = (self.prompts, self.idx);
        let mut outs = vec![Vec::new(); idx.len()];
        if self.max_new == 0 || idx.is_empty() {
            return Ok(outs);
        }
        let (seed, first_stream) = self.streams;
        let mut rngs: Vec<ChaCha20Rng> = idx
            .iter()
            .map(|&i| {
                let mut rng = ChaCha20Rng::seed_from_u64(seed);
                rng.set_stream(first_stream + i as u64);
                rng
            })
            .collect();
        // Rows of the batch still decoding, as positions in `idx`, in cache order.
        let mut active: Vec<usize> = (0..idx.len()).collect();
        let mut feed: Vec<u32> = idx.iter().flat_map(|&i| prompts[i].iter().copied()).collect();
        let mut t = prompts[idx[0]].len();
        let mut pos = 0;
        loop {
            let last = forward(Tensor::from_vec(feed, (active.len(), t), &Device::Cpu)?, pos)?;
            pos += t;
            let (mut keep, mut next_feed) = (Vec::new(), Vec::new());
            for (r, &row) in active.iter().enumerate() {
                let next = choose(&last[r], &mut rngs[row]);
                if self.stop.contains(&next) {
                    continue;
                }
                outs[row].push(next);
                if outs[row].len() < self.max_new && pos < self.max_pos {
                    keep.push(r as u32);
                    next_feed.push(next);
                }
            }
            if keep.is_empty() {
                return Ok(outs);
            }
            if keep.len() < active.len() {
                keep_rows(&keep)?;
                active = keep.iter().map(|&r| active[r as usize]).collect();
            }
            feed = next_feed;
            t = 1;
        }
    }
}

fn choose(logits: &[f64], decoding: &Decoding, rng: &mut ChaCha20Rng) -> u32 {
    match decoding {
        Decoding::Greedy => next_token(logits, None, rng),
        Decoding::TopK { k, temperature } => next_token(logits, Some((*temperature, Some(*k), None)), rng),
        Decoding::Sample { temperature, top_k, top_p } => next_token(logits, Some((*temperature, *top_k, *top_p)), rng),
    }
}

/// The next token from one row of logits (f32 or f64): arg-max (ties: the lowest id) when
/// `sample` is None, else a draw after dividing by the temperature, keeping the top-k and then
/// the smallest prefix whose mass reaches top-p. Shared by our GPT and the Hugging Face decoder.
pub(crate) fn next_token<T: Copy + Into<f64>>(logits: &[T], sample: Option<(f64, Option<usize>, Option<f64>)>, rng: &mut ChaCha20Rng) -> u32 {
    let at = |i: usize| -> f64 { logits[i].into() };
    let Some((temperature, top_k, top_p)) = sample else {
        let mut best = 0;
        for i in 0..logits.len() {
            if at(i) > at(best) {
                best = i;
            }
        }
        return best as u32;
    };
    // Candidates by (logit descending, id ascending): a strict order, so selecting the k best
    // then sorting them equals the prefix of the full sort.
    let by_rank = |a: &usize, b: &usize| at(*b).total_cmp(&at(*a)).then(a.cmp(b));
    let mut cand: Vec<usize> = (0..logits.len()).collect();
    let k = top_k.unwrap_or(logits.len()).min(logits.len());
    if k < cand.len() {
        cand.select_nth_unstable_by(k - 1, by_rank);
        cand.truncate(k);
    }
    // Only top-p needs the candidates in rank order; a draw over all of them does not (the
    // full-vocabulary sort cost a third of `synth`'s time), so they stay in id order then.
    if top_p.is_some() || k < logits.len() {
        cand.sort_by(by_rank);
    }
    let top = cand.iter().map(|&i| at(i)).fold(f64::NEG_INFINITY, f64::max);
    let mut w: Vec<f64> = cand.iter().map(|&i| ((at(i) - top) / temperature).exp()).collect();
    if let Some(p) = top_p {
        // Keep the smallest prefix whose mass reaches p (at least one token).
        let total: f64 = w.iter().sum();
        let mut acc = 0.0;
        let mut keep = w.len();
        for (j, wi) in w.iter().enumerate() {
            acc += wi / total;
            if acc >= p {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_generation_equals_one_prompt_at_a_time() {
        let cfg = crate::GptConfig { preset: "custom".into(), vocab_size: 40, context_length: 24, n_layer: 2, n_embd: 32, n_head: 4, mlp_ratio: 4, ln_eps: 1e-5 };
        let model = Gpt::new(&cfg, DType::F64, 3).unwrap();
        // Two lengths interleaved, one prompt longer than the context, one empty.
        let mut prompts: Vec<Vec<u32>> = (0..9u32).map(|i| (0..[3u32, 5][i as usize % 2]).map(|j| if j == 0 { BOS } else { 3 + (i * 7 + j * 5) % 37 }).collect()).collect();
        prompts.push((0..30u32).map(|j| 3 + j % 37).collect());
        prompts.push(Vec::new());
        for decoding in [Decoding::Greedy, Decoding::TopK { k: 5, temperature: 1.3 }] {
            let together = generate(&model, &prompts, 12, &decoding, 11).unwrap();
            assert_eq!(together.len(), prompts.len());
            for (i, p) in prompts.iter().enumerate() {
                // Prompt i alone at index i of its own list uses the same sampling stream.
                let mut alone_list = vec![vec![BOS]; i + 1];
                alone_list[i] = p.clone();
                let alone = generate(&model, &alone_list, 12, &decoding, 11).unwrap();
                assert_eq!(together[i], alone[i], "prompt {i} under {decoding:?}");
                assert!(together[i].len() <= 12 && !together[i].contains(&EOS));
            }
            // The over-long prompt keeps 23 tokens: the first new token fills the context and the
            // second is predicted at its last position, then generation stops.
            assert_eq!(together[9].len(), 2);
        }
    }

    #[test]
    fn chunks_with_stream_offsets_equal_one_call() {
        let cfg = crate::GptConfig { preset: "custom".into(), vocab_size: 40, context_length: 24, n_layer: 1, n_embd: 16, n_head: 2, mlp_ratio: 4, ln_eps: 1e-5 };
        let model = Gpt::new(&cfg, DType::F32, 5).unwrap();
        let prompts = vec![vec![BOS]; 10];
        let d = Decoding::Sample { temperature: 1.0, top_k: Some(20), top_p: Some(0.9) };
        let whole = generate(&model, &prompts, 8, &d, 3).unwrap();
        let mut parts = generate_streams(&model, &prompts[..4], 0, 8, &d, 3).unwrap();
        parts.extend(generate_streams(&model, &prompts[4..], 4, 8, &d, 3).unwrap());
        assert_eq!(whole, parts);
        // Unconditional samples differ between streams (40 tokens, 8 draws each).
        assert!(whole.iter().any(|c| c != &whole[0]));
        assert!(Decoding::Sample { temperature: 1.0, top_k: None, top_p: Some(1.5) }.validate().is_err());
    }

    #[test]
    fn top_k_keeps_the_k_best_in_rank_order() {
        let logits = [0.5, 3.0, 3.0, -1.0, 2.0, 7.0];
        let mut rng = ChaCha20Rng::seed_from_u64(0);
        let d = Decoding::TopK { k: 3, temperature: 1e-9 };
        // At a tiny temperature only the best survives; ties go to the lowest id.
        assert_eq!(choose(&logits, &d, &mut rng), 5);
        let d = Decoding::TopK { k: 3, temperature: 1.0 };
        for _ in 0..200 {
            assert!([5, 1, 2].contains(&choose(&logits, &d, &mut rng)));
        }
    }
}
