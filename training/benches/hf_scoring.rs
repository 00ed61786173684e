//! Scoring speed of a GPT-2-small-sized checkpoint (issue 14): vg-training's Hugging Face `gpt2`
//! loader scoring batches with its KV-free full-sequence forward — per predicted token log p of
//! the actual token plus mu and sigma of log p over the vocabulary, what `vg-audit score` and
//! `audit --model` compute — next to transformers (PyTorch, CPU) on the same checkpoint, the same
//! inputs and the same number of threads, measured in the same run by `hf_scoring.py` beside this
//! file; and, for reference, our own GPT with the same weights (`scoring::token_stats`).
//!
//! Model: GPT-2 small, 124.4 M parameters (12 layers, d 768, 12 heads, vocabulary 50257, 1024
//! positions, head tied to the embedding as in GPT-2), random weights written by
//! `hf::export::export_gpt2` to a temporary directory and then tied (lm_head.weight dropped,
//! `tie_word_embeddings: true`); our GPT reads it back with `gpt_from_gpt2` (head = embedding). Inputs: HF_BENCH_SEQS sequences (default 4) of HF_BENCH_LEN tokens (default 128, not
//! the full 1024 context, to keep the default run under a minute), random ids; median of
//! HF_BENCH_REPS timed passes (default 3) after a warm-up.
//!
//! Run: `RAYON_NUM_THREADS=1 PYTHON=python3 cargo bench -p vg-training --bench hf_scoring`
//! (PYTHON needs torch + transformers; without it only our numbers are printed). The last line,
//! `ours_tok_s=<x> transformers_tok_s=<y> ratio=<x/y> threads=<n>`, is for scripts.

use std::process::Command;
use std::time::Instant;

use candle_core::DType;
use rand::{Rng, SeedableRng};
use vg_training::hf::export::{export_gpt2, gpt_from_gpt2};
use vg_training::hf::HfModel;
use vg_training::token_stats;
use vg_training::{Gpt, GptConfig};

/// Makes the exported checkpoint GPT-2's shape: no separate head (the embedding is the head).
fn tie_head(ckpt: &std::path::Path) {
    let weights = ckpt.join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&weights, &candle_core::Device::Cpu).expect("read weights");
    tensors.remove("lm_head.weight");
    candle_core::safetensors::save(&tensors, &weights).expect("write weights");
    let config = ckpt.join("config.json");
    let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&config).expect("config")).expect("json");
    json["tie_word_embeddings"] = true.into();
    std::fs::write(&config, json.to_string()).expect("write config");
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const VOCAB: usize = 50257;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median seconds of `reps` calls of `f` after one warm-up call.
fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    median((0..reps).map(|_| {
        let t0 = Instant::now();
        f();
        t0.elapsed().as_secs_f64()
    }).collect())
}

fn main() {
    let (seqs_n, len, reps) = (env("HF_BENCH_SEQS", 4), env("HF_BENCH_LEN", 128), env("HF_BENCH_REPS", 3));
    let threads = std::env::var("RAYON_NUM_THREADS").ok().and_then(|s| s.parse::<usize>().ok());
    if threads.is_none() {
        eprintln!("note: RAYON_NUM_THREADS is unset; candle will use every core");
    }
    let threads = threads.unwrap_or_else(rayon::current_num_threads);
    let cfg = GptConfig { preset: "custom".into(), vocab_size: VOCAB, context_length: 1024, n_layer: 12, n_embd: 768, n_head: 12, mlp_ratio: 4, ln_eps: 1e-5 };
    let random = Gpt::new(&cfg, DType::F32, 0).expect("model");
    let dir = tempfile::tempdir().expect("temp dir");
    // Any tokenizer with at most VOCAB entries: scoring takes token ids.
    let tok = vg_corpora::tokenizer::train_bpe(["a small text for a tokenizer"; 8].iter(), 300).expect("tokenizer");
    let tok_path = dir.path().join("tokenizer.json");
    std::fs::write(&tok_path, vg_corpora::tokenizer::to_json(&tok).expect("json")).expect("write tokenizer");
    let ckpt = dir.path().join("gpt2-small");
    export_gpt2(&random, None, false, &tok_path, &ckpt).expect("export");
    drop(random);
    tie_head(&ckpt);
    let (gpt, _) = gpt_from_gpt2(&ckpt, DType::F32).expect("our GPT from the checkpoint");
    let hf = HfModel::load(&ckpt).expect("load checkpoint");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let seqs: Vec<Vec<u32>> = (0..seqs_n).map(|_| (0..len).map(|_| rng.random_range(3..VOCAB as u32)).collect()).collect();
    let inputs = dir.path().join("inputs.json");
    std::fs::write(&inputs, serde_json::to_string(&seqs).expect("json")).expect("write inputs");
    let tokens = (seqs_n * (len - 1)) as f64;

    let mut mean_lp = 0.0;
    let ours_s = time(reps, || {
        let stats = hf.token_stats(&seqs).expect("scoring");
        mean_lp = stats.iter().flat_map(|s| s.logprob.iter()).sum::<f64>() / tokens;
    });
    // Same-run baseline of our side: the forward pass alone (logits), what the statistics add to it.
    let ids: Vec<u32> = seqs.iter().flat_map(|s| s[..len - 1].iter().copied()).collect();
    let ids = candle_core::Tensor::from_vec(ids, (seqs_n, len - 1), &candle_core::Device::Cpu).expect("ids");
    let forward_s = time(reps, || {
        hf.decoder().forward(&ids, None, 0, false).expect("forward");
    });
    let gpt_s = time(reps, || {
        token_stats(&gpt, &seqs, seqs_n).expect("scoring");
    });
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/hf_scoring.py");
    let theirs: Option<serde_json::Value> = Command::new(&python)
        .args([script, ckpt.to_str().unwrap(), inputs.to_str().unwrap(), &threads.to_string(), &reps.to_string()])
        .output()
        .ok()
        .and_then(|o| {
            if !o.status.success() {
                eprintln!("transformers side failed ({python}): {}", String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or(""));
            }
            String::from_utf8_lossy(&o.stdout).lines().last().and_then(|l| serde_json::from_str(l).ok())
        });

    println!(
        "GPT-2 small ({:.1} M params, tied head, vocab {VOCAB}), {seqs_n} x {len} tokens ({} predicted), median of {reps}, {threads} thread(s)",
        hf.arch().num_params() as f64 / 1e6,
        tokens
    );
    let ours = tokens / ours_s;
    println!("  ours, hf gpt2 loader (KV-free batched forward + log p, mu, sigma): {ours_s:.2} s, {ours:.0} tokens/s");
    println!("  ours, hf gpt2 loader, forward only (logits):                      {forward_s:.2} s, {:.0} tokens/s", tokens / forward_s);
    println!("  ours, vg-training GPT, same weights:                             {gpt_s:.2} s, {:.0} tokens/s", tokens / gpt_s);
    match theirs {
        Some(t) => {
            let tr = t["tokens_per_s"].as_f64().unwrap_or(f64::NAN);
            println!(
                "  transformers {} / torch {} ({} attention, {} thread(s)): {:.2} s, {tr:.0} tokens/s",
                t["transformers"].as_str().unwrap_or("?"), t["torch"].as_str().unwrap_or("?"), t["attn_implementation"].as_str().unwrap_or("?"), t["threads"], t["seconds"].as_f64().unwrap_or(f64::NAN)
            );
            // Same weights and inputs: the mean log p must agree, or the comparison is void.
            let theirs_lp = t["mean_logprob"].as_f64().unwrap_or(f64::NAN);
            println!("  mean log p: ours {mean_lp:.6}, transformers {theirs_lp:.6}");
            println!("  ratio ours / transformers (tokens/s): {:.2}x", ours / tr);
            println!("ours_tok_s={ours:.1} transformers_tok_s={tr:.1} ratio={:.3} threads={threads}", ours / tr);
        }
        None => {
            println!("  transformers: not measured (set PYTHON to a Python with torch and transformers)");
            println!("ours_tok_s={ours:.1} transformers_tok_s=nan ratio=nan threads={threads}");
        }
    }
}
