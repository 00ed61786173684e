//! Models given by directory to `score`, `generate` and `audit --model`: a Hugging Face checkpoint
//! (vg-training's `hf` loader) or a model directory of one of our runs, each with the tokenizer
//! that turns text into its inputs, seen through the attack crate's model traits.

use std::path::{Path, PathBuf};

use anyhow::Context;
use vg_attacks::model::{Sampling, Generator, ModelError, TokenScorer, TokenLogProbs};
use vg_training::hf::{HfModel, HfDecoding};

use super::TrainedModel;

/// A model an audit reads from disk, trained here or elsewhere.
pub enum ExternalModel {
    /// A Hugging Face model directory (config.json, safetensors, tokenizer.json).
    Hf(HfModel),
    /// A model directory of a vg-audit run (`RUN/models/NAME`), tokenized with `RUN/corpus/tokenizer.json`.
    Ours {
        /// The checkpoint.
        model: Box<TrainedModel>,
        /// The run's tokenizer.
        tokenizer: tokenizers::Tokenizer,
        /// Context length of the model.
        context: usize,
        /// The model directory.
        dir: PathBuf,
    },
}

/// What a model's own files say about its privacy guarantee.
#[derive(Debug, Clone, PartialEq)]
pub struct DpClaim {
    /// ε.
    pub epsilon: f64,
    /// δ.
    pub delta: f64,
    /// Where the numbers come from.
    pub source: String,
}

impl ExternalModel {
    /// Opens `dir`: a Hugging Face directory (config.json with a model_type) or one of our
    /// run's model directories (model.json).
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        if dir.join("model.json").exists() {
            let model = TrainedModel::load(dir)?;
            if model.info().train_config.init.is_some() {
                // Started from a public checkpoint: its tokenizer and special tokens, as in DIR/hf.
                let hf = dir.join("hf");
                return Ok(ExternalModel::Hf(HfModel::load(&hf).with_context(|| format!("{}: written by train --init beside model.json", hf.display()))?));
            }
            let run = dir.parent().and_then(Path::parent).context("a run's model directory sits in RUN/models/NAME")?;
            let tok_path = run.join("corpus").join("tokenizer.json");
            let tokenizer = vg_corpora::tokenizer::load(&tok_path)
                .with_context(|| format!("{}: a model of a vg-audit run is read with its run's tokenizer", tok_path.display()))?;
            let context = model.info().architecture.context_length;
            return Ok(ExternalModel::Ours { model: Box::new(model), tokenizer, context, dir: dir.to_path_buf() });
        }
        if !vg_training::hf::is_hf_dir(dir) {
            anyhow::bail!(
                "{}: not a model directory: expected a Hugging Face checkpoint (config.json with a model_type, \
                 model.safetensors, tokenizer.json) or a vg-audit run's model directory (model.json)",
                dir.display()
            );
        }
        Ok(ExternalModel::Hf(HfModel::load(dir)?))
    }

    /// The model directory.
    pub fn dir(&self) -> &Path {
        match self {
            ExternalModel::Hf(m) => m.dir(),
            ExternalModel::Ours { dir, .. } => dir,
        }
    }

    /// A short description ("gemma2, 4 layers, 0.2 M parameters").
    pub fn describe(&self) -> String {
        match self {
            ExternalModel::Hf(m) => {
                let a = m.arch();
                format!("{} (Hugging Face), {} layers, d {}, {:.1} M parameters", a.model_type, a.n_layer, a.hidden_size, a.num_params() as f64 / 1e6)
            }
            ExternalModel::Ours { model, .. } => {
                let a = &model.info().architecture;
                format!("vg-audit GPT, {} layers, d {}, {:.1} M parameters", a.n_layer, a.n_embd, a.num_params() as f64 / 1e6)
            }
        }
    }

    /// Longest model input in tokens.
    pub fn max_positions(&self) -> usize {
        match self {
            ExternalModel::Hf(m) => m.arch().max_positions,
            ExternalModel::Ours { context, .. } => *context,
        }
    }

    /// The full model input for `text`: the Hugging Face tokenizer with the special tokens its
    /// post-processor adds; for our models BOS + tokens + EOS (what training saw).
    pub fn encode(&self, text: &str) -> anyhow::Result<Vec<u32>> {
        match self {
            ExternalModel::Hf(m) => Ok(m.encode(text)?),
            ExternalModel::Ours { tokenizer, context, .. } => {
                let ids = vg_corpora::tokenizer::encode_all(tokenizer, &[text])?.remove(0);
                Ok(vg_training::model_input(&ids, *context))
            }
        }
    }

    /// A generation prompt: the model's start token, then the tokens of `text` if any (no end of
    /// sequence: the model continues it).
    pub fn prompt_ids(&self, text: Option<&str>) -> anyhow::Result<Vec<u32>> {
        match (self, text) {
            (ExternalModel::Hf(m), None) => Ok(vec![m.arch().bos_token_id.unwrap_or(0)]),
            (ExternalModel::Hf(m), Some(t)) => Ok(m.encode(t)?),
            (ExternalModel::Ours { .. }, None) => Ok(vec![vg_corpora::tokens::BOS]),
            (ExternalModel::Ours { tokenizer, .. }, Some(t)) => {
                let ids = vg_corpora::tokenizer::encode_all(tokenizer, &[t])?.remove(0);
                Ok(std::iter::once(vg_corpora::tokens::BOS).chain(ids).collect())
            }
        }
    }

    /// Text of ids, special tokens skipped.
    pub fn decode(&self, ids: &[u32]) -> anyhow::Result<String> {
        match self {
            ExternalModel::Hf(m) => Ok(m.decode(ids)?),
            ExternalModel::Ours { tokenizer, .. } => tokenizer.decode(ids, true).map_err(|e| anyhow::anyhow!("cannot decode token ids: {e}")),
        }
    }

    /// Prompts per call of [`Self::continue_prompts`] (results do not depend on it: prompt i
    /// always samples from stream `first_stream + i`); sized to keep a progress bar moving while
    /// leaving whole batches for the decoders.
    pub fn generation_chunk(&self, n: usize) -> usize {
        match self {
            ExternalModel::Hf(_) => 32,
            ExternalModel::Ours { .. } => n.clamp(1, 256),
        }
    }

    /// Continuations with the full sampling choice (temperature, top-k, top-p), stopping at end
    /// of sequence; prompt i samples from stream `first_stream + i` of `seed`.
    pub fn continue_prompts(&self, prompts: &[Vec<u32>], first_stream: u64, max_new: usize, sampling: &HfDecoding, seed: u64) -> anyhow::Result<Vec<Vec<u32>>> {
        match self {
            ExternalModel::Hf(m) => Ok(m.generate(prompts, max_new, sampling, true, seed, first_stream)?),
            ExternalModel::Ours { model, .. } => {
                let decoding = match sampling {
                    HfDecoding::Greedy => vg_training::Decoding::Greedy,
                    HfDecoding::Sample { temperature, top_k, top_p } => vg_training::Decoding::Sample { temperature: *temperature, top_k: *top_k, top_p: *top_p },
                };
                Ok(model.loaded().generate_streams(prompts, first_stream, max_new, &decoding, seed)?)
            }
        }
    }

    /// The DP guarantee the model's own files state: our model.json (`dp`, when `dp_guarantee`),
    /// or a Hugging Face config.json / README.md naming ε and δ (`dp_epsilon`/`dp_delta` keys).
    pub fn dp_claim(&self) -> Option<DpClaim> {
        match self {
            ExternalModel::Ours { model, .. } => {
                let info = model.info();
                let dp = info.dp.as_ref().filter(|_| info.dp_guarantee)?;
                Some(DpClaim { epsilon: dp.epsilon, delta: dp.delta, source: "model.json".into() })
            }
            ExternalModel::Hf(m) => {
                let text = std::fs::read_to_string(m.dir().join("config.json")).ok()?;
                let v: serde_json::Value = serde_json::from_str(&text).ok()?;
                let eps = v.get("dp_epsilon").and_then(|x| x.as_f64())?;
                let delta = v.get("dp_delta").and_then(|x| x.as_f64())?;
                Some(DpClaim { epsilon: eps, delta, source: "config.json (dp_epsilon, dp_delta)".into() })
            }
        }
    }
}

impl TokenScorer for ExternalModel {
    fn score_tokens(&self, seqs: &[Vec<u32>]) -> Result<Vec<TokenLogProbs>, ModelError> {
        match self {
            ExternalModel::Hf(m) => {
                let stats = m.token_stats(seqs).map_err(|e| ModelError(e.to_string()))?;
                Ok(stats.into_iter().map(|s| TokenLogProbs { logprob: s.logprob, mu: s.mu, sigma: s.sigma }).collect())
            }
            ExternalModel::Ours { model, .. } => model.score_tokens(seqs),
        }
    }
}

impl Generator for ExternalModel {
    fn generate(&self, prompts: &[Vec<u32>], max_new_tokens: usize, decoding: &Sampling, seed: u64) -> Result<Vec<Vec<u32>>, ModelError> {
        match self {
            ExternalModel::Hf(m) => {
                let sampling = match decoding {
                    Sampling::Greedy => HfDecoding::Greedy,
                    Sampling::TopK { k, temperature } => HfDecoding::Sample { temperature: *temperature, top_k: Some(*k), top_p: None },
                };
                // Extraction prompts may be empty (unconditional samples): start them at <bos>.
                let bos = m.arch().bos_token_id.unwrap_or(0);
                let prompts: Vec<Vec<u32>> = prompts.iter().map(|p| if p.is_empty() { vec![bos] } else { p.clone() }).collect();
                m.generate(&prompts, max_new_tokens, &sampling, true, seed, 0).map_err(|e| ModelError(e.to_string()))
            }
            ExternalModel::Ours { model, .. } => model.generate(prompts, max_new_tokens, decoding, seed),
        }
    }
}
