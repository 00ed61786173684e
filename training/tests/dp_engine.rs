//! The DP-SGD step: equivalence with SGD when σ = 0 and C is huge, the noise level, the bound on
//! one example's contribution, gradient canaries and faults, and Poisson batch sizes.

use crate::common;

use candle_core::DType;
use common::{micro_config, random_inputs, rel_err};
use vg_training::{summed_gradient, DpRandomness, DpSgdBuilder, EngineFaults, Gpt, GradientCanary, Optimizer, OptimizerConfig};

fn flat(t: &candle_core::Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

#[test]
fn sigma_zero_huge_clip_equals_plain_sgd() {
    let cfg = micro_config(64, 16);
    let data = random_inputs(64, &[11, 5, 9, 14], 16, 1);
    let seqs: Vec<&[u32]> = data.iter().map(|s| s.as_slice()).collect();
    let a = Gpt::new(&cfg, DType::F64, 9).unwrap();
    let b = Gpt::new(&cfg, DType::F64, 9).unwrap();
    let mut engine = DpSgdBuilder::new(40, 4.0).clip_norm(1e9).noise_multiplier(0.0).micro_batch_size(3).randomness(DpRandomness::insecure(1)).build().unwrap();
    let dp = engine.step_on_batch(&a, &seqs, 0).unwrap();
    let (plain, _, _) = summed_gradient(&b, &seqs).unwrap();
    let plain: Vec<_> = plain.iter().map(|g| (g / 4.0).unwrap()).collect();
    for ((name, x), y) in a.param_names().iter().zip(&dp.grads).zip(&plain) {
        assert!(rel_err(x, y) < 1e-9, "{name}: {}", rel_err(x, y));
    }
    let sgd = OptimizerConfig::Sgd { momentum: 0.0 };
    Optimizer::new(&sgd, &a).unwrap().step(&a, &dp.grads, 0.5).unwrap();
    Optimizer::new(&sgd, &b).unwrap().step(&b, &plain, 0.5).unwrap();
    for (x, y) in a.params().iter().zip(b.params()) {
        assert!(rel_err(x.as_tensor(), y.as_tensor()) < 1e-12);
    }
}

#[test]
fn noise_std_is_sigma_c_over_expected_batch() {
    let cfg = micro_config(64, 16);
    let model = Gpt::new(&cfg, DType::F64, 2).unwrap();
    let (sigma, c, b) = (1.3, 0.7, 8.0);
    let mut engine = DpSgdBuilder::new(100, b).clip_norm(c).noise_multiplier(sigma).randomness(DpRandomness::insecure(5)).build().unwrap();
    // An empty Poisson batch still releases noise: the whole gradient is noise.
    let out = engine.step_on_batch(&model, &[], 3).unwrap();
    let all: Vec<f64> = out.grads.iter().flat_map(flat).collect();
    let n = all.len() as f64;
    let mean = all.iter().sum::<f64>() / n;
    let sd = (all.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    let want = sigma * c / b;
    assert!(n > 20_000.0);
    assert!((sd / want - 1.0).abs() < 0.02, "sd {sd} vs σC/B {want}");
    assert!(mean.abs() < 4.0 * want / n.sqrt());
    // Same insecure seed and step: same noise; another step: different noise.
    let again = engine.step_on_batch(&model, &[], 3).unwrap();
    assert_eq!(flat(&out.grads[0]), flat(&again.grads[0]));
    let other = engine.step_on_batch(&model, &[], 4).unwrap();
    assert_ne!(flat(&out.grads[0]), flat(&other.grads[0]));
}

#[test]
fn one_example_moves_the_sum_by_at_most_c() {
    let cfg = micro_config(64, 16);
    let model = Gpt::new(&cfg, DType::F64, 4).unwrap();
    let data = random_inputs(64, &[9, 12, 6], 16, 8);
    let c = 1e-3;
    // Plant an example whose gradient is huge: one token repeated, scaled up by a sharp head.
    let planted: Vec<u32> = std::iter::once(1).chain(std::iter::repeat_n(63, 14)).collect();
    let lm = model.param_index("lm_head.weight").unwrap();
    let head = model.params()[lm].as_tensor().clone();
    model.params()[lm].set(&(head * 300.0).unwrap()).unwrap();
    let mut engine = DpSgdBuilder::new(10, 2.0).clip_norm(c).noise_multiplier(0.0).randomness(DpRandomness::insecure(0)).build().unwrap();
    let without: Vec<&[u32]> = data.iter().map(|s| s.as_slice()).collect();
    let mut with = without.clone();
    with.push(&planted);
    let g0 = engine.step_on_batch(&model, &without, 0).unwrap();
    let g1 = engine.step_on_batch(&model, &with, 0).unwrap();
    let parts = vg_training::clip_and_accumulate(&model, &[&planted], c, None).unwrap();
    assert!(parts.norms[0] > 1e3 * c, "planted example's norm {} is not huge", parts.norms[0]);
    // ‖Δ sum‖ = ‖Δ grad‖ · expected batch size.
    let diff_sq: f64 = g0.grads.iter().zip(&g1.grads).map(|(a, b)| flat(&(b - a).unwrap()).iter().map(|x| x * x).sum::<f64>()).sum();
    let moved = diff_sq.sqrt() * 2.0;
    assert!(moved <= c * (1.0 + 1e-9), "one example moved the sum by {moved} > C = {c}");
    assert!(moved >= 0.99 * c, "clipped contribution should have norm ≈ C, got {moved}");
}

#[test]
fn dirac_canaries_are_clipped_like_examples_and_faults_bite() {
    let cfg = micro_config(64, 16);
    let model = Gpt::new(&cfg, DType::F64, 4).unwrap();
    let canary = |v: f64| GradientCanary { tensor: "h.0.mlp.fc1.weight".into(), index: 17, value: v };
    let idx = model.param_index("h.0.mlp.fc1.weight").unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let mut engine = DpSgdBuilder::new(10, 2.0)
        .clip_norm(0.5)
        .noise_multiplier(0.0)
        .canaries(vec![canary(1e6), canary(-0.1)])
        .observer(Box::new(move |v| {
            sink.lock().unwrap().push((v.names[idx].clone(), flat(&v.summed[idx])[17]));
            Ok(())
        }))
        .randomness(DpRandomness::insecure(0))
        .build()
        .unwrap();
    let out = engine.step_on_batch(&model, &[], 0).unwrap();
    // The 1e6 canary is clipped to 0.5, the small one passes: (0.5 − 0.1) / 2.
    assert!((flat(&out.grads[idx])[17] - 0.2).abs() < 1e-9);
    let (name, value) = seen.lock().unwrap()[0].clone();
    assert_eq!(name, "h.0.mlp.fc1.weight");
    assert!((value - 0.4).abs() < 1e-9, "observer saw {value}, the summed (undivided) gradient");
    // Fault: skipping the clip on that tensor lets the huge canary through.
    let mut faulty = DpSgdBuilder::new(10, 2.0)
        .clip_norm(0.5)
        .noise_multiplier(0.0)
        .canaries(vec![canary(1e6)])
        .faults(EngineFaults { skip_clip_tensor: Some("h.0.mlp.fc1.weight".into()), ..EngineFaults::default() })
        .randomness(DpRandomness::insecure(0))
        .build()
        .unwrap();
    assert!(flat(&faulty.step_on_batch(&model, &[], 0).unwrap().grads[idx])[17] > 1e5);
    // Fault: no noise on one tensor while the others get it.
    let mut quiet = DpSgdBuilder::new(10, 2.0)
        .clip_norm(1.0)
        .noise_multiplier(1.0)
        .faults(EngineFaults { skip_noise_tensor: Some("wpe".into()), noise_scale: 1.0, ..EngineFaults::default() })
        .randomness(DpRandomness::insecure(0))
        .build()
        .unwrap();
    let q = quiet.step_on_batch(&model, &[], 0).unwrap();
    assert!(flat(&q.grads[1]).iter().all(|&x| x == 0.0));
    assert!(flat(&q.grads[0]).iter().any(|&x| x != 0.0));
    // Unknown tensor names are refused with the name.
    let err = DpSgdBuilder::new(10, 2.0).canaries(vec![GradientCanary { tensor: "nope".into(), index: 0, value: 1.0 }]).randomness(DpRandomness::insecure(0)).build().unwrap().step_on_batch(&model, &[], 0).err().unwrap();
    assert!(err.to_string().contains("nope"));
}

#[test]
fn canary_rows_share_the_norm_table_with_real_examples() {
    // A canary of norm 4C on the token embedding, among real examples, no noise: it adds exactly
    // C at its coordinate (factor C/4C from the table), leaves the real rows' sums alone, and the
    // faults inside the table (norm ×¼, clipping skipped) let 4C through.
    let cfg = micro_config(64, 16);
    let model = Gpt::new(&cfg, DType::F64, 5).unwrap();
    let wte = model.param_index("wte").unwrap();
    let seqs: Vec<Vec<u32>> = (0..5u32).map(|i| vec![3 + i, 7, 9 + i % 3, 2]).collect();
    let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
    let coord = 60 * cfg.n_embd + 3; // row 60: no input token selects it
    let step = |canaries: Vec<GradientCanary>, faults: EngineFaults| -> Vec<f64> {
        let mut e = DpSgdBuilder::new(10, 2.0)
            .clip_norm(1.0)
            .noise_multiplier(0.0)
            .micro_batch_size(2)
            .canaries(canaries)
            .faults(faults)
            .randomness(DpRandomness::insecure(0))
            .build()
            .unwrap();
        flat(&e.step_on_batch(&model, &refs, 0).unwrap().grads[wte]).iter().map(|g| g * 2.0).collect()
    };
    let canary = vec![GradientCanary { tensor: "wte".into(), index: coord, value: 4.0 }];
    let plain = step(Vec::new(), EngineFaults::default());
    let with = step(canary.clone(), EngineFaults::default());
    assert_eq!(plain[coord], 0.0);
    assert!((with[coord] - 1.0).abs() < 1e-5, "clipped canary adds {} (want C = 1)", with[coord]);
    let others = plain.iter().zip(&with).enumerate().filter(|&(i, _)| i != coord).map(|(_, (a, b))| (a - b).abs()).fold(0.0, f64::max);
    assert!(others < 1e-12, "the canary row changed real rows' sums by {others}");
    let shrunk = step(canary.clone(), EngineFaults { underestimate_norm_tensor: Some("wte".into()), ..EngineFaults::default() });
    assert!((shrunk[coord] - 4.0).abs() < 1e-4, "norm ×¼: the canary adds {} (want 4C)", shrunk[coord]);
    let unclipped = step(canary, EngineFaults { skip_clip_tensor: Some("wte".into()), ..EngineFaults::default() });
    assert!((unclipped[coord] - 4.0).abs() < 1e-12, "clipping skipped: the canary adds {}", unclipped[coord]);
    // A canary in a frozen tensor is refused.
    let rows = [vg_training::CanaryRow { param: wte, index: 0, value: 1.0 }];
    let frozen: Vec<bool> = (0..model.params().len()).map(|i| i == wte).collect();
    let plan = vg_training::ClipPlan { frozen: &frozen, canaries: &rows, ..Default::default() };
    assert!(vg_training::clip_and_accumulate_planned(&model, &refs, 1.0, &plan).is_err());
}

/// Upper 0.1% point of χ²(df) by Wilson–Hilferty (z = 3.090).
fn chi2_crit(df: f64) -> f64 {
    let z = 3.090;
    df * (1.0 - 2.0 / (9.0 * df) + z * (2.0 / (9.0 * df)).sqrt()).powi(3)
}

#[test]
fn poisson_batch_sizes_are_binomial() {
    let (n, q, draws) = (400usize, 0.05, 4000u64);
    let engine = DpSgdBuilder::new(n, n as f64 * q).randomness(DpRandomness::insecure(42)).build().unwrap();
    let mut counts = vec![0f64; n + 1];
    let mut seen_first = 0;
    for s in 0..draws {
        let b = engine.sample_batch(s, n);
        assert!(b.windows(2).all(|w| w[0] < w[1]), "indices sorted and distinct");
        seen_first += b.contains(&0) as u64;
        counts[b.len()] += 1.0;
    }
    // Binomial(n, q) pmf by the recurrence p(k+1) = p(k)·(n−k)/(k+1)·q/(1−q).
    let mut pmf = vec![(1.0 - q).powi(n as i32)];
    for k in 0..n {
        let next = pmf[k] * (n - k) as f64 / (k + 1) as f64 * q / (1.0 - q);
        pmf.push(next);
    }
    // Merge bins until each expects ≥ 5, then Pearson χ².
    let (mut chi2, mut bins, mut obs, mut exp) = (0.0, 0, 0.0, 0.0);
    for k in 0..=n {
        obs += counts[k];
        exp += pmf[k] * draws as f64;
        if exp >= 5.0 && pmf[k + 1..].iter().sum::<f64>() * draws as f64 >= 5.0 {
            chi2 += (obs - exp).powi(2) / exp;
            bins += 1;
            obs = 0.0;
            exp = 0.0;
        }
    }
    chi2 += (obs - exp).powi(2) / exp.max(1e-12);
    bins += 1;
    let crit = chi2_crit((bins - 1) as f64);
    assert!(chi2 < crit, "χ² = {chi2} over {bins} bins exceeds {crit}");
    // Each record's inclusion frequency ≈ q.
    assert!((seen_first as f64 / draws as f64 - q).abs() < 4.0 * (q * (1.0 - q) / draws as f64).sqrt());
    // Negative control: a fixed-size batch fails the same test.
    let mut fixed = vec![0f64; n + 1];
    fixed[20] = draws as f64;
    let chi2_fixed: f64 = (0..=n).filter(|&k| pmf[k] * draws as f64 > 1.0).map(|k| (fixed[k] - pmf[k] * draws as f64).powi(2) / (pmf[k] * draws as f64)).sum();
    assert!(chi2_fixed > crit);
}

#[test]
fn truncated_poisson_never_exceeds_max_batch() {
    let engine = DpSgdBuilder::new(200, 20.0).max_batch(Some(21)).randomness(DpRandomness::insecure(3)).build().unwrap();
    let sizes: Vec<usize> = (0..500).map(|s| engine.sample_batch(s, 200).len()).collect();
    assert!(sizes.iter().all(|&s| s <= 21));
    assert!(sizes.contains(&21), "truncation should bind sometimes");
}

#[test]
fn impossible_parameters_are_refused() {
    assert!(DpSgdBuilder::new(10, 20.0).build().is_err());
    assert!(DpSgdBuilder::new(10, 2.0).clip_norm(0.0).build().is_err());
    assert!(DpSgdBuilder::new(10, 2.0).noise_multiplier(-1.0).build().is_err());
    assert!(DpSgdBuilder::new(0, 2.0).build().is_err());
}
