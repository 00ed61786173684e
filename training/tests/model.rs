//! Model-level checks: presets' sizes, model inputs, the learning-rate schedule, shadow splits,
//! and the per-token statistics against a direct computation from the logits.

use crate::common;

use candle_core::{DType, Device, IndexOp, Tensor};
use vg_training::token_stats;
use vg_training::{model_input, shadow_assignment, Gpt, GptConfig, TrainConfig};

#[test]
fn presets_have_the_advertised_sizes() {
    let tiny = GptConfig::preset("tiny", 4096).unwrap().num_params();
    let small = GptConfig::preset("small", 4096).unwrap().num_params();
    let base = GptConfig::preset("base", 4096).unwrap().num_params();
    assert!(tiny < 1_000_000, "tiny {tiny}");
    assert!((1_000_000..=3_000_000).contains(&small), "small {small}");
    assert!((10_000_000..=20_000_000).contains(&base), "base {base}");
    assert!(GptConfig::preset("huge", 100).unwrap_err().to_string().contains("huge"));
    let model = Gpt::new(&GptConfig::preset("tiny", 100).unwrap(), DType::F32, 0).unwrap();
    assert_eq!(model.num_params(), GptConfig::preset("tiny", 100).unwrap().num_params());
    assert_eq!(model.param_shapes().len(), model.param_names().len());
    assert_eq!(model.param_names()[0], "wte");
}

#[test]
fn model_input_adds_bos_eos_and_truncates() {
    assert_eq!(model_input(&[7, 8, 9], 10), vec![1, 7, 8, 9, 2]);
    assert_eq!(model_input(&[7, 8, 9], 3), vec![1, 7, 8]);
    assert_eq!(model_input(&[], 4), vec![1, 2]);
}

#[test]
fn learning_rate_warms_up_then_decays_by_cosine() {
    let cfg = TrainConfig { lr: 1.0, warmup_steps: 10, steps: 110, min_lr_ratio: 0.1, ..TrainConfig::default() };
    assert!((cfg.lr_at(0) - 0.1).abs() < 1e-12);
    assert!((cfg.lr_at(9) - 1.0).abs() < 1e-12);
    assert!((cfg.lr_at(10) - 1.0).abs() < 1e-12);
    assert!((cfg.lr_at(60) - 0.55).abs() < 1e-12, "midpoint of the cosine is (max+min)/2");
    assert!((cfg.lr_at(110) - 0.1).abs() < 1e-12);
}

#[test]
fn every_record_is_in_exactly_half_of_the_shadows() {
    let keep = shadow_assignment(500, 8, 3).unwrap();
    assert_eq!(keep.len(), 8);
    for i in 0..500 {
        assert_eq!(keep.iter().filter(|k| k[i]).count(), 4);
    }
    // Each shadow gets about half the records, and the split depends on the seed.
    for k in &keep {
        let n = k.iter().filter(|&&x| x).count();
        assert!((200..=300).contains(&n), "{n}");
    }
    assert_ne!(keep, shadow_assignment(500, 8, 4).unwrap());
    assert_eq!(keep, shadow_assignment(500, 8, 3).unwrap());
    assert!(shadow_assignment(10, 3, 0).is_err());
}

#[test]
fn token_stats_match_a_direct_computation() {
    let cfg = common::micro_config(32, 16);
    let model = Gpt::new(&cfg, DType::F64, 2).unwrap();
    let seqs = common::random_inputs(32, &[6, 3, 10], 16, 1);
    let stats = token_stats(&model, &seqs, 2).unwrap();
    for (s, st) in seqs.iter().zip(&stats) {
        assert_eq!(st.logprob.len(), s.len() - 1);
        let ids = Tensor::from_vec(s[..s.len() - 1].to_vec(), (1, s.len() - 1), &Device::Cpu).unwrap();
        let logits = model.logits(&ids).unwrap();
        for t in 0..s.len() - 1 {
            let row: Vec<f64> = logits.i((0, t)).unwrap().to_vec1().unwrap();
            let m = row.iter().cloned().fold(f64::MIN, f64::max);
            let lse = m + row.iter().map(|x| (x - m).exp()).sum::<f64>().ln();
            let lp: Vec<f64> = row.iter().map(|x| x - lse).collect();
            let mu: f64 = lp.iter().map(|l| l.exp() * l).sum();
            let var: f64 = lp.iter().map(|l| l.exp() * (l - mu).powi(2)).sum();
            assert!((st.logprob[t] - lp[s[t + 1] as usize]).abs() < 1e-10);
            assert!((st.mu[t] - mu).abs() < 1e-10);
            assert!((st.sigma[t] - var.sqrt()).abs() < 1e-8);
        }
    }
}
