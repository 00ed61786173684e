use std::time::Instant;
use vg_accounting::pld::mechanism::{Direction, SubsampledGaussianLoss};
fn main() {
    for (q, s, t) in [(0.001, 0.5, 100u64), (0.1, 0.5, 10000), (0.01, 1.0, 100000)] {
        for d in [Direction::Remove, Direction::Add] {
            let m = SubsampledGaussianLoss::new(s, q, d);
            let t0 = Instant::now();
            let p = m.connect_the_dots(1e-4).unwrap();
            let t1 = t0.elapsed().as_secs_f64();
            let t0 = Instant::now();
            let c = p.self_compose(t, 1e-15).unwrap();
            let t2 = t0.elapsed().as_secs_f64();
            let t0 = Instant::now();
            let e = c.epsilon_for_delta(1e-5);
            let t3 = t0.elapsed().as_secs_f64();
            println!("q={q} s={s} T={t} {d:?}: n={} ctd {t1:.3}s, compose -> {} pts {t2:.3}s, eps {e} {t3:.4}s", p.probs.len(), c.probs.len());
        }
    }
}
