//! Ghost-norm / book-keeping clipping against the slow reference (one backward per example,
//! variant "A" of shared/notes/dpsgd-on-candle.md), per parameter tensor, so every layer type
//! (token and position embedding, LayerNorm γ/β, linear weight and bias, LM head) is checked.

use crate::common;

use candle_core::DType;
use common::{micro_config, random_inputs, rel_err};
use vg_training::{clip_and_accumulate, clip_and_accumulate_reference, Gpt};

fn check(ctx: usize, lens: &[usize], clip: f64) {
    let cfg = micro_config(64, ctx);
    let model = Gpt::new(&cfg, DType::F64, 3).unwrap();
    let data = random_inputs(64, lens, ctx, 11);
    let seqs: Vec<&[u32]> = data.iter().map(|s| s.as_slice()).collect();
    let fast = clip_and_accumulate(&model, &seqs, clip, None).unwrap();
    let slow = clip_and_accumulate_reference(&model, &seqs, clip).unwrap();
    assert_eq!(fast.norms.len(), lens.len());
    for (f, s) in fast.norms.iter().zip(&slow.norms) {
        assert!((f - s).abs() <= 1e-4 * s, "per-example norm {f} vs reference {s}");
    }
    // Clipping must actually be active (or inactive) as intended for the test to mean something.
    let active = slow.norms.iter().filter(|&&n| n > clip).count();
    assert!(if clip < 1.0 { active == lens.len() } else { active == 0 }, "norms {:?} vs C = {clip}", slow.norms);
    for ((name, f), s) in model.param_names().iter().zip(&fast.sums).zip(&slow.sums) {
        let e = rel_err(f, s);
        assert!(e <= 1e-4, "{name}: clipped sum relative error {e}");
    }
    assert!((fast.loss_sum - slow.loss_sum).abs() < 1e-9 * slow.loss_sum.abs());
    assert_eq!(fast.tokens, slow.tokens);
}

#[test]
fn short_sequences_use_ghost_norms_and_match_reference_clipped() {
    // T = 12: every linear layer takes the ghost (T×T) path.
    check(16, &[11, 5, 9, 1, 7], 0.05);
}

#[test]
fn long_sequences_use_materialised_norms_and_match_reference_clipped() {
    // T = 60: T(din+dout) > din·dout, every linear layer materialises per-example gradients.
    check(64, &[60, 33, 47], 0.05);
}

#[test]
fn unclipped_sum_equals_plain_gradient_sum() {
    check(16, &[11, 5, 9], 1e9);
}

#[test]
fn repeated_tokens_are_counted_in_the_embedding_norm() {
    // The same token many times in one example: embedding rows add before squaring.
    let cfg = micro_config(8, 32);
    let model = Gpt::new(&cfg, DType::F64, 5).unwrap();
    let seq = vec![1u32, 3, 3, 3, 3, 4, 3, 3, 2];
    let fast = clip_and_accumulate(&model, &[&seq], 1e9, None).unwrap();
    let slow = clip_and_accumulate_reference(&model, &[&seq], 1e9).unwrap();
    assert!((fast.norms[0] - slow.norms[0]).abs() <= 1e-8 * slow.norms[0]);
    assert!(rel_err(&fast.sums[0], &slow.sums[0]) < 1e-8);
}

#[test]
fn f32_matches_f64_reference_closely() {
    let cfg = micro_config(64, 16);
    let m64 = Gpt::new(&cfg, DType::F64, 3).unwrap();
    let m32 = Gpt::new(&cfg, DType::F32, 3).unwrap();
    let data = random_inputs(64, &[11, 5, 9], 16, 2);
    let seqs: Vec<&[u32]> = data.iter().map(|s| s.as_slice()).collect();
    let a = clip_and_accumulate(&m32, &seqs, 0.05, None).unwrap();
    let b = clip_and_accumulate_reference(&m64, &seqs, 0.05).unwrap();
    for (x, y) in a.norms.iter().zip(&b.norms) {
        assert!((x - y).abs() <= 1e-4 * y, "{x} vs {y}");
    }
}
