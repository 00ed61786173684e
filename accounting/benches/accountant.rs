//! Benchmark: time of ε for T ∈ {1e3, 1e4, 1e5, 1e6} with both accountants, and of σ
//! calibration. Run: `cargo bench -p vg-accounting --bench accountant`.
//! Setting: q = 0.01, σ = 1.0, δ = 1e-5 (calibration: q = 0.01, T = 1000, ε = 1, δ = 1e-5).
//! Each time is the best of three runs.

use std::time::Instant;
use vg_accounting::{calibrate_noise_multiplier, epsilon, AccountantKind, Neighbouring};

/// Best wall time of three runs (the machine is shared; the minimum is the least noisy).
fn time<T>(f: impl Fn() -> T) -> (T, f64) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..3 {
        let start = Instant::now();
        out = Some(f());
        best = best.min(start.elapsed().as_secs_f64());
    }
    (out.expect("ran three times"), best)
}

fn main() {
    let (q, sigma, delta) = (0.01, 1.0, 1e-5);
    println!("epsilon of DP-SGD, q = {q}, sigma = {sigma}, delta = {delta}, add/remove neighbours");
    println!("{:>10} {:>6} {:>14} {:>10}", "steps", "acct", "epsilon", "seconds");
    for steps in [1_000u64, 10_000, 100_000, 1_000_000] {
        for kind in [AccountantKind::Pld, AccountantKind::Rdp] {
            let (eps, secs) = time(|| epsilon(kind, q, sigma, steps, delta, Neighbouring::AddOrRemoveOne));
            match eps {
                Ok(e) => println!("{steps:>10} {kind:>6} {e:>14.6} {secs:>10.4}"),
                Err(e) => println!("{steps:>10} {kind:>6} {:>14} {secs:>10.4}  ({e})", "error"),
            }
        }
    }
    println!("calibration: smallest sigma with epsilon <= 1 at q = 0.01, T = 1000, delta = 1e-5");
    for kind in [AccountantKind::Pld, AccountantKind::Rdp] {
        let (s, secs) = time(|| calibrate_noise_multiplier(kind, 0.01, 1000, 1.0, 1e-5, Neighbouring::AddOrRemoveOne));
        match s {
            Ok(s) => println!("{kind:>6} sigma = {s:.6} in {secs:.4} s"),
            Err(e) => println!("{kind:>6} error {e} in {secs:.4} s"),
        }
    }
}
