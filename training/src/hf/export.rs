//! Our GPT written as a Hugging Face `gpt2` checkpoint: `model.safetensors` in GPT2LMHeadModel's
//! layout (Conv1D weights stored (in, out), so every linear weight is transposed; our head is
//! untied, so `lm_head.weight` is written and `tie_word_embeddings` is false), `config.json`,
//! the run's `tokenizer.json` with a post-processor adding `<|bos|>` … `<|eos|>` (the inputs our
//! model was trained on) — or, for a model started from a public checkpoint (`train --init`), that
//! checkpoint's tokenizer and special-token ids — and a `README.md` model card with the DP parameters.

use std::collections::HashMap;
use std::path::Path;

use candle_core::Tensor;

use crate::checkpoint::{write_tensors, DpRecord};
use crate::model::Gpt;
use crate::{Error, Result};

/// Our parameter name → (GPT-2 name, transpose).
fn gpt2_name(ours: &str) -> (String, bool) {
    let map = [
        ("ln1.", "ln_1."),
        ("ln2.", "ln_2."),
        ("attn.qkv.", "attn.c_attn."),
        ("attn.proj.", "attn.c_proj."),
        ("mlp.fc1.", "mlp.c_fc."),
        ("mlp.fc2.", "mlp.c_proj."),
    ];
    match ours {
        "lm_head.weight" => return (ours.to_string(), false),
        "wte" | "wpe" => return (format!("transformer.{ours}.weight"), false),
        _ => {}
    }
    let mut name = ours.to_string();
    for (a, b) in map {
        name = name.replace(a, b);
    }
    let transpose = name.starts_with("h.") && name.ends_with(".weight") && !name.contains(".ln_");
    (format!("transformer.{name}"), transpose)
}

/// How an exported checkpoint turns text into the inputs the model was trained on.
enum Inputs<'a> {
    /// A vg-audit run's tokenizer: a post-processor adding `<|bos|>` … `<|eos|>` is written.
    Ours(&'a Path),
    /// Started from a public checkpoint (`train --init`): its tokenizer.json as it is, and the
    /// special-token ids of its config.json.
    Continued(&'a super::init::InitCheckpoint),
}

/// Writes `model` (with model.json's `dp` record and `dp_guarantee`, and the run's tokenizer) to
/// `out` as a `gpt2` checkpoint.
pub fn export_gpt2(model: &Gpt, dp_record: Option<&DpRecord>, dp_guarantee: bool, tokenizer_json: &Path, out: &Path) -> Result<()> {
    write_gpt2(model, dp_record, dp_guarantee, Inputs::Ours(tokenizer_json), out)
}

/// Writes a model trained from the public checkpoint `init` (`train --init`) to `out` as a `gpt2`
/// checkpoint with that checkpoint's tokenizer and special tokens, so it reads text as in training.
pub fn export_continued_gpt2(model: &Gpt, dp_record: Option<&DpRecord>, dp_guarantee: bool, init: &super::init::InitCheckpoint, out: &Path) -> Result<()> {
    write_gpt2(model, dp_record, dp_guarantee, Inputs::Continued(init), out)
}

fn write_gpt2(model: &Gpt, dp_record: Option<&DpRecord>, dp_guarantee: bool, inputs: Inputs, out: &Path) -> Result<()> {
    let cfg = model.config();
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for (name, var) in model.param_names().iter().zip(model.params()) {
        let (hf, transpose) = gpt2_name(name);
        let t = var.as_tensor().to_dtype(candle_core::DType::F32)?;
        tensors.insert(hf, if transpose { t.t()?.contiguous()? } else { t });
    }
    write_tensors(&out.join("model.safetensors"), &tensors)?;
    let dp = dp_record.filter(|_| dp_guarantee);
    let mut config = serde_json::json!({
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "vocab_size": cfg.vocab_size,
        "n_embd": cfg.n_embd,
        "n_layer": cfg.n_layer,
        "n_head": cfg.n_head,
        "n_positions": cfg.context_length,
        "n_inner": cfg.mlp_ratio * cfg.n_embd,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": cfg.ln_eps,
        "scale_attn_weights": true,
        "tie_word_embeddings": false,
        "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
        "dtype": "float32",
    });
    for (key, ours) in [("pad_token_id", vg_corpora::tokens::PAD), ("bos_token_id", vg_corpora::tokens::BOS), ("eos_token_id", vg_corpora::tokens::EOS)] {
        config[key] = match &inputs {
            Inputs::Ours(_) => ours.into(),
            Inputs::Continued(init) => init_config(init)?.get(key).cloned().unwrap_or(serde_json::Value::Null),
        };
    }
    if let Some(d) = dp {
        config["dp_epsilon"] = d.epsilon.into();
        config["dp_delta"] = d.delta.into();
    }
    let write = |name: &str, text: String| -> Result<()> {
        let p = out.join(name);
        vg_corpora::fsutil::atomic_write(&p, text.as_bytes()).map_err(|e| Error::io(&p, e))
    };
    write("config.json", serde_json::to_string_pretty(&config)?)?;
    let (tokenizer_text, input_note) = match &inputs {
        Inputs::Ours(path) => (framed_tokenizer(path)?, "Inputs are `<|bos|>` + text + `<|eos|>` as the tokenizer's post-processor adds them"),
        Inputs::Continued(init) => {
            init.verify()?;
            let path = init.tokenizer_path();
            (std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?, "Continued pre-training of a public gpt2 checkpoint (its tokenizer and special tokens, unchanged)")
        }
    };
    write("tokenizer.json", tokenizer_text)?;
    let guarantee = match dp {
        Some(d) => format!(
            "Trained with DP-SGD by vg-audit: ε = {:.4}, δ = {:.3e} per training example ({} accountant, {} relation), \
noise multiplier σ = {:.4}, sampling rate q = {:.3e}, {} steps, clip norm C = {}.",
            d.epsilon, d.delta, d.accountant, d.neighbouring, d.noise_multiplier, d.sampling_rate, d.steps, d.clip_norm
        ),
        None if dp_record.is_some() => "Trained with DP-SGD but a fixed noise seed (--insecure-seed): **no DP guarantee**.".into(),
        None => "Trained without differential privacy: **no privacy guarantee**.".into(),
    };
    let card = format!(
        "---\nlibrary_name: transformers\npipeline_tag: text-generation\n---\n# vg-audit GPT exported as GPT-2\n\n{guarantee}\n\n\
Architecture: {} layers, d = {}, {} heads, context {}, vocabulary {} ({} parameters). {input_note}{}; any fine-tuning of this checkpoint outside a DP procedure \
voids the guarantee for the new data.\n",
        cfg.n_layer, cfg.n_embd, cfg.n_head, cfg.context_length, cfg.vocab_size, model.num_params(),
        match &inputs {
            Inputs::Continued(init) => format!(
                ", from `{}` (model.safetensors SHA-256 {}; public weights, so starting from them costs no privacy)",
                init.path.display(),
                init.sha256.get("model.safetensors").map(String::as_str).unwrap_or("of its shards in model.json")
            ),
            Inputs::Ours(_) => String::new(),
        }
    );
    write("README.md", card)?;
    Ok(())
}

/// The run's tokenizer with a post-processor adding `<|bos|>` … `<|eos|>` (our training inputs).
fn framed_tokenizer(tokenizer_json: &Path) -> Result<String> {
    let mut tok = tokenizers::Tokenizer::from_file(tokenizer_json).map_err(|e| Error::BadFile { path: tokenizer_json.to_path_buf(), why: e.to_string() })?;
    let template = tokenizers::processors::template::TemplateProcessing::builder()
        .try_single(format!("{} $0 {}", vg_corpora::tokens::BOS_STR, vg_corpora::tokens::EOS_STR))
        .and_then(|b| b.try_pair(format!("{} $A {} $B:1 {}:1", vg_corpora::tokens::BOS_STR, vg_corpora::tokens::EOS_STR, vg_corpora::tokens::EOS_STR)))
        .map_err(|e| Error::param("tokenizer template", "bos/eos", e.to_string()))?
        .special_tokens(vec![(vg_corpora::tokens::BOS_STR, vg_corpora::tokens::BOS), (vg_corpora::tokens::EOS_STR, vg_corpora::tokens::EOS)])
        .build()
        .map_err(|e| Error::param("tokenizer template", "bos/eos", e.to_string()))?;
    tok.with_post_processor(Some(template));
    tok.to_string(true).map_err(|e| Error::param("tokenizer", "json", e.to_string()))
}

/// config.json of the checkpoint a model started from.
fn init_config(init: &super::init::InitCheckpoint) -> Result<serde_json::Value> {
    let path = init.path.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::BadFile { path, why: e.to_string() })
}

/// Our GPT's architecture for the `gpt2` checkpoint in `dir`, from its config.json alone (no
/// weights read); refused unless our GPT can hold it (gpt2, tanh GELU, MLP width a multiple of d).
pub fn gpt2_config(dir: &Path) -> Result<crate::GptConfig> {
    Ok(gpt2_arch_and_config(dir)?.1)
}

fn gpt2_arch_and_config(dir: &Path) -> Result<(super::HfArch, crate::GptConfig)> {
    let arch = super::HfArch::load(dir)?;
    let file = dir.join("config.json");
    if arch.family != super::Family::Gpt2 {
        return Err(Error::BadFile { path: file, why: format!("model_type {:?}: only gpt2 checkpoints can initialise our GPT", arch.model_type) });
    }
    if arch.activation != super::config::Activation::GeluTanh || arch.intermediate_size % arch.hidden_size != 0 {
        return Err(Error::BadFile { path: file, why: "our GPT needs the tanh GELU (gelu_new) and an MLP width that is a multiple of n_embd".into() });
    }
    let cfg = crate::GptConfig {
        preset: "custom".into(),
        vocab_size: arch.vocab_size,
        context_length: arch.max_positions,
        n_layer: arch.n_layer,
        n_embd: arch.hidden_size,
        n_head: arch.n_head,
        mlp_ratio: arch.intermediate_size / arch.hidden_size,
        ln_eps: arch.norm_eps,
    };
    Ok((arch, cfg))
}

/// Our GPT's weights from a Hugging Face `gpt2` checkpoint directory (continued pre-training):
/// the config must describe a GPT-2 our architecture can hold (tanh GELU, biases everywhere);
/// a tied head is copied into our untied one.
pub fn gpt_from_gpt2(dir: &Path, dtype: candle_core::DType) -> Result<(Gpt, crate::GptConfig)> {
    let (arch, cfg) = gpt2_arch_and_config(dir)?;
    let shards = super::weights::Shards::open(dir)?;
    let prefix = if shards.has("transformer.wte.weight") { "transformer." } else { "" };
    let mut tensors = HashMap::new();
    for (ours, shape) in crate::model::param_shapes(&cfg) {
        let (hf, transpose) = gpt2_name(&ours);
        let hf = if ours == "lm_head.weight" {
            if shards.has("lm_head.weight") && !arch.tie_word_embeddings { "lm_head.weight".to_string() } else { format!("{prefix}wte.weight") }
        } else {
            format!("{prefix}{}", hf.trim_start_matches("transformer."))
        };
        let want: Vec<usize> = if transpose { vec![shape[1], shape[0]] } else { shape.clone() };
        let t = shards.get(&hf, &want)?;
        tensors.insert(ours, if transpose { t.t()?.contiguous()? } else { t });
    }
    Ok((Gpt::from_tensors(&cfg, dtype, tensors)?, cfg))
}
