//! `train --init` at the library level (issue 14): a Hugging Face gpt2 checkpoint as the start of
//! our training gives transformers' own losses before step 0, is recorded by path and SHA-256,
//! and is refused when it is not gpt2 or changed under a resumed run.

use std::path::Path;

use vg_training::hf::init::InitCheckpoint;
use vg_training::token_stats;
use vg_training::{DpConfig, LoadedModel, PrivacyTarget, TrainConfig};

use crate::common;

const HF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/reference/hf");

#[test]
fn gpt2_init_gives_the_transformers_losses_before_step_0_and_trains_with_dp() {
    let init = InitCheckpoint::describe(&Path::new(HF).join("gpt2")).unwrap();
    assert_eq!(init.model_type, "gpt2");
    let weights = Path::new(HF).join("gpt2/model.safetensors");
    assert_eq!(init.sha256["model.safetensors"], vg_corpora::fsutil::sha256_file(&weights).unwrap());
    assert_eq!(init.sha256.len(), 3, "{:?}", init.sha256.keys());

    // The weights training starts from, on the checkpoint tokenizer's inputs cut to 128 ids.
    let (model, cfg) = init.load(candle_core::DType::F32).unwrap();
    let records = common::reference_texts();
    let plain: Vec<&str> = records.iter().map(|(_, t)| t.as_str()).collect();
    let seqs = init.encode_all(&plain, 128).unwrap();
    let stats = token_stats(&model, &seqs, 8).unwrap();
    let expected = std::fs::read_to_string(Path::new(HF).join("expected.csv")).unwrap();
    let mut worst = 0f64;
    for ((id, _), s) in records.iter().zip(&stats) {
        let row: Vec<&str> = expected.lines().find(|l| l.starts_with(&format!("gpt2,{id},"))).unwrap().split(',').collect();
        assert_eq!(s.logprob.len(), row[2].parse::<usize>().unwrap(), "predicted tokens of {id}");
        let mean_nll = -s.logprob.iter().sum::<f64>() / s.logprob.len() as f64;
        worst = worst.max((mean_nll - row[3].parse::<f64>().unwrap()).abs());
    }
    assert!(worst < 1e-4, "worst |Δ mean_nll| = {worst}");

    // Two DP-SGD steps from it: model.json records the checkpoint, ε is accounted as usual.
    let dir = tempfile::tempdir().unwrap();
    let dp = DpConfig { clip_norm: 1.0, target: PrivacyTarget::NoiseMultiplier { sigma: 1.0, delta: 1e-5 }, insecure_seed: Some(3), ..DpConfig::default() };
    let tc = TrainConfig { steps: 2, batch_size: 8, micro_batch_size: 8, warmup_steps: 1, lr: 1e-3, eval_every: 0, checkpoint_every: 0, dp: Some(dp), init: Some(init.clone()), ..TrainConfig::default() };
    let json = vg_training::train(&seqs[..30], &seqs[30..], &cfg, &tc, dir.path(), false, &mut |_| {}).unwrap();
    assert_eq!(json.train_config.init.as_ref(), Some(&init));
    let dp = json.dp.unwrap();
    assert!(dp.epsilon > 0.0 && dp.epsilon.is_finite() && dp.steps == 2);
    let trained = LoadedModel::load(dir.path()).unwrap();
    let back: vg_training::ModelJson = serde_json::from_str(&std::fs::read_to_string(dir.path().join("model.json")).unwrap()).unwrap();
    assert_eq!(back.train_config.init, Some(init.clone()));
    // Exported with the checkpoint's tokenizer, it reads back through the hf loader with equal scores.
    let hf_dir = dir.path().join("hf");
    vg_training::hf::export::export_continued_gpt2(trained.model(), back.dp.as_ref(), back.dp_guarantee, &init, &hf_dir).unwrap();
    let hf = vg_training::hf::HfModel::load(&hf_dir).unwrap();
    assert_eq!(hf.encode(&records[0].1).unwrap().into_iter().take(128).collect::<Vec<_>>(), seqs[0]);
    let via_hf = hf.token_stats(&seqs[..4]).unwrap();
    let ours = token_stats(trained.model(), &seqs[..4], 4).unwrap();
    for (a, b) in via_hf.iter().zip(&ours) {
        assert!(a.logprob.iter().zip(&b.logprob).all(|(x, y)| (x - y).abs() < 1e-4));
    }
    // The steps moved the weights, but not far: losses stay near the checkpoint's.
    let after = token_stats(trained.model(), &seqs[..4], 4).unwrap();
    let d: f64 = after.iter().zip(&stats).map(|(a, b)| (a.logprob.iter().sum::<f64>() - b.logprob.iter().sum::<f64>()).abs()).sum();
    assert!(d > 0.0 && d / 4.0 < 50.0, "summed log-prob change {d}");
}

#[test]
fn a_checkpoint_that_is_not_gpt2_or_changed_is_refused() {
    let err = InitCheckpoint::describe(&Path::new(HF).join("llama")).unwrap_err().to_string();
    assert!(err.contains("config.json") && err.contains("only gpt2"), "{err}");
    // A copy of gpt2 whose weights change after it was recorded (a resume must not continue from it).
    let tmp = tempfile::tempdir().unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(Path::new(HF).join("gpt2").join(f), tmp.path().join(f)).unwrap();
    }
    let init = InitCheckpoint::describe(tmp.path()).unwrap();
    assert!(init.verify().is_ok());
    let cfg = tmp.path().join("config.json");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("\"n_positions\": 256", "\"n_positions\": 128");
    std::fs::write(&cfg, text).unwrap();
    let err = init.load(candle_core::DType::F32).err().unwrap().to_string();
    assert!(err.contains("config.json") && err.contains("changed"), "{err}");
}
