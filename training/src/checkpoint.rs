//! Checkpoints: the finished model (`model.safetensors` + `model.json`) and the resumable training
//! state (`checkpoint/state-<step>.safetensors` + `checkpoint/state.json`), all written atomically.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vg_corpora::fsutil::atomic_write;

use crate::generate::{generate_streams, Decoding};
use crate::model::Gpt;
use crate::scoring::{token_stats, TokenStats, SCORING_BATCH_SIZE};
use crate::{Error, GptConfig, Result, TrainConfig};

/// `format` field of model.json.
pub const MODEL_FORMAT: &str = "vg-training/model/v1";
/// `format` field of checkpoint/state.json.
pub const STATE_FORMAT: &str = "vg-training/train-state/v1";

/// The `dp` object of model.json: what the accountant was told and what it answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DpRecord {
    /// ε spent over the whole run at `delta`.
    pub epsilon: f64,
    /// δ of the guarantee.
    pub delta: f64,
    /// The batch sampler the accountant was told about (truncated Poisson when `max_batch` is set).
    #[serde(default)]
    pub sampler: vg_accounting::Sampler,
    /// σ: noise std on the clipped sum is σ·C.
    pub noise_multiplier: f64,
    /// Poisson sampling rate q = expected batch / N.
    pub sampling_rate: f64,
    /// Expected batch size qN (the divisor of the noised sum).
    pub expected_batch_size: f64,
    /// Optimizer steps T.
    pub steps: u64,
    /// Flat clipping norm C.
    pub clip_norm: f64,
    /// The accountant that turned `event` into ε.
    pub accountant: vg_accounting::AccountantKind,
    /// Neighbouring relation (privacy unit: one training example).
    pub neighbouring: vg_accounting::Neighbouring,
    /// The privacy event that was accounted, so ε can be recomputed from model.json alone
    /// (None only in model.json files written before the ledger was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<vg_accounting::DpEvent>,
    /// Truncated Poisson bound, if any.
    pub max_batch: Option<usize>,
    /// Where sampling and noise came from.
    pub randomness: String,
    /// The seed, when sampling and noise were made reproducible (then there is no DP guarantee).
    pub insecure_seed: Option<u64>,
    /// Sum-of-Gaussians noise (floating-point mitigation) was used.
    pub secure_noise: bool,
}

/// Hashes and sizes of the data a model saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataHashes {
    /// SHA-256 of the training examples (length-prefixed little-endian token ids, in order).
    pub train_sha256: String,
    /// Training examples.
    pub n_train: usize,
    /// SHA-256 of the evaluation examples.
    pub eval_sha256: String,
    /// Evaluation examples.
    pub n_eval: usize,
    /// SHA-256 of the tokenizer, when known.
    pub tokenizer_sha256: Option<String>,
    /// SHA-256 of the corpus manifest, when known.
    pub corpus_manifest_sha256: Option<String>,
}

impl DataHashes {
    /// Hashes of `train` and `eval` plus the provenance hashes.
    pub fn of(train: &[Vec<u32>], eval: &[Vec<u32>], tokenizer: Option<String>, manifest: Option<String>) -> Self {
        DataHashes {
            train_sha256: hash_examples(train),
            n_train: train.len(),
            eval_sha256: hash_examples(eval),
            n_eval: eval.len(),
            tokenizer_sha256: tokenizer,
            corpus_manifest_sha256: manifest,
        }
    }
}

/// SHA-256 over examples: each as u64 length then u32 ids, little-endian.
pub fn hash_examples(examples: &[Vec<u32>]) -> String {
    let mut h = Sha256::new();
    for e in examples {
        h.update((e.len() as u64).to_le_bytes());
        for t in e {
            h.update(t.to_le_bytes());
        }
    }
    hex::encode(h.finalize())
}

/// Final metrics of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Optimizer steps done.
    pub steps_done: u64,
    /// Mean training loss over the last logged window (withheld for DP models: un-noised).
    #[serde(default)]
    pub train_loss: Option<f64>,
    /// Final held-out loss (None without an eval split).
    pub eval_loss: Option<f64>,
    /// Training target tokens processed (withheld for DP models: sums the secret batches).
    #[serde(default)]
    pub tokens_seen: Option<u64>,
    /// Training examples processed (withheld for DP models: sums the secret batch sizes).
    #[serde(default)]
    pub examples_seen: Option<u64>,
    /// Wall-clock seconds of training (summed over resumed segments).
    pub train_seconds: f64,
    /// CPU seconds (user + system, all threads) the process used while training, summed over
    /// resumed segments; None where the platform does not say.
    #[serde(default)]
    pub cpu_seconds: Option<f64>,
    /// Trainable parameters.
    pub num_params: usize,
}

/// One point of the training curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Steps done.
    pub step: u64,
    /// Mean training loss since the previous point (withheld for DP models: un-noised).
    #[serde(default)]
    pub loss: Option<f64>,
    /// Held-out loss, when evaluated at this step.
    pub eval_loss: Option<f64>,
    /// Seconds since training started.
    pub elapsed_s: f64,
    /// Learning rate of the last step.
    pub lr: f64,
}

/// Which shadow model this is, for LiRA/RMIA (filled in by whoever trains the shadows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowRecord {
    /// Shadow index k.
    pub index: usize,
    /// Number of shadows K.
    pub count: usize,
    /// Seed of the split (see [`crate::shadow_assignment`]).
    pub split_seed: u64,
    /// Ids of the records IN for this shadow.
    pub members: Vec<u64>,
}

/// Everything model.json stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelJson {
    /// Always [`MODEL_FORMAT`].
    pub format: String,
    /// vg-training version that wrote it.
    pub tool_version: String,
    /// Architecture.
    pub architecture: GptConfig,
    /// Training configuration (every default written out).
    pub train_config: TrainConfig,
    /// DP parameters and spent budget; None for a non-private model.
    pub dp: Option<DpRecord>,
    /// True only for DP-SGD runs with secret (OS-seeded) sampling and noise.
    pub dp_guarantee: bool,
    /// Data hashes.
    pub data: DataHashes,
    /// Final metrics.
    pub metrics: Metrics,
    /// Training curve.
    pub curve: Vec<CurvePoint>,
    /// Figures this file leaves out because the DP guarantee does not cover them (computed
    /// from the private data without noise); empty for non-private models.
    #[serde(default)]
    pub withheld: Vec<String>,
    /// Shadow-model split, when this is a shadow model.
    pub shadow: Option<ShadowRecord>,
}

/// What a DP model.json leaves out: the figures computed from the private training data
/// without noise (ε covers the weights, not these).
pub const WITHHELD_FROM_DP_MODELS: [&str; 4] = [
    "metrics.train_loss (un-noised loss on the private batches)",
    "curve[].loss (un-noised training-loss curve)",
    "metrics.examples_seen (sum of the secret Poisson batch sizes)",
    "metrics.tokens_seen (tokens of the secret Poisson batches)",
];

impl ModelJson {
    /// For a DP model, the same record without the figures the guarantee does not cover
    /// (listed in `withheld`); a non-private model is returned unchanged.
    pub fn released(mut self) -> ModelJson {
        if self.dp.is_some() {
            self.metrics.train_loss = None;
            self.metrics.examples_seen = None;
            self.metrics.tokens_seen = None;
            self.curve.iter_mut().for_each(|c| c.loss = None);
            self.withheld = WITHHELD_FROM_DP_MODELS.iter().map(|s| s.to_string()).collect();
        }
        self
    }

    /// Reads `dir/model.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("model.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let json: ModelJson = serde_json::from_str(&text).map_err(|e| Error::BadFile { path: path.clone(), why: e.to_string() })?;
        if json.format != MODEL_FORMAT {
            return Err(Error::BadFile { path, why: format!("format {:?}, expected {MODEL_FORMAT:?}", json.format) });
        }
        Ok(json)
    }

    /// Writes `dir/model.json` atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join("model.json");
        let text = serde_json::to_string_pretty(self)?;
        atomic_write(&path, text.as_bytes()).map_err(|e| Error::io(&path, e))
    }
}

/// Serialises named tensors to safetensors bytes and writes them atomically.
pub(crate) fn write_tensors(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<()> {
    let mut sorted: Vec<(&String, Tensor)> = Vec::with_capacity(tensors.len());
    for (k, t) in tensors {
        // Written from host memory whatever device the engine ran on.
        sorted.push((k, t.to_device(&Device::Cpu)?.contiguous()?));
    }
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let bytes = safetensors::serialize(sorted.iter().map(|(k, t)| (k.as_str(), t)), None)
        .map_err(|e| Error::BadFile { path: path.to_path_buf(), why: e.to_string() })?;
    atomic_write(path, &bytes).map_err(|e| Error::io(path, e))
}

/// Reads named tensors from a safetensors file.
pub(crate) fn read_tensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).map_err(|e| Error::BadFile { path: path.to_path_buf(), why: e.to_string() })
}

/// The model's parameters by name.
pub(crate) fn param_tensors(model: &Gpt) -> HashMap<String, Tensor> {
    model.param_names().iter().cloned().zip(model.params().iter().map(|v| v.as_tensor().clone())).collect()
}

/// Writes `dir/model.safetensors` then `dir/model.json` (the json last: its presence marks completion).
pub fn save_model(dir: &Path, model: &Gpt, json: &ModelJson) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    write_tensors(&dir.join("model.safetensors"), &param_tensors(model))?;
    json.save(dir)
}

/// A finished model loaded for scoring and generation.
pub struct LoadedModel {
    model: Gpt,
    info: ModelJson,
    dir: PathBuf,
}

impl LoadedModel {
    /// Loads `dir/model.json` and `dir/model.safetensors`, checking every tensor's shape, onto
    /// the process's engine device ([`crate::engine_device`]; the CPU unless the caller set another).
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        Self::load_on(dir, &crate::engine_device())
    }

    /// [`Self::load`] onto `device` (the weights are read on the host, then copied).
    pub fn load_on(dir: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let dir = dir.as_ref();
        let info = ModelJson::load(dir)?;
        let tensors = read_tensors(&dir.join("model.safetensors"))?;
        let model = Gpt::from_tensors(&info.architecture, info.train_config.candle_dtype(), tensors).map_err(|e| Error::BadFile {
            path: dir.join("model.safetensors"),
            why: e.to_string(),
        })?;
        let model = model.to_device(device)?;
        Ok(LoadedModel { model, info, dir: dir.to_path_buf() })
    }

    /// The model.
    pub fn model(&self) -> &Gpt {
        &self.model
    }
    /// Its model.json.
    pub fn info(&self) -> &ModelJson {
        &self.info
    }
    /// The directory it was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Per-token statistics of full model inputs ([`SCORING_BATCH_SIZE`] sequences of similar
    /// length per forward, batches on rayon), in the order of `seqs`.
    pub fn token_stats(&self, seqs: &[Vec<u32>]) -> Result<Vec<TokenStats>> {
        token_stats(&self.model, seqs, SCORING_BATCH_SIZE)
    }

    /// Continuations of full-input prompts (new tokens only, stopping at EOS).
    pub fn generate(&self, prompts: &[Vec<u32>], max_new_tokens: usize, decoding: &Decoding, seed: u64) -> Result<Vec<Vec<u32>>> {
        generate_streams(&self.model, prompts, 0, max_new_tokens, decoding, seed)
    }

    /// [`Self::generate`] with prompt i on sampling stream `first_stream + i` (chunked decoding).
    pub fn generate_streams(&self, prompts: &[Vec<u32>], first_stream: u64, max_new_tokens: usize, decoding: &Decoding, seed: u64) -> Result<Vec<Vec<u32>>> {
        generate_streams(&self.model, prompts, first_stream, max_new_tokens, decoding, seed)
    }
}
