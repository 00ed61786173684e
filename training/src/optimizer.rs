//! AdamW and SGD over the model's Vars, with state that checkpoints as named tensors
//! (so a resumed run continues bit-identically).

use std::collections::HashMap;

use candle_core::Tensor;

use crate::config::OptimizerConfig;
use crate::dpsgd::engine::check_grads;
use crate::kernels::{path, AdamWStep};
use crate::model::Gpt;
use crate::{Error, Result};

/// Optimizer state: first/second moments (AdamW) or momentum buffers (SGD), and the step count.
pub struct Optimizer {
    cfg: OptimizerConfig,
    /// Steps taken.
    t: u64,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    decay: Vec<bool>,
    frozen: Vec<bool>,
}

impl Optimizer {
    /// A fresh optimizer for `model`.
    pub fn new(cfg: &OptimizerConfig, model: &Gpt) -> Result<Self> {
        let zeros = || model.params().iter().map(|p| p.as_tensor().zeros_like()).collect::<candle_core::Result<Vec<_>>>();
        let (m, v) = match cfg {
            OptimizerConfig::AdamW { .. } => (zeros()?, zeros()?),
            OptimizerConfig::Sgd { .. } => (zeros()?, Vec::new()),
        };
        // Decoupled weight decay on the linear matrices only (not embeddings, norms, biases).
        let decay = model.param_names().iter().zip(model.params()).map(|(n, p)| p.rank() == 2 && n != "wte" && n != "wpe").collect();
        Ok(Optimizer { cfg: cfg.clone(), t: 0, m, v, decay, frozen: Vec::new() })
    }

    /// Leaves the parameters with `frozen[i]` true untouched by every update (no weight decay either).
    pub fn freeze(&mut self, frozen: Vec<bool>) {
        self.frozen = frozen;
    }

    fn is_frozen(&self, i: usize) -> bool {
        self.frozen.get(i).copied().unwrap_or(false)
    }

    /// Steps taken so far.
    pub fn steps_taken(&self) -> u64 {
        self.t
    }

    /// Applies one update with learning rate `lr` and gradients in the model's parameter order.
    pub fn step(&mut self, model: &Gpt, grads: &[Tensor], lr: f64) -> Result<()> {
        check_grads(model, grads)?;
        self.t += 1;
        match self.cfg {
            OptimizerConfig::AdamW { beta1, beta2, eps, weight_decay } => {
                // Loshchilov & Hutter 2019, Algorithm 2 (PyTorch AdamW form).
                let bc1 = 1.0 - beta1.powi(self.t as i32);
                let bc2 = 1.0 - beta2.powi(self.t as i32);
                for (i, (p, g)) in model.params().iter().zip(grads).enumerate() {
                    if self.is_frozen(i) {
                        continue;
                    }
                    let decay = if self.decay[i] && weight_decay > 0.0 { 1.0 - lr * weight_decay } else { 1.0 };
                    let step = AdamWStep { lr, beta1, beta2, eps, bc1, bc2, decay };
                    let (w, m, v) = path::adamw_update(model.kernel_path(), p.as_tensor(), g, &self.m[i], &self.v[i], step)?;
                    (self.m[i], self.v[i]) = (m, v);
                    p.set(&w)?;
                }
            }
            OptimizerConfig::Sgd { momentum } => {
                for (i, (p, g)) in model.params().iter().zip(grads).enumerate() {
                    if self.is_frozen(i) {
                        continue;
                    }
                    let dir = if momentum > 0.0 {
                        self.m[i] = ((&self.m[i] * momentum)? + g)?;
                        self.m[i].clone()
                    } else {
                        g.clone()
                    };
                    p.set(&(p.as_tensor() - (dir * lr)?)?)?;
                }
            }
        }
        Ok(())
    }

    /// State as named tensors (`opt.m.<param>`, `opt.v.<param>`) for a checkpoint.
    pub fn state_tensors(&self, model: &Gpt) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (i, name) in model.param_names().iter().enumerate() {
            if let Some(m) = self.m.get(i) {
                out.insert(format!("opt.m.{name}"), m.clone());
            }
            if let Some(v) = self.v.get(i) {
                out.insert(format!("opt.v.{name}"), v.clone());
            }
        }
        out
    }

    /// Restores state saved by [`Optimizer::state_tensors`] after `steps_taken` steps.
    pub fn restore(&mut self, model: &Gpt, tensors: &HashMap<String, Tensor>, steps_taken: u64) -> Result<()> {
        for (i, name) in model.param_names().iter().enumerate() {
            if !self.m.is_empty() {
                self.m[i] = fetch(tensors, &format!("opt.m.{name}"), &self.m[i])?;
            }
            if !self.v.is_empty() {
                self.v[i] = fetch(tensors, &format!("opt.v.{name}"), &self.v[i])?;
            }
        }
        self.t = steps_taken;
        Ok(())
    }
}

fn fetch(tensors: &HashMap<String, Tensor>, key: &str, like: &Tensor) -> Result<Tensor> {
    let t = tensors.get(key).ok_or_else(|| Error::param("optimizer state", key, "missing from the checkpoint"))?;
    if t.dims() != like.dims() {
        return Err(Error::param("optimizer state", key, format!("shape {:?}, expected {:?}", t.dims(), like.dims())));
    }
    Ok(t.to_dtype(like.dtype())?.to_device(like.device())?)
}
