//! `--device cpu|cuda[:N]`: where training, scoring and generation run. This version's engine
//! (the fused per-example DP-SGD kernels, scoring and generation) works on CPU buffers, so `cpu`
//! is the only device that runs. `cuda[:N]` is parsed and refused before any work starts, with
//! the reason: without the `cuda` cargo feature the binary has no CUDA backend; with it, candle's
//! CUDA backend is linked and the GPU is opened (so a missing driver or device is named), but the
//! engine still has no CUDA path.

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
    /// The candle device to run on, or the reason this device cannot run this build's engine.
    pub fn open(self) -> anyhow::Result<candle_core::Device> {
        match self {
            DeviceChoice::Cpu => Ok(candle_core::Device::Cpu),
            DeviceChoice::Cuda(n) if !cfg!(feature = "cuda") => anyhow::bail!(
                "--device cuda:{n}: this vg-audit was built without CUDA support (rebuild with \
                 `cargo build --release --features cuda` where the CUDA toolkit is installed), and this \
                 version's training, scoring and generation run on the CPU only: use --device cpu"
            ),
            DeviceChoice::Cuda(n) => {
                let dev = candle_core::Device::new_cuda(n).map_err(|e| anyhow::anyhow!("--device cuda:{n}: cannot open the GPU: {e}"))?;
                drop(dev);
                anyhow::bail!(
                    "--device cuda:{n}: GPU found, but this version's DP-SGD engine, scoring and generation \
                     run on CPU buffers (fused per-example kernels) and have no CUDA path yet: use --device cpu"
                )
            }
        }
    }
}
