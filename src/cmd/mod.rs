//! One module per subcommand; each exposes `Args` (clap) and `run`.
pub(crate) mod corpus;
pub(crate) mod accountant;
pub(crate) mod train;
mod train_init;
pub(crate) mod attack;
pub(crate) mod bound;
pub(crate) mod extract;
pub(crate) mod engine_audit;
pub(crate) mod run;
pub(crate) mod task;
pub(crate) mod init;
pub(crate) mod gate;
pub(crate) mod report;
pub(crate) mod compare;
pub(crate) mod scan;
pub(crate) mod score;
pub(crate) mod generate;
pub(crate) mod audit;
pub(crate) mod export;
pub(crate) mod synth;
pub(crate) mod distill;
pub(crate) mod sweep;
pub(crate) mod plan;

/// The model and the JSON Lines records that `score` and `generate` read.
#[derive(clap::Args)]
pub(crate) struct ModelRecords {
    /// The model: a Hugging Face directory (config.json, model.safetensors or shards, tokenizer.json;
    /// gpt2, llama, gemma, gemma2, gemma3, vaultgemma) or a vg-audit run's model directory (RUN/models/NAME).
    #[arg(long, value_name = "DIR")]
    pub(crate) model: std::path::PathBuf,
    /// Records, one JSON object per line.
    #[arg(long, value_name = "F.jsonl")]
    pub(crate) input: std::path::PathBuf,
    /// The field holding the text.
    #[arg(long, default_value = "text", value_name = "NAME")]
    pub(crate) field: String,
}

/// `--device`, shared by the commands that train, score or generate.
#[derive(clap::Args)]
pub(crate) struct DeviceArg {
    /// Where tensors are computed: cpu (fused CPU kernels), or cuda / cuda:N (the portable path
    /// on GPU N; needs a build with `--features cuda`, otherwise refused before starting;
    /// compiled by design, not built or measured here).
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]")]
    pub(crate) device: vg_audit::device::DeviceChoice,
}

impl DeviceArg {
    /// Opens the device as this process's engine device, or refuses one this build cannot run
    /// on, before any work starts.
    pub(crate) fn select(&self) -> anyhow::Result<()> {
        self.device.select()
    }
}
