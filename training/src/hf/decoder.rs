//! One decoder for every supported Hugging Face architecture, re-implemented on candle-core /
//! candle-nn ops rather than taken from candle-transformers 0.11.1: its forwards return only the
//! last position's logits (scoring needs all of them), and its `gemma2.rs` scales attention by
//! `head_dim` instead of `query_pre_attn_scalar` and slides the window on every layer.
//! Reference implementation: transformers 5.25 `modeling_{gpt2,llama,gemma,gemma2,gemma3,vaultgemma}.py`
//! (eager attention), whose outputs the tests reproduce.
//!
//! Differences between the families are data in [`HfArch`]: norm kind, learned positions vs RoPE
//! (per layer for Gemma 3's local/global bases), grouped-query attention, attention scale,
//! soft-capping, sliding windows per layer, q/k norms, post-attention / post-feed-forward norms,
//! gated vs plain MLP, √d embedding scale, tied head.

use candle_core::{DType, Device, Tensor};

use super::attention::MaskedSoftmax;
use super::config::{Activation, Family, HfArch};
use super::weights::Shards;
use crate::{Error, Result};

/// A weight matrix applied as x · Wᵀ (PyTorch `nn.Linear`, stored (out, in)) or x · W
/// (GPT-2's `Conv1D`, stored (in, out)), with an optional bias.
struct Linear {
    w: Tensor,
    conv1d: bool,
    b: Option<Tensor>,
}

impl Linear {
    /// x (N, in) → (N, out).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = if self.conv1d { x.matmul(&self.w)? } else { x.matmul(&self.w.t()?)? };
        Ok(match &self.b {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }
}

/// LayerNorm (γ, β) or RMSNorm (gain already 1 + w for the Gemma family).
enum Norm {
    Layer { w: Tensor, b: Tensor, eps: f32 },
    Rms { alpha: Tensor, eps: f32 },
}

impl Norm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = x.contiguous()?;
        Ok(match self {
            Norm::Layer { w, b, eps } => candle_nn::ops::layer_norm(&x, w, b, *eps)?,
            Norm::Rms { alpha, eps } => candle_nn::ops::rms_norm(&x, alpha, *eps)?,
        })
    }
}

enum Mlp {
    /// GPT-2: fc → act → proj.
    Plain { fc: Linear, proj: Linear },
    /// Llama/Gemma: down(act(gate x) ⊙ up x), gate and up fused into one matrix.
    Gated { gate_up: Linear, down: Linear, m: usize },
}

struct Layer {
    ln_attn: Norm,
    /// Fused q, k, v projection: (H + 2·KV)·head_dim outputs.
    qkv: Linear,
    o: Linear,
    q_norm: Option<Norm>,
    k_norm: Option<Norm>,
    post_attn_norm: Option<Norm>,
    ln_mlp: Norm,
    post_mlp_norm: Option<Norm>,
    mlp: Mlp,
}

/// Per-layer key/value cache for incremental decoding: (B, KV, positions so far, head_dim).
#[derive(Default, Clone)]
pub struct KvCache {
    pub(crate) layers: Vec<Option<(Tensor, Tensor)>>,
}

impl KvCache {
    /// Keeps only the batch rows `rows` (finished sequences leave the batch).
    pub fn select_rows(&mut self, rows: &[u32]) -> Result<()> {
        let idx = Tensor::new(rows, &Device::Cpu)?;
        for (k, v) in self.layers.iter_mut().flatten() {
            *k = k.index_select(&idx, 0)?;
            *v = v.index_select(&idx, 0)?;
        }
        Ok(())
    }
}

/// The weights of a loaded checkpoint and the forward pass.
pub struct Decoder {
    arch: HfArch,
    embed: Tensor,
    positions: Option<Tensor>,
    layers: Vec<Layer>,
    ln_f: Norm,
    /// (V, d); the embedding itself when tied.
    head: Tensor,
}

/// Weight names of one family, relative to the model's prefix.
struct Names {
    embed: &'static str,
    final_norm: &'static str,
    layer: &'static str,
}

impl Decoder {
    /// Builds the decoder from the checkpoint's tensors.
    pub fn load(arch: HfArch, shards: &Shards) -> Result<Self> {
        let gpt2 = arch.family == Family::Gpt2;
        let names = if gpt2 {
            Names { embed: "wte.weight", final_norm: "ln_f", layer: "h" }
        } else {
            Names { embed: "embed_tokens.weight", final_norm: "norm", layer: "layers" }
        };
        // The prefix under which the files hold the body: transformers writes "transformer." /
        // "model." (and "model.language_model." / "language_model.model." for multimodal Gemma 3);
        // base-model checkpoints have none.
        let candidates: &[&str] = if gpt2 {
            &["transformer.", ""]
        } else if arch.text_config_nested {
            &["model.language_model.", "language_model.model.", "model."]
        } else {
            &["model.", ""]
        };
        let prefix = candidates
            .iter()
            .find(|p| shards.has(&format!("{p}{}", names.embed)))
            .ok_or_else(|| Error::BadFile {
                path: shards.file_of("").to_path_buf(),
                why: format!("tensor {:?} (the token embedding) is missing", format!("{}{}", candidates[0], names.embed)),
            })?
            .to_string();
        let (d, v, hd, h, kv, m) = (arch.hidden_size, arch.vocab_size, arch.head_dim, arch.n_head, arch.n_kv_head, arch.intermediate_size);
        let get = |name: &str, shape: &[usize]| shards.get(&format!("{prefix}{name}"), shape);
        let eps = arch.norm_eps as f32;
        let norm = |name: &str, width: usize| -> Result<Norm> {
            if gpt2 {
                Ok(Norm::Layer { w: get(&format!("{name}.weight"), &[width])?, b: get(&format!("{name}.bias"), &[width])?, eps })
            } else {
                let w = get(&format!("{name}.weight"), &[width])?;
                Ok(Norm::Rms { alpha: if arch.family.is_gemma() { (w + 1.0)? } else { w }, eps })
            }
        };
        let linear = |name: &str, out: usize, inp: usize, bias: bool| -> Result<Linear> {
            Ok(Linear { w: get(&format!("{name}.weight"), &[out, inp])?, conv1d: false, b: if bias { Some(get(&format!("{name}.bias"), &[out])?) } else { None } })
        };
        let conv1d = |name: &str, inp: usize, out: usize| -> Result<Linear> {
            Ok(Linear { w: get(&format!("{name}.weight"), &[inp, out])?, conv1d: true, b: Some(get(&format!("{name}.bias"), &[out])?) })
        };
        let embed = get(names.embed, &[v, d])?;
        let positions = if gpt2 { Some(get("wpe.weight", &[arch.max_positions, d])?) } else { None };
        let mut layers = Vec::with_capacity(arch.n_layer);
        for l in 0..arch.n_layer {
            let p = |s: &str| format!("{}.{l}.{s}", names.layer);
            let layer = if gpt2 {
                Layer {
                    ln_attn: norm(&p("ln_1"), d)?,
                    qkv: conv1d(&p("attn.c_attn"), d, 3 * d)?,
                    o: conv1d(&p("attn.c_proj"), d, d)?,
                    q_norm: None,
                    k_norm: None,
                    post_attn_norm: None,
                    ln_mlp: norm(&p("ln_2"), d)?,
                    post_mlp_norm: None,
                    mlp: Mlp::Plain { fc: conv1d(&p("mlp.c_fc"), d, m)?, proj: conv1d(&p("mlp.c_proj"), m, d)? },
                }
            } else {
                let bias = arch.attention_bias;
                let (q, k, vv) = (
                    linear(&p("self_attn.q_proj"), h * hd, d, bias)?,
                    linear(&p("self_attn.k_proj"), kv * hd, d, bias)?,
                    linear(&p("self_attn.v_proj"), kv * hd, d, bias)?,
                );
                let qkv = Linear {
                    w: Tensor::cat(&[&q.w, &k.w, &vv.w], 0)?,
                    conv1d: false,
                    b: match (q.b, k.b, vv.b) {
                        (Some(a), Some(b), Some(c)) => Some(Tensor::cat(&[&a, &b, &c], 0)?),
                        _ => None,
                    },
                };
                let (gate, up) = (linear(&p("mlp.gate_proj"), m, d, arch.mlp_bias)?, linear(&p("mlp.up_proj"), m, d, arch.mlp_bias)?);
                let gate_up = Linear {
                    w: Tensor::cat(&[&gate.w, &up.w], 0)?,
                    conv1d: false,
                    b: match (gate.b, up.b) {
                        (Some(a), Some(b)) => Some(Tensor::cat(&[&a, &b], 0)?),
                        _ => None,
                    },
                };
                let sandwich = matches!(arch.family, Family::Gemma2 | Family::Gemma3);
                let qk_norms = arch.family == Family::Gemma3;
                // Llama / Gemma 1 call their pre-MLP norm post_attention_layernorm; Gemma 2/3 and
                // VaultGemma use pre_feedforward_layernorm (and Gemma 2/3 norm the attention output
                // with post_attention_layernorm).
                let pre_mlp = if matches!(arch.family, Family::Llama | Family::Gemma) { "post_attention_layernorm" } else { "pre_feedforward_layernorm" };
                Layer {
                    ln_attn: norm(&p("input_layernorm"), d)?,
                    qkv,
                    o: linear(&p("self_attn.o_proj"), d, h * hd, bias)?,
                    q_norm: if qk_norms { Some(norm(&p("self_attn.q_norm"), hd)?) } else { None },
                    k_norm: if qk_norms { Some(norm(&p("self_attn.k_norm"), hd)?) } else { None },
                    post_attn_norm: if sandwich { Some(norm(&p("post_attention_layernorm"), d)?) } else { None },
                    ln_mlp: norm(&p(pre_mlp), d)?,
                    post_mlp_norm: if sandwich { Some(norm(&p("post_feedforward_layernorm"), d)?) } else { None },
                    mlp: Mlp::Gated { gate_up, down: linear(&p("mlp.down_proj"), d, m, arch.mlp_bias)?, m },
                }
            };
            layers.push(layer);
        }
        let ln_f = norm(names.final_norm, d)?;
        let head = if arch.tie_word_embeddings {
            embed.clone()
        } else {
            // The head sits outside the body prefix ("lm_head.weight").
            let name = if arch.text_config_nested && shards.has("language_model.lm_head.weight") { "language_model.lm_head.weight" } else { "lm_head.weight" };
            shards.get(name, &[v, d])?
        };
        Ok(Decoder { arch, embed, positions, layers, ln_f, head })
    }

    /// The architecture.
    pub fn arch(&self) -> &HfArch {
        &self.arch
    }

    /// Logits for ids (B, T) at positions `offset..offset + T`: all positions (B, T, V), or the
    /// last only (B, 1, V) when `last_only`. With a cache, keys and values are appended to it.
    pub fn forward(&self, ids: &Tensor, mut cache: Option<&mut KvCache>, offset: usize, last_only: bool) -> Result<Tensor> {
        let (bsz, t) = ids.dims2()?;
        if offset + t > self.arch.max_positions {
            return Err(Error::param("sequence length", offset + t, format!("exceeds the model's {} positions", self.arch.max_positions)));
        }
        let d = self.arch.hidden_size;
        let mut x = self.embed.embedding(&ids.flatten_all()?)?.reshape((bsz, t, d))?;
        if let Some(wpe) = &self.positions {
            x = x.broadcast_add(&wpe.narrow(0, offset, t)?)?;
        }
        if self.arch.family.is_gemma() {
            // transformers multiplies by hidden_size ** 0.5 rounded to the weights' dtype (f32 here).
            x = (x * ((d as f64).sqrt() as f32 as f64))?;
        }
        if let Some(c) = cache.as_deref_mut() {
            if c.layers.is_empty() {
                c.layers = vec![None; self.arch.n_layer];
            }
        }
        let rope = self.rope_tables(offset, t)?;
        for (l, layer) in self.layers.iter().enumerate() {
            x = self.block(&x, l, layer, rope.get(l).map(|r| (&r.0, &r.1)), cache.as_deref_mut(), offset)?;
        }
        let x = if last_only { x.narrow(1, t - 1, 1)? } else { x };
        let tt = x.dim(1)?;
        let x = self.ln_f.forward(&x.reshape((bsz * tt, d))?)?;
        let mut logits = x.matmul(&self.head.t()?)?;
        if let Some(cap) = self.arch.final_softcap {
            logits = ((logits / cap)?.tanh()? * cap)?;
        }
        Ok(logits.reshape((bsz, tt, self.arch.vocab_size))?)
    }

    /// cos/sin tables (T, head_dim / 2) per layer for positions offset..offset+T (empty without RoPE).
    fn rope_tables(&self, offset: usize, t: usize) -> Result<Vec<(Tensor, Tensor)>> {
        let hd = self.arch.head_dim;
        let mut out: Vec<(Tensor, Tensor)> = Vec::with_capacity(self.arch.rope.len());
        for (l, spec) in self.arch.rope.iter().enumerate() {
            if let Some(prev) = (0..l).find(|&j| self.arch.rope[j] == *spec) {
                let shared = out[prev].clone();
                out.push(shared);
                continue;
            }
            let inv = spec.inv_freq(hd);
            // Angles in f32 products as transformers forms them (inv_freq f32 × position f32).
            let inv32: Vec<f32> = inv.iter().map(|&f| f as f32).collect();
            let (mut cos, mut sin) = (Vec::with_capacity(t * hd / 2), Vec::with_capacity(t * hd / 2));
            for p in offset..offset + t {
                for &f in &inv32 {
                    let a = (f * p as f32) as f64;
                    cos.push(a.cos() as f32);
                    sin.push(a.sin() as f32);
                }
            }
            out.push((Tensor::from_vec(cos, (t, hd / 2), &Device::Cpu)?, Tensor::from_vec(sin, (t, hd / 2), &Device::Cpu)?));
        }
        Ok(out)
    }

    fn block(&self, x: &Tensor, l: usize, layer: &Layer, rope: Option<(&Tensor, &Tensor)>, cache: Option<&mut KvCache>, offset: usize) -> Result<Tensor> {
        let (bsz, t, d) = x.dims3()?;
        let rows = x.reshape((bsz * t, d))?;
        let h = layer.ln_attn.forward(&rows)?;
        let mut h = self.attention(&h, bsz, t, l, layer, rope, cache, offset)?;
        if let Some(n) = &layer.post_attn_norm {
            h = n.forward(&h)?;
        }
        let rows = (rows + h)?;
        let h = layer.ln_mlp.forward(&rows)?;
        let mut h = match &layer.mlp {
            Mlp::Plain { fc, proj } => proj.forward(&activate(&fc.forward(&h)?, self.arch.activation)?)?,
            Mlp::Gated { gate_up, down, m } => {
                let gu = gate_up.forward(&h)?;
                let gate = activate(&gu.narrow(1, 0, *m)?, self.arch.activation)?;
                down.forward(&(gate * gu.narrow(1, *m, *m)?)?)?
            }
        };
        if let Some(n) = &layer.post_mlp_norm {
            h = n.forward(&h)?;
        }
        Ok((rows + h)?.reshape((bsz, t, d))?)
    }

    #[allow(clippy::too_many_arguments)]
    fn attention(&self, x: &Tensor, bsz: usize, t: usize, l: usize, layer: &Layer, rope: Option<(&Tensor, &Tensor)>, cache: Option<&mut KvCache>, offset: usize) -> Result<Tensor> {
        let (h, kv, hd) = (self.arch.n_head, self.arch.n_kv_head, self.arch.head_dim);
        let qkv = layer.qkv.forward(x)?;
        // (B·T, heads·hd) → (B, heads, T, hd), normed per head (Gemma 3) before RoPE.
        let heads = |start: usize, n: usize, norm: &Option<Norm>| -> Result<Tensor> {
            let mut y = qkv.narrow(1, start * hd, n * hd)?;
            if let Some(norm) = norm {
                y = norm.forward(&y.reshape((bsz * t * n, hd))?)?;
            }
            Ok(y.reshape((bsz, t, n, hd))?.transpose(1, 2)?.contiguous()?)
        };
        let (mut q, mut k, v) = (heads(0, h, &layer.q_norm)?, heads(h, kv, &layer.k_norm)?, heads(h + kv, kv, &None)?);
        if let Some((cos, sin)) = rope {
            q = candle_nn::rotary_emb::rope(&q, cos, sin)?;
            k = candle_nn::rotary_emb::rope(&k, cos, sin)?;
        }
        let (k, v) = match cache {
            Some(cache) => {
                let (k, v) = match &cache.layers[l] {
                    Some((pk, pv)) => (Tensor::cat(&[pk, &k], 2)?, Tensor::cat(&[pv, &v], 2)?),
                    None => (k, v),
                };
                cache.layers[l] = Some((k.clone(), v.clone()));
                (k, v)
            }
            None => (k, v),
        };
        // Grouped-query attention without copying keys: the G = H / KV query heads of one key/value
        // head (consecutive, as transformers' repeat_kv pairs them) become G·T rows.
        let g = h / kv;
        let q = (q * self.arch.attn_scale[l])?.reshape((bsz, kv, g * t, hd))?;
        let scores = q.matmul(&k.t()?)?.contiguous()?;
        let op = MaskedSoftmax { t, offset, window: self.arch.window[l], softcap: self.arch.attn_softcap.map(|c| c as f32) };
        let probs = scores.apply_op1_no_bwd(&op)?;
        let y = probs.matmul(&v)?.reshape((bsz, h, t, hd))?.transpose(1, 2)?.reshape((bsz * t, h * hd))?;
        layer.o.forward(&y)
    }
}

fn activate(x: &Tensor, act: Activation) -> Result<Tensor> {
    Ok(match act {
        Activation::GeluTanh if x.dtype() == DType::F32 => crate::model::fast_gelu(x)?,
        Activation::GeluTanh => x.gelu()?,
        Activation::GeluErf => x.gelu_erf()?,
        Activation::Silu => x.silu()?,
        Activation::Relu => x.relu()?,
    })
}
