//! Per-record membership scores from one model's token statistics.
//!
//! **Orientation.** Every score here is oriented so that *higher = more likely a member*
//! (a lower loss gives a higher score); metrics and attacks rely on it.
//!
//! With m = mean token log-prob (nats) = −(mean loss):
//! - `loss` (Yeom et al. 2018): m itself, i.e. −loss;
//! - `zlib` (Carlini et al. 2021): −loss / zlib bytes of the text = m / zlib_bytes;
//! - `min_k` (Shi et al. 2023): mean of the ⌈k·n⌉ lowest token log-probs;
//! - `min_k_plus_plus` (Zhang et al. 2024): mean of the ⌈k·n⌉ lowest (log p − μ)/σ;
//! - `reference_calibrated`: needs OUT reference models, see [`reference_calibrated`];
//! - `lira_phi` = m − log(−expm1(m)) and `rmia_p` = e^m: inputs of LiRA and RMIA.
//!
//! k is a fraction in (0, 1] (0.2 = 20 %, the default); the count of tokens is ⌈k·n⌉, at
//! least 1 (see [`min_k_count`]), so a 1-token record uses its one token.

mod calibrated;
mod sequence_probability;
mod token;
mod zlib;

use rayon::prelude::*;
use crate::AttackError;
use serde::{Deserialize, Serialize};

use crate::model::TokenLogProbs;

pub use calibrated::{reference_calibrated, reference_calibrated_batch};
pub use sequence_probability::{lira_phi, rmia_probability};
pub use token::{min_k, min_k_count, min_k_plus_plus, SIGMA_FLOOR};
pub use zlib::zlib_len;

/// Default fraction of tokens for min-k% and min-k%++ (20 %).
pub const DEFAULT_MIN_K: f64 = 0.2;

/// Log-probs above 0 by less than this are rounding in log-softmax and are clamped to 0;
/// larger ones mean the scorer is broken and are refused.
pub const LOGPROB_TOLERANCE: f64 = 1e-6;

/// The single-model scores, by name (the names used in tables, JSON and the CLI).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreKind {
    /// −mean loss (loss-threshold attack, Yeom et al. 2018).
    Loss,
    /// −loss / zlib bytes (Carlini et al. 2021).
    Zlib,
    /// min-k% (Shi et al. 2023).
    MinK,
    /// min-k%++ (Zhang et al. 2024).
    MinKPlusPlus,
}

impl ScoreKind {
    /// All single-model scores.
    pub const ALL: [ScoreKind; 4] = [ScoreKind::Loss, ScoreKind::Zlib, ScoreKind::MinK, ScoreKind::MinKPlusPlus];

    /// Column / attack name: "loss", "zlib", "min_k", "min_k_plus_plus".
    pub fn name(self) -> &'static str {
        match self {
            ScoreKind::Loss => "loss",
            ScoreKind::Zlib => "zlib",
            ScoreKind::MinK => "min_k",
            ScoreKind::MinKPlusPlus => "min_k_plus_plus",
        }
    }
}

/// Every score of one record under one model (all oriented higher = more likely a member).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreSet {
    /// Predicted tokens n.
    pub n_tokens: usize,
    /// Σ_t log p(x_t | x_<t): the log-likelihood (−log-perplexity × n; exposure ranks use it).
    pub total_logprob: f64,
    /// m = mean token log-prob = −(mean loss); the `loss` score.
    pub mean_logprob: f64,
    /// zlib-compressed byte length of the text.
    pub zlib_bytes: usize,
    /// −loss / zlib_bytes = m / zlib_bytes.
    pub zlib: f64,
    /// min-k%: mean of the ⌈k·n⌉ lowest token log-probs.
    pub min_k: f64,
    /// min-k%++; `None` when the scorer gave no μ/σ (a black-box model).
    pub min_k_plus_plus: Option<f64>,
    /// LiRA statistic φ = m − log(−expm1(m)).
    pub lira_phi: f64,
    /// RMIA's P(x | θ) = e^m.
    pub rmia_p: f64,
}

impl ScoreSet {
    /// Mean loss (nats per token), the un-oriented quantity: −m.
    pub fn mean_loss(&self) -> f64 {
        -self.mean_logprob
    }

    /// The score of `kind` (None for min-k%++ without μ/σ).
    pub fn get(&self, kind: ScoreKind) -> Option<f64> {
        match kind {
            ScoreKind::Loss => Some(self.mean_logprob),
            ScoreKind::Zlib => Some(self.zlib),
            ScoreKind::MinK => Some(self.min_k),
            ScoreKind::MinKPlusPlus => self.min_k_plus_plus,
        }
    }
}

/// All scores of one record: `stats` from the model, `text` the record's text (for zlib),
/// `k` the min-k fraction in (0, 1] ([`DEFAULT_MIN_K`] = 0.2).
pub fn compute_scores(stats: &TokenLogProbs, text: &str, k: f64) -> Result<ScoreSet, AttackError> {
    compute_scores_with_zlib_len(stats, zlib_len(text), k)
}

/// As [`compute_scores`] with the text's zlib length already known (it does not depend on the
/// model, so compute it once per record with [`zlib_len`] and reuse it for every model).
pub fn compute_scores_with_zlib_len(stats: &TokenLogProbs, zlib_bytes: usize, k: f64) -> Result<ScoreSet, AttackError> {
    if !(k > 0.0 && k <= 1.0) {
        return Err(AttackError::InvalidK(k));
    }
    let logprob = checked_logprobs(stats)?;
    let n = logprob.len();
    let total_logprob: f64 = logprob.iter().sum();
    let mean_logprob = total_logprob / n as f64;
    let min_k_plus_plus = if stats.mu.is_empty() {
        None
    } else {
        Some(min_k_plus_plus(&logprob, &stats.mu, &stats.sigma, k))
    };
    Ok(ScoreSet {
        n_tokens: n,
        total_logprob,
        mean_logprob,
        zlib_bytes,
        // zlib_bytes ≥ 8 for any text (header, empty block, checksum), so no division by 0.
        zlib: mean_logprob / zlib_bytes.max(1) as f64,
        min_k: min_k(&logprob, k),
        min_k_plus_plus,
        lira_phi: lira_phi(mean_logprob),
        rmia_p: rmia_probability(mean_logprob),
    })
}

/// [`compute_scores`] for many records of one model, in parallel (rayon).
pub fn compute_scores_batch<S: AsRef<str> + Sync>(stats: &[TokenLogProbs], texts: &[S], k: f64) -> Result<Vec<ScoreSet>, AttackError> {
    if stats.len() != texts.len() {
        return Err(AttackError::BatchMismatch { stats: stats.len(), other: texts.len(), what: "texts" });
    }
    let lens = zlib_lengths(texts);
    compute_scores_batch_with_zlib_lens(stats, &lens, k)
}

/// [`compute_scores_with_zlib_len`] for many records of one model, in parallel.
pub fn compute_scores_batch_with_zlib_lens(stats: &[TokenLogProbs], zlib_bytes: &[usize], k: f64) -> Result<Vec<ScoreSet>, AttackError> {
    if stats.len() != zlib_bytes.len() {
        return Err(AttackError::BatchMismatch { stats: stats.len(), other: zlib_bytes.len(), what: "zlib lengths" });
    }
    if !(k > 0.0 && k <= 1.0) {
        return Err(AttackError::InvalidK(k));
    }
    stats
        .par_iter()
        .zip(zlib_bytes.par_iter())
        .enumerate()
        .map(|(record, (s, z))| {
            compute_scores_with_zlib_len(s, *z, k).map_err(|e| AttackError::Record { record, source: Box::new(e) })
        })
        .collect()
}

/// zlib lengths of many texts, in parallel.
pub fn zlib_lengths<S: AsRef<str> + Sync>(texts: &[S]) -> Vec<usize> {
    texts.par_iter().map(|t| zlib_len(t.as_ref())).collect()
}

/// Checks lengths and values; returns the log-probs with rounding above 0 clamped to 0.
fn checked_logprobs(stats: &TokenLogProbs) -> Result<Vec<f64>, AttackError> {
    let n = stats.logprob.len();
    if n == 0 {
        return Err(AttackError::NoPredictedTokens);
    }
    let with_dist = !(stats.mu.is_empty() && stats.sigma.is_empty());
    if with_dist && (stats.mu.len() != n || stats.sigma.len() != n) {
        return Err(AttackError::TokenStatLengths { logprob: n, mu: stats.mu.len(), sigma: stats.sigma.len() });
    }
    let invalid = |what, token, value| AttackError::InvalidValue { what, token: Some(token), value };
    let mut out = Vec::with_capacity(n);
    for (t, &lp) in stats.logprob.iter().enumerate() {
        if !lp.is_finite() || lp > LOGPROB_TOLERANCE {
            return Err(invalid("log-prob", t, lp));
        }
        out.push(lp.min(0.0));
    }
    if with_dist {
        for t in 0..n {
            let (mu, sigma) = (stats.mu[t], stats.sigma[t]);
            if !mu.is_finite() || mu > LOGPROB_TOLERANCE {
                return Err(invalid("mu (expected log-prob)", t, mu));
            }
            if !sigma.is_finite() || sigma < 0.0 {
                return Err(invalid("sigma (log-prob standard deviation)", t, sigma));
            }
        }
    }
    Ok(out)
}
