//! The whole GPT forward and backward of a training step on the CPU as one hand-written pass
//! (issue 18): the fused kernels called on plain buffers in a fixed order, with no autograd graph.
//! candle's backward gives every gradient edge a zero-filled tensor plus a separate add (open
//! upstream: huggingface/candle PRs #3578 and #3822), ~20 % of a non-private step at the
//! issue's shape (13.8 % add, 5.9 % zero-fill); here each gradient is written once, where it is used.
//! It yields either the parameter gradients of Σ_i loss_i (the non-private step) or, for DP-SGD,
//! every linear layer's input and output gradient, each LayerNorm's per-example gain and bias
//! gradients (summed in its backward), and dL/d(embedding output) — the book-keeping the hook ops
//! leave behind (`hooks.rs`), from which `dpsgd::clip` takes per-example norms and clipped sums.
//! Checked against the autograd path in `tests` (f64: 1e-10, f32: 1e-5).

use std::borrow::Cow;

use candle_core::{DType, Storage, Tensor};

use crate::batch::{row_weights, Batch};
use crate::hooks::HookKind;
use crate::kernels::{attention_backward, attention_forward, ce_backward, ce_forward, gelu_bwd, gelu_fwd, linear_forward, linear_input_grad, linear_weight_grads, ln_backward, ln_backward_per_example, ln_forward, slice_of, tensor_from, Real};
use crate::model::{Gpt, PER_BLOCK};
use crate::{Error, Result};

/// What a pass computes besides the loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PassProduct {
    /// The gradient of every parameter (non-private training).
    ParamGrads,
    /// The hooked layers' inputs and output gradients (DP-SGD's ghost norms and clipped sums).
    Hooks,
}

/// What the backward recorded of one hooked layer.
pub(crate) enum Recorded {
    /// The layer's input a (B, T, din) (for a LayerNorm affine, the normalised x̂) and the
    /// gradient g (B, T, dout) of the loss sum with respect to its output.
    Activations { input: Tensor, grad: Tensor },
    /// A LayerNorm affine's per-example gradients (B, d), summed in its backward: Σ_t g⊙x̂ for the
    /// gain and Σ_t g for the bias.
    LnExampleGrads { gamma: Tensor, beta: Tensor },
}

/// One hooked layer after the backward.
pub(crate) struct HookedLayer {
    /// Which parameters the layer owns.
    pub kind: HookKind,
    /// What its clipping needs.
    pub recorded: Recorded,
}

/// The result of one whole pass.
pub(crate) struct WholePass {
    /// Σ_i loss_i over the batch (each example's loss summed in the model's dtype, as the autograd path does).
    pub loss_sum: f64,
    /// [`PassProduct::ParamGrads`]: one gradient per parameter, in the model's order.
    pub param_grads: Vec<Tensor>,
    /// [`PassProduct::Hooks`]: dL/d(embedding output) (B, T, d).
    pub embedding_grad: Option<Tensor>,
    /// [`PassProduct::Hooks`]: every linear layer and LayerNorm affine.
    pub layers: Vec<HookedLayer>,
}

/// One block's activations kept for its backward.
struct BlockActs<T> {
    x_in: Vec<T>,
    h1: Vec<T>,
    qkv: Vec<T>,
    probs: Vec<T>,
    y: Vec<T>,
    x_mid: Vec<T>,
    h2: Vec<T>,
    f: Vec<T>,
    u: Vec<T>,
}

/// Runs the pass on `batch` for a CPU model in f32 or f64.
/// With several threads the pass runs on a rayon worker (`rayon::scope` moves it there from any
/// other thread): its kernels' parallel loops then split by work stealing between the workers,
/// instead of each one waking the pool from outside and putting the calling thread to sleep until
/// it finishes. With one thread it stays on the calling thread (the hop cost ~5 % of a step there,
/// its buffers then being freed on another thread than the one that allocated them).
pub(crate) fn run(model: &Gpt, batch: &Batch, product: PassProduct) -> Result<WholePass> {
    let pass = || match model.dtype() {
        DType::F32 => run_typed::<f32>(model, batch, product),
        DType::F64 => run_typed::<f64>(model, batch, product),
        other => Err(Error::param("dtype", format!("{other:?}"), "the whole-model pass runs in f32 or f64")),
    };
    if rayon::current_num_threads() > 1 {
        rayon::scope(|_| pass())
    } else {
        pass()
    }
}

/// a + b, elementwise (a residual connection).
fn sum<T: Real>(a: &[T], b: &[T]) -> Vec<T> {
    a.iter().zip(b).map(|(&x, &y)| x + y).collect()
}

/// a += b, elementwise.
fn add_into<T: Real>(a: &mut [T], b: &[T]) {
    for (x, &y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

/// Where a layer's gradients go: the parameter gradients, or the hook records (which take the
/// buffers over, so nothing is copied that the pass does not need again).
struct Sink {
    product: PassProduct,
    grads: Vec<Option<Tensor>>,
    layers: Vec<HookedLayer>,
    shape: (usize, usize),
}

impl Sink {
    /// A linear layer with input `a` (n, din) and output gradient `g` (n, dout).
    fn linear<T: Real>(&mut self, (weight, bias): (usize, Option<usize>), a: Vec<T>, g: Cow<'_, [T]>, din: usize, dout: usize) -> Result<()> {
        match self.product {
            PassProduct::ParamGrads => {
                let (dw, db) = linear_weight_grads(&g, &a, a.len() / din, din, dout, bias.is_some());
                self.grads[weight] = Some(tensor_from(dw, (dout, din))?);
                if let Some(bi) = bias {
                    self.grads[bi] = Some(tensor_from(db, dout)?);
                }
                Ok(())
            }
            PassProduct::Hooks => self.record(HookKind::Linear { weight, bias }, a, g.into_owned(), din, dout),
        }
    }

    /// A LayerNorm affine (width d) with its gradients from the LayerNorm backward: summed over
    /// the batch (d each), or per example ((B, d) each) for the hooks.
    fn ln_affine<T: Real>(&mut self, (gamma, beta): (usize, usize), (dg, db): (Vec<T>, Vec<T>), d: usize) -> Result<()> {
        match self.product {
            PassProduct::ParamGrads => {
                self.grads[gamma] = Some(tensor_from(dg, d)?);
                self.grads[beta] = Some(tensor_from(db, d)?);
            }
            PassProduct::Hooks => {
                let b = self.shape.0;
                let recorded = Recorded::LnExampleGrads { gamma: tensor_from(dg, (b, d))?, beta: tensor_from(db, (b, d))? };
                self.layers.push(HookedLayer { kind: HookKind::LnAffine { gamma, beta }, recorded });
            }
        }
        Ok(())
    }

    fn record<T: Real>(&mut self, kind: HookKind, a: Vec<T>, g: Vec<T>, din: usize, dout: usize) -> Result<()> {
        let (b, t) = self.shape;
        let recorded = Recorded::Activations { input: tensor_from(a, (b, t, din))?, grad: tensor_from(g, (b, t, dout))? };
        self.layers.push(HookedLayer { kind, recorded });
        Ok(())
    }
}

fn run_typed<T: Real>(model: &Gpt, batch: &Batch, product: PassProduct) -> Result<WholePass> {
    let cfg = model.config();
    let (v, d, nh, nl) = (cfg.vocab_size, cfg.n_embd, cfg.n_head, cfg.n_layer);
    let m = cfg.mlp_ratio * d;
    let (b, t) = (batch.bsz, batch.t);
    let n = b * t;
    if t > cfg.context_length {
        return Err(Error::param("sequence length", t, format!("exceeds the context length {}", cfg.context_length)));
    }
    let tensors = model.params().iter().map(|p| p.as_tensor().contiguous()).collect::<candle_core::Result<Vec<_>>>()?;
    let guards: Vec<_> = tensors.iter().map(|p| p.storage_and_layout()).collect();
    let mut w: Vec<&[T]> = Vec::with_capacity(guards.len());
    for (storage, layout) in &guards {
        match &**storage {
            Storage::Cpu(cpu) => w.push(slice_of::<T>(cpu, layout, "whole-model pass")?),
            _ => return Err(Error::param("device", "not the CPU", "the whole-model pass runs on CPU tensors")),
        }
    }
    let (eps, hooks) = (cfg.ln_eps, product == PassProduct::Hooks);

    // Forward: token + position embeddings, then the blocks, keeping what each backward needs.
    let mut x = Vec::with_capacity(n * d);
    for (r, &id) in batch.ids_host.iter().enumerate() {
        let id = id as usize;
        if id >= v {
            return Err(Error::param("token id", id, format!("outside the vocabulary of {v}")));
        }
        let pos = r % t;
        x.extend(w[0][id * d..(id + 1) * d].iter().zip(&w[1][pos * d..(pos + 1) * d]).map(|(&a, &p)| a + p));
    }
    let mut blocks = Vec::with_capacity(nl);
    for l in 0..nl {
        let base = 2 + PER_BLOCK * l;
        let h1 = ln_forward(&x, w[base], w[base + 1], d, eps);
        let qkv = linear_forward(&h1, w[base + 2], Some(w[base + 3]), n, d, 3 * d);
        let (y, probs) = attention_forward(&qkv, b, t, d, nh);
        let proj = linear_forward(&y, w[base + 4], Some(w[base + 5]), n, d, d);
        let x_mid = sum(&x, &proj);
        let h2 = ln_forward(&x_mid, w[base + 6], w[base + 7], d, eps);
        let f = linear_forward(&h2, w[base + 8], Some(w[base + 9]), n, d, m);
        let u = gelu_fwd(&f);
        let out = linear_forward(&u, w[base + 10], Some(w[base + 11]), n, m, d);
        let x_out = sum(&x_mid, &out);
        blocks.push(BlockActs { x_in: std::mem::replace(&mut x, x_out), h1, qkv, probs, y, x_mid, h2, f, u });
    }
    let fb = 2 + PER_BLOCK * nl;
    let hf = ln_forward(&x, w[fb], w[fb + 1], d, eps);
    let logits = linear_forward(&hf, w[fb + 2], None, n, d, v);
    let weights = row_weights(batch);
    let (row_loss, lse) = ce_forward(&logits, &batch.targets_host, &weights, v)?;
    let loss_sum: f64 = row_loss.chunks(t.max(1)).map(|ex| ex.iter().fold(T::from_f64(0.0), |s, &l| s + l).to_f64()).sum();

    // Backward, in reverse; d(Σ loss)/d(row loss) = 1, so each row's scale is its weight.
    let mut sink = Sink { product, grads: vec![None; w.len()], layers: Vec::new(), shape: (b, t) };
    let scale: Vec<T> = weights.iter().map(|&x| T::from_f64(x)).collect();
    let dlogits = ce_backward(&logits, &lse, &scale, &batch.targets_host, v);
    drop(logits);
    let dhf = linear_input_grad(&dlogits, w[fb + 2], n, d, v);
    sink.linear((fb + 2, None), hf, Cow::Owned(dlogits), d, v)?;
    // The LayerNorm backward sums the affine's gradients over the batch, or per example for the hooks.
    let ln_back = |x: &[T], dh: &[T], gamma: &[T]| if hooks { ln_backward_per_example(x, dh, gamma, d, eps, t) } else { ln_backward(x, dh, gamma, d, eps) };
    let (mut dx, dg, db) = ln_back(&x, &dhf, w[fb]);
    sink.ln_affine((fb, fb + 1), (dg, db), d)?;
    for (l, a) in blocks.into_iter().enumerate().rev() {
        let base = 2 + PER_BLOCK * l;
        let du = linear_input_grad(&dx, w[base + 10], n, m, d);
        sink.linear((base + 10, Some(base + 11)), a.u, Cow::Borrowed(&dx), m, d)?;
        let df = gelu_bwd(&a.f, &du);
        let dh2 = linear_input_grad(&df, w[base + 8], n, d, m);
        sink.linear((base + 8, Some(base + 9)), a.h2, Cow::Owned(df), d, m)?;
        let (dx2, dg, db) = ln_back(&a.x_mid, &dh2, w[base + 6]);
        sink.ln_affine((base + 6, base + 7), (dg, db), d)?;
        add_into(&mut dx, &dx2);
        let dy = linear_input_grad(&dx, w[base + 4], n, d, d);
        sink.linear((base + 4, Some(base + 5)), a.y, Cow::Borrowed(&dx), d, d)?;
        let dqkv = attention_backward(&a.qkv, &a.probs, &dy, b, t, d, nh);
        let dh1 = linear_input_grad(&dqkv, w[base + 2], n, d, 3 * d);
        sink.linear((base + 2, Some(base + 3)), a.h1, Cow::Owned(dqkv), d, 3 * d)?;
        let (dx1, dg, db) = ln_back(&a.x_in, &dh1, w[base]);
        sink.ln_affine((base, base + 1), (dg, db), d)?;
        add_into(&mut dx, &dx1);
    }

    // dx is now dL/d(token + position embedding).
    let (param_grads, embedding_grad) = match product {
        PassProduct::Hooks => (Vec::new(), Some(tensor_from(dx, (b, t, d))?)),
        PassProduct::ParamGrads => {
            let zero = T::from_f64(0.0);
            let (mut dwte, mut dwpe) = (vec![zero; v * d], vec![zero; cfg.context_length * d]);
            for (r, g) in dx.chunks_exact(d).enumerate() {
                let (id, pos) = (batch.ids_host[r] as usize, r % t);
                add_into(&mut dwte[id * d..(id + 1) * d], g);
                add_into(&mut dwpe[pos * d..(pos + 1) * d], g);
            }
            sink.grads[0] = Some(tensor_from(dwte, (v, d))?);
            sink.grads[1] = Some(tensor_from(dwpe, (cfg.context_length, d))?);
            let names = model.param_names();
            let grads = sink.grads.into_iter().enumerate().map(|(i, g)| g.ok_or_else(|| Error::param("whole-model pass", &names[i], "no gradient rule reached this parameter"))).collect::<Result<Vec<_>>>()?;
            (grads, None)
        }
    };
    Ok(WholePass { loss_sum, param_grads, embedding_grad, layers: sink.layers })
}
