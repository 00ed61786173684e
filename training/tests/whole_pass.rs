//! The hand-written whole-model pass (the fused CPU path's training passes) against candle's
//! autograd over the same fused kernels: the non-private gradient, the DP per-example norms and
//! clipped sums, on a model moved off its initialisation (non-zero biases, non-unit LN gains) and
//! on a padded batch (rows of different lengths, one with no target).

use crate::common;

use std::collections::HashMap;

use candle_core::DType;
use common::{micro_config, random_inputs, rel_err};
use vg_training::{clip_and_accumulate, clip_and_accumulate_planned, summed_gradient, CanaryRow, ClipPlan, Gpt, Optimizer, OptimizerConfig};

/// A model trained a few steps (so every parameter is away from its initial value) and its twin
/// with the same weights whose passes go through candle's autograd.
fn trained_pair(dtype: DType) -> (Gpt, Gpt) {
    let cfg = micro_config(64, 16);
    let model = Gpt::new(&cfg, dtype, 11).unwrap();
    let data = random_inputs(64, &[15, 9, 12, 4], 16, 1);
    let seqs: Vec<&[u32]> = data.iter().map(|s| s.as_slice()).collect();
    let mut opt = Optimizer::new(&OptimizerConfig::default(), &model).unwrap();
    for _ in 0..3 {
        let (g, _, _) = summed_gradient(&model, &seqs).unwrap();
        opt.step(&model, &g, 0.05).unwrap();
    }
    let tensors: HashMap<String, candle_core::Tensor> = model.param_names().iter().cloned().zip(model.params().iter().map(|v| v.as_tensor().copy().unwrap())).collect();
    let twin = Gpt::from_tensors(&cfg, dtype, tensors).unwrap().with_whole_pass(false);
    (model, twin)
}

fn batch() -> Vec<Vec<u32>> {
    // Lengths 14, 3, 0 (BOS + EOS: one target), 9 and 14: padding in most rows.
    let mut data = random_inputs(64, &[14, 3, 0, 9, 14], 16, 9);
    data.push(vec![1]); // BOS alone: no target at all
    data
}

#[test]
fn the_whole_pass_gives_autograds_gradient() {
    for (dtype, tol) in [(DType::F64, 1e-10), (DType::F32, 1e-5)] {
        let (model, twin) = trained_pair(dtype);
        let init = Gpt::new(&micro_config(64, 16), dtype, 11).unwrap();
        for (name, (a, b)) in model.param_names().iter().zip(model.params().iter().zip(init.params())) {
            assert!(rel_err(a.as_tensor(), b.as_tensor()) > 1e-3, "{name} did not move from its initial value");
        }
        let data = batch();
        let seqs: Vec<&[u32]> = data.iter().map(|s| s.as_slice()).collect();
        let (ga, la, na) = summed_gradient(&model, &seqs).unwrap();
        let (gb, lb, nb) = summed_gradient(&twin, &seqs).unwrap();
        assert_eq!(na, nb);
        assert!((la - lb).abs() <= tol * lb.abs(), "{dtype:?}: loss {la} vs {lb}");
        for ((name, a), b) in model.param_names().iter().zip(&ga).zip(&gb) {
            assert_eq!(a.dims(), b.dims(), "{name}");
            let e = rel_err(a, b);
            assert!(e <= tol, "{dtype:?} {name}: gradient differs by {e:e}");
        }
    }
}

#[test]
fn the_whole_pass_gives_autograds_per_example_norms_and_clipped_sums() {
    for (dtype, tol) in [(DType::F64, 1e-10), (DType::F32, 1e-5)] {
        let (model, twin) = trained_pair(dtype);
        let data = batch();
        let seqs: Vec<&[u32]> = data.iter().map(|s| s.as_slice()).collect();
        let b = clip_and_accumulate(&twin, &seqs, 1.0, None).unwrap();
        // C between the norms: some examples clipped, some not.
        let c = { let mut n: Vec<f64> = b.norms.iter().cloned().filter(|&x| x > 0.0).collect(); n.sort_by(f64::total_cmp); n[n.len() / 2] };
        let a = clip_and_accumulate(&model, &seqs, c, None).unwrap();
        let b = clip_and_accumulate(&twin, &seqs, c, None).unwrap();
        assert_eq!(b.norms.last(), Some(&0.0), "the row without a target has no gradient");
        for (x, y) in a.norms.iter().zip(&b.norms) {
            assert!((x - y).abs() <= tol * y.abs().max(1e-12), "{dtype:?}: norm {x} vs {y}");
        }
        assert!((a.loss_sum - b.loss_sum).abs() <= tol * b.loss_sum.abs());
        for ((name, x), y) in model.param_names().iter().zip(&a.sums).zip(&b.sums) {
            let e = rel_err(x, y);
            assert!(e <= tol, "{dtype:?} {name}: clipped sum differs by {e:e}");
        }
    }
}

#[test]
fn a_batch_of_several_groups_gives_the_ungrouped_result_with_canaries_in_the_first() {
    // 40 examples: three parallel groups on the whole-pass path (2 threads), one batch on the autograd twin.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    pool.install(grouped_equals_ungrouped);
}

fn grouped_equals_ungrouped() {
    let (model, twin) = trained_pair(DType::F64);
    let lens: Vec<usize> = (0..40).map(|i| 1 + (i * 7) % 15).collect();
    let data = random_inputs(64, &lens, 16, 5);
    let seqs: Vec<&[u32]> = data.iter().map(|s| s.as_slice()).collect();
    let canaries = [CanaryRow { param: 0, index: 5, value: 3.0 }, CanaryRow { param: 4, index: 1, value: -0.5 }];
    let plan = ClipPlan { canaries: &canaries, ..ClipPlan::default() };
    let a = clip_and_accumulate_planned(&model, &seqs, 0.8, &plan).unwrap();
    let b = clip_and_accumulate_planned(&twin, &seqs, 0.8, &plan).unwrap();
    assert_eq!((a.norms.len(), a.tokens), (b.norms.len(), b.tokens));
    for (i, (x, y)) in a.norms.iter().zip(&b.norms).enumerate() {
        assert!((x - y).abs() <= 1e-10 * y.abs().max(1e-12), "example {i}: norm {x} vs {y}");
    }
    assert!((a.loss_sum - b.loss_sum).abs() <= 1e-10 * b.loss_sum.abs());
    for ((name, x), y) in model.param_names().iter().zip(&a.sums).zip(&b.sums) {
        let e = rel_err(x, y);
        assert!(e <= 1e-10, "{name}: clipped sum differs by {e:e}");
    }
    let (ga, la, na) = summed_gradient(&model, &seqs).unwrap();
    let (gb, lb, nb) = summed_gradient(&twin, &seqs).unwrap();
    assert_eq!(na, nb);
    assert!((la - lb).abs() <= 1e-10 * lb.abs());
    for ((name, x), y) in model.param_names().iter().zip(&ga).zip(&gb) {
        let e = rel_err(x, y);
        assert!(e <= 1e-10, "{name}: gradient differs by {e:e}");
    }
}

#[test]
fn one_position_batches_agree_with_autograd() {
    // T = 1: every Gram matrix, attention row and product degenerates to one position.
    let (model, twin) = trained_pair(DType::F64);
    let data: Vec<Vec<u32>> = vec![vec![1, 7], vec![1, 9], vec![1]];
    let seqs: Vec<&[u32]> = data.iter().map(|s| s.as_slice()).collect();
    let (ga, la, _) = summed_gradient(&model, &seqs).unwrap();
    let (gb, lb, _) = summed_gradient(&twin, &seqs).unwrap();
    assert!((la - lb).abs() <= 1e-10 * lb.abs() && la > 0.0);
    for ((name, x), y) in model.param_names().iter().zip(&ga).zip(&gb) {
        assert!(rel_err(x, y) <= 1e-10, "{name}");
    }
    let a = clip_and_accumulate(&model, &seqs, 0.5, None).unwrap();
    let b = clip_and_accumulate(&twin, &seqs, 0.5, None).unwrap();
    for (x, y) in a.norms.iter().zip(&b.norms) {
        assert!((x - y).abs() <= 1e-10 * y.abs().max(1e-12), "norm {x} vs {y}");
    }
    for ((name, x), y) in model.param_names().iter().zip(&a.sums).zip(&b.sums) {
        assert!(rel_err(x, y) <= 1e-10, "{name}");
    }
}

#[test]
fn a_token_outside_the_vocabulary_is_refused_with_its_id() {
    let model = Gpt::new(&micro_config(64, 16), DType::F32, 1).unwrap();
    let data: Vec<Vec<u32>> = vec![vec![1, 5, 64, 2]];
    let seqs: Vec<&[u32]> = data.iter().map(|s| s.as_slice()).collect();
    let err = summed_gradient(&model, &seqs).unwrap_err().to_string();
    assert!(err.contains("token id") && err.contains("64"), "{err}");
    assert!(clip_and_accumulate(&model, &seqs, 1.0, None).is_err());
}
