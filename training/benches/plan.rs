//! `vg-audit plan` speed: the shipped default law on a 100 × 100 (model size × batch) grid, the
//! search plus the exact accountant for the listed candidates (goal ≤ 2 s). Also shown: the cost
//! of one exact PLD calibration, the baseline the closed-form search avoids paying 10,000 times,
//! and the exact stage alone on the plan's rows, back to back: the cold bisection
//! (`calibrate_noise_multiplier` then `epsilon`, what `plan` did before) against the calibration
//! started from the search's σ (`calibrate_noise_multiplier_near`, what it does now).
//!
//! `RAYON_NUM_THREADS=2 cargo bench -p vg-training --bench plan`

use std::time::Instant;

use rayon::prelude::*;
use vg_accounting::{AccountantKind, Neighbouring};

use vg_training::scaling::{default_law, plan, ComputeBudget, PlanRequest};

fn main() {
    let law = default_law().expect("the shipped law parses");
    let fps = law.flops_per_second(law.models[0].params as f64).unwrap_or(1e9);
    for (n, eps, seconds) in [(5_000u64, 8.0, 150.0), (20_000, 2.0, 600.0), (100_000, 8.0, 3600.0)] {
        let mut req = PlanRequest::new(n, eps, 0.1 / n as f64, ComputeBudget::Seconds(seconds));
        req.model_points = Some(100);
        req.batch_points = 100;
        let mut times = Vec::new();
        let mut result = None;
        for _ in 0..3 {
            let t = Instant::now();
            result = Some(plan(&law, &req));
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        match result.expect("ran") {
            Ok(p) => {
                let b = &p.best;
                // One exact calibration at the best's (q, T): what every grid point would cost without the search approximation.
                let t = Instant::now();
                let _ = vg_accounting::calibrate_noise_multiplier(vg_accounting::AccountantKind::Pld, b.sampling_rate, b.steps, eps, 0.1 / n as f64, vg_accounting::Neighbouring::AddOrRemoveOne);
                let one = t.elapsed().as_secs_f64();
                // Baseline: the exact accountant at every grid point, what the CLT search avoids.
                let exact_everywhere = one * p.grid.len() as f64;
                println!(
                    "N {n:>6} ε {eps} {seconds:>5.0} s ({:.2e} FLOPs): 100×100 grid ({} predicted), {} exact rows: median {:.3} s (min {:.3}); \
                     best {} B {} T {} loss {:.3}; exact PLD at every grid point ≈ {:.0} s ({:.0}× the plan)",
                    seconds * fps,
                    p.grid.len(),
                    p.candidates.len(),
                    times[1],
                    times[0],
                    b.preset,
                    b.batch_size,
                    b.steps,
                    b.predicted_eval_loss,
                    exact_everywhere,
                    exact_everywhere / times[1]
                );
            }
            Err(e) => println!("N {n} ε {eps} {seconds} s: {e} ({:.3} s)", times[1]),
        }
        if let Ok(p) = plan(&law, &req) {
            exact_stage(&p.candidates, eps, 0.1 / n as f64);
        }
    }
}

/// Median of 3 wall times of `f`.
fn median_time(mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..3)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[1]
}

/// The exact stage on the plan's rows, cold and warm-started (as `plan` runs it: rows in
/// parallel), and the largest relative difference of the σ they return.
fn exact_stage(rows: &[vg_training::scaling::PlanCandidate], eps: f64, delta: f64) {
    let (kind, nb) = (AccountantKind::Pld, Neighbouring::AddOrRemoveOne);
    let cold = |c: &vg_training::scaling::PlanCandidate| {
        let s = vg_accounting::calibrate_noise_multiplier(kind, c.sampling_rate, c.steps, eps, delta, nb).expect("calibrates");
        (s, vg_accounting::epsilon(kind, c.sampling_rate, s, c.steps, delta, nb).expect("ε"))
    };
    // The search's central-limit estimate, as `plan` starts from it (plan.rs `clt_sigma`).
    let mu = 1.0 / vg_accounting::gaussian::noise_for_epsilon(eps, delta, 1).expect("σ₁");
    let guess = |c: &vg_training::scaling::PlanCandidate| 1.0 / (mu * mu / (c.sampling_rate * c.sampling_rate * c.steps as f64)).ln_1p().sqrt();
    let warm = |c: &vg_training::scaling::PlanCandidate| vg_accounting::calibrate_noise_multiplier_near(kind, c.sampling_rate, c.steps, eps, delta, nb, guess(c)).expect("calibrates");
    let mut cold_sigmas = Vec::new();
    let cold_s = median_time(|| cold_sigmas = rows.par_iter().map(cold).collect());
    let warm_s = median_time(|| drop(rows.par_iter().map(warm).collect::<Vec<_>>()));
    let off = rows.iter().map(|c| 100.0 * (guess(c) / c.noise_multiplier - 1.0).abs()).fold(0.0, f64::max);
    let diff = rows.iter().zip(&cold_sigmas).map(|(c, (s, _))| (c.noise_multiplier - s).abs() / s).fold(0.0, f64::max);
    println!(
        "    exact stage, {} rows: cold bisection {cold_s:.3} s, warm-started {warm_s:.3} s ({:.1}× faster); plan σ vs cold σ: max relative difference {diff:.1e}, CLT guess off by up to {off:.1} %",
        rows.len(),
        cold_s / warm_s
    );
}
