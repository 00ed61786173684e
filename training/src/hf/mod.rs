//! Checkpoints trained elsewhere, in Hugging Face layout: a model directory with `config.json`,
//! `model.safetensors` (or shards + `model.safetensors.index.json`, memory-mapped) and
//! `tokenizer.json`. Architectures by `model_type`: gpt2, llama, gemma, gemma2, gemma3 (text),
//! vaultgemma. Weights are used in f32 on the CPU (bf16/f16 converted when loaded).
//!
//! - [`HfModel`]: load, tokenize (the tokenizer's post-processor adds its special tokens),
//!   per-token statistics over the full sequence ([`crate::TokenStats`], KV-free batched forward),
//!   and generation with a key/value cache ([`HfDecoding`]).

mod attention;
pub mod config;
pub mod decoder;
pub mod export;
pub mod generate;
pub mod init;
pub mod weights;

use std::path::{Path, PathBuf};


pub use config::{Family, HfArch};
pub use decoder::Decoder;
pub use generate::HfDecoding;

use crate::scoring::{token_stats_with, TokenStats};
use crate::{Error, Result};

/// Float budget of one scoring batch's logits (B·T·V): 32 M floats = 128 MiB.
const LOGITS_BUDGET: usize = 32 << 20;

/// A Hugging Face causal LM with its tokenizer.
pub struct HfModel {
    dir: PathBuf,
    decoder: Decoder,
    tokenizer: tokenizers::Tokenizer,
}

/// `dir/tokenizer.json`, refused when missing or when it has more tokens than the embedding has rows.
pub(crate) fn load_tokenizer(dir: &Path, vocab_size: usize) -> Result<tokenizers::Tokenizer> {
    let tok_path = dir.join("tokenizer.json");
    if !tok_path.exists() {
        return Err(Error::BadFile { path: tok_path, why: "missing: the model's tokenizer.json is needed to turn text into its token ids".into() });
    }
    let tokenizer = tokenizers::Tokenizer::from_file(&tok_path).map_err(|e| Error::BadFile { path: tok_path.clone(), why: e.to_string() })?;
    let vocab = tokenizer.get_vocab_size(true);
    if vocab > vocab_size {
        return Err(Error::BadFile { path: tok_path, why: format!("the tokenizer has {vocab} tokens but the model's embedding only {vocab_size} rows") });
    }
    Ok(tokenizer)
}

impl HfModel {
    /// Loads `dir` (config.json, safetensors, tokenizer.json). Unknown architectures, missing
    /// tensors and shape mismatches are refused with the file and tensor named.
    pub fn load(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::BadFile { path: dir.to_path_buf(), why: "not a directory".into() });
        }
        let arch = HfArch::load(dir)?;
        let shards = weights::Shards::open(dir)?;
        let decoder = Decoder::load(arch, &shards)?;
        let tokenizer = load_tokenizer(dir, decoder.arch().vocab_size)?;
        Ok(HfModel { dir: dir.to_path_buf(), decoder, tokenizer })
    }

    /// The model directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The architecture read from config.json.
    pub fn arch(&self) -> &HfArch {
        self.decoder.arch()
    }
    /// The decoder (forward passes).
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }
    /// The tokenizer.
    pub fn tokenizer(&self) -> &tokenizers::Tokenizer {
        &self.tokenizer
    }

    /// Token ids of `text` with the special tokens the tokenizer's post-processor adds (e.g.
    /// `<bos>` for Llama/Gemma, nothing for GPT-2).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.tokenizer.encode(text, true).map_err(|e| Error::param("text", short(text), format!("cannot be tokenized: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of `ids`, special tokens skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer.decode(ids, true).map_err(|e| Error::param("token ids", ids.len(), format!("cannot be decoded: {e}")))
    }

    /// Per-token statistics of each sequence (every token after the first, given the ones before);
    /// sequences longer than the model's positions are cut to them.
    pub fn token_stats(&self, seqs: &[Vec<u32>]) -> Result<Vec<TokenStats>> {
        let arch = self.arch();
        let vocab = arch.vocab_size;
        if let Some(bad) = seqs.iter().flatten().find(|&&id| id as usize >= vocab) {
            return Err(Error::param("token id", bad, format!("outside the model's vocabulary of {vocab}")));
        }
        let longest = seqs.iter().map(|s| s.len().min(arch.max_positions)).max().unwrap_or(1).max(1);
        let batch = (LOGITS_BUDGET / (longest * vocab)).clamp(1, 16);
        token_stats_with(seqs, arch.max_positions, batch, &|ids| self.decoder.forward(ids, None, 0, false))
    }

    /// Continuations of `prompts` (token ids, special tokens as encoded); stops at the config's
    /// end-of-sequence ids when `stop_at_eos`. Prompt i samples from stream `first_stream + i` of `seed`.
    pub fn generate(&self, prompts: &[Vec<u32>], max_new: usize, sampling: &HfDecoding, stop_at_eos: bool, seed: u64, first_stream: u64) -> Result<Vec<Vec<u32>>> {
        let stop: &[u32] = if stop_at_eos { &self.arch().eos_token_ids } else { &[] };
        generate::generate(&self.decoder, prompts, max_new, sampling, stop, seed, first_stream)
    }
}

fn short(text: &str) -> String {
    let cut: String = text.chars().take(40).collect();
    if cut.len() < text.len() { format!("{cut}…") } else { cut }
}

/// Whether `dir` looks like a Hugging Face model directory (has a config.json with a model_type).
pub fn is_hf_dir(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v.get("model_type").is_some())
}
