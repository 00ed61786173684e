//! `vg-audit plan` speed: the shipped default law on a 100 × 100 (model size × batch) grid, the
//! search plus the exact accountant for the listed candidates (goal ≤ 2 s). Also shown: the cost
//! of one exact PLD calibration, the baseline the closed-form search avoids paying 10,000 times.
//!
//! `RAYON_NUM_THREADS=2 cargo bench -p vg-training --bench plan`

use std::time::Instant;

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
    }
}
