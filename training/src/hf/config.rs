//! `config.json` of a Hugging Face causal LM → [`HfArch`], the one architecture description the
//! decoder in [`super::decoder`] runs. Field names and defaults follow transformers 5.25
//! (`models/<family>/configuration_<family>.py`); files written by transformers 4 (RoPE under
//! `rope_theta` / `rope_scaling` / `rope_local_base_freq`, `sliding_window_pattern`) are read too.

use std::path::Path;

use serde_json::Value;

use crate::{Error, Result};

/// The architectures this loader knows, by `model_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `gpt2`: learned positions, LayerNorm with bias, Conv1D (in, out) weights, GELU MLP.
    Gpt2,
    /// `llama`: RMSNorm, RoPE, grouped-query attention, SiLU-gated MLP.
    Llama,
    /// `gemma`: Llama with RMSNorm(1 + w), √d embedding scale, GELU-gated MLP, tied head.
    Gemma,
    /// `gemma2`: Gemma plus post-attention / post-feed-forward norms, soft-capping,
    /// `query_pre_attn_scalar`, alternating sliding-window layers.
    Gemma2,
    /// `gemma3_text` (or `gemma3` with a `text_config`): Gemma 2 plus q/k norms and separate
    /// local / global RoPE.
    Gemma3,
    /// `vaultgemma`: Gemma 2 without the post-attention and post-feed-forward norms.
    VaultGemma,
}

impl Family {
    /// The `model_type` values accepted, for error messages.
    pub const KNOWN: &'static str = "gpt2, llama, gemma, gemma2, gemma3_text (gemma3), vaultgemma";

    fn of(model_type: &str) -> Option<Family> {
        Some(match model_type {
            "gpt2" => Family::Gpt2,
            "llama" => Family::Llama,
            "gemma" => Family::Gemma,
            "gemma2" => Family::Gemma2,
            "gemma3" | "gemma3_text" => Family::Gemma3,
            "vaultgemma" => Family::VaultGemma,
            _ => return None,
        })
    }

    /// Gemma-style RMSNorm (x̂ · (1 + w)) and √d embedding scale.
    pub fn is_gemma(self) -> bool {
        matches!(self, Family::Gemma | Family::Gemma2 | Family::Gemma3 | Family::VaultGemma)
    }
}

/// Activation of the MLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// GELU, tanh approximation (`gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    /// GELU with erf (`gelu`).
    GeluErf,
    /// SiLU / swish.
    Silu,
    /// ReLU.
    Relu,
}

impl Activation {
    fn parse(name: &str, file: &Path) -> Result<Self> {
        Ok(match name {
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "gelu" => Activation::GeluErf,
            "silu" | "swish" => Activation::Silu,
            "relu" => Activation::Relu,
            other => return Err(bad(file, format!("activation {other:?} is not supported (gelu_new, gelu_pytorch_tanh, gelu, silu, relu)"))),
        })
    }
}

/// How RoPE frequencies are derived from the base ones (transformers `modeling_rope_utils.py`).
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    /// inv_freq_i = θ^(−2i/d).
    Default,
    /// inv_freq / factor (position interpolation).
    Linear(f64),
    /// Llama 3.1 band-wise scaling (`_compute_llama3_parameters`).
    Llama3 {
        /// Scale of the low frequencies.
        factor: f64,
        /// Wavelength bound (as a fraction of the original context) of the scaled band.
        low_freq_factor: f64,
        /// Wavelength bound of the unscaled band.
        high_freq_factor: f64,
        /// Context length the model was pre-trained with.
        original_max_position_embeddings: f64,
    },
}

/// RoPE of one layer: base θ and scaling.
#[derive(Debug, Clone, PartialEq)]
pub struct RopeSpec {
    /// Base θ.
    pub theta: f64,
    /// Frequency scaling.
    pub scaling: RopeScaling,
}

impl RopeSpec {
    /// The inverse frequencies for a rotary dimension `dim` (even), in f64.
    pub fn inv_freq(&self, dim: usize) -> Vec<f64> {
        let base: Vec<f64> = (0..dim / 2).map(|i| 1.0 / self.theta.powf((2 * i) as f64 / dim as f64)).collect();
        match &self.scaling {
            RopeScaling::Default => base,
            RopeScaling::Linear(f) => base.iter().map(|x| x / f).collect(),
            RopeScaling::Llama3 { factor, low_freq_factor, high_freq_factor, original_max_position_embeddings: old } => {
                let low_wavelen = old / low_freq_factor;
                let high_wavelen = old / high_freq_factor;
                base.iter()
                    .map(|&f| {
                        let wavelen = 2.0 * std::f64::consts::PI / f;
                        if wavelen < high_wavelen {
                            f
                        } else if wavelen > low_wavelen {
                            f / factor
                        } else {
                            let smooth = (old / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
                            (1.0 - smooth) * f / factor + smooth * f
                        }
                    })
                    .collect()
            }
        }
    }
}

/// Everything the decoder needs to know about a checkpoint's architecture.
#[derive(Debug, Clone, PartialEq)]
pub struct HfArch {
    /// The architecture family.
    pub family: Family,
    /// `model_type` as written in config.json.
    pub model_type: String,
    /// Vocabulary size (rows of the embedding).
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Transformer blocks.
    pub n_layer: usize,
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads (grouped-query attention when fewer than `n_head`).
    pub n_kv_head: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// MLP hidden width.
    pub intermediate_size: usize,
    /// Norm epsilon.
    pub norm_eps: f64,
    /// Longest input the model supports (positions).
    pub max_positions: usize,
    /// MLP activation.
    pub activation: Activation,
    /// q/k/v/o projections carry biases (Llama `attention_bias`).
    pub attention_bias: bool,
    /// MLP projections carry biases (Llama `mlp_bias`).
    pub mlp_bias: bool,
    /// Multiplier of q·k per layer (1/√head_dim, `query_pre_attn_scalar`^−½, GPT-2's inverse layer index).
    pub attn_scale: Vec<f64>,
    /// tanh soft-capping of the attention scores.
    pub attn_softcap: Option<f64>,
    /// tanh soft-capping of the final logits.
    pub final_softcap: Option<f64>,
    /// Sliding window per layer (None: global attention).
    pub window: Vec<Option<usize>>,
    /// RoPE per layer (empty for learned positions).
    pub rope: Vec<RopeSpec>,
    /// LM head shares the embedding matrix.
    pub tie_word_embeddings: bool,
    /// Beginning-of-sequence id, when the config names one.
    pub bos_token_id: Option<u32>,
    /// End-of-sequence ids (generation stops at any).
    pub eos_token_ids: Vec<u32>,
    /// The language model sits under `text_config` of a multimodal config (Gemma 3): its weights
    /// carry a `language_model` prefix.
    pub text_config_nested: bool,
}

fn bad(file: &Path, why: impl Into<String>) -> Error {
    Error::BadFile { path: file.to_path_buf(), why: why.into() }
}

struct Fields<'a> {
    v: &'a Value,
    file: &'a Path,
}

impl Fields<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.v.get(key).filter(|x| !x.is_null())
    }
    fn usize(&self, key: &str) -> Result<usize> {
        self.opt_usize(key)?.ok_or_else(|| bad(self.file, format!("missing field {key:?}")))
    }
    fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        match self.get(key) {
            None => Ok(None),
            Some(x) => x.as_u64().map(|n| Some(n as usize)).ok_or_else(|| bad(self.file, format!("field {key:?} = {x} is not a non-negative integer"))),
        }
    }
    fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(x) => x.as_f64().map(Some).ok_or_else(|| bad(self.file, format!("field {key:?} = {x} is not a number"))),
        }
    }
    fn f64_or(&self, key: &str, default: f64) -> Result<f64> {
        Ok(self.opt_f64(key)?.unwrap_or(default))
    }
    fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(x) => x.as_bool().ok_or_else(|| bad(self.file, format!("field {key:?} = {x} is not true/false"))),
        }
    }
    fn str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(|x| x.as_str())
    }
    fn ids(&self, key: &str) -> Vec<u32> {
        match self.get(key) {
            Some(Value::Number(n)) => n.as_u64().map(|x| vec![x as u32]).unwrap_or_default(),
            Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_u64()).map(|x| x as u32).collect(),
            _ => Vec::new(),
        }
    }
}

/// Reads a RoPE description object (`rope_parameters[...]` of transformers 5 or `rope_scaling` of 4).
fn rope_from(obj: Option<&Value>, theta: f64, file: &Path) -> Result<RopeSpec> {
    let Some(obj) = obj.filter(|o| !o.is_null()) else {
        return Ok(RopeSpec { theta, scaling: RopeScaling::Default });
    };
    let f = Fields { v: obj, file };
    let theta = f.f64_or("rope_theta", theta)?;
    let kind = f.str("rope_type").or_else(|| f.str("type")).unwrap_or("default");
    let factor = || f.opt_f64("factor")?.ok_or_else(|| bad(file, format!("RoPE type {kind:?} needs a \"factor\"")));
    let scaling = match kind {
        "default" => RopeScaling::Default,
        "linear" => RopeScaling::Linear(factor()?),
        "llama3" => RopeScaling::Llama3 {
            factor: factor()?,
            low_freq_factor: f.f64_or("low_freq_factor", 1.0)?,
            high_freq_factor: f.f64_or("high_freq_factor", 4.0)?,
            original_max_position_embeddings: f.usize("original_max_position_embeddings")? as f64,
        },
        other => return Err(bad(file, format!("RoPE type {other:?} is not supported (default, linear, llama3)"))),
    };
    Ok(RopeSpec { theta, scaling })
}

/// A string list of layer types ("sliding_attention" / "full_attention") → is-sliding per layer.
fn layer_types(f: &Fields, n_layer: usize, default_period: usize) -> Result<Vec<bool>> {
    match f.get("layer_types") {
        Some(Value::Array(a)) => {
            if a.len() != n_layer {
                return Err(bad(f.file, format!("layer_types has {} entries for {n_layer} layers", a.len())));
            }
            a.iter()
                .map(|x| match x.as_str() {
                    Some("sliding_attention") => Ok(true),
                    Some("full_attention") => Ok(false),
                    _ => Err(bad(f.file, format!("layer type {x} is not sliding_attention or full_attention"))),
                })
                .collect()
        }
        Some(other) => Err(bad(f.file, format!("layer_types = {other} is not a list"))),
        None => {
            let period = f.opt_usize("sliding_window_pattern")?.unwrap_or(default_period).max(1);
            Ok((0..n_layer).map(|i| (i + 1) % period != 0).collect())
        }
    }
}

impl HfArch {
    /// Parses `dir/config.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let file = dir.join("config.json");
        let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| bad(&file, e.to_string()))?;
        Self::from_json(&v, &file)
    }

    /// Parses a config.json value; `file` names it in errors.
    pub fn from_json(root: &Value, file: &Path) -> Result<Self> {
        let model_type = root.get("model_type").and_then(|x| x.as_str()).ok_or_else(|| bad(file, "missing field \"model_type\""))?;
        let mut family = Family::of(model_type)
            .ok_or_else(|| bad(file, format!("model_type {model_type:?} is not supported; known: {}", Family::KNOWN)))?;
        // A multimodal Gemma 3 keeps its language model under text_config.
        let nested = model_type == "gemma3" && root.get("text_config").is_some_and(|t| t.is_object());
        let v = if nested { &root["text_config"] } else { root };
        if nested {
            family = Family::Gemma3;
        }
        let f = Fields { v, file };
        let top = Fields { v: root, file };
        let mut eos = f.ids("eos_token_id");
        if eos.is_empty() {
            eos = top.ids("eos_token_id");
        }
        let bos = f.ids("bos_token_id").first().copied().or_else(|| top.ids("bos_token_id").first().copied());
        let arch = if family == Family::Gpt2 {
            let d = f.usize("n_embd")?;
            let n_head = f.usize("n_head")?;
            let n_layer = f.usize("n_layer")?;
            let head_dim = d / n_head.max(1);
            let base = if f.bool_or("scale_attn_weights", true)? { (head_dim as f64).powf(-0.5) } else { 1.0 };
            let by_layer = f.bool_or("scale_attn_by_inverse_layer_idx", false)?;
            if f.bool_or("add_cross_attention", false)? {
                return Err(bad(file, "GPT-2 with cross-attention is an encoder-decoder part, not a causal LM"));
            }
            HfArch {
                family,
                model_type: model_type.into(),
                vocab_size: f.usize("vocab_size")?,
                hidden_size: d,
                n_layer,
                n_head,
                n_kv_head: n_head,
                head_dim,
                intermediate_size: f.opt_usize("n_inner")?.unwrap_or(4 * d),
                norm_eps: f.f64_or("layer_norm_epsilon", 1e-5)?,
                max_positions: f.usize("n_positions")?,
                activation: Activation::parse(f.str("activation_function").unwrap_or("gelu_new"), file)?,
                attention_bias: true,
                mlp_bias: true,
                attn_scale: (0..n_layer).map(|l| if by_layer { base / (l + 1) as f64 } else { base }).collect(),
                attn_softcap: None,
                final_softcap: None,
                window: vec![None; n_layer],
                rope: Vec::new(),
                tie_word_embeddings: f.bool_or("tie_word_embeddings", true)?,
                bos_token_id: bos,
                eos_token_ids: eos,
                text_config_nested: false,
            }
        } else {
            let d = f.usize("hidden_size")?;
            let n_head = f.usize("num_attention_heads")?;
            let n_layer = f.usize("num_hidden_layers")?;
            let head_dim = f.opt_usize("head_dim")?.unwrap_or(d / n_head.max(1));
            let n_kv_head = f.opt_usize("num_key_value_heads")?.unwrap_or(n_head);
            if f.bool_or("use_bidirectional_attention", false)? {
                return Err(bad(file, "use_bidirectional_attention = true: not a causal language model"));
            }
            let activation = match family {
                Family::Llama => Activation::parse(f.str("hidden_act").unwrap_or("silu"), file)?,
                // Gemma 1 names it hidden_act, and its "gelu" means the tanh form (transformers' GemmaConfig).
                Family::Gemma => match f.str("hidden_activation").or_else(|| f.str("hidden_act")).unwrap_or("gelu_pytorch_tanh") {
                    "gelu" => Activation::GeluTanh,
                    other => Activation::parse(other, file)?,
                },
                _ => Activation::parse(f.str("hidden_activation").unwrap_or("gelu_pytorch_tanh"), file)?,
            };
            let scale = match family {
                Family::Llama | Family::Gemma => (head_dim as f64).powf(-0.5),
                _ => f.f64_or("query_pre_attn_scalar", head_dim as f64)?.powf(-0.5),
            };
            let sliding: Vec<bool> = match family {
                Family::Llama | Family::Gemma => vec![false; n_layer],
                Family::Gemma3 => layer_types(&f, n_layer, 6)?,
                _ => layer_types(&f, n_layer, 2)?,
            };
            let sliding_window = f.opt_usize("sliding_window")?;
            let window = sliding.iter().map(|&s| if s { sliding_window } else { None }).collect();
            let rope = Self::rope_per_layer(&f, family, &sliding)?;
            let (attn_softcap, final_softcap) = match family {
                Family::Llama | Family::Gemma => (None, None),
                _ => (f.opt_f64("attn_logit_softcapping")?, f.opt_f64("final_logit_softcapping")?),
            };
            HfArch {
                family,
                model_type: model_type.into(),
                vocab_size: f.usize("vocab_size")?,
                hidden_size: d,
                n_layer,
                n_head,
                n_kv_head,
                head_dim,
                intermediate_size: f.usize("intermediate_size")?,
                norm_eps: f.f64_or("rms_norm_eps", 1e-6)?,
                max_positions: f.opt_usize("max_position_embeddings")?.unwrap_or(2048),
                activation,
                attention_bias: f.bool_or("attention_bias", false)?,
                mlp_bias: f.bool_or("mlp_bias", false)?,
                attn_scale: vec![scale; n_layer],
                attn_softcap,
                final_softcap,
                window,
                rope,
                // A nested text model takes the flag of the whole model when its own is absent.
                tie_word_embeddings: match f.get("tie_word_embeddings") {
                    Some(_) => f.bool_or("tie_word_embeddings", true)?,
                    None => top.bool_or("tie_word_embeddings", family.is_gemma())?,
                },
                bos_token_id: bos,
                eos_token_ids: eos,
                text_config_nested: nested,
            }
        };
        arch.validate(file)?;
        Ok(arch)
    }

    /// RoPE per layer: one spec for Llama/Gemma/Gemma 2/VaultGemma, local vs global for Gemma 3.
    fn rope_per_layer(f: &Fields, family: Family, sliding: &[bool]) -> Result<Vec<RopeSpec>> {
        let params = f.get("rope_parameters");
        let legacy_theta = f.opt_f64("rope_theta")?;
        if family == Family::Gemma3 {
            // transformers 5: rope_parameters = {full_attention: {...}, sliding_attention: {...}};
            // transformers 4: rope_theta (global), rope_local_base_freq (local), rope_scaling (global only).
            let (global, local) = match params {
                Some(p) if p.get("full_attention").is_some() || p.get("sliding_attention").is_some() => (
                    rope_from(p.get("full_attention"), legacy_theta.unwrap_or(1e6), f.file)?,
                    rope_from(p.get("sliding_attention"), f.f64_or("rope_local_base_freq", 1e4)?, f.file)?,
                ),
                _ => (
                    rope_from(f.get("rope_scaling").or(params), legacy_theta.unwrap_or(1e6), f.file)?,
                    RopeSpec { theta: f.f64_or("rope_local_base_freq", 1e4)?, scaling: RopeScaling::Default },
                ),
            };
            return Ok(sliding.iter().map(|&s| if s { local.clone() } else { global.clone() }).collect());
        }
        let spec = rope_from(params.or_else(|| f.get("rope_scaling")), legacy_theta.unwrap_or(1e4), f.file)?;
        Ok(vec![spec; sliding.len()])
    }

    fn validate(&self, file: &Path) -> Result<()> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden size", self.hidden_size),
            ("layers", self.n_layer),
            ("heads", self.n_head),
            ("key/value heads", self.n_kv_head),
            ("head_dim", self.head_dim),
            ("intermediate size", self.intermediate_size),
            ("max positions", self.max_positions),
        ];
        for (what, n) in positive {
            if n == 0 {
                return Err(bad(file, format!("{what} must be positive")));
            }
        }
        if self.n_head % self.n_kv_head != 0 {
            return Err(bad(file, format!("{} attention heads are not a multiple of {} key/value heads", self.n_head, self.n_kv_head)));
        }
        if self.family == Family::Gpt2 && self.hidden_size % self.n_head != 0 {
            return Err(bad(file, format!("n_head {} does not divide n_embd {}", self.n_head, self.hidden_size)));
        }
        if !self.rope.is_empty() && self.head_dim % 2 != 0 {
            return Err(bad(file, format!("head_dim {} must be even for RoPE", self.head_dim)));
        }
        Ok(())
    }

    /// Parameters in the checkpoint (embedding counted once when tied).
    pub fn num_params(&self) -> usize {
        let (d, h, kv, hd, m, v) = (self.hidden_size, self.n_head, self.n_kv_head, self.head_dim, self.intermediate_size, self.vocab_size);
        let attn = d * (h + 2 * kv) * hd + h * hd * d;
        let mlp = if self.family == Family::Gpt2 { 2 * d * m } else { 3 * d * m };
        let head = if self.tie_word_embeddings { 0 } else { v * d };
        let pos = if self.family == Family::Gpt2 { self.max_positions * d } else { 0 };
        v * d + pos + self.n_layer * (attn + mlp) + head
    }
}
