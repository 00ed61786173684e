//! The small model interface the attacks need. `vg-attacks` knows no model: the binary
//! implements these traits for the models of `vg-training` (or for external checkpoints).

use std::fmt;

/// Per predicted token of one sequence (positions 1.. of the input): `logprob[t]` = log p(x_t | x_<t);
/// under the model's full next-token distribution p at that position,
/// `mu[t]` = Σ_z p(z) log p(z) and `sigma[t]` = sqrt(Σ_z p(z) (log p(z))² − mu_t²) (for min-k%++).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TokenLogProbs {
    /// log p(x_t | x_<t) for every predicted token.
    pub logprob: Vec<f64>,
    /// Expected log-probability under the model's own next-token distribution.
    pub mu: Vec<f64>,
    /// Standard deviation of the log-probability under that distribution.
    pub sigma: Vec<f64>,
}

/// Scores token sequences: the only thing membership inference needs from a model.
pub trait TokenScorer: Sync {
    /// Token statistics for each full model input (BOS already added by the caller).
    fn score_tokens(&self, seqs: &[Vec<u32>]) -> Result<Vec<TokenLogProbs>, ModelError>;
}

/// How continuations are decoded.
#[derive(Clone, Debug, PartialEq)]
pub enum Sampling {
    /// Arg-max at every step.
    Greedy,
    /// Sample from the k most likely tokens after dividing the logits by `temperature`.
    TopK {
        /// Number of candidate tokens kept.
        k: usize,
        /// Softmax temperature (> 0).
        temperature: f64,
    },
}

/// Continues prompts: what extraction needs from a model.
pub trait Generator: Sync {
    /// For each prompt (a full model input, BOS included), up to `max_new_tokens` new tokens;
    /// stops at EOS, which is not included. `seed` makes sampled decoding reproducible.
    fn generate(
        &self,
        prompts: &[Vec<u32>],
        max_new_tokens: usize,
        decoding: &Sampling,
        seed: u64,
    ) -> Result<Vec<Vec<u32>>, ModelError>;
}

/// An error from the model behind a trait object, carried as text.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelError(pub String);

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "model error: {}", self.0)
    }
}

impl std::error::Error for ModelError {}
