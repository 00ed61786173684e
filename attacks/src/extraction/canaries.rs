//! Canary extraction: prompt each canary with its template up to the secret, decode greedily and
//! with several top-k samples, and count exact and partial recovery of the secret — canaries
//! that were included in training next to those that were not (the comparison that matters: a
//! secret recovered equally often without training is guessable, not memorized).

use serde::{Deserialize, Serialize};

use crate::{AttackError, Result};
use super::memorization::{rate_estimate, RateEstimate};
use crate::model::{Sampling, Generator};

/// One canary to probe.
#[derive(Clone, Debug, PartialEq)]
pub struct CanaryProbe {
    /// Canary id.
    pub id: u64,
    /// Whether it was inserted into the training data (S_i = +1).
    pub included: bool,
    /// Copies in the training data (0 when not included).
    pub repetitions: u32,
    /// Tokens of the template up to the secret (no BOS).
    pub prompt: Vec<u32>,
    /// The secret.
    pub secret: String,
    /// Tokens to decode (enough for the secret plus a little slack).
    pub max_new_tokens: usize,
}

/// How canaries are decoded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CanaryDecoding {
    /// Top-k samples per canary in addition to the greedy continuation (default 4).
    pub samples: usize,
    /// k of the top-k sampling (default 40).
    pub top_k: usize,
    /// Sampling temperature (default 1.0).
    pub temperature: f64,
    /// A secret counts as partially recovered when at least this fraction of its characters
    /// is reproduced from its start (default 0.5).
    pub partial_fraction: f64,
    /// Two-sided confidence level of the rates (default 0.95).
    pub confidence: f64,
    /// Seed of the sampled decodings.
    pub seed: u64,
}

impl Default for CanaryDecoding {
    fn default() -> Self {
        CanaryDecoding { samples: 4, top_k: 40, temperature: 1.0, partial_fraction: 0.5, confidence: 0.95, seed: 0 }
    }
}

impl CanaryDecoding {
    /// Refuses impossible parameters.
    pub fn validate(&self) -> Result<()> {
        if self.samples > 0 && self.top_k == 0 {
            return Err(AttackError::invalid("top_k", self.top_k, "must be at least 1"));
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(AttackError::invalid("temperature", self.temperature, "must be positive and finite"));
        }
        if !(self.partial_fraction > 0.0 && self.partial_fraction <= 1.0) {
            return Err(AttackError::invalid("partial_fraction", self.partial_fraction, "must lie in (0, 1]"));
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(AttackError::invalid("confidence", self.confidence, "must lie in (0, 1)"));
        }
        Ok(())
    }
}

/// What the model produced for one canary (best over its tries).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CanaryOutcome {
    /// Canary id.
    pub id: u64,
    /// Inserted into training.
    pub included: bool,
    /// Copies in training.
    pub repetitions: u32,
    /// The greedy continuation starts with the secret.
    pub greedy_exact: bool,
    /// Some try (greedy or sampled) starts with the secret.
    pub exact: bool,
    /// Most secret characters reproduced from the start, over all tries.
    pub recovered_chars: usize,
    /// Characters in the secret.
    pub secret_chars: usize,
    /// recovered_chars / secret_chars.
    pub recovered_fraction: f64,
    /// The best continuation (redacted in reports unless extraction is shown).
    pub best_continuation: String,
}

/// Summary of one group (included or not included).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CanaryGroup {
    /// Canaries in the group.
    pub canaries: u64,
    /// Exactly recovered by some try.
    pub exact: RateEstimate,
    /// Exactly recovered by the greedy continuation.
    pub greedy_exact: u64,
    /// At least `partial_fraction` of the secret recovered.
    pub partial: RateEstimate,
    /// Mean recovered fraction of the secret.
    pub mean_recovered_fraction: f64,
}

/// Canary extraction results, included and not included side by side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CanaryExtraction {
    /// Decodings per canary (1 greedy + samples).
    pub tries_per_canary: usize,
    /// Canaries in the training data.
    pub included: CanaryGroup,
    /// Canaries never trained on (their recovery rate is the floor).
    pub not_included: CanaryGroup,
    /// Per canary.
    pub canaries: Vec<CanaryOutcome>,
}

/// Characters of `secret` reproduced at the start of `continuation` (leading whitespace skipped,
/// since the template's space before the slot may be part of the first generated token).
pub fn recovered_prefix_chars(continuation: &str, secret: &str) -> usize {
    continuation.trim_start().chars().zip(secret.chars()).take_while(|(a, b)| a == b).count()
}

/// Probes every canary; returns the results and every decoded continuation (canary id, text)
/// for the fragment search. `progress(done)` after each canary batch.
pub fn extract_canaries(
    generator: &dyn Generator,
    probes: &[CanaryProbe],
    bos: u32,
    decode: &(dyn Fn(&[u32]) -> String + Sync),
    opts: &CanaryDecoding,
    progress: &mut dyn FnMut(u64),
) -> Result<(CanaryExtraction, Vec<(u64, String)>)> {
    opts.validate()?;
    let mut outcomes: Vec<CanaryOutcome> = probes
        .iter()
        .map(|p| CanaryOutcome {
            id: p.id,
            included: p.included,
            repetitions: p.repetitions,
            greedy_exact: false,
            exact: false,
            recovered_chars: 0,
            secret_chars: p.secret.chars().count(),
            recovered_fraction: 0.0,
            best_continuation: String::new(),
        })
        .collect();
    let mut texts = Vec::new();
    let decodings: Vec<Sampling> = std::iter::once(Sampling::Greedy)
        .chain((0..opts.samples).map(|_| Sampling::TopK { k: opts.top_k, temperature: opts.temperature }))
        .collect();
    let mut order: Vec<usize> = (0..probes.len()).collect();
    order.sort_by_key(|&i| probes[i].max_new_tokens);
    for batch in order.chunk_by(|&a, &b| probes[a].max_new_tokens == probes[b].max_new_tokens) {
        let prompts: Vec<Vec<u32>> =
            batch.iter().map(|&i| std::iter::once(bos).chain(probes[i].prompt.iter().copied()).collect()).collect();
        let max_new = probes[batch[0]].max_new_tokens;
        for (try_no, decoding) in decodings.iter().enumerate() {
            let seed = opts.seed.wrapping_add(try_no as u64);
            let continuations = generator.generate(&prompts, max_new, decoding, seed)?;
            if continuations.len() != prompts.len() {
                return Err(AttackError::GeneratorShape { expected: prompts.len(), got: continuations.len() });
            }
            for (&i, tokens) in batch.iter().zip(continuations) {
                let text = decode(&tokens);
                let out = &mut outcomes[i];
                let recovered = recovered_prefix_chars(&text, &probes[i].secret);
                let exact = recovered == out.secret_chars && out.secret_chars > 0;
                out.exact |= exact;
                out.greedy_exact |= exact && try_no == 0;
                if recovered > out.recovered_chars || out.best_continuation.is_empty() {
                    out.recovered_chars = recovered.max(out.recovered_chars);
                    out.best_continuation = text.clone();
                }
                texts.push((probes[i].id, text));
            }
        }
        progress(batch.len() as u64);
    }
    for o in &mut outcomes {
        o.recovered_fraction = if o.secret_chars == 0 { 0.0 } else { o.recovered_chars as f64 / o.secret_chars as f64 };
    }
    let group = |included: bool| -> Result<CanaryGroup> {
        let members: Vec<&CanaryOutcome> = outcomes.iter().filter(|o| o.included == included).collect();
        let n = members.len() as u64;
        let partial = members.iter().filter(|o| o.recovered_fraction >= opts.partial_fraction).count() as u64;
        Ok(CanaryGroup {
            canaries: n,
            exact: rate_estimate(members.iter().filter(|o| o.exact).count() as u64, n, opts.confidence)?,
            greedy_exact: members.iter().filter(|o| o.greedy_exact).count() as u64,
            partial: rate_estimate(partial, n, opts.confidence)?,
            mean_recovered_fraction: if n == 0 { 0.0 } else { members.iter().map(|o| o.recovered_fraction).sum::<f64>() / n as f64 },
        })
    };
    let result = CanaryExtraction {
        tries_per_canary: decodings.len(),
        included: group(true)?,
        not_included: group(false)?,
        canaries: outcomes.clone(),
    };
    Ok((result, texts))
}
