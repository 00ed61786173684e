//! Where the engine computes: a candle [`Device`] carried by [`crate::TrainConfig`] (never
//! written to model.json: the result depends on it only through rounding), and the process's
//! engine device, which a command-line front end sets once (`--device`) so that every model it
//! loads for scoring and generation ([`crate::LoadedModel::load`]) and every training
//! configuration it builds ([`crate::TrainConfig::default`]) lands there without being passed
//! through each pipeline step.

use std::sync::RwLock;

use candle_core::Device;

/// The process's engine device; `None` = the CPU.
static ENGINE_DEVICE: RwLock<Option<Device>> = RwLock::new(None);

/// Sets the process's engine device (call once, before any model is built or loaded).
pub fn set_engine_device(device: Device) {
    *ENGINE_DEVICE.write().unwrap_or_else(|e| e.into_inner()) = Some(device);
}

/// The process's engine device: the CPU unless [`set_engine_device`] chose another.
pub fn engine_device() -> Device {
    ENGINE_DEVICE.read().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or(Device::Cpu)
}

/// The device a training run computes on. Equal to any other: two runs that differ only in
/// where they ran are the same run (a checkpoint written on one device resumes on another).
#[derive(Debug, Clone)]
pub struct EngineDevice(pub Device);

impl Default for EngineDevice {
    /// The process's [`engine_device`].
    fn default() -> Self {
        EngineDevice(engine_device())
    }
}

impl PartialEq for EngineDevice {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}
