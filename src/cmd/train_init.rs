//! `vg-audit train --init DIR`: the corpus re-tokenized with a Hugging Face GPT-2 checkpoint's own
//! tokenizer, and the architecture and provenance taken from that checkpoint.

use std::path::Path;

use anyhow::Context;
use vg_training::hf::init::InitCheckpoint;
use vg_training::GptConfig;

/// The initial checkpoint of a `train --init` run, checked and hashed.
pub struct Init {
    /// Identity recorded in model.json (`train_config.init`).
    pub checkpoint: InitCheckpoint,
    /// Our GPT's architecture, as the checkpoint's config.json describes it.
    pub model_cfg: GptConfig,
}

impl Init {
    /// Opens `dir`: refused (naming the file) unless it is a `gpt2` checkpoint our GPT can hold.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let checkpoint = InitCheckpoint::describe(dir).with_context(|| format!("--init {}: cannot start our GPT from this checkpoint", dir.display()))?;
        let model_cfg = checkpoint.config()?;
        Ok(Init { checkpoint, model_cfg })
    }

    /// Texts as the checkpoint's tokenizer encodes them (its special tokens included), cut to its context.
    pub fn encode<S: AsRef<str> + Sync>(&self, texts: &[S]) -> anyhow::Result<Vec<Vec<u32>>> {
        Ok(self.checkpoint.encode_all(texts, self.model_cfg.context_length)?)
    }

    /// SHA-256 of the checkpoint's tokenizer.json (the model's tokenizer from now on).
    pub fn tokenizer_sha256(&self) -> Option<String> {
        self.checkpoint.sha256.get("tokenizer.json").cloned()
    }

    /// Writes the trained model in `out` also as a Hugging Face gpt2 checkpoint, `out/hf`, with the
    /// checkpoint's tokenizer and special tokens: what `score`/`generate`/`audit --model OUT` read,
    /// and what can be published.
    pub fn export(&self, out: &Path) -> anyhow::Result<()> {
        let loaded = vg_training::LoadedModel::load(out)?;
        let info = loaded.info();
        let hf = out.join("hf");
        // Beside the target, then renamed: never a half-written hf/.
        let tmp = out.join("hf.tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        vg_training::hf::export::export_continued_gpt2(loaded.model(), info.dp.as_ref(), info.dp_guarantee, &self.checkpoint, &tmp)?;
        let _ = std::fs::remove_dir_all(&hf);
        std::fs::rename(&tmp, &hf).with_context(|| format!("writing {}", hf.display()))
    }
}
