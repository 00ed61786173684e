//! End to end: `vg-audit train --init DIR` continues a Hugging Face gpt2 checkpoint with DP-SGD on
//! a prepared corpus re-tokenized by the checkpoint's tokenizer; a checkpoint that is not gpt2 is
//! refused with exit 2 (issue 14).

use std::path::Path;


use crate::common::{s, vg};

const HF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/reference/hf");



#[test]
fn train_init_continues_gpt2_with_dp_and_refuses_llama() {
    let tmp = tempfile::tempdir().unwrap();
    let texts = Path::new(HF).join("texts.jsonl");
    let corpus = tmp.path().join("corpus");
    let r = vg(&["corpus", "prepare", "-i", s(&texts), "-o", s(&corpus), "--seed", "7", "--vocab-size", "300", "--population-fraction", "0.3"]);
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));

    let gpt2 = Path::new(HF).join("gpt2");
    let out = tmp.path().join("model");
    let r = vg(&[
        "train", "--corpus", s(&corpus), "--init", s(&gpt2), "--out", s(&out), "--steps", "2", "--batch-size", "8",
        "--noise-multiplier", "1.0", "--warmup-steps", "1", "--json",
    ]);
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    let json: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let init = &json["train_config"]["init"];
    assert_eq!(init["path"].as_str().unwrap(), s(&gpt2.canonicalize().unwrap()));
    let sha = vg_corpora::fsutil::sha256_file(gpt2.join("model.safetensors")).unwrap();
    assert_eq!(init["sha256"]["model.safetensors"].as_str().unwrap(), sha);
    // Architecture and tokenizer are the checkpoint's, not the corpus's.
    assert_eq!(json["architecture"]["n_embd"], 64);
    assert_eq!(json["architecture"]["vocab_size"], 512);
    let tok_sha = vg_corpora::fsutil::sha256_file(gpt2.join("tokenizer.json")).unwrap();
    assert_eq!(json["data"]["tokenizer_sha256"].as_str().unwrap(), tok_sha);
    let eps = json["dp"]["epsilon"].as_f64().unwrap();
    assert!(eps > 0.0 && eps.is_finite() && json["dp"]["steps"] == 2, "{}", json["dp"]);
    // OUT/hf: the trained model as a gpt2 checkpoint with the public one's tokenizer, special
    // tokens (bos = eos = 1 in this fixture) and the DP guarantee.
    assert_eq!(std::fs::read(out.join("hf/tokenizer.json")).unwrap(), std::fs::read(gpt2.join("tokenizer.json")).unwrap());
    let hf_cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("hf/config.json")).unwrap()).unwrap();
    assert_eq!((hf_cfg["bos_token_id"].as_u64(), hf_cfg["eos_token_id"].as_u64()), (Some(1), Some(1)));
    assert!(hf_cfg["pad_token_id"].is_null());
    assert_eq!(hf_cfg["dp_epsilon"].as_f64(), Some(eps));
    assert!(std::fs::read_to_string(out.join("hf/README.md")).unwrap().contains(&sha));

    // `score --model` reads the trained model with the checkpoint's tokenizer: the same token counts
    // as transformers on the checkpoint.
    let scores = tmp.path().join("scores.csv");
    let r = vg(&["score", "--model", s(&out), "--input", s(&texts), "--max-tokens", "128", "--out", s(&scores)]);
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    let expected = std::fs::read_to_string(Path::new(HF).join("expected.csv")).unwrap();
    for line in std::fs::read_to_string(&scores).unwrap().lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        let w: Vec<&str> = expected.lines().find(|l| l.starts_with(&format!("gpt2,{},", c[0]))).unwrap().split(',').collect();
        assert_eq!(c[1], w[2], "predicted tokens of {}", c[0]);
    }

    let gen = tmp.path().join("gen.jsonl");
    let r = vg(&["generate", "--model", s(&out), "--input", s(&texts), "--prompt-tokens", "16", "--max-new-tokens", "8", "--greedy", "--out", s(&gen)]);
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(std::fs::read_to_string(&gen).unwrap().lines().count(), 40);

    // Not a gpt2 checkpoint → exit 2, naming the file and why; nothing trained.
    let bad = tmp.path().join("bad");
    let r = vg(&["train", "--corpus", s(&corpus), "--init", &format!("{HF}/llama"), "--out", s(&bad), "--steps", "2"]);
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("llama/config.json") && err.contains("only gpt2"), "{err}");
    assert!(!bad.join("model.json").exists());
}
