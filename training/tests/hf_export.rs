//! Our GPT exported as a Hugging Face gpt2 checkpoint reads back through the hf loader with the
//! same logits, and a gpt2 checkpoint initialises our GPT with the same logits (issue 14).

use candle_core::{DType, Device, Tensor};
use vg_training::hf::export::{export_gpt2, gpt_from_gpt2};
use vg_training::hf::HfModel;
use vg_training::{Gpt, GptConfig};

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

#[test]
fn exported_gpt_reads_back_with_equal_logits_and_initialises_our_gpt() {
    let texts = ["the cat sat on the mat", "a dog ran in the park", "the bird sang in the tree"].repeat(20);
    let tok = vg_corpora::tokenizer::train_bpe(texts.iter(), 300).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let tok_path = tmp.path().join("tokenizer.json");
    std::fs::write(&tok_path, vg_corpora::tokenizer::to_json(&tok).unwrap()).unwrap();
    let cfg = GptConfig { preset: "custom".into(), vocab_size: tok.get_vocab_size(true), context_length: 32, n_layer: 2, n_embd: 32, n_head: 4, mlp_ratio: 4, ln_eps: 1e-5 };
    let gpt = Gpt::new(&cfg, DType::F32, 5).unwrap();
    let out = tmp.path().join("hf");
    export_gpt2(&gpt, None, false, &tok_path, &out).unwrap();
    let hf = HfModel::load(&out).unwrap();
    // The exported tokenizer adds <|bos|> … <|eos|>, as our training inputs.
    let ids = hf.encode("the cat sat in the park").unwrap();
    let plain = tok.encode("the cat sat in the park", false).unwrap().get_ids().to_vec();
    assert_eq!(ids, vg_training::model_input(&plain, 32));
    let x = Tensor::new(ids.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
    let ours = gpt.logits(&x).unwrap();
    let theirs = hf.decoder().forward(&x, None, 0, false).unwrap();
    assert!(max_diff(&ours, &theirs) < 1e-4, "logits differ by {}", max_diff(&ours, &theirs));
    let (back, back_cfg) = gpt_from_gpt2(&out, DType::F32).unwrap();
    assert_eq!(back_cfg.n_layer, 2);
    assert!(max_diff(&back.logits(&x).unwrap(), &ours) < 1e-6);
    let cfg_json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg_json["tie_word_embeddings"], false);
    // A tied public checkpoint (the shared gpt2) also initialises our GPT: its head is the embedding.
    let shared = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/reference/hf/gpt2");
    let (init, _) = gpt_from_gpt2(std::path::Path::new(shared), DType::F32).unwrap();
    let hf2 = HfModel::load(std::path::Path::new(shared)).unwrap();
    let x2 = Tensor::new(&[5u32, 77, 300, 12, 9], &Device::Cpu).unwrap().unsqueeze(0).unwrap();
    let d = max_diff(&init.logits(&x2).unwrap(), &hf2.decoder().forward(&x2, None, 0, false).unwrap());
    assert!(d < 1e-4, "initialised GPT differs from the checkpoint by {d}");
}
