//! Layer freezing: frozen parameters add nothing to the per-example norm, get a zero clipped sum
//! and no noise, and never move under the optimizer (AdamW's weight decay included).

use candle_core::DType;
use crate::common::{micro_config, random_inputs, synthetic_corpus};
use vg_training::freeze::frozen_mask;
use vg_training::{clip_and_accumulate_frozen, clip_and_accumulate_reference, DpRandomness, DpSgdBuilder, Gpt, TrainConfig};

#[test]
fn frozen_parameters_get_no_norm_share_no_gradient_and_no_noise() {
    let cfg = micro_config(40, 16);
    let model = Gpt::new(&cfg, DType::F64, 5).unwrap();
    let frozen = frozen_mask(&cfg, &["embeddings".into(), "blocks:0".into()]).unwrap();
    let data = random_inputs(40, &[5, 9, 12, 3, 15, 7], 16, 11);
    let seqs: Vec<&[u32]> = data.iter().map(|s| s.as_slice()).collect();
    // Reference per-example norms over the trainable parameters only (one backward per example).
    let mut want = Vec::new();
    for s in &seqs {
        let (g, _, _) = vg_training::summed_gradient(&model, &[s]).unwrap();
        let sq: f64 = g.iter().zip(&frozen).filter(|(_, &f)| !f).map(|(t, _)| t.sqr().unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap()).sum();
        want.push(sq.sqrt());
    }
    let got = clip_and_accumulate_frozen(&model, &seqs, 0.3, None, &frozen).unwrap();
    for (g, w) in got.norms.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-9 * w.max(1.0), "norm {g} vs trainable-only {w}");
    }
    let full = clip_and_accumulate_reference(&model, &seqs, 0.3).unwrap();
    assert!(got.norms.iter().zip(&full.norms).all(|(a, b)| a < b), "freezing removes a share of every norm");
    // Through the engine with heavy noise: frozen tensors stay exactly zero.
    let mut engine = DpSgdBuilder::new(data.len(), 6.0).clip_norm(0.3).noise_multiplier(5.0).frozen(frozen.clone()).randomness(DpRandomness::insecure(1)).build().unwrap();
    let step = engine.step_on_batch(&model, &seqs, 0).unwrap();
    for ((g, &f), name) in step.grads.iter().zip(&frozen).zip(model.param_names()) {
        let max = g.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f64>().unwrap();
        if f {
            assert_eq!(max, 0.0, "{name} is frozen but got {max}");
        } else {
            assert!(max > 0.0, "{name} is trainable but got nothing");
        }
    }
}

#[test]
fn frozen_parameters_never_move_in_training() {
    let cfg = micro_config(40, 24);
    let data = synthetic_corpus(64, 40, 3);
    let eval = synthetic_corpus(8, 40, 4);
    let dir = tempfile::tempdir().unwrap();
    let train_cfg = TrainConfig {
        steps: 6,
        batch_size: 8,
        micro_batch_size: 8,
        warmup_steps: 1,
        eval_every: 0,
        checkpoint_every: 0,
        freeze: vec!["embeddings".into(), "head".into()],
        ..TrainConfig::default()
    };
    vg_training::train(&data, &eval, &cfg, &train_cfg, dir.path(), false, &mut |_| {}).unwrap();
    let trained = vg_training::LoadedModel::load(dir.path()).unwrap();
    let init = Gpt::new(&cfg, DType::F32, train_cfg.init_seed).unwrap();
    let frozen = frozen_mask(&cfg, &train_cfg.freeze).unwrap();
    for ((name, &f), (a, b)) in init.param_names().iter().zip(&frozen).zip(init.params().iter().zip(trained.model().params())) {
        let diff = (a.as_tensor() - b.as_tensor()).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
        if f {
            assert_eq!(diff, 0.0, "{name} is frozen but moved by {diff}");
        } else if name.ends_with("weight") {
            assert!(diff > 0.0, "{name} should train");
        }
    }
}
