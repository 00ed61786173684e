//! The one place where `vg-attacks` meets `vg-training`: the attack crate's model traits
//! implemented for a trained checkpoint (design.md: attacks know no model).

use std::path::Path;

use vg_attacks::model::{Generator, ModelError, Sampling, TokenLogProbs, TokenScorer};
use vg_training::LoadedModel;

pub mod external;

/// A checkpoint of ours, seen through the attack traits.
pub struct TrainedModel {
    inner: LoadedModel,
}

impl TrainedModel {
    /// Loads `dir` (model.json + model.safetensors), refusing corrupt or mismatched files.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let inner = LoadedModel::load(dir)
            .map_err(|e| anyhow::anyhow!("cannot load model {}: {e}", dir.display()))?;
        Ok(TrainedModel { inner })
    }

    /// What model.json records (architecture, DP parameters, metrics).
    pub(crate) fn info(&self) -> &vg_training::ModelJson {
        self.inner.info()
    }

    /// The loaded checkpoint (weights, model.json, directory).
    pub fn loaded(&self) -> &LoadedModel {
        &self.inner
    }
}

impl TokenScorer for TrainedModel {
    fn score_tokens(&self, seqs: &[Vec<u32>]) -> Result<Vec<TokenLogProbs>, ModelError> {
        let stats = self.inner.token_stats(seqs).map_err(|e| ModelError(e.to_string()))?;
        Ok(stats
            .into_iter()
            .map(|s| TokenLogProbs { logprob: s.logprob, mu: s.mu, sigma: s.sigma })
            .collect())
    }
}

impl Generator for TrainedModel {
    fn generate(
        &self,
        prompts: &[Vec<u32>],
        max_new_tokens: usize,
        decoding: &Sampling,
        seed: u64,
    ) -> Result<Vec<Vec<u32>>, ModelError> {
        let decoding = match decoding {
            Sampling::Greedy => vg_training::Decoding::Greedy,
            Sampling::TopK { k, temperature } => {
                vg_training::Decoding::TopK { k: *k, temperature: *temperature }
            }
        };
        self.inner
            .generate(prompts, max_new_tokens, &decoding, seed)
            .map_err(|e| ModelError(e.to_string()))
    }
}
