//! A Hugging Face `gpt2` checkpoint as the starting point of our training (DP continued
//! pre-training of a public model): its identity (directory, SHA-256 of every file the weights,
//! config and tokenizer come from) recorded in `model.json`, its weights loaded into our GPT only
//! after checking they are still those files, and text encoded with the checkpoint's own tokenizer.
//!
//! The public weights are data-independent, so starting from them costs no privacy: the DP
//! accounting of the steps that follow is the same as from a random initialisation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::Gpt;
use crate::{Error, GptConfig, Result};

/// Where a model's initial weights came from (recorded in `TrainConfig::init`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitCheckpoint {
    /// The checkpoint directory (absolute).
    pub path: PathBuf,
    /// `model_type` of its config.json.
    pub model_type: String,
    /// SHA-256 of each file read, by file name: config.json, tokenizer.json, the safetensors (and
    /// the shard index); `sha256sum` on the directory reproduces them.
    pub sha256: BTreeMap<String, String>,
}

fn bad(path: &Path, why: impl Into<String>) -> Error {
    Error::BadFile { path: path.to_path_buf(), why: why.into() }
}

impl InitCheckpoint {
    /// Describes `dir` after checking that it is a `gpt2` checkpoint our GPT can hold (architecture,
    /// every tensor and its shape) and that its tokenizer.json fits the embedding.
    pub fn describe(dir: &Path) -> Result<Self> {
        // One read of the weights: every tensor present with our GPT's shape.
        let (_, cfg) = super::export::gpt_from_gpt2(dir, candle_core::DType::F32)?;
        super::load_tokenizer(dir, cfg.vocab_size)?;
        let model_type = super::HfArch::load(dir)?.model_type;
        let path = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
        let shards = super::weights::Shards::open(dir)?;
        let mut files: Vec<PathBuf> = shards.files().into_iter().map(Path::to_path_buf).collect();
        files.push(dir.join("config.json"));
        files.push(dir.join("tokenizer.json"));
        let mut sha256 = BTreeMap::new();
        for f in files {
            let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            sha256.insert(name, vg_corpora::fsutil::sha256_file(&f).map_err(|e| Error::io(&f, e))?);
        }
        Ok(InitCheckpoint { path, model_type, sha256 })
    }

    /// Our GPT with the checkpoint's weights, refused if any recorded file changed since
    /// [`Self::describe`] (a resumed run must continue from the same public model).
    pub fn load(&self, dtype: candle_core::DType) -> Result<(Gpt, GptConfig)> {
        self.verify()?;
        super::export::gpt_from_gpt2(&self.path, dtype)
    }

    /// Our GPT's architecture for this checkpoint, from its config.json (no weights read).
    pub fn config(&self) -> Result<GptConfig> {
        super::export::gpt2_config(&self.path)
    }

    /// Checks every recorded SHA-256 against the files on disk.
    pub fn verify(&self) -> Result<()> {
        for (name, want) in &self.sha256 {
            let f = self.path.join(name);
            let got = vg_corpora::fsutil::sha256_file(&f).map_err(|e| Error::io(&f, e))?;
            if &got != want {
                return Err(bad(&f, format!("SHA-256 is {got}, but the run started from {want}: the initial checkpoint changed")));
            }
        }
        Ok(())
    }

    /// The checkpoint's tokenizer.json.
    pub fn tokenizer_path(&self) -> PathBuf {
        self.path.join("tokenizer.json")
    }

    /// Each text as the checkpoint's tokenizer encodes it, special tokens added as its
    /// post-processor says (the inputs `vg-audit score --model DIR` gives the checkpoint), cut to
    /// `context` ids: full model inputs, to which training adds nothing.
    pub fn encode_all<S: AsRef<str> + Sync>(&self, texts: &[S], context: usize) -> Result<Vec<Vec<u32>>> {
        let path = self.tokenizer_path();
        let tok = tokenizers::Tokenizer::from_file(&path).map_err(|e| bad(&path, e.to_string()))?;
        let enc = tok.encode_batch(texts.iter().map(|t| t.as_ref()).collect::<Vec<_>>(), true).map_err(|e| bad(&path, format!("cannot encode the corpus: {e}")))?;
        Ok(enc.iter().map(|e| e.get_ids().iter().copied().take(context).collect()).collect())
    }
}
