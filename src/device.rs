//! `--device cpu|cuda[:N]`: where training, scoring and generation run. The engine is one
//! implementation generic over candle's device: on `cpu` it takes the fused CPU kernels, on
//! `cuda:N` the portable path (the same functions as chains of standard candle ops; tested
//! against the fused kernels on the CPU, `vg_training::KernelPath`). Without the `cuda` cargo
//! feature the binary has no CUDA backend and `cuda[:N]` is refused with that reason before any
//! work starts; with it, the GPU is opened (a missing driver or device is named) and becomes the
//! process's engine device (`vg_training::set_engine_device`). CUDA builds are compiled by
//! design: neither built nor measured where this was written (no CUDA toolkit), never in CI.
//! Slurm tasks get the same `--device` in their sbatch script (each node opens its own GPU N).
//! Not on the device: Hugging Face checkpoints scored or sampled directly (`vg_training::hf`: its
//! own CPU decoder).

use std::fmt;
use std::str::FromStr;

/// A device named on the command line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    /// The CPU (threads: `RAYON_NUM_THREADS`).
    #[default]
    Cpu,
    /// CUDA GPU number N.
    Cuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("expected cpu, cuda or cuda:N (got {s:?})");
        match s {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            _ => {
                let n = s.strip_prefix("cuda:").ok_or_else(bad)?;
                n.parse().map(DeviceChoice::Cuda).map_err(|_| bad())
            }
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Cpu => write!(f, "cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl DeviceChoice {
    /// The candle device to run on, or the reason this build cannot open it.
    pub fn open(self) -> anyhow::Result<candle_core::Device> {
        match self {
            DeviceChoice::Cpu => Ok(candle_core::Device::Cpu),
            DeviceChoice::Cuda(n) if !cfg!(feature = "cuda") => anyhow::bail!(
                "--device cuda:{n}: this vg-audit was built without CUDA support (rebuild with \
                 `cargo build --release --features cuda` where the CUDA toolkit is installed): use --device cpu"
            ),
            DeviceChoice::Cuda(n) => candle_core::Device::new_cuda(n).map_err(|e| anyhow::anyhow!("--device cuda:{n}: cannot open the GPU: {e}")),
        }
    }

    /// Opens the device and makes it the engine device of this process (every model trained,
    /// scored or sampled from then on lives there); refuses before any work starts.
    pub fn select(self) -> anyhow::Result<()> {
        vg_training::set_engine_device(self.open()?);
        Ok(())
    }

    /// The process's engine device as a choice (the CPU before any [`DeviceChoice::select`]):
    /// what summary.json records and the Slurm executor passes on to its tasks.
    pub fn selected() -> DeviceChoice {
        match vg_training::engine_device().location() {
            candle_core::DeviceLocation::Cuda { gpu_id } => DeviceChoice::Cuda(gpu_id),
            _ => DeviceChoice::Cpu,
        }
    }
}
