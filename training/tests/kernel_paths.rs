//! The portable kernel path (standard candle ops: what a CUDA device runs) against the fused CPU
//! kernels, both on the CPU from the same seeds and batches: DP-SGD steps (per-example norms,
//! clipped sums, noise, AdamW), scoring and greedy generation must agree.

use crate::common;

use candle_core::{DType, Device};
use common::{micro_config, random_inputs, rel_err};
use vg_training::{
    clip_and_accumulate, generate, mean_loss, DpRandomness, DpSgdBuilder, Decoding, Gpt, KernelPath, Optimizer, OptimizerConfig,
};

fn pair(dtype: DType, seed: u64) -> (Gpt, Gpt) {
    let cfg = micro_config(64, 16);
    let fused = Gpt::new(&cfg, dtype, seed).unwrap();
    let portable = Gpt::new(&cfg, dtype, seed).unwrap().with_kernel_path(KernelPath::Portable).unwrap();
    assert_eq!((fused.kernel_path(), portable.kernel_path()), (KernelPath::Fused, KernelPath::Portable));
    (fused, portable)
}

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs() / y.abs().max(1e-30)).fold(0.0, f64::max)
}

#[test]
fn the_cpu_defaults_to_the_fused_path_and_refuses_nothing_it_can_run() {
    assert_eq!(KernelPath::for_device(&Device::Cpu), KernelPath::Fused);
    let model = Gpt::new(&micro_config(64, 16), DType::F32, 0).unwrap().to_device(&Device::Cpu).unwrap();
    assert_eq!(model.kernel_path(), KernelPath::Fused);
    assert!(model.device().is_cpu());
    assert!(model.with_kernel_path(KernelPath::Portable).unwrap().with_kernel_path(KernelPath::Fused).is_ok());
}

#[test]
fn per_example_norms_and_clipped_sums_agree_between_paths() {
    // f64: the two paths compute the same function, so they agree to rounding (1e-12); f32: 1e-5.
    for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
        let (fused, portable) = pair(dtype, 3);
        let data = random_inputs(64, &[11, 5, 9, 14, 1, 15], 16, 2);
        let seqs: Vec<&[u32]> = data.iter().map(|s| s.as_slice()).collect();
        // C between the norms: some examples clipped, some not.
        let a = clip_and_accumulate(&fused, &seqs, 4.5, None).unwrap();
        let b = clip_and_accumulate(&portable, &seqs, 4.5, None).unwrap();
        assert!(a.norms.iter().any(|&n| n > 4.5) && a.norms.iter().any(|&n| n < 4.5 && n > 0.0), "{:?}", a.norms);
        let e = max_rel(&b.norms, &a.norms);
        assert!(e <= tol, "{dtype:?}: per-example norms differ by {e:e}");
        assert!((a.loss_sum - b.loss_sum).abs() <= tol * a.loss_sum.abs());
        for ((name, x), y) in fused.param_names().iter().zip(&b.sums).zip(&a.sums) {
            let e = rel_err(x, y);
            assert!(e <= tol, "{dtype:?} {name}: clipped sum differs by {e:e}");
        }
    }
}

#[test]
fn dp_sgd_steps_on_the_portable_path_equal_the_fused_path() {
    let (fused, portable) = pair(DType::F32, 5);
    let data = random_inputs(64, &[11, 5, 9, 14, 3, 8, 12, 6, 15, 10, 7, 13], 16, 4);
    let opt_cfg = OptimizerConfig::AdamW { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1 };
    let engine = || DpSgdBuilder::new(data.len(), 4.0).clip_norm(4.0).noise_multiplier(0.8).micro_batch_size(3).randomness(DpRandomness::insecure(7)).build().unwrap();
    let (mut ea, mut eb) = (engine(), engine());
    let (mut oa, mut ob) = (Optimizer::new(&opt_cfg, &fused).unwrap(), Optimizer::new(&opt_cfg, &portable).unwrap());
    for step in 0..4 {
        let sa = ea.step(&fused, &data, step).unwrap();
        let sb = eb.step(&portable, &data, step).unwrap();
        assert_eq!(sa.batch_size, sb.batch_size, "same seed: same Poisson batch");
        assert!((sa.clipped_fraction - sb.clipped_fraction).abs() < 1e-12);
        oa.step(&fused, &sa.grads, 1e-2).unwrap();
        ob.step(&portable, &sb.grads, 1e-2).unwrap();
    }
    for ((name, a), b) in fused.param_names().iter().zip(fused.params()).zip(portable.params()) {
        let e = rel_err(b.as_tensor(), a.as_tensor());
        assert!(e <= 1e-5, "{name}: parameters differ by {e:e} after 4 DP-SGD steps");
    }
    // The steps moved the weights (a test that compares two unchanged models proves nothing).
    let init = Gpt::new(&micro_config(64, 16), DType::F32, 5).unwrap();
    assert!(rel_err(&fused.params()[2].as_tensor().clone(), init.params()[2].as_tensor()) > 1e-3);
}

#[test]
fn scoring_and_greedy_generation_agree_between_paths() {
    let (fused, portable) = pair(DType::F32, 8);
    let data = random_inputs(64, &[11, 5, 9, 14, 2, 15, 7], 16, 6);
    let (la, lb) = (mean_loss(&fused, &data, 3).unwrap(), mean_loss(&portable, &data, 3).unwrap());
    assert!(la.is_finite() && (la - lb).abs() <= 1e-5 * la.abs(), "mean NLL {la} (fused) vs {lb} (portable)");
    let prompts: Vec<Vec<u32>> = data.iter().map(|s| s[..s.len().min(4)].to_vec()).collect();
    let ga = generate(&fused, &prompts, 10, &Decoding::Greedy, 1).unwrap();
    let gb = generate(&portable, &prompts, 10, &Decoding::Greedy, 1).unwrap();
    assert_eq!(ga, gb);
    assert!(ga.iter().map(Vec::len).sum::<usize>() > 20, "{ga:?}");
}
