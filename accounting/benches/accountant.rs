//! Benchmark: time of ε for T ∈ {1e3, 1e4, 1e5, 1e6} with both accountants, and of σ
//! calibration. Run: `cargo bench -p vg-accounting --bench accountant`.
//! Setting: q = 0.01, σ = 1.0, δ = 1e-5 (calibration: q = 0.01, T = 1000, ε = 1, δ = 1e-5).

use std::time::Instant;
use vg_accounting::{calibrate_noise_multiplier, epsilon, AccountantKind, Neighbouring};

fn time<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed().as_secs_f64())
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
